//! Prometheus metrics (`GET /metrics`, text format 0.0.4).
//!
//! One registry per server (no globals, so tests can run servers side by side). Label sets are
//! bounded: routes are route templates, statuses are HTTP codes, labels are the models' class
//! names, models are the served files. See docs/metrics.md for every series.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Latency buckets in seconds: 0.5 ms … 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
];

/// Every series the server exports.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// Requests by route template, method and status.
    pub requests: IntCounterVec,
    /// Whole-request latency by route template.
    pub request_seconds: HistogramVec,
    /// Detection-request time per stage: parse, decode, queue_wait, inference, postprocess, respond.
    pub stage_seconds: HistogramVec,
    /// Images per inference run, by model.
    pub batch_size: HistogramVec,
    /// Requests waiting for inference, by model (set at scrape time).
    pub queue_depth: IntGaugeVec,
    /// Requests refused with 503 because the queue was full, by model.
    pub queue_rejected: IntCounterVec,
    /// Detections returned, by model and label.
    pub detections: IntCounterVec,
    /// Constant 1 with the model's description as labels.
    pub model_info: IntGaugeVec,
    /// InfluxDB points (`--generate_metrics`) committed to the cache or dropped (set at scrape time).
    pub influx_points: IntCounterVec,
    /// Camera frames per pipeline stage: in (packets), decoded, sampled, detected, dropped.
    pub camera_frames: IntCounterVec,
    /// Camera (re)connections after the first.
    pub camera_reconnects: IntCounterVec,
    /// 1 while a camera's source is connected.
    pub camera_connected: IntGaugeVec,
    /// Camera source errors by kind (open, auth, read, corrupt, no_video, bad_url).
    pub camera_errors: IntCounterVec,
    /// Time per frame in each camera stage: decode, convert, letterbox, detect, inference, track,
    /// publish.
    pub camera_stage_seconds: HistogramVec,
    /// Confirmed tracks alive now, by camera.
    pub camera_tracks: IntGaugeVec,
    /// Messages to Redis / MQTT / the event store: sent, dropped (queue full), failed.
    pub publish_messages: IntCounterVec,
}

