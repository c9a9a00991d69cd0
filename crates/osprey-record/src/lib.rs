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
//! # Recording a camera
//!
//! ```text
//! osprey-video Reader ──set_tap──▶ RecorderFeed::send ─(bounded queue, drop-counted)─▶
//!   thread osprey-rec-<camera>: SegmentWriter → FsSink → RecordingIndex::insert → retention
//! ```
//!
//! - [`RecordingIndex::open`]`(root)` opens (creates) the SQLite index (WAL)
//!   `<root>/index.sqlite3`, runs the recovery pass and returns a [`RecoveryReport`]; files
//!   live in `<root>/<camera>/<start_wall_ms>.mp4`. Open it once per process, before any
//!   recorder, and share it (it is a cheap clone). See [`index`] for the crash invariants
//!   (create: `O_EXCL`, `fsync` file, `fsync` directory, insert row; delete: garbage row,
//!   unlink, `fsync` directory, drop row) and [`recovery`] for the reconciliation at open.
//! - [`Recorder::start`]`(index, `[`RecorderConfig`]`)` starts the camera's thread
//!   `osprey-rec-<camera>`; [`Recorder::feed`] gives the [`RecorderFeed`] to install on the
//!   reader: `reader.set_tap(move |ev| { feed.send(ev); })` (the tap's messages are
//!   [`osprey_schema::media::EncodedEvent`]s). A full queue drops units (counted) up to the next
//!   keyframe, where a new segment starts. [`Recorder::status`] gives a [`RecorderStatus`]
//!   (`off | recording | error | unrecordable`, message, counters); a write or index error
//!   (disk full, read-only) puts it in `error`, drops what arrives and retries every
//!   [`RecorderConfig::retry_interval`] (retention first), resuming on its own.
//!   [`Recorder::stop`] (or dropping it) finishes the open segment and joins the thread.
//! - Retention runs after every finished segment: [`RecordingIndex::apply_retention`] applies
//!   the pure [`plan_deletions`] (per-camera byte quota and maximum age, a global free-space
//!   watermark, oldest first; protected segments exempt until their own expiry; pinned ones
//!   deferred) with the crash-safe delete. [`RecordingIndex::protect`] protects a range.
//! - Playback: [`RecordingIndex::timeline`] (runs of recorded time; [`timeline::gaps`],
//!   [`timeline::day_totals`] for a calendar) and [`RecordingIndex::view`], a [`ViewPlan`]
//!   for a wall-clock range whose segments stay pinned ([`PinGuard`]) until the returned
//!   [`PinnedView`] is dropped: serve it with [`ViewPlan::write_range`], then drop it.
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
mod db;
mod error;
mod library;
mod pin;
mod recorder;
mod sink;
mod status;

pub mod annexb;
pub mod codec;
pub mod index;
pub mod live;
pub mod mp4;
pub mod recovery;
pub mod retention;
pub mod segment;
pub mod sweep;
pub mod timeline;
pub mod view;

pub use annexb::{Codec, ParameterSets};
pub use codec::VideoParams;
pub use db::{SCHEMA_V1 as INDEX_SCHEMA_V1, SCHEMA_VERSION as INDEX_SCHEMA_VERSION};
pub use error::{io_kind, RecordError};
pub use index::{CameraUsage, PinnedView, RecordingIndex, RetentionOutcome, SegmentId, SegmentRow};
pub use library::Library;
pub use live::{
    LiveFragment, LiveHub, LiveHubs, LiveInit, LiveMessage, LiveMuxer, LiveSubscription,
};
pub use pin::{PinGuard, Pins};
pub use recorder::{disk_free, disk_space, DiskFreeFn, Recorder, RecorderConfig, RecorderFeed};
pub use recovery::RecoveryReport;
pub use retention::{plan_deletions, CameraQuota, Quotas, RetentionSegment};
pub use segment::{AccessUnit, SegmentInfo, SegmentWriter, WriterConfig};
pub use sink::{FsHandle, FsSink, SegmentSink};
pub use status::{RecorderPhase, RecorderStatus};
pub use timeline::{day_totals, gaps, runs, DayTotal, Run};
pub use view::{plan_view, SegmentFile, ViewPlan};
