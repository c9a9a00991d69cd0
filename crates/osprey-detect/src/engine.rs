//! The detector: one ONNX Runtime session per model, fed letterboxed tensors, returning
//! detections in original-image pixels.
//!
//! Preprocessing is split from inference ([`Preprocessor`] is `Clone + Send`) so callers can
//! letterbox on their own threads and hand [`Prepared`] tensors to the thread that owns the
//! [`Detector`]. [`Detector::infer`] takes any number of prepared images: it groups those with
//! the same tensor shape and runs each group as one batch when the model's batch axis is
//! dynamic, in fixed-size chunks when it is fixed, so callers never need to know which.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ort::ep::ExecutionProvider;
use ort::session::{builder::GraphOptimizationLevel, Session};
use ort::value::TensorRef;
use osprey_image::{LetterboxGeometry, RgbImage};
use serde::{Deserialize, Serialize};

use crate::model::{self, BatchAxis, ModelInfo};
use crate::postprocess::{self, DetectParams, Detection};
use crate::{runtime, DetectError};

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
    /// Intra-op threads (0: ONNX Runtime's default, one per physical core).
    pub intra_threads: usize,
    /// Let idle intra-op threads spin. Turn off when several sessions share the CPU.
    pub spinning: bool,
    /// Explicit path of `libonnxruntime.so`.
    pub ort_library: Option<PathBuf>,
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
            provider: Provider::Cpu,
            fallback_to_cpu: false,
            device_id: 0,
            fp16: false,
            trt_cache_dir: None,
            openvino_device: "CPU".into(),
            intra_threads: 0,
            spinning: true,
            ort_library: None,
            labels: None,
            imgsz: None,
            yolox_decode: None,
        }
    }
}

/// A letterboxed image ready for inference.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Planar RGB `f32`, `3 * height * width` values.
    pub tensor: Vec<f32>,
    /// Where the original image lies in the tensor.
    pub geometry: LetterboxGeometry,
}

/// Turns images into model inputs; cheap to clone and usable from any thread.
#[derive(Debug, Clone)]
pub struct Preprocessor {
    letterbox: osprey_image::Letterbox,
}

impl Preprocessor {
    /// Letterboxes one image.
    pub fn prepare(&self, img: &RgbImage) -> Prepared {
        let geo = self.letterbox.geometry(img.width(), img.height());
        let mut tensor = vec![0f32; 3 * geo.out_width as usize * geo.out_height as usize];
        let geometry = self.letterbox.apply_into(img, &mut tensor);
        Prepared { tensor, geometry }
    }

    /// The letterbox in use.
    pub fn letterbox(&self) -> &osprey_image::Letterbox {
        &self.letterbox
    }
}

/// Time spent per stage for one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StageTimings {
    /// Letterbox and tensor conversion.
    pub preprocess: Duration,
    /// ONNX Runtime `run` calls.
    pub inference: Duration,
    /// Candidate extraction, NMS, scaling back.
    pub postprocess: Duration,
    /// Number of `run` calls made.
    pub runs: u32,
}

/// A loaded model and its ONNX Runtime session.
#[derive(Debug)]
pub struct Detector {
    session: Session,
    info: ModelInfo,
    provider: Provider,
    path: PathBuf,
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

fn onnx_check(path: &Path) -> Result<(), DetectError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if matches!(
        ext.as_str(),
        "engine" | "trt" | "plan" | "pt" | "pth" | "tflite" | "xml"
    ) {
        return Err(DetectError::NotOnnx(format!(
            "{} is a .{ext} file, but Osprey loads ONNX models; export one with \
             `yolo export model=yolo11n.pt format=onnx imgsz=320` (see docs/models.md). \
             TensorRT speed comes from `--provider tensorrt --half`, which builds and caches the engine from the ONNX file",
            path.display()
        )));
    }
    if !path.is_file() {
        return Err(DetectError::ModelUnreadable {
            path: path.display().to_string(),
            detail: "no such file".into(),
        });
    }
    Ok(())
}

