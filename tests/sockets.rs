//! The flows over real sockets: the simulator served on an ephemeral loopback port (the
//! HTTP glue of `examples/support/`, in a thread of this test), driven
//!
//! 1. in-process by the blocking client (ureq) and by the async client (reqwest on tokio),
//!    through every flow: client sign-in without 2FA, with Google, with SMS after a method
//!    choice, with a forced password reset; sign-up then sign-in; staff sign-in with email
//!    2FA; refresh and sign-out of both realms. Each client runs them against the
//!    simulator in every dialect of `sim::Dialect::ALL`, and the deviations the flows
//!    record must be exactly those the dialect implies (`examples/support/dialects.rs`);
//! 2. by the `b2core` example binary as a subprocess, for every subcommand, success and
//!    failure: its stdout (the JSON pair), its exit code (0/1/2/3/5), clap's usage errors
//!    and `--help`, its deviation lines, `--strict`, `--insecure-http`, that it waits out a
//!    429 (a countdown on stderr, then the same request again;
//!    `sim_http::Running::throttle_next` makes a short one), fails on one with `--no-wait`
//!    and on one longer than it waits, that no password, token or code ever reaches its
//!    stderr, and, on a pseudo-terminal (`script`), that a password typed is not echoed and
//!    the countdown rewrites one line;
//!    and its `conformance` against the `sim_server` binary in every dialect
//!    (`--dialect NAME`), whose table must report exactly that dialect's deviations (exit
//!    0 or 4);
//! 3. the `sim_server` and `async_tokio` example binaries as they are run by people, and
//!    the simulator's HTTP glue (query strings, the body cap) over raw sockets;
//! 4. a host that answers with redirects: both clients hand the 3xx back unfollowed, the
//!    CLI fails on it, and nothing reaches where `Location` points.
//!
//! The example binaries are the ones `cargo test` builds next to this test
//! (`target/<profile>/examples/`).

#[path = "../examples/support/async_http.rs"]
mod async_http;
#[path = "../examples/support/blocking_http.rs"]
mod blocking_http;
#[path = "../examples/support/dialects.rs"]
mod dialects;
#[path = "support/sent.rs"]
mod sent;
#[path = "../examples/support/sim_http.rs"]
mod sim_http;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use b2core_auth::backoffice::{StaffSignIn, StaffStep};
use b2core_auth::client::{
    Credentials, Method, SignIn, SignInStep, SignUp, SignUpForm, SignUpStep,
};
use b2core_auth::sim::{ClientAccount, Dialect, Server, SimConfig, StaffAccount};
use b2core_auth::Flow;
use b2core_auth::{Deviation, DeviceFingerprint, Endpoint, Session, SessionStep, TokenPair};
use sent::Sent;
use sim_http::Running;

const PASSWORD: &str = "QAzqw123!";
const NEW_PASSWORD: &str = "N3w-Passw0rd!";
const SMS_PHONE: &str = "+15550000001";
const BOTH_PHONE: &str = "+15550000002";
const SECRET_VARS: [&str; 4] = [
    "B2CORE_PASSWORD",
    "B2CORE_NEW_PASSWORD",
    "B2CORE_REFRESH_TOKEN",
    "B2CORE_ACCESS_TOKEN",
];
const CONFORMANCE_VARS: [&str; 6] = [
    "B2CORE_CLIENT_EMAIL",
    "B2CORE_CLIENT_PASSWORD",
    "B2CORE_STAFF_EMAIL",
    "B2CORE_STAFF_PASSWORD",
    "B2CORE_SIGNUP_EMAIL",
    "B2CORE_SIGNUP_PASSWORD",
];

fn accounts(dialect: Dialect) -> Server {
    let mut server = Server::new(SimConfig {
        dialect,
        ..SimConfig::default()
    });
    server.add_client(ClientAccount::new("plain@example.com", PASSWORD));
    server.add_client(ClientAccount::new("google@example.com", PASSWORD).with_google());
    server.add_client(
        ClientAccount::new("sms@example.com", PASSWORD)
            .with_phone(SMS_PHONE)
            .with_sms(),
    );
    server.add_client(
        ClientAccount::new("both@example.com", PASSWORD)
            .with_google()
            .with_phone(BOTH_PHONE)
            .with_sms(),
    );
    server.add_client(ClientAccount::new("reset@example.com", PASSWORD).with_forced_reset());
    server.add_staff(StaffAccount::new("staff@example.com", PASSWORD).with_email_2fa());
    server.add_staff(StaffAccount::new("staff-no2fa@example.com", PASSWORD));
    server
}

fn serve_in(dialect: Dialect) -> Running {
    Running::start("127.0.0.1:0", accounts(dialect), |_| {}).expect("a free loopback port")
}

fn fingerprint() -> DeviceFingerprint {
    DeviceFingerprint::from_user_agent("sockets-test/1.0").expect("a valid user agent")
}

