//! The client sign-up wizard (`spec/client-signup.txt`):
//!
//! 1. `POST /api/v2/my/signup/wizard` — [`SignUp::start`] with the registration-link
//!    template and an optional referral code; the answer gives the flow its `uuid` and the
//!    form to show, [`SignUpStep::Form`]. (The page's example answers `202` with
//!    `done: true`: that only says the wizard is initialized, sign-up is not over.)
//! 2. `POST /api/v2/my/signup` — [`SignUp::submit`] with the filled-in [`SignUpForm`]; the
//!    answer leads to [`SignUpStep::Done`] (tokens), [`SignUpStep::SignInRequired`] (done,
//!    no tokens: the page's own example), [`SignUpStep::Next`] (a confirmation step this
//!    crate does not drive) or back to [`SignUpStep::Form`] with the server's refusal.
//!
//! The page documents no attempt limit for sign-up, so no client-side guard counts
//! attempts; a server's 429 still gives [`SignUpStep::RetryAt`].
//!
//! Every call takes `now` last and returns an [`Outgoing`]: [`SignUp::submit`] always the
//! request to send (no attempt guard holds a sign-up call), [`SignUp::start`] too but while
//! a 429's wait holds a request (the new wizard then takes its place, held until the same
//! instant), [`SignUp::retry`](crate::Flow::retry) before a 429's instant
//! [`Outgoing::RetryAt`].
//! Every response goes to [`SignUp::handle_response`](crate::Flow::handle_response). An
//! `Err` from any call leaves the flow exactly as it was.
//!
//! ## Transitions
//!
//! The documented transitions are [`TRANSITIONS`], in the states of [`SignUpState`]; the
//! driver refuses any move that is not one of its rows. `2xx` is the wizard's envelope
//! with any 2xx status and any `workflow` (the form's). After a submission the body's
//! `code` decides (the HTTP status when the body has none: hosts send `202` answers as
//! HTTP 200 or 202): `202` is the final step, with or without a token pair; `200` with the
//! form's own `workflow` shows the form again, another `workflow` is a step this crate does
//! not drive. A `done` that disagrees with `code` is a [`Deviation`](crate::Deviation),
//! never decisive. A 429 waits in `RateLimited`; `retry` sends the request it holds once
//! the wait is over, and also resends an outstanding request whose answer never came.

use std::time::SystemTime;

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
use crate::wire;

crate::table::states! {
    /// Where a sign-up is: the states of [`TRANSITIONS`]. [`Flow::state`](crate::Flow::state)
    /// returns it.
    ///
    /// ```
    /// use b2core_auth::client::{signup::SignUpState, SignUp};
    /// use b2core_auth::{Endpoint, Flow};
    ///
    /// # fn main() -> Result<(), b2core_auth::Error> {
    /// let flow = SignUp::new(Endpoint::new("https://host.name")?);
    /// assert_eq!(flow.state(), SignUpState::New);
    /// assert_eq!(flow.state().to_string(), "not started");
    /// # Ok(()) }
    /// ```
    pub enum SignUpState {
        /// Before [`SignUp::start`].
        New => "not started",
        /// `POST /api/v2/my/signup/wizard` is outstanding.
        AwaitWizard => "waiting for the wizard",
        /// [`SignUpStep::Form`]: call [`SignUp::submit`].
        Form => "asking for the registration form",
        /// `POST /api/v2/my/signup` is outstanding.
        AwaitSubmit => "waiting for the sign-up answer",
        /// [`SignUpStep::Next`]: only [`SignUp::start`] goes on.
        Next => "stopped at a step this crate does not drive",
        /// [`SignUpStep::RetryAt`]: a request waits out a rate limit.
        RateLimited => "rate limited",
        /// [`SignUpStep::SignInRequired`]: final.
        SignInRequired => "signed up, sign-in required",
        /// [`SignUpStep::Done`]: final.
        SignedUp => "signed up",
    }
}

