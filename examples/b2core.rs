//! `b2core`: a blocking command-line client for real B2Core hosts, on the crate's flows
//! and [`ureq`] (see `support/blocking_http.rs`).
//!
//! ```text
//! b2core --host URL [--strict] COMMAND [OPTIONS]
//!
//! b2core --host URL client-signin --email E [--method google|sms] [--code C]
//!                                 [--user-agent UA] [--recaptcha R]
//! b2core --host URL client-signup --email E --given-name G --family-name F
//!                                 [--country-code C] [--referral R] [--url TEMPLATE]
//! b2core --host URL client-refresh
//! b2core --host URL client-signout
//! b2core --host URL bo-signin --email E [--code C]
//! b2core --host URL bo-refresh
//! b2core --host URL bo-signout
//! b2core --host URL conformance [--method google|sms] [--user-agent UA] [--recaptcha R]
//!                               [--given-name G] [--family-name F]
//! ```
//!
//! Run it with `cargo run --example b2core -- --host https://host.name client-signin --email E`.
//!
//! `--host` is `https://`, or `http://` to a loopback host only (`localhost`,
//! `127.0.0.0/8`, `[::1]`): cleartext to any other host is refused (exit 2), as
//! `Endpoint::new` refuses it. No redirect is followed (`support/blocking_http.rs`): a 3xx
//! answer fails the run (exit 1), and the request's password or token goes nowhere else.
//!
//! **Secrets never come from flags** (flags show up in `ps` and shell history):
//!
//! | variable | what | used by |
//! |---|---|---|
//! | `B2CORE_PASSWORD` | the password | `client-signin`, `client-signup`, `bo-signin` |
//! | `B2CORE_NEW_PASSWORD` | the new password when the host forces a reset | `client-signin`, `conformance` |
//! | `B2CORE_REFRESH_TOKEN` | the refresh token | `client-refresh`, `bo-refresh` |
//! | `B2CORE_ACCESS_TOKEN` | the access token | `client-signout`, `bo-signout` |
//! | `B2CORE_CLIENT_EMAIL`, `B2CORE_CLIENT_PASSWORD` | a client test account | `conformance` |
//! | `B2CORE_STAFF_EMAIL`, `B2CORE_STAFF_PASSWORD` | a Back Office test account | `conformance` |
//! | `B2CORE_SIGNUP_EMAIL`, `B2CORE_SIGNUP_PASSWORD` | an account to create | `conformance` |
//!
//! An unset variable is read from standard input (one line, after a prompt on stderr;
//! the line is echoed if stdin is a terminal). So are a 2FA code not given by `--code`,
//! the code of a forced password reset, and, without `--method`, the choice between
//! `google` and `sms` when the account has both. (`conformance` reads no email from
//! stdin: an unset `*_EMAIL` skips that flow.)
//!
//! **Output.** On success the token pair goes to stdout as one line of JSON in the
//! vendor's shape, `{"accessToken":{"token","createdAt","expiresAt"},"refreshToken":{...}}`
//! (sign-out prints nothing on stdout); progress (each request line and status, never a
//! body) goes to stderr. A failure is one line on stderr. No password, token or code is
//! ever written to stderr.
//!
//! **Deviations.** An answer that departs from the vendor's pages on a point the pages
//! leave open (the body's `code` against the HTTP status, `code`/`done` against the
//! `workflow`, a wizard answer without its `uuid`, a sign-out answered with another 2xx
//! than 200) does not stop a run: each is printed on stderr, one line after the request's
//! progress line, as `deviation: STEP: `FIELD`: WHAT THE PAGES SAY; found WHAT CAME`.
//! With `--strict` (before or after the command) every deviation is an error instead:
//! the run fails with exit 1, as for any answer that breaks the protocol.
//!
//! **Conformance.** `b2core --host URL conformance` checks a host against the pages with
//! test accounts, running every flow it has an account for, one after the other:
//!
//! | flow | needs | runs |
//! |---|---|---|
//! | `client` | `B2CORE_CLIENT_EMAIL` (+ `B2CORE_CLIENT_PASSWORD`) | client sign-in, refresh and sign-out with the pair it got |
//! | `back-office` | `B2CORE_STAFF_EMAIL` (+ `B2CORE_STAFF_PASSWORD`) | Back Office sign-in, refresh, sign-out |
//! | `sign-up` | `B2CORE_SIGNUP_EMAIL` (+ `B2CORE_SIGNUP_PASSWORD`, else `B2CORE_CLIENT_PASSWORD`) | sign-up (**it creates the account**), the sign-in the host asks for after it, sign-out |
//!
//! A flow whose email variable is unset is skipped (listed, never prompted for); a
//! password variable that is unset is read from stdin before anything is sent (the
//! sign-up takes the client account's password when it has none of its own). 2FA codes,
//! a method choice and a forced reset are read from stdin when asked for, as for the other
//! commands; progress and each deviation go to stderr as they happen. The table names no
//! account. It is lenient by default, so that it sees every deviation; with `--strict`,
//! the first deviation fails its flow (and the run goes on with the next flow). A rate
//! limit is waited out as by the other commands: a 429 is a row of the table, and the
//! request sent again after the wait is another. On stdout, once all flows have run, one
//! table and a summary line:
//!
//! ```text
//! flow         request                       status  deviations
//! client       GET /api/v2/my/signin/wizard  200     -
//! client       POST /api/v2/my/signin        200     code: `code` 202 with HTTP status 200
//! client       POST /api/v2/my/refresh       200     -
//! client       POST /api/v2/my/signout       200     -
//! back-office  -                             -       skipped: B2CORE_STAFF_EMAIL is unset
//! sign-up      -                             -       skipped: B2CORE_SIGNUP_EMAIL is unset
//! summary: 4 requests, 1 deviation; flows: 1 run, 2 skipped, 0 failed; deviates
//! ```
//!
//! Columns are separated by at least two spaces. The `deviations` cell holds
//! `FIELD: FOUND` for each deviation of that answer (`; ` between them), `-` for none,
//! `failed: WHY` when the answer could not be read (or the request not sent), and a flow
//! that fails after a readable answer (a refusal, say) gets a row of its own with
//! `failed: WHY`. The last word is `conforms` (no deviation, no failure), `deviates` or
//! `failed`.
//!
//! **Rate limits are waited out.** When the host answers 429 (a `RetryAt` step) or the
//! crate's own attempt limit holds a request instead of sending it (a call returns
//! `Outgoing::RetryAt`), the CLI writes `rate limited until T: waiting N s before sending
//! again` on stderr, sleeps until `T` and calls `retry` with the clock's `now`: the held
//! request goes out again (it counts as an attempt). A wait longer than 15 minutes (the
//! documented limits are at most 10) fails the run instead, exit 1: the host's
//! `Retry-After` cannot hang it. Every call gets `SystemTime::now()`.
//!
//! **Exit codes.** 0 success; 1 refused or failed (wrong credentials or code, a rate
//! limit longer than 15 minutes, host unreachable, an answer that breaks the protocol, a
//! deviation with `--strict`); 2 usage error (bad or missing arguments or input; nothing
//! was sent for the step at fault); 3 sign-out of a token the host says is already revoked
//! or expired (its 401). `conformance`: 0 every flow it ran completed and no answer
//! deviated; 4 they all completed but the host deviates; 1 a flow failed; 2 usage (no test
//! account given, a bad option, an input stdin did not give).
//!
//! **Refresh and sign-out from one token.** `client-refresh` and `bo-refresh` start a
//! session from the refresh token alone (`Session::from_refresh_token`), `client-signout`
//! and `bo-signout` from the access token alone (`Session::from_access_token`): nothing
//! else is made up or sent. The command line gives the token without its times, and only
//! the host knows when it expires: the CLI takes it as valid for the one request it makes
//! now (`createdAt` now, `expiresAt` a minute later), so the session sends it and the host
//! decides (a refused refresh token is exit 1, a revoked or expired access token exit 3).
//! The pair printed after a refresh is the host's, with its real times.
//!
//! Every refusal is final: a wrong password or code ends the run with exit 1 (run it again).
//! A sign-up that ends without tokens (the vendor's documented answer) signs in with the
//! same email and password.

