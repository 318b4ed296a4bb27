//! The walkthrough: every flow of the crate, end to end, against the built-in simulator —
//! in-process, no network, a virtual clock. It prints a transcript a newcomer can follow
//! (each request line, the status, the step reached; secrets redacted), then runs the same
//! flows again against the simulator in every dialect of `sim::Dialect::ALL` (each reading
//! of the vendor's pages a real host may have), one short line per dialect with the
//! deviations the flows recorded. It exits 0 only if every flow ended as the vendor's pages
//! document in every dialect, the simulator saw no protocol violation, and the deviations
//! recorded are exactly those the dialect implies (none for `pages`; the rule is in
//! `support/dialects.rs`).
//!
//! Every call gets the virtual clock's `now`. A rate limit is waited out one way, whether
//! the crate's own attempt limit held a call (`Outgoing::RetryAt(t)`, nothing sent) or the
//! host answered 429 (a `RetryAt(t)` step): the clock moves on to `t` and `retry(now)`
//! sends the held request. A program on the wall clock sleeps until `t` instead (see
//! `examples/b2core.rs` and `examples/async_tokio.rs`).
//!
//! Run it with `cargo run --features sim --example walkthrough`.

#[path = "support/dialects.rs"]
mod dialects;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use b2core_auth::backoffice::{StaffSignIn, StaffState, StaffStep};
use b2core_auth::client::{
    Credentials, Method, SignIn, SignInStep, SignUp, SignUpForm, SignUpStep,
};
use b2core_auth::sim::{ClientAccount, Dialect, Server, SimConfig, StaffAccount};
use b2core_auth::{
    Authorized, Deviation, DeviceFingerprint, Endpoint, Error, Flow, Outgoing, Session,
    SessionStep, TokenPair,
};

const PASSWORD: &str = "QAzqw123!";
const SMS_PHONE: &str = "+15550000001";
const BOTH_PHONE: &str = "+15550000002";
const USER_AGENT: &str =
    "Mozilla/5.0 (Windows NT 6.1; Win64; x64; rv:47.0) Gecko/20100101 Firefox/47.0";
/// The block the client sign-in page documents after 5 attempts in a minute.
const SIGNIN_BLOCK: Duration = Duration::from_secs(10 * 60);

/// One request and its answer, with the deviations the flow recorded reading it.
struct Exchange {
    request: String,
    status: u16,
    deviations: Vec<Deviation>,
}

/// The simulator, a virtual clock and the transcript printer.
struct World {
    server: Server,
    endpoint: Endpoint,
    now: SystemTime,
    fingerprint: DeviceFingerprint,
    /// Print the transcript (the tour) or nothing (the dialect runs).
    verbose: bool,
    exchanges: Vec<Exchange>,
}

