//! The simulator over real HTTP: a [`tiny_http`] server on a loopback port whose requests
//! go to a shared [`b2core_auth::sim::Server`] with the wall clock as `now`.
//!
//! Used by `examples/sim_server.rs`, `examples/async_tokio.rs` and `tests/sockets.rs`
//! (`#[path = ...] mod sim_http;`). The simulator itself stays sans-IO: this file is the
//! only place where its requests come from a socket and its `now` from the clock.
//!
//! Besides the B2Core paths (handed to the simulator as they are), three read-only control
//! paths under `/_sim/` (never passed to the simulator, so never a violation) let a test
//! harness in any language look inside:
//!
//! | request | answer |
//! |---|---|
//! | `GET /_sim/violations` | `[{"request": "POST /api/v2/...", "reason": "..."}]`, oldest first |
//! | `GET /_sim/outbox` | `[{"channel": "sms" or "email", "to": "...", "code": "123456"}]`, oldest first |
//! | `GET /_sim/google-code?email=E` | `{"code": "123456"}`, the account's Google Authenticator code now; 404 if it has none |
//!
//! For tests in Rust, [`Running::throttle_next`] answers one request with a 429 of a given
//! `Retry-After` before it reaches the simulator, as a host with a limit of its own would.

#![allow(dead_code)] // each example and test uses the part it needs

use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::SystemTime;

use b2core_auth::sim::{Channel, SentCode, Server, Violation};
use serde_json::json;

/// The most of a request body handed to the simulator. It answers bodies over 64 KiB with
/// 413, so reading a little more than that is enough for it to see the excess.
const BODY_READ_LIMIT: u64 = 128 * 1024;

