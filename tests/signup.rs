//! The client sign-up wizard against `spec/client-signup.txt`: the page's requests and
//! answers as test vectors, a transcript per branch, input checks, and properties.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use b2core_auth::client::signup::SignUpState;
use b2core_auth::client::{SignUp, SignUpForm, SignUpStep};
use b2core_auth::Flow;
use b2core_auth::{ApiError, DeviceFingerprint, Endpoint, Error, Secret};
use http::header::{ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use http::{Method, Request, Response};
use proptest::prelude::*;
use serde_json::{json, Value};

#[path = "support/sent.rs"]
mod sent;
use sent::Sent;

const UUID: &str = "36f59381-5b54-48bd-a0c7-3b908c476732";
const URL: &str = "https://host.name/register/{registration}/{code}";
const REFERRAL: &str = "29734fc149dc93809d18f49ae970810a";
const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) UA-Distinct-Qm93Xz1Lk";

/// The page's wizard answer, letter for letter.
const WIZARD_EXAMPLE: &str = r#"{
  "code": 202,
  "data": {
    "fields": {}
  },
  "done": true,
  "uuid": "36f59381-5b54-48bd-a0c7-3b908c476732",
  "workflow": "basic_register_form"
}"#;

/// The page's sign-up answer, letter for letter.
const SIGNUP_EXAMPLE: &str = r#"{
  "code": 202,
  "data": {},
  "done": true,
  "uuid": "36f59381-5b54-48bd-a0c7-3b908c476732",
  "workflow": "login"
}"#;

/// A 202 with tokens as the sign-in page shows them.
const SIGNUP_TOKENS: &str = r#"{"code":202,"data":{"accessToken":{"token":"tokA-Rr83Xc5Vn2Pq","createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T11:22:24+00:00"},"refreshToken":{"token":"tokR-Lw61Hd0Ys4Tb","createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T12:07:24+00:00"}},"done":true,"uuid":"36f59381-5b54-48bd-a0c7-3b908c476732","workflow":"Terminate"}"#;

const PASSWORD: &str = "pw-Zq8!Kx71Vb3Lm";
const RECAPTCHA: &str = "rc-Hj29Tq77Pw0Xe";
const SECRETS: [&str; 5] = [
    PASSWORD,
    RECAPTCHA,
    "UA-Distinct-Qm93Xz1Lk",
    "tokA-Rr83Xc5Vn2Pq",
    "tokR-Lw61Hd0Ys4Tb",
];

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_713_784_044)
}

fn endpoint() -> Endpoint {
    Endpoint::new("https://host.name").unwrap()
}

fn fp() -> DeviceFingerprint {
    DeviceFingerprint::from_user_agent(UA).unwrap()
}

fn resp(status: u16, body: &str) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .body(body.as_bytes().to_vec())
        .unwrap()
}

fn body_json(request: &Request<Vec<u8>>) -> Value {
    serde_json::from_slice(request.body()).unwrap()
}

/// Method, full URL and exactly the two JSON headers.
fn assert_post(request: &Request<Vec<u8>>, url: &str) {
    assert_eq!(request.method(), Method::POST);
    assert_eq!(request.uri(), url);
    assert_eq!(request.headers().len(), 2, "{:?}", request.headers());
    assert_eq!(request.headers()[ACCEPT], "application/json");
    assert_eq!(request.headers()[CONTENT_TYPE], "application/json");
}

/// The page's form, with a valid fingerprint instead of the page's placeholder.
fn page_form() -> SignUpForm {
    SignUpForm::new("foo@bar.com", "Secret123", "Secret123", fp())
        .with_country_code("16")
        .with_family_name("Brown")
        .with_given_name("John")
        .with_recaptcha("ut nu")
}

/// A form carrying the distinctive secrets.
fn secret_form() -> SignUpForm {
    SignUpForm::new("foo@bar.com", PASSWORD, PASSWORD, fp())
        .with_country_code("16")
        .with_given_name("John")
        .with_recaptcha(RECAPTCHA)
}

fn form_step() -> SignUpStep {
    SignUpStep::Form {
        workflow: "basic_register_form".into(),
        fields: json!({}),
        rejected: None,
    }
}

/// A flow at the form, after the page's wizard answer.
fn at_form() -> SignUp {
    at_form_on(endpoint())
}

fn at_form_on(endpoint: Endpoint) -> SignUp {
    let mut flow = SignUp::new(endpoint);
    let _ = flow.start(URL, Some(REFERRAL), t0()).sent();
    assert_eq!(
        flow.handle_response(&resp(202, WIZARD_EXAMPLE), t0())
            .unwrap(),
        form_step()
    );
    flow
}

/// A flow waiting for the answer to `secret_form`.
fn at_submit() -> SignUp {
    at_submit_on(endpoint())
}

fn at_submit_on(endpoint: Endpoint) -> SignUp {
    let mut flow = at_form_on(endpoint);
    let _ = flow.submit(secret_form(), t0()).sent();
    flow
}

fn malformed_field(result: Result<SignUpStep, Error>) -> &'static str {
    match result {
        Err(Error::Malformed { field, .. }) => field,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// The page's requests

#[test]
fn wizard_request_is_the_pages_curl_example() {
    let mut flow = SignUp::new(endpoint());
    let request = flow.start(URL, Some(REFERRAL), t0()).sent();
    assert_post(&request, "https://host.name/api/v2/my/signup/wizard");
    let page: Value = serde_json::from_str(
        r#"{
  "url": "https://host.name/register/{registration}/{code}",
  "utm": {
    "referral": "29734fc149dc93809d18f49ae970810a"
  }
}"#,
    )
    .unwrap();
    assert_eq!(body_json(&request), page);
    assert!(flow.is_awaiting_response());
    assert_eq!(flow.uuid(), None);
}