/// The last code the simulator sent to `to`, waiting a little for it (a subprocess may
/// not have asked for it yet).
fn wait_for_code(server: &Running, to: &str, sent_before: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        {
            let sim = server.sim();
            if let Some(sent) = sim.outbox()[sent_before.min(sim.outbox().len())..]
                .iter()
                .rev()
                .find(|s| s.to == to)
            {
                return sent.code.clone();
            }
        }
        assert!(Instant::now() < deadline, "no code was sent to {to}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

// ---------------------------------------------------------------------------------------
// 1. Every flow through the blocking and the async client. One script, written once: the
//    macro makes a blocking copy and an async copy (`.await` after each send).

/// Every exchange of a run: the request line, the status, and the deviations the flow
/// recorded reading the answer.
#[derive(Default)]
struct Seen {
    exchanges: Vec<(String, u16, Vec<Deviation>)>,
}

impl Seen {
    fn sent(&mut self, line: String, response: &http::Response<Vec<u8>>) {
        self.exchanges
            .push((line, response.status().as_u16(), Vec::new()));
    }

    /// Called after every `handle_response` with the flow's `take_deviations()`.
    fn read(&mut self, deviations: Vec<Deviation>) {
        let last = self.exchanges.last_mut().expect("an answer was read");
        last.2.extend(deviations);
    }
}

fn line_of(request: &http::Request<Vec<u8>>) -> String {
    format!("{} {}", request.method(), request.uri().path())
}

/// The deviations of a run in `dialect` are exactly those it implies, answer by answer;
/// `baseline` is the same run in the `pages` dialect.
fn check_dialect(name: &str, run: &Seen, baseline: &Seen) {
    let lines =
        |seen: &Seen| -> Vec<String> { seen.exchanges.iter().map(|(l, _, _)| l.clone()).collect() };
    assert_eq!(
        lines(run),
        lines(baseline),
        "{name}: the same requests as in `pages`"
    );
    for ((line, status, deviations), (_, pages_status, _)) in
        run.exchanges.iter().zip(&baseline.exchanges)
    {
        let recorded: Vec<(&str, &str)> =
            deviations.iter().map(|d| (d.field(), d.found())).collect();
        let implied = dialects::implied(name, line, *pages_status, *status);
        let implied: Vec<(&str, &str)> = implied.iter().map(|(f, s)| (*f, s.as_str())).collect();
        assert_eq!(recorded, implied, "{name}: {line} -> {status}");
        for d in deviations {
            assert_eq!(d.step(), line, "{name}: {d}");
        }
    }
    let total: usize = run.exchanges.iter().map(|(_, _, d)| d.len()).sum();
    assert_eq!(
        total > 0,
        dialects::deviates(name),
        "{name}: {total} deviations"
    );
}

macro_rules! flows {
    ($module:ident, $client:ty, [$($async_:tt)*], [$($await_:tt)*]) => {
        mod $module {
            use super::*;

            /// A client sign-in to its end; returns the kinds of steps seen and the tokens.
            pub $($async_)* fn client_sign_in(
                http: &$client,
                server: &Running,
                seen: &mut Seen,
                email: &str,
                password: &str,
                choose: Option<Method>,
            ) -> (Vec<&'static str>, TokenPair) {
                let endpoint = Endpoint::new(&server.base_uri()).unwrap();
                let mut flow = SignIn::new(endpoint);
                let mut password = password.to_owned();
                let mut kinds = Vec::new();
                let mut request = flow.start(SystemTime::now()).sent();
                loop {
                    let line = line_of(&request);
                    let response = http.send(request) $($await_)* .expect("an answer");
                    seen.sent(line, &response);
                    let step = flow.handle_response(&response, SystemTime::now()).unwrap();
                    seen.read(flow.take_deviations());
                    request = match step {
                        SignInStep::Credentials { rejected: None, .. } => {
                            kinds.push("credentials");
                            let c = Credentials::new(email, password.as_str(), fingerprint());
                            flow.submit_credentials(c, SystemTime::now())
                        }
                        SignInStep::ChooseMethod { methods, rejected: None } => {
                            kinds.push("choose method");
                            assert_eq!(methods, [Method::Google, Method::Sms]);
                            flow.choose_method(choose.expect("a method to choose"), SystemTime::now())
                        }
                        SignInStep::Code { method: Method::Google, rejected: None } => {
                            kinds.push("google code");
                            let code = server.sim().google_code(email, SystemTime::now());
                            flow.submit_code(code.expect("a Google account"), SystemTime::now())
                        }
                        SignInStep::Code { method: Method::Sms, rejected: None } => {
                            kinds.push("sms code");
                            let phone = if email.starts_with("both") { BOTH_PHONE } else { SMS_PHONE };
                            let code = server.sim().last_code_to(phone).map(str::to_owned);
                            flow.submit_code(code.expect("an SMS"), SystemTime::now())
                        }
                        SignInStep::PasswordResetRequired { rejected: None } => {
                            kinds.push("reset required");
                            flow.request_reset_code(SystemTime::now())
                        }
                        SignInStep::ResetCode { rejected: None } => {
                            kinds.push("reset code");
                            let code = server.sim().last_code_to(email).map(str::to_owned);
                            password = NEW_PASSWORD.to_owned();
                            flow.reset_password(code.expect("an email"), NEW_PASSWORD, SystemTime::now())
                        }
                        SignInStep::PasswordChanged => {
                            kinds.push("password changed");
                            flow.start(SystemTime::now())
                        }
                        SignInStep::Done(tokens) => {
                            kinds.push("done");
                            return (kinds, tokens);
                        }
                        other => panic!("{email}: unexpected step {other:?}"),
                    }
                    .sent();
                }
            }

            pub $($async_)* fn sign_up_then_sign_in(
                http: &$client,
                server: &Running,
                seen: &mut Seen,
                email: &str,
            ) -> TokenPair {
                let endpoint = Endpoint::new(&server.base_uri()).unwrap();
                let mut flow = SignUp::new(endpoint);
                let request = flow
                    .start("https://host.name/register/{registration}/{code}", Some("ref-1"), SystemTime::now())
                    .sent();
                let line = line_of(&request);
                let response = http.send(request) $($await_)* .expect("an answer");
                seen.sent(line, &response);
                let step = flow.handle_response(&response, SystemTime::now()).unwrap();
                seen.read(flow.take_deviations());
                assert!(matches!(step, SignUpStep::Form { rejected: None, .. }), "{step:?}");
                let form = SignUpForm::new(email, PASSWORD, PASSWORD, fingerprint())
                    .with_given_name("John")
                    .with_family_name("Brown")
                    .with_country_code("16");
                let request = flow.submit(form, SystemTime::now()).sent();
                let line = line_of(&request);
                let response = http.send(request) $($await_)* .expect("an answer");
                seen.sent(line, &response);
                let step = flow.handle_response(&response, SystemTime::now()).unwrap();
                seen.read(flow.take_deviations());
                assert_eq!(step, SignUpStep::SignInRequired);
                let (kinds, tokens) = client_sign_in(http, server, seen, email, PASSWORD, None) $($await_)*;
                assert_eq!(kinds, ["credentials", "done"]);
                tokens
            }

            pub $($async_)* fn staff_sign_in(http: &$client, server: &Running, seen: &mut Seen) -> TokenPair {
                let endpoint = Endpoint::new(&server.base_uri()).unwrap();
                let mut flow = StaffSignIn::new(endpoint);
                let request = flow.sign_in("staff@example.com", PASSWORD, SystemTime::now()).sent();
                let line = line_of(&request);
                let response = http.send(request) $($await_)* .expect("an answer");
                seen.sent(line, &response);
                let step = flow.handle_response(&response, SystemTime::now()).unwrap();
                seen.read(flow.take_deviations());
                let StaffStep::EmailCode { provider, rejected: None, .. } = step else {
                    panic!("expected an email code, got {step:?}");
                };
                assert_eq!(provider, "email");
                let code = server.sim().last_code_to("staff@example.com").unwrap().to_owned();
                let request = flow.submit_code(code, SystemTime::now()).sent();
                let line = line_of(&request);
                let response = http.send(request) $($await_)* .expect("an answer");
                seen.sent(line, &response);
                let step = flow.handle_response(&response, SystemTime::now()).unwrap();
                seen.read(flow.take_deviations());
                match step {
                    StaffStep::Done(tokens) => tokens,
                    other => panic!("expected tokens, got {other:?}"),
                }
            }

            /// Sends a session's request and reads the answer.
            $($async_)* fn exchange(
                http: &$client,
                seen: &mut Seen,
                session: &mut Session,
                request: http::Request<Vec<u8>>,
            ) -> (u16, SessionStep) {
                let line = line_of(&request);
                let response = http.send(request) $($await_)* .expect("an answer");
                seen.sent(line, &response);
                let step = session.handle_response(&response, SystemTime::now()).unwrap();
                seen.read(session.take_deviations());
                (response.status().as_u16(), step)
            }

            /// Refresh (the old pair is revoked), sign out, and sign out again with a copy
            /// holding the revoked token (the server's 401).
            pub $($async_)* fn refresh_and_sign_out(
                http: &$client,
                server: &Running,
                seen: &mut Seen,
                mut session: Session,
            ) {
                let old = session.tokens().unwrap().clone();
                let request = session.refresh(SystemTime::now()).sent();
                let (_, step) = exchange(http, seen, &mut session, request) $($await_)*;
                assert_eq!(step, SessionStep::Active);
                let new = session.tokens().unwrap().clone();
                assert_ne!(new.access().secret().expose(), old.access().secret().expose());
                assert!(server.sim().is_revoked(old.refresh().secret().expose()));
                assert!(!server.sim().is_revoked(new.refresh().secret().expose()));

                let mut copy = session.clone();
                let request = session.sign_out(SystemTime::now()).sent();
                let (_, step) = exchange(http, seen, &mut session, request) $($await_)*;
                assert_eq!(step, SessionStep::SignedOut { already_revoked: false });
                assert!(server.sim().is_revoked(new.access().secret().expose()));
                let request = copy.sign_out(SystemTime::now()).sent();
                let (status, step) = exchange(http, seen, &mut copy, request) $($await_)*;
                assert_eq!(status, 401);
                assert_eq!(step, SessionStep::SignedOut { already_revoked: true });
            }

            /// Every flow against the simulator served in `dialect`: what the flows saw.
            pub $($async_)* fn every_flow(http: &$client, dialect: Dialect) -> Seen {
                let server = serve_in(dialect);
                let endpoint = Endpoint::new(&server.base_uri()).unwrap();
                let seen = &mut Seen::default();

                let (kinds, _) = client_sign_in(http, &server, seen, "plain@example.com", PASSWORD, None) $($await_)*;
                assert_eq!(kinds, ["credentials", "done"]);
                let (kinds, google) = client_sign_in(http, &server, seen, "google@example.com", PASSWORD, None) $($await_)*;
                assert_eq!(kinds, ["credentials", "google code", "done"]);
                let (kinds, _) = client_sign_in(http, &server, seen, "sms@example.com", PASSWORD, None) $($await_)*;
                assert_eq!(kinds, ["credentials", "sms code", "done"]);
                let (kinds, _) = client_sign_in(http, &server, seen, "both@example.com", PASSWORD, Some(Method::Sms)) $($await_)*;
                assert_eq!(kinds, ["credentials", "choose method", "sms code", "done"]);
                let (kinds, _) = client_sign_in(http, &server, seen, "reset@example.com", PASSWORD, None) $($await_)*;
                assert_eq!(
                    kinds,
                    ["credentials", "reset required", "reset code", "password changed", "credentials", "done"]
                );
                let _ = sign_up_then_sign_in(http, &server, seen, "new@example.com") $($await_)*;
                let staff = staff_sign_in(http, &server, seen) $($await_)*;

                refresh_and_sign_out(http, &server, seen, Session::client(endpoint.clone(), google)) $($await_)*;
                refresh_and_sign_out(http, &server, seen, Session::back_office(endpoint, staff)) $($await_)*;

                assert_eq!(server.sim().violations(), [], "{dialect:?}");
                // Every exchange above was a real request over the loopback socket.
                assert_eq!(server.sim().outbox().len(), 4); // 2 SMS, 1 reset email, 1 staff email
                std::mem::take(seen)
            }

            /// Every flow in `pages`, then in every dialect, each checked against what the
            /// dialect implies.
            pub $($async_)* fn every_flow_in_every_dialect(http: &$client) {
                let baseline = every_flow(http, Dialect::default()) $($await_)*;
                assert_eq!(baseline.exchanges.len(), 30);
                check_dialect("pages", &baseline, &baseline);
                for (name, dialect) in Dialect::ALL {
                    assert_eq!(dialect.name(), Some(*name));
                    let run = every_flow(http, *dialect) $($await_)*;
                    check_dialect(name, &run, &baseline);
                }
            }
        }
    };
}

flows!(blocking, blocking_http::Client, [], []);
flows!(nonblocking, async_http::Client, [async], [.await]);

#[test]
fn blocking_client_drives_every_flow_in_every_dialect() {
    blocking::every_flow_in_every_dialect(&blocking_http::Client::new());
}

#[test]
fn async_client_drives_every_flow_in_every_dialect() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = async_http::Client::new().unwrap();
    runtime.block_on(nonblocking::every_flow_in_every_dialect(&http));
}

#[test]
fn an_unreachable_host_is_an_error_for_both_clients() {
    // A port that was free a moment ago: nothing listens there now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let request = || {
        let mut flow = SignIn::new(Endpoint::new(&format!("http://127.0.0.1:{port}")).unwrap());
        flow.start(SystemTime::now()).sent()
    };
    let e = blocking_http::Client::new().send(request()).unwrap_err();
    assert!(
        e.starts_with(&format!("cannot reach 127.0.0.1:{port}: ")),
        "{e}"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = async_http::Client::new().unwrap();
    let e = runtime.block_on(http.send(request())).unwrap_err();
    assert!(
        e.starts_with(&format!("cannot reach 127.0.0.1:{port}: ")),
        "{e}"
    );
}

#[test]
fn the_async_client_reads_an_answer_to_one_byte_past_the_limit() {
    // A host whose answer is twice the flows' limit: the client stops reading one byte
    // past it (never more), so that the flow sees the excess and refuses the answer.
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let addr = server.server_addr().to_ip().unwrap();
    let thread = std::thread::spawn(move || {
        if let Ok(request) = server.recv() {
            let body = vec![b' '; 2 * b2core_auth::DEFAULT_BODY_LIMIT];
            // The client hangs up before the end: nothing to do about it here.
            let _ = request.respond(tiny_http::Response::from_data(body));
        }
    });
    let mut flow = SignIn::new(Endpoint::new(&format!("http://{addr}")).unwrap());
    let request = flow.start(SystemTime::now()).sent();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = async_http::Client::new().unwrap();
    let response = runtime.block_on(http.send(request)).unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.body().len(), b2core_auth::DEFAULT_BODY_LIMIT + 1);
    let e = flow
        .handle_response(&response, SystemTime::now())
        .unwrap_err();
    assert!(e.to_string().contains("larger than the"), "{e}");
    drop(runtime);
    thread.join().unwrap();
}

// ---------------------------------------------------------------------------------------
// 2. The `b2core` CLI as a subprocess.

/// An example binary built by `cargo test` next to this test binary.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/sockets-<hash> -> target/<profile>/examples/<name>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let build =
        "run `cargo test` (which builds the examples) or `cargo build --examples --all-features`";
    let built = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is missing: {build}", path.display()));
    // `cargo test --test sockets` does not build the examples: a binary older than one of
    // the sources cargo built it from (its dep-info, `<binary>.d`) would test old code.
    let dep_info = std::fs::read_to_string(path.with_extension("d")).unwrap_or_default();
    if let Some(newer) = sources(&dep_info).into_iter().find(|source| {
        std::fs::metadata(source)
            .and_then(|m| m.modified())
            .is_ok_and(|modified| modified > built)
    }) {
        panic!(
            "{} is older than {}: {build}",
            path.display(),
            newer.display()
        );
    }
    path
}

/// The sources listed by a dep-info file (`target: source source ...`, a space in a
/// path escaped as `\ `).
fn sources(dep_info: &str) -> Vec<PathBuf> {
    let Some(first) = dep_info.lines().next() else {
        return Vec::new();
    };
    let Some((_, list)) = first.split_once(": ") else {
        return Vec::new();
    };
    let mut sources = Vec::new();
    let mut current = String::new();
    let mut chars = list.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&' ') => {
                current.push(' ');
                chars.next();
            }
            ' ' => {
                if !current.is_empty() {
                    sources.push(PathBuf::from(std::mem::take(&mut current)));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        sources.push(PathBuf::from(current));
    }
    sources
}

