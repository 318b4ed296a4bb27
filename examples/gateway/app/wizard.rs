//! The sign-in and sign-up wizards, one step per browser request: resume the visitor's
//! parked flow, apply the form, send the one request the flow asks for, hand its answer
//! back, park the flow again, and send the browser to `GET /` (Post/Redirect/Get), whose
//! page is the flow's current step.
//!
//! The store only ever holds a flow between steps, never one awaiting an answer: a flow
//! that carried a password or code to the host is parked after the host answered, when it
//! no longer holds it. If anything fails on the way (the host out of reach, an answer the
//! flow refuses, a mistake in the form), nothing is written: the visitor stays at the
//! step they were at, and the page says what went wrong.

use std::time::SystemTime;

use axum::extract::{Form, State};
use axum::response::Response;
use b2core_auth::client::signup::SignUpState;
use b2core_auth::client::{
    Credentials, Method, SignIn, SignInStep, SignUp, SignUpForm, SignUpStep,
};
use b2core_auth::{DeviceFingerprint, Error, Flow, Outgoing, Secret, TokenPair};
use http::header::USER_AGENT;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::pages::{self, View};
use super::{Parked, Row, Shared};

/// One lock per stripe of visitor ids: a visitor's steps run one at a time (a double
/// click must not send a step twice), and the gateway holds a fixed number of locks
/// however many visitors come.
pub struct Locks([tokio::sync::Mutex<()>; 64]);

impl Default for Locks {
    fn default() -> Self {
        Self(std::array::from_fn(|_| tokio::sync::Mutex::new(())))
    }
}

impl Locks {
    pub async fn lock(&self, id: &str) -> tokio::sync::MutexGuard<'_, ()> {
        let stripe = id
            .bytes()
            .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b.into()));
        self.0[stripe % self.0.len()].lock().await
    }
}

// ---------------------------------------------------------------------------------------
// The forms. No `Debug`: they hold what the visitor typed.

#[derive(Deserialize)]
pub struct CredentialsForm {
    email: String,
    password: String,
    recaptcha: Option<String>,
}

#[derive(Deserialize)]
pub struct MethodForm {
    method: String,
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
}

#[derive(Deserialize)]
pub struct ResetForm {
    code: String,
    password: String,
    password_confirmation: String,
}

#[derive(Deserialize)]
pub struct SignUpFields {
    email: String,
    password: String,
    password_confirmation: String,
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    family_name: String,
    #[serde(default)]
    country_code: String,
}

/// What a form asks of the visitor's flow.
enum Act {
    StartSignIn,
    Credentials(CredentialsForm, DeviceFingerprint),
    Method(Method),
    Code(String),
    ResetCode,
    Reset(ResetForm),
    Retry,
    StartSignUp { url: String },
    SignUp(SignUpFields, DeviceFingerprint),
}

impl Act {
    fn starts(&self) -> bool {
        matches!(self, Act::StartSignIn | Act::StartSignUp { .. })
    }
}

pub async fn start_sign_in(State(app): State<Shared>, headers: HeaderMap) -> Response {
    step(&app, &headers, Act::StartSignIn).await
}

pub async fn credentials(
    State(app): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<CredentialsForm>,
) -> Response {
    match fingerprint(&headers) {
        Ok(fingerprint) => step(&app, &headers, Act::Credentials(form, fingerprint)).await,
        Err(message) => refused(&app, &headers, StatusCode::BAD_REQUEST, &message).await,
    }
}

pub async fn method(
    State(app): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<MethodForm>,
) -> Response {
    let method = match form.method.as_str() {
        "google" => Method::Google,
        "sms" => Method::Sms,
        _ => {
            return refused(
                &app,
                &headers,
                StatusCode::BAD_REQUEST,
                "Choose one of the methods offered.",
            )
            .await
        }
    };
    step(&app, &headers, Act::Method(method)).await
}

pub async fn code(
    State(app): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    step(&app, &headers, Act::Code(form.code.trim().to_owned())).await
}

pub async fn reset_code(State(app): State<Shared>, headers: HeaderMap) -> Response {
    step(&app, &headers, Act::ResetCode).await
}

pub async fn reset(
    State(app): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<ResetForm>,
) -> Response {
    if form.password != form.password_confirmation {
        return refused(
            &app,
            &headers,
            StatusCode::BAD_REQUEST,
            "The two new passwords differ.",
        )
        .await;
    }
    step(&app, &headers, Act::Reset(form)).await
}