impl World {
    fn new(dialect: Dialect, verbose: bool) -> Result<Self, Error> {
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
        server.add_client(ClientAccount::new("limited@example.com", PASSWORD));
        server.add_staff(StaffAccount::new("staff@example.com", PASSWORD).with_email_2fa());
        server.add_staff(StaffAccount::new("limited-staff@example.com", PASSWORD).with_email_2fa());
        Ok(Self {
            server,
            endpoint: Endpoint::new("https://host.name")?,
            now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_713_784_044), // 2024-04-22T11:07:24Z
            fingerprint: DeviceFingerprint::from_user_agent(USER_AGENT)?,
            verbose,
            exchanges: Vec::new(),
        })
    }

    /// A line of the transcript (only in the tour).
    fn say(&self, text: impl std::fmt::Display) {
        if self.verbose {
            println!("{text}");
        }
    }

    /// Sends what a call of `flow` returned to the simulator and prints the exchange. When
    /// the call (or a retry) was held by a rate limit (`Outgoing::RetryAt(t)`, nothing
    /// sent), the clock moves on to `t` first and `retry` sends the request the flow held.
    fn send<F: Flow>(
        &mut self,
        flow: &mut F,
        mut outgoing: Outgoing,
    ) -> Result<http::Response<Vec<u8>>, Error> {
        let request = loop {
            match outgoing {
                Outgoing::Request(request) => break request,
                Outgoing::RetryAt(at) => {
                    self.say(format!(
                        "      held, nothing sent: {} until {}",
                        flow.state(),
                        rfc3339(at)
                    ));
                    self.wait_until(at);
                    outgoing = flow.retry(self.now)?;
                }
            }
        };
        let response = self.server.handle(&request, self.now);
        let line = format!("{} {}", request.method(), request.uri().path());
        self.say(format!("    {line} -> {}", response.status().as_u16()));
        self.exchanges.push(Exchange {
            request: line,
            status: response.status().as_u16(),
            deviations: Vec::new(),
        });
        Ok(response)
    }

    /// Keeps the deviations a flow recorded reading the last answer (and shows them).
    fn read(&mut self, deviations: Vec<Deviation>) {
        for deviation in &deviations {
            self.say(format!("      deviation: {deviation}"));
        }
        if let Some(last) = self.exchanges.last_mut() {
            last.deviations.extend(deviations);
        }
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.say(format!("    (the clock moves on by {} s)", by.as_secs()));
    }

    /// Moves the virtual clock on to `at` (where a program on the wall clock sleeps).
    fn wait_until(&mut self, at: SystemTime) {
        let wait = at.duration_since(self.now).unwrap_or_default();
        self.advance(wait);
    }

    fn credentials(&self, email: &str, password: &str) -> Credentials {
        Credentials::new(email, password, self.fingerprint.clone())
    }

    /// Drives a client sign-in to its end, answering each step as `answer` says.
    fn sign_in(
        &mut self,
        email: &str,
        password: &str,
        mut pick: impl FnMut(&mut Self, &SignInStep) -> Answer,
    ) -> Result<Outcome, Error> {
        let mut flow = SignIn::new(self.endpoint.clone());
        let mut outgoing = flow.start(self.now)?;
        loop {
            let response = self.send(&mut flow, outgoing)?;
            let step = flow.handle_response(&response, self.now)?;
            self.read(flow.take_deviations());
            self.say(format!("      step: {}", describe(&step)));
            outgoing = match (&step, pick(self, &step)) {
                (SignInStep::Done(tokens), _) => return Ok(Outcome::SignedIn(tokens.clone())),
                (SignInStep::PasswordChanged, Answer::Stop) => return Ok(Outcome::PasswordChanged),
                (_, Answer::Stop) => return Ok(Outcome::Stopped(describe(&step))),
                (SignInStep::Credentials { .. }, Answer::Default) => {
                    flow.submit_credentials(self.credentials(email, password), self.now)?
                }
                (SignInStep::ChooseMethod { .. }, Answer::Method(m)) => {
                    flow.choose_method(m, self.now)?
                }
                (SignInStep::Code { .. }, Answer::Code(code)) => {
                    flow.submit_code(code, self.now)?
                }
                (SignInStep::PasswordResetRequired { .. }, _) => {
                    flow.request_reset_code(self.now)?
                }
                (SignInStep::ResetCode { .. }, Answer::Reset(code, new)) => {
                    flow.reset_password(code, new, self.now)?
                }
                // The host's 429: the flow holds the request until `at`.
                (SignInStep::RetryAt(at), Answer::Wait) => {
                    self.wait_until(*at);
                    flow.retry(self.now)?
                }
                _ => return Ok(Outcome::Stopped(describe(&step))),
            };
        }
    }
}

/// How a scenario answers a step.
enum Answer {
    Default,
    Method(Method),
    Code(String),
    Reset(String, String),
    /// Wait until the time of a `RetryAt`, then send again.
    Wait,
    Stop,
}

/// How a client sign-in ended.
enum Outcome {
    SignedIn(TokenPair),
    PasswordChanged,
    Stopped(String),
}

impl Outcome {
    /// True when signed in; says where the flow stopped otherwise.
    fn signed_in(&self, w: &World) -> bool {
        if let Self::Stopped(step) = self {
            w.say(format!("    stopped at: {step}"));
        }
        matches!(self, Self::SignedIn(_))
    }
}

