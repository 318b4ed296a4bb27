//! Every flow completes against the simulator in every host dialect, through the library,
//! and records exactly the deviations that dialect implies: none where the pages leave the
//! point open and the host takes a reading they allow (`extra-fields`, `charset`, the
//! refresh envelopes, the `Retry-After` forms, `null`s), a `code` or `done` deviation where
//! the body's `code`/`done` disagree with the status line or the `workflow`. On a strict
//! endpoint, the same dialects fail at their first deviation, and the rest complete.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use b2core_auth::backoffice::{StaffSignIn, StaffState, StaffStep};
use b2core_auth::client::{
    Credentials, Method, SignIn, SignInStep, SignUp, SignUpForm, SignUpStep,
};
use b2core_auth::sim::{
    ClientAccount, Dialect, Server, SimConfig, StaffAccount, StatusLine, WizardInit,
};
use b2core_auth::Flow;
use b2core_auth::{DeviceFingerprint, Endpoint, Error, Session, SessionStep, TokenPair};

#[path = "support/sent.rs"]
mod sent;
use sent::Sent;

const PASSWORD: &str = "QAzqw123!";
const GOOGLE: &str = "google@example.com";
const BOTH: &str = "both@example.com";
const PLAIN: &str = "plain@example.com";
const STAFF: &str = "staff@example.com";

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_713_784_044)
}

fn server(dialect: Dialect) -> Server {
    let mut server = Server::new(SimConfig {
        dialect,
        ..SimConfig::default()
    });
    server.add_client(ClientAccount::new(GOOGLE, PASSWORD).with_google());
    server.add_client(
        ClientAccount::new(BOTH, PASSWORD)
            .with_google()
            .with_sms()
            .with_phone("+10000000001"),
    );
    server.add_client(ClientAccount::new(PLAIN, PASSWORD));
    server.add_staff(StaffAccount::new(STAFF, PASSWORD).with_email_2fa());
    server
}

fn endpoint(strict: bool) -> Endpoint {
    let endpoint = Endpoint::new("https://host.name").unwrap();
    if strict {
        endpoint.strict()
    } else {
        endpoint
    }
}

fn fingerprint() -> DeviceFingerprint {
    DeviceFingerprint::from_user_agent("dialects/1.0").unwrap()
}

/// A deviation as `(request line, field)`.
type Noted = (String, String);

fn noted(deviations: &[b2core_auth::Deviation]) -> Vec<Noted> {
    deviations
        .iter()
        .map(|d| (d.step().to_owned(), d.field().to_owned()))
        .collect()
}

fn n(step: &str, field: &str) -> Noted {
    (step.to_owned(), field.to_owned())
}

/// A client sign-in of `email`, choosing `method` when asked.
fn sign_in(
    server: &mut Server,
    strict: bool,
    email: &str,
    method: Method,
) -> Result<(TokenPair, Vec<Noted>), Error> {
    let mut flow = SignIn::new(endpoint(strict));
    let mut request = flow.start(now())?.sent();
    let t = now();
    let tokens = loop {
        let response = server.handle(&request, t);
        request = match flow.handle_response(&response, t)? {
            SignInStep::Credentials { .. } => flow
                .submit_credentials(Credentials::new(email, PASSWORD, fingerprint()), t)?
                .sent(),
            SignInStep::ChooseMethod { methods, .. } => {
                assert!(methods.contains(&method));
                flow.choose_method(method, t)?.sent()
            }
            SignInStep::Code { method, .. } => {
                let code = match method {
                    Method::Google => server.google_code(email, t),
                    _ => server.last_code_to("+10000000001").map(str::to_owned),
                };
                flow.submit_code(code.expect("a code was sent"), t)?.sent()
            }
            SignInStep::Done(tokens) => break tokens,
            other => panic!("unexpected {other:?}"),
        };
    };
    Ok((tokens, noted(flow.deviations())))
}