pub async fn retry(State(app): State<Shared>, headers: HeaderMap) -> Response {
    step(&app, &headers, Act::Retry).await
}

pub async fn start_sign_up(State(app): State<Shared>, headers: HeaderMap) -> Response {
    // The template of the registration link the host emails: on the gateway's configured
    // address, never on the request's `Host` (which whoever sends the request chooses).
    let url = format!("{}/register/{{registration}}/{{code}}", app.public_url);
    step(&app, &headers, Act::StartSignUp { url }).await
}

pub async fn sign_up(
    State(app): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<SignUpFields>,
) -> Response {
    match fingerprint(&headers) {
        Ok(fingerprint) => step(&app, &headers, Act::SignUp(form, fingerprint)).await,
        Err(message) => refused(&app, &headers, StatusCode::BAD_REQUEST, &message).await,
    }
}

/// The device fingerprint of the visitor's browser: its user agent (a browser that sends
/// none, or one the fingerprint cannot hold, is an "unknown browser").
fn fingerprint(headers: &HeaderMap) -> Result<DeviceFingerprint, String> {
    let agent = headers
        .get(USER_AGENT)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    DeviceFingerprint::from_user_agent(agent)
        .or_else(|_| DeviceFingerprint::from_user_agent("unknown browser"))
        .map_err(|e| say(&e))
}

// ---------------------------------------------------------------------------------------
// One step.

/// Resumes the visitor's flow, applies `act`, exchanges one request with the host and
/// parks the flow again; then the browser goes to `GET /`.
async fn step(app: &Shared, headers: &HeaderMap, act: Act) -> Response {
    let now = SystemTime::now();
    let (id, new_id) = match super::visitor_id(&app.config, headers) {
        Some(id) => (id, false),
        None if act.starts() => match super::new_visitor_id() {
            Ok(id) => (id, true),
            Err(e) => return super::failure(&e),
        },
        None => return super::to_page(None),
    };
    let _one_at_a_time = app.visitors.lock(&id).await;
    let row = match app.store.load(&id, now).await {
        Ok(row) => row,
        Err(e) => return super::failure(&e),
    };
    let cookie = new_id.then(|| super::set_cookie(&app.config, Some(&id)));
    let endpoint = app.config.upstream.clone();
    let mut row = match (row, &act) {
        (Some(row), _) if matches!(row.parked, Parked::Session(_)) && act.starts() => {
            let message = "You are signed in: sign out first.";
            return page_with(&row, now, StatusCode::CONFLICT, message);
        }
        // Starting over goes through the visitor's flow: it keeps its attempt counter, and
        // a rate limit it waits out still holds the new wizard until the wait ends.
        (
            Some(Row {
                parked: Parked::SignIn(flow),
                ..
            }),
            Act::StartSignIn,
        ) => Row {
            parked: Parked::SignIn(flow),
            email: None,
        },
        (
            Some(Row {
                parked: Parked::SignUp(flow),
                ..
            }),
            Act::StartSignUp { .. },
        ) if flow.state() != SignUpState::SignInRequired => Row {
            parked: Parked::SignUp(flow),
            email: None,
        },
        (_, Act::StartSignIn) => Row {
            parked: Parked::SignIn(SignIn::new(endpoint)),
            email: None,
        },
        (_, Act::StartSignUp { .. }) => Row {
            parked: Parked::SignUp(SignUp::new(endpoint)),
            email: None,
        },
        (Some(row), _) => row,
        (None, _) => return super::to_page(None),
    };

    // The form, applied to the flow: the request to send, or why not.
    let outgoing = match apply(&mut row, act, now) {
        Ok(outgoing) => outgoing,
        Err(message) => return stay(app, &id, now, StatusCode::BAD_REQUEST, &message).await,
    };
    // The exchange with the host.
    let tokens = match exchange(app, &mut row.parked, outgoing, now).await {
        Ok(tokens) => tokens,
        Err(message) => return stay(app, &id, now, StatusCode::BAD_GATEWAY, &message).await,
    };
    let now = SystemTime::now();
    let expires_at = match tokens {
        // Signed in (or signed up and in): from now on the row is the session.
        Some(tokens) => {
            let expires_at = tokens.refresh().expires_at();
            row.parked = Parked::Session(super::new_session(&app.config, tokens));
            expires_at
        }
        None => {
            // A held step lives at least as long as its wait.
            let ttl = app.config.flow_ttl;
            let deadline = row.parked_deadline().map_or(now, |at| at.max(now));
            deadline + ttl
        }
    };
    if let Err(e) = app.store.save(&id, &row, expires_at).await {
        return super::failure(&e);
    }
    super::to_page(cookie)
}

