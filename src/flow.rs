//! [`Flow`]: the calls every flow and [`Session`](crate::Session) share, documented once, so
//! that one generic driver loop can run any of them.

use std::time::SystemTime;

use http::{Request, Response};

use crate::deviation::Deviation;
use crate::endpoint::Endpoint;
use crate::error::Error;

/// The calls [`SignIn`](crate::client::SignIn), [`SignUp`](crate::client::SignUp),
/// [`StaffSignIn`](crate::backoffice::StaffSignIn) and [`Session`](crate::Session) share.
/// Each flow adds its own calls for user input (`submit_credentials`, `submit_code`, ...);
/// these are the rest of the driver contract.
///
/// Sealed: implemented by this crate's flows only, so it can grow without breaking anyone.
///
/// Every call that moves a flow takes `now` last and returns an [`Outgoing`]: the request
/// to send, or the instant to [`retry`](Flow::retry) at when an attempt limit holds it.
/// A rate limit (the crate's own attempt guard or a server's 429) always reaches the
/// caller that way: as [`Outgoing::RetryAt`] from a call, or as the flow's `RetryAt` step
/// from [`Flow::handle_response`], with [`Flow::next_deadline`] set to the instant.
///
/// One loop for any flow, here answering with the simulator:
///
/// ```
/// # #[cfg(feature = "sim")] mod with_sim {
/// use std::time::{Duration, SystemTime};
/// use b2core_auth::backoffice::{StaffSignIn, StaffState, StaffStep};
/// use b2core_auth::sim::{Server, SimConfig, StaffAccount};
/// use b2core_auth::{Endpoint, Flow, Outgoing};
///
/// /// Sends what a call returned and hands its answer to the flow, whichever flow it is;
/// /// `None` when the flow waits instead (call `retry` at the flow's `next_deadline`).
/// fn exchange<F: Flow>(
///     flow: &mut F,
///     server: &mut Server,
///     outgoing: Outgoing,
///     now: SystemTime,
/// ) -> Result<Option<F::Step>, b2core_auth::Error> {
///     let Outgoing::Request(request) = outgoing else {
///         return Ok(None);
///     };
///     let response = server.handle(&request, now);
///     let step = flow.handle_response(&response, now)?;
///     assert!(flow.deviations().is_empty(), "{:?}", flow.deviations());
///     Ok(Some(step))
/// }
///
/// # pub fn main() -> Result<(), b2core_auth::Error> {
/// let mut server = Server::new(SimConfig::default());
/// server.add_staff(StaffAccount::new("foo@bar.com", "Secret123"));
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_713_784_044);
/// let mut flow = StaffSignIn::new(Endpoint::new("https://host.name")?);
/// let outgoing = flow.sign_in("foo@bar.com", "Secret123", now)?;
/// let step = exchange(&mut flow, &mut server, outgoing, now)?;
/// assert!(matches!(step, Some(StaffStep::Done(_))));
/// assert_eq!(flow.state(), StaffState::SignedIn);
/// assert_eq!(flow.state().to_string(), "signed in");
/// # Ok(()) } }
/// # #[cfg(feature = "sim")] fn main() -> Result<(), b2core_auth::Error> { with_sim::main() }
/// # #[cfg(not(feature = "sim"))] fn main() {}
/// ```
pub trait Flow: sealed::Sealed {
    /// What the flow needs next from the caller (its `...Step` enum).
    type Step;
    /// Where the flow is (its `...State` enum, the states of its `TRANSITIONS`).
    type State: Copy + Eq + std::fmt::Debug + std::fmt::Display;

