//! The per-frame work after decoding, the same for cameras and `osprey track --source`:
//! letterbox → inference on the model's camera lane → ByteTrack → a typed [`FrameResult`].

use std::time::{Duration, Instant};

use osprey_base::{ErrorKind, Kinded, Shutdown};
use osprey_detect::{DetectError, DetectParams};
use osprey_image::RgbImage;
use osprey_infer::{Lane, ModelHandle, SubmitError};
use osprey_schema::{FrameResult, TrackedObject};
use osprey_track::{ByteTrack, Track, TrackEvent, TrackerConfig};

/// Why a frame was not processed.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The model's worker has stopped, or the camera stopped while the frame waited for room.
    #[error("inference is not available: {0}")]
    Unavailable(String),
    /// Inference failed for this frame.
    #[error("detection failed: {0}")]
    Detect(#[from] DetectError),
}

impl Kinded for StageError {
    fn kind(&self) -> ErrorKind {
        match self {
            StageError::Unavailable(_) => ErrorKind::Unavailable,
            StageError::Detect(e) => e.kind(),
        }
    }
}

/// One decoded frame handed to the stage.
#[derive(Debug, Clone, Copy)]
pub struct StageInput<'a> {
    /// Number among sampled frames, from 1.
    pub seq: u64,
    /// Decode-order index, from 0.
    pub frame: u64,
    /// Presentation time, seconds.
    pub pts: f64,
    /// Wall-clock time, Unix seconds.
    pub wall: f64,
    /// The picture.
    pub img: &'a RgbImage,
}

/// Time spent per step on one frame.
#[derive(Debug, Clone, Copy, Default)]
pub struct StageTimes {
    /// Letterbox into the model's tensor.
    pub letterbox: Duration,
    /// Submit to reply: queue wait plus inference.
    pub detect: Duration,
    /// This frame's share of its batch's inference time.
    pub inference: Duration,
    /// Tracker update.
    pub track: Duration,
}

/// A detector box as the tracker takes it.
pub fn to_track(d: &osprey_detect::Detection) -> osprey_track::Detection {
    osprey_track::Detection {
        bbox: osprey_track::BBox {
            x1: d.x1,
            y1: d.y1,
            x2: d.x2,
            y2: d.y2,
        },
        score: d.confidence,
        class: d.class_id,
    }
}

/// Letterbox, detect and track, frame after frame, for one camera (or one video).
#[derive(Debug)]
pub struct Stage {
    camera: String,
    model: ModelHandle,
    params: DetectParams,
    tracker: ByteTrack,
    names: Vec<String>,
}

impl Stage {
    /// A stage for `camera` detecting with `model` and `params`, tracking with `tracker`.
    pub fn new(
        camera: &str,
        model: ModelHandle,
        params: DetectParams,
        tracker: TrackerConfig,
    ) -> Stage {
        Stage {
            camera: camera.to_string(),
            names: model.info().names.clone(),
            model,
            params,
            tracker: ByteTrack::new(tracker),
        }
    }

    fn label(&self, class: u32) -> String {
        self.names
            .get(class as usize)
            .cloned()
            .unwrap_or_else(|| format!("class{class}"))
    }

    fn object(&self, t: &Track) -> TrackedObject {
        TrackedObject {
            track_id: t.id,
            class_id: t.class,
            label: self.label(t.class),
            bbox: [t.bbox.x1, t.bbox.y1, t.bbox.x2, t.bbox.y2],
            confidence: t.score,
            matched: t.matched,
        }
    }

    /// Detects on the camera lane, waiting (5 ms steps) while the lane is full.
    fn detect(
        &self,
        img: &RgbImage,
        stop: &Shutdown,
        times: &mut StageTimes,
    ) -> Result<Vec<osprey_detect::Detection>, StageError> {
        let t = Instant::now();
        let prepared = self.model.preprocessor().prepare(img);
        times.letterbox = t.elapsed();
        let t = Instant::now();
        let mut job = (prepared, self.params.clone());
        let rx = loop {
            match self.model.submit_or_return(Lane::Camera, job.0, job.1) {
                Ok(rx) => break rx,
                Err(refused) => match *refused {
                    (SubmitError::QueueFull(_), p, d) if !stop.is_triggered() => {
                        job = (p, d);
                        stop.sleep(Duration::from_millis(5));
                    }
                    (e, _, _) => return Err(StageError::Unavailable(e.to_string())),
                },
            }
        };
        let out = rx
            .blocking_recv()
            .map_err(|_| StageError::Unavailable("the worker dropped the frame".into()))??;
        times.detect = t.elapsed();
        times.inference = out.inference / out.batch_size.max(1) as u32;
        Ok(out.detections)
    }

    /// Processes one frame.
    pub fn process(
        &mut self,
        input: StageInput<'_>,
        stop: &Shutdown,
    ) -> Result<(FrameResult, StageTimes), StageError> {
        let mut times = StageTimes::default();
        let detections = self.detect(input.img, stop, &mut times)?;
        let t = Instant::now();
        let dets: Vec<osprey_track::Detection> = detections.iter().map(to_track).collect();
        let tracks = self.tracker.update(&dets);
        let lifecycle = self.tracker.take_events();
        times.track = t.elapsed();
        let result = FrameResult {
            camera: self.camera.clone(),
            seq: input.seq,
            frame: input.frame,
            pts: input.pts,
            wall: input.wall,
            width: input.img.width(),
            height: input.img.height(),
            objects: tracks.iter().map(|t| self.object(t)).collect(),
            ended: self.ended(&lifecycle),
        };
        Ok((result, times))
    }

    fn ended(&self, events: &[TrackEvent]) -> Vec<TrackedObject> {
        events
            .iter()
            .filter_map(|e| match e {
                TrackEvent::End(t) => Some(self.object(t)),
                TrackEvent::New(_) => None,
            })
            .collect()
    }

    /// Ends every open track (the camera stops): a result with no objects and every open
    /// track in `ended`, after the frame `last`.
    pub fn finish(&mut self, last: &FrameResult, wall: f64) -> FrameResult {
        let events = self.tracker.finish();
        FrameResult {
            camera: self.camera.clone(),
            seq: last.seq,
            frame: last.frame,
            pts: last.pts,
            wall,
            width: last.width,
            height: last.height,
            objects: Vec::new(),
            ended: self.ended(&events),
        }
    }
}
