//! The SQLite event store behind `GET /api/events`: one row per tracked object (its lifecycle
//! events update the row), a writer thread fed by a bounded queue, and a read connection for
//! queries (WAL, so reads never wait for the writer).
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use osprey_base::{ErrorKind, Kinded};
use osprey_schema::ObjectEvent;
use serde::Serialize;

use crate::snapshots::{snapshot_dir, snapshot_file, SnapshotKind};

/// An event as stored and served by `GET /api/events`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRecord {
    /// Frigate-style id: `<start time>-<suffix>`.
    pub id: String,
    /// Camera id.
    pub camera: String,
    /// Class name.
    pub label: String,
    /// The tracker's id for the object.
    pub track_id: u64,
    /// Unix seconds the track was confirmed.
    pub start_time: f64,
    /// Unix seconds the track ended (`null` while active).
    pub end_time: Option<f64>,
    /// Best detection score seen.
    pub top_score: f32,
    /// Box at the best score `[x1, y1, x2, y2]`, source pixels.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// Frames the object was seen in.
    pub frames: u64,
}

/// Filters of `GET /api/events`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventQuery {
    /// Only this camera.
    pub camera: Option<String>,
    /// Only this label.
    pub label: Option<String>,
    /// Started at or after (unix seconds).
    pub after: Option<f64>,
    /// Started before (unix seconds).
    pub before: Option<f64>,
    /// Most rows (newest first).
    pub limit: usize,
    /// Only the event with this id.
    pub id: Option<String>,
}

/// Why the event store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite said no.
    #[error("event store {path}: {source}")]
    Sqlite {
        /// Database file.
        path: String,
        /// Cause.
        source: rusqlite::Error,
    },
    /// The file was written by a newer Osprey (its schema version is higher than this build's).
    #[error("event store {path}: {reason}")]
    NewerSchema {
        /// Database file.
        path: String,
        /// The sentence naming both versions.
        reason: String,
    },
    /// The store could not be opened (or its writer thread could not start).
    #[error("event store {path}: unavailable: {reason}")]
    Unavailable {
        /// Database file.
        path: String,
        /// Why.
        reason: String,
    },
}

impl Kinded for StoreError {
    fn kind(&self) -> ErrorKind {
        match self {
            StoreError::NewerSchema { .. } => ErrorKind::FailedPrecondition,
            StoreError::Sqlite { .. } | StoreError::Unavailable { .. } => ErrorKind::Unavailable,
        }
    }
}

impl EventRecord {
    /// The row an object event leaves in the store.
    pub fn from_event(e: &ObjectEvent) -> EventRecord {
        let s = e.snapshot();
        EventRecord {
            id: s.id.clone(),
            camera: s.camera.clone(),
            label: s.label.clone(),
            track_id: s.track_id,
            start_time: s.start_time,
            end_time: s.end_time,
            top_score: s.top_score,
            bbox: s.top_bbox,
            frames: s.frames,
        }
    }
}

/// The SQLite event store: a writer thread fed by a bounded queue, and a read connection for
/// queries (WAL, so reads never wait for the writer). A store made by [`EventStore::open_lazy`]
/// creates its file and writer on first use.
#[derive(Debug, Clone)]
pub struct EventStore {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    path: PathBuf,
    counters: prometheus::IntCounterVec,
    /// The open store, or why it could not be opened (not retried).
    inner: OnceLock<Result<Inner, String>>,
}

#[derive(Debug)]
struct Inner {
    tx: SyncSender<EventRecord>,
    reader: Mutex<rusqlite::Connection>,
}

/// Rows kept; older events are deleted.
const MAX_ROWS: i64 = 100_000;

