//! The client sign-in wizard under an arbitrary sequence of calls and answers.
#![no_main]

mod common;

use arbitrary::Arbitrary;
use b2core_auth::client::{Credentials, Method, SignIn, SignInStep};
use b2core_auth::Flow;
use b2core_auth::{DeviceFingerprint, Endpoint};
use common::*;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Op {
    Start,
    Credentials {
        email: Text,
        password: Text,
        agent: Text,
        recaptcha: Option<Text>,
    },
    Choose(bool),
    Code(Text),
    RequestReset,
    Reset(Text, Text),
    Retry,
    Respond(Answer),
    Tick(u16),
}

// `strict`: the endpoint refuses every deviation instead of recording it.
fuzz_target!(|input: (bool, Vec<Op>)| {
    let (strict, ops) = input;
    let endpoint = Endpoint::new(HOST).expect("valid");
    let endpoint = if strict { endpoint.strict() } else { endpoint };
    let mut h = Harness::new(SignIn::new(endpoint));
    for op in ops.iter().take(64) {
        let uuid = h.uuid.clone();
        let step = |s: SignInStep| Outcome::Step(matches!(s, SignInStep::Done(_)));
        match op {
            Op::Start => h.call("start", JSON_HEADERS, |f, now| {
                f.start(now).map(Outcome::from)
            }),
            Op::Credentials {
                email,
                password,
                agent,
                recaptcha,
            } => h.call("submit_credentials", JSON_HEADERS, |f, now| {
                let fp = DeviceFingerprint::from_user_agent(&agent.get(AGENTS))?;
                let mut creds = Credentials::new(email.get(EMAILS), password.get(PASSWORDS), fp);
                if let Some(r) = recaptcha {
                    creds = creds.with_recaptcha(r.get(&["03AGdBq2"]));
                }
                f.submit_credentials(creds, now).map(Outcome::from)
            }),
            Op::Choose(google) => h.call("choose_method", JSON_HEADERS, |f, now| {
                let m = if *google { Method::Google } else { Method::Sms };
                f.choose_method(m, now).map(Outcome::from)
            }),
            Op::Code(code) => h.call("submit_code", JSON_HEADERS, |f, now| {
                f.submit_code(code.get(CODES), now).map(Outcome::from)
            }),
            Op::RequestReset => h.call("request_reset_code", JSON_HEADERS, |f, now| {
                f.request_reset_code(now).map(Outcome::from)
            }),
            Op::Reset(code, pw) => h.call("reset_password", JSON_HEADERS, |f, now| {
                f.reset_password(code.get(CODES), pw.get(PASSWORDS), now)
                    .map(Outcome::from)
            }),
            Op::Retry => h.call("retry", JSON_HEADERS, |f, now| {
                f.retry(now).map(Outcome::from)
            }),
            Op::Respond(answer) => {
                let response = answer.response(&uuid);
                h.call("handle_response", JSON_HEADERS, |f, now| {
                    f.handle_response(&response, now).map(step)
                })
            }
            Op::Tick(s) => h.tick(*s),
        }
    }
});
