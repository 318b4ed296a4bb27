//! Model-based tests of the Back Office staff sign-in (`src/backoffice.rs`).
//!
//! The reference model is the documented protocol (`spec/backoffice-auth.txt` plus the
//! simulator's stated assumptions): the step the flow should be at, the accounts, a virtual
//! clock, 5 sign-ins and 3 confirmations a minute (the flow's guards and the server's
//! windows), 2FA tokens that die at `expiresAt`, and the host's dialect (one of
//! `sim::Dialect::ALL`, picked per case). The system under test is the real
//! [`StaffSignIn`] talking to `b2core_auth::sim::Server` in-process, speaking that
//! dialect, through a network that loses requests and answers, a proxy (of the same
//! dialect) that answers 429 or 503 itself, garbage, and answers replayed or taken from
//! another flow.
//!
//! The attempt guards hold a sixth sign-in or a fourth confirmation inside a minute the way
//! a 429 does: the call returns `Outgoing::RetryAt`, the flow waits in `RateLimited`
//! holding the attempt, `retry` before the instant changes nothing and from then on sends
//! the held request (byte for byte the one the call would have sent).
//!
//! After every transition: the step, state and next deadline equal the model's, nothing
//! panicked, an `Err` changed nothing, every resend is the request the flow held or
//! awaited, the simulator saw no protocol violation, the flow never earned a
//! server 429 that its own guard could have avoided, and it recorded no deviation (see
//! [`expected_deviations`]); a strict twin of the flow reads every answer alike. After the
//! run, every row of [`TRANSITIONS`], every dialect and every `Retry-After` form must have
//! been met.

#[path = "support/coverage.rs"]
mod coverage;
#[path = "support/dialects.rs"]
mod dialects;
#[path = "support/lenient.rs"]
mod lenient;
#[path = "support/ms_model.rs"]
mod ms_model;
#[path = "support/runner.rs"]
mod runner;
#[path = "support/sent.rs"]
mod sent;

use b2core_auth::backoffice::{StaffSignIn, StaffState, StaffStep, TRANSITIONS};
use b2core_auth::client::SignIn;
use b2core_auth::sim::{Dialect, Server, StaffAccount};
use b2core_auth::Flow as _;
use b2core_auth::{Error, Outgoing};
use coverage::{Checklist, Coverage};
use http::{Request, Response};
use ms_model::{at, config, endpoint, floor_secs, ms_of, GuardModel, WindowModel, WINDOW};
use proptest::prelude::*;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};
use sent::Sent as _;

static COVERAGE: Coverage<StaffState> = Coverage::new(TRANSITIONS);
/// Every dialect must be spoken: a case in it must have taken a 2xx of the simulator.
static DIALECTS: Checklist = Checklist::new("dialects");
/// Every form of `Retry-After` must be read at least once.
static RETRY_AFTER: Checklist = Checklist::new("Retry-After forms");

const TFA_LIFETIME: u64 = 5 * 60_000;
const ACCESS_LIFETIME: u64 = 15 * 60_000;
const REFRESH_LIFETIME: u64 = 60 * 60_000;
const SIGN_INS_PER_MINUTE: usize = 5;
const CONFIRMS_PER_MINUTE: usize = 3;

/// The accounts the model signs in with: one with email 2FA, one without, one unknown to
/// the server. (email, password).
const ACCOUNTS: [(&str, &str); 3] = [
    ("boss@example.com", "Boss-Pass-1"),
    ("clerk@example.com", "Clerk-Pass-1"),
    ("ghost@example.com", "Ghost-Pass-1"),
];
const BOSS: usize = 0;
const CLERK: usize = 1;

// ---------------------------------------------------------------------------------------
// The reference model

/// Where the flow should be.
#[derive(Clone, Debug)]
enum Flow {
    Credentials { rejected: Option<u16> },
    AwaitSignIn { account: usize, password_ok: bool },
    EmailCode { token: usize, rejected: Option<u16> },
    AwaitConfirm { token: usize },
    Limited { until: u64, resume: Box<Flow> },
    Done,
}

/// A 2FA token the server issued.
#[derive(Clone, Debug)]
struct TfaModel {
    expires: u64,
    used: bool,
}

/// A [`StaffStep`] reduced to what the model can know (no server texts, no secrets).
#[derive(Clone, Debug, PartialEq)]
enum Step {
    Credentials {
        rejected: Option<u16>,
    },
    EmailCode {
        expires_at: u64,
        rejected: Option<u16>,
    },
    RetryAt(u64),
    Done {
        access: u64,
        refresh: u64,
    },
}

/// An [`Error`] reduced the same way.
#[derive(Clone, Debug, PartialEq)]
enum Fault {
    OutOfOrder,
    InvalidInput,
    Malformed,
    Refused(u16),
}

/// What the last transition should have produced.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Nothing,
    Sent,
    /// `Outgoing::RetryAt` at this instant: nothing was sent.
    Held(u64),
    Step(Step),
    Fault(Fault),
}

