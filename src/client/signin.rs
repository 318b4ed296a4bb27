//! The client sign-in wizard (`spec/client-signin.txt`), step by step as the vendor's
//! tutorial tells it:
//!
//! 1. `GET /api/v2/my/signin/wizard` — [`SignIn::start`]; the answer asks for
//!    [`SignInStep::Credentials`].
//! 2. `POST /api/v2/my/signin` — [`SignIn::submit_credentials`]; the answer's `workflow`
//!    leads to [`SignInStep::Done`] (`Terminate`), [`SignInStep::Code`] (`2fa_google_auth`,
//!    `2fa_sms_auth`), [`SignInStep::ChooseMethod`] (`2fa`) or
//!    [`SignInStep::PasswordResetRequired`] (`reset_password_email`).
//! 3. `POST /api/v2/my/signin/2fa` — [`SignIn::choose_method`], when both methods are on.
//! 4. `POST /api/v2/my/2fa/google` or `/api/v2/my/2fa/sms` — [`SignIn::submit_code`].
//!
//! Forced reset: `POST .../signin/password/restore` ([`SignIn::request_reset_code`]) sends
//! a code to the client's email, `POST .../signin/password/reset` ([`SignIn::reset_password`])
//! sets the new password, and the client signs in again from step 1. The pages publish
//! these paths but not their bodies: the field names are inferred (see `wire::inferred`).
//!
//! Every call takes `now` last and returns an [`Outgoing`]: the one request to send, or
//! [`Outgoing::RetryAt`] when the attempt guard holds it; every response goes to
//! [`SignIn::handle_response`](crate::Flow::handle_response). An `Err` from any call leaves
//! the flow exactly as it was.
//!
//! ## Transitions
//!
//! The documented transitions are [`TRANSITIONS`], in the states of [`SignInState`]; the
//! driver refuses any move that is not one of its rows. Answers are named by their
//! `workflow`, which decides the next step whatever the 2xx status (hosts send `202`
//! answers as HTTP 200 or 202). An answer's `code` and `done` are compared with its
//! workflow and a disagreement is a [`Deviation`](crate::Deviation), never a reason to
//! refuse it. A workflow the table does not list after the request is refused
//! ([`Error::Malformed`], field `workflow`, the flow unchanged); only the credentials step
//! may lead to a workflow the page does not name at all. A forced reset of an account with
//! 2FA answers the correct code with `reset_password_email`, and [`SignIn::start`]
//! abandons the wizard from any step where no request is outstanding. A rate limit (a 429,
//! or the attempt guard refusing `submit_credentials`) waits in `RateLimited`; `retry`
//! sends the request it holds once the wait is over, and also resends an outstanding
//! request whose answer never came. A `start` meanwhile puts a new wizard in the held
//! request's place, held until the same instant.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::Request;
use serde::{Deserialize, Serialize};

use crate::decode::{self, Expect};
use crate::deviation::Answer;
use crate::endpoint::Endpoint;
use crate::error::{ApiError, Error};
use crate::fingerprint::DeviceFingerprint;
use crate::flow::Outgoing;
use crate::guard::AttemptGuard;
use crate::input;
use crate::machine::{Advance, Driver, Protocol};
use crate::parked::{self, CheckParked};
use crate::secret::Secret;
use crate::table::{self, Event};
use crate::token::TokenPair;
use crate::wire::{self, inferred};

crate::table::states! {
    /// Where a sign-in is: the states of [`TRANSITIONS`]. [`Flow::state`](crate::Flow::state)
    /// returns it.
    ///
    /// ```
    /// use b2core_auth::client::{signin::SignInState, SignIn};
    /// use b2core_auth::{Endpoint, Flow};
    ///
    /// # fn main() -> Result<(), b2core_auth::Error> {
    /// let flow = SignIn::new(Endpoint::new("https://host.name")?);
    /// assert_eq!(flow.state(), SignInState::New);
    /// assert_eq!(flow.state().to_string(), "not started");
    /// # Ok(()) }
    /// ```
    pub enum SignInState {
        /// Before [`SignIn::start`].
        New => "not started",
        /// `GET /api/v2/my/signin/wizard` is outstanding.
        AwaitWizard => "waiting for the wizard",
        /// [`SignInStep::Credentials`]: call [`SignIn::submit_credentials`].
        Credentials => "asking for credentials",
        /// `POST /api/v2/my/signin` is outstanding.
        AwaitCredentials => "waiting for the credentials answer",
        /// [`SignInStep::ChooseMethod`]: call [`SignIn::choose_method`].
        ChooseMethod => "asking for a 2FA method",
        /// `POST /api/v2/my/signin/2fa` is outstanding.
        AwaitMethod => "waiting for the method answer",
        /// [`SignInStep::Code`]: call [`SignIn::submit_code`].
        Code => "asking for a 2FA code",
        /// `POST /api/v2/my/2fa/google` or `/sms` is outstanding.
        AwaitCode => "waiting for the code answer",
        /// [`SignInStep::PasswordResetRequired`]: call [`SignIn::request_reset_code`].
        ResetRequired => "asking to reset the password",
        /// `POST /api/v2/my/signin/password/restore` is outstanding.
        AwaitRestore => "waiting for the reset code to be sent",
        /// [`SignInStep::ResetCode`]: call [`SignIn::reset_password`].
        ResetCode => "asking for the reset code and a new password",
        /// `POST /api/v2/my/signin/password/reset` is outstanding.
        AwaitReset => "waiting for the password reset answer",
        /// [`SignInStep::PasswordChanged`]: call [`SignIn::start`] again.
        PasswordChanged => "done with the password reset",
        /// [`SignInStep::Unsupported`]: only [`SignIn::start`] goes on.
        Unsupported => "stopped at an unsupported workflow",
        /// [`SignInStep::RetryAt`]: a request waits out a rate limit.
        RateLimited => "rate limited",
        /// [`SignInStep::Done`]: final.
        SignedIn => "signed in",
    }
}

