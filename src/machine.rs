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
use crate::guard::AttemptGuard;
use crate::parked::{CheckParked, Refused};

/// One row of a flow's documented transition table: in state `from`, `event` (a call, or
/// an answer described by its status and `workflow`) leads to state `to`. State names are
/// what the flow's `state()` getter returns.
///
/// Each flow publishes its table as a `TRANSITIONS` constant; its rustdoc shows the same
/// table, and a test checks that the two agree. Calls and answers that end in an `Err`
/// are not rows: they leave the state as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transition {
    /// The state before.
    pub from: &'static str,
    /// The call or answer.
    pub event: &'static str,
    /// The state after.
    pub to: &'static str,
}

/// Shorthand for the tables.
pub(crate) const fn row(from: &'static str, event: &'static str, to: &'static str) -> Transition {
    Transition { from, event, to }
}

/// Where a successful answer leads.
pub(crate) enum Advance<P: Protocol> {
    /// A new state (whose step the caller sees).
    To(P),
    /// The flow is over: `P` is its final state, the value goes to the caller.
    Finish(P, P::Done),
}

/// One flow's states and rules. Implemented by each flow's private state enum.
pub(crate) trait Protocol: Clone + Debug + PartialEq + Serialize + DeserializeOwned {
    /// What the caller sees next (the public `...Step` enum).
    type Step;
    /// What a finished flow hands over (tokens, usually).
    type Done;
    /// The flow's rate-limit counters.
    type Guards: Clone + Debug + PartialEq + Serialize + DeserializeOwned;

    /// A short description of the state, for [`Error::OutOfOrder`].
    fn describe(&self) -> &'static str;
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
    /// Where a 2xx answer leads. Decided on `&self`: an `Err` changes nothing. What
    /// departs from the pages without deciding anything is noted on `answer`.
    fn advance(&self, answer: &mut Answer<'_>, now: SystemTime) -> Result<Advance<Self>, Error>;
    /// The step the caller sees in this state (`None` while awaiting or when finished).
    fn step(&self) -> Option<Self::Step>;
    /// The step for "rate limited until `at`".
    fn retry_step(at: SystemTime) -> Self::Step;
    /// The step for a finished flow.
    fn done_step(done: Self::Done) -> Self::Step;
}

/// The name of the state a flow is in while it waits out a rate limit.
pub(crate) const RATE_LIMITED: &str = "rate limited";

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

    /// The state's name, as in the transition tables.
    pub(crate) fn state_name(&self) -> &'static str {
        match &self.phase {
            Phase::At(state) => state.describe(),
            Phase::Waiting { .. } => RATE_LIMITED,
        }
    }

    pub(crate) fn out_of_order(&self, call: &'static str) -> Error {
        Error::OutOfOrder {
            call,
            state: self.state_name(),
        }
    }

    /// Moves to `next`, an awaiting state, and returns its request. A guarded state is
    /// sent with the `now` of the call: its guard is checked first and counts the attempt
    /// once the request exists.
    pub(crate) fn send(
        &mut self,
        next: P,
        now: Option<SystemTime>,
    ) -> Result<Request<Vec<u8>>, Error> {
        let guarded = now.filter(|_| next.guard(&mut self.guards).is_some());
        if let (Some(now), Some(guard)) = (guarded, next.guard(&mut self.guards)) {
            guard.check(now)?;
        }
        let request = next.request(&self.endpoint)?;
        if let (Some(now), Some(guard)) = (guarded, next.guard(&mut self.guards)) {
            guard.record(now);
        }
        self.phase = Phase::At(next);
        Ok(request)
    }

    /// Sends the outstanding request again: after a rate limit once `now` has reached it,
    /// or while awaiting an answer that never came (a transport error).
    pub(crate) fn retry(&mut self, now: SystemTime) -> Result<Request<Vec<u8>>, Error> {
        let pending = match &self.phase {
            Phase::Waiting { retry_at, .. } if now < *retry_at => {
                return Err(Error::RateLimited {
                    retry_at: *retry_at,
                });
            }
            Phase::Waiting { resume, .. } => resume.clone(),
            Phase::At(state) if state.awaiting().is_some() => state.clone(),
            Phase::At(_) => return Err(self.out_of_order("retry")),
        };
        self.send(pending, Some(now))
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
        let (next, done) =
            match self
                .endpoint
                .classify(step, response, now, state.default_wait())?
            {
                Reply::RetryAt(retry_at) => {
                    let resume = state.clone();
                    if let Some(guard) = resume.guard(&mut self.guards) {
                        // The server's block outlives this request: the guard carries it on.
                        guard.block_until(retry_at);
                    }
                    (Phase::Waiting { retry_at, resume }, None)
                }
                Reply::Refused(error) if error.status() < 500 => match state.refused(error.clone())
                {
                    Some(next) => (Phase::At(next), None),
                    None => return Err(Error::Refused(error)),
                },
                Reply::Refused(error) => return Err(Error::Refused(error)),
                Reply::Success { status, body } => {
                    let mut answer = Answer::new(step, status, body, self.endpoint.is_strict());
                    let advance = state.advance(&mut answer, now)?;
                    noted = answer.finish()?;
                    match advance {
                        Advance::To(next) => (Phase::At(next), None),
                        Advance::Finish(next, done) => (Phase::At(next), Some(done)),
                    }
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
