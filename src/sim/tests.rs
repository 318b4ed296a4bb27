//! The simulator driven with hand-built requests, bodies as on the vendor's pages.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{ALLOW, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, Request};
use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::Flow;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

mod dialects;

/// 2024-04-22T11:07:24+00:00, the `createdAt` of the sign-in page's example.
const T0: u64 = 1_713_784_044;
/// The sign-in page's fingerprint.
const FP: &str = "eyJ1c2VyX2FnZW50IjoiTW96aWxsYVwvNS4wIChXaW5kb3dzIE5UIDEwLjA7IFdpbjY0OyB4NjQpIEFwcGxlV2ViS2l0XC81MzcuMzYgKEtIVE1MLCBsaWtlIEdlY2tvKSBDaHJvbWVcLzExOC4wLjAuMCBTYWZhcmlcLzUzNy4zNiJ9";
const EMAIL: &str = "username@example.com";
const PASSWORD: &str = "QAzqw123!";
const JWT_HEADER: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9";

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn t0() -> SystemTime {
    at(T0)
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

fn wizard_request(method: &str, path: &str, body: &str) -> Request<Vec<u8>> {
    Request::builder()
        .method(method)
        .uri(format!("https://host.name{path}"))
        .header("Accept", "application/json")
        .header("Content-Type", "application/json")
        .body(body.as_bytes().to_vec())
        .unwrap()
}

/// As the Back Office page's curl: no headers.
fn plain_post(path: &str, body: &str) -> Request<Vec<u8>> {
    Request::builder()
        .method("POST")
        .uri(format!("https://host.name{path}"))
        .body(body.as_bytes().to_vec())
        .unwrap()
}

fn bearer_post(path: &str, authorization: &str) -> Request<Vec<u8>> {
    Request::builder()
        .method("POST")
        .uri(format!("https://host.name{path}"))
        .header("Authorization", authorization)
        .body(Vec::new())
        .unwrap()
}

fn call(server: &mut Server, request: &Request<Vec<u8>>, now: SystemTime) -> Answer {
    let response = server.handle(request, now);
    let body = if response.body().is_empty() {
        Value::Null
    } else {
        let value: Value = serde_json::from_slice(response.body()).unwrap();
        // Byte for byte the object as a `serde_json::Value` writes it (keys in order, no
        // spaces): what the simulator wrote when it built its answers as values.
        assert_eq!(
            std::str::from_utf8(response.body()).unwrap(),
            serde_json::to_string(&value).unwrap()
        );
        value
    };
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body,
    }
}

fn wizard_post(server: &mut Server, path: &str, body: &Value, now: SystemTime) -> Answer {
    call(
        server,
        &wizard_request("POST", path, &body.to_string()),
        now,
    )
}

fn error(status: u16, issue: &str) -> Value {
    json!({"error": {"code": status, "details": [{"issue": issue}]}})
}

fn start(server: &mut Server, now: SystemTime) -> String {
    let a = call(
        server,
        &wizard_request("GET", "/api/v2/my/signin/wizard", ""),
        now,
    );
    assert_eq!(a.status, 200);
    a.body["uuid"].as_str().unwrap().to_owned()
}

fn credentials(
    server: &mut Server,
    uuid: &str,
    email: &str,
    password: &str,
    now: SystemTime,
) -> Answer {
    let body =
        json!({"uuid": uuid, "email": email, "password": password, "device_fingerprint": FP});
    wizard_post(server, "/api/v2/my/signin", &body, now)
}

fn code(server: &mut Server, method: &str, uuid: &str, code: &str, now: SystemTime) -> Answer {
    let body = json!({"uuid": uuid, "code": code});
    wizard_post(server, &format!("/api/v2/my/2fa/{method}"), &body, now)
}

fn server_with(account: ClientAccount) -> Server {
    let mut server = Server::new(SimConfig::default());
    server.add_client(account);
    server
}

fn violation(request: &str, reason: &str) -> Violation {
    Violation {
        request: request.to_owned(),
        reason: reason.to_owned(),
    }
}

/// A token as the pages show it: `{token, createdAt, expiresAt}`.
fn assert_token(token: &Value, created: &str, expires: &str) -> String {
    let object = token.as_object().unwrap();
    assert_eq!(object.len(), 3, "{token}");
    assert_eq!(token["createdAt"], created);
    assert_eq!(token["expiresAt"], expires);
    let text = token["token"].as_str().unwrap();
    assert!(text.starts_with(&format!("{JWT_HEADER}.")), "{text}");
    assert_eq!(text.split('.').count(), 3);
    assert!(text.len() > 150);
    assert!(text.bytes().all(|b| b.is_ascii_graphic()));
    text.to_owned()
}

fn a_different_code(right: &str) -> String {
    if right == "000000" {
        "111111"
    } else {
        "000000"
    }
    .to_owned()
}

// ---------------------------------------------------------------------------------------
// Client sign-in

#[test]
fn wizard_answers_like_the_page_with_a_fresh_uuid_each_time() {
    let mut server = Server::new(SimConfig::default());
    let a = call(
        &mut server,
        &wizard_request("GET", "/api/v2/my/signin/wizard", ""),
        t0(),
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.headers[CONTENT_TYPE], "application/json");
    let uuid = a.body["uuid"].as_str().unwrap().to_owned();
    assert_eq!(uuid.len(), 36);
    assert_eq!(
        a.body,
        json!({
            "code": 200,
            "data": {"recaptcha": {"enabled": false}, "is_qr_available": false, "is_password_recovery_available": false},
            "done": false,
            "uuid": uuid,
            "workflow": "login",
        })
    );
    assert_ne!(start(&mut server, t0()), uuid);
    assert!(server.violations().is_empty());
}

#[test]
fn sign_in_without_2fa_terminates_with_tokens_and_ends_the_uuid() {
    let mut server = server_with(ClientAccount::new(EMAIL, PASSWORD));
    let uuid = start(&mut server, t0());
    // The page's curl body, with the wizard's uuid.
    let body = format!(
        r#"{{
  "uuid": "{uuid}",
  "email": "username@example.com",
  "password": "QAzqw123!",
  "device_fingerprint": "{FP}"
}}"#
    );
    let a = call(
        &mut server,
        &wizard_request("POST", "/api/v2/my/signin", &body),
        t0(),
    );
    assert_eq!(a.status, 202);
    assert_eq!(a.body["code"], 202);
    assert_eq!(a.body["done"], true);
    assert_eq!(a.body["uuid"], uuid.as_str());
    assert_eq!(a.body["workflow"], "Terminate");
    assert_eq!(a.body.as_object().unwrap().len(), 5);
    let data = &a.body["data"];
    assert_eq!(data.as_object().unwrap().len(), 3);
    assert_eq!(data["tfaProviders"], json!([]));
    let access = assert_token(
        &data["accessToken"],
        "2024-04-22T11:07:24+00:00",
        "2024-04-22T11:22:24+00:00",
    );
    let refresh = assert_token(
        &data["refreshToken"],
        "2024-04-22T11:07:24+00:00",
        "2024-04-22T12:07:24+00:00",
    );
    assert_ne!(access, refresh);
    assert!(server.violations().is_empty());

    let again = credentials(&mut server, &uuid, EMAIL, PASSWORD, t0());
    assert_eq!(again.status, 400);
    assert_eq!(
        again.body,
        error(400, "uuid belongs to a wizard that has already ended")
    );
    assert_eq!(
        server.violations(),
        [violation(
            "POST /api/v2/my/signin",
            "uuid belongs to a wizard that has already ended"
        )]
    );
}

#[test]
fn timestamps_drop_fractions_of_a_second() {
    let mut server = server_with(ClientAccount::new(EMAIL, PASSWORD));
    let now = t0() + Duration::from_millis(999);
    let uuid = start(&mut server, now);
    let a = credentials(&mut server, &uuid, EMAIL, PASSWORD, now);
    assert_eq!(
        a.body["data"]["accessToken"]["createdAt"],
        "2024-04-22T11:07:24+00:00"
    );
}

#[test]
fn wrong_password_is_a_refusal_not_a_violation_and_the_flow_stays() {
    let mut server = server_with(ClientAccount::new(EMAIL, PASSWORD));
    let uuid = start(&mut server, t0());
    let a = credentials(&mut server, &uuid, EMAIL, "wrong", t0());
    assert_eq!(a.status, 400);
    assert_eq!(a.body, error(400, "invalid email or password"));
    let a = credentials(&mut server, &uuid, "nobody@example.com", PASSWORD, t0());
    assert_eq!(a.status, 400);
    // Emails match ASCII case-insensitively.
    let a = credentials(&mut server, &uuid, "UserName@Example.com", PASSWORD, t0());
    assert_eq!(a.status, 202);
    assert!(server.violations().is_empty());
}

