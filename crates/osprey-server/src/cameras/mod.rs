//! The camera pipeline: source → decode → sample → shared batched detection → tracking →
//! events on the bus.
//!
//! ```text
//! per camera:  osprey-dec-<id> thread          osprey-cam-<id> thread
//!              open/reconnect (backoff)         letterbox → model worker (camera lane)
//!              read + decode every frame  ──▶   tracker (ByteTrack) → events → Redis/MQTT/SQLite
//!              RGB only for sampled frames slot  latest annotated frame (snapshot, MJPEG)
//!                                     (1 deep: a newer frame replaces an undetected one = drop)
//! ```
//!
//! The decode thread never waits for detection: the slot between the two holds one frame, and a
//! newer sampled frame replaces one not yet taken (counted as dropped). Detection goes through the
//! same inference worker as HTTP requests, in its lower-priority lane.
pub mod draw;
pub mod events;
pub mod publish;
pub mod routes;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use osprey_detect::DetectParams;
use osprey_image::RgbImage;
use osprey_track::{ByteTrack, TrackerConfig};
use osprey_video::{Reader, ReaderOptions, RtspClient, Source, SourceKind, StreamInfo, VideoError};
use prometheus::{Histogram, IntCounter, IntGauge};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use self::events::{EventTracker, SeenObject};
use self::publish::{Bus, FrameMessage};
use crate::metrics::Metrics;
use crate::worker::{Lane, ModelHandle, SubmitError};

/// One camera as configured (`[[cameras]]` in TOML, `POST /api/cameras` as JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraSpec {
    /// Unique id: letters, digits, `-` and `_` (used in MQTT topics and Redis keys).
    pub id: String,
    /// `rtsp://…`, `http(s)://…` (MJPEG), a file path, or `ffmpeg:<anything FFmpeg opens>`.
    pub url: String,
    /// Frames per second to detect on (default: every frame).
    #[serde(default)]
    pub detect_fps: Option<f64>,
    /// Class names to track (default: all the model's classes).
    #[serde(default)]
    pub labels: Option<Vec<String>>,
    /// Detection score threshold (default 0.25).
    #[serde(default)]
    pub min_score: Option<f32>,
    /// Served model to use (default: the server's default model).
    #[serde(default)]
    pub model: Option<String>,
    /// Files: start again at the end (default true).
    #[serde(default, rename = "loop")]
    pub loop_file: Option<bool>,
    /// Files: read at the native frame rate like a camera (default true); false reads as fast
    /// as detection keeps up.
    #[serde(default)]
    pub realtime: Option<bool>,
    /// Seconds a lost track is kept for re-identification (default 3).
    #[serde(default)]
    pub lost_seconds: Option<f64>,
    /// RTSP client: `auto` (default: retina, FFmpeg's client for B-frame streams and what
    /// retina cannot play), `retina` or `ffmpeg`.
    #[serde(default)]
    pub rtsp_client: Option<String>,
}

impl CameraSpec {
    /// Checks the fields (not the source's reachability).
    pub fn check(&self) -> Result<Source, String> {
        if self.id.is_empty()
            || self.id.len() > 64
            || !self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err("id must be 1-64 letters, digits, '-' or '_'".into());
        }
        let source = Source::parse(&self.url).map_err(|e| e.to_string())?;
        if let Some(f) = self.detect_fps {
            if !(f > 0.0 && f <= 240.0) {
                return Err(format!("detect_fps {f} is not in (0, 240]"));
            }
        }
        if let Some(s) = self.min_score {
            if !(0.0..=1.0).contains(&s) {
                return Err(format!("min_score {s} is not in 0..1"));
            }
        }
        if let Some(s) = self.lost_seconds {
            if !(s > 0.0 && s <= 3600.0) {
                return Err(format!("lost_seconds {s} is not in (0, 3600]"));
            }
        }
        self.client()?;
        Ok(source)
    }

    /// The RTSP client asked for.
    pub fn client(&self) -> Result<RtspClient, String> {
        match self.rtsp_client.as_deref() {
            None => Ok(RtspClient::Auto),
            Some(c) => RtspClient::parse(c)
                .ok_or_else(|| format!("rtsp_client {c:?} is not auto, retina or ffmpeg")),
        }
    }
}

