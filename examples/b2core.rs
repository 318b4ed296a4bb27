//! `b2core`: a blocking command-line client for real B2Core hosts, on the crate's flows
//! and [`ureq`] (see `support/blocking_http.rs`).
//!
//! ```text
//! b2core --host URL client-signin --email E [--method google|sms] [--code C]
//!                                 [--user-agent UA] [--recaptcha R]
//! b2core --host URL client-signup --email E --given-name G --family-name F
//!                                 [--country-code C] [--referral R] [--url TEMPLATE]
//! b2core --host URL client-refresh
//! b2core --host URL client-signout
//! b2core --host URL bo-signin --email E [--code C]
//! b2core --host URL bo-refresh
//! b2core --host URL bo-signout
//! ```
//!
//! Run it with `cargo run --example b2core -- --host https://host.name client-signin --email E`.
//!
//! **Secrets never come from flags** (flags show up in `ps` and shell history):
//!
//! | variable | what | used by |
//! |---|---|---|
//! | `B2CORE_PASSWORD` | the password | `client-signin`, `client-signup`, `bo-signin` |
//! | `B2CORE_NEW_PASSWORD` | the new password when the host forces a reset | `client-signin` |
//! | `B2CORE_REFRESH_TOKEN` | the refresh token | `client-refresh`, `bo-refresh` |
//! | `B2CORE_ACCESS_TOKEN` | the access token | `client-signout`, `bo-signout` |
//!
//! An unset variable is read from standard input (one line, after a prompt on stderr;
//! the line is echoed if stdin is a terminal). So are a 2FA code not given by `--code`,
//! the code of a forced password reset, and, without `--method`, the choice between
//! `google` and `sms` when the account has both.
//!
//! **Output.** On success the token pair goes to stdout as one line of JSON in the
//! vendor's shape, `{"accessToken":{"token","createdAt","expiresAt"},"refreshToken":{...}}`
//! (sign-out prints nothing on stdout); progress (each request line and status, never a
//! body) goes to stderr. A failure is one line on stderr. No password, token or code is
//! ever written to stderr.
//!
//! **Exit codes.** 0 success; 1 refused or failed (wrong credentials or code, rate limited,
//! host unreachable, an answer that breaks the protocol); 2 usage error (bad or missing
//! arguments or input; nothing was sent for the step at fault); 3 sign-out of a token the
//! host says is already revoked or expired (its 401).
//!
//! **Placeholders for refresh and sign-out.** A session wants a whole token pair with
//! expiry times, and the command line has one raw token. The CLI builds the pair with the
//! given token, `createdAt` = now and `expiresAt` = now + 365 days (so the session never
//! refuses on its own; the host decides), and a placeholder for the other token, which
//! those requests never send: a refresh sends only the refresh token, a sign-out only the
//! access token. The pair printed after a refresh is the host's, with its real times.
//!
//! Every refusal is final: a wrong password or code ends the run with exit 1 (run it again).
//! A sign-up that ends without tokens (the vendor's documented answer) signs in with the
//! same email and password.

#[path = "support/blocking_http.rs"]
mod blocking_http;

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use b2core_auth::backoffice::{StaffSignIn, StaffStep};
use b2core_auth::client::{
    Credentials, Method, SignIn, SignInStep, SignUp, SignUpForm, SignUpStep,
};
use b2core_auth::{
    ApiError, DeviceFingerprint, Endpoint, Error, Realm, Secret, Session, SessionStep, Token,
    TokenPair,
};

const USAGE: &str = "\
usage: b2core --host URL COMMAND [OPTIONS]

commands:
  client-signin --email E [--method google|sms] [--code C] [--user-agent UA] [--recaptcha R]
  client-signup --email E --given-name G --family-name F [--country-code C] [--referral R]
                [--url TEMPLATE]
  client-refresh
  client-signout
  bo-signin --email E [--code C]
  bo-refresh
  bo-signout

secrets come from the environment, or one line of standard input when unset:
  B2CORE_PASSWORD, B2CORE_NEW_PASSWORD (forced reset), B2CORE_REFRESH_TOKEN, B2CORE_ACCESS_TOKEN

stdout: the token pair as JSON (nothing for sign-out); stderr: progress and errors.
exit: 0 ok, 1 refused or failed, 2 usage error, 3 sign-out of a token already revoked/expired";

/// The user agent of the device fingerprint when `--user-agent` is not given.
const DEFAULT_USER_AGENT: &str = "b2core-auth-cli/0.1";
/// How long the placeholder expiry of a token given on the command line lies ahead.
const PLACEHOLDER_LIFETIME: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Why a run failed: the message (one line, no secret) and so the exit code.
enum Fail {
    /// Exit 1.
    Failed(String),
    /// Exit 2.
    Usage(String),
    /// Exit 3.
    AlreadyRevoked(String),
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
        Error::RateLimited { retry_at } => failed(format!(
            "rate limited until {} (the documented limit; nothing was sent)",
            rfc3339(retry_at)
        )),
        Error::Refused(api) => failed(format!("refused: {api}")),
        // Input the crate checked before sending: the flag or line at fault.
        Error::InvalidInput { field, .. } if field != "2FA token" => usage(error.to_string()),
        other => failed(other.to_string()),
    }
}

