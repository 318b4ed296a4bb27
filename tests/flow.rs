//! One generic driver loop runs every flow and the session through the [`Flow`] trait, and
//! `next_deadline` says when each must act next without being asked.
//!
//! The loop handles a rate limit the one way the contract gives it, whatever its cause:
//! a call the attempt guard holds ([`Outgoing::RetryAt`]) and a server's 429 both leave the
//! flow `RateLimited` with its `RetryAt` step; the loop waits until `next_deadline` and
//! calls `retry`, which sends the held request.

use std::collections::VecDeque;
use std::fmt::Debug;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use b2core_auth::backoffice::{StaffGuards, StaffSignIn, StaffState, StaffStep};
use b2core_auth::client::signin::SignInState;
use b2core_auth::client::signup::SignUpState;
use b2core_auth::client::{Credentials, SignIn, SignInStep, SignUp, SignUpForm, SignUpStep};
use b2core_auth::session::SessionState;
use b2core_auth::sim::{ClientAccount, Server, SimConfig, StaffAccount};
use b2core_auth::{
    AttemptGuard, DeviceFingerprint, Endpoint, Error, Flow, Outgoing, Session, SessionStep,
    TokenPair,
};
use http::{Request, Response};

#[path = "support/sent.rs"]
mod sent;
use sent::Sent;

const PASSWORD: &str = "QAzqw123!";
const CLIENT: &str = "g@example.com";
const STAFF: &str = "staff@example.com";

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_713_784_044)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn endpoint() -> Endpoint {
    Endpoint::new("https://host.name").unwrap()
}

fn fingerprint() -> DeviceFingerprint {
    DeviceFingerprint::from_user_agent("flow/1.0").unwrap()
}

// ---------------------------------------------------------------------------------------
// The generic loop

/// What a test knows of each flow's rate limit: its `RateLimited` state and its `RetryAt`
/// step. (The loop itself only uses the [`Flow`] trait; this lets it check what it sees.)
trait Driven: Flow + Clone + PartialEq + Debug {
    /// The state of a flow waiting out a rate limit.
    const RATE_LIMITED: Self::State;
    /// The instant of a `RetryAt` step, `None` for any other step.
    fn retry_at(step: &Self::Step) -> Option<SystemTime>;
}

impl Driven for SignIn {
    const RATE_LIMITED: SignInState = SignInState::RateLimited;
    fn retry_at(step: &SignInStep) -> Option<SystemTime> {
        match step {
            SignInStep::RetryAt(at) => Some(*at),
            _ => None,
        }
    }
}

impl Driven for SignUp {
    const RATE_LIMITED: SignUpState = SignUpState::RateLimited;
    fn retry_at(step: &SignUpStep) -> Option<SystemTime> {
        match step {
            SignUpStep::RetryAt(at) => Some(*at),
            _ => None,
        }
    }
}

impl Driven for StaffSignIn {
    const RATE_LIMITED: StaffState = StaffState::RateLimited;
    fn retry_at(step: &StaffStep) -> Option<SystemTime> {
        match step {
            StaffStep::RetryAt(at) => Some(*at),
            _ => None,
        }
    }
}

impl Driven for Session {
    const RATE_LIMITED: SessionState = SessionState::RateLimited;
    fn retry_at(step: &SessionStep) -> Option<SystemTime> {
        match step {
            SessionStep::RetryAt(at) => Some(*at),
            _ => None,
        }
    }
}

/// The network the loop talks to: the simulator, behind which a proxy may first answer
/// some requests with a 429 (its `Retry-After` in seconds).
struct Net {
    server: Server,
    throttle: VecDeque<u64>,
}

impl Net {
    fn new() -> Self {
        let mut server = Server::new(SimConfig::default());
        server.add_client(ClientAccount::new(CLIENT, PASSWORD).with_google());
        server.add_staff(StaffAccount::new(STAFF, PASSWORD).with_email_2fa());
        Self {
            server,
            throttle: VecDeque::new(),
        }
    }

