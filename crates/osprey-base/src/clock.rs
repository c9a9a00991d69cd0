//! Time as a dependency: loops read the clock through [`Clock`] so tests can run them on a
//! [`SimClock`] that only moves when told to (deterministic, instant).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::{lock, Shutdown};

/// Where a loop gets the time and waits.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Monotonic time since an arbitrary origin (for intervals and deadlines).
    fn monotonic(&self) -> Duration;
    /// Wall-clock time, seconds since the Unix epoch (for timestamps on the wire).
    fn unix(&self) -> f64;
    /// Waits `d` or until `stop` triggers; true if still running.
    fn sleep(&self, d: Duration, stop: &Shutdown) -> bool;
}

/// The real clocks.
#[derive(Debug, Clone, Copy)]
pub struct RealClock {
    origin: Instant,
}

impl Default for RealClock {
    fn default() -> RealClock {
        RealClock {
            origin: Instant::now(),
        }
    }
}

impl Clock for RealClock {
    fn monotonic(&self) -> Duration {
        self.origin.elapsed()
    }

    fn unix(&self) -> f64 {
        unix_now()
    }

    fn sleep(&self, d: Duration, stop: &Shutdown) -> bool {
        stop.sleep(d)
    }
}

/// Seconds since the Unix epoch now.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Formats unix seconds as RFC 3339 UTC with milliseconds (`2026-11-22T09:40:18.871Z`).
pub fn rfc3339(unix: f64) -> String {
    let ms_total = (unix * 1000.0).round().max(0.0) as i64;
    let (secs, ms) = (ms_total.div_euclid(1000), ms_total.rem_euclid(1000));
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// A clock that moves only when advanced; `sleep` advances it by the time slept, at once.
#[derive(Debug, Clone)]
pub struct SimClock {
    state: Arc<Mutex<(Duration, f64)>>,
}

impl SimClock {
    /// A clock at monotonic zero and the given Unix time.
    pub fn new(unix_start: f64) -> SimClock {
        SimClock {
            state: Arc::new(Mutex::new((Duration::ZERO, unix_start))),
        }
    }

    /// Moves both clocks forward by `d`.
    pub fn advance(&self, d: Duration) {
        let mut s = lock(&self.state);
        s.0 += d;
        s.1 += d.as_secs_f64();
    }
}

impl Clock for SimClock {
    fn monotonic(&self) -> Duration {
        lock(&self.state).0
    }

    fn unix(&self) -> f64 {
        lock(&self.state).1
    }

    fn sleep(&self, d: Duration, stop: &Shutdown) -> bool {
        if stop.is_triggered() {
            return false;
        }
        self.advance(d);
        !stop.is_triggered()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_clock_moves_only_when_told() {
        let c = SimClock::new(1000.0);
        let stop = Shutdown::new();
        assert_eq!(c.monotonic(), Duration::ZERO);
        assert!(c.sleep(Duration::from_millis(1500), &stop));
        assert_eq!(c.monotonic(), Duration::from_millis(1500));
        assert!((c.unix() - 1001.5).abs() < 1e-9);
        stop.trigger();
        assert!(!c.sleep(Duration::from_secs(1), &stop));
        assert_eq!(c.monotonic(), Duration::from_millis(1500));
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400.5), "2000-02-29T00:00:00.500Z");
        assert_eq!(rfc3339(1_795_340_418.871), "2026-11-22T09:40:18.871Z");
        assert_eq!(rfc3339(4_107_542_399.999), "2100-02-28T23:59:59.999Z");
    }

    #[test]
    fn real_clock_is_monotonic() {
        let c = RealClock::default();
        let a = c.monotonic();
        let b = c.monotonic();
        assert!(b >= a);
        assert!(c.unix() > 1.6e9);
    }
}
