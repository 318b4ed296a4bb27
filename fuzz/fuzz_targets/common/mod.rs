//! Shared by the flow and simulator targets: hostile answers built with `arbitrary`
//! (structured near the documented shapes, or raw bytes), hostile user input, and the
//! checks every flow must pass after every call.
#![allow(dead_code)]

use std::fmt::Debug;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arbitrary::Arbitrary;
use b2core_auth::{Error, Flow, Outgoing};
use http::{Request, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};

/// 2024-04-22T11:07:24+00:00, the pages' `createdAt`.
pub const T0: u64 = 1_713_784_044;
pub const HOST: &str = "https://host.name";

/// The vendor pages' example bodies (the committed seeds), verbatim.
pub const EXAMPLES: &[&str] = &[
    include_str!("../../seeds/decode_envelope/client-signin-07"),
    include_str!("../../seeds/decode_envelope/client-signin-09"),
    include_str!("../../seeds/decode_envelope/client-signin-11"),
    include_str!("../../seeds/decode_envelope/client-signin-13"),
    include_str!("../../seeds/decode_envelope/client-signup-15"),
    include_str!("../../seeds/decode_envelope/client-signup-17"),
    include_str!("../../seeds/decode_staff_answer/backoffice-auth-02"),
    include_str!("../../seeds/decode_token_pair/backoffice-auth-04"),
    include_str!("../../seeds/decode_token_pair/backoffice-auth-06"),
    include_str!("../../seeds/decode_error_body/details"),
];

pub fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0 + secs)
}

fn pick<'a>(list: &[&'a str], i: u8) -> &'a str {
    list[usize::from(i) % list.len()]
}

/// A string field, usually plausible, sometimes hostile.
#[derive(Arbitrary, Debug, Clone)]
pub enum Text {
    Good(u8),
    Empty,
    /// `n * 128` bytes of `x`: past every length limit when large.
    Long(u8),
    /// A good value with a control character (CR, LF, NUL, ...) spliced in.
    Ctrl(u8, u8),
    Raw(String),
}

impl Text {
    pub fn get(&self, good: &[&str]) -> String {
        match self {
            Text::Good(i) => pick(good, *i).to_owned(),
            Text::Empty => String::new(),
            Text::Long(n) => "x".repeat(usize::from(*n) * 128),
            Text::Ctrl(i, c) => {
                let ctrl = ['\r', '\n', '\0', '\t', '\u{7f}', '\u{85}'][usize::from(*c) % 6];
                let base = pick(good, *i);
                let cut = base.len() / 2;
                format!("{}{}{}", &base[..cut], ctrl, &base[cut..])
            }
            Text::Raw(s) => s.clone(),
        }
    }
}

pub const EMAILS: &[&str] = &["username@example.com", "foo@bar.com", "a@b"];
pub const PASSWORDS: &[&str] = &["QAzqw123!", "Secret123", "new-Passw0rd"];
pub const CODES: &[&str] = &["678562", "123456", "000000"];
pub const AGENTS: &[&str] = &["my-app/1.0", "Mozilla/5.0 (X11; Linux x86_64)"];
pub const TOKENS: &[&str] = &["a.b.c", "d.e.f", "eyJ0eXAi.eyJpYXQi.XKK0j6H9"];
pub const WORKFLOWS: &[&str] = &[
    "login",
    "Terminate",
    "2fa",
    "2fa_google_auth",
    "2fa_sms_auth",
    "reset_password_email",
    "basic_register_form",
    "confirm_email",
];

/// A timestamp: good (an offset from T0, written in one of several valid forms) or raw.
#[derive(Arbitrary, Debug, Clone)]
pub enum Time {
    Good(i32, u8),
    Raw(String),
}