/// A line for the CLI's stdin: given now, or the next code the simulator sends to `to`.
enum Feed {
    Line(String),
    CodeTo(&'static str),
}

fn line(text: &str) -> Feed {
    Feed::Line(text.to_owned())
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn tokens(&self) -> TokenPair {
        assert_eq!(self.code, 0, "stderr: {}", self.stderr);
        assert_eq!(
            self.stdout.lines().count(),
            1,
            "one line of JSON: {}",
            self.stdout
        );
        let json: serde_json::Value = serde_json::from_str(&self.stdout).expect("JSON on stdout");
        // The vendor's shape, exactly.
        for token in ["accessToken", "refreshToken"] {
            let keys: Vec<_> = json[token]
                .as_object()
                .expect(token)
                .keys()
                .cloned()
                .collect();
            assert_eq!(keys, ["createdAt", "expiresAt", "token"], "{token}");
        }
        serde_json::from_value(json).expect("a token pair")
    }

    /// Exit code `code`, nothing on stdout, and the last line of stderr says `why`.
    fn fails(&self, code: i32, why: &str) {
        assert_eq!(self.code, code, "stderr: {}", self.stderr);
        assert_eq!(self.stdout, "");
        let last = self.stderr.lines().last().unwrap_or_default();
        assert!(last.starts_with("b2core: "), "{last}");
        assert!(last.contains(why), "`{last}` should say `{why}`");
    }

    /// Refused by the argument parser (clap): exit 2, nothing on stdout, and on stderr
    /// clap's `error: ...` saying `why` (often with the usage) and the pointer to `--help`.
    fn rejects_arguments(&self, why: &str) {
        assert_eq!(self.code, 2, "stderr: {}", self.stderr);
        assert_eq!(self.stdout, "");
        assert!(self.stderr.starts_with("error: "), "{}", self.stderr);
        assert!(
            self.stderr.contains(why),
            "`{}` should say `{why}`",
            self.stderr
        );
        assert!(
            self.stderr
                .ends_with("\nFor more information, try '--help'.\n"),
            "{}",
            self.stderr
        );
    }
}

/// Runs the CLI against the served simulator and checks that no secret the simulator
/// issued or knows (passwords, every code sent, every token issued so far or in this
/// run's stdout) appears on its stderr.
struct Cli {
    server: Running,
    tokens_seen: std::cell::RefCell<Vec<String>>,
}

impl Cli {
    fn new() -> Self {
        Self::in_dialect(Dialect::default())
    }

    fn in_dialect(dialect: Dialect) -> Self {
        Self {
            server: serve_in(dialect),
            tokens_seen: Default::default(),
        }
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)], feed: Vec<Feed>) -> Run {
        let host = self.server.base_uri();
        self.run_on(&host, args, env, feed)
    }

    fn run_on(&self, host: &str, args: &[&str], env: &[(&str, &str)], feed: Vec<Feed>) -> Run {
        let mut command = Command::new(example("b2core"));
        command.arg("--host").arg(host).args(args);
        for var in SECRET_VARS.iter().chain(&CONFORMANCE_VARS) {
            command.env_remove(var);
        }
        command.envs(env.iter().copied());
        let sent_before = self.server.sim().outbox().len();
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the b2core example runs");
        let mut stdin = child.stdin.take().unwrap();
        for item in feed {
            let text = match item {
                Feed::Line(text) => text,
                Feed::CodeTo(to) => wait_for_code(&self.server, to, sent_before),
            };
            // The CLI may already have failed and closed stdin: its exit code says why.
            let _ = writeln!(stdin, "{text}");
        }
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        let run = Run {
            code: out.status.code().expect("an exit code"),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        };
        self.check_no_secret(&run, env);
        run
    }

    /// Runs the CLI until lines of its stderr have ended with each of `notices` in turn (a
    /// rate limit it waits out), checks that it is still running, stops it and returns its
    /// stderr so far.
    fn run_until_waiting(&self, args: &[&str], env: &[(&str, &str)], notices: &[&str]) -> String {
        let mut command = Command::new(example("b2core"));
        command.arg("--host").arg(self.server.base_uri()).args(args);
        for var in SECRET_VARS.iter().chain(&CONFORMANCE_VARS) {
            command.env_remove(var);
        }
        command.envs(env.iter().copied());
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the b2core example runs");
        let stderr = child.stderr.take().unwrap();
        let (lines, seen) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut text = String::new();
        for notice in notices {
            loop {
                let line = seen
                    .recv_timeout(Duration::from_secs(20))
                    .unwrap_or_else(|e| panic!("no `{notice}` on stderr ({e}):\n{text}"));
                text.push_str(&line);
                text.push('\n');
                if line.ends_with(notice) {
                    break;
                }
            }
        }
        // Still waiting: not exited, nothing more on stderr for a moment.
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            child.try_wait().unwrap().is_none(),
            "the CLI exited instead of waiting:\n{text}"
        );
        assert!(seen.try_recv().is_err(), "the CLI went on:\n{text}");
        child.kill().unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), "");
        let run = Run {
            code: -1,
            stdout: String::new(),
            stderr: text.clone(),
        };
        self.check_no_secret(&run, env);
        text
    }

    fn check_no_secret(&self, run: &Run, env: &[(&str, &str)]) {
        let mut secrets: Vec<String> = vec![PASSWORD.into(), NEW_PASSWORD.into()];
        secrets.extend(
            env.iter()
                .map(|(_, v)| v.to_string())
                .filter(|v| v.len() > 3),
        );
        secrets.extend(self.server.sim().outbox().iter().map(|s| s.code.clone()));
        for email in ["google@example.com", "both@example.com"] {
            secrets.extend(self.server.sim().google_code(email, SystemTime::now()));
        }
        if let Ok(pair) = serde_json::from_str::<TokenPair>(&run.stdout) {
            let mut seen = self.tokens_seen.borrow_mut();
            seen.push(pair.access().secret().expose().clone());
            seen.push(pair.refresh().secret().expose().clone());
        }
        secrets.extend(self.tokens_seen.borrow().iter().cloned());
        for secret in &secrets {
            assert!(
                !run.stderr.contains(secret.as_str()),
                "a secret reached stderr:\n{}",
                run.stderr
            );
        }
    }

    fn violations(&self) -> Vec<b2core_auth::sim::Violation> {
        self.server.sim().violations().to_vec()
    }
}

fn pw() -> [(&'static str, &'static str); 1] {
    [("B2CORE_PASSWORD", PASSWORD)]
}

#[test]
fn cli_client_signin() {
    let cli = Cli::new();
    // No 2FA, password from the environment.
    let run = cli.run(
        &["client-signin", "--email", "plain@example.com"],
        &pw(),
        vec![],
    );
    let tokens = run.tokens();
    assert!(tokens.access().expires_at() > SystemTime::now());
    assert_eq!(
        run.stderr,
        "GET /api/v2/my/signin/wizard -> 200\nsigning in as plain@example.com\n\
         POST /api/v2/my/signin -> 202\nsigned in\n"
    );

    // Google with --code.
    let code = cli
        .server
        .sim()
        .google_code("google@example.com", SystemTime::now())
        .unwrap();
    let run = cli.run(
        &[
            "client-signin",
            "--email",
            "google@example.com",
            "--code",
            &code,
            "--user-agent",
            "cli-test/1",
        ],
        &pw(),
        vec![],
    );
    run.tokens();

    // Two methods, no --method: the choice, the password and the SMS code from stdin.
    let run = cli.run(
        &["client-signin", "--email", "both@example.com"],
        &[],
        vec![line(PASSWORD), line("sms"), Feed::CodeTo(BOTH_PHONE)],
    );
    run.tokens();
    assert!(
        run.stderr.contains("choose a 2FA method (google or sms)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("POST /api/v2/my/2fa/sms -> 202"),
        "{}",
        run.stderr
    );

    // --method given, the SMS code on stdin.
    let run = cli.run(
        &[
            "client-signin",
            "--email",
            "both@example.com",
            "--method",
            "sms",
        ],
        &pw(),
        vec![Feed::CodeTo(BOTH_PHONE)],
    );
    run.tokens();
    assert!(
        !run.stderr.contains("choose a 2FA method"),
        "{}",
        run.stderr
    );

    // A forced reset: the emailed code on stdin, the new password from the environment,
    // then the sign-in with it.
    let run = cli.run(
        &["client-signin", "--email", "reset@example.com"],
        &[
            ("B2CORE_PASSWORD", PASSWORD),
            ("B2CORE_NEW_PASSWORD", NEW_PASSWORD),
        ],
        vec![Feed::CodeTo("reset@example.com")],
    );
    run.tokens();
    assert!(run
        .stderr
        .contains("password changed: signing in with the new one"));
    let run = cli.run(
        &["client-signin", "--email", "reset@example.com"],
        &[("B2CORE_PASSWORD", NEW_PASSWORD)],
        vec![],
    );
    run.tokens();

    // Refusals: exit 1 and why.
    let run = cli.run(
        &["client-signin", "--email", "plain@example.com"],
        &[("B2CORE_PASSWORD", "wrong-password")],
        vec![],
    );
    run.fails(1, "sign-in refused: HTTP 400");
    let run = cli.run(
        &[
            "client-signin",
            "--email",
            "both@example.com",
            "--method",
            "google",
            "--code",
            "000000",
        ],
        &pw(),
        vec![],
    );
    run.fails(1, "the 2FA code refused: HTTP 400");
    // The host's limit: the 6th attempt in a minute is answered 429 and the documented
    // 10-minute block. The CLI waits it out: a notice, the same line again 10 seconds
    // later (stderr is not a terminal), and nothing is sent (it is stopped here, still
    // waiting).
    for _ in 0..5 {
        let run = cli.run(
            &["client-signin", "--email", "nobody@example.com"],
            &pw(),
            vec![],
        );
        run.fails(1, "sign-in refused: HTTP 400");
    }
    let stderr = cli.run_until_waiting(
        &["client-signin", "--email", "nobody@example.com"],
        &pw(),
        &[
            ": waiting 600 s before sending again",
            ": waiting 590 s before sending again",
        ],
    );
    assert!(
        stderr.starts_with(
            "GET /api/v2/my/signin/wizard -> 200\nsigning in as nobody@example.com\n\
             POST /api/v2/my/signin -> 429\nrate limited until 20"
        ),
        "{stderr}"
    );
    let notices: Vec<&str> = stderr.lines().skip(3).collect();
    assert_eq!(notices.len(), 2, "{stderr}");
    assert_eq!(
        notices[0].replace("600 s", "590 s"),
        notices[1],
        "the same line, counted down"
    );

    // A 429 it can wait out here (one second): the same request again after the wait.
    cli.server.throttle_next("POST /api/v2/my/signin", "1");
    let started = Instant::now();
    let run = cli.run(
        &["client-signin", "--email", "plain@example.com"],
        &pw(),
        vec![],
    );
    run.tokens();
    assert!(started.elapsed() >= Duration::from_secs(1));
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines.len(),
        6,
        "wizard, signing in, 429, waiting, the same request, signed in: {}",
        run.stderr
    );
    assert_eq!(lines[2], "POST /api/v2/my/signin -> 429");
    assert!(
        lines[3].starts_with("rate limited until 20"),
        "{}",
        lines[3]
    );
    assert!(
        lines[3].ends_with(": waiting 1 s before sending again"),
        "{}",
        lines[3]
    );
    assert_eq!(lines[4..], ["POST /api/v2/my/signin -> 202", "signed in"]);
    // A wait longer than the CLI waits (15 minutes): exit 5 at once, nothing sent again.
    // So with --no-wait (before or after the subcommand) for any wait, one second too.
    for (args, retry_after, why) in [
        (
            vec!["client-signin", "--email", "plain@example.com"],
            "3600",
            ": longer than the 15 minutes this client waits",
        ),
        (
            vec!["--no-wait", "client-signin", "--email", "plain@example.com"],
            "1",
            " (--no-wait)",
        ),
        (
            vec!["client-signin", "--email", "plain@example.com", "--no-wait"],
            "1",
            " (--no-wait)",
        ),
    ] {
        cli.server
            .throttle_next("POST /api/v2/my/signin", retry_after);
        let run = cli.run(&args, &pw(), vec![]);
        run.fails(5, "b2core: rate limited until 20");
        assert!(run.stderr.ends_with(&format!("{why}\n")), "{}", run.stderr);
        assert!(!run.stderr.contains("waiting"), "{}", run.stderr);
        assert_eq!(
            run.stderr.matches("POST /api/v2/my/signin -> ").count(),
            1,
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("POST /api/v2/my/signin -> 429"));
    }
    // Without a rate limit, --no-wait changes nothing.
    cli.run(
        &["--no-wait", "client-signin", "--email", "plain@example.com"],
        &pw(),
        vec![],
    )
    .tokens();

    // Usage errors: exit 2, nothing sent.
    let sent = |cli: &Cli| cli.server.sim().outbox().len();
    let before = sent(&cli);
    cli.run(&["client-signin"], &pw(), vec![])
        .rejects_arguments(
            "the following required arguments were not provided:\n  --email <EMAIL>",
        );
    cli.run(
        &[
            "client-signin",
            "--email",
            "plain@example.com",
            "--method",
            "fax",
        ],
        &pw(),
        vec![],
    )
    .rejects_arguments(
        "invalid value 'fax' for '--method <METHOD>'\n  [possible values: google, sms]",
    );
    cli.run(
        &[
            "client-signin",
            "--email",
            "plain@example.com",
            "--password",
            "x",
        ],
        &pw(),
        vec![],
    )
    .rejects_arguments("unexpected argument '--password' found");
    // No password anywhere: stdin ends.
    cli.run(
        &["client-signin", "--email", "plain@example.com"],
        &[],
        vec![],
    )
    .fails(
        2,
        "no password (B2CORE_PASSWORD is unset): standard input ended",
    );
    assert_eq!(sent(&cli), before);
    assert_eq!(cli.violations(), []);
}

