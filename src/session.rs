//! Token sessions for both realms: authorize API requests, refresh the tokens, sign out.
//!
//! A [`Session`] starts from the [`TokenPair`] any sign-in flow ends with and keeps it
//! alive:
//!
//! - [`Session::authorize`] puts `Authorization: Bearer <access token>` on the caller's
//!   own API requests, or, once the access token is (about to be) expired, hands back the
//!   refresh request to send first ([`Authorized::RefreshFirst`]).
//! - [`Session::refresh`] — `POST /api/v2/refresh` (Back Office, `spec/backoffice-auth.txt`)
//!   or `POST /api/v2/my/refresh` (client) with `{"refreshToken": "..."}`, at most 5 a
//!   minute. The answer is the new pair, bare (`{accessToken, refreshToken}`, as the Back
//!   Office page shows) or inside a wizard envelope's `data`; both are read for both realms.
//! - [`Session::sign_out`] — `POST /api/v2/signout` or `POST /api/v2/my/signout` with the
//!   Bearer header and no body.
//!
//! The client paths are documented by the vendor without bodies: the refresh body, the
//! refresh answer and the sign-out request are inferred from the Back Office page; the
//! inference is recorded with the other inferred shapes in `src/wire/inferred.rs`.
//!
//! Every answer goes to [`Session::handle_response`]; at most one refresh or sign-out is
//! outstanding, and every `Err` leaves the session exactly as it was.
//!
//! ## Transitions
//!
//! The documented transitions, as [`TRANSITIONS`] declares them (a test keeps this table
//! and the constant equal; the model-based tests fail if a row is never exercised). States
//! are named as [`Session::state`] names them; answers by status. `authorize` stays
//! `active` when the access token is fresh ([`Authorized::Ready`]) and awaits a refresh
//! otherwise ([`Authorized::RefreshFirst`]). A `retry` while awaiting is the resend after
//! a transport error.
//!
//! | from | event | to |
//! |---|---|---|
//! | active | authorize | active |
//! | active | authorize | waiting for the refresh answer |
//! | active | refresh | waiting for the refresh answer |
//! | active | sign_out | waiting for the sign-out answer |
//! | waiting for the refresh answer | 2xx | active |
//! | waiting for the refresh answer | 400, 401 or 403 | ended |
//! | waiting for the refresh answer | 429 | rate limited |
//! | waiting for the refresh answer | retry | waiting for the refresh answer |
//! | waiting for the sign-out answer | 2xx | signed out |
//! | waiting for the sign-out answer | 401 | signed out |
//! | waiting for the sign-out answer | 429 | rate limited |
//! | waiting for the sign-out answer | retry | waiting for the sign-out answer |
//! | rate limited | retry | waiting for the refresh answer |
//! | rate limited | retry | waiting for the sign-out answer |

use std::fmt;
use std::time::{Duration, SystemTime};

use http::header::AUTHORIZATION;
use http::{Method, Request, Response};
use serde::{Deserialize, Serialize};

use crate::decode::{self, Expect};
use crate::deviation::{Answer, Deviation};
use crate::endpoint::Endpoint;
use crate::error::{ApiError, Error};
use crate::guard::AttemptGuard;
use crate::machine::{row, Advance, Driver, Protocol, Transition, RATE_LIMITED};
use crate::parked::CheckParked;
use crate::token::TokenPair;
use crate::wire::{self, inferred};

/// The documented transitions of a session (see the module docs).
pub const TRANSITIONS: &[Transition] = &[
    row(ACTIVE, "authorize", ACTIVE),
    row(ACTIVE, "authorize", AWAIT_REFRESH),
    row(ACTIVE, "refresh", AWAIT_REFRESH),
    row(ACTIVE, "sign_out", AWAIT_SIGN_OUT),
    row(AWAIT_REFRESH, "2xx", ACTIVE),
    row(AWAIT_REFRESH, "400, 401 or 403", ENDED),
    row(AWAIT_REFRESH, "429", RATE_LIMITED),
    row(AWAIT_REFRESH, "retry", AWAIT_REFRESH),
    row(AWAIT_SIGN_OUT, "2xx", SIGNED_OUT),
    row(AWAIT_SIGN_OUT, "401", SIGNED_OUT),
    row(AWAIT_SIGN_OUT, "429", RATE_LIMITED),
    row(AWAIT_SIGN_OUT, "retry", AWAIT_SIGN_OUT),
    row(RATE_LIMITED, "retry", AWAIT_REFRESH),
    row(RATE_LIMITED, "retry", AWAIT_SIGN_OUT),
];

