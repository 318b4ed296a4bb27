//! Strict RFC 3339 timestamps to and from [`SystemTime`], with no clock reads.
//!
//! The vendor's pages write `2024-04-22T11:07:24+00:00`. Accepted: any UTC offset or `Z`,
//! optional fractional seconds (up to nanoseconds), years 0000–9999. Anything else is a
//! [`TimestampError`]; no input panics.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Why a timestamp could not be read or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// The text is not of the form `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
    #[error("not an RFC 3339 timestamp (expected YYYY-MM-DDTHH:MM:SS[.f](Z|+HH:MM))")]
    Syntax,
    /// A field is out of its range (month 13, February 30, hour 24, offset +24:00, ...).
    #[error("RFC 3339 timestamp has a field out of range")]
    OutOfRange,
    /// The instant cannot be written as a four-digit-year RFC 3339 timestamp.
    #[error("instant outside the years 0000-9999")]
    Unrepresentable,
}

const SECS_PER_DAY: i64 = 86_400;

/// Parses a strict RFC 3339 timestamp.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use b2core_auth::time::parse_rfc3339;
///
/// let t = parse_rfc3339("2024-04-22T11:07:24+00:00").unwrap();
/// assert_eq!(t, UNIX_EPOCH + Duration::from_secs(1_713_784_044));
/// assert_eq!(parse_rfc3339("2024-04-22T13:07:24.5+02:00").unwrap(), t + Duration::from_millis(500));
/// assert!(parse_rfc3339("yesterday").is_err());
/// ```
pub fn parse_rfc3339(text: &str) -> Result<SystemTime, TimestampError> {
    let b = text.as_bytes();
    if b.len() < 20 {
        return Err(TimestampError::Syntax);
    }
    let year = digits(b, 0, 4)?;
    expect(b, 4, b'-')?;
    let month = digits(b, 5, 2)?;
    expect(b, 7, b'-')?;
    let day = digits(b, 8, 2)?;
    if !matches!(b[10], b'T' | b't') {
        return Err(TimestampError::Syntax);
    }
    let hour = digits(b, 11, 2)?;
    expect(b, 13, b':')?;
    let minute = digits(b, 14, 2)?;
    expect(b, 16, b':')?;
    let second = digits(b, 17, 2)?;

    let mut i = 19;
    let mut nanos: u32 = 0;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                nanos = nanos * 10 + u32::from(b[i] - b'0');
            }
            i += 1;
        }
        let count = i - start;
        if count == 0 {
            return Err(TimestampError::Syntax);
        }
        for _ in count..9 {
            nanos *= 10;
        }
    }
    let offset_secs: i64 = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() => {
            let oh = digits(b, i + 1, 2)?;
            expect(b, i + 3, b':')?;
            let om = digits(b, i + 4, 2)?;
            if oh > 23 || om > 59 {
                return Err(TimestampError::OutOfRange);
            }
            let off = oh * 3600 + om * 60;
            if *sign == b'+' {
                off
            } else {
                -off
            }
        }
        _ => return Err(TimestampError::Syntax),
    };

    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(TimestampError::OutOfRange);
    }
    let days = days_from_civil(year, month, day);
    let secs = days * SECS_PER_DAY + hour * 3600 + minute * 60 + second - offset_secs;
    let base = if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(secs.unsigned_abs()))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
    };
    base.and_then(|t| t.checked_add(Duration::from_nanos(u64::from(nanos))))
        .ok_or(TimestampError::Unrepresentable)
}

/// Writes an instant the way the vendor's pages do: `2024-04-22T11:07:24+00:00`, with a
/// fractional part only when the instant has one.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use b2core_auth::time::format_rfc3339;
///
/// let t = UNIX_EPOCH + Duration::from_secs(1_713_784_044);
/// assert_eq!(format_rfc3339(t).unwrap(), "2024-04-22T11:07:24+00:00");
/// ```
pub fn format_rfc3339(t: SystemTime) -> Result<String, TimestampError> {
    let (secs, nanos): (i64, u32) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (
            i64::try_from(d.as_secs()).map_err(|_| TimestampError::Unrepresentable)?,
            d.subsec_nanos(),
        ),
        Err(e) => {
            let d = e.duration();
            let whole = i64::try_from(d.as_secs()).map_err(|_| TimestampError::Unrepresentable)?;
            match d.subsec_nanos() {
                0 => (-whole, 0),
                n => (-whole - 1, 1_000_000_000 - n),
            }
        }
    };
    let days = secs.div_euclid(SECS_PER_DAY);
    let rem = secs.rem_euclid(SECS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        return Err(TimestampError::Unrepresentable);
    }
    let mut out = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push_str("+00:00");
    Ok(out)
}

