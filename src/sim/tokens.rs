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

/// One sign-in's chain of token pairs; only the latest pair is live.
#[derive(Clone)]
struct Session {
    realm: Realm,
    subject: u64,
    access: Issued,
    refresh: Issued,
    /// The refresh limit, per session.
    limiter: Limiter,
}

/// Every live session, and every revoked token.
#[derive(Clone, Default)]
pub(crate) struct Sessions {
    sessions: BTreeMap<u64, Session>,
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

    /// Revokes a session's live pair and forgets the session.
    fn end(&mut self, id: u64) {
        if let Some(session) = self.sessions.remove(&id) {
            self.revoke_pair(&session);
        }
    }

    fn revoke_pair(&mut self, session: &Session) {
        self.by_access.remove(&session.access.token);
        self.by_refresh.remove(&session.refresh.token);
        self.revoked.insert(session.access.token.clone());
        self.revoked.insert(session.refresh.token.clone());
    }

    fn install(&mut self, id: u64, session: Session) {
        self.by_access.insert(session.access.token.clone(), id);
        self.by_refresh.insert(session.refresh.token.clone(), id);
        self.sessions.insert(id, session);
    }
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
        if let Some(old) = self.sessions.sessions.remove(&id) {
            self.sessions.revoke_pair(&old);
        }
        self.sessions.install(
            id,
            Session {
                realm,
                subject,
                access,
                refresh,
                limiter,
            },
        );
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
        let mut values = request.headers().get_all(AUTHORIZATION).iter();
        let bearer = match (values.next(), values.next()) {
            (Some(value), None) => value.to_str().ok().and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                (scheme.eq_ignore_ascii_case("Bearer") && !token.trim().is_empty())
                    .then(|| token.trim().to_owned())
            }),
            _ => None,
        };
        let Some(token) = bearer else {
            return Err(Fail::violation(
                401,
                "missing or malformed header `Authorization: Bearer <access token>`",
            ));
        };
        let Some(&id) = self.sessions.by_access.get(&token) else {
            return Err(if self.sessions.revoked.contains(&token) {
                Fail::refused(401, "access token revoked")
            } else {
                Fail::refused(401, "unknown access token")
            });
        };
        let Some(session) = self.sessions.sessions.get(&id) else {
            return Err(Fail::refused(401, "unknown access token"));
        };
        if session.realm != realm {
            return Err(Fail::refused(401, "unknown access token"));
        }
        if now >= session.access.expires_at {
            return Err(Fail::refused(401, "access token expired"));
        }
        self.sessions.end(id);
        Ok(Reply::empty(200))
    }
}
