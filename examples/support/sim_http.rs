//! The simulator over real HTTP: an [`axum`] server on a loopback port whose requests go to
//! a shared [`b2core_auth::sim::Server`] with the wall clock as `now`.
//!
//! Used by `examples/sim_server.rs`, `examples/async_tokio.rs` and `tests/sockets.rs`
//! (`#[path = ...] mod sim_http;`). The simulator itself stays sans-IO: this file is the
//! only place where its requests come from a socket and its `now` from the clock. The
//! server runs on a tokio runtime of its own, on a thread of its own, so a caller needs no
//! runtime (and one inside a runtime, like `async_tokio`, can start and drop it freely).
//!
//! Every request the simulator sees is the one that came in: method, request target (path
//! and query string, still percent-encoded: the simulator judges them), headers and the
//! body, of which at most [`BODY_READ_LIMIT`] bytes are read.
//!
//! Besides the B2Core paths, four read-only control paths under `/_sim/` (never passed to
//! the simulator, so never a violation) let a test harness in any language look inside:
//!
//! | request | answer |
//! |---|---|
//! | `GET /_sim/violations` | `[{"request": "POST /api/v2/...", "reason": "..."}]`, oldest first |
//! | `GET /_sim/outbox` | `[{"channel": "sms" or "email", "to": "...", "code": "123456"}]`, oldest first |
//! | `GET /_sim/google-code?email=E` | `{"code": "123456"}`, the account's Google Authenticator code now; 404 if it has none |
//! | `GET /_sim/api/whoami` | `{"email": "..."}` if the request's one `Authorization: Bearer <token>` holds a live client access token (`Server::bearer_holder`); 401 `{"error": "<reason>"}` with `WWW-Authenticate: Bearer` otherwise |
//!
//! `/_sim/api/whoami` is not a B2Core path (the vendor's pages document no resource API):
//! it stands in for the API a gateway proxies to, so that a test can see which client's
//! token, if any, the gateway sent. Only its headers are read (a query string is ignored);
//! a refusal's reason never quotes the token: `missing or malformed Authorization header`,
//! `unknown access token`, `access token revoked`, `access token expired`, `not a client
//! token`, `no such client account`.
//!
//! The query string is `application/x-www-form-urlencoded` (axum's [`Query`], that is
//! `serde_urlencoded`): `E` is percent-decoded and `+` is a space, so an address with a `+`
//! is sent as `%2B`. A query without `email`, with it twice or with another key is a 400.
//! Another method on a control path is a 405, another path under `/_sim/` a 404.
//!
//! For tests in Rust, [`Running::throttle_next`] answers one request with a 429 of a given
//! `Retry-After` before it reaches the simulator, as a host with a limit of its own would,
//! and [`Running::capture_next`] keeps the body of one request for the test to read.

#![allow(dead_code)] // each example and test uses the part it needs

// A program with both the simulator and the gateway has two copies of this small file
// (each is self-contained, so either can be included alone).
#[allow(clippy::duplicate_mod)]
#[path = "background.rs"]
mod background;

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use axum::body::{Body, HttpBody};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::middleware::{self, Next};
use axum::routing::get;
use axum::Router;
use b2core_auth::sim::{Channel, SentCode, Server, Violation};
use serde::Deserialize;
use serde_json::json;

use background::Background;

/// The most of a request body handed to the simulator; the rest is never read. The
/// simulator answers bodies over 64 KiB with 413 (a violation), so reading a little more
/// than that is enough for it to see the excess.
pub const BODY_READ_LIMIT: usize = 128 * 1024;

