//! The one error type of the crate, and the server's refusals.

use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::time::format_rfc3339;

/// Everything that can go wrong in a flow or session.
///
/// Every `Err` leaves the flow exactly as it was: fix the cause and call again.
/// No variant ever carries a secret or a raw response body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The caller used the flow out of order (e.g. `submit_code` while credentials are
    /// expected, or `handle_response` with no request outstanding).
    #[error("`{call}` is not allowed now: the flow is {state}")]
    OutOfOrder {
        /// The call that was refused.
        call: &'static str,
        /// The flow's state in words: the `as_str()` of its state enum
        /// ([`Flow::state`](crate::Flow::state), e.g. `"asking for credentials"`).
        state: &'static str,
    },
    /// The caller's input is invalid; nothing was sent.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The input at fault.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The server's response does not follow the protocol.
    #[error("malformed response to {step}: {field}: {reason}")]
    Malformed {
        /// The request the response answered, e.g. `POST /api/v2/my/signin`.
        step: &'static str,
        /// The part of the response at fault, e.g. `data.accessToken.expiresAt`.
        field: &'static str,
        /// What is wrong with it (never the value itself).
        reason: String,
    },
    /// The server refused the request in a way the flow cannot recover from by itself.
    #[error("server refused: {0}")]
    Refused(ApiError),
    /// The session's tokens can no longer be used: sign in again.
    #[error("the session has ended: sign in again")]
    SessionEnded,
    /// A bug in this crate, never the caller's or the server's doing: a state was reached
    /// that the code does not allow, or the code took a move that is not a row of the
    /// flow's `TRANSITIONS` (the driver checks every move against the table). The flow is
    /// unchanged; please report it.
    #[error("a bug in b2core-auth: {what} (the flow is unchanged)")]
    Internal {
        /// What went wrong inside.
        what: &'static str,
    },
}

/// Who an [`Error`] is about, so a caller can tell "I called it wrong" from "the server
/// answered wrong" without matching every variant.
///
/// ```
/// use b2core_auth::{Error, ErrorKind};
///
/// let misuse = Error::OutOfOrder { call: "submit_code", state: "not started" };
/// assert_eq!(misuse.kind(), ErrorKind::Caller);
/// let broken = Error::Malformed { step: "GET /x", field: "uuid", reason: "is missing".into() };
/// assert_eq!(broken.kind(), ErrorKind::Server);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller called out of order or gave invalid input: fix the call. Nothing was
    /// sent for it.
    Caller,
    /// The server refused the request or its answer broke the protocol.
    Server,
    /// The session can no longer be used: sign in again ([`Error::SessionEnded`]).
    SessionEnded,
    /// A bug in this crate ([`Error::Internal`]).
    Bug,
}

impl Error {
    /// Who the error is about (see [`ErrorKind`]).
    ///
    /// ```
    /// use b2core_auth::{Error, ErrorKind};
    ///
    /// assert_eq!(Error::SessionEnded.kind(), ErrorKind::SessionEnded);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::OutOfOrder { .. } | Self::InvalidInput { .. } => ErrorKind::Caller,
            Self::Malformed { .. } | Self::Refused(_) => ErrorKind::Server,
            Self::SessionEnded => ErrorKind::SessionEnded,
            Self::Internal { .. } => ErrorKind::Bug,
        }
    }

    pub(crate) fn internal(what: &'static str) -> Self {
        Self::Internal { what }
    }

    pub(crate) fn malformed(
        step: &'static str,
        field: &'static str,
        reason: impl Into<String>,
    ) -> Self {
        Self::Malformed {
            step,
            field,
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid(field: &'static str, reason: &'static str) -> Self {
        Self::InvalidInput { field, reason }
    }
}

/// A refusal from the server: the HTTP status and whatever message its body carried.
///
/// Error bodies are not published by the vendor; the shape seen in practice is
/// `{"error":{"code":0,"details":[{"issue":"..."}]}}`. Also read: `error.message` and a
/// top-level `message`. The raw body is never kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    status: u16,
    code: Option<i64>,
    messages: Vec<String>,
}

impl ApiError {
    /// Builds a refusal from a status and the server's messages.
    ///
    /// ```
    /// let e = b2core_auth::ApiError::new(400, None, vec!["Invalid credentials".into()]);
    /// assert_eq!(e.to_string(), "HTTP 400: Invalid credentials");
    /// ```
    pub fn new(status: u16, code: Option<i64>, messages: Vec<String>) -> Self {
        Self {
            status,
            code,
            messages,
        }
    }

