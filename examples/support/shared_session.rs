//! One [`Session`] shared by concurrent calls on tokio: the session behind a std mutex
//! (locked for a call of the session, never across an `.await`), and a
//! [`tokio::sync::Notify`] that wakes the calls waiting for a refresh once its owner is
//! done with it.
//!
//! What a call does with what [`SharedSession::authorize`] says:
//! - `Authorized::Ready`: send it. If the host answers 401, ask
//!   [`SharedSession::worth_resending`]: the pages do not say whether a refresh revokes the
//!   old access token, and a host that does refuses the calls still on their way with it.
//!   Once the new token is in, such a call goes once more.
//! - `Authorized::RefreshFirst`: this call alone sends the refresh, hands the answer to the
//!   session, calls [`SharedSession::refreshed`] (success or not), then authorizes its own
//!   call again.
//! - `Authorized::Wait`: wait on the `Notified` that came with it (until `until`, if given),
//!   then authorize again.
//!
//! Used by `examples/async_tokio.rs` and the gateway (`gateway/app/api.rs`).

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use b2core_auth::session::SessionState;
use b2core_auth::{Authorized, Error, Flow, Session};
use http::header::AUTHORIZATION;
use http::HeaderValue;
use tokio::sync::futures::Notified;
use tokio::sync::Notify;

pub struct SharedSession {
    session: Mutex<Session>,
    /// Woken when the owner of a refresh is done with it (new tokens, or it failed).
    changed: Notify,
}

impl SharedSession {
    pub fn new(session: Session) -> Self {
        Self {
            session: Mutex::new(session),
            changed: Notify::new(),
        }
    }

    /// The session, for a call of its own (`handle_response`, `retry`, ...). A panic in
    /// one task must not take it from the others: it is consistent after every call (an
    /// `Err` changes nothing), so a poisoned lock is usable.
    pub fn lock(&self) -> MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// [`Session::authorize`] at `now`, and the wake-up of the next change, registered
    /// before the lock is let go (so that a refresh handed in from then on wakes it).
    pub fn authorize<B>(
        &self,
        request: http::Request<B>,
        now: SystemTime,
    ) -> (Result<Authorized<B>, Error>, Notified<'_>) {
        let mut session = self.lock();
        let changed = self.changed.notified();
        (session.authorize(request, now), changed)
    }

    /// The owner of a refresh is done with it (new tokens, or it gave up): every waiting
    /// call authorizes again.
    pub fn refreshed(&self) {
        self.changed.notify_waiters();
    }

    /// After a 401 to a call sent with the `Authorization` header `used`: true if a refresh
    /// has replaced that token since, or is on its way, or the token expired while the call
    /// was on its way (send the call once more: `authorize` puts the new token, refreshing
    /// first if need be); a refresh in flight is waited for first, until `give_up` at the
    /// latest. False if the host refused the current, unexpired token: that 401 is the
    /// answer.
    pub async fn worth_resending(&self, used: Option<&HeaderValue>, give_up: SystemTime) -> bool {
        let (replaced, refreshing, expired, changed) = {
            let session = self.lock();
            let changed = self.changed.notified();
            let current = session.tokens().map(|tokens| tokens.bearer());
            let refreshing = matches!(
                session.state(),
                SessionState::AwaitRefresh | SessionState::RateLimited
            );
            let expired = session
                .access_token()
                .is_some_and(|token| token.is_expired(SystemTime::now()));
            (current != used, refreshing, expired, changed)
        };
        if !replaced && refreshing {
            let wait = give_up
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            let _ = tokio::time::timeout(wait, changed).await;
        }
        replaced || refreshing || expired
    }

    pub fn into_inner(self) -> Session {
        self.session
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The `Authorization` header a ready request carries.
pub fn bearer_of<B>(request: &http::Request<B>) -> Option<HeaderValue> {
    request.headers().get(AUTHORIZATION).cloned()
}
