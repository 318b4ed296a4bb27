//! Transition coverage for the model-based tests: every transition a run takes must be a
//! documented row of the flow's `TRANSITIONS`, and every row must be taken at least once.
//!
//! Use: `#[path = "support/coverage.rs"] mod coverage;`, one `Coverage` per flow (a
//! `static` so it spans all proptest cases), `record` after every call or answer that
//! returned `Ok`, and `assert_complete` once the property run is over.

#![allow(dead_code)] // each test binary uses the part it needs

use std::collections::{BTreeMap, BTreeSet};
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

/// The event label of an answer, as the tables write it: `429`, `4xx`, `5xx`, or, for any
/// 2xx status (the status line never decides), `2xx` followed by the envelope's
/// `workflow` in backticks when the body has one.
pub fn answer_label(status: u16, body: &[u8]) -> String {
    match status {
        429 => "429".to_owned(),
        400..=499 => "4xx".to_owned(),
        500..=599 => "5xx".to_owned(),
        200..=299 => match serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("workflow")?.as_str().map(str::to_owned))
        {
            Some(workflow) => format!("2xx `{workflow}`"),
            None => "2xx".to_owned(),
        },
        other => other.to_string(),
    }
}

/// Named things a run must meet at least once (dialects, off-table answers, tolerated
/// answers...), like the rows of a [`Coverage`]: a `static` spanning all proptest cases.
pub struct Checklist {
    what: &'static str,
    /// How often each item was met.
    seen: Mutex<BTreeMap<String, u64>>,
}

impl Checklist {
    pub const fn new(what: &'static str) -> Self {
        Self {
            what,
            seen: Mutex::new(BTreeMap::new()),
        }
    }

    /// Notes that `item` was met (once more).
    pub fn record(&self, item: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        match seen.get_mut(item) {
            Some(count) => *count += 1,
            None => {
                seen.insert(item.to_owned(), 1);
            }
        }
    }

    /// The items of `all` never met.
    pub fn missing<'a>(&self, all: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        all.into_iter()
            .filter(|item| !seen.contains_key(*item))
            .collect()
    }

    /// How often each item was met (`what: a 3, b 1`), for runs with `--nocapture`.
    pub fn summary(&self) -> String {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let counts: Vec<String> = seen.iter().map(|(item, n)| format!("{item} {n}")).collect();
        format!("{}: {}", self.what, counts.join(", "))
    }

    /// Fails, listing them, if some items of `all` were never met, or if an item met is
    /// not one of `all` (a misspelt name would otherwise never count).
    pub fn assert_complete<'a>(&self, all: impl IntoIterator<Item = &'a str> + Clone) {
        let missing = self.missing(all.clone());
        assert!(
            missing.is_empty(),
            "{} {} never exercised: {missing:?}",
            missing.len(),
            self.what
        );
        let known: BTreeSet<&str> = all.into_iter().collect();
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let strays: Vec<&String> = seen
            .keys()
            .filter(|s| !known.contains(s.as_str()))
            .collect();
        assert!(
            strays.is_empty(),
            "{} not in the list: {strays:?}",
            self.what
        );
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
            "2xx `Terminate`"
        );
        assert_eq!(
            answer_label(200, br#"{"code":202,"workflow":"Terminate"}"#),
            "2xx `Terminate`"
        );
        assert_eq!(answer_label(203, br#"{"workflow":"login"}"#), "2xx `login`");
        assert_eq!(answer_label(200, b"{}"), "2xx");
        assert_eq!(answer_label(204, b""), "2xx");
        assert_eq!(answer_label(401, b""), "4xx");
        assert_eq!(answer_label(429, b""), "429");
        assert_eq!(answer_label(503, b""), "5xx");
    }

    #[test]
    fn a_checklist_names_what_was_never_met() {
        let list = Checklist::new("things");
        list.record("a");
        assert_eq!(list.missing(["a", "b"]), vec!["b"]);
        assert!(std::panic::catch_unwind(|| list.assert_complete(["a", "b"])).is_err());
        list.record("b");
        list.record("b");
        list.assert_complete(["a", "b"]);
        assert_eq!(list.summary(), "things: a 1, b 2");
        list.record("c");
        assert!(std::panic::catch_unwind(|| list.assert_complete(["a", "b"])).is_err());
    }
}
