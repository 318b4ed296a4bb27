//! The flows on tokio with reqwest: a client sign-in, then ONE [`Session`] shared by 50
//! tasks that call the API at once, straight through a refresh of the access token, then
//! a sign-out. One `reqwest::Client` (`support/async_http.rs`) sends every request, so
//! its connections are opened once and reused.
//!
//! ```text
//! cargo run --features sim --example async_tokio                 # against the simulator, in-process
//! cargo run --features sim --example async_tokio -- --leeway 0   # the same, refreshing only at expiry
//! cargo run --features sim --example async_tokio -- --host URL --email E --api /api/PATH
//! ```
//!
//! Without `--host`, the example serves the crate's simulator on an ephemeral loopback
//! port (a real socket, in this process), with access tokens that live 3 s, and signs in
//! to its demo account `both@example.com`, which has Google Authenticator and SMS on: it
//! picks SMS and reads the code from the simulator's outbox, as a phone would. The
//! simulator has no account API, so the tasks call its stand-in `GET /_sim/api/whoami`,
//! which answers 200 only to a live access token of the account. The session starts its
//! refresh 1 s before the access token expires (`--leeway SECS` to change it): each task
//! calls every 100 ms, all of them in the same instant, until it has made 2 calls with the
//! refreshed token.
//!
//! With `--host`, the password comes from `B2CORE_PASSWORD` (or one line of stdin), a 2FA
//! method choice and code from stdin after a prompt on stderr, and the tasks `GET` the
//! `--api` path 3 times each; the session refreshes only if the token comes within the
//! leeway (default 30 s) of its expiry meanwhile.
//!
//! Secrets are never printed. Each request line of the flows (sign-in, refresh, sign-out)
//! and its status go to stderr, followed by a `deviation: ...` line for each way the answer
//! departs from the vendor's pages on a point they leave open (`b2core_auth::Deviation`).
//! Stdout gets one line, `summary: tasks=50 calls=N failed=0 refreshes=1 ...`. Exit 0 only
//! if no call failed and, against the simulator, exactly one refresh was sent and the
//! simulator saw no protocol violation.
//!
//! The session is shared as `Arc<SharedSession>` (`support/shared_session.rs`): a std
//! mutex locked only for `authorize` and `handle_response` (and `retry`), never across an
//! `.await` (a std `MutexGuard` is not `Send`, so the compiler refuses a spawned task that
//! would hold it across one), and a `tokio::sync::Notify`. What a task does with what
//! `authorize` says:
//!
//! - `Authorized::Ready`: send it. The access token serves until it expires, also while a
//!   refresh is in flight. The pages do not say whether a refresh revokes the old access
//!   token: the simulator's default reading does, so a call still on its way with it comes
//!   back 401; once the new token is in, that call goes once more (`sent-again` counts them).
//! - `Authorized::RefreshFirst`: this task alone sends the refresh (single flight), hands
//!   the answer to the session, wakes the waiting tasks, then authorizes its own call again.
//! - `Authorized::Wait`: the token has expired and the refresh is someone else's: wait
//!   on the `Notify` until the answer is handed in (or until `until`), then authorize again.
//!
//! Every call gets the clock's `SystemTime::now()`. A rate limit is waited out with
//! `tokio::time::sleep`, whether the host answered 429 (a `RetryAt` step) or the crate's
//! own attempt limit held the request (`Outgoing::RetryAt`, nothing sent); then `retry`
//! sends the request the flow held. No redirect is followed (see `support/async_http.rs`).

#[path = "support/async_http.rs"]
mod async_http;
#[path = "support/shared_session.rs"]
mod shared_session;
#[path = "support/sim_http.rs"]
mod sim_http;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use b2core_auth::client::{Credentials, Method, SignIn, SignInStep};
use b2core_auth::session::SessionState;
use b2core_auth::sim::{ClientAccount, Server, SimConfig};
use b2core_auth::{
    Authorized, DeviceFingerprint, Endpoint, Flow, Outgoing, Secret, Session, SessionStep,
    TokenPair,
};
use shared_session::{bearer_of, SharedSession};

