//! Host dialects: how the simulator answers where the vendor's pages leave room.
//!
//! What clients send is judged the same way in every dialect (the same violations); a
//! dialect changes only how the server answers: how it writes its answers and, with
//! [`Dialect::access_outlives_refresh`], whether a refresh revokes the old access token.
//! The crate's own reading is [`Dialect::PAGES`], the default.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderValue;
use serde::Serialize;
use serde_json::Value;

use crate::time::format_rfc3339;

/// How the simulator answers where the vendor's pages leave room.
///
/// Each field is one point the pages leave open; [`Dialect::ALL`] names the dialects the
/// simulator's own tests run, one point turned at a time plus all of them at once. Build
/// another combination from a named one by setting its fields:
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use b2core_auth::sim::{Dialect, RetryAfter, Server, SimConfig, StatusLine};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// assert_eq!(Dialect::default(), Dialect::PAGES);
/// assert_eq!(Dialect::PAGES.name(), Some("pages"));
///
/// let mut dialect = Dialect::named("status-200").ok_or("a named dialect")?;
/// assert_eq!(dialect.status, StatusLine::Always200);
/// dialect.retry_after = RetryAfter::ImfDate;
/// assert_eq!(dialect.name(), None, "not one of the named dialects");
///
/// let mut server = Server::new(SimConfig { dialect, ..SimConfig::default() });
/// let now = UNIX_EPOCH + Duration::from_secs(1_713_784_044);
/// let sign_up_wizard = http::Request::post("https://host.name/api/v2/my/signup/wizard")
///     .header("Accept", "application/json")
///     .header("Content-Type", "application/json")
///     .body(br#"{"url": "https://host.name/register/{registration}/{code}"}"#.to_vec())?;
/// let response = server.handle(&sign_up_wizard, now);
/// assert_eq!(response.status(), 200, "HTTP 200 ...");
/// let body: serde_json::Value = serde_json::from_slice(response.body())?;
/// assert_eq!(body["code"], 202, "... for a body whose code is 202");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Dialect {
    /// The HTTP status line of the client wizards' successful answers.
    pub status: StatusLine,
    /// The answer to the sign-in wizard's init (`GET /api/v2/my/signin/wizard`).
    pub wizard_init: WizardInit,
    /// The answer to the client refresh (`POST /api/v2/my/refresh`).
    pub refresh_answer: RefreshAnswer,
    /// Every JSON object the server writes gets one more member, last:
    /// `"x_sim_extra":{"note":"unknown field"}` (the envelope, `data`, `recaptcha`, each
    /// token object and `tfaProviders` entry, `2faDetails`, the Back Office answers, error
    /// bodies and their parts).
    ///
    /// The pages list the fields of each answer but never say there are no others; a
    /// host may add its own. `false` (the default) writes exactly the listed fields.
    pub extra_fields: bool,
    /// Every JSON answer's `Content-Type` is `application/json; charset=utf-8` instead of
    /// `application/json`.
    ///
    /// The pages show the `Content-Type` of requests only; a media-type parameter is what
    /// many hosts send.
    pub charset: bool,
    /// The form of the `Retry-After` header of 429 answers.
    pub retry_after: RetryAfter,
    /// Optional fields that would carry a value meaning "nothing" are written as `null`:
    /// `tfaProviders: null` instead of `[]` (the `Terminate` answer),
    /// `is_qr_available: null` and `is_password_recovery_available: null` instead of
    /// `false` (the sign-in wizard init), `data: null` instead of `{}` (the sign-up
    /// answer), `fields: null` instead of `{}` (the sign-up wizard init), and
    /// `accessToken: null`, `refreshToken: null` (with `2faDetails`), `2faDetails: null`
    /// (without) where the Back Office sign-in answer leaves them out.
    ///
    /// The sign-in page types `data` as "object or null" and its own Step 2 example writes
    /// `"accessToken": null`: a host may write `null` for any field that holds nothing.
    /// `false` (the default) writes the values above, and leaves the Back Office fields
    /// out, as the pages' examples do.
    pub null_optionals: bool,
    /// A refresh revokes the old refresh token at once but leaves the old access token a
    /// live access token of its session until its own `expiresAt`: it still authorizes
    /// [`Server::bearer_holder`](super::Server::bearer_holder), and a sign-out with it
    /// signs the session out. Both realms.
    ///
    /// The pages say a refresh gives "a new set of access and refresh tokens" and that a
    /// sign-out answers 401 to a revoked access token; they never say whether a refresh
    /// revokes the old access token. `false` (the default) revokes it with the old
    /// refresh token. A client that keeps using the old access token while a refresh is
    /// in flight meets a 401 only under `false`.
    ///
    /// ```
    /// use b2core_auth::sim::Dialect;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// assert!(!Dialect::PAGES.access_outlives_refresh);
    /// let dialect = Dialect::named("access-outlives-refresh").ok_or("a named dialect")?;
    /// assert!(dialect.access_outlives_refresh);
    /// let mut pages = Dialect::PAGES;
    /// pages.access_outlives_refresh = true;
    /// assert_eq!(pages, dialect, "one knob turned");
    /// # Ok(()) }
    /// ```
    pub access_outlives_refresh: bool,
}

