//! Rate limits, pure and driven by the caller's monotonic clock: lock-out after repeated failed
//! logins or bad keys from one address, and an optional request rate per API key.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

/// When an address is locked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LimiterConfig {
    /// Failures within `window` that lock the address.
    pub max_failures: u32,
    /// The window failures are counted in.
    pub window: Duration,
    /// How long a lock-out lasts.
    pub lockout: Duration,
}

impl Default for LimiterConfig {
    fn default() -> Self {
        LimiterConfig {
            max_failures: 5,
            window: Duration::from_secs(300),
            lockout: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    first: Duration,
    locked_until: Option<Duration>,
}

/// Failed attempts per source address. Bounded: past `capacity` addresses the stalest unlocked
/// ones are forgotten first.
#[derive(Debug)]
pub struct FailureLimiter {
    cfg: LimiterConfig,
    entries: HashMap<IpAddr, Entry>,
    capacity: usize,
}

impl FailureLimiter {
    /// A limiter tracking at most 10 000 addresses.
    pub fn new(cfg: LimiterConfig) -> FailureLimiter {
        FailureLimiter {
            cfg,
            entries: HashMap::new(),
            capacity: 10_000,
        }
    }

    /// `Err(retry_after)` while `addr` is locked out.
    pub fn check(&self, addr: IpAddr, now: Duration) -> Result<(), Duration> {
        match self.entries.get(&addr).and_then(|e| e.locked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Counts a failure; returns the lock-out's length when this failure starts one.
    pub fn failure(&mut self, addr: IpAddr, now: Duration) -> Option<Duration> {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&addr) {
            self.evict(now);
        }
        let cfg = self.cfg;
        let e = self.entries.entry(addr).or_insert(Entry {
            failures: 0,
            first: now,
            locked_until: None,
        });
        if e.locked_until.is_some_and(|u| u <= now) || now.saturating_sub(e.first) > cfg.window {
            *e = Entry {
                failures: 0,
                first: now,
                locked_until: None,
            };
        }
        e.failures += 1;
        if e.failures >= cfg.max_failures && e.locked_until.is_none() {
            e.locked_until = Some(now + cfg.lockout);
            return Some(cfg.lockout);
        }
        None
    }

    /// A success from `addr` clears its count (not a running lock-out).
    pub fn success(&mut self, addr: IpAddr, now: Duration) {
        if self.check(addr, now).is_ok() {
            self.entries.remove(&addr);
        }
    }

    /// Addresses currently tracked.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no address is tracked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn evict(&mut self, now: Duration) {
        let cfg = self.cfg;
        self.entries.retain(|_, e| {
            e.locked_until.is_some_and(|u| u > now) || now.saturating_sub(e.first) <= cfg.window
        });
        if self.entries.len() >= self.capacity {
            if let Some(oldest) = self
                .entries
                .iter()
                .filter(|(_, e)| e.locked_until.is_none())
                .min_by_key(|(_, e)| e.first)
                .map(|(a, _)| *a)
            {
                self.entries.remove(&oldest);
            }
        }
    }
}

/// Token buckets per key id: `rate_per_min` requests a minute, bursts up to that many.
#[derive(Debug, Default)]
pub struct KeyRates {
    buckets: HashMap<String, (f64, Duration)>,
}

impl KeyRates {
    /// Takes one request from `key`'s bucket; `Err(retry_after)` when it is empty.
    pub fn take(&mut self, key: &str, rate_per_min: u32, now: Duration) -> Result<(), Duration> {
        let cap = f64::from(rate_per_min.max(1));
        let per_s = cap / 60.0;
        let (tokens, last) = self.buckets.entry(key.to_string()).or_insert((cap, now));
        *tokens = (*tokens + now.saturating_sub(*last).as_secs_f64() * per_s).min(cap);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / per_s))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: u64) -> Duration {
        Duration::from_secs(x)
    }

    #[test]
    fn locks_after_the_threshold_per_address_and_unlocks() {
        let mut l = FailureLimiter::new(LimiterConfig::default());
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        for i in 0..4 {
            assert_eq!(l.failure(a, s(i)), None);
            assert!(l.check(a, s(i)).is_ok());
        }
        assert_eq!(l.failure(a, s(4)), Some(s(300)));
        assert_eq!(l.check(a, s(10)), Err(s(294)));
        assert!(l.check(b, s(10)).is_ok(), "another address is unaffected");
        // Failures during the lock-out do not extend it; success does not lift it.
        assert_eq!(l.failure(a, s(20)), None);
        l.success(a, s(21));
        assert!(l.check(a, s(303)).is_err());
        assert!(l.check(a, s(304)).is_ok());
        // After it, counting starts over.
        assert_eq!(l.failure(a, s(305)), None);
        l.success(a, s(306));
        assert!(l.is_empty() || l.check(a, s(306)).is_ok());
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let mut l = FailureLimiter::new(LimiterConfig::default());
        let a: IpAddr = "::1".parse().expect("ip");
        for i in 0..4 {
            l.failure(a, s(i * 100));
        }
        assert!(l.check(a, s(400)).is_ok());
    }

    #[test]
    fn the_tracked_set_is_bounded() {
        let mut l = FailureLimiter::new(LimiterConfig::default());
        l.capacity = 100;
        for i in 0..1000u32 {
            l.failure(IpAddr::from(i.to_be_bytes()), s(1));
        }
        assert!(l.len() <= 100, "{}", l.len());
    }

    #[test]
    fn key_buckets() {
        let mut r = KeyRates::default();
        for _ in 0..60 {
            assert!(r.take("k", 60, s(0)).is_ok());
        }
        let wait = r.take("k", 60, s(0)).expect_err("empty");
        assert!((wait.as_secs_f64() - 1.0).abs() < 1e-6, "{wait:?}");
        assert!(r.take("k", 60, s(1)).is_ok());
        assert!(r.take("other", 60, s(1)).is_ok());
    }
}
