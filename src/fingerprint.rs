//! [`DeviceFingerprint`]: Base64 of a JSON object that carries a `user_agent`.

use std::fmt;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::secret::Secret;

/// The longest encoded fingerprint accepted (a browser's full fingerprint is a few KiB).
pub const MAX_FINGERPRINT_LEN: usize = 64 * 1024;

/// A device fingerprint, as the sign-in and sign-up requests carry it: standard padded
/// Base64 of a free-form JSON object that must contain a string `user_agent`.
///
/// It identifies a device, so it is treated as a secret: `Debug` prints `[redacted]`.
///
/// ```
/// use b2core_auth::DeviceFingerprint;
///
/// # fn main() -> Result<(), b2core_auth::Error> {
/// let ua = "Mozilla/5.0 (Windows NT 6.1; Win64; x64; rv:47.0) Gecko/20100101 Firefox/47.0";
/// let fp = DeviceFingerprint::from_user_agent(ua)?;
/// let again = DeviceFingerprint::from_encoded(fp.encoded())?;
/// assert_eq!(again.user_agent(), ua);
/// assert_eq!(format!("{fp:?}"), "DeviceFingerprint([redacted])");
/// # Ok(()) }
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceFingerprint {
    /// Shared: one device's fingerprint goes into every flow of that device, and a clone
    /// costs no copy.
    inner: Arc<Inner>,
}

#[derive(PartialEq, Eq)]
struct Inner {
    encoded: Secret<String>,
    user_agent: Secret<String>,
}

#[derive(Serialize)]
struct Fields<'a> {
    user_agent: &'a str,
    #[serde(flatten)]
    extra: &'a serde_json::Map<String, serde_json::Value>,
}

impl DeviceFingerprint {
    /// The fingerprint `{"user_agent": ...}`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty user agent or one with control characters, or
    /// an encoded fingerprint over [`MAX_FINGERPRINT_LEN`] bytes.
    pub fn from_user_agent(user_agent: &str) -> Result<Self, Error> {
        Self::from_fields(user_agent, &serde_json::Map::new())
    }

    /// A fingerprint of the user agent plus free-form fields (screen size, time zone, ...).
    /// An `extra` key named `user_agent` is refused: the argument is the one source of it.
    ///
    /// ```
    /// use b2core_auth::DeviceFingerprint;
    ///
    /// # fn main() -> Result<(), b2core_auth::Error> {
    /// let mut extra = serde_json::Map::new();
    /// extra.insert("timezone".into(), "UTC".into());
    /// let fp = DeviceFingerprint::from_fields("curl/8.0", &extra)?;
    /// assert_eq!(fp.user_agent(), "curl/8.0");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] as [`DeviceFingerprint::from_user_agent`], and for an `extra`
    /// key named `user_agent`.
    pub fn from_fields(
        user_agent: &str,
        extra: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, Error> {
        if user_agent.trim().is_empty() {
            return Err(Error::invalid("user agent", "is empty"));
        }
        if user_agent.chars().any(char::is_control) {
            return Err(Error::invalid("user agent", "contains control characters"));
        }
        if extra.contains_key("user_agent") {
            return Err(Error::invalid(
                "fingerprint fields",
                "`user_agent` is given twice",
            ));
        }
        let json = serde_json::to_vec(&Fields { user_agent, extra })
            .map_err(|_| Error::invalid("fingerprint fields", "cannot be written as JSON"))?;
        let encoded = STANDARD.encode(json);
        if encoded.len() > MAX_FINGERPRINT_LEN {
            return Err(Error::invalid("fingerprint", "is too long"));
        }
        Ok(Self::from_parts(encoded, user_agent.to_owned()))
    }

    /// Accepts a fingerprint made elsewhere (e.g. by a browser), after checking that it is
    /// standard padded Base64 of a JSON object with a string `user_agent`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for text that is not such Base64, or longer than
    /// [`MAX_FINGERPRINT_LEN`].
    pub fn from_encoded(encoded: &str) -> Result<Self, Error> {
        let invalid = |reason| Err(Error::invalid("fingerprint", reason));
        if encoded.len() > MAX_FINGERPRINT_LEN {
            return invalid("is too long");
        }
        let Ok(json) = STANDARD.decode(encoded) else {
            return invalid("is not standard padded Base64");
        };
        // A map, not a struct: serde would read a struct from a JSON array too.
        let fields = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&json);
        let Some(user_agent) = fields.ok().and_then(|mut f| match f.remove("user_agent") {
            Some(serde_json::Value::String(ua)) => Some(ua),
            _ => None,
        }) else {
            return invalid("is not a JSON object with a string `user_agent`");
        };
        if user_agent.chars().any(char::is_control) {
            return invalid("`user_agent` contains control characters");
        }
        Ok(Self::from_parts(encoded.to_owned(), user_agent))
    }