const DEMO_EMAIL: &str = "both@example.com";
const DEMO_PASSWORD: &str = "QAzqw123!";
const DEMO_PHONE: &str = "+15550000002";
/// The simulator's access tokens live this long, so that a refresh comes within seconds.
const SIM_ACCESS_LIFETIME: Duration = Duration::from_secs(3);
/// What the tasks call on the simulator.
const SIM_API: &str = "/_sim/api/whoami";
/// How many tasks share the session, and how often each calls.
const TASKS: usize = 50;
const TICK: Duration = Duration::from_millis(100);
/// Against the simulator: the calls each task makes with the refreshed token, and the
/// longest the refresh may take to come.
const CALLS_AFTER_REFRESH: u32 = 2;
const SIM_RUN_LIMIT: Duration = Duration::from_secs(20);
/// Against a host: the calls each task makes.
const HOST_CALLS: u32 = 3;

/// Everything held between two `.await`s must be `Send` for a multi-threaded runtime (and
/// for `tokio::spawn` on any runtime). This fails to compile if it is not.
const _: () = {
    const fn is_send<T: Send + 'static>() {}
    is_send::<SignIn>();
    is_send::<SignInStep>();
    is_send::<TokenPair>();
    is_send::<Session>();
    is_send::<Authorized<Vec<u8>>>();
};

/// The same, for a whole future: it compiles only if `future` is `Send`.
fn assert_send<F: std::future::Future + Send>(future: F) -> F {
    future
}

// ---------------------------------------------------------------------------------------
// The sign-in.

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

/// Sleeps until `at` (the end of a rate limit, or a deadline). The runtime's timer runs
/// on its own clock: early by the wall clock, a flow says `RetryAt` again and the caller
/// waits again.
async fn sleep_until(at: SystemTime) {
    tokio::time::sleep(at.duration_since(SystemTime::now()).unwrap_or_default()).await;
}

