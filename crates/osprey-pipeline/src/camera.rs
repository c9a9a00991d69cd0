//! A running camera: its settings, state, counters, the one-frame slot between its decode and
//! detection threads, and the latest processed frame.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use osprey_base::{lock, rfc3339, Shutdown};
use osprey_image::RgbImage;
use osprey_schema::{
    CameraPhase, CameraStatus, ErrorInfo, FrameCounts, Rates, SpecView, StreamView,
};
use osprey_video::{Source, StreamInfo, VideoError};

use crate::metrics::{CameraMetrics, Counters};
use crate::spec::CameraSpec;

#[derive(Debug)]
pub(crate) struct State {
    pub phase: CameraPhase,
    pub last_error: Option<ErrorInfo>,
    pub info: Option<StreamInfo>,
    /// The client reading the source, and why not retina when RTSP fell back.
    pub client: Option<(&'static str, Option<String>)>,
    pub down_since: Option<Instant>,
    pub outage_total: Duration,
    pub outages: u64,
    pub tracks: usize,
    pub rates: [f64; 3],
    pub rate_base: (Instant, [u64; 3]),
}

/// A sampled frame on its way to detection.
#[derive(Debug)]
pub(crate) struct Sampled {
    /// Number among the sampled frames, from 1.
    pub seq: u64,
    /// Decode-order index (0-based, every decoded frame counts).
    pub frame: u64,
    pub pts: f64,
    pub wall: f64,
    pub img: RgbImage,
}

/// One-deep hand-over from decode to detection; a newer frame replaces an untaken one.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    frame: Mutex<Option<Sampled>>,
    ready: Condvar,
}

impl Slot {
    /// Puts `s`; true if it replaced a frame nobody took (a drop).
    pub fn put(&self, s: Sampled) -> bool {
        let replaced = lock(&self.frame).replace(s).is_some();
        self.ready.notify_all();
        replaced
    }

    /// Puts `s` once the slot is empty (the detection thread took the previous frame), so no
    /// frame is lost; false if `stop` triggered first (the frame is dropped then).
    pub fn put_when_empty(&self, s: Sampled, stop: &Shutdown) -> bool {
        let mut g = lock(&self.frame);
        while g.is_some() {
            if stop.is_triggered() {
                return false;
            }
            g = self
                .ready
                .wait_timeout(g, Duration::from_millis(100))
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        *g = Some(s);
        drop(g);
        self.ready.notify_all();
        true
    }

    /// Takes the frame, waiting up to `wait` for one.
    pub fn take(&self, wait: Duration) -> Option<Sampled> {
        let g = lock(&self.frame);
        let (mut g, _) = self
            .ready
            .wait_timeout_while(g, wait, |f| f.is_none())
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let taken = g.take();
        drop(g);
        if taken.is_some() {
            // A decode thread waiting for room (lossless files) may go on.
            self.ready.notify_all();
        }
        taken
    }

    /// Wakes a waiting taker (at stop).
    pub fn wake(&self) {
        self.ready.notify_all();
    }
}

/// The latest processed frame, for snapshots and the MJPEG view.
#[derive(Debug, Default)]
pub(crate) struct Latest {
    pub seq: u64,
    /// Wall-clock time the frame was decoded, Unix seconds.
    pub wall: f64,
    pub img: Option<Arc<RgbImage>>,
    pub objects: Vec<(u64, [f32; 4])>,
    /// The label of each of `objects`.
    pub labels: Vec<String>,
    pub jpeg: Option<(u64, bytes::Bytes)>,
}

/// The latest processed frame's tracks ([`Camera::latest_tracks`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LatestTracks {
    /// The frame's sequence number.
    pub seq: u64,
    /// Wall-clock time the frame was decoded, Unix seconds.
    pub wall: f64,
    /// Each confirmed track: id, label, box (`x1, y1, x2, y2` in pixels).
    pub objects: Vec<(u64, String, [f32; 4])>,
}