    /// The next request is answered `429` with `Retry-After: secs`.
    fn throttle_next(mut self, secs: u64) -> Self {
        self.throttle.push_back(secs);
        self
    }

    fn handle(&mut self, request: &Request<Vec<u8>>, now: SystemTime) -> Response<Vec<u8>> {
        match self.throttle.pop_front() {
            Some(secs) => Response::builder()
                .status(429)
                .header("retry-after", secs.to_string())
                .body(Vec::new())
                .unwrap(),
            None => self.server.handle(request, now),
        }
    }
}

/// Why the loop waited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// A call's attempt was held by the attempt guard (`Outgoing::RetryAt`) until then.
    Held(SystemTime),
    /// The server answered 429; the flow waits until then.
    TooMany(SystemTime),
}

/// What the generic loop does with a step: send what a call gave back, or stop with a
/// value. (Built and matched at once: boxing the request would only add an allocation.)
#[allow(clippy::large_enum_variant)]
enum Next<T> {
    Send(Outgoing),
    Stop(T),
}

/// Waits out the rate limit the flow is in, whatever caused it, the one way the contract
/// gives: the flow is `RateLimited` with its `RetryAt(at)` step and `next_deadline`
/// `Some(at)`; a `retry` before `at` is `RetryAt(at)` again and changes nothing; the clock
/// then moves to the deadline and `retry` sends the held request (or, if a limit still
/// allows none, says when to come back).
fn wait_out<F: Driven>(flow: &mut F, clock: &mut SystemTime) -> Result<Outgoing, Error> {
    let at = flow
        .next_deadline()
        .expect("a rate-limited flow says when to retry");
    assert_eq!(flow.state(), F::RATE_LIMITED);
    let step = flow.current_step().expect("a waiting flow has a step");
    assert_eq!(F::retry_at(&step), Some(at));
    assert!(!flow.is_awaiting_response());
    if *clock < at {
        let before = flow.clone();
        assert_eq!(flow.retry(*clock)?.retry_at(), Some(at), "too early");
        assert_eq!(*flow, before, "a retry before the deadline changes nothing");
        *clock = at; // the caller's sleep
    }
    flow.retry(*clock)
}

