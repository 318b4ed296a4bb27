//! # b2core-auth
//!
//! The B2Core authentication API (B2Broker's brokerage platform) as pure sans-IO state
//! machines. Each flow takes decoded HTTP responses and says what to do next: the
//! `http::Request` to send ([`Outgoing::Request`]), the instant to try again at
//! ([`Outgoing::RetryAt`]), the input it needs, or the tokens it ended with. It never
//! opens a socket, sleeps, reads the clock or spawns: time is always an argument. So the
//! same flow runs under tokio, in a blocking loop, in WASM, or parked in a store between
//! browser requests.
//!
//! ## The driver contract
//!
//! 1. Every call that moves a flow (`start`, `submit_credentials`, `choose_method`,
//!    `submit_code`, ..., [`Flow::retry`]) takes `now: SystemTime` as its last argument and
//!    returns an [`Outgoing`]: the one request to send now, or [`Outgoing::RetryAt`] when
//!    an attempt limit allows none at `now` (nothing was sent; the flow holds the attempt).
//! 2. Send the request with any client; hand the response and `now` to
//!    [`Flow::handle_response`].
//! 3. The returned step says what the flow needs next: user input, a wait
//!    (`RetryAt`), or `Done(tokens)`.
//! 4. A rate limit always reaches the caller the same way, whether the crate's own attempt
//!    guard holds a call (e.g. a sixth sign-in inside a minute) or the server answers 429:
//!    the flow waits in its `RateLimited` state, its step is `RetryAt(t)` (from the call as
//!    [`Outgoing::RetryAt`]`(t)`, from `handle_response` as the flow's `...Step::RetryAt(t)`),
//!    [`Flow::next_deadline`] is `Some(t)`, and [`Flow::retry`] with `now >= t` sends the
//!    held request. Before `t`, `retry` returns `Outgoing::RetryAt(t)` again and changes
//!    nothing.
//! 5. At most one request is outstanding. Any `Err` leaves the flow exactly where it was.
//! 6. The calls every flow and [`Session`] share are the [`Flow`] trait, so one generic
//!    loop can drive any of them; [`Flow::next_deadline`] says when to act next unasked.
//!    [`Flow::state`] is the flow's typed state (e.g.
//!    [`SignInState`](client::signin::SignInState)), a `Copy` enum whose `Display` says it
//!    in words. [`Error::kind`] tells a caller's mistake from a server's.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use b2core_auth::client::{signin::SignInState, Credentials, SignIn, SignInStep};
//! use b2core_auth::{DeviceFingerprint, Endpoint, Error, Flow, Outgoing};
//!
//! # fn send(req: http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
//! #     let body: &[u8] = match req.uri().path() {
//! #         "/api/v2/my/signin/wizard" => br#"{"code":200,"data":{"recaptcha":{"enabled":false}},"done":false,"uuid":"u-1","workflow":"login"}"#,
//! #         _ => br#"{"code":202,"data":{"accessToken":{"token":"a.b.c","createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T11:22:24+00:00"},"refreshToken":{"token":"d.e.f","createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T12:07:24+00:00"},"tfaProviders":[]},"done":true,"uuid":"u-1","workflow":"Terminate"}"#,
//! #     };
//! #     let mut response = http::Response::new(body.to_vec()); // HTTP 200
//! #     if body.starts_with(br#"{"code":202"#) {
//! #         *response.status_mut() = http::StatusCode::ACCEPTED;
//! #     }
//! #     response
//! # }
//! # fn ask_code() -> String { "678562".into() }
//! # fn main() -> Result<(), Error> {
//! let endpoint = Endpoint::new("https://host.name")?;
//! let fingerprint = DeviceFingerprint::from_user_agent("my-app/1.0")?;
//! // Time is an argument: the wall clock in production, a virtual one here.
//! let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_713_784_044);
//! let mut flow = SignIn::new(endpoint);
//! let mut outgoing = flow.start(now)?;
//! let tokens = loop {
//!     let request = match outgoing {
//!         Outgoing::Request(request) => request,
//!         // An attempt limit held the call: nothing was sent. Sleep until `at` (your
//!         // runtime's sleep; `flow.next_deadline()` says the same), then:
//!         Outgoing::RetryAt(at) => {
//!             outgoing = flow.retry(at)?;
//!             continue;
//!         }
//!     };
//!     let response = send(request); // your HTTP client, any runtime
//!     outgoing = match flow.handle_response(&response, now)? {
//!         SignInStep::Credentials { .. } => {
//!             let creds = Credentials::new("username@example.com", "QAzqw123!", fingerprint.clone());
//!             flow.submit_credentials(creds, now)?
//!         }
//!         SignInStep::ChooseMethod { methods, .. } => flow.choose_method(methods[0], now)?,
//!         SignInStep::Code { .. } => flow.submit_code(ask_code(), now)?,
//!         // The server's 429: the same wait as above.
//!         SignInStep::RetryAt(at) => flow.retry(at)?,
//!         SignInStep::Done(tokens) => break tokens,
//!         other => panic!("not handled in this example: {other:?}"),
//!     };
//! };
//! assert_eq!(tokens.bearer(), "Bearer a.b.c");
//! assert_eq!(flow.state(), SignInState::SignedIn);
//! assert_eq!(flow.next_deadline(), None);
//! # Ok(()) }
//! ```
//!
//! ## Flows
//!
//! | flow | type | ends with |
//! |---|---|---|
//! | client sign-in wizard (fingerprint, reCAPTCHA, Google/SMS 2FA, forced reset) | [`client::SignIn`] | [`client::SignInStep::Done`] |
//! | client sign-up wizard | [`client::SignUp`] | [`client::SignUpStep::Done`] or `SignInRequired` |
//! | Back Office staff sign-in with email 2FA | [`backoffice::StaffSignIn`] | [`backoffice::StaffStep::Done`] |
//! | a signed-in session of either realm: authorize, refresh, sign out | [`Session`] | [`SessionStep::SignedOut`] or `Ended` |
//!
//! Each flow's module shows its documented transition table, generated from the same rows
//! as the flow's `TRANSITIONS` constant (a slice of [`Transition`]s between the states of
//! the flow's state enum, e.g.
//! [`signin::TRANSITIONS`](client::signin::TRANSITIONS)). The table drives the code: the
//! driver checks every move against it and refuses one that is not a row
//! ([`Error::Internal`]), and the model-based tests walk it row by row. The feature `sim`
//! adds `sim::Server`, a sans-IO simulator of the B2Core server for conformance tests.
//!
//! ## Promises
//!
//! - No input from the network panics the crate; bad input is a typed [`Error`] naming
//!   the field and step.
//! - Secrets ([`Secret`], [`TokenPair`], [`DeviceFingerprint`]) print `[redacted]` in
//!   `Debug` and `Display`, in every build. Serialized (parked) flows do contain them.
//! - Field names, paths and limits follow the vendor's pages letter for letter; the few
//!   bodies the vendor does not publish are inferred in one marked place.
//! - Cleartext only on purpose: [`Endpoint::new`] takes `http://` for a loopback host
//!   alone; any other needs [`Endpoint::new_insecure_http`], and a parked endpoint keeps
//!   that choice.
//!
//! ## Strict out, tolerant in
//!
//! What the crate sends follows the vendor's pages letter for letter. What it reads, it
//! judges by what the pages make the decision: the `workflow` (which must be one the flow's
//! transition table lists after the request), the tokens being present, and a `uuid` that
//! must be the flow's. A point the pages leave open is never a reason to refuse an answer:
//! a `code` other than the HTTP status, a `done` or `code` that disagrees with the
//! `workflow`, a later wizard answer without its `uuid`, a sign-out answered with a 2xx
//! other than 200 are each recorded as a [`Deviation`] (`deviations()` on every flow and
//! session) and the flow goes on. [`Endpoint::strict`] makes every deviation an
//! [`Error::Malformed`], for testing a server's conformance. The README's "Host dialects"
//! table lists every such point with the page's words.
//!
//! Still refused, in every mode (the answer cannot be the documented one): a body that is
//! not a JSON *object* (an array of the fields in order is refused, though serde would read
//! it) or not UTF-8; a missing `workflow`, or a missing `uuid` on a wizard's first answer;
//! another flow's `uuid`; tokens that are not non-empty visible ASCII of at most
//! [`MAX_TOKEN_LEN`] bytes, times that are not strict RFC 3339, `expiresAt` before
//! `createdAt`, one token of a pair without the other; a body over the endpoint's limit
//! ([`Endpoint::with_body_limit`], default [`DEFAULT_BODY_LIMIT`]), refused before it is
//! parsed. What the caller types is checked before a request exists: no control characters
//! (CR, LF, NUL, ...), no empty or over-long ([`MAX_FIELD_LEN`]) fields, a base URI without
//! user info, query, fragment or `.`/`..`.
//!
//! Read leniently: unknown fields are ignored; optional fields may be absent or `null`
//! (`data`, `recaptcha`, `tfaProviders`, `fields`, ...); the refresh answer is read bare
//! or as an envelope whose `data` holds the pair (its `uuid` and `workflow` may be
//! anything, `null` or absent: a refresh belongs to no wizard); a 429's `Retry-After` in
//! seconds (too many to hold: the latest instant a `SystemTime` can hold) or any of RFC
//! 9110's three HTTP date forms, and the documented default wait without one; error bodies
//! (unpublished) are read for messages when they can be, and otherwise still give the
//! status; the `data` of a workflow the crate does not model is kept as
//! free JSON (at most 64 levels deep). Within a token object, serde's derives still accept
//! an array of the three fields in order. No error quotes a value from the answer.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod backoffice;
pub mod client;
mod decode;
mod deviation;
mod endpoint;
mod error;
mod fingerprint;
mod flow;
mod guard;
mod input;
mod machine;
mod parked;
mod secret;
pub mod session;
#[cfg(feature = "sim")]
#[cfg_attr(docsrs, doc(cfg(feature = "sim")))]
pub mod sim;
mod table;
mod time;
mod token;
mod wire;

/// The README's examples, compiled and run as doc tests (they drive the simulator).
#[cfg(all(doctest, feature = "sim"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(fuzzing)]
#[doc(hidden)]
pub mod __fuzz;

pub use deviation::{Deviation, MAX_DEVIATIONS};
pub use endpoint::{Endpoint, DEFAULT_BODY_LIMIT};
pub use error::{ApiError, Error, ErrorKind};
pub use fingerprint::{DeviceFingerprint, MAX_FINGERPRINT_LEN};
pub use flow::{Flow, Outgoing};
pub use guard::AttemptGuard;
pub use input::MAX_FIELD_LEN;
pub use secret::Secret;
pub use session::{Authorized, Realm, Session, SessionStep};
pub use table::{Event, Transition};
pub use time::{format_rfc3339, TimestampError};
pub use token::{Token, TokenPair, MAX_TOKEN_LEN};
