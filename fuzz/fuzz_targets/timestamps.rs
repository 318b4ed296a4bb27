//! RFC 3339 timestamps and HTTP dates: no panic; what is read writes back and reads equal.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use b2core_auth::__fuzz::{format_rfc3339, parse_http_date, parse_rfc3339};
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
    // 2024-04-22T11:07:24Z: the `now` against which an RFC 850 two-digit year is read.
    let now = UNIX_EPOCH + Duration::from_secs(1_713_784_044);
    if let Ok(t) = parse_http_date(text, now) {
        let written = format_rfc3339(t).expect("an HTTP date has a four-digit year");
        assert_eq!(parse_rfc3339(&written), Ok(t));
    }
});
