//! The object-event lifecycle of one camera: `new` when a track is first reported, `update` when
//! its best score improves (at most once a second), `end` when the tracker gives it up. Pure:
//! the frame's wall time is the clock, and the events are returned, not sent.

use std::collections::HashMap;

use osprey_schema::{FrameResult, ObjectEvent, ObjectSnapshot, TrackedObject};

/// Least time between two `update` events of one object, in seconds.
pub const UPDATE_EVERY: f64 = 1.0;

#[derive(Debug)]
struct Live {
    snap: ObjectSnapshot,
    last_sent: f64,
}

/// Per-camera object lifecycle.
#[derive(Debug)]
pub struct Lifecycle {
    camera: String,
    live: HashMap<u64, Live>,
    nonce: u64,
}

impl Lifecycle {
    /// A lifecycle for `camera`; `seed` makes event ids of restarts within the same second
    /// differ (pass the clock's nanoseconds).
    pub fn new(camera: &str, seed: u64) -> Lifecycle {
        Lifecycle {
            camera: camera.to_string(),
            live: HashMap::new(),
            nonce: seed,
        }
    }

    /// Objects alive now.
    pub fn live(&self) -> usize {
        self.live.len()
    }

    fn next_id(&mut self, now: f64) -> String {
        self.nonce = self
            .nonce
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        format!("{now:.6}-{:06x}", (self.nonce >> 40) & 0xff_ffff)
    }

    fn start(&mut self, o: &TrackedObject, now: f64) -> ObjectEvent {
        let snap = ObjectSnapshot {
            id: self.next_id(now),
            camera: self.camera.clone(),
            track_id: o.track_id,
            label: o.label.clone(),
            start_time: now,
            end_time: None,
            top_score: o.confidence,
            top_bbox: o.bbox,
            score: o.confidence,
            bbox: o.bbox,
            frames: 0,
            frame_time: now,
        };
        self.live.insert(
            o.track_id,
            Live {
                snap: snap.clone(),
                last_sent: now,
            },
        );
        ObjectEvent::New(snap)
    }

    /// Takes one processed frame; returns its events in order: `new`s, then `update`s, then
    /// `end`s.
    pub fn on_frame(&mut self, frame: &FrameResult) -> Vec<ObjectEvent> {
        let now = frame.wall;
        let mut out = Vec::new();
        for o in &frame.objects {
            if !self.live.contains_key(&o.track_id) {
                out.push(self.start(o, now));
            }
        }
        for o in &frame.objects {
            let Some(live) = self.live.get_mut(&o.track_id) else {
                continue;
            };
            let s = &mut live.snap;
            s.bbox = o.bbox;
            s.score = o.confidence;
            s.frames += 1;
            s.frame_time = now;
            let better = o.matched && o.confidence > s.top_score;
            if better {
                s.top_score = o.confidence;
                s.top_bbox = o.bbox;
            }
            if better && now - live.last_sent >= UPDATE_EVERY {
                live.last_sent = now;
                out.push(ObjectEvent::Update(s.clone()));
            }
        }
        for o in &frame.ended {
            if let Some(mut live) = self.live.remove(&o.track_id) {
                live.snap.end_time = Some(now);
                live.snap.frame_time = now;
                out.push(ObjectEvent::End(live.snap));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(id: u64, conf: f32, matched: bool) -> TrackedObject {
        TrackedObject {
            track_id: id,
            class_id: 0,
            label: "person".into(),
            bbox: [0.0, 0.0, 10.0, 20.0],
            confidence: conf,
            matched,
        }
    }

    fn frame(wall: f64, objects: Vec<TrackedObject>, ended: Vec<TrackedObject>) -> FrameResult {
        FrameResult {
            camera: "cam".into(),
            seq: 0,
            frame: 0,
            pts: wall,
            wall,
            width: 100,
            height: 100,
            objects,
            ended,
        }
    }

    /// New, throttled updates and end, on a simulated clock (frame wall times).
    #[test]
    fn new_update_end_with_a_simulated_clock() {
        let mut l = Lifecycle::new("cam", 7);
        let e = l.on_frame(&frame(100.0, vec![obj(1, 0.5, true)], vec![]));
        assert_eq!(e.len(), 1);
        let ObjectEvent::New(s) = &e[0] else {
            panic!("new expected: {e:?}")
        };
        assert_eq!((s.track_id, s.start_time, s.frames), (1, 100.0, 0));
        let id = s.id.clone();
        assert!(id.starts_with("100.000000-"), "{id}");
        // A better score within a second: no update yet.
        assert!(l
            .on_frame(&frame(100.5, vec![obj(1, 0.6, true)], vec![]))
            .is_empty());
        // A better score after a second: an update carrying the best score.
        let e = l.on_frame(&frame(101.2, vec![obj(1, 0.7, true)], vec![]));
        let [ObjectEvent::Update(s)] = e.as_slice() else {
            panic!("update expected: {e:?}")
        };
        assert_eq!(
            (s.top_score, s.frames, s.id.as_str()),
            (0.7, 3, id.as_str())
        );
        // A predicted box with a higher score never raises the best score.
        assert!(l
            .on_frame(&frame(103.0, vec![obj(1, 0.9, false)], vec![]))
            .is_empty());
        // A second object starts while the first ends.
        let e = l.on_frame(&frame(
            104.0,
            vec![obj(2, 0.4, true)],
            vec![obj(1, 0.7, true)],
        ));
        assert_eq!(
            e.iter().map(ObjectEvent::kind).collect::<Vec<_>>(),
            ["new", "end"]
        );
        let ObjectEvent::End(s) = &e[1] else {
            panic!("end expected")
        };
        assert_eq!((s.end_time, s.frames, s.top_score), (Some(104.0), 4, 0.7));
        assert_eq!(l.live(), 1);
        // An end for an unknown track is ignored; a track ends once.
        assert!(l
            .on_frame(&frame(105.0, vec![], vec![obj(9, 0.5, true)]))
            .is_empty());
        let e = l.on_frame(&frame(105.0, vec![], vec![obj(2, 0.4, true)]));
        assert_eq!(e.len(), 1);
        assert_eq!(l.live(), 0);
    }

    #[test]
    fn ids_differ_across_restarts_in_the_same_second() {
        let a = Lifecycle::new("cam", 1).next_id(5.0);
        let b = Lifecycle::new("cam", 2).next_id(5.0);
        assert_ne!(a, b);
    }
}
