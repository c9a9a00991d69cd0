//! ISO BMFF boxes: the init segment (`ftyp` + `moov`), media fragments (`moof` + `mdat`) and a
//! small reader for the boxes this crate writes.

use crate::RecordError;

/// The timescale of every track and movie this crate writes: 90 kHz, as RTP video.
pub const TIMESCALE: u32 = 90_000;

/// `trun` sample flags of a sync sample (`sample_depends_on` = 2: depends on no other).
pub const SYNC_FLAGS: u32 = 0x0200_0000;
/// `trun` sample flags of a non-sync sample (depends on others, `is_non_sync_sample`).
pub const NON_SYNC_FLAGS: u32 = 0x0101_0000;

/// Appends a box of type `kind` whose body `body` writes; the size is patched afterwards.
pub fn write_box(out: &mut Vec<u8>, kind: &[u8; 4], body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(kind);
    body(out);
    let size = (out.len() - start) as u32;
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
}

/// Appends a full box (version and 24-bit flags before the body).
pub fn write_full_box(
    out: &mut Vec<u8>,
    kind: &[u8; 4],
    version: u8,
    flags: u32,
    body: impl FnOnce(&mut Vec<u8>),
) {
    write_box(out, kind, |b| {
        b.extend_from_slice(&((u32::from(version) << 24) | (flags & 0xff_ffff)).to_be_bytes());
        body(b);
    });
}

fn u16s(b: &mut Vec<u8>, v: u16) {
    b.extend_from_slice(&v.to_be_bytes());
}
fn u32s(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_be_bytes());
}
fn u64s(b: &mut Vec<u8>, v: u64) {
    b.extend_from_slice(&v.to_be_bytes());
}

const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// Builds an init segment: `ftyp` (`isom`, compatible `isom iso6 mp41`) and a `moov` with one
/// video track (ID 1, timescale 90 kHz) described by `sample_entry`, empty sample tables, and
/// `mvex` (`mehd` when `duration_90k` is known, `trex`).
pub fn init_segment(
    sample_entry: &[u8],
    width: u16,
    height: u16,
    duration_90k: Option<u64>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(800);
    write_box(&mut out, b"ftyp", |b| {
        b.extend_from_slice(b"isom");
        u32s(b, 0x200);
        b.extend_from_slice(b"isomiso6mp41");
    });
    write_box(&mut out, b"moov", |b| {
        write_full_box(b, b"mvhd", 0, 0, |b| {
            b.extend_from_slice(&[0; 8]); // creation, modification
            u32s(b, TIMESCALE);
            u32s(b, 0); // duration: see mehd
            u32s(b, 0x0001_0000); // rate
            u16s(b, 0x0100); // volume
            b.extend_from_slice(&[0; 10]);
            MATRIX.iter().for_each(|&m| u32s(b, m));
            b.extend_from_slice(&[0; 24]); // pre_defined
            u32s(b, 2); // next_track_ID
        });
        write_box(b, b"trak", |b| trak(b, sample_entry, width, height));
        write_box(b, b"mvex", |b| {
            if let Some(d) = duration_90k {
                write_full_box(b, b"mehd", 1, 0, |b| u64s(b, d));
            }
            write_full_box(b, b"trex", 0, 0, |b| {
                u32s(b, 1); // track_ID
                u32s(b, 1); // default_sample_description_index
                b.extend_from_slice(&[0; 12]); // default duration, size, flags
            });
        });
    });
    out
}

fn trak(b: &mut Vec<u8>, sample_entry: &[u8], width: u16, height: u16) {
    write_full_box(b, b"tkhd", 0, 3, |b| {
        b.extend_from_slice(&[0; 8]);
        u32s(b, 1); // track_ID
        b.extend_from_slice(&[0; 4]);
        u32s(b, 0); // duration
        b.extend_from_slice(&[0; 16]); // reserved, layer, alternate_group, volume, reserved
        MATRIX.iter().for_each(|&m| u32s(b, m));
        u32s(b, u32::from(width) << 16);
        u32s(b, u32::from(height) << 16);
    });
    write_box(b, b"mdia", |b| {
        write_full_box(b, b"mdhd", 0, 0, |b| {
            b.extend_from_slice(&[0; 8]);
            u32s(b, TIMESCALE);
            u32s(b, 0);
            u16s(b, 0x55c4); // "und"
            u16s(b, 0);
        });
        write_full_box(b, b"hdlr", 0, 0, |b| {
            u32s(b, 0);
            b.extend_from_slice(b"vide");
            b.extend_from_slice(&[0; 12]);
            b.extend_from_slice(b"VideoHandler\0");
        });
        write_box(b, b"minf", |b| {
            write_full_box(b, b"vmhd", 0, 1, |b| b.extend_from_slice(&[0; 8]));
            write_box(b, b"dinf", |b| {
                write_full_box(b, b"dref", 0, 0, |b| {
                    u32s(b, 1);
                    write_full_box(b, b"url ", 0, 1, |_| {});
                });
            });
            write_box(b, b"stbl", |b| {
                write_full_box(b, b"stsd", 0, 0, |b| {
                    u32s(b, 1);
                    b.extend_from_slice(sample_entry);
                });
                write_full_box(b, b"stts", 0, 0, |b| u32s(b, 0));
                write_full_box(b, b"stsc", 0, 0, |b| u32s(b, 0));
                write_full_box(b, b"stsz", 0, 0, |b| u64s(b, 0));
                write_full_box(b, b"stco", 0, 0, |b| u32s(b, 0));
            });
        });
    });
}

