//! Shared fixtures for the sign-in integration tests: the vendor page's examples,
//! response builders, and a small script recorder for transcripts.
//!
//! Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use b2core_auth::client::{Credentials, SignIn, SignInStep};
use b2core_auth::Flow;
use b2core_auth::{DeviceFingerprint, Endpoint, Error, Outgoing};
use http::{Request, Response};
use serde_json::{json, Value};

#[path = "../support/sent.rs"]
mod sent;
pub use sent::Sent;

pub const HOST: &str = "https://host.name";

/// The uuid of the page's Step 1 response, Step 3 and Step 4 examples.
pub const UUID_A: &str = "36f59381-5b54-48bd-a0c7-3b908c476732";
/// The uuid of the page's Step 2 request and its `2fa` response example.
pub const UUID_B: &str = "03b612d1-e973-4f1e-bf8f-d97f88515104";

pub const EMAIL: &str = "username@example.com";
pub const PASSWORD: &str = "QAzqw123!";
pub const FINGERPRINT: &str = "eyJ1c2VyX2FnZW50IjoiTW96aWxsYVwvNS4wIChXaW5kb3dzIE5UIDEwLjA7IFdpbjY0OyB4NjQpIEFwcGxlV2ViS2l0XC81MzcuMzYgKEtIVE1MLCBsaWtlIEdlY2tvKSBDaHJvbWVcLzExOC4wLjAuMCBTYWZhcmlcLzUzNy4zNiJ9";
pub const CODE: &str = "678562";

pub const ACCESS_TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJpYXQiOjE3MTM3ODQwNDQsIm5iZiI6MTcxMzc4NDA0NCwiZXhwIjoxNzEzNzg0OTQ0LCJpc3MiOiJodHRwczovL3N0YW5kLXFhLTA0LWFwaS5iMmJyb2tlci50ZWNoIiwic3ViIjoiODciLCJpYXRfbXQiOiIxNzEzNzg0MDQ0LjY2NzYifQ.XKK0j6H9879rvGo0a5w5OekQBhq1FsiLEx-4ZVWeS-CStccmJDwvyW_Q36K31rRBIZdBhE2U37MN9NAAb1qofCmFwysqNH-OUaKU-3N4eg7RyMsAI0jXCLF_X2miEdX1XteKO9kfTz_ASblPhSBn0F1jhlpow7wpQKet_M";
pub const REFRESH_TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJpYXQiOjE3MTM3ODQwNDQsIm5iZiI6MTcxMzc4NDA0NCwiZXhwIjoxNzEzNzg3NjQ0LCJpc3MiOiJodHRwczovL3N0YW5kLXFhLTA0LWFwaS5iMmJyb2tlci50ZWNoIiwic3ViIjoiODciLCJpYXRfbXQiOiIxNzEzNzg0MDQ0LjY3MjMifQ.Aq0VIz2_kXbQwmBmZ0-sKk8MlU8yzBcxWqEUg2DmfG84Omz4AxpAnGoLNpVPh7dP6cFwoHhenXdnvaFgK2ob2_MYWpAk_grWK-vv4FIlYA1mywyvbmjEqRWRfWDwea24GevBLV95YZRdkEBslUkzASdfioiVTuR7zsdtXms";

/// 2024-04-22T11:07:24+00:00, the page's `createdAt`.
pub const T0_SECS: u64 = 1_713_784_044;

// ---------------------------------------------------------------------------------------
// The page's response examples, verbatim.

pub const STEP1_EXAMPLE: &str = r#"{
  "code": 200,
  "data": {
    "recaptcha": {
      "enabled": false
      },
    "is_qr_available": true,
    "is_password_recovery_available": true
    },
  "done": false,
  "uuid": "36f59381-5b54-48bd-a0c7-3b908c476732",
  "workflow": "login"
}"#;

/// The page's `2fa` example (titled "RESPONSE EXAMPLE — STEP 3", printed under Step 2).
pub const TWO_FA_EXAMPLE: &str = r#"{
  "code": 200,
  "data": {
     "accessToken": null,
     "refreshToken": null,
     "tfaProviders": []
  },
  "done": false,
  "uuid": "03b612d1-e973-4f1e-bf8f-d97f88515104",
  "workflow": "2fa"
}"#;

pub const STEP3_EXAMPLE: &str = r#"{
  "code": 200,
  "data": null,
  "done": false,
  "uuid": "36f59381-5b54-48bd-a0c7-3b908c476732",
  "workflow": "2fa_google_auth"
}"#;

