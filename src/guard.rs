//! [`AttemptGuard`]: counts attempts against a documented limit so a user never earns a
//! server-side block by accident.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// A client-side rate limit: at most `limit` attempts in any `window`, plus any block the
/// server announced with a 429.
///
/// Flows own one and consult it before sending: an attempt it does not allow at `now` is
/// not sent but held, the call returning [`Outgoing::RetryAt`](crate::Outgoing::RetryAt)
/// with [`AttemptGuard::next_allowed`], exactly as after a server's 429 (whose block the
/// guard then carries on, [`AttemptGuard::block_until`]). It can outlive a flow (take it back with
/// the flow's `into_guard` and hand it to the next flow), because a user who restarts the
/// wizard is still the same account to the server. Time comes only from the `now` given.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use b2core_auth::AttemptGuard;
///
/// let mut guard = AttemptGuard::new(2, Duration::from_secs(60));
/// let t0 = UNIX_EPOCH;
/// guard.record(t0);
/// guard.record(t0 + Duration::from_secs(10));
/// assert_eq!(guard.next_allowed(t0 + Duration::from_secs(20)), Some(t0 + Duration::from_secs(60)));
/// assert_eq!(guard.next_allowed(t0 + Duration::from_secs(60)), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Parked")]
pub struct AttemptGuard {
    limit: usize,
    window: Duration,
    /// Times of the attempts that may still count, oldest first; never more than `limit`.
    recent: Vec<SystemTime>,
    blocked_until: Option<SystemTime>,
}

impl AttemptGuard {
    /// `limit` attempts per `window` (a limit of 0 is taken as 1).
    pub fn new(limit: usize, window: Duration) -> Self {
        Self {
            limit: limit.max(1),
            window,
            recent: Vec::new(),
            blocked_until: None,
        }
    }

    /// The client sign-in limit of the vendor's page: 5 attempts a minute.
    pub fn client_sign_in() -> Self {
        Self::new(5, Duration::from_secs(60))
    }

    /// The Back Office sign-in limit: 5 attempts a minute.
    pub fn staff_sign_in() -> Self {
        Self::new(5, Duration::from_secs(60))
    }

    /// The Back Office 2FA confirmation limit: 3 attempts a minute.
    pub fn staff_confirm() -> Self {
        Self::new(3, Duration::from_secs(60))
    }

    /// The refresh limit: 5 refreshes a minute.
    pub fn refresh() -> Self {
        Self::new(5, Duration::from_secs(60))
    }

    /// `None` when an attempt may be made at `now`, else the first instant it may.
    pub fn next_allowed(&self, now: SystemTime) -> Option<SystemTime> {
        let blocked = self.blocked_until.filter(|&t| now < t);
        let window_full = (self.recent.len() >= self.limit)
            .then(|| {
                self.recent
                    .first()
                    .and_then(|&t| t.checked_add(self.window))
            })
            .flatten()
            .filter(|&t| now < t);
        blocked.max(window_full)
    }

    /// Records an attempt made at `now`.
    pub fn record(&mut self, now: SystemTime) {
        // Keep the newest `limit - 1` before adding this one (never panics, even empty).
        let excess = (self.recent.len() + 1).saturating_sub(self.limit);
        self.recent.drain(..excess.min(self.recent.len()));
        self.recent.push(now);
    }

    /// Records a block the server announced (a 429): nothing is allowed before `until`.
    pub fn block_until(&mut self, until: SystemTime) {
        self.blocked_until = Some(self.blocked_until.map_or(until, |t| t.max(until)));
    }
}

/// A parked guard, checked on the way back in: a store is input like any answer, and must
/// not hold what [`AttemptGuard::new`] would never make.
#[derive(Deserialize)]
struct Parked {
    limit: usize,
    window: Duration,
    recent: Vec<SystemTime>,
    blocked_until: Option<SystemTime>,
}

impl TryFrom<Parked> for AttemptGuard {
    type Error = &'static str;
    fn try_from(parked: Parked) -> Result<Self, &'static str> {
        if parked.limit == 0 {
            return Err("an attempt guard's limit is at least 1");
        }
        if parked.recent.len() > parked.limit {
            return Err("an attempt guard holds more attempts than its limit");
        }
        Ok(Self {
            limit: parked.limit,
            window: parked.window,
            recent: parked.recent,
            blocked_until: parked.blocked_until,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn s(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn the_sixth_attempt_inside_a_minute_waits_for_the_first_to_age_out() {
        let mut g = AttemptGuard::client_sign_in();
        for t in [0, 5, 10, 15, 20] {
            assert_eq!(g.next_allowed(s(t)), None);
            g.record(s(t));
        }
        assert_eq!(g.next_allowed(s(59)), Some(s(60)));
        assert_eq!(g.next_allowed(s(60)), None);
        g.record(s(60));
        assert_eq!(g.next_allowed(s(61)), Some(s(65)));
    }

    #[test]
    fn a_server_block_outlasts_the_window() {
        let mut g = AttemptGuard::client_sign_in();
        g.block_until(s(600));
        g.block_until(s(300)); // an earlier block never shortens a later one
        assert_eq!(g.next_allowed(s(100)), Some(s(600)));
        assert_eq!(g.next_allowed(s(600)), None);
    }

    #[test]
    fn a_clock_that_goes_back_still_counts_recent_attempts() {
        let mut g = AttemptGuard::new(1, Duration::from_secs(60));
        g.record(s(100));
        assert_eq!(g.next_allowed(s(50)), Some(s(160)));
    }

    /// A parked guard with a limit of 0 (or more attempts than its limit) is refused when
    /// read back: it once deserialized and its next attempt panicked.
    #[test]
    fn a_parked_guard_is_checked_on_the_way_back_in() {
        let guard = AttemptGuard::new(2, Duration::from_secs(60));
        let parked = serde_json::to_value(&guard).unwrap();
        assert_eq!(
            serde_json::from_value::<AttemptGuard>(parked.clone()).unwrap(),
            guard
        );
        let mut zero = parked.clone();
        zero["limit"] = 0.into();
        assert!(serde_json::from_value::<AttemptGuard>(zero).is_err());
        let mut crowded = parked;
        crowded["recent"] = serde_json::to_value([s(1), s(2), s(3)]).unwrap();
        assert!(serde_json::from_value::<AttemptGuard>(crowded).is_err());
    }

    #[test]
    fn recording_keeps_at_most_the_limit_whatever_the_guard_holds() {
        let mut g = AttemptGuard {
            limit: 2,
            window: Duration::from_secs(60),
            recent: vec![s(1), s(2), s(3), s(4)],
            blocked_until: None,
        };
        g.record(s(5));
        assert_eq!(g.recent, [s(4), s(5)]);
        let mut g = AttemptGuard {
            limit: 0,
            recent: vec![],
            ..g
        };
        g.record(s(6));
        assert_eq!(g.recent, [s(6)]);
    }
}
