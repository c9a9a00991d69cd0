//! The access-unit tap: the compressed H.264/H.265 access units a [`crate::Reader`] reads,
//! handed to a callback as they arrive (before decoding, never decoded twice), for recording
//! without transcoding.
//!
//! FFmpeg's MP4/Matroska demuxers give length-prefixed NAL units with the parameter sets in the
//! extradata (`avcC`/`hvcC`); its RTSP client and raw streams give Annex B. Retina gives Annex B
//! with the parameter sets before every keyframe. The tap converts everything to Annex B with
//! 90 kHz timestamps (see [`osprey_schema::media`]).
use std::time::{SystemTime, UNIX_EPOCH};

use osprey_schema::media::{EncodedEvent, EncodedStream, EncodedUnit, VideoCodec};

/// The callback a tap delivers to. It runs on the reader's thread: keep it short (e.g. a
/// `try_send` into a bounded channel).
pub type TapFn = Box<dyn FnMut(EncodedEvent) + Send>;

/// Why a source cannot be recorded without transcoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not recordable: {reason}")]
pub struct NotRecordable {
    /// What is wrong (the codec, B-frames…).
    pub reason: String,
}

/// How the demuxer frames NAL units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    AnnexB,
    /// Big-endian length prefixes of this many bytes.
    Length(usize),
}

/// What the tap needs to know about the stream being read.
#[derive(Debug, Clone)]
pub(crate) struct TapSetup {
    pub codec: VideoCodec,
    /// Extradata: `avcC`/`hvcC`, Annex B parameter sets, or empty.
    pub extradata: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// Seconds per timestamp tick as `(num, den)`.
    pub time_base: (i64, i64),
    /// Nominal frame duration in 90 kHz ticks (for units without a timestamp).
    pub step_90k: i64,
}

/// The codec of an FFmpeg or retina codec name, or why it cannot be recorded.
pub(crate) fn recordable_codec(name: &str) -> Result<VideoCodec, NotRecordable> {
    match name {
        "h264" => Ok(VideoCodec::H264),
        "hevc" | "h265" => Ok(VideoCodec::H265),
        other => Err(NotRecordable {
            reason: format!(
                "codec {other} cannot be recorded without transcoding (only H.264 and H.265)"
            ),
        }),
    }
}

const B_FRAMES: &str =
    "the stream has B-frames (frames out of order); recording needs streams without B-frames";

/// An installed tap: the callback and the state of the current stream.
pub(crate) struct Tap {
    sink: TapFn,
    framing: Framing,
    time_base: (i64, i64),
    step_90k: i64,
    /// Subtracted from the source's timestamps (in 90 kHz) so that the timeline starts at 0
    /// and continues across file loops and restarts; set by the first timed unit of a stream.
    origin_90k: Option<i64>,
    last_90k: Option<i64>,
    /// Set after B-frames were seen: nothing more is delivered.
    stopped: bool,
}

impl std::fmt::Debug for Tap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tap")
            .field("framing", &self.framing)
            .field("last_90k", &self.last_90k)
            .field("stopped", &self.stopped)
            .finish()
    }
}

impl Tap {
    /// A tap delivering to `sink`, announcing `setup`'s stream at once.
    pub(crate) fn new(sink: TapFn, setup: TapSetup) -> Tap {
        let mut tap = Tap {
            sink,
            framing: Framing::AnnexB,
            time_base: (1, 90_000),
            step_90k: 3000,
            origin_90k: None,
            last_90k: None,
            stopped: false,
        };
        tap.restart(setup);
        tap
    }

    /// A new stream (reconnect, client switch): announced; timestamps continue after the last
    /// unit delivered.
    pub(crate) fn restart(&mut self, setup: TapSetup) {
        let (framing, parameter_sets) = parse_extradata(setup.codec, &setup.extradata);
        self.framing = framing;
        self.time_base = setup.time_base;
        self.step_90k = setup.step_90k.max(1);
        self.origin_90k = None;
        self.stopped = false;
        (self.sink)(EncodedEvent::Stream(EncodedStream {
            codec: setup.codec,
            parameter_sets,
            width: setup.width,
            height: setup.height,
        }));
    }

    /// The stream cannot be recorded any more (told once; units are ignored until a restart).
    pub(crate) fn unrecordable(&mut self, reason: String) {
        if !self.stopped {
            self.stopped = true;
            (self.sink)(EncodedEvent::Unrecordable(reason));
        }
    }

    /// The file starts again from its beginning: timestamps continue after the last unit.
    pub(crate) fn looped(&mut self) {
        self.origin_90k = None;
    }