pub const STEP4_EXAMPLE: &str = r#"{
    "code": 202,
    "data": {
        "accessToken": {
            "token": "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJpYXQiOjE3MTM3ODQwNDQsIm5iZiI6MTcxMzc4NDA0NCwiZXhwIjoxNzEzNzg0OTQ0LCJpc3MiOiJodHRwczovL3N0YW5kLXFhLTA0LWFwaS5iMmJyb2tlci50ZWNoIiwic3ViIjoiODciLCJpYXRfbXQiOiIxNzEzNzg0MDQ0LjY2NzYifQ.XKK0j6H9879rvGo0a5w5OekQBhq1FsiLEx-4ZVWeS-CStccmJDwvyW_Q36K31rRBIZdBhE2U37MN9NAAb1qofCmFwysqNH-OUaKU-3N4eg7RyMsAI0jXCLF_X2miEdX1XteKO9kfTz_ASblPhSBn0F1jhlpow7wpQKet_M",
            "createdAt": "2024-04-22T11:07:24+00:00",
            "expiresAt": "2024-04-22T11:22:24+00:00"
        },
        "refreshToken": {
            "token": "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJpYXQiOjE3MTM3ODQwNDQsIm5iZiI6MTcxMzc4NDA0NCwiZXhwIjoxNzEzNzg3NjQ0LCJpc3MiOiJodHRwczovL3N0YW5kLXFhLTA0LWFwaS5iMmJyb2tlci50ZWNoIiwic3ViIjoiODciLCJpYXRfbXQiOiIxNzEzNzg0MDQ0LjY3MjMifQ.Aq0VIz2_kXbQwmBmZ0-sKk8MlU8yzBcxWqEUg2DmfG84Omz4AxpAnGoLNpVPh7dP6cFwoHhenXdnvaFgK2ob2_MYWpAk_grWK-vv4FIlYA1mywyvbmjEqRWRfWDwea24GevBLV95YZRdkEBslUkzASdfioiVTuR7zsdtXms",
            "createdAt": "2024-04-22T11:07:24+00:00",
            "expiresAt": "2024-04-22T12:07:24+00:00"
        },
        "tfaProviders": []
    },
    "done": true,
    "uuid": "36f59381-5b54-48bd-a0c7-3b908c476732",
    "workflow": "Terminate"
}"#;

/// The page's example with its `uuid` replaced (the page's examples disagree on the uuid
/// of one procedure; a flow insists on one uuid, so the tests align them).
pub fn with_uuid(example: &str, uuid: &str) -> Vec<u8> {
    let mut v: Value = serde_json::from_str(example).expect("page example is JSON");
    v["uuid"] = Value::String(uuid.to_owned());
    serde_json::to_vec(&v).expect("JSON")
}

// ---------------------------------------------------------------------------------------
// Time

pub fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// `T0 + secs`.
pub fn t(secs: u64) -> SystemTime {
    at(T0_SECS + secs)
}

// ---------------------------------------------------------------------------------------
// Inputs

pub fn endpoint() -> Endpoint {
    Endpoint::new(HOST).expect("valid endpoint")
}

pub fn new_flow() -> SignIn {
    SignIn::new(endpoint())
}

pub fn fingerprint() -> DeviceFingerprint {
    DeviceFingerprint::from_encoded(FINGERPRINT).expect("the page's fingerprint")
}

pub fn creds(password: &str) -> Credentials {
    Credentials::new(EMAIL, password, fingerprint())
}

// ---------------------------------------------------------------------------------------
// Responses

/// A response with this status and body, no headers.
pub fn resp(status: u16, body: impl Into<Vec<u8>>) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .body(body.into())
        .expect("valid response")
}

/// A response with one extra header.
pub fn resp_with(status: u16, header: (&str, &str), body: impl Into<Vec<u8>>) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header(header.0, header.1)
        .body(body.into())
        .expect("valid response")
}

/// The wizard envelope `{code, data, done, uuid, workflow}`.
pub fn envelope(code: u16, data: Value, done: bool, uuid: &str, workflow: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "code": code,
        "data": data,
        "done": done,
        "uuid": uuid,
        "workflow": workflow,
    }))
    .expect("JSON")
}

