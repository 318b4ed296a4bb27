//! Strict RFC 3339 timestamps to and from [`SystemTime`], and HTTP dates, with no clock
//! reads.
//!
//! The vendor's pages write `2024-04-22T11:07:24+00:00`. Accepted: any UTC offset or `Z`,
//! optional fractional seconds (up to nanoseconds), years 0000–9999. HTTP dates (a
//! `Retry-After`) are read in the three forms RFC 9110 requires: see [`parse_http_date`].
//! Anything else is a [`TimestampError`]; no input panics.

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

/// Parses a strict RFC 3339 timestamp (examples: the unit test `examples`).
pub fn parse_rfc3339(text: &str) -> Result<SystemTime, TimestampError> {
    let (secs, nanos) = rfc3339_unix(text)?;
    from_unix(secs, nanos)
}

/// [`parse_rfc3339`], refusing an instant [`format_rfc3339`] cannot write back (see
/// [`check_rfc3339_writable`]), with no cost beyond the reading.
pub(crate) fn parse_rfc3339_writable(text: &str) -> Result<SystemTime, TimestampError> {
    let (secs, nanos) = rfc3339_unix(text)?;
    writable(secs)?;
    from_unix(secs, nanos)
}

/// An RFC 3339 timestamp as whole Unix seconds and the nanoseconds after them.
fn rfc3339_unix(text: &str) -> Result<(i64, u32), TimestampError> {
    let b = text.as_bytes();
    if b.len() < 20 {
        return Err(TimestampError::Syntax);
    }
    let year = digits(b, 0, 4)?;
    literal(b, 4, b"-")?;
    let month = digits(b, 5, 2)?;
    literal(b, 7, b"-")?;
    let day = digits(b, 8, 2)?;
    if !matches!(b[10], b'T' | b't') {
        return Err(TimestampError::Syntax);
    }
    let hour = digits(b, 11, 2)?;
    literal(b, 13, b":")?;
    let minute = digits(b, 14, 2)?;
    literal(b, 16, b":")?;
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
            literal(b, i + 3, b":")?;
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

    let secs = civil_secs(year, month, day, hour, minute, second)? - offset_secs;
    Ok((secs, nanos))
}

