//! `osprey detect`: run the detector on image files.
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use osprey_detect::DetectParams;
use osprey_image::{DecodeLimits, RgbImage};
use serde::Serialize;

use crate::common::ModelArgs;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One DeepStack response JSON per image.
    Deepstack,
    /// One line per image: `{"image", "detections": [{class_id, label, confidence, x1, y1, x2, y2}]}`.
    Jsonl,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Confidence threshold.
    #[arg(long, default_value_t = 0.25)]
    pub conf: f32,
    /// NMS IoU threshold.
    #[arg(long, default_value_t = 0.7)]
    pub iou: f32,
    /// Maximum detections per image.
    #[arg(long, default_value_t = 300)]
    pub max_det: usize,
    /// Class-agnostic NMS.
    #[arg(long)]
    pub agnostic: bool,
    /// Images per inference run (models with a dynamic batch axis).
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Deepstack)]
    pub format: Format,
    /// Image files (JPEG, PNG, WebP, BMP).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
}

#[derive(Serialize)]
struct JsonDetection<'a> {
    class_id: u32,
    label: &'a str,
    confidence: f32,
    x1: f32,
    y1: f32,
    x2: f32,
    y2: f32,
}

#[derive(Serialize)]
struct JsonlLine<'a> {
    image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    detections: Option<Vec<JsonDetection<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct DeepstackLine {
    success: bool,
    predictions: Vec<osprey_api::deepstack::Prediction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut detector = args.model.load()?;
    let params = DetectParams {
        conf: args.conf,
        iou: args.iou,
        max_det: args.max_det,
        agnostic: args.agnostic,
        ..DetectParams::default()
    };
    let progress = (args.images.len() > 20).then(|| {
        let pb = indicatif::ProgressBar::new(args.images.len() as u64);
        pb.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} images {elapsed}<{eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb
    });
    let limits = DecodeLimits::default();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failures = 0usize;
    for chunk in args.images.chunks(args.batch.max(1)) {
        let decoded: Vec<(PathBuf, Result<RgbImage, String>)> = chunk
            .iter()
            .map(|p| {
                let r = std::fs::read(p)
                    .map_err(|e| format!("cannot read {}: {e}", p.display()))
                    .and_then(|b| osprey_image::decode(&b, &limits).map_err(|e| e.to_string()));
                (p.clone(), r)
            })
            .collect();
        let ok: Vec<&RgbImage> = decoded
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok())
            .collect();
        let (mut results, _) = detector.detect_batch(&ok, &params)?;
        results.reverse();
        for (path, img) in &decoded {
            let shown = path.display().to_string();
            let (dets, error) = match img {
                Ok(_) => (results.pop().unwrap_or_default(), None),
                Err(e) => {
                    failures += 1;
                    tracing::warn!(image = %shown, error = %e, "skipped");
                    (Vec::new(), Some(e.clone()))
                }
            };
            let info = detector.info();
            let line = match args.format {
                Format::Jsonl => serde_json::to_string(&JsonlLine {
                    image: shown,
                    detections: error.is_none().then(|| {
                        dets.iter()
                            .map(|d| JsonDetection {
                                class_id: d.class_id,
                                label: info
                                    .names
                                    .get(d.class_id as usize)
                                    .map(String::as_str)
                                    .unwrap_or("unknown"),
                                confidence: d.confidence,
                                x1: d.x1,
                                y1: d.y1,
                                x2: d.x2,
                                y2: d.y2,
                            })
                            .collect()
                    }),
                    error,
                })?,
                Format::Deepstack => {
                    let (w, h) = img
                        .as_ref()
                        .map(|i| (i.width(), i.height()))
                        .unwrap_or((0, 0));
                    serde_json::to_string(&DeepstackLine {
                        success: error.is_none(),
                        predictions: osprey_api::deepstack::to_predictions(&dets, info, w, h),
                        error,
                    })?
                }
            };
            writeln!(out, "{line}").context("writing results")?;
        }
        if let Some(pb) = &progress {
            pb.inc(chunk.len() as u64);
        }
    }
    out.flush()?;
    if let Some(pb) = progress {
        pb.finish_and_clear();
    }
    Ok(if failures > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
