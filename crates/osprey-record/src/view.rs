//! Playback views: one fragmented MP4 for a wall-clock range, planned as byte ranges of segment
//! files and generated boxes so an HTTP layer can serve `Range` requests without building the
//! file in memory.
//!
//! Conventions (judgement calls):
//! - The view starts at the keyframe at or before the requested start (no edit list);
//!   [`ViewPlan::preroll_90k`] says how far before the requested start that is.
//! - Samples are included while their start time is before the requested end.
//! - Segments are concatenated back to back: a gap between segments (an outage) is removed
//!   from the output timeline, so players never stall; [`ViewPlan::pieces`] maps output time
//!   back to wall time.
//! - The sample entry comes from the first segment; the view stops before the first segment
//!   whose sample entry differs ([`ViewPlan::truncated`]); request the rest separately.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::mp4::{box_header, fragment_header, init_segment, moov_stsd, parse_moof, FragmentInfo};
use crate::{RecordError, SegmentInfo};

/// A recorded segment file and what the writer reported about it.
#[derive(Debug, Clone)]
pub struct SegmentFile {
    /// Where the file is.
    pub path: PathBuf,
    /// Its metadata.
    pub info: SegmentInfo,
}

/// One piece of a view's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Bytes generated for the view (init segment, `moof` and `mdat` headers).
    Generated(Vec<u8>),
    /// A byte range of a segment file (sample data).
    File {
        /// The file.
        path: PathBuf,
        /// Offset of the first byte.
        offset: u64,
        /// Number of bytes.
        len: u64,
    },
}

impl Part {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Part::Generated(b) => b.len() as u64,
            Part::File { len, .. } => *len,
        }
    }

    /// Whether the part is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where one segment's samples landed in a view's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// Output decode time of the piece's first sample.
    pub output_90k: u64,
    /// Wall-clock time of that sample, Unix ms.
    pub wall_ms: i64,
    /// Duration of the piece.
    pub duration_90k: u64,
}

/// A planned view: parts whose concatenation is the MP4 file.
#[derive(Debug, Clone)]
pub struct ViewPlan {
    /// The file, in order.
    pub parts: Vec<Part>,
    /// Total length in bytes.
    pub len: u64,
    /// RFC 6381 codec string (for MSE).
    pub codec_string: String,
    /// Total media duration (also in `mehd`).
    pub duration_90k: u64,
    /// Number of samples.
    pub frames: u32,
    /// Time from the first (key)frame to the requested start.
    pub preroll_90k: u64,
    /// The segments' contributions, in output order.
    pub pieces: Vec<Piece>,
    /// Whether the view stopped early at a codec parameter change.
    pub truncated: bool,
}

