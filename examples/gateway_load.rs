//! A bounded load run of the example gateway (`examples/gateway/`) on loopback, with the
//! simulator in this process: how many full sign-ins per second the gateway serves, and
//! the latency of one proxied `/api` call. Person-run (`scripts/gateway-load.sh`), not CI:
//! its numbers depend on the machine, and one run is all it measures.
//!
//! ```text
//! cargo run --release --features sim --example gateway_load -- [--signins N] [--concurrency C] [--calls M]
//! ```
//!
//! The simulator (`support/sim_http.rs`) and the gateway (`gateway::Gateway`) each serve
//! on a free loopback port, on a thread and tokio runtime of their own; this program is the
//! browser side, on one more thread (a current-thread runtime), over real HTTP (reqwest,
//! one client whose connection pool every task shares, no redirect followed, the `gw`
//! cookie kept by hand). The gateway's store is a SQLite file in a fresh temporary
//! directory, removed at the end.
//!
//! 1. **Sign-ins**: N full sign-ins (default 200), C at a time (default 8). Each starts
//!    with no cookie and sends `POST /signin` → `GET /` (`credentials`) →
//!    `POST /signin/credentials` → `GET /` (`signed-in`): four requests through the
//!    gateway, two of which reach the simulator (the wizard and the sign-in). Each uses
//!    its own account (`user{i}@example.com`, no 2FA, all added up front), since the
//!    simulator limits client sign-ins to 5 per account per minute.
//! 2. **Proxied calls**: C of those visitors (signed in, the cookie each got) make M
//!    calls of `GET /api/whoami` in all (default 5000), C at a time; each must be 200
//!    with the visitor's own email. The gateway maps it to the simulator's stand-in API
//!    (`/_sim/api/whoami`) with the session's token.
//! 3. **Baseline**: the same loop, M calls C at a time, of `GET /_sim/violations` on the
//!    simulator directly (no gateway, no token: a read of the simulator's state, about
//!    as cheap as the stand-in API). The ratio gateway/direct is the gateway's cost per
//!    call, and means more than the absolute times on a noisy machine.
//! 4. **Calls during sign-ins**: the M proxied calls again, while the N sign-ins run once
//!    more (the same accounts, the second attempt of each within the minute): whether a
//!    visitor's call waits on another's sign-in being written to the store.
//!
//! Before 2 and 3, a short warm-up (4·C calls, not counted) of each. Stdout gets a
//! markdown table of the numbers and the parameters; the exit status is 0 only if every
//! request got the answer it should and the simulator saw no protocol violation, else
//! 1, with the number of failures and the first one on stderr. A phase stops early after
//! [`MAX_FAILURES`] failures, so that a broken gateway does not hold the run for long.

#[path = "gateway/app/mod.rs"]
mod gateway;
#[path = "support/sim_http.rs"]
mod sim_http;

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use b2core_auth::sim::{ClientAccount, Server, SimConfig};
use b2core_auth::Endpoint;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;

const PASSWORD: &str = "QAzqw123!";
/// The cookie the gateway sets over plain HTTP (`Config::secure_cookie` off).
const COOKIE_NAME: &str = "gw";
const FORM: &str = "application/x-www-form-urlencoded";
/// The longest one exchange may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// A phase stops taking new work after this many failures.
const MAX_FAILURES: usize = 20;

const USAGE: &str = "usage: gateway_load [--signins N] [--concurrency C] [--calls M]
  --signins N      full sign-ins through the gateway (default 200)
  --concurrency C  sign-ins or calls in flight at once, and signed-in visitors (default 8)
  --calls M        proxied GET /api/whoami calls, and as many direct baseline calls (default 5000)";

