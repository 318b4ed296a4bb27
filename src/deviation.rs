//! Deviations: where an answer departs from the vendor's pages on a point the pages do not
//! make the decision, and the flow went on anyway.
//!
//! Strict out, tolerant in: a flow acts on what the pages define as the decision (the
//! `workflow`, the tokens being present, a foreign `uuid`) and never refuses an answer
//! over a point the pages leave open, such as the HTTP status line against the body's
//! `code`, or `done` against the `workflow`. Each such departure is recorded as a
//! [`Deviation`] the caller can read from the flow or session. An endpoint made
//! [`strict`](crate::Endpoint::strict) turns every deviation into [`Error::Malformed`]
//! instead, for people who test a server's conformance to the pages.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// How many deviations a flow or session keeps until they are taken
/// (`take_deviations`); later ones are counted, not kept.
pub const MAX_DEVIATIONS: usize = 32;

/// One departure of an answer from the vendor's pages that the flow tolerated.
///
/// It names the request, the field and what the pages say, and describes what came
/// without ever quoting a secret (only statuses, `code`, `done`, `workflow` names and
/// whether a field was there).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use b2core_auth::{client::{SignIn, SignInStep}, Endpoint};
/// use b2core_auth::Flow;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_713_784_044);
/// let mut flow = SignIn::new(Endpoint::new("https://host.name")?);
/// let _request = flow.start(now)?;
/// // Another published version of the page answers the wizard init with code 202.
/// let answer = http::Response::builder().status(200).body(
///     r#"{"code":202,"data":{"recaptcha":{"enabled":false}},"done":true,"uuid":"u-1","workflow":"login"}"#,
/// )?;
/// assert!(matches!(flow.handle_response(&answer, now)?, SignInStep::Credentials { .. }));
/// let fields: Vec<&str> = flow.deviations().iter().map(|d| d.field()).collect();
/// assert_eq!(fields, ["code", "code", "done"]);
/// assert_eq!(
///     flow.deviations()[0].to_string(),
///     "GET /api/v2/my/signin/wizard: `code`: the pages make it the HTTP code of the step; found `code` 202 with HTTP status 200",
/// );
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deviation {
    step: Cow<'static, str>,
    field: Cow<'static, str>,
    expected: Cow<'static, str>,
    found: String,
}

impl Deviation {
    /// The request the answer was to, e.g. `POST /api/v2/my/signin`.
    pub fn step(&self) -> &str {
        &self.step
    }

    /// The part of the answer that departs, e.g. `code`, `done`, `uuid`.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What the pages say about it.
    pub fn expected(&self) -> &str {
        &self.expected
    }

    /// What came instead (never a secret value).
    pub fn found(&self) -> &str {
        &self.found
    }
}

impl fmt::Display for Deviation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: `{}`: {}; found {}",
            self.step, self.field, self.expected, self.found
        )
    }
}

/// The deviations a flow has seen and not yet handed over: at most [`MAX_DEVIATIONS`],
/// the first ones, and a count of the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Unchecked")]
pub(crate) struct Deviations {
    kept: Vec<Deviation>,
    dropped: u64,
}

/// The parked form, checked on the way back in: a store is input like any answer.
#[derive(Deserialize)]
struct Unchecked {
    kept: Vec<Deviation>,
    #[serde(default)]
    dropped: u64,
}

impl TryFrom<Unchecked> for Deviations {
    type Error = &'static str;
    fn try_from(parked: Unchecked) -> Result<Self, &'static str> {
        if parked.kept.len() > MAX_DEVIATIONS {
            return Err("more deviations than a flow keeps");
        }
        Ok(Self {
            kept: parked.kept,
            dropped: parked.dropped,
        })
    }
}

impl Deviations {
    pub(crate) fn kept(&self) -> &[Deviation] {
        &self.kept
    }

    pub(crate) fn extend(&mut self, new: Vec<Deviation>) {
        for deviation in new {
            if self.kept.len() < MAX_DEVIATIONS {
                self.kept.push(deviation);
            } else {
                self.dropped = self.dropped.saturating_add(1);
            }
        }
    }
}

