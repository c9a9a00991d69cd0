//! The ingest loop with a fake source and a simulated clock: no FFmpeg, no sockets, no real
//! time. Each test scripts what the "camera" does and checks what the loop decided.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use osprey_base::{lock, Clock, Shutdown, SimClock};
use osprey_image::RgbImage;
use osprey_schema::CameraPhase;
use osprey_video::{ReaderOptions, Source, StreamInfo, VideoError};

use super::run;
use crate::camera::Camera;
use crate::metrics::CameraMetrics;
use crate::source::{FrameSource, SourceOpener};
use crate::spec::CameraSpec;

/// One step of a scripted stream.
#[derive(Clone)]
enum Step {
    Frame(f64),
    Fail(&'static str),
    End,
}

struct FakeSource {
    steps: VecDeque<Step>,
    packets: u64,
    corrupt: u64,
}

impl FrameSource for FakeSource {
    fn next_frame(&mut self) -> Result<Option<f64>, VideoError> {
        self.packets += 1;
        match self.steps.pop_front().unwrap_or(Step::End) {
            Step::Frame(pts) => Ok(Some(pts)),
            Step::Fail("corrupt") => {
                // A corrupt packet: counted by the decoder, then the next frame decodes.
                self.corrupt += 1;
                self.next_frame()
            }
            Step::Fail(reason) => Err(VideoError::Read {
                url: "fake".into(),
                reason: reason.into(),
            }),
            Step::End => Ok(None),
        }
    }
    fn rgb(&mut self) -> Result<RgbImage, VideoError> {
        Ok(RgbImage::filled(8, 6, [1, 2, 3]))
    }
    fn packets(&self) -> u64 {
        self.packets
    }
    fn decode_time(&self) -> Duration {
        Duration::from_millis(self.packets)
    }
    fn decode_errors(&self) -> (u64, Option<String>) {
        (self.corrupt, Some("bad slice".into()))
    }
    fn client(&self) -> &'static str {
        "fake"
    }
    fn fallback_reason(&self) -> Option<String> {
        None
    }
    fn info(&self) -> StreamInfo {
        StreamInfo {
            codec: "h264".into(),
            width: 8,
            height: 6,
            fps: Some(10.0),
        }
    }
}

/// Hands out scripted connections; once they run out, says the URL is bad (which stops the
/// loop for good).
struct FakeOpener {
    opens: Mutex<VecDeque<Result<Vec<Step>, VideoError>>>,
    attempts: Mutex<u32>,
}

impl FakeOpener {
    fn new(opens: Vec<Result<Vec<Step>, VideoError>>) -> FakeOpener {
        FakeOpener {
            opens: Mutex::new(opens.into()),
            attempts: Mutex::new(0),
        }
    }
}

impl SourceOpener for FakeOpener {
    fn open(&self, _: ReaderOptions) -> Result<Box<dyn FrameSource>, VideoError> {
        *lock(&self.attempts) += 1;
        match lock(&self.opens).pop_front() {
            Some(Ok(steps)) => Ok(Box::new(FakeSource {
                steps: steps.into(),
                packets: 0,
                corrupt: 0,
            })),
            Some(Err(e)) => Err(e),
            None => Err(VideoError::BadUrl {
                url: "fake".into(),
                reason: "script ended".into(),
            }),
        }
    }
}

/// A simulated clock that remembers every wait.
#[derive(Debug)]
struct Recorder {
    clock: SimClock,
    waits: Mutex<Vec<Duration>>,
}

impl Clock for Recorder {
    fn monotonic(&self) -> Duration {
        self.clock.monotonic()
    }
    fn unix(&self) -> f64 {
        self.clock.unix()
    }
    fn sleep(&self, d: Duration, stop: &Shutdown) -> bool {
        lock(&self.waits).push(d);
        self.clock.sleep(d, stop)
    }
}

fn camera(url: &str, detect_fps: Option<f64>) -> Camera {
    camera_with(CameraSpec {
        id: "cam".into(),
        url: url.into(),
        detect_fps,
        ..CameraSpec::default()
    })
}

fn camera_with(spec: CameraSpec) -> Camera {
    let url = spec.url.clone();
    let source = Source::parse(&url).expect("url");
    Camera::new(spec, source, "model".into(), &CameraMetrics::unregistered())
}

fn frames(n: usize, fps: f64) -> Vec<Step> {
    (0..n).map(|i| Step::Frame(i as f64 / fps)).collect()
}

fn open_error() -> VideoError {
    VideoError::Open {
        url: "fake".into(),
        reason: "connection refused".into(),
    }
}

fn run_script(cam: &Camera, opens: Vec<Result<Vec<Step>, VideoError>>) -> (Vec<u64>, u32) {
    let opener = FakeOpener::new(opens);
    let clock = Recorder {
        clock: SimClock::new(1_000.0),
        waits: Mutex::new(Vec::new()),
    };
    run(cam, &opener, &clock);
    let waits = lock(&clock.waits)
        .iter()
        .map(|d| d.as_millis() as u64)
        .collect();
    let attempts = *lock(&opener.attempts);
    (waits, attempts)
}

