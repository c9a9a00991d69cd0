//! The ONNX Runtime backend: one session per model, loaded through `ort`'s dynamic loading, plus
//! (`--streams`, CPU only) sessions with a share of the threads each, run side by side on scoped
//! threads when several images wait.

use std::path::Path;

use ort::ep::ExecutionProvider;
use ort::session::{builder::GraphOptimizationLevel, Session};
use ort::value::TensorRef;

use crate::model::{self, ModelInfo};
use crate::options::{EngineOptions, ManySink, OutputSink, Precision, Provider};
use crate::{runtime, DetectError};

/// An ONNX Runtime session and the provider it ended up on.
#[derive(Debug)]
pub(crate) struct OrtBackend {
    session: Session,
    parallel: Vec<Session>,
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
        runtime::init(opts.ort_library.as_deref())?;
        let (session, provider) = build_session(path, opts, opts.intra_threads)?;
        let info = describe(&session, path, labels, opts)?;
        let parallel = match parallel_streams(opts, provider) {
            0 | 1 => Vec::new(),
            n => {
                let total = match opts.intra_threads {
                    0 => cores(),
                    t => t,
                };
                let each = (total / n).max(1);
                (0..n)
                    .map(|_| build_session(path, opts, each).map(|(s, _)| s))
                    .collect::<Result<Vec<_>, _>>()?
            }
        };
        Ok((
            Self {
                session,
                parallel,
                provider,
                precision,
            },
            info,
        ))
    }

    /// Moves the parallel sessions out (each to run on a thread of its own).
    pub(crate) fn take_parallel(&mut self) -> Vec<Session> {
        std::mem::take(&mut self.parallel)
    }

    /// Sessions that can run at once (1: no parallel sessions).
    pub(crate) fn parallelism(&self) -> usize {
        self.parallel.len().max(1)
    }

    /// Runs up to [`OrtBackend::parallelism`] batches at once, one parallel session each on a
    /// scoped thread, and hands each output to `sink` with its index, in order.
    pub(crate) fn run_many(
        &mut self,
        info: &ModelInfo,
        inputs: &[([usize; 4], &[f32])],
        sink: &mut ManySink<'_>,
    ) -> Result<(), DetectError> {
        if inputs.len() > self.parallel.len() {
            return Err(DetectError::Runtime(format!(
                "{} batches for {} ONNX Runtime sessions",
                inputs.len(),
                self.parallel.len()
            )));
        }
        type Out = Result<(Vec<usize>, Vec<f32>), DetectError>;
        let outs: Vec<Out> = std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .parallel
                .iter_mut()
                .zip(inputs)
                .map(|(session, (shape, data))| {
                    scope.spawn(move || -> Out {
                        let mut owned = None;
                        run_session(session, info, *shape, data, &mut |dims, out| {
                            owned = Some((dims.to_vec(), out.to_vec()));
                            Ok(())
                        })?;
                        owned.ok_or_else(|| DetectError::Runtime("no output".into()))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(DetectError::Runtime("an inference thread panicked".into()))
                    })
                })
                .collect()
        });
        for (i, out) in outs.into_iter().enumerate() {
            let (dims, values) = out?;
            sink(i, &dims, &values)?;
        }
        Ok(())
    }

    /// Runs one batch `[n, 3, h, w]` and hands the output (dims, values) to `sink`.
    pub(crate) fn run(
        &mut self,
        info: &ModelInfo,
        shape: [usize; 4],
        data: &[f32],
        sink: &mut OutputSink<'_>,
    ) -> Result<(), DetectError> {
        run_session(&mut self.session, info, shape, data, sink)
    }
}

pub(crate) fn run_session(
    session: &mut Session,
    info: &ModelInfo,
    shape: [usize; 4],
    data: &[f32],
    sink: &mut OutputSink<'_>,
) -> Result<(), DetectError> {
    let input = TensorRef::from_array_view((shape, data))?;
    let outputs = session.run(ort::inputs![info.input_name.as_str() => input])?;
    let (dims, out) = outputs[info.output_name.as_str()].try_extract_tensor::<f32>()?;
    let dims: Vec<usize> = dims.iter().map(|&d| d.max(0) as usize).collect();
    sink(&dims, out)
}

/// Logical CPUs available to this process.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Parallel sessions for `--streams` (0: auto): CPU only (a GPU session is not duplicated);
/// auto gives one per two cores, at most four.
fn parallel_streams(opts: &EngineOptions, provider: Provider) -> usize {
    if provider != Provider::Cpu {
        return 1;
    }
    match opts.streams {
        0 => (cores() / 2).clamp(1, 4),
        n => n,
    }
}

/// Builds one session with `threads` intra-op threads (0: ONNX Runtime's default).
fn build_session(
    path: &Path,
    opts: &EngineOptions,
    threads: usize,
) -> Result<(Session, Provider), DetectError> {
    let env = runtime::init(opts.ort_library.as_deref())?;
    let mut builder = Session::builder(env)?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(|e| DetectError::Runtime(e.to_string()))?;
    if threads > 0 {
        builder = builder
            .with_intra_threads(threads)
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
    Ok((session, provider))
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