fn sign_up(server: &mut Server, strict: bool) -> Result<Vec<Noted>, Error> {
    let mut flow = SignUp::new(endpoint(strict));
    let request = flow
        .start(
            "https://host.name/register/{registration}/{code}",
            None,
            now(),
        )?
        .sent();
    let step = flow.handle_response(&server.handle(&request, now()), now())?;
    assert!(matches!(step, SignUpStep::Form { .. }), "{step:?}");
    let form = SignUpForm::new("new@example.com", PASSWORD, PASSWORD, fingerprint());
    let request = flow.submit(form, now())?.sent();
    let step = flow.handle_response(&server.handle(&request, now()), now())?;
    assert_eq!(step, SignUpStep::SignInRequired);
    Ok(noted(flow.deviations()))
}

fn staff_sign_in(server: &mut Server, strict: bool) -> Result<(TokenPair, Vec<Noted>), Error> {
    let mut flow = StaffSignIn::new(endpoint(strict));
    let request = flow.sign_in(STAFF, PASSWORD, now())?.sent();
    let step = flow.handle_response(&server.handle(&request, now()), now())?;
    assert!(matches!(step, StaffStep::EmailCode { .. }), "{step:?}");
    let code = server
        .last_code_to(STAFF)
        .expect("an emailed code")
        .to_owned();
    let request = flow.submit_code(code, now())?.sent();
    match flow.handle_response(&server.handle(&request, now()), now())? {
        StaffStep::Done(tokens) => Ok((tokens, noted(flow.deviations()))),
        other => panic!("unexpected {other:?}"),
    }
}

/// Refreshes, then signs out.
fn session(server: &mut Server, mut session: Session) -> Result<Vec<Noted>, Error> {
    let t = now() + Duration::from_secs(60);
    let request = session.refresh(t)?.sent();
    let step = session.handle_response(&server.handle(&request, t), t)?;
    assert_eq!(step, SessionStep::Active);
    let request = session.sign_out(t)?.sent();
    let step = session.handle_response(&server.handle(&request, t), t)?;
    assert_eq!(
        step,
        SessionStep::SignedOut {
            already_revoked: false
        }
    );
    Ok(noted(session.deviations()))
}

/// Back Office sign-ins every 10 s: the sixth inside a minute is held by the flow's own
/// guard, so a second flow (a second device) meets the server's sliding window, whose
/// `Retry-After` (10 s, until the oldest attempt leaves the window) differs from the
/// crate's default wait (60 s). Both flows wait until the same instant, the same way.
/// Returns the wait the second flow was told.
fn rate_limited(server: &mut Server, strict: bool) -> Result<Duration, Error> {
    let mut attempt = |flow: &mut StaffSignIn, t: SystemTime| -> Result<StaffStep, Error> {
        let request = flow
            .sign_in("nobody@example.com", "wrong-password", t)?
            .sent();
        flow.handle_response(&server.handle(&request, t), t)
    };
    let at = |i: u64| now() + Duration::from_secs(10 * i);
    let mut first = StaffSignIn::new(endpoint(strict));
    for i in 0..5 {
        let step = attempt(&mut first, at(i))?;
        assert!(
            matches!(step, StaffStep::Credentials { rejected: Some(_) }),
            "{step:?}"
        );
    }
    let mut second = StaffSignIn::new(endpoint(strict));
    let retry_at = match attempt(&mut second, at(5))? {
        StaffStep::RetryAt(retry_at) => retry_at,
        other => panic!("expected the server's window, got {other:?}"),
    };
    let held = first.sign_in("nobody@example.com", "wrong-password", at(5))?;
    assert_eq!(
        held.retry_at(),
        Some(retry_at),
        "the guard's wait is the server's"
    );
    for flow in [&first, &second] {
        assert_eq!(flow.state(), StaffState::RateLimited);
        assert_eq!(flow.current_step(), Some(StaffStep::RetryAt(retry_at)));
        assert_eq!(flow.next_deadline(), Some(retry_at));
    }
    Ok(retry_at.duration_since(at(5)).unwrap_or_default())
}

