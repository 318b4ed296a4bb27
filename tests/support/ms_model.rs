//! The millisecond virtual clock and the rate-limit models shared by the model-based tests
//! of the staff sign-in and the sessions.
//!
//! Use: `#[path = "support/ms_model.rs"] mod ms_model;` then `use ms_model::*;`.

#![allow(dead_code)] // each test binary uses the part it needs

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use b2core_auth::Endpoint;
use proptest::test_runner::Config;

/// 2024-04-22T11:07:24Z, a whole second: the virtual clock counts milliseconds from it.
pub const T0_SECS: u64 = 1_713_784_044;
/// The documented limits' window: one minute.
pub const WINDOW: u64 = 60_000;

pub fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0_SECS) + Duration::from_millis(ms)
}

pub fn ms_of(t: SystemTime) -> u64 {
    let d = t.duration_since(at(0)).expect("times are after T0");
    u64::try_from(d.as_millis()).expect("fits")
}

/// The server's timestamps drop the fraction of a second.
pub fn floor_secs(ms: u64) -> u64 {
    ms / 1000 * 1000
}

pub fn endpoint() -> Endpoint {
    Endpoint::new("https://host.name").expect("valid endpoint")
}

/// `PROPTEST_CASES` wins when set; otherwise `cases`.
pub fn config(cases: u32) -> Config {
    let base = if std::env::var_os("PROPTEST_CASES").is_some() {
        Config::default()
    } else {
        Config::with_cases(cases)
    };
    Config {
        failure_persistence: None,
        max_shrink_iters: 2048,
        ..base
    }
}

/// The client-side counter, as documented: `limit` attempts in any minute, plus any block a
/// 429 announced.
#[derive(Clone, Debug)]
pub struct GuardModel {
    limit: usize,
    recent: Vec<u64>,
    blocked_until: Option<u64>,
}

impl GuardModel {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            recent: Vec::new(),
            blocked_until: None,
        }
    }

    pub fn next_allowed(&self, now: u64) -> Option<u64> {
        let blocked = self.blocked_until.filter(|&t| now < t);
        let full = (self.recent.len() >= self.limit)
            .then(|| self.recent[self.recent.len() - self.limit] + WINDOW)
            .filter(|&t| now < t);
        blocked.max(full)
    }

    pub fn record(&mut self, now: u64) {
        self.recent.push(now);
    }

    /// How many attempts of the last minute before `now` count.
    pub fn attempts_within(&self, now: u64) -> usize {
        self.recent
            .iter()
            .filter(|&&t| t <= now && now - t < WINDOW)
            .count()
    }

    pub fn block_until(&mut self, until: u64) {
        self.blocked_until = Some(self.blocked_until.map_or(until, |t| t.max(until)));
    }
}

/// The server's sliding window (the simulator's assumption: `Retry-After` is the time until
/// the oldest attempt leaves the window, in whole seconds, at least 1).
#[derive(Clone, Debug)]
pub struct WindowModel {
    limit: usize,
    hits: Vec<u64>,
}

impl WindowModel {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            hits: Vec::new(),
        }
    }

    pub fn attempt(&mut self, now: u64) -> Result<(), u64> {
        self.hits.retain(|&hit| now - hit < WINDOW);
        if self.hits.len() >= self.limit {
            let oldest = self.hits.iter().copied().min().unwrap_or(now);
            let wait = WINDOW - (now - oldest);
            return Err(wait.div_ceil(1000).max(1));
        }
        self.hits.push(now);
        Ok(())
    }
}