// State names, as `Session::state` gives them and the table uses them.
const ACTIVE: &str = "active";
const AWAIT_REFRESH: &str = "waiting for the refresh answer";
const AWAIT_SIGN_OUT: &str = "waiting for the sign-out answer";
const SIGNED_OUT: &str = "signed out";
const ENDED: &str = "ended";

/// How long before its `expiresAt` an access token is treated as expired by default.
const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// Which side of B2Core a session belongs to: it decides the refresh and sign-out paths.
///
/// ```
/// use b2core_auth::Realm;
///
/// assert_eq!(Realm::Client.refresh_path(), "/api/v2/my/refresh");
/// assert_eq!(Realm::BackOffice.sign_out_path(), "/api/v2/signout");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Realm {
    /// The client UI (`/api/v2/my/...`): `/api/v2/my/refresh`, `/api/v2/my/signout`.
    Client,
    /// The Back Office (staff): `/api/v2/refresh`, `/api/v2/signout`.
    BackOffice,
}

impl Realm {
    /// The refresh path: `/api/v2/my/refresh` or `/api/v2/refresh`.
    pub fn refresh_path(self) -> &'static str {
        match self {
            Self::Client => "/api/v2/my/refresh",
            Self::BackOffice => "/api/v2/refresh",
        }
    }

    /// The sign-out path: `/api/v2/my/signout` or `/api/v2/signout`.
    pub fn sign_out_path(self) -> &'static str {
        match self {
            Self::Client => "/api/v2/my/signout",
            Self::BackOffice => "/api/v2/signout",
        }
    }

    fn refresh_step(self) -> &'static str {
        match self {
            Self::Client => "POST /api/v2/my/refresh",
            Self::BackOffice => "POST /api/v2/refresh",
        }
    }

    fn sign_out_step(self) -> &'static str {
        match self {
            Self::Client => "POST /api/v2/my/signout",
            Self::BackOffice => "POST /api/v2/signout",
        }
    }
}

/// What [`Session::handle_response`] found. Each variant says what the caller must do.
///
/// ```
/// use b2core_auth::SessionStep;
///
/// fn next(step: SessionStep) -> &'static str {
///     match step {
///         SessionStep::Active => "authorize the request again",
///         SessionStep::RetryAt(_) => "wait, then call retry",
///         SessionStep::SignedOut { .. } => "forget the session",
///         SessionStep::Ended => "sign in again",
///         _ => "unknown",
///     }
/// }
/// assert_eq!(next(SessionStep::Ended), "sign in again");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub enum SessionStep {
    /// The refresh worked and the new tokens are in place: call [`Session::authorize`]
    /// again (for the request that was waiting on [`Authorized::RefreshFirst`], if any).
    Active,
    /// Rate limited (HTTP 429): wait until this instant, then call [`Session::retry`],
    /// which sends the refresh or sign-out again.
    RetryAt(SystemTime),
    /// Signed out: the tokens are gone and the session authorizes nothing. Drop it (and
    /// any parked copy). `already_revoked` is true when the server answered 401: the
    /// access token had already been revoked or had expired, so there was nothing left to
    /// sign out of.
    SignedOut {
        /// The server answered 401 instead of 200.
        already_revoked: bool,
    },
    /// The server refused the refresh token (HTTP 400, 401 or 403): the tokens are gone
    /// and `authorize`, `refresh`, `sign_out` and `retry` now say [`Error::SessionEnded`].
    /// Sign in again.
    Ended,
}

