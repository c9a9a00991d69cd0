//! Analytics results on the bus and in Prometheus, per camera: every tripwire crossing, ROI
//! event and alert as an MQTT message (`<prefix>/<camera>/tripwire/<id>`,
//! `<prefix>/<camera>/roi/<id>`, `<prefix>/<camera>/alert/<rule id>`), retained counts
//! (`…/tripwire/<id>/count` as `{"in","out"}`, `…/roi/<id>/occupancy`, `…/fov/occupancy`) and
//! alert states (`…/alert/<rule id>/state`: `ON` / `OFF`, lasting alerts) published when they
//! change, and the `osprey_tripwire_crossings_total`, `osprey_roi_events_total`,
//! `osprey_roi_occupancy`, `osprey_fov_occupancy`, `osprey_alerts_total` and
//! `osprey_alerts_active` series. The same event JSON goes to Redis and webhooks
//! ([`event_kind`] says which kind a message carries).

use std::collections::BTreeMap;

use osprey_schema::analytics::{Alert, AnalyticsEvent, FrameAnalytics};
use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};
use serde_json::json;

use crate::MqttMessage;

/// The analytics series.
#[derive(Debug, Clone)]
pub struct AnalyticsMetrics {
    crossings: IntCounterVec,
    roi_events: IntCounterVec,
    roi_occupancy: IntGaugeVec,
    fov_occupancy: IntGaugeVec,
    alerts: IntCounterVec,
    alerts_active: IntGaugeVec,
}

impl AnalyticsMetrics {
    /// Registers the series in `registry`.
    pub fn register(registry: &Registry) -> Result<AnalyticsMetrics, prometheus::Error> {
        let crossings = IntCounterVec::new(
            Opts::new(
                "osprey_tripwire_crossings_total",
                "Tripwire crossings (every event, Metropolis actualCount) by camera, tripwire, direction and class",
            ),
            &["camera", "tripwire", "direction", "label"],
        )?;
        let roi_events = IntCounterVec::new(
            Opts::new(
                "osprey_roi_events_total",
                "ROI entries, exits and loitering events by camera, ROI and class",
            ),
            &["camera", "roi", "kind", "label"],
        )?;
        let roi_occupancy = IntGaugeVec::new(
            Opts::new(
                "osprey_roi_occupancy",
                "Objects inside the ROI in the latest frame (after inertia)",
            ),
            &["camera", "roi"],
        )?;
        let fov_occupancy = IntGaugeVec::new(
            Opts::new(
                "osprey_fov_occupancy",
                "Tracked objects in the camera's latest frame",
            ),
            &["camera"],
        )?;
        let alerts = IntCounterVec::new(
            Opts::new(
                "osprey_alerts_total",
                "Alerts raised by camera, alert rule, kind (tripwire, roi, fov) and rule type",
            ),
            &["camera", "rule", "kind", "rule_type"],
        )?;
        let alerts_active = IntGaugeVec::new(
            Opts::new(
                "osprey_alerts_active",
                "Lasting alerts (flowrate, occupancy_threshold) in progress by camera and rule",
            ),
            &["camera", "rule"],
        )?;
        registry.register(Box::new(alerts.clone()))?;
        registry.register(Box::new(alerts_active.clone()))?;
        registry.register(Box::new(crossings.clone()))?;
        registry.register(Box::new(roi_events.clone()))?;
        registry.register(Box::new(roi_occupancy.clone()))?;
        registry.register(Box::new(fov_occupancy.clone()))?;
        Ok(AnalyticsMetrics {
            crossings,
            roi_events,
            roi_occupancy,
            fov_occupancy,
            alerts,
            alerts_active,
        })
    }

    /// Counts alerts raised and tracks lasting ones in progress.
    pub fn alerts(&self, camera: &str, alerts: &[Alert]) {
        for a in alerts {
            // A lasting alert is reported twice (start, end): count its start only.
            if !a.lasting || a.end.is_none() {
                self.alerts
                    .with_label_values(&[camera, &a.rule_id, a.kind.as_str(), &a.rule_type])
                    .inc();
            }
            if a.lasting {
                self.alerts_active
                    .with_label_values(&[camera, &a.rule_id])
                    .set(i64::from(a.end.is_none()));
            }
        }
    }

