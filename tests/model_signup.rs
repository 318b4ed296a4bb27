//! Model-based property test of the client sign-up wizard (proptest-state-machine).
//!
//! The reference model is the documented protocol in plain Rust: which step the wizard is
//! at, which emails the server already knows, the virtual clock, and the host's dialect
//! (one of `sim::Dialect::ALL`, picked per case). The system under test is the real
//! [`SignUp`] flow answered by the in-process simulator speaking that dialect, with
//! hand-built answers for what the simulator never says (tokens with the sign-up, the form
//! again, a step this crate does not drive, a 429 to either request), answers given
//! departures the pages leave open (the status line, `done`, a missing `uuid`), and a
//! network that loses answers (the caller then resends with `retry`). A finished sign-up
//! is checked end to end: the same credentials sign in with the real [`SignIn`] flow.
//!
//! After every transition: the flow's state, step and next deadline equal the model's,
//! every `Err` left the flow unchanged, a `retry` before the end of a wait changed nothing
//! and every resend is the request the flow held or awaited, byte for byte, and the
//! simulator saw no protocol violation. Every answer also goes to
//! a strict twin of the flow, which must read it alike or, where the lenient flow recorded
//! deviations, refuse it and stay unchanged; the deviations the flow holds are exactly
//! those of [`expected_deviations`]. Every documented row of `signup::TRANSITIONS`, every
//! dialect, every `Retry-After` form and every kind of tolerated departure must be met at
//! least once over the run.
//!
//! `PROPTEST_CASES` sets the number of cases (default [`DEFAULT_CASES`]).

#[path = "support/coverage.rs"]
mod coverage;
#[path = "support/dialects.rs"]
mod dialects;
#[path = "support/lenient.rs"]
mod lenient;
#[path = "support/runner.rs"]
mod runner;
#[path = "support/sent.rs"]
mod sent;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use b2core_auth::client::signup::{SignUpState, TRANSITIONS};
use b2core_auth::client::{Credentials, SignIn, SignInStep, SignUp, SignUpForm, SignUpStep};
use b2core_auth::format_rfc3339;
use b2core_auth::sim::{ClientAccount, Dialect, Server, StatusLine, WizardInit};
use b2core_auth::{DeviceFingerprint, Endpoint, Error, Outgoing};
use http::{Request, Response};
use proptest::prelude::*;
use proptest::strategy::Union;
use proptest::test_runner::Config;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};
use serde_json::json;

use b2core_auth::Flow;
use coverage::{Checklist, Coverage, Taken};
use lenient::{twist, twist_response, Sent, Twist};
use sent::Sent as _;

static COVERAGE: Coverage<SignUpState> = Coverage::new(TRANSITIONS);
/// Every dialect must be spoken: a case in it must have taken a 2xx of the simulator.
static DIALECTS: Checklist = Checklist::new("dialects");
/// Every form of `Retry-After` must be read at least once.
static RETRY_AFTER: Checklist = Checklist::new("Retry-After forms");
/// Every kind of tolerated departure must be fed, and recorded, at least once.
static TOLERATED: Checklist = Checklist::new("tolerated departures");
/// The tolerated departures a run must meet: "<request>: <field of the deviation>" (the
/// wizard's first answer cannot lack its `uuid`: it gives the flow one).
const TOLERATED_ALL: [&str; 5] = [
    "wizard: code",
    "wizard: done",
    "submit: code",
    "submit: uuid",
    "submit: done",
];

const DEFAULT_CASES: u32 = 800;
const MAX_TRANSITIONS: usize = 40;
/// 2024-04-22T11:07:24Z, the vendor page's `createdAt`.
const T0: u64 = 1_713_784_044;
const HOST: &str = "https://host.name";
const LINK: &str = "https://host.name/register/{registration}/{code}";
const FORM_WORKFLOW: &str = "basic_register_form";
const OTHER_WORKFLOW: &str = "email_confirmation";
const PASSWORD: &str = "Signup-Passw0rd!";

/// Index 0 is registered before the run; the last is not an address at all.
const EMAILS: [&str; 6] = [
    "taken@example.com",
    "new0@example.com",
    "new1@example.com",
    "new2@example.com",
    "new3@example.com",
    "not-an-address",
];
const INVALID: usize = 5;

fn at(t: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0 + t)
}

// ---------------------------------------------------------------------------------------
// The reference model.

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    New,
    AwaitWizard,
    Form { rejected: bool },
    AwaitSubmit { email: usize },
    Next,
    SignInRequired { email: usize },
    Done,
    RateLimited { until: u64, resume: Box<Phase> },
}

