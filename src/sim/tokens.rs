//! Token pairs: issuing, refreshing (rotation), signing out, revocation.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use http::header::AUTHORIZATION;
use http::Request;
use serde::Serialize;

use super::limits::{self, Limiter};
use super::requests;
use super::{Fail, Outcome, RefreshAnswer, Reply, Server};
use crate::time::format_rfc3339;

/// `{"typ":"JWT","alg":"RS256"}`, the header of the page's example tokens.
const JWT_HEADER: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9";

/// Which API a session belongs to; tokens of one are unknown to the other.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Realm {
    /// The B2Core UI (`/api/v2/my/...`).
    Client,
    /// The Back Office (`/api/v2/...`).
    Staff,
}

#[derive(Clone)]
struct Issued {
    token: String,
    expires_at: SystemTime,
}

/// One sign-in's chain of token pairs; only the latest pair is live, but for the access
/// tokens of `earlier_access`.
#[derive(Clone)]
struct Session {
    realm: Realm,
    subject: u64,
    access: Issued,
    refresh: Issued,
    /// The access tokens of the session's earlier pairs, oldest first, kept live (until
    /// their own expiry) by a refresh under `Dialect::access_outlives_refresh`; always
    /// empty otherwise. Expired ones stay (reported expired, not unknown) until the
    /// session ends.
    earlier_access: Vec<Issued>,
    /// The refresh limit, per session.
    limiter: Limiter,
}

/// Every live session, and every revoked token.
#[derive(Clone, Default)]
pub(crate) struct Sessions {
    sessions: BTreeMap<u64, Session>,
    /// Every access token of a live session (its pair's and its `earlier_access`).
    by_access: BTreeMap<String, u64>,
    by_refresh: BTreeMap<String, u64>,
    revoked: BTreeSet<String>,
    next_id: u64,
}

impl Sessions {
    pub(crate) fn len(&self) -> usize {
        self.sessions.len()
    }

    pub(crate) fn is_revoked(&self, token: &str) -> bool {
        self.revoked.contains(token)
    }

    fn is_taken(&self, token: &str) -> bool {
        self.by_access.contains_key(token)
            || self.by_refresh.contains_key(token)
            || self.revoked.contains(token)
    }

    /// Revokes every token a session holds (its pair and its earlier access tokens) and
    /// forgets the session.
    fn end(&mut self, id: u64) {
        if let Some(session) = self.sessions.remove(&id) {
            self.by_refresh.remove(&session.refresh.token);
            self.revoked.insert(session.refresh.token);
            for access in session.earlier_access.into_iter().chain([session.access]) {
                self.by_access.remove(&access.token);
                self.revoked.insert(access.token);
            }
        }
    }

    /// Gives session `id` the pair `access`, `refresh` and the refresh limiter `limiter`.
    /// The old refresh token is revoked; the old access token too, unless
    /// `keep_old_access` keeps it live (until its own expiry) among the session's earlier
    /// access tokens.
    fn rotate(
        &mut self,
        id: u64,
        access: Issued,
        refresh: Issued,
        limiter: Limiter,
        keep_old_access: bool,
    ) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        self.by_access.insert(access.token.clone(), id);
        self.by_refresh.insert(refresh.token.clone(), id);
        let old_access = std::mem::replace(&mut session.access, access);
        let old_refresh = std::mem::replace(&mut session.refresh, refresh);
        session.limiter = limiter;
        self.by_refresh.remove(&old_refresh.token);
        self.revoked.insert(old_refresh.token);
        if keep_old_access {
            session.earlier_access.push(old_access);
        } else {
            self.by_access.remove(&old_access.token);
            self.revoked.insert(old_access.token);
        }
    }

    /// The session whose live access token of `realm` `token` is at `now`, and its id; or
    /// why it is none, checked in this order.
    fn live_access(
        &self,
        token: &str,
        realm: Realm,
        now: SystemTime,
    ) -> Result<(u64, &Session), AccessRefusal> {
        let Some(&id) = self.by_access.get(token) else {
            return Err(if self.revoked.contains(token) {
                AccessRefusal::Revoked
            } else {
                AccessRefusal::Unknown
            });
        };
        let session = self.sessions.get(&id).ok_or(AccessRefusal::Unknown)?;
        if session.realm != realm {
            return Err(AccessRefusal::OtherRealm);
        }
        let expires_at = if session.access.token == token {
            session.access.expires_at
        } else {
            session
                .earlier_access
                .iter()
                .find(|earlier| earlier.token == token)
                .ok_or(AccessRefusal::Unknown)?
                .expires_at
        };
        if now >= expires_at {
            return Err(AccessRefusal::Expired);
        }
        Ok((id, session))
    }

    fn install(&mut self, id: u64, session: Session) {
        self.by_access.insert(session.access.token.clone(), id);
        self.by_refresh.insert(session.refresh.token.clone(), id);
        self.sessions.insert(id, session);
    }
}

