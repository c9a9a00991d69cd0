//! Pure pieces of the ingest loop: which decoded frames go to detection, and how long to wait
//! before reconnecting.

use std::time::Duration;

/// Picks frames at `detect_fps` from a stream of presentation times; every frame when no rate
/// is set.
#[derive(Debug, Clone)]
pub struct Sampler {
    interval: Option<f64>,
    next: f64,
}

impl Sampler {
    /// A sampler for `detect_fps` (every frame when `None`).
    pub fn new(detect_fps: Option<f64>) -> Sampler {
        Sampler {
            interval: detect_fps.filter(|f| *f > 0.0).map(|f| 1.0 / f),
            next: f64::NEG_INFINITY,
        }
    }

    /// Starts over (a new connection: its times start again).
    pub fn reset(&mut self) {
        self.next = f64::NEG_INFINITY;
    }

    /// Whether the frame at `pts` (seconds) is taken. The cadence is kept across timestamp
    /// jitter (a frame up to a tenth of the interval early still counts, so `detect_fps` equal
    /// to a camera's jittery frame rate takes every frame) and resynchronised after a gap longer
    /// than one interval.
    pub fn take(&mut self, pts: f64) -> bool {
        let Some(iv) = self.interval else {
            return true;
        };
        if pts + 0.1 * iv + 1e-6 < self.next {
            return false;
        }
        self.next = if pts - self.next > iv {
            pts + iv
        } else {
            self.next + iv
        };
        true
    }
}

/// Exponential reconnect backoff: 0.5 s doubling to 4 s, back to 0.5 s once frames flow.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

/// The first wait.
pub const BACKOFF_MIN: Duration = Duration::from_millis(500);
/// The longest wait.
pub const BACKOFF_MAX: Duration = Duration::from_secs(4);

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff { next: BACKOFF_MIN }
    }
}

impl Backoff {
    /// The wait before the next attempt; doubles the one after.
    pub fn next_wait(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        d
    }

    /// Frames are flowing again.
    pub fn reset(&mut self) {
        self.next = BACKOFF_MIN;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames taken out of `n` frames of a `fps` stream with `jitter` seconds of alternating
    /// timestamp noise.
    fn taken(detect_fps: Option<f64>, fps: f64, n: usize, jitter: f64) -> Vec<usize> {
        let mut s = Sampler::new(detect_fps);
        (0..n)
            .filter(|&i| {
                let noise = if i % 2 == 0 { jitter } else { -jitter };
                s.take(i as f64 / fps + noise)
            })
            .collect()
    }

    #[test]
    fn cadence_at_several_rates() {
        // 10 fps source, 5 fps wanted: every other frame.
        assert_eq!(taken(Some(5.0), 10.0, 10, 0.0), [0, 2, 4, 6, 8]);
        // 30 fps source, 10 fps wanted: every third frame.
        assert_eq!(taken(Some(10.0), 30.0, 12, 0.0), [0, 3, 6, 9]);
        // 25 fps, 10 fps wanted: 2.5 frames apart on average, so 10 of 25 frames in a second.
        assert_eq!(taken(Some(10.0), 25.0, 25, 0.0).len(), 10);
        // 15 fps, 4 fps wanted: 4 of 15; frame 11 (0.733 s) is within a tenth of an interval
        // of the 0.75 s mark, and nearer to it than frame 12 (0.8 s).
        assert_eq!(taken(Some(4.0), 15.0, 15, 0.0), [0, 4, 8, 11]);
        // Asking for more than the source gives every frame.
        assert_eq!(taken(Some(30.0), 10.0, 5, 0.0), [0, 1, 2, 3, 4]);
        // No rate: every frame.
        assert_eq!(taken(None, 10.0, 4, 0.0), [0, 1, 2, 3]);
        // Equal rates: every frame, also with ±2 ms or ±8 ms of timestamp jitter (RTSP).
        assert_eq!(taken(Some(10.0), 10.0, 20, 0.0).len(), 20);
        assert_eq!(taken(Some(10.0), 10.0, 20, 0.002).len(), 20);
        assert_eq!(taken(Some(25.0), 25.0, 50, 0.0015).len(), 50);
        // 5 of 10 with timestamp jitter of ±2 ms: the cadence holds.
        assert_eq!(taken(Some(5.0), 10.0, 20, 0.002).len(), 10);
    }

    #[test]
    fn resynchronises_after_a_gap_and_on_reset() {
        let mut s = Sampler::new(Some(5.0));
        assert!(s.take(0.0));
        assert!(!s.take(0.1));
        // A 3 s gap (outage): the next frame is taken, and the cadence restarts from it.
        assert!(s.take(3.05));
        assert!(!s.take(3.15));
        assert!(s.take(3.25));
        // A new connection restarts its clock at zero.
        s.reset();
        assert!(s.take(0.0));
    }

    #[test]
    fn backoff_doubles_to_four_seconds_and_resets() {
        let mut b = Backoff::default();
        let waits: Vec<u64> = (0..6).map(|_| b.next_wait().as_millis() as u64).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 4000, 4000]);
        b.reset();
        assert_eq!(b.next_wait(), BACKOFF_MIN);
    }
}
