//! [`RecordingIndex`]: the SQLite index (WAL) of every camera's segment files, with
//! moonfire-nvr's crash invariants.
//!
//! Layout: `<root>/index.sqlite3` and one directory per camera, `<root>/<camera>/<name>.mp4`.
//!
//! - **Create**: the [`crate::SegmentWriter`]'s [`crate::FsSink`] creates the file with
//!   `O_EXCL`, writes it, `fsync`s it and `fsync`s the directory; only then is the row
//!   inserted ([`RecordingIndex::insert`]). A crash leaves at worst a file without a row.
//! - **Delete** ([`RecordingIndex::delete`]): in one transaction the row is moved to the
//!   `garbage` table; the file is unlinked; the directory is `fsync`ed; the garbage row is
//!   dropped. A crash leaves at worst a garbage row, finished at the next open.
//! - **Recovery** at open (see [`crate::recovery`]) reconciles rows and files and reports
//!   what it did.
//!
//! The index is shared (clone it) by the recorders (inserts, retention) and the readers
//! (timelines, views); one connection behind a mutex serialises them, so pinning a view and
//! deleting a segment never race.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use osprey_base::lock;
use rusqlite::{params, Connection};

use crate::db::{delete_row, insert, query, sync_dir, SCHEMA};
pub use crate::db::{valid_camera_name, SegmentId, SegmentRow, DB_FILE};
use crate::pin::{PinGuard, Pins};
use crate::recovery::{self, RecoveryReport};
use crate::retention::{plan_deletions, Quotas, RetentionSegment};
use crate::timeline::{self, Run};
use crate::view::{plan_view, SegmentFile, ViewPlan};
use crate::{RecordError, SegmentInfo};

/// A camera's recordings in total.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CameraUsage {
    /// Segments.
    pub segments: u64,
    /// Bytes on disk.
    pub bytes: u64,
    /// Start of the oldest segment, Unix ms.
    pub oldest_wall_ms: Option<i64>,
    /// End of the newest segment, Unix ms.
    pub newest_wall_ms: Option<i64>,
}

/// What a retention pass deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    /// The deleted segments, oldest first.
    pub deleted: Vec<SegmentRow>,
    /// Their bytes.
    pub bytes: u64,
}

/// A playable view with its segments pinned until it is dropped.
#[derive(Debug)]
pub struct PinnedView {
    /// The view (serve it with [`ViewPlan::write_range`]).
    pub plan: ViewPlan,
    /// The pin on the segments it reads.
    pub pin: PinGuard,
}

#[derive(Debug)]
struct Inner {
    conn: Mutex<Connection>,
    root: PathBuf,
    pins: Pins,
    /// Segments and bytes retention deleted per camera since the index was opened.
    deleted: Mutex<std::collections::HashMap<String, (u64, u64)>>,
}

/// The shared index of recordings (cheap to clone).
#[derive(Debug, Clone)]
pub struct RecordingIndex {
    inner: Arc<Inner>,
}