/// One sample of a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleMeta {
    /// Duration in 90 kHz ticks.
    pub duration: u32,
    /// Size in bytes.
    pub size: u32,
    /// Whether it is a sync sample (keyframe).
    pub sync: bool,
}

/// Builds a fragment's `moof` and the 8-byte `mdat` header; the caller appends the samples'
/// bytes (`sum of sizes`). `tfhd` uses default-base-is-moof, so the data offset is relative to
/// the `moof`'s first byte.
pub fn fragment_header(sequence: u32, base_decode_time: u64, samples: &[SampleMeta]) -> Vec<u8> {
    let mut out = Vec::with_capacity(100 + 12 * samples.len());
    let mut offset_pos = 0;
    write_box(&mut out, b"moof", |b| {
        write_full_box(b, b"mfhd", 0, 0, |b| u32s(b, sequence));
        write_box(b, b"traf", |b| {
            write_full_box(b, b"tfhd", 0, 0x02_0000, |b| u32s(b, 1));
            write_full_box(b, b"tfdt", 1, 0, |b| u64s(b, base_decode_time));
            write_full_box(b, b"trun", 0, 0x701, |b| {
                u32s(b, samples.len() as u32);
                offset_pos = b.len();
                u32s(b, 0); // data_offset, patched below
                for s in samples {
                    u32s(b, s.duration);
                    u32s(b, s.size);
                    u32s(b, if s.sync { SYNC_FLAGS } else { NON_SYNC_FLAGS });
                }
            });
        });
    });
    let data_offset = (out.len() + 8) as u32;
    out[offset_pos..offset_pos + 4].copy_from_slice(&data_offset.to_be_bytes());
    let data: u64 = samples.iter().map(|s| u64::from(s.size)).sum();
    u32s(&mut out, (data + 8) as u32);
    out.extend_from_slice(b"mdat");
    out
}

/// Iterates the boxes in a byte slice: `(type, body)`. Stops at the first malformed header.
pub fn boxes(mut data: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    std::iter::from_fn(move || {
        let (size, kind, header) = box_header(data)?;
        let size = if size == 0 { data.len() as u64 } else { size };
        let size = usize::try_from(size)
            .ok()
            .filter(|&s| s >= header && s <= data.len())?;
        let body = &data[header..size];
        data = &data[size..];
        Some((kind, body))
    })
}

/// Parses a box header: `(size, type, header length)`; size 0 means "to the end".
pub fn box_header(data: &[u8]) -> Option<(u64, [u8; 4], usize)> {
    let size = u32::from_be_bytes(data.get(..4)?.try_into().ok()?);
    let kind: [u8; 4] = data.get(4..8)?.try_into().ok()?;
    if size == 1 {
        let large = u64::from_be_bytes(data.get(8..16)?.try_into().ok()?);
        return Some((large, kind, 16));
    }
    Some((u64::from(size), kind, 8))
}

/// The body of the first child of `data` of type `kind`.
pub fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    boxes(data).find(|(k, _)| k == kind).map(|(_, b)| b)
}

/// The `stsd` body (entry count and sample entries) of an init segment's `moov` body.
pub fn moov_stsd(moov: &[u8]) -> Option<&[u8]> {
    let stbl = [&b"trak"[..], b"mdia", b"minf", b"stbl"]
        .iter()
        .try_fold(moov, |d, k| child(d, &(*k).try_into().ok()?))?;
    child(stbl, b"stsd")
}

/// A parsed fragment: base decode time and samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentInfo {
    /// `tfdt` base media decode time.
    pub base_decode_time: u64,
    /// The samples in decode order.
    pub samples: Vec<SampleMeta>,
    /// `trun` data offset, relative to the start of the `moof`.
    pub data_offset: u64,
}

