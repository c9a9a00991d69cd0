//! How a source is opened and what it is: the RTSP client choice, reader options, the
//! stream's description, and a decoded frame's place in it.
use std::time::Duration;

/// Which RTSP client reads `rtsp://` sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RtspClient {
    /// `retina` (H.264/H.265 over TCP interleaved); FFmpeg's client for what retina cannot
    /// play (other codecs, streams with B-frames, servers it rejects), said in the log.
    #[default]
    Auto,
    /// `retina` only.
    Retina,
    /// FFmpeg's RTSP client (TCP interleaved) only.
    Ffmpeg,
}

impl RtspClient {
    /// Parses `auto`, `retina` or `ffmpeg`.
    pub fn parse(s: &str) -> Option<RtspClient> {
        match s {
            "auto" => Some(RtspClient::Auto),
            "retina" => Some(RtspClient::Retina),
            "ffmpeg" => Some(RtspClient::Ffmpeg),
            _ => None,
        }
    }
}

/// How to open and read a source.
#[derive(Debug, Clone, Copy)]
pub struct ReaderOptions {
    /// Longest wait for the connection, and for data once connected (network sources).
    pub timeout: Duration,
    /// Pace files at their native frame rate (as a camera would deliver them) instead of reading
    /// them as fast as they decode.
    pub realtime: bool,
    /// Start files again from the beginning at their end.
    pub loop_file: bool,
    /// Decoder threads (0: FFmpeg picks; 1 suits many small streams on a few cores).
    pub decoder_threads: usize,
    /// The client for `rtsp://` sources.
    pub rtsp_client: RtspClient,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions {
            timeout: Duration::from_secs(5),
            realtime: false,
            loop_file: false,
            decoder_threads: 1,
            rtsp_client: RtspClient::Auto,
        }
    }
}

/// What the video stream is.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamInfo {
    /// Codec name (`h264`, `hevc`, `mjpeg`...).
    pub codec: String,
    /// Coded width.
    pub width: u32,
    /// Coded height.
    pub height: u32,
    /// Nominal frames per second, when the container says.
    pub fps: Option<f64>,
}

/// One decoded frame's place in the stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    /// 0-based number of the frame since the reader opened (keeps counting across file loops).
    pub index: u64,
    /// Presentation time in seconds since the first frame (keeps increasing across loops).
    pub pts: f64,
}
