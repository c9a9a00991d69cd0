//! InfluxDB metrics as the Python detection server emitted them.
//!
//! * [`line`]: InfluxDB line protocol with its escaping rules.
//! * [`Cache`]: the durable local cache — an SQLite database in WAL mode holding one
//!   line-protocol string per row. Points are written there first, by a dedicated thread fed
//!   through a bounded channel (a full channel drops the point and counts it, so requests never
//!   wait on disk), and committed in batches. An uploader drains it to InfluxDB and deletes rows
//!   only after a successful write, so nothing is lost while InfluxDB is down.
#![forbid(clippy::print_stdout, clippy::print_stderr)]

pub mod line;
pub mod upload;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Cache failures.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// SQLite refused an operation.
    #[error("line-protocol cache {path}: {source}")]
    Sqlite {
        /// Database file.
        path: String,
        /// Cause.
        source: rusqlite::Error,
    },
    /// The folder could not be created.
    #[error("cannot create {path}: {source}")]
    Io {
        /// Folder.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// The table every tool of the cache shares.
pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS line_protocols (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    line_protocol TEXT NOT NULL
)";

/// Opens (creating if needed) the cache database in WAL mode.
pub fn open(path: &Path) -> Result<rusqlite::Connection, CacheError> {
    let err = |source| CacheError::Sqlite {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| CacheError::Io {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let conn = rusqlite::Connection::open(path).map_err(err)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(err)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(err)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(err)?;
    conn.execute(SCHEMA, []).map_err(err)?;
    Ok(conn)
}

/// Counters of the cache writer.
#[derive(Debug, Default)]
pub struct CacheStats {
    /// Points committed.
    pub written: AtomicU64,
    /// Points dropped because the channel was full or the database failed.
    pub dropped: AtomicU64,
    /// Seconds since `Cache::start` of the last drop warning (once a minute at most).
    last_drop_log_s: AtomicU64,
}

/// The writer side of the cache: `push` never blocks.
#[derive(Debug)]
pub struct Cache {
    tx: Mutex<Option<SyncSender<String>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    stats: Arc<CacheStats>,
    path: PathBuf,
    started: Instant,
}

impl Cache {
    /// Opens the database and starts the writer thread `osprey-influx-cache`. A point waits at
    /// most `commit_every` before it is committed (the Python cache: about 2 s; zero: as soon as
    /// the queue is empty, one commit per burst), and 1000 points are committed at once. A commit in WAL mode with `synchronous=NORMAL` is a write to the log without an
    /// fsync, so it survives the process being killed; `commit_every` bounds what a `kill -9`
    /// can lose.
    pub fn start(
        path: &Path,
        capacity: usize,
        commit_every: Duration,
    ) -> Result<Cache, CacheError> {
        let conn = open(path)?;
        let (tx, rx) = mpsc::sync_channel::<String>(capacity.max(1));
        let stats = Arc::new(CacheStats::default());
        let st = Arc::clone(&stats);
        let shown = path.display().to_string();
        let thread = std::thread::Builder::new()
            .name("osprey-influx-cache".into())
            .spawn(move || writer(conn, rx, commit_every, &st, &shown))
            .map_err(|source| CacheError::Io {
                path: path.display().to_string(),
                source,
            })?;
        Ok(Cache {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            stats,
            path: path.to_path_buf(),
            started: Instant::now(),
        })
    }

    /// Queues one line; drops it (and counts the drop) when the writer is behind.
    pub fn push(&self, line: String) {
        let Ok(guard) = self.tx.lock() else { return };
        let Some(tx) = guard.as_ref() else { return };
        match tx.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                let total = self.stats.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                // Warn at most once a minute; the counter has the exact figure.
                let now = self.started.elapsed().as_secs() + 60;
                let last = self.stats.last_drop_log_s.load(Ordering::Relaxed);
                if now >= last + 60
                    && self
                        .stats
                        .last_drop_log_s
                        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    tracing::warn!(
                        dropped_total = total,
                        path = %self.path.display(),
                        "line-protocol cache writer is behind: InfluxDB points dropped (counted in osprey_influx_points_total)"
                    );
                }
            }
        }
    }

    /// Counters.
    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Commits everything queued and stops the writer (idempotent).
    pub fn close(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        self.close();
    }
}