/// A running camera.
#[derive(Debug)]
pub struct Camera {
    pub(crate) spec: CameraSpec,
    pub(crate) source: Source,
    pub(crate) model: String,
    pub(crate) stop: Shutdown,
    pub(crate) state: Mutex<State>,
    pub(crate) counters: Counters,
    pub(crate) metrics: CameraMetrics,
    pub(crate) slot: Slot,
    pub(crate) latest: Mutex<Latest>,
    pub(crate) frames_tx: tokio::sync::watch::Sender<u64>,
    pub(crate) threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Camera {
    /// A camera that has not started.
    pub(crate) fn new(
        spec: CameraSpec,
        source: Source,
        model: String,
        metrics: &CameraMetrics,
    ) -> Camera {
        let (frames_tx, _) = tokio::sync::watch::channel(0);
        Camera {
            counters: Counters::new(metrics, &spec.id),
            metrics: metrics.clone(),
            source,
            model,
            stop: Shutdown::new(),
            state: Mutex::new(State {
                phase: CameraPhase::Connecting,
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
        }
    }

    /// The camera's id.
    pub fn id(&self) -> &str {
        &self.spec.id
    }

    /// Its settings.
    pub fn spec(&self) -> &CameraSpec {
        &self.spec
    }

    pub(crate) fn lock_state(&self) -> std::sync::MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub(crate) fn set_phase(&self, phase: CameraPhase) {
        let mut s = self.lock_state();
        if phase == CameraPhase::Connected {
            if let Some(t) = s.down_since.take() {
                s.outage_total += t.elapsed();
            }
        } else if s.phase == CameraPhase::Connected && s.down_since.is_none() {
            s.down_since = Some(Instant::now());
            s.outages += 1;
        }
        s.phase = phase;
        self.counters
            .connected
            .set(i64::from(phase == CameraPhase::Connected));
    }

    pub(crate) fn record_error(&self, e: &VideoError, now: f64) {
        self.metrics
            .errors
            .with_label_values(&[&self.spec.id, e.kind()])
            .inc();
        tracing::warn!(camera = %self.spec.id, kind = e.kind(), error = %e, "camera source error");
        self.lock_state().last_error = Some(ErrorInfo {
            kind: e.kind().to_string(),
            message: e.to_string(),
            at: rfc3339(now),
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
    pub fn tick(&self) {
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

    /// The status `GET /api/cameras/{id}` reports.
    pub fn status(&self) -> CameraStatus {
        let s = self.lock_state();
        let outage = s.outage_total + s.down_since.map_or(Duration::ZERO, |t| t.elapsed());
        let c = &self.counters;
        let tenth = |v: f64| (v * 10.0).round() / 10.0;
        CameraStatus {
            id: self.spec.id.clone(),
            url: self.source.redacted(),
            source: self.source.kind().as_str().to_string(),
            model: self.model.clone(),
            state: s.phase,
            connected: s.phase == CameraPhase::Connected,
            stream: s.info.as_ref().map(|i| StreamView {
                codec: i.codec.clone(),
                width: i.width,
                height: i.height,
                fps: i.fps,
                client: s.client.as_ref().map(|c| c.0.to_string()),
                fallback_reason: s.client.as_ref().and_then(|c| c.1.clone()),
            }),
            detect_fps: self.spec.detect_fps,
            fps: Rates {
                input: tenth(s.rates[0]),
                decoded: tenth(s.rates[1]),
                detected: tenth(s.rates[2]),
            },
            frames: FrameCounts {
                input: c.frames_in.get(),
                decoded: c.decoded.get(),
                sampled: c.sampled.get(),
                detected: c.detected.get(),
                dropped: c.dropped.get(),
            },
            reconnects: c.reconnects.get(),
            outages: s.outages,
            outage_seconds: tenth(outage.as_secs_f64()),
            tracks: s.tracks,
            last_error: s.last_error.clone(),
            spec: SpecView {
                labels: self.spec.labels.clone(),
                min_score: self.spec.min_score,
                loop_file: self.spec.loop_file,
                realtime: self.spec.realtime,
                lost_seconds: self.spec.lost_seconds,
                rtsp_client: self.spec.rtsp_client.clone(),
            },
        }
    }

    /// The latest frame with boxes and track ids drawn, as JPEG (`None` before the first).
    pub fn snapshot(&self) -> Option<(u64, bytes::Bytes)> {
        let (seq, img, objects) = {
            let l = lock(&self.latest);
            if let Some((s, j)) = &l.jpeg {
                if *s == l.seq {
                    return Some((*s, j.clone()));
                }
            }
            (l.seq, l.img.clone()?, l.objects.clone())
        };
        let mut img = (*img).clone();
        osprey_image::draw::annotate(&mut img, &objects);
        let jpg = bytes::Bytes::from(osprey_image::draw::jpeg(&img, 80).ok()?);
        let mut l = lock(&self.latest);
        if l.seq == seq {
            l.jpeg = Some((seq, jpg.clone()));
        }
        Some((seq, jpg))
    }

    /// The latest processed frame's tracks: its sequence number, its wall-clock time (Unix
    /// seconds), and each confirmed track's id, label and box (`x1, y1, x2, y2` in pixels).
    pub fn latest_tracks(&self) -> LatestTracks {
        let l = lock(&self.latest);
        LatestTracks {
            seq: l.seq,
            wall: l.wall,
            objects: l
                .objects
                .iter()
                .enumerate()
                .map(|(i, &(id, b))| (id, l.labels.get(i).cloned().unwrap_or_default(), b))
                .collect(),
        }
    }

    /// Notifies on every processed frame (the value is its sequence number).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.frames_tx.subscribe()
    }

    /// Whether the camera has been stopped.
    pub fn stopped(&self) -> bool {
        self.stop.is_triggered()
    }

    /// Stops the threads and waits for them; a sampled frame still waiting was never detected.
    pub(crate) fn stop_and_join(&self) {
        self.stop.trigger();
        self.slot.wake();
        let threads = std::mem::take(&mut *lock(&self.threads));
        for t in threads {
            let _ = t.join();
        }
        if self.slot.take(Duration::ZERO).is_some() {
            self.counters.dropped.inc();
        }
        self.set_phase(CameraPhase::Stopped);
    }
}