impl Metrics {
    /// Registers every series (and the process collector on Linux).
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "osprey_http_requests_total",
                "HTTP requests by route template, method and status",
            ),
            &["route", "method", "status"],
        )?;
        let request_seconds = HistogramVec::new(
            HistogramOpts::new(
                "osprey_http_request_duration_seconds",
                "Time from request to response, by route template",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route"],
        )?;
        let stage_seconds = HistogramVec::new(
            HistogramOpts::new(
                "osprey_detection_stage_seconds",
                "Time spent per stage of a detection request",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["stage"],
        )?;
        let batch_size = HistogramVec::new(
            HistogramOpts::new("osprey_inference_batch_size", "Images per inference run")
                .buckets(vec![1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 32.0]),
            &["model"],
        )?;
        let queue_depth = IntGaugeVec::new(
            Opts::new(
                "osprey_inference_queue_depth",
                "Requests waiting for inference",
            ),
            &["model"],
        )?;
        let queue_rejected = IntCounterVec::new(
            Opts::new(
                "osprey_inference_queue_rejected_total",
                "Requests refused because the inference queue was full",
            ),
            &["model"],
        )?;
        let detections = IntCounterVec::new(
            Opts::new(
                "osprey_detections_total",
                "Objects returned to clients, by model and label",
            ),
            &["model", "label"],
        )?;
        let model_info = IntGaugeVec::new(
            Opts::new("osprey_model_info", "Served models (value 1)"),
            &["model", "provider", "imgsz", "precision", "layout", "batch"],
        )?;
        let influx_points = IntCounterVec::new(
            Opts::new(
                "osprey_influx_points_total",
                "InfluxDB points (--generate_metrics) committed to the line-protocol cache, or dropped because its writer was behind",
            ),
            &["outcome"],
        )?;
        let camera_frames = IntCounterVec::new(
            Opts::new(
                "osprey_camera_frames_total",
                "Camera frames per stage: in (video packets read), decoded, sampled (picked for detection), detected, dropped (sampled but replaced by a newer frame before detection)",
            ),
            &["camera", "stage"],
        )?;
        let camera_reconnects = IntCounterVec::new(
            Opts::new(
                "osprey_camera_reconnects_total",
                "Camera source reconnections",
            ),
            &["camera"],
        )?;
        let camera_connected = IntGaugeVec::new(
            Opts::new(
                "osprey_camera_connected",
                "1 while the camera's source is connected",
            ),
            &["camera"],
        )?;
        let camera_errors = IntCounterVec::new(
            Opts::new("osprey_camera_errors_total", "Camera source errors by kind"),
            &["camera", "kind"],
        )?;
        let camera_stage_seconds = HistogramVec::new(
            HistogramOpts::new(
                "osprey_camera_stage_seconds",
                "Time per frame in each camera stage: decode, convert (to RGB), letterbox, detect (queue + inference), inference (the frame's share of its batch), track, publish",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["camera", "stage"],
        )?;
        let camera_tracks = IntGaugeVec::new(
            Opts::new("osprey_camera_tracks", "Confirmed tracks alive now"),
            &["camera"],
        )?;
        let publish_messages = IntCounterVec::new(
            Opts::new(
                "osprey_publish_messages_total",
                "Messages to the bus and event store by sink (redis, mqtt, events) and outcome (sent, dropped, failed)",
            ),
            &["sink", "outcome"],
        )?;
        let build = IntGaugeVec::new(
            Opts::new("osprey_build_info", "Osprey build (value 1)"),
            &["version"],
        )?;
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(request_seconds.clone()),
            Box::new(stage_seconds.clone()),
            Box::new(batch_size.clone()),
            Box::new(queue_depth.clone()),
            Box::new(queue_rejected.clone()),
            Box::new(detections.clone()),
            Box::new(model_info.clone()),
            Box::new(influx_points.clone()),
            Box::new(camera_frames.clone()),
            Box::new(camera_reconnects.clone()),
            Box::new(camera_connected.clone()),
            Box::new(camera_errors.clone()),
            Box::new(camera_stage_seconds.clone()),
            Box::new(camera_tracks.clone()),
            Box::new(publish_messages.clone()),
            Box::new(build),
        ] {
            registry.register(c)?;
        }
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Metrics {
            registry,
            requests,
            request_seconds,
            stage_seconds,
            batch_size,
            queue_depth,
            queue_rejected,
            detections,
            model_info,
            influx_points,
            camera_frames,
            camera_reconnects,
            camera_connected,
            camera_errors,
            camera_stage_seconds,
            camera_tracks,
            publish_messages,
        })
    }

    /// Brings `osprey_influx_points_total` up to the cache's own counters.
    pub fn sync_influx(&self, stats: &osprey_influx::CacheStats) {
        use std::sync::atomic::Ordering;
        for (outcome, value) in [
            ("written", stats.written.load(Ordering::Relaxed)),
            ("dropped", stats.dropped.load(Ordering::Relaxed)),
        ] {
            let c = self.influx_points.with_label_values(&[outcome]);
            c.inc_by(value.saturating_sub(c.get()));
        }
    }

    /// The histogram for one detection stage.
    pub fn stage(&self, stage: &str) -> Histogram {
        self.stage_seconds.with_label_values(&[stage])
    }

    /// Text exposition of every series.
    pub fn render(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(16 * 1024);
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_key_series() {
        let m = Metrics::new().expect("metrics");
        m.requests
            .with_label_values(&["/v1/vision/detection", "POST", "200"])
            .inc();
        m.stage("inference").observe(0.015);
        m.detections
            .with_label_values(&["yolo11n", "person"])
            .inc_by(3);
        let text = String::from_utf8(m.render()).expect("utf8");
        for needle in [
            "osprey_http_requests_total{method=\"POST\",route=\"/v1/vision/detection\",status=\"200\"} 1",
            "osprey_detection_stage_seconds_count{stage=\"inference\"} 1",
            "osprey_detections_total{label=\"person\",model=\"yolo11n\"} 3",
            "osprey_build_info{version=",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }
}