/// What the server (or a proxy) answers.
#[derive(Clone, Debug)]
enum Answer {
    TooMany(u64),
    Refused(u16),
    TwoFactor(usize),
    Tokens,
    ServerError,
}

#[derive(Clone, Debug)]
struct Model {
    /// How the server (and a proxy in front of it) answers where the pages leave room.
    dialect: Dialect,
    now: u64,
    flow: Flow,
    sign_in_guard: GuardModel,
    confirm_guard: GuardModel,
    /// The server's sign-in windows, per account email.
    sign_in_windows: [WindowModel; 3],
    /// The server's confirmation window of the 2FA account.
    confirm_window: WindowModel,
    tokens: Vec<TfaModel>,
    /// A request was made and has not reached the network's end yet.
    in_flight: bool,
    outcome: Outcome,
}

/// Where an answer taken from elsewhere comes from (all real answers of the simulator).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `{"2faRequired": true, "2faDetails": ...}`
    TwoFactor,
    /// `{"2faRequired": false, accessToken, refreshToken}`
    SignedIn,
    /// `{accessToken, refreshToken}` (a confirmation)
    Pair,
    /// A client wizard envelope.
    Wizard,
}

#[derive(Clone, Debug)]
enum Transition {
    SignIn {
        account: usize,
        password_ok: bool,
    },
    SubmitCode {
        right: bool,
    },
    Retry,
    /// The in-flight request reaches the server and its answer comes back.
    Deliver,
    /// The in-flight request is lost before the server.
    LoseRequest,
    /// The in-flight request reaches the server; its answer is lost.
    LoseResponse,
    /// A proxy answers the in-flight request with 429 and `Retry-After`.
    Gateway429 {
        secs: u64,
    },
    /// A proxy answers the in-flight request with 503.
    Gateway503,
    /// A 200 whose body is not a sign-in answer.
    Garbage(Vec<u8>),
    /// A real answer, replayed from this flow's past or taken from another flow.
    Foreign {
        kind: Kind,
        replay: bool,
    },
    /// Someone else tries a wrong password for the account (counts on the server only).
    OtherDevice {
        account: usize,
    },
    /// Park the flow (serde round trip) and resume it.
    Park,
    /// The user reloads: a new flow that keeps the counters.
    Restart,
    Advance(u64),
    /// Always valid: one second passes.
    Tick,
}

impl Model {
    fn awaiting(&self) -> bool {
        matches!(
            self.flow,
            Flow::AwaitSignIn { .. } | Flow::AwaitConfirm { .. }
        )
    }

    fn state(&self) -> StaffState {
        match self.flow {
            Flow::Credentials { .. } => StaffState::Credentials,
            Flow::AwaitSignIn { .. } => StaffState::AwaitSignIn,
            Flow::EmailCode { .. } => StaffState::EmailCode,
            Flow::AwaitConfirm { .. } => StaffState::AwaitConfirm,
            Flow::Limited { .. } => StaffState::RateLimited,
            Flow::Done => StaffState::SignedIn,
        }
    }

    /// What `next_deadline()` should say: the end of the wait, while the flow waits.
    fn deadline(&self) -> Option<u64> {
        match self.flow {
            Flow::Limited { until, .. } => Some(until),
            _ => None,
        }
    }

    /// What `current_step()` should say.
    fn step(&self) -> Option<Step> {
        match &self.flow {
            Flow::Credentials { rejected } => Some(Step::Credentials {
                rejected: *rejected,
            }),
            Flow::EmailCode { token, rejected } => Some(Step::EmailCode {
                expires_at: self.tokens[*token].expires,
                rejected: *rejected,
            }),
            Flow::Limited { until, .. } => Some(Step::RetryAt(*until)),
            _ => None,
        }
    }

    /// Moves to the awaiting state `next` if its guard allows; else the flow holds `next`
    /// until the guard allows it.
    fn send(&mut self, next: Flow) {
        let guard = match next {
            Flow::AwaitSignIn { .. } => &mut self.sign_in_guard,
            _ => &mut self.confirm_guard,
        };
        match guard.next_allowed(self.now) {
            Some(t) => {
                self.flow = Flow::Limited {
                    until: t,
                    resume: Box::new(next),
                };
                self.outcome = Outcome::Held(t);
            }
            None => {
                guard.record(self.now);
                self.flow = next;
                self.in_flight = true;
                self.outcome = Outcome::Sent;
            }
        }
    }