fn open(path: &Path) -> Result<rusqlite::Connection, StoreError> {
    let err = |source| StoreError::Sqlite {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    let c = rusqlite::Connection::open(path).map_err(err)?;
    c.busy_timeout(Duration::from_secs(5)).map_err(err)?;
    let known = crate::schema::EVENTS_SCHEMA_VERSION;
    let found = crate::schema::check(&c, known)
        .map_err(err)?
        .map_err(|found| StoreError::NewerSchema {
            path: path.display().to_string(),
            reason: crate::schema::newer("event store", found, known),
        })?;
    c.execute_batch(
        "PRAGMA journal_mode=WAL;
         PRAGMA synchronous=NORMAL;
         CREATE TABLE IF NOT EXISTS events(
             id TEXT PRIMARY KEY, camera TEXT NOT NULL, label TEXT NOT NULL,
             track_id INTEGER NOT NULL, start_time REAL NOT NULL, end_time REAL,
             top_score REAL NOT NULL, x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL,
             y2 REAL NOT NULL, frames INTEGER NOT NULL);
         CREATE INDEX IF NOT EXISTS events_start ON events(start_time);
         CREATE INDEX IF NOT EXISTS events_camera_start ON events(camera, start_time);",
    )
    .map_err(err)?;
    crate::schema::stamp(&c, found, known).map_err(err)?;
    Ok(c)
}

impl EventStore {
    /// Opens (or creates) the database and starts the writer thread `osprey-events`.
    pub fn open(
        path: &Path,
        counters: prometheus::IntCounterVec,
    ) -> Result<EventStore, StoreError> {
        let store = EventStore::open_lazy(path, counters);
        store.inner()?;
        Ok(store)
    }

    /// A store whose database is opened on first use (a put or a query); an open that fails
    /// then is logged once and every later call reports it.
    pub fn open_lazy(path: &Path, counters: prometheus::IntCounterVec) -> EventStore {
        EventStore {
            shared: Arc::new(Shared {
                path: path.to_path_buf(),
                counters,
                inner: OnceLock::new(),
            }),
        }
    }

    fn inner(&self) -> Result<&Inner, StoreError> {
        let sh = &self.shared;
        sh.inner
            .get_or_init(|| {
                start(&sh.path, sh.counters.clone()).map_err(|e| {
                    tracing::error!(path = %sh.path.display(), error = %e, "cannot open the event store");
                    e.to_string()
                })
            })
            .as_ref()
            .map_err(|reason| StoreError::Unavailable {
                path: sh.path.display().to_string(),
                reason: reason.clone(),
            })
    }
}

/// Opens the database and starts the writer thread.
fn start(path: &Path, counters: prometheus::IntCounterVec) -> Result<Inner, StoreError> {
    let writer = open(path)?;
    let reader = open(path)?;
    // Events still open when the server stopped will never see their end.
    let _ = writer.execute(
        "UPDATE events SET end_time = start_time WHERE end_time IS NULL",
        [],
    );
    let (tx, rx) = mpsc::sync_channel::<EventRecord>(4096);
    let p = path.display().to_string();
    let snapshots = snapshot_dir(path);
    std::thread::Builder::new()
        .name("osprey-events".into())
        .spawn(move || write_loop(&writer, &rx, &counters, &p, &snapshots))
        .map_err(|e| StoreError::Unavailable {
            path: path.display().to_string(),
            reason: format!("cannot start the writer thread: {e}"),
        })?;
    tracing::info!(path = %path.display(), "event store open");
    Ok(Inner {
        tx,
        reader: Mutex::new(reader),
    })
}

/// The writer thread: batches of up to 512 records, the table capped at `MAX_ROWS` (the
/// deleted events' snapshots go with them).
fn write_loop(
    writer: &rusqlite::Connection,
    rx: &mpsc::Receiver<EventRecord>,
    c: &prometheus::IntCounterVec,
    p: &str,
    snapshots: &Path,
) {
    let sent = c.with_label_values(&["events", "sent"]);
    let failed = c.with_label_values(&["events", "failed"]);
    sweep(writer, snapshots, p);
    let mut n = 0u64;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while let Ok(r) = rx.try_recv() {
            batch.push(r);
            if batch.len() >= 512 {
                break;
            }
        }
        match write(writer, &batch) {
            Ok(()) => sent.inc_by(batch.len() as u64),
            Err(e) => {
                tracing::error!(path = %p, error = %e, events = batch.len(), "cannot store events");
                failed.inc_by(batch.len() as u64);
            }
        }
        n += batch.len() as u64;
        if n >= 1000 {
            n = 0;
            if let Err(e) = prune(writer, snapshots, MAX_ROWS) {
                tracing::warn!(path = %p, error = %e, "cannot delete old events");
            }
            sweep(writer, snapshots, p);
        }
    }
}

/// Snapshots without their event row (older than 10 minutes, so a picture written just before
/// its row is committed is safe).
fn sweep(c: &rusqlite::Connection, snapshots: &Path, p: &str) {
    match crate::snapshots::sweep_orphans(snapshots, c, Duration::from_secs(600)) {
        Ok(0) => {}
        Ok(n) => tracing::info!(path = %p, files = n, "snapshots without an event deleted"),
        Err(e) => tracing::warn!(path = %p, error = %e, "cannot look for orphan snapshots"),
    }
}

