//! [`Token`] and [`TokenPair`]: the access and refresh tokens every flow ends with.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use http::header::HeaderValue;
use serde::ser::Error as _;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::secret::Secret;
use crate::time::{check_rfc3339_writable, format_rfc3339, parse_rfc3339_writable};
use crate::wire;

/// The longest token accepted from a server (real JWTs are well under 4 KiB).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// One token with its absolute lifetime.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    value: Secret<String>,
    created_at: SystemTime,
    expires_at: SystemTime,
}

impl Token {
    /// Checks and builds a token: non-empty, at most [`MAX_TOKEN_LEN`] visible ASCII
    /// characters (so it can always travel in a header), not expiring before it was made,
    /// and made and expiring within the years 0000–9999 (UTC), so that it can be written
    /// as the RFC 3339 it parks as.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use b2core_auth::Token;
    ///
    /// # fn main() -> Result<(), b2core_auth::Error> {
    /// let t0 = UNIX_EPOCH + Duration::from_secs(1_713_784_044);
    /// let token = Token::new("eyJ0eXAi.x.y".into(), t0, t0 + Duration::from_secs(900))?;
    /// assert!(!token.is_expired(t0));
    /// assert!(token.is_expired(t0 + Duration::from_secs(900)));
    /// assert!(Token::new("".into(), t0, t0).is_err());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `token`) for a value or times that break those rules.
    pub fn new(
        value: Secret<String>,
        created_at: SystemTime,
        expires_at: SystemTime,
    ) -> Result<Self, Error> {
        check_token_text(value.expose()).map_err(|reason| Error::invalid("token", reason))?;
        if expires_at < created_at {
            return Err(Error::invalid("token", "expires before it was created"));
        }
        if check_rfc3339_writable(created_at).is_err()
            || check_rfc3339_writable(expires_at).is_err()
        {
            return Err(Error::invalid(
                "token",
                "a time outside the years 0000-9999",
            ));
        }
        Ok(Self {
            value,
            created_at,
            expires_at,
        })
    }

    /// The token itself.
    pub fn secret(&self) -> &Secret<String> {
        &self.value
    }

    /// When the server made it.
    pub fn created_at(&self) -> SystemTime {
        self.created_at
    }

    /// When it stops being valid.
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// True from `expires_at` on.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        now >= self.expires_at
    }

    /// Reads `{token, createdAt, expiresAt}`, naming the field at fault.
    fn from_wire(
        wire: &wire::Token<'_>,
        step: &'static str,
        fields: [&'static str; 3],
    ) -> Result<Self, Error> {
        let [token_field, created_field, expires_field] = fields;
        check_token_text(&wire.token)
            .map_err(|reason| Error::malformed(step, token_field, reason))?;
        // Read in any offset, and written back in UTC (parked): the instant must be one
        // that RFC 3339 writes in UTC too (`0000-01-01T00:00:00+01:00` is not).
        let time = |text: &str, field| {
            parse_rfc3339_writable(text).map_err(|e| Error::malformed(step, field, e.to_string()))
        };
        let created_at = time(&wire.created_at, created_field)?;
        let expires_at = time(&wire.expires_at, expires_field)?;
        if expires_at < created_at {
            return Err(Error::malformed(step, expires_field, "is before createdAt"));
        }
        Ok(Self {
            value: Secret::new(wire.token.as_ref().to_owned()),
            created_at,
            expires_at,
        })
    }

    /// The vendor's shape; every token [`Token::new`] or an answer makes can be written.
    fn to_wire(&self) -> Result<wire::Token<'_>, crate::time::TimestampError> {
        Ok(wire::Token {
            token: Cow::Borrowed(self.value.expose()),
            created_at: Cow::Owned(format_rfc3339(self.created_at)?),
            expires_at: Cow::Owned(format_rfc3339(self.expires_at)?),
        })
    }
}