#[test]
fn wizard_request_without_referral_has_no_utm() {
    let mut flow = SignUp::new(endpoint());
    let request = flow.start(URL, None, t0()).sent();
    assert_post(&request, "https://host.name/api/v2/my/signup/wizard");
    assert_eq!(
        request.body(),
        br#"{"url":"https://host.name/register/{registration}/{code}"}"#
    );
}

#[test]
fn signup_request_is_the_pages_curl_example_but_for_the_fingerprint() {
    let mut flow = at_form();
    let request = flow.submit(page_form(), t0()).sent();
    assert_post(&request, "https://host.name/api/v2/my/signup");
    let mut page: Value = serde_json::from_str(
        r#"{
  "uuid": "36f59381-5b54-48bd-a0c7-3b908c476732",
  "email": "foo@bar.com",
  "password": "Secret123",
  "password_confirmation": "Secret123",
  "device_fingerprint": "dwqdnNFJBOEBFJEBjqewbkjqbdwjqwbndjnbj",
  "addresses": {
    "0": {
      "country_code": "16"
    }
  },
  "info": {
    "familyName": "Brown",
    "givenName": "John"
  },
  "recaptchaResponse": "ut nu"
}"#,
    )
    .unwrap();
    // The page's placeholder is no fingerprint (see the next test): ours goes in its place.
    page["device_fingerprint"] = Value::String(fp().encoded().to_owned());
    assert_eq!(body_json(&request), page);
    assert_eq!(
        fp().encoded(),
        "eyJ1c2VyX2FnZW50IjoiTW96aWxsYS81LjAgKFgxMTsgTGludXggeDg2XzY0KSBVQS1EaXN0aW5jdC1RbTkzWHoxTGsifQ=="
    );
}

#[test]
fn the_pages_fingerprint_placeholder_is_refused() {
    assert_eq!(
        DeviceFingerprint::from_encoded("dwqdnNFJBOEBFJEBjqewbkjqbdwjqwbndjnbj"),
        Err(Error::InvalidInput {
            field: "fingerprint",
            reason: "is not standard padded Base64",
        })
    );
}

#[test]
fn optional_fields_are_left_out_when_not_given() {
    let mut flow = at_form();
    let form = SignUpForm::new("foo@bar.com", "Secret123", "Secret123", fp());
    let request = flow.submit(form, t0()).sent();
    assert_eq!(
        body_json(&request),
        json!({
            "uuid": UUID,
            "email": "foo@bar.com",
            "password": "Secret123",
            "password_confirmation": "Secret123",
            "device_fingerprint": fp().encoded(),
        })
    );

    let mut flow = at_form();
    let form =
        SignUpForm::new("foo@bar.com", "Secret123", "Secret123", fp()).with_given_name("John");
    let body = body_json(&flow.submit(form, t0()).sent());
    assert_eq!(body["info"], json!({"givenName": "John"}));
    assert_eq!(body.get("addresses"), None);
    assert_eq!(body.get("recaptchaResponse"), None);
}

