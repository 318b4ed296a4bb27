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
//! [`StaffGuards`] before sending (an attempt over the limit is [`Error::RateLimited`] and
//! nothing is sent). A 429 gives [`StaffStep::RetryAt`] (`Retry-After` in seconds or as an
//! HTTP date; 60 s without one) and [`StaffSignIn::retry`](crate::Flow::retry) sends the same request again.
//!
//! Refresh and sign-out of the resulting tokens live in the session module, not here.
//!
//! ## Transitions
//!
//! The documented transitions, as [`TRANSITIONS`] declares them (a test keeps this table
//! and the constant equal; the model-based tests fail if a row is never exercised). States
//! are named as [`StaffSignIn::state`](crate::Flow::state) names them; answers by status
//! (`2xx`: any success status) and, for a success to the sign-in, by `2faRequired`. A `retry` while awaiting is the resend after a transport
//! error.
//!
//! | from | event | to |
//! |---|---|---|
//! | asking for credentials | sign_in | waiting for the sign-in answer |
//! | waiting for the sign-in answer | 2xx `2faRequired: false` | signed in |
//! | waiting for the sign-in answer | 2xx `2faRequired: true` | asking for the emailed 2FA code |
//! | waiting for the sign-in answer | 4xx | asking for credentials |
//! | waiting for the sign-in answer | 429 | rate limited |
//! | waiting for the sign-in answer | retry | waiting for the sign-in answer |
//! | asking for the emailed 2FA code | submit_code | waiting for the 2FA confirmation answer |
//! | asking for the emailed 2FA code | sign_in | waiting for the sign-in answer |
//! | waiting for the 2FA confirmation answer | 2xx | signed in |
//! | waiting for the 2FA confirmation answer | 401 | asking for credentials |
//! | waiting for the 2FA confirmation answer | 4xx but 401 | asking for the emailed 2FA code |
//! | waiting for the 2FA confirmation answer | 429 | rate limited |
//! | waiting for the 2FA confirmation answer | retry | waiting for the 2FA confirmation answer |
//! | rate limited | retry | waiting for the sign-in answer |
//! | rate limited | retry | waiting for the 2FA confirmation answer |
//! | rate limited | sign_in | waiting for the sign-in answer |

use std::sync::Arc;
use std::time::SystemTime;

use http::Request;
use serde::{Deserialize, Serialize};

use crate::decode;
use crate::deviation::Answer;
use crate::endpoint::Endpoint;
use crate::error::{ApiError, Error};
use crate::guard::AttemptGuard;
use crate::input::{self, MAX_FIELD_LEN};
use crate::machine::{row, Advance, Driver, Protocol, Transition, RATE_LIMITED};
use crate::parked::CheckParked;
use crate::secret::Secret;
use crate::time::parse_rfc3339;
use crate::token::{check_token_text, TokenPair};
use crate::wire;

/// The documented transitions of the staff sign-in (see the module docs).
pub const TRANSITIONS: &[Transition] = &[
    row(CREDENTIALS, "sign_in", AWAIT_SIGN_IN),
    row(AWAIT_SIGN_IN, "2xx `2faRequired: false`", DONE),
    row(AWAIT_SIGN_IN, "2xx `2faRequired: true`", EMAIL_CODE),
    row(AWAIT_SIGN_IN, "4xx", CREDENTIALS),
    row(AWAIT_SIGN_IN, "429", RATE_LIMITED),
    row(AWAIT_SIGN_IN, "retry", AWAIT_SIGN_IN),
    row(EMAIL_CODE, "submit_code", AWAIT_CONFIRM),
    row(EMAIL_CODE, "sign_in", AWAIT_SIGN_IN),
    row(AWAIT_CONFIRM, "2xx", DONE),
    row(AWAIT_CONFIRM, "401", CREDENTIALS),
    row(AWAIT_CONFIRM, "4xx but 401", EMAIL_CODE),
    row(AWAIT_CONFIRM, "429", RATE_LIMITED),
    row(AWAIT_CONFIRM, "retry", AWAIT_CONFIRM),
    row(RATE_LIMITED, "retry", AWAIT_SIGN_IN),
    row(RATE_LIMITED, "retry", AWAIT_CONFIRM),
    row(RATE_LIMITED, "sign_in", AWAIT_SIGN_IN),
];

