//! How a [`crate::Detector`] is built: the inference engine (ONNX Runtime or OpenVINO), the
//! numeric precision, the ONNX Runtime execution provider and the options they share.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where a backend hands one batch's output: its dimensions and values.
pub(crate) type OutputSink<'a> = dyn FnMut(&[usize], &[f32]) -> Result<(), crate::DetectError> + 'a;

/// Where a backend running several batches at once hands each one's output, with its index.
pub(crate) type ManySink<'a> =
    dyn FnMut(usize, &[usize], &[f32]) -> Result<(), crate::DetectError> + 'a;

/// Which inference engine runs the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// The fastest exact engine here: OpenVINO (fp32) on x86-64 when its libraries are
    /// provisioned and the provider is the CPU, else ONNX Runtime. Resolved when the model loads.
    #[default]
    Auto,
    /// ONNX Runtime (`libonnxruntime.so`, `tools/provision-ort.sh`).
    Ort,
    /// Intel OpenVINO (`libopenvino_c.so`, `tools/provision-openvino.sh`); CPU only here.
    #[serde(rename = "openvino")]
    OpenVino,
}

impl Engine {
    /// Lower-case name, as the flag takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Auto => "auto",
            Engine::Ort => "ort",
            Engine::OpenVino => "openvino",
        }
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Engine {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Engine::Auto),
            "ort" | "onnxruntime" => Ok(Engine::Ort),
            "openvino" | "ov" => Ok(Engine::OpenVino),
            other => Err(format!(
                "unknown engine '{other}' (expected auto, ort or openvino)"
            )),
        }
    }
}

/// Numeric precision of inference. The model file's weights decide INT8 (a quantized IR or ONNX);
/// fp32 and bf16 are how the engine computes a float model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit float everywhere (the reference; the default: exact).
    #[default]
    Fp32,
    /// bfloat16 compute (OpenVINO on CPUs with AVX512_BF16 or AMX).
    Bf16,
    /// An INT8-quantized model (OpenVINO IR made by `tools/quantize-int8.sh`).
    Int8,
    /// The fastest the CPU and the model file allow: INT8 for a quantized model, else bf16 where
    /// the CPU has it, else fp32. ONNX Runtime always resolves it to fp32. Opt-in: bf16 moves
    /// boxes slightly.
    Auto,
}

impl Precision {
    /// Lower-case name, as the flag takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
            Precision::Int8 => "int8",
            Precision::Auto => "auto",
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "fp32" | "f32" => Ok(Precision::Fp32),
            "bf16" => Ok(Precision::Bf16),
            "int8" | "i8" => Ok(Precision::Int8),
            "auto" => Ok(Precision::Auto),
            other => Err(format!(
                "unknown precision '{other}' (expected fp32, bf16, int8 or auto)"
            )),
        }
    }
}

/// Where inference runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// ONNX Runtime's CPU provider (MLAS).
    #[default]
    Cpu,
    /// NVIDIA CUDA (needs the `onnxruntime-gpu` build of the library).
    Cuda,
    /// NVIDIA TensorRT through ONNX Runtime (engine cache, optional fp16).
    Tensorrt,
    /// Intel OpenVINO (needs an OpenVINO build of the library).
    Openvino,
}

impl Provider {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Cpu => "cpu",
            Provider::Cuda => "cuda",
            Provider::Tensorrt => "tensorrt",
            Provider::Openvino => "openvino",
        }
    }
}

impl std::str::FromStr for Provider {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "cpu" => Ok(Provider::Cpu),
            "cuda" | "gpu" => Ok(Provider::Cuda),
            "tensorrt" | "trt" => Ok(Provider::Tensorrt),
            "openvino" => Ok(Provider::Openvino),
            other => Err(format!(
                "unknown execution provider '{other}' (expected cpu, cuda, tensorrt or openvino)"
            )),
        }
    }
}

