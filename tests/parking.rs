//! Parked flows across deploys.
//!
//! A backend parks a flow (serde) between browser requests, and may resume it in a newer
//! deploy. `tests/fixtures/parked/v<N>/` holds each flow and the session parked at every
//! reachable step in format `N`, written once by [`write_fixtures_of_the_current_format`]
//! while `N` was the current format and never regenerated since: they are what older
//! deploys left in the stores.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use b2core_auth::backoffice::{StaffSignIn, StaffStep};
use b2core_auth::client::{
    Credentials, Method, SignIn, SignInStep, SignUp, SignUpForm, SignUpStep,
};
use b2core_auth::sim::{ClientAccount, Dialect, Server, SimConfig, StaffAccount};
use b2core_auth::{DeviceFingerprint, Endpoint, Session, SessionStep};
use http::{Request, Response};
use serde_json::{json, Value};

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
    let time = |s| b2core_auth::time::format_rfc3339(t(s)).expect("in range");
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
    let request = flow.start().expect("start");
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
    request: Result<Request<Vec<u8>>, b2core_auth::Error>,
    now: SystemTime,
    handle: impl FnOnce(&Response<Vec<u8>>, SystemTime) -> Result<S, b2core_auth::Error>,
) -> S {
    let request = request.expect("the call gives a request");
    handle(&server.handle(&request, now), now).expect("the answer is read")
}

fn signin_scenarios(album: &mut Album) {
    let mut server = sim_server(SimConfig::default());
    let s = &mut server;

    // Not started, waiting for the wizard, credentials; a refused attempt; signed in.
    let mut flow = SignIn::new(endpoint());
    album.signin("signin-new", &flow);
    let request = flow.start().expect("start");
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
    let request = flow.submit_code(wrong);
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
    let request = flow.choose_method(Method::Sms);
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
    let request = flow.request_reset_code();
    album.signin("signin-awaiting-restore", &flow);
    let step = exchange(s, request, t(8), |r, now| flow.handle_response(r, now));
    assert!(matches!(step, SignInStep::ResetCode { .. }), "{step:?}");
    album.signin("signin-reset-code", &flow);
    let code = s
        .last_code_to("reset@example.com")
        .expect("emailed")
        .to_owned();
    let request = flow.reset_password(code, NEW_PASSWORD);
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
        .expect("a request");
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
    assert!(request.is_ok(), "{request:?}");
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
    let request = flow.start(SIGN_UP_URL, Some(REFERRAL));
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
    let request = flow.start(SIGN_UP_URL, Some(REFERRAL));
    album.signup("signup-awaiting-wizard", &flow);
    let step = exchange(s, request, t(0), |r, now| flow.handle_response(r, now));
    assert!(matches!(step, SignUpStep::Form { .. }), "{step:?}");
    album.signup("signup-form", &flow);
    let step = exchange(s, flow.submit(form("taken@example.com")), t(1), |r, now| {
        flow.handle_response(r, now)
    });
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
    let request = flow.submit(full);
    album.signup("signup-awaiting", &flow);
    let step = exchange(s, request, t(2), |r, now| flow.handle_response(r, now));
    assert_eq!(step, SignUpStep::SignInRequired);
    album.signup("signup-sign-in-required", &flow);

    // A confirmation step the crate does not drive (written here: the simulator has none).
    let mut flow = signup_at_form(s, t(3));
    let uuid = flow.uuid().expect("a uuid").to_owned();
    flow.submit(form("next@example.com")).expect("a request");
    let data = json!({"email": "next@example.com", "resend_after": 60});
    let step = flow.handle_response(&envelope(200, 200, data, &uuid, "confirm_email"), t(3));
    assert!(matches!(step, Ok(SignUpStep::Next { .. })), "{step:?}");
    album.signup("signup-next", &flow);

    // Signed up and signed in (written here: the simulator signs up without tokens).
    let mut flow = signup_at_form(s, t(4));
    let uuid = flow.uuid().expect("a uuid").to_owned();
    flow.submit(form("done@example.com")).expect("a request");
    let data = pair_json("su.access.token", "su.refresh.token", 4);
    let step = flow.handle_response(&envelope(202, 202, data, &uuid, "login"), t(4));
    assert!(matches!(step, Ok(SignUpStep::Done(_))), "{step:?}");
    album.signup("signup-done", &flow);

    // Rate limited (written here: the simulator does not limit sign-ups).
    let mut flow = signup_at_form(s, t(5));
    flow.submit(form("limited@example.com")).expect("a request");
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
    let request = session.sign_out();
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
    session.refresh(t(64)).expect("a request");
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
