//! Lenient and strict reading in the model-based tests.
//!
//! A flow on the default (lenient) endpoint records what an answer departs from the pages
//! on a point the pages leave open, as a [`Deviation`], and goes on; the same flow on a
//! [`strict`](b2core_auth::Endpoint::strict) endpoint refuses that answer. The tests hand
//! every answer to both: the flow under test, and its strict twin made just before.
//!
//! The client wizards' models (sign-in and sign-up) also share here how a host writes a
//! wizard's 2xx answer ([`Sent`]) and the departures a test adds to one ([`Twist`]).
//!
//! Use: `#[path = "support/lenient.rs"] mod lenient;`.

#![allow(dead_code)] // each test binary uses the part it needs

use b2core_auth::sim::{Dialect, StatusLine};
use b2core_auth::{Deviation, Error, MAX_DEVIATIONS};
use http::Response;
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

/// The same flow (or session) on a strict endpoint: parked, its endpoint made strict (the
/// parked endpoint's `strict` member), resumed.
pub fn strict_twin<F: Serialize + DeserializeOwned>(flow: &F) -> F {
    let mut parked = serde_json::to_value(flow).expect("a flow parks");
    assert_eq!(
        make_strict(&mut parked),
        1,
        "a parked flow holds one endpoint"
    );
    serde_json::from_value(parked).expect("and resumes on a strict endpoint")
}

/// The same flow (or session) with its attempt guards emptied: parked, every parked
/// guard's attempts and block cleared, resumed. The call a guard held, made on this twin,
/// gives the request the flow holds (and must send on `retry` once the wait is over).
pub fn unguarded_twin<F: Serialize + DeserializeOwned>(flow: &F) -> F {
    let mut parked = serde_json::to_value(flow).expect("a flow parks");
    assert!(clear_guards(&mut parked) > 0, "a parked flow with a guard");
    serde_json::from_value(parked).expect("and resumes without its attempts")
}

/// Empties every parked attempt guard (`{limit, window, recent, blocked_until}`) in
/// `value`; counts them.
fn clear_guards(value: &mut Value) -> usize {
    match value {
        Value::Object(members)
            if ["limit", "window", "recent", "blocked_until"]
                .iter()
                .all(|m| members.contains_key(*m)) =>
        {
            members.insert("recent".to_owned(), json!([]));
            members.insert("blocked_until".to_owned(), Value::Null);
            1
        }
        Value::Object(members) => members.values_mut().map(clear_guards).sum(),
        Value::Array(items) => items.iter_mut().map(clear_guards).sum(),
        _ => 0,
    }
}

/// Sets `strict` on every parked endpoint (`{base, body_limit}`) in `value`; counts them.
fn make_strict(value: &mut Value) -> usize {
    match value {
        Value::Object(members)
            if members.contains_key("base") && members.contains_key("body_limit") =>
        {
            members.insert("strict".to_owned(), Value::Bool(true));
            1
        }
        Value::Object(members) => members.values_mut().map(make_strict).sum(),
        Value::Array(items) => items.iter_mut().map(make_strict).sum(),
        _ => 0,
    }
}

/// What the strict twin of a flow must have done with an answer the lenient flow took.
///
/// `lenient`: the lenient flow's result and the deviations that answer added (their
/// fields, in order). When the lenient flow took it without a deviation, the strict twin
/// takes it the same way (`same_step`); with one, the strict twin refuses it as
/// [`Error::Malformed`] naming the first deviation's field; when the lenient flow refused
/// it, so does the strict twin (`strict_field`: the field it must name, when known).
/// A refusing twin must be unchanged (`unchanged`).
pub fn check_strict<S: PartialEq + std::fmt::Debug>(
    lenient: &Result<S, Error>,
    added: &[&str],
    strict: &Result<S, Error>,
    strict_field: Option<&str>,
    unchanged: bool,
) {
    match (lenient, added.first()) {
        (Ok(step), None) => {
            match strict {
                Ok(strict) => assert_eq!(
                    strict, step,
                    "a strict endpoint reads a conforming answer alike"
                ),
                Err(error) => panic!("a strict endpoint refused a conforming answer: {error:?}"),
            }
            return;
        }
        (Ok(_), Some(first)) => match strict {
            Err(Error::Malformed { field, .. }) => {
                assert_eq!(
                    field, first,
                    "a strict endpoint refuses the first deviation"
                )
            }
            other => {
                panic!("a strict endpoint took an answer with deviations {added:?}: {other:?}")
            }
        },
        (Err(_), _) => match (strict, strict_field) {
            (Err(Error::Malformed { field, .. }), Some(expected)) => {
                assert_eq!(*field, expected, "the strict refusal's field")
            }
            (Err(_), None) => {}
            (other, _) => panic!("a strict endpoint took what a lenient one refused: {other:?}"),
        },
    }
    assert!(unchanged, "a strict refusal changed the flow");
}

