//! What the tests expect of a call that moves a flow: the request it returned. A call the
//! attempt limit held instead ([`Outgoing::RetryAt`]) fails the test with that instant.
//!
//! Use: `#[path = "support/sent.rs"] mod sent;` and `use sent::Sent;`, then
//! `flow.start(now).sent()` or `flow.retry(now).sent()`.

#![allow(dead_code)] // each test binary uses the part it needs

use std::time::SystemTime;

use b2core_auth::{Error, Outgoing};
use http::Request;

/// The request of an [`Outgoing`], or of a call's `Result<Outgoing, Error>`.
pub trait Sent {
    /// The request; panics (failing the test) on an error or a wait.
    fn sent(self) -> Request<Vec<u8>>;
    /// The instant the flow waits for; panics on an error or a request.
    fn held(self) -> SystemTime;
}

impl Sent for Outgoing {
    #[track_caller]
    fn sent(self) -> Request<Vec<u8>> {
        match self {
            Outgoing::Request(request) => request,
            Outgoing::RetryAt(at) => panic!("expected a request, the flow waits until {at:?}"),
        }
    }

    #[track_caller]
    fn held(self) -> SystemTime {
        match self {
            Outgoing::RetryAt(at) => at,
            Outgoing::Request(request) => {
                panic!(
                    "expected a wait, got {} {}",
                    request.method(),
                    request.uri()
                )
            }
        }
    }
}

impl Sent for Result<Outgoing, Error> {
    #[track_caller]
    fn sent(self) -> Request<Vec<u8>> {
        match self {
            Ok(outgoing) => outgoing.sent(),
            Err(error) => panic!("expected a request, got the error: {error}"),
        }
    }

    #[track_caller]
    fn held(self) -> SystemTime {
        match self {
            Ok(outgoing) => outgoing.held(),
            Err(error) => panic!("expected a wait, got the error: {error}"),
        }
    }
}
