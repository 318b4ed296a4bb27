//! The client sign-up wizard under an arbitrary sequence of calls and answers.
#![no_main]

mod common;

use arbitrary::Arbitrary;
use b2core_auth::client::{SignUp, SignUpForm, SignUpStep};
use b2core_auth::Flow;
use b2core_auth::{DeviceFingerprint, Endpoint};
use common::*;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Op {
    Start(Text, Option<Text>),
    Submit {
        email: Text,
        password: Text,
        confirmation: Option<Text>,
        agent: Text,
        country: Option<Text>,
        given: Option<Text>,
        family: Option<Text>,
        recaptcha: Option<Text>,
    },
    Retry,
    Respond(Answer),
    Tick(u16),
}

// `strict`: the endpoint refuses every deviation instead of recording it.
fuzz_target!(|input: (bool, Vec<Op>)| {
    let (strict, ops) = input;
    let endpoint = Endpoint::new(HOST).expect("valid");
    let endpoint = if strict { endpoint.strict() } else { endpoint };
    let mut h = Harness::new(SignUp::new(endpoint));
    for op in ops.iter().take(64) {
        let uuid = h.uuid.clone();
        match op {
            Op::Start(url, referral) => h.call("start", JSON_HEADERS, |f, now| {
                let url = url.get(&["https://host.name/register/{registration}/{code}"]);
                let referral = referral
                    .as_ref()
                    .map(|r| r.get(&["29734fc149dc93809d18f49ae970810a"]));
                f.start(&url, referral.as_deref(), now).map(Outcome::from)
            }),
            Op::Submit {
                email,
                password,
                confirmation,
                agent,
                country,
                given,
                family,
                recaptcha,
            } => h.call("submit", JSON_HEADERS, |f, now| {
                let fp = DeviceFingerprint::from_user_agent(&agent.get(AGENTS))?;
                let pw = password.get(PASSWORDS);
                let confirm = confirmation
                    .as_ref()
                    .map_or(pw.clone(), |c| c.get(PASSWORDS));
                let mut form = SignUpForm::new(email.get(EMAILS), pw, confirm, fp);
                if let Some(c) = country {
                    form = form.with_country_code(c.get(&["16", "840"]));
                }
                if let Some(n) = given {
                    form = form.with_given_name(n.get(&["John"]));
                }
                if let Some(n) = family {
                    form = form.with_family_name(n.get(&["Brown"]));
                }
                if let Some(r) = recaptcha {
                    form = form.with_recaptcha(r.get(&["ut nu"]));
                }
                f.submit(form, now).map(Outcome::from)
            }),
            Op::Retry => h.call("retry", JSON_HEADERS, |f, now| {
                f.retry(now).map(Outcome::from)
            }),
            Op::Respond(answer) => {
                let response = answer.response(&uuid);
                h.call("handle_response", JSON_HEADERS, |f, now| {
                    f.handle_response(&response, now).map(|s| {
                        Outcome::Step(matches!(
                            s,
                            SignUpStep::Done(_) | SignUpStep::SignInRequired
                        ))
                    })
                })
            }
            Op::Tick(s) => h.tick(*s),
        }
    }
});