#[path = "support/blocking_http.rs"]
mod blocking_http;

use std::cell::{Cell, RefCell};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use b2core_auth::backoffice::{StaffSignIn, StaffStep};
use b2core_auth::client::{
    Credentials, Method, SignIn, SignInStep, SignUp, SignUpForm, SignUpStep,
};
use b2core_auth::{
    ApiError, Deviation, DeviceFingerprint, Endpoint, Error, Flow, Outgoing, Realm, Secret,
    Session, SessionStep, Token, TokenPair,
};

const USAGE: &str = "\
usage: b2core --host URL [--strict] COMMAND [OPTIONS]

commands:
  client-signin --email E [--method google|sms] [--code C] [--user-agent UA] [--recaptcha R]
  client-signup --email E --given-name G --family-name F [--country-code C] [--referral R]
                [--url TEMPLATE]
  client-refresh
  client-signout
  bo-signin --email E [--code C]
  bo-refresh
  bo-signout
  conformance [--method google|sms] [--user-agent UA] [--recaptcha R]
              [--given-name G] [--family-name F]
      runs every flow it has a test account for and reports how the host's answers
      depart from the vendor's pages; accounts from the environment (a flow whose
      email is unset is skipped; an unset password is read from standard input):
        B2CORE_CLIENT_EMAIL, B2CORE_CLIENT_PASSWORD: client sign-in, refresh, sign-out
        B2CORE_STAFF_EMAIL, B2CORE_STAFF_PASSWORD: Back Office sign-in, refresh, sign-out
        B2CORE_SIGNUP_EMAIL, B2CORE_SIGNUP_PASSWORD (else B2CORE_CLIENT_PASSWORD):
          sign-up (it creates the account), sign-in, sign-out
      stdout: a table (flow, request, status, deviations) and a summary line

--strict: a deviation from the vendor's pages is an error (exit 1) instead of a line
  `deviation: ...` on stderr; with conformance, the first deviation fails its flow

secrets come from the environment, or one line of standard input when unset:
  B2CORE_PASSWORD, B2CORE_NEW_PASSWORD (forced reset), B2CORE_REFRESH_TOKEN, B2CORE_ACCESS_TOKEN

rate limits (the host's 429, the crate's own attempt limits) are waited out, up to 15 minutes,
  with a notice on stderr; then the request is sent again

stdout: the token pair as JSON (nothing for sign-out); stderr: progress and errors.
exit: 0 ok, 1 refused or failed, 2 usage error, 3 sign-out of a token already revoked/expired,
  4 conformance: every flow completed but the host deviates from the pages";

/// The user agent of the device fingerprint when `--user-agent` is not given.
const DEFAULT_USER_AGENT: &str = "b2core-auth-cli/0.1";
/// How long a token given alone on the command line is taken to be valid: long enough for
/// the one request made with it at once (its real expiry is the host's to know).
const ONE_REQUEST: Duration = Duration::from_secs(60);
/// The longest rate limit the CLI waits out; a longer one fails the run (exit 1). The
/// documented limits are at most 10 minutes (the client sign-in block).
const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// The names a conformance sign-up gives when `--given-name` / `--family-name` are not.
const CONFORMANCE_GIVEN_NAME: &str = "Conformance";
const CONFORMANCE_FAMILY_NAME: &str = "Check";