impl Phase {
    fn state(&self) -> SignUpState {
        match self {
            Self::New => SignUpState::New,
            Self::AwaitWizard => SignUpState::AwaitWizard,
            Self::Form { .. } => SignUpState::Form,
            Self::AwaitSubmit { .. } => SignUpState::AwaitSubmit,
            Self::Next => SignUpState::Next,
            Self::SignInRequired { .. } => SignUpState::SignInRequired,
            Self::Done => SignUpState::SignedUp,
            Self::RateLimited { .. } => SignUpState::RateLimited,
        }
    }

    fn is_awaiting(&self) -> bool {
        matches!(self, Self::AwaitWizard | Self::AwaitSubmit { .. })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum View {
    Form { workflow: String, rejected: bool },
    Next(String),
    SignInRequired,
    RetryAt(SystemTime),
    Done,
}

fn view_of(step: &SignUpStep) -> View {
    match step {
        SignUpStep::Form {
            workflow, rejected, ..
        } => View::Form {
            workflow: workflow.clone(),
            rejected: rejected.is_some(),
        },
        SignUpStep::Next { workflow, .. } => View::Next(workflow.clone()),
        SignUpStep::SignInRequired => View::SignInRequired,
        SignUpStep::RetryAt(t) => View::RetryAt(*t),
        SignUpStep::Done(_) => View::Done,
        other => panic!("a step the model does not know: {other:?}"),
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    /// Ok; for an answer, the step it returned; for a call, a request was sent.
    Ok(Option<View>),
    /// A call returned `Outgoing::RetryAt` with this instant: nothing was sent.
    Held(SystemTime),
    OutOfOrder,
    InvalidInput(&'static str),
    Malformed,
    Refused,
}

fn outcome_of_error(error: &Error) -> Outcome {
    match error {
        Error::OutOfOrder { .. } => Outcome::OutOfOrder,
        Error::InvalidInput { field, .. } => Outcome::InvalidInput(field),
        Error::Malformed { .. } => Outcome::Malformed,
        Error::Refused(_) => Outcome::Refused,
        other => panic!("an error the sign-up flow should never give: {other:?}"),
    }
}

#[derive(Clone, Debug)]
struct Model {
    /// How the server answers where the pages leave room.
    dialect: Dialect,
    now: u64,
    registered: Vec<bool>,
    signed_in: Vec<bool>,
    phase: Phase,
    /// The request of the awaiting phase is on its way to the server (false once its
    /// answer was lost: only a `retry` sends it again).
    in_flight: bool,
    expect: Outcome,
}

#[derive(Clone, Debug)]
enum T {
    Start {
        referral: bool,
    },
    /// The simulator answers the outstanding request; a 2xx reaches the flow with the
    /// twist's departures.
    Deliver(Twist),
    Submit {
        email: usize,
        confirmed: bool,
    },
    /// The caller resends: the request the flow holds after a 429, or the one it awaits
    /// the answer to (whatever was on its way is lost).
    Retry,
    /// The server takes the outstanding request; its answer is lost on the way back.
    LoseResponse,
    Tick(u64),
    Park,
    /// The finished sign-up's credentials sign in (the real sign-in flow, same server).
    SignIn,
    /// A 429 to the outstanding request (`Retry-After` in seconds, or none).
    TooMany(Option<u64>),
    /// The sign-up is answered with tokens (the simulator answers without).
    WithTokens(Twist),
    /// The sign-up is answered with the form's own workflow again.
    FormAgain(Twist),
    /// The sign-up is answered with a step this crate does not drive.
    OtherWorkflow(Twist),
    /// The wizard request is refused (400).
    Refusal,
    /// A 2xx of another sign-up wizard answers the sign-up.
    Replay,
    Garbage {
        status: u16,
        body: Vec<u8>,
    },
    /// The caller takes the deviations recorded so far.
    TakeDeviations,
}

/// The request a 2xx answer answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Req {
    Wizard,
    Submit,
}

impl Req {
    fn awaited_in(state: SignUpState) -> Option<Req> {
        match state {
            SignUpState::AwaitWizard => Some(Req::Wizard),
            SignUpState::AwaitSubmit => Some(Req::Submit),
            _ => None,
        }
    }

    fn short(self) -> &'static str {
        match self {
            Req::Wizard => "wizard",
            Req::Submit => "submit",
        }
    }
}

/// A 2xx answer of the sign-up wizard as a host speaking `dialect` writes it, as the
/// sign-up page shows: `code` 202 with `done: true` (the wizard's init, the final answer),
/// `code` 200 with `done: false` (another step).
fn written(dialect: &Dialect, code: u16) -> Sent {
    Sent::of(dialect, code, code == 202)
}

/// Every deviation a lenient flow records when it takes an answer to `req` written as
/// `sent`, in the library's order: the envelope's (`code` against the status line, a
/// missing `uuid` within the wizard), then `done` against `code` (which decides).
fn deviations(req: Req, sent: &Sent) -> Vec<&'static str> {
    let mut fields = sent.envelope_deviations(req == Req::Wizard);
    if sent.done != (sent.code == 202) {
        fields.push("done");
    }
    fields
}

/// An answer the test hands to a flow.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// A 2xx of the sign-up wizard with this body `code`, and the departures added to it.
    SignUp { req: Req, code: u16, twist: Twist },
    /// A whole client sign-in without 2FA (the wizard's init, then `Terminate`), as the
    /// end-to-end check of a finished sign-up does it.
    SignIn,
}

