//! Each flow's rustdoc shows its transition table; the flow's `TRANSITIONS` constant is the
//! same table as data. These tests keep the two from drifting apart.

use b2core_auth::Transition;

/// The rows of the markdown table under `## Transitions` in a module's `//!` docs.
fn doc_table(source: &str) -> Vec<(String, String, String)> {
    source
        .lines()
        .skip_while(|line| !line.starts_with("//! ## Transitions"))
        .filter_map(|line| line.strip_prefix("//! |"))
        .map(|row| row.split('|').map(str::trim).collect::<Vec<_>>())
        .filter(|cells| cells.len() >= 3 && cells[0] != "from" && !cells[0].starts_with("---"))
        .map(|cells| {
            (
                cells[0].to_owned(),
                cells[1].to_owned(),
                cells[2].to_owned(),
            )
        })
        .collect()
}

fn assert_same(source: &str, table: &[Transition]) {
    let documented = doc_table(source);
    let declared: Vec<_> = table
        .iter()
        .map(|t| (t.from.to_owned(), t.event.to_owned(), t.to.to_owned()))
        .collect();
    assert!(!declared.is_empty(), "an empty table proves nothing");
    assert_eq!(
        documented, declared,
        "the rustdoc table and TRANSITIONS differ"
    );
    let mut unique = declared.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), declared.len(), "a row is declared twice");
}

#[test]
fn sign_in_docs_match_its_table() {
    assert_same(
        include_str!("../src/client/signin.rs"),
        b2core_auth::client::signin::TRANSITIONS,
    );
}

#[test]
fn staff_sign_in_docs_match_its_table() {
    assert_same(
        include_str!("../src/backoffice.rs"),
        b2core_auth::backoffice::TRANSITIONS,
    );
}

#[test]
fn session_docs_match_its_table() {
    assert_same(
        include_str!("../src/session.rs"),
        b2core_auth::session::TRANSITIONS,
    );
}

#[test]
fn the_checker_sees_a_drifted_row() {
    let source = "//! ## Transitions\n//!\n//! | from | event | to |\n//! |---|---|---|\n//! | a | go | b |\n";
    let table = [Transition {
        from: "a",
        event: "go",
        to: "c",
    }];
    let drifted = std::panic::catch_unwind(|| assert_same(source, &table));
    assert!(drifted.is_err());
    assert_same(
        source,
        &[Transition {
            from: "a",
            event: "go",
            to: "b",
        }],
    );
}

#[path = "support/coverage.rs"]
mod coverage;

#[test]
fn sign_up_docs_match_its_table() {
    assert_same(
        include_str!("../src/client/signup.rs"),
        b2core_auth::client::signup::TRANSITIONS,
    );
}