/// Why a run failed: the message (one line, no secret) and so the exit code.
enum Fail {
    /// Exit 1.
    Failed(String),
    /// Exit 2.
    Usage(String),
    /// Exit 3.
    AlreadyRevoked(String),
}

impl Fail {
    fn message(&self) -> &str {
        match self {
            Fail::Failed(m) | Fail::Usage(m) | Fail::AlreadyRevoked(m) => m,
        }
    }
}

fn failed(message: impl Into<String>) -> Fail {
    Fail::Failed(message.into())
}

fn usage(message: impl Into<String>) -> Fail {
    Fail::Usage(message.into())
}

/// A flow's error as a failure. Errors never hold a secret (the crate promises it).
fn flow_error(error: Error) -> Fail {
    match error {
        Error::Refused(api) => failed(format!("refused: {api}")),
        // Input the crate checked before sending: the flag or line at fault.
        Error::InvalidInput { field, .. } if field != "2FA token" => usage(error.to_string()),
        other => failed(other.to_string()),
    }
}

fn refused(what: &str, error: &ApiError) -> Fail {
    failed(format!("{what} refused: {error}"))
}

/// Sleeps until `at`, the end of a rate limit, after a notice on stderr; a wait longer
/// than [`MAX_WAIT`] fails instead.
fn wait_until(at: SystemTime) -> Result<(), Fail> {
    let left = at.duration_since(SystemTime::now()).unwrap_or_default();
    if left > MAX_WAIT {
        return Err(failed(format!(
            "rate limited until {}: longer than the {} minutes this client waits",
            rfc3339(at),
            MAX_WAIT.as_secs() / 60
        )));
    }
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    eprintln!(
        "rate limited until {}: waiting {secs} s before sending again",
        rfc3339(at)
    );
    // Until the clock says so: a sleep may end early by the wall clock's reckoning.
    while let Some(left) = at
        .duration_since(SystemTime::now())
        .ok()
        .filter(|d| !d.is_zero())
    {
        std::thread::sleep(left);
    }
    Ok(())
}

/// The request a call of `flow` returned; when the flow holds it for a rate limit
/// (`Outgoing::RetryAt`), after waiting until then and asking the flow to send it.
fn request_of<F: Flow>(
    flow: &mut F,
    mut outgoing: Outgoing,
) -> Result<http::Request<Vec<u8>>, Fail> {
    loop {
        match outgoing {
            Outgoing::Request(request) => return Ok(request),
            Outgoing::RetryAt(at) => {
                wait_until(at)?;
                outgoing = flow.retry(SystemTime::now()).map_err(flow_error)?;
            }
        }
    }
}

/// After a `RetryAt(at)` step (the host's 429): waits until then and sends again.
fn wait_and_retry<F: Flow>(flow: &mut F, at: SystemTime) -> Result<Outgoing, Fail> {
    wait_until(at)?;
    flow.retry(SystemTime::now()).map_err(flow_error)
}

fn rfc3339(t: SystemTime) -> String {
    b2core_auth::format_rfc3339(t).unwrap_or_else(|_| "a time out of range".into())
}

