//! Pieces every subcommand shares: logging set-up, model options, error printing.
use std::path::PathBuf;

use osprey_detect::{Detector, Engine, EngineOptions, Precision, Provider};

/// Sets up `tracing` to stderr with key=value fields.
pub fn init_tracing(filter: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let filter = filter
        .map(EnvFilter::new)
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("warn,osprey=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// Prints a one-paragraph error for a human (the log line may be filtered out).
#[allow(clippy::print_stderr)]
pub fn eprint_error(e: &anyhow::Error) {
    eprintln!("osprey: {e:#}");
}

/// Model and runtime options shared by `detect`, `eval` and `serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ModelArgs {
    /// ONNX model file (YOLOv8/YOLO11, YOLOX or end-to-end export).
    #[arg(
        long,
        short = 'm',
        env = "OSPREY_MODEL",
        default_value = "models/yolo11n-320.onnx"
    )]
    pub model: PathBuf,
    /// Class names file overriding the model's metadata (one per line, or JSON).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Inference size for dynamic-shape models.
    #[arg(long)]
    pub imgsz: Option<u32>,
    /// Inference engine: auto (OpenVINO fp32 on x86-64 when provisioned, else ONNX Runtime),
    /// ort (ONNX Runtime) or openvino.
    #[arg(long, default_value = "auto", env = "OSPREY_ENGINE")]
    pub engine: Engine,
    /// Precision: fp32 (exact), bf16, int8 or auto (the fastest the CPU and the model file allow).
    #[arg(long, default_value = "fp32", env = "OSPREY_PRECISION")]
    pub precision: Precision,
    /// Inferences in flight when several images wait: auto or a count (1: one at a time).
    #[arg(long, default_value = "auto", env = "OSPREY_STREAMS")]
    pub streams: osprey_detect::Streams,
    /// Execution provider: cpu, cuda, tensorrt or openvino.
    #[arg(long, default_value = "cpu", env = "OSPREY_PROVIDER")]
    pub provider: Provider,
    /// Use the CPU (with a warning) when the provider is unavailable, instead of failing.
    #[arg(long)]
    pub fallback_to_cpu: bool,
    /// TensorRT: build fp16 engines.
    #[arg(long)]
    pub half: bool,
    /// TensorRT: engine cache folder.
    #[arg(long)]
    pub trt_cache: Option<PathBuf>,
    /// Intra-op threads (0: one per physical core).
    #[arg(long, default_value_t = 0, env = "OSPREY_THREADS")]
    pub threads: usize,
    /// Path of libonnxruntime.so (default: ORT_DYLIB_PATH, next to the binary, runtime/onnxruntime/lib).
    #[arg(long, env = "OSPREY_ORT_LIBRARY")]
    pub ort_library: Option<PathBuf>,
    /// Path of OpenVINO's libopenvino_c.so or its folder (default: runtime/openvino/lib).
    #[arg(long, env = "OSPREY_OPENVINO_LIBRARY")]
    pub openvino_library: Option<PathBuf>,
}

impl ModelArgs {
    /// Engine options for these arguments.
    pub fn engine_options(&self) -> EngineOptions {
        EngineOptions {
            engine: self.engine,
            precision: self.precision,
            openvino_library: self.openvino_library.clone(),
            provider: self.provider,
            fallback_to_cpu: self.fallback_to_cpu,
            fp16: self.half,
            trt_cache_dir: self.trt_cache.clone(),
            intra_threads: self.threads,
            streams: self.streams.0,
            ort_library: self.ort_library.clone(),
            labels: self.labels.clone(),
            imgsz: self.imgsz,
            ..EngineOptions::default()
        }
    }

    /// Loads the model.
    pub fn load(&self) -> anyhow::Result<Detector> {
        Ok(Detector::load(&self.model, &self.engine_options())?)
    }
}
