//! A sans-IO simulator of the B2Core authentication server, for conformance tests and
//! examples (feature `sim`).
//!
//! [`Server::handle`] takes an `http::Request` and the current time and answers the way
//! the vendor's pages describe, strictly: every request that a conforming client would
//! never send (unknown path, wrong method, missing header, body that is not the
//! documented JSON, unknown `uuid`, a step out of order, a bad `device_fingerprint`, a
//! missing Bearer header) is answered with an error **and** recorded as a [`Violation`].
//! What a conforming client may well meet (a wrong password, a wrong code, an expired or
//! revoked token, a rate limit) is answered the same way but is not a violation.
//!
//! The simulator is deterministic: no clock reads (time is the `now` argument), no OS
//! randomness (uuids, tokens and codes come from a SplitMix64 generator seeded by
//! [`SimConfig::seed`]), no global state, only ordered maps. Two servers built and driven
//! the same way answer byte for byte the same.
//!
//! Where the pages leave room, the server answers in the [`Dialect`] of
//! [`SimConfig::dialect`]: the crate's own reading by default, or the way another host
//! reads the pages (see [Dialects](#dialects)). What clients send is judged the same way
//! in every dialect.
//!
//! # Endpoints
//!
//! As the default dialect (`pages`) answers:
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/v2/my/signin/wizard` | 200 envelope, workflow `login`, a fresh `uuid` |
//! | `POST /api/v2/my/signin` | 202 `Terminate` with tokens; 200 `2fa_google_auth`, `2fa_sms_auth`, `2fa`, `reset_password_email`; 400 wrong credentials |
//! | `POST /api/v2/my/signin/2fa` | 200 `2fa_google_auth` / `2fa_sms_auth`, `data: null` |
//! | `POST /api/v2/my/2fa/google`, `/api/v2/my/2fa/sms` | 202 `Terminate` with tokens (or 200 `reset_password_email`); 400 wrong code |
//! | `POST /api/v2/my/signin/password/restore` | 200 envelope, workflow `reset_password_code`, a code by email |
//! | `POST /api/v2/my/signin/password/reset` | 200 envelope, workflow `login`; the flow ends |
//! | `POST /api/v2/my/signup/wizard` | 202 envelope, workflow `basic_register_form`, `data.fields: {}` |
//! | `POST /api/v2/my/signup` | 202 envelope, workflow `login`, `data: {}`; 400 existing email or passwords differ |
//! | `POST /api/v2/signin` | 200 `{"2faRequired":false, accessToken, refreshToken}` or `{"2faRequired":true,"2faDetails":{..}}` |
//! | `POST /api/v2/2fa/confirm` | 200 `{accessToken, refreshToken}`; 400 wrong code; 401 expired, used or unknown 2FA token |
//! | `POST /api/v2/refresh`, `/api/v2/my/refresh` | 200 `{accessToken, refreshToken}`, the old pair revoked; 401 unknown, expired or revoked |
//! | `POST /api/v2/signout`, `/api/v2/my/signout` | 200 (empty body), the session's tokens revoked; 401 unknown, expired or revoked |
//!
//! The rate limits are in the `limits` table of the assumptions below; a refused request
//! is answered 429 with `Retry-After: <seconds>` (or an HTTP date, in the `retry-after-*`
//! dialects).
//!
//! No other path is served: the pages document no resource API (accounts, wallets, ...).
//! A stand-in for one can ask [`Server::bearer_holder`] which client's live access token a
//! request carries, without a request to [`Server::handle`].
//!
//! # Dialects
//!
//! Each of [`Dialect::ALL`] turns one point the pages leave open; `everything` turns them
//! all at once. [`SimConfig::dialect`] can also hold any other combination.
//!
//! | name | how it answers, where the default `pages` answers differently |
//! |---|---|
//! | `pages` | the default: the assumptions below, nothing turned |
//! | `status-200` | every successful client wizard answer is HTTP 200; the body's `code` stays 202 where it is 202 |
//! | `done-at-init` | the sign-in wizard init is `"code":202`, `"done":true` (HTTP 202), as the other published version of the page shows |
//! | `refresh-envelope` | the client refresh answers `{"code":200,"data":{accessToken, refreshToken},"done":true,"uuid":"<fresh>","workflow":"Terminate"}` |
//! | `refresh-envelope-null-uuid` | the same with `"uuid":null,"workflow":null` |
//! | `refresh-envelope-no-uuid` | the same without `uuid` and `workflow` |
//! | `extra-fields` | every JSON object written gets `"x_sim_extra":{"note":"unknown field"}`, last |
//! | `charset` | every JSON answer has `Content-Type: application/json; charset=utf-8` |
//! | `retry-after-imf-date` | `Retry-After: Mon, 22 Apr 2024 12:07:24 GMT` |
//! | `retry-after-rfc850` | `Retry-After: Monday, 22-Apr-24 12:07:24 GMT` |
//! | `retry-after-asctime` | `Retry-After: Mon Apr 22 12:07:24 2024` |
//! | `null-optionals` | `null` for the optional fields that hold nothing (listed at **Optional fields** below) |
//! | `access-outlives-refresh` | a refresh revokes the old refresh token only: the old access token stays live until its own `expiresAt` (see **Revocation** below) |
//! | `everything` | all of the above at once, the refresh as `refresh-envelope-null-uuid` and `Retry-After` as `retry-after-rfc850` |
//!
//! # Assumptions
//!
//! The pages do not publish everything. Where they are silent, the simulator assumes what
//! follows; where a dialect answers otherwise, each point says which (`extra-fields` and
//! `charset` apply to every JSON answer, and `everything` to every point they name).
//!
//! - **Forced reset bodies and workflows** (same field names as `wire::inferred`, but
//!   written separately here): `restore` takes `{"uuid"}` at the step after
//!   `reset_password_email` (again to resend), emails a six-digit code to the account's
//!   email and answers `{"code":200,"data":null,"done":false,"uuid":..,"workflow":"reset_password_code"}`.
//!   `reset` takes `{"uuid","code","password","password_confirmation"}`, sets the
//!   password, clears the force flag and answers `{"code":200,"data":null,"done":false,
//!   "uuid":..,"workflow":"login"}`; the uuid then dies and the client signs in again with
//!   a new wizard. A wrong code, differing passwords or an empty password: 400, the flow
//!   stays. The answer to `reset_password_email` itself carries `data: null`. In every
//!   dialect (their `code` is 200, so `status-200` changes nothing; `data` is already
//!   `null`).
//! - **Forced reset with 2FA**: following the vendor's how-to ("the client signs in (2FA
//!   if enabled), verifies the email, sets a new password"), an account with 2FA and a
//!   forced reset first passes 2FA; the correct code then answers `reset_password_email`
//!   instead of `Terminate`. In every dialect.
//! - **Error body**: `{"error":{"code":<HTTP status>,"details":[{"issue":"<text>"}]}}`,
//!   `Content-Type: application/json`, for every 4xx and 5xx. The issue texts never
//!   contain a password, code or token. `extra-fields` adds its member to each of the
//!   three objects (`error`'s, the outer one, each of `details`); `charset` adds the
//!   parameter.
//! - **Status codes**: wrong credentials, wrong codes, differing passwords, an existing
//!   email, a refused reCAPTCHA: 400. Expired/used/unknown 2FA token, unknown/expired/
//!   revoked refresh or access token: 401. Violations: unknown path 404; wrong method 405
//!   with `Allow`; body over 64 KiB 413; missing Bearer header 401; everything else 400.
//!   In every dialect.
//! - **Status line of successful answers**: the pages give every wizard answer a body
//!   `code` ("an HTTP code": 200, 202, 400) and never show the status line. `pages`: the
//!   status line is the body's `code` (a final step is HTTP 202). `status-200`: every
//!   successful answer of the client wizards (sign-in with 2FA, restore/reset, the sign-up
//!   wizard, sign-up) is HTTP 200 whatever its `code`. The Back Office, refresh and
//!   sign-out answer 200 in every dialect.
//! - **429**: status 429, `Retry-After` in whole seconds (at least 1), error body. The
//!   `retry-after-*` dialects write the same wait as an HTTP date, GMT: now plus the
//!   seconds, rounded up to a whole second (`imf-date`: `Mon, 22 Apr 2024 12:07:24 GMT`;
//!   `rfc850`: `Monday, 22-Apr-24 12:07:24 GMT`; `asctime`: `Mon Apr 22 12:07:24 2024`,
//!   the day padded with a space, `Apr  2`); an instant past the year 9999 is answered 500
//!   instead. The status, body, limits and counting are the same in every dialect. Client
//!   sign-in: the 6th attempt within 60 s starts a 10-minute block (`Retry-After: 600`,
//!   then the remaining seconds); a refused attempt is not counted and does not extend
//!   the block. Back Office sign-in (5), 2FA confirm (3), refresh (5): a sliding 60-second
//!   window, `Retry-After` is the time until the oldest attempt leaves it (the pages say
//!   only "a certain period"). Counted per: client and staff sign-in per account email
//!   (ASCII case-insensitive, also for emails with no account); 2FA confirm per staff
//!   account; refresh per session (the chain of pairs that one sign-in started, so
//!   rotating does not reset it). Every well-formed attempt counts, successful or not;
//!   violations do not. A 429 is never a violation.
//! - **Sessions**: client refresh `POST /api/v2/my/refresh` takes `{"refreshToken"}` like
//!   the Back Office and, in `pages`, answers the bare pair `{"accessToken",
//!   "refreshToken"}` (not an envelope). `refresh-envelope` answers
//!   `{"code":200,"data":{"accessToken","refreshToken"},"done":true,"uuid":"<a fresh
//!   uuid of no wizard>","workflow":"Terminate"}`, `refresh-envelope-null-uuid` the same
//!   with `"uuid":null,"workflow":null`, `refresh-envelope-no-uuid` without those two
//!   members; all HTTP 200. The Back Office refresh answers the bare pair its page
//!   documents in every dialect. Sign-out of both realms takes only `Authorization:
//!   Bearer <access>` (a body is ignored) and answers 200 with an empty body (no
//!   `Content-Type`), in every dialect. A token is valid strictly before its
//!   `expiresAt`. Tokens of one realm are unknown to the other.
//! - **Revocation**: the pages never say whether a refresh revokes the old access token
//!   (only that it gives "a new set of access and refresh tokens", and that a sign-out
//!   answers 401 to a revoked access token). `pages`: a refresh revokes the old access
//!   **and** refresh token. `access-outlives-refresh` (and `everything`): a refresh
//!   revokes the old refresh token at once, but the old access token stays a live access
//!   token of its session until its own `expiresAt`: it authorizes
//!   [`Server::bearer_holder`], and a sign-out with it signs the session out (200); from
//!   its `expiresAt` on it is refused as expired, never as revoked. Both realms. In every
//!   dialect a sign-out ends the session: it revokes the session's refresh token and
//!   every access token of the session (its pair's, and in `access-outlives-refresh` the
//!   earlier ones, expired or not), whichever of them signed it out. Other sessions of
//!   the same account are untouched, and a password reset does not revoke anything.
//!   [`Server::is_revoked`] is true only for tokens revoked this way (not for expired or
//!   never-issued ones, nor for an old access token a refresh left live).
//! - **Headers**: the sign-in page shows `Accept: application/json` and `Content-Type:
//!   application/json` on every wizard request; the simulator requires both on every
//!   client sign-in wizard request (sign-in, 2FA, restore/reset). The sign-up page's curl
//!   shows none: there each may be absent, but one that is present must say JSON.
//!   `Accept` may list other types; `Content-Type` may carry parameters.
//!   Back Office, refresh and sign-out requests are not checked for them (their pages
//!   show none). The same checks in every dialect. Answers: `Content-Type:
//!   application/json` in `pages`, `application/json; charset=utf-8` in `charset`.
//! - **Bodies**: must be a JSON object with exactly the documented fields (unknown fields
//!   are violations: the simulator exists to catch a misspelt name), required fields
//!   present, every field of its documented type. A query string is a violation.
//!   Sign-up `addresses` is an object of `{"country_code": string}` keyed `"0"`, `"1"`, ...
//!   as the page shows; `info` holds optional `familyName` / `givenName` strings. The same
//!   checks in every dialect. Answers carry exactly the documented fields in `pages`;
//!   `extra-fields` adds `"x_sim_extra":{"note":"unknown field"}` as the last member of
//!   every object written (the envelope, `data`, `recaptcha`, each token object and
//!   `tfaProviders` entry, `2faDetails`, the Back Office answers, error bodies).
//! - **Fingerprint**: standard padded Base64 of a JSON object with a string
//!   `user_agent`. Note the sign-up page's own example (`"dwqdnNFJ..."`) is not valid
//!   Base64 and is refused as a violation. In every dialect.
//! - **Wizard init**: the current sign-in page's Step 1: `"code":200`, `"done":false`,
//!   workflow `login` (`pages`). `done-at-init` answers as the other published version of
//!   the page: `"code":202`, `"done":true`, workflow `login`, HTTP 202 (200 under
//!   `status-200`); the same `data`, and the uuid stays open for the credentials.
//! - **Wizard data**: `is_qr_available` and `is_password_recovery_available` are
//!   `false` (QR sign-in and voluntary recovery are not simulated). For workflows
//!   `2fa_google_auth` / `2fa_sms_auth` after credentials, `data` is `{"accessToken":null,
//!   "refreshToken":null,"tfaProviders":[<that method>]}`; for `2fa`, both methods
//!   (in every dialect). `localizedCaption` is `Google Authenticator` / `SMS`.
//! - **Optional fields**: `pages` writes a value meaning "nothing" (`false`, `[]`, `{}`)
//!   where the pages' examples write one, and leaves out the Back Office fields its page
//!   lists as conditional. `null-optionals` writes `null` instead: `is_qr_available` and
//!   `is_password_recovery_available` (wizard init), `tfaProviders` (`[]` at `Terminate`),
//!   `data` (`{}` in the sign-up answer), `fields` (`{}` in the sign-up wizard init); and
//!   the Back Office sign-in writes `"accessToken":null,"refreshToken":null` beside
//!   `2faDetails`, and `"2faDetails":null` beside the tokens. `data: null` answers
//!   (choice of method, reset steps) and the `null` tokens of the 2FA workflows are the
//!   same in every dialect.
//! - **uuids**: a uuid belongs to one flow (sign-in or sign-up) and dies when it ends
//!   (`Terminate`, a completed reset, a completed sign-up); using it again is a
//!   violation. The sign-up wizard answers `done: true` and `code: 202` as its page shows,
//!   yet the uuid stays open for `POST /api/v2/my/signup` (in every dialect, as the
//!   sign-in wizard's uuid under `done-at-init`). The uuid of an enveloped client refresh
//!   (`refresh-envelope`) belongs to no wizard.
//! - **2FA codes**: SMS and email codes do not expire within their flow; a new one
//!   replaces the old. Google codes are six digits per 30-second period, derived from a
//!   per-account secret (not RFC 6238: no HMAC in the allowed dependencies); the current
//!   and the previous period's codes are accepted. Client 2FA code attempts have no
//!   documented limit and none is applied. In every dialect.
//! - **reCAPTCHA**: only sign-in checks it. When required, a missing `recaptchaResponse`
//!   is a violation (the wizard announced it), a different one is a 400 refusal. In every
//!   dialect.
//! - **Accounts**: a signed-up client has no 2FA and no phone. Adding an account with
//!   an existing email replaces it. Back Office 2FA tokens are uuid-shaped, as on the
//!   page, and live [`SimConfig::tfa_token_lifetime`]. In every dialect.
//! - **Paths**: exactly as documented, from the root (a base URI with a path prefix is
//!   not simulated). The scheme and host of the request URI are ignored. In every
//!   dialect.
//!
//! # Example: the crate's own sign-in flow against the simulator
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use b2core_auth::client::{Credentials, SignIn, SignInStep};
//! use b2core_auth::sim::{ClientAccount, Server, SimConfig};
//! use b2core_auth::{DeviceFingerprint, Endpoint, Flow, Outgoing};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut server = Server::new(SimConfig::default());
//! server.add_client(ClientAccount::new("username@example.com", "QAzqw123!").with_google());
//! let now = UNIX_EPOCH + Duration::from_secs(1_713_784_044);
//!
//! let mut flow = SignIn::new(Endpoint::new("https://host.name")?);
//! let mut outgoing = flow.start(now)?;
//! let tokens = loop {
//!     let Outgoing::Request(request) = outgoing else {
//!         unreachable!("one attempt stays within the limit: nothing is held");
//!     };
//!     let response = server.handle(&request, now);
//!     outgoing = match flow.handle_response(&response, now)? {
//!         SignInStep::Credentials { .. } => {
//!             let fp = DeviceFingerprint::from_user_agent("my-app/1.0")?;
//!             let creds = Credentials::new("username@example.com", "QAzqw123!", fp);
//!             flow.submit_credentials(creds, now)?
//!         }
//!         SignInStep::Code { .. } => {
//!             let code = server.google_code("username@example.com", now).ok_or("a Google account")?;
//!             flow.submit_code(code, now)?
//!         }
//!         SignInStep::Done(tokens) => break tokens,
//!         other => panic!("unexpected step {other:?}"),
//!     };
//! };
//! assert_eq!(tokens.access().expires_at(), now + Duration::from_secs(15 * 60));
//! assert!(server.violations().is_empty());
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, SystemTime};

