//! Recording on a live server: RTSP cameras from GStreamer's RTSP server (H.264 clips and an
//! H.265 transcode of video/pedestrians.mp4) recorded by `osprey serve --recordings DIR` with
//! `record = "continuous"`, one H.264 server stopped for 10 s mid-way. After the cameras are
//! removed and the server stopped, the index and the files are checked with ffprobe: every frame
//! the camera received is in the recordings, every segment starts on a keyframe, a recorded
//! frame decodes to exactly the source's pixels, and the outage is a gap in the timeline of the
//! time no video arrived (never stretched time).
//!
//! `OSPREY_RECORD_LOOPS` (default 2: 60 s) and `OSPREY_RECORD_H264` (default 1 camera) size the
//! run; the closing note's figures come from 10 loops (5 minutes) and 3 H.264 cameras.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use osprey_record::{RecordingIndex, SegmentRow};
use osprey_testkit::daemons;
use osprey_testkit::server::{Response, Server};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_osprey");

fn send(s: &Server, method: &str, path: &str, body: &str) -> Response {
    s.request(
        format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

fn env_num(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// An H.265 copy of the clip without B-frames (keyframe every 2 s).
fn hevc_copy(clip: &Path, dir: &Path) -> PathBuf {
    let out = dir.join("hevc.mp4");
    let st = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-i"])
        .arg(clip)
        .args(["-an", "-c:v", "libx265", "-preset", "ultrafast"])
        .args([
            "-x265-params",
            "bframes=0:keyint=20:log-level=error",
            "-tag:v",
            "hvc1",
        ])
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success(), "ffmpeg libx265");
    out
}

/// ffprobe's video packets of a file: (count, whether the first is a keyframe).
fn probe_packets(path: &Path) -> (u64, bool) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=flags",
        ])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let flags: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    (
        flags.len() as u64,
        flags.first().is_some_and(|f| f.starts_with('K')),
    )
}

/// The raw RGB pixels of frame `n` of `path`.
fn frame_pixels(path: &Path, n: u32) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-vf", &format!("select=eq(n\\,{n})"), "-frames:v", "1"])
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert!(!out.stdout.is_empty(), "no frame {n} in {}", path.display());
    out.stdout
}

struct Cam {
    id: String,
    clip: PathBuf,
    rtsp: daemons::Daemon,
}

