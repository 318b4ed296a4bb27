//! Host dialects in the model-based tests: each case picks one of
//! [`Dialect::ALL`](b2core_auth::sim::Dialect::ALL) (part of the model's initial state, so
//! it shrinks towards `pages`), the simulator answers in it, and the hand-built answers of
//! the tests (a proxy's 429, a status line) speak it too.
//!
//! Use: `#[path = "support/dialects.rs"] mod dialects;`.

#![allow(dead_code)] // each test binary uses the part it needs

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use b2core_auth::sim::{Dialect, RetryAfter, SimConfig};
use proptest::prelude::*;

/// Any named dialect; shrinks towards the first, `pages`.
pub fn dialect() -> BoxedStrategy<Dialect> {
    prop::sample::select(Dialect::ALL.iter().map(|&(_, d)| d).collect::<Vec<_>>()).boxed()
}

/// The name of one of [`Dialect::ALL`].
pub fn name(dialect: &Dialect) -> &'static str {
    dialect.name().expect("one of Dialect::ALL")
}

/// The names of [`Dialect::ALL`].
pub fn all_names() -> impl Iterator<Item = &'static str> + Clone {
    Dialect::ALL.iter().map(|&(name, _)| name)
}

/// The simulator's configuration in `dialect`.
pub fn sim_config(dialect: Dialect) -> SimConfig {
    SimConfig {
        dialect,
        ..SimConfig::default()
    }
}

/// The name of a `Retry-After` form, for checklists.
pub fn retry_after_name(form: RetryAfter) -> &'static str {
    match form {
        RetryAfter::Seconds => "seconds",
        RetryAfter::ImfDate => "IMF-fixdate",
        RetryAfter::Rfc850 => "RFC 850 date",
        RetryAfter::Asctime => "asctime date",
        other => panic!("a Retry-After form the tests do not know: {other:?}"),
    }
}

/// The `Retry-After` forms every run must read.
pub const RETRY_AFTER_ALL: [&str; 4] = ["seconds", "IMF-fixdate", "RFC 850 date", "asctime date"];

/// When a wait of `secs` seconds from `now` ends, as `dialect` writes it in `Retry-After`:
/// exactly, in seconds; rounded up to a whole second, as an HTTP date.
pub fn retry_until(dialect: &Dialect, now: SystemTime, secs: u64) -> SystemTime {
    let until = now + Duration::from_secs(secs);
    match dialect.retry_after {
        RetryAfter::Seconds => until,
        _ => ceil_second(until),
    }
}

/// The `Retry-After` value of a wait of `secs` seconds from `now`, in `dialect`'s form.
pub fn retry_after_value(dialect: &Dialect, now: SystemTime, secs: u64) -> String {
    match dialect.retry_after {
        RetryAfter::Seconds => secs.to_string(),
        form => http_date(form, retry_until(dialect, now, secs)),
    }
}

fn ceil_second(t: SystemTime) -> SystemTime {
    let since = t.duration_since(UNIX_EPOCH).expect("after 1970");
    let whole = Duration::from_secs(since.as_secs());
    if since == whole {
        t
    } else {
        UNIX_EPOCH + whole + Duration::from_secs(1)
    }
}

/// `t` (a whole second after 1970) as an HTTP date in `form` (RFC 9110, section 5.6.7).
pub fn http_date(form: RetryAfter, t: SystemTime) -> String {
    const DAYS: [&str; 7] = [
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
    ];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = t.duration_since(UNIX_EPOCH).expect("after 1970").as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (h, m, s) = (rest / 3600, rest / 60 % 60, rest % 60);
    let (year, month, day) = civil(days);
    let weekday = DAYS[(days % 7) as usize];
    let wd = &weekday[..3];
    let mon = MONTHS[month as usize - 1];
    match form {
        RetryAfter::ImfDate => format!("{wd}, {day:02} {mon} {year} {h:02}:{m:02}:{s:02} GMT"),
        RetryAfter::Rfc850 => format!(
            "{weekday}, {day:02}-{mon}-{:02} {h:02}:{m:02}:{s:02} GMT",
            year % 100
        ),
        RetryAfter::Asctime => format!("{wd} {mon} {day:>2} {h:02}:{m:02}:{s:02} {year}"),
        other => panic!("not a date form: {other:?}"),
    }
}

/// (year, month 1-12, day 1-31) of the day `days` after 1970-01-01, by counting.
fn civil(mut days: u64) -> (u64, u64, u64) {
    let leap = |y: u64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mut year = 1970;
    loop {
        let len = if leap(year) { 366 } else { 365 };
        if days < len {
            break;
        }
        days -= len;
        year += 1;
    }
    let lengths = [
        31,
        if leap(year) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let mut month = 1;
    for len in lengths {
        if days < len {
            break;
        }
        days -= len;
        month += 1;
    }
    (year, month, days + 1)
}

#[cfg(test)]
mod self_test {
    use super::*;

    #[test]
    fn http_dates_in_the_three_forms() {
        // RFC 9110's example instant, Sunday 1994-11-06 08:49:37 GMT.
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(
            http_date(RetryAfter::ImfDate, t),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(
            http_date(RetryAfter::Rfc850, t),
            "Sunday, 06-Nov-94 08:49:37 GMT"
        );
        assert_eq!(
            http_date(RetryAfter::Asctime, t),
            "Sun Nov  6 08:49:37 1994"
        );
        // The last day of a leap year, and the first of the next.
        let t = UNIX_EPOCH + Duration::from_secs(1_735_603_200); // 2024-12-31
        assert_eq!(
            http_date(RetryAfter::ImfDate, t),
            "Tue, 31 Dec 2024 00:00:00 GMT"
        );
        let t = t + Duration::from_secs(86_400 + 3_723);
        assert_eq!(
            http_date(RetryAfter::Asctime, t),
            "Wed Jan  1 01:02:03 2025"
        );
        assert_eq!(
            http_date(RetryAfter::Rfc850, t),
            "Wednesday, 01-Jan-25 01:02:03 GMT"
        );
        // 2024-02-29.
        let t = UNIX_EPOCH + Duration::from_secs(1_709_164_800);
        assert_eq!(
            http_date(RetryAfter::ImfDate, t),
            "Thu, 29 Feb 2024 00:00:00 GMT"
        );
    }

    #[test]
    fn a_date_names_the_end_of_the_wait_rounded_up() {
        let now = UNIX_EPOCH + Duration::from_millis(1_713_784_044_250);
        let seconds = Dialect::named("pages").unwrap();
        let imf = Dialect::named("retry-after-imf-date").unwrap();
        assert_eq!(retry_after_value(&seconds, now, 600), "600");
        assert_eq!(
            retry_until(&seconds, now, 600),
            now + Duration::from_secs(600)
        );
        assert_eq!(
            retry_after_value(&imf, now, 600),
            "Mon, 22 Apr 2024 11:17:25 GMT"
        );
        assert_eq!(
            retry_until(&imf, now, 600),
            UNIX_EPOCH + Duration::from_secs(1_713_784_645)
        );
        let whole = UNIX_EPOCH + Duration::from_secs(1_713_784_044);
        assert_eq!(retry_until(&imf, whole, 1), whole + Duration::from_secs(1));
    }
}
