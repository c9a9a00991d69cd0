//! Each camera's output, on its detection thread: object lifecycle → Frigate and DeepStream
//! encoders → the bus and the event store, the events' snapshots → their writer; counting (analytics engine and alert rules) →
//! Prometheus, MQTT, Redis events, webhooks and the analytics store, totals restored after a
//! restart.

use std::sync::Arc;

use osprey_analytics::{AlertEngine, Analytics, Counts, Lifecycle, RuleBook};
use osprey_image::RgbImage;
use osprey_pipeline::{FrameSink, SinkFactory};
use osprey_schema::analytics::{Alert, AnalyticsEvent, Direction, FrameAnalytics};
use osprey_schema::FrameResult;
use osprey_sinks::analytics::{event_kind, AnalyticsMetrics, AnalyticsTopics};
use osprey_sinks::webhook::Webhooks;
use osprey_sinks::{deepstream, frigate, Bus, FrameMessage};
use osprey_store::{AnalyticsRecord, AnalyticsStore, EventRecord, EventStore};

use crate::recording::EventClips;
use crate::snapshots::{SnapshotPlan, Snapshots, WRITE_EVERY};

/// Where every camera's results go: the shared publishers and the event store, and the
/// analytics rules per camera.
#[derive(Debug)]
pub(crate) struct Outputs {
    pub(crate) bus: Arc<Bus>,
    pub(crate) webhooks: Arc<Webhooks>,
    pub(crate) events: Option<EventStore>,
    pub(crate) rules: Arc<RuleBook>,
    pub(crate) analytics_metrics: AnalyticsMetrics,
    pub(crate) analytics_store: Option<AnalyticsStore>,
    pub(crate) clips: Arc<EventClips>,
    /// The events' snapshot writer (`None`: no event store).
    pub(crate) snapshots: Option<Arc<Snapshots>>,
}