    /// The simulator at work on the in-flight request.
    fn server(&mut self) -> Answer {
        let now = self.now;
        match self.flow {
            Flow::AwaitSignIn {
                account,
                password_ok,
            } => {
                if let Err(secs) = self.sign_in_windows[account].attempt(now) {
                    return Answer::TooMany(secs);
                }
                if !password_ok || account > CLERK {
                    Answer::Refused(400)
                } else if account == CLERK {
                    Answer::Tokens
                } else {
                    self.tokens.push(TfaModel {
                        expires: floor_secs(now) + TFA_LIFETIME,
                        used: false,
                    });
                    Answer::TwoFactor(self.tokens.len() - 1)
                }
            }
            Flow::AwaitConfirm { token } => {
                let tfa = &self.tokens[token];
                if tfa.used || now >= tfa.expires {
                    return Answer::Refused(401);
                }
                if let Err(secs) = self.confirm_window.attempt(now) {
                    return Answer::TooMany(secs);
                }
                // The flow always holds the latest token, and "right" is its code.
                Answer::Tokens
            }
            _ => unreachable!("only awaiting states have a request in flight"),
        }
    }

    /// The flow handles `answer` (sets the outcome).
    fn handle(&mut self, answer: Answer) {
        if !self.awaiting() {
            self.outcome = Outcome::Fault(Fault::OutOfOrder);
            return;
        }
        let now = self.now;
        let next = match (answer, &self.flow) {
            (Answer::ServerError, _) => {
                self.outcome = Outcome::Fault(Fault::Refused(503));
                return;
            }
            (Answer::TooMany(secs), flow) => {
                let until = ms_of(dialects::retry_until(&self.dialect, at(now), secs));
                match flow {
                    Flow::AwaitSignIn { .. } => self.sign_in_guard.block_until(until),
                    _ => self.confirm_guard.block_until(until),
                }
                Flow::Limited {
                    until,
                    resume: Box::new(flow.clone()),
                }
            }
            (Answer::Refused(status), Flow::AwaitSignIn { .. }) => Flow::Credentials {
                rejected: Some(status),
            },
            (Answer::Refused(401), Flow::AwaitConfirm { .. }) => Flow::Credentials {
                rejected: Some(401),
            },
            (Answer::Refused(status), Flow::AwaitConfirm { token }) => Flow::EmailCode {
                token: *token,
                rejected: Some(status),
            },
            (Answer::TwoFactor(token), _) => Flow::EmailCode {
                token,
                rejected: None,
            },
            (Answer::Tokens, _) => {
                self.flow = Flow::Done;
                let created = floor_secs(now);
                self.outcome = Outcome::Step(Step::Done {
                    access: created + ACCESS_LIFETIME,
                    refresh: created + REFRESH_LIFETIME,
                });
                return;
            }
            (Answer::Refused(_), _) => unreachable!("only awaiting states get answers"),
        };
        self.flow = next;
        self.outcome = Outcome::Step(self.step().expect("a state with a step"));
    }
}

/// The server's answer to the in-flight confirmation: a valid token with a wrong code is
/// a 400 (the attempt counted); with the right code the token is used up.
fn confirm_answer(model: &mut Model, right: bool) -> Answer {
    match model.server() {
        Answer::Tokens if !right => {
            // The attempt counted; the code was wrong.
            Answer::Refused(400)
        }
        Answer::Tokens => {
            if let Flow::AwaitConfirm { token } = model.flow {
                model.tokens[token].used = true;
            }
            Answer::Tokens
        }
        other => other,
    }
}

/// The model, and whether the in-flight confirmation carries the right code.
#[derive(Clone, Debug)]
struct Ref {
    model: Model,
    right_code: bool,
}

struct StaffModel;

impl ReferenceStateMachine for StaffModel {
    type State = Ref;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<Ref> {
        dialects::dialect()
            .prop_map(|dialect| Ref {
                model: Model {
                    dialect,
                    now: 0,
                    flow: Flow::Credentials { rejected: None },
                    sign_in_guard: GuardModel::new(SIGN_INS_PER_MINUTE),
                    confirm_guard: GuardModel::new(CONFIRMS_PER_MINUTE),
                    sign_in_windows: [
                        WindowModel::new(SIGN_INS_PER_MINUTE),
                        WindowModel::new(SIGN_INS_PER_MINUTE),
                        WindowModel::new(SIGN_INS_PER_MINUTE),
                    ],
                    confirm_window: WindowModel::new(CONFIRMS_PER_MINUTE),
                    tokens: Vec::new(),
                    in_flight: false,
                    outcome: Outcome::Nothing,
                },
                right_code: false,
            })
            .boxed()
    }

