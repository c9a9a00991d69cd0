//! The composition root of `osprey serve`: models (osprey-infer) → camera pipeline
//! (osprey-pipeline) → per camera: object lifecycle and counting (osprey-analytics) →
//! publishers and Prometheus (osprey-sinks) and the event store (osprey-store); the HTTP API (osprey-api) over all of
//! them; one metrics registry; shutdown in order (cameras end their tracks while the
//! publishers are still up, then the publishers go).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use std::collections::BTreeMap;

use osprey_analytics::{Analytics, AnalyticsConfig, Counts, Lifecycle, RuleBook};
use osprey_api::{AppState, HttpMetrics};
use osprey_base::RealClock;
use osprey_config::ServeConfig;
use osprey_infer::Models;
use osprey_pipeline::{CameraMetrics, Cameras, FrameSink, PipelineContext, SinkFactory};
use osprey_schema::analytics::{AnalyticsEvent, Direction, FrameAnalytics};
use osprey_schema::FrameResult;
use osprey_sinks::analytics::{AnalyticsMetrics, AnalyticsTopics};
use osprey_sinks::{deepstream, frigate, Bus, FrameMessage};
use osprey_store::{AnalyticsRecord, AnalyticsStore, EventRecord, EventStore};

/// Where every camera's results go: the shared publishers and the event store, and the
/// analytics rules per camera.
#[derive(Debug)]
struct Outputs {
    bus: Arc<Bus>,
    events: Option<EventStore>,
    rules: Arc<RuleBook>,
    analytics_metrics: AnalyticsMetrics,
    analytics_store: Option<AnalyticsStore>,
}

/// The store's records for one frame's analytics: events, occupancy samples (FOV and each
/// ROI), and, with any crossing, the totals snapshot in the same batch (so restored totals
/// always agree with the stored events).
fn records(camera: &str, fa: &FrameAnalytics, counts: &Counts) -> Vec<AnalyticsRecord> {
    use osprey_store as st;
    let ts_ms = (fa.wall * 1000.0).round() as i64;
    let mut out = Vec::with_capacity(fa.events.len() + fa.rois.len() + 2);
    let mut crossed = false;
    for e in &fa.events {
        out.push(match e {
            AnalyticsEvent::Crossing(c) => {
                crossed = true;
                AnalyticsRecord::Crossing(st::Crossing {
                    camera: camera.to_string(),
                    rule_id: c.rule_id.clone(),
                    ts_ms: (c.wall * 1000.0).round() as i64,
                    object_id: c.object_id,
                    track_id: c.track_id,
                    label: c.label.clone(),
                    direction: match c.direction {
                        Direction::In => st::Direction::In,
                        Direction::Out => st::Direction::Out,
                    },
                })
            }
            AnalyticsEvent::RoiEnter(r)
            | AnalyticsEvent::RoiExit(r)
            | AnalyticsEvent::Loitering(r) => AnalyticsRecord::Roi(st::RoiTransition {
                camera: camera.to_string(),
                rule_id: r.rule_id.clone(),
                ts_ms: (r.wall * 1000.0).round() as i64,
                object_id: r.object_id,
                track_id: r.track_id,
                label: r.label.clone(),
                kind: match e {
                    AnalyticsEvent::RoiEnter(_) => st::RoiKind::Enter,
                    AnalyticsEvent::RoiExit(_) => st::RoiKind::Exit,
                    _ => st::RoiKind::Loiter,
                },
                dwell_s: r.dwell_seconds,
            }),
        });
    }
    let sample = |rule: &str, o: &osprey_schema::analytics::Occupancy| {
        AnalyticsRecord::Occupancy(st::OccupancySample {
            camera: camera.to_string(),
            rule_id: rule.to_string(),
            ts_ms,
            total: o.total,
            by_label: o.by_class.clone(),
        })
    };
    out.push(sample("fov", &fa.fov));
    for r in &fa.rois {
        out.push(sample(&r.rule_id, &r.occupancy));
    }
    if crossed {
        if let Ok(json) = serde_json::to_string(counts) {
            out.push(AnalyticsRecord::Totals(st::TotalsSnapshot {
                camera: camera.to_string(),
                json,
                ts_ms,
            }));
        }
    }
    out
}

