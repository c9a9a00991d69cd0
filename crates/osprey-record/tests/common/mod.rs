//! Helpers shared by the recording tests: synthetic H.264 streams and scratch directories.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use osprey_record::{
    AccessUnit, Codec, FsSink, RecordingIndex, SegmentRow, SegmentWriter, WriterConfig,
};
use osprey_schema::media::{EncodedEvent, EncodedStream, EncodedUnit, VideoCodec};

/// x264's SPS and PPS for a 480x360 Main@3.0 stream.
pub const SPS: [u8; 28] = [
    0x67, 0x4d, 0x40, 0x1e, 0xd9, 0x81, 0xe0, 0xbf, 0xe5, 0xc0, 0x5a, 0x80, 0x80, 0x80, 0xa0, 0x00,
    0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x03, 0x02, 0x81, 0xe2, 0xc5, 0xcd,
];
pub const PPS: [u8; 6] = [0x68, 0xe9, 0x70, 0x23, 0x2c, 0x80];

/// 2023-11-14T22:13:20Z, a multiple of 60 s.
pub const BASE_WALL_MS: i64 = 1_700_000_000_000;

/// Access unit `i` of a 10 fps stream with a keyframe every `keyint` frames (SPS and PPS
/// before keyframes), with `pad` bytes of slice data.
pub fn au(i: i64, keyint: i64, pad: usize) -> EncodedUnit {
    let key = i % keyint == 0;
    let mut data = Vec::new();
    if key {
        for nal in [&SPS[..], &PPS[..]] {
            data.extend_from_slice(&[0, 0, 0, 1]);
            data.extend_from_slice(nal);
        }
        data.extend_from_slice(&[0, 0, 0, 1, 0x65, 0x88]);
    } else {
        data.extend_from_slice(&[0, 0, 0, 1, 0x41, 0x9a]);
    }
    data.extend(std::iter::repeat_n(0x5a, pad));
    EncodedUnit {
        data,
        pts_90k: i * 9000,
        wall_unix_ms: BASE_WALL_MS + i * 100,
        keyframe: key,
    }
}

/// The stream announcement for [`au`].
pub fn stream() -> EncodedEvent {
    EncodedEvent::Stream(EncodedStream {
        codec: VideoCodec::H264,
        parameter_sets: Vec::new(),
        width: 480,
        height: 360,
    })
}

/// A fresh scratch directory.
pub fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("osprey-rec-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes `frames` frames of [`au`] into `camera`'s directory, segments of `seg_s` seconds,
/// without indexing them; returns what the writer reported.
pub fn write_files(
    index: &RecordingIndex,
    camera: &str,
    first: i64,
    frames: i64,
    seg_s: i64,
) -> Vec<osprey_record::SegmentInfo> {
    let dir = index.camera_dir(camera).unwrap();
    let mut cfg = WriterConfig::new(Codec::H264);
    cfg.rotate_interval_ms = seg_s * 1000;
    let mut w = SegmentWriter::new(FsSink::new(dir), cfg);
    for i in first..first + frames {
        let u = au(i, 10, 500);
        w.push(AccessUnit {
            data: &u.data,
            pts_90k: u.pts_90k,
            wall_unix_ms: u.wall_unix_ms,
        })
        .unwrap();
    }
    w.close().unwrap();
    w.take_closed()
}

/// Like [`write_files`], and indexes them.
pub fn record(
    index: &RecordingIndex,
    camera: &str,
    first: i64,
    frames: i64,
    seg_s: i64,
) -> Vec<SegmentRow> {
    for info in write_files(index, camera, first, frames, seg_s) {
        index.insert(camera, &info).unwrap();
    }
    index.segments(camera, i64::MIN, i64::MAX).unwrap()
}

/// The `.mp4` files of a camera directory, sorted.
pub fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".mp4"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Asserts that the index and the files agree: every row has its file with at least its
/// bytes, every file has a row.
pub fn assert_agree(index: &RecordingIndex) {
    let rows = index.all_segments().unwrap();
    for r in &rows {
        let len = std::fs::metadata(index.path(r))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(
            len >= r.bytes,
            "{}/{}: {len} < {}",
            r.camera,
            r.name,
            r.bytes
        );
    }
    for cam in index.cameras().unwrap() {
        let mut names: Vec<String> = rows
            .iter()
            .filter(|r| r.camera == cam)
            .map(|r| r.name.clone())
            .collect();
        names.sort();
        assert_eq!(files(&index.root().join(&cam)), names, "camera {cam}");
    }
}
