//! Model-based tests of token sessions of both realms (`src/session.rs`).
//!
//! The reference model is the documented protocol (`spec/backoffice-auth.txt`, the
//! inferred client paths, and the simulator's stated assumptions): the step each copy of
//! the session should be at, a virtual clock, access tokens of 15 minutes and refresh
//! tokens of an hour (the access token counts as expired `leeway` early), 5 refreshes a
//! minute (the session's guard and the server's window per chain of pairs), rotation on
//! refresh (revoking the old access token too, but in the dialects where it outlives the
//! refresh) and revocation on sign-out. The system under test is the real [`Session`]
//! (client tokens from a client sign-in, staff tokens from a staff sign-in, both against
//! `b2core_auth::sim::Server` in-process) through a network that loses requests and
//! answers, a proxy that answers 429 or 503 itself, garbage and answers from elsewhere.
//! The server (and the proxy) speak the case's dialect (one of `sim::Dialect::ALL`); some
//! answers get departures the pages leave open (a sign-out not 200, a refresh pair in an
//! envelope whose `code` is not the status). A second copy of the session (a parked copy
//! resumed in another tab) goes stale when the first refreshes or signs out.
//!
//! The refresh limit holds a sixth refresh inside a minute the way a 429 does: the call
//! returns `Outgoing::RetryAt`, the session waits in `RateLimited` holding the refresh
//! (`authorize` serves the access token meanwhile, and never starts a second refresh),
//! `retry` before the instant changes nothing and from then on sends the held request.
//!
//! After every transition: each copy's step, state, next deadline and tokens equal the
//! model's, nothing panicked, an `Err` changed nothing, no call but a `retry` sent a
//! request while one was outstanding or held, every resend is the request the copy held
//! or awaited (byte for byte), `Ready` came only with an access token that had not
//! expired, the simulator saw no protocol violation, no copy earned a server 429 its guard
//! could have avoided, and each copy holds exactly the
//! deviations of [`expected_deviations`]; a strict twin of the copy must read every answer
//! alike, or refuse (unchanged) what the copy recorded deviations for. After the run, every
//! row of [`TRANSITIONS`], every dialect, every form of the client refresh answer and of
//! `Retry-After`, and every kind of tolerated departure must have been met.

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

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use b2core_auth::backoffice::{StaffSignIn, StaffStep};
use b2core_auth::client::{Credentials, SignIn, SignInStep};
use b2core_auth::session::{SessionState, TRANSITIONS};
use b2core_auth::sim::{
    ClientAccount, Dialect, RefreshAnswer, Server, StaffAccount, StatusLine, WizardInit,
};
use b2core_auth::Flow;
use b2core_auth::{Authorized, DeviceFingerprint, Error, Outgoing, Realm, Session, SessionStep};
use coverage::{Checklist, Coverage};
use http::{Request, Response};
use ms_model::{at, config, endpoint, floor_secs, ms_of, GuardModel, WindowModel, WINDOW};
use proptest::prelude::*;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};
use sent::Sent as _;

static COVERAGE: Coverage<SessionState> = Coverage::new(TRANSITIONS);
/// Every dialect must be spoken: a case in it must have taken a 2xx of the simulator.
static DIALECTS: Checklist = Checklist::new("dialects");
/// Every form of the client refresh answer must be read at least once.
static REFRESH_FORMS: Checklist = Checklist::new("client refresh answers");
const REFRESH_FORMS_ALL: [&str; 4] = [
    "bare",
    "envelope",
    "envelope, null uuid",
    "envelope, no uuid",
];
/// Every form of `Retry-After` must be read at least once.
static RETRY_AFTER: Checklist = Checklist::new("Retry-After forms");
/// What `authorize` answered, in which state (and why the session waits there): each must
/// be met at least once (a gateway's requests during a slow refresh, after a lost answer,
/// under a 429, while the refresh limit holds the refresh, and the sessions started from
/// one token).
static AUTHORIZED: Checklist = Checklist::new("authorize outcomes");
const AUTHORIZED_ALL: [(SessionState, Why, Gave); 12] = [
    (SessionState::Active, Why::Nothing, Gave::Ready),
    (SessionState::Active, Why::Nothing, Gave::RefreshFirst),
    (SessionState::RefreshOnly, Why::Nothing, Gave::RefreshFirst),
    (SessionState::AccessOnly, Why::Nothing, Gave::Ready),
    (SessionState::AwaitRefresh, Why::InFlight, Gave::Ready),
    (SessionState::AwaitRefresh, Why::InFlight, Gave::Wait),
    (SessionState::AwaitRefresh, Why::AnswerLost, Gave::Ready),
    (SessionState::AwaitRefresh, Why::AnswerLost, Gave::Wait),
    (SessionState::RateLimited, Why::TooMany, Gave::Ready),
    (SessionState::RateLimited, Why::TooMany, Gave::WaitUntil),
    (SessionState::RateLimited, Why::TooMany, Gave::Wait),
    (SessionState::RateLimited, Why::RefreshLimit, Gave::Ready),
];

/// Why a copy is where it is, for [`AUTHORIZED`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Why {
    Nothing,
    /// The refresh is on its way.
    InFlight,
    /// The refresh's answer (or the request itself) was lost: only a `retry` sends it.
    AnswerLost,
    /// A 429 answered the refresh.
    TooMany,
    /// The refresh limit held the refresh.
    RefreshLimit,
}

/// What `authorize` gave, for [`AUTHORIZED`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gave {
    Ready,
    RefreshFirst,
    WaitUntil,
    Wait,
}

/// An [`AUTHORIZED`] item: `authorize` in `state`, for the reason `why`, gave `got`.
fn authorized_item(state: SessionState, why: Why, got: Gave) -> String {
    format!("{state} ({why:?}): {got:?}")
}

fn authorized_all() -> Vec<String> {
    AUTHORIZED_ALL
        .iter()
        .map(|&(state, why, got)| authorized_item(state, why, got))
        .collect()
}

/// Every kind of tolerated departure must be fed, and recorded, at least once.
static TOLERATED: Checklist = Checklist::new("tolerated departures");
/// The tolerated departures a run must meet: "<request>: <field of the deviation>". The
/// pages promise a sign-out 200; a refresh answer inside an envelope has a `code`.
const TOLERATED_ALL: [&str; 2] = ["sign-out: status", "refresh: code"];

const ACCESS_LIFETIME: u64 = 15 * 60_000;
const REFRESH_LIFETIME: u64 = 60 * 60_000;
const REFRESHES_PER_MINUTE: usize = 5;
const SIGN_INS_PER_MINUTE: usize = 5;

const CLIENT: (&str, &str) = ("trader@example.com", "Trader-Pass-1");
const STAFF: (&str, &str) = ("clerk@example.com", "Clerk-Pass-1");

// ---------------------------------------------------------------------------------------
// The reference model

/// One sign-in's chain of pairs on the server; only generation `gen` is live (but for the
/// access tokens of earlier generations, until their expiry, in the dialects where the
/// access token outlives a refresh).
#[derive(Clone, Debug)]
struct Chain {
    gen: u32,
    ended: bool,
    access_exp: u64,
    refresh_exp: u64,
    /// Only successful refreshes count (the simulator's limiter is per chain).
    refreshes: WindowModel,
}

#[derive(Clone, Debug, PartialEq)]
enum Stage {
    Active,
    AwaitRefresh,
    AwaitSignOut,
    SignedOut {
        already_revoked: bool,
    },
    Ended,
    /// Waiting until `until` to send `resume`'s request: after a 429, or held by the
    /// refresh limit (`by_guard`).
    Limited {
        until: u64,
        resume: Box<Stage>,
        by_guard: bool,
    },
}

/// What a copy holds: a pair, or one token alone (`Session::from_refresh_token`,
/// `Session::from_access_token`) until a refresh brings a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Held {
    Pair,
    RefreshOnly,
    AccessOnly,
}

