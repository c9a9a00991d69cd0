//! The ONNX Runtime backend: one session per model, loaded through `ort`'s dynamic loading.

use std::path::Path;

use ort::ep::ExecutionProvider;
use ort::session::{builder::GraphOptimizationLevel, Session};
use ort::value::TensorRef;

use crate::model::{self, ModelInfo};
use crate::options::{EngineOptions, OutputSink, Precision, Provider};
use crate::{runtime, DetectError};

/// An ONNX Runtime session and the provider it ended up on.
#[derive(Debug)]
pub(crate) struct OrtBackend {
    session: Session,
    pub(crate) provider: Provider,
    pub(crate) precision: Precision,
}

impl OrtBackend {
    /// Builds the session and describes the model.
    pub(crate) fn load(
        path: &Path,
        opts: &EngineOptions,
        labels: Option<Vec<String>>,
    ) -> Result<(Self, ModelInfo), DetectError> {
        // ONNX Runtime runs a quantized (QDQ) file's INT8 operations as they are; a float file
        // stays fp32.
        let quantized = crate::metadata::read(path).is_ok_and(|m| m.quantized);
        if opts.precision == Precision::Int8 && !quantized {
            return Err(DetectError::PrecisionUnavailable(
                "--precision int8 needs an INT8-quantized model (tools/quantize-int8.sh, \
                 docs/models.md); this file holds float weights"
                    .into(),
            ));
        }
        let precision = if quantized {
            Precision::Int8
        } else {
            Precision::Fp32
        };
        let env = runtime::init(opts.ort_library.as_deref())?;
        let mut builder = Session::builder(env)?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| DetectError::Runtime(e.to_string()))?;
        if opts.intra_threads > 0 {
            builder = builder
                .with_intra_threads(opts.intra_threads)
                .map_err(|e| DetectError::Runtime(e.to_string()))?;
        }
        builder = builder
            .with_intra_op_spinning(opts.spinning)
            .map_err(|e| DetectError::Runtime(e.to_string()))?;
        let (mut builder, provider) = with_provider(builder, opts)?;
        let session = builder
            .commit_from_file(path)
            .map_err(|e| DetectError::ModelUnreadable {
                path: path.display().to_string(),
                detail: e.to_string(),
            })?;
        let info = describe(&session, path, labels, opts)?;
        Ok((
            Self {
                session,
                provider,
                precision,
            },
            info,
        ))
    }

    /// Runs one batch `[n, 3, h, w]` and hands the output (dims, values) to `sink`.
    pub(crate) fn run(
        &mut self,
        info: &ModelInfo,
        shape: [usize; 4],
        data: &[f32],
        sink: &mut OutputSink<'_>,
    ) -> Result<(), DetectError> {
        let input = TensorRef::from_array_view((shape, data))?;
        let outputs = self
            .session
            .run(ort::inputs![info.input_name.as_str() => input])?;
        let (dims, out) = outputs[info.output_name.as_str()].try_extract_tensor::<f32>()?;
        let dims: Vec<usize> = dims.iter().map(|&d| d.max(0) as usize).collect();
        sink(&dims, out)
    }
}

fn with_provider(
    builder: ort::session::builder::SessionBuilder,
    opts: &EngineOptions,
) -> Result<(ort::session::builder::SessionBuilder, Provider), DetectError> {
    Ok(match opts.provider {
        Provider::Cpu => (builder, Provider::Cpu),
        Provider::Cuda => register(
            builder,
            ort::ep::CUDA::default().with_device_id(opts.device_id),
            Provider::Cuda,
            opts,
        )?,
        Provider::Tensorrt => {
            let mut trt = ort::ep::TensorRT::default()
                .with_device_id(opts.device_id)
                .with_fp16(opts.fp16);
            if let Some(dir) = &opts.trt_cache_dir {
                trt = trt
                    .with_engine_cache(true)
                    .with_engine_cache_path(dir.display());
            }
            register(builder, trt, Provider::Tensorrt, opts)?
        }
        Provider::Openvino => register(
            builder,
            ort::ep::OpenVINO::default().with_device_type(&opts.openvino_device),
            Provider::Openvino,
            opts,
        )?,
    })
}

fn register<E: ExecutionProvider + Into<ort::ep::ExecutionProviderDispatch>>(
    builder: ort::session::builder::SessionBuilder,
    ep: E,
    provider: Provider,
    opts: &EngineOptions,
) -> Result<(ort::session::builder::SessionBuilder, Provider), DetectError> {
    let library = runtime::loaded_library()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let hint = match provider {
        Provider::Cuda | Provider::Tensorrt => {
            "provision the GPU build with `make provision ORT_FLAVOR=gpu` (PyPI onnxruntime-gpu) and install CUDA/cuDNN/TensorRT"
        }
        Provider::Openvino => "provision an OpenVINO build (PyPI onnxruntime-openvino) with `make provision ORT_FLAVOR=openvino`",
        Provider::Cpu => "",
    };
    let unavailable = |detail: Option<String>| DetectError::ProviderUnavailable {
        provider: provider.as_str().into(),
        library: library.clone(),
        hint: match detail {
            Some(d) => format!("{hint} ({d})"),
            None => hint.into(),
        },
    };
    let available = E::is_available().unwrap_or(false);
    let failure = if available {
        match builder.with_execution_providers([ep.into().error_on_failure()]) {
            Ok(b) => return Ok((b, provider)),
            Err(e) => {
                let detail = e.to_string();
                (e.recover(), Some(detail))
            }
        }
    } else {
        (builder, None)
    };
    let (builder, detail) = failure;
    if opts.fallback_to_cpu {
        tracing::warn!(
            provider = provider.as_str(),
            detail = detail.as_deref().unwrap_or("not in this build"),
            "execution provider unavailable; falling back to CPU"
        );
        Ok((builder, Provider::Cpu))
    } else {
        Err(unavailable(detail))
    }
}

fn describe(
    session: &Session,
    path: &Path,
    labels: Option<Vec<String>>,
    opts: &EngineOptions,
) -> Result<ModelInfo, DetectError> {
    let input = session
        .inputs()
        .first()
        .ok_or_else(|| DetectError::UnsupportedLayout("the model has no inputs".into()))?;
    let output = session
        .outputs()
        .first()
        .ok_or_else(|| DetectError::UnsupportedLayout("the model has no outputs".into()))?;
    if input.dtype().tensor_type() != Some(ort::value::TensorElementType::Float32) {
        return Err(DetectError::UnsupportedLayout(format!(
            "input '{}' is {:?}, not float32; export without half=True (TensorRT fp16 is a runtime option)",
            input.name(),
            input.dtype()
        )));
    }
    let shape = |o: &ort::value::Outlet| -> Vec<i64> {
        o.dtype()
            .tensor_shape()
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    };
    let metadata = session.metadata()?;
    let mut md = std::collections::HashMap::new();
    for key in metadata.custom_keys().unwrap_or_default() {
        if let Some(v) = metadata.custom(&key) {
            md.insert(key, v);
        }
    }
    let mut warn = |m: String| tracing::warn!("{m}");
    model::resolve(model::Resolve {
        name: path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("model")
            .to_string(),
        input_name: input.name().to_string(),
        output_name: output.name().to_string(),
        input_shape: shape(input),
        output_shape: shape(output),
        metadata: md,
        labels,
        imgsz_override: opts.imgsz,
        yolox_decode: opts.yolox_decode,
        warn: &mut warn,
    })
}
