//! `osprey track`: runs the tracker on MOT-format detections (`--mot-det`), or the whole
//! decode → detect → track pipeline on a video (`--source` with `--model`), and writes MOT-format
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
#[command(group(clap::ArgGroup::new("input").required(true).args(["mot_det", "source"])))]
pub struct Args {
    /// MOT-format detections (`frame,-1,left,top,width,height,score,...`, frames 1-based).
    #[arg(long)]
    pub mot_det: Option<PathBuf>,
    /// A video to decode, detect on every frame (with --model) and track: a file, rtsp://,
    /// http(s):// MJPEG, or ffmpeg:<anything FFmpeg opens>.
    #[arg(long)]
    pub source: Option<String>,
    #[command(flatten)]
    pub model: crate::common::ModelArgs,
    /// With --source: keep detections scoring above this.
    #[arg(long, default_value_t = 0.25)]
    pub conf: f32,
    /// With --source: NMS IoU threshold.
    #[arg(long, default_value_t = 0.7)]
    pub iou: f32,
    /// With --source: class ids to track (repeatable or comma-separated; default all).
    #[arg(long, value_delimiter = ',')]
    pub classes: Vec<u32>,
    /// With --source: stop after this many frames.
    #[arg(long)]
    pub max_frames: Option<u64>,
    /// Where to write the tracks (MOT format); `-` for standard output.
    #[arg(long)]
    pub out: PathBuf,
    /// Frames per second of the sequence (turns --lost-seconds into frames; default: the
    /// video's own rate with --source, else 30).
    #[arg(long)]
    pub frame_rate: Option<f64>,
    #[command(flatten)]
    pub tracker: TrackerArgs,
    /// Ground truth (MOT format; rows with column 7 = 0 are ignored, as motmetrics'
    /// `min_confidence=1`): print the scores as JSON.
    #[arg(long)]
    pub gt: Option<PathBuf>,
    /// Multiply the ground truth's boxes by this before scoring (a video scaled from the
    /// sequence the ground truth was drawn on).
    #[arg(long, default_value_t = 1.0)]
    pub gt_scale: f32,
    /// Score only ground-truth frames up to this one (a clip of the sequence).
    #[arg(long)]
    pub gt_max_frame: Option<u32>,
    /// With --source: count with these analytics rules, a JSON file holding
    /// `{"tripwires":[…],"rois":[…],"settings":{…}}` in NVIDIA Metropolis' shapes (docs/analytics.md).
    #[arg(long, requires = "source")]
    pub analytics: Option<PathBuf>,
    /// With --analytics: write the counts (per tripwire IN/OUT raw and effective with every
    /// crossing, per ROI mean/max occupancy with entries and exits, FOV mean/max) as JSON here
    /// (`-` for standard output).
    #[arg(long, requires = "analytics")]
    pub analytics_summary: Option<PathBuf>,
}

/// The analytics of a `--source` run: the same engine cameras run, fed each frame's result.
struct Counting {
    engine: osprey_analytics::Analytics,
    summary: osprey_analytics::SummaryBuilder,
}

impl Counting {
    /// Reads and validates the rules for a `width` x `height` video.
    fn load(path: &std::path::Path, width: u32, height: u32) -> anyhow::Result<Counting> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let cfg: osprey_analytics::AnalyticsConfig = serde_json::from_str(&text)
            .with_context(|| format!("{} is not an analytics configuration", path.display()))?;
        let rules = cfg
            .validate(width, height)
            .with_context(|| format!("in {}", path.display()))?;
        Ok(Counting {
            summary: osprey_analytics::SummaryBuilder::new(&rules),
            engine: osprey_analytics::Analytics::new(rules),
        })
    }

    fn frame(&mut self, result: &osprey_schema::FrameResult) {
        let fa = self.engine.process(result);
        self.summary.add_frame(&fa);
    }

    fn finish(mut self) -> osprey_analytics::Summary {
        let last = self.engine.finish();
        self.summary.add_events(&last);
        self.summary.build()
    }
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
    /// Largest cost (1 - IoU x score) accepted in the first association (ByteTrack's paper
    /// uses 0.8; 0.9 scores better on both PETS09 benchmarks in docs/tracking.md).
    #[arg(long, default_value_t = 0.9)]
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

