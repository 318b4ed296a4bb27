//! A gateway that keeps tokens away from the browser: the B2Core sign-in and sign-up
//! wizards run on the server, each browser request resuming the visitor's parked flow
//! from a SQLite store, and once signed in `/api/*` is proxied with the visitor's session.
//! The browser holds only a random id in an `HttpOnly`, `SameSite=Strict` cookie.
//!
//! ```text
//! cargo run --features sim --example gateway                     # the simulator in process; open the URL printed
//! cargo run --features sim --example gateway -- --host https://host.name --db gateway.sqlite3
//! ```
//!
//! Without `--host`, the crate's simulator is served in the same process on a free
//! loopback port, with demo accounts (printed at start; their codes sent "by SMS" or
//! "by email" are printed on stderr, and a Google Authenticator code is at the
//! simulator's `/_sim/google-code?email=...`). `/api/whoami` then answers with the
//! signed-in email: the simulator's stand-in for an API.
//!
//! With `--host`, `/api/{rest}` goes to `<host>/api/{rest}` (`--api-base` to change it).
//! `--db PATH` keeps the store in a file of yours (created owner-only): restart the
//! gateway with the same one and every visitor resumes where they were. Without it, the
//! store is a temporary file, removed when the gateway stops (Ctrl-C).
//!
//! Served as plain HTTP: behind a TLS proxy, pass `--secure-cookie` so the cookie is
//! `Secure` (and named `__Host-gw`), and `--public-url https://...` for the links the
//! host emails. The code is in `examples/gateway/app/`.

#[path = "app/mod.rs"]
mod app;
#[path = "../support/sim_http.rs"]
mod sim_http;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use b2core_auth::sim::{ClientAccount, Server, SimConfig};
use b2core_auth::Endpoint;
use clap::Parser;

/// The password of every demo account.
const DEMO_PASSWORD: &str = "QAzqw123!";

#[derive(Parser)]
#[command(about = "A sign-in gateway for B2Core that keeps the tokens on the server")]
struct Args {
    /// Where the gateway listens (`127.0.0.1:0`: a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// The B2Core host (default: the simulator, in this process).
    #[arg(long)]
    host: Option<String>,
    /// Where `/api/{rest}` goes (default: `<host>/api`; with the simulator, its stand-in
    /// API). Must be on the host's origin.
    #[arg(long)]
    api_base: Option<String>,
    /// The store's SQLite file (default: a temporary one, removed at exit).
    #[arg(long)]
    db: Option<PathBuf>,
    /// The gateway is reached over https (a TLS proxy in front): mark the cookie `Secure`.
    #[arg(long)]
    secure_cookie: bool,
    /// Where browsers reach the gateway, for the links the host emails (default:
    /// `http://` and the address it listens on).
    #[arg(long)]
    public_url: Option<String>,
    /// Allow a `--host` of plain `http://` that is not loopback (passwords and tokens in
    /// cleartext on the network).
    #[arg(long)]
    insecure_http: bool,
    /// Wizard steps expire this many seconds after the last one.
    #[arg(long, default_value_t = 15 * 60)]
    flow_ttl: u64,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gateway: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // The simulator, unless a host was given; kept running until the gateway stops.
    let (simulator, host) = match args.host {
        Some(host) => (None, host),
        None => {
            let running = sim_http::Running::start("127.0.0.1:0", demo_server(), tell)?;
            let base = running.base_uri();
            say(&format!("simulator: {base}"))?;
            eprintln!(
                "demo accounts, password {DEMO_PASSWORD}: plain@example.com (no 2FA), \
                 google@example.com (Google code: {base}/_sim/google-code?email=google%40example.com), \
                 sms@example.com, both@example.com (Google or SMS), \
                 reset@example.com (must change its password)"
            );
            (Some(running), base)
        }
    };
    let endpoint = if args.insecure_http {
        Endpoint::new_insecure_http(&host)?
    } else {
        Endpoint::new(&host)?
    };
    let api_base = args.api_base.unwrap_or_else(|| match simulator {
        Some(_) => format!("{host}/_sim/api"),
        None => format!("{}/api", host.trim_end_matches('/')),
    });
    let (db, temporary) = match args.db {
        Some(db) => (db, None),
        None => {
            let dir = temporary_dir()?;
            (dir.join("gateway.sqlite3"), Some(dir))
        }
    };
    let mut config = app::Config::new(endpoint, api_base, db);
    config.secure_cookie = args.secure_cookie;
    config.public_url = args.public_url;
    config.flow_ttl = Duration::from_secs(args.flow_ttl);
    let gateway = app::Gateway::start(&args.listen, config)?;
    say(&format!("open: http://{}/", gateway.addr()))?;

    wait_for_stop()?;
    drop(gateway);
    drop(simulator);
    if let Some(dir) = temporary {
        std::fs::remove_dir_all(dir)?;
    }
    Ok(())
}

/// A line on stdout, at once (a script waits for it).
fn say(line: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}

/// The simulator's demo accounts.
fn demo_server() -> Server {
    let mut server = Server::new(SimConfig::default());
    for account in [
        ClientAccount::new("plain@example.com", DEMO_PASSWORD),
        ClientAccount::new("google@example.com", DEMO_PASSWORD).with_google(),
        ClientAccount::new("sms@example.com", DEMO_PASSWORD)
            .with_phone("+15550000001")
            .with_sms(),
        ClientAccount::new("both@example.com", DEMO_PASSWORD)
            .with_google()
            .with_phone("+15550000002")
            .with_sms(),
        ClientAccount::new("reset@example.com", DEMO_PASSWORD).with_forced_reset(),
    ] {
        server.add_client(account);
    }
    server
}

/// What the simulated phones and mailboxes receive, and any protocol violation.
fn tell(event: sim_http::Event<'_>) {
    match event {
        sim_http::Event::Code(sent) => eprintln!(
            "{} to {}: {}",
            sim_http::channel(sent.channel),
            sent.to,
            sent.code
        ),
        sim_http::Event::Violation(v) => {
            eprintln!("simulator: VIOLATION {}: {}", v.request, v.reason)
        }
    }
}

/// A new directory only its owner can enter, under the system's temporary directory.
fn temporary_dir() -> std::io::Result<PathBuf> {
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(std::io::Error::other)?;
    let name: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let dir = std::env::temp_dir().join(format!("b2core-gateway-{name}"));
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(&dir)?;
    Ok(dir)
}

/// Blocks until Ctrl-C (or, on Unix, SIGTERM).
fn wait_for_stop() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                result = tokio::signal::ctrl_c() => result,
                _ = term.recv() => Ok(()),
            }
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c().await
    })
}