#[test]
fn cli_client_signup() {
    let cli = Cli::new();
    let run = cli.run(
        &[
            "client-signup",
            "--email",
            "new@example.com",
            "--given-name",
            "John",
            "--family-name",
            "Brown",
            "--country-code",
            "16",
            "--referral",
            "29734fc1",
        ],
        &pw(),
        vec![],
    );
    run.tokens();
    assert!(run
        .stderr
        .contains("signed up: signing in with the same credentials"));
    // With the password on stdin and a --url template.
    let run = cli.run(
        &[
            "client-signup",
            "--email",
            "other@example.com",
            "--given-name",
            "Ann",
            "--family-name",
            "Lee",
            "--url",
            "https://host.name/register/{registration}/{code}",
        ],
        &[],
        vec![line(PASSWORD)],
    );
    run.tokens();
    // The email is taken now.
    let run = cli.run(
        &[
            "client-signup",
            "--email",
            "new@example.com",
            "--given-name",
            "J",
            "--family-name",
            "B",
        ],
        &pw(),
        vec![],
    );
    run.fails(1, "sign-up refused: HTTP 400");
    cli.run(
        &[
            "client-signup",
            "--email",
            "x@example.com",
            "--given-name",
            "J",
        ],
        &pw(),
        vec![],
    )
    .rejects_arguments("the following required arguments were not provided:\n  --family-name <F>");
    cli.run(
        &[
            "client-signup",
            "--email",
            "not-an-email",
            "--given-name",
            "J",
            "--family-name",
            "B",
        ],
        &pw(),
        vec![],
    )
    .fails(2, "invalid email");
    assert_eq!(cli.violations(), []);
}

#[test]
fn cli_bo_signin() {
    let cli = Cli::new();
    // The emailed code on stdin.
    let run = cli.run(
        &["bo-signin", "--email", "staff@example.com"],
        &pw(),
        vec![Feed::CodeTo("staff@example.com")],
    );
    run.tokens();
    assert!(
        run.stderr
            .contains("the code sent by email (valid until 20"),
        "{}",
        run.stderr
    );
    // No 2FA; a 429 of one second on the way, waited out.
    cli.server.throttle_next("POST /api/v2/signin", "1");
    let run = cli.run(
        &["bo-signin", "--email", "staff-no2fa@example.com"],
        &pw(),
        vec![],
    );
    run.tokens();
    assert!(
        run.stderr
            .contains("POST /api/v2/signin -> 429\nrate limited until 20")
            && run.stderr.contains(
                ": waiting 1 s before sending again\nPOST /api/v2/signin -> 200\nsigned in\n"
            ),
        "{}",
        run.stderr
    );
    // A wrong code given by --code, a wrong password.
    cli.run(
        &[
            "bo-signin",
            "--email",
            "staff@example.com",
            "--code",
            "000000",
        ],
        &pw(),
        vec![],
    )
    .fails(1, "the 2FA code refused: HTTP 400");
    cli.run(
        &["bo-signin", "--email", "staff@example.com"],
        &[("B2CORE_PASSWORD", "wrong-password")],
        vec![],
    )
    .fails(1, "Back Office sign-in refused: HTTP 400");
    cli.run(
        &[
            "bo-signin",
            "--email",
            "staff@example.com",
            "--method",
            "sms",
        ],
        &pw(),
        vec![],
    )
    .rejects_arguments("unexpected argument '--method' found");
    assert_eq!(cli.violations(), []);
}

#[test]
fn cli_sessions_refresh_and_sign_out() {
    let cli = Cli::new();
    for (realm, signin) in [
        (
            "client",
            vec!["client-signin", "--email", "plain@example.com"],
        ),
        (
            "bo",
            vec!["bo-signin", "--email", "staff-no2fa@example.com"],
        ),
    ] {
        let refresh = format!("{realm}-refresh");
        let signout = format!("{realm}-signout");
        let first = cli.run(&signin, &pw(), vec![]).tokens();
        let first_refresh = first.refresh().secret().expose().clone();

        // Refresh: the refresh token from the environment; the host's new pair on stdout.
        let run = cli.run(
            &[&refresh],
            &[("B2CORE_REFRESH_TOKEN", &first_refresh)],
            vec![],
        );
        let second = run.tokens();
        assert_ne!(second.refresh().secret().expose(), &first_refresh);
        // The real expiry of the host, not the CLI's placeholder (a year ahead).
        assert!(second.refresh().expires_at() < SystemTime::now() + Duration::from_secs(2 * 3600));
        assert!(cli.server.sim().is_revoked(&first_refresh));
        // The old one again: revoked, exit 1.
        cli.run(
            &[&refresh],
            &[("B2CORE_REFRESH_TOKEN", &first_refresh)],
            vec![],
        )
        .fails(1, "refresh refused (HTTP 401)");
        // From stdin this time, and the host's 429 (one second) waited out on the way.
        let path = if realm == "bo" {
            "/api/v2/refresh"
        } else {
            "/api/v2/my/refresh"
        };
        cli.server.throttle_next(&format!("POST {path}"), "1");
        let run = cli.run(
            &[&refresh],
            &[],
            vec![line(second.refresh().secret().expose())],
        );
        let third = run.tokens();
        assert!(
            run.stderr
                .contains(&format!("POST {path} -> 429\nrate limited until 20"))
                && run.stderr.contains(&format!(
                    ": waiting 1 s before sending again\nPOST {path} -> 200\nrefreshed\n"
                )),
            "{}",
            run.stderr
        );

        // Sign-out: nothing on stdout, exit 0; again: the host's 401, exit 3.
        let access = third.access().secret().expose().clone();
        let run = cli.run(&[&signout], &[("B2CORE_ACCESS_TOKEN", &access)], vec![]);
        assert_eq!((run.code, run.stdout.as_str()), (0, ""), "{}", run.stderr);
        assert!(cli.server.sim().is_revoked(&access));
        cli.run(&[&signout], &[("B2CORE_ACCESS_TOKEN", &access)], vec![])
            .fails(3, "the host answered 401");
        // A token the host never issued: also its 401.
        cli.run(&[&signout], &[], vec![line("never.issued.token")])
            .fails(3, "the host answered 401");
        // Usage.
        cli.run(&[&signout, "--email", "x@example.com"], &[], vec![])
            .rejects_arguments("unexpected argument '--email' found");
        cli.run(&[&refresh], &[("B2CORE_REFRESH_TOKEN", "")], vec![])
            .fails(2, "invalid token: is empty");
    }
    // A client token is unknown to the Back Office. (The code is read first: the
    // simulator's lock must not be held while the CLI talks to it.)
    let code = cli
        .server
        .sim()
        .google_code("google@example.com", SystemTime::now())
        .unwrap();
    let signin = [
        "client-signin",
        "--email",
        "google@example.com",
        "--code",
        &code,
    ];
    let client = cli.run(&signin, &pw(), vec![]).tokens();
    cli.run(
        &["bo-signout"],
        &[("B2CORE_ACCESS_TOKEN", client.access().secret().expose())],
        vec![],
    )
    .fails(3, "the host answered 401");
    assert_eq!(cli.violations(), []);
}

