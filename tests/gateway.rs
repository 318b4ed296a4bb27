//! The example gateway (`examples/gateway/app/`) driven over real HTTP, as a browser drives
//! it: a reqwest client with a cookie jar of its own (every `Set-Cookie` in, one `Cookie`
//! header out), no redirect followed by reqwest (the test follows each `303 See Other`
//! itself), and a record of every answer the browser received: status, every header, body.
//!
//! Each test starts its own simulator (`examples/support/sim_http.rs`), its own gateway
//! (`Gateway::start`, in-process, on its own thread and runtime) and its own SQLite file in
//! a fresh directory under the system temp dir, removed at the end. The tests:
//!
//! - `plain_sign_in_api_and_sign_out`: a wrong password, then sign-in without 2FA,
//!   `/api/whoami`, sign-out (cookie cleared, row gone, upstream tokens revoked, 401 after);
//! - `google_code_wrong_then_right`: a wrong Google code stays on `code` with `#error`;
//! - `sms_code_sign_in`, `both_methods_choose_sms`: the SMS branch, and the method choice;
//! - `forced_password_reset`: reset-required → reset-code → password-changed → sign-in;
//! - `rate_limit_wait_then_retry`: a 429 upstream shows `wait`; an early retry stays there;
//! - `sign_up_then_sign_in`;
//! - `fifty_concurrent_api_calls_across_refresh_*`: none fails, whether the host revokes the
//!   old access token at the refresh (`pages`) or lets it live (`access-outlives-refresh`);
//! - `restart_mid_flow`: a new gateway on the same store continues the visitor's flow;
//! - `unfinished_flow_expires`: `flow_ttl` ends an unfinished sign-in and its row;
//! - `secure_cookie_is_host_prefixed`, `store_file_is_owner_only`.
//!
//! Every test ends with the same scan: no password, code or token (every one the test
//! learned) in any status line, header (`Set-Cookie` included) or body the browser got; no
//! password or code in the bytes of the SQLite file (and its journal, if any) once the
//! step that used it was accepted; no token there after sign-out; and no request the
//! simulator calls a violation.

#[path = "../examples/gateway/app/mod.rs"]
mod gateway;
#[path = "../examples/support/sim_http.rs"]
mod sim_http;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use b2core_auth::sim::{ClientAccount, Dialect, Server, SimConfig};
use b2core_auth::{Endpoint, Session};
use sim_http::Running;

const PASSWORD: &str = "QAzqw123!";
const NEW_PASSWORD: &str = "N3w-Gateway-Passw0rd!";
const SIGNUP_PASSWORD: &str = "Sign-Up-Pa55word!";
const WRONG_PASSWORD: &str = "Wr0ng-Passw0rd!";
const SMS_PHONE: &str = "+15550000001";
const BOTH_PHONE: &str = "+15550000002";

// ---------------------------------------------------------------------------------------
// The browser
// ---------------------------------------------------------------------------------------

/// One answer the browser received.
#[derive(Clone)]
struct Received {
    /// `METHOD path` of the request it answered.
    request: String,
    status: u16,
    /// Every header, in order, names lowercase.
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// An HTML page of the gateway, as `GET /` showed it.
struct Page {
    step: String,
    error: Option<String>,
    html: String,
}

/// A browser: its own cookie jar, redirects followed by hand, everything received kept.
struct Browser {
    http: reqwest::Client,
    base: Mutex<String>,
    jar: Mutex<BTreeMap<String, String>>,
    received: Mutex<Vec<Received>>,
    /// The gateway's `Config::secure_cookie`: the cookie's expected name and attributes.
    secure_cookie: bool,
    /// How many `Set-Cookie` headers set (not cleared) a cookie so far.
    cookies_set: AtomicUsize,
    /// How many `Set-Cookie` headers cleared one (`Max-Age=0`).
    cookies_cleared: AtomicUsize,
}

impl Browser {
    fn new(base: String, secure_cookie: bool) -> Browser {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("the reqwest client should build");
        Browser {
            http,
            base: Mutex::new(base),
            jar: Mutex::new(BTreeMap::new()),
            received: Mutex::new(Vec::new()),
            secure_cookie,
            cookies_set: AtomicUsize::new(0),
            cookies_cleared: AtomicUsize::new(0),
        }
    }

    fn cookie_name(&self) -> &'static str {
        if self.secure_cookie {
            "__Host-gw"
        } else {
            "gw"
        }
    }

    fn set_base(&self, base: String) {
        *self.base.lock().unwrap() = base;
    }

    /// The gateway cookie's value in the jar, if any.
    fn cookie(&self) -> Option<String> {
        self.jar.lock().unwrap().get(self.cookie_name()).cloned()
    }