/// A tripwire's raw IN/OUT totals, over every class.
fn raw_totals(counts: &Counts, tripwire: &str) -> (u64, u64) {
    counts.tripwires.get(tripwire).map_or((0, 0), |t| {
        let r = t.raw_total();
        (r.in_, r.out)
    })
}

/// The totals saved for `camera` before a restart.
fn saved_counts(store: Option<&AnalyticsStore>, camera: &str) -> Option<Counts> {
    let snap = store?.load_totals(camera).ok()??;
    serde_json::from_str(&snap.json).ok()
}

/// One camera's counting: its rules, compiled for the stream's frame size, recompiled when
/// they change (the totals carry over).
struct Counting {
    camera: String,
    rules: Arc<RuleBook>,
    /// The rules version the engine was compiled from (0: none).
    version: u64,
    engine: Option<Analytics>,
    metrics: AnalyticsMetrics,
    topics: AnalyticsTopics,
    store: Option<AnalyticsStore>,
}

impl Counting {
    /// Compiles the camera's current rules for this frame's size when they changed.
    fn refresh(&mut self, result: &FrameResult) {
        let version = self.rules.version(&self.camera);
        if version == self.version {
            return;
        }
        self.version = version;
        let old = self.engine.take();
        let Some((_, cfg)) = self.rules.get(&self.camera) else {
            return;
        };
        match cfg.validate(result.width, result.height) {
            Ok(rules) => {
                let mut engine = Analytics::new(rules);
                // Totals go on: from the engine the rules replace, or from before a restart.
                let before = match old {
                    Some(old) => Some(old.counts().clone()),
                    None => saved_counts(self.store.as_ref(), &self.camera),
                };
                if let Some(before) = before {
                    engine.restore_counts(&before);
                }
                tracing::info!(camera = %self.camera, tripwires = cfg.tripwires.len(), rois = cfg.rois.len(), "counting with new rules");
                self.engine = Some(engine);
            }
            Err(e) => {
                tracing::error!(camera = %self.camera, width = result.width, height = result.height, error = %e, "the analytics rules do not fit this stream; counting is off");
            }
        }
    }

    /// Runs the engine on one frame; the MQTT messages its results make.
    fn frame(&mut self, result: &FrameResult) -> Vec<osprey_sinks::MqttMessage> {
        self.refresh(result);
        let Some(engine) = self.engine.as_mut() else {
            return Vec::new();
        };
        let fa = engine.process(result);
        self.metrics.observe(&self.camera, &fa);
        if let Some(store) = &self.store {
            store.push(records(&self.camera, &fa, engine.counts()));
        }
        self.topics
            .on_frame(&fa, |id| raw_totals(engine.counts(), id))
    }

    /// The camera stops: objects still inside ROIs exit, open objects settle.
    fn finish(&mut self) -> Vec<osprey_sinks::MqttMessage> {
        let Some(engine) = self.engine.as_mut() else {
            return Vec::new();
        };
        let events = engine.finish();
        self.metrics.events(&self.camera, &events);
        if let Some(store) = &self.store {
            let fa = FrameAnalytics {
                seq: 0,
                pts: 0.0,
                wall: osprey_base::unix_now(),
                events: events.clone(),
                fov: Default::default(),
                rois: Vec::new(),
            };
            let mut batch = records(&self.camera, &fa, engine.counts());
            // Only the events and the totals: no occupancy sample for a stopped camera.
            batch.retain(|r| !matches!(r, AnalyticsRecord::Occupancy(_)));
            store.push(batch);
        }
        self.topics
            .on_events(&events, |id| raw_totals(engine.counts(), id))
    }
}

impl SinkFactory for Outputs {
    fn sink(&self, camera: &str) -> Box<dyn FrameSink> {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Box::new(CameraOutput {
            lifecycle: Lifecycle::new(camera, seed),
            frigate: frigate::EventEncoder::default(),
            counts: frigate::Counts::new(camera),
            bus: Arc::clone(&self.bus),
            events: self.events.clone(),
            counting: Some(Counting {
                camera: camera.to_string(),
                rules: Arc::clone(&self.rules),
                version: 0,
                engine: None,
                metrics: self.analytics_metrics.clone(),
                topics: AnalyticsTopics::new(camera),
                store: self.analytics_store.clone(),
            }),
        })
    }
}