crate::table::transitions! {
    /// The documented transitions of the sign-in wizard (see the module docs), generated
    /// into this table from the constant's own rows.
    pub const TRANSITIONS: [SignInState] = [
        (New, Call("start"), AwaitWizard),
        (AwaitWizard, Answer("2xx `login`"), Credentials),
        (Credentials, Call("submit_credentials"), AwaitCredentials),
        (Credentials, Call("submit_credentials"), RateLimited),
        (AwaitCredentials, Answer("2xx `Terminate`"), SignedIn),
        (AwaitCredentials, Answer("2xx `2fa_google_auth`"), Code),
        (AwaitCredentials, Answer("2xx `2fa_sms_auth`"), Code),
        (AwaitCredentials, Answer("2xx `2fa`"), ChooseMethod),
        (AwaitCredentials, Answer("2xx `reset_password_email`"), ResetRequired),
        (AwaitCredentials, Answer("2xx other workflow"), Unsupported),
        (AwaitCredentials, Answer("4xx"), Credentials),
        (ChooseMethod, Call("choose_method"), AwaitMethod),
        (AwaitMethod, Answer("2xx `2fa_google_auth`"), Code),
        (AwaitMethod, Answer("2xx `2fa_sms_auth`"), Code),
        (AwaitMethod, Answer("4xx"), ChooseMethod),
        (Code, Call("submit_code"), AwaitCode),
        (AwaitCode, Answer("2xx `Terminate`"), SignedIn),
        (AwaitCode, Answer("2xx `reset_password_email`"), ResetRequired),
        (AwaitCode, Answer("4xx"), Code),
        (ResetRequired, Call("request_reset_code"), AwaitRestore),
        (AwaitRestore, Answer("2xx"), ResetCode),
        (AwaitRestore, Answer("4xx"), ResetRequired),
        (ResetCode, Call("reset_password"), AwaitReset),
        (AwaitReset, Answer("2xx"), PasswordChanged),
        (AwaitReset, Answer("4xx"), ResetCode),
        (PasswordChanged, Call("start"), AwaitWizard),
        (Credentials, Call("start"), AwaitWizard),
        (ChooseMethod, Call("start"), AwaitWizard),
        (Code, Call("start"), AwaitWizard),
        (ResetRequired, Call("start"), AwaitWizard),
        (ResetCode, Call("start"), AwaitWizard),
        (Unsupported, Call("start"), AwaitWizard),
        // Started over while a rate limit holds an attempt: the wizard takes its place,
        // held until the wait ends.
        (RateLimited, Call("start"), RateLimited),
        (RateLimited, Call("start"), AwaitWizard),
        (AwaitWizard, Answer("429"), RateLimited),
        (AwaitCredentials, Answer("429"), RateLimited),
        (AwaitMethod, Answer("429"), RateLimited),
        (AwaitCode, Answer("429"), RateLimited),
        (AwaitRestore, Answer("429"), RateLimited),
        (AwaitReset, Answer("429"), RateLimited),
        (RateLimited, Call("retry"), RateLimited),
        (RateLimited, Call("retry"), AwaitWizard),
        (RateLimited, Call("retry"), AwaitCredentials),
        (RateLimited, Call("retry"), AwaitMethod),
        (RateLimited, Call("retry"), AwaitCode),
        (RateLimited, Call("retry"), AwaitRestore),
        (RateLimited, Call("retry"), AwaitReset),
        (AwaitWizard, Call("retry"), AwaitWizard),
        (AwaitCredentials, Call("retry"), AwaitCredentials),
        (AwaitCredentials, Call("retry"), RateLimited),
        (AwaitMethod, Call("retry"), AwaitMethod),
        (AwaitCode, Call("retry"), AwaitCode),
        (AwaitRestore, Call("retry"), AwaitRestore),
        (AwaitReset, Call("retry"), AwaitReset),
    ];
}

// The workflows the sign-in page names.
const LOGIN: &str = "login";
const TERMINATE: &str = "Terminate";
const GOOGLE: &str = "2fa_google_auth";
const SMS: &str = "2fa_sms_auth";
const CHOOSE: &str = "2fa";
const RESET_EMAIL: &str = "reset_password_email";
const WORKFLOWS: [&str; 6] = [LOGIN, TERMINATE, GOOGLE, SMS, CHOOSE, RESET_EMAIL];
/// Each named workflow's answer, as [`TRANSITIONS`] writes it (same order as `WORKFLOWS`).
const WORKFLOW_EVENTS: [Event; 6] = [
    Event::Answer("2xx `login`"),
    Event::Answer("2xx `Terminate`"),
    Event::Answer("2xx `2fa_google_auth`"),
    Event::Answer("2xx `2fa_sms_auth`"),
    Event::Answer("2xx `2fa`"),
    Event::Answer("2xx `reset_password_email`"),
];
/// An answer with a workflow the pages do not name.
const OTHER_WORKFLOW: Event = Event::Answer("2xx other workflow");

