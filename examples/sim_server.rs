//! `sim_server`: the crate's B2Core simulator ([`b2core_auth::sim::Server`]) served over
//! HTTP on 127.0.0.1, so that any client, in any language, can be tested against it.
//!
//! ```text
//! cargo run --features sim --example sim_server -- [--port PORT] [--accounts FILE] [--dialect NAME]
//! ```
//!
//! - `--port PORT` (default 8080). With `--port 0` the system picks a free port. Either
//!   way the first line on **stdout** is the base URI, e.g. `http://127.0.0.1:41234`, so a
//!   test harness can start the server and read where it listens.
//! - `--accounts FILE`: the accounts, as JSON (below). Without it, a set of demo accounts
//!   is used and listed on stderr.
//! - `--dialect NAME` (default `pages`): how the server answers where the vendor's pages
//!   leave room, one of `b2core_auth::sim::Dialect::ALL` (`--help` lists them too):
//!
//!   | name | answers |
//!   |---|---|
//!   | `pages` | the crate's reading of the pages (the default) |
//!   | `status-200` | every successful client wizard answer is HTTP 200, whatever the body's `code` |
//!   | `done-at-init` | the sign-in wizard init says `"code":202,"done":true` |
//!   | `refresh-envelope` | the client refresh answers the pair in a wizard envelope with a fresh `uuid` |
//!   | `refresh-envelope-null-uuid` | the same with `"uuid":null,"workflow":null` |
//!   | `refresh-envelope-no-uuid` | the same without `uuid` and `workflow` |
//!   | `extra-fields` | every JSON object gets an unknown member, `"x_sim_extra"` |
//!   | `charset` | `Content-Type: application/json; charset=utf-8` |
//!   | `retry-after-imf-date` | `Retry-After: Mon, 22 Apr 2024 12:07:24 GMT` |
//!   | `retry-after-rfc850` | `Retry-After: Monday, 22-Apr-24 12:07:24 GMT` |
//!   | `retry-after-asctime` | `Retry-After: Mon Apr 22 12:07:24 2024` |
//!   | `null-optionals` | `null` for optional fields that hold nothing |
//!   | `access-outlives-refresh` | a refresh revokes only the old refresh token: the old access token stays live until its `expiresAt` |
//!   | `everything` | all of them at once |
//!
//!   Requests are judged alike in every dialect. An unknown name is a usage error (exit
//!   status 2) that lists the names.
//!
//! On **stderr**, as they happen: each code the simulator "sends" by SMS or email (so a
//! person or a harness can type it in), and each protocol violation (a request a
//! conforming client would never send). Never a password or a token.
//!
//! The simulator is sans-IO: this server (axum on tokio, `examples/support/sim_http.rs`)
//! hands it each request as it came, with the wall clock (`SystemTime::now()`) as `now`.
//! Its answers, limits and every assumption beyond the vendor's pages are in the
//! `b2core_auth::sim` docs. Read-only control paths (`GET /_sim/violations`,
//! `/_sim/outbox`, `/_sim/google-code?email=E`, `E` percent-encoded: `%40` for `@`, `%2B`
//! for `+`) and a stand-in resource API (`GET /_sim/api/whoami`: the email of the client
//! whose access token the request carries) are described in `examples/support/sim_http.rs`.
//!
//! # The accounts file
//!
//! ```json
//! {
//!   "clients": [
//!     {"email": "plain@example.com", "password": "QAzqw123!"},
//!     {"email": "both@example.com", "password": "QAzqw123!", "google": true, "sms": true,
//!      "phone": "+15550000002"},
//!     {"email": "reset@example.com", "password": "QAzqw123!", "force_password_reset": true}
//!   ],
//!   "staff": [
//!     {"email": "staff@example.com", "password": "QAzqw123!", "email_2fa": true}
//!   ],
//!   "recaptcha": "accepted-response",
//!   "seed": 42
//! }
//! ```
//!
//! Every key but `email` and `password` is optional (`false`, no phone, reCAPTCHA off,
//! the default seed). An SMS account without a phone gets one derived from its email.
//! Unknown keys are an error, so a misspelt one does not silently do nothing.

