//! Back Office staff sign-in with email 2FA (`spec/backoffice-auth.txt`): exact requests
//! from the page's curl examples, the page's answers, one transcript per branch, and a
//! property test over arbitrary responses and calls.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use b2core_auth::backoffice::{StaffGuards, StaffSignIn, StaffState, StaffStep, MAX_TFA_TOKEN_LEN};
use b2core_auth::format_rfc3339;
use b2core_auth::Flow;
use b2core_auth::{ApiError, Endpoint, Error, Outgoing, TokenPair};
use http::header::{ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use http::{Request, Response};
use proptest::prelude::*;
use serde_json::{json, Value};

#[path = "support/sent.rs"]
mod sent;
use sent::Sent;

/// 2021-12-31T23:00:00Z: an hour before the page's example `expiresAt`.
const T0: u64 = 1_640_991_600;
const SIGN_IN_STEP: &str = "POST /api/v2/signin";
const CONFIRM_STEP: &str = "POST /api/v2/2fa/confirm";

/// The page's sign-in answer with 2FA on.
const SPEC_SIGN_IN_2FA: &str = r#"{
"2faRequired": true,
"2faDetails": {
"token": "b2fcf999-2b0b-451d-9888-094a79117aa5",
"provider": "email",
"expiresAt": "2022-01-01T00:00:00+00:00"
}
}"#;

/// The page's 2FA confirmation answer (note createdAt == expiresAt).
const SPEC_CONFIRM: &str = r#"{
"accessToken": {
"token": "wyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIiwiaWF0IjoxNjU2MDY3MTU0LCJleHAiOjE2NTYxMDMxNTQsImlzcyI6Imh0dHBzOlwvXC9hcC52ZW5kb3IuY29tIn0.u6HuS_oQ4udk2EEUa-7XutJ0CAKIZty1OcFaqTckLRGYEr3xcWXZEHCfrhDl31N6_t0XP6_m-ESue_NoWx_f1sGMv6XMT0pPg1NQ1XJ1JJ4slaeEWjSuGIl8_Jbj-20zZOvwzUZbed7UQg0jUM11OUt0l1jVVSF19vKJJpVGFDYMIOHkS7tlFeKiypReYRd2af-Pf_au1v6vG3V42SFpZER3eKqALZkoT617B35enJdtUqmyrRgb_rCIOCwAHQdUcOuosyBUk9U-Cz3WEoHx5nqtvFVAeXKqlbn0Cbqk4joFt1FY8nUqlyVZNI9E3-dbjFPzod8Vej6rkAVd312M3w",
"createdAt": "2022-01-01T00:00:00+00:00",
"expiresAt": "2022-01-01T00:00:00+00:00"
},
"refreshToken": {
"token": "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIiwiaWF0IjoxNjU2MDY3MTU0LCJleHAiOjE2NTYxMDMxNTQsImlzcyI6Imh0dHBzOlwvXC9hcC52ZW5kb3IuY29tIn0.u6HuS_oQ4udk2EEUa-7XutJ0CAKIZty1OcFaqTckLRGYEr3xcWXZEHCfrhDl31N6_t0XP6_m-ESue_NoWx_f1sGMv6XMT0pPg1NQ1XJ1JJ4slaeEWjSuGIl8_Jbj-20zZOvwzUZbed7UQg0jUM11OUt0l1jVVSF19vKJJpVGFDYMIOHkS7tlFeKiypReYRd2af-Pf_au1v6vG3V42SFpZER3eKqALZkoT617B35enJdtUqmyrRgb_rCIOCwAHQdUcOuosyBUk9U-Cz3WEoHx5nqtvFVAeXKqlbn0Cbqk4joFt1FY8nUqlyVZNI9E3-dbjFPzod8Vej6rkAVd312M3w",
"createdAt": "2022-01-01T00:00:00+00:00",
"expiresAt": "2022-01-01T00:00:00+00:00"
}
}"#;

const WRONG_PASSWORD: &str = r#"{"error":{"code":1,"details":[{"issue":"Invalid credentials"}]}}"#;
const WRONG_CODE: &str = r#"{"error":{"code":2,"details":[{"issue":"Invalid code"}]}}"#;

fn t(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0 + secs)
}

fn rfc3339(at: SystemTime) -> String {
    format_rfc3339(at).unwrap()
}

fn flow() -> StaffSignIn {
    StaffSignIn::new(Endpoint::new("https://host.name").unwrap())
}

fn resp(status: u16, body: &str) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .body(body.as_bytes().to_vec())
        .unwrap()
}

fn resp_429(retry_after: Option<&str>) -> Response<Vec<u8>> {
    let mut b = Response::builder().status(429);
    if let Some(r) = retry_after {
        b = b.header(RETRY_AFTER, r);
    }
    b.body(Vec::new()).unwrap()
}

fn tfa_answer(token: &str, expires_at: SystemTime) -> String {
    json!({"2faRequired": true,
           "2faDetails": {"token": token, "provider": "email", "expiresAt": rfc3339(expires_at)}})
    .to_string()
}

fn pair_json(access: &str, refresh: &str) -> Value {
    json!({
        "accessToken": {"token": access, "createdAt": "2021-12-31T23:00:00+00:00",
                        "expiresAt": "2021-12-31T23:15:00+00:00"},
        "refreshToken": {"token": refresh, "createdAt": "2021-12-31T23:00:00+00:00",
                         "expiresAt": "2022-01-01T00:00:00+00:00"},
    })
}

fn no_tfa_answer(access: &str, refresh: &str) -> String {
    let mut v = pair_json(access, refresh);
    v["2faRequired"] = json!(false);
    v.to_string()
}

fn pair(access: &str, refresh: &str) -> TokenPair {
    serde_json::from_value(pair_json(access, refresh)).unwrap()
}

