//! The TOML sections of the configuration file and the error of a file that does not parse.

/// A configuration file that is not valid TOML or has unknown or misplaced keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TomlError(pub String);

impl osprey_base::Kinded for TomlError {
    fn kind(&self) -> osprey_base::ErrorKind {
        osprey_base::ErrorKind::InvalidArgument
    }
}

/// The TOML sections and the keys each holds; each section is the settings of one crate
/// (`[api]`: osprey-api, `[models]` and `[batching]`: osprey-infer, `[metrics]`: the InfluxDB
/// measurements, `[store]`: osprey-store). `verbosity` stays at the top level; `[[cameras]]`,
/// `[redis]` and `[mqtt]` are tables of their own.
pub const SECTIONS: &[(&str, &[&str])] = &[
    (
        "api",
        &[
            "listen",
            "host",
            "port",
            "api_key",
            "min_confidence",
            "max_detections",
            "max_body_bytes",
            "max_image_bytes",
            "max_pixels",
            "log_responses",
            "request_timeout_ms",
            "header_timeout_ms",
            "body_timeout_ms",
            "max_connections",
        ],
    ),
    (
        "models",
        &[
            "model",
            "models_dir",
            "imgsz",
            "half",
            "engine",
            "precision",
            "provider",
            "fallback_to_cpu",
            "trt_cache",
            "threads",
            "spinning",
            "streams",
            "pinning",
            "ort_library",
            "openvino_library",
            "labels",
            "warmup_image",
            "mode",
        ],
    ),
    (
        "batching",
        &[
            "queue_capacity",
            "max_batch",
            "batch_wait_ms",
            "camera_max_batch",
        ],
    ),
    (
        "metrics",
        &[
            "generate_metrics",
            "metrics_cache",
            "metrics_commit_ms",
            "metrics_upload_flagfile",
        ],
    ),
    ("store", &["events_db"]),
    ("recording", &["recordings_dir", "min_free_bytes"]),
];

/// The DeepStack / CodeProject.AI port.
pub const DEFAULT_PORT: u16 = 32168;
