//! Frigate's MQTT conventions, per camera: `<prefix>/events` messages (`type` new / update /
//! end with `before` and `after`), and retained per-label counts `<prefix>/<camera>/<label>` and
//! `<prefix>/<camera>/all` published when they change.

use std::collections::{BTreeMap, HashMap};

use osprey_schema::{FrameResult, ObjectEvent, ObjectSnapshot};
use serde_json::{json, Value};

use crate::MqttMessage;

/// Frigate's event object for `s`.
fn frigate(s: &ObjectSnapshot) -> Value {
    let b = s.bbox;
    let area = ((b[2] - b[0]) * (b[3] - b[1])).max(0.0);
    let ratio = (b[2] - b[0]) / (b[3] - b[1]).max(1.0);
    json!({
        "id": s.id,
        "camera": s.camera,
        "frame_time": s.frame_time,
        "label": s.label,
        "sub_label": null,
        "top_score": s.top_score,
        "score": s.score,
        "box": b.map(|v| v.round() as i64),
        "area": area.round() as i64,
        "ratio": ratio,
        "region": b.map(|v| v.round() as i64),
        "stationary": false,
        "motionless_count": 0,
        "position_changes": 0,
        "current_zones": [],
        "entered_zones": [],
        "has_clip": false,
        "has_snapshot": false,
        "start_time": s.start_time,
        "end_time": s.end_time,
        "false_positive": false,
        "active": s.end_time.is_none(),
        "track_id": s.track_id,
    })
}

/// Encodes one camera's object events as Frigate `events` messages; remembers each object's
/// last `after` to send as the next `before`.
#[derive(Debug, Default)]
pub struct EventEncoder {
    last: HashMap<String, Value>,
}

impl EventEncoder {
    /// The `events` message for `e`.
    pub fn encode(&mut self, e: &ObjectEvent) -> MqttMessage {
        let s = e.snapshot();
        let after = frigate(s);
        let before = match e {
            ObjectEvent::New(_) => after.clone(),
            ObjectEvent::Update(_) | ObjectEvent::End(_) => {
                self.last.remove(&s.id).unwrap_or(Value::Null)
            }
        };
        if !matches!(e, ObjectEvent::End(_)) {
            self.last.insert(s.id.clone(), after.clone());
        }
        MqttMessage {
            topic: "events".into(),
            payload: json!({"type": e.kind(), "before": before, "after": after})
                .to_string()
                .into_bytes(),
            retain: false,
        }
    }
}

/// One camera's retained per-label counts of objects in view.
#[derive(Debug)]
pub struct Counts {
    camera: String,
    counts: BTreeMap<String, usize>,
    all: Option<usize>,
}

impl Counts {
    /// Counts for `camera`.
    pub fn new(camera: &str) -> Counts {
        Counts {
            camera: camera.to_string(),
            counts: BTreeMap::new(),
            all: None,
        }
    }

    /// The retained messages `frame` changes.
    pub fn on_frame(&mut self, frame: &FrameResult) -> Vec<MqttMessage> {
        let mut out = Vec::new();
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for o in &frame.objects {
            *counts.entry(o.label.clone()).or_default() += 1;
        }
        let labels: Vec<String> = counts.keys().chain(self.counts.keys()).cloned().collect();
        for label in labels {
            let new = counts.get(&label).copied().unwrap_or(0);
            if self.counts.get(&label).copied().unwrap_or(0) != new
                || (new > 0 && !self.counts.contains_key(&label))
            {
                out.push(MqttMessage {
                    topic: format!("{}/{label}", self.camera),
                    payload: new.to_string().into_bytes(),
                    retain: true,
                });
            }
        }
        let all = frame.objects.len();
        if self.all != Some(all) {
            self.all = Some(all);
            out.push(MqttMessage {
                topic: format!("{}/all", self.camera),
                payload: all.to_string().into_bytes(),
                retain: true,
            });
        }
        self.counts = counts;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use osprey_schema::TrackedObject;

    fn snap(end: Option<f64>, score: f32) -> ObjectSnapshot {
        ObjectSnapshot {
            id: "1.0-abc".into(),
            camera: "front".into(),
            track_id: 4,
            label: "person".into(),
            start_time: 1.0,
            end_time: end,
            top_score: score,
            top_bbox: [0.0, 0.0, 10.0, 20.0],
            score,
            bbox: [0.0, 0.0, 10.0, 20.0],
            frames: 1,
            frame_time: 1.0,
        }
    }

    fn payload(m: &MqttMessage) -> Value {
        serde_json::from_slice(&m.payload).expect("json")
    }

    #[test]
    fn events_carry_before_and_after() {
        let mut enc = EventEncoder::default();
        let new = payload(&enc.encode(&ObjectEvent::New(snap(None, 0.5))));
        assert_eq!(new["type"], "new");
        assert_eq!(new["before"], new["after"]);
        assert_eq!(new["after"]["active"], true);
        let upd = payload(&enc.encode(&ObjectEvent::Update(snap(None, 0.8))));
        assert_eq!(upd["before"]["top_score"].as_f64(), Some(0.5));
        assert!((upd["after"]["top_score"].as_f64().expect("score") - 0.8).abs() < 1e-6);
        let end = payload(&enc.encode(&ObjectEvent::End(snap(Some(3.0), 0.8))));
        assert_eq!(end["type"], "end");
        assert_eq!(end["after"]["active"], false);
        assert_eq!(end["before"]["active"], true);
        assert!(enc.last.is_empty(), "ended objects are forgotten");
    }

    #[test]
    fn counts_are_published_when_they_change() {
        let mut c = Counts::new("front");
        let person = TrackedObject {
            track_id: 1,
            class_id: 0,
            label: "person".into(),
            bbox: [0.0; 4],
            confidence: 0.9,
            matched: true,
        };
        let frame = |objects: Vec<TrackedObject>| FrameResult {
            camera: "front".into(),
            seq: 1,
            frame: 0,
            pts: 0.0,
            wall: 0.0,
            width: 10,
            height: 10,
            objects,
            ended: vec![],
        };
        let topics = |m: Vec<MqttMessage>| {
            m.into_iter()
                .map(|m| format!("{}={}", m.topic, String::from_utf8_lossy(&m.payload)))
                .collect::<Vec<_>>()
        };
        assert_eq!(topics(c.on_frame(&frame(vec![]))), ["front/all=0"]);
        assert_eq!(
            topics(c.on_frame(&frame(vec![person.clone(), person.clone()]))),
            ["front/person=2", "front/all=2"]
        );
        assert!(c.on_frame(&frame(vec![person.clone(), person])).is_empty());
        assert_eq!(
            topics(c.on_frame(&frame(vec![]))),
            ["front/person=0", "front/all=0"]
        );
    }
}
