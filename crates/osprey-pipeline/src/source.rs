//! The seam between the ingest loop and FFmpeg: a [`FrameSource`] is an open stream, a
//! [`SourceOpener`] opens one. The real ones wrap `osprey_video::Reader`; tests use fakes, so
//! the loop's decisions (sampling, reconnecting, counting) run without FFmpeg or sockets.

use std::time::Duration;

use osprey_image::RgbImage;
use osprey_video::{Reader, ReaderOptions, Source, StreamInfo, VideoError};

/// An open video stream, read frame by frame on the camera's decode thread.
pub trait FrameSource {
    /// Decodes the next frame: its presentation time in seconds (increasing), `None` at the end.
    fn next_frame(&mut self) -> Result<Option<f64>, VideoError>;
    /// The last decoded frame as RGB (only called for sampled frames).
    fn rgb(&mut self) -> Result<RgbImage, VideoError>;
    /// Video packets read so far.
    fn packets(&self) -> u64;
    /// Time spent decoding so far (no network waits, no pacing).
    fn decode_time(&self) -> Duration;
    /// Corrupt packets or frames so far, and the last decoder message.
    fn decode_errors(&self) -> (u64, Option<String>);
    /// The client reading the stream (`retina`, `ffmpeg`).
    fn client(&self) -> &'static str;
    /// Why RTSP fell back from retina to FFmpeg's client.
    fn fallback_reason(&self) -> Option<String>;
    /// The stream as opened.
    fn info(&self) -> StreamInfo;
}

/// Opens a camera's source (again, after an outage).
pub trait SourceOpener: Send + Sync {
    /// Opens with `opts`.
    fn open(&self, opts: ReaderOptions) -> Result<Box<dyn FrameSource>, VideoError>;
}

/// The real opener: FFmpeg or retina through `osprey_video::Reader`.
#[derive(Debug, Clone)]
pub struct VideoOpener {
    /// The source.
    pub source: Source,
}

impl SourceOpener for VideoOpener {
    fn open(&self, opts: ReaderOptions) -> Result<Box<dyn FrameSource>, VideoError> {
        Ok(Box::new(Reader::open(&self.source, opts)?))
    }
}

impl FrameSource for Reader {
    fn next_frame(&mut self) -> Result<Option<f64>, VideoError> {
        Ok(Reader::next_frame(self)?.map(|f| f.pts))
    }

    fn rgb(&mut self) -> Result<RgbImage, VideoError> {
        Reader::rgb(self)
    }

    fn packets(&self) -> u64 {
        Reader::packets(self)
    }

    fn decode_time(&self) -> Duration {
        Reader::decode_time(self)
    }

    fn decode_errors(&self) -> (u64, Option<String>) {
        let (n, last) = Reader::decode_errors(self);
        (n, last.map(str::to_string))
    }

    fn client(&self) -> &'static str {
        Reader::client(self)
    }

    fn fallback_reason(&self) -> Option<String> {
        Reader::fallback_reason(self).map(str::to_string)
    }

    fn info(&self) -> StreamInfo {
        Reader::info(self).clone()
    }
}