/// Waits out a rate limit (a notice on stderr), then asks the flow to send again.
async fn wait_and_retry<F: Flow>(flow: &mut F, at: SystemTime) -> Result<Outgoing, String> {
    let wait = at.duration_since(SystemTime::now()).unwrap_or_default();
    eprintln!("rate limited: waiting {} s", round_up(wait));
    sleep_until(at).await;
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

fn line_of(request: &http::Request<Vec<u8>>) -> String {
    format!("{} {}", request.method(), request.uri().path())
}

/// The whole sign-in. `flow`, `outgoing` and `step` are held across the `.await`s.
async fn sign_in(
    http: async_http::Client,
    endpoint: Endpoint,
    email: String,
    password: Secret<String>,
    answers: Answers,
) -> Result<TokenPair, String> {
    let fingerprint = DeviceFingerprint::from_user_agent("b2core-auth-async-example/0.2")
        .map_err(|e| e.to_string())?;
    let mut flow = SignIn::new(endpoint);
    let mut outgoing = flow.start(SystemTime::now()).map_err(|e| e.to_string())?;
    loop {
        let request = request_of(&mut flow, outgoing).await?;
        let line = line_of(&request);
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

// ---------------------------------------------------------------------------------------
// One session, many tasks.

/// What every task shares: the session, the HTTP client (its pool), and the counts.
struct Shared {
    session: SharedSession,
    /// Set (before the session's waiting calls are woken) when the refresh's owner gave up
    /// on it.
    refresh_failed: AtomicBool,
    http: async_http::Client,
    /// The full URI of the API call.
    api: String,
    stats: Stats,
}

#[derive(Default)]
struct Stats {
    calls: AtomicU32,
    failed: AtomicU32,
    /// Refresh requests sent (a resend after a 429 or a transport error counts again).
    refreshes: AtomicU32,
    /// Refresh answers handed in that brought new tokens (changed under the session's lock).
    refreshed: AtomicU32,
    /// Calls sent with the old access token while a refresh was outstanding.
    during_refresh: AtomicU32,
    /// Calls that waited for a refresh answer (`Authorized::Wait`).
    waited: AtomicU32,
    /// Calls sent with an access token a refresh brought.
    after_refresh: AtomicU32,
    /// Calls sent once more after a 401 to a token a refresh replaced.
    sent_again: AtomicU32,
}

fn count(counter: &AtomicU32) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// When a task stops calling.
#[derive(Clone, Copy)]
enum Stop {
    /// After this many calls with a refreshed token (the simulator's tokens are short-lived).
    AfterRefresh(u32),
    /// After this many calls (a real host's tokens live long: a refresh may not come).
    Calls(u32),
}

/// One task: a call every `TICK`, on the same instants as every other task (so that they
/// all meet the refresh together, the hard case for single flight), until `stop`.
async fn caller(
    shared: Arc<Shared>,
    start: tokio::time::Instant,
    stop: Stop,
) -> Result<(), String> {
    let (mut calls, mut after_refresh) = (0, 0);
    for round in 0u32.. {
        tokio::time::sleep_until(start + TICK * round).await;
        count(&shared.stats.calls);
        let refreshed = call(&shared)
            .await
            .inspect_err(|_| count(&shared.stats.failed))?;
        (calls, after_refresh) = (calls + 1, after_refresh + u32::from(refreshed));
        match stop {
            Stop::AfterRefresh(n) if after_refresh >= n => return Ok(()),
            Stop::AfterRefresh(_) if TICK * round > SIM_RUN_LIMIT => {
                return Err(format!("no refresh within {SIM_RUN_LIMIT:?}"))
            }
            Stop::Calls(n) if calls >= n => return Ok(()),
            _ => {}
        }
    }
    Ok(())
}

/// One API call, authorized by the shared session. True if a refreshed token carried it.
async fn call(shared: &Shared) -> Result<bool, String> {
    let mut request = http::Request::get(&shared.api)
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    let give_up = SystemTime::now() + SIM_RUN_LIMIT;
    let mut sent_again = false;
    loop {
        let refreshed = shared.stats.refreshed.load(Ordering::SeqCst) > 0;
        // The lock is held for `authorize` only, never across an `.await`.
        let (authorized, changed) = shared.session.authorize(request, SystemTime::now());
        let authorized = authorized.map_err(|e| format!("authorize: {e}"))?;
        match authorized {
            Authorized::Ready(ready) => {
                if matches!(
                    shared.session.lock().state(),
                    SessionState::AwaitRefresh | SessionState::RateLimited
                ) {
                    count(&shared.stats.during_refresh);
                }
                let line = line_of(&ready);
                let used = bearer_of(&ready);
                let again = (!sent_again).then(|| ready.clone());
                let response = shared.http.send(ready).await?;
                if response.status() == http::StatusCode::UNAUTHORIZED {
                    // A host that revokes the old access token at the refresh refused a
                    // call still on its way with it: once the new one is in, once more.
                    if let Some(again) = again {
                        if shared.session.worth_resending(used.as_ref(), give_up).await {
                            count(&shared.stats.sent_again);
                            sent_again = true;
                            request = again;
                            continue;
                        }
                    }
                }
                if !response.status().is_success() {
                    return Err(format!("{line} -> {}", response.status().as_u16()));
                }
                if refreshed {
                    count(&shared.stats.after_refresh);
                }
                return Ok(refreshed);
            }
            // This task owns the refresh: no other gets one until its answer is in. Then its
            // own call is authorized again, with the new token. (Inside the leeway the old
            // token still serves: a caller in a hurry may send `original` at once instead.)
            Authorized::RefreshFirst { refresh, original } => {
                let result = refresh_session(shared, refresh).await;
                if result.is_err() {
                    shared.refresh_failed.store(true, Ordering::SeqCst);
                }
                shared.session.refreshed();
                result?;
                request = original;
            }
            Authorized::Wait { until, original } => {
                count(&shared.stats.waited);
                if shared.refresh_failed.load(Ordering::SeqCst) {
                    return Err("the refresh failed".to_owned());
                }
                match until {
                    Some(at) => tokio::select! {
                        () = changed => {}
                        () = sleep_until(at) => {}
                    },
                    None => changed.await,
                }
                request = original;
            }
            other => return Err(format!("unexpected {other:?}")),
        }
    }
}

/// Sends the refresh and hands its answer to the session: waits out a rate limit, and
/// resends (`retry`) after a transport error, twice at most. `Ok` once new tokens are in.
async fn refresh_session(shared: &Shared, refresh: http::Request<Vec<u8>>) -> Result<(), String> {
    let mut outgoing = Outgoing::Request(refresh);
    let mut resends = 0;
    loop {
        let request = match outgoing {
            Outgoing::Request(request) => request,
            Outgoing::RetryAt(at) => {
                let wait = at.duration_since(SystemTime::now()).unwrap_or_default();
                eprintln!("refresh rate limited: waiting {} s", round_up(wait));
                sleep_until(at).await;
                outgoing = shared
                    .session
                    .lock()
                    .retry(SystemTime::now())
                    .map_err(|e| e.to_string())?;
                continue;
            }
        };
        let line = line_of(&request);
        count(&shared.stats.refreshes);
        let response = match shared.http.send(request).await {
            Ok(response) => response,
            Err(e) if resends < 2 => {
                eprintln!("{line}: {e}; sending it again");
                resends += 1;
                outgoing = shared
                    .session
                    .lock()
                    .retry(SystemTime::now())
                    .map_err(|e| e.to_string())?;
                continue;
            }
            Err(e) => return Err(e),
        };
        eprintln!("{line} -> {}", response.status().as_u16());
        let step = {
            let mut session = shared.session.lock();
            let step = session.handle_response(&response, SystemTime::now());
            for deviation in session.take_deviations() {
                eprintln!("deviation: {deviation}");
            }
            if step == Ok(SessionStep::Active) {
                count(&shared.stats.refreshed); // under the lock: `call` reads it there
            }
            step.map_err(|e| format!("{line}: {e}"))?
        };
        match step {
            SessionStep::Active => return Ok(()),
            SessionStep::RetryAt(at) => outgoing = Outgoing::RetryAt(at),
            SessionStep::Ended => return Err("the refresh token was refused: sign in again".into()),
            other => return Err(format!("{line}: unexpected {other:?}")),
        }
    }
}

/// `TASKS` tasks calling through `session` until `stop`; the session comes back.
async fn call_concurrently(
    http: &async_http::Client,
    session: Session,
    api: String,
    stop: Stop,
) -> Result<(Session, Stats), String> {
    let shared = Arc::new(Shared {
        session: SharedSession::new(session),
        refresh_failed: AtomicBool::new(false),
        http: http.clone(),
        api,
        stats: Stats::default(),
    });
    let start = tokio::time::Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| tokio::spawn(assert_send(caller(Arc::clone(&shared), start, stop))))
        .collect();
    for task in tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("a task failed: {e}"),
            Err(e) => return Err(format!("a task panicked: {e}")),
        }
    }
    let shared = Arc::into_inner(shared).ok_or("every task has ended")?;
    Ok((shared.session.into_inner(), shared.stats))
}

