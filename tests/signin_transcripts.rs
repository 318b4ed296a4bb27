//! Transcripts: for each branch of the sign-in wizard, the exact sequence of requests and
//! steps.

mod common;

use std::time::{Duration, SystemTime};

use b2core_auth::client::signin::SignInState;
use b2core_auth::client::{Method, SignIn, SignInStep, WizardOptions};
use b2core_auth::Flow;
use b2core_auth::{ApiError, Error, Secret, Token, TokenPair};
use common::*;
use serde_json::json;

const U: &str = UUID_A;
const WIZARD: &str = "GET /api/v2/my/signin/wizard";
const SIGN_IN: &str = "POST /api/v2/my/signin";
const CHOOSE: &str = "POST /api/v2/my/signin/2fa";
const GOOGLE: &str = "POST /api/v2/my/2fa/google";
const SMS: &str = "POST /api/v2/my/2fa/sms";
const RESTORE: &str = "POST /api/v2/my/signin/password/restore";
const RESET: &str = "POST /api/v2/my/signin/password/reset";

fn options(recaptcha: bool) -> WizardOptions {
    let mut o = WizardOptions::default();
    o.recaptcha_enabled = recaptcha;
    o.qr_available = true;
    o.password_recovery_available = true;
    o
}

fn credentials_step(rejected: Option<ApiError>) -> SignInStep {
    SignInStep::Credentials {
        options: options(false),
        rejected,
    }
}

fn code_step(method: Method, rejected: Option<ApiError>) -> SignInStep {
    SignInStep::Code { method, rejected }
}

fn both() -> SignInStep {
    SignInStep::ChooseMethod {
        methods: vec![Method::Google, Method::Sms],
        rejected: None,
    }
}

/// The tokens `terminate(_, "acc.ess.tok", "ref.resh.tok")` carries.
fn tokens() -> TokenPair {
    let created = at(T0_SECS);
    TokenPair::new(
        Token::new(
            Secret::new("acc.ess.tok".to_owned()),
            created,
            created + Duration::from_secs(900),
        )
        .unwrap(),
        Token::new(
            Secret::new("ref.resh.tok".to_owned()),
            created,
            created + Duration::from_secs(3600),
        )
        .unwrap(),
    )
    .unwrap()
}

fn done() -> Response {
    terminate(U, "acc.ess.tok", "ref.resh.tok")
}

type Response = http::Response<Vec<u8>>;

/// A script that has started and reached Credentials (uuid `U`, no reCAPTCHA).
fn started() -> Script {
    let mut s = Script::new(new_flow());
    let r = s.flow.start(t(0));
    let _ = s.sent(r);
    let _ = s.reply(login(U, false), t(0));
    s
}

fn invalid_credentials() -> ApiError {
    ApiError::new(400, Some(1), vec!["Invalid credentials".to_owned()])
}

fn bad_credentials_response() -> Response {
    resp(400, error_body(1, "Invalid credentials"))
}

// ---------------------------------------------------------------------------------------
// The branches of the page

#[test]
fn no_2fa() {
    let mut s = started();
    let r = s.flow.submit_credentials(creds(PASSWORD), t(1));
    let _ = s.sent(r);
    let _ = s.reply(done(), t(2));
    assert_eq!(s.lines, [WIZARD, SIGN_IN]);
    assert_eq!(
        s.steps,
        [credentials_step(None), SignInStep::Done(tokens())]
    );
}

#[test]
fn google_only() {
    let mut s = started();
    let r = s.flow.submit_credentials(creds(PASSWORD), t(1));
    let _ = s.sent(r);
    let _ = s.reply(next(U, "2fa_google_auth"), t(2));
    let r = s.flow.submit_code(CODE, t(2));
    let req = s.sent(r);
    assert_eq!(body_json(&req), json!({"uuid": U, "code": CODE}));
    let _ = s.reply(done(), t(3));
    assert_eq!(s.lines, [WIZARD, SIGN_IN, GOOGLE]);
    assert_eq!(
        s.steps,
        [
            credentials_step(None),
            code_step(Method::Google, None),
            SignInStep::Done(tokens())
        ]
    );
}