/// The deviations (their fields, in order) a lenient flow records when it takes `answer`
/// from a host speaking `dialect`: from the knobs (how the host writes it) and the
/// library's rules (what departs from the pages).
///
/// So, for the sign-up: none but in `status-200` (and `everything`): `code` on every
/// answer whose body's `code` is 202 (the wizard's init, the final answer), sent as
/// HTTP 200; plus what the twist adds. For a sign-in: `done-at-init` adds `code` and
/// `done` on its init (202 and `true` with `login`), `status-200` a `code` on the
/// `Terminate` (and on a `done-at-init` init).
fn expected_deviations(dialect: &Dialect, answer: &Answer) -> Vec<&'static str> {
    match *answer {
        Answer::SignUp { req, code, twist } => {
            deviations(req, &written(dialect, code).twisted(twist))
        }
        Answer::SignIn => {
            let always_200 = dialect.status == StatusLine::Always200;
            let done_at_init = dialect.wizard_init == WizardInit::DoneAtInit;
            let mut fields = Vec::new();
            if done_at_init {
                if always_200 {
                    fields.push("code"); // `code` 202 with HTTP 200
                }
                fields.extend(["code", "done"]); // 202 and `true` with `login`
            }
            if always_200 {
                fields.push("code"); // `Terminate`: `code` 202 with HTTP 200
            }
            fields
        }
    }
}

/// A hand-built answer's twist: mostly none.
fn maybe_twist() -> BoxedStrategy<Twist> {
    prop_oneof![3 => Just(Twist::NONE), 1 => twist(true)].boxed()
}

impl Model {
    fn current_view(&self) -> Option<View> {
        Some(match &self.phase {
            Phase::Form { rejected } => View::Form {
                workflow: FORM_WORKFLOW.to_owned(),
                rejected: *rejected,
            },
            Phase::Next => View::Next(OTHER_WORKFLOW.to_owned()),
            Phase::SignInRequired { .. } => View::SignInRequired,
            Phase::RateLimited { until, .. } => View::RetryAt(at(*until)),
            _ => return None,
        })
    }

    fn answered(&mut self, phase: Phase) {
        self.phase = phase;
        self.in_flight = false;
        self.expect = Outcome::Ok(match self.phase {
            Phase::Done => Some(View::Done),
            _ => self.current_view(),
        });
    }

    /// Sends the request of awaiting phase `next` (a call or a retry): the sign-up has no
    /// attempt guard, so it always goes.
    fn send(&mut self, next: Phase) {
        self.phase = next;
        self.in_flight = true;
        self.expect = Outcome::Ok(None);
    }

    /// The simulator at work on the outstanding request: where its answer leads.
    fn server(&mut self) -> Phase {
        match self.phase {
            Phase::AwaitWizard => Phase::Form { rejected: false },
            Phase::AwaitSubmit { email } if self.registered[email] => {
                Phase::Form { rejected: true }
            }
            Phase::AwaitSubmit { email } => {
                self.registered[email] = true;
                Phase::SignInRequired { email }
            }
            _ => unreachable!("precondition: an outstanding request"),
        }
    }

    /// The outstanding request may reach the server and lose its answer: the simulator
    /// takes the resend that follows (a new wizard, or the refused form again) rather than
    /// as a step of a wizard that has ended.
    fn may_lose_response(&self) -> bool {
        self.in_flight
            && match self.phase {
                Phase::AwaitWizard => true,
                Phase::AwaitSubmit { email } => self.registered[email],
                _ => false,
            }
    }

