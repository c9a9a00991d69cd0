//! Recording camera video without decoding or re-encoding, in the manner of moonfire-nvr.
//!
//! # Model
//!
//! A camera's stream arrives as H.264 or H.265 *access units*: Annex B byte strings (start
//! codes, maybe access unit delimiters and in-band parameter sets) with a 90 kHz presentation
//! time and a wall-clock arrival time ([`AccessUnit`]). Streams have no B-frames, so decode
//! order is presentation order and no composition offsets are needed.
//!
//! [`SegmentWriter`] cuts the stream into *segments*, each a self-describing file that starts on
//! a keyframe and ends at the first keyframe after a wall-clock rotation boundary (default every
//! 60 s, staggered per camera by an offset), at a parameter-set change, or at a timestamp gap or
//! step backwards (an outage appears as a gap between segments, never as stretched time). Each
//! finished segment is reported as a [`SegmentInfo`] for the caller's database. Files go
//! through a [`SegmentSink`]; [`FsSink`] creates them with `O_EXCL`, writes, and `fsync`s the
//! file and then the directory before the segment is reported.
//!
//! [`view::plan_view`] turns segments into one playable fragmented MP4 for a wall-clock range,
//! as a list of byte ranges of the segment files and generated boxes ([`view::ViewPlan`]), so a
//! server can answer HTTP `Range` requests without assembling the file.
//!
//! # On-disk format
//!
//! A segment file is a fragmented MP4 (ISO BMFF) that plays alone in ffprobe, ffplay or a
//! browser's Media Source Extensions:
//!
//! ```text
//! ftyp  isom, compatible isom iso6 mp41
//! moov  mvhd (timescale 90000) · trak (tkhd, mdia: mdhd 90000, hdlr vide, minf: vmhd, dinf,
//!       stbl: stsd[avc1+avcC | hvc1+hvcC], empty stts stsc stsz stco) · mvex (trex)
//! moof  mfhd (sequence 1, 2, …) · traf: tfhd (track 1, default-base-is-moof),
//!       tfdt (v1, decode time from the segment start), trun (data offset; per sample:
//!       duration, size, flags: sync or non-sync)
//! mdat  samples: NAL units with 4-byte big-endian lengths; AUDs and parameter sets removed
//!       (parameter sets live in the sample entry), SEI kept
//! (moof mdat)…
//! ```
//!
//! A fragment holds at most ~1 s of media and always ends before a keyframe, so every keyframe
//! starts a fragment. A sample's duration is the next sample's pts minus its own; a segment's
//! last sample takes the next pts when the segment was cut at a keyframe, else the previous
//! sample's duration. A segment's media time maps to wall time as
//! `start_wall_ms + decode_time / 90`.

mod bits;
mod error;
mod sink;

pub mod annexb;
pub mod codec;
pub mod mp4;
pub mod segment;
pub mod view;

pub use annexb::{Codec, ParameterSets};
pub use codec::VideoParams;
pub use error::{io_kind, RecordError};
pub use segment::{AccessUnit, SegmentInfo, SegmentWriter, WriterConfig};
pub use sink::{FsHandle, FsSink, SegmentSink};
pub use view::{plan_view, SegmentFile, ViewPlan};
