//! Retention under pressure, over real HTTP against the real recording index.
//!
//! A high-bitrate H.264 clip (ffmpeg, libx264, noise: ~185 MB in 48 s of 10 fps video, a
//! keyframe every second) goes through `osprey-video`'s access-unit tap into two recorders
//! started by one [`Library`] (cameras `gate` and `dock`, each with a 50 MB byte quota and 1 s
//! segments), so each camera receives more than three times its quota. While they record, a
//! poller measures what is really on disk in each camera's directory (file sizes, sampled as
//! often as the machine allows) and follows the index. The test shows:
//!
//! - **Bounded disk use**: per camera, the unprotected bytes on disk (the download's segments
//!   aside, see below) never exceed the quota plus one segment (plus the few hundred bytes of
//!   the next segment's header, created just before the retention pass runs).
//! - **Oldest first**: segments vanish from disk in wall-clock order, and what is left is the
//!   newest recording without a hole, within the quota; deletion stops as soon as the camera
//!   is within its quota.
//! - **Protected clips kept**: two early `gate` segments protected over HTTP (`POST …/protect`
//!   for ever, `POST …/export` for a day) survive, and their bytes do not count against the
//!   quota.
//! - **A download survives its segments ageing out**: a `view.mp4` of four early `gate`
//!   segments is requested over HTTP and read slowly (held back at half its length) while the
//!   recording goes on; retention deletes older *and newer* segments around it but defers the
//!   pinned ones; the download completes with its full `Content-Length`, byte-identical to the
//!   planned view, and ffprobe decodes every frame of those segments. After the download, the
//!   next retention pass (at the next segment boundary) deletes them.
//!
//! The figures are printed (run with `--nocapture`).
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use osprey_api::{ApiConfig, AppState, HttpMetrics, Secret};
use osprey_pipeline::{Cameras, FrameSink, PipelineContext, SinkFactory};
use osprey_record::{CameraQuota, Library, RecorderFeed, RecorderStatus, SegmentRow};
use osprey_schema::media::{EncodedEvent, EncodedUnit};
use osprey_schema::FrameResult;
use osprey_testkit::server::{read_head_response, read_response, Response};

const KEY: &str = "sekrit";
/// Each camera's byte quota: 50 MB.
const QUOTA: u64 = 50_000_000;
/// Frames of the clip: 48 s at 10 fps, a keyframe every 10 frames.
const FRAMES: usize = 480;
const FPS: usize = 10;
/// Segment length asked of the library (segments end at the first keyframe after a boundary).
const ROTATE_MS: i64 = 1000;
/// The recording camera with the protected clips and the download.
const GATE: &str = "gate";
/// A second camera sharing the index, recording the same stream at the same time.
const DOCK: &str = "dock";
/// Phase A feeds `gate` frames `0..=A_END` (the keyframe at `A_END` closes segment 7).
const A_END: usize = 80;
/// Phase B feeds up to and including this keyframe (it closes the segment ending at 46 s).
const B_END: usize = 460;
/// Phase C's first part: up to this keyframe (the next segment boundary after the download).
const C_KEY: usize = 470;
/// Most units queued ahead of a recorder (its queue holds 256; a full queue drops units).
const AHEAD: u64 = 64;

#[derive(Debug)]
struct NoSinks;

struct NoSink;

impl FrameSink for NoSink {
    fn frame(&mut self, _: &FrameResult) {}
    fn finish(&mut self, _: &FrameResult) {}
}

impl SinkFactory for NoSinks {
    fn sink(&self, _: &str) -> Box<dyn FrameSink> {
        Box::new(NoSink)
    }
}

