//! The OpenVINO backend: the ONNX file read by OpenVINO's ONNX frontend (or an IR), compiled for
//! the CPU with an explicit inference precision: once for latency (one request on every
//! inference thread) and once for throughput (`--streams`: several requests in flight).

use std::path::Path;

use openvino::{
    CompiledModel, Core, DeviceType, ElementType, InferRequest, PropertyKey, RwPropertyKey, Shape,
    Tensor,
};

use crate::metadata::{self, FileMetadata};
use crate::model::{self, ModelInfo};
use crate::options::{EngineOptions, ManySink, OutputSink, Precision};
use crate::{ov_runtime, DetectError};

fn ov_err(what: &str) -> impl Fn(openvino::InferenceError) -> DetectError + '_ {
    move |e| DetectError::Runtime(format!("OpenVINO {what}: {e}"))
}

/// One infer request and its cached input tensor.
pub(crate) struct Slot {
    request: InferRequest,
    input: Option<([usize; 4], Tensor)>,
}

/// How long a started request may take before it is reported as failed (milliseconds).
const WAIT_MS: i64 = 600_000;

impl Slot {
    fn new(compiled: &mut CompiledModel) -> Result<Self, DetectError> {
        let request = compiled
            .create_infer_request()
            .map_err(ov_err("create_infer_request"))?;
        Ok(Self {
            request,
            input: None,
        })
    }

    /// Copies `data` into the request's input tensor (reused while the shape stays the same).
    fn set_input(&mut self, shape: [usize; 4], data: &[f32]) -> Result<(), DetectError> {
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
            .map_err(ov_err("set_input_tensor"))
    }

    /// Runs one batch synchronously on this request and hands the output to `sink`.
    pub(crate) fn run(
        &mut self,
        shape: [usize; 4],
        data: &[f32],
        sink: &mut OutputSink<'_>,
    ) -> Result<(), DetectError> {
        self.set_input(shape, data)?;
        self.request.infer().map_err(ov_err("infer"))?;
        self.output(sink)
    }

    /// Hands the finished request's output (dims, values) to `sink`.
    fn output(&self, sink: &mut OutputSink<'_>) -> Result<(), DetectError> {
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

/// The model compiled twice: for latency (one stream on every inference thread: a lone image)
/// and, unless `--streams 1`, for throughput (several streams, one request each: several images
/// in flight at once). The worker never runs both at the same time.
pub(crate) struct OvBackend {
    // Requests drop before their compiled models, and those before the core (field order).
    latency: Slot,
    parallel: Vec<Slot>,
    _parallel_compiled: Option<CompiledModel>,
    _compiled: CompiledModel,
    _core: Core,
    pub(crate) precision: Precision,
    pub(crate) device_name: String,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for OvBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OvBackend")
            .field("precision", &self.precision)
            .field("device", &self.device_name)
            .field("parallel", &self.parallel.len())
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

/// Compiles `model` again for throughput: `streams` streams (0: OpenVINO's choice for this CPU)
/// with one request each. `None` when that is a single stream (nothing to gain).
fn compile_parallel(
    core: &mut Core,
    model: &openvino::Model,
    streams: usize,
) -> Result<Option<(CompiledModel, Vec<Slot>)>, DetectError> {
    if streams == 1 {
        return Ok(None);
    }
    let cpu = DeviceType::CPU;
    let set = |core: &mut Core, key: RwPropertyKey, value: &str| {
        core.set_property(&cpu, &key, value)
            .map_err(ov_err("set_property"))
    };
    // Auto leaves NUM_STREAMS unset so that the hint chooses (once NUM_STREAMS has been set on
    // a core, the hint no longer does): this compilation comes before the latency one.
    set(core, RwPropertyKey::HintPerformanceMode, "THROUGHPUT")?;
    if streams > 1 {
        set(core, RwPropertyKey::NumStreams, &streams.to_string())?;
    }
    let mut compiled = core
        .compile_model(model, DeviceType::CPU)
        .map_err(ov_err("compile_model (throughput)"))?;
    let requests = if streams == 0 {
        let optimal = compiled.get_property(&PropertyKey::OptimalNumberOfInferRequests);
        let chosen = compiled.get_property(&PropertyKey::Rw(RwPropertyKey::NumStreams));
        tracing::debug!(?optimal, ?chosen, "OpenVINO throughput compilation");
        let number = |r: Result<std::borrow::Cow<'_, str>, openvino::InferenceError>| {
            r.ok().and_then(|v| v.trim().parse::<usize>().ok())
        };
        number(optimal).or(number(chosen)).unwrap_or(1).clamp(1, 64)
    } else {
        streams
    };
    if requests <= 1 {
        return Ok(None);
    }
    let slots = (0..requests)
        .map(|_| Slot::new(&mut compiled))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some((compiled, slots)))
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
        let (parallel_compiled, parallel) = match compile_parallel(&mut core, &model, opts.streams)?
        {
            Some((c, slots)) => (Some(c), slots),
            None => (None, Vec::new()),
        };
        let cpu = DeviceType::CPU;
        core.set_property(&cpu, &RwPropertyKey::HintPerformanceMode, "LATENCY")
            .and_then(|()| core.set_property(&cpu, &RwPropertyKey::NumStreams, "1"))
            .map_err(ov_err("set_property"))?;
        let mut compiled = core
            .compile_model(&model, cpu)
            .map_err(ov_err("compile_model"))?;
        let latency = Slot::new(&mut compiled)?;
        let device_name = core
            .get_property(&DeviceType::CPU, &PropertyKey::DeviceFullName)
            .unwrap_or_else(|_| "CPU".into());
        let backend = Self {
            latency,
            parallel,
            _parallel_compiled: parallel_compiled,
            _compiled: compiled,
            _core: core,
            precision,
            device_name,
        };
        Ok((backend, info))
    }

