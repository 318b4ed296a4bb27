//! Serde structs for every documented body, letter for letter from the vendor's pages.
//! No logic lives here: flows turn these into domain types and check them.
//!
//! Requests borrow from the flow (no copies of secrets); responses borrow from the body
//! where they can.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

pub(crate) mod inferred;

// ---------------------------------------------------------------------------------------
// Shared response shapes

/// The wizard envelope: every `/api/v2/my/...` wizard response. `uuid` and `workflow`
/// borrow from the body unless they have escapes; absent or `null` they read as empty
/// (a refresh answer belongs to no wizard). `data` is read as `D`: the struct of the
/// answer the flow awaits, in the same pass, or its text (see `decode::wizard`).
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope<'a, D = &'a RawValue> {
    pub code: Option<i64>,
    /// Absent reads as `None`, as every `Option` field does.
    pub data: Option<D>,
    pub done: Option<bool>,
    #[serde(borrow, default, deserialize_with = "text_or_null")]
    pub uuid: Cow<'a, str>,
    #[serde(borrow, default, deserialize_with = "text_or_null")]
    pub workflow: Cow<'a, str>,
}

/// A string, borrowed from the body when it has no escapes; `null` reads as empty.
fn text_or_null<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Cow<'a, str>, D::Error> {
    struct Text;
    impl<'de> serde::de::Visitor<'de> for Text {
        type Value = Cow<'de, str>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string or null")
        }
        fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(v))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v.to_owned()))
        }
        fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v))
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(""))
        }
    }
    deserializer.deserialize_any(Text)
}

/// A list where `null` reads as empty, as absent does (`#[serde(default)]` alone refuses
/// `null`, which the pages allow for optional fields).
fn list_or_null<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// `{token, createdAt, expiresAt}`, borrowed from the body unless it has escapes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Token<'a> {
    #[serde(borrow)]
    pub token: Cow<'a, str>,
    #[serde(rename = "createdAt", borrow)]
    pub created_at: Cow<'a, str>,
    #[serde(rename = "expiresAt", borrow)]
    pub expires_at: Cow<'a, str>,
}

/// `{accessToken, refreshToken}`, both required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TokenPair<'a> {
    #[serde(rename = "accessToken", borrow)]
    pub access_token: Token<'a>,
    #[serde(rename = "refreshToken", borrow)]
    pub refresh_token: Token<'a>,
}

/// The error body seen in practice (not published by the vendor).
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    pub error: Option<ErrorObject>,
    pub message: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ErrorObject {
    pub code: Option<i64>,
    #[serde(default)]
    pub details: Vec<ErrorDetail>,
    pub message: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ErrorDetail {
    pub issue: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Client sign-in (spec/client-signin.txt)

/// `data` of the Step 1 response (workflow `login`).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SignInWizardData {
    pub recaptcha: Option<Recaptcha>,
    pub is_qr_available: Option<bool>,
    pub is_password_recovery_available: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Recaptcha {
    /// `null` or absent: not enabled.
    pub enabled: Option<bool>,
}

/// `data` of the Step 2 and Step 4 responses: tokens when done, 2FA providers otherwise.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SignInData<'a> {
    #[serde(rename = "accessToken", borrow)]
    pub access_token: Option<Token<'a>>,
    #[serde(rename = "refreshToken", borrow)]
    pub refresh_token: Option<Token<'a>>,
    #[serde(
        rename = "tfaProviders",
        default,
        borrow,
        deserialize_with = "list_or_null"
    )]
    pub tfa_providers: Vec<TfaProvider<'a>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TfaProvider<'a> {
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    /// `null` or absent: not enabled.
    pub enabled: Option<bool>,
}

/// Step 2 body: `POST /api/v2/my/signin`.
#[derive(Debug, Serialize)]
pub(crate) struct SignInRequest<'a> {
    pub uuid: &'a str,
    pub email: &'a str,
    pub password: &'a str,
    pub device_fingerprint: &'a str,
    #[serde(rename = "recaptchaResponse", skip_serializing_if = "Option::is_none")]
    pub recaptcha_response: Option<&'a str>,
}

/// Step 3 body: `POST /api/v2/my/signin/2fa`.
#[derive(Debug, Serialize)]
pub(crate) struct ChooseMethodRequest<'a> {
    pub uuid: &'a str,
    #[serde(rename = "type")]
    pub method: &'a str,
}