/// The HTTP status line of a client wizard's successful answer.
///
/// The pages give every wizard answer a body field `code` ("An HTTP code specifying the
/// current step": 200 for an intermediary step, 202 for the final one, 400 for an invalid
/// request) but never show the status line the answer travels with.
///
/// ```
/// use b2core_auth::sim::{Dialect, StatusLine};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// assert_eq!(Dialect::PAGES.status, StatusLine::MirrorCode);
/// let status_200 = Dialect::named("status-200").ok_or("a named dialect")?;
/// assert_eq!(status_200.status, StatusLine::Always200);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum StatusLine {
    /// The status line is the body's `code`: a final step (`code: 202`) is HTTP 202.
    /// Reading "an HTTP code" as the status the answer is sent with.
    #[default]
    MirrorCode,
    /// Every successful answer of the client wizards (sign-in with its 2FA steps,
    /// restore/reset, the sign-up wizard and sign-up) is HTTP 200, whatever its body's
    /// `code`: reading `code` as a field of the body only. Refusals, violations and 429
    /// keep their status; the Back Office, refresh and sign-out answer 200 in every
    /// dialect.
    Always200,
}

/// The answer to the sign-in wizard's init, `GET /api/v2/my/signin/wizard`.
///
/// Two published versions of the sign-in page disagree (`spec/client-signin.txt` and
/// `spec/client-signin-other-versions.txt`).
///
/// ```
/// use std::time::UNIX_EPOCH;
/// use b2core_auth::sim::{Dialect, Server, SimConfig, WizardInit};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dialect = Dialect::named("done-at-init").ok_or("a named dialect")?;
/// assert_eq!(dialect.wizard_init, WizardInit::DoneAtInit);
/// let mut server = Server::new(SimConfig { dialect, ..SimConfig::default() });
/// let init = http::Request::get("https://host.name/api/v2/my/signin/wizard")
///     .header("Accept", "application/json")
///     .header("Content-Type", "application/json")
///     .body(Vec::new())?;
/// let response = server.handle(&init, UNIX_EPOCH);
/// assert_eq!(response.status(), 202);
/// let body: serde_json::Value = serde_json::from_slice(response.body())?;
/// assert_eq!((&body["code"], &body["done"]), (&202.into(), &true.into()));
/// assert_eq!(body["workflow"], "login");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum WizardInit {
    /// The current page (Step 1): `"code": 200`, `"done": false`, workflow `login`, with
    /// `done` meaning "a client was successfully authenticated".
    #[default]
    CurrentPage,
    /// The other published version: `"code": 202`, `"done": true`, workflow `login`, with
    /// `done` meaning "the wizard initialization succeeded". The `data` is the same, and
    /// the uuid stays open for the credentials: nothing but `code`, `done` (and, under
    /// [`StatusLine::MirrorCode`], the status 202) changes.
    DoneAtInit,
}

