//! Back Office staff sign-in with email 2FA (`spec/backoffice-auth.txt`).
//!
//! 1. `POST /api/v2/signin` `{email, password}` — [`StaffSignIn::sign_in`]. The answer
//!    leads to [`StaffStep::Done`] (`2faRequired: false`, with `accessToken` and
//!    `refreshToken`) or to [`StaffStep::EmailCode`] (`2faRequired: true`: a code was
//!    emailed; `2faDetails` carries the 2FA token, which the flow keeps to itself).
//! 2. `POST /api/v2/2fa/confirm` `{token, code}` — [`StaffSignIn::submit_code`]. The
//!    answer `{accessToken, refreshToken}` leads to [`StaffStep::Done`].
//!
//! Refusals: a refused sign-in (any 4xx but 429, e.g. a wrong password) gives
//! [`StaffStep::Credentials`] with the server's message. A refused code gives
//! [`StaffStep::EmailCode`] again for another try, except HTTP 401, which the server uses
//! for an expired 2FA token: that goes back to [`StaffStep::Credentials`].
//!
//! Expiry: a 2FA token is used only before its `expiresAt`. [`StaffSignIn::submit_code`]
//! at or after it (`now >= expiresAt`) is refused before anything is sent with
//! `Error::InvalidInput { field: "2FA token", reason: "expired: sign in again" }`; the flow
//! stays where it was and the caller calls [`StaffSignIn::sign_in`] again, which is allowed
//! from the code step for exactly this reason.
//!
//! Limits (the page's notes): 5 sign-ins and 3 code confirmations a minute, counted by
//! [`StaffGuards`] before sending: an attempt over the limit is not sent, the flow holds it
//! and waits ([`Outgoing::RetryAt`], then [`StaffStep::RetryAt`]) exactly as after a
//! server's 429 (`Retry-After` in seconds or as an HTTP date; 60 s without one), and
//! [`StaffSignIn::retry`](crate::Flow::retry) sends it once the wait is over.
//!
//! Refresh and sign-out of the resulting tokens live in the session module, not here.
//!
//! ## Transitions
//!
//! The documented transitions are [`TRANSITIONS`], in the states of [`StaffState`]; the
//! driver refuses any move that is not one of its rows. Answers are named by status
//! (`2xx`: any success status) and, for a success to the sign-in, by `2faRequired`. A
//! `retry` while awaiting is the resend after a transport error.

use std::sync::Arc;
use std::time::SystemTime;

use http::Request;
use serde::{Deserialize, Serialize};

use crate::decode;
use crate::deviation::Answer;
use crate::endpoint::Endpoint;
use crate::error::{ApiError, Error};
use crate::flow::Outgoing;
use crate::guard::AttemptGuard;
use crate::input::{self, MAX_FIELD_LEN};
use crate::machine::{Advance, Driver, Protocol};
use crate::parked::CheckParked;
use crate::secret::Secret;
use crate::table::{self, Event};
use crate::time::parse_rfc3339;
use crate::token::{check_token_text, TokenPair};
use crate::wire;

crate::table::states! {
    /// Where a staff sign-in is: the states of [`TRANSITIONS`].
    /// [`Flow::state`](crate::Flow::state) returns it.
    ///
    /// ```
    /// use b2core_auth::backoffice::{StaffSignIn, StaffState};
    /// use b2core_auth::{Endpoint, Flow};
    ///
    /// # fn main() -> Result<(), b2core_auth::Error> {
    /// let flow = StaffSignIn::new(Endpoint::new("https://host.name")?);
    /// assert_eq!(flow.state(), StaffState::Credentials);
    /// assert_eq!(flow.state().to_string(), "asking for credentials");
    /// # Ok(()) }
    /// ```
    pub enum StaffState {
        /// [`StaffStep::Credentials`]: call [`StaffSignIn::sign_in`].
        Credentials => "asking for credentials",
        /// `POST /api/v2/signin` is outstanding.
        AwaitSignIn => "waiting for the sign-in answer",
        /// [`StaffStep::EmailCode`]: call [`StaffSignIn::submit_code`].
        EmailCode => "asking for the emailed 2FA code",
        /// `POST /api/v2/2fa/confirm` is outstanding.
        AwaitConfirm => "waiting for the 2FA confirmation answer",
        /// [`StaffStep::RetryAt`]: a request waits out a rate limit.
        RateLimited => "rate limited",
        /// [`StaffStep::Done`]: final.
        SignedIn => "signed in",
    }
}

