//! The set of cameras, addable and removable at runtime, and each camera's detection thread
//! (`osprey-cam-<id>`): take the sampled frame, run the [`Stage`], hand the result to the
//! camera's [`FrameSink`], keep the latest frame for snapshots.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use osprey_base::{lock, Clock, Shutdown};
use osprey_image::RgbImage;
use osprey_infer::{ModelHandle, Models};
use osprey_schema::{CameraPhase, FrameResult};
use osprey_track::TrackerConfig;

use crate::camera::Camera;
use crate::metrics::CameraMetrics;
use crate::source::{SourceOpener, StreamTaps, VideoOpener};
use crate::spec::{CameraError, CameraSpec};
use crate::stage::{Stage, StageError, StageInput};

/// Where a camera's results go. Called on the camera's detection thread, in frame order;
/// must not block for long (publishers queue and drop).
pub trait FrameSink: Send {
    /// One processed frame.
    fn frame(&mut self, result: &FrameResult);
    /// One processed frame with the image it was detected on (RGB, the stream's size; shared,
    /// so keeping it costs a reference count). The camera thread calls this one; the default
    /// ignores the image and calls [`FrameSink::frame`].
    fn frame_with_image(&mut self, result: &FrameResult, image: &Arc<RgbImage>) {
        let _ = image;
        self.frame(result);
    }
    /// The camera stops: `last` has no objects and ends every open track.
    fn finish(&mut self, last: &FrameResult);
}

/// Makes each camera's sink when the camera starts.
pub trait SinkFactory: Send + Sync + std::fmt::Debug {
    /// The sink for `camera`.
    fn sink(&self, camera: &str) -> Box<dyn FrameSink>;
}

/// Everything the camera threads share.
#[derive(Debug)]
pub struct PipelineContext {
    /// Served models.
    pub models: Models,
    /// Camera series.
    pub metrics: CameraMetrics,
    /// Where results go.
    pub sinks: Arc<dyn SinkFactory>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// The cameras' compressed-stream taps (live view, recording); `None`: no tap, and a
    /// camera that records is refused.
    pub taps: Option<Arc<dyn StreamTaps>>,
}

/// The set of cameras.
#[derive(Debug)]
pub struct Cameras {
    ctx: Arc<PipelineContext>,
    map: RwLock<BTreeMap<String, Arc<Camera>>>,
}

impl Cameras {
    /// An empty set.
    pub fn new(ctx: PipelineContext) -> Arc<Cameras> {
        Arc::new(Cameras {
            ctx: Arc::new(ctx),
            map: RwLock::new(BTreeMap::new()),
        })
    }