crate::table::transitions! {
    /// The documented transitions of the sign-up wizard (see the module docs), generated
    /// into this table from the constant's own rows.
    pub const TRANSITIONS: [SignUpState] = [
        (New, Call("start"), AwaitWizard),
        (AwaitWizard, Answer("2xx"), Form),
        (Form, Call("submit"), AwaitSubmit),
        (AwaitSubmit, Answer("`code` 202 with tokens"), SignedUp),
        (AwaitSubmit, Answer("`code` 202 without tokens"), SignInRequired),
        (AwaitSubmit, Answer("`code` 200, the form's workflow"), Form),
        (AwaitSubmit, Answer("`code` 200, other workflow"), Next),
        (AwaitSubmit, Answer("4xx"), Form),
        // `start` abandons a sign-up at any step where no request is outstanding.
        (Form, Call("start"), AwaitWizard),
        (Next, Call("start"), AwaitWizard),
        // Started over while a rate limit holds a request: the new wizard takes its place,
        // held until the wait ends.
        (RateLimited, Call("start"), RateLimited),
        (RateLimited, Call("start"), AwaitWizard),
        (AwaitWizard, Answer("429"), RateLimited),
        (AwaitSubmit, Answer("429"), RateLimited),
        (RateLimited, Call("retry"), RateLimited),
        (RateLimited, Call("retry"), AwaitWizard),
        (RateLimited, Call("retry"), AwaitSubmit),
        (AwaitWizard, Call("retry"), AwaitWizard),
        (AwaitSubmit, Call("retry"), AwaitSubmit),
    ];
}

const WIZARD: &str = "/api/v2/my/signup/wizard";
const SIGN_UP: &str = "/api/v2/my/signup";

/// What the client types on the registration form.
///
/// `email`, the password twice and the device fingerprint are required; country codes
/// (sent as `addresses`), the names (sent as `info`) and the reCAPTCHA response are sent
/// only when given. `Debug` shows neither the passwords, the fingerprint nor the
/// reCAPTCHA response.
///
/// ```
/// use b2core_auth::{client::SignUpForm, DeviceFingerprint};
///
/// # fn main() -> Result<(), b2core_auth::Error> {
/// let fp = DeviceFingerprint::from_user_agent("my-app/1.0")?;
/// let form = SignUpForm::new("foo@bar.com", "Secret123", "Secret123", fp)
///     .with_country_code("16")
///     .with_given_name("John")
///     .with_family_name("Brown")
///     .with_recaptcha("ut nu");
/// assert_eq!(form.country_codes(), ["16"]);
/// assert!(!format!("{form:?}").contains("Secret123"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignUpForm {
    email: String,
    password: Secret<String>,
    password_confirmation: Secret<String>,
    fingerprint: DeviceFingerprint,
    country_codes: Vec<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    recaptcha: Option<Secret<String>>,
}

impl SignUpForm {
    /// Email, the password and its confirmation as typed, and the device's fingerprint.
    pub fn new(
        email: impl Into<String>,
        password: impl Into<Secret<String>>,
        password_confirmation: impl Into<Secret<String>>,
        fingerprint: DeviceFingerprint,
    ) -> Self {
        Self {
            email: email.into(),
            password: password.into(),
            password_confirmation: password_confirmation.into(),
            fingerprint,
            country_codes: Vec::new(),
            given_name: None,
            family_name: None,
            recaptcha: None,
        }
    }

    /// Adds a country code; they are sent as `addresses` keyed `"0"`, `"1"`, ... in the
    /// order added.
    #[must_use]
    pub fn with_country_code(mut self, country_code: impl Into<String>) -> Self {
        self.country_codes.push(country_code.into());
        self
    }

    /// Sets the first name (`info.givenName`).
    #[must_use]
    pub fn with_given_name(mut self, given_name: impl Into<String>) -> Self {
        self.given_name = Some(given_name.into());
        self
    }

    /// Sets the last name (`info.familyName`).
    #[must_use]
    pub fn with_family_name(mut self, family_name: impl Into<String>) -> Self {
        self.family_name = Some(family_name.into());
        self
    }

    /// Adds the reCAPTCHA response token (`recaptchaResponse`).
    #[must_use]
    pub fn with_recaptcha(mut self, response: impl Into<Secret<String>>) -> Self {
        self.recaptcha = Some(response.into());
        self
    }

    /// The email.
    pub fn email(&self) -> &str {
        &self.email
    }

