//! Server configuration, layered: built-in defaults < TOML file (`--config`) < environment
//! (`OSPREY_*` and DeepStack's names) < command-line flags (including absl flagfiles).
//!
//! Each layer is a [`Settings`] with every field optional; [`Settings::merge`] lays one over
//! another and [`Settings::resolve`] fills defaults and collects every problem found, so
//! `osprey check-config` can list them all at once. See docs/configuration.md.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use std::collections::BTreeMap;

use osprey_analytics::AnalyticsConfig;
use osprey_api::{ApiConfig, Secret};
use osprey_detect::{Engine, Precision, Provider, Streams};
use osprey_infer::InferConfig;
use osprey_pipeline::CameraSpec;
use osprey_sinks::webhook::WebhookSpec;
use osprey_sinks::{MqttSpec, RedisSpec};
use serde::{Deserialize, Serialize};

pub use crate::sections::{TomlError, DEFAULT_PORT, SECTIONS};
pub use crate::security::SecuritySettings;
pub use crate::serve::{MetricsConfig, RecordingConfig, ServeConfig, StoreConfig};
use osprey_auth::AccessRule;

/// One configuration layer. Field names are the TOML keys and, upper-cased with `OSPREY_`, the
/// environment variables.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Settings {
    /// ONNX model served at `/v1/vision/detection` (Python: `--engine_path`).
    pub model: Option<PathBuf>,
    /// Folder of ONNX models, one `/v1/vision/custom/<file stem>` each (DeepStack `MODELSTORE-DETECTION`).
    pub models_dir: Option<PathBuf>,
    /// Inference size for dynamic-shape models (Python: `--image_size`).
    pub imgsz: Option<u32>,
    /// TensorRT fp16 engines (Python: `--half_precision`).
    pub half: Option<bool>,
    /// Inference engine: ort (ONNX Runtime) or openvino.
    pub engine: Option<Engine>,
    /// Precision: fp32, bf16, int8 or auto (the fastest the CPU and model allow).
    pub precision: Option<Precision>,
    /// Execution provider: cpu, cuda, tensorrt, openvino.
    pub provider: Option<Provider>,
    /// Fall back to CPU when the provider is unavailable.
    pub fallback_to_cpu: Option<bool>,
    /// TensorRT engine cache folder.
    pub trt_cache: Option<PathBuf>,
    /// Intra-op threads per model (0: one per core).
    pub threads: Option<usize>,
    /// Let ONNX Runtime's idle intra-op threads spin (default: on with one model, off with several).
    pub spinning: Option<bool>,
    /// Inferences in flight when several images wait: auto or a count (1: one at a time).
    pub streams: Option<Streams>,
    /// OpenVINO: pin inference threads to cores (default: OpenVINO's choice).
    pub pinning: Option<bool>,
    /// Path of libonnxruntime.so.
    pub ort_library: Option<PathBuf>,
    /// Path of OpenVINO's libopenvino_c.so (or its folder).
    pub openvino_library: Option<PathBuf>,
    /// Labels file overriding model names.
    pub labels: Option<PathBuf>,
    /// Addresses to listen on; overrides `host`/`port`.
    pub listen: Option<Vec<SocketAddr>>,
    /// Address to bind (Python: `--server_ip`).
    pub host: Option<IpAddr>,
    /// Port (Python: `--server_port`, DeepStack `PORT`).
    pub port: Option<u16>,
    /// API key required from clients when set (DeepStack `API-KEY`).
    pub api_key: Option<String>,
    /// Default `min_confidence` (DeepStack: 0.4).
    pub min_confidence: Option<f32>,
    /// Default cap on predictions per response (none when unset).
    pub max_detections: Option<usize>,
    /// Largest request body (Python: `--max_content_length`).
    pub max_body_bytes: Option<usize>,
    /// Largest image part (Python: `--max_image_data_bytes`).
    pub max_image_bytes: Option<usize>,
    /// Largest decoded image, in pixels.
    pub max_pixels: Option<u64>,
    /// Log every response body (Python: `--log_response`).
    pub log_responses: Option<bool>,
    /// Emit InfluxDB metrics (Python: `--generate_metrics`).
    pub generate_metrics: Option<bool>,
    /// SQLite line-protocol cache for `generate_metrics` (Python: data/line-protocol-cache/cache.sqlite).
    pub metrics_cache: Option<PathBuf>,
    /// Longest time an InfluxDB point waits in memory before it is committed to the cache, in
    /// milliseconds (what a `kill -9` can lose; the Python server: about 2000).
    pub metrics_commit_ms: Option<u64>,
    /// Run the uploader inside the server, with the flags of `osprey upload-metrics` read from
    /// this absl flagfile.
    pub metrics_upload_flagfile: Option<PathBuf>,
    /// absl verbosity: -2 error, -1 warning, 0 info, 1 debug.
    pub verbosity: Option<i32>,
    /// DeepStack `MODE` (High, Medium, Low): sets `imgsz` 640/416/320 for dynamic models.
    pub mode: Option<String>,
    /// Requests waiting for inference per model before 503.
    pub queue_capacity: Option<usize>,
    /// Largest inference batch (dynamic-batch models).
    pub max_batch: Option<usize>,
    /// How long the first request of a batch waits for company, in milliseconds.
    pub batch_wait_ms: Option<u64>,
    /// Largest batch of camera frames (bounds how long an HTTP request waits behind one).
    pub camera_max_batch: Option<usize>,
    /// Whole-request deadline, in milliseconds.
    pub request_timeout_ms: Option<u64>,
    /// Deadline for a client to send its request headers, in milliseconds.
    pub header_timeout_ms: Option<u64>,
    /// Deadline for a client to send its body, in milliseconds.
    pub body_timeout_ms: Option<u64>,
    /// Simultaneous connections; more wait in the kernel's accept queue.
    pub max_connections: Option<usize>,
    /// Image used to warm the model up before reporting ready.
    pub warmup_image: Option<PathBuf>,
    /// Camera streams to analyse (`[[cameras]]` tables; `--camera ID=URL` on the command line).
    pub cameras: Option<Vec<CameraSpec>>,
    /// Redis Streams publisher (`[redis]`).
    pub redis: Option<RedisSpec>,
    /// MQTT publisher in Frigate's convention (`[mqtt]`).
    pub mqtt: Option<MqttSpec>,
    /// SQLite file of track events (`GET /api/events`); default `data/events.sqlite`.
    pub events_db: Option<PathBuf>,
    /// Tripwires and ROIs per camera id (`[analytics.<camera>]` tables, Metropolis shapes).
    pub analytics: Option<BTreeMap<String, AnalyticsConfig>>,
    /// Webhooks for analytics events and alerts (`[[webhooks]]` tables).
    pub webhooks: Option<Vec<WebhookSpec>>,
    /// Where recordings go (`[recording]`); default `data/recordings` once a camera records.
    pub recordings_dir: Option<PathBuf>,
    /// Delete the oldest recordings while the disk has less free space than this many bytes.
    pub min_free_bytes: Option<u64>,
    /// Authentication, audit, lock-outs, proxies and TLS (`[security]`).
    pub security: Option<SecuritySettings>,
    /// The address allowlist (`[[access]]` tables).
    pub access: Option<Vec<AccessRule>>,
}

