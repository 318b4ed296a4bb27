//! Model-based property test of the client sign-in wizard (proptest-state-machine).
//!
//! The reference model is the documented protocol in plain Rust: which step the wizard
//! is at and for which account, the virtual clock, the attempts the client's guard and the
//! server's limiter have counted, each account's password and forced-reset flag, and the
//! host's dialect (one of `sim::Dialect::ALL`, picked per case). The system under test is
//! the real [`SignIn`] flow answered by the in-process simulator speaking that dialect
//! (`b2core_auth::sim::Server`), with a few hand-built answers for what the simulator never
//! says (a proxy's 429 to any request, an unknown workflow, a refused method choice or
//! restore, a workflow the table does not list after the request), simulator answers given
//! departures the pages leave open (the status line, `done`, a missing `uuid`), and a
//! network that loses answers (the caller then resends with `retry`).
//!
//! The attempt guard holds a sixth credentials attempt inside a minute the way a 429 does:
//! the call returns `Outgoing::RetryAt`, the flow waits in `RateLimited` holding the
//! attempt, `retry` before the instant changes nothing and from then on sends the held
//! request (byte for byte the one the call would have sent).
//!
//! After every transition: the flow's state, step and next deadline equal the model's,
//! every `Err` left the flow unchanged, every resend is the request the flow held or
//! awaited, the simulator saw no protocol violation, and a 429 to the client's
//! own credentials only ever comes from attempts another device made on that account
//! (the client's guard never lets it earn a block by itself). Every answer also goes to a
//! strict twin of the flow, which must read it alike or, where the lenient flow recorded
//! deviations, refuse it and stay unchanged; the deviations the flow holds are exactly
//! those of [`expected_deviations`]. Every documented row of `signin::TRANSITIONS`, every
//! dialect, every `Retry-After` form, every off-table answer and every kind of tolerated
//! departure must be met at least once over the run.
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

use b2core_auth::client::signin::{SignInState, TRANSITIONS};
use b2core_auth::client::{Credentials, Method, SignIn, SignInStep};
use b2core_auth::format_rfc3339;
use b2core_auth::sim::{ClientAccount, Dialect, Server, WizardInit};
use b2core_auth::{DeviceFingerprint, Endpoint, Error, Outgoing, TokenPair};
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

static COVERAGE: Coverage<SignInState> = Coverage::new(TRANSITIONS);
/// Every dialect must be spoken: a case in it must have taken a 2xx of the simulator.
static DIALECTS: Checklist = Checklist::new("dialects");
/// Every form of `Retry-After` must be read at least once.
static RETRY_AFTER: Checklist = Checklist::new("Retry-After forms");
/// Every off-table answer ([`Off`]) must be fed at least once.
static OFF_TABLE: Checklist = Checklist::new("off-table answers");
/// Every kind of tolerated departure must be fed, and recorded, at least once.
static TOLERATED: Checklist = Checklist::new("tolerated departures");
/// The tolerated departures a run must meet: "<request>: <field of the deviation>". The
/// wizard's first answer cannot lack its `uuid` (it gives the flow one), and only the
/// answers whose `workflow` the flow follows have their `done` compared.
const TOLERATED_ALL: [&str; 15] = [
    "wizard: code",
    "wizard: done",
    "credentials: code",
    "credentials: uuid",
    "credentials: done",
    "method: code",
    "method: uuid",
    "method: done",
    "code: code",
    "code: uuid",
    "code: done",
    "restore: code",
    "restore: uuid",
    "reset: code",
    "reset: uuid",
];

const DEFAULT_CASES: u32 = 1000;
const MAX_TRANSITIONS: usize = 60;
/// 2024-04-22T11:07:24Z, the vendor page's `createdAt`.
const T0: u64 = 1_713_784_044;
const HOST: &str = "https://host.name";
const RECAPTCHA_OK: &str = "03AGdBq2-accepted";

/// The accounts of every case. The last email has no account.
const EMAILS: [&str; 7] = [
    "plain@example.com",
    "google@example.com",
    "sms@example.com",
    "both@example.com",
    "reset@example.com",
    "reset2fa@example.com",
    "nobody@example.com",
];
const NOBODY: usize = 6;
/// (Google, SMS, forced reset) of each account.
const KINDS: [(bool, bool, bool); 6] = [
    (false, false, false),
    (true, false, false),
    (false, true, false),
    (true, true, false),
    (false, false, true),
    (true, false, true),
];
/// The documented limit: 5 sign-in attempts a minute, then a 10-minute block.
const LIMIT: usize = 5;
const WINDOW: u64 = 60;
const BLOCK: u64 = 600;
const ACCESS_LIFETIME: u64 = 15 * 60;
const REFRESH_LIFETIME: u64 = 60 * 60;
/// The largest clock jump of one `Tick`.
const MAX_TICK: u64 = 3601;

fn at(t: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0 + t)
}

fn initial_password(account: usize) -> String {
    format!("Passw0rd-{account}!")
}

fn google_period(t: u64) -> u64 {
    (T0 + t) / 30
}

// ---------------------------------------------------------------------------------------
// The reference model.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Captcha {
    Missing,
    Right,
    Wrong,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Attempt {
    account: usize,
    password_ok: bool,
    captcha: Captcha,
}

/// Where the wizard is, as the protocol says. `rejected`: the server refused the last try.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    New,
    AwaitWizard,
    Credentials {
        rejected: bool,
    },
    AwaitCredentials(Attempt),
    ChooseMethod {
        account: usize,
        rejected: bool,
    },
    AwaitMethod {
        account: usize,
        method: Method,
    },
    Code {
        account: usize,
        method: Method,
        rejected: bool,
    },
    AwaitCode {
        account: usize,
        method: Method,
        right: bool,
        sent_at: u64,
    },
    ResetRequired {
        account: usize,
        rejected: bool,
    },
    AwaitRestore {
        account: usize,
    },
    ResetCode {
        account: usize,
        rejected: bool,
    },
    AwaitReset {
        account: usize,
        right: bool,
        new_password: String,
    },
    PasswordChanged,
    Unsupported,
    Done,
    RateLimited {
        until: u64,
        resume: Box<Phase>,
    },
}

impl Phase {
    /// The state the flow's `state()` must give.
    fn state(&self) -> SignInState {
        match self {
            Self::New => SignInState::New,
            Self::AwaitWizard => SignInState::AwaitWizard,
            Self::Credentials { .. } => SignInState::Credentials,
            Self::AwaitCredentials(_) => SignInState::AwaitCredentials,
            Self::ChooseMethod { .. } => SignInState::ChooseMethod,
            Self::AwaitMethod { .. } => SignInState::AwaitMethod,
            Self::Code { .. } => SignInState::Code,
            Self::AwaitCode { .. } => SignInState::AwaitCode,
            Self::ResetRequired { .. } => SignInState::ResetRequired,
            Self::AwaitRestore { .. } => SignInState::AwaitRestore,
            Self::ResetCode { .. } => SignInState::ResetCode,
            Self::AwaitReset { .. } => SignInState::AwaitReset,
            Self::PasswordChanged => SignInState::PasswordChanged,
            Self::Unsupported => SignInState::Unsupported,
            Self::Done => SignInState::SignedIn,
            Self::RateLimited { .. } => SignInState::RateLimited,
        }
    }

    fn is_awaiting(&self) -> bool {
        matches!(
            self,
            Self::AwaitWizard
                | Self::AwaitCredentials(_)
                | Self::AwaitMethod { .. }
                | Self::AwaitCode { .. }
                | Self::AwaitRestore { .. }
                | Self::AwaitReset { .. }
        )
    }