#[test]
fn samples_at_detect_fps_and_counts_replaced_frames_as_drops() {
    let cam = camera("rtsp://cam.invalid/s", Some(5.0));
    // 20 frames at 10 fps, then the server closes the stream; the reconnect fails for good.
    let (waits, attempts) = run_script(
        &cam,
        vec![Ok(frames(20, 10.0)).map(|mut f| {
            f.push(Step::End);
            f
        })],
    );
    let c = &cam.counters;
    assert_eq!(c.decoded.get(), 20);
    assert_eq!(c.sampled.get(), 10, "every other frame at 5 of 10 fps");
    // Nobody takes frames here: each sampled frame but the last replaced its predecessor.
    assert_eq!(c.dropped.get(), 9);
    let left = cam
        .slot
        .take(Duration::ZERO)
        .expect("the newest frame waits");
    assert_eq!((left.seq, left.frame), (10, 18));
    assert_eq!(left.wall, 1_000.0, "wall time from the injected clock");
    assert_eq!(c.frames_in.get(), 21, "packets read, including the end");
    // The end of a live stream is an error and a quick reopen; then the bad URL stops it.
    assert_eq!(waits, [200]);
    assert_eq!(attempts, 2);
    let st = cam.status();
    assert_eq!(st.state, CameraPhase::Failed);
    assert_eq!(st.last_error.expect("error").kind, "bad_url");
}

#[test]
fn reconnects_with_backoff_that_resets_once_frames_flow() {
    let cam = camera("rtsp://cam.invalid/s", None);
    let mut first = frames(3, 10.0);
    first.push(Step::Fail("connection reset"));
    let mut second = frames(2, 10.0);
    second.push(Step::End);
    let (waits, attempts) = run_script(
        &cam,
        vec![
            Err(open_error()),
            Err(open_error()),
            Err(open_error()),
            Err(open_error()),
            Err(open_error()),
            Ok(first),
            Err(open_error()),
            Ok(second),
        ],
    );
    // 0.5, 1, 2, 4, 4 s while it never connected; 0.2 s after a dropped connection; the
    // backoff starts again at 0.5 s after frames flowed; 0.2 s after the second stream ended.
    assert_eq!(waits, [500, 1000, 2000, 4000, 4000, 200, 500, 200]);
    assert_eq!(attempts, 9);
    let st = cam.status();
    assert_eq!(
        st.reconnects, 1,
        "the second successful open is a reconnect"
    );
    assert_eq!(st.outages, 2);
    assert_eq!(st.frames.decoded, 5);
    assert_eq!(st.frames.sampled, 5);
}

#[test]
fn a_file_that_ends_stops_without_retrying() {
    let cam = camera("/videos/clip.mp4", None);
    let mut f = frames(4, 25.0);
    f.push(Step::End);
    let (waits, attempts) = run_script(&cam, vec![Ok(f)]);
    assert!(waits.is_empty());
    assert_eq!(attempts, 1);
    assert_eq!(cam.status().state, CameraPhase::Ended);
    assert_eq!(cam.counters.decoded.get(), 4);
}

#[test]
fn a_bad_url_or_a_file_that_is_no_video_is_not_retried() {
    let cam = camera("rtsp://cam.invalid/s", None);
    let (waits, _) = run_script(
        &cam,
        vec![Err(VideoError::BadUrl {
            url: "x".into(),
            reason: "nope".into(),
        })],
    );
    assert!(waits.is_empty());
    assert_eq!(cam.status().state, CameraPhase::Failed);
    let cam = camera("/videos/notes.txt", None);
    let (waits, attempts) = run_script(
        &cam,
        vec![Err(VideoError::NoVideo {
            url: "x".into(),
            reason: "no video stream".into(),
        })],
    );
    assert!(waits.is_empty());
    assert_eq!(attempts, 1);
    assert_eq!(cam.status().state, CameraPhase::Failed);
}

#[test]
fn corrupt_packets_are_counted_and_reported() {
    let cam = camera("/videos/clip.mp4", None);
    let (_, _) = run_script(
        &cam,
        vec![Ok(vec![
            Step::Frame(0.0),
            Step::Fail("corrupt"),
            Step::Frame(0.1),
            Step::End,
        ])],
    );
    assert_eq!(cam.counters.decoded.get(), 2);
    let corrupt = cam
        .metrics
        .errors
        .with_label_values(&["cam", "corrupt"])
        .get();
    assert_eq!(corrupt, 1);
    let st = cam.status();
    assert!(st.last_error.is_none_or(|e| e.kind == "corrupt"));
}

#[test]
fn a_stopped_camera_does_not_wait_out_its_backoff() {
    let cam = Arc::new(camera("rtsp://cam.invalid/s", None));
    cam.stop.trigger();
    let (waits, attempts) = run_script(&cam, vec![Err(open_error())]);
    assert!(waits.is_empty(), "stopped before the first open");
    assert_eq!(attempts, 0);
}

#[test]
fn a_file_read_faster_than_real_time_waits_for_detection_instead_of_dropping() {
    let cam = Arc::new(camera_with(CameraSpec {
        id: "cam".into(),
        url: "/videos/clip.mp4".into(),
        realtime: Some(false),
        ..CameraSpec::default()
    }));
    // A slow detection thread: takes a frame every 2 ms.
    let taker = {
        let cam = Arc::clone(&cam);
        std::thread::spawn(move || {
            let mut seqs = Vec::new();
            while let Some(s) = cam.slot.take(Duration::from_millis(500)) {
                seqs.push(s.frame);
                std::thread::sleep(Duration::from_millis(2));
            }
            seqs
        })
    };
    let mut f = frames(40, 10.0);
    f.push(Step::End);
    run_script(&cam, vec![Ok(f)]);
    let seqs = taker.join().expect("taker");
    assert_eq!(seqs, (0..40).collect::<Vec<u64>>(), "every frame, in order");
    assert_eq!(cam.counters.dropped.get(), 0);
}
