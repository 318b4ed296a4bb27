//! The flows over real sockets: the simulator served on an ephemeral loopback port (the
//! HTTP glue of `examples/support/`, in a thread of this test), driven
//!
//! 1. in-process by the blocking client (ureq) and by the async client (hyper on tokio),
//!    through every flow: client sign-in without 2FA, with Google, with SMS after a method
//!    choice, with a forced password reset; sign-up then sign-in; staff sign-in with email
//!    2FA; refresh and sign-out of both realms;
//! 2. by the `b2core` example binary as a subprocess, for every subcommand, success and
//!    failure: its stdout (the JSON pair), its exit code (0/1/2/3), and that no password,
//!    token or code ever reaches its stderr;
//! 3. the `sim_server` and `async_tokio` example binaries as they are run by people.
//!
//! The example binaries are the ones `cargo test` builds next to this test
//! (`target/<profile>/examples/`).

#[path = "../examples/support/async_http.rs"]
mod async_http;
#[path = "../examples/support/blocking_http.rs"]
mod blocking_http;
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
use b2core_auth::sim::{ClientAccount, Server, SimConfig, StaffAccount};
use b2core_auth::{DeviceFingerprint, Endpoint, Session, SessionStep, TokenPair};
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

fn accounts() -> Server {
    let mut server = Server::new(SimConfig::default());
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

fn serve() -> Running {
    Running::start("127.0.0.1:0", accounts(), |_| {}).expect("a free loopback port")
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

macro_rules! flows {
    ($module:ident, $client:ty, [$($async_:tt)*], [$($await_:tt)*]) => {
        mod $module {
            use super::*;

            /// A client sign-in to its end; returns the kinds of steps seen and the tokens.
            pub $($async_)* fn client_sign_in(
                http: &$client,
                server: &Running,
                email: &str,
                password: &str,
                choose: Option<Method>,
            ) -> (Vec<&'static str>, TokenPair) {
                let endpoint = Endpoint::new(&server.base_uri()).unwrap();
                let mut flow = SignIn::new(endpoint);
                let mut password = password.to_owned();
                let mut seen = Vec::new();
                let mut request = flow.start().unwrap();
                loop {
                    let response = http.send(request) $($await_)* .expect("an answer");
                    let step = flow.handle_response(&response, SystemTime::now()).unwrap();
                    request = match step {
                        SignInStep::Credentials { rejected: None, .. } => {
                            seen.push("credentials");
                            let c = Credentials::new(email, password.as_str(), fingerprint());
                            flow.submit_credentials(c, SystemTime::now())
                        }
                        SignInStep::ChooseMethod { methods, rejected: None } => {
                            seen.push("choose method");
                            assert_eq!(methods, [Method::Google, Method::Sms]);
                            flow.choose_method(choose.expect("a method to choose"))
                        }
                        SignInStep::Code { method: Method::Google, rejected: None } => {
                            seen.push("google code");
                            let code = server.sim().google_code(email, SystemTime::now());
                            flow.submit_code(code.expect("a Google account"))
                        }
                        SignInStep::Code { method: Method::Sms, rejected: None } => {
                            seen.push("sms code");
                            let phone = if email.starts_with("both") { BOTH_PHONE } else { SMS_PHONE };
                            let code = server.sim().last_code_to(phone).map(str::to_owned);
                            flow.submit_code(code.expect("an SMS"))
                        }
                        SignInStep::PasswordResetRequired { rejected: None } => {
                            seen.push("reset required");
                            flow.request_reset_code()
                        }
                        SignInStep::ResetCode { rejected: None } => {
                            seen.push("reset code");
                            let code = server.sim().last_code_to(email).map(str::to_owned);
                            password = NEW_PASSWORD.to_owned();
                            flow.reset_password(code.expect("an email"), NEW_PASSWORD)
                        }
                        SignInStep::PasswordChanged => {
                            seen.push("password changed");
                            flow.start()
                        }
                        SignInStep::Done(tokens) => {
                            seen.push("done");
                            return (seen, tokens);
                        }
                        other => panic!("{email}: unexpected step {other:?}"),
                    }
                    .unwrap();
                }
            }

            pub $($async_)* fn sign_up_then_sign_in(http: &$client, server: &Running, email: &str) -> TokenPair {
                let endpoint = Endpoint::new(&server.base_uri()).unwrap();
                let mut flow = SignUp::new(endpoint);
                let request = flow.start("https://host.name/register/{registration}/{code}", Some("ref-1")).unwrap();
                let response = http.send(request) $($await_)* .expect("an answer");
                let step = flow.handle_response(&response, SystemTime::now()).unwrap();
                assert!(matches!(step, SignUpStep::Form { rejected: None, .. }), "{step:?}");
                let form = SignUpForm::new(email, PASSWORD, PASSWORD, fingerprint())
                    .with_given_name("John")
                    .with_family_name("Brown")
                    .with_country_code("16");
                let response = http.send(flow.submit(form).unwrap()) $($await_)* .expect("an answer");
                let step = flow.handle_response(&response, SystemTime::now()).unwrap();
                assert_eq!(step, SignUpStep::SignInRequired);
                let (seen, tokens) = client_sign_in(http, server, email, PASSWORD, None) $($await_)*;
                assert_eq!(seen, ["credentials", "done"]);
                tokens
            }

            pub $($async_)* fn staff_sign_in(http: &$client, server: &Running) -> TokenPair {
                let endpoint = Endpoint::new(&server.base_uri()).unwrap();
                let mut flow = StaffSignIn::new(endpoint);
                let request = flow.sign_in("staff@example.com", PASSWORD, SystemTime::now()).unwrap();
                let response = http.send(request) $($await_)* .expect("an answer");
                let step = flow.handle_response(&response, SystemTime::now()).unwrap();
                let StaffStep::EmailCode { provider, rejected: None, .. } = step else {
                    panic!("expected an email code, got {step:?}");
                };
                assert_eq!(provider, "email");
                let code = server.sim().last_code_to("staff@example.com").unwrap().to_owned();
                let request = flow.submit_code(code, SystemTime::now()).unwrap();
                let response = http.send(request) $($await_)* .expect("an answer");
                match flow.handle_response(&response, SystemTime::now()).unwrap() {
                    StaffStep::Done(tokens) => tokens,
                    other => panic!("expected tokens, got {other:?}"),
                }
            }

            /// Refresh (the old pair is revoked), sign out, and sign out again with a copy
            /// holding the revoked token (the server's 401).
            pub $($async_)* fn refresh_and_sign_out(http: &$client, server: &Running, mut session: Session) {
                let old = session.tokens().unwrap().clone();
                let response = http.send(session.refresh(SystemTime::now()).unwrap()) $($await_)* .expect("an answer");
                assert_eq!(session.handle_response(&response, SystemTime::now()).unwrap(), SessionStep::Active);
                let new = session.tokens().unwrap().clone();
                assert_ne!(new.access().secret().expose(), old.access().secret().expose());
                assert!(server.sim().is_revoked(old.refresh().secret().expose()));
                assert!(!server.sim().is_revoked(new.refresh().secret().expose()));

                let mut copy = session.clone();
                let response = http.send(session.sign_out().unwrap()) $($await_)* .expect("an answer");
                assert_eq!(
                    session.handle_response(&response, SystemTime::now()).unwrap(),
                    SessionStep::SignedOut { already_revoked: false }
                );
                assert!(server.sim().is_revoked(new.access().secret().expose()));
                let response = http.send(copy.sign_out().unwrap()) $($await_)* .expect("an answer");
                assert_eq!(response.status(), 401);
                assert_eq!(
                    copy.handle_response(&response, SystemTime::now()).unwrap(),
                    SessionStep::SignedOut { already_revoked: true }
                );
            }

            pub $($async_)* fn every_flow(http: &$client) {
                let server = serve();
                let endpoint = Endpoint::new(&server.base_uri()).unwrap();

                let (seen, _) = client_sign_in(http, &server, "plain@example.com", PASSWORD, None) $($await_)*;
                assert_eq!(seen, ["credentials", "done"]);
                let (seen, google) = client_sign_in(http, &server, "google@example.com", PASSWORD, None) $($await_)*;
                assert_eq!(seen, ["credentials", "google code", "done"]);
                let (seen, _) = client_sign_in(http, &server, "sms@example.com", PASSWORD, None) $($await_)*;
                assert_eq!(seen, ["credentials", "sms code", "done"]);
                let (seen, _) = client_sign_in(http, &server, "both@example.com", PASSWORD, Some(Method::Sms)) $($await_)*;
                assert_eq!(seen, ["credentials", "choose method", "sms code", "done"]);
                let (seen, _) = client_sign_in(http, &server, "reset@example.com", PASSWORD, None) $($await_)*;
                assert_eq!(
                    seen,
                    ["credentials", "reset required", "reset code", "password changed", "credentials", "done"]
                );
                let _ = sign_up_then_sign_in(http, &server, "new@example.com") $($await_)*;
                let staff = staff_sign_in(http, &server) $($await_)*;

                refresh_and_sign_out(http, &server, Session::client(endpoint.clone(), google)) $($await_)*;
                refresh_and_sign_out(http, &server, Session::back_office(endpoint, staff)) $($await_)*;

                assert_eq!(server.sim().violations(), []);
                // Every exchange above was a real request over the loopback socket.
                assert_eq!(server.sim().outbox().len(), 4); // 2 SMS, 1 reset email, 1 staff email
            }
        }
    };
}

flows!(blocking, blocking_http::Client, [], []);
flows!(nonblocking, async_http::Client, [async], [.await]);

#[test]
fn blocking_client_drives_every_flow() {
    blocking::every_flow(&blocking_http::Client::new());
}

#[test]
fn async_client_drives_every_flow() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = async_http::Client::new().unwrap();
    runtime.block_on(nonblocking::every_flow(&http));
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
        flow.start().unwrap()
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
    assert!(
        path.exists(),
        "{} is missing: run `cargo test` (which builds the examples) or `cargo build --examples --all-features`",
        path.display()
    );
    path
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
        Self {
            server: serve(),
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
        for var in SECRET_VARS {
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
    // The host's limit: the 6th attempt in a minute is answered 429.
    for _ in 0..5 {
        let run = cli.run(
            &["client-signin", "--email", "nobody@example.com"],
            &pw(),
            vec![],
        );
        run.fails(1, "sign-in refused: HTTP 400");
    }
    let run = cli.run(
        &["client-signin", "--email", "nobody@example.com"],
        &pw(),
        vec![],
    );
    run.fails(1, "rate limited by the host until 20");
    assert!(run.stderr.contains("POST /api/v2/my/signin -> 429"));

    // Usage errors: exit 2, nothing sent.
    let sent = |cli: &Cli| cli.server.sim().outbox().len();
    let before = sent(&cli);
    cli.run(&["client-signin"], &pw(), vec![])
        .fails(2, "client-signin needs --email");
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
    .fails(2, "unknown 2FA method `fax`");
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
    .fails(2, "client-signin does not take --password");
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
    .fails(2, "client-signup needs --family-name");
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
    // No 2FA.
    cli.run(
        &["bo-signin", "--email", "staff-no2fa@example.com"],
        &pw(),
        vec![],
    )
    .tokens();
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
    .fails(2, "bo-signin does not take --method");
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
        // From stdin this time.
        let third = cli
            .run(
                &[&refresh],
                &[],
                vec![line(second.refresh().secret().expose())],
            )
            .tokens();

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
            .fails(2, &format!("{signout} does not take --email"));
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
    // No --host, a bad one, no command, an unknown one, a flag without a value.
    let out = Command::new(example("b2core"))
        .args(["client-refresh"])
        .env("B2CORE_REFRESH_TOKEN", "a.b.c")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "b2core: --host URL is required (see b2core --help)\n"
    );
    cli.run_on("ftp://host.name", &["client-refresh"], &[], vec![])
        .fails(
            2,
            "--host ftp://host.name: invalid base URI: scheme must be http or https",
        );
    cli.run(&[], &[], vec![]).fails(2, "no command given");
    cli.run(&["client-login"], &[], vec![])
        .fails(2, "unknown command `client-login`");
    cli.run(&["client-signin", "--email"], &[], vec![])
        .fails(2, "--email needs a value");
    cli.run(
        &["client-signin", "--email=plain@example.com", "extra"],
        &[],
        vec![],
    )
    .fails(2, "unexpected argument `extra`");
    // --help: the usage on stdout, exit 0.
    let run = cli.run(&["--help"], &[], vec![]);
    assert_eq!(run.code, 0);
    assert!(run
        .stdout
        .starts_with("usage: b2core --host URL COMMAND [OPTIONS]"));

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

#[test]
fn async_example_signs_in_against_its_own_simulator() {
    let out = Command::new(example("async_tokio")).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("POST /api/v2/my/2fa/sms -> 202"),
        "{stderr}"
    );
    assert!(
        stderr.ends_with("the simulator recorded no protocol violation\n"),
        "{stderr}"
    );
}