    /// Awaiting an answer that must carry the flow's `uuid`.
    fn awaits_with_uuid(&self) -> bool {
        self.is_awaiting() && *self != Self::AwaitWizard
    }
}

/// What a step shows the caller, reduced to what the model predicts.
#[derive(Clone, Debug, PartialEq, Eq)]
enum View {
    Credentials {
        recaptcha: bool,
        rejected: bool,
    },
    ChooseMethod {
        methods: Vec<Method>,
        rejected: bool,
    },
    Code {
        method: Method,
        rejected: bool,
    },
    ResetRequired {
        rejected: bool,
    },
    ResetCode {
        rejected: bool,
    },
    PasswordChanged,
    RetryAt(SystemTime),
    Unsupported(String),
    Done,
}

fn view_of(step: &SignInStep) -> View {
    match step {
        SignInStep::Credentials { options, rejected } => View::Credentials {
            recaptcha: options.recaptcha_enabled,
            rejected: rejected.is_some(),
        },
        SignInStep::ChooseMethod { methods, rejected } => View::ChooseMethod {
            methods: methods.clone(),
            rejected: rejected.is_some(),
        },
        SignInStep::Code { method, rejected } => View::Code {
            method: *method,
            rejected: rejected.is_some(),
        },
        SignInStep::PasswordResetRequired { rejected } => View::ResetRequired {
            rejected: rejected.is_some(),
        },
        SignInStep::ResetCode { rejected } => View::ResetCode {
            rejected: rejected.is_some(),
        },
        SignInStep::PasswordChanged => View::PasswordChanged,
        SignInStep::RetryAt(t) => View::RetryAt(*t),
        SignInStep::Unsupported { workflow, .. } => View::Unsupported(workflow.clone()),
        SignInStep::Done(_) => View::Done,
        other => panic!("a step the model does not know: {other:?}"),
    }
}

/// The outcome of one call or answer.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    /// Ok; for an answer, the step it returned; for a call, a request was sent.
    Ok(Option<View>),
    /// A call returned `Outgoing::RetryAt` with this instant: nothing was sent.
    Held(SystemTime),
    OutOfOrder,
    InvalidInput,
    Malformed,
    Refused,
}

fn outcome_of_error(error: &Error) -> Outcome {
    match error {
        Error::OutOfOrder { .. } => Outcome::OutOfOrder,
        Error::InvalidInput { .. } => Outcome::InvalidInput,
        Error::Malformed { .. } => Outcome::Malformed,
        Error::Refused(_) => Outcome::Refused,
        other => panic!("an error the sign-in flow should never give: {other:?}"),
    }
}

/// The client's attempt guard: 5 attempts a minute plus any block a 429 announced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Guard {
    recent: Vec<u64>,
    blocked_until: Option<u64>,
}

impl Guard {
    fn next_allowed(&self, now: u64) -> Option<u64> {
        let blocked = self.blocked_until.filter(|&t| now < t);
        let full = (self.recent.len() >= LIMIT)
            .then(|| self.recent[0] + WINDOW)
            .filter(|&t| now < t);
        blocked.max(full)
    }

    fn record(&mut self, now: u64) {
        if self.recent.len() >= LIMIT {
            self.recent.remove(0);
        }
        self.recent.push(now);
    }

    /// A 429 to the credentials: nothing is allowed before `until`.
    fn block_until(&mut self, until: u64) {
        self.blocked_until = Some(self.blocked_until.map_or(until, |t| t.max(until)));
    }
}

/// The server's per-account limiter (5 a minute, the 6th starts a 10-minute block, a
/// refused attempt is not counted). Each hit remembers whether another device made it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Limiter {
    hits: Vec<(u64, bool)>,
    /// Until when, and whether another device's attempts led to the block.
    blocked: Option<(u64, bool)>,
}

impl Limiter {
    /// `Err((seconds to wait, another device is to blame))`.
    fn attempt(&mut self, now: u64, foreign: bool) -> Result<(), (u64, bool)> {
        if let Some((until, blame)) = self.blocked {
            if now < until {
                return Err((until - now, blame));
            }
            self.blocked = None;
            self.hits.clear();
        }
        self.hits.retain(|&(hit, _)| now - hit < WINDOW);
        if self.hits.len() >= LIMIT {
            let blame = foreign || self.hits.iter().any(|&(_, f)| f);
            self.blocked = Some((now + BLOCK, blame));
            self.hits.clear();
            return Err((BLOCK, blame));
        }
        self.hits.push((now, foreign));
        Ok(())
    }
}

/// Where the server's answer to the outstanding request leads the flow.
enum Reply {
    /// 429, to wait until then.
    TooMany(u64),
    To(Phase),
}

#[derive(Clone, Debug)]
struct Model {
    /// How the server answers where the pages leave room.
    dialect: Dialect,
    now: u64,
    recaptcha: bool,
    passwords: Vec<String>,
    forced: Vec<bool>,
    limits: Vec<Limiter>,
    guard: Guard,
    phase: Phase,
    /// The request of the awaiting phase is on its way to the server (false once its
    /// answer was lost: only a `retry` sends it again).
    in_flight: bool,
    /// When the last sign-in finished (its tokens' `createdAt`).
    signed_in_at: Option<u64>,
    /// What the last transition must give.
    expect: Outcome,
    /// For `OtherDevice`: the status each of its attempts must get.
    other_device: Vec<u16>,
    /// The client's own attempt was answered 429 without another device to blame.
    self_inflicted_block: bool,
}

#[derive(Clone, Debug)]
enum T {
    Start,
    /// The simulator answers the outstanding request; a 2xx answer reaches the flow with
    /// `Twist`'s departures from the pages (none: as the simulator wrote it).
    Deliver(Twist),
    SubmitCredentials(Attempt),
    ChooseMethod(Method),
    SubmitCode {
        right: bool,
    },
    RequestResetCode,
    ResetPassword {
        right: bool,
        new_password: u8,
    },
    /// The caller resends: the request the flow holds after a rate limit, or the one it
    /// awaits the answer to (whatever was on its way is lost).
    Retry,
    /// The server takes the outstanding request; its answer is lost on the way back.
    LoseResponse,
    Tick(u64),
    /// Serialize the flow, drop it, deserialize it.
    Park,
    /// Another device tries wrong passwords on an account, `times` times.
    OtherDevice {
        account: usize,
        times: usize,
    },
    /// A proxy answers the outstanding request 429 (`Retry-After` in seconds, or none).
    TooMany(Option<u64>),
    /// The credentials are answered with a workflow this crate does not model.
    OtherWorkflow,
    /// The outstanding request is refused with a 400 the simulator never sends here.
    Refusal,
    /// The outstanding request is answered with a 2xx of another wizard (stale or foreign).
    Replay,
    /// A garbage answer.
    Garbage {
        status: u16,
        body: Vec<u8>,
    },
    /// A well-formed 2xx whose `workflow` the table does not list after the outstanding
    /// request: refused, the flow unchanged.
    OffTable(Off),
    /// The caller takes the deviations recorded so far.
    TakeDeviations,
}

/// A 2xx answer whose `workflow` the table does not list after the request it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Off {
    /// `Terminate` with a valid token pair answering the wizard init.
    WizardTerminate,
    WizardChoose,
    WizardReset,
    WizardUnknown,
    CredentialsLogin,
    MethodTerminate,
    MethodUnknown,
    CodeLogin,
    CodeUnknown,
    CodeChoose,
}

impl Off {
    const ALL: [Off; 10] = [
        Off::WizardTerminate,
        Off::WizardChoose,
        Off::WizardReset,
        Off::WizardUnknown,
        Off::CredentialsLogin,
        Off::MethodTerminate,
        Off::MethodUnknown,
        Off::CodeLogin,
        Off::CodeUnknown,
        Off::CodeChoose,
    ];