pub(crate) fn check_token_text(token: &str) -> Result<(), &'static str> {
    if token.is_empty() {
        Err("is empty")
    } else if token.len() > MAX_TOKEN_LEN {
        Err("is longer than the limit")
    } else if !token
        .bytes()
        // `is_ascii_graphic` without a branch per byte, so the scan is vectorized.
        .fold(true, |ok, b| ok & (b.wrapping_sub(0x21) < 0x5e))
    {
        Err("has characters a header cannot carry")
    } else {
        Ok(())
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("value", &self.value)
            .field(
                "created_at",
                &crate::error::DisplayTime(self.created_at).to_string(),
            )
            .field(
                "expires_at",
                &crate::error::DisplayTime(self.expires_at).to_string(),
            )
            .finish()
    }
}

/// The access and refresh tokens a sign-in ends with.
///
/// Serde uses the vendor's shape, `{"accessToken":{"token","createdAt","expiresAt"},
/// "refreshToken":{...}}`, so the serialized form contains both tokens: store it like a
/// password.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use b2core_auth::TokenPair;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let json = r#"{"accessToken":{"token":"a.b.c","createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T11:22:24+00:00"},
///                "refreshToken":{"token":"d.e.f","createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T12:07:24+00:00"}}"#;
/// let pair: TokenPair = serde_json::from_str(json)?;
/// assert_eq!(pair.bearer(), "Bearer a.b.c");
/// assert!(pair.is_expired(UNIX_EPOCH + Duration::from_secs(1_713_784_944)));
/// assert!(!format!("{pair:?}").contains("a.b.c"));
/// # Ok(()) }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct TokenPair {
    /// Shared: a session, its steps and the caller's copies hold one pair without copying
    /// the tokens, and every flow and session stays small.
    inner: Arc<Pair>,
}

#[derive(PartialEq, Eq)]
struct Pair {
    access: Token,
    refresh: Token,
    /// `Bearer <access>`, built once per token rather than once per request.
    bearer: HeaderValue,
}

impl TokenPair {
    /// Pairs an access and a refresh token.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `token`) when `Bearer <access token>` cannot be a
    /// header value (a token made by [`Token::new`] always can).
    pub fn new(access: Token, refresh: Token) -> Result<Self, Error> {
        const PREFIX: &str = "Bearer ";
        // Exactly sized, so the header value takes the text over without a copy.
        let mut text = String::with_capacity(PREFIX.len() + access.value.expose().len());
        text.push_str(PREFIX);
        text.push_str(access.value.expose());
        let mut bearer = HeaderValue::try_from(text)
            .map_err(|_| Error::invalid("token", "has characters a header cannot carry"))?;
        bearer.set_sensitive(true);
        Ok(Self {
            inner: Arc::new(Pair {
                access,
                refresh,
                bearer,
            }),
        })
    }

    /// Reads a token pair from its wire form, naming the field at fault.
    pub(crate) fn from_wire(wire: &wire::TokenPair<'_>, step: &'static str) -> Result<Self, Error> {
        Self::from_wire_tokens(&wire.access_token, &wire.refresh_token, step)
    }

    fn from_wire_tokens(
        access: &wire::Token<'_>,
        refresh: &wire::Token<'_>,
        step: &'static str,
    ) -> Result<Self, Error> {
        let access = Token::from_wire(
            access,
            step,
            [
                "accessToken.token",
                "accessToken.createdAt",
                "accessToken.expiresAt",
            ],
        )?;
        let refresh = Token::from_wire(
            refresh,
            step,
            [
                "refreshToken.token",
                "refreshToken.createdAt",
                "refreshToken.expiresAt",
            ],
        )?;
        Self::new(access, refresh)
            .map_err(|_| Error::malformed(step, "accessToken.token", "cannot be a header"))
    }

