//! The decode thread of a camera (`osprey-dec-<id>`): open the source (reconnecting with
//! backoff), decode every frame, pick frames at `detect_fps`, convert only those to RGB, and put
//! them in the one-frame slot for the detection thread. Never waits for detection: a newer
//! sampled frame replaces one not yet taken, and that is counted as a drop.

use std::time::{Duration, Instant};

use osprey_base::Clock;
use osprey_schema::CameraPhase;
use osprey_video::{ReaderOptions, RtspClient, SourceKind, VideoError};

use crate::camera::{Camera, Sampled};
use crate::sampler::{Backoff, Sampler};
use crate::source::{FrameSource, SourceOpener};

/// Wait before reopening a source that dropped after frames flowed.
const REOPEN_AFTER_DROP: Duration = Duration::from_millis(200);

/// Records (status, log) which client reads the camera; once RTSP fell back to FFmpeg's client,
/// reconnections use it directly.
fn note_client(cam: &Camera, src: &dyn FrameSource, opts: &mut ReaderOptions) -> &'static str {
    let client = src.client();
    let info = src.info();
    let fallback = src.fallback_reason();
    if fallback.is_some() {
        opts.rtsp_client = RtspClient::Ffmpeg;
    }
    tracing::info!(camera = %cam.spec.id, client, fallback = ?fallback, codec = %info.codec, width = info.width, height = info.height, fps = ?info.fps, "camera connected");
    let mut s = cam.lock_state();
    s.info = Some(info);
    s.client = Some((
        client,
        fallback.or_else(|| s.client.take().and_then(|c| c.1)),
    ));
    client
}

/// How one connection ended.
enum End {
    /// The camera was stopped.
    Stopped,
    /// The stream ended (a file without looping, or a server that closed).
    Eof,
    /// A read error.
    Failed(VideoError),
}

/// Per-connection bookkeeping of the source's own counters.
#[derive(Default)]
struct Seen {
    packets: u64,
    decode_errors: u64,
    decode_time: Duration,
    errors_reported: Option<Instant>,
}

/// Runs until the camera stops, a file ends, or the source can never work.
pub(crate) fn run(cam: &Camera, opener: &dyn SourceOpener, clock: &dyn Clock) {
    let is_file = cam.source.kind() == SourceKind::File;
    let mut opts = ReaderOptions {
        timeout: Duration::from_secs(5),
        realtime: cam.spec.realtime.unwrap_or(true),
        loop_file: cam.spec.loop_file.unwrap_or(true),
        decoder_threads: 1,
        rtsp_client: cam.spec.client().unwrap_or_default(),
    };
    let lossless = is_file && !opts.realtime;
    let mut sampler = Sampler::new(cam.spec.detect_fps);
    let mut backoff = Backoff::default();
    let mut frame_no = 0u64;
    let mut sampled = 0u64;
    let mut opened_before = false;
    while !cam.stopped() {
        let mut src = match opener.open(opts) {
            Ok(r) => r,
            Err(e) => {
                cam.record_error(&e, clock.unix());
                // A wrong URL, or a file that is not a video, will not fix itself.
                if !e.is_retryable() || (is_file && e.kind() == "no_video") {
                    cam.set_phase(CameraPhase::Failed);
                    return;
                }
                cam.set_phase(if opened_before {
                    CameraPhase::Reconnecting
                } else {
                    CameraPhase::Connecting
                });
                if !clock.sleep(backoff.next_wait(), &cam.stop) {
                    return;
                }
                continue;
            }
        };
        if opened_before {
            cam.counters.reconnects.inc();
            tracing::info!(camera = %cam.spec.id, "camera reconnected");
        }
        opened_before = true;
        sampler.reset();
        let mut client = note_client(cam, src.as_ref(), &mut opts);
        let mut seen = Seen::default();
        let mut connected = false;
        let end = loop {
            if cam.stopped() {
                break End::Stopped;
            }
            let frame = src.next_frame();
            account(cam, src.as_ref(), &mut seen, clock);
            let pts = match frame {
                Ok(Some(pts)) => pts,
                Ok(None) => break End::Eof,
                Err(e) => break End::Failed(e),
            };
            if !connected {
                connected = true;
                backoff.reset();
                cam.set_phase(CameraPhase::Connected);
            }
            if src.client() != client {
                client = note_client(cam, src.as_ref(), &mut opts);
            }
            // Decoder time only: network waits and file pacing are not decode work.
            let d = src.decode_time();
            cam.counters
                .decode_s
                .observe(d.saturating_sub(seen.decode_time).as_secs_f64());
            seen.decode_time = d;
            cam.counters.decoded.inc();
            frame_no += 1;
            if !sampler.take(pts) {
                continue;
            }
            let t = Instant::now();
            let img = match src.rgb() {
                Ok(i) => i,
                Err(e) => {
                    cam.record_error(&e, clock.unix());
                    continue;
                }
            };
            cam.counters.convert_s.observe(t.elapsed().as_secs_f64());
            sampled += 1;
            cam.counters.sampled.inc();
            let s = Sampled {
                seq: sampled,
                frame: frame_no - 1,
                pts,
                wall: clock.unix(),
                img,
            };
            // A file read faster than real time waits for detection instead of dropping:
            // every sampled frame is detected (counts on it match an offline run).
            let dropped = if lossless {
                !cam.slot.put_when_empty(s, &cam.stop)
            } else {
                cam.slot.put(s)
            };
            if dropped {
                cam.counters.dropped.inc();
            }
        };
        let wait = match end {
            End::Stopped => return,
            End::Failed(e) => {
                cam.record_error(&e, clock.unix());
                if connected {
                    REOPEN_AFTER_DROP
                } else {
                    backoff.next_wait()
                }
            }
            End::Eof if is_file => {
                tracing::info!(camera = %cam.spec.id, "file ended");
                cam.set_phase(CameraPhase::Ended);
                return;
            }
            End::Eof => {
                let e = VideoError::Read {
                    url: cam.source.redacted(),
                    reason: "the stream ended".into(),
                };
                cam.record_error(&e, clock.unix());
                REOPEN_AFTER_DROP
            }
        };
        cam.set_phase(CameraPhase::Reconnecting);
        if !clock.sleep(wait, &cam.stop) {
            return;
        }
    }
}

/// Counts packets and decode errors the source reports after each read.
fn account(cam: &Camera, src: &dyn FrameSource, seen: &mut Seen, clock: &dyn Clock) {
    let p = src.packets();
    cam.counters
        .frames_in
        .inc_by(p.saturating_sub(seen.packets));
    seen.packets = p;
    let (errors, last) = src.decode_errors();
    if errors > seen.decode_errors
        && seen
            .errors_reported
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(2))
    {
        seen.errors_reported = Some(Instant::now());
        let e = VideoError::Corrupt {
            url: cam.source.redacted(),
            reason: format!(
                "{errors} corrupt packets/frames so far; last: {}",
                last.as_deref().unwrap_or("?")
            ),
        };
        cam.record_error(&e, clock.unix());
        seen.decode_errors = errors;
    }
}

#[cfg(test)]
#[path = "ingest_tests.rs"]
mod tests;