/// Something worth telling the person running the server (on stderr, say).
pub enum Event<'a> {
    /// A code the simulator "sent" by SMS or email.
    Code(&'a SentCode),
    /// A request a conforming client would never send.
    Violation(&'a Violation),
}

/// A running server (dropping it stops it) and the shared simulator.
pub struct Running {
    server: Background,
    shared: Arc<Shared>,
}

/// What the handlers share.
struct Shared {
    sim: Mutex<Server>,
    /// Request lines to answer with a 429 instead of the simulator, and their
    /// `Retry-After` (see [`Running::throttle_next`]).
    throttled: Mutex<Vec<(String, String)>>,
    /// Request lines whose next body to keep, and the body once it came (see
    /// [`Running::capture_next`]).
    captures: Mutex<Vec<(String, Option<Vec<u8>>)>>,
    reporter: Mutex<Reporter>,
}

/// How many codes and violations were reported so far, and to whom.
struct Reporter {
    codes_seen: usize,
    violations_seen: usize,
    on_event: Box<dyn FnMut(Event<'_>) + Send>,
}

impl Running {
    /// Serves `sim` on `addr` (e.g. `127.0.0.1:0` for a free port) in a new thread, and
    /// returns once it accepts connections. `on_event` is called, on that thread, for each
    /// new code and violation.
    pub fn start(
        addr: &str,
        sim: Server,
        on_event: impl FnMut(Event<'_>) + Send + 'static,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let shared = Arc::new(Shared {
            sim: Mutex::new(sim),
            throttled: Mutex::new(Vec::new()),
            captures: Mutex::new(Vec::new()),
            reporter: Mutex::new(Reporter {
                codes_seen: 0,
                violations_seen: 0,
                on_event: Box::new(on_event),
            }),
        });
        let app = router(Arc::clone(&shared));
        let server = Background::start("sim_http", addr, 0, move |listener| {
            tokio::spawn(axum::serve(listener, app).into_future());
        })?;
        Ok(Self { server, shared })
    }

    /// The next request whose line is `line` (`METHOD /path`, e.g. `POST /api/v2/signin`)
    /// is answered `429 Too Many Requests` with `Retry-After: retry_after` and never reaches
    /// the simulator: a host whose limit is not the simulator's, for a test of how a client
    /// waits (the simulator's own limits block for up to 10 minutes).
    pub fn throttle_next(&self, line: &str, retry_after: &str) {
        lock(&self.shared.throttled).push((line.to_owned(), retry_after.to_owned()));
    }

    /// Keeps the body of the next request whose line is `line` (as for
    /// [`Running::throttle_next`]), for a test to read with [`Running::captured`]: what a
    /// client really sent. Only what a test asks for is kept.
    pub fn capture_next(&self, line: &str) {
        lock(&self.shared.captures).push((line.to_owned(), None));
    }

    /// The body [`Running::capture_next`] kept for `line`, once that request came (taken
    /// off the list).
    pub fn captured(&self, line: &str) -> Option<Vec<u8>> {
        let mut captures = lock(&self.shared.captures);
        let at = captures
            .iter()
            .position(|(queued, body)| queued == line && body.is_some())?;
        captures.remove(at).1
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://<addr>`, the base URI for an `Endpoint`.
    pub fn base_uri(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The simulator, to read its outbox, codes and violations (or add accounts).
    pub fn sim(&self) -> MutexGuard<'_, Server> {
        lock(&self.shared.sim)
    }

    /// Blocks the calling thread until the server stops (it never does on its own).
    pub fn wait(self) {
        self.server.wait();
    }
}

/// A panic elsewhere must not stop the server from answering: the simulator's state is
/// consistent after every `handle` (it never panics), and the throttle queue and the
/// counts after every change, so a poisoned lock is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The control paths, the simulator for every other request, and the throttle before all.
fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/_sim/violations", get(violations))
        .route("/_sim/outbox", get(outbox))
        .route("/_sim/google-code", get(google_code))
        .route("/_sim/api/whoami", get(whoami))
        .route("/_sim/", get(unknown_control))
        .route("/_sim/{*rest}", get(unknown_control))
        .method_not_allowed_fallback(read_only)
        .fallback(simulate)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&shared),
            throttle,
        ))
        .with_state(shared)
}

type Response = axum::response::Response;

/// Hands the request to the simulator, then reports the codes and violations it added.
async fn simulate(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = read_capped(body, BODY_READ_LIMIT).await else {
        return plain(400, "the request body could not be read");
    };
    let request = http::Request::from_parts(parts, body);
    let mut sim = lock(&shared.sim);
    let response = sim.handle(&request, SystemTime::now());
    let mut reporter = lock(&shared.reporter);
    let Reporter {
        codes_seen,
        violations_seen,
        on_event,
    } = &mut *reporter;
    for sent in sim.outbox().iter().skip(*codes_seen) {
        on_event(Event::Code(sent));
    }
    for violation in sim.violations().iter().skip(*violations_seen) {
        on_event(Event::Violation(violation));
    }
    (*codes_seen, *violations_seen) = (sim.outbox().len(), sim.violations().len());
    response.map(Body::from)
}

