//! The wizard envelope and every `data` shape the flows read from it.
#![no_main]

use b2core_auth::__fuzz::decode_envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let status = [200, 202, 201, 204][usize::from(first & 3)];
    let uuid = (first & 4 != 0).then_some("36f59381-5b54-48bd-a0c7-3b908c476732");
    if let Err(e) = decode_envelope(status, body, uuid) {
        let _ = (e.to_string(), format!("{e:?}"));
    }
});