/// Applies the form to the flow. `Err` is a message for the visitor; the flow is as it was.
fn apply(row: &mut Row, act: Act, now: SystemTime) -> Result<Outgoing, String> {
    let wrong_step = || "That form is not the step you are at: here it is again.".to_owned();
    let said = |e: Error| say(&e);
    match (&mut row.parked, act) {
        (Parked::SignIn(flow), Act::StartSignIn) => flow.start(now).map_err(said),
        (Parked::SignIn(flow), Act::Credentials(form, fingerprint)) => {
            let mut credentials =
                Credentials::new(form.email.trim(), Secret::new(form.password), fingerprint);
            if let Some(recaptcha) = form.recaptcha {
                credentials = credentials.with_recaptcha(Secret::new(recaptcha));
            }
            let outgoing = flow.submit_credentials(credentials, now).map_err(said)?;
            row.email = Some(form.email.trim().to_owned());
            Ok(outgoing)
        }
        (Parked::SignIn(flow), Act::Method(method)) => {
            flow.choose_method(method, now).map_err(said)
        }
        (Parked::SignIn(flow), Act::Code(code)) => {
            flow.submit_code(Secret::new(code), now).map_err(said)
        }
        (Parked::SignIn(flow), Act::ResetCode) => flow.request_reset_code(now).map_err(said),
        (Parked::SignIn(flow), Act::Reset(form)) => flow
            .reset_password(
                Secret::new(form.code.trim().to_owned()),
                Secret::new(form.password),
                now,
            )
            .map_err(said),
        (Parked::SignIn(flow), Act::Retry) => flow.retry(now).map_err(said),
        (Parked::SignUp(flow), Act::StartSignUp { url }) => {
            flow.start(&url, None, now).map_err(said)
        }
        (Parked::SignUp(flow), Act::SignUp(fields, fingerprint)) => {
            let email = fields.email.trim().to_owned();
            let mut form = SignUpForm::new(
                email.as_str(),
                Secret::new(fields.password),
                Secret::new(fields.password_confirmation),
                fingerprint,
            );
            if !fields.country_code.trim().is_empty() {
                form = form.with_country_code(fields.country_code.trim());
            }
            if !fields.given_name.trim().is_empty() {
                form = form.with_given_name(fields.given_name.trim());
            }
            if !fields.family_name.trim().is_empty() {
                form = form.with_family_name(fields.family_name.trim());
            }
            let outgoing = flow.submit(form, now).map_err(said)?;
            row.email = Some(email);
            Ok(outgoing)
        }
        (Parked::SignUp(flow), Act::Retry) => flow.retry(now).map_err(said),
        _ => Err(wrong_step()),
    }
}

/// Sends the request (if the flow did not hold it for a rate limit) and hands the answer
/// to the flow. `Some(tokens)` once the wizard signed the visitor in.
async fn exchange(
    app: &Shared,
    parked: &mut Parked,
    outgoing: Outgoing,
    now: SystemTime,
) -> Result<Option<TokenPair>, String> {
    let Outgoing::Request(request) = outgoing else {
        return Ok(None); // held: the page shows the wait
    };
    let response = app.http.send(request).await.map_err(|e| {
        format!("The sign-in service could not be reached ({e}). Please try again.")
    })?;
    let now = SystemTime::now().max(now);
    match parked {
        Parked::SignIn(flow) => match flow.handle_response(&response, now).map_err(|e| say(&e))? {
            SignInStep::Done(tokens) => Ok(Some(tokens)),
            _ => Ok(None),
        },
        Parked::SignUp(flow) => match flow.handle_response(&response, now).map_err(|e| say(&e))? {
            SignUpStep::Done(tokens) => Ok(Some(tokens)),
            _ => Ok(None),
        },
        Parked::Session(_) => Err("You are signed in: sign out first.".to_owned()),
    }
}

