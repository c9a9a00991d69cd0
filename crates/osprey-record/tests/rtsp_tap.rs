//! The access-unit tap on live RTSP (the test RTSP server, tools/rtsp-server.py): retina for
//! H.264 and H.265, FFmpeg's RTSP client for H.264; each recorded into a segment that has every
//! tapped frame and starts on a keyframe.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{tmp, BASE_WALL_MS};
use osprey_record::{AccessUnit, Codec, FsSink, ParameterSets, SegmentWriter, WriterConfig};
use osprey_schema::media::{EncodedEvent, VideoCodec};
use osprey_testkit::daemons;
use osprey_video::{Reader, ReaderOptions, RtspClient, Source};

fn setup(test: &str) -> Option<PathBuf> {
    let shared = osprey_testkit::require_shared(test)?;
    if !daemons::require_rtsp_tools(test) {
        return None;
    }
    Some(shared.join("video/pedestrians.mp4"))
}

fn ffprobe(path: &Path, args: &[&str]) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Reads `frames` frames of `file` served over RTSP with `client` through the tap, writes
/// the tapped units into one segment and checks it with ffprobe.
fn record_over_rtsp(file: &Path, client: RtspClient, frames: u64, codec: VideoCodec) {
    let server = daemons::rtsp_server(file, 0, 1, None);
    let src = Source::parse(&format!("rtsp://127.0.0.1:{}/stream", server.port)).unwrap();
    let opts = ReaderOptions {
        timeout: Duration::from_secs(5),
        rtsp_client: client,
        ..ReaderOptions::default()
    };
    let mut reader = Reader::open(&src, opts).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    reader
        .set_tap(move |ev| sink.lock().unwrap().push(ev))
        .unwrap();
    for _ in 0..frames {
        reader.next_frame().unwrap().unwrap();
    }
    let client_name = reader.client();
    drop(reader);
    let events = std::mem::take(&mut *events.lock().unwrap());
    let EncodedEvent::Stream(stream) = &events[0] else {
        panic!("{:?}", events[0]);
    };
    assert_eq!(stream.codec, codec);
    let units: Vec<_> = events[1..]
        .iter()
        .map(|e| match e {
            EncodedEvent::Unit(u) => u.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(units.len() as u64 >= frames, "{} units", units.len());
    assert!(
        units[0].keyframe,
        "{client_name}: the stream starts on a keyframe"
    );
    assert!(
        units
            .windows(2)
            .all(|w| w[1].pts_90k - w[0].pts_90k == 9000),
        "10 fps, 90 kHz"
    );
    assert!(units
        .windows(2)
        .all(|w| w[1].wall_unix_ms >= w[0].wall_unix_ms));
    let codec = Codec::from(codec);
    let dir = tmp(&format!("rtsp-{client_name}-{codec:?}"));
    let mut w = SegmentWriter::new(FsSink::new(&dir), WriterConfig::new(codec));
    w.set_parameter_sets(ParameterSets::from_annexb(codec, &stream.parameter_sets));
    for u in &units {
        w.push(AccessUnit {
            data: &u.data,
            pts_90k: u.pts_90k,
            wall_unix_ms: BASE_WALL_MS + u.pts_90k / 90,
        })
        .unwrap();
    }
    w.close().unwrap();
    let segs = w.take_closed();
    assert_eq!(segs.len(), 1, "{segs:?}");
    assert_eq!(segs[0].frames as usize, units.len());
    let path = dir.join(&segs[0].name);
    let n = ffprobe(
        &path,
        &[
            "-count_frames",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
        ],
    );
    assert_eq!(
        n.trim().parse::<usize>().unwrap(),
        units.len(),
        "{client_name}"
    );
    let key = ffprobe(
        &path,
        &[
            "-show_entries",
            "frame=key_frame",
            "-read_intervals",
            "%+#1",
            "-of",
            "csv=p=0",
        ],
    );
    assert!(key.trim().starts_with('1'), "{client_name}");
    eprintln!("{client_name} {codec:?}: {} frames recorded", units.len());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rtsp_tap_records_h264_from_retina_and_ffmpeg() {
    let Some(clip) = setup("rtsp_tap_records_h264_from_retina_and_ffmpeg") else {
        return;
    };
    record_over_rtsp(&clip, RtspClient::Retina, 40, VideoCodec::H264);
    record_over_rtsp(&clip, RtspClient::Ffmpeg, 40, VideoCodec::H264);
}

#[test]
fn rtsp_tap_records_h265_from_retina() {
    let Some(clip) = setup("rtsp_tap_records_h265_from_retina") else {
        return;
    };
    let dir = tmp("hevc-src");
    let hevc = dir.join("hevc.mp4");
    let st = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-i"])
        .arg(&clip)
        .args([
            "-frames:v",
            "40",
            "-an",
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
        ])
        .args([
            "-x265-params",
            "bframes=0:keyint=20:log-level=error",
            "-tag:v",
            "hvc1",
        ])
        .arg(&hevc)
        .status()
        .unwrap();
    assert!(st.success());
    record_over_rtsp(&hevc, RtspClient::Retina, 30, VideoCodec::H265);
    let _ = std::fs::remove_dir_all(&dir);
}
