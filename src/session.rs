//! Token sessions for both realms: authorize API requests, refresh the tokens, sign out.
//!
//! A [`Session`] starts from the [`TokenPair`] any sign-in flow ends with and keeps it
//! alive:
//!
//! - [`Session::authorize`] puts `Authorization: Bearer <access token>` on the caller's
//!   own API requests, or, once the access token is (about to be) expired, hands back the
//!   refresh request to send first ([`Authorized::RefreshFirst`]). While that refresh is
//!   outstanding it keeps authorizing with the current access token until the token's
//!   `expiresAt`; only a caller whose request cannot be authorized any more waits
//!   ([`Authorized::Wait`]). At most one refresh is ever outstanding.
//! - [`Session::refresh`] — `POST /api/v2/refresh` (Back Office, `spec/backoffice-auth.txt`)
//!   or `POST /api/v2/my/refresh` (client) with `{"refreshToken": "..."}`, at most 5 a
//!   minute. The answer is the new pair, bare (`{accessToken, refreshToken}`, as the Back
//!   Office page shows) or inside a wizard envelope's `data`; both are read for both realms.
//! - [`Session::sign_out`] — `POST /api/v2/signout` or `POST /api/v2/my/signout` with the
//!   Bearer header and no body.
//!
//! A session can also start from one token: [`Session::from_refresh_token`] (its first
//! `authorize` or `refresh` sends the refresh) and [`Session::from_access_token`] (it
//! authorizes until the token expires and can sign out, but never refresh).
//!
//! The client paths are documented by the vendor without bodies: the refresh body, the
//! refresh answer and the sign-out request are inferred from the Back Office page; the
//! inference is recorded with the other inferred shapes in `src/wire/inferred.rs`.
//!
//! Every answer goes to [`Session::handle_response`](crate::Flow::handle_response); at most one refresh or sign-out is
//! outstanding, and every `Err` leaves the session exactly as it was.
//!
//! ## Transitions
//!
//! The documented transitions are [`TRANSITIONS`], in the states of [`SessionState`];
//! the driver refuses any move that is not one of its rows. Answers are named by status.
//! `authorize` stays `Active` when the access token is fresh ([`Authorized::Ready`]) and
//! awaits a refresh otherwise ([`Authorized::RefreshFirst`]). While a refresh is
//! outstanding or rate limited, `authorize` stays where it is: [`Authorized::Ready`] while
//! the access token has not expired, [`Authorized::Wait`] after. A session made by
//! [`Session::from_refresh_token`] starts `RefreshOnly`, one made by
//! [`Session::from_access_token`] `AccessOnly`. A refresh the attempt limit does not allow
//! now waits in `RateLimited` as after a 429. A `retry` while awaiting is the resend after
//! a transport error.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::header::{HeaderValue, AUTHORIZATION};
use http::{Method, Request};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::decode;
use crate::deviation::Answer;
use crate::endpoint::Endpoint;
use crate::error::{ApiError, DisplayTime, Error};
use crate::flow::Outgoing;
use crate::guard::AttemptGuard;
use crate::machine::{Advance, Driver, Protocol};
use crate::parked::CheckParked;
use crate::secret::Secret;
use crate::table::{self, Event};
use crate::time::{format_rfc3339, parse_rfc3339};
use crate::token::{Token, TokenPair};
use crate::wire;

crate::table::states! {
    /// Where a session is: the states of [`TRANSITIONS`].
    /// [`Flow::state`](crate::Flow::state) returns it.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use b2core_auth::session::{Realm, Session, SessionState};
    /// use b2core_auth::{Endpoint, Flow, Token};
    ///
    /// # fn main() -> Result<(), b2core_auth::Error> {
    /// let t0 = UNIX_EPOCH + Duration::from_secs(1_713_784_044);
    /// let refresh = Token::new("d.e.f".into(), t0, t0 + Duration::from_secs(3600))?;
    /// let endpoint = Endpoint::new("https://host.name")?;
    /// let session = Session::from_refresh_token(Realm::Client, endpoint, refresh);
    /// assert_eq!(session.state(), SessionState::RefreshOnly);
    /// assert_eq!(session.state().to_string(), "holding only a refresh token");
    /// # Ok(()) }
    /// ```
    pub enum SessionState {
        /// Holding a token pair, nothing outstanding.
        Active => "active",
        /// Holding only a refresh token ([`Session::from_refresh_token`]).
        RefreshOnly => "holding only a refresh token",
        /// Holding only an access token ([`Session::from_access_token`]).
        AccessOnly => "holding only an access token",
        /// A refresh is outstanding.
        AwaitRefresh => "waiting for the refresh answer",
        /// A sign-out is outstanding.
        AwaitSignOut => "waiting for the sign-out answer",
        /// [`SessionStep::RetryAt`]: a refresh or sign-out waits out a rate limit.
        RateLimited => "rate limited",
        /// [`SessionStep::SignedOut`]: final.
        SignedOut => "signed out",
        /// [`SessionStep::Ended`]: the server refused the refresh token; final.
        Ended => "ended",
    }
}

