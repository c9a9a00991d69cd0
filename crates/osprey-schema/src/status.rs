//! A camera's status as `GET /api/cameras` reports it.

use serde::{Deserialize, Serialize};

/// What a camera is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraPhase {
    /// Opening the source for the first time.
    Connecting,
    /// Frames are flowing.
    Connected,
    /// Lost the source; retrying with backoff.
    Reconnecting,
    /// A file ended (no looping).
    Ended,
    /// A permanent error (invalid URL); not retried.
    Failed,
    /// Removed or shutting down.
    Stopped,
}

/// The last source error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// Short kind: `bad_url`, `auth`, `open`, `no_video`, `read`, `corrupt`.
    pub kind: String,
    /// One sentence.
    pub message: String,
    /// When, RFC 3339 UTC.
    pub at: String,
}

/// The stream as opened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamView {
    /// Codec name (`h264`, `hevc`, `mjpeg`…).
    pub codec: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Nominal frame rate, when the source declares one.
    pub fps: Option<f64>,
    /// The client reading it (`retina`, `ffmpeg`).
    pub client: Option<String>,
    /// Why RTSP fell back from retina to FFmpeg's client.
    pub fallback_reason: Option<String>,
}

/// Frames per second over the last second or so.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    /// Video packets read.
    #[serde(rename = "in")]
    pub input: f64,
    /// Frames decoded.
    pub decoded: f64,
    /// Frames detected.
    pub detected: f64,
}

/// Frame counters since the camera started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameCounts {
    /// Video packets read.
    #[serde(rename = "in")]
    pub input: u64,
    /// Frames decoded.
    pub decoded: u64,
    /// Frames picked for detection.
    pub sampled: u64,
    /// Frames detected.
    pub detected: u64,
    /// Sampled frames never detected (replaced by a newer one, or refused at stop).
    pub dropped: u64,
}

/// The settings the camera runs with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpecView {
    /// Class names tracked (all when absent).
    pub labels: Option<Vec<String>>,
    /// Detection score threshold.
    pub min_score: Option<f32>,
    /// Files: loop at the end.
    #[serde(rename = "loop")]
    pub loop_file: Option<bool>,
    /// Files: paced at the native rate.
    pub realtime: Option<bool>,
    /// Seconds a lost track is kept.
    pub lost_seconds: Option<f64>,
    /// RTSP client asked for.
    pub rtsp_client: Option<String>,
}

/// Everything `GET /api/cameras/{id}` reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraStatus {
    /// Camera id.
    pub id: String,
    /// Source URL with the password redacted.
    pub url: String,
    /// Source kind: `rtsp`, `http`, `file`, `ffmpeg`.
    pub source: String,
    /// Model detecting its frames.
    pub model: String,
    /// Phase.
    pub state: CameraPhase,
    /// Whether frames are flowing.
    pub connected: bool,
    /// The stream, once opened.
    pub stream: Option<StreamView>,
    /// Detection rate asked for (every frame when absent).
    pub detect_fps: Option<f64>,
    /// Current rates.
    pub fps: Rates,
    /// Counters.
    pub frames: FrameCounts,
    /// Reconnections after the first connection.
    pub reconnects: u64,
    /// Times the source was lost.
    pub outages: u64,
    /// Seconds without the source in all.
    pub outage_seconds: f64,
    /// Confirmed tracks in the latest frame.
    pub tracks: usize,
    /// The last source error.
    pub last_error: Option<ErrorInfo>,
    /// Settings.
    pub spec: SpecView,
}
