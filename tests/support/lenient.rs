//! Lenient and strict reading in the model-based tests.
//!
//! A flow on the default (lenient) endpoint records what an answer departs from the pages
//! on a point the pages leave open, as a [`Deviation`], and goes on; the same flow on a
//! [`strict`](b2core_auth::Endpoint::strict) endpoint refuses that answer. The tests hand
//! every answer to both: the flow under test, and its strict twin made just before.
//!
//! Use: `#[path = "support/lenient.rs"] mod lenient;`.

#![allow(dead_code)] // each test binary uses the part it needs

use b2core_auth::{Deviation, Error, MAX_DEVIATIONS};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

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

/// The request line of a request, as deviations name their step.
pub fn request_line<B>(request: &http::Request<B>) -> String {
    format!("{} {}", request.method(), request.uri().path())
}
