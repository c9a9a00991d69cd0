//! `osprey track`: runs the tracker on MOT-format detections (`--mot-det`) and writes MOT-format
//! tracks; with `--gt`, scores them (CLEAR MOT, IDF1) as py-motmetrics does.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use osprey_track::mot::{self, Row};
use osprey_track::{ByteTrack, Detection, TrackerConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputBoxArg {
    /// The Kalman filter's corrected box.
    Kalman,
    /// The matched detection's box.
    Detection,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// MOT-format detections (`frame,-1,left,top,width,height,score,...`, frames 1-based).
    #[arg(long)]
    pub mot_det: PathBuf,
    /// Where to write the tracks (MOT format); `-` for standard output.
    #[arg(long)]
    pub out: PathBuf,
    /// Frames per second of the sequence (turns --lost-seconds into frames).
    #[arg(long, default_value_t = 30.0)]
    pub frame_rate: f64,
    #[command(flatten)]
    pub tracker: TrackerArgs,
    /// Ground truth (MOT format; rows with column 7 = 0 are ignored, as motmetrics'
    /// `min_confidence=1`): print the scores as JSON.
    #[arg(long)]
    pub gt: Option<PathBuf>,
}

/// Tracker settings, in the detector's score units.
#[derive(Debug, Clone, clap::Args)]
pub struct TrackerArgs {
    /// Detections at or above this score go to the first association.
    #[arg(long, default_value_t = 0.25)]
    pub high_thresh: f32,
    /// Detections above this (below --high-thresh) go to the second association.
    #[arg(long, default_value_t = 0.1)]
    pub low_thresh: f32,
    /// Unmatched detections at or above this start tracks.
    #[arg(long, default_value_t = 0.25)]
    pub new_track_thresh: f32,
    /// Largest cost (1 - IoU x score) accepted in the first association.
    #[arg(long, default_value_t = 0.8)]
    pub match_thresh: f32,
    /// Frames a lost track is kept for re-identification (as Ultralytics 8.4: not scaled by the
    /// frame rate).
    #[arg(long, default_value_t = 30)]
    pub track_buffer: u32,
    /// Keep lost tracks this long instead (seconds; frames = seconds x frame rate).
    #[arg(long)]
    pub lost_seconds: Option<f64>,
    /// Divide scores by this before fusing them with IoU (100 for detectors scoring up to ~100).
    #[arg(long, default_value_t = 1.0)]
    pub score_scale: f32,
    /// Do not weight IoU by the detection score.
    #[arg(long)]
    pub no_fuse_score: bool,
    /// Box to report per frame.
    #[arg(long, value_enum, default_value_t = OutputBoxArg::Kalman)]
    pub output_box: OutputBoxArg,
}

impl TrackerArgs {
    pub fn config(&self, frame_rate: f64) -> TrackerConfig {
        TrackerConfig {
            high_thresh: self.high_thresh,
            low_thresh: self.low_thresh,
            new_track_thresh: self.new_track_thresh,
            match_thresh: self.match_thresh,
            track_buffer: match self.lost_seconds {
                Some(s) => ((s * frame_rate).round().clamp(1.0, 1e6)) as u32,
                None => self.track_buffer.max(1),
            },
            fuse_score: !self.no_fuse_score,
            score_scale: if self.score_scale > 0.0 {
                self.score_scale
            } else {
                1.0
            },
            output: match self.output_box {
                OutputBoxArg::Kalman => osprey_track::OutputBox::Kalman,
                OutputBoxArg::Detection => osprey_track::OutputBox::Detection,
            },
            ..TrackerConfig::default()
        }
    }
}

/// Runs the tracker over detections grouped by frame (frames with no rows still count).
pub fn track_rows(dets: &[Row], cfg: TrackerConfig) -> Vec<Row> {
    let last = dets.iter().map(|r| r.frame).max().unwrap_or(0);
    let mut by_frame: Vec<Vec<Detection>> = vec![Vec::new(); last as usize + 1];
    for r in dets {
        by_frame[r.frame as usize].push(Detection {
            bbox: r.bbox,
            score: r.score,
            class: 0,
        });
    }
    let mut t = ByteTrack::new(cfg);
    let mut out = Vec::new();
    for (frame, d) in by_frame.iter().enumerate().skip(1) {
        for tr in t.update(d) {
            out.push(Row {
                frame: frame as u32,
                id: tr.id as i64,
                bbox: tr.bbox,
                score: tr.score,
            });
        }
    }
    out
}

#[allow(clippy::print_stdout)]
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.mot_det)
        .with_context(|| format!("cannot read {}", args.mot_det.display()))?;
    let dets = mot::parse(&text).with_context(|| format!("in {}", args.mot_det.display()))?;
    let cfg = args.tracker.config(args.frame_rate);
    tracing::info!(detections = dets.len(), ?cfg, "tracking");
    let tracks = track_rows(&dets, cfg);
    let body = mot::format(&tracks);
    if args.out.as_os_str() == "-" {
        print!("{body}");
    } else {
        std::fs::write(&args.out, body)
            .with_context(|| format!("cannot write {}", args.out.display()))?;
    }
    if let Some(gt) = &args.gt {
        let gt_rows: Vec<Row> = mot::parse(
            &std::fs::read_to_string(gt)
                .with_context(|| format!("cannot read {}", gt.display()))?,
        )
        .with_context(|| format!("in {}", gt.display()))?
        .into_iter()
        .filter(|r| r.score >= 1.0)
        .collect();
        let s = osprey_track::score::score(&gt_rows, &tracks);
        println!(
            "{}",
            serde_json::json!({
                "MOTA": s.mota, "IDF1": s.idf1, "IDs": s.id_switches, "FP": s.false_positives,
                "FN": s.misses, "MOTP": s.motp, "IDP": s.idp, "IDR": s.idr, "Rcll": s.recall,
                "Prcn": s.precision, "GT_boxes": s.gt_boxes, "predicted_boxes": s.predicted_boxes,
                "matches": s.matches - s.id_switches, "frames": s.frames,
                "unique_ids": tracks.iter().map(|r| r.id).collect::<std::collections::BTreeSet<_>>().len(),
            })
        );
    }
    Ok(ExitCode::SUCCESS)
}
