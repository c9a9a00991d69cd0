//! Retention at scale: the rules of [`crate::retention::plan_deletions`], planned from per-camera
//! totals and oldest-first pages of an indexed source instead of every segment. A pass reads
//! the totals, the protected bytes, and only the oldest segments that the rules might delete
//! (plus those they skip because they are protected), so its cost follows what it deletes,
//! not how much is kept. Pure: the source is a trait ([`RetentionSource`]); the index
//! implements it over SQLite, the tests over a vector, checked against `plan_deletions`.

use std::collections::{BTreeSet, HashSet};

use crate::db::SegmentId;
use crate::retention::{Quotas, RetentionSegment};

/// Rows fetched per page.
pub const PAGE: usize = 256;

/// One camera's totals, as the source keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraBytes {
    /// The camera.
    pub camera: String,
    /// Bytes of all its segments.
    pub bytes: u64,
    /// Bytes of its segments protected at the time of the pass.
    pub protected_bytes: u64,
}

/// Where the planner reads segments.
pub trait RetentionSource {
    /// The error reading fails with.
    type Error;
    /// Every camera with segments, and its totals at `now_ms`.
    fn cameras(&self, now_ms: i64) -> Result<Vec<CameraBytes>, Self::Error>;
    /// Up to `limit` of `camera`'s segments after `after` (`(start_wall_ms, id)`, exclusive;
    /// `None`: from the oldest), oldest first.
    fn page(
        &self,
        camera: &str,
        after: Option<(i64, SegmentId)>,
        limit: usize,
    ) -> Result<Vec<RetentionSegment>, Self::Error>;
}

/// A camera's segments, oldest first, fetched a page at a time.
struct Cursor<'a, S: RetentionSource> {
    source: &'a S,
    camera: &'a str,
    buf: std::collections::VecDeque<RetentionSegment>,
    after: Option<(i64, SegmentId)>,
    done: bool,
}

impl<'a, S: RetentionSource> Cursor<'a, S> {
    fn new(source: &'a S, camera: &'a str) -> Self {
        Self {
            source,
            camera,
            buf: Default::default(),
            after: None,
            done: false,
        }
    }

    fn peek(&mut self) -> Result<Option<&RetentionSegment>, S::Error> {
        if self.buf.is_empty() && !self.done {
            let page = self.source.page(self.camera, self.after, PAGE)?;
            self.done = page.len() < PAGE;
            if let Some(last) = page.last() {
                self.after = Some((last.start_wall_ms, last.id));
            }
            self.buf.extend(page);
        }
        Ok(self.buf.front())
    }

    fn next(&mut self) -> Result<Option<RetentionSegment>, S::Error> {
        self.peek()?;
        Ok(self.buf.pop_front())
    }
}

/// What the pass decided: segments leaving (deleted now, or deferred when pinned).
#[derive(Default)]
struct Leaving {
    ids: HashSet<SegmentId>,
    segments: Vec<RetentionSegment>,
}

impl Leaving {
    fn insert(&mut self, s: &RetentionSegment) -> bool {
        let added = self.ids.insert(s.id);
        if added {
            self.segments.push(s.clone());
        }
        added
    }
}