/// Text from the host made safe for one line of a terminal: control characters (a
/// newline, an escape sequence) are written as escapes.
fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// How a run ended well.
enum Done {
    /// Exit 0, the pair on stdout.
    Tokens(TokenPair),
    /// Exit 0, nothing (more) on stdout.
    Quiet,
    /// Exit 4: `conformance` completed every flow and the host deviates.
    Deviates,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(args) {
        Ok(Done::Tokens(tokens)) => match serde_json::to_string(&tokens) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("b2core: cannot write the tokens: {e}");
                ExitCode::from(1)
            }
        },
        Ok(Done::Quiet) => ExitCode::SUCCESS,
        Ok(Done::Deviates) => ExitCode::from(4),
        Err(Fail::Failed(message)) => {
            eprintln!("b2core: {message}");
            ExitCode::from(1)
        }
        Err(Fail::Usage(message)) => {
            eprintln!("b2core: {message} (see b2core --help)");
            ExitCode::from(2)
        }
        Err(Fail::AlreadyRevoked(message)) => {
            eprintln!("b2core: {message}");
            ExitCode::from(3)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Arguments, by hand: `--name value` or `--name=value`, `--host` and `--strict` anywhere.

/// The options of one command: taken one by one; any left over is a usage error.
struct Options {
    command: String,
    given: Vec<(String, String)>,
}

impl Options {
    fn take(&mut self, name: &str) -> Option<String> {
        let at = self.given.iter().position(|(n, _)| n == name)?;
        Some(self.given.remove(at).1)
    }

    fn require(&mut self, name: &str) -> Result<String, Fail> {
        self.take(name)
            .ok_or_else(|| usage(format!("{} needs --{name}", self.command)))
    }

    fn finish(self) -> Result<(), Fail> {
        match self.given.first() {
            None => Ok(()),
            Some((name, _)) => Err(usage(format!("{} does not take --{name}", self.command))),
        }
    }
}

fn run(args: Vec<String>) -> Result<Done, Fail> {
    let mut host = None;
    let mut strict = false;
    let mut command = None;
    let mut given: Vec<(String, String)> = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--help" || arg == "-h" {
            println!("{USAGE}");
            return Ok(Done::Quiet);
        }
        if arg == "--strict" {
            if strict {
                return Err(usage("--strict is given twice"));
            }
            strict = true;
            continue;
        }
        if let Some(flag) = arg.strip_prefix("--") {
            let (name, value) = match flag.split_once('=') {
                Some(("strict", _)) => return Err(usage("--strict takes no value")),
                Some((name, value)) => (name.to_owned(), value.to_owned()),
                None => {
                    let value = args
                        .next()
                        .ok_or_else(|| usage(format!("--{flag} needs a value")))?;
                    (flag.to_owned(), value)
                }
            };
            if given.iter().any(|(n, _)| *n == name) || (name == "host" && host.is_some()) {
                return Err(usage(format!("--{name} is given twice")));
            }
            if name == "host" {
                host = Some(value);
            } else {
                given.push((name, value));
            }
        } else if command.is_none() {
            command = Some(arg);
        } else {
            return Err(usage(format!("unexpected argument `{arg}`")));
        }
    }
    let command = command.ok_or_else(|| usage("no command given"))?;
    let host = host.ok_or_else(|| usage("--host URL is required"))?;
    let mut endpoint = Endpoint::new(&host).map_err(|e| usage(format!("--host {host}: {e}")))?;
    if strict {
        endpoint = endpoint.strict();
    }
    let cli = Cli::new(endpoint);
    let mut opts = Options {
        command: command.clone(),
        given,
    };
    match command.as_str() {
        "client-signin" => {
            let email = opts.require("email")?;
            let choices = SignInChoices {
                method: opts.take("method").map(|m| parse_method(&m)).transpose()?,
                code: opts.take("code"),
                user_agent: opts.take("user-agent"),
                recaptcha: opts.take("recaptcha"),
            };
            opts.finish()?;
            let password = secret("B2CORE_PASSWORD", "password")?;
            cli.client_sign_in(&email, password, choices)
                .map(Done::Tokens)
        }
        "client-signup" => {
            let form = SignUpArgs {
                email: opts.require("email")?,
                given_name: opts.require("given-name")?,
                family_name: opts.require("family-name")?,
                country_code: opts.take("country-code"),
                referral: opts.take("referral"),
                url: opts.take("url"),
            };
            opts.finish()?;
            let password = secret("B2CORE_PASSWORD", "password")?;
            cli.client_sign_up(form, password, SignInChoices::default())
                .map(Done::Tokens)
        }
        "client-refresh" | "bo-refresh" => {
            opts.finish()?;
            let realm = realm_of(&command);
            let token = secret("B2CORE_REFRESH_TOKEN", "refresh token")?;
            cli.refresh(realm, token).map(Done::Tokens)
        }
        "client-signout" | "bo-signout" => {
            opts.finish()?;
            let realm = realm_of(&command);
            let token = secret("B2CORE_ACCESS_TOKEN", "access token")?;
            cli.sign_out(realm, token).map(|()| Done::Quiet)
        }
        "bo-signin" => {
            let email = opts.require("email")?;
            let code = opts.take("code");
            opts.finish()?;
            let password = secret("B2CORE_PASSWORD", "password")?;
            cli.staff_sign_in(&email, password, code).map(Done::Tokens)
        }
        "conformance" => {
            let choices = SignInChoices {
                method: opts.take("method").map(|m| parse_method(&m)).transpose()?,
                code: None,
                user_agent: opts.take("user-agent"),
                recaptcha: opts.take("recaptcha"),
            };
            let names = (
                opts.take("given-name")
                    .unwrap_or_else(|| CONFORMANCE_GIVEN_NAME.into()),
                opts.take("family-name")
                    .unwrap_or_else(|| CONFORMANCE_FAMILY_NAME.into()),
            );
            opts.finish()?;
            let accounts = TestAccounts::from_env()?;
            cli.conformance(accounts, choices, names)
        }
        other => Err(usage(format!("unknown command `{other}`"))),
    }
}

fn realm_of(command: &str) -> Realm {
    if command.starts_with("bo-") {
        Realm::BackOffice
    } else {
        Realm::Client
    }
}

fn parse_method(name: &str) -> Result<Method, Fail> {
    match name.trim() {
        "google" => Ok(Method::Google),
        "sms" => Ok(Method::Sms),
        other => Err(usage(format!(
            "unknown 2FA method `{other}` (google or sms)"
        ))),
    }
}

// ---------------------------------------------------------------------------------------
// Input: secrets from the environment or stdin, answers from stdin.

/// A secret from `var`, or from one line of stdin when `var` is unset.
fn secret(var: &str, what: &str) -> Result<Secret<String>, Fail> {
    match optional_var(var)? {
        Some(value) => Ok(Secret::new(value)),
        None => ask(&format!("{what} ({var} is unset)")).map(Secret::new),
    }
}

/// `var`, `None` when unset.
fn optional_var(var: &str) -> Result<Option<String>, Fail> {
    match std::env::var(var) {
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(usage(format!("{var} is not UTF-8"))),
    }
}

/// One line of stdin after a prompt on stderr (the prompt names what, never a value).
fn ask(what: &str) -> Result<String, Fail> {
    eprintln!("{what}: reading one line from standard input");
    let mut line = String::new();
    match std::io::stdin().read_line(&mut line) {
        Ok(0) => Err(usage(format!("no {what}: standard input ended"))),
        Ok(_) => Ok(line.trim_end_matches(['\r', '\n']).to_owned()),
        Err(e) => Err(usage(format!(
            "cannot read {what} from standard input: {e}"
        ))),
    }
}

// ---------------------------------------------------------------------------------------
// The flows, each a loop over the crate's steps.