/// The one loop: sends what the first call gave back, hands each answer to the flow,
/// waits out every rate limit with `next_deadline` and `retry`, and asks `next` what to do
/// with any other step, until it stops. `clock` is the caller's clock: it moves only when
/// the loop waits. Checks the trait's getters on the way, and returns the waits it made.
fn drive<F: Driven, T>(
    flow: &mut F,
    net: &mut Net,
    clock: &mut SystemTime,
    first: Outgoing,
    mut next: impl FnMut(&mut F, &mut Net, SystemTime, F::Step) -> Result<Next<T>, Error>,
) -> Result<(T, Vec<Wait>), Error> {
    let mut waits = Vec::new();
    let mut outgoing = first;
    loop {
        let request = match outgoing {
            Outgoing::Request(request) => request,
            Outgoing::RetryAt(at) => {
                // Held: nothing was sent, and the flow says so itself.
                assert_eq!(flow.next_deadline(), Some(at));
                waits.push(Wait::Held(at));
                outgoing = wait_out(flow, clock)?;
                continue;
            }
        };
        assert!(flow.is_awaiting_response());
        assert!(flow.current_step().is_none(), "no step while awaiting");
        assert_ne!(flow.state(), F::RATE_LIMITED);
        assert_eq!(flow.endpoint().as_str(), "https://host.name");
        let response = net.handle(&request, *clock);
        let step = flow.handle_response(&response, *clock)?;
        assert!(!flow.is_awaiting_response(), "{}", flow.state());
        assert!(flow.take_deviations().is_empty());
        if flow.state() == F::RATE_LIMITED {
            let at = F::retry_at(&step).expect("a rate-limited flow's step is RetryAt");
            waits.push(Wait::TooMany(at));
            outgoing = wait_out(flow, clock)?;
            continue;
        }
        match next(flow, net, *clock, step)? {
            Next::Send(again) => outgoing = again,
            Next::Stop(value) => return Ok((value, waits)),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Each flow, driven by the one loop

/// The client sign-in with Google 2FA, from `flow` (new) on `net`.
fn sign_in_with(mut flow: SignIn, net: &mut Net, clock: &mut SystemTime) -> (TokenPair, Vec<Wait>) {
    let first = flow.start(*clock).unwrap();
    let done = drive(&mut flow, net, clock, first, |flow, net, now, step| {
        Ok(match step {
            SignInStep::Credentials { .. } => {
                let creds = Credentials::new(CLIENT, PASSWORD, fingerprint());
                Next::Send(flow.submit_credentials(creds, now)?)
            }
            SignInStep::Code { .. } => {
                let code = net.server.google_code(CLIENT, now).unwrap();
                Next::Send(flow.submit_code(code, now)?)
            }
            SignInStep::Done(tokens) => Next::Stop(tokens),
            other => panic!("{other:?}"),
        })
    })
    .unwrap();
    assert_eq!(flow.state(), SignInState::SignedIn);
    assert_eq!(flow.next_deadline(), None);
    done
}

fn sign_in(net: &mut Net) -> TokenPair {
    let mut clock = now();
    let (tokens, waits) = sign_in_with(SignIn::new(endpoint()), net, &mut clock);
    assert_eq!(waits, []);
    tokens
}

fn sign_up(net: &mut Net, clock: &mut SystemTime) -> Vec<Wait> {
    let mut flow = SignUp::new(endpoint());
    let first = flow
        .start("https://host.name/register", None, *clock)
        .unwrap();
    let (signed_up, waits) = drive(&mut flow, net, clock, first, |flow, _, now, step| {
        Ok(match step {
            SignUpStep::Form { .. } => {
                let form = SignUpForm::new("new@example.com", PASSWORD, PASSWORD, fingerprint());
                Next::Send(flow.submit(form, now)?)
            }
            SignUpStep::SignInRequired => Next::Stop(true),
            other => panic!("{other:?}"),
        })
    })
    .unwrap();
    assert!(signed_up);
    assert_eq!(flow.state(), SignUpState::SignInRequired);
    waits
}

/// The staff sign-in with email 2FA, from `flow` (new) on `net`.
fn staff_sign_in_with(
    mut flow: StaffSignIn,
    net: &mut Net,
    clock: &mut SystemTime,
) -> (TokenPair, Vec<Wait>) {
    let first = flow.sign_in(STAFF, PASSWORD, *clock).unwrap();
    let done = drive(&mut flow, net, clock, first, |flow, net, now, step| {
        Ok(match step {
            StaffStep::EmailCode { .. } => {
                let code = net.server.last_code_to(STAFF).unwrap().to_owned();
                Next::Send(flow.submit_code(code, now)?)
            }
            StaffStep::Done(tokens) => Next::Stop(tokens),
            other => panic!("{other:?}"),
        })
    })
    .unwrap();
    assert_eq!(flow.state(), StaffState::SignedIn);
    done
}

/// One refresh of `session`, driven to its answer.
fn refresh(session: &mut Session, net: &mut Net, clock: &mut SystemTime) -> Vec<Wait> {
    let first = session.refresh(*clock).unwrap();
    let (step, waits) = drive(session, net, clock, first, |_, _, _, step| {
        Ok(Next::Stop(step))
    })
    .unwrap();
    assert_eq!(step, SessionStep::Active);
    assert_eq!(session.state(), SessionState::Active);
    waits
}

fn sign_out(session: &mut Session, net: &mut Net, clock: &mut SystemTime) -> Vec<Wait> {
    let first = session.sign_out(*clock).unwrap();
    let (step, waits) = drive(session, net, clock, first, |_, _, _, step| {
        Ok(Next::Stop(step))
    })
    .unwrap();
    assert_eq!(
        step,
        SessionStep::SignedOut {
            already_revoked: false
        }
    );
    assert_eq!(session.state(), SessionState::SignedOut);
    waits
}

/// A guard that has counted `limit` attempts, one a second from `ago` seconds before
/// `now()` (and no more than 5 s ago): it allows the next one `60 - ago` seconds after
/// `now()`.
fn full(mut guard: AttemptGuard, limit: u64, ago: u64) -> AttemptGuard {
    assert!(limit <= ago - 5);
    for n in 0..limit {
        guard.record(now() - secs(ago - n));
    }
    guard
}

#[test]
fn one_generic_loop_drives_every_flow_and_the_session() {
    let mut net = Net::new();
    let mut clock = now();
    let tokens = sign_in(&mut net);
    assert_eq!(sign_up(&mut net, &mut clock), []);
    let (staff, waits) = staff_sign_in_with(StaffSignIn::new(endpoint()), &mut net, &mut clock);
    assert_eq!(waits, []);

    for mut session in [
        Session::client(endpoint(), tokens),
        Session::back_office(endpoint(), staff),
    ] {
        assert_eq!(refresh(&mut session, &mut net, &mut clock), []);
        assert_eq!(sign_out(&mut session, &mut net, &mut clock), []);
    }
    assert_eq!(clock, now(), "nothing made the loop wait");
    assert!(
        net.server.violations().is_empty(),
        "{:?}",
        net.server.violations()
    );
}

#[test]
fn the_generic_loop_waits_out_a_429_on_every_flow() {
    // Sign-in: the wizard answered 429 first, then the credentials.
    let mut net = Net::new().throttle_next(30);
    let mut clock = now();
    let (_, waits) = sign_in_with(SignIn::new(endpoint()), &mut net, &mut clock);
    assert_eq!(waits, [Wait::TooMany(now() + secs(30))]);
    assert_eq!(clock, now() + secs(30));

    // Sign-up: it has no attempt guard, so a 429 is its only wait.
    let mut net = Net::new().throttle_next(5).throttle_next(7);
    let mut clock = now();
    let waits = sign_up(&mut net, &mut clock);
    assert_eq!(
        waits,
        [
            Wait::TooMany(now() + secs(5)),
            Wait::TooMany(now() + secs(12))
        ]
    );

    // Staff sign-in.
    let mut net = Net::new().throttle_next(20);
    let mut clock = now();
    let (staff, waits) = staff_sign_in_with(StaffSignIn::new(endpoint()), &mut net, &mut clock);
    assert_eq!(waits, [Wait::TooMany(now() + secs(20))]);

    // Session: a refresh and a sign-out, each answered 429 once.
    let mut session = Session::back_office(endpoint(), staff);
    net.throttle.push_back(15);
    let waits = refresh(&mut session, &mut net, &mut clock);
    assert_eq!(waits, [Wait::TooMany(now() + secs(35))]);
    net.throttle.push_back(1);
    let waits = sign_out(&mut session, &mut net, &mut clock);
    assert_eq!(waits, [Wait::TooMany(now() + secs(36))]);
    assert!(
        net.server.violations().is_empty(),
        "{:?}",
        net.server.violations()
    );
}

#[test]
fn the_generic_loop_waits_out_an_attempt_the_guard_holds() {
    // A client sign-in whose guard counted five attempts in the last 10 s: the
    // credentials are held 50 s, then sent by `retry`.
    let mut net = Net::new();
    let mut clock = now();
    let flow = SignIn::with_guard(endpoint(), full(AttemptGuard::client_sign_in(), 5, 10));
    let (tokens, waits) = sign_in_with(flow, &mut net, &mut clock);
    assert_eq!(waits, [Wait::Held(now() + secs(50))]);
    assert_eq!(clock, now() + secs(50));

    // A staff sign-in whose two counters are full: the sign-in is held until 50 s, then
    // the code until the confirmation counter frees at 52 s.
    let mut clock = now();
    let guards = StaffGuards::new(
        full(AttemptGuard::staff_sign_in(), 5, 10),
        full(AttemptGuard::staff_confirm(), 3, 8),
    );
    let flow = StaffSignIn::with_guards(endpoint(), guards);
    let (_, waits) = staff_sign_in_with(flow, &mut net, &mut clock);
    assert_eq!(
        waits,
        [Wait::Held(now() + secs(50)), Wait::Held(now() + secs(52))]
    );

    // A session's sixth refresh inside a minute is held until the first ages out.
    let mut session = Session::client(endpoint(), tokens);
    let mut clock = now() + secs(50);
    for _ in 0..5 {
        assert_eq!(refresh(&mut session, &mut net, &mut clock), []);
    }
    let waits = refresh(&mut session, &mut net, &mut clock);
    assert_eq!(waits, [Wait::Held(now() + secs(110))]);
    assert_eq!(sign_out(&mut session, &mut net, &mut clock), []);
    // The simulator counts the same limits: the loop never earned a 429 from it.
    assert!(
        net.server.violations().is_empty(),
        "{:?}",
        net.server.violations()
    );
}

#[test]
fn the_generic_loop_waits_again_when_a_retry_finds_the_guard_still_full() {
    // A 429 shorter than the guard's own wait: the retry at the 429's end is held again,
    // until the guard allows the attempt, and only then sent.
    let mut net = Net::new().throttle_next(5);
    let mut clock = now();
    let flow = StaffSignIn::with_guards(
        endpoint(),
        StaffGuards::new(
            full(AttemptGuard::staff_sign_in(), 4, 10),
            AttemptGuard::staff_confirm(),
        ),
    );
    let (_, waits) = staff_sign_in_with(flow, &mut net, &mut clock);
    assert_eq!(
        waits,
        [Wait::TooMany(now() + secs(5)), Wait::Held(now() + secs(50))]
    );
}

// ---------------------------------------------------------------------------------------
// The guard's refusal and a server's 429: one way to the caller

/// Two twins of one flow, each waiting out a rate limit for the same attempt: `held` was
/// refused by its attempt guard, `limited` sent the attempt and the server answered 429
/// until the same instant. The caller sees no difference: the same state, the same
/// `RetryAt` step, the same `next_deadline`; a `retry` before it is the same wait for both
/// and changes neither; the same `retry` at it sends the same request, byte for byte.
fn assert_same_wait<F: Driven>(held: &mut F, limited: &mut F, until: SystemTime, early: SystemTime)
where
    F::Step: PartialEq + Debug,
{
    for flow in [&*held, &*limited] {
        assert_eq!(flow.state(), F::RATE_LIMITED);
        assert_eq!(flow.next_deadline(), Some(until));
        assert_eq!(
            flow.current_step().as_ref().and_then(F::retry_at),
            Some(until)
        );
        assert!(!flow.is_awaiting_response());
    }
    assert_eq!(held.current_step(), limited.current_step());
    assert_eq!(held.state(), limited.state());
    for flow in [&mut *held, &mut *limited] {
        let before = flow.clone();
        assert_eq!(flow.retry(early).held(), until);
        assert_eq!(*flow, before);
    }
    let a = held.retry(until).sent();
    let b = limited.retry(until).sent();
    assert_eq!(a.method(), b.method());
    assert_eq!(a.uri(), b.uri());
    assert_eq!(a.headers(), b.headers());
    assert_eq!(a.body(), b.body());
    assert_eq!(held.state(), limited.state());
    assert!(held.is_awaiting_response() && limited.is_awaiting_response());
    assert_eq!(held.next_deadline(), None);
    assert_eq!(limited.next_deadline(), None);
}

/// The server's answer to `request`: 429 until `until` (seen at `now`).
fn too_many<F: Driven>(flow: &mut F, request: Outgoing, now: SystemTime, until: SystemTime) {
    let _sent = request.sent();
    let wait = until.duration_since(now).unwrap().as_secs();
    let answer = Response::builder()
        .status(429)
        .header("retry-after", wait.to_string())
        .body(Vec::<u8>::new())
        .unwrap();
    let step = flow.handle_response(&answer, now).unwrap();
    assert_eq!(F::retry_at(&step), Some(until));
}

/// Drives `flow` on a fresh simulator up to the step where `stop` says to stop.
fn until_step<F: Driven>(
    flow: &mut F,
    first: Outgoing,
    mut stop: impl FnMut(&F::Step) -> bool,
) -> Net {
    let mut net = Net::new();
    let mut clock = now();
    let ((), waits) = drive(flow, &mut net, &mut clock, first, |_, _, _, step| {
        assert!(stop(&step), "an unexpected step");
        Ok(Next::Stop(()))
    })
    .unwrap();
    assert_eq!(waits, []);
    net
}

#[test]
fn a_guard_refusal_and_a_server_429_reach_the_caller_the_same_way() {
    let until = now() + secs(50);
    let early = now() + secs(49);

    // Client sign-in: `submit_credentials`. Twins on twin servers get the same wizard.
    let mut held = SignIn::with_guard(endpoint(), full(AttemptGuard::client_sign_in(), 5, 10));
    let mut limited = SignIn::new(endpoint());
    for flow in [&mut held, &mut limited] {
        let first = flow.start(now()).unwrap();
        until_step(flow, first, |step| {
            matches!(step, SignInStep::Credentials { .. })
        });
    }
    let creds = || Credentials::new(CLIENT, PASSWORD, fingerprint());
    assert_eq!(held.submit_credentials(creds(), now()).held(), until);
    let request = limited.submit_credentials(creds(), now()).unwrap();
    too_many(&mut limited, request, now(), until);
    assert_same_wait(&mut held, &mut limited, until, early);

    // Staff sign-in: `sign_in`.
    let staff_guards = |sign_in, confirm| StaffGuards::new(sign_in, confirm);
    let mut held = StaffSignIn::with_guards(
        endpoint(),
        staff_guards(
            full(AttemptGuard::staff_sign_in(), 5, 10),
            AttemptGuard::staff_confirm(),
        ),
    );
    let mut limited = StaffSignIn::new(endpoint());
    assert_eq!(held.sign_in(STAFF, PASSWORD, now()).held(), until);
    let request = limited.sign_in(STAFF, PASSWORD, now()).unwrap();
    too_many(&mut limited, request, now(), until);
    assert_same_wait(&mut held, &mut limited, until, early);

    // Staff sign-in: `submit_code`, with the same 2FA token from twin servers.
    let mut held = StaffSignIn::with_guards(
        endpoint(),
        staff_guards(
            AttemptGuard::staff_sign_in(),
            full(AttemptGuard::staff_confirm(), 3, 10),
        ),
    );
    let mut limited = StaffSignIn::new(endpoint());
    let mut codes = Vec::new();
    for flow in [&mut held, &mut limited] {
        let first = flow.sign_in(STAFF, PASSWORD, now()).unwrap();
        let net = until_step(flow, first, |step| {
            matches!(step, StaffStep::EmailCode { .. })
        });
        codes.push(net.server.last_code_to(STAFF).unwrap().to_owned());
    }
    assert_eq!(codes[0], codes[1]);
    // The confirmation counter of `held` counted -10, -9 and -8 s: it frees at 50 s.
    assert_eq!(held.submit_code(codes[0].as_str(), now()).held(), until);
    let request = limited.submit_code(codes[1].as_str(), now()).unwrap();
    too_many(&mut limited, request, now(), until);
    assert_same_wait(&mut held, &mut limited, until, early);

    // Session: `refresh`. `held` made five refreshes in the last 10 s; `limited` holds the
    // same tokens and a fresh counter.
    let mut net = Net::new();
    let mut clock = now() - secs(20);
    let (tokens, _) = sign_in_with(SignIn::new(endpoint()), &mut net, &mut clock);
    let mut held = Session::client(endpoint(), tokens);
    for n in 0..5 {
        let mut clock = now() - secs(10 - n);
        assert_eq!(refresh(&mut held, &mut net, &mut clock), []);
    }
    let mut limited = Session::client(endpoint(), held.tokens().unwrap().clone());
    assert_eq!(held.refresh(now()).held(), until);
    let request = limited.refresh(now()).unwrap();
    too_many(&mut limited, request, now(), until);
    assert_same_wait(&mut held, &mut limited, until, early);

    // Sign-up counts no attempts: only the server can make it wait, and it waits the same
    // way (the state and step of the others, `next_deadline`, `retry`).
    let mut limited = SignUp::new(endpoint());
    let request = limited
        .start("https://host.name/register", None, now())
        .unwrap();
    too_many(&mut limited, request, now(), until);
    let mut clock = now() + secs(49);
    let before = limited.clone();
    assert_eq!(limited.retry(clock).held(), until);
    assert_eq!(limited, before);
    let request = wait_out(&mut limited, &mut clock).unwrap().sent();
    assert_eq!(clock, until);
    assert_eq!(request.uri(), "https://host.name/api/v2/my/signup/wizard");
    assert_eq!(limited.state(), SignUpState::AwaitWizard);
}

// ---------------------------------------------------------------------------------------
// next_deadline

#[test]
fn next_deadline_is_the_end_of_a_rate_limit_or_the_sessions_refresh_time() {
    let mut flow = SignIn::new(endpoint());
    assert_eq!(flow.next_deadline(), None);
    let _ = flow.start(now()).sent();
    let block = http::Response::builder()
        .status(429)
        .header("retry-after", "120")
        .body(Vec::new())
        .unwrap();
    let step = flow.handle_response(&block, now()).unwrap();
    let until = now() + secs(120);
    assert_eq!(step, SignInStep::RetryAt(until));
    assert_eq!(flow.next_deadline(), Some(until));
    let _ = flow.retry(until).sent();
    assert_eq!(flow.next_deadline(), None, "sent again: nothing due");

    // An attempt the guard holds is due when the guard allows it.
    let mut flow = StaffSignIn::with_guards(
        endpoint(),
        StaffGuards::new(
            full(AttemptGuard::staff_sign_in(), 5, 10),
            AttemptGuard::staff_confirm(),
        ),
    );
    assert_eq!(flow.next_deadline(), None);
    assert_eq!(
        flow.sign_in(STAFF, PASSWORD, now()).held(),
        now() + secs(50)
    );
    assert_eq!(flow.next_deadline(), Some(now() + secs(50)));
    let _ = flow.retry(now() + secs(50)).sent();
    assert_eq!(flow.next_deadline(), None, "sent: nothing due");

    let mut net = Net::new();
    let tokens = sign_in(&mut net);
    let expires = tokens.access().expires_at();
    let leeway = secs(30);
    let mut session = Session::client(endpoint(), tokens.clone()).with_leeway(leeway);
    assert_eq!(session.next_deadline(), Some(expires - leeway));
    let _ = session.refresh(now()).sent();
    assert_eq!(session.next_deadline(), None, "a refresh is outstanding");
    let step = session.handle_response(&block, now()).unwrap();
    assert_eq!(step, SessionStep::RetryAt(until));
    assert_eq!(session.next_deadline(), Some(until));

    // A session that holds only a refresh token is due at once.
    let lone = Session::from_refresh_token(
        b2core_auth::Realm::Client,
        endpoint(),
        tokens.refresh().clone(),
    );
    assert!(lone.next_deadline().is_some_and(|due| due <= now()));
    // Signed out: nothing is ever due again.
    let mut session = Session::client(endpoint(), tokens);
    let request = session.sign_out(now()).sent();
    let _ = session
        .handle_response(&net.server.handle(&request, now()), now())
        .unwrap();
    assert_eq!(session.next_deadline(), None);
}