fn refused(what: &str, error: &ApiError) -> Fail {
    failed(format!("{what} refused: {error}"))
}

fn rate_limited(at: SystemTime) -> Fail {
    failed(format!("rate limited by the host until {}", rfc3339(at)))
}

fn rfc3339(t: SystemTime) -> String {
    b2core_auth::time::format_rfc3339(t).unwrap_or_else(|_| "a time out of range".into())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(args) {
        Ok(Some(tokens)) => match serde_json::to_string(&tokens) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("b2core: cannot write the tokens: {e}");
                ExitCode::from(1)
            }
        },
        Ok(None) => ExitCode::SUCCESS,
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
// Arguments, by hand: `--name value` or `--name=value`, `--host` anywhere.

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

fn run(args: Vec<String>) -> Result<Option<TokenPair>, Fail> {
    let mut host = None;
    let mut command = None;
    let mut given: Vec<(String, String)> = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--help" || arg == "-h" {
            println!("{USAGE}");
            return Ok(None);
        }
        if let Some(flag) = arg.strip_prefix("--") {
            let (name, value) = match flag.split_once('=') {
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
    let endpoint = Endpoint::new(&host).map_err(|e| usage(format!("--host {host}: {e}")))?;
    let cli = Cli {
        endpoint,
        http: blocking_http::Client::new(),
    };
    let mut opts = Options {
        command: command.clone(),
        given,
    };
    match command.as_str() {
        "client-signin" => {
            let email = opts.require("email")?;
            let choice = SignInChoices {
                method: opts.take("method").map(|m| parse_method(&m)).transpose()?,
                code: opts.take("code"),
                user_agent: opts.take("user-agent"),
                recaptcha: opts.take("recaptcha"),
            };
            opts.finish()?;
            let password = secret("B2CORE_PASSWORD", "password")?;
            cli.client_sign_in(&email, password, choice).map(Some)
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
            cli.client_sign_up(form, password).map(Some)
        }
        "client-refresh" | "bo-refresh" => {
            opts.finish()?;
            let realm = realm_of(&command);
            let token = secret("B2CORE_REFRESH_TOKEN", "refresh token")?;
            cli.refresh(realm, token).map(Some)
        }
        "client-signout" | "bo-signout" => {
            opts.finish()?;
            let realm = realm_of(&command);
            let token = secret("B2CORE_ACCESS_TOKEN", "access token")?;
            cli.sign_out(realm, token).map(|()| None)
        }
        "bo-signin" => {
            let email = opts.require("email")?;
            let code = opts.take("code");
            opts.finish()?;
            let password = secret("B2CORE_PASSWORD", "password")?;
            cli.staff_sign_in(&email, password, code).map(Some)
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
    match std::env::var(var) {
        Ok(value) => Ok(Secret::new(value)),
        Err(std::env::VarError::NotPresent) => {
            ask(&format!("{what} ({var} is unset)")).map(Secret::new)
        }
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
}

/// What `client-signin` was told beyond the email.
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
    /// Sends a request and reports its line and status on stderr (no header, no body).
    fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, Fail> {
        let line = format!("{} {}", request.method(), request.uri().path());
        let response = self.http.send(request).map_err(failed)?;
        eprintln!("{line} -> {}", response.status().as_u16());
        Ok(response)
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
        let mut request = flow.start().map_err(flow_error)?;
        loop {
            let response = self.send(request)?;
            let step = flow
                .handle_response(&response, SystemTime::now())
                .map_err(flow_error)?;
            request = match step {
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
                    flow.choose_method(method)
                }
                SignInStep::Code {
                    rejected: Some(e), ..
                } => return Err(refused("the 2FA code", &e)),
                SignInStep::Code { method, .. } => {
                    let code = match choices.code.take() {
                        Some(code) => code,
                        None => ask(&format!("the {} code", label(method)))?,
                    };
                    flow.submit_code(code)
                }
                SignInStep::PasswordResetRequired {
                    rejected: Some(e), ..
                } => return Err(refused("the password-reset request", &e)),
                SignInStep::PasswordResetRequired { .. } => {
                    eprintln!("the host requires a new password: a code goes to {email}");
                    flow.request_reset_code()
                }
                SignInStep::ResetCode {
                    rejected: Some(e), ..
                } => return Err(refused("the password reset", &e)),
                SignInStep::ResetCode { .. } => {
                    let code = ask(&format!("the code sent to {email}"))?;
                    password = secret("B2CORE_NEW_PASSWORD", "new password")?;
                    flow.reset_password(code, password.clone())
                }
                SignInStep::PasswordChanged => {
                    eprintln!("password changed: signing in with the new one");
                    flow.start()
                }
                SignInStep::RetryAt(at) => return Err(rate_limited(at)),
                SignInStep::Unsupported { workflow, .. } => {
                    return Err(failed(format!(
                        "the host asks for workflow `{workflow}`, which this client does not drive"
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

    fn client_sign_up(
        &self,
        args: SignUpArgs,
        password: Secret<String>,
    ) -> Result<TokenPair, Fail> {
        let fingerprint =
            DeviceFingerprint::from_user_agent(DEFAULT_USER_AGENT).map_err(flow_error)?;
        let url = args
            .url
            .clone()
            .unwrap_or_else(|| format!("{}/register/{{registration}}/{{code}}", self.endpoint));
        let mut flow = SignUp::new(self.endpoint.clone());
        let mut request = flow
            .start(&url, args.referral.as_deref())
            .map_err(flow_error)?;
        loop {
            let response = self.send(request)?;
            let step = flow
                .handle_response(&response, SystemTime::now())
                .map_err(flow_error)?;
            request = match step {
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
                    flow.submit(form).map_err(flow_error)?
                }
                SignUpStep::Next { workflow, .. } => {
                    return Err(failed(format!(
                        "signed up, but the host asks for workflow `{workflow}`, which this client does not drive"
                    )))
                }
                SignUpStep::SignInRequired => {
                    eprintln!("signed up: signing in with the same credentials");
                    let choices = SignInChoices {
                        method: None,
                        code: None,
                        user_agent: None,
                        recaptcha: None,
                    };
                    return self.client_sign_in(&args.email, password, choices);
                }
                SignUpStep::RetryAt(at) => return Err(rate_limited(at)),
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
        let mut request = flow
            .sign_in(email, password, SystemTime::now())
            .map_err(flow_error)?;
        loop {
            let response = self.send(request)?;
            let step = flow
                .handle_response(&response, SystemTime::now())
                .map_err(flow_error)?;
            request = match step {
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
                            "the code sent by {provider} (valid until {})",
                            rfc3339(expires_at)
                        ))?,
                    };
                    flow.submit_code(code, SystemTime::now())
                        .map_err(flow_error)?
                }
                StaffStep::RetryAt(at) => return Err(rate_limited(at)),
                StaffStep::Done(tokens) => {
                    eprintln!("signed in");
                    return Ok(tokens);
                }
                other => return Err(failed(format!("unexpected step {other:?}"))),
            };
        }
    }

    /// A session around one raw token; see "Placeholders" in the module docs.
    fn session(
        &self,
        realm: Realm,
        access: Secret<String>,
        refresh: Secret<String>,
    ) -> Result<Session, Fail> {
        let now = SystemTime::now();
        let until = now + PLACEHOLDER_LIFETIME;
        let token = |value| Token::new(value, now, until).map_err(flow_error);
        let pair = TokenPair::new(token(access)?, token(refresh)?).map_err(flow_error)?;
        Ok(Session::new(realm, self.endpoint.clone(), pair))
    }

    fn refresh(&self, realm: Realm, refresh_token: Secret<String>) -> Result<TokenPair, Fail> {
        // A refresh sends only the refresh token: the access token is a placeholder.
        let placeholder = Secret::new("placeholder-access-token-never-sent".to_owned());
        let mut session = self.session(realm, placeholder, refresh_token)?;
        let request = session.refresh(SystemTime::now()).map_err(flow_error)?;
        let response = self.send(request)?;
        match session
            .handle_response(&response, SystemTime::now())
            .map_err(flow_error)?
        {
            SessionStep::Active => {
                eprintln!("refreshed");
                session
                    .tokens()
                    .cloned()
                    .ok_or_else(|| failed("the session holds no tokens after a refresh"))
            }
            SessionStep::Ended => Err(failed(format!(
                "refresh refused (HTTP {}): the refresh token is unknown, expired or revoked; sign in again",
                response.status().as_u16()
            ))),
            SessionStep::RetryAt(at) => Err(rate_limited(at)),
            other => Err(failed(format!("unexpected step {other:?}"))),
        }
    }

    fn sign_out(&self, realm: Realm, access_token: Secret<String>) -> Result<(), Fail> {
        // A sign-out sends only the access token: the refresh token is a placeholder.
        let placeholder = Secret::new("placeholder-refresh-token-never-sent".to_owned());
        let mut session = self.session(realm, access_token, placeholder)?;
        let request = session.sign_out().map_err(flow_error)?;
        let response = self.send(request)?;
        match session
            .handle_response(&response, SystemTime::now())
            .map_err(flow_error)?
        {
            SessionStep::SignedOut {
                already_revoked: false,
            } => {
                eprintln!("signed out");
                Ok(())
            }
            SessionStep::SignedOut {
                already_revoked: true,
            } => Err(Fail::AlreadyRevoked(
                "sign-out: the host answered 401: the access token was already revoked or has expired"
                    .into(),
            )),
            SessionStep::RetryAt(at) => Err(rate_limited(at)),
            other => Err(failed(format!("unexpected step {other:?}"))),
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
