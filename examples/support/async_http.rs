//! An async HTTP client for the flows on tokio: one [`reqwest::Client`], cloned into every
//! task that sends, so that they all share its connection pool (a connection to the host is
//! opened once and reused). The `http::Request` a flow or a session returns goes to
//! reqwest as it is, and the answer comes back as the `http::Response<Vec<u8>>` they read.
//! Every status is an answer; only a failure to reach the host or to read its answer is an
//! `Err`.
//!
//! - Redirects are never followed (`redirect::Policy::none()`): a 3xx comes back as the
//!   answer, for the flow to refuse. Every request of a flow carries a password, a code or
//!   a token, which must go nowhere else.
//! - A body is read up to one byte past the flows' own limit, so that they see the excess
//!   and refuse it, and never more.
//! - TLS by rustls with ring and the Mozilla roots of `webpki-roots` (reqwest's
//!   `rustls-tls`); no proxy from the environment (`no_proxy`): requests go straight to
//!   the host, loopback included.
//!
//! Used by `examples/async_tokio.rs`, the gateway (`examples/gateway/app/`) and `tests/sockets.rs` (`#[path = ...] mod async_http;`).

#![allow(dead_code)] // each example and test uses the part it needs

use std::time::Duration;

/// The most of a response body read (one byte past the flows' own limit, so they see it).
const BODY_READ_LIMIT: usize = b2core_auth::DEFAULT_BODY_LIMIT + 1;
/// The longest a whole exchange may take, connection and body included.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The error of a failed exchange: which host, and why. It holds no part of the request.
pub type SendError = String;

/// One client for every request: cheap to clone, each clone shares the pool.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
}

impl Client {
    /// Plain HTTP and HTTPS, no redirect followed, 30 s per exchange.
    pub fn new() -> Result<Self, SendError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| format!("HTTP client setup: {}", chain(e)))?;
        Ok(Self { http })
    }

    /// Sends one request and reads the answer, its body up to the limit.
    pub async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, SendError> {
        self.send_capped(request, BODY_READ_LIMIT).await
    }

    /// [`Client::send`] with another cap on the body read (a gateway relaying API answers,
    /// which no flow reads, needs more than the flows' limit), and any body reqwest takes
    /// (a gateway's `Bytes`, which a resend clones without copying).
    pub async fn send_capped<B: Into<reqwest::Body>>(
        &self,
        request: http::Request<B>,
        body_read_limit: usize,
    ) -> Result<http::Response<Vec<u8>>, SendError> {
        let host = request
            .uri()
            .authority()
            .map_or_else(String::new, |a| a.to_string());
        let fail = |e: reqwest::Error| {
            if e.is_timeout() {
                format!("cannot reach {host}: no answer within {TIMEOUT:?}")
            } else {
                format!("cannot reach {host}: {}", chain(e))
            }
        };
        let request = reqwest::Request::try_from(request).map_err(fail)?;
        let mut response = self.http.execute(request).await.map_err(fail)?;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(fail)? {
            let room = body_read_limit - body.len();
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() == body_read_limit {
                break; // the rest is never read (nor the connection reused)
            }
        }
        let mut answer = http::Response::new(body);
        *answer.status_mut() = response.status();
        *answer.version_mut() = response.version();
        *answer.headers_mut() = std::mem::take(response.headers_mut());
        Ok(answer)
    }
}

/// The error and its causes, `: ` between them, without the URL (a query string could hold
/// something the caller would not print).
fn chain(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
