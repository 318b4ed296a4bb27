//! Device fingerprints, from a browser's Base64 or from a user agent.
#![no_main]

use b2core_auth::DeviceFingerprint;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(fp) = DeviceFingerprint::from_encoded(text) {
        assert_eq!(fp.encoded(), text);
        assert!(!fp.user_agent().chars().any(char::is_control));
    }
    if let Ok(fp) = DeviceFingerprint::from_user_agent(text) {
        let again =
            DeviceFingerprint::from_encoded(fp.encoded()).expect("our own encoding reads back");
        assert_eq!(again.user_agent(), text);
        assert!(fp.encoded().bytes().all(|b| b.is_ascii_graphic()));
    }
});
