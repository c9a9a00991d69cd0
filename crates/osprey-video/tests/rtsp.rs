//! RTSP clients against a real RTSP server (GStreamer, tools/rtsp-server.py) on loopback:
//! retina for H.264 and H.265, FFmpeg's client for streams with B-frames, credentials, errors.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use osprey_testkit::daemons::{self, Daemon};
use osprey_video::{Reader, ReaderOptions, RtspClient, Source};

fn setup(test: &str) -> Option<PathBuf> {
    let shared = osprey_testkit::require_shared(test)?;
    if !daemons::require_rtsp_tools(test) {
        return None;
    }
    Some(shared.join("video/pedestrians.mp4"))
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("osprey-rtsp-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// The first `frames` frames of `clip` re-encoded with ffmpeg (`args`: the encoder settings).
fn encode(clip: &Path, out: &Path, frames: u32, args: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-i"])
        .arg(clip)
        .args(["-frames:v", &frames.to_string(), "-an"])
        .args(args)
        .arg(out)
        .status()
        .expect("run ffmpeg");
    assert!(status.success(), "ffmpeg failed encoding {}", out.display());
}

fn url(server: &Daemon, creds: &str) -> Source {
    Source::parse(&format!("rtsp://{creds}127.0.0.1:{}/stream", server.port)).expect("url")
}

fn opts(client: RtspClient) -> ReaderOptions {
    ReaderOptions {
        timeout: Duration::from_secs(5),
        rtsp_client: client,
        ..ReaderOptions::default()
    }
}

/// Reads `n` frames; checks numbering and strictly increasing times; returns the RGB bytes of
/// frame `keep` and the times.
fn read(r: &mut Reader, n: u64, keep: u64) -> (Vec<u8>, Vec<f64>) {
    let mut kept = Vec::new();
    let mut times = Vec::new();
    for i in 0..n {
        let f = r
            .next_frame()
            .unwrap_or_else(|e| panic!("frame {i}: {e}"))
            .unwrap_or_else(|| panic!("stream ended at frame {i}"));
        assert_eq!(f.index, i);
        if let Some(&last) = times.last() {
            assert!(f.pts > last, "frame {i} at {} after {last}", f.pts);
        }
        times.push(f.pts);
        if i == keep {
            kept = r.rgb().expect("rgb").into_raw();
        }
    }
    (kept, times)
}

/// The same frame decoded straight from the file.
fn file_frame(clip: &Path, index: u64) -> Vec<u8> {
    let src = Source::parse(clip.to_str().expect("utf-8")).expect("file");
    let mut r = Reader::open(&src, ReaderOptions::default()).expect("open file");
    let mut got = Vec::new();
    while let Some(f) = r.next_frame().expect("file frame") {
        if f.index == index {
            got = r.rgb().expect("rgb").into_raw();
            break;
        }
    }
    got
}

#[test]
fn retina_plays_h264_and_decodes_the_same_pixels_as_the_file() {
    let Some(clip) = setup("retina_plays_h264") else {
        return;
    };
    let server = daemons::rtsp_server(&clip, 0, 1, None);
    let mut r = Reader::open(&url(&server, ""), opts(RtspClient::Auto)).expect("open");
    assert_eq!(r.client(), "retina");
    assert_eq!(r.fallback_reason(), None);
    assert_eq!(r.info().codec, "h264");
    assert_eq!((r.info().width, r.info().height), (480, 360));
    let (pixels, times) = read(&mut r, 120, 60);
    // 90 kHz RTP clock, 10 fps: frame i at i/10 s.
    for (i, t) in times.iter().enumerate() {
        assert!((t - i as f64 / 10.0).abs() < 1e-3, "frame {i} at {t}");
    }
    assert_eq!(r.decode_errors().0, 0, "{:?}", r.decode_errors());
    let reference = file_frame(&clip, 60);
    assert_eq!(pixels.len(), reference.len());
    assert!(
        pixels == reference,
        "frame 60 over retina differs from the file's"
    );

    // The same stream through FFmpeg's client, when asked for, gives the same pixels.
    let mut f = Reader::open(&url(&server, ""), opts(RtspClient::Ffmpeg)).expect("open ffmpeg");
    assert_eq!(f.client(), "ffmpeg-rtsp-tcp");
    let (pixels, _) = read(&mut f, 61, 60);
    assert!(pixels == reference, "frame 60 over FFmpeg's client differs");
}

#[test]
fn b_frame_streams_fall_back_to_ffmpegs_client() {
    let Some(clip) = setup("b_frame_streams_fall_back") else {
        return;
    };
    let dir = temp_dir("bframes");
    let bframes = dir.join("bframes.mp4");
    encode(
        &clip,
        &bframes,
        150,
        &[
            "-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-g", "30",
        ],
    );
    let server = daemons::rtsp_server(&bframes, 0, 1, None);
    let mut r = Reader::open(&url(&server, ""), opts(RtspClient::Auto)).expect("open");
    // Retina starts; the first reordered timestamp switches the reader to FFmpeg's client, with
    // frame numbers and times still increasing across the switch.
    let (_, times) = read(&mut r, 60, 0);
    assert_eq!(r.client(), "ffmpeg-rtsp-tcp");
    let why = r.fallback_reason().expect("a fallback reason");
    assert!(why.contains("B-frames"), "{why}");
    assert!(times.windows(2).all(|w| w[1] > w[0]));
    // FFmpeg's client reorders correctly: from the switch on, frames are 0.1 s apart.
    let tail = &times[times.len() - 30..];
    for w in tail.windows(2) {
        assert!((w[1] - w[0] - 0.1).abs() < 1e-3, "{tail:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn retina_plays_hevc() {
    let Some(clip) = setup("retina_plays_hevc") else {
        return;
    };
    let dir = temp_dir("hevc");
    let hevc = dir.join("hevc.mp4");
    encode(
        &clip,
        &hevc,
        40,
        &[
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "bframes=0:log-level=error",
            "-tag:v",
            "hvc1",
        ],
    );
    let server = daemons::rtsp_server(&hevc, 0, 1, None);
    let mut r = Reader::open(&url(&server, ""), opts(RtspClient::Auto)).expect("open");
    assert_eq!(r.client(), "retina");
    assert_eq!(r.info().codec, "hevc");
    let (pixels, _) = read(&mut r, 30, 20);
    assert!(pixels == file_frame(&hevc, 20), "frame 20 differs");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn retina_reports_auth_failures_and_missing_streams() {
    let Some(clip) = setup("retina_reports_auth_failures") else {
        return;
    };
    let server = daemons::rtsp_server(&clip, 0, 1, Some("admin:s3cr@t:x"));
    for creds in ["", "admin:wrong@"] {
        let e = Reader::open(&url(&server, creds), opts(RtspClient::Auto)).expect_err(creds);
        assert_eq!(e.kind(), "auth", "{creds:?}: {e}");
        assert!(!e.to_string().contains("wrong"), "password shown: {e}");
    }
    // Percent-encoded credentials are decoded before they are sent.
    let mut r = Reader::open(&url(&server, "admin:s3cr%40t%3Ax@"), opts(RtspClient::Auto))
        .expect("right credentials");
    assert_eq!(r.client(), "retina");
    read(&mut r, 5, 0);

    let missing = Source::parse(&format!("rtsp://127.0.0.1:{}/nope", server.port)).expect("url");
    let e = Reader::open(&missing, opts(RtspClient::Auto)).expect_err("missing path");
    assert_eq!(e.kind(), "open", "{e}");
    // A stream that stops sending times out as a read error.
    let stalled = daemons::rtsp_server(&clip, 0, 1, None);
    let mut r = Reader::open(&url(&stalled, ""), opts(RtspClient::Auto)).expect("open");
    read(&mut r, 3, 0);
    stalled.signal("STOP");
    let mut frames = 0;
    let e = loop {
        match r.next_frame() {
            Ok(Some(_)) => frames += 1,
            Ok(None) => panic!("ended instead of timing out"),
            Err(e) => break e,
        }
        assert!(frames < 300, "never timed out");
    };
    stalled.signal("CONT");
    assert_eq!(e.kind(), "read", "{e}");
    assert!(e.to_string().contains("timed out"), "{e}");
}
