//! Checks on what the caller types, made before any request exists.

use crate::error::Error;

/// The longest value a caller may put in one field; longer is a typo or an attack.
pub const MAX_FIELD_LEN: usize = 4096;

/// Non-empty, at most [`MAX_FIELD_LEN`] bytes, no control characters (CR, LF, NUL, ...).
pub(crate) fn text(field: &'static str, value: &str) -> Result<(), Error> {
    if value.is_empty() {
        Err(Error::invalid(field, "is empty"))
    } else if value.len() > MAX_FIELD_LEN {
        Err(Error::invalid(field, "is too long"))
    } else if value.chars().any(char::is_control) {
        Err(Error::invalid(field, "contains control characters"))
    } else {
        Ok(())
    }
}

/// A plausible email: [`text`] rules, and an `@` with something on both sides.
pub(crate) fn email(value: &str) -> Result<(), Error> {
    text("email", value)?;
    match value.split_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => Ok(()),
        _ => Err(Error::invalid("email", "is not an address (no `@`)")),
    }
}

/// A password: non-empty and at most [`MAX_FIELD_LEN`] bytes; any character is allowed.
pub(crate) fn password(field: &'static str, value: &str) -> Result<(), Error> {
    if value.is_empty() {
        Err(Error::invalid(field, "is empty"))
    } else if value.len() > MAX_FIELD_LEN {
        Err(Error::invalid(field, "is too long"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_would_corrupt_a_request() {
        assert!(email("username@example.com").is_ok());
        for bad in [
            "",
            "no-at",
            "@example.com",
            "user@",
            "a@b\r\nX-Evil: 1",
            "a@b\0",
        ] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
        assert!(text("code", "678562").is_ok());
        assert!(text("code", "12\n34").is_err());
        assert!(text("code", &"1".repeat(MAX_FIELD_LEN + 1)).is_err());
        assert!(password("password", "with spaces and ünïcode").is_ok());
        assert!(password("password", "").is_err());
    }
}
