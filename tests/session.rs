//! Token sessions of both realms: the Back Office page's curl and response examples as
//! vectors, a transcript per branch, and properties over arbitrary answers and calls.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use b2core_auth::format_rfc3339;
use b2core_auth::session::SessionState;
use b2core_auth::Flow;
use b2core_auth::{
    ApiError, Authorized, Endpoint, Error, Outgoing, Realm, Session, SessionStep, Token, TokenPair,
};
use http::{Request, Response};
use proptest::prelude::*;
use serde_json::{json, Value};

#[path = "support/sent.rs"]
mod sent;
use sent::Sent;

/// 2024-04-22T11:07:24Z, the instant the first pair was made.
const T0: u64 = 1_713_784_044;

/// The refresh token of the Back Office page's curl example.
const PAGE_REFRESH: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIiwiaWF0IjoxNjU2MDY3MTU0LCJleHAiOjE2NTYxMDMxNTQsImlzcyI6Imh0dHBzOlwvXC9hcC52ZW5kb3IuY29tIn0.u6HuS_oQ4udk2EEUa-7XutJ0CAKIZty1OcFaqTckLRGYEr3xcWXZEHCfrhDl31N6_t0XP6_m-ESue_NoWx_f1sGMv6XMT0pPg1NQ1XJ1JJ4slaeEWjSuGIl8_Jbj-20zZOvwzUZbed7UQg0jUM11OUt0l1jVVSF19vKJJpVGFDYMIOHkS7tlFeKiypReYRd2af-Pf_au1v6vG3V42SFpZER3eKqALZkoT617B35enJdtUqmyrRgb_rCIOCwAHQdUcOuosyBUk9U-Cz3WEoHx5nqtvFVAeXKqlbn0Cbqk4joFt1FY8nUqlyVZNI9E3-dbjFPzod8Vej6rkAVd312M3w";
/// The access token of the Back Office page's response examples.
const PAGE_ACCESS: &str = "wyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIiwiaWF0IjoxNjU2MDY3MTU0LCJleHAiOjE2NTYxMDMxNTQsImlzcyI6Imh0dHBzOlwvXC9hcC52ZW5kb3IuY29tIn0.u6HuS_oQ4udk2EEUa-7XutJ0CAKIZty1OcFaqTckLRGYEr3xcWXZEHCfrhDl31N6_t0XP6_m-ESue_NoWx_f1sGMv6XMT0pPg1NQ1XJ1JJ4slaeEWjSuGIl8_Jbj-20zZOvwzUZbed7UQg0jUM11OUt0l1jVVSF19vKJJpVGFDYMIOHkS7tlFeKiypReYRd2af-Pf_au1v6vG3V42SFpZER3eKqALZkoT617B35enJdtUqmyrRgb_rCIOCwAHQdUcOuosyBUk9U-Cz3WEoHx5nqtvFVAeXKqlbn0Cbqk4joFt1FY8nUqlyVZNI9E3-dbjFPzod8Vej6rkAVd312M3w";

/// The refresh answer of the Back Office page, verbatim.
const PAGE_REFRESH_ANSWER: &str = r#"{
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

const ACCESS_1: &str = "ACCESS-first-7q2Wz9Lk";
const REFRESH_1: &str = "REFRESH-first-4Hn8Pd3X";
const ACCESS_2: &str = "ACCESS-second-Vb6Tr1Qm";
const REFRESH_2: &str = "REFRESH-second-Jc5Ye2Gs";

/// Access tokens live 15 minutes, refresh tokens an hour.
const ACCESS_TTL: u64 = 900;
const REFRESH_TTL: u64 = 3600;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0 + secs)
}

fn ts(secs: u64) -> String {
    format_rfc3339(at(secs)).unwrap()
}

/// A pair made `created` seconds after T0, in the vendor's shape.
fn pair_json(access: &str, refresh: &str, created: u64) -> Value {
    json!({
        "accessToken": {"token": access, "createdAt": ts(created), "expiresAt": ts(created + ACCESS_TTL)},
        "refreshToken": {"token": refresh, "createdAt": ts(created), "expiresAt": ts(created + REFRESH_TTL)},
    })
}

fn pair(access: &str, refresh: &str, created: u64) -> TokenPair {
    serde_json::from_value(pair_json(access, refresh, created)).unwrap()
}

fn endpoint() -> Endpoint {
    Endpoint::new("https://host.name").unwrap()
}

fn client() -> Session {
    Session::client(endpoint(), pair(ACCESS_1, REFRESH_1, 0))
}

fn back_office() -> Session {
    Session::back_office(endpoint(), pair(ACCESS_1, REFRESH_1, 0))
}

fn answer(status: u16, body: impl Into<Vec<u8>>) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .body(body.into())
        .unwrap()
}

fn json_answer(status: u16, body: &Value) -> Response<Vec<u8>> {
    answer(status, serde_json::to_vec(body).unwrap())
}

/// The second pair, made at `created`, bare.
fn new_pair_answer(created: u64) -> Response<Vec<u8>> {
    json_answer(200, &pair_json(ACCESS_2, REFRESH_2, created))
}

fn api_request() -> Request<()> {
    Request::get("https://host.name/api/v2/my/accounts")
        .body(())
        .unwrap()
}

/// Asserts the whole request: method, URI, every header, and the body as JSON (or empty).
fn assert_request(
    request: &Request<Vec<u8>>,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) {
    assert_eq!(request.method(), method);
    assert_eq!(request.uri(), uri);
    let mut got: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    got.sort();
    let mut want: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    want.sort();
    assert_eq!(got, want);
    match body {
        Some(body) => assert_eq!(
            serde_json::from_slice::<Value>(request.body()).unwrap(),
            body
        ),
        None => assert!(request.body().is_empty()),
    }
}

const JSON_HEADERS: [(&str, &str); 2] = [
    ("accept", "application/json"),
    ("content-type", "application/json"),
];

fn refresh_headers() -> Vec<(&'static str, &'static str)> {
    JSON_HEADERS.to_vec()
}

fn assert_refresh_request(request: &Request<Vec<u8>>, uri: &str, refresh_token: &str) {
    assert_request(
        request,
        "POST",
        uri,
        &refresh_headers(),
        Some(json!({ "refreshToken": refresh_token })),
    );
}

fn assert_sign_out_request(request: &Request<Vec<u8>>, uri: &str, access_token: &str) {
    let bearer = format!("Bearer {access_token}");
    let mut headers = refresh_headers();
    headers.push(("authorization", &bearer));
    assert_request(request, "POST", uri, &headers, None);
}

fn ready<B>(outcome: Authorized<B>) -> Request<B> {
    match outcome {
        Authorized::Ready(request) => request,
        other => panic!("expected Ready, got {other:?}"),
    }
}

fn refresh_first<B>(outcome: Authorized<B>) -> (Request<Vec<u8>>, Request<B>) {
    match outcome {
        Authorized::RefreshFirst { refresh, original } => (refresh, original),
        other => panic!("expected RefreshFirst, got {other:?}"),
    }
}

fn bearer_of<B>(request: &Request<B>) -> Vec<&str> {
    request
        .headers()
        .get_all("authorization")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect()
}

fn wait<B>(outcome: Authorized<B>) -> (Option<SystemTime>, Request<B>) {
    match outcome {
        Authorized::Wait { until, original } => (until, original),
        other => panic!("expected Wait, got {other:?}"),
    }
}

/// A lone token made `created` seconds after T0, living `ttl` seconds.
fn lone(value: &str, created: u64, ttl: u64) -> Token {
    Token::new(value.into(), at(created), at(created + ttl)).unwrap()
}

/// Parks and resumes the session: it must come back `==`.
fn park(session: &Session) {
    let parked = serde_json::to_string(session).unwrap();
    let resumed: Session = serde_json::from_str(&parked).unwrap();
    assert_eq!(&resumed, session);
}

// ---------------------------------------------------------------------------------------
// The page's vectors

#[test]
fn back_office_refresh_is_the_pages_curl() {
    let tokens = pair(PAGE_ACCESS, PAGE_REFRESH, 0);
    let mut session = Session::back_office(endpoint(), tokens);
    let request = session.refresh(at(60)).sent();
    assert_refresh_request(&request, "https://host.name/api/v2/refresh", PAGE_REFRESH);
}

#[test]
fn back_office_sign_out_is_the_pages_curl() {
    let mut session = Session::back_office(endpoint(), pair(PAGE_ACCESS, PAGE_REFRESH, 0));
    let request = session.sign_out(at(0)).sent();
    assert_sign_out_request(&request, "https://host.name/api/v2/signout", PAGE_ACCESS);
}

#[test]
fn the_pages_refresh_answer_decodes_into_active() {
    let mut session = back_office();
    let _ = session.refresh(at(60)).sent();
    let step = session
        .handle_response(&answer(200, PAGE_REFRESH_ANSWER), at(61))
        .unwrap();
    assert_eq!(step, SessionStep::Active);
    let tokens = session.tokens().unwrap();
    assert_eq!(tokens.access().secret().expose(), PAGE_ACCESS);
    assert_eq!(tokens.refresh().secret().expose(), PAGE_REFRESH);
    let page_time = UNIX_EPOCH + Duration::from_secs(1_640_995_200);
    assert_eq!(tokens.access().expires_at(), page_time);
    assert_eq!(tokens.refresh().created_at(), page_time);
    // The page's example pair expired in 2022: now it can only end the session.
    assert_eq!(
        session.authorize(api_request(), at(62)).map(|_| ()),
        Err(Error::SessionEnded)
    );
}