    /// Inferences this backend can run at once (1: no throughput compilation).
    pub(crate) fn parallelism(&self) -> usize {
        self.parallel.len().max(1)
    }

    /// Runs one batch `[n, 3, h, w]` on the latency request and hands the output (dims, values)
    /// to `sink`.
    pub(crate) fn run(
        &mut self,
        shape: [usize; 4],
        data: &[f32],
        sink: &mut OutputSink<'_>,
    ) -> Result<(), DetectError> {
        self.latency.run(shape, data, sink)
    }

    /// Moves the throughput requests out (each to run on a thread of its own); the backend then
    /// runs one inference at a time. Their compiled model stays here: the threads running them
    /// end before the backend is dropped.
    pub(crate) fn take_parallel(&mut self) -> Vec<Slot> {
        std::mem::take(&mut self.parallel)
    }

    /// Runs up to [`OvBackend::parallelism`] batches at once on the throughput requests and
    /// hands each output to `sink` with its index, in order. Every started request is waited
    /// for, even after an error.
    pub(crate) fn run_many(
        &mut self,
        inputs: &[([usize; 4], &[f32])],
        sink: &mut ManySink<'_>,
    ) -> Result<(), DetectError> {
        if inputs.len() > self.parallel.len() {
            return Err(DetectError::Runtime(format!(
                "{} batches for {} OpenVINO requests",
                inputs.len(),
                self.parallel.len()
            )));
        }
        let mut started = 0;
        let mut result = Ok(());
        for (slot, (shape, data)) in self.parallel.iter_mut().zip(inputs) {
            result = slot
                .set_input(*shape, data)
                .and_then(|()| slot.request.infer_async().map_err(ov_err("infer_async")));
            if result.is_err() {
                break;
            }
            started += 1;
        }
        for (i, slot) in self.parallel.iter_mut().take(started).enumerate() {
            let r = slot
                .request
                .wait(WAIT_MS)
                .map_err(ov_err("wait"))
                .and_then(|()| {
                    if result.is_ok() {
                        slot.output(&mut |dims, values| sink(i, dims, values))
                    } else {
                        Ok(())
                    }
                });
            if result.is_ok() {
                result = r;
            }
        }
        result
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
