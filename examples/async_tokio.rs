//! The client sign-in on tokio, with an async HTTP client (hyper, see
//! `support/async_http.rs`). The flow is the same sans-IO `SignIn` as everywhere else: it
//! lives across every `.await` (it is `Send`, checked at compile time below), and the
//! whole sign-in runs as a spawned task.
//!
//! ```text
//! cargo run --features sim --example async_tokio                         # against the simulator, in-process
//! cargo run --features sim --example async_tokio -- --host URL --email E  # against a real host
//! ```
//!
//! Without `--host`, the example serves the crate's simulator on an ephemeral loopback port
//! (a real socket, in this process) and signs in to its demo account `both@example.com`,
//! which has Google Authenticator and SMS on: it picks SMS and reads the code from the
//! simulator's outbox, as a phone would. Exit 0 only if it signed in and the simulator saw
//! no protocol violation.
//!
//! With `--host`, the password comes from `B2CORE_PASSWORD` (or one line of stdin), and a
//! 2FA method choice and code from stdin, after a prompt on stderr. Secrets are never
//! printed; on success the access token's expiry is. Each request line and status goes to
//! stderr, followed by a `deviation: ...` line for each way the answer departs from the
//! vendor's pages on a point they leave open (`b2core_auth::Deviation`).
//!
//! Every call gets the clock's `SystemTime::now()`. A rate limit is waited out with
//! `tokio::time::sleep` (the runtime goes on with other tasks meanwhile), whether the host
//! answered 429 (a `RetryAt` step) or the crate's own attempt limit held the request
//! (`Outgoing::RetryAt`, nothing sent); then `retry` sends the request the flow held.
//!
//! No redirect is followed: hyper's connection-level client sends the one request it is
//! given (`support/async_http.rs`), so a 3xx is the answer, which the flow refuses, and
//! the password or token in the request goes nowhere else.

#[path = "support/async_http.rs"]
mod async_http;
#[path = "support/sim_http.rs"]
mod sim_http;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use b2core_auth::client::{Credentials, Method, SignIn, SignInStep};
use b2core_auth::sim::{ClientAccount, Server, SimConfig};
use b2core_auth::{DeviceFingerprint, Endpoint, Flow, Outgoing, Secret, TokenPair};

const DEMO_EMAIL: &str = "both@example.com";
const DEMO_PASSWORD: &str = "QAzqw123!";
const DEMO_PHONE: &str = "+15550000002";

/// Everything the flow holds between two `.await`s must be `Send` for a multi-threaded
/// runtime (and for `tokio::spawn` on any runtime). This fails to compile if it is not.
const _: () = {
    const fn is_send<T: Send + 'static>() {}
    is_send::<SignIn>();
    is_send::<SignInStep>();
    is_send::<TokenPair>();
    is_send::<b2core_auth::Session>();
};

/// The same, for a whole future: it compiles only if `future` is `Send`.
fn assert_send<F: std::future::Future + Send>(future: F) -> F {
    future
}

/// Where answers come from: the in-process simulator, or the person at the terminal.
#[derive(Clone)]
enum Answers {
    Simulator(Arc<sim_http::Running>),
    Stdin,
}

impl Answers {
    async fn method(&self, offered: &[Method]) -> Result<Method, String> {
        match self {
            Answers::Simulator(_) if offered.contains(&Method::Sms) => Ok(Method::Sms),
            Answers::Simulator(_) => offered.first().copied().ok_or("no method offered".into()),
            Answers::Stdin => {
                let names: Vec<_> = offered.iter().map(|m| m.as_str()).collect();
                let line =
                    read_line(format!("choose a 2FA method ({})", names.join(" or "))).await?;
                offered
                    .iter()
                    .copied()
                    .find(|m| m.as_str() == line.trim())
                    .ok_or_else(|| format!("`{}` is not one of {names:?}", line.trim()))
            }
        }
    }

    async fn code(&self, method: Method, email: &str) -> Result<String, String> {
        match (self, method) {
            // The lock is taken and released between awaits, never held across one.
            (Answers::Simulator(sim), Method::Sms) => sim
                .sim()
                .last_code_to(DEMO_PHONE)
                .map(str::to_owned)
                .ok_or_else(|| "the simulator sent no SMS".to_owned()),
            (Answers::Simulator(sim), _) => sim
                .sim()
                .google_code(email, SystemTime::now())
                .ok_or_else(|| "the account has no Google Authenticator".to_owned()),
            (Answers::Stdin, _) => read_line(format!("the {} code", method.as_str())).await,
        }
    }
}

/// One line of stdin, read on tokio's blocking pool so the runtime keeps running.
async fn read_line(prompt: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || {
        eprintln!("{prompt}: reading one line from standard input");
        let mut line = String::new();
        match std::io::stdin().read_line(&mut line) {
            Ok(0) => Err(format!("no answer for {prompt}: standard input ended")),
            Ok(_) => Ok(line.trim_end_matches(['\r', '\n']).to_owned()),
            Err(e) => Err(format!("cannot read standard input: {e}")),
        }
    })
    .await
    .map_err(|e| format!("the stdin task failed: {e}"))?
}