/// One copy of the session.
#[derive(Clone, Debug)]
struct Copy {
    chain: usize,
    gen: u32,
    /// The expiry of the access token (unused while `held` is `RefreshOnly`).
    access_exp: u64,
    /// The expiry of the refresh token (unused while `held` is `AccessOnly`).
    refresh_exp: u64,
    held: Held,
    stage: Stage,
    guard: GuardModel,
    in_flight: bool,
    /// The copy's guard has counted every refresh of its chain (false for a copy started
    /// from a lone token: it knows nothing of the refreshes before it, so the server may
    /// answer 429 where its guard let a refresh through).
    full_history: bool,
}

impl Copy {
    fn fresh(chain: usize, now: u64) -> Self {
        Self {
            chain,
            gen: 0,
            access_exp: floor_secs(now) + ACCESS_LIFETIME,
            refresh_exp: floor_secs(now) + REFRESH_LIFETIME,
            held: Held::Pair,
            stage: Stage::Active,
            guard: GuardModel::new(REFRESHES_PER_MINUTE),
            in_flight: false,
            full_history: true,
        }
    }

    /// A session started from `source`'s refresh or access token alone.
    fn lone(source: &Copy, held: Held) -> Self {
        Self {
            held,
            stage: Stage::Active,
            guard: GuardModel::new(REFRESHES_PER_MINUTE),
            in_flight: false,
            full_history: false,
            ..source.clone()
        }
    }

    fn has_access(&self) -> bool {
        self.held != Held::RefreshOnly
    }

    fn has_refresh(&self) -> bool {
        self.held != Held::AccessOnly
    }

    /// The access token authorizes at `now` (its expiry decides, not the leeway).
    fn serves(&self, now: u64) -> bool {
        self.has_access() && now < self.access_exp
    }

    /// A refresh could be sent at `now` (the guard aside).
    fn can_refresh(&self, now: u64) -> bool {
        self.has_refresh() && now < self.refresh_exp
    }

    /// The stage the session holds, whatever the phase.
    fn latest(&self) -> &Stage {
        match &self.stage {
            Stage::Limited { resume, .. } => resume,
            stage => stage,
        }
    }

    fn awaiting(&self) -> bool {
        matches!(self.stage, Stage::AwaitRefresh | Stage::AwaitSignOut)
    }

    fn state(&self) -> SessionState {
        match self.stage {
            Stage::Active => match self.held {
                Held::Pair => SessionState::Active,
                Held::RefreshOnly => SessionState::RefreshOnly,
                Held::AccessOnly => SessionState::AccessOnly,
            },
            Stage::AwaitRefresh => SessionState::AwaitRefresh,
            Stage::AwaitSignOut => SessionState::AwaitSignOut,
            Stage::SignedOut { .. } => SessionState::SignedOut,
            Stage::Ended => SessionState::Ended,
            Stage::Limited { .. } => SessionState::RateLimited,
        }
    }

    /// Why the copy is where it is, for [`AUTHORIZED`].
    fn why(&self) -> Why {
        match self.stage {
            Stage::AwaitRefresh | Stage::AwaitSignOut if self.in_flight => Why::InFlight,
            Stage::AwaitRefresh | Stage::AwaitSignOut => Why::AnswerLost,
            Stage::Limited { by_guard: true, .. } => Why::RefreshLimit,
            Stage::Limited { .. } => Why::TooMany,
            _ => Why::Nothing,
        }
    }

    /// What `next_deadline()` should say: the end of a wait; else, while usable, when the
    /// access token enters the leeway (a refresh is due), at once for a lone refresh token.
    fn deadline(&self, leeway: u64) -> Option<SystemTime> {
        match (&self.stage, self.held) {
            (Stage::Limited { until, .. }, _) => Some(at(*until)),
            (Stage::Active, Held::Pair) => Some(at(self.access_exp - leeway)),
            (Stage::Active, Held::RefreshOnly) => Some(UNIX_EPOCH),
            _ => None,
        }
    }

    fn step(&self) -> Option<Step> {
        match &self.stage {
            Stage::Active => Some(Step::Active),
            Stage::SignedOut { already_revoked } => Some(Step::SignedOut {
                already_revoked: *already_revoked,
            }),
            Stage::Ended => Some(Step::Ended),
            Stage::Limited { until, .. } => Some(Step::RetryAt(*until)),
            Stage::AwaitRefresh | Stage::AwaitSignOut => None,
        }
    }

    /// (access, refresh) expiry, each while the session holds that token.
    fn tokens(&self) -> (Option<u64>, Option<u64>) {
        match self.latest() {
            Stage::SignedOut { .. } | Stage::Ended => (None, None),
            _ => (
                self.has_access().then_some(self.access_exp),
                self.has_refresh().then_some(self.refresh_exp),
            ),
        }
    }
}

/// A [`SessionStep`] reduced to what the model can know.
#[derive(Clone, Debug, PartialEq)]
enum Step {
    Active,
    RetryAt(u64),
    SignedOut { already_revoked: bool },
    Ended,
}

/// An [`Error`] reduced the same way.
#[derive(Clone, Debug, PartialEq)]
enum Fault {
    OutOfOrder,
    Malformed,
    Refused(u16),
    SessionEnded,
}

/// What the last transition should have produced.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Nothing,
    /// A request to send (a refresh, a sign-out, or `RefreshFirst`).
    Sent,
    /// `Outgoing::RetryAt` at this instant: nothing was sent.
    Held(u64),
    /// `Authorized::Ready`.
    Ready,
    /// `Authorized::Wait { until }`.
    Wait(Option<u64>),
    Step(Step),
    Fault(Fault),
}

/// What the server (or a proxy) answers, in the model.
enum Reply {
    TooMany(u64),
    /// 401: the simulator's refusal of an unknown, expired or revoked token.
    Unauthorized,
    Ok,
    ServerError,
}

/// Departures from the pages on points they leave open, applied to a 2xx answer: the
/// session must take it all the same and record what departs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Twist {
    /// The status line is 203 instead of 200 (a sign-out: a deviation; the body's `code` of
    /// an envelope no longer repeats it).
    status: bool,
    /// A bare refresh pair comes inside a wizard envelope (`code` 200, `done`, a `uuid`
    /// and `workflow` of no wizard), as third-party clients read it too.
    wrap: bool,
}

impl Twist {
    const NONE: Twist = Twist {
        status: false,
        wrap: false,
    };
}

/// Some departures (at least one).
fn twist() -> BoxedStrategy<Twist> {
    (any::<bool>(), any::<bool>())
        .prop_map(|(status, wrap)| Twist { status, wrap })
        .prop_filter("some departure", |t| *t != Twist::NONE)
        .boxed()
}

/// A 2xx answer as the test knows it was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sent {
    /// It answers a refresh (else a sign-out).
    refresh: bool,
    status: u16,
    /// The envelope's `code`, when the pair comes in an envelope.
    code: Option<i64>,
}

impl Sent {
    /// As a host speaking `dialect` answers a session of `realm`, then twisted: HTTP 200
    /// in every dialect; a client refresh in an envelope with `code` 200 in the
    /// `refresh-envelope*` dialects (or when the twist wraps the bare pair).
    fn of(dialect: &Dialect, realm: Realm, refresh: bool, twist: Twist) -> Sent {
        let enveloped = refresh
            && ((realm == Realm::Client && dialect.refresh_answer != RefreshAnswer::Bare)
                || twist.wrap);
        Sent {
            refresh,
            status: if twist.status { 203 } else { 200 },
            code: enveloped.then_some(200),
        }
    }

    /// Every deviation a lenient session records when it takes this answer: a sign-out
    /// that is not 200 (the page's promise), an envelope's `code` that is not the status.
    fn deviations(&self) -> Vec<&'static str> {
        match (self.refresh, self.code) {
            (false, _) if self.status != 200 => vec!["status"],
            (true, Some(code)) if code != i64::from(self.status) => vec!["code"],
            _ => Vec::new(),
        }
    }
}

/// An answer the test hands to a session or flow.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// A 2xx to a session's refresh (or sign-out), with the twist's departures.
    Session {
        realm: Realm,
        refresh: bool,
        twist: Twist,
    },
    /// A whole sign-in of `realm` without 2FA, as `sign_in` does it.
    SignIn(Realm),
}