/// The answer to the client refresh, `POST /api/v2/my/refresh`.
///
/// The vendor's index documents the path, not the answer. The Back Office page documents
/// the bare pair for its own refresh (`POST /api/v2/refresh`), which stays bare in every
/// dialect; third-party clients read the client refresh both bare and inside a wizard
/// envelope. Every form answers HTTP 200.
///
/// ```
/// use b2core_auth::sim::{Dialect, RefreshAnswer};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// assert_eq!(Dialect::PAGES.refresh_answer, RefreshAnswer::Bare);
/// let dialect = Dialect::named("refresh-envelope-no-uuid").ok_or("a named dialect")?;
/// assert_eq!(dialect.refresh_answer, RefreshAnswer::EnvelopeNoUuid);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum RefreshAnswer {
    /// `{"accessToken":{..},"refreshToken":{..}}`, as the Back Office page's refresh.
    #[default]
    Bare,
    /// `{"code":200,"data":{"accessToken":{..},"refreshToken":{..}},"done":true,
    /// "uuid":"<a fresh uuid>","workflow":"Terminate"}`: the pair in a wizard envelope.
    /// The uuid belongs to no wizard.
    Envelope,
    /// The envelope with `"uuid":null,"workflow":null`.
    EnvelopeNullUuid,
    /// The envelope without the `uuid` and `workflow` members.
    EnvelopeNoUuid,
}

/// The form of `Retry-After` on 429 answers.
///
/// The pages state the limits, not the answer to a refused attempt. HTTP (RFC 9110,
/// section 10.2.3) lets `Retry-After` be seconds or an HTTP date, and a recipient must read
/// the date in three formats. Every form names the same instant: the answer's `now` plus
/// the seconds, rounded up to a whole second for the dates (never before the wait ends).
/// A date past the year 9999 cannot be written: such a 429 is answered 500 instead, as
/// tokens that cannot be timestamped are.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use b2core_auth::sim::{Dialect, RetryAfter, Server, SimConfig};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dialect = Dialect::named("retry-after-asctime").ok_or("a named dialect")?;
/// assert_eq!(dialect.retry_after, RetryAfter::Asctime);
/// let mut server = Server::new(SimConfig { dialect, ..SimConfig::default() });
/// let staff_sign_in = http::Request::post("https://host.name/api/v2/signin")
///     .body(br#"{"email": "foo@bar.com", "password": "Secret123"}"#.to_vec())?;
/// let now = UNIX_EPOCH + Duration::from_secs(1_713_784_044); // Mon, 22 Apr 2024 11:07:24
/// for _ in 0..5 {
///     assert_eq!(server.handle(&staff_sign_in, now).status(), 400, "no such account");
/// }
/// let limited = server.handle(&staff_sign_in, now);
/// assert_eq!(limited.status(), 429);
/// assert_eq!(limited.headers()["retry-after"], "Mon Apr 22 11:08:24 2024");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum RetryAfter {
    /// Whole seconds to wait (at least 1), e.g. `600`.
    #[default]
    Seconds,
    /// IMF-fixdate, the preferred HTTP date: `Mon, 22 Apr 2024 12:07:24 GMT`.
    ImfDate,
    /// The obsolete RFC 850 date, two-digit year: `Monday, 22-Apr-24 12:07:24 GMT`.
    Rfc850,
    /// The obsolete asctime date, day of month padded with a space:
    /// `Mon Apr 22 12:07:24 2024`, `Tue Apr  2 12:07:24 2024`.
    Asctime,
}

impl Default for Dialect {
    /// [`Dialect::PAGES`].
    fn default() -> Self {
        Self::PAGES
    }
}