    /// Hands the answer to the outstanding request to the flow and says what comes next.
    ///
    /// An expected refusal (a 4xx: a wrong password, a wrong code) returns to the step
    /// where the user can try again, with the server's message in its `rejected`. A 429
    /// gives the flow's `RetryAt` step. A 5xx is [`Error::Refused`] and an answer that
    /// breaks the protocol is [`Error::Malformed`]: both leave the flow unchanged, still
    /// waiting (call [`Flow::retry`] to send the request again). A departure from the pages
    /// on a point they leave open is recorded ([`Flow::deviations`]), or refused on a
    /// [strict](Endpoint::strict) endpoint.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfOrder`] when no request is outstanding; [`Error::Refused`] for a 5xx,
    /// or a 4xx the flow has no step to return to; [`Error::Malformed`] for an answer that
    /// breaks the protocol (a body over the endpoint's
    /// [limit](Endpoint::with_body_limit), a redirect, a body the step cannot read, a
    /// deviation on a strict endpoint); [`Error::Internal`] for a bug in this crate. Each
    /// leaves the flow unchanged.
    fn handle_response<B: AsRef<[u8]>>(
        &mut self,
        response: &Response<B>,
        now: SystemTime,
    ) -> Result<Self::Step, Error>;

    /// Sends the outstanding request again: after a `RetryAt` step once `now` has reached
    /// it, or while a request is outstanding whose answer never came (a transport error). A
    /// rate-limited request counts as a new attempt. Before the `RetryAt` instant (or when
    /// the attempt limit still allows none) it is [`Outgoing::RetryAt`] again, and nothing
    /// changes.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfOrder`] when no request is outstanding or held. A
    /// [`Session`](crate::Session) says [`Error::SessionEnded`] instead once it is signed
    /// out or ended, and for a refresh whose refresh token has expired at `now`; a
    /// [`StaffSignIn`](crate::backoffice::StaffSignIn) says [`Error::InvalidInput`]
    /// (field `2FA token`) for a code confirmation whose 2FA token has expired (call
    /// [`StaffSignIn::sign_in`](crate::backoffice::StaffSignIn::sign_in) again).
    /// [`Error::Internal`] for a bug in this crate. Each leaves the flow unchanged.
    fn retry(&mut self, now: SystemTime) -> Result<Outgoing, Error>;

    /// What the flow waits for from the caller: `None` while a request is outstanding,
    /// before the flow started and once it is finished.
    fn current_step(&self) -> Option<Self::Step>;

    /// Where the flow is: a state of the flow's `TRANSITIONS` (`Display` says it in words).
    fn state(&self) -> Self::State;

    /// True while a request is outstanding: the next call is [`Flow::handle_response`].
    fn is_awaiting_response(&self) -> bool;

    /// The host this flow talks to.
    fn endpoint(&self) -> &Endpoint;

    /// What the answers so far departed from the vendor's pages without deciding
    /// anything (see [`Deviation`]), oldest first: at most
    /// [`MAX_DEVIATIONS`](crate::MAX_DEVIATIONS) until taken.
    fn deviations(&self) -> &[Deviation];

    /// Hands over the deviations seen so far and forgets them, e.g. to log them after each
    /// answer.
    fn take_deviations(&mut self) -> Vec<Deviation>;

    /// When the caller should act next without being asked: the end of a rate limit (a
    /// 429's `Retry-After`, or when the crate's attempt guard allows the held attempt; then
    /// [`Flow::retry`]), and for a [`Session`](crate::Session)
    /// the time its access token should be refreshed. `None`: nothing is due until the
    /// caller or the server acts. A deadline in the past means now.
    fn next_deadline(&self) -> Option<SystemTime>;
}

/// What a call that moves a flow hands back: the request to send, or, when an attempt limit
/// allows none now, the instant to [`retry`](Flow::retry) at.
///
/// The crate's own attempt guard and a server's 429 reach the caller the same way: the
/// flow holds the attempt, its step is `RetryAt`, [`Flow::next_deadline`] is that instant,
/// and [`Flow::retry`] sends it from then on.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use b2core_auth::backoffice::StaffSignIn;
/// use b2core_auth::{Endpoint, Outgoing};
///
/// # fn main() -> Result<(), b2core_auth::Error> {
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_713_784_044);
/// let mut flow = StaffSignIn::new(Endpoint::new("https://host.name")?);
/// let Outgoing::Request(request) = flow.sign_in("foo@bar.com", "Secret123", now)? else {
///     unreachable!("the first attempt is allowed");
/// };
/// assert_eq!(request.uri(), "https://host.name/api/v2/signin");
/// # Ok(()) }
/// ```
#[must_use = "a request that is not sent leaves the flow waiting for its answer"]
// Returned and matched at once: boxing the request would cost every call an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Outgoing {
    /// Send this request, then hand its answer to [`Flow::handle_response`].
    Request(Request<Vec<u8>>),
    /// Nothing may be sent before this instant: call [`Flow::retry`] then.
    RetryAt(SystemTime),
}