#[test]
fn google_only_asks_for_a_google_code() {
    let mut server = server_with(ClientAccount::new(EMAIL, PASSWORD).with_google());
    let uuid = start(&mut server, t0());
    let a = credentials(&mut server, &uuid, EMAIL, PASSWORD, t0());
    assert_eq!(a.status, 200);
    assert_eq!(
        a.body,
        json!({
            "code": 200,
            "data": {"accessToken": null, "refreshToken": null, "tfaProviders": [
                {"name": "google", "localizedCaption": "Google Authenticator", "enabled": true}
            ]},
            "done": false,
            "uuid": uuid,
            "workflow": "2fa_google_auth",
        })
    );
    let right = server.google_code(EMAIL, t0()).unwrap();
    assert_eq!(right.len(), 6);
    let wrong = code(
        &mut server,
        "google",
        &uuid,
        &a_different_code(&right),
        t0(),
    );
    assert_eq!(wrong.status, 400);
    assert_eq!(wrong.body, error(400, "invalid 2FA code"));
    let ok = code(&mut server, "google", &uuid, &right, t0());
    assert_eq!(ok.status, 202);
    assert_eq!(ok.body["workflow"], "Terminate");
    assert_eq!(ok.body["done"], true);
    assert_eq!(ok.body["data"]["tfaProviders"], json!([]));
    assert!(server.violations().is_empty());
    assert!(server.outbox().is_empty());
}

#[test]
fn google_codes_change_every_30_seconds_and_the_previous_one_is_accepted() {
    let mut server = server_with(ClientAccount::new(EMAIL, PASSWORD).with_google());
    // T0 = 1_713_784_044 is 24 s into its period.
    let period_start = at(T0 - 24);
    assert_eq!(
        server.google_code(EMAIL, period_start),
        server.google_code(EMAIL, period_start + Duration::from_secs(29))
    );
    let codes: Vec<String> = (0..4)
        .map(|i| {
            server
                .google_code(EMAIL, period_start + Duration::from_secs(30 * i))
                .unwrap()
        })
        .collect();
    assert_ne!(codes[0], codes[1]);
    assert_ne!(codes[1], codes[2]);
    assert_eq!(server.google_code("nobody@example.com", t0()), None);
    let later = period_start + Duration::from_secs(60);
    for (c, expect) in [(&codes[0], 400), (&codes[1], 202)] {
        let uuid = start(&mut server, later);
        credentials(&mut server, &uuid, EMAIL, PASSWORD, later);
        assert_eq!(code(&mut server, "google", &uuid, c, later).status, expect);
    }
    let other = server_with(ClientAccount::new(EMAIL, PASSWORD));
    assert_eq!(other.google_code(EMAIL, t0()), None, "Google 2FA off");
}

#[test]
fn sms_only_sends_a_code_to_the_phone() {
    let account = ClientAccount::new(EMAIL, PASSWORD)
        .with_phone("+447700900123")
        .with_sms();
    let mut server = server_with(account);
    let uuid = start(&mut server, t0());
    let a = credentials(&mut server, &uuid, EMAIL, PASSWORD, t0());
    assert_eq!(a.status, 200);
    assert_eq!(a.body["workflow"], "2fa_sms_auth");
    assert_eq!(
        a.body["data"]["tfaProviders"],
        json!([{"name": "sms", "localizedCaption": "SMS", "enabled": true}])
    );
    assert_eq!(server.outbox().len(), 1);
    assert_eq!(server.outbox()[0].channel, Channel::Sms);
    assert_eq!(server.outbox()[0].to, "+447700900123");
    let sent = server.last_code_to("+447700900123").unwrap().to_owned();
    assert_eq!(server.last_code_to(EMAIL), None);

    let wrong = code(&mut server, "sms", &uuid, &a_different_code(&sent), t0());
    assert_eq!(
        (wrong.status, wrong.body),
        (400, error(400, "invalid 2FA code"))
    );
    let misrouted = code(&mut server, "google", &uuid, &sent, t0());
    assert_eq!(misrouted.status, 400);
    let ok = code(&mut server, "sms", &uuid, &sent, t0());
    assert_eq!(ok.status, 202);
    assert_eq!(ok.body["workflow"], "Terminate");
    assert_eq!(
        server.violations(),
        [violation(
            "POST /api/v2/my/2fa/google",
            "step out of order for this uuid: the wizard expects POST /api/v2/my/2fa/sms"
        )]
    );
}

#[test]
fn both_methods_ask_for_a_choice() {
    let mut server = server_with(ClientAccount::new(EMAIL, PASSWORD).with_google().with_sms());
    let phone = ClientAccount::new(EMAIL, PASSWORD).with_sms().phone;
    let uuid = start(&mut server, t0());
    let a = credentials(&mut server, &uuid, EMAIL, PASSWORD, t0());
    assert_eq!(a.status, 200);
    assert_eq!(
        a.body,
        json!({
            "code": 200,
            "data": {"accessToken": null, "refreshToken": null, "tfaProviders": [
                {"name": "google", "localizedCaption": "Google Authenticator", "enabled": true},
                {"name": "sms", "localizedCaption": "SMS", "enabled": true},
            ]},
            "done": false,
            "uuid": uuid,
            "workflow": "2fa",
        })
    );
    assert!(server.outbox().is_empty(), "no SMS before the choice");
    // A code before the choice, and a method the page does not list: violations.
    let right = server.google_code(EMAIL, t0()).unwrap();
    assert_eq!(code(&mut server, "google", &uuid, &right, t0()).status, 400);
    let email = wizard_post(
        &mut server,
        "/api/v2/my/signin/2fa",
        &json!({"uuid": uuid, "type": "email"}),
        t0(),
    );
    assert_eq!(email.status, 400);
    assert_eq!(server.violations().len(), 2);
    assert_eq!(
        server.violations()[1],
        violation(
            "POST /api/v2/my/signin/2fa",
            "`type` must be `google` or `sms`"
        )
    );

    // The page's Step 3 body.
    let choose = format!("{{\n  \"uuid\": \"{uuid}\",\n  \"type\": \"sms\"\n}}");
    let a = call(
        &mut server,
        &wizard_request("POST", "/api/v2/my/signin/2fa", &choose),
        t0(),
    );
    assert_eq!(
        a.body,
        json!({"code": 200, "data": null, "done": false, "uuid": uuid, "workflow": "2fa_sms_auth"})
    );
    assert_eq!(a.status, 200);
    let sent = server.last_code_to(&phone).unwrap().to_owned();
    assert_eq!(code(&mut server, "sms", &uuid, &sent, t0()).status, 202);

    let uuid = start(&mut server, t0());
    credentials(&mut server, &uuid, EMAIL, PASSWORD, t0());
    let a = wizard_post(
        &mut server,
        "/api/v2/my/signin/2fa",
        &json!({"uuid": uuid, "type": "google"}),
        t0(),
    );
    assert_eq!(a.body["workflow"], "2fa_google_auth");
    assert_eq!(a.body["data"], Value::Null);
    let a = code(&mut server, "google", &uuid, &right, t0());
    assert_eq!(a.status, 202);
    assert_eq!(server.violations().len(), 2);
}

fn restore(server: &mut Server, uuid: &str) -> Answer {
    wizard_post(
        server,
        "/api/v2/my/signin/password/restore",
        &json!({"uuid": uuid}),
        t0(),
    )
}

fn reset(
    server: &mut Server,
    uuid: &str,
    code: &str,
    password: &str,
    confirmation: &str,
) -> Answer {
    let body = json!({"uuid": uuid, "code": code, "password": password, "password_confirmation": confirmation});
    wizard_post(server, "/api/v2/my/signin/password/reset", &body, t0())
}

#[test]
fn forced_reset_restores_resets_and_ends_the_flow() {
    let mut server = server_with(ClientAccount::new(EMAIL, PASSWORD).with_forced_reset());
    let uuid = start(&mut server, t0());
    let a = credentials(&mut server, &uuid, EMAIL, PASSWORD, t0());
    assert_eq!(
        (a.status, a.body),
        (
            200,
            json!({"code": 200, "data": null, "done": false, "uuid": uuid, "workflow": "reset_password_email"})
        )
    );
    // Reset before restore: out of order.
    assert_eq!(
        reset(&mut server, &uuid, "123456", "N3w!", "N3w!").status,
        400
    );
    assert_eq!(server.violations().len(), 1);

    let a = restore(&mut server, &uuid);
    assert_eq!(
        (a.status, a.body),
        (
            200,
            json!({"code": 200, "data": null, "done": false, "uuid": uuid, "workflow": "reset_password_code"})
        )
    );
    assert_eq!(server.outbox()[0].channel, Channel::Email);
    let emailed = server.last_code_to(EMAIL).unwrap().to_owned();

    let a = reset(
        &mut server,
        &uuid,
        &a_different_code(&emailed),
        "N3w!",
        "N3w!",
    );
    assert_eq!(
        (a.status, a.body),
        (400, error(400, "invalid verification code"))
    );
    let a = reset(&mut server, &uuid, &emailed, "N3w!", "other");
    assert_eq!(
        (a.status, a.body),
        (400, error(400, "password and password_confirmation differ"))
    );
    let a = reset(&mut server, &uuid, &emailed, "N3w!", "N3w!");
    assert_eq!(
        (a.status, a.body),
        (
            200,
            json!({"code": 200, "data": null, "done": false, "uuid": uuid, "workflow": "login"})
        )
    );
    assert_eq!(restore(&mut server, &uuid).status, 400, "the uuid died");
    assert_eq!(server.violations().len(), 2);

    let uuid = start(&mut server, t0());
    assert_eq!(
        credentials(&mut server, &uuid, EMAIL, PASSWORD, t0()).status,
        400
    );
    let a = credentials(&mut server, &uuid, EMAIL, "N3w!", t0());
    assert_eq!(a.status, 202);
    assert_eq!(a.body["workflow"], "Terminate");
    assert_eq!(server.violations().len(), 2);
}