    /// One access unit as the demuxer framed it; timestamps in the stream's time base. A
    /// presentation time that differs from the decode time means reordered frames (B-frames).
    pub(crate) fn unit(&mut self, data: &[u8], pts: Option<i64>, dts: Option<i64>, keyframe: bool) {
        if self.stopped {
            return;
        }
        if matches!((pts, dts), (Some(p), Some(d)) if p != d) {
            return self.unrecordable(B_FRAMES.into());
        }
        let ts = pts.or(dts);
        let data = match self.framing {
            Framing::AnnexB => data.to_vec(),
            Framing::Length(n) => length_to_annexb(data, n),
        };
        self.deliver(data, ts, keyframe, unix_ms_now());
    }

    /// One Annex B access unit, taken by value (retina's).
    pub(crate) fn annexb_unit(&mut self, data: Vec<u8>, ts: i64, keyframe: bool, wall_ms: i64) {
        if !self.stopped {
            self.deliver(data, Some(ts), keyframe, wall_ms);
        }
    }

    fn deliver(&mut self, data: Vec<u8>, ts: Option<i64>, keyframe: bool, wall_unix_ms: i64) {
        // Where the next unit belongs when nothing else says: one frame after the last.
        let next = self.last_90k.map_or(0, |l| l + self.step_90k);
        let pts_90k = match ts {
            Some(ts) => {
                let t = to_90k(ts, self.time_base);
                t - *self.origin_90k.get_or_insert(t - next)
            }
            None => next,
        };
        if self.last_90k.is_some_and(|l| pts_90k < l) {
            return self.unrecordable(B_FRAMES.into());
        }
        self.last_90k = Some(pts_90k);
        (self.sink)(EncodedEvent::Unit(EncodedUnit {
            data,
            pts_90k,
            wall_unix_ms,
            keyframe,
        }));
    }
}

/// The current wall-clock time, Unix milliseconds.
pub(crate) fn unix_ms_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn to_90k(ts: i64, (num, den): (i64, i64)) -> i64 {
    if den == 0 {
        return ts;
    }
    (i128::from(ts) * i128::from(num) * 90_000 / i128::from(den)) as i64
}

/// Length-prefixed NAL units to Annex B (4-byte start codes). A truncated unit ends the
/// conversion (what came before is kept).
pub(crate) fn length_to_annexb(data: &[u8], len_size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    let mut pos = 0;
    while pos + len_size <= data.len() {
        let len = data[pos..pos + len_size]
            .iter()
            .fold(0usize, |a, &b| (a << 8) | usize::from(b));
        pos += len_size;
        if len == 0 || pos + len > data.len() {
            break;
        }
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(&data[pos..pos + len]);
        pos += len;
    }
    out
}

/// The framing extradata implies and its parameter sets as Annex B: an `avcC`/`hvcC` record
/// (version byte 1) means length-prefixed packets; Annex B or nothing means Annex B packets.
pub(crate) fn parse_extradata(codec: VideoCodec, extra: &[u8]) -> (Framing, Vec<u8>) {
    if extra.first() != Some(&1) {
        let annexb = extra.starts_with(&[0, 0, 1]) || extra.starts_with(&[0, 0, 0, 1]);
        return (
            Framing::AnnexB,
            if annexb { extra.to_vec() } else { Vec::new() },
        );
    }
    let parsed = match codec {
        VideoCodec::H264 => parse_avcc(extra),
        VideoCodec::H265 => parse_hvcc(extra),
    };
    match parsed {
        Some((n, ps)) => (Framing::Length(n), ps),
        None => (Framing::Length(4), Vec::new()),
    }
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<usize> {
        Some(usize::from(self.u8()?) << 8 | usize::from(self.u8()?))
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        (n <= self.0.len()).then(|| {
            let (a, b) = self.0.split_at(n);
            self.0 = b;
            a
        })
    }
    /// `count` NAL units with 16-bit lengths, appended to `out` with start codes.
    fn nals(&mut self, count: usize, out: &mut Vec<u8>) -> Option<()> {
        for _ in 0..count {
            let len = self.u16()?;
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(self.take(len)?);
        }
        Some(())
    }
}

/// `AVCDecoderConfigurationRecord` (ISO/IEC 14496-15 5.3.3.1): NAL length size and SPS/PPS.
fn parse_avcc(b: &[u8]) -> Option<(usize, Vec<u8>)> {
    let mut c = Cursor(b);
    c.take(4)?;
    let len_size = usize::from(c.u8()? & 3) + 1;
    let mut out = Vec::new();
    let sps = usize::from(c.u8()? & 0x1f);
    c.nals(sps, &mut out)?;
    let pps = usize::from(c.u8()?);
    c.nals(pps, &mut out)?;
    Some((len_size, out))
}