crate::table::transitions! {
    /// The documented transitions of the staff sign-in (see the module docs), generated
    /// into this table from the constant's own rows.
    pub const TRANSITIONS: [StaffState] = [
        (Credentials, Call("sign_in"), AwaitSignIn),
        (Credentials, Call("sign_in"), RateLimited),
        (AwaitSignIn, Answer("2xx `2faRequired: false`"), SignedIn),
        (AwaitSignIn, Answer("2xx `2faRequired: true`"), EmailCode),
        (AwaitSignIn, Answer("4xx"), Credentials),
        (EmailCode, Call("submit_code"), AwaitConfirm),
        (EmailCode, Call("submit_code"), RateLimited),
        (EmailCode, Call("sign_in"), AwaitSignIn),
        (EmailCode, Call("sign_in"), RateLimited),
        (AwaitConfirm, Answer("2xx"), SignedIn),
        (AwaitConfirm, Answer("401"), Credentials),
        (AwaitConfirm, Answer("4xx but 401"), EmailCode),
        (AwaitSignIn, Answer("429"), RateLimited),
        (AwaitConfirm, Answer("429"), RateLimited),
        (RateLimited, Call("retry"), RateLimited),
        (RateLimited, Call("retry"), AwaitSignIn),
        (RateLimited, Call("retry"), AwaitConfirm),
        (RateLimited, Call("sign_in"), AwaitSignIn),
        (RateLimited, Call("sign_in"), RateLimited),
        (AwaitSignIn, Call("retry"), AwaitSignIn),
        (AwaitSignIn, Call("retry"), RateLimited),
        (AwaitConfirm, Call("retry"), AwaitConfirm),
        (AwaitConfirm, Call("retry"), RateLimited),
    ];
}

const SIGN_IN: &str = "/api/v2/signin";
const CONFIRM: &str = "/api/v2/2fa/confirm";

/// The longest 2FA token accepted from the server (the example is a 36-character UUID);
/// a longer one makes the sign-in answer [`Error::Malformed`].
pub const MAX_TFA_TOKEN_LEN: usize = 4096;

/// The Back Office rate-limit counters: sign-ins (5 a minute) and 2FA confirmations
/// (3 a minute).
///
/// They belong to the account rather than to one flow: take them back with
/// [`StaffSignIn::into_guards`] and hand them to the next flow with
/// [`StaffSignIn::with_guards`], so starting over does not reset the count.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use b2core_auth::backoffice::{StaffGuards, StaffSignIn};
/// use b2core_auth::Endpoint;
///
/// # fn main() -> Result<(), b2core_auth::Error> {
/// let endpoint = Endpoint::new("https://host.name")?;
/// let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let mut guards = StaffGuards::default();
/// for i in 0..5 {
///     let mut flow = StaffSignIn::with_guards(endpoint.clone(), guards);
///     let _request = flow.sign_in("foo@bar.com", "Secret123", t0 + Duration::from_secs(i))?;
///     guards = flow.into_guards(); // e.g. the user gave up and reloaded the page
/// }
/// let mut flow = StaffSignIn::with_guards(endpoint, guards);
/// let sixth = flow.sign_in("foo@bar.com", "Secret123", t0 + Duration::from_secs(10))?;
/// assert_eq!(sixth.retry_at(), Some(t0 + Duration::from_secs(60))); // held, not sent
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffGuards {
    sign_in: AttemptGuard,
    confirm: AttemptGuard,
}

impl StaffGuards {
    /// Counters with other limits than the documented ones (see [`StaffGuards::default`]).
    pub fn new(sign_in: AttemptGuard, confirm: AttemptGuard) -> Self {
        Self { sign_in, confirm }
    }

    /// The sign-in counter (`POST /api/v2/signin`).
    pub fn sign_in(&self) -> &AttemptGuard {
        &self.sign_in
    }

    /// The 2FA confirmation counter (`POST /api/v2/2fa/confirm`).
    pub fn confirm(&self) -> &AttemptGuard {
        &self.confirm
    }
}

impl Default for StaffGuards {
    /// The page's limits: [`AttemptGuard::staff_sign_in`] and [`AttemptGuard::staff_confirm`].
    fn default() -> Self {
        Self::new(AttemptGuard::staff_sign_in(), AttemptGuard::staff_confirm())
    }
}

