//! [`SegmentWriter`]: access units in, self-describing fragmented-MP4 segment files out.

use crate::annexb::{self, Codec, ParameterSets};
use crate::codec::VideoParams;
use crate::mp4::{fragment_header, init_segment, SampleMeta};
use crate::sink::SegmentSink;
use crate::RecordError;

/// One access unit as received: an Annex B byte string (start codes, possibly with AUD and
/// in-band parameter sets) and its timestamps.
#[derive(Debug, Clone, Copy)]
pub struct AccessUnit<'a> {
    /// The Annex B bytes.
    pub data: &'a [u8],
    /// Presentation time in 90 kHz ticks (equal to decode time: streams have no B-frames).
    pub pts_90k: i64,
    /// Wall-clock time of arrival, Unix milliseconds.
    pub wall_unix_ms: i64,
}

/// How a [`SegmentWriter`] cuts segments and fragments.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// The stream's codec.
    pub codec: Codec,
    /// File names are `{name_prefix}{start_wall_ms}.mp4`.
    pub name_prefix: String,
    /// Segments end at the first keyframe at or after a wall-clock boundary
    /// `k × rotate_interval_ms + rotate_offset_ms` (default 60 s).
    pub rotate_interval_ms: i64,
    /// Per-camera offset of the boundaries, so cameras do not all rotate at once.
    pub rotate_offset_ms: i64,
    /// A fragment ends before each keyframe and once it holds this much media (default 1 s).
    pub fragment_90k: u64,
    /// A pts step larger than this many nominal frame intervals ends the segment (default 5).
    pub max_gap_frames: i64,
    /// The largest pts step accepted before any frame interval is known (default 1 s).
    pub max_first_interval_90k: i64,
    /// Duration of a segment's only sample when no interval is known (default 3000 = 30 fps).
    pub default_duration_90k: u32,
}

impl WriterConfig {
    /// Defaults for `codec`: 60 s segments, 1 s fragments, gaps over 5 frame intervals.
    pub fn new(codec: Codec) -> Self {
        WriterConfig {
            codec,
            name_prefix: String::new(),
            rotate_interval_ms: 60_000,
            rotate_offset_ms: 0,
            fragment_90k: 90_000,
            max_gap_frames: 5,
            max_first_interval_90k: 90_000,
            default_duration_90k: 3000,
        }
    }
}

/// A finished segment file, as a database would record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// The file name given to the sink.
    pub name: String,
    /// The pts of the first frame (stream clock, 90 kHz).
    pub start_90k: i64,
    /// `start_90k` plus the sum of sample durations.
    pub end_90k: i64,
    /// Wall-clock time of the first frame, Unix ms.
    pub start_wall_ms: i64,
    /// `start_wall_ms` plus the media duration (the media clock is authoritative inside a
    /// segment; [`crate::view`] maps sample times to wall time this way).
    pub end_wall_ms: i64,
    /// Number of samples.
    pub frames: u32,
    /// Number of keyframes.
    pub keyframes: u32,
    /// File size in bytes.
    pub bytes: u64,
    /// RFC 6381 codec string.
    pub codec_string: String,
    /// Width in pixels.
    pub width: u16,
    /// Height in pixels.
    pub height: u16,
}

impl SegmentInfo {
    /// Media duration in 90 kHz ticks.
    pub fn duration_90k(&self) -> i64 {
        self.end_90k - self.start_90k
    }
}

/// The newest access unit of an open segment, whose duration is not known yet.
struct Pending {
    sample: Vec<u8>,
    pts: i64,
    sync: bool,
}

struct Open<H> {
    handle: H,
    info: SegmentInfo,
    ps: ParameterSets,
    rotate_at_ms: i64,
    sequence: u32,
    /// Decode time (relative to the segment start) of the end of the samples in `frag`.
    decode_time: u64,
    frag_start: u64,
    frag: Vec<SampleMeta>,
    frag_data: Vec<u8>,
    last: Pending,
    last_duration: Option<u32>,
}

