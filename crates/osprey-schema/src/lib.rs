//! Typed messages that cross stage boundaries: what the camera pipeline produces for each
//! processed frame, and the object lifecycle events derived from it. No I/O and no wire
//! formats: DeepStream, Frigate, Metropolis and DeepStack JSON are built by encoders beside
//! their sink or route, from these types.

use serde::{Deserialize, Serialize};

/// An axis-aligned box in stream pixels: `[x1, y1, x2, y2]`, y down.
pub type BoxXyxy = [f32; 4];

/// One tracked object in one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackedObject {
    /// The tracker's id, stable for the object's life on this camera (1, 2, …).
    pub track_id: u64,
    /// Class index in the model's label list.
    pub class_id: u32,
    /// Class name (`person`, `car`, …).
    pub label: String,
    /// Box in stream pixels.
    pub bbox: BoxXyxy,
    /// Score of the detection last matched to the track.
    pub confidence: f32,
    /// Whether a detection was matched to the track in this frame (false: the box is the
    /// tracker's prediction).
    #[serde(default = "yes")]
    pub matched: bool,
}

fn yes() -> bool {
    true
}

impl TrackedObject {
    /// The bottom-centre of the box (where the object touches the ground): the point most
    /// counting systems use.
    pub fn bottom_centre(&self) -> (f32, f32) {
        ((self.bbox[0] + self.bbox[2]) / 2.0, self.bbox[3])
    }

    /// The centre of the box.
    pub fn centre(&self) -> (f32, f32) {
        (
            (self.bbox[0] + self.bbox[2]) / 2.0,
            (self.bbox[1] + self.bbox[3]) / 2.0,
        )
    }
}

/// Everything known about one processed (sampled and detected) frame of a camera.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameResult {
    /// Camera id.
    pub camera: String,
    /// Number of the frame among those sampled for detection, from 1: consecutive except
    /// where a sampled frame was dropped (the DeepStream message id).
    pub seq: u64,
    /// The frame's index in decode order (0-based, counts every decoded frame).
    #[serde(default)]
    pub frame: u64,
    /// Presentation time in seconds from the start of the stream (strictly increasing).
    pub pts: f64,
    /// Wall-clock time the frame was decoded, in seconds since the Unix epoch.
    pub wall: f64,
    /// Stream width in pixels.
    pub width: u32,
    /// Stream height in pixels.
    pub height: u32,
    /// Confirmed tracks present in this frame.
    pub objects: Vec<TrackedObject>,
    /// Tracks given up in this frame (lost for longer than the tracker keeps them), with their
    /// last matched box; when a camera stops, its last result ends every open track.
    #[serde(default)]
    pub ended: Vec<TrackedObject>,
}

/// The lifecycle of a tracked object, as publishers and the event store see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ObjectEvent {
    /// A track was confirmed.
    New(ObjectSnapshot),
    /// Something worth publishing changed (a better score, a longer life).
    Update(ObjectSnapshot),
    /// The track ended.
    End(ObjectSnapshot),
}

impl ObjectEvent {
    /// The object's state carried by the event.
    pub fn snapshot(&self) -> &ObjectSnapshot {
        match self {
            ObjectEvent::New(s) | ObjectEvent::Update(s) | ObjectEvent::End(s) => s,
        }
    }

    /// `new`, `update` or `end`.
    pub fn kind(&self) -> &'static str {
        match self {
            ObjectEvent::New(_) => "new",
            ObjectEvent::Update(_) => "update",
            ObjectEvent::End(_) => "end",
        }
    }
}

/// An object's state as carried by an [`ObjectEvent`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectSnapshot {
    /// Event id, Frigate-style: `<start time>-<random suffix>`, unique across cameras and
    /// restarts.
    pub id: String,
    /// Camera id.
    pub camera: String,
    /// Tracker id.
    pub track_id: u64,
    /// Class name.
    pub label: String,
    /// Wall-clock start, seconds since the Unix epoch.
    pub start_time: f64,
    /// Wall-clock end, for ended objects.
    pub end_time: Option<f64>,
    /// The best score seen so far.
    pub top_score: f32,
    /// The box where the score was best, in stream pixels.
    pub top_bbox: BoxXyxy,
    /// The latest score.
    pub score: f32,
    /// The latest box in stream pixels.
    pub bbox: BoxXyxy,
    /// Frames the object was seen in.
    pub frames: u64,
    /// Wall-clock time of the frame that produced the event.
    pub frame_time: f64,
}

pub mod analytics;
pub mod media;
mod status;
pub use status::{CameraPhase, CameraStatus, ErrorInfo, FrameCounts, Rates, SpecView, StreamView};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchor_points() {
        let o = TrackedObject {
            track_id: 1,
            class_id: 0,
            label: "person".into(),
            bbox: [10.0, 20.0, 30.0, 60.0],
            confidence: 0.9,
            matched: true,
        };
        assert_eq!(o.bottom_centre(), (20.0, 60.0));
        assert_eq!(o.centre(), (20.0, 40.0));
    }

    #[test]
    fn events_serialise_with_a_type_tag() {
        let s = ObjectSnapshot {
            id: "1.0-cam-1".into(),
            camera: "cam".into(),
            track_id: 1,
            label: "person".into(),
            start_time: 1.0,
            end_time: None,
            top_score: 0.9,
            top_bbox: [0.0, 0.0, 1.0, 1.0],
            score: 0.8,
            bbox: [0.0, 0.0, 1.0, 1.0],
            frames: 3,
            frame_time: 1.5,
        };
        let j = serde_json::to_value(ObjectEvent::New(s.clone())).expect("json");
        assert_eq!(j["type"], "new");
        assert_eq!(j["track_id"], 1);
        let back: ObjectEvent = serde_json::from_value(j).expect("back");
        assert_eq!(back, ObjectEvent::New(s));
    }
}
