//! The cameras' compressed streams: every camera's readers feed its live view (a
//! [`LiveHub`]: fMP4 fragments for the WebSocket viewers) and, when the camera records, its
//! recorder in the library (osprey-record); the library opens (and recovers) when recording is
//! configured. Cameras in `events` mode record in 10 s segments that age out after a minute
//! unless an object event holds them ([`EventClips`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use osprey_base::lock;
use osprey_config::ServeConfig;
use osprey_pipeline::{CameraSpec, RecordMode, StreamTap, StreamTaps};
use osprey_record::{CameraQuota, Library, LiveHub, LiveHubs, RecorderFeed};
use osprey_schema::media::EncodedEvent;

/// The cameras' stream taps: the live views, and the recording when configured.
#[derive(Debug)]
pub(crate) struct Taps {
    pub(crate) live: Arc<LiveHubs>,
    pub(crate) recording: Option<Recording>,
}

/// Recording: each recorded camera's reader feeds its recorder in the library.
#[derive(Debug)]
pub(crate) struct Recording {
    pub(crate) library: Arc<Library>,
    pub(crate) clips: Arc<EventClips>,
}

/// One camera's tap: every reader it opens sends to the camera's live hub and, when it
/// records, to its recorder feed.
struct CameraTap {
    camera: String,
    live: Arc<LiveHub>,
    feed: Option<RecorderFeed>,
}

impl StreamTap for CameraTap {
    fn sink(&self) -> Box<dyn FnMut(EncodedEvent) + Send> {
        let (live, feed, camera) = (self.live.clone(), self.feed.clone(), self.camera.clone());
        Box::new(move |ev| {
            live.push(&ev);
            if let (EncodedEvent::Unrecordable(reason), Some(_)) = (&ev, &feed) {
                tracing::warn!(camera = %camera, reason = %reason, "this stream is not recordable");
            }
            if let Some(feed) = &feed {
                feed.send(ev);
            }
        })
    }
}

impl StreamTaps for Taps {
    fn start(&self, spec: &CameraSpec) -> Result<Option<Arc<dyn StreamTap>>, String> {
        let feed = match (&self.recording, spec.records()) {
            (_, false) => None,
            (Some(r), true) => Some(r.start(spec)?),
            (None, true) => {
                return Err("recording is not configured on this server (add a [recording] section or --recordings DIR)".into())
            }
        };
        let live = self.live.start(&spec.id);
        Ok(Some(Arc::new(CameraTap {
            camera: spec.id.clone(),
            live,
            feed,
        })))
    }

    fn stop(&self, camera: &str) {
        self.live.stop(camera);
        if let Some(r) = &self.recording {
            r.stop(camera);
        }
    }
}

impl Recording {
    fn start(&self, spec: &CameraSpec) -> Result<RecorderFeed, String> {
        let quota = CameraQuota {
            max_bytes: spec.retain_bytes,
            max_age_ms: spec.retain_days.map(|d| (d * 86_400_000.0) as i64),
        };
        let events = spec.record == Some(RecordMode::Events);
        let (quota, rotate) = if events {
            // Unheld video is the pre-roll buffer: it goes after a minute.
            let buffer = CameraQuota {
                max_bytes: spec.retain_bytes,
                max_age_ms: Some(EVENT_BUFFER_MS),
            };
            (buffer, Some(EVENT_SEGMENT_MS))
        } else {
            (quota, None)
        };
        let feed = self
            .library
            .start(&spec.id, quota, rotate)
            .map_err(|e| format!("cannot start recording: {e}"))?;
        if events {
            let keep_ms = (spec.retain_days.unwrap_or(DEFAULT_EVENT_DAYS) * 86_400_000.0) as i64;
            lock(&self.clips.0).insert(spec.id.clone(), (feed.clone(), keep_ms));
        }
        tracing::info!(camera = %spec.id, retain_bytes = ?spec.retain_bytes, retain_days = ?spec.retain_days, "recording");
        Ok(feed)
    }

    fn stop(&self, camera: &str) {
        lock(&self.clips.0).remove(camera);
        if let Some(last) = self.library.stop(camera) {
            tracing::info!(camera = %camera, segments = last.segments, bytes = last.bytes, "recording stopped");
        }
    }
}

/// Seconds kept before an object appears and after it ends, in `events` mode (VST's defaults).
const PRE_ROLL_S: f64 = 10.0;
const POST_ROLL_S: f64 = 2.0;
/// `events` mode: segment length, and how long unheld video is kept.
const EVENT_SEGMENT_MS: i64 = 10_000;
const EVENT_BUFFER_MS: i64 = 60_000;
/// `events` mode: days an event's video is kept when the camera sets no `retain_days`.
const DEFAULT_EVENT_DAYS: f64 = 10.0;

/// The feeds of cameras recording in `events` mode, and how long their clips are kept.
#[derive(Debug, Default)]
pub(crate) struct EventClips(Mutex<BTreeMap<String, (RecorderFeed, i64)>>);

impl EventClips {
    /// Keeps `camera`'s video of an object seen from `start` to `now` (wall seconds) with its
    /// pre- and post-roll; a no-op unless the camera records events.
    pub(crate) fn hold(&self, camera: &str, start: f64, now: f64) {
        if let Some((feed, keep_ms)) = lock(&self.0).get(camera) {
            let ms = |t: f64| (t * 1000.0).round() as i64;
            feed.hold(
                ms(start - PRE_ROLL_S),
                ms(now + POST_ROLL_S),
                ms(now) + keep_ms,
            );
        }
    }
}

/// Opens the recordings' index (recovering it after a crash) when recording is configured.
pub(crate) fn recordings(cfg: &ServeConfig) -> anyhow::Result<Option<Arc<Library>>> {
    let Some(r) = &cfg.recording else {
        return Ok(None);
    };
    let (library, report) = Library::open(&r.dir, r.min_free_bytes)
        .with_context(|| format!("opening the recordings in {}", r.dir.display()))?;
    tracing::info!(dir = %r.dir.display(), recovery = ?report, "recordings open");
    Ok(Some(Arc::new(library)))
}