/// What the staff sign-in needs next. Each variant says what the caller must do.
///
/// ```
/// use std::time::SystemTime;
/// use b2core_auth::{backoffice::{StaffSignIn, StaffStep}, Endpoint};
/// use b2core_auth::Flow;
///
/// # fn main() -> Result<(), b2core_auth::Error> {
/// let flow = StaffSignIn::new(Endpoint::new("https://host.name")?);
/// // A new flow asks for credentials.
/// assert_eq!(flow.current_step(), Some(StaffStep::Credentials { rejected: None }));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub enum StaffStep {
    /// Ask for email and password, then call [`StaffSignIn::sign_in`]. `rejected` carries
    /// the server's refusal of the previous attempt (a wrong password), or of the code when
    /// the server said the 2FA token expired (HTTP 401).
    Credentials {
        /// The server's refusal, if any.
        rejected: Option<ApiError>,
    },
    /// A verification code was sent through `provider` (the page: only `email` for now).
    /// Ask for it and call [`StaffSignIn::submit_code`] before `expires_at`; from then on,
    /// call [`StaffSignIn::sign_in`] again instead.
    EmailCode {
        /// How the code was delivered, as the server names it.
        provider: String,
        /// When the 2FA token (and so the code) stops being accepted.
        expires_at: SystemTime,
        /// The server's refusal of the previous code (a wrong code), if any.
        rejected: Option<ApiError>,
    },
    /// Rate limited (a server's 429, or the attempt guard holding a
    /// [`StaffSignIn::sign_in`] or [`StaffSignIn::submit_code`], which then returned
    /// [`Outgoing::RetryAt`]): the flow holds the request; wait until this instant (also
    /// [`Flow::next_deadline`](crate::Flow::next_deadline)), then call
    /// [`StaffSignIn::retry`](crate::Flow::retry), which sends it.
    RetryAt(SystemTime),
    /// Signed in. The flow is finished; turn the tokens into a session.
    Done(TokenPair),
}

/// The 2FA details of a sign-in answer, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TwoFactor {
    token: Secret<String>,
    provider: String,
    expires_at: SystemTime,
}

impl TwoFactor {
    fn from_wire(step: &'static str, details: &wire::TfaDetails<'_>) -> Result<Self, Error> {
        const TOKEN: &str = "2faDetails.token";
        if details.token.len() > MAX_TFA_TOKEN_LEN {
            return Err(Error::malformed(
                step,
                TOKEN,
                format!("is longer than {MAX_TFA_TOKEN_LEN} bytes"),
            ));
        }
        check_token_text(&details.token).map_err(|reason| Error::malformed(step, TOKEN, reason))?;
        if details.provider.len() > MAX_FIELD_LEN {
            return Err(Error::malformed(
                step,
                "2faDetails.provider",
                format!("is longer than {MAX_FIELD_LEN} bytes"),
            ));
        }
        let expires_at = parse_rfc3339(&details.expires_at)
            .map_err(|e| Error::malformed(step, "2faDetails.expiresAt", e.to_string()))?;
        // The flow parks this instant with serde, which cannot write one before 1970 (and
        // no 2FA token expired before B2Core existed).
        if expires_at < std::time::UNIX_EPOCH {
            return Err(Error::malformed(
                step,
                "2faDetails.expiresAt",
                "is before 1970",
            ));
        }
        Ok(Self {
            token: Secret::new(details.token.as_ref().to_owned()),
            provider: details.provider.as_ref().to_owned(),
            expires_at,
        })
    }
}

/// Where the flow is. Private: the public face is [`StaffStep`] and the getters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum State {
    Credentials {
        /// The email of the refused attempt, to refill the form.
        email: Option<Arc<str>>,
        rejected: Option<ApiError>,
    },
    // The email and the 2FA details are shared by the states of one sign-in: a step
    // costs no copy of them.
    AwaitSignIn {
        email: Arc<str>,
        password: Secret<String>,
    },
    EmailCode {
        email: Arc<str>,
        tfa: Arc<TwoFactor>,
        rejected: Option<ApiError>,
    },
    AwaitConfirm {
        email: Arc<str>,
        tfa: Arc<TwoFactor>,
        code: Secret<String>,
    },
    Done,
}

impl Protocol for State {
    type Step = StaffStep;
    type Done = TokenPair;
    type Guards = StaffGuards;
    type State = StaffState;
    const TABLE: &'static [table::Transition<StaffState>] = TRANSITIONS;
    const RATE_LIMITED: StaffState = StaffState::RateLimited;