/// Removes the test's directory however the test ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Waits for `ok` (a guard against hanging, not a timing assertion).
fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(t.elapsed() < Duration::from_secs(120), "waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The high-bitrate clip: testsrc2 under heavy temporal noise, libx264 (ultrafast: CAVLC, no
/// B-frames), constant QP, a keyframe every [`FPS`] frames.
fn encode_clip(path: &Path) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=640x480:rate=10"])
        .args(["-frames:v", &FRAMES.to_string()])
        .args(["-vf", "noise=alls=100:allf=t", "-pix_fmt", "yuv420p"])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-qp", "18"])
        .args([
            "-bf",
            "0",
            "-g",
            "10",
            "-keyint_min",
            "10",
            "-sc_threshold",
            "0",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The clip through `osprey-video`'s tap (decoding every frame, as a camera's reader does):
/// the stream announcement and the access units.
fn tap(clip: &Path) -> (EncodedEvent, Vec<EncodedUnit>) {
    let src = osprey_video::Source::parse(clip.to_str().unwrap()).unwrap();
    let opts = osprey_video::ReaderOptions {
        decoder_threads: 0,
        ..Default::default()
    };
    let mut reader = osprey_video::Reader::open(&src, opts).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    reader
        .set_tap(move |ev| sink.lock().unwrap().push(ev))
        .unwrap();
    let mut decoded = 0;
    while reader.next_frame().unwrap().is_some() {
        decoded += 1;
    }
    drop(reader);
    assert_eq!(decoded, FRAMES);
    let mut events = std::mem::take(&mut *events.lock().unwrap()).into_iter();
    let stream = events.next().unwrap();
    assert!(matches!(stream, EncodedEvent::Stream(_)), "{stream:?}");
    let units: Vec<EncodedUnit> = events
        .map(|e| match e {
            EncodedEvent::Unit(u) => u,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(units.len(), FRAMES);
    for (i, u) in units.iter().enumerate() {
        assert_eq!(u.keyframe, i % FPS == 0, "unit {i}");
    }
    (stream, units)
}

/// A recorder's feed, kept from running ahead of the recorder (a full queue drops units).
struct Feeder {
    lib: Arc<Library>,
    camera: &'static str,
    feed: RecorderFeed,
    sent: u64,
}

impl Feeder {
    /// Unit `i` of the clip, stamped as a live camera at `base` would (wall = base + pts).
    fn unit(&mut self, units: &[EncodedUnit], i: usize, base: i64) {
        let mut u = units[i].clone();
        u.pts_90k -= units[0].pts_90k;
        u.wall_unix_ms = base + u.pts_90k / 90;
        wait_until("room in the recorder's queue", || {
            self.sent - self.lib.status(self.camera).unwrap().units_received < AHEAD
        });
        assert!(self.feed.send(EncodedEvent::Unit(u)), "unit {i} dropped");
        self.sent += 1;
    }

    fn units(&mut self, units: &[EncodedUnit], range: impl IntoIterator<Item = usize>, base: i64) {
        for i in range {
            self.unit(units, i, base);
        }
    }
}

/// What the poller saw of one camera.
#[derive(Debug, Default)]
struct CamSeen {
    /// Largest sum of file sizes in the camera's directory.
    max_raw: u64,
    /// Largest sum leaving out the excluded files (protected, and the download's).
    max_counted: u64,
    /// Most files at once.
    max_files: usize,
    /// Samples whose counted bytes were over the quota.
    over_quota: u64,
    /// Per file, the last sample whose directory listing had it.
    last_listed: HashMap<String, u64>,
    /// Every row the index held, by file name (the latest version of it).
    rows: HashMap<String, SegmentRow>,
}

struct CamWatch {
    camera: &'static str,
    dir: PathBuf,
    /// Files not counted against the quota bound.
    excluded: Mutex<HashSet<String>>,
    seen: Mutex<CamSeen>,
}

/// Samples the cameras' directories and the index until `stop`.
struct Poller {
    cams: Vec<Arc<CamWatch>>,
    stop: Arc<AtomicBool>,
    samples: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Poller {
    fn start(lib: Arc<Library>, cams: Vec<Arc<CamWatch>>) -> Poller {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(AtomicU64::new(0));
        let (s, n, c) = (Arc::clone(&stop), Arc::clone(&samples), cams.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let k = n.fetch_add(1, Ordering::Relaxed) + 1;
                for cam in &c {
                    sample(&lib, cam, k, k % 16 == 0);
                }
                // As often as it can: the peak lasts from a segment's write to the end of
                // the retention pass after it (milliseconds).
                std::thread::yield_now();
            }
        });
        Poller {
            cams,
            stop,
            samples,
            thread: Some(thread),
        }
    }

    /// Stops, takes one last sample; returns its number.
    fn finish(&mut self, lib: &Library) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        let k = self.samples.fetch_add(1, Ordering::Relaxed) + 1;
        for cam in &self.cams {
            sample(lib, cam, k, true);
        }
        k
    }
}

/// One sample of a camera: its directory listing, the size of each file (newest first, so the
/// sum never exceeds what was on disk at one instant: closed files do not change, and the only
/// growing file is read first), and (with `rows`) the index rows.
fn sample(lib: &Library, cam: &CamWatch, k: u64, rows: bool) {
    let mut names: Vec<(i64, String)> = std::fs::read_dir(&cam.dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let start = name.strip_suffix(".mp4")?.parse().ok()?;
            Some((start, name))
        })
        .collect();
    names.sort_unstable_by(|a, b| b.cmp(a));
    let excluded = cam.excluded.lock().unwrap().clone();
    let (mut raw, mut counted) = (0u64, 0u64);
    let mut seen = cam.seen.lock().unwrap();
    for (_, name) in &names {
        seen.last_listed.insert(name.clone(), k);
        let Ok(m) = std::fs::metadata(cam.dir.join(name)) else {
            continue; // deleted since the listing
        };
        raw += m.len();
        if !excluded.contains(name) {
            counted += m.len();
        }
    }
    seen.max_raw = seen.max_raw.max(raw);
    seen.max_counted = seen.max_counted.max(counted);
    seen.max_files = seen.max_files.max(names.len());
    if counted > QUOTA {
        seen.over_quota += 1;
    }
    if rows {
        for r in lib
            .index()
            .segments(cam.camera, i64::MIN, i64::MAX)
            .unwrap()
        {
            seen.rows.insert(r.name.clone(), r);
        }
    }
}

fn app_state(shared: &Path, ort: &Path, lib: Arc<Library>) -> Arc<AppState> {
    let metrics = HttpMetrics::new().unwrap();
    let cfg = osprey_infer::InferConfig {
        model: Some(shared.join("models/yolo11n-320.onnx")),
        models_dir: None,
        imgsz: None,
        half: false,
        engine: Default::default(),
        precision: Default::default(),
        provider: Default::default(),
        fallback_to_cpu: false,
        trt_cache: None,
        threads: 1,
        spinning: Some(false),
        streams: 1,
        pinning: None,
        ort_library: Some(ort.to_path_buf()),
        openvino_library: None,
        labels: None,
        warmup_image: None,
        queue_capacity: 4,
        max_batch: 1,
        batch_wait_ms: 0,
        camera_max_batch: 1,
    };
    let models = osprey_infer::Models::load(&cfg, metrics.registry()).unwrap();
    let cameras = Cameras::new(PipelineContext {
        models: models.clone(),
        metrics: osprey_pipeline::CameraMetrics::register(metrics.registry()).unwrap(),
        sinks: Arc::new(NoSinks),
        clock: Arc::new(osprey_base::RealClock::default()),
        taps: None,
    });
    Arc::new(AppState {
        models,
        config: ApiConfig {
            listen: Vec::new(),
            api_key: Some(Secret(KEY.into())),
            min_confidence: 0.4,
            max_detections: None,
            max_body_bytes: 1 << 20,
            max_image_bytes: 1 << 20,
            max_pixels: 1 << 24,
            log_responses: false,
            request_timeout_ms: 10_000,
            header_timeout_ms: 10_000,
            body_timeout_ms: 10_000,
            max_connections: 64,
        },
        started: Instant::now(),
        counters: Default::default(),
        decoders: osprey_api::decode_pool::DecodePool::new(1).unwrap(),
        metrics,
        influx: None,
        hostname: "test".into(),
        cameras,
        events: None,
        rules: Arc::new(osprey_analytics::RuleBook::new(Default::default(), None)),
        analytics: None,
        recordings: Some(lib),
        live: Default::default(),
        security: osprey_api::Security::disabled(Some(Secret(KEY.into()))),
    })
}

/// Serves `state` on a loopback port; returns the port.
fn serve(state: Arc<AppState>) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            let never = std::future::pending::<()>();
            osprey_api::serve(vec![l], state, never, Duration::from_secs(1), || {}).await;
        });
    });
    port
}