/// A step in words, with no secret in it.
fn describe(step: &SignInStep) -> String {
    match step {
        SignInStep::Done(tokens) => format!(
            "Done (access token valid until {})",
            b2core_auth::format_rfc3339(tokens.access().expires_at()).unwrap_or_default()
        ),
        SignInStep::RetryAt(at) => format!(
            "RetryAt({})",
            b2core_auth::format_rfc3339(*at).unwrap_or_default()
        ),
        other => format!("{other:?}"),
    }
}

fn rfc3339(t: SystemTime) -> String {
    b2core_auth::format_rfc3339(t).unwrap_or_default()
}

fn google(world: &mut World, email: &str) -> Answer {
    Answer::Code(
        world
            .server
            .google_code(email, world.now)
            .unwrap_or_default(),
    )
}

fn sms(world: &mut World, phone: &str) -> Answer {
    Answer::Code(
        world
            .server
            .last_code_to(phone)
            .unwrap_or_default()
            .to_owned(),
    )
}

/// One scenario: its title, and whether it ended as documented.
fn scenario(
    verbose: bool,
    title: &str,
    results: &mut Vec<(String, bool)>,
    run: impl FnOnce() -> Result<bool, Error>,
) {
    if verbose {
        println!("\n== {title}");
    }
    let ok = match run() {
        Ok(ok) => ok,
        Err(e) => {
            println!("    {title}: error: {e}");
            false
        }
    };
    if verbose {
        println!(
            "   {}",
            if ok {
                "ok: ended as documented"
            } else {
                "FAILED"
            }
        );
    }
    results.push((title.to_owned(), ok));
}