impl ViewPlan {
    /// Writes bytes `range` of the file (clamped to its length) to `out`.
    pub fn write_range(&self, range: Range<u64>, out: &mut impl Write) -> std::io::Result<()> {
        let end = range.end.min(self.len);
        let mut pos = 0u64;
        for part in &self.parts {
            let (lo, hi) = (pos, pos + part.len());
            pos = hi;
            if hi <= range.start || lo >= end {
                continue;
            }
            let from = range.start.max(lo) - lo;
            let to = end.min(hi) - lo;
            match part {
                Part::Generated(b) => out.write_all(&b[from as usize..to as usize])?,
                Part::File { path, offset, .. } => {
                    let mut f = File::open(path)?;
                    f.seek(SeekFrom::Start(offset + from))?;
                    let copied = std::io::copy(&mut (&mut f).take(to - from), out)?;
                    if copied != to - from {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            format!("{} is shorter than recorded", path.display()),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The whole file in memory.
    pub fn to_bytes(&self) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.len as usize);
        self.write_range(0..self.len, &mut out)?;
        Ok(out)
    }
}

/// A segment file's sample entry and fragments (with the file offset of each `moof`).
#[derive(Debug, Clone)]
pub struct SegmentIndex {
    /// The `stsd` box body of the init segment.
    pub stsd: Vec<u8>,
    /// `(moof offset, fragment)` in file order; fragments whose data lies past the end of the
    /// file (an interrupted write) are left out.
    pub fragments: Vec<(u64, FragmentInfo)>,
}

/// Reads the boxes of a segment file (not the sample data).
pub fn read_index(path: &Path) -> Result<SegmentIndex, RecordError> {
    let name = path.display().to_string();
    let io = |e| RecordError::storage("read", &name, e);
    let bad = |reason: &str| RecordError::BadSegment {
        name: name.clone(),
        reason: reason.to_owned(),
    };
    let mut f = File::open(path).map_err(io)?;
    let file_len = f.metadata().map_err(io)?.len();
    let (mut pos, mut stsd, mut fragments) = (0u64, None, Vec::new());
    while pos + 8 <= file_len {
        let mut head = [0u8; 16];
        let n = (file_len - pos).min(16) as usize;
        f.seek(SeekFrom::Start(pos)).map_err(io)?;
        f.read_exact(&mut head[..n]).map_err(io)?;
        let Some((size, kind, hlen)) = box_header(&head[..n]) else {
            break;
        };
        let size = if size == 0 { file_len - pos } else { size };
        if size < hlen as u64 || pos + size > file_len {
            break; // truncated tail
        }
        if &kind == b"moov" || &kind == b"moof" {
            let mut body = vec![0u8; (size - hlen as u64) as usize];
            f.seek(SeekFrom::Start(pos + hlen as u64)).map_err(io)?;
            f.read_exact(&mut body).map_err(io)?;
            if &kind == b"moov" {
                stsd = Some(moov_stsd(&body).ok_or_else(|| bad("no stsd"))?.to_vec());
            } else {
                let frag = parse_moof(&body).map_err(|e| bad(&e.to_string()))?;
                let data: u64 = frag.samples.iter().map(|s| u64::from(s.size)).sum();
                if pos + frag.data_offset + data > file_len {
                    break;
                }
                fragments.push((pos, frag));
            }
        }
        pos += size;
    }
    Ok(SegmentIndex {
        stsd: stsd.ok_or_else(|| bad("no moov"))?,
        fragments,
    })
}

/// Plans a view of wall-clock range `[start_ms, end_ms)` over `segments` (any order; those
/// outside the range are not opened). See the module documentation for the conventions.
pub fn plan_view(
    segments: &[SegmentFile],
    start_ms: i64,
    end_ms: i64,
) -> Result<ViewPlan, RecordError> {
    if end_ms <= start_ms {
        return Err(RecordError::Request(format!(
            "empty range {start_ms}..{end_ms}"
        )));
    }
    let mut chosen: Vec<&SegmentFile> = segments
        .iter()
        .filter(|s| s.info.start_wall_ms < end_ms && s.info.end_wall_ms > start_ms)
        .collect();
    chosen.sort_by_key(|s| s.info.start_wall_ms);
    let first = chosen
        .first()
        .ok_or_else(|| RecordError::Request("no recording in the range".to_owned()))?;
    let mut b = Builder::default();
    let mut first_stsd: Option<Vec<u8>> = None;
    let mut truncated = false;
    for seg in &chosen {
        let index = read_index(&seg.path)?;
        match &first_stsd {
            None => first_stsd = Some(index.stsd.clone()),
            Some(s) if *s != index.stsd => {
                truncated = true;
                break;
            }
            Some(_) => {}
        }
        b.add_segment(seg, &index, start_ms, end_ms);
    }
    let stsd = first_stsd.unwrap_or_default();
    if b.frames == 0 || stsd.len() < 8 {
        return Err(RecordError::Request("no frames in the range".to_owned()));
    }
    let init = init_segment(
        &stsd[8..],
        first.info.width,
        first.info.height,
        Some(b.out_time),
    );
    let mut parts = vec![Part::Generated(init)];
    parts.append(&mut b.parts);
    Ok(ViewPlan {
        len: parts.iter().map(Part::len).sum(),
        parts,
        codec_string: first.info.codec_string.clone(),
        duration_90k: b.out_time,
        frames: b.frames,
        preroll_90k: b.preroll,
        pieces: b.pieces,
        truncated,
    })
}

#[derive(Default)]
struct Builder {
    parts: Vec<Part>,
    out_time: u64,
    sequence: u32,
    frames: u32,
    preroll: u64,
    pieces: Vec<Piece>,
}

impl Builder {
    fn add_segment(&mut self, seg: &SegmentFile, index: &SegmentIndex, start_ms: i64, end_ms: i64) {
        let rel_start = (start_ms - seg.info.start_wall_ms)
            .saturating_mul(90)
            .max(0) as u64;
        let rel_end = (end_ms - seg.info.start_wall_ms).saturating_mul(90);
        let first_segment = self.frames == 0;
        // The fragment starting with the keyframe at or before the requested start.
        let from = if first_segment {
            index
                .fragments
                .iter()
                .rposition(|(_, f)| {
                    f.base_decode_time <= rel_start && f.samples.first().is_some_and(|s| s.sync)
                })
                .unwrap_or(0)
        } else {
            0
        };
        let Some((_, origin_frag)) = index.fragments.get(from) else {
            return;
        };
        let origin = origin_frag.base_decode_time;
        if first_segment {
            self.preroll = rel_start.saturating_sub(origin);
        }
        let piece_start = self.out_time;
        let mut end_of_piece = origin;
        for (moof_pos, frag) in &index.fragments[from..] {
            let mut t = frag.base_decode_time;
            let mut count = 0;
            for s in &frag.samples {
                if t as i64 >= rel_end {
                    break;
                }
                t += u64::from(s.duration);
                count += 1;
            }
            if count == 0 {
                break;
            }
            let samples = &frag.samples[..count];
            self.sequence += 1;
            let header = fragment_header(
                self.sequence,
                piece_start + frag.base_decode_time - origin,
                samples,
            );
            self.parts.push(Part::Generated(header));
            self.parts.push(Part::File {
                path: seg.path.clone(),
                offset: moof_pos + frag.data_offset,
                len: samples.iter().map(|s| u64::from(s.size)).sum(),
            });
            self.frames += count as u32;
            end_of_piece = t;
        }
        let duration = end_of_piece - origin;
        self.out_time += duration;
        if duration > 0 {
            self.pieces.push(Piece {
                output_90k: piece_start,
                wall_ms: seg.info.start_wall_ms + (origin / 90) as i64,
                duration_90k: duration,
            });
        }
    }
}