    /// Reads a refusal leniently from an error response: a body that cannot be read still
    /// gives the status.
    pub(crate) fn from_body(status: u16, body: &[u8]) -> Self {
        let mut error = Self::new(status, None, Vec::new());
        if let Ok(wire) = serde_json::from_slice::<crate::wire::ErrorBody>(body) {
            error.code = wire.error.as_ref().and_then(|e| e.code);
            if let Some(e) = wire.error {
                error
                    .messages
                    .extend(e.details.into_iter().filter_map(|d| d.issue));
                error.messages.extend(e.message);
            }
            error.messages.extend(wire.message);
        }
        error
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The application error code from `error.code`, when the body had one.
    pub fn code(&self) -> Option<i64> {
        self.code
    }

    /// The server's messages (`error.details[].issue`, `error.message`, `message`).
    pub fn messages(&self) -> &[String] {
        &self.messages
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if let Some(code) = self.code {
            write!(f, " (code {code})")?;
        }
        for (i, m) in self.messages.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            f.write_str(m)?;
        }
        Ok(())
    }
}

/// Writes an instant as RFC 3339 when it can, as seconds since the epoch when it cannot.
pub(crate) struct DisplayTime(pub SystemTime);

impl fmt::Display for DisplayTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match format_rfc3339(self.0) {
            Ok(text) => f.write_str(&text),
            Err(_) => write!(f, "{:?}", self.0),
        }
    }
}

/// A serde error described without any of the input's values, any of which may be a
/// secret.
///
/// serde_json names the offending value in three kinds of message: `invalid type` and
/// `invalid value` (a string in double quotes, any other scalar in backticks:
/// ``invalid type: integer `394208416658607535`, expected a string``) and
/// ``unknown variant `x`, expected ...``. There the value becomes `(value hidden)`; its
/// kind (`string`, `integer`, `floating point`, `boolean`, `null`, `sequence`, `map`, ...)
/// and what was expected stay. Field names stay (``missing field `token` ``,
/// ``unknown field `x`, expected ...``, ``duplicate field `token` ``). In any other
/// message, double-quoted text is dropped, escapes (`\"`) included, as a precaution.
pub(crate) fn describe_serde_error(e: &serde_json::Error) -> String {
    hide_values(&e.to_string())
}

const HIDDEN: &str = "(value hidden)";

pub(crate) fn hide_values(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        // `{prefix}{unexpected}, expected {expected}`: the last `, expected ` is the one
        // serde wrote, as what is expected comes from the code and the value comes first.
        let Some(rest) = message.strip_prefix(prefix) else {
            continue;
        };
        if let Some(end) = rest.rfind(", expected ") {
            let (unexpected, expected) = rest.split_at(end);
            return format!("{prefix}{}{expected}", kind_only(unexpected));
        }
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        // ``unknown variant `{value}`, expected {names}`` or ``..., there are no variants``.
        let end = rest
            .rfind("`, expected ")
            .or_else(|| rest.rfind("`, there are no variants"));
        if let Some(end) = end {
            return format!("unknown variant {HIDDEN}{}", &rest[end + 1..]);
        }
    }
    drop_quoted(message)
}

/// What serde writes for an unexpected value (`string "..."`, ``integer `5` ``, `null`,
/// `map`, ...), with the value itself hidden. Text of any other shape is hidden whole.
fn kind_only(unexpected: &str) -> String {
    // The kinds that carry no value.
    const BARE: [&str; 13] = [
        "null",
        "unit value",
        "Option value",
        "newtype struct",
        "sequence",
        "map",
        "enum",
        "unit variant",
        "newtype variant",
        "tuple variant",
        "struct variant",
        "byte array",
        "number",
    ];
    // The kinds written with their value after a space.
    const VALUED: [&str; 5] = [
        "string",
        "integer",
        "floating point",
        "boolean",
        "character",
    ];
    if BARE.contains(&unexpected) {
        return unexpected.to_owned();
    }
    VALUED
        .iter()
        .find(|kind| {
            unexpected
                .strip_prefix(**kind)
                .is_some_and(|value| value.starts_with(' '))
        })
        .map_or_else(|| HIDDEN.to_owned(), |kind| format!("{kind} {HIDDEN}"))
}

