//! Model-based property test of the client sign-up wizard (proptest-state-machine).
//!
//! The reference model is the documented protocol in plain Rust: which step the wizard is
//! at, which emails the server already knows, the virtual clock. The system under test is
//! the real [`SignUp`] flow answered by the in-process simulator, with hand-built answers
//! for what the simulator never says (tokens with the sign-up, the form again, a step this
//! crate does not drive, a 429). A finished sign-up is checked end to end: the same
//! credentials sign in with the real [`SignIn`] flow.
//!
//! After every transition: the flow's state and step equal the model's, every `Err` left
//! the flow unchanged, the simulator saw no protocol violation. Every documented row of
//! `signup::TRANSITIONS` must be taken at least once over the run.
//!
//! `PROPTEST_CASES` sets the number of cases (default [`DEFAULT_CASES`]).

#[path = "support/coverage.rs"]
mod coverage;
#[path = "support/runner.rs"]
mod runner;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use b2core_auth::client::signup::TRANSITIONS;
use b2core_auth::client::{Credentials, SignIn, SignInStep, SignUp, SignUpForm, SignUpStep};
use b2core_auth::sim::{ClientAccount, Server, SimConfig};
use b2core_auth::time::format_rfc3339;
use b2core_auth::{DeviceFingerprint, Endpoint, Error};
use http::{Request, Response};
use proptest::prelude::*;
use proptest::strategy::Union;
use proptest::test_runner::Config;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};
use serde_json::json;

use coverage::Coverage;