struct Args {
    signins: usize,
    concurrency: usize,
    calls: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        signins: 200,
        concurrency: 8,
        calls: 5000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (arg.clone(), None),
        };
        let slot = match name.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--signins" => &mut args.signins,
            "--concurrency" => &mut args.concurrency,
            "--calls" => &mut args.calls,
            _ => return Err(format!("unknown argument {arg:?}")),
        };
        let value = match inline.or_else(|| it.next()) {
            Some(value) => value,
            None => return Err(format!("{name} takes a number")),
        };
        *slot = match value.parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => {
                return Err(format!(
                    "{name} takes a whole number of at least 1, not {value:?}"
                ))
            }
        };
    }
    Ok(args)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("gateway_load: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("gateway_load: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Removes the temporary directory when dropped (declared before the gateway, so dropped
/// after it: the store is closed first).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self, String> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path =
            std::env::temp_dir().join(format!("gateway-load-{}-{nanos:09}", std::process::id()));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            eprintln!("gateway_load: cannot remove {}: {e}", self.0.display());
        }
    }
}

/// Failures of one run: how many, and the first.
#[derive(Default)]
struct Failures {
    count: AtomicUsize,
    first: Mutex<Option<String>>,
}

impl Failures {
    fn record(&self, what: String) {
        self.count.fetch_add(1, Ordering::SeqCst);
        let mut first = self.first.lock().unwrap_or_else(PoisonError::into_inner);
        first.get_or_insert(what);
    }

    fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

/// What one phase measured.
struct Phase {
    /// Jobs that succeeded.
    done: usize,
    /// Jobs that failed.
    failed: usize,
    /// True when it stopped after `MAX_FAILURES`.
    stopped_early: bool,
    wall: Duration,
    /// Latency of each successful job, sorted.
    latencies: Vec<Duration>,
}

impl Phase {
    fn per_second(&self) -> f64 {
        self.done as f64 / self.wall.as_secs_f64()
    }

    /// Nearest-rank percentile.
    fn percentile(&self, q: f64) -> Option<Duration> {
        if self.latencies.is_empty() {
            return None;
        }
        let rank = (q * self.latencies.len() as f64).ceil() as usize;
        Some(self.latencies[rank.clamp(1, self.latencies.len()) - 1])
    }
}

/// Runs `total` jobs, `concurrency` at a time; job `i` gets `(i, worker)`. Returns the
/// phase's numbers and each successful job's output with its index.
async fn pool<T, F, Fut>(
    label: &'static str,
    total: usize,
    concurrency: usize,
    failures: &Arc<Failures>,
    job: F,
) -> (Phase, Vec<(usize, T)>)
where
    T: Send + 'static,
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, String>> + Send + 'static,
{
    let job = Arc::new(job);
    let next = Arc::new(AtomicUsize::new(0));
    let phase_failures = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency.min(total) {
        let (job, next, failures, phase_failures) = (
            Arc::clone(&job),
            Arc::clone(&next),
            Arc::clone(failures),
            Arc::clone(&phase_failures),
        );
        tasks.spawn(async move {
            let mut out = Vec::new();
            let mut latencies = Vec::new();
            loop {
                if phase_failures.load(Ordering::SeqCst) >= MAX_FAILURES {
                    break;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= total {
                    break;
                }
                let t0 = Instant::now();
                match job(i, worker).await {
                    Ok(value) => {
                        latencies.push(t0.elapsed());
                        out.push((i, value));
                    }
                    Err(e) => {
                        phase_failures.fetch_add(1, Ordering::SeqCst);
                        failures.record(format!("{label} #{i}: {e}"));
                    }
                }
            }
            (out, latencies)
        });
    }
    let mut out = Vec::new();
    let mut latencies = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((o, l)) => {
                out.extend(o);
                latencies.extend(l);
            }
            Err(e) => {
                phase_failures.fetch_add(1, Ordering::SeqCst);
                failures.record(format!("{label}: a task ended: {e}"));
            }
        }
    }
    let wall = started.elapsed();
    latencies.sort_unstable();
    out.sort_unstable_by_key(|(i, _)| *i);
    let failed = phase_failures.load(Ordering::SeqCst);
    let phase = Phase {
        done: latencies.len(),
        failed,
        stopped_early: failed >= MAX_FAILURES && latencies.len() + failed < total,
        wall,
        latencies,
    };
    (phase, out)
}