fn raw(method: &str, path: &str) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-API-Key: {KEY}\r\n\r\n"
    )
}

fn request(port: u16, method: &str, path: &str) -> Response {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(raw(method, path).as_bytes()).unwrap();
    let r = read_response(&mut s).unwrap();
    assert!(
        r.status < 300,
        "{method} {path}: {} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    r
}

fn view_path(camera: &str, start: i64, end: i64) -> String {
    format!("/api/recordings/{camera}/view.mp4?start={start}&end={end}")
}

/// A `view.mp4` download by a slow client: it reads small pieces with pauses, never more than
/// `hold_at` bytes until `go` says so, then the rest (still in chunks with pauses).
fn slow_download(
    port: u16,
    path: String,
    hold_at: u64,
    read: Arc<AtomicU64>,
    go: mpsc::Receiver<()>,
) -> std::thread::JoinHandle<(Response, Vec<u8>)> {
    std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        s.write_all(raw("GET", &path).as_bytes()).unwrap();
        let head = read_head_response(&mut s).unwrap();
        assert_eq!(head.status, 200, "{head:?}");
        let len: u64 = head.header("content-length").unwrap().parse().unwrap();
        let mut body = Vec::with_capacity(len as usize);
        let mut released = false;
        let mut buf = vec![0u8; 64 * 1024];
        while (body.len() as u64) < len {
            released = released || go.try_recv().is_ok();
            let want = if released { 64 * 1024 } else { 4 * 1024 };
            let want = want.min((len - body.len() as u64) as usize);
            if !released && body.len() as u64 + want as u64 > hold_at {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            let n = s.read(&mut buf[..want]).unwrap();
            assert!(
                n > 0,
                "the server closed the download at {} bytes",
                body.len()
            );
            body.extend_from_slice(&buf[..n]);
            read.store(body.len() as u64, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(if released { 1 } else { 20 }));
        }
        // Nothing after the body: the server closes the connection.
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        assert!(rest.is_empty(), "{} bytes past Content-Length", rest.len());
        (head, body)
    })
}