    fn transitions(state: &Ref) -> BoxedStrategy<Transition> {
        let m = &state.model;
        // Clock jumps: small, past a rate-limit window, and around what the state waits on.
        let mut jumps = vec![1_000, WINDOW, WINDOW + 1, 10 * 60_000];
        match &m.flow {
            Flow::EmailCode { token, .. } | Flow::AwaitConfirm { token } => {
                let expires = m.tokens[*token].expires;
                if expires > m.now {
                    jumps.extend([expires - m.now - 1, expires - m.now]);
                }
            }
            Flow::Limited { until, .. } if *until > m.now => jumps.push(*until - m.now),
            _ => {}
        }
        if let Some(t) = m.sign_in_guard.next_allowed(m.now) {
            jumps.push(t - m.now);
        }
        let jumps = jumps.into_iter().filter(|&j| j > 0).collect::<Vec<_>>();
        let advance = prop_oneof![
            (1u64..3_000).prop_map(Transition::Advance),
            proptest::sample::select(jumps).prop_map(Transition::Advance),
        ];
        let kinds = proptest::sample::select(vec![
            Kind::TwoFactor,
            Kind::SignedIn,
            Kind::Pair,
            Kind::Wizard,
        ]);
        let garbage = prop_oneof![
            Just(Vec::new()),
            Just(b"not json".to_vec()),
            Just(b"{}".to_vec()),
            Just(br#"{"2faRequired":true}"#.to_vec()),
            Just(br#"{"2faRequired":false}"#.to_vec()),
            proptest::collection::vec(any::<u8>(), 0..48),
        ];
        let base = prop_oneof![
            6 => (0..3usize, proptest::bool::weighted(0.8))
                .prop_map(|(account, password_ok)| Transition::SignIn { account, password_ok }),
            6 => proptest::bool::weighted(0.7).prop_map(|right| Transition::SubmitCode { right }),
            2 => Just(Transition::Retry),
            1 => garbage.prop_map(Transition::Garbage),
            1 => (kinds, any::<bool>()).prop_map(|(kind, replay)| Transition::Foreign { kind, replay }),
            1 => (0..2usize).prop_map(|account| Transition::OtherDevice { account }),
            1 => Just(Transition::Park),
            1 => Just(Transition::Restart),
            2 => advance,
            1 => Just(Transition::Tick),
        ];
        if m.in_flight {
            // A user who clicks again while a confirmation is slow: the guard's limit of 3
            // comes into play.
            let again = if matches!(m.flow, Flow::AwaitConfirm { .. }) {
                2
            } else {
                0
            };
            prop_oneof![
                12 => Just(Transition::Deliver),
                1 => Just(Transition::LoseRequest),
                1 => Just(Transition::LoseResponse),
                1 => (1u64..90).prop_map(|secs| Transition::Gateway429 { secs }),
                1 => Just(Transition::Gateway503),
                again => Just(Transition::Retry),
                4 => base,
            ]
            .boxed()
        } else if let Flow::EmailCode { .. } = m.flow {
            // A user who mistypes the code again and again.
            prop_oneof![
                3 => Just(Transition::SubmitCode { right: false }),
                9 => base,
            ]
            .boxed()
        } else if let Flow::Limited { until, .. } = m.flow {
            // Wait the limit out and retry, more often than chance would.
            let wait = until.saturating_sub(m.now).max(1);
            prop_oneof![
                3 => Just(Transition::Retry),
                2 => Just(Transition::Advance(wait)),
                4 => base,
            ]
            .boxed()
        } else {
            base.boxed()
        }
    }

    fn preconditions(state: &Ref, transition: &Transition) -> bool {
        let m = &state.model;
        match transition {
            Transition::Deliver
            | Transition::LoseRequest
            | Transition::LoseResponse
            | Transition::Gateway429 { .. }
            | Transition::Gateway503 => m.in_flight,
            // Only answers that cannot be this step's: an answer of the right kind from
            // another flow is indistinguishable from the real one.
            Transition::Foreign { kind, .. } => match m.flow {
                Flow::AwaitSignIn { .. } => matches!(kind, Kind::Pair | Kind::Wizard),
                Flow::AwaitConfirm { .. } => matches!(kind, Kind::TwoFactor | Kind::Wizard),
                _ => true,
            },
            _ => true,
        }
    }

    fn apply(mut state: Ref, transition: &Transition) -> Ref {
        let m = &mut state.model;
        m.outcome = Outcome::Nothing;
        match transition {
            Transition::SignIn {
                account,
                password_ok,
            } => match m.flow {
                Flow::Credentials { .. } | Flow::EmailCode { .. } | Flow::Limited { .. } => {
                    m.send(Flow::AwaitSignIn {
                        account: *account,
                        password_ok: *password_ok,
                    });
                }
                _ => m.outcome = Outcome::Fault(Fault::OutOfOrder),
            },
            Transition::SubmitCode { right } => match m.flow {
                Flow::EmailCode { token, .. } if m.now >= m.tokens[token].expires => {
                    m.outcome = Outcome::Fault(Fault::InvalidInput);
                }
                Flow::EmailCode { token, .. } => {
                    // Sent now, or held until the guard allows: the same code either way.
                    m.send(Flow::AwaitConfirm { token });
                    state.right_code = *right;
                }
                _ => m.outcome = Outcome::Fault(Fault::OutOfOrder),
            },
            Transition::Retry => {
                if m.awaiting() {
                    // The caller resends after a transport error: what was on its way is
                    // lost, whatever the retry gives.
                    m.in_flight = false;
                }
                let latest = match &m.flow {
                    Flow::Limited { resume, .. } => resume,
                    flow => flow,
                };
                match (&m.flow, latest) {
                    // A confirmation whose 2FA token has expired is not sent again (it could
                    // only be refused), before the end of a wait too: sign in again.
                    (_, Flow::AwaitConfirm { token }) if m.now >= m.tokens[*token].expires => {
                        m.outcome = Outcome::Fault(Fault::InvalidInput);
                    }
                    // Too early: the same instant again, nothing changes.
                    (Flow::Limited { until, .. }, _) if m.now < *until => {
                        m.outcome = Outcome::Held(*until);
                    }
                    (Flow::Limited { resume, .. }, _) => {
                        let resume = (**resume).clone();
                        m.send(resume);
                    }
                    // A resend after a transport error.
                    (Flow::AwaitSignIn { .. } | Flow::AwaitConfirm { .. }, _) => {
                        let again = m.flow.clone();
                        m.send(again);
                    }
                    _ => m.outcome = Outcome::Fault(Fault::OutOfOrder),
                }
            }
            Transition::Deliver => {
                m.in_flight = false;
                let answer = match m.flow {
                    Flow::AwaitConfirm { .. } => confirm_answer(m, state.right_code),
                    _ => m.server(),
                };
                m.handle(answer);
            }
            Transition::LoseRequest => m.in_flight = false,
            Transition::LoseResponse => {
                m.in_flight = false;
                match m.flow {
                    Flow::AwaitConfirm { .. } => {
                        let _ = confirm_answer(m, state.right_code);
                    }
                    _ => {
                        let _ = m.server();
                    }
                }
            }
            Transition::Gateway429 { secs } => {
                m.in_flight = false;
                m.handle(Answer::TooMany(*secs));
            }
            Transition::Gateway503 => {
                m.in_flight = false;
                m.handle(Answer::ServerError);
            }
            Transition::Garbage(_) | Transition::Foreign { .. } => {
                m.in_flight = false;
                m.outcome = Outcome::Fault(if m.awaiting() {
                    Fault::Malformed
                } else {
                    Fault::OutOfOrder
                });
            }
            Transition::OtherDevice { account } => {
                let _ = m.sign_in_windows[*account].attempt(m.now);
            }
            Transition::Park => {}
            Transition::Restart => {
                m.flow = Flow::Credentials { rejected: None };
                m.in_flight = false;
            }
            Transition::Advance(ms) => m.now += ms,
            Transition::Tick => m.now += 1_000,
        }
        state
    }
}

// ---------------------------------------------------------------------------------------
// The system under test

struct Sut {
    server: Server,
    flow: StaffSignIn,
    in_flight: Option<Request<Vec<u8>>>,
    /// The request the flow last sent or holds: what a `retry` must send again.
    outstanding: Option<Request<Vec<u8>>>,
    /// Answers this flow received, by kind (for replays).
    history: Vec<(Kind, Response<Vec<u8>>)>,
    /// Real answers of other flows on the same server.
    elsewhere: Vec<(Kind, Response<Vec<u8>>)>,
    /// Our sign-ins that reached the server: (account, time).
    our_sign_ins: Vec<(usize, u64)>,
    /// Our confirmations that reached the server.
    our_confirms: Vec<u64>,
    /// Someone else's sign-ins: (account, time).
    other_sign_ins: Vec<(usize, u64)>,
}

fn project_step(step: &StaffStep) -> Step {
    match step {
        StaffStep::Credentials { rejected } => Step::Credentials {
            rejected: rejected.as_ref().map(|e| e.status()),
        },
        StaffStep::EmailCode {
            provider,
            expires_at,
            rejected,
        } => {
            assert_eq!(provider, "email");
            Step::EmailCode {
                expires_at: ms_of(*expires_at),
                rejected: rejected.as_ref().map(|e| e.status()),
            }
        }
        StaffStep::RetryAt(t) => Step::RetryAt(ms_of(*t)),
        StaffStep::Done(tokens) => Step::Done {
            access: ms_of(tokens.access().expires_at()),
            refresh: ms_of(tokens.refresh().expires_at()),
        },
        other => panic!("a step the model does not know: {other:?}"),
    }
}

fn project_error(error: &Error) -> Fault {
    match error {
        Error::OutOfOrder { .. } => Fault::OutOfOrder,
        Error::InvalidInput { .. } => Fault::InvalidInput,
        Error::Malformed { .. } => Fault::Malformed,
        Error::Refused(api) => Fault::Refused(api.status()),
        other => panic!("an error the model does not know: {other:?}"),
    }
}

/// The label of an answer in the table.
fn answer_label(state: StaffState, response: &Response<Vec<u8>>) -> String {
    let status = response.status().as_u16();
    match (state, status) {
        (_, 429) => "429".to_owned(),
        (StaffState::AwaitSignIn, 200..=299) => {
            let body: serde_json::Value =
                serde_json::from_slice(response.body()).expect("a sign-in answer is JSON");
            format!("2xx `2faRequired: {}`", body["2faRequired"])
        }
        (StaffState::AwaitConfirm, 401) => "401".to_owned(),
        (StaffState::AwaitConfirm, 400..=499) => "4xx but 401".to_owned(),
        (_, 400..=499) => "4xx".to_owned(),
        (_, 200..=299) => "2xx".to_owned(),
        (_, status) => status.to_string(),
    }
}

/// The deviations (their fields) a lenient flow records when it takes a 2xx answer from a
/// host speaking `dialect`: none, in every dialect. The Back Office answers are bare JSON
/// (no `code`, `done` or `uuid` to compare) that the pages decide in full; the dialects
/// only add members (`extra-fields`), write `null` for what is absent (`null-optionals`),
/// a media-type parameter (`charset`) or another `Retry-After` form, all of which the
/// pages leave open without anything to record; `status-200` and the `refresh-*` and
/// wizard knobs do not touch these answers.
fn expected_deviations(_dialect: &Dialect, _answer: &Response<Vec<u8>>) -> Vec<&'static str> {
    Vec::new()
}

fn json_response(status: u16, body: Vec<u8>, retry_after: Option<String>) -> Response<Vec<u8>> {
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    if let Some(value) = retry_after {
        builder = builder.header("retry-after", value);
    }
    builder.body(body).expect("valid response")
}

impl Sut {
    fn new(dialect: Dialect) -> Self {
        let mut server = Server::new(dialects::sim_config(dialect));
        server.add_staff(StaffAccount::new(ACCOUNTS[BOSS].0, ACCOUNTS[BOSS].1).with_email_2fa());
        server.add_staff(StaffAccount::new(ACCOUNTS[CLERK].0, ACCOUNTS[CLERK].1));
        // Other people's flows on the same server, for answers taken from elsewhere.
        server.add_staff(StaffAccount::new("side-2fa@example.com", "Side-Pass-1").with_email_2fa());
        server.add_staff(StaffAccount::new("side@example.com", "Side-Pass-1"));
        let now = at(0);
        let mut elsewhere = Vec::new();
        let mut side = StaffSignIn::new(endpoint());
        let request = side
            .sign_in("side-2fa@example.com", "Side-Pass-1", now)
            .sent();
        let answer = server.handle(&request, now);
        let _step = side.handle_response(&answer, now).expect("2FA");
        elsewhere.push((Kind::TwoFactor, answer));
        let code = server
            .last_code_to("side-2fa@example.com")
            .expect("emailed")
            .to_owned();
        let request = side.submit_code(code, now).sent();
        elsewhere.push((Kind::Pair, server.handle(&request, now)));
        let mut side = StaffSignIn::new(endpoint());
        let request = side.sign_in("side@example.com", "Side-Pass-1", now).sent();
        elsewhere.push((Kind::SignedIn, server.handle(&request, now)));
        let request = SignIn::new(endpoint()).start(now).sent();
        elsewhere.push((Kind::Wizard, server.handle(&request, now)));
        assert!(elsewhere.iter().all(|(_, r)| r.status().is_success()));
        Self {
            server,
            flow: StaffSignIn::new(endpoint()),
            in_flight: None,
            outstanding: None,
            history: Vec::new(),
            elsewhere,
            our_sign_ins: Vec::new(),
            our_confirms: Vec::new(),
            other_sign_ins: Vec::new(),
        }
    }