/// The deviations (their fields, in order) a lenient session or flow records when it takes
/// `answer` from a host speaking `dialect`: from the knobs (how the host writes it) and
/// the library's rules (what departs from the pages).
///
/// So, for the session: none in every dialect (refresh and sign-out are HTTP 200; the
/// enveloped client refresh of `refresh-envelope*` has `code` 200, and its `uuid`,
/// `workflow` and `done` belong to no wizard); only the twist adds some. For a client
/// sign-in: `done-at-init` adds `code` and `done` on its init (202 and `true` with
/// `login`), `status-200` a `code` on the `Terminate` (and on a `done-at-init` init). A
/// Back Office sign-in: none.
fn expected_deviations(dialect: &Dialect, answer: &Answer) -> Vec<&'static str> {
    match *answer {
        Answer::Session {
            realm,
            refresh,
            twist,
        } => Sent::of(dialect, realm, refresh, twist).deviations(),
        Answer::SignIn(Realm::Client) => {
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
        Answer::SignIn(_) => Vec::new(),
    }
}

/// The answer with `twist`'s departures.
fn twist_response(response: Response<Vec<u8>>, twist: Twist) -> Response<Vec<u8>> {
    let (mut parts, mut body) = response.into_parts();
    if twist.wrap {
        let pair: serde_json::Value = serde_json::from_slice(&body).expect("a refresh pair");
        let envelope = serde_json::json!({"code": 200, "data": pair, "done": true,
                                          "uuid": "3f1e5d7a-no-wizard", "workflow": "Terminate"});
        body = serde_json::to_vec(&envelope).expect("JSON");
    }
    if twist.status {
        parts.status = http::StatusCode::NON_AUTHORITATIVE_INFORMATION;
    }
    Response::from_parts(parts, body)
}

/// Answers taken from elsewhere that can never be a refresh answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A staff sign-in answer that asks for 2FA.
    TwoFactor,
    /// A client sign-in wizard envelope (`login`).
    Wizard,
    /// A sign-out's empty 200.
    SignedOut,
}

#[derive(Clone, Debug)]
struct Model {
    /// How the server (and a proxy in front of it) answers where the pages leave room.
    dialect: Dialect,
    realm: Realm,
    leeway: u64,
    now: u64,
    copies: Vec<Copy>,
    chains: Vec<Chain>,
    sign_ins: Vec<u64>,
    outcome: Outcome,
}

#[derive(Clone, Debug)]
enum Transition {
    Authorize {
        copy: usize,
    },
    Refresh {
        copy: usize,
    },
    SignOut {
        copy: usize,
    },
    Retry {
        copy: usize,
    },
    /// The copy's in-flight request reaches the server and its answer comes back; a 2xx
    /// with the twist's departures.
    Deliver {
        copy: usize,
        twist: Twist,
    },
    /// The in-flight request is lost before the server.
    LoseRequest {
        copy: usize,
    },
    /// The in-flight request reaches the server; its answer is lost.
    LoseResponse {
        copy: usize,
    },
    /// A proxy answers the in-flight request with 429 and `Retry-After`.
    Gateway429 {
        copy: usize,
        secs: u64,
    },
    /// A proxy answers the in-flight request with 503.
    Gateway503 {
        copy: usize,
    },
    /// A 200 whose body is not a token pair.
    Garbage {
        copy: usize,
        body: Vec<u8>,
    },
    /// A real answer from another flow or session, or replayed from this one's past.
    Foreign {
        copy: usize,
        kind: Kind,
        replay: bool,
    },
    /// Park the copy (serde round trip) and resume it.
    Park {
        copy: usize,
    },
    /// Park copy 0 and resume it as copy 1 (a second tab), replacing any copy 1.
    Fork,
    /// The caller takes the deviations the copy recorded so far.
    TakeDeviations {
        copy: usize,
    },
    /// Copy 1 is replaced by a session started from copy 0's refresh or access token
    /// alone (`Held::RefreshOnly` or `Held::AccessOnly`), as a gateway handed one token.
    /// With `counter`, it also keeps copy 0's refresh counter: no call gives a `Session`
    /// another's counter, so the test moves it through the parked form (the only way a
    /// session that holds only a refresh token meets the refresh limit).
    Lone {
        held: Held,
        counter: bool,
    },
    /// Copy 0 is replaced by the session of a new sign-in.
    SignInAgain,
    Advance(u64),
    /// Always valid: one second passes.
    Tick,
}

impl Model {
    /// Moves the copy to `next` (an awaiting stage), checking the refresh guard: when it
    /// allows no refresh now, the copy holds `next` until it does.
    fn send(&mut self, copy: usize, next: Stage) {
        let now = self.now;
        let c = &mut self.copies[copy];
        if next == Stage::AwaitRefresh {
            if let Some(t) = c.guard.next_allowed(now) {
                c.stage = Stage::Limited {
                    until: t,
                    resume: Box::new(next),
                    by_guard: true,
                };
                self.outcome = Outcome::Held(t);
                return;
            }
            c.guard.record(now);
        }
        c.stage = next;
        c.in_flight = true;
        self.outcome = Outcome::Sent;
    }

    /// `authorize`: the leeway decides when a refresh starts, the access token's expiry
    /// whether a request waits; at most one refresh is ever outstanding.
    fn authorize(&mut self, copy: usize) {
        let now = self.now;
        let c = &self.copies[copy];
        let serves = c.serves(now);
        self.outcome = match (&c.stage, c.latest()) {
            (_, Stage::SignedOut { .. } | Stage::Ended) => Outcome::Fault(Fault::SessionEnded),
            (_, Stage::AwaitSignOut) => Outcome::Fault(Fault::OutOfOrder),
            // A refresh outstanding, or its 429 waited out: never a second one.
            (Stage::AwaitRefresh, _) if serves => Outcome::Ready,
            (Stage::AwaitRefresh, _) => Outcome::Wait(None),
            (Stage::Limited { .. }, _) if serves => Outcome::Ready,
            (Stage::Limited { .. }, _) if !c.can_refresh(now) => {
                Outcome::Fault(Fault::SessionEnded)
            }
            (Stage::Limited { until, .. }, _) if now < *until => Outcome::Wait(Some(*until)),
            (Stage::Limited { .. }, _) => Outcome::Wait(None),
            // Nothing outstanding.
            _ if c.has_access() && now + self.leeway < c.access_exp => Outcome::Ready,
            _ if c.can_refresh(now) => match c.guard.next_allowed(now) {
                None => {
                    self.send(copy, Stage::AwaitRefresh);
                    return;
                }
                Some(_) if serves => Outcome::Ready,
                Some(t) => Outcome::Wait(Some(t)),
            },
            _ if serves => Outcome::Ready,
            _ => Outcome::Fault(Fault::SessionEnded),
        };
    }

    /// `refresh`.
    fn refresh(&mut self, copy: usize) {
        let now = self.now;
        let c = &self.copies[copy];
        match (c.latest(), c.has_refresh()) {
            (Stage::SignedOut { .. } | Stage::Ended, _) => {
                self.outcome = Outcome::Fault(Fault::SessionEnded);
            }
            (Stage::Active, true) if now >= c.refresh_exp => {
                self.outcome = Outcome::Fault(Fault::SessionEnded);
            }
            (Stage::Active, true) => self.send(copy, Stage::AwaitRefresh),
            _ => self.outcome = Outcome::Fault(Fault::OutOfOrder),
        }
    }

