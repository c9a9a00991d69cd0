//! Retention as a pure function: which segments to delete now, given the segments, the quotas,
//! the time and the free disk space. No I/O; [`crate::RecordingIndex::apply_retention`] runs it
//! and deletes with the crash-safe protocol.
//!
//! Rules, applied in this order, each oldest first (by wall-clock start, then id):
//! 1. **Max age** (per camera, optional): a segment that ended more than `max_age_ms` ago goes.
//! 2. **Byte quota** (per camera, optional): while the camera's unprotected bytes exceed
//!    `max_bytes`, its oldest segment goes.
//! 3. **Disk-free watermark** (global, optional): while free space is below
//!    `min_free_bytes`, the oldest segment of any camera goes (its bytes count as freed).
//!
//! A *protected* segment (`protected_until` in the future; `i64::MAX` for ever) is exempt from
//! every rule and does not count toward its camera's byte quota; once its protection expires it
//! is an ordinary segment again. A *pinned* segment (being read by a view) is never returned:
//! its deletion is deferred, but a rule counts its bytes as going away, so no newer segment is
//! deleted in its place; the next pass after the pin is released deletes it.

use std::collections::{BTreeSet, HashMap};

use crate::db::SegmentId;

/// What retention needs to know about a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionSegment {
    /// The segment's id in the index.
    pub id: SegmentId,
    /// Its camera.
    pub camera: String,
    /// Wall-clock start, Unix ms.
    pub start_wall_ms: i64,
    /// Wall-clock end, Unix ms.
    pub end_wall_ms: i64,
    /// File size.
    pub bytes: u64,
    /// Protected until this time (Unix ms; `i64::MAX` for ever); `None` when not protected.
    pub protected_until: Option<i64>,
    /// Whether a reader has the segment pinned.
    pub pinned: bool,
}

impl RetentionSegment {
    fn protected(&self, now_ms: i64) -> bool {
        self.protected_until.is_some_and(|u| u > now_ms)
    }
}

/// One camera's limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CameraQuota {
    /// Most bytes of unprotected recordings kept (`None`: no byte limit).
    pub max_bytes: Option<u64>,
    /// Recordings that ended longer ago than this are deleted (`None`: no age limit).
    pub max_age_ms: Option<i64>,
}

/// Limits for every camera and the disk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Quotas {
    /// Per-camera limits; cameras not listed get [`Quotas::default_camera`].
    pub cameras: HashMap<String, CameraQuota>,
    /// Limits of cameras not listed.
    pub default_camera: CameraQuota,
    /// Delete the oldest recordings while the file system has less free space than this.
    pub min_free_bytes: Option<u64>,
}

impl Quotas {
    /// The limits of `camera`.
    pub fn camera(&self, camera: &str) -> CameraQuota {
        self.cameras
            .get(camera)
            .copied()
            .unwrap_or(self.default_camera)
    }
}

