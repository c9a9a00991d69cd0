//! The composition root of `osprey serve`: models (osprey-infer) → camera pipeline
//! (osprey-pipeline) → per camera: object lifecycle and counting (osprey-analytics) →
//! publishers and Prometheus (osprey-sinks) and the event store (osprey-store); recorded cameras'
//! compressed streams → their recorders (osprey-record); the HTTP API (osprey-api) over all of
//! them; one metrics registry; shutdown in order (cameras end their tracks while the
//! publishers are still up, then the publishers go).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use osprey_analytics::{AnalyticsConfig, RuleBook};
use osprey_api::{AppState, HttpMetrics};
use osprey_base::RealClock;
use osprey_config::ServeConfig;
use osprey_infer::Models;
use osprey_pipeline::{CameraMetrics, Cameras, PipelineContext, StreamTaps};
use osprey_sinks::analytics::AnalyticsMetrics;
use osprey_sinks::webhook::Webhooks;
use osprey_sinks::Bus;
use osprey_store::{AnalyticsStore, EventStore};

use crate::output::Outputs;
use crate::recording::{recordings, EventClips, Recording, Taps};
/// A started server: the API's state, and what must stop when it stops.
#[derive(Debug)]
pub struct App {
    /// What the HTTP handlers share.
    pub state: Arc<AppState>,
    cameras: Arc<Cameras>,
    bus: Arc<Bus>,
    snapshots: Option<Arc<crate::snapshots::Snapshots>>,
}

impl App {
    /// The stop step for `osprey_api::serve`: the cameras first (their open tracks end and are
    /// published), then the publishers. Blocking.
    pub fn stopper(&self) -> impl FnOnce() + Send + 'static {
        let (cameras, bus) = (Arc::clone(&self.cameras), Arc::clone(&self.bus));
        let analytics = self.state.analytics.clone();
        let snapshots = self.snapshots.clone();
        let audit = self.state.security.audit.clone();
        move || {
            cameras.shutdown();
            bus.shutdown();
            // The tracks' final snapshots, queued as the cameras stopped, are on disk before
            // the exit; so are the last audit entries.
            if let Some(s) = &snapshots {
                s.flush(Duration::from_secs(10));
            }
            if let Some(a) = &audit {
                a.flush(Duration::from_secs(5));
            }
            // The cameras' last analytics (exits, totals) are committed before the exit.
            if let Some(a) = analytics.filter(AnalyticsStore::is_open) {
                if let Err(e) = a.flush() {
                    tracing::warn!(error = %e, "analytics not flushed at shutdown");
                }
            }
        }
    }
}

