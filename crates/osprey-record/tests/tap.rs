//! The access-unit tap of `osprey-video` into the segment writer and the recorder, with the
//! real clip: same frame count as the source, segments start on keyframes, retention by bytes
//! keeps protected segments and deletes the oldest first.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{assert_agree, tmp, BASE_WALL_MS};
use osprey_record::{
    AccessUnit, CameraQuota, Codec, FsSink, ParameterSets, Quotas, Recorder, RecorderConfig,
    RecorderPhase, RecordingIndex, SegmentWriter, WriterConfig,
};
use osprey_schema::media::{EncodedEvent, VideoCodec};
use osprey_video::{Reader, ReaderOptions, Source};

fn clip(test: &str, name: &str) -> Option<PathBuf> {
    let shared = osprey_testkit::require_shared(test)?;
    if !osprey_testkit::net::require_tool(test, "ffprobe", "ffmpeg") {
        return None;
    }
    Some(shared.join("video").join(name))
}

/// Reads the whole file through the tap (decoding every frame as a camera would); returns
/// the tap's events and the number of frames decoded.
fn tap_events(path: &Path) -> (Vec<EncodedEvent>, u64) {
    let src = Source::parse(path.to_str().unwrap()).unwrap();
    let mut reader = Reader::open(&src, ReaderOptions::default()).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    reader
        .set_tap(move |ev| sink.lock().unwrap().push(ev))
        .unwrap();
    let mut frames = 0;
    while reader.next_frame().unwrap().is_some() {
        frames += 1;
    }
    drop(reader);
    let events = std::mem::take(&mut *events.lock().unwrap());
    (events, frames)
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

/// `(frames counted by decoding, first frame is a keyframe)`.
fn probe_segment(path: &Path) -> (u64, bool) {
    let n = ffprobe(
        path,
        &[
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
        ],
    );
    let key = ffprobe(
        path,
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=key_frame",
            "-read_intervals",
            "%+#1",
            "-of",
            "csv=p=0",
        ],
    );
    (n.trim().parse().unwrap(), key.trim().starts_with('1'))
}