    /// A call that moves the flow: compared with the model, recorded; its request kept in
    /// flight. A `retry` sends the request the flow held or awaited, byte for byte, and
    /// before the end of a wait changes nothing; when the guard holds a `sign_in` or
    /// `submit_code`, the flow holds the request the call would have sent without the
    /// guard (the same call on a twin whose guards are empty).
    fn call(
        &mut self,
        model: &Model,
        event: &'static str,
        now: u64,
        call: impl Fn(&mut StaffSignIn) -> Result<Outgoing, Error>,
    ) {
        let before = self.flow.clone();
        let from = self.flow.state();
        let resend = event == "retry";
        if resend && before.is_awaiting_response() {
            // The caller resends after a transport error: what was on its way is lost.
            self.in_flight = None;
        }
        match call(&mut self.flow) {
            Ok(Outgoing::Request(request)) => {
                assert_eq!(model.outcome, Outcome::Sent, "{event} sent a request");
                COVERAGE.call(from, event, self.flow.state());
                if resend {
                    let outstanding = self.outstanding.as_ref().expect("a request to resend");
                    lenient::assert_same_request(&request, outstanding);
                }
                self.outstanding = Some(request.clone());
                self.in_flight = Some(request);
            }
            Ok(Outgoing::RetryAt(t)) => {
                assert_eq!(model.outcome, Outcome::Held(ms_of(t)), "{event} waits");
                COVERAGE.call(from, event, self.flow.state());
                if !resend {
                    let held = call(&mut lenient::unguarded_twin(&before)).sent();
                    self.outstanding = Some(held);
                } else if before.next_deadline().is_some_and(|until| at(now) < until) {
                    assert_eq!(
                        self.flow, before,
                        "a retry before the instant changed the flow"
                    );
                }
            }
            Err(error) => {
                assert_eq!(
                    model.outcome,
                    Outcome::Fault(project_error(&error)),
                    "{event}: {error}"
                );
                assert_eq!(self.flow, before, "an Err from {event} changed the flow");
            }
        }
    }