fn writer(
    mut conn: rusqlite::Connection,
    rx: mpsc::Receiver<String>,
    every: Duration,
    stats: &CacheStats,
    path: &str,
) {
    let mut pending: Vec<String> = Vec::new();
    // When the oldest pending point arrived: it waits at most `every`.
    let mut oldest = Instant::now();
    let mut last_warning: Option<Instant> = None;
    loop {
        let received = if pending.is_empty() {
            rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            rx.recv_timeout(every.saturating_sub(oldest.elapsed()))
        };
        let closed = match received {
            Ok(line) => {
                if pending.is_empty() {
                    oldest = Instant::now();
                }
                pending.push(line);
                while pending.len() < 1000 {
                    match rx.try_recv() {
                        Ok(more) => pending.push(more),
                        Err(_) => break,
                    }
                }
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        };
        if !pending.is_empty() && (closed || pending.len() >= 1000 || oldest.elapsed() >= every) {
            match commit(&mut conn, &pending) {
                Ok(()) => {
                    stats
                        .written
                        .fetch_add(pending.len() as u64, Ordering::Relaxed);
                }
                Err(e) => {
                    stats
                        .dropped
                        .fetch_add(pending.len() as u64, Ordering::Relaxed);
                    if last_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                        tracing::error!(path, error = %e, lost = pending.len(), "cannot write to the line-protocol cache");
                        last_warning = Some(Instant::now());
                    }
                }
            }
            pending.clear();
        }
        if closed {
            return;
        }
    }
}

fn commit(conn: &mut rusqlite::Connection, lines: &[String]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut stmt =
            tx.prepare_cached("INSERT INTO line_protocols (line_protocol) VALUES (?1)")?;
        for l in lines {
            stmt.execute([l])?;
        }
    }
    tx.commit()
}

impl osprey_base::Kinded for CacheError {
    fn kind(&self) -> osprey_base::ErrorKind {
        osprey_base::ErrorKind::Unavailable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_survive_close_and_reopen() {
        let dir = std::env::temp_dir().join(format!("osprey-cache-{}", std::process::id()));
        let path = dir.join("cache.sqlite");
        let cache = Cache::start(&path, 100, Duration::from_millis(50)).expect("start");
        for i in 0..10 {
            cache.push(format!("m f={i}i {i}"));
        }
        cache.close();
        assert_eq!(cache.stats().written.load(Ordering::Relaxed), 10);
        let conn = open(&path).expect("reopen");
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM line_protocols", [], |r| r.get(0))
            .expect("count");
        assert_eq!(n, 10);
        let journal: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("mode");
        assert_eq!(journal, "wal");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_full_channel_drops_and_counts() {
        let dir = std::env::temp_dir().join(format!("osprey-cache-full-{}", std::process::id()));
        let cache = Cache::start(&dir.join("c.sqlite"), 1, Duration::from_secs(60)).expect("start");
        for i in 0..10_000 {
            cache.push(format!("m f={i}i"));
        }
        cache.close();
        let s = cache.stats();
        assert_eq!(
            s.written.load(Ordering::Relaxed) + s.dropped.load(Ordering::Relaxed),
            10_000
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn zero_interval_commits_without_waiting() {
        let dir = std::env::temp_dir().join(format!("osprey-cache-zero-{}", std::process::id()));
        let path = dir.join("c.sqlite");
        let cache = Cache::start(&path, 100, Duration::ZERO).expect("start");
        cache.push("m f=1i 1".into());
        let deadline = Instant::now() + Duration::from_secs(10);
        while cache.stats().written.load(Ordering::Relaxed) == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        // Committed while the cache is still open: visible to another connection.
        let n: i64 = open(&path)
            .expect("reopen")
            .query_row("SELECT COUNT(*) FROM line_protocols", [], |r| r.get(0))
            .expect("count");
        assert_eq!(n, 1);
        cache.close();
        let _ = std::fs::remove_dir_all(dir);
    }
}