crate::table::transitions! {
    /// The documented transitions of a session (see the module docs), generated into this
    /// table from the constant's own rows.
    pub const TRANSITIONS: [SessionState] = [
        (Active, Call("authorize"), Active),
        (Active, Call("authorize"), AwaitRefresh),
        (Active, Call("refresh"), AwaitRefresh),
        (Active, Call("refresh"), RateLimited),
        (Active, Call("sign_out"), AwaitSignOut),
        (RefreshOnly, Call("authorize"), AwaitRefresh),
        (RefreshOnly, Call("authorize"), RefreshOnly),
        (RefreshOnly, Call("refresh"), AwaitRefresh),
        (RefreshOnly, Call("refresh"), RateLimited),
        (AccessOnly, Call("authorize"), AccessOnly),
        (AccessOnly, Call("sign_out"), AwaitSignOut),
        (AwaitRefresh, Call("authorize"), AwaitRefresh),
        (AwaitRefresh, Answer("2xx"), Active),
        (AwaitRefresh, Answer("400, 401 or 403"), Ended),
        (AwaitRefresh, Answer("429"), RateLimited),
        (AwaitRefresh, Call("retry"), AwaitRefresh),
        (AwaitRefresh, Call("retry"), RateLimited),
        (AwaitSignOut, Answer("2xx"), SignedOut),
        (AwaitSignOut, Answer("401"), SignedOut),
        (AwaitSignOut, Answer("429"), RateLimited),
        (AwaitSignOut, Call("retry"), AwaitSignOut),
        (RateLimited, Call("authorize"), RateLimited),
        (RateLimited, Call("retry"), RateLimited),
        (RateLimited, Call("retry"), AwaitRefresh),
        (RateLimited, Call("retry"), AwaitSignOut),
    ];
}

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

/// What [`Session::handle_response`](crate::Flow::handle_response) found. Each variant says what the caller must do.
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
    /// again for the requests that were waiting ([`Authorized::RefreshFirst`],
    /// [`Authorized::Wait`]). (Also what [`Session::current_step`](crate::Flow::current_step) says of a session that
    /// is usable and has nothing outstanding.)
    Active,
    /// Rate limited (HTTP 429, or the refresh limit holding a [`Session::refresh`], which
    /// then returned [`Outgoing::RetryAt`]): the session holds the refresh or sign-out;
    /// wait until this instant (also [`Flow::next_deadline`](crate::Flow::next_deadline)),
    /// then call [`Session::retry`](crate::Flow::retry), which sends it.
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

/// What [`Session::authorize`] made of a request. Each variant says what the caller MUST
/// do; the request comes back in every one of them.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use b2core_auth::{Authorized, Endpoint, Session, TokenPair};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let tokens: TokenPair = serde_json::from_str(r#"{
///     "accessToken":{"token":"a.b.c","createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T11:22:24+00:00"},
///     "refreshToken":{"token":"d.e.f","createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T12:07:24+00:00"}}"#)?;
/// let mut session = Session::client(Endpoint::new("https://host.name")?, tokens);
/// let now = UNIX_EPOCH + Duration::from_secs(1_713_784_044); // 2024-04-22T11:07:24Z
/// let request = || http::Request::get("https://host.name/api/v2/my/accounts").body(());
///
/// match session.authorize(request()?, now)? {
///     Authorized::Ready(request) => assert_eq!(request.headers()["authorization"], "Bearer a.b.c"),
///     _ => unreachable!("the access token is fresh"),
/// }
///
/// // 20 s before `expiresAt`: inside the leeway, so this call starts the refresh...
/// let soon = now + Duration::from_secs(15 * 60 - 20);
/// let Authorized::RefreshFirst { refresh, original } = session.authorize(request()?, soon)?
/// else { unreachable!() };
/// assert_eq!(refresh.uri(), "https://host.name/api/v2/my/refresh");
/// // ...and, while it is outstanding, the token still serves until it expires:
/// assert!(matches!(session.authorize(original, soon)?, Authorized::Ready(_)));
/// // After `expiresAt`, a request waits for the refresh answer.
/// let late = now + Duration::from_secs(15 * 60);
/// match session.authorize(request()?, late)? {
///     Authorized::Wait { until: None, original } => assert!(original.headers().is_empty()),
///     _ => unreachable!("the refresh is in flight"),
/// }
/// # Ok(()) }
/// ```
#[must_use]
#[non_exhaustive]
// Returned and destructured at once: a plain shape beats boxing the rare refresh path.
#[allow(clippy::large_enum_variant)]
pub enum Authorized<B> {
    /// The request carries `Authorization: Bearer <access token>` (replacing any
    /// `Authorization` it had), and the token has not expired at the `now` given: send it.
    ///
    /// The pages do not say whether a refresh revokes the access token it replaces. A host
    /// that does answers 401 to a call still on its way with the old token while a refresh
    /// is in flight: when [`Session::tokens`] shows another token by the time that answer
    /// comes (or once the refresh is in), authorize the request again and send it once
    /// more (`examples/support/shared_session.rs` does).
    Ready(Request<B>),
    /// The access token is expired or inside the leeway (or the session holds only a
    /// refresh token), and this call started the refresh: the caller now owns it, and no
    /// other call will send one. Send `refresh`, hand its response to
    /// [`Session::handle_response`](crate::Flow::handle_response) and, on [`SessionStep::Active`], call
    /// [`Session::authorize`] with `original` again. On [`SessionStep::RetryAt`], call
    /// [`Session::retry`](crate::Flow::retry) at that instant and send what it returns; after a transport
    /// error, call [`Session::retry`](crate::Flow::retry) at once. Other requests wait on this one
    /// ([`Authorized::Wait`]) once the access token has expired, so the owner must see the
    /// refresh through to an answer or to an `Err` that ends it.
    ///
    /// Inside the leeway the access token has not expired yet: `original` need not wait
    /// for the round trip. [`Session::authorize`] with it right away is
    /// [`Authorized::Ready`] with the current token.
    RefreshFirst {
        /// The refresh request to send now (its body holds the refresh token).
        refresh: Request<Vec<u8>>,
        /// The caller's request, untouched.
        original: Request<B>,
    },
    /// No access token can authorize the request now: the one the session holds has
    /// expired at `now` (or it holds none yet), and the refresh that will bring a new one
    /// cannot be started by this call: it is already outstanding, its 429 is being waited
    /// out, or the refresh limit (5 a minute) is used up. Nothing was sent and the session
    /// did not change. Do not send `original`: keep it, and call [`Session::authorize`]
    /// with it again when the session has changed — after the owner of the refresh (the
    /// caller that got [`Authorized::RefreshFirst`] or called [`Session::refresh`]) has
    /// handed its answer to [`Session::handle_response`](crate::Flow::handle_response) — and, when `until` is given, not
    /// before `until`.
    Wait {
        /// `Some(t)`: the session is rate limited until `t` (a 429 on the refresh, or the
        /// refresh limit): no refresh can be sent, so nothing changes, before `t`. When no
        /// refresh is outstanding (the limit), the call at `t` starts it
        /// ([`Authorized::RefreshFirst`]); when the session holds one (after a 429, or a
        /// [`Session::refresh`] the limit held), the refresh's owner retries at `t`.
        /// `None`: the refresh is in flight (or its retry is due): its answer comes first.
        until: Option<SystemTime>,
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
            Self::Wait { until, original } => f
                .debug_struct("Wait")
                .field("until", &until.map(|t| DisplayTime(t).to_string()))
                .field("original", &line(original))
                .finish(),
        }
    }
}

