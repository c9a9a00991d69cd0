//! End-to-end checks with real video: segments and views must decode, with ffmpeg, to frames
//! identical to the source.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use osprey_base::{ErrorKind, Kinded};
use osprey_record::view::read_index;
use osprey_record::{
    plan_view, AccessUnit, Codec, FsSink, SegmentFile, SegmentInfo, SegmentSink, SegmentWriter,
    WriterConfig,
};

const BASE_WALL_MS: i64 = 1_700_000_000_000; // a multiple of 5 s and 60 s
const FRAME_90K: i64 = 9000; // 10 fps

/// An elementary stream and its access units as `(offset, len, key)`.
type Stream = (Vec<u8>, Vec<(usize, usize, bool)>);

fn tools(test: &str) -> Option<PathBuf> {
    let shared = osprey_testkit::require_shared(test)?;
    if !osprey_testkit::net::require_tool(test, "ffmpeg", "ffmpeg")
        || !osprey_testkit::net::require_tool(test, "ffprobe", "ffmpeg")
    {
        return None;
    }
    Some(shared.join("video/pedestrians.mp4"))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("osprey-record-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The elementary stream of `args` (ffmpeg output options) and its access units (cut at the
/// packet sizes ffprobe reports), as `(bytes, [(offset, len, key)])`.
fn elementary(src: &Path, dir: &Path, args: &[&str], ext: &str) -> Option<Stream> {
    let es = dir.join(format!("clip.{ext}"));
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(src)
        .args(args)
        .arg(&es)
        .output()
        .unwrap();
    if !out.status.success() {
        eprintln!("ffmpeg failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let bytes = std::fs::read(&es).unwrap();
    let json = run(Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "packet=size,flags",
            "-of",
            "json",
        ])
        .arg(&es));
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let mut aus = Vec::new();
    let mut pos = 0;
    for p in v["packets"].as_array().unwrap() {
        let size: usize = p["size"].as_str().unwrap().parse().unwrap();
        let key = p["flags"].as_str().unwrap().starts_with('K');
        aus.push((pos, size, key));
        pos += size;
    }
    assert_eq!(pos, bytes.len(), "packet sizes cover the stream");
    Some((bytes, aus))
}

/// Decoded-frame hashes of a file (ffmpeg framemd5, last column).
fn frame_md5(path: &Path) -> Vec<String> {
    let out = Command::new("ffmpeg")
        .args(["-v", "warning", "-i"])
        .arg(path)
        .args(["-map", "0:v", "-f", "framemd5", "-"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && log.trim().is_empty(),
        "{}: {log}",
        path.display()
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.rsplit(',').next().unwrap().trim().to_owned())
        .collect()
}

fn probe(path: &Path, entries: &str) -> String {
    let out = run(Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            entries,
        ])
        .args(["-of", "default=nw=1:nk=1"])
        .arg(path));
    String::from_utf8(out).unwrap().trim().to_owned()
}

/// Feeds access units `keep` to a writer into `dir`; returns the closed segments.
fn record(
    codec: Codec,
    bytes: &[u8],
    aus: &[(usize, usize, bool)],
    dir: &Path,
    rotate_ms: i64,
    keep: impl Fn(usize) -> bool,
) -> Vec<SegmentFile> {
    let mut cfg = WriterConfig::new(codec);
    cfg.rotate_interval_ms = rotate_ms;
    cfg.name_prefix = "cam1-".to_owned();
    let mut w = SegmentWriter::new(FsSink::new(dir), cfg);
    for (i, &(off, len, _)) in aus.iter().enumerate().filter(|(i, _)| keep(*i)) {
        let au = AccessUnit {
            data: &bytes[off..off + len],
            pts_90k: 1_000_000 + i as i64 * FRAME_90K,
            wall_unix_ms: BASE_WALL_MS + i as i64 * 100,
        };
        w.push(au).unwrap();
    }
    w.close().unwrap();
    w.take_closed()
        .into_iter()
        .map(|info| SegmentFile {
            path: dir.join(&info.name),
            info,
        })
        .collect()
}

/// Every segment starts on a keyframe, ffprobe counts all frames, and the frames decode
/// identically to the source.
fn check_segments(src_md5: &[String], segs: &[SegmentFile], frames: usize) {
    let mut md5 = Vec::new();
    let mut counted = 0;
    for s in segs {
        let index = read_index(&s.path).unwrap();
        assert!(
            index.fragments[0].1.samples[0].sync,
            "{} starts on a keyframe",
            s.info.name
        );
        let n: usize = probe(&s.path, "stream=nb_read_frames").parse().unwrap();
        assert_eq!(n, s.info.frames as usize);
        let i = &s.info;
        eprintln!(
            "segment {}: {} frames ({} key), {:.1}..{:.1} s, {} bytes, {} {}x{}, ffprobe {n} frames",
            i.name,
            i.frames,
            i.keyframes,
            (i.start_90k - 1_000_000) as f64 / 90000.0,
            (i.end_90k - 1_000_000) as f64 / 90000.0,
            i.bytes,
            i.codec_string,
            i.width,
            i.height
        );
        assert_eq!(std::fs::metadata(&s.path).unwrap().len(), i.bytes);
        counted += n;
        md5.extend(frame_md5(&s.path));
    }
    assert_eq!(counted, frames);
    assert_eq!(md5.len(), src_md5.len());
    assert!(md5 == src_md5, "decoded frames differ from the source");
}

fn info_of(segs: &[SegmentFile]) -> Vec<&SegmentInfo> {
    segs.iter().map(|s| &s.info).collect()
}

#[test]
fn h264_segments_and_views_are_pixel_identical() {
    let Some(src) = tools("h264_segments_and_views_are_pixel_identical") else {
        return;
    };
    let dir = tmp("h264");
    let args = ["-c:v", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "h264"];
    let (bytes, aus) = elementary(&src, &dir, &args, "h264").unwrap();
    assert_eq!(aus.len(), 300);
    let src_md5 = frame_md5(&src);
    let segs = record(Codec::H264, &bytes, &aus, &dir, 5000, |_| true);
    let starts: Vec<i64> = info_of(&segs)
        .iter()
        .map(|i| (i.start_90k - 1_000_000) / FRAME_90K)
        .collect();
    eprintln!("segment start frames: {starts:?}");
    assert_eq!(starts, [0, 60, 100, 160, 200, 260]); // first keyframe at or after each 5 s boundary
    assert!(segs.iter().all(|s| s.info.codec_string == "avc1.4D401E"));
    check_segments(&src_md5, &segs, 300);

    // The full range as one view file, and Range reads that match it.
    let plan = plan_view(&segs, BASE_WALL_MS, BASE_WALL_MS + 30_000).unwrap();
    assert_eq!(
        (plan.frames, plan.duration_90k, plan.preroll_90k),
        (300, 2_700_000, 0)
    );
    let whole = plan.to_bytes().unwrap();
    assert_eq!(whole.len() as u64, plan.len);
    for (a, b) in [
        (0, 10),
        (5, 5000),
        (1000, 200_000),
        (plan.len - 7, plan.len + 100),
    ] {
        let mut part = Vec::new();
        plan.write_range(a..b, &mut part).unwrap();
        assert_eq!(part, whole[a as usize..b.min(plan.len) as usize]);
    }
    let file = dir.join("view-full.mp4");
    std::fs::write(&file, &whole).unwrap();
    assert!(
        frame_md5(&file) == src_md5,
        "full view decodes like the source"
    );
    eprintln!(
        "full view: {} bytes in {} parts, {} frames",
        plan.len,
        plan.parts.len(),
        plan.frames
    );

    // A middle range: 7.3 s .. 16 s starts at the keyframe at 6.0 s and ends with frame 159.
    let plan = plan_view(&segs, BASE_WALL_MS + 7300, BASE_WALL_MS + 16_000).unwrap();
    let file = dir.join("view-mid.mp4");
    std::fs::write(&file, plan.to_bytes().unwrap()).unwrap();
    assert_eq!(
        (plan.frames, plan.duration_90k, plan.preroll_90k),
        (100, 900_000, 117_000)
    );
    let n: usize = probe(&file, "stream=nb_read_frames").parse().unwrap();
    let duration: f64 = probe(&file, "format=duration").parse().unwrap();
    eprintln!(
        "view 7.3..16 s: {n} frames, ffprobe duration {duration} s, preroll {} ticks, pieces {:?}",
        plan.preroll_90k, plan.pieces
    );
    assert_eq!(n, 100);
    assert!((duration - 10.0).abs() < 0.11, "duration {duration}");
    assert!(
        frame_md5(&file) == src_md5[60..160],
        "middle view decodes like source frames 60..160"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn h265_segments_are_pixel_identical() {
    let Some(src) = tools("h265_segments_are_pixel_identical") else {
        return;
    };
    let dir = tmp("h265");
    let args = [
        "-t",
        "6",
        "-an",
        "-c:v",
        "libx265",
        "-x265-params",
        "keyint=20:min-keyint=20:bframes=0:log-level=error",
        "-f",
        "hevc",
    ];
    let Some((bytes, aus)) = elementary(&src, &dir, &args, "h265") else {
        eprintln!("\n*** SKIPPED h265_segments_are_pixel_identical: ffmpeg could not encode with libx265. ***\n");
        return;
    };
    assert_eq!(aus.len(), 60);
    let src_md5 = frame_md5(&dir.join("clip.h265"));
    let segs = record(Codec::H265, &bytes, &aus, &dir, 2000, |_| true);
    eprintln!("h265 segments: {}", segs.len());
    assert!(segs.len() >= 2);
    assert!(
        segs[0].info.codec_string.starts_with("hvc1.1.6.L"),
        "{}",
        segs[0].info.codec_string
    );
    assert_eq!((segs[0].info.width, segs[0].info.height), (480, 360));
    check_segments(&src_md5, &segs, 60);
    let plan = plan_view(&segs, BASE_WALL_MS + 2500, BASE_WALL_MS + 5000).unwrap();
    let file = dir.join("view.mp4");
    std::fs::write(&file, plan.to_bytes().unwrap()).unwrap();
    assert!(
        frame_md5(&file) == src_md5[20..50],
        "h265 view decodes like frames 20..50"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_pts_gap_splits_segments() {
    let Some(src) = tools("a_pts_gap_splits_segments") else {
        return;
    };
    let dir = tmp("gap");
    let args = ["-c:v", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "h264"];
    let (bytes, aus) = elementary(&src, &dir, &args, "h264").unwrap();
    // 10 s outage: frames 100..200 never arrive.
    let segs = record(Codec::H264, &bytes, &aus, &dir, 60_000, |i| {
        !(100..200).contains(&i)
    });
    let i = info_of(&segs);
    eprintln!(
        "gap: {:?}",
        i.iter()
            .map(|s| (s.start_90k, s.end_90k, s.frames))
            .collect::<Vec<_>>()
    );
    assert_eq!(i.len(), 2);
    let gap = i[1].start_90k - i[0].end_90k;
    assert!((gap - 900_000).abs() <= FRAME_90K, "gap {gap}");
    assert!((i[1].start_wall_ms - i[0].end_wall_ms - 10_000).abs() <= 100);
    assert_eq!((i[0].frames, i[1].frames), (100, 100));
    // A view across the outage plays both pieces back to back.
    let plan = plan_view(&segs, BASE_WALL_MS + 9000, BASE_WALL_MS + 21_000).unwrap();
    eprintln!(
        "view across gap: {} frames, pieces {:?}",
        plan.frames, plan.pieces
    );
    assert_eq!(plan.pieces.len(), 2);
    assert_eq!(plan.frames, 20 + 10);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Segment files in memory; writes (and creates) fail with ENOSPC while `full` is set.
#[derive(Debug, Default)]
struct FlakySink {
    full: bool,
    files: HashMap<String, Vec<u8>>,
}

impl SegmentSink for FlakySink {
    type Handle = String;
    fn create(&mut self, name: &str) -> std::io::Result<String> {
        if self.full {
            return Err(std::io::Error::from_raw_os_error(28));
        }
        self.files.insert(name.to_owned(), Vec::new());
        Ok(name.to_owned())
    }
    fn write(&mut self, h: &mut String, data: &[u8]) -> std::io::Result<()> {
        if self.full {
            return Err(std::io::Error::from_raw_os_error(28));
        }
        self.files.get_mut(h).unwrap().extend_from_slice(data);
        Ok(())
    }
    fn finish(&mut self, _: String) -> std::io::Result<()> {
        Ok(())
    }
    fn abandon(&mut self, h: String) {
        self.files.remove(&h);
    }
}

#[test]
fn storage_errors_are_typed_and_recording_resumes() {
    let Some(src) = tools("storage_errors_are_typed_and_recording_resumes") else {
        return;
    };
    let dir = tmp("enospc");
    let args = ["-c:v", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "h264"];
    let (bytes, aus) = elementary(&src, &dir, &args, "h264").unwrap();
    let mut w = SegmentWriter::new(FlakySink::default(), WriterConfig::new(Codec::H264));
    let mut errors = Vec::new();
    for (i, &(off, len, _)) in aus.iter().enumerate().take(200) {
        w.sink_mut().full = (50..90).contains(&i);
        let au = AccessUnit {
            data: &bytes[off..off + len],
            pts_90k: i as i64 * FRAME_90K,
            wall_unix_ms: BASE_WALL_MS + i as i64 * 100,
        };
        if let Err(e) = w.push(au) {
            errors.push((i, e.kind()));
        }
    }
    w.close().unwrap();
    let closed = w.take_closed();
    eprintln!(
        "errors at frames {errors:?}; segments {:?}",
        closed
            .iter()
            .map(|s| (s.start_90k / FRAME_90K, s.frames))
            .collect::<Vec<_>>()
    );
    assert!(!errors.is_empty());
    assert!(errors
        .iter()
        .all(|&(i, k)| k == ErrorKind::ResourceExhausted && (50..90).contains(&i)));
    assert_eq!(closed.len(), 1);
    assert_eq!(
        (closed[0].start_90k, closed[0].frames),
        (100 * FRAME_90K, 100)
    );
    assert_eq!(w.sink_mut().files.len(), 1);
    let file = dir.join("resumed.mp4");
    std::fs::write(&file, &w.sink_mut().files[&closed[0].name]).unwrap();
    assert_eq!(probe(&file, "stream=nb_read_frames"), "100");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fs_sink_never_overwrites() {
    let dir = tmp("excl");
    let mut sink = FsSink::new(&dir);
    let h = sink.create("a.mp4").unwrap();
    sink.finish(h).unwrap();
    let err = sink.create("a.mp4").unwrap_err();
    let err = osprey_record::RecordError::Storage {
        op: "create",
        name: "a.mp4".into(),
        source: err,
    };
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    let _ = std::fs::remove_dir_all(&dir);
}