    fn apply(mut self, t: &T) -> Self {
        self.expect = Outcome::Ok(None);
        let awaiting = self.phase.is_awaiting();
        match t {
            T::Start { .. } => match self.phase {
                // A finished sign-up emits nothing more: `start` is refused once signed up.
                Phase::Done | Phase::SignInRequired { .. } => self.expect = Outcome::OutOfOrder,
                // Started over during a 429's wait: the wizard replaces the held request,
                // and waits as long as it would have.
                Phase::RateLimited { until, .. } if self.now < until => {
                    self.phase = Phase::RateLimited {
                        until,
                        resume: Box::new(Phase::AwaitWizard),
                    };
                    self.expect = Outcome::Held(at(until));
                }
                Phase::RateLimited { .. } => self.send(Phase::AwaitWizard),
                _ if awaiting => self.expect = Outcome::OutOfOrder,
                _ => self.send(Phase::AwaitWizard),
            },
            T::Deliver(_) => {
                let next = self.server();
                self.answered(next);
            }
            T::LoseResponse => {
                // The server's state moves on; the flow still waits, for nothing.
                let _ = self.server();
                self.in_flight = false;
            }
            T::Submit { email, confirmed } => match self.phase {
                Phase::Form { .. } if *email == INVALID => {
                    self.expect = Outcome::InvalidInput("email");
                }
                Phase::Form { .. } if !confirmed => {
                    self.expect = Outcome::InvalidInput("password_confirmation");
                }
                Phase::Form { .. } => self.send(Phase::AwaitSubmit { email: *email }),
                _ => self.expect = Outcome::OutOfOrder,
            },
            T::Retry => match self.phase.clone() {
                // Too early: the same instant again, nothing changes.
                Phase::RateLimited { until, .. } if self.now < until => {
                    self.expect = Outcome::Held(at(until));
                }
                Phase::RateLimited { resume, .. } => self.send(*resume),
                // A resend after a transport error: what was on its way is lost.
                phase if phase.is_awaiting() => self.send(phase),
                _ => self.expect = Outcome::OutOfOrder,
            },
            T::Tick(secs) => self.now += secs,
            T::Park => {}
            T::SignIn => {
                if let Phase::SignInRequired { email } = self.phase {
                    self.signed_in[email] = true;
                }
            }
            T::TooMany(secs) => {
                let resume = Box::new(self.phase.clone());
                self.answered(Phase::RateLimited {
                    until: self.now + secs.unwrap_or(60),
                    resume,
                });
            }
            T::WithTokens(_) => self.answered(Phase::Done),
            T::FormAgain(_) => self.answered(Phase::Form { rejected: false }),
            T::OtherWorkflow(_) => self.answered(Phase::Next),
            T::Refusal => self.expect = Outcome::Refused,
            T::TakeDeviations => {}
            T::Replay => self.expect = Outcome::Malformed,
            T::Garbage { status, .. } => {
                self.expect = if !awaiting {
                    Outcome::OutOfOrder
                } else if *status >= 500 {
                    Outcome::Refused
                } else {
                    Outcome::Malformed
                };
            }
        }
        self
    }
}

struct Reference;

fn garbage() -> BoxedStrategy<T> {
    let fixed: Vec<&'static [u8]> = vec![
        b"",
        b"{}",
        b"[]",
        b"{\"code\":202,",
        b"<html>502 Bad Gateway</html>",
        // Refused in every state: no workflow (and no uuid); a wrong type.
        br#"{"code":202,"data":{},"done":true,"uuid":""}"#,
        br#"{"code":202,"data":{},"done":"yes","uuid":"u-1","workflow":"login"}"#,
    ];
    let body = prop_oneof![
        prop::sample::select(fixed).prop_map(<[u8]>::to_vec),
        prop::collection::vec(any::<u8>(), 0..48),
    ];
    (prop::sample::select(vec![200u16, 202, 500, 502]), body)
        .prop_map(|(status, body)| T::Garbage { status, body })
        .boxed()
}

fn submit() -> BoxedStrategy<T> {
    (
        prop_oneof![2 => Just(0usize), 6 => 1usize..INVALID, 1 => Just(INVALID)],
        prop::bool::weighted(0.85),
    )
        .prop_map(|(email, confirmed)| T::Submit { email, confirmed })
        .boxed()
}

fn tick() -> BoxedStrategy<T> {
    prop_oneof![
        (1u64..=10).prop_map(T::Tick),
        Just(T::Tick(61)),
        Just(T::Tick(601)),
    ]
    .boxed()
}

fn too_many() -> BoxedStrategy<T> {
    prop::option::weighted(0.7, 1u64..=120)
        .prop_map(T::TooMany)
        .boxed()
}

impl ReferenceStateMachine for Reference {
    type State = Model;
    type Transition = T;

