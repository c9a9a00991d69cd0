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
use rusqlite::{params, Connection, OptionalExtension};

use crate::db::{delete_rows, insert, migrate, overlapping, query, sync_dir};
pub use crate::db::{valid_camera_name, SegmentId, SegmentRow, DB_FILE};
use crate::pin::{PinGuard, Pins};
use crate::recovery::{self, RecoveryReport};
use crate::retention::{Quotas, RetentionSegment};
use crate::sweep::{self, CameraBytes, RetentionSource};
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
        migrate(&conn)?;
        let report = recovery::recover(&conn, &root)?;
        Ok((Self::with_connection(conn, root), report))
    }

    /// Opens (migrating) an existing index *without* the recovery pass: rows whose files are
    /// missing stay. For tools that measure or inspect an index (the index benchmark); a
    /// process that records must use [`RecordingIndex::open`].
    pub fn open_unrecovered(root: impl Into<PathBuf>) -> Result<RecordingIndex, RecordError> {
        let root = root.into();
        let conn = Connection::open(root.join(DB_FILE)).map_err(RecordError::db("open"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(RecordError::db("open"))?;
        migrate(&conn)?;
        Ok(Self::with_connection(conn, root))
    }

    fn with_connection(conn: Connection, root: PathBuf) -> RecordingIndex {
        RecordingIndex {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                root,
                pins: Pins::default(),
                deleted: Mutex::default(),
            }),
        }
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
        overlapping(&self.conn(), camera, start_ms, end_ms)
    }

    /// Bytes of `camera`'s segments that started in the hour of `since_ms` or later, and the
    /// start of that hour: the window the bytes were counted over (from the hourly totals, at
    /// most a year's 8 760 rows per camera, never the segments).
    pub fn bytes_since(&self, camera: &str, since_ms: i64) -> Result<(u64, i64), RecordError> {
        let hour = since_ms.div_euclid(crate::db::HOUR_MS);
        let bytes = self
            .conn()
            .query_row(
                "SELECT COALESCE(SUM(bytes), 0) FROM camera_hours WHERE camera = ?1 AND hour >= ?2",
                params![camera, hour],
                |r| r.get::<_, i64>(0),
            )
            .map_err(RecordError::db("query"))?;
        Ok((bytes.max(0) as u64, hour * crate::db::HOUR_MS))
    }

    /// Every segment of every camera, oldest first (a full scan: tests and tools only).
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
            .prepare("SELECT camera FROM camera_totals WHERE segments > 0 ORDER BY camera")
            .map_err(RecordError::db("query"))?;
        let rows = st
            .query_map([], |r| r.get(0))
            .map_err(RecordError::db("query"))?;
        rows.collect::<Result<_, _>>()
            .map_err(RecordError::db("query"))
    }

    /// `camera`'s totals: the counts kept per camera, the oldest and newest by the
    /// `(camera, start_wall_ms)` index (a camera's segments do not overlap, so the one that
    /// starts last ends last).
    pub fn usage(&self, camera: &str) -> Result<CameraUsage, RecordError> {
        let conn = self.conn();
        let (segments, bytes) = conn
            .query_row(
                "SELECT segments, bytes FROM camera_totals WHERE camera = ?1",
                [camera],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
            .optional()
            .map_err(RecordError::db("query"))?
            .unwrap_or_default();
        if segments == 0 {
            return Ok(CameraUsage::default());
        }
        let edge = |order: &str, column: &str| {
            conn.query_row(
                &format!(
                    "SELECT {column} FROM segment WHERE camera = ?1 \
                     ORDER BY start_wall_ms {order}, id {order} LIMIT 1"
                ),
                [camera],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map_err(RecordError::db("query"))
        };
        Ok(CameraUsage {
            segments,
            bytes,
            oldest_wall_ms: edge("ASC", "start_wall_ms")?,
            newest_wall_ms: edge("DESC", "end_wall_ms")?,
        })
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
        Ok(!self.delete_many(&[id])?.is_empty())
    }

    /// Deletes the segments of `ids` that exist and are not pinned (two commits in all, see
    /// [`crate::db::delete_rows`]); returns the deleted rows.
    fn delete_many(&self, ids: &[SegmentId]) -> Result<Vec<SegmentRow>, RecordError> {
        let conn = self.conn();
        let mut rows = Vec::with_capacity(ids.len());
        for &id in ids {
            if self.inner.pins.is_pinned(id) {
                continue;
            }
            rows.extend(query(&conn, "WHERE id = ?1", [id])?.pop());
        }
        delete_rows(&conn, &self.inner.root, &rows)?;
        Ok(rows)
    }

    /// Runs retention over every camera: plans with [`sweep::plan`] (the rules of
    /// [`crate::retention::plan_deletions`] read from the per-camera totals and oldest-first
    /// pages, pins as they are now) and deletes. `disk_free` is the file system's free space (`None`: unknown).
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
        let planned = sweep::plan(&IndexSource(self), quotas, now_ms, disk_free)?;
        let ids: Vec<SegmentId> = planned.iter().map(|s| s.id).collect();
        let mut out = RetentionOutcome::default();
        for row in self.delete_many(&ids)? {
            out.bytes += row.bytes;
            let mut d = lock(&self.inner.deleted);
            let e = d.entry(row.camera.clone()).or_default();
            *e = (e.0 + 1, e.1 + row.bytes);
            out.deleted.push(row);
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
            let rows = overlapping(&conn, camera, start_ms, end_ms)?;
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

/// The index as retention's source: totals from `camera_totals` and the protected-segment
/// index, pages from the `(camera, start_wall_ms)` index. The connection is locked per call,
/// never across the pass.
struct IndexSource<'a>(&'a RecordingIndex);

impl RetentionSource for IndexSource<'_> {
    type Error = RecordError;

    fn cameras(&self, now_ms: i64) -> Result<Vec<CameraBytes>, RecordError> {
        let conn = self.0.conn();
        let mut st = conn
            .prepare(
                "SELECT t.camera, t.bytes, (SELECT COALESCE(SUM(s.bytes), 0) FROM segment s \
                 WHERE s.camera = t.camera AND s.protected_until IS NOT NULL \
                 AND s.protected_until > ?1) FROM camera_totals t WHERE t.segments > 0 \
                 ORDER BY t.camera",
            )
            .map_err(RecordError::db("retention"))?;
        let rows = st
            .query_map([now_ms], |r| {
                Ok(CameraBytes {
                    camera: r.get(0)?,
                    bytes: r.get::<_, i64>(1)? as u64,
                    protected_bytes: r.get::<_, i64>(2)? as u64,
                })
            })
            .map_err(RecordError::db("retention"))?;
        rows.collect::<Result<_, _>>()
            .map_err(RecordError::db("retention"))
    }

    fn page(
        &self,
        camera: &str,
        after: Option<(i64, SegmentId)>,
        limit: usize,
    ) -> Result<Vec<RetentionSegment>, RecordError> {
        let (start, id) = after.unwrap_or((i64::MIN, i64::MIN));
        let conn = self.0.conn();
        let mut st = conn
            .prepare_cached(
                "SELECT id, start_wall_ms, end_wall_ms, bytes, protected_until FROM segment \
                 WHERE camera = ?1 AND (start_wall_ms > ?2 OR (start_wall_ms = ?2 AND id > ?3)) \
                 ORDER BY start_wall_ms, id LIMIT ?4",
            )
            .map_err(RecordError::db("retention"))?;
        let pins = self.0.pins();
        let rows = st
            .query_map(params![camera, start, id, limit as i64], |r| {
                let id: SegmentId = r.get(0)?;
                Ok(RetentionSegment {
                    id,
                    camera: camera.to_string(),
                    start_wall_ms: r.get(1)?,
                    end_wall_ms: r.get(2)?,
                    bytes: r.get::<_, i64>(3)? as u64,
                    protected_until: r.get(4)?,
                    pinned: pins.is_pinned(id),
                })
            })
            .map_err(RecordError::db("retention"))?;
        rows.collect::<Result<_, _>>()
            .map_err(RecordError::db("retention"))
    }
}
