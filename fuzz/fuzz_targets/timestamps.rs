//! RFC 3339 timestamps and HTTP dates: no panic; what is read writes back and reads equal.
#![no_main]

use b2core_auth::time::{format_rfc3339, parse_http_date, parse_rfc3339};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(t) = parse_rfc3339(text) {
        if let Ok(written) = format_rfc3339(t) {
            assert_eq!(parse_rfc3339(&written), Ok(t), "{text:?} -> {written:?}");
        }
    }
    if let Ok(t) = parse_http_date(text) {
        let written = format_rfc3339(t).expect("an HTTP date has a four-digit year");
        assert_eq!(parse_rfc3339(&written), Ok(t));
    }
});
