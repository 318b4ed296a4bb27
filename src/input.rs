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
    } else if has_control(value) {
        Err(Error::invalid(field, "contains control characters"))
    } else {
        Ok(())
    }
}

/// Whether `value` holds a control character (`char::is_control`: U+0000 to U+001F and
/// U+007F to U+009F). In UTF-8 those start with a byte below 0x20, 0x7F or 0xC2, so one
/// branch-free pass over the bytes (which the compiler vectorizes) clears nearly every
/// value; only one holding such a byte is read again char by char.
fn has_control(value: &str) -> bool {
    let suspect = value.bytes().fold(false, |suspect, b| {
        suspect | (b < 0x20) | (b == 0x7F) | (b == 0xC2)
    });
    suspect && value.chars().any(char::is_control)
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
        // Every control character is refused, and only those: the C0 and C1 sets, DEL,
        // and no other character sharing a first byte with one.
        for c in ['\0', '\t', '\u{1f}', '\u{7f}', '\u{80}', '\u{85}', '\u{9f}'] {
            assert!(text("name", &format!("a{c}b")).is_err(), "{c:?}");
        }
        for ok in ["\u{a0}", "\u{bf}", "é", "名前", "\u{2028}", "~ !"] {
            assert!(text("name", ok).is_ok(), "{ok:?}");
        }
        let mut buf = [0; 4];
        for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
            assert_eq!(
                has_control(c.encode_utf8(&mut buf)),
                c.is_control(),
                "{c:?}"
            );
        }
        assert!(text("code", "12\n34").is_err());
        assert!(text("code", &"1".repeat(MAX_FIELD_LEN + 1)).is_err());
        assert!(password("password", "with spaces and ünïcode").is_ok());
        assert!(password("password", "").is_err());
    }
}