/// Every scenario, in order; their titles and whether each ended as documented.
fn run_scenarios(w: &mut World) -> Vec<(String, bool)> {
    let mut results = Vec::new();
    let verbose = w.verbose;

    scenario(verbose, "Client sign-in without 2FA", &mut results, || {
        let outcome = w.sign_in("plain@example.com", PASSWORD, |_, _| Answer::Default)?;
        Ok(outcome.signed_in(w))
    });
    scenario(
        verbose,
        "Client sign-in with Google Authenticator",
        &mut results,
        || {
            let outcome = w.sign_in("google@example.com", PASSWORD, |w, step| match step {
                SignInStep::Code {
                    method: Method::Google,
                    ..
                } => google(w, "google@example.com"),
                SignInStep::Credentials { .. } => Answer::Default,
                _ => Answer::Stop,
            })?;
            Ok(outcome.signed_in(w))
        },
    );
    scenario(
        verbose,
        "Client sign-in with an SMS code",
        &mut results,
        || {
            let outcome = w.sign_in("sms@example.com", PASSWORD, |w, step| match step {
                SignInStep::Code {
                    method: Method::Sms,
                    ..
                } => sms(w, SMS_PHONE),
                SignInStep::Credentials { .. } => Answer::Default,
                _ => Answer::Stop,
            })?;
            Ok(outcome.signed_in(w))
        },
    );
    scenario(
        verbose,
        "Client sign-in with both methods on, choosing SMS",
        &mut results,
        || {
            let outcome = w.sign_in("both@example.com", PASSWORD, |w, step| match step {
                SignInStep::ChooseMethod { methods, .. } if methods.contains(&Method::Sms) => {
                    Answer::Method(Method::Sms)
                }
                SignInStep::Code {
                    method: Method::Sms,
                    ..
                } => sms(w, BOTH_PHONE),
                SignInStep::Credentials { .. } => Answer::Default,
                _ => Answer::Stop,
            })?;
            Ok(outcome.signed_in(w))
        },
    );
    scenario(
        verbose,
        "Client sign-in: a wrong Google code, then the right one",
        &mut results,
        || {
            let mut tries = 0;
            let outcome = w.sign_in("google@example.com", PASSWORD, |w, step| match step {
                SignInStep::Code { rejected: None, .. } if tries == 0 => {
                    tries += 1;
                    Answer::Code("000000".into())
                }
                SignInStep::Code {
                    rejected: Some(_), ..
                } => google(w, "google@example.com"),
                SignInStep::Credentials { .. } => Answer::Default,
                _ => Answer::Stop,
            })?;
            Ok(tries == 1 && outcome.signed_in(w))
        },
    );
    scenario(
        verbose,
        "Client sign-in with a forced password reset",
        &mut results,
        || {
            let new_password = "N3w-Passw0rd!";
            let outcome = w.sign_in("reset@example.com", PASSWORD, |w, step| match step {
                SignInStep::Credentials { .. } => Answer::Default,
                SignInStep::PasswordResetRequired { .. } => Answer::Default,
                SignInStep::ResetCode { .. } => {
                    let code = w
                        .server
                        .last_code_to("reset@example.com")
                        .unwrap_or_default()
                        .to_owned();
                    Answer::Reset(code, new_password.into())
                }
                _ => Answer::Stop,
            })?;
            if !matches!(outcome, Outcome::PasswordChanged) {
                return Ok(false);
            }
            w.say("    signing in again with the new password");
            let outcome = w.sign_in("reset@example.com", new_password, |_, _| Answer::Default)?;
            Ok(outcome.signed_in(w))
        },
    );
    scenario(
        verbose,
        "Client sign-in rate limited by the host (5 attempts a minute), signed in after the wait",
        &mut results,
        || {
            // Five wrong passwords, each from a new flow (one flow would hold the sixth
            // attempt itself and send nothing: the next scenario shows that). Not shown
            // request by request.
            let verbose = std::mem::replace(&mut w.verbose, false);
            for _ in 0..5 {
                let outcome =
                    w.sign_in(
                        "limited@example.com",
                        "wrong-password",
                        |_, step| match step {
                            SignInStep::Credentials { rejected: None, .. } => Answer::Default,
                            _ => Answer::Stop,
                        },
                    )?;
                let refused = w.exchanges.last().map(|e| e.status) == Some(400);
                if matches!(outcome, Outcome::SignedIn(_)) || !refused {
                    w.verbose = verbose;
                    return Ok(false);
                }
            }
            w.verbose = verbose;
            w.say("    (five sign-ins with a wrong password, each a wizard and an HTTP 400)");
            w.say("    a sixth, with the right password:");
            let mut waited = None;
            let outcome = w.sign_in("limited@example.com", PASSWORD, |w, step| match step {
                SignInStep::Credentials { rejected: None, .. } => Answer::Default,
                SignInStep::RetryAt(at) => {
                    waited = at.duration_since(w.now).ok();
                    Answer::Wait
                }
                _ => Answer::Stop,
            })?;
            // Whatever form `Retry-After` takes, it means the documented 10-minute block.
            if waited != Some(SIGNIN_BLOCK) {
                w.say(format!("    told to wait {waited:?}, not {SIGNIN_BLOCK:?}"));
                return Ok(false);
            }
            Ok(outcome.signed_in(w))
        },
    );
    scenario(
        verbose,
        "Back Office sign-in held by the crate's own limit (5 a minute), sent after the wait",
        &mut results,
        || staff_held_by_the_guard(w),
    );
    scenario(
        verbose,
        "Client sign-up, then sign-in with the same credentials",
        &mut results,
        || {
            let mut flow = SignUp::new(w.endpoint.clone());
            let outgoing = flow.start(
                "https://host.name/register/{registration}/{code}",
                Some("29734fc149dc93809d18f49ae970810a"),
                w.now,
            )?;
            let response = w.send(&mut flow, outgoing)?;
            let step = flow.handle_response(&response, w.now)?;
            w.read(flow.take_deviations());
            w.say(format!("      step: {step:?}"));
            let form =
                SignUpForm::new("new@example.com", PASSWORD, PASSWORD, w.fingerprint.clone())
                    .with_given_name("John")
                    .with_family_name("Brown")
                    .with_country_code("16");
            let outgoing = flow.submit(form, w.now)?;
            let response = w.send(&mut flow, outgoing)?;
            let step = flow.handle_response(&response, w.now)?;
            w.read(flow.take_deviations());
            w.say(format!("      step: {step:?}"));
            match step {
                SignUpStep::Done(_) => Ok(true),
                SignUpStep::SignInRequired => {
                    let outcome = w.sign_in("new@example.com", PASSWORD, |_, _| Answer::Default)?;
                    Ok(outcome.signed_in(w))
                }
                _ => Ok(false),
            }
        },
    );
    scenario(
        verbose,
        "Back Office staff sign-in with email 2FA",
        &mut results,
        || Ok(staff_sign_in(w)?.is_some()),
    );
    scenario(
        verbose,
        "Client session: refresh, sign-out",
        &mut results,
        || {
            let outcome = w.sign_in("plain@example.com", PASSWORD, |_, _| Answer::Default)?;
            let Outcome::SignedIn(tokens) = outcome else {
                return Ok(false);
            };
            let mut session = Session::client(w.endpoint.clone(), tokens);
            let outgoing = session.refresh(w.now)?;
            let response = w.send(&mut session, outgoing)?;
            let refreshed = session.handle_response(&response, w.now)? == SessionStep::Active;
            w.read(session.take_deviations());
            w.say("      refreshed");
            let outgoing = session.sign_out(w.now)?;
            let response = w.send(&mut session, outgoing)?;
            let signed_out = session.handle_response(&response, w.now)?
                == SessionStep::SignedOut {
                    already_revoked: false,
                };
            w.read(session.take_deviations());
            w.say("      signed out");
            Ok(refreshed && signed_out)
        },
    );
    scenario(
        verbose,
        "Back Office session: authorize, proactive refresh, sign-out, and the 401 after it",
        &mut results,
        || {
            let Some(tokens) = staff_sign_in(w)? else {
                return Ok(false);
            };
            let mut session = Session::back_office(w.endpoint.clone(), tokens);
            // Any request of the caller's own (the simulator serves only the auth endpoints).
            let call = || {
                let mut request = http::Request::new(Vec::<u8>::new());
                *request.uri_mut() = http::Uri::from_static("https://host.name/api/v2/accounts");
                request
            };
            let authorized = matches!(session.authorize(call(), w.now)?, Authorized::Ready(_));
            w.say("      a fresh token: the request is authorized");
            w.advance(Duration::from_secs(14 * 60 + 45)); // inside the 30 s leeway of the 15 min token
            let Authorized::RefreshFirst { refresh, original } =
                session.authorize(call(), w.now)?
            else {
                return Ok(false);
            };
            w.say("      the token is about to expire: refresh first");
            let response = w.send(&mut session, Outgoing::Request(refresh))?;
            let refreshed = matches!(
                session.handle_response(&response, w.now)?,
                SessionStep::Active
            );
            w.read(session.take_deviations());
            let authorized_again =
                matches!(session.authorize(original, w.now)?, Authorized::Ready(_));
            w.say("      refreshed; the original request is authorized with the new token");
            let parked_copy = session.clone();
            let outgoing = session.sign_out(w.now)?;
            let response = w.send(&mut session, outgoing)?;
            let signed_out = matches!(
                session.handle_response(&response, w.now)?,
                SessionStep::SignedOut {
                    already_revoked: false
                }
            );
            w.read(session.take_deviations());
            w.say("      signed out; a copy of the session still holds the revoked token");
            let mut stale = parked_copy;
            let outgoing = stale.sign_out(w.now)?;
            let response = w.send(&mut stale, outgoing)?;
            let revoked = matches!(
                stale.handle_response(&response, w.now)?,
                SessionStep::SignedOut {
                    already_revoked: true
                }
            );
            w.read(stale.take_deviations());
            w.say("      the server answers 401 for the revoked token: reported as already signed out");
            let refuses = matches!(session.authorize(call(), w.now), Err(Error::SessionEnded));
            Ok(authorized && refreshed && authorized_again && signed_out && revoked && refuses)
        },
    );
    results
}

