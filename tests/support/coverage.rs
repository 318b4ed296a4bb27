//! Transition coverage for the model-based tests: every transition a run takes must be a
//! documented row of the flow's `TRANSITIONS`, and every row must be taken at least once.
//!
//! Use: `#[path = "support/coverage.rs"] mod coverage;`, one `Coverage` per flow (a
//! `static` so it spans all proptest cases), `record` after every call or answer that
//! returned `Ok`, and `assert_complete` once the property run is over.

#![allow(dead_code)] // each test binary uses the part it needs

use std::collections::BTreeSet;
use std::sync::Mutex;

use b2core_auth::Transition;

/// The rows a run has taken.
pub struct Coverage {
    table: &'static [Transition],
    seen: Mutex<BTreeSet<(&'static str, String, &'static str)>>,
}

impl Coverage {
    pub const fn new(table: &'static [Transition]) -> Self {
        Self {
            table,
            seen: Mutex::new(BTreeSet::new()),
        }
    }

    /// Records that `event` led from state `from` to state `to`, and fails if that is not a
    /// documented row.
    pub fn record(&self, from: &'static str, event: &str, to: &'static str) {
        let documented = self
            .table
            .iter()
            .any(|t| t.from == from && t.event == event && t.to == to);
        assert!(
            documented,
            "undocumented transition: {from} --{event}--> {to}"
        );
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((from, event.to_owned(), to));
    }

    /// The documented rows no run has taken.
    pub fn missing(&self) -> Vec<Transition> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        self.table
            .iter()
            .filter(|t| !seen.contains(&(t.from, t.event.to_owned(), t.to)))
            .copied()
            .collect()
    }

    /// Fails, listing them, if some documented rows were never taken.
    pub fn assert_complete(&self) {
        let missing = self.missing();
        assert!(
            missing.is_empty(),
            "{} documented transition(s) never exercised:\n{}",
            missing.len(),
            missing
                .iter()
                .map(|t| format!("  {} --{}--> {}", t.from, t.event, t.to))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// The event label of an answer, as the tables write it: `429`, `4xx`, `5xx`, or the 2xx
/// status followed by the envelope's `workflow` in backticks when the body has one.
pub fn answer_label(status: u16, body: &[u8]) -> String {
    match status {
        429 => "429".to_owned(),
        400..=499 => "4xx".to_owned(),
        500..=599 => "5xx".to_owned(),
        _ => match serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("workflow")?.as_str().map(str::to_owned))
        {
            Some(workflow) => format!("{status} `{workflow}`"),
            None => status.to_string(),
        },
    }
}

#[cfg(test)]
mod self_test {
    use super::*;

    static TABLE: &[Transition] = &[
        Transition {
            from: "a",
            event: "go",
            to: "b",
        },
        Transition {
            from: "b",
            event: "4xx",
            to: "a",
        },
    ];

    #[test]
    fn a_missing_row_is_reported_and_an_undocumented_one_fails() {
        let coverage = Coverage::new(TABLE);
        coverage.record("a", "go", "b");
        assert_eq!(coverage.missing(), vec![TABLE[1]]);
        assert!(std::panic::catch_unwind(|| coverage.assert_complete()).is_err());
        assert!(std::panic::catch_unwind(|| coverage.record("a", "go", "a")).is_err());
        coverage.record("b", "4xx", "a");
        coverage.assert_complete();
    }

    #[test]
    fn labels() {
        assert_eq!(
            answer_label(202, br#"{"workflow":"Terminate"}"#),
            "202 `Terminate`"
        );
        assert_eq!(answer_label(200, b"{}"), "200");
        assert_eq!(answer_label(401, b""), "4xx");
        assert_eq!(answer_label(429, b""), "429");
    }
}