    /// Reads an optional pair (as in a wizard's `data`): both tokens or neither.
    pub(crate) fn from_wire_parts(
        access: Option<&wire::Token<'_>>,
        refresh: Option<&wire::Token<'_>>,
        step: &'static str,
    ) -> Result<Option<Self>, Error> {
        match (access, refresh) {
            (None, None) => Ok(None),
            (Some(access), Some(refresh)) => {
                Self::from_wire_tokens(access, refresh, step).map(Some)
            }
            (None, Some(_)) => Err(Error::malformed(
                step,
                "accessToken",
                "missing while refreshToken is given",
            )),
            (Some(_), None) => Err(Error::malformed(
                step,
                "refreshToken",
                "missing while accessToken is given",
            )),
        }
    }

    /// The access token: it goes in `Authorization: Bearer ...`.
    pub fn access(&self) -> &Token {
        &self.inner.access
    }

    /// The refresh token: it buys a new pair.
    pub fn refresh(&self) -> &Token {
        &self.inner.refresh
    }

    /// True once the access token has expired at `now`.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.inner.access.is_expired(now)
    }

    /// The `Authorization` header value, `Bearer <access token>`, marked sensitive.
    pub fn bearer(&self) -> &HeaderValue {
        &self.inner.bearer
    }
}

impl fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenPair")
            .field("access", &self.inner.access)
            .field("refresh", &self.inner.refresh)
            .finish()
    }
}

/// The vendor's shape, `{"accessToken": {..}, "refreshToken": {..}}`.
impl Serialize for TokenPair {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Never an empty time that would not read back: an error instead (unreachable, as
        // every token is made with times that can be written).
        wire::TokenPair {
            access_token: self.inner.access.to_wire().map_err(S::Error::custom)?,
            refresh_token: self.inner.refresh.to_wire().map_err(S::Error::custom)?,
        }
        .serialize(serializer)
    }
}