/// Something worth telling the person running the server (on stderr, say).
pub enum Event<'a> {
    /// A code the simulator "sent" by SMS or email.
    Code(&'a SentCode),
    /// A request a conforming client would never send.
    Violation(&'a Violation),
}

/// A running server: its address, the shared simulator and the thread serving it.
pub struct Running {
    addr: SocketAddr,
    sim: Arc<Mutex<Server>>,
    http: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    /// Request lines to answer with a 429 instead of the simulator, and their
    /// `Retry-After` (see [`Running::throttle_next`]).
    throttled: Arc<Mutex<Vec<(String, String)>>>,
}

impl Running {
    /// Serves `sim` on `addr` (e.g. `127.0.0.1:0` for a free port) in a new thread.
    /// `on_event` is called, on that thread, for each new code and violation.
    pub fn start(
        addr: &str,
        sim: Server,
        on_event: impl FnMut(Event<'_>) + Send + 'static,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let http = Arc::new(tiny_http::Server::http(addr)?);
        let addr = http
            .server_addr()
            .to_ip()
            .ok_or("the server is not on an IP address")?;
        let sim = Arc::new(Mutex::new(sim));
        let throttled = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (http, sim, throttled) =
                (Arc::clone(&http), Arc::clone(&sim), Arc::clone(&throttled));
            std::thread::spawn(move || serve(&http, &sim, &throttled, on_event))
        };
        Ok(Self {
            addr,
            sim,
            http,
            thread: Some(thread),
            throttled,
        })
    }

    /// The next request whose line is `line` (`METHOD /path`, e.g. `POST /api/v2/signin`)
    /// is answered `429 Too Many Requests` with `Retry-After: retry_after` and never reaches
    /// the simulator: a host whose limit is not the simulator's, for a test of how a client
    /// waits (the simulator's own limits block for up to 10 minutes).
    pub fn throttle_next(&self, line: &str, retry_after: &str) {
        lock(&self.throttled).push((line.to_owned(), retry_after.to_owned()));
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, the base URI for an `Endpoint`.
    pub fn base_uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The simulator, to read its outbox, codes and violations (or add accounts).
    pub fn sim(&self) -> MutexGuard<'_, Server> {
        lock(&self.sim)
    }

    /// Blocks the calling thread until the server stops (it never does on its own).
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Running {
    /// Stops the serving thread and waits for it.
    fn drop(&mut self) {
        self.http.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A panic elsewhere must not stop the server from answering: the simulator's state is
/// consistent after every `handle` (it never panics), and the throttle queue after every
/// push and take, so a poisoned lock is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn serve(
    http: &tiny_http::Server,
    sim: &Mutex<Server>,
    throttled: &Mutex<Vec<(String, String)>>,
    mut on_event: impl FnMut(Event<'_>),
) {
    let (mut codes_seen, mut violations_seen) = (0, 0);
    for mut incoming in http.incoming_requests() {
        let response = match to_http(&mut incoming) {
            Ok(request) => match take_throttled(throttled, &request) {
                Some(retry_after) => too_many(&retry_after),
                None => {
                    let mut sim = lock(sim);
                    let response = match control(&sim, &request) {
                        Some(response) => response,
                        None => sim.handle(&request, SystemTime::now()),
                    };
                    for sent in &sim.outbox()[codes_seen..] {
                        on_event(Event::Code(sent));
                    }
                    for violation in &sim.violations()[violations_seen..] {
                        on_event(Event::Violation(violation));
                    }
                    (codes_seen, violations_seen) = (sim.outbox().len(), sim.violations().len());
                    response
                }
            },
            Err(reason) => plain(400, reason),
        };
        // The client may have gone away; nothing to do about it here.
        let _ = incoming.respond(from_http(response));
    }
}

/// The `Retry-After` of a 429 queued for `request`'s line by [`Running::throttle_next`],
/// taken off the queue.
fn take_throttled(
    throttled: &Mutex<Vec<(String, String)>>,
    request: &http::Request<Vec<u8>>,
) -> Option<String> {
    let line = format!("{} {}", request.method(), request.uri().path());
    let mut queue = lock(throttled);
    let at = queue.iter().position(|(queued, _)| *queued == line)?;
    Some(queue.remove(at).1)
}

/// `429 Too Many Requests` with `Retry-After: retry_after`.
fn too_many(retry_after: &str) -> http::Response<Vec<u8>> {
    let mut response = json_response(429, &json!({"message": "Too Many Requests"}));
    if let Ok(value) = http::HeaderValue::from_str(retry_after) {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, value);
    }
    response
}

/// The request as the simulator takes it: method, request target, headers and body.
fn to_http(incoming: &mut tiny_http::Request) -> Result<http::Request<Vec<u8>>, &'static str> {
    let mut body = Vec::new();
    incoming
        .as_reader()
        .take(BODY_READ_LIMIT)
        .read_to_end(&mut body)
        .map_err(|_| "the request body could not be read")?;
    let mut request = http::Request::builder()
        .method(incoming.method().as_str())
        .uri(incoming.url());
    for header in incoming.headers() {
        request = request.header(header.field.as_str().as_str(), header.value.as_str());
    }
    request
        .body(body)
        .map_err(|_| "the request line or a header is not valid HTTP")
}

fn from_http(response: http::Response<Vec<u8>>) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let (parts, body) = response.into_parts();
    let mut out = tiny_http::Response::from_data(body).with_status_code(parts.status.as_u16());
    for (name, value) in &parts.headers {
        if let Ok(header) = tiny_http::Header::from_bytes(name.as_str(), value.as_bytes()) {
            out.add_header(header);
        }
    }
    out
}

fn plain(status: u16, text: &str) -> http::Response<Vec<u8>> {
    let mut response = http::Response::new(text.as_bytes().to_vec());
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
    response
}

fn json_response(status: u16, body: &serde_json::Value) -> http::Response<Vec<u8>> {
    let mut response = plain(status, "");
    *response.body_mut() = body.to_string().into_bytes();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// Answers the `/_sim/` control paths; `None` for every other path.
fn control(sim: &Server, request: &http::Request<Vec<u8>>) -> Option<http::Response<Vec<u8>>> {
    let path = request.uri().path();
    if !path.starts_with("/_sim/") {
        return None;
    }
    if request.method() != http::Method::GET {
        return Some(plain(405, "the /_sim/ paths are read-only: use GET"));
    }
    Some(match path {
        "/_sim/violations" => {
            let list: Vec<_> = sim
                .violations()
                .iter()
                .map(|v| json!({"request": v.request, "reason": v.reason}))
                .collect();
            json_response(200, &json!(list))
        }
        "/_sim/outbox" => {
            let list: Vec<_> = sim
                .outbox()
                .iter()
                .map(|sent| json!({"channel": channel(sent.channel), "to": sent.to, "code": sent.code}))
                .collect();
            json_response(200, &json!(list))
        }
        "/_sim/google-code" => {
            let email = request
                .uri()
                .query()
                .unwrap_or_default()
                .split('&')
                .find_map(|pair| pair.strip_prefix("email="))
                .map(percent_decode)
                .unwrap_or_default();
            match sim.google_code(&email, SystemTime::now()) {
                Some(code) => json_response(200, &json!({ "code": code })),
                None => plain(404, "no client with Google Authenticator on has this email"),
            }
        }
        _ => plain(404, "unknown control path"),
    })
}

/// `sms` or `email`.
pub fn channel(channel: Channel) -> &'static str {
    match channel {
        Channel::Sms => "sms",
        _ => "email",
    }
}

/// Decodes `%XX` escapes and `+` (enough for an email in a query string).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