/// Parses an HTTP date in the IMF-fixdate form (`Sun, 06 Nov 1994 08:49:37 GMT`), as a
/// `Retry-After` header may carry it.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use b2core_auth::time::parse_http_date;
///
/// let t = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
/// assert_eq!(t, UNIX_EPOCH + Duration::from_secs(784_111_777));
/// ```
pub fn parse_http_date(text: &str) -> Result<SystemTime, TimestampError> {
    const MONTHS: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    const DAYS: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
    let b = text.as_bytes();
    if b.len() != 29 || !DAYS.contains(&&b[0..3]) || &b[3..5] != b", " || &b[25..] != b" GMT" {
        return Err(TimestampError::Syntax);
    }
    let day = digits(b, 5, 2)?;
    expect(b, 7, b' ')?;
    let month = MONTHS
        .iter()
        .position(|m| *m == &b[8..11])
        .ok_or(TimestampError::Syntax)?;
    expect(b, 11, b' ')?;
    let year = digits(b, 12, 4)?;
    expect(b, 16, b' ')?;
    // The rest has the same shape as RFC 3339's time of day.
    let hms = std::str::from_utf8(&b[17..25]).map_err(|_| TimestampError::Syntax)?;
    let month = month + 1;
    parse_rfc3339(&format!("{year:04}-{month:02}-{day:02}T{hms}Z"))
}

/// `t + d`; when a [`SystemTime`] cannot hold that, the latest instant it can hold, the
/// closest to `t + d` it can come.
pub(crate) fn saturating_add(t: SystemTime, d: Duration) -> SystemTime {
    if let Some(sum) = t.checked_add(d) {
        return sum;
    }
    // `t + x` can be held for every `x` below one that can: search the most whole seconds
    // that can be added, then the most nanoseconds on top of them.
    let fits = |x: Duration| t.checked_add(x).is_some();
    let (mut lo, mut hi) = (0u64, d.as_secs());
    if fits(Duration::from_secs(hi)) {
        lo = hi;
    } else {
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if fits(Duration::from_secs(mid)) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
    }
    let secs = lo;
    // The nanoseconds may not take the sum past `t + d` itself.
    let (mut lo, mut hi) = (
        0u32,
        if secs == d.as_secs() {
            d.subsec_nanos()
        } else {
            999_999_999
        },
    );
    if fits(Duration::new(secs, hi)) {
        lo = hi;
    } else {
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if fits(Duration::new(secs, mid)) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
    }
    t.checked_add(Duration::new(secs, lo)).unwrap_or(t)
}

fn digits(b: &[u8], at: usize, len: usize) -> Result<i64, TimestampError> {
    let slice = b.get(at..at + len).ok_or(TimestampError::Syntax)?;
    slice.iter().try_fold(0i64, |acc, &c| {
        if c.is_ascii_digit() {
            Ok(acc * 10 + i64::from(c - b'0'))
        } else {
            Err(TimestampError::Syntax)
        }
    })
}