/// What [`Session::authorize`] made of a request.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use b2core_auth::{Authorized, Endpoint, Session, TokenPair};
///
/// let tokens: TokenPair = serde_json::from_str(r#"{
///     "accessToken":{"token":"a.b.c","createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T11:22:24+00:00"},
///     "refreshToken":{"token":"d.e.f","createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T12:07:24+00:00"}}"#).unwrap();
/// let mut session = Session::client(Endpoint::new("https://host.name").unwrap(), tokens);
/// let now = UNIX_EPOCH + Duration::from_secs(1_713_784_044); // 2024-04-22T11:07:24Z
///
/// let request = http::Request::get("https://host.name/api/v2/my/accounts").body(()).unwrap();
/// match session.authorize(request, now).unwrap() {
///     Authorized::Ready(request) => assert_eq!(request.headers()["authorization"], "Bearer a.b.c"),
///     Authorized::RefreshFirst { .. } => unreachable!("the access token is fresh"),
///     _ => unreachable!(),
/// }
/// ```
#[must_use]
#[non_exhaustive]
// Returned and destructured at once: a plain shape beats boxing the rare refresh path.
#[allow(clippy::large_enum_variant)]
pub enum Authorized<B> {
    /// The request carries `Authorization: Bearer <access token>` (replacing any
    /// `Authorization` it had): send it.
    Ready(Request<B>),
    /// The access token is expired or inside the leeway. Send `refresh` first, hand its
    /// response to [`Session::handle_response`] and, on [`SessionStep::Active`], call
    /// [`Session::authorize`] with `original` again.
    RefreshFirst {
        /// The refresh request to send now (its body holds the refresh token).
        refresh: Request<Vec<u8>>,
        /// The caller's request, untouched.
        original: Request<B>,
    },
}

/// Shows method and URI only: headers and the refresh body hold secrets.
impl<B> fmt::Debug for Authorized<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn line<T>(r: &Request<T>) -> String {
            format!("{} {}", r.method(), r.uri())
        }
        match self {
            Self::Ready(request) => f.debug_tuple("Ready").field(&line(request)).finish(),
            Self::RefreshFirst { refresh, original } => f
                .debug_struct("RefreshFirst")
                .field("refresh", &line(refresh))
                .field("original", &line(original))
                .finish(),
        }
    }
}

/// Where the session is. Private: the public face is [`SessionStep`] and the getters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct State {
    realm: Realm,
    stage: Stage,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Stage {
    Active(TokenPair),
    AwaitRefresh(TokenPair),
    AwaitSignOut(TokenPair),
    SignedOut { already_revoked: bool },
    Ended,
}

impl State {
    fn at(&self, stage: Stage) -> Self {
        Self {
            realm: self.realm,
            stage,
        }
    }

    fn tokens(&self) -> Option<&TokenPair> {
        match &self.stage {
            Stage::Active(t) | Stage::AwaitRefresh(t) | Stage::AwaitSignOut(t) => Some(t),
            Stage::SignedOut { .. } | Stage::Ended => None,
        }
    }
}

impl Protocol for State {
    type Step = SessionStep;
    type Done = std::convert::Infallible;
    type Guards = AttemptGuard;