/// A 2xx answer being read: its request line, status and body, and the deviations noted
/// so far. The flow's reading decides first; [`Answer::finish`] then hands over what was
/// noted (or, on a strict endpoint, refuses the answer for the first of it), so a strict
/// endpoint names a departure only where the answer would otherwise have been accepted.
pub(crate) struct Answer<'a> {
    pub step: &'static str,
    pub status: u16,
    pub body: &'a str,
    strict: bool,
    noted: Vec<Deviation>,
    /// On a strict endpoint, the first deviation as the error it then is.
    refusal: Option<Error>,
}

impl<'a> Answer<'a> {
    pub(crate) fn new(step: &'static str, status: u16, body: &'a str, strict: bool) -> Self {
        Self {
            step,
            status,
            body,
            strict,
            noted: Vec::new(),
            refusal: None,
        }
    }

    /// Notes that `field` departs from what the pages say (`expected`).
    pub(crate) fn deviate(&mut self, field: &'static str, expected: &'static str, found: String) {
        if self.strict && self.refusal.is_none() {
            let reason = format!("{found}, but {expected}");
            self.refusal = Some(Error::malformed(self.step, field, reason));
        }
        self.noted.push(Deviation {
            step: Cow::Borrowed(self.step),
            field: Cow::Borrowed(field),
            expected: Cow::Borrowed(expected),
            found,
        });
    }

    /// An answer that cannot be the documented one at all.
    pub(crate) fn malformed(&self, field: &'static str, reason: impl Into<String>) -> Error {
        Error::malformed(self.step, field, reason)
    }

    /// The deviations noted, for the flow to keep now that it accepted the answer; on a
    /// strict endpoint, [`Error::Malformed`] for the first of them instead.
    pub(crate) fn finish(self) -> Result<Vec<Deviation>, Error> {
        match self.refusal {
            Some(refusal) => Err(refusal),
            None => Ok(self.noted),
        }
    }

    /// Checks the body's `code` against the status line: the pages call `code` "an HTTP
    /// code" of the step, and never say the status line repeats it.
    pub(crate) fn code_against_status(&mut self, code: Option<i64>) {
        if let Some(code) = code.filter(|&code| code != i64::from(self.status)) {
            let found = format!("`code` {code} with HTTP status {}", self.status);
            self.deviate("code", "the pages make it the HTTP code of the step", found);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deviation(n: usize) -> Deviation {
        Deviation {
            step: "GET /x".into(),
            field: "code".into(),
            expected: "e".into(),
            found: n.to_string(),
        }
    }

    #[test]
    fn keeps_the_first_ones_and_counts_the_rest() {
        let mut log = Deviations::default();
        log.extend((0..MAX_DEVIATIONS + 3).map(deviation).collect());
        assert_eq!(log.kept().len(), MAX_DEVIATIONS);
        assert_eq!(log.kept()[0].found(), "0");
        assert_eq!(log.dropped, 3);
        let parked = serde_json::to_string(&log).unwrap();
        assert_eq!(serde_json::from_str::<Deviations>(&parked).unwrap(), log);
        log.kept.push(deviation(99));
        let too_many = serde_json::to_string(&log).unwrap();
        assert!(serde_json::from_str::<Deviations>(&too_many).is_err());
    }

    #[test]
    fn strict_answers_refuse_what_lenient_ones_note() {
        let mut lenient = Answer::new("GET /x", 200, "{}", false);
        lenient.code_against_status(Some(202));
        lenient.code_against_status(Some(200));
        lenient.code_against_status(None);
        let noted = lenient.finish().unwrap();
        assert_eq!(noted.len(), 1);
        assert_eq!(
            (noted[0].step(), noted[0].field(), noted[0].found()),
            ("GET /x", "code", "`code` 202 with HTTP status 200")
        );
        assert_eq!(
            noted[0].expected(),
            "the pages make it the HTTP code of the step"
        );

        let mut strict = Answer::new("GET /x", 200, "{}", true);
        strict.code_against_status(Some(202));
        strict.deviate("done", "d", "second".into());
        assert_eq!(
            strict.finish(),
            Err(Error::malformed(
                "GET /x",
                "code",
                "`code` 202 with HTTP status 200, but the pages make it the HTTP code of the step"
            ))
        );
        let mut conforming = Answer::new("GET /x", 202, "{}", true);
        conforming.code_against_status(Some(202));
        assert_eq!(conforming.finish(), Ok(vec![]));
    }
}