/// The store's records for one frame's analytics: events, occupancy samples (FOV and each
/// ROI), and, with any crossing, the totals snapshot in the same batch (so restored totals
/// always agree with the stored events).
fn records(
    camera: &str,
    fa: &FrameAnalytics,
    alerts: &[Alert],
    counts: &Counts,
) -> Vec<AnalyticsRecord> {
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
    for a in alerts {
        let Ok(json) = serde_json::to_string(a) else {
            continue;
        };
        out.push(AnalyticsRecord::Alert(st::AlertRow {
            id: a.id.clone(),
            camera: camera.to_string(),
            kind: a.kind.as_str().to_string(),
            rule_id: a.rule_id.clone(),
            start_ms: (a.start * 1000.0).round() as i64,
            end_ms: a.end.map(|e| (e * 1000.0).round() as i64),
            json,
        }));
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
    alerts: Option<AlertEngine>,
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
        self.alerts = None;
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
                tracing::info!(camera = %self.camera, tripwires = cfg.tripwires.len(), rois = cfg.rois.len(), alert_rules = cfg.alerts.tripwire.len() + cfg.alerts.roi.len() + cfg.alerts.fov.len(), "counting with new rules");
                self.engine = Some(engine);
                let alerts = AlertEngine::new(&self.camera, &cfg);
                self.alerts = (!alerts.is_empty()).then_some(alerts);
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
        let alerts = self
            .alerts
            .as_mut()
            .map(|a| a.frame(&fa))
            .unwrap_or_default();
        self.metrics.observe(&self.camera, &fa);
        self.metrics.alerts(&self.camera, &alerts);
        if let Some(store) = &self.store {
            store.push(records(&self.camera, &fa, &alerts, engine.counts()));
        }
        let mut out = self
            .topics
            .on_frame(&fa, |id| raw_totals(engine.counts(), id));
        out.extend(self.topics.on_alerts(&alerts));
        out
    }

    /// The camera stops: objects still inside ROIs exit, open objects settle.
    fn finish(&mut self) -> Vec<osprey_sinks::MqttMessage> {
        let Some(engine) = self.engine.as_mut() else {
            return Vec::new();
        };
        let events = engine.finish();
        let now = osprey_base::unix_now();
        let alerts = self
            .alerts
            .as_mut()
            .map(|a| a.finish(now))
            .unwrap_or_default();
        self.metrics.events(&self.camera, &events);
        self.metrics.alerts(&self.camera, &alerts);
        if let Some(store) = &self.store {
            let fa = FrameAnalytics {
                seq: 0,
                pts: 0.0,
                wall: now,
                events: events.clone(),
                fov: Default::default(),
                rois: Vec::new(),
            };
            let mut batch = records(&self.camera, &fa, &alerts, engine.counts());
            // Only the events and the totals: no occupancy sample for a stopped camera.
            batch.retain(|r| !matches!(r, AnalyticsRecord::Occupancy(_)));
            store.push(batch);
        }
        let mut out = self
            .topics
            .on_events(&events, |id| raw_totals(engine.counts(), id));
        out.extend(self.topics.on_alerts(&alerts));
        out
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
            webhooks: Arc::clone(&self.webhooks),
            clips: Arc::clone(&self.clips),
            events: self.events.clone(),
            snapshots: self
                .snapshots
                .as_ref()
                .map(|w| (SnapshotPlan::new(WRITE_EVERY), Arc::clone(w))),
            counting: Some(Counting {
                camera: camera.to_string(),
                rules: Arc::clone(&self.rules),
                version: 0,
                engine: None,
                alerts: None,
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
    webhooks: Arc<Webhooks>,
    clips: Arc<EventClips>,
    events: Option<EventStore>,
    /// When each event's snapshot is due, and the writer.
    snapshots: Option<(SnapshotPlan<Arc<RgbImage>>, Arc<Snapshots>)>,
    counting: Option<Counting>,
}

impl CameraOutput {
    /// Analytics messages to MQTT; their events (crossings, ROI events, alerts) also to the
    /// Redis events stream and the webhooks.
    fn publish(&self, camera: &str, messages: Vec<osprey_sinks::MqttMessage>) {
        let (redis, hooks) = (self.bus.has_redis(), !self.webhooks.is_empty());
        for m in messages {
            if let Some(kind) = event_kind(&m).filter(|_| redis || hooks) {
                let json = String::from_utf8_lossy(&m.payload).into_owned();
                self.webhooks.send(camera, kind, &json);
                if redis {
                    self.bus.event(camera, json);
                }
            }
            if self.bus.has_mqtt() {
                self.bus.mqtt(m);
            }
        }
    }

    /// Object events to MQTT and the store, their snapshots (from `image`, the frame's) to the
    /// snapshot writer; per-label counts to MQTT.
    fn objects(&mut self, result: &FrameResult, image: Option<&Arc<RgbImage>>) {
        let mqtt = self.bus.has_mqtt();
        let events = self.lifecycle.on_frame(result);
        if let Some((plan, writer)) = self.snapshots.as_mut() {
            for shot in plan.on_frame(result.wall, &events, &result.objects, image) {
                writer.send(&result.camera, shot);
            }
        }
        for e in events {
            let s = e.snapshot();
            self.clips
                .hold(&s.camera, s.start_time, s.end_time.unwrap_or(s.frame_time));
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

impl CameraOutput {
    fn process(&mut self, result: &FrameResult, image: Option<&Arc<RgbImage>>) {
        self.objects(result, image);
        if let Some(c) = self.counting.as_mut() {
            let m = c.frame(result);
            self.publish(&result.camera, m);
        }
        self.bus.frame(FrameMessage {
            camera: result.camera.clone(),
            json: deepstream::minimal_schema(result),
        });
    }
}

impl FrameSink for CameraOutput {
    fn frame(&mut self, result: &FrameResult) {
        self.process(result, None);
    }

    fn frame_with_image(&mut self, result: &FrameResult, image: &Arc<RgbImage>) {
        self.process(result, Some(image));
    }

    fn finish(&mut self, last: &FrameResult) {
        self.objects(last, None);
        if let Some(c) = self.counting.as_mut() {
            let mut m = c.frame(last);
            m.extend(c.finish());
            self.publish(&last.camera, m);
        }
    }
}