/// Writes access units into segment files through a [`SegmentSink`].
///
/// Each segment file is an init segment followed by fragments, starts on a keyframe, and plays
/// on its own. A segment ends (see [`WriterConfig`]) at the first keyframe after a rotation
/// boundary, at a keyframe whose parameter sets differ, or at a pts gap or non-monotonic pts
/// (the next segment then waits for a keyframe, so an outage shows as a gap between segments).
/// Finished segments are collected; fetch them with [`SegmentWriter::take_closed`].
///
/// A storage error abandons the open segment and is returned; the writer then waits for the
/// next keyframe and starts a new file, so recording resumes once storage recovers.
pub struct SegmentWriter<S: SegmentSink> {
    sink: S,
    cfg: WriterConfig,
    ps: ParameterSets,
    open: Option<Open<S::Handle>>,
    closed: Vec<SegmentInfo>,
    dropped: u64,
}

impl<S: SegmentSink> std::fmt::Debug for SegmentWriter<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentWriter")
            .field("cfg", &self.cfg)
            .field("open", &self.open.as_ref().map(|o| &o.info.name))
            .field("closed", &self.closed.len())
            .field("dropped", &self.dropped)
            .finish()
    }
}

impl<S: SegmentSink> SegmentWriter<S> {
    /// A writer with no open segment.
    pub fn new(sink: S, cfg: WriterConfig) -> Self {
        SegmentWriter {
            sink,
            cfg,
            ps: ParameterSets::default(),
            open: None,
            closed: Vec::new(),
            dropped: 0,
        }
    }

    /// Supplies out-of-band parameter sets (RTSP `sprop-parameter-sets`); in-band ones replace
    /// them as they arrive.
    pub fn set_parameter_sets(&mut self, ps: ParameterSets) {
        self.ps = ps;
    }

    /// Access units dropped while waiting for a keyframe (or for parameter sets).
    pub fn dropped_frames(&self) -> u64 {
        self.dropped
    }

    /// Segments finished since the last call.
    pub fn take_closed(&mut self) -> Vec<SegmentInfo> {
        std::mem::take(&mut self.closed)
    }