fn staff_sign_in(w: &mut World) -> Result<Option<TokenPair>, Error> {
    let mut flow = StaffSignIn::new(w.endpoint.clone());
    let outgoing = flow.sign_in("staff@example.com", PASSWORD, w.now)?;
    let response = w.send(&mut flow, outgoing)?;
    let step = flow.handle_response(&response, w.now)?;
    w.read(flow.take_deviations());
    w.say(format!("      step: {step:?}"));
    let StaffStep::EmailCode { .. } = step else {
        return Ok(None);
    };
    let code = w
        .server
        .last_code_to("staff@example.com")
        .unwrap_or_default()
        .to_owned();
    let outgoing = flow.submit_code(code, w.now)?;
    let response = w.send(&mut flow, outgoing)?;
    let step = flow.handle_response(&response, w.now)?;
    w.read(flow.take_deviations());
    match step {
        StaffStep::Done(tokens) => {
            w.say("      step: Done");
            Ok(Some(tokens))
        }
        other => {
            w.say(format!("      step: {other:?}"));
            Ok(None)
        }
    }
}

/// Five wrong passwords in one staff flow, then the right one: the crate's own attempt
/// limit holds the sixth sign-in (`Outgoing::RetryAt`, nothing sent) exactly as a 429
/// would, until the minute is over; then `retry` sends it and the sign-in goes on.
fn staff_held_by_the_guard(w: &mut World) -> Result<bool, Error> {
    const EMAIL: &str = "limited-staff@example.com";
    let mut flow = StaffSignIn::new(w.endpoint.clone());
    let verbose = std::mem::replace(&mut w.verbose, false);
    for _ in 0..5 {
        let outgoing = flow.sign_in(EMAIL, "wrong-password", w.now)?;
        let response = w.send(&mut flow, outgoing)?;
        let step = flow.handle_response(&response, w.now)?;
        w.read(flow.take_deviations());
        if !matches!(
            step,
            StaffStep::Credentials {
                rejected: Some(_),
                ..
            }
        ) {
            w.verbose = verbose;
            return Ok(false);
        }
    }
    w.verbose = verbose;
    w.say("    (five sign-ins with a wrong password in one flow, each an HTTP 400)");
    w.say("    a sixth, with the right password:");
    let outgoing = flow.sign_in(EMAIL, PASSWORD, w.now)?;
    let Outgoing::RetryAt(until) = outgoing else {
        w.say("    the sixth attempt was sent");
        return Ok(false);
    };
    // Held as after a 429: the state, the step and the deadline all say so.
    let held = flow.state() == StaffState::RateLimited
        && flow.current_step() == Some(StaffStep::RetryAt(until))
        && flow.next_deadline() == Some(until)
        && until == w.now + Duration::from_secs(60);
    // Too early: still held, nothing changes.
    let early = flow.retry(w.now)?.retry_at() == Some(until);
    let response = w.send(&mut flow, outgoing)?;
    let step = flow.handle_response(&response, w.now)?;
    w.read(flow.take_deviations());
    w.say(format!("      step: {step:?}"));
    let StaffStep::EmailCode { .. } = step else {
        return Ok(false);
    };
    let code = w.server.last_code_to(EMAIL).unwrap_or_default().to_owned();
    let outgoing = flow.submit_code(code, w.now)?;
    let response = w.send(&mut flow, outgoing)?;
    let step = flow.handle_response(&response, w.now)?;
    w.read(flow.take_deviations());
    let signed_in = matches!(step, StaffStep::Done(_));
    w.say(format!(
        "      step: {}",
        if signed_in { "Done" } else { "not Done" }
    ));
    Ok(held && early && signed_in)
}