/// Where the session is. Private: the public face is [`SessionStep`] and the getters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ParkedState")]
struct State {
    realm: Realm,
    stage: Stage,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Stage {
    Active(Held),
    /// Never with [`Held::Access`]: there is no refresh token to send.
    AwaitRefresh(Held),
    /// Never with [`Held::Refresh`]: there is no access token to sign out with.
    AwaitSignOut(Held),
    SignedOut {
        already_revoked: bool,
    },
    Ended,
}

/// A parked state, checked on the way back in: a store is input like any answer, and
/// must not hold a state the session would never be in.
#[derive(Deserialize)]
struct ParkedState {
    realm: Realm,
    stage: Stage,
}

impl TryFrom<ParkedState> for State {
    type Error = &'static str;
    fn try_from(parked: ParkedState) -> Result<Self, &'static str> {
        match &parked.stage {
            Stage::AwaitRefresh(Held::Access(_)) => {
                Err("a parked session awaits a refresh without a refresh token")
            }
            Stage::AwaitSignOut(Held::Refresh(_)) => {
                Err("a parked session awaits a sign-out without an access token")
            }
            _ => Ok(Self {
                realm: parked.realm,
                stage: parked.stage,
            }),
        }
    }
}

/// The tokens a session holds.
///
/// Parked in the vendor's shape: `{"accessToken": {..}, "refreshToken": {..}}` for a pair
/// (as before there were lone tokens), with only the member it holds for a lone token.
#[derive(Clone, PartialEq, Eq)]
enum Held {
    /// Both tokens, as a sign-in or a refresh ends with.
    Pair(TokenPair),
    /// A refresh token alone ([`Session::from_refresh_token`]), until the first refresh.
    Refresh(Arc<Token>),
    /// An access token alone ([`Session::from_access_token`]): it is never refreshed.
    Access(Arc<Access>),
}

/// An access token held alone, with its header.
#[derive(PartialEq, Eq)]
struct Access {
    token: Token,
    /// `Bearer <token>`, marked sensitive, built once. `None` only if it cannot be a
    /// header, which a [`Token`] rules out (visible ASCII only); kept as an `Option` so
    /// that nothing here can panic.
    bearer: Option<HeaderValue>,
}

impl Access {
    fn new(token: Token) -> Self {
        let bearer = HeaderValue::try_from(format!("Bearer {}", token.secret().expose()))
            .ok()
            .map(|mut value| {
                value.set_sensitive(true);
                value
            });
        Self { token, bearer }
    }
}

impl Held {
    fn access(&self) -> Option<&Token> {
        match self {
            Self::Pair(pair) => Some(pair.access()),
            Self::Access(access) => Some(&access.token),
            Self::Refresh(_) => None,
        }
    }

    fn refresh(&self) -> Option<&Token> {
        match self {
            Self::Pair(pair) => Some(pair.refresh()),
            Self::Refresh(refresh) => Some(refresh),
            Self::Access(_) => None,
        }
    }

    fn pair(&self) -> Option<&TokenPair> {
        match self {
            Self::Pair(pair) => Some(pair),
            Self::Refresh(_) | Self::Access(_) => None,
        }
    }

    /// `Authorization: Bearer <access token>`.
    fn bearer(&self) -> Result<&HeaderValue, Error> {
        match self {
            Self::Pair(pair) => Ok(pair.bearer()),
            Self::Access(access) => access.bearer.as_ref().ok_or(Error::invalid(
                "token",
                "has characters a header cannot carry",
            )),
            Self::Refresh(_) => Err(Error::invalid("access token", "the session holds none")),
        }
    }
}

/// Redacted, as the tokens are.
impl fmt::Debug for Held {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pair(pair) => pair.fmt(f),
            Self::Refresh(token) => f
                .debug_struct("RefreshOnly")
                .field("refresh", token)
                .finish(),
            Self::Access(access) => f
                .debug_struct("AccessOnly")
                .field("access", &access.token)
                .finish(),
        }
    }
}

/// The parked form of [`Held`]: either token may be missing, not both.
#[derive(Serialize, Deserialize)]
struct ParkedHeld<'a> {
    #[serde(
        rename = "accessToken",
        borrow,
        default,
        skip_serializing_if = "Option::is_none"
    )]
    access_token: Option<wire::Token<'a>>,
    #[serde(
        rename = "refreshToken",
        borrow,
        default,
        skip_serializing_if = "Option::is_none"
    )]
    refresh_token: Option<wire::Token<'a>>,
}

/// A lone token in the vendor's shape; an instant outside the years 0000–9999 cannot be
/// written, and parking fails rather than write what could not be read back.
fn token_to_wire(token: &Token) -> Result<wire::Token<'_>, &'static str> {
    let time = |t| {
        format_rfc3339(t)
            .map(std::borrow::Cow::Owned)
            .map_err(|_| "a token time outside the years 0000-9999 cannot be parked")
    };
    Ok(wire::Token {
        token: std::borrow::Cow::Borrowed(token.secret().expose()),
        created_at: time(token.created_at())?,
        expires_at: time(token.expires_at())?,
    })
}

