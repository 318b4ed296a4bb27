//! The one driver every flow runs on.
//!
//! A flow is a [`Protocol`]: an enum of states that knows, for each state, the request it
//! is waiting on, how a refusal sends it back, and where a successful answer leads. The
//! [`Driver`] does the rest, the same way for every flow: at most one request outstanding,
//! rate limits (guards and 429), retries, and all-or-nothing transitions — every decision
//! is made on `&self` and committed only when it succeeded, so an `Err` changes nothing.

use std::fmt::Debug;
use std::time::{Duration, SystemTime};

use http::{Request, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::deviation::{Answer, Deviation, Deviations};
use crate::endpoint::{Endpoint, Reply};
use crate::error::{ApiError, Error};
use crate::flow::Outgoing;
use crate::guard::AttemptGuard;
use crate::parked::{CheckParked, Refused};
use crate::table::{has_row, Event, Transition, REFUSED, RETRY, SUCCESS, TOO_MANY};

/// Where a successful answer leads, and the event of the table it is.
pub(crate) struct Advance<P: Protocol> {
    event: Event,
    to: P,
    /// Set when the flow is over: the value goes to the caller.
    done: Option<P::Done>,
}

impl<P: Protocol> Advance<P> {
    /// A 2xx that leads to `to` (whose step the caller sees).
    pub(crate) fn to(to: P) -> Self {
        Self {
            event: SUCCESS,
            to,
            done: None,
        }
    }

    /// A 2xx that ends the flow in `to`, handing `done` to the caller.
    pub(crate) fn finish(to: P, done: P::Done) -> Self {
        Self {
            event: SUCCESS,
            to,
            done: Some(done),
        }
    }

    /// The same move, as the table names its answer (e.g. with its `workflow`).
    pub(crate) fn on(self, event: Event) -> Self {
        Self { event, ..self }
    }
}

/// One flow's states and rules. Implemented by each flow's private state enum.
pub(crate) trait Protocol: Clone + Debug + PartialEq + Serialize + DeserializeOwned {
    /// What the caller sees next (the public `...Step` enum).
    type Step;
    /// What a finished flow hands over (tokens, usually).
    type Done;
    /// The flow's rate-limit counters.
    type Guards: Clone + Debug + PartialEq + Serialize + DeserializeOwned;

    /// The public state enum: what `Flow::state` returns and the table is written in.
    type State: Copy + PartialEq + Debug + 'static + StateName;
    /// The flow's documented transitions: every move the driver makes must be a row.
    const TABLE: &'static [Transition<Self::State>];
    /// The public state of a flow waiting out a rate limit.
    const RATE_LIMITED: Self::State;

    /// This state as the table names it.
    fn state(&self) -> Self::State;
    /// The request this state awaits the answer to (`"POST /api/v2/..."`), if any.
    fn awaiting(&self) -> Option<&'static str>;
    /// Builds the request of an awaiting state.
    fn request(&self, endpoint: &Endpoint) -> Result<Request<Vec<u8>>, Error>;
    /// The counter an awaiting state's request counts against, if any.
    fn guard<'g>(&self, guards: &'g mut Self::Guards) -> Option<&'g mut AttemptGuard>;
    /// How long a 429 without `Retry-After` waits.
    fn default_wait(&self) -> Duration {
        Duration::from_secs(60)
    }
    /// Where an expected refusal (4xx) of the outstanding request leads; `None` makes it
    /// an [`Error::Refused`] that leaves the flow waiting.
    fn refused(&self, error: ApiError) -> Option<Self>;
    /// The table's event for a refusal with `status` that `refused` followed.
    fn refused_event(&self, _status: u16) -> Event {
        REFUSED
    }
    /// Where a 2xx answer leads. Decided on `&self`: an `Err` changes nothing. What
    /// departs from the pages without deciding anything is noted on `answer`.
    fn advance(&self, answer: &mut Answer<'_>) -> Result<Advance<Self>, Error>;
    /// The step the caller sees in this state (`None` while awaiting or when finished).
    fn step(&self) -> Option<Self::Step>;
    /// The step for "rate limited until `at`".
    fn retry_step(at: SystemTime) -> Self::Step;
    /// The step for a finished flow.
    fn done_step(done: Self::Done) -> Self::Step;
}

/// A public state enum's words (see `table::states!`).
pub(crate) trait StateName {
    fn as_str(&self) -> &'static str;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Phase<P> {
    At(P),
    /// Rate limited; `resume` is the awaiting state whose request `retry` sends again.
    Waiting {
        retry_at: SystemTime,
        resume: P,
    },
}

/// A [`Protocol`] in motion: its endpoint, counters and current state.
///
/// Read back from a store, it is checked as it was made (see [`Unchecked`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    bound(serialize = "", deserialize = "P: CheckParked"),
    try_from = "Unchecked<P>"
)]
pub(crate) struct Driver<P: Protocol> {
    endpoint: Endpoint,
    guards: P::Guards,
    phase: Phase<P>,
    /// Boxed: most flows never see one, and a flow's size matters to those who park many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deviations: Option<Box<Deviations>>,
}