/// Why a camera could not be added or found.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CameraError {
    /// The spec is invalid.
    #[error("{0}")]
    Invalid(String),
    /// A camera with this id exists.
    #[error("camera {0:?} already exists")]
    Exists(String),
    /// No camera with this id.
    #[error("no camera {0:?}")]
    NotFound(String),
    /// A thread could not be started.
    #[error("cannot start the camera's threads: {0}")]
    Thread(String),
}

/// What a camera is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Opening the source for the first time.
    Connecting,
    /// Frames are flowing.
    Connected,
    /// Lost the source; retrying with backoff.
    Reconnecting,
    /// A file ended (no looping).
    Ended,
    /// A permanent error (invalid URL); not retried.
    Failed,
    /// Removed or shutting down.
    Stopped,
}

#[derive(Debug, Clone, Serialize)]
struct ErrorInfo {
    kind: &'static str,
    message: String,
    at: String,
}

#[derive(Debug)]
struct State {
    phase: Phase,
    last_error: Option<ErrorInfo>,
    info: Option<StreamInfo>,
    /// The client reading the source, and why not retina when RTSP fell back.
    client: Option<(&'static str, Option<String>)>,
    down_since: Option<Instant>,
    outage_total: Duration,
    outages: u64,
    tracks: usize,
    rates: [f64; 3],
    rate_base: (Instant, [u64; 3]),
}

struct Counters {
    frames_in: IntCounter,
    decoded: IntCounter,
    sampled: IntCounter,
    detected: IntCounter,
    dropped: IntCounter,
    reconnects: IntCounter,
    connected: IntGauge,
    tracks: IntGauge,
    decode_s: Histogram,
    convert_s: Histogram,
    letterbox_s: Histogram,
    detect_s: Histogram,
    infer_s: Histogram,
    track_s: Histogram,
    publish_s: Histogram,
}

impl Counters {
    fn new(m: &Metrics, id: &str) -> Counters {
        let f = |stage: &str| m.camera_frames.with_label_values(&[id, stage]);
        let h = |stage: &str| m.camera_stage_seconds.with_label_values(&[id, stage]);
        Counters {
            frames_in: f("in"),
            decoded: f("decoded"),
            sampled: f("sampled"),
            detected: f("detected"),
            dropped: f("dropped"),
            reconnects: m.camera_reconnects.with_label_values(&[id]),
            connected: m.camera_connected.with_label_values(&[id]),
            tracks: m.camera_tracks.with_label_values(&[id]),
            decode_s: h("decode"),
            convert_s: h("convert"),
            letterbox_s: h("letterbox"),
            detect_s: h("detect"),
            infer_s: h("inference"),
            track_s: h("track"),
            publish_s: h("publish"),
        }
    }

    fn remove(m: &Metrics, id: &str) {
        for stage in ["in", "decoded", "sampled", "detected", "dropped"] {
            let _ = m.camera_frames.remove_label_values(&[id, stage]);
        }
        for stage in STAGES {
            let _ = m.camera_stage_seconds.remove_label_values(&[id, stage]);
        }
        let _ = m.camera_reconnects.remove_label_values(&[id]);
        let _ = m.camera_connected.remove_label_values(&[id]);
        let _ = m.camera_tracks.remove_label_values(&[id]);
        for kind in ["bad_url", "auth", "open", "no_video", "read", "corrupt"] {
            let _ = m.camera_errors.remove_label_values(&[id, kind]);
        }
    }
}

/// Camera stages timed per frame (`osprey_camera_stage_seconds`).
const STAGES: [&str; 7] = [
    "decode",
    "convert",
    "letterbox",
    "detect",
    "inference",
    "track",
    "publish",
];

/// A sampled frame on its way to detection.
struct Sampled {
    seq: u64,
    wall: f64,
    img: RgbImage,
}

/// One-deep hand-over from decode to detection; a newer frame replaces an untaken one.
#[derive(Default)]
struct Slot {
    frame: Mutex<Option<Sampled>>,
    ready: Condvar,
}

impl Slot {
    fn put(&self, s: Sampled) -> bool {
        let mut g = self.frame.lock().unwrap_or_else(|p| p.into_inner());
        let replaced = g.replace(s).is_some();
        drop(g);
        self.ready.notify_one();
        replaced
    }