    fn from_parts(encoded: String, user_agent: String) -> Self {
        Self {
            inner: Arc::new(Inner {
                encoded: Secret::new(encoded),
                user_agent: Secret::new(user_agent),
            }),
        }
    }

    /// The Base64 text sent as `device_fingerprint`.
    pub fn encoded(&self) -> &str {
        self.inner.encoded.expose()
    }

    /// The `user_agent` inside.
    pub fn user_agent(&self) -> &str {
        self.inner.user_agent.expose()
    }
}

impl fmt::Debug for DeviceFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DeviceFingerprint")
            .field(&self.inner.encoded)
            .finish()
    }
}

impl TryFrom<String> for DeviceFingerprint {
    type Error = Error;
    fn try_from(value: String) -> Result<Self, Error> {
        Self::from_encoded(&value)
    }
}

impl From<DeviceFingerprint> for String {
    fn from(value: DeviceFingerprint) -> Self {
        value.encoded().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UA: &str =
        "Mozilla/5.0 (Windows NT 6.1; Win64; x64; rv:47.0) Gecko/20100101 Firefox/47.0";

    #[test]
    fn the_issue_test_vector_round_trips() {
        let json = format!(r#"{{"user_agent":"{UA}"}}"#);
        let fp = DeviceFingerprint::from_user_agent(UA).unwrap();
        assert_eq!(STANDARD.decode(fp.encoded()).unwrap(), json.as_bytes());
        let back = DeviceFingerprint::from_encoded(&STANDARD.encode(&json)).unwrap();
        assert_eq!(back, fp);
        assert_eq!(back.user_agent(), UA);
    }

    #[test]
    fn accepts_the_sign_in_page_example() {
        let page = "eyJ1c2VyX2FnZW50IjoiTW96aWxsYVwvNS4wIChXaW5kb3dzIE5UIDEwLjA7IFdpbjY0OyB4NjQpIEFwcGxlV2ViS2l0XC81MzcuMzYgKEtIVE1MLCBsaWtlIEdlY2tvKSBDaHJvbWVcLzExOC4wLjAuMCBTYWZhcmlcLzUzNy4zNiJ9";
        let fp = DeviceFingerprint::from_encoded(page).unwrap();
        assert_eq!(fp.encoded(), page);
        assert!(fp.user_agent().starts_with("Mozilla/5.0 (Windows NT 10.0"));
    }

    #[test]
    fn extra_fields_follow_the_user_agent() {
        let mut extra = serde_json::Map::new();
        extra.insert("screen".into(), serde_json::json!({"w": 1920}));
        let fp = DeviceFingerprint::from_fields("ua", &extra).unwrap();
        assert_eq!(
            STANDARD.decode(fp.encoded()).unwrap(),
            br#"{"user_agent":"ua","screen":{"w":1920}}"#
        );
        extra.insert("user_agent".into(), "other".into());
        assert!(DeviceFingerprint::from_fields("ua", &extra).is_err());
    }

    #[test]
    fn refuses_what_is_not_a_fingerprint() {
        for bad in [
            "dwqdnNFJBOEBFJEBjqewbkjqbdwjqwbndjnbj", // the sign-up page's placeholder
            "",
            "e30=",                     // {}
            "eyJ1c2VyX2FnZW50IjoxfQ==", // {"user_agent":1}
            "WyJ1c2VyX2FnZW50Il0=",     // ["user_agent"]
            "eyJ1c2VyX2FnZW50IjoiYSJ9\n",
        ] {
            assert!(DeviceFingerprint::from_encoded(bad).is_err(), "{bad:?}");
        }
        assert!(DeviceFingerprint::from_user_agent("").is_err());
        assert!(DeviceFingerprint::from_user_agent("a\r\nb").is_err());
    }

    #[test]
    fn parks_as_its_encoded_text() {
        let fp = DeviceFingerprint::from_user_agent(UA).unwrap();
        let json = serde_json::to_string(&fp).unwrap();
        assert_eq!(
            serde_json::from_str::<DeviceFingerprint>(&json).unwrap(),
            fp
        );
        assert!(serde_json::from_str::<DeviceFingerprint>(r#""e30=""#).is_err());
    }
}