struct Cli {
    endpoint: Endpoint,
    http: blocking_http::Client,
    /// The name of the flow running (for the conformance table).
    flow: Cell<&'static str>,
    /// Every request sent, its status and the deviations of its answer.
    log: RefCell<Vec<Row>>,
}

/// One request of the run, as the conformance table shows it.
struct Row {
    flow: &'static str,
    /// `METHOD /path`.
    request: String,
    /// `None` when no answer came.
    status: Option<u16>,
    deviations: Vec<Deviation>,
    /// The flow read the answer (it may still have refused to go on).
    read: bool,
    /// Why the flow failed on this row.
    failure: Option<String>,
}

/// What `client-signin` was told beyond the email.
#[derive(Default, Clone)]
struct SignInChoices {
    method: Option<Method>,
    code: Option<String>,
    user_agent: Option<String>,
    recaptcha: Option<String>,
}

struct SignUpArgs {
    email: String,
    given_name: String,
    family_name: String,
    country_code: Option<String>,
    referral: Option<String>,
    url: Option<String>,
}

impl Cli {
    fn new(endpoint: Endpoint) -> Self {
        Self {
            endpoint,
            http: blocking_http::Client::new(),
            flow: Cell::new("-"),
            log: RefCell::new(Vec::new()),
        }
    }

    /// Sends what a call of `flow` returned (after waiting out a rate limit, see
    /// [`request_of`]) and reports its line and status on stderr (no header, no body).
    fn send<F: Flow>(
        &self,
        flow: &mut F,
        outgoing: Outgoing,
    ) -> Result<http::Response<Vec<u8>>, Fail> {
        let request = request_of(flow, outgoing)?;
        let line = format!("{} {}", request.method(), request.uri().path());
        let result = self.http.send(request);
        let status = result.as_ref().ok().map(|r| r.status().as_u16());
        self.log.borrow_mut().push(Row {
            flow: self.flow.get(),
            request: line.clone(),
            status,
            deviations: Vec::new(),
            read: false,
            failure: None,
        });
        let response = result.map_err(failed)?;
        eprintln!("{line} -> {}", response.status().as_u16());
        Ok(response)
    }

    /// The deviations of the answer just read: one line each on stderr, and kept for the
    /// table. Called after every `handle_response` that returned a step.
    fn read(&self, deviations: Vec<Deviation>) {
        for deviation in &deviations {
            eprintln!("deviation: {}", one_line(&deviation.to_string()));
        }
        if let Some(row) = self.log.borrow_mut().last_mut() {
            row.read = true;
            row.deviations.extend(deviations);
        }
    }

    fn client_sign_in(
        &self,
        email: &str,
        mut password: Secret<String>,
        mut choices: SignInChoices,
    ) -> Result<TokenPair, Fail> {
        let user_agent = choices.user_agent.as_deref().unwrap_or(DEFAULT_USER_AGENT);
        let fingerprint = DeviceFingerprint::from_user_agent(user_agent)
            .map_err(|e| usage(format!("--user-agent: {e}")))?;
        let mut flow = SignIn::new(self.endpoint.clone());
        let mut outgoing = flow.start(SystemTime::now()).map_err(flow_error)?;
        loop {
            let response = self.send(&mut flow, outgoing)?;
            let step = flow
                .handle_response(&response, SystemTime::now())
                .map_err(flow_error)?;
            self.read(flow.take_deviations());
            outgoing = match step {
                SignInStep::Credentials {
                    rejected: Some(e), ..
                } => return Err(refused("sign-in", &e)),
                SignInStep::Credentials { options, .. } => {
                    let mut credentials =
                        Credentials::new(email, password.clone(), fingerprint.clone());
                    match &choices.recaptcha {
                        Some(r) => credentials = credentials.with_recaptcha(r.clone()),
                        None if options.recaptcha_enabled => {
                            return Err(failed(
                                "the host requires reCAPTCHA: pass --recaptcha RESPONSE",
                            ))
                        }
                        None => {}
                    }
                    eprintln!("signing in as {email}");
                    flow.submit_credentials(credentials, SystemTime::now())
                }
                SignInStep::ChooseMethod {
                    rejected: Some(e), ..
                } => return Err(refused("the 2FA method", &e)),
                SignInStep::ChooseMethod { methods, .. } => {
                    let method = pick_method(&methods, choices.method)?;
                    eprintln!("2FA by {}", method.as_str());
                    flow.choose_method(method, SystemTime::now())
                }
                SignInStep::Code {
                    rejected: Some(e), ..
                } => return Err(refused("the 2FA code", &e)),
                SignInStep::Code { method, .. } => {
                    let code = match choices.code.take() {
                        Some(code) => code,
                        None => ask(&format!("the {} code", label(method)))?,
                    };
                    flow.submit_code(code, SystemTime::now())
                }
                SignInStep::PasswordResetRequired {
                    rejected: Some(e), ..
                } => return Err(refused("the password-reset request", &e)),
                SignInStep::PasswordResetRequired { .. } => {
                    eprintln!("the host requires a new password: a code goes to {email}");
                    flow.request_reset_code(SystemTime::now())
                }
                SignInStep::ResetCode {
                    rejected: Some(e), ..
                } => return Err(refused("the password reset", &e)),
                SignInStep::ResetCode { .. } => {
                    let code = ask(&format!("the code sent to {email}"))?;
                    password = secret("B2CORE_NEW_PASSWORD", "new password")?;
                    flow.reset_password(code, password.clone(), SystemTime::now())
                }
                SignInStep::PasswordChanged => {
                    eprintln!("password changed: signing in with the new one");
                    flow.start(SystemTime::now())
                }
                SignInStep::RetryAt(at) => Ok(wait_and_retry(&mut flow, at)?),
                SignInStep::Unsupported { workflow, .. } => {
                    return Err(failed(format!(
                        "the host asks for workflow `{}`, which this client does not drive",
                        one_line(&workflow)
                    )))
                }
                SignInStep::Done(tokens) => {
                    eprintln!("signed in");
                    return Ok(tokens);
                }
                other => return Err(failed(format!("unexpected step {other:?}"))),
            }
            .map_err(flow_error)?;
        }
    }