    /// Counts one frame's results.
    pub fn observe(&self, camera: &str, fa: &FrameAnalytics) {
        self.events(camera, &fa.events);
        self.fov_occupancy
            .with_label_values(&[camera])
            .set(i64::from(fa.fov.total));
        for r in &fa.rois {
            self.roi_occupancy
                .with_label_values(&[camera, r.rule_id.as_str()])
                .set(i64::from(r.occupancy.total));
        }
    }

    /// Counts events (also those of a stopping camera).
    pub fn events(&self, camera: &str, events: &[AnalyticsEvent]) {
        for e in events {
            match e {
                AnalyticsEvent::Crossing(c) => self
                    .crossings
                    .with_label_values(&[camera, &c.rule_id, c.direction.as_str(), &c.label])
                    .inc(),
                AnalyticsEvent::RoiEnter(r)
                | AnalyticsEvent::RoiExit(r)
                | AnalyticsEvent::Loitering(r) => self
                    .roi_events
                    .with_label_values(&[camera, &r.rule_id, kind(e), &r.label])
                    .inc(),
            }
        }
    }
}

fn kind(e: &AnalyticsEvent) -> &'static str {
    match e {
        AnalyticsEvent::Crossing(_) => "crossing",
        AnalyticsEvent::RoiEnter(_) => "enter",
        AnalyticsEvent::RoiExit(_) => "exit",
        AnalyticsEvent::Loitering(_) => "loitering",
    }
}

/// One camera's analytics on MQTT: events as they happen, retained counts when they change.
#[derive(Debug)]
pub struct AnalyticsTopics {
    camera: String,
    occupancy: BTreeMap<String, u32>,
}

impl AnalyticsTopics {
    /// Topics for `camera`.
    pub fn new(camera: &str) -> AnalyticsTopics {
        AnalyticsTopics {
            camera: camera.to_string(),
            occupancy: BTreeMap::new(),
        }
    }

    /// The messages for one frame's results; `totals` gives a tripwire's raw IN/OUT totals
    /// after the frame (the engine's, which survive restarts), for its retained count.
    pub fn on_frame(
        &mut self,
        fa: &FrameAnalytics,
        totals: impl Fn(&str) -> (u64, u64),
    ) -> Vec<MqttMessage> {
        let mut out = self.on_events(&fa.events, totals);
        let mut occ = |key: String, n: u32, out: &mut Vec<MqttMessage>| {
            if self.occupancy.insert(key.clone(), n) != Some(n) {
                out.push(MqttMessage {
                    topic: format!("{}/{key}/occupancy", self.camera),
                    payload: n.to_string().into_bytes(),
                    retain: true,
                });
            }
        };
        occ("fov".to_string(), fa.fov.total, &mut out);
        for r in &fa.rois {
            occ(format!("roi/{}", r.rule_id), r.occupancy.total, &mut out);
        }
        out
    }

    /// The messages for alerts: the alert itself, and for a lasting one its retained state.
    pub fn on_alerts(&self, alerts: &[Alert]) -> Vec<MqttMessage> {
        let mut out = Vec::new();
        for a in alerts {
            let topic = format!("{}/alert/{}", self.camera, a.rule_id);
            if a.lasting {
                out.push(MqttMessage {
                    topic: format!("{topic}/state"),
                    payload: if a.end.is_none() { "ON" } else { "OFF" }.into(),
                    retain: true,
                });
            }
            out.push(MqttMessage {
                topic,
                payload: alert_json(a).to_string().into_bytes(),
                retain: false,
            });
        }
        out
    }