#[test]
fn both_realms_use_their_own_paths() {
    assert_eq!(back_office().realm(), Realm::BackOffice);
    assert_eq!(client().realm(), Realm::Client);
    for (mut session, refresh, sign_out) in [
        (
            client(),
            "https://host.name/api/v2/my/refresh",
            "https://host.name/api/v2/my/signout",
        ),
        (
            back_office(),
            "https://host.name/api/v2/refresh",
            "https://host.name/api/v2/signout",
        ),
        (
            Session::new(
                Realm::Client,
                Endpoint::new("https://host.name/b2core/").unwrap(),
                pair(ACCESS_1, REFRESH_1, 0),
            ),
            "https://host.name/b2core/api/v2/my/refresh",
            "https://host.name/b2core/api/v2/my/signout",
        ),
    ] {
        let request = session.refresh(at(10)).sent();
        assert_refresh_request(&request, refresh, REFRESH_1);
        assert_eq!(
            session.handle_response(&new_pair_answer(10), at(11)),
            Ok(SessionStep::Active)
        );
        let request = session.sign_out(at(11)).sent();
        assert_sign_out_request(&request, sign_out, ACCESS_2);
    }
}

#[test]
fn errors_name_the_request_they_answer() {
    for (mut session, refresh_step, sign_out_step) in [
        (
            client(),
            "POST /api/v2/my/refresh",
            "POST /api/v2/my/signout",
        ),
        (
            back_office(),
            "POST /api/v2/refresh",
            "POST /api/v2/signout",
        ),
    ] {
        let _ = session.refresh(at(10)).sent();
        match session.handle_response(&answer(200, "{"), at(11)) {
            Err(Error::Malformed {
                step,
                field: "body",
                ..
            }) => assert_eq!(step, refresh_step),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            session.handle_response(&new_pair_answer(10), at(11)),
            Ok(SessionStep::Active)
        );
        let _ = session.sign_out(at(11)).sent();
        // A redirect never answers a sign-out: the error says which request it answered.
        match session.handle_response(&answer(302, ""), at(12)) {
            Err(Error::Malformed {
                step,
                field: "status",
                ..
            }) => assert_eq!(step, sign_out_step),
            other => panic!("{other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Transcripts

#[test]
fn authorize_while_valid_sets_exactly_the_bearer() {
    let mut session = client();
    let before = session.clone();
    let request = ready(session.authorize(api_request(), at(0)).unwrap());
    assert_eq!(bearer_of(&request), [format!("Bearer {ACCESS_1}")]);
    assert_eq!(request.uri(), "https://host.name/api/v2/my/accounts");
    assert!(request.headers()["authorization"].is_sensitive());
    assert_eq!(session, before, "a Ready changes nothing");

    // Any Authorization the caller set is replaced, every value of it.
    let mut request = Request::post("https://host.name/api/v2/my/x")
        .header("authorization", "Basic dXNlcjpwdw==")
        .header("x-keep", "1")
        .body(b"payload".to_vec())
        .unwrap();
    request
        .headers_mut()
        .append("authorization", "Bearer stale".parse().unwrap());
    let request = ready(session.authorize(request, at(100)).unwrap());
    assert_eq!(bearer_of(&request), [format!("Bearer {ACCESS_1}")]);
    assert_eq!(request.headers()["x-keep"], "1");
    assert_eq!(request.body(), b"payload");
}

#[test]
fn the_access_token_goes_to_the_sessions_host_only() {
    let mut session = client();
    let before = session.clone();
    let get = |uri: &str| Request::get(uri).body(Vec::<u8>::new()).unwrap();
    for elsewhere in [
        "https://evil.example/api/v2/my/accounts",
        "http://host.name/api/v2/my/accounts", // cleartext to the same name
        "https://host.name:8443/api/v2/my/accounts",
        "https://host.name.evil.example/api",
    ] {
        let error = session.authorize(get(elsewhere), at(0)).unwrap_err();
        assert_eq!(
            error,
            Error::InvalidInput {
                field: "request URI",
                reason: "is not on the session's host: its access token goes there only",
            },
            "{elsewhere}"
        );
        assert_eq!(session, before, "{elsewhere}: an error changes nothing");
    }
    // The host's own name in another case, and a relative URI, are the host's.
    for own in [
        "https://HOST.name/api/v2/my/accounts",
        "/api/v2/my/accounts",
    ] {
        let request = ready(session.authorize(get(own), at(0)).unwrap());
        assert_eq!(bearer_of(&request), [format!("Bearer {ACCESS_1}")], "{own}");
    }
}

#[test]
fn authorize_inside_the_leeway_refreshes_first_then_uses_the_new_token() {
    let mut session = client();
    // 31 s before expiry: still fresh; 30 s before: inside the default leeway.
    let _ = ready(
        session
            .authorize(api_request(), at(ACCESS_TTL - 31))
            .unwrap(),
    );
    let now = at(ACCESS_TTL - 30);
    let (refresh, original) = refresh_first(session.authorize(api_request(), now).unwrap());
    assert_refresh_request(&refresh, "https://host.name/api/v2/my/refresh", REFRESH_1);
    assert!(bearer_of(&original).is_empty(), "the original is untouched");
    assert_eq!(original.uri(), "https://host.name/api/v2/my/accounts");
    assert!(session.is_awaiting_response());
    assert_eq!(session.current_step(), None);
    park(&session);

    let step = session
        .handle_response(&new_pair_answer(ACCESS_TTL - 30), now)
        .unwrap();
    assert_eq!(step, SessionStep::Active);
    assert_eq!(session.current_step(), Some(SessionStep::Active));
    park(&session);
    let request = ready(session.authorize(original, now).unwrap());
    assert_eq!(bearer_of(&request), [format!("Bearer {ACCESS_2}")]);
}

#[test]
fn the_leeway_is_configurable() {
    let mut session = client().with_leeway(Duration::ZERO);
    assert_eq!(session.leeway(), Duration::ZERO);
    let _ = ready(
        session
            .authorize(api_request(), at(ACCESS_TTL - 1))
            .unwrap(),
    );
    let _ = refresh_first(session.authorize(api_request(), at(ACCESS_TTL)).unwrap());

    let mut session = client().with_leeway(Duration::from_secs(300));
    let _ = ready(
        session
            .authorize(api_request(), at(ACCESS_TTL - 301))
            .unwrap(),
    );
    let _ = refresh_first(
        session
            .authorize(api_request(), at(ACCESS_TTL - 300))
            .unwrap(),
    );

    // A leeway past the end of time: every token needs a refresh, nothing panics.
    let mut session = client().with_leeway(Duration::MAX);
    let _ = refresh_first(session.authorize(api_request(), at(0)).unwrap());
}

#[test]
fn proactive_refresh_then_authorize_with_the_new_token() {
    let mut session = back_office();
    let request = session.refresh(at(120)).sent();
    assert_refresh_request(&request, "https://host.name/api/v2/refresh", REFRESH_1);
    // Old tokens stay until the answer is in.
    assert_eq!(
        session.tokens().unwrap().access().secret().expose(),
        ACCESS_1
    );
    assert_eq!(
        session.handle_response(&new_pair_answer(120), at(121)),
        Ok(SessionStep::Active)
    );
    assert_eq!(session.tokens(), Some(&pair(ACCESS_2, REFRESH_2, 120)));
    let request = ready(session.authorize(api_request(), at(122)).unwrap());
    assert_eq!(bearer_of(&request), [format!("Bearer {ACCESS_2}")]);
    // The next refresh sends the new refresh token.
    let request = session.refresh(at(130)).sent();
    assert_refresh_request(&request, "https://host.name/api/v2/refresh", REFRESH_2);
}

#[test]
fn refresh_answer_inside_an_envelope_client_realm() {
    let mut session = client();
    let _ = session.refresh(at(60)).sent();
    let body = json!({
        "code": 200,
        "data": pair_json(ACCESS_2, REFRESH_2, 60),
        "done": true,
        "uuid": "36f59381-5b54-48bd-a0c7-3b908c476732",
        "workflow": "Terminate",
    });
    assert_eq!(
        session.handle_response(&json_answer(200, &body), at(61)),
        Ok(SessionStep::Active)
    );
    assert_eq!(session.tokens(), Some(&pair(ACCESS_2, REFRESH_2, 60)));
}

#[test]
fn refresh_answer_inside_an_envelope_back_office_realm() {
    let mut session = back_office();
    let _ = session.refresh(at(60)).sent();
    let body = json!({"code": 200, "data": pair_json(ACCESS_2, REFRESH_2, 60), "done": true, "uuid": "u-1", "workflow": "refresh"});
    assert_eq!(
        session.handle_response(&json_answer(200, &body), at(61)),
        Ok(SessionStep::Active)
    );
    assert_eq!(session.tokens(), Some(&pair(ACCESS_2, REFRESH_2, 60)));
}

#[test]
fn refresh_rejected_ends_the_session() {
    for status in [400, 401, 403] {
        let mut session = client();
        let _ = session.refresh(at(60)).sent();
        let body = json!({"error": {"code": 0, "details": [{"issue": "Token expired"}]}});
        assert_eq!(
            session.handle_response(&json_answer(status, &body), at(61)),
            Ok(SessionStep::Ended),
            "{status}"
        );
        park(&session);
        assert_eq!(session.current_step(), Some(SessionStep::Ended));
        assert_eq!(session.tokens(), None);
        let before = session.clone();
        assert_eq!(
            session.authorize(api_request(), at(62)).map(|_| ()),
            Err(Error::SessionEnded)
        );
        assert_eq!(
            session.refresh(at(62)).map(|_| ()),
            Err(Error::SessionEnded)
        );
        assert_eq!(
            session.sign_out(at(62)).map(|_| ()),
            Err(Error::SessionEnded)
        );
        assert_eq!(session.retry(at(62)).map(|_| ()), Err(Error::SessionEnded));
        assert_eq!(session, before);
    }
}

#[test]
fn other_refusals_leave_the_refresh_outstanding() {
    for status in [404, 409, 422, 500, 503] {
        let mut session = client();
        let request = session.refresh(at(60)).sent();
        let before = session.clone();
        let body = json!({"message": "nope"});
        assert_eq!(
            session.handle_response(&json_answer(status, &body), at(61)),
            Err(Error::Refused(ApiError::new(
                status,
                None,
                vec!["nope".into()]
            ))),
            "{status}"
        );
        assert_eq!(session, before);
        let again = session.retry(at(62)).sent();
        assert_refresh_request(&again, "https://host.name/api/v2/my/refresh", REFRESH_1);
        assert_eq!(again.body(), request.body());
        assert_eq!(
            session.handle_response(&new_pair_answer(62), at(63)),
            Ok(SessionStep::Active)
        );
    }
}

#[test]
fn a_malformed_refresh_answer_leaves_the_old_pair() {
    let good = pair_json(ACCESS_2, REFRESH_2, 60);
    let mut no_refresh = good.clone();
    no_refresh.as_object_mut().unwrap().remove("refreshToken");
    let mut bad_time = good.clone();
    bad_time["refreshToken"]["expiresAt"] = json!("tomorrow");
    let mut backwards = good.clone();
    backwards["accessToken"]["expiresAt"] = json!(ts(0));
    let mut empty_token = good.clone();
    empty_token["accessToken"]["token"] = json!("");
    let text = serde_json::to_string(&good).unwrap();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (text.as_bytes()[..text.len() / 2].to_vec(), "body"),
        (Vec::new(), "body"),
        (b"not json".to_vec(), "body"),
        (serde_json::to_vec(&no_refresh).unwrap(), "body"),
        (
            serde_json::to_vec(&bad_time).unwrap(),
            "refreshToken.expiresAt",
        ),
        (
            serde_json::to_vec(&backwards).unwrap(),
            "accessToken.expiresAt",
        ),
        (
            serde_json::to_vec(&empty_token).unwrap(),
            "accessToken.token",
        ),
        // A `code` other than the status, and any `uuid` (a refresh belongs to no wizard),
        // are no reason to refuse: `tests/hostile/cases.rs` checks they are read (noted).
        (
            serde_json::to_vec(
                &json!({"code": 200, "data": {"accessToken": 1}, "uuid": "u", "workflow": "w"}),
            )
            .unwrap(),
            "data",
        ),
    ];
    for (body, field) in cases {
        let mut session = client();
        let _ = session.refresh(at(60)).sent();
        let before = session.clone();
        match session.handle_response(&answer(200, body.clone()), at(61)) {
            Err(Error::Malformed {
                step: "POST /api/v2/my/refresh",
                field: f,
                reason,
            }) => {
                assert_eq!(f, field, "{}", String::from_utf8_lossy(&body));
                assert!(!reason.contains(ACCESS_2) && !reason.contains(REFRESH_2));
            }
            other => panic!("{other:?} for {}", String::from_utf8_lossy(&body)),
        }
        assert_eq!(session, before, "nothing changes");
        assert_eq!(
            session.tokens().unwrap().access().secret().expose(),
            ACCESS_1
        );
        // The proper answer still goes in.
        assert_eq!(
            session.handle_response(&new_pair_answer(60), at(62)),
            Ok(SessionStep::Active)
        );
    }
}

/// The session waits out a rate limit until `until`, the same way for the guard's refusal
/// and a 429: state `RateLimited`, step `RetryAt(until)`, the same deadline, nothing
/// outstanding; `retry` at `early` (before `until`) is `RetryAt(until)` again and changes
/// nothing.
#[track_caller]
fn assert_waits(session: &mut Session, until: SystemTime, early: SystemTime) {
    assert!(early < until);
    assert_eq!(session.state(), SessionState::RateLimited);
    assert_eq!(session.current_step(), Some(SessionStep::RetryAt(until)));
    assert_eq!(session.next_deadline(), Some(until));
    assert!(!session.is_awaiting_response());
    let before = session.clone();
    assert_eq!(session.retry(early).held(), until);
    assert_eq!(*session, before);
}

/// True when two requests are the same, byte for byte.
fn same_request(a: &Request<Vec<u8>>, b: &Request<Vec<u8>>) -> bool {
    a.method() == b.method()
        && a.uri() == b.uri()
        && a.headers() == b.headers()
        && a.body() == b.body()
}

#[test]
fn the_sixth_refresh_inside_a_minute_is_held_until_the_limit_allows_it() {
    let mut session = client();
    for t in [0, 10, 20, 30, 40] {
        let _ = session.refresh(at(t)).sent();
        assert_eq!(
            session.handle_response(&json_answer(200, &pair_json(ACCESS_2, REFRESH_2, t)), at(t)),
            Ok(SessionStep::Active)
        );
    }
    // Not sent: the session holds the refresh until the first one ages out.
    assert_eq!(session.refresh(at(59)).held(), at(60));
    assert_waits(&mut session, at(60), at(59));
    // The access token (until 940) still serves meanwhile, and no second refresh starts.
    let before = session.clone();
    let request = ready(session.authorize(api_request(), at(59)).unwrap());
    assert_eq!(bearer_of(&request), [format!("Bearer {ACCESS_2}")]);
    assert_eq!(session, before);
    assert_eq!(
        session.refresh(at(59)).map(|_| ()),
        Err(Error::OutOfOrder {
            call: "refresh",
            state: "rate limited"
        })
    );
    assert_eq!(session, before);
    let request = session.retry(at(60)).sent();
    assert_refresh_request(&request, "https://host.name/api/v2/my/refresh", REFRESH_2);
    let unheld = Session::client(endpoint(), pair(ACCESS_2, REFRESH_2, 40))
        .refresh(at(40))
        .sent();
    assert!(same_request(&request, &unheld), "{request:?}");
    assert_eq!(session.state(), SessionState::AwaitRefresh);
    // The retry counted: 10, 20, 30, 40 and 60 are inside the window.
    assert_eq!(session.guard().next_allowed(at(61)), Some(at(70)));
}

#[test]
fn a_lost_refresh_retried_with_the_limit_reached_is_held() {
    let mut session = client();
    for t in [0, 1, 2, 3] {
        let _ = session.refresh(at(t)).sent();
        assert_eq!(
            session.handle_response(&json_answer(200, &pair_json(ACCESS_2, REFRESH_2, t)), at(t)),
            Ok(SessionStep::Active)
        );
    }
    let first = session.refresh(at(4)).sent();
    // The answer never came; resending it would be a sixth refresh inside the minute.
    assert_eq!(session.retry(at(5)).held(), at(60));
    assert_waits(&mut session, at(60), at(59));
    let again = session.retry(at(60)).sent();
    assert!(same_request(&again, &first), "{again:?}");
    assert_eq!(
        session.handle_response(&new_pair_answer(60), at(61)),
        Ok(SessionStep::Active)
    );
}

#[test]
fn an_authorize_that_needs_a_refresh_counts_against_the_limit() {
    let mut session = client().with_leeway(Duration::from_secs(REFRESH_TTL));
    // With a leeway this long every authorize asks for a refresh.
    for t in [0, 1, 2, 3, 4] {
        let _ = refresh_first(session.authorize(api_request(), at(t)).unwrap());
        let _ = session
            .handle_response(&json_answer(200, &pair_json(ACCESS_1, REFRESH_1, 0)), at(t))
            .unwrap();
    }
    // The limit allows no sixth refresh before 60: the access token (until 900) serves,
    // and no refresh is started.
    let before = session.clone();
    let request = ready(session.authorize(api_request(), at(5)).unwrap());
    assert_eq!(bearer_of(&request), [format!("Bearer {ACCESS_1}")]);
    assert_eq!(session, before);
    // At 60 the limit allows one again: this call starts it.
    let _ = refresh_first(session.authorize(api_request(), at(60)).unwrap());
}

#[test]
fn an_expired_token_waits_for_the_refresh_limit_then_starts_the_refresh() {
    let mut session = client();
    // Five refreshes a minute that all bring a pair already expired at 900.
    let stale = json_answer(200, &pair_json(ACCESS_1, REFRESH_1, 0));
    for t in [900, 901, 902, 903, 904] {
        let _ = refresh_first(session.authorize(api_request(), at(t)).unwrap());
        assert_eq!(
            session.handle_response(&stale, at(t)),
            Ok(SessionStep::Active)
        );
    }
    let before = session.clone();
    match session.authorize(api_request(), at(905)).unwrap() {
        Authorized::Wait { until, original } => {
            assert_eq!(until, Some(at(960)));
            assert!(bearer_of(&original).is_empty(), "nothing attached");
        }
        other => panic!("expected Wait, got {other:?}"),
    }
    assert_eq!(session, before, "a Wait changes nothing");
    // Left to `authorize`, the refresh starts once the limit allows it.
    let mut left = session.clone();
    let (refresh, _) = refresh_first(left.authorize(api_request(), at(960)).unwrap());
    assert_refresh_request(&refresh, "https://host.name/api/v2/my/refresh", REFRESH_1);
    // Asked for now, it is held until then, as after a 429: requests wait for the same
    // instant, and `retry` then sends the same refresh.
    assert_eq!(session.refresh(at(905)).held(), at(960));
    assert_waits(&mut session, at(960), at(959));
    let (until, _) = wait(session.authorize(api_request(), at(959)).unwrap());
    assert_eq!(until, Some(at(960)));
    let held = session.retry(at(960)).sent();
    assert!(same_request(&held, &refresh), "{held:?}");
}

#[test]
fn a_429_waits_then_retry_resends() {
    let mut session = client();
    let first = session.refresh(at(100)).sent();
    let limited = Response::builder()
        .status(429)
        .header("retry-after", "120")
        .body(Vec::new())
        .unwrap();
    assert_eq!(
        session.handle_response(&limited, at(101)),
        Ok(SessionStep::RetryAt(at(221)))
    );
    assert_eq!(session.current_step(), Some(SessionStep::RetryAt(at(221))));
    assert!(!session.is_awaiting_response());
    park(&session);
    // The old tokens are still held while the limit is waited out.
    assert_eq!(
        session.tokens().unwrap().access().secret().expose(),
        ACCESS_1
    );
    let before = session.clone();
    // The access token (until 900) still serves while the 429 is waited out.
    let request = ready(session.authorize(api_request(), at(150)).unwrap());
    assert_eq!(bearer_of(&request), [format!("Bearer {ACCESS_1}")]);
    assert_eq!(session, before);
    assert_eq!(
        session.sign_out(at(150)).map(|_| ()),
        Err(Error::OutOfOrder {
            call: "sign_out",
            state: "rate limited"
        })
    );
    assert_eq!(session, before);
    assert_waits(&mut session, at(221), at(150));
    assert_waits(&mut session, at(221), at(220));
    let again = session.retry(at(221)).sent();
    assert_refresh_request(&again, "https://host.name/api/v2/my/refresh", REFRESH_1);
    assert!(same_request(&again, &first), "{again:?}");
    assert_eq!(session.state(), SessionState::AwaitRefresh);
    assert_eq!(session.next_deadline(), None);
    assert_eq!(
        session.handle_response(&new_pair_answer(221), at(222)),
        Ok(SessionStep::Active)
    );
    assert_eq!(
        bearer_of(&ready(session.authorize(api_request(), at(223)).unwrap())),
        [format!("Bearer {ACCESS_2}")]
    );
}

#[test]
fn a_429_without_retry_after_waits_a_minute_and_blocks_the_guard() {
    let mut session = back_office();
    let _ = session.refresh(at(0)).sent();
    assert_eq!(
        session.handle_response(&answer(429, Vec::new()), at(1)),
        Ok(SessionStep::RetryAt(at(61)))
    );
    assert_eq!(session.guard().next_allowed(at(2)), Some(at(61)));
}

#[test]
fn an_expired_refresh_token_ends_the_session_before_sending() {
    let mut session = client();
    let now = at(REFRESH_TTL);
    let before = session.clone();
    assert_eq!(
        session.authorize(api_request(), now).map(|_| ()),
        Err(Error::SessionEnded)
    );
    assert_eq!(session.refresh(now).map(|_| ()), Err(Error::SessionEnded));
    // The Err changes nothing: the session keeps its (useless) tokens and says so again.
    assert_eq!(session, before);
    assert!(session.tokens().is_some());
    assert_eq!(
        session.authorize(api_request(), now).map(|_| ()),
        Err(Error::SessionEnded)
    );
    // One second earlier, it would have refreshed.
    let _ = refresh_first(
        session
            .authorize(api_request(), at(REFRESH_TTL - 1))
            .unwrap(),
    );

    // A refresh token that expires while a 429 is waited out is not sent again.
    let mut session = client();
    let _ = session.refresh(at(REFRESH_TTL - 10)).sent();
    let _ = session
        .handle_response(&answer(429, Vec::new()), at(REFRESH_TTL - 10))
        .unwrap();
    let before = session.clone();
    assert_eq!(
        session.retry(at(REFRESH_TTL + 50)).map(|_| ()),
        Err(Error::SessionEnded)
    );
    assert_eq!(session, before);

    // Signing out needs no refresh: still allowed.
    let mut session = client();
    let request = session.sign_out(at(REFRESH_TTL)).sent();
    assert_sign_out_request(&request, "https://host.name/api/v2/my/signout", ACCESS_1);
    assert_eq!(
        session.handle_response(&answer(401, Vec::new()), at(REFRESH_TTL + 1)),
        Ok(SessionStep::SignedOut {
            already_revoked: true
        })
    );
}

#[test]
fn sign_out_200_and_401() {
    for (status, already_revoked) in [(200, false), (401, true)] {
        let mut session = client();
        let _ = session.sign_out(at(0)).sent();
        assert!(session.is_awaiting_response());
        park(&session);
        assert_eq!(
            session.handle_response(&answer(status, Vec::new()), at(10)),
            Ok(SessionStep::SignedOut { already_revoked })
        );
        park(&session);
        assert_eq!(
            session.current_step(),
            Some(SessionStep::SignedOut { already_revoked })
        );
        assert_eq!(session.tokens(), None);
    }
}

#[test]
fn nothing_works_after_sign_out() {
    let mut session = back_office();
    let _ = session.sign_out(at(0)).sent();
    let _ = session
        .handle_response(&answer(200, Vec::new()), at(10))
        .unwrap();
    let before = session.clone();
    assert_eq!(
        session.authorize(api_request(), at(11)).map(|_| ()),
        Err(Error::SessionEnded)
    );
    assert_eq!(
        session.refresh(at(11)).map(|_| ()),
        Err(Error::SessionEnded)
    );
    assert_eq!(
        session.sign_out(at(11)).map(|_| ()),
        Err(Error::SessionEnded)
    );
    assert_eq!(session.retry(at(11)).map(|_| ()), Err(Error::SessionEnded));
    assert_eq!(
        session.handle_response(&answer(200, Vec::new()), at(11)),
        Err(Error::OutOfOrder {
            call: "handle_response",
            state: "signed out"
        })
    );
    assert_eq!(session, before);
}

#[test]
fn sign_out_429_and_5xx_keep_it_outstanding() {
    let mut session = client();
    let _ = session.sign_out(at(0)).sent();
    assert_eq!(
        session.handle_response(&answer(500, Vec::new()), at(1)),
        Err(Error::Refused(ApiError::new(500, None, vec![])))
    );
    assert_eq!(
        session.handle_response(&answer(403, Vec::new()), at(1)),
        Err(Error::Refused(ApiError::new(403, None, vec![])))
    );
    assert!(session.is_awaiting_response());
    let limited = Response::builder()
        .status(429)
        .header("retry-after", "5")
        .body(Vec::new())
        .unwrap();
    assert_eq!(
        session.handle_response(&limited, at(2)),
        Ok(SessionStep::RetryAt(at(7)))
    );
    // Sign-out does not count against the refresh limit.
    assert_eq!(session.guard().next_allowed(at(2)), None);
    let again = session.retry(at(7)).sent();
    assert_sign_out_request(&again, "https://host.name/api/v2/my/signout", ACCESS_1);
    assert_eq!(
        session.handle_response(&answer(204, Vec::new()), at(8)),
        Ok(SessionStep::SignedOut {
            already_revoked: false
        })
    );
}

#[test]
fn one_request_at_a_time() {
    let mut session = client();
    assert_eq!(
        session.handle_response(&answer(200, Vec::new()), at(0)),
        Err(Error::OutOfOrder {
            call: "handle_response",
            state: "active"
        })
    );
    assert_eq!(
        session.retry(at(0)).map(|_| ()),
        Err(Error::OutOfOrder {
            call: "retry",
            state: "active"
        })
    );
    let _ = session.refresh(at(0)).sent();
    let before = session.clone();
    let waiting = "waiting for the refresh answer";
    // The access token serves while the refresh is out (see the gateway tests below).
    let _ = ready(session.authorize(api_request(), at(1)).unwrap());
    assert_eq!(
        session.refresh(at(1)).map(|_| ()),
        Err(Error::OutOfOrder {
            call: "refresh",
            state: waiting
        })
    );
    assert_eq!(
        session.sign_out(at(1)).map(|_| ()),
        Err(Error::OutOfOrder {
            call: "sign_out",
            state: waiting
        })
    );
    assert_eq!(session, before);

    let mut session = client();
    let _ = session.sign_out(at(0)).sent();
    assert_eq!(
        session.authorize(api_request(), at(1)).map(|_| ()),
        Err(Error::OutOfOrder {
            call: "authorize",
            state: "waiting for the sign-out answer"
        })
    );
}

#[test]
fn a_lost_refresh_is_retried_as_is() {
    let mut session = client();
    let first = session.refresh(at(0)).sent();
    // The transport failed: send the same refresh again (it counts again).
    let again = session.retry(at(5)).sent();
    assert_eq!(again.body(), first.body());
    assert_eq!(again.uri(), first.uri());
    assert_eq!(
        session.handle_response(&new_pair_answer(5), at(6)),
        Ok(SessionStep::Active)
    );
}

// ---------------------------------------------------------------------------------------
// Gateways: one session, many requests, one refresh at a time

#[test]
fn a_refresh_in_flight_leaves_the_token_serving_until_it_expires() {
    let mut session = client();
    // Inside the leeway: this call starts the refresh and owns it.
    let (refresh, original) = refresh_first(
        session
            .authorize(api_request(), at(ACCESS_TTL - 30))
            .unwrap(),
    );
    assert_refresh_request(&refresh, "https://host.name/api/v2/my/refresh", REFRESH_1);
    let waiting = session.clone();
    // The owner's own request need not wait the round trip, nor anyone else's.
    for t in [ACCESS_TTL - 30, ACCESS_TTL - 10, ACCESS_TTL - 1] {
        let request = ready(session.authorize(api_request(), at(t)).unwrap());
        assert_eq!(
            bearer_of(&request),
            [format!("Bearer {ACCESS_1}")],
            "at {t}"
        );
        assert_eq!(session, waiting, "a Ready changes nothing");
    }
    let request = ready(session.authorize(original, at(ACCESS_TTL - 30)).unwrap());
    assert_eq!(bearer_of(&request), [format!("Bearer {ACCESS_1}")]);
    // From `expiresAt` on, requests wait for the answer, untouched.
    for t in [ACCESS_TTL, ACCESS_TTL + 100] {
        let mut request = api_request();
        request
            .headers_mut()
            .insert("authorization", "Basic old".parse().unwrap());
        let (until, original) = wait(session.authorize(request, at(t)).unwrap());
        assert_eq!(until, None, "the answer comes first");
        assert_eq!(bearer_of(&original), ["Basic old"], "untouched");
        assert_eq!(session, waiting, "a Wait changes nothing");
    }
    park(&session);
    assert_eq!(
        session.handle_response(&new_pair_answer(ACCESS_TTL), at(ACCESS_TTL + 100)),
        Ok(SessionStep::Active)
    );
    let request = ready(
        session
            .authorize(api_request(), at(ACCESS_TTL + 100))
            .unwrap(),
    );
    assert_eq!(bearer_of(&request), [format!("Bearer {ACCESS_2}")]);
}

#[test]
fn single_flight_one_refresh_however_many_requests() {
    let mut session = client();
    let (first, _) = refresh_first(
        session
            .authorize(api_request(), at(ACCESS_TTL - 20))
            .unwrap(),
    );
    let guard = session.guard().clone();
    // A hundred requests inside the leeway and after expiry: none starts a refresh.
    for i in 0..100 {
        let now = at(ACCESS_TTL - 20 + i / 2);
        match session.authorize(api_request(), now).unwrap() {
            Authorized::Ready(request) => {
                assert!(i / 2 < 20, "Ready after expiry at {i}");
                assert_eq!(bearer_of(&request), [format!("Bearer {ACCESS_1}")]);
            }
            Authorized::Wait { until: None, .. } => assert!(i / 2 >= 20, "Wait before expiry"),
            other => panic!("a second refresh or another outcome: {other:?}"),
        }
        assert_eq!(session.state(), SessionState::AwaitRefresh);
    }
    assert_eq!(session.guard(), &guard, "one refresh counted");
    // A proactive refresh or a sign-out is out of order, as before.
    assert!(matches!(
        session.refresh(at(ACCESS_TTL)),
        Err(Error::OutOfOrder {
            call: "refresh",
            ..
        })
    ));
    // The answer goes in once, for everyone.
    assert_eq!(
        session.handle_response(&new_pair_answer(ACCESS_TTL), at(ACCESS_TTL + 30)),
        Ok(SessionStep::Active)
    );
    assert!(first
        .body()
        .windows(REFRESH_1.len())
        .any(|w| w == REFRESH_1.as_bytes()));
}

#[test]
fn a_429_on_the_refresh_keeps_the_token_serving_then_waits_until_the_retry() {
    let mut session = client();
    let _ = session.refresh(at(ACCESS_TTL - 40)).sent();
    let limited = Response::builder()
        .status(429)
        .header("retry-after", "60")
        .body(Vec::new())
        .unwrap();
    let retry_at = at(ACCESS_TTL + 20);
    assert_eq!(
        session.handle_response(&limited, at(ACCESS_TTL - 40)),
        Ok(SessionStep::RetryAt(retry_at))
    );
    let limited_session = session.clone();
    // Before expiry: Ready with the current token, no refresh.
    let request = ready(
        session
            .authorize(api_request(), at(ACCESS_TTL - 1))
            .unwrap(),
    );
    assert_eq!(bearer_of(&request), [format!("Bearer {ACCESS_1}")]);
    // Expired, the 429 not yet waited out: wait until the retry.
    let (until, _) = wait(session.authorize(api_request(), at(ACCESS_TTL)).unwrap());
    assert_eq!(until, Some(retry_at));
    // Waited out, no one retried yet: the retry's answer comes first.
    let (until, _) = wait(session.authorize(api_request(), retry_at).unwrap());
    assert_eq!(until, None);
    assert_eq!(
        session, limited_session,
        "authorize never retries by itself"
    );
    assert_eq!(session.state(), SessionState::RateLimited);
    park(&session);
    // The owner retries; still one refresh, then the new token.
    let _ = session.retry(retry_at).sent();
    let (until, _) = wait(session.authorize(api_request(), retry_at).unwrap());
    assert_eq!(until, None);
    assert_eq!(
        session.handle_response(&new_pair_answer(ACCESS_TTL + 20), retry_at),
        Ok(SessionStep::Active)
    );
    let request = ready(session.authorize(api_request(), retry_at).unwrap());
    assert_eq!(bearer_of(&request), [format!("Bearer {ACCESS_2}")]);

    // A refresh token that expires while the 429 is waited out ends the session for every
    // caller: the refresh can never be sent again.
    let mut session = client();
    let _ = session.refresh(at(REFRESH_TTL - 10)).sent();
    let _ = session
        .handle_response(&answer(429, Vec::new()), at(REFRESH_TTL - 10))
        .unwrap();
    let before = session.clone();
    let (until, _) = wait(
        session
            .authorize(api_request(), at(REFRESH_TTL - 1))
            .unwrap(),
    );
    assert_eq!(until, Some(at(REFRESH_TTL + 50)));
    assert_eq!(
        session
            .authorize(api_request(), at(REFRESH_TTL))
            .map(|_| ()),
        Err(Error::SessionEnded)
    );
    assert_eq!(session, before);
}

#[test]
fn a_sign_out_outstanding_or_rate_limited_refuses_authorize() {
    let mut session = client();
    let _ = session.sign_out(at(0)).sent();
    let refused = |session: &mut Session, state| {
        assert_eq!(
            session.authorize(api_request(), at(1)).map(|_| ()),
            Err(Error::OutOfOrder {
                call: "authorize",
                state
            })
        );
    };
    refused(&mut session, "waiting for the sign-out answer");
    let _ = session
        .handle_response(&answer(429, Vec::new()), at(1))
        .unwrap();
    refused(&mut session, "rate limited");
}

#[test]
fn a_lost_refresh_answer_then_retry() {
    let mut session = client();
    let (first, _) = refresh_first(session.authorize(api_request(), at(ACCESS_TTL)).unwrap());
    // The answer never came: requests wait, the owner sends the same refresh again.
    let (until, _) = wait(
        session
            .authorize(api_request(), at(ACCESS_TTL + 5))
            .unwrap(),
    );
    assert_eq!(until, None);
    let again = session.retry(at(ACCESS_TTL + 10)).sent();
    assert_eq!(again.body(), first.body());
    assert_eq!(session.guard().next_allowed(at(ACCESS_TTL + 10)), None);
    let (until, _) = wait(
        session
            .authorize(api_request(), at(ACCESS_TTL + 11))
            .unwrap(),
    );
    assert_eq!(until, None, "still one refresh, the retried one");
    assert_eq!(
        session.handle_response(&new_pair_answer(ACCESS_TTL + 10), at(ACCESS_TTL + 12)),
        Ok(SessionStep::Active)
    );
    let request = ready(
        session
            .authorize(api_request(), at(ACCESS_TTL + 12))
            .unwrap(),
    );
    assert_eq!(bearer_of(&request), [format!("Bearer {ACCESS_2}")]);
}

#[test]
fn an_expired_refresh_token_leaves_the_access_token_serving_until_it_expires() {
    // A pair whose refresh token dies before its access token (the server decides).
    let tokens = serde_json::from_value(json!({
        "accessToken": {"token": ACCESS_1, "createdAt": ts(0), "expiresAt": ts(ACCESS_TTL)},
        "refreshToken": {"token": REFRESH_1, "createdAt": ts(0), "expiresAt": ts(600)},
    }))
    .unwrap();
    let mut session = Session::client(endpoint(), tokens);
    let before = session.clone();
    // Inside the leeway, no refresh possible: the token serves.
    let request = ready(
        session
            .authorize(api_request(), at(ACCESS_TTL - 10))
            .unwrap(),
    );
    assert_eq!(bearer_of(&request), [format!("Bearer {ACCESS_1}")]);
    assert_eq!(session, before);
    assert_eq!(
        session.authorize(api_request(), at(ACCESS_TTL)).map(|_| ()),
        Err(Error::SessionEnded)
    );
}

// ---------------------------------------------------------------------------------------
// Sessions from one token

#[test]
fn from_a_refresh_token_the_first_authorize_refreshes() {
    for (realm, uri) in [
        (Realm::Client, "https://host.name/api/v2/my/refresh"),
        (Realm::BackOffice, "https://host.name/api/v2/refresh"),
    ] {
        let mut session =
            Session::from_refresh_token(realm, endpoint(), lone(REFRESH_1, 0, REFRESH_TTL));
        assert_eq!(session.state(), SessionState::RefreshOnly);
        assert_eq!(session.current_step(), Some(SessionStep::Active));
        assert_eq!(session.tokens(), None);
        assert_eq!(session.access_token(), None);
        assert_eq!(
            session.refresh_token().unwrap().secret().expose(),
            REFRESH_1
        );
        assert!(!session.is_awaiting_response());
        park(&session);
        let before = session.clone();
        // Nothing to sign out with yet.
        assert_eq!(
            session.sign_out(at(0)).map(|_| ()),
            Err(Error::OutOfOrder {
                call: "sign_out",
                state: "holding only a refresh token"
            })
        );
        assert_eq!(
            session.retry(at(0)).map(|_| ()),
            Err(Error::OutOfOrder {
                call: "retry",
                state: "holding only a refresh token"
            })
        );
        assert_eq!(session, before);

        let (refresh, original) = refresh_first(session.authorize(api_request(), at(100)).unwrap());
        assert_refresh_request(&refresh, uri, REFRESH_1);
        assert!(bearer_of(&original).is_empty());
        assert_eq!(session.state(), SessionState::AwaitRefresh);
        assert_eq!(session.tokens(), None);
        park(&session);
        // No access token to serve meanwhile: every request waits.
        let (until, _) = wait(session.authorize(api_request(), at(100)).unwrap());
        assert_eq!(until, None);
        assert_eq!(
            session.handle_response(&new_pair_answer(100), at(101)),
            Ok(SessionStep::Active)
        );
        assert_eq!(session.state(), SessionState::Active);
        assert_eq!(session.tokens(), Some(&pair(ACCESS_2, REFRESH_2, 100)));
        let request = ready(session.authorize(original, at(101)).unwrap());
        assert_eq!(bearer_of(&request), [format!("Bearer {ACCESS_2}")]);
    }
}

#[test]
fn from_a_refresh_token_refresh_429_refusal_and_expiry() {
    // A proactive refresh works the same.
    let mut session =
        Session::from_refresh_token(Realm::Client, endpoint(), lone(REFRESH_1, 0, REFRESH_TTL));
    let request = session.refresh(at(10)).sent();
    assert_refresh_request(&request, "https://host.name/api/v2/my/refresh", REFRESH_1);
    let limited = Response::builder()
        .status(429)
        .header("retry-after", "30")
        .body(Vec::new())
        .unwrap();
    assert_eq!(
        session.handle_response(&limited, at(10)),
        Ok(SessionStep::RetryAt(at(40)))
    );
    park(&session);
    let (until, _) = wait(session.authorize(api_request(), at(20)).unwrap());
    assert_eq!(until, Some(at(40)));
    let again = session.retry(at(40)).sent();
    assert_eq!(again.body(), request.body());
    // The server refuses it: ended.
    assert_eq!(
        session.handle_response(&answer(401, Vec::new()), at(41)),
        Ok(SessionStep::Ended)
    );
    assert_eq!(session.refresh_token(), None);
    assert_eq!(
        session.authorize(api_request(), at(41)).map(|_| ()),
        Err(Error::SessionEnded)
    );

    // An expired refresh token: nothing is sent, ever.
    let mut session =
        Session::from_refresh_token(Realm::Client, endpoint(), lone(REFRESH_1, 0, REFRESH_TTL));
    let before = session.clone();
    let now = at(REFRESH_TTL);
    assert_eq!(
        session.authorize(api_request(), now).map(|_| ()),
        Err(Error::SessionEnded)
    );
    assert_eq!(session.refresh(now).map(|_| ()), Err(Error::SessionEnded));
    assert_eq!(session, before);
}

#[test]
fn from_an_access_token_authorize_until_it_expires_and_sign_out() {
    let mut session =
        Session::from_access_token(Realm::BackOffice, endpoint(), lone(ACCESS_1, 0, ACCESS_TTL));
    assert_eq!(session.state(), SessionState::AccessOnly);
    assert_eq!(session.current_step(), Some(SessionStep::Active));
    assert_eq!(session.tokens(), None);
    assert_eq!(session.refresh_token(), None);
    assert_eq!(session.access_token().unwrap().secret().expose(), ACCESS_1);
    park(&session);
    let before = session.clone();
    // No leeway: there is no refresh to start early. The token serves to its `expiresAt`.
    for t in [0, ACCESS_TTL - 30, ACCESS_TTL - 1] {
        let request = ready(session.authorize(api_request(), at(t)).unwrap());
        assert_eq!(bearer_of(&request), [format!("Bearer {ACCESS_1}")]);
        assert!(request.headers()["authorization"].is_sensitive());
    }
    assert_eq!(
        session.authorize(api_request(), at(ACCESS_TTL)).map(|_| ()),
        Err(Error::SessionEnded)
    );
    assert_eq!(
        session.refresh(at(0)).map(|_| ()),
        Err(Error::OutOfOrder {
            call: "refresh",
            state: "holding only an access token"
        })
    );
    assert_eq!(
        session.retry(at(0)).map(|_| ()),
        Err(Error::OutOfOrder {
            call: "retry",
            state: "holding only an access token"
        })
    );
    assert_eq!(session, before);

    // Sign-out, even expired (the host answers 401 then).
    let request = session.sign_out(at(ACCESS_TTL)).sent();
    assert_sign_out_request(&request, "https://host.name/api/v2/signout", ACCESS_1);
    park(&session);
    assert_eq!(
        session.authorize(api_request(), at(1)).map(|_| ()),
        Err(Error::OutOfOrder {
            call: "authorize",
            state: "waiting for the sign-out answer"
        })
    );
    let limited = Response::builder()
        .status(429)
        .header("retry-after", "5")
        .body(Vec::new())
        .unwrap();
    assert_eq!(
        session.handle_response(&limited, at(ACCESS_TTL + 1)),
        Ok(SessionStep::RetryAt(at(ACCESS_TTL + 6)))
    );
    park(&session);
    let again = session.retry(at(ACCESS_TTL + 6)).sent();
    assert_sign_out_request(&again, "https://host.name/api/v2/signout", ACCESS_1);
    assert_eq!(
        session.handle_response(&answer(401, Vec::new()), at(ACCESS_TTL + 7)),
        Ok(SessionStep::SignedOut {
            already_revoked: true
        })
    );
    assert_eq!(session.access_token(), None);

    let mut session =
        Session::from_access_token(Realm::Client, endpoint(), lone(ACCESS_1, 0, ACCESS_TTL));
    let request = session.sign_out(at(0)).sent();
    assert_sign_out_request(&request, "https://host.name/api/v2/my/signout", ACCESS_1);
    assert_eq!(
        session.handle_response(&answer(200, Vec::new()), at(1)),
        Ok(SessionStep::SignedOut {
            already_revoked: false
        })
    );
}

#[test]
fn lone_token_sessions_park_in_the_vendors_shape_and_old_parks_still_read() {
    let refresh_only =
        Session::from_refresh_token(Realm::Client, endpoint(), lone(REFRESH_1, 0, REFRESH_TTL));
    let access_only =
        Session::from_access_token(Realm::Client, endpoint(), lone(ACCESS_1, 0, ACCESS_TTL));
    let stage = |session: &Session| {
        let parked = serde_json::to_value(session).unwrap();
        parked["driver"]["phase"]["At"]["stage"].clone()
    };
    let token =
        |value: &str, ttl: u64| json!({"token": value, "createdAt": ts(0), "expiresAt": ts(ttl)});
    assert_eq!(
        stage(&refresh_only),
        json!({"Active": {"refreshToken": token(REFRESH_1, REFRESH_TTL)}})
    );
    assert_eq!(
        stage(&access_only),
        json!({"Active": {"accessToken": token(ACCESS_1, ACCESS_TTL)}})
    );
    assert_eq!(
        stage(&client()),
        json!({"Active": pair_json(ACCESS_1, REFRESH_1, 0)})
    );
    park(&refresh_only);
    park(&access_only);

    // What the previous version parked (a pair, active; a pair, rate limited) reads back.
    let old_active = r#"{"driver":{"endpoint":{"base":"https://host.name","body_limit":1048576},"guards":{"limit":5,"window":{"secs":60,"nanos":0},"recent":[],"blocked_until":null},"phase":{"At":{"realm":"Client","stage":{"Active":{"accessToken":{"token":"ACCESS-old","createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T11:22:24+00:00"},"refreshToken":{"token":"REFRESH-old","createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T12:07:24+00:00"}}}}}},"leeway":{"secs":30,"nanos":0}}"#;
    let old_limited = r#"{"driver":{"endpoint":{"base":"https://host.name","body_limit":1048576},"guards":{"limit":5,"window":{"secs":60,"nanos":0},"recent":[{"secs_since_epoch":1713784104,"nanos_since_epoch":0}],"blocked_until":{"secs_since_epoch":1713784134,"nanos_since_epoch":0}},"phase":{"Waiting":{"retry_at":{"secs_since_epoch":1713784134,"nanos_since_epoch":0},"resume":{"realm":"Client","stage":{"AwaitRefresh":{"accessToken":{"token":"ACCESS-old","createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T11:22:24+00:00"},"refreshToken":{"token":"REFRESH-old","createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T12:07:24+00:00"}}}}}}},"leeway":{"secs":30,"nanos":0}}"#;
    let mut active: Session = serde_json::from_str(old_active).unwrap();
    assert_eq!(active.state(), SessionState::Active);
    // Parked again, in the current format: the same members after `"format":2`.
    let current = format!(r#"{{"format":2,{}"#, &old_active[1..]);
    assert_eq!(serde_json::to_string(&active).unwrap(), current);
    let request = ready(active.authorize(api_request(), at(0)).unwrap());
    assert_eq!(bearer_of(&request), ["Bearer ACCESS-old"]);
    let mut limited: Session = serde_json::from_str(old_limited).unwrap();
    let current = format!(r#"{{"format":2,{}"#, &old_limited[1..]);
    assert_eq!(serde_json::to_string(&limited).unwrap(), current);
    assert_eq!(limited.current_step(), Some(SessionStep::RetryAt(at(90))));
    let again = limited.retry(at(90)).sent();
    assert_refresh_request(&again, "https://host.name/api/v2/my/refresh", "REFRESH-old");
}

#[test]
fn a_parked_session_that_could_not_be_is_refused() {
    let parked = |stage: Value| {
        let mut session = serde_json::to_value(client()).unwrap();
        session["driver"]["phase"]["At"]["stage"] = stage;
        serde_json::from_value::<Session>(session).map_err(|e| e.to_string())
    };
    let good = |value: &str| json!({"token": value, "createdAt": ts(0), "expiresAt": ts(60)});
    let cases = [
        (
            json!({"AwaitRefresh": {"accessToken": good(ACCESS_1)}}),
            "without a refresh token",
        ),
        (
            json!({"AwaitSignOut": {"refreshToken": good(REFRESH_1)}}),
            "without an access token",
        ),
        (json!({"Active": {}}), "holds no token"),
        (
            json!({"Active": {"refreshToken": {"token": REFRESH_1, "createdAt": ts(60), "expiresAt": ts(0)}}}),
            "expires before it was created",
        ),
        (
            json!({"Active": {"accessToken": {"token": "", "createdAt": ts(0), "expiresAt": ts(60)}}}),
            "is empty",
        ),
        (
            json!({"Active": {"accessToken": {"token": "a b", "createdAt": ts(0), "expiresAt": ts(60)}}}),
            "header cannot carry",
        ),
        (
            json!({"Active": {"refreshToken": {"token": REFRESH_1, "createdAt": "yesterday", "expiresAt": ts(60)}}}),
            "parked token",
        ),
    ];
    for (stage, reason) in cases {
        let error = parked(stage.clone()).unwrap_err();
        assert!(error.contains(reason), "{stage}: {error}");
        assert!(
            !error.contains(ACCESS_1) && !error.contains(REFRESH_1),
            "{error}"
        );
    }
    // The good ones for contrast.
    assert!(parked(json!({"AwaitRefresh": {"refreshToken": good(REFRESH_1)}})).is_ok());
    assert!(parked(json!({"AwaitSignOut": {"accessToken": good(ACCESS_1)}})).is_ok());
}

#[test]
fn lone_token_sessions_show_no_secret() {
    let mut refresh_only =
        Session::from_refresh_token(Realm::Client, endpoint(), lone(REFRESH_1, 0, REFRESH_TTL));
    let mut access_only =
        Session::from_access_token(Realm::Client, endpoint(), lone(ACCESS_1, 0, ACCESS_TTL));
    let mut text = format!("{refresh_only:?} {access_only:?}");
    let outcome = refresh_only.authorize(api_request(), at(0)).unwrap();
    text += &format!("{outcome:?} {refresh_only:?}");
    let outcome = access_only.authorize(api_request(), at(0)).unwrap();
    let sign_out = access_only.sign_out(at(0)).sent();
    text += &format!("{outcome:?} {access_only:?} {:?}", sign_out.headers());
    for secret in [ACCESS_1, REFRESH_1] {
        assert!(!text.contains(secret), "{text}");
    }
    assert!(
        text.contains("RefreshOnly") && text.contains("AccessOnly"),
        "{text}"
    );
}

#[test]
fn nothing_secret_in_debug_or_display() {
    let mut session = client();
    let (refresh, original) =
        refresh_first(session.authorize(api_request(), at(ACCESS_TTL)).unwrap());
    let outcome = Authorized::RefreshFirst { refresh, original };
    let text = format!("{session:?} {outcome:?} {:?}", session.tokens());
    assert_eq!(
        format!("{outcome:?}"),
        "RefreshFirst { refresh: \"POST https://host.name/api/v2/my/refresh\", original: \"GET https://host.name/api/v2/my/accounts\" }"
    );
    for secret in [ACCESS_1, REFRESH_1] {
        assert!(!text.contains(secret), "{text}");
    }
    let wait = session.authorize(api_request(), at(ACCESS_TTL)).unwrap();
    assert_eq!(
        format!("{wait:?}"),
        "Wait { until: None, original: \"GET https://host.name/api/v2/my/accounts\" }"
    );
    let limited = Response::builder()
        .status(429)
        .header("retry-after", "60")
        .body(Vec::new())
        .unwrap();
    let _ = session.handle_response(&limited, at(ACCESS_TTL)).unwrap();
    let wait = session.authorize(api_request(), at(ACCESS_TTL)).unwrap();
    assert_eq!(
        format!("{wait:?}"),
        "Wait { until: Some(\"2024-04-22T11:23:24+00:00\"), original: \"GET https://host.name/api/v2/my/accounts\" }"
    );
    let _ = session.retry(at(ACCESS_TTL + 60)).sent();
    let step = session
        .handle_response(&new_pair_answer(ACCESS_TTL), at(ACCESS_TTL + 60))
        .unwrap();
    let ready = session
        .authorize(api_request(), at(ACCESS_TTL + 60))
        .unwrap();
    let text = format!("{session:?} {step:?} {ready:?}");
    for secret in [ACCESS_1, REFRESH_1, ACCESS_2, REFRESH_2] {
        assert!(!text.contains(secret), "{text}");
    }
}

// ---------------------------------------------------------------------------------------
// Properties

/// A call on the session, with the time that passes before it.
#[derive(Debug, Clone)]
enum Call {
    Authorize {
        after: u64,
        with_header: bool,
    },
    Refresh {
        after: u64,
    },
    SignOut,
    Retry {
        after: u64,
    },
    Respond {
        after: u64,
        status: u16,
        retry_after: Option<String>,
        body: Vec<u8>,
    },
}

fn secret_token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{14,24}".prop_map(|s| format!("SECRET{s}"))
}

fn timestamp() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (0u64..2 * REFRESH_TTL).prop_map(ts),
        1 => "\\PC{0,30}",
        1 => Just("2024-02-30T00:00:00Z".to_owned()),
    ]
}

fn wire_token() -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            9 => secret_token(),
            1 => Just("x".repeat(20_000)),
            1 => Just(String::new()),
        ],
        timestamp(),
        timestamp(),
    )
        .prop_map(|(token, created, expires)| {
            json!({"token": token, "createdAt": created, "expiresAt": expires})
        })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let pair = || {
        (wire_token(), wire_token()).prop_map(|(a, r)| json!({"accessToken": a, "refreshToken": r}))
    };
    let valid_pair = || {
        (secret_token(), secret_token(), 0u64..REFRESH_TTL)
            .prop_map(|(a, r, t)| pair_json(&a, &r, t))
    };
    prop_oneof![
        4 => valid_pair().prop_map(|p| serde_json::to_vec(&p).unwrap()),
        3 => pair().prop_map(|p| serde_json::to_vec(&p).unwrap()),
        3 => (valid_pair(), prop_oneof![Just(200u16), Just(202), 0u16..600], "\\PC{0,12}", "\\PC{0,12}")
            .prop_map(|(p, code, uuid, workflow)| serde_json::to_vec(
                &json!({"code": code, "data": p, "done": true, "uuid": uuid, "workflow": workflow})
            ).unwrap()),
        2 => (valid_pair(), any::<prop::sample::Index>()).prop_map(|(p, cut)| {
            let text = serde_json::to_vec(&p).unwrap();
            text[..cut.index(text.len())].to_vec()
        }),
        1 => Just(br#"{"accessToken":[],"refreshToken":"x","data":7}"#.to_vec()),
        1 => Just(br#"{"data":null,"uuid":1}"#.to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
        1 => Just(Vec::new()),
    ]
}

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        6 => Just(200u16),
        1 => Just(204),
        1 => Just(400),
        2 => Just(401),
        1 => Just(403),
        2 => Just(429),
        1 => Just(500),
        1 => 100u16..600,
    ]
}