#[path = "support/sim_http.rs"]
mod sim_http;

use std::process::ExitCode;

use b2core_auth::sim::{ClientAccount, Dialect, Server, SimConfig, StaffAccount};
use serde::Deserialize;
use sim_http::{Event, Running};

/// The password of every demo account (a public value, also in README.md).
const DEMO_PASSWORD: &str = "QAzqw123!";

const USAGE: &str = "usage: sim_server [--port PORT] [--accounts FILE] [--dialect NAME]";

/// The names of the dialects, comma-separated.
fn dialect_names() -> String {
    let names: Vec<&str> = Dialect::ALL.iter().map(|(name, _)| *name).collect();
    names.join(", ")
}

/// What a dialect turns, compared with the default (`pages`), from its fields.
fn turned(dialect: &Dialect) -> String {
    let pages = Dialect::PAGES;
    let mut turned = Vec::new();
    if dialect.status != pages.status {
        turned.push(format!("status {:?}", dialect.status));
    }
    if dialect.wizard_init != pages.wizard_init {
        turned.push(format!("wizard init {:?}", dialect.wizard_init));
    }
    if dialect.refresh_answer != pages.refresh_answer {
        turned.push(format!("client refresh {:?}", dialect.refresh_answer));
    }
    if dialect.extra_fields != pages.extra_fields {
        turned.push("extra fields".to_owned());
    }
    if dialect.charset != pages.charset {
        turned.push("charset=utf-8".to_owned());
    }
    if dialect.retry_after != pages.retry_after {
        turned.push(format!("Retry-After {:?}", dialect.retry_after));
    }
    if dialect.null_optionals != pages.null_optionals {
        turned.push("nulls for nothing".to_owned());
    }
    if turned.is_empty() {
        "the crate's reading of the vendor's pages (default)".to_owned()
    } else {
        turned.join(", ")
    }
}

