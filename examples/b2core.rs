//! `b2core`: a blocking command-line client for real B2Core hosts, on the crate's flows,
//! [`ureq`] (`support/blocking_http.rs`) and [`clap`].
//!
//! ```text
//! cargo run --example b2core -- --help                 # the subcommands, variables, exit codes
//! cargo run --example b2core -- client-signin --help   # one subcommand's options
//! cargo run --example b2core -- --host https://host.name client-signin --email E
//! ```
//!
//! The command line is [`Cli`] below and its `--help` the [`AFTER_HELP`] text: the
//! secrets' variables and the exit codes are listed there, once.
//!
//! **The host.** `--host` is taken as `Endpoint::new` takes it: `https://`, or `http://` to
//! a loopback host. `http://` to another host is a usage error that names
//! `--insecure-http`; with that flag the endpoint is `Endpoint::new_insecure_http`'s and a
//! warning on stderr says that every secret crosses the network in cleartext. No redirect
//! is followed (a 3xx fails the run, and the request's secret goes nowhere else) and a body
//! is read up to the endpoint's limit and one byte more, for the flow to refuse the excess
//! (`support/blocking_http.rs`).
//!
//! **Secrets never come from flags** (flags show up in `ps` and shell history), only from
//! the environment or standard input, and are never written out, stderr included. A
//! prompt on stderr names what it asks for; on a terminal, a password, token or code is
//! typed without echo (`rpassword`); from a pipe, one line is read.
//!
//! **Output.** On success, the token pair on stdout as one line of the vendor's JSON
//! (`{"accessToken":{"token","createdAt","expiresAt"},"refreshToken":{...}}`; a sign-out
//! prints nothing). On stderr: each request line and status (no header, no body), then one
//! line per deviation of the answer from the vendor's pages on a point they leave open,
//! `deviation: STEP: `FIELD`: WHAT THE PAGES SAY; found WHAT CAME` (`--strict` makes it a
//! failure instead), and a failure as `b2core: WHY`. Every refusal is final (exit 1).
//!
//! **Rate limits.** A 429 (a `RetryAt` step) or a request held by the crate's own attempt
//! limit (`Outgoing::RetryAt`) is waited out with a countdown on stderr, `rate limited
//! until T: waiting N s before sending again` (on a terminal one line rewritten each
//! second, else the line again every 10 seconds), then `retry(now)` sends the held request.
//! A wait over 15 minutes (the documented limits are at most 10), or any with `--no-wait`,
//! fails at once with exit 5, saying until when. Every call gets `SystemTime::now()`.
//!
//! **One token alone.** `*-refresh` and `*-signout` start a session from the one token
//! (`Session::from_refresh_token`, `Session::from_access_token`), taken as valid for the one
//! request made now (`expiresAt` a minute ahead): the host decides (a refused refresh token
//! is exit 1, a revoked or expired access token exit 3) and the pair printed after a
//! refresh is the host's. A sign-up that ends without tokens (the vendor's documented
//! answer) signs in with the same email and password.
//!
//! **Conformance.** `conformance` runs every flow it has a test account for
//! ([`CONFORMANCE_HELP`]): `client` (sign-in, refresh, sign-out), `back-office` (the same)
//! and `sign-up` (**it creates the account**, then the sign-in the host asks for, then
//! sign-out). Lenient by default, to see every deviation; with `--strict` the first one
//! fails its flow and the next flow runs. On stdout, once all have run:
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
//! Columns are at least two spaces apart. A `deviations` cell holds `FIELD: FOUND` per
//! deviation (`; ` between them), `-` for none, or `failed: WHY` when the answer could not
//! be read or the request not sent; a flow that fails after a readable answer (a refusal)
//! gets a row of its own. A 429 is a row, and so is the request sent again after the wait.
//! The table names no account. The last word is `conforms` (exit 0), `deviates` (exit 4)
//! or `failed` (exit 1).

#[path = "support/blocking_http.rs"]
mod blocking_http;

use std::cell::{Cell, RefCell};
use std::io::IsTerminal;
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
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand};