async fn run(args: Args) -> Result<bool, String> {
    let Args {
        signins,
        concurrency,
        calls,
    } = args;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());

    let mut server = Server::new(SimConfig::default());
    for i in 0..signins {
        server.add_client(ClientAccount::new(email(i), PASSWORD));
    }
    let sim = sim_http::Running::start("127.0.0.1:0", server, |_| {})
        .map_err(|e| format!("cannot start the simulator: {e}"))?;
    let sim_base = sim.base_uri();

    let dir = TempDir::new()?;
    let endpoint = Endpoint::new(&sim_base).map_err(|e| format!("endpoint {sim_base}: {e}"))?;
    let config = gateway::Config::new(
        endpoint,
        format!("{sim_base}/_sim/api"),
        dir.0.join("gateway.sqlite3"),
    );
    let gw = gateway::Gateway::start("127.0.0.1:0", config)
        .map_err(|e| format!("cannot start the gateway: {e}"))?;
    let gw_base = gw.base_uri();
    eprintln!(
        "gateway_load: simulator {sim_base}, gateway {gw_base}, store in {}",
        dir.0.display()
    );

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| format!("HTTP client setup: {}", chain(&e)))?;
    let failures = Arc::new(Failures::default());

    // 1. Full sign-ins, each with a fresh cookie jar.
    eprintln!("gateway_load: {signins} sign-ins, {concurrency} at a time");
    let (sign_ins, cookies) = {
        let (http, base) = (http.clone(), gw_base.clone());
        pool("sign-in", signins, concurrency, &failures, move |i, _| {
            let (http, base) = (http.clone(), base.clone());
            async move { sign_in(&http, &base, &email(i)).await }
        })
        .await
    };

    // 2. Proxied calls by C signed-in visitors; 3. the same loop on the simulator directly.
    let visitors: Arc<Vec<(String, String)>> = Arc::new(
        cookies
            .into_iter()
            .take(concurrency)
            .map(|(i, cookie)| (cookie, email(i)))
            .collect(),
    );
    let (mut proxied, mut direct, mut during_sign_ins) = (None, None, None);
    if visitors.is_empty() {
        eprintln!("gateway_load: no visitor signed in: no /api calls");
    } else {
        let api_call = {
            let (http, base, visitors) = (http.clone(), gw_base.clone(), Arc::clone(&visitors));
            move |_: usize, worker: usize| {
                let (http, base, visitors) = (http.clone(), base.clone(), Arc::clone(&visitors));
                async move {
                    let (cookie, email) = &visitors[worker % visitors.len()];
                    whoami(&http, &base, cookie, email).await
                }
            }
        };
        let direct_call = {
            let (http, base) = (http.clone(), sim_base.clone());
            move |_: usize, _: usize| {
                let (http, base) = (http.clone(), base.clone());
                async move { violations(&http, &base).await }
            }
        };
        let warm_up = 4 * concurrency;
        eprintln!(
            "gateway_load: {calls} proxied calls, {concurrency} at a time, then {calls} direct"
        );
        pool(
            "warm-up /api/whoami",
            warm_up,
            concurrency,
            &failures,
            api_call.clone(),
        )
        .await;
        proxied = Some(
            pool(
                "GET /api/whoami",
                calls,
                concurrency,
                &failures,
                api_call.clone(),
            )
            .await
            .0,
        );
        pool(
            "warm-up /_sim/violations",
            warm_up,
            concurrency,
            &failures,
            direct_call.clone(),
        )
        .await;
        direct = Some(
            pool(
                "GET /_sim/violations",
                calls,
                concurrency,
                &failures,
                direct_call,
            )
            .await
            .0,
        );
        // 4. The proxied calls again, while the same sign-ins run once more: does a visitor's
        // API call wait for another's sign-in being written to the store?
        eprintln!("gateway_load: {calls} proxied calls while {signins} sign-ins run");
        let sign_ins_again = {
            let (http, base) = (http.clone(), gw_base.clone());
            pool("sign-in", signins, concurrency, &failures, move |i, _| {
                let (http, base) = (http.clone(), base.clone());
                async move { sign_in(&http, &base, &email(i)).await }
            })
        };
        let calls_meanwhile = pool("GET /api/whoami", calls, concurrency, &failures, api_call);
        let ((_, _), (meanwhile, _)) = tokio::join!(sign_ins_again, calls_meanwhile);
        during_sign_ins = Some(meanwhile);
    }

    let violations = sim.sim().violations().to_vec();
    drop(gw);
    drop(sim);
    drop(dir);

    // The report.
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!(
        "gateway load, one run: signins={signins} concurrency={concurrency} calls={calls} (by {} signed-in visitors), cores={cores}, {build} build, loopback, simulator in process\n",
        visitors.len()
    );
    println!("| measured | n | wall s | per s | p50 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    row("full sign-in (4 requests, fresh cookie)", &sign_ins);
    if let Some(p) = &proxied {
        row("`GET /api/whoami` via the gateway", p);
    }
    if let Some(d) = &direct {
        row("`GET /_sim/violations` direct (baseline)", d);
    }
    if let Some(m) = &during_sign_ins {
        row("`GET /api/whoami` via the gateway, sign-ins running", m);
    }
    if let (Some(p), Some(d)) = (&proxied, &direct) {
        let ratio = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
            (Some(a), Some(b)) if !b.is_zero() => {
                format!("{:.2}", a.as_secs_f64() / b.as_secs_f64())
            }
            _ => "–".to_owned(),
        };
        let per_s = if d.per_second() > 0.0 {
            format!("{:.2}", p.per_second() / d.per_second())
        } else {
            "–".to_owned()
        };
        println!(
            "| ratio via gateway / direct | | | {per_s} | {} | {} | {} |",
            ratio(p.percentile(0.50), d.percentile(0.50)),
            ratio(p.percentile(0.99), d.percentile(0.99)),
            ratio(p.latencies.last().copied(), d.latencies.last().copied()),
        );
    }

    let mut clean = true;
    for (name, phase) in [
        ("sign-ins", Some(&sign_ins)),
        ("proxied calls", proxied.as_ref()),
        ("direct calls", direct.as_ref()),
        ("proxied calls during sign-ins", during_sign_ins.as_ref()),
    ] {
        if let Some(phase) = phase {
            if phase.stopped_early {
                eprintln!(
                    "gateway_load: {name}: stopped early after {} failures",
                    phase.failed
                );
            }
        }
    }
    let failed = failures.count();
    if failed > 0 {
        clean = false;
        let first = failures
            .first
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        eprintln!(
            "gateway_load: {failed} request(s) failed; the first: {}",
            first.unwrap_or_default()
        );
    }
    if !violations.is_empty() {
        clean = false;
        eprintln!(
            "gateway_load: the simulator saw {} protocol violation(s); the first: {} ({})",
            violations.len(),
            violations[0].request,
            violations[0].reason
        );
    }
    Ok(clean)
}

