//! Histogram bucket arithmetic with NVIDIA VSS / Metropolis semantics (pure).
//!
//! Buckets are aligned to multiples of their size since the Unix epoch (UTC), the first and the
//! last are clipped to the queried range, and every bucket of the range is present (empty ones
//! included). With `bucketCount`, the size is the range divided by the count, rounded **up** to
//! a multiple of 5 s (at least 5 s); the number of buckets can therefore differ from the count.

use crate::AnalyticsError;

/// Default `bucketCount` when a query names neither a count nor a size.
pub const DEFAULT_BUCKET_COUNT: u32 = 20;
/// The most buckets one query may ask for.
pub const MAX_BUCKETS: i64 = 10_000;
/// A count-derived bucket size is a multiple of this (milliseconds).
const COUNT_STEP_MS: i64 = 5_000;
/// 0001-01-01T00:00:00Z and 10000-01-01T00:00:00Z: range ends are clamped to what ISO-8601
/// can name, so bucket arithmetic (here and in SQL) never overflows.
const MIN_MS: i64 = -62_135_596_800_000;
const MAX_MS: i64 = 253_402_300_800_000;

/// Clamps a range to the representable years and refuses it if empty or reversed.
fn checked_range(from_ms: i64, to_ms: i64) -> Result<(i64, i64), AnalyticsError> {
    let (from, to) = (from_ms.clamp(MIN_MS, MAX_MS), to_ms.clamp(MIN_MS, MAX_MS));
    if to <= from {
        return Err(AnalyticsError::invalid(
            "toTimestamp",
            format!("must be after fromTimestamp ({to_ms} ms <= {from_ms} ms)"),
        ));
    }
    Ok((from, to))
}

/// How a histogram query splits its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketSpec {
    /// `bucketSizeInSec`: buckets of this many seconds.
    SizeSeconds(u64),
    /// `bucketCount`: about this many buckets (size rounded up to a multiple of 5 s).
    Count(u32),
}

impl Default for BucketSpec {
    fn default() -> BucketSpec {
        BucketSpec::Count(DEFAULT_BUCKET_COUNT)
    }
}

/// The buckets of a range: epoch-aligned, `size_ms` wide, the ends clipped to `[from_ms, to_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buckets {
    /// Start of the range (inclusive), Unix ms.
    pub from_ms: i64,
    /// End of the range (exclusive), Unix ms.
    pub to_ms: i64,
    /// Bucket size, ms.
    pub size_ms: i64,
    /// The aligned (unclipped) start of the first bucket: the multiple of `size_ms` at or
    /// before `from_ms`.
    pub origin_ms: i64,
}

impl BucketSpec {
    /// The buckets of `[from_ms, to_ms)`; refuses an empty or reversed range, a zero size or
    /// count, and more than [`MAX_BUCKETS`] buckets.
    /// Range ends beyond years 0001–9999 are clamped to them.
    pub fn buckets(self, from_ms: i64, to_ms: i64) -> Result<Buckets, AnalyticsError> {
        let (from_ms, to_ms) = checked_range(from_ms, to_ms)?;
        let (param, size_ms) = match self {
            BucketSpec::SizeSeconds(0) => {
                return Err(AnalyticsError::invalid("bucketSizeInSec", "must be > 0"))
            }
            BucketSpec::Count(0) => {
                return Err(AnalyticsError::invalid("bucketCount", "must be > 0"))
            }
            BucketSpec::SizeSeconds(s) => {
                let ms = i64::try_from(s)
                    .ok()
                    .and_then(|s| s.checked_mul(1000))
                    .ok_or_else(|| AnalyticsError::invalid("bucketSizeInSec", "too large"))?;
                ("bucketSizeInSec", ms)
            }
            BucketSpec::Count(n) => ("bucketCount", count_size_ms(to_ms - from_ms, n)),
        };
        let b = Buckets {
            from_ms,
            to_ms,
            size_ms,
            origin_ms: from_ms.div_euclid(size_ms) * size_ms,
        };
        let n = b.len_i64();
        if n > MAX_BUCKETS {
            return Err(AnalyticsError::invalid(
                param,
                format!("{n} buckets over the range, at most {MAX_BUCKETS}"),
            ));
        }
        Ok(b)
    }
}

/// Size for `count` buckets over `range_ms`: range / count rounded up to a multiple of 5 s, at
/// least 5 s.
fn count_size_ms(range_ms: i64, count: u32) -> i64 {
    let per = range_ms.div_euclid(i64::from(count))
        + i64::from(range_ms.rem_euclid(i64::from(count)) != 0);
    let steps = per.div_euclid(COUNT_STEP_MS) + i64::from(per.rem_euclid(COUNT_STEP_MS) != 0);
    steps.max(1) * COUNT_STEP_MS
}