    fn describe(&self) -> &'static str {
        match self.stage {
            Stage::Active(_) => ACTIVE,
            Stage::AwaitRefresh(_) => AWAIT_REFRESH,
            Stage::AwaitSignOut(_) => AWAIT_SIGN_OUT,
            Stage::SignedOut { .. } => SIGNED_OUT,
            Stage::Ended => ENDED,
        }
    }

    fn awaiting(&self) -> Option<&'static str> {
        match self.stage {
            Stage::AwaitRefresh(_) => Some(self.realm.refresh_step()),
            Stage::AwaitSignOut(_) => Some(self.realm.sign_out_step()),
            _ => None,
        }
    }

    fn request(&self, endpoint: &Endpoint) -> Result<Request<Vec<u8>>, Error> {
        match &self.stage {
            Stage::AwaitRefresh(tokens) => endpoint.post(
                self.realm.refresh_path(),
                &wire::RefreshRequest {
                    refresh_token: tokens.refresh().secret().expose(),
                },
            ),
            Stage::AwaitSignOut(tokens) => endpoint.request(
                Method::POST,
                self.realm.sign_out_path(),
                None::<&()>,
                Some(tokens.bearer()),
            ),
            _ => Err(Error::OutOfOrder {
                call: "send",
                state: self.describe(),
            }),
        }
    }

    fn guard<'g>(&self, guard: &'g mut AttemptGuard) -> Option<&'g mut AttemptGuard> {
        matches!(self.stage, Stage::AwaitRefresh(_)).then_some(guard)
    }

    fn refused(&self, error: ApiError) -> Option<Self> {
        match (&self.stage, error.status()) {
            (Stage::AwaitRefresh(_), 400 | 401 | 403) => Some(self.at(Stage::Ended)),
            (Stage::AwaitSignOut(_), 401) => Some(self.at(Stage::SignedOut {
                already_revoked: true,
            })),
            _ => None,
        }
    }

    fn advance(&self, answer: &mut Answer<'_>, _now: SystemTime) -> Result<Advance<Self>, Error> {
        Ok(Advance::To(match self.stage {
            Stage::AwaitRefresh(_) => self.at(Stage::Active(decode_refresh(answer)?)),
            // The page promises 200 and no body: any 2xx signs out, the body is not read.
            Stage::AwaitSignOut(_) => {
                if answer.status != 200 {
                    let found = format!("HTTP {}", answer.status);
                    answer.deviate("status", "200 in case of success", found);
                }
                self.at(Stage::SignedOut {
                    already_revoked: false,
                })
            }
            _ => {
                return Err(Error::OutOfOrder {
                    call: "handle_response",
                    state: self.describe(),
                })
            }
        }))
    }

    fn step(&self) -> Option<SessionStep> {
        Some(match self.stage {
            Stage::Active(_) => SessionStep::Active,
            Stage::SignedOut { already_revoked } => SessionStep::SignedOut { already_revoked },
            Stage::Ended => SessionStep::Ended,
            Stage::AwaitRefresh(_) | Stage::AwaitSignOut(_) => return None,
        })
    }

    fn retry_step(at: SystemTime) -> SessionStep {
        SessionStep::RetryAt(at)
    }

    fn done_step(done: std::convert::Infallible) -> SessionStep {
        match done {}
    }
}

/// What a call on an active session does.
enum Plan<'a> {
    /// Use these tokens as they are.
    Use(&'a TokenPair),
    /// Send a refresh first: move to this awaiting state.
    Refresh(State),
}

/// Reads the new pair from a refresh answer: bare, or inside a wizard envelope's `data`
/// when the body has a `data` field (a refresh belongs to no wizard: its `uuid` and
/// `workflow` may be anything, `null` or absent). Nothing is kept unless the whole pair is
/// valid.
fn decode_refresh(answer: &mut Answer<'_>) -> Result<TokenPair, Error> {
    // The bare pair in one pass; any other body takes the exact path, which names what is
    // wrong (see `decode`).
    if let Some(inferred::BareRefreshAnswer {
        data: None,
        access_token: Some(access_token),
        refresh_token: Some(refresh_token),
    }) = decode::once(answer.body)
    {
        let pair = wire::TokenPair {
            access_token,
            refresh_token,
        };
        return TokenPair::from_wire(&pair, answer.step);
    }
    decode_refresh_exactly(answer)
}

/// [`decode_refresh`] without the one-pass read.
fn decode_refresh_exactly(answer: &mut Answer<'_>) -> Result<TokenPair, Error> {
    let step = answer.step;
    let shape: inferred::RefreshAnswerShape<'_> = decode::bare(step, answer.body)?;
    let pair: wire::TokenPair = if shape.data.is_some() {
        let envelope = decode::envelope(answer, Expect::NoWizard)?;
        decode::data::<Option<wire::TokenPair>>(step, envelope.data)?
            .ok_or_else(|| Error::malformed(step, "data", "is missing"))?
    } else {
        decode::bare(step, answer.body)?
    };
    TokenPair::from_wire(&pair, step)
}