    fn init_state() -> BoxedStrategy<Model> {
        dialects::dialect()
            .prop_map(|dialect| Model {
                dialect,
                now: 0,
                registered: (0..EMAILS.len()).map(|i| i == 0).collect(),
                signed_in: vec![false; EMAILS.len()],
                phase: Phase::New,
                in_flight: false,
                expect: Outcome::Ok(None),
            })
            .boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<T> {
        let start = any::<bool>().prop_map(|referral| T::Start { referral });
        let mut options: Vec<(u32, BoxedStrategy<T>)> = vec![
            (2, tick()),
            (1, Just(T::Park).boxed()),
            (1, Just(T::TakeDeviations).boxed()),
            (1, garbage()),
            (
                1,
                prop_oneof![start.clone(), submit(), Just(T::Retry)].boxed(),
            ),
        ];
        if state.phase.is_awaiting() {
            // The network: a lost answer, and the resend that follows.
            options.extend([
                (1, Just(T::LoseResponse).boxed()),
                (2, Just(T::Retry).boxed()),
            ]);
        }
        let progress: Vec<(u32, BoxedStrategy<T>)> = match &state.phase {
            Phase::New | Phase::Next | Phase::Done => vec![(10, start.boxed())],
            Phase::SignInRequired { .. } => vec![(6, start.boxed()), (6, Just(T::SignIn).boxed())],
            Phase::AwaitWizard => vec![
                (10, Just(T::Deliver(Twist::NONE)).boxed()),
                (2, twist(false).prop_map(T::Deliver).boxed()),
                (2, too_many()),
                (1, Just(T::Refusal).boxed()),
            ],
            Phase::Form { .. } => vec![(12, submit()), (1, start.boxed())],
            Phase::AwaitSubmit { .. } => vec![
                (10, Just(T::Deliver(Twist::NONE)).boxed()),
                (2, twist(true).prop_map(T::Deliver).boxed()),
                (2, too_many()),
                (1, maybe_twist().prop_map(T::WithTokens).boxed()),
                (1, maybe_twist().prop_map(T::FormAgain).boxed()),
                (1, maybe_twist().prop_map(T::OtherWorkflow).boxed()),
                (1, Just(T::Replay).boxed()),
            ],
            Phase::RateLimited { .. } => vec![
                (6, Just(T::Retry).boxed()),
                (2, start.boxed()),
                (
                    3,
                    prop_oneof![(1u64..=30).prop_map(T::Tick), Just(T::Tick(121))].boxed(),
                ),
            ],
        };
        options.extend(progress);
        Union::new_weighted(options).boxed()
    }

    fn preconditions(state: &Model, t: &T) -> bool {
        match t {
            T::Deliver(twist) => {
                state.phase.is_awaiting()
                    && state.in_flight
                    && (!twist.no_uuid || matches!(state.phase, Phase::AwaitSubmit { .. }))
            }
            T::LoseResponse => state.phase.is_awaiting() && state.may_lose_response(),
            T::TooMany(_) => state.phase.is_awaiting(),
            T::WithTokens(_) | T::FormAgain(_) | T::OtherWorkflow(_) | T::Replay => {
                matches!(state.phase, Phase::AwaitSubmit { .. })
            }
            T::Refusal => state.phase == Phase::AwaitWizard,
            T::SignIn => {
                matches!(state.phase, Phase::SignInRequired { email } if !state.signed_in[email])
            }
            _ => true,
        }
    }

    fn apply(state: Model, t: &T) -> Model {
        state.apply(t)
    }
}

// ---------------------------------------------------------------------------------------
// The system under test.

struct Sut {
    server: Server,
    flow: SignUp,
    /// The request the flow awaits the answer to, or holds while rate limited.
    outstanding: Option<Request<Vec<u8>>>,
    /// Another browser tab's sign-up wizard answer.
    foreign: Response<Vec<u8>>,
    now: u64,
    dialect: Dialect,
    /// The deviations the flow should hold.
    log: lenient::Log,
    /// The flow's error from the last answer, if any.
    last_error: Option<Error>,
}

fn fingerprint() -> DeviceFingerprint {
    DeviceFingerprint::from_user_agent("model-test/1.0").expect("a valid user agent")
}

fn json_response(status: u16, body: serde_json::Value) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header("Content-Type", "application/json")
        .body(serde_json::to_vec(&body).expect("json"))
        .expect("a response")
}

fn token(name: &str, created: SystemTime, lifetime: u64) -> serde_json::Value {
    json!({
        "token": format!("{name}-token"),
        "createdAt": format_rfc3339(created).expect("a time"),
        "expiresAt": format_rfc3339(created + Duration::from_secs(lifetime)).expect("a time"),
    })
}