fn api_error(status: u16, body: &str) -> ApiError {
    let v: Value = serde_json::from_str(body).unwrap();
    let issues = v["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["issue"].as_str().unwrap().to_owned())
        .collect();
    ApiError::new(status, v["error"]["code"].as_i64(), issues)
}

/// Method, full URL, exactly the two JSON headers, and the body as parsed JSON.
fn assert_request(req: &Request<Vec<u8>>, url: &str, body: Value) {
    assert_eq!(req.method(), http::Method::POST);
    assert_eq!(req.uri(), url);
    assert_eq!(req.headers().len(), 2, "{:?}", req.headers().keys());
    assert_eq!(req.headers()[ACCEPT], "application/json");
    assert_eq!(req.headers()[CONTENT_TYPE], "application/json");
    let sent: Value = serde_json::from_slice(req.body()).unwrap();
    assert_eq!(sent, body);
}

fn email_code(expires_at: SystemTime, rejected: Option<ApiError>) -> StaffStep {
    StaffStep::EmailCode {
        provider: "email".into(),
        expires_at,
        rejected,
    }
}

/// A flow at the page's `EmailCode` step (token b2fcf999-..., expiring at 2022-01-01).
fn at_email_code() -> StaffSignIn {
    let mut f = flow();
    let _ = f.sign_in("foo@bar.com", "Secret123", t(0)).sent();
    let _ = f
        .handle_response(&resp(200, SPEC_SIGN_IN_2FA), t(0))
        .unwrap();
    f
}

fn path(req: &Request<Vec<u8>>) -> String {
    req.uri().path().to_owned()
}

// ---------------------------------------------------------------------------------------
// Requests and answers of the page

#[test]
fn sign_in_request_is_the_pages_curl_example() {
    let mut f = flow();
    let req = f.sign_in("foo@bar.com", "Secret123", t(0)).sent();
    assert_request(
        &req,
        "https://host.name/api/v2/signin",
        json!({"email": "foo@bar.com", "password": "Secret123"}),
    );
    assert!(f.is_awaiting_response());
    assert_eq!(f.current_step(), None);
}

#[test]
fn confirm_request_is_the_pages_curl_example() {
    let mut f = at_email_code();
    let req = f.submit_code("123456", t(1)).sent();
    assert_request(
        &req,
        "https://host.name/api/v2/2fa/confirm",
        json!({"token": "b2fcf999-2b0b-451d-9888-094a79117aa5", "code": "123456"}),
    );
}

#[test]
fn requests_keep_the_endpoint_prefix() {
    let mut f = StaffSignIn::new(Endpoint::new("https://host.name/b2core/").unwrap());
    let req = f.sign_in("foo@bar.com", "Secret123", t(0)).sent();
    assert_eq!(req.uri(), "https://host.name/b2core/api/v2/signin");
}

#[test]
fn the_pages_sign_in_answer_asks_for_the_email_code() {
    let mut f = flow();
    let _ = f.sign_in("foo@bar.com", "Secret123", t(0)).sent();
    let step = f
        .handle_response(&resp(200, SPEC_SIGN_IN_2FA), t(0))
        .unwrap();
    let expires = t(3600);
    assert_eq!(rfc3339(expires), "2022-01-01T00:00:00+00:00");
    assert_eq!(step, email_code(expires, None));
    assert_eq!(f.current_step(), Some(step));
    // The 2FA token is nowhere to be seen.
    assert!(!format!("{f:?}").contains("b2fcf999"));
}

#[test]
fn the_pages_confirm_answer_signs_in_even_with_created_at_equal_to_expires_at() {
    let mut f = at_email_code();
    let _ = f.submit_code("123456", t(1)).sent();
    let step = f.handle_response(&resp(200, SPEC_CONFIRM), t(1)).unwrap();
    let StaffStep::Done(tokens) = step else {
        panic!("{step:?}")
    };
    let at = t(3600);
    assert_eq!(rfc3339(at), "2022-01-01T00:00:00+00:00");
    assert_eq!(tokens.access().created_at(), at);
    assert_eq!(tokens.access().expires_at(), at);
    assert!(tokens.access().secret().expose().starts_with("wyJ0eXAi"));
    assert!(tokens.refresh().secret().expose().starts_with("eyJ0eXAi"));
    assert_eq!(
        tokens,
        serde_json::from_str::<TokenPair>(SPEC_CONFIRM).unwrap()
    );
    assert_eq!(f.current_step(), None);
}

// ---------------------------------------------------------------------------------------
// Transcripts: the exact sequence of requests and steps per scenario

#[test]
fn transcript_without_2fa() {
    let mut f = flow();
    let mut seen = Vec::new();
    let req = f.sign_in("foo@bar.com", "Secret123", t(0)).sent();
    assert_eq!(path(&req), "/api/v2/signin");
    seen.push(
        f.handle_response(&resp(200, &no_tfa_answer("acc.1", "ref.1")), t(1))
            .unwrap(),
    );
    assert_eq!(seen, [StaffStep::Done(pair("acc.1", "ref.1"))]);
    assert_eq!(
        f.sign_in("foo@bar.com", "Secret123", t(2)).unwrap_err(),
        Error::OutOfOrder {
            call: "sign_in",
            state: "signed in"
        }
    );
}

#[test]
fn transcript_with_2fa() {
    let mut f = flow();
    let mut seen = vec![f.current_step().unwrap()];
    let mut paths = vec![path(&f.sign_in("foo@bar.com", "Secret123", t(0)).sent())];
    seen.push(
        f.handle_response(&resp(200, SPEC_SIGN_IN_2FA), t(1))
            .unwrap(),
    );
    paths.push(path(&f.submit_code("123456", t(30)).sent()));
    seen.push(f.handle_response(&resp(200, SPEC_CONFIRM), t(31)).unwrap());
    assert_eq!(paths, ["/api/v2/signin", "/api/v2/2fa/confirm"]);
    assert_eq!(
        seen,
        [
            StaffStep::Credentials { rejected: None },
            email_code(t(3600), None),
            StaffStep::Done(serde_json::from_str(SPEC_CONFIRM).unwrap()),
        ]
    );
}

#[test]
fn transcript_wrong_code_then_right() {
    let mut f = at_email_code();
    let mut seen = Vec::new();
    let first = f.submit_code("111111", t(10)).sent();
    seen.push(f.handle_response(&resp(400, WRONG_CODE), t(11)).unwrap());
    let second = f.submit_code("123456", t(20)).sent();
    seen.push(f.handle_response(&resp(200, SPEC_CONFIRM), t(21)).unwrap());
    assert_eq!(
        seen,
        [
            email_code(t(3600), Some(api_error(400, WRONG_CODE))),
            StaffStep::Done(serde_json::from_str(SPEC_CONFIRM).unwrap()),
        ]
    );
    // Both carried the same 2FA token.
    let token =
        |r: &Request<Vec<u8>>| serde_json::from_slice::<Value>(r.body()).unwrap()["token"].clone();
    assert_eq!(token(&first), token(&second));
    assert_eq!(
        serde_json::from_slice::<Value>(first.body()).unwrap()["code"],
        "111111"
    );
}

#[test]
fn transcript_expired_2fa_token_is_refused_before_sending_then_sign_in_again() {
    let mut f = flow();
    let _ = f.sign_in("foo@bar.com", "Secret123", t(0)).sent();
    let step = f
        .handle_response(&resp(200, &tfa_answer("tfa-token-1", t(300))), t(1))
        .unwrap();
    assert_eq!(step, email_code(t(300), None));

    // At expiresAt exactly: refused, nothing sent, nothing changed.
    let before = f.clone();
    assert_eq!(
        f.submit_code("123456", t(300)).unwrap_err(),
        Error::InvalidInput {
            field: "2FA token",
            reason: "expired: sign in again"
        }
    );
    assert_eq!(f, before);
    assert_eq!(f.guards(), before.guards());
    assert_eq!(f.current_step(), Some(email_code(t(300), None)));

    // Sign in again from the code step.
    let req = f.sign_in("foo@bar.com", "Secret123", t(301)).sent();
    assert_eq!(path(&req), "/api/v2/signin");
    let step = f
        .handle_response(&resp(200, &tfa_answer("tfa-token-2", t(900))), t(302))
        .unwrap();
    assert_eq!(step, email_code(t(900), None));
    let req = f.submit_code("123456", t(303)).sent();
    assert_request(
        &req,
        "https://host.name/api/v2/2fa/confirm",
        json!({"token": "tfa-token-2", "code": "123456"}),
    );
    let step = f.handle_response(&resp(200, SPEC_CONFIRM), t(304)).unwrap();
    assert!(matches!(step, StaffStep::Done(_)));
}

#[test]
fn transcript_server_says_2fa_token_expired_then_sign_in_again() {
    let mut f = at_email_code();
    let _ = f.submit_code("123456", t(10)).sent();
    let body = r#"{"error":{"code":3,"details":[{"issue":"Token expired"}]}}"#;
    let step = f.handle_response(&resp(401, body), t(11)).unwrap();
    assert_eq!(
        step,
        StaffStep::Credentials {
            rejected: Some(api_error(401, body))
        }
    );
    assert_eq!(f.last_email(), Some("foo@bar.com"));
    assert_eq!(
        f.submit_code("123456", t(12)).unwrap_err(),
        Error::OutOfOrder {
            call: "submit_code",
            state: "asking for credentials"
        }
    );
    let _ = f.sign_in("foo@bar.com", "Secret123", t(12)).sent();
    let step = f
        .handle_response(&resp(200, SPEC_SIGN_IN_2FA), t(13))
        .unwrap();
    assert_eq!(step, email_code(t(3600), None));
}

/// The flow waits out a rate limit until `until`, the same way for the guard's refusal
/// and a 429: state `RateLimited`, step `RetryAt(until)`, the same deadline, nothing
/// outstanding; `retry` at `early` (before `until`) is `RetryAt(until)` again and changes
/// nothing.
#[track_caller]
fn assert_waits(f: &mut StaffSignIn, until: SystemTime, early: SystemTime) {
    assert!(early < until);
    assert_eq!(f.state(), StaffState::RateLimited);
    assert_eq!(f.current_step(), Some(StaffStep::RetryAt(until)));
    assert_eq!(f.next_deadline(), Some(until));
    assert!(!f.is_awaiting_response());
    let before = f.clone();
    assert_eq!(f.retry(early).held(), until);
    assert_eq!(*f, before);
}

/// True when two requests are the same, byte for byte.
fn same_request(a: &Request<Vec<u8>>, b: &Request<Vec<u8>>) -> bool {
    a.method() == b.method()
        && a.uri() == b.uri()
        && a.headers() == b.headers()
        && a.body() == b.body()
}

#[test]
fn transcript_sign_in_guard_holds_the_sixth_inside_a_minute() {
    let mut f = flow();
    let mut seen = Vec::new();
    for i in 0..5 {
        let _ = f.sign_in("foo@bar.com", "wrong", t(i * 10)).sent();
        seen.push(
            f.handle_response(&resp(400, WRONG_PASSWORD), t(i * 10 + 1))
                .unwrap(),
        );
    }
    let refused = StaffStep::Credentials {
        rejected: Some(api_error(400, WRONG_PASSWORD)),
    };
    assert_eq!(seen, vec![refused.clone(); 5]);

    // The sixth is not sent: the flow holds it until the first attempt ages out at t(60).
    assert_eq!(f.sign_in("foo@bar.com", "Secret123", t(59)).held(), t(60));
    assert_waits(&mut f, t(60), t(59));
    assert_eq!(f.last_email(), None);
    let req = f.retry(t(60)).sent();
    let unheld = flow().sign_in("foo@bar.com", "Secret123", t(0)).sent();
    assert!(same_request(&req, &unheld), "{req:?}");
    assert_eq!(f.state(), StaffState::AwaitSignIn);
    assert_eq!(f.next_deadline(), None);
    // The retry counted: t(10), t(20), t(30), t(40) and t(60) are inside the window.
    assert_eq!(f.guards().sign_in().next_allowed(t(60)), Some(t(70)));
    assert_eq!(
        f.handle_response(&resp(200, &no_tfa_answer("acc.1", "ref.1")), t(61)),
        Ok(StaffStep::Done(pair("acc.1", "ref.1")))
    );
}

#[test]
fn transcript_confirm_guard_holds_the_fourth_inside_a_minute() {
    let mut f = at_email_code();
    let mut seen = Vec::new();
    for i in 0..3 {
        let _ = f.submit_code("000000", t(100 + i * 5)).sent();
        seen.push(
            f.handle_response(&resp(400, WRONG_CODE), t(101 + i * 5))
                .unwrap(),
        );
    }
    let wrong = email_code(t(3600), Some(api_error(400, WRONG_CODE)));
    assert_eq!(seen, vec![wrong.clone(); 3]);

    assert_eq!(f.submit_code("123456", t(150)).held(), t(160));
    assert_waits(&mut f, t(160), t(150));
    assert_waits(&mut f, t(160), t(159));
    // Held, the code cannot be typed again: `retry` sends the held one.
    let before = f.clone();
    assert_eq!(
        f.submit_code("654321", t(159)).unwrap_err(),
        Error::OutOfOrder {
            call: "submit_code",
            state: "rate limited"
        }
    );
    assert_eq!(f, before);
    // The sign-in counter is separate: 1 of 5 used.
    assert_eq!(f.guards().sign_in().next_allowed(t(150)), None);
    let req = f.retry(t(160)).sent();
    let unheld = at_email_code().submit_code("123456", t(1)).sent();
    assert!(same_request(&req, &unheld), "{req:?}");
    assert_eq!(f.state(), StaffState::AwaitConfirm);
    // The retry counted: t(105), t(110) and t(160) are inside the window.
    assert_eq!(f.guards().confirm().next_allowed(t(160)), Some(t(165)));
    assert!(matches!(
        f.handle_response(&resp(200, SPEC_CONFIRM), t(161)),
        Ok(StaffStep::Done(_))
    ));
}

#[test]
fn a_held_confirmation_is_not_sent_once_its_2fa_token_expired() {
    let mut f = flow();
    let _ = f.sign_in("foo@bar.com", "Secret123", t(0)).sent();
    let step = f
        .handle_response(&resp(200, &tfa_answer("tfa-token-1", t(155))), t(1))
        .unwrap();
    assert_eq!(step, email_code(t(155), None));
    for i in 0..3 {
        let _ = f.submit_code("000000", t(100 + i * 5)).sent();
        let _ = f
            .handle_response(&resp(400, WRONG_CODE), t(101 + i * 5))
            .unwrap();
    }
    // Held until t(160), but the token expires at t(155): the retry would only be refused.
    assert_eq!(f.submit_code("123456", t(150)).held(), t(160));
    let before = f.clone();
    let expired = Error::InvalidInput {
        field: "2FA token",
        reason: "expired: sign in again",
    };
    assert_eq!(f.retry(t(160)).unwrap_err(), expired);
    assert_eq!(f, before);
    // The same after a transport error: an unanswered confirmation is not resent late.
    let mut g = at_email_code(); // its token expires at 2022-01-01
    let _ = g.submit_code("123456", t(10)).sent();
    let late = SystemTime::UNIX_EPOCH + Duration::from_secs(1_641_081_600);
    assert_eq!(g.retry(late).unwrap_err(), expired);
    // Signing in again is the way on, from the held state.
    let req = f.sign_in("foo@bar.com", "Secret123", t(161)).sent();
    assert_eq!(path(&req), "/api/v2/signin");
}

#[test]
fn transcript_429_then_retry() {
    let mut f = flow();
    let first = f.sign_in("foo@bar.com", "Secret123", t(0)).sent();
    let step = f.handle_response(&resp_429(Some("30")), t(1)).unwrap();
    assert_eq!(step, StaffStep::RetryAt(t(31)));
    assert_waits(&mut f, t(31), t(30));
    // The server's block holds for sign-in too: a new sign-in is held until then.
    assert_eq!(f.sign_in("foo@bar.com", "Secret123", t(30)).held(), t(31));
    assert_waits(&mut f, t(31), t(30));
    let again = f.retry(t(31)).sent();
    assert!(same_request(&again, &first), "{again:?}");
    let step = f
        .handle_response(&resp(200, SPEC_SIGN_IN_2FA), t(32))
        .unwrap();
    assert_eq!(step, email_code(t(3600), None));

    // On confirm: an HTTP date, then no Retry-After at all (60 s).
    let first = f.submit_code("123456", t(40)).sent();
    let step = f
        .handle_response(&resp_429(Some("Fri, 31 Dec 2021 23:02:00 GMT")), t(41))
        .unwrap();
    assert_eq!(step, StaffStep::RetryAt(t(120)));
    assert_waits(&mut f, t(120), t(119));
    let req = f.retry(t(120)).sent();
    assert!(same_request(&req, &first), "{req:?}");
    assert_request(
        &req,
        "https://host.name/api/v2/2fa/confirm",
        json!({"token": "b2fcf999-2b0b-451d-9888-094a79117aa5", "code": "123456"}),
    );
    let step = f.handle_response(&resp_429(None), t(121)).unwrap();
    assert_eq!(step, StaffStep::RetryAt(t(181)));
    assert_waits(&mut f, t(181), t(180));
    let req = f.retry(t(181)).sent();
    assert!(same_request(&req, &first), "{req:?}");
    assert!(matches!(
        f.handle_response(&resp(200, SPEC_CONFIRM), t(182)),
        Ok(StaffStep::Done(_))
    ));
}

#[test]
fn sign_in_is_allowed_while_waiting_out_a_429_on_confirm() {
    let mut f = at_email_code();
    let _ = f.submit_code("123456", t(10)).sent();
    assert_eq!(
        f.handle_response(&resp_429(Some("600")), t(11)),
        Ok(StaffStep::RetryAt(t(611)))
    );
    let req = f.sign_in("foo@bar.com", "Secret123", t(12)).sent();
    assert_eq!(path(&req), "/api/v2/signin");
    let _ = f
        .handle_response(&resp(200, SPEC_SIGN_IN_2FA), t(13))
        .unwrap();
    // The confirm counter remembers the server's block: the next code is held until then.
    assert_eq!(f.submit_code("123456", t(14)).held(), t(611));
    assert_waits(&mut f, t(611), t(610));
    let req = f.retry(t(611)).sent();
    assert_request(
        &req,
        "https://host.name/api/v2/2fa/confirm",
        json!({"token": "b2fcf999-2b0b-451d-9888-094a79117aa5", "code": "123456"}),
    );
}

#[test]
fn transcript_wrong_password_then_right() {
    let mut f = flow();
    let mut seen = Vec::new();
    let _ = f.sign_in("foo@bar.com", "Secret12", t(0)).sent();
    seen.push(f.handle_response(&resp(400, WRONG_PASSWORD), t(1)).unwrap());
    assert_eq!(f.last_email(), Some("foo@bar.com"));
    let req = f.sign_in("foo@bar.com", "Secret123", t(2)).sent();
    assert_request(
        &req,
        "https://host.name/api/v2/signin",
        json!({"email": "foo@bar.com", "password": "Secret123"}),
    );
    seen.push(
        f.handle_response(&resp(200, SPEC_SIGN_IN_2FA), t(3))
            .unwrap(),
    );
    let _ = f.submit_code("123456", t(4)).sent();
    seen.push(f.handle_response(&resp(200, SPEC_CONFIRM), t(5)).unwrap());
    assert_eq!(
        seen,
        [
            StaffStep::Credentials {
                rejected: Some(ApiError::new(
                    400,
                    Some(1),
                    vec!["Invalid credentials".into()]
                ))
            },
            email_code(t(3600), None),
            StaffStep::Done(serde_json::from_str(SPEC_CONFIRM).unwrap()),
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Malformed answers, misuse, bad input

fn malformed_field(f: &mut StaffSignIn, body: &str, step: &'static str) -> &'static str {
    let before = f.clone();
    let result = f.handle_response(&resp(200, body), t(1));
    assert_eq!(*f, before, "{body}");
    assert!(f.is_awaiting_response());
    match result {
        Err(Error::Malformed { step: s, field, .. }) if s == step => field,
        other => panic!("{body}: {other:?}"),
    }
}

#[test]
fn inconsistent_sign_in_answers_name_the_field() {
    let details = |token: &str, expires: &str| {
        json!({"2faRequired": true,
               "2faDetails": {"token": token, "provider": "email", "expiresAt": expires}})
        .to_string()
    };
    let ok_at = "2022-01-01T00:00:00+00:00";
    let mut only_access = pair_json("a.1", "r.1");
    only_access["2faRequired"] = json!(false);
    only_access.as_object_mut().unwrap().remove("refreshToken");
    let mut bad_expiry = pair_json("a.1", "r.1");
    bad_expiry["2faRequired"] = json!(false);
    bad_expiry["accessToken"]["expiresAt"] = json!("soon");
    let cases = [
        (r#"{"2faRequired":true}"#.to_owned(), "2faDetails"),
        (
            r#"{"2faRequired":true,"2faDetails":null}"#.to_owned(),
            "2faDetails",
        ),
        (r#"{"2faRequired":false}"#.to_owned(), "accessToken"),
        (only_access.to_string(), "refreshToken"),
        (bad_expiry.to_string(), "accessToken.expiresAt"),
        (details("tok", "tomorrow"), "2faDetails.expiresAt"),
        (
            details("tok", "2022-13-01T00:00:00+00:00"),
            "2faDetails.expiresAt",
        ),
        (details("", ok_at), "2faDetails.token"),
        (details("to ken", ok_at), "2faDetails.token"),
        (details("tøken", ok_at), "2faDetails.token"),
        (details("tok\n", ok_at), "2faDetails.token"),
        (
            details(&"x".repeat(MAX_TFA_TOKEN_LEN + 1), ok_at),
            "2faDetails.token",
        ),
        (r#"{"2faDetails":null}"#.to_owned(), "body"),
        (r#"{"2faRequired":"yes"}"#.to_owned(), "body"),
        (
            r#"{"2faRequired":true,"2faDetails":{"token":"t"}}"#.to_owned(),
            "body",
        ),
        ("".to_owned(), "body"),
        (SPEC_SIGN_IN_2FA[..40].to_owned(), "body"),
    ];
    for (body, field) in cases {
        let mut f = flow();
        let _ = f.sign_in("foo@bar.com", "Secret123", t(0)).sent();
        assert_eq!(
            malformed_field(&mut f, &body, SIGN_IN_STEP),
            field,
            "{body}"
        );
    }
    // The limit itself is fine.
    let mut f = flow();
    let _ = f.sign_in("foo@bar.com", "Secret123", t(0)).sent();
    let long = "x".repeat(MAX_TFA_TOKEN_LEN);
    let step = f.handle_response(&resp(200, &details(&long, ok_at)), t(1));
    assert_eq!(step, Ok(email_code(t(3600), None)));
}

#[test]
fn the_provider_may_be_as_long_as_any_field_and_no_longer() {
    let answer = |provider: &str| {
        json!({"2faRequired": true, "2faDetails": {
            "token": "b2fcf999-2b0b-451d-9888-094a79117aa5",
            "provider": provider,
            "expiresAt": "1970-01-01T01:00:00+00:00",
        }})
        .to_string()
    };
    let mut f = flow();
    let _ = f.sign_in("foo@bar.com", "Secret123", t(0)).sent();
    let before = f.clone();
    let too_long = "e".repeat(b2core_auth::MAX_FIELD_LEN + 1);
    match f.handle_response(&resp(200, &answer(&too_long)), t(1)) {
        Err(Error::Malformed {
            field: "2faDetails.provider",
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(f, before);
    let longest = "e".repeat(b2core_auth::MAX_FIELD_LEN);
    match f.handle_response(&resp(200, &answer(&longest)), t(1)) {
        Ok(StaffStep::EmailCode { provider, .. }) => assert_eq!(provider, longest),
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_errors_never_quote_the_2fa_token() {
    let mut f = flow();
    let _ = f.sign_in("foo@bar.com", "Secret123", t(0)).sent();
    let body = r#"{"2faRequired":true,"2faDetails":{"token":"leaky secret-value","provider":"email","expiresAt":"x"}}"#;
    let err = f.handle_response(&resp(200, body), t(1)).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("leaky"), "{text}");
    let body = r#"{"2faRequired":1,"2faDetails":{"token":["leaky-secret-value"]}}"#;
    let err = f.handle_response(&resp(200, body), t(1)).unwrap_err();
    assert!(!format!("{err} {err:?}").contains("leaky"));
}

#[test]
fn inconsistent_confirm_answers_name_the_field() {
    let mut no_refresh = pair_json("a.1", "r.1");
    no_refresh.as_object_mut().unwrap().remove("refreshToken");
    let mut empty_access = pair_json("a.1", "r.1");
    empty_access["accessToken"]["token"] = json!("");
    let mut backwards = pair_json("a.1", "r.1");
    backwards["refreshToken"]["expiresAt"] = json!("2021-12-31T22:00:00+00:00");
    let cases = [
        (no_refresh.to_string(), "body"),
        (empty_access.to_string(), "accessToken.token"),
        (backwards.to_string(), "refreshToken.expiresAt"),
        ("null".to_owned(), "body"),
        (SPEC_SIGN_IN_2FA.to_owned(), "body"),
    ];
    for (body, field) in cases {
        let mut f = at_email_code();
        let _ = f.submit_code("123456", t(1)).sent();
        assert_eq!(
            malformed_field(&mut f, &body, CONFIRM_STEP),
            field,
            "{body}"
        );
    }
}

#[test]
fn server_errors_leave_the_flow_waiting() {
    let mut f = flow();
    let _ = f.sign_in("foo@bar.com", "Secret123", t(0)).sent();
    let before = f.clone();
    assert_eq!(
        f.handle_response(&resp(503, "<html>"), t(1)),
        Err(Error::Refused(ApiError::new(503, None, vec![])))
    );
    assert_eq!(f, before);
    // A transport error: the same request again (a new attempt).
    let req = f.retry(t(2)).sent();
    assert_eq!(path(&req), "/api/v2/signin");
    assert_eq!(f.guards().sign_in().next_allowed(t(2)), None);
}

#[test]
fn calls_out_of_order_change_nothing() {
    let mut f = flow();
    let before = f.clone();
    assert_eq!(
        f.submit_code("123456", t(0)).unwrap_err(),
        Error::OutOfOrder {
            call: "submit_code",
            state: "asking for credentials"
        }
    );
    assert_eq!(
        f.handle_response(&resp(200, SPEC_CONFIRM), t(0)),
        Err(Error::OutOfOrder {
            call: "handle_response",
            state: "asking for credentials"
        })
    );
    assert_eq!(
        f.retry(t(0)).unwrap_err(),
        Error::OutOfOrder {
            call: "retry",
            state: "asking for credentials"
        }
    );
    assert_eq!(f, before);
    let _ = f.sign_in("foo@bar.com", "Secret123", t(0)).sent();
    let before = f.clone();
    assert_eq!(
        f.sign_in("foo@bar.com", "Secret123", t(0)).unwrap_err(),
        Error::OutOfOrder {
            call: "sign_in",
            state: "waiting for the sign-in answer"
        }
    );
    assert_eq!(
        f.submit_code("123456", t(0)).unwrap_err(),
        Error::OutOfOrder {
            call: "submit_code",
            state: "waiting for the sign-in answer"
        }
    );
    assert_eq!(f, before);
}

#[test]
fn bad_input_is_refused_before_sending() {
    let mut f = flow();
    let before = f.clone();
    for (email, password, field) in [
        ("foo", "Secret123", "email"),
        ("", "Secret123", "email"),
        ("foo@bar.com\r\nX: y", "Secret123", "email"),
        ("foo@bar.com", "", "password"),
    ] {
        match f.sign_in(email, password, t(0)) {
            Err(Error::InvalidInput { field: got, .. }) => assert_eq!(got, field),
            other => panic!("{email:?}: {other:?}"),
        }
        assert_eq!(f, before);
    }
    let mut f = at_email_code();
    let before = f.clone();
    for code in ["", "12\n34"] {
        assert!(matches!(
            f.submit_code(code, t(1)),
            Err(Error::InvalidInput { field: "code", .. })
        ));
    }
    assert_eq!(f, before);
    // Refused input does not count against the limit.
    assert_eq!(f.guards().confirm().next_allowed(t(1)), None);
}

#[test]
fn guards_outlive_a_flow() {
    let endpoint = Endpoint::new("https://host.name").unwrap();
    let mut guards = StaffGuards::default();
    for i in 0..5 {
        let mut f = StaffSignIn::with_guards(endpoint.clone(), guards);
        let _ = f.sign_in("foo@bar.com", "Secret123", t(i)).sent();
        guards = f.into_guards();
    }
    let mut f = StaffSignIn::with_guards(endpoint, guards);
    assert_eq!(f.sign_in("foo@bar.com", "Secret123", t(30)).held(), t(60));
    assert_waits(&mut f, t(60), t(30));
    let req = f.retry(t(60)).sent();
    assert_eq!(path(&req), "/api/v2/signin");
}

#[test]
fn parked_flows_resume_where_they_were() {
    let mut f = at_email_code();
    let json = serde_json::to_string(&f).unwrap();
    // The parked form holds the 2FA token (documented): it must be stored like a secret.
    assert!(json.contains("b2fcf999-2b0b-451d-9888-094a79117aa5"));
    let mut back: StaffSignIn = serde_json::from_str(&json).unwrap();
    assert_eq!(back, f);
    assert_eq!(
        back.submit_code("123456", t(1)).sent().body(),
        f.submit_code("123456", t(1)).sent().body()
    );
}

// ---------------------------------------------------------------------------------------
// Property test: arbitrary calls and answers in every reachable state

/// Distinctive random secrets of one run.
#[derive(Debug, Clone)]
struct Secrets {
    password: String,
    code: String,
    tfa: String,
    access: String,
    refresh: String,
}

impl Secrets {
    fn all(&self) -> [&str; 5] {
        [
            &self.password,
            &self.code,
            &self.tfa,
            &self.access,
            &self.refresh,
        ]
    }
}

fn secrets() -> impl Strategy<Value = Secrets> {
    let s = |prefix: &'static str| "[A-Za-z0-9]{14}".prop_map(move |r| format!("{prefix}{r}"));
    (s("PW"), s("CD"), s("TF"), s("AC"), s("RF")).prop_map(
        |(password, code, tfa, access, refresh)| Secrets {
            password,
            code,
            tfa,
            access,
            refresh,
        },
    )
}

#[derive(Debug, Clone)]
enum Body {
    Tfa {
        token: u8,
        provider: String,
        expires_in: i64,
        bad_time: bool,
    },
    Tokens {
        with_flag: bool,
        drop: u8,
        created: i64,
        expires: i64,
    },
    Refusal,
    Truncated(Box<Body>, usize),
    WrongType(u8),
    Huge(u8),
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone)]
enum Action {
    SignIn {
        valid: bool,
    },
    SubmitCode {
        valid: bool,
    },
    Retry,
    Respond {
        status: u16,
        retry_after: Option<String>,
        body: Body,
    },
    Tick(u64),
}

fn body() -> impl Strategy<Value = Body> {
    let leaf = prop_oneof![
        4 => (0u8..6, "[a-z]{0,8}", -120i64..900, proptest::bool::weighted(0.1)).prop_map(
            |(token, provider, expires_in, bad_time)| Body::Tfa { token, provider, expires_in, bad_time }
        ),
        4 => (proptest::bool::ANY, 0u8..5, -100i64..100, -100i64..1000).prop_map(
            |(with_flag, drop, created, expires)| Body::Tokens { with_flag, drop, created, expires }
        ),
        1 => Just(Body::Refusal),
        1 => (0u8..6).prop_map(Body::WrongType),
        1 => (0u8..3).prop_map(Body::Huge),
        1 => proptest::collection::vec(any::<u8>(), 0..48).prop_map(Body::Bytes),
    ];
    leaf.prop_flat_map(|b| {
        prop_oneof![
            6 => Just(b.clone()),
            1 => (0usize..200).prop_map(move |n| Body::Truncated(Box::new(b.clone()), n)),
        ]
    })
}

/// One call, or a call and its refusal in a row (so the limits are reached often).
fn actions() -> impl Strategy<Value = Vec<Action>> {
    let refused = |first: Action, status: u16| {
        vec![
            first,
            Action::Respond {
                status,
                retry_after: None,
                body: Body::Refusal,
            },
        ]
    };
    let chunk = prop_oneof![
        6 => action().prop_map(|a| vec![a]),
        1 => Just(refused(Action::SignIn { valid: true }, 400)),
        2 => Just(refused(Action::SubmitCode { valid: true }, 400)),
    ];
    proptest::collection::vec(chunk, 1..30).prop_map(|chunks| chunks.concat())
}

fn action() -> impl Strategy<Value = Action> {
    let status = prop_oneof![
        8 => Just(200u16),
        1 => Just(201u16),
        2 => Just(400u16),
        2 => Just(401u16),
        1 => Just(403u16),
        2 => Just(429u16),
        1 => Just(500u16),
        1 => 100u16..600,
    ];
    let retry_after = proptest::option::of(prop_oneof![
        (0u64..200).prop_map(|s| s.to_string()),
        Just("Fri, 31 Dec 2021 23:05:00 GMT".to_owned()),
        Just("soon".to_owned()),
        Just("99999999999999999999999".to_owned()),
    ]);
    prop_oneof![
        3 => proptest::bool::weighted(0.9).prop_map(|valid| Action::SignIn { valid }),
        3 => proptest::bool::weighted(0.9).prop_map(|valid| Action::SubmitCode { valid }),
        1 => Just(Action::Retry),
        6 => (status, retry_after, body()).prop_map(|(status, retry_after, body)| Action::Respond {
            status,
            retry_after,
            body
        }),
        2 => prop_oneof![3 => 0u64..20, 1 => 20u64..300].prop_map(Action::Tick),
    ]
}

fn at_offset(now: SystemTime, secs: i64) -> String {
    let t = if secs >= 0 {
        now + Duration::from_secs(secs.unsigned_abs())
    } else {
        now - Duration::from_secs(secs.unsigned_abs())
    };
    rfc3339(t)
}

fn render(body: &Body, s: &Secrets, now: SystemTime) -> Vec<u8> {
    match body {
        Body::Tfa {
            token,
            provider,
            expires_in,
            bad_time,
        } => {
            let token = match token {
                0 => String::new(),
                1 => format!("{} x", s.tfa),
                2 => "x".repeat(MAX_TFA_TOKEN_LEN + 1),
                _ => s.tfa.clone(),
            };
            let expires = if *bad_time {
                "2022-02-30T00:00:00Z".to_owned()
            } else {
                at_offset(now, *expires_in)
            };
            json!({"2faRequired": true,
                   "2faDetails": {"token": token, "provider": provider, "expiresAt": expires}})
            .to_string()
            .into_bytes()
        }
        Body::Tokens {
            with_flag,
            drop,
            created,
            expires,
        } => {
            let token = |value: &str| {
                json!({"token": value, "createdAt": at_offset(now, *created),
                       "expiresAt": at_offset(now, *expires)})
            };
            let mut v = json!({"accessToken": token(&s.access), "refreshToken": token(&s.refresh)});
            match drop {
                0 => {
                    v.as_object_mut().unwrap().remove("accessToken");
                }
                1 => {
                    v.as_object_mut().unwrap().remove("refreshToken");
                }
                _ => {}
            }
            if *with_flag {
                v["2faRequired"] = json!(false);
            }
            v.to_string().into_bytes()
        }
        Body::Refusal => WRONG_PASSWORD.as_bytes().to_vec(),
        Body::Truncated(inner, n) => {
            let mut bytes = render(inner, s, now);
            bytes.truncate(*n);
            bytes
        }
        Body::WrongType(k) => match k {
            0 => br#"{"2faRequired":"true"}"#.to_vec(),
            1 => br#"{"accessToken":1,"refreshToken":[]}"#.to_vec(),
            2 => b"[]".to_vec(),
            3 => b"null".to_vec(),
            4 => br#"{"2faRequired":true,"2faDetails":{"token":5,"provider":null,"expiresAt":1}}"#
                .to_vec(),
            _ => br#"{"2faRequired":false,"accessToken":{"token":true}}"#.to_vec(),
        },
        Body::Huge(k) => {
            let huge = "y".repeat(20_000);
            match k {
                0 => json!({"2faRequired": true, "2faDetails":
                            {"token": huge, "provider": "email", "expiresAt": at_offset(now, 60)}}),
                1 => json!({"2faRequired": true, "2faDetails":
                            {"token": s.tfa, "provider": huge, "expiresAt": at_offset(now, 60)}}),
                _ => json!({"error": {"code": 1, "details": [{"issue": huge}]}}),
            }
            .to_string()
            .into_bytes()
        }
        Body::Bytes(b) => b.clone(),
    }
}

fn assert_no_secret(text: &str, s: &Secrets) -> Result<(), TestCaseError> {
    for secret in s.all() {
        prop_assert!(!text.contains(secret), "secret leaked: {text}");
    }
    Ok(())
}

/// Requests sent at times inside the last minute, per path, never exceed the page's limit.
fn assert_within_limit(
    sent: &[SystemTime],
    now: SystemTime,
    limit: usize,
) -> Result<(), TestCaseError> {
    let recent = sent
        .iter()
        .filter(|&&at| {
            now.duration_since(at)
                .is_ok_and(|d| d < Duration::from_secs(60))
        })
        .count();
    prop_assert!(recent <= limit, "{recent} requests inside a minute");
    Ok(())
}

proptest! {
    #[test]
    fn arbitrary_calls_and_answers_never_panic_and_errors_change_nothing(
        s in secrets(),
        actions in actions(),
    ) {
        let mut f = flow();
        let mut now = t(0);
        let mut sign_ins: Vec<SystemTime> = Vec::new();
        let mut confirms: Vec<SystemTime> = Vec::new();
        for action in &actions {
            let before = f.clone();
            let step_before = f.current_step();
            let mut held = None;
            let mut outcome = |outgoing: Outgoing| match outgoing {
                Outgoing::Request(request) => path(&request),
                Outgoing::RetryAt(at) => {
                    held = Some(at);
                    format!("{:?}", Outgoing::RetryAt(at))
                }
            };
            let result: Result<String, Error> = match action {
                Action::Tick(secs) => {
                    now += Duration::from_secs(*secs);
                    Ok(String::new())
                }
                Action::SignIn { valid } => {
                    let email = if *valid { "foo@bar.com" } else { "foo" };
                    f.sign_in(email, s.password.as_str(), now).map(&mut outcome)
                }
                Action::SubmitCode { valid } => {
                    let code = if *valid { s.code.clone() } else { String::new() };
                    let r = f.submit_code(code, now).map(&mut outcome);
                    if r.is_ok() {
                        // Sent only with a live 2FA token.
                        match step_before {
                            Some(StaffStep::EmailCode { expires_at, .. }) => prop_assert!(now < expires_at),
                            ref other => prop_assert!(false, "code sent at {other:?}"),
                        }
                    }
                    r
                }
                Action::Retry => f.retry(now).map(&mut outcome),
                Action::Respond { status, retry_after, body } => {
                    let mut b = Response::builder().status(*status);
                    if let Some(r) = retry_after {
                        b = b.header(RETRY_AFTER, r.as_str());
                    }
                    let response = b.body(render(body, &s, now)).unwrap();
                    let r = f.handle_response(&response, now);
                    if let Ok(step) = &r {
                        prop_assert_eq!(Some(step.clone()).filter(|s| !matches!(s, StaffStep::Done(_))), f.current_step());
                        if *status == 429 {
                            prop_assert!(matches!(step, StaffStep::RetryAt(at) if *at >= now));
                        }
                    }
                    r.map(|step| format!("{step:?}"))
                }
            };
            if let Some(at) = held {
                // Held, not sent: rate limited until a later instant, as after a 429.
                prop_assert!(at > now, "{:?} held until {:?}, at {:?}", action, at, now);
                prop_assert_eq!(f.state(), StaffState::RateLimited);
                prop_assert_eq!(f.current_step(), Some(StaffStep::RetryAt(at)));
                prop_assert_eq!(f.next_deadline(), Some(at));
                prop_assert!(!f.is_awaiting_response());
            }
            if let (Action::Retry, Some(until)) = (action, before.next_deadline()) {
                if now < until {
                    prop_assert_eq!(held, Some(until), "an early retry must wait for the same instant");
                    prop_assert_eq!(&f, &before, "an early retry changed the flow");
                }
            }
            prop_assert_eq!(
                f.next_deadline().is_some(),
                f.state() == StaffState::RateLimited
            );
            match &result {
                Err(e) => {
                    prop_assert_eq!(&f, &before, "{:?} changed the flow: {:?}", action, e);
                    assert_no_secret(&format!("{e} {e:?}"), &s)?;
                }
                Ok(text) => {
                    assert_no_secret(text, &s)?;
                    match text.as_str() {
                        "/api/v2/signin" => sign_ins.push(now),
                        "/api/v2/2fa/confirm" => confirms.push(now),
                        _ => {}
                    }
                }
            }
            assert_within_limit(&sign_ins, now, 5)?;
            assert_within_limit(&confirms, now, 3)?;
            assert_no_secret(&format!("{f:?} {:?}", f.current_step()), &s)?;
            let parked = serde_json::to_string(&f).unwrap();
            let resumed: StaffSignIn = serde_json::from_str(&parked).unwrap();
            prop_assert_eq!(&resumed, &f);
        }
    }
}

#[test]
fn the_guards_getter_shows_the_attempts_counted() {
    let mut f = flow();
    assert_eq!(f.guards(), &StaffGuards::default());
    let _ = f.sign_in("foo@bar.com", "Secret123", t(0)).sent();
    let mut one = StaffGuards::default().sign_in().clone();
    one.record(t(0));
    assert_eq!(f.guards().sign_in(), &one);
    assert_eq!(f.guards().confirm(), StaffGuards::default().confirm());
}
