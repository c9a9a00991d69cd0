//! What a [`crate::Recorder`] reports: its phase and counters.

use std::time::{SystemTime, UNIX_EPOCH};

/// The recorder's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecorderPhase {
    /// Not recording: no stream yet, or stopped.
    #[default]
    Off,
    /// Writing segments (or waiting for the first keyframe of a stream).
    Recording,
    /// Writing failed (disk full, read-only, index error); retrying periodically.
    Error,
    /// The source cannot be recorded (not H.264/H.265, B-frames); the message says why.
    Unrecordable,
}

impl RecorderPhase {
    /// `off`, `recording`, `error` or `unrecordable`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecorderPhase::Off => "off",
            RecorderPhase::Recording => "recording",
            RecorderPhase::Error => "error",
            RecorderPhase::Unrecordable => "unrecordable",
        }
    }
}

/// A recorder's state and counters (totals since it started).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecorderStatus {
    /// The state.
    pub phase: RecorderPhase,
    /// Why (the error, or why the source is not recordable).
    pub message: Option<String>,
    /// The codec of the current stream (`h264`, `hevc`).
    pub codec: Option<String>,
    /// Access units that reached the recorder thread.
    pub units_received: u64,
    /// Access units dropped: queue full, error state, no recordable stream.
    pub units_dropped: u64,
    /// Segments finished.
    pub segments: u64,
    /// Bytes of finished segments.
    pub bytes: u64,
    /// Frames in finished segments.
    pub frames: u64,
    /// Write or index errors.
    pub errors: u64,
    /// The last error.
    pub last_error: Option<String>,
    /// When it happened, Unix ms.
    pub last_error_unix_ms: Option<i64>,
    /// Wall-clock end of the newest finished segment, Unix ms.
    pub last_segment_end_unix_ms: Option<i64>,
    /// Segments deleted by retention passes this recorder ran (any camera).
    pub deleted_segments: u64,
    /// Their bytes.
    pub deleted_bytes: u64,
    /// Free space seen at the last retention pass.
    pub disk_free_bytes: Option<u64>,
}

/// Now, Unix ms.
pub(crate) fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