    /// The country codes, in the order they are sent.
    pub fn country_codes(&self) -> &[String] {
        &self.country_codes
    }

    /// The first name, if given.
    pub fn given_name(&self) -> Option<&str> {
        self.given_name.as_deref()
    }

    /// The last name, if given.
    pub fn family_name(&self) -> Option<&str> {
        self.family_name.as_deref()
    }

    /// Everything that can be checked before anything is sent.
    fn check(&self) -> Result<(), Error> {
        input::email(&self.email)?;
        input::password("password", self.password.expose())?;
        if self.password != self.password_confirmation {
            return Err(Error::invalid(
                "password_confirmation",
                "does not match the password",
            ));
        }
        for country_code in &self.country_codes {
            input::text("addresses.country_code", country_code)?;
        }
        if let Some(name) = &self.given_name {
            input::text("info.givenName", name)?;
        }
        if let Some(name) = &self.family_name {
            input::text("info.familyName", name)?;
        }
        if let Some(recaptcha) = &self.recaptcha {
            input::text("recaptchaResponse", recaptcha.expose())?;
        }
        Ok(())
    }

    fn to_wire<'a>(&'a self, uuid: &'a str) -> wire::SignUpRequest<'a> {
        let info =
            (self.given_name.is_some() || self.family_name.is_some()).then_some(wire::Info {
                family_name: self.family_name.as_deref(),
                given_name: self.given_name.as_deref(),
            });
        wire::SignUpRequest {
            uuid,
            email: &self.email,
            password: self.password.expose(),
            password_confirmation: self.password_confirmation.expose(),
            device_fingerprint: self.fingerprint.encoded(),
            addresses: wire::Addresses(&self.country_codes),
            info,
            recaptcha_response: self.recaptcha.as_ref().map(|r| r.expose().as_str()),
        }
    }
}

/// What the sign-up flow needs next. Each variant says what the caller must do.
///
/// ```
/// use b2core_auth::client::SignUpStep;
///
/// fn what_next(step: &SignUpStep) -> &'static str {
///     match step {
///         SignUpStep::Form { rejected: Some(_), .. } => "show the form again with the server's messages",
///         SignUpStep::Form { .. } => "show the form, then call submit",
///         SignUpStep::Done(_) => "signed up and signed in: keep the tokens",
///         SignUpStep::SignInRequired => "signed up: run the sign-in flow with the same credentials",
///         SignUpStep::Next { .. } => "a confirmation step this crate does not drive",
///         SignUpStep::RetryAt(_) => "wait, then call retry",
///         _ => "not known to this version",
///     }
/// }
/// assert_eq!(what_next(&SignUpStep::SignInRequired),
///            "signed up: run the sign-in flow with the same credentials");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub enum SignUpStep {
    /// Show the registration form, then call [`SignUp::submit`]. `rejected` carries the
    /// server's refusal of the previous submission (the user corrects the form and submits
    /// again).
    Form {
        /// The server's `workflow` for the form (e.g. `basic_register_form`).
        workflow: String,
        /// The server's `data.fields`: the fields the form shows, as sent (`{}` when the
        /// server sent none).
        fields: serde_json::Value,
        /// The server's refusal of the previous submission, if any.
        rejected: Option<ApiError>,
    },
    /// The server leads to another step (an email or phone confirmation, say) that this
    /// crate does not drive. The flow stops here; follow the server's `workflow` by other
    /// means, or call [`SignUp::start`] to begin again. `data` may hold secrets, hence the
    /// wrapper.
    Next {
        /// The server's `workflow`.
        workflow: String,
        /// The server's `data`.
        data: Secret<serde_json::Value>,
    },
    /// Signed up, without tokens (`202`, `done`, empty `data`: the page's own example). The
    /// flow is finished: sign in with the same email and password (the sign-in flow).
    SignInRequired,
    /// Rate limited (a server's 429): the flow holds the request; wait until this instant
    /// (also [`Flow::next_deadline`](crate::Flow::next_deadline)), then call
    /// [`SignUp::retry`](crate::Flow::retry), which sends it.
    RetryAt(SystemTime),
    /// Signed up and signed in. The flow is finished; turn the tokens into a session.
    Done(TokenPair),
}

