//! Every named dialect against the default one: the same raw HTTP flows, built by hand, and
//! each answer differs from the default's exactly as the dialect's knobs say. Requests are
//! judged alike in every dialect: no violation anywhere, the same codes sent.

use std::collections::{BTreeSet, HashSet};

use crate::time::parse_http_date;

use super::*;

const BOTH: &str = "both@example.com";
const RESET: &str = "reset@example.com";
const LIMITED: &str = "limited@example.com";

/// One answer of the script, with its label and the `now` it was sent at.
struct Step {
    label: &'static str,
    now: SystemTime,
    answer: Answer,
}

/// A server in a dialect and the answers it gave to the script so far.
struct Script {
    server: Server,
    steps: Vec<Step>,
}

impl Script {
    fn send(&mut self, label: &'static str, request: Request<Vec<u8>>, now: SystemTime) -> &Answer {
        let answer = call(&mut self.server, &request, now);
        self.steps.push(Step { label, now, answer });
        &self.steps.last().unwrap().answer
    }
}

fn uuid_of(answer: &Answer) -> String {
    answer.body["uuid"].as_str().unwrap().to_owned()
}

fn init() -> Request<Vec<u8>> {
    wizard_request("GET", "/api/v2/my/signin/wizard", "")
}

fn sign_in(uuid: &str, email: &str, password: &str) -> Request<Vec<u8>> {
    let body =
        json!({"uuid": uuid, "email": email, "password": password, "device_fingerprint": FP});
    wizard_request("POST", "/api/v2/my/signin", &body.to_string())
}

fn wizard_json(path: &str, body: &Value) -> Request<Vec<u8>> {
    wizard_request("POST", path, &body.to_string())
}

/// The 429 of the script: the 6th client sign-in attempt, a quarter second into its second.
fn limited_at() -> SystemTime {
    at(T0 + 5) + Duration::from_millis(250)
}

