//! A blocking HTTP client for the flows: the `http::Request` a flow returns goes to
//! [`ureq`] as it is, and the answer comes back as the `http::Response<Vec<u8>>` the flow
//! reads. Every status is an answer (a 4xx is for the flow to judge, not a transport
//! error; a 3xx is not followed); only a failure to reach the host or to read its answer
//! is an `Err`.
//!
//! Used by `examples/b2core.rs` and `tests/sockets.rs` (`#[path = ...] mod blocking_http;`).

#![allow(dead_code)] // each example and test uses the part it needs

use std::time::Duration;

/// The most of a response body read. The flows refuse bodies over
/// `b2core_auth::DEFAULT_BODY_LIMIT` (1 MiB) themselves; reading one byte more lets them
/// see the excess and say so.
const BODY_READ_LIMIT: u64 = b2core_auth::DEFAULT_BODY_LIMIT as u64 + 1;

/// One agent (connection pool, TLS config) for all the requests of a run.
pub struct Client {
    agent: ureq::Agent,
}

impl Client {
    /// Plain HTTP and HTTPS (rustls, the Mozilla roots of `webpki-roots`), 30 s per request.
    ///
    /// Redirects are never followed: every request of a flow carries a password, a code or
    /// a token (a 307/308 would send the body again, wherever `Location` points), so a 3xx
    /// comes back as the answer, for the flow to refuse. ureq follows up to 10 by default.
    pub fn new() -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(30)))
            .user_agent("b2core-auth-example/0.1")
            .build()
            .into();
        Self { agent }
    }

    /// Sends one request and reads the whole answer. The error says which host could not
    /// be reached or read and why; it holds no part of the request (no secret).
    pub fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, String> {
        let host = request
            .uri()
            .authority()
            .map_or_else(String::new, |a| a.to_string());
        let fail = |e: ureq::Error| format!("cannot reach {host}: {e}");
        let (parts, body) = request.into_parts();
        // A request without a body (the wizard's GET, a sign-out) goes without one, not with
        // an empty one: ureq refuses a body on a GET.
        let response = if body.is_empty() {
            self.agent.run(http::Request::from_parts(parts, ()))
        } else {
            self.agent.run(http::Request::from_parts(parts, body))
        }
        .map_err(fail)?;
        let (parts, mut body) = response.into_parts();
        let bytes = body
            .with_config()
            .limit(BODY_READ_LIMIT)
            .read_to_vec()
            .map_err(fail)?;
        Ok(http::Response::from_parts(parts, bytes))
    }
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}
