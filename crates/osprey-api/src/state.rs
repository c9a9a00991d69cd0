//! What the handlers share, and the `[api]` settings.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use osprey_infer::Models;
use serde::Serialize;

pub use crate::security::Secret;

/// The `[api]` settings: listening, authentication, the DeepStack defaults and every limit on
/// a request.
#[derive(Debug, Clone, Serialize)]
pub struct ApiConfig {
    /// Addresses to listen on.
    pub listen: Vec<SocketAddr>,
    /// `--api-key`: a key with the `admin` role that also opens the detection routes (earlier
    /// releases' only protection).
    pub api_key: Option<Secret>,
    /// Default `min_confidence`.
    pub min_confidence: f32,
    /// Default cap on predictions per response.
    pub max_detections: Option<usize>,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Largest image part.
    pub max_image_bytes: usize,
    /// Largest decoded image, in pixels.
    pub max_pixels: u64,
    /// Log every response body.
    pub log_responses: bool,
    /// Whole-request deadline, in milliseconds.
    pub request_timeout_ms: u64,
    /// Deadline for the request headers, in milliseconds.
    pub header_timeout_ms: u64,
    /// Deadline for the body, in milliseconds.
    pub body_timeout_ms: u64,
    /// Simultaneous connections.
    pub max_connections: usize,
}

/// Request counters for the status page.
#[derive(Debug, Default)]
pub struct Counters {
    /// Detection requests answered with detections.
    pub ok: AtomicU64,
    /// Detection requests that failed after the headers.
    pub failed: AtomicU64,
    /// Requests refused (4xx/5xx).
    pub refused: AtomicU64,
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// Served models by name (the default one behind `/v1/vision/detection`).
    pub models: Models,
    /// The `[api]` settings.
    pub config: ApiConfig,
    /// When the server started.
    pub started: Instant,
    /// Request counters.
    pub counters: Counters,
    /// Named threads for decode + letterbox.
    pub decoders: crate::decode_pool::DecodePool,
    /// Prometheus series.
    pub metrics: crate::metrics::HttpMetrics,
    /// The InfluxDB line-protocol cache (`--generate_metrics`).
    pub influx: Option<osprey_influx::Cache>,
    /// Host name, for `processedBy`.
    pub hostname: String,
    /// Camera pipelines.
    pub cameras: Arc<osprey_pipeline::Cameras>,
    /// The object-event store, when open.
    pub events: Option<osprey_store::EventStore>,
    /// Analytics rules per camera (the `/emdx/api/v2/config` routes change them).
    pub rules: Arc<osprey_analytics::RuleBook>,
    /// The analytics time series, when open (the `/emdx/api/v2/metrics` routes read it).
    pub analytics: Option<osprey_store::AnalyticsStore>,
    /// Recorded video: the index and the cameras' recorders (`None`: recording not configured).
    pub recordings: Option<Arc<osprey_record::Library>>,
    /// The cameras' live views (fMP4 fragments for `/api/cameras/{id}/live`).
    pub live: Arc<osprey_record::LiveHubs>,
    /// Users, keys, sessions, address rules, the audit log.
    pub security: crate::security::Security,
}

impl AppState {
    /// Whether every model has warmed up.
    pub fn ready(&self) -> bool {
        self.models.ready()
    }
}