macro_rules! merge_fields {
    ($base:ident, $top:ident, $($f:ident),* $(,)?) => {
        Settings { $($f: $top.$f.or($base.$f)),* }
    };
}

impl Settings {
    /// `other` laid over `self`: every field set in `other` wins.
    pub fn merge(self, other: Settings) -> Settings {
        let mut base = self;
        let mut top = other;
        let security = SecuritySettings::layer(base.security.take(), top.security.take());
        let mut merged = merge_fields!(
            base,
            top,
            model,
            models_dir,
            imgsz,
            half,
            engine,
            precision,
            provider,
            fallback_to_cpu,
            trt_cache,
            threads,
            spinning,
            streams,
            pinning,
            ort_library,
            openvino_library,
            labels,
            listen,
            host,
            port,
            api_key,
            min_confidence,
            max_detections,
            max_body_bytes,
            max_image_bytes,
            max_pixels,
            log_responses,
            generate_metrics,
            metrics_cache,
            metrics_commit_ms,
            metrics_upload_flagfile,
            verbosity,
            mode,
            queue_capacity,
            max_batch,
            batch_wait_ms,
            camera_max_batch,
            request_timeout_ms,
            header_timeout_ms,
            body_timeout_ms,
            max_connections,
            warmup_image,
            cameras,
            redis,
            mqtt,
            events_db,
            analytics,
            webhooks,
            recordings_dir,
            min_free_bytes,
            security,
            access
        );
        merged.security = security;
        merged
    }

