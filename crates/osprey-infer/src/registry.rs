//! The served models: which files, loading them, their workers, and their metrics.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use osprey_base::{ErrorKind, Kinded};
use osprey_detect::{DetectError, Detector, Engine, EngineOptions, Precision, Provider};
use prometheus::{HistogramOpts, HistogramVec, IntGaugeVec, Opts, Registry};
use serde::Serialize;

use crate::worker::{self, BatchConfig, ModelHandle};

/// The `[models]` and `[batching]` settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InferConfig {
    /// The default model (served at `/v1/vision/detection`).
    pub model: Option<PathBuf>,
    /// A folder of models, one `/v1/vision/custom/<stem>` each.
    pub models_dir: Option<PathBuf>,
    /// Inference size for dynamic-shape models.
    pub imgsz: Option<u32>,
    /// TensorRT fp16 engines.
    pub half: bool,
    /// Inference engine (`--engine ort|openvino`).
    pub engine: Engine,
    /// Precision (`--precision fp32|bf16|int8|auto`).
    pub precision: Precision,
    /// Execution provider.
    pub provider: Provider,
    /// Fall back to CPU when the provider is unavailable.
    pub fallback_to_cpu: bool,
    /// TensorRT engine cache folder.
    pub trt_cache: Option<PathBuf>,
    /// Intra-op threads per model (0: one per core).
    pub threads: usize,
    /// Spinning of idle intra-op threads (default: on with one model).
    pub spinning: Option<bool>,
    /// Inferences in flight when several images wait (`--streams`; 0: auto).
    pub streams: usize,
    /// OpenVINO: pin inference threads to cores (`None`: OpenVINO's default).
    pub pinning: Option<bool>,
    /// Path of libonnxruntime.so.
    pub ort_library: Option<PathBuf>,
    /// Path of OpenVINO's libopenvino_c.so (or its folder).
    pub openvino_library: Option<PathBuf>,
    /// Labels file overriding the model's names.
    pub labels: Option<PathBuf>,
    /// Warm-up image.
    pub warmup_image: Option<PathBuf>,
    /// HTTP requests waiting per model before 503.
    pub queue_capacity: usize,
    /// Largest inference batch.
    pub max_batch: usize,
    /// How long the first job of a batch waits for company, in milliseconds.
    pub batch_wait_ms: u64,
    /// Largest batch of camera frames.
    pub camera_max_batch: usize,
}

