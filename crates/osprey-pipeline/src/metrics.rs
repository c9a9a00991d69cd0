//! The camera series (`osprey_camera_*`), and each camera's handles into them.

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

/// Latency buckets in seconds: 0.5 ms … 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
];

/// Camera stages timed per frame (`osprey_camera_stage_seconds`).
pub const STAGES: [&str; 7] = [
    "decode",
    "convert",
    "letterbox",
    "detect",
    "inference",
    "track",
    "publish",
];

/// Source error kinds (`osprey_camera_errors_total{kind}`).
const ERROR_KINDS: [&str; 6] = ["bad_url", "auth", "open", "no_video", "read", "corrupt"];

/// Every camera series.
#[derive(Debug, Clone)]
pub struct CameraMetrics {
    /// Frames per stage: in (packets), decoded, sampled, detected, dropped.
    pub frames: IntCounterVec,
    /// (Re)connections after the first.
    pub reconnects: IntCounterVec,
    /// 1 while the source is connected.
    pub connected: IntGaugeVec,
    /// Source errors by kind.
    pub errors: IntCounterVec,
    /// Time per frame in each stage.
    pub stage_seconds: HistogramVec,
    /// Confirmed tracks alive now.
    pub tracks: IntGaugeVec,
}

impl CameraMetrics {
    /// Registers the series in `registry`.
    pub fn register(registry: &Registry) -> Result<CameraMetrics, prometheus::Error> {
        let frames = IntCounterVec::new(
            Opts::new(
                "osprey_camera_frames_total",
                "Camera frames per stage: in (video packets read), decoded, sampled (picked for detection), detected, dropped (sampled but replaced by a newer frame before detection)",
            ),
            &["camera", "stage"],
        )?;
        let reconnects = IntCounterVec::new(
            Opts::new(
                "osprey_camera_reconnects_total",
                "Camera source reconnections",
            ),
            &["camera"],
        )?;
        let connected = IntGaugeVec::new(
            Opts::new(
                "osprey_camera_connected",
                "1 while the camera's source is connected",
            ),
            &["camera"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new("osprey_camera_errors_total", "Camera source errors by kind"),
            &["camera", "kind"],
        )?;
        let stage_seconds = HistogramVec::new(
            HistogramOpts::new(
                "osprey_camera_stage_seconds",
                "Time per frame in each camera stage: decode, convert (to RGB), letterbox, detect (queue + inference), inference (the frame's share of its batch), track, publish",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["camera", "stage"],
        )?;
        let tracks = IntGaugeVec::new(
            Opts::new("osprey_camera_tracks", "Confirmed tracks alive now"),
            &["camera"],
        )?;
        registry.register(Box::new(frames.clone()))?;
        registry.register(Box::new(reconnects.clone()))?;
        registry.register(Box::new(connected.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(stage_seconds.clone()))?;
        registry.register(Box::new(tracks.clone()))?;
        Ok(CameraMetrics {
            frames,
            reconnects,
            connected,
            errors,
            stage_seconds,
            tracks,
        })
    }

    /// Series that are not registered anywhere (unit tests of the loops).
    pub fn unregistered() -> CameraMetrics {
        CameraMetrics::register(&Registry::new()).expect("a fresh registry takes every series")
    }

    /// Drops a removed camera's series.
    pub fn remove(&self, id: &str) {
        for stage in ["in", "decoded", "sampled", "detected", "dropped"] {
            let _ = self.frames.remove_label_values(&[id, stage]);
        }
        for stage in STAGES {
            let _ = self.stage_seconds.remove_label_values(&[id, stage]);
        }
        let _ = self.reconnects.remove_label_values(&[id]);
        let _ = self.connected.remove_label_values(&[id]);
        let _ = self.tracks.remove_label_values(&[id]);
        for kind in ERROR_KINDS {
            let _ = self.errors.remove_label_values(&[id, kind]);
        }
    }
}

/// One camera's handles into the series.
#[derive(Debug)]
pub(crate) struct Counters {
    pub frames_in: IntCounter,
    pub decoded: IntCounter,
    pub sampled: IntCounter,
    pub detected: IntCounter,
    pub dropped: IntCounter,
    pub reconnects: IntCounter,
    pub connected: IntGauge,
    pub tracks: IntGauge,
    pub decode_s: Histogram,
    pub convert_s: Histogram,
    pub letterbox_s: Histogram,
    pub detect_s: Histogram,
    pub infer_s: Histogram,
    pub track_s: Histogram,
    pub publish_s: Histogram,
}

impl Counters {
    pub(crate) fn new(m: &CameraMetrics, id: &str) -> Counters {
        let f = |stage: &str| m.frames.with_label_values(&[id, stage]);
        let h = |stage: &str| m.stage_seconds.with_label_values(&[id, stage]);
        Counters {
            frames_in: f("in"),
            decoded: f("decoded"),
            sampled: f("sampled"),
            detected: f("detected"),
            dropped: f("dropped"),
            reconnects: m.reconnects.with_label_values(&[id]),
            connected: m.connected.with_label_values(&[id]),
            tracks: m.tracks.with_label_values(&[id]),
            decode_s: h("decode"),
            convert_s: h("convert"),
            letterbox_s: h("letterbox"),
            detect_s: h("detect"),
            infer_s: h("inference"),
            track_s: h("track"),
            publish_s: h("publish"),
        }
    }
}
