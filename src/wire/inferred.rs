//! **Inferred bodies.** The vendor documents these paths but not their bodies. Every
//! field name here is our inference, kept in this one place so that it can be corrected
//! in one edit when the vendor publishes the real shapes.
//!
//! - `POST /api/v2/my/signin/password/restore` — modelled as a wizard step carrying the
//!   flow's `uuid`; the server sends a verification code to the client's email.
//! - `POST /api/v2/my/signin/password/reset` — the `uuid`, the emailed `code`, and the new
//!   password twice (`password`, `password_confirmation`, as sign-up names them).
//! - `POST /api/v2/my/refresh` — `{"refreshToken"}`, as the Back Office refresh
//!   (see [`super::RefreshRequest`]); the answer is read bare or inside an envelope.
//! - `POST /api/v2/my/signout` — no body, Bearer header, as the Back Office sign-out.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// `POST /api/v2/my/signin/password/restore` (inferred).
#[derive(Debug, Serialize)]
pub(crate) struct PasswordRestoreRequest<'a> {
    pub uuid: &'a str,
}

/// `POST /api/v2/my/signin/password/reset` (inferred).
#[derive(Debug, Serialize)]
pub(crate) struct PasswordResetRequest<'a> {
    pub uuid: &'a str,
    pub code: &'a str,
    pub password: &'a str,
    pub password_confirmation: &'a str,
}

/// The outer shape of a refresh answer (inferred for the client realm, tolerated for
/// both): a body with a `data` field is read as a wizard envelope whose `data` holds the
/// pair; any other body as the bare `{accessToken, refreshToken}` of the Back Office page.
#[derive(Debug, Deserialize)]
pub(crate) struct RefreshAnswerShape<'a> {
    #[serde(borrow, default)]
    pub data: Option<&'a RawValue>,
}

/// A refresh answer read in one pass: when `data` is absent or `null` and both tokens are
/// there, this is the bare pair; when `data` is there, an envelope. A body this refuses
/// is read by [`RefreshAnswerShape`], and then as the shape says.
#[derive(Debug, Deserialize)]
pub(crate) struct BareRefreshAnswer<'a> {
    #[serde(default)]
    pub data: Option<serde::de::IgnoredAny>,
    #[serde(rename = "accessToken", borrow)]
    pub access_token: Option<super::Token<'a>>,
    #[serde(rename = "refreshToken", borrow)]
    pub refresh_token: Option<super::Token<'a>>,
}