/// A signed-in session of either realm, as a sans-IO state machine.
///
/// Any flow's final tokens become a session without copying a secret by hand:
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use b2core_auth::{client::SignInStep, Endpoint, Session, SessionStep, TokenPair};
///
/// # let tokens: TokenPair = serde_json::from_str(r#"{
/// #     "accessToken":{"token":"a.b.c","createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T11:22:24+00:00"},
/// #     "refreshToken":{"token":"d.e.f","createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T12:07:24+00:00"}}"#).unwrap();
/// let endpoint = Endpoint::new("https://host.name").unwrap();
/// let step = SignInStep::Done(tokens); // what `SignIn::handle_response` ended with
/// let mut session = match step {
///     SignInStep::Done(tokens) => Session::client(endpoint, tokens),
///     _ => unreachable!(),
/// };
///
/// // A proactive refresh, 20 minutes in (the access token lived 15):
/// let now = UNIX_EPOCH + Duration::from_secs(1_713_784_044 + 20 * 60);
/// let refresh = session.refresh(now).unwrap();
/// assert_eq!(refresh.uri(), "https://host.name/api/v2/my/refresh");
/// let answer = http::Response::builder().status(200).body(r#"{
///     "accessToken":{"token":"g.h.i","createdAt":"2024-04-22T11:27:24+00:00","expiresAt":"2024-04-22T11:42:24+00:00"},
///     "refreshToken":{"token":"j.k.l","createdAt":"2024-04-22T11:27:24+00:00","expiresAt":"2024-04-22T12:27:24+00:00"}}"#).unwrap();
/// assert_eq!(session.handle_response(&answer, now).unwrap(), SessionStep::Active);
/// assert_eq!(session.tokens().unwrap().bearer(), "Bearer g.h.i");
/// ```
///
/// Rules, in one place:
///
/// - The access token counts as expired `leeway` (default 30 s, [`Session::with_leeway`])
///   before its `expiresAt`, so that it does not expire on the way to the server.
/// - At most one refresh or sign-out is outstanding. While one is (or while a 429 on one
///   is being waited out), [`Session::authorize`], [`Session::refresh`] and
///   [`Session::sign_out`] are [`Error::OutOfOrder`]: hand in the answer or
///   [`Session::retry`] first.
/// - [`Error::SessionEnded`] means "sign in again". It comes from `authorize`, `refresh`,
///   `sign_out` and `retry` once the session is signed out or the server refused its
///   refresh token, and from a call that needs a refresh when the refresh token has
///   expired at `now`. Like every `Err`, it
///   changes nothing: an expired session stays as it is (with its useless tokens) and
///   keeps saying so.
///
/// The session serializes with serde to be parked between requests; the serialized form
/// holds both tokens and must be stored like a password.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    driver: Driver<State>,
    leeway: Duration,
}

crate::parked::parked!(Session { driver: Driver<State>, leeway: Duration });

/// A parked session holds nothing to check beyond its fields' own: the tokens are checked
/// by [`TokenPair`]'s `Deserialize` as an answer's are, the counter by [`AttemptGuard`]'s.
impl CheckParked for State {
    fn check_parked(&self) -> Result<(), Error> {
        Ok(())
    }
}

impl Session {
    /// A session of `realm` on `endpoint` with `tokens`, the documented limit of 5
    /// refreshes a minute and a leeway of 30 s.
    pub fn new(realm: Realm, endpoint: Endpoint, tokens: TokenPair) -> Self {
        let state = State {
            realm,
            stage: Stage::Active(tokens),
        };
        Self {
            driver: Driver::new(endpoint, AttemptGuard::refresh(), state),
            leeway: DEFAULT_LEEWAY,
        }
    }

    /// A client session (`/api/v2/my/refresh`, `/api/v2/my/signout`).
    pub fn client(endpoint: Endpoint, tokens: TokenPair) -> Self {
        Self::new(Realm::Client, endpoint, tokens)
    }

    /// A Back Office session (`/api/v2/refresh`, `/api/v2/signout`).
    pub fn back_office(endpoint: Endpoint, tokens: TokenPair) -> Self {
        Self::new(Realm::BackOffice, endpoint, tokens)
    }