/// Step 4 body: `POST /api/v2/my/2fa/google` or `/api/v2/my/2fa/sms`.
#[derive(Debug, Serialize)]
pub(crate) struct CodeRequest<'a> {
    pub uuid: &'a str,
    pub code: &'a str,
}

// ---------------------------------------------------------------------------------------
// Client sign-up (spec/client-signup.txt)

/// `POST /api/v2/my/signup/wizard`.
#[derive(Debug, Serialize)]
pub(crate) struct SignUpWizardRequest<'a> {
    pub url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utm: Option<Utm<'a>>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Utm<'a> {
    pub referral: &'a str,
}

/// `data` of the sign-up wizard response.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SignUpWizardData {
    pub fields: Option<serde_json::Value>,
}

/// `POST /api/v2/my/signup`. Only `uuid`, `email`, `password`, `password_confirmation` and
/// `device_fingerprint` are required by the page; the others are left out when empty.
#[derive(Debug, Serialize)]
pub(crate) struct SignUpRequest<'a> {
    pub uuid: &'a str,
    pub email: &'a str,
    pub password: &'a str,
    pub password_confirmation: &'a str,
    pub device_fingerprint: &'a str,
    #[serde(skip_serializing_if = "Addresses::is_empty")]
    pub addresses: Addresses<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<Info<'a>>,
    #[serde(rename = "recaptchaResponse", skip_serializing_if = "Option::is_none")]
    pub recaptcha_response: Option<&'a str>,
}

/// `addresses`: an object keyed "0", "1", ... as the page shows, one `{country_code}` per
/// country code, written in the order given (a `BTreeMap` would write "10" before "2").
#[derive(Debug)]
pub(crate) struct Addresses<'a>(pub &'a [String]);

impl Addresses<'_> {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Addresses<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (index, country_code) in self.0.iter().enumerate() {
            map.serialize_entry(&index.to_string(), &Address { country_code })?;
        }
        map.end()
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct Address<'a> {
    pub country_code: &'a str,
}

#[derive(Debug, Serialize)]
pub(crate) struct Info<'a> {
    #[serde(rename = "familyName", skip_serializing_if = "Option::is_none")]
    pub family_name: Option<&'a str>,
    #[serde(rename = "givenName", skip_serializing_if = "Option::is_none")]
    pub given_name: Option<&'a str>,
}

/// `data` of the sign-up answer: the tokens (as in sign-in) when the client is signed in,
/// nothing (`{}`) when the client must sign in.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SignUpData<'a> {
    #[serde(rename = "accessToken", borrow)]
    pub access_token: Option<Token<'a>>,
    #[serde(rename = "refreshToken", borrow)]
    pub refresh_token: Option<Token<'a>>,
}

// ---------------------------------------------------------------------------------------
// Back Office (spec/backoffice-auth.txt) and token sessions

/// `POST /api/v2/signin`.
#[derive(Debug, Serialize)]
pub(crate) struct StaffSignInRequest<'a> {
    pub email: &'a str,
    pub password: &'a str,
}

/// The `POST /api/v2/signin` response.
#[derive(Debug, Deserialize)]
pub(crate) struct StaffSignInResponse<'a> {
    #[serde(rename = "2faRequired")]
    pub tfa_required: bool,
    #[serde(rename = "2faDetails", borrow)]
    pub tfa_details: Option<TfaDetails<'a>>,
    #[serde(rename = "accessToken", borrow)]
    pub access_token: Option<Token<'a>>,
    #[serde(rename = "refreshToken", borrow)]
    pub refresh_token: Option<Token<'a>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TfaDetails<'a> {
    #[serde(borrow)]
    pub token: Cow<'a, str>,
    #[serde(borrow)]
    pub provider: Cow<'a, str>,
    #[serde(rename = "expiresAt", borrow)]
    pub expires_at: Cow<'a, str>,
}

/// `POST /api/v2/2fa/confirm`.
#[derive(Debug, Serialize)]
pub(crate) struct ConfirmRequest<'a> {
    pub token: &'a str,
    pub code: &'a str,
}

/// `POST /api/v2/refresh` and (inferred) `POST /api/v2/my/refresh`.
#[derive(Debug, Serialize)]
pub(crate) struct RefreshRequest<'a> {
    #[serde(rename = "refreshToken")]
    pub refresh_token: &'a str,
}