    /// Every camera, by id.
    pub fn list(&self) -> Vec<Arc<Camera>> {
        self.map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// One camera.
    pub fn get(&self, id: &str) -> Option<Arc<Camera>> {
        self.map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// Recomputes every camera's rates.
    pub fn tick(&self) {
        for c in self.list() {
            c.tick();
        }
    }

    /// Starts a camera reading its configured source.
    pub fn add(&self, spec: CameraSpec) -> Result<Arc<Camera>, CameraError> {
        let source = spec.check()?;
        if spec.records() && self.ctx.taps.is_none() {
            return Err(CameraError::Invalid(
                "recording is not configured on this server (add a [recording] section or --recordings DIR)".into(),
            ));
        }
        let opener = VideoOpener {
            source: source.clone(),
            tap: None,
        };
        self.start(spec, source, opener)
    }

    /// Starts the camera's threads, reading frames from `opener`.
    fn start(
        &self,
        spec: CameraSpec,
        source: osprey_video::Source,
        mut opener: VideoOpener,
    ) -> Result<Arc<Camera>, CameraError> {
        let model = spec
            .model
            .clone()
            .unwrap_or_else(|| self.ctx.models.default_name().to_string());
        let Some(handle) = self.ctx.models.get(&model).cloned() else {
            return Err(CameraError::Invalid(format!("no served model {model:?}")));
        };
        let mut map = self
            .map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.contains_key(&spec.id) {
            return Err(CameraError::Exists(spec.id));
        }
        if let Some(taps) = &self.ctx.taps {
            opener.tap = taps.start(&spec).map_err(CameraError::Invalid)?;
        }
        let opener: Arc<dyn SourceOpener> = Arc::new(opener);
        let cam = Arc::new(Camera::new(spec, source, model, &self.ctx.metrics));
        let short: String = cam.spec.id.chars().take(10).collect();
        let dec = {
            let (cam, ctx) = (Arc::clone(&cam), Arc::clone(&self.ctx));
            std::thread::Builder::new()
                .name(format!("osprey-dec-{short}"))
                .spawn(move || {
                    // The video crate's own log lines (RTSP fallback...) carry the camera.
                    let _span = tracing::info_span!("camera", id = %cam.spec.id).entered();
                    crate::ingest::run(&cam, opener.as_ref(), ctx.clock.as_ref());
                })
        }
        .map_err(|e| CameraError::Thread(e.to_string()))?;
        let det = {
            let (cam, ctx) = (Arc::clone(&cam), Arc::clone(&self.ctx));
            std::thread::Builder::new()
                .name(format!("osprey-cam-{short}"))
                .spawn(move || detect_loop(&cam, &ctx, handle))
        };
        let det = match det {
            Ok(t) => t,
            Err(e) => {
                cam.stop.trigger();
                return Err(CameraError::Thread(e.to_string()));
            }
        };
        lock(&cam.threads).extend([dec, det]);
        tracing::info!(camera = %cam.spec.id, url = %cam.source.redacted(), model = %cam.model, detect_fps = ?cam.spec.detect_fps, "camera added");
        map.insert(cam.spec.id.clone(), Arc::clone(&cam));
        Ok(cam)
    }

    /// Stops and removes a camera (its open tracks end); returns its final status once its
    /// threads have ended (call from a blocking context).
    pub fn remove(&self, id: &str) -> Result<osprey_schema::CameraStatus, CameraError> {
        let cam = self
            .map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(id)
            .ok_or_else(|| CameraError::NotFound(id.to_string()))?;
        cam.stop_and_join();
        if let Some(taps) = &self.ctx.taps {
            taps.stop(id);
        }
        let last = cam.status();
        self.ctx.metrics.remove(id);
        tracing::info!(camera = %id, "camera removed");
        Ok(last)
    }

    /// Stops every camera (server shutdown).
    pub fn shutdown(&self) {
        let all: Vec<Arc<Camera>> = std::mem::take(
            &mut *self
                .map
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_values()
        .collect();
        for c in &all {
            c.stop.trigger();
        }
        for c in &all {
            c.stop_and_join();
            if let Some(taps) = &self.ctx.taps {
                taps.stop(&c.spec.id);
            }
        }
    }
}

/// The tracker settings for a camera: lost tracks kept `lost_seconds` at the detection rate.
fn tracker_config(cam: &Camera) -> TrackerConfig {
    let fps = cam
        .spec
        .detect_fps
        .or_else(|| cam.lock_state().info.as_ref().and_then(|i| i.fps))
        .unwrap_or(10.0);
    TrackerConfig {
        track_buffer: (cam.spec.lost_seconds.unwrap_or(3.0) * fps)
            .round()
            .max(1.0) as u32,
        ..TrackerConfig::default()
    }
}

/// The detection thread: every sampled frame ends detected or counted as dropped.
fn detect_loop(cam: &Camera, ctx: &PipelineContext, model: ModelHandle) {
    let mut sink = ctx.sinks.sink(&cam.spec.id);
    let params = cam.spec.detect_params(&model.info().names);
    let mut stage: Option<Stage> = None;
    let mut last: Option<FrameResult> = None;
    let stop: &Shutdown = &cam.stop;
    while !stop.is_triggered() {
        let Some(s) = cam.slot.take(Duration::from_millis(200)) else {
            // A file that ended (not looping): its last frame is done, its tracks end now.
            if cam.lock_state().phase == CameraPhase::Ended {
                break;
            }
            continue;
        };
        // The tracker is made with the first frame, once the stream's rate is known.
        let st = stage.get_or_insert_with(|| {
            Stage::new(
                &cam.spec.id,
                model.clone(),
                params.clone(),
                tracker_config(cam),
            )
        });
        let input = StageInput {
            seq: s.seq,
            frame: s.frame,
            pts: s.pts,
            wall: s.wall,
            img: &s.img,
        };
        let (result, times) = match st.process(input, stop) {
            Ok(r) => r,
            Err(StageError::Detect(e)) => {
                tracing::warn!(camera = %cam.spec.id, error = %e, "detection failed");
                cam.counters.dropped.inc();
                continue;
            }
            Err(StageError::Unavailable(_)) => {
                cam.counters.dropped.inc();
                break;
            }
        };
        let c = &cam.counters;
        c.letterbox_s.observe(times.letterbox.as_secs_f64());
        c.detect_s.observe(times.detect.as_secs_f64());
        c.infer_s.observe(times.inference.as_secs_f64());
        c.detected.inc();
        c.track_s.observe(times.track.as_secs_f64());
        let img = Arc::new(s.img);
        let t = std::time::Instant::now();
        sink.frame_with_image(&result, &img);
        c.publish_s.observe(t.elapsed().as_secs_f64());
        let n = result.objects.len();
        c.tracks.set(n as i64);
        cam.lock_state().tracks = n;
        {
            let mut l = lock(&cam.latest);
            l.seq = s.seq;
            l.wall = result.wall;
            l.labels = result.objects.iter().map(|o| o.label.clone()).collect();
            l.img = Some(img);
            l.objects = result
                .objects
                .iter()
                .map(|o| (o.track_id, o.bbox))
                .collect();
        }
        cam.frames_tx.send_replace(s.seq);
        last = Some(result);
    }
    // Open tracks end with the camera.
    if let (Some(mut st), Some(last)) = (stage, last) {
        sink.finish(&st.finish(&last, ctx.clock.unix()));
    }
}
