//! Draining the line-protocol cache to InfluxDB.
//!
//! Each target keeps its own progress (`upload_progress`: the last row id it accepted), so a
//! lagging or unreachable target never blocks the others. A row is deleted only once every
//! target has taken it. While a target is down the cache keeps growing up to `max_rows`; past
//! that the oldest rows are dropped (and counted). Writes are gzip-compressed; failures back off
//! exponentially with jitter.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::CacheError;

/// Where points go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// InfluxDB 2.x / VictoriaMetrics: `POST {url}/api/v2/write?org=&bucket=&precision=ns`, `Authorization: Token`.
    V2 {
        /// Base URL.
        url: String,
        /// Organisation.
        org: String,
        /// Bucket.
        bucket: String,
        /// Token (may be empty).
        token: String,
    },
    /// InfluxDB 1.x: `POST {url}/write?db=&precision=ns` with optional `u`/`p`.
    V1 {
        /// Base URL.
        url: String,
        /// Database.
        db: String,
        /// User (may be empty).
        user: String,
        /// Password (may be empty).
        password: String,
    },
}

impl Target {
    fn key(&self) -> String {
        match self {
            Target::V2 {
                url, org, bucket, ..
            } => format!("v2 {url} {org} {bucket}"),
            Target::V1 { url, db, .. } => format!("v1 {url} {db}"),
        }
    }

    fn request(&self, agent: &ureq::Agent, body: &[u8]) -> Result<(), String> {
        // Everything but RFC 3986's unreserved characters.
        const RESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'_')
            .remove(b'.')
            .remove(b'~');
        let enc = |s: &str| percent_encoding::utf8_percent_encode(s, RESERVED).to_string();
        let req = match self {
            Target::V2 {
                url,
                org,
                bucket,
                token,
            } => {
                let r = agent.post(&format!(
                    "{}/api/v2/write?org={}&bucket={}&precision=ns",
                    url.trim_end_matches('/'),
                    enc(org),
                    enc(bucket)
                ));
                if token.is_empty() {
                    r
                } else {
                    r.header("Authorization", &format!("Token {token}"))
                }
            }
            Target::V1 {
                url,
                db,
                user,
                password,
            } => {
                let mut u = format!(
                    "{}/write?db={}&precision=ns",
                    url.trim_end_matches('/'),
                    enc(db)
                );
                if !user.is_empty() {
                    u.push_str(&format!("&u={}&p={}", enc(user), enc(password)));
                }
                agent.post(&u)
            }
        };
        req.header("Content-Encoding", "gzip")
            .header("Content-Type", "text/plain; charset=utf-8")
            .send(body)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// Uploader settings (the Python uploader's flags).
#[derive(Debug, Clone)]
pub struct UploadConfig {
    /// Targets.
    pub targets: Vec<Target>,
    /// Cache database.
    pub cache_path: std::path::PathBuf,
    /// Rows per write.
    pub batch_size: usize,
    /// HTTP timeout.
    pub http_timeout: Duration,
    /// Pause when caught up.
    pub upload_interval: Duration,
    /// Pause while catching up (a full batch was sent).
    pub catching_up_interval: Duration,
    /// Most rows kept while a target lags; older rows are dropped.
    pub max_rows: u64,
    /// Log one uploaded line this often (0: never).
    pub sample_interval: Duration,
    /// Outgoing TLS for `https://` targets (which CAs are trusted); `None`: ureq's defaults.
    pub tls: Option<ureq::tls::TlsConfig>,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassReport {
    /// Rows sent (summed over targets).
    pub sent: u64,
    /// Rows deleted after every target took them.
    pub deleted: u64,
    /// Rows dropped by the size cap.
    pub dropped: u64,
    /// Targets that failed.
    pub failures: u32,
    /// Whether some target had a full batch (more may be waiting).
    pub more: bool,
}

/// The uploader's state.
#[derive(Debug)]
pub struct Uploader {
    cfg: UploadConfig,
    conn: rusqlite::Connection,
    agent: ureq::Agent,
    backoff: Vec<(Duration, Option<Instant>)>,
    last_sample: Instant,
}

fn sql(path: &std::path::Path) -> impl Fn(rusqlite::Error) -> CacheError + '_ {
    move |source| CacheError::Sqlite {
        path: path.display().to_string(),
        source,
    }
}

impl Uploader {
    /// Opens the cache (creating it if needed).
    pub fn new(cfg: UploadConfig) -> Result<Uploader, CacheError> {
        let conn = crate::open(&cfg.cache_path)?;
        conn.execute("CREATE TABLE IF NOT EXISTS upload_progress (target TEXT PRIMARY KEY, last_id INTEGER NOT NULL)", [])
            .map_err(sql(&cfg.cache_path))?;
        let mut builder = ureq::Agent::config_builder().timeout_global(Some(cfg.http_timeout));
        if let Some(tls) = &cfg.tls {
            builder = builder.tls_config(tls.clone());
        }
        let agent: ureq::Agent = builder.build().into();
        let n = cfg.targets.len();
        Ok(Uploader {
            cfg,
            conn,
            agent,
            backoff: vec![(Duration::ZERO, None); n],
            last_sample: Instant::now(),
        })
    }

