//! [`Secret`]: a value that never shows itself by accident.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// A secret value (password, code, token, fingerprint, reCAPTCHA response).
///
/// `Debug` and `Display` print `[redacted]` in every build; the only way to read the
/// value is [`Secret::expose`], so every place that needs it is easy to find.
///
/// Serde serializes the value itself: a parked flow must be able to resume, so its
/// serialized form contains secrets and must be stored like one. An error reading one
/// back never shows the value (a password stored as a number, say).
///
/// ```
/// use b2core_auth::Secret;
///
/// let password = Secret::new(String::from("QAzqw123!"));
/// assert_eq!(format!("{password:?} {password}"), "[redacted] [redacted]");
/// assert_eq!(password.expose(), "QAzqw123!");
/// ```
#[derive(Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct Secret<T>(T);

/// The value as `T` reads it; an error never shows the value.
impl<'de, T: Deserialize<'de>> Deserialize<'de> for Secret<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer)
            .map(Self)
            .map_err(|e| crate::parked::hidden(&e))
    }
}

impl<T> Secret<T> {
    /// Wraps a value.
    pub const fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret value. Call it only where the value must leave the crate (a request body).
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the secret value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret<String> {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("hunter2".to_owned());
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{s:#?}"), "[redacted]");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn an_error_reading_one_never_shows_the_value() {
        for json in [
            "394208416658",
            "3942084166.5",
            "true",
            r#"{"394208416658":1}"#,
        ] {
            let err = serde_json::from_str::<Secret<String>>(json).unwrap_err();
            assert!(!err.to_string().contains("394208416658"), "{err}");
            assert!(!err.to_string().contains("true"), "{err}");
        }
        let err = serde_json::from_str::<Secret<u8>>(r#""394208416658""#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid type: string (value hidden), expected u8"
        );
        assert_eq!(
            serde_json::from_str::<Secret<String>>(r#""hunter2""#).unwrap(),
            Secret::new("hunter2".to_owned())
        );
    }
}