/// Where the flow is. Private: the public face is [`SignUpStep`] and the getters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum State {
    New,
    AwaitWizard {
        url: String,
        referral: Option<String>,
    },
    Form {
        uuid: Shared<str>,
        workflow: Shared<str>,
        fields: Shared<serde_json::Value>,
        email: Option<String>,
        rejected: Option<ApiError>,
    },
    AwaitSubmit {
        uuid: Shared<str>,
        workflow: Shared<str>,
        fields: Shared<serde_json::Value>,
        form: Box<SignUpForm>,
    },
    Next {
        uuid: Shared<str>,
        workflow: Shared<str>,
        data: Secret<serde_json::Value>,
    },
    SignInRequired {
        uuid: Shared<str>,
    },
    Done {
        uuid: Shared<str>,
    },
}

/// What the states of one sign-up share (its `uuid`, the form's `workflow` and `fields`):
/// a step costs a reference count, not a copy.
type Shared<T> = std::sync::Arc<T>;

impl State {
    fn uuid(&self) -> Option<&str> {
        match self {
            Self::Form { uuid, .. }
            | Self::AwaitSubmit { uuid, .. }
            | Self::Next { uuid, .. }
            | Self::SignInRequired { uuid }
            | Self::Done { uuid } => Some(uuid),
            Self::New | Self::AwaitWizard { .. } => None,
        }
    }
}

/// Whether an answer is the wizard's final step: its `code` is 202 (the page's example),
/// or, without a `code`, its HTTP status is. `done` should agree; when it does not, that
/// is noted, never decisive (the page gives `done` two meanings: "initialization
/// succeeded" and "authentication has succeeded").
fn is_final(answer: &mut Answer<'_>, wizard: &decode::SignUpAnswer<'_>) -> bool {
    let is_final = wizard.code.map_or(answer.status == 202, |code| code == 202);
    if let Some(done) = wizard.done.filter(|&done| done != is_final) {
        let found = format!(
            "`done` {done} with `code` {}",
            wizard.code.unwrap_or(i64::from(answer.status))
        );
        answer.deviate("done", "true with `code` 202, false with 200", found);
    }
    is_final
}

/// `data.fields`, `None` when absent or `null`. The page calls it "fields object — An
/// array of wizard fields": an object or an array is read, anything else is malformed.
fn form_fields(
    step: &'static str,
    data: decode::SignUpAnswerData<'_>,
) -> Result<Option<serde_json::Value>, Error> {
    let data: wire::SignUpWizardData = data.first(step)?;
    match data.fields {
        // The flow keeps them: as deep as free data may be, so a parked flow reads back.
        Some(ref fields) if decode::depth(fields) > decode::MAX_FREE_DATA_DEPTH => {
            Err(Error::malformed(
                step,
                "data.fields",
                format!("nests deeper than {} levels", decode::MAX_FREE_DATA_DEPTH),
            ))
        }
        Some(serde_json::Value::Object(_) | serde_json::Value::Array(_)) | None => Ok(data.fields),
        Some(_) => Err(Error::malformed(
            step,
            "data.fields",
            "is neither an object nor an array",
        )),
    }
}

impl Protocol for State {
    type Step = SignUpStep;
    type Done = TokenPair;
    type Guards = ();
    type State = SignUpState;
    const TABLE: &'static [table::Transition<SignUpState>] = TRANSITIONS;
    const RATE_LIMITED: SignUpState = SignUpState::RateLimited;

    fn state(&self) -> SignUpState {
        match self {
            Self::New => SignUpState::New,
            Self::AwaitWizard { .. } => SignUpState::AwaitWizard,
            Self::Form { .. } => SignUpState::Form,
            Self::AwaitSubmit { .. } => SignUpState::AwaitSubmit,
            Self::Next { .. } => SignUpState::Next,
            Self::SignInRequired { .. } => SignUpState::SignInRequired,
            Self::Done { .. } => SignUpState::SignedUp,
        }
    }

