//! The simulator under arbitrary requests: `Server::handle` never panics and always
//! answers with a valid status.
#![no_main]

mod common;

use arbitrary::Arbitrary;
use b2core_auth::sim::{ClientAccount, Server, SimConfig, StaffAccount};
use common::*;
use libfuzzer_sys::fuzz_target;

const PATHS: &[&str] = &[
    "/api/v2/my/signin/wizard",
    "/api/v2/my/signin",
    "/api/v2/my/signin/2fa",
    "/api/v2/my/2fa/google",
    "/api/v2/my/2fa/sms",
    "/api/v2/my/signin/password/restore",
    "/api/v2/my/signin/password/reset",
    "/api/v2/my/signup/wizard",
    "/api/v2/my/signup",
    "/api/v2/my/refresh",
    "/api/v2/my/signout",
    "/api/v2/signin",
    "/api/v2/2fa/confirm",
    "/api/v2/refresh",
    "/api/v2/signout",
];

#[derive(Arbitrary, Debug)]
enum Path {
    Known(u8),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
struct Req {
    post: bool,
    path: Path,
    content_type: bool,
    bearer: Option<Text>,
    body: Body,
    tick: u16,
}

fuzz_target!(|reqs: Vec<Req>| {
    let mut server = Server::new(SimConfig::default());
    server.add_client(
        ClientAccount::new("username@example.com", "QAzqw123!")
            .with_google()
            .with_sms(),
    );
    server.add_client(ClientAccount::new("foo@bar.com", "Secret123"));
    server.add_staff(StaffAccount::new("foo@bar.com", "Secret123").with_email_2fa());
    let mut now = 0u64;
    let mut uuid = String::from("u-1");
    for r in reqs.iter().take(32) {
        now += u64::from(r.tick);
        let path = match &r.path {
            Path::Known(i) => PATHS[usize::from(*i) % PATHS.len()].to_owned(),
            Path::Raw(p) => p.clone(),
        };
        let mut b = http::Request::builder()
            .method(if r.post { "POST" } else { "GET" })
            .uri(format!("{HOST}{path}"));
        if r.content_type {
            b = b.header("content-type", "application/json");
        }
        if let Some(t) = &r.bearer {
            b = b.header("authorization", format!("Bearer {}", t.get(TOKENS)));
        }
        let Ok(request) = b.body(r.body.bytes(200, &uuid)) else {
            continue;
        };
        let response = server.handle(&request, at(now));
        let status = response.status().as_u16();
        assert!((100..=599).contains(&status), "{status}");
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(response.body()) {
            if let Some(serde_json::Value::String(u)) = map.get("uuid") {
                uuid = u.clone();
            }
        }
    }
    let _ = format!("{server:?}");
});