const WIZARD_PATH: &str = "/api/v2/my/signin/wizard";
const SIGN_IN_PATH: &str = "/api/v2/my/signin";
const CHOOSE_METHOD_PATH: &str = "/api/v2/my/signin/2fa";
const CODE_GOOGLE_PATH: &str = "/api/v2/my/2fa/google";
const CODE_SMS_PATH: &str = "/api/v2/my/2fa/sms";
const RESTORE_PATH: &str = "/api/v2/my/signin/password/restore";
const RESET_PATH: &str = "/api/v2/my/signin/password/reset";

/// The documented block after too many sign-in attempts: a 429 without `Retry-After`
/// on the credentials step waits this long.
const SIGN_IN_BLOCK: Duration = Duration::from_secs(10 * 60);
/// The wait after a 429 without `Retry-After` on any other step.
const DEFAULT_WAIT: Duration = Duration::from_secs(60);

/// What the sign-in page shows, from the wizard's first answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WizardOptions {
    /// `recaptcha.enabled`: a reCAPTCHA response must go with the credentials.
    pub recaptcha_enabled: bool,
    /// `is_qr_available`: the page may offer QR sign-in (not driven by this crate).
    pub qr_available: bool,
    /// `is_password_recovery_available`: the page may show a password-recovery link.
    pub password_recovery_available: bool,
}

/// A 2FA method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Method {
    /// `google`: a code from the Google Authenticator app.
    Google,
    /// `sms`: a code sent to the client's phone.
    Sms,
}

impl Method {
    /// The name the API uses: `google` or `sms`.
    ///
    /// ```
    /// assert_eq!(b2core_auth::client::Method::Sms.as_str(), "sms");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Google => "google",
            Self::Sms => "sms",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "google" => Some(Self::Google),
            "sms" => Some(Self::Sms),
            _ => None,
        }
    }

    fn code_path(self) -> &'static str {
        match self {
            Self::Google => CODE_GOOGLE_PATH,
            Self::Sms => CODE_SMS_PATH,
        }
    }
}

/// What the client types on the sign-in page.
///
/// ```
/// use b2core_auth::{client::Credentials, DeviceFingerprint};
///
/// # fn main() -> Result<(), b2core_auth::Error> {
/// let fp = DeviceFingerprint::from_user_agent("my-app/1.0")?;
/// let creds = Credentials::new("username@example.com", "QAzqw123!", fp).with_recaptcha("03AGdBq2...");
/// assert!(!format!("{creds:?}").contains("QAzqw123!"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    email: String,
    password: Secret<String>,
    fingerprint: DeviceFingerprint,
    recaptcha: Option<Secret<String>>,
}

impl Credentials {
    /// Email, password and the device's fingerprint.
    pub fn new(
        email: impl Into<String>,
        password: impl Into<Secret<String>>,
        fingerprint: DeviceFingerprint,
    ) -> Self {
        Self {
            email: email.into(),
            password: password.into(),
            fingerprint,
            recaptcha: None,
        }
    }

    /// Adds the reCAPTCHA response token (required when [`WizardOptions::recaptcha_enabled`]).
    #[must_use]
    pub fn with_recaptcha(mut self, response: impl Into<Secret<String>>) -> Self {
        self.recaptcha = Some(response.into());
        self
    }

    /// The email.
    pub fn email(&self) -> &str {
        &self.email
    }

    fn check(&self, options: WizardOptions) -> Result<(), Error> {
        input::email(&self.email)?;
        input::password("password", self.password.expose())?;
        match &self.recaptcha {
            Some(r) => input::text("recaptchaResponse", r.expose()),
            None if options.recaptcha_enabled => Err(Error::invalid(
                "recaptchaResponse",
                "is required: the wizard enabled reCAPTCHA",
            )),
            None => Ok(()),
        }
    }
}

/// What the sign-in flow needs next. Each variant says what the caller must do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub enum SignInStep {
    /// Ask for email and password, then call [`SignIn::submit_credentials`]. `rejected`
    /// carries the server's refusal of the previous attempt (wrong password).
    Credentials {
        /// What the page shows (reCAPTCHA required, QR, recovery link).
        options: WizardOptions,
        /// The server's refusal of the previous attempt, if any.
        rejected: Option<ApiError>,
    },
    /// Let the user pick one of `methods`, then call [`SignIn::choose_method`].
    ChooseMethod {
        /// The enabled methods, in the server's order.
        methods: Vec<Method>,
        /// The server's refusal of the previous choice, if any.
        rejected: Option<ApiError>,
    },
    /// Ask for the code of `method`, then call [`SignIn::submit_code`].
    Code {
        /// Where the code comes from.
        method: Method,
        /// The server's refusal of the previous code (wrong code), if any.
        rejected: Option<ApiError>,
    },
    /// The admin forced a password reset: call [`SignIn::request_reset_code`] to have a
    /// verification code sent to the client's email.
    PasswordResetRequired {
        /// The server's refusal of the previous request, if any.
        rejected: Option<ApiError>,
    },
    /// A code was sent to the client's email: ask for it and a new password, then call
    /// [`SignIn::reset_password`].
    ResetCode {
        /// The server's refusal of the previous attempt, if any.
        rejected: Option<ApiError>,
    },
    /// The password was changed: call [`SignIn::start`] and sign in with the new one.
    PasswordChanged,
    /// Rate limited (a server's 429, or the attempt guard holding a
    /// [`SignIn::submit_credentials`], which then returned [`Outgoing::RetryAt`]): the flow
    /// holds the request; wait until this instant (also
    /// [`Flow::next_deadline`](crate::Flow::next_deadline)), then call
    /// [`SignIn::retry`](crate::Flow::retry), which sends it.
    RetryAt(SystemTime),
    /// The server led to a workflow this crate does not model. The flow stops here; call
    /// [`SignIn::start`] to begin again. `data` may hold secrets, hence the wrapper.
    Unsupported {
        /// The server's `workflow`.
        workflow: String,
        /// The server's `data`.
        data: Secret<serde_json::Value>,
    },
    /// Signed in. The flow is finished; turn the tokens into a session.
    Done(TokenPair),
}