fn row(what: &str, phase: &Phase) {
    let ms = |d: Option<Duration>| {
        d.map_or("–".to_owned(), |d| {
            format!("{:.3}", d.as_secs_f64() * 1e3)
        })
    };
    let n = if phase.failed > 0 {
        format!("{} (+{} failed)", phase.done, phase.failed)
    } else {
        phase.done.to_string()
    };
    println!(
        "| {what} | {n} | {:.3} | {:.1} | {} | {} | {} |",
        phase.wall.as_secs_f64(),
        phase.per_second(),
        ms(phase.percentile(0.50)),
        ms(phase.percentile(0.99)),
        ms(phase.latencies.last().copied()),
    );
}

fn email(i: usize) -> String {
    format!("user{i}@example.com")
}

/// One full sign-in with a fresh cookie jar; returns the visitor's cookie.
async fn sign_in(http: &reqwest::Client, base: &str, email: &str) -> Result<String, String> {
    let mut jar = None;
    post_form(http, base, "/signin", &mut jar, String::new()).await?;
    if jar.is_none() {
        return Err(format!("POST /signin set no `{COOKIE_NAME}` cookie"));
    }
    expect_step(http, base, &mut jar, "credentials").await?;
    let form = format!(
        "email={}&password={}",
        form_encode(email),
        form_encode(PASSWORD)
    );
    post_form(http, base, "/signin/credentials", &mut jar, form).await?;
    expect_step(http, base, &mut jar, "signed-in").await?;
    jar.ok_or_else(|| format!("the `{COOKIE_NAME}` cookie was cleared"))
}