    fn take(&self, wait: Duration) -> Option<Sampled> {
        let g = self.frame.lock().unwrap_or_else(|p| p.into_inner());
        let (mut g, _) = self
            .ready
            .wait_timeout_while(g, wait, |f| f.is_none())
            .unwrap_or_else(|p| p.into_inner());
        g.take()
    }
}

/// The latest processed frame, for snapshots and the MJPEG view.
#[derive(Default)]
struct Latest {
    seq: u64,
    img: Option<Arc<RgbImage>>,
    objects: Vec<SeenObject>,
    jpeg: Option<(u64, bytes::Bytes)>,
}

/// A running camera.
pub struct Camera {
    spec: CameraSpec,
    source: Source,
    model: String,
    stop: Arc<AtomicBool>,
    state: Mutex<State>,
    counters: Counters,
    slot: Slot,
    latest: Mutex<Latest>,
    frames_tx: tokio::sync::watch::Sender<u64>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Camera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Camera")
            .field("id", &self.spec.id)
            .field("source", &self.source)
            .finish()
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Camera {
    /// The camera's id.
    pub fn id(&self) -> &str {
        &self.spec.id
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_phase(&self, phase: Phase) {
        let mut s = self.lock_state();
        if phase == Phase::Connected {
            if let Some(t) = s.down_since.take() {
                s.outage_total += t.elapsed();
            }
        } else if s.phase == Phase::Connected && s.down_since.is_none() {
            s.down_since = Some(Instant::now());
            s.outages += 1;
        }
        s.phase = phase;
        self.counters
            .connected
            .set(i64::from(phase == Phase::Connected));
    }

    fn record_error(&self, m: &Metrics, e: &VideoError) {
        m.camera_errors
            .with_label_values(&[&self.spec.id, e.kind()])
            .inc();
        tracing::warn!(camera = %self.spec.id, kind = e.kind(), error = %e, "camera source error");
        self.lock_state().last_error = Some(ErrorInfo {
            kind: e.kind(),
            message: e.to_string(),
            at: events::rfc3339(unix_now()),
        });
    }

    fn counts(&self) -> [u64; 3] {
        [
            self.counters.frames_in.get(),
            self.counters.decoded.get(),
            self.counters.detected.get(),
        ]
    }

    /// Recomputes the per-second rates (called about once a second).
    fn tick(&self) {
        let now = Instant::now();
        let counts = self.counts();
        let mut s = self.lock_state();
        let (t0, c0) = s.rate_base;
        let dt = now.duration_since(t0).as_secs_f64();
        if dt >= 0.5 {
            for (i, r) in s.rates.iter_mut().enumerate() {
                *r = counts[i].saturating_sub(c0[i]) as f64 / dt;
            }
            s.rate_base = (now, counts);
        }
    }

    /// The status object of `GET /api/cameras/{id}`.
    pub fn status(&self) -> Value {
        let s = self.lock_state();
        let outage = s.outage_total + s.down_since.map_or(Duration::ZERO, |t| t.elapsed());
        let c = &self.counters;
        json!({
            "id": self.spec.id,
            "url": self.source.redacted(),
            "source": self.source.kind().as_str(),
            "model": self.model,
            "state": s.phase,
            "connected": s.phase == Phase::Connected,
            "stream": s.info.as_ref().map(|i| json!({
                "codec": i.codec, "width": i.width, "height": i.height, "fps": i.fps,
                "client": s.client.as_ref().map(|c| c.0),
                "fallback_reason": s.client.as_ref().and_then(|c| c.1.as_deref()),
            })),
            "detect_fps": self.spec.detect_fps,
            "fps": {
                "in": (s.rates[0] * 10.0).round() / 10.0,
                "decoded": (s.rates[1] * 10.0).round() / 10.0,
                "detected": (s.rates[2] * 10.0).round() / 10.0,
            },
            "frames": {
                "in": c.frames_in.get(),
                "decoded": c.decoded.get(),
                "sampled": c.sampled.get(),
                "detected": c.detected.get(),
                "dropped": c.dropped.get(),
            },
            "reconnects": c.reconnects.get(),
            "outages": s.outages,
            "outage_seconds": (outage.as_secs_f64() * 10.0).round() / 10.0,
            "tracks": s.tracks,
            "last_error": s.last_error,
            "spec": {
                "labels": self.spec.labels,
                "min_score": self.spec.min_score,
                "loop": self.spec.loop_file,
                "realtime": self.spec.realtime,
                "lost_seconds": self.spec.lost_seconds,
                "rtsp_client": self.spec.rtsp_client,
            },
        })
    }

    /// The latest frame with boxes and track ids drawn, as JPEG (`None` before the first).
    pub fn snapshot(&self) -> Option<(u64, bytes::Bytes)> {
        let (seq, img, objects) = {
            let l = self.latest.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((s, j)) = &l.jpeg {
                if *s == l.seq {
                    return Some((*s, j.clone()));
                }
            }
            (l.seq, l.img.clone()?, l.objects.clone())
        };
        let mut img = (*img).clone();
        draw::annotate(&mut img, &objects);
        let jpg = bytes::Bytes::from(draw::jpeg(&img, 80).ok()?);
        let mut l = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        if l.seq == seq {
            l.jpeg = Some((seq, jpg.clone()));
        }
        Some((seq, jpg))
    }

    /// Notifies on every processed frame (the value is its sequence number).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.frames_tx.subscribe()
    }

    /// Whether the camera has been stopped.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

/// Everything the camera threads share with the server.
#[derive(Debug)]
pub struct Ctx {
    /// Served models.
    pub models: std::collections::HashMap<String, ModelHandle>,
    /// Default model name.
    pub default_model: String,
    /// Metrics registry.
    pub metrics: Metrics,
    /// Publishers.
    pub bus: Arc<Bus>,
}

/// The set of cameras, addable and removable at runtime.
#[derive(Debug)]
pub struct Cameras {
    ctx: Arc<Ctx>,
    map: RwLock<BTreeMap<String, Arc<Camera>>>,
}

const BACKOFF_MAX: Duration = Duration::from_secs(4);

impl Cameras {
    /// An empty set.
    pub fn new(ctx: Ctx) -> Arc<Cameras> {
        Arc::new(Cameras {
            ctx: Arc::new(ctx),
            map: RwLock::new(BTreeMap::new()),
        })
    }

    /// The shared context (bus, models).
    pub fn ctx(&self) -> &Ctx {
        &self.ctx
    }

    /// Every camera, by id.
    pub fn list(&self) -> Vec<Arc<Camera>> {
        self.map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// One camera.
    pub fn get(&self, id: &str) -> Option<Arc<Camera>> {
        self.map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    /// Recomputes every camera's rates.
    pub fn tick(&self) {
        for c in self.list() {
            c.tick();
        }
    }

    /// Starts a camera.
    pub fn add(&self, spec: CameraSpec) -> Result<Arc<Camera>, CameraError> {
        let source = spec.check().map_err(CameraError::Invalid)?;
        let model = spec
            .model
            .clone()
            .unwrap_or_else(|| self.ctx.default_model.clone());
        let Some(handle) = self.ctx.models.get(&model).cloned() else {
            return Err(CameraError::Invalid(format!("no served model {model:?}")));
        };
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if map.contains_key(&spec.id) {
            return Err(CameraError::Exists(spec.id));
        }
        let (frames_tx, _) = tokio::sync::watch::channel(0);
        let cam = Arc::new(Camera {
            counters: Counters::new(&self.ctx.metrics, &spec.id),
            source,
            model,
            stop: Arc::new(AtomicBool::new(false)),
            state: Mutex::new(State {
                phase: Phase::Connecting,
                last_error: None,
                info: None,
                client: None,
                down_since: None,
                outage_total: Duration::ZERO,
                outages: 0,
                tracks: 0,
                rates: [0.0; 3],
                rate_base: (Instant::now(), [0; 3]),
            }),
            slot: Slot::default(),
            latest: Mutex::new(Latest::default()),
            frames_tx,
            threads: Mutex::new(Vec::new()),
            spec,
        });
        let short: String = cam.spec.id.chars().take(10).collect();
        let dec = {
            let cam = Arc::clone(&cam);
            let ctx = Arc::clone(&self.ctx);
            std::thread::Builder::new()
                .name(format!("osprey-dec-{short}"))
                .spawn(move || {
                    // The video crate's own log lines (RTSP fallback...) carry the camera.
                    let _span = tracing::info_span!("camera", id = %cam.spec.id).entered();
                    decode_loop(&cam, &ctx)
                })
        }
        .map_err(|e| CameraError::Thread(e.to_string()))?;
        let ana = {
            let cam = Arc::clone(&cam);
            let ctx = Arc::clone(&self.ctx);
            std::thread::Builder::new()
                .name(format!("osprey-cam-{short}"))
                .spawn(move || analytics_loop(&cam, &ctx, &handle))
        };
        let ana = match ana {
            Ok(t) => t,
            Err(e) => {
                cam.stop.store(true, Ordering::Release);
                return Err(CameraError::Thread(e.to_string()));
            }
        };
        cam.threads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend([dec, ana]);
        tracing::info!(camera = %cam.spec.id, url = %cam.source.redacted(), model = %cam.model, detect_fps = ?cam.spec.detect_fps, "camera added");
        map.insert(cam.spec.id.clone(), Arc::clone(&cam));
        Ok(cam)
    }

    /// Stops and removes a camera (its open tracks end); returns its final status once its
    /// threads have ended (call from a blocking context).
    pub fn remove(&self, id: &str) -> Result<Value, CameraError> {
        let cam = self
            .map
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id)
            .ok_or_else(|| CameraError::NotFound(id.to_string()))?;
        stop(&cam);
        let last = cam.status();
        Counters::remove(&self.ctx.metrics, id);
        tracing::info!(camera = %id, "camera removed");
        Ok(last)
    }

    /// Stops every camera (server shutdown).
    pub fn shutdown(&self) {
        let all: Vec<Arc<Camera>> =
            std::mem::take(&mut *self.map.write().unwrap_or_else(|p| p.into_inner()))
                .into_values()
                .collect();
        for c in &all {
            c.stop.store(true, Ordering::Release);
        }
        for c in &all {
            stop(c);
        }
        self.ctx.bus.shutdown();
    }
}

fn stop(cam: &Camera) {
    cam.stop.store(true, Ordering::Release);
    cam.slot.ready.notify_all();
    let threads = std::mem::take(&mut *cam.threads.lock().unwrap_or_else(|p| p.into_inner()));
    for t in threads {
        let _ = t.join();
    }
    // A sampled frame still waiting when the camera stopped was never detected.
    if cam.slot.take(Duration::ZERO).is_some() {
        cam.counters.dropped.inc();
    }
    cam.set_phase(Phase::Stopped);
}

/// Sleeps up to `d`, waking early when the camera stops; false if it stopped.
fn nap(cam: &Camera, d: Duration) -> bool {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if cam.stopped() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50).min(until - Instant::now()));
    }
    !cam.stopped()
}

/// Records (status, log) which client reads the camera; once RTSP fell back to FFmpeg's client,
/// reconnections use it directly.
fn note_client(cam: &Camera, reader: &Reader, seen: &mut &'static str, opts: &mut ReaderOptions) {
    *seen = reader.client();
    let info = reader.info();
    let fallback = reader.fallback_reason().map(str::to_string);
    if fallback.is_some() {
        opts.rtsp_client = RtspClient::Ffmpeg;
    }
    tracing::info!(camera = %cam.spec.id, client = *seen, fallback = ?fallback, codec = %info.codec, width = info.width, height = info.height, fps = ?info.fps, "camera connected");
    let mut s = cam.lock_state();
    s.info = Some(info.clone());
    s.client = Some((
        *seen,
        fallback.or_else(|| s.client.take().and_then(|c| c.1)),
    ));
}

fn decode_loop(cam: &Camera, ctx: &Ctx) {
    let is_file = cam.source.kind() == SourceKind::File;
    let mut opts = ReaderOptions {
        timeout: Duration::from_secs(5),
        realtime: cam.spec.realtime.unwrap_or(true),
        loop_file: cam.spec.loop_file.unwrap_or(true),
        decoder_threads: 1,
        rtsp_client: cam.spec.client().unwrap_or_default(),
    };
    let interval = cam.spec.detect_fps.map(|f| 1.0 / f);
    let mut seq = 0u64;
    let mut backoff = Duration::from_millis(500);
    let mut opened_before = false;
    while !cam.stopped() {
        let mut reader = match Reader::open(&cam.source, opts) {
            Ok(r) => r,
            Err(e) => {
                cam.record_error(&ctx.metrics, &e);
                // A wrong URL, or a file that is not a video, will not fix itself.
                if !e.is_retryable() || (is_file && e.kind() == "no_video") {
                    cam.set_phase(Phase::Failed);
                    return;
                }
                cam.set_phase(if opened_before {
                    Phase::Reconnecting
                } else {
                    Phase::Connecting
                });
                if !nap(cam, backoff) {
                    return;
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        if opened_before {
            cam.counters.reconnects.inc();
            tracing::info!(camera = %cam.spec.id, "camera reconnected");
        }
        opened_before = true;
        let mut client = "";
        note_client(cam, &reader, &mut client, &mut opts);
        let mut next_sample = f64::NEG_INFINITY;
        let mut packets = 0u64;
        let mut decode_errors = 0u64;
        let mut decode_time = Duration::ZERO;
        let mut errors_reported: Option<Instant> = None;
        let mut connected = false;
        let end = loop {
            if cam.stopped() {
                return;
            }
            let frame = reader.next_frame();
            let p = reader.packets();
            cam.counters.frames_in.inc_by(p - packets);
            packets = p;
            let (errors, last) = reader.decode_errors();
            if errors > decode_errors
                && errors_reported.is_none_or(|t| t.elapsed() >= Duration::from_secs(2))
            {
                errors_reported = Some(Instant::now());
                cam.record_error(
                    &ctx.metrics,
                    &VideoError::Corrupt {
                        url: cam.source.redacted(),
                        reason: format!(
                            "{errors} corrupt packets/frames so far; last: {}",
                            last.unwrap_or("?")
                        ),
                    },
                );
                decode_errors = errors;
            }
            let f = match frame {
                Ok(Some(f)) => f,
                Ok(None) => break None,
                Err(e) => break Some(e),
            };
            if !connected {
                connected = true;
                backoff = Duration::from_millis(500);
                cam.set_phase(Phase::Connected);
            }
            if reader.client() != client {
                note_client(cam, &reader, &mut client, &mut opts);
            }
            // Decoder time only: network waits and file pacing are not decode work.
            let d = reader.decode_time();
            cam.counters
                .decode_s
                .observe((d - decode_time).as_secs_f64());
            decode_time = d;
            cam.counters.decoded.inc();
            let take = match interval {
                None => true,
                Some(iv) => {
                    if f.pts + 1e-6 >= next_sample {
                        // Keep the cadence; resynchronise after a gap longer than one interval.
                        next_sample = if f.pts - next_sample > iv {
                            f.pts + iv
                        } else {
                            next_sample + iv
                        };
                        true
                    } else {
                        false
                    }
                }
            };
            if !take {
                continue;
            }
            let t = Instant::now();
            let img = match reader.rgb() {
                Ok(i) => i,
                Err(e) => {
                    cam.record_error(&ctx.metrics, &e);
                    continue;
                }
            };
            cam.counters.convert_s.observe(t.elapsed().as_secs_f64());
            seq += 1;
            cam.counters.sampled.inc();
            if cam.slot.put(Sampled {
                seq,
                wall: unix_now(),
                img,
            }) {
                cam.counters.dropped.inc();
            }
        };
        match end {
            Some(e) => {
                cam.record_error(&ctx.metrics, &e);
                cam.set_phase(Phase::Reconnecting);
                if !nap(
                    cam,
                    if connected {
                        Duration::from_millis(200)
                    } else {
                        backoff
                    },
                ) {
                    return;
                }
                if !connected {
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
            None if is_file => {
                tracing::info!(camera = %cam.spec.id, "file ended");
                cam.set_phase(Phase::Ended);
                return;
            }
            None => {
                cam.record_error(
                    &ctx.metrics,
                    &VideoError::Read {
                        url: cam.source.redacted(),
                        reason: "the stream ended".into(),
                    },
                );
                cam.set_phase(Phase::Reconnecting);
                if !nap(cam, Duration::from_millis(200)) {
                    return;
                }
            }
        }
    }
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

fn analytics_loop(cam: &Camera, ctx: &Ctx, model: &ModelHandle) {
    let names = model.info().names.clone();
    let label_of = |c: u32| {
        names
            .get(c as usize)
            .cloned()
            .unwrap_or_else(|| format!("class{c}"))
    };
    let classes = cam.spec.labels.as_ref().map(|ls| {
        names
            .iter()
            .enumerate()
            .filter(|(_, n)| ls.iter().any(|l| l.eq_ignore_ascii_case(n)))
            .map(|(i, _)| i as u32)
            .collect::<Vec<u32>>()
    });
    let params = DetectParams {
        conf: cam.spec.min_score.unwrap_or(0.25),
        classes,
        ..DetectParams::default()
    };
    let mut tracker: Option<ByteTrack> = None;
    let mut events = EventTracker::new(&cam.spec.id);
    let preprocessor = model.preprocessor().clone();
    loop {
        if cam.stopped() {
            break;
        }
        let Some(s) = cam.slot.take(Duration::from_millis(200)) else {
            continue;
        };
        let t = Instant::now();
        let prepared = preprocessor.prepare(&s.img);
        cam.counters.letterbox_s.observe(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let mut job = (prepared, params.clone());
        let rx = loop {
            match model.submit_or_return(Lane::Camera, job.0, job.1) {
                Ok(rx) => break Some(rx),
                Err(refused) => match *refused {
                    (SubmitError::QueueFull(_), p, d) if !cam.stopped() => {
                        job = (p, d);
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    _ => break None,
                },
            }
        };
        // Every sampled frame ends up detected or counted as dropped.
        let Some(rx) = rx else {
            cam.counters.dropped.inc();
            break;
        };
        let out = match rx.blocking_recv() {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => {
                tracing::warn!(camera = %cam.spec.id, error = %e, "detection failed");
                cam.counters.dropped.inc();
                continue;
            }
            Err(_) => {
                cam.counters.dropped.inc();
                break;
            }
        };
        cam.counters.detect_s.observe(t.elapsed().as_secs_f64());
        // This frame's share of its batch's ONNX Runtime time.
        cam.counters
            .infer_s
            .observe(out.inference.as_secs_f64() / out.batch_size.max(1) as f64);
        cam.counters.detected.inc();
        let t = Instant::now();
        let tr = tracker.get_or_insert_with(|| {
            let fps = cam
                .spec
                .detect_fps
                .or_else(|| cam.lock_state().info.as_ref().and_then(|i| i.fps))
                .unwrap_or(10.0);
            ByteTrack::new(TrackerConfig {
                track_buffer: (cam.spec.lost_seconds.unwrap_or(3.0) * fps)
                    .round()
                    .max(1.0) as u32,
                ..TrackerConfig::default()
            })
        });
        let dets: Vec<osprey_track::Detection> = out.detections.iter().map(to_track).collect();
        let tracks = tr.update(&dets);
        let lifecycle = tr.take_events();
        cam.counters.track_s.observe(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let seen = events.on_frame(&ctx.bus, s.wall, &tracks, &lifecycle, &label_of);
        ctx.bus.frame(FrameMessage {
            camera: cam.spec.id.clone(),
            json: events::minimal_schema(&cam.spec.id, s.seq, &events::rfc3339(s.wall), &seen),
        });
        cam.counters.publish_s.observe(t.elapsed().as_secs_f64());
        cam.counters.tracks.set(seen.len() as i64);
        cam.lock_state().tracks = seen.len();
        {
            let mut l = cam.latest.lock().unwrap_or_else(|p| p.into_inner());
            l.seq = s.seq;
            l.img = Some(Arc::new(s.img));
            l.objects = seen;
        }
        cam.frames_tx.send_replace(s.seq);
    }
    // Open tracks end with the camera.
    if let Some(mut tr) = tracker {
        let ended = tr.finish();
        events.on_frame(&ctx.bus, unix_now(), &[], &ended, &label_of);
    }
}
