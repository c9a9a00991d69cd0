//! The recordings of a server: one [`RecordingIndex`] and the running [`Recorder`]s, with the
//! retention limits they share. The application starts a recorder when a camera that records
//! is added and stops it when the camera goes; the HTTP API reads timelines, views and status
//! through it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use osprey_base::lock;

use crate::{
    CameraQuota, Quotas, RecordError, Recorder, RecorderConfig, RecorderFeed, RecorderStatus,
    RecordingIndex, RecoveryReport,
};

/// The recordings: the index, the recorders by camera, and the shared limits.
#[derive(Debug)]
pub struct Library {
    index: RecordingIndex,
    quotas: Arc<RwLock<Quotas>>,
    recorders: Mutex<BTreeMap<String, Recorder>>,
}

impl Library {
    /// Opens (creates) the index under `root` (recovering it) with `min_free_bytes` as the
    /// disk-free watermark for every camera.
    pub fn open(
        root: &Path,
        min_free_bytes: Option<u64>,
    ) -> Result<(Library, RecoveryReport), RecordError> {
        let (index, report) = RecordingIndex::open(root)?;
        let quotas = Quotas {
            min_free_bytes,
            ..Quotas::default()
        };
        Ok((
            Library {
                index,
                quotas: Arc::new(RwLock::new(quotas)),
                recorders: Mutex::new(BTreeMap::new()),
            },
            report,
        ))
    }

    /// The index (timelines, views, protection, usage).
    pub fn index(&self) -> &RecordingIndex {
        &self.index
    }

    /// The limits every recorder applies.
    pub fn quotas(&self) -> Quotas {
        self.quotas
            .read()
            .map_or_else(|p| p.into_inner().clone(), |q| q.clone())
    }

    /// Starts recording `camera` with its limits and segment length (`None`: the default
    /// 60 s); a recorder already running for it is stopped first. Returns the feed to install
    /// on the camera's readers.
    pub fn start(
        &self,
        camera: &str,
        quota: CameraQuota,
        rotate_interval_ms: Option<i64>,
    ) -> Result<RecorderFeed, RecordError> {
        self.stop(camera);
        match self.quotas.write() {
            Ok(mut q) => {
                q.cameras.insert(camera.to_string(), quota);
            }
            Err(p) => {
                p.into_inner().cameras.insert(camera.to_string(), quota);
            }
        }
        let mut cfg = RecorderConfig::new(camera);
        cfg.shared_quotas = Some(Arc::clone(&self.quotas));
        if let Some(ms) = rotate_interval_ms {
            cfg.rotate_interval_ms = ms.max(1_000);
            cfg.rotate_offset_ms %= cfg.rotate_interval_ms;
        }
        let rec = Recorder::start(self.index.clone(), cfg)?;
        let feed = rec.feed();
        lock(&self.recorders).insert(camera.to_string(), rec);
        Ok(feed)
    }

    /// Stops `camera`'s recorder (its open segment is finished and indexed); its recordings
    /// stay and age out under its limits. Returns its last status.
    pub fn stop(&self, camera: &str) -> Option<RecorderStatus> {
        let rec = lock(&self.recorders).remove(camera)?;
        Some(rec.stop())
    }

    /// The status of `camera`'s recorder, if it records.
    pub fn status(&self, camera: &str) -> Option<RecorderStatus> {
        lock(&self.recorders).get(camera).map(Recorder::status)
    }

    /// Every running recorder's status.
    pub fn statuses(&self) -> BTreeMap<String, RecorderStatus> {
        lock(&self.recorders)
            .iter()
            .map(|(k, r)| (k.clone(), r.status()))
            .collect()
    }

    /// Stops every recorder (shutdown).
    pub fn stop_all(&self) {
        let all = std::mem::take(&mut *lock(&self.recorders));
        for (_, r) in all {
            r.stop();
        }
    }
}
