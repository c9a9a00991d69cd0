//! The effective server configuration, one section per crate that owns it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use osprey_analytics::AnalyticsConfig;
use osprey_api::ApiConfig;
use osprey_infer::InferConfig;
use osprey_pipeline::CameraSpec;
use osprey_sinks::webhook::WebhookSpec;
use osprey_sinks::{MqttSpec, RedisSpec};
use serde::Serialize;

/// The `[metrics]` settings: the Python server's InfluxDB measurements.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricsConfig {
    /// Emit InfluxDB points (`--generate_metrics`).
    pub generate_metrics: bool,
    /// The SQLite line-protocol cache.
    pub metrics_cache: PathBuf,
    /// Longest a point waits before it is committed, in milliseconds.
    pub metrics_commit_ms: u64,
    /// Run the uploader inside the server with this flagfile.
    pub metrics_upload_flagfile: Option<PathBuf>,
}

/// The `[store]` settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoreConfig {
    /// SQLite file of object events.
    pub events_db: PathBuf,
}

/// `[recording]`: where recordings go and the disk-free watermark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordingConfig {
    /// The recordings' folder (index and segment files).
    pub dir: PathBuf,
    /// Delete the oldest recordings while the disk has less free space than this.
    pub min_free_bytes: Option<u64>,
}

/// The effective server configuration: one section per crate that owns it.
#[derive(Debug, Clone, Serialize)]
pub struct ServeConfig {
    /// HTTP: listening, authentication, limits (`osprey-api`).
    pub api: ApiConfig,
    /// Models and batching (`osprey-infer`).
    pub models: InferConfig,
    /// Camera streams (`osprey-pipeline`).
    pub cameras: Vec<CameraSpec>,
    /// Redis Streams publisher (`osprey-sinks`).
    pub redis: Option<RedisSpec>,
    /// MQTT publisher (`osprey-sinks`).
    pub mqtt: Option<MqttSpec>,
    /// The event store (`osprey-store`).
    pub store: StoreConfig,
    /// InfluxDB measurements.
    pub metrics: MetricsConfig,
    /// Analytics rules per camera id (`osprey-analytics`).
    pub analytics: BTreeMap<String, AnalyticsConfig>,
    /// Webhooks for analytics events and alerts (`osprey-sinks`).
    pub webhooks: Vec<WebhookSpec>,
    /// Recording (`osprey-record`); `None` when no camera records and no folder is set.
    pub recording: Option<RecordingConfig>,
    /// absl verbosity.
    pub verbosity: Option<i32>,
    /// Authentication, the audit log, address rules, TLS (`osprey-api`, `osprey-auth`).
    pub security: osprey_api::SecurityConfig,
}