/// A form POST, answered `303 See Other` to `/`.
async fn post_form(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    jar: &mut Option<String>,
    body: String,
) -> Result<(), String> {
    let mut request = http
        .post(format!("{base}{path}"))
        .header(CONTENT_TYPE, FORM)
        .body(body);
    if let Some(cookie) = jar.as_deref() {
        request = request.header(COOKIE, format!("{COOKIE_NAME}={cookie}"));
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("POST {path}: {}", chain(&e)))?;
    take_cookie(&response, jar);
    let status = response.status();
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .map(str::to_owned);
    let body = response
        .text()
        .await
        .map_err(|e| format!("POST {path}: reading the answer: {}", chain(&e)))?;
    if status != StatusCode::SEE_OTHER || location.as_deref() != Some("/") {
        return Err(format!(
            "POST {path}: {status}, Location {location:?} (expected 303 to /): {}",
            snippet(&body)
        ));
    }
    Ok(())
}

/// `GET /` shows the page of step `step`.
async fn expect_step(
    http: &reqwest::Client,
    base: &str,
    jar: &mut Option<String>,
    step: &str,
) -> Result<(), String> {
    let mut request = http.get(format!("{base}/"));
    if let Some(cookie) = jar.as_deref() {
        request = request.header(COOKIE, format!("{COOKIE_NAME}={cookie}"));
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("GET /: {}", chain(&e)))?;
    take_cookie(&response, jar);
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| format!("GET /: reading the answer: {}", chain(&e)))?;
    let shown = between(&body, "data-step=\"", "\"");
    if status != StatusCode::OK || shown != Some(step) {
        let error = between(&body, "<p id=\"error\">", "</p>");
        return Err(format!(
            "GET /: {status}, step {shown:?} (expected 200, {step:?}), error {error:?}"
        ));
    }
    Ok(())
}

/// `GET /api/whoami` through the gateway: 200 with the visitor's email.
async fn whoami(
    http: &reqwest::Client,
    base: &str,
    cookie: &str,
    email: &str,
) -> Result<(), String> {
    let response = http
        .get(format!("{base}/api/whoami"))
        .header(COOKIE, format!("{COOKIE_NAME}={cookie}"))
        .send()
        .await
        .map_err(|e| format!("GET /api/whoami: {}", chain(&e)))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("GET /api/whoami: reading the answer: {}", chain(&e)))?;
    let answered = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("email").and_then(|e| e.as_str()).map(str::to_owned));
    if status != StatusCode::OK || answered.as_deref() != Some(email) {
        return Err(format!(
            "GET /api/whoami: {status} (expected 200 {{\"email\":{email:?}}}): {}",
            snippet(&String::from_utf8_lossy(&body))
        ));
    }
    Ok(())
}

/// `GET /_sim/violations` on the simulator directly: 200.
async fn violations(http: &reqwest::Client, base: &str) -> Result<(), String> {
    let response = http
        .get(format!("{base}/_sim/violations"))
        .send()
        .await
        .map_err(|e| format!("GET /_sim/violations: {}", chain(&e)))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("GET /_sim/violations: reading the answer: {}", chain(&e)))?;
    if status != StatusCode::OK {
        return Err(format!(
            "GET /_sim/violations: {status}: {}",
            snippet(&String::from_utf8_lossy(&body))
        ));
    }
    Ok(())
}

/// Keeps the `gw` cookie a response sets (a `Max-Age=0` clears it).
fn take_cookie(response: &reqwest::Response, jar: &mut Option<String>) {
    for header in response.headers().get_all(SET_COOKIE) {
        let Ok(header) = header.to_str() else {
            continue;
        };
        let mut parts = header.split(';').map(str::trim);
        let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
            continue;
        };
        if name != COOKIE_NAME {
            continue;
        }
        let cleared = parts.any(|p| p.eq_ignore_ascii_case("max-age=0")) || value.is_empty();
        *jar = if cleared {
            None
        } else {
            Some(value.to_owned())
        };
    }
}

/// The text between the first `start` and the next `end`.
fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}

/// The start of an answer, for an error message.
fn snippet(body: &str) -> String {
    let cut: String = body.chars().take(200).collect();
    if cut.len() < body.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// An error and its sources, for a message.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}
