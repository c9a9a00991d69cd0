//! `osprey serve`: a DeepStack / CodeProject.AI compatible detection server.
//!
//! ```text
//! TCP ─ hyper (header timeout, connection cap) ─ axum routes ─ body (size + time limits)
//!   ─ multipart ─ decode + letterbox (blocking pool, bounded) ─ model queue (bounded, 503 when full)
//!   ─ inference worker thread (micro-batching) ─ oneshot reply ─ JSON
//! ```
#![forbid(clippy::print_stdout, clippy::print_stderr)]

pub mod api;
pub mod cameras;
pub mod config;
pub mod decode_pool;
pub mod error;
pub mod flags;
pub mod metrics;
pub mod multipart;
pub mod worker;

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use osprey_detect::{DetectError, Detector, EngineOptions};
use tokio::net::TcpListener;

pub use api::{app, AppState};
pub use config::{ServeConfig, Settings};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A model failed to load.
    #[error("model {path}: {source}")]
    Model {
        /// Model file.
        path: String,
        /// Cause.
        source: DetectError,
    },
    /// The models folder has no `.onnx` files or cannot be read.
    #[error("{0}")]
    Models(String),
    /// A thread could not be started.
    #[error("cannot start a thread: {0}")]
    Thread(#[from] std::io::Error),
    /// The InfluxDB line-protocol cache could not be opened.
    #[error("{0}")]
    Cache(#[from] osprey_influx::CacheError),
    /// The metrics registry refused a series (a bug).
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The event store could not be opened.
    #[error("{0}")]
    Events(#[from] cameras::events::StoreError),
    /// A configured camera could not start.
    #[error("camera: {0}")]
    Camera(#[from] cameras::CameraError),
}

/// Every model file to serve: `(name, path)`, the default model first.
pub fn model_files(cfg: &ServeConfig) -> Result<Vec<(String, PathBuf)>, StartError> {
    let stem = |p: &Path| {
        p.file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("model")
            .to_string()
    };
    let mut out = Vec::new();
    if let Some(m) = &cfg.model {
        out.push((stem(m), m.clone()));
    }
    if let Some(dir) = &cfg.models_dir {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| {
                StartError::Models(format!("cannot read models folder {}: {e}", dir.display()))
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
            })
            .collect();
        files.sort();
        for f in files {
            let name = stem(&f);
            if out.iter().all(|(n, _)| *n != name) {
                out.push((name, f));
            }
        }
    }
    if out.is_empty() {
        return Err(StartError::Models(
            "no ONNX model to serve (set --model or --models-dir with .onnx files)".into(),
        ));
    }
    Ok(out)
}

/// Loads every model and starts its worker; returns the shared state.
pub fn start(cfg: ServeConfig) -> Result<Arc<AppState>, StartError> {
    let files = model_files(&cfg)?;
    // Several ONNX Runtime pools spinning at once fight over the cores.
    let spinning = cfg.spinning.unwrap_or(files.len() == 1);
    let batch = worker::BatchConfig {
        queue_capacity: cfg.queue_capacity,
        camera_capacity: 256,
        max_batch: cfg.max_batch,
        camera_max_batch: cfg.camera_max_batch,
        batch_wait: Duration::from_millis(cfg.batch_wait_ms),
    };
    let warmup = cfg.warmup_image.as_ref().and_then(|p| match std::fs::read(p) {
        Ok(b) => osprey_image::decode(&b, &osprey_image::DecodeLimits::default()).ok(),
        Err(e) => {
            tracing::warn!(path = %p.display(), error = %e, "cannot read the warm-up image; using a grey frame");
            None
        }
    });
    let metrics = metrics::Metrics::new()?;
    let mut models = HashMap::new();
    for (name, path) in &files {
        let opts = EngineOptions {
            provider: cfg.provider,
            fallback_to_cpu: cfg.fallback_to_cpu,
            fp16: cfg.half,
            trt_cache_dir: cfg.trt_cache.clone(),
            intra_threads: cfg.threads,
            spinning,
            ort_library: cfg.ort_library.clone(),
            labels: cfg.labels.clone(),
            imgsz: cfg.imgsz,
            ..EngineOptions::default()
        };
        let detector = Detector::load(path, &opts).map_err(|source| StartError::Model {
            path: path.display().to_string(),
            source,
        })?;
        let info = detector.info();
        let provider = detector.provider();
        let precision = if cfg.half && provider == osprey_detect::Provider::Tensorrt {
            "fp16"
        } else {
            "fp32"
        };
        let batch_axis = match info.batch {
            osprey_detect::BatchAxis::Dynamic => "dynamic".to_string(),
            osprey_detect::BatchAxis::Fixed(n) => n.to_string(),
        };
        let imgsz = format!("{}x{}", info.imgsz.1, info.imgsz.0);
        metrics
            .model_info
            .with_label_values(&[
                name.as_str(),
                provider.as_str(),
                imgsz.as_str(),
                precision,
                info.layout_name,
                batch_axis.as_str(),
            ])
            .set(1);
        let batch_sizes = metrics.batch_size.with_label_values(&[name.as_str()]);
        models.insert(
            name.clone(),
            worker::spawn(name, detector, batch, warmup.clone(), batch_sizes)?,
        );
    }
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    // The event store opens when there are cameras to produce events (or a database to read).
    let events = if !cfg.cameras.is_empty() || cfg.events_db.exists() {
        Some(cameras::events::EventStore::open(
            &cfg.events_db,
            metrics.publish_messages.clone(),
        )?)
    } else {
        None
    };
    let bus = cameras::publish::Bus::start(
        cfg.redis.as_ref(),
        cfg.mqtt.as_ref(),
        events,
        metrics.publish_messages.clone(),
    )?;
    let cams = cameras::Cameras::new(cameras::Ctx {
        models: models.clone(),
        default_model: files[0].0.clone(),
        metrics: metrics.clone(),
        bus: Arc::new(bus),
    });
    for spec in &cfg.cameras {
        cams.add(spec.clone())?;
    }
    Ok(Arc::new(AppState {
        cameras: cams,
        default_model: files[0].0.clone(),
        models,
        started: Instant::now(),
        counters: api::Counters::default(),
        decoders: decode_pool::DecodePool::new(cores.max(2))?,
        influx: if cfg.generate_metrics {
            let cache = osprey_influx::Cache::start(
                &cfg.metrics_cache,
                10_000,
                Duration::from_millis(cfg.metrics_commit_ms.max(1)),
            )?;
            tracing::info!(path = %cfg.metrics_cache.display(), "InfluxDB points go to the line-protocol cache");
            Some(cache)
        } else {
            None
        },
        metrics,
        hostname: std::fs::read_to_string("/etc/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "osprey".into()),
        config: cfg,
    }))
}

/// Serves `state` on `listeners` until `shutdown` resolves, then stops accepting, lets in-flight
/// requests finish (up to `grace`), and returns.
pub async fn serve(
    listeners: Vec<TcpListener>,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let cfg = &state.config;
    let router = app(Arc::clone(&state));
    let conn_slots = Arc::new(tokio::sync::Semaphore::new(cfg.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let header_timeout = Duration::from_millis(cfg.header_timeout_ms);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut accept_tasks = Vec::new();
    {
        // Per-camera frame rates for the status API.
        let cams = Arc::clone(&state.cameras);
        let mut stop = stop_rx.clone();
        accept_tasks.push(tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    _ = every.tick() => cams.tick(),
                }
            }
        }));
    }
    let (conn_tx, mut conn_rx) = tokio::sync::mpsc::unbounded_channel();
    for listener in listeners {
        let mut stop = stop_rx.clone();
        let slots = Arc::clone(&conn_slots);
        let conn_tx = conn_tx.clone();
        accept_tasks.push(tokio::spawn(async move {
            loop {
                let permit = tokio::select! {
                    _ = stop.changed() => break,
                    p = Arc::clone(&slots).acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                };
                let (stream, peer) = tokio::select! {
                    _ = stop.changed() => break,
                    r = listener.accept() => match r {
                        Ok(s) => s,
                        Err(e) => {
                            // EMFILE and friends: back off instead of spinning.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let _ = stream.set_nodelay(true);
                if conn_tx.send((stream, peer, permit)).is_err() {
                    break;
                }
            }
        }));
    }
    drop(conn_tx);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            c = conn_rx.recv() => {
                let Some((stream, peer, permit)) = c else { break };
                let svc = TowerToHyperService::new(router.clone());
                let mut builder = hyper::server::conn::http1::Builder::new();
                // half_close: a client that shuts down its write side after the request
                // (HTTP/1.0-style tools, `nc -N`, camera firmwares) still gets its answer.
                builder.timer(TokioTimer::new()).header_read_timeout(header_timeout).keep_alive(true).half_close(true).max_buf_size(64 * 1024);
                let conn = builder.serve_connection(TokioIo::new(stream), svc);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
                    }
                    drop(permit);
                });
            }
        }
    }
    let _ = stop_tx.send(true);
    for t in accept_tasks {
        let _ = t.await;
    }
    // Cameras stop first: their open tracks end (and are published) while the bus is up.
    let cams = Arc::clone(&state.cameras);
    let _ = tokio::task::spawn_blocking(move || cams.shutdown()).await;
    tracing::info!("shutting down: no new connections; finishing in-flight requests");
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_s = grace.as_secs(),
            "in-flight requests did not finish in time"
        );
    }
}

/// Resolves on the first SIGTERM or SIGINT; a second one exits the process at once.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::info!("signal received: shutting down gracefully (send it again to stop at once)");
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::warn!("second signal: exiting now");
        std::process::exit(130);
    });
}