/// Checked as a server's answer is: a parked pair that fails the checks is refused.
impl<'de> Deserialize<'de> for TokenPair {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // The error never shows a value: a token of the wrong type is still a token.
        let wire =
            wire::TokenPair::deserialize(deserializer).map_err(|e| crate::parked::hidden(&e))?;
        Self::from_wire(&wire, "parked token pair").map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire_token<'a>(token: &'a str, created: &'a str, expires: &'a str) -> wire::Token<'a> {
        wire::Token {
            token: token.into(),
            created_at: created.into(),
            expires_at: expires.into(),
        }
    }

    #[test]
    fn token_text_is_visible_ascii_up_to_the_limit() {
        // Every visible ASCII character, and the longest token allowed.
        let visible: String = ('!'..='~').collect();
        assert_eq!(check_token_text(&visible), Ok(()));
        assert_eq!(check_token_text(&"x".repeat(MAX_TOKEN_LEN)), Ok(()));
        assert!(check_token_text(&"x".repeat(MAX_TOKEN_LEN + 1)).is_err());
        // Just outside the visible range on either side, and beyond ASCII.
        for bad in ["a b", "a\u{7f}b", "a\u{80}b", "aéb", "a\tb"] {
            assert_eq!(
                check_token_text(bad),
                Err("has characters a header cannot carry"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn names_the_field_at_fault() {
        let long = "x".repeat(MAX_TOKEN_LEN + 1);
        let ok = wire_token(
            "a",
            "2024-04-22T11:07:24+00:00",
            "2024-04-22T11:22:24+00:00",
        );
        let cases = [
            (
                wire_token("", "2024-04-22T11:07:24+00:00", "2024-04-22T11:22:24+00:00"),
                ok.clone(),
                "accessToken.token",
            ),
            (
                ok.clone(),
                wire_token(
                    "a b",
                    "2024-04-22T11:07:24+00:00",
                    "2024-04-22T11:22:24+00:00",
                ),
                "refreshToken.token",
            ),
            (
                wire_token("a", "yesterday", "2024-04-22T11:22:24+00:00"),
                ok.clone(),
                "accessToken.createdAt",
            ),
            (
                ok.clone(),
                wire_token(
                    "a",
                    "2024-04-22T11:07:24+00:00",
                    "2024-04-22T11:00:00+00:00",
                ),
                "refreshToken.expiresAt",
            ),
            (
                wire_token(
                    &long,
                    "2024-04-22T11:07:24+00:00",
                    "2024-04-22T11:22:24+00:00",
                ),
                ok.clone(),
                "accessToken.token",
            ),
        ];
        for (access, refresh, field) in cases {
            let wire = wire::TokenPair {
                access_token: access,
                refresh_token: refresh,
            };
            match TokenPair::from_wire(&wire, "step") {
                Err(Error::Malformed {
                    step: "step",
                    field: f,
                    ..
                }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn vendor_shape_round_trips_and_stays_redacted() {
        let json = r#"{"accessToken":{"token":"tok-A","createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T11:22:24+00:00"},"refreshToken":{"token":"tok-R","createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T12:07:24+00:00"}}"#;
        let pair: TokenPair = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&pair).unwrap(), json);
        assert_eq!(pair.bearer(), "Bearer tok-A");
        assert!(pair.bearer().is_sensitive());
        let debug = format!("{pair:?} {:?}", pair.bearer());
        assert!(
            !debug.contains("tok-A") && !debug.contains("tok-R"),
            "{debug}"
        );
        assert!(debug.contains("2024-04-22T11:22:24+00:00"), "{debug}");
    }

    /// A time RFC 3339 reads but cannot write in UTC (the year 0000 at +01:00, 9999 at
    /// -01:00) is refused: read once, a pair holding one parked with an empty time and
    /// never read back. Nor does `Token::new` make one.
    #[test]
    fn every_token_read_or_made_can_be_written_back() {
        let ok = "2024-04-22T11:07:24+00:00";
        for (created, expires) in [
            ("0000-01-01T00:00:00+01:00", ok),
            (ok, "9999-12-31T23:59:59-01:00"),
        ] {
            let token =
                format!(r#"{{"token":"a","createdAt":"{created}","expiresAt":"{expires}"}}"#);
            let json = format!(r#"{{"accessToken":{token},"refreshToken":{token}}}"#);
            assert!(serde_json::from_str::<TokenPair>(&json).is_err(), "{json}");
        }
        let edge = r#"{"token":"a","createdAt":"0000-01-01T00:00:00Z","expiresAt":"9999-12-31T23:59:59.999999999Z"}"#;
        let json = format!(r#"{{"accessToken":{edge},"refreshToken":{edge}}}"#);
        let pair: TokenPair = serde_json::from_str(&json).unwrap();
        let parked = serde_json::to_string(&pair).unwrap();
        assert_eq!(serde_json::from_str::<TokenPair>(&parked).unwrap(), pair);

        let t0 = std::time::UNIX_EPOCH;
        let far = t0 + std::time::Duration::from_secs(400 * 365 * 86_400 * 25);
        assert!(Token::new("a".into(), t0, far).is_err());
        assert!(Token::new("a".into(), t0, t0).is_ok());
    }

    /// A parked pair is read as an answer's is, and its errors never show a token.
    #[test]
    fn a_parked_pair_is_checked_and_its_errors_show_no_token() {
        let token = |value: &str| {
            format!(
                r#"{{"token":{value},"createdAt":"2024-04-22T11:07:24+00:00","expiresAt":"2024-04-22T11:22:24+00:00"}}"#
            )
        };
        for (access, refresh) in [
            (token("394208416658607535"), token(r#""d.e.f""#)),
            (token(r#"["394208416658607535"]"#), token(r#""d.e.f""#)),
            (token(r#""a.b.c""#), token("true")),
            (token(r#""394208416658607535 x""#), token(r#""d.e.f""#)),
        ] {
            let json = format!(r#"{{"accessToken":{access},"refreshToken":{refresh}}}"#);
            let err = serde_json::from_str::<TokenPair>(&json)
                .unwrap_err()
                .to_string();
            assert!(
                !err.contains("394208416658607535") && !err.contains("true"),
                "{err}"
            );
        }
    }
}
