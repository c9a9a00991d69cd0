//! The OpenVINO backend: the ONNX file read by OpenVINO's ONNX frontend (or an IR), compiled for
//! the CPU with an explicit inference precision, and one infer request per detector.

use std::path::Path;

use openvino::{
    Core, DeviceType, ElementType, InferRequest, PropertyKey, RwPropertyKey, Shape, Tensor,
};

use crate::metadata::{self, FileMetadata};
use crate::model::{self, ModelInfo};
use crate::options::{EngineOptions, OutputSink, Precision};
use crate::{ov_runtime, DetectError};

fn ov_err(what: &str) -> impl Fn(openvino::InferenceError) -> DetectError + '_ {
    move |e| DetectError::Runtime(format!("OpenVINO {what}: {e}"))
}

/// A compiled model's infer request and its cached input tensor.
pub(crate) struct OvBackend {
    // Kept alive for the request; dropped after it (fields drop in order).
    request: InferRequest,
    _compiled: openvino::CompiledModel,
    _core: Core,
    input: Option<([usize; 4], Tensor)>,
    pub(crate) precision: Precision,
    pub(crate) device_name: String,
}

impl std::fmt::Debug for OvBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OvBackend")
            .field("precision", &self.precision)
            .field("device", &self.device_name)
            .finish_non_exhaustive()
    }
}

/// Whether the CPU computes bf16 natively (OpenVINO's `OPTIMIZATION_CAPABILITIES` lists `BF16`).
fn cpu_has_bf16(core: &Core) -> bool {
    core.get_property(&DeviceType::CPU, &PropertyKey::DeviceCapabilities)
        .map(|caps| caps.split_whitespace().any(|c| c == "BF16"))
        .unwrap_or(false)
}

/// Resolves `Auto` and checks that the request can be honoured.
fn choose_precision(
    asked: Precision,
    file: &FileMetadata,
    bf16: bool,
) -> Result<Precision, DetectError> {
    match asked {
        Precision::Auto if file.quantized => Ok(Precision::Int8),
        Precision::Auto if bf16 => Ok(Precision::Bf16),
        Precision::Auto => Ok(Precision::Fp32),
        Precision::Bf16 if !bf16 => Err(DetectError::PrecisionUnavailable(
            "bf16 needs a CPU with AVX512_BF16 or AMX, which OpenVINO does not report here; \
             use --precision fp32 or auto"
                .into(),
        )),
        Precision::Int8 if !file.quantized => Err(DetectError::PrecisionUnavailable(
            "--precision int8 needs an INT8-quantized model (make one with \
             tools/quantize-int8.sh, docs/models.md); this file holds float weights"
                .into(),
        )),
        // A quantized file runs its INT8 operations whatever the float precision asked.
        _ if file.quantized => Ok(Precision::Int8),
        p => Ok(p),
    }
}

/// The `INFERENCE_PRECISION_HINT` for a precision. INT8 models keep their float parts in f32
/// (the detection head stays float for accuracy).
fn hint(p: Precision) -> &'static str {
    match p {
        Precision::Bf16 => "bf16",
        _ => "f32",
    }
}

fn partial_dims(node: &openvino::Node) -> Result<Vec<i64>, DetectError> {
    let shape = node.get_partial_shape().map_err(ov_err("shape"))?;
    Ok(shape
        .get_dimensions()
        .iter()
        .map(|d| if d.is_dynamic() { -1 } else { d.get_min() })
        .collect())
}

fn configure(
    core: &mut Core,
    opts: &EngineOptions,
    precision: Precision,
) -> Result<(), DetectError> {
    let cpu = DeviceType::CPU;
    let set = |core: &mut Core, key: RwPropertyKey, value: &str| {
        core.set_property(&cpu, &key, value)
            .map_err(ov_err("set_property"))
    };
    set(core, RwPropertyKey::HintInferencePrecision, hint(precision))?;
    set(core, RwPropertyKey::HintPerformanceMode, "LATENCY")?;
    set(core, RwPropertyKey::NumStreams, "1")?;
    if opts.intra_threads > 0 {
        let n = opts.intra_threads.to_string();
        set(core, RwPropertyKey::InferenceNumThreads, &n)?;
    }
    if let Some(pin) = opts.pinning {
        let v = if pin { "YES" } else { "NO" };
        set(core, RwPropertyKey::HintEnableCpuPinning, v)?;
    }
    Ok(())
}