#[test]
fn forced_reset_with_google_comes_after_the_code() {
    let mut server = server_with(
        ClientAccount::new(EMAIL, PASSWORD)
            .with_google()
            .with_forced_reset(),
    );
    let uuid = start(&mut server, t0());
    assert_eq!(
        credentials(&mut server, &uuid, EMAIL, PASSWORD, t0()).body["workflow"],
        "2fa_google_auth"
    );
    let right = server.google_code(EMAIL, t0()).unwrap();
    let a = code(&mut server, "google", &uuid, &right, t0());
    assert_eq!(a.status, 200);
    assert_eq!(a.body["workflow"], "reset_password_email");
    assert_eq!(
        restore(&mut server, &uuid).body["workflow"],
        "reset_password_code"
    );
}

#[test]
fn recaptcha_when_required() {
    let mut server = server_with(ClientAccount::new(EMAIL, PASSWORD));
    server.require_recaptcha("03AGdBq2-good");
    let a = call(
        &mut server,
        &wizard_request("GET", "/api/v2/my/signin/wizard", ""),
        t0(),
    );
    assert_eq!(a.body["data"]["recaptcha"], json!({"enabled": true}));
    let uuid = a.body["uuid"].as_str().unwrap().to_owned();

    let missing = credentials(&mut server, &uuid, EMAIL, PASSWORD, t0());
    assert_eq!(missing.status, 400);
    assert_eq!(
        server.violations()[0].reason,
        "missing recaptchaResponse although the wizard said recaptcha.enabled = true"
    );
    let mut body = json!({"uuid": uuid, "email": EMAIL, "password": PASSWORD, "device_fingerprint": FP, "recaptchaResponse": "bad"});
    let wrong = wizard_post(&mut server, "/api/v2/my/signin", &body, t0());
    assert_eq!(
        (wrong.status, wrong.body),
        (400, error(400, "reCAPTCHA verification failed"))
    );
    body["recaptchaResponse"] = json!("03AGdBq2-good");
    assert_eq!(
        wizard_post(&mut server, "/api/v2/my/signin", &body, t0()).status,
        202
    );
    assert_eq!(server.violations().len(), 1);
}

#[test]
fn client_sign_in_limit_5_per_minute_then_a_10_minute_block() {
    let mut server = server_with(ClientAccount::new(EMAIL, PASSWORD));
    server.add_client(ClientAccount::new("other@example.com", PASSWORD));
    let uuid = start(&mut server, t0());
    for i in 0..4 {
        let a = credentials(&mut server, &uuid, EMAIL, "wrong", at(T0 + i));
        assert_eq!(a.status, 400, "attempt {}", i + 1);
    }
    let fifth = credentials(&mut server, &uuid, EMAIL, PASSWORD, at(T0 + 4));
    assert_eq!(fifth.status, 202, "the 5th attempt is allowed");

    let uuid = start(&mut server, at(T0 + 5));
    let sixth = credentials(&mut server, &uuid, EMAIL, PASSWORD, at(T0 + 5));
    assert_eq!(sixth.status, 429);
    assert_eq!(sixth.headers[RETRY_AFTER], "600");
    assert_eq!(
        sixth.body,
        error(429, "too many attempts; retry in 600 seconds")
    );
    // The block is per account.
    let other = credentials(
        &mut server,
        &uuid,
        "other@example.com",
        PASSWORD,
        at(T0 + 6),
    );
    assert_eq!(other.status, 202);

    let uuid = start(&mut server, at(T0 + 305));
    let still = credentials(&mut server, &uuid, EMAIL, PASSWORD, at(T0 + 305));
    assert_eq!(
        (still.status, &still.headers[RETRY_AFTER]),
        (429, &"300".parse().unwrap())
    );
    let after = credentials(&mut server, &uuid, EMAIL, PASSWORD, at(T0 + 605));
    assert_eq!(after.status, 202);
    assert!(server.violations().is_empty(), "a 429 is not a violation");
}

// ---------------------------------------------------------------------------------------
// Client sign-up

const SIGN_UP_WIZARD: &str = r#"{
  "url": "https://host.name/register/{registration}/{code}",
  "utm": {
    "referral": "29734fc149dc93809d18f49ae970810a"
  }
}"#;

fn sign_up_body(
    uuid: &str,
    email: &str,
    password: &str,
    confirmation: &str,
    fingerprint: &str,
) -> String {
    format!(
        r#"{{
  "uuid": "{uuid}",
  "email": "{email}",
  "password": "{password}",
  "password_confirmation": "{confirmation}",
  "device_fingerprint": "{fingerprint}",
  "addresses": {{
    "0": {{
      "country_code": "16"
    }}
  }},
  "info": {{
    "familyName": "Brown",
    "givenName": "John"
  }},
  "recaptchaResponse": "ut nu"
}}"#
    )
}

fn sign_up_wizard(server: &mut Server) -> String {
    let a = call(
        server,
        &wizard_request("POST", "/api/v2/my/signup/wizard", SIGN_UP_WIZARD),
        t0(),
    );
    assert_eq!(a.status, 202);
    let uuid = a.body["uuid"].as_str().unwrap().to_owned();
    assert_eq!(
        a.body,
        json!({"code": 202, "data": {"fields": {}}, "done": true, "uuid": uuid, "workflow": "basic_register_form"})
    );
    uuid
}

#[test]
fn sign_up_creates_an_account_that_can_sign_in() {
    let mut server = Server::new(SimConfig::default());
    let uuid = sign_up_wizard(&mut server);
    let body = sign_up_body(&uuid, "foo@bar.com", "Secret123", "Secret123", FP);
    let a = call(
        &mut server,
        &wizard_request("POST", "/api/v2/my/signup", &body),
        t0(),
    );
    assert_eq!(
        (a.status, a.body),
        (
            202,
            json!({"code": 202, "data": {}, "done": true, "uuid": uuid, "workflow": "login"})
        )
    );
    let sign_in = start(&mut server, t0());
    let a = credentials(&mut server, &sign_in, "foo@bar.com", "Secret123", t0());
    assert_eq!(a.status, 202);
    assert_eq!(a.body["workflow"], "Terminate");
    assert!(server.violations().is_empty());
}

/// The sign-up page's curl shows no headers: a sign-up without them is no violation, but a
/// header that is there must say JSON.
#[test]
fn sign_up_may_leave_out_the_headers_its_page_does_not_show() {
    let mut server = Server::new(SimConfig::default());
    let bare = |path: &str, body: &str| Request::post(path).body(body.as_bytes().to_vec()).unwrap();
    let a = call(
        &mut server,
        &bare("/api/v2/my/signup/wizard", SIGN_UP_WIZARD),
        t0(),
    );
    assert_eq!(a.status, 202);
    let uuid = a.body["uuid"].as_str().unwrap().to_owned();
    let body = sign_up_body(&uuid, "foo@bar.com", "Secret123", "Secret123", FP);
    let a = call(&mut server, &bare("/api/v2/my/signup", &body), t0());
    assert_eq!((a.status, &a.body["workflow"]), (202, &json!("login")));
    assert!(server.violations().is_empty());

    let form = Request::post("/api/v2/my/signup/wizard")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(SIGN_UP_WIZARD.as_bytes().to_vec())
        .unwrap();
    let html = Request::post("/api/v2/my/signup/wizard")
        .header("Accept", "text/html")
        .body(SIGN_UP_WIZARD.as_bytes().to_vec())
        .unwrap();
    for (request, reason) in [
        (form, "missing header `Content-Type: application/json`"),
        (html, "missing header `Accept: application/json`"),
    ] {
        let a = call(&mut server, &request, t0());
        assert_eq!((a.status, a.body), (400, error(400, reason)));
    }
    assert_eq!(server.violations().len(), 2);
}

#[test]
fn sign_up_refusals_and_violations() {
    let mut server = server_with(ClientAccount::new("foo@bar.com", "x"));
    let uuid = sign_up_wizard(&mut server);
    let post = |server: &mut Server, body: String| {
        call(
            server,
            &wizard_request("POST", "/api/v2/my/signup", &body),
            t0(),
        )
    };
    let a = post(
        &mut server,
        sign_up_body(&uuid, "foo@bar.com", "Secret123", "Secret123", FP),
    );
    assert_eq!(
        (a.status, a.body),
        (400, error(400, "the email is already registered"))
    );
    let a = post(
        &mut server,
        sign_up_body(&uuid, "new@bar.com", "Secret123", "Secret124", FP),
    );
    assert_eq!(
        (a.status, a.body),
        (400, error(400, "password and password_confirmation differ"))
    );
    assert!(server.violations().is_empty());
    // The page's own example fingerprint is not Base64 of JSON.
    let a = post(
        &mut server,
        sign_up_body(
            &uuid,
            "new@bar.com",
            "Secret123",
            "Secret123",
            "dwqdnNFJBOEBFJEBjqewbkjqbdwjqwbndjnbj",
        ),
    );
    assert_eq!(a.status, 400);
    assert_eq!(
        server.violations(),
        [violation(
            "POST /api/v2/my/signup",
            "device_fingerprint is not standard padded Base64"
        )]
    );
    // A sign-up uuid is not a sign-in uuid, and the reverse.
    assert_eq!(
        credentials(&mut server, &uuid, "foo@bar.com", "x", t0()).status,
        400
    );
    let sign_in = start(&mut server, t0());
    let a = post(
        &mut server,
        sign_up_body(&sign_in, "new@bar.com", "S", "S", FP),
    );
    assert_eq!(a.status, 400);
    assert_eq!(
        server.violations()[1].reason,
        "uuid belongs to a sign-up wizard, not a sign-in wizard"
    );
    assert_eq!(
        server.violations()[2].reason,
        "uuid belongs to a sign-in wizard, not a sign-up wizard"
    );
    // The wizard's `url` is required.
    let a = call(
        &mut server,
        &wizard_request(
            "POST",
            "/api/v2/my/signup/wizard",
            r#"{"utm":{"referral":"x"}}"#,
        ),
        t0(),
    );
    assert_eq!((a.status, a.body), (400, error(400, "missing field `url`")));
}