    /// The simulator at work on the copy's in-flight request.
    fn server(&mut self, copy: usize) -> Reply {
        let now = self.now;
        let c = &self.copies[copy];
        let chain = &mut self.chains[c.chain];
        let live = !chain.ended && chain.gen == c.gen;
        match c.stage {
            Stage::AwaitRefresh => {
                if !live || now >= c.refresh_exp {
                    return Reply::Unauthorized;
                }
                if let Err(secs) = chain.refreshes.attempt(now) {
                    return Reply::TooMany(secs);
                }
                chain.gen += 1;
                chain.access_exp = floor_secs(now) + ACCESS_LIFETIME;
                chain.refresh_exp = floor_secs(now) + REFRESH_LIFETIME;
                Reply::Ok
            }
            Stage::AwaitSignOut => {
                // A refresh revokes the access token it replaces, but in the dialects where
                // it outlives the refresh: there a stale copy's access token still signs
                // the chain out until its own expiry.
                let outlives = self.dialect.access_outlives_refresh && !chain.ended;
                if !(live || outlives) || now >= c.access_exp {
                    return Reply::Unauthorized;
                }
                chain.ended = true;
                Reply::Ok
            }
            _ => unreachable!("only awaiting copies have a request in flight"),
        }
    }

    /// The copy handles `answer`.
    fn handle(&mut self, copy: usize, answer: Reply) {
        let c = &mut self.copies[copy];
        if !c.awaiting() {
            self.outcome = Outcome::Fault(Fault::OutOfOrder);
            return;
        }
        let now = self.now;
        c.stage = match (answer, &c.stage) {
            (Reply::ServerError, _) => {
                self.outcome = Outcome::Fault(Fault::Refused(503));
                return;
            }
            (Reply::TooMany(secs), stage) => {
                let until = ms_of(dialects::retry_until(&self.dialect, at(now), secs));
                if *stage == Stage::AwaitRefresh {
                    c.guard.block_until(until);
                }
                Stage::Limited {
                    until,
                    resume: Box::new(stage.clone()),
                    by_guard: false,
                }
            }
            (Reply::Unauthorized, Stage::AwaitRefresh) => Stage::Ended,
            (Reply::Unauthorized, _) => Stage::SignedOut {
                already_revoked: true,
            },
            (Reply::Ok, Stage::AwaitRefresh) => {
                let chain = &self.chains[c.chain];
                c.held = Held::Pair;
                c.gen = chain.gen;
                c.access_exp = chain.access_exp;
                c.refresh_exp = chain.refresh_exp;
                Stage::Active
            }
            (Reply::Ok, _) => Stage::SignedOut {
                already_revoked: false,
            },
        };
        self.outcome = Outcome::Step(c.step().expect("a stage with a step"));
    }

    fn recent_sign_ins(&self) -> usize {
        self.sign_ins
            .iter()
            .filter(|&&t| self.now - t < WINDOW)
            .count()
    }
}

struct SessionModel;

fn copy_index(copies: usize) -> BoxedStrategy<usize> {
    if copies > 1 {
        prop_oneof![3 => Just(0usize), 2 => Just(1usize)].boxed()
    } else {
        Just(0usize).boxed()
    }
}

impl ReferenceStateMachine for SessionModel {
    type State = Model;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<Model> {
        let realm = prop_oneof![Just(Realm::Client), Just(Realm::BackOffice)];
        let leeway = proptest::sample::select(vec![0u64, 30_000, 90_000]);
        (dialects::dialect(), realm, leeway)
            .prop_map(|(dialect, realm, leeway)| Model {
                dialect,
                realm,
                leeway,
                now: 0,
                copies: vec![Copy::fresh(0, 0)],
                chains: vec![Chain {
                    gen: 0,
                    ended: false,
                    access_exp: ACCESS_LIFETIME,
                    refresh_exp: REFRESH_LIFETIME,
                    refreshes: WindowModel::new(REFRESHES_PER_MINUTE),
                }],
                sign_ins: vec![0],
                outcome: Outcome::Nothing,
            })
            .boxed()
    }