/// Why a token is not a live access token of a realm.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum AccessRefusal {
    /// Never issued as an access token (a refresh token, say).
    Unknown,
    /// Revoked by a refresh or a sign-out.
    Revoked,
    /// A live token of the other realm.
    OtherRealm,
    /// Issued, not revoked, but `now` is at or past its `expiresAt`.
    Expired,
}

/// `{accessToken, refreshToken}` as written (fields in key order, as everywhere in the
/// simulator's answers).
#[derive(Serialize)]
pub(crate) struct PairJson {
    #[serde(rename = "accessToken")]
    access_token: TokenJson,
    #[serde(rename = "refreshToken")]
    refresh_token: TokenJson,
}

/// The client refresh answer in a wizard envelope (`RefreshAnswer::Envelope*`), fields in
/// key order. `uuid` and `workflow`: `None` leaves the member out, `Some(None)` is `null`.
#[derive(Serialize)]
struct RefreshEnvelope {
    code: u16,
    data: PairJson,
    done: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    uuid: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    workflow: Option<Option<&'static str>>,
}

#[derive(Serialize)]
struct TokenJson {
    #[serde(rename = "createdAt")]
    created_at: String,
    #[serde(rename = "expiresAt")]
    expires_at: String,
    token: String,
}

/// `now` without its fraction of a second (timestamps look like the pages').
pub(crate) fn floor_secs(now: SystemTime) -> SystemTime {
    match now.duration_since(UNIX_EPOCH) {
        Ok(d) => UNIX_EPOCH + Duration::from_secs(d.as_secs()),
        Err(_) => now,
    }
}

/// `2024-04-22T11:07:24+00:00`.
pub(crate) fn timestamp(at: SystemTime) -> Result<String, Fail> {
    format_rfc3339(at).map_err(|_| Fail::Internal {
        issue: "time cannot be written as RFC 3339",
    })
}

fn unix_secs(at: SystemTime) -> i64 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