/// `HEVCDecoderConfigurationRecord` (ISO/IEC 14496-15 8.3.3.1): NAL length size and the
/// parameter-set arrays.
fn parse_hvcc(b: &[u8]) -> Option<(usize, Vec<u8>)> {
    let mut c = Cursor(b);
    c.take(21)?;
    let len_size = usize::from(c.u8()? & 3) + 1;
    let arrays = c.u8()?;
    let mut out = Vec::new();
    for _ in 0..arrays {
        c.u8()?; // completeness + type
        let n = c.u16()?;
        c.nals(n, &mut out)?;
    }
    Some((len_size, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn avcc_gives_length_size_and_parameter_sets() {
        let avcc = [
            1, 0x4d, 0x40, 0x1e, 0xff, 0xe1, 0, 3, 0x67, 1, 2, 1, 0, 2, 0x68, 3,
        ];
        let (framing, ps) = parse_extradata(VideoCodec::H264, &avcc);
        assert_eq!(framing, Framing::Length(4));
        assert_eq!(ps, [0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3]);
        // Truncated: still length-prefixed, no parameter sets.
        assert_eq!(
            parse_extradata(VideoCodec::H264, &avcc[..10]),
            (Framing::Length(4), Vec::new())
        );
        let annexb = [0, 0, 0, 1, 0x67, 9];
        assert_eq!(
            parse_extradata(VideoCodec::H264, &annexb),
            (Framing::AnnexB, annexb.to_vec())
        );
        assert_eq!(
            parse_extradata(VideoCodec::H264, &[]),
            (Framing::AnnexB, Vec::new())
        );
    }

    #[test]
    fn hvcc_arrays_become_annexb() {
        let mut hvcc = vec![1u8; 21];
        hvcc.push(0xf3); // length size 4
        hvcc.push(2); // arrays
        hvcc.extend_from_slice(&[0x20, 0, 1, 0, 2, 0x40, 1]); // VPS
        hvcc.extend_from_slice(&[0x21, 0, 1, 0, 2, 0x42, 1]); // SPS
        let (framing, ps) = parse_extradata(VideoCodec::H265, &hvcc);
        assert_eq!(framing, Framing::Length(4));
        assert_eq!(ps, [0, 0, 0, 1, 0x40, 1, 0, 0, 0, 1, 0x42, 1]);
    }

    #[test]
    fn length_prefixed_to_annexb() {
        let data = [0, 0, 0, 2, 0x65, 1, 0, 0, 0, 1, 0x06, 0, 0, 0, 9, 1];
        assert_eq!(
            length_to_annexb(&data, 4),
            [0, 0, 0, 1, 0x65, 1, 0, 0, 0, 1, 0x06]
        );
        assert_eq!(length_to_annexb(&[0, 1, 0x41], 2), [0, 0, 0, 1, 0x41]);
    }

    #[test]
    fn timestamps_are_90k_continue_across_loops_and_b_frames_stop_the_tap() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        let setup = TapSetup {
            codec: VideoCodec::H264,
            extradata: Vec::new(),
            width: 4,
            height: 4,
            time_base: (1, 10_240),
            step_90k: 9000,
        };
        let mut tap = Tap::new(Box::new(move |e| g.lock().unwrap().push(e)), setup);
        let au = [0, 0, 0, 1, 0x65, 1];
        tap.unit(&au, Some(0), None, true);
        tap.unit(&au, Some(1024), Some(1024), false);
        tap.looped();
        tap.unit(&au, Some(0), None, true);
        tap.unit(&au, None, None, false);
        tap.unit(&au, Some(512), None, false); // backwards: B-frames
        tap.unit(&au, Some(4096), None, false); // ignored from now on
        let events = got.lock().unwrap();
        assert!(matches!(&events[0], EncodedEvent::Stream(s) if s.codec == VideoCodec::H264));
        let pts: Vec<i64> = events
            .iter()
            .filter_map(|e| match e {
                EncodedEvent::Unit(u) => Some(u.pts_90k),
                _ => None,
            })
            .collect();
        assert_eq!(pts, [0, 9000, 18_000, 27_000]);
        assert!(
            matches!(events.last(), Some(EncodedEvent::Unrecordable(r)) if r.contains("B-frames"))
        );
        assert_eq!(events.len(), 6);
    }

    #[test]
    fn reordered_decode_times_are_not_recordable() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        let setup = TapSetup {
            codec: VideoCodec::H265,
            extradata: Vec::new(),
            width: 0,
            height: 0,
            time_base: (1, 90_000),
            step_90k: 3000,
        };
        let mut tap = Tap::new(Box::new(move |e| g.lock().unwrap().push(e)), setup);
        tap.unit(&[0, 0, 1, 0x26, 1], Some(6000), Some(0), true);
        tap.unit(&[0, 0, 1, 0x02, 1], Some(3000), Some(3000), false);
        let events = got.lock().unwrap();
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(matches!(&events[1], EncodedEvent::Unrecordable(r) if r.contains("B-frames")));
    }

    #[test]
    fn only_h264_and_h265_are_recordable() {
        assert_eq!(recordable_codec("h264"), Ok(VideoCodec::H264));
        assert_eq!(recordable_codec("hevc"), Ok(VideoCodec::H265));
        let e = recordable_codec("mjpeg").unwrap_err();
        assert!(e.to_string().contains("mjpeg"), "{e}");
    }
}