    /// The request it answers.
    fn req(self) -> Req {
        match self {
            Off::WizardTerminate | Off::WizardChoose | Off::WizardReset | Off::WizardUnknown => {
                Req::Wizard
            }
            Off::CredentialsLogin => Req::Credentials,
            Off::MethodTerminate | Off::MethodUnknown => Req::Method,
            Off::CodeLogin | Off::CodeUnknown | Off::CodeChoose => Req::Code,
        }
    }

    fn workflow(self) -> &'static str {
        match self {
            Off::WizardTerminate | Off::MethodTerminate => TERMINATE,
            Off::WizardChoose | Off::CodeChoose => CHOOSE,
            Off::WizardReset => RESET_EMAIL,
            Off::WizardUnknown | Off::MethodUnknown | Off::CodeUnknown => OTHER_WORKFLOW,
            Off::CredentialsLogin | Off::CodeLogin => LOGIN,
        }
    }

    fn name(self) -> String {
        format!("{:?} `{}`", self.req(), self.workflow())
    }
}

// The workflows of the sign-in page, and the simulator's for the reset steps.
const LOGIN: &str = "login";
const TERMINATE: &str = "Terminate";
const GOOGLE: &str = "2fa_google_auth";
const SMS: &str = "2fa_sms_auth";
const CHOOSE: &str = "2fa";
const RESET_EMAIL: &str = "reset_password_email";
const RESET_CODE: &str = "reset_password_code";

/// The request a 2xx wizard answer answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Req {
    Wizard,
    Credentials,
    Method,
    Code,
    Restore,
    Reset,
}

impl Req {
    /// The request the flow awaits in `state`.
    fn awaited_in(state: SignInState) -> Option<Req> {
        Some(match state {
            SignInState::AwaitWizard => Req::Wizard,
            SignInState::AwaitCredentials => Req::Credentials,
            SignInState::AwaitMethod => Req::Method,
            SignInState::AwaitCode => Req::Code,
            SignInState::AwaitRestore => Req::Restore,
            SignInState::AwaitReset => Req::Reset,
            _ => return None,
        })
    }

    fn short(self) -> &'static str {
        match self {
            Req::Wizard => "wizard",
            Req::Credentials => "credentials",
            Req::Method => "method",
            Req::Code => "code",
            Req::Restore => "restore",
            Req::Reset => "reset",
        }
    }

    /// The flow follows the answer's `workflow` (and compares `code` and `done` with it):
    /// steps 1 to 4; the (inferred) reset answers move on whatever they say.
    fn follows_workflow(self) -> bool {
        !matches!(self, Req::Restore | Req::Reset)
    }

    /// The workflow of the simulator's 2xx answer that leads the model to `after`.
    fn workflow_to(self, after: &Phase) -> Option<&'static str> {
        Some(match (self, after) {
            (Req::Wizard, Phase::Credentials { rejected: false }) => LOGIN,
            (Req::Credentials | Req::Code, Phase::Done) => TERMINATE,
            (Req::Credentials | Req::Code, Phase::ResetRequired { .. }) => RESET_EMAIL,
            (Req::Credentials, Phase::ChooseMethod { .. }) => CHOOSE,
            (
                Req::Credentials | Req::Method,
                Phase::Code {
                    method,
                    rejected: false,
                    ..
                },
            ) => match method {
                Method::Google => GOOGLE,
                Method::Sms => SMS,
                other => panic!("a method the model does not know: {other:?}"),
            },
            (
                Req::Restore,
                Phase::ResetCode {
                    rejected: false, ..
                },
            ) => RESET_CODE,
            (Req::Reset, Phase::PasswordChanged) => LOGIN,
            _ => return None,
        })
    }
}

/// How a host speaking `dialect` writes its 2xx answer to `req` with `workflow`
/// ([`lenient::Sent`]). The current sign-in page: `code` 202 and `done: true` only with
/// `Terminate`; `done-at-init`: also the wizard's init, as the other published version.
/// The status line repeats `code`, or is 200 (`status-200`). With the flow's `uuid`.
fn written(dialect: &Dialect, req: Req, workflow: &str) -> Sent {
    let init_done = req == Req::Wizard && dialect.wizard_init == WizardInit::DoneAtInit;
    let done = workflow == TERMINATE || init_done;
    Sent::of(dialect, if done { 202 } else { 200 }, done)
}

/// Every deviation a lenient flow records when it takes an answer to `req` with
/// `workflow`, written as `sent`: the envelope's (`code` against the status line, a missing
/// `uuid` within a wizard), then, where the flow follows the `workflow`, `code` and `done`
/// against it (202 and `true` only with `Terminate`).
fn deviations(req: Req, workflow: &str, sent: &Sent) -> Vec<&'static str> {
    let mut fields = sent.envelope_deviations(req == Req::Wizard);
    if req.follows_workflow() {
        let signed_in = workflow == TERMINATE;
        if (sent.code == 202) != signed_in {
            fields.push("code");
        }
        if sent.done != signed_in {
            fields.push("done");
        }
    }
    fields
}

/// The simulator's 2xx answer to `req` is written as a host speaking `dialect` writes it,
/// with `workflow`.
#[track_caller]
fn check_written(dialect: &Dialect, req: Req, workflow: &str, response: &Response<Vec<u8>>) {
    written(dialect, req, workflow).check(response);
    let body: serde_json::Value =
        serde_json::from_slice(response.body()).expect("a wizard answer is JSON");
    assert_eq!(body["workflow"], workflow, "the simulator's workflow");
}

/// A 2xx wizard answer as the test hands it to the flow: the request it answers, its
/// `workflow`, the departures added to it.
#[derive(Clone, Copy, Debug)]
struct Answer {
    req: Req,
    workflow: &'static str,
    twist: Twist,
}

/// The deviations (their fields, in order) a lenient flow records when it takes `answer`
/// from a host speaking `dialect`: from the knobs (how the host writes the answer) and
/// the library's rules (what departs from the pages).
///
/// So: none in `pages`, `extra-fields`, `charset`, `refresh-*`, `retry-after-*`,
/// `null-optionals`; `status-200`: `code` on every `Terminate` (`code` 202, HTTP 200);
/// `done-at-init`: `code` and `done` on the wizard's init (202 and `true` with `login`);
/// `everything`: `code` (status), `code`, `done` on the init, `code` on `Terminate`. Plus
/// what the twist adds.
fn expected_deviations(dialect: &Dialect, answer: &Answer) -> Vec<&'static str> {
    let sent = written(dialect, answer.req, answer.workflow).twisted(answer.twist);
    deviations(answer.req, answer.workflow, &sent)
}

fn methods_of(account: usize) -> (bool, bool) {
    KINDS.get(account).map_or((false, false), |k| (k.0, k.1))
}

impl Model {
    fn current_view(&self) -> Option<View> {
        Some(match &self.phase {
            Phase::Credentials { rejected } => View::Credentials {
                recaptcha: self.recaptcha,
                rejected: *rejected,
            },
            Phase::ChooseMethod { rejected, .. } => View::ChooseMethod {
                methods: vec![Method::Google, Method::Sms],
                rejected: *rejected,
            },
            Phase::Code {
                method, rejected, ..
            } => View::Code {
                method: *method,
                rejected: *rejected,
            },
            Phase::ResetRequired { rejected, .. } => View::ResetRequired {
                rejected: *rejected,
            },
            Phase::ResetCode { rejected, .. } => View::ResetCode {
                rejected: *rejected,
            },
            Phase::PasswordChanged => View::PasswordChanged,
            Phase::RateLimited { until, .. } => View::RetryAt(at(*until)),
            Phase::Unsupported => View::Unsupported(OTHER_WORKFLOW.to_owned()),
            _ => return None,
        })
    }