    fn transitions(m: &Model) -> BoxedStrategy<Transition> {
        // Clock jumps: small, past a window, and around what the copies wait on.
        let mut jumps = vec![1_000, WINDOW, WINDOW + 1];
        for c in &m.copies {
            for target in [
                c.access_exp.saturating_sub(m.leeway + 1),
                c.access_exp.saturating_sub(m.leeway),
                c.access_exp,
                c.refresh_exp - 1,
                c.refresh_exp,
            ] {
                jumps.push(target.saturating_sub(m.now));
            }
            if let Stage::Limited { until, .. } = c.stage {
                jumps.push(until.saturating_sub(m.now));
            }
            if let Some(t) = c.guard.next_allowed(m.now) {
                jumps.push(t - m.now);
            }
        }
        let jumps: Vec<u64> = jumps.into_iter().filter(|&j| j > 0).collect();
        let advance = prop_oneof![
            (1u64..5_000).prop_map(Transition::Advance),
            proptest::sample::select(jumps).prop_map(Transition::Advance),
        ];
        let garbage = prop_oneof![
            Just(Vec::new()),
            Just(b"not json".to_vec()),
            Just(b"{}".to_vec()),
            Just(br#"{"accessToken":null}"#.to_vec()),
            Just(br#"{"data":{}}"#.to_vec()),
            proptest::collection::vec(any::<u8>(), 0..48),
        ];
        let kinds = proptest::sample::select(vec![Kind::TwoFactor, Kind::Wizard, Kind::SignedOut]);
        let n = m.copies.len();
        let mut options: Vec<(u32, BoxedStrategy<Transition>)> = vec![
            (
                5,
                copy_index(n)
                    .prop_map(|copy| Transition::Authorize { copy })
                    .boxed(),
            ),
            (
                3,
                copy_index(n)
                    .prop_map(|copy| Transition::Refresh { copy })
                    .boxed(),
            ),
            (
                2,
                copy_index(n)
                    .prop_map(|copy| Transition::SignOut { copy })
                    .boxed(),
            ),
            (
                2,
                copy_index(n)
                    .prop_map(|copy| Transition::Retry { copy })
                    .boxed(),
            ),
            (
                1,
                (copy_index(n), garbage)
                    .prop_map(|(copy, body)| Transition::Garbage { copy, body })
                    .boxed(),
            ),
            (
                1,
                (copy_index(n), kinds, any::<bool>())
                    .prop_map(|(copy, kind, replay)| Transition::Foreign { copy, kind, replay })
                    .boxed(),
            ),
            (
                1,
                copy_index(n)
                    .prop_map(|copy| Transition::Park { copy })
                    .boxed(),
            ),
            (1, Just(Transition::Fork).boxed()),
            (
                1,
                copy_index(n)
                    .prop_map(|copy| Transition::TakeDeviations { copy })
                    .boxed(),
            ),
            (4, advance.boxed()),
            (1, Just(Transition::Tick).boxed()),
        ];
        if m.recent_sign_ins() < SIGN_INS_PER_MINUTE {
            options.push((1, Just(Transition::SignInAgain).boxed()));
        }
        for (held, counter) in [
            (Held::RefreshOnly, false),
            (Held::RefreshOnly, true),
            (Held::AccessOnly, false),
        ] {
            let lone = Transition::Lone { held, counter };
            if Self::preconditions(m, &lone) {
                // More often while copy 0's refresh limit is reached: its counter goes too.
                let full = counter && m.copies[0].guard.next_allowed(m.now).is_some();
                options.push((if full { 6 } else { 1 }, Just(lone).boxed()));
            }
        }
        for (copy, c) in m.copies.iter().enumerate() {
            if c.in_flight {
                options.push((
                    10,
                    Just(Transition::Deliver {
                        copy,
                        twist: Twist::NONE,
                    })
                    .boxed(),
                ));
                options.push((
                    2,
                    twist()
                        .prop_map(move |twist| Transition::Deliver { copy, twist })
                        .boxed(),
                ));
                options.push((1, Just(Transition::LoseRequest { copy }).boxed()));
                options.push((1, Just(Transition::LoseResponse { copy }).boxed()));
                options.push((
                    1,
                    (1u64..90)
                        .prop_map(move |secs| Transition::Gateway429 { copy, secs })
                        .boxed(),
                ));
                options.push((1, Just(Transition::Gateway503 { copy }).boxed()));
            }
            // A gateway's traffic: many requests while a refresh is out or rate limited.
            if matches!(c.stage, Stage::AwaitRefresh | Stage::Limited { .. }) {
                options.push((8, Just(Transition::Authorize { copy }).boxed()));
            }
            // A session from a lone refresh token refreshes first.
            if c.stage == Stage::Active && c.held == Held::RefreshOnly {
                options.push((3, Just(Transition::Refresh { copy }).boxed()));
            }
            // A gateway that refreshes eagerly, and retries a slow refresh: the refresh
            // limit comes into play.
            if c.stage == Stage::Active
                && c.held == Held::Pair
                && c.guard.attempts_within(m.now) > 0
            {
                options.push((4, Just(Transition::Refresh { copy }).boxed()));
            }
            if c.stage == Stage::AwaitRefresh {
                options.push((2, Just(Transition::Retry { copy }).boxed()));
            }
            if let Stage::Limited { until, .. } = c.stage {
                options.push((3, Just(Transition::Retry { copy }).boxed()));
                options.push((
                    2,
                    Just(Transition::Advance(until.saturating_sub(m.now).max(1))).boxed(),
                ));
            }
        }
        proptest::strategy::Union::new_weighted(options).boxed()
    }

    fn preconditions(m: &Model, transition: &Transition) -> bool {
        let exists = |copy: usize| copy < m.copies.len();
        match *transition {
            Transition::Authorize { copy }
            | Transition::Refresh { copy }
            | Transition::SignOut { copy }
            | Transition::Retry { copy }
            | Transition::Park { copy }
            | Transition::TakeDeviations { copy } => exists(copy),
            Transition::Deliver { copy, .. }
            | Transition::LoseRequest { copy }
            | Transition::LoseResponse { copy }
            | Transition::Gateway429 { copy, .. }
            | Transition::Gateway503 { copy } => exists(copy) && m.copies[copy].in_flight,
            // Any 2xx answers a sign-out (the page promises 200 and no body), so nothing
            // from elsewhere can be told apart there.
            Transition::Garbage { copy, .. } | Transition::Foreign { copy, .. } => {
                exists(copy) && m.copies[copy].stage != Stage::AwaitSignOut
            }
            Transition::SignInAgain => m.recent_sign_ins() < SIGN_INS_PER_MINUTE,
            // The token must be there: a pair, or that token alone.
            Transition::Lone {
                held: Held::RefreshOnly,
                ..
            } => m.copies[0].tokens().1.is_some(),
            Transition::Lone {
                held: Held::AccessOnly,
                counter,
            } => !counter && m.copies[0].tokens().0.is_some(),
            Transition::Lone {
                held: Held::Pair, ..
            } => false,
            Transition::Fork | Transition::Advance(_) | Transition::Tick => true,
        }
    }

    fn apply(mut m: Model, transition: &Transition) -> Model {
        m.outcome = Outcome::Nothing;
        match *transition {
            Transition::Authorize { copy } => m.authorize(copy),
            Transition::Refresh { copy } => m.refresh(copy),
            Transition::SignOut { copy } => match m.copies[copy].latest() {
                Stage::SignedOut { .. } | Stage::Ended => {
                    m.outcome = Outcome::Fault(Fault::SessionEnded);
                }
                Stage::Active if m.copies[copy].has_access() => m.send(copy, Stage::AwaitSignOut),
                _ => m.outcome = Outcome::Fault(Fault::OutOfOrder),
            },
            Transition::Retry { copy } => {
                let now = m.now;
                if m.copies[copy].awaiting() {
                    // The caller resends after a transport error: what was on its way is
                    // lost, whatever the retry gives.
                    m.copies[copy].in_flight = false;
                }
                let c = &m.copies[copy];
                match (c.latest(), &c.stage) {
                    (Stage::SignedOut { .. } | Stage::Ended, _) => {
                        m.outcome = Outcome::Fault(Fault::SessionEnded);
                    }
                    (Stage::AwaitRefresh, _) if now >= c.refresh_exp => {
                        m.outcome = Outcome::Fault(Fault::SessionEnded);
                    }
                    // Too early: the same instant again, nothing changes.
                    (_, Stage::Limited { until, .. }) if now < *until => {
                        m.outcome = Outcome::Held(*until);
                    }
                    (resume, Stage::Limited { .. }) => {
                        let resume = resume.clone();
                        m.send(copy, resume);
                    }
                    // A resend after a transport error: what was on its way is lost.
                    (_, Stage::AwaitRefresh | Stage::AwaitSignOut) => {
                        let again = c.stage.clone();
                        m.send(copy, again);
                    }
                    _ => m.outcome = Outcome::Fault(Fault::OutOfOrder),
                }
            }
            Transition::Deliver { copy, .. } => {
                m.copies[copy].in_flight = false;
                let answer = m.server(copy);
                m.handle(copy, answer);
            }
            Transition::LoseRequest { copy } => m.copies[copy].in_flight = false,
            Transition::LoseResponse { copy } => {
                m.copies[copy].in_flight = false;
                let _ = m.server(copy);
            }
            Transition::Gateway429 { copy, secs } => {
                m.copies[copy].in_flight = false;
                m.handle(copy, Reply::TooMany(secs));
            }
            Transition::Gateway503 { copy } => {
                m.copies[copy].in_flight = false;
                m.handle(copy, Reply::ServerError);
            }
            Transition::Garbage { copy, .. } | Transition::Foreign { copy, .. } => {
                let c = &mut m.copies[copy];
                c.in_flight = false;
                m.outcome = Outcome::Fault(if c.awaiting() {
                    Fault::Malformed
                } else {
                    Fault::OutOfOrder
                });
            }
            Transition::Park { .. } | Transition::TakeDeviations { .. } => {}
            Transition::Fork => {
                let mut copy = m.copies[0].clone();
                copy.in_flight = false;
                m.copies.truncate(1);
                m.copies.push(copy);
            }
            Transition::Lone { held, counter } => {
                let mut copy = Copy::lone(&m.copies[0], held);
                if counter {
                    // Copy 0's counter has seen every refresh of the chain it has.
                    copy.guard = m.copies[0].guard.clone();
                    copy.full_history = m.copies[0].full_history;
                }
                m.copies.truncate(1);
                m.copies.push(copy);
            }
            Transition::SignInAgain => {
                let now = m.now;
                m.sign_ins.push(now);
                m.chains.push(Chain {
                    gen: 0,
                    ended: false,
                    access_exp: floor_secs(now) + ACCESS_LIFETIME,
                    refresh_exp: floor_secs(now) + REFRESH_LIFETIME,
                    refreshes: WindowModel::new(REFRESHES_PER_MINUTE),
                });
                m.copies[0] = Copy::fresh(m.chains.len() - 1, now);
            }
            Transition::Advance(ms) => m.now += ms,
            Transition::Tick => m.now += 1_000,
        }
        m
    }
}

// ---------------------------------------------------------------------------------------
// The system under test

struct Sut {
    server: Server,
    realm: Realm,
    copies: Vec<Session>,
    in_flight: Vec<Option<Request<Vec<u8>>>>,
    /// The request each copy last sent or holds: what a `retry` must send again.
    outstanding: Vec<Option<Request<Vec<u8>>>>,
    /// Sign-out answers this test received (for replays).
    history: Vec<(Kind, Response<Vec<u8>>)>,
    /// Real answers of other flows on the same server.
    elsewhere: Vec<(Kind, Response<Vec<u8>>)>,
    /// Refreshes that reached the server, per copy slot: times.
    delivered_refreshes: Vec<Vec<u64>>,
    /// The deviations each copy should hold.
    logs: Vec<lenient::Log>,
}

/// What a call returned, reduced for the model.
#[allow(clippy::large_enum_variant)] // returned and matched at once
enum Got {
    /// A request to send (a refresh, a sign-out, or `RefreshFirst`).
    Sent(Request<Vec<u8>>),
    /// `Outgoing::RetryAt`, on the virtual clock: nothing was sent.
    Held(u64),
    /// `Authorized::Ready`.
    Ready,
    /// `Authorized::Wait`, `until` on the virtual clock.
    Wait(Option<u64>),
}

fn project_step(step: &SessionStep) -> Step {
    match step {
        SessionStep::Active => Step::Active,
        SessionStep::RetryAt(t) => Step::RetryAt(ms_of(*t)),
        SessionStep::SignedOut { already_revoked } => Step::SignedOut {
            already_revoked: *already_revoked,
        },
        SessionStep::Ended => Step::Ended,
        other => panic!("a step the model does not know: {other:?}"),
    }
}

fn got(outgoing: Outgoing) -> Got {
    match outgoing {
        Outgoing::Request(request) => Got::Sent(request),
        Outgoing::RetryAt(t) => Got::Held(ms_of(t)),
    }
}

fn clone_request(request: &Request<Vec<u8>>) -> Request<Vec<u8>> {
    let mut clone = Request::new(request.body().clone());
    *clone.method_mut() = request.method().clone();
    *clone.uri_mut() = request.uri().clone();
    *clone.headers_mut() = request.headers().clone();
    clone
}

/// `session` with `source`'s refresh counter, moved through the parked form: no call
/// hands a `Session` another's counter.
fn with_counter_of(session: &Session, source: &Session) -> Session {
    let mut parked = serde_json::to_value(session).expect("a session parks");
    let counter =
        serde_json::to_value(source).expect("a session parks")["driver"]["guards"].clone();
    assert!(counter.is_object(), "a parked session's refresh counter");
    parked["driver"]["guards"] = counter;
    let resumed: Session = serde_json::from_value(parked).expect("and resumes");
    assert_eq!(resumed.guard(), source.guard(), "the counter moved");
    resumed
}

fn project_error(error: &Error) -> Fault {
    match error {
        Error::OutOfOrder { .. } => Fault::OutOfOrder,
        Error::Malformed { .. } => Fault::Malformed,
        Error::Refused(api) => Fault::Refused(api.status()),
        Error::SessionEnded => Fault::SessionEnded,
        other => panic!("an error the model does not know: {other:?}"),
    }
}

fn answer_label(state: SessionState, status: u16) -> &'static str {
    match (state, status) {
        (_, 429) => "429",
        (_, 200..=299) => "2xx",
        (SessionState::AwaitRefresh, 400 | 401 | 403) => "400, 401 or 403",
        (SessionState::AwaitSignOut, 401) => "401",
        _ => "unlabelled answer",
    }
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

fn api_request() -> Request<()> {
    Request::get("https://host.name/api/v2/my/accounts")
        .body(())
        .expect("valid request")
}

/// Signs in against the simulator (speaking `dialect`) and returns the session of `realm`.
fn sign_in(server: &mut Server, dialect: &Dialect, realm: Realm, leeway: u64, now: u64) -> Session {
    let now = at(now);
    let (tokens, deviations) = match realm {
        Realm::Client => {
            let mut flow = SignIn::new(endpoint());
            let mut request = flow.start(now).sent();
            loop {
                let response = server.handle(&request, now);
                request = match flow.handle_response(&response, now).expect("sign-in step") {
                    SignInStep::Credentials { .. } => {
                        let fp = DeviceFingerprint::from_user_agent("model-test/1.0").expect("fp");
                        let creds = Credentials::new(CLIENT.0, CLIENT.1, fp);
                        flow.submit_credentials(creds, now).sent()
                    }
                    SignInStep::Done(tokens) => break (tokens, flow.take_deviations()),
                    other => panic!("unexpected sign-in step {other:?}"),
                };
            }
        }
        _ => {
            let mut flow = StaffSignIn::new(endpoint());
            let request = flow.sign_in(STAFF.0, STAFF.1, now).sent();
            let response = server.handle(&request, now);
            match flow.handle_response(&response, now).expect("staff sign-in") {
                StaffStep::Done(tokens) => (tokens, flow.take_deviations()),
                other => panic!("unexpected staff step {other:?}"),
            }
        }
    };
    let fields: Vec<&str> = deviations.iter().map(|d| d.field()).collect();
    assert_eq!(
        fields,
        expected_deviations(dialect, &Answer::SignIn(realm)),
        "the sign-in's deviations"
    );
    Session::new(realm, endpoint(), tokens).with_leeway(Duration::from_millis(leeway))
}

impl Sut {
    fn new(model: &Model) -> Self {
        let mut server = Server::new(dialects::sim_config(model.dialect));
        server.add_client(ClientAccount::new(CLIENT.0, CLIENT.1));
        server.add_staff(StaffAccount::new(STAFF.0, STAFF.1));
        server.add_staff(StaffAccount::new("side-2fa@example.com", "Side-Pass-1").with_email_2fa());
        server.add_staff(StaffAccount::new("side@example.com", "Side-Pass-1"));
        // Other people's flows and sessions on the same server, for answers from elsewhere.
        let now = at(0);
        let mut elsewhere = Vec::new();
        let request = StaffSignIn::new(endpoint())
            .sign_in("side-2fa@example.com", "Side-Pass-1", now)
            .sent();
        elsewhere.push((Kind::TwoFactor, server.handle(&request, now)));
        let request = SignIn::new(endpoint()).start(now).sent();
        elsewhere.push((Kind::Wizard, server.handle(&request, now)));
        let mut side = StaffSignIn::new(endpoint());
        let request = side.sign_in("side@example.com", "Side-Pass-1", now).sent();
        let answer = server.handle(&request, now);
        let StaffStep::Done(tokens) = side.handle_response(&answer, now).expect("tokens") else {
            panic!("the side account has no 2FA");
        };
        let request = Session::back_office(endpoint(), tokens)
            .sign_out(now)
            .sent();
        elsewhere.push((Kind::SignedOut, server.handle(&request, now)));
        assert!(elsewhere.iter().all(|(_, r)| r.status().is_success()));
        let session = sign_in(&mut server, &model.dialect, model.realm, model.leeway, 0);
        Self {
            server,
            realm: model.realm,
            copies: vec![session],
            in_flight: vec![None],
            outstanding: vec![None],
            history: Vec::new(),
            elsewhere,
            delivered_refreshes: vec![Vec::new()],
            logs: vec![lenient::Log::default()],
        }
    }

    /// A call that may return a request: compared with the model and recorded.
    ///
    /// Single flight: no call but a `retry` sends while a request of the copy is
    /// outstanding, on its way or held. A `retry` sends the request the copy held or
    /// awaited, byte for byte, and before the end of a wait changes nothing; when the
    /// refresh limit holds a refresh, the copy holds the request the call would have sent
    /// without it (the same call on a twin whose counter is empty).
    fn call(
        &mut self,
        model: &Model,
        copy: usize,
        event: &'static str,
        now: u64,
        call: impl Fn(&mut Session) -> Result<Got, Error>,
    ) {
        let before = self.copies[copy].clone();
        let from = before.state();
        let resend = event == "retry";
        if resend && before.is_awaiting_response() {
            // The caller resends after a transport error: what was on its way is lost.
            self.in_flight[copy] = None;
        }
        let quiet = !before.is_awaiting_response()
            && from != SessionState::RateLimited
            && self.in_flight[copy].is_none();
        match call(&mut self.copies[copy]) {
            Ok(got) => {
                let (expected, gave) = match &got {
                    Got::Sent(_) => (Outcome::Sent, Gave::RefreshFirst),
                    Got::Held(t) => (Outcome::Held(*t), Gave::Wait),
                    Got::Ready => (Outcome::Ready, Gave::Ready),
                    Got::Wait(Some(until)) => (Outcome::Wait(Some(*until)), Gave::WaitUntil),
                    Got::Wait(None) => (Outcome::Wait(None), Gave::Wait),
                };
                assert_eq!(model.outcome, expected, "{event} on copy {copy}");
                COVERAGE.call(from, event, self.copies[copy].state());
                if event == "authorize" {
                    assert!(!matches!(got, Got::Held(_)), "authorize held a refresh");
                    let why = match from {
                        SessionState::Active
                        | SessionState::RefreshOnly
                        | SessionState::AccessOnly => Why::Nothing,
                        _ => model.copies[copy].why(),
                    };
                    let item = authorized_item(from, why, gave);
                    if AUTHORIZED_ALL.contains(&(from, why, gave)) {
                        AUTHORIZED.record(&item);
                    }
                }
                match got {
                    Got::Sent(request) => {
                        if resend {
                            let outstanding = self.outstanding[copy]
                                .as_ref()
                                .expect("a request to resend");
                            lenient::assert_same_request(&request, outstanding);
                        } else {
                            assert!(quiet, "{event} sent a second request while {from}");
                        }
                        self.outstanding[copy] = Some(clone_request(&request));
                        self.in_flight[copy] = Some(request);
                    }
                    Got::Held(t) => {
                        if resend {
                            assert!(self.outstanding[copy].is_some(), "a wait holds a request");
                            if before.next_deadline().is_some_and(|until| at(now) < until) {
                                assert_eq!(
                                    self.copies[copy], before,
                                    "a retry before the instant changed the session"
                                );
                            }
                        } else {
                            assert!(quiet, "{event} held a second request while {from}");
                            let mut twin = lenient::unguarded_twin(&before);
                            let Ok(Got::Sent(held)) = call(&mut twin) else {
                                panic!("{event} held until {t} sends without the counter");
                            };
                            self.outstanding[copy] = Some(held);
                        }
                    }
                    Got::Ready | Got::Wait(_) => {
                        assert_eq!(self.copies[copy], before, "{event} changed the session")
                    }
                }
            }
            Err(error) => {
                assert_eq!(
                    model.outcome,
                    Outcome::Fault(project_error(&error)),
                    "{event} on copy {copy}: {error}"
                );
                assert_eq!(
                    self.copies[copy], before,
                    "an Err from {event} changed the session"
                );
            }
        }
    }

    /// Sends the copy's in-flight request to the simulator; checks the guard.
    fn deliver_to_server(&mut self, model: &Model, copy: usize, now: u64) -> Response<Vec<u8>> {
        let request = self.in_flight[copy].take().expect("a request in flight");
        let response = self.server.handle(&request, at(now));
        if request.uri().path() == self.realm.refresh_path() {
            let mine = &mut self.delivered_refreshes[copy];
            mine.push(now);
            let recent = mine.iter().filter(|t| now - **t < WINDOW).count();
            assert!(
                recent <= REFRESHES_PER_MINUTE,
                "the guard let {recent} refreshes through within a minute"
            );
            // Every refresh of a chain comes from the copy that holds its live pair, with
            // that copy's guard: a server 429 means the guard failed (unless the copy
            // started from a lone refresh token, whose guard never saw the chain's past).
            if model.copies[copy].full_history {
                assert_ne!(
                    response.status(),
                    429,
                    "a server 429 the refresh guard could have avoided"
                );
            }
        } else {
            assert_eq!(request.uri().path(), self.realm.sign_out_path());
        }
        response
    }

    /// Hands an answer to the copy: compared with the model and recorded.
    /// Hands an answer to the copy (and to its strict twin): compared with the model and
    /// recorded. `deviations`: the fields of the deviations the copy must record if it
    /// takes the answer.
    fn answer(
        &mut self,
        model: &Model,
        copy: usize,
        response: &Response<Vec<u8>>,
        now: u64,
        deviations: &[&'static str],
    ) {
        let before = self.copies[copy].clone();
        let from = before.state();
        let mut twin = lenient::strict_twin(&before);
        assert!(twin.endpoint().is_strict());
        let twin_before = twin.clone();
        let result = self.copies[copy].handle_response(response, at(now));
        let strict = twin.handle_response(response, at(now));
        let added: &[&str] = if result.is_ok() { deviations } else { &[] };
        lenient::check_strict(&result, added, &strict, None, twin == twin_before);
        if let (Ok(SessionStep::RetryAt(_)), Some(_)) =
            (&result, response.headers().get("retry-after"))
        {
            RETRY_AFTER.record(dialects::retry_after_name(model.dialect.retry_after));
        }
        if result.is_ok() {
            let step = match from {
                SessionState::AwaitRefresh => format!("POST {}", self.realm.refresh_path()),
                _ => format!("POST {}", self.realm.sign_out_path()),
            };
            self.logs[copy].add(&step, added);
        }
        match result {
            Ok(step) => {
                assert_eq!(
                    model.outcome,
                    Outcome::Step(project_step(&step)),
                    "answer {} on copy {copy}",
                    response.status()
                );
                let status = response.status().as_u16();
                COVERAGE.answer(from, answer_label(from, status), self.copies[copy].state());
                if from == SessionState::AwaitSignOut && status == 200 {
                    self.history.push((Kind::SignedOut, response.clone()));
                }
            }
            Err(error) => {
                assert_eq!(
                    model.outcome,
                    Outcome::Fault(project_error(&error)),
                    "answer {} on copy {copy}: {error}",
                    response.status()
                );
                assert_eq!(
                    self.copies[copy], before,
                    "an Err from handle_response changed the session"
                );
            }
        }
    }
}

struct SessionTest;

impl StateMachineTest for SessionTest {
    type SystemUnderTest = Sut;
    type Reference = SessionModel;

    fn init_test(model: &Model) -> Sut {
        Sut::new(model)
    }

    fn apply(mut sut: Sut, model: &Model, transition: Transition) -> Sut {
        let now = model.now;
        match transition {
            Transition::Authorize { copy } => {
                sut.call(model, copy, "authorize", now, |s| {
                    match s.authorize(api_request(), at(now))? {
                        Authorized::Ready(request) => {
                            // The current access token, and one that has not expired.
                            let access = s.access_token().expect("an access token when Ready");
                            assert!(at(now) < access.expires_at(), "Ready with an expired token");
                            let bearer = format!("Bearer {}", access.secret().expose());
                            let sent: Vec<&str> = request
                                .headers()
                                .get_all("authorization")
                                .iter()
                                .map(|v| v.to_str().expect("ASCII"))
                                .collect();
                            assert_eq!(sent, [bearer.as_str()]);
                            Ok(Got::Ready)
                        }
                        Authorized::RefreshFirst { refresh, original } => {
                            assert_eq!(original.uri(), api_request().uri());
                            assert!(original.headers().get("authorization").is_none());
                            Ok(Got::Sent(refresh))
                        }
                        Authorized::Wait { until, original } => {
                            // Only a request no token can authorize waits.
                            assert!(
                                s.access_token().map_or(true, |t| t.is_expired(at(now))),
                                "Wait while the access token serves"
                            );
                            assert!(until.map_or(true, |t| at(now) < t), "Wait until the past");
                            assert_eq!(original.uri(), api_request().uri());
                            assert!(original.headers().get("authorization").is_none());
                            Ok(Got::Wait(until.map(ms_of)))
                        }
                        other => panic!("unknown authorization {other:?}"),
                    }
                });
            }
            Transition::Refresh { copy } => {
                sut.call(model, copy, "refresh", now, |s| s.refresh(at(now)).map(got));
            }
            Transition::SignOut { copy } => {
                sut.call(model, copy, "sign_out", now, |s| {
                    s.sign_out(at(now)).map(got)
                });
            }
            Transition::Retry { copy } => {
                sut.call(model, copy, "retry", now, |s| s.retry(at(now)).map(got));
            }
            Transition::Deliver { copy, twist } => {
                let refresh = sut.copies[copy].state() == SessionState::AwaitRefresh;
                let mut response = sut.deliver_to_server(model, copy, now);
                let mut deviations = Vec::new();
                if response.status().is_success() {
                    // The simulator answers 200: the pair (bare, or enveloped as the
                    // dialect says), or an empty sign-out body.
                    let sent = Sent::of(&model.dialect, sut.realm, refresh, Twist::NONE);
                    assert_eq!(response.status(), sent.status);
                    if refresh {
                        let body: serde_json::Value =
                            serde_json::from_slice(response.body()).expect("a refresh pair");
                        let code = body
                            .get("data")
                            .map(|_| body["code"].as_i64().unwrap_or(-1));
                        assert_eq!(code, sent.code, "the simulator's refresh answer");
                    }
                    // Only a bare pair is wrapped.
                    let twist = Twist {
                        wrap: twist.wrap && refresh && sent.code.is_none(),
                        ..twist
                    };
                    response = twist_response(response, twist);
                    let answer = Answer::Session {
                        realm: sut.realm,
                        refresh,
                        twist,
                    };
                    deviations = expected_deviations(&model.dialect, &answer);
                    if twist != Twist::NONE {
                        let request = if refresh { "refresh" } else { "sign-out" };
                        for field in &deviations {
                            TOLERATED.record(&format!("{request}: {field}"));
                        }
                    }
                }
                sut.answer(model, copy, &response, now, &deviations);
                if response.status().is_success() {
                    DIALECTS.record(dialects::name(&model.dialect));
                    if refresh && sut.realm == Realm::Client {
                        REFRESH_FORMS.record(match model.dialect.refresh_answer {
                            RefreshAnswer::Bare => "bare",
                            RefreshAnswer::Envelope => "envelope",
                            RefreshAnswer::EnvelopeNullUuid => "envelope, null uuid",
                            RefreshAnswer::EnvelopeNoUuid => "envelope, no uuid",
                            other => panic!("a refresh answer the test does not know: {other:?}"),
                        });
                    }
                }
            }
            Transition::LoseRequest { copy } => sut.in_flight[copy] = None,
            Transition::LoseResponse { copy } => {
                let _ = sut.deliver_to_server(model, copy, now);
            }
            Transition::Gateway429 { copy, secs } => {
                sut.in_flight[copy] = None;
                let body = br#"{"error":{"code":429,"details":[{"issue":"slow down"}]}}"#.to_vec();
                // A proxy of the host: its `Retry-After` in the dialect's form.
                let value = dialects::retry_after_value(&model.dialect, at(now), secs);
                sut.answer(
                    model,
                    copy,
                    &json_response(429, body, Some(value)),
                    now,
                    &[],
                );
            }
            Transition::Gateway503 { copy } => {
                sut.in_flight[copy] = None;
                sut.answer(
                    model,
                    copy,
                    &json_response(503, b"<html>busy</html>".to_vec(), None),
                    now,
                    &[],
                );
            }
            Transition::Garbage { copy, body } => {
                sut.in_flight[copy] = None;
                sut.answer(model, copy, &json_response(200, body, None), now, &[]);
            }
            Transition::Foreign { copy, kind, replay } => {
                sut.in_flight[copy] = None;
                let ours = replay
                    .then(|| sut.history.iter().rev().find(|(k, _)| *k == kind))
                    .flatten();
                let theirs = sut.elsewhere.iter().find(|(k, _)| *k == kind);
                let response = ours
                    .or(theirs)
                    .expect("every kind is in the pool")
                    .1
                    .clone();
                sut.answer(model, copy, &response, now, &[]);
            }
            Transition::TakeDeviations { copy } => {
                let taken = sut.copies[copy].take_deviations();
                sut.logs[copy].take(&taken);
                assert!(sut.copies[copy].deviations().is_empty());
            }
            Transition::Park { copy } => {
                let parked = serde_json::to_string(&sut.copies[copy]).expect("serializes");
                let resumed: Session = serde_json::from_str(&parked).expect("resumes");
                assert_eq!(resumed, sut.copies[copy], "parking lost something");
                sut.copies[copy] = resumed;
            }
            Transition::Fork => {
                let parked = serde_json::to_string(&sut.copies[0]).expect("serializes");
                let resumed: Session = serde_json::from_str(&parked).expect("resumes");
                sut.copies.truncate(1);
                sut.in_flight.truncate(1);
                sut.outstanding.truncate(1);
                sut.delivered_refreshes.truncate(1);
                sut.copies.push(resumed);
                let held = sut.outstanding[0].as_ref().map(clone_request);
                sut.outstanding.push(held);
                sut.logs.truncate(1);
                let log = sut.logs[0].clone();
                sut.logs.push(log);
                sut.in_flight.push(None);
                let mine = sut.delivered_refreshes[0].clone();
                sut.delivered_refreshes.push(mine);
            }
            Transition::Lone { held, counter } => {
                let source = &sut.copies[0];
                let session = match held {
                    Held::RefreshOnly => Session::from_refresh_token(
                        sut.realm,
                        endpoint(),
                        source.refresh_token().expect("a refresh token").clone(),
                    ),
                    Held::AccessOnly => Session::from_access_token(
                        sut.realm,
                        endpoint(),
                        source.access_token().expect("an access token").clone(),
                    ),
                    Held::Pair => unreachable!("a lone token"),
                }
                .with_leeway(Duration::from_millis(model.leeway));
                let (session, delivered) = if counter {
                    (
                        with_counter_of(&session, source),
                        sut.delivered_refreshes[0].clone(),
                    )
                } else {
                    (session, Vec::new())
                };
                sut.copies.truncate(1);
                sut.in_flight.truncate(1);
                sut.outstanding.truncate(1);
                sut.delivered_refreshes.truncate(1);
                sut.logs.truncate(1);
                sut.copies.push(session);
                sut.in_flight.push(None);
                sut.outstanding.push(None);
                sut.delivered_refreshes.push(delivered);
                sut.logs.push(lenient::Log::default());
            }
            Transition::SignInAgain => {
                let session = sign_in(
                    &mut sut.server,
                    &model.dialect,
                    sut.realm,
                    model.leeway,
                    now,
                );
                sut.copies[0] = session;
                sut.logs[0] = lenient::Log::default();
                sut.in_flight[0] = None;
                sut.outstanding[0] = None;
                sut.delivered_refreshes[0].clear();
            }
            Transition::Advance(_) | Transition::Tick => {}
        }
        sut
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        assert_eq!(sut.copies.len(), model.copies.len());
        for (i, (s, c)) in sut.copies.iter().zip(&model.copies).enumerate() {
            assert_eq!(s.state(), c.state(), "copy {i}");
            assert_eq!(
                s.next_deadline(),
                c.deadline(model.leeway),
                "copy {i}: next deadline"
            );
            assert_eq!(
                s.current_step().as_ref().map(project_step),
                c.step(),
                "copy {i}"
            );
            assert_eq!(s.is_awaiting_response(), c.awaiting(), "copy {i}");
            assert_eq!(sut.in_flight[i].is_some(), c.in_flight, "copy {i}");
            assert_eq!(s.realm(), model.realm);
            assert_eq!(s.leeway(), Duration::from_millis(model.leeway));
            let tokens = (
                s.access_token().map(|t| ms_of(t.expires_at())),
                s.refresh_token().map(|t| ms_of(t.expires_at())),
            );
            assert_eq!(tokens, c.tokens(), "copy {i}: token expiry");
            let pair = s.tokens().map(|t| (t.access(), t.refresh()));
            assert_eq!(
                pair,
                s.access_token().zip(s.refresh_token()),
                "copy {i}: a pair is both tokens"
            );
            sut.logs[i].check(s.deviations());
        }
        assert!(
            sut.server.violations().is_empty(),
            "the simulator saw violations: {:?}",
            sut.server.violations()
        );
    }
}

#[test]
fn sessions_follow_the_model_and_take_every_documented_transition() {
    let config = config(512);
    let mut runner = runner::new(config.clone());
    let result = runner.run(
        &SessionModel::sequential_strategy(1..100),
        |(initial, transitions, seen)| {
            SessionTest::test_sequential(config.clone(), initial, transitions, seen);
            Ok(())
        },
    );
    if let Err(failure) = result {
        panic!("{failure}");
    }
    eprintln!("{}", COVERAGE.rarest(10));
    COVERAGE.assert_complete();
    TOLERATED.assert_complete(TOLERATED_ALL);
    DIALECTS.assert_complete(dialects::all_names());
    RETRY_AFTER.assert_complete(dialects::RETRY_AFTER_ALL);
    REFRESH_FORMS.assert_complete(REFRESH_FORMS_ALL);
    let authorized = authorized_all();
    AUTHORIZED.assert_complete(authorized.iter().map(String::as_str));
    eprintln!("{}", DIALECTS.summary());
    eprintln!("{}", RETRY_AFTER.summary());
    eprintln!("{}", TOLERATED.summary());
    eprintln!("{}", REFRESH_FORMS.summary());
    eprintln!("{}", AUTHORIZED.summary());
}