fn main() -> ExitCode {
    let mut tour = match World::new(Dialect::default(), true) {
        Ok(world) => world,
        Err(e) => {
            eprintln!("walkthrough: cannot set up: {e}");
            return ExitCode::FAILURE;
        }
    };
    let results = run_scenarios(&mut tour);
    let mut ok = true;

    let violations = tour.server.violations();
    println!(
        "\n== Protocol violations recorded by the simulator: {}",
        violations.len()
    );
    for v in violations {
        println!("    {} : {}", v.request, v.reason);
    }
    let failed: Vec<_> = results
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(t, _)| t.as_str())
        .collect();
    println!(
        "\n{} of {} flows ended as documented.",
        results.len() - failed.len(),
        results.len()
    );
    for title in &failed {
        println!("FAILED: {title}");
    }
    ok &= failed.is_empty() && violations.is_empty();

    println!(
        "\n== The same flows against the simulator in every dialect ({} requests each)",
        tour.exchanges.len()
    );
    for (name, dialect) in Dialect::ALL {
        ok &= run_dialect(name, *dialect, &tour.exchanges);
    }

    if ok {
        ExitCode::SUCCESS
    } else {
        println!("FAILED");
        ExitCode::FAILURE
    }
}

/// Runs every scenario in `dialect`, quietly, and prints one line: the deviations the
/// flows recorded, and whether they are exactly what the dialect implies. `baseline`
/// is the tour's run (the `pages` dialect).
fn run_dialect(name: &str, dialect: Dialect, baseline: &[Exchange]) -> bool {
    let mut world = match World::new(dialect, false) {
        Ok(world) => world,
        Err(e) => {
            println!("  {name}: cannot set up: {e}");
            return false;
        }
    };
    let results = run_scenarios(&mut world);
    let mut problems: Vec<String> = results
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(title, _)| format!("failed: {title}"))
        .collect();
    problems.extend(
        world
            .server
            .violations()
            .iter()
            .map(|v| format!("violation: {} : {}", v.request, v.reason)),
    );
    if world.exchanges.len() != baseline.len() {
        problems.push(format!(
            "{} requests, not {} as in `pages`",
            world.exchanges.len(),
            baseline.len()
        ));
    }
    for (exchange, base) in world.exchanges.iter().zip(baseline) {
        if exchange.request != base.request {
            problems.push(format!(
                "sent {}, where `pages` sent {}",
                exchange.request, base.request
            ));
            break;
        }
        let implied = dialects::implied(name, &exchange.request, base.status, exchange.status);
        let recorded: Vec<(&str, &str)> = exchange
            .deviations
            .iter()
            .map(|d| (d.field(), d.found()))
            .collect();
        let implied: Vec<(&str, &str)> = implied.iter().map(|(f, s)| (*f, s.as_str())).collect();
        if recorded != implied {
            problems.push(format!(
                "{} -> {}: recorded [{}], the dialect implies [{}]",
                exchange.request,
                exchange.status,
                dialects::cell(&recorded),
                dialects::cell(&implied)
            ));
        }
        if let Some(d) = exchange
            .deviations
            .iter()
            .find(|d| d.step() != exchange.request)
        {
            problems.push(format!(
                "a deviation names {}, not {}",
                d.step(),
                exchange.request
            ));
        }
    }

    // The deviations by field, then by request (paths after `/api/v2/`), counted.
    let mut counted: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for d in world.exchanges.iter().flat_map(|e| &e.deviations) {
        *counted
            .entry(d.field())
            .or_default()
            .entry(d.step())
            .or_default() += 1;
    }
    let total: usize = counted.values().flat_map(|steps| steps.values()).sum();
    let summary = if total == 0 {
        "no deviation".to_owned()
    } else {
        let fields: Vec<String> = counted
            .iter()
            .map(|(field, steps)| {
                let steps: Vec<String> = steps
                    .iter()
                    .map(|(step, n)| {
                        let short = step.replacen("/api/v2/", "", 1);
                        if *n == 1 {
                            short
                        } else {
                            format!("{short} ×{n}")
                        }
                    })
                    .collect();
                format!("{field}: {}", steps.join(", "))
            })
            .collect();
        format!("{total:>2} deviations: {}", fields.join("; "))
    };
    let verdict = if problems.is_empty() { "ok" } else { "FAILED" };
    println!("  {name:<27} {verdict:<6} {summary}");
    for problem in &problems {
        println!("      {problem}");
    }
    problems.is_empty()
}
