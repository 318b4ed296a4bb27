//! Parked flows read back from a store that could hold anything: arbitrary bytes read as
//! each flow and the session never panic, and what reads is a flow like any other: parked
//! again it reads back equal, read from a `serde_json::Value` it is the same, and driven
//! with calls and answers it never panics (the flow targets' checks, see `common`).
//!
//! The input is the parked JSON, then optionally a NUL byte and the calls and answers to
//! drive it with (built with `arbitrary`). Whatever reads is first probed, one step from
//! where it was parked, with every call and a few plausible answers, each on its own copy.
//! The seeds are the committed parked fixtures (`tests/fixtures/parked/`).
#![no_main]

mod common;

use std::fmt::Debug;

use arbitrary::{Arbitrary, Unstructured};
use b2core_auth::backoffice::{StaffSignIn, StaffStep};
use b2core_auth::client::{
    Credentials, Method, SignIn, SignInStep, SignUp, SignUpForm, SignUpStep,
};
use b2core_auth::Flow as _;
use b2core_auth::{Authorized, DeviceFingerprint, Session, SessionStep};
use common::*;
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

#[derive(Arbitrary, Debug, Clone)]
enum Op {
    /// Sign-in and sign-up `start` (the sign-up's URL and referral).
    Start(Text, Option<Text>),
    /// Sign-in credentials, a sign-up form or a staff sign-in.
    Submit {
        email: Text,
        password: Text,
        recaptcha: Option<Text>,
    },
    Choose(bool),
    Code(Text),
    RequestReset,
    Reset(Text, Text),
    Retry,
    Authorize(bool),
    Refresh,
    SignOut,
    Respond(Answer),
    TakeDeviations,
    Tick(u16),
}

const SIGN_UP_URLS: &[&str] = &["https://host.name/register/{registration}/{code}"];
const SESSION_HEADERS: &[&str] = &["accept", "content-type", "authorization"];

/// The `data` of a signed-in answer, for the probes.
const TOKENS_DATA: &str = r#"{"accessToken":{"token":"a.b.c","createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T11:22:24+00:00"},"refreshToken":{"token":"d.e.f","createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T12:07:24+00:00"},"tfaProviders":[]}"#;

/// A flow or the session, driven by [`Op`]s.
trait Flow: b2core_auth::Flow + Clone + PartialEq + Debug + Serialize + DeserializeOwned {
    fn apply(h: &mut Harness<Self>, op: &Op);
    /// Everything a caller may read from it.
    fn look(&self);
    /// Its endpoint's base URI.
    fn base(&self) -> String;
}

fn good(t: &Text, list: &[&str]) -> String {
    t.get(list)
}

impl Flow for SignIn {
    fn base(&self) -> String {
        self.endpoint().as_str().to_owned()
    }

