//! `osprey eval`: mAP on a YOLO-format dataset, computed as Ultralytics `val` does.
//!
//! Preprocessing follows Ultralytics validation, not predict: the long side is resized to
//! `imgsz` with sides rounded up, then padded to a square without further scaling; predictions
//! and ground truth are compared in that letterboxed space.
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use osprey_detect::eval::{self, ImageStats};
use osprey_detect::{DetectParams, Prepared};
use osprey_image::DecodeLimits;

use crate::common::ModelArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Dataset folder: `images/**` with YOLO labels in the matching `labels/**`.
    #[arg(long)]
    pub dataset: PathBuf,
    /// Confidence threshold (Ultralytics val: 0.001).
    #[arg(long, default_value_t = 0.001)]
    pub conf: f32,
    /// NMS IoU threshold.
    #[arg(long, default_value_t = 0.7)]
    pub iou: f32,
    /// Maximum detections per image.
    #[arg(long, default_value_t = 300)]
    pub max_det: usize,
    /// Print the result as JSON (with per-class AP).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut detector = args.model.load()?;
    let imgsz = detector.info().imgsz.0.max(detector.info().imgsz.1);
    let samples = eval::list_dataset(&args.dataset)
        .with_context(|| format!("listing {}", args.dataset.display()))?;
    anyhow::ensure!(
        !samples.is_empty(),
        "no images found under {}",
        args.dataset.display()
    );
    let params = DetectParams {
        conf: args.conf,
        iou: args.iou,
        max_det: args.max_det,
        multi_label: true,
        ..DetectParams::default()
    };
    let pb = indicatif::ProgressBar::new(samples.len() as u64);
    let limits = DecodeLimits::default();
    let mut stats: Vec<ImageStats> = Vec::with_capacity(samples.len());
    for s in &samples {
        let bytes =
            std::fs::read(&s.image).with_context(|| format!("reading {}", s.image.display()))?;
        let img = osprey_image::decode(&bytes, &limits)
            .with_context(|| format!("decoding {}", s.image.display()))?;
        let (resized, geometry) = osprey_image::letterbox::val_letterbox(&img, imgsz);
        let (left, top) = (geometry.left as f32, geometry.top as f32);
        let gts: Vec<_> = match std::fs::read_to_string(&s.label) {
            Ok(text) => eval::read_labels(&text, resized.width(), resized.height())
                .map_err(|e| anyhow::anyhow!("{}: {e}", s.label.display()))?,
            Err(_) => Vec::new(),
        }
        .into_iter()
        .map(|mut g| {
            g.bbox = [
                g.bbox[0] + left,
                g.bbox[1] + top,
                g.bbox[2] + left,
                g.bbox[3] + top,
            ];
            g
        })
        .collect();
        let mut tensor = vec![0f32; 3 * geometry.out_width as usize * geometry.out_height as usize];
        osprey_image::letterbox::write_planar(&resized, &geometry, &mut tensor);
        let dets = detector.infer_raw(&Prepared { tensor, geometry }, &params)?;
        let preds: Vec<([f32; 4], f32, u32)> = dets
            .iter()
            .map(|d| (d.bbox(), d.confidence, d.class_id))
            .collect();
        stats.push(eval::match_image(&preds, &gts));
        pb.inc(1);
    }
    pb.finish_and_clear();
    let result = eval::mean_average_precision(&stats);
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&result)?)?;
    } else {
        writeln!(
            out,
            "{}: mAP50 {:.4}  mAP50-95 {:.4}  ({} images, {} targets, {} classes)",
            detector.info().name,
            result.map50,
            result.map50_95,
            result.images,
            result.targets,
            result.per_class.len()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
