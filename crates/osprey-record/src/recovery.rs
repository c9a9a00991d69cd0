//! The recovery pass run when the index opens: rows and files are made to agree.
//!
//! 1. Garbage rows (a delete interrupted by a crash) are finished: file unlinked, directory
//!    `fsync`ed, row dropped.
//! 2. Rows whose file is missing, or shorter than the row says, are removed.
//! 3. Files without a row (a crash between the file's `fsync` and the row's insert, or during
//!    the write of a segment) are *adopted* when they hold at least one whole fragment: an
//!    incomplete tail is cut off, the file `fsync`ed and a row inserted from the file's own
//!    boxes (start time from its name `<start_wall_ms>.mp4`); otherwise they are deleted.
//!
//! Only `*.mp4` files in camera directories are considered; anything else is left alone. Run it
//! before any recorder writes under the root (one process owns a root).

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::path::Path;

use rusqlite::Connection;

use crate::annexb::{Codec, ParameterSets};
use crate::codec::VideoParams;
use crate::db::{finish_garbage, insert, query, sync_dir, valid_camera_name};
use crate::mp4::{boxes, child};
use crate::view::read_index;
use crate::{RecordError, SegmentInfo};

/// What the recovery pass did (entries are `camera/name`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Interrupted deletes finished.
    pub garbage_finished: Vec<String>,
    /// Rows removed because their file was missing or short.
    pub rows_removed: Vec<String>,
    /// Files without a row that were indexed.
    pub adopted: Vec<String>,
    /// Files without a row that were deleted (no complete fragment).
    pub deleted: Vec<String>,
    /// Bytes of incomplete tails cut from adopted files.
    pub truncated_bytes: u64,
}

impl RecoveryReport {
    /// Whether rows and files already agreed.
    pub fn is_clean(&self) -> bool {
        self.garbage_finished.is_empty()
            && self.rows_removed.is_empty()
            && self.adopted.is_empty()
            && self.deleted.is_empty()
    }
}

/// Runs the pass (see the module documentation).
pub(crate) fn recover(conn: &Connection, root: &Path) -> Result<RecoveryReport, RecordError> {
    let mut report = RecoveryReport::default();
    finish_all_garbage(conn, root, &mut report)?;
    let mut known = HashSet::new();
    for row in query(conn, "", [])? {
        let path = root.join(&row.camera).join(&row.name);
        let len = std::fs::metadata(&path).map(|m| m.len()).ok();
        if len.is_some_and(|l| l >= row.bytes) {
            known.insert((row.camera, row.name));
            continue;
        }
        conn.execute("DELETE FROM segment WHERE id = ?1", [row.id])
            .map_err(RecordError::db("recover"))?;
        report
            .rows_removed
            .push(format!("{}/{}", row.camera, row.name));
    }
    let entries = std::fs::read_dir(root)
        .map_err(|e| RecordError::storage("read", &root.display().to_string(), e))?;
    for entry in entries.flatten() {
        let camera = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_dir() && valid_camera_name(&camera) {
            reconcile_dir(conn, root, &camera, &known, &mut report)?;
        }
    }
    if !report.is_clean() {
        tracing::warn!(?report, root = %root.display(), "recordings recovered");
    }
    Ok(report)
}

fn finish_all_garbage(
    conn: &Connection,
    root: &Path,
    report: &mut RecoveryReport,
) -> Result<(), RecordError> {
    let garbage: Vec<(String, String)> = {
        let mut st = conn
            .prepare("SELECT camera, name FROM garbage")
            .map_err(RecordError::db("recover"))?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(RecordError::db("recover"))?;
        rows.collect::<Result<_, _>>()
            .map_err(RecordError::db("recover"))?
    };
    for (camera, name) in garbage {
        finish_garbage(conn, root, &camera, &name)?;
        report.garbage_finished.push(format!("{camera}/{name}"));
    }
    Ok(())
}

