//! `osprey upload-metrics`: drains the line-protocol cache to InfluxDB, with the Python
//! `line-protocol-cache-uploader`'s flags (also from an absl `--flagfile`).
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use osprey_influx::upload::{Target, UploadConfig, Uploader};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// InfluxDB base URLs, one per target (repeatable).
    #[arg(long = "urls", required = true)]
    pub urls: Vec<String>,
    /// InfluxDB 2 buckets, one per target.
    #[arg(long = "buckets")]
    pub buckets: Vec<String>,
    /// InfluxDB 2 tokens, one per target.
    #[arg(long = "tokens")]
    pub tokens: Vec<String>,
    /// InfluxDB 2 organisations, one per target.
    #[arg(long = "orgs")]
    pub orgs: Vec<String>,
    /// InfluxDB 1 databases, one per target; a non-empty entry makes that target InfluxDB 1 (/write?db=).
    #[arg(long = "dbs")]
    pub dbs: Vec<String>,
    /// InfluxDB 1 users, one per target.
    #[arg(long = "users")]
    pub users: Vec<String>,
    /// InfluxDB 1 passwords, one per target.
    #[arg(long = "passwords")]
    pub passwords: Vec<String>,
    /// HTTP timeout.
    #[arg(long = "http_timeout_ms", default_value_t = 10_000)]
    pub http_timeout_ms: u64,
    /// The SQLite line-protocol cache. Default data/line-protocol-cache/cache.sqlite (in
    /// `osprey serve --metrics-upload-flagfile`: the server's --metrics-cache).
    #[arg(long = "cache_path")]
    pub cache_path: Option<PathBuf>,
    /// Pause between passes when caught up, seconds.
    #[arg(long = "upload_interval_s", default_value_t = 5.0)]
    pub upload_interval_s: f64,
    /// Pause between passes while catching up, seconds.
    #[arg(long = "catching_up_interval_s", default_value_t = 0.5)]
    pub catching_up_interval_s: f64,
    /// Points per write.
    #[arg(long = "batch_size", default_value_t = 5000)]
    pub batch_size: usize,
    /// Log one uploaded point this often, seconds (0: never).
    #[arg(long = "sample_interval_s", default_value_t = 0.0)]
    pub sample_interval_s: f64,
    /// Most points kept while a target is unreachable; the oldest beyond it are dropped.
    #[arg(long = "max_rows", default_value_t = 10_000_000)]
    pub max_rows: u64,
    /// Upload until the cache is empty (or a target fails), then exit.
    #[arg(long)]
    pub once: bool,
    /// A CA file (PEM) trusted for https:// targets besides the system's CAs.
    #[arg(long = "ca_file")]
    pub ca_file: Option<PathBuf>,
    /// absl verbosity (accepted for flagfile compatibility).
    #[arg(long, allow_hyphen_values = true)]
    pub verbosity: Option<i32>,
}

fn nth(v: &[String], i: usize) -> String {
    v.get(i).cloned().unwrap_or_default()
}

fn targets(a: &Args) -> anyhow::Result<Vec<Target>> {
    let n = a.urls.len();
    for (name, v) in [
        ("--buckets", &a.buckets),
        ("--tokens", &a.tokens),
        ("--orgs", &a.orgs),
        ("--dbs", &a.dbs),
    ] {
        anyhow::ensure!(
            v.is_empty() || v.len() == n,
            "{name} has {} entries but --urls has {n}: give one per target",
            v.len()
        );
    }
    Ok((0..n)
        .map(|i| {
            let db = nth(&a.dbs, i);
            if db.is_empty() {
                Target::V2 {
                    url: a.urls[i].clone(),
                    org: nth(&a.orgs, i),
                    bucket: nth(&a.buckets, i),
                    token: nth(&a.tokens, i),
                }
            } else {
                Target::V1 {
                    url: a.urls[i].clone(),
                    db,
                    user: nth(&a.users, i),
                    password: nth(&a.passwords, i),
                }
            }
        })
        .collect())
}

const DEFAULT_CACHE: &str = "data/line-protocol-cache/cache.sqlite";

fn config(args: &Args, default_cache: &std::path::Path) -> anyhow::Result<UploadConfig> {
    let secs = |s: f64| Duration::from_secs_f64(s.max(0.0));
    Ok(UploadConfig {
        targets: targets(args)?,
        cache_path: args
            .cache_path
            .clone()
            .unwrap_or_else(|| default_cache.to_path_buf()),
        batch_size: args.batch_size.max(1),
        http_timeout: Duration::from_millis(args.http_timeout_ms),
        upload_interval: secs(args.upload_interval_s),
        catching_up_interval: secs(args.catching_up_interval_s),
        max_rows: args.max_rows,
        sample_interval: secs(args.sample_interval_s),
        tls: Some(osprey_sinks::webhook::tls_config(args.ca_file.as_deref())),
    })
}

/// The uploader running inside `osprey serve` (`--metrics-upload-flagfile`).
pub struct InProcess {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl InProcess {
    /// Reads the uploader's flags from `flagfile` and starts thread `osprey-influx-upload`.
    pub fn start(
        flagfile: &std::path::Path,
        server_cache: &std::path::Path,
    ) -> anyhow::Result<InProcess> {
        let expanded = osprey_config::flags::expand_flagfiles(&[format!(
            "--flagfile={}",
            flagfile.display()
        )])?;
        let args = <Standalone as clap::Parser>::try_parse_from(
            std::iter::once("metrics-upload-flagfile".to_string()).chain(expanded),
        )
        .with_context(|| format!("in the uploader flagfile {}", flagfile.display()))?
        .args;
        let cfg = config(&args, server_cache)?;
        let cache = cfg.cache_path.clone();
        let mut up = Uploader::new(cfg).context("opening the line-protocol cache")?;
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("osprey-influx-upload".into())
            .spawn(move || {
                if let Err(e) = up.run(|| s.load(Ordering::SeqCst)) {
                    tracing::error!(error = %e, "the in-process metrics uploader stopped");
                }
            })?;
        tracing::info!(cache = %cache.display(), flagfile = %flagfile.display(), "in-process metrics uploader started");
        Ok(InProcess { stop, thread })
    }

    /// Asks the uploader to stop after its current write and waits for it.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.thread.join();
    }
}

/// `Args` on their own, for the flagfile of the in-process uploader.
#[derive(Debug, clap::Parser)]
struct Standalone {
    #[command(flatten)]
    args: Args,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cfg = config(&args, std::path::Path::new(DEFAULT_CACHE))?;
    let cache_path = cfg.cache_path.clone();
    let mut up = Uploader::new(cfg).context("opening the line-protocol cache")?;
    if args.once {
        loop {
            let r = up.pass()?;
            if r.failures > 0 {
                anyhow::bail!(
                    "a target failed; {} points remain in {}",
                    up.pending()?,
                    cache_path.display()
                );
            }
            if up.pending()? == 0 || r.sent == 0 {
                tracing::info!(pending = up.pending()?, "cache drained");
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    std::thread::Builder::new()
        .name("osprey-upload-signals".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(osprey_api::shutdown_signal());
            }
            s.store(true, Ordering::SeqCst);
        })?;
    up.run(|| stop.load(Ordering::SeqCst))?;
    Ok(ExitCode::SUCCESS)
}
