//! A token session of either realm under an arbitrary sequence of calls and answers.
#![no_main]

mod common;

use arbitrary::Arbitrary;
use b2core_auth::Flow;
use b2core_auth::{Authorized, Endpoint, Session, SessionStep, TokenPair};
use common::*;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Op {
    /// Authorize a caller's request that has (or not) its own `Authorization` and an
    /// extra header of its own.
    Authorize(bool),
    Refresh,
    SignOut,
    Retry,
    Respond(Answer),
    Tick(u16),
}

#[derive(Arbitrary, Debug)]
struct Input {
    back_office: bool,
    /// The endpoint refuses every deviation instead of recording it.
    strict: bool,
    leeway: u16,
    ops: Vec<Op>,
}

const PAIR: &str = include_str!("../seeds/decode_token_pair/backoffice-auth-04");
const SESSION_HEADERS: &[&str] = &["accept", "content-type", "authorization"];

fuzz_target!(|input: Input| {
    let endpoint = Endpoint::new(HOST).expect("valid");
    let endpoint = if input.strict {
        endpoint.strict()
    } else {
        endpoint
    };
    let tokens: TokenPair = serde_json::from_str(PAIR).expect("the page's pair");
    let session = if input.back_office {
        Session::back_office(endpoint, tokens)
    } else {
        Session::client(endpoint, tokens)
    };
    let mut h =
        Harness::new(session.with_leeway(std::time::Duration::from_secs(input.leeway.into())));
    for op in input.ops.iter().take(64) {
        let uuid = h.uuid.clone();
        match op {
            Op::Authorize(with_auth) => h.call("authorize", SESSION_HEADERS, |s, now| {
                let mut b = http::Request::get("https://host.name/api/v2/my/accounts")
                    .header("x-mine", "1");
                if *with_auth {
                    b = b.header("authorization", "Bearer stale");
                }
                let request = b.body(()).expect("valid");
                match s.authorize(request, now)? {
                    Authorized::Ready(r) => {
                        let names: Vec<&str> = r.headers().keys().map(|k| k.as_str()).collect();
                        assert_eq!(names, ["x-mine", "authorization"]);
                        assert_eq!(r.headers().get_all("authorization").iter().count(), 1);
                        assert!(r.headers()["authorization"].is_sensitive());
                        Ok(Outcome::Step(false))
                    }
                    Authorized::RefreshFirst { refresh, original } => {
                        let names: Vec<&str> =
                            original.headers().keys().map(|k| k.as_str()).collect();
                        assert_eq!(names.len(), 1 + usize::from(*with_auth));
                        check_request(&refresh, JSON_HEADERS);
                        Ok(Outcome::Request(refresh))
                    }
                    Authorized::Wait { original, .. } => {
                        // Nothing to send: the caller's request comes back untouched.
                        let names: Vec<&str> =
                            original.headers().keys().map(|k| k.as_str()).collect();
                        assert_eq!(names.len(), 1 + usize::from(*with_auth));
                        Ok(Outcome::Step(false))
                    }
                    _ => unreachable!("a new variant of Authorized: handle it here"),
                }
            }),
            Op::Refresh => h.call("refresh", JSON_HEADERS, |s, now| {
                s.refresh(now).map(Outcome::from)
            }),
            Op::SignOut => h.call("sign_out", SESSION_HEADERS, |s, now| {
                s.sign_out(now).map(Outcome::from)
            }),
            Op::Retry => h.call("retry", SESSION_HEADERS, |s, now| {
                s.retry(now).map(Outcome::from)
            }),
            Op::Respond(answer) => {
                let response = answer.response(&uuid);
                h.call("handle_response", SESSION_HEADERS, |s, now| {
                    s.handle_response(&response, now).map(|step| {
                        Outcome::Step(matches!(
                            step,
                            SessionStep::SignedOut { .. } | SessionStep::Ended
                        ))
                    })
                })
            }
            Op::Tick(s) => h.tick(*s),
        }
    }
});
