//! The gateway: a backend-for-frontend that runs the B2Core sign-in and sign-up wizards
//! on the server and keeps every token away from the browser.
//!
//! Each browser request resumes the visitor's parked flow from the [store](store), applies
//! one step, sends the request the flow asks for to the B2Core host, and parks the flow
//! again (`wizard.rs`). Once signed in, the visitor's row holds a [`Session`], and
//! `/api/*` is proxied to the host with its token, refreshed when due, one refresh at a
//! time however many calls come at once (`api.rs`). The browser holds only a random id,
//! in an `HttpOnly`, `SameSite=Strict` cookie.
//!
//! Used by `examples/gateway/main.rs`, and in process by `tests/gateway.rs` and
//! `examples/gateway_load.rs` (`#[path = ...] mod gateway;`).

#![allow(dead_code)] // each user takes the part it needs

mod api;
#[path = "../../support/async_http.rs"]
mod async_http;
// A program with both the simulator and the gateway has two copies of this small file
// (each is self-contained, so either can be included alone).
#[allow(clippy::duplicate_mod)]
#[path = "../../support/background.rs"]
mod background;
mod pages;
#[path = "../../support/shared_session.rs"]
mod shared_session;
mod store;
mod wizard;

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{DefaultBodyLimit, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{any, get, post};
use axum::Router;
use b2core_auth::{Endpoint, Session};
use background::Background;
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, COOKIE, REFERRER_POLICY, SET_COOKIE, X_FRAME_OPTIONS,
};
use http::{HeaderMap, HeaderValue, StatusCode};

pub use store::{Parked, Row, Store};

/// How the gateway runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// The B2Core host the flows talk to.
    pub upstream: Endpoint,
    /// Where browser `/api/{rest}` goes: `{api_base}/{rest}`. Must be on the upstream's
    /// scheme, host and port (the session puts its token on no other).
    pub api_base: String,
    /// The SQLite file (created owner-only if missing).
    pub db: PathBuf,
    /// Served over https (behind a TLS proxy): the cookie gets `Secure` and the
    /// `__Host-` prefix.
    pub secure_cookie: bool,
    /// How long an unfinished sign-in or sign-up lives after its last step.
    pub flow_ttl: Duration,
    /// How long before its access token expires a session refreshes it.
    pub leeway: Duration,
    /// Where browsers reach the gateway (`https://...` behind a TLS proxy), for the links
    /// the host emails (sign-up). `None`: `http://` and the address it listens on.
    pub public_url: Option<String>,
}

impl Config {
    /// Plain HTTP cookies, 15-minute wizards, a 30-second refresh leeway.
    pub fn new(upstream: Endpoint, api_base: String, db: PathBuf) -> Self {
        Self {
            upstream,
            api_base,
            db,
            secure_cookie: false,
            flow_ttl: Duration::from_secs(15 * 60),
            leeway: Duration::from_secs(30),
            public_url: None,
        }
    }
}

/// What every handler shares.
struct App {
    config: Config,
    /// [`Config::public_url`], or the address the gateway listens on.
    public_url: String,
    store: Store,
    http: async_http::Client,
    /// One wizard step at a time per visitor (a double click must not send twice).
    visitors: wizard::Locks,
    /// The sessions in use, each shared by the visitor's concurrent API calls.
    sessions: api::Sessions,
}

type Shared = Arc<App>;

/// A running gateway. Dropping it stops the server; the store keeps every visitor's
/// state for the next one.
pub struct Gateway {
    server: Background,
}

impl Gateway {
    /// Serves the gateway on `addr` (`127.0.0.1:0` for a free port) on a thread and a
    /// tokio runtime of its own, and returns once it accepts connections.
    pub fn start(addr: &str, config: Config) -> Result<Self, background::StartError> {
        check_api_base(&config)?;
        let http = async_http::Client::new()?;
        let store = Store::open(&config.db)?;
        let server = Background::start("gateway", addr, 2, move |listener| {
            let public_url = config.public_url.clone().unwrap_or_else(|| {
                let addr = listener.local_addr().map(|a| a.to_string());
                format!("http://{}", addr.unwrap_or_default())
            });
            let app = Arc::new(App {
                http,
                store,
                visitors: wizard::Locks::default(),
                sessions: api::Sessions::default(),
                public_url: public_url.trim_end_matches('/').to_owned(),
                config,
            });
            tokio::spawn(sweep_every_minute(Arc::clone(&app)));
            tokio::spawn(axum::serve(listener, router(app)).into_future());
        })?;
        Ok(Self { server })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://<addr>`.
    pub fn base_uri(&self) -> String {
        format!("http://{}", self.addr())
    }
}

/// The API base must be on the upstream's origin: a session puts its token on no other.
fn check_api_base(config: &Config) -> Result<(), String> {
    let origin = |uri: &str| {
        let uri: http::Uri = uri.parse().ok()?;
        Some((uri.scheme()?.clone(), uri.authority()?.clone()))
    };
    let api = origin(&config.api_base);
    if api.is_none() || api != origin(config.upstream.as_str()) {
        return Err(format!(
            "the API base {} is not on the host {}: the session's token goes to that host only",
            config.api_base,
            config.upstream.as_str()
        ));
    }
    Ok(())
}

fn router(app: Shared) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/signin", post(wizard::start_sign_in))
        .route("/signin/credentials", post(wizard::credentials))
        .route("/signin/method", post(wizard::method))
        .route("/signin/code", post(wizard::code))
        .route("/signin/reset-code", post(wizard::reset_code))
        .route("/signin/reset", post(wizard::reset))
        .route("/signup", post(wizard::start_sign_up))
        .route("/signup/form", post(wizard::sign_up))
        .route("/retry", post(wizard::retry))
        .route("/signout", post(api::sign_out))
        .route("/api/{*rest}", any(api::proxy))
        .layer(DefaultBodyLimit::max(api::BODY_LIMIT))
        .with_state(app)
}