    fn apply(h: &mut Harness<Self>, op: &Op) {
        let uuid = h.uuid.clone();
        let step = |s: SignInStep| Outcome::Step(matches!(s, SignInStep::Done(_)));
        match op {
            Op::Start(..) => h.call("start", JSON_HEADERS, |f, now| {
                f.start(now).map(Outcome::from)
            }),
            Op::Submit {
                email,
                password,
                recaptcha,
            } => h.call("submit_credentials", JSON_HEADERS, |f, now| {
                let fp = DeviceFingerprint::from_user_agent(AGENTS[0])?;
                let mut c = Credentials::new(good(email, EMAILS), good(password, PASSWORDS), fp);
                if let Some(r) = recaptcha {
                    c = c.with_recaptcha(good(r, &["03AGdBq2"]));
                }
                f.submit_credentials(c, now).map(Outcome::from)
            }),
            Op::Choose(google) => h.call("choose_method", JSON_HEADERS, |f, now| {
                let m = if *google { Method::Google } else { Method::Sms };
                f.choose_method(m, now).map(Outcome::from)
            }),
            Op::Code(code) => h.call("submit_code", JSON_HEADERS, |f, now| {
                f.submit_code(good(code, CODES), now).map(Outcome::from)
            }),
            Op::RequestReset => h.call("request_reset_code", JSON_HEADERS, |f, now| {
                f.request_reset_code(now).map(Outcome::from)
            }),
            Op::Reset(code, pw) => h.call("reset_password", JSON_HEADERS, |f, now| {
                f.reset_password(good(code, CODES), good(pw, PASSWORDS), now)
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
            Op::TakeDeviations => {
                let _ = h.flow.take_deviations();
            }
            Op::Tick(s) => h.tick(*s),
            Op::Authorize(_) | Op::Refresh | Op::SignOut => {}
        }
    }

    fn look(&self) {
        let _ = (self.state(), self.is_awaiting_response(), self.last_email());
        let _ = (format!("{self:?}"), format!("{:?}", self.current_step()));
        let _ = (self.state().to_string(), self.next_deadline());
        let _ = (
            self.guard().next_allowed(at(0)),
            self.endpoint().to_string(),
        );
        for d in self.deviations() {
            let _ = d.to_string();
        }
    }
}

impl Flow for SignUp {
    fn base(&self) -> String {
        self.endpoint().as_str().to_owned()
    }

    fn apply(h: &mut Harness<Self>, op: &Op) {
        let uuid = h.uuid.clone();
        match op {
            Op::Start(url, referral) => h.call("start", JSON_HEADERS, |f, now| {
                let referral = referral.as_ref().map(|r| good(r, &["29734fc149dc9380"]));
                f.start(&good(url, SIGN_UP_URLS), referral.as_deref(), now)
                    .map(Outcome::from)
            }),
            Op::Submit {
                email,
                password,
                recaptcha,
            } => h.call("submit", JSON_HEADERS, |f, now| {
                let fp = DeviceFingerprint::from_user_agent(AGENTS[1])?;
                let pw = good(password, PASSWORDS);
                let mut form = SignUpForm::new(good(email, EMAILS), pw.clone(), pw, fp)
                    .with_country_code("16");
                if let Some(r) = recaptcha {
                    form = form.with_recaptcha(good(r, &["ut nu"]));
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
            Op::TakeDeviations => {
                let _ = h.flow.take_deviations();
            }
            Op::Tick(s) => h.tick(*s),
            _ => {}
        }
    }

    fn look(&self) {
        let _ = (
            self.state(),
            self.is_awaiting_response(),
            self.last_email(),
            self.uuid(),
        );
        let _ = (format!("{self:?}"), format!("{:?}", self.current_step()));
        let _ = (self.state().to_string(), self.next_deadline());
        let _ = self.endpoint().to_string();
        for d in self.deviations() {
            let _ = d.to_string();
        }
    }
}

impl Flow for StaffSignIn {
    fn base(&self) -> String {
        self.endpoint().as_str().to_owned()
    }

    fn apply(h: &mut Harness<Self>, op: &Op) {
        let uuid = h.uuid.clone();
        match op {
            Op::Submit {
                email, password, ..
            } => h.call("sign_in", JSON_HEADERS, |f, now| {
                f.sign_in(&good(email, EMAILS), good(password, PASSWORDS), now)
                    .map(Outcome::from)
            }),
            Op::Code(code) => h.call("submit_code", JSON_HEADERS, |f, now| {
                f.submit_code(good(code, CODES), now).map(Outcome::from)
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
            Op::TakeDeviations => {
                let _ = h.flow.take_deviations();
            }
            Op::Tick(s) => h.tick(*s),
            _ => {}
        }
    }

    fn look(&self) {
        let _ = (self.state(), self.is_awaiting_response(), self.last_email());
        let _ = (format!("{self:?}"), format!("{:?}", self.current_step()));
        let _ = (self.state().to_string(), self.next_deadline());
        let g = self.guards();
        let _ = (
            g.sign_in().next_allowed(at(0)),
            g.confirm().next_allowed(at(0)),
        );
        for d in self.deviations() {
            let _ = d.to_string();
        }
    }
}

impl Flow for Session {
    fn base(&self) -> String {
        self.endpoint().as_str().to_owned()
    }

    fn apply(h: &mut Harness<Self>, op: &Op) {
        let uuid = h.uuid.clone();
        match op {
            Op::Authorize(with_auth) => h.call("authorize", SESSION_HEADERS, |s, now| {
                let mut b = http::Request::get("https://host.name/api/v2/my/accounts");
                if *with_auth {
                    b = b.header("authorization", "Bearer stale");
                }
                let request = b.body(()).expect("valid");
                match s.authorize(request, now)? {
                    Authorized::Ready(r) => {
                        assert_eq!(r.headers().get_all("authorization").iter().count(), 1);
                        assert!(r.headers()["authorization"].is_sensitive());
                        Ok(Outcome::Step(false))
                    }
                    Authorized::RefreshFirst { refresh, .. } => Ok(Outcome::Request(refresh)),
                    // Nothing to send: the session waits for its refresh or a rate limit.
                    Authorized::Wait { .. } => Ok(Outcome::Step(false)),
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
            Op::TakeDeviations => {
                let _ = h.flow.take_deviations();
            }
            Op::Tick(s) => h.tick(*s),
            _ => {}
        }
    }

    fn look(&self) {
        let _ = (
            self.state(),
            self.is_awaiting_response(),
            self.realm(),
            self.leeway(),
        );
        let _ = (format!("{self:?}"), format!("{:?}", self.current_step()));
        let _ = (self.state().to_string(), self.next_deadline());
        if let Some(tokens) = self.tokens() {
            let _ = (
                tokens.bearer(),
                tokens.is_expired(at(0)),
                format!("{tokens:?}"),
            );
        }
        let _ = self.guard().next_allowed(at(0));
        for d in self.deviations() {
            let _ = d.to_string();
        }
    }
}

/// One step from where the flow was parked: every call, and a few plausible answers.
fn probes() -> Vec<Op> {
    let text = Text::Good(0);
    let mut ops = vec![
        Op::Start(text.clone(), None),
        Op::Submit {
            email: text.clone(),
            password: text.clone(),
            recaptcha: None,
        },
        Op::Submit {
            email: text.clone(),
            password: text.clone(),
            recaptcha: Some(text.clone()),
        },
        Op::Choose(true),
        Op::Choose(false),
        Op::Code(text.clone()),
        Op::RequestReset,
        Op::Reset(text.clone(), text.clone()),
        Op::Retry,
        Op::Authorize(true),
        Op::Refresh,
        Op::SignOut,
        Op::TakeDeviations,
    ];
    let answer = |status, body| {
        Op::Respond(Answer {
            status,
            retry_after: RetryAfter::Absent,
            body,
            huge: 0,
        })
    };
    for workflow in WORKFLOWS {
        let data = if *workflow == "Terminate" {
            DataJ::Raw(TOKENS_DATA.into())
        } else {
            DataJ::Raw(r#"{"fields":{},"tfaProviders":[]}"#.into())
        };
        ops.push(answer(
            Status::S200,
            Body::Envelope {
                code: CodeJ::Status,
                data: Some(data),
                done: None,
                uuid: UuidJ::Current,
                workflow: Text::Raw((*workflow).into()),
            },
        ));
    }
    // A token pair (the Back Office confirm and refresh answers), the Back Office sign-in
    // answers, a refusal, an expired 2FA token, a 429 and a 5xx.
    for i in [6, 7] {
        ops.push(answer(Status::S200, Body::Example(i)));
    }
    ops.push(answer(Status::S400, Body::Error(Text::Good(0))));
    ops.push(answer(Status::S401, Body::Error(Text::Good(0))));
    ops.push(answer(Status::S429, Body::Raw(Vec::new())));
    ops.push(answer(Status::S500, Body::Raw(Vec::new())));
    ops
}

/// The first `uuid` anywhere in the parked JSON: the flow's wizard, for the answers.
fn find_uuid(value: &Value) -> Option<String> {
    match value {
        Value::Object(map) => map
            .get("uuid")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| map.values().find_map(find_uuid)),
        Value::Array(items) => items.iter().find_map(find_uuid),
        _ => None,
    }
}

/// Reads `json` as `F`; when it reads, checks it and drives it.
fn resume<F: Flow>(json: &[u8], value: Option<&Value>, probes: &[Op], ops: &[Op]) {
    let Ok(flow) = serde_json::from_slice::<F>(json) else {
        return;
    };
    // Read from a `Value` (the members in another order, no borrowing): the same flow.
    if let Some(value) = value {
        let again = serde_json::from_value::<F>(value.clone());
        assert_eq!(
            again.ok().as_ref(),
            Some(&flow),
            "read from a Value, it differs"
        );
    }
    // Parked again: it reads back equal (the harness checks it after every call too).
    let parked = serde_json::to_string(&flow).expect("a resumed flow parks again");
    let back: F = serde_json::from_str(&parked).expect("and reads back");
    assert_eq!(back, flow, "parked again, it reads back different");
    flow.look();
    let uuid = value.and_then(find_uuid);
    let harness = |flow: &F| {
        let mut h = Harness::new(flow.clone());
        h.host = flow.base();
        if let Some(uuid) = &uuid {
            h.uuid = uuid.clone();
        }
        h
    };
    for (i, op) in probes.iter().enumerate() {
        let mut h = harness(&flow);
        // Now, and long after (any rate limit over, any token expired).
        h.tick(if i % 2 == 0 { 0 } else { u16::MAX });
        F::apply(&mut h, op);
        h.flow.look();
    }
    let mut h = harness(&flow);
    for op in ops.iter().take(32) {
        F::apply(&mut h, op);
        h.flow.look();
    }
}

fuzz_target!(|data: &[u8]| {
    let (json, rest) = match data.iter().position(|&b| b == 0) {
        Some(nul) => (&data[..nul], &data[nul + 1..]),
        None => (data, &[][..]),
    };
    let ops = Vec::<Op>::arbitrary_take_rest(Unstructured::new(rest)).unwrap_or_default();
    let value = serde_json::from_slice::<Value>(json).ok();
    let probes = probes();
    resume::<SignIn>(json, value.as_ref(), &probes, &ops);
    resume::<SignUp>(json, value.as_ref(), &probes, &ops);
    resume::<StaffSignIn>(json, value.as_ref(), &probes, &ops);
    resume::<Session>(json, value.as_ref(), &probes, &ops);
});