use http::header::{HeaderValue, ACCEPT, ALLOW, CONTENT_TYPE, RETRY_AFTER};
use http::{Method, Request, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

mod accounts;
mod client;
mod dialect;
mod limits;
mod requests;
mod rng;
mod staff;
mod tokens;

#[cfg(test)]
mod tests;

pub use accounts::{ClientAccount, StaffAccount};
pub use dialect::{Dialect, RefreshAnswer, RetryAfter, StatusLine, WizardInit};

use accounts::{email_key, ClientRecord, StaffRecord};
use limits::Limiter;
use rng::Rng;

/// The largest request body read; larger ones are a violation (413).
const MAX_BODY: usize = 64 * 1024;
/// The longest path kept in a [`Violation::request`].
const MAX_LABEL_PATH: usize = 200;

/// Lifetimes, the seed and the dialect of a [`Server`].
///
/// ```
/// use std::time::Duration;
/// use b2core_auth::sim::{Dialect, SimConfig};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = SimConfig { seed: 42, ..SimConfig::default() };
/// assert_eq!(config.access_lifetime, Duration::from_secs(15 * 60));
/// assert_eq!(config.refresh_lifetime, Duration::from_secs(60 * 60));
/// assert_eq!(config.tfa_token_lifetime, Duration::from_secs(5 * 60));
/// assert_eq!(config.dialect, Dialect::PAGES);
///
/// let other_host = SimConfig {
///     dialect: Dialect::named("everything").ok_or("a named dialect")?,
///     ..SimConfig::default()
/// };
/// assert_eq!(other_host.dialect.name(), Some("everything"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// How long an access token lives (default 15 minutes, as the page's example).
    pub access_lifetime: Duration,
    /// How long a refresh token lives (default 1 hour, as the page's example).
    pub refresh_lifetime: Duration,
    /// How long a Back Office 2FA token lives (default 5 minutes).
    pub tfa_token_lifetime: Duration,
    /// The seed of the generator of uuids, tokens and codes.
    pub seed: u64,
    /// How the server answers where the vendor's pages leave room (default
    /// [`Dialect::PAGES`]). Requests are judged the same way in every dialect.
    pub dialect: Dialect,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            access_lifetime: Duration::from_secs(15 * 60),
            refresh_lifetime: Duration::from_secs(60 * 60),
            tfa_token_lifetime: Duration::from_secs(5 * 60),
            seed: 0x5EED_B2C0_4E00_0001,
            dialect: Dialect::PAGES,
        }
    }
}