/// Loads the models, opens the store and the publishers, starts the configured cameras.
pub fn start(cfg: &ServeConfig) -> anyhow::Result<App> {
    let metrics = HttpMetrics::new().context("metrics")?;
    let registry = metrics.registry();
    let models = Models::load(&cfg.models, registry)?;
    let publish = osprey_sinks::register_metrics(registry).context("metrics")?;
    let publish_counter = publish.clone();
    let camera_metrics = CameraMetrics::register(registry).context("metrics")?;
    let analytics_metrics = AnalyticsMetrics::register(registry).context("metrics")?;
    // The event store opens when there are cameras to produce events (or a database to read).
    // The stores open on first use: with the first event or query, also for cameras added later
    // through the API; a server that only answers DeepStack requests creates no file.
    let events = Some(EventStore::open_lazy(&cfg.store.events_db, publish.clone()));
    let bus = Arc::new(
        Bus::start(cfg.redis.as_ref(), cfg.mqtt.as_ref(), publish)
            .context("starting the publishers")?,
    );
    let webhooks = Arc::new(
        Webhooks::start(&cfg.webhooks, publish_counter.clone()).context("starting the webhooks")?,
    );
    let rules = Arc::new(rule_book(cfg));
    // The analytics time series: the file is created on first use (a camera's first frame
    // with rules, or a query), so cameras added later through the API are stored too.
    let analytics_db = cfg.store.events_db.with_file_name("analytics.sqlite");
    let analytics_store = Some(AnalyticsStore::open_lazy(
        &analytics_db,
        osprey_store::AnalyticsConfig::default(),
        publish_counter.clone(),
    )?);
    let library = recordings(cfg)?;
    let clips = Arc::new(EventClips::default());
    let live = Arc::new(osprey_record::LiveHubs::default());
    let snapshots =
        crate::snapshots::Snapshots::new(events.as_ref(), publish_counter.clone()).map(Arc::new);
    let cameras = Cameras::new(PipelineContext {
        models: models.clone(),
        metrics: camera_metrics,
        sinks: Arc::new(Outputs {
            bus: Arc::clone(&bus),
            webhooks,
            events: events.clone(),
            rules: Arc::clone(&rules),
            analytics_metrics,
            analytics_store: analytics_store.clone(),
            clips: Arc::clone(&clips),
            snapshots: snapshots.clone(),
        }),
        clock: Arc::new(RealClock::default()),
        taps: Some(Arc::new(Taps {
            live: Arc::clone(&live),
            recording: library.clone().map(|library| Recording { library, clips }),
        }) as Arc<dyn StreamTaps>),
    });
    for spec in &cfg.cameras {
        cameras
            .add(spec.clone())
            .with_context(|| format!("camera {:?}", spec.id))?;
    }
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let influx = if cfg.metrics.generate_metrics {
        let m = &cfg.metrics;
        let cache = osprey_influx::Cache::start(
            &m.metrics_cache,
            10_000,
            Duration::from_millis(m.metrics_commit_ms.max(1)),
        )?;
        tracing::info!(path = %m.metrics_cache.display(), "InfluxDB points go to the line-protocol cache");
        Some(cache)
    } else {
        None
    };
    let security = open_security(cfg)?;
    let state = Arc::new(AppState {
        security,
        models,
        config: cfg.api.clone(),
        started: Instant::now(),
        counters: osprey_api::Counters::default(),
        decoders: osprey_api::decode_pool::DecodePool::new(cores.max(2))?,
        metrics,
        influx,
        hostname: std::fs::read_to_string("/etc/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "osprey".into()),
        cameras: Arc::clone(&cameras),
        events,
        rules,
        analytics: analytics_store,
        recordings: library,
        live,
    });
    Ok(App {
        state,
        cameras,
        bus,
        snapshots,
    })
}

/// Opens the auth database (printing the first admin's password once when it makes one) and
/// warns when the server is open beyond loopback.
fn open_security(cfg: &ServeConfig) -> anyhow::Result<osprey_api::Security> {
    let sec = &cfg.security;
    let opened = osprey_api::Security::open(sec, cfg.api.api_key.clone())
        .with_context(|| format!("opening the auth database {}", sec.auth_db.display()))?;
    if let Some(pw) = &opened.first_admin_password {
        tracing::warn!(
            user = "admin",
            password = %pw,
            db = %sec.auth_db.display(),
            "created the first user; this password is shown only now: sign in at /ui/ and change it (osprey users passwd admin)"
        );
    }
    let beyond_loopback = cfg.api.listen.iter().any(|a| !a.ip().is_loopback());
    if !sec.auth {
        if beyond_loopback {
            tracing::warn!("authentication is off (--auth off) and the server listens beyond loopback: anyone who reaches the port can watch the cameras and change the setup");
        }
    } else {
        tracing::info!(db = %sec.auth_db.display(), access_rules = sec.access.rules.len(), "authentication on");
    }
    Ok(opened.security)
}

/// Where rules set through the API are kept: beside the event store.
fn rules_file(cfg: &ServeConfig) -> std::path::PathBuf {
    cfg.store.events_db.with_file_name("analytics-rules.json")
}

/// The rules of the TOML file, overlaid by those set through the API before (kept in
/// `analytics-rules.json`, rewritten atomically on every change).
fn rule_book(cfg: &ServeConfig) -> RuleBook {
    let path = rules_file(cfg);
    let mut rules = cfg.analytics.clone();
    match std::fs::read(&path) {
        Ok(bytes) => match serde_json::from_slice::<BTreeMap<String, AnalyticsConfig>>(&bytes) {
            Ok(saved) => {
                tracing::info!(path = %path.display(), cameras = saved.len(), "analytics rules set through the API");
                rules.extend(saved);
            }
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot read the saved analytics rules; using the configuration's")
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "cannot read the saved analytics rules")
        }
    }
    RuleBook::new(
        rules,
        Some(Box::new(move |all| {
            if let Err(e) = save_atomically(&path, all) {
                tracing::error!(path = %path.display(), error = %e, "cannot save the analytics rules");
            }
        })),
    )
}

/// Writes `rules` atomically ([`osprey_base::write_atomically`]).
fn save_atomically(
    path: &std::path::Path,
    rules: &BTreeMap<String, AnalyticsConfig>,
) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(rules).map_err(std::io::Error::other)?;
    osprey_base::write_atomically(path, &json, 0o644)
}