// ---------------------------------------------------------------------------------------
// Back Office

fn staff_server() -> Server {
    let mut server = Server::new(SimConfig::default());
    server.add_staff(StaffAccount::new("foo@bar.com", "Secret123"));
    server.add_staff(StaffAccount::new("two@bar.com", "Secret123").with_email_2fa());
    server
}

const STAFF_SIGN_IN: &str = "{\n\"email\": \"foo@bar.com\",\n\"password\": \"Secret123\"\n}";

fn staff_sign_in(server: &mut Server, email: &str, password: &str, now: SystemTime) -> Answer {
    let body = json!({"email": email, "password": password}).to_string();
    call(server, &plain_post("/api/v2/signin", &body), now)
}

fn confirm(server: &mut Server, token: &str, code: &str, now: SystemTime) -> Answer {
    let body = json!({"token": token, "code": code}).to_string();
    call(server, &plain_post("/api/v2/2fa/confirm", &body), now)
}

#[test]
fn staff_sign_in_without_2fa() {
    let mut server = staff_server();
    let a = call(
        &mut server,
        &plain_post("/api/v2/signin", STAFF_SIGN_IN),
        t0(),
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.body.as_object().unwrap().len(), 3);
    assert_eq!(a.body["2faRequired"], false);
    assert_token(
        &a.body["accessToken"],
        "2024-04-22T11:07:24+00:00",
        "2024-04-22T11:22:24+00:00",
    );
    assert_token(
        &a.body["refreshToken"],
        "2024-04-22T11:07:24+00:00",
        "2024-04-22T12:07:24+00:00",
    );
    let wrong = staff_sign_in(&mut server, "foo@bar.com", "nope", t0());
    assert_eq!(
        (wrong.status, wrong.body),
        (400, error(400, "invalid email or password"))
    );
    assert!(server.violations().is_empty());
}

#[test]
fn staff_email_2fa_confirm_and_expiry() {
    let mut server = staff_server();
    let a = staff_sign_in(&mut server, "two@bar.com", "Secret123", t0());
    assert_eq!(a.status, 200);
    let token = a.body["2faDetails"]["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 36);
    assert_eq!(
        a.body,
        json!({"2faRequired": true, "2faDetails": {"token": token, "provider": "email", "expiresAt": "2024-04-22T11:12:24+00:00"}})
    );
    assert_eq!(server.outbox()[0].channel, Channel::Email);
    let sent = server.last_code_to("two@bar.com").unwrap().to_owned();

    let wrong = confirm(&mut server, &token, &a_different_code(&sent), t0());
    assert_eq!(
        (wrong.status, wrong.body),
        (400, error(400, "invalid verification code"))
    );
    // The page's curl body.
    let body = format!("{{\n\"token\": \"{token}\",\n\"code\": \"{sent}\"\n}}");
    let ok = call(&mut server, &plain_post("/api/v2/2fa/confirm", &body), t0());
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body.as_object().unwrap().len(), 2);
    assert_token(
        &ok.body["accessToken"],
        "2024-04-22T11:07:24+00:00",
        "2024-04-22T11:22:24+00:00",
    );
    let reused = confirm(&mut server, &token, &sent, t0());
    assert_eq!(
        (reused.status, reused.body),
        (401, error(401, "2FA token already used"))
    );

    // Expired at its expiresAt, valid just before.
    let a = staff_sign_in(&mut server, "two@bar.com", "Secret123", t0());
    let token = a.body["2faDetails"]["token"].as_str().unwrap().to_owned();
    let sent = server.last_code_to("two@bar.com").unwrap().to_owned();
    let expired = confirm(&mut server, &token, &sent, at(T0 + 300));
    assert_eq!(
        (expired.status, expired.body),
        (401, error(401, "2FA token expired"))
    );
    assert_eq!(
        confirm(&mut server, &token, &sent, at(T0 + 299)).status,
        200
    );
    assert_eq!(
        confirm(
            &mut server,
            "b2fcf999-2b0b-451d-9888-094a79117aa5",
            &sent,
            t0()
        )
        .status,
        401
    );
    assert!(server.violations().is_empty());
}

#[test]
fn staff_confirm_limit_3_per_minute() {
    let mut server = staff_server();
    let a = staff_sign_in(&mut server, "two@bar.com", "Secret123", t0());
    let token = a.body["2faDetails"]["token"].as_str().unwrap().to_owned();
    let sent = server.last_code_to("two@bar.com").unwrap().to_owned();
    let wrong = a_different_code(&sent);
    for i in 0..3 {
        assert_eq!(confirm(&mut server, &token, &wrong, at(T0 + i)).status, 400);
    }
    let fourth = confirm(&mut server, &token, &sent, at(T0 + 10));
    assert_eq!(fourth.status, 429);
    assert_eq!(fourth.headers[RETRY_AFTER], "50");
    assert_eq!(
        fourth.body,
        error(429, "too many attempts; retry in 50 seconds")
    );
    assert_eq!(confirm(&mut server, &token, &sent, at(T0 + 60)).status, 200);
    assert!(server.violations().is_empty());
}

#[test]
fn staff_sign_in_limit_5_per_minute() {
    let mut server = staff_server();
    for i in 0..5 {
        assert_eq!(
            staff_sign_in(&mut server, "foo@bar.com", "nope", at(T0 + i)).status,
            400
        );
    }
    let sixth = staff_sign_in(&mut server, "foo@bar.com", "Secret123", at(T0 + 5));
    assert_eq!(sixth.status, 429);
    assert_eq!(sixth.headers[RETRY_AFTER], "55");
    assert_eq!(
        staff_sign_in(&mut server, "FOO@bar.com", "Secret123", at(T0 + 59)).status,
        429
    );
    assert_eq!(
        staff_sign_in(&mut server, "foo@bar.com", "Secret123", at(T0 + 60)).status,
        200
    );
    assert!(server.violations().is_empty());
}

// ---------------------------------------------------------------------------------------
// Sessions

fn pair_of(answer: &Answer) -> (String, String) {
    let data = if answer.body.get("data").is_some() {
        &answer.body["data"]
    } else {
        &answer.body
    };
    (
        data["accessToken"]["token"].as_str().unwrap().to_owned(),
        data["refreshToken"]["token"].as_str().unwrap().to_owned(),
    )
}

fn refresh(server: &mut Server, path: &str, token: &str, now: SystemTime) -> Answer {
    let body = format!("{{\n\"refreshToken\": \"{token}\"\n}}");
    call(server, &plain_post(path, &body), now)
}

fn signed_in_client(server: &mut Server) -> (String, String) {
    let uuid = start(server, t0());
    pair_of(&credentials(server, &uuid, EMAIL, PASSWORD, t0()))
}

#[test]
fn staff_refresh_rotates_and_revokes_the_old_pair() {
    let mut server = staff_server();
    let (access, old_refresh) = pair_of(&staff_sign_in(
        &mut server,
        "foo@bar.com",
        "Secret123",
        t0(),
    ));
    let later = at(T0 + 600);
    let a = refresh(&mut server, "/api/v2/refresh", &old_refresh, later);
    assert_eq!(a.status, 200);
    assert_eq!(a.body.as_object().unwrap().len(), 2, "bare pair");
    assert_token(
        &a.body["accessToken"],
        "2024-04-22T11:17:24+00:00",
        "2024-04-22T11:32:24+00:00",
    );
    assert_token(
        &a.body["refreshToken"],
        "2024-04-22T11:17:24+00:00",
        "2024-04-22T12:17:24+00:00",
    );
    let (new_access, new_refresh) = pair_of(&a);
    assert!(server.is_revoked(&access) && server.is_revoked(&old_refresh));
    assert!(!server.is_revoked(&new_access) && !server.is_revoked(&new_refresh));
    assert!(!server.is_revoked("never-issued"));

    let again = refresh(&mut server, "/api/v2/refresh", &old_refresh, later);
    assert_eq!(
        (again.status, again.body),
        (401, error(401, "refresh token revoked"))
    );
    let old = call(
        &mut server,
        &bearer_post("/api/v2/signout", &format!("Bearer {access}")),
        later,
    );
    assert_eq!(
        (old.status, old.body),
        (401, error(401, "access token revoked"))
    );
    let unknown = refresh(
        &mut server,
        "/api/v2/refresh",
        "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.e30.x",
        later,
    );
    assert_eq!(
        (unknown.status, unknown.body),
        (401, error(401, "unknown refresh token"))
    );
    // Expired from its expiresAt on.
    let expired = refresh(
        &mut server,
        "/api/v2/refresh",
        &new_refresh,
        at(T0 + 600 + 3600),
    );
    assert_eq!(
        (expired.status, expired.body),
        (401, error(401, "refresh token expired"))
    );
    assert!(!server.is_revoked(&new_refresh), "expired is not revoked");
    // A staff token is unknown to the client realm.
    assert_eq!(
        refresh(&mut server, "/api/v2/my/refresh", &new_refresh, later).status,
        401
    );
    assert!(server.violations().is_empty());
}