    /// Sends the in-flight request to the simulator; checks the guard did its job.
    fn deliver_to_server(&mut self, now: u64) -> (Request<Vec<u8>>, Response<Vec<u8>>) {
        let request = self.in_flight.take().expect("a request in flight");
        let response = self.server.handle(&request, at(now));
        let path = request.uri().path().to_owned();
        let mut sign_in_account = None;
        let (our_recent, limit) = if path == "/api/v2/signin" {
            let body: serde_json::Value = serde_json::from_slice(request.body()).expect("JSON");
            let account = ACCOUNTS
                .iter()
                .position(|(email, _)| body["email"] == *email)
                .expect("one of the model's accounts");
            self.our_sign_ins.push((account, now));
            sign_in_account = Some(account);
            let recent = self
                .our_sign_ins
                .iter()
                .filter(|(a, t)| *a == account && now - t < WINDOW)
                .count();
            (recent, SIGN_INS_PER_MINUTE)
        } else {
            assert_eq!(path, "/api/v2/2fa/confirm");
            self.our_confirms.push(now);
            let recent = self
                .our_confirms
                .iter()
                .filter(|t| now - *t < WINDOW)
                .count();
            (recent, CONFIRMS_PER_MINUTE)
        };
        assert!(
            our_recent <= limit,
            "the guard let {our_recent} attempts to {path} through within a minute (limit {limit})"
        );
        if response.status() == 429 {
            // Only someone else's attempts can have filled the server's window.
            let others = match sign_in_account {
                Some(account) => self
                    .other_sign_ins
                    .iter()
                    .filter(|(a, t)| *a == account && now - t < WINDOW)
                    .count(),
                None => 0,
            };
            assert!(
                others > 0,
                "a server 429 on {path} that the guard could have avoided ({our_recent} of our own attempts within a minute)"
            );
        }
        (request, response)
    }

