//! The index's tables and row-level operations (the create and delete protocols' database
//! steps), shared by the index and the recovery pass.

use std::fs::File;
use std::path::Path;

use rusqlite::{params, Connection, Row};

use crate::{RecordError, SegmentInfo};

/// A segment's id in the index.
pub type SegmentId = i64;

/// The index's file name inside the root directory.
pub const DB_FILE: &str = "index.sqlite3";

/// Version 1 of the schema (the tables every version has).
pub const SCHEMA_V1: &str = "
PRAGMA journal_mode=WAL;
PRAGMA synchronous=FULL;
CREATE TABLE IF NOT EXISTS segment (
    id INTEGER PRIMARY KEY,
    camera TEXT NOT NULL,
    name TEXT NOT NULL,
    start_90k INTEGER NOT NULL,
    end_90k INTEGER NOT NULL,
    start_wall_ms INTEGER NOT NULL,
    end_wall_ms INTEGER NOT NULL,
    frames INTEGER NOT NULL,
    keyframes INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    codec TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    protected_until INTEGER,
    UNIQUE (camera, name)
);
CREATE INDEX IF NOT EXISTS segment_camera_start ON segment (camera, start_wall_ms);
CREATE TABLE IF NOT EXISTS garbage (
    camera TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (camera, name)
);
CREATE TABLE IF NOT EXISTS hold (
    camera TEXT NOT NULL,
    start_wall_ms INTEGER NOT NULL,
    end_wall_ms INTEGER NOT NULL,
    until_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS hold_camera ON hold (camera, end_wall_ms);
";

/// The schema version this build writes (`PRAGMA user_version`): 1 had the tables above; 2 adds
/// per-camera totals and per-camera hourly bytes kept by triggers and an index of protected
/// segments, so that retention, `/api/storage` and `/metrics` never scan every segment.
pub const SCHEMA_VERSION: i64 = 2;

/// Version 2's additions (idempotent). `max_span_ms` is the longest segment a camera ever had:
/// a range query starts its index scan that far before the range.
const SCHEMA_V2: &str = "
CREATE TABLE IF NOT EXISTS camera_totals (
    camera TEXT PRIMARY KEY,
    segments INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    max_span_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS segment_added AFTER INSERT ON segment BEGIN
    INSERT OR IGNORE INTO camera_totals (camera, segments, bytes, max_span_ms)
        VALUES (new.camera, 0, 0, 0);
    UPDATE camera_totals SET segments = segments + 1, bytes = bytes + new.bytes,
        max_span_ms = MAX(max_span_ms, new.end_wall_ms - new.start_wall_ms)
        WHERE camera = new.camera;
END;
CREATE TRIGGER IF NOT EXISTS segment_removed AFTER DELETE ON segment BEGIN
    UPDATE camera_totals SET segments = segments - 1, bytes = bytes - old.bytes
        WHERE camera = old.camera;
END;
CREATE INDEX IF NOT EXISTS segment_protected ON segment (camera, protected_until)
    WHERE protected_until IS NOT NULL;
CREATE TABLE IF NOT EXISTS camera_hours (
    camera TEXT NOT NULL,
    hour INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    PRIMARY KEY (camera, hour)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS segment_added_hour AFTER INSERT ON segment BEGIN
    INSERT OR IGNORE INTO camera_hours (camera, hour, bytes)
        VALUES (new.camera, new.start_wall_ms / 3600000, 0);
    UPDATE camera_hours SET bytes = bytes + new.bytes
        WHERE camera = new.camera AND hour = new.start_wall_ms / 3600000;
END;
CREATE TRIGGER IF NOT EXISTS segment_removed_hour AFTER DELETE ON segment BEGIN
    UPDATE camera_hours SET bytes = bytes - old.bytes
        WHERE camera = old.camera AND hour = old.start_wall_ms / 3600000;
END;
";

/// Milliseconds in one `camera_hours` bucket.
pub(crate) const HOUR_MS: i64 = 3_600_000;

/// Creates the tables, or migrates an older index forward (recomputing the totals from the
/// segments once), inside one transaction. A newer schema than this build knows is refused.
pub(crate) fn migrate(conn: &Connection) -> Result<i64, RecordError> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(RecordError::db("schema"))?;
    if version > SCHEMA_VERSION {
        return Err(RecordError::NewerSchema {
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    conn.execute_batch(SCHEMA_V1)
        .map_err(RecordError::db("schema"))?;
    if version == SCHEMA_VERSION {
        return Ok(version);
    }
    in_transaction(conn, "migrate", || {
        conn.execute_batch(SCHEMA_V2)?;
        conn.execute("DELETE FROM camera_totals", [])?;
        conn.execute(
            "INSERT INTO camera_totals (camera, segments, bytes, max_span_ms) \
             SELECT camera, COUNT(*), SUM(bytes), MAX(end_wall_ms - start_wall_ms) \
             FROM segment GROUP BY camera",
            [],
        )?;
        conn.execute("DELETE FROM camera_hours", [])?;
        conn.execute(
            "INSERT INTO camera_hours (camera, hour, bytes) \
             SELECT camera, start_wall_ms / 3600000, SUM(bytes) FROM segment \
             GROUP BY camera, start_wall_ms / 3600000",
            [],
        )?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)
    })?;
    if version > 0 {
        tracing::info!(
            from = version,
            to = SCHEMA_VERSION,
            "recordings index migrated"
        );
    }
    Ok(version)
}

const COLUMNS: &str = "id, camera, name, start_90k, end_90k, start_wall_ms, end_wall_ms, \
                       frames, keyframes, bytes, codec, width, height, protected_until";

/// One indexed segment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SegmentRow {
    /// Its id.
    pub id: SegmentId,
    /// The camera (also its directory's name).
    pub camera: String,
    /// The file name inside the camera's directory.
    pub name: String,
    /// First pts, 90 kHz stream clock.
    pub start_90k: i64,
    /// End pts, 90 kHz stream clock.
    pub end_90k: i64,
    /// Wall-clock start, Unix ms.
    pub start_wall_ms: i64,
    /// Wall-clock end, Unix ms.
    pub end_wall_ms: i64,
    /// Frames.
    pub frames: u32,
    /// Keyframes.
    pub keyframes: u32,
    /// File size.
    pub bytes: u64,
    /// RFC 6381 codec string (`avc1.4D401E`, `hvc1.1.6.L93.B0`).
    pub codec: String,
    /// Width in pixels.
    pub width: u16,
    /// Height in pixels.
    pub height: u16,
    /// Protected from retention until this time (Unix ms; `i64::MAX` for ever).
    pub protected_until: Option<i64>,
}

impl SegmentRow {
    fn from_sql(r: &Row<'_>) -> rusqlite::Result<SegmentRow> {
        Ok(SegmentRow {
            id: r.get(0)?,
            camera: r.get(1)?,
            name: r.get(2)?,
            start_90k: r.get(3)?,
            end_90k: r.get(4)?,
            start_wall_ms: r.get(5)?,
            end_wall_ms: r.get(6)?,
            frames: r.get(7)?,
            keyframes: r.get(8)?,
            bytes: r.get::<_, i64>(9)? as u64,
            codec: r.get(10)?,
            width: r.get(11)?,
            height: r.get(12)?,
            protected_until: r.get(13)?,
        })
    }

    /// The writer's description of the segment.
    pub fn info(&self) -> SegmentInfo {
        SegmentInfo {
            name: self.name.clone(),
            start_90k: self.start_90k,
            end_90k: self.end_90k,
            start_wall_ms: self.start_wall_ms,
            end_wall_ms: self.end_wall_ms,
            frames: self.frames,
            keyframes: self.keyframes,
            bytes: self.bytes,
            codec_string: self.codec.clone(),
            width: self.width,
            height: self.height,
        }
    }
}

/// Whether `camera` can be a directory name: 1–64 of `[A-Za-z0-9._-]`, not starting with `.`.
pub fn valid_camera_name(camera: &str) -> bool {
    (1..=64).contains(&camera.len())
        && !camera.starts_with('.')
        && camera
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// `fsync`s a directory (making created and removed entries durable).
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

pub(crate) fn insert(
    conn: &Connection,
    camera: &str,
    s: &SegmentInfo,
    protected_until: Option<i64>,
) -> Result<SegmentId, RecordError> {
    // A protection asked for before the segment was finished (a hold) applies to it.
    let held: Option<i64> = conn
        .query_row(
            "SELECT MAX(until_ms) FROM hold WHERE camera = ?1 AND start_wall_ms < ?3 AND end_wall_ms > ?2",
            params![camera, s.start_wall_ms, s.end_wall_ms],
            |r| r.get(0),
        )
        .map_err(RecordError::db("insert"))?;
    let protected_until = match (protected_until, held) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    conn.execute(
        "INSERT INTO segment (camera, name, start_90k, end_90k, start_wall_ms, end_wall_ms, \
         frames, keyframes, bytes, codec, width, height, protected_until) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            camera,
            s.name,
            s.start_90k,
            s.end_90k,
            s.start_wall_ms,
            s.end_wall_ms,
            s.frames,
            s.keyframes,
            s.bytes as i64,
            s.codec_string,
            s.width,
            s.height,
            protected_until,
        ],
    )
    .map_err(RecordError::db("insert"))?;
    Ok(conn.last_insert_rowid())
}

pub(crate) fn query(
    conn: &Connection,
    filter: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<SegmentRow>, RecordError> {
    let sql = format!("SELECT {COLUMNS} FROM segment {filter} ORDER BY start_wall_ms, id");
    let mut st = conn.prepare(&sql).map_err(RecordError::db("query"))?;
    let rows = st
        .query_map(params, SegmentRow::from_sql)
        .map_err(RecordError::db("query"))?;
    rows.collect::<Result<_, _>>()
        .map_err(RecordError::db("query"))
}

/// `camera`'s segments overlapping `[start_ms, end_ms)`, oldest first, read through the
/// `(camera, start_wall_ms)` index from `max_span_ms` before the range: never a scan of the
/// camera's older segments.
pub(crate) fn overlapping(
    conn: &Connection,
    camera: &str,
    start_ms: i64,
    end_ms: i64,
) -> Result<Vec<SegmentRow>, RecordError> {
    let from = start_ms.saturating_sub(max_span(conn, camera)?);
    query(
        conn,
        "WHERE camera = ?1 AND start_wall_ms >= ?4 AND start_wall_ms < ?3 AND end_wall_ms > ?2",
        params![camera, start_ms, end_ms, from],
    )
}

/// The longest segment `camera` ever had (0 with none).
pub(crate) fn max_span(conn: &Connection, camera: &str) -> Result<i64, RecordError> {
    conn.query_row(
        "SELECT COALESCE(MAX(max_span_ms), 0) FROM camera_totals WHERE camera = ?1",
        [camera],
        |r| r.get(0),
    )
    .map_err(RecordError::db("query"))
}

/// The delete protocol (see the module documentation), for several rows at once: one transaction moves them all to `garbage`,
/// the files are unlinked, each directory touched is `fsync`ed once, and one transaction drops
/// the garbage rows — two commits however many segments a retention pass deletes. A crash at
/// any point leaves garbage rows that the next open finishes.
pub(crate) fn delete_rows(
    conn: &Connection,
    root: &Path,
    rows: &[SegmentRow],
) -> Result<(), RecordError> {
    if rows.is_empty() {
        return Ok(());
    }
    in_transaction(conn, "delete", || {
        for row in rows {
            conn.execute(
                "INSERT OR IGNORE INTO garbage (camera, name) VALUES (?1, ?2)",
                params![row.camera, row.name],
            )?;
            conn.execute("DELETE FROM segment WHERE id = ?1", [row.id])?;
        }
        Ok(())
    })?;
    let mut dirs = std::collections::BTreeSet::new();
    for row in rows {
        let path = root.join(&row.camera).join(&row.name);
        match std::fs::remove_file(&path) {
            Ok(()) => {
                dirs.insert(row.camera.as_str());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(RecordError::storage(
                    "unlink",
                    &path.display().to_string(),
                    e,
                ))
            }
        }
    }
    for camera in dirs {
        let dir = root.join(camera);
        sync_dir(&dir).map_err(|e| RecordError::storage("sync", &dir.display().to_string(), e))?;
    }
    in_transaction(conn, "delete", || {
        for row in rows {
            conn.execute(
                "DELETE FROM garbage WHERE camera = ?1 AND name = ?2",
                params![row.camera, row.name],
            )?;
        }
        Ok(())
    })
}

/// Runs `f` between `BEGIN IMMEDIATE` and `COMMIT`, rolling back when it fails.
fn in_transaction(
    conn: &Connection,
    op: &'static str,
    f: impl FnOnce() -> rusqlite::Result<()>,
) -> Result<(), RecordError> {
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(RecordError::db(op))?;
    match f() {
        Ok(()) => conn.execute_batch("COMMIT"),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
    .map_err(RecordError::db(op))
}

/// Unlinks a garbage file (already gone is fine), `fsync`s its directory, drops its row.
pub(crate) fn finish_garbage(
    conn: &Connection,
    root: &Path,
    camera: &str,
    name: &str,
) -> Result<(), RecordError> {
    let dir = root.join(camera);
    let path = dir.join(name);
    let shown = path.display().to_string();
    match std::fs::remove_file(&path) {
        Ok(()) => sync_dir(&dir).map_err(|e| RecordError::storage("sync", &shown, e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(RecordError::storage("unlink", &shown, e)),
    }
    conn.execute(
        "DELETE FROM garbage WHERE camera = ?1 AND name = ?2",
        params![camera, name],
    )
    .map_err(RecordError::db("delete"))?;
    Ok(())
}