/// Adopts or deletes the files of one camera directory that have no row.
fn reconcile_dir(
    conn: &Connection,
    root: &Path,
    camera: &str,
    known: &HashSet<(String, String)>,
    report: &mut RecoveryReport,
) -> Result<(), RecordError> {
    let dir = root.join(camera);
    let shown = dir.display().to_string();
    let entries = std::fs::read_dir(&dir).map_err(|e| RecordError::storage("read", &shown, e))?;
    let mut removed = false;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".mp4") || known.contains(&(camera.to_owned(), name.clone())) {
            continue;
        }
        let path = entry.path();
        match probe(&path, &name) {
            Some((info, file_len)) => {
                if file_len > info.bytes {
                    truncate(&path, info.bytes)?;
                    report.truncated_bytes += file_len - info.bytes;
                }
                insert(conn, camera, &info, None)?;
                report.adopted.push(format!("{camera}/{name}"));
            }
            None => {
                std::fs::remove_file(&path)
                    .map_err(|e| RecordError::storage("unlink", &name, e))?;
                removed = true;
                report.deleted.push(format!("{camera}/{name}"));
            }
        }
    }
    if removed {
        sync_dir(&dir).map_err(|e| RecordError::storage("sync", &shown, e))?;
    }
    Ok(())
}

fn truncate(path: &Path, len: u64) -> Result<(), RecordError> {
    let name = path.display().to_string();
    let io = |e| RecordError::storage("truncate", &name, e);
    let f = OpenOptions::new().write(true).open(path).map_err(io)?;
    f.set_len(len).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Describes a segment file from its own boxes: `(info, file length)`, with `info.bytes` the
/// length of its complete fragments. `None` when it is unreadable or holds no whole fragment.
pub fn probe(path: &Path, name: &str) -> Option<(SegmentInfo, u64)> {
    let file_len = std::fs::metadata(path).ok()?.len();
    let digits: String = name
        .trim_end_matches(".mp4")
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let start_wall_ms: i64 = digits.parse().ok()?;
    let index = read_index(path).ok()?;
    let (last_off, last) = index.fragments.last()?;
    let end =
        last_off + last.data_offset + last.samples.iter().map(|s| u64::from(s.size)).sum::<u64>();
    let samples = index.fragments.iter().flat_map(|(_, f)| f.samples.iter());
    let (mut frames, mut keyframes, mut duration) = (0u32, 0u32, 0u64);
    for s in samples {
        frames += 1;
        keyframes += u32::from(s.sync);
        duration += u64::from(s.duration);
    }
    let params = entry_params(&index.stsd)?;
    Some((
        SegmentInfo {
            name: name.to_owned(),
            // The stream clock is not stored in the file: the wall clock in 90 kHz stands in.
            start_90k: start_wall_ms * 90,
            end_90k: start_wall_ms * 90 + duration as i64,
            start_wall_ms,
            end_wall_ms: start_wall_ms + (duration / 90) as i64,
            frames,
            keyframes,
            bytes: end,
            codec_string: params.codec_string,
            width: params.width,
            height: params.height,
        },
        file_len,
    ))
}

/// The video parameters of an `stsd` body written by this crate (`avc1`+`avcC` or
/// `hvc1`+`hvcC`).
fn entry_params(stsd: &[u8]) -> Option<VideoParams> {
    let (kind, entry) = boxes(stsd.get(8..)?).next()?;
    let children = entry.get(78..)?;
    let (codec, config) = match &kind {
        b"avc1" => (Codec::H264, child(children, b"avcC")?),
        b"hvc1" => (Codec::H265, child(children, b"hvcC")?),
        _ => return None,
    };
    let mut ps = ParameterSets::default();
    let mut add = |nal: &[u8]| {
        ps.update(codec, &[nal]);
    };
    let mut c = config;
    let u16_at =
        |d: &[u8], i: usize| Some(usize::from(*d.get(i)?) << 8 | usize::from(*d.get(i + 1)?));
    if codec == Codec::H264 {
        let n_sps = usize::from(*c.get(5)? & 0x1f);
        c = &c[6..];
        for _ in 0..n_sps {
            let len = u16_at(c, 0)?;
            add(c.get(2..2 + len)?);
            c = &c[2 + len..];
        }
        let n_pps = usize::from(*c.first()?);
        c = &c[1..];
        for _ in 0..n_pps {
            let len = u16_at(c, 0)?;
            add(c.get(2..2 + len)?);
            c = &c[2 + len..];
        }
    } else {
        let arrays = usize::from(*c.get(22)?);
        c = &c[23..];
        for _ in 0..arrays {
            let n = u16_at(c, 1)?;
            c = &c[3..];
            for _ in 0..n {
                let len = u16_at(c, 0)?;
                add(c.get(2..2 + len)?);
                c = &c[2 + len..];
            }
        }
    }
    VideoParams::new(codec, &ps).ok()
}