    /// The sink.
    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }

    /// Gives the sink back (finish the open segment with [`SegmentWriter::close`] first; an
    /// open segment is abandoned).
    pub fn into_sink(mut self) -> S {
        if let Some(open) = self.open.take() {
            self.sink.abandon(open.handle);
        }
        self.sink
    }

    /// Whether a segment is open (recording; `false` while waiting for a keyframe).
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// The codec being written.
    pub fn codec(&self) -> Codec {
        self.cfg.codec
    }

    /// Adds one access unit.
    pub fn push(&mut self, au: AccessUnit<'_>) -> Result<(), RecordError> {
        let codec = self.cfg.codec;
        let units = annexb::split(au.data);
        self.ps.update(codec, &units);
        let sync = annexb::is_keyframe(codec, &units);
        let mut sample = Vec::with_capacity(au.data.len());
        annexb::to_sample(codec, &units, &mut sample);
        if sample.is_empty() {
            return Ok(()); // parameter sets or delimiters only
        }
        if let Some(open) = &self.open {
            let delta = au.pts_90k - open.last.pts;
            let nominal = open.last_duration.map(|d| {
                let mean = open.decode_time / u64::from(open.info.frames + open.frag.len() as u32);
                i64::from(d).max(mean as i64)
            });
            let limit = nominal.map_or(self.cfg.max_first_interval_90k, |n| {
                n * self.cfg.max_gap_frames
            });
            if delta <= 0 || delta > limit || delta > i64::from(u32::MAX) {
                self.close_open(None)?;
            } else if sync && (au.wall_unix_ms >= open.rotate_at_ms || self.ps != open.ps) {
                self.close_open(Some(delta as u32))?;
            } else {
                return self.append(sample, au.pts_90k, sync, delta as u32);
            }
        }
        if !sync || !self.ps.is_complete(codec) {
            self.dropped += 1;
            return Ok(());
        }
        self.open_segment(sample, &au)
    }

    /// Finishes the open segment, if any (its last sample gets the previous sample's duration).
    pub fn close(&mut self) -> Result<(), RecordError> {
        if self.open.is_some() {
            self.close_open(None)?;
        }
        Ok(())
    }

    fn open_segment(&mut self, sample: Vec<u8>, au: &AccessUnit<'_>) -> Result<(), RecordError> {
        let params = VideoParams::new(self.cfg.codec, &self.ps)?;
        let name = format!("{}{}.mp4", self.cfg.name_prefix, au.wall_unix_ms);
        let mut handle = self
            .sink
            .create(&name)
            .map_err(|e| RecordError::storage("create", &name, e))?;
        let init = init_segment(&params.sample_entry, params.width, params.height, None);
        if let Err(e) = self.sink.write(&mut handle, &init) {
            self.sink.abandon(handle);
            return Err(RecordError::storage("write", &name, e));
        }
        let interval = self.cfg.rotate_interval_ms.max(1);
        let offset = self.cfg.rotate_offset_ms.rem_euclid(interval);
        let rotate_at_ms =
            ((au.wall_unix_ms - offset).div_euclid(interval) + 1) * interval + offset;
        self.open = Some(Open {
            handle,
            info: SegmentInfo {
                name,
                start_90k: au.pts_90k,
                end_90k: au.pts_90k,
                start_wall_ms: au.wall_unix_ms,
                end_wall_ms: au.wall_unix_ms,
                frames: 0,
                keyframes: 0,
                bytes: init.len() as u64,
                codec_string: params.codec_string,
                width: params.width,
                height: params.height,
            },
            ps: self.ps.clone(),
            rotate_at_ms,
            sequence: 0,
            decode_time: 0,
            frag_start: 0,
            frag: Vec::new(),
            frag_data: Vec::new(),
            last: Pending {
                sample,
                pts: au.pts_90k,
                sync: true,
            },
            last_duration: None,
        });
        Ok(())
    }

    /// Moves the pending sample into the fragment with `duration`, flushes the fragment when the
    /// new access unit is a keyframe or the fragment is long enough, and makes the new access
    /// unit pending.
    fn append(
        &mut self,
        sample: Vec<u8>,
        pts: i64,
        sync: bool,
        duration: u32,
    ) -> Result<(), RecordError> {
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        let last = std::mem::replace(&mut open.last, Pending { sample, pts, sync });
        add_sample(open, last, duration);
        if sync || open.decode_time - open.frag_start >= self.cfg.fragment_90k {
            self.flush_fragment()?;
        }
        Ok(())
    }

    fn flush_fragment(&mut self) -> Result<(), RecordError> {
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        if open.frag.is_empty() {
            return Ok(());
        }
        open.sequence += 1;
        let mut buf = fragment_header(open.sequence, open.frag_start, &open.frag);
        buf.extend_from_slice(&open.frag_data);
        if let Err(e) = self.sink.write(&mut open.handle, &buf) {
            return Err(self.fail("write", e));
        }
        open.info.bytes += buf.len() as u64;
        open.info.frames += open.frag.len() as u32;
        open.info.keyframes += open.frag.iter().filter(|s| s.sync).count() as u32;
        open.frag.clear();
        open.frag_data.clear();
        open.frag_start = open.decode_time;
        Ok(())
    }

    /// Abandons the open segment after a storage error.
    fn fail(&mut self, op: &'static str, e: std::io::Error) -> RecordError {
        match self.open.take() {
            Some(open) => {
                let err = RecordError::storage(op, &open.info.name, e);
                self.sink.abandon(open.handle);
                err
            }
            None => RecordError::storage(op, "", e),
        }
    }

    fn close_open(&mut self, final_duration: Option<u32>) -> Result<(), RecordError> {
        let default = self.cfg.default_duration_90k;
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        let duration = final_duration.or(open.last_duration).unwrap_or(default);
        let last = std::mem::replace(
            &mut open.last,
            Pending {
                sample: Vec::new(),
                pts: 0,
                sync: false,
            },
        );
        add_sample(open, last, duration);
        self.flush_fragment()?;
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        let mut info = open.info;
        if let Err(e) = self.sink.finish(open.handle) {
            return Err(RecordError::storage("sync", &info.name, e));
        }
        info.end_90k = info.start_90k + open.decode_time as i64;
        info.end_wall_ms = info.start_wall_ms + (open.decode_time / 90) as i64;
        self.closed.push(info);
        Ok(())
    }
}

