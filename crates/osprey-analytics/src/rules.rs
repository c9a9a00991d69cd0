//! The analytics rules of every camera, changed at runtime (the Metropolis-compatible config
//! API) and read by each camera's counting, which recompiles when its version changes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use crate::AnalyticsConfig;

/// Called with every camera's rules after each change (the application persists them).
pub type OnChange = Box<dyn Fn(&BTreeMap<String, AnalyticsConfig>) + Send + Sync>;

/// Rules per camera id, each with a version that grows on every change.
#[derive(Default)]
pub struct RuleBook {
    rules: RwLock<BTreeMap<String, (u64, AnalyticsConfig)>>,
    next: AtomicU64,
    on_change: Option<OnChange>,
}

impl std::fmt::Debug for RuleBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleBook")
            .field("cameras", &self.all().len())
            .finish()
    }
}

impl RuleBook {
    /// A book holding `initial`; `on_change` (if any) runs after every change.
    pub fn new(initial: BTreeMap<String, AnalyticsConfig>, on_change: Option<OnChange>) -> Self {
        let book = RuleBook {
            rules: RwLock::new(BTreeMap::new()),
            next: AtomicU64::new(1),
            on_change,
        };
        {
            let mut r = book.write();
            for (camera, cfg) in initial {
                let v = book.next.fetch_add(1, Ordering::Relaxed);
                r.insert(camera, (v, cfg));
            }
        }
        book
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, (u64, AnalyticsConfig)>> {
        self.rules
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, (u64, AnalyticsConfig)>> {
        self.rules
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A camera's rules and their version.
    pub fn get(&self, camera: &str) -> Option<(u64, AnalyticsConfig)> {
        self.read().get(camera).cloned()
    }

    /// A camera's rules version (0: none).
    pub fn version(&self, camera: &str) -> u64 {
        self.read().get(camera).map_or(0, |(v, _)| *v)
    }

    /// Every camera's rules.
    pub fn all(&self) -> BTreeMap<String, AnalyticsConfig> {
        self.read()
            .iter()
            .map(|(k, (_, c))| (k.clone(), c.clone()))
            .collect()
    }

    /// Changes a camera's rules with `f` (given the current ones, or empty ones); rules that
    /// end up with no tripwire, no ROI and no alert rule are removed. Returns the new version.
    pub fn update(&self, camera: &str, f: impl FnOnce(&mut AnalyticsConfig)) -> u64 {
        let all = {
            let mut r = self.write();
            let mut cfg = r.get(camera).map(|(_, c)| c.clone()).unwrap_or_default();
            f(&mut cfg);
            let v = self.next.fetch_add(1, Ordering::Relaxed);
            if cfg.tripwires.is_empty() && cfg.rois.is_empty() && cfg.alerts.is_empty() {
                r.remove(camera);
            } else {
                r.insert(camera.to_string(), (v, cfg));
            }
            self.on_change.as_ref().map(|_| {
                r.iter()
                    .map(|(k, (_, c))| (k.clone(), c.clone()))
                    .collect::<BTreeMap<_, _>>()
            })
        };
        if let (Some(cb), Some(all)) = (&self.on_change, all) {
            cb(&all);
        }
        self.version(camera)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn wire(id: &str) -> crate::Tripwire {
        serde_json::from_value(serde_json::json!({
            "id": id, "wire": [{"x": 0, "y": 0}, {"x": 0, "y": 10}],
            "direction": {"p1": {"x": -1, "y": 5}, "p2": {"x": 1, "y": 5}}
        }))
        .expect("tripwire")
    }

    #[test]
    fn versions_grow_and_changes_are_reported() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        let book = RuleBook::new(
            BTreeMap::new(),
            Some(Box::new(move |all| {
                s.lock().expect("lock").push(all.len());
            })),
        );
        assert_eq!(book.version("cam"), 0);
        let v1 = book.update("cam", |c| c.tripwires.push(wire("a")));
        let v2 = book.update("cam", |c| c.tripwires.push(wire("b")));
        assert!(v2 > v1 && v1 > 0);
        assert_eq!(book.get("cam").expect("rules").1.tripwires.len(), 2);
        // Emptied rules go away.
        book.update("cam", |c| c.tripwires.clear());
        assert_eq!(book.version("cam"), 0);
        assert_eq!(*seen.lock().expect("lock"), [1, 1, 0]);
    }
}