/// Where the flow is. Private: the public face is [`SignInStep`] and the getters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum State {
    New,
    AwaitWizard,
    Credentials {
        uuid: Uuid,
        options: WizardOptions,
        email: Option<String>,
        rejected: Option<ApiError>,
    },
    AwaitCredentials {
        uuid: Uuid,
        options: WizardOptions,
        credentials: Credentials,
    },
    ChooseMethod {
        uuid: Uuid,
        methods: Vec<Method>,
        rejected: Option<ApiError>,
    },
    AwaitMethod {
        uuid: Uuid,
        methods: Vec<Method>,
        chosen: Method,
    },
    Code {
        uuid: Uuid,
        method: Method,
        rejected: Option<ApiError>,
    },
    AwaitCode {
        uuid: Uuid,
        method: Method,
        code: Secret<String>,
    },
    ResetRequired {
        uuid: Uuid,
        rejected: Option<ApiError>,
    },
    AwaitRestore {
        uuid: Uuid,
    },
    ResetCode {
        uuid: Uuid,
        rejected: Option<ApiError>,
    },
    AwaitReset {
        uuid: Uuid,
        code: Secret<String>,
        new_password: Secret<String>,
    },
    PasswordChanged,
    Unsupported {
        workflow: String,
        data: Secret<serde_json::Value>,
    },
    Done,
}

/// The wizard's `uuid`, shared by the states of one flow: a step costs no copy of it.
type Uuid = Arc<str>;

impl State {
    fn uuid(&self) -> Option<&str> {
        self.shared_uuid().map(|uuid| &**uuid)
    }

    /// The `uuid` for the next state: the flow's own once it has one (the decoder has
    /// checked that the answer repeats it), else the answer's.
    fn next_uuid(&self, uuid: &str) -> Uuid {
        self.shared_uuid()
            .cloned()
            .unwrap_or_else(|| Uuid::from(uuid))
    }

    fn shared_uuid(&self) -> Option<&Uuid> {
        match self {
            Self::Credentials { uuid, .. }
            | Self::AwaitCredentials { uuid, .. }
            | Self::ChooseMethod { uuid, .. }
            | Self::AwaitMethod { uuid, .. }
            | Self::Code { uuid, .. }
            | Self::AwaitCode { uuid, .. }
            | Self::ResetRequired { uuid, .. }
            | Self::AwaitRestore { uuid }
            | Self::ResetCode { uuid, .. }
            | Self::AwaitReset { uuid, .. } => Some(uuid),
            _ => None,
        }
    }

    /// Where the server's `workflow` leads (steps 1 to 4 all answer this way). The
    /// workflow decides; `code` and `done` are only compared with it.
    fn follow_workflow(
        &self,
        answer: &mut Answer<'_>,
        wizard: decode::SignInAnswer<'_>,
    ) -> Result<Advance<Self>, Error> {
        let step = answer.step;
        let workflow = &*wizard.workflow;
        // Errors and deviations name a workflow only when the page does: the text of an
        // unknown one (any length, any characters) is the host's, not ours to print.
        let named = WORKFLOWS.iter().position(|&known| known == workflow);
        let event = named.map_or(OTHER_WORKFLOW, |i| WORKFLOW_EVENTS[i]);
        // The table decides which workflows may answer this request.
        if !table::has_event(TRANSITIONS, &self.state(), event) {
            let reason = match named {
                Some(i) => format!("`{}` does not answer this request", WORKFLOWS[i]),
                None => "names a step the pages do not list after this request".to_owned(),
            };
            return Err(answer.malformed("workflow", reason));
        }
        let shown = ShownWorkflow(named.map(|i| WORKFLOWS[i]));
        // The current page: `code` 202 and `done: true` only when signed in. Another
        // published version answers the wizard init with both: noted, never decisive.
        let signed_in = workflow == TERMINATE;
        if let Some(code) = wizard.code.filter(|&code| (code == 202) != signed_in) {
            let found = format!("`code` {code} with {shown}");
            answer.deviate("code", "202 only with `Terminate`, else 200", found);
        }
        if let Some(done) = wizard.done.filter(|&done| done != signed_in) {
            let found = format!("`done` {done} with {shown}");
            answer.deviate("done", "true only with `Terminate`", found);
        }
        let uuid = self.next_uuid(&wizard.uuid);
        let next = match workflow {
            LOGIN => {
                let data: wire::SignInWizardData = wizard.data.first(step)?;
                let recaptcha = data.recaptcha.and_then(|r| r.enabled);
                Self::Credentials {
                    uuid,
                    options: WizardOptions {
                        recaptcha_enabled: recaptcha == Some(true),
                        qr_available: data.is_qr_available == Some(true),
                        password_recovery_available: data.is_password_recovery_available
                            == Some(true),
                    },
                    email: None,
                    rejected: None,
                }
            }
            TERMINATE => {
                let data: wire::SignInData = wizard.data.next(step)?;
                let tokens = TokenPair::from_wire_parts(
                    data.access_token.as_ref(),
                    data.refresh_token.as_ref(),
                    step,
                )?
                .ok_or_else(|| answer.malformed("data.accessToken", "missing when signed in"))?;
                return Ok(Advance::finish(Self::Done, tokens).on(event));
            }
            GOOGLE => Self::Code {
                uuid,
                method: Method::Google,
                rejected: None,
            },
            SMS => Self::Code {
                uuid,
                method: Method::Sms,
                rejected: None,
            },
            CHOOSE => {
                let data: wire::SignInData = wizard.data.next(step)?;
                Self::ChooseMethod {
                    uuid,
                    methods: offered_methods(step, &data.tfa_providers)?,
                    rejected: None,
                }
            }
            RESET_EMAIL => Self::ResetRequired {
                uuid,
                rejected: None,
            },
            other => Self::Unsupported {
                workflow: other.to_owned(),
                data: Secret::new(wizard.data.free(step)?),
            },
        };
        Ok(Advance::to(next).on(event))
    }
}