/// The body's first `limit` bytes (all of it if shorter); what follows is left unread.
async fn read_capped(mut body: Body, limit: usize) -> Result<Vec<u8>, axum::Error> {
    let mut read = Vec::new();
    while read.len() < limit {
        let frame = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx));
        let Some(frame) = frame.await else {
            break;
        };
        if let Ok(data) = frame?.into_data() {
            read.extend_from_slice(&data);
        }
    }
    read.truncate(limit);
    Ok(read)
}

/// Answers a request whose line was queued by [`Running::throttle_next`] with its 429
/// (taking it off the queue); passes every other one on.
async fn throttle(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let line = format!("{} {}", request.method(), request.uri().path());
    let request = match capture(&shared, &line, request).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let retry_after = {
        let mut queue = lock(&shared.throttled);
        let at = queue.iter().position(|(queued, _)| *queued == line);
        at.map(|at| queue.remove(at).1)
    };
    let Some(retry_after) = retry_after else {
        return next.run(request).await;
    };
    let mut response = json_response(429, &json!({"message": "Too Many Requests"}));
    if let Ok(value) = http::HeaderValue::from_str(&retry_after) {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, value);
    }
    response
}

/// Keeps the body of a request a test asked for ([`Running::capture_next`]), and hands
/// the request on unchanged.
async fn capture(shared: &Shared, line: &str, request: Request) -> Result<Request, Response> {
    let wanted = lock(&shared.captures)
        .iter()
        .any(|(queued, body)| queued == line && body.is_none());
    if !wanted {
        return Ok(request);
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = read_capped(body, BODY_READ_LIMIT).await else {
        return Err(plain(400, "the request body could not be read"));
    };
    let mut captures = lock(&shared.captures);
    if let Some((_, slot)) = captures
        .iter_mut()
        .find(|(queued, body)| queued == line && body.is_none())
    {
        *slot = Some(body.clone());
    }
    Ok(Request::from_parts(parts, Body::from(body)))
}

fn plain(status: u16, text: &str) -> Response {
    let mut response = Response::new(Body::from(text.to_owned()));
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn json_response(status: u16, body: &serde_json::Value) -> Response {
    let mut response = plain(status, "");
    *response.body_mut() = Body::from(body.to_string());
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

async fn violations(State(shared): State<Arc<Shared>>) -> Response {
    let sim = lock(&shared.sim);
    let list: Vec<_> = sim
        .violations()
        .iter()
        .map(|v| json!({"request": v.request, "reason": v.reason}))
        .collect();
    json_response(200, &json!(list))
}

async fn outbox(State(shared): State<Arc<Shared>>) -> Response {
    let sim = lock(&shared.sim);
    let list: Vec<_> = sim
        .outbox()
        .iter()
        .map(|sent| json!({"channel": channel(sent.channel), "to": sent.to, "code": sent.code}))
        .collect();
    json_response(200, &json!(list))
}

/// The query of `GET /_sim/google-code`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GoogleCodeQuery {
    email: String,
}

async fn google_code(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<GoogleCodeQuery>, QueryRejection>,
) -> Response {
    let email = match query {
        Ok(Query(query)) => query.email,
        Err(rejection) => {
            let reason = rejection.body_text();
            return plain(
                400,
                &format!("want ?email=ADDRESS (percent-encoded): {reason}"),
            );
        }
    };
    match lock(&shared.sim).google_code(&email, SystemTime::now()) {
        Some(code) => json_response(200, &json!({ "code": code })),
        None => plain(404, "no client with Google Authenticator on has this email"),
    }
}

/// `GET /_sim/api/whoami`: the stand-in resource API. The simulator is locked only while
/// it looks the token up.
async fn whoami(State(shared): State<Arc<Shared>>, headers: http::HeaderMap) -> Response {
    let mut request = http::Request::new(Vec::new());
    *request.headers_mut() = headers;
    let holder = lock(&shared.sim)
        .bearer_holder(&request, SystemTime::now())
        .map(str::to_owned);
    match holder {
        Ok(email) => json_response(200, &json!({ "email": email })),
        Err(reason) => {
            let mut response = json_response(401, &json!({ "error": reason }));
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer"),
            );
            response
        }
    }
}

async fn unknown_control() -> Response {
    plain(404, "unknown control path")
}

async fn read_only() -> Response {
    plain(405, "the /_sim/ paths are read-only: use GET")
}

/// `sms` or `email`.
pub fn channel(channel: Channel) -> &'static str {
    match channel {
        Channel::Sms => "sms",
        _ => "email",
    }
}
