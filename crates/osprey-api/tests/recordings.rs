//! The recording routes over real HTTP, against a real index: the test clip
//! (`video/pedestrians.mp4`) recorded by `osprey-record`'s `Recorder` from `osprey-video`'s tap
//! (camera `door`, with an induced 10 s outage), a large synthetic recording (camera `yard`) to
//! show that a download in progress keeps its segments through retention, and an idle recorder
//! (camera `live`). One server (a real model, as the binary serves) is shared by the tests.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use osprey_api::{ApiConfig, AppState, HttpMetrics, Secret};
use osprey_pipeline::{Cameras, FrameSink, PipelineContext, SinkFactory};
use osprey_record::{
    AccessUnit, CameraQuota, Codec, FsSink, Library, Recorder, RecorderConfig, SegmentWriter,
    WriterConfig,
};
use osprey_schema::media::EncodedEvent;
use osprey_schema::FrameResult;
use osprey_testkit::server::{read_response, Response};

const KEY: &str = "sekrit";
/// The induced outage after this frame of the clip (a keyframe: one every 20 frames).
const OUTAGE_AT: i64 = 160;
const OUTAGE_MS: i64 = 10_000;
/// Frames of the synthetic `yard` recording, each this large: far more than socket buffers.
const YARD_FRAMES: i64 = 100;
const YARD_FRAME_BYTES: usize = 200_000;

struct Fixture {
    port: u16,
    lib: Arc<Library>,
    /// Wall-clock start of both recordings (a minute boundary 20 minutes ago).
    base: i64,
}

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

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The shared server, or `None` (skipped) without the test data or ONNX Runtime.
fn fixture() -> Option<&'static Fixture> {
    static F: OnceLock<Option<Fixture>> = OnceLock::new();
    F.get_or_init(|| {
        let (shared, ort) = osprey_testkit::require_model_env("osprey-api recordings")?;
        if !osprey_testkit::net::require_tool("osprey-api recordings", "ffprobe", "ffmpeg") {
            return None;
        }
        Some(start(&shared, &ort))
    })
    .as_ref()
}

fn start(shared: &Path, ort: &Path) -> Fixture {
    let root = std::env::temp_dir().join(format!("osprey-api-rec-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let (lib, _) = Library::open(&root, None).unwrap();
    let lib = Arc::new(lib);
    let base = (now_ms() - 20 * 60_000) / 60_000 * 60_000;
    record_clip(&lib, &shared.join("video/pedestrians.mp4"), base);
    record_yard(&lib, base);
    lib.start("live", CameraQuota::default(), None).unwrap();
    let state = app_state(shared, ort, Arc::clone(&lib));
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
    Fixture { port, lib, base }
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

/// The clip through the tap into a recorder of `door` (4 s segments), as a live camera at
/// `base`, with a 10 s outage (media and wall clock) after frame [`OUTAGE_AT`].
fn record_clip(lib: &Library, clip: &Path, base: i64) {
    let src = osprey_video::Source::parse(clip.to_str().unwrap()).unwrap();
    let mut reader = osprey_video::Reader::open(&src, Default::default()).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    reader
        .set_tap(move |ev| sink.lock().unwrap().push(ev))
        .unwrap();
    while reader.next_frame().unwrap().is_some() {}
    drop(reader);
    let events = std::mem::take(&mut *events.lock().unwrap());
    let mut cfg = RecorderConfig::new("door");
    cfg.rotate_interval_ms = 4000;
    cfg.rotate_offset_ms = 0;
    cfg.queue = 1024;
    let rec = Recorder::start(lib.index().clone(), cfg).unwrap();
    let feed = rec.feed();
    let mut frame = 0;
    for ev in events {
        let ev = match ev {
            EncodedEvent::Unit(mut u) => {
                let shift = if frame >= OUTAGE_AT { OUTAGE_MS } else { 0 };
                u.pts_90k += shift * 90;
                u.wall_unix_ms = base + u.pts_90k / 90;
                frame += 1;
                EncodedEvent::Unit(u)
            }
            other => other,
        };
        assert!(feed.send(ev));
    }
    let status = rec.stop();
    assert_eq!(status.frames, 300, "{status:?}");
}

/// x264's SPS and PPS for 480x360 Main@3.0.
const SPS: [u8; 28] = [
    0x67, 0x4d, 0x40, 0x1e, 0xd9, 0x81, 0xe0, 0xbf, 0xe5, 0xc0, 0x5a, 0x80, 0x80, 0x80, 0xa0, 0x00,
    0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x03, 0x02, 0x81, 0xe2, 0xc5, 0xcd,
];
const PPS: [u8; 6] = [0x68, 0xe9, 0x70, 0x23, 0x2c, 0x80];

/// [`YARD_FRAMES`] large synthetic frames (10 fps, a keyframe every 10) in 2 s segments.
fn record_yard(lib: &Library, base: i64) {
    let dir = lib.index().camera_dir("yard").unwrap();
    let mut cfg = WriterConfig::new(Codec::H264);
    cfg.rotate_interval_ms = 2000;
    let mut w = SegmentWriter::new(FsSink::new(dir), cfg);
    for i in 0..YARD_FRAMES {
        let mut data = Vec::new();
        if i % 10 == 0 {
            for nal in [&SPS[..], &PPS[..]] {
                data.extend_from_slice(&[0, 0, 0, 1]);
                data.extend_from_slice(nal);
            }
            data.extend_from_slice(&[0, 0, 0, 1, 0x65, 0x88]);
        } else {
            data.extend_from_slice(&[0, 0, 0, 1, 0x41, 0x9a]);
        }
        data.extend(std::iter::repeat_n(0x5a, YARD_FRAME_BYTES));
        w.push(AccessUnit {
            data: &data,
            pts_90k: i * 9000,
            wall_unix_ms: base + i * 100,
        })
        .unwrap();
    }
    w.close().unwrap();
    for info in w.take_closed() {
        lib.index().insert("yard", &info).unwrap();
    }
}

/// A request with the API key (unless `key` is false); the whole response.
fn request(f: &Fixture, method: &str, path: &str, headers: &[(&str, &str)], key: bool) -> Response {
    let mut s = TcpStream::connect(("127.0.0.1", f.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(raw(method, path, headers, key).as_bytes())
        .unwrap();
    read_response(&mut s).unwrap()
}

fn raw(method: &str, path: &str, headers: &[(&str, &str)], key: bool) -> String {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if key {
        req.push_str(&format!("X-API-Key: {KEY}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req
}

fn get(f: &Fixture, path: &str) -> Response {
    request(f, "GET", path, &[], true)
}

#[path = "recordings/cases.rs"]
mod cases;