impl Protocol for State {
    type Step = SignInStep;
    type Done = TokenPair;
    type Guards = AttemptGuard;
    type State = SignInState;
    const TABLE: &'static [table::Transition<SignInState>] = TRANSITIONS;
    const RATE_LIMITED: SignInState = SignInState::RateLimited;

    fn state(&self) -> SignInState {
        match self {
            Self::New => SignInState::New,
            Self::AwaitWizard => SignInState::AwaitWizard,
            Self::Credentials { .. } => SignInState::Credentials,
            Self::AwaitCredentials { .. } => SignInState::AwaitCredentials,
            Self::ChooseMethod { .. } => SignInState::ChooseMethod,
            Self::AwaitMethod { .. } => SignInState::AwaitMethod,
            Self::Code { .. } => SignInState::Code,
            Self::AwaitCode { .. } => SignInState::AwaitCode,
            Self::ResetRequired { .. } => SignInState::ResetRequired,
            Self::AwaitRestore { .. } => SignInState::AwaitRestore,
            Self::ResetCode { .. } => SignInState::ResetCode,
            Self::AwaitReset { .. } => SignInState::AwaitReset,
            Self::PasswordChanged => SignInState::PasswordChanged,
            Self::Unsupported { .. } => SignInState::Unsupported,
            Self::Done => SignInState::SignedIn,
        }
    }