    fn put_cookie(&self, value: &str) {
        self.jar
            .lock()
            .unwrap()
            .insert(self.cookie_name().to_owned(), value.to_owned());
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Sends one request (a form body if `form` is given), takes its cookies, records and
    /// returns the answer.
    async fn send(&self, method: &str, path: &str, form: Option<&[(&str, &str)]>) -> Received {
        let url = format!("{}{}", self.base.lock().unwrap(), path);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut request = self.http.request(method.clone(), &url);
        let cookie = {
            let jar = self.jar.lock().unwrap();
            jar.iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        if !cookie.is_empty() {
            request = request.header("Cookie", cookie);
        }
        if let Some(fields) = form {
            request = request
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form_encode(fields));
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: the gateway should answer, got {e}"));
        let status = response.status().as_u16();
        let headers: Vec<(String, Vec<u8>)> = response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect();
        let body = response
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: the body should be readable, got {e}"))
            .to_vec();
        let received = Received {
            request: format!("{method} {path}"),
            status,
            headers,
            body,
        };
        for (name, value) in &received.headers {
            if name == "set-cookie" {
                self.take_cookie(&String::from_utf8_lossy(value), &received.request);
            }
        }
        self.received.lock().unwrap().push(received.clone());
        received
    }

    /// Checks one `Set-Cookie` against the contract and updates the jar.
    fn take_cookie(&self, header: &str, request: &str) {
        let mut parts = header.split(';').map(str::trim);
        let pair = parts.next().unwrap_or_default();
        let (name, value) = pair
            .split_once('=')
            .unwrap_or_else(|| panic!("{request}: Set-Cookie should be NAME=VALUE; got {pair:?}"));
        let attrs: Vec<String> = parts.map(str::to_ascii_lowercase).collect();
        let has = |a: &str| attrs.iter().any(|x| x == a);
        assert_eq!(
            name,
            self.cookie_name(),
            "{request}: the gateway's only cookie should be named {:?}",
            self.cookie_name()
        );
        assert!(
            has("path=/"),
            "{request}: the cookie should have Path=/; attributes were {attrs:?}"
        );
        assert_eq!(
            has("secure"),
            self.secure_cookie,
            "{request}: the cookie should {}have Secure (secure_cookie = {}); attributes were {attrs:?}",
            if self.secure_cookie { "" } else { "not " },
            self.secure_cookie
        );
        assert!(
            !attrs.iter().any(|a| a.starts_with("domain")),
            "{request}: the cookie should have no Domain; attributes were {attrs:?}"
        );
        if has("max-age=0") {
            self.jar.lock().unwrap().remove(name);
            self.cookies_cleared.fetch_add(1, Ordering::SeqCst);
            return;
        }
        assert!(
            has("httponly"),
            "{request}: the cookie should be HttpOnly; attributes were {attrs:?}"
        );
        assert!(
            has("samesite=strict"),
            "{request}: the cookie should be SameSite=Strict; attributes were {attrs:?}"
        );
        assert!(
            value.len() == 43
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{request}: the cookie value should be 43 characters of base64url (32 random bytes); got {} characters",
            value.len()
        );
        self.jar
            .lock()
            .unwrap()
            .insert(name.to_owned(), value.to_owned());
        self.cookies_set.fetch_add(1, Ordering::SeqCst);
    }

    /// `GET /`: the visitor's current page.
    async fn page(&self) -> Page {
        let answer = self.send("GET", "/", None).await;
        assert_eq!(
            answer.status,
            200,
            "GET / should answer 200 with the visitor's page; got {} {}",
            answer.status,
            answer.text()
        );
        let html = answer.text();
        let step = attribute(&html, "data-step").unwrap_or_else(|| {
            panic!("GET / should show a page with data-step=\"...\"; got {html}")
        });
        let error = element_text(&html, "error").filter(|e| !e.is_empty());
        Page { step, error, html }
    }

    /// Submits a form: the answer must be `303 See Other`, `Location: /`; follows it.
    async fn submit(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let answer = self.send("POST", path, Some(form)).await;
        assert_eq!(
            answer.status,
            303,
            "POST {path} should answer 303 See Other; got {} {}",
            answer.status,
            answer.text()
        );
        let location = answer.header("location");
        assert_eq!(
            location.as_deref(),
            Some("/"),
            "POST {path} should redirect to /"
        );
        self.page().await
    }

    /// `GET /api/whoami`: the status and the `email` of a JSON answer.
    async fn whoami(&self) -> (u16, Option<String>, String) {
        let answer = self.send("GET", "/api/whoami", None).await;
        let email = serde_json::from_slice::<serde_json::Value>(&answer.body)
            .ok()
            .and_then(|v| v.get("email").and_then(|e| e.as_str()).map(str::to_owned));
        (answer.status, email, answer.text())
    }
}

/// `application/x-www-form-urlencoded`.
fn form_encode(fields: &[(&str, &str)]) -> String {
    let encode = |s: &str| {
        let mut out = String::new();
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The value of the first `NAME="..."` attribute in the page.
fn attribute(html: &str, name: &str) -> Option<String> {
    let marker = format!("{name}=\"");
    let start = html.find(&marker)? + marker.len();
    let end = start + html[start..].find('"')?;
    Some(html[start..end].to_owned())
}

/// The text of the element with `id="ID"` up to its first child tag, entities decoded.
fn element_text(html: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\"");
    let at = html.find(&marker)?;
    let open_end = at + html[at..].find('>')? + 1;
    let close = open_end + html[open_end..].find('<')?;
    Some(
        html[open_end..close]
            .trim()
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&"),
    )
}

/// True if the page has a radio button `name=method value=METHOD` (any quoting).
fn offers_method(html: &str, method: &str) -> bool {
    html.split("<input").skip(1).any(|rest| {
        let tag: String = rest
            .split('>')
            .next()
            .unwrap_or_default()
            .chars()
            .filter(|c| *c != '"' && *c != '\'')
            .collect::<String>()
            .to_ascii_lowercase();
        let words: Vec<&str> = tag.split_whitespace().collect();
        words.contains(&"type=radio")
            && words.contains(&"name=method")
            && words.contains(&format!("value={method}").as_str())
    })
}

fn expect_step(page: &Page, step: &str, after: &str) {
    assert_eq!(
        page.step, step,
        "after {after}: the page should be step {step:?}; got {:?} (error: {:?})",
        page.step, page.error
    );
}

// ---------------------------------------------------------------------------------------
// The store, read from the outside
// ---------------------------------------------------------------------------------------

/// A row of `visitors`.
#[derive(Debug)]
struct Row {
    kind: String,
    parked: String,
    expires_at: Option<i64>,
}

fn store_rows(db: &Path) -> Vec<Row> {
    use rusqlite::types::ValueRef;
    use rusqlite::{Connection, OpenFlags};
    let text = |v: ValueRef<'_>| match v {
        ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
        ValueRef::Null => String::new(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(r) => r.to_string(),
    };
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap_or_else(|e| panic!("the store {} should open read-only: {e}", db.display()));
    conn.busy_timeout(Duration::from_secs(5))
        .expect("a busy timeout");
    let mut statement = conn
        .prepare("SELECT kind, parked, expires_at FROM visitors")
        .expect("the store should have the contract's table visitors(kind, parked, expires_at)");
    let rows = statement
        .query_map([], |row| {
            Ok(Row {
                kind: text(row.get_ref(0)?),
                parked: text(row.get_ref(1)?),
                expires_at: match row.get_ref(2)? {
                    ValueRef::Integer(i) => Some(i),
                    _ => None,
                },
            })
        })
        .expect("the visitors rows should be readable")
        .collect::<Result<Vec<_>, _>>()
        .expect("the visitors rows should be readable");
    rows
}

/// The (access, refresh) token pair of every session parked in the store.
fn store_sessions(db: &Path) -> Vec<(String, String)> {
    store_rows(db)
        .iter()
        .filter_map(|row| session_tokens(&row.parked))
        .collect()
}

/// The tokens of a parked session: read as a `Session` (the crate's parked form); if the
/// gateway wraps it, the `accessToken.token` and `refreshToken.token` found inside.
fn session_tokens(parked: &str) -> Option<(String, String)> {
    if let Ok(session) = serde_json::from_str::<Session>(parked) {
        let pair = session.tokens()?;
        return Some((
            pair.access().secret().expose().clone(),
            pair.refresh().secret().expose().clone(),
        ));
    }
    fn find(value: &serde_json::Value, key: &str) -> Option<String> {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(token) = map.get(key).and_then(|t| t.get("token")) {
                    return token.as_str().map(str::to_owned);
                }
                map.values().find_map(|v| find(v, key))
            }
            serde_json::Value::Array(list) => list.iter().find_map(|v| find(v, key)),
            _ => None,
        }
    }
    let value: serde_json::Value = serde_json::from_str(parked).ok()?;
    Some((find(&value, "accessToken")?, find(&value, "refreshToken")?))
}

/// The raw bytes of the SQLite file and of its rollback journal, if one is there.
fn store_bytes(db: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(db)
        .unwrap_or_else(|e| panic!("the store {} should be readable: {e}", db.display()));
    let mut journal = db.as_os_str().to_owned();
    journal.push("-journal");
    if let Ok(more) = std::fs::read(PathBuf::from(journal)) {
        bytes.extend_from_slice(&more);
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Password,
    Code,
    Token,
}

/// Every password, code and token a test used or learned, with a name for messages (the
/// messages never show the value).
#[derive(Default)]
struct Secrets {
    items: Vec<(Kind, String, String)>,
}

impl Secrets {
    fn add(&mut self, kind: Kind, what: &str, value: &str) {
        assert!(!value.is_empty(), "a {kind:?} ({what}) should not be empty");
        if !self.items.iter().any(|(_, _, v)| v == value) {
            self.items.push((kind, what.to_owned(), value.to_owned()));
        }
    }

    fn password(&mut self, what: &str, value: &str) {
        self.add(Kind::Password, what, value);
    }

    fn code(&mut self, what: &str, value: &str) {
        self.add(Kind::Code, what, value);
    }

    /// Learns the tokens of every session in the store; returns the pairs.
    fn learn_tokens(&mut self, db: &Path) -> Vec<(String, String)> {
        let sessions = store_sessions(db);
        for (access, refresh) in &sessions {
            self.add(Kind::Token, "an access token", access);
            self.add(Kind::Token, "a refresh token", refresh);
        }
        sessions
    }

    fn of(&self, kinds: &[Kind]) -> Vec<(String, String)> {
        self.items
            .iter()
            .filter(|(k, _, _)| kinds.contains(k))
            .map(|(_, what, v)| (what.clone(), v.clone()))
            .collect()
    }
}

/// No secret in anything the browser ever received.
fn assert_browser_never_saw(browser: &Browser, secrets: &Secrets) {
    let all = secrets.of(&[Kind::Password, Kind::Code, Kind::Token]);
    for received in browser.received() {
        for (what, value) in &all {
            let value = value.as_bytes();
            for (name, header) in &received.headers {
                assert!(
                    !contains(header, value),
                    "the browser should never receive {what}; the answer to {} ({}) carried it in header {name}",
                    received.request,
                    received.status
                );
            }
            assert!(
                !contains(&received.body, value),
                "the browser should never receive {what}; the answer to {} ({}) carried it in its body",
                received.request,
                received.status
            );
        }
    }
}

/// Every answer is kept by no cache, and every page refuses to be framed by another site
/// (no clickjacking of the sign-in form).
fn assert_private_and_unframed(browser: &Browser) {
    for received in browser.received() {
        assert_eq!(
            received.header("cache-control").as_deref(),
            Some("no-store"),
            "the answer to {} ({}) should say Cache-Control: no-store",
            received.request,
            received.status
        );
        let html = received
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/html"));
        if html {
            assert_eq!(
                received.header("content-security-policy").as_deref(),
                Some("frame-ancestors 'none'"),
                "the page answering {} ({}) should forbid framing",
                received.request,
                received.status
            );
        }
    }
}

/// None of `kinds` of the secrets in the SQLite file's bytes.
fn assert_store_lacks(db: &Path, secrets: &Secrets, kinds: &[Kind], after: &str) {
    let bytes = store_bytes(db);
    for (what, value) in secrets.of(kinds) {
        assert!(
            !contains(&bytes, value.as_bytes()),
            "after {after}, the store file should not hold {what}, but its bytes do"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The rig: simulator, gateway, store, browser
// ---------------------------------------------------------------------------------------

/// A directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!(
            "b2core-gateway-test-{name}-{}-{nanos}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("the temp dir {} should be created: {e}", path.display()));
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[derive(Clone, Copy, Default)]
struct Options {
    secure_cookie: bool,
    flow_ttl: Option<Duration>,
    leeway: Option<Duration>,
}

/// The demo accounts of the contract, password `QAzqw123!`.
fn demo_sim(config: SimConfig) -> Server {
    let mut server = Server::new(config);
    server.add_client(ClientAccount::new("plain@example.com", PASSWORD));
    server.add_client(ClientAccount::new("google@example.com", PASSWORD).with_google());
    server.add_client(
        ClientAccount::new("sms@example.com", PASSWORD)
            .with_phone(SMS_PHONE)
            .with_sms(),
    );
    server.add_client(
        ClientAccount::new("both@example.com", PASSWORD)
            .with_phone(BOTH_PHONE)
            .with_google()
            .with_sms(),
    );
    server.add_client(ClientAccount::new("reset@example.com", PASSWORD).with_forced_reset());
    server
}

/// Fields in drop order: the browser, then the gateway (it closes the store), then the
/// simulator, then the directory.
struct Rig {
    browser: Arc<Browser>,
    gateway: Option<gateway::Gateway>,
    running: Running,
    db: PathBuf,
    options: Options,
    secrets: Secrets,
    _dir: TempDir,
}

impl Rig {
    fn start(name: &str, sim: SimConfig, options: Options) -> Rig {
        let dir = TempDir::new(name);
        let db = dir.0.join("gateway.sqlite3");
        let running = Running::start("127.0.0.1:0", demo_sim(sim), |_| {})
            .unwrap_or_else(|e| panic!("the simulator should start: {e}"));
        let gateway = start_gateway(&running, &db, options);
        let browser = Arc::new(Browser::new(gateway.base_uri(), options.secure_cookie));
        Rig {
            browser,
            gateway: Some(gateway),
            running,
            db,
            options,
            secrets: Secrets::default(),
            _dir: dir,
        }
    }

    /// Stops the gateway and starts a new one with the same configuration and store; the
    /// browser keeps its cookies and goes to the new address.
    fn restart(&mut self) {
        drop(self.gateway.take());
        let gateway = start_gateway(&self.running, &self.db, self.options);
        self.browser.set_base(gateway.base_uri());
        self.gateway = Some(gateway);
    }

    /// `POST /signin` (→ `credentials`), then the credentials.
    async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        let page = self.browser.submit("/signin", &[]).await;
        expect_step(&page, "credentials", "POST /signin");
        assert!(
            self.browser.cookie().is_some(),
            "after POST /signin the browser should hold the gateway's cookie"
        );
        self.secrets.password("a password", password);
        self.browser
            .submit(
                "/signin/credentials",
                &[("email", email), ("password", password)],
            )
            .await
    }

    /// On the `code` page of the SMS method: the code the simulator texted to `phone` is
    /// submitted and signs `email` in.
    async fn sign_in_with_sms_code(&mut self, page: &Page, phone: &str, email: &str, after: &str) {
        expect_step(page, "code", after);
        assert_eq!(
            element_text(&page.html, "method").as_deref(),
            Some("sms"),
            "after {after}, the code page should say <span id=\"method\">sms</span>"
        );
        let code = self
            .running
            .sim()
            .last_code_to(phone)
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("after {after}, the simulator should have texted a code"));
        self.secrets.code("the SMS code", &code);
        let page = self
            .browser
            .submit("/signin/code", &[("code", &code)])
            .await;
        self.expect_signed_in(&page, email, "the SMS code").await;
    }

    /// On `signed-in`: the page names the account, `/api/whoami` answers its email, and the
    /// store holds its session (whose tokens the secrets learn).
    async fn expect_signed_in(&mut self, page: &Page, email: &str, after: &str) {
        expect_step(page, "signed-in", after);
        assert_eq!(
            element_text(&page.html, "email").as_deref(),
            Some(email),
            "after {after}: the signed-in page should show <span id=\"email\">{email}</span>"
        );
        assert!(
            page.html.contains("id=\"call-api\""),
            "after {after}: the signed-in page should have the button id=\"call-api\""
        );
        let (status, got, body) = self.browser.whoami().await;
        assert_eq!(
            (status, got.as_deref()),
            (200, Some(email)),
            "after {after}: GET /api/whoami should answer 200 {{\"email\":\"{email}\"}}; got {status} {body}"
        );
        let sessions = self.secrets.learn_tokens(&self.db);
        assert_eq!(
            sessions.len(),
            1,
            "after {after}: the store should hold exactly one session (with its tokens)"
        );
        // The scan can see: the session's token is in the file while it is live.
        assert!(
            contains(&store_bytes(&self.db), sessions[0].0.as_bytes()),
            "after {after}: the store file should hold the live session's access token (the scan's control)"
        );
    }

    /// The scan every test ends with. `signed_out`: the store must hold no token either.
    fn finish(&self, signed_out: bool) {
        assert!(
            !self.secrets.items.is_empty(),
            "the test should have learned some secret to scan for"
        );
        assert!(
            !self.browser.received().is_empty(),
            "the browser should have received answers to scan"
        );
        assert_browser_never_saw(&self.browser, &self.secrets);
        assert_private_and_unframed(&self.browser);
        assert_store_lacks(
            &self.db,
            &self.secrets,
            &[Kind::Password, Kind::Code],
            "the last step",
        );
        if signed_out {
            assert_store_lacks(&self.db, &self.secrets, &[Kind::Token], "sign-out");
        }
        let violations: Vec<String> = self
            .running
            .sim()
            .violations()
            .iter()
            .map(|v| format!("{}: {}", v.request, v.reason))
            .collect();
        assert!(
            violations.is_empty(),
            "the gateway should send only requests the simulator accepts as conforming; violations: {violations:?}"
        );
    }
}

fn start_gateway(running: &Running, db: &Path, options: Options) -> gateway::Gateway {
    let upstream = Endpoint::new(&running.base_uri()).expect("the simulator's loopback base URI");
    let mut config = gateway::Config::new(
        upstream,
        format!("{}/_sim/api", running.base_uri()),
        db.to_path_buf(),
    );
    config.secure_cookie = options.secure_cookie;
    if let Some(ttl) = options.flow_ttl {
        config.flow_ttl = ttl;
    }
    if let Some(leeway) = options.leeway {
        config.leeway = leeway;
    }
    gateway::Gateway::start("127.0.0.1:0", config)
        .unwrap_or_else(|e| panic!("the gateway should start: {e}"))
}

/// A six-digit code that is not `right`.
fn wrong_code(right: &str) -> String {
    let n: u32 = right.parse().expect("a six-digit code");
    format!("{:06}", (n + 500_017) % 1_000_000)
}

// ---------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_sign_in_api_and_sign_out() {
    let mut rig = Rig::start("plain", SimConfig::default(), Options::default());
    let browser = Arc::clone(&rig.browser);

    let home = browser.page().await;
    expect_step(&home, "home", "a first GET /");
    assert!(
        browser.cookie().is_none(),
        "a first GET / should set no cookie (one is set when a sign-in starts)"
    );
    let (status, _, body) = browser.whoami().await;
    assert_eq!(
        status, 401,
        "GET /api/whoami without a session should answer 401; got {status} {body}"
    );

    // A wrong password: refused on the same step, with an error.
    rig.secrets.password("the wrong password", WRONG_PASSWORD);
    let page = rig.sign_in("plain@example.com", WRONG_PASSWORD).await;
    expect_step(&page, "credentials", "a wrong password");
    assert!(
        page.error.is_some(),
        "after a wrong password the credentials page should show #error"
    );
    assert_store_lacks(
        &rig.db,
        &rig.secrets,
        &[Kind::Password],
        "the refused password",
    );

    let page = browser
        .submit(
            "/signin/credentials",
            &[("email", "plain@example.com"), ("password", PASSWORD)],
        )
        .await;
    rig.expect_signed_in(&page, "plain@example.com", "the right password")
        .await;
    assert_store_lacks(
        &rig.db,
        &rig.secrets,
        &[Kind::Password],
        "the accepted password",
    );
    let (access, refresh) = store_sessions(&rig.db).remove(0);
    let cookie = browser.cookie().expect("the browser should hold a cookie");

    // Sign-out.
    let page = browser.submit("/signout", &[]).await;
    expect_step(&page, "home", "POST /signout");
    assert!(
        browser.cookies_cleared.load(Ordering::SeqCst) >= 1 && browser.cookie().is_none(),
        "POST /signout should clear the cookie (Max-Age=0)"
    );
    assert!(
        store_rows(&rig.db).is_empty(),
        "after sign-out the store should hold no row; it holds {:?}",
        store_rows(&rig.db)
            .iter()
            .map(|r| &r.kind)
            .collect::<Vec<_>>()
    );
    {
        let sim = rig.running.sim();
        assert!(
            sim.is_revoked(&access) && sim.is_revoked(&refresh),
            "after sign-out the upstream access and refresh tokens should be revoked"
        );
    }
    let (status, _, body) = browser.whoami().await;
    assert_eq!(
        status, 401,
        "GET /api/whoami after sign-out should answer 401; got {status} {body}"
    );
    let error = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned));
    assert_eq!(
        error.as_deref(),
        Some("not signed in"),
        "the 401 body should be {{\"error\":\"not signed in\"}}; got {body}"
    );
    // The old cookie, replayed, is no longer a session either.
    browser.put_cookie(&cookie);
    let (status, _, body) = browser.whoami().await;
    assert_eq!(
        status, 401,
        "GET /api/whoami with the signed-out cookie replayed should answer 401; got {status} {body}"
    );
    rig.finish(true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_code_wrong_then_right() {
    let mut rig = Rig::start("google", SimConfig::default(), Options::default());
    let browser = Arc::clone(&rig.browser);
    let page = rig.sign_in("google@example.com", PASSWORD).await;
    expect_step(&page, "code", "the credentials of a Google account");
    assert_eq!(
        element_text(&page.html, "method").as_deref(),
        Some("google"),
        "the code page should say <span id=\"method\">google</span>"
    );
    assert_store_lacks(
        &rig.db,
        &rig.secrets,
        &[Kind::Password],
        "the accepted password",
    );

    let right = rig
        .running
        .sim()
        .google_code("google@example.com", SystemTime::now())
        .expect("the account has Google Authenticator");
    let wrong = wrong_code(&right);
    rig.secrets.code("the wrong Google code", &wrong);
    let page = browser.submit("/signin/code", &[("code", &wrong)]).await;
    expect_step(&page, "code", "a wrong Google code");
    assert!(
        page.error.is_some(),
        "after a wrong code the code page should show #error"
    );
    assert_store_lacks(&rig.db, &rig.secrets, &[Kind::Code], "the refused code");

    let right = rig
        .running
        .sim()
        .google_code("google@example.com", SystemTime::now())
        .expect("the account has Google Authenticator");
    rig.secrets.code("the Google code", &right);
    let page = browser.submit("/signin/code", &[("code", &right)]).await;
    rig.expect_signed_in(&page, "google@example.com", "the right Google code")
        .await;
    rig.finish(false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_code_sign_in() {
    let mut rig = Rig::start("sms", SimConfig::default(), Options::default());
    let page = rig.sign_in("sms@example.com", PASSWORD).await;
    rig.sign_in_with_sms_code(
        &page,
        SMS_PHONE,
        "sms@example.com",
        "the credentials of an SMS account",
    )
    .await;
    rig.finish(false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_methods_choose_sms() {
    let mut rig = Rig::start("both", SimConfig::default(), Options::default());
    let browser = Arc::clone(&rig.browser);
    let page = rig.sign_in("both@example.com", PASSWORD).await;
    expect_step(
        &page,
        "choose-method",
        "the credentials of an account with both methods",
    );
    assert!(
        offers_method(&page.html, "google") && offers_method(&page.html, "sms"),
        "the choose-method page should offer radio buttons name=method value=google and value=sms; got {}",
        page.html
    );
    assert_store_lacks(
        &rig.db,
        &rig.secrets,
        &[Kind::Password],
        "the accepted password",
    );
    let page = browser.submit("/signin/method", &[("method", "sms")]).await;
    rig.sign_in_with_sms_code(&page, BOTH_PHONE, "both@example.com", "choosing sms")
        .await;
    rig.finish(false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_password_reset() {
    let mut rig = Rig::start("reset", SimConfig::default(), Options::default());
    let browser = Arc::clone(&rig.browser);
    let page = rig.sign_in("reset@example.com", PASSWORD).await;
    expect_step(
        &page,
        "reset-required",
        "the credentials of an account with a forced reset",
    );
    assert_store_lacks(
        &rig.db,
        &rig.secrets,
        &[Kind::Password],
        "the accepted password",
    );

    let page = browser.submit("/signin/reset-code", &[]).await;
    expect_step(&page, "reset-code", "POST /signin/reset-code");
    let code = rig
        .running
        .sim()
        .last_code_to("reset@example.com")
        .map(str::to_owned)
        .expect("the simulator should have emailed a reset code");
    rig.secrets.code("the reset code", &code);
    rig.secrets.password("the new password", NEW_PASSWORD);
    let page = browser
        .submit(
            "/signin/reset",
            &[
                ("code", &code),
                ("password", NEW_PASSWORD),
                ("password_confirmation", NEW_PASSWORD),
            ],
        )
        .await;
    expect_step(&page, "password-changed", "the reset code and new password");
    assert_store_lacks(
        &rig.db,
        &rig.secrets,
        &[Kind::Password, Kind::Code],
        "the accepted reset",
    );

    let page = rig.sign_in("reset@example.com", NEW_PASSWORD).await;
    rig.expect_signed_in(
        &page,
        "reset@example.com",
        "signing in with the new password",
    )
    .await;
    rig.finish(false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_wait_then_retry() {
    let mut rig = Rig::start("wait", SimConfig::default(), Options::default());
    let browser = Arc::clone(&rig.browser);
    rig.running.throttle_next("POST /api/v2/my/signin", "1");
    let page = rig.sign_in("plain@example.com", PASSWORD).await;
    expect_step(&page, "wait", "credentials answered 429 Retry-After: 1");
    let seconds: u64 = element_text(&page.html, "wait-seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "the wait page should have <span id=\"wait-seconds\">N</span>; got {}",
                page.html
            )
        });
    assert!(
        (1..=2).contains(&seconds),
        "after Retry-After: 1 the wait page should say 1 (or 2) seconds; got {seconds}"
    );
    assert!(
        page.html.contains("id=\"retry-at\""),
        "the wait page should have <time id=\"retry-at\">"
    );
    assert!(
        page.html.contains("http-equiv=\"refresh\""),
        "the wait page should have <meta http-equiv=\"refresh\">"
    );
    let waited_from = Instant::now();

    let page = browser.submit("/retry", &[]).await;
    expect_step(&page, "wait", "POST /retry before the time is up");

    tokio::time::sleep(
        (Duration::from_secs(seconds) + Duration::from_millis(150))
            .saturating_sub(waited_from.elapsed()),
    )
    .await;
    let page = browser.submit("/retry", &[]).await;
    rig.expect_signed_in(
        &page,
        "plain@example.com",
        "POST /retry once the time was up",
    )
    .await;
    assert_store_lacks(
        &rig.db,
        &rig.secrets,
        &[Kind::Password],
        "the retried credentials were accepted",
    );
    rig.finish(false);
}

/// Starting over while a rate limit holds the credentials (a mistyped password): the held
/// attempt is dropped, from the store too, but the wait stays (the host asked for it);
/// after it, the new wizard asks for credentials again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_over_during_a_wait_drops_the_held_password_and_keeps_the_wait() {
    let mut rig = Rig::start("wait-restart", SimConfig::default(), Options::default());
    let browser = Arc::clone(&rig.browser);
    rig.running.throttle_next("POST /api/v2/my/signin", "2");
    rig.secrets
        .password("the mistyped password", WRONG_PASSWORD);
    let page = rig.sign_in("plain@example.com", WRONG_PASSWORD).await;
    expect_step(&page, "wait", "credentials answered 429 Retry-After: 2");
    let waited_from = Instant::now();
    assert!(
        contains(&store_bytes(&rig.db), WRONG_PASSWORD.as_bytes()),
        "while the wait holds the attempt, the store holds its password (the scan's control)"
    );

    let page = browser.submit("/signin", &[]).await;
    expect_step(&page, "wait", "starting over during the wait");
    assert_store_lacks(
        &rig.db,
        &rig.secrets,
        &[Kind::Password],
        "starting over dropped the held attempt",
    );

    tokio::time::sleep(Duration::from_millis(2150).saturating_sub(waited_from.elapsed())).await;
    let page = browser.submit("/retry", &[]).await;
    expect_step(&page, "credentials", "POST /retry once the wait was over");
    rig.secrets.password("the password", PASSWORD);
    let page = browser
        .submit(
            "/signin/credentials",
            &[("email", "plain@example.com"), ("password", PASSWORD)],
        )
        .await;
    rig.expect_signed_in(&page, "plain@example.com", "the right password")
        .await;
    rig.finish(false);
}

/// The registration link the host emails is on the gateway's own address: a request's
/// `Host` header (whoever sends it chooses it) must not make the host email a link to
/// another site.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_link_is_the_gateways_whatever_the_host_header() {
    let rig = Rig::start("signup-link", SimConfig::default(), Options::default());
    let base = rig.browser.base.lock().unwrap().clone();
    rig.running.capture_next("POST /api/v2/my/signup/wizard");
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("a reqwest client")
        .post(format!("{base}/signup"))
        .header("host", "evil.example")
        .send()
        .await
        .expect("the gateway should answer");
    assert_eq!(
        response.status(),
        303,
        "POST /signup should start the sign-up and send the browser to GET /"
    );
    let body = rig
        .running
        .captured("POST /api/v2/my/signup/wizard")
        .expect("the gateway should have started the sign-up wizard upstream");
    let body: serde_json::Value =
        serde_json::from_slice(&body).expect("the wizard request's body should be JSON");
    assert_eq!(
        body["url"],
        format!("{base}/register/{{registration}}/{{code}}"),
        "the registration link template should be on the gateway's address, not the Host header's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_then_sign_in() {
    let mut rig = Rig::start("signup", SimConfig::default(), Options::default());
    let browser = Arc::clone(&rig.browser);
    let page = browser.submit("/signup", &[]).await;
    expect_step(&page, "signup-form", "POST /signup");
    assert!(
        browser.cookie().is_some(),
        "after POST /signup the browser should hold the gateway's cookie"
    );
    rig.secrets
        .password("the sign-up password", SIGNUP_PASSWORD);
    let page = browser
        .submit(
            "/signup/form",
            &[
                ("email", "new@example.com"),
                ("password", SIGNUP_PASSWORD),
                ("password_confirmation", SIGNUP_PASSWORD),
                ("given_name", "Ada"),
                ("family_name", "Lovelace"),
                ("country_code", "GB"),
            ],
        )
        .await;
    expect_step(&page, "signup-done", "the sign-up form");
    assert_store_lacks(
        &rig.db,
        &rig.secrets,
        &[Kind::Password],
        "the accepted sign-up",
    );
    let page = rig.sign_in("new@example.com", SIGNUP_PASSWORD).await;
    rig.expect_signed_in(&page, "new@example.com", "signing in as the new account")
        .await;
    rig.finish(false);
}

// The pages do not say whether a refresh revokes the old access token: the calls still on
// their way with it must not fail either way.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_api_calls_across_refresh_host_revokes_old_access() {
    fifty_concurrent_api_calls_across_refresh(Dialect::PAGES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_api_calls_across_refresh_old_access_outlives_it() {
    let dialect = Dialect::named("access-outlives-refresh").expect("a named dialect");
    fifty_concurrent_api_calls_across_refresh(dialect).await;
}

async fn fifty_concurrent_api_calls_across_refresh(dialect: Dialect) {
    const TASKS: usize = 50;
    const RUN: Duration = Duration::from_secs(5);
    let sim = SimConfig {
        access_lifetime: Duration::from_secs(3),
        dialect,
        ..SimConfig::default()
    };
    let options = Options {
        leeway: Some(Duration::from_secs(1)),
        ..Options::default()
    };
    let mut rig = Rig::start("concurrent", sim, options);
    let browser = Arc::clone(&rig.browser);
    let page = rig.sign_in("plain@example.com", PASSWORD).await;
    let signed_in_at = Instant::now();
    rig.expect_signed_in(&page, "plain@example.com", "the credentials")
        .await;
    let (first_access, first_refresh) = store_sessions(&rig.db).remove(0);

    // Watches the session row: every token pair it holds during the run.
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = Arc::clone(&stop);
        let db = rig.db.clone();
        std::thread::spawn(move || {
            let mut seen: Vec<(String, String)> = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                for pair in store_sessions(&db) {
                    if !seen.contains(&pair) {
                        seen.push(pair);
                    }
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            seen
        })
    };

    // 50 tasks, each calling at the same instants every 100 ms until the end of the run.
    let start = tokio::time::Instant::now() + Duration::from_millis(20);
    let end = signed_in_at + RUN;
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let browser = Arc::clone(&browser);
        tasks.push(tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(start, Duration::from_millis(100));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut calls = Vec::new();
            while Instant::now() < end {
                ticks.tick().await;
                let at = signed_in_at.elapsed();
                let (status, email, body) = browser.whoami().await;
                calls.push((at, status, email, body));
            }
            calls
        }));
    }
    let mut failures = Vec::new();
    let mut total = 0;
    for task in tasks {
        let calls = task.await.expect("a calling task should not panic");
        total += calls.len();
        let late = calls
            .iter()
            .filter(|(at, ..)| *at >= Duration::from_millis(3200))
            .count();
        assert!(
            late >= 2,
            "each task should make at least 2 calls after the first access token expired (3 s); one made {late}"
        );
        failures.extend(
            calls
                .into_iter()
                .filter(|(_, status, email, _)| {
                    *status != 200 || email.as_deref() != Some("plain@example.com")
                })
                .map(|(at, status, _, body)| format!("at {at:?}: {status} {body}")),
        );
    }
    stop.store(true, Ordering::SeqCst);
    let seen = watcher.join().expect("the store watcher should not panic");
    // Shown when the test fails: how the run went.
    eprintln!(
        "{total} calls, {} failed; {} token pairs seen in the session row",
        failures.len(),
        seen.len()
    );

    assert!(
        failures.is_empty(),
        "every one of the {total} /api/whoami calls should be 200 with the account's email; {} failed, first: {:?}",
        failures.len(),
        failures.iter().take(5).collect::<Vec<_>>()
    );
    assert!(
        total >= TASKS * 10,
        "50 tasks calling every 100 ms (or as fast as answers come) for about 5 s should make at least 500 calls; made {total}"
    );
    for (access, refresh) in &seen {
        rig.secrets.add(Kind::Token, "an access token", access);
        rig.secrets.add(Kind::Token, "a refresh token", refresh);
    }
    let now = rig.secrets.learn_tokens(&rig.db);
    let (last_access, _) = now
        .first()
        .cloned()
        .expect("the session should still be in the store after the run");
    assert_ne!(
        last_access, first_access,
        "the session row's access token should have changed (refreshed) during the run"
    );
    {
        let sim = rig.running.sim();
        assert!(
            sim.is_revoked(&first_refresh),
            "upstream, the first refresh token should have been revoked by a refresh"
        );
        assert_eq!(
            sim.is_revoked(&first_access),
            !dialect.access_outlives_refresh,
            "upstream, the first access token should be revoked by the refresh unless the host lets it outlive the refresh"
        );
    }
    let accesses: Vec<&String> = {
        let mut list: Vec<&String> = Vec::new();
        for (access, _) in &seen {
            if !list.contains(&access) {
                list.push(access);
            }
        }
        list
    };
    assert!(
        (2..=4).contains(&accesses.len()),
        "over about 5 s with 3 s tokens and a 1 s leeway the session should refresh once per ~2 s (2 to 4 access tokens in the row); saw {}",
        accesses.len()
    );
    // The replaced tokens are gone from the file (secure_delete).
    let replaced = Secrets {
        items: seen
            .iter()
            .filter(|(access, _)| **access != last_access)
            .flat_map(|(a, r)| {
                [
                    (Kind::Token, "a replaced access token".to_owned(), a.clone()),
                    (
                        Kind::Token,
                        "a replaced refresh token".to_owned(),
                        r.clone(),
                    ),
                ]
            })
            .collect(),
    };
    assert_store_lacks(&rig.db, &replaced, &[Kind::Token], "the refreshes");
    rig.finish(false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_flow() {
    let mut rig = Rig::start("restart", SimConfig::default(), Options::default());
    let page = rig.sign_in("google@example.com", PASSWORD).await;
    expect_step(&page, "code", "the credentials of a Google account");
    let cookie = rig.browser.cookie();
    let old_base = rig.browser.base.lock().unwrap().clone();

    rig.restart();
    assert_eq!(
        rig.browser.cookie(),
        cookie,
        "the restart should not touch the browser's cookie"
    );
    let new_base = rig.browser.base.lock().unwrap().clone();
    assert_ne!(
        old_base, new_base,
        "the restarted gateway should be a new server (a new port)"
    );
    let page = rig.browser.page().await;
    expect_step(&page, "code", "restarting the gateway at the code step");
    assert_eq!(
        element_text(&page.html, "method").as_deref(),
        Some("google"),
        "after the restart the code page should still say google"
    );
    let code = rig
        .running
        .sim()
        .google_code("google@example.com", SystemTime::now())
        .expect("the account has Google Authenticator");
    rig.secrets.code("the Google code", &code);
    let page = rig.browser.submit("/signin/code", &[("code", &code)]).await;
    rig.expect_signed_in(
        &page,
        "google@example.com",
        "the Google code after the restart",
    )
    .await;
    rig.finish(false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_flow_expires() {
    let options = Options {
        flow_ttl: Some(Duration::from_secs(1)),
        ..Options::default()
    };
    let mut rig = Rig::start("expiry", SimConfig::default(), options);
    let browser = Arc::clone(&rig.browser);
    let page = browser.submit("/signin", &[]).await;
    expect_step(&page, "credentials", "POST /signin");
    let rows = store_rows(&rig.db);
    assert_eq!(
        rows.len(),
        1,
        "a started sign-in should be one row in the store"
    );
    let now_secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    if let Some(expires_at) = rows[0].expires_at {
        assert!(
            (now_secs - 5..=now_secs + 5).contains(&expires_at),
            "with flow_ttl 1 s the row's expires_at should be about now + 1 s (Unix seconds); got {expires_at}, now {now_secs}"
        );
    }

    tokio::time::sleep(Duration::from_secs(2)).await;
    let page = browser.page().await;
    expect_step(&page, "home", "the unfinished sign-in outlived flow_ttl");
    // The contract: an unfinished row lives `flow_ttl` after its last step. It may still
    // be in the file until a sweep deletes it, but only as expired.
    let now_secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    for row in store_rows(&rig.db) {
        assert!(
            row.expires_at.is_some_and(|at| at <= now_secs),
            "once flow_ttl passed, the sign-in's row should be gone or expired; a {} row expires at {:?}, now {now_secs}",
            row.kind,
            row.expires_at
        );
    }
    // Nor does the expired flow go on: its credentials lead home, not to a session.
    rig.secrets
        .password("the password sent to an expired flow", PASSWORD);
    let page = browser
        .submit(
            "/signin/credentials",
            &[("email", "plain@example.com"), ("password", PASSWORD)],
        )
        .await;
    expect_step(&page, "home", "credentials sent to an expired sign-in");
    assert!(
        store_sessions(&rig.db).is_empty(),
        "credentials sent to an expired sign-in should start no session"
    );
    rig.finish(false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_cookie_is_host_prefixed() {
    let options = Options {
        secure_cookie: true,
        ..Options::default()
    };
    let mut rig = Rig::start("secure", SimConfig::default(), options);
    // `Rig::sign_in` checks every Set-Cookie: named __Host-gw, Secure, HttpOnly,
    // SameSite=Strict, Path=/, no Domain.
    let page = rig.sign_in("plain@example.com", PASSWORD).await;
    assert!(
        rig.browser.cookies_set.load(Ordering::SeqCst) >= 1,
        "starting a sign-in should set the __Host-gw cookie"
    );
    rig.expect_signed_in(
        &page,
        "plain@example.com",
        "the credentials (secure cookie)",
    )
    .await;
    let page = rig.browser.submit("/signout", &[]).await;
    expect_step(&page, "home", "POST /signout");
    assert!(
        rig.browser.cookies_cleared.load(Ordering::SeqCst) >= 1,
        "sign-out should clear the __Host-gw cookie (Max-Age=0, with Secure and Path=/)"
    );
    rig.finish(true);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_file_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mut rig = Rig::start("mode", SimConfig::default(), Options::default());
    let page = rig.browser.submit("/signin", &[]).await;
    expect_step(&page, "credentials", "POST /signin");
    let mode = std::fs::metadata(&rig.db)
        .unwrap_or_else(|e| panic!("the store file should exist: {e}"))
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the store file should be owner-only (0600); got {:o}",
        mode & 0o777
    );
    rig.secrets.password("the demo password", PASSWORD);
    rig.finish(false);
}
