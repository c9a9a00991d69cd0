//! The composition root of `osprey serve`: models (osprey-infer) → camera pipeline
//! (osprey-pipeline) → per camera: object lifecycle and counting (osprey-analytics) →
//! publishers and Prometheus (osprey-sinks) and the event store (osprey-store); the HTTP API (osprey-api) over all of
//! them; one metrics registry; shutdown in order (cameras end their tracks while the
//! publishers are still up, then the publishers go).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use std::collections::BTreeMap;

use osprey_analytics::{Analytics, AnalyticsConfig, Lifecycle};
use osprey_api::{AppState, HttpMetrics};
use osprey_base::RealClock;
use osprey_config::ServeConfig;
use osprey_infer::Models;
use osprey_pipeline::{CameraMetrics, Cameras, FrameSink, PipelineContext, SinkFactory};
use osprey_schema::FrameResult;
use osprey_sinks::analytics::{AnalyticsMetrics, AnalyticsTopics};
use osprey_sinks::{deepstream, frigate, Bus, FrameMessage};
use osprey_store::{EventRecord, EventStore};

/// Where every camera's results go: the shared publishers and the event store, and the
/// analytics rules per camera.
#[derive(Debug)]
struct Outputs {
    bus: Arc<Bus>,
    events: Option<EventStore>,
    rules: BTreeMap<String, AnalyticsConfig>,
    analytics_metrics: AnalyticsMetrics,
}

/// One camera's counting: its rules, compiled for the stream's frame size at the first frame.
struct Counting {
    camera: String,
    rules: AnalyticsConfig,
    engine: Option<Analytics>,
    /// The rules did not fit the stream (reported once; counting is off).
    failed: bool,
    metrics: AnalyticsMetrics,
    topics: AnalyticsTopics,
}

impl Counting {
    /// Runs the engine on one frame; the MQTT messages its results make.
    fn frame(&mut self, result: &FrameResult) -> Vec<osprey_sinks::MqttMessage> {
        if self.engine.is_none() && !self.failed {
            match self.rules.validate(result.width, result.height) {
                Ok(rules) => self.engine = Some(Analytics::new(rules)),
                Err(e) => {
                    tracing::error!(camera = %self.camera, width = result.width, height = result.height, error = %e, "the analytics rules do not fit this stream; counting is off");
                    self.failed = true;
                }
            }
        }
        let Some(engine) = self.engine.as_mut() else {
            return Vec::new();
        };
        let fa = engine.process(result);
        self.metrics.observe(&self.camera, &fa);
        self.topics.on_frame(&fa)
    }

    /// The camera stops: objects still inside ROIs exit, open objects settle.
    fn finish(&mut self) -> Vec<osprey_sinks::MqttMessage> {
        let Some(engine) = self.engine.as_mut() else {
            return Vec::new();
        };
        let events = engine.finish();
        self.metrics.events(&self.camera, &events);
        self.topics.on_events(&events)
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
            counting: self.rules.get(camera).map(|rules| Counting {
                camera: camera.to_string(),
                rules: rules.clone(),
                engine: None,
                failed: false,
                metrics: self.analytics_metrics.clone(),
                topics: AnalyticsTopics::new(camera, BTreeMap::new()),
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
        move || {
            cameras.shutdown();
            bus.shutdown();
        }
    }
}

/// Loads the models, opens the store and the publishers, starts the configured cameras.
pub fn start(cfg: &ServeConfig) -> anyhow::Result<App> {
    let metrics = HttpMetrics::new().context("metrics")?;
    let registry = metrics.registry();
    let models = Models::load(&cfg.models, registry)?;
    let publish = osprey_sinks::register_metrics(registry).context("metrics")?;
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
    let cameras = Cameras::new(PipelineContext {
        models: models.clone(),
        metrics: camera_metrics,
        sinks: Arc::new(Outputs {
            bus: Arc::clone(&bus),
            events: events.clone(),
            rules: cfg.analytics.clone(),
            analytics_metrics,
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
    });
    Ok(App {
        state,
        cameras,
        bus,
    })
}
