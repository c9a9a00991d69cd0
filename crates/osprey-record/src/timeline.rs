//! Timelines, pure: runs of recorded time with the gaps between them, and per-day totals for a
//! calendar.
//!
//! Consecutive segments of a camera belong to one run when the next starts at most about one
//! frame interval after the previous ends ([`GAP_FRAMES`] × the previous segment's mean frame
//! interval, at least [`MIN_TOLERANCE_MS`]); wall-clock jitter between the media clock and
//! arrival times is smaller than that. An outage therefore shows as a gap of its own length.

use crate::db::SegmentRow;

/// Segments further apart than this many frame intervals are separated by a gap.
pub const GAP_FRAMES: f64 = 1.5;
/// The smallest tolerance between segments, ms.
pub const MIN_TOLERANCE_MS: i64 = 20;

/// A stretch of continuous recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// Wall-clock start, Unix ms.
    pub start_wall_ms: i64,
    /// Wall-clock end, Unix ms.
    pub end_wall_ms: i64,
    /// Number of segments.
    pub segments: u32,
    /// Number of frames.
    pub frames: u64,
    /// Bytes on disk.
    pub bytes: u64,
}

impl Run {
    /// Duration in ms.
    pub fn duration_ms(&self) -> i64 {
        self.end_wall_ms - self.start_wall_ms
    }
}

/// Recorded time in one calendar day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayTotal {
    /// The day's first millisecond (Unix ms, in the time zone given).
    pub day_start_ms: i64,
    /// Milliseconds recorded that day.
    pub recorded_ms: i64,
}

/// The tolerance after `s` before the next segment counts as a gap, ms.
fn tolerance_ms(s: &SegmentRow) -> i64 {
    let interval = if s.frames > 0 {
        (s.end_wall_ms - s.start_wall_ms) as f64 / f64::from(s.frames)
    } else {
        0.0
    };
    ((interval * GAP_FRAMES).round() as i64).max(MIN_TOLERANCE_MS)
}

/// The runs of `segments` (one camera's; any order), oldest first.
pub fn runs(segments: &[SegmentRow]) -> Vec<Run> {
    let mut sorted: Vec<&SegmentRow> = segments.iter().collect();
    sorted.sort_by_key(|s| (s.start_wall_ms, s.id));
    let mut out: Vec<Run> = Vec::new();
    let mut tolerance = 0;
    for s in sorted {
        match out.last_mut() {
            Some(r) if s.start_wall_ms <= r.end_wall_ms + tolerance => {
                r.end_wall_ms = r.end_wall_ms.max(s.end_wall_ms);
                r.segments += 1;
                r.frames += u64::from(s.frames);
                r.bytes += s.bytes;
            }
            _ => out.push(Run {
                start_wall_ms: s.start_wall_ms,
                end_wall_ms: s.end_wall_ms,
                segments: 1,
                frames: u64::from(s.frames),
                bytes: s.bytes,
            }),
        }
        tolerance = tolerance_ms(s);
    }
    out
}

/// The gaps between `runs` as `(start, end)` wall-clock ms.
pub fn gaps(runs: &[Run]) -> Vec<(i64, i64)> {
    runs.windows(2)
        .map(|w| (w[0].end_wall_ms, w[1].start_wall_ms))
        .collect()
}

/// Recorded time per calendar day of the zone `utc_offset_ms` ahead of UTC (0 for UTC), days
/// with no recording left out, oldest first. Runs crossing midnight are split.
pub fn day_totals(runs: &[Run], utc_offset_ms: i64) -> Vec<DayTotal> {
    const DAY: i64 = 86_400_000;
    let mut out: Vec<DayTotal> = Vec::new();
    for r in runs {
        let mut t = r.start_wall_ms;
        while t < r.end_wall_ms {
            let day_start = (t + utc_offset_ms).div_euclid(DAY) * DAY - utc_offset_ms;
            let end = r.end_wall_ms.min(day_start + DAY);
            match out.iter_mut().find(|d| d.day_start_ms == day_start) {
                Some(d) => d.recorded_ms += end - t,
                None => out.push(DayTotal {
                    day_start_ms: day_start,
                    recorded_ms: end - t,
                }),
            }
            t = end;
        }
    }
    out.sort_by_key(|d| d.day_start_ms);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A segment of `frames` frames at 10 fps starting at `start` ms.
    fn seg(id: i64, start: i64, frames: u32) -> SegmentRow {
        SegmentRow {
            id,
            start_wall_ms: start,
            end_wall_ms: start + i64::from(frames) * 100,
            frames,
            bytes: 1000,
            ..SegmentRow::default()
        }
    }

    #[test]
    fn contiguous_segments_form_one_run_and_an_outage_is_a_gap() {
        let segs = vec![
            seg(3, 12_050, 50), // 12.05 s: 50 ms late (jitter): same run
            seg(1, 0, 60),
            seg(2, 6_000, 60),
            seg(4, 27_050, 30), // after a 10 s outage (ends at 17.05 s)
        ];
        let r = runs(&segs);
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!((r[0].start_wall_ms, r[0].end_wall_ms), (0, 17_050));
        assert_eq!((r[0].segments, r[0].frames, r[0].bytes), (3, 170, 3000));
        assert_eq!(gaps(&r), [(17_050, 27_050)]);
        assert_eq!(r[1].duration_ms(), 3000);
    }

    #[test]
    fn a_gap_of_two_frame_intervals_is_a_gap() {
        let r = runs(&[seg(1, 0, 10), seg(2, 1200, 10)]);
        assert_eq!(r.len(), 2);
        let r = runs(&[seg(1, 0, 10), seg(2, 1140, 10)]);
        assert_eq!(r.len(), 1);
        assert!(runs(&[]).is_empty());
    }

    #[test]
    fn day_totals_split_runs_at_midnight_in_the_zone() {
        const H: i64 = 3_600_000;
        let run = |s: i64, e: i64| Run {
            start_wall_ms: s,
            end_wall_ms: e,
            segments: 1,
            frames: 0,
            bytes: 0,
        };
        let runs = [run(22 * H, 26 * H), run(30 * H, 31 * H)];
        assert_eq!(
            day_totals(&runs, 0),
            [
                DayTotal {
                    day_start_ms: 0,
                    recorded_ms: 2 * H
                },
                DayTotal {
                    day_start_ms: 24 * H,
                    recorded_ms: 3 * H
                }
            ]
        );
        // UTC+2: the first run is 00:00–04:00 of day 1 (local), the second 08:00–09:00.
        assert_eq!(
            day_totals(&runs, 2 * H),
            [DayTotal {
                day_start_ms: 22 * H,
                recorded_ms: 5 * H
            }]
        );
    }
}