/// The segments to delete now, oldest first (by start, then id), exactly as
/// [`crate::retention::plan_deletions`] would choose them from every segment.
pub fn plan<S: RetentionSource>(
    source: &S,
    quotas: &Quotas,
    now_ms: i64,
    disk_free: Option<u64>,
) -> Result<Vec<RetentionSegment>, S::Error> {
    let protected = |s: &RetentionSegment| s.protected_until.is_some_and(|u| u > now_ms);
    let cameras = source.cameras(now_ms)?;
    let mut leaving = Leaving::default();
    let mut freed: u64 = 0;
    for cam in &cameras {
        let quota = quotas.camera(&cam.camera);
        let mut cursor = Cursor::new(source, &cam.camera);
        let mut used = cam.bytes.saturating_sub(cam.protected_bytes);
        // 1. Max age: segments that ended before the cutoff all started before it, so they
        // are among the oldest-first prefix that starts before the cutoff.
        if let Some(age) = quota.max_age_ms {
            let cutoff = now_ms.saturating_sub(age);
            let mut c = Cursor::new(source, &cam.camera);
            while let Some(s) = c.next()? {
                if s.start_wall_ms >= cutoff {
                    break;
                }
                if !protected(&s) && s.end_wall_ms < cutoff && leaving.insert(&s) {
                    used = used.saturating_sub(s.bytes);
                    freed += s.bytes;
                }
            }
        }
        // 2. Byte quota: oldest unprotected first until the camera fits.
        if let Some(max) = quota.max_bytes {
            while used > max {
                let Some(s) = cursor.next()? else { break };
                if protected(&s) {
                    continue;
                }
                if leaving.insert(&s) {
                    used = used.saturating_sub(s.bytes);
                    freed += s.bytes;
                }
            }
        }
    }
    // 3. Disk-free watermark: the oldest unprotected segment of any camera, merged across the
    // cameras' oldest-first cursors.
    if let (Some(min_free), Some(free)) = (quotas.min_free_bytes, disk_free) {
        let mut cursors: Vec<Cursor<'_, S>> = cameras
            .iter()
            .map(|c| Cursor::new(source, &c.camera))
            .collect();
        while free.saturating_add(freed) < min_free {
            let mut best: Option<(usize, (i64, SegmentId))> = None;
            for (i, c) in cursors.iter_mut().enumerate() {
                if let Some(s) = c.peek()? {
                    let key = (s.start_wall_ms, s.id);
                    if best.is_none_or(|(_, b)| key < b) {
                        best = Some((i, key));
                    }
                }
            }
            let Some((i, _)) = best else { break };
            let Some(s) = cursors[i].next()? else { break };
            if !protected(&s) && leaving.insert(&s) {
                freed += s.bytes;
            }
        }
    }
    let mut out: Vec<RetentionSegment> =
        leaving.segments.into_iter().filter(|s| !s.pinned).collect();
    out.sort_by_key(|s| (s.start_wall_ms, s.id));
    Ok(out)
}

/// An in-memory source (tests and small indexes): `segments` in any order.
#[derive(Debug, Clone, Default)]
pub struct VecSource {
    segments: Vec<RetentionSegment>,
}

impl VecSource {
    /// A source over these segments.
    pub fn new(mut segments: Vec<RetentionSegment>) -> Self {
        segments.sort_by(|a, b| {
            (&a.camera, a.start_wall_ms, a.id).cmp(&(&b.camera, b.start_wall_ms, b.id))
        });
        Self { segments }
    }
}

impl RetentionSource for VecSource {
    type Error = std::convert::Infallible;

    fn cameras(&self, now_ms: i64) -> Result<Vec<CameraBytes>, Self::Error> {
        let names: BTreeSet<&str> = self.segments.iter().map(|s| s.camera.as_str()).collect();
        Ok(names
            .into_iter()
            .map(|c| {
                let of = || self.segments.iter().filter(move |s| s.camera == c);
                CameraBytes {
                    camera: c.to_string(),
                    bytes: of().map(|s| s.bytes).sum(),
                    protected_bytes: of()
                        .filter(|s| s.protected_until.is_some_and(|u| u > now_ms))
                        .map(|s| s.bytes)
                        .sum(),
                }
            })
            .collect())
    }