#[test]
fn cli_usage_and_unreachable_host() {
    let cli = Cli::new();
    // No --host, a bad one, no command, an unknown one, a flag without a value: clap's
    // errors, exit 2.
    let out = Command::new(example("b2core"))
        .args(["client-refresh"])
        .env("B2CORE_REFRESH_TOKEN", "a.b.c")
        .output()
        .unwrap();
    Run {
        code: out.status.code().expect("an exit code"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
    .rejects_arguments("error: the following required argument was not provided: --host <URL>\n");
    cli.run_on("ftp://host.name", &["client-refresh"], &[], vec![])
        .rejects_arguments(
            "invalid value for '--host <URL>': invalid base URI: scheme must be http or https",
        );
    // User info is refused, and a password in it is not repeated.
    let run = cli.run_on(
        "https://user:not-to-print@host.name",
        &["client-refresh"],
        &[],
        vec![],
    );
    run.rejects_arguments("invalid value for '--host <URL>': invalid base URI: ");
    assert!(!run.stderr.contains("not-to-print"), "{}", run.stderr);
    // Cleartext to a host that is not loopback: refused before anything is sent, and the
    // message names the flag that allows it.
    let run = cli.run_on("http://host.name", &["client-refresh"], &[], vec![]);
    run.rejects_arguments(
        "invalid value for '--host <URL>': http:// to a host that is not loopback sends \
         passwords and tokens in cleartext",
    );
    assert!(run.stderr.contains("--insecure-http"), "{}", run.stderr);
    // With --insecure-http (before or after the subcommand) the host is taken, with a
    // warning, and the run goes on: here to the refresh token, which stdin does not give
    // (nothing is sent, the test has no such host).
    for args in [
        ["--insecure-http", "client-refresh"],
        ["client-refresh", "--insecure-http"],
    ] {
        let run = cli.run_on("http://host.name", &args, &[], vec![]);
        run.fails(
            2,
            "no refresh token (B2CORE_REFRESH_TOKEN is unset): standard input ended",
        );
        assert!(
            run.stderr.starts_with(
                "b2core: warning: --insecure-http: passwords, codes and tokens go to \
                 http://host.name in cleartext\n"
            ),
            "{}",
            run.stderr
        );
    }
    // To a loopback host, the flag changes nothing: no warning, the sign-in as without it.
    let run = cli.run(
        &[
            "--insecure-http",
            "client-signin",
            "--email",
            "plain@example.com",
        ],
        &pw(),
        vec![],
    );
    run.tokens();
    assert!(run
        .stderr
        .starts_with("GET /api/v2/my/signin/wizard -> 200\n"));
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);

    cli.run(&[], &[], vec![])
        .rejects_arguments("'b2core' requires a subcommand but one was not provided");
    cli.run(&["client-login"], &[], vec![])
        .rejects_arguments("unrecognized subcommand 'client-login'");
    cli.run(&["client-signin", "--email"], &[], vec![])
        .rejects_arguments("a value is required for '--email <EMAIL>' but none was supplied");
    cli.run(
        &["client-signin", "--email=plain@example.com", "extra"],
        &[],
        vec![],
    )
    .rejects_arguments("unexpected argument 'extra' found");
    // --help: the subcommands, the global options, the secrets' variables and the exit
    // codes on stdout, exit 0; a subcommand's --help: its own options and the global ones.
    let run = cli.run(&["--help"], &[], vec![]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    for text in [
        "\nUsage: b2core [OPTIONS] <COMMAND>\n",
        "\n  client-signin   ",
        "\n  bo-signout      ",
        "\n  conformance     ",
        "\nGlobal options:\n",
        "--no-wait",
        "--insecure-http",
        "B2CORE_REFRESH_TOKEN",
        "4 conformance: every flow completed but the host deviates",
        "5 rate limited and not waited out (--no-wait, or longer than 15 minutes)",
    ] {
        assert!(run.stdout.contains(text), "{text}: {}", run.stdout);
    }
    let run = cli.run(&["client-signin", "--help"], &[], vec![]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    for text in [
        "\nUsage: b2core client-signin [OPTIONS] --email <EMAIL>\n",
        "--method <METHOD>",
        "[possible values: google, sms]",
        "--user-agent <UA>",
        "B2CORE_PASSWORD",
        "\nGlobal options:\n",
        "--strict",
    ] {
        assert!(run.stdout.contains(text), "{text}: {}", run.stdout);
    }
    assert!(!run.stdout.contains("--given-name"), "{}", run.stdout);
    let run = cli.run(&["conformance", "--help"], &[], vec![]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("B2CORE_SIGNUP_EMAIL"), "{}", run.stdout);

    // Nothing listens: exit 1 for every command that gets as far as sending.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let host = format!("http://127.0.0.1:{port}");
    let why = format!("cannot reach 127.0.0.1:{port}");
    for (args, env) in [
        (
            vec!["client-signin", "--email", "plain@example.com"],
            ("B2CORE_PASSWORD", PASSWORD),
        ),
        (
            vec![
                "client-signup",
                "--email",
                "n@example.com",
                "--given-name",
                "J",
                "--family-name",
                "B",
            ],
            ("B2CORE_PASSWORD", PASSWORD),
        ),
        (vec!["client-refresh"], ("B2CORE_REFRESH_TOKEN", "a.b.c")),
        (vec!["client-signout"], ("B2CORE_ACCESS_TOKEN", "a.b.c")),
        (
            vec!["bo-signin", "--email", "staff@example.com"],
            ("B2CORE_PASSWORD", PASSWORD),
        ),
        (vec!["bo-refresh"], ("B2CORE_REFRESH_TOKEN", "a.b.c")),
        (vec!["bo-signout"], ("B2CORE_ACCESS_TOKEN", "a.b.c")),
    ] {
        cli.run_on(&host, &args, &[env], vec![]).fails(1, &why);
    }
}

/// On a terminal (a pseudo-terminal from util-linux's `script`, which is stdin, stdout and
/// stderr of the CLI): the password typed at the prompt is not echoed, and a rate limit's
/// countdown rewrites one line (`\r`) each second.
#[cfg(target_os = "linux")]
#[test]
fn cli_on_a_terminal_hides_the_password_typed_and_counts_down_in_place() {
    let cli = Cli::new();
    cli.server.throttle_next("POST /api/v2/my/signin", "2");
    // `script -c` runs a shell command line: every word single-quoted.
    let words = [
        example("b2core").display().to_string(),
        "--host".into(),
        cli.server.base_uri(),
        "client-signin".into(),
        "--email".into(),
        "plain@example.com".into(),
    ];
    let line: Vec<String> = words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', r"'\''")))
        .collect();
    let mut command = Command::new("script");
    command.args([
        "--quiet",
        "--return",
        "--command",
        &line.join(" "),
        "/dev/null",
    ]);
    for var in SECRET_VARS.iter().chain(&CONFORMANCE_VARS) {
        command.env_remove(var);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux's `script` runs (this test needs it)");
    let mut stdout = child.stdout.take().unwrap();
    let (bytes, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut buffer = [0; 1024];
        while let Ok(n @ 1..) = stdout.read(&mut buffer) {
            if bytes.send(buffer[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut output = String::new();
    let read_until = |what: &str, output: &mut String| {
        while !output.contains(what) {
            let chunk = seen
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|e| panic!("no `{what}` on the terminal ({e}):\n{output:?}"));
            output.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    read_until("password (B2CORE_PASSWORD is unset): ", &mut output);
    // Typed once the prompt is up (a terminal echoes what is typed ahead of the program).
    std::thread::sleep(Duration::from_millis(500));
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{PASSWORD}").unwrap();
    read_until("\"refreshToken\"", &mut output);
    drop(stdin);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{output:?}");
    assert!(
        !output.contains(PASSWORD),
        "the password was echoed: {output:?}"
    );
    // The terminal turns each `\n` into `\r\n`: a lone `\r` is the CLI's.
    let countdown = output
        .split("\r\n")
        .find(|line| line.starts_with("rate limited until "))
        .unwrap_or_else(|| panic!("no countdown: {output:?}"));
    let counts: Vec<&str> = countdown.split('\r').map(str::trim_end).collect();
    assert_eq!(counts.len(), 2, "{output:?}");
    assert!(
        counts[0].ends_with(": waiting 2 s before sending again"),
        "{output:?}"
    );
    assert_eq!(counts[0].replace("2 s", "1 s"), counts[1], "{output:?}");
    assert!(
        output.contains("POST /api/v2/my/signin -> 429\r\nrate limited until ")
            && output.contains(" before sending again\r\nPOST /api/v2/my/signin -> 202\r\n"),
        "{output:?}"
    );
}

/// `Dialect::named`, for a name the test knows.
fn dialect(name: &str) -> Dialect {
    Dialect::named(name).expect("a dialect of Dialect::ALL")
}

#[test]
fn cli_prints_each_deviation_and_strict_refuses_it() {
    let cli = Cli::in_dialect(dialect("status-200"));
    let deviation = "`code`: the pages make it the HTTP code of the step; found `code` 202 with HTTP status 200";
    // Lenient (the default): the run goes on, each deviation one line after its progress line.
    let run = cli.run(
        &["client-signin", "--email", "plain@example.com"],
        &pw(),
        vec![],
    );
    run.tokens();
    assert_eq!(
        run.stderr,
        format!(
            "GET /api/v2/my/signin/wizard -> 200\nsigning in as plain@example.com\n\
             POST /api/v2/my/signin -> 200\ndeviation: POST /api/v2/my/signin: {deviation}\nsigned in\n"
        )
    );
    let signup = [
        "client-signup",
        "--email",
        "new@example.com",
        "--given-name",
        "John",
        "--family-name",
        "Brown",
    ];
    let run = cli.run(&signup, &pw(), vec![]);
    run.tokens();
    let deviations: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("deviation: "))
        .collect();
    assert_eq!(
        deviations,
        [
            format!("deviation: POST /api/v2/my/signup/wizard: {deviation}"),
            format!("deviation: POST /api/v2/my/signup: {deviation}"),
            format!("deviation: POST /api/v2/my/signin: {deviation}"),
        ],
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!(
            "POST /api/v2/my/signup -> 200\ndeviation: POST /api/v2/my/signup: {deviation}\n"
        )),
        "{}",
        run.stderr
    );

    // Strict, before or after the command: the first deviation fails the run, exit 1.
    let malformed = "malformed response to POST /api/v2/my/signin: code: `code` 202 with HTTP status 200, but the pages make it the HTTP code of the step";
    for args in [
        ["--strict", "client-signin", "--email", "plain@example.com"],
        ["client-signin", "--email", "plain@example.com", "--strict"],
    ] {
        let run = cli.run(&args, &pw(), vec![]);
        run.fails(1, malformed);
        assert!(!run.stderr.contains("deviation: "), "{}", run.stderr);
    }
    let mut strict_signup = signup.to_vec();
    strict_signup[2] = "other@example.com";
    strict_signup.insert(0, "--strict");
    cli.run(&strict_signup, &pw(), vec![]).fails(
        1,
        "malformed response to POST /api/v2/my/signup/wizard: code: ",
    );
    cli.run(
        &["--strict", "--strict", "client-refresh"],
        &[("B2CORE_REFRESH_TOKEN", "a.b.c")],
        vec![],
    )
    .rejects_arguments("the argument '--strict' cannot be used multiple times");
    cli.run(&["--strict=yes", "client-refresh"], &[], vec![])
        .rejects_arguments("unexpected value 'yes' for '--strict' found");
    assert_eq!(cli.violations(), []);

    // The other version of the page: three deviations on the wizard init.
    let cli = Cli::in_dialect(dialect("done-at-init"));
    let run = cli.run(
        &["client-signin", "--email", "plain@example.com"],
        &pw(),
        vec![],
    );
    run.tokens();
    let lines: Vec<&str> = run.stderr.lines().collect();
    let init = lines
        .iter()
        .position(|l| l.starts_with("GET /api/v2/my/signin/wizard -> "))
        .expect("the wizard init");
    let status: u16 = lines[init].rsplit(' ').next().unwrap().parse().unwrap();
    let expected: Vec<String> =
        dialects::implied("done-at-init", dialects::SIGNIN_INIT, 200, status)
            .iter()
            .map(|(field, found)| {
                let step = dialects::SIGNIN_INIT;
                let what = match *field {
                    "done" => "true only with `Terminate`",
                    _ if found.contains("HTTP status") => {
                        "the pages make it the HTTP code of the step"
                    }
                    _ => "202 only with `Terminate`, else 200",
                };
                format!("deviation: {step}: `{field}`: {what}; found {found}")
            })
            .collect();
    assert_eq!(
        lines[init + 1..init + 1 + expected.len()],
        expected,
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stderr.matches("deviation: ").count(),
        expected.len(),
        "{}",
        run.stderr
    );
    cli.run(
        &["client-signin", "--email", "plain@example.com", "--strict"],
        &pw(),
        vec![],
    )
    .fails(
        1,
        "malformed response to GET /api/v2/my/signin/wizard: code: ",
    );
    assert_eq!(cli.violations(), []);
}

// ---------------------------------------------------------------------------------------
// `b2core conformance` against the `sim_server` binary, in every dialect.

/// The `sim_server` example as a child process on a free port, killed when dropped.
struct SimServer {
    child: std::process::Child,
    host: String,
    /// Kept open: the server's stdout is a pipe.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl SimServer {
    /// With the demo accounts; `--dialect NAME` when given.
    fn start(dialect: Option<&str>) -> Self {
        let mut command = Command::new(example("sim_server"));
        command.args(["--port", "0"]);
        if let Some(name) = dialect {
            command.args(["--dialect", name]);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let host = first.trim_end().to_owned();
        assert!(host.starts_with("http://127.0.0.1:"), "{dialect:?}: {host}");
        Self {
            child,
            host,
            _stdout: stdout,
        }
    }

    /// `GET path` on the server's control paths, as JSON.
    fn get(&self, path: &str) -> serde_json::Value {
        let request = http::Request::get(format!("{}{path}", self.host))
            .body(Vec::new())
            .unwrap();
        let response = blocking_http::Client::new().send(request).unwrap();
        assert_eq!(response.status(), 200, "{path}");
        serde_json::from_slice(response.body()).unwrap()
    }

    fn google_code(&self, email: &str) -> String {
        let code = self.get(&format!(
            "/_sim/google-code?email={}",
            email.replace('@', "%40")
        ));
        code["code"].as_str().unwrap().to_owned()
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `conformance` run: its exit code, the table's rows (flow, request, status,
/// deviations), the summary line and stderr.
struct Conformance {
    code: i32,
    rows: Vec<[String; 4]>,
    summary: String,
    stderr: String,
}

impl Conformance {
    fn run(host: &str, args: &[&str], env: &[(&str, &str)], stdin: &[&str]) -> Self {
        let mut command = Command::new(example("b2core"));
        command.args(["--host", host]).args(args);
        for var in SECRET_VARS.iter().chain(&CONFORMANCE_VARS) {
            command.env_remove(var);
        }
        let mut child = command
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        for line in stdin {
            let _ = writeln!(input, "{line}");
        }
        drop(input);
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        for secret in env
            .iter()
            .filter(|(var, _)| var.ends_with("PASSWORD"))
            .map(|(_, value)| *value)
            .chain(stdin.iter().copied())
        {
            assert!(
                !stderr.contains(secret),
                "a secret reached stderr:\n{stderr}"
            );
            assert!(
                !stdout.contains(secret),
                "a secret reached stdout:\n{stdout}"
            );
        }
        let mut lines = stdout.lines();
        let (rows, summary) = match lines.next() {
            Some(header) => {
                assert_eq!(cells(header), ["flow", "request", "status", "deviations"]);
                let mut rows: Vec<[String; 4]> = lines.map(cells).collect();
                let summary = rows.pop().expect("a summary line")[0].clone();
                (rows, summary)
            }
            None => (Vec::new(), String::new()),
        };
        Self {
            code: out.status.code().expect("an exit code"),
            rows,
            summary,
            stderr,
        }
    }

    /// The rows as `(flow, request, deviations)`.
    fn flows_and_cells(&self) -> Vec<(&str, &str, &str)> {
        self.rows
            .iter()
            .map(|[flow, request, _, cell]| (flow.as_str(), request.as_str(), cell.as_str()))
            .collect()
    }
}

/// The cells of one line of the table (columns are at least two spaces apart and only
/// the last may hold two spaces in a row); the summary line as its first cell.
fn cells(line: &str) -> [String; 4] {
    if line.starts_with("summary: ") {
        return [line.to_owned(), String::new(), String::new(), String::new()];
    }
    let mut rest = line;
    let mut out: [String; 4] = Default::default();
    for cell in out.iter_mut().take(3) {
        let (head, tail) = rest
            .split_once("  ")
            .unwrap_or_else(|| panic!("four columns: `{line}`"));
        *cell = head.to_owned();
        rest = tail.trim_start();
    }
    out[3] = rest.to_owned();
    out
}

/// The test accounts of the demo server, and the Google code of the client on stdin.
fn conformance_env() -> [(&'static str, &'static str); 5] {
    [
        ("B2CORE_CLIENT_EMAIL", "google@example.com"),
        ("B2CORE_CLIENT_PASSWORD", PASSWORD),
        ("B2CORE_STAFF_EMAIL", "staff-no2fa@example.com"),
        ("B2CORE_STAFF_PASSWORD", PASSWORD),
        ("B2CORE_SIGNUP_EMAIL", "new@example.com"),
    ]
}

/// The rows of a full run, every flow, in order.
const CONFORMANCE_ROWS: [(&str, &str); 13] = [
    ("client", "GET /api/v2/my/signin/wizard"),
    ("client", "POST /api/v2/my/signin"),
    ("client", "POST /api/v2/my/2fa/google"),
    ("client", "POST /api/v2/my/refresh"),
    ("client", "POST /api/v2/my/signout"),
    ("back-office", "POST /api/v2/signin"),
    ("back-office", "POST /api/v2/refresh"),
    ("back-office", "POST /api/v2/signout"),
    ("sign-up", "POST /api/v2/my/signup/wizard"),
    ("sign-up", "POST /api/v2/my/signup"),
    ("sign-up", "GET /api/v2/my/signin/wizard"),
    ("sign-up", "POST /api/v2/my/signin"),
    ("sign-up", "POST /api/v2/my/signout"),
];

#[test]
fn cli_conformance_reports_exactly_each_dialects_deviations() {
    // The server as people start it, no --dialect: no deviation, exit 0. The client's
    // password from stdin this time (the sign-up takes it too), then the Google code.
    let server = SimServer::start(None);
    let code = server.google_code("google@example.com");
    let env = conformance_env();
    let without_password: Vec<_> = env
        .iter()
        .copied()
        .filter(|(var, _)| *var != "B2CORE_CLIENT_PASSWORD")
        .collect();
    let baseline = Conformance::run(
        &server.host,
        &["conformance"],
        &without_password,
        &[PASSWORD, &code],
    );
    assert_eq!(baseline.code, 0, "{}", baseline.stderr);
    let expected: Vec<_> = CONFORMANCE_ROWS
        .iter()
        .map(|(f, r)| (*f, *r, "-"))
        .collect();
    assert_eq!(baseline.flows_and_cells(), expected, "{}", baseline.stderr);
    assert_eq!(
        baseline.summary,
        "summary: 13 requests, 0 deviations; flows: 3 run, 0 skipped, 0 failed; conforms"
    );
    assert!(baseline
        .stderr
        .contains("client password (B2CORE_CLIENT_PASSWORD is unset): reading one line"));
    assert!(
        !baseline.stderr.contains("deviation"),
        "{}",
        baseline.stderr
    );
    assert_eq!(server.get("/_sim/violations"), serde_json::json!([]));
    drop(server);

    for (name, dialect) in Dialect::ALL {
        assert_eq!(dialect.name(), Some(*name));
        let server = SimServer::start(Some(name));
        let code = server.google_code("google@example.com");
        let run = Conformance::run(&server.host, &["conformance"], &env, &[&code]);
        let context = format!("dialect {name}:\n{}", run.stderr);
        let mut total = 0;
        let expected: Vec<String> = run
            .rows
            .iter()
            .zip(&baseline.rows)
            .map(|([_, request, status, _], [_, _, pages_status, _])| {
                let implied = dialects::implied(
                    name,
                    request,
                    pages_status.parse().unwrap(),
                    status.parse().unwrap_or(0),
                );
                total += implied.len();
                dialects::cell(&implied)
            })
            .collect();
        let expected: Vec<_> = CONFORMANCE_ROWS
            .iter()
            .zip(&expected)
            .map(|((f, r), cell)| (*f, *r, cell.as_str()))
            .collect();
        assert_eq!(run.flows_and_cells(), expected, "{context}");
        assert_eq!(total > 0, dialects::deviates(name), "{context}");
        let (exit, verdict) = if total > 0 {
            (4, "deviates")
        } else {
            (0, "conforms")
        };
        assert_eq!(run.code, exit, "{context}");
        assert_eq!(
            run.summary,
            format!(
                "summary: 13 requests, {total} deviation{}; flows: 3 run, 0 skipped, 0 failed; {verdict}",
                if total == 1 { "" } else { "s" }
            ),
            "{context}"
        );
        // Each deviation also went to stderr, one line each.
        assert_eq!(
            run.stderr
                .lines()
                .filter(|l| l.starts_with("deviation: "))
                .count(),
            total,
            "{context}"
        );
        assert_eq!(
            server.get("/_sim/violations"),
            serde_json::json!([]),
            "{context}"
        );
    }
}

#[test]
fn cli_conformance_strict_skipped_usage_and_unreachable() {
    // --strict: the first deviation fails its flow; the other flows still run.
    let server = SimServer::start(Some("status-200"));
    let code = server.google_code("google@example.com");
    let run = Conformance::run(
        &server.host,
        &["--strict", "conformance"],
        &conformance_env(),
        &[&code],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let refused = |step: &str| {
        format!(
            "failed: malformed response to {step}: code: `code` 202 with HTTP status 200, but the pages make it the HTTP code of the step"
        )
    };
    let google = refused("POST /api/v2/my/2fa/google");
    let signup = refused("POST /api/v2/my/signup/wizard");
    assert_eq!(
        run.flows_and_cells(),
        [
            ("client", "GET /api/v2/my/signin/wizard", "-"),
            ("client", "POST /api/v2/my/signin", "-"),
            ("client", "POST /api/v2/my/2fa/google", google.as_str()),
            ("back-office", "POST /api/v2/signin", "-"),
            ("back-office", "POST /api/v2/refresh", "-"),
            ("back-office", "POST /api/v2/signout", "-"),
            ("sign-up", "POST /api/v2/my/signup/wizard", signup.as_str()),
        ]
    );
    assert_eq!(
        run.summary,
        "summary: 7 requests, 0 deviations; flows: 3 run, 0 skipped, 2 failed; failed"
    );
    assert_eq!(
        run.stderr.lines().last(),
        Some("b2core: conformance: failed: client, sign-up")
    );
    assert!(!run.stderr.contains("deviation: "), "{}", run.stderr);
    // A refusal after a readable answer: a row of its own. Only the staff account given.
    let run = Conformance::run(
        &server.host,
        &["conformance"],
        &[
            ("B2CORE_STAFF_EMAIL", "staff-no2fa@example.com"),
            ("B2CORE_STAFF_PASSWORD", "wrong-password"),
        ],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        run.flows_and_cells(),
        [
            ("client", "-", "skipped: B2CORE_CLIENT_EMAIL is unset"),
            ("back-office", "POST /api/v2/signin", "-"),
            (
                "back-office",
                "-",
                "failed: Back Office sign-in refused: HTTP 400 (code 400): invalid email or password"
            ),
            ("sign-up", "-", "skipped: B2CORE_SIGNUP_EMAIL is unset"),
        ]
    );
    assert_eq!(
        run.summary,
        "summary: 1 request, 0 deviations; flows: 1 run, 2 skipped, 1 failed; failed"
    );
    // Only a sign-up: its password is the client's variable (no client account given).
    let run = Conformance::run(
        &server.host,
        &["conformance"],
        &[
            ("B2CORE_SIGNUP_EMAIL", "other@example.com"),
            ("B2CORE_CLIENT_PASSWORD", PASSWORD),
        ],
        &[],
    );
    assert_eq!(run.code, 4, "{}", run.stderr);
    let deviates = "code: `code` 202 with HTTP status 200";
    assert_eq!(
        run.flows_and_cells(),
        [
            ("client", "-", "skipped: B2CORE_CLIENT_EMAIL is unset"),
            ("back-office", "-", "skipped: B2CORE_STAFF_EMAIL is unset"),
            ("sign-up", "POST /api/v2/my/signup/wizard", deviates),
            ("sign-up", "POST /api/v2/my/signup", deviates),
            ("sign-up", "GET /api/v2/my/signin/wizard", "-"),
            ("sign-up", "POST /api/v2/my/signin", deviates),
            ("sign-up", "POST /api/v2/my/signout", "-"),
        ]
    );
    assert_eq!(
        run.summary,
        "summary: 5 requests, 3 deviations; flows: 1 run, 2 skipped, 0 failed; deviates"
    );
    assert_eq!(server.get("/_sim/violations"), serde_json::json!([]));
    let host = server.host.clone();
    drop(server);

    // Usage: exit 2, nothing on stdout. The arguments, by clap:
    for (args, why) in [
        (
            vec!["conformance", "--email", "plain@example.com"],
            "error: unexpected argument '--email' found",
        ),
        (
            vec!["conformance", "--method", "fax"],
            "error: invalid value 'fax' for '--method <METHOD>'",
        ),
    ] {
        let env = [("B2CORE_CLIENT_EMAIL", "plain@example.com")];
        let run = Conformance::run(&host, &args, &env, &[]);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.rows.is_empty() && run.summary.is_empty());
        assert!(run.stderr.starts_with(why), "{args:?}: {}", run.stderr);
    }
    // the environment and stdin, by the CLI:
    for (args, env, why) in [
        (
            vec!["conformance"],
            vec![],
            "conformance needs a test account: set B2CORE_CLIENT_EMAIL, B2CORE_STAFF_EMAIL or B2CORE_SIGNUP_EMAIL",
        ),
        (
            vec!["conformance"],
            vec![("B2CORE_STAFF_EMAIL", "staff@example.com")],
            "no Back Office password (B2CORE_STAFF_PASSWORD is unset): standard input ended",
        ),
        (
            vec!["conformance"],
            vec![("B2CORE_SIGNUP_EMAIL", "n@example.com")],
            "no sign-up password (B2CORE_SIGNUP_PASSWORD and B2CORE_CLIENT_PASSWORD are unset): standard input ended",
        ),
    ] {
        let run = Conformance::run(&host, &args, &env, &[]);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.rows.is_empty() && run.summary.is_empty());
        assert_eq!(
            run.stderr.lines().last(),
            Some(format!("b2core: {why} (see b2core --help)").as_str())
        );
    }

    // Nothing listens now: the client's first request fails, the others are skipped.
    let run = Conformance::run(
        &host,
        &["conformance"],
        &[
            ("B2CORE_CLIENT_EMAIL", "plain@example.com"),
            ("B2CORE_CLIENT_PASSWORD", PASSWORD),
        ],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let [flow, request, status, cell] = &run.rows[0];
    assert_eq!(
        (flow.as_str(), request.as_str(), status.as_str()),
        ("client", "GET /api/v2/my/signin/wizard", "-")
    );
    let authority = host.trim_start_matches("http://");
    assert!(
        cell.starts_with(&format!("failed: cannot reach {authority}: ")),
        "{cell}"
    );
    assert_eq!(run.rows.len(), 3);
    assert_eq!(
        run.summary,
        "summary: 1 request, 0 deviations; flows: 1 run, 2 skipped, 1 failed; failed"
    );
}

// ---------------------------------------------------------------------------------------
// 3. The other two examples, as people run them.

#[test]
fn sim_server_example_serves_a_client_and_reports_violations() {
    let dir = std::env::temp_dir().join(format!("b2core-sockets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let accounts = dir.join("accounts.json");
    std::fs::write(
        &accounts,
        r#"{"clients": [{"email": "g@example.com", "password": "Pw-123456", "google": true}],
            "staff": [{"email": "s@example.com", "password": "Pw-123456", "email_2fa": true}]}"#,
    )
    .unwrap();
    let mut child = Command::new(example("sim_server"))
        .args(["--port", "0", "--accounts"])
        .arg(&accounts)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let host = first.trim_end().to_owned();
    assert!(host.starts_with("http://127.0.0.1:"), "{host}");

    let client = blocking_http::Client::new();
    let get = |path: &str| {
        let request = http::Request::get(format!("{host}{path}"))
            .body(Vec::new())
            .unwrap();
        let response = client.send(request).unwrap();
        (
            response.status().as_u16(),
            String::from_utf8(response.body().clone()).unwrap(),
        )
    };
    let (status, body) = get("/_sim/google-code?email=g%40example.com");
    assert_eq!(status, 200);
    let code: serde_json::Value = serde_json::from_str(&body).unwrap();
    let code = code["code"].as_str().unwrap().to_owned();

    let out = Command::new(example("b2core"))
        .args([
            "--host",
            &host,
            "client-signin",
            "--email",
            "g@example.com",
            "--code",
            &code,
        ])
        .env("B2CORE_PASSWORD", "Pw-123456")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The staff code is "sent": it shows in the outbox (and on the server's stderr).
    let out = Command::new(example("b2core"))
        .args([
            "--host",
            &host,
            "bo-signin",
            "--email",
            "s@example.com",
            "--code",
            "000000",
        ])
        .env("B2CORE_PASSWORD", "Pw-123456")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let (_, outbox) = get("/_sim/outbox");
    let outbox: serde_json::Value = serde_json::from_str(&outbox).unwrap();
    assert_eq!(outbox[0]["channel"], "email");
    assert_eq!(outbox[0]["to"], "s@example.com");
    let staff_code = outbox[0]["code"].as_str().unwrap().to_owned();
    assert_eq!(get("/_sim/violations"), (200, "[]".to_owned()));

    // A client that breaks the protocol is caught, and a harness can read why.
    let bad = http::Request::post(format!("{host}/api/v2/my/signin"))
        .header("Accept", "application/json")
        .header("Content-Type", "application/json")
        .body(br#"{"emial":"g@example.com"}"#.to_vec())
        .unwrap();
    assert_eq!(client.send(bad).unwrap().status(), 400);
    let (_, violations) = get("/_sim/violations");
    let violations: serde_json::Value = serde_json::from_str(&violations).unwrap();
    assert_eq!(violations.as_array().unwrap().len(), 1);
    assert_eq!(violations[0]["request"], "POST /api/v2/my/signin");

    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("sim_server: 2 accounts from"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "sim_server: email to s@example.com: code {staff_code}"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("sim_server: VIOLATION POST /api/v2/my/signin: "),
        "{stderr}"
    );
    assert!(!stderr.contains("Pw-123456"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// One request on a fresh connection, written byte for byte (no client library to
/// normalize the target), and the answer's status and body.
fn raw_exchange(server: &Running, head: &str, body: &[u8]) -> (u16, String) {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let head = format!(
        "{head}\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.addr()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8(answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

#[test]
fn sim_http_parses_the_control_query_and_hands_the_simulator_the_raw_target() {
    let server = serve_in(Dialect::PAGES);
    server
        .sim()
        .add_client(ClientAccount::new("g+tag@example.com", PASSWORD).with_google());
    let get = |target: &str| raw_exchange(&server, &format!("GET {target} HTTP/1.1"), b"");
    let code = || {
        server
            .sim()
            .google_code("g+tag@example.com", SystemTime::now())
    };
    // Percent-decoded, in values and keys alike (a code may turn over mid-request).
    for target in [
        "/_sim/google-code?email=g%2Btag%40example.com",
        "/_sim/google-code?%65mail=g%2btag@example%2Ecom",
    ] {
        let before = code().unwrap();
        let (status, body) = get(target);
        let after = code().unwrap();
        assert_eq!(status, 200, "{target}: {body}");
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        let answered = answer["code"].as_str().unwrap();
        assert!(answered == before || answered == after, "{target}: {body}");
    }
    // A `+` is a space: "g tag@example.com" has no account.
    assert_eq!(get("/_sim/google-code?email=g+tag%40example.com").0, 404);
    // No `email`, two of them, or another key: a bad request, not "no such account".
    for target in [
        "/_sim/google-code",
        "/_sim/google-code?email=g%2Btag%40example.com&email=x",
        "/_sim/google-code?email=g%2Btag%40example.com&emial=x",
    ] {
        let (status, body) = get(target);
        assert_eq!(status, 400, "{target}: {body}");
    }
    let post = raw_exchange(
        &server,
        "POST /_sim/outbox HTTP/1.1\r\nContent-Length: 0",
        b"",
    );
    assert_eq!(post.0, 405);
    assert_eq!(get("/_sim/no-such-thing").0, 404);
    assert_eq!(server.sim().violations(), []);

    // Elsewhere the target reaches the simulator as it came, query string and all.
    let (status, body) = get("/api/v2/my/signin/wizard?email=g%40example.com");
    assert_eq!(status, 400, "{body}");
    let violations = server.sim().violations().to_vec();
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].request, "GET /api/v2/my/signin/wizard");
    assert_eq!(violations[0].reason, "unexpected query string");

    // Dropped, the server stops listening.
    let addr = server.addr();
    drop(server);
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[test]
fn sim_http_reads_no_more_of_a_body_than_its_cap() {
    let server = serve_in(Dialect::PAGES);
    // A body that says 1 GiB and stops at the cap: the simulator gets the cap's worth
    // (over its own 64 KiB limit: a 413 and a violation) without waiting for the rest.
    let (status, body) = raw_exchange(
        &server,
        "POST /api/v2/my/signin HTTP/1.1\r\nAccept: application/json\r\n\
         Content-Type: application/json\r\nContent-Length: 1073741824",
        &vec![b' '; sim_http::BODY_READ_LIMIT],
    );
    assert_eq!(status, 413, "{body}");
    let violations = server.sim().violations().to_vec();
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].reason, "body larger than 64 KiB");
}

#[test]
fn async_example_signs_in_against_its_own_simulator() {
    let (summary, stderr) = run_async_example(&[]);
    assert!(
        stderr.contains("POST /api/v2/my/2fa/sms -> 202"),
        "{stderr}"
    );
    // A proactive refresh (1 s before the 3 s access token expires): the task whose call
    // came first after that point sent it, the 49 others of the same round were served by
    // the old token while it was in flight, and no call ever had to wait.
    assert!(summary["served-during-refresh"] >= 1, "{summary:?}");
    assert_eq!(summary["waited"], 0, "{summary:?}");
}

#[test]
fn async_example_tasks_wait_for_a_refresh_started_at_expiry() {
    // No leeway: the refresh starts when the access token has expired, so the tasks that
    // call while it is in flight cannot be authorized, wait for its answer, then go on. A
    // round of calls that leaves just before the expiry reaches the host just after it:
    // those calls come back 401 and go once more, the first of them starting the refresh
    // (and the others of them waiting for it). Either way, none fails.
    let (summary, _) = run_async_example(&["--leeway", "0"]);
    assert!(
        summary["waited"] + summary["sent-again"] >= 1,
        "{summary:?}"
    );
}

/// Runs the `async_tokio` example against its own simulator: 50 tasks calling through one
/// session across a refresh. Checks what must hold in every run and returns its summary
/// (`key=number` pairs) and stderr.
fn run_async_example(args: &[&str]) -> (std::collections::BTreeMap<String, u64>, String) {
    let out = Command::new(example("async_tokio"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let line = stdout.strip_prefix("summary: ").expect("one summary line");
    let summary: std::collections::BTreeMap<String, u64> = line
        .split_whitespace()
        .map(|pair| {
            let (key, value) = pair.split_once('=').expect("key=number");
            (key.to_owned(), value.parse().expect("a number"))
        })
        .collect();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    // No call failed; single flight: exactly one refresh sent and answered for 50 tasks.
    assert_eq!(summary["tasks"], 50, "{summary:?}");
    assert_eq!(summary["failed"], 0, "{summary:?}");
    assert_eq!(summary["refreshes"], 1, "{summary:?}");
    assert_eq!(
        stderr.matches("POST /api/v2/my/refresh -> 200\n").count(),
        1,
        "{stderr}"
    );
    // The run spanned the refresh: every task called with the first access token, then
    // twice (and stopped) with the one the refresh brought.
    assert_eq!(summary["after-refresh"], 100, "{summary:?}");
    assert!(summary["calls"] >= 150, "{summary:?}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    assert!(
        stderr.ends_with(
            "POST /api/v2/my/signout -> 200\nsigned out\n\
             the simulator recorded no protocol violation\n"
        ),
        "{stderr}"
    );
    (summary, stderr)
}

// ---------------------------------------------------------------------------------------
// 4. Redirects: never followed, so no password, code or token goes where they point.

/// A listener that must never be reached: where the redirects point. It never accepts; a
/// client that connected left a connection in its queue, which `assert_untouched` finds.
struct Trap {
    listener: std::net::TcpListener,
}

impl Trap {
    fn new() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        Self { listener }
    }

    fn base_uri(&self) -> String {
        format!("http://{}", self.listener.local_addr().unwrap())
    }

    fn assert_untouched(&self, what: &str) {
        match self.listener.accept() {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Ok((_, peer)) => panic!("{what}: {peer} followed the redirect"),
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

/// A host that answers the client sign-in wizard's init as the pages show (so a sign-in
/// gets as far as sending the password) and every other request with
/// `307 Temporary Redirect` to the same path on `to`: a 307 asks for the same method and
/// body again, password and all.
struct Redirector {
    http: std::sync::Arc<tiny_http::Server>,
    addr: std::net::SocketAddr,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Redirector {
    fn new(to: &str) -> Self {
        use std::sync::{Arc, Mutex};
        let http = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let addr = http.server_addr().to_ip().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (http, seen, to) = (Arc::clone(&http), Arc::clone(&seen), to.to_owned());
            std::thread::spawn(move || {
                for request in http.incoming_requests() {
                    let line = format!("{} {}", request.method(), request.url());
                    seen.lock().unwrap().push(line.clone());
                    let response = if line == "GET /api/v2/my/signin/wizard" {
                        let body = serde_json::json!({
                            "code": 200,
                            "data": {"recaptcha": {"enabled": false}, "is_qr_available": false},
                            "done": false,
                            "uuid": "7b5b4b4e-2c29-4b9e-9f4e-2a0d4b8c1f00",
                            "workflow": "login",
                        });
                        tiny_http::Response::from_data(body.to_string().into_bytes()).with_header(
                            tiny_http::Header::from_bytes("Content-Type", "application/json")
                                .unwrap(),
                        )
                    } else {
                        let location = format!("{to}{}", request.url());
                        tiny_http::Response::from_data(Vec::new())
                            .with_status_code(307)
                            .with_header(
                                tiny_http::Header::from_bytes("Location", location).unwrap(),
                            )
                    };
                    let _ = request.respond(response);
                }
            })
        };
        Self {
            http,
            addr,
            seen,
            thread: Some(thread),
        }
    }

    fn base_uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The request lines answered so far, and forgets them.
    fn take_seen(&self) -> Vec<String> {
        std::mem::take(&mut self.seen.lock().unwrap())
    }
}

impl Drop for Redirector {
    fn drop(&mut self) {
        self.http.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn both_clients_hand_a_redirect_back_unfollowed() {
    let trap = Trap::new();
    let redirector = Redirector::new(&trap.base_uri());
    let request = || {
        http::Request::post(format!("{}/api/v2/my/signin", redirector.base_uri()))
            .header("content-type", "application/json")
            .body(br#"{"password":"not-to-be-resent"}"#.to_vec())
            .unwrap()
    };
    let response = blocking_http::Client::new().send(request()).unwrap();
    assert_eq!(response.status(), 307);
    trap.assert_untouched("the blocking client");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = async_http::Client::new().unwrap();
    let response = runtime.block_on(http.send(request())).unwrap();
    assert_eq!(response.status(), 307);
    trap.assert_untouched("the async client");
    assert_eq!(
        redirector.take_seen(),
        ["POST /api/v2/my/signin", "POST /api/v2/my/signin"]
    );
}

#[test]
fn cli_fails_on_a_redirect_and_sends_nothing_where_it_points() {
    let cli = Cli::new();
    let trap = Trap::new();
    let redirector = Redirector::new(&trap.base_uri());
    let host = redirector.base_uri();
    for (args, env, redirected) in [
        // The password (in the sign-in request's body), after the wizard's init.
        (
            vec!["client-signin", "--email", "plain@example.com"],
            ("B2CORE_PASSWORD", PASSWORD),
            "POST /api/v2/my/signin",
        ),
        // A refresh token in the body, an access token in the `Authorization` header.
        (
            vec!["client-refresh"],
            ("B2CORE_REFRESH_TOKEN", "refresh.token.value"),
            "POST /api/v2/my/refresh",
        ),
        (
            vec!["client-signout"],
            ("B2CORE_ACCESS_TOKEN", "access.token.value"),
            "POST /api/v2/my/signout",
        ),
        (
            vec!["bo-signin", "--email", "staff@example.com"],
            ("B2CORE_PASSWORD", PASSWORD),
            "POST /api/v2/signin",
        ),
    ] {
        let run = cli.run_on(&host, &args, &[env], vec![]);
        run.fails(
            1,
            &format!(
                "malformed response to {redirected}: status: HTTP 307 is a redirect, which \
                 is never followed"
            ),
        );
        assert!(
            run.stderr.contains(&format!("{redirected} -> 307\n")),
            "{}",
            run.stderr
        );
        trap.assert_untouched(args[0]);
        let seen = redirector.take_seen();
        assert_eq!(
            seen.last().map(String::as_str),
            Some(redirected),
            "{seen:?}"
        );
        assert!(seen.len() <= 2, "{seen:?}");
    }
}