fn add_sample<H>(open: &mut Open<H>, sample: Pending, duration: u32) {
    open.frag.push(SampleMeta {
        duration,
        size: sample.sample.len() as u32,
        sync: sample.sync,
    });
    open.frag_data.extend_from_slice(&sample.sample);
    open.decode_time += u64::from(duration);
    open.last_duration = Some(duration);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{TEST_PPS, TEST_SPS};
    use std::collections::HashMap;

    #[derive(Default)]
    struct MemSink(HashMap<String, Vec<u8>>);

    impl SegmentSink for MemSink {
        type Handle = String;
        fn create(&mut self, name: &str) -> std::io::Result<String> {
            self.0.insert(name.to_owned(), Vec::new());
            Ok(name.to_owned())
        }
        fn write(&mut self, h: &mut String, data: &[u8]) -> std::io::Result<()> {
            self.0.get_mut(h.as_str()).unwrap().extend_from_slice(data);
            Ok(())
        }
        fn finish(&mut self, _: String) -> std::io::Result<()> {
            Ok(())
        }
        fn abandon(&mut self, h: String) {
            self.0.remove(&h);
        }
    }

    /// 10 fps, a keyframe (with SPS and PPS) every 10 frames.
    fn au(i: i64, level: u8) -> Vec<u8> {
        let mut v = Vec::new();
        if i % 10 == 0 {
            let mut sps = TEST_SPS.to_vec();
            sps[3] = level;
            for nal in [&sps[..], &TEST_PPS, &[0x65, 0x88, 0x84]] {
                v.extend_from_slice(&[0, 0, 0, 1]);
                v.extend_from_slice(nal);
            }
        } else {
            v.extend_from_slice(&[0, 0, 0, 1, 9, 0xf0, 0, 0, 0, 1, 0x41, 0x9a, 0x01]);
        }
        v
    }

    #[test]
    fn rotation_offset_pts_reset_and_parameter_change() {
        let mut cfg = WriterConfig::new(Codec::H264);
        cfg.rotate_interval_ms = 5000;
        cfg.rotate_offset_ms = 1500;
        let mut w = SegmentWriter::new(MemSink::default(), cfg);
        for i in 0..180 {
            // Boundaries at 1.5 s + k × 5 s. The camera's clock jumps back at frame 135 (not a
            // keyframe: 135..140 are dropped); the SPS changes at frame 160.
            let pts = if i < 135 { i * 9000 } else { (i - 1000) * 9000 };
            let data = au(i, if i < 160 { 0x1e } else { 0x1f });
            w.push(AccessUnit {
                data: &data,
                pts_90k: pts,
                wall_unix_ms: i * 100,
            })
            .unwrap();
        }
        w.close().unwrap();
        let closed = w.take_closed();
        let spans: Vec<_> = closed
            .iter()
            .map(|s| (s.start_wall_ms / 100, s.end_wall_ms / 100))
            .collect();
        assert_eq!(
            spans,
            [
                (0, 20),
                (20, 70),
                (70, 120),
                (120, 135),
                (140, 160),
                (160, 170), // the SPS change at 16 s, then the boundary at 16.5 s
                (170, 180)
            ]
        );
        assert_eq!(w.dropped_frames(), 5);
        assert!(closed
            .iter()
            .all(|s| s.duration_90k() == i64::from(s.frames) * 9000));
        assert_eq!(closed[4].codec_string, "avc1.4D401E");
        assert_eq!(closed[5].codec_string, "avc1.4D401F");
        assert_eq!((closed[1].frames, closed[1].keyframes), (50, 5));
        for s in &closed {
            assert_eq!(w.sink_mut().0[&s.name].len() as u64, s.bytes);
        }
    }
}
