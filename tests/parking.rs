//! Parked flows across deploys.
//!
//! A backend parks a flow (serde) between browser requests, and may resume it in a newer
//! deploy. `tests/fixtures/parked/v<N>/` holds each flow and the session parked at every
//! reachable step in format `N`, written once by [`write_fixtures_of_the_current_format`]
//! while `N` was the current format and never regenerated since: they are what older
//! deploys left in the stores.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use b2core_auth::backoffice::{StaffSignIn, StaffState, StaffStep};
use b2core_auth::client::signin::SignInState;
use b2core_auth::client::signup::SignUpState;
use b2core_auth::client::{
    Credentials, Method, SignIn, SignInStep, SignUp, SignUpForm, SignUpStep,
};
use b2core_auth::session::SessionState;
use b2core_auth::sim::{ClientAccount, Dialect, Server, SimConfig, StaffAccount};
use b2core_auth::Flow;
use b2core_auth::{AttemptGuard, DeviceFingerprint, Endpoint, Outgoing, Session, SessionStep};
use http::{Request, Response};
use serde_json::{json, Value};

#[path = "support/sent.rs"]
mod sent;
use sent::Sent;

const HOST: &str = "https://host.name";
const PASSWORD: &str = "QAzqw123!";
const NEW_PASSWORD: &str = "new-Passw0rd";
const SIGN_UP_URL: &str = "https://host.name/register/{registration}/{code}";
const REFERRAL: &str = "29734fc149dc93809d18f49ae970810a";
const RECAPTCHA: &str = "03AGdBq24PBCbwiDRaS_MJ7Z";
/// 2024-04-22T11:07:24+00:00, the pages' `createdAt`.
const T0: u64 = 1_713_784_044;

/// `T0 + secs`.
fn t(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0 + secs)
}

fn endpoint() -> Endpoint {
    Endpoint::new(HOST).expect("valid")
}

fn fingerprint() -> DeviceFingerprint {
    DeviceFingerprint::from_user_agent("Mozilla/5.0 (X11; Linux x86_64) parking-test/1.0")
        .expect("valid")
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parked")
}

/// A response with this status and JSON body.
fn answer(status: u16, body: &Value) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .body(serde_json::to_vec(body).expect("JSON"))
        .expect("valid")
}

/// A wizard answer within the flow of `uuid`.
fn envelope(status: u16, code: u16, data: Value, uuid: &str, workflow: &str) -> Response<Vec<u8>> {
    let done = code == 202;
    answer(
        status,
        &json!({"code": code, "data": data, "done": done, "uuid": uuid, "workflow": workflow}),
    )
}

/// A 429 with `Retry-After` in seconds.
fn too_many(secs: u64) -> Response<Vec<u8>> {
    Response::builder()
        .status(429)
        .header("retry-after", secs.to_string())
        .body(Vec::new())
        .expect("valid")
}

/// A token pair in the vendor's shape, made at `T0 + secs`.
fn pair_json(access: &str, refresh: &str, secs: u64) -> Value {
    let time = |s| b2core_auth::format_rfc3339(t(s)).expect("in range");
    json!({
        "accessToken": {"token": access, "createdAt": time(secs), "expiresAt": time(secs + 900)},
        "refreshToken": {"token": refresh, "createdAt": time(secs), "expiresAt": time(secs + 3600)},
    })
}

/// The `uuid` of a request's JSON body.
fn uuid_of(request: &Request<Vec<u8>>) -> String {
    let body: Value = serde_json::from_slice(request.body()).expect("JSON body");
    body["uuid"].as_str().expect("a uuid").to_owned()
}

/// A flow or session, parked.
#[derive(Debug, Clone, PartialEq)]
enum Parked {
    SignIn(SignIn),
    SignUp(SignUp),
    Staff(StaffSignIn),
    Session(Session),
}

impl Parked {
    fn to_json(&self) -> String {
        let json = match self {
            Self::SignIn(f) => serde_json::to_string_pretty(f),
            Self::SignUp(f) => serde_json::to_string_pretty(f),
            Self::Staff(f) => serde_json::to_string_pretty(f),
            Self::Session(s) => serde_json::to_string_pretty(s),
        };
        json.expect("a flow always serializes") + "\n"
    }
}

