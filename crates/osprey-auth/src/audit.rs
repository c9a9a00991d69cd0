//! The audit log: every write and every refused request, in the auth database, written by the
//! `osprey-audit` thread from a bounded queue (full: the entry is dropped, counted and logged),
//! deleted after the retention period, read by admins.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use osprey_base::lock;
use rusqlite::{params, Connection};
use serde::Serialize;

use crate::{AuthError, AuthStore};

/// One audited request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Unix milliseconds.
    pub time_ms: i64,
    /// User or key name; `None` without credentials.
    pub principal: Option<String>,
    /// Its role.
    pub role: Option<String>,
    /// Client address.
    pub source: String,
    /// HTTP method.
    pub method: String,
    /// The route's template (`/api/cameras/{id}`), or the path when none matched.
    pub route: String,
    /// Response status.
    pub status: u16,
    /// What happened, in words (never a secret).
    pub detail: String,
}

impl AuditEntry {
    /// The entry's log line (target `osprey::audit`), written whether or not a database keeps it.
    pub fn log(&self) {
        tracing::info!(
            target: "osprey::audit",
            principal = self.principal.as_deref().unwrap_or("-"),
            role = self.role.as_deref().unwrap_or("-"),
            source = %self.source,
            method = %self.method,
            route = %self.route,
            status = self.status,
            detail = %self.detail,
            "audit"
        );
    }
}

/// What to read back.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuditQuery {
    /// Newest first, at most this many (capped at 1000).
    pub limit: usize,
    /// Only entries at or after this time (unix ms).
    pub since_ms: Option<i64>,
}

/// The audit log's handle: cheap to clone.
#[derive(Debug, Clone)]
pub struct AuditLog {
    tx: SyncSender<Msg>,
    reader: Arc<Mutex<Connection>>,
    dropped: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
}

const QUEUE: usize = 1024;

impl AuditLog {
    /// Starts the writer thread on `store`'s database; entries older than `retention_days` are
    /// deleted once an hour.
    pub fn start(store: &AuthStore, retention_days: u32) -> Result<AuditLog, AuthError> {
        let writer = store.open_connection()?;
        let reader = store.open_connection()?;
        let (tx, rx) = sync_channel(QUEUE);
        let written = Arc::new(AtomicU64::new(0));
        let w = Arc::clone(&written);
        let retention_ms = i64::from(retention_days) * 86_400_000;
        std::thread::Builder::new()
            .name("osprey-audit".into())
            .spawn(move || writer_loop(writer, rx, retention_ms, &w))
            .map_err(|e| AuthError::Crypto(format!("cannot start the audit thread: {e}")))?;
        Ok(AuditLog {
            tx,
            reader: Arc::new(Mutex::new(reader)),
            dropped: Arc::new(AtomicU64::new(0)),
            written,
        })
    }

    /// Queues an entry and writes its log line.
    pub fn record(&self, e: AuditEntry) {
        e.log();
        match self.tx.try_send(Msg::Entry(e)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                if self
                    .dropped
                    .fetch_add(1, Ordering::Relaxed)
                    .is_multiple_of(1000)
                {
                    tracing::warn!(dropped = self.dropped(), "audit queue full: entry dropped");
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Entries dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Entries written.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Newest first.
    pub fn query(&self, q: AuditQuery) -> Result<Vec<AuditEntry>, AuthError> {
        let conn = lock(&self.reader);
        let limit = q.limit.clamp(1, 1000) as i64;
        let since = q.since_ms.unwrap_or(i64::MIN);
        let run = || -> rusqlite::Result<Vec<AuditEntry>> {
            let mut st = conn.prepare(
                "SELECT time_ms, principal, role, source, method, route, status, detail FROM audit
                 WHERE time_ms >= ?1 ORDER BY time_ms DESC, id DESC LIMIT ?2",
            )?;
            let rows = st.query_map(params![since, limit], |r| {
                Ok(AuditEntry {
                    time_ms: r.get(0)?,
                    principal: r.get(1)?,
                    role: r.get(2)?,
                    source: r.get(3)?,
                    method: r.get(4)?,
                    route: r.get(5)?,
                    status: r.get(6)?,
                    detail: r.get(7)?,
                })
            })?;
            rows.collect()
        };
        run().map_err(|source| AuthError::Db {
            path: "audit".into(),
            source,
        })
    }

    /// Waits until every entry queued before this call is written (tests, shutdown), at most
    /// `timeout`.
    pub fn flush(&self, timeout: Duration) {
        let (done_tx, done_rx) = sync_channel(1);
        if self.tx.send(Msg::Flush(done_tx)).is_ok() {
            let _ = done_rx.recv_timeout(timeout);
        }
    }
}

enum Msg {
    Entry(AuditEntry),
    Flush(SyncSender<()>),
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Msg::Entry(_) => "Entry",
            Msg::Flush(_) => "Flush",
        })
    }
}

fn writer_loop(conn: Connection, rx: Receiver<Msg>, retention_ms: i64, written: &AtomicU64) {
    let mut last_retention = i64::MIN;
    while let Ok(first) = rx.recv() {
        let mut batch = Vec::new();
        let mut acks = Vec::new();
        let mut next = Some(first);
        while let Some(m) = next.take() {
            match m {
                Msg::Entry(e) => batch.push(e),
                Msg::Flush(ack) => acks.push(ack),
            }
            if batch.len() < 256 {
                next = rx.try_recv().ok();
            }
        }
        let n = batch.len() as u64;
        let r = (|| -> rusqlite::Result<()> {
            let tx = conn.unchecked_transaction()?;
            {
                let mut st = tx.prepare_cached(
                    "INSERT INTO audit(time_ms, principal, role, source, method, route, status, detail)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?;
                for e in &batch {
                    st.execute(params![
                        e.time_ms,
                        e.principal,
                        e.role,
                        e.source,
                        e.method,
                        e.route,
                        e.status,
                        e.detail
                    ])?;
                }
            }
            tx.commit()
        })();
        if let Err(e) = r {
            tracing::warn!(error = %e, entries = n, "audit entries not written");
        }
        written.fetch_add(n, Ordering::Relaxed);
        for a in acks {
            let _ = a.try_send(());
        }
        let now = (osprey_base::unix_now() * 1000.0) as i64;
        if retention_ms > 0 && now - last_retention > 3_600_000 {
            last_retention = now;
            if let Err(e) =
                conn.execute("DELETE FROM audit WHERE time_ms < ?1", [now - retention_ms])
            {
                tracing::warn!(error = %e, "audit retention failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_written_and_read_newest_first() {
        let dir = std::env::temp_dir().join(format!("osprey-audit-{}", std::process::id()));
        let store = AuthStore::open(&dir.join("auth.sqlite")).expect("open");
        let log = AuditLog::start(&store, 90).expect("start");
        for i in 0..5 {
            log.record(AuditEntry {
                time_ms: 1000 + i,
                principal: Some("alice".into()),
                role: Some("admin".into()),
                source: "127.0.0.1".into(),
                method: "POST".into(),
                route: "/api/cameras".into(),
                status: 201,
                detail: format!("n{i}"),
            });
        }
        log.flush(Duration::from_secs(5));
        let got = log
            .query(AuditQuery {
                limit: 3,
                since_ms: Some(1001),
            })
            .expect("query");
        let details: Vec<_> = got.iter().map(|e| e.detail.as_str()).collect();
        assert_eq!(details, ["n4", "n3", "n2"]);
        assert_eq!(log.dropped(), 0);
        let _ = std::fs::remove_dir_all(dir);
    }
}