#[test]
fn addresses_are_keyed_in_the_order_given() {
    let mut flow = at_form();
    let codes: Vec<String> = (0..12).map(|i| format!("c{i}")).collect();
    let form = codes.iter().fold(
        SignUpForm::new("foo@bar.com", "Secret123", "Secret123", fp()),
        |form, code| form.with_country_code(code.as_str()),
    );
    assert_eq!(form.country_codes(), &codes[..]);
    let request = flow.submit(form, t0()).sent();
    let text = String::from_utf8(request.body().clone()).unwrap();
    let expected: String = codes
        .iter()
        .enumerate()
        .map(|(i, c)| format!(r#""{i}":{{"country_code":"{c}"}}"#))
        .collect::<Vec<_>>()
        .join(",");
    assert!(
        text.contains(&format!(r#""addresses":{{{expected}}}"#)),
        "{text}"
    );
    assert_eq!(
        body_json(&request)["addresses"]["10"]["country_code"],
        "c10"
    );
}

// ---------------------------------------------------------------------------------------
// The page's answers and a transcript per branch

#[test]
fn wizard_example_is_the_form_and_not_the_end() {
    let flow = at_form();
    assert_eq!(flow.uuid(), Some(UUID));
    assert_eq!(flow.current_step(), Some(form_step()));
    assert_eq!(flow.state(), SignUpState::Form);
    assert!(!flow.is_awaiting_response());
    assert_eq!(flow.last_email(), None);
}

#[test]
fn wizard_fields_are_handed_over_as_sent() {
    let mut flow = SignUp::new(endpoint());
    let _ = flow.start(URL, None, t0()).sent();
    let body = r#"{"code":200,"data":{"fields":{"country":{"required":true}}},"done":false,"uuid":"u-2","workflow":"custom_form"}"#;
    assert_eq!(
        flow.handle_response(&resp(200, body), t0()).unwrap(),
        SignUpStep::Form {
            workflow: "custom_form".into(),
            fields: json!({"country": {"required": true}}),
            rejected: None,
        }
    );
    assert_eq!(flow.uuid(), Some("u-2"));

    // No fields at all (absent, null) is an empty form, `{}` as in the page's example.
    for data in [r#""data":{"fields":null},"#, r#""data":null,"#, ""] {
        let mut flow = SignUp::new(endpoint());
        let _ = flow.start(URL, None, t0()).sent();
        let body = format!(
            r#"{{"code":202,{data}"done":true,"uuid":"{UUID}","workflow":"basic_register_form"}}"#
        );
        assert_eq!(
            flow.handle_response(&resp(202, &body), t0()).unwrap(),
            form_step(),
            "{body}"
        );
    }
}

#[test]
fn transcript_signup_example_requires_sign_in() {
    let mut flow = at_submit();
    let steps = vec![flow
        .handle_response(&resp(202, SIGNUP_EXAMPLE), t0())
        .unwrap()];
    assert_eq!(steps, [SignUpStep::SignInRequired]);
    assert_eq!(flow.current_step(), Some(SignUpStep::SignInRequired));
    assert_eq!(flow.state(), SignUpState::SignInRequired);
    assert_eq!(flow.uuid(), Some(UUID));
    assert!(!flow.is_awaiting_response());
}

#[test]
fn transcript_signed_up_with_tokens() {
    let mut flow = SignUp::new(endpoint());
    let mut steps = Vec::new();
    let _ = flow.start(URL, Some(REFERRAL), t0()).sent();
    steps.push(
        flow.handle_response(&resp(202, WIZARD_EXAMPLE), t0())
            .unwrap(),
    );
    let _ = flow.submit(secret_form(), t0()).sent();
    steps.push(
        flow.handle_response(&resp(202, SIGNUP_TOKENS), t0())
            .unwrap(),
    );
    let tokens = match &steps[..] {
        [form, SignUpStep::Done(tokens)] if *form == form_step() => tokens.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(tokens.bearer(), "Bearer tokA-Rr83Xc5Vn2Pq");
    assert_eq!(tokens.refresh().secret().expose(), "tokR-Lw61Hd0Ys4Tb");
    assert_eq!(
        tokens.access().expires_at(),
        UNIX_EPOCH + Duration::from_secs(1_713_784_944)
    );
    assert_eq!(flow.current_step(), None);
    assert_eq!(flow.state(), SignUpState::SignedUp);
    assert_eq!(flow.uuid(), Some(UUID));
}

#[test]
fn transcript_confirmation_step_stops_the_flow() {
    let mut flow = at_submit();
    let body = format!(
        r#"{{"code":200,"data":{{"email":"foo@bar.com"}},"done":false,"uuid":"{UUID}","workflow":"email_confirmation"}}"#
    );
    let expected = SignUpStep::Next {
        workflow: "email_confirmation".into(),
        data: Secret::new(json!({"email": "foo@bar.com"})),
    };
    assert_eq!(
        flow.handle_response(&resp(200, &body), t0()).unwrap(),
        expected
    );
    assert_eq!(flow.current_step(), Some(expected));
    assert_eq!(flow.state(), SignUpState::Next);
    assert_eq!(
        flow.submit(secret_form(), t0()).unwrap_err(),
        Error::OutOfOrder {
            call: "submit",
            state: "stopped at a step this crate does not drive"
        }
    );
    // Beginning again is allowed.
    let request = flow.start(URL, None, t0()).sent();
    assert_eq!(request.uri(), "https://host.name/api/v2/my/signup/wizard");
}

#[test]
fn transcript_refused_form_is_corrected_and_accepted() {
    let mut flow = at_form();
    let mut steps = Vec::new();
    let _ = flow.submit(secret_form(), t0()).sent();
    let refusal =
        r#"{"error":{"code":7,"details":[{"issue":"The email has already been taken."}]}}"#;
    steps.push(flow.handle_response(&resp(400, refusal), t0()).unwrap());
    assert_eq!(flow.last_email(), Some("foo@bar.com"));
    assert_eq!(flow.uuid(), Some(UUID));
    let corrected = SignUpForm::new("other@bar.com", PASSWORD, PASSWORD, fp());
    let request = flow.submit(corrected, t0()).sent();
    assert_eq!(body_json(&request)["email"], "other@bar.com");
    steps.push(flow.handle_response(&resp(422, "<html>"), t0()).unwrap());
    let _ = flow.retry(t0()).unwrap_err(); // not awaiting: nothing to retry
    let _ = flow
        .submit(
            SignUpForm::new("third@bar.com", PASSWORD, PASSWORD, fp()),
            t0(),
        )
        .sent();
    steps.push(
        flow.handle_response(&resp(202, SIGNUP_EXAMPLE), t0())
            .unwrap(),
    );
    let rejected = |e: ApiError| SignUpStep::Form {
        workflow: "basic_register_form".into(),
        fields: json!({}),
        rejected: Some(e),
    };
    assert_eq!(
        steps,
        [
            rejected(ApiError::new(
                400,
                Some(7),
                vec!["The email has already been taken.".into()]
            )),
            rejected(ApiError::new(422, None, vec![])),
            SignUpStep::SignInRequired,
        ]
    );
}

#[test]
fn transcript_form_asked_again_by_its_own_workflow() {
    let mut flow = at_submit();
    let body = format!(
        r#"{{"code":200,"data":{{"fields":{{"phone":{{}}}}}},"done":false,"uuid":"{UUID}","workflow":"basic_register_form"}}"#
    );
    assert_eq!(
        flow.handle_response(&resp(200, &body), t0()).unwrap(),
        SignUpStep::Form {
            workflow: "basic_register_form".into(),
            fields: json!({"phone": {}}),
            rejected: None,
        }
    );
    assert_eq!(flow.last_email(), Some("foo@bar.com"));
    // Without fields, the previous ones stay.
    let _ = flow.submit(secret_form(), t0()).sent();
    let body = format!(
        r#"{{"code":200,"data":{{}},"done":false,"uuid":"{UUID}","workflow":"basic_register_form"}}"#
    );
    assert!(matches!(
        flow.handle_response(&resp(200, &body), t0()).unwrap(),
        SignUpStep::Form { fields, .. } if fields == json!({"phone": {}})
    ));
}

/// The flow waits out a rate limit until `until`: state `RateLimited`, step
/// `RetryAt(until)`, the same deadline; a `retry` just before it is `RetryAt(until)` again
/// and changes nothing.
#[track_caller]
fn assert_waits(flow: &mut SignUp, until: SystemTime) {
    assert_eq!(flow.state(), SignUpState::RateLimited);
    assert_eq!(flow.current_step(), Some(SignUpStep::RetryAt(until)));
    assert_eq!(flow.next_deadline(), Some(until));
    assert!(!flow.is_awaiting_response());
    let before = flow.clone();
    for early in [t0(), until - Duration::from_nanos(1)] {
        assert_eq!(flow.retry(early).held(), until);
        assert_eq!(*flow, before);
    }
}

/// Started over while a 429's wait holds the form: the new wizard takes its place, held
/// as long, then sent by `retry` (the form is never sent).
#[test]
fn starting_over_replaces_a_held_request_and_keeps_its_wait() {
    let mut flow = at_form();
    let _ = flow.submit(secret_form(), t0()).sent();
    let limited = Response::builder()
        .status(429)
        .header(RETRY_AFTER, "30")
        .body(Vec::new())
        .unwrap();
    let _ = flow.handle_response(&limited, t0()).unwrap();
    let until = t0() + Duration::from_secs(30);
    assert_eq!(flow.start(URL, None, t0()).held(), until);
    assert_waits(&mut flow, until);
    let wizard = flow.retry(until).sent();
    assert_eq!(wizard.uri().path(), "/api/v2/my/signup/wizard");
    assert_eq!(flow.state(), SignUpState::AwaitWizard);
    let body: serde_json::Value = serde_json::from_slice(wizard.body()).unwrap();
    assert_eq!(
        body,
        json!({ "url": URL }),
        "a new wizard without the referral"
    );
}

#[test]
fn transcript_rate_limited_then_retried() {
    let mut flow = at_form();
    let mut steps = Vec::new();
    let first = flow.submit(secret_form(), t0()).sent();
    let limited = Response::builder()
        .status(429)
        .header(RETRY_AFTER, "30")
        .body(Vec::new())
        .unwrap();
    steps.push(flow.handle_response(&limited, t0()).unwrap());
    assert_eq!(flow.uuid(), Some(UUID));
    assert_waits(&mut flow, t0() + Duration::from_secs(30));
    // The form cannot be sent anew meanwhile: `retry` sends the one held.
    let before = flow.clone();
    assert_eq!(
        flow.submit(page_form(), t0() + Duration::from_secs(30))
            .unwrap_err(),
        Error::OutOfOrder {
            call: "submit",
            state: "rate limited"
        }
    );
    assert_eq!(flow, before);
    let again = flow.retry(t0() + Duration::from_secs(30)).sent();
    assert_eq!(again.method(), first.method());
    assert_eq!(again.uri(), first.uri());
    assert_eq!(again.headers(), first.headers());
    assert_eq!(again.body(), first.body());
    assert_eq!(flow.state(), SignUpState::AwaitSubmit);
    assert_eq!(flow.next_deadline(), None);
    steps.push(
        flow.handle_response(&resp(202, SIGNUP_EXAMPLE), t0())
            .unwrap(),
    );
    assert_eq!(
        steps,
        [
            SignUpStep::RetryAt(t0() + Duration::from_secs(30)),
            SignUpStep::SignInRequired
        ]
    );

    // The wizard too; without Retry-After the wait is a minute.
    let mut flow = SignUp::new(endpoint());
    let first = flow.start(URL, None, t0()).sent();
    assert_eq!(
        flow.handle_response(&resp(429, ""), t0()).unwrap(),
        SignUpStep::RetryAt(t0() + Duration::from_secs(60))
    );
    assert_waits(&mut flow, t0() + Duration::from_secs(60));
    let again = flow.retry(t0() + Duration::from_secs(61)).sent();
    assert_eq!(again.uri(), first.uri());
    assert_eq!(again.body(), first.body());
    assert_eq!(flow.state(), SignUpState::AwaitWizard);
    assert_eq!(
        flow.handle_response(&resp(202, WIZARD_EXAMPLE), t0())
            .unwrap(),
        form_step()
    );
}

#[test]
fn protocol_breaches_are_malformed_and_change_nothing() {
    let other_uuid =
        r#"{"code":202,"data":{},"done":true,"uuid":"someone-else","workflow":"login"}"#;
    let half_pair = format!(
        r#"{{"code":202,"data":{{"accessToken":{{"token":"a","createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T11:22:24+00:00"}}}},"done":true,"uuid":"{UUID}","workflow":"Terminate"}}"#
    );
    let bad_expiry = SIGNUP_TOKENS.replace("2024-04-22T11:22:24+00:00", "soon");
    let no_workflow = format!(r#"{{"code":202,"data":{{}},"done":true,"uuid":"{UUID}"}}"#);
    for (status, body, field) in [
        (202, other_uuid, "uuid"),
        (202, half_pair.as_str(), "refreshToken"),
        (202, bad_expiry.as_str(), "accessToken.expiresAt"),
        (202, no_workflow.as_str(), "workflow"),
        (202, "{", "body"),
        (
            202,
            r#"{"code":202,"data":"x","done":true,"uuid":"36f59381-5b54-48bd-a0c7-3b908c476732","workflow":"login"}"#,
            "data",
        ),
    ] {
        for endpoint in [endpoint(), endpoint().strict()] {
            let mut flow = at_submit_on(endpoint);
            let before = flow.clone();
            assert_eq!(
                malformed_field(flow.handle_response(&resp(status, body), t0())),
                field,
                "{body}"
            );
            assert_eq!(flow, before, "{body}");
            assert!(flow.is_awaiting_response());
        }
    }
}

/// `fields` is "object — An array of wizard fields": either is read, a scalar is not.
#[test]
fn form_fields_are_an_object_or_an_array() {
    for (fields, ok) in [
        (json!({"a": 1}), true),
        (json!([{"name": "email"}]), true),
        (json!(null), true),
        (json!(5), false),
        (json!("x"), false),
        (json!(true), false),
    ] {
        let mut flow = SignUp::new(endpoint());
        let _ = flow.start(URL, None, t0()).sent();
        let before = flow.clone();
        let body = json!({"code": 202, "data": {"fields": fields}, "done": true, "uuid": UUID, "workflow": "basic_register_form"});
        let got = flow.handle_response(&resp(202, &body.to_string()), t0());
        if ok {
            assert!(
                matches!(got, Ok(SignUpStep::Form { .. })),
                "{fields}: {got:?}"
            );
        } else {
            assert_eq!(malformed_field(got), "data.fields", "{fields}");
            assert_eq!(flow, before);
        }
    }
}

/// The body's `code` decides (the status only when the body has none); a status line
/// or a `done` that disagrees with it is noted, and refused on a strict endpoint.
#[test]
fn departures_on_points_the_page_leaves_open_are_noted() {
    let not_done =
        format!(r#"{{"code":202,"data":{{}},"done":false,"uuid":"{UUID}","workflow":"login"}}"#);
    let done_200 =
        format!(r#"{{"code":200,"data":{{}},"done":true,"uuid":"{UUID}","workflow":"x"}}"#);
    let code_200 =
        format!(r#"{{"code":200,"data":{{}},"done":true,"uuid":"{UUID}","workflow":"login"}}"#);
    let code_202 = SIGNUP_TOKENS;
    let no_code = format!(r#"{{"data":{{}},"uuid":"{UUID}","workflow":"login"}}"#);
    for (status, body, fields, step) in [
        (
            202,
            not_done.as_str(),
            &["done"][..],
            SignUpStep::SignInRequired,
        ),
        (
            200,
            not_done.as_str(),
            &["code", "done"],
            SignUpStep::SignInRequired,
        ),
        (200, done_200.as_str(), &["done"], next_step("x")),
        (
            202,
            code_200.as_str(),
            &["code", "done"],
            next_step("login"),
        ),
        (
            201,
            &not_done.replace("false", "true"),
            &["code"],
            SignUpStep::SignInRequired,
        ),
        (200, no_code.as_str(), &[], next_step("login")),
        (202, no_code.as_str(), &[], SignUpStep::SignInRequired),
    ] {
        let mut flow = at_submit();
        let got = flow.handle_response(&resp(status, body), t0()).unwrap();
        assert_eq!(got, step, "{body}");
        let noted: Vec<&str> = flow.deviations().iter().map(|d| d.field()).collect();
        assert_eq!(noted, fields, "{body}");

        let mut strict = at_submit_on(endpoint().strict());
        let before = strict.clone();
        let got = strict.handle_response(&resp(status, body), t0());
        match fields.first() {
            Some(&field) => {
                assert_eq!(malformed_field(got), field, "{body}");
                assert_eq!(strict, before, "{body}");
            }
            None => assert_eq!(got.unwrap(), step, "{body}"),
        }
    }
    // The tokens are read wherever the final answer comes in.
    let mut flow = at_submit();
    let got = flow.handle_response(&resp(200, code_202), t0()).unwrap();
    assert!(matches!(got, SignUpStep::Done(_)), "{got:?}");
    assert_eq!(flow.deviations()[0].field(), "code");

    // The wizard's answer obeys the same rules.
    let body = WIZARD_EXAMPLE.replace("\"done\": true", "\"done\": false");
    for (status, body, field) in [(202, body.as_str(), "done"), (200, WIZARD_EXAMPLE, "code")] {
        let mut flow = SignUp::new(endpoint().strict());
        let _ = flow.start(URL, None, t0()).sent();
        let before = flow.clone();
        assert_eq!(
            malformed_field(flow.handle_response(&resp(status, body), t0())),
            field
        );
        assert_eq!(flow, before);
        let mut flow = SignUp::new(endpoint());
        let _ = flow.start(URL, None, t0()).sent();
        assert_eq!(
            flow.handle_response(&resp(status, body), t0()).unwrap(),
            form_step()
        );
        assert_eq!(flow.deviations()[0].field(), field);
    }
}

fn next_step(workflow: &str) -> SignUpStep {
    SignUpStep::Next {
        workflow: workflow.into(),
        data: b2core_auth::Secret::new(json!({})),
    }
}

#[test]
fn server_failures_are_refused_and_change_nothing() {
    let mut flow = at_submit();
    let before = flow.clone();
    assert_eq!(
        flow.handle_response(&resp(503, ""), t0()),
        Err(Error::Refused(ApiError::new(503, None, vec![])))
    );
    assert_eq!(flow, before);

    let mut flow = SignUp::new(endpoint());
    let _ = flow.start(URL, None, t0()).sent();
    let before = flow.clone();
    assert_eq!(
        flow.handle_response(&resp(400, r#"{"message":"Invalid url"}"#), t0()),
        Err(Error::Refused(ApiError::new(
            400,
            None,
            vec!["Invalid url".into()]
        )))
    );
    assert_eq!(flow, before);
}

// ---------------------------------------------------------------------------------------
// Input checks and misuse

#[test]
fn each_bad_input_has_its_own_error_and_sends_nothing() {
    let base = || SignUpForm::new("foo@bar.com", "Secret123", "Secret123", fp());
    let cases: Vec<(SignUpForm, &str, &str)> = vec![
        (
            SignUpForm::new("foo@bar.com", "Secret123", "Secret124", fp()),
            "password_confirmation",
            "does not match the password",
        ),
        (
            SignUpForm::new("", "Secret123", "Secret123", fp()),
            "email",
            "is empty",
        ),
        (
            SignUpForm::new("foo.bar.com", "Secret123", "Secret123", fp()),
            "email",
            "is not an address (no `@`)",
        ),
        (
            SignUpForm::new("foo@bar.com", "", "", fp()),
            "password",
            "is empty",
        ),
        (
            base().with_given_name("Jo\nhn"),
            "info.givenName",
            "contains control characters",
        ),
        (
            base().with_family_name("Br\0own"),
            "info.familyName",
            "contains control characters",
        ),
        (
            base().with_country_code("16").with_country_code("1\r6"),
            "addresses.country_code",
            "contains control characters",
        ),
        (
            base().with_country_code(""),
            "addresses.country_code",
            "is empty",
        ),
        (
            base().with_recaptcha("a\u{7f}b"),
            "recaptchaResponse",
            "contains control characters",
        ),
    ];
    for (form, field, reason) in cases {
        let mut flow = at_form();
        let before = flow.clone();
        assert_eq!(
            flow.submit(form, t0()).unwrap_err(),
            Error::InvalidInput { field, reason },
            "{field}"
        );
        assert_eq!(flow, before);
    }

    for (url, referral, field, reason) in [
        ("", None, "url", "is empty"),
        (
            "https://h/\r\nX: y",
            None,
            "url",
            "contains control characters",
        ),
        (URL, Some(""), "utm.referral", "is empty"),
        (
            URL,
            Some("ab\tc"),
            "utm.referral",
            "contains control characters",
        ),
    ] {
        let mut flow = SignUp::new(endpoint());
        let before = flow.clone();
        assert_eq!(
            flow.start(url, referral, t0()).unwrap_err(),
            Error::InvalidInput { field, reason }
        );
        assert_eq!(flow, before);
    }
}

#[test]
fn calls_out_of_order_change_nothing() {
    let mut flow = SignUp::new(endpoint());
    let before = flow.clone();
    assert_eq!(
        flow.submit(page_form(), t0()).unwrap_err(),
        Error::OutOfOrder {
            call: "submit",
            state: "not started"
        }
    );
    assert_eq!(
        flow.handle_response(&resp(202, WIZARD_EXAMPLE), t0()),
        Err(Error::OutOfOrder {
            call: "handle_response",
            state: "not started"
        })
    );
    assert_eq!(
        flow.retry(t0()).unwrap_err(),
        Error::OutOfOrder {
            call: "retry",
            state: "not started"
        }
    );
    assert_eq!(flow, before);

    let mut flow = at_submit();
    let before = flow.clone();
    assert_eq!(
        flow.start(URL, None, t0()).unwrap_err(),
        Error::OutOfOrder {
            call: "start",
            state: "waiting for the sign-up answer"
        }
    );
    assert_eq!(
        flow.submit(page_form(), t0()).unwrap_err(),
        Error::OutOfOrder {
            call: "submit",
            state: "waiting for the sign-up answer"
        }
    );
    assert_eq!(flow, before);

    // Starting again from the form abandons it.
    let mut flow = at_form();
    let _ = flow.start(URL, None, t0()).sent();
    assert_eq!(flow.uuid(), None);
}

#[test]
fn secrets_stay_out_of_debug_but_the_parked_form_keeps_them() {
    let form = secret_form();
    let mut flow = at_form();
    let _ = flow.submit(form.clone(), t0()).sent();
    let shown = format!("{form:?} {flow:?} {form:#?} {flow:#?}");
    for secret in SECRETS {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    let parked = serde_json::to_string(&flow).unwrap();
    assert!(parked.contains(PASSWORD) && parked.contains(RECAPTCHA));
    assert_eq!(serde_json::from_str::<SignUp>(&parked).unwrap(), flow);
    let step = flow
        .handle_response(&resp(202, SIGNUP_TOKENS), t0())
        .unwrap();
    let shown = format!("{step:?} {flow:?}");
    for secret in SECRETS {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}

// ---------------------------------------------------------------------------------------
// Properties

/// A response body, rendered once the status is known (so `code` can mirror it).
#[derive(Debug, Clone)]
enum Body {
    Envelope {
        code: Code,
        done: Done,
        /// `None`: the flow's own `uuid` (the page's before the wizard answered).
        uuid: Option<String>,
        workflow: String,
        data: Option<Value>,
    },
    Truncated(Box<Body>, usize),
    Raw(Vec<u8>),
}

/// `done`: consistent with the status (`true` for 202), absent, or any value.
#[derive(Debug, Clone)]
enum Done {
    Mirror,
    Absent,
    Value(bool),
}

#[derive(Debug, Clone)]
enum Code {
    Mirror,
    Absent,
    Value(Value),
}

impl Body {
    fn render(&self, status: u16, flow_uuid: Option<&str>) -> Vec<u8> {
        match self {
            Body::Envelope {
                code,
                done,
                uuid,
                workflow,
                data,
            } => {
                let mut env = serde_json::Map::new();
                match code {
                    Code::Mirror => {
                        env.insert("code".into(), json!(status));
                    }
                    Code::Absent => {}
                    Code::Value(v) => {
                        env.insert("code".into(), v.clone());
                    }
                }
                match done {
                    Done::Mirror => {
                        env.insert("done".into(), json!(status == 202));
                    }
                    Done::Absent => {}
                    Done::Value(v) => {
                        env.insert("done".into(), json!(v));
                    }
                }
                let uuid = uuid.as_deref().or(flow_uuid).unwrap_or(UUID);
                env.insert("uuid".into(), json!(uuid));
                env.insert("workflow".into(), json!(workflow));
                if let Some(data) = data {
                    env.insert("data".into(), data.clone());
                }
                serde_json::to_vec(&env).unwrap()
            }
            Body::Truncated(inner, cut) => {
                let full = inner.render(status, flow_uuid);
                full[..(*cut).min(full.len())].to_vec()
            }
            Body::Raw(bytes) => bytes.clone(),
        }
    }
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-zA-Z]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn token_json(secret: &'static str) -> impl Strategy<Value = Value> {
    let valid = json!({"token": secret, "createdAt": "2024-04-22T11:07:24+00:00", "expiresAt": "2024-04-22T11:22:24+00:00"});
    let backwards = json!({"token": secret, "createdAt": "2024-04-22T11:07:24+00:00", "expiresAt": "2020-01-01T00:00:00+00:00"});
    prop_oneof![
        4 => Just(valid),
        1 => Just(backwards),
        1 => Just(json!({"token": 5, "createdAt": "x"})),
        1 => any_json(),
    ]
}

fn data() -> impl Strategy<Value = Option<Value>> {
    let tokens = (
        token_json("tokA-Rr83Xc5Vn2Pq"),
        token_json("tokR-Lw61Hd0Ys4Tb"),
    );
    prop_oneof![
        1 => Just(None),
        2 => Just(Some(json!({}))),
        1 => Just(Some(Value::Null)),
        2 => any_json().prop_map(|f| Some(json!({ "fields": f }))),
        6 => tokens.prop_map(|(a, r)| Some(json!({"accessToken": a, "refreshToken": r}))),
        1 => token_json("tokA-Rr83Xc5Vn2Pq").prop_map(|a| Some(json!({ "accessToken": a }))),
        1 => any_json().prop_map(Some),
        1 => Just(Some(json!({ "fields": "f".repeat(100_000) }))),
    ]
}

fn envelope() -> impl Strategy<Value = Body> {
    (
        prop_oneof![
            4 => Just(Code::Mirror),
            1 => Just(Code::Absent),
            1 => prop_oneof![Just(json!(200)), Just(json!(202)), Just(json!("202")), any::<u16>().prop_map(Value::from)]
                .prop_map(Code::Value),
        ],
        prop_oneof![
            4 => Just(Done::Mirror),
            1 => Just(Done::Absent),
            1 => any::<bool>().prop_map(Done::Value),
        ],
        prop_oneof![
            6 => Just(None),
            1 => "[a-z0-9-]{0,40}".prop_map(Some),
            1 => Just(Some("u".repeat(100_000))),
        ],
        prop_oneof![
            Just("basic_register_form".to_owned()),
            Just("login".to_owned()),
            Just("Terminate".to_owned()),
            Just("email_confirmation".to_owned()),
            "\\PC{0,16}",
        ],
        data(),
    )
        .prop_map(|(code, done, uuid, workflow, data)| Body::Envelope {
            code,
            done,
            uuid,
            workflow,
            data,
        })
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        6 => envelope(),
        1 => (envelope(), 0usize..200).prop_map(|(b, cut)| Body::Truncated(Box::new(b), cut)),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Body::Raw),
        1 => any_json().prop_map(|v| Body::Raw(serde_json::to_vec(&v).unwrap())),
        1 => Just(Body::Raw(br#"{"code":"202","done":"yes","uuid":1,"workflow":[]}"#.to_vec())),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Start {
        referral: bool,
        bad: bool,
    },
    Submit(u8),
    Retry(u64),
    /// The call the flow expects next, so that random answers meet every state: `submit`
    /// at the form, `retry` when rate limited, `start` elsewhere, and while an answer is
    /// awaited one of the documented answers (picked by the number).
    Progress(u8),
    Respond {
        status: u16,
        retry_after: Option<String>,
        body: Body,
        advance: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (any::<bool>(), prop::bool::weighted(0.2)).prop_map(|(referral, bad)| Op::Start { referral, bad }),
        1 => (0u8..6).prop_map(Op::Submit),
        1 => (0u64..120).prop_map(Op::Retry),
        8 => (
            prop_oneof![
                3 => Just(200u16), 3 => Just(202u16), 1 => Just(400u16), 1 => Just(422u16),
                1 => Just(429u16), 1 => Just(500u16), 1 => 100u16..600,
            ],
            prop_oneof![
                Just(None),
                Just(Some("30".to_owned())),
                Just(Some("Thu, 01 Jan 2099 00:00:00 GMT".to_owned())),
                Just(Some("99999999999999999999999".to_owned())),
                "[ -~]{0,20}".prop_map(Some),
            ],
            body(),
            0u64..90,
        )
            .prop_map(|(status, retry_after, body, advance)| Op::Respond { status, retry_after, body, advance }),
        4 => any::<u8>().prop_map(Op::Progress),
    ]
}

/// One of the answers the page (or the crate's docs) describe, for the flow `uuid`.
fn documented_answer(pick: u8, uuid: &str) -> Response<Vec<u8>> {
    let own = |body: &str| body.replace(UUID, uuid);
    match pick % 7 {
        0 => resp(202, &own(WIZARD_EXAMPLE)),
        1 => resp(202, &own(SIGNUP_EXAMPLE)),
        2 | 3 => resp(202, &own(SIGNUP_TOKENS)),
        4 => resp(
            200,
            &format!(
                r#"{{"code":200,"data":{{"k":"v"}},"done":false,"uuid":"{uuid}","workflow":"phone_confirmation"}}"#
            ),
        ),
        5 => resp(
            400,
            r#"{"error":{"code":1,"details":[{"issue":"The email has already been taken."}]}}"#,
        ),
        _ => resp(429, ""),
    }
}

fn form(kind: u8) -> SignUpForm {
    match kind {
        0..=2 => secret_form(),
        3 => SignUpForm::new("foo@bar.com", PASSWORD, "pw-other", fp()),
        4 => SignUpForm::new("no-at", PASSWORD, PASSWORD, fp()).with_recaptcha(RECAPTCHA),
        _ => secret_form().with_family_name("Br\u{0}own"),
    }
}

/// A flow in each state the flow can reach.
fn reachable(index: u8) -> SignUp {
    let limited = || {
        Response::builder()
            .status(429)
            .header(RETRY_AFTER, "30")
            .body(Vec::new())
            .unwrap()
    };
    let next = format!(
        r#"{{"code":200,"data":{{"secret":"x"}},"done":false,"uuid":"{UUID}","workflow":"phone"}}"#
    );
    let mut flow = match index {
        0 => SignUp::new(endpoint()),
        1 | 2 => {
            let mut f = SignUp::new(endpoint());
            let _ = f.start(URL, Some(REFERRAL), t0()).sent();
            f
        }
        3 => at_form(),
        _ => at_submit(),
    };
    let answer = match index {
        2 | 5 => Some(limited()),
        6 => Some(resp(400, r#"{"message":"taken"}"#)),
        7 => Some(resp(202, SIGNUP_EXAMPLE)),
        8 => Some(resp(202, SIGNUP_TOKENS)),
        9 => Some(resp(200, &next)),
        _ => None,
    };
    if let Some(answer) = answer {
        let _ = flow.handle_response(&answer, t0()).unwrap();
    }
    flow
}

fn assert_no_secret(text: &str) -> Result<(), TestCaseError> {
    for secret in SECRETS {
        prop_assert!(!text.contains(secret), "{} shown in {}", secret, text);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn any_calls_and_answers_never_panic_and_errors_change_nothing(
        start in 0u8..10,
        ops in prop::collection::vec(op(), 1..12),
    ) {
        let mut flow = reachable(start);
        let mut now = t0();
        for op in ops {
            let before = flow.clone();
            let result: Result<String, Error> = match &op {
                Op::Start { referral, bad } => {
                    let url = if *bad { "bad\nurl" } else { URL };
                    flow.start(url, referral.then_some(REFERRAL), now).map(|o| format!("{o:?}"))
                }
                Op::Submit(kind) => flow.submit(form(*kind), now).map(|o| format!("{o:?}")),
                Op::Progress(pick) if flow.is_awaiting_response() => {
                    let response = documented_answer(*pick, flow.uuid().unwrap_or(UUID));
                    flow.handle_response(&response, now).map(|step| format!("{step:?}"))
                }
                Op::Progress(_) => match flow.current_step() {
                    Some(SignUpStep::Form { .. }) => flow.submit(secret_form(), now),
                    Some(SignUpStep::RetryAt(at)) => flow.retry(at),
                    _ => flow.start(URL, Some(REFERRAL), now),
                }
                .map(|o| format!("{o:?}")),
                Op::Retry(secs) => {
                    now += Duration::from_secs(*secs);
                    flow.retry(now).map(|o| format!("{o:?}"))
                }
                Op::Respond { status, retry_after, body, advance } => {
                    now += Duration::from_secs(*advance);
                    let mut builder = Response::builder().status(*status);
                    if let Some(value) = retry_after {
                        builder = builder.header(RETRY_AFTER, value.as_str());
                    }
                    let response = builder.body(body.render(*status, flow.uuid())).unwrap();
                    flow.handle_response(&response, now).map(|step| format!("{step:?}"))
                }
            };
            // A retry before the wait is over is the same wait and changes nothing; the
            // flow's deadline is its wait, and only while it waits.
            if let (Op::Retry(_), Some(until)) = (&op, before.next_deadline()) {
                if now < until {
                    prop_assert_eq!(&flow, &before);
                    prop_assert_eq!(&result, &Ok(format!("{:?}", b2core_auth::Outgoing::RetryAt(until))));
                }
            }
            prop_assert_eq!(
                flow.next_deadline().is_some(),
                flow.state() == SignUpState::RateLimited
            );
            match &result {
                Ok(shown) => assert_no_secret(shown)?,
                Err(e) => {
                    prop_assert_eq!(&flow, &before, "{:?} changed the flow: {:?}", op, e);
                    assert_no_secret(&format!("{e:?} {e}"))?;
                }
            }
            assert_no_secret(&format!("{flow:?}"))?;
            if let Some(step) = flow.current_step() {
                assert_no_secret(&format!("{step:?}"))?;
            }
            let parked = serde_json::to_string(&flow).unwrap();
            prop_assert_eq!(&serde_json::from_str::<SignUp>(&parked).unwrap(), &flow);
        }
    }
}

#[test]
fn every_reachable_state_parks_and_resumes_where_it_was() {
    for index in 0..10 {
        let flow = reachable(index);
        let parked = serde_json::to_string(&flow).unwrap();
        let resumed: SignUp = serde_json::from_str(&parked).unwrap();
        assert_eq!(resumed, flow, "state {index}");
        assert_eq!(resumed.current_step(), flow.current_step(), "state {index}");
        assert_eq!(resumed.uuid(), flow.uuid(), "state {index}");
    }
    assert_eq!(
        [2, 5].map(|i| reachable(i).current_step()),
        [
            Some(SignUpStep::RetryAt(t0() + Duration::from_secs(30))),
            Some(SignUpStep::RetryAt(t0() + Duration::from_secs(30)))
        ]
    );
    assert_eq!(reachable(5).uuid(), Some(UUID));
}

#[test]
fn the_form_getters_give_back_what_was_typed() {
    let bare = SignUpForm::new("foo@bar.com", "Secret123", "Secret123", fp());
    assert_eq!(bare.email(), "foo@bar.com");
    assert_eq!((bare.given_name(), bare.family_name()), (None, None));
    assert!(bare.country_codes().is_empty());
    let full = bare
        .with_given_name("John")
        .with_family_name("Brown")
        .with_country_code("16")
        .with_country_code("44");
    assert_eq!(full.given_name(), Some("John"));
    assert_eq!(full.family_name(), Some("Brown"));
    assert_eq!(full.country_codes(), ["16", "44"]);
}