impl RecordingIndex {
    /// Opens (creating) the index under `root` (created if missing), runs the recovery pass and
    /// reports what it did.
    pub fn open(root: impl Into<PathBuf>) -> Result<(RecordingIndex, RecoveryReport), RecordError> {
        let root = root.into();
        let name = root.display().to_string();
        std::fs::create_dir_all(&root).map_err(|e| RecordError::storage("create", &name, e))?;
        let conn = Connection::open(root.join(DB_FILE)).map_err(RecordError::db("open"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(RecordError::db("open"))?;
        conn.execute_batch(SCHEMA)
            .map_err(RecordError::db("schema"))?;
        let report = recovery::recover(&conn, &root)?;
        let index = RecordingIndex {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                root,
                pins: Pins::default(),
                deleted: Mutex::default(),
            }),
        };
        Ok((index, report))
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The pins readers hold.
    pub fn pins(&self) -> &Pins {
        &self.inner.pins
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        lock(&self.inner.conn)
    }

    /// The directory of `camera`'s files, created (and made durable) if missing.
    pub fn camera_dir(&self, camera: &str) -> Result<PathBuf, RecordError> {
        if !valid_camera_name(camera) {
            return Err(RecordError::Request(format!(
                "camera name {camera:?} cannot be a directory name"
            )));
        }
        let dir = self.inner.root.join(camera);
        if !dir.is_dir() {
            let name = dir.display().to_string();
            std::fs::create_dir_all(&dir).map_err(|e| RecordError::storage("create", &name, e))?;
            sync_dir(&self.inner.root).map_err(|e| RecordError::storage("sync", &name, e))?;
        }
        Ok(dir)
    }

    /// The path of a segment's file.
    pub fn path(&self, row: &SegmentRow) -> PathBuf {
        self.inner.root.join(&row.camera).join(&row.name)
    }

    /// Records a segment the writer finished (its file is already durable).
    pub fn insert(&self, camera: &str, info: &SegmentInfo) -> Result<SegmentId, RecordError> {
        insert(&self.conn(), camera, info, None)
    }

    /// `camera`'s segments overlapping wall-clock `[start_ms, end_ms)`, oldest first.
    pub fn segments(
        &self,
        camera: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<SegmentRow>, RecordError> {
        query(
            &self.conn(),
            "WHERE camera = ?1 AND start_wall_ms < ?3 AND end_wall_ms > ?2",
            params![camera, start_ms, end_ms],
        )
    }

    /// Every segment of every camera, oldest first.
    pub fn all_segments(&self) -> Result<Vec<SegmentRow>, RecordError> {
        query(&self.conn(), "", [])
    }

    /// One segment by id.
    pub fn segment(&self, id: SegmentId) -> Result<Option<SegmentRow>, RecordError> {
        Ok(query(&self.conn(), "WHERE id = ?1", [id])?.pop())
    }

    /// The cameras with recordings.
    pub fn cameras(&self) -> Result<Vec<String>, RecordError> {
        let conn = self.conn();
        let mut st = conn
            .prepare("SELECT DISTINCT camera FROM segment ORDER BY camera")
            .map_err(RecordError::db("query"))?;
        let rows = st
            .query_map([], |r| r.get(0))
            .map_err(RecordError::db("query"))?;
        rows.collect::<Result<_, _>>()
            .map_err(RecordError::db("query"))
    }

    /// `camera`'s totals.
    pub fn usage(&self, camera: &str) -> Result<CameraUsage, RecordError> {
        self.conn()
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(bytes), 0), MIN(start_wall_ms), MAX(end_wall_ms) \
                 FROM segment WHERE camera = ?1",
                [camera],
                |r| {
                    Ok(CameraUsage {
                        segments: r.get::<_, i64>(0)? as u64,
                        bytes: r.get::<_, i64>(1)? as u64,
                        oldest_wall_ms: r.get(2)?,
                        newest_wall_ms: r.get(3)?,
                    })
                },
            )
            .map_err(RecordError::db("query"))
    }

    /// Protects `camera`'s segments overlapping `[start_ms, end_ms)` from retention until
    /// `until` (Unix ms; `i64::MAX` for ever; `None` removes the protection). Returns how many
    /// segments changed. A later protection never shortens an earlier, longer one. The range
    /// is also kept as a *hold*: segments finished later that overlap it (the one being
    /// written, a post-roll) are protected when they are indexed.
    pub fn protect(
        &self,
        camera: &str,
        start_ms: i64,
        end_ms: i64,
        until: Option<i64>,
    ) -> Result<usize, RecordError> {
        let sql = match until {
            Some(_) => {
                "UPDATE segment SET protected_until = MAX(COALESCE(protected_until, ?4), ?4) \
                 WHERE camera = ?1 AND start_wall_ms < ?3 AND end_wall_ms > ?2"
            }
            None => {
                "UPDATE segment SET protected_until = ?4 \
                 WHERE camera = ?1 AND start_wall_ms < ?3 AND end_wall_ms > ?2"
            }
        };
        let conn = self.conn();
        match until {
            Some(u) => conn.execute(
                "INSERT INTO hold (camera, start_wall_ms, end_wall_ms, until_ms) VALUES (?1, ?2, ?3, ?4)",
                params![camera, start_ms, end_ms, u],
            ),
            None => conn.execute(
                "DELETE FROM hold WHERE camera = ?1 AND start_wall_ms < ?3 AND end_wall_ms > ?2",
                params![camera, start_ms, end_ms],
            ),
        }
        .map_err(RecordError::db("protect"))?;
        conn.execute(sql, params![camera, start_ms, end_ms, until])
            .map_err(RecordError::db("protect"))
    }

