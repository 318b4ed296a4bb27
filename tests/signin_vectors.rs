//! Test vectors from the vendor page `spec/client-signin.txt`: the crate must emit
//! exactly the page's curl requests, and every response example must decode into the
//! documented step.

mod common;

use std::time::Duration;

use b2core_auth::client::{Method, SignIn, SignInStep, WizardOptions};
use b2core_auth::Flow;
use b2core_auth::{Endpoint, Secret, Token, TokenPair};
use common::*;
use serde_json::json;

fn page_options() -> WizardOptions {
    let mut options = WizardOptions::default();
    options.recaptcha_enabled = false;
    options.qr_available = true;
    options.password_recovery_available = true;
    options
}

/// A flow that has answered Step 1 with `uuid` and now asks for credentials.
fn at_credentials(uuid: &str) -> SignIn {
    let mut flow = new_flow();
    let _ = flow.start(t(0)).sent();
    let step = flow
        .handle_response(&resp(200, with_uuid(STEP1_EXAMPLE, uuid)), t(0))
        .unwrap();
    assert!(matches!(step, SignInStep::Credentials { .. }), "{step:?}");
    flow
}

/// A flow with uuid `UUID_A` at the choice of method, reached with the page's examples.
/// The page's `2fa` example carries `UUID_B` while Steps 1, 3 and 4 carry `UUID_A`:
/// only its uuid is adjusted to `UUID_A`.
fn at_choose_method() -> SignIn {
    let mut flow = new_flow();
    let _ = flow.start(t(0)).sent();
    let _ = flow
        .handle_response(&resp(200, STEP1_EXAMPLE), t(0))
        .unwrap();
    let _ = flow.submit_credentials(creds(PASSWORD), t(1)).sent();
    let step = flow
        .handle_response(&resp(200, with_uuid(TWO_FA_EXAMPLE, UUID_A)), t(2))
        .unwrap();
    assert!(matches!(step, SignInStep::ChooseMethod { .. }), "{step:?}");
    flow
}

#[test]
fn step1_get_wizard_is_the_pages_curl() {
    let mut flow = new_flow();
    let req = flow.start(t(0)).sent();
    assert_request(
        &req,
        "GET",
        "https://host.name/api/v2/my/signin/wizard",
        None,
    );
}

#[test]
fn step1_example_decodes_to_credentials_with_the_pages_options() {
    let mut flow = new_flow();
    let _ = flow.start(t(0)).sent();
    let step = flow
        .handle_response(&resp(200, STEP1_EXAMPLE), t(0))
        .unwrap();
    assert_eq!(
        step,
        SignInStep::Credentials {
            options: page_options(),
            rejected: None
        }
    );
    let SignInStep::Credentials { options, .. } = step else {
        unreachable!()
    };
    assert!(!options.recaptcha_enabled);
    assert!(options.qr_available);
    assert!(options.password_recovery_available);
    assert_eq!(
        flow.current_step(),
        Some(SignInStep::Credentials {
            options: page_options(),
            rejected: None
        })
    );
}

#[test]
fn step2_post_signin_is_the_pages_curl() {
    // The page's Step 2 request uses UUID_B, its Step 1 answer UUID_A: the Step 1 answer
    // is fed with its uuid replaced by UUID_B.
    let mut flow = at_credentials(UUID_B);
    let req = flow.submit_credentials(creds(PASSWORD), t(1)).sent();
    assert_request(
        &req,
        "POST",
        "https://host.name/api/v2/my/signin",
        Some(json!({
            "uuid": "03b612d1-e973-4f1e-bf8f-d97f88515104",
            "email": "username@example.com",
            "password": "QAzqw123!",
            "device_fingerprint": "eyJ1c2VyX2FnZW50IjoiTW96aWxsYVwvNS4wIChXaW5kb3dzIE5UIDEwLjA7IFdpbjY0OyB4NjQpIEFwcGxlV2ViS2l0XC81MzcuMzYgKEtIVE1MLCBsaWtlIEdlY2tvKSBDaHJvbWVcLzExOC4wLjAuMCBTYWZhcmlcLzUzNy4zNiJ9"
        })),
    );
    assert!(body_json(&req).get("recaptchaResponse").is_none());
}

#[test]
fn step2_carries_recaptcha_response_when_given() {
    let mut flow = new_flow();
    let _ = flow.start(t(0)).sent();
    let _ = flow.handle_response(&login(UUID_B, true), t(0)).unwrap();
    let req = flow
        .submit_credentials(
            creds(PASSWORD).with_recaptcha("03AGdBq24PBCbwiDRaS_MJ7Z"),
            t(1),
        )
        .sent();
    assert_request(
        &req,
        "POST",
        "https://host.name/api/v2/my/signin",
        Some(json!({
            "uuid": UUID_B,
            "email": EMAIL,
            "password": PASSWORD,
            "device_fingerprint": FINGERPRINT,
            "recaptchaResponse": "03AGdBq24PBCbwiDRaS_MJ7Z"
        })),
    );
}

#[test]
fn two_fa_example_offers_google_and_sms() {
    let mut flow = at_credentials(UUID_B);
    let _ = flow.submit_credentials(creds(PASSWORD), t(1)).sent();
    let step = flow
        .handle_response(&resp(200, TWO_FA_EXAMPLE), t(2))
        .unwrap();
    assert_eq!(
        step,
        SignInStep::ChooseMethod {
            methods: vec![Method::Google, Method::Sms],
            rejected: None
        }
    );
}