/// Where a code was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Channel {
    /// By SMS, to a client's phone.
    Sms,
    /// By email: Back Office 2FA codes and client password-reset codes.
    Email,
}

/// A code the server sent, as the simulated phone or mailbox received it.
///
/// `Debug` never shows the code.
#[derive(Clone, PartialEq, Eq)]
pub struct SentCode {
    /// SMS or email.
    pub channel: Channel,
    /// The phone number or email address.
    pub to: String,
    /// The code itself (six digits).
    pub code: String,
}

impl fmt::Debug for SentCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentCode")
            .field("channel", &self.channel)
            .field("to", &self.to)
            .field("code", &"[redacted]")
            .finish()
    }
}

/// A request a conforming client would never send, and why it was refused.
///
/// The reason names fields and steps, never their secret values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Method and path, e.g. `POST /api/v2/my/signin`.
    pub request: String,
    /// What was wrong with it.
    pub reason: String,
}

/// The simulated B2Core authentication server. See the [module docs](self) for the
/// endpoints and every assumption beyond the vendor's pages.
///
/// `Debug` shows counts only: no password, token or code.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use b2core_auth::sim::{ClientAccount, Server, SimConfig};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut server = Server::new(SimConfig::default());
/// server.add_client(ClientAccount::new("username@example.com", "QAzqw123!"));
/// let now = UNIX_EPOCH + Duration::from_secs(1_713_784_044); // 2024-04-22T11:07:24Z
///
/// let wizard = http::Request::get("https://host.name/api/v2/my/signin/wizard")
///     .header("Accept", "application/json")
///     .header("Content-Type", "application/json")
///     .body(Vec::new())?;
/// let response = server.handle(&wizard, now);
/// assert_eq!(response.status(), 200);
/// let body: serde_json::Value = serde_json::from_slice(response.body())?;
/// assert_eq!(body["workflow"], "login");
///
/// let sign_in = serde_json::json!({
///     "uuid": body["uuid"],
///     "email": "username@example.com",
///     "password": "QAzqw123!",
///     "device_fingerprint": "eyJ1c2VyX2FnZW50IjoiY3VybCJ9", // {"user_agent":"curl"}
/// });
/// let request = http::Request::post("https://host.name/api/v2/my/signin")
///     .header("Accept", "application/json")
///     .header("Content-Type", "application/json")
///     .body(serde_json::to_vec(&sign_in)?)?;
/// let response = server.handle(&request, now);
/// assert_eq!(response.status(), 202);
/// let body: serde_json::Value = serde_json::from_slice(response.body())?;
/// assert_eq!(body["workflow"], "Terminate");
/// assert_eq!(body["data"]["accessToken"]["expiresAt"], "2024-04-22T11:22:24+00:00");
/// assert!(server.violations().is_empty());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Server {
    config: SimConfig,
    rng: Rng,
    recaptcha: Option<String>,
    next_account_id: u64,
    clients: BTreeMap<String, ClientRecord>,
    staff: BTreeMap<String, StaffRecord>,
    /// Open wizard flows by uuid.
    flows: BTreeMap<String, client::Flow>,
    /// Uuids whose flow ended (for a clearer violation reason).
    ended_flows: BTreeSet<String>,
    /// Back Office 2FA tokens.
    staff_2fa: BTreeMap<String, staff::Pending>,
    sessions: tokens::Sessions,
    client_sign_in_limits: BTreeMap<String, Limiter>,
    staff_sign_in_limits: BTreeMap<String, Limiter>,
    staff_confirm_limits: BTreeMap<String, Limiter>,
    violations: Vec<Violation>,
    outbox: Vec<SentCode>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.config)
            .field("recaptcha_required", &self.recaptcha.is_some())
            .field("clients", &self.clients.len())
            .field("staff", &self.staff.len())
            .field("open_flows", &self.flows.len())
            .field("sessions", &self.sessions.len())
            .field("violations", &self.violations)
            .field("outbox", &self.outbox.len())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A server with no accounts and reCAPTCHA off.
    pub fn new(config: SimConfig) -> Self {
        Self {
            rng: Rng::new(config.seed),
            config,
            recaptcha: None,
            next_account_id: 1,
            clients: BTreeMap::new(),
            staff: BTreeMap::new(),
            flows: BTreeMap::new(),
            ended_flows: BTreeSet::new(),
            staff_2fa: BTreeMap::new(),
            sessions: tokens::Sessions::default(),
            client_sign_in_limits: BTreeMap::new(),
            staff_sign_in_limits: BTreeMap::new(),
            staff_confirm_limits: BTreeMap::new(),
            violations: Vec::new(),
            outbox: Vec::new(),
        }
    }

    /// Adds a client account (replacing one with the same email, ASCII case-insensitive).
    /// Each gets its own Google Authenticator secret from the seeded generator.
    pub fn add_client(&mut self, account: ClientAccount) {
        let id = self.next_id();
        let google_secret = self.rng.next_u64();
        self.clients.insert(
            email_key(&account.email),
            ClientRecord {
                account,
                id,
                google_secret,
            },
        );
    }

    /// Adds a Back Office account (replacing one with the same email).
    pub fn add_staff(&mut self, account: StaffAccount) {
        let id = self.next_id();
        self.staff
            .insert(email_key(&account.email), StaffRecord { account, id });
    }

    /// Turns reCAPTCHA on: the sign-in wizard then says `recaptcha.enabled: true`, and
    /// client sign-in needs `recaptchaResponse` equal to `accepted_response`.
    pub fn require_recaptcha(&mut self, accepted_response: &str) {
        self.recaptcha = Some(accepted_response.to_owned());
    }

    /// Answers one request at `now`. Never panics; the status is always a valid HTTP
    /// status, and every violation is also recorded in [`Server::violations`].
    pub fn handle(&mut self, request: &Request<Vec<u8>>, now: SystemTime) -> Response<Vec<u8>> {
        let dialect = self.config.dialect;
        match self.dispatch(request, now) {
            Ok(reply) => reply.into_response(&dialect),
            Err(fail) => {
                if let Fail::Violation { reason, .. } = &fail {
                    self.violations.push(Violation {
                        request: label(request),
                        reason: reason.clone(),
                    });
                }
                fail.into_response(&dialect, now)
            }
        }
    }

    /// Every violation so far, oldest first.
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// Every code sent so far, oldest first: SMS codes of client sign-in, email codes of
    /// Back Office 2FA and of client password resets.
    pub fn outbox(&self) -> &[SentCode] {
        &self.outbox
    }

    /// The last code sent to a phone number or email address (compared exactly).
    pub fn last_code_to(&self, to: &str) -> Option<&str> {
        self.outbox
            .iter()
            .rev()
            .find(|sent| sent.to == to)
            .map(|sent| sent.code.as_str())
    }

    /// The Google Authenticator code of a client account at `now` (six digits, a new one
    /// every 30 seconds of Unix time), or `None` if there is no such client or its Google
    /// 2FA is off.
    pub fn google_code(&self, email: &str, now: SystemTime) -> Option<String> {
        let record = self.clients.get(&email_key(email))?;
        record
            .account
            .google
            .then(|| accounts::google_code(record.google_secret, accounts::google_period(now)))
    }

    /// True if `token` (access or refresh) was issued and then revoked by a refresh or a
    /// sign-out. Expired and never-issued tokens are not "revoked", nor is an old access
    /// token that a refresh left live under [`Dialect::access_outlives_refresh`] (see
    /// **Revocation** in the [module docs](self)).
    pub fn is_revoked(&self, token: &str) -> bool {
        self.sessions.is_revoked(token)
    }

    fn next_id(&mut self) -> u64 {
        let id = self.next_account_id;
        self.next_account_id = self.next_account_id.wrapping_add(1);
        id
    }

    fn send_code(&mut self, channel: Channel, to: &str) -> String {
        let code = self.rng.code();
        self.outbox.push(SentCode {
            channel,
            to: to.to_owned(),
            code: code.clone(),
        });
        code
    }

    fn dispatch(&mut self, request: &Request<Vec<u8>>, now: SystemTime) -> Outcome {
        let path = request.uri().path();
        let Some(&(_, ref method, route)) = ROUTES.iter().find(|(p, _, _)| *p == path) else {
            return Err(Fail::violation(404, "no such endpoint"));
        };
        if request.method() != method {
            return Err(Fail::Violation {
                status: 405,
                reason: format!("method not allowed here; the page documents {method}"),
                allow: Some(method.as_str()),
            });
        }
        if request.uri().query().is_some() {
            return Err(Fail::violation(400, "unexpected query string"));
        }
        if request.body().len() > MAX_BODY {
            return Err(Fail::violation(413, "body larger than 64 KiB"));
        }
        if route.is_client_wizard() {
            // The sign-up page's curl shows no headers: there, they may be left out.
            let required = !matches!(route, Route::SignUpWizard | Route::SignUp);
            check_wizard_headers(request, required)?;
        }
        let body = request.body();
        match route {
            Route::SignInWizard => Ok(self.sign_in_wizard()),
            Route::SignIn => self.sign_in(decode(body)?, now),
            Route::ChooseMethod => self.choose_method(decode(body)?),
            Route::CodeGoogle => self.submit_code(client::Method::Google, decode(body)?, now),
            Route::CodeSms => self.submit_code(client::Method::Sms, decode(body)?, now),
            Route::Restore => self.restore(decode(body)?),
            Route::Reset => self.reset(decode(body)?),
            Route::SignUpWizard => self.sign_up_wizard(decode(body)?),
            Route::SignUp => self.sign_up(decode(body)?),
            Route::StaffSignIn => self.staff_sign_in(decode(body)?, now),
            Route::StaffConfirm => self.staff_confirm(decode(body)?, now),
            Route::StaffRefresh => self.refresh(tokens::Realm::Staff, decode(body)?, now),
            Route::ClientRefresh => self.refresh(tokens::Realm::Client, decode(body)?, now),
            Route::StaffSignOut => self.sign_out(tokens::Realm::Staff, request, now),
            Route::ClientSignOut => self.sign_out(tokens::Realm::Client, request, now),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Route {
    SignInWizard,
    SignIn,
    ChooseMethod,
    CodeGoogle,
    CodeSms,
    Restore,
    Reset,
    SignUpWizard,
    SignUp,
    StaffSignIn,
    StaffConfirm,
    StaffRefresh,
    ClientRefresh,
    StaffSignOut,
    ClientSignOut,
}

impl Route {
    fn is_client_wizard(self) -> bool {
        matches!(
            self,
            Self::SignInWizard
                | Self::SignIn
                | Self::ChooseMethod
                | Self::CodeGoogle
                | Self::CodeSms
                | Self::Restore
                | Self::Reset
                | Self::SignUpWizard
                | Self::SignUp
        )
    }
}

/// Every documented path, its one method, and what answers it.
const ROUTES: &[(&str, Method, Route)] = &[
    ("/api/v2/my/signin/wizard", Method::GET, Route::SignInWizard),
    ("/api/v2/my/signin", Method::POST, Route::SignIn),
    ("/api/v2/my/signin/2fa", Method::POST, Route::ChooseMethod),
    ("/api/v2/my/2fa/google", Method::POST, Route::CodeGoogle),
    ("/api/v2/my/2fa/sms", Method::POST, Route::CodeSms),
    (
        "/api/v2/my/signin/password/restore",
        Method::POST,
        Route::Restore,
    ),
    (
        "/api/v2/my/signin/password/reset",
        Method::POST,
        Route::Reset,
    ),
    (
        "/api/v2/my/signup/wizard",
        Method::POST,
        Route::SignUpWizard,
    ),
    ("/api/v2/my/signup", Method::POST, Route::SignUp),
    ("/api/v2/signin", Method::POST, Route::StaffSignIn),
    ("/api/v2/2fa/confirm", Method::POST, Route::StaffConfirm),
    ("/api/v2/refresh", Method::POST, Route::StaffRefresh),
    ("/api/v2/my/refresh", Method::POST, Route::ClientRefresh),
    ("/api/v2/signout", Method::POST, Route::StaffSignOut),
    ("/api/v2/my/signout", Method::POST, Route::ClientSignOut),
];

/// `METHOD /path`, the path cut to a sane length.
fn label(request: &Request<Vec<u8>>) -> String {
    let path: String = request.uri().path().chars().take(MAX_LABEL_PATH).collect();
    format!("{} {}", request.method(), path)
}

/// The sign-in page's headers: `Accept` listing `application/json`, `Content-Type` of
/// `application/json` (parameters allowed). Not `required`: each may be absent, but one
/// that is there must say JSON.
fn check_wizard_headers(request: &Request<Vec<u8>>, required: bool) -> Result<(), Fail> {
    let media = |v: &str| {
        v.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/json")
    };
    let accept = request.headers().get_all(ACCEPT);
    let accepts = accept
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(media));
    let absent = accept.iter().next().is_none();
    if !accepts && (required || !absent) {
        return Err(Fail::violation(
            400,
            "missing header `Accept: application/json`",
        ));
    }
    let mut content_types = request.headers().get_all(CONTENT_TYPE).iter();
    let ok = match (content_types.next(), content_types.next()) {
        (Some(v), None) => v.to_str().map(media).unwrap_or(false),
        (None, _) => !required,
        _ => false,
    };
    if !ok {
        return Err(Fail::violation(
            400,
            "missing header `Content-Type: application/json`",
        ));
    }
    Ok(())
}

/// Reads a body as the simulator's own struct: it must be a JSON object with the
/// documented fields. The reason never quotes a value from the body.
fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, Fail> {
    // One pass for a body that is an object of the documented shape. Anything else is read
    // again below, which says why: a typed read accepts only what that path accepts.
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        if let Ok(parsed) = serde_json::from_slice(body) {
            return Ok(parsed);
        }
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|_| Fail::violation(400, "body is not JSON"))?;
    if !value.is_object() {
        return Err(Fail::violation(400, "body is not a JSON object"));
    }
    serde_json::from_value(value).map_err(|e| Fail::violation(400, describe(&e)))
}

