//! Back Office staff sign-in under an arbitrary sequence of calls and answers.
#![no_main]

mod common;

use arbitrary::Arbitrary;
use b2core_auth::backoffice::{StaffSignIn, StaffStep};
use b2core_auth::Endpoint;
use b2core_auth::Flow;
use common::*;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Op {
    SignIn(Text, Text),
    Code(Text),
    Retry,
    Respond(Answer),
    Tick(u16),
}

// `strict`: the endpoint refuses every deviation instead of recording it.
fuzz_target!(|input: (bool, Vec<Op>)| {
    let (strict, ops) = input;
    let endpoint = Endpoint::new(HOST).expect("valid");
    let endpoint = if strict { endpoint.strict() } else { endpoint };
    let mut h = Harness::new(StaffSignIn::new(endpoint));
    for op in ops.iter().take(64) {
        let uuid = h.uuid.clone();
        match op {
            Op::SignIn(email, pw) => h.call("sign_in", JSON_HEADERS, |f, now| {
                f.sign_in(&email.get(EMAILS), pw.get(PASSWORDS), now)
                    .map(Outcome::from)
            }),
            Op::Code(code) => h.call("submit_code", JSON_HEADERS, |f, now| {
                f.submit_code(code.get(CODES), now).map(Outcome::from)
            }),
            Op::Retry => h.call("retry", JSON_HEADERS, |f, now| {
                f.retry(now).map(Outcome::from)
            }),
            Op::Respond(answer) => {
                let response = answer.response(&uuid);
                h.call("handle_response", JSON_HEADERS, |f, now| {
                    f.handle_response(&response, now)
                        .map(|s| Outcome::Step(matches!(s, StaffStep::Done(_))))
                })
            }
            Op::Tick(s) => h.tick(*s),
        }
    }
});
