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
/// One loop for any flow, here answering with the simulator:
///
/// ```
/// # #[cfg(feature = "sim")] {
/// use std::time::{Duration, SystemTime};
/// use b2core_auth::backoffice::{StaffSignIn, StaffStep};
/// use b2core_auth::sim::{Server, SimConfig, StaffAccount};
/// use b2core_auth::{Endpoint, Flow};
///
/// /// Sends `request` and hands its answer to the flow, whichever flow it is.
/// fn exchange<F: Flow>(
///     flow: &mut F,
///     server: &mut Server,
///     request: http::Request<Vec<u8>>,
///     now: SystemTime,
/// ) -> Result<F::Step, b2core_auth::Error> {
///     let response = server.handle(&request, now);
///     let step = flow.handle_response(&response, now)?;
///     assert!(flow.deviations().is_empty(), "{:?}", flow.deviations());
///     Ok(step)
/// }
///
/// let mut server = Server::new(SimConfig::default());
/// server.add_staff(StaffAccount::new("foo@bar.com", "Secret123"));
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_713_784_044);
/// let mut flow = StaffSignIn::new(Endpoint::new("https://host.name").unwrap());
/// let request = flow.sign_in("foo@bar.com", "Secret123", now).unwrap();
/// let step = exchange(&mut flow, &mut server, request, now).unwrap();
/// assert!(matches!(step, StaffStep::Done(_)));
/// assert_eq!(flow.state(), "signed in");
/// # }
/// ```
pub trait Flow: sealed::Sealed {
    /// What the flow needs next from the caller (its `...Step` enum).
    type Step;

    /// Hands the answer to the outstanding request to the flow and says what comes next.
    ///
    /// An expected refusal (a 4xx: a wrong password, a wrong code) returns to the step
    /// where the user can try again, with the server's message in its `rejected`. A 429
    /// gives the flow's `RetryAt` step. A 5xx is [`Error::Refused`] and an answer that
    /// breaks the protocol is [`Error::Malformed`]: both leave the flow unchanged, still
    /// waiting (call [`Flow::retry`] to send the request again). A departure from the pages
    /// on a point they leave open is recorded ([`Flow::deviations`]), or refused on a
    /// [strict](Endpoint::strict) endpoint.
    fn handle_response<B: AsRef<[u8]>>(
        &mut self,
        response: &Response<B>,
        now: SystemTime,
    ) -> Result<Self::Step, Error>;

    /// Sends the outstanding request again: after a `RetryAt` step once `now` has reached
    /// it, or while a request is outstanding whose answer never came (a transport error). A
    /// rate-limited request counts as a new attempt.
    fn retry(&mut self, now: SystemTime) -> Result<Request<Vec<u8>>, Error>;

    /// What the flow waits for from the caller: `None` while a request is outstanding,
    /// before the flow started and once it is finished.
    fn current_step(&self) -> Option<Self::Step>;

    /// What the flow is doing now, in words: the state names of the flow's `TRANSITIONS`.
    fn state(&self) -> &'static str;

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
    /// 429's `Retry-After`, then [`Flow::retry`]), and for a [`Session`](crate::Session)
    /// the time its access token should be refreshed. `None`: nothing is due until the
    /// caller or the server acts. A deadline in the past means now.
    fn next_deadline(&self) -> Option<SystemTime>;
}

pub(crate) mod sealed {
    /// Only this crate's flows are [`Flow`](super::Flow)s.
    pub trait Sealed {}
}

/// Implements [`Flow`] for a flow whose `driver` field is a `machine::Driver`. Its next
/// deadline is the end of a rate limit and `retry` the driver's, unless `deadline` and
/// `retry` (functions of the flow) say otherwise.
macro_rules! driven_flow {
    ($flow:ty, $step:ty) => {
        $crate::flow::driven_flow!(
            $flow,
            $step,
            deadline = |flow: &$flow| flow.driver.retry_at(),
            retry = |flow: &mut $flow, now| flow.driver.retry(now)
        );
    };
    ($flow:ty, $step:ty, deadline = $deadline:expr, retry = $retry:expr) => {
        impl $crate::flow::sealed::Sealed for $flow {}

        impl $crate::flow::Flow for $flow {
            type Step = $step;

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
            ) -> Result<http::Request<Vec<u8>>, $crate::error::Error> {
                let retry: fn(
                    &mut $flow,
                    std::time::SystemTime,
                ) -> Result<http::Request<Vec<u8>>, $crate::error::Error> = $retry;
                retry(self, now)
            }

            fn current_step(&self) -> Option<$step> {
                self.driver.current_step()
            }

            fn state(&self) -> &'static str {
                self.driver.state_name()
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