    fn awaiting(&self) -> Option<&'static str> {
        Some(match self {
            Self::AwaitWizard => "GET /api/v2/my/signin/wizard",
            Self::AwaitCredentials { .. } => "POST /api/v2/my/signin",
            Self::AwaitMethod { .. } => "POST /api/v2/my/signin/2fa",
            Self::AwaitCode {
                method: Method::Google,
                ..
            } => "POST /api/v2/my/2fa/google",
            Self::AwaitCode {
                method: Method::Sms,
                ..
            } => "POST /api/v2/my/2fa/sms",
            Self::AwaitRestore { .. } => "POST /api/v2/my/signin/password/restore",
            Self::AwaitReset { .. } => "POST /api/v2/my/signin/password/reset",
            _ => return None,
        })
    }

    fn request(&self, endpoint: &Endpoint) -> Result<Request<Vec<u8>>, Error> {
        match self {
            Self::AwaitWizard => endpoint.get(WIZARD_PATH),
            Self::AwaitCredentials {
                uuid, credentials, ..
            } => endpoint.post(
                SIGN_IN_PATH,
                &wire::SignInRequest {
                    uuid,
                    email: &credentials.email,
                    password: credentials.password.expose(),
                    device_fingerprint: credentials.fingerprint.encoded(),
                    recaptcha_response: credentials.recaptcha.as_ref().map(|r| r.expose().as_str()),
                },
            ),
            Self::AwaitMethod { uuid, chosen, .. } => endpoint.post(
                CHOOSE_METHOD_PATH,
                &wire::ChooseMethodRequest {
                    uuid,
                    method: chosen.as_str(),
                },
            ),
            Self::AwaitCode { uuid, method, code } => endpoint.post(
                method.code_path(),
                &wire::CodeRequest {
                    uuid,
                    code: code.expose(),
                },
            ),
            Self::AwaitRestore { uuid } => {
                endpoint.post(RESTORE_PATH, &inferred::PasswordRestoreRequest { uuid })
            }
            Self::AwaitReset {
                uuid,
                code,
                new_password,
            } => endpoint.post(
                RESET_PATH,
                &inferred::PasswordResetRequest {
                    uuid,
                    code: code.expose(),
                    password: new_password.expose(),
                    password_confirmation: new_password.expose(),
                },
            ),
            _ => Err(Error::internal(
                "a request was built in a state that awaits none",
            )),
        }
    }

    fn guard<'g>(&self, guard: &'g mut AttemptGuard) -> Option<&'g mut AttemptGuard> {
        matches!(self, Self::AwaitCredentials { .. }).then_some(guard)
    }

    fn default_wait(&self) -> Duration {
        match self {
            Self::AwaitCredentials { .. } => SIGN_IN_BLOCK,
            _ => DEFAULT_WAIT,
        }
    }

    fn refused(&self, error: ApiError) -> Option<Self> {
        let rejected = Some(error);
        Some(match self {
            Self::AwaitCredentials {
                uuid,
                options,
                credentials,
            } => Self::Credentials {
                uuid: uuid.clone(),
                options: *options,
                email: Some(credentials.email.clone()),
                rejected,
            },
            Self::AwaitMethod { uuid, methods, .. } => Self::ChooseMethod {
                uuid: uuid.clone(),
                methods: methods.clone(),
                rejected,
            },
            Self::AwaitCode { uuid, method, .. } => Self::Code {
                uuid: uuid.clone(),
                method: *method,
                rejected,
            },
            Self::AwaitRestore { uuid } => Self::ResetRequired {
                uuid: uuid.clone(),
                rejected,
            },
            Self::AwaitReset { uuid, .. } => Self::ResetCode {
                uuid: uuid.clone(),
                rejected,
            },
            _ => return None,
        })
    }

    fn advance(&self, answer: &mut Answer<'_>) -> Result<Advance<Self>, Error> {
        let expect = match self.uuid() {
            Some(uuid) => Expect::Wizard(uuid),
            None => Expect::NewWizard,
        };
        let wizard = decode::wizard(answer, expect)?;
        match self {
            // The reset bodies are inferred: any answer of this flow moves on.
            Self::AwaitRestore { .. } => Ok(Advance::to(Self::ResetCode {
                uuid: self.next_uuid(&wizard.uuid),
                rejected: None,
            })),
            Self::AwaitReset { .. } => Ok(Advance::to(Self::PasswordChanged)),
            _ => self.follow_workflow(answer, wizard),
        }
    }

    fn step(&self) -> Option<SignInStep> {
        Some(match self {
            Self::Credentials {
                options, rejected, ..
            } => SignInStep::Credentials {
                options: *options,
                rejected: rejected.clone(),
            },
            Self::ChooseMethod {
                methods, rejected, ..
            } => SignInStep::ChooseMethod {
                methods: methods.clone(),
                rejected: rejected.clone(),
            },
            Self::Code {
                method, rejected, ..
            } => SignInStep::Code {
                method: *method,
                rejected: rejected.clone(),
            },
            Self::ResetRequired { rejected, .. } => SignInStep::PasswordResetRequired {
                rejected: rejected.clone(),
            },
            Self::ResetCode { rejected, .. } => SignInStep::ResetCode {
                rejected: rejected.clone(),
            },
            Self::PasswordChanged => SignInStep::PasswordChanged,
            Self::Unsupported { workflow, data } => SignInStep::Unsupported {
                workflow: workflow.clone(),
                data: data.clone(),
            },
            _ => return None,
        })
    }

    fn retry_step(at: SystemTime) -> SignInStep {
        SignInStep::RetryAt(at)
    }

    fn done_step(tokens: TokenPair) -> SignInStep {
        SignInStep::Done(tokens)
    }
}

/// The client sign-in wizard as a sans-IO state machine.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use b2core_auth::client::{signin::SignInState, SignIn, SignInStep};
/// use b2core_auth::{Endpoint, Flow, Outgoing};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_713_784_044); // the caller's clock
/// let mut flow = SignIn::new(Endpoint::new("https://host.name")?);
/// let Outgoing::Request(request) = flow.start(now)? else {
///     unreachable!("no attempt limit holds the wizard's start");
/// };
/// assert_eq!(request.uri(), "https://host.name/api/v2/my/signin/wizard");
/// assert_eq!(flow.state(), SignInState::AwaitWizard);
///
/// // ... send it with any HTTP client, then hand the answer back:
/// let answer = http::Response::builder().status(200).body(
///     r#"{"code":200,"data":{"recaptcha":{"enabled":false},"is_qr_available":true,
///         "is_password_recovery_available":true},"done":false,
///         "uuid":"36f59381-5b54-48bd-a0c7-3b908c476732","workflow":"login"}"#,
/// )?;
/// let step = flow.handle_response(&answer, now)?;
/// assert!(matches!(step, SignInStep::Credentials { rejected: None, .. }));
/// assert_eq!(flow.state(), SignInState::Credentials);
/// # Ok(()) }
/// ```
///
/// The attempt guard (5 sign-ins a minute) holds a sixth `submit_credentials` instead of
/// sending it, exactly as a server's 429 would: [`Outgoing::RetryAt`], the `RetryAt` step,
/// [`Flow::next_deadline`](crate::Flow::next_deadline), and [`Flow::retry`](crate::Flow::retry)
/// sends it once the instant has come.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use b2core_auth::client::{signin::SignInState, Credentials, SignIn, SignInStep};
/// use b2core_auth::{AttemptGuard, DeviceFingerprint, Endpoint, Flow, Outgoing};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_713_784_044);
/// let mut guard = AttemptGuard::client_sign_in();
/// for _ in 0..5 {
///     guard.record(now); // five attempts already made this minute
/// }
/// let mut flow = SignIn::with_guard(Endpoint::new("https://host.name")?, guard);
/// let _wizard = flow.start(now)?;
/// let answer = http::Response::builder().status(200).body(
///     r#"{"code":200,"data":{"recaptcha":{"enabled":false}},"done":false,
///         "uuid":"36f59381-5b54-48bd-a0c7-3b908c476732","workflow":"login"}"#,
/// )?;
/// let _credentials_step = flow.handle_response(&answer, now)?;
///
/// let fingerprint = DeviceFingerprint::from_user_agent("my-app/1.0")?;
/// let creds = Credentials::new("username@example.com", "QAzqw123!", fingerprint);
/// let held = flow.submit_credentials(creds, now)?;
/// let at = held.retry_at().ok_or("the sixth attempt is held, not sent")?;
/// assert_eq!(flow.state(), SignInState::RateLimited);
/// assert_eq!(flow.current_step(), Some(SignInStep::RetryAt(at)));
/// assert_eq!(flow.next_deadline(), Some(at));
///
/// // Too early: the same instant, nothing changes.
/// assert_eq!(flow.retry(now)?.retry_at(), Some(at));
/// // From then on, the held attempt is sent.
/// let request = flow.retry(at)?.into_request().ok_or("the wait is over")?;
/// assert_eq!(request.uri(), "https://host.name/api/v2/my/signin");
/// assert_eq!(flow.state(), SignInState::AwaitCredentials);
/// # Ok(()) }
/// ```
///
/// The flow serializes with serde to be parked between browser requests; the serialized
/// form holds whatever secrets are in flight (a password awaiting its answer, a code) and
/// must be stored like one.
#[derive(Debug, Clone, PartialEq)]
pub struct SignIn {
    driver: Driver<State>,
}

