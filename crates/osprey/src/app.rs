//! The composition root of `osprey serve`: models (osprey-infer) → camera pipeline
//! (osprey-pipeline) → per camera: object lifecycle (osprey-analytics) → publishers
//! (osprey-sinks) and the event store (osprey-store); the HTTP API (osprey-api) over all of
//! them; one metrics registry; shutdown in order (cameras end their tracks while the
//! publishers are still up, then the publishers go).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use osprey_analytics::Lifecycle;
use osprey_api::{AppState, HttpMetrics};
use osprey_base::RealClock;
use osprey_config::ServeConfig;
use osprey_infer::Models;
use osprey_pipeline::{CameraMetrics, Cameras, FrameSink, PipelineContext, SinkFactory};
use osprey_schema::FrameResult;
use osprey_sinks::{deepstream, frigate, Bus, FrameMessage};
use osprey_store::{EventRecord, EventStore};

/// Where every camera's results go: the shared publishers and the event store.
#[derive(Debug)]
struct Outputs {
    bus: Arc<Bus>,
    events: Option<EventStore>,
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
}

impl CameraOutput {
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
        self.bus.frame(FrameMessage {
            camera: result.camera.clone(),
            json: deepstream::minimal_schema(result),
        });
    }

    fn finish(&mut self, last: &FrameResult) {
        self.objects(last);
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
