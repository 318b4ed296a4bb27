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
        /// What the flow is doing now.
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
    /// Too many attempts: nothing may be sent before `retry_at`.
    #[error("rate limited until {}", DisplayTime(*retry_at))]
    RateLimited {
        /// The earliest instant at which the call may be made again.
        retry_at: SystemTime,
    },
    /// The session's tokens can no longer be used: sign in again.
    #[error("the session has ended: sign in again")]
    SessionEnded,
}

impl Error {
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

/// A serde error described without any of the input's values: serde_json quotes the
/// offending string in "invalid type" messages, and that string may be a secret. Quoted
/// text is dropped, escapes (`\"`) included; field names (in backticks) stay.
pub(crate) fn describe_serde_error(e: &serde_json::Error) -> String {
    let message = e.to_string();
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
        out.push_str("(value hidden)");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