#[test]
fn sms_only() {
    let mut s = started();
    let r = s.flow.submit_credentials(creds(PASSWORD), t(1));
    let _ = s.sent(r);
    let _ = s.reply(next(U, "2fa_sms_auth"), t(2));
    let r = s.flow.submit_code(CODE, t(2));
    let _ = s.sent(r);
    let _ = s.reply(done(), t(3));
    assert_eq!(s.lines, [WIZARD, SIGN_IN, SMS]);
    assert_eq!(
        s.steps,
        [
            credentials_step(None),
            code_step(Method::Sms, None),
            SignInStep::Done(tokens())
        ]
    );
}

#[test]
fn both_methods_then_google() {
    let mut s = started();
    let r = s.flow.submit_credentials(creds(PASSWORD), t(1));
    let _ = s.sent(r);
    let _ = s.reply(two_fa(U, json!([])), t(2));
    let r = s.flow.choose_method(Method::Google, t(2));
    let req = s.sent(r);
    assert_eq!(body_json(&req), json!({"uuid": U, "type": "google"}));
    let _ = s.reply(next(U, "2fa_google_auth"), t(3));
    let r = s.flow.submit_code(CODE, t(3));
    let _ = s.sent(r);
    let _ = s.reply(done(), t(4));
    assert_eq!(s.lines, [WIZARD, SIGN_IN, CHOOSE, GOOGLE]);
    assert_eq!(
        s.steps,
        [
            credentials_step(None),
            both(),
            code_step(Method::Google, None),
            SignInStep::Done(tokens())
        ]
    );
}

#[test]
fn both_methods_then_sms() {
    let mut s = started();
    let r = s.flow.submit_credentials(creds(PASSWORD), t(1));
    let _ = s.sent(r);
    let providers = json!([
        {"name": "google", "localizedCaption": "Google Authenticator", "enabled": true},
        {"name": "sms", "localizedCaption": "SMS", "enabled": true}
    ]);
    let _ = s.reply(two_fa(U, providers), t(2));
    let r = s.flow.choose_method(Method::Sms, t(2));
    let req = s.sent(r);
    assert_eq!(body_json(&req), json!({"uuid": U, "type": "sms"}));
    let _ = s.reply(next(U, "2fa_sms_auth"), t(3));
    let r = s.flow.submit_code(CODE, t(3));
    let _ = s.sent(r);
    let _ = s.reply(done(), t(4));
    assert_eq!(s.lines, [WIZARD, SIGN_IN, CHOOSE, SMS]);
    assert_eq!(
        s.steps,
        [
            credentials_step(None),
            both(),
            code_step(Method::Sms, None),
            SignInStep::Done(tokens())
        ]
    );
}

#[test]
fn two_fa_with_only_sms_enabled_offers_only_sms() {
    let mut s = started();
    let r = s.flow.submit_credentials(creds(PASSWORD), t(1));
    let _ = s.sent(r);
    let providers = json!([
        {"name": "google", "localizedCaption": "Google Authenticator", "enabled": false},
        {"name": "sms", "localizedCaption": "SMS", "enabled": true}
    ]);
    let _ = s.reply(two_fa(U, providers), t(2));
    let before = s.flow.clone();
    assert!(matches!(
        s.flow.choose_method(Method::Google, t(2)),
        Err(Error::InvalidInput { field: "type", .. })
    ));
    assert_eq!(s.flow, before);
    let r = s.flow.choose_method(Method::Sms, t(2));
    let _ = s.sent(r);
    let _ = s.reply(next(U, "2fa_sms_auth"), t(3));
    let r = s.flow.submit_code(CODE, t(3));
    let _ = s.sent(r);
    let _ = s.reply(done(), t(4));
    assert_eq!(s.lines, [WIZARD, SIGN_IN, CHOOSE, SMS]);
    assert_eq!(
        s.steps,
        [
            credentials_step(None),
            SignInStep::ChooseMethod {
                methods: vec![Method::Sms],
                rejected: None
            },
            code_step(Method::Sms, None),
            SignInStep::Done(tokens())
        ]
    );
}

