//! Multi-object tracking.
//!
//! * [`ByteTrack`]: a ByteTrack-class tracker (Kalman filter on centre, aspect ratio and height;
//!   two-stage association — high-score detections first, then low-score ones against the tracks
//!   left over; track birth after confirmation, death after a configurable buffer). Pure and
//!   synchronous: one call per frame, no I/O, no clocks.
//! * [`mot`]: MOTChallenge text files (`frame,id,x,y,w,h,score,...`).
//! * [`score`]: CLEAR MOT (MOTA, MOTP, ID switches) and IDF1, computed as py-motmetrics 1.4 does.
//! * [`assign`]: minimum-cost rectangular assignment shared by the tracker and the scorer.
#![forbid(clippy::print_stdout, clippy::print_stderr)]

pub mod assign;
mod bytetrack;
mod kalman;
pub mod mot;
pub mod score;

pub use bytetrack::{ByteTrack, Detection, OutputBox, Track, TrackEvent, TrackerConfig};

/// An axis-aligned box in pixels: left, top, right, bottom.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    /// Left.
    pub x1: f32,
    /// Top.
    pub y1: f32,
    /// Right.
    pub x2: f32,
    /// Bottom.
    pub y2: f32,
}

impl BBox {
    /// From left, top, width, height.
    pub fn from_ltwh(l: f32, t: f32, w: f32, h: f32) -> BBox {
        BBox {
            x1: l,
            y1: t,
            x2: l + w,
            y2: t + h,
        }
    }

    /// Width.
    pub fn w(&self) -> f32 {
        self.x2 - self.x1
    }

    /// Height.
    pub fn h(&self) -> f32 {
        self.y2 - self.y1
    }

    /// Intersection over union (0 for empty boxes).
    pub fn iou(&self, o: &BBox) -> f32 {
        let iw = (self.x2.min(o.x2) - self.x1.max(o.x1)).max(0.0);
        let ih = (self.y2.min(o.y2) - self.y1.max(o.y1)).max(0.0);
        let inter = iw * ih;
        let union = self.w().max(0.0) * self.h().max(0.0) + o.w().max(0.0) * o.h().max(0.0) - inter;
        if union > 0.0 {
            inter / union
        } else {
            0.0
        }
    }
}