    /// Deletes a segment with the crash-safe protocol (garbage row, unlink, directory `fsync`,
    /// row dropped). Refused (returns `Ok(false)`) while the segment is pinned or unknown.
    pub fn delete(&self, id: SegmentId) -> Result<bool, RecordError> {
        let conn = self.conn();
        if self.inner.pins.is_pinned(id) {
            return Ok(false);
        }
        let Some(row) = query(&conn, "WHERE id = ?1", [id])?.pop() else {
            return Ok(false);
        };
        delete_row(&conn, &self.inner.root, &row)?;
        Ok(true)
    }

    /// Runs retention over every camera: plans with [`plan_deletions`] (pins as they are now)
    /// and deletes. `disk_free` is the file system's free space (`None`: unknown).
    pub fn apply_retention(
        &self,
        quotas: &Quotas,
        now_ms: i64,
        disk_free: Option<u64>,
    ) -> Result<RetentionOutcome, RecordError> {
        // Holds that expired protect nothing any more.
        self.conn()
            .execute("DELETE FROM hold WHERE until_ms < ?1", [now_ms])
            .map_err(RecordError::db("retention"))?;
        let rows = self.all_segments()?;
        let segs: Vec<RetentionSegment> = rows
            .iter()
            .map(|r| RetentionSegment {
                id: r.id,
                camera: r.camera.clone(),
                start_wall_ms: r.start_wall_ms,
                end_wall_ms: r.end_wall_ms,
                bytes: r.bytes,
                protected_until: r.protected_until,
                pinned: self.inner.pins.is_pinned(r.id),
            })
            .collect();
        let mut out = RetentionOutcome::default();
        for id in plan_deletions(&segs, quotas, now_ms, disk_free) {
            let Some(row) = rows.iter().find(|r| r.id == id) else {
                continue;
            };
            if self.delete(id)? {
                out.bytes += row.bytes;
                out.deleted.push(row.clone());
                let mut d = lock(&self.inner.deleted);
                let e = d.entry(row.camera.clone()).or_default();
                *e = (e.0 + 1, e.1 + row.bytes);
            }
        }
        Ok(out)
    }

    /// Segments and bytes of `camera` that retention deleted since the index was opened,
    /// whichever camera's recorder ran the pass.
    pub fn deleted(&self, camera: &str) -> (u64, u64) {
        lock(&self.inner.deleted)
            .get(camera)
            .copied()
            .unwrap_or_default()
    }

    /// `camera`'s runs of recorded time overlapping `[start_ms, end_ms)` (see
    /// [`crate::timeline`]).
    pub fn timeline(
        &self,
        camera: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<Run>, RecordError> {
        Ok(timeline::runs(&self.segments(camera, start_ms, end_ms)?))
    }

    /// Plans a `view.mp4` of `camera` for wall-clock `[start_ms, end_ms)` from the index and
    /// pins its segments until the returned view is dropped (serve it, then drop it).
    pub fn view(
        &self,
        camera: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<PinnedView, RecordError> {
        let (rows, pin) = {
            let conn = self.conn();
            let rows = query(
                &conn,
                "WHERE camera = ?1 AND start_wall_ms < ?3 AND end_wall_ms > ?2",
                params![camera, start_ms, end_ms],
            )?;
            let pin = self.inner.pins.pin(rows.iter().map(|r| r.id));
            (rows, pin)
        };
        let files: Vec<SegmentFile> = rows
            .iter()
            .map(|r| SegmentFile {
                path: self.path(r),
                info: r.info(),
            })
            .collect();
        let plan = plan_view(&files, start_ms, end_ms)?;
        Ok(PinnedView { plan, pin })
    }
}