/// The user agent of the device fingerprint when `--user-agent` is not given.
const DEFAULT_USER_AGENT: &str = "b2core-auth-cli/0.1";
/// How long a token given alone is taken to be valid: the one request made with it now.
const ONE_REQUEST: Duration = Duration::from_secs(60);
/// The longest rate limit waited out (the documented limits are at most 10 minutes).
const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// How often the countdown repeats its line when stderr is not a terminal.
const REPORT_EVERY: u64 = 10;

/// Exit codes besides 0, as [`AFTER_HELP`] lists them.
const FAILED: u8 = 1;
const USAGE: u8 = 2;
const ALREADY_REVOKED: u8 = 3;
const DEVIATES: u8 = 4;
const RATE_LIMITED: u8 = 5;

/// The heading of the options that go before or after the subcommand.
const GLOBAL: &str = "Global options";

const AFTER_HELP: &str = "\
Secrets never come from flags: each is read from its variable, else from standard input
(without echo on a terminal):
  B2CORE_PASSWORD       the password (client-signin, client-signup, bo-signin)
  B2CORE_NEW_PASSWORD   the new password when the host forces a reset
  B2CORE_REFRESH_TOKEN  the refresh token (client-refresh, bo-refresh)
  B2CORE_ACCESS_TOKEN   the access token (client-signout, bo-signout)

Rate limits (the host's 429, the crate's own attempt limits) are waited out with a
countdown on stderr, up to 15 minutes, then the held request is sent again.

stdout: the token pair as JSON (nothing for a sign-out); stderr: progress, one
`deviation: ...` line for each way an answer departs from the vendor's pages, errors.

Exit: 0 ok, 1 refused or failed, 2 usage error, 3 sign-out of a token already revoked or
expired, 4 conformance: every flow completed but the host deviates from the pages,
5 rate limited and not waited out (--no-wait, or longer than 15 minutes).";

const CONFORMANCE_HELP: &str = "\
Test accounts come from the environment; a flow whose email is unset is skipped, an unset
password is read from standard input before anything is sent:
  B2CORE_CLIENT_EMAIL, B2CORE_CLIENT_PASSWORD: client sign-in, refresh, sign-out
  B2CORE_STAFF_EMAIL, B2CORE_STAFF_PASSWORD: Back Office sign-in, refresh, sign-out
  B2CORE_SIGNUP_EMAIL, B2CORE_SIGNUP_PASSWORD (else B2CORE_CLIENT_PASSWORD):
    sign-up (it creates the account), sign-in, sign-out

stdout: a table (flow, request, status, deviations) and a summary line.
Exit: 0 the host conforms, 4 it deviates, 1 a flow failed, 2 usage.";

/// A blocking client for B2Core hosts: sign in, sign up, refresh and sign out, and check
/// a host against the vendor's pages.
#[derive(Parser)]
#[command(name = "b2core", version, after_help = AFTER_HELP, disable_help_subcommand = true)]
struct Cli {
    /// The host's base URI: https://, or http:// to a loopback host (localhost,
    /// 127.0.0.0/8, [::1])
    #[arg(long, value_name = "URL", global = true, help_heading = GLOBAL)]
    host: Option<String>,
    /// Make a deviation from the vendor's pages an error (exit 1) instead of a
    /// `deviation:` line (conformance: the first one fails its flow)
    #[arg(long, global = true, help_heading = GLOBAL)]
    strict: bool,
    /// Fail on a rate limit (exit 5) instead of waiting it out
    #[arg(long, global = true, help_heading = GLOBAL)]
    no_wait: bool,
    /// Allow http:// to a host that is not loopback: every password, code and token then
    /// crosses the network in cleartext (a test host on a network you trust only)
    #[arg(long, global = true, help_heading = GLOBAL)]
    insecure_http: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Client sign-in (2FA, forced password reset); prints the token pair
    ///
    /// The password comes from B2CORE_PASSWORD, the new one of a forced reset from
    /// B2CORE_NEW_PASSWORD, each else from standard input; a code from --code or stdin.
    ClientSignin {
        /// The client's email
        #[arg(long)]
        email: String,
        /// The 2FA code (else asked for when needed)
        #[arg(long)]
        code: Option<String>,
        #[command(flatten)]
        choices: Choices,
    },
    /// Client sign-up, then the sign-in the host asks for; prints the token pair
    ///
    /// The password comes from B2CORE_PASSWORD, else from standard input.
    ClientSignup(SignUpArgs),
    /// New client tokens for B2CORE_REFRESH_TOKEN; prints the host's pair
    ClientRefresh,
    /// Signs out the client access token B2CORE_ACCESS_TOKEN
    ClientSignout,
    /// Back Office sign-in (email 2FA); prints the token pair
    ///
    /// The password comes from B2CORE_PASSWORD, else from standard input; the emailed
    /// code from --code or stdin.
    BoSignin {
        /// The staff member's email
        #[arg(long)]
        email: String,
        /// The emailed 2FA code (else asked for when needed)
        #[arg(long)]
        code: Option<String>,
    },
    /// New Back Office tokens for B2CORE_REFRESH_TOKEN; prints the host's pair
    BoRefresh,
    /// Signs out the Back Office access token B2CORE_ACCESS_TOKEN
    BoSignout,
    /// Runs every flow there is a test account for and reports how the host's answers
    /// depart from the vendor's pages
    #[command(after_help = CONFORMANCE_HELP)]
    Conformance {
        #[command(flatten)]
        choices: Choices,
        /// The given name of the account the sign-up creates
        #[arg(long, value_name = "G", default_value = "Conformance")]
        given_name: String,
        /// The family name of the account the sign-up creates
        #[arg(long, value_name = "F", default_value = "Check")]
        family_name: String,
    },
}

