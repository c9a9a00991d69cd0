//! The detector: one inference backend per model (ONNX Runtime or OpenVINO), fed letterboxed
//! tensors, returning detections in original-image pixels.
//!
//! Preprocessing is split from inference ([`Preprocessor`] is `Clone + Send`) so callers can
//! letterbox on their own threads and hand [`Prepared`] tensors to the thread that owns the
//! [`Detector`]. [`Detector::infer`] takes any number of prepared images: it groups those with
//! the same tensor shape and runs each group as one batch when the model's batch axis is
//! dynamic, in fixed-size chunks when it is fixed, so callers never need to know which. When the
//! engine can run several inferences at once (`--streams`), several groups run side by side;
//! a lone image runs alone on every inference thread. The backends only run batches; grouping,
//! NMS and scaling back are shared here.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use osprey_image::{LetterboxGeometry, RgbImage};
use serde::Serialize;

use crate::model::{BatchAxis, ModelInfo};
use crate::options::{Engine, EngineOptions, Precision, Provider};
use crate::ort_backend::OrtBackend;
use crate::ov_backend::OvBackend;
use crate::postprocess::{self, DetectParams, Detection};
use crate::DetectError;

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
    /// Engine `run`/`infer` calls.
    pub inference: Duration,
    /// Candidate extraction, NMS, scaling back.
    pub postprocess: Duration,
    /// Number of `run` calls made.
    pub runs: u32,
}

/// The backend running the model.
#[derive(Debug)]
pub(crate) enum Backend {
    Ort(OrtBackend),
    OpenVino(Box<OvBackend>),
}

/// A loaded model and its inference backend.
#[derive(Debug)]
pub struct Detector {
    pub(crate) backend: Backend,
    pub(crate) info: ModelInfo,
    path: PathBuf,
}