static COVERAGE: Coverage = Coverage::new(TRANSITIONS);

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
    fn name(&self) -> &'static str {
        match self {
            Self::New => "not started",
            Self::AwaitWizard => "waiting for the wizard",
            Self::Form { .. } => "asking for the registration form",
            Self::AwaitSubmit { .. } => "waiting for the sign-up answer",
            Self::Next => "stopped at a step this crate does not drive",
            Self::SignInRequired { .. } => "signed up, sign-in required",
            Self::Done => "signed up",
            Self::RateLimited { .. } => "rate limited",
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
    Ok(Option<View>),
    OutOfOrder,
    InvalidInput(&'static str),
    RateLimited(SystemTime),
    Malformed,
    Refused,
}

fn outcome_of_error(error: &Error) -> Outcome {
    match error {
        Error::OutOfOrder { .. } => Outcome::OutOfOrder,
        Error::InvalidInput { field, .. } => Outcome::InvalidInput(field),
        Error::RateLimited { retry_at } => Outcome::RateLimited(*retry_at),
        Error::Malformed { .. } => Outcome::Malformed,
        Error::Refused(_) => Outcome::Refused,
        other => panic!("an error the sign-up flow should never give: {other:?}"),
    }
}

#[derive(Clone, Debug)]
struct Model {
    now: u64,
    registered: Vec<bool>,
    signed_in: Vec<bool>,
    phase: Phase,
    expect: Outcome,
}

#[derive(Clone, Debug)]
enum T {
    Start {
        referral: bool,
    },
    Deliver,
    Submit {
        email: usize,
        confirmed: bool,
    },
    Retry,
    Tick(u64),
    Park,
    /// The finished sign-up's credentials sign in (the real sign-in flow, same server).
    SignIn,
    /// A 429 to the outstanding request (`Retry-After` in seconds, or none).
    TooMany(Option<u64>),
    /// The sign-up is answered with tokens (the simulator answers without).
    WithTokens,
    /// The sign-up is answered with the form's own workflow again.
    FormAgain,
    /// The sign-up is answered with a step this crate does not drive.
    OtherWorkflow,
    /// The wizard request is refused (400).
    Refusal,
    /// A 2xx of another sign-up wizard answers the sign-up.
    Replay,
    Garbage {
        status: u16,
        body: Vec<u8>,
    },
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
        self.expect = Outcome::Ok(match self.phase {
            Phase::Done => Some(View::Done),
            _ => self.current_view(),
        });
    }

    fn apply(mut self, t: &T) -> Self {
        self.expect = Outcome::Ok(None);
        let awaiting = self.phase.is_awaiting();
        match t {
            T::Start { .. } => {
                // A finished sign-up emits nothing more: `start` is refused once signed up.
                if awaiting
                    || matches!(
                        self.phase,
                        Phase::RateLimited { .. } | Phase::Done | Phase::SignInRequired { .. }
                    )
                {
                    self.expect = Outcome::OutOfOrder;
                } else {
                    self.phase = Phase::AwaitWizard;
                }
            }
            T::Deliver => match self.phase {
                Phase::AwaitWizard => self.answered(Phase::Form { rejected: false }),
                Phase::AwaitSubmit { email } if self.registered[email] => {
                    self.answered(Phase::Form { rejected: true });
                }
                Phase::AwaitSubmit { email } => {
                    self.registered[email] = true;
                    self.answered(Phase::SignInRequired { email });
                }
                _ => unreachable!("precondition: an outstanding request"),
            },
            T::Submit { email, confirmed } => match self.phase {
                Phase::Form { .. } if *email == INVALID => {
                    self.expect = Outcome::InvalidInput("email");
                }
                Phase::Form { .. } if !confirmed => {
                    self.expect = Outcome::InvalidInput("password_confirmation");
                }
                Phase::Form { .. } => self.phase = Phase::AwaitSubmit { email: *email },
                _ => self.expect = Outcome::OutOfOrder,
            },
            T::Retry => match self.phase.clone() {
                Phase::RateLimited { until, .. } if self.now < until => {
                    self.expect = Outcome::RateLimited(at(until));
                }
                Phase::RateLimited { resume, .. } => self.phase = *resume,
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
            T::WithTokens => self.answered(Phase::Done),
            T::FormAgain => self.answered(Phase::Form { rejected: false }),
            T::OtherWorkflow => self.answered(Phase::Next),
            T::Refusal => self.expect = Outcome::Refused,
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
        br#"{"code":200,"data":{},"done":true,"uuid":"u-1","workflow":"login"}"#,
        br#"{"code":202,"data":{},"done":false,"uuid":"u-1","workflow":"login"}"#,
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
        Just(Model {
            now: 0,
            registered: (0..EMAILS.len()).map(|i| i == 0).collect(),
            signed_in: vec![false; EMAILS.len()],
            phase: Phase::New,
            expect: Outcome::Ok(None),
        })
        .boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<T> {
        let start = any::<bool>().prop_map(|referral| T::Start { referral });
        let mut options: Vec<(u32, BoxedStrategy<T>)> = vec![
            (2, tick()),
            (1, Just(T::Park).boxed()),
            (1, garbage()),
            (
                1,
                prop_oneof![start.clone(), submit(), Just(T::Retry)].boxed(),
            ),
        ];
        let progress: Vec<(u32, BoxedStrategy<T>)> = match &state.phase {
            Phase::New | Phase::Next | Phase::Done => vec![(10, start.boxed())],
            Phase::SignInRequired { .. } => vec![(6, start.boxed()), (6, Just(T::SignIn).boxed())],
            Phase::AwaitWizard => vec![
                (10, Just(T::Deliver).boxed()),
                (2, too_many()),
                (1, Just(T::Refusal).boxed()),
            ],
            Phase::Form { .. } => vec![(12, submit()), (1, start.boxed())],
            Phase::AwaitSubmit { .. } => vec![
                (10, Just(T::Deliver).boxed()),
                (2, too_many()),
                (1, Just(T::WithTokens).boxed()),
                (1, Just(T::FormAgain).boxed()),
                (1, Just(T::OtherWorkflow).boxed()),
                (1, Just(T::Replay).boxed()),
            ],
            Phase::RateLimited { .. } => vec![
                (6, Just(T::Retry).boxed()),
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
            T::Deliver | T::TooMany(_) => state.phase.is_awaiting(),
            T::WithTokens | T::FormAgain | T::OtherWorkflow | T::Replay => {
                matches!(state.phase, Phase::AwaitSubmit { .. })
            }
            T::Refusal => state.phase == Phase::AwaitWizard,
            T::SignIn => {
                matches!(state.phase, Phase::SignInRequired { email } if !state.signed_in[email])
            }
            // A retry while awaiting resends a lost request: not modelled here.
            T::Retry => !state.phase.is_awaiting(),
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
    pending: Option<Request<Vec<u8>>>,
    /// Another browser tab's sign-up wizard answer.
    foreign: Response<Vec<u8>>,
    now: u64,
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

/// The label of an answer in the table.
fn label(from: &str, response: &Response<Vec<u8>>) -> String {
    let status = response.status().as_u16();
    match status {
        429 => return "429".into(),
        400..=499 => return "4xx".into(),
        _ => {}
    }
    if from == "waiting for the wizard" {
        return "2xx".into();
    }
    let body: serde_json::Value = serde_json::from_slice(response.body()).expect("json");
    match status {
        202 if body["data"]["accessToken"].is_object() => "202 with tokens".into(),
        202 => "202 without tokens".into(),
        _ if body["workflow"] == FORM_WORKFLOW => "200 the form's workflow".into(),
        _ => "200 other workflow".into(),
    }
}

impl Sut {
    fn now(&self) -> SystemTime {
        at(self.now)
    }

    fn uuid(&self) -> String {
        self.flow.uuid().expect("the flow has a uuid").to_owned()
    }

    fn called(&mut self, result: Result<Request<Vec<u8>>, Error>) -> Outcome {
        match result {
            Ok(request) => {
                self.pending = Some(request);
                Outcome::Ok(None)
            }
            Err(error) => outcome_of_error(&error),
        }
    }

    fn answer(&mut self, response: &Response<Vec<u8>>) -> Outcome {
        match self.flow.handle_response(response, self.now()) {
            Ok(step) => {
                self.pending = None;
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
        let mut request = flow.start().expect("start");
        for _ in 0..4 {
            let response = self.server.handle(&request, now);
            request = match flow.handle_response(&response, now).expect("an answer") {
                SignInStep::Credentials { rejected: None, .. } => {
                    let credentials = Credentials::new(email, PASSWORD, fingerprint());
                    flow.submit_credentials(credentials, now).expect("sent")
                }
                SignInStep::Done(_) => return,
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

    fn init_test(_model: &Model) -> Sut {
        let mut server = Server::new(SimConfig::default());
        server.add_client(ClientAccount::new(EMAILS[0], "Existing-Passw0rd!"));
        let mut tab = SignUp::new(Endpoint::new(HOST).expect("endpoint"));
        let request = tab.start(LINK, None).expect("start");
        let foreign = server.handle(&request, at(0));
        assert_eq!(foreign.status(), 202);
        Sut {
            server,
            flow: SignUp::new(Endpoint::new(HOST).expect("endpoint")),
            pending: None,
            foreign,
            now: 0,
        }
    }

    fn apply(mut sut: Sut, model: &Model, t: T) -> Sut {
        let before = sut.flow.clone();
        let from = sut.flow.state();
        let mut event: Option<String> = None;
        let outcome = match t {
            T::Start { referral } => {
                event = Some("start".into());
                let referral = referral.then_some("29734fc149dc93809d18f49ae970810a");
                let result = sut.flow.start(LINK, referral);
                sut.called(result)
            }
            T::Deliver => {
                let request = sut.pending.clone().expect("an outstanding request");
                let response = sut.server.handle(&request, sut.now());
                event = Some(label(from, &response));
                sut.answer(&response)
            }
            T::Submit { email, confirmed } => {
                event = Some("submit".into());
                let confirmation = if confirmed {
                    PASSWORD
                } else {
                    "Signup-Passw0rd?"
                };
                let form = SignUpForm::new(EMAILS[email], PASSWORD, confirmation, fingerprint())
                    .with_country_code("16")
                    .with_given_name("John")
                    .with_family_name("Brown");
                let result = sut.flow.submit(form);
                sut.called(result)
            }
            T::Retry => {
                event = Some("retry".into());
                let result = sut.flow.retry(sut.now());
                sut.called(result)
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
                    response
                        .headers_mut()
                        .insert("Retry-After", secs.to_string().parse().expect("header"));
                }
                event = Some(label(from, &response));
                sut.answer(&response)
            }
            T::WithTokens => {
                let now = sut.now();
                let response = json_response(
                    202,
                    json!({"code": 202, "done": true, "uuid": sut.uuid(), "workflow": "login",
                           "data": {"accessToken": token("access", now, 900),
                                    "refreshToken": token("refresh", now, 3600)}}),
                );
                event = Some(label(from, &response));
                sut.answer(&response)
            }
            T::FormAgain => {
                let response = json_response(
                    200,
                    json!({"code": 200, "done": false, "uuid": sut.uuid(),
                           "workflow": FORM_WORKFLOW, "data": {"fields": {}}}),
                );
                event = Some(label(from, &response));
                sut.answer(&response)
            }
            T::OtherWorkflow => {
                let response = json_response(
                    200,
                    json!({"code": 200, "done": false, "uuid": sut.uuid(),
                           "workflow": OTHER_WORKFLOW, "data": {"email": "sent"}}),
                );
                event = Some(label(from, &response));
                sut.answer(&response)
            }
            T::Refusal => {
                let response = json_response(
                    400,
                    json!({"error": {"code": 400, "details": [{"issue": "bad link"}]}}),
                );
                sut.answer(&response)
            }
            T::Replay => {
                let foreign = sut.foreign.clone();
                sut.answer(&foreign)
            }
            T::Garbage { status, body } => {
                let response = Response::builder()
                    .status(status)
                    .body(body)
                    .expect("a response");
                sut.answer(&response)
            }
        };

        assert_eq!(outcome, model.expect, "the outcome in state {from}");
        match &outcome {
            Outcome::Ok(_) => {
                if let Some(event) = event {
                    COVERAGE.record(from, &event, sut.flow.state());
                }
            }
            _ => assert_eq!(sut.flow, before, "an Err must leave the flow as it was"),
        }
        sut
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        assert_eq!(sut.flow.state(), model.phase.name(), "the flow's state");
        assert_eq!(
            sut.flow.current_step().as_ref().map(view_of),
            model.current_view(),
            "the flow's step"
        );
        assert_eq!(sut.flow.is_awaiting_response(), model.phase.is_awaiting());
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
    COVERAGE.assert_complete();
}