/// A serde error as text that names fields but never echoes a value.
fn describe(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let text = text.split(" at line ").next().unwrap_or("");
    if text.starts_with("missing field")
        || text.starts_with("unknown field")
        || text.starts_with("duplicate field")
    {
        // These quote only field names (ours or the client's key).
        let mut text = text.to_owned();
        text.truncate(300);
        return text;
    }
    // `invalid type: string "hunter2", expected ...`: keep only what was expected (the
    // last `, expected `: the value before it may hold those words too).
    match text.rsplit_once(", expected ") {
        Some((_, expected)) => format!("a field has the wrong type (expected {expected})"),
        None => "body does not have the documented shape".to_owned(),
    }
}

/// What a handler answers on success: the status and the JSON body, already written.
pub(crate) struct Reply {
    status: u16,
    body: Option<Vec<u8>>,
    /// A client wizard's envelope, whose status line the dialect decides.
    wizard: bool,
}

/// The wizard envelope as written. Every answer struct of the simulator lists its fields in
/// key order, so its bytes are those of the same object built as a `serde_json::Value`.
#[derive(Serialize)]
struct Envelope<'a, D> {
    code: u16,
    data: D,
    done: bool,
    uuid: &'a str,
    workflow: &'a str,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorObject<'a>,
}

#[derive(Serialize)]
struct ErrorObject<'a> {
    code: u16,
    details: [ErrorDetail<'a>; 1],
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    issue: &'a str,
}

