//! Video sources for Osprey, decoded with FFmpeg (`ffmpeg-next` over the system's libav*).
//!
//! A [`Source`] names where frames come from: a video file (optionally looped, paced at its
//! native rate or read as fast as possible), an RTSP camera (the `retina` client over TCP
//! interleaved for H.264/H.265, FFmpeg's client for B-frame streams and what retina cannot
//! play), an HTTP MJPEG stream (`multipart/x-mixed-replace`), or anything FFmpeg opens
//! (`ffmpeg:<url or path>`). A [`Reader`] opens it and yields decoded frames one at a time on the
//! calling thread (callers run it on a dedicated decode thread); only the frames the caller wants
//! are converted to RGB ([`Reader::rgb`]), so sampling at a lower detection rate skips the
//! colour conversion for the rest.
//!
//! For recording without transcoding, [`Reader::set_tap`] installs an *access-unit tap*: every
//! compressed H.264/H.265 access unit read is also handed, before decoding and without any
//! extra decode, to a callback as an [`osprey_schema::media::EncodedEvent`] (Annex B bytes,
//! 90 kHz pts, wall-clock arrival, keyframe flag; a `Stream` event first with the codec and the
//! parameter sets from the extradata or SDP). Readers without a tap pay nothing. Sources that
//! cannot be recorded (MJPEG and other codecs) get a [`NotRecordable`] reason; streams with
//! B-frames get an `Unrecordable` event.
//!
//! Every failure is a [`VideoError`] with a [`VideoError::kind`] short enough for a status page.
#![forbid(clippy::print_stdout, clippy::print_stderr)]

mod input;
mod options;
mod reader;
mod rtsp;
mod source;
mod tap;

pub use reader::{Frame, Reader, ReaderOptions, RtspClient, StreamInfo};
pub use source::{Source, SourceKind};
pub use tap::{NotRecordable, TapFn};

use ffmpeg_next as ff;

/// Why a source could not be opened or read.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum VideoError {
    /// The URL is not one Osprey understands.
    #[error("invalid source {url:?}: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server refused the credentials (HTTP/RTSP 401 or 403).
    #[error("authentication failed for {url}: {reason}")]
    Auth {
        /// URL without credentials.
        url: String,
        /// FFmpeg's message.
        reason: String,
    },
    /// The source could not be opened (not found, refused, timed out, not a video...).
    #[error("cannot open {url}: {reason}")]
    Open {
        /// URL without credentials.
        url: String,
        /// FFmpeg's message.
        reason: String,
    },
    /// The source has no video stream, or one FFmpeg cannot decode.
    #[error("{url}: {reason}")]
    NoVideo {
        /// URL without credentials.
        url: String,
        /// What was found instead.
        reason: String,
    },
    /// Reading stopped: the connection dropped or nothing arrived within the timeout.
    #[error("reading {url} failed: {reason}")]
    Read {
        /// URL without credentials.
        url: String,
        /// FFmpeg's message.
        reason: String,
    },
    /// Packets arrive but none decodes (corrupt bitstream).
    #[error("{url}: {reason}")]
    Corrupt {
        /// URL without credentials.
        url: String,
        /// What the decoder said.
        reason: String,
    },
}

impl VideoError {
    /// A short machine-readable kind: `bad_url`, `auth`, `open`, `no_video`, `read`, `corrupt`.
    pub fn kind(&self) -> &'static str {
        match self {
            VideoError::BadUrl { .. } => "bad_url",
            VideoError::Auth { .. } => "auth",
            VideoError::Open { .. } => "open",
            VideoError::NoVideo { .. } => "no_video",
            VideoError::Read { .. } => "read",
            VideoError::Corrupt { .. } => "corrupt",
        }
    }

    /// Whether retrying can help (a wrong URL or a file that is not a video will not change;
    /// a camera that is down or refuses credentials may).
    pub fn is_retryable(&self) -> bool {
        !matches!(self, VideoError::BadUrl { .. })
    }
}

/// Initialises FFmpeg once and quiets its own logging (errors reach callers as [`VideoError`]s).
pub fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Err(e) = ff::init() {
            tracing::error!(error = %e, "FFmpeg initialisation failed");
        }
        ff::util::log::set_level(ff::util::log::Level::Fatal);
    });
}

/// FFmpeg's version, e.g. `"5.1"` (libavformat major.minor mapped to the release).
pub fn ffmpeg_version() -> String {
    let v = ff::format::version();
    format!("libavformat {}.{}.{}", v >> 16, (v >> 8) & 0xff, v & 0xff)
}

impl osprey_base::Kinded for VideoError {
    fn kind(&self) -> osprey_base::ErrorKind {
        use osprey_base::ErrorKind as K;
        match self {
            VideoError::BadUrl { .. } => K::InvalidArgument,
            VideoError::Auth { .. } => K::FailedPrecondition,
            VideoError::NoVideo { .. } => K::NotFound,
            VideoError::Open { .. } | VideoError::Read { .. } | VideoError::Corrupt { .. } => {
                K::Unavailable
            }
        }
    }
}