    /// Parses a TOML file's text: keys at the top level (the flat form of earlier versions) or
    /// in their section (`[api] port = 32168`, see [`SECTIONS`]), plus the `[[cameras]]`,
    /// `[redis]` and `[mqtt]` tables.
    pub fn from_toml(text: &str) -> Result<Settings, TomlError> {
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| TomlError(e.to_string()))?;
        for (section, keys) in SECTIONS {
            let Some(v) = table.remove(*section) else {
                continue;
            };
            let toml::Value::Table(inner) = v else {
                return Err(TomlError(format!("[{section}] must be a table")));
            };
            for (k, v) in inner {
                if !keys.contains(&k.as_str()) {
                    return Err(TomlError(format!(
                        "unknown field `{k}` in [{section}], expected one of {}",
                        keys.join(", ")
                    )));
                }
                if table.contains_key(&k) {
                    return Err(TomlError(format!(
                        "{k} is set twice: at the top level and in [{section}]"
                    )));
                }
                table.insert(k, v);
            }
        }
        table
            .try_into::<Settings>()
            .map_err(|e| TomlError(e.to_string()))
    }

    /// Reads `OSPREY_<FIELD>` variables and DeepStack's `MODE`, `API-KEY`, `PORT`,
    /// `MODELSTORE-DETECTION` from `get`. Unparsable values are returned as problems.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> (Settings, Vec<String>) {
        let mut problems = Vec::new();
        // Route every variable through the TOML parser so types and names are checked once.
        let mut table = toml::Table::new();
        for (name, kind) in FIELDS {
            let var = format!("OSPREY_{}", name.to_ascii_uppercase());
            if let Some(v) = get(&var) {
                match kind.to_toml(&v) {
                    Some(val) => {
                        table.insert((*name).to_string(), val);
                    }
                    None => {
                        problems.push(format!("{var}={v:?} is not a valid {}", kind.describe()))
                    }
                }
            }
        }
        for (var, name, kind) in [
            ("MODE", "mode", Kind::Str),
            ("API-KEY", "api_key", Kind::Str),
            ("API_KEY", "api_key", Kind::Str),
            ("PORT", "port", Kind::Int),
            ("MODELSTORE-DETECTION", "models_dir", Kind::Str),
        ] {
            if table.contains_key(name) {
                continue;
            }
            if let Some(v) = get(var) {
                match kind.to_toml(&v) {
                    Some(val) => {
                        table.insert(name.to_string(), val);
                    }
                    None => {
                        problems.push(format!("{var}={v:?} is not a valid {}", kind.describe()))
                    }
                }
            }
        }
        if let Some(v) = get("OSPREY_AUTH") {
            match crate::security::parse_on_off(&v) {
                Some(b) => {
                    let mut t = toml::Table::new();
                    t.insert("auth".into(), toml::Value::Boolean(b));
                    table.insert("security".into(), toml::Value::Table(t));
                }
                None => problems.push(format!("OSPREY_AUTH={v:?} is not on or off")),
            }
        }
        match table.try_into::<Settings>() {
            Ok(s) => (s, problems),
            Err(e) => {
                problems.push(format!("environment: {e}"));
                (Settings::default(), problems)
            }
        }
    }

    /// Fills defaults and checks everything; returns the config and every problem found.
    pub fn resolve(self) -> (ServeConfig, Vec<String>) {
        let mut problems = Vec::new();
        let mode_imgsz = self
            .mode
            .as_deref()
            .and_then(|m| match m.to_ascii_lowercase().as_str() {
                "high" => Some(640),
                "medium" => Some(416),
                "low" => Some(320),
                _ => None,
            });
        if self.mode.is_some() && mode_imgsz.is_none() {
            problems.push(format!(
                "mode {:?} is not High, Medium or Low",
                self.mode.as_deref().unwrap_or("")
            ));
        }
        let listen = match &self.listen {
            Some(l) if !l.is_empty() => l.clone(),
            _ => vec![SocketAddr::new(
                self.host.unwrap_or(IpAddr::from([0, 0, 0, 0])),
                self.port.unwrap_or(DEFAULT_PORT),
            )],
        };
        let min_confidence = self.min_confidence.unwrap_or(0.4);
        if !(0.0..=1.0).contains(&min_confidence) {
            problems.push(format!("min_confidence {min_confidence} is not in 0..1"));
        }
        let model = self.model.clone();
        if model.is_none() && self.models_dir.is_none() {
            problems.push("no model: set --model (Python: --engine_path) or --models-dir".into());
        }
        for path in model.iter().chain(self.models_dir.iter()) {
            if !path.exists() {
                problems.push(format!("{} does not exist", path.display()));
            }
        }
        if let Some(m) = &model {
            let ext = m
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_ascii_lowercase();
            let openvino_ir =
                ext == "xml" && matches!(self.engine, None | Some(Engine::Auto | Engine::OpenVino));
            if ext != "onnx" && !openvino_ir {
                problems.push(format!(
                    "{} is not an ONNX file; Osprey serves ONNX models: export one with \
                     `yolo export model=yolo11n.pt format=onnx imgsz=320` (docs/migrating.md), and use \
                     --provider tensorrt --half for TensorRT speed (OpenVINO IR .xml files need --engine openvino)",
                    m.display()
                ));
            }
        }
        let positive = |name: &str, v: usize, problems: &mut Vec<String>| {
            if v == 0 {
                problems.push(format!("{name} must be greater than 0"));
            }
        };
        let cfg = ServeConfig {
            api: ApiConfig {
                listen,
                api_key: self.api_key.filter(|k| !k.is_empty()).map(Secret),
                min_confidence,
                max_detections: self.max_detections,
                max_body_bytes: self.max_body_bytes.unwrap_or(16 << 20),
                max_image_bytes: self.max_image_bytes.unwrap_or(16 << 20),
                max_pixels: self.max_pixels.unwrap_or(40_000_000),
                log_responses: self.log_responses.unwrap_or(false),
                request_timeout_ms: self.request_timeout_ms.unwrap_or(10_000),
                header_timeout_ms: self.header_timeout_ms.unwrap_or(10_000),
                body_timeout_ms: self.body_timeout_ms.unwrap_or(30_000),
                max_connections: self.max_connections.unwrap_or(1024),
            },
            models: InferConfig {
                model,
                models_dir: self.models_dir,
                imgsz: self.imgsz.or(mode_imgsz),
                half: self.half.unwrap_or(false),
                engine: self.engine.unwrap_or_default(),
                precision: self.precision.unwrap_or_default(),
                openvino_library: self.openvino_library,
                provider: self.provider.unwrap_or_default(),
                fallback_to_cpu: self.fallback_to_cpu.unwrap_or(false),
                trt_cache: self.trt_cache,
                threads: self.threads.unwrap_or(0),
                spinning: self.spinning,
                streams: self.streams.unwrap_or_default().0,
                pinning: self.pinning,
                ort_library: self.ort_library,
                labels: self.labels,
                warmup_image: self.warmup_image,
                queue_capacity: self.queue_capacity.unwrap_or(64),
                max_batch: self.max_batch.unwrap_or(8),
                batch_wait_ms: self.batch_wait_ms.unwrap_or(2),
                camera_max_batch: self.camera_max_batch.unwrap_or(4),
            },
            cameras: self.cameras.unwrap_or_default(),
            redis: self.redis,
            mqtt: self.mqtt,
            store: StoreConfig {
                events_db: self
                    .events_db
                    .unwrap_or_else(|| PathBuf::from("data/events.sqlite")),
            },
            metrics: MetricsConfig {
                generate_metrics: self.generate_metrics.unwrap_or(false),
                metrics_cache: self
                    .metrics_cache
                    .unwrap_or_else(|| PathBuf::from("data/line-protocol-cache/cache.sqlite")),
                metrics_commit_ms: self.metrics_commit_ms.unwrap_or(250),
                metrics_upload_flagfile: self.metrics_upload_flagfile,
            },
            verbosity: self.verbosity,
            analytics: self.analytics.unwrap_or_default(),
            webhooks: self.webhooks.unwrap_or_default(),
            recording: None,
            security: osprey_api::SecurityConfig::default(),
        };
        let mut cfg = cfg;
        cfg.security = self.security.unwrap_or_default().resolve(
            self.access.unwrap_or_default(),
            &cfg.store.events_db,
            &mut problems,
        );
        if self.recordings_dir.is_some() || cfg.cameras.iter().any(|c| c.records()) {
            cfg.recording = Some(RecordingConfig {
                dir: self
                    .recordings_dir
                    .unwrap_or_else(|| PathBuf::from("data/recordings")),
                min_free_bytes: self.min_free_bytes,
            });
        }
        let mut ids = std::collections::HashSet::new();
        for c in &cfg.cameras {
            if let Err(e) = c.check() {
                problems.push(format!("camera {:?}: {e}", c.id));
            }
            if !ids.insert(c.id.as_str()) {
                problems.push(format!("camera id {:?} is used twice", c.id));
            }
        }
        for (camera, rules) in &cfg.analytics {
            if !ids.contains(camera.as_str()) {
                problems.push(format!(
                    "analytics.{camera}: no camera {camera:?} is configured"
                ));
            }
            // Everything but the frame bounds, which are known once the stream is open.
            if let Err(e) = rules.validate(u32::from(u16::MAX), u32::from(u16::MAX)) {
                problems.push(format!("analytics.{camera}: {e}"));
            }
        }
        for (i, w) in cfg.webhooks.iter().enumerate() {
            for p in w.problems() {
                problems.push(format!("webhooks[{i}]: {p}"));
            }
        }
        positive("max_body_bytes", cfg.api.max_body_bytes, &mut problems);
        positive("max_image_bytes", cfg.api.max_image_bytes, &mut problems);
        positive("queue_capacity", cfg.models.queue_capacity, &mut problems);
        positive("max_batch", cfg.models.max_batch, &mut problems);
        positive(
            "camera_max_batch",
            cfg.models.camera_max_batch,
            &mut problems,
        );
        positive("max_connections", cfg.api.max_connections, &mut problems);
        if cfg.api.max_pixels == 0 {
            problems.push("max_pixels must be greater than 0".into());
        }
        (cfg, problems)
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Str,
    Int,
    Float,
    Bool,
    List,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Str => "string",
            Kind::Int => "non-negative integer",
            Kind::Float => "number",
            Kind::Bool => "boolean (true/false/1/0)",
            Kind::List => "comma-separated list",
        }
    }

    fn to_toml(self, v: &str) -> Option<toml::Value> {
        let v = v.trim();
        Some(match self {
            Kind::Str => toml::Value::String(v.to_string()),
            Kind::Int => toml::Value::Integer(v.parse::<u64>().ok()?.try_into().ok()?),
            Kind::Float => toml::Value::Float(v.parse().ok()?),
            Kind::Bool => toml::Value::Boolean(crate::flags::parse_bool("env", v).ok()?),
            Kind::List => toml::Value::Array(
                v.split(',')
                    .map(|s| toml::Value::String(s.trim().to_string()))
                    .collect(),
            ),
        })
    }
}