/// An error of the crate, for the visitor: its message names fields and steps, never a
/// value typed or received.
fn say(error: &Error) -> String {
    match error {
        Error::OutOfOrder { .. } => {
            "That form is not the step you are at: here it is again.".to_owned()
        }
        other => format!("That did not work: {other}."),
    }
}

impl Row {
    /// When a rate limit the flow holds a step for ends, if it does.
    fn parked_deadline(&self) -> Option<SystemTime> {
        match &self.parked {
            Parked::SignIn(flow) => flow.next_deadline(),
            Parked::SignUp(flow) => flow.next_deadline(),
            Parked::Session(_) => None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Pages.

/// The page of the step the visitor is at.
pub fn render(row: &Row, now: SystemTime) -> String {
    render_with(row, now, None)
}

fn render_with(row: &Row, now: SystemTime, error: Option<&str>) -> String {
    let email = row.email.as_deref();
    let rejected;
    let view = match &row.parked {
        Parked::Session(_) => {
            rejected = None;
            View::SignedIn { email }
        }
        Parked::SignIn(flow) => {
            let step = flow.current_step();
            rejected = refusal_of_sign_in(step.as_ref());
            match step {
                Some(SignInStep::Credentials { options, .. }) => View::Credentials {
                    email: flow.last_email().or(email),
                    recaptcha: options.recaptcha_enabled,
                },
                Some(SignInStep::ChooseMethod { ref methods, .. }) => {
                    let view = View::ChooseMethod { methods };
                    return pages::render(&view, error.or(rejected.as_deref()));
                }
                Some(SignInStep::Code { method, .. }) => View::Code { method },
                Some(SignInStep::PasswordResetRequired { .. }) => View::ResetRequired,
                Some(SignInStep::ResetCode { .. }) => View::ResetCode,
                Some(SignInStep::PasswordChanged) => View::PasswordChanged,
                Some(SignInStep::RetryAt(until)) => View::Wait { until, now },
                Some(SignInStep::Unsupported { ref workflow, .. }) => {
                    return pages::render(&View::Unsupported { workflow }, error)
                }
                _ => View::Home,
            }
        }
        Parked::SignUp(flow) => {
            let step = flow.current_step();
            rejected = match &step {
                Some(SignUpStep::Form {
                    rejected: Some(r), ..
                }) => Some(r.to_string()),
                _ => None,
            };
            match step {
                Some(SignUpStep::Form { .. }) => View::SignUpForm,
                Some(SignUpStep::SignInRequired) => View::SignUpDone { email },
                Some(SignUpStep::RetryAt(until)) => View::Wait { until, now },
                Some(SignUpStep::Next { ref workflow, .. }) => {
                    return pages::render(&View::Unsupported { workflow }, error)
                }
                _ => View::Home,
            }
        }
    };
    pages::render(&view, error.or(rejected.as_deref()))
}

/// The host's refusal of the visitor's last try at this step, if any.
fn refusal_of_sign_in(step: Option<&SignInStep>) -> Option<String> {
    let rejected = match step? {
        SignInStep::Credentials { rejected, .. }
        | SignInStep::ChooseMethod { rejected, .. }
        | SignInStep::Code { rejected, .. }
        | SignInStep::PasswordResetRequired { rejected }
        | SignInStep::ResetCode { rejected } => rejected.as_ref(),
        _ => None,
    };
    rejected.map(|r| format!("The service refused that: {r}"))
}

/// The page of the step the visitor is still at, with what went wrong.
fn page_with(row: &Row, now: SystemTime, status: StatusCode, message: &str) -> Response {
    super::html(status, render_with(row, now, Some(message)))
}

/// Nothing was written: the visitor's stored step, with `message`.
async fn stay(
    app: &Shared,
    id: &str,
    now: SystemTime,
    status: StatusCode,
    message: &str,
) -> Response {
    match app.store.load(id, now).await {
        Ok(Some(row)) => page_with(&row, now, status, message),
        Ok(None) => super::html(status, pages::render(&View::Home, Some(message))),
        Err(e) => super::failure(&e),
    }
}

/// A form the gateway refused before any flow saw it.
async fn refused(app: &Shared, headers: &HeaderMap, status: StatusCode, message: &str) -> Response {
    let now = SystemTime::now();
    match super::visitor_id(&app.config, headers) {
        Some(id) => stay(app, &id, now, status, message).await,
        None => super::to_page(None),
    }
}