/// A parked driver as serde reads it, before it is checked: a store is input like any
/// answer, and must not hold what no flow would.
#[derive(Deserialize)]
#[serde(bound = "")]
struct Unchecked<P: Protocol> {
    endpoint: Endpoint,
    guards: P::Guards,
    phase: Phase<P>,
    #[serde(default)]
    deviations: Option<Box<Deviations>>,
}

impl<P: Protocol + CheckParked> TryFrom<Unchecked<P>> for Driver<P> {
    type Error = Refused;

    /// Each field has checked itself; here, the state: what the flow holds in it
    /// ([`CheckParked`]), and a rate limit only ever resumes a request the flow awaits.
    fn try_from(parked: Unchecked<P>) -> Result<Self, Refused> {
        let state = match &parked.phase {
            Phase::At(state) => state,
            Phase::Waiting { resume, .. } if resume.awaiting().is_some() => resume,
            Phase::Waiting { .. } => {
                let reason = "resumes no request after the rate limit";
                return Err(Refused(Error::invalid("phase", reason)));
            }
        };
        state.check_parked().map_err(Refused)?;
        Ok(Self {
            endpoint: parked.endpoint,
            guards: parked.guards,
            phase: parked.phase,
            deviations: parked.deviations,
        })
    }
}

impl<P: Protocol> Driver<P> {
    pub(crate) fn new(endpoint: Endpoint, guards: P::Guards, initial: P) -> Self {
        Self {
            endpoint,
            guards,
            phase: Phase::At(initial),
            deviations: None,
        }
    }

    /// The deviations seen and not yet taken, oldest first.
    pub(crate) fn deviations(&self) -> &[Deviation] {
        self.deviations.as_deref().map_or(&[], Deviations::kept)
    }

    /// Hands over the deviations seen so far and forgets them.
    pub(crate) fn take_deviations(&mut self) -> Vec<Deviation> {
        self.deviations
            .take()
            .map(|log| log.kept().to_vec())
            .unwrap_or_default()
    }

    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub(crate) fn guards(&self) -> &P::Guards {
        &self.guards
    }

    pub(crate) fn into_guards(self) -> P::Guards {
        self.guards
    }

    /// Counts on `guards` from now on (a builder's: the flow has sent nothing yet).
    pub(crate) fn set_guards(&mut self, guards: P::Guards) {
        self.guards = guards;
    }

    /// The current state, unless the flow is waiting out a rate limit.
    pub(crate) fn state(&self) -> Option<&P> {
        match &self.phase {
            Phase::At(state) => Some(state),
            Phase::Waiting { .. } => None,
        }
    }

    /// The current state or, while a rate limit is waited out, the awaiting state that
    /// `retry` will send again (what the flow holds, whatever the phase).
    pub(crate) fn latest_state(&self) -> &P {
        match &self.phase {
            Phase::At(state) | Phase::Waiting { resume: state, .. } => state,
        }
    }

    /// When a rate limit the flow waits out ends, if it waits one.
    pub(crate) fn retry_at(&self) -> Option<SystemTime> {
        match &self.phase {
            Phase::Waiting { retry_at, .. } => Some(*retry_at),
            Phase::At(_) => None,
        }
    }

    pub(crate) fn is_awaiting_response(&self) -> bool {
        self.state().is_some_and(|s| s.awaiting().is_some())
    }