/// `--help`: the usage and every dialect.
fn help() -> String {
    let mut text = format!(
        "{USAGE}\n\n  --port PORT      listen on 127.0.0.1:PORT (default 8080; 0 picks a free port)\n  \
         --accounts FILE  the accounts, as JSON (see the example's docs); default: demo accounts\n  \
         --dialect NAME   how the server answers where the vendor's pages leave room:\n"
    );
    for (name, dialect) in Dialect::ALL {
        text.push_str(&format!("      {name:<28} {}\n", turned(dialect)));
    }
    text
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountsFile {
    #[serde(default)]
    clients: Vec<ClientEntry>,
    #[serde(default)]
    staff: Vec<StaffEntry>,
    #[serde(default)]
    recaptcha: Option<String>,
    #[serde(default)]
    seed: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientEntry {
    email: String,
    password: String,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    google: bool,
    #[serde(default)]
    sms: bool,
    #[serde(default)]
    force_password_reset: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StaffEntry {
    email: String,
    password: String,
    #[serde(default)]
    email_2fa: bool,
}

/// The simulator with the demo accounts.
fn demo_server(dialect: Dialect) -> Server {
    let mut server = Server::new(SimConfig {
        dialect,
        ..SimConfig::default()
    });
    server.add_client(ClientAccount::new("plain@example.com", DEMO_PASSWORD));
    server.add_client(ClientAccount::new("google@example.com", DEMO_PASSWORD).with_google());
    server.add_client(
        ClientAccount::new("sms@example.com", DEMO_PASSWORD)
            .with_phone("+15550000001")
            .with_sms(),
    );
    server.add_client(
        ClientAccount::new("both@example.com", DEMO_PASSWORD)
            .with_google()
            .with_phone("+15550000002")
            .with_sms(),
    );
    server.add_client(ClientAccount::new("reset@example.com", DEMO_PASSWORD).with_forced_reset());
    server.add_staff(StaffAccount::new("staff@example.com", DEMO_PASSWORD).with_email_2fa());
    server.add_staff(StaffAccount::new("staff-no2fa@example.com", DEMO_PASSWORD));
    server
}

/// The simulator with the accounts of a file.
fn server_from_file(path: &str, dialect: Dialect) -> Result<(Server, usize), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let file: AccountsFile =
        serde_json::from_str(&text).map_err(|e| format!("{path} is not an accounts file: {e}"))?;
    let mut config = SimConfig {
        dialect,
        ..SimConfig::default()
    };
    if let Some(seed) = file.seed {
        config.seed = seed;
    }
    let mut server = Server::new(config);
    if let Some(accepted) = &file.recaptcha {
        server.require_recaptcha(accepted);
    }
    for c in &file.clients {
        let mut account = ClientAccount::new(c.email.as_str(), c.password.as_str());
        if let Some(phone) = &c.phone {
            account = account.with_phone(phone.as_str());
        }
        if c.google {
            account = account.with_google();
        }
        if c.sms {
            account = account.with_sms();
        }
        if c.force_password_reset {
            account = account.with_forced_reset();
        }
        server.add_client(account);
    }
    for s in &file.staff {
        let mut account = StaffAccount::new(s.email.as_str(), s.password.as_str());
        if s.email_2fa {
            account = account.with_email_2fa();
        }
        server.add_staff(account);
    }
    Ok((server, file.clients.len() + file.staff.len()))
}

fn main() -> ExitCode {
    let mut port: u16 = 8080;
    let mut accounts: Option<String> = None;
    let mut dialect = ("pages", Dialect::PAGES);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "--help" | "-h" => {
                print!("{}", help());
                return ExitCode::SUCCESS;
            }
            "--port" | "--accounts" | "--dialect" => args.next(),
            _ => None,
        };
        match (arg.as_str(), value) {
            ("--port", Some(v)) if v.parse::<u16>().is_ok() => port = v.parse().unwrap_or(port),
            ("--accounts", Some(v)) => accounts = Some(v),
            ("--dialect", Some(v)) => match Dialect::ALL.iter().find(|(name, _)| *name == v) {
                Some(&named) => dialect = named,
                None => {
                    eprintln!(
                        "sim_server: unknown dialect `{v}`; the dialects are: {}\n{USAGE}",
                        dialect_names()
                    );
                    return ExitCode::from(2);
                }
            },
            _ => {
                eprintln!("sim_server: bad argument `{arg}`\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }

    let (dialect_name, dialect) = dialect;
    let server = match &accounts {
        Some(path) => match server_from_file(path, dialect) {
            Ok((server, count)) => {
                eprintln!("sim_server: {count} accounts from {path}");
                server
            }
            Err(e) => {
                eprintln!("sim_server: {e}");
                return ExitCode::from(2);
            }
        },
        None => {
            eprintln!("sim_server: demo accounts, all with the password {DEMO_PASSWORD}:");
            for line in [
                "  client plain@example.com   no 2FA",
                "  client google@example.com  Google Authenticator (GET /_sim/google-code?email=...)",
                "  client sms@example.com     SMS to +15550000001",
                "  client both@example.com    Google Authenticator and SMS to +15550000002",
                "  client reset@example.com   forced password reset (code by email)",
                "  staff  staff@example.com   email 2FA",
                "  staff  staff-no2fa@example.com",
            ] {
                eprintln!("{line}");
            }
            demo_server(dialect)
        }
    };
    eprintln!("sim_server: dialect {dialect_name}: {}", turned(&dialect));

    let running = match Running::start(&format!("127.0.0.1:{port}"), server, report) {
        Ok(running) => running,
        Err(e) => {
            eprintln!("sim_server: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::from(1);
        }
    };
    // The first line of stdout, for harnesses; println! flushes at the newline.
    println!("{}", running.base_uri());
    eprintln!("sim_server: listening on {}", running.base_uri());
    running.wait();
    ExitCode::SUCCESS
}

/// Codes and violations on stderr. A code is what a phone or mailbox would show; the
/// simulator's violation reasons name fields, never their values.
fn report(event: Event<'_>) {
    match event {
        Event::Code(sent) => eprintln!(
            "sim_server: {} to {}: code {}",
            sim_http::channel(sent.channel),
            sent.to,
            sent.code
        ),
        Event::Violation(v) => eprintln!("sim_server: VIOLATION {}: {}", v.request, v.reason),
    }
}