/// The label of an answer in the table: after a submission, by the body's `code` (the
/// status line only when the body has none), its tokens and its `workflow`.
fn label(from: SignUpState, response: &Response<Vec<u8>>) -> String {
    let status = response.status().as_u16();
    match status {
        429 => return "429".into(),
        400..=499 => return "4xx".into(),
        _ => {}
    }
    if from == SignUpState::AwaitWizard {
        return "2xx".into();
    }
    let body: serde_json::Value = serde_json::from_slice(response.body()).expect("json");
    let code = body["code"].as_i64().unwrap_or(i64::from(status));
    match code {
        202 if body["data"]["accessToken"].is_object() => "`code` 202 with tokens".into(),
        202 => "`code` 202 without tokens".into(),
        _ if body["workflow"] == FORM_WORKFLOW => "`code` 200, the form's workflow".into(),
        _ => "`code` 200, other workflow".into(),
    }
}

/// A hand-built 2xx answer to the sign-up, sent as `sent` says.
fn hand_built(
    sent: Sent,
    uuid: String,
    workflow: &str,
    data: serde_json::Value,
) -> Response<Vec<u8>> {
    let mut body =
        json!({"code": sent.code, "done": sent.done, "workflow": workflow, "data": data});
    if sent.uuid {
        body["uuid"] = json!(uuid);
    }
    json_response(sent.status, body)
}

impl Sut {
    fn now(&self) -> SystemTime {
        at(self.now)
    }

    fn uuid(&self) -> String {
        self.flow.uuid().expect("the flow has a uuid").to_owned()
    }

    /// A call that moves the flow: its request becomes the outstanding one. (The sign-up
    /// has no attempt guard: a call never waits.)
    fn called(&mut self, result: Result<Outgoing, Error>) -> Outcome {
        match result {
            Ok(Outgoing::Request(request)) => {
                self.outstanding = Some(request);
                Outcome::Ok(None)
            }
            Ok(Outgoing::RetryAt(t)) => panic!("a sign-up call waits until {t:?}"),
            Err(error) => outcome_of_error(&error),
        }
    }

    /// `retry`: a request it sends is the one the flow held or awaited, byte for byte; an
    /// instant to wait for changes nothing.
    fn retry(&mut self) -> Outcome {
        let before = self.flow.clone();
        match self.flow.retry(self.now()) {
            Ok(Outgoing::Request(request)) => {
                let outstanding = self.outstanding.as_ref().expect("a request to resend");
                lenient::assert_same_request(&request, outstanding);
                self.outstanding = Some(request);
                Outcome::Ok(None)
            }
            Ok(Outgoing::RetryAt(t)) => {
                assert!(self.outstanding.is_some(), "a wait holds a request");
                assert_eq!(
                    self.flow, before,
                    "a retry before the instant changed the flow"
                );
                Outcome::Held(t)
            }
            Err(error) => outcome_of_error(&error),
        }
    }

    /// Hands `response` to the flow, and to its strict twin; `deviations`: the fields of
    /// the deviations the flow must record if it takes the answer.
    fn answer(&mut self, response: &Response<Vec<u8>>, deviations: &[&'static str]) -> Outcome {
        let mut twin = lenient::strict_twin(&self.flow);
        assert!(twin.endpoint().is_strict());
        let twin_before = twin.clone();
        let result = self.flow.handle_response(response, self.now());
        let strict = twin.handle_response(response, self.now());
        let added: &[&str] = if result.is_ok() { deviations } else { &[] };
        lenient::check_strict(&result, added, &strict, None, twin == twin_before);
        self.last_error = result.as_ref().err().cloned();
        if result.is_ok() {
            let step = self.outstanding.as_ref().map(lenient::request_line);
            self.log.add(&step.unwrap_or_default(), added);
        }
        match result {
            Ok(step) => {
                if !matches!(step, SignUpStep::RetryAt(_)) {
                    // A 429 leaves the request held, to send again with `retry`.
                    self.outstanding = None;
                }
                if let SignUpStep::Done(tokens) = &step {
                    assert_eq!(tokens.access().created_at(), self.now());
                }
                Outcome::Ok(Some(view_of(&step)))
            }
            Err(error) => outcome_of_error(&error),
        }
    }

    /// Signs in with a finished sign-up's credentials, end to end.
    fn sign_in(&mut self, email: &str) {
        let now = self.now();
        let mut flow = SignIn::new(Endpoint::new(HOST).expect("endpoint"));
        let mut request = flow.start(now).sent();
        for _ in 0..4 {
            let response = self.server.handle(&request, now);
            request = match flow.handle_response(&response, now).expect("an answer") {
                SignInStep::Credentials { rejected: None, .. } => {
                    let credentials = Credentials::new(email, PASSWORD, fingerprint());
                    flow.submit_credentials(credentials, now).sent()
                }
                SignInStep::Done(_) => {
                    let fields: Vec<&str> = flow.deviations().iter().map(|d| d.field()).collect();
                    let expected = expected_deviations(&self.dialect, &Answer::SignIn);
                    assert_eq!(fields, expected, "the sign-in's deviations");
                    return;
                }
                other => panic!("a signed-up client signs in without 2FA, got {other:?}"),
            };
        }
        panic!("the sign-in did not finish");
    }
}

struct Test;

impl StateMachineTest for Test {
    type SystemUnderTest = Sut;
    type Reference = Reference;

