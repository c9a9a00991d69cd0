//! The analytics store: raw tripwire crossings and ROI transitions, per-second occupancy
//! aggregates (per camera × rule × label × UTC second: sum of per-frame counts, frames, max) and
//! the latest totals snapshot per camera, in SQLite (WAL, `synchronous=NORMAL`).
//!
//! A writer thread `osprey-analytics-db`, fed by a bounded queue, commits at most
//! `commit_interval` after a record arrives; every [`AnalyticsStore::push`] batch is stored whole
//! or not at all, so a totals snapshot pushed with the events it counts is always consistent
//! with them — after a `kill -9` the restored totals agree with the stored events and at most the
//! last interval is lost. Queries run on a separate read connection (WAL: they never wait for
//! the writer).

mod error;
mod query;
mod records;
mod writer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::{BucketSpec, Buckets};
pub use error::AnalyticsError;
pub use records::{
    AlertRow, AnalyticsRecord, Crossing, CrossingCounts, Direction, EventKind, InOut,
    LabelCrossings, OccupancyBucket, OccupancySample, OccupancyStat, RoiKind, RoiTransition,
    TotalsSnapshot, TripwireBucket,
};
use writer::{Msg, Writer};

/// The longest allowed `commit_interval`.
pub const MAX_COMMIT_INTERVAL: Duration = Duration::from_secs(2);

/// How the analytics store writes and keeps rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalyticsConfig {
    /// Longest time between a record reaching the writer and its commit (0 < it ≤ 2 s).
    pub commit_interval: Duration,
    /// Rows older than this many days are deleted (0: kept forever). Totals snapshots stay.
    pub retention_days: u32,
    /// How often the writer applies the retention (also once at start).
    pub retention_check: Duration,
    /// Batches the queue holds before [`AnalyticsStore::push`] drops.
    pub queue_capacity: usize,
}

impl Default for AnalyticsConfig {
    fn default() -> AnalyticsConfig {
        AnalyticsConfig {
            commit_interval: Duration::from_secs(1),
            retention_days: 30,
            retention_check: Duration::from_secs(600),
            queue_capacity: 4096,
        }
    }
}

impl AnalyticsConfig {
    fn validate(&self) -> Result<(), AnalyticsError> {
        if self.commit_interval.is_zero() || self.commit_interval > MAX_COMMIT_INTERVAL {
            return Err(AnalyticsError::invalid(
                "commit_interval",
                format!("{:?} is not in (0, 2 s]", self.commit_interval),
            ));
        }
        if self.queue_capacity == 0 {
            return Err(AnalyticsError::invalid("queue_capacity", "must be > 0"));
        }
        if self.retention_days > 0 && self.retention_check.is_zero() {
            return Err(AnalyticsError::invalid("retention_check", "must be > 0"));
        }
        Ok(())
    }
}

/// The SQLite analytics store (cheap to clone; the writer stops when the last clone is dropped,
/// committing what it holds). A store made by [`AnalyticsStore::open_lazy`] creates its file and
/// its writer on first use, so a server without cameras leaves no database behind.
#[derive(Debug, Clone)]
pub struct AnalyticsStore {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    path: PathBuf,
    cfg: AnalyticsConfig,
    counters: prometheus::IntCounterVec,
    /// The open database, or why it could not be opened (not retried: the path is fixed).
    inner: OnceLock<Result<Inner, String>>,
}

#[derive(Debug)]
struct Inner {
    tx: SyncSender<Msg>,
    reader: Mutex<rusqlite::Connection>,
}