fn call() -> impl Strategy<Value = Call> {
    let after = prop_oneof![3 => 0u64..20, 2 => 0u64..1000, 1 => 0u64..5000];
    prop_oneof![
        3 => (after.clone(), any::<bool>())
            .prop_map(|(after, with_header)| Call::Authorize { after, with_header }),
        2 => after.clone().prop_map(|after| Call::Refresh { after }),
        1 => Just(Call::SignOut),
        1 => after.clone().prop_map(|after| Call::Retry { after }),
        5 => (
            after,
            status(),
            prop::option::of(prop_oneof!["[0-9]{1,4}", "\\PC{0,20}"]),
            body(),
        )
            .prop_map(|(after, status, retry_after, body)| Call::Respond { after, status, retry_after, body }),
    ]
}

/// Every secret-looking string in the calls: none may show in any Debug or Display.
fn secrets_in(calls: &[Call]) -> Vec<String> {
    let mut secrets = vec![ACCESS_1.to_owned(), REFRESH_1.to_owned()];
    for call in calls {
        if let Call::Respond { body, .. } = call {
            let text = String::from_utf8_lossy(body);
            for (i, _) in text.match_indices("SECRET") {
                let token: String = text[i..]
                    .chars()
                    .take_while(char::is_ascii_alphanumeric)
                    .collect();
                if token.len() >= 12 {
                    secrets.push(token);
                }
            }
        }
    }
    secrets
}