/// A lone token read back with the checks of [`Token::new`]; the error never shows it.
fn token_from_wire(token: wire::Token<'_>) -> Result<Token, String> {
    let time = |text: &str| parse_rfc3339(text).map_err(|e| format!("parked token: {e}"));
    let created_at = time(&token.created_at)?;
    let expires_at = time(&token.expires_at)?;
    Token::new(
        Secret::new(token.token.into_owned()),
        created_at,
        expires_at,
    )
    .map_err(|e| format!("parked token: {e}"))
}

impl Serialize for Held {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let lone = |token| token_to_wire(token).map_err(serde::ser::Error::custom);
        match self {
            Self::Pair(pair) => pair.serialize(serializer),
            Self::Refresh(token) => ParkedHeld {
                access_token: None,
                refresh_token: Some(lone(token)?),
            }
            .serialize(serializer),
            Self::Access(access) => ParkedHeld {
                access_token: Some(lone(&access.token)?),
                refresh_token: None,
            }
            .serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Held {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let parked = ParkedHeld::deserialize(deserializer)?;
        match (parked.access_token, parked.refresh_token) {
            (Some(access_token), Some(refresh_token)) => TokenPair::from_wire(
                &wire::TokenPair {
                    access_token,
                    refresh_token,
                },
                "parked token pair",
            )
            .map(Self::Pair)
            .map_err(D::Error::custom),
            (None, Some(refresh)) => token_from_wire(refresh)
                .map(|token| Self::Refresh(Arc::new(token)))
                .map_err(D::Error::custom),
            (Some(access), None) => token_from_wire(access)
                .map(|token| Self::Access(Arc::new(Access::new(token))))
                .map_err(D::Error::custom),
            (None, None) => Err(D::Error::custom("a parked session holds no token")),
        }
    }
}

impl State {
    fn at(&self, stage: Stage) -> Self {
        Self {
            realm: self.realm,
            stage,
        }
    }

    fn held(&self) -> Option<&Held> {
        match &self.stage {
            Stage::Active(held) | Stage::AwaitRefresh(held) | Stage::AwaitSignOut(held) => {
                Some(held)
            }
            Stage::SignedOut { .. } | Stage::Ended => None,
        }
    }
}

impl Protocol for State {
    type Step = SessionStep;
    type Done = std::convert::Infallible;
    type Guards = AttemptGuard;
    type State = SessionState;
    const TABLE: &'static [table::Transition<SessionState>] = TRANSITIONS;
    const RATE_LIMITED: SessionState = SessionState::RateLimited;

