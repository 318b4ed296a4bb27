//! The walkthrough: every flow of the crate, end to end, against the built-in simulator —
//! in-process, no network, a virtual clock. It prints a transcript a newcomer can follow
//! (each request line, the status, the step reached; secrets redacted) and exits 0 only if
//! every flow ended as the vendor's pages document.
//!
//! Run it with `cargo run --example walkthrough`.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use b2core_auth::backoffice::{StaffSignIn, StaffStep};
use b2core_auth::client::{
    Credentials, Method, SignIn, SignInStep, SignUp, SignUpForm, SignUpStep,
};
use b2core_auth::sim::{ClientAccount, Server, SimConfig, StaffAccount};
use b2core_auth::{
    Authorized, DeviceFingerprint, Endpoint, Error, Session, SessionStep, TokenPair,
};

const PASSWORD: &str = "QAzqw123!";
const SMS_PHONE: &str = "+15550000001";
const BOTH_PHONE: &str = "+15550000002";
const USER_AGENT: &str =
    "Mozilla/5.0 (Windows NT 6.1; Win64; x64; rv:47.0) Gecko/20100101 Firefox/47.0";

/// The simulator, a virtual clock and the transcript printer.
struct World {
    server: Server,
    endpoint: Endpoint,
    now: SystemTime,
    fingerprint: DeviceFingerprint,
}