    /// The messages for events (also those of a stopping camera).
    pub fn on_events(
        &mut self,
        events: &[AnalyticsEvent],
        totals: impl Fn(&str) -> (u64, u64),
    ) -> Vec<MqttMessage> {
        let mut out = Vec::new();
        for e in events {
            let (topic, body) = match e {
                AnalyticsEvent::Crossing(c) => {
                    let (i, o) = totals(&c.rule_id);
                    out.push(MqttMessage {
                        topic: format!("{}/tripwire/{}/count", self.camera, c.rule_id),
                        payload: json!({"in": i, "out": o}).to_string().into_bytes(),
                        retain: true,
                    });
                    (
                        format!("{}/tripwire/{}", self.camera, c.rule_id),
                        json!({
                            "type": "crossing", "camera": self.camera, "tripwire": c.rule_id,
                            "direction": c.direction.as_str(), "direction_name": c.direction_name,
                            "track_id": c.track_id, "object_id": c.object_id, "label": c.label,
                            "timestamp": osprey_base::rfc3339(c.wall),
                        }),
                    )
                }
                AnalyticsEvent::RoiEnter(r)
                | AnalyticsEvent::RoiExit(r)
                | AnalyticsEvent::Loitering(r) => (
                    format!("{}/roi/{}", self.camera, r.rule_id),
                    json!({
                        "type": kind(e), "camera": self.camera, "roi": r.rule_id,
                        "track_id": r.track_id, "object_id": r.object_id, "label": r.label,
                        "dwell_seconds": r.dwell_seconds,
                        "timestamp": osprey_base::rfc3339(r.wall),
                    }),
                ),
            };
            out.push(MqttMessage {
                topic,
                payload: body.to_string().into_bytes(),
                retain: false,
            });
        }
        out
    }
}

/// An alert as JSON (MQTT, Redis, webhooks).
pub fn alert_json(a: &Alert) -> serde_json::Value {
    json!({
        "type": "alert", "id": a.id, "camera": a.camera, "kind": a.kind.as_str(),
        "rule_id": a.rule_id, "rule_type": a.rule_type, "target_id": a.target_id,
        "count": a.count, "direction": a.direction, "direction_name": a.direction_name,
        "description": a.description, "start": osprey_base::rfc3339(a.start),
        "end": a.end.map(osprey_base::rfc3339), "active": a.lasting && a.end.is_none(),
        "attributes": a.attributes,
    })
}