impl Reply {
    pub(crate) fn json(status: u16, body: &impl Serialize) -> Self {
        Self {
            status,
            body: Some(to_json(body)),
            wizard: false,
        }
    }

    pub(crate) fn empty(status: u16) -> Self {
        Self {
            status,
            body: None,
            wizard: false,
        }
    }

    /// A client wizard's envelope, with the HTTP status equal to `code` (or 200, as the
    /// dialect says).
    pub(crate) fn envelope(
        code: u16,
        data: impl Serialize,
        done: bool,
        uuid: &str,
        workflow: &str,
    ) -> Self {
        Self {
            wizard: true,
            ..Self::json(
                code,
                &Envelope {
                    code,
                    data,
                    done,
                    uuid,
                    workflow,
                },
            )
        }
    }

    fn into_response(self, dialect: &Dialect) -> Response<Vec<u8>> {
        let code = match dialect.status {
            StatusLine::Always200 if self.wizard => 200,
            _ => self.status,
        };
        match self.body {
            Some(body) => json_response(code, body, dialect),
            None => {
                let mut response = Response::new(Vec::new());
                *response.status_mut() = status(code);
                response
            }
        }
    }
}

/// Why a handler refused.
#[derive(Debug)]
pub(crate) enum Fail {
    /// A request a conforming client never sends: answered and recorded.
    Violation {
        status: u16,
        reason: String,
        allow: Option<&'static str>,
    },
    /// An expected refusal (wrong password, code, expired token).
    Refused { status: u16, issue: &'static str },
    /// Rate limited: 429 with `Retry-After`.
    Limited { retry_after: u64 },
    /// The simulator cannot answer (a `now` outside what timestamps can express).
    Internal { issue: &'static str },
}

pub(crate) type Outcome = Result<Reply, Fail>;

impl Fail {
    pub(crate) fn violation(status: u16, reason: impl Into<String>) -> Self {
        Self::Violation {
            status,
            reason: reason.into(),
            allow: None,
        }
    }

    pub(crate) fn refused(status: u16, issue: &'static str) -> Self {
        Self::Refused { status, issue }
    }

    fn into_response(self, dialect: &Dialect, now: SystemTime) -> Response<Vec<u8>> {
        match self {
            Self::Violation {
                status,
                reason,
                allow,
            } => {
                let mut response = error_response(status, &reason, dialect);
                if let Some(allow) = allow {
                    response
                        .headers_mut()
                        .insert(ALLOW, HeaderValue::from_static(allow));
                }
                response
            }
            Self::Refused { status, issue } => error_response(status, issue, dialect),
            Self::Limited { retry_after } => {
                let Some(value) = dialect.retry_after_value(now, retry_after) else {
                    return error_response(500, "time out of range", dialect);
                };
                let issue = format!("too many attempts; retry in {retry_after} seconds");
                let mut response = error_response(429, &issue, dialect);
                response.headers_mut().insert(RETRY_AFTER, value);
                response
            }
            Self::Internal { issue } => error_response(500, issue, dialect),
        }
    }
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Writes an answer body. The simulator's structs always serialize; `{}` is never used.
fn to_json(body: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec())
}

fn json_response(code: u16, bytes: Vec<u8>, dialect: &Dialect) -> Response<Vec<u8>> {
    let mut response = Response::new(dialect.finish_json(bytes));
    *response.status_mut() = status(code);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, dialect.content_type());
    response
}

fn error_response(code: u16, issue: &str, dialect: &Dialect) -> Response<Vec<u8>> {
    json_response(
        code,
        to_json(&ErrorBody {
            error: ErrorObject {
                code,
                details: [ErrorDetail { issue }],
            },
        }),
        dialect,
    )
}