/// Sleeps until `at`, the end of a rate limit (a notice on stderr), then asks the flow to
/// send again. Early by the wall clock (the runtime's timer runs on its own clock), the
/// flow says `RetryAt` again and the caller waits again.
async fn wait_and_retry<F: Flow>(flow: &mut F, at: SystemTime) -> Result<Outgoing, String> {
    let wait = at.duration_since(SystemTime::now()).unwrap_or_default();
    eprintln!("rate limited: waiting {} s", round_up(wait));
    tokio::time::sleep(wait).await;
    flow.retry(SystemTime::now()).map_err(|e| e.to_string())
}

fn round_up(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The request a call returned, after waiting out any rate limit the flow holds it for.
async fn request_of<F: Flow>(
    flow: &mut F,
    mut outgoing: Outgoing,
) -> Result<http::Request<Vec<u8>>, String> {
    loop {
        match outgoing {
            Outgoing::Request(request) => return Ok(request),
            Outgoing::RetryAt(at) => outgoing = wait_and_retry(flow, at).await?,
        }
    }
}

/// The whole sign-in. `flow`, `outgoing` and `step` are held across the `.await`s.
async fn sign_in(
    http: async_http::Client,
    endpoint: Endpoint,
    email: String,
    password: Secret<String>,
    answers: Answers,
) -> Result<TokenPair, String> {
    let fingerprint = DeviceFingerprint::from_user_agent("b2core-auth-async-example/0.1")
        .map_err(|e| e.to_string())?;
    let mut flow = SignIn::new(endpoint);
    let mut outgoing = flow.start(SystemTime::now()).map_err(|e| e.to_string())?;
    loop {
        let request = request_of(&mut flow, outgoing).await?;
        let line = format!("{} {}", request.method(), request.uri().path());
        let response = http.send(request).await?;
        eprintln!("{line} -> {}", response.status().as_u16());
        let step = flow
            .handle_response(&response, SystemTime::now())
            .map_err(|e| e.to_string())?;
        // Where the answer departs from the pages on a point they leave open (never a secret).
        for deviation in flow.take_deviations() {
            eprintln!("deviation: {deviation}");
        }
        outgoing = match step {
            SignInStep::Credentials { rejected: None, .. } => {
                let credentials =
                    Credentials::new(email.as_str(), password.clone(), fingerprint.clone());
                flow.submit_credentials(credentials, SystemTime::now())
            }
            SignInStep::ChooseMethod {
                methods,
                rejected: None,
            } => {
                let method = answers.method(&methods).await?;
                eprintln!("2FA by {}", method.as_str());
                flow.choose_method(method, SystemTime::now())
            }
            SignInStep::Code {
                method,
                rejected: None,
            } => {
                let code = answers.code(method, &email).await?;
                flow.submit_code(code, SystemTime::now())
            }
            // The host's 429: the flow holds the request until `at`.
            SignInStep::RetryAt(at) => Ok(wait_and_retry(&mut flow, at).await?),
            SignInStep::Done(tokens) => return Ok(tokens),
            // Refusals and the rest: say what it was (steps print no secret) and stop.
            other => return Err(format!("stopped at {other:?}")),
        }
        .map_err(|e| e.to_string())?;
    }
}

fn demo_server() -> Server {
    let mut server = Server::new(SimConfig::default());
    server.add_client(
        ClientAccount::new(DEMO_EMAIL, DEMO_PASSWORD)
            .with_google()
            .with_phone(DEMO_PHONE)
            .with_sms(),
    );
    server
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    match run(flag("--host"), flag("--email")).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("async_tokio: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(host: Option<String>, email: Option<String>) -> Result<(), String> {
    let http = async_http::Client::new()?;
    let (base, email, password, answers) = match host {
        Some(host) => {
            let email = email.ok_or("--host needs --email")?;
            let password = match std::env::var("B2CORE_PASSWORD") {
                Ok(p) => p,
                Err(_) => read_line("password (B2CORE_PASSWORD is unset)".into()).await?,
            };
            (host, email, password, Answers::Stdin)
        }
        None => {
            let running = sim_http::Running::start("127.0.0.1:0", demo_server(), |_| {})
                .map_err(|e| e.to_string())?;
            eprintln!("the simulator listens on {}", running.base_uri());
            let base = running.base_uri();
            let answers = Answers::Simulator(Arc::new(running));
            (
                base,
                DEMO_EMAIL.to_owned(),
                DEMO_PASSWORD.to_owned(),
                answers,
            )
        }
    };
    let endpoint = Endpoint::new(&base).map_err(|e| e.to_string())?;
    // A spawned task must be `Send`: the compiler checks the whole sign-in here.
    let task = tokio::spawn(assert_send(sign_in(
        http,
        endpoint,
        email,
        Secret::new(password),
        answers.clone(),
    )));
    let tokens = task
        .await
        .map_err(|e| format!("the sign-in task failed: {e}"))??;
    let until = b2core_auth::format_rfc3339(tokens.access().expires_at()).unwrap_or_default();
    eprintln!("signed in; the access token is valid until {until}");
    if let Answers::Simulator(running) = answers {
        let violations = running.sim().violations().to_vec();
        if !violations.is_empty() {
            return Err(format!("the simulator recorded violations: {violations:?}"));
        }
        eprintln!("the simulator recorded no protocol violation");
    }
    Ok(())
}