/// What a client sign-in is told beyond the email.
#[derive(Args, Clone)]
struct Choices {
    /// The 2FA method, when the account has both (else asked for)
    #[arg(long, value_parser = method_parser())]
    method: Option<Method>,
    /// The user agent of the device fingerprint
    #[arg(
        long = "user-agent",
        value_name = "UA",
        default_value = DEFAULT_USER_AGENT,
        value_parser = |ua: &str| DeviceFingerprint::from_user_agent(ua)
    )]
    fingerprint: DeviceFingerprint,
    /// The reCAPTCHA response, for a host that requires one
    #[arg(long, value_name = "RESPONSE")]
    recaptcha: Option<String>,
}

#[derive(Args, Clone)]
struct SignUpArgs {
    /// The new account's email
    #[arg(long)]
    email: String,
    /// The new client's given name
    #[arg(long, value_name = "G")]
    given_name: String,
    /// The new client's family name
    #[arg(long, value_name = "F")]
    family_name: String,
    /// The new client's country code
    #[arg(long, value_name = "C")]
    country_code: Option<String>,
    /// The referral code
    #[arg(long, value_name = "R")]
    referral: Option<String>,
    /// The registration URL template [default: HOST/register/{registration}/{code}]
    #[arg(long, value_name = "TEMPLATE")]
    url: Option<String>,
}

fn method_parser() -> impl TypedValueParser<Value = Method> {
    PossibleValuesParser::new(["google", "sms"]).map(|name| match name.as_str() {
        "sms" => Method::Sms,
        _ => Method::Google,
    })
}

/// Why a run failed: one line, no secret, and the exit code.
struct Fail {
    exit: u8,
    message: String,
}

fn fail(exit: u8, message: impl Into<String>) -> Fail {
    let message = message.into();
    Fail { exit, message }
}

fn failed(message: impl Into<String>) -> Fail {
    fail(FAILED, message)
}

