//! Error bodies are read leniently: never a panic, the status always kept.
#![no_main]

use b2core_auth::__fuzz::decode_error_body;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let status = 400 + u16::from(first) % 200;
    let error = decode_error_body(status, body);
    assert_eq!(error.status(), status);
    assert!(error.to_string().starts_with(&format!("HTTP {status}")));
});