impl Shared {
    fn open(&self) -> Result<Inner, AnalyticsError> {
        let path = &self.path;
        let conn = writer::open_db(path)?;
        let reader = writer::open_db(path)?;
        let (tx, rx) = mpsc::sync_channel::<Msg>(self.cfg.queue_capacity);
        let w = Writer::new(
            conn,
            path.display().to_string(),
            self.cfg.clone(),
            &self.counters,
        );
        std::thread::Builder::new()
            .name("osprey-analytics-db".into())
            .spawn(move || w.run(&rx))
            .map_err(|e| AnalyticsError::Writer {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        tracing::info!(path = %path.display(), "analytics store open");
        Ok(Inner {
            tx,
            reader: Mutex::new(reader),
        })
    }

    fn inner(&self) -> Result<&Inner, AnalyticsError> {
        self.inner
            .get_or_init(|| {
                self.open().map_err(|e| {
                    tracing::error!(path = %self.path.display(), error = %e, "cannot open the analytics store");
                    e.to_string()
                })
            })
            .as_ref()
            .map_err(|reason| AnalyticsError::Writer {
                path: self.path.display().to_string(),
                reason: format!("not open: {reason}"),
            })
    }
}

impl AnalyticsStore {
    /// Opens (or creates) the database and starts the writer thread `osprey-analytics-db`.
    /// `counters` is labelled `sink` ("analytics") and `outcome` (sent, dropped, failed).
    pub fn open(
        path: &Path,
        cfg: AnalyticsConfig,
        counters: prometheus::IntCounterVec,
    ) -> Result<AnalyticsStore, AnalyticsError> {
        let store = AnalyticsStore::open_lazy(path, cfg, counters)?;
        store.shared.inner()?;
        Ok(store)
    }

    /// Checks `cfg` now; opens the database on first use (a push or a query). An open that
    /// fails then is logged once and every later call returns its error.
    pub fn open_lazy(
        path: &Path,
        cfg: AnalyticsConfig,
        counters: prometheus::IntCounterVec,
    ) -> Result<AnalyticsStore, AnalyticsError> {
        cfg.validate()?;
        Ok(AnalyticsStore {
            shared: Arc::new(Shared {
                path: path.to_path_buf(),
                cfg,
                counters,
                inner: OnceLock::new(),
            }),
        })
    }

    /// Whether the database has been opened.
    pub fn is_open(&self) -> bool {
        matches!(self.shared.inner.get(), Some(Ok(_)))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Queues records to be stored in one piece — put a camera's totals snapshot in the same
    /// batch as the events it counts. Never blocks: when the writer is far behind the batch is
    /// dropped and counted (`outcome="dropped"`, one per record); returns whether it was queued.
    pub fn push(&self, records: Vec<AnalyticsRecord>) -> bool {
        if records.is_empty() {
            return true;
        }
        let n = records.len() as u64;
        let sent = self
            .shared
            .inner()
            .is_ok_and(|i| i.tx.try_send(Msg::Records(records)).is_ok());
        if !sent {
            self.shared
                .counters
                .with_label_values(&["analytics", "dropped"])
                .inc_by(n);
        }
        sent
    }

    /// Blocks until everything queued before it is committed (tests, shutdown).
    pub fn flush(&self) -> Result<(), AnalyticsError> {
        let gone = |reason: String| AnalyticsError::Writer {
            path: self.shared.path.display().to_string(),
            reason,
        };
        let (ack, done) = mpsc::sync_channel(1);
        self.shared
            .inner()?
            .tx
            .send(Msg::Flush(ack))
            .map_err(|_| gone("stopped".into()))?;
        done.recv()
            .map_err(|_| gone("stopped".into()))?
            .map_err(gone)
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Result<T, AnalyticsError> {
        let c = osprey_base::lock(&self.shared.inner()?.reader);
        f(&c).map_err(|source| AnalyticsError::Sqlite {
            path: self.shared.path.display().to_string(),
            source,
        })
    }

    /// Crossing counts in `[from_ms, to_ms)` per tripwire (all of the camera's, or one) and
    /// label: `actual` (every crossing) and `effective` (one per object: the sign of its INs
    /// minus OUTs within the range). With `labels`, exactly those labels (zeros included); a
    /// named tripwire is always present.
    pub fn tripwire_counts(
        &self,
        camera: &str,
        tripwire: Option<&str>,
        from_ms: i64,
        to_ms: i64,
        labels: Option<&[String]>,
    ) -> Result<BTreeMap<String, LabelCrossings>, AnalyticsError> {
        let whole = Buckets::whole(from_ms, to_ms)?;
        self.read(|c| query::tripwire_counts(c, camera, tripwire, &whole, labels))
    }

    /// [`AnalyticsStore::tripwire_counts`] of one tripwire per bucket (effective counts per
    /// object within each bucket); every bucket of the range is present.
    pub fn tripwire_histogram(
        &self,
        camera: &str,
        tripwire: &str,
        from_ms: i64,
        to_ms: i64,
        buckets: BucketSpec,
        labels: Option<&[String]>,
    ) -> Result<Vec<TripwireBucket>, AnalyticsError> {
        let b = buckets.buckets(from_ms, to_ms)?;
        self.read(|c| query::tripwire_histogram(c, camera, tripwire, &b, labels))
    }

    /// Occupancy of `rule` (`"fov"` or an ROI id) per bucket: per label (requested ones, else
    /// those seen in the range) the rounded mean per-frame count and the max, and the same for
    /// all classes. Resolution is one second: a second counts in the bucket holding its start.
    pub fn occupancy_histogram(
        &self,
        camera: &str,
        rule: &str,
        from_ms: i64,
        to_ms: i64,
        buckets: BucketSpec,
        labels: Option<&[String]>,
    ) -> Result<Vec<OccupancyBucket>, AnalyticsError> {
        let b = buckets.buckets(from_ms, to_ms)?;
        self.read(|c| query::occupancy_histogram(c, camera, rule, &b, labels))
    }

    /// Raw events of a camera in `[from_ms, to_ms)`, newest first, at most `limit`.
    pub fn events(
        &self,
        kind: EventKind,
        camera: &str,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<AnalyticsRecord>, AnalyticsError> {
        self.events_of(kind, camera, None, from_ms, to_ms, limit)
    }

    /// [`AnalyticsStore::events`] of one tripwire or ROI (`rule`), or of all.
    pub fn events_of(
        &self,
        kind: EventKind,
        camera: &str,
        rule: Option<&str>,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<AnalyticsRecord>, AnalyticsError> {
        self.read(|c| query::events(c, kind, camera, rule, from_ms, to_ms, limit))
    }

    /// Alerts of a camera (of `kind` and `rule`, or all) active at some time in
    /// `[from_ms, to_ms)`, newest first, at most `limit`.
    pub fn alerts(
        &self,
        camera: &str,
        kind: Option<&str>,
        rule: Option<&str>,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<AlertRow>, AnalyticsError> {
        self.read(|c| query::alerts(c, camera, kind, rule, from_ms, to_ms, limit))
    }

    /// The camera's last committed totals snapshot.
    pub fn load_totals(&self, camera: &str) -> Result<Option<TotalsSnapshot>, AnalyticsError> {
        self.read(|c| query::load_totals(c, camera))
    }
}