/// Writes an instant the way the vendor's pages do: `2024-04-22T11:07:24+00:00`, with a
/// fractional part only when the instant has one. Parked tokens carry their times so; a
/// caller may use it to show one (`tokens.access().expires_at()`).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use b2core_auth::format_rfc3339;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let t = UNIX_EPOCH + Duration::from_secs(1_713_784_044);
/// assert_eq!(format_rfc3339(t)?, "2024-04-22T11:07:24+00:00");
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// [`TimestampError`] for an instant outside the years 0000–9999 (UTC), which RFC 3339
/// cannot write.
pub fn format_rfc3339(t: SystemTime) -> Result<String, TimestampError> {
    let Utc {
        date: (year, month, day),
        rem,
        nanos,
    } = utc(t)?;
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

/// Whether [`format_rfc3339`] can write `t` (its year in UTC is 0000 to 9999), found
/// without writing it, nor finding its date.
pub(crate) fn check_rfc3339_writable(t: SystemTime) -> Result<(), TimestampError> {
    writable(unix_parts(t)?.0)
}

/// Whether the Unix second `secs` falls in the years 0000 to 9999 (UTC): from
/// 0000-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
fn writable(secs: i64) -> Result<(), TimestampError> {
    if (-62_167_219_200..=253_402_300_799).contains(&secs) {
        Ok(())
    } else {
        Err(TimestampError::Unrepresentable)
    }
}

/// An instant in UTC, as [`format_rfc3339`] writes it.
struct Utc {
    /// Year (0000 to 9999), month, day.
    date: (i64, i64, i64),
    /// Seconds into the day.
    rem: i64,
    nanos: u32,
}

fn utc(t: SystemTime) -> Result<Utc, TimestampError> {
    let (secs, nanos) = unix_parts(t)?;
    writable(secs)?;
    Ok(Utc {
        date: civil_from_days(secs.div_euclid(SECS_PER_DAY)),
        rem: secs.rem_euclid(SECS_PER_DAY),
        nanos,
    })
}

/// Parses an HTTP date (RFC 9110 §5.6.7), as a `Retry-After` header may carry it, in any
/// of the three forms a recipient must accept:
///
/// - IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`;
/// - the obsolete RFC 850 form: `Sunday, 06-Nov-94 08:49:37 GMT`;
/// - C's asctime form: `Sun Nov  6 08:49:37 1994` (the day is a digit after a space, or
///   two digits; no zone is written: it is GMT).
///
/// Each form is read by its own grammar and nothing else: names spelled (and capitalised)
/// as RFC 9110 spells them, the short weekday names in IMF-fixdate and asctime, the full
/// ones in RFC 850; fixed widths; single spaces; no leading or trailing whitespace. The
/// weekday must be a name of its form but is not checked against the date. A second of
/// `60` (a leap second) is read as the first second of the next minute.
///
/// `now` is read only for the RFC 850 form's two-digit year. RFC 9110 says that a date
/// that appears to be more than 50 years in the future is in the past century: the year is
/// taken as the latest one ending in those two digits that puts the date at most 50 years
/// after `now` (to the second, by the calendar). A year outside 0000–9999 is
/// [`TimestampError::Unrepresentable`]. Examples: the unit test `examples`.
pub fn parse_http_date(text: &str, now: SystemTime) -> Result<SystemTime, TimestampError> {
    let b = text.as_bytes();
    // The three forms differ from the start: a comma after a short weekday name, after a
    // long one, or none at all.
    let date = match b.iter().position(|&c| c == b',') {
        Some(3) => imf_fixdate(b)?,
        Some(comma) => rfc850_date(b, comma, now)?,
        None => asctime_date(b)?,
    };
    from_unix(date.secs()?, 0)
}

/// The weekday names of IMF-fixdate and asctime.
const DAY_NAMES: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];

/// The weekday names of the RFC 850 form.
const LONG_DAY_NAMES: [&[u8]; 7] = [
    b"Monday",
    b"Tuesday",
    b"Wednesday",
    b"Thursday",
    b"Friday",
    b"Saturday",
    b"Sunday",
];

const MONTHS: [&[u8]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// The fields of a date and time of day, in UTC, not yet checked for range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Civil {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
}