impl Dialect {
    /// The crate's reading of the pages, the default: the status line mirrors `code`, the
    /// current sign-in page's init, a bare client refresh pair, only the documented
    /// fields, `Content-Type: application/json`, `Retry-After` in seconds, no `null`
    /// where a value meaning "nothing" fits, and a refresh that revokes the old access
    /// token with the old refresh token.
    ///
    /// ```
    /// use b2core_auth::sim::{Dialect, RefreshAnswer, RetryAfter, StatusLine, WizardInit};
    ///
    /// let pages = Dialect::PAGES;
    /// assert_eq!(pages.status, StatusLine::MirrorCode);
    /// assert_eq!(pages.wizard_init, WizardInit::CurrentPage);
    /// assert_eq!(pages.refresh_answer, RefreshAnswer::Bare);
    /// assert!(!pages.extra_fields && !pages.charset && !pages.null_optionals);
    /// assert!(!pages.access_outlives_refresh);
    /// assert_eq!(pages.retry_after, RetryAfter::Seconds);
    /// ```
    pub const PAGES: Dialect = Dialect {
        status: StatusLine::MirrorCode,
        wizard_init: WizardInit::CurrentPage,
        refresh_answer: RefreshAnswer::Bare,
        extra_fields: false,
        charset: false,
        retry_after: RetryAfter::Seconds,
        null_optionals: false,
        access_outlives_refresh: false,
    };