impl World {
    fn new() -> Result<Self, Error> {
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
        Ok(Self {
            server,
            endpoint: Endpoint::new("https://host.name")?,
            now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_713_784_044), // 2024-04-22T11:07:24Z
            fingerprint: DeviceFingerprint::from_user_agent(USER_AGENT)?,
        })
    }

    /// Sends a request to the simulator and prints the exchange.
    fn send(&mut self, request: http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        let response = self.server.handle(&request, self.now);
        println!(
            "    {} {} -> {}",
            request.method(),
            request.uri().path(),
            response.status().as_u16()
        );
        response
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        println!("    (the clock moves on by {} s)", by.as_secs());
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
        let mut request = flow.start()?;
        loop {
            let response = self.send(request);
            let step = flow.handle_response(&response, self.now)?;
            println!("      step: {}", describe(&step));
            request = match (&step, pick(self, &step)) {
                (SignInStep::Done(_), _) => return Ok(Outcome::SignedIn),
                (SignInStep::PasswordChanged, Answer::Stop) => return Ok(Outcome::PasswordChanged),
                (_, Answer::Stop) => return Ok(Outcome::Stopped(describe(&step))),
                (SignInStep::Credentials { .. }, Answer::Default) => {
                    flow.submit_credentials(self.credentials(email, password), self.now)?
                }
                (SignInStep::ChooseMethod { .. }, Answer::Method(m)) => flow.choose_method(m)?,
                (SignInStep::Code { .. }, Answer::Code(code)) => flow.submit_code(code)?,
                (SignInStep::PasswordResetRequired { .. }, _) => flow.request_reset_code()?,
                (SignInStep::ResetCode { .. }, Answer::Reset(code, new)) => {
                    flow.reset_password(code, new)?
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
    Stop,
}

/// How a client sign-in ended.
enum Outcome {
    SignedIn,
    PasswordChanged,
    Stopped(String),
}

impl Outcome {
    /// True when signed in; says where the flow stopped otherwise.
    fn signed_in(&self) -> bool {
        if let Self::Stopped(step) = self {
            println!("    stopped at: {step}");
        }
        matches!(self, Self::SignedIn)
    }
}

/// A step in words, with no secret in it.
fn describe(step: &SignInStep) -> String {
    match step {
        SignInStep::Done(tokens) => format!(
            "Done (access token valid until {})",
            b2core_auth::time::format_rfc3339(tokens.access().expires_at()).unwrap_or_default()
        ),
        other => format!("{other:?}"),
    }
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
    title: &str,
    results: &mut Vec<(String, bool)>,
    run: impl FnOnce() -> Result<bool, Error>,
) {
    println!("\n== {title}");
    let ok = match run() {
        Ok(ok) => ok,
        Err(e) => {
            println!("    error: {e}");
            false
        }
    };
    println!(
        "   {}",
        if ok {
            "ok: ended as documented"
        } else {
            "FAILED"
        }
    );
    results.push((title.to_owned(), ok));
}

fn main() -> ExitCode {
    let mut world = match World::new() {
        Ok(world) => world,
        Err(e) => {
            eprintln!("walkthrough: cannot set up: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut results = Vec::new();
    let w = &mut world;

    scenario("Client sign-in without 2FA", &mut results, || {
        Ok(
            w.sign_in("plain@example.com", PASSWORD, |_, _| Answer::Default)?
                .signed_in(),
        )
    });
    scenario(
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
            Ok(outcome.signed_in())
        },
    );
    scenario("Client sign-in with an SMS code", &mut results, || {
        let outcome = w.sign_in("sms@example.com", PASSWORD, |w, step| match step {
            SignInStep::Code {
                method: Method::Sms,
                ..
            } => sms(w, SMS_PHONE),
            SignInStep::Credentials { .. } => Answer::Default,
            _ => Answer::Stop,
        })?;
        Ok(outcome.signed_in())
    });
    scenario(
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
            Ok(outcome.signed_in())
        },
    );
    scenario(
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
            Ok(tries == 1 && outcome.signed_in())
        },
    );
    scenario(
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
            println!("    signing in again with the new password");
            Ok(
                w.sign_in("reset@example.com", new_password, |_, _| Answer::Default)?
                    .signed_in(),
            )
        },
    );
    scenario(
        "Client sign-up, then sign-in with the same credentials",
        &mut results,
        || {
            let mut flow = SignUp::new(w.endpoint.clone());
            let response = w.send(flow.start(
                "https://host.name/register/{registration}/{code}",
                Some("29734fc149dc93809d18f49ae970810a"),
            )?);
            println!("      step: {:?}", flow.handle_response(&response, w.now)?);
            let form =
                SignUpForm::new("new@example.com", PASSWORD, PASSWORD, w.fingerprint.clone())
                    .with_given_name("John")
                    .with_family_name("Brown")
                    .with_country_code("16");
            let response = w.send(flow.submit(form)?);
            let step = flow.handle_response(&response, w.now)?;
            println!("      step: {step:?}");
            match step {
                SignUpStep::Done(_) => Ok(true),
                SignUpStep::SignInRequired => Ok(w
                    .sign_in("new@example.com", PASSWORD, |_, _| Answer::Default)?
                    .signed_in()),
                _ => Ok(false),
            }
        },
    );
    scenario(
        "Back Office staff sign-in with email 2FA",
        &mut results,
        || Ok(staff_sign_in(w)?.is_some()),
    );
    scenario(
        "Session: authorize, proactive refresh, sign-out, and the 401 after it",
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
            println!("      a fresh token: the request is authorized");
            w.advance(Duration::from_secs(14 * 60 + 45)); // inside the 30 s leeway of the 15 min token
            let Authorized::RefreshFirst { refresh, original } =
                session.authorize(call(), w.now)?
            else {
                return Ok(false);
            };
            println!("      the token is about to expire: refresh first");
            let response = w.send(refresh);
            let refreshed = matches!(
                session.handle_response(&response, w.now)?,
                SessionStep::Active
            );
            let authorized_again =
                matches!(session.authorize(original, w.now)?, Authorized::Ready(_));
            println!("      refreshed; the original request is authorized with the new token");
            let parked_copy = session.clone();
            let response = w.send(session.sign_out()?);
            let signed_out = matches!(
                session.handle_response(&response, w.now)?,
                SessionStep::SignedOut {
                    already_revoked: false
                }
            );
            println!("      signed out; a copy of the session still holds the revoked token");
            let mut stale = parked_copy;
            let response = w.send(stale.sign_out()?);
            let revoked = matches!(
                stale.handle_response(&response, w.now)?,
                SessionStep::SignedOut {
                    already_revoked: true
                }
            );
            println!("      the server answers 401 for the revoked token: reported as already signed out");
            let refuses = matches!(session.authorize(call(), w.now), Err(Error::SessionEnded));
            Ok(authorized && refreshed && authorized_again && signed_out && revoked && refuses)
        },
    );

    let violations = world.server.violations();
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
    if failed.is_empty() && violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        for title in failed {
            println!("FAILED: {title}");
        }
        ExitCode::FAILURE
    }
}

fn staff_sign_in(w: &mut World) -> Result<Option<TokenPair>, Error> {
    let mut flow = StaffSignIn::new(w.endpoint.clone());
    let response = w.send(flow.sign_in("staff@example.com", PASSWORD, w.now)?);
    let step = flow.handle_response(&response, w.now)?;
    println!("      step: {step:?}");
    let StaffStep::EmailCode { .. } = step else {
        return Ok(None);
    };
    let code = w
        .server
        .last_code_to("staff@example.com")
        .unwrap_or_default()
        .to_owned();
    let response = w.send(flow.submit_code(code, w.now)?);
    match flow.handle_response(&response, w.now)? {
        StaffStep::Done(tokens) => {
            println!("      step: Done");
            Ok(Some(tokens))
        }
        other => {
            println!("      step: {other:?}");
            Ok(None)
        }
    }
}