/// Frames ffprobe decodes from `path`.
fn probe_frames(path: &Path) -> u64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// Size of a segment file's init segment (`ftyp` + `moov`): what a new segment file holds when
/// the retention pass for the segment before it runs.
fn init_len(path: &Path) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    let size = |at: usize| u64::from(u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()));
    let ftyp = size(0);
    assert_eq!(&bytes[4..8], b"ftyp");
    assert_eq!(&bytes[ftyp as usize + 4..ftyp as usize + 8], b"moov");
    ftyp + size(ftyp as usize)
}

fn mb(b: u64) -> String {
    format!("{:.2} MB", b as f64 / 1e6)
}

/// The retention checks common to both cameras, on the final index rows; returns
/// `(kept unprotected bytes, largest segment, deleted count)`.
fn check_camera(
    cam: &CamWatch,
    lib: &Library,
    status: &RecorderStatus,
    last_sample: u64,
    deferred: &HashSet<String>,
) -> (u64, u64, usize) {
    let seen = cam.seen.lock().unwrap();
    let now = now_ms();
    let kept = lib
        .index()
        .segments(cam.camera, i64::MIN, i64::MAX)
        .unwrap();
    let name = cam.camera;
    assert_eq!(status.units_dropped, 0, "{name}: {status:?}");
    assert_eq!(status.frames, FRAMES as u64, "{name}: {status:?}");
    assert!(
        status.bytes >= 3 * QUOTA,
        "{name} received {} only",
        mb(status.bytes)
    );
    // The poller saw every segment the recorder wrote in the index.
    assert_eq!(seen.rows.len() as u64, status.segments, "{name}");
    let largest = seen.rows.values().map(|r| r.bytes).max().unwrap();
    // Index and disk agree at the end.
    let mut on_disk: Vec<String> = seen
        .last_listed
        .iter()
        .filter(|(_, k)| **k == last_sample)
        .map(|(n, _)| n.clone())
        .collect();
    on_disk.sort();
    let mut indexed: Vec<String> = kept.iter().map(|r| r.name.clone()).collect();
    indexed.sort();
    assert_eq!(on_disk, indexed, "{name}: files and index rows");
    for r in &kept {
        assert_eq!(
            std::fs::metadata(lib.index().path(r)).unwrap().len(),
            r.bytes,
            "{name}: {}",
            r.name
        );
    }

    let protected = |r: &SegmentRow| r.protected_until.is_some_and(|u| u > now);
    let kept_names: HashSet<&str> = kept.iter().map(|r| r.name.as_str()).collect();
    let ordinary: Vec<&SegmentRow> = kept.iter().filter(|r| !protected(r)).collect();
    let mut deleted: Vec<&SegmentRow> = seen
        .rows
        .values()
        .filter(|r| !kept_names.contains(r.name.as_str()))
        .collect();
    deleted.sort_by_key(|r| r.start_wall_ms);
    assert!(deleted.iter().all(|r| !protected(r)), "{name}");
    // What is left is the newest recording, without a hole, within the quota.
    let kept_bytes: u64 = ordinary.iter().map(|r| r.bytes).sum();
    assert!(kept_bytes <= QUOTA, "{name}: {} kept", mb(kept_bytes));
    let last = seen.rows.values().map(|r| r.end_wall_ms).max().unwrap();
    assert_eq!(ordinary.last().unwrap().end_wall_ms, last, "{name}");
    for w in ordinary.windows(2) {
        assert_eq!(w[0].end_wall_ms, w[1].start_wall_ms, "{name}: a hole");
    }
    let first_kept = ordinary[0].start_wall_ms;
    assert!(
        deleted.iter().all(|r| r.end_wall_ms <= first_kept),
        "{name}: a deleted segment is newer than a kept one"
    );
    // Nothing was deleted that the quota did not require: with the newest deleted segment
    // back, the camera would be over its quota.
    let newest_deleted = deleted.last().unwrap();
    assert!(
        kept_bytes + newest_deleted.bytes > QUOTA,
        "{name}: deleted more than needed"
    );
    // Oldest first in time, too: files vanished from disk in wall-clock order (the pinned ones
    // were deferred).
    let mut order: Vec<(i64, u64)> = deleted
        .iter()
        .filter(|r| !deferred.contains(&r.name))
        .map(|r| (r.start_wall_ms, seen.last_listed[&r.name]))
        .collect();
    order.sort_unstable();
    for w in order.windows(2) {
        assert!(
            w[0].1 <= w[1].1,
            "{name}: the segment at {} outlived the newer one at {}",
            w[0].0,
            w[1].0
        );
    }
    (kept_bytes, largest, deleted.len())
}