    fn awaiting(&self) -> Option<&'static str> {
        match self {
            Self::AwaitWizard { .. } => Some("POST /api/v2/my/signup/wizard"),
            Self::AwaitSubmit { .. } => Some("POST /api/v2/my/signup"),
            _ => None,
        }
    }

    fn request(&self, endpoint: &Endpoint) -> Result<Request<Vec<u8>>, Error> {
        match self {
            Self::AwaitWizard { url, referral } => endpoint.post(
                WIZARD,
                &wire::SignUpWizardRequest {
                    url,
                    utm: referral.as_deref().map(|referral| wire::Utm { referral }),
                },
            ),
            Self::AwaitSubmit { uuid, form, .. } => endpoint.post(SIGN_UP, &form.to_wire(uuid)),
            _ => Err(Error::internal(
                "a request was built in a state that awaits none",
            )),
        }
    }

    fn guard<'g>(&self, _guards: &'g mut ()) -> Option<&'g mut AttemptGuard> {
        None
    }

    fn refused(&self, error: ApiError) -> Option<Self> {
        match self {
            Self::AwaitSubmit {
                uuid,
                workflow,
                fields,
                form,
            } => Some(Self::Form {
                uuid: uuid.clone(),
                workflow: workflow.clone(),
                fields: fields.clone(),
                email: Some(form.email.clone()),
                rejected: Some(error),
            }),
            _ => None,
        }
    }

    fn advance(&self, answer: &mut Answer<'_>) -> Result<Advance<Self>, Error> {
        let step = answer.step;
        let expect = match self.uuid() {
            Some(uuid) => Expect::Wizard(uuid),
            None => Expect::NewWizard,
        };
        let wizard = decode::wizard(answer, expect)?;
        let is_final = is_final(answer, &wizard);
        match self {
            Self::AwaitWizard { .. } => Ok(Advance::to(Self::Form {
                fields: Shared::new(
                    form_fields(step, wizard.data)?
                        .unwrap_or_else(|| serde_json::Value::Object(serde_json::Map::new())),
                ),
                uuid: Shared::from(&*wizard.uuid),
                workflow: Shared::from(&*wizard.workflow),
                email: None,
                rejected: None,
            })),
            Self::AwaitSubmit {
                uuid,
                workflow,
                fields,
                form,
            } => {
                if is_final {
                    let data: wire::SignUpData = wizard.data.next(step)?;
                    return Ok(
                        match TokenPair::from_wire_parts(
                            data.access_token.as_ref(),
                            data.refresh_token.as_ref(),
                            step,
                        )? {
                            Some(tokens) => {
                                Advance::finish(Self::Done { uuid: uuid.clone() }, tokens)
                                    .on(Event::Answer("`code` 202 with tokens"))
                            }
                            None => Advance::to(Self::SignInRequired { uuid: uuid.clone() })
                                .on(Event::Answer("`code` 202 without tokens")),
                        },
                    );
                }
                if *wizard.workflow == **workflow {
                    // The form's own workflow again: the server shows the form once more.
                    return Ok(Advance::to(Self::Form {
                        fields: form_fields(step, wizard.data)?
                            .map_or_else(|| fields.clone(), Shared::new),
                        uuid: uuid.clone(),
                        workflow: workflow.clone(),
                        email: Some(form.email.clone()),
                        rejected: None,
                    })
                    .on(Event::Answer("`code` 200, the form's workflow")));
                }
                Ok(Advance::to(Self::Next {
                    uuid: uuid.clone(),
                    data: Secret::new(wizard.data.free(step)?),
                    workflow: Shared::from(&*wizard.workflow),
                })
                .on(Event::Answer("`code` 200, other workflow")))
            }
            _ => Err(Error::internal(
                "an answer was read in a state that awaits none",
            )),
        }
    }

    fn step(&self) -> Option<SignUpStep> {
        Some(match self {
            Self::Form {
                workflow,
                fields,
                rejected,
                ..
            } => SignUpStep::Form {
                workflow: workflow.to_string(),
                fields: (**fields).clone(),
                rejected: rejected.clone(),
            },
            Self::Next { workflow, data, .. } => SignUpStep::Next {
                workflow: workflow.to_string(),
                data: data.clone(),
            },
            Self::SignInRequired { .. } => SignUpStep::SignInRequired,
            _ => return None,
        })
    }

    fn retry_step(at: SystemTime) -> SignUpStep {
        SignUpStep::RetryAt(at)
    }

    fn done_step(tokens: TokenPair) -> SignUpStep {
        SignUpStep::Done(tokens)
    }
}