/// One camera's output, on its detection thread.
struct CameraOutput {
    lifecycle: Lifecycle,
    frigate: frigate::EventEncoder,
    counts: frigate::Counts,
    bus: Arc<Bus>,
    events: Option<EventStore>,
    counting: Option<Counting>,
}

impl CameraOutput {
    fn publish(&self, messages: Vec<osprey_sinks::MqttMessage>) {
        if self.bus.has_mqtt() {
            for m in messages {
                self.bus.mqtt(m);
            }
        }
    }

    /// Object events to MQTT and the store; per-label counts to MQTT.
    fn objects(&mut self, result: &FrameResult) {
        let mqtt = self.bus.has_mqtt();
        for e in self.lifecycle.on_frame(result) {
            if mqtt {
                self.bus.mqtt(self.frigate.encode(&e));
            }
            if let Some(store) = &self.events {
                store.put(EventRecord::from_event(&e));
            }
        }
        if mqtt {
            for m in self.counts.on_frame(result) {
                self.bus.mqtt(m);
            }
        }
    }
}

impl FrameSink for CameraOutput {
    fn frame(&mut self, result: &FrameResult) {
        self.objects(result);
        if let Some(c) = self.counting.as_mut() {
            let m = c.frame(result);
            self.publish(m);
        }
        self.bus.frame(FrameMessage {
            camera: result.camera.clone(),
            json: deepstream::minimal_schema(result),
        });
    }

    fn finish(&mut self, last: &FrameResult) {
        self.objects(last);
        if let Some(c) = self.counting.as_mut() {
            let mut m = c.frame(last);
            m.extend(c.finish());
            self.publish(m);
        }
    }
}

/// A started server: the API's state, and what must stop when it stops.
#[derive(Debug)]
pub struct App {
    /// What the HTTP handlers share.
    pub state: Arc<AppState>,
    cameras: Arc<Cameras>,
    bus: Arc<Bus>,
}

impl App {
    /// The stop step for `osprey_api::serve`: the cameras first (their open tracks end and are
    /// published), then the publishers. Blocking.
    pub fn stopper(&self) -> impl FnOnce() + Send + 'static {
        let (cameras, bus) = (Arc::clone(&self.cameras), Arc::clone(&self.bus));
        let analytics = self.state.analytics.clone();
        move || {
            cameras.shutdown();
            bus.shutdown();
            // The cameras' last analytics (exits, totals) are committed before the exit.
            if let Some(a) = analytics {
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
    let events = if !cfg.cameras.is_empty() || cfg.store.events_db.exists() {
        Some(EventStore::open(&cfg.store.events_db, publish.clone())?)
    } else {
        None
    };
    let bus = Arc::new(
        Bus::start(cfg.redis.as_ref(), cfg.mqtt.as_ref(), publish)
            .context("starting the publishers")?,
    );
    let rules = Arc::new(rule_book(cfg));
    // The analytics time series: opened with cameras (or a database to read).
    let analytics_db = cfg.store.events_db.with_file_name("analytics.sqlite");
    let analytics_store = if !cfg.cameras.is_empty() || analytics_db.exists() {
        Some(AnalyticsStore::open(
            &analytics_db,
            osprey_store::AnalyticsConfig::default(),
            publish_counter.clone(),
        )?)
    } else {
        None
    };
    let cameras = Cameras::new(PipelineContext {
        models: models.clone(),
        metrics: camera_metrics,
        sinks: Arc::new(Outputs {
            bus: Arc::clone(&bus),
            events: events.clone(),
            rules: Arc::clone(&rules),
            analytics_metrics,
            analytics_store: analytics_store.clone(),
        }),
        clock: Arc::new(RealClock::default()),
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
    let state = Arc::new(AppState {
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
    });
    Ok(App {
        state,
        cameras,
        bus,
    })
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

/// Writes `rules` to a temporary file, syncs it, and renames it over `path`.
fn save_atomically(
    path: &std::path::Path,
    rules: &BTreeMap<String, AnalyticsConfig>,
) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec_pretty(rules).map_err(std::io::Error::other)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