#[test]
fn retention_under_pressure_keeps_the_quota_protected_clips_and_a_download() {
    let test = "retention_under_pressure";
    let Some((shared, ort)) = osprey_testkit::require_model_env(test) else {
        return;
    };
    if !osprey_testkit::net::require_tool(test, "ffmpeg", "ffmpeg")
        || !osprey_testkit::net::require_tool(test, "ffprobe", "ffmpeg")
    {
        return;
    }
    let t0 = Instant::now();
    let root = std::env::temp_dir().join(format!("osprey-api-pressure-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let _cleanup = TempDir(root.clone());
    let clip = root.join("clip.mp4");
    encode_clip(&clip);
    let clip_bytes = std::fs::metadata(&clip).unwrap().len();
    let (stream, units) = tap(&clip);
    let unit_bytes: u64 = units.iter().map(|u| u.data.len() as u64).sum();
    eprintln!(
        "clip: {FRAMES} frames, file {}, access units {} (encoded and tapped in {:.1} s)",
        mb(clip_bytes),
        mb(unit_bytes),
        t0.elapsed().as_secs_f64()
    );

    let (lib, _) = Library::open(&root.join("rec"), None).unwrap();
    let lib = Arc::new(lib);
    let port = serve(app_state(&shared, &ort, Arc::clone(&lib)));
    let quota = CameraQuota {
        max_bytes: Some(QUOTA),
        max_age_ms: None,
    };
    // Wall clock: a minute boundary 20 minutes ago, plus the media time.
    let base = (now_ms() - 20 * 60_000) / 60_000 * 60_000;
    let mut gate = Feeder {
        lib: Arc::clone(&lib),
        camera: GATE,
        feed: lib.start(GATE, quota, Some(ROTATE_MS)).unwrap(),
        sent: 0,
    };
    let mut dock = Feeder {
        lib: Arc::clone(&lib),
        camera: DOCK,
        feed: lib.start(DOCK, quota, Some(ROTATE_MS)).unwrap(),
        sent: 0,
    };
    let watch = |camera| {
        Arc::new(CamWatch {
            camera,
            dir: lib.index().camera_dir(camera).unwrap(),
            excluded: Mutex::new(HashSet::new()),
            seen: Mutex::new(CamSeen::default()),
        })
    };
    let (gate_w, dock_w) = (watch(GATE), watch(DOCK));
    let mut poller = Poller::start(
        Arc::clone(&lib),
        vec![Arc::clone(&gate_w), Arc::clone(&dock_w)],
    );

    // Phase A: the first 8 s of `gate` (8 segments, well within the quota).
    assert!(gate.feed.send(stream.clone()));
    gate.units(&units, 0..=A_END, base);
    wait_until("phase A indexed", || {
        lib.index().usage(GATE).unwrap().segments == 8
    });
    let early = lib.index().segments(GATE, i64::MIN, i64::MAX).unwrap();
    assert_eq!(early.len(), 8);
    assert!(early.iter().all(|r| r.frames == FPS as u32), "{early:?}");
    assert_eq!(early[0].start_wall_ms, base);
    assert_eq!(lib.status(GATE).unwrap().deleted_segments, 0);

    // Protect segment 1 for ever and export segment 2 (protected for a day), over HTTP.
    let (p, e) = (&early[1], &early[2]);
    let body = request(
        port,
        "POST",
        &format!(
            "/api/recordings/{GATE}/protect?start={}&end={}",
            p.start_wall_ms, p.end_wall_ms
        ),
    )
    .json();
    assert_eq!(body["segments"], 1, "{body}");
    assert!(body["until"].is_null(), "{body}");
    let until = now_ms() + 86_400_000;
    let body = request(
        port,
        "POST",
        &format!(
            "/api/recordings/{GATE}/export?start={}&end={}&until={until}",
            e.start_wall_ms, e.end_wall_ms
        ),
    )
    .json();
    assert_eq!(body["segments"], 1, "{body}");
    assert_eq!(
        body["url"],
        view_path(GATE, e.start_wall_ms, e.end_wall_ms),
        "{body}"
    );
    let protected_names: HashSet<String> = [p.name.clone(), e.name.clone()].into();
    let protected_bytes = p.bytes + e.bytes;
    gate_w
        .excluded
        .lock()
        .unwrap()
        .extend(protected_names.iter().cloned());

    // A download of segments 3..=6, read slowly and held at half its length.
    let dl = &early[3..7];
    let (a, b) = (dl[0].start_wall_ms, dl[3].end_wall_ms);
    let dl_names: HashSet<String> = dl.iter().map(|r| r.name.clone()).collect();
    let dl_ids: Vec<i64> = dl.iter().map(|r| r.id).collect();
    let dl_frames: u64 = dl.iter().map(|r| u64::from(r.frames)).sum();
    let dl_segment_bytes: u64 = dl.iter().map(|r| r.bytes).sum();
    assert_eq!(
        lib.index()
            .segments(GATE, a, b)
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect::<Vec<_>>(),
        dl_ids
    );
    let expected = lib
        .index()
        .view(GATE, a, b)
        .unwrap()
        .plan
        .to_bytes()
        .unwrap();
    gate_w
        .excluded
        .lock()
        .unwrap()
        .extend(dl_names.iter().cloned());
    let read = Arc::new(AtomicU64::new(0));
    let (go, gate_rx) = mpsc::channel();
    let hold_at = expected.len() as u64 / 2;
    let download = slow_download(
        port,
        view_path(GATE, a, b),
        hold_at,
        Arc::clone(&read),
        gate_rx,
    );
    wait_until("the download's first bytes", || {
        read.load(Ordering::Relaxed) > 0
    });
    assert!(dl_ids.iter().all(|id| lib.index().pins().is_pinned(*id)));
    let status = request(port, "GET", "/api/recordings").json();
    assert_eq!(
        status["pinned_segments"],
        dl_ids.len(),
        "{}",
        status["pinned_segments"]
    );

    // Phase B: `gate` goes on to 46 s while `dock` records the whole clip alongside.
    let dock_units = units.clone();
    let dock_stream = stream.clone();
    let dock_thread = std::thread::spawn(move || {
        assert!(dock.feed.send(dock_stream));
        dock.units(&dock_units, 0..FRAMES, base);
        dock
    });
    gate.units(&units, A_END + 1..=B_END, base);
    let dock = dock_thread.join().unwrap();
    let dock_status = lib.stop(DOCK).unwrap();
    assert_eq!(dock.sent, FRAMES as u64);
    let b_end_ms = base + (B_END as i64) * 100;
    // The last segment indexed and its retention pass done (the recorder is then idle: it
    // runs retention only after a segment).
    wait_until("phase B's last retention pass", || {
        let rows = lib.index().segments(GATE, i64::MIN, i64::MAX).unwrap();
        let counted: u64 = rows
            .iter()
            .filter(|r| !protected_names.contains(&r.name) && !dl_names.contains(&r.name))
            .map(|r| r.bytes)
            .sum();
        rows.last().is_some_and(|r| r.end_wall_ms == b_end_ms) && counted <= QUOTA
    });
    // Retention has deleted segments older and newer than the download's; those stay on disk.
    let mid = lib.index().segments(GATE, i64::MIN, i64::MAX).unwrap();
    let mid_names: HashSet<&str> = mid.iter().map(|r| r.name.as_str()).collect();
    assert!(!mid_names.contains(early[0].name.as_str()), "oldest kept");
    assert!(!mid_names.contains(early[7].name.as_str()), "newer kept");
    for r in dl {
        assert!(
            mid_names.contains(r.name.as_str()),
            "pinned {} deleted",
            r.name
        );
        assert!(lib.index().path(r).is_file());
        assert!(lib.index().pins().is_pinned(r.id));
    }
    let read_while_pressed = read.load(Ordering::Relaxed);
    assert!(read_while_pressed <= hold_at);
    let gate_mid = lib.status(GATE).unwrap();
    eprintln!(
        "during the download: {} of {} read; gate wrote {} in {} segments, {} deleted \
         (older and newer ones); the 4 pinned segments ({}) stay",
        mb(read_while_pressed),
        mb(expected.len() as u64),
        mb(gate_mid.bytes),
        gate_mid.segments,
        gate_mid.segments - mid.len() as u64,
        mb(dl_segment_bytes)
    );

    // The client reads the rest: the download completes, whole and byte-identical.
    go.send(()).unwrap();
    let (head, body) = download.join().unwrap();
    assert_eq!(
        head.header("content-length").unwrap(),
        expected.len().to_string()
    );
    assert_eq!(body.len(), expected.len());
    assert!(body == expected, "the download is intact");
    let dl_file = root.join("download.mp4");
    std::fs::write(&dl_file, &body).unwrap();
    let dl_decoded = probe_frames(&dl_file);
    assert_eq!(dl_decoded, dl_frames);
    wait_until("the download's pins released", || {
        dl_ids.iter().all(|id| !lib.index().pins().is_pinned(*id))
    });
    // No retention pass since: the segments are still there.
    assert!(dl.iter().all(|r| lib.index().path(r).is_file()));

    // Phase C: the next segment boundary runs retention, which deletes them; then the rest.
    gate.units(&units, B_END + 1..=C_KEY, base);
    wait_until("the download's segments deleted", || {
        dl.iter()
            .all(|r| lib.index().segment(r.id).unwrap().is_none())
    });
    assert!(dl.iter().all(|r| !lib.index().path(r).exists()));
    assert_eq!(
        lib.status(GATE).unwrap().last_segment_end_unix_ms,
        Some(base + C_KEY as i64 * 100),
        "deleted by the first pass after the download"
    );
    gate.units(&units, C_KEY + 1..FRAMES, base);
    let gate_status = lib.stop(GATE).unwrap();
    let last_sample = poller.finish(&lib);

    // Protected clips kept, whole, and not counted against the quota.
    for r in [p, e] {
        let row = lib.index().segment(r.id).unwrap().unwrap();
        assert!(row.protected_until.is_some_and(|u| u > now_ms()));
        assert_eq!(probe_frames(&lib.index().path(&row)), u64::from(row.frames));
    }
    let no_defer = HashSet::new();
    let (gate_kept, gate_largest, gate_deleted) =
        check_camera(&gate_w, &lib, &gate_status, last_sample, &dl_names);
    let (dock_kept, dock_largest, dock_deleted) =
        check_camera(&dock_w, &lib, &dock_status, last_sample, &no_defer);
    assert!(
        gate_kept + protected_bytes > QUOTA,
        "the protected bytes were counted against the quota"
    );

    // Disk use: per camera, never above the quota plus one segment (and the next one's header).
    let header = init_len(&lib.index().path(p));
    let gate_seen = gate_w.seen.lock().unwrap();
    let dock_seen = dock_w.seen.lock().unwrap();
    assert!(
        gate_seen.max_counted <= QUOTA + gate_largest + header,
        "gate: {} on disk, over {} + {} + {header}",
        mb(gate_seen.max_counted),
        mb(QUOTA),
        mb(gate_largest)
    );
    assert!(
        gate_seen.max_raw <= QUOTA + gate_largest + header + protected_bytes + dl_segment_bytes
    );
    assert!(
        dock_seen.max_counted <= QUOTA + dock_largest + header,
        "dock: {} on disk, over {} + {} + {header}",
        mb(dock_seen.max_counted),
        mb(QUOTA),
        mb(dock_largest)
    );
    assert_eq!(dock_seen.max_raw, dock_seen.max_counted);

    // The storage report agrees with the index.
    let storage = request(port, "GET", "/api/storage").json();
    for cam in [GATE, DOCK] {
        let s = storage["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["sensorId"] == cam)
            .unwrap_or_else(|| panic!("{cam} in {storage}"));
        assert_eq!(s["sizeBytes"], lib.index().usage(cam).unwrap().bytes);
        assert_eq!(s["quotaBytes"], QUOTA);
    }

    let strict = |v: u64, largest: u64| if v <= QUOTA + largest { "yes" } else { "NO" };
    for (name, st, seen, kept, largest, deleted) in [
        (
            GATE,
            &gate_status,
            &gate_seen,
            gate_kept,
            gate_largest,
            gate_deleted,
        ),
        (
            DOCK,
            &dock_status,
            &dock_seen,
            dock_kept,
            dock_largest,
            dock_deleted,
        ),
    ] {
        let usage = lib.index().usage(name).unwrap();
        // Each recorder counts the deletions of its own camera only (passes are shared).
        assert_eq!(
            lib.index().deleted(name).0,
            deleted as u64,
            "{name}: the deletions counted for the camera are not its own"
        );
        eprintln!(
            "{name}: quota {}, written {} ({:.2}x) in {} segments; largest segment {}; \
             max on disk {} counted (strictly <= quota + largest: {}), {} in all, {} files at most, \
             {} samples of {} over the quota; deleted {deleted}, kept {} ({} segments, {} unprotected)",
            mb(QUOTA),
            mb(st.bytes),
            st.bytes as f64 / QUOTA as f64,
            st.segments,
            mb(largest),
            mb(seen.max_counted),
            strict(seen.max_counted, largest),
            mb(seen.max_raw),
            seen.max_files,
            seen.over_quota,
            last_sample,
            mb(usage.bytes),
            usage.segments,
            mb(kept),
        );
    }
    eprintln!(
        "gate: protected 2 segments ({}, kept); next segment header {header} bytes; download \
         {} bytes (Content-Length {}), {dl_decoded} frames decoded of {dl_frames} in 4 segments; \
         {} poller samples; {:.1} s in all",
        mb(protected_bytes),
        body.len(),
        head.header("content-length").unwrap(),
        last_sample,
        t0.elapsed().as_secs_f64()
    );
}
