//! Back Office sign-in with email 2FA (`spec/backoffice-auth.txt`).

use std::time::SystemTime;

use serde::Serialize;

use super::accounts::email_key;
use super::dialect::Null;
use super::limits::{self, Limiter};
use super::requests;
use super::tokens::{floor_secs, timestamp, PairJson, Realm};
use super::{Channel, Fail, Outcome, Reply, Server};

/// The sign-in answer without 2FA (fields in key order). `2faDetails` is left out, or
/// `null` (`Dialect::null_optionals`).
#[derive(Serialize)]
struct SignedIn {
    #[serde(rename = "2faDetails", skip_serializing_if = "Option::is_none")]
    tfa_details: Option<Null>,
    #[serde(rename = "2faRequired")]
    tfa_required: bool,
    #[serde(flatten)]
    pair: PairJson,
}

/// The sign-in answer with email 2FA (fields in key order). The tokens are left out, or
/// `null` (`Dialect::null_optionals`).
#[derive(Serialize)]
struct TfaAnswer<'a> {
    #[serde(rename = "2faDetails")]
    tfa_details: TfaDetails<'a>,
    #[serde(rename = "2faRequired")]
    tfa_required: bool,
    #[serde(rename = "accessToken", skip_serializing_if = "Option::is_none")]
    access_token: Option<Null>,
    #[serde(rename = "refreshToken", skip_serializing_if = "Option::is_none")]
    refresh_token: Option<Null>,
}

#[derive(Serialize)]
struct TfaDetails<'a> {
    #[serde(rename = "expiresAt")]
    expires_at: &'a str,
    provider: &'a str,
    token: &'a str,
}

/// An issued Back Office 2FA token.
#[derive(Clone)]
pub(crate) struct Pending {
    /// The staff account's email key.
    account: String,
    code: String,
    expires_at: SystemTime,
    used: bool,
}

impl Server {
    /// `POST /api/v2/signin`.
    pub(super) fn staff_sign_in(
        &mut self,
        body: requests::StaffSignIn,
        now: SystemTime,
    ) -> Outcome {
        let key = email_key(&body.email);
        self.staff_sign_in_limits
            .entry(key.clone())
            .or_insert_with(|| Limiter::new(limits::STAFF_SIGN_IN, None))
            .attempt(now)
            .map_err(|retry_after| Fail::Limited { retry_after })?;
        let account = match self.staff.get(&key) {
            Some(record) if record.account.password == body.password => record.clone(),
            _ => return Err(Fail::refused(400, "invalid email or password")),
        };
        if !account.account.email_2fa {
            let pair = self.issue_pair(Realm::Staff, account.id, now)?;
            return Ok(Reply::json(
                200,
                &SignedIn {
                    tfa_details: self.config.dialect.absent_or_null(),
                    tfa_required: false,
                    pair,
                },
            ));
        }
        let expires_at = floor_secs(now)
            .checked_add(self.config.tfa_token_lifetime)
            .ok_or(Fail::Internal {
                issue: "time out of range",
            })?;
        let expires_text = timestamp(expires_at)?;
        let token = loop {
            let candidate = self.rng.uuid();
            if !self.staff_2fa.contains_key(&candidate) && !self.flows.contains_key(&candidate) {
                break candidate;
            }
        };
        let code = self.send_code(Channel::Email, &account.account.email);
        let reply = Reply::json(
            200,
            &TfaAnswer {
                tfa_details: TfaDetails {
                    expires_at: &expires_text,
                    provider: "email",
                    token: &token,
                },
                tfa_required: true,
                access_token: self.config.dialect.absent_or_null(),
                refresh_token: self.config.dialect.absent_or_null(),
            },
        );
        self.staff_2fa.insert(
            token,
            Pending {
                account: key,
                code,
                expires_at,
                used: false,
            },
        );
        Ok(reply)
    }

    /// `POST /api/v2/2fa/confirm`.
    pub(super) fn staff_confirm(&mut self, body: requests::Confirm, now: SystemTime) -> Outcome {
        let Some(pending) = self.staff_2fa.get(&body.token) else {
            return Err(Fail::refused(401, "unknown 2FA token"));
        };
        if pending.used {
            return Err(Fail::refused(401, "2FA token already used"));
        }
        if now >= pending.expires_at {
            return Err(Fail::refused(401, "2FA token expired"));
        }
        let account = pending.account.clone();
        let code_ok = pending.code == body.code;
        self.staff_confirm_limits
            .entry(account.clone())
            .or_insert_with(|| Limiter::new(limits::STAFF_CONFIRM, None))
            .attempt(now)
            .map_err(|retry_after| Fail::Limited { retry_after })?;
        if !code_ok {
            return Err(Fail::refused(400, "invalid verification code"));
        }
        let Some(subject) = self.staff.get(&account).map(|r| r.id) else {
            return Err(Fail::refused(401, "the account no longer exists"));
        };
        let pair = self.issue_pair(Realm::Staff, subject, now)?;
        if let Some(pending) = self.staff_2fa.get_mut(&body.token) {
            pending.used = true;
        }
        Ok(Reply::json(200, &pair))
    }
}