#[test]
fn forced_password_reset_then_sign_in_with_the_new_password() {
    let mut s = started();
    let r = s.flow.submit_credentials(creds(PASSWORD), t(1));
    let _ = s.sent(r);
    let _ = s.reply(next(U, "reset_password_email"), t(2));
    let r = s.flow.request_reset_code(t(2));
    let req = s.sent(r);
    assert_eq!(body_json(&req), json!({"uuid": U}));
    let _ = s.reply(next(U, "reset_password"), t(3));
    let r = s.flow.reset_password("112233", "N3w-Passw0rd!", t(3));
    let req = s.sent(r);
    assert_eq!(
        body_json(&req),
        json!({
            "uuid": U,
            "code": "112233",
            "password": "N3w-Passw0rd!",
            "password_confirmation": "N3w-Passw0rd!"
        })
    );
    let _ = s.reply(next(U, "login"), t(4));
    // Sign in again from step 1, with a new wizard.
    let r = s.flow.start(t(4));
    let _ = s.sent(r);
    let _ = s.reply(login(UUID_B, false), t(5));
    let r = s.flow.submit_credentials(creds("N3w-Passw0rd!"), t(6));
    let req = s.sent(r);
    assert_eq!(
        body_json(&req),
        json!({
            "uuid": UUID_B,
            "email": EMAIL,
            "password": "N3w-Passw0rd!",
            "device_fingerprint": FINGERPRINT
        })
    );
    let _ = s.reply(terminate(UUID_B, "acc.ess.tok", "ref.resh.tok"), t(7));
    assert_eq!(s.lines, [WIZARD, SIGN_IN, RESTORE, RESET, WIZARD, SIGN_IN]);
    assert_eq!(
        s.steps,
        [
            credentials_step(None),
            SignInStep::PasswordResetRequired { rejected: None },
            SignInStep::ResetCode { rejected: None },
            SignInStep::PasswordChanged,
            credentials_step(None),
            SignInStep::Done(tokens())
        ]
    );
}

#[test]
fn wrong_password_then_right() {
    let mut s = started();
    let r = s.flow.submit_credentials(creds("wrong-password"), t(1));
    let req = s.sent(r);
    assert_eq!(body_json(&req)["password"], "wrong-password");
    let step = s.reply(bad_credentials_response(), t(2));
    let SignInStep::Credentials {
        rejected: Some(error),
        ..
    } = &step
    else {
        panic!("{step:?}")
    };
    assert_eq!(error.status(), 400);
    assert_eq!(error.messages(), ["Invalid credentials"]);
    assert_eq!(s.flow.last_email(), Some(EMAIL));
    assert_eq!(s.flow.current_step(), Some(step.clone()));
    let r = s.flow.submit_credentials(creds(PASSWORD), t(3));
    let req = s.sent(r);
    assert_eq!(body_json(&req)["password"], PASSWORD);
    let _ = s.reply(done(), t(4));
    assert_eq!(s.lines, [WIZARD, SIGN_IN, SIGN_IN]);
    assert_eq!(
        s.steps,
        [
            credentials_step(None),
            credentials_step(Some(invalid_credentials())),
            SignInStep::Done(tokens())
        ]
    );
}

#[test]
fn wrong_code_then_right() {
    let mut s = started();
    let r = s.flow.submit_credentials(creds(PASSWORD), t(1));
    let _ = s.sent(r);
    let _ = s.reply(next(U, "2fa_google_auth"), t(2));
    let r = s.flow.submit_code("000000", t(2));
    let _ = s.sent(r);
    let _ = s.reply(resp(400, error_body(2, "Invalid code")), t(3));
    let r = s.flow.submit_code(CODE, t(3));
    let req = s.sent(r);
    assert_eq!(body_json(&req), json!({"uuid": U, "code": CODE}));
    let _ = s.reply(done(), t(4));
    assert_eq!(s.lines, [WIZARD, SIGN_IN, GOOGLE, GOOGLE]);
    assert_eq!(
        s.steps,
        [
            credentials_step(None),
            code_step(Method::Google, None),
            code_step(
                Method::Google,
                Some(ApiError::new(400, Some(2), vec!["Invalid code".to_owned()]))
            ),
            SignInStep::Done(tokens())
        ]
    );
}