#[test]
fn rtsp_cameras_are_recorded_frame_for_frame_with_outages_as_gaps() {
    let test = "recording RTSP cameras";
    let Some((shared, _)) = osprey_testkit::require_model_env(test) else {
        return;
    };
    if !daemons::require_rtsp_tools(test) {
        return;
    }
    let loops = env_num("OSPREY_RECORD_LOOPS", 2).max(1);
    let h264 = env_num("OSPREY_RECORD_H264", 1).max(1);
    let dir = std::env::temp_dir().join(format!("osprey-recording-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let clip = shared.join("video/pedestrians.mp4");
    let hevc = hevc_copy(&clip, &dir);
    let mut cams: Vec<Cam> = (0..h264)
        .map(|i| Cam {
            id: format!("h264-{i}"),
            clip: clip.clone(),
            rtsp: daemons::rtsp_server(&clip, 0, loops, None),
        })
        .collect();
    cams.push(Cam {
        id: "h265".into(),
        clip: hevc.clone(),
        rtsp: daemons::rtsp_server(&hevc, 0, loops, None),
    });
    let recordings = dir.join("recordings");
    let model = shared.join("models/yolo11n-320.onnx").display().to_string();
    let db = dir.join("events.sqlite").display().to_string();
    let rec = recordings.display().to_string();
    let s = Server::start(
        BIN,
        &["--model", &model, "--events-db", &db, "--recordings", &rec],
        &[],
    );
    for c in &cams {
        let spec = format!(
            r#"{{"id":"{}","url":"rtsp://127.0.0.1:{}/stream","detect_fps":1,"record":"continuous"}}"#,
            c.id, c.rtsp.port
        );
        let r = send(&s, "POST", "/api/cameras", &spec);
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    }
    let started = Instant::now();
    let clip_secs = 30 * u64::from(loops);
    // The outage: the first H.264 server stops for 10 s at a third of the run.
    std::thread::sleep(Duration::from_secs(clip_secs / 3));
    let port = cams[0].rtsp.port;
    cams[0].rtsp.kill();
    let killed = Instant::now();
    std::thread::sleep(Duration::from_secs(10));
    cams[0].rtsp = daemons::rtsp_server(&cams[0].clip, port, 1, None);
    eprintln!("outage: {:.1} s", killed.elapsed().as_secs_f64());
    // Let every stream play out (the restarted one plays one loop), then remove the cameras.
    let end = Duration::from_secs(clip_secs.max(clip_secs / 3 + 10 + 30) + 3);
    std::thread::sleep(end.saturating_sub(started.elapsed()));
    let mut received = Vec::new();
    for c in &cams {
        let last = send(&s, "DELETE", &format!("/api/cameras/{}", c.id), "").json();
        received.push(last["frames"]["decoded"].as_u64().unwrap());
        eprintln!("{}: {}", c.id, last["frames"]);
    }
    s.terminate();

    let (index, report) = RecordingIndex::open(&recordings).unwrap();
    eprintln!("recovery at reopen: {report:?}");
    for (c, got) in cams.iter().zip(&received) {
        let rows: Vec<SegmentRow> = index.segments(&c.id, i64::MIN, i64::MAX).unwrap();
        assert!(!rows.is_empty(), "{}: nothing recorded", c.id);
        let mut frames = 0u64;
        for r in &rows {
            let path = index.path(r);
            let (n, key) = probe_packets(&path);
            assert_eq!(
                n,
                u64::from(r.frames),
                "{}: index and file agree",
                path.display()
            );
            assert!(key, "{} starts on a keyframe", path.display());
            frames += n;
        }
        // Every frame that arrived was recorded (the stream's last, unfinished access unit at
        // a disconnect may not be a whole frame).
        let lost = got.abs_diff(frames);
        eprintln!(
            "{}: {} segments, {frames} frames recorded, {got} received, {} bytes",
            c.id,
            rows.len(),
            rows.iter().map(|r| r.bytes).sum::<u64>()
        );
        assert!(lost <= 1, "{}: {frames} recorded vs {got} received", c.id);
        // Pixels: the first segment starts with the session, at the file's first frame, so
        // its frame k is the source's frame k.
        let k = 50.min(rows[0].frames.saturating_sub(1));
        assert_eq!(
            frame_pixels(&index.path(&rows[0]), k),
            frame_pixels(&c.clip, k),
            "{}: frame {k} decodes to the source's pixels",
            c.id
        );
    }
    // The outage is a gap of the time no video arrived: 10 s plus the reconnect.
    let rows = index.segments(&cams[0].id, i64::MIN, i64::MAX).unwrap();
    let gaps: Vec<i64> = rows
        .windows(2)
        .map(|w| w[1].start_wall_ms - w[0].end_wall_ms)
        .filter(|g| *g > 150)
        .collect();
    eprintln!("{} gaps: {gaps:?} ms", cams[0].id);
    assert!(
        gaps.iter().any(|g| (10_000..16_000).contains(g)),
        "a 10 s outage (+ reconnect): {gaps:?}"
    );
    drop(index);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mjpeg_is_not_recordable_and_recording_needs_a_folder() {
    let test = "recording refusals";
    let Some((shared, _)) = osprey_testkit::require_model_env(test) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("osprey-rec-refuse-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let model = shared.join("models/yolo11n-320.onnx").display().to_string();
    let db = dir.join("events.sqlite").display().to_string();
    let mjpeg = shared.join("video/pedestrians.mjpeg").display().to_string();
    let spec = format!(r#"{{"id":"m","url":"{mjpeg}","record":"continuous"}}"#);
    // No recordings folder: the camera is refused with a sentence.
    let s = Server::start(BIN, &["--model", &model, "--events-db", &db], &[]);
    let r = send(&s, "POST", "/api/cameras", &spec);
    assert_eq!(r.status, 400);
    let v: Value = r.json();
    assert!(v.to_string().contains("recording is not configured"), "{v}");
    s.terminate();
    // With a folder: the MJPEG camera runs (detection works), its recorder says why it
    // cannot record, and nothing is written.
    let rec = dir.join("rec").display().to_string();
    let s = Server::start(
        BIN,
        &["--model", &model, "--events-db", &db, "--recordings", &rec],
        &[],
    );
    assert_eq!(send(&s, "POST", "/api/cameras", &spec).status, 201);
    let t = Instant::now();
    loop {
        let st = send(&s, "GET", "/api/cameras/m", "").json();
        if st["frames"]["detected"].as_u64() > Some(5) {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "{st}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        s.log_text().contains("not recordable"),
        "the log says why: {}",
        s.log_text()
    );
    s.terminate();
    let (index, _) = RecordingIndex::open(dir.join("rec")).unwrap();
    assert!(index.all_segments().unwrap().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn events_mode_keeps_the_video_around_objects() {
    let test = "recording events mode";
    let Some((shared, _)) = osprey_testkit::require_model_env(test) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("osprey-rec-events-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let model = shared.join("models/yolo11n-320.onnx").display().to_string();
    let db = dir.join("events.sqlite").display().to_string();
    let rec = dir.join("rec").display().to_string();
    let clip = shared.join("video/pedestrians.mp4").display().to_string();
    let s = Server::start(
        BIN,
        &["--model", &model, "--events-db", &db, "--recordings", &rec],
        &[],
    );
    // The same clip twice: people tracked on one camera, nothing (no giraffes) on the other.
    for (id, label) in [("people", "person"), ("empty", "giraffe")] {
        let spec = format!(
            r#"{{"id":"{id}","url":"{clip}","realtime":true,"labels":["{label}"],"detect_fps":2,"record":"events","retain_days":2}}"#
        );
        let r = send(&s, "POST", "/api/cameras", &spec);
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    }
    std::thread::sleep(Duration::from_secs(24));
    for id in ["people", "empty"] {
        assert_eq!(
            send(&s, "DELETE", &format!("/api/cameras/{id}"), "").status,
            200
        );
    }
    // An object event's clip: a redirect to the recording around it, which plays.
    let events = send(&s, "GET", "/api/events?camera=people&limit=1", "").json();
    let id = events["events"][0]["id"]
        .as_str()
        .expect("an event")
        .to_string();
    let r = send(&s, "GET", &format!("/api/events/{id}/clip.mp4"), "");
    assert_eq!(r.status, 307);
    let location = r.header("location").expect("Location").to_string();
    assert!(
        location.starts_with("/api/recordings/people/view.mp4?start="),
        "{location}"
    );
    let clip = send(&s, "GET", &location, "");
    assert_eq!(clip.status, 200, "{}", String::from_utf8_lossy(&clip.body));
    assert_eq!(clip.header("content-type"), Some("video/mp4"));
    assert_eq!(&clip.body[4..8], b"ftyp", "an MP4");
    assert_eq!(send(&s, "GET", "/api/events/nope/clip.mp4", "").status, 404);
    s.terminate();
    let (index, _) = RecordingIndex::open(dir.join("rec")).unwrap();
    let held = |camera: &str| -> Vec<Option<i64>> {
        index
            .segments(camera, i64::MIN, i64::MAX)
            .unwrap()
            .iter()
            .map(|r| r.protected_until)
            .collect()
    };
    let (people, empty) = (held("people"), held("empty"));
    eprintln!("events mode: people {people:?}, empty {empty:?}");
    // ~10 s segments; objects are in view all along, so every segment is held for ~2 days.
    assert!(people.len() >= 2, "{people:?}");
    let now_ms = (osprey_base::unix_now() * 1000.0) as i64;
    for p in &people {
        let days = (p.expect("held") - now_ms) as f64 / 86_400_000.0;
        assert!((1.9..2.1).contains(&days), "{days}");
    }
    // Without objects nothing is held: it ages out after a minute.
    assert!(
        !empty.is_empty() && empty.iter().all(Option::is_none),
        "{empty:?}"
    );
    drop(index);
    let _ = std::fs::remove_dir_all(&dir);
}