/// Every [`Settings`] field with its type, for the environment layer.
const FIELDS: &[(&str, Kind)] = &[
    ("model", Kind::Str),
    ("models_dir", Kind::Str),
    ("imgsz", Kind::Int),
    ("half", Kind::Bool),
    ("engine", Kind::Str),
    ("precision", Kind::Str),
    ("provider", Kind::Str),
    ("fallback_to_cpu", Kind::Bool),
    ("trt_cache", Kind::Str),
    ("threads", Kind::Int),
    ("spinning", Kind::Bool),
    ("streams", Kind::Str),
    ("pinning", Kind::Bool),
    ("ort_library", Kind::Str),
    ("openvino_library", Kind::Str),
    ("labels", Kind::Str),
    ("listen", Kind::List),
    ("host", Kind::Str),
    ("port", Kind::Int),
    ("api_key", Kind::Str),
    ("min_confidence", Kind::Float),
    ("max_detections", Kind::Int),
    ("max_body_bytes", Kind::Int),
    ("max_image_bytes", Kind::Int),
    ("max_pixels", Kind::Int),
    ("log_responses", Kind::Bool),
    ("generate_metrics", Kind::Bool),
    ("metrics_cache", Kind::Str),
    ("metrics_commit_ms", Kind::Int),
    ("metrics_upload_flagfile", Kind::Str),
    ("verbosity", Kind::Int),
    ("mode", Kind::Str),
    ("queue_capacity", Kind::Int),
    ("max_batch", Kind::Int),
    ("batch_wait_ms", Kind::Int),
    ("camera_max_batch", Kind::Int),
    ("request_timeout_ms", Kind::Int),
    ("header_timeout_ms", Kind::Int),
    ("body_timeout_ms", Kind::Int),
    ("max_connections", Kind::Int),
    ("warmup_image", Kind::Str),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_override_in_order() {
        let file = Settings::from_toml("port = 1000\nmin_confidence = 0.5\nmodel = \"a.onnx\"\n")
            .expect("toml");
        let (env, problems) = Settings::from_env(|k| match k {
            "OSPREY_PORT" => Some("2000".into()),
            "API-KEY" => Some("s3cret".into()),
            _ => None,
        });
        assert!(problems.is_empty(), "{problems:?}");
        let flags = Settings {
            port: Some(3000),
            ..Settings::default()
        };
        let merged = Settings::default().merge(file.clone()).merge(env.clone());
        assert_eq!(merged.port, Some(2000));
        let merged = merged.merge(flags);
        assert_eq!(merged.port, Some(3000));
        assert_eq!(merged.min_confidence, Some(0.5));
        let (cfg, _) = merged.resolve();
        assert_eq!(cfg.api.listen, vec!["0.0.0.0:3000".parse().expect("addr")]);
        assert_eq!(format!("{:?}", cfg.api.api_key), "Some(\"<redacted>\")");
        assert!(!serde_json::to_string(&cfg)
            .expect("json")
            .contains("s3cret"));
    }

    #[test]
    fn defaults_match_deepstack_and_python() {
        let (cfg, problems) = Settings {
            model: Some("x.onnx".into()),
            ..Settings::default()
        }
        .resolve();
        assert_eq!(cfg.api.listen, vec!["0.0.0.0:32168".parse().expect("addr")]);
        assert_eq!(cfg.api.min_confidence, 0.4);
        assert_eq!(cfg.api.max_body_bytes, 16 << 20);
        assert!(
            problems.iter().any(|p| p.contains("x.onnx does not exist")),
            "{problems:?}"
        );
    }

    #[test]
    fn every_problem_is_reported() {
        let (_, problems) = Settings {
            model: Some("data/yolo11s-320-fp16.engine".into()),
            min_confidence: Some(2.0),
            max_batch: Some(0),
            mode: Some("Turbo".into()),
            ..Settings::default()
        }
        .resolve();
        let all = problems.join("\n");
        for needle in [
            "not an ONNX file",
            "format=onnx",
            "min_confidence 2",
            "max_batch must",
            "mode \"Turbo\"",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
    }

    #[test]
    fn every_env_field_is_a_settings_field() {
        // A valid value per kind; `deny_unknown_fields` rejects any name Settings lacks.
        let (s, problems) = Settings::from_env(|k| {
            let name = k.strip_prefix("OSPREY_")?.to_ascii_lowercase();
            let (_, kind) = FIELDS.iter().find(|(n, _)| *n == name)?;
            Some(match kind {
                Kind::Str if name == "host" => "127.0.0.1".into(),
                Kind::Str if name == "provider" => "cpu".into(),
                Kind::Str if name == "engine" => "openvino".into(),
                Kind::Str if name == "precision" => "int8".into(),
                Kind::Str if name == "streams" => "2".into(),
                Kind::Str => "x".into(),
                Kind::Int => "1".into(),
                Kind::Float => "0.5".into(),
                Kind::Bool => "true".into(),
                Kind::List => "127.0.0.1:1".into(),
            })
        });
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(s.streams, Some(Streams(2)));
        assert_eq!(s.pinning, Some(true));
        assert_eq!(s.warmup_image.as_deref(), Some(std::path::Path::new("x")));
        assert_eq!(s.listen.map(|l| l.len()), Some(1));
    }

    #[test]
    fn streams_read_as_auto_or_a_count_and_default_to_auto() {
        let s =
            Settings::from_toml("[models]\nmodel = \"m.onnx\"\nstreams = \"auto\"").expect("toml");
        assert_eq!(s.streams, Some(Streams(0)));
        let s = Settings::from_toml("[models]\nmodel = \"m.onnx\"\nstreams = 3\npinning = false")
            .expect("toml");
        assert_eq!(s.streams, Some(Streams(3)));
        let models = s.resolve().0.models;
        assert_eq!((models.streams, models.pinning), (3, Some(false)));
        assert!(Settings::from_toml("[models]\nstreams = 0").is_err());
        assert!(Settings::from_toml("[models]\nstreams = \"many\"").is_err());
        let d = Settings::from_toml("model = \"m.onnx\"")
            .expect("toml")
            .resolve()
            .0;
        assert_eq!(d.models.streams, 0);
        assert_eq!(d.models.engine, Engine::Auto);
        assert_eq!(d.models.precision, Precision::Fp32);
    }

    #[test]
    fn cameras_and_publishers_from_toml() {
        let s = Settings::from_toml(
            r#"
model = "m.onnx"
events_db = "/tmp/e.sqlite"
[[cameras]]
id = "front"
url = "rtsp://cam/1"
detect_fps = 5
labels = ["person"]
[[cameras]]
id = "front"
url = "gopher://x"
[redis]
url = "redis://127.0.0.1:6379"
[mqtt]
host = "127.0.0.1"
port = 1883
prefix = "frigate"
"#,
        )
        .expect("toml");
        let (cfg, problems) = s.resolve();
        assert_eq!(cfg.cameras.len(), 2);
        assert_eq!(cfg.cameras[0].detect_fps, Some(5.0));
        assert_eq!(
            cfg.mqtt.as_ref().map(|m| m.prefix.as_str()),
            Some("frigate")
        );
        let all = problems.join("\n");
        assert!(all.contains("unknown scheme"), "{all}");
        assert!(all.contains("used twice"), "{all}");
        assert!(Settings::from_toml("[[cameras]]\nid = \"a\"\nurl = \"x.mp4\"\nfps = 3").is_err());
    }

    #[test]
    fn sections_hold_every_flat_key_once_and_parse_like_the_flat_form() {
        for (name, _) in FIELDS {
            let homes = SECTIONS
                .iter()
                .filter(|(_, keys)| keys.contains(name))
                .count();
            let top_level = *name == "verbosity";
            assert_eq!(
                homes,
                usize::from(!top_level),
                "{name} is in {homes} sections"
            );
        }
        let flat = Settings::from_toml(
            "port = 1000\nmodel = \"a.onnx\"\nmax_batch = 4\nevents_db = \"e.sqlite\"\ngenerate_metrics = true\n",
        )
        .expect("flat");
        let nested = Settings::from_toml(
            "[api]\nport = 1000\n[models]\nmodel = \"a.onnx\"\n[batching]\nmax_batch = 4\n[store]\nevents_db = \"e.sqlite\"\n[metrics]\ngenerate_metrics = true\n",
        )
        .expect("nested");
        assert_eq!(flat, nested);
        let e = Settings::from_toml("[api]\nmodel = \"a.onnx\"\n")
            .expect_err("misplaced")
            .to_string();
        assert!(e.contains("unknown field `model` in [api]"), "{e}");
        let e = Settings::from_toml("port = 1\n[api]\nport = 2\n")
            .expect_err("twice")
            .to_string();
        assert!(e.contains("set twice"), "{e}");
        assert!(Settings::from_toml("api = 3\n").is_err());
    }

    #[test]
    fn analytics_rules_per_camera_from_toml() {
        let s = Settings::from_toml(
            r#"
model = "m.onnx"
[[cameras]]
id = "front"
url = "rtsp://cam/1"
[analytics.front]
tripwires = [{ id = "door", wire = [{ x = 10, y = 10 }, { x = 10, y = 200 }], direction = { p1 = { x = 0, y = 100 }, p2 = { x = 20, y = 100 } } }]
rois = [{ id = "queue", coordinates = [{ x = 0.1, y = 0.1 }, { x = 0.5, y = 0.1 }, { x = 0.5, y = 0.5 }], normalized = true }]
[analytics.back]
tripwires = [{ id = "x", wire = [{ x = 1, y = 1 }], direction = { p1 = { x = 0, y = 0 }, p2 = { x = 2, y = 2 } } }]
"#,
        )
        .expect("toml");
        let (cfg, problems) = s.resolve();
        assert_eq!(cfg.analytics["front"].tripwires[0].id, "door");
        let all = problems.join("\n");
        assert!(all.contains("analytics.back: no camera"), "{all}");
        assert!(all.contains("tripwires[0].wire"), "{all}");
        assert!(!all.contains("analytics.front"), "{all}");
    }

    #[test]
    fn bad_env_values_and_unknown_toml_keys_are_problems() {
        let (_, problems) =
            Settings::from_env(|k| (k == "OSPREY_PORT").then(|| "http".to_string()));
        assert_eq!(problems.len(), 1);
        assert!(Settings::from_toml("prot = 1").is_err());
    }
}