/// The client sign-up wizard as a sans-IO state machine.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use b2core_auth::client::{signup::SignUpState, SignUp, SignUpForm, SignUpStep};
/// use b2core_auth::{DeviceFingerprint, Endpoint, Flow, Outgoing};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_713_784_044); // the caller's clock
/// let mut flow = SignUp::new(Endpoint::new("https://host.name")?);
/// let template = "https://host.name/register/{registration}/{code}";
/// let Outgoing::Request(request) = flow.start(template, Some("29734fc149dc93809d18f49ae970810a"), now)?
/// else {
///     unreachable!("no attempt limit holds a sign-up call");
/// };
/// assert_eq!(request.uri(), "https://host.name/api/v2/my/signup/wizard");
///
/// // ... send it with any HTTP client, then hand the answer back:
/// let answer = http::Response::builder().status(202).body(
///     r#"{"code":202,"data":{"fields":{}},"done":true,
///         "uuid":"36f59381-5b54-48bd-a0c7-3b908c476732","workflow":"basic_register_form"}"#,
/// )?;
/// let step = flow.handle_response(&answer, now)?;
/// assert!(matches!(step, SignUpStep::Form { rejected: None, .. }));
/// assert_eq!(flow.uuid(), Some("36f59381-5b54-48bd-a0c7-3b908c476732"));
/// assert_eq!(flow.state(), SignUpState::Form);
///
/// let fp = DeviceFingerprint::from_user_agent("my-app/1.0")?;
/// let form = SignUpForm::new("foo@bar.com", "Secret123", "Secret123", fp).with_country_code("16");
/// let Outgoing::Request(request) = flow.submit(form, now)? else {
///     unreachable!("no attempt limit holds a sign-up call");
/// };
/// assert_eq!(request.uri(), "https://host.name/api/v2/my/signup");
///
/// let answer = http::Response::builder().status(202).body(
///     r#"{"code":202,"data":{},"done":true,
///         "uuid":"36f59381-5b54-48bd-a0c7-3b908c476732","workflow":"login"}"#,
/// )?;
/// let step = flow.handle_response(&answer, now)?;
/// assert_eq!(step, SignUpStep::SignInRequired); // now sign in with the same credentials
/// assert_eq!(flow.state(), SignUpState::SignInRequired);
/// # Ok(()) }
/// ```
///
/// The flow serializes with serde to be parked between browser requests; the serialized
/// form holds whatever secrets are in flight (the passwords, fingerprint and reCAPTCHA
/// response of a submitted form awaiting its answer) and must be stored like one.
#[derive(Debug, Clone, PartialEq)]
pub struct SignUp {
    driver: Driver<State>,
}

crate::flow::driven_flow!(SignUp, SignUpStep, SignUpState);

crate::parked::parked!(SignUp { driver: Driver<State> });

/// A parked sign-up holds what the flow's steps put in it: a wizard uuid and `workflow`,
/// form `fields` that are an object or an array at most 64 levels deep, a form that passed the checks made
/// before it was sent, and the free `data` of a step the crate does not drive.
impl CheckParked for State {
    fn check_parked(&self) -> Result<(), Error> {
        if let Some(uuid) = self.uuid() {
            parked::uuid(uuid)?;
        }
        let fields = |fields: &serde_json::Value| match fields {
            serde_json::Value::Object(_) | serde_json::Value::Array(_) => {
                parked::free_data("fields", fields)
            }
            _ => Err(Error::invalid(
                "fields",
                "is neither an object nor an array",
            )),
        };
        match self {
            Self::AwaitWizard { url, referral } => {
                input::text("url", url)?;
                referral
                    .as_deref()
                    .map_or(Ok(()), |referral| input::text("utm.referral", referral))
            }
            Self::Form {
                workflow,
                fields: shown,
                email,
                ..
            } => {
                parked::workflow(workflow)?;
                fields(shown)?;
                email.as_deref().map_or(Ok(()), input::email)
            }
            Self::AwaitSubmit {
                workflow,
                fields: shown,
                form,
                ..
            } => {
                parked::workflow(workflow)?;
                fields(shown)?;
                form.check()
            }
            Self::Next { workflow, data, .. } => {
                parked::workflow(workflow)?;
                parked::free_data("data", data.expose())
            }
            Self::New | Self::SignInRequired { .. } | Self::Done { .. } => Ok(()),
        }
    }
}