    fn state(&self) -> StaffState {
        match self {
            Self::Credentials { .. } => StaffState::Credentials,
            Self::AwaitSignIn { .. } => StaffState::AwaitSignIn,
            Self::EmailCode { .. } => StaffState::EmailCode,
            Self::AwaitConfirm { .. } => StaffState::AwaitConfirm,
            Self::Done => StaffState::SignedIn,
        }
    }

    fn awaiting(&self) -> Option<&'static str> {
        match self {
            Self::AwaitSignIn { .. } => Some("POST /api/v2/signin"),
            Self::AwaitConfirm { .. } => Some("POST /api/v2/2fa/confirm"),
            _ => None,
        }
    }

    fn request(&self, endpoint: &Endpoint) -> Result<Request<Vec<u8>>, Error> {
        match self {
            Self::AwaitSignIn { email, password } => endpoint.post(
                SIGN_IN,
                &wire::StaffSignInRequest {
                    email,
                    password: password.expose(),
                },
            ),
            Self::AwaitConfirm { tfa, code, .. } => endpoint.post(
                CONFIRM,
                &wire::ConfirmRequest {
                    token: tfa.token.expose(),
                    code: code.expose(),
                },
            ),
            _ => Err(Error::internal(
                "a request was built in a state that awaits none",
            )),
        }
    }

    fn guard<'g>(&self, guards: &'g mut StaffGuards) -> Option<&'g mut AttemptGuard> {
        match self {
            Self::AwaitSignIn { .. } => Some(&mut guards.sign_in),
            Self::AwaitConfirm { .. } => Some(&mut guards.confirm),
            _ => None,
        }
    }

    fn refused(&self, error: ApiError) -> Option<Self> {
        match self {
            Self::AwaitSignIn { email, .. } => Some(Self::Credentials {
                email: Some(email.clone()),
                rejected: Some(error),
            }),
            // 401: the server no longer knows the 2FA token; only a new sign-in helps.
            Self::AwaitConfirm { email, .. } if error.status() == 401 => Some(Self::Credentials {
                email: Some(email.clone()),
                rejected: Some(error),
            }),
            Self::AwaitConfirm { email, tfa, .. } => Some(Self::EmailCode {
                email: email.clone(),
                tfa: tfa.clone(),
                rejected: Some(error),
            }),
            _ => None,
        }
    }

    fn refused_event(&self, status: u16) -> Event {
        match self {
            Self::AwaitConfirm { .. } if status == 401 => Event::Answer("401"),
            Self::AwaitConfirm { .. } => Event::Answer("4xx but 401"),
            _ => table::REFUSED,
        }
    }

    fn advance(&self, answer: &mut Answer<'_>) -> Result<Advance<Self>, Error> {
        let (step, body) = (answer.step, answer.body);
        match self {
            Self::AwaitSignIn { email, .. } => {
                let answer: wire::StaffSignInResponse = decode::bare(step, body)?;
                if answer.tfa_required {
                    let details = answer.tfa_details.as_ref().ok_or_else(|| {
                        Error::malformed(step, "2faDetails", "missing while 2faRequired is true")
                    })?;
                    Ok(Advance::to(Self::EmailCode {
                        email: email.clone(),
                        tfa: Arc::new(TwoFactor::from_wire(step, details)?),
                        rejected: None,
                    })
                    .on(Event::Answer("2xx `2faRequired: true`")))
                } else {
                    let tokens = TokenPair::from_wire_parts(
                        answer.access_token.as_ref(),
                        answer.refresh_token.as_ref(),
                        step,
                    )?
                    .ok_or_else(|| {
                        Error::malformed(step, "accessToken", "missing while 2faRequired is false")
                    })?;
                    Ok(Advance::finish(Self::Done, tokens)
                        .on(Event::Answer("2xx `2faRequired: false`")))
                }
            }
            Self::AwaitConfirm { .. } => {
                let answer: wire::TokenPair = decode::bare(step, body)?;
                Ok(Advance::finish(
                    Self::Done,
                    TokenPair::from_wire(&answer, step)?,
                ))
            }
            _ => Err(Error::internal(
                "an answer was read in a state that awaits none",
            )),
        }
    }

    fn step(&self) -> Option<StaffStep> {
        match self {
            Self::Credentials { rejected, .. } => Some(StaffStep::Credentials {
                rejected: rejected.clone(),
            }),
            Self::EmailCode { tfa, rejected, .. } => Some(StaffStep::EmailCode {
                provider: tfa.provider.clone(),
                expires_at: tfa.expires_at,
                rejected: rejected.clone(),
            }),
            _ => None,
        }
    }

    fn retry_step(at: SystemTime) -> StaffStep {
        StaffStep::RetryAt(at)
    }

    fn done_step(tokens: TokenPair) -> StaffStep {
        StaffStep::Done(tokens)
    }
}