    /// A sign-up; when the host then asks for a sign-in (the documented answer), the
    /// sign-in with the same email and password, told `then`.
    fn client_sign_up(
        &self,
        args: SignUpArgs,
        password: Secret<String>,
        then: SignInChoices,
    ) -> Result<TokenPair, Fail> {
        let fingerprint =
            DeviceFingerprint::from_user_agent(DEFAULT_USER_AGENT).map_err(flow_error)?;
        let url = args
            .url
            .clone()
            .unwrap_or_else(|| format!("{}/register/{{registration}}/{{code}}", self.endpoint));
        let mut flow = SignUp::new(self.endpoint.clone());
        let mut outgoing = flow
            .start(&url, args.referral.as_deref(), SystemTime::now())
            .map_err(flow_error)?;
        loop {
            let response = self.send(&mut flow, outgoing)?;
            let step = flow
                .handle_response(&response, SystemTime::now())
                .map_err(flow_error)?;
            self.read(flow.take_deviations());
            outgoing = match step {
                SignUpStep::Form {
                    rejected: Some(e), ..
                } => return Err(refused("sign-up", &e)),
                SignUpStep::Form { .. } => {
                    let mut form = SignUpForm::new(
                        args.email.as_str(),
                        password.clone(),
                        password.clone(),
                        fingerprint.clone(),
                    )
                    .with_given_name(args.given_name.as_str())
                    .with_family_name(args.family_name.as_str());
                    if let Some(country) = &args.country_code {
                        form = form.with_country_code(country.as_str());
                    }
                    eprintln!("signing up as {}", args.email);
                    flow.submit(form, SystemTime::now()).map_err(flow_error)?
                }
                SignUpStep::Next { workflow, .. } => {
                    return Err(failed(format!(
                        "signed up, but the host asks for workflow `{}`, which this client does not drive",
                        one_line(&workflow)
                    )))
                }
                SignUpStep::SignInRequired => {
                    eprintln!("signed up: signing in with the same credentials");
                    return self.client_sign_in(&args.email, password, then);
                }
                SignUpStep::RetryAt(at) => wait_and_retry(&mut flow, at)?,
                SignUpStep::Done(tokens) => {
                    eprintln!("signed up and signed in");
                    return Ok(tokens);
                }
                other => return Err(failed(format!("unexpected step {other:?}"))),
            };
        }
    }

    fn staff_sign_in(
        &self,
        email: &str,
        password: Secret<String>,
        mut code: Option<String>,
    ) -> Result<TokenPair, Fail> {
        let mut flow = StaffSignIn::new(self.endpoint.clone());
        eprintln!("signing in to the Back Office as {email}");
        let mut outgoing = flow
            .sign_in(email, password, SystemTime::now())
            .map_err(flow_error)?;
        loop {
            let response = self.send(&mut flow, outgoing)?;
            let step = flow
                .handle_response(&response, SystemTime::now())
                .map_err(flow_error)?;
            self.read(flow.take_deviations());
            outgoing = match step {
                StaffStep::Credentials {
                    rejected: Some(e), ..
                } => return Err(refused("Back Office sign-in", &e)),
                StaffStep::EmailCode {
                    rejected: Some(e), ..
                } => return Err(refused("the 2FA code", &e)),
                StaffStep::EmailCode {
                    provider,
                    expires_at,
                    ..
                } => {
                    let code = match code.take() {
                        Some(code) => code,
                        None => ask(&format!(
                            "the code sent by {} (valid until {})",
                            one_line(&provider),
                            rfc3339(expires_at)
                        ))?,
                    };
                    flow.submit_code(code, SystemTime::now())
                        .map_err(flow_error)?
                }
                StaffStep::RetryAt(at) => wait_and_retry(&mut flow, at)?,
                StaffStep::Done(tokens) => {
                    eprintln!("signed in");
                    return Ok(tokens);
                }
                other => return Err(failed(format!("unexpected step {other:?}"))),
            };
        }
    }

    /// A token given alone, for the one request made with it now; see "Refresh and
    /// sign-out from one token" in the module docs.
    fn lone_token(value: Secret<String>) -> Result<Token, Fail> {
        let now = SystemTime::now();
        let until = now.checked_add(ONE_REQUEST).unwrap_or(now);
        Token::new(value, now, until).map_err(flow_error)
    }

    fn refresh(&self, realm: Realm, refresh_token: Secret<String>) -> Result<TokenPair, Fail> {
        let token = Self::lone_token(refresh_token)?;
        let mut session = Session::from_refresh_token(realm, self.endpoint.clone(), token);
        self.refresh_session(&mut session)?;
        session
            .tokens()
            .cloned()
            .ok_or_else(|| failed("the session holds no tokens after a refresh"))
    }

