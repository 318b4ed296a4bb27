//! What each of the simulator's dialects (`b2core_auth::sim::Dialect::ALL`) implies for a
//! client that reads answers as the crate does: the deviations its flows must record, and
//! no other.
//!
//! Used by `examples/walkthrough.rs` and `tests/sockets.rs` (`#[path = ...] mod dialects;`).
//!
//! The rule is stated per answer, from the request line, the HTTP status the same answer
//! has in the `pages` dialect and the status it has in the dialect at hand:
//!
//! - `status-200` (and `everything`): every answer the pages' reading sends as HTTP 202
//!   (a final wizard step, body `code` 202) comes as HTTP 200 with the body's `code` still
//!   202: one `code` deviation, the body's `code` against the status.
//! - `done-at-init` (and `everything`): the sign-in wizard init (`GET
//!   /api/v2/my/signin/wizard`) answers `code` 202 and `done: true` with workflow `login`,
//!   as the other published version of the page shows: `code` against the status when the
//!   status is not 202, `code` against the workflow, and `done` against the workflow, in
//!   that order.
//! - every other dialect: none (extra fields, media-type parameters, the refresh answer's
//!   shape, `Retry-After` forms and `null` optionals are points the crate reads without a
//!   deviation).

#![allow(dead_code)] // each example and test uses the part it needs

/// The sign-in wizard init, the one answer `done-at-init` changes.
pub const SIGNIN_INIT: &str = "GET /api/v2/my/signin/wizard";

/// The deviations, as `(field, found)`, that an answer to `request` (`METHOD /path`)
/// with HTTP `status` must record in `dialect`, when the same answer has HTTP
/// `pages_status` in the `pages` dialect.
pub fn implied(
    dialect: &str,
    request: &str,
    pages_status: u16,
    status: u16,
) -> Vec<(&'static str, String)> {
    let status_200 = matches!(dialect, "status-200" | "everything");
    let done_at_init = matches!(dialect, "done-at-init" | "everything");
    let mut implied = Vec::new();
    if done_at_init && request == SIGNIN_INIT {
        if status != 202 {
            implied.push(("code", format!("`code` 202 with HTTP status {status}")));
        }
        implied.push(("code", "`code` 202 with workflow `login`".to_owned()));
        implied.push(("done", "`done` true with workflow `login`".to_owned()));
    } else if status_200 && pages_status == 202 {
        // The status the dialect promises, not the one that came: a 202 here records
        // nothing, and the comparison fails as it should.
        implied.push(("code", "`code` 202 with HTTP status 200".to_owned()));
    }
    implied
}

/// The dialects whose answers record a deviation somewhere in a full run of the flows.
pub fn deviates(dialect: &str) -> bool {
    matches!(dialect, "status-200" | "done-at-init" | "everything")
}

/// `field: found` of each deviation, `; ` between them, `-` for none: the form of the
/// `deviations` cell of `b2core conformance`'s table.
pub fn cell<F: AsRef<str>, S: AsRef<str>>(deviations: &[(F, S)]) -> String {
    if deviations.is_empty() {
        return "-".to_owned();
    }
    deviations
        .iter()
        .map(|(field, found)| format!("{}: {}", field.as_ref(), found.as_ref()))
        .collect::<Vec<_>>()
        .join("; ")
}
