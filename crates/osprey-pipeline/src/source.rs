//! The seam between the ingest loop and FFmpeg: a [`FrameSource`] is an open stream, a
//! [`SourceOpener`] opens one. The real ones wrap `osprey_video::Reader`; tests use fakes, so
//! the loop's decisions (sampling, reconnecting, counting) run without FFmpeg or sockets.

use std::time::Duration;

use std::sync::Arc;

use osprey_image::RgbImage;
use osprey_schema::media::EncodedEvent;
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

/// Where a camera's compressed stream goes (its live view, its recorder): a tap installed on
/// every reader the camera opens, so each reconnect starts a new stream for it.
pub trait StreamTap: Send + Sync {
    /// The callback for a reader just opened (runs on the decode thread; must not block).
    fn sink(&self) -> Box<dyn FnMut(EncodedEvent) + Send>;
}

/// Starts and stops the cameras' stream taps (the app's live views and recording).
pub trait StreamTaps: Send + Sync + std::fmt::Debug {
    /// The tap of a camera being added, or `None` for none; an error when the camera asks
    /// for what cannot be (recording not configured, a recorder that cannot start).
    fn start(&self, spec: &crate::CameraSpec) -> Result<Option<Arc<dyn StreamTap>>, String>;
    /// The camera was removed or the server stops.
    fn stop(&self, camera: &str);
}

/// The real opener: FFmpeg or retina through `osprey_video::Reader`, with the camera's stream
/// tap when it records.
#[derive(Clone)]
pub struct VideoOpener {
    /// The source.
    pub source: Source,
    /// Where the compressed stream goes.
    pub tap: Option<Arc<dyn StreamTap>>,
}

impl std::fmt::Debug for VideoOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoOpener")
            .field("source", &self.source)
            .field("tap", &self.tap.is_some())
            .finish()
    }
}

impl SourceOpener for VideoOpener {
    fn open(&self, opts: ReaderOptions) -> Result<Box<dyn FrameSource>, VideoError> {
        let mut reader = Reader::open(&self.source, opts)?;
        if let Some(tap) = &self.tap {
            if let Err(e) = reader.set_tap(tap.sink()) {
                // MJPEG, or a codec that cannot be recorded without transcoding: the tap
                // says so (the recorder's status, the live view's message).
                tracing::debug!(source = %self.source.redacted(), reason = %e.reason, "no access-unit tap for this stream");
                (tap.sink())(EncodedEvent::Unrecordable(e.reason));
            }
        }
        Ok(Box::new(reader))
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