/// How to build the inference session.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineOptions {
    /// Inference engine.
    pub engine: Engine,
    /// Precision (`Auto`: the fastest the CPU and the model allow).
    pub precision: Precision,
    /// Execution provider.
    pub provider: Provider,
    /// Fall back to CPU (with a warning) when the provider is unavailable, instead of failing.
    pub fallback_to_cpu: bool,
    /// GPU index for CUDA/TensorRT.
    pub device_id: i32,
    /// TensorRT: build fp16 engines.
    pub fp16: bool,
    /// TensorRT: folder for the engine cache (`None`: no cache).
    pub trt_cache_dir: Option<PathBuf>,
    /// OpenVINO device type (`CPU`, `GPU`, `NPU`, `AUTO`).
    pub openvino_device: String,
    /// Inference threads: ONNX Runtime intra-op threads, OpenVINO `INFERENCE_NUM_THREADS`
    /// (0: the engine's default, one per physical core).
    pub intra_threads: usize,
    /// OpenVINO: pin inference threads to cores (`None`: OpenVINO's default).
    pub pinning: Option<bool>,
    /// Inferences in flight when several images wait (0: auto, the engine's choice for this
    /// CPU; 1: one at a time). A lone image still runs alone on every inference thread.
    pub streams: usize,
    /// Let idle intra-op threads spin. Turn off when several sessions share the CPU.
    pub spinning: bool,
    /// Explicit path of `libonnxruntime.so`.
    pub ort_library: Option<PathBuf>,
    /// Explicit path of OpenVINO's `libopenvino_c.so*` (or its folder).
    pub openvino_library: Option<PathBuf>,
    /// Labels file overriding the model's names.
    pub labels: Option<PathBuf>,
    /// Inference size for dynamic-shape models (ignored, with a warning, for fixed inputs).
    pub imgsz: Option<u32>,
    /// YOLOX: force grid decoding on or off (`None`: on).
    pub yolox_decode: Option<bool>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            engine: Engine::Auto,
            precision: Precision::Fp32,
            provider: Provider::Cpu,
            fallback_to_cpu: false,
            device_id: 0,
            fp16: false,
            trt_cache_dir: None,
            openvino_device: "CPU".into(),
            intra_threads: 0,
            pinning: None,
            streams: 0,
            spinning: true,
            ort_library: None,
            openvino_library: None,
            labels: None,
            imgsz: None,
            yolox_decode: None,
        }
    }
}

/// Parses `--streams`: `auto` (0) or a count from 1 to 64.
pub fn parse_streams(s: &str) -> Result<usize, String> {
    if s.eq_ignore_ascii_case("auto") {
        return Ok(0);
    }
    match s.parse::<usize>() {
        Ok(n @ 1..=64) => Ok(n),
        _ => Err(format!(
            "streams '{s}' is not auto or a number from 1 to 64"
        )),
    }
}

/// A `--streams` setting: `auto` (0) or a count. Reads from TOML as `"auto"` or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Streams(pub usize);

impl std::str::FromStr for Streams {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_streams(s).map(Streams)
    }
}

impl std::fmt::Display for Streams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&streams_label(self.0))
    }
}

impl Serialize for Streams {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&streams_label(self.0))
    }
}

impl<'de> Deserialize<'de> for Streams {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        let text = match Raw::deserialize(d)? {
            Raw::N(n) => n.to_string(),
            Raw::S(s) => s,
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Formats a streams setting the way `--streams` takes it.
pub fn streams_label(n: usize) -> String {
    if n == 0 {
        "auto".into()
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_parse_auto_and_bounded_counts() {
        assert_eq!(parse_streams("auto"), Ok(0));
        assert_eq!(parse_streams("AUTO"), Ok(0));
        assert_eq!(parse_streams("1"), Ok(1));
        assert_eq!(parse_streams("4"), Ok(4));
        assert!(parse_streams("0").is_err());
        assert!(parse_streams("65").is_err());
        assert!(parse_streams("-1").is_err());
        assert!(parse_streams("two").is_err());
        assert_eq!(streams_label(0), "auto");
        assert_eq!(streams_label(3), "3");
        assert_eq!("2".parse::<Streams>(), Ok(Streams(2)));
        assert_eq!(Streams(0).to_string(), "auto");
    }

    #[test]
    fn defaults_are_exact_and_automatic() {
        let o = EngineOptions::default();
        assert_eq!(o.engine, Engine::Auto);
        assert_eq!(o.precision, Precision::Fp32);
        assert_eq!(o.streams, 0);
        assert_eq!("auto".parse::<Engine>(), Ok(Engine::Auto));
    }
}