/// Signs the session out: its tokens are revoked.
async fn sign_out(http: &async_http::Client, mut session: Session) -> Result<(), String> {
    let mut outgoing = session
        .sign_out(SystemTime::now())
        .map_err(|e| e.to_string())?;
    loop {
        let request = request_of(&mut session, outgoing).await?;
        let line = line_of(&request);
        let response = http.send(request).await?;
        eprintln!("{line} -> {}", response.status().as_u16());
        let step = session
            .handle_response(&response, SystemTime::now())
            .map_err(|e| e.to_string())?;
        outgoing = match step {
            SessionStep::SignedOut { .. } => return Ok(()),
            SessionStep::RetryAt(at) => wait_and_retry(&mut session, at).await?,
            other => return Err(format!("sign-out: unexpected {other:?}")),
        };
    }
}

// ---------------------------------------------------------------------------------------
// The command line.

fn demo_server() -> Server {
    let mut server = Server::new(SimConfig {
        access_lifetime: SIM_ACCESS_LIFETIME,
        ..SimConfig::default()
    });
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
    let leeway = match flag("--leeway").map(|s| s.parse::<u64>()) {
        None => None,
        Some(Ok(secs)) => Some(Duration::from_secs(secs)),
        Some(Err(_)) => {
            eprintln!("async_tokio: --leeway takes whole seconds");
            return ExitCode::from(2);
        }
    };
    match run(flag("--host"), flag("--email"), flag("--api"), leeway).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("async_tokio: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    host: Option<String>,
    email: Option<String>,
    api: Option<String>,
    leeway: Option<Duration>,
) -> Result<(), String> {
    let http = async_http::Client::new()?;
    let (base, email, password, answers, api, stop) = match host {
        Some(host) => {
            let (email, api) = email.zip(api).ok_or("--host needs --email and --api")?;
            if !api.starts_with('/') {
                return Err("--api takes a path, like /api/...".into());
            }
            let password = match std::env::var("B2CORE_PASSWORD") {
                Ok(p) => p,
                Err(_) => read_line("password (B2CORE_PASSWORD is unset)".into()).await?,
            };
            (
                host,
                email,
                password,
                Answers::Stdin,
                api,
                Stop::Calls(HOST_CALLS),
            )
        }
        None => {
            let running = sim_http::Running::start("127.0.0.1:0", demo_server(), |_| {})
                .map_err(|e| e.to_string())?;
            eprintln!("the simulator listens on {}", running.base_uri());
            let base = running.base_uri();
            let answers = Answers::Simulator(Arc::new(running));
            let stop = Stop::AfterRefresh(CALLS_AFTER_REFRESH);
            (
                base,
                DEMO_EMAIL.to_owned(),
                DEMO_PASSWORD.to_owned(),
                answers,
                SIM_API.to_owned(),
                stop,
            )
        }
    };
    let simulated = matches!(answers, Answers::Simulator(_));
    let endpoint = Endpoint::new(&base).map_err(|e| e.to_string())?;

    // A spawned task must be `Send`: the compiler checks the whole sign-in here.
    let task = tokio::spawn(assert_send(sign_in(
        http.clone(),
        endpoint.clone(),
        email,
        Secret::new(password),
        answers.clone(),
    )));
    let tokens = task
        .await
        .map_err(|e| format!("the sign-in task failed: {e}"))??;
    let until = b2core_auth::format_rfc3339(tokens.access().expires_at()).unwrap_or_default();
    eprintln!("signed in; the access token is valid until {until}");

    let mut session = Session::client(endpoint.clone(), tokens);
    // The simulator's tokens live 3 s: start the refresh 1 s before, not the default 30 s.
    match (leeway, simulated) {
        (Some(leeway), _) => session = session.with_leeway(leeway),
        (None, true) => session = session.with_leeway(Duration::from_secs(1)),
        (None, false) => {}
    }
    eprintln!(
        "{TASKS} tasks call GET {api} through one session (refresh {} s before expiry)",
        session.leeway().as_secs()
    );
    let api = format!("{}{api}", endpoint.as_str());
    let (session, stats) = call_concurrently(&http, session, api, stop).await?;
    let n = |counter: &AtomicU32| counter.load(Ordering::Relaxed);
    let (failed, refreshes) = (n(&stats.failed), n(&stats.refreshes));
    println!(
        "summary: tasks={TASKS} calls={} failed={failed} refreshes={refreshes} \
         served-during-refresh={} waited={} after-refresh={} sent-again={}",
        n(&stats.calls),
        n(&stats.during_refresh),
        n(&stats.waited),
        n(&stats.after_refresh),
        n(&stats.sent_again),
    );
    if failed > 0 {
        return Err(format!("{failed} calls failed"));
    }
    if simulated && refreshes != 1 {
        return Err(format!("{refreshes} refreshes were sent, not 1"));
    }
    sign_out(&http, session).await?;
    eprintln!("signed out");

    if let Answers::Simulator(running) = answers {
        let violations = running.sim().violations().to_vec();
        if !violations.is_empty() {
            return Err(format!("the simulator recorded violations: {violations:?}"));
        }
        eprintln!("the simulator recorded no protocol violation");
    }
    Ok(())
}