impl OvBackend {
    /// Reads, compiles and describes the model.
    pub(crate) fn load(
        path: &Path,
        opts: &EngineOptions,
        labels: Option<Vec<String>>,
    ) -> Result<(Self, ModelInfo), DetectError> {
        ov_runtime::init(opts.openvino_library.as_deref())?;
        let unreadable = |detail: String| DetectError::ModelUnreadable {
            path: path.display().to_string(),
            detail,
        };
        let file = metadata::read(path).map_err(|e| unreadable(e.to_string()))?;
        let mut core = Core::new().map_err(|e| DetectError::Runtime(format!("OpenVINO: {e}")))?;
        let precision = choose_precision(opts.precision, &file, cpu_has_bf16(&core))?;
        configure(&mut core, opts, precision)?;
        let weights = if metadata::is_ir(path) {
            path.with_extension("bin").display().to_string()
        } else {
            String::new()
        };
        let model = core
            .read_model_from_file(&path.display().to_string(), &weights)
            .map_err(|e| unreadable(format!("OpenVINO could not read it: {e}")))?;
        let input = model.get_input_by_index(0).map_err(ov_err("input"))?;
        let output = model.get_output_by_index(0).map_err(ov_err("output"))?;
        if input.get_element_type().map_err(ov_err("input type"))? != ElementType::F32 {
            return Err(DetectError::UnsupportedLayout(
                "the input is not float32; export without half=True".into(),
            ));
        }
        let mut warn = |m: String| tracing::warn!("{m}");
        let info = model::resolve(model::Resolve {
            name: path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("model")
                .to_string(),
            input_name: input.get_name().map_err(ov_err("input name"))?,
            output_name: output.get_name().map_err(ov_err("output name"))?,
            input_shape: partial_dims(&input)?,
            output_shape: partial_dims(&output)?,
            metadata: file.entries,
            labels,
            imgsz_override: opts.imgsz,
            yolox_decode: opts.yolox_decode,
            warn: &mut warn,
        })?;
        let mut compiled = core
            .compile_model(&model, DeviceType::CPU)
            .map_err(ov_err("compile_model"))?;
        let request = compiled
            .create_infer_request()
            .map_err(ov_err("create_infer_request"))?;
        let device_name = core
            .get_property(&DeviceType::CPU, &PropertyKey::DeviceFullName)
            .unwrap_or_else(|_| "CPU".into());
        let backend = Self {
            request,
            _compiled: compiled,
            _core: core,
            input: None,
            precision,
            device_name,
        };
        Ok((backend, info))
    }

    /// Runs one batch `[n, 3, h, w]` and hands the output (dims, values) to `sink`.
    pub(crate) fn run(
        &mut self,
        shape: [usize; 4],
        data: &[f32],
        sink: &mut OutputSink<'_>,
    ) -> Result<(), DetectError> {
        let tensor = match &mut self.input {
            Some((s, t)) if *s == shape => t,
            slot => {
                let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
                let s = Shape::new(&dims).map_err(ov_err("shape"))?;
                let t = Tensor::new(ElementType::F32, &s).map_err(ov_err("tensor"))?;
                &mut slot.insert((shape, t)).1
            }
        };
        tensor
            .get_data_mut::<f32>()
            .map_err(ov_err("tensor data"))?
            .copy_from_slice(data);
        self.request
            .set_input_tensor(tensor)
            .map_err(ov_err("set_input_tensor"))?;
        self.request.infer().map_err(ov_err("infer"))?;
        let out = self
            .request
            .get_output_tensor()
            .map_err(ov_err("output tensor"))?;
        let dims: Vec<usize> = out
            .get_shape()
            .map_err(ov_err("output shape"))?
            .get_dimensions()
            .iter()
            .map(|&d| d.max(0) as usize)
            .collect();
        let values = out.get_data::<f32>().map_err(ov_err("output data"))?;
        sink(&dims, values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_picks_int8_then_bf16_then_fp32() {
        let float = FileMetadata::default();
        let int8 = FileMetadata {
            quantized: true,
            ..FileMetadata::default()
        };
        let auto = Precision::Auto;
        assert_eq!(
            choose_precision(auto, &int8, true).ok(),
            Some(Precision::Int8)
        );
        assert_eq!(
            choose_precision(auto, &float, true).ok(),
            Some(Precision::Bf16)
        );
        assert_eq!(
            choose_precision(auto, &float, false).ok(),
            Some(Precision::Fp32)
        );
        assert!(choose_precision(Precision::Bf16, &float, false).is_err());
        assert!(choose_precision(Precision::Int8, &float, true).is_err());
        assert_eq!(
            choose_precision(Precision::Fp32, &int8, true).ok(),
            Some(Precision::Int8)
        );
    }
}