/// The event kind an analytics message carries (`crossing`, `roi` or `alert`), for Redis and
/// webhooks; `None` for retained state (counts, occupancy, alert states).
pub fn event_kind(m: &MqttMessage) -> Option<&'static str> {
    if m.retain {
        return None;
    }
    match m.topic.split('/').rev().nth(1)? {
        "tripwire" => Some("crossing"),
        "roi" => Some("roi"),
        "alert" => Some("alert"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use osprey_schema::analytics::{CrossingEvent, Direction, Occupancy, RoiEvent, RoiOccupancy};

    fn frame(events: Vec<AnalyticsEvent>, roi: u32) -> FrameAnalytics {
        let mut occ = Occupancy::default();
        for _ in 0..roi {
            occ.add("person");
        }
        FrameAnalytics {
            seq: 1,
            pts: 0.1,
            wall: 1_795_340_418.871,
            events,
            fov: occ.clone(),
            rois: vec![RoiOccupancy {
                rule_id: "R".into(),
                occupancy: occ,
            }],
        }
    }

    fn crossing(direction: Direction) -> AnalyticsEvent {
        AnalyticsEvent::Crossing(CrossingEvent {
            rule_id: "door".into(),
            track_id: 4,
            object_id: 3,
            label: "person".into(),
            direction,
            direction_name: "entry".into(),
            seq: 1,
            crossed_seq: 1,
            pts: 0.1,
            wall: 1_795_340_418.871,
        })
    }

    #[test]
    fn events_and_retained_counts() {
        let mut t = AnalyticsTopics::new("front");
        let m = t.on_frame(&frame(vec![crossing(Direction::In)], 1), |_| (3, 1));
        let topics: Vec<(&str, String, bool)> = m
            .iter()
            .map(|m| {
                (
                    m.topic.as_str(),
                    String::from_utf8_lossy(&m.payload).to_string(),
                    m.retain,
                )
            })
            .collect();
        assert_eq!(topics[0].0, "front/tripwire/door/count");
        assert_eq!(
            topics[0].1, r#"{"in":3,"out":1}"#,
            "restored totals plus one"
        );
        assert!(topics[0].2);
        assert_eq!(topics[1].0, "front/tripwire/door");
        let e: serde_json::Value = serde_json::from_str(&topics[1].1).expect("json");
        assert_eq!(e["direction"], "in");
        assert_eq!(e["timestamp"], "2026-11-22T09:40:18.871Z");
        assert_eq!(topics[2].0, "front/fov/occupancy");
        assert_eq!(topics[3].0, "front/roi/R/occupancy");
        // Unchanged occupancy is not sent again; an ROI exit is.
        let exit = AnalyticsEvent::RoiExit(RoiEvent {
            rule_id: "R".into(),
            track_id: 4,
            object_id: 3,
            label: "person".into(),
            seq: 2,
            pts: 0.2,
            wall: 1.0,
            dwell_seconds: Some(2.5),
        });
        let m = t.on_frame(&frame(vec![exit], 1), |_| (3, 1));
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].topic, "front/roi/R");
        assert!(String::from_utf8_lossy(&m[0].payload).contains("\"dwell_seconds\":2.5"));
    }

    #[test]
    fn alerts_publish_events_states_and_metrics() {
        use osprey_schema::analytics::{Alert, AlertKind};
        let start = Alert {
            id: "front:crowd:1".into(),
            camera: "front".into(),
            kind: AlertKind::Roi,
            rule_type: "occupancy_threshold".into(),
            rule_id: "crowd".into(),
            target_id: Some("queue".into()),
            count: 4,
            direction: None,
            direction_name: None,
            description: "4 objects in queue".into(),
            start: 1_795_340_418.0,
            end: None,
            lasting: true,
            attributes: BTreeMap::new(),
        };
        let end = Alert {
            end: Some(1_795_340_428.0),
            ..start.clone()
        };
        let t = AnalyticsTopics::new("front");
        let m = t.on_alerts(std::slice::from_ref(&start));
        assert_eq!(m[0].topic, "front/alert/crowd/state");
        assert_eq!(m[0].payload, b"ON");
        assert!(m[0].retain);
        assert_eq!(event_kind(&m[0]), None);
        assert_eq!(m[1].topic, "front/alert/crowd");
        assert_eq!(event_kind(&m[1]), Some("alert"));
        let e: serde_json::Value = serde_json::from_slice(&m[1].payload).expect("json");
        assert_eq!(
            (e["active"].clone(), e["count"].clone()),
            (true.into(), 4.into())
        );
        assert_eq!(t.on_alerts(std::slice::from_ref(&end))[0].payload, b"OFF");
        let reg = Registry::new();
        let metrics = AnalyticsMetrics::register(&reg).expect("register");
        metrics.alerts("front", &[start]);
        let active = || {
            metrics
                .alerts_active
                .with_label_values(&["front", "crowd"])
                .get()
        };
        assert_eq!(active(), 1);
        metrics.alerts("front", &[end]);
        assert_eq!(active(), 0);
        let raised = metrics
            .alerts
            .with_label_values(&["front", "crowd", "roi", "occupancy_threshold"])
            .get();
        assert_eq!(raised, 1, "a lasting alert counts once");
        let crossing_msg = MqttMessage {
            topic: "front/tripwire/door".into(),
            payload: vec![],
            retain: false,
        };
        assert_eq!(event_kind(&crossing_msg), Some("crossing"));
    }

    #[test]
    fn metrics_count_by_rule_direction_and_class() {
        let reg = Registry::new();
        let m = AnalyticsMetrics::register(&reg).expect("register");
        m.observe(
            "front",
            &frame(vec![crossing(Direction::In), crossing(Direction::Out)], 2),
        );
        m.observe("front", &frame(vec![crossing(Direction::In)], 1));
        let c = |d: &str| {
            m.crossings
                .with_label_values(&["front", "door", d, "person"])
                .get()
        };
        assert_eq!((c("in"), c("out")), (2, 1));
        assert_eq!(m.roi_occupancy.with_label_values(&["front", "R"]).get(), 1);
    }
}