fn expect(b: &[u8], at: usize, want: u8) -> Result<(), TimestampError> {
    if b.get(at) == Some(&want) {
        Ok(())
    } else {
        Err(TimestampError::Syntax)
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (eras of 400 years).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn vendor_examples() {
        assert_eq!(
            parse_rfc3339("2024-04-22T11:07:24+00:00"),
            Ok(at(1_713_784_044))
        );
        assert_eq!(
            parse_rfc3339("2024-04-22T12:07:24+00:00"),
            Ok(at(1_713_787_644))
        );
        assert_eq!(
            parse_rfc3339("2022-01-01T00:00:00+00:00"),
            Ok(at(1_640_995_200))
        );
    }

    #[test]
    fn offsets_zulu_and_fractions() {
        let t = at(1_713_784_044);
        assert_eq!(parse_rfc3339("2024-04-22T11:07:24Z"), Ok(t));
        assert_eq!(parse_rfc3339("2024-04-22T14:37:24+03:30"), Ok(t));
        assert_eq!(parse_rfc3339("2024-04-22T06:07:24-05:00"), Ok(t));
        assert_eq!(
            parse_rfc3339("2024-04-22T11:07:24.123456789Z"),
            Ok(t + Duration::from_nanos(123_456_789))
        );
        // Digits beyond nanoseconds are read and dropped.
        assert_eq!(
            parse_rfc3339("2024-04-22T11:07:24.1234567891Z"),
            Ok(t + Duration::from_nanos(123_456_789))
        );
        assert_eq!(
            parse_rfc3339("1969-12-31T23:59:59Z"),
            Ok(UNIX_EPOCH - Duration::from_secs(1))
        );
    }

    #[test]
    fn garbage_is_an_error() {
        for bad in [
            "",
            "2024-04-22",
            "2024-04-22 11:07:24+00:00",
            "2024-04-22T11:07:24",
            "2024-04-22T11:07:24+0000",
            "2024-04-22T11:07:24.Z",
            "2024-04-22T11:07:24+00:00 ",
            "2024-4-22T11:07:24+00:00",
            "２024-04-22T11:07:24+00:00",
        ] {
            assert_eq!(parse_rfc3339(bad), Err(TimestampError::Syntax), "{bad:?}");
        }
        for bad in [
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-04-31T00:00:00Z",
            "2024-04-22T24:00:00Z",
            "2024-04-22T11:60:00Z",
            "2024-04-22T11:07:24+24:00",
        ] {
            assert_eq!(
                parse_rfc3339(bad),
                Err(TimestampError::OutOfRange),
                "{bad:?}"
            );
        }
        assert_eq!(parse_rfc3339("2024-02-29T00:00:00Z").map(|_| ()), Ok(()));
    }

    #[test]
    fn formats_like_the_pages() {
        assert_eq!(
            format_rfc3339(at(1_640_995_200)).unwrap(),
            "2022-01-01T00:00:00+00:00"
        );
        assert_eq!(
            format_rfc3339(at(0) + Duration::from_millis(250)).unwrap(),
            "1970-01-01T00:00:00.25+00:00"
        );
        assert_eq!(
            format_rfc3339(UNIX_EPOCH - Duration::from_millis(500)).unwrap(),
            "1969-12-31T23:59:59.5+00:00"
        );
    }

    /// 2024-04-22T11:07:24Z, a Monday.
    const NOW: u64 = 1_713_784_044;

    fn signed(secs: i64) -> SystemTime {
        if secs >= 0 {
            UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
        } else {
            UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
        }
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            parse_http_date("Thu, 01 Jan 1970 00:20:00 GMT"),
            Ok(at(1200))
        );
        for bad in [
            "",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
        ] {
            assert!(parse_http_date(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_http_date("Sun, 31 Feb 1994 08:49:37 GMT"),
            Err(TimestampError::OutOfRange)
        );
    }

    #[test]
    fn saturating_add_is_exact_until_the_type_ends() {
        assert_eq!(saturating_add(at(5), Duration::from_secs(10)), at(15));
        assert_eq!(
            saturating_add(signed(-5), Duration::new(10, 7)),
            at(5) + Duration::from_nanos(7)
        );
        let latest = saturating_add(UNIX_EPOCH, Duration::MAX);
        assert_eq!(latest.checked_add(Duration::from_nanos(1)), None);
        assert!(latest > at(u64::from(u32::MAX)));
        for t in [UNIX_EPOCH, at(NOW), signed(-1_000_000)] {
            assert_eq!(saturating_add(t, Duration::MAX), latest);
            assert_eq!(saturating_add(t, Duration::from_secs(u64::MAX)), latest);
        }
        // Near the end: whole seconds that fit and nanoseconds that do not, and the reverse.
        for back in [
            Duration::from_nanos(1),
            Duration::from_nanos(999_999_999),
            Duration::from_secs(1),
            Duration::new(1, 1),
            Duration::from_secs(1_000),
        ] {
            let t = latest - back;
            assert_eq!(saturating_add(t, back), latest, "{back:?}");
            assert_eq!(
                saturating_add(t, back + Duration::from_nanos(1)),
                latest,
                "{back:?}"
            );
            assert_eq!(
                saturating_add(t, back + Duration::from_secs(1)),
                latest,
                "{back:?}"
            );
            if let Some(short) = back.checked_sub(Duration::from_nanos(1)) {
                assert_eq!(
                    saturating_add(t, short),
                    latest - Duration::from_nanos(1),
                    "{back:?}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn round_trips(secs in -62_167_219_200i64..253_402_300_799, nanos in 0u32..1_000_000_000) {
            let base = if secs >= 0 {
                UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
            } else {
                UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
            };
            let t = base + Duration::from_nanos(u64::from(nanos));
            let text = format_rfc3339(t).unwrap();
            prop_assert_eq!(parse_rfc3339(&text), Ok(t));
        }

        #[test]
        fn never_panics(text in "\\PC{0,40}") {
            let _ = parse_rfc3339(&text);
            let _ = parse_http_date(&text);
        }

        #[test]
        fn never_panics_near_valid(text in "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,12})?([Zz]|[+-][0-9]{2}:[0-9]{2})") {
            let _ = parse_rfc3339(&text);
        }
    }
}