    pub(crate) fn current_step(&self) -> Option<P::Step> {
        match &self.phase {
            Phase::At(state) => state.step(),
            Phase::Waiting { retry_at, .. } => Some(P::retry_step(*retry_at)),
        }
    }

    /// The state, as the transition table names it.
    pub(crate) fn public_state(&self) -> P::State {
        match &self.phase {
            Phase::At(state) => state.state(),
            Phase::Waiting { .. } => P::RATE_LIMITED,
        }
    }

    pub(crate) fn out_of_order(&self, call: &'static str) -> Error {
        Error::OutOfOrder {
            call,
            state: self.public_state().as_str(),
        }
    }

    /// Refuses a move that is not a row of the flow's table: the flow's code took a turn
    /// its documentation does not have.
    fn check(&self, event: Event, to: P::State) -> Result<(), Error> {
        if has_row(P::TABLE, &self.public_state(), event, &to) {
            Ok(())
        } else {
            Err(Error::internal(
                "a move that is not a row of the flow's transition table",
            ))
        }
    }

    /// Moves to `next`, an awaiting state, on the caller's `call` at `now`, and returns
    /// its request. When the state's attempt guard allows no attempt at `now`, the flow
    /// waits instead, exactly as after a server's 429: `RetryAt` until the guard reopens,
    /// then `retry` sends the request. A sent request counts as an attempt.
    pub(crate) fn send(
        &mut self,
        next: P,
        call: &'static str,
        now: SystemTime,
    ) -> Result<Outgoing, Error> {
        let event = Event::Call(call);
        let blocked = next
            .guard(&mut self.guards)
            .and_then(|guard| guard.next_allowed(now));
        if let Some(retry_at) = blocked {
            self.check(event, P::RATE_LIMITED)?;
            self.phase = Phase::Waiting {
                retry_at,
                resume: next,
            };
            return Ok(Outgoing::RetryAt(retry_at));
        }
        self.check(event, next.state())?;
        let request = next.request(&self.endpoint)?;
        if let Some(guard) = next.guard(&mut self.guards) {
            guard.record(now);
        }
        self.phase = Phase::At(next);
        Ok(Outgoing::Request(request))
    }

    /// Replaces the attempt a rate limit holds with `next` (a flow started over while it
    /// waits): the wait stays, since the host (or the guard) asked for it, so `next` is held
    /// until the wait ends and sent from then on. Out of a rate limit, as [`Driver::send`].
    pub(crate) fn replace_held(
        &mut self,
        next: P,
        call: &'static str,
        now: SystemTime,
    ) -> Result<Outgoing, Error> {
        match self.phase {
            Phase::Waiting { retry_at, .. } if now < retry_at => {
                self.check(Event::Call(call), P::RATE_LIMITED)?;
                self.phase = Phase::Waiting {
                    retry_at,
                    resume: next,
                };
                Ok(Outgoing::RetryAt(retry_at))
            }
            _ => self.send(next, call, now),
        }
    }

    /// Sends the outstanding request again: after a rate limit once `now` has reached it
    /// (before that: `RetryAt` again, nothing changed), or while awaiting an answer that
    /// never came (a transport error).
    pub(crate) fn retry(&mut self, now: SystemTime) -> Result<Outgoing, Error> {
        let pending = match &self.phase {
            Phase::Waiting { retry_at, .. } if now < *retry_at => {
                self.check(RETRY, P::RATE_LIMITED)?;
                return Ok(Outgoing::RetryAt(*retry_at));
            }
            Phase::Waiting { resume, .. } => resume.clone(),
            Phase::At(state) if state.awaiting().is_some() => state.clone(),
            Phase::At(_) => return Err(self.out_of_order("retry")),
        };
        self.send(pending, "retry", now)
    }