    fn progress(&self, key: &str) -> Result<i64, CacheError> {
        use rusqlite::OptionalExtension;
        Ok(self
            .conn
            .query_row(
                "SELECT last_id FROM upload_progress WHERE target = ?1",
                [key],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql(&self.cfg.cache_path))?
            .unwrap_or(0))
    }

    /// One pass: every target not backing off gets its next batch; then fully delivered rows are
    /// deleted and the size cap applied.
    pub fn pass(&mut self) -> Result<PassReport, CacheError> {
        let mut report = PassReport::default();
        let path = self.cfg.cache_path.clone();
        for (i, target) in self.cfg.targets.clone().iter().enumerate() {
            if self.backoff[i]
                .1
                .is_some_and(|until| Instant::now() < until)
            {
                continue;
            }
            let key = target.key();
            let last = self.progress(&key)?;
            let rows: Vec<(i64, String)> = {
                let mut stmt = self
                    .conn
                    .prepare_cached("SELECT id, line_protocol FROM line_protocols WHERE id > ?1 ORDER BY id LIMIT ?2")
                    .map_err(sql(&path))?;
                let it = stmt
                    .query_map(rusqlite::params![last, self.cfg.batch_size as i64], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .map_err(sql(&path))?;
                it.collect::<Result<_, _>>().map_err(sql(&path))?
            };
            let Some(&(max_id, _)) = rows.last() else {
                continue;
            };
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            for (_, line) in &rows {
                let _ = gz.write_all(line.as_bytes());
                let _ = gz.write_all(b"\n");
            }
            let body = gz.finish().unwrap_or_default();
            match target.request(&self.agent, &body) {
                Ok(()) => {
                    self.conn
                        .execute(
                            "INSERT INTO upload_progress (target, last_id) VALUES (?1, ?2) ON CONFLICT(target) DO UPDATE SET last_id = excluded.last_id",
                            rusqlite::params![key, max_id],
                        )
                        .map_err(sql(&path))?;
                    self.backoff[i] = (Duration::ZERO, None);
                    report.sent += rows.len() as u64;
                    report.more |= rows.len() >= self.cfg.batch_size;
                    if !self.cfg.sample_interval.is_zero()
                        && self.last_sample.elapsed() >= self.cfg.sample_interval
                    {
                        tracing::info!(target_key = %key, sample = %rows[0].1, "uploaded");
                        self.last_sample = Instant::now();
                    }
                }
                Err(e) => {
                    report.failures += 1;
                    let next = (self.backoff[i].0 * 2)
                        .clamp(Duration::from_secs(1), Duration::from_secs(60));
                    // Jitter: up to a quarter of the delay, from the clock's low bits.
                    let jitter_ms = (Instant::now().elapsed().subsec_nanos() as u64
                        ^ max_id as u64)
                        % (next.as_millis() as u64 / 4 + 1);
                    self.backoff[i] = (
                        next,
                        Some(Instant::now() + next + Duration::from_millis(jitter_ms)),
                    );
                    tracing::warn!(target_key = %key, error = %e, retry_in_ms = (next.as_millis() as u64 + jitter_ms), "upload failed");
                }
            }
        }
        // Delete what every target has, then enforce the cap.
        let mut min_done = i64::MAX;
        for t in &self.cfg.targets {
            min_done = min_done.min(self.progress(&t.key())?);
        }
        if min_done != i64::MAX && min_done > 0 {
            report.deleted = self
                .conn
                .execute("DELETE FROM line_protocols WHERE id <= ?1", [min_done])
                .map_err(sql(&path))? as u64;
        }
        let count: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM line_protocols", [], |r| r.get(0))
            .map_err(sql(&path))?;
        if count as u64 > self.cfg.max_rows {
            let excess = count as u64 - self.cfg.max_rows;
            report.dropped = self
                .conn
                .execute("DELETE FROM line_protocols WHERE id IN (SELECT id FROM line_protocols ORDER BY id LIMIT ?1)", [excess as i64])
                .map_err(sql(&path))? as u64;
            tracing::warn!(
                dropped = report.dropped,
                cap = self.cfg.max_rows,
                "cache over its size cap: oldest points dropped"
            );
        }
        Ok(report)
    }

    /// Rows still in the cache.
    pub fn pending(&self) -> Result<u64, CacheError> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM line_protocols", [], |r| r.get(0))
            .map_err(sql(&self.cfg.cache_path))?;
        Ok(n as u64)
    }

    /// Runs passes until `stop` returns true; pauses per the intervals.
    pub fn run(&mut self, stop: impl Fn() -> bool) -> Result<(), CacheError> {
        while !stop() {
            let r = self.pass()?;
            let pause = if r.more && r.failures == 0 {
                self.cfg.catching_up_interval
            } else {
                self.cfg.upload_interval
            };
            let until = Instant::now() + pause;
            while Instant::now() < until && !stop() {
                std::thread::sleep(Duration::from_millis(50).min(pause));
            }
        }
        Ok(())
    }
}