impl Server {
    /// One JWT-looking token: the page's header, a payload with times and subject, and a
    /// random "signature". Only visible ASCII.
    fn mint(
        &mut self,
        kind: &str,
        subject: u64,
        created: SystemTime,
        expires: SystemTime,
    ) -> String {
        loop {
            // Fields in key order: the same bytes as a `json!` object, without building one.
            #[derive(serde::Serialize)]
            struct Payload<'a> {
                exp: i64,
                iat: i64,
                iss: &'a str,
                jti: String,
                sub: String,
                typ: &'a str,
            }
            let payload = Payload {
                exp: unix_secs(expires),
                iat: unix_secs(created),
                iss: "b2core-auth-sim",
                jti: self.rng.uuid(),
                sub: subject.to_string(),
                typ: kind,
            };
            let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap_or_default());
            let signature = self.rng.base64url(96);
            let token = format!("{JWT_HEADER}.{payload}.{signature}");
            if !self.sessions.is_taken(&token) {
                return token;
            }
        }
    }

    /// A new pair at `now` (as JSON `{accessToken, refreshToken}`) and its session parts.
    fn new_pair(
        &mut self,
        subject: u64,
        now: SystemTime,
    ) -> Result<(PairJson, Issued, Issued), Fail> {
        let created = floor_secs(now);
        let out_of_range = Fail::Internal {
            issue: "time out of range",
        };
        let access_exp = created
            .checked_add(self.config.access_lifetime)
            .ok_or(out_of_range)?;
        let refresh_exp =
            created
                .checked_add(self.config.refresh_lifetime)
                .ok_or(Fail::Internal {
                    issue: "time out of range",
                })?;
        let (created_text, access_text, refresh_text) = (
            timestamp(created)?,
            timestamp(access_exp)?,
            timestamp(refresh_exp)?,
        );
        let access = self.mint("access", subject, created, access_exp);
        let refresh = self.mint("refresh", subject, created, refresh_exp);
        let json = PairJson {
            access_token: TokenJson {
                created_at: created_text.clone(),
                expires_at: access_text,
                token: access.clone(),
            },
            refresh_token: TokenJson {
                created_at: created_text,
                expires_at: refresh_text,
                token: refresh.clone(),
            },
        };
        Ok((
            json,
            Issued {
                token: access,
                expires_at: access_exp,
            },
            Issued {
                token: refresh,
                expires_at: refresh_exp,
            },
        ))
    }

    /// Starts a session and returns its first pair as `{accessToken, refreshToken}`.
    pub(super) fn issue_pair(
        &mut self,
        realm: Realm,
        subject: u64,
        now: SystemTime,
    ) -> Result<PairJson, Fail> {
        let (json, access, refresh) = self.new_pair(subject, now)?;
        let id = self.sessions.next_id;
        self.sessions.next_id = self.sessions.next_id.wrapping_add(1);
        self.sessions.install(
            id,
            Session {
                realm,
                subject,
                access,
                refresh,
                earlier_access: Vec::new(),
                limiter: Limiter::new(limits::REFRESH, None),
            },
        );
        Ok(json)
    }

    /// `POST /api/v2/refresh` and `POST /api/v2/my/refresh`.
    pub(super) fn refresh(
        &mut self,
        realm: Realm,
        body: requests::Refresh,
        now: SystemTime,
    ) -> Outcome {
        let token = body.refresh_token;
        let Some(&id) = self.sessions.by_refresh.get(&token) else {
            return Err(if self.sessions.revoked.contains(&token) {
                Fail::refused(401, "refresh token revoked")
            } else {
                Fail::refused(401, "unknown refresh token")
            });
        };
        let Some(session) = self.sessions.sessions.get(&id) else {
            return Err(Fail::refused(401, "unknown refresh token"));
        };
        if session.realm != realm {
            return Err(Fail::refused(401, "unknown refresh token"));
        }
        if now >= session.refresh.expires_at {
            return Err(Fail::refused(401, "refresh token expired"));
        }
        let subject = session.subject;
        let mut limiter = session.limiter.clone();
        limiter
            .attempt(now)
            .map_err(|retry_after| Fail::Limited { retry_after })?;
        let (json, access, refresh) = self.new_pair(subject, now)?;
        let keep_old_access = self.config.dialect.access_outlives_refresh;
        self.sessions
            .rotate(id, access, refresh, limiter, keep_old_access);
        // The Back Office page documents the bare pair; the client answer is the dialect's.
        let form = match realm {
            Realm::Staff => RefreshAnswer::Bare,
            Realm::Client => self.config.dialect.refresh_answer,
        };
        let (uuid, workflow) = match form {
            RefreshAnswer::Bare => return Ok(Reply::json(200, &json)),
            // Drawn after the pair, so the tokens are those of every other dialect.
            RefreshAnswer::Envelope => (Some(Some(self.fresh_uuid())), Some(Some("Terminate"))),
            RefreshAnswer::EnvelopeNullUuid => (Some(None), Some(None)),
            RefreshAnswer::EnvelopeNoUuid => (None, None),
        };
        Ok(Reply::json(
            200,
            &RefreshEnvelope {
                code: 200,
                data: json,
                done: true,
                uuid,
                workflow,
            },
        ))
    }

    /// `POST /api/v2/signout` and `POST /api/v2/my/signout`.
    pub(super) fn sign_out(
        &mut self,
        realm: Realm,
        request: &Request<Vec<u8>>,
        now: SystemTime,
    ) -> Outcome {
        let Some(token) = bearer_token(request) else {
            return Err(Fail::violation(
                401,
                "missing or malformed header `Authorization: Bearer <access token>`",
            ));
        };
        let (id, _) = self
            .sessions
            .live_access(token, realm, now)
            .map_err(|refusal| {
                Fail::refused(
                    401,
                    match refusal {
                        // Tokens of one realm are unknown to the other.
                        AccessRefusal::Unknown | AccessRefusal::OtherRealm => {
                            "unknown access token"
                        }
                        AccessRefusal::Revoked => "access token revoked",
                        AccessRefusal::Expired => "access token expired",
                    },
                )
            })?;
        self.sessions.end(id);
        Ok(Reply::empty(200))
    }

    /// The email of the client account whose live access token the request carries in its
    /// one `Authorization: Bearer <token>` header (read exactly as the sign-out endpoints
    /// read it): a stand-in for a resource API, so that a program in front of the simulator
    /// (a gateway, say) can show that it sends a live client token upstream. The simulator
    /// has no such endpoint ([`handle`](Self::handle) answers 404): the vendor's pages
    /// document only authentication.
    ///
    /// Live means issued to the B2Core UI (a client sign-in, or a refresh of one), neither
    /// revoked (by a sign-out, or by a refresh unless the dialect's
    /// [`access_outlives_refresh`](super::Dialect::access_outlives_refresh) keeps it) nor
    /// expired: valid strictly before its `expiresAt`, as everywhere in the simulator. The
    /// email is the account's as it was added or signed up. Only the headers of `request`
    /// are read (not its method, URI or body); nothing is recorded (never a
    /// [`Violation`](super::Violation)) and nothing changes.
    ///
    /// # Errors
    ///
    /// A short reason, which never quotes the token: `missing or malformed Authorization
    /// header` (none, more than one, not `Bearer`, or no token after it), `unknown access
    /// token` (never issued as an access token), `access token revoked`, `access token
    /// expired`, `not a client token` (a Back Office token, expired or not), `no such client
    /// account` (the account was replaced by [`add_client`](Self::add_client) with the same
    /// email since the token was issued: the new account has a new id).
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use b2core_auth::sim::{ClientAccount, Server, SimConfig};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut server = Server::new(SimConfig::default());
    /// server.add_client(ClientAccount::new("username@example.com", "QAzqw123!"));
    /// let now = UNIX_EPOCH + Duration::from_secs(1_713_784_044); // 2024-04-22T11:07:24Z
    ///
    /// let wizard = http::Request::get("https://host.name/api/v2/my/signin/wizard")
    ///     .header("Accept", "application/json")
    ///     .header("Content-Type", "application/json")
    ///     .body(Vec::new())?;
    /// let body: serde_json::Value = serde_json::from_slice(server.handle(&wizard, now).body())?;
    /// let sign_in = serde_json::json!({
    ///     "uuid": body["uuid"],
    ///     "email": "username@example.com",
    ///     "password": "QAzqw123!",
    ///     "device_fingerprint": "eyJ1c2VyX2FnZW50IjoiY3VybCJ9", // {"user_agent":"curl"}
    /// });
    /// let request = http::Request::post("https://host.name/api/v2/my/signin")
    ///     .header("Accept", "application/json")
    ///     .header("Content-Type", "application/json")
    ///     .body(serde_json::to_vec(&sign_in)?)?;
    /// let body: serde_json::Value = serde_json::from_slice(server.handle(&request, now).body())?;
    /// let access = body["data"]["accessToken"]["token"].as_str().ok_or("a token")?;
    ///
    /// // What a gateway would send to the API behind it.
    /// let upstream = http::Request::get("https://api.example/anything")
    ///     .header("Authorization", format!("Bearer {access}"))
    ///     .body(Vec::new())?;
    /// assert_eq!(server.bearer_holder(&upstream, now), Ok("username@example.com"));
    /// // The access token lives 15 minutes.
    /// let expired = now + Duration::from_secs(15 * 60);
    /// assert_eq!(server.bearer_holder(&upstream, expired), Err("access token expired"));
    /// let anonymous = http::Request::get("https://api.example/anything").body(Vec::new())?;
    /// assert_eq!(
    ///     server.bearer_holder(&anonymous, now),
    ///     Err("missing or malformed Authorization header")
    /// );
    /// assert!(server.violations().is_empty());
    /// # Ok(()) }
    /// ```
    pub fn bearer_holder(
        &self,
        request: &Request<Vec<u8>>,
        now: SystemTime,
    ) -> Result<&str, &'static str> {
        let token = bearer_token(request).ok_or("missing or malformed Authorization header")?;
        let (_, session) = self
            .sessions
            .live_access(token, Realm::Client, now)
            .map_err(|refusal| match refusal {
                AccessRefusal::Unknown => "unknown access token",
                AccessRefusal::Revoked => "access token revoked",
                AccessRefusal::OtherRealm => "not a client token",
                AccessRefusal::Expired => "access token expired",
            })?;
        self.clients
            .values()
            .find(|record| record.id == session.subject)
            .map(|record| record.account.email.as_str())
            .ok_or("no such client account")
    }
}

/// The token of a request's one `Authorization: Bearer <token>` header (scheme
/// case-insensitive, the token trimmed); `None` if there is no such header, more than one,
/// another scheme or no token.
fn bearer_token<B>(request: &Request<B>) -> Option<&str> {
    let mut values = request.headers().get_all(AUTHORIZATION).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => {
            let (scheme, token) = value.to_str().ok()?.split_once(' ')?;
            let token = token.trim();
            (scheme.eq_ignore_ascii_case("Bearer") && !token.is_empty()).then_some(token)
        }
        _ => None,
    }
}