impl Civil {
    fn secs(self) -> Result<i64, TimestampError> {
        civil_secs(
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
        )
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`: exactly 29 bytes.
fn imf_fixdate(b: &[u8]) -> Result<Civil, TimestampError> {
    if b.len() != 29 {
        return Err(TimestampError::Syntax);
    }
    one_of(b.get(0..3), &DAY_NAMES)?;
    literal(b, 3, b", ")?;
    let day = digits(b, 5, 2)?;
    literal(b, 7, b" ")?;
    let month = month(b, 8)?;
    literal(b, 11, b" ")?;
    let year = digits(b, 12, 4)?;
    literal(b, 16, b" ")?;
    let (hour, minute, second) = time_of_day(b, 17)?;
    literal(b, 25, b" GMT")?;
    Ok(Civil {
        year,
        month,
        day,
        hour,
        minute,
        second,
    })
}

/// `Sunday, 06-Nov-94 08:49:37 GMT`: a long weekday name, then exactly 24 bytes from the
/// comma.
fn rfc850_date(b: &[u8], comma: usize, now: SystemTime) -> Result<Civil, TimestampError> {
    one_of(b.get(..comma), &LONG_DAY_NAMES)?;
    let rest = b.get(comma..).ok_or(TimestampError::Syntax)?;
    if rest.len() != 24 {
        return Err(TimestampError::Syntax);
    }
    literal(rest, 0, b", ")?;
    let day = digits(rest, 2, 2)?;
    literal(rest, 4, b"-")?;
    let month = month(rest, 5)?;
    literal(rest, 8, b"-")?;
    let two_digits = digits(rest, 9, 2)?;
    literal(rest, 11, b" ")?;
    let (hour, minute, second) = time_of_day(rest, 12)?;
    literal(rest, 20, b" GMT")?;
    let mut date = Civil {
        year: 0,
        month,
        day,
        hour,
        minute,
        second,
    };
    date.year = full_year(two_digits, date, now)?;
    Ok(date)
}

/// `Sun Nov  6 08:49:37 1994` (or `Sun Nov 16 ...`, or `Sun Nov 06 ...`): exactly 24 bytes.
fn asctime_date(b: &[u8]) -> Result<Civil, TimestampError> {
    if b.len() != 24 {
        return Err(TimestampError::Syntax);
    }
    one_of(b.get(0..3), &DAY_NAMES)?;
    literal(b, 3, b" ")?;
    let month = month(b, 4)?;
    literal(b, 7, b" ")?;
    // date3 = month SP ( 2DIGIT / ( SP DIGIT ) )
    let day = if b.get(8) == Some(&b' ') {
        digits(b, 9, 1)?
    } else {
        digits(b, 8, 2)?
    };
    literal(b, 10, b" ")?;
    let (hour, minute, second) = time_of_day(b, 11)?;
    literal(b, 19, b" ")?;
    let year = digits(b, 20, 4)?;
    Ok(Civil {
        year,
        month,
        day,
        hour,
        minute,
        second,
    })
}

/// The year of an RFC 850 date whose year is written as `two_digits`: the latest year
/// ending in those digits for which `date` is at most 50 calendar years after `now`.
fn full_year(two_digits: i64, date: Civil, now: SystemTime) -> Result<i64, TimestampError> {
    let (secs, _) = unix_parts(now)?;
    let (now_year, now_month, now_day) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
    let rem = secs.rem_euclid(SECS_PER_DAY);
    let limit = Civil {
        year: now_year + 50,
        month: now_month,
        day: now_day,
        hour: rem / 3600,
        minute: rem % 3600 / 60,
        second: rem % 60,
    };
    // The latest year not after the limit's that ends in the two digits...
    let mut year = limit.year - (limit.year - two_digits).rem_euclid(100);
    // ...unless that puts the date past the limit within the limit's own year.
    if year == limit.year && (Civil { year, ..date }) > limit {
        year -= 100;
    }
    if (0..=9999).contains(&year) {
        Ok(year)
    } else {
        Err(TimestampError::Unrepresentable)
    }
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

/// `HH:MM:SS` at `at`.
fn time_of_day(b: &[u8], at: usize) -> Result<(i64, i64, i64), TimestampError> {
    let hour = digits(b, at, 2)?;
    literal(b, at + 2, b":")?;
    let minute = digits(b, at + 3, 2)?;
    literal(b, at + 5, b":")?;
    let second = digits(b, at + 6, 2)?;
    Ok((hour, minute, second))
}

/// A three-letter month name at `at`, as 1–12.
fn month(b: &[u8], at: usize) -> Result<i64, TimestampError> {
    let index = one_of(b.get(at..at + 3), &MONTHS)?;
    Ok(index as i64 + 1)
}

/// The index of `field` in `names`, when it is exactly one of them.
fn one_of(field: Option<&[u8]>, names: &[&[u8]]) -> Result<usize, TimestampError> {
    field
        .and_then(|f| names.iter().position(|n| *n == f))
        .ok_or(TimestampError::Syntax)
}

/// Exactly `want` at `at`.
fn literal(b: &[u8], at: usize, want: &[u8]) -> Result<(), TimestampError> {
    if b.get(at..at + want.len()) == Some(want) {
        Ok(())
    } else {
        Err(TimestampError::Syntax)
    }
}

/// Seconds since the epoch of a UTC date and time, after checking each field's range
/// (years 0000–9999; a second of 60 is allowed for a leap second).
fn civil_secs(
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
) -> Result<i64, TimestampError> {
    if !(0..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(TimestampError::OutOfRange);
    }
    let days = days_from_civil(year, month, day);
    Ok(days * SECS_PER_DAY + hour * 3600 + minute * 60 + second)
}

/// The instant `secs` seconds and `nanos` nanoseconds after the epoch (`secs` may be
/// negative).
fn from_unix(secs: i64, nanos: u32) -> Result<SystemTime, TimestampError> {
    let base = if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(secs.unsigned_abs()))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
    };
    base.and_then(|t| t.checked_add(Duration::from_nanos(u64::from(nanos))))
        .ok_or(TimestampError::Unrepresentable)
}

/// An instant as whole seconds since the epoch (floored, so negative before it) and the
/// nanoseconds after them.
fn unix_parts(t: SystemTime) -> Result<(i64, u32), TimestampError> {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => Ok((
            i64::try_from(d.as_secs()).map_err(|_| TimestampError::Unrepresentable)?,
            d.subsec_nanos(),
        )),
        Err(e) => {
            let d = e.duration();
            let whole = i64::try_from(d.as_secs()).map_err(|_| TimestampError::Unrepresentable)?;
            Ok(match d.subsec_nanos() {
                0 => (-whole, 0),
                n => (-whole - 1, 1_000_000_000 - n),
            })
        }
    }
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

    /// The examples of the parsers' docs, from when they were public API.
    #[test]
    fn examples() {
        let t = parse_rfc3339("2024-04-22T11:07:24+00:00").unwrap();
        assert_eq!(t, UNIX_EPOCH + Duration::from_secs(1_713_784_044));
        assert_eq!(
            parse_rfc3339("2024-04-22T13:07:24.5+02:00").unwrap(),
            t + Duration::from_millis(500)
        );
        assert!(parse_rfc3339("yesterday").is_err());

        let now = UNIX_EPOCH + Duration::from_secs(1_713_784_044); // 2024-04-22T11:07:24Z
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", now), Ok(t));
        assert_eq!(
            parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", now),
            Ok(t)
        );
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994", now), Ok(t));
        // 2094 would be more than 50 years after `now`; 2025 is not.
        assert_eq!(
            parse_http_date("Wednesday, 01-Jan-25 00:00:00 GMT", now),
            Ok(UNIX_EPOCH + Duration::from_secs(1_735_689_600))
        );
        assert!(parse_http_date("Sun, 06 Nov 94 08:49:37 GMT", now).is_err());
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

    /// What can be written is found without writing: the same answer as writing, at
    /// each end of the years 0000 to 9999 and beyond.
    #[test]
    fn writable_is_what_formats() {
        let first = signed(-62_167_219_200); // 0000-01-01T00:00:00Z
        let last = signed(253_402_300_799) + Duration::from_nanos(999_999_999);
        let nano = Duration::from_nanos(1);
        for (t, writable) in [
            (first, true),
            (first - nano, false),
            (last, true),
            (last + nano, false),
            (UNIX_EPOCH, true),
            (signed(i64::MIN / 2), false),
            (signed(i64::MAX / 2), false),
        ] {
            assert_eq!(check_rfc3339_writable(t).is_ok(), writable, "{t:?}");
            assert_eq!(format_rfc3339(t).is_ok(), writable, "{t:?}");
            assert_eq!(check_rfc3339_writable(t).err(), format_rfc3339(t).err());
        }
        // Read and checked at once, as parsing and then checking does.
        for text in [
            "0000-01-01T00:00:00Z",
            "0000-01-01T00:59:59+01:00",
            "0000-01-01T01:00:00+01:00",
            "9999-12-31T23:59:59.999999999Z",
            "9999-12-31T23:00:00-01:00",
            "9999-12-31T22:59:59-01:00",
            "2024-04-22T11:07:24+00:00",
            "2024-02-30T00:00:00Z",
            "soon",
        ] {
            let checked = parse_rfc3339(text).and_then(|t| check_rfc3339_writable(t).map(|()| t));
            assert_eq!(parse_rfc3339_writable(text), checked, "{text}");
        }
        assert!(parse_rfc3339_writable("0000-01-01T00:59:59+01:00").is_err());
        assert!(parse_rfc3339_writable("9999-12-31T22:59:59-01:00").is_ok());
        assert_eq!(format_rfc3339(first).unwrap(), "0000-01-01T00:00:00+00:00");
        assert_eq!(
            format_rfc3339(last).unwrap(),
            "9999-12-31T23:59:59.999999999+00:00"
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

    fn http(text: &str) -> Result<SystemTime, TimestampError> {
        parse_http_date(text, at(NOW))
    }

    #[test]
    fn http_dates_in_each_form() {
        // RFC 9110 §5.6.7's example, in its three forms.
        let t = at(784_111_777);
        assert_eq!(http("Sun, 06 Nov 1994 08:49:37 GMT"), Ok(t));
        assert_eq!(http("Sunday, 06-Nov-94 08:49:37 GMT"), Ok(t));
        assert_eq!(http("Sun Nov  6 08:49:37 1994"), Ok(t));
        // The writer of the round-trip test below writes them so.
        assert_eq!(
            http_forms(t + Duration::from_millis(999)),
            [
                "Sun, 06 Nov 1994 08:49:37 GMT",
                "Sunday, 06-Nov-94 08:49:37 GMT",
                "Sun Nov  6 08:49:37 1994",
            ]
        );
        // asctime's day is `SP DIGIT` or `2DIGIT`.
        assert_eq!(http("Sun Nov 06 08:49:37 1994"), Ok(t));
        assert_eq!(
            http("Wed Nov 16 08:49:37 1994"),
            Ok(t + Duration::from_secs(10 * 86_400))
        );
        assert_eq!(http("Thu, 01 Jan 1970 00:20:00 GMT"), Ok(at(1200)));
        assert_eq!(http("Thu Jan  1 00:20:00 1970"), Ok(at(1200)));
        // In 2024, `69` is 2069: not more than 50 years ahead.
        assert_eq!(
            http("Tuesday, 31-Dec-69 23:59:59 GMT"),
            parse_rfc3339("2069-12-31T23:59:59Z")
        );
        // Every weekday name of each form is read; none is checked against the date.
        for (short, long) in DAY_NAMES.iter().zip(LONG_DAY_NAMES) {
            let short = std::str::from_utf8(short).unwrap();
            let long = std::str::from_utf8(long).unwrap();
            assert_eq!(http(&format!("{short}, 06 Nov 1994 08:49:37 GMT")), Ok(t));
            assert_eq!(http(&format!("{long}, 06-Nov-94 08:49:37 GMT")), Ok(t));
            assert_eq!(http(&format!("{short} Nov  6 08:49:37 1994")), Ok(t));
        }
        // Every month name.
        for (index, month) in MONTHS.iter().enumerate() {
            let month = std::str::from_utf8(month).unwrap();
            let want = parse_rfc3339(&format!("1994-{:02}-06T08:49:37Z", index + 1));
            assert_eq!(http(&format!("Sun, 06 {month} 1994 08:49:37 GMT")), want);
            assert_eq!(http(&format!("Sunday, 06-{month}-94 08:49:37 GMT")), want);
            assert_eq!(http(&format!("Sun {month}  6 08:49:37 1994")), want);
        }
        // A leap second is the first second of the next minute, as in RFC 3339.
        assert_eq!(http("Sat, 31 Dec 2016 23:59:60 GMT"), Ok(at(1_483_228_800)));
    }

    #[test]
    fn http_dates_on_leap_years_and_month_ends() {
        let feb_29_2024 = at(1_709_208_000);
        assert_eq!(http("Thu, 29 Feb 2024 12:00:00 GMT"), Ok(feb_29_2024));
        assert_eq!(http("Thursday, 29-Feb-24 12:00:00 GMT"), Ok(feb_29_2024));
        assert_eq!(http("Thu Feb 29 12:00:00 2024"), Ok(feb_29_2024));
        // 2000 is a leap year (divisible by 400), 1900 is not (by 100), 2023 is not.
        assert_eq!(http("Tue, 29 Feb 2000 00:00:00 GMT"), Ok(at(951_782_400)));
        assert_eq!(http("Tue Feb 29 00:00:00 2000"), Ok(at(951_782_400)));
        assert_eq!(
            http("Wed, 28 Feb 1900 23:59:59 GMT"),
            Ok(signed(-2_203_891_201))
        );
        for bad in [
            "Thu, 29 Feb 1900 00:00:00 GMT",
            "Wed, 29 Feb 2023 00:00:00 GMT",
            "Wednesday, 29-Feb-23 00:00:00 GMT",
            "Wed Feb 29 00:00:00 2023",
            "Thu Feb 29 00:00:00 1900",
            // April has 30 days.
            "Wed, 31 Apr 2024 00:00:00 GMT",
            "Wednesday, 31-Apr-24 00:00:00 GMT",
            "Wed Apr 31 00:00:00 2024",
            "Sun, 31 Feb 1994 08:49:37 GMT",
            "Sun, 32 Jan 1994 08:49:37 GMT",
            "Sun, 00 Jan 1994 08:49:37 GMT",
            "Sun Jan  0 08:49:37 1994",
            "Sunday, 00-Jan-94 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:60:00 GMT",
            "Sun, 06 Nov 1994 08:49:61 GMT",
            "Sunday, 06-Nov-94 24:49:37 GMT",
            "Sun Nov  6 08:49:61 1994",
        ] {
            assert_eq!(http(bad), Err(TimestampError::OutOfRange), "{bad:?}");
        }
        // The first and last days of the four-digit years.
        assert_eq!(
            http("Sat, 01 Jan 0000 00:00:00 GMT"),
            Ok(signed(-62_167_219_200))
        );
        assert_eq!(http("Fri Dec 31 23:59:59 9999"), Ok(at(253_402_300_799)));
    }

    #[test]
    fn http_dates_are_read_by_their_grammar_only() {
        // Each text below is one of these with something changed.
        for good in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(http(good), Ok(at(784_111_777)), "{good:?}");
        }
        for bad in [
            "",
            " ",
            "GMT",
            // Weekday names: of the wrong form, misspelt, or capitalised otherwise.
            "Son, 06 Nov 1994 08:49:37 GMT",
            "sun, 06 Nov 1994 08:49:37 GMT",
            "SUN, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06-Nov-94 08:49:37 GMT",
            "Sundae, 06-Nov-94 08:49:37 GMT",
            "sunday, 06-Nov-94 08:49:37 GMT",
            "Sund, 06-Nov-94 08:49:37 GMT",
            "Sundayy, 06-Nov-94 08:49:37 GMT",
            ", 06-Nov-94 08:49:37 GMT",
            "Sunday Nov  6 08:49:37 1994",
            "Snu Nov  6 08:49:37 1994",
            // Month names.
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 nov 1994 08:49:37 GMT",
            "Sun, 06 NOV 1994 08:49:37 GMT",
            "Sunday, 06-November-94 08:49:37 GMT",
            "Sun nov  6 08:49:37 1994",
            // Widths and padding.
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun,  6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Sun, 06 Nov 01994 08:49:37 GMT",
            "Sun, 06 Nov 1994 8:49:37 GMT",
            "Sunday, 6-Nov-94 08:49:37 GMT",
            "Sunday,  6-Nov-94 08:49:37 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sunday, 06-Nov-4 08:49:37 GMT",
            "Sun Nov 6 08:49:37 1994",
            "Sun Nov 6  08:49:37 1994",
            "Sun Nov   6 08:49:37 1994",
            "Sun Nov  06 08:49:37 1994",
            "Sun Nov  6 08:49:37 94",
            "Sun Nov  6 8:49:37 1994",
            // Separators, zones and whitespace.
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Nov 1994 08:49:37 gmt",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 06 Nov 1994 08:49:37 GMT ",
            " Sun, 06 Nov 1994 08:49:37 GMT",
            "Sun,06 Nov 1994 08:49:37 GMT",
            "Sun 06 Nov 1994 08:49:37 GMT",
            "Sun, 06-Nov-1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08-49-37 GMT",
            "Sun, 06 Nov 1994T08:49:37 GMT",
            "Sunday, 06 Nov 94 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 UTC",
            "Sunday,06-Nov-94 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37",
            "Sunday, 06-Nov-94 08:49:37 GMT ",
            "Sun Nov  6 08:49:37 1994 GMT",
            "Sun Nov  6 08:49:37 1994 ",
            "Sun,Nov  6 08:49:37 1994",
            "Sun Nov  6 08:49:37  994",
            // Signs and other digits.
            "Sun, +6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov -994 08:49:37 GMT",
            "Sun Nov +6 08:49:37 1994",
            "Sun, ０6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(http(bad), Err(TimestampError::Syntax), "{bad:?}");
        }
    }

    #[test]
    fn an_rfc850_year_is_at_most_50_years_after_now() {
        // Exactly 50 years after `now` is not "more than 50 years in the future"...
        assert_eq!(
            http("Sunday, 22-Apr-74 11:07:24 GMT"),
            Ok(at(3_291_620_844))
        );
        // ...one second later is, so it is the past century's.
        assert_eq!(http("Monday, 22-Apr-74 11:07:25 GMT"), Ok(at(135_860_845)));
        assert_eq!(
            http("Wednesday, 01-Jan-25 00:00:00 GMT"),
            Ok(at(1_735_689_600))
        );
        assert_eq!(http("Monday, 22-Apr-24 11:07:24 GMT"), Ok(at(NOW)));
        assert_eq!(http("Sunday, 06-Nov-94 08:49:37 GMT"), Ok(at(784_111_777)));
        // Against another `now`, the same text is another year: the window moves with it.
        let y2k = at(946_684_800); // 2000-01-01T00:00:00Z
        assert_eq!(
            parse_http_date("Saturday, 01-Jan-00 00:00:00 GMT", y2k),
            Ok(y2k)
        );
        assert_eq!(
            parse_http_date("Saturday, 01-Jan-50 00:00:00 GMT", y2k),
            Ok(at(2_524_608_000))
        );
        assert_eq!(
            parse_http_date("Sunday, 01-Jan-50 00:00:01 GMT", y2k),
            Ok(signed(-631_151_999))
        );
        // Late in a century, `00` is the coming year, not one 99 years ago.
        assert_eq!(
            parse_http_date("Friday, 01-Jan-00 00:00:00 GMT", at(4_083_955_200)),
            Ok(at(4_102_444_800))
        );
        assert_eq!(
            parse_http_date("Wednesday, 31-Dec-69 23:59:59 GMT", UNIX_EPOCH),
            Ok(signed(-1))
        );
        // The year depends on the whole date, so Feb 29 is checked in the year chosen:
        // at the start of 2060, `00` is 2100, which is not a leap year.
        let early_2060 = parse_rfc3339("2060-01-01T00:00:00Z").unwrap();
        assert_eq!(
            parse_http_date("Tuesday, 29-Feb-00 00:00:00 GMT", early_2060),
            Err(TimestampError::OutOfRange)
        );
        assert_eq!(
            parse_http_date("Monday, 28-Feb-00 00:00:00 GMT", early_2060),
            parse_rfc3339("2100-02-28T00:00:00Z")
        );
        // A year beyond 9999 cannot be returned; a `now` far out does not overflow.
        let year_9990 = at(253_086_768_000);
        assert_eq!(
            parse_http_date("Monday, 01-Jan-40 00:00:00 GMT", year_9990),
            Err(TimestampError::Unrepresentable)
        );
        assert_eq!(
            parse_http_date("Monday, 01-Jan-99 00:00:00 GMT", year_9990),
            parse_rfc3339("9999-01-01T00:00:00Z")
        );
        let latest = saturating_add(UNIX_EPOCH, Duration::MAX);
        assert_eq!(
            parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", latest),
            Err(TimestampError::Unrepresentable)
        );
        // The other forms do not read `now` at all.
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", latest),
            Ok(at(784_111_777))
        );
        assert_eq!(
            parse_http_date("Sun Nov  6 08:49:37 1994", latest),
            Ok(at(784_111_777))
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

    const LONG_NAMES_FROM_THURSDAY: [&str; 7] = [
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
    ];
    const MONTH_NAMES: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];

    /// `t` (to the second) in IMF-fixdate, RFC 850 and asctime forms, written from its
    /// RFC 3339 text and the weekday counted from 1970-01-01, a Thursday.
    fn http_forms(t: SystemTime) -> [String; 3] {
        let rfc = format_rfc3339(t).unwrap();
        let (year, month, day, hms) = (&rfc[0..4], &rfc[5..7], &rfc[8..10], &rfc[11..19]);
        let month = MONTH_NAMES[month.parse::<usize>().unwrap() - 1];
        let (secs, _) = unix_parts(t).unwrap();
        let long = LONG_NAMES_FROM_THURSDAY[secs.div_euclid(86_400).rem_euclid(7) as usize];
        let short = &long[..3];
        let day_sp = format!("{:>2}", day.trim_start_matches('0'));
        [
            format!("{short}, {day} {month} {year} {hms} GMT"),
            format!("{long}, {day}-{month}-{} {hms} GMT", &year[2..]),
            format!("{short} {month} {day_sp} {hms} {year}"),
        ]
    }

    /// An instant from whole seconds since the epoch and nanoseconds.
    fn instant(secs: i64, nanos: u32) -> SystemTime {
        signed(secs) + Duration::from_nanos(u64::from(nanos))
    }

    /// 49 years of 365 days: less than 50 calendar years either way.
    const FORTY_NINE_YEARS: i64 = 49 * 365 * 86_400;

    proptest! {
        #[test]
        fn round_trips(secs in -62_167_219_200i64..253_402_300_799, nanos in 0u32..1_000_000_000) {
            let base = if secs >= 0 {
                UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
            } else {
                UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
            };
            let t = base + Duration::from_nanos(u64::from(nanos));
            prop_assert_eq!(check_rfc3339_writable(t), Ok(()));
            let text = format_rfc3339(t).unwrap();
            prop_assert_eq!(parse_rfc3339(&text), Ok(t));
        }

        #[test]
        fn never_panics(text in "\\PC{0,40}", now in any::<i64>()) {
            let _ = parse_rfc3339(&text);
            let _ = parse_http_date(&text, from_unix(now, 0).unwrap_or(UNIX_EPOCH));
        }
        #[test]
        fn http_dates_round_trip_in_each_form(
            secs in -62_167_219_200i64..253_402_300_799,
            nanos in 0u32..1_000_000_000,
            from_now in -FORTY_NINE_YEARS..=FORTY_NINE_YEARS,
            edit in 0u8..3,
            edit_at in any::<usize>(),
            with in prop::char::range(' ', '~'),
        ) {
            let t = instant(secs, nanos);
            let whole = signed(secs);
            // For the two-digit year, `now` is within 49 years of `t`, either way.
            let now = instant(secs + from_now, nanos);
            for text in http_forms(t) {
                prop_assert_eq!(parse_http_date(&text, now), Ok(whole), "{}", text);
                // One character changed, removed or added: no panic, and whatever is
                // still read is an instant of a four-digit year.
                let mut chars: Vec<char> = text.chars().collect();
                let at = edit_at % (chars.len() + 1);
                match edit {
                    0 if at < chars.len() => chars[at] = with,
                    1 if at < chars.len() => {
                        chars.remove(at);
                    }
                    _ => chars.insert(at, with),
                }
                let edited: String = chars.into_iter().collect();
                if let Ok(read) = parse_http_date(&edited, now) {
                    let written = format_rfc3339(read).unwrap();
                    prop_assert_eq!(parse_rfc3339(&written), Ok(read), "{}", edited);
                }
            }
        }

        #[test]
        fn never_panics_near_valid(text in "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,12})?([Zz]|[+-][0-9]{2}:[0-9]{2})") {
            let _ = parse_rfc3339(&text);
        }
    }
}