impl Detector {
    /// Loads a model, choosing the execution provider and reading its metadata.
    pub fn load(path: &Path, opts: &EngineOptions) -> Result<Self, DetectError> {
        onnx_check(path)?;
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
        let (builder, provider) = match opts.provider {
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
        };
        let mut builder = builder;
        let session = builder
            .commit_from_file(path)
            .map_err(|e| DetectError::ModelUnreadable {
                path: path.display().to_string(),
                detail: e.to_string(),
            })?;
        let labels = opts
            .labels
            .as_deref()
            .map(crate::names::read_labels_file)
            .transpose()?;
        let info = Self::describe(&session, path, labels, opts)?;
        tracing::info!(
            model = %info.name, provider = provider.as_str(), imgsz = ?info.imgsz, dynamic = info.dynamic_hw,
            batch = ?info.batch, layout = info.layout_name, classes = info.names.len(), "model loaded"
        );
        Ok(Self {
            session,
            info,
            provider,
            path: path.to_path_buf(),
        })
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

    /// The model's description.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The provider actually in use (CPU after a fallback).
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A preprocessor for this model.
    pub fn preprocessor(&self) -> Preprocessor {
        Preprocessor {
            letterbox: self.info.letterbox(),
        }
    }

    /// Detects objects in one image.
    pub fn detect(
        &mut self,
        img: &RgbImage,
        params: &DetectParams,
    ) -> Result<(Vec<Detection>, StageTimings), DetectError> {
        let (mut out, t) = self.detect_batch(&[img], params)?;
        Ok((out.pop().unwrap_or_default(), t))
    }

    /// Detects objects in several images (batched where the model allows).
    pub fn detect_batch(
        &mut self,
        imgs: &[&RgbImage],
        params: &DetectParams,
    ) -> Result<(Vec<Vec<Detection>>, StageTimings), DetectError> {
        let t0 = Instant::now();
        let pre = self.preprocessor();
        let prepared: Vec<Prepared> = imgs.iter().map(|i| pre.prepare(i)).collect();
        let preprocess = t0.elapsed();
        let refs: Vec<&Prepared> = prepared.iter().collect();
        let (out, mut t) = self.infer(&refs, params)?;
        t.preprocess = preprocess;
        Ok((out, t))
    }

    /// Runs prepared images, grouped by tensor shape into as few `run` calls as the batch axis
    /// allows. Returns detections in the order given.
    pub fn infer(
        &mut self,
        items: &[&Prepared],
        params: &DetectParams,
    ) -> Result<(Vec<Vec<Detection>>, StageTimings), DetectError> {
        let each: Vec<(&Prepared, &DetectParams)> = items.iter().map(|p| (*p, params)).collect();
        self.infer_each(&each)
    }

    /// Like [`Detector::infer`], with thresholds per image: requests from different clients
    /// share a batch but keep their own `min_confidence`.
    pub fn infer_each(
        &mut self,
        items: &[(&Prepared, &DetectParams)],
    ) -> Result<(Vec<Vec<Detection>>, StageTimings), DetectError> {
        self.infer_impl(items, true)
    }

    /// Shared body of [`Detector::infer_each`] and [`Detector::infer_raw`]: `to_original` maps
    /// boxes back to original-image pixels, otherwise they stay in model-input pixels.
    fn infer_impl(
        &mut self,
        items: &[(&Prepared, &DetectParams)],
        to_original: bool,
    ) -> Result<(Vec<Vec<Detection>>, StageTimings), DetectError> {
        for (_, p) in items {
            check_params(p)?;
        }
        let mut results: Vec<Vec<Detection>> = vec![Vec::new(); items.len()];
        let mut timings = StageTimings::default();
        let mut groups: Vec<((u32, u32), Vec<usize>)> = Vec::new();
        for (i, (p, _)) in items.iter().enumerate() {
            let key = (p.geometry.out_height, p.geometry.out_width);
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, v)) => v.push(i),
                None => groups.push((key, vec![i])),
            }
        }
        let chunk = match self.info.batch {
            BatchAxis::Dynamic => usize::MAX,
            BatchAxis::Fixed(n) => n.max(1),
        };
        for ((h, w), idx) in groups {
            for part in idx.chunks(chunk.min(idx.len()).max(1)) {
                self.run_group(
                    (h as usize, w as usize),
                    part,
                    items,
                    to_original,
                    &mut results,
                    &mut timings,
                )?;
            }
        }
        Ok((results, timings))
    }

    fn run_group(
        &mut self,
        (h, w): (usize, usize),
        part: &[usize],
        items: &[(&Prepared, &DetectParams)],
        to_original: bool,
        results: &mut [Vec<Detection>],
        timings: &mut StageTimings,
    ) -> Result<(), DetectError> {
        let per = 3 * h * w;
        let batch = match self.info.batch {
            BatchAxis::Fixed(n) => n,
            BatchAxis::Dynamic => part.len(),
        };
        // One image needs no copy; a batch is concatenated (fixed batches padded with grey).
        let joined;
        let data: &[f32] = if batch == 1 {
            &items[part[0]].0.tensor
        } else {
            let mut buf = Vec::with_capacity(batch * per);
            for &i in part {
                buf.extend_from_slice(&items[i].0.tensor);
            }
            buf.resize(batch * per, 114.0 / 255.0);
            joined = buf;
            &joined
        };
        let t = Instant::now();
        let input = TensorRef::from_array_view(([batch, 3, h, w], data))?;
        let outputs = self
            .session
            .run(ort::inputs![self.info.input_name.as_str() => input])?;
        let (shape, out) = outputs[self.info.output_name.as_str()].try_extract_tensor::<f32>()?;
        timings.inference += t.elapsed();
        timings.runs += 1;
        let t = Instant::now();
        let dims: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
        if dims.len() != 3 || dims[0] < part.len() {
            return Err(DetectError::UnsupportedLayout(format!(
                "output shape {:?} for a batch of {batch}",
                &dims
            )));
        }
        let per_out = dims[1] * dims[2];
        let skip_nms = matches!(self.info.layout, crate::OutputLayout::EndToEnd);
        for (k, &i) in part.iter().enumerate() {
            let slice = out.get(k * per_out..(k + 1) * per_out).unwrap_or(&[]);
            let (prepared, params) = items[i];
            let cands = postprocess::candidates(
                &self.info.layout,
                slice,
                (dims[1], dims[2]),
                (h, w),
                params,
            );
            let kept = postprocess::nms(cands, params, skip_nms);
            let geo = &prepared.geometry;
            results[i] = kept
                .into_iter()
                .map(|c| {
                    let b = if to_original {
                        geo.unletterbox(c.bbox)
                    } else {
                        c.bbox
                    };
                    Detection {
                        class_id: c.class,
                        confidence: c.score,
                        x1: b[0],
                        y1: b[1],
                        x2: b[2],
                        y2: b[3],
                    }
                })
                .collect();
        }
        timings.postprocess += t.elapsed();
        Ok(())
    }

    /// Runs raw tensors and returns candidates in model-input pixels (for validation, which maps
    /// boxes back with its own geometry).
    pub fn infer_raw(
        &mut self,
        item: &Prepared,
        params: &DetectParams,
    ) -> Result<Vec<Detection>, DetectError> {
        let (mut out, _) = self.infer_impl(&[(item, params)], false)?;
        Ok(out.pop().unwrap_or_default())
    }
}

fn check_params(p: &DetectParams) -> Result<(), DetectError> {
    if !(0.0..=1.0).contains(&p.conf) || p.conf.is_nan() {
        return Err(DetectError::InvalidParameter(format!(
            "confidence threshold {} is not in 0..1",
            p.conf
        )));
    }
    if !(0.0..=1.0).contains(&p.iou) || p.iou.is_nan() {
        return Err(DetectError::InvalidParameter(format!(
            "IoU threshold {} is not in 0..1",
            p.iou
        )));
    }
    Ok(())
}
