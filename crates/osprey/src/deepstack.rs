//! The DeepStack detection response, as Frigate, Blue Iris and Home Assistant read it.
use osprey_detect::{Detection, ModelInfo};
use serde::Serialize;

/// One prediction: integer pixel box in the uploaded image, lower-case label.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Prediction {
    pub label: String,
    pub confidence: f32,
    pub x_min: i64,
    pub y_min: i64,
    pub x_max: i64,
    pub y_max: i64,
}

/// Converts detections (already sorted by descending confidence) to DeepStack predictions,
/// clipping to the image and truncating coordinates like the Python server's `int()`.
pub fn predictions(
    dets: &[Detection],
    info: &ModelInfo,
    width: u32,
    height: u32,
) -> Vec<Prediction> {
    let clip = |v: f32, max: u32| (v.max(0.0) as i64).min(i64::from(max));
    dets.iter()
        .map(|d| Prediction {
            label: info.label(d.class_id).to_lowercase(),
            confidence: d.confidence,
            x_min: clip(d.x1, width),
            y_min: clip(d.y1, height),
            x_max: clip(d.x2, width),
            y_max: clip(d.y2, height),
        })
        .collect()
}