crate::flow::driven_flow!(SignIn, SignInStep, SignInState);

crate::parked::parked!(SignIn { driver: Driver<State> });

/// A parked sign-in holds what the flow's steps put in it: a wizard uuid, credentials and
/// codes that passed the checks made before they were sent, the methods the server
/// offered, and the free `data` of a workflow the pages do not name.
impl CheckParked for State {
    fn check_parked(&self) -> Result<(), Error> {
        if let Some(uuid) = self.uuid() {
            parked::uuid(uuid)?;
        }
        match self {
            Self::Credentials {
                email: Some(email), ..
            } => input::email(email),
            Self::AwaitCredentials {
                options,
                credentials,
                ..
            } => credentials.check(*options),
            Self::ChooseMethod { methods, .. } => parked_methods(methods),
            Self::AwaitMethod {
                methods, chosen, ..
            } => {
                parked_methods(methods)?;
                if !methods.contains(chosen) {
                    return Err(Error::invalid("type", "is not one of the offered methods"));
                }
                Ok(())
            }
            Self::AwaitCode { code, .. } => input::text("code", code.expose()),
            Self::AwaitReset {
                code, new_password, ..
            } => {
                input::text("code", code.expose())?;
                input::password("password", new_password.expose())
            }
            Self::Unsupported { workflow, data } => {
                parked::workflow(workflow)?;
                if WORKFLOWS.contains(&workflow.as_str()) {
                    return Err(Error::invalid("workflow", "is one the pages name"));
                }
                parked::free_data("data", data.expose())
            }
            _ => Ok(()),
        }
    }
}

/// The methods offered for workflow `2fa`: at least one, each once.
fn parked_methods(methods: &[Method]) -> Result<(), Error> {
    if methods.is_empty() {
        return Err(Error::invalid("methods", "is empty"));
    }
    if methods
        .iter()
        .enumerate()
        .any(|(i, method)| methods.iter().skip(i + 1).any(|m| m == method))
    {
        return Err(Error::invalid("methods", "lists a method twice"));
    }
    Ok(())
}

impl SignIn {
    /// A flow for this host, with the documented limit of 5 sign-in attempts a minute.
    pub fn new(endpoint: Endpoint) -> Self {
        Self::with_guard(endpoint, AttemptGuard::client_sign_in())
    }

    /// A flow that continues counting attempts on `guard` (e.g. from an earlier flow of the
    /// same account, see [`SignIn::into_guard`]).
    pub fn with_guard(endpoint: Endpoint, guard: AttemptGuard) -> Self {
        Self {
            driver: Driver::new(endpoint, guard, State::New),
        }
    }

    /// The attempt counter.
    pub fn guard(&self) -> &AttemptGuard {
        self.driver.guards()
    }

    /// Ends the flow and keeps its attempt counter for the next one.
    pub fn into_guard(self) -> AttemptGuard {
        self.driver.into_guards()
    }

    /// The email of the last credentials the server refused, so the form can be refilled.
    pub fn last_email(&self) -> Option<&str> {
        match self.driver.state() {
            Some(State::Credentials { email, .. }) => email.as_deref(),
            _ => None,
        }
    }

    /// Step 1: `GET /api/v2/my/signin/wizard`. Allowed whenever no request is outstanding
    /// and the flow is not signed in (a finished flow emits nothing more); it abandons any
    /// wizard in progress and begins a new one (the attempt count stays). While a rate
    /// limit holds an attempt (a mistyped password, say), the new wizard replaces it but
    /// the wait stays: before it ends, `start` returns [`Outgoing::RetryAt`] with the same
    /// instant and [`Flow::retry`](crate::Flow::retry) sends the wizard from then on.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfOrder`] while a request is outstanding, and once signed in.
    pub fn start(&mut self, now: SystemTime) -> Result<Outgoing, Error> {
        match self.driver.state() {
            // Signed in is final: the flow emits nothing more.
            Some(State::Done) => Err(self.driver.out_of_order("start")),
            Some(state) if state.awaiting().is_none() => {
                self.driver.send(State::AwaitWizard, "start", now)
            }
            // A rate limit holds an attempt: the new wizard replaces it, after the wait.
            None => self.driver.replace_held(State::AwaitWizard, "start", now),
            _ => Err(self.driver.out_of_order("start")),
        }
    }