/// Collects the parked flows of the scenarios, by fixture name.
#[derive(Default)]
struct Album(Vec<(&'static str, Parked)>);

impl Album {
    fn signin(&mut self, name: &'static str, flow: &SignIn) {
        self.0.push((name, Parked::SignIn(flow.clone())));
    }
    fn signup(&mut self, name: &'static str, flow: &SignUp) {
        self.0.push((name, Parked::SignUp(flow.clone())));
    }
    fn staff(&mut self, name: &'static str, flow: &StaffSignIn) {
        self.0.push((name, Parked::Staff(flow.clone())));
    }
    fn session(&mut self, name: &'static str, session: &Session) {
        self.0.push((name, Parked::Session(session.clone())));
    }
}

/// A simulator with the accounts the scenarios use.
fn sim_server(config: SimConfig) -> Server {
    let mut server = Server::new(config);
    let client = |email: &str| ClientAccount::new(email, PASSWORD);
    for account in [
        client("plain@example.com"),
        client("google@example.com").with_google(),
        client("both@example.com").with_google().with_sms(),
        client("reset@example.com").with_forced_reset(),
        client("limited@example.com"),
        client("taken@example.com"),
    ] {
        server.add_client(account);
    }
    server.add_staff(StaffAccount::new("staff@example.com", PASSWORD).with_email_2fa());
    server.add_staff(StaffAccount::new("plain-staff@example.com", PASSWORD));
    server.add_staff(StaffAccount::new("limited-staff@example.com", PASSWORD));
    server
}

/// A sign-in flow at the credentials step, from the simulator.
fn signin_at_credentials(server: &mut Server, endpoint: Endpoint, now: SystemTime) -> SignIn {
    let mut flow = SignIn::new(endpoint);
    let request = flow.start(now).sent();
    let step = flow.handle_response(&server.handle(&request, now), now);
    assert!(
        matches!(step, Ok(SignInStep::Credentials { .. })),
        "{step:?}"
    );
    flow
}

fn creds(email: &str, password: &str) -> Credentials {
    Credentials::new(email, password, fingerprint())
}

/// Submits credentials (or a code, ...) and hands the simulator's answer back.
fn exchange<S: std::fmt::Debug>(
    server: &mut Server,
    request: Result<Outgoing, b2core_auth::Error>,
    now: SystemTime,
    handle: impl FnOnce(&Response<Vec<u8>>, SystemTime) -> Result<S, b2core_auth::Error>,
) -> S {
    let request = request.sent();
    handle(&server.handle(&request, now), now).expect("the answer is read")
}

fn signin_scenarios(album: &mut Album) {
    let mut server = sim_server(SimConfig::default());
    let s = &mut server;

    // Not started, waiting for the wizard, credentials; a refused attempt; signed in.
    let mut flow = SignIn::new(endpoint());
    album.signin("signin-new", &flow);
    let request = flow.start(t(0)).sent();
    album.signin("signin-awaiting-wizard", &flow);
    let step = flow.handle_response(&s.handle(&request, t(0)), t(0));
    assert!(
        matches!(step, Ok(SignInStep::Credentials { .. })),
        "{step:?}"
    );
    album.signin("signin-credentials", &flow);
    let request = flow.submit_credentials(creds("plain@example.com", "wrong-Passw0rd"), t(1));
    album.signin("signin-awaiting-credentials", &flow);
    let step = exchange(s, request, t(1), |r, now| flow.handle_response(r, now));
    assert!(
        matches!(
            step,
            SignInStep::Credentials {
                rejected: Some(_),
                ..
            }
        ),
        "{step:?}"
    );
    album.signin("signin-credentials-rejected", &flow);
    let request = flow.submit_credentials(creds("plain@example.com", PASSWORD), t(2));
    let step = exchange(s, request, t(2), |r, now| flow.handle_response(r, now));
    assert!(matches!(step, SignInStep::Done(_)), "{step:?}");
    album.signin("signin-done", &flow);

    // Google Authenticator: the code, a wrong one, the right one.
    let mut flow = signin_at_credentials(s, endpoint(), t(3));
    let request = flow.submit_credentials(creds("google@example.com", PASSWORD), t(3));
    let step = exchange(s, request, t(3), |r, now| flow.handle_response(r, now));
    assert!(
        matches!(
            step,
            SignInStep::Code {
                method: Method::Google,
                ..
            }
        ),
        "{step:?}"
    );
    album.signin("signin-code", &flow);
    let right = s.google_code("google@example.com", t(4)).expect("google");
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let request = flow.submit_code(wrong, t(4));
    album.signin("signin-awaiting-code", &flow);
    let step = exchange(s, request, t(4), |r, now| flow.handle_response(r, now));
    assert!(
        matches!(
            step,
            SignInStep::Code {
                rejected: Some(_),
                ..
            }
        ),
        "{step:?}"
    );
    album.signin("signin-code-rejected", &flow);

    // Both methods: the choice, then an SMS code.
    let mut flow = signin_at_credentials(s, endpoint(), t(5));
    let request = flow.submit_credentials(creds("both@example.com", PASSWORD), t(5));
    let step = exchange(s, request, t(5), |r, now| flow.handle_response(r, now));
    assert!(matches!(step, SignInStep::ChooseMethod { .. }), "{step:?}");
    album.signin("signin-choose-method", &flow);
    let request = flow.choose_method(Method::Sms, t(6));
    album.signin("signin-awaiting-method", &flow);
    let step = exchange(s, request, t(6), |r, now| flow.handle_response(r, now));
    assert!(
        matches!(
            step,
            SignInStep::Code {
                method: Method::Sms,
                ..
            }
        ),
        "{step:?}"
    );
    album.signin("signin-code-sms", &flow);

    // A forced password reset, each step of it.
    let mut flow = signin_at_credentials(s, endpoint(), t(7));
    let request = flow.submit_credentials(creds("reset@example.com", PASSWORD), t(7));
    let step = exchange(s, request, t(7), |r, now| flow.handle_response(r, now));
    assert!(
        matches!(step, SignInStep::PasswordResetRequired { .. }),
        "{step:?}"
    );
    album.signin("signin-reset-required", &flow);
    let request = flow.request_reset_code(t(8));
    album.signin("signin-awaiting-restore", &flow);
    let step = exchange(s, request, t(8), |r, now| flow.handle_response(r, now));
    assert!(matches!(step, SignInStep::ResetCode { .. }), "{step:?}");
    album.signin("signin-reset-code", &flow);
    let code = s
        .last_code_to("reset@example.com")
        .expect("emailed")
        .to_owned();
    let request = flow.reset_password(code, NEW_PASSWORD, t(9));
    album.signin("signin-awaiting-reset", &flow);
    let step = exchange(s, request, t(9), |r, now| flow.handle_response(r, now));
    assert_eq!(step, SignInStep::PasswordChanged);
    album.signin("signin-password-changed", &flow);

    // Rate limited: five attempts from five flows, and the sixth is answered 429.
    for i in 0..5 {
        let mut flow = signin_at_credentials(s, endpoint(), t(10 + i));
        let request = flow.submit_credentials(creds("limited@example.com", "wrong"), t(10 + i));
        let _ = exchange(s, request, t(10 + i), |r, now| flow.handle_response(r, now));
    }
    let mut flow = signin_at_credentials(s, endpoint(), t(15));
    let request = flow.submit_credentials(creds("limited@example.com", PASSWORD), t(15));
    let step = exchange(s, request, t(15), |r, now| flow.handle_response(r, now));
    assert!(matches!(step, SignInStep::RetryAt(_)), "{step:?}");
    album.signin("signin-rate-limited", &flow);

    // A workflow the pages do not name (the simulator never answers one: written here).
    let mut flow = signin_at_credentials(s, endpoint(), t(16));
    let request = flow
        .submit_credentials(creds("plain@example.com", PASSWORD), t(16))
        .sent();
    let data = json!({"device": {"name": "new laptop", "trusted": false}, "steps": [1, 2, 3]});
    let step = flow.handle_response(
        &envelope(200, 200, data, &uuid_of(&request), "confirm_device"),
        t(16),
    );
    assert!(
        matches!(step, Ok(SignInStep::Unsupported { .. })),
        "{step:?}"
    );
    album.signin("signin-unsupported", &flow);

    // reCAPTCHA on: the credentials carry a response.
    let mut server = sim_server(SimConfig::default());
    server.require_recaptcha(RECAPTCHA);
    let mut flow = signin_at_credentials(&mut server, endpoint(), t(17));
    let request = flow.submit_credentials(
        creds("plain@example.com", PASSWORD).with_recaptcha(RECAPTCHA),
        t(17),
    );
    assert!(matches!(request, Ok(Outgoing::Request(_))), "{request:?}");
    album.signin("signin-awaiting-credentials-recaptcha", &flow);

    // A host that answers the wizard init as the other published page does: deviations.
    let config = SimConfig {
        dialect: Dialect::named("done-at-init").expect("a dialect"),
        ..SimConfig::default()
    };
    let flow = signin_at_credentials(&mut sim_server(config), endpoint(), t(18));
    assert!(!flow.deviations().is_empty());
    album.signin("signin-credentials-deviations", &flow);

    // A strict endpoint with a path prefix and its own body limit.
    let custom = Endpoint::new("https://host.name/b2core/")
        .expect("valid")
        .with_body_limit(64 * 1024)
        .strict();
    album.signin("signin-new-custom-endpoint", &SignIn::new(custom));
}

/// A sign-up flow at the form, from the simulator.
fn signup_at_form(server: &mut Server, now: SystemTime) -> SignUp {
    let mut flow = SignUp::new(endpoint());
    let request = flow.start(SIGN_UP_URL, Some(REFERRAL), now);
    let step = exchange(server, request, now, |r, now| flow.handle_response(r, now));
    assert!(matches!(step, SignUpStep::Form { .. }), "{step:?}");
    flow
}

fn form(email: &str) -> SignUpForm {
    SignUpForm::new(email, PASSWORD, PASSWORD, fingerprint())
}

fn signup_scenarios(album: &mut Album) {
    let mut server = sim_server(SimConfig::default());
    let s = &mut server;

    let mut flow = SignUp::new(endpoint());
    album.signup("signup-new", &flow);
    let request = flow.start(SIGN_UP_URL, Some(REFERRAL), t(0));
    album.signup("signup-awaiting-wizard", &flow);
    let step = exchange(s, request, t(0), |r, now| flow.handle_response(r, now));
    assert!(matches!(step, SignUpStep::Form { .. }), "{step:?}");
    album.signup("signup-form", &flow);
    let step = exchange(
        s,
        flow.submit(form("taken@example.com"), t(1)),
        t(1),
        |r, now| flow.handle_response(r, now),
    );
    assert!(
        matches!(
            step,
            SignUpStep::Form {
                rejected: Some(_),
                ..
            }
        ),
        "{step:?}"
    );
    album.signup("signup-form-rejected", &flow);
    let full = form("new@example.com")
        .with_country_code("16")
        .with_given_name("John")
        .with_family_name("Brown")
        .with_recaptcha("ut nu");
    let request = flow.submit(full, t(2));
    album.signup("signup-awaiting", &flow);
    let step = exchange(s, request, t(2), |r, now| flow.handle_response(r, now));
    assert_eq!(step, SignUpStep::SignInRequired);
    album.signup("signup-sign-in-required", &flow);

    // A confirmation step the crate does not drive (written here: the simulator has none).
    let mut flow = signup_at_form(s, t(3));
    let uuid = flow.uuid().expect("a uuid").to_owned();
    flow.submit(form("next@example.com"), t(3)).sent();
    let data = json!({"email": "next@example.com", "resend_after": 60});
    let step = flow.handle_response(&envelope(200, 200, data, &uuid, "confirm_email"), t(3));
    assert!(matches!(step, Ok(SignUpStep::Next { .. })), "{step:?}");
    album.signup("signup-next", &flow);

    // Signed up and signed in (written here: the simulator signs up without tokens).
    let mut flow = signup_at_form(s, t(4));
    let uuid = flow.uuid().expect("a uuid").to_owned();
    flow.submit(form("done@example.com"), t(4)).sent();
    let data = pair_json("su.access.token", "su.refresh.token", 4);
    let step = flow.handle_response(&envelope(202, 202, data, &uuid, "login"), t(4));
    assert!(matches!(step, Ok(SignUpStep::Done(_))), "{step:?}");
    album.signup("signup-done", &flow);

    // Rate limited (written here: the simulator does not limit sign-ups).
    let mut flow = signup_at_form(s, t(5));
    flow.submit(form("limited@example.com"), t(5)).sent();
    let step = flow.handle_response(&too_many(30), t(5));
    assert!(matches!(step, Ok(SignUpStep::RetryAt(_))), "{step:?}");
    album.signup("signup-rate-limited", &flow);
}

fn staff_scenarios(album: &mut Album) {
    let mut server = sim_server(SimConfig::default());
    let s = &mut server;

    let mut flow = StaffSignIn::new(endpoint());
    album.staff("staff-credentials", &flow);
    let request = flow.sign_in("staff@example.com", "wrong-Passw0rd", t(0));
    album.staff("staff-awaiting-sign-in", &flow);
    let step = exchange(s, request, t(0), |r, now| flow.handle_response(r, now));
    assert!(
        matches!(step, StaffStep::Credentials { rejected: Some(_) }),
        "{step:?}"
    );
    album.staff("staff-credentials-rejected", &flow);
    let request = flow.sign_in("staff@example.com", PASSWORD, t(1));
    let step = exchange(s, request, t(1), |r, now| flow.handle_response(r, now));
    assert!(matches!(step, StaffStep::EmailCode { .. }), "{step:?}");
    album.staff("staff-email-code", &flow);
    let request = flow.submit_code("000000x", t(2));
    album.staff("staff-awaiting-confirm", &flow);
    let step = exchange(s, request, t(2), |r, now| flow.handle_response(r, now));
    assert!(
        matches!(
            step,
            StaffStep::EmailCode {
                rejected: Some(_),
                ..
            }
        ),
        "{step:?}"
    );
    album.staff("staff-email-code-rejected", &flow);
    let code = s
        .last_code_to("staff@example.com")
        .expect("emailed")
        .to_owned();
    let request = flow.submit_code(code, t(3));
    let step = exchange(s, request, t(3), |r, now| flow.handle_response(r, now));
    assert!(matches!(step, StaffStep::Done(_)), "{step:?}");
    album.staff("staff-done", &flow);

    // Rate limited: five sign-ins from five flows, and the sixth is answered 429.
    for i in 0..5 {
        let mut flow = StaffSignIn::new(endpoint());
        let request = flow.sign_in("limited-staff@example.com", "wrong", t(10 + i));
        let _ = exchange(s, request, t(10 + i), |r, now| flow.handle_response(r, now));
    }
    let mut flow = StaffSignIn::new(endpoint());
    let request = flow.sign_in("limited-staff@example.com", PASSWORD, t(15));
    let step = exchange(s, request, t(15), |r, now| flow.handle_response(r, now));
    assert!(matches!(step, StaffStep::RetryAt(_)), "{step:?}");
    album.staff("staff-rate-limited", &flow);
}

fn session_scenarios(album: &mut Album) {
    let mut server = sim_server(SimConfig::default());
    let s = &mut server;
    let sign_in = |s: &mut Server, now| {
        let mut flow = signin_at_credentials(s, endpoint(), now);
        let request = flow.submit_credentials(creds("plain@example.com", PASSWORD), now);
        match exchange(s, request, now, |r, now| flow.handle_response(r, now)) {
            SignInStep::Done(tokens) => tokens,
            other => panic!("{other:?}"),
        }
    };

    let mut session = Session::client(endpoint(), sign_in(s, t(0)));
    album.session("session-active", &session);
    let mut copy = session.clone();
    let request = session.refresh(t(60));
    album.session("session-awaiting-refresh", &session);
    let step = exchange(s, request, t(60), |r, now| session.handle_response(r, now));
    assert_eq!(step, SessionStep::Active);
    let request = session.sign_out(t(61));
    album.session("session-awaiting-sign-out", &session);
    let step = exchange(s, request, t(61), |r, now| session.handle_response(r, now));
    assert_eq!(
        step,
        SessionStep::SignedOut {
            already_revoked: false
        }
    );
    album.session("session-signed-out", &session);

    // The copy's refresh token was revoked by the refresh above.
    let step = exchange(s, copy.refresh(t(62)), t(62), |r, now| {
        copy.handle_response(r, now)
    });
    assert_eq!(step, SessionStep::Ended);
    album.session("session-ended", &copy);

    // Rate limited (written here: the session's own guard keeps to the simulator's limit).
    let mut session = Session::client(endpoint(), sign_in(s, t(63)));
    session.refresh(t(64)).sent();
    let step = session.handle_response(&too_many(30), t(64));
    assert!(matches!(step, Ok(SessionStep::RetryAt(_))), "{step:?}");
    album.session("session-rate-limited", &session);

    // A Back Office session with its own leeway.
    let mut flow = StaffSignIn::new(endpoint());
    let request = flow.sign_in("plain-staff@example.com", PASSWORD, t(65));
    let tokens = match exchange(s, request, t(65), |r, now| flow.handle_response(r, now)) {
        StaffStep::Done(tokens) => tokens,
        other => panic!("{other:?}"),
    };
    let session = Session::back_office(endpoint(), tokens).with_leeway(Duration::from_secs(90));
    album.session("session-backoffice-active", &session);
}

/// Every flow and the session at every reachable step, by fixture name.
fn scenarios() -> Vec<(&'static str, Parked)> {
    let mut album = Album::default();
    signin_scenarios(&mut album);
    signup_scenarios(&mut album);
    staff_scenarios(&mut album);
    session_scenarios(&mut album);
    album.0
}

/// The format a parked JSON is in: its `format`, or 1 without one.
fn format_of(json: &str) -> u64 {
    let value: Value = serde_json::from_str(json).expect("JSON");
    value
        .get("format")
        .map_or(1, |f| f.as_u64().expect("a number"))
}

/// Writes every scenario's parked JSON to `tests/fixtures/parked/v<current format>/`,
/// never over a file that exists: the fixtures of a format are written once, while it is
/// the current one, and stay as they were (they are what older deploys parked).
///
/// `cargo test --all-features --test parking -- --ignored write_fixtures`
#[test]
#[ignore = "writes fixture files: run once per format, before the format changes"]
fn write_fixtures_of_the_current_format() {
    let mut written = 0;
    for (name, parked) in scenarios() {
        let json = parked.to_json();
        let dir = fixtures_dir().join(format!("v{}", format_of(&json)));
        std::fs::create_dir_all(&dir).expect("a fixtures folder");
        let path = dir.join(format!("{name}.json"));
        if path.exists() {
            continue;
        }
        std::fs::write(&path, json).expect("written");
        written += 1;
    }
    eprintln!("{written} fixture files written");
}

// ---------------------------------------------------------------------------------------
// Reading the fixtures of earlier formats

/// The names of the fixture files of format `n`, sorted.
fn fixture_names(n: u64) -> Vec<String> {
    let dir = fixtures_dir().join(format!("v{n}"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            entry
                .expect("an entry")
                .file_name()
                .into_string()
                .expect("UTF-8")
        })
        .filter_map(|name| name.strip_suffix(".json").map(str::to_owned))
        .collect();
    names.sort();
    names
}

fn fixture(n: u64, name: &str) -> String {
    let path = fixtures_dir().join(format!("v{n}/{name}.json"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The first `uuid` anywhere in a parked JSON (the wizard's, for written answers).
fn find_uuid(value: &Value) -> Option<String> {
    match value {
        Value::Object(map) => map
            .get("uuid")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| map.values().find_map(find_uuid)),
        Value::Array(items) => items.iter().find_map(find_uuid),
        _ => None,
    }
}

/// Parks `flow` again: the current format, and it reads back equal.
fn parks_again<F>(flow: &F) -> Value
where
    F: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let json = serde_json::to_string(flow).expect("a flow always serializes");
    assert!(
        json.starts_with(r#"{"format":2,""#),
        "parked in the current format, first: {json}"
    );
    let value: Value = serde_json::from_str(&json).expect("JSON");
    let back: F = serde_json::from_str(&json).expect("a parked flow resumes");
    assert_eq!(&back, flow, "a parked flow resumes equal");
    value
}

/// Reads a fixture of an earlier format as `F`, and checks that nothing was lost: parked
/// again, it is the same JSON with the current `format` in front.
fn resume<F>(n: u64, name: &str) -> F
where
    F: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let text = fixture(n, name);
    let flow: F = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut expected: Value = serde_json::from_str(&text).expect("JSON");
    if let Value::Object(map) = &mut expected {
        map.insert("format".into(), json!(2));
    }
    assert_eq!(parks_again(&flow), expected, "{name} lost something");
    flow
}

/// A token pair answer, made at `T0 + secs`.
fn pair(secs: u64) -> Response<Vec<u8>> {
    answer(
        200,
        &pair_json("next.access.token", "next.refresh.token", secs),
    )
}

/// One resumed fixture: the step it was parked at, one more call or answer, and the state
/// that leads to.
struct Resumed<'a, F> {
    name: &'a str,
    flow: F,
    /// The wizard's uuid in the fixture, if any.
    uuid: String,
}

impl<'a, F> Resumed<'a, F>
where
    F: Flow + serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug + Clone,
{
    fn new(n: u64, name: &'a str) -> Self {
        let value: Value = serde_json::from_str(&fixture(n, name)).expect("JSON");
        Self {
            name,
            flow: resume(n, name),
            uuid: find_uuid(&value).unwrap_or_default(),
        }
    }

    /// A call or answer that must succeed.
    fn then<T, E: std::fmt::Debug>(&mut self, step: impl FnOnce(&mut F, &str) -> Result<T, E>) {
        let uuid = self.uuid.clone();
        if let Err(e) = step(&mut self.flow, &uuid) {
            panic!("{}: the next step failed: {e:?}", self.name);
        }
        parks_again(&self.flow);
    }

    /// A fixture parked while it waited out a rate limit until `at` (its `RetryAt` step):
    /// it still waits, the same way whatever the cause; a `retry` before `at` is the same
    /// wait and changes nothing (parked again, the same JSON); the `retry` at `at` sends
    /// the request it held, byte for byte the one a flow awaiting that request resends.
    /// Returns `at`.
    #[track_caller]
    fn waits(&mut self, n: u64, at: Option<SystemTime>) -> SystemTime {
        let name = self.name;
        let at = at.unwrap_or_else(|| panic!("{name}: parked without its RetryAt step"));
        assert_eq!(self.flow.next_deadline(), Some(at), "{name}");
        assert!(!self.flow.is_awaiting_response(), "{name}");
        let before = self.flow.clone();
        let parked = parks_again(&self.flow);
        for early in [at - Duration::from_secs(1), at - Duration::from_nanos(1)] {
            assert_eq!(self.flow.retry(early).held(), at, "{name}");
            assert_eq!(self.flow, before, "{name}");
            assert_eq!(parks_again(&self.flow), parked, "{name}");
        }
        let held = self.flow.retry(at).sent();
        assert!(self.flow.is_awaiting_response(), "{name}");
        assert_eq!(self.flow.next_deadline(), None, "{name}");
        parks_again(&self.flow);
        let mut awaiting: F = awaiting_twin(&fixture(n, name));
        let resent = awaiting.retry(at).sent();
        assert_eq!(
            (held.method(), held.uri(), held.headers(), held.body()),
            (
                resent.method(),
                resent.uri(),
                resent.headers(),
                resent.body()
            ),
            "{name}: the held request"
        );
        at
    }

    /// A call that must be refused, leaving the flow as it was (a finished flow).
    fn refuses<T: std::fmt::Debug, E>(&mut self, step: impl FnOnce(&mut F) -> Result<T, E>) {
        let before = self.flow.clone();
        if let Ok(t) = step(&mut self.flow) {
            panic!("{}: a finished flow went on: {t:?}", self.name);
        }
        assert_eq!(self.flow, before, "{}", self.name);
        parks_again(&self.flow);
    }
}

/// The flow a parked JSON that waits out a rate limit holds, parked instead while it awaits
/// the answer to the request it holds (`"phase": {"At": resume}`).
fn awaiting_twin<F: serde::de::DeserializeOwned>(json: &str) -> F {
    let mut parked: Value = serde_json::from_str(json).expect("JSON");
    let resume = parked
        .pointer("/driver/phase/Waiting/resume")
        .expect("a rate-limited flow")
        .clone();
    parked["driver"]["phase"] = json!({ "At": resume });
    serde_json::from_value(parked).expect("the awaiting twin reads")
}

fn login_answer(uuid: &str) -> Response<Vec<u8>> {
    let data = json!({"recaptcha": {"enabled": false}, "is_qr_available": false});
    envelope(200, 200, data, uuid, "login")
}

fn terminate_answer(uuid: &str) -> Response<Vec<u8>> {
    envelope(
        202,
        202,
        pair_json("next.access.token", "next.refresh.token", 100),
        uuid,
        "Terminate",
    )
}

/// Resumes a sign-in fixture of format `n` and drives it one step; the state it was
/// parked at and the state after. `None` for a name that is not a sign-in fixture.
fn signin_goes_on(n: u64, name: &str) -> Option<(&'static str, &'static str)> {
    use SignInStep as S;
    let mut r = Resumed::<SignIn>::new(n, name);
    let (state, step) = (r.flow.state(), r.flow.current_step());
    let ok = match name {
        "signin-new" | "signin-new-custom-endpoint" => {
            r.then(|f, _| f.start(t(100)));
            step.is_none()
        }
        "signin-awaiting-wizard" => {
            r.then(|f, _| f.handle_response(&login_answer("u-resumed"), t(100)));
            step.is_none()
        }
        "signin-credentials" | "signin-credentials-rejected" | "signin-credentials-deviations" => {
            let rejected = name == "signin-credentials-rejected";
            let email = r.flow.last_email().map(str::to_owned);
            assert_eq!(email.is_some(), rejected, "{name}: {email:?}");
            r.then(|f, _| f.submit_credentials(creds("plain@example.com", PASSWORD), t(100)));
            matches!(&step, Some(S::Credentials { rejected: r, .. }) if r.is_some() == rejected)
        }
        "signin-awaiting-credentials"
        | "signin-awaiting-credentials-recaptcha"
        | "signin-awaiting-code" => {
            r.then(|f, uuid| f.handle_response(&terminate_answer(uuid), t(100)));
            step.is_none()
        }
        "signin-done" => {
            r.refuses(|f| f.start(t(100)));
            step.is_none()
        }
        "signin-code" | "signin-code-rejected" | "signin-code-sms" => {
            let method = if name == "signin-code-sms" {
                Method::Sms
            } else {
                Method::Google
            };
            let rejected = name == "signin-code-rejected";
            r.then(|f, _| f.submit_code("123456", t(100)));
            matches!(&step, Some(S::Code { method: m, rejected: r }) if *m == method && r.is_some() == rejected)
        }
        "signin-choose-method" => {
            r.then(|f, _| f.choose_method(Method::Google, t(100)));
            matches!(&step, Some(S::ChooseMethod { methods, rejected: None }) if *methods == [Method::Google, Method::Sms])
        }
        "signin-awaiting-method" => {
            r.then(|f, uuid| {
                f.handle_response(
                    &envelope(200, 200, Value::Null, uuid, "2fa_sms_auth"),
                    t(100),
                )
            });
            step.is_none()
        }
        "signin-reset-required" => {
            r.then(|f, _| f.request_reset_code(t(100)));
            matches!(&step, Some(S::PasswordResetRequired { rejected: None }))
        }
        "signin-awaiting-restore" => {
            r.then(|f, uuid| {
                f.handle_response(
                    &envelope(200, 200, Value::Null, uuid, "reset_password_code"),
                    t(100),
                )
            });
            step.is_none()
        }
        "signin-reset-code" => {
            r.then(|f, _| f.reset_password("123456", NEW_PASSWORD, t(100)));
            matches!(&step, Some(S::ResetCode { rejected: None }))
        }
        "signin-awaiting-reset" => {
            r.then(|f, uuid| {
                f.handle_response(&envelope(200, 200, Value::Null, uuid, "login"), t(100))
            });
            step.is_none()
        }
        "signin-password-changed" => {
            r.then(|f, _| f.start(t(100)));
            step == Some(S::PasswordChanged)
        }
        "signin-rate-limited" => {
            assert_eq!(state, SignInState::RateLimited);
            let at = r.waits(
                n,
                step.as_ref().and_then(|s| match s {
                    S::RetryAt(at) => Some(*at),
                    _ => None,
                }),
            );
            at == t(15 + 600)
        }
        "signin-unsupported" => {
            r.then(|f, _| f.start(t(100)));
            matches!(&step, Some(S::Unsupported { workflow, .. }) if workflow == "confirm_device")
        }
        _ => return None,
    };
    assert!(ok, "{name}: parked at {state:?}, resumed at {step:?}");
    if name == "signin-credentials-deviations" {
        assert_eq!(r.flow.deviations().len(), 2, "{name}");
    }
    if name == "signin-new-custom-endpoint" {
        assert!(r.flow.endpoint().is_strict());
        assert_eq!(r.flow.endpoint().as_str(), "https://host.name/b2core");
    }
    Some((state.as_str(), r.flow.state().as_str()))
}

fn signup_goes_on(n: u64, name: &str) -> Option<(&'static str, &'static str)> {
    use SignUpStep as S;
    let mut r = Resumed::<SignUp>::new(n, name);
    let (state, step) = (r.flow.state(), r.flow.current_step());
    let ok = match name {
        "signup-new" => {
            r.then(|f, _| f.start(SIGN_UP_URL, None, t(100)));
            step.is_none()
        }
        "signup-awaiting-wizard" => {
            let data = json!({"fields": {}});
            r.then(|f, _| {
                f.handle_response(
                    &envelope(202, 202, data, "u-resumed", "basic_register_form"),
                    t(100),
                )
            });
            step.is_none()
        }
        "signup-form" | "signup-form-rejected" => {
            let rejected = name == "signup-form-rejected";
            assert_eq!(r.flow.last_email().is_some(), rejected, "{name}");
            r.then(|f, _| f.submit(form("resumed@example.com"), t(100)));
            matches!(&step, Some(S::Form { rejected: r, .. }) if r.is_some() == rejected)
        }
        "signup-awaiting" => {
            r.then(|f, uuid| {
                f.handle_response(&envelope(202, 202, json!({}), uuid, "login"), t(100))
            });
            step.is_none()
        }
        "signup-sign-in-required" => {
            r.refuses(|f| f.start(SIGN_UP_URL, None, t(100)));
            step == Some(S::SignInRequired)
        }
        "signup-done" => {
            r.refuses(|f| f.start(SIGN_UP_URL, None, t(100)));
            step.is_none()
        }
        "signup-next" => {
            r.then(|f, _| f.start(SIGN_UP_URL, None, t(100)));
            matches!(&step, Some(S::Next { workflow, .. }) if workflow == "confirm_email")
        }
        "signup-rate-limited" => {
            assert_eq!(state, SignUpState::RateLimited);
            let at = r.waits(
                n,
                step.as_ref().and_then(|s| match s {
                    S::RetryAt(at) => Some(*at),
                    _ => None,
                }),
            );
            at == t(5 + 30)
        }
        _ => return None,
    };
    assert!(ok, "{name}: parked at {state:?}, resumed at {step:?}");
    Some((state.as_str(), r.flow.state().as_str()))
}

fn staff_goes_on(n: u64, name: &str) -> Option<(&'static str, &'static str)> {
    use StaffStep as S;
    let mut r = Resumed::<StaffSignIn>::new(n, name);
    let (state, step) = (r.flow.state(), r.flow.current_step());
    let ok = match name {
        "staff-credentials" | "staff-credentials-rejected" => {
            let rejected = name == "staff-credentials-rejected";
            assert_eq!(r.flow.last_email().is_some(), rejected, "{name}");
            r.then(|f, _| f.sign_in("staff@example.com", PASSWORD, t(100)));
            matches!(&step, Some(S::Credentials { rejected: r }) if r.is_some() == rejected)
        }
        "staff-awaiting-sign-in" => {
            let refused = answer(
                400,
                &json!({"error": {"code": 400, "details": [{"issue": "no"}]}}),
            );
            r.then(|f, _| f.handle_response(&refused, t(100)));
            step.is_none()
        }
        "staff-email-code" | "staff-email-code-rejected" => {
            let rejected = name == "staff-email-code-rejected";
            r.then(|f, _| f.submit_code("123456", t(100)));
            matches!(&step, Some(S::EmailCode { provider, rejected: r, .. }) if provider == "email" && r.is_some() == rejected)
        }
        "staff-awaiting-confirm" => {
            r.then(|f, _| f.handle_response(&pair(100), t(100)));
            step.is_none()
        }
        "staff-done" => {
            r.refuses(|f| f.sign_in("staff@example.com", PASSWORD, t(100)));
            step.is_none()
        }
        "staff-rate-limited" => {
            assert_eq!(state, StaffState::RateLimited);
            let at = r.waits(
                n,
                step.as_ref().and_then(|s| match s {
                    S::RetryAt(at) => Some(*at),
                    _ => None,
                }),
            );
            at > t(15)
        }
        _ => return None,
    };
    assert!(ok, "{name}: parked at {state:?}, resumed at {step:?}");
    Some((state.as_str(), r.flow.state().as_str()))
}

fn session_goes_on(n: u64, name: &str) -> Option<(&'static str, &'static str)> {
    use SessionStep as S;
    let mut r = Resumed::<Session>::new(n, name);
    let (state, step) = (r.flow.state(), r.flow.current_step());
    let ok = match name {
        "session-active" => {
            r.then(|s, _| s.refresh(t(100)));
            step == Some(S::Active)
        }
        "session-backoffice-active" => {
            assert_eq!(r.flow.realm(), b2core_auth::Realm::BackOffice);
            assert_eq!(r.flow.leeway(), Duration::from_secs(90));
            r.then(|s, _| s.sign_out(t(100)));
            step == Some(S::Active)
        }
        "session-awaiting-refresh" => {
            r.then(|s, _| s.handle_response(&pair(100), t(100)));
            step.is_none()
        }
        "session-awaiting-sign-out" => {
            r.then(|s, _| s.handle_response(&answer(200, &json!({})), t(100)));
            step.is_none()
        }
        "session-signed-out" => {
            r.refuses(|s| s.sign_out(t(100)));
            step == Some(S::SignedOut {
                already_revoked: false,
            })
        }
        "session-ended" => {
            r.refuses(|s| s.refresh(t(100)));
            step == Some(S::Ended)
        }
        "session-rate-limited" => {
            assert_eq!(state, SessionState::RateLimited);
            let at = r.waits(
                n,
                step.as_ref().and_then(|s| match s {
                    S::RetryAt(at) => Some(*at),
                    _ => None,
                }),
            );
            at == t(64 + 30)
        }
        _ => return None,
    };
    assert!(ok, "{name}: parked at {state:?}, resumed at {step:?}");
    Some((state.as_str(), r.flow.state().as_str()))
}

/// Every fixture of format `n`: resumed at its step, one step further, parked again.
/// Returns, by name, the state it was parked at and the state one step later.
fn every_fixture_goes_on(n: u64) -> Vec<(String, &'static str, &'static str)> {
    fixture_names(n)
        .into_iter()
        .map(|name| {
            let states = match name.split('-').next() {
                Some("signin") => signin_goes_on(n, &name),
                Some("signup") => signup_goes_on(n, &name),
                Some("staff") => staff_goes_on(n, &name),
                Some("session") => session_goes_on(n, &name),
                _ => None,
            };
            let (parked, next) = states.unwrap_or_else(|| panic!("no expectation for {name}"));
            (name, parked, next)
        })
        .collect()
}

#[test]
fn every_v1_fixture_resumes_at_its_step_and_goes_one_step_further() {
    fixtures_go_on_as_expected(1);
}

/// Format 2 was current when its fixtures were written: they are what this version
/// parked, and the next format must read them.
#[test]
fn every_v2_fixture_resumes_at_its_step_and_goes_one_step_further() {
    fixtures_go_on_as_expected(2);
}

/// Every fixture of format `n`, one per scenario: the step it was parked at and the
/// step after one more call or answer, as expected.
fn fixtures_go_on_as_expected(n: u64) {
    let states = every_fixture_goes_on(n);
    let mut names: Vec<&str> = scenarios().iter().map(|(name, _)| *name).collect();
    names.sort_unstable();
    let fixtures: Vec<&str> = states.iter().map(|(name, ..)| name.as_str()).collect();
    assert_eq!(fixtures, names, "one v{n} fixture per scenario");
    let shown: Vec<String> = states
        .iter()
        .map(|(name, parked, next)| format!("{name}: {parked} -> {next}"))
        .collect();
    let expected = [
        "session-active: active -> waiting for the refresh answer",
        "session-awaiting-refresh: waiting for the refresh answer -> active",
        "session-awaiting-sign-out: waiting for the sign-out answer -> signed out",
        "session-backoffice-active: active -> waiting for the sign-out answer",
        "session-ended: ended -> ended",
        "session-rate-limited: rate limited -> waiting for the refresh answer",
        "session-signed-out: signed out -> signed out",
        "signin-awaiting-code: waiting for the code answer -> signed in",
        "signin-awaiting-credentials: waiting for the credentials answer -> signed in",
        "signin-awaiting-credentials-recaptcha: waiting for the credentials answer -> signed in",
        "signin-awaiting-method: waiting for the method answer -> asking for a 2FA code",
        "signin-awaiting-reset: waiting for the password reset answer -> done with the password reset",
        "signin-awaiting-restore: waiting for the reset code to be sent -> asking for the reset code and a new password",
        "signin-awaiting-wizard: waiting for the wizard -> asking for credentials",
        "signin-choose-method: asking for a 2FA method -> waiting for the method answer",
        "signin-code: asking for a 2FA code -> waiting for the code answer",
        "signin-code-rejected: asking for a 2FA code -> waiting for the code answer",
        "signin-code-sms: asking for a 2FA code -> waiting for the code answer",
        "signin-credentials: asking for credentials -> waiting for the credentials answer",
        "signin-credentials-deviations: asking for credentials -> waiting for the credentials answer",
        "signin-credentials-rejected: asking for credentials -> waiting for the credentials answer",
        "signin-done: signed in -> signed in",
        "signin-new: not started -> waiting for the wizard",
        "signin-new-custom-endpoint: not started -> waiting for the wizard",
        "signin-password-changed: done with the password reset -> waiting for the wizard",
        "signin-rate-limited: rate limited -> waiting for the credentials answer",
        "signin-reset-code: asking for the reset code and a new password -> waiting for the password reset answer",
        "signin-reset-required: asking to reset the password -> waiting for the reset code to be sent",
        "signin-unsupported: stopped at an unsupported workflow -> waiting for the wizard",
        "signup-awaiting: waiting for the sign-up answer -> signed up, sign-in required",
        "signup-awaiting-wizard: waiting for the wizard -> asking for the registration form",
        "signup-done: signed up -> signed up",
        "signup-form: asking for the registration form -> waiting for the sign-up answer",
        "signup-form-rejected: asking for the registration form -> waiting for the sign-up answer",
        "signup-new: not started -> waiting for the wizard",
        "signup-next: stopped at a step this crate does not drive -> waiting for the wizard",
        "signup-rate-limited: rate limited -> waiting for the sign-up answer",
        "signup-sign-in-required: signed up, sign-in required -> signed up, sign-in required",
        "staff-awaiting-confirm: waiting for the 2FA confirmation answer -> signed in",
        "staff-awaiting-sign-in: waiting for the sign-in answer -> asking for credentials",
        "staff-credentials: asking for credentials -> waiting for the sign-in answer",
        "staff-credentials-rejected: asking for credentials -> waiting for the sign-in answer",
        "staff-done: signed in -> signed in",
        "staff-email-code: asking for the emailed 2FA code -> waiting for the 2FA confirmation answer",
        "staff-email-code-rejected: asking for the emailed 2FA code -> waiting for the 2FA confirmation answer",
        "staff-rate-limited: rate limited -> waiting for the sign-in answer",
    ];
    assert_eq!(shown, expected);
}

/// Every scenario parks in the current format and resumes equal (the writer's own
/// output reads back).
#[test]
fn every_scenario_parks_in_the_current_format_and_resumes_equal() {
    for (name, parked) in scenarios() {
        let json = parked.to_json();
        assert_eq!(format_of(&json), 2, "{name}");
        let back = match &parked {
            Parked::SignIn(_) => serde_json::from_str(&json).map(Parked::SignIn),
            Parked::SignUp(_) => serde_json::from_str(&json).map(Parked::SignUp),
            Parked::Staff(_) => serde_json::from_str(&json).map(Parked::Staff),
            Parked::Session(_) => serde_json::from_str(&json).map(Parked::Session),
        };
        assert_eq!(back.expect(name), parked, "{name}");
    }
}

// ---------------------------------------------------------------------------------------
// Parked while the attempt guard holds an attempt

/// `flow` with the attempt guard at `pointer` replaced by `guard` (a counter that has
/// seen nothing): the same flow, as one with another history of attempts would be.
fn with_guard_at<F>(flow: &F, pointer: &str, guard: AttemptGuard) -> F
where
    F: serde::Serialize + serde::de::DeserializeOwned,
{
    let mut parked = serde_json::to_value(flow).expect("a flow always serializes");
    *parked.pointer_mut(pointer).expect("a guard") = serde_json::to_value(guard).expect("JSON");
    serde_json::from_value(parked).expect("reads back")
}

/// `held` holds an attempt its guard refused until `until` (nothing was sent); `limited`
/// is its twin with a fresh guard, which sent the same attempt and was answered 429 until
/// the same instant. Both park the same wait (the same `phase`). `held`, parked and read
/// back, still holds the attempt: equal to what was parked, `limited_state` with the
/// step and deadline of its twin; a `retry` before `until` is the same wait and changes
/// nothing. Returns the resumed flow, whose `retry` at `until` is for the caller.
fn parked_holding<F>(held: &F, limited: &F, until: SystemTime, limited_state: F::State) -> F
where
    F: Flow + serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug + Clone,
    F::Step: PartialEq + std::fmt::Debug,
{
    let parked = parks_again(held);
    assert!(
        parked.pointer("/driver/phase/Waiting/resume").is_some(),
        "{parked}"
    );
    assert_eq!(
        parked.pointer("/driver/phase/Waiting/retry_at"),
        Some(&serde_json::to_value(until).expect("JSON"))
    );
    assert_eq!(
        parked["driver"]["phase"],
        parks_again(limited)["driver"]["phase"],
        "the guard's wait and the 429's park the same"
    );
    let text = serde_json::to_string(held).expect("a flow always serializes");
    let mut resumed: F = serde_json::from_str(&text).expect("a held flow resumes");
    assert_eq!(&resumed, held);
    assert_eq!(resumed.state(), limited_state);
    assert_eq!(resumed.state(), limited.state());
    assert_eq!(resumed.current_step(), limited.current_step());
    assert_eq!(resumed.next_deadline(), Some(until));
    assert_eq!(limited.next_deadline(), Some(until));
    assert!(!resumed.is_awaiting_response());
    let before = resumed.clone();
    assert_eq!(resumed.retry(until - Duration::from_secs(1)).held(), until);
    assert_eq!(resumed, before);
    assert_eq!(parks_again(&resumed), parked);
    resumed
}

/// The held request, sent at last, is the attempt its twin sent: the same bytes.
fn assert_same_request(held: &Request<Vec<u8>>, sent: &Request<Vec<u8>>) {
    assert_eq!(
        (held.method(), held.uri(), held.headers(), held.body()),
        (sent.method(), sent.uri(), sent.headers(), sent.body())
    );
}

#[test]
fn a_flow_parked_while_its_guard_holds_an_attempt_resumes_and_sends_it() {
    let mut server = sim_server(SimConfig::default());
    let s = &mut server;

    // Client sign-in: five refused attempts, and the sixth is held until the first ages out.
    let mut flow = signin_at_credentials(s, endpoint(), t(0));
    for i in 0..5 {
        let request = flow.submit_credentials(creds("plain@example.com", "wrong"), t(i));
        let _ = exchange(s, request, t(i), |r, now| flow.handle_response(r, now));
    }
    let mut twin = with_guard_at(&flow, "/driver/guards", AttemptGuard::client_sign_in());
    let right = || creds("plain@example.com", PASSWORD);
    assert_eq!(flow.submit_credentials(right(), t(5)).held(), t(60));
    let sent = twin.submit_credentials(right(), t(5)).sent();
    let step = twin.handle_response(&too_many(55), t(5));
    assert_eq!(step, Ok(SignInStep::RetryAt(t(60))));
    let mut resumed = parked_holding(&flow, &twin, t(60), SignInState::RateLimited);
    let request = resumed.retry(t(60)).sent();
    assert_same_request(&request, &sent);
    let step = resumed.handle_response(&s.handle(&request, t(60)), t(60));
    assert!(matches!(step, Ok(SignInStep::Done(_))), "{step:?}");

    // Staff sign-in: the same for `sign_in`.
    let mut flow = StaffSignIn::new(endpoint());
    for i in 0..5 {
        let request = flow.sign_in("plain-staff@example.com", "wrong", t(i));
        let _ = exchange(s, request, t(i), |r, now| flow.handle_response(r, now));
    }
    let mut twin = with_guard_at(
        &flow,
        "/driver/guards/sign_in",
        AttemptGuard::staff_sign_in(),
    );
    assert_eq!(
        flow.sign_in("plain-staff@example.com", PASSWORD, t(5))
            .held(),
        t(60)
    );
    let sent = twin
        .sign_in("plain-staff@example.com", PASSWORD, t(5))
        .sent();
    let step = twin.handle_response(&too_many(55), t(5));
    assert_eq!(step, Ok(StaffStep::RetryAt(t(60))));
    let mut resumed = parked_holding(&flow, &twin, t(60), StaffState::RateLimited);
    let request = resumed.retry(t(60)).sent();
    assert_same_request(&request, &sent);
    let step = resumed.handle_response(&s.handle(&request, t(60)), t(60));
    assert!(matches!(step, Ok(StaffStep::Done(_))), "{step:?}");

    // Staff sign-in: three refused codes, and the fourth is held.
    let mut flow = StaffSignIn::new(endpoint());
    let request = flow.sign_in("staff@example.com", PASSWORD, t(0));
    let step = exchange(s, request, t(0), |r, now| flow.handle_response(r, now));
    assert!(matches!(step, StaffStep::EmailCode { .. }), "{step:?}");
    for i in 1..4 {
        let request = flow.submit_code("000000x", t(i));
        let _ = exchange(s, request, t(i), |r, now| flow.handle_response(r, now));
    }
    let code = s
        .last_code_to("staff@example.com")
        .expect("emailed")
        .to_owned();
    let mut twin = with_guard_at(
        &flow,
        "/driver/guards/confirm",
        AttemptGuard::staff_confirm(),
    );
    assert_eq!(flow.submit_code(code.as_str(), t(4)).held(), t(61));
    let sent = twin.submit_code(code.as_str(), t(4)).sent();
    let step = twin.handle_response(&too_many(57), t(4));
    assert_eq!(step, Ok(StaffStep::RetryAt(t(61))));
    let mut resumed = parked_holding(&flow, &twin, t(61), StaffState::RateLimited);
    let request = resumed.retry(t(61)).sent();
    assert_same_request(&request, &sent);
    let step = resumed.handle_response(&s.handle(&request, t(61)), t(61));
    assert!(matches!(step, Ok(StaffStep::Done(_))), "{step:?}");

    // Session: five refreshes, and the sixth is held.
    let mut server = sim_server(SimConfig::default());
    let s = &mut server;
    let mut flow = signin_at_credentials(s, endpoint(), t(0));
    let request = flow.submit_credentials(creds("plain@example.com", PASSWORD), t(0));
    let SignInStep::Done(tokens) =
        exchange(s, request, t(0), |r, now| flow.handle_response(r, now))
    else {
        panic!("signed in")
    };
    let mut session = Session::client(endpoint(), tokens);
    for i in 1..6 {
        let request = session.refresh(t(i));
        let step = exchange(s, request, t(i), |r, now| session.handle_response(r, now));
        assert_eq!(step, SessionStep::Active);
    }
    let mut twin = with_guard_at(&session, "/driver/guards", AttemptGuard::refresh());
    assert_eq!(session.refresh(t(6)).held(), t(61));
    let sent = twin.refresh(t(6)).sent();
    let step = twin.handle_response(&too_many(55), t(6));
    assert_eq!(step, Ok(SessionStep::RetryAt(t(61))));
    let mut resumed = parked_holding(&session, &twin, t(61), SessionState::RateLimited);
    // The access token serves while the refresh is held, parked or not.
    let api = Request::get("https://host.name/api/v2/my/accounts")
        .body(())
        .expect("valid");
    assert!(matches!(
        resumed.authorize(api, t(30)),
        Ok(b2core_auth::Authorized::Ready(_))
    ));
    let request = resumed.retry(t(61)).sent();
    assert_same_request(&request, &sent);
    let step = resumed.handle_response(&s.handle(&request, t(61)), t(61));
    assert_eq!(step, Ok(SessionStep::Active));
    assert!(s.violations().is_empty(), "{:?}", s.violations());
}

// ---------------------------------------------------------------------------------------
// The format version

/// `json` with its top-level `format` set (or removed, for `None`), as the first member.
fn with_format(json: &str, format: Option<Value>) -> String {
    let Value::Object(old) = serde_json::from_str(json).expect("JSON") else {
        panic!("an object")
    };
    let mut map = serde_json::Map::new();
    if let Some(format) = format {
        map.insert("format".into(), format);
    }
    map.extend(old.into_iter().filter(|(key, _)| key != "format"));
    serde_json::to_string(&Value::Object(map)).expect("JSON")
}

/// The error reading `json` as each of the four kinds, or `None` where one reads it.
fn read_errors(json: &str) -> [Option<String>; 4] {
    [
        serde_json::from_str::<SignIn>(json)
            .err()
            .map(|e| e.to_string()),
        serde_json::from_str::<SignUp>(json)
            .err()
            .map(|e| e.to_string()),
        serde_json::from_str::<StaffSignIn>(json)
            .err()
            .map(|e| e.to_string()),
        serde_json::from_str::<Session>(json)
            .err()
            .map(|e| e.to_string()),
    ]
}

#[test]
fn formats_1_and_2_are_read_with_or_without_the_member() {
    for name in [
        "signin-awaiting-code",
        "signup-form",
        "staff-email-code",
        "session-active",
    ] {
        let v1 = fixture(1, name);
        for format in [None, Some(json!(1)), Some(json!(2))] {
            let json = with_format(&v1, format.clone());
            let read = read_errors(&json).iter().filter(|e| e.is_none()).count();
            assert_eq!(
                read, 1,
                "{name} with format {format:?} reads as its own kind only"
            );
        }
    }
}

#[test]
fn a_newer_or_unknown_format_is_refused_with_a_clear_error() {
    let v1 = fixture(1, "signin-awaiting-code");
    for (format, says) in [
        (
            json!(3),
            "parked format 3 is not one this version of b2core-auth reads (1 to 2)",
        ),
        (
            json!(0),
            "parked format 0 is not one this version of b2core-auth reads (1 to 2)",
        ),
        (
            json!(u64::MAX),
            "parked format 18446744073709551615 is not one",
        ),
        (json!(-1), "`format` is a whole number (1 to 2)"),
        (json!(2.0), "`format` is a whole number (1 to 2)"),
        (json!("2"), "`format` is a whole number (1 to 2)"),
        (Value::Null, "`format` is a whole number (1 to 2)"),
        (json!({"version": 2}), "`format` is a whole number (1 to 2)"),
    ] {
        let json = with_format(&v1, Some(format.clone()));
        for error in read_errors(&json) {
            let error = error.unwrap_or_else(|| panic!("format {format} was read"));
            assert!(error.contains(says), "format {format}: {error}");
        }
    }
}

/// A store may reorder the members (a database's JSON type sorts them): the format is
/// still checked first, and a known one still reads.
#[test]
fn the_format_is_checked_wherever_it_stands() {
    let v1 = fixture(1, "session-active");
    for format in [2, 3] {
        // The fixture's own members, then `format`.
        let members = v1.trim_end().strip_suffix('}').expect("an object");
        let json = format!(r#"{members}, "format": {format}}}"#);
        assert_eq!(
            serde_json::from_str::<Value>(&json).expect("JSON")["format"],
            format
        );
        let read = serde_json::from_str::<Session>(&json);
        match format {
            2 => assert_eq!(
                read.expect("format 2, last"),
                serde_json::from_str(&v1).expect("v1")
            ),
            _ => assert!(
                read.as_ref()
                    .is_err_and(|e| e.to_string().contains("parked format 3 is not")),
                "{read:?}"
            ),
        }
    }
    // A newer format whose members this version would not even recognize: still the
    // format is the error, not the members.
    for json in [
        r#"{"format":3,"state":{"Whatever":{}}}"#,
        r#"{"state":{"Whatever":{}},"format":3}"#,
    ] {
        for error in read_errors(json) {
            let error = error.expect("refused");
            assert!(error.contains("parked format 3 is not"), "{json}: {error}");
        }
    }
}

#[test]
fn a_second_format_member_is_refused() {
    let v1 = fixture(1, "staff-credentials");
    let json = with_format(&v1, Some(json!(2)));
    let twice = format!(r#"{{"format":2,{}"#, &json[1..]);
    let error = serde_json::from_str::<StaffSignIn>(&twice).expect_err("refused");
    assert!(
        error.to_string().contains("duplicate field `format`"),
        "{error}"
    );
    // And when the object is read whole (its first member is not `format`).
    let members = v1.trim_end().strip_suffix('}').expect("an object");
    let twice = format!(r#"{members}, "format": 2, "format": 2}}"#);
    let error = serde_json::from_str::<StaffSignIn>(&twice).expect_err("refused");
    assert!(error.to_string().contains("a member twice"), "{error}");
}

#[test]
fn what_is_not_an_object_is_refused() {
    for json in [
        "null",
        "[]",
        "[2]",
        "2",
        r#""format""#,
        "{}",
        r#"{"format":2}"#,
    ] {
        for error in read_errors(json) {
            assert!(error.is_some(), "{json} was read");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Every invariant the constructors enforce, checked on the way back in

/// Reads `json` as the kind of flow fixture `name` is.
fn read_as(name: &str, json: &str) -> Result<(), serde_json::Error> {
    match name.split('-').next() {
        Some("signin") => serde_json::from_str::<SignIn>(json).map(drop),
        Some("signup") => serde_json::from_str::<SignUp>(json).map(drop),
        Some("staff") => serde_json::from_str::<StaffSignIn>(json).map(drop),
        Some("session") => serde_json::from_str::<Session>(json).map(drop),
        _ => panic!("{name}"),
    }
}

/// The v1 fixture `name` with the member at `pointer` set to `value`.
fn with_member(name: &str, pointer: &str, value: &Value) -> String {
    let mut parked: Value = serde_json::from_str(&fixture(1, name)).expect("JSON");
    let member = parked
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("{name} has no {pointer}"));
    *member = value.clone();
    serde_json::to_string(&parked).expect("JSON")
}

/// A v1 fixture with one member set to `value` is refused by serde (the fixture itself
/// reads), and the error does not show the value.
fn refused(name: &str, pointer: &str, value: Value) -> String {
    read_as(name, &fixture(1, name)).unwrap_or_else(|e| panic!("{name} reads: {e}"));
    let Err(error) = read_as(name, &with_member(name, pointer, &value)) else {
        panic!("{name} with {pointer} = {value} was read")
    };
    let error = error.to_string();
    if let Some(text) = value.as_str().filter(|text| text.len() >= 4) {
        assert!(
            !error.contains(text),
            "{pointer}: the error shows the value: {error}"
        );
    }
    error
}

/// A v1 fixture with one member set to `value` still reads (the edge of a rule).
fn accepted(name: &str, pointer: &str, value: Value) {
    if let Err(e) = read_as(name, &with_member(name, pointer, &value)) {
        panic!("{name} with {pointer} = {value} is refused: {e}");
    }
}

/// A JSON value nested `depth` levels deep (arrays and objects).
fn nested(depth: usize) -> Value {
    (0..depth).fold(json!(1), |inner, i| {
        if i % 2 == 0 {
            json!([inner])
        } else {
            json!({ "k": inner })
        }
    })
}

#[test]
fn an_endpoint_is_checked_as_endpoint_new_checks_it() {
    for base in [
        "host.name",
        "ftp://host.name",
        "https://host.name/?q=1",
        "https://host.name/#top",
        "https://user:pw@host.name",
        "https://host.name/a/../b",
        "https://host.name\r\nX-Evil: 1",
        "",
    ] {
        refused("signin-new", "/driver/endpoint/base", json!(base));
    }
    refused("signin-new", "/driver/endpoint/base", json!(7));
    accepted(
        "signin-new",
        "/driver/endpoint/base",
        json!("http://127.0.0.1:8080/b2core/"),
    );
}

/// The endpoint object of a parked flow or session (the one object with a `base`).
fn endpoint_of(value: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    if value.get("base").is_some() {
        return value.as_object_mut();
    }
    match value {
        Value::Object(map) => map.values_mut().find_map(endpoint_of),
        Value::Array(items) => items.iter_mut().find_map(endpoint_of),
        _ => None,
    }
}

#[test]
fn a_cleartext_endpoint_to_another_host_reads_back_only_with_its_opt_in() {
    // Every fixture of every format, moved to `http://` on a host that is not loopback:
    // refused without the opt-in, as `Endpoint::new` refuses it; read with it.
    for n in [1, 2] {
        for name in fixture_names(n) {
            let mut parked: Value = serde_json::from_str(&fixture(n, &name)).expect("JSON");
            let endpoint = endpoint_of(&mut parked).unwrap_or_else(|| panic!("{name}"));
            endpoint.insert("base".into(), json!("http://staging.lan/b2core"));
            let without = serde_json::to_string(&parked).expect("JSON");
            let error = read_as(&name, &without).expect_err(&name).to_string();
            assert!(
                error.contains("cleartext") && error.contains("Endpoint::new_insecure_http"),
                "v{n}/{name}: {error}"
            );
            let endpoint = endpoint_of(&mut parked).expect("still there");
            endpoint.insert("insecure_http".into(), json!(true));
            let with = serde_json::to_string(&parked).expect("JSON");
            read_as(&name, &with).unwrap_or_else(|e| panic!("v{n}/{name}: {e}"));
            // Loopback needs no opt-in.
            let endpoint = endpoint_of(&mut parked).expect("still there");
            endpoint.remove("insecure_http");
            endpoint.insert("base".into(), json!("http://127.0.0.1:8080/b2core"));
            let loopback = serde_json::to_string(&parked).expect("JSON");
            read_as(&name, &loopback).unwrap_or_else(|e| panic!("v{n}/{name}: {e}"));
        }
    }

    // A sign-in on an endpoint that opted in parks with the choice and resumes with it.
    let endpoint = Endpoint::new_insecure_http("http://staging.lan").expect("opted in");
    let mut flow = SignIn::new(endpoint);
    let request = flow.start(t(0)).sent();
    assert_eq!(request.uri(), "http://staging.lan/api/v2/my/signin/wizard");
    let parked = parks_again(&flow);
    assert_eq!(parked["driver"]["endpoint"]["insecure_http"], json!(true));
    let mut stripped = parked.clone();
    endpoint_of(&mut stripped)
        .expect("an endpoint")
        .remove("insecure_http");
    let stripped = serde_json::to_string(&stripped).expect("JSON");
    assert!(serde_json::from_str::<SignIn>(&stripped).is_err());
}

#[test]
fn a_token_pair_is_checked_as_an_answer_s_is() {
    const ACCESS: &str = "/driver/phase/At/stage/Active/accessToken";
    const REFRESH: &str = "/driver/phase/At/stage/Active/refreshToken";
    let long = "x".repeat(b2core_auth::MAX_TOKEN_LEN + 1);
    for (pointer, value) in [
        (
            format!("{ACCESS}/expiresAt"),
            json!("2024-04-22T11:07:23+00:00"),
        ),
        (
            format!("{REFRESH}/expiresAt"),
            json!("2000-01-01T00:00:00Z"),
        ),
        (format!("{ACCESS}/createdAt"), json!("yesterday")),
        (format!("{ACCESS}/token"), json!("")),
        (format!("{REFRESH}/token"), json!("with space")),
        (format!("{ACCESS}/token"), json!("tab\there")),
        (format!("{ACCESS}/token"), json!("caf\u{e9}")),
        (format!("{ACCESS}/token"), json!(long)),
        (format!("{ACCESS}/token"), json!(12345678)),
        (REFRESH.to_owned(), json!("not a token object")),
    ] {
        refused("session-active", &pointer, value);
    }
    // A pair without its refresh token (`null`, as absent) is a session holding only an
    // access token, one the crate itself makes (`Session::from_access_token`).
    accepted("session-active", REFRESH, Value::Null);
    // The edges: a token made and expiring at once, the longest token.
    accepted(
        "session-active",
        &format!("{ACCESS}/expiresAt"),
        json!("2024-04-22T11:07:24Z"),
    );
    accepted(
        "session-active",
        &format!("{ACCESS}/token"),
        json!("x".repeat(b2core_auth::MAX_TOKEN_LEN)),
    );
    // Tokens in every other place a flow keeps them.
    refused("signup-done", "/driver/phase/At/Done/uuid", json!(""));
    refused(
        "session-awaiting-refresh",
        "/driver/phase/At/stage/AwaitRefresh/refreshToken/token",
        json!(""),
    );
}

#[test]
fn a_fingerprint_is_checked_as_from_encoded_checks_it() {
    const AT: &str = "/driver/phase/At/AwaitCredentials/credentials/fingerprint";
    let b64 = |json: &str| {
        use std::fmt::Write as _;
        // Standard padded Base64, written here so the test has no dependency for it.
        const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in json.as_bytes().chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
            for i in 0..4 {
                if i <= chunk.len() {
                    let _ = write!(out, "{}", ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    };
    assert_eq!(b64(r#"{"user_agent":"a"}"#), "eyJ1c2VyX2FnZW50IjoiYSJ9");
    for value in [
        json!("dwqdnNFJBOEBFJEBjqewbkjqbdwjqwbndjnbj"),
        json!(""),
        json!(b64("{}")),
        json!(b64(r#"{"user_agent":1}"#)),
        json!(b64(r#"["user_agent"]"#)),
        json!(b64(r#"{"user_agent":"a\r\nb"}"#)),
        json!(b64(&format!(
            r#"{{"user_agent":"{}"}}"#,
            "x".repeat(b2core_auth::MAX_FINGERPRINT_LEN)
        ))),
        json!(format!("{}\n", b64(r#"{"user_agent":"a"}"#))),
        json!({"user_agent": "a"}),
    ] {
        refused("signin-awaiting-credentials", AT, value);
    }
    accepted(
        "signin-awaiting-credentials",
        AT,
        json!(b64(r#"{"user_agent":"a","x":[1]}"#)),
    );
    refused(
        "signup-awaiting",
        "/driver/phase/At/AwaitSubmit/form/fingerprint",
        json!("e30="),
    );
}

#[test]
fn credentials_awaiting_their_answer_are_checked_as_before_they_were_sent() {
    const AT: &str = "/driver/phase/At/AwaitCredentials/credentials";
    let long = "x".repeat(b2core_auth::MAX_FIELD_LEN + 1);
    for (field, value) in [
        ("email", json!("")),
        ("email", json!("no-at-sign")),
        ("email", json!("@example.com")),
        ("email", json!("user@")),
        ("email", json!("a@b\r\nX-Evil: 1")),
        ("email", json!(format!("a@{long}"))),
        ("password", json!("")),
        ("password", json!(long)),
        ("recaptcha", json!("")),
        ("recaptcha", json!("03AG\n")),
    ] {
        let error = refused(
            "signin-awaiting-credentials",
            &format!("{AT}/{field}"),
            value,
        );
        assert!(
            error.contains("a parked flow holds what no flow would"),
            "{error}"
        );
    }
    accepted(
        "signin-awaiting-credentials",
        &format!("{AT}/password"),
        json!("any ünïcode, spaces"),
    );
    // reCAPTCHA enabled by the wizard: the credentials must carry a response.
    let error = refused(
        "signin-awaiting-credentials-recaptcha",
        &format!("{AT}/recaptcha"),
        Value::Null,
    );
    assert!(error.contains("recaptchaResponse"), "{error}");
    // The same credentials waiting out a rate limit.
    refused(
        "signin-rate-limited",
        "/driver/phase/Waiting/resume/AwaitCredentials/credentials/email",
        json!("nobody"),
    );
}

#[test]
fn a_sign_up_form_awaiting_its_answer_is_checked_as_before_it_was_sent() {
    const AT: &str = "/driver/phase/At/AwaitSubmit/form";
    for (field, value) in [
        ("email", json!("not-an-email")),
        ("password", json!("")),
        ("password_confirmation", json!("Secret123")),
        ("country_codes", json!(["16", "8\n40"])),
        ("country_codes", json!([""])),
        ("given_name", json!("")),
        (
            "family_name",
            json!("x".repeat(b2core_auth::MAX_FIELD_LEN + 1)),
        ),
        ("recaptcha", json!("\u{0}")),
    ] {
        refused("signup-awaiting", &format!("{AT}/{field}"), value);
    }
    accepted("signup-awaiting", &format!("{AT}/given_name"), Value::Null);
}

#[test]
fn every_text_a_flow_sends_or_shows_later_is_checked() {
    for (name, pointer, value) in [
        // Codes and passwords awaiting their answer.
        (
            "signin-awaiting-code",
            "/driver/phase/At/AwaitCode/code",
            json!(""),
        ),
        (
            "signin-awaiting-code",
            "/driver/phase/At/AwaitCode/code",
            json!("12\r\n34"),
        ),
        (
            "signin-awaiting-reset",
            "/driver/phase/At/AwaitReset/code",
            json!(""),
        ),
        (
            "signin-awaiting-reset",
            "/driver/phase/At/AwaitReset/new_password",
            json!(""),
        ),
        (
            "staff-awaiting-confirm",
            "/driver/phase/At/AwaitConfirm/code",
            json!("1\u{7f}"),
        ),
        (
            "staff-awaiting-sign-in",
            "/driver/phase/At/AwaitSignIn/email",
            json!("staff"),
        ),
        (
            "staff-awaiting-sign-in",
            "/driver/phase/At/AwaitSignIn/password",
            json!(""),
        ),
        // The emails kept to refill a refused form, and those of the staff's later steps.
        (
            "signin-credentials-rejected",
            "/driver/phase/At/Credentials/email",
            json!("x"),
        ),
        (
            "signup-form-rejected",
            "/driver/phase/At/Form/email",
            json!("a@"),
        ),
        (
            "staff-credentials-rejected",
            "/driver/phase/At/Credentials/email",
            json!(""),
        ),
        (
            "staff-email-code",
            "/driver/phase/At/EmailCode/email",
            json!("a\u{0}@b"),
        ),
        (
            "staff-awaiting-confirm",
            "/driver/phase/At/AwaitConfirm/email",
            json!("@b"),
        ),
        // The sign-up wizard's own request.
        (
            "signup-awaiting-wizard",
            "/driver/phase/At/AwaitWizard/url",
            json!(""),
        ),
        (
            "signup-awaiting-wizard",
            "/driver/phase/At/AwaitWizard/url",
            json!("https://x/\n"),
        ),
        (
            "signup-awaiting-wizard",
            "/driver/phase/At/AwaitWizard/referral",
            json!(""),
        ),
    ] {
        refused(name, pointer, value);
    }
}

#[test]
fn a_wizard_uuid_is_never_empty() {
    for (name, pointer) in [
        ("signin-credentials", "/driver/phase/At/Credentials/uuid"),
        (
            "signin-awaiting-credentials",
            "/driver/phase/At/AwaitCredentials/uuid",
        ),
        ("signin-choose-method", "/driver/phase/At/ChooseMethod/uuid"),
        (
            "signin-awaiting-method",
            "/driver/phase/At/AwaitMethod/uuid",
        ),
        ("signin-code", "/driver/phase/At/Code/uuid"),
        ("signin-awaiting-code", "/driver/phase/At/AwaitCode/uuid"),
        (
            "signin-reset-required",
            "/driver/phase/At/ResetRequired/uuid",
        ),
        (
            "signin-awaiting-restore",
            "/driver/phase/At/AwaitRestore/uuid",
        ),
        ("signin-reset-code", "/driver/phase/At/ResetCode/uuid"),
        ("signin-awaiting-reset", "/driver/phase/At/AwaitReset/uuid"),
        (
            "signin-rate-limited",
            "/driver/phase/Waiting/resume/AwaitCredentials/uuid",
        ),
        ("signup-form", "/driver/phase/At/Form/uuid"),
        ("signup-awaiting", "/driver/phase/At/AwaitSubmit/uuid"),
        ("signup-next", "/driver/phase/At/Next/uuid"),
        (
            "signup-sign-in-required",
            "/driver/phase/At/SignInRequired/uuid",
        ),
        ("signup-done", "/driver/phase/At/Done/uuid"),
    ] {
        let error = refused(name, pointer, json!(""));
        assert!(error.contains("invalid uuid: is empty"), "{name}: {error}");
    }
}

#[test]
fn the_offered_2fa_methods_are_some_each_once_and_the_chosen_one_among_them() {
    refused(
        "signin-choose-method",
        "/driver/phase/At/ChooseMethod/methods",
        json!([]),
    );
    refused(
        "signin-choose-method",
        "/driver/phase/At/ChooseMethod/methods",
        json!(["Sms", "Sms"]),
    );
    refused(
        "signin-choose-method",
        "/driver/phase/At/ChooseMethod/methods",
        json!(["Email"]),
    );
    refused(
        "signin-awaiting-method",
        "/driver/phase/At/AwaitMethod/methods",
        json!([]),
    );
    refused(
        "signin-awaiting-method",
        "/driver/phase/At/AwaitMethod/methods",
        json!(["Google"]),
    );
    accepted(
        "signin-awaiting-method",
        "/driver/phase/At/AwaitMethod/methods",
        json!(["Sms"]),
    );
    refused(
        "signin-awaiting-method",
        "/driver/phase/At/AwaitMethod/chosen",
        json!("Email"),
    );
}

#[test]
fn a_rate_limit_resumes_only_a_request_the_flow_awaits() {
    let credentials = json!({"Credentials": {"uuid": "u-1", "options": {"recaptcha_enabled": false,
        "qr_available": false, "password_recovery_available": false}, "email": null, "rejected": null}});
    let error = refused(
        "signin-rate-limited",
        "/driver/phase/Waiting/resume",
        credentials,
    );
    assert!(error.contains("resumes no request"), "{error}");
    refused(
        "signin-rate-limited",
        "/driver/phase/Waiting/resume",
        json!("Done"),
    );
    refused(
        "signin-rate-limited",
        "/driver/phase/Waiting/resume",
        json!("New"),
    );
    accepted(
        "signin-rate-limited",
        "/driver/phase/Waiting/resume",
        json!("AwaitWizard"),
    );
    refused(
        "signup-rate-limited",
        "/driver/phase/Waiting/resume",
        json!("New"),
    );
    let active = json!({"realm": "Client", "stage": "Ended"});
    refused(
        "session-rate-limited",
        "/driver/phase/Waiting/resume",
        active,
    );
    refused(
        "staff-rate-limited",
        "/driver/phase/Waiting/resume",
        json!("Done"),
    );
}

#[test]
fn the_2fa_details_are_checked_as_the_sign_in_answer_s() {
    const TFA: &str = "/driver/phase/At/EmailCode/tfa";
    for (field, value) in [
        ("token", json!("")),
        ("token", json!("b2fc f999")),
        ("token", json!("x".repeat(4097))),
        (
            "provider",
            json!("x".repeat(b2core_auth::MAX_FIELD_LEN + 1)),
        ),
        // Before 1970: not even a time serde reads.
        (
            "expires_at",
            json!({"secs_since_epoch": -1, "nanos_since_epoch": 0}),
        ),
        (
            "expires_at",
            json!({"secs_since_epoch": u64::MAX, "nanos_since_epoch": 1_000_000_000u32}),
        ),
    ] {
        refused("staff-email-code", &format!("{TFA}/{field}"), value);
    }
    accepted(
        "staff-email-code",
        &format!("{TFA}/token"),
        json!("x".repeat(4096)),
    );
    accepted(
        "staff-email-code",
        &format!("{TFA}/expires_at"),
        json!({"secs_since_epoch": 0, "nanos_since_epoch": 0}),
    );
    refused(
        "staff-awaiting-confirm",
        "/driver/phase/At/AwaitConfirm/tfa/token",
        json!("a b"),
    );
}

#[test]
fn deviations_are_at_most_max_deviations() {
    const KEPT: &str = "/driver/deviations/kept";
    let parked: Value =
        serde_json::from_str(&fixture(1, "signin-credentials-deviations")).expect("JSON");
    let one = parked
        .pointer(KEPT)
        .and_then(|k| k.get(0))
        .expect("a deviation")
        .clone();
    let many = |n| Value::Array(vec![one.clone(); n]);
    refused(
        "signin-credentials-deviations",
        KEPT,
        many(b2core_auth::MAX_DEVIATIONS + 1),
    );
    accepted(
        "signin-credentials-deviations",
        KEPT,
        many(b2core_auth::MAX_DEVIATIONS),
    );
}

#[test]
fn free_data_nests_at_most_64_levels() {
    for (name, pointer) in [
        ("signin-unsupported", "/driver/phase/At/Unsupported/data"),
        ("signup-next", "/driver/phase/At/Next/data"),
    ] {
        accepted(name, pointer, nested(64));
        let error = refused(name, pointer, nested(65));
        assert!(error.contains("nests deeper"), "{error}");
    }
}

#[test]
fn a_kept_workflow_is_as_the_answer_that_led_there_had_it() {
    refused(
        "signin-unsupported",
        "/driver/phase/At/Unsupported/workflow",
        json!(""),
    );
    for named in [
        "login",
        "Terminate",
        "2fa",
        "2fa_google_auth",
        "2fa_sms_auth",
        "reset_password_email",
    ] {
        refused(
            "signin-unsupported",
            "/driver/phase/At/Unsupported/workflow",
            json!(named),
        );
    }
    refused("signup-form", "/driver/phase/At/Form/workflow", json!(""));
    refused(
        "signup-awaiting",
        "/driver/phase/At/AwaitSubmit/workflow",
        json!(""),
    );
    refused("signup-next", "/driver/phase/At/Next/workflow", json!(""));
    // Sign-up form fields are an object or an array, as the wizard's answer must give them.
    for fields in [json!("text"), json!(1), Value::Null, json!(true)] {
        refused(
            "signup-form",
            "/driver/phase/At/Form/fields",
            fields.clone(),
        );
        refused(
            "signup-awaiting",
            "/driver/phase/At/AwaitSubmit/fields",
            fields,
        );
    }
    accepted(
        "signup-form",
        "/driver/phase/At/Form/fields",
        json!([{"name": "email"}]),
    );
}

#[test]
fn attempt_guards_and_times_are_checked() {
    refused("signin-credentials", "/driver/guards/limit", json!(0));
    refused("signin-rate-limited", "/driver/guards/limit", json!(0));
    refused(
        "staff-email-code",
        "/driver/guards/sign_in/recent",
        json!([
            {"secs_since_epoch": 1, "nanos_since_epoch": 0},
            {"secs_since_epoch": 2, "nanos_since_epoch": 0},
            {"secs_since_epoch": 3, "nanos_since_epoch": 0},
            {"secs_since_epoch": 4, "nanos_since_epoch": 0},
            {"secs_since_epoch": 5, "nanos_since_epoch": 0},
            {"secs_since_epoch": 6, "nanos_since_epoch": 0},
        ]),
    );
    refused("session-active", "/driver/guards/limit", json!(0));
    // Times and durations a SystemTime or Duration cannot hold.
    let overflow = json!({"secs_since_epoch": u64::MAX, "nanos_since_epoch": 1_000_000_000u32});
    refused(
        "signin-rate-limited",
        "/driver/phase/Waiting/retry_at",
        overflow.clone(),
    );
    refused(
        "signin-rate-limited",
        "/driver/guards/blocked_until",
        overflow,
    );
    refused(
        "session-active",
        "/leeway",
        json!({"secs": u64::MAX, "nanos": 1_000_000_000u32}),
    );
    refused(
        "session-active",
        "/driver/guards/window",
        json!({"secs": u64::MAX, "nanos": 1_000_000_000u32}),
    );
}

/// A parked flow is a secret-bearing blob: an error reading one never shows a value
/// from it, whatever its type (a password or token stored as a number, say).
#[test]
fn an_error_reading_a_parked_flow_never_shows_a_value() {
    const SECRET: u64 = 394_208_416_658_607_535;
    for (name, pointer) in [
        (
            "signin-awaiting-credentials",
            "/driver/phase/At/AwaitCredentials/credentials/password",
        ),
        (
            "signin-awaiting-credentials",
            "/driver/phase/At/AwaitCredentials/credentials/email",
        ),
        (
            "signin-awaiting-credentials",
            "/driver/phase/At/AwaitCredentials/credentials/fingerprint",
        ),
        ("signin-awaiting-code", "/driver/phase/At/AwaitCode/code"),
        (
            "signin-awaiting-method",
            "/driver/phase/At/AwaitMethod/chosen",
        ),
        (
            "session-active",
            "/driver/phase/At/stage/Active/accessToken/token",
        ),
        (
            "session-active",
            "/driver/phase/At/stage/Active/refreshToken",
        ),
        ("staff-email-code", "/driver/phase/At/EmailCode/tfa/token"),
        (
            "signup-awaiting",
            "/driver/phase/At/AwaitSubmit/form/password_confirmation",
        ),
        ("signin-new", "/driver/endpoint/base"),
    ] {
        for value in [
            json!(SECRET),
            json!(SECRET as f64 * 1e10),
            json!(format!("{SECRET}")),
            json!([SECRET.to_string()]),
            json!({ SECRET.to_string(): true }),
        ] {
            let text = with_member(name, pointer, &value);
            if let Err(error) = read_as(name, &text) {
                let error = error.to_string();
                for part in ["394208416658607535", "3942084166586075", "true"] {
                    assert!(!error.contains(part), "{pointer} = {value}: {error}");
                }
            }
        }
    }
}

/// A sign-up keeps the form's `fields` of the wizard's answer: nested deeper than free
/// data may be, they were read, and the flow parked but could not be read back (serde_json
/// stops at 128 levels, and the parked flow adds its own). Now the answer is refused.
#[test]
fn a_sign_up_keeps_no_fields_it_could_not_park() {
    for depth in [64, 65, 100, 124] {
        let mut flow = SignUp::new(endpoint());
        flow.start(SIGN_UP_URL, None, t(0)).sent();
        let before = flow.clone();
        let wizard = envelope(
            202,
            202,
            json!({"fields": nested(depth)}),
            "u-1",
            "basic_register_form",
        );
        match flow.handle_response(&wizard, t(0)) {
            Ok(step) => {
                assert!(depth <= 64, "{depth}: {step:?}");
                parks_again(&flow);
            }
            Err(e) => {
                assert!(depth > 64, "{depth}: {e}");
                assert!(
                    e.to_string()
                        .contains("data.fields: nests deeper than 64 levels"),
                    "{e}"
                );
                assert_eq!(flow, before);
            }
        }
    }
    accepted("signup-form", "/driver/phase/At/Form/fields", nested(64));
    refused("signup-form", "/driver/phase/At/Form/fields", nested(65));
    refused(
        "signup-awaiting",
        "/driver/phase/At/AwaitSubmit/fields",
        nested(65),
    );
}