    fn state(&self) -> SessionState {
        match self.stage {
            Stage::Active(Held::Pair(_)) => SessionState::Active,
            Stage::Active(Held::Refresh(_)) => SessionState::RefreshOnly,
            Stage::Active(Held::Access(_)) => SessionState::AccessOnly,
            Stage::AwaitRefresh(_) => SessionState::AwaitRefresh,
            Stage::AwaitSignOut(_) => SessionState::AwaitSignOut,
            Stage::SignedOut { .. } => SessionState::SignedOut,
            Stage::Ended => SessionState::Ended,
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
            Stage::AwaitRefresh(held) => match held.refresh() {
                Some(refresh) => endpoint.post(
                    self.realm.refresh_path(),
                    &wire::RefreshRequest {
                        refresh_token: refresh.secret().expose(),
                    },
                ),
                None => Err(Error::invalid("refresh token", "the session holds none")),
            },
            Stage::AwaitSignOut(held) => endpoint.request(
                Method::POST,
                self.realm.sign_out_path(),
                None::<&()>,
                Some(held.bearer()?),
            ),
            _ => Err(Error::internal(
                "a request was built in a state that awaits none",
            )),
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

    fn refused_event(&self, _status: u16) -> Event {
        match self.stage {
            Stage::AwaitSignOut(_) => Event::Answer("401"),
            _ => Event::Answer("400, 401 or 403"),
        }
    }

    fn advance(&self, answer: &mut Answer<'_>) -> Result<Advance<Self>, Error> {
        Ok(Advance::to(match self.stage {
            Stage::AwaitRefresh(_) => self.at(Stage::Active(Held::Pair(decode_refresh(answer)?))),
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
                return Err(Error::internal(
                    "an answer was read in a state that awaits none",
                ))
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

/// What `authorize` does.
enum Plan<'a> {
    /// Attach this `Authorization` value.
    Use(&'a HeaderValue),
    /// Send a refresh first: move to this awaiting state.
    Refresh(State),
    /// Hand the request back to wait (see [`Authorized::Wait`]).
    Wait(Option<SystemTime>),
}

/// Reads the new pair from a refresh answer, bare or in an envelope (see
/// `decode::refresh`). Nothing is kept unless the whole pair is valid.
fn decode_refresh(answer: &mut Answer<'_>) -> Result<TokenPair, Error> {
    let step = answer.step;
    TokenPair::from_wire(&decode::refresh(answer)?, step)
}

/// A signed-in session of either realm, as a sans-IO state machine.
///
/// Any flow's final tokens become a session without copying a secret by hand:
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use b2core_auth::session::SessionState;
/// use b2core_auth::{client::SignInStep, Endpoint, Flow, Outgoing, Session, SessionStep, TokenPair};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let tokens: TokenPair = serde_json::from_str(r#"{
/// #     "accessToken":{"token":"a.b.c","createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T11:22:24+00:00"},
/// #     "refreshToken":{"token":"d.e.f","createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T12:07:24+00:00"}}"#)?;
/// let endpoint = Endpoint::new("https://host.name")?;
/// let step = SignInStep::Done(tokens); // what `SignIn::handle_response` ended with
/// let mut session = match step {
///     SignInStep::Done(tokens) => Session::client(endpoint, tokens),
///     _ => unreachable!(),
/// };
///
/// // A proactive refresh, 20 minutes in (the access token lived 15):
/// let now = UNIX_EPOCH + Duration::from_secs(1_713_784_044 + 20 * 60);
/// let Outgoing::Request(refresh) = session.refresh(now)? else {
///     unreachable!("the first refresh is within the limit");
/// };
/// assert_eq!(refresh.uri(), "https://host.name/api/v2/my/refresh");
/// assert_eq!(session.state(), SessionState::AwaitRefresh);
/// let answer = http::Response::builder().status(200).body(r#"{
///     "accessToken":{"token":"g.h.i","createdAt":"2024-04-22T11:27:24+00:00","expiresAt":"2024-04-22T11:42:24+00:00"},
///     "refreshToken":{"token":"j.k.l","createdAt":"2024-04-22T11:27:24+00:00","expiresAt":"2024-04-22T12:27:24+00:00"}}"#)?;
/// assert_eq!(session.handle_response(&answer, now)?, SessionStep::Active);
/// let tokens = session.tokens().ok_or("the refresh answer brought a pair")?;
/// assert_eq!(tokens.bearer(), "Bearer g.h.i");
/// # Ok(()) }
/// ```
///
/// Rules, in one place:
///
/// - The leeway (default 30 s, [`Session::with_leeway`]) decides when
///   [`Session::authorize`] starts a refresh: from `leeway` before the access token's
///   `expiresAt` on, so that the token does not expire on the way to the server. It never
///   decides whether the token is used: an access token authorizes requests until its
///   `expiresAt` (while `now < expiresAt`).
/// - At most one refresh or sign-out is outstanding (single flight). While a refresh is
///   outstanding, or held waiting out a 429 or the refresh limit, `authorize` is
///   [`Authorized::Ready`] with the current access token until it expires and
///   [`Authorized::Wait`] after (it never starts a second refresh); [`Session::refresh`]
///   and [`Session::sign_out`] are [`Error::OutOfOrder`]: hand in the answer or
///   [`Session::retry`](crate::Flow::retry) first. While a sign-out is outstanding (or
///   its 429 waited out), `authorize` is [`Error::OutOfOrder`] too: the tokens are being
///   revoked.
/// - A rate limit reaches the caller one way, whether the refresh limit (5 a minute) holds
///   a [`Session::refresh`] or the server answers 429: the session holds the request in
///   [`SessionState::RateLimited`], [`Outgoing::RetryAt`] or [`SessionStep::RetryAt`] says
///   until when (as does [`Session::next_deadline`](crate::Flow::next_deadline)), and
///   [`Session::retry`](crate::Flow::retry) from then on sends it.
/// - [`Error::SessionEnded`] means "sign in again". It comes from `authorize`, `refresh`,
///   `sign_out` and `retry` once the session is signed out or the server refused its
///   refresh token; from a call that needs a refresh when the refresh token has expired
///   at `now` (for `authorize`, once the access token has expired too: until then it
///   serves); and from `authorize` on a session holding only an access token once that
///   has expired. Like every `Err`, it changes nothing: an expired session stays as it is
///   (with its useless tokens) and keeps saying so.
/// - A session holding one token ([`Session::from_refresh_token`],
///   [`Session::from_access_token`]) does what that token allows: without an access token
///   `sign_out` is [`Error::OutOfOrder`] (refresh first: the answer brings one); without a
///   refresh token `refresh` is [`Error::OutOfOrder`] (sign in again for a new pair).
///
/// The session serializes with serde to be parked between requests; the serialized form
/// holds the tokens and must be stored like a password. A session parked by an earlier
/// version of this crate reads back as it was.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    driver: Driver<State>,
    leeway: Duration,
}

crate::flow::driven_flow!(
    Session,
    SessionStep,
    SessionState,
    deadline = Session::next_due,
    retry = Session::retry_unless_ended
);

crate::parked::parked!(Session { driver: Driver<State>, leeway: Duration });

/// A parked session holds nothing to check beyond its fields' own: the tokens are checked
/// by their own `Deserialize` as an answer's are, the counter by [`AttemptGuard`]'s.
impl CheckParked for State {
    fn check_parked(&self) -> Result<(), Error> {
        Ok(())
    }
}

impl Session {
    /// A session of `realm` on `endpoint` with `tokens`, the documented limit of 5
    /// refreshes a minute and a leeway of 30 s.
    pub fn new(realm: Realm, endpoint: Endpoint, tokens: TokenPair) -> Self {
        Self::starting(realm, endpoint, Held::Pair(tokens))
    }

    /// A client session (`/api/v2/my/refresh`, `/api/v2/my/signout`).
    pub fn client(endpoint: Endpoint, tokens: TokenPair) -> Self {
        Self::new(Realm::Client, endpoint, tokens)
    }

    /// A Back Office session (`/api/v2/refresh`, `/api/v2/signout`).
    pub fn back_office(endpoint: Endpoint, tokens: TokenPair) -> Self {
        Self::new(Realm::BackOffice, endpoint, tokens)
    }

    /// A session of `realm` that holds only a refresh token, e.g. one kept from an earlier
    /// sign-in. [`Session::tokens`] is `None` and the state is
    /// [`SessionState::RefreshOnly`] until a refresh answer brings a pair: the first
    /// [`Session::authorize`] is [`Authorized::RefreshFirst`] (or call
    /// [`Session::refresh`]). It cannot sign out before that ([`Error::OutOfOrder`]), and
    /// once `refresh` has expired it can only say [`Error::SessionEnded`].
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use b2core_auth::session::SessionState;
    /// use b2core_auth::{Authorized, Endpoint, Realm, Session, Token};
    /// use b2core_auth::Flow;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let t0 = UNIX_EPOCH + Duration::from_secs(1_713_784_044);
    /// let refresh = Token::new("d.e.f".into(), t0, t0 + Duration::from_secs(3600))?;
    /// let endpoint = Endpoint::new("https://host.name")?;
    /// let mut session = Session::from_refresh_token(Realm::BackOffice, endpoint, refresh);
    /// assert_eq!(session.state(), SessionState::RefreshOnly);
    /// assert_eq!(session.state().to_string(), "holding only a refresh token");
    /// assert!(session.tokens().is_none());
    ///
    /// let request = http::Request::get("https://host.name/api/v2/accounts")
    ///     .body(())?;
    /// let Authorized::RefreshFirst { refresh, .. } = session.authorize(request, t0)? else {
    ///     unreachable!("no access token yet")
    /// };
    /// assert_eq!(refresh.uri(), "https://host.name/api/v2/refresh");
    /// assert_eq!(refresh.body(), br#"{"refreshToken":"d.e.f"}"#);
    /// assert_eq!(session.state(), SessionState::AwaitRefresh);
    /// # Ok(()) }
    /// ```
    pub fn from_refresh_token(realm: Realm, endpoint: Endpoint, refresh: Token) -> Self {
        Self::starting(realm, endpoint, Held::Refresh(Arc::new(refresh)))
    }

    /// A session of `realm` that holds only an access token, e.g. to sign it out. It
    /// authorizes requests until the token's `expiresAt` (no leeway: there is no refresh
    /// to start early) and then says [`Error::SessionEnded`]; [`Session::sign_out`] works
    /// whether or not it has expired (the server answers 401 for an expired one);
    /// [`Session::refresh`] is [`Error::OutOfOrder`]: there is no refresh token. The state
    /// is [`SessionState::AccessOnly`] and [`Session::tokens`] is `None`
    /// ([`Session::access_token`] shows the token).
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use b2core_auth::session::SessionState;
    /// use b2core_auth::{Endpoint, Error, Flow, Outgoing, Realm, Session, Token};
    ///
    /// # fn main() -> Result<(), Error> {
    /// let t0 = UNIX_EPOCH + Duration::from_secs(1_713_784_044);
    /// let access = Token::new("a.b.c".into(), t0, t0 + Duration::from_secs(900))?;
    /// let endpoint = Endpoint::new("https://host.name")?;
    /// let mut session = Session::from_access_token(Realm::Client, endpoint, access);
    /// assert_eq!(session.state(), SessionState::AccessOnly);
    /// assert!(matches!(session.refresh(t0), Err(Error::OutOfOrder { .. })));
    ///
    /// let Outgoing::Request(sign_out) = session.sign_out(t0)? else {
    ///     unreachable!("no attempt limit holds a sign-out");
    /// };
    /// assert_eq!(sign_out.uri(), "https://host.name/api/v2/my/signout");
    /// assert_eq!(sign_out.headers()["authorization"], "Bearer a.b.c");
    /// # Ok(()) }
    /// ```
    pub fn from_access_token(realm: Realm, endpoint: Endpoint, access: Token) -> Self {
        Self::starting(realm, endpoint, Held::Access(Arc::new(Access::new(access))))
    }

    fn starting(realm: Realm, endpoint: Endpoint, held: Held) -> Self {
        let state = State {
            realm,
            stage: Stage::Active(held),
        };
        Self {
            driver: Driver::new(endpoint, AttemptGuard::refresh(), state),
            leeway: DEFAULT_LEEWAY,
        }
    }

    /// Starts a refresh `leeway` before the access token's `expiresAt` (default 30 s).
    #[must_use]
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// How long before `expiresAt` a refresh is started.
    pub fn leeway(&self) -> Duration {
        self.leeway
    }

    /// The realm: it decides the paths.
    pub fn realm(&self) -> Realm {
        self.driver.latest_state().realm
    }

    /// The current tokens; `None` once signed out or ended, and while the session holds
    /// only one token. (While a refresh is outstanding these are still the old ones.)
    pub fn tokens(&self) -> Option<&TokenPair> {
        self.driver.latest_state().held().and_then(Held::pair)
    }

    /// The access token the session authorizes with, from a pair or held alone; `None`
    /// before the first refresh of a session made from a refresh token, and once signed
    /// out or ended.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use b2core_auth::{Endpoint, Realm, Session, Token};
    ///
    /// # fn main() -> Result<(), b2core_auth::Error> {
    /// let t0 = UNIX_EPOCH + Duration::from_secs(1_713_784_044);
    /// let access = Token::new("a.b.c".into(), t0, t0 + Duration::from_secs(900))?;
    /// let session = Session::from_access_token(Realm::Client, Endpoint::new("https://host.name")?, access.clone());
    /// assert_eq!(session.access_token(), Some(&access));
    /// assert_eq!(session.refresh_token(), None);
    /// assert_eq!(session.tokens(), None);
    /// # Ok(()) }
    /// ```
    pub fn access_token(&self) -> Option<&Token> {
        self.driver.latest_state().held().and_then(Held::access)
    }

    /// The refresh token the next refresh sends, from a pair or held alone; `None` for a
    /// session made from an access token, and once signed out or ended.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use b2core_auth::{Endpoint, Realm, Session, Token};
    ///
    /// # fn main() -> Result<(), b2core_auth::Error> {
    /// let t0 = UNIX_EPOCH + Duration::from_secs(1_713_784_044);
    /// let refresh = Token::new("d.e.f".into(), t0, t0 + Duration::from_secs(3600))?;
    /// let session = Session::from_refresh_token(Realm::Client, Endpoint::new("https://host.name")?, refresh.clone());
    /// assert_eq!(session.refresh_token(), Some(&refresh));
    /// assert_eq!(session.access_token(), None);
    /// # Ok(()) }
    /// ```
    pub fn refresh_token(&self) -> Option<&Token> {
        self.driver.latest_state().held().and_then(Held::refresh)
    }

    /// Continues counting refreshes on `guard` (e.g. from the session this one replaces,
    /// see [`Session::into_guard`]), so that a new session does not reset the limit.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use b2core_auth::{AttemptGuard, Endpoint, Outgoing, Realm, Session, Token};
    ///
    /// # fn main() -> Result<(), b2core_auth::Error> {
    /// let t0 = UNIX_EPOCH + Duration::from_secs(1_713_784_044);
    /// let mut guard = AttemptGuard::refresh();
    /// guard.block_until(t0 + Duration::from_secs(60)); // a 429 the old session was told
    /// let refresh = Token::new("d.e.f".into(), t0, t0 + Duration::from_secs(3600))?;
    /// let endpoint = Endpoint::new("https://host.name")?;
    /// let mut session = Session::from_refresh_token(Realm::Client, endpoint, refresh)
    ///     .with_guard(guard);
    /// assert!(matches!(session.refresh(t0)?, Outgoing::RetryAt(_))); // held, not sent
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn with_guard(mut self, guard: AttemptGuard) -> Self {
        self.driver.set_guards(guard);
        self
    }

    /// The refresh counter (5 a minute, plus any block a 429 announced).
    pub fn guard(&self) -> &AttemptGuard {
        self.driver.guards()
    }

    /// Ends the session and keeps its refresh counter for the next one
    /// ([`Session::with_guard`]).
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use b2core_auth::{Endpoint, Realm, Session, Token};
    ///
    /// # fn main() -> Result<(), b2core_auth::Error> {
    /// let t0 = UNIX_EPOCH + Duration::from_secs(1_713_784_044);
    /// let refresh = Token::new("d.e.f".into(), t0, t0 + Duration::from_secs(3600))?;
    /// let endpoint = Endpoint::new("https://host.name")?;
    /// let mut session = Session::from_refresh_token(Realm::Client, endpoint, refresh);
    /// let _refresh = session.refresh(t0)?;
    /// let guard = session.into_guard();
    /// assert_eq!(guard.next_allowed(t0), None); // 1 of 5 used
    /// # Ok(()) }
    /// ```
    pub fn into_guard(self) -> AttemptGuard {
        self.driver.into_guards()
    }

    /// True when a refresh is due: the access token is expired at `now` or within the
    /// leeway of it.
    fn refresh_due(&self, access: &Token, now: SystemTime) -> bool {
        now.checked_add(self.leeway)
            .map_or(true, |t| access.is_expired(t))
    }

    /// [`Flow::next_deadline`](crate::Flow::next_deadline) for a session: the end of a
    /// rate limit; else, while usable, when its access token enters the leeway (a refresh
    /// is due: `authorize` will ask for one); a session holding only a refresh token is
    /// due at once (the epoch: a deadline in the past).
    fn next_due(&self) -> Option<SystemTime> {
        if let Some(until) = self.driver.retry_at() {
            return Some(until);
        }
        match &self.driver.state()?.stage {
            Stage::Active(Held::Refresh(_)) => Some(SystemTime::UNIX_EPOCH),
            Stage::Active(held @ Held::Pair(_)) => held.access().map(|access| {
                access
                    .expires_at()
                    .checked_sub(self.leeway)
                    .unwrap_or(SystemTime::UNIX_EPOCH)
            }),
            _ => None,
        }
    }

    /// The instant a 429 is waited out until, while one is.
    fn rate_limited_until(&self) -> Option<SystemTime> {
        match self.driver.current_step() {
            Some(SessionStep::RetryAt(t)) => Some(t),
            _ => None,
        }
    }

    /// Authorizes one of the caller's API requests. The leeway decides when a refresh
    /// starts; the access token's `expiresAt` decides when a request must wait.
    ///
    /// Nothing outstanding ([`SessionState::Active`], or holding a lone token):
    ///
    /// - Access token fresh (more than the leeway before its `expiresAt`):
    ///   [`Authorized::Ready`], the request with `Authorization: Bearer <access token>`
    ///   (any other `Authorization` is replaced). This is a header clone, no formatting
    ///   and no change to the session.
    /// - Access token expired or within the leeway, or none yet (a session made from a
    ///   refresh token): [`Authorized::RefreshFirst`]; the session now awaits the refresh
    ///   answer and the refresh counts against the limit. When the limit (5 a minute, or a
    ///   block a 429 announced) allows no refresh now: [`Authorized::Ready`] while the
    ///   access token has not expired (a later call starts the refresh), else
    ///   [`Authorized::Wait`] until the limit allows one.
    /// - No refresh can be made (the refresh token has expired at `now`, or the session
    ///   holds only an access token): [`Authorized::Ready`] while the access token has not
    ///   expired, then [`Error::SessionEnded`].
    ///
    /// A refresh outstanding ([`SessionState::AwaitRefresh`]) or held waiting out a 429 or
    /// the refresh limit ([`SessionState::RateLimited`]): [`Authorized::Ready`] while the
    /// access token has not expired at `now`, no second refresh (single flight); after that
    /// [`Authorized::Wait`] (`until` the end of the wait, `None` once the refresh is in
    /// flight or its retry is due), or [`Error::SessionEnded`] when the refresh is held and
    /// the refresh token has expired (the refresh can never be sent again).
    ///
    /// A sign-out outstanding or rate limited: [`Error::OutOfOrder`] (the tokens are being
    /// revoked). Signed out or ended: [`Error::SessionEnded`].
    ///
    /// The access token goes to the session's host only: a request whose URI names another
    /// scheme or host is refused (a relative URI, path only, is taken as the host's).
    ///
    /// On `Err` the request is dropped (and the session is unchanged).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `request URI`) for a request to another host;
    /// [`Error::SessionEnded`] and [`Error::OutOfOrder`] as above.
    pub fn authorize<B>(
        &mut self,
        mut request: Request<B>,
        now: SystemTime,
    ) -> Result<Authorized<B>, Error> {
        if !self.driver.endpoint().is_own(request.uri()) {
            return Err(Error::invalid(
                "request URI",
                "is not on the session's host: its access token goes there only",
            ));
        }
        match self.plan_authorize(now)? {
            Plan::Use(bearer) => {
                request.headers_mut().insert(AUTHORIZATION, bearer.clone());
                Ok(Authorized::Ready(request))
            }
            Plan::Refresh(next) => match self.driver.send(next, "authorize", now)? {
                Outgoing::Request(refresh) => Ok(Authorized::RefreshFirst {
                    refresh,
                    original: request,
                }),
                // The plan asked the guard first, and the table has no row for a held refresh
                // on `authorize`: the driver refuses that move before it is made.
                Outgoing::RetryAt(_) => {
                    Err(Error::internal("authorize held a refresh its plan allowed"))
                }
            },
            Plan::Wait(until) => Ok(Authorized::Wait {
                until,
                original: request,
            }),
        }
    }

    /// Decides, on `&self`, what `authorize` at `now` does (see there).
    fn plan_authorize(&self, now: SystemTime) -> Result<Plan<'_>, Error> {
        let current = self.driver.latest_state();
        let (held, outstanding) = match &current.stage {
            Stage::SignedOut { .. } | Stage::Ended => return Err(Error::SessionEnded),
            // Also a rate-limited sign-out: the tokens are being revoked.
            Stage::AwaitSignOut(_) => return Err(self.driver.out_of_order("authorize")),
            Stage::Active(held) => (held, false),
            Stage::AwaitRefresh(held) => (held, true),
        };
        let access = held.access();
        // The leeway decides when a refresh starts, never whether the token serves.
        let serves = access.is_some_and(|token| !token.is_expired(now));
        let refresh = held.refresh().filter(|token| !token.is_expired(now));
        if outstanding {
            return match self.rate_limited_until() {
                _ if serves => held.bearer().map(Plan::Use),
                // Waited out, its refresh can never be sent again (`retry` says so too).
                Some(_) if refresh.is_none() => Err(Error::SessionEnded),
                Some(until) if now < until => Ok(Plan::Wait(Some(until))),
                _ => Ok(Plan::Wait(None)),
            };
        }
        if !access.map_or(true, |token| self.refresh_due(token, now)) {
            return held.bearer().map(Plan::Use);
        }
        match (refresh, self.guard().next_allowed(now)) {
            (Some(_), None) => Ok(Plan::Refresh(current.at(Stage::AwaitRefresh(held.clone())))),
            // No refresh now or ever: the access token serves while it lasts.
            _ if serves => held.bearer().map(Plan::Use),
            (Some(_), Some(allowed)) => Ok(Plan::Wait(Some(allowed))),
            (None, _) => Err(Error::SessionEnded),
        }
    }

    /// `POST /api/v2/refresh` or `/api/v2/my/refresh` with `{"refreshToken": "..."}`: a
    /// refresh now, whether or not the access token is near its expiry (proactive).
    ///
    /// A sixth refresh inside a minute, or one during a block a 429 announced, is not sent:
    /// the session holds it and waits ([`Outgoing::RetryAt`]), as after a 429; `authorize`
    /// keeps serving the access token meanwhile.
    ///
    /// # Errors
    ///
    /// [`Error::SessionEnded`] for an expired refresh token or an ended or signed-out
    /// session; [`Error::OutOfOrder`] while a request is outstanding or rate limited, and
    /// for a session holding only an access token.
    pub fn refresh(&mut self, now: SystemTime) -> Result<Outgoing, Error> {
        let current = self.driver.latest_state();
        let next = match &current.stage {
            Stage::SignedOut { .. } | Stage::Ended => return Err(Error::SessionEnded),
            Stage::Active(held) => match held.refresh() {
                Some(token) if token.is_expired(now) => return Err(Error::SessionEnded),
                Some(_) => current.at(Stage::AwaitRefresh(held.clone())),
                None => return Err(self.driver.out_of_order("refresh")),
            },
            Stage::AwaitRefresh(_) | Stage::AwaitSignOut(_) => {
                return Err(self.driver.out_of_order("refresh"))
            }
        };
        self.driver.send(next, "refresh", now)
    }

    /// `POST /api/v2/signout` or `/api/v2/my/signout` with `Authorization: Bearer <access
    /// token>` and no body. Allowed whenever the session holds an access token and nothing
    /// is outstanding, even with expired tokens (the server then answers 401, reported as
    /// `already_revoked`). A session holding only a refresh token has nothing to sign out
    /// with ([`Error::OutOfOrder`]): refresh first.
    ///
    /// # Errors
    ///
    /// [`Error::SessionEnded`] once signed out or ended; [`Error::OutOfOrder`] while a
    /// request is outstanding or rate limited, and without an access token.
    pub fn sign_out(&mut self, now: SystemTime) -> Result<Outgoing, Error> {
        let current = self.driver.latest_state();
        let next = match &current.stage {
            Stage::SignedOut { .. } | Stage::Ended => return Err(Error::SessionEnded),
            Stage::Active(held) if held.access().is_some() => {
                current.at(Stage::AwaitSignOut(held.clone()))
            }
            Stage::Active(_) | Stage::AwaitRefresh(_) | Stage::AwaitSignOut(_) => {
                return Err(self.driver.out_of_order("sign_out"))
            }
        };
        self.driver.send(next, "sign_out", now)
    }

    /// [`Flow::retry`](crate::Flow::retry) for a session: a refresh is
    /// [`Error::SessionEnded`] instead of being sent once the refresh token has expired.
    /// With nothing outstanding: [`Error::OutOfOrder`] on a usable session,
    /// [`Error::SessionEnded`] on a signed-out or ended one.
    fn retry_unless_ended(&mut self, now: SystemTime) -> Result<Outgoing, Error> {
        match &self.driver.latest_state().stage {
            Stage::SignedOut { .. } | Stage::Ended => return Err(Error::SessionEnded),
            Stage::AwaitRefresh(held) if held.refresh().map_or(true, |t| t.is_expired(now)) => {
                return Err(Error::SessionEnded)
            }
            _ => {}
        }
        self.driver.retry(now)
    }
}