#[test]
fn client_refresh_answers_a_bare_pair() {
    let mut server = server_with(ClientAccount::new(EMAIL, PASSWORD));
    let (access, refresh_token) = signed_in_client(&mut server);
    let a = refresh(&mut server, "/api/v2/my/refresh", &refresh_token, t0());
    assert_eq!(a.status, 200);
    assert_eq!(a.body.as_object().unwrap().len(), 2);
    assert_token(
        &a.body["refreshToken"],
        "2024-04-22T11:07:24+00:00",
        "2024-04-22T12:07:24+00:00",
    );
    assert!(server.is_revoked(&access) && server.is_revoked(&refresh_token));
    let (_, new_refresh) = pair_of(&a);
    assert_eq!(
        refresh(&mut server, "/api/v2/refresh", &new_refresh, t0()).status,
        401
    );
}

#[test]
fn refresh_limit_5_per_minute_per_session() {
    let mut server = server_with(ClientAccount::new(EMAIL, PASSWORD));
    let (_, mut token) = signed_in_client(&mut server);
    let (_, other_session) = signed_in_client(&mut server);
    for i in 0..5 {
        let a = refresh(&mut server, "/api/v2/my/refresh", &token, at(T0 + i));
        assert_eq!(a.status, 200, "refresh {}", i + 1);
        token = pair_of(&a).1;
    }
    let sixth = refresh(&mut server, "/api/v2/my/refresh", &token, at(T0 + 20));
    assert_eq!(sixth.status, 429);
    assert_eq!(sixth.headers[RETRY_AFTER], "40");
    assert!(
        !server.is_revoked(&token),
        "a refused refresh keeps the pair"
    );
    assert_eq!(
        refresh(
            &mut server,
            "/api/v2/my/refresh",
            &other_session,
            at(T0 + 20)
        )
        .status,
        200
    );
    assert_eq!(
        refresh(&mut server, "/api/v2/my/refresh", &token, at(T0 + 60)).status,
        200
    );
    assert!(server.violations().is_empty());
}

#[test]
fn sign_out_revokes_the_pair() {
    let mut server = server_with(ClientAccount::new(EMAIL, PASSWORD));
    let (access, refresh_token) = signed_in_client(&mut server);
    let a = call(
        &mut server,
        &bearer_post("/api/v2/my/signout", &format!("Bearer {access}")),
        t0(),
    );
    assert_eq!((a.status, a.body), (200, Value::Null));
    assert!(server.is_revoked(&access) && server.is_revoked(&refresh_token));
    let again = call(
        &mut server,
        &bearer_post("/api/v2/my/signout", &format!("Bearer {access}")),
        t0(),
    );
    assert_eq!(
        (again.status, again.body),
        (401, error(401, "access token revoked"))
    );
    assert_eq!(
        refresh(&mut server, "/api/v2/my/refresh", &refresh_token, t0()).status,
        401
    );

    // Expired access token: 401, from its expiresAt on.
    let (access, _) = signed_in_client(&mut server);
    let a = call(
        &mut server,
        &bearer_post("/api/v2/my/signout", &format!("Bearer {access}")),
        at(T0 + 900),
    );
    assert_eq!(
        (a.status, a.body),
        (401, error(401, "access token expired"))
    );
    // Wrong realm.
    let a = call(
        &mut server,
        &bearer_post("/api/v2/signout", &format!("Bearer {access}")),
        t0(),
    );
    assert_eq!(a.status, 401);
    let a = call(
        &mut server,
        &bearer_post("/api/v2/my/signout", &format!("Bearer {access}")),
        at(T0 + 899),
    );
    assert_eq!(a.status, 200);
    assert!(server.violations().is_empty());
}

#[test]
fn staff_sign_out() {
    let mut server = staff_server();
    let (access, refresh_token) = pair_of(&staff_sign_in(
        &mut server,
        "foo@bar.com",
        "Secret123",
        t0(),
    ));
    let a = call(
        &mut server,
        &bearer_post("/api/v2/signout", &format!("Bearer {access}")),
        t0(),
    );
    assert_eq!(a.status, 200);
    assert!(server.is_revoked(&refresh_token));
}

// ---------------------------------------------------------------------------------------
// Bearer holder (the stand-in resource API)

/// A request to no B2Core path with these `Authorization` headers.
fn upstream(authorizations: &[&str]) -> Request<Vec<u8>> {
    let mut builder = Request::get("https://api.example/whoami");
    for value in authorizations {
        builder = builder.header("Authorization", *value);
    }
    builder.body(Vec::new()).unwrap()
}

#[test]
fn bearer_holder_names_the_client_of_a_live_access_token() {
    let mut server = server_with(ClientAccount::new(EMAIL, PASSWORD));
    server.add_client(ClientAccount::new("Other@Example.com", PASSWORD));
    let (access, refresh_token) = signed_in_client(&mut server);
    let uuid = start(&mut server, t0());
    let (other, _) = pair_of(&credentials(
        &mut server,
        &uuid,
        "other@example.com",
        PASSWORD,
        t0(),
    ));
    let before = format!("{server:?}");
    let bearer = format!("Bearer {access}");
    assert_eq!(server.bearer_holder(&upstream(&[&bearer]), t0()), Ok(EMAIL));
    // As the sign-out endpoints read it: the scheme in any case, spaces around the token.
    assert_eq!(
        server.bearer_holder(&upstream(&[&format!("bEARER   {access} ")]), t0()),
        Ok(EMAIL)
    );
    // The email as the account was added, whoever the token's session is.
    assert_eq!(
        server.bearer_holder(&upstream(&[&format!("Bearer {other}")]), t0()),
        Ok("Other@Example.com")
    );
    // Only headers matter: the method, URI and body are not read.
    let mut post = wizard_request("POST", "/api/v2/my/signout", "{}");
    post.headers_mut()
        .insert("Authorization", bearer.parse().unwrap());
    assert_eq!(server.bearer_holder(&post, t0()), Ok(EMAIL));
    // A refresh token is not an access token.
    assert_eq!(
        server.bearer_holder(&upstream(&[&format!("Bearer {refresh_token}")]), t0()),
        Err("unknown access token")
    );
    assert_eq!(
        server.bearer_holder(&upstream(&["Bearer not-a-token"]), t0()),
        Err("unknown access token")
    );
    // Nothing changed, nothing recorded: the token still signs out.
    assert_eq!(format!("{server:?}"), before);
    assert!(server.violations().is_empty());
    let a = call(
        &mut server,
        &bearer_post("/api/v2/my/signout", &bearer),
        t0(),
    );
    assert_eq!(a.status, 200);
    assert_eq!(
        server.bearer_holder(&upstream(&[&bearer]), t0()),
        Err("access token revoked")
    );
}

#[test]
fn bearer_holder_refuses_the_access_token_a_refresh_replaced() {
    let mut server = server_with(ClientAccount::new(EMAIL, PASSWORD));
    let (access, refresh_token) = signed_in_client(&mut server);
    let a = refresh(
        &mut server,
        "/api/v2/my/refresh",
        &refresh_token,
        at(T0 + 60),
    );
    assert_eq!(a.status, 200);
    let (new_access, _) = pair_of(&a);
    assert_eq!(
        server.bearer_holder(&upstream(&[&format!("Bearer {access}")]), at(T0 + 60)),
        Err("access token revoked")
    );
    assert_eq!(
        server.bearer_holder(&upstream(&[&format!("Bearer {new_access}")]), at(T0 + 60)),
        Ok(EMAIL)
    );
}

#[test]
fn bearer_holder_refuses_an_expired_access_token_from_its_expires_at() {
    let mut server = server_with(ClientAccount::new(EMAIL, PASSWORD));
    let (access, _) = signed_in_client(&mut server);
    let request = upstream(&[&format!("Bearer {access}")]);
    // expiresAt is 2024-04-22T11:22:24+00:00, 15 minutes after T0.
    assert_eq!(server.bearer_holder(&request, at(T0 + 899)), Ok(EMAIL));
    assert_eq!(
        server.bearer_holder(&request, at(T0 + 900)),
        Err("access token expired")
    );
    assert_eq!(
        server.bearer_holder(&request, at(T0 + 3600)),
        Err("access token expired")
    );
    assert!(
        !server.is_revoked(&access),
        "expired is not revoked, and asking revokes nothing"
    );
}

#[test]
fn bearer_holder_refuses_a_staff_token() {
    let mut server = staff_server();
    server.add_client(ClientAccount::new(EMAIL, PASSWORD));
    let (access, _) = pair_of(&staff_sign_in(
        &mut server,
        "foo@bar.com",
        "Secret123",
        t0(),
    ));
    let request = upstream(&[&format!("Bearer {access}")]);
    assert_eq!(
        server.bearer_holder(&request, t0()),
        Err("not a client token")
    );
    assert_eq!(
        server.bearer_holder(&request, at(T0 + 900)),
        Err("not a client token")
    );
    // Live all along: the Back Office signs it out.
    let a = call(
        &mut server,
        &bearer_post("/api/v2/signout", &format!("Bearer {access}")),
        t0(),
    );
    assert_eq!(a.status, 200);
}

