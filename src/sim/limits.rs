//! The documented rate limits, counted from the `now` of each request.
//!
//! | what | limit | after it | counted per |
//! |---|---|---|---|
//! | client sign-in (`POST /api/v2/my/signin`) | 5 attempts / 60 s | 10-minute block | account (email, ASCII case-insensitive) |
//! | Back Office sign-in (`POST /api/v2/signin`) | 5 attempts / 60 s | wait until the window frees | account (email) |
//! | Back Office 2FA confirm (`POST /api/v2/2fa/confirm`) | 3 attempts / 60 s | wait until the window frees | staff account the 2FA token belongs to |
//! | refresh (`POST /api/v2/refresh`, `/api/v2/my/refresh`) | 5 refreshes / 60 s | wait until the window frees | session (the chain of pairs issued by one sign-in) |

use std::time::{Duration, SystemTime};

/// The sliding window of the limits.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);
/// Client sign-in: attempts per window.
pub(crate) const CLIENT_SIGN_IN: usize = 5;
/// Client sign-in: the block after the limit.
pub(crate) const CLIENT_BLOCK: Duration = Duration::from_secs(10 * 60);
/// Back Office sign-in: attempts per window.
pub(crate) const STAFF_SIGN_IN: usize = 5;
/// Back Office 2FA confirmation: attempts per window.
pub(crate) const STAFF_CONFIRM: usize = 3;
/// Refresh: refreshes per window.
pub(crate) const REFRESH: usize = 5;

/// At most `limit` attempts in any `WINDOW`; optionally a block once exceeded.
#[derive(Clone, Debug)]
pub(crate) struct Limiter {
    limit: usize,
    block: Option<Duration>,
    hits: Vec<SystemTime>,
    blocked_until: Option<SystemTime>,
}

impl Limiter {
    pub(crate) fn new(limit: usize, block: Option<Duration>) -> Self {
        Self {
            limit,
            block,
            hits: Vec::new(),
            blocked_until: None,
        }
    }

    /// Counts an attempt at `now`, or refuses it with the whole seconds to wait (≥ 1).
    /// A refused attempt is not counted and does not extend a block.
    pub(crate) fn attempt(&mut self, now: SystemTime) -> Result<(), u64> {
        if let Some(until) = self.blocked_until {
            if now < until {
                return Err(ceil_secs(between(now, until)));
            }
            self.blocked_until = None;
            self.hits.clear();
        }
        self.hits.retain(|&hit| between(hit, now) < WINDOW);
        if self.hits.len() >= self.limit {
            return Err(match self.block {
                Some(block) => {
                    // Saturate instead of overflowing on a far-future `now`.
                    self.blocked_until = Some(now.checked_add(block).unwrap_or(now));
                    self.hits.clear();
                    ceil_secs(block)
                }
                None => {
                    let oldest = self.hits.iter().min().copied().unwrap_or(now);
                    ceil_secs(WINDOW.saturating_sub(between(oldest, now)))
                }
            });
        }
        self.hits.push(now);
        Ok(())
    }
}

/// `to - from`, or zero when time went backwards.
pub(crate) fn between(from: SystemTime, to: SystemTime) -> Duration {
    to.duration_since(from).unwrap_or(Duration::ZERO)
}

fn ceil_secs(d: Duration) -> u64 {
    let whole = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    whole.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn sliding_window_without_block() {
        let mut l = Limiter::new(3, None);
        assert_eq!(l.attempt(t(100)), Ok(()));
        assert_eq!(l.attempt(t(110)), Ok(()));
        assert_eq!(l.attempt(t(120)), Ok(()));
        assert_eq!(l.attempt(t(130)), Err(30));
        assert_eq!(l.attempt(t(159)), Err(1));
        assert_eq!(l.attempt(t(160)), Ok(()));
        assert_eq!(l.attempt(t(161)), Err(9));
    }

    #[test]
    fn block_after_the_limit() {
        let mut l = Limiter::new(2, Some(Duration::from_secs(600)));
        assert_eq!(l.attempt(t(0)), Ok(()));
        assert_eq!(l.attempt(t(1)), Ok(()));
        assert_eq!(l.attempt(t(2)), Err(600));
        assert_eq!(l.attempt(t(302)), Err(300));
        assert_eq!(l.attempt(t(601)), Err(1));
        assert_eq!(l.attempt(t(602)), Ok(()));
        assert_eq!(l.attempt(t(603)), Ok(()));
        assert_eq!(l.attempt(t(604)), Err(600));
    }

    #[test]
    fn time_going_backwards_does_not_panic() {
        let mut l = Limiter::new(1, None);
        assert_eq!(l.attempt(t(100)), Ok(()));
        assert_eq!(l.attempt(t(50)), Err(60));
    }
}