impl Outgoing {
    /// The request to send, unless the flow waits.
    ///
    /// ```
    /// use std::time::SystemTime;
    /// use b2core_auth::Outgoing;
    ///
    /// assert!(Outgoing::RetryAt(SystemTime::UNIX_EPOCH).into_request().is_none());
    /// ```
    pub fn into_request(self) -> Option<Request<Vec<u8>>> {
        match self {
            Self::Request(request) => Some(request),
            Self::RetryAt(_) => None,
        }
    }

    /// The instant to retry at, when the flow waits.
    ///
    /// ```
    /// use std::time::SystemTime;
    /// use b2core_auth::Outgoing;
    ///
    /// let at = SystemTime::UNIX_EPOCH;
    /// assert_eq!(Outgoing::RetryAt(at).retry_at(), Some(at));
    /// ```
    pub fn retry_at(&self) -> Option<SystemTime> {
        match self {
            Self::Request(_) => None,
            Self::RetryAt(at) => Some(*at),
        }
    }
}

/// The request line only: a request's body and headers may hold secrets.
impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Request(request) => write!(f, "Request({} {})", request.method(), request.uri()),
            Self::RetryAt(at) => f.debug_tuple("RetryAt").field(at).finish(),
        }
    }
}

pub(crate) mod sealed {
    /// Only this crate's flows are [`Flow`](super::Flow)s.
    pub trait Sealed {}
}

/// Implements [`Flow`] for a flow whose `driver` field is a `machine::Driver`. Its next
/// deadline is the end of a rate limit and `retry` the driver's, unless `deadline` and
/// `retry` (functions of the flow) say otherwise.
macro_rules! driven_flow {
    ($flow:ty, $step:ty, $state:ty) => {
        $crate::flow::driven_flow!(
            $flow,
            $step,
            $state,
            deadline = |flow: &$flow| flow.driver.retry_at(),
            retry = |flow: &mut $flow, now| flow.driver.retry(now)
        );
    };
    ($flow:ty, $step:ty, $state:ty, deadline = $deadline:expr, retry = $retry:expr) => {
        impl $crate::flow::sealed::Sealed for $flow {}

        impl $crate::flow::Flow for $flow {
            type Step = $step;
            type State = $state;

            fn handle_response<B: AsRef<[u8]>>(
                &mut self,
                response: &http::Response<B>,
                now: std::time::SystemTime,
            ) -> Result<$step, $crate::error::Error> {
                self.driver.handle_response(response, now)
            }

            fn retry(
                &mut self,
                now: std::time::SystemTime,
            ) -> Result<$crate::flow::Outgoing, $crate::error::Error> {
                let retry: fn(
                    &mut $flow,
                    std::time::SystemTime,
                ) -> Result<$crate::flow::Outgoing, $crate::error::Error> = $retry;
                retry(self, now)
            }

            fn current_step(&self) -> Option<$step> {
                self.driver.current_step()
            }

            fn state(&self) -> $state {
                self.driver.public_state()
            }

            fn is_awaiting_response(&self) -> bool {
                self.driver.is_awaiting_response()
            }

            fn endpoint(&self) -> &$crate::endpoint::Endpoint {
                self.driver.endpoint()
            }

            fn deviations(&self) -> &[$crate::deviation::Deviation] {
                self.driver.deviations()
            }

            fn take_deviations(&mut self) -> Vec<$crate::deviation::Deviation> {
                self.driver.take_deviations()
            }

            fn next_deadline(&self) -> Option<std::time::SystemTime> {
                let deadline: fn(&$flow) -> Option<std::time::SystemTime> = $deadline;
                deadline(self)
            }
        }
    };
}
pub(crate) use driven_flow;