impl SignUp {
    /// A flow for this host.
    pub fn new(endpoint: Endpoint) -> Self {
        Self {
            driver: Driver::new(endpoint, (), State::New),
        }
    }

    /// The `uuid` the server gave this sign-up, once the wizard has answered.
    pub fn uuid(&self) -> Option<&str> {
        self.driver.latest_state().uuid()
    }

    /// The email of the last form the server answered (refused, or asked for again), so
    /// the form can be refilled. The passwords are not kept.
    pub fn last_email(&self) -> Option<&str> {
        match self.driver.state() {
            Some(State::Form { email, .. }) => email.as_deref(),
            _ => None,
        }
    }

    /// Step 1: `POST /api/v2/my/signup/wizard` with `url`, the template of the client
    /// registration link (e.g. `https://host.name/register/{registration}/{code}`), and
    /// `utm.referral` when a referral code is given (`utm` is left out otherwise).
    ///
    /// Both must be non-empty, at most [`crate::MAX_FIELD_LEN`] bytes and free of control
    /// characters. Allowed whenever no request is outstanding and the sign-up is not
    /// finished (`Done`, `SignInRequired`: a finished flow emits nothing more); it abandons
    /// any sign-up in progress and begins a new one. While a 429 holds a request, the new
    /// wizard replaces it but the wait stays: before it ends, `start` returns
    /// [`Outgoing::RetryAt`] with the same instant and [`Flow::retry`](crate::Flow::retry)
    /// sends the wizard from then on.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a `url` or `referral` that fails those checks;
    /// [`Error::OutOfOrder`] while a request is outstanding, and once the sign-up is
    /// finished.
    pub fn start(
        &mut self,
        url: &str,
        referral: Option<&str>,
        now: SystemTime,
    ) -> Result<Outgoing, Error> {
        let rate_limited = match self.driver.state() {
            // Signed up is final: the flow emits nothing more.
            Some(State::Done { .. } | State::SignInRequired { .. }) => {
                return Err(self.driver.out_of_order("start"))
            }
            Some(state) if state.awaiting().is_none() => false,
            None => true,
            _ => return Err(self.driver.out_of_order("start")),
        };
        input::text("url", url)?;
        if let Some(referral) = referral {
            input::text("utm.referral", referral)?;
        }
        let next = State::AwaitWizard {
            url: url.to_owned(),
            referral: referral.map(str::to_owned),
        };
        if rate_limited {
            // A rate limit holds a request: the new wizard replaces it, after the wait.
            self.driver.replace_held(next, "start", now)
        } else {
            self.driver.send(next, "start", now)
        }
    }

    /// Step 2: `POST /api/v2/my/signup` with the form, the flow's `uuid` and the device
    /// fingerprint.
    ///
    /// Checked before anything is sent, each with its own [`Error::InvalidInput`]: a
    /// plausible email (`email`), a non-empty password (`password`), a confirmation equal
    /// to it (`password_confirmation`), and country codes, names and reCAPTCHA response
    /// (`addresses.country_code`, `info.givenName`, `info.familyName`, `recaptchaResponse`)
    /// non-empty and free of control characters.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a form that fails those checks; [`Error::OutOfOrder`]
    /// unless the flow asks for the form.
    pub fn submit(&mut self, form: SignUpForm, now: SystemTime) -> Result<Outgoing, Error> {
        let Some(State::Form {
            uuid,
            workflow,
            fields,
            ..
        }) = self.driver.state()
        else {
            return Err(self.driver.out_of_order("submit"));
        };
        form.check()?;
        let next = State::AwaitSubmit {
            uuid: uuid.clone(),
            workflow: workflow.clone(),
            fields: fields.clone(),
            form: Box::new(form),
        };
        self.driver.send(next, "submit", now)
    }
}
