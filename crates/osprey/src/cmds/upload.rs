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
    /// The SQLite line-protocol cache.
    #[arg(
        long = "cache_path",
        default_value = "data/line-protocol-cache/cache.sqlite"
    )]
    pub cache_path: PathBuf,
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

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let secs = |s: f64| Duration::from_secs_f64(s.max(0.0));
    let cfg = UploadConfig {
        targets: targets(&args)?,
        cache_path: args.cache_path.clone(),
        batch_size: args.batch_size.max(1),
        http_timeout: Duration::from_millis(args.http_timeout_ms),
        upload_interval: secs(args.upload_interval_s),
        catching_up_interval: secs(args.catching_up_interval_s),
        max_rows: args.max_rows,
        sample_interval: secs(args.sample_interval_s),
    };
    let mut up = Uploader::new(cfg).context("opening the line-protocol cache")?;
    if args.once {
        loop {
            let r = up.pass()?;
            if r.failures > 0 {
                anyhow::bail!(
                    "a target failed; {} points remain in {}",
                    up.pending()?,
                    args.cache_path.display()
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
                rt.block_on(osprey_server::shutdown_signal());
            }
            s.store(true, Ordering::SeqCst);
        })?;
    up.run(|| stop.load(Ordering::SeqCst))?;
    Ok(ExitCode::SUCCESS)
}