#[test]
fn step3_post_2fa_is_the_pages_curl() {
    let mut flow = at_choose_method();
    let req = flow.choose_method(Method::Google, t(2)).sent();
    assert_request(
        &req,
        "POST",
        "https://host.name/api/v2/my/signin/2fa",
        Some(json!({"uuid": "36f59381-5b54-48bd-a0c7-3b908c476732", "type": "google"})),
    );
}

#[test]
fn step3_example_decodes_to_a_google_code() {
    let mut flow = at_choose_method();
    let _ = flow.choose_method(Method::Google, t(2)).sent();
    let step = flow
        .handle_response(&resp(200, STEP3_EXAMPLE), t(3))
        .unwrap();
    assert_eq!(
        step,
        SignInStep::Code {
            method: Method::Google,
            rejected: None
        }
    );
}

#[test]
fn step4_post_2fa_google_is_the_pages_curl() {
    let mut flow = at_choose_method();
    let _ = flow.choose_method(Method::Google, t(2)).sent();
    let _ = flow
        .handle_response(&resp(200, STEP3_EXAMPLE), t(3))
        .unwrap();
    let req = flow.submit_code(CODE, t(3)).sent();
    assert_request(
        &req,
        "POST",
        "https://host.name/api/v2/my/2fa/google",
        Some(json!({"uuid": "36f59381-5b54-48bd-a0c7-3b908c476732", "code": "678562"})),
    );
}

#[test]
fn step4_sms_variant_posts_to_2fa_sms() {
    let mut flow = at_choose_method();
    let req = flow.choose_method(Method::Sms, t(2)).sent();
    assert_request(
        &req,
        "POST",
        "https://host.name/api/v2/my/signin/2fa",
        Some(json!({"uuid": UUID_A, "type": "sms"})),
    );
    let step = flow
        .handle_response(&next(UUID_A, "2fa_sms_auth"), t(3))
        .unwrap();
    assert_eq!(
        step,
        SignInStep::Code {
            method: Method::Sms,
            rejected: None
        }
    );
    let req = flow.submit_code(CODE, t(3)).sent();
    assert_request(
        &req,
        "POST",
        "https://host.name/api/v2/my/2fa/sms",
        Some(json!({"uuid": UUID_A, "code": "678562"})),
    );
}

#[test]
fn step4_example_decodes_to_the_pages_tokens() {
    let mut flow = at_choose_method();
    let _ = flow.choose_method(Method::Google, t(2)).sent();
    let _ = flow
        .handle_response(&resp(200, STEP3_EXAMPLE), t(3))
        .unwrap();
    let _ = flow.submit_code(CODE, t(3)).sent();
    let step = flow
        .handle_response(&resp(202, STEP4_EXAMPLE), t(4))
        .unwrap();

    let created = at(1_713_784_044);
    let access_expires = at(1_713_784_044 + 15 * 60);
    let refresh_expires = at(1_713_784_044 + 60 * 60);
    assert_eq!(created, at(0) + Duration::from_secs(1_713_784_044));
    let expected = TokenPair::new(
        Token::new(
            Secret::new(ACCESS_TOKEN.to_owned()),
            created,
            access_expires,
        )
        .unwrap(),
        Token::new(
            Secret::new(REFRESH_TOKEN.to_owned()),
            created,
            refresh_expires,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(step, SignInStep::Done(expected));

    let SignInStep::Done(tokens) = step else {
        unreachable!()
    };
    assert_eq!(tokens.access().secret().expose(), ACCESS_TOKEN);
    assert_eq!(tokens.refresh().secret().expose(), REFRESH_TOKEN);
    assert_eq!(tokens.access().created_at(), at(1_713_784_044));
    assert_eq!(tokens.access().expires_at(), at(1_713_784_944));
    assert_eq!(tokens.refresh().created_at(), at(1_713_784_044));
    assert_eq!(tokens.refresh().expires_at(), at(1_713_787_644));
    assert_eq!(
        tokens.bearer().to_str().unwrap(),
        format!("Bearer {ACCESS_TOKEN}")
    );
    assert_eq!(flow.current_step(), None);
    assert!(!flow.is_awaiting_response());
}

#[test]
fn a_path_prefix_goes_before_api_v2_my() {
    let mut flow = SignIn::new(Endpoint::new("https://host.name/b2core").unwrap());
    let req = flow.start(t(0)).sent();
    assert_request(
        &req,
        "GET",
        "https://host.name/b2core/api/v2/my/signin/wizard",
        None,
    );
    let _ = flow
        .handle_response(&resp(200, STEP1_EXAMPLE), t(0))
        .unwrap();
    let req = flow.submit_credentials(creds(PASSWORD), t(1)).sent();
    assert_eq!(
        req.uri().to_string(),
        "https://host.name/b2core/api/v2/my/signin"
    );
    let _ = flow
        .handle_response(&resp(200, with_uuid(TWO_FA_EXAMPLE, UUID_A)), t(2))
        .unwrap();
    let req = flow.choose_method(Method::Google, t(2)).sent();
    assert_request(
        &req,
        "POST",
        "https://host.name/b2core/api/v2/my/signin/2fa",
        Some(json!({"uuid": UUID_A, "type": "google"})),
    );
    let _ = flow
        .handle_response(&resp(200, STEP3_EXAMPLE), t(3))
        .unwrap();
    let req = flow.submit_code(CODE, t(3)).sent();
    assert_eq!(
        req.uri().to_string(),
        "https://host.name/b2core/api/v2/my/2fa/google"
    );
    let step = flow
        .handle_response(&resp(202, STEP4_EXAMPLE), t(4))
        .unwrap();
    assert!(matches!(step, SignInStep::Done(_)), "{step:?}");
}