fn usage(message: impl Into<String>) -> Fail {
    fail(USAGE, message)
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

fn main() -> ExitCode {
    // Clap's errors (exit 2) and `--help`/`--version` (exit 0) end the process here.
    let cli = Cli::parse();
    let endpoint = cli.endpoint().unwrap_or_else(|e| e.exit());
    match run(cli, endpoint) {
        Ok(exit) => ExitCode::from(exit),
        Err(fail) => {
            let hint = if fail.exit == USAGE {
                " (see b2core --help)"
            } else {
                ""
            };
            eprintln!("b2core: {}{hint}", fail.message);
            ExitCode::from(fail.exit)
        }
    }
}

impl Cli {
    /// The endpoint of `--host`, or clap's usage error (`--host` is global, so that it may
    /// come after the subcommand, and clap does not require a global argument).
    fn endpoint(&self) -> Result<Endpoint, clap::Error> {
        let Some(host) = &self.host else {
            return Err(Cli::command().error(
                ErrorKind::MissingRequiredArgument,
                "the following required argument was not provided: --host <URL>",
            ));
        };
        // The value is not repeated: a URI with user info (refused) may hold a password.
        let refused = |why: String| {
            let message = format!("invalid value for '--host <URL>': {why}");
            Cli::command().error(ErrorKind::ValueValidation, message)
        };
        let endpoint = match Endpoint::new(host) {
            Ok(endpoint) => endpoint,
            // Refused by `new` and not by `new_insecure_http`: cleartext to a remote host.
            Err(_) if self.insecure_http => {
                Endpoint::new_insecure_http(host).map_err(|e| refused(e.to_string()))?
            }
            Err(_) if Endpoint::new_insecure_http(host).is_ok() => {
                return Err(refused(
                    "http:// to a host that is not loopback sends passwords and tokens in \
                     cleartext: use https://, or --insecure-http for a test host on a network \
                     you trust"
                        .into(),
                ))
            }
            Err(e) => return Err(refused(e.to_string())),
        };
        if endpoint.is_insecure_http() {
            eprintln!(
                "b2core: warning: --insecure-http: passwords, codes and tokens go to {host} \
                 in cleartext"
            );
        }
        Ok(if self.strict {
            endpoint.strict()
        } else {
            endpoint
        })
    }
}

/// Runs the subcommand: its exit code, or why it failed.
fn run(cli: Cli, endpoint: Endpoint) -> Result<u8, Fail> {
    let runner = Runner::new(endpoint, cli.no_wait);
    let tokens = match cli.command {
        Command::ClientSignin {
            email,
            code,
            choices,
        } => {
            let password = secret("B2CORE_PASSWORD", "password")?;
            runner.client_sign_in(&email, password, code, choices)?
        }
        Command::ClientSignup(args) => {
            let password = secret("B2CORE_PASSWORD", "password")?;
            runner.client_sign_up(&args, password, None)?
        }
        Command::BoSignin { email, code } => {
            let password = secret("B2CORE_PASSWORD", "password")?;
            runner.staff_sign_in(&email, password, code)?
        }
        Command::ClientRefresh => runner.refresh(Realm::Client)?,
        Command::BoRefresh => runner.refresh(Realm::BackOffice)?,
        Command::ClientSignout => return runner.sign_out(Realm::Client).map(|()| 0),
        Command::BoSignout => return runner.sign_out(Realm::BackOffice).map(|()| 0),
        Command::Conformance {
            choices,
            given_name,
            family_name,
        } => {
            let accounts = TestAccounts::from_env()?;
            return runner.conformance(accounts, &choices, given_name, family_name);
        }
    };
    let json = serde_json::to_string(&tokens)
        .map_err(|e| failed(format!("cannot write the tokens: {e}")))?;
    println!("{json}");
    Ok(0)
}

// ---------------------------------------------------------------------------------------
// Input: secrets from the environment or stdin, answers from stdin.

/// A secret from `var`, or from standard input when `var` is unset.
fn secret(var: &str, what: &str) -> Result<Secret<String>, Fail> {
    match optional_var(var)? {
        Some(value) => Ok(Secret::new(value)),
        None => ask_secret(&format!("{what} ({var} is unset)")),
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

/// A password, token or code from standard input: typed without echo on a terminal.
fn ask_secret(what: &str) -> Result<Secret<String>, Fail> {
    if !std::io::stdin().is_terminal() {
        return ask(what).map(Secret::new);
    }
    eprint!("{what}: ");
    match rpassword::read_password() {
        Ok(line) if !line.is_empty() => Ok(Secret::new(line)),
        Ok(_) => Err(usage(format!("no {what}: nothing was typed"))),
        Err(e) => Err(usage(format!("cannot read {what} from the terminal: {e}"))),
    }
}

/// One line of standard input, after a prompt on stderr that names what (never a value).
fn ask(what: &str) -> Result<String, Fail> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("{what}: ");
    } else {
        eprintln!("{what}: reading one line from standard input");
    }
    let mut line = String::new();
    match stdin.read_line(&mut line) {
        Ok(0) => Err(usage(format!("no {what}: standard input ended"))),
        Ok(_) => Ok(line.trim_end_matches(['\r', '\n']).to_owned()),
        Err(e) => Err(usage(format!(
            "cannot read {what} from standard input: {e}"
        ))),
    }
}

// ---------------------------------------------------------------------------------------
// Rate limits: waited out with a countdown, or a failure.

fn rfc3339(t: SystemTime) -> String {
    b2core_auth::format_rfc3339(t).unwrap_or_else(|_| "a time out of range".into())
}

/// Sleeps until `at` (by the clock: a sleep may end early by its reckoning), counting down
/// on stderr: one line rewritten each second on a terminal, else a line every
/// [`REPORT_EVERY`] seconds.
fn count_down(at: SystemTime) {
    let terminal = std::io::stderr().is_terminal();
    let (mut shown, mut width) = (None, 0);
    while let Some(left) = at
        .duration_since(SystemTime::now())
        .ok()
        .filter(|d| !d.is_zero())
    {
        let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        if shown != Some(secs) {
            let until = rfc3339(at);
            let notice =
                format!("rate limited until {until}: waiting {secs} s before sending again");
            if terminal {
                let back = if shown.is_some() { "\r" } else { "" };
                eprint!("{back}{notice:<width$}");
                width = notice.len();
            } else if shown.is_none() || secs % REPORT_EVERY == 0 {
                eprintln!("{notice}");
            }
            shown = Some(secs);
        }
        // To the next whole second left, when the count changes.
        let fraction = left - Duration::from_secs(left.as_secs());
        std::thread::sleep(if fraction.is_zero() {
            Duration::from_secs(1)
        } else {
            fraction
        });
    }
    if terminal && shown.is_some() {
        eprintln!();
    }
}

// ---------------------------------------------------------------------------------------
// The flows, each a loop over the crate's steps.

struct Runner {
    endpoint: Endpoint,
    http: blocking_http::Client,
    /// `--no-wait`: a rate limit fails the run.
    no_wait: bool,
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

impl Runner {
    fn new(endpoint: Endpoint, no_wait: bool) -> Self {
        Self {
            endpoint,
            http: blocking_http::Client::new(),
            no_wait,
            flow: Cell::new("-"),
            log: RefCell::new(Vec::new()),
        }
    }

    /// Waits out a rate limit until `at` and asks `flow` to send its held request again;
    /// with `--no-wait`, or past [`MAX_WAIT`], fails (exit 5).
    fn wait_and_retry<F: Flow>(&self, flow: &mut F, at: SystemTime) -> Result<Outgoing, Fail> {
        let left = at.duration_since(SystemTime::now()).unwrap_or_default();
        let until = format!("rate limited until {}", rfc3339(at));
        if self.no_wait && !left.is_zero() {
            return Err(fail(RATE_LIMITED, format!("{until} (--no-wait)")));
        }
        if left > MAX_WAIT {
            let why = "longer than the 15 minutes this client waits";
            return Err(fail(RATE_LIMITED, format!("{until}: {why}")));
        }
        count_down(at);
        flow.retry(SystemTime::now()).map_err(flow_error)
    }

    /// Sends what a call of `flow` returned (when the flow held it for a rate limit, after
    /// the wait) and reports its line and status on stderr (no header, no body).
    fn send<F: Flow>(
        &self,
        flow: &mut F,
        mut outgoing: Outgoing,
    ) -> Result<http::Response<Vec<u8>>, Fail> {
        let request = loop {
            match outgoing {
                Outgoing::Request(request) => break request,
                Outgoing::RetryAt(at) => outgoing = self.wait_and_retry(flow, at)?,
            }
        };
        let line = format!("{} {}", request.method(), request.uri().path());
        let result = self.http.send(request);
        self.log.borrow_mut().push(Row {
            flow: self.flow.get(),
            request: line.clone(),
            status: result.as_ref().ok().map(|r| r.status().as_u16()),
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
        mut code: Option<String>,
        choices: Choices,
    ) -> Result<TokenPair, Fail> {
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
                        Credentials::new(email, password.clone(), choices.fingerprint.clone());
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
                    let code = match code.take() {
                        Some(code) => code,
                        None => ask_secret(&format!("the {} code", label(method)))?
                            .expose()
                            .clone(),
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
                    let code = ask_secret(&format!("the code sent to {email}"))?;
                    password = secret("B2CORE_NEW_PASSWORD", "new password")?;
                    let code = code.expose().clone();
                    flow.reset_password(code, password.clone(), SystemTime::now())
                }
                SignInStep::PasswordChanged => {
                    eprintln!("password changed: signing in with the new one");
                    flow.start(SystemTime::now())
                }
                SignInStep::RetryAt(at) => Ok(self.wait_and_retry(&mut flow, at)?),
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
    /// sign-in with the same email and password, told `then` (else the defaults).
    fn client_sign_up(
        &self,
        args: &SignUpArgs,
        password: Secret<String>,
        then: Option<&Choices>,
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
                    let choices = match then {
                        Some(choices) => choices.clone(),
                        None => Choices {
                            method: None,
                            fingerprint: fingerprint.clone(),
                            recaptcha: None,
                        },
                    };
                    return self.client_sign_in(&args.email, password, None, choices);
                }
                SignUpStep::RetryAt(at) => self.wait_and_retry(&mut flow, at)?,
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
                        None => ask_secret(&format!(
                            "the code sent by {} (valid until {})",
                            one_line(&provider),
                            rfc3339(expires_at)
                        ))?
                        .expose()
                        .clone(),
                    };
                    flow.submit_code(code, SystemTime::now())
                        .map_err(flow_error)?
                }
                StaffStep::RetryAt(at) => self.wait_and_retry(&mut flow, at)?,
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
    fn lone_token(var: &str, what: &str) -> Result<Token, Fail> {
        let value = secret(var, what)?;
        let now = SystemTime::now();
        let until = now.checked_add(ONE_REQUEST).unwrap_or(now);
        Token::new(value, now, until).map_err(flow_error)
    }

    fn refresh(&self, realm: Realm) -> Result<TokenPair, Fail> {
        let token = Self::lone_token("B2CORE_REFRESH_TOKEN", "refresh token")?;
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
                SessionStep::RetryAt(at) => self.wait_and_retry(session, at)?,
                other => return Err(failed(format!("unexpected step {other:?}"))),
            };
        }
    }

    fn sign_out(&self, realm: Realm) -> Result<(), Fail> {
        let token = Self::lone_token("B2CORE_ACCESS_TOKEN", "access token")?;
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
                } => return Err(fail(
                    ALREADY_REVOKED,
                    "sign-out: the host answered 401: the access token was already revoked or has expired",
                )),
                SessionStep::RetryAt(at) => self.wait_and_retry(session, at)?,
                other => return Err(failed(format!("unexpected step {other:?}"))),
            };
        }
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
            match offered.iter().find(|m| m.as_str() == choice.trim()) {
                Some(method) => Ok(*method),
                None => Err(usage(format!(
                    "`{}` is not offered",
                    one_line(choice.trim())
                ))),
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

// ---------------------------------------------------------------------------------------
// `conformance`: every flow there is a test account for, and a table of what came.

/// One test account: an email and its password.
struct Account {
    email: String,
    password: Secret<String>,
}

/// The accounts of a conformance run; for a flow to skip, the variable that is unset.
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
        let account = |email: Option<String>, var: &'static str, pw_var, what| match email {
            Some(email) => Ok(Ok(Account {
                email,
                password: secret(pw_var, what)?,
            })),
            None => Ok(Err(var)),
        };
        let client = account(
            client_email,
            "B2CORE_CLIENT_EMAIL",
            "B2CORE_CLIENT_PASSWORD",
            "client password",
        )?;
        let staff = account(
            staff_email,
            "B2CORE_STAFF_EMAIL",
            "B2CORE_STAFF_PASSWORD",
            "Back Office password",
        )?;
        let signup = match signup_email {
            // Its own password, else the client account's (however that was given).
            Some(email) => Ok(Account {
                email,
                password: match (optional_var("B2CORE_SIGNUP_PASSWORD")?, &client) {
                    (Some(own), _) => Secret::new(own),
                    (None, Ok(client)) => client.password.clone(),
                    (None, Err(_)) => match optional_var("B2CORE_CLIENT_PASSWORD")? {
                        Some(value) => Secret::new(value),
                        None => ask_secret(
                            "sign-up password (B2CORE_SIGNUP_PASSWORD and B2CORE_CLIENT_PASSWORD are unset)",
                        )?,
                    },
                },
            }),
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

impl Runner {
    fn conformance(
        &self,
        accounts: TestAccounts,
        choices: &Choices,
        given_name: String,
        family_name: String,
    ) -> Result<u8, Fail> {
        let client = self.conformance_flow("client", &accounts.client, |account| {
            let password = account.password.clone();
            let tokens = self.client_sign_in(&account.email, password, None, choices.clone())?;
            let mut session = Session::client(self.endpoint.clone(), tokens);
            self.refresh_session(&mut session)?;
            self.sign_out_session(&mut session)
        });
        let staff = self.conformance_flow("back-office", &accounts.staff, |account| {
            let tokens = self.staff_sign_in(&account.email, account.password.clone(), None)?;
            let mut session = Session::back_office(self.endpoint.clone(), tokens);
            self.refresh_session(&mut session)?;
            self.sign_out_session(&mut session)
        });
        let signup = self.conformance_flow("sign-up", &accounts.signup, |account| {
            let args = SignUpArgs {
                email: account.email.clone(),
                given_name,
                family_name,
                country_code: None,
                referral: None,
                url: None,
            };
            let tokens = self.client_sign_up(&args, account.password.clone(), Some(choices))?;
            let mut session = Session::client(self.endpoint.clone(), tokens);
            self.sign_out_session(&mut session)
        });
        let ends = [
            ("client", client),
            ("back-office", staff),
            ("sign-up", signup),
        ];

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
            .any(|(_, end)| matches!(end, FlowEnd::Failed(Fail { exit: USAGE, .. })))
        {
            Err(usage(message))
        } else if !failures.is_empty() {
            Err(failed(message))
        } else if deviations > 0 {
            Ok(DEVIATES)
        } else {
            Ok(0)
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
                eprintln!("conformance: {name} failed: {}", fail.message);
                let mut log = self.log.borrow_mut();
                let sent = log.len() > rows_before;
                match log.last_mut() {
                    Some(row) if sent && !row.read => row.failure = Some(fail.message.clone()),
                    _ => log.push(Row {
                        flow: name,
                        request: "-".into(),
                        status: None,
                        deviations: Vec::new(),
                        read: true,
                        failure: Some(fail.message.clone()),
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
        let mut rows: Vec<[String; 4]> =
            vec![["flow", "request", "status", "deviations"].map(String::from)];
        for (name, end) in ends {
            if let FlowEnd::Skipped(var) = end {
                let skipped = format!("skipped: {var} is unset");
                rows.push([(*name).into(), "-".into(), "-".into(), skipped]);
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
        let (w0, w1, w2) = (width(0), width(1), width(2));
        for [flow, request, status, cell] in &rows {
            println!("{flow:<w0$}  {request:<w1$}  {status:<w2$}  {cell}");
        }

        let requests = log.iter().filter(|r| r.request != "-").count();
        let deviations: usize = log.iter().map(|r| r.deviations.len()).sum();
        let count = |f: fn(&FlowEnd) -> bool| ends.iter().filter(|(_, end)| f(end)).count();
        let skipped = count(|e| matches!(e, FlowEnd::Skipped(_)));
        let failures = count(|e| matches!(e, FlowEnd::Failed(_)));
        let verdict = match (failures, deviations) {
            (0, 0) => "conforms",
            (0, _) => "deviates",
            _ => "failed",
        };
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        println!(
            "summary: {requests} request{}, {deviations} deviation{}; flows: {} run, {skipped} skipped, {failures} failed; {verdict}",
            plural(requests),
            plural(deviations),
            ends.len() - skipped,
        );
    }
}