    fn init_test(model: &Model) -> Sut {
        let mut server = Server::new(dialects::sim_config(model.dialect));
        server.add_client(ClientAccount::new(EMAILS[0], "Existing-Passw0rd!"));
        let mut tab = SignUp::new(Endpoint::new(HOST).expect("endpoint"));
        let request = tab.start(LINK, None, at(0)).sent();
        let foreign = server.handle(&request, at(0));
        assert!(foreign.status().is_success());
        Sut {
            server,
            flow: SignUp::new(Endpoint::new(HOST).expect("endpoint")),
            outstanding: None,
            foreign,
            now: 0,
            dialect: model.dialect,
            log: lenient::Log::default(),
            last_error: None,
        }
    }

    fn apply(mut sut: Sut, model: &Model, t: T) -> Sut {
        let before = sut.flow.clone();
        let from = sut.flow.state();
        let mut event: Option<Taken> = None;
        let now = sut.now();
        let outcome = match t {
            T::Start { referral } => {
                event = Some(Taken::Call("start"));
                let referral = referral.then_some("29734fc149dc93809d18f49ae970810a");
                match sut.flow.start(LINK, referral, now) {
                    // Started over during a 429's wait: the new wizard is held, and `retry`
                    // must send what a flow no wait holds sends, byte for byte.
                    Ok(Outgoing::RetryAt(t)) => {
                        let mut free = SignUp::new(sut.flow.endpoint().clone());
                        sut.outstanding = Some(free.start(LINK, referral, now).sent());
                        Outcome::Held(t)
                    }
                    result => sut.called(result),
                }
            }
            T::Deliver(twist) => {
                let request = sut.outstanding.clone().expect("an outstanding request");
                let mut response = sut.server.handle(&request, sut.now());
                let mut deviations = Vec::new();
                if response.status().is_success() {
                    // The simulator's wizard init and its final answer: `code` 202.
                    let req = Req::awaited_in(from).expect("an awaited request");
                    written(&model.dialect, 202).check(&response);
                    response = twist_response(response, twist);
                    let answer = Answer::SignUp {
                        req,
                        code: 202,
                        twist,
                    };
                    deviations = expected_deviations(&model.dialect, &answer);
                    if twist != Twist::NONE {
                        for field in &deviations {
                            TOLERATED.record(&format!("{}: {field}", req.short()));
                        }
                    }
                }
                event = Some(Taken::Answer(label(from, &response)));
                let outcome = sut.answer(&response, &deviations);
                if response.status().is_success() && matches!(outcome, Outcome::Ok(_)) {
                    DIALECTS.record(dialects::name(&model.dialect));
                }
                outcome
            }
            T::LoseResponse => {
                let request = sut.outstanding.clone().expect("an outstanding request");
                let _lost = sut.server.handle(&request, now);
                Outcome::Ok(None)
            }
            T::Submit { email, confirmed } => {
                event = Some(Taken::Call("submit"));
                let confirmation = if confirmed {
                    PASSWORD
                } else {
                    "Signup-Passw0rd?"
                };
                let form = SignUpForm::new(EMAILS[email], PASSWORD, confirmation, fingerprint())
                    .with_country_code("16")
                    .with_given_name("John")
                    .with_family_name("Brown");
                let result = sut.flow.submit(form, now);
                sut.called(result)
            }
            T::Retry => {
                event = Some(Taken::Call("retry"));
                sut.retry()
            }
            T::Tick(secs) => {
                sut.now += secs;
                Outcome::Ok(None)
            }
            T::Park => {
                let parked = serde_json::to_string(&sut.flow).expect("a flow serializes");
                let resumed: SignUp = serde_json::from_str(&parked).expect("and resumes");
                assert_eq!(resumed, sut.flow, "a parked flow resumes as it was");
                sut.flow = resumed;
                Outcome::Ok(None)
            }
            T::SignIn => {
                if let Phase::SignInRequired { email } = model.phase {
                    sut.sign_in(EMAILS[email]);
                }
                Outcome::Ok(None)
            }
            T::TooMany(secs) => {
                let mut response = json_response(
                    429,
                    json!({"error": {"code": 429, "details": [{"issue": "slow down"}]}}),
                );
                if let Some(secs) = secs {
                    // A proxy of the host: its `Retry-After` in the dialect's form.
                    let value = dialects::retry_after_value(&model.dialect, sut.now(), secs);
                    response
                        .headers_mut()
                        .insert("Retry-After", value.parse().expect("header"));
                }
                event = Some(Taken::Answer(label(from, &response)));
                let outcome = sut.answer(&response, &[]);
                if secs.is_some() && matches!(outcome, Outcome::Ok(Some(View::RetryAt(_)))) {
                    RETRY_AFTER.record(dialects::retry_after_name(model.dialect.retry_after));
                }
                outcome
            }
            T::WithTokens(twist) | T::FormAgain(twist) | T::OtherWorkflow(twist) => {
                let now = sut.now();
                let (code, workflow, data) = match t {
                    T::WithTokens(_) => (
                        202,
                        "login",
                        json!({"accessToken": token("access", now, 900),
                               "refreshToken": token("refresh", now, 3600)}),
                    ),
                    T::FormAgain(_) => (200, FORM_WORKFLOW, json!({"fields": {}})),
                    _ => (200, OTHER_WORKFLOW, json!({"email": "sent"})),
                };
                let sent = written(&model.dialect, code).twisted(twist);
                let response = hand_built(sent, sut.uuid(), workflow, data);
                let answer = Answer::SignUp {
                    req: Req::Submit,
                    code,
                    twist,
                };
                let deviations = expected_deviations(&model.dialect, &answer);
                if twist != Twist::NONE {
                    for field in &deviations {
                        TOLERATED.record(&format!("submit: {field}"));
                    }
                }
                event = Some(Taken::Answer(label(from, &response)));
                sut.answer(&response, &deviations)
            }
            T::Refusal => {
                let response = json_response(
                    400,
                    json!({"error": {"code": 400, "details": [{"issue": "bad link"}]}}),
                );
                sut.answer(&response, &[])
            }
            T::Replay => {
                let foreign = sut.foreign.clone();
                let outcome = sut.answer(&foreign, &[]);
                assert!(
                    matches!(sut.last_error, Some(Error::Malformed { field: "uuid", .. })),
                    "another wizard's answer is refused for its uuid: {:?}",
                    sut.last_error
                );
                outcome
            }
            T::TakeDeviations => {
                let taken = sut.flow.take_deviations();
                sut.log.take(&taken);
                assert!(sut.flow.deviations().is_empty());
                Outcome::Ok(None)
            }
            T::Garbage { status, body } => {
                let response = Response::builder()
                    .status(status)
                    .body(body)
                    .expect("a response");
                sut.answer(&response, &[])
            }
        };

        assert_eq!(outcome, model.expect, "the outcome in state {from}");
        match &outcome {
            Outcome::Ok(_) | Outcome::Held(_) => {
                if let Some(event) = &event {
                    COVERAGE.taken(from, event, sut.flow.state());
                }
            }
            _ => assert_eq!(sut.flow, before, "an Err must leave the flow as it was"),
        }
        sut
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        assert_eq!(sut.flow.state(), model.phase.state(), "the flow's state");
        let deadline = match model.phase {
            Phase::RateLimited { until, .. } => Some(at(until)),
            _ => None,
        };
        assert_eq!(
            sut.flow.next_deadline(),
            deadline,
            "the flow's next deadline"
        );
        assert_eq!(
            sut.flow.current_step().as_ref().map(view_of),
            model.current_view(),
            "the flow's step"
        );
        assert_eq!(sut.flow.is_awaiting_response(), model.phase.is_awaiting());
        sut.log.check(sut.flow.deviations());
        assert_eq!(
            sut.server.violations(),
            &[],
            "the simulator saw a protocol violation"
        );
    }
}

/// Runs the model-based property test and then demands that every documented row ran.
#[test]
fn sign_up_follows_its_model_and_takes_every_documented_transition() {
    let mut config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = DEFAULT_CASES;
    }
    let mut runner = runner::new(config.clone());
    let result = runner.run(
        &Reference::sequential_strategy(1..=MAX_TRANSITIONS),
        |(initial, transitions, seen)| {
            Test::test_sequential(config.clone(), initial, transitions, seen);
            Ok(())
        },
    );
    if let Err(failure) = result {
        panic!("{failure}");
    }
    eprintln!("{}", COVERAGE.rarest(8));
    COVERAGE.assert_complete();
    TOLERATED.assert_complete(TOLERATED_ALL);
    DIALECTS.assert_complete(dialects::all_names());
    RETRY_AFTER.assert_complete(dialects::RETRY_AFTER_ALL);
    eprintln!("{}", DIALECTS.summary());
    eprintln!("{}", RETRY_AFTER.summary());
    eprintln!("{}", TOLERATED.summary());
}