impl Time {
    fn get(&self) -> String {
        match self {
            Time::Good(offset, form) => {
                let t = (T0 as i64 + i64::from(*offset)).max(0) as u64;
                let text = b2core_auth::format_rfc3339(UNIX_EPOCH + Duration::from_secs(t))
                    .unwrap_or_default();
                match form % 3 {
                    0 => text,
                    1 => text.replace("+00:00", "Z"),
                    _ => text.replace("+00:00", ".123456789+00:00"),
                }
            }
            Time::Raw(s) => s.clone(),
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub struct TokenJ {
    token: Text,
    created: Time,
    expires: Time,
}

impl TokenJ {
    fn json(&self) -> Value {
        json!({"token": self.token.get(TOKENS), "createdAt": self.created.get(), "expiresAt": self.expires.get()})
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub struct PairJ {
    access: Option<TokenJ>,
    refresh: Option<TokenJ>,
}

impl PairJ {
    fn fill(&self, map: &mut Map<String, Value>) {
        if let Some(t) = &self.access {
            map.insert("accessToken".into(), t.json());
        }
        if let Some(t) = &self.refresh {
            map.insert("refreshToken".into(), t.json());
        }
    }
    fn json(&self) -> Value {
        let mut map = Map::new();
        self.fill(&mut map);
        Value::Object(map)
    }
}

/// A JSON value nested `depth` levels (arrays or objects).
fn nested(depth: u8, arrays: bool) -> Value {
    let mut v = json!(1);
    for _ in 0..depth {
        v = if arrays {
            json!([v])
        } else {
            json!({ "k": v })
        };
    }
    v
}

#[derive(Arbitrary, Debug, Clone)]
pub enum DataJ {
    Null,
    SignIn {
        pair: PairJ,
        providers: Option<Vec<(u8, bool)>>,
    },
    Wizard {
        recaptcha: Option<Option<bool>>,
        qr: Option<bool>,
    },
    Fields(u8),
    Deep(u8, bool),
    Raw(String),
}

impl DataJ {
    fn json(&self) -> Value {
        match self {
            DataJ::Null => Value::Null,
            DataJ::SignIn { pair, providers } => {
                let mut map = Map::new();
                pair.fill(&mut map);
                if let Some(p) = providers {
                    let list: Vec<Value> = p
                        .iter()
                        .map(|(n, on)| json!({"name": pick(&["google", "sms", "email", ""], *n), "enabled": on}))
                        .collect();
                    map.insert("tfaProviders".into(), Value::Array(list));
                }
                Value::Object(map)
            }
            DataJ::Wizard { recaptcha, qr } => {
                let mut map = Map::new();
                match recaptcha {
                    Some(Some(on)) => {
                        map.insert("recaptcha".into(), json!({ "enabled": on }));
                    }
                    Some(None) => {
                        map.insert("recaptcha".into(), Value::Null);
                    }
                    None => {}
                }
                if let Some(q) = qr {
                    map.insert("is_qr_available".into(), json!(q));
                }
                Value::Object(map)
            }
            DataJ::Fields(d) => json!({ "fields": nested(d % 8, false) }),
            DataJ::Deep(d, arrays) => nested(*d, *arrays),
            DataJ::Raw(s) => serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())),
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub enum UuidJ {
    /// The uuid of the last request the flow emitted (or a fresh one).
    Current,
    Other(u8),
    Raw(String),
}

#[derive(Arbitrary, Debug, Clone)]
pub enum CodeJ {
    Status,
    Absent,
    Other(u16),
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Body {
    Example(u8),
    Envelope {
        code: CodeJ,
        data: Option<DataJ>,
        done: Option<bool>,
        uuid: UuidJ,
        workflow: Text,
    },
    Staff {
        required: Option<bool>,
        details: Option<(Text, Text, Time)>,
        pair: PairJ,
    },
    Pair(PairJ),
    /// A refresh answer inside an envelope's `data`.
    EnvelopedPair(PairJ),
    Error(Text),
    /// The structured body's object written as a JSON array of its values.
    AsArray(Box<Body>),
    Raw(Vec<u8>),
}

impl Body {
    fn json(&self, status: u16, uuid: &str) -> Result<Value, Vec<u8>> {
        Ok(match self {
            Body::Example(i) => {
                return Err(EXAMPLES[usize::from(*i) % EXAMPLES.len()]
                    .as_bytes()
                    .to_vec())
            }
            Body::Envelope {
                code,
                data,
                done,
                uuid: u,
                workflow,
            } => {
                let mut map = Map::new();
                match code {
                    CodeJ::Status => {
                        map.insert("code".into(), json!(status));
                    }
                    CodeJ::Absent => {}
                    CodeJ::Other(c) => {
                        map.insert("code".into(), json!(c));
                    }
                }
                if let Some(d) = data {
                    map.insert("data".into(), d.json());
                }
                if let Some(d) = done {
                    map.insert("done".into(), json!(d));
                }
                let u = match u {
                    UuidJ::Current => uuid.to_owned(),
                    UuidJ::Other(i) => pick(&["u-1", "u-2", ""], *i).to_owned(),
                    UuidJ::Raw(s) => s.clone(),
                };
                map.insert("uuid".into(), json!(u));
                map.insert("workflow".into(), json!(workflow.get(WORKFLOWS)));
                Value::Object(map)
            }
            Body::Staff {
                required,
                details,
                pair,
            } => {
                let mut map = Map::new();
                if let Some(r) = required {
                    map.insert("2faRequired".into(), json!(r));
                }
                if let Some((token, provider, expires)) = details {
                    map.insert(
                        "2faDetails".into(),
                        json!({"token": token.get(&["b2fcf999-2b0b-451d-9888-094a79117aa5"]),
                               "provider": provider.get(&["email"]), "expiresAt": expires.get()}),
                    );
                }
                pair.fill(&mut map);
                Value::Object(map)
            }
            Body::Pair(p) => p.json(),
            Body::EnvelopedPair(p) => {
                json!({"code": status, "data": p.json(), "done": true, "uuid": uuid, "workflow": "Terminate"})
            }
            Body::Error(t) => {
                json!({"error": {"code": 0, "details": [{"issue": t.get(&["Invalid credentials"])}]}})
            }
            Body::AsArray(inner) => match inner.json(status, uuid)? {
                Value::Object(map) => Value::Array(map.into_iter().map(|(_, v)| v).collect()),
                other => Value::Array(vec![other]),
            },
            Body::Raw(bytes) => return Err(bytes.clone()),
        })
    }

    pub fn bytes(&self, status: u16, uuid: &str) -> Vec<u8> {
        match self.json(status, uuid) {
            Ok(v) => serde_json::to_vec(&v).unwrap_or_default(),
            Err(raw) => raw,
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Status {
    S200,
    S202,
    S204,
    S400,
    S401,
    S403,
    S404,
    S422,
    S429,
    S500,
    S503,
    Any(u16),
}

impl Status {
    pub fn code(&self) -> u16 {
        match self {
            Status::S200 => 200,
            Status::S202 => 202,
            Status::S204 => 204,
            Status::S400 => 400,
            Status::S401 => 401,
            Status::S403 => 403,
            Status::S404 => 404,
            Status::S422 => 422,
            Status::S429 => 429,
            Status::S500 => 500,
            Status::S503 => 503,
            Status::Any(n) => 100 + n % 900,
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub enum RetryAfter {
    Absent,
    Secs(u32),
    Digits(u8),
    Date(i32),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug, Clone)]
pub struct Answer {
    pub status: Status,
    pub retry_after: RetryAfter,
    pub body: Body,
    /// 255: a body over the default limit of 1 MiB (rarely built: it is slow).
    pub huge: u8,
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// An IMF-fixdate for `T0 + offset` (via the crate's RFC 3339 writer).
fn http_date(offset: i32) -> String {
    let secs = (T0 as i64 + i64::from(offset)).max(0) as u64;
    let rfc =
        b2core_auth::format_rfc3339(UNIX_EPOCH + Duration::from_secs(secs)).unwrap_or_default();
    let (y, mo, d, hms) = (&rfc[0..4], &rfc[5..7], &rfc[8..10], &rfc[11..19]);
    let month = MONTHS[mo.parse::<usize>().unwrap_or(1).saturating_sub(1) % 12];
    format!(
        "{}, {d} {month} {y} {hms} GMT",
        DAYS[((secs / 86_400) % 7) as usize]
    )
}

impl Answer {
    pub fn response(&self, uuid: &str) -> Response<Vec<u8>> {
        let status = self.status.code();
        let mut body = self.body.bytes(status, uuid);
        if self.huge == 255 {
            body.resize(b2core_auth::DEFAULT_BODY_LIMIT + 1, b' ');
        }
        let mut response = Response::new(body);
        *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
        let value = match &self.retry_after {
            RetryAfter::Absent => None,
            RetryAfter::Secs(s) => Some(s.to_string().into_bytes()),
            RetryAfter::Digits(n) => Some("9".repeat(usize::from(*n)).into_bytes()),
            RetryAfter::Date(offset) => Some(http_date(*offset).into_bytes()),
            RetryAfter::Raw(bytes) => Some(bytes.clone()),
        };
        if let Some(v) = value.and_then(|v| http::HeaderValue::from_bytes(&v).ok()) {
            response.headers_mut().insert(http::header::RETRY_AFTER, v);
        }
        response
    }
}

/// What a call returned, kept for the checks.
pub enum Outcome {
    Request(Request<Vec<u8>>),
    /// Nothing sent: the flow holds the attempt until then (`Outgoing::RetryAt`).
    Held(SystemTime),
    /// A step; `true` when it ends the flow.
    Step(bool),
}

impl From<Outgoing> for Outcome {
    fn from(outgoing: Outgoing) -> Self {
        match outgoing {
            Outgoing::Request(request) => Outcome::Request(request),
            Outgoing::RetryAt(at) => Outcome::Held(at),
        }
    }
}

/// Runs one call on a flow and checks what every call must satisfy:
/// - an `Err` leaves the flow `==` to a clone from before, and is never
///   `Error::Internal` (a bug: the driver refused a move its own code made that is not a
///   row of the flow's transition table);
/// - once the flow is done, every call is an `Err`;
/// - a request carries only the headers the crate means to send, and a JSON body;
/// - a held call (`Outgoing::RetryAt(t)`) holds until a `t` after `now`, as the flow
///   says: state `rate limited`, `next_deadline() == Some(t)`, no request outstanding; and
///   a `retry` before `t` is `RetryAt(t)` again and changes nothing;
/// - the flow parks (serde) and resumes equal.
pub struct Harness<F> {
    pub flow: F,
    pub done: bool,
    /// The `uuid` of the last request body that had one.
    pub uuid: String,
    pub now: u64,
    /// The base URI every request must start with ([`HOST`] unless a resumed flow has
    /// another).
    pub host: String,
}

impl<F: Flow + Clone + PartialEq + Debug + Serialize + DeserializeOwned> Harness<F> {
    pub fn new(flow: F) -> Self {
        Self {
            flow,
            done: false,
            uuid: "36f59381-5b54-48bd-a0c7-3b908c476732".into(),
            now: 0,
            host: HOST.to_owned(),
        }
    }

    pub fn tick(&mut self, secs: u16) {
        self.now += u64::from(secs);
    }

    pub fn call(
        &mut self,
        what: &str,
        allowed_headers: &[&str],
        f: impl FnOnce(&mut F, SystemTime) -> Result<Outcome, Error>,
    ) {
        let before = self.flow.clone();
        let now = at(self.now);
        let result = f(&mut self.flow, now);
        match &result {
            Err(e) => {
                assert!(
                    !matches!(e, Error::Internal { .. }),
                    "{what} hit a bug: {e} (from {before:?})"
                );
                assert_eq!(
                    self.flow, before,
                    "an Err ({e:?}) from {what} changed the flow"
                );
                let _ = (format!("{e}"), format!("{e:?}"));
            }
            Ok(_) if self.done => {
                panic!("{what} succeeded on a flow that was done: {:?}", self.flow)
            }
            Ok(Outcome::Step(done)) => self.done = *done,
            Ok(Outcome::Held(until)) => {
                let until = *until;
                assert!(
                    until > now,
                    "{what} held until {until:?}, not after {now:?}"
                );
                assert_eq!(self.flow.state().to_string(), "rate limited", "{what}");
                assert_eq!(self.flow.next_deadline(), Some(until), "{what}");
                assert!(!self.flow.is_awaiting_response(), "{what}");
                let mut early = self.flow.clone();
                match early.retry(now) {
                    Ok(Outgoing::RetryAt(again)) => assert_eq!(again, until, "{what}"),
                    Ok(Outgoing::Request(r)) => {
                        panic!("a retry before {until:?} sent {} {}", r.method(), r.uri())
                    }
                    Err(e) => panic!("a retry before {until:?} after {what}: {e}"),
                }
                assert_eq!(
                    early, self.flow,
                    "a retry before the instant changed the flow"
                );
            }
            Ok(Outcome::Request(request)) => {
                check_request_to(request, allowed_headers, &self.host);
                if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(request.body()) {
                    if let Some(Value::String(uuid)) = map.get("uuid") {
                        self.uuid = uuid.clone();
                    }
                }
            }
        }
        let parked = serde_json::to_string(&self.flow).expect("a flow always serializes");
        let back: F = serde_json::from_str(&parked).expect("a parked flow always resumes");
        assert_eq!(back, self.flow, "a parked flow resumed different");
    }
}

/// Only the intended headers, `application/json` where set, a JSON or empty body.
pub fn check_request(request: &Request<Vec<u8>>, allowed: &[&str]) {
    check_request_to(request, allowed, HOST)
}

/// [`check_request`], for a request to the base URI `host`.
pub fn check_request_to(request: &Request<Vec<u8>>, allowed: &[&str], host: &str) {
    for (name, value) in request.headers() {
        assert!(
            allowed.contains(&name.as_str()),
            "unexpected header {name} on {} {}",
            request.method(),
            request.uri()
        );
        if name == "accept" || name == "content-type" {
            assert_eq!(value, "application/json");
        }
    }
    assert!(request.uri().to_string().starts_with(host));
    assert!(
        request.body().is_empty() || serde_json::from_slice::<Value>(request.body()).is_ok(),
        "a request body is not JSON"
    );
}

pub const JSON_HEADERS: &[&str] = &["accept", "content-type"];