    /// The step an answer returns: the current step, or `Done`.
    fn answer_view(&self) -> Option<View> {
        match self.phase {
            Phase::Done => Some(View::Done),
            _ => self.current_view(),
        }
    }

    /// Moves to `phase` after an answer.
    fn answered(&mut self, phase: Phase) {
        self.phase = phase;
        self.in_flight = false;
        self.expect = Outcome::Ok(self.answer_view());
    }

    /// Where good credentials (and 2FA, if on) lead: a forced reset, or signed in.
    fn authenticated(&self, account: usize) -> Phase {
        if self.forced[account] {
            Phase::ResetRequired {
                account,
                rejected: false,
            }
        } else {
            Phase::Done
        }
    }

    /// Sends the request of awaiting phase `next` (a call or a retry); credentials pass
    /// the guard first: when it allows no attempt, the flow holds `next` until it does.
    fn send(&mut self, next: Phase) {
        if matches!(next, Phase::AwaitCredentials(_)) {
            if let Some(t) = self.guard.next_allowed(self.now) {
                self.phase = Phase::RateLimited {
                    until: t,
                    resume: Box::new(next),
                };
                self.expect = Outcome::Held(at(t));
                return;
            }
            self.guard.record(self.now);
        }
        self.phase = next;
        self.in_flight = true;
        self.expect = Outcome::Ok(None);
    }

    /// The simulator at work on the outstanding request: its own state changes (the
    /// limiter, a new password), and where its answer leads the flow.
    fn server(&mut self) -> Reply {
        let now = self.now;
        match self.phase.clone() {
            Phase::AwaitWizard => Reply::To(Phase::Credentials { rejected: false }),
            Phase::AwaitCredentials(attempt) => {
                let account = attempt.account;
                if let Err((wait, blame)) = self.limits[account].attempt(now, false) {
                    self.self_inflicted_block |= !blame;
                    return Reply::TooMany(now + wait);
                }
                let captcha_ok = !self.recaptcha || attempt.captcha == Captcha::Right;
                if !captcha_ok || account == NOBODY || !attempt.password_ok {
                    return Reply::To(Phase::Credentials { rejected: true });
                }
                Reply::To(match methods_of(account) {
                    (true, true) => Phase::ChooseMethod {
                        account,
                        rejected: false,
                    },
                    (true, false) => Phase::Code {
                        account,
                        method: Method::Google,
                        rejected: false,
                    },
                    (false, true) => Phase::Code {
                        account,
                        method: Method::Sms,
                        rejected: false,
                    },
                    (false, false) => self.authenticated(account),
                })
            }
            Phase::AwaitMethod { account, method } => Reply::To(Phase::Code {
                account,
                method,
                rejected: false,
            }),
            Phase::AwaitCode {
                account,
                method,
                right,
                sent_at,
            } => {
                // Google accepts the current and the previous 30-second period's code.
                let in_time =
                    method == Method::Sms || google_period(now) - google_period(sent_at) <= 1;
                Reply::To(if right && in_time {
                    self.authenticated(account)
                } else {
                    Phase::Code {
                        account,
                        method,
                        rejected: true,
                    }
                })
            }
            Phase::AwaitRestore { account } => Reply::To(Phase::ResetCode {
                account,
                rejected: false,
            }),
            Phase::AwaitReset {
                account,
                right,
                new_password,
            } => Reply::To(if right {
                self.passwords[account] = new_password;
                self.forced[account] = false;
                Phase::PasswordChanged
            } else {
                Phase::ResetCode {
                    account,
                    rejected: true,
                }
            }),
            _ => unreachable!("precondition: an outstanding request"),
        }
    }

    /// The flow takes the answer to its outstanding request.
    fn take(&mut self, reply: Reply) {
        match reply {
            Reply::TooMany(until) => self.too_many(until),
            Reply::To(Phase::Done) => {
                self.signed_in_at = Some(self.now);
                self.answered(Phase::Done);
            }
            Reply::To(phase) => self.answered(phase),
        }
    }

    /// A 429 to the outstanding request, to wait until `until`: the flow holds the
    /// request, and a 429 to the credentials blocks the guard as long.
    fn too_many(&mut self, until: u64) {
        if matches!(self.phase, Phase::AwaitCredentials(_)) {
            self.guard.block_until(until);
        }
        let resume = Box::new(self.phase.clone());
        self.answered(Phase::RateLimited { until, resume });
    }

    /// The outstanding request may reach the server and lose its answer: the simulator
    /// takes the resend that follows as the pages allow (a new wizard, another restore,
    /// another try after a refusal or a 429) rather than as a step out of order.
    fn may_lose_response(&self) -> bool {
        if !self.phase.is_awaiting() || !self.in_flight {
            return false;
        }
        match self.phase {
            Phase::AwaitWizard | Phase::AwaitRestore { .. } => true,
            Phase::AwaitMethod { .. } => false,
            _ => match self.clone().server() {
                Reply::TooMany(_) => true,
                Reply::To(phase) => matches!(
                    phase,
                    Phase::Credentials { rejected: true }
                        | Phase::Code { rejected: true, .. }
                        | Phase::ResetCode { rejected: true, .. }
                ),
            },
        }
    }

