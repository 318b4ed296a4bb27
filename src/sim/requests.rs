//! The simulator's own request bodies, written from the vendor's pages independently of
//! `crate::wire`: a field-name slip in the client's structs must show up here as a
//! violation, not be shared. Unknown fields are refused (`deny_unknown_fields`), so a
//! misspelt optional field (`recaptcha_response` for `recaptchaResponse`) is caught too.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `POST /api/v2/my/signin` (client-signin.txt, Step 2).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignIn {
    pub uuid: String,
    pub email: String,
    pub password: String,
    pub device_fingerprint: String,
    #[serde(rename = "recaptchaResponse", default)]
    pub recaptcha_response: Option<String>,
}

/// `POST /api/v2/my/signin/2fa` (Step 3).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChooseMethod {
    pub uuid: String,
    #[serde(rename = "type")]
    pub method: String,
}

/// `POST /api/v2/my/2fa/google` and `/api/v2/my/2fa/sms` (Step 4).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Code {
    pub uuid: String,
    pub code: String,
}

/// `POST /api/v2/my/signin/password/restore` (inferred: the wizard's `uuid`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Restore {
    pub uuid: String,
}

/// `POST /api/v2/my/signin/password/reset` (inferred: `uuid`, the emailed `code`, the new
/// password twice, named as sign-up names them).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Reset {
    pub uuid: String,
    pub code: String,
    pub password: String,
    pub password_confirmation: String,
}

/// `POST /api/v2/my/signup/wizard` (client-signup.txt).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignUpWizard {
    #[allow(dead_code)] // checked for presence and type only
    pub url: String,
    #[serde(default)]
    #[allow(dead_code)]
    pub utm: Option<Utm>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Utm {
    #[serde(default)]
    #[allow(dead_code)]
    pub referral: Option<String>,
}

/// `POST /api/v2/my/signup`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignUp {
    pub uuid: String,
    pub email: String,
    pub password: String,
    pub password_confirmation: String,
    pub device_fingerprint: String,
    #[serde(default)]
    #[allow(dead_code)]
    pub addresses: Option<BTreeMap<String, Address>>,
    #[serde(default)]
    #[allow(dead_code)]
    pub info: Option<Info>,
    #[serde(rename = "recaptchaResponse", default)]
    #[allow(dead_code)]
    pub recaptcha_response: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Address {
    #[allow(dead_code)]
    pub country_code: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Info {
    #[serde(rename = "familyName", default)]
    #[allow(dead_code)]
    pub family_name: Option<String>,
    #[serde(rename = "givenName", default)]
    #[allow(dead_code)]
    pub given_name: Option<String>,
}

/// `POST /api/v2/signin` (backoffice-auth.txt).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StaffSignIn {
    pub email: String,
    pub password: String,
}

/// `POST /api/v2/2fa/confirm`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Confirm {
    pub token: String,
    pub code: String,
}

/// `POST /api/v2/refresh` and (inferred) `POST /api/v2/my/refresh`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Refresh {
    #[serde(rename = "refreshToken")]
    pub refresh_token: String,
}