    fn page(
        &self,
        camera: &str,
        after: Option<(i64, SegmentId)>,
        limit: usize,
    ) -> Result<Vec<RetentionSegment>, Self::Error> {
        Ok(self
            .segments
            .iter()
            .filter(|s| s.camera == camera)
            .filter(|s| after.is_none_or(|a| (s.start_wall_ms, s.id) > a))
            .take(limit)
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::{plan_deletions, CameraQuota};

    /// A small deterministic generator (xorshift), so the comparison covers many shapes.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    const MIN: i64 = 60_000;

    fn random_case(rng: &mut Rng) -> (Vec<RetentionSegment>, Quotas, i64, Option<u64>) {
        let cams = ["a", "b", "c"];
        let mut segs = Vec::new();
        let mut id = 1;
        for cam in cams.iter().take(1 + rng.below(3) as usize) {
            // Up to 600 segments: more than two pages.
            let n = rng.below(600);
            let mut t = rng.below(5) as i64 * MIN;
            for _ in 0..n {
                let len = MIN / 2 + rng.below(MIN as u64) as i64;
                let protected_until = match rng.below(10) {
                    0 => Some(i64::MAX),
                    1 => Some(rng.below(1000) as i64 * MIN),
                    _ => None,
                };
                segs.push(RetentionSegment {
                    id,
                    camera: (*cam).into(),
                    start_wall_ms: t,
                    end_wall_ms: t + len,
                    bytes: 50 + rng.below(200),
                    protected_until,
                    pinned: rng.below(20) == 0,
                });
                id += 1;
                t += len + rng.below(3) as i64 * MIN;
            }
        }
        let q = |rng: &mut Rng| CameraQuota {
            max_bytes: (rng.below(2) == 0).then(|| rng.below(60_000)),
            max_age_ms: (rng.below(2) == 0).then(|| rng.below(800) as i64 * MIN),
        };
        let mut quotas = Quotas {
            default_camera: q(rng),
            min_free_bytes: (rng.below(2) == 0).then(|| rng.below(100_000)),
            ..Quotas::default()
        };
        if rng.below(2) == 0 {
            quotas.cameras.insert("b".into(), q(rng));
        }
        let now = rng.below(1200) as i64 * MIN;
        let free = (rng.below(3) != 0).then(|| rng.below(100_000));
        (segs, quotas, now, free)
    }

    #[test]
    fn the_streaming_plan_matches_the_full_plan() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for case in 0..400 {
            let (segs, quotas, now, free) = random_case(&mut rng);
            let full = plan_deletions(&segs, &quotas, now, free);
            let streamed: Vec<SegmentId> = plan(&VecSource::new(segs.clone()), &quotas, now, free)
                .unwrap()
                .iter()
                .map(|s| s.id)
                .collect();
            assert_eq!(
                streamed, full,
                "case {case}: {quotas:?} now={now} free={free:?}"
            );
        }
    }

    #[test]
    fn nothing_is_read_past_what_the_rules_need() {
        /// Counts the rows handed out.
        struct Counting(VecSource, std::cell::Cell<usize>);
        impl RetentionSource for Counting {
            type Error = std::convert::Infallible;
            fn cameras(&self, now: i64) -> Result<Vec<CameraBytes>, Self::Error> {
                self.0.cameras(now)
            }
            fn page(
                &self,
                c: &str,
                a: Option<(i64, SegmentId)>,
                l: usize,
            ) -> Result<Vec<RetentionSegment>, Self::Error> {
                let p = self.0.page(c, a, l)?;
                self.1.set(self.1.get() + p.len());
                Ok(p)
            }
        }
        let segs: Vec<RetentionSegment> = (0..10_000)
            .map(|i| RetentionSegment {
                id: i + 1,
                camera: "a".into(),
                start_wall_ms: i * MIN,
                end_wall_ms: (i + 1) * MIN,
                bytes: 100,
                protected_until: None,
                pinned: false,
            })
            .collect();
        let src = Counting(VecSource::new(segs), Default::default());
        // Within quota: no rows read at all.
        let q = Quotas {
            default_camera: CameraQuota {
                max_bytes: Some(1_000_000),
                max_age_ms: None,
            },
            ..Quotas::default()
        };
        assert!(plan(&src, &q, 10_000 * MIN, None).unwrap().is_empty());
        assert_eq!(src.1.get(), 0);
        // Two segments over: one page read.
        let q = Quotas {
            default_camera: CameraQuota {
                max_bytes: Some(999_800),
                max_age_ms: None,
            },
            ..Quotas::default()
        };
        assert_eq!(plan(&src, &q, 10_000 * MIN, None).unwrap().len(), 2);
        assert_eq!(src.1.get(), PAGE);
    }
}