/// Decodes `source`, detects on every frame and tracks with the camera pipeline's own stage
/// (letterbox → the model's worker, camera lane → ByteTrack); MOT rows in source pixels,
/// frames 1-based.
fn track_source(
    args: &Args,
    source: &str,
) -> anyhow::Result<(Vec<Row>, f64, Option<osprey_analytics::Summary>)> {
    let src = osprey_video::Source::parse(source)?;
    let mut reader = osprey_video::Reader::open(
        &src,
        osprey_video::ReaderOptions {
            decoder_threads: 0,
            ..osprey_video::ReaderOptions::default()
        },
    )?;
    let info = reader.info().clone();
    let frame_rate = args.frame_rate.or(info.fps).unwrap_or(30.0);
    let detector = args.model.load()?;
    let params = osprey_detect::DetectParams {
        conf: args.conf,
        iou: args.iou,
        classes: (!args.classes.is_empty()).then(|| args.classes.clone()),
        ..osprey_detect::DetectParams::default()
    };
    let cfg = args.tracker.config(frame_rate);
    tracing::info!(source = %src.redacted(), codec = %info.codec, width = info.width, height = info.height, frame_rate, ?cfg, "tracking a video");
    let batch_sizes = prometheus::Histogram::with_opts(prometheus::HistogramOpts::new(
        "batch_size",
        "images per inference run",
    ))?;
    let batching = osprey_infer::BatchConfig {
        queue_capacity: 4,
        camera_capacity: 4,
        max_batch: 1,
        camera_max_batch: 1,
        batch_wait: std::time::Duration::ZERO,
    };
    let model = osprey_infer::worker::spawn("track", detector, batching, None, batch_sizes)?;
    let mut stage = osprey_pipeline::Stage::new("video", model, params, cfg);
    let mut counting = match &args.analytics {
        Some(p) => Some(Counting::load(p, info.width, info.height)?),
        None => None,
    };
    let stop = osprey_base::Shutdown::new();
    let mut out = Vec::new();
    let started = std::time::Instant::now();
    let mut frames = 0u64;
    while let Some(f) = reader.next_frame()? {
        if args.max_frames.is_some_and(|m| frames >= m) {
            break;
        }
        let img = reader.rgb()?;
        let input = osprey_pipeline::StageInput {
            seq: frames + 1,
            frame: f.index,
            pts: f.pts,
            wall: osprey_base::unix_now(),
            img: &img,
        };
        let (result, _) = stage.process(input, &stop)?;
        if let Some(c) = counting.as_mut() {
            c.frame(&result);
        }
        for o in &result.objects {
            out.push(Row {
                frame: (f.index + 1) as u32,
                id: o.track_id as i64,
                bbox: osprey_track::BBox {
                    x1: o.bbox[0],
                    y1: o.bbox[1],
                    x2: o.bbox[2],
                    y2: o.bbox[3],
                },
                score: o.confidence,
            });
        }
        frames += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    tracing::info!(
        frames,
        seconds = secs,
        fps = frames as f64 / secs.max(1e-9),
        rows = out.len(),
        "video tracked"
    );
    Ok((out, frame_rate, counting.map(Counting::finish)))
}

#[allow(clippy::print_stdout)]
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let tracks = if let Some(source) = &args.source {
        let (tracks, _, summary) = track_source(&args, source)?;
        if let (Some(summary), Some(path)) = (summary, &args.analytics_summary) {
            let json = serde_json::to_string_pretty(&summary)?;
            if path.as_os_str() == "-" {
                println!("{json}");
            } else {
                std::fs::write(path, json + "\n")
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
        }
        tracks
    } else {
        let path = args
            .mot_det
            .as_ref()
            .context("--mot-det or --source is required")?;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let dets = mot::parse(&text).with_context(|| format!("in {}", path.display()))?;
        let cfg = args.tracker.config(args.frame_rate.unwrap_or(30.0));
        tracing::info!(detections = dets.len(), ?cfg, "tracking");
        track_rows(&dets, cfg)
    };
    let body = mot::format(&tracks);
    if args.out.as_os_str() == "-" {
        print!("{body}");
    } else {
        std::fs::write(&args.out, body)
            .with_context(|| format!("cannot write {}", args.out.display()))?;
    }
    if let Some(gt) = &args.gt {
        let gt_rows = mot::ground_truth(
            mot::parse(
                &std::fs::read_to_string(gt)
                    .with_context(|| format!("cannot read {}", gt.display()))?,
            )
            .with_context(|| format!("in {}", gt.display()))?,
            args.gt_scale,
            args.gt_max_frame,
        );
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
