//! The schema and the writer thread `osprey-analytics-db`.
//!
//! The writer keeps one transaction open while records arrive and commits it at most
//! `commit_interval` after the first of them, so a crash loses at most that much. Each queued
//! batch is written under a savepoint: it is stored whole or not at all, and a totals snapshot
//! lands in the same transaction as the events of its batch.

use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection};

use super::{AnalyticsConfig, AnalyticsError, AnalyticsRecord, Direction};

/// What the store sends its writer.
#[derive(Debug)]
pub(crate) enum Msg {
    /// Records stored in one piece.
    Records(Vec<AnalyticsRecord>),
    /// Commit what is open, then answer (the error text if the commit failed).
    Flush(SyncSender<Result<(), String>>),
}

const SCHEMA: &str = "
    PRAGMA journal_mode=WAL;
    PRAGMA synchronous=NORMAL;
    CREATE TABLE IF NOT EXISTS crossings(
        id INTEGER PRIMARY KEY, camera TEXT NOT NULL, rule_id TEXT NOT NULL,
        ts_ms INTEGER NOT NULL, object_id INTEGER NOT NULL, track_id INTEGER NOT NULL,
        label TEXT NOT NULL, dir INTEGER NOT NULL);
    CREATE INDEX IF NOT EXISTS crossings_camera_ts ON crossings(camera, ts_ms);
    CREATE INDEX IF NOT EXISTS crossings_ts ON crossings(ts_ms);
    CREATE TABLE IF NOT EXISTS roi_transitions(
        id INTEGER PRIMARY KEY, camera TEXT NOT NULL, rule_id TEXT NOT NULL,
        ts_ms INTEGER NOT NULL, object_id INTEGER NOT NULL, track_id INTEGER NOT NULL,
        label TEXT NOT NULL, kind INTEGER NOT NULL, dwell_s REAL);
    CREATE INDEX IF NOT EXISTS roi_camera_ts ON roi_transitions(camera, ts_ms);
    CREATE INDEX IF NOT EXISTS roi_ts ON roi_transitions(ts_ms);
    CREATE TABLE IF NOT EXISTS occupancy_frames(
        camera TEXT NOT NULL, rule_id TEXT NOT NULL, sec INTEGER NOT NULL,
        frames INTEGER NOT NULL, total_sum INTEGER NOT NULL, total_max INTEGER NOT NULL,
        PRIMARY KEY(camera, rule_id, sec)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS occupancy_counts(
        camera TEXT NOT NULL, rule_id TEXT NOT NULL, sec INTEGER NOT NULL, label TEXT NOT NULL,
        count_sum INTEGER NOT NULL, count_max INTEGER NOT NULL,
        PRIMARY KEY(camera, rule_id, sec, label)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS totals(
        camera TEXT PRIMARY KEY, ts_ms INTEGER NOT NULL, json TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS alerts(
        id TEXT PRIMARY KEY, camera TEXT NOT NULL, kind TEXT NOT NULL, rule_id TEXT NOT NULL,
        start_ms INTEGER NOT NULL, end_ms INTEGER, json TEXT NOT NULL);
    CREATE INDEX IF NOT EXISTS alerts_camera_start ON alerts(camera, start_ms);";

/// Opens (or creates) the database: WAL, `synchronous=NORMAL`, the analytics tables.
pub(crate) fn open_db(path: &Path) -> Result<Connection, AnalyticsError> {
    let err = |source| AnalyticsError::Sqlite {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    let c = Connection::open(path).map_err(err)?;
    c.busy_timeout(Duration::from_secs(5)).map_err(err)?;
    let known = crate::schema::ANALYTICS_SCHEMA_VERSION;
    let found = crate::schema::check(&c, known)
        .map_err(err)?
        .map_err(|found| AnalyticsError::NewerSchema {
            path: path.display().to_string(),
            reason: crate::schema::newer("analytics store", found, known),
        })?;
    c.execute_batch(SCHEMA).map_err(err)?;
    crate::schema::stamp(&c, found, known).map_err(err)?;
    Ok(c)
}

/// The writer thread's state.
pub(crate) struct Writer {
    pub(crate) conn: Connection,
    pub(crate) path: String,
    pub(crate) cfg: AnalyticsConfig,
    pub(crate) sent: prometheus::IntCounter,
    pub(crate) failed: prometheus::IntCounter,
    /// Records written in the open transaction.
    pending: u64,
    /// When the open transaction must commit (`None`: no transaction open).
    deadline: Option<Instant>,
    /// When retention runs next (`None`: rows are kept forever).
    next_retention: Option<Instant>,
}

impl Writer {
    pub(crate) fn new(
        conn: Connection,
        path: String,
        cfg: AnalyticsConfig,
        counters: &prometheus::IntCounterVec,
    ) -> Writer {
        Writer {
            conn,
            path,
            next_retention: (cfg.retention_days > 0).then(Instant::now),
            cfg,
            sent: counters.with_label_values(&["analytics", "sent"]),
            failed: counters.with_label_values(&["analytics", "failed"]),
            pending: 0,
            deadline: None,
        }
    }

    /// Runs until every sender is gone, then commits what is open.
    pub(crate) fn run(mut self, rx: &Receiver<Msg>) {
        loop {
            let now = Instant::now();
            if self.deadline.is_some_and(|d| now >= d) {
                let _ = self.commit();
            }
            if self.deadline.is_none() && self.next_retention.is_some_and(|t| now >= t) {
                self.retention();
            }
            let wake = match (self.deadline, self.next_retention) {
                (Some(d), _) => Some(d),
                (None, r) => r,
            };
            let msg = match wake {
                Some(t) => rx.recv_timeout(t.saturating_duration_since(Instant::now())),
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match msg {
                Ok(Msg::Records(r)) => self.write(&r),
                Ok(Msg::Flush(ack)) => {
                    let _ = ack.send(self.commit());
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    let _ = self.commit();
                    return;
                }
            }
        }
    }

    /// Writes one batch under a savepoint inside the open transaction (opening it if needed).
    fn write(&mut self, records: &[AnalyticsRecord]) {
        let n = records.len() as u64;
        if self.deadline.is_none() {
            if let Err(e) = self.conn.execute_batch("BEGIN IMMEDIATE") {
                tracing::error!(path = %self.path, error = %e, records = n, "cannot store analytics");
                self.failed.inc_by(n);
                return;
            }
            self.deadline = Some(Instant::now() + self.cfg.commit_interval);
        }
        let r = self
            .conn
            .execute_batch("SAVEPOINT batch")
            .and_then(|()| records.iter().try_for_each(|r| insert(&self.conn, r)))
            .and_then(|()| self.conn.execute_batch("RELEASE batch"));
        match r {
            Ok(()) => self.pending += n,
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK TO batch; RELEASE batch");
                tracing::error!(path = %self.path, error = %e, records = n, "cannot store analytics");
                self.failed.inc_by(n);
            }
        }
    }

    /// Commits the open transaction, if any.
    fn commit(&mut self) -> Result<(), String> {
        if self.deadline.take().is_none() {
            return Ok(());
        }
        let n = std::mem::take(&mut self.pending);
        match self.conn.execute_batch("COMMIT") {
            Ok(()) => {
                self.sent.inc_by(n);
                Ok(())
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                tracing::error!(path = %self.path, error = %e, records = n, "cannot commit analytics");
                self.failed.inc_by(n);
                Err(e.to_string())
            }
        }
    }

    /// Deletes rows older than `retention_days` (the totals snapshots stay).
    fn retention(&mut self) {
        self.next_retention = Some(Instant::now() + self.cfg.retention_check);
        let now_ms = (osprey_base::unix_now() * 1000.0) as i64;
        let cutoff = now_ms - i64::from(self.cfg.retention_days) * 86_400_000;
        let r = self.conn.execute_batch("BEGIN IMMEDIATE").and_then(|()| {
            let mut n = 0;
            for sql in [
                "DELETE FROM crossings WHERE ts_ms < ?1",
                "DELETE FROM roi_transitions WHERE ts_ms < ?1",
                "DELETE FROM occupancy_frames WHERE sec < ?1 / 1000",
                "DELETE FROM occupancy_counts WHERE sec < ?1 / 1000",
                "DELETE FROM alerts WHERE coalesce(end_ms, start_ms) < ?1",
            ] {
                n += self.conn.execute(sql, [cutoff])?;
            }
            self.conn.execute_batch("COMMIT")?;
            Ok(n)
        });
        match r {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(path = %self.path, rows = n, cutoff_ms = cutoff, "analytics retention")
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                tracing::warn!(path = %self.path, error = %e, "analytics retention failed");
            }
        }
    }
}

fn insert(c: &Connection, r: &AnalyticsRecord) -> rusqlite::Result<()> {
    match r {
        AnalyticsRecord::Crossing(x) => {
            c.prepare_cached(
                "INSERT INTO crossings(camera, rule_id, ts_ms, object_id, track_id, label, dir)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                x.camera,
                x.rule_id,
                x.ts_ms,
                x.object_id as i64,
                x.track_id as i64,
                x.label,
                i64::from(x.direction == Direction::In),
            ])?;
        }
        AnalyticsRecord::Roi(x) => {
            c.prepare_cached(
                "INSERT INTO roi_transitions(camera, rule_id, ts_ms, object_id, track_id, label, kind, dwell_s)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                x.camera,
                x.rule_id,
                x.ts_ms,
                x.object_id as i64,
                x.track_id as i64,
                x.label,
                x.kind.code(),
                x.dwell_s,
            ])?;
        }
        AnalyticsRecord::Occupancy(o) => {
            let sec = o.ts_ms.div_euclid(1000);
            c.prepare_cached(
                "INSERT INTO occupancy_frames(camera, rule_id, sec, frames, total_sum, total_max)
                 VALUES (?1, ?2, ?3, 1, ?4, ?4)
                 ON CONFLICT(camera, rule_id, sec) DO UPDATE SET frames = frames + 1,
                   total_sum = total_sum + excluded.total_sum,
                   total_max = max(total_max, excluded.total_max)",
            )?
            .execute(params![o.camera, o.rule_id, sec, o.total])?;
            let mut stmt = c.prepare_cached(
                "INSERT INTO occupancy_counts(camera, rule_id, sec, label, count_sum, count_max)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                 ON CONFLICT(camera, rule_id, sec, label) DO UPDATE SET
                   count_sum = count_sum + excluded.count_sum,
                   count_max = max(count_max, excluded.count_max)",
            )?;
            for (label, n) in o.by_label.iter().filter(|(_, n)| **n > 0) {
                stmt.execute(params![o.camera, o.rule_id, sec, label, n])?;
            }
        }
        AnalyticsRecord::Totals(t) => {
            c.prepare_cached(
                "INSERT INTO totals(camera, ts_ms, json) VALUES (?1, ?2, ?3)
                 ON CONFLICT(camera) DO UPDATE SET ts_ms = excluded.ts_ms, json = excluded.json",
            )?
            .execute(params![t.camera, t.ts_ms, t.json])?;
        }
        AnalyticsRecord::Alert(a) => {
            c.prepare_cached(
                "INSERT INTO alerts(id, camera, kind, rule_id, start_ms, end_ms, json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(id) DO UPDATE SET end_ms = excluded.end_ms, json = excluded.json",
            )?
            .execute(params![
                a.id, a.camera, a.kind, a.rule_id, a.start_ms, a.end_ms, a.json
            ])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod schema_tests {
    use super::*;
    use osprey_base::{ErrorKind, Kinded};

    #[test]
    fn a_previous_release_file_is_stamped_and_a_newer_one_refused_untouched() {
        let dir =
            std::env::temp_dir().join(format!("osprey-analytics-schema-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("analytics.sqlite");
        // The previous release: the same tables, no version.
        let _ = std::fs::create_dir_all(&dir);
        let old = Connection::open(&path).unwrap();
        old.execute_batch(SCHEMA).unwrap();
        old.pragma_update(None, "user_version", 0).unwrap();
        drop(old);
        let c = open_db(&path).unwrap();
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, crate::schema::ANALYTICS_SCHEMA_VERSION);
        c.pragma_update(None, "user_version", 99).unwrap();
        drop(c);
        let e = open_db(&path).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::FailedPrecondition);
        assert!(e.to_string().contains("newer"), "{e}");
        let c = Connection::open(&path).unwrap();
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 99, "left untouched");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