    /// Refreshes `session`'s tokens.
    fn refresh_session(&self, session: &mut Session) -> Result<(), Fail> {
        let mut outgoing = session.refresh(SystemTime::now()).map_err(flow_error)?;
        loop {
            let response = self.send(session, outgoing)?;
            let step = session
                .handle_response(&response, SystemTime::now())
                .map_err(flow_error)?;
            self.read(session.take_deviations());
            outgoing = match step {
                SessionStep::Active => {
                    eprintln!("refreshed");
                    return Ok(());
                }
                SessionStep::Ended => return Err(failed(format!(
                    "refresh refused (HTTP {}): the refresh token is unknown, expired or revoked; sign in again",
                    response.status().as_u16()
                ))),
                SessionStep::RetryAt(at) => wait_and_retry(session, at)?,
                other => return Err(failed(format!("unexpected step {other:?}"))),
            };
        }
    }

    fn sign_out(&self, realm: Realm, access_token: Secret<String>) -> Result<(), Fail> {
        let token = Self::lone_token(access_token)?;
        let mut session = Session::from_access_token(realm, self.endpoint.clone(), token);
        self.sign_out_session(&mut session)
    }

    /// Signs `session` out.
    fn sign_out_session(&self, session: &mut Session) -> Result<(), Fail> {
        let mut outgoing = session.sign_out(SystemTime::now()).map_err(flow_error)?;
        loop {
            let response = self.send(session, outgoing)?;
            let step = session
                .handle_response(&response, SystemTime::now())
                .map_err(flow_error)?;
            self.read(session.take_deviations());
            outgoing = match step {
                SessionStep::SignedOut {
                    already_revoked: false,
                } => {
                    eprintln!("signed out");
                    return Ok(());
                }
                SessionStep::SignedOut {
                    already_revoked: true,
                } => return Err(Fail::AlreadyRevoked(
                    "sign-out: the host answered 401: the access token was already revoked or has expired"
                        .into(),
                )),
                SessionStep::RetryAt(at) => wait_and_retry(session, at)?,
                other => return Err(failed(format!("unexpected step {other:?}"))),
            };
        }
    }
}

// ---------------------------------------------------------------------------------------
// `conformance`: every flow there is a test account for, and a table of what came.

/// One test account: an email and its password.
struct Account {
    email: String,
    password: Secret<String>,
}

/// The accounts of a conformance run, `None` for a flow to skip (and the variable why).
struct TestAccounts {
    client: Result<Account, &'static str>,
    staff: Result<Account, &'static str>,
    signup: Result<Account, &'static str>,
}

impl TestAccounts {
    /// Reads the emails from the environment, then each needed password from its
    /// variable or stdin, before anything is sent.
    fn from_env() -> Result<Self, Fail> {
        let client_email = optional_var("B2CORE_CLIENT_EMAIL")?;
        let staff_email = optional_var("B2CORE_STAFF_EMAIL")?;
        let signup_email = optional_var("B2CORE_SIGNUP_EMAIL")?;
        if client_email.is_none() && staff_email.is_none() && signup_email.is_none() {
            return Err(usage(
                "conformance needs a test account: set B2CORE_CLIENT_EMAIL, B2CORE_STAFF_EMAIL or B2CORE_SIGNUP_EMAIL",
            ));
        }
        let client = match client_email {
            Some(email) => Ok(Account {
                email,
                password: secret("B2CORE_CLIENT_PASSWORD", "client password")?,
            }),
            None => Err("B2CORE_CLIENT_EMAIL"),
        };
        let staff = match staff_email {
            Some(email) => Ok(Account {
                email,
                password: secret("B2CORE_STAFF_PASSWORD", "Back Office password")?,
            }),
            None => Err("B2CORE_STAFF_EMAIL"),
        };
        let signup = match signup_email {
            Some(email) => {
                // Its own, else the client account's (however that was given).
                let own = optional_var("B2CORE_SIGNUP_PASSWORD")?;
                let password = match (own, &client) {
                    (Some(own), _) => Secret::new(own),
                    (None, Ok(client)) => client.password.clone(),
                    (None, Err(_)) => match optional_var("B2CORE_CLIENT_PASSWORD")? {
                        Some(value) => Secret::new(value),
                        None => Secret::new(ask(
                            "sign-up password (B2CORE_SIGNUP_PASSWORD and B2CORE_CLIENT_PASSWORD are unset)",
                        )?),
                    },
                };
                Ok(Account { email, password })
            }
            None => Err("B2CORE_SIGNUP_EMAIL"),
        };
        Ok(Self {
            client,
            staff,
            signup,
        })
    }
}

