//! The DeepStack / CodeProject.AI response shape, built from detections.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use osprey_detect::Detection;
use serde::Serialize;

/// One prediction in the DeepStack shape.
#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    pub label: String,
    pub confidence: f32,
    pub x_min: i64,
    pub y_min: i64,
    pub x_max: i64,
    pub y_max: i64,
}

/// The DeepStack response plus CodeProject.AI's fields.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DetectionResponse {
    pub success: bool,
    pub predictions: Vec<Prediction>,
    pub count: usize,
    pub message: String,
    pub inference_ms: u64,
    pub process_ms: u64,
    pub analysis_round_trip_ms: u64,
    pub module_id: &'static str,
    pub module_name: &'static str,
    pub code: u16,
    pub command: &'static str,
    pub request_id: String,
    pub inference_device: String,
    pub processed_by: String,
    #[serde(rename = "timestampUTC")]
    pub timestamp_utc: String,
}

/// DeepStack predictions: lower-case labels, integer pixels in the uploaded image, clipped.
pub fn to_predictions(
    dets: &[Detection],
    info: &osprey_detect::ModelInfo,
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

/// The times a response reports.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// ONNX Runtime time of the batch.
    pub inference: std::time::Duration,
    /// Postprocessing time of the batch.
    pub postprocess: std::time::Duration,
    /// From the request's arrival to now.
    pub round_trip: std::time::Duration,
}

impl DetectionResponse {
    /// A successful response with `predictions`; `default_route`: the default model's route
    /// (`command` `detect`, else `custom`).
    pub(crate) fn new(
        predictions: Vec<Prediction>,
        t: Timing,
        default_route: bool,
        provider: osprey_detect::Provider,
        hostname: &str,
    ) -> DetectionResponse {
        DetectionResponse {
            success: true,
            count: predictions.len(),
            message: summary(&predictions),
            predictions,
            inference_ms: t.inference.as_millis() as u64,
            process_ms: (t.inference + t.postprocess).as_millis() as u64,
            analysis_round_trip_ms: t.round_trip.as_millis() as u64,
            module_id: "ObjectDetectionOsprey",
            module_name: "Object Detection (Osprey)",
            code: 200,
            command: if default_route { "detect" } else { "custom" },
            request_id: request_id(),
            inference_device: match provider {
                osprey_detect::Provider::Cpu => "CPU".into(),
                p => format!("GPU ({})", p.as_str()),
            },
            processed_by: hostname.to_string(),
            timestamp_utc: httpdate::fmt_http_date(SystemTime::now()),
        }
    }
}

fn summary(preds: &[Prediction]) -> String {
    if preds.is_empty() {
        return "No objects found".into();
    }
    let mut labels: Vec<&str> = Vec::new();
    for p in preds {
        if !labels.contains(&p.label.as_str()) {
            labels.push(&p.label);
        }
    }
    format!("Found {}", labels.join(", "))
}

fn request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.finish()
    });
    format!("{:016x}-{:08x}", seed, NEXT.fetch_add(1, Ordering::Relaxed))
}