    /// Every named dialect, the default ("pages") first: one knob turned per entry, plus
    /// "everything" with every knob turned at once (`Always200`, `DoneAtInit`,
    /// `EnvelopeNullUuid`, extra fields, charset, `Rfc850`, nulls, the old access token
    /// outliving a refresh).
    ///
    /// ```
    /// use b2core_auth::sim::Dialect;
    ///
    /// let names: Vec<&str> = Dialect::ALL.iter().map(|(name, _)| *name).collect();
    /// assert_eq!(names[0], "pages");
    /// assert_eq!(names.last(), Some(&"everything"));
    /// assert!(names.contains(&"retry-after-rfc850"));
    /// assert_eq!(Dialect::ALL[0].1, Dialect::default());
    /// ```
    pub const ALL: &'static [(&'static str, Dialect)] = &[
        ("pages", Self::PAGES),
        (
            "status-200",
            Dialect {
                status: StatusLine::Always200,
                ..Self::PAGES
            },
        ),
        (
            "done-at-init",
            Dialect {
                wizard_init: WizardInit::DoneAtInit,
                ..Self::PAGES
            },
        ),
        (
            "refresh-envelope",
            Dialect {
                refresh_answer: RefreshAnswer::Envelope,
                ..Self::PAGES
            },
        ),
        (
            "refresh-envelope-null-uuid",
            Dialect {
                refresh_answer: RefreshAnswer::EnvelopeNullUuid,
                ..Self::PAGES
            },
        ),
        (
            "refresh-envelope-no-uuid",
            Dialect {
                refresh_answer: RefreshAnswer::EnvelopeNoUuid,
                ..Self::PAGES
            },
        ),
        (
            "extra-fields",
            Dialect {
                extra_fields: true,
                ..Self::PAGES
            },
        ),
        (
            "charset",
            Dialect {
                charset: true,
                ..Self::PAGES
            },
        ),
        (
            "retry-after-imf-date",
            Dialect {
                retry_after: RetryAfter::ImfDate,
                ..Self::PAGES
            },
        ),
        (
            "retry-after-rfc850",
            Dialect {
                retry_after: RetryAfter::Rfc850,
                ..Self::PAGES
            },
        ),
        (
            "retry-after-asctime",
            Dialect {
                retry_after: RetryAfter::Asctime,
                ..Self::PAGES
            },
        ),
        (
            "null-optionals",
            Dialect {
                null_optionals: true,
                ..Self::PAGES
            },
        ),
        (
            "access-outlives-refresh",
            Dialect {
                access_outlives_refresh: true,
                ..Self::PAGES
            },
        ),
        (
            "everything",
            Dialect {
                status: StatusLine::Always200,
                wizard_init: WizardInit::DoneAtInit,
                refresh_answer: RefreshAnswer::EnvelopeNullUuid,
                extra_fields: true,
                charset: true,
                retry_after: RetryAfter::Rfc850,
                null_optionals: true,
                access_outlives_refresh: true,
            },
        ),
    ];

    /// The dialect of that name in [`Dialect::ALL`] (compared exactly), or `None`.
    ///
    /// ```
    /// use b2core_auth::sim::{Dialect, RetryAfter};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let imf_date = Dialect::named("retry-after-imf-date").ok_or("a named dialect")?;
    /// assert_eq!(imf_date.retry_after, RetryAfter::ImfDate);
    /// assert_eq!(Dialect::named("pages"), Some(Dialect::default()));
    /// assert_eq!(Dialect::named("Pages"), None);
    /// # Ok(()) }
    /// ```
    pub fn named(name: &str) -> Option<Dialect> {
        Self::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, dialect)| dialect)
    }

    /// The name in [`Dialect::ALL`], or `None` for a combination not listed.
    ///
    /// ```
    /// use b2core_auth::sim::Dialect;
    ///
    /// let mut dialect = Dialect::default();
    /// assert_eq!(dialect.name(), Some("pages"));
    /// dialect.charset = true;
    /// assert_eq!(dialect.name(), Some("charset"));
    /// dialect.extra_fields = true;
    /// assert_eq!(dialect.name(), None);
    /// ```
    pub fn name(&self) -> Option<&'static str> {
        Self::ALL
            .iter()
            .find(|(_, dialect)| dialect == self)
            .map(|&(name, _)| name)
    }

    /// `Some(value)`, or `None` (written `null`) when nothing-values are nulls.
    pub(crate) fn or_null<T>(&self, value: T) -> Option<T> {
        (!self.null_optionals).then_some(value)
    }

    /// A member the pages' examples leave out: absent (`None`, skipped when written), or
    /// `null` when nothing-values are nulls.
    pub(crate) fn absent_or_null(&self) -> Option<Null> {
        self.null_optionals.then_some(Null)
    }

    /// The `Content-Type` of JSON answers.
    pub(crate) fn content_type(&self) -> HeaderValue {
        HeaderValue::from_static(if self.charset {
            "application/json; charset=utf-8"
        } else {
            "application/json"
        })
    }

    /// A JSON answer's body as sent: with the extra member in every object if asked.
    pub(crate) fn finish_json(&self, body: Vec<u8>) -> Vec<u8> {
        if !self.extra_fields {
            return body;
        }
        // The simulator's own bytes always parse; if they ever did not, send them as they are.
        let Ok(mut value) = serde_json::from_slice::<Value>(&body) else {
            return body;
        };
        add_extra_members(&mut value);
        serde_json::to_vec(&value).unwrap_or(body)
    }

    /// The `Retry-After` value for a wait of `secs` seconds from `now`, or `None` if the
    /// instant cannot be written as an HTTP date (outside the years 0000-9999).
    pub(crate) fn retry_after_value(&self, now: SystemTime, secs: u64) -> Option<HeaderValue> {
        if self.retry_after == RetryAfter::Seconds {
            return Some(HeaderValue::from(secs));
        }
        let at = ceil_to_second(now.checked_add(Duration::from_secs(secs))?)?;
        let text = http_date(self.retry_after, at)?;
        HeaderValue::from_str(&text).ok()
    }
}

/// Written as `null`: a member that is present and holds nothing.
#[derive(Serialize)]
pub(crate) struct Null;

/// The name of the member [`Dialect::extra_fields`] adds.
const EXTRA_MEMBER: &str = "x_sim_extra";

/// Adds `"x_sim_extra":{"note":"unknown field"}` to every object in `value`, the objects
/// inside first (the added one gets none). Keys are kept in order and `x_sim_extra` sorts
/// after every key the simulator writes, so it comes last in each object.
fn add_extra_members(value: &mut Value) {
    match value {
        Value::Object(members) => {
            for member in members.values_mut() {
                add_extra_members(member);
            }
            let mut note = serde_json::Map::new();
            note.insert("note".to_owned(), Value::from("unknown field"));
            members.insert(EXTRA_MEMBER.to_owned(), Value::Object(note));
        }
        Value::Array(items) => items.iter_mut().for_each(add_extra_members),
        _ => {}
    }
}