    fn apply(mut self, t: &T) -> Self {
        self.other_device.clear();
        self.expect = Outcome::Ok(None);
        let now = self.now;
        match t {
            T::Start => match self.phase {
                // A finished flow emits nothing more: `start` is refused once signed in.
                Phase::Done => self.expect = Outcome::OutOfOrder,
                // Started over during a rate limit: the wizard replaces the held attempt,
                // and waits as long as it would have.
                Phase::RateLimited { until, .. } if now < until => {
                    self.phase = Phase::RateLimited {
                        until,
                        resume: Box::new(Phase::AwaitWizard),
                    };
                    self.expect = Outcome::Held(at(until));
                }
                Phase::RateLimited { .. } => self.send(Phase::AwaitWizard),
                ref phase if phase.is_awaiting() => self.expect = Outcome::OutOfOrder,
                _ => self.send(Phase::AwaitWizard),
            },
            T::Deliver(_) => {
                let reply = self.server();
                self.take(reply);
            }
            T::LoseResponse => {
                // The server's state moves on; the flow still waits, for nothing.
                let _ = self.server();
                self.in_flight = false;
            }
            T::SubmitCredentials(attempt) => match self.phase {
                Phase::Credentials { .. } => {
                    if self.recaptcha && attempt.captcha == Captcha::Missing {
                        self.expect = Outcome::InvalidInput;
                    } else {
                        self.send(Phase::AwaitCredentials(attempt.clone()));
                    }
                }
                _ => self.expect = Outcome::OutOfOrder,
            },
            T::ChooseMethod(method) => match self.phase {
                Phase::ChooseMethod { account, .. } => self.send(Phase::AwaitMethod {
                    account,
                    method: *method,
                }),
                _ => self.expect = Outcome::OutOfOrder,
            },
            T::SubmitCode { right } => match self.phase {
                Phase::Code {
                    account, method, ..
                } => self.send(Phase::AwaitCode {
                    account,
                    method,
                    right: *right,
                    sent_at: now,
                }),
                _ => self.expect = Outcome::OutOfOrder,
            },
            T::RequestResetCode => match self.phase {
                Phase::ResetRequired { account, .. } => self.send(Phase::AwaitRestore { account }),
                _ => self.expect = Outcome::OutOfOrder,
            },
            T::ResetPassword {
                right,
                new_password,
            } => match self.phase {
                Phase::ResetCode { account, .. } => self.send(Phase::AwaitReset {
                    account,
                    right: *right,
                    new_password: new_password_text(*new_password),
                }),
                _ => self.expect = Outcome::OutOfOrder,
            },
            T::Retry => match self.phase.clone() {
                // Too early: the same instant again, nothing changes.
                Phase::RateLimited { until, .. } if now < until => {
                    self.expect = Outcome::Held(at(until));
                }
                Phase::RateLimited { resume, .. } => self.send(*resume),
                // A resend after a transport error: what was on its way is lost.
                phase if phase.is_awaiting() => {
                    self.in_flight = false;
                    self.send(phase);
                }
                _ => self.expect = Outcome::OutOfOrder,
            },
            T::Tick(secs) => self.now += secs,
            T::Park => {}
            T::OtherDevice { account, times } => {
                for _ in 0..*times {
                    let status = match self.limits[*account].attempt(now, true) {
                        Ok(()) => 400,
                        Err(_) => 429,
                    };
                    self.other_device.push(status);
                }
            }
            T::TooMany(secs) => {
                // Without `Retry-After`: the documented block after the credentials, a
                // minute after any other request.
                let default = match self.phase {
                    Phase::AwaitCredentials(_) => BLOCK,
                    _ => 60,
                };
                self.too_many(now + secs.unwrap_or(default));
            }
            T::OtherWorkflow => self.answered(Phase::Unsupported),
            T::Refusal => match self.phase {
                Phase::AwaitMethod { account, .. } => self.answered(Phase::ChooseMethod {
                    account,
                    rejected: true,
                }),
                Phase::AwaitRestore { account } => self.answered(Phase::ResetRequired {
                    account,
                    rejected: true,
                }),
                // A refused wizard cannot be retried by the user: an error, still waiting.
                _ => self.expect = Outcome::Refused,
            },
            T::Replay | T::OffTable(_) => self.expect = Outcome::Malformed,
            T::TakeDeviations => {}
            T::Garbage { status, .. } => {
                self.expect = if !self.phase.is_awaiting() {
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

fn new_password_text(n: u8) -> String {
    format!("Reset-{n}-Passw0rd!")
}

const OTHER_WORKFLOW: &str = "phone_confirmation";

struct Reference;

fn tick() -> BoxedStrategy<T> {
    prop_oneof![
        3 => (1u64..=10).prop_map(T::Tick),
        1 => Just(T::Tick(29)),
        1 => Just(T::Tick(31)),
        2 => Just(T::Tick(WINDOW + 1)),
        2 => Just(T::Tick(BLOCK + 1)),
        1 => Just(T::Tick(ACCESS_LIFETIME + 1)),
        1 => Just(T::Tick(MAX_TICK)),
    ]
    .boxed()
}

fn garbage() -> BoxedStrategy<T> {
    let fixed: Vec<&'static [u8]> = vec![
        b"",
        b"{}",
        b"null",
        b"{\"code\":200,",
        b"<html>502 Bad Gateway</html>",
        // Refused in every state: no workflow (and no uuid); a wrong type; `Terminate`
        // without tokens (off-table at the init, another wizard's uuid later).
        br#"{"code":200,"data":null,"done":false,"uuid":""}"#,
        br#"{"code":200,"data":{"recaptcha":{"enabled":"yes"}},"done":false,"uuid":"u-1","workflow":"login"}"#,
        br#"{"code":202,"data":null,"done":true,"uuid":"u-1","workflow":"Terminate"}"#,
    ];
    let body = prop_oneof![
        prop::sample::select(fixed).prop_map(<[u8]>::to_vec),
        prop::collection::vec(any::<u8>(), 0..48),
    ];
    (prop::sample::select(vec![200u16, 202, 500, 503]), body)
        .prop_map(|(status, body)| T::Garbage { status, body })
        .boxed()
}

/// The off-table answers to `req`.
fn off_table(req: Req) -> BoxedStrategy<T> {
    let offs: Vec<Off> = Off::ALL.into_iter().filter(|o| o.req() == req).collect();
    prop::sample::select(offs).prop_map(T::OffTable).boxed()
}

fn attempt() -> BoxedStrategy<Attempt> {
    (
        0..EMAILS.len(),
        prop::bool::weighted(0.8),
        prop_oneof![6 => Just(Captcha::Right), 1 => Just(Captcha::Wrong), 1 => Just(Captcha::Missing)],
    )
        .prop_map(|(account, password_ok, captcha)| Attempt {
            account,
            password_ok,
            captcha,
        })
        .boxed()
}

/// Any call, whatever the state: misuse must be an error that changes nothing.
fn any_call() -> BoxedStrategy<T> {
    prop_oneof![
        Just(T::Start),
        attempt().prop_map(T::SubmitCredentials),
        prop_oneof![Just(Method::Google), Just(Method::Sms)].prop_map(T::ChooseMethod),
        any::<bool>().prop_map(|right| T::SubmitCode { right }),
        Just(T::RequestResetCode),
        (any::<bool>(), any::<u8>()).prop_map(|(right, new_password)| T::ResetPassword {
            right,
            new_password
        }),
        Just(T::Retry),
    ]
    .boxed()
}

impl ReferenceStateMachine for Reference {
    type State = Model;
    type Transition = T;

    fn init_state() -> BoxedStrategy<Model> {
        (dialects::dialect(), prop::bool::weighted(0.3))
            .prop_map(|(dialect, recaptcha)| Model {
                dialect,
                now: 0,
                recaptcha,
                passwords: (0..EMAILS.len()).map(initial_password).collect(),
                forced: (0..EMAILS.len())
                    .map(|a| KINDS.get(a).is_some_and(|k| k.2))
                    .collect(),
                limits: vec![Limiter::default(); EMAILS.len()],
                guard: Guard::default(),
                phase: Phase::New,
                in_flight: false,
                signed_in_at: None,
                expect: Outcome::Ok(None),
                other_device: Vec::new(),
                self_inflicted_block: false,
            })
            .boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<T> {
        let mut options: Vec<(u32, BoxedStrategy<T>)> = vec![
            (2, tick()),
            (1, Just(T::Park).boxed()),
            (1, Just(T::TakeDeviations).boxed()),
            (1, garbage()),
            (1, any_call()),
            (
                1,
                (0..EMAILS.len(), 1usize..=6)
                    .prop_map(|(account, times)| T::OtherDevice { account, times })
                    .boxed(),
            ),
        ];
        if state.phase.is_awaiting() {
            // The network: a lost answer, a resend, a proxy's 429.
            options.extend([
                (1, Just(T::LoseResponse).boxed()),
                (2, Just(T::Retry).boxed()),
                (
                    2,
                    prop::option::weighted(0.7, 1u64..=120)
                        .prop_map(T::TooMany)
                        .boxed(),
                ),
            ]);
        }
        let progress: Vec<(u32, BoxedStrategy<T>)> = match &state.phase {
            Phase::New | Phase::PasswordChanged | Phase::Unsupported | Phase::Done => {
                vec![(12, Just(T::Start).boxed())]
            }
            Phase::AwaitWizard => vec![
                (12, Just(T::Deliver(Twist::NONE)).boxed()),
                (2, twist(false).prop_map(T::Deliver).boxed()),
                (2, off_table(Req::Wizard)),
                (1, Just(T::Refusal).boxed()),
            ],
            Phase::Credentials { .. } => vec![
                (14, attempt().prop_map(T::SubmitCredentials).boxed()),
                // A user who mistypes again and again: the guard's limit comes into play.
                (
                    4,
                    attempt()
                        .prop_map(|attempt| {
                            T::SubmitCredentials(Attempt {
                                password_ok: false,
                                ..attempt
                            })
                        })
                        .boxed(),
                ),
                (1, Just(T::Start).boxed()),
            ],
            Phase::AwaitCredentials(_) => vec![
                // A user who clicks again while the answer is slow (a resend).
                (2, Just(T::Retry).boxed()),
                (12, Just(T::Deliver(Twist::NONE)).boxed()),
                (2, twist(true).prop_map(T::Deliver).boxed()),
                (1, off_table(Req::Credentials)),
                (1, Just(T::OtherWorkflow).boxed()),
                (1, Just(T::Replay).boxed()),
            ],
            Phase::ChooseMethod { .. } => vec![
                (
                    12,
                    prop_oneof![Just(Method::Google), Just(Method::Sms)]
                        .prop_map(T::ChooseMethod)
                        .boxed(),
                ),
                (1, Just(T::Start).boxed()),
            ],
            Phase::AwaitMethod { .. } => vec![
                (12, Just(T::Deliver(Twist::NONE)).boxed()),
                (2, twist(true).prop_map(T::Deliver).boxed()),
                (2, Just(T::Refusal).boxed()),
                (1, Just(T::Replay).boxed()),
                (3, off_table(Req::Method)),
            ],
            Phase::AwaitRestore { .. } => vec![
                (12, Just(T::Deliver(Twist::NONE)).boxed()),
                (3, twist(true).prop_map(T::Deliver).boxed()),
                (2, Just(T::Refusal).boxed()),
                (1, Just(T::Replay).boxed()),
            ],
            Phase::Code { .. } => vec![
                (
                    12,
                    prop::bool::weighted(0.8)
                        .prop_map(|right| T::SubmitCode { right })
                        .boxed(),
                ),
                (1, Just(T::Start).boxed()),
            ],
            Phase::AwaitCode { .. } => vec![
                (12, Just(T::Deliver(Twist::NONE)).boxed()),
                (2, twist(true).prop_map(T::Deliver).boxed()),
                (1, Just(T::Replay).boxed()),
                (2, off_table(Req::Code)),
            ],
            Phase::AwaitReset { .. } => vec![
                (12, Just(T::Deliver(Twist::NONE)).boxed()),
                (3, twist(true).prop_map(T::Deliver).boxed()),
                (1, Just(T::Replay).boxed()),
            ],
            Phase::ResetRequired { .. } => vec![
                (12, Just(T::RequestResetCode).boxed()),
                (1, Just(T::Start).boxed()),
            ],
            Phase::ResetCode { .. } => vec![
                (
                    12,
                    (prop::bool::weighted(0.8), any::<u8>())
                        .prop_map(|(right, new_password)| T::ResetPassword {
                            right,
                            new_password,
                        })
                        .boxed(),
                ),
                (1, Just(T::Start).boxed()),
            ],
            Phase::RateLimited { .. } => vec![
                (6, Just(T::Retry).boxed()),
                (2, Just(T::Start).boxed()),
                (
                    4,
                    prop_oneof![Just(T::Tick(WINDOW + 1)), Just(T::Tick(BLOCK + 1))].boxed(),
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
                    && (!twist.no_uuid || state.phase.awaits_with_uuid())
            }
            T::LoseResponse => state.may_lose_response(),
            T::OffTable(off) => Req::awaited_in(state.phase.state()) == Some(off.req()),
            T::TooMany(_) => state.phase.is_awaiting(),
            T::OtherWorkflow => matches!(state.phase, Phase::AwaitCredentials(_)),
            T::Refusal => matches!(
                state.phase,
                Phase::AwaitWizard | Phase::AwaitMethod { .. } | Phase::AwaitRestore { .. }
            ),
            T::Replay => state.phase.awaits_with_uuid(),
            _ => true,
        }
    }

    fn apply(state: Model, t: &T) -> Model {
        state.apply(t)
    }
}

// ---------------------------------------------------------------------------------------
// The system under test: the real flow and the simulator.

struct Sut {
    server: Server,
    accounts: Vec<ClientAccount>,
    flow: SignIn,
    /// The request the flow awaits the answer to, or holds while rate limited.
    outstanding: Option<Request<Vec<u8>>>,
    /// The uuid of the wizard the flow is in (from its answers).
    uuid: Option<String>,
    /// 2xx answers seen so far, and one of another browser tab's wizard.
    answers: Vec<Response<Vec<u8>>>,
    tokens: Option<TokenPair>,
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

fn uuid_of(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value.get("uuid")?.as_str().map(str::to_owned)
}

fn envelope_response(status: u16, body: serde_json::Value) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header("Content-Type", "application/json")
        .body(serde_json::to_vec(&body).expect("json"))
        .expect("a response")
}

fn token_json(name: &str, created: SystemTime, lifetime: u64) -> serde_json::Value {
    json!({
        "token": format!("{name}.off.table"),
        "createdAt": format_rfc3339(created).expect("a time"),
        "expiresAt": format_rfc3339(created + Duration::from_secs(lifetime)).expect("a time"),
    })
}

fn error_response(status: u16, issue: &str) -> Response<Vec<u8>> {
    envelope_response(
        status,
        json!({"error": {"code": status, "details": [{"issue": issue}]}}),
    )
}

/// A six-digit code that differs from `code`.
fn other_code(code: Option<&str>) -> String {
    let n: u32 = code.and_then(|c| c.parse().ok()).unwrap_or(0);
    format!("{:06}", (n + 500_000) % 1_000_000)
}

impl Sut {
    fn now(&self) -> SystemTime {
        at(self.now)
    }

    fn email(account: usize) -> &'static str {
        EMAILS[account]
    }

    /// A wrong Google code: one that no period this run can reach accepts.
    fn wrong_google_code(&self, account: usize) -> String {
        let first = google_period(self.now).saturating_sub(1);
        let horizon = (MAX_TRANSITIONS as u64 * MAX_TICK) / 30 + 2;
        let valid: std::collections::BTreeSet<String> = (first..=first + horizon)
            .filter_map(|p| {
                let t = UNIX_EPOCH + Duration::from_secs(p * 30);
                self.server.google_code(Self::email(account), t)
            })
            .collect();
        (0..)
            .map(|n: u32| format!("{n:06}"))
            .find(|c| !valid.contains(c))
            .expect("a free code")
    }

    /// Makes a call that moves the flow: its request becomes the outstanding one. When the
    /// guard holds it, the flow holds the request the call would have sent without the
    /// guard (the same call on a twin whose guard is empty).
    fn call(&mut self, call: impl Fn(&mut SignIn) -> Result<Outgoing, Error>) -> Outcome {
        let before = self.flow.clone();
        match call(&mut self.flow) {
            Ok(Outgoing::Request(request)) => {
                self.outstanding = Some(request);
                Outcome::Ok(None)
            }
            Ok(Outgoing::RetryAt(t)) => {
                let held = call(&mut lenient::unguarded_twin(&before)).sent();
                self.outstanding = Some(held);
                Outcome::Held(t)
            }
            Err(error) => outcome_of_error(&error),
        }
    }

    /// `retry`: a request it sends is the one the flow held or awaited, byte for byte; an
    /// instant to wait for changes nothing before it, and holds the same request after.
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
                // Before the instant (the flow's deadline), nothing changes.
                if before
                    .next_deadline()
                    .is_some_and(|until| self.now() < until)
                {
                    assert_eq!(
                        self.flow, before,
                        "a retry before the instant changed the flow"
                    );
                }
                Outcome::Held(t)
            }
            Err(error) => outcome_of_error(&error),
        }
    }

    /// Hands `response` to the flow, and to its strict twin. `deviations`: the fields of
    /// the deviations the flow must record if it takes the answer; `strict_field`: the
    /// field a strict refusal must name where the lenient flow refuses too (`None`: any).
    fn answer(
        &mut self,
        response: &Response<Vec<u8>>,
        deviations: &[&'static str],
        strict_field: Option<&'static str>,
    ) -> Outcome {
        let mut twin = lenient::strict_twin(&self.flow);
        assert!(twin.endpoint().is_strict());
        let twin_before = twin.clone();
        let result = self.flow.handle_response(response, self.now());
        let strict = twin.handle_response(response, self.now());
        let added: &[&str] = if result.is_ok() { deviations } else { &[] };
        lenient::check_strict(&result, added, &strict, strict_field, twin == twin_before);
        self.last_error = result.as_ref().err().cloned();
        if result.is_ok() {
            let step = self.outstanding.as_ref().map(lenient::request_line);
            self.log.add(&step.unwrap_or_default(), added);
        }
        if let (Ok(SignInStep::RetryAt(_)), Some(_)) =
            (&result, response.headers().get("retry-after"))
        {
            RETRY_AFTER.record(dialects::retry_after_name(self.dialect.retry_after));
        }
        match result {
            Ok(step) => {
                if !matches!(step, SignInStep::RetryAt(_)) {
                    // A 429 leaves the request held, to send again with `retry`.
                    self.outstanding = None;
                }
                if response.status().is_success() {
                    if let Some(uuid) = uuid_of(response.body()) {
                        self.uuid = Some(uuid);
                        self.answers.push(response.clone());
                    }
                }
                if let SignInStep::Done(tokens) = &step {
                    self.tokens = Some(tokens.clone());
                }
                Outcome::Ok(Some(view_of(&step)))
            }
            Err(error) => outcome_of_error(&error),
        }
    }

    /// The documented label of an answer.
    fn label(from: SignInState, response: &Response<Vec<u8>>, fake_workflow: bool) -> String {
        let status = response.status().as_u16();
        if fake_workflow {
            return "2xx other workflow".to_owned();
        }
        let reset_step = matches!(Req::awaited_in(from), Some(Req::Restore | Req::Reset));
        if reset_step && response.status().is_success() {
            // The reset bodies are inferred: any 2xx of the flow moves on.
            return "2xx".to_owned();
        }
        coverage::answer_label(status, response.body())
    }

    /// An off-table answer to the outstanding request, as the pages would write it for its
    /// workflow (a `Terminate` with a valid token pair).
    fn off_table_answer(&self, off: Off) -> Response<Vec<u8>> {
        let sent = written(&self.dialect, off.req(), off.workflow());
        let uuid = match off.req() {
            Req::Wizard => "8d6c0d1e-off-table".to_owned(),
            _ => self.uuid.clone().expect("the flow has a uuid"),
        };
        let now = self.now();
        let data = match off.workflow() {
            TERMINATE => json!({
                "accessToken": token_json("access", now, ACCESS_LIFETIME),
                "refreshToken": token_json("refresh", now, REFRESH_LIFETIME),
                "tfaProviders": [],
            }),
            CHOOSE => json!({
                "accessToken": null,
                "refreshToken": null,
                "tfaProviders": [
                    {"name": "google", "enabled": true, "localizedCaption": "Google Authenticator"},
                    {"name": "sms", "enabled": true, "localizedCaption": "SMS"},
                ],
            }),
            LOGIN => json!({"recaptcha": {"enabled": false}}),
            RESET_EMAIL => json!(null),
            _ => json!({"phone": "+15550000000"}),
        };
        let body = json!({"code": sent.code, "data": data, "done": sent.done,
                          "uuid": uuid, "workflow": off.workflow()});
        envelope_response(sent.status, body)
    }
}

struct Test;

impl StateMachineTest for Test {
    type SystemUnderTest = Sut;
    type Reference = Reference;

    fn init_test(model: &Model) -> Sut {
        let mut server = Server::new(dialects::sim_config(model.dialect));
        if model.recaptcha {
            server.require_recaptcha(RECAPTCHA_OK);
        }
        let accounts: Vec<ClientAccount> = KINDS
            .iter()
            .enumerate()
            .map(|(i, &(google, sms, forced))| {
                let mut account = ClientAccount::new(EMAILS[i], initial_password(i));
                if google {
                    account = account.with_google();
                }
                if sms {
                    account = account.with_sms();
                }
                if forced {
                    account = account.with_forced_reset();
                }
                account
            })
            .collect();
        for account in &accounts {
            server.add_client(account.clone());
        }
        // Another browser tab's wizard: its answer is foreign to the flow under test.
        let mut tab = SignIn::new(Endpoint::new(HOST).expect("endpoint"));
        let request = tab.start(at(0)).sent();
        let foreign = server.handle(&request, at(0));
        assert!(foreign.status().is_success());
        Sut {
            server,
            accounts,
            flow: SignIn::new(Endpoint::new(HOST).expect("endpoint")),
            outstanding: None,
            uuid: None,
            answers: vec![foreign],
            tokens: None,
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
            T::Start => {
                event = Some(Taken::Call("start"));
                match sut.flow.start(now) {
                    // Started over during a rate limit: the new wizard is held, and `retry`
                    // must send what a flow no wait holds sends, byte for byte.
                    Ok(Outgoing::RetryAt(t)) => {
                        let mut free = SignIn::new(sut.flow.endpoint().clone());
                        sut.outstanding = Some(free.start(now).sent());
                        Outcome::Held(t)
                    }
                    Ok(Outgoing::Request(request)) => {
                        sut.outstanding = Some(request);
                        Outcome::Ok(None)
                    }
                    Err(error) => outcome_of_error(&error),
                }
            }
            T::Deliver(twist) => {
                let request = sut.outstanding.clone().expect("an outstanding request");
                let mut response = sut.server.handle(&request, sut.now());
                let mut deviations = Vec::new();
                if response.status().is_success() {
                    let req = Req::awaited_in(from).expect("an awaited request");
                    let workflow = req.workflow_to(&model.phase).unwrap_or_else(|| {
                        panic!("a 2xx to {req:?} where the model has {:?}", model.phase)
                    });
                    check_written(&model.dialect, req, workflow, &response);
                    response = twist_response(response, twist);
                    deviations = expected_deviations(
                        &model.dialect,
                        &Answer {
                            req,
                            workflow,
                            twist,
                        },
                    );
                    if twist != Twist::NONE {
                        for field in &deviations {
                            TOLERATED.record(&format!("{}: {field}", req.short()));
                        }
                    }
                }
                event = Some(Taken::Answer(Sut::label(from, &response, false)));
                let outcome = sut.answer(&response, &deviations, None);
                if response.status().is_success() && matches!(outcome, Outcome::Ok(_)) {
                    DIALECTS.record(dialects::name(&model.dialect));
                }
                outcome
            }
            T::LoseResponse => {
                let request = sut.outstanding.clone().expect("an outstanding request");
                let _lost = sut.server.handle(&request, sut.now());
                Outcome::Ok(None)
            }
            T::SubmitCredentials(attempt) => {
                event = Some(Taken::Call("submit_credentials"));
                let password = if attempt.password_ok {
                    model.passwords[attempt.account].clone()
                } else {
                    "Wrong-Passw0rd".to_owned()
                };
                let mut credentials =
                    Credentials::new(Sut::email(attempt.account), password, fingerprint());
                match attempt.captcha {
                    Captcha::Missing => {}
                    Captcha::Right => credentials = credentials.with_recaptcha(RECAPTCHA_OK),
                    Captcha::Wrong => credentials = credentials.with_recaptcha("03AGdBq2-forged"),
                }
                sut.call(|flow| flow.submit_credentials(credentials.clone(), now))
            }
            T::ChooseMethod(method) => {
                event = Some(Taken::Call("choose_method"));
                sut.call(|flow| flow.choose_method(method, now))
            }
            T::SubmitCode { right } => {
                event = Some(Taken::Call("submit_code"));
                let code = match (&before.current_step(), right) {
                    (Some(SignInStep::Code { method, .. }), _) => {
                        let Phase::AwaitCode { account, .. } = model.phase else {
                            panic!("the model did not follow the code: {:?}", model.phase)
                        };
                        let email = Sut::email(account);
                        match (method, right) {
                            (Method::Google, true) => {
                                sut.server.google_code(email, sut.now()).expect("google on")
                            }
                            (Method::Google, false) => sut.wrong_google_code(account),
                            (_, right) => {
                                let sent = sut.server.last_code_to(&sut.accounts[account].phone);
                                if right {
                                    sent.expect("an SMS was sent").to_owned()
                                } else {
                                    other_code(sent)
                                }
                            }
                        }
                    }
                    _ => "123456".to_owned(),
                };
                sut.call(|flow| flow.submit_code(code.clone(), now))
            }
            T::RequestResetCode => {
                event = Some(Taken::Call("request_reset_code"));
                sut.call(|flow| flow.request_reset_code(now))
            }
            T::ResetPassword {
                right,
                new_password,
            } => {
                event = Some(Taken::Call("reset_password"));
                let code = match &model.phase {
                    Phase::AwaitReset { account, .. } => {
                        let sent = sut.server.last_code_to(Sut::email(*account));
                        if right {
                            sent.expect("a reset code was emailed").to_owned()
                        } else {
                            other_code(sent)
                        }
                    }
                    _ => "123456".to_owned(),
                };
                let new_password = new_password_text(new_password);
                sut.call(|flow| flow.reset_password(code.clone(), new_password.clone(), now))
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
                let resumed: SignIn = serde_json::from_str(&parked).expect("and resumes");
                assert_eq!(resumed, sut.flow, "a parked flow resumes as it was");
                sut.flow = resumed;
                Outcome::Ok(None)
            }
            T::OtherDevice { account, times } => {
                let mut statuses = Vec::new();
                for _ in 0..times {
                    let mut other = SignIn::new(Endpoint::new(HOST).expect("endpoint"));
                    let wizard = sut.server.handle(&other.start(now).sent(), now);
                    let _ = other.handle_response(&wizard, sut.now()).expect("wizard");
                    let init = Answer {
                        req: Req::Wizard,
                        workflow: LOGIN,
                        twist: Twist::NONE,
                    };
                    let fields: Vec<&str> = other.deviations().iter().map(|d| d.field()).collect();
                    assert_eq!(
                        fields,
                        expected_deviations(&sut.dialect, &init),
                        "another device's wizard"
                    );
                    let mut credentials =
                        Credentials::new(Sut::email(account), "Bot-guess-1", fingerprint());
                    if model.recaptcha {
                        credentials = credentials.with_recaptcha(RECAPTCHA_OK);
                    }
                    // A fresh flow's guard allows one attempt.
                    let request = other.submit_credentials(credentials, now).sent();
                    statuses.push(sut.server.handle(&request, sut.now()).status().as_u16());
                }
                assert_eq!(statuses, model.other_device, "the other device's answers");
                Outcome::Ok(None)
            }
            T::TooMany(secs) => {
                // A proxy of the host: its `Retry-After` in the dialect's form.
                let mut response = error_response(429, "too many requests");
                if let Some(secs) = secs {
                    let value = dialects::retry_after_value(&sut.dialect, sut.now(), secs);
                    response
                        .headers_mut()
                        .insert("Retry-After", value.parse().expect("header"));
                }
                event = Some(Taken::Answer(Sut::label(from, &response, false)));
                sut.answer(&response, &[], None)
            }
            T::OtherWorkflow => {
                let uuid = sut.uuid.clone().expect("the flow has a uuid");
                let answer = Answer {
                    req: Req::Credentials,
                    workflow: OTHER_WORKFLOW,
                    twist: Twist::NONE,
                };
                let sent = written(&sut.dialect, answer.req, answer.workflow);
                let response = envelope_response(
                    sent.status,
                    json!({"code": sent.code, "data": {"phone": "+15550000000"},
                           "done": sent.done, "uuid": uuid, "workflow": OTHER_WORKFLOW}),
                );
                let deviations = expected_deviations(&sut.dialect, &answer);
                event = Some(Taken::Answer(Sut::label(from, &response, true)));
                sut.answer(&response, &deviations, None)
            }
            T::Refusal => {
                let response = error_response(400, "refused by the server");
                event = Some(Taken::Answer(Sut::label(from, &response, false)));
                sut.answer(&response, &[], None)
            }
            T::Replay => {
                let current = sut.uuid.clone();
                let stale = sut
                    .answers
                    .iter()
                    .rev()
                    .find(|r| uuid_of(r.body()) != current)
                    .cloned()
                    .expect("another wizard's answer");
                let outcome = sut.answer(&stale, &[], None);
                assert!(
                    matches!(sut.last_error, Some(Error::Malformed { field: "uuid", .. })),
                    "another wizard's answer is refused for its uuid: {:?}",
                    sut.last_error
                );
                outcome
            }
            T::OffTable(off) => {
                // The workflow decides before any deviation counts: strict refuses it for
                // the same field, whatever else the answer departs on.
                let response = sut.off_table_answer(off);
                let outcome = sut.answer(&response, &[], Some("workflow"));
                assert!(
                    matches!(
                        sut.last_error,
                        Some(Error::Malformed {
                            field: "workflow",
                            ..
                        })
                    ),
                    "{off:?} is refused for its workflow: {:?}",
                    sut.last_error
                );
                OFF_TABLE.record(&off.name());
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
                sut.answer(&response, &[], None)
            }
        };

        assert_eq!(
            outcome,
            model.expect,
            "the outcome of {t_name}",
            t_name = from
        );
        match &outcome {
            Outcome::Ok(_) | Outcome::Held(_) => {
                if let Some(event) = &event {
                    COVERAGE.taken(from, event, sut.flow.state());
                }
            }
            _ => assert_eq!(sut.flow, before, "an Err must leave the flow as it was"),
        }
        assert!(
            !model.self_inflicted_block,
            "the guard let the client earn a server block on its own"
        );
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
        match (&sut.tokens, model.signed_in_at) {
            (None, None) => {}
            (Some(tokens), Some(signed_in)) => {
                assert_eq!(tokens.access().created_at(), at(signed_in));
                assert_eq!(
                    tokens.access().expires_at(),
                    at(signed_in + ACCESS_LIFETIME)
                );
                assert_eq!(
                    tokens.refresh().expires_at(),
                    at(signed_in + REFRESH_LIFETIME)
                );
                assert_eq!(
                    tokens.is_expired(sut.now()),
                    model.now >= signed_in + ACCESS_LIFETIME
                );
            }
            (tokens, signed_in) => panic!(
                "tokens {} but the model signed in {signed_in:?}",
                tokens.is_some()
            ),
        }
    }
}

/// Runs the model-based property test and then demands that every documented row ran.
#[test]
fn sign_in_follows_its_model_and_takes_every_documented_transition() {
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
    eprintln!("{}", COVERAGE.rarest(12));
    COVERAGE.assert_complete();
    let off_table: Vec<String> = Off::ALL.iter().map(|o| o.name()).collect();
    OFF_TABLE.assert_complete(off_table.iter().map(String::as_str));
    TOLERATED.assert_complete(TOLERATED_ALL);
    DIALECTS.assert_complete(dialects::all_names());
    RETRY_AFTER.assert_complete(dialects::RETRY_AFTER_ALL);
    eprintln!("{}", DIALECTS.summary());
    eprintln!("{}", RETRY_AFTER.summary());
    eprintln!("{}", OFF_TABLE.summary());
    eprintln!("{}", TOLERATED.summary());
}