#[test]
fn bearer_holder_refuses_a_missing_or_malformed_header() {
    let mut server = server_with(ClientAccount::new(EMAIL, PASSWORD));
    let (access, _) = signed_in_client(&mut server);
    let bearer = format!("Bearer {access}");
    assert_eq!(server.bearer_holder(&upstream(&[&bearer]), t0()), Ok(EMAIL));
    let malformed = [
        upstream(&[]),
        upstream(&[&bearer, &bearer]),
        upstream(&[&bearer, "Basic x"]),
        upstream(&["Basic x"]),
        upstream(&[&format!("Basic {access}")]),
        upstream(&["Bearer"]),
        upstream(&["Bearer    "]),
        upstream(&[&format!("Bearer{access}")]),
        upstream(&[access.as_str()]),
    ];
    for request in &malformed {
        assert_eq!(
            server.bearer_holder(request, t0()),
            Err("missing or malformed Authorization header"),
            "{:?}",
            request.headers()
        );
    }
    // Not a violation, unlike the same header at a sign-out.
    assert!(server.violations().is_empty());
    let a = call(
        &mut server,
        &bearer_post("/api/v2/my/signout", "Basic x"),
        t0(),
    );
    assert_eq!(a.status, 401);
    assert_eq!(server.violations().len(), 1);
}

#[test]
fn bearer_holder_refuses_a_token_of_a_replaced_account() {
    let mut server = server_with(ClientAccount::new(EMAIL, PASSWORD));
    let (access, _) = signed_in_client(&mut server);
    let request = upstream(&[&format!("Bearer {access}")]);
    assert_eq!(server.bearer_holder(&request, t0()), Ok(EMAIL));
    server.add_client(ClientAccount::new(EMAIL, "Another1!"));
    assert_eq!(
        server.bearer_holder(&request, t0()),
        Err("no such client account")
    );
}

// ---------------------------------------------------------------------------------------
// The access token a refresh replaced, in each reading (`access_outlives_refresh`)

/// The default dialect with the old access token outliving a refresh.
fn outliving() -> Dialect {
    let dialect = Dialect::named("access-outlives-refresh").unwrap();
    assert!(dialect.access_outlives_refresh);
    dialect
}

fn client_server_in(dialect: Dialect) -> Server {
    let mut server = Server::new(SimConfig {
        dialect,
        ..SimConfig::default()
    });
    server.add_client(ClientAccount::new(EMAIL, PASSWORD));
    server
}