/// The deviations a flow should hold: every one its answers added, until taken.
#[derive(Clone, Debug, Default)]
pub struct Log {
    expected: Vec<(String, &'static str)>,
}

impl Log {
    /// The answer to `step` (e.g. `POST /api/v2/my/signin`) added deviations on `fields`.
    pub fn add(&mut self, step: &str, fields: &[&'static str]) {
        self.expected
            .extend(fields.iter().map(|field| (step.to_owned(), *field)));
    }

    /// `held` (from `deviations()`) is what the log says: the first [`MAX_DEVIATIONS`].
    pub fn check(&self, held: &[Deviation]) {
        let held: Vec<(&str, &str)> = held.iter().map(|d| (d.step(), d.field())).collect();
        let expected: Vec<(&str, &str)> = self
            .expected
            .iter()
            .take(MAX_DEVIATIONS)
            .map(|(step, field)| (step.as_str(), *field))
            .collect();
        assert_eq!(held, expected, "the deviations the flow holds");
    }

    /// `taken` (from `take_deviations()`) is what the log says; the log starts again.
    pub fn take(&mut self, taken: &[Deviation]) {
        self.check(taken);
        self.expected.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.expected.is_empty()
    }
}

/// `resent` is `request` again, byte for byte: method, target, headers and body (a
/// failure names the headers, never their values or the body: they hold secrets).
#[track_caller]
pub fn assert_same_request(resent: &http::Request<Vec<u8>>, request: &http::Request<Vec<u8>>) {
    assert_eq!(
        (resent.method(), resent.uri()),
        (request.method(), request.uri()),
        "a resend is the same request"
    );
    assert!(
        resent.headers() == request.headers(),
        "a resend of {} has the same headers: {:?} against {:?}",
        request_line(request),
        resent.headers().keys().collect::<Vec<_>>(),
        request.headers().keys().collect::<Vec<_>>()
    );
    assert!(
        resent.body() == request.body(),
        "a resend of {} has the same body",
        request_line(request)
    );
}

/// The request line of a request, as deviations name their step.
pub fn request_line<B>(request: &http::Request<B>) -> String {
    format!("{} {}", request.method(), request.uri().path())
}

/// Departures from the pages on points they leave open, applied to a client wizard's 2xx
/// answer: the flow must go where the answer leads all the same and record each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Twist {
    /// The status line no longer repeats the body's `code` (200 and 202 swapped).
    pub status: bool,
    /// `done` says the opposite.
    pub done: bool,
    /// The `uuid` member is left out (only where the flow already has one).
    pub no_uuid: bool,
}

impl Twist {
    pub const NONE: Twist = Twist {
        status: false,
        done: false,
        no_uuid: false,
    };
}

/// Some departures (at least one); without the `uuid` only where the flow has one.
pub fn twist(no_uuid: bool) -> BoxedStrategy<Twist> {
    let uuid = if no_uuid {
        any::<bool>().boxed()
    } else {
        Just(false).boxed()
    };
    (any::<bool>(), any::<bool>(), uuid)
        .prop_map(|(status, done, no_uuid)| Twist {
            status,
            done,
            no_uuid,
        })
        .prop_filter("some departure", |t| *t != Twist::NONE)
        .boxed()
}

/// The answer with `twist`'s departures.
pub fn twist_response(response: Response<Vec<u8>>, twist: Twist) -> Response<Vec<u8>> {
    if twist == Twist::NONE {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let mut body: Value = serde_json::from_slice(&body).expect("JSON");
    if twist.done {
        let done = body["done"].as_bool().expect("a `done`");
        body["done"] = json!(!done);
    }
    if twist.no_uuid {
        body.as_object_mut().expect("an object").remove("uuid");
    }
    if twist.status {
        parts.status = match parts.status.as_u16() {
            200 => http::StatusCode::ACCEPTED,
            _ => http::StatusCode::OK,
        };
    }
    Response::from_parts(parts, serde_json::to_vec(&body).expect("JSON"))
}

/// A client wizard's 2xx answer as the model knows it was written, where the pages leave
/// it open: the status line, the body's `code` and `done`, whether it has the wizard's
/// `uuid`. Each model adds what its flow compares them with (its answer's `workflow`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sent {
    pub status: u16,
    pub code: i64,
    pub done: bool,
    pub uuid: bool,
}

impl Sent {
    /// As a host speaking `dialect` writes an answer whose body says `code` and `done`:
    /// the status line repeats `code`, or is 200 (`status-200`); with the `uuid`.
    pub fn of(dialect: &Dialect, code: u16, done: bool) -> Sent {
        let status = if dialect.status == StatusLine::Always200 {
            200
        } else {
            code
        };
        Sent {
            status,
            code: i64::from(code),
            done,
            uuid: true,
        }
    }

    /// With `twist`'s departures.
    pub fn twisted(self, twist: Twist) -> Sent {
        Sent {
            status: match (twist.status, self.status) {
                (false, status) => status,
                (true, 200) => 202,
                (true, _) => 200,
            },
            done: self.done != twist.done,
            uuid: self.uuid && !twist.no_uuid,
            ..self
        }
    }

    /// The deviations the envelope check notes, in the library's order: `code` against
    /// the status line, then a missing `uuid` within a wizard (`init`: the wizard's first
    /// answer, which gives the flow its uuid, is not within one).
    pub fn envelope_deviations(&self, init: bool) -> Vec<&'static str> {
        let mut fields = Vec::new();
        if self.code != i64::from(self.status) {
            fields.push("code");
        }
        if !self.uuid && !init {
            fields.push("uuid");
        }
        fields
    }

    /// The simulator's answer is written as `self` says.
    #[track_caller]
    pub fn check(&self, response: &Response<Vec<u8>>) {
        let body: Value = serde_json::from_slice(response.body()).expect("a wizard answer is JSON");
        let found = Sent {
            status: response.status().as_u16(),
            code: body["code"].as_i64().unwrap_or(-1),
            done: body["done"].as_bool().unwrap_or(!self.done),
            uuid: body["uuid"].is_string(),
        };
        assert_eq!(found, *self, "the simulator's answer");
    }
}