/// Back Office staff sign-in with email 2FA, as a sans-IO state machine.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use b2core_auth::backoffice::{StaffSignIn, StaffState, StaffStep};
/// use b2core_auth::{Endpoint, Flow, Outgoing};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let now = UNIX_EPOCH + Duration::from_secs(1_640_995_000); // before 2022-01-01
/// let mut flow = StaffSignIn::new(Endpoint::new("https://host.name")?);
/// let Outgoing::Request(request) = flow.sign_in("foo@bar.com", "Secret123", now)? else {
///     unreachable!("the first sign-in is within the limit");
/// };
/// assert_eq!(request.uri(), "https://host.name/api/v2/signin");
/// assert_eq!(flow.state(), StaffState::AwaitSignIn);
///
/// // ... send it with any HTTP client, then hand the answer back:
/// let answer = http::Response::builder().status(200).body(
///     r#"{"2faRequired":true,"2faDetails":{"token":"b2fcf999-2b0b-451d-9888-094a79117aa5",
///         "provider":"email","expiresAt":"2022-01-01T00:00:00+00:00"}}"#,
/// )?;
/// let step = flow.handle_response(&answer, now)?;
/// assert!(matches!(step, StaffStep::EmailCode { ref provider, .. } if provider == "email"));
///
/// let Outgoing::Request(request) = flow.submit_code("123456", now)? else {
///     unreachable!("the first code is within the limit");
/// };
/// assert_eq!(request.uri(), "https://host.name/api/v2/2fa/confirm");
/// # Ok(()) }
/// ```
///
/// The flow serializes with serde to be parked between browser requests; the serialized
/// form holds whatever secrets are in flight (a password awaiting its answer, the 2FA
/// token, a code) and must be stored like one. `Debug` never shows them.
#[derive(Debug, Clone, PartialEq)]
pub struct StaffSignIn {
    driver: Driver<State>,
}

crate::flow::driven_flow!(
    StaffSignIn,
    StaffStep,
    StaffState,
    deadline = |flow: &StaffSignIn| flow.driver.retry_at(),
    retry = StaffSignIn::retry_unless_expired
);

crate::parked::parked!(StaffSignIn { driver: Driver<State> });

/// A parked staff sign-in holds what the flow's steps put in it: an email and password
/// and codes that passed the checks made before they were sent, and 2FA details as the
/// sign-in answer's are checked.
impl CheckParked for State {
    fn check_parked(&self) -> Result<(), Error> {
        match self {
            Self::Credentials { email, .. } => email.as_deref().map_or(Ok(()), input::email),
            Self::AwaitSignIn { email, password } => {
                input::email(email)?;
                input::password("password", password.expose())
            }
            Self::EmailCode { email, tfa, .. } => {
                input::email(email)?;
                tfa.check_parked()
            }
            Self::AwaitConfirm { email, tfa, code } => {
                input::email(email)?;
                tfa.check_parked()?;
                input::text("code", code.expose())
            }
            Self::Done => Ok(()),
        }
    }
}

/// As [`TwoFactor::from_wire`] checks the sign-in answer's `2faDetails`.
impl CheckParked for TwoFactor {
    fn check_parked(&self) -> Result<(), Error> {
        let token = self.token.expose();
        if token.len() > MAX_TFA_TOKEN_LEN {
            return Err(Error::invalid("2FA token", "is longer than the limit"));
        }
        check_token_text(token).map_err(|reason| Error::invalid("2FA token", reason))?;
        if self.provider.len() > MAX_FIELD_LEN {
            return Err(Error::invalid("2FA provider", "is too long"));
        }
        if self.expires_at < std::time::UNIX_EPOCH {
            return Err(Error::invalid("2FA token", "expires before 1970"));
        }
        Ok(())
    }
}

impl StaffSignIn {
    /// A flow for this host, with the page's limits: 5 sign-ins and 3 confirmations a
    /// minute.
    pub fn new(endpoint: Endpoint) -> Self {
        Self::with_guards(endpoint, StaffGuards::default())
    }

