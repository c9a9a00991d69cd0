//! Compressed video as it arrives from a camera, before any decode: the messages of the
//! access-unit tap (`osprey-video`'s `Reader::set_tap`) that the recorder (`osprey-record`)
//! consumes. No I/O.

/// The codecs a stream can be recorded in without transcoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    /// H.264 / AVC.
    H264,
    /// H.265 / HEVC.
    H265,
}

impl VideoCodec {
    /// `h264` or `hevc` (FFmpeg's names).
    pub fn as_str(self) -> &'static str {
        match self {
            VideoCodec::H264 => "h264",
            VideoCodec::H265 => "hevc",
        }
    }
}

/// A new (or restarted) compressed stream: sent before its first access unit, and again when
/// the source reconnects, switches RTSP client or loops a file. Timestamps of the units that
/// follow may restart; a consumer should treat it as a discontinuity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedStream {
    /// The codec.
    pub codec: VideoCodec,
    /// The out-of-band parameter sets (VPS, SPS, PPS), each as an Annex B NAL unit with a
    /// 4-byte start code; empty when the source only sends them in band.
    pub parameter_sets: Vec<u8>,
    /// Coded width (0 when unknown).
    pub width: u32,
    /// Coded height (0 when unknown).
    pub height: u32,
}

/// One compressed access unit (one picture) as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedUnit {
    /// Annex B bytes (start codes; in-band parameter sets and delimiters as the source sent
    /// them).
    pub data: Vec<u8>,
    /// Presentation time, 90 kHz, increasing within one [`EncodedStream`] (streams with
    /// B-frames are not tapped).
    pub pts_90k: i64,
    /// Wall-clock time the unit arrived, Unix milliseconds.
    pub wall_unix_ms: i64,
    /// Whether the unit is a random-access point (IDR / IRAP), as the demuxer flagged it.
    pub keyframe: bool,
}

/// What the access-unit tap delivers, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodedEvent {
    /// A stream starts (or restarts).
    Stream(EncodedStream),
    /// An access unit of the current stream.
    Unit(EncodedUnit),
    /// The source cannot be recorded from here on (the reason says why); no units follow
    /// until the next [`EncodedEvent::Stream`].
    Unrecordable(String),
}
