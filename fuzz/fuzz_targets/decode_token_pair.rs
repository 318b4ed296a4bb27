//! A bare token pair: decoded, it must park (serde) and come back equal.
#![no_main]

use b2core_auth::{__fuzz::decode_token_pair, TokenPair};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    match decode_token_pair(body) {
        Ok(pair) => {
            assert!(pair.access().expires_at() >= pair.access().created_at());
            assert!(!pair.access().secret().expose().is_empty());
            let parked = serde_json::to_string(&pair).expect("a pair serializes");
            let back: TokenPair = serde_json::from_str(&parked).expect("a parked pair resumes");
            assert_eq!(back, pair);
            let _ = format!("{pair:?}");
        }
        Err(e) => {
            let _ = (e.to_string(), format!("{e:?}"));
        }
    }
});