// State names, as `StaffSignIn::state` gives them and the table uses them.
const CREDENTIALS: &str = "asking for credentials";
const AWAIT_SIGN_IN: &str = "waiting for the sign-in answer";
const EMAIL_CODE: &str = "asking for the emailed 2FA code";
const AWAIT_CONFIRM: &str = "waiting for the 2FA confirmation answer";
const DONE: &str = "signed in";

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
/// use b2core_auth::{backoffice::{StaffGuards, StaffSignIn}, Endpoint, Error};
///
/// let endpoint = Endpoint::new("https://host.name").unwrap();
/// let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let mut guards = StaffGuards::default();
/// for i in 0..5 {
///     let mut flow = StaffSignIn::with_guards(endpoint.clone(), guards);
///     let _request = flow.sign_in("foo@bar.com", "Secret123", t0 + Duration::from_secs(i)).unwrap();
///     guards = flow.into_guards(); // e.g. the user gave up and reloaded the page
/// }
/// let mut flow = StaffSignIn::with_guards(endpoint, guards);
/// assert_eq!(
///     flow.sign_in("foo@bar.com", "Secret123", t0 + Duration::from_secs(10)).unwrap_err(),
///     Error::RateLimited { retry_at: t0 + Duration::from_secs(60) },
/// );
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
/// let flow = StaffSignIn::new(Endpoint::new("https://host.name").unwrap());
/// // A new flow asks for credentials.
/// assert_eq!(flow.current_step(), Some(StaffStep::Credentials { rejected: None }));
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
    /// Rate limited: wait until this instant, then call [`StaffSignIn::retry`](crate::Flow::retry).
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

    fn describe(&self) -> &'static str {
        match self {
            Self::Credentials { .. } => CREDENTIALS,
            Self::AwaitSignIn { .. } => AWAIT_SIGN_IN,
            Self::EmailCode { .. } => EMAIL_CODE,
            Self::AwaitConfirm { .. } => AWAIT_CONFIRM,
            Self::Done => DONE,
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

    fn advance(&self, answer: &mut Answer<'_>, _now: SystemTime) -> Result<Advance<Self>, Error> {
        let (step, body) = (answer.step, answer.body);
        match self {
            Self::AwaitSignIn { email, .. } => {
                let answer: wire::StaffSignInResponse = decode::bare(step, body)?;
                if answer.tfa_required {
                    let details = answer.tfa_details.as_ref().ok_or_else(|| {
                        Error::malformed(step, "2faDetails", "missing while 2faRequired is true")
                    })?;
                    Ok(Advance::To(Self::EmailCode {
                        email: email.clone(),
                        tfa: Arc::new(TwoFactor::from_wire(step, details)?),
                        rejected: None,
                    }))
                } else {
                    let tokens = TokenPair::from_wire_parts(
                        answer.access_token.as_ref(),
                        answer.refresh_token.as_ref(),
                        step,
                    )?
                    .ok_or_else(|| {
                        Error::malformed(step, "accessToken", "missing while 2faRequired is false")
                    })?;
                    Ok(Advance::Finish(Self::Done, tokens))
                }
            }
            Self::AwaitConfirm { .. } => {
                let answer: wire::TokenPair = decode::bare(step, body)?;
                Ok(Advance::Finish(
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
/// use b2core_auth::{backoffice::{StaffSignIn, StaffStep}, Endpoint};
/// use b2core_auth::Flow;
///
/// let now = UNIX_EPOCH + Duration::from_secs(1_640_995_000); // before 2022-01-01
/// let mut flow = StaffSignIn::new(Endpoint::new("https://host.name").unwrap());
/// let request = flow.sign_in("foo@bar.com", "Secret123", now).unwrap();
/// assert_eq!(request.uri(), "https://host.name/api/v2/signin");
///
/// // ... send it with any HTTP client, then hand the answer back:
/// let answer = http::Response::builder().status(200).body(
///     r#"{"2faRequired":true,"2faDetails":{"token":"b2fcf999-2b0b-451d-9888-094a79117aa5",
///         "provider":"email","expiresAt":"2022-01-01T00:00:00+00:00"}}"#,
/// ).unwrap();
/// let step = flow.handle_response(&answer, now).unwrap();
/// assert!(matches!(step, StaffStep::EmailCode { ref provider, .. } if provider == "email"));
///
/// let request = flow.submit_code("123456", now).unwrap();
/// assert_eq!(request.uri(), "https://host.name/api/v2/2fa/confirm");
/// ```
///
/// The flow serializes with serde to be parked between browser requests; the serialized
/// form holds whatever secrets are in flight (a password awaiting its answer, the 2FA
/// token, a code) and must be stored like one. `Debug` never shows them.
#[derive(Debug, Clone, PartialEq)]
pub struct StaffSignIn {
    driver: Driver<State>,
}

crate::flow::driven_flow!(StaffSignIn, StaffStep);

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
    /// Checked before anything is sent: a plausible email, a non-empty password, and the
    /// sign-in counter (a 6th sign-in inside a minute is [`Error::RateLimited`]).
    pub fn sign_in(
        &mut self,
        email: &str,
        password: impl Into<Secret<String>>,
        now: SystemTime,
    ) -> Result<Request<Vec<u8>>, Error> {
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
        self.driver.send(next, Some(now))
    }

    /// `POST /api/v2/2fa/confirm` with the 2FA token and the emailed code.
    ///
    /// Allowed at [`StaffStep::EmailCode`]. Checked before anything is sent, in this order:
    /// the 2FA token has not expired (`now < expires_at`, else
    /// `Error::InvalidInput { field: "2FA token", reason: "expired: sign in again" }`: call
    /// [`StaffSignIn::sign_in`]), the code is non-empty text, and the confirmation counter
    /// (a 4th code inside a minute is [`Error::RateLimited`]).
    pub fn submit_code(
        &mut self,
        code: impl Into<Secret<String>>,
        now: SystemTime,
    ) -> Result<Request<Vec<u8>>, Error> {
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
        self.driver.send(next, Some(now))
    }
}
