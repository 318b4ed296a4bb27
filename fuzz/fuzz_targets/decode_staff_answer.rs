//! The Back Office sign-in answer: the decoder, then the flow with it as a 200 answer.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use b2core_auth::backoffice::StaffSignIn;
use b2core_auth::Flow;
use b2core_auth::{__fuzz::decode_staff_answer, Endpoint};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let _ = decode_staff_answer(body);
    let now = UNIX_EPOCH + Duration::from_secs(1_640_995_000);
    let mut flow = StaffSignIn::new(Endpoint::new("https://host.name").expect("valid"));
    let _request = flow
        .sign_in("foo@bar.com", "Secret123", now)
        .expect("first sign-in");
    let before = flow.clone();
    let response = http::Response::builder()
        .status(200)
        .body(body)
        .expect("valid");
    if flow.handle_response(&response, now).is_err() {
        assert_eq!(flow, before);
    }
    let parked = serde_json::to_string(&flow).expect("serializes");
    assert_eq!(
        serde_json::from_str::<StaffSignIn>(&parked).expect("resumes"),
        flow
    );
});