fn onnx_check(path: &Path, engine: Engine) -> Result<(), DetectError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let ir_ok = ext == "xml" && engine == Engine::OpenVino;
    if !ir_ok
        && matches!(
            ext.as_str(),
            "engine" | "trt" | "plan" | "pt" | "pth" | "tflite" | "xml"
        )
    {
        return Err(DetectError::NotOnnx(format!(
            "{} is a .{ext} file, but Osprey loads ONNX models; export one with \
             `yolo export model=yolo11n.pt format=onnx imgsz=320` (see docs/models.md). \
             TensorRT speed comes from `--provider tensorrt --half`, which builds and caches the engine from the ONNX file; \
             OpenVINO IR (.xml) files need `--engine openvino`",
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
    /// Loads a model on the engine the options name (`auto`: see [`resolve_engine`]), reading
    /// its metadata.
    pub fn load(path: &Path, opts: &EngineOptions) -> Result<Self, DetectError> {
        let engine = resolve_engine(opts, path, || {
            crate::ov_runtime::available(opts.openvino_library.as_deref())
        });
        onnx_check(path, engine)?;
        let labels = opts
            .labels
            .as_deref()
            .map(crate::names::read_labels_file)
            .transpose()?;
        let (backend, info) = match engine {
            Engine::OpenVino => match OvBackend::load(path, opts, labels.clone()) {
                Ok((b, info)) => (Backend::OpenVino(Box::new(b)), info),
                // Chosen automatically: a model OpenVINO cannot compile still runs on ORT.
                Err(e) if opts.engine == Engine::Auto && fallback_allowed(&e, path) => {
                    tracing::warn!(error = %e, "OpenVINO could not load the model; using ONNX Runtime");
                    Self::load_ort(path, opts, labels)?
                }
                Err(e) => return Err(e),
            },
            Engine::Ort | Engine::Auto => Self::load_ort(path, opts, labels)?,
        };
        let det = Self {
            backend,
            info,
            path: path.to_path_buf(),
        };
        let info = &det.info;
        tracing::info!(
            model = %info.name, engine = det.engine().as_str(), precision = det.precision().as_str(),
            provider = det.provider().as_str(), imgsz = ?info.imgsz, dynamic = info.dynamic_hw,
            batch = ?info.batch, layout = info.layout_name, classes = info.names.len(),
            in_flight = det.parallelism(), "model loaded"
        );
        Ok(det)
    }

    fn load_ort(
        path: &Path,
        opts: &EngineOptions,
        labels: Option<Vec<String>>,
    ) -> Result<(Backend, ModelInfo), DetectError> {
        if opts.precision == Precision::Bf16 {
            return Err(DetectError::PrecisionUnavailable(
                "bf16 is an OpenVINO precision; add --engine openvino, or use fp32 with ONNX Runtime"
                    .into(),
            ));
        }
        let (b, info) = OrtBackend::load(path, opts, labels)?;
        Ok((Backend::Ort(b), info))
    }

    /// Inferences the engine runs at once when several images wait (`--streams`); 1 when it
    /// runs one at a time.
    pub fn parallelism(&self) -> usize {
        match &self.backend {
            Backend::Ort(b) => b.parallelism(),
            Backend::OpenVino(b) => b.parallelism(),
        }
    }

    /// The engine running the model.
    pub fn engine(&self) -> Engine {
        match self.backend {
            Backend::Ort(_) => Engine::Ort,
            Backend::OpenVino(_) => Engine::OpenVino,
        }
    }

    /// The precision in use, never `Auto`: what `auto` chose (ONNX Runtime: fp32, or int8 for a
    /// quantized file; OpenVINO: int8 for a quantized file, bf16 where the CPU has it, else fp32).
    pub fn precision(&self) -> Precision {
        match &self.backend {
            Backend::Ort(b) => b.precision,
            Backend::OpenVino(b) => b.precision,
        }
    }

    /// `"ort fp32"`, `"openvino bf16"`, …: engine and precision in one label for logs and `/`.
    pub fn engine_label(&self) -> String {
        format!("{} {}", self.engine(), self.precision())
    }

    /// The model's description.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The ONNX Runtime provider actually in use (CPU after a fallback; `Cpu` for OpenVINO,
    /// which runs on the CPU here).
    pub fn provider(&self) -> Provider {
        match &self.backend {
            Backend::Ort(b) => b.provider,
            Backend::OpenVino(_) => Provider::Cpu,
        }
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
        let lanes = self.parallelism();
        let shapes: Vec<(u32, u32)> = items
            .iter()
            .map(|(p, _)| (p.geometry.out_height, p.geometry.out_width))
            .collect();
        let tasks = plan(&shapes, self.info.batch, lanes);
        if lanes > 1 && tasks.len() > 1 {
            for wave in tasks.chunks(lanes) {
                self.run_wave(wave, items, to_original, &mut results, &mut timings)?;
            }
        } else {
            for (hw, part) in &tasks {
                self.run_group(*hw, part, items, to_original, &mut results, &mut timings)?;
            }
        }
        Ok((results, timings))
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

    fn run_group(
        &mut self,
        (h, w): (usize, usize),
        part: &[usize],
        items: &[(&Prepared, &DetectParams)],
        to_original: bool,
        results: &mut [Vec<Detection>],
        timings: &mut StageTimings,
    ) -> Result<(), DetectError> {
        let batch = self.batch_len(part.len());
        let data = batch_input(items, part, batch, 3 * h * w);
        let t = Instant::now();
        let info = &self.info;
        let mut sink = |dims: &[usize], out: &[f32]| {
            timings.inference += t.elapsed();
            timings.runs += 1;
            let t = Instant::now();
            let r = decode(info, dims, out, (h, w), part, items, to_original, results);
            timings.postprocess += t.elapsed();
            r
        };
        let shape = [batch, 3, h, w];
        match &mut self.backend {
            Backend::Ort(b) => b.run(info, shape, &data, &mut sink),
            Backend::OpenVino(b) => b.run(shape, &data, &mut sink),
        }
    }

    /// The batch a run of `n` images uses: the model's fixed batch (padded), or `n`.
    fn batch_len(&self, n: usize) -> usize {
        match self.info.batch {
            BatchAxis::Fixed(b) => b,
            BatchAxis::Dynamic => n,
        }
    }

    /// Runs up to `parallelism` groups at once (`--streams`).
    fn run_wave(
        &mut self,
        wave: &[Task],
        items: &[(&Prepared, &DetectParams)],
        to_original: bool,
        results: &mut [Vec<Detection>],
        timings: &mut StageTimings,
    ) -> Result<(), DetectError> {
        let datas: Vec<(usize, Cow<'_, [f32]>)> = wave
            .iter()
            .map(|((h, w), part)| {
                let batch = self.batch_len(part.len());
                (batch, batch_input(items, part, batch, 3 * h * w))
            })
            .collect();
        let inputs: Vec<([usize; 4], &[f32])> = wave
            .iter()
            .zip(&datas)
            .map(|(((h, w), _), (batch, data))| ([*batch, 3, *h, *w], data.as_ref()))
            .collect();
        let t = Instant::now();
        let mut post = Duration::ZERO;
        let info = &self.info;
        let mut sink = |i: usize, dims: &[usize], out: &[f32]| {
            let t = Instant::now();
            let (hw, part) = &wave[i];
            let r = decode(info, dims, out, *hw, part, items, to_original, results);
            post += t.elapsed();
            r
        };
        match &mut self.backend {
            Backend::Ort(b) => b.run_many(info, &inputs, &mut sink)?,
            Backend::OpenVino(b) => b.run_many(&inputs, &mut sink)?,
        }
        timings.inference += t.elapsed().saturating_sub(post);
        timings.postprocess += post;
        timings.runs += wave.len() as u32;
        Ok(())
    }
}

/// One engine run: the tensor size `(h, w)` and the indices of its images.
type Task = ((usize, usize), Vec<usize>);

/// Splits images (their tensor sizes, in order) into runs: grouped by size, then in chunks of
/// the model's fixed batch, or for a dynamic batch axis one chunk per group — split `lanes`
/// ways when several inferences can run at once.
fn plan(shapes: &[(u32, u32)], batch: BatchAxis, lanes: usize) -> Vec<Task> {
    let mut groups: Vec<((u32, u32), Vec<usize>)> = Vec::new();
    for (i, key) in shapes.iter().enumerate() {
        match groups.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => v.push(i),
            None => groups.push((*key, vec![i])),
        }
    }
    let mut tasks = Vec::new();
    for ((h, w), idx) in groups {
        let chunk = match batch {
            BatchAxis::Fixed(n) => n.max(1),
            BatchAxis::Dynamic => idx.len().div_ceil(lanes.max(1)).max(1),
        };
        for part in idx.chunks(chunk) {
            tasks.push(((h as usize, w as usize), part.to_vec()));
        }
    }
    tasks
}

/// The input tensor of one run: one image needs no copy; a batch is concatenated (a fixed
/// batch padded with grey).
pub(crate) fn batch_input<'a>(
    items: &[(&'a Prepared, &DetectParams)],
    part: &[usize],
    batch: usize,
    per: usize,
) -> Cow<'a, [f32]> {
    if batch == 1 {
        return Cow::Borrowed(&items[part[0]].0.tensor);
    }
    let mut buf = Vec::with_capacity(batch * per);
    for &i in part {
        buf.extend_from_slice(&items[i].0.tensor);
    }
    buf.resize(batch * per, 114.0 / 255.0);
    Cow::Owned(buf)
}

/// What `--engine auto` (the default) runs: the fastest exact engine available. ONNX Runtime for
/// a GPU provider (CUDA/TensorRT/OpenVINO EP are ONNX Runtime providers); OpenVINO for an IR
/// file or bf16; on x86-64, OpenVINO when `ov_available` (its libraries are provisioned), else
/// ONNX Runtime, said once in the log. An explicit engine is kept.
pub fn resolve_engine(
    opts: &EngineOptions,
    path: &Path,
    ov_available: impl FnOnce() -> bool,
) -> Engine {
    if opts.engine != Engine::Auto {
        return opts.engine;
    }
    if opts.provider != Provider::Cpu {
        return Engine::Ort;
    }
    let ir = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("xml"));
    if ir || opts.precision == Precision::Bf16 {
        return Engine::OpenVino;
    }
    if !cfg!(target_arch = "x86_64") {
        return Engine::Ort;
    }
    if ov_available() {
        return Engine::OpenVino;
    }
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        tracing::info!(
            "OpenVINO is not provisioned (make provision, or --openvino-library): serving with \
             ONNX Runtime, the slower exact engine"
        );
    });
    Engine::Ort
}

/// Whether an automatically chosen OpenVINO that failed may fall back to ONNX Runtime: an ONNX
/// file OpenVINO could not read or compile, not a precision the user asked for.
fn fallback_allowed(e: &DetectError, path: &Path) -> bool {
    let onnx = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"));
    onnx && matches!(
        e,
        DetectError::Runtime(_)
            | DetectError::ModelUnreadable { .. }
            | DetectError::UnsupportedLayout(_)
    )
}

/// Turns one batch's output into detections for the images of `part`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn decode(
    info: &ModelInfo,
    dims: &[usize],
    out: &[f32],
    (h, w): (usize, usize),
    part: &[usize],
    items: &[(&Prepared, &DetectParams)],
    to_original: bool,
    results: &mut [Vec<Detection>],
) -> Result<(), DetectError> {
    if dims.len() != 3 || dims[0] < part.len() {
        return Err(DetectError::UnsupportedLayout(format!(
            "output shape {dims:?} for a batch of {}",
            part.len()
        )));
    }
    let per_out = dims[1] * dims[2];
    let skip_nms = matches!(info.layout, crate::OutputLayout::EndToEnd);
    for (k, &i) in part.iter().enumerate() {
        let slice = out.get(k * per_out..(k + 1) * per_out).unwrap_or(&[]);
        let (prepared, params) = items[i];
        let cands =
            postprocess::candidates(&info.layout, slice, (dims[1], dims[2]), (h, w), params);
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
    Ok(())
}

pub(crate) fn check_params(p: &DetectParams) -> Result<(), DetectError> {
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

#[cfg(test)]
#[path = "engine_tests.rs"]
mod plan_tests;