#[test]
fn tap_of_the_clip_writes_a_segment_with_every_frame() {
    let Some(path) = clip(
        "tap_of_the_clip_writes_a_segment_with_every_frame",
        "pedestrians.mp4",
    ) else {
        return;
    };
    let (events, decoded) = tap_events(&path);
    assert_eq!(decoded, 300, "decoding goes on with the tap installed");
    let EncodedEvent::Stream(stream) = &events[0] else {
        panic!("first event {:?}", events[0]);
    };
    assert_eq!(stream.codec, VideoCodec::H264);
    assert_eq!((stream.width, stream.height), (480, 360));
    // The avcC's SPS and PPS, as Annex B.
    let ps = ParameterSets::from_annexb(Codec::H264, &stream.parameter_sets);
    assert!(ps.is_complete(Codec::H264), "{stream:?}");
    let units: Vec<_> = events[1..]
        .iter()
        .map(|e| match e {
            EncodedEvent::Unit(u) => u,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(units.len(), 300);
    assert!(units[0].keyframe && units[20].keyframe && !units[1].keyframe);
    assert_eq!(units.iter().filter(|u| u.keyframe).count(), 15);
    for (i, u) in units.iter().enumerate() {
        assert_eq!(u.pts_90k, i as i64 * 9000);
        assert!(u.data.starts_with(&[0, 0, 0, 1]), "Annex B");
    }
    let dir = tmp("tap");
    let mut w = SegmentWriter::new(FsSink::new(&dir), WriterConfig::new(Codec::H264));
    w.set_parameter_sets(ps);
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
    assert_eq!(segs.len(), 1);
    assert_eq!(segs[0].frames, 300);
    let (frames, key) = probe_segment(&dir.join(&segs[0].name));
    assert_eq!(frames, 300);
    assert!(key);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mjpeg_is_not_recordable() {
    let Some(path) = clip("mjpeg_is_not_recordable", "pedestrians.mjpeg") else {
        return;
    };
    let src = Source::parse(&format!("ffmpeg:{}", path.display())).unwrap();
    let mut reader = Reader::open(&src, ReaderOptions::default()).unwrap();
    let e = reader.set_tap(|_| {}).unwrap_err();
    assert!(e.reason.contains("mjpeg"), "{e}");
    assert!(!reader.has_tap());
}

/// Feeds `units` (tap events) to a recorder, simulating a live camera's wall clock.
fn feed_all(rec: &Recorder, events: &[EncodedEvent]) {
    let feed = rec.feed();
    for ev in events {
        let ev = match ev {
            EncodedEvent::Unit(u) => {
                let mut u = u.clone();
                u.wall_unix_ms = BASE_WALL_MS + u.pts_90k / 90;
                EncodedEvent::Unit(u)
            }
            other => other.clone(),
        };
        assert!(feed.send(ev), "queue large enough for the test");
    }
}

fn wait_for(rec: &Recorder, what: &str, ok: impl Fn(&osprey_record::RecorderStatus) -> bool) {
    let t = Instant::now();
    while !ok(&rec.status()) {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "waiting for {what}: {:?}",
            rec.status()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn recorder_keeps_protected_and_deletes_oldest_over_quota() {
    let Some(path) = clip(
        "recorder_keeps_protected_and_deletes_oldest_over_quota",
        "pedestrians.mp4",
    ) else {
        return;
    };
    let (events, _) = tap_events(&path);
    let root = tmp("recorder-quota");
    let (index, _) = RecordingIndex::open(&root).unwrap();
    let mut cfg = RecorderConfig::new("door");
    cfg.rotate_interval_ms = 4000;
    cfg.rotate_offset_ms = 0;
    cfg.queue = 1024;
    let rec = Recorder::start(index.clone(), cfg.clone()).unwrap();
    // The first 8 s: segments [0, 4 s) and [4, 6 s)... cut at keyframes (every 2 s).
    feed_all(&rec, &events[..=80]);
    wait_for(&rec, "the first segment", |s| s.segments >= 1);
    let first = index.segments("door", i64::MIN, i64::MAX).unwrap()[0].clone();
    assert_eq!(first.start_wall_ms, BASE_WALL_MS);
    index
        .protect(
            "door",
            first.start_wall_ms,
            first.start_wall_ms + 1,
            Some(i64::MAX),
        )
        .unwrap();
    // Now a quota of about two segments; the rest of the clip arrives.
    drop(rec);
    let sizes = std::fs::metadata(&path).unwrap().len();
    let quota = sizes * 8 / 30; // ~8 s of this clip
    cfg.quotas = Quotas {
        default_camera: CameraQuota {
            max_bytes: Some(quota),
            max_age_ms: None,
        },
        ..Quotas::default()
    };
    let rec = Recorder::start(index.clone(), cfg).unwrap();
    feed_all(&rec, &events[..1]); // the stream announcement
    feed_all(&rec, &events[81..]);
    let status = rec.stop();
    eprintln!("{status:?}");
    assert_eq!(status.phase, RecorderPhase::Off);
    assert!(status.deleted_segments >= 2, "{status:?}");
    let rows = index.all_segments().unwrap();
    eprintln!(
        "{:?}",
        rows.iter()
            .map(|r| (
                r.start_wall_ms - BASE_WALL_MS,
                r.frames,
                r.bytes,
                r.protected_until
            ))
            .collect::<Vec<_>>()
    );
    // The protected first segment is kept; what remains after it is the newest, contiguous.
    assert_eq!(rows[0].id, first.id);
    let rest = &rows[1..];
    assert!(!rest.is_empty());
    assert_eq!(rest.last().unwrap().end_wall_ms, BASE_WALL_MS + 30_000);
    for w in rest.windows(2) {
        assert_eq!(
            w[0].end_wall_ms, w[1].start_wall_ms,
            "newest kept contiguous"
        );
    }
    assert!(rest.iter().map(|r| r.bytes).sum::<u64>() <= quota);
    assert_agree(&index);
    // Every kept segment starts on a keyframe and plays whole.
    for r in &rows {
        let (frames, key) = probe_segment(&index.path(r));
        assert_eq!(frames, u64::from(r.frames));
        assert!(key);
    }
    let _ = std::fs::remove_dir_all(&root);
}