fn assert_no_secret(text: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(!text.contains(secret.as_str()), "secret leaked: {text}");
    }
}

/// A session holding a refresh or sign-out until `until` (later than `now`): rate limited,
/// its step and deadline that instant, nothing outstanding.
fn held(session: &Session, until: SystemTime, now: SystemTime) -> Result<(), TestCaseError> {
    prop_assert!(until > now, "held until {:?}, at {:?}", until, now);
    prop_assert_eq!(session.state(), SessionState::RateLimited);
    prop_assert_eq!(session.current_step(), Some(SessionStep::RetryAt(until)));
    prop_assert_eq!(session.next_deadline(), Some(until));
    prop_assert!(!session.is_awaiting_response());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Arbitrary calls and answers in any order: no panic, every `Err` leaves the session
    /// `==` a clone taken before, parking round-trips, and no secret is ever shown.
    #[test]
    fn arbitrary_calls_never_panic_and_errors_change_nothing(
        back_office_realm in any::<bool>(),
        // A pair, a refresh token alone, an access token alone.
        start in 0..3u8,
        calls in prop::collection::vec(call(), 1..40),
    ) {
        let secrets = secrets_in(&calls);
        let realm = if back_office_realm { Realm::BackOffice } else { Realm::Client };
        let mut session = match start {
            0 => Session::new(realm, endpoint(), pair(ACCESS_1, REFRESH_1, 0)),
            1 => Session::from_refresh_token(realm, endpoint(), lone(REFRESH_1, 0, REFRESH_TTL)),
            _ => Session::from_access_token(realm, endpoint(), lone(ACCESS_1, 0, ACCESS_TTL)),
        };
        let mut now = at(0);
        for call in calls {
            let before = session.clone();
            let shown = match call {
                Call::Authorize { after, with_header } => {
                    now += Duration::from_secs(after);
                    let mut request = api_request();
                    if with_header {
                        request.headers_mut().insert("authorization", "Basic old".parse().unwrap());
                    }
                    match session.authorize(request, now) {
                        Ok(Authorized::Ready(r)) => {
                            let access = session.access_token().unwrap();
                            let bearer = format!("Bearer {}", access.secret().expose());
                            prop_assert_eq!(bearer_of(&r), [bearer.as_str()]);
                            prop_assert!(!access.is_expired(now), "an expired token attached");
                            prop_assert_eq!(&session, &before);
                            String::new()
                        }
                        Ok(Authorized::Wait { until, original }) => {
                            // Only an access token that has expired (or none) waits.
                            prop_assert!(session.access_token().map_or(true, |t| t.is_expired(now)));
                            prop_assert!(until.map_or(true, |t| now < t));
                            prop_assert!(bearer_of(&original).len() <= 1);
                            prop_assert_eq!(&session, &before);
                            format!("{until:?}")
                        }
                        Ok(other) => {
                            // Single flight: a refresh starts only when none was out.
                            prop_assert!(!before.is_awaiting_response());
                            prop_assert!(before.state() != SessionState::RateLimited);
                            prop_assert!(session.is_awaiting_response());
                            format!("{other:?}")
                        }
                        Err(e) => {
                            prop_assert_eq!(&session, &before);
                            format!("{e:?} {e}")
                        }
                    }
                }
                Call::Refresh { after } => {
                    now += Duration::from_secs(after);
                    match session.refresh(now) {
                        Ok(Outgoing::Request(r)) => {
                            let body: Value = serde_json::from_slice(r.body()).unwrap();
                            let refresh = before.refresh_token().unwrap().secret().expose().clone();
                            prop_assert_eq!(body, json!({"refreshToken": refresh}));
                            prop_assert!(session.is_awaiting_response());
                            String::new()
                        }
                        Ok(Outgoing::RetryAt(until)) => {
                            // Held by the limit, as after a 429.
                            prop_assert_eq!(before.guard().next_allowed(now), Some(until));
                            held(&session, until, now)?;
                            format!("{until:?}")
                        }
                        Err(e) => {
                            prop_assert_eq!(&session, &before);
                            format!("{e:?} {e}")
                        }
                    }
                }
                Call::SignOut => match session.sign_out(now) {
                    Ok(outgoing) => {
                        // No limit counts sign-outs: never held.
                        prop_assert_eq!(outgoing.retry_at(), None);
                        prop_assert!(session.is_awaiting_response());
                        String::new()
                    }
                    Err(e) => {
                        prop_assert_eq!(&session, &before);
                        format!("{e:?} {e}")
                    }
                },
                Call::Retry { after } => {
                    now += Duration::from_secs(after);
                    match session.retry(now) {
                        Ok(Outgoing::Request(_)) => {
                            prop_assert!(session.is_awaiting_response());
                            // Sent from a wait only once it is over.
                            let early = before.state() == SessionState::RateLimited
                                && before.next_deadline().is_some_and(|until| now < until);
                            prop_assert!(!early, "a retry before the wait sent a request");
                            String::new()
                        }
                        Ok(Outgoing::RetryAt(until)) => {
                            if before.state() == SessionState::RateLimited
                                && before.next_deadline().is_some_and(|was| now < was)
                            {
                                // Too early: the same wait, nothing changed.
                                prop_assert_eq!(before.next_deadline(), Some(until));
                                prop_assert_eq!(&session, &before);
                            }
                            held(&session, until, now)?;
                            format!("{until:?}")
                        }
                        Err(e) => {
                            prop_assert_eq!(&session, &before);
                            format!("{e:?} {e}")
                        }
                    }
                }
                Call::Respond { after, status, retry_after, body } => {
                    now += Duration::from_secs(after);
                    let mut response = Response::builder().status(status);
                    if let Some(value) = retry_after.as_deref().filter(|v| http::HeaderValue::from_str(v).is_ok()) {
                        response = response.header("retry-after", value);
                    }
                    let response = response.body(body).unwrap();
                    match session.handle_response(&response, now) {
                        Ok(step) => {
                            let gone = session.access_token().is_none() && session.refresh_token().is_none();
                            prop_assert_eq!(gone, matches!(step, SessionStep::SignedOut { .. } | SessionStep::Ended));
                            if let Some(current) = session.current_step() {
                                prop_assert_eq!(&current, &step);
                            }
                            format!("{step:?}")
                        }
                        Err(e) => {
                            prop_assert_eq!(&session, &before);
                            format!("{e:?} {e}")
                        }
                    }
                }
            };
            assert_no_secret(&shown, &secrets);
            assert_no_secret(&format!("{session:?} {:?}", session.current_step()), &secrets);
            let parked = serde_json::to_string(&session).unwrap();
            let resumed: Session = serde_json::from_str(&parked).unwrap();
            prop_assert_eq!(&resumed, &session);
        }
    }
}