/// Why the models could not be served.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A model failed to load.
    #[error("model {path}: {source}")]
    Model {
        /// Model file.
        path: String,
        /// Cause.
        source: DetectError,
    },
    /// The models folder has no `.onnx` files or cannot be read.
    #[error("{0}")]
    Models(String),
    /// A worker thread could not be started.
    #[error("cannot start an inference thread: {0}")]
    Thread(#[from] std::io::Error),
    /// The metrics registry refused a series (a bug).
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

impl Kinded for LoadError {
    fn kind(&self) -> ErrorKind {
        match self {
            LoadError::Model { source, .. } => source.kind(),
            LoadError::Models(_) => ErrorKind::FailedPrecondition,
            LoadError::Thread(_) | LoadError::Metrics(_) => ErrorKind::Internal,
        }
    }
}

/// Inference series: batch sizes, queue depth and refusals, and the served models.
#[derive(Debug, Clone)]
pub struct InferMetrics {
    /// Images per inference run, by model.
    pub batch_size: HistogramVec,
    /// Requests waiting for inference, by model (set at scrape time).
    pub queue_depth: IntGaugeVec,
    /// Constant 1 with the model's description as labels.
    pub model_info: IntGaugeVec,
}

impl InferMetrics {
    /// Registers the series in `registry`.
    pub fn register(registry: &Registry) -> Result<InferMetrics, prometheus::Error> {
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
        let model_info = IntGaugeVec::new(
            Opts::new("osprey_model_info", "Served models (value 1)"),
            &[
                "model",
                "engine",
                "provider",
                "imgsz",
                "precision",
                "layout",
                "batch",
                "in_flight",
            ],
        )?;
        registry.register(Box::new(batch_size.clone()))?;
        registry.register(Box::new(queue_depth.clone()))?;
        registry.register(Box::new(model_info.clone()))?;
        Ok(InferMetrics {
            batch_size,
            queue_depth,
            model_info,
        })
    }
}

/// Every served model by name, the default first.
#[derive(Debug, Clone)]
pub struct Models {
    map: HashMap<String, ModelHandle>,
    default: String,
    metrics: Option<InferMetrics>,
}

impl Models {
    /// One model by name.
    pub fn get(&self, name: &str) -> Option<&ModelHandle> {
        self.map.get(name)
    }

    /// The default model's name.
    pub fn default_name(&self) -> &str {
        &self.default
    }

    /// Every model, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &ModelHandle)> {
        self.map.iter()
    }

    /// Model names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.map.keys().cloned().collect();
        v.sort();
        v
    }

    /// Whether every worker has finished warming up.
    pub fn ready(&self) -> bool {
        self.map
            .values()
            .all(|m| m.stats().ready.load(Ordering::Acquire))
    }

    /// Sets the scrape-time gauges (queue depth).
    pub fn refresh_metrics(&self) {
        let Some(metrics) = &self.metrics else {
            return;
        };
        for (name, m) in &self.map {
            let depth = m.stats().queued.load(Ordering::Relaxed) as i64;
            metrics
                .queue_depth
                .with_label_values(&[name.as_str()])
                .set(depth);
        }
    }

    /// Loads every model of `cfg` and starts its worker, registering the inference series.
    pub fn load(cfg: &InferConfig, registry: &Registry) -> Result<Models, LoadError> {
        let metrics = InferMetrics::register(registry)?;
        let files = model_files(cfg)?;
        // Several ONNX Runtime pools spinning at once fight over the cores.
        let spinning = cfg.spinning.unwrap_or(files.len() == 1);
        let batch = BatchConfig {
            queue_capacity: cfg.queue_capacity,
            camera_capacity: 256,
            max_batch: cfg.max_batch,
            camera_max_batch: cfg.camera_max_batch,
            batch_wait: Duration::from_millis(cfg.batch_wait_ms),
        };
        let warmup = warmup_image(cfg.warmup_image.as_deref());
        let mut map = HashMap::new();
        for (name, path) in &files {
            let opts = EngineOptions {
                engine: cfg.engine,
                precision: cfg.precision,
                openvino_library: cfg.openvino_library.clone(),
                provider: cfg.provider,
                fallback_to_cpu: cfg.fallback_to_cpu,
                fp16: cfg.half,
                trt_cache_dir: cfg.trt_cache.clone(),
                intra_threads: cfg.threads,
                streams: cfg.streams,
                pinning: cfg.pinning,
                spinning,
                ort_library: cfg.ort_library.clone(),
                labels: cfg.labels.clone(),
                imgsz: cfg.imgsz,
                ..EngineOptions::default()
            };
            let detector = Detector::load(path, &opts).map_err(|source| LoadError::Model {
                path: path.display().to_string(),
                source,
            })?;
            let precision = describe(&metrics, name, &detector, cfg.half);
            let batch_sizes = metrics.batch_size.with_label_values(&[name.as_str()]);
            let handle = worker::spawn(name, detector, batch, warmup.clone(), batch_sizes)?;
            map.insert(name.clone(), handle.with_precision(precision));
        }
        Ok(Models {
            map,
            default: files[0].0.clone(),
            metrics: Some(metrics),
        })
    }
}

/// `osprey_model_info` for one loaded model; returns its precision.
fn describe(metrics: &InferMetrics, name: &str, detector: &Detector, half: bool) -> &'static str {
    let info = detector.info();
    let provider = detector.provider();
    let precision = if half && provider == Provider::Tensorrt {
        "fp16"
    } else {
        detector.precision().as_str()
    };
    let batch_axis = match info.batch {
        osprey_detect::BatchAxis::Dynamic => "dynamic".to_string(),
        osprey_detect::BatchAxis::Fixed(n) => n.to_string(),
    };
    let imgsz = format!("{}x{}", info.imgsz.1, info.imgsz.0);
    let in_flight = detector.parallelism().to_string();
    metrics
        .model_info
        .with_label_values(&[
            name,
            detector.engine().as_str(),
            provider.as_str(),
            imgsz.as_str(),
            precision,
            info.layout_name,
            batch_axis.as_str(),
            in_flight.as_str(),
        ])
        .set(1);
    precision
}

fn warmup_image(path: Option<&Path>) -> Option<osprey_image::RgbImage> {
    let p = path?;
    match std::fs::read(p) {
        Ok(b) => osprey_image::decode(&b, &osprey_image::DecodeLimits::default()).ok(),
        Err(e) => {
            tracing::warn!(path = %p.display(), error = %e, "cannot read the warm-up image; using a grey frame");
            None
        }
    }
}

/// Every model file to serve: `(name, path)`, the default model first.
pub fn model_files(cfg: &InferConfig) -> Result<Vec<(String, PathBuf)>, LoadError> {
    let stem = |p: &Path| {
        p.file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("model")
            .to_string()
    };
    let mut out = Vec::new();
    if let Some(m) = &cfg.model {
        out.push((stem(m), m.clone()));
    }
    if let Some(dir) = &cfg.models_dir {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| {
                LoadError::Models(format!("cannot read models folder {}: {e}", dir.display()))
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
            })
            .collect();
        files.sort();
        for f in files {
            let name = stem(&f);
            if out.iter().all(|(n, _)| *n != name) {
                out.push((name, f));
            }
        }
    }
    if out.is_empty() {
        return Err(LoadError::Models(
            "no ONNX model to serve (set --model or --models-dir with .onnx files)".into(),
        ));
    }
    Ok(out)
}