    /// Hands the answer to the outstanding request to the flow.
    ///
    /// 429 → wait (and the state's guard learns the block); 4xx → the state's refusal
    /// target, or [`Error::Refused`]; 5xx → [`Error::Refused`]; 2xx → [`Protocol::advance`].
    pub(crate) fn handle_response<B: AsRef<[u8]>>(
        &mut self,
        response: &Response<B>,
        now: SystemTime,
    ) -> Result<P::Step, Error> {
        let Phase::At(state) = &self.phase else {
            return Err(self.out_of_order("handle_response"));
        };
        let Some(step) = state.awaiting() else {
            return Err(self.out_of_order("handle_response"));
        };
        let mut noted = Vec::new();
        let reply = self
            .endpoint
            .classify(step, response, now, state.default_wait())?;
        let (next, done) = match reply {
            Reply::RetryAt(retry_at) => {
                self.check(TOO_MANY, P::RATE_LIMITED)?;
                let resume = state.clone();
                if let Some(guard) = resume.guard(&mut self.guards) {
                    // The server's block outlives this request: the guard carries it on.
                    guard.block_until(retry_at);
                }
                (Phase::Waiting { retry_at, resume }, None)
            }
            Reply::Refused(error) if error.status() < 500 => {
                let event = state.refused_event(error.status());
                match state.refused(error.clone()) {
                    Some(next) => {
                        self.check(event, next.state())?;
                        (Phase::At(next), None)
                    }
                    None => return Err(Error::Refused(error)),
                }
            }
            Reply::Refused(error) => return Err(Error::Refused(error)),
            Reply::Success { status, body } => {
                let mut answer = Answer::new(step, status, body, self.endpoint.is_strict());
                let advance = state.advance(&mut answer)?;
                noted = answer.finish()?;
                self.check(advance.event, advance.to.state())?;
                (Phase::At(advance.to), advance.done)
            }
        };
        let step = match (done, &next) {
            (Some(done), _) => P::done_step(done),
            (None, Phase::Waiting { retry_at, .. }) => P::retry_step(*retry_at),
            (None, Phase::At(state)) => state
                .step()
                .ok_or(Error::internal("an answer led to a state without a step"))?,
        };
        self.phase = next;
        if !noted.is_empty() {
            self.deviations
                .get_or_insert_with(Box::default)
                .extend(noted);
        }
        Ok(step)
    }
}

