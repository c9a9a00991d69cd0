//! Pins: segments a reader is using. Retention never deletes a pinned segment; it defers it to
//! the first pass after the last pin is released (moonfire-nvr's known bug was a cut download
//! when retention deleted a recording being served).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use osprey_base::lock;

use crate::db::SegmentId;

/// The pinned segments, shared by every reader and the retention pass (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct Pins {
    counts: Arc<Mutex<HashMap<SegmentId, u32>>>,
}

impl Pins {
    /// Pins `ids` until the returned guard is dropped. Pins nest: a segment stays pinned while
    /// any guard holds it.
    pub fn pin(&self, ids: impl IntoIterator<Item = SegmentId>) -> PinGuard {
        let ids: Vec<SegmentId> = ids.into_iter().collect();
        let mut counts = lock(&self.counts);
        for id in &ids {
            *counts.entry(*id).or_default() += 1;
        }
        PinGuard {
            pins: self.clone(),
            ids,
        }
    }

    /// Whether `id` is pinned now.
    pub fn is_pinned(&self, id: SegmentId) -> bool {
        lock(&self.counts).contains_key(&id)
    }

    /// Number of segments pinned now.
    pub fn len(&self) -> usize {
        lock(&self.counts).len()
    }

    /// Whether nothing is pinned.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Keeps segments pinned; dropping it releases them.
#[derive(Debug)]
pub struct PinGuard {
    pins: Pins,
    ids: Vec<SegmentId>,
}

impl PinGuard {
    /// The pinned segments.
    pub fn ids(&self) -> &[SegmentId] {
        &self.ids
    }
}

impl Drop for PinGuard {
    fn drop(&mut self) {
        let mut counts = lock(&self.pins.counts);
        for id in &self.ids {
            if let Some(n) = counts.get_mut(id) {
                *n -= 1;
                if *n == 0 {
                    counts.remove(id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_nest_and_release_on_drop() {
        let pins = Pins::default();
        let a = pins.pin([1, 2]);
        let b = pins.pin([2, 3]);
        assert!(pins.is_pinned(1) && pins.is_pinned(2) && pins.is_pinned(3));
        drop(a);
        assert!(!pins.is_pinned(1) && pins.is_pinned(2));
        assert_eq!(b.ids(), [2, 3]);
        drop(b);
        assert!(pins.is_empty());
    }
}