/// The segments to delete now, oldest first. `disk_free` is the file system's free bytes
/// (`None`: unknown, the watermark rule is skipped). See the module documentation for the rules.
pub fn plan_deletions(
    segments: &[RetentionSegment],
    quotas: &Quotas,
    now_ms: i64,
    disk_free: Option<u64>,
) -> Vec<SegmentId> {
    let mut order: Vec<&RetentionSegment> =
        segments.iter().filter(|s| !s.protected(now_ms)).collect();
    order.sort_by_key(|s| (s.start_wall_ms, s.id));
    // Segments leaving (deleted now, or deferred because pinned).
    let mut leaving: BTreeSet<SegmentId> = BTreeSet::new();
    for s in &order {
        let max_age = quotas.camera(&s.camera).max_age_ms;
        if max_age.is_some_and(|age| s.end_wall_ms < now_ms.saturating_sub(age)) {
            leaving.insert(s.id);
        }
    }
    let mut used: HashMap<&str, u64> = HashMap::new();
    for s in order.iter().filter(|s| !leaving.contains(&s.id)) {
        *used.entry(&s.camera).or_default() += s.bytes;
    }
    for s in &order {
        let Some(max) = quotas.camera(&s.camera).max_bytes else {
            continue;
        };
        let u = used.entry(&s.camera).or_default();
        if *u > max && leaving.insert(s.id) {
            *u -= s.bytes;
        }
    }
    if let (Some(min_free), Some(free)) = (quotas.min_free_bytes, disk_free) {
        let mut freed: u64 = order
            .iter()
            .filter(|s| leaving.contains(&s.id))
            .map(|s| s.bytes)
            .sum();
        for s in &order {
            if free.saturating_add(freed) >= min_free {
                break;
            }
            if leaving.insert(s.id) {
                freed += s.bytes;
            }
        }
    }
    order
        .iter()
        .filter(|s| leaving.contains(&s.id) && !s.pinned)
        .map(|s| s.id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    /// Camera `cam`, segment `i` covers minute `i`, 100 bytes.
    fn seg(id: i64, cam: &str, minute: i64) -> RetentionSegment {
        RetentionSegment {
            id,
            camera: cam.into(),
            start_wall_ms: minute * MIN,
            end_wall_ms: (minute + 1) * MIN,
            bytes: 100,
            protected_until: None,
            pinned: false,
        }
    }

    fn quota(max_bytes: Option<u64>, max_age_ms: Option<i64>) -> Quotas {
        Quotas {
            default_camera: CameraQuota {
                max_bytes,
                max_age_ms,
            },
            ..Quotas::default()
        }
    }

    #[test]
    fn nothing_to_do_within_limits() {
        let segs: Vec<_> = (0..5).map(|i| seg(i, "a", i)).collect();
        assert!(
            plan_deletions(&segs, &quota(Some(500), Some(60 * MIN)), 10 * MIN, None).is_empty()
        );
        assert!(plan_deletions(&segs, &Quotas::default(), 10 * MIN, Some(0)).is_empty());
    }

    #[test]
    fn byte_quota_deletes_oldest_first_per_camera() {
        // Given out of order; camera b is within its own quota.
        let mut segs: Vec<_> = (0..5).rev().map(|i| seg(i, "a", i)).collect();
        segs.push(seg(10, "b", 0));
        let mut q = quota(Some(250), None);
        q.cameras.insert(
            "b".into(),
            CameraQuota {
                max_bytes: Some(100),
                max_age_ms: None,
            },
        );
        assert_eq!(plan_deletions(&segs, &q, 10 * MIN, None), [0, 1, 2]);
    }

    #[test]
    fn max_age_deletes_segments_that_ended_too_long_ago() {
        let segs: Vec<_> = (0..5).map(|i| seg(i, "a", i)).collect();
        // now = 6 min, max age 3 min: segments ending before 3 min (0, 1) go; 2 ends at 3 min.
        assert_eq!(
            plan_deletions(&segs, &quota(None, Some(3 * MIN)), 6 * MIN, None),
            [0, 1]
        );
    }

    #[test]
    fn protected_segments_are_exempt_until_their_expiry_and_do_not_count() {
        let mut segs: Vec<_> = (0..4).map(|i| seg(i, "a", i)).collect();
        segs[0].protected_until = Some(i64::MAX);
        segs[1].protected_until = Some(10 * MIN);
        // Quota 100 bytes: unprotected 2 and 3 use 200 → 2 goes; 0 and 1 are kept.
        let q = quota(Some(100), Some(MIN));
        assert_eq!(plan_deletions(&segs, &q, 5 * MIN, None), [2]);
        // After segment 1's protection expires, it is the oldest ordinary segment.
        assert_eq!(plan_deletions(&segs, &q, 10 * MIN, None), [1, 2, 3]);
    }

    #[test]
    fn pinned_segments_are_deferred_without_deleting_newer_ones() {
        let mut segs: Vec<_> = (0..4).map(|i| seg(i, "a", i)).collect();
        segs[0].pinned = true;
        // Quota 200: 0 and 1 must go; 0 is pinned (deferred), 1 goes, 2 and 3 stay.
        assert_eq!(
            plan_deletions(&segs, &quota(Some(200), None), 5 * MIN, None),
            [1]
        );
        segs[0].pinned = false;
        assert_eq!(
            plan_deletions(&segs, &quota(Some(200), None), 5 * MIN, None),
            [0, 1]
        );
    }

    #[test]
    fn disk_free_watermark_deletes_oldest_across_cameras() {
        let segs = vec![
            seg(1, "a", 2),
            seg(2, "b", 0),
            seg(3, "a", 1),
            seg(4, "b", 3),
        ];
        let q = Quotas {
            min_free_bytes: Some(1000),
            ..Quotas::default()
        };
        // 850 free: 150 more needed → the two oldest (b@0, a@1).
        assert_eq!(plan_deletions(&segs, &q, 5 * MIN, Some(850)), [2, 3]);
        assert!(plan_deletions(&segs, &q, 5 * MIN, Some(1000)).is_empty());
        assert!(plan_deletions(&segs, &q, 5 * MIN, None).is_empty());
        // Bytes already leaving under another rule count as freed.
        let mut q2 = q.clone();
        q2.cameras.insert(
            "b".into(),
            CameraQuota {
                max_bytes: Some(100),
                max_age_ms: None,
            },
        );
        assert_eq!(plan_deletions(&segs, &q2, 5 * MIN, Some(850)), [2, 3]);
        // Everything protected: nothing can go even when the disk is full.
        let prot: Vec<_> = segs
            .iter()
            .cloned()
            .map(|mut s| {
                s.protected_until = Some(i64::MAX);
                s
            })
            .collect();
        assert!(plan_deletions(&prot, &q, 5 * MIN, Some(0)).is_empty());
    }
}
