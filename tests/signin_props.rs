//! Properties of the sign-in flow under arbitrary responses and calls, from every
//! reachable state: no panic, all-or-nothing transitions, `Done` is final, parking (serde)
//! is lossless, and no secret ever shows in `Debug`/`Display`.

mod common;

use std::time::{Duration, SystemTime};

use b2core_auth::client::signin::SignInState;
use b2core_auth::client::{Credentials, Method, SignIn, SignInStep};
use b2core_auth::Flow;
use b2core_auth::{DeviceFingerprint, Error, Outgoing};
use common::*;
use http::header::{HeaderName, HeaderValue};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Value};

/// `PROPTEST_CASES` wins when set; otherwise a count that keeps the default run short.
fn config(cases: u32) -> ProptestConfig {
    if std::env::var_os("PROPTEST_CASES").is_some() {
        ProptestConfig::default()
    } else {
        ProptestConfig::with_cases(cases)
    }
}

const HUGE_LEN: usize = 100 * 1024;

// ---------------------------------------------------------------------------------------
// Actions and the harness that checks the invariants after each one

/// A response as the test generates it (headers may be invalid and are then skipped).
#[derive(Debug, Clone)]
struct Resp {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Resp {
    fn ok(status: u16, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body,
        }
    }

    fn build(&self) -> http::Response<Vec<u8>> {
        let mut b = http::Response::builder().status(self.status);
        for (name, value) in &self.headers {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(value),
            ) {
                b = b.header(n, v);
            }
        }
        b.body(self.body.clone()).expect("status is in 100..600")
    }
}

#[derive(Debug, Clone)]
enum Action {
    Start,
    Submit {
        email: String,
        password: String,
        recaptcha: Option<String>,
    },
    Choose(Method),
    Code(String),
    RequestReset,
    Reset(String, String),
    Retry,
    Respond(Resp),
    Tick(u64),
}

enum Outcome {
    Request(http::Request<Vec<u8>>),
    /// The call sent nothing: the flow holds its request until this instant.
    Wait(SystemTime),
    Step(SignInStep),
    Nothing,
}

impl From<Outgoing> for Outcome {
    fn from(outgoing: Outgoing) -> Self {
        match outgoing {
            Outgoing::Request(request) => Self::Request(request),
            Outgoing::RetryAt(at) => Self::Wait(at),
        }
    }
}

/// Drives a flow and checks, after every action: an `Err` changed nothing, a `Done` flow
/// refuses `handle_response`, a call that sends nothing leaves the flow rate limited until
/// the instant it names (and a `retry` before that instant changes nothing), and the flow
/// survives a serde round trip. Every `Debug` of
/// steps, errors and the flow, and every `Display` of errors, is kept in `shown`.
struct Harness {
    flow: SignIn,
    now: SystemTime,
    fingerprint: DeviceFingerprint,
    shown: Vec<String>,
}

impl Harness {
    fn new(fingerprint: DeviceFingerprint) -> Self {
        let flow = new_flow();
        let shown = vec![format!("{flow:?}")];
        Self {
            flow,
            now: t(0),
            fingerprint,
            shown,
        }
    }

    fn apply(&mut self, action: &Action) -> Result<Outcome, Error> {
        let before = self.flow.clone();
        let result = match action {
            Action::Start => self.flow.start(self.now).map(Outcome::from),
            Action::Submit {
                email,
                password,
                recaptcha,
            } => {
                let mut c =
                    Credentials::new(email.as_str(), password.as_str(), self.fingerprint.clone());
                if let Some(r) = recaptcha {
                    c = c.with_recaptcha(r.as_str());
                }
                self.flow.submit_credentials(c, self.now).map(Outcome::from)
            }
            Action::Choose(m) => self.flow.choose_method(*m, self.now).map(Outcome::from),
            Action::Code(code) => self
                .flow
                .submit_code(code.as_str(), self.now)
                .map(Outcome::from),
            Action::RequestReset => self.flow.request_reset_code(self.now).map(Outcome::from),
            Action::Reset(code, password) => self
                .flow
                .reset_password(code.as_str(), password.as_str(), self.now)
                .map(Outcome::from),
            Action::Retry => self.flow.retry(self.now).map(Outcome::from),
            Action::Respond(r) => self
                .flow
                .handle_response(&r.build(), self.now)
                .map(Outcome::Step),
            Action::Tick(secs) => {
                self.now += Duration::from_secs(*secs);
                Ok(Outcome::Nothing)
            }
        };
        match &result {
            Err(e) => {
                self.shown.push(format!("{e:?}"));
                self.shown.push(format!("{e}"));
                assert_eq!(
                    self.flow, before,
                    "an Err ({e:?}) changed the flow on {action:?}"
                );
            }
            Ok(Outcome::Step(step)) => {
                self.shown.push(format!("{step:?}"));
                if let SignInStep::Done(_) = step {
                    self.assert_done_is_final();
                }
            }
            Ok(Outcome::Request(req)) => {
                self.shown
                    .push(format!("{:?}", Outgoing::Request(req.clone())));
                assert!(
                    self.flow.is_awaiting_response(),
                    "a request was emitted but the flow does not await its answer"
                );
                assert_eq!(self.flow.next_deadline(), None, "{action:?}");
                if let Some(until) = before.next_deadline() {
                    // The held request (`retry`) or a new wizard in its place (`start`),
                    // only once the wait is over.
                    assert!(
                        matches!(action, Action::Retry | Action::Start) && self.now >= until,
                        "{action:?} at {:?} sent a request held until {until:?}",
                        self.now
                    );
                }
                assert!(req
                    .uri()
                    .to_string()
                    .starts_with("https://host.name/api/v2/my/"));
                assert_eq!(req.headers().len(), 2, "{:?}", req.headers());
            }
            Ok(Outcome::Wait(until)) => {
                assert!(
                    *until > self.now,
                    "{action:?}: a wait until {until:?} that is over at {:?}",
                    self.now
                );
                assert_eq!(self.flow.state(), SignInState::RateLimited, "{action:?}");
                assert_eq!(self.flow.current_step(), Some(SignInStep::RetryAt(*until)));
                assert_eq!(self.flow.next_deadline(), Some(*until));
                assert!(!self.flow.is_awaiting_response());
                match before.next_deadline() {
                    // Too early: the same wait. A retry changes nothing; starting over
                    // puts the wizard in the held attempt's place.
                    Some(deadline) if self.now < deadline => {
                        assert!(
                            matches!(action, Action::Retry | Action::Start),
                            "{action:?}"
                        );
                        assert_eq!(*until, deadline);
                        if matches!(action, Action::Retry) {
                            assert_eq!(
                                self.flow, before,
                                "a retry before the wait changed the flow"
                            );
                        }
                    }
                    // Only the guarded calls and a retry can be held.
                    _ => assert!(
                        matches!(action, Action::Submit { .. } | Action::Retry),
                        "{action:?} was held"
                    ),
                }
            }
            Ok(Outcome::Nothing) => {}
        }
        self.shown.push(format!("{:?}", self.flow));
        let parked = serde_json::to_string(&self.flow).expect("a flow always serializes");
        let back: SignIn = serde_json::from_str(&parked).expect("a parked flow always resumes");
        assert_eq!(back, self.flow, "serde round trip changed the flow");
        result
    }