    /// Hands an answer to the flow (and to its strict twin): compared with the model,
    /// recorded. The Back Office answers are bare JSON that the pages decide in full:
    /// nothing in them is a deviation, so a strict endpoint reads them alike.
    fn answer(&mut self, model: &Model, response: &Response<Vec<u8>>, now: u64) {
        let before = self.flow.clone();
        let from = self.flow.state();
        let mut twin = lenient::strict_twin(&before);
        assert!(twin.endpoint().is_strict());
        let twin_before = twin.clone();
        let result = self.flow.handle_response(response, at(now));
        let strict = twin.handle_response(response, at(now));
        let deviations = expected_deviations(&model.dialect, response);
        let added: &[&str] = if result.is_ok() { &deviations } else { &[] };
        lenient::check_strict(&result, added, &strict, None, twin == twin_before);
        if let (Ok(StaffStep::RetryAt(_)), Some(_)) =
            (&result, response.headers().get("retry-after"))
        {
            RETRY_AFTER.record(dialects::retry_after_name(model.dialect.retry_after));
        }
        match result {
            Ok(step) => {
                assert_eq!(
                    model.outcome,
                    Outcome::Step(project_step(&step)),
                    "answer {}",
                    response.status()
                );
                COVERAGE.answer(from, &answer_label(from, response), self.flow.state());
                if response.status() == 200 {
                    let kind = match from {
                        StaffState::AwaitConfirm => Kind::Pair,
                        _ if matches!(step, StaffStep::Done(_)) => Kind::SignedIn,
                        _ => Kind::TwoFactor,
                    };
                    self.history.push((kind, response.clone()));
                }
            }
            Err(error) => {
                assert_eq!(
                    model.outcome,
                    Outcome::Fault(project_error(&error)),
                    "answer {}: {error}",
                    response.status()
                );
                assert_eq!(
                    self.flow, before,
                    "an Err from handle_response changed the flow"
                );
            }
        }
    }
}

struct StaffTest;

impl StateMachineTest for StaffTest {
    type SystemUnderTest = Sut;
    type Reference = StaffModel;

    fn init_test(state: &Ref) -> Sut {
        Sut::new(state.model.dialect)
    }