/// The table drives the code: a tiny fake flow whose code takes moves its table lacks, to
/// show that the driver refuses each one ([`Error::Internal`], nothing changed) and makes
/// every move the table has, rate limits included.
#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    crate::table::states! {
        /// The fake flow's public states.
        pub enum FakeState {
            Idle => "idle",
            AwaitPing => "waiting for the ping answer",
            Pong => "ponged",
            AwaitOff => "waiting for the off-table answer",
            RateLimited => "rate limited",
            Done => "done",
        }
    }

    crate::table::transitions! {
        /// The fake's table. Deliberately missing, though the fake's code takes them:
        /// `Idle --jump--> AwaitPing`, `Pong --ping--> RateLimited`, every answer to
        /// `AwaitOff`, `AwaitOff --retry--> AwaitOff` and `RateLimited --retry--> AwaitOff`.
        pub const ROWS: [FakeState] = [
            (Idle, Call("ping"), AwaitPing),
            (Idle, Call("ping"), RateLimited),
            (Pong, Call("ping"), AwaitPing),
            (AwaitPing, Answer("2xx"), Done),
            (AwaitPing, Answer("4xx"), Pong),
            (AwaitPing, Answer("429"), RateLimited),
            (AwaitPing, Call("retry"), AwaitPing),
            (AwaitPing, Call("retry"), RateLimited),
            (RateLimited, Call("retry"), RateLimited),
            (RateLimited, Call("retry"), AwaitPing),
            (Idle, Call("off"), AwaitOff),
            (Idle, Call("off"), RateLimited),
        ];
    }

    crate::table::transitions! {
        /// [`ROWS`] without `RateLimited --retry--> RateLimited` (a retry too early).
        pub const ROWS_WITHOUT_EARLY_RETRY: [FakeState] = [
            (Idle, Call("ping"), AwaitPing),
            (Idle, Call("ping"), RateLimited),
            (Pong, Call("ping"), AwaitPing),
            (AwaitPing, Answer("2xx"), Done),
            (AwaitPing, Answer("4xx"), Pong),
            (AwaitPing, Answer("429"), RateLimited),
            (AwaitPing, Call("retry"), AwaitPing),
            (AwaitPing, Call("retry"), RateLimited),
            (RateLimited, Call("retry"), AwaitPing),
            (Idle, Call("off"), AwaitOff),
            (Idle, Call("off"), RateLimited),
        ];
    }

    /// The fake flow. `EARLY_RETRY` picks its table: [`ROWS`] or
    /// [`ROWS_WITHOUT_EARLY_RETRY`].
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    enum Fake<const EARLY_RETRY: bool> {
        Idle,
        AwaitPing,
        Pong,
        AwaitOff,
        Done,
    }

    #[derive(Debug, Clone, PartialEq)]
    enum FakeStep {
        Ready,
        Pong,
        RetryAt(SystemTime),
        Done(&'static str),
    }

    impl<const EARLY_RETRY: bool> Protocol for Fake<EARLY_RETRY> {
        type Step = FakeStep;
        type Done = &'static str;
        type Guards = AttemptGuard;
        type State = FakeState;
        const TABLE: &'static [Transition<FakeState>] = if EARLY_RETRY {
            ROWS
        } else {
            ROWS_WITHOUT_EARLY_RETRY
        };
        const RATE_LIMITED: FakeState = FakeState::RateLimited;

        fn state(&self) -> FakeState {
            match self {
                Self::Idle => FakeState::Idle,
                Self::AwaitPing => FakeState::AwaitPing,
                Self::Pong => FakeState::Pong,
                Self::AwaitOff => FakeState::AwaitOff,
                Self::Done => FakeState::Done,
            }
        }

        fn awaiting(&self) -> Option<&'static str> {
            match self {
                Self::AwaitPing => Some("GET /ping"),
                Self::AwaitOff => Some("GET /off"),
                _ => None,
            }
        }

        fn request(&self, endpoint: &Endpoint) -> Result<Request<Vec<u8>>, Error> {
            match self {
                Self::AwaitPing => endpoint.get("/ping"),
                Self::AwaitOff => endpoint.get("/off"),
                _ => Err(Error::internal("no request in this state")),
            }
        }

        fn guard<'g>(&self, guards: &'g mut AttemptGuard) -> Option<&'g mut AttemptGuard> {
            self.awaiting().map(|_| guards)
        }

        fn refused(&self, _error: ApiError) -> Option<Self> {
            // Both requests' refusals lead back to `Pong`: a row only for `AwaitPing`.
            self.awaiting().map(|_| Self::Pong)
        }

        fn advance(&self, _answer: &mut Answer<'_>) -> Result<Advance<Self>, Error> {
            // Both requests' successes finish the flow: a row only for `AwaitPing`.
            Ok(Advance::finish(Self::Done, "finished"))
        }

        fn step(&self) -> Option<FakeStep> {
            match self {
                Self::Idle => Some(FakeStep::Ready),
                Self::Pong => Some(FakeStep::Pong),
                _ => None,
            }
        }

        fn retry_step(at: SystemTime) -> FakeStep {
            FakeStep::RetryAt(at)
        }

        fn done_step(done: &'static str) -> FakeStep {
            FakeStep::Done(done)
        }
    }

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    /// Room for 5 attempts a minute, none used.
    fn fresh() -> AttemptGuard {
        AttemptGuard::new(5, Duration::from_secs(60))
    }

    /// Room for `limit` attempts a minute, all used at `t(0)`.
    fn used_up(limit: usize) -> AttemptGuard {
        let mut guard = AttemptGuard::new(limit, Duration::from_secs(60));
        for _ in 0..limit {
            guard.record(t(0));
        }
        guard
    }

    fn driver<const R: bool>(guard: AttemptGuard, at: Fake<R>) -> Driver<Fake<R>> {
        let endpoint = Endpoint::new("https://host.name").expect("a valid endpoint");
        Driver::new(endpoint, guard, at)
    }

    fn answer(status: u16) -> Response<Vec<u8>> {
        Response::builder()
            .status(status)
            .body(b"{}".to_vec())
            .expect("a valid response")
    }

    fn too_many(retry_after_secs: u64) -> Response<Vec<u8>> {
        Response::builder()
            .status(429)
            .header(http::header::RETRY_AFTER, retry_after_secs.to_string())
            .body(Vec::new())
            .expect("a valid response")
    }

    /// `call` is refused as a bug, and leaves the driver exactly as it was.
    #[track_caller]
    fn assert_refused<const R: bool, T: Debug>(
        driver: &mut Driver<Fake<R>>,
        call: impl FnOnce(&mut Driver<Fake<R>>) -> Result<T, Error>,
    ) {
        let before = driver.clone();
        let result = call(driver);
        assert!(
            matches!(result, Err(Error::Internal { .. })),
            "an off-table move must be refused as a bug: {result:?}"
        );
        assert_eq!(*driver, before, "a refused move must change nothing");
    }

    /// The request an on-table call sent; fails on a wait or an error.
    #[track_caller]
    fn sent(outgoing: Result<Outgoing, Error>) -> Request<Vec<u8>> {
        match outgoing {
            Ok(Outgoing::Request(request)) => request,
            other => panic!("expected a request, got {other:?}"),
        }
    }

    #[test]
    fn send_refuses_a_call_the_table_lacks_and_changes_nothing() {
        let mut flow = driver(fresh(), Fake::<true>::Idle);
        assert_refused(&mut flow, |d| d.send(Fake::AwaitPing, "jump", t(0)));
        // The guard counted nothing: the same call on the table is still the first.
        assert_eq!(flow.guards().next_allowed(t(0)), None);
        assert_eq!(flow.public_state(), FakeState::Idle);
    }

    #[test]
    fn send_refuses_a_held_call_the_table_lacks_and_changes_nothing() {
        // `Pong --ping--> AwaitPing` is a row, `Pong --ping--> RateLimited` is not.
        let mut flow = driver(used_up(1), Fake::<true>::Pong);
        assert_refused(&mut flow, |d| d.send(Fake::AwaitPing, "ping", t(10)));
        assert_eq!(flow.public_state(), FakeState::Pong);
        assert_eq!(flow.retry_at(), None);
        // With room in the guard, the same call is on the table.
        let mut flow = driver(used_up(1), Fake::<true>::Pong);
        let request = sent(flow.send(Fake::AwaitPing, "ping", t(60)));
        assert_eq!(request.uri(), "https://host.name/ping");
        assert_eq!(flow.public_state(), FakeState::AwaitPing);
    }

    #[test]
    fn handle_response_refuses_a_2xx_the_table_lacks_and_changes_nothing() {
        let mut flow = driver(fresh(), Fake::<true>::Idle);
        sent(flow.send(Fake::AwaitOff, "off", t(0)));
        assert_refused(&mut flow, |d| d.handle_response(&answer(200), t(1)));
        assert_eq!(flow.public_state(), FakeState::AwaitOff);
        assert!(flow.is_awaiting_response());
    }

    #[test]
    fn handle_response_refuses_a_4xx_the_table_lacks_and_changes_nothing() {
        let mut flow = driver(fresh(), Fake::<true>::Idle);
        sent(flow.send(Fake::AwaitOff, "off", t(0)));
        assert_refused(&mut flow, |d| d.handle_response(&answer(400), t(1)));
        assert_eq!(flow.public_state(), FakeState::AwaitOff);
    }

    #[test]
    fn handle_response_refuses_a_429_the_table_lacks_and_changes_nothing() {
        let mut flow = driver(fresh(), Fake::<true>::Idle);
        sent(flow.send(Fake::AwaitOff, "off", t(0)));
        // Nor does the guard learn the block: the comparison covers the counters.
        assert_refused(&mut flow, |d| d.handle_response(&too_many(30), t(1)));
        assert_eq!(flow.public_state(), FakeState::AwaitOff);
        assert_eq!(flow.guards().next_allowed(t(1)), None);
        assert_eq!(flow.retry_at(), None);
    }

    #[test]
    fn retry_refuses_a_resend_the_table_lacks_and_changes_nothing() {
        // A transport error while awaiting: `AwaitOff --retry--> AwaitOff` is not a row.
        let mut flow = driver(fresh(), Fake::<true>::Idle);
        sent(flow.send(Fake::AwaitOff, "off", t(0)));
        assert_refused(&mut flow, |d| d.retry(t(1)));
        assert_eq!(flow.public_state(), FakeState::AwaitOff);
    }

    #[test]
    fn retry_refuses_a_resumption_the_table_lacks_and_changes_nothing() {
        // `Idle --off--> RateLimited` is a row, `RateLimited --retry--> AwaitOff` is not.
        let mut flow = driver(used_up(1), Fake::<true>::Idle);
        let held = flow.send(Fake::AwaitOff, "off", t(10));
        assert!(
            matches!(held, Ok(Outgoing::RetryAt(at)) if at == t(60)),
            "{held:?}"
        );
        assert_eq!(flow.public_state(), FakeState::RateLimited);
        // Too early is on the table: the same wait, nothing changed.
        let before = flow.clone();
        let early = flow.retry(t(30));
        assert!(
            matches!(early, Ok(Outgoing::RetryAt(at)) if at == t(60)),
            "{early:?}"
        );
        assert_eq!(flow, before);
        // Once the wait is over, sending the held `AwaitOff` is off the table.
        assert_refused(&mut flow, |d| d.retry(t(60)));
        assert_eq!(flow.public_state(), FakeState::RateLimited);
        assert_eq!(flow.retry_at(), Some(t(60)));
    }

    #[test]
    fn retry_refuses_an_early_retry_the_table_lacks_and_changes_nothing() {
        // This table lacks `RateLimited --retry--> RateLimited`.
        let mut flow = driver(used_up(1), Fake::<false>::Idle);
        let held = flow.send(Fake::AwaitPing, "ping", t(10));
        assert!(
            matches!(held, Ok(Outgoing::RetryAt(at)) if at == t(60)),
            "{held:?}"
        );
        assert_refused(&mut flow, |d| d.retry(t(30)));
        assert_eq!(flow.public_state(), FakeState::RateLimited);
        // The resumption is still a row.
        let request = sent(flow.retry(t(60)));
        assert_eq!(request.uri(), "https://host.name/ping");
        assert_eq!(flow.public_state(), FakeState::AwaitPing);
    }

    #[test]
    fn replace_held_refuses_a_replacement_the_table_lacks_and_changes_nothing() {
        let mut flow = driver(used_up(1), Fake::<true>::Idle);
        let held = flow.send(Fake::AwaitPing, "ping", t(10));
        assert!(
            matches!(held, Ok(Outgoing::RetryAt(at)) if at == t(60)),
            "{held:?}"
        );
        // `RateLimited --ping--> RateLimited` is not a row: held or sent, refused.
        assert_refused(&mut flow, |d| d.replace_held(Fake::AwaitOff, "ping", t(30)));
        assert_refused(&mut flow, |d| d.replace_held(Fake::AwaitOff, "ping", t(60)));
        assert_eq!(flow.retry_at(), Some(t(60)));
        // On the table, the replacement waits as long as what it replaced, then goes.
        let replaced = flow.replace_held(Fake::AwaitPing, "retry", t(30));
        assert!(
            matches!(replaced, Ok(Outgoing::RetryAt(at)) if at == t(60)),
            "{replaced:?}"
        );
        let request = sent(flow.retry(t(60)));
        assert_eq!(request.uri(), "https://host.name/ping");
    }

    #[test]
    fn on_table_moves_are_made() {
        // The fake's table names each of its states, Display words and all.
        for state in FakeState::ALL {
            assert!(ROWS
                .iter()
                .any(|row| row.from == *state || row.to == *state));
        }
        assert_eq!(
            ROWS[0].to_string(),
            "idle --ping--> waiting for the ping answer"
        );

        let mut flow = driver(fresh(), Fake::<true>::Idle);
        assert_eq!(flow.current_step(), Some(FakeStep::Ready));

        let request = sent(flow.send(Fake::AwaitPing, "ping", t(0)));
        assert_eq!(request.method(), http::Method::GET);
        assert_eq!(request.uri(), "https://host.name/ping");
        assert_eq!(flow.public_state(), FakeState::AwaitPing);
        assert!(flow.is_awaiting_response());
        assert_eq!(flow.current_step(), None);

        // A transport error: `AwaitPing --retry--> AwaitPing` resends.
        let request = sent(flow.retry(t(1)));
        assert_eq!(request.uri(), "https://host.name/ping");
        assert_eq!(flow.public_state(), FakeState::AwaitPing);

        // 4xx: `AwaitPing --4xx--> Pong`.
        assert_eq!(flow.handle_response(&answer(400), t(2)), Ok(FakeStep::Pong));
        assert_eq!(flow.public_state(), FakeState::Pong);

        // `Pong --ping--> AwaitPing`, then 2xx: `AwaitPing --2xx--> Done`.
        sent(flow.send(Fake::AwaitPing, "ping", t(3)));
        assert_eq!(
            flow.handle_response(&answer(200), t(4)),
            Ok(FakeStep::Done("finished"))
        );
        assert_eq!(flow.public_state(), FakeState::Done);
        assert!(!flow.is_awaiting_response());

        // Three requests sent, three attempts counted.
        let mut counted = fresh();
        for secs in [0, 1, 3] {
            counted.record(t(secs));
        }
        assert_eq!(*flow.guards(), counted);
    }

    #[test]
    fn a_full_guard_holds_the_call_until_retry_sends_it() {
        let mut flow = driver(used_up(1), Fake::<true>::Idle);

        // `Idle --ping--> RateLimited`: nothing sent, nothing counted.
        let held = flow.send(Fake::AwaitPing, "ping", t(10));
        assert!(
            matches!(held, Ok(Outgoing::RetryAt(at)) if at == t(60)),
            "{held:?}"
        );
        assert_eq!(flow.public_state(), FakeState::RateLimited);
        assert_eq!(flow.current_step(), Some(FakeStep::RetryAt(t(60))));
        assert_eq!(flow.retry_at(), Some(t(60)));
        assert_eq!(flow.latest_state(), &Fake::AwaitPing);
        assert!(!flow.is_awaiting_response());
        assert_eq!(*flow.guards(), used_up(1));

        // Too early: `RateLimited --retry--> RateLimited`, the same instant, no change.
        let before = flow.clone();
        let early = flow.retry(t(59));
        assert!(
            matches!(early, Ok(Outgoing::RetryAt(at)) if at == t(60)),
            "{early:?}"
        );
        assert_eq!(flow, before);

        // From the instant on: `RateLimited --retry--> AwaitPing` sends the held request,
        // counted as an attempt.
        let request = sent(flow.retry(t(60)));
        assert_eq!(request.method(), http::Method::GET);
        assert_eq!(request.uri(), "https://host.name/ping");
        assert_eq!(flow.public_state(), FakeState::AwaitPing);
        assert!(flow.is_awaiting_response());
        assert_eq!(flow.retry_at(), None);
        assert_eq!(flow.guards().next_allowed(t(61)), Some(t(120)));
        assert_eq!(
            flow.handle_response(&answer(200), t(61)),
            Ok(FakeStep::Done("finished"))
        );
    }

    #[test]
    fn a_429_holds_the_request_until_retry_sends_it() {
        let mut flow = driver(fresh(), Fake::<true>::Idle);
        sent(flow.send(Fake::AwaitPing, "ping", t(0)));

        // `AwaitPing --429--> RateLimited`, and the guard carries the server's block.
        assert_eq!(
            flow.handle_response(&too_many(30), t(1)),
            Ok(FakeStep::RetryAt(t(31)))
        );
        assert_eq!(flow.public_state(), FakeState::RateLimited);
        assert_eq!(flow.retry_at(), Some(t(31)));
        assert_eq!(flow.guards().next_allowed(t(1)), Some(t(31)));

        let before = flow.clone();
        let early = flow.retry(t(30));
        assert!(
            matches!(early, Ok(Outgoing::RetryAt(at)) if at == t(31)),
            "{early:?}"
        );
        assert_eq!(flow, before);

        let request = sent(flow.retry(t(31)));
        assert_eq!(request.uri(), "https://host.name/ping");
        assert_eq!(flow.public_state(), FakeState::AwaitPing);
    }

    #[test]
    fn a_resend_whose_guard_is_full_waits() {
        // `AwaitPing --retry--> RateLimited`: a transport retry the guard does not allow.
        let mut flow = driver(
            AttemptGuard::new(1, Duration::from_secs(60)),
            Fake::<true>::Idle,
        );
        sent(flow.send(Fake::AwaitPing, "ping", t(0)));
        let held = flow.retry(t(5));
        assert!(
            matches!(held, Ok(Outgoing::RetryAt(at)) if at == t(60)),
            "{held:?}"
        );
        assert_eq!(flow.public_state(), FakeState::RateLimited);
        assert_eq!(flow.current_step(), Some(FakeStep::RetryAt(t(60))));
        let request = sent(flow.retry(t(60)));
        assert_eq!(request.uri(), "https://host.name/ping");
        assert_eq!(flow.public_state(), FakeState::AwaitPing);
    }
}