impl Buckets {
    /// One bucket covering the whole range (clamped and checked as by [`BucketSpec::buckets`]).
    pub fn whole(from_ms: i64, to_ms: i64) -> Result<Buckets, AnalyticsError> {
        let (from_ms, to_ms) = checked_range(from_ms, to_ms)?;
        Ok(Buckets {
            from_ms,
            to_ms,
            size_ms: to_ms - from_ms,
            origin_ms: from_ms,
        })
    }

    fn len_i64(&self) -> i64 {
        (self.to_ms - 1 - self.origin_ms).div_euclid(self.size_ms) + 1
    }

    /// Number of buckets.
    pub fn len(&self) -> usize {
        self.len_i64() as usize
    }

    /// Never true (a range is never empty); for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every bucket `(start_ms, end_ms)`, in order, clipped to the range.
    pub fn ranges(&self) -> Vec<(i64, i64)> {
        (0..self.len_i64())
            .map(|i| {
                let start = self.origin_ms + i * self.size_ms;
                (
                    start.max(self.from_ms),
                    (start + self.size_ms).min(self.to_ms),
                )
            })
            .collect()
    }

    /// The bucket holding `ts_ms`, if it lies in the range.
    pub fn index_of(&self, ts_ms: i64) -> Option<usize> {
        (self.from_ms..self.to_ms)
            .contains(&ts_ms)
            .then(|| (ts_ms - self.origin_ms).div_euclid(self.size_ms) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_timestamp;

    fn ts(s: &str) -> i64 {
        parse_timestamp(s).expect("timestamp")
    }

    fn param(e: AnalyticsError) -> &'static str {
        match e {
            AnalyticsError::InvalidArgument { param, .. } => param,
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn first_bucket_is_clipped_and_the_rest_epoch_aligned() {
        let from = ts("2026-12-02T10:00:03Z");
        let to = ts("2026-12-02T10:00:20Z");
        let b = BucketSpec::SizeSeconds(5)
            .buckets(from, to)
            .expect("buckets");
        let r = b.ranges();
        assert_eq!(r.len(), 4);
        assert_eq!(r[0], (from, ts("2026-12-02T10:00:05Z")));
        assert_eq!(r[1].0, ts("2026-12-02T10:00:05Z"));
        assert_eq!(r[3], (ts("2026-12-02T10:00:15Z"), to));
        assert_eq!(b.origin_ms, ts("2026-12-02T10:00:00Z"));
    }

    #[test]
    fn last_bucket_is_clipped() {
        let from = ts("2026-12-02T10:00:00Z");
        let to = ts("2026-12-02T10:00:12.500Z");
        let r = BucketSpec::SizeSeconds(5)
            .buckets(from, to)
            .expect("b")
            .ranges();
        assert_eq!(
            r,
            [
                (from, from + 5_000),
                (from + 5_000, from + 10_000),
                (from + 10_000, to)
            ]
        );
    }

    #[test]
    fn buckets_tile_the_range_without_gaps() {
        let from = ts("2026-12-02T09:59:58.123Z");
        let to = ts("2026-12-02T10:07:01.999Z");
        for spec in [
            BucketSpec::SizeSeconds(1),
            BucketSpec::SizeSeconds(7),
            BucketSpec::SizeSeconds(3600),
            BucketSpec::Count(1),
            BucketSpec::Count(20),
            BucketSpec::Count(1000),
        ] {
            let b = spec.buckets(from, to).expect("b");
            let r = b.ranges();
            assert_eq!(r.len(), b.len());
            assert_eq!(r[0].0, from);
            assert_eq!(r[r.len() - 1].1, to);
            for w in r.windows(2) {
                assert_eq!(w[0].1, w[1].0);
                assert_eq!(w[1].0.rem_euclid(b.size_ms), 0, "{spec:?} aligned");
            }
            for (i, (s, e)) in r.iter().enumerate() {
                assert!(s < e);
                assert_eq!(b.index_of(*s), Some(i));
                assert_eq!(b.index_of(e - 1), Some(i));
            }
            assert_eq!(b.index_of(from - 1), None);
            assert_eq!(b.index_of(to), None);
        }
    }

    #[test]
    fn count_twenty_over_seven_minutes_gives_25_second_buckets() {
        let from = ts("2026-12-02T10:00:00Z");
        let b = BucketSpec::Count(20)
            .buckets(from, from + 420_000)
            .expect("b");
        // 420 s / 20 = 21 s, rounded up to a multiple of 5 s.
        assert_eq!(b.size_ms, 25_000);
        // 10:00:00 is a multiple of 25 s since the epoch? 1796205600 / 25 is whole, so 17
        // buckets: 16 full and the last clipped to 20 s.
        let r = b.ranges();
        assert_eq!(r.len(), 17);
        assert_eq!(r[16], (from + 400_000, from + 420_000));
        assert_eq!(BucketSpec::default(), BucketSpec::Count(20));
    }

    #[test]
    fn count_over_thirty_seconds_gives_five_second_buckets() {
        let from = ts("2026-12-02T10:00:00Z");
        let b = BucketSpec::Count(20)
            .buckets(from, from + 30_000)
            .expect("b");
        assert_eq!(b.size_ms, 5_000);
        assert_eq!(b.ranges().len(), 6);
        // Exact multiples are not rounded further: 100 s / 20 = 5 s.
        let b = BucketSpec::Count(20)
            .buckets(from, from + 100_000)
            .expect("b");
        assert_eq!(b.size_ms, 5_000);
        // 100.001 s / 20 is just over 5 s: 10 s.
        let b = BucketSpec::Count(20)
            .buckets(from, from + 100_001)
            .expect("b");
        assert_eq!(b.size_ms, 10_000);
    }

    #[test]
    fn offset_range_equals_the_same_instants_in_utc() {
        let a = BucketSpec::Count(20)
            .buckets(
                ts("2026-12-02T12:00:03+02:00"),
                ts("2026-12-02T12:07:03+02:00"),
            )
            .expect("a");
        let b = BucketSpec::Count(20)
            .buckets(ts("2026-12-02T10:00:03Z"), ts("2026-12-02T10:07:03Z"))
            .expect("b");
        assert_eq!(a, b);
        assert_eq!(a.ranges(), b.ranges());
    }

    #[test]
    fn refusals_name_the_parameter() {
        let from = ts("2026-12-02T10:00:00Z");
        let s5 = BucketSpec::SizeSeconds(5);
        assert_eq!(
            param(s5.buckets(from, from).expect_err("empty")),
            "toTimestamp"
        );
        assert_eq!(
            param(s5.buckets(from, from - 1).expect_err("rev")),
            "toTimestamp"
        );
        assert_eq!(
            param(
                BucketSpec::SizeSeconds(0)
                    .buckets(from, from + 1)
                    .expect_err("0")
            ),
            "bucketSizeInSec"
        );
        assert_eq!(
            param(BucketSpec::Count(0).buckets(from, from + 1).expect_err("0")),
            "bucketCount"
        );
        // 10 001 one-second buckets.
        assert_eq!(
            param(
                BucketSpec::SizeSeconds(1)
                    .buckets(from, from + 10_001_000)
                    .expect_err("many")
            ),
            "bucketSizeInSec"
        );
        assert!(BucketSpec::SizeSeconds(1)
            .buckets(from, from + 10_000_000)
            .is_ok());
        assert_eq!(
            param(
                BucketSpec::Count(u32::MAX)
                    .buckets(from, from + 86_400_000)
                    .expect_err("many")
            ),
            "bucketCount"
        );
        assert_eq!(
            param(
                BucketSpec::SizeSeconds(u64::MAX)
                    .buckets(from, from + 1)
                    .expect_err("huge")
            ),
            "bucketSizeInSec"
        );
        let e = BucketSpec::Count(0).buckets(from, from + 1).expect_err("0");
        assert_eq!(
            osprey_base::Kinded::kind(&e),
            osprey_base::ErrorKind::InvalidArgument
        );
    }

    #[test]
    fn extreme_ranges_are_clamped_not_overflowed() {
        let w = Buckets::whole(i64::MIN, i64::MAX).expect("whole");
        assert_eq!((w.from_ms, w.to_ms), (MIN_MS, MAX_MS));
        assert_eq!(w.ranges(), [(MIN_MS, MAX_MS)]);
        assert_eq!(w.index_of(0), Some(0));
        assert!(Buckets::whole(MAX_MS + 1, i64::MAX).is_err());
        let e = BucketSpec::Count(20).buckets(i64::MIN, i64::MAX);
        assert!(e.is_ok(), "{e:?}"); // 20-odd huge buckets
        assert_eq!(
            param(
                BucketSpec::SizeSeconds(5)
                    .buckets(i64::MIN, i64::MAX)
                    .expect_err("many")
            ),
            "bucketSizeInSec"
        );
    }

    #[test]
    fn pre_epoch_ranges_align_too() {
        let b = BucketSpec::SizeSeconds(5)
            .buckets(-7_000, 1_000)
            .expect("b");
        assert_eq!(b.ranges(), [(-7_000, -5_000), (-5_000, 0), (0, 1_000)]);
    }
}