    fn apply(mut sut: Sut, state: &Ref, transition: Transition) -> Sut {
        let model = &state.model;
        let now = model.now;
        match transition {
            Transition::SignIn {
                account,
                password_ok,
            } => {
                let (email, password) = ACCOUNTS[account];
                let password = if password_ok {
                    password.to_owned()
                } else {
                    format!("{password}x")
                };
                sut.call(model, "sign_in", now, |f| {
                    f.sign_in(email, password.clone(), at(now))
                });
            }
            Transition::SubmitCode { right } => {
                // The code of the latest 2FA token (the one the flow holds), or another.
                let code = match sut.server.last_code_to(ACCOUNTS[BOSS].0) {
                    Some(code) if right => code.to_owned(),
                    Some(code) => {
                        let first = if code.starts_with('9') { '0' } else { '9' };
                        format!("{first}{}", &code[1..])
                    }
                    None => "123456".to_owned(),
                };
                sut.call(model, "submit_code", now, |f| {
                    f.submit_code(code.clone(), at(now))
                });
            }
            Transition::Retry => sut.call(model, "retry", now, |f| f.retry(at(now))),
            Transition::Deliver => {
                let (_, response) = sut.deliver_to_server(now);
                sut.answer(model, &response, now);
                if response.status().is_success() {
                    DIALECTS.record(dialects::name(&model.dialect));
                }
            }
            Transition::LoseRequest => sut.in_flight = None,
            Transition::LoseResponse => {
                let _ = sut.deliver_to_server(now);
            }
            Transition::Gateway429 { secs } => {
                sut.in_flight = None;
                let body = br#"{"error":{"code":429,"details":[{"issue":"slow down"}]}}"#.to_vec();
                // A proxy of the host: its `Retry-After` in the dialect's form.
                let value = dialects::retry_after_value(&model.dialect, at(now), secs);
                sut.answer(model, &json_response(429, body, Some(value)), now);
            }
            Transition::Gateway503 => {
                sut.in_flight = None;
                sut.answer(
                    model,
                    &json_response(503, b"<html>busy</html>".to_vec(), None),
                    now,
                );
            }
            Transition::Garbage(body) => {
                sut.in_flight = None;
                sut.answer(model, &json_response(200, body, None), now);
            }
            Transition::Foreign { kind, replay } => {
                sut.in_flight = None;
                let ours = replay
                    .then(|| sut.history.iter().rev().find(|(k, _)| *k == kind))
                    .flatten();
                let theirs = sut.elsewhere.iter().find(|(k, _)| *k == kind);
                let response = ours
                    .or(theirs)
                    .expect("every kind is in the pool")
                    .1
                    .clone();
                sut.answer(model, &response, now);
            }
            Transition::OtherDevice { account } => {
                let mut other = StaffSignIn::new(endpoint());
                // A fresh flow may sign in.
                let request = other
                    .sign_in(ACCOUNTS[account].0, "someone-else's-guess", at(now))
                    .sent();
                let response = sut.server.handle(&request, at(now));
                assert!(matches!(response.status().as_u16(), 400 | 429));
                sut.other_sign_ins.push((account, now));
            }
            Transition::Park => {
                let parked = serde_json::to_string(&sut.flow).expect("serializes");
                let resumed: StaffSignIn = serde_json::from_str(&parked).expect("resumes");
                assert_eq!(resumed, sut.flow, "parking lost something");
                sut.flow = resumed;
            }
            Transition::Restart => {
                let guards = sut.flow.clone().into_guards();
                sut.flow = StaffSignIn::with_guards(endpoint(), guards);
                sut.in_flight = None;
                sut.outstanding = None;
            }
            Transition::Advance(_) | Transition::Tick => {}
        }
        sut
    }

    fn check_invariants(sut: &Sut, state: &Ref) {
        let model = &state.model;
        assert_eq!(sut.flow.state(), model.state());
        assert_eq!(sut.flow.next_deadline().map(ms_of), model.deadline());
        assert_eq!(
            sut.flow.current_step().as_ref().map(project_step),
            model.step()
        );
        assert_eq!(sut.flow.is_awaiting_response(), model.awaiting());
        assert_eq!(sut.in_flight.is_some(), model.in_flight);
        // Every answer adds none (`expected_deviations`), and none is ever taken.
        assert_eq!(sut.flow.deviations(), &[], "the flow's deviations");
        assert!(
            sut.server.violations().is_empty(),
            "the simulator saw violations: {:?}",
            sut.server.violations()
        );
    }
}

#[test]
fn staff_sign_in_follows_the_model_and_takes_every_documented_transition() {
    let config = config(512);
    let mut runner = runner::new(config.clone());
    let result = runner.run(
        &StaffModel::sequential_strategy(1..100),
        |(initial, transitions, seen)| {
            StaffTest::test_sequential(config.clone(), initial, transitions, seen);
            Ok(())
        },
    );
    if let Err(failure) = result {
        panic!("{failure}");
    }
    eprintln!("{}", COVERAGE.rarest(8));
    COVERAGE.assert_complete();
    DIALECTS.assert_complete(dialects::all_names());
    RETRY_AFTER.assert_complete(dialects::RETRY_AFTER_ALL);
    eprintln!("{}", DIALECTS.summary());
    eprintln!("{}", RETRY_AFTER.summary());
}