/// HTTP 200, workflow `login`.
pub fn login(uuid: &str, recaptcha: bool) -> Response<Vec<u8>> {
    resp(
        200,
        envelope(
            200,
            json!({
                "recaptcha": {"enabled": recaptcha},
                "is_qr_available": true,
                "is_password_recovery_available": true,
            }),
            false,
            uuid,
            "login",
        ),
    )
}

/// HTTP 200 with a `null` data and this workflow.
pub fn next(uuid: &str, workflow: &str) -> Response<Vec<u8>> {
    resp(200, envelope(200, Value::Null, false, uuid, workflow))
}

/// HTTP 200, workflow `2fa`, with these `tfaProviders`.
pub fn two_fa(uuid: &str, providers: Value) -> Response<Vec<u8>> {
    resp(
        200,
        envelope(
            200,
            json!({"accessToken": null, "refreshToken": null, "tfaProviders": providers}),
            false,
            uuid,
            "2fa",
        ),
    )
}

pub fn token_json(token: &str, created: &str, expires: &str) -> Value {
    json!({"token": token, "createdAt": created, "expiresAt": expires})
}

/// The `data` of a successful sign-in with these tokens and the page's times.
pub fn tokens_data(access: &str, refresh: &str) -> Value {
    json!({
        "accessToken": token_json(access, "2024-04-22T11:07:24+00:00", "2024-04-22T11:22:24+00:00"),
        "refreshToken": token_json(refresh, "2024-04-22T11:07:24+00:00", "2024-04-22T12:07:24+00:00"),
        "tfaProviders": [],
    })
}

/// HTTP 202, workflow `Terminate`, with these tokens.
pub fn terminate(uuid: &str, access: &str, refresh: &str) -> Response<Vec<u8>> {
    resp(
        202,
        envelope(202, tokens_data(access, refresh), true, uuid, "Terminate"),
    )
}

/// The error body seen in practice.
pub fn error_body(code: i64, issue: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"error": {"code": code, "details": [{"issue": issue}]}}))
        .expect("JSON")
}

// ---------------------------------------------------------------------------------------
// Requests

/// `METHOD path` of a request.
pub fn line(req: &Request<Vec<u8>>) -> String {
    format!("{} {}", req.method(), req.uri().path())
}

/// The body of a request as JSON.
pub fn body_json(req: &Request<Vec<u8>>) -> Value {
    serde_json::from_slice(req.body()).expect("request body is JSON")
}

/// Asserts the exact request: method, full URL, exactly the `Accept` and `Content-Type`
/// headers of the page, and the body (`None`: empty).
pub fn assert_request(req: &Request<Vec<u8>>, method: &str, url: &str, body: Option<Value>) {
    assert_eq!(req.method().as_str(), method, "method");
    assert_eq!(req.uri().to_string(), url, "url");
    let mut headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();
    headers.sort();
    assert_eq!(
        headers,
        vec![
            ("accept".to_owned(), "application/json".to_owned()),
            ("content-type".to_owned(), "application/json".to_owned()),
        ],
        "headers"
    );
    match body {
        None => assert!(req.body().is_empty(), "body should be empty"),
        Some(expected) => assert_eq!(body_json(req), expected, "body"),
    }
}

/// True when two requests are the same in every observable part.
pub fn same_request(a: &Request<Vec<u8>>, b: &Request<Vec<u8>>) -> bool {
    a.method() == b.method()
        && a.uri() == b.uri()
        && a.headers() == b.headers()
        && a.body() == b.body()
}

// ---------------------------------------------------------------------------------------
// A transcript recorder

/// Drives a flow and records every request line and every step, so a test can assert the
/// whole sequence at once.
pub struct Script {
    pub flow: SignIn,
    pub lines: Vec<String>,
    pub steps: Vec<SignInStep>,
}

impl Script {
    pub fn new(flow: SignIn) -> Self {
        Self {
            flow,
            lines: Vec::new(),
            steps: Vec::new(),
        }
    }

    /// Records the request of a call that must succeed and send (not wait), and returns it.
    #[track_caller]
    pub fn sent(&mut self, call: Result<Outgoing, Error>) -> Request<Vec<u8>> {
        let req = call.sent();
        self.lines.push(line(&req));
        req
    }

    /// Hands a response to the flow; the step must come, and is recorded.
    pub fn reply(&mut self, response: Response<Vec<u8>>, now: SystemTime) -> SignInStep {
        let step = self
            .flow
            .handle_response(&response, now)
            .expect("the response should be accepted");
        self.steps.push(step.clone());
        step
    }
}
