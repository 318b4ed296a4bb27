//! One generic driver loop runs every flow and the session through the [`Flow`] trait, and
//! `next_deadline` says when each must act next without being asked.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use b2core_auth::backoffice::{StaffSignIn, StaffStep};
use b2core_auth::client::{Credentials, SignIn, SignInStep, SignUp, SignUpForm, SignUpStep};
use b2core_auth::sim::{ClientAccount, Server, SimConfig, StaffAccount};
use b2core_auth::{DeviceFingerprint, Endpoint, Error, Flow, Session, SessionStep, TokenPair};
use http::Request;

const PASSWORD: &str = "QAzqw123!";

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_713_784_044)
}

fn endpoint() -> Endpoint {
    Endpoint::new("https://host.name").unwrap()
}

fn fingerprint() -> DeviceFingerprint {
    DeviceFingerprint::from_user_agent("flow/1.0").unwrap()
}

/// What the generic loop does with a step: send another request, or stop with a value.
/// (Built and matched at once: boxing the request would only add an allocation.)
#[allow(clippy::large_enum_variant)]
enum Next<T> {
    Send(Request<Vec<u8>>),
    Stop(T),
}

/// The one loop: sends `request`, hands the answer to the flow, asks `next` what to do
/// with the step, until it stops. Checks the trait's getters on the way.
fn drive<F: Flow, T>(
    flow: &mut F,
    server: &mut Server,
    mut request: Request<Vec<u8>>,
    mut next: impl FnMut(&mut F, &mut Server, F::Step) -> Result<Next<T>, Error>,
) -> Result<T, Error> {
    loop {
        assert!(flow.is_awaiting_response());
        assert!(flow.current_step().is_none(), "no step while awaiting");
        assert_eq!(flow.endpoint().as_str(), "https://host.name");
        let response = server.handle(&request, now());
        let step = flow.handle_response(&response, now())?;
        assert!(!flow.is_awaiting_response(), "{}", flow.state());
        assert!(flow.take_deviations().is_empty());
        match next(flow, server, step)? {
            Next::Send(again) => request = again,
            Next::Stop(value) => return Ok(value),
        }
    }
}

fn server() -> Server {
    let mut server = Server::new(SimConfig::default());
    server.add_client(ClientAccount::new("g@example.com", PASSWORD).with_google());
    server.add_staff(StaffAccount::new("staff@example.com", PASSWORD).with_email_2fa());
    server
}

fn sign_in(server: &mut Server) -> TokenPair {
    let mut flow = SignIn::new(endpoint());
    let request = flow.start().unwrap();
    let tokens = drive(&mut flow, server, request, |flow, server, step| {
        Ok(match step {
            SignInStep::Credentials { .. } => {
                let creds = Credentials::new("g@example.com", PASSWORD, fingerprint());
                Next::Send(flow.submit_credentials(creds, now())?)
            }
            SignInStep::Code { .. } => {
                let code = server.google_code("g@example.com", now()).unwrap();
                Next::Send(flow.submit_code(code)?)
            }
            SignInStep::Done(tokens) => Next::Stop(tokens),
            other => panic!("{other:?}"),
        })
    })
    .unwrap();
    assert_eq!(flow.state(), "signed in");
    tokens
}

#[test]
fn one_generic_loop_drives_every_flow_and_the_session() {
    let mut server = server();
    let tokens = sign_in(&mut server);

    let mut flow = SignUp::new(endpoint());
    let request = flow.start("https://host.name/register", None).unwrap();
    let signed_up = drive(&mut flow, &mut server, request, |flow, _, step| {
        Ok(match step {
            SignUpStep::Form { .. } => {
                let form = SignUpForm::new("new@example.com", PASSWORD, PASSWORD, fingerprint());
                Next::Send(flow.submit(form)?)
            }
            SignUpStep::SignInRequired => Next::Stop(true),
            other => panic!("{other:?}"),
        })
    });
    assert_eq!(signed_up, Ok(true));

    let mut flow = StaffSignIn::new(endpoint());
    let request = flow.sign_in("staff@example.com", PASSWORD, now()).unwrap();
    let staff = drive(&mut flow, &mut server, request, |flow, server, step| {
        Ok(match step {
            StaffStep::EmailCode { .. } => {
                let code = server.last_code_to("staff@example.com").unwrap().to_owned();
                Next::Send(flow.submit_code(code, now())?)
            }
            StaffStep::Done(tokens) => Next::Stop(tokens),
            other => panic!("{other:?}"),
        })
    })
    .unwrap();

    for mut session in [
        Session::client(endpoint(), tokens),
        Session::back_office(endpoint(), staff),
    ] {
        let request = session.refresh(now()).unwrap();
        let active = drive(&mut session, &mut server, request, |_, _, step| {
            Ok(Next::Stop(step))
        });
        assert_eq!(active, Ok(SessionStep::Active));
        let request = session.sign_out().unwrap();
        let out = drive(&mut session, &mut server, request, |_, _, step| {
            Ok(Next::Stop(step))
        });
        assert_eq!(
            out,
            Ok(SessionStep::SignedOut {
                already_revoked: false
            })
        );
    }
    assert!(server.violations().is_empty(), "{:?}", server.violations());
}

#[test]
fn next_deadline_is_the_end_of_a_rate_limit_or_the_sessions_refresh_time() {
    let mut flow = SignIn::new(endpoint());
    assert_eq!(flow.next_deadline(), None);
    let _ = flow.start().unwrap();
    let block = http::Response::builder()
        .status(429)
        .header("retry-after", "120")
        .body(Vec::new())
        .unwrap();
    let step = flow.handle_response(&block, now()).unwrap();
    let until = now() + Duration::from_secs(120);
    assert_eq!(step, SignInStep::RetryAt(until));
    assert_eq!(flow.next_deadline(), Some(until));
    let _ = flow.retry(until).unwrap();
    assert_eq!(flow.next_deadline(), None, "sent again: nothing due");

    let mut server = server();
    let tokens = sign_in(&mut server);
    let expires = tokens.access().expires_at();
    let leeway = Duration::from_secs(30);
    let mut session = Session::client(endpoint(), tokens.clone()).with_leeway(leeway);
    assert_eq!(session.next_deadline(), Some(expires - leeway));
    let _ = session.refresh(now()).unwrap();
    assert_eq!(session.next_deadline(), None, "a refresh is outstanding");
    let step = session.handle_response(&block, now()).unwrap();
    assert_eq!(step, SessionStep::RetryAt(until));
    assert_eq!(session.next_deadline(), Some(until));

    // A session that holds only a refresh token is due at once.
    let lone = Session::from_refresh_token(
        b2core_auth::Realm::Client,
        endpoint(),
        tokens.refresh().clone(),
    );
    assert!(lone.next_deadline().is_some_and(|due| due <= now()));
    // Signed out: nothing is ever due again.
    let mut session = Session::client(endpoint(), tokens);
    let request = session.sign_out().unwrap();
    let _ = session
        .handle_response(&server.handle(&request, now()), now())
        .unwrap();
    assert_eq!(session.next_deadline(), None);
}
