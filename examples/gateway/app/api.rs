//! Signed in: `/api/*` proxied to the host with the visitor's session, and sign-out.
//!
//! A visitor's concurrent API calls share one [`Session`] (a slot, loaded from the store on
//! first use and kept in memory): `Session::authorize` puts the access token on each call,
//! and when the token is due the one call it hands the refresh to sends it while the
//! others go on with the old token (or, once it has expired, wait for the new one). The
//! store is written when a refresh brought new tokens; a refresh that fails leaves the
//! slot as the store has it, so the next call tries again.
//!
//! What goes to the browser is the host's status, its `Content-Type` and its body: never
//! a header of the host's, never the request the gateway sent.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use b2core_auth::{Authorized, Flow, Outgoing, SessionStep};
use http::header::{ACCEPT, ACCEPT_LANGUAGE, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use serde_json::json;

use super::shared_session::{bearer_of, SharedSession};
use super::{Parked, Row, Shared};

/// The most of a browser's request body forwarded.
pub const BODY_LIMIT: usize = 1 << 20;
/// The longest a call waits for a refresh it does not own, or for a rate limit to end.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// A visitor's session, shared by its concurrent calls.
pub struct Slot {
    shared: SharedSession,
    email: Option<String>,
}

/// The sessions in use, by visitor id. An async lock: writing a refreshed session to the
/// store happens under it (so that a sign-out meanwhile cannot be undone by it).
#[derive(Default)]
pub struct Sessions(tokio::sync::Mutex<HashMap<String, Arc<Slot>>>);

impl Sessions {
    /// The visitor's session: the one in use, or the one the store holds.
    async fn get(
        &self,
        app: &Shared,
        id: &str,
        now: SystemTime,
    ) -> Result<Option<Arc<Slot>>, String> {
        if let Some(slot) = self.0.lock().await.get(id) {
            return Ok(Some(Arc::clone(slot)));
        }
        let Some(Row {
            parked: Parked::Session(session),
            email,
        }) = app.store.load(id, now).await?
        else {
            return Ok(None);
        };
        let slot = Arc::new(Slot {
            shared: SharedSession::new(session),
            email,
        });
        // Another call may have loaded it meanwhile: all of them share the first.
        let mut slots = self.0.lock().await;
        let slot = slots.entry(id.to_owned()).or_insert(slot);
        Ok(Some(Arc::clone(slot)))
    }

    /// Writes the slot's session to the store, unless the visitor signed out (or the
    /// session ended) meanwhile: a refresh that comes back late must not bring it back.
    async fn save(&self, app: &Shared, id: &str, slot: &Arc<Slot>) -> Result<(), String> {
        let slots = self.0.lock().await;
        if !is_current(&slots, id, slot) {
            return Ok(());
        }
        let session = slot.shared.lock().clone();
        let expires_at = session
            .refresh_token()
            .map_or_else(SystemTime::now, |token| token.expires_at());
        let row = Row {
            parked: Parked::Session(session),
            email: slot.email.clone(),
        };
        app.store.save(id, &row, expires_at).await
    }

    /// The host refused the refresh token: the session and its row go.
    async fn end(&self, app: &Shared, id: &str, slot: &Arc<Slot>) {
        let mut slots = self.0.lock().await;
        if is_current(&slots, id, slot) {
            slots.remove(id);
            if let Err(e) = app.store.delete(id).await {
                eprintln!("gateway: {e}");
            }
        }
    }

    /// A refresh failed on the way: back to the tokens the store holds (the next call
    /// refreshes again).
    async fn reload(&self, app: &Shared, id: &str, slot: &Arc<Slot>) {
        let mut slots = self.0.lock().await;
        if !is_current(&slots, id, slot) {
            return;
        }
        match app.store.load(id, SystemTime::now()).await {
            Ok(Some(Row {
                parked: Parked::Session(stored),
                ..
            })) => *slot.shared.lock() = stored,
            _ => {
                slots.remove(id);
            }
        }
    }

    async fn forget(&self, id: &str) {
        self.0.lock().await.remove(id);
    }

    /// Lets go of the sessions whose refresh token has expired (their rows are swept).
    pub async fn forget_expired(&self, now: SystemTime) {
        self.0.lock().await.retain(|_, slot| {
            slot.shared
                .lock()
                .refresh_token()
                .is_some_and(|token| !token.is_expired(now))
        });
    }
}

fn is_current(slots: &HashMap<String, Arc<Slot>>, id: &str, slot: &Arc<Slot>) -> bool {
    slots
        .get(id)
        .is_some_and(|current| Arc::ptr_eq(current, slot))
}

// ---------------------------------------------------------------------------------------
// `/api/{rest}`.

/// Proxies the call to `{api_base}/{rest}` with the visitor's access token.
pub async fn proxy(
    State(app): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = SystemTime::now();
    let slot = match super::visitor_id(&app.config, &headers) {
        Some(id) => match app.sessions.get(&app, &id, now).await {
            Ok(slot) => slot.map(|slot| (id, slot)),
            Err(e) => {
                eprintln!("gateway: {e}");
                return answer(StatusCode::INTERNAL_SERVER_ERROR, "the gateway failed");
            }
        },
        None => None,
    };
    let Some((id, slot)) = slot else {
        return answer(StatusCode::UNAUTHORIZED, "not signed in");
    };
    let request = match upstream_request(&app.config.api_base, method, &uri, &headers, body) {
        Ok(request) => request,
        Err(message) => return answer(StatusCode::BAD_REQUEST, message),
    };
    match call(&app, &id, &slot, request).await {
        Ok(response) => relay(response),
        Err((status, message)) => answer(status, &message),
    }
}

/// The host's request for the browser's: the path under `/api/` appended to the API base,
/// the query as it came, and of the browser's headers only `Accept`, `Accept-Language`
/// and `Content-Type` (never its cookie).
fn upstream_request(
    api_base: &str,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<http::Request<Bytes>, &'static str> {
    let rest = uri.path().strip_prefix("/api/").unwrap_or("");
    // A dot segment (or one spelled in percent-escapes, or an escaped slash) could lead the
    // host outside the API base.
    let dodgy = |segment: &str| {
        let lower = segment.to_ascii_lowercase();
        lower.replace("%2e", ".").trim_matches('.').is_empty()
            || lower.contains("%2f")
            || lower.contains("%5c")
            || lower.contains('\\')
    };
    if rest.is_empty() || rest.split('/').any(dodgy) {
        return Err("not an API path");
    }
    let query = uri.query().map_or_else(String::new, |q| format!("?{q}"));
    let target = format!("{}/{rest}{query}", api_base.trim_end_matches('/'));
    let mut request = http::Request::builder().method(method).uri(target);
    for name in [ACCEPT, ACCEPT_LANGUAGE, CONTENT_TYPE] {
        for value in headers.get_all(&name) {
            request = request.header(&name, value);
        }
    }
    request.body(body).map_err(|_| "not an API path")
}

type Failed = (StatusCode, String);

/// One call, authorized by the shared session; refreshes first if this call owns the
/// refresh, waits for it if another call does and the token has expired, and goes once
/// more if the host refused a token a refresh has replaced.
async fn call(
    app: &Shared,
    id: &str,
    slot: &Arc<Slot>,
    mut request: http::Request<Bytes>,
) -> Result<http::Response<Vec<u8>>, Failed> {
    let gave_up = SystemTime::now() + MAX_WAIT;
    let mut sent_again = false;
    loop {
        let (authorized, changed) = slot.shared.authorize(request, SystemTime::now());
        let authorized = authorized.map_err(|e| {
            let message = format!("the session cannot authorize this call: {e}");
            (StatusCode::UNAUTHORIZED, message)
        })?;
        match authorized {
            Authorized::Ready(ready) => {
                let used = bearer_of(&ready);
                // Kept for a resend: the body is `Bytes`, so the clone shares it.
                let again = (!sent_again).then(|| ready.clone());
                let response = app
                    .http
                    .send_capped(ready, RESPONSE_LIMIT)
                    .await
                    .map_err(|e| (StatusCode::BAD_GATEWAY, e))?;
                let Some(again) = again.filter(|_| response.status() == StatusCode::UNAUTHORIZED)
                else {
                    return Ok(response);
                };
                if !slot.shared.worth_resending(used.as_ref(), gave_up).await {
                    return Ok(response); // the current token refused: the browser sees it
                }
                sent_again = true;
                request = again;
            }
            Authorized::RefreshFirst { refresh, original } => {
                let refreshed = refresh_session(app, id, slot, refresh).await;
                slot.shared.refreshed();
                refreshed?;
                request = original;
            }
            Authorized::Wait { until, original } => {
                let until = until.map_or(gave_up, |at| at.min(gave_up));
                if SystemTime::now() >= gave_up {
                    return Err((
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the session is being refreshed: try again".into(),
                    ));
                }
                tokio::select! {
                    () = changed => {}
                    () = sleep_until(until) => {}
                }
                request = original;
            }
            _ => {
                return Err((
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the gateway failed".into(),
                ))
            }
        }
    }
}

/// The most of an API answer relayed.
const RESPONSE_LIMIT: usize = 16 << 20;

/// Sends the refresh this call owns and hands its answer to the session: new tokens are
/// written to the store. On failure the slot goes back to what the store holds.
async fn refresh_session(
    app: &Shared,
    id: &str,
    slot: &Arc<Slot>,
    refresh: http::Request<Vec<u8>>,
) -> Result<(), Failed> {
    match refresh_once(app, slot, refresh).await {
        Ok(()) => app.sessions.save(app, id, slot).await.map_err(|e| {
            eprintln!("gateway: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the gateway failed".to_owned(),
            )
        }),
        Err(Refresh::Ended) => {
            app.sessions.end(app, id, slot).await;
            let message = "the session ended: sign in again".to_owned();
            Err((StatusCode::UNAUTHORIZED, message))
        }
        Err(Refresh::Failed(message)) => {
            app.sessions.reload(app, id, slot).await;
            Err((StatusCode::BAD_GATEWAY, message))
        }
    }
}

enum Refresh {
    /// The host refused the refresh token: sign in again.
    Ended,
    Failed(String),
}

/// Sends the refresh, waiting out a rate limit (up to [`MAX_WAIT`]).
async fn refresh_once(
    app: &Shared,
    slot: &Slot,
    refresh: http::Request<Vec<u8>>,
) -> Result<(), Refresh> {
    let mut outgoing = Outgoing::Request(refresh);
    loop {
        let request = match outgoing {
            Outgoing::Request(request) => request,
            Outgoing::RetryAt(at) if at > SystemTime::now() + MAX_WAIT => {
                return Err(Refresh::Failed(
                    "the refresh is rate limited: try again later".into(),
                ))
            }
            Outgoing::RetryAt(at) => {
                sleep_until(at).await;
                outgoing = slot
                    .shared
                    .lock()
                    .retry(SystemTime::now())
                    .map_err(|e| Refresh::Failed(e.to_string()))?;
                continue;
            }
        };
        let response = app.http.send(request).await.map_err(Refresh::Failed)?;
        let step = slot
            .shared
            .lock()
            .handle_response(&response, SystemTime::now());
        match step {
            Ok(SessionStep::Active) => return Ok(()),
            Ok(SessionStep::RetryAt(at)) => outgoing = Outgoing::RetryAt(at),
            Ok(SessionStep::Ended) => return Err(Refresh::Ended),
            Ok(other) => return Err(Refresh::Failed(format!("the refresh ended as {other:?}"))),
            Err(e) => return Err(Refresh::Failed(format!("the refresh failed: {e}"))),
        }
    }
}

async fn sleep_until(at: SystemTime) {
    tokio::time::sleep(at.duration_since(SystemTime::now()).unwrap_or_default()).await;
}

/// The host's answer for the browser: its status, `Content-Type` and body only.
fn relay(upstream: http::Response<Vec<u8>>) -> Response {
    let (parts, body) = upstream.into_parts();
    let mut response = body.into_response();
    *response.status_mut() = parts.status;
    if let Some(content_type) = parts.headers.get(CONTENT_TYPE) {
        response
            .headers_mut()
            .insert(CONTENT_TYPE, content_type.clone());
    }
    super::no_store(&mut response);
    response
}

/// `{"error": message}` with `status`.
fn answer(status: StatusCode, message: &str) -> Response {
    let mut response = (status, json!({ "error": message }).to_string()).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    super::no_store(&mut response);
    response
}

// ---------------------------------------------------------------------------------------
// Sign-out.

/// `POST /signout`: signs the session out upstream (if there is one), deletes the row
/// whatever the host said, and clears the cookie. Also ends a wizard in progress.
pub async fn sign_out(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let Some(id) = super::visitor_id(&app.config, &headers) else {
        return super::to_page(None);
    };
    let _one_at_a_time = app.visitors.lock(&id).await;
    match app.sessions.get(&app, &id, SystemTime::now()).await {
        Ok(Some(slot)) => {
            if let Err(e) = sign_out_upstream(&app, &slot).await {
                // The row goes anyway: nobody holds the tokens any more.
                eprintln!("gateway: sign-out upstream: {e}");
            }
        }
        Ok(None) => {}
        Err(e) => eprintln!("gateway: {e}"),
    }
    app.sessions.forget(&id).await;
    if let Err(e) = app.store.delete(&id).await {
        return super::failure(&e);
    }
    super::to_page(Some(super::set_cookie(&app.config, None)))
}

async fn sign_out_upstream(app: &Shared, slot: &Slot) -> Result<(), String> {
    let outgoing = slot
        .shared
        .lock()
        .sign_out(SystemTime::now())
        .map_err(|e| e.to_string())?;
    let Outgoing::Request(request) = outgoing else {
        return Err("rate limited: the tokens expire on their own".to_owned());
    };
    let response = app.http.send(request).await?;
    match slot
        .shared
        .lock()
        .handle_response(&response, SystemTime::now())
    {
        Ok(SessionStep::SignedOut { .. }) => Ok(()),
        Ok(other) => Err(format!("it ended as {other:?}")),
        Err(e) => Err(e.to_string()),
    }
}