    /// Step 2: `POST /api/v2/my/signin` with the credentials and the device fingerprint.
    ///
    /// Checked before anything is sent: a plausible email, a non-empty password and a
    /// reCAPTCHA response when the wizard enabled reCAPTCHA. A sixth attempt inside a
    /// minute is not sent: the flow holds it and waits ([`Outgoing::RetryAt`]), as after a
    /// server's 429.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for credentials that fail those checks;
    /// [`Error::OutOfOrder`] unless the flow asks for credentials.
    pub fn submit_credentials(
        &mut self,
        credentials: Credentials,
        now: SystemTime,
    ) -> Result<Outgoing, Error> {
        let Some(State::Credentials { uuid, options, .. }) = self.driver.state() else {
            return Err(self.driver.out_of_order("submit_credentials"));
        };
        credentials.check(*options)?;
        let next = State::AwaitCredentials {
            uuid: uuid.clone(),
            options: *options,
            credentials,
        };
        self.driver.send(next, "submit_credentials", now)
    }

    /// Step 3: `POST /api/v2/my/signin/2fa` with one of the offered methods.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a method the server did not offer;
    /// [`Error::OutOfOrder`] unless the flow asks for a method.
    pub fn choose_method(&mut self, method: Method, now: SystemTime) -> Result<Outgoing, Error> {
        let Some(State::ChooseMethod { uuid, methods, .. }) = self.driver.state() else {
            return Err(self.driver.out_of_order("choose_method"));
        };
        if !methods.contains(&method) {
            return Err(Error::invalid("type", "is not one of the offered methods"));
        }
        let next = State::AwaitMethod {
            uuid: uuid.clone(),
            methods: methods.clone(),
            chosen: method,
        };
        self.driver.send(next, "choose_method", now)
    }

    /// Step 4: `POST /api/v2/my/2fa/google` or `/api/v2/my/2fa/sms` with the code.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty or over-long code or one with control
    /// characters; [`Error::OutOfOrder`] unless the flow asks for a code.
    pub fn submit_code(
        &mut self,
        code: impl Into<Secret<String>>,
        now: SystemTime,
    ) -> Result<Outgoing, Error> {
        let Some(State::Code { uuid, method, .. }) = self.driver.state() else {
            return Err(self.driver.out_of_order("submit_code"));
        };
        let code = code.into();
        input::text("code", code.expose())?;
        let next = State::AwaitCode {
            uuid: uuid.clone(),
            method: *method,
            code,
        };
        self.driver.send(next, "submit_code", now)
    }

    /// Forced reset, first request: `POST /api/v2/my/signin/password/restore` (inferred
    /// body `{uuid}`); the server emails a verification code.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfOrder`] unless the flow asks for a password reset.
    pub fn request_reset_code(&mut self, now: SystemTime) -> Result<Outgoing, Error> {
        let Some(State::ResetRequired { uuid, .. }) = self.driver.state() else {
            return Err(self.driver.out_of_order("request_reset_code"));
        };
        let next = State::AwaitRestore { uuid: uuid.clone() };
        self.driver.send(next, "request_reset_code", now)
    }

    /// Forced reset, second request: `POST /api/v2/my/signin/password/reset` (inferred body
    /// `{uuid, code, password, password_confirmation}`) with the emailed code.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a code or password that fails the input checks;
    /// [`Error::OutOfOrder`] unless the flow asks for the reset code.
    pub fn reset_password(
        &mut self,
        code: impl Into<Secret<String>>,
        new_password: impl Into<Secret<String>>,
        now: SystemTime,
    ) -> Result<Outgoing, Error> {
        let Some(State::ResetCode { uuid, .. }) = self.driver.state() else {
            return Err(self.driver.out_of_order("reset_password"));
        };
        let (code, new_password) = (code.into(), new_password.into());
        input::text("code", code.expose())?;
        input::password("password", new_password.expose())?;
        let next = State::AwaitReset {
            uuid: uuid.clone(),
            code,
            new_password,
        };
        self.driver.send(next, "reset_password", now)
    }
}

/// A workflow as deviations print it: by name when the page names it, else not at all.
/// Written only when a deviation is noted (no allocation on the usual path).
struct ShownWorkflow(Option<&'static str>);

impl std::fmt::Display for ShownWorkflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(known) => write!(f, "workflow `{known}`"),
            None => f.write_str("an unknown workflow"),
        }
    }
}

/// The methods to offer for workflow `2fa`: those `tfaProviders` marks enabled. The page
/// says `2fa` means both methods are on, and its own example sends an empty list, so an
/// empty list offers both.
fn offered_methods(
    step: &'static str,
    providers: &[wire::TfaProvider],
) -> Result<Vec<Method>, Error> {
    if providers.is_empty() {
        return Ok(vec![Method::Google, Method::Sms]);
    }
    let mut methods: Vec<Method> = Vec::with_capacity(2);
    for method in providers
        .iter()
        .filter(|p| p.enabled == Some(true))
        .filter_map(|p| Method::from_name(&p.name))
    {
        if !methods.contains(&method) {
            methods.push(method);
        }
    }
    if methods.is_empty() {
        return Err(Error::malformed(
            step,
            "data.tfaProviders",
            "no known method is enabled",
        ));
    }
    Ok(methods)
}