    /// Treats the access token as expired `leeway` before its `expiresAt` (default 30 s).
    #[must_use]
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The leeway before `expiresAt`.
    pub fn leeway(&self) -> Duration {
        self.leeway
    }

    /// The realm: it decides the paths.
    pub fn realm(&self) -> Realm {
        self.driver.latest_state().realm
    }

    /// The host this session talks to.
    pub fn endpoint(&self) -> &Endpoint {
        self.driver.endpoint()
    }

    /// The current tokens; `None` once signed out or ended. (While a refresh is
    /// outstanding these are still the old ones.)
    pub fn tokens(&self) -> Option<&TokenPair> {
        self.driver.latest_state().tokens()
    }

    /// The refresh counter (5 a minute, plus any block a 429 announced).
    pub fn guard(&self) -> &AttemptGuard {
        self.driver.guards()
    }

    /// What the session says now: [`SessionStep::Active`] while usable,
    /// [`SessionStep::RetryAt`] while a 429 is waited out, [`SessionStep::SignedOut`] or
    /// [`SessionStep::Ended`] at the end; `None` while a request is outstanding.
    pub fn current_step(&self) -> Option<SessionStep> {
        self.driver.current_step()
    }

    /// What the answers so far departed from the vendor's pages without deciding
    /// anything (see [`Deviation`]), oldest first: at most
    /// [`MAX_DEVIATIONS`](crate::MAX_DEVIATIONS) until taken.
    ///
    /// ```
    /// # use b2core_auth::{Endpoint, Session, TokenPair};
    /// # let tokens: TokenPair = serde_json::from_str(r#"{
    /// #     "accessToken":{"token":"a.b.c","createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T11:22:24+00:00"},
    /// #     "refreshToken":{"token":"d.e.f","createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T12:07:24+00:00"}}"#).unwrap();
    /// let mut flow = Session::client(Endpoint::new("https://host.name").unwrap(), tokens);
    /// assert!(flow.deviations().is_empty());
    /// ```
    pub fn deviations(&self) -> &[Deviation] {
        self.driver.deviations()
    }

    /// Hands over the deviations seen so far (see [`Session::deviations`]) and forgets
    /// them, e.g. to log them after each answer.
    ///
    /// ```
    /// # use b2core_auth::{Endpoint, Session, TokenPair};
    /// # let tokens: TokenPair = serde_json::from_str(r#"{
    /// #     "accessToken":{"token":"a.b.c","createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T11:22:24+00:00"},
    /// #     "refreshToken":{"token":"d.e.f","createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T12:07:24+00:00"}}"#).unwrap();
    /// let mut flow = Session::client(Endpoint::new("https://host.name").unwrap(), tokens);
    /// assert!(flow.take_deviations().is_empty());
    /// ```
    pub fn take_deviations(&mut self) -> Vec<Deviation> {
        self.driver.take_deviations()
    }