/// `at` rounded up to a whole second of Unix time, or `None` past the end of `SystemTime`.
fn ceil_to_second(at: SystemTime) -> Option<SystemTime> {
    let nanos = match at.duration_since(UNIX_EPOCH) {
        Ok(after) => match after.subsec_nanos() {
            0 => 0,
            n => 1_000_000_000 - n,
        },
        // Before 1970 the fraction counts back from the next whole second.
        Err(before) => before.duration().subsec_nanos(),
    };
    at.checked_add(Duration::from_nanos(u64::from(nanos)))
}

const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `at` (a whole second) as an HTTP date in `form`, GMT. `None` for [`RetryAfter::Seconds`]
/// and for instants outside the years 0000-9999.
fn http_date(form: RetryAfter, at: SystemTime) -> Option<String> {
    // The crate's RFC 3339 writer does the calendar: `YYYY-MM-DDTHH:MM:SS+00:00`.
    let text = format_rfc3339(at).ok()?;
    let year = text.get(0..4)?;
    let month: usize = text.get(5..7)?.parse().ok()?;
    let month = *MONTHS.get(month.checked_sub(1)?)?;
    let day: u8 = text.get(8..10)?.parse().ok()?;
    let time = text.get(11..19)?;
    let secs = match at.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).ok()?,
        Err(before) => -i64::try_from(before.duration().as_secs()).ok()?,
    };
    // 1970-01-01 was a Thursday.
    let weekday_index = usize::try_from((secs.div_euclid(86_400) + 4).rem_euclid(7)).ok()?;
    let weekday = *WEEKDAYS.get(weekday_index)?;
    let wkday = weekday.get(0..3)?;
    Some(match form {
        RetryAfter::Seconds => return None,
        RetryAfter::ImfDate => format!("{wkday}, {day:02} {month} {year} {time} GMT"),
        RetryAfter::Rfc850 => {
            let yy = year.get(2..4)?;
            format!("{weekday}, {day:02}-{month}-{yy} {time} GMT")
        }
        RetryAfter::Asctime => format!("{wkday} {month} {day:>2} {time} {year}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn http_dates_in_the_three_forms() {
        // RFC 9110's own example instant: Sunday, 1994-11-06 08:49:37 GMT.
        let t = at(784_111_777);
        assert_eq!(
            http_date(RetryAfter::ImfDate, t).unwrap(),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(
            http_date(RetryAfter::Rfc850, t).unwrap(),
            "Sunday, 06-Nov-94 08:49:37 GMT"
        );
        assert_eq!(
            http_date(RetryAfter::Asctime, t).unwrap(),
            "Sun Nov  6 08:49:37 1994"
        );
        assert_eq!(http_date(RetryAfter::Seconds, t), None);
        // 2024-04-22T12:07:24Z, a Monday (the page's refresh expiry).
        let t = at(1_713_787_644);
        assert_eq!(
            http_date(RetryAfter::ImfDate, t).unwrap(),
            "Mon, 22 Apr 2024 12:07:24 GMT"
        );
        assert_eq!(
            http_date(RetryAfter::Rfc850, t).unwrap(),
            "Monday, 22-Apr-24 12:07:24 GMT"
        );
        assert_eq!(
            http_date(RetryAfter::Asctime, t).unwrap(),
            "Mon Apr 22 12:07:24 2024"
        );
        // Each weekday once: 2000-01-01 was a Saturday, 2000-01-07 a Friday.
        let names: Vec<String> = (0..7)
            .map(|d| http_date(RetryAfter::Rfc850, at(946_684_800 + d * 86_400)).unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "Saturday, 01-Jan-00 00:00:00 GMT",
                "Sunday, 02-Jan-00 00:00:00 GMT",
                "Monday, 03-Jan-00 00:00:00 GMT",
                "Tuesday, 04-Jan-00 00:00:00 GMT",
                "Wednesday, 05-Jan-00 00:00:00 GMT",
                "Thursday, 06-Jan-00 00:00:00 GMT",
                "Friday, 07-Jan-00 00:00:00 GMT",
            ]
        );
        // Before 1970: 1969-12-31T23:59:59Z was a Wednesday.
        assert_eq!(
            http_date(RetryAfter::Asctime, UNIX_EPOCH - Duration::from_secs(1)).unwrap(),
            "Wed Dec 31 23:59:59 1969"
        );
        // Outside the four-digit years: no date.
        assert_eq!(http_date(RetryAfter::ImfDate, at(300_000_000_000)), None);
    }

    #[test]
    fn retry_after_values_name_the_instant_rounded_up() {
        let now = at(1_713_784_049) + Duration::from_millis(250);
        let value = |form| {
            let dialect = Dialect {
                retry_after: form,
                ..Dialect::PAGES
            };
            dialect.retry_after_value(now, 600).unwrap()
        };
        assert_eq!(value(RetryAfter::Seconds), "600");
        // now + 600 s = 11:17:29.25, rounded up to 11:17:30.
        assert_eq!(value(RetryAfter::ImfDate), "Mon, 22 Apr 2024 11:17:30 GMT");
        assert_eq!(value(RetryAfter::Rfc850), "Monday, 22-Apr-24 11:17:30 GMT");
        assert_eq!(value(RetryAfter::Asctime), "Mon Apr 22 11:17:30 2024");
        // A whole second stays as it is.
        let whole = Dialect {
            retry_after: RetryAfter::ImfDate,
            ..Dialect::PAGES
        };
        assert_eq!(
            whole.retry_after_value(at(1_713_784_049), 1).unwrap(),
            "Mon, 22 Apr 2024 11:07:30 GMT"
        );
        assert_eq!(whole.retry_after_value(at(300_000_000_000), 1), None);
        assert_eq!(whole.retry_after_value(at(0), u64::MAX), None);
    }

    #[test]
    fn ceil_to_second_before_and_after_1970() {
        assert_eq!(ceil_to_second(at(5)), Some(at(5)));
        assert_eq!(ceil_to_second(at(5) + Duration::from_nanos(1)), Some(at(6)));
        assert_eq!(
            ceil_to_second(at(5) + Duration::from_millis(999)),
            Some(at(6))
        );
        let before = UNIX_EPOCH - Duration::from_millis(5_300);
        assert_eq!(
            ceil_to_second(before),
            Some(UNIX_EPOCH - Duration::from_secs(5))
        );
        assert_eq!(
            ceil_to_second(UNIX_EPOCH - Duration::from_secs(5)),
            Some(UNIX_EPOCH - Duration::from_secs(5))
        );
    }

    #[test]
    fn extra_members_go_last_in_every_object_but_their_own() {
        let dialect = Dialect {
            extra_fields: true,
            ..Dialect::PAGES
        };
        let body = br#"{"code":200,"data":{"list":[{"a":1},2,[]],"none":{}},"done":false}"#;
        let x = r#""x_sim_extra":{"note":"unknown field"}"#;
        assert_eq!(
            String::from_utf8(dialect.finish_json(body.to_vec())).unwrap(),
            format!(
                r#"{{"code":200,"data":{{"list":[{{"a":1,{x}}},2,[]],"none":{{{x}}},{x}}},"done":false,{x}}}"#
            )
        );
        assert_eq!(Dialect::PAGES.finish_json(body.to_vec()), body.to_vec());
        // Not JSON (never written by the simulator): sent as it is.
        assert_eq!(dialect.finish_json(b"{".to_vec()), b"{".to_vec());
    }

    #[test]
    fn nothing_values() {
        let nulls = Dialect {
            null_optionals: true,
            ..Dialect::PAGES
        };
        assert_eq!(Dialect::PAGES.or_null(false), Some(false));
        assert_eq!(nulls.or_null(false), None);
        assert!(Dialect::PAGES.absent_or_null().is_none());
        assert_eq!(
            serde_json::to_string(&nulls.absent_or_null()).unwrap(),
            "null"
        );
    }
}
