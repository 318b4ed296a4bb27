//! Transition coverage for the model-based tests: every transition a run takes must be a
//! documented row of the flow's `TRANSITIONS`, and every row must be taken at least once.
//!
//! Use: `#[path = "support/coverage.rs"] mod coverage;`, one `Coverage` per flow (a
//! `static` so it spans all proptest cases), `call` or `answer` after every call or answer
//! that returned `Ok`, with the states before and after as `Flow::state()` gave them, and
//! `assert_complete` once the property run is over.

#![allow(dead_code)] // each test binary uses the part it needs

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{Debug, Display};
use std::sync::Mutex;

use b2core_auth::{Event, Transition};

/// What moved a flow, as its table names it: one of its calls, or an answer by its label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Taken {
    Call(&'static str),
    Answer(String),
}

/// The rows of a flow's table (in its typed states `S`) that a run has taken.
pub struct Coverage<S: 'static> {
    table: &'static [Transition<S>],
    /// How often each row (by its index in `table`) was taken.
    seen: Mutex<BTreeMap<usize, u64>>,
}

impl<S: Copy + PartialEq + Debug + Display + 'static> Coverage<S> {
    pub const fn new(table: &'static [Transition<S>]) -> Self {
        Self {
            table,
            seen: Mutex::new(BTreeMap::new()),
        }
    }

    /// Records that the flow's call `name` (`start`, `retry`, ...) led from `from` to
    /// `to`, and fails if that is not a documented row.
    #[track_caller]
    pub fn call(&self, from: S, name: &str, to: S) {
        self.record(
            from,
            name,
            to,
            |event| matches!(event, Event::Call(n) if n == name),
        );
    }

    /// Records that an answer, by its table label (`429`, ``2xx `login` ``, ...), led from
    /// `from` to `to`, and fails if that is not a documented row.
    #[track_caller]
    pub fn answer(&self, from: S, label: &str, to: S) {
        self.record(
            from,
            label,
            to,
            |event| matches!(event, Event::Answer(l) if l == label),
        );
    }

    /// Records what `taken` led from `from` to `to` (see [`Coverage::call`] and
    /// [`Coverage::answer`]).
    #[track_caller]
    pub fn taken(&self, from: S, taken: &Taken, to: S) {
        match taken {
            Taken::Call(name) => self.call(from, name, to),
            Taken::Answer(label) => self.answer(from, label, to),
        }
    }

    #[track_caller]
    fn record(&self, from: S, label: &str, to: S, is: impl Fn(Event) -> bool) {
        let row = self
            .table
            .iter()
            .position(|row| row.from == from && is(row.event) && row.to == to);
        let Some(row) = row else {
            panic!("undocumented transition: {from} --{label}--> {to} ({from:?} to {to:?})");
        };
        *self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(row)
            .or_insert(0) += 1;
    }

    /// The documented rows no run has taken.
    pub fn missing(&self) -> Vec<Transition<S>> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        self.table
            .iter()
            .enumerate()
            .filter(|(i, _)| !seen.contains_key(i))
            .map(|(_, row)| *row)
            .collect()
    }

    /// The `n` rows taken least often, with their counts (the margin a run has), for runs
    /// with `--nocapture`.
    pub fn rarest(&self, n: usize) -> String {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let mut counts: Vec<(u64, usize)> = (0..self.table.len())
            .map(|i| (seen.get(&i).copied().unwrap_or(0), i))
            .collect();
        counts.sort();
        let rows: Vec<String> = counts
            .iter()
            .take(n)
            .map(|&(count, i)| format!("  {count:>6}  {}", self.table[i]))
            .collect();
        format!("the {n} rows taken least often:\n{}", rows.join("\n"))
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
                .map(|t| format!("  {t}"))
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

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum St {
        A,
        B,
    }

    impl Display for St {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(match self {
                St::A => "a",
                St::B => "b",
            })
        }
    }

    static TABLE: &[Transition<St>] = &[
        Transition {
            from: St::A,
            event: Event::Call("go"),
            to: St::B,
        },
        Transition {
            from: St::B,
            event: Event::Answer("4xx"),
            to: St::A,
        },
    ];

    #[test]
    fn a_missing_row_is_reported_and_an_undocumented_one_fails() {
        let coverage = Coverage::new(TABLE);
        coverage.call(St::A, "go", St::B);
        assert_eq!(coverage.missing(), vec![TABLE[1]]);
        assert!(std::panic::catch_unwind(|| coverage.assert_complete()).is_err());
        assert!(std::panic::catch_unwind(|| coverage.call(St::A, "go", St::A)).is_err());
        // A call and an answer of the same label are different events.
        assert!(std::panic::catch_unwind(|| coverage.answer(St::A, "go", St::B)).is_err());
        assert!(std::panic::catch_unwind(|| coverage.call(St::B, "4xx", St::A)).is_err());
        coverage.answer(St::B, "4xx", St::A);
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