    /// What the session is doing now, in words: the state names of [`TRANSITIONS`].
    ///
    /// ```
    /// # use b2core_auth::{Endpoint, Session, TokenPair};
    /// # let tokens: TokenPair = serde_json::from_str(r#"{
    /// #     "accessToken":{"token":"a.b.c","createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T11:22:24+00:00"},
    /// #     "refreshToken":{"token":"d.e.f","createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T12:07:24+00:00"}}"#).unwrap();
    /// let mut session = Session::back_office(Endpoint::new("https://host.name").unwrap(), tokens);
    /// assert_eq!(session.state(), "active");
    /// let _request = session.sign_out().unwrap();
    /// assert_eq!(session.state(), "waiting for the sign-out answer");
    /// ```
    pub fn state(&self) -> &'static str {
        self.driver.state_name()
    }

    /// True while a refresh or sign-out is outstanding: the next call is
    /// [`Session::handle_response`] (or [`Session::retry`] after a transport error).
    pub fn is_awaiting_response(&self) -> bool {
        self.driver.is_awaiting_response()
    }

    /// True when the access token is expired at `now` or within the leeway of it.
    fn needs_refresh(&self, tokens: &TokenPair, now: SystemTime) -> bool {
        now.checked_add(self.leeway)
            .map_or(true, |t| tokens.is_expired(t))
    }

    /// Authorizes one of the caller's API requests.
    ///
    /// - Access token fresh: [`Authorized::Ready`], the request with
    ///   `Authorization: Bearer <access token>` (any other `Authorization` is replaced).
    ///   This is a header clone, no formatting and no change to the session.
    /// - Access token expired or within the leeway: [`Authorized::RefreshFirst`]; the
    ///   session now awaits the refresh answer (the refresh counts against the limit, and a
    ///   sixth inside a minute is [`Error::RateLimited`]).
    /// - A refresh is needed but the refresh token has expired at `now`, or the session is
    ///   signed out or ended: [`Error::SessionEnded`].
    /// - A refresh or sign-out is outstanding or rate limited: [`Error::OutOfOrder`].
    ///
    /// On `Err` the request is dropped (and the session is unchanged).
    pub fn authorize<B>(
        &mut self,
        mut request: Request<B>,
        now: SystemTime,
    ) -> Result<Authorized<B>, Error> {
        match self.plan("authorize", now, false)? {
            Plan::Use(tokens) => {
                request
                    .headers_mut()
                    .insert(AUTHORIZATION, tokens.bearer().clone());
                Ok(Authorized::Ready(request))
            }
            Plan::Refresh(next) => {
                let refresh = self.driver.send(next, Some(now))?;
                Ok(Authorized::RefreshFirst {
                    refresh,
                    original: request,
                })
            }
        }
    }

    /// Decides, on `&self`, what `call` at `now` does: use the current tokens, or move to
    /// awaiting a refresh (always when `force`, else when the access token needs one).
    fn plan(&self, call: &'static str, now: SystemTime, force: bool) -> Result<Plan<'_>, Error> {
        let current = self.driver.latest_state();
        match &current.stage {
            Stage::SignedOut { .. } | Stage::Ended => Err(Error::SessionEnded),
            Stage::Active(tokens) if force || self.needs_refresh(tokens, now) => {
                if tokens.refresh().is_expired(now) {
                    return Err(Error::SessionEnded);
                }
                Ok(Plan::Refresh(
                    current.at(Stage::AwaitRefresh(tokens.clone())),
                ))
            }
            Stage::Active(tokens) => Ok(Plan::Use(tokens)),
            // Also a rate-limited request: the driver resumes only awaiting states.
            Stage::AwaitRefresh(_) | Stage::AwaitSignOut(_) => Err(self.driver.out_of_order(call)),
        }
    }

    /// `POST /api/v2/refresh` or `/api/v2/my/refresh` with `{"refreshToken": "..."}`: a
    /// refresh now, whether or not the access token is near its expiry (proactive).
    ///
    /// Refused before anything is sent: a sixth refresh inside a minute or one during a
    /// server block ([`Error::RateLimited`]), an expired refresh token or an ended or
    /// signed-out session ([`Error::SessionEnded`]), a request already outstanding
    /// ([`Error::OutOfOrder`]).
    pub fn refresh(&mut self, now: SystemTime) -> Result<Request<Vec<u8>>, Error> {
        match self.plan("refresh", now, true)? {
            Plan::Refresh(next) => self.driver.send(next, Some(now)),
            Plan::Use(_) => Err(self.driver.out_of_order("refresh")),
        }
    }

    /// `POST /api/v2/signout` or `/api/v2/my/signout` with `Authorization: Bearer <access
    /// token>` and no body. Allowed whenever the session is active, even with expired
    /// tokens (the server then answers 401, reported as `already_revoked`).
    pub fn sign_out(&mut self) -> Result<Request<Vec<u8>>, Error> {
        let current = self.driver.latest_state();
        let next = match &current.stage {
            Stage::SignedOut { .. } | Stage::Ended => return Err(Error::SessionEnded),
            Stage::Active(tokens) => current.at(Stage::AwaitSignOut(tokens.clone())),
            Stage::AwaitRefresh(_) | Stage::AwaitSignOut(_) => {
                return Err(self.driver.out_of_order("sign_out"))
            }
        };
        self.driver.send(next, None)
    }

    /// Sends the outstanding refresh or sign-out again: after [`SessionStep::RetryAt`]
    /// once `now` has reached it, or while awaiting an answer that never came (a
    /// transport error). A refresh counts against the limit again, and is
    /// [`Error::SessionEnded`] instead of being sent once the refresh token has expired.
    /// With nothing outstanding: [`Error::OutOfOrder`] on an active session,
    /// [`Error::SessionEnded`] on a signed-out or ended one.
    pub fn retry(&mut self, now: SystemTime) -> Result<Request<Vec<u8>>, Error> {
        match &self.driver.latest_state().stage {
            Stage::SignedOut { .. } | Stage::Ended => return Err(Error::SessionEnded),
            Stage::AwaitRefresh(tokens) if tokens.refresh().is_expired(now) => {
                return Err(Error::SessionEnded)
            }
            _ => {}
        }
        self.driver.retry(now)
    }

    /// Hands the answer to the outstanding refresh or sign-out to the session.
    ///
    /// Refresh: 2xx with a valid pair (bare or in an envelope's `data`) →
    /// [`SessionStep::Active`] with the new pair in place; 400, 401 or 403 →
    /// [`SessionStep::Ended`]. Sign-out: 2xx → `SignedOut { already_revoked: false }`,
    /// 401 → `SignedOut { already_revoked: true }`. Either: 429 → [`SessionStep::RetryAt`].
    ///
    /// Any other refusal is [`Error::Refused`] and an answer that breaks the protocol is
    /// [`Error::Malformed`]; both leave the session unchanged, still awaiting (the old
    /// pair stays): [`Session::retry`] sends the request again.
    pub fn handle_response<B: AsRef<[u8]>>(
        &mut self,
        response: &Response<B>,
        now: SystemTime,
    ) -> Result<SessionStep, Error> {
        self.driver.handle_response(response, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-pass read of a bare pair answers exactly what the exact path answers.
    #[test]
    fn the_one_pass_refresh_read_agrees_with_the_exact_path() {
        let token = |t: &str| {
            format!(
                r#"{{"token":"{t}","createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T12:07:24+00:00"}}"#
            )
        };
        let (a, r) = (token("a.b.c"), token("d.e.f"));
        let bodies = [
            format!(r#"{{"accessToken":{a},"refreshToken":{r}}}"#),
            format!(r#"{{"refreshToken":{r},"accessToken":{a},"data":null,"x":[1]}}"#),
            format!(
                r#"{{"accessToken":{a},"refreshToken":{r},"data":{{"accessToken":{a},"refreshToken":{r}}}}}"#
            ),
            format!(r#"{{"accessToken":{a},"refreshToken":{r},"data":7}}"#),
            format!(r#"{{"accessToken":{a},"accessToken":{a},"refreshToken":{r}}}"#),
            format!(r#"{{"accessToken":{a}}}"#),
            format!(r#"{{"accessToken":{a},"refreshToken":5}}"#),
            format!(r#"[{a},{r}]"#),
            format!(
                r#"{{"data":{{"accessToken":{a},"refreshToken":{r}}},"uuid":"u","workflow":"w"}}"#
            ),
            format!(
                r#"{{"code":200,"data":{{"accessToken":{a},"refreshToken":{r}}},"done":true,"uuid":null,"workflow":null}}"#
            ),
            format!(r#"{{"code":200,"data":{{"accessToken":{a},"refreshToken":{r}}}}}"#),
            format!(r#"{{"accessToken":{},"refreshToken":{r}}}"#, token("")),
            String::from("{"),
        ];
        let mut ok = 0;
        for body in &bodies {
            let answer = || Answer::new("step", 200, body, false);
            let fast = decode_refresh(&mut answer());
            assert_eq!(fast, decode_refresh_exactly(&mut answer()), "{body}");
            ok += usize::from(fast.is_ok());
        }
        assert_eq!(
            ok, 6,
            "the two bare answers, the bare pair beside an envelope's, and the three envelopes"
        );
    }
}