/// Expired rows go, and the sessions they held with them.
async fn sweep_every_minute(app: Shared) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        let now = SystemTime::now();
        if let Err(e) = app.store.sweep(now).await {
            eprintln!("gateway: {e}");
        }
        app.sessions.forget_expired(now).await;
    }
}

/// `GET /`: the page of the step the visitor is at.
async fn page(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let now = SystemTime::now();
    let Some(id) = visitor_id(&app.config, &headers) else {
        return html(StatusCode::OK, pages::render(&pages::View::Home, None));
    };
    let row = match app.store.load(&id, now).await {
        Ok(row) => row,
        Err(e) => return failure(&e),
    };
    let Some(row) = row else {
        return html(StatusCode::OK, pages::render(&pages::View::Home, None));
    };
    html(StatusCode::OK, wizard::render(&row, now))
}

// ---------------------------------------------------------------------------------------
// The visitor's id: 32 random bytes, base64url, in a cookie.

const COOKIE_NAME: &str = "gw";
const SECURE_COOKIE_NAME: &str = "__Host-gw";
/// 32 bytes in base64url without padding.
const ID_LEN: usize = 43;

fn cookie_name(config: &Config) -> &'static str {
    if config.secure_cookie {
        SECURE_COOKIE_NAME
    } else {
        COOKIE_NAME
    }
}

/// The id the browser sent, if it has the shape of one.
fn visitor_id(config: &Config, headers: &HeaderMap) -> Option<String> {
    let name = cookie_name(config);
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| {
            value.len() == ID_LEN
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
}

/// A new id from the operating system's random source.
fn new_visitor_id() -> Result<String, String> {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no random id: {e}"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// `Set-Cookie` for `id` (or, with `None`, one that clears the cookie).
fn set_cookie(config: &Config, id: Option<&str>) -> HeaderValue {
    let secure = if config.secure_cookie { "; Secure" } else { "" };
    let value = match id {
        Some(id) => format!(
            "{}={id}; HttpOnly; SameSite=Strict; Path=/{secure}",
            cookie_name(config)
        ),
        None => format!(
            "{}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}",
            cookie_name(config)
        ),
    };
    // Only base64url characters and fixed text: always a valid header value.
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

// ---------------------------------------------------------------------------------------
// Answers.

/// A page, with `status`. Pages are never framed by another site (no clickjacking of the
/// sign-in form) and send no `Referer` on.
fn html(status: StatusCode, page: String) -> Response {
    let mut response = (status, Html(page)).into_response();
    no_store(&mut response);
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'none'"),
    );
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// Back to `GET /` (Post/Redirect/Get: a reload never submits a form twice).
fn to_page(cookie: Option<HeaderValue>) -> Response {
    let mut response = Redirect::to("/").into_response();
    if let Some(cookie) = cookie {
        response.headers_mut().insert(SET_COOKIE, cookie);
    }
    no_store(&mut response);
    response
}

/// The gateway itself failed (its store): a page that says so, nothing more.
fn failure(message: &str) -> Response {
    eprintln!("gateway: {message}");
    let page = pages::render(
        &pages::View::Home,
        Some("The gateway could not do that just now. Please try again."),
    );
    html(StatusCode::INTERNAL_SERVER_ERROR, page)
}

/// Pages and API answers are the visitor's own: no cache keeps them.
fn no_store(response: &mut Response) {
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// A fresh session from the tokens a wizard ended with.
fn new_session(config: &Config, tokens: b2core_auth::TokenPair) -> Session {
    Session::client(config.upstream.clone(), tokens).with_leeway(config.leeway)
}