#[test]
fn recaptcha_required_before_anything_is_sent() {
    let mut s = Script::new(new_flow());
    let r = s.flow.start(t(0));
    let _ = s.sent(r);
    let _ = s.reply(login(U, true), t(0));
    let before = s.flow.clone();
    let result = s.flow.submit_credentials(creds(PASSWORD), t(1));
    assert!(
        matches!(
            result,
            Err(Error::InvalidInput {
                field: "recaptchaResponse",
                ..
            })
        ),
        "{result:?}"
    );
    assert_eq!(s.flow, before);
    assert!(!s.flow.is_awaiting_response());
    let r = s
        .flow
        .submit_credentials(creds(PASSWORD).with_recaptcha("03AGdBq2-token"), t(2));
    let req = s.sent(r);
    assert_eq!(
        body_json(&req),
        json!({
            "uuid": U,
            "email": EMAIL,
            "password": PASSWORD,
            "device_fingerprint": FINGERPRINT,
            "recaptchaResponse": "03AGdBq2-token"
        })
    );
    let _ = s.reply(done(), t(3));
    assert_eq!(s.lines, [WIZARD, SIGN_IN]);
    assert_eq!(
        s.steps,
        [
            SignInStep::Credentials {
                options: options(true),
                rejected: None
            },
            SignInStep::Done(tokens())
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Attempts and rate limits

/// Five refused attempts at T0+0..4.
fn five_refused_attempts(s: &mut Script) {
    for i in 0..5 {
        let r = s.flow.submit_credentials(creds("wrong-password"), t(i));
        let _ = s.sent(r);
        let step = s.reply(bad_credentials_response(), t(i));
        assert_eq!(step, credentials_step(Some(invalid_credentials())));
    }
}

/// Asserts that `flow` waits out a rate limit until `until`, as the contract says for the
/// guard's refusal and a 429 alike: state `RateLimited`, step `RetryAt(until)`, the same
/// deadline, nothing outstanding; and that `retry` at `early` (before `until`) gives
/// `RetryAt(until)` again and changes nothing.
#[track_caller]
fn assert_waits(flow: &mut SignIn, until: SystemTime, early: SystemTime) {
    assert!(early < until);
    assert_eq!(flow.state(), SignInState::RateLimited);
    assert_eq!(flow.current_step(), Some(SignInStep::RetryAt(until)));
    assert_eq!(flow.next_deadline(), Some(until));
    assert!(!flow.is_awaiting_response());
    let before = flow.clone();
    assert_eq!(flow.retry(early).held(), until);
    assert_eq!(*flow, before);
}

/// The request a flow that no limit holds sends for `creds(password)` in wizard `uuid`:
/// what a held attempt must send, byte for byte, once the wait is over.
fn unheld_credentials_request(uuid: &str, password: &str) -> http::Request<Vec<u8>> {
    let mut flow = new_flow();
    let _ = flow.start(t(0)).sent();
    let _ = flow.handle_response(&login(uuid, false), t(0)).unwrap();
    flow.submit_credentials(creds(password), t(0)).sent()
}

#[test]
fn attempt_guard_holds_the_sixth_attempt_inside_a_minute() {
    let mut s = started();
    five_refused_attempts(&mut s);
    // The sixth is not sent: the flow holds it until the first attempt ages out.
    let held = s.flow.submit_credentials(creds(PASSWORD), t(30)).held();
    assert_eq!(held, t(60));
    assert_eq!(s.lines.len(), 6, "nothing was sent: {:?}", s.lines);
    assert_eq!(s.flow.last_email(), None);
    assert_waits(&mut s.flow, t(60), t(30));
    assert_waits(&mut s.flow, t(60), t(59));
    // Held, the credentials cannot be typed again: `retry` sends the held ones.
    let before = s.flow.clone();
    assert!(matches!(
        s.flow.submit_credentials(creds("other-password"), t(59)),
        Err(Error::OutOfOrder {
            call: "submit_credentials",
            state: "rate limited"
        })
    ));
    assert_eq!(s.flow, before);
    let r = s.flow.retry(t(60));
    let req = s.sent(r);
    assert!(
        same_request(&req, &unheld_credentials_request(U, PASSWORD)),
        "{req:?}"
    );
    assert_eq!(body_json(&req)["password"], PASSWORD);
    assert_eq!(s.flow.state(), SignInState::AwaitCredentials);
    assert_eq!(s.flow.next_deadline(), None);
    // The retry counted as an attempt: with T0+1..4 and T0+60 in the window, the next one
    // waits for T0+1 to age out.
    assert_eq!(s.flow.guard().next_allowed(t(60)), Some(t(61)));
    let _ = s.reply(done(), t(61));
    assert_eq!(
        s.lines,
        [WIZARD, SIGN_IN, SIGN_IN, SIGN_IN, SIGN_IN, SIGN_IN, SIGN_IN]
    );
    assert_eq!(
        s.steps[s.steps.len() - 2..],
        [
            credentials_step(Some(invalid_credentials())),
            SignInStep::Done(tokens())
        ]
    );
}

#[test]
fn attempt_guard_outlives_the_flow() {
    let mut s = started();
    five_refused_attempts(&mut s);
    let guard = s.flow.into_guard();

    let mut flow = SignIn::with_guard(endpoint(), guard.clone());
    assert_eq!(flow.guard(), &guard);
    let req = flow.start(t(10)).sent();
    assert_eq!(line(&req), WIZARD);
    let _ = flow.handle_response(&login(UUID_B, false), t(10)).unwrap();
    assert_eq!(
        flow.submit_credentials(creds(PASSWORD), t(10)).held(),
        t(60)
    );
    assert_waits(&mut flow, t(60), t(10));
    let req = flow.retry(t(60)).sent();
    assert_eq!(line(&req), SIGN_IN);
    assert_eq!(body_json(&req)["uuid"], UUID_B);
    assert!(same_request(
        &req,
        &unheld_credentials_request(UUID_B, PASSWORD)
    ));
}

/// A held attempt (a mistyped password, say) can be dropped: `start` puts a new wizard in
/// its place, held as long as the attempt was (the limit still stands), then sent.
#[test]
fn starting_over_replaces_a_held_attempt_and_keeps_its_wait() {
    let mut s = started();
    five_refused_attempts(&mut s);
    assert_eq!(
        s.flow.submit_credentials(creds("mistyped"), t(30)).held(),
        t(60)
    );
    let held = s.flow.start(t(30)).held();
    assert_eq!(
        held,
        t(60),
        "the new wizard waits as long as the held attempt"
    );
    assert_eq!(s.lines.len(), 6, "nothing was sent: {:?}", s.lines);
    assert_waits(&mut s.flow, t(60), t(59));
    // From the end of the wait, `retry` sends the wizard, not the dropped attempt.
    let r = s.flow.retry(t(60));
    let req = s.sent(r);
    assert_eq!(line(&req), WIZARD);
    assert_eq!(s.flow.state(), SignInState::AwaitWizard);
    let _ = s.reply(login(UUID_B, false), t(60));
    let r = s.flow.submit_credentials(creds(PASSWORD), t(61));
    let req = s.sent(r);
    assert_eq!(body_json(&req)["uuid"], UUID_B);
    assert_eq!(body_json(&req)["password"], PASSWORD);
    // Once the wait is over, starting over sends the wizard at once.
    let mut flow = new_flow();
    let _ = flow.start(t(0)).sent();
    let _ = flow.handle_response(&login(U, false), t(0)).unwrap();
    let _ = flow.submit_credentials(creds(PASSWORD), t(0)).sent();
    let too_many = http::Response::builder()
        .status(429)
        .header("Retry-After", "5")
        .body(Vec::new())
        .unwrap();
    assert_eq!(
        flow.handle_response(&too_many, t(0)).unwrap(),
        SignInStep::RetryAt(t(5))
    );
    assert_eq!(line(&flow.start(t(5)).sent()), WIZARD);
    assert_eq!(flow.state(), SignInState::AwaitWizard);
}

#[test]
fn too_many_requests_with_retry_after_seconds() {
    let mut s = started();
    let r = s.flow.submit_credentials(creds(PASSWORD), t(1));
    let first = s.sent(r);
    let step = s.reply(resp_with(429, ("Retry-After", "120"), Vec::new()), t(2));
    assert_eq!(step, SignInStep::RetryAt(t(122)));
    assert_waits(&mut s.flow, t(122), t(121));
    let r = s.flow.retry(t(122));
    let again = s.sent(r);
    assert!(same_request(&first, &again), "{first:?} vs {again:?}");
    let _ = s.reply(done(), t(123));
    assert_eq!(s.lines, [WIZARD, SIGN_IN, SIGN_IN]);
    assert_eq!(
        s.steps,
        [
            credentials_step(None),
            SignInStep::RetryAt(t(122)),
            SignInStep::Done(tokens())
        ]
    );
}

#[test]
fn too_many_requests_with_retry_after_http_date() {
    let mut s = started();
    let r = s.flow.submit_credentials(creds(PASSWORD), t(1));
    let first = s.sent(r);
    // T0 is Mon, 22 Apr 2024 11:07:24 GMT; this is T0 + 300 s.
    let step = s.reply(
        resp_with(
            429,
            ("Retry-After", "Mon, 22 Apr 2024 11:12:24 GMT"),
            Vec::new(),
        ),
        t(2),
    );
    assert_eq!(step, SignInStep::RetryAt(t(300)));
    assert_waits(&mut s.flow, t(300), t(299));
    let r = s.flow.retry(t(300));
    let again = s.sent(r);
    assert!(same_request(&first, &again));
    assert_eq!(s.lines, [WIZARD, SIGN_IN, SIGN_IN]);
}

#[test]
fn too_many_requests_on_credentials_without_retry_after_waits_ten_minutes() {
    let mut s = started();
    let r = s.flow.submit_credentials(creds(PASSWORD), t(1));
    let first = s.sent(r);
    let step = s.reply(resp(429, Vec::new()), t(2));
    assert_eq!(step, SignInStep::RetryAt(t(602)));
    assert_waits(&mut s.flow, t(602), t(601));
    let r = s.flow.retry(t(602));
    let again = s.sent(r);
    assert!(same_request(&first, &again));
    // The server's block is carried by the guard, past this flow.
    assert_eq!(s.flow.guard().next_allowed(t(100)), Some(t(602)));
}

#[test]
fn server_error_is_refused_and_the_flow_still_waits() {
    let mut s = started();
    let r = s.flow.submit_credentials(creds(PASSWORD), t(1));
    let _ = s.sent(r);
    let before = s.flow.clone();
    let err = s
        .flow
        .handle_response(&resp(503, error_body(0, "Service unavailable")), t(2))
        .unwrap_err();
    assert_eq!(
        err,
        Error::Refused(ApiError::new(
            503,
            Some(0),
            vec!["Service unavailable".to_owned()]
        ))
    );
    assert_eq!(s.flow, before);
    assert!(s.flow.is_awaiting_response());
    let err = s
        .flow
        .handle_response(&resp(500, "<html>oops</html>"), t(3))
        .unwrap_err();
    assert_eq!(err, Error::Refused(ApiError::new(500, None, vec![])));
    assert_eq!(s.flow, before);
    let _ = s.reply(done(), t(4));
    assert_eq!(s.lines, [WIZARD, SIGN_IN]);
    assert_eq!(
        s.steps,
        [credentials_step(None), SignInStep::Done(tokens())]
    );
}

// ---------------------------------------------------------------------------------------
// Protocol surprises and misuse

#[test]
fn unknown_workflow_is_unsupported() {
    let mut s = started();
    let r = s.flow.submit_credentials(creds(PASSWORD), t(1));
    let _ = s.sent(r);
    let data = json!({"documents": ["passport"], "level": 2});
    let _ = s.reply(
        resp(200, envelope(200, data.clone(), false, U, "kyc_required")),
        t(2),
    );
    let expected = SignInStep::Unsupported {
        workflow: "kyc_required".to_owned(),
        data: Secret::new(data),
    };
    assert_eq!(s.steps, [credentials_step(None), expected.clone()]);
    assert_eq!(s.flow.current_step(), Some(expected));
    let before = s.flow.clone();
    assert!(matches!(
        s.flow.handle_response(&done(), t(3)),
        Err(Error::OutOfOrder {
            call: "handle_response",
            ..
        })
    ));
    assert_eq!(s.flow, before);
    // Starting again is allowed.
    let r = s.flow.start(t(2));
    let _ = s.sent(r);
    assert_eq!(s.lines, [WIZARD, SIGN_IN, WIZARD]);
}

#[test]
fn another_flows_uuid_is_malformed_and_changes_nothing() {
    let mut s = started();
    let r = s.flow.submit_credentials(creds(PASSWORD), t(1));
    let _ = s.sent(r);
    let before = s.flow.clone();
    let err = s
        .flow
        .handle_response(&terminate(UUID_B, "acc.ess.tok", "ref.resh.tok"), t(2))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Malformed {
                step: "POST /api/v2/my/signin",
                field: "uuid",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(s.flow, before);
    let _ = s.reply(done(), t(3));
    assert_eq!(
        s.steps,
        [credentials_step(None), SignInStep::Done(tokens())]
    );
}

#[test]
fn out_of_order_calls_are_refused_and_change_nothing() {
    fn assert_out_of_order(
        flow: &mut SignIn,
        expected_call: &str,
        call: impl FnOnce(&mut SignIn) -> Result<b2core_auth::Outgoing, Error>,
    ) {
        let before = flow.clone();
        match call(flow) {
            Err(Error::OutOfOrder { call, .. }) => assert_eq!(call, expected_call),
            other => panic!("{expected_call}: {other:?}"),
        }
        assert_eq!(*flow, before);
    }

    // Before start.
    let mut flow = new_flow();
    let before = flow.clone();
    assert!(matches!(
        flow.handle_response(&login(U, false), t(0)),
        Err(Error::OutOfOrder {
            call: "handle_response",
            ..
        })
    ));
    assert_eq!(flow, before);
    assert_out_of_order(&mut flow, "submit_credentials", |f| {
        f.submit_credentials(creds(PASSWORD), t(0))
    });
    assert_out_of_order(&mut flow, "submit_code", |f| f.submit_code(CODE, t(0)));
    assert_out_of_order(&mut flow, "choose_method", |f| {
        f.choose_method(Method::Sms, t(0))
    });
    assert_out_of_order(&mut flow, "retry", |f| f.retry(t(0)));

    // While the wizard request is outstanding.
    let _ = flow.start(t(0)).sent();
    assert_out_of_order(&mut flow, "start", |f| f.start(t(0)));
    assert_out_of_order(&mut flow, "submit_credentials", |f| {
        f.submit_credentials(creds(PASSWORD), t(0))
    });

    // At Credentials.
    let _ = flow.handle_response(&login(U, false), t(0)).unwrap();
    assert_out_of_order(&mut flow, "submit_code", |f| f.submit_code(CODE, t(0)));
    assert_out_of_order(&mut flow, "choose_method", |f| {
        f.choose_method(Method::Google, t(0))
    });
    assert_out_of_order(&mut flow, "request_reset_code", |f| {
        f.request_reset_code(t(0))
    });
    assert_out_of_order(&mut flow, "reset_password", |f| {
        f.reset_password("1", "x", t(0))
    });
    let before = flow.clone();
    assert!(matches!(
        flow.handle_response(&done(), t(0)),
        Err(Error::OutOfOrder {
            call: "handle_response",
            ..
        })
    ));
    assert_eq!(flow, before);

    // While credentials are outstanding.
    let _ = flow.submit_credentials(creds(PASSWORD), t(1)).sent();
    assert_out_of_order(&mut flow, "start", |f| f.start(t(1)));
    assert_out_of_order(&mut flow, "submit_credentials", |f| {
        f.submit_credentials(creds(PASSWORD), t(1))
    });

    // Done: nothing more to handle.
    let step = flow.handle_response(&done(), t(2)).unwrap();
    assert_eq!(step, SignInStep::Done(tokens()));
    let before = flow.clone();
    assert!(matches!(
        flow.handle_response(&done(), t(3)),
        Err(Error::OutOfOrder {
            call: "handle_response",
            ..
        })
    ));
    assert_eq!(flow, before);
    assert_out_of_order(&mut flow, "submit_code", |f| f.submit_code(CODE, t(3)));
}

// ---------------------------------------------------------------------------------------
// What a caller can read back (mutation testing found these unchecked)

#[test]
fn credentials_give_back_the_email_typed() {
    assert_eq!(creds(PASSWORD).email(), EMAIL);
    assert_eq!(
        b2core_auth::client::Credentials::new("other@example.com", PASSWORD, fingerprint()).email(),
        "other@example.com"
    );
}

#[test]
fn debug_of_a_flow_shows_its_uuid_and_step_but_no_secret() {
    let mut s = started();
    let outgoing = s.flow.submit_credentials(creds(PASSWORD), t(1)).unwrap();
    // What a call hands back prints its request line only: the body holds the password.
    let shown = format!("{outgoing:?}");
    assert_eq!(shown, format!("Request(POST {HOST}/api/v2/my/signin)"));
    let _ = s.sent(Ok(outgoing));
    let shown = format!("{:?}", s.flow);
    // The wizard's uuid is no secret: it is what a support engineer needs to see.
    assert!(shown.contains(&format!("{U:?}")), "{shown}");
    assert!(shown.contains("AwaitCredentials"), "{shown}");
    assert!(!shown.contains(PASSWORD), "{shown}");
    assert_eq!(s.flow.state(), SignInState::AwaitCredentials);
    assert_eq!(
        s.flow.state().to_string(),
        "waiting for the credentials answer"
    );
}