/// How one flow of a conformance run ended.
enum FlowEnd {
    Skipped(&'static str),
    Completed,
    Failed(Fail),
}

impl Cli {
    fn conformance(
        &self,
        accounts: TestAccounts,
        choices: SignInChoices,
        (given_name, family_name): (String, String),
    ) -> Result<Done, Fail> {
        let mut ends: Vec<(&'static str, FlowEnd)> = Vec::new();

        let end = self.conformance_flow("client", &accounts.client, |account| {
            let tokens =
                self.client_sign_in(&account.email, account.password.clone(), choices.clone())?;
            let mut session = Session::client(self.endpoint.clone(), tokens);
            self.refresh_session(&mut session)?;
            self.sign_out_session(&mut session)
        });
        ends.push(("client", end));

        let end = self.conformance_flow("back-office", &accounts.staff, |account| {
            let tokens = self.staff_sign_in(&account.email, account.password.clone(), None)?;
            let mut session = Session::back_office(self.endpoint.clone(), tokens);
            self.refresh_session(&mut session)?;
            self.sign_out_session(&mut session)
        });
        ends.push(("back-office", end));

        let end = self.conformance_flow("sign-up", &accounts.signup, |account| {
            let args = SignUpArgs {
                email: account.email.clone(),
                given_name: given_name.clone(),
                family_name: family_name.clone(),
                country_code: None,
                referral: None,
                url: None,
            };
            let tokens = self.client_sign_up(args, account.password.clone(), choices.clone())?;
            let mut session = Session::client(self.endpoint.clone(), tokens);
            self.sign_out_session(&mut session)
        });
        ends.push(("sign-up", end));

        self.print_table(&ends);
        let failures: Vec<&str> = ends
            .iter()
            .filter(|(_, end)| matches!(end, FlowEnd::Failed(_)))
            .map(|(name, _)| *name)
            .collect();
        let message = format!("conformance: failed: {}", failures.join(", "));
        let deviations: usize = self.log.borrow().iter().map(|r| r.deviations.len()).sum();
        if ends
            .iter()
            .any(|(_, end)| matches!(end, FlowEnd::Failed(Fail::Usage(_))))
        {
            Err(usage(message))
        } else if !failures.is_empty() {
            Err(failed(message))
        } else if deviations > 0 {
            Ok(Done::Deviates)
        } else {
            Ok(Done::Quiet)
        }
    }

    /// Runs one flow of `conformance` when its account is given; a failure is noted on
    /// the row of the answer it came from, or on a row of its own.
    fn conformance_flow(
        &self,
        name: &'static str,
        account: &Result<Account, &'static str>,
        run: impl FnOnce(&Account) -> Result<(), Fail>,
    ) -> FlowEnd {
        let account = match account {
            Ok(account) => account,
            Err(var) => return FlowEnd::Skipped(var),
        };
        eprintln!("conformance: {name}");
        self.flow.set(name);
        let rows_before = self.log.borrow().len();
        let end = match run(account) {
            Ok(()) => FlowEnd::Completed,
            Err(fail) => {
                eprintln!("conformance: {name} failed: {}", fail.message());
                let mut log = self.log.borrow_mut();
                let sent = log.len() > rows_before;
                match log.last_mut() {
                    Some(row) if sent && !row.read => {
                        row.failure = Some(fail.message().to_owned());
                    }
                    _ => log.push(Row {
                        flow: name,
                        request: "-".into(),
                        status: None,
                        deviations: Vec::new(),
                        read: true,
                        failure: Some(fail.message().to_owned()),
                    }),
                }
                FlowEnd::Failed(fail)
            }
        };
        self.flow.set("-");
        end
    }

    /// The table and the summary line, on stdout.
    fn print_table(&self, ends: &[(&'static str, FlowEnd)]) {
        let log = self.log.borrow();
        let mut rows: Vec<[String; 4]> = vec![[
            "flow".into(),
            "request".into(),
            "status".into(),
            "deviations".into(),
        ]];
        for (name, end) in ends {
            if let FlowEnd::Skipped(var) = end {
                rows.push([
                    (*name).into(),
                    "-".into(),
                    "-".into(),
                    format!("skipped: {var} is unset"),
                ]);
                continue;
            }
            for row in log.iter().filter(|row| row.flow == *name) {
                let cell = match (&row.failure, row.deviations.is_empty()) {
                    (Some(why), _) => format!("failed: {}", one_line(why)),
                    (None, true) => "-".to_owned(),
                    (None, false) => row
                        .deviations
                        .iter()
                        .map(|d| format!("{}: {}", one_line(d.field()), one_line(d.found())))
                        .collect::<Vec<_>>()
                        .join("; "),
                };
                let status = row.status.map_or_else(|| "-".to_owned(), |s| s.to_string());
                rows.push([(*name).into(), row.request.clone(), status, cell]);
            }
        }
        let width = |column: usize| rows.iter().map(|r| r[column].len()).max().unwrap_or(0);
        let widths = [width(0), width(1), width(2)];
        for [flow, request, status, cell] in &rows {
            println!(
                "{flow:<w0$}  {request:<w1$}  {status:<w2$}  {cell}",
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2]
            );
        }

        let requests = log.iter().filter(|r| r.request != "-").count();
        let deviations: usize = log.iter().map(|r| r.deviations.len()).sum();
        let count = |f: fn(&FlowEnd) -> bool| ends.iter().filter(|(_, end)| f(end)).count();
        let skipped = count(|e| matches!(e, FlowEnd::Skipped(_)));
        let failures = count(|e| matches!(e, FlowEnd::Failed(_)));
        let verdict = if failures > 0 {
            "failed"
        } else if deviations > 0 {
            "deviates"
        } else {
            "conforms"
        };
        println!(
            "summary: {requests} request{}, {deviations} deviation{}; flows: {} run, {skipped} skipped, {failures} failed; {verdict}",
            plural(requests),
            plural(deviations),
            ends.len() - skipped,
        );
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The method to use: `--method` if the account offers it, the only one offered, or the
/// user's choice on stdin.
fn pick_method(offered: &[Method], wanted: Option<Method>) -> Result<Method, Fail> {
    let names: Vec<&str> = offered.iter().map(|m| m.as_str()).collect();
    match (wanted, offered) {
        (Some(m), _) if offered.contains(&m) => Ok(m),
        (Some(m), _) => Err(failed(format!(
            "the account does not offer 2FA by {} (it offers: {})",
            m.as_str(),
            names.join(", ")
        ))),
        (None, [only]) => Ok(*only),
        (None, _) => {
            let choice = ask(&format!("choose a 2FA method ({})", names.join(" or ")))?;
            let method = parse_method(&choice)?;
            if offered.contains(&method) {
                Ok(method)
            } else {
                Err(usage(format!("`{}` is not offered", method.as_str())))
            }
        }
    }
}

fn label(method: Method) -> &'static str {
    match method {
        Method::Sms => "SMS",
        _ => "Google Authenticator",
    }
}