/// A client sign-in without 2FA at T0, answered in any dialect.
fn signed_in_client_in(server: &mut Server) -> (String, String) {
    let init = wizard_request("GET", "/api/v2/my/signin/wizard", "");
    let uuid = call(server, &init, t0()).body["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    pair_of(&credentials(server, &uuid, EMAIL, PASSWORD, t0()))
}

fn sign_out(server: &mut Server, path: &str, access: &str, now: SystemTime) -> Answer {
    call(server, &bearer_post(path, &format!("Bearer {access}")), now)
}

#[test]
fn the_old_access_token_after_a_refresh_in_every_named_dialect() {
    for &(name, dialect) in Dialect::ALL {
        let mut server = client_server_in(dialect);
        // Signed in at T0: the access token's expiresAt is T0 + 900.
        let (old_access, old_refresh) = signed_in_client_in(&mut server);
        let a = refresh(&mut server, "/api/v2/my/refresh", &old_refresh, at(T0 + 60));
        assert_eq!(a.status, 200, "{name}");
        let (new_access, _) = pair_of(&a);
        let old = upstream(&[&format!("Bearer {old_access}")]);
        let new = upstream(&[&format!("Bearer {new_access}")]);

        // The old refresh token: revoked at once, in every dialect.
        assert!(server.is_revoked(&old_refresh), "{name}");
        let again = refresh(&mut server, "/api/v2/my/refresh", &old_refresh, at(T0 + 60));
        assert_eq!(again.status, 401, "{name}");
        assert_eq!(
            again.body["error"]["details"][0]["issue"], "refresh token revoked",
            "{name}"
        );
        // The new access token: live in every dialect.
        assert_eq!(
            server.bearer_holder(&new, at(T0 + 899)),
            Ok(EMAIL),
            "{name}"
        );

        if dialect.access_outlives_refresh {
            // Live until its own expiresAt, then expired; never revoked.
            for t in [T0 + 60, T0 + 899] {
                assert_eq!(server.bearer_holder(&old, at(t)), Ok(EMAIL), "{name}");
            }
            for t in [T0 + 900, T0 + 3600] {
                assert_eq!(
                    server.bearer_holder(&old, at(t)),
                    Err("access token expired"),
                    "{name}"
                );
            }
            assert!(!server.is_revoked(&old_access), "{name}");
        } else {
            assert_eq!(
                server.bearer_holder(&old, at(T0 + 60)),
                Err("access token revoked"),
                "{name}"
            );
            assert!(server.is_revoked(&old_access), "{name}");
        }
        assert!(server.violations().is_empty(), "{name}");
    }
    // Both readings are among the named dialects, and `pages` revokes.
    assert!(!Dialect::default().access_outlives_refresh);
    assert!(
        Dialect::named("everything")
            .unwrap()
            .access_outlives_refresh
    );
}

#[test]
fn an_old_access_token_signs_the_session_out_and_every_token_of_it_is_revoked() {
    let mut server = client_server_in(outliving());
    let (a1, r1) = signed_in_client(&mut server);
    let (other_access, other_refresh) = signed_in_client(&mut server);
    let (a2, r2) = pair_of(&refresh(
        &mut server,
        "/api/v2/my/refresh",
        &r1,
        at(T0 + 60),
    ));
    let (a3, r3) = pair_of(&refresh(
        &mut server,
        "/api/v2/my/refresh",
        &r2,
        at(T0 + 120),
    ));
    assert!(server.is_revoked(&r1) && server.is_revoked(&r2));
    for access in [&a1, &a2, &a3] {
        let request = upstream(&[&format!("Bearer {access}")]);
        assert_eq!(server.bearer_holder(&request, at(T0 + 120)), Ok(EMAIL));
        assert!(!server.is_revoked(access));
    }

    // The oldest access token signs the whole session out.
    let a = sign_out(&mut server, "/api/v2/my/signout", &a1, at(T0 + 120));
    assert_eq!((a.status, a.body), (200, Value::Null));
    for token in [&a1, &a2, &a3, &r3] {
        assert!(server.is_revoked(token));
    }
    for access in [&a1, &a2, &a3] {
        let request = upstream(&[&format!("Bearer {access}")]);
        assert_eq!(
            server.bearer_holder(&request, at(T0 + 120)),
            Err("access token revoked")
        );
        let again = sign_out(&mut server, "/api/v2/my/signout", access, at(T0 + 120));
        assert_eq!(
            (again.status, again.body),
            (401, error(401, "access token revoked"))
        );
    }
    let a = refresh(&mut server, "/api/v2/my/refresh", &r3, at(T0 + 120));
    assert_eq!(
        (a.status, a.body),
        (401, error(401, "refresh token revoked"))
    );

    // Another session of the same account is untouched.
    assert!(!server.is_revoked(&other_access) && !server.is_revoked(&other_refresh));
    let request = upstream(&[&format!("Bearer {other_access}")]);
    assert_eq!(server.bearer_holder(&request, at(T0 + 120)), Ok(EMAIL));
    assert!(server.violations().is_empty());
}

#[test]
fn an_expired_old_access_token_signs_nothing_out() {
    let mut server = client_server_in(outliving());
    let (a1, r1) = signed_in_client(&mut server);
    let (a2, r2) = pair_of(&refresh(
        &mut server,
        "/api/v2/my/refresh",
        &r1,
        at(T0 + 60),
    ));
    // a1 expires at T0 + 900, a2 at T0 + 960.
    let a = sign_out(&mut server, "/api/v2/my/signout", &a1, at(T0 + 900));
    assert_eq!(
        (a.status, a.body),
        (401, error(401, "access token expired"))
    );
    assert!(!server.is_revoked(&a1) && !server.is_revoked(&a2) && !server.is_revoked(&r2));
    let request = upstream(&[&format!("Bearer {a2}")]);
    assert_eq!(server.bearer_holder(&request, at(T0 + 959)), Ok(EMAIL));
    // The current access token signs out, and the expired one is revoked with the session.
    let a = sign_out(&mut server, "/api/v2/my/signout", &a2, at(T0 + 959));
    assert_eq!(a.status, 200);
    assert!(server.is_revoked(&a1) && server.is_revoked(&a2) && server.is_revoked(&r2));
    assert!(server.violations().is_empty());
}

#[test]
fn back_office_old_access_token_after_a_refresh_in_each_reading() {
    for (dialect, outlives) in [(Dialect::PAGES, false), (outliving(), true)] {
        let mut server = Server::new(SimConfig {
            dialect,
            ..SimConfig::default()
        });
        server.add_staff(StaffAccount::new("foo@bar.com", "Secret123"));
        server.add_client(ClientAccount::new(EMAIL, PASSWORD));
        let (old_access, old_refresh) = pair_of(&staff_sign_in(
            &mut server,
            "foo@bar.com",
            "Secret123",
            t0(),
        ));
        let a = refresh(&mut server, "/api/v2/refresh", &old_refresh, at(T0 + 60));
        let (new_access, new_refresh) = pair_of(&a);
        let again = refresh(&mut server, "/api/v2/refresh", &old_refresh, at(T0 + 60));
        assert_eq!(again.status, 401, "{outlives}");
        // Never a client token, in either reading.
        let request = upstream(&[&format!("Bearer {old_access}")]);
        let holder = server
            .bearer_holder(&request, at(T0 + 60))
            .map(str::to_owned);
        let old = sign_out(&mut server, "/api/v2/signout", &old_access, at(T0 + 60));
        if outlives {
            assert_eq!(holder, Err("not a client token"), "a live staff token");
            assert_eq!((old.status, old.body), (200, Value::Null));
            assert!(server.is_revoked(&new_access) && server.is_revoked(&new_refresh));
        } else {
            assert_eq!(holder, Err("access token revoked"));
            assert_eq!(
                (old.status, old.body),
                (401, error(401, "access token revoked"))
            );
            assert!(!server.is_revoked(&new_access) && !server.is_revoked(&new_refresh));
        }
        assert!(server.violations().is_empty());
    }
}

// ---------------------------------------------------------------------------------------
// Violations

#[test]
fn each_kind_of_bad_request_is_a_violation() {
    let mut server = server_with(ClientAccount::new(EMAIL, PASSWORD));
    let uuid = start(&mut server, t0());
    let signin = |body: &str| wizard_request("POST", "/api/v2/my/signin", body);
    let good =
        json!({"uuid": uuid, "email": EMAIL, "password": PASSWORD, "device_fingerprint": FP});
    let with = |key: &str, value: Value| {
        let mut body = good.clone();
        body[key] = value;
        body.to_string()
    };
    let without = |key: &str| {
        let mut body = good.clone();
        body.as_object_mut().unwrap().remove(key);
        body.to_string()
    };
    let no_accept = Request::post("/api/v2/my/signin")
        .header("Content-Type", "application/json")
        .body(good.to_string().into_bytes())
        .unwrap();
    let no_content_type = Request::post("/api/v2/my/signin")
        .header("Accept", "application/json")
        .body(good.to_string().into_bytes())
        .unwrap();
    let form = Request::post("/api/v2/my/signin")
        .header("Accept", "application/json")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(good.to_string().into_bytes())
        .unwrap();
    let fp_no_ua = STANDARD.encode(r#"{"agent":"x"}"#);
    let fp_array = STANDARD.encode(r#"["user_agent"]"#);
    let fp_unpadded = STANDARD
        .encode(r#"{"user_agent":"xy"}"#)
        .trim_end_matches('=')
        .to_owned();
    assert_ne!(fp_unpadded, STANDARD.encode(r#"{"user_agent":"xy"}"#));
    let cases: Vec<(Request<Vec<u8>>, u16, &str, &str)> = vec![
        (wizard_request("GET", "/api/v2/my/signin/wizards", ""), 404, "GET /api/v2/my/signin/wizards", "no such endpoint"),
        (wizard_request("POST", "/api/v2/my/signin/wizard", ""), 405, "POST /api/v2/my/signin/wizard", "method not allowed here; the page documents GET"),
        (wizard_request("GET", "/api/v2/my/signin/wizard?x=1", ""), 400, "GET /api/v2/my/signin/wizard", "unexpected query string"),
        (signin("{not json"), 400, "POST /api/v2/my/signin", "body is not JSON"),
        (signin(r#"["a","b","c","d"]"#), 400, "POST /api/v2/my/signin", "body is not a JSON object"),
        (signin(&without("device_fingerprint")), 400, "POST /api/v2/my/signin", "missing field `device_fingerprint`"),
        (signin(&with("password", json!(12345678))), 400, "POST /api/v2/my/signin", "a field has the wrong type (expected a string)"),
        (signin(&with("recaptcha_response", json!("x"))), 400, "POST /api/v2/my/signin", "unknown field `recaptcha_response`, expected one of `uuid`, `email`, `password`, `device_fingerprint`, `recaptchaResponse`"),
        (signin(&with("uuid", json!("36f59381-5b54-48bd-a0c7-3b908c476732"))), 400, "POST /api/v2/my/signin", "unknown uuid"),
        (signin(&with("device_fingerprint", json!("not base64!"))), 400, "POST /api/v2/my/signin", "device_fingerprint is not standard padded Base64"),
        (signin(&with("device_fingerprint", json!(fp_unpadded))), 400, "POST /api/v2/my/signin", "device_fingerprint is not standard padded Base64"),
        (signin(&with("device_fingerprint", json!(fp_no_ua))), 400, "POST /api/v2/my/signin", "device_fingerprint has no `user_agent`"),
        (signin(&with("device_fingerprint", json!(fp_array))), 400, "POST /api/v2/my/signin", "device_fingerprint does not decode to a JSON object"),
        (no_accept, 400, "POST /api/v2/my/signin", "missing header `Accept: application/json`"),
        (no_content_type, 400, "POST /api/v2/my/signin", "missing header `Content-Type: application/json`"),
        (form, 400, "POST /api/v2/my/signin", "missing header `Content-Type: application/json`"),
        (wizard_request("POST", "/api/v2/my/2fa/google", &json!({"uuid": uuid, "code": "123456"}).to_string()), 400, "POST /api/v2/my/2fa/google", "step out of order for this uuid: the wizard expects POST /api/v2/my/signin"),
        (signin(&"x".repeat(MAX_BODY + 1)), 413, "POST /api/v2/my/signin", "body larger than 64 KiB"),
        (plain_post("/api/v2/signout", ""), 401, "POST /api/v2/signout", "missing or malformed header `Authorization: Bearer <access token>`"),
        (bearer_post("/api/v2/my/signout", "Basic dXNlcjpwYXNz"), 401, "POST /api/v2/my/signout", "missing or malformed header `Authorization: Bearer <access token>`"),
        (plain_post("/api/v2/refresh", r#"{"refresh_token":"x"}"#), 400, "POST /api/v2/refresh", "unknown field `refresh_token`, expected `refreshToken`"),
        (plain_post("/api/v2/signin", r#"{"email":"foo@bar.com"}"#), 400, "POST /api/v2/signin", "missing field `password`"),
    ];
    let count = cases.len();
    for (i, (request, status, label, reason)) in cases.into_iter().enumerate() {
        let a = call(&mut server, &request, t0());
        assert_eq!(a.status, status, "case {i}: {reason}");
        assert_eq!(a.body, error(status, reason));
        assert_eq!(server.violations().len(), i + 1, "{reason}");
        assert_eq!(server.violations()[i], violation(label, reason));
        if status == 405 {
            assert_eq!(a.headers[ALLOW], "GET");
        }
    }
    assert_eq!(server.violations().len(), count);
    // None of them moved the flow: the credentials still work.
    assert_eq!(
        credentials(&mut server, &uuid, EMAIL, PASSWORD, t0()).status,
        202
    );
}

#[test]
fn violations_do_not_count_against_the_limit() {
    let mut server = server_with(ClientAccount::new(EMAIL, PASSWORD));
    let uuid = start(&mut server, t0());
    for _ in 0..10 {
        let body = json!({"uuid": uuid, "email": EMAIL, "password": PASSWORD, "device_fingerprint": "bad"});
        assert_eq!(
            wizard_post(&mut server, "/api/v2/my/signin", &body, t0()).status,
            400
        );
    }
    assert_eq!(
        credentials(&mut server, &uuid, EMAIL, PASSWORD, t0()).status,
        202
    );
}

// ---------------------------------------------------------------------------------------
// Secrets, determinism

#[test]
fn debug_output_never_shows_secrets() {
    let mut server = server_with(ClientAccount::new(EMAIL, PASSWORD).with_sms());
    server.add_staff(StaffAccount::new("two@bar.com", "St4ffSecret").with_email_2fa());
    server.require_recaptcha("captcha-secret");
    let uuid = start(&mut server, t0());
    credentials(&mut server, &uuid, EMAIL, "wrong-password-typed", t0());
    credentials(&mut server, &uuid, EMAIL, PASSWORD, t0());
    let body = json!({"uuid": uuid, "email": EMAIL, "password": PASSWORD, "device_fingerprint": FP, "recaptchaResponse": "captcha-secret"});
    wizard_post(&mut server, "/api/v2/my/signin", &body, t0());
    staff_sign_in(&mut server, "two@bar.com", "St4ffSecret", t0());
    let sms = server.outbox()[0].code.clone();
    let done = code(&mut server, "sms", &uuid, &sms, t0());
    assert_eq!(done.status, 202);
    let (access, refresh_token) = pair_of(&done);
    let debug = format!("{server:?} {server:#?} {:?}", server.outbox());
    for secret in [
        PASSWORD,
        "St4ffSecret",
        "captcha-secret",
        "wrong-password-typed",
        &sms,
        &access,
        &refresh_token,
    ] {
        assert!(!debug.contains(secret), "Debug shows a secret: {debug}");
    }
    for sent in server.outbox() {
        assert!(!format!("{sent:?}").contains(&sent.code));
    }
    assert!(debug.contains("Server"));
}

#[test]
fn violation_reasons_never_echo_values() {
    let mut server = Server::new(SimConfig::default());
    let uuid = start(&mut server, t0());
    let body =
        json!({"uuid": uuid, "email": EMAIL, "password": ["hunter2"], "device_fingerprint": FP});
    let a = wizard_post(&mut server, "/api/v2/my/signin", &body, t0());
    assert_eq!(a.status, 400);
    assert!(!String::from_utf8_lossy(&serde_json::to_vec(&a.body).unwrap()).contains("hunter2"));
    assert!(!server.violations()[0].reason.contains("hunter2"));
}

fn script(seed: u64) -> Vec<Vec<u8>> {
    let mut server = Server::new(SimConfig {
        seed,
        ..SimConfig::default()
    });
    server.add_client(ClientAccount::new(EMAIL, PASSWORD).with_sms());
    let mut out = Vec::new();
    let r = server.handle(&wizard_request("GET", "/api/v2/my/signin/wizard", ""), t0());
    out.push(r.body().clone());
    let uuid = serde_json::from_slice::<Value>(r.body()).unwrap()["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let body =
        json!({"uuid": uuid, "email": EMAIL, "password": PASSWORD, "device_fingerprint": FP});
    out.push(
        server
            .handle(
                &wizard_request("POST", "/api/v2/my/signin", &body.to_string()),
                t0(),
            )
            .body()
            .clone(),
    );
    let sms = server.outbox()[0].code.clone();
    out.push(sms.clone().into_bytes());
    let body = json!({"uuid": uuid, "code": sms});
    out.push(
        server
            .handle(
                &wizard_request("POST", "/api/v2/my/2fa/sms", &body.to_string()),
                t0(),
            )
            .body()
            .clone(),
    );
    out
}

#[test]
fn same_seed_same_run_other_seed_other_run() {
    let a = script(1);
    assert_eq!(a, script(1));
    let b = script(2);
    assert_eq!(a.len(), b.len());
    assert!(a.iter().zip(&b).all(|(x, y)| x != y));
    let tokens: Value = serde_json::from_slice(&a[3]).unwrap();
    assert_eq!(tokens["workflow"], "Terminate");
}

#[test]
fn far_times_do_not_panic() {
    let mut server = server_with(ClientAccount::new(EMAIL, PASSWORD).with_google());
    for now in [
        UNIX_EPOCH,
        UNIX_EPOCH - Duration::from_secs(1),
        at(300_000_000_000),
    ] {
        let uuid = start(&mut server, now);
        let a = credentials(&mut server, &uuid, EMAIL, PASSWORD, now);
        assert_eq!(a.status, 200);
        let c = server.google_code(EMAIL, now).unwrap();
        let a = code(&mut server, "google", &uuid, &c, now);
        assert!(a.status == 202 || a.status == 500, "{}", a.status);
    }
}

// ---------------------------------------------------------------------------------------
// No input panics

fn arbitrary_request() -> impl Strategy<Value = (String, String, Vec<(String, String)>, Vec<u8>)> {
    let method = prop_oneof![
        Just("GET".to_owned()),
        Just("POST".to_owned()),
        Just("PUT".to_owned()),
        Just("DELETE".to_owned()),
        "[A-Z]{1,8}",
    ];
    let path = prop_oneof![
        Just("/api/v2/my/signin/wizard".to_owned()),
        Just("/api/v2/my/signin".to_owned()),
        Just("/api/v2/my/signin/2fa".to_owned()),
        Just("/api/v2/my/2fa/google".to_owned()),
        Just("/api/v2/my/2fa/sms".to_owned()),
        Just("/api/v2/my/signin/password/restore".to_owned()),
        Just("/api/v2/my/signin/password/reset".to_owned()),
        Just("/api/v2/my/signup/wizard".to_owned()),
        Just("/api/v2/my/signup".to_owned()),
        Just("/api/v2/signin".to_owned()),
        Just("/api/v2/2fa/confirm".to_owned()),
        Just("/api/v2/refresh".to_owned()),
        Just("/api/v2/my/refresh".to_owned()),
        Just("/api/v2/signout".to_owned()),
        Just("/api/v2/my/signout".to_owned()),
        "/[a-z0-9/]{0,30}",
    ];
    let header = prop_oneof![
        Just(("accept".to_owned(), "application/json".to_owned())),
        Just(("content-type".to_owned(), "application/json".to_owned())),
        "[ -~]{0,40}".prop_map(|v| ("authorization".to_owned(), format!("Bearer {v}"))),
        ("[a-z-]{1,12}", "[ -~]{0,20}"),
    ];
    let field = prop_oneof![
        Just("uuid"),
        Just("email"),
        Just("password"),
        Just("device_fingerprint"),
        Just("recaptchaResponse"),
        Just("type"),
        Just("code"),
        Just("token"),
        Just("refreshToken"),
        Just("password_confirmation"),
        Just("url"),
        Just("utm"),
        Just("addresses"),
        Just("info"),
        Just("other"),
    ];
    let value = prop_oneof![
        "[ -~]{0,20}".prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        Just(Value::Null),
        Just(json!({"referral": "x", "0": {"country_code": "1"}})),
        Just(json!(FP)),
        Just(json!(["x"])),
    ];
    let json_body = prop::collection::btree_map(field, value, 0..8)
        .prop_map(|m| serde_json::to_vec(&m).unwrap());
    let body = prop_oneof![json_body, prop::collection::vec(any::<u8>(), 0..64)];
    (method, path, prop::collection::vec(header, 0..4), body)
}

proptest! {
    #[test]
    fn no_input_panics(requests in prop::collection::vec(arbitrary_request(), 1..12), secs in any::<u32>()) {
        let mut server = server_with(ClientAccount::new(EMAIL, PASSWORD).with_google().with_sms().with_forced_reset());
        server.add_staff(StaffAccount::new(EMAIL, PASSWORD).with_email_2fa());
        let now = at(u64::from(secs));
        // Open a flow so that some requests reach deeper states.
        let uuid = start(&mut server, now);
        credentials(&mut server, &uuid, EMAIL, PASSWORD, now);
        for (method, path, headers, body) in requests {
            let mut builder = Request::builder().method(method.as_str()).uri(path.as_str());
            for (name, value) in &headers {
                builder = builder.header(name.as_str(), value.as_str());
            }
            let Ok(request) = builder.body(body) else { continue };
            let response = server.handle(&request, now);
            let status = response.status().as_u16();
            prop_assert!((200..600).contains(&status));
        }
    }
}

// ---------------------------------------------------------------------------------------
// The crate's own client flow against the simulator: both must agree, with no violation.

/// Drives `SignIn` to the end, answering each step; returns the steps' names.
fn drive(server: &mut Server, password: &str, new_password: &str, now: SystemTime) -> Vec<String> {
    use crate::client::{Credentials, Method as M, SignIn, SignInStep};
    use crate::{DeviceFingerprint, Endpoint, Outgoing};

    /// The request a call returned: no attempt limit may hold this flow.
    #[track_caller]
    fn sent(outgoing: Result<Outgoing, crate::Error>) -> Request<Vec<u8>> {
        match outgoing.unwrap() {
            Outgoing::Request(request) => request,
            Outgoing::RetryAt(at) => panic!("the flow waits until {at:?}"),
        }
    }

    let mut flow = SignIn::new(Endpoint::new("https://host.name").unwrap());
    let mut request = sent(flow.start(now));
    let mut seen = Vec::new();
    for _ in 0..12 {
        let response = server.handle(&request, now);
        let step = flow.handle_response(&response, now).unwrap();
        seen.push(
            format!("{step:?}")
                .split([' ', '(', '{'])
                .next()
                .unwrap()
                .to_owned(),
        );
        request = sent(match step {
            SignInStep::Credentials { .. } => {
                let fp = DeviceFingerprint::from_user_agent("sim-test/1.0").unwrap();
                flow.submit_credentials(Credentials::new(EMAIL, password, fp), now)
            }
            SignInStep::ChooseMethod { methods, .. } => {
                assert_eq!(methods, [M::Google, M::Sms]);
                flow.choose_method(M::Sms, now)
            }
            SignInStep::Code { method: M::Sms, .. } => {
                let phone = ClientAccount::new(EMAIL, "").with_sms().phone;
                let code = server.last_code_to(&phone).unwrap().to_owned();
                flow.submit_code(code, now)
            }
            SignInStep::Code { .. } => {
                flow.submit_code(server.google_code(EMAIL, now).unwrap(), now)
            }
            SignInStep::PasswordResetRequired { .. } => flow.request_reset_code(now),
            SignInStep::ResetCode { .. } => {
                let code = server.last_code_to(EMAIL).unwrap().to_owned();
                flow.reset_password(code, new_password.to_owned(), now)
            }
            SignInStep::PasswordChanged | SignInStep::Done(_) => break,
            other => panic!("unexpected {other:?}"),
        });
    }
    seen
}

#[test]
fn the_crates_sign_in_flow_conforms() {
    let account = ClientAccount::new(EMAIL, PASSWORD)
        .with_google()
        .with_sms()
        .with_forced_reset();
    let mut server = server_with(account);
    let steps = drive(&mut server, PASSWORD, "N3wPassw0rd!", t0());
    assert_eq!(
        steps,
        [
            "Credentials",
            "ChooseMethod",
            "Code",
            "PasswordResetRequired",
            "ResetCode",
            "PasswordChanged"
        ]
    );
    let steps = drive(&mut server, "N3wPassw0rd!", "", t0());
    assert_eq!(steps, ["Credentials", "ChooseMethod", "Code", "Done"]);
    assert_eq!(server.violations(), []);
}

/// A value that itself says ", expected" does not leak into the reason.
#[test]
fn a_wrong_type_never_echoes_the_value() {
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Code {
        code: u32,
    }
    let body = json!({"code": "x, expected hunter2"}).to_string();
    let error = serde_json::from_value::<Code>(serde_json::from_str(&body).unwrap()).unwrap_err();
    let reason = super::describe(&error);
    assert_eq!(reason, "a field has the wrong type (expected u32)");
}