/// `message` with each double-quoted part (escapes included) replaced by `(value hidden)`.
fn drop_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            out.push(c);
            continue;
        }
        // Skip to the closing quote, stepping over escaped characters.
        while let Some(q) = chars.next() {
            match q {
                '\\' => {
                    chars.next();
                }
                '"' => break,
                _ => {}
            }
        }
        out.push_str(HIDDEN);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_its_kind() {
        let refused = Error::Refused(ApiError::new(400, None, vec![]));
        for (error, kind) in [
            (
                Error::OutOfOrder {
                    call: "c",
                    state: "s",
                },
                ErrorKind::Caller,
            ),
            (Error::invalid("email", "is empty"), ErrorKind::Caller),
            (Error::malformed("GET /x", "code", "r"), ErrorKind::Server),
            (refused, ErrorKind::Server),
            (Error::SessionEnded, ErrorKind::SessionEnded),
            (Error::internal("what"), ErrorKind::Bug),
        ] {
            assert_eq!(error.kind(), kind, "{error}");
        }
        assert_eq!(
            Error::internal("an answer led to a state without a step").to_string(),
            "a bug in b2core-auth: an answer led to a state without a step (the flow is unchanged)"
        );
    }

    #[test]
    fn reads_the_error_body_seen_in_practice() {
        let e = ApiError::from_body(
            400,
            br#"{"error":{"code":7,"details":[{"issue":"Invalid credentials"},{"issue":"try again"}]}}"#,
        );
        assert_eq!(e.status(), 400);
        assert_eq!(e.code(), Some(7));
        assert_eq!(e.messages(), ["Invalid credentials", "try again"]);
        assert_eq!(
            e.to_string(),
            "HTTP 400 (code 7): Invalid credentials; try again"
        );
    }

    #[test]
    fn unreadable_bodies_keep_the_status() {
        for body in [&b""[..], b"<html>", b"{\"error\":42}", b"null"] {
            let e = ApiError::from_body(503, body);
            assert_eq!((e.status(), e.code(), e.messages().len()), (503, None, 0));
        }
        let e = ApiError::from_body(422, br#"{"message":"Too short"}"#);
        assert_eq!(e.messages(), ["Too short"]);
    }

    #[test]
    fn serde_descriptions_drop_quoted_values() {
        for secret in [
            r#""hunter2-secret""#,
            r#""a\"hunter2-secret""#,
            r#""\\\"hunter2-secret\\""#,
        ] {
            let err = serde_json::from_str::<u32>(secret).unwrap_err();
            let text = describe_serde_error(&err);
            assert!(!text.contains("hunter2"), "{text}");
            assert!(
                text.starts_with("invalid type: string (value hidden), expected u32"),
                "{text}"
            );
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Named {
            token: String,
        }
        let err = serde_json::from_str::<Named>("{}").unwrap_err();
        assert!(describe_serde_error(&err).starts_with("missing field `token`"));
    }

    /// A struct with a field of each scalar kind the crate reads.
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Fields {
        name: String,
        flag: bool,
        count: u32,
    }

    /// Each JSON type, as JSON text; what the error says of it; and the digit runs and
    /// words of it that must not reach an error.
    const VALUES: [(&str, &str, &[&str]); 10] = [
        (
            r#""hunter2secret""#,
            "string (value hidden)",
            &["hunter2secret", "hunter"],
        ),
        (
            r#""quote\" and `tick`, expected 4242""#,
            "string (value hidden)",
            &["quote", "tick", "4242"],
        ),
        (
            "394208416658607535",
            "integer (value hidden)",
            &["394208416658607535"],
        ),
        ("-8675309123", "integer (value hidden)", &["8675309123"]),
        (
            "18446744073709551615",
            "integer (value hidden)",
            &["18446744073709551615"],
        ),
        (
            "31415.92653",
            "floating point (value hidden)",
            &["31415", "92653"],
        ),
        ("true", "boolean (value hidden)", &["true"]),
        ("null", "null", &[]),
        (
            r#"["arraysecret", 47474747]"#,
            "sequence",
            &["arraysecret", "47474747"],
        ),
        (
            r#"{"objsecret": 58585858}"#,
            "map",
            &["objsecret", "58585858"],
        ),
    ];

    #[test]
    fn no_json_value_reaches_an_error_whatever_its_type_and_position() {
        let fields = [
            ("name", r#""n""#, "a string"),
            ("flag", "false", "a boolean"),
            ("count", "1", "u32"),
        ];
        let mut errors = 0;
        for (field, _, expected) in fields {
            for (value, kind, secrets) in VALUES {
                let members: Vec<String> = fields
                    .iter()
                    .map(|(name, ok, _)| {
                        let v = if *name == field { value } else { ok };
                        format!(r#""{name}":{v}"#)
                    })
                    .collect();
                let json = format!("{{{}}}", members.join(","));
                let Err(err) = serde_json::from_str::<Fields>(&json) else {
                    // Only a value of the field's own type is read.
                    assert!(
                        (field == "name" && kind.starts_with("string "))
                            || (field == "flag" && kind.starts_with("boolean ")),
                        "{json}"
                    );
                    continue;
                };
                errors += 1;
                let text = describe_serde_error(&err);
                for secret in secrets {
                    assert!(!text.contains(secret), "{json} -> {text}");
                }
                // The kind of value and the type expected are still named: `invalid type`
                // for another type, `invalid value` for an integer out of u32's range.
                let want = format!("{kind}, expected {expected} at line 1 column ");
                assert!(
                    text.starts_with(&format!("invalid type: {want}"))
                        || text.starts_with(&format!("invalid value: {want}")),
                    "{json} -> {text}"
                );
            }
        }
        assert_eq!(errors, 3 * VALUES.len() - 3);
    }

    #[test]
    fn field_names_stay_and_variant_values_go() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Strict {
            token: String,
            kind: Option<Kind>,
            letter: Option<char>,
        }
        #[derive(Debug, serde::Deserialize)]
        enum Kind {
            Alpha,
            Beta,
        }
        let describe =
            |json: &str| describe_serde_error(&serde_json::from_str::<Strict>(json).unwrap_err());
        assert_eq!(describe("{}"), "missing field `token` at line 1 column 2");
        assert_eq!(
            describe(r#"{"token":"a","token":"b"}"#),
            "duplicate field `token` at line 1 column 20"
        );
        assert_eq!(
            describe(r#"{"token":"a","x":1}"#),
            "unknown field `x`, expected one of `token`, `kind`, `letter` at line 1 column 16"
        );
        for variant in [r#""hunter2secret""#, r#""x`, expected `Alpha`, 4242""#] {
            let text = describe(&format!(r#"{{"token":"a","kind":{variant}}}"#));
            assert!(
                text.starts_with(
                    "unknown variant (value hidden), expected `Alpha` or `Beta` at line 1"
                ),
                "{text}"
            );
            assert!(!text.contains("hunter") && !text.contains("4242"), "{text}");
        }
        let text = describe(r#"{"token":"a","letter":"hunter2secret"}"#);
        assert!(
            text.starts_with("invalid value: string (value hidden), expected a character"),
            "{text}"
        );
    }

    #[test]
    fn values_in_any_of_serdes_shapes_are_hidden() {
        use serde::de::{Error as _, Unexpected};
        let hidden = |unexpected: Unexpected<'_>| {
            describe_serde_error(&serde_json::Error::invalid_value(unexpected, &"a thing"))
        };
        assert_eq!(
            hidden(Unexpected::Char('7')),
            "invalid value: character (value hidden), expected a thing"
        );
        assert_eq!(
            hidden(Unexpected::Char('`')),
            "invalid value: character (value hidden), expected a thing"
        );
        assert_eq!(
            hidden(Unexpected::Float(-2.5e-300)),
            "invalid value: floating point (value hidden), expected a thing"
        );
        assert_eq!(
            hidden(Unexpected::Bool(false)),
            "invalid value: boolean (value hidden), expected a thing"
        );
        assert_eq!(
            hidden(Unexpected::Signed(i64::MIN)),
            "invalid value: integer (value hidden), expected a thing"
        );
        assert_eq!(
            hidden(Unexpected::Str("a, expected b")),
            "invalid value: string (value hidden), expected a thing"
        );
        assert_eq!(
            hidden(Unexpected::Other("an odd 4242")),
            "invalid value: (value hidden), expected a thing"
        );
        for bare in [
            Unexpected::Unit,
            Unexpected::Seq,
            Unexpected::Map,
            Unexpected::Bytes(b"4242"),
        ] {
            let text = hidden(bare);
            assert!(!text.contains("hidden") && !text.contains("4242"), "{text}");
        }
        // serde_json's own messages have no value in them and are left alone.
        let err = serde_json::from_str::<Vec<u32>>("[1,").unwrap_err();
        assert_eq!(
            describe_serde_error(&err),
            "EOF while parsing a value at line 1 column 3"
        );
    }
}