/// The same flows in every dialect: client sign-in without 2FA, with a refusal, with the
/// choice of 2FA method and an SMS code; a forced password reset; sign-up; Back Office
/// sign-in without and with email 2FA, its refresh; five refused sign-ins and a 429; a
/// client refresh (the last answer that draws from the generator, so every earlier uuid,
/// token and code is the same in every dialect), a sign-out with the access token it
/// replaced, and one with the new access token.
fn run(dialect: Dialect) -> Script {
    let mut server = Server::new(SimConfig {
        dialect,
        ..SimConfig::default()
    });
    server.add_client(ClientAccount::new(EMAIL, PASSWORD));
    server.add_client(ClientAccount::new(BOTH, PASSWORD).with_google().with_sms());
    server.add_client(ClientAccount::new(RESET, PASSWORD).with_forced_reset());
    server.add_client(ClientAccount::new(LIMITED, PASSWORD));
    server.add_staff(StaffAccount::new("foo@bar.com", "Secret123"));
    server.add_staff(StaffAccount::new("two@bar.com", "Secret123").with_email_2fa());
    let mut s = Script {
        server,
        steps: Vec::new(),
    };

    let uuid = uuid_of(s.send("init", init(), t0()));
    let (client_access, client_refresh) =
        pair_of(s.send("terminate", sign_in(&uuid, EMAIL, PASSWORD), t0()));

    let uuid = uuid_of(s.send("init", init(), t0()));
    s.send("refused", sign_in(&uuid, EMAIL, "wrong"), t0());
    s.send("2fa", sign_in(&uuid, BOTH, PASSWORD), t0());
    let choice = json!({"uuid": uuid, "type": "sms"});
    s.send(
        "choose",
        wizard_json("/api/v2/my/signin/2fa", &choice),
        t0(),
    );
    let phone = ClientAccount::new(BOTH, "").with_sms().phone;
    let sms = s.server.last_code_to(&phone).unwrap().to_owned();
    let sms = json!({"uuid": uuid, "code": sms});
    s.send("terminate", wizard_json("/api/v2/my/2fa/sms", &sms), t0());

    let uuid = uuid_of(s.send("init", init(), t0()));
    s.send("wizard", sign_in(&uuid, RESET, PASSWORD), t0());
    let restore = json!({"uuid": uuid});
    s.send(
        "wizard",
        wizard_json("/api/v2/my/signin/password/restore", &restore),
        t0(),
    );
    let emailed = s.server.last_code_to(RESET).unwrap().to_owned();
    let reset =
        json!({"uuid": uuid, "code": emailed, "password": "N3w!", "password_confirmation": "N3w!"});
    s.send(
        "wizard",
        wizard_json("/api/v2/my/signin/password/reset", &reset),
        t0(),
    );

    let sign_up = wizard_request("POST", "/api/v2/my/signup/wizard", SIGN_UP_WIZARD);
    let uuid = uuid_of(s.send("sign-up wizard", sign_up, t0()));
    let body = sign_up_body(&uuid, "new@example.com", "Secret123", "Secret123", FP);
    s.send(
        "sign-up",
        wizard_request("POST", "/api/v2/my/signup", &body),
        t0(),
    );

    s.send("staff", plain_post("/api/v2/signin", STAFF_SIGN_IN), t0());
    let two = json!({"email": "two@bar.com", "password": "Secret123"}).to_string();
    let answer = s.send("staff 2fa", plain_post("/api/v2/signin", &two), t0());
    let token = answer.body["2faDetails"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = s.server.last_code_to("two@bar.com").unwrap().to_owned();
    let confirm = json!({"token": token, "code": sent}).to_string();
    let answer = s.send(
        "staff pair",
        plain_post("/api/v2/2fa/confirm", &confirm),
        t0(),
    );
    let (_, staff_refresh) = pair_of(answer);
    let body = json!({"refreshToken": staff_refresh}).to_string();
    s.send("staff pair", plain_post("/api/v2/refresh", &body), t0());

    let uuid = uuid_of(s.send("init", init(), t0()));
    for i in 0..5 {
        s.send("refused", sign_in(&uuid, LIMITED, "wrong"), at(T0 + i));
    }
    s.send("limited", sign_in(&uuid, LIMITED, PASSWORD), limited_at());

    let body = json!({"refreshToken": client_refresh}).to_string();
    let answer = s.send(
        "client refresh",
        plain_post("/api/v2/my/refresh", &body),
        t0(),
    );
    let (access, _) = pair_of(answer);
    let old = bearer_post("/api/v2/my/signout", &format!("Bearer {client_access}"));
    s.send("old access sign-out", old, t0());
    let bearer = bearer_post("/api/v2/my/signout", &format!("Bearer {access}"));
    s.send("sign-out", bearer, t0());
    s
}

/// `"x_sim_extra":{"note":"unknown field"}` in every object, inner objects first.
fn with_extra(value: &mut Value) {
    match value {
        Value::Object(members) => {
            members.values_mut().for_each(with_extra);
            members.insert("x_sim_extra".to_owned(), json!({"note": "unknown field"}));
        }
        Value::Array(items) => items.iter_mut().for_each(with_extra),
        _ => {}
    }
}

/// The status and body `dialect` must answer where the default answered `pages`. `got` is
/// only read for the fresh uuid of an enveloped client refresh.
fn expected(pages: &Step, dialect: Dialect, got: &Answer) -> (u16, Value) {
    let (mut status, mut body) = (pages.answer.status, pages.answer.body.clone());
    let nulls = dialect.null_optionals;
    match pages.label {
        "init" => {
            if dialect.wizard_init == WizardInit::DoneAtInit {
                status = 202;
                body["code"] = json!(202);
                body["done"] = json!(true);
            }
            if nulls {
                body["data"]["is_qr_available"] = Value::Null;
                body["data"]["is_password_recovery_available"] = Value::Null;
            }
        }
        "terminate" if nulls => body["data"]["tfaProviders"] = Value::Null,
        "sign-up wizard" if nulls => body["data"]["fields"] = Value::Null,
        "sign-up" if nulls => body["data"] = Value::Null,
        "staff" if nulls => body["2faDetails"] = Value::Null,
        "staff 2fa" if nulls => {
            body["accessToken"] = Value::Null;
            body["refreshToken"] = Value::Null;
        }
        "client refresh" => {
            body = match dialect.refresh_answer {
                RefreshAnswer::Bare => body,
                RefreshAnswer::Envelope => json!({
                    "code": 200, "data": body, "done": true,
                    "uuid": got.body["uuid"], "workflow": "Terminate",
                }),
                RefreshAnswer::EnvelopeNullUuid => json!({
                    "code": 200, "data": body, "done": true, "uuid": null, "workflow": null,
                }),
                RefreshAnswer::EnvelopeNoUuid => json!({"code": 200, "data": body, "done": true}),
            }
        }
        // The access token the refresh replaced is still live and signs the session out,
        // revoking the new pair with it.
        "old access sign-out" if dialect.access_outlives_refresh => {
            (status, body) = (200, Value::Null);
        }
        "sign-out" if dialect.access_outlives_refresh => {
            (status, body) = (401, error(401, "access token revoked"));
        }
        _ => {}
    }
    let client_wizard = matches!(
        pages.label,
        "init" | "terminate" | "2fa" | "choose" | "wizard" | "sign-up wizard" | "sign-up"
    );
    if dialect.status == StatusLine::Always200 && client_wizard {
        status = 200;
    }
    if dialect.extra_fields {
        with_extra(&mut body);
    }
    (status, body)
}

/// Reads a `Retry-After` HTTP date in `form` as IMF-fixdate, after rewriting an obsolete
/// form as one by hand, and checks the crate reads the form itself to the same instant.
fn read_http_date(form: RetryAfter, text: &str) -> SystemTime {
    let imf = match form {
        RetryAfter::ImfDate => text.to_owned(),
        // `Monday, 22-Apr-24 11:17:30 GMT`
        RetryAfter::Rfc850 => {
            let (weekday, rest) = text.split_once(", ").unwrap();
            assert!(weekday.len() > 3 && weekday.ends_with("day"), "{text}");
            let (date, time) = rest.split_once(' ').unwrap();
            let parts: Vec<&str> = date.split('-').collect();
            assert_eq!(parts[2].len(), 2, "two-digit year: {text}");
            format!(
                "{}, {} {} 20{} {time}",
                &weekday[..3],
                parts[0],
                parts[1],
                parts[2]
            )
        }
        // `Mon Apr 22 11:17:30 2024`, the day padded with a space
        RetryAfter::Asctime => {
            assert_eq!(text.len(), 24, "{text}");
            let parts: Vec<&str> = text.split_whitespace().collect();
            let day = format!("{:0>2}", parts[2]);
            format!(
                "{}, {day} {} {} {} GMT",
                parts[0], parts[1], parts[4], parts[3]
            )
        }
        RetryAfter::Seconds => panic!("not a date: {text}"),
    };
    let instant = parse_http_date(&imf, t0()).unwrap_or_else(|e| panic!("{text} -> {imf}: {e}"));
    // The crate reads every form itself too, to the same instant.
    assert_eq!(parse_http_date(text, t0()), Ok(instant), "{text}");
    instant
}

/// Every uuid-like value of a transcript: wizard uuids and Back Office 2FA tokens.
fn uuids(steps: &[Step]) -> BTreeSet<String> {
    steps
        .iter()
        .flat_map(|s| {
            [
                &s.answer.body["uuid"],
                &s.answer.body["2faDetails"]["token"],
            ]
        })
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

#[test]
fn every_named_dialect_differs_from_the_pages_exactly_as_its_knobs_say() {
    let pages = run(Dialect::PAGES);
    assert_eq!(pages.server.violations(), []);
    let labels: HashSet<&str> = pages.steps.iter().map(|s| s.label).collect();
    assert_eq!(labels.len(), 15, "every kind of answer is in the script");
    let earlier_uuids = uuids(&pages.steps);
    assert!(earlier_uuids.len() >= 6);

    for &(name, dialect) in Dialect::ALL {
        let run = run(dialect);
        assert_eq!(run.server.violations(), [], "{name}");
        assert_eq!(run.server.outbox(), pages.server.outbox(), "{name}");
        assert_eq!(run.steps.len(), pages.steps.len(), "{name}");
        for (i, (got, base)) in run.steps.iter().zip(&pages.steps).enumerate() {
            let what = format!("{name}: step {i} ({})", base.label);
            let (status, body) = expected(base, dialect, &got.answer);
            assert_eq!(got.answer.status, status, "{what}");
            assert_eq!(got.answer.body, body, "{what}");

            let content_type = got.answer.headers.get(CONTENT_TYPE);
            let want = match (&got.answer.body, dialect.charset) {
                (Value::Null, _) => None,
                (_, false) => Some("application/json"),
                (_, true) => Some("application/json; charset=utf-8"),
            };
            assert_eq!(content_type.map(|v| v.to_str().unwrap()), want, "{what}");

            let retry_after = got.answer.headers.get(RETRY_AFTER);
            if base.label != "limited" {
                assert_eq!(retry_after, None, "{what}");
                continue;
            }
            let seconds = &base.answer.headers[RETRY_AFTER];
            assert_eq!(seconds, "600", "{what}");
            let text = retry_after.unwrap().to_str().unwrap();
            if dialect.retry_after == RetryAfter::Seconds {
                assert_eq!(text, "600", "{what}");
                continue;
            }
            // now + 600 s = T0 + 605.25 s, rounded up.
            let instant = read_http_date(dialect.retry_after, text);
            assert_eq!(instant, at(T0 + 606), "{what}: {text}");
            assert!(instant >= base.now + Duration::from_secs(600));
        }
        if dialect.refresh_answer == RefreshAnswer::Envelope {
            let refreshed = &run.steps.iter().rev().nth(2).unwrap().answer;
            let uuid = refreshed.body["uuid"].as_str().unwrap();
            assert_eq!(uuid.len(), 36, "{name}");
            assert_eq!(uuid.matches('-').count(), 4, "{name}");
            assert!(!earlier_uuids.contains(uuid), "{name}: a fresh uuid");
        }
    }
}

#[test]
fn everything_at_once_written_out() {
    let mut server = Server::new(SimConfig {
        dialect: Dialect::named("everything").unwrap(),
        ..SimConfig::default()
    });
    server.add_client(ClientAccount::new(EMAIL, PASSWORD));
    server.add_client(ClientAccount::new(LIMITED, PASSWORD));
    server.add_staff(StaffAccount::new("two@bar.com", "Secret123").with_email_2fa());
    let x = json!({"note": "unknown field"});

    let a = call(&mut server, &init(), t0());
    let uuid = uuid_of(&a);
    assert_eq!(a.status, 200);
    assert_eq!(a.headers[CONTENT_TYPE], "application/json; charset=utf-8");
    assert_eq!(
        a.body,
        json!({
            "code": 202,
            "data": {
                "is_password_recovery_available": null,
                "is_qr_available": null,
                "recaptcha": {"enabled": false, "x_sim_extra": x},
                "x_sim_extra": x,
            },
            "done": true,
            "uuid": uuid,
            "workflow": "login",
            "x_sim_extra": x,
        })
    );
    let raw = server.handle(&init(), t0());
    let text = std::str::from_utf8(raw.body()).unwrap();
    assert!(
        text.ends_with(r#","workflow":"login","x_sim_extra":{"note":"unknown field"}}"#),
        "the extra member comes last: {text}"
    );

    let a = call(&mut server, &sign_in(&uuid, EMAIL, PASSWORD), t0());
    assert_eq!((a.status, &a.body["code"]), (200, &json!(202)));
    assert_eq!(a.body["data"]["tfaProviders"], Value::Null);
    assert_eq!(a.body["data"]["accessToken"]["x_sim_extra"], x);
    assert_eq!(a.body["data"].as_object().unwrap().len(), 4);
    let (old_access, refresh_token) = pair_of(&a);

    let a = call(
        &mut server,
        &plain_post(
            "/api/v2/my/refresh",
            &json!({"refreshToken": refresh_token}).to_string(),
        ),
        t0(),
    );
    assert_eq!(a.status, 200);
    let data = a.body["data"].clone();
    assert_eq!(
        a.body,
        json!({"code": 200, "data": data, "done": true, "uuid": null, "workflow": null, "x_sim_extra": x})
    );
    assert_eq!(data["refreshToken"]["x_sim_extra"], x);
    // The access token the refresh replaced stays live until its own expiresAt.
    let old = upstream(&[&format!("Bearer {old_access}")]);
    assert_eq!(server.bearer_holder(&old, t0()), Ok(EMAIL));
    assert!(!server.is_revoked(&old_access) && server.is_revoked(&refresh_token));

    let two = json!({"email": "two@bar.com", "password": "Secret123"}).to_string();
    let a = call(&mut server, &plain_post("/api/v2/signin", &two), t0());
    let token = a.body["2faDetails"]["token"].clone();
    assert_eq!(
        a.body,
        json!({
            "2faDetails": {"expiresAt": "2024-04-22T11:12:24+00:00", "provider": "email", "token": token, "x_sim_extra": x},
            "2faRequired": true,
            "accessToken": null,
            "refreshToken": null,
            "x_sim_extra": x,
        })
    );

    let a = call(&mut server, &sign_in(&uuid, EMAIL, "wrong"), t0());
    assert_eq!(a.status, 400);
    assert_eq!(
        a.body,
        json!({"error": {"code": 400, "details": [{"issue": "uuid belongs to a wizard that has already ended", "x_sim_extra": x}], "x_sim_extra": x}, "x_sim_extra": x})
    );
    assert_eq!(server.violations().len(), 1, "a violation in every dialect");

    for i in 0..6 {
        let uuid = uuid_of(&call(&mut server, &init(), t0()));
        let a = call(
            &mut server,
            &sign_in(&uuid, LIMITED, "wrong"),
            at(T0 + i) + Duration::from_millis(500),
        );
        if i < 5 {
            assert_eq!(a.status, 400);
        } else {
            assert_eq!(a.status, 429);
            // T0 + 5.5 s + 600 s = 11:17:29.5, rounded up.
            assert_eq!(a.headers[RETRY_AFTER], "Monday, 22-Apr-24 11:17:30 GMT");
        }
    }
    assert_eq!(server.violations().len(), 1);
}

#[test]
fn retry_after_dates_written_out() {
    for (form, text) in [
        (RetryAfter::Seconds, "600"),
        (RetryAfter::ImfDate, "Mon, 22 Apr 2024 11:17:30 GMT"),
        (RetryAfter::Rfc850, "Monday, 22-Apr-24 11:17:30 GMT"),
        (RetryAfter::Asctime, "Mon Apr 22 11:17:30 2024"),
    ] {
        let mut dialect = Dialect::PAGES;
        dialect.retry_after = form;
        let mut server = Server::new(SimConfig {
            dialect,
            ..SimConfig::default()
        });
        let uuid = uuid_of(&call(&mut server, &init(), t0()));
        for i in 0..5 {
            call(&mut server, &sign_in(&uuid, EMAIL, "x"), at(T0 + i));
        }
        let a = call(&mut server, &sign_in(&uuid, EMAIL, "x"), limited_at());
        assert_eq!(a.status, 429);
        assert_eq!(a.headers[RETRY_AFTER], text, "{form:?}");
        assert_eq!(
            a.body,
            error(429, "too many attempts; retry in 600 seconds")
        );
    }
    // The asctime day of month is padded with a space: 2024-04-02 is a Tuesday.
    let mut dialect = Dialect::PAGES;
    dialect.retry_after = RetryAfter::Asctime;
    let mut server = Server::new(SimConfig {
        dialect,
        ..SimConfig::default()
    });
    let april_2 = 1_712_059_200; // 2024-04-02T12:00:00Z
    let uuid = uuid_of(&call(&mut server, &init(), at(april_2)));
    for i in 0..6 {
        let a = call(&mut server, &sign_in(&uuid, EMAIL, "x"), at(april_2 + i));
        if i == 5 {
            assert_eq!(a.headers[RETRY_AFTER], "Tue Apr  2 12:10:05 2024");
        }
    }
}

#[test]
fn a_429_whose_date_cannot_be_written_is_a_500() {
    let mut dialect = Dialect::PAGES;
    dialect.retry_after = RetryAfter::ImfDate;
    let mut server = Server::new(SimConfig {
        dialect,
        ..SimConfig::default()
    });
    let far = at(253_402_300_500); // 9999-12-31T23:55:00Z: the block ends in year 10000
    let uuid = uuid_of(&call(&mut server, &init(), far));
    for i in 0..6 {
        let a = call(
            &mut server,
            &sign_in(&uuid, EMAIL, "x"),
            far + Duration::from_secs(i),
        );
        if i == 5 {
            assert_eq!((a.status, a.body), (500, error(500, "time out of range")));
            assert_eq!(a.headers.get(RETRY_AFTER), None);
        }
    }
    assert_eq!(server.violations(), []);
}

#[test]
fn the_named_dialects() {
    let names: Vec<&str> = Dialect::ALL.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names,
        [
            "pages",
            "status-200",
            "done-at-init",
            "refresh-envelope",
            "refresh-envelope-null-uuid",
            "refresh-envelope-no-uuid",
            "extra-fields",
            "charset",
            "retry-after-imf-date",
            "retry-after-rfc850",
            "retry-after-asctime",
            "null-optionals",
            "access-outlives-refresh",
            "everything",
        ]
    );
    for &(name, dialect) in Dialect::ALL {
        assert_eq!(Dialect::named(name).unwrap().name(), Some(name));
        assert_eq!(Dialect::named(name), Some(dialect));
    }
    let distinct_names: HashSet<&str> = names.iter().copied().collect();
    let distinct_dialects: HashSet<Dialect> = Dialect::ALL.iter().map(|(_, d)| *d).collect();
    assert_eq!(distinct_names.len(), Dialect::ALL.len());
    assert_eq!(distinct_dialects.len(), Dialect::ALL.len());
    assert_eq!(Dialect::named("Pages"), None);
    assert_eq!(Dialect::named(""), None);

    let pages = Dialect {
        status: StatusLine::MirrorCode,
        wizard_init: WizardInit::CurrentPage,
        refresh_answer: RefreshAnswer::Bare,
        extra_fields: false,
        charset: false,
        retry_after: RetryAfter::Seconds,
        null_optionals: false,
        access_outlives_refresh: false,
    };
    assert_eq!(Dialect::PAGES, pages);
    assert_eq!(Dialect::default(), pages);
    assert_eq!(SimConfig::default().dialect, pages);
    assert_eq!(Dialect::ALL[0], ("pages", pages));

    let turned = |name: &str, turn: fn(&mut Dialect)| {
        let mut want = pages;
        turn(&mut want);
        assert_eq!(Dialect::named(name), Some(want), "{name}");
    };
    turned("status-200", |d| d.status = StatusLine::Always200);
    turned("done-at-init", |d| d.wizard_init = WizardInit::DoneAtInit);
    turned("refresh-envelope", |d| {
        d.refresh_answer = RefreshAnswer::Envelope
    });
    turned("refresh-envelope-null-uuid", |d| {
        d.refresh_answer = RefreshAnswer::EnvelopeNullUuid
    });
    turned("refresh-envelope-no-uuid", |d| {
        d.refresh_answer = RefreshAnswer::EnvelopeNoUuid
    });
    turned("extra-fields", |d| d.extra_fields = true);
    turned("charset", |d| d.charset = true);
    turned("retry-after-imf-date", |d| {
        d.retry_after = RetryAfter::ImfDate
    });
    turned("retry-after-rfc850", |d| d.retry_after = RetryAfter::Rfc850);
    turned("retry-after-asctime", |d| {
        d.retry_after = RetryAfter::Asctime
    });
    turned("null-optionals", |d| d.null_optionals = true);
    turned("access-outlives-refresh", |d| {
        d.access_outlives_refresh = true
    });
    turned("everything", |d| {
        *d = Dialect {
            status: StatusLine::Always200,
            wizard_init: WizardInit::DoneAtInit,
            refresh_answer: RefreshAnswer::EnvelopeNullUuid,
            extra_fields: true,
            charset: true,
            retry_after: RetryAfter::Rfc850,
            null_optionals: true,
            access_outlives_refresh: true,
        }
    });
    let mut unnamed = pages;
    unnamed.charset = true;
    unnamed.null_optionals = true;
    assert_eq!(unnamed.name(), None);
}