/// Retention: deletes all but the newest `keep` rows, and the deleted events' snapshots.
/// Returns the rows deleted.
fn prune(c: &rusqlite::Connection, snapshots: &Path, keep: i64) -> rusqlite::Result<usize> {
    let gone = c
        .prepare_cached(
            "DELETE FROM events WHERE rowid <= (SELECT max(rowid) FROM events) - ?1
             RETURNING camera, id",
        )?
        .query_map([keep], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let files: usize = gone
        .iter()
        .map(|(camera, id)| crate::snapshots::remove_snapshots(snapshots, camera, id))
        .sum();
    if !gone.is_empty() {
        tracing::info!(events = gone.len(), snapshots = files, "old events deleted");
    }
    Ok(gone.len())
}

impl EventStore {
    /// The database file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Where the events' snapshots are: `snapshots/` beside the database file.
    pub fn snapshot_dir(&self) -> PathBuf {
        snapshot_dir(&self.shared.path)
    }

    /// The file of one event's snapshot; `None` when the camera or the event id could not be a
    /// file name in the snapshots directory (see [`crate::is_safe_name`]).
    pub fn snapshot_path(&self, camera: &str, id: &str, kind: SnapshotKind) -> Option<PathBuf> {
        snapshot_file(&self.snapshot_dir(), camera, id, kind)
    }

    /// Deletes every event of `camera` and their snapshots (blocking). Returns (rows, files).
    pub fn purge_camera(&self, camera: &str) -> Result<(usize, usize), StoreError> {
        let c = osprey_base::lock(&self.inner()?.reader);
        let rows = c
            .execute("DELETE FROM events WHERE camera = ?1", [camera])
            .map_err(|source| StoreError::Sqlite {
                path: self.shared.path.display().to_string(),
                source,
            })?;
        let files = crate::snapshots::remove_camera(&self.snapshot_dir(), camera);
        Ok((rows, files))
    }

    /// Whether the database has been opened.
    pub fn is_open(&self) -> bool {
        matches!(self.shared.inner.get(), Some(Ok(_)))
    }

    /// Queues an insert-or-update (dropped and counted when the writer is far behind or the
    /// store cannot be opened).
    pub fn put(&self, r: EventRecord) {
        let sent = self.inner().is_ok_and(|i| i.tx.try_send(r).is_ok());
        if !sent {
            self.shared
                .counters
                .with_label_values(&["events", "dropped"])
                .inc();
        }
    }

    /// One event by id (blocking).
    pub fn get(&self, id: &str) -> Result<Option<EventRecord>, StoreError> {
        let rows = self.query(&EventQuery {
            id: Some(id.to_string()),
            limit: 1,
            ..EventQuery::default()
        })?;
        Ok(rows.into_iter().next())
    }

    /// Runs a query (blocking; call from a blocking thread).
    pub fn query(&self, q: &EventQuery) -> Result<Vec<EventRecord>, StoreError> {
        let c = osprey_base::lock(&self.inner()?.reader);
        let err = |source| StoreError::Sqlite {
            path: self.shared.path.display().to_string(),
            source,
        };
        let mut stmt = c
            .prepare_cached(
                "SELECT id, camera, label, track_id, start_time, end_time, top_score, x1, y1, x2, y2, frames
                 FROM events
                 WHERE (?1 IS NULL OR camera = ?1) AND (?2 IS NULL OR label = ?2)
                   AND (?3 IS NULL OR start_time >= ?3) AND (?4 IS NULL OR start_time < ?4)
                   AND (?6 IS NULL OR id = ?6)
                 ORDER BY start_time DESC, id DESC LIMIT ?5",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(
                rusqlite::params![q.camera, q.label, q.after, q.before, q.limit as i64, q.id],
                |r| {
                    Ok(EventRecord {
                        id: r.get(0)?,
                        camera: r.get(1)?,
                        label: r.get(2)?,
                        track_id: r.get::<_, i64>(3)? as u64,
                        start_time: r.get(4)?,
                        end_time: r.get(5)?,
                        top_score: r.get::<_, f64>(6)? as f32,
                        bbox: [
                            r.get::<_, f64>(7)? as f32,
                            r.get::<_, f64>(8)? as f32,
                            r.get::<_, f64>(9)? as f32,
                            r.get::<_, f64>(10)? as f32,
                        ],
                        frames: r.get::<_, i64>(11)? as u64,
                    })
                },
            )
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }
}

fn write(c: &rusqlite::Connection, batch: &[EventRecord]) -> rusqlite::Result<()> {
    let tx = c.unchecked_transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO events(id, camera, label, track_id, start_time, end_time, top_score, x1, y1, x2, y2, frames)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT(id) DO UPDATE SET end_time = excluded.end_time, top_score = excluded.top_score,
               x1 = excluded.x1, y1 = excluded.y1, x2 = excluded.x2, y2 = excluded.y2, frames = excluded.frames",
        )?;
        for r in batch {
            stmt.execute(rusqlite::params![
                r.id,
                r.camera,
                r.label,
                r.track_id as i64,
                r.start_time,
                r.end_time,
                f64::from(r.top_score),
                f64::from(r.bbox[0]),
                f64::from(r.bbox[1]),
                f64::from(r.bbox[2]),
                f64::from(r.bbox[3]),
                r.frames as i64,
            ])?;
        }
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::Instant;

    #[test]
    fn store_round_trip_and_filters() {
        let dir = std::env::temp_dir().join(format!("osprey-events-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let counters =
            prometheus::IntCounterVec::new(prometheus::Opts::new("x", "x"), &["sink", "outcome"])
                .expect("vec");
        let store = EventStore::open(&dir.join("e.sqlite"), counters).expect("open");
        for i in 0..5u64 {
            store.put(EventRecord {
                id: format!("{i}"),
                camera: if i % 2 == 0 { "a" } else { "b" }.into(),
                label: "person".into(),
                track_id: i,
                start_time: 100.0 + i as f64,
                end_time: None,
                top_score: 0.5,
                bbox: [1.0, 2.0, 3.0, 4.0],
                frames: 1,
            });
        }
        // The update for id 0 replaces its row.
        store.put(EventRecord {
            id: "0".into(),
            camera: "a".into(),
            label: "person".into(),
            track_id: 0,
            start_time: 100.0,
            end_time: Some(110.0),
            top_score: 0.9,
            bbox: [1.0, 2.0, 3.0, 4.0],
            frames: 9,
        });
        let q = |q: EventQuery| {
            let t = Instant::now();
            loop {
                let r = store.query(&q).expect("query");
                if r.len() == 3 || t.elapsed() > Duration::from_secs(5) {
                    return r;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        let a = q(EventQuery {
            camera: Some("a".into()),
            limit: 10,
            ..EventQuery::default()
        });
        assert_eq!(
            a.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["4", "2", "0"]
        );
        // Give the update a moment too.
        std::thread::sleep(Duration::from_millis(200));
        let a = store
            .query(&EventQuery {
                camera: Some("a".into()),
                limit: 10,
                ..EventQuery::default()
            })
            .expect("q");
        assert_eq!(a[2].end_time, Some(110.0));
        assert_eq!(a[2].frames, 9);
        let win = store
            .query(&EventQuery {
                after: Some(101.0),
                before: Some(103.0),
                limit: 10,
                ..EventQuery::default()
            })
            .expect("q");
        assert_eq!(win.len(), 2);
        let one = store
            .query(&EventQuery {
                limit: 1,
                ..EventQuery::default()
            })
            .expect("q");
        assert_eq!(one[0].id, "4");
        assert_eq!(store.get("2").expect("get").map(|r| r.id), Some("2".into()));
        assert_eq!(store.get("nope").expect("get"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Retention deletes the oldest rows and their snapshot files, and nothing else.
    #[test]
    fn retention_deletes_the_events_snapshots() {
        let dir = std::env::temp_dir().join(format!("osprey-prune-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let db = dir.join("e.sqlite");
        let c = open(&db).expect("open");
        let snaps = snapshot_dir(&db);
        let rec = |i: u64| EventRecord {
            id: format!("{}.000000-00000{i}", 100 + i),
            camera: "cam".into(),
            label: "person".into(),
            track_id: i,
            start_time: 100.0 + i as f64,
            end_time: None,
            top_score: 0.5,
            bbox: [1.0, 2.0, 3.0, 4.0],
            frames: 1,
        };
        let rows: Vec<EventRecord> = (0..4).map(rec).collect();
        write(&c, &rows).expect("write");
        let files = |r: &EventRecord| {
            SnapshotKind::ALL.map(|k| snapshot_file(&snaps, &r.camera, &r.id, k).expect("path"))
        };
        for r in &rows {
            for f in files(r) {
                std::fs::create_dir_all(f.parent().expect("dir")).expect("mkdir");
                std::fs::write(&f, b"jpg").expect("snapshot");
            }
        }
        // A stray file in the directory is never touched.
        let stray = snaps.join("cam/other.jpg");
        std::fs::write(&stray, b"x").expect("stray");
        assert_eq!(prune(&c, &snaps, 2).expect("prune"), 2);
        for (i, r) in rows.iter().enumerate() {
            for f in files(r) {
                assert_eq!(f.exists(), i >= 2, "{}", f.display());
            }
        }
        assert!(stray.exists());
        assert_eq!(prune(&c, &snaps, 2).expect("prune"), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Snapshots whose row never made it (or was deleted) are swept once old enough; those of
    /// stored events stay; a purged camera loses its rows and pictures.
    #[test]
    fn orphan_snapshots_are_swept_and_purge_removes_a_camera() {
        let dir = std::env::temp_dir().join(format!("osprey-orphans-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let db = dir.join("e.sqlite");
        let c = open(&db).expect("open");
        let snaps = snapshot_dir(&db);
        let rec = |id: &str, camera: &str| EventRecord {
            id: id.into(),
            camera: camera.into(),
            label: "person".into(),
            track_id: 1,
            start_time: 100.0,
            end_time: None,
            top_score: 0.5,
            bbox: [1.0, 2.0, 3.0, 4.0],
            frames: 1,
        };
        write(&c, &[rec("100.0-a", "cam"), rec("100.0-c", "gate")]).expect("write");
        let put = |camera: &str, id: &str| {
            for k in SnapshotKind::ALL {
                let f = snapshot_file(&snaps, camera, id, k).expect("path");
                std::fs::create_dir_all(f.parent().expect("dir")).expect("mkdir");
                std::fs::write(&f, b"jpg").expect("snapshot");
            }
        };
        put("cam", "100.0-a");
        put("cam", "100.0-b"); // its row was dropped
        put("gate", "100.0-c");
        let young = crate::snapshots::sweep_orphans(&snaps, &c, Duration::from_secs(600));
        assert_eq!(young.expect("sweep"), 0, "too recent to be an orphan");
        let swept = crate::snapshots::sweep_orphans(&snaps, &c, Duration::ZERO).expect("sweep");
        assert_eq!(swept, 2);
        assert!(snapshot_file(&snaps, "cam", "100.0-a", SnapshotKind::Full)
            .expect("p")
            .exists());
        assert!(!snapshot_file(&snaps, "cam", "100.0-b", SnapshotKind::Crop)
            .expect("p")
            .exists());
        drop(c);
        let store = EventStore::open(
            &db,
            prometheus::IntCounterVec::new(prometheus::Opts::new("x", "x"), &["sink", "outcome"])
                .expect("c"),
        )
        .expect("store");
        assert_eq!(store.purge_camera("gate").expect("purge"), (1, 2));
        assert!(!snaps.join("gate").exists());
        assert!(snaps.join("cam").exists());
        assert!(store.get("100.0-a").expect("get").is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_previous_release_file_is_stamped_and_a_newer_one_refused_untouched() {
        let dir = std::env::temp_dir().join(format!("osprey-events-schema-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("events.sqlite");
        // The previous release: the same table, no version, one event in it.
        let _ = std::fs::create_dir_all(&dir);
        let old = rusqlite::Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE events(id TEXT PRIMARY KEY, camera TEXT NOT NULL, label TEXT NOT NULL,
             track_id INTEGER NOT NULL, start_time REAL NOT NULL, end_time REAL,
             top_score REAL NOT NULL, x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL,
             y2 REAL NOT NULL, frames INTEGER NOT NULL);
             INSERT INTO events VALUES ('e1', 'cam', 'person', 7, 1.0, 2.0, 0.9, 0, 0, 1, 1, 3);",
        )
        .unwrap();
        drop(old);
        let c = open(&path).unwrap();
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, crate::schema::EVENTS_SCHEMA_VERSION);
        let n: i64 = c
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1, "the previous release's event is kept");
        c.pragma_update(None, "user_version", 99).unwrap();
        drop(c);
        let e = open(&path).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::FailedPrecondition);
        assert!(e.to_string().contains("newer"), "{e}");
        let c = rusqlite::Connection::open(&path).unwrap();
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 99, "left untouched");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