    fn assert_done_is_final(&mut self) {
        let before = self.flow.clone();
        let again = self
            .flow
            .handle_response(&terminate(UUID_A, "a.b.c", "d.e.f"), self.now);
        assert!(
            matches!(again, Err(Error::OutOfOrder { .. })),
            "a Done flow accepted a response: {again:?}"
        );
        assert_eq!(self.flow, before);
    }

    /// Applies an action that must succeed.
    fn must(&mut self, action: Action) -> Outcome {
        match self.apply(&action) {
            Ok(o) => o,
            Err(e) => panic!("{action:?} failed: {e:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Reachable states, driven with valid responses

#[derive(Debug, Clone, Copy)]
enum Reach {
    New,
    AwaitWizard,
    Credentials,
    CredentialsRecaptcha,
    CredentialsRejected,
    AwaitCredentials,
    ChooseMethod,
    AwaitMethod,
    Code,
    AwaitCode,
    ResetRequired,
    AwaitRestore,
    ResetCode,
    AwaitReset,
    PasswordChanged,
    Waiting,
    WaitingOnCode,
    /// The sixth attempt inside a minute, held by the attempt guard.
    HeldByGuard,
    Unsupported,
    Done,
}

const ALL_STATES: [Reach; 20] = [
    Reach::New,
    Reach::AwaitWizard,
    Reach::Credentials,
    Reach::CredentialsRecaptcha,
    Reach::CredentialsRejected,
    Reach::AwaitCredentials,
    Reach::ChooseMethod,
    Reach::AwaitMethod,
    Reach::Code,
    Reach::AwaitCode,
    Reach::ResetRequired,
    Reach::AwaitRestore,
    Reach::ResetCode,
    Reach::AwaitReset,
    Reach::PasswordChanged,
    Reach::Waiting,
    Reach::WaitingOnCode,
    Reach::HeldByGuard,
    Reach::Unsupported,
    Reach::Done,
];

/// The secrets a drive uses; the robustness properties use fixed ones.
#[derive(Debug, Clone)]
struct Secrets {
    password: String,
    recaptcha: String,
    code: String,
    reset_code: String,
    new_password: String,
    access: String,
    refresh: String,
    fingerprint: DeviceFingerprint,
}

impl Secrets {
    fn fixed() -> Self {
        Self {
            password: PASSWORD.into(),
            recaptcha: "03AGdBq2".into(),
            code: CODE.into(),
            reset_code: "112233".into(),
            new_password: "N3w-Passw0rd!".into(),
            access: "acc.ess.tok".into(),
            refresh: "ref.resh.tok".into(),
            fingerprint: fingerprint(),
        }
    }

    fn submit(&self, password: &str) -> Action {
        Action::Submit {
            email: EMAIL.into(),
            password: password.into(),
            recaptcha: Some(self.recaptcha.clone()),
        }
    }

    fn terminate(&self) -> Action {
        Action::Respond(Resp::ok(
            202,
            envelope(
                202,
                tokens_data(&self.access, &self.refresh),
                true,
                UUID_A,
                "Terminate",
            ),
        ))
    }
}

fn respond(r: http::Response<Vec<u8>>) -> Action {
    Action::Respond(Resp::ok(r.status().as_u16(), r.body().clone()))
}

fn wait_429(secs: &str) -> Action {
    Action::Respond(Resp {
        status: 429,
        headers: vec![("retry-after".into(), secs.as_bytes().to_vec())],
        body: Vec::new(),
    })
}

/// The valid actions that lead from `New` to `target`.
fn path_to(target: Reach, s: &Secrets) -> Vec<Action> {
    use Reach as R;
    let mut p = Vec::new();
    if matches!(target, R::New) {
        return p;
    }
    p.push(Action::Start);
    if matches!(target, R::AwaitWizard) {
        return p;
    }
    let recaptcha = matches!(target, R::CredentialsRecaptcha);
    p.push(respond(login(UUID_A, recaptcha)));
    if matches!(target, R::Credentials | R::CredentialsRecaptcha) {
        return p;
    }
    p.push(s.submit(&s.password));
    match target {
        R::AwaitCredentials => return p,
        R::CredentialsRejected => {
            p.push(respond(resp(400, error_body(1, "Invalid credentials"))));
            return p;
        }
        R::Waiting => {
            p.push(wait_429("30"));
            return p;
        }
        R::HeldByGuard => {
            // Five refused attempts inside a minute: the guard holds the sixth.
            for _ in 0..5 {
                p.push(respond(resp(400, error_body(1, "Invalid credentials"))));
                p.push(s.submit(&s.password));
            }
            return p;
        }
        R::Unsupported => {
            p.push(respond(resp(
                200,
                envelope(200, json!({"a": [1, 2]}), false, UUID_A, "kyc_required"),
            )));
            return p;
        }
        R::ResetRequired | R::AwaitRestore | R::ResetCode | R::AwaitReset | R::PasswordChanged => {
            p.push(respond(next(UUID_A, "reset_password_email")));
            if matches!(target, R::ResetRequired) {
                return p;
            }
            p.push(Action::RequestReset);
            if matches!(target, R::AwaitRestore) {
                return p;
            }
            p.push(respond(next(UUID_A, "reset_password")));
            if matches!(target, R::ResetCode) {
                return p;
            }
            p.push(Action::Reset(s.reset_code.clone(), s.new_password.clone()));
            if matches!(target, R::AwaitReset) {
                return p;
            }
            p.push(respond(next(UUID_A, "login")));
            return p;
        }
        _ => {}
    }
    p.push(respond(two_fa(UUID_A, json!([]))));
    if matches!(target, R::ChooseMethod) {
        return p;
    }
    p.push(Action::Choose(Method::Google));
    if matches!(target, R::AwaitMethod) {
        return p;
    }
    p.push(respond(next(UUID_A, "2fa_google_auth")));
    if matches!(target, R::Code) {
        return p;
    }
    p.push(Action::Code(s.code.clone()));
    match target {
        R::AwaitCode => {}
        R::WaitingOnCode => p.push(wait_429("garbage")),
        R::Done => p.push(s.terminate()),
        other => unreachable!("{other:?}"),
    }
    p
}

fn reach(target: Reach, s: &Secrets) -> Harness {
    let mut h = Harness::new(s.fingerprint.clone());
    for action in path_to(target, s) {
        let _ = h.must(action);
    }
    h
}

#[test]
fn every_state_is_reachable_and_shows_the_expected_step() {
    let s = Secrets::fixed();
    for target in ALL_STATES {
        let h = reach(target, &s);
        let step = h.flow.current_step();
        let awaiting = h.flow.is_awaiting_response();
        let ok = match target {
            Reach::New | Reach::Done => step.is_none() && !awaiting,
            Reach::AwaitWizard
            | Reach::AwaitCredentials
            | Reach::AwaitMethod
            | Reach::AwaitCode
            | Reach::AwaitRestore
            | Reach::AwaitReset => step.is_none() && awaiting,
            Reach::Credentials | Reach::CredentialsRecaptcha | Reach::CredentialsRejected => {
                matches!(step, Some(SignInStep::Credentials { .. }))
            }
            Reach::ChooseMethod => matches!(step, Some(SignInStep::ChooseMethod { .. })),
            Reach::Code => matches!(step, Some(SignInStep::Code { .. })),
            Reach::ResetRequired => {
                matches!(step, Some(SignInStep::PasswordResetRequired { .. }))
            }
            Reach::ResetCode => matches!(step, Some(SignInStep::ResetCode { .. })),
            Reach::PasswordChanged => step == Some(SignInStep::PasswordChanged),
            Reach::Waiting => step == Some(SignInStep::RetryAt(t(30))),
            Reach::WaitingOnCode => step == Some(SignInStep::RetryAt(t(60))),
            Reach::HeldByGuard => step == Some(SignInStep::RetryAt(t(60))) && !awaiting,
            Reach::Unsupported => matches!(step, Some(SignInStep::Unsupported { .. })),
        };
        assert!(ok, "{target:?}: step {step:?}, awaiting {awaiting}");
        let waits = matches!(
            target,
            Reach::Waiting | Reach::WaitingOnCode | Reach::HeldByGuard
        );
        assert_eq!(
            h.flow.state() == SignInState::RateLimited,
            waits,
            "{target:?}: {}",
            h.flow.state()
        );
        assert_eq!(h.flow.next_deadline().is_some(), waits, "{target:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Strategies

fn any_state() -> impl Strategy<Value = Reach> {
    prop::sample::select(ALL_STATES.to_vec())
}

fn awaiting_state() -> impl Strategy<Value = Reach> {
    prop::sample::select(vec![
        Reach::AwaitWizard,
        Reach::AwaitCredentials,
        Reach::AwaitMethod,
        Reach::AwaitCode,
        Reach::AwaitRestore,
        Reach::AwaitReset,
    ])
}

fn status() -> BoxedStrategy<u16> {
    prop_oneof![
        3 => prop::sample::select(vec![200u16, 202, 400, 401, 404, 429, 500]),
        1 => 100u16..600,
    ]
    .boxed()
}

fn retry_after_value() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        "[0-9]{1,4}".prop_map(String::into_bytes),
        "[0-9]{15,30}".prop_map(String::into_bytes),
        Just(b"Mon, 22 Apr 2024 11:12:24 GMT".to_vec()),
        Just(b"Thu, 01 Jan 1970 00:00:00 GMT".to_vec()),
        "(Mon|Sun|Xyz), [0-9]{2} (Jan|Feb|Dec|Abc) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT"
            .prop_map(String::into_bytes),
        "[ -~]{0,40}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..40),
    ]
    .boxed()
}

fn headers() -> BoxedStrategy<Vec<(String, Vec<u8>)>> {
    let one = prop_oneof![
        3 => retry_after_value().prop_map(|v| ("retry-after".to_owned(), v)),
        1 => (
            prop::sample::select(vec!["content-type", "x-request-id", "set-cookie", "Retry-After"]),
            prop::collection::vec(any::<u8>(), 0..30)
        )
            .prop_map(|(n, v)| (n.to_owned(), v)),
    ];
    prop::collection::vec(one, 0..3).boxed()
}

fn workflow() -> BoxedStrategy<String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "login",
            "Terminate",
            "2fa",
            "2fa_google_auth",
            "2fa_sms_auth",
            "reset_password_email",
            "reset_password",
            "",
        ])
        .prop_map(str::to_owned),
        1 => "[a-zA-Z_0-9]{0,12}",
    ]
    .boxed()
}

fn uuid() -> BoxedStrategy<String> {
    prop_oneof![
        4 => Just(UUID_A.to_owned()),
        1 => Just(UUID_B.to_owned()),
        1 => Just(String::new()),
        1 => "[a-f0-9-]{1,36}",
    ]
    .boxed()
}

fn data() -> BoxedStrategy<Value> {
    let providers = prop::collection::vec(
        (
            prop::sample::select(vec!["google", "sms", "email", ""]),
            any::<bool>(),
        )
            .prop_map(|(n, e)| json!({"name": n, "localizedCaption": n, "enabled": e})),
        0..4,
    );
    let time = prop_oneof![
        Just("2024-04-22T11:07:24+00:00".to_owned()),
        Just("2024-04-22T12:07:24+00:00".to_owned()),
        Just("2024-04-22T10:00:00+00:00".to_owned()),
        "[0-9T:+-]{0,26}",
    ];
    let token = (
        prop_oneof!["[!-~]{1,20}", "[ -~]{0,20}"],
        time.clone(),
        time,
    )
        .prop_map(|(t, c, e)| token_json(&t, &c, &e));
    prop_oneof![
        Just(Value::Null),
        any::<(bool, bool, bool)>().prop_map(|(r, q, p)| json!({
            "recaptcha": {"enabled": r},
            "is_qr_available": q,
            "is_password_recovery_available": p,
        })),
        Just(tokens_data("a.b.c", "d.e.f")),
        (
            prop::option::of(token.clone()),
            prop::option::of(token),
            providers.clone()
        )
            .prop_map(|(a, r, p)| json!({"accessToken": a, "refreshToken": r, "tfaProviders": p})),
        providers
            .prop_map(|p| json!({"accessToken": null, "refreshToken": null, "tfaProviders": p})),
        Just(json!({"anything": [1, "two", {"three": 3.5}]})),
        prop_oneof![0usize..8, 120usize..130].prop_map(nested),
    ]
    .boxed()
}

/// `depth` arrays inside each other.
fn nested(depth: usize) -> Value {
    (0..depth).fold(Value::Null, |inner, _| Value::Array(vec![inner]))
}

/// The code field: absent, equal to the HTTP status, or any value.
#[derive(Debug, Clone)]
enum CodeField {
    Absent,
    SameAsStatus,
    Value(u16),
}

fn code_field() -> BoxedStrategy<CodeField> {
    prop_oneof![
        1 => Just(CodeField::Absent),
        4 => Just(CodeField::SameAsStatus),
        1 => prop::sample::select(vec![200u16, 202, 400, 0, 999]).prop_map(CodeField::Value),
    ]
    .boxed()
}

/// A well-formed envelope (as JSON) with random parts.
fn envelope_value() -> BoxedStrategy<(CodeField, Value)> {
    (code_field(), data(), any::<bool>(), uuid(), workflow())
        .prop_map(|(code, data, done, uuid, workflow)| {
            let v = json!({"data": data, "done": done, "uuid": uuid, "workflow": workflow});
            (code, v)
        })
        .boxed()
}

fn set_code(code: &CodeField, status: u16, v: &mut Value) {
    match code {
        CodeField::Absent => {}
        CodeField::SameAsStatus => v["code"] = json!(status),
        CodeField::Value(c) => v["code"] = json!(c),
    }
}

/// Paths inside an envelope where a wrong JSON type is put.
const FIELDS: [&[&str]; 14] = [
    &["code"],
    &["data"],
    &["done"],
    &["uuid"],
    &["workflow"],
    &["data", "recaptcha"],
    &["data", "recaptcha", "enabled"],
    &["data", "is_qr_available"],
    &["data", "accessToken"],
    &["data", "accessToken", "token"],
    &["data", "accessToken", "createdAt"],
    &["data", "refreshToken"],
    &["data", "tfaProviders"],
    &["data", "tfaProviders", "0"],
];

fn wrong_value() -> BoxedStrategy<Value> {
    prop::sample::select(vec![
        json!(1),
        json!(-1),
        json!(1.5),
        json!("s"),
        json!(true),
        json!([]),
        json!({}),
        json!(null),
        json!([{"name": 1}]),
    ])
    .boxed()
}

fn put(v: &mut Value, path: &[&str], value: Value) {
    let mut cur = v;
    for (i, key) in path.iter().enumerate() {
        if !cur.is_object() && !cur.is_array() {
            *cur = json!({});
        }
        let last = i + 1 == path.len();
        let slot = match cur {
            Value::Array(a) => {
                if a.is_empty() {
                    a.push(json!({}));
                }
                &mut a[0]
            }
            Value::Object(m) => m.entry(key.to_string()).or_insert(json!({})),
            _ => unreachable!(),
        };
        if last {
            *slot = value;
            return;
        }
        cur = slot;
    }
}

fn huge() -> String {
    "x".repeat(HUGE_LEN)
}

#[derive(Debug, Clone)]
enum Body {
    Envelope(CodeField, Value),
    Truncated(CodeField, Value, Index),
    WrongType(CodeField, Value, usize, Value),
    Huge(CodeField, Value, usize),
    Error(i64, String),
    Bytes(Vec<u8>),
    Empty,
}

fn body() -> BoxedStrategy<Body> {
    prop_oneof![
        6 => envelope_value().prop_map(|(c, v)| Body::Envelope(c, v)),
        2 => (envelope_value(), any::<Index>()).prop_map(|((c, v), i)| Body::Truncated(c, v, i)),
        3 => (envelope_value(), 0..FIELDS.len(), wrong_value())
            .prop_map(|((c, v), f, w)| Body::WrongType(c, v, f, w)),
        1 => (envelope_value(), 0usize..5).prop_map(|((c, v), f)| Body::Huge(c, v, f)),
        2 => (any::<i64>(), prop_oneof![Just("Invalid credentials".to_owned()), ".{0,20}"])
            .prop_map(|(c, m)| Body::Error(c, m)),
        1 => prop::collection::vec(any::<u8>(), 0..200).prop_map(Body::Bytes),
        1 => Just(Body::Empty),
    ]
    .boxed()
}

fn render(body: &Body, status: u16) -> Vec<u8> {
    let with_code = |c: &CodeField, v: &Value| {
        let mut v = v.clone();
        set_code(c, status, &mut v);
        v
    };
    match body {
        Body::Envelope(c, v) => serde_json::to_vec(&with_code(c, v)).unwrap(),
        Body::Truncated(c, v, i) => {
            let bytes = serde_json::to_vec(&with_code(c, v)).unwrap();
            let cut = i.index(bytes.len());
            bytes[..cut].to_vec()
        }
        Body::WrongType(c, v, f, w) => {
            let mut v = with_code(c, v);
            put(&mut v, FIELDS[*f], w.clone());
            serde_json::to_vec(&v).unwrap()
        }
        Body::Huge(c, v, f) => {
            let mut v = with_code(c, v);
            let path: &[&str] = match f {
                0 => &["uuid"],
                1 => &["workflow"],
                2 => &["data", "accessToken", "token"],
                3 => &["data", "tfaProviders", "0", "name"],
                _ => &["data", "blob"],
            };
            put(&mut v, path, Value::String(huge()));
            serde_json::to_vec(&v).unwrap()
        }
        Body::Error(c, m) => error_body(*c, m),
        Body::Bytes(b) => b.clone(),
        Body::Empty => Vec::new(),
    }
}

fn response() -> BoxedStrategy<Resp> {
    (status(), headers(), body())
        .prop_map(|(status, headers, body)| Resp {
            status,
            headers,
            body: render(&body, status),
        })
        .boxed()
}

fn text_input() -> BoxedStrategy<String> {
    prop_oneof![
        3 => Just(CODE.to_owned()),
        2 => ".{0,12}",
        1 => "[a-z0-9]{0,4}[\r\n\0\t][a-z0-9]{0,4}",
        1 => Just(String::new()),
        1 => Just(huge()),
    ]
    .boxed()
}

fn email_input() -> BoxedStrategy<String> {
    prop_oneof![
        4 => Just(EMAIL.to_owned()),
        2 => "[a-z]{0,6}@?[a-z.]{0,6}",
        1 => "[a-z]{1,4}@[a-z]{1,3}[\r\n\0][A-Za-z: -]{0,12}",
        1 => Just(String::new()),
        1 => Just(format!("{}@example.com", huge())),
    ]
    .boxed()
}

fn password_input() -> BoxedStrategy<String> {
    prop_oneof![
        4 => Just(PASSWORD.to_owned()),
        2 => ".{0,16}",
        1 => "[a-z]{0,3}[\r\n\0][a-z]{0,3}",
        1 => Just(String::new()),
        1 => Just(huge()),
    ]
    .boxed()
}

fn action() -> BoxedStrategy<Action> {
    prop_oneof![
        2 => Just(Action::Start),
        3 => (email_input(), password_input(), prop::option::of(text_input()))
            .prop_map(|(email, password, recaptcha)| Action::Submit { email, password, recaptcha }),
        2 => prop_oneof![Just(Method::Google), Just(Method::Sms)].prop_map(Action::Choose),
        2 => text_input().prop_map(Action::Code),
        1 => Just(Action::RequestReset),
        1 => (text_input(), password_input()).prop_map(|(c, p)| Action::Reset(c, p)),
        2 => Just(Action::Retry),
        8 => response().prop_map(Action::Respond),
        2 => prop_oneof![0u64..5, 55u64..65, 595u64..700].prop_map(Action::Tick),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------------------
// Robustness properties

proptest! {
    #![proptest_config(config(256))]

    /// From every reachable state, any sequence of responses and calls: no panic, every
    /// `Err` leaves the flow as it was, `Done` is final, and serde round-trips the flow.
    #[test]
    fn arbitrary_responses_and_calls_keep_the_invariants(
        state in any_state(),
        actions in prop::collection::vec(action(), 1..10),
    ) {
        let mut h = reach(state, &Secrets::fixed());
        for a in &actions {
            let _ = h.apply(a);
        }
    }

    /// Only responses, to every state that awaits one: the decoders never panic and
    /// never half-move the flow.
    #[test]
    fn arbitrary_responses_to_every_awaiting_state(
        state in awaiting_state(),
        responses in prop::collection::vec(response(), 1..4),
    ) {
        let mut h = reach(state, &Secrets::fixed());
        for r in responses {
            let _ = h.apply(&Action::Respond(r));
        }
    }
}

// ---------------------------------------------------------------------------------------
// No secret in Debug/Display

/// Random secrets, each starting with its own random 14-character prefix.
fn secrets() -> BoxedStrategy<Secrets> {
    let prefix = || "[A-Za-z0-9]{14}";
    (
        (prefix(), ".{0,20}"),
        (prefix(), "[ -~]{0,16}"),
        (prefix(), "[ -~]{0,16}"),
        (prefix(), "[ -~]{0,16}"),
        (prefix(), ".{0,20}"),
        (prefix(), "[!-~]{0,30}"),
        (prefix(), "[!-~]{0,30}"),
        (prefix(), "[ -~]{0,16}"),
    )
        .prop_map(|(p, r, c, rc, np, a, rf, ua)| {
            let cat = |(a, b): (String, String)| a + &b;
            let ua = cat(ua);
            Secrets {
                password: cat(p),
                recaptcha: cat(r),
                code: cat(c),
                reset_code: cat(rc),
                new_password: cat(np),
                access: cat(a),
                refresh: cat(rf),
                fingerprint: DeviceFingerprint::from_user_agent(&ua).expect("printable user agent"),
            }
        })
        .boxed()
}

/// Every 12-character window of every secret (so a partial leak counts too).
fn windows(s: &Secrets) -> Vec<String> {
    let all = [
        &s.password,
        &s.recaptcha,
        &s.code,
        &s.reset_code,
        &s.new_password,
        &s.access,
        &s.refresh,
        &s.fingerprint.encoded().to_owned(),
        &s.fingerprint.user_agent().to_owned(),
    ]
    .map(|x| x.chars().collect::<Vec<char>>());
    let mut out = Vec::new();
    for chars in all {
        for w in chars.windows(12) {
            out.push(w.iter().collect());
        }
    }
    out
}

fn assert_nothing_shown(h: &Harness, s: &Secrets) {
    let windows = windows(s);
    for text in &h.shown {
        for w in &windows {
            assert!(
                !text.contains(w.as_str()),
                "secret text {w:?} shows in {text:?}"
            );
        }
    }
}

/// A response carrying the flow's uuid and these parts.
fn answer(status: u16, data: Value, done: bool, workflow: &str) -> Action {
    Action::Respond(Resp::ok(
        status,
        envelope(status, data, done, UUID_A, workflow),
    ))
}

/// Every step of every branch, with the secrets in the inputs and in the responses, plus
/// refused inputs and malformed responses that carry the secrets.
fn drive_with_secrets(s: &Secrets) -> Harness {
    let mut h = Harness::new(s.fingerprint.clone());
    let refused = || respond(resp(400, error_body(1, "Invalid credentials")));

    // reCAPTCHA, a refused attempt, a server block, 2FA with a wrong code, then Done.
    let _ = h.must(Action::Start);
    let _ = h.must(respond(login(UUID_A, true)));
    let no_recaptcha = Action::Submit {
        email: EMAIL.into(),
        password: s.password.clone(),
        recaptcha: None,
    };
    assert!(h.apply(&no_recaptcha).is_err());
    let _ = h.must(s.submit(&s.password));
    let _ = h.must(refused());
    let _ = h.must(s.submit(&s.password));
    let _ = h.must(wait_429("5"));
    let _ = h.must(Action::Tick(5));
    let _ = h.must(Action::Retry);
    let _ = h.must(respond(two_fa(UUID_A, json!([]))));
    let _ = h.must(Action::Choose(Method::Google));
    let _ = h.must(respond(next(UUID_A, "2fa_google_auth")));
    let _ = h.must(Action::Code(s.code.clone()));
    let _ = h.must(respond(resp(400, error_body(2, "Invalid code"))));
    let _ = h.must(Action::Code(s.code.clone()));
    // Malformed answers that carry the tokens: none may show them.
    let token = |t: &str| token_json(t, "2024-04-22T11:07:24+00:00", "2024-04-22T11:22:24+00:00");
    for bad in [
        json!({"accessToken": s.access, "refreshToken": s.refresh}),
        json!({"accessToken": token(&s.access), "refreshToken": [s.refresh]}),
        json!({"accessToken": {"token": s.access}, "refreshToken": token(&s.refresh)}),
        json!({"accessToken": token(&s.access), "refreshToken": {"token": s.refresh, "createdAt": s.refresh, "expiresAt": 1}}),
        json!({"accessToken": token(&format!("{} {}", s.access, s.refresh)), "refreshToken": token(&s.refresh)}),
        json!({"accessToken": token(&s.access), "refreshToken": token(&s.refresh), "tfaProviders": s.access}),
        json!({"accessToken": token(&s.access), "refreshToken": token(&s.refresh), "tfaProviders": [{"name": s.refresh, "enabled": s.access}]}),
        json!(s.access),
    ] {
        assert!(h.apply(&answer(202, bad, true, "Terminate")).is_err());
    }
    let good = serde_json::to_vec(&json!({
        "code": 202, "data": tokens_data(&s.access, &s.refresh), "done": true,
        "uuid": UUID_A, "workflow": "Terminate"
    }))
    .unwrap();
    for cut in [good.len() / 3, good.len() / 2, good.len() - 3] {
        assert!(h
            .apply(&Action::Respond(Resp::ok(202, good[..cut].to_vec())))
            .is_err());
    }
    // (`done: false` with `Terminate` is a deviation, not an error: tests/hostile/cases.rs.)
    assert!(h
        .apply(&Action::Respond(Resp::ok(
            202,
            envelope(
                202,
                tokens_data(&s.access, &s.refresh),
                true,
                UUID_B,
                "Terminate"
            )
        )))
        .is_err());
    let _ = h.must(s.terminate());

    // Forced reset, then a new sign-in with SMS, ending in an unsupported workflow that
    // carries the tokens in its data. A signed-in flow is final: a new flow begins.
    h.flow = new_flow();
    let _ = h.must(Action::Start);
    let _ = h.must(respond(login(UUID_A, false)));
    // Refused inputs that contain the secrets.
    for bad in [
        Action::Submit {
            email: format!("{}\r\n@x", s.password),
            password: s.password.clone(),
            recaptcha: None,
        },
        Action::Submit {
            email: EMAIL.into(),
            password: s.password.repeat(300),
            recaptcha: None,
        },
        Action::Submit {
            email: EMAIL.into(),
            password: s.password.clone(),
            recaptcha: Some(format!("{}\n", s.recaptcha)),
        },
    ] {
        assert!(h.apply(&bad).is_err());
    }
    // Five refused attempts; the guard holds the sixth, password and all, then sends it.
    for _ in 0..5 {
        let _ = h.must(s.submit(&s.password));
        let _ = h.must(refused());
    }
    assert!(matches!(h.must(s.submit(&s.password)), Outcome::Wait(_)));
    assert!(matches!(h.must(Action::Retry), Outcome::Wait(_)));
    let _ = h.must(Action::Tick(60));
    assert!(matches!(h.must(Action::Retry), Outcome::Request(_)));
    let _ = h.must(respond(next(UUID_A, "reset_password_email")));
    let _ = h.must(Action::RequestReset);
    let _ = h.must(respond(next(UUID_A, "reset_password")));
    assert!(h
        .apply(&Action::Reset(
            format!("{}\0", s.reset_code),
            s.new_password.clone()
        ))
        .is_err());
    let _ = h.must(Action::Reset(s.reset_code.clone(), s.new_password.clone()));
    let _ = h.must(respond(resp(422, error_body(3, "Code expired"))));
    let _ = h.must(Action::Reset(s.reset_code.clone(), s.new_password.clone()));
    let _ = h.must(respond(next(UUID_A, "login")));
    let _ = h.must(Action::Start);
    let _ = h.must(respond(login(UUID_A, false)));
    let _ = h.must(s.submit(&s.new_password));
    let _ = h.must(respond(next(UUID_A, "2fa_sms_auth")));
    assert!(h.apply(&Action::Code(format!("{}\n", s.code))).is_err());
    let _ = h.must(Action::Code(s.code.clone()));
    let _ = h.must(wait_429(""));
    let wait = h.flow.next_deadline();
    assert!(wait.is_some());
    assert!(matches!(h.must(Action::Retry), Outcome::Wait(at) if Some(at) == wait));
    let _ = h.must(Action::Tick(60));
    assert!(matches!(h.must(Action::Retry), Outcome::Request(_)));
    // A workflow the page does not name is refused after the code (only the credentials
    // step may lead to one), without showing the tokens it carries.
    let kyc = answer(
        200,
        tokens_data(&s.access, &s.refresh),
        false,
        "kyc_required",
    );
    assert!(h.apply(&kyc).is_err());
    let _ = h.must(respond(resp(400, error_body(2, "Invalid code"))));
    let _ = h.must(Action::Start);
    let _ = h.must(respond(login(UUID_A, false)));
    let _ = h.must(s.submit(&s.new_password));
    let _ = h.must(kyc);
    h
}

proptest! {
    #![proptest_config(config(48))]

    /// Random secrets through every step: no `Debug` of a step, an error or the flow, and
    /// no `Display` of an error, shows any part of any of them.
    #[test]
    fn no_secret_shows_in_debug_or_display(s in secrets()) {
        let h = drive_with_secrets(&s);
        assert_nothing_shown(&h, &s);
    }
}

/// The shape of the leak the property above looks for, as one fixed example: a token
/// sent where an object belongs, containing a quote.
#[test]
fn a_token_of_the_wrong_type_does_not_show_in_the_error() {
    let mut flow = new_flow();
    let _ = flow.start(t(0)).sent();
    let _ = flow.handle_response(&login(UUID_A, false), t(0)).unwrap();
    let _ = flow.submit_credentials(creds(PASSWORD), t(1)).sent();
    let secret = "eyJhbGciOi\"SECRETPARTOFTHETOKEN";
    let body = envelope(
        202,
        json!({"accessToken": secret, "refreshToken": null}),
        true,
        UUID_A,
        "Terminate",
    );
    let before = flow.clone();
    let err = flow.handle_response(&resp(202, body), t(2)).unwrap_err();
    assert_eq!(flow, before);
    assert!(
        matches!(err, Error::Malformed { field: "data", .. }),
        "{err:?}"
    );
    for shown in [format!("{err:?}"), format!("{err}")] {
        assert!(!shown.contains("SECRETPART"), "the token shows: {shown}");
    }
    // Nor a token of any other JSON type, in the pair or in the token object.
    let token = |value: Value| json!({"token": value, "createdAt": "2024-04-22T11:07:24+00:00", "expiresAt": "2024-04-22T11:22:24+00:00"});
    for value in [
        json!(394_208_416_658_607_535_u64),
        json!(-394_208_416_658_607_535_i64),
        json!(3.942_084_166_586_075e30),
        json!(true),
        json!(["394208416658607535"]),
        json!({"394208416658607535": 1}),
    ] {
        for data in [
            json!({"accessToken": value, "refreshToken": token(json!("d.e.f"))}),
            json!({"accessToken": token(value.clone()), "refreshToken": token(json!("d.e.f"))}),
        ] {
            let body = envelope(202, data, true, UUID_A, "Terminate");
            let err = flow.handle_response(&resp(202, body), t(2)).unwrap_err();
            assert_eq!(flow, before);
            for shown in [format!("{err:?}"), format!("{err}")] {
                for part in ["394208416658607535", "3942084166586075", "true"] {
                    assert!(!shown.contains(part), "{value} shows: {shown}");
                }
            }
        }
    }
}

/// A flow parked at an unsupported workflow must resume. The flow keeps the server's free
/// `data` only up to 64 levels deep (parking adds levels of its own, and serde_json reads
/// at most 128): deeper is a malformed answer that changes nothing.
#[test]
fn an_unsupported_step_with_deeply_nested_data_parks_and_resumes() {
    // Only the credentials step may lead to a workflow the page does not name.
    let mut flow = new_flow();
    let _ = flow.start(t(0)).sent();
    let login = json!({"recaptcha": {"enabled": false}});
    let _ = flow
        .handle_response(
            &resp(200, envelope(200, login, false, UUID_A, "login")),
            t(0),
        )
        .unwrap();
    let fingerprint = DeviceFingerprint::from_user_agent("props/1.0").unwrap();
    let creds = Credentials::new("username@example.com", "QAzqw123!", fingerprint);
    let _ = flow.submit_credentials(creds, t(0)).sent();
    let before = flow.clone();
    let too_deep = flow
        .handle_response(
            &resp(200, envelope(200, nested(65), false, UUID_A, "deep")),
            t(0),
        )
        .unwrap_err();
    assert!(
        matches!(too_deep, Error::Malformed { field: "data", .. }),
        "{too_deep:?}"
    );
    assert_eq!(flow, before);

    let data = nested(64);
    let step = flow
        .handle_response(
            &resp(200, envelope(200, data.clone(), false, UUID_A, "deep")),
            t(0),
        )
        .unwrap();
    assert_eq!(
        step,
        SignInStep::Unsupported {
            workflow: "deep".to_owned(),
            data: b2core_auth::Secret::new(data)
        }
    );
    let parked = serde_json::to_string(&flow).unwrap();
    let back = serde_json::from_str::<SignIn>(&parked);
    assert_eq!(back.map_err(|e| e.to_string()), Ok(flow));
}