/// What a dialect implies for each flow, from its knobs and the crate's rules.
fn expected(dialect: Dialect) -> [Vec<Noted>; 5] {
    const INIT: &str = "GET /api/v2/my/signin/wizard";
    let always_200 = dialect.status == StatusLine::Always200;
    let done_at_init = dialect.wizard_init == WizardInit::DoneAtInit;
    let mut init = Vec::new();
    if done_at_init {
        if always_200 {
            init.push(n(INIT, "code")); // 202 in the body, 200 on the status line
        }
        init.push(n(INIT, "code")); // 202 with workflow `login`
        init.push(n(INIT, "done")); // true with workflow `login`
    }
    let terminate = |step: &str| {
        let mut all = init.clone();
        if always_200 {
            all.push(n(step, "code"));
        }
        all
    };
    let signup = if always_200 {
        vec![
            n("POST /api/v2/my/signup/wizard", "code"),
            n("POST /api/v2/my/signup", "code"),
        ]
    } else {
        vec![]
    };
    [
        terminate("POST /api/v2/my/2fa/google"),
        terminate("POST /api/v2/my/2fa/sms"),
        terminate("POST /api/v2/my/signin"),
        signup,
        vec![], // Back Office and sessions: no wizard `code`, the pages' bare answers
    ]
}

#[test]
fn every_flow_completes_in_every_dialect_with_exactly_its_deviations() {
    for &(name, dialect) in Dialect::ALL {
        let mut server = server(dialect);
        let [google, sms, plain, signup, none] = expected(dialect);

        let (tokens, got) = sign_in(&mut server, false, GOOGLE, Method::Google).unwrap();
        assert_eq!(got, google, "{name}: Google sign-in");
        let (_, got) = sign_in(&mut server, false, BOTH, Method::Sms).unwrap();
        assert_eq!(got, sms, "{name}: SMS sign-in after a method choice");
        let (_, got) = sign_in(&mut server, false, PLAIN, Method::Google).unwrap();
        assert_eq!(got, plain, "{name}: sign-in without 2FA");
        assert_eq!(
            sign_up(&mut server, false).unwrap(),
            signup,
            "{name}: sign-up"
        );
        let got = session(&mut server, Session::client(endpoint(false), tokens)).unwrap();
        assert_eq!(got, none, "{name}: client refresh and sign-out");
        let (staff, got) = staff_sign_in(&mut server, false).unwrap();
        assert_eq!(got, none, "{name}: Back Office sign-in");
        let got = session(&mut server, Session::back_office(endpoint(false), staff)).unwrap();
        assert_eq!(got, none, "{name}: Back Office refresh and sign-out");

        // Whatever form `Retry-After` takes, the flow waits what the host asked.
        let wait = rate_limited(&mut server, false).unwrap();
        assert_eq!(wait, Duration::from_secs(10), "{name}");
        assert!(
            server.violations().is_empty(),
            "{name}: {:?}",
            server.violations()
        );
    }
}

#[test]
fn a_strict_endpoint_fails_at_the_first_deviation_and_completes_the_rest() {
    for &(name, dialect) in Dialect::ALL {
        let mut server = server(dialect);
        let [google, _, _, signup, _] = expected(dialect);
        match sign_in(&mut server, true, GOOGLE, Method::Google) {
            Ok(_) => assert!(google.is_empty(), "{name}: strict accepted {google:?}"),
            Err(Error::Malformed { step, field, .. }) => {
                assert_eq!(Some(&n(step, field)), google.first(), "{name}")
            }
            Err(other) => panic!("{name}: {other:?}"),
        }
        match sign_up(&mut server, true) {
            Ok(_) => assert!(signup.is_empty(), "{name}: strict accepted {signup:?}"),
            Err(Error::Malformed { step, field, .. }) => {
                assert_eq!(Some(&n(step, field)), signup.first(), "{name}")
            }
            Err(other) => panic!("{name}: {other:?}"),
        }
        let (staff, _) = staff_sign_in(&mut server, true).unwrap();
        session(&mut server, Session::back_office(endpoint(true), staff)).unwrap();
        assert!(
            server.violations().is_empty(),
            "{name}: {:?}",
            server.violations()
        );
    }
}