/// Parses a `moof` body written by [`fragment_header`] (one `traf`, `tfdt`, one `trun` with
/// durations, sizes and flags, default-base-is-moof).
pub fn parse_moof(moof: &[u8]) -> Result<FragmentInfo, RecordError> {
    let bad = |r: &str| RecordError::Request(format!("unsupported moof: {r}"));
    let traf = child(moof, b"traf").ok_or_else(|| bad("no traf"))?;
    let tfdt = child(traf, b"tfdt").ok_or_else(|| bad("no tfdt"))?;
    let base_decode_time = match tfdt.first() {
        Some(1) if tfdt.len() >= 12 => u64::from_be_bytes(be(&tfdt[4..12])),
        Some(0) if tfdt.len() >= 8 => u64::from(u32::from_be_bytes(be(&tfdt[4..8]))),
        _ => return Err(bad("bad tfdt")),
    };
    let trun = child(traf, b"trun").ok_or_else(|| bad("no trun"))?;
    if trun.len() < 12 || u32::from_be_bytes(be(&trun[..4])) & 0xff_ffff != 0x701 {
        return Err(bad("trun flags"));
    }
    let count = u32::from_be_bytes(be(&trun[4..8])) as usize;
    let data_offset = u64::from(u32::from_be_bytes(be(&trun[8..12])));
    let entries = &trun[12..];
    if entries.len() < count * 12 {
        return Err(bad("trun truncated"));
    }
    let samples = entries
        .chunks_exact(12)
        .take(count)
        .map(|e| SampleMeta {
            duration: u32::from_be_bytes(be(&e[0..4])),
            size: u32::from_be_bytes(be(&e[4..8])),
            sync: u32::from_be_bytes(be(&e[8..12])) & 0x0001_0000 == 0,
        })
        .collect();
    Ok(FragmentInfo {
        base_decode_time,
        samples,
        data_offset,
    })
}

fn be<const N: usize>(s: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&s[..N]);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_sizes_are_patched() {
        let mut out = Vec::new();
        write_full_box(&mut out, b"test", 1, 2, |b| b.extend_from_slice(&[9; 5]));
        assert_eq!(
            out,
            [0, 0, 0, 17, b't', b'e', b's', b't', 1, 0, 0, 2, 9, 9, 9, 9, 9]
        );
    }

    #[test]
    fn init_segment_structure() {
        let entry = [0, 0, 0, 8, b'a', b'v', b'c', b'1'];
        let init = init_segment(&entry, 480, 360, Some(900_000));
        let top: Vec<_> = boxes(&init).map(|(k, b)| (k, b.len())).collect();
        assert_eq!(top.len(), 2);
        assert_eq!(&top[0].0, b"ftyp");
        assert_eq!(top[0].1 + 8, 28);
        let moov = child(&init, b"moov").unwrap();
        let stsd = moov_stsd(moov).unwrap();
        assert_eq!(&stsd[8..], &entry);
        let mvex = child(moov, b"mvex").unwrap();
        let mehd = child(mvex, b"mehd").unwrap();
        assert_eq!(mehd, [1, 0, 0, 0, 0, 0, 0, 0, 0, 0x0d, 0xbb, 0xa0]);
        assert_eq!(child(mvex, b"trex").unwrap().len(), 24);
        // The whole tree parses down to the leaves with sizes that add up.
        assert_eq!(
            boxes(moov).map(|(_, b)| b.len() + 8).sum::<usize>(),
            moov.len()
        );
    }

    #[test]
    fn fragment_round_trip() {
        let samples = [
            SampleMeta {
                duration: 9000,
                size: 100,
                sync: true,
            },
            SampleMeta {
                duration: 9000,
                size: 20,
                sync: false,
            },
        ];
        let header = fragment_header(7, 180_000, &samples);
        // moof: 8 + mfhd 16 + traf(8 + tfhd 16 + tfdt 20 + trun 20 + 2 * 12) + mdat header 8
        assert_eq!(header.len(), 8 + 16 + 8 + 16 + 20 + 20 + 24 + 8);
        let (size, kind, _) = box_header(&header).unwrap();
        assert_eq!(&kind, b"moof");
        let moof = &header[8..size as usize];
        let f = parse_moof(moof).unwrap();
        assert_eq!(f.base_decode_time, 180_000);
        assert_eq!(f.samples, samples);
        assert_eq!(f.data_offset, header.len() as u64);
        let mdat = &header[size as usize..];
        assert_eq!(mdat, [0, 0, 0, 128, b'm', b'd', b'a', b't']);
    }
}
