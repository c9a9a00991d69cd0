//! Prometheus metrics (`GET /metrics`, text format 0.0.4).
//!
//! One registry per server (no globals, so tests can run servers side by side), shared by every
//! crate: each registers its own series (inference in `osprey-infer`, cameras in
//! `osprey-pipeline`, publishers in `osprey-sinks`); the HTTP series are here. Label sets are
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

/// The HTTP series, and the registry every crate's series live in.
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    registry: Registry,
    /// Requests by route template, method and status.
    pub requests: IntCounterVec,
    /// Whole-request latency by route template.
    pub request_seconds: HistogramVec,
    /// Detection-request time per stage: parse, decode, queue_wait, inference, postprocess, respond.
    pub stage_seconds: HistogramVec,
    /// Requests refused with 503 because the queue was full, by model.
    pub queue_rejected: IntCounterVec,
    /// Detections returned, by model and label.
    pub detections: IntCounterVec,
    /// InfluxDB points (`--generate_metrics`) committed to the cache or dropped (set at scrape time).
    pub influx_points: IntCounterVec,
}

impl HttpMetrics {
    /// A registry with the HTTP series, the build info and (on Linux) the process collector.
    pub fn new() -> Result<HttpMetrics, prometheus::Error> {
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
        let influx_points = IntCounterVec::new(
            Opts::new(
                "osprey_influx_points_total",
                "InfluxDB points (--generate_metrics) committed to the line-protocol cache, or dropped because its writer was behind",
            ),
            &["outcome"],
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
            Box::new(queue_rejected.clone()),
            Box::new(detections.clone()),
            Box::new(influx_points.clone()),
            Box::new(build),
        ] {
            registry.register(c)?;
        }
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(HttpMetrics {
            registry,
            requests,
            request_seconds,
            stage_seconds,
            queue_rejected,
            detections,
            influx_points,
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

    /// The registry, for the other crates' series.
    pub fn registry(&self) -> &Registry {
        &self.registry
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
        let m = HttpMetrics::new().expect("metrics");
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