    /// A flow that continues counting on `guards` (e.g. from an earlier flow of the same
    /// account, see [`StaffSignIn::into_guards`]).
    pub fn with_guards(endpoint: Endpoint, guards: StaffGuards) -> Self {
        let initial = State::Credentials {
            email: None,
            rejected: None,
        };
        Self {
            driver: Driver::new(endpoint, guards, initial),
        }
    }

    /// The rate-limit counters.
    pub fn guards(&self) -> &StaffGuards {
        self.driver.guards()
    }

    /// Ends the flow and keeps its counters for the next one.
    pub fn into_guards(self) -> StaffGuards {
        self.driver.into_guards()
    }

    /// The email of the last sign-in the server refused (or whose 2FA token it declared
    /// expired), so the form can be refilled.
    pub fn last_email(&self) -> Option<&str> {
        match self.driver.state() {
            Some(State::Credentials { email, .. }) => email.as_deref(),
            _ => None,
        }
    }

    /// `POST /api/v2/signin` with the email and password.
    ///
    /// Allowed at [`StaffStep::Credentials`] (new or refused), at [`StaffStep::EmailCode`]
    /// (to start over, e.g. once the 2FA token expired; the old token is dropped) and at
    /// [`StaffStep::RetryAt`] (the sign-in counter still holds any block the server
    /// announced for sign-ins). Not while a request is outstanding, nor once done.
    ///
    /// Checked before anything is sent: a plausible email and a non-empty password. A 6th
    /// sign-in inside a minute is not sent: the flow holds it and waits
    /// ([`Outgoing::RetryAt`]), as after a server's 429.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an email or password that fails those checks;
    /// [`Error::OutOfOrder`] while a request is outstanding, and once signed in.
    pub fn sign_in(
        &mut self,
        email: &str,
        password: impl Into<Secret<String>>,
        now: SystemTime,
    ) -> Result<Outgoing, Error> {
        match self.driver.state() {
            None | Some(State::Credentials { .. } | State::EmailCode { .. }) => {}
            Some(_) => return Err(self.driver.out_of_order("sign_in")),
        }
        let password = password.into();
        input::email(email)?;
        input::password("password", password.expose())?;
        let next = State::AwaitSignIn {
            email: Arc::from(email),
            password,
        };
        self.driver.send(next, "sign_in", now)
    }

    /// `POST /api/v2/2fa/confirm` with the 2FA token and the emailed code.
    ///
    /// Allowed at [`StaffStep::EmailCode`]. Checked before anything is sent, in this order:
    /// the 2FA token has not expired (`now < expires_at`, else
    /// `Error::InvalidInput { field: "2FA token", reason: "expired: sign in again" }`: call
    /// [`StaffSignIn::sign_in`]) and the code is non-empty text. A 4th code inside a minute
    /// is not sent: the flow holds it and waits ([`Outgoing::RetryAt`]).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an expired 2FA token or a code that fails the input
    /// checks; [`Error::OutOfOrder`] unless the flow asks for the emailed code.
    pub fn submit_code(
        &mut self,
        code: impl Into<Secret<String>>,
        now: SystemTime,
    ) -> Result<Outgoing, Error> {
        let Some(State::EmailCode { email, tfa, .. }) = self.driver.state() else {
            return Err(self.driver.out_of_order("submit_code"));
        };
        if now >= tfa.expires_at {
            return Err(Error::invalid("2FA token", "expired: sign in again"));
        }
        let code = code.into();
        input::text("code", code.expose())?;
        let next = State::AwaitConfirm {
            email: email.clone(),
            tfa: tfa.clone(),
            code,
        };
        self.driver.send(next, "submit_code", now)
    }

    /// [`Flow::retry`](crate::Flow::retry) for a staff sign-in: a held or unanswered code
    /// confirmation is not sent again once its 2FA token has expired (it could only be
    /// refused), the same refusal as [`StaffSignIn::submit_code`]'s: call
    /// [`StaffSignIn::sign_in`].
    fn retry_unless_expired(&mut self, now: SystemTime) -> Result<Outgoing, Error> {
        if let State::AwaitConfirm { tfa, .. } = self.driver.latest_state() {
            if now >= tfa.expires_at {
                return Err(Error::invalid("2FA token", "expired: sign in again"));
            }
        }
        self.driver.retry(now)
    }
}
