//! One camera as configured (`[[cameras]]` in TOML, `POST /api/cameras` as JSON).

use osprey_base::{ErrorKind, Kinded};
use osprey_detect::DetectParams;
use osprey_video::{RtspClient, Source};
use serde::{Deserialize, Serialize};

/// One camera as configured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraSpec {
    /// Unique id: letters, digits, `-` and `_` (used in MQTT topics and Redis keys).
    pub id: String,
    /// `rtsp://…`, `http(s)://…` (MJPEG), a file path, or `ffmpeg:<anything FFmpeg opens>`.
    pub url: String,
    /// Frames per second to detect on (default: every frame).
    #[serde(default)]
    pub detect_fps: Option<f64>,
    /// Class names to track (default: all the model's classes).
    #[serde(default)]
    pub labels: Option<Vec<String>>,
    /// Detection score threshold (default 0.25).
    #[serde(default)]
    pub min_score: Option<f32>,
    /// Served model to use (default: the server's default model).
    #[serde(default)]
    pub model: Option<String>,
    /// Files: start again at the end (default true).
    #[serde(default, rename = "loop")]
    pub loop_file: Option<bool>,
    /// Files: read at the native frame rate like a camera (default true); false reads as fast
    /// as detection keeps up, waiting for it, so no sampled frame is dropped.
    #[serde(default)]
    pub realtime: Option<bool>,
    /// Seconds a lost track is kept for re-identification (default 3).
    #[serde(default)]
    pub lost_seconds: Option<f64>,
    /// RTSP client: `auto` (default: retina, FFmpeg's client for B-frame streams and what
    /// retina cannot play), `retina` or `ffmpeg`.
    #[serde(default)]
    pub rtsp_client: Option<String>,
    /// Recording: `off` (default), `continuous` (H.264/H.265 written as it arrives, no decode,
    /// no re-encode) or `events` (the same, kept only around tracked objects: 10 s before to
    /// 2 s after; docs/recording.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<RecordMode>,
    /// Most bytes of this camera's unprotected recordings kept (default: no limit but the
    /// disk watermark; `events` recordings are protected for `retain_days`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain_bytes: Option<u64>,
    /// Recordings older than this many days are deleted (default: no age limit; `events`
    /// clips: 10 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain_days: Option<f64>,
}

/// Whether and how a camera is recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordMode {
    /// Not recorded.
    #[default]
    Off,
    /// Everything, in ~60 s segments.
    Continuous,
    /// Around tracked objects only: written in ~10 s segments, those without an object (and its
    /// pre- and post-roll) deleted after a minute.
    Events,
}

/// Why a camera could not be added or found.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CameraError {
    /// The spec is invalid.
    #[error("{0}")]
    Invalid(String),
    /// A camera with this id exists.
    #[error("camera {0:?} already exists")]
    Exists(String),
    /// No camera with this id.
    #[error("no camera {0:?}")]
    NotFound(String),
    /// A thread could not be started.
    #[error("cannot start the camera's threads: {0}")]
    Thread(String),
}

impl Kinded for CameraError {
    fn kind(&self) -> ErrorKind {
        match self {
            CameraError::Invalid(_) => ErrorKind::InvalidArgument,
            CameraError::Exists(_) => ErrorKind::FailedPrecondition,
            CameraError::NotFound(_) => ErrorKind::NotFound,
            CameraError::Thread(_) => ErrorKind::Internal,
        }
    }
}

impl CameraSpec {
    /// Whether the camera is recorded.
    pub fn records(&self) -> bool {
        self.record.unwrap_or_default() != RecordMode::Off
    }

    /// Checks the fields (not the source's reachability).
    pub fn check(&self) -> Result<Source, CameraError> {
        let bad = |m: String| Err(CameraError::Invalid(m));
        if self.id.is_empty()
            || self.id.len() > 64
            || !self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return bad("id must be 1-64 letters, digits, '-' or '_'".into());
        }
        let source = Source::parse(&self.url).map_err(|e| CameraError::Invalid(e.to_string()))?;
        if let Some(d) = self.retain_days {
            if !(d.is_finite() && d > 0.0) {
                return bad(format!("retain_days {d} must be a positive number of days"));
            }
        }
        if self.retain_bytes == Some(0) {
            return bad("retain_bytes must be positive".into());
        }
        if let Some(f) = self.detect_fps {
            if !(f > 0.0 && f <= 240.0) {
                return bad(format!("detect_fps {f} is not in (0, 240]"));
            }
        }
        if let Some(s) = self.min_score {
            if !(0.0..=1.0).contains(&s) {
                return bad(format!("min_score {s} is not in 0..1"));
            }
        }
        if let Some(s) = self.lost_seconds {
            if !(s > 0.0 && s <= 3600.0) {
                return bad(format!("lost_seconds {s} is not in (0, 3600]"));
            }
        }
        self.client()?;
        Ok(source)
    }

    /// The RTSP client asked for.
    pub fn client(&self) -> Result<RtspClient, CameraError> {
        match self.rtsp_client.as_deref() {
            None => Ok(RtspClient::Auto),
            Some(c) => RtspClient::parse(c).ok_or_else(|| {
                CameraError::Invalid(format!("rtsp_client {c:?} is not auto, retina or ffmpeg"))
            }),
        }
    }

    /// Detection settings for a model with class `names`: the score threshold and the class
    /// ids of `labels` (case-insensitive).
    pub fn detect_params(&self, names: &[String]) -> DetectParams {
        let classes = self.labels.as_ref().map(|ls| {
            names
                .iter()
                .enumerate()
                .filter(|(_, n)| ls.iter().any(|l| l.eq_ignore_ascii_case(n)))
                .map(|(i, _)| i as u32)
                .collect::<Vec<u32>>()
        });
        DetectParams {
            conf: self.min_score.unwrap_or(0.25),
            classes,
            ..DetectParams::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_and_params() {
        let mut s = CameraSpec {
            id: "front".into(),
            url: "rtsp://10.0.0.5/stream".into(),
            labels: Some(vec!["Person".into(), "car".into()]),
            ..CameraSpec::default()
        };
        assert!(s.check().is_ok());
        let names: Vec<String> = ["person", "bicycle", "car"].map(String::from).to_vec();
        let p = s.detect_params(&names);
        assert_eq!(p.classes, Some(vec![0, 2]));
        assert!((p.conf - 0.25).abs() < 1e-6);
        s.detect_fps = Some(0.0);
        assert!(matches!(s.check(), Err(CameraError::Invalid(m)) if m.contains("detect_fps")));
        s.detect_fps = None;
        s.rtsp_client = Some("vlc".into());
        assert!(matches!(s.check(), Err(CameraError::Invalid(m)) if m.contains("rtsp_client")));
        s.rtsp_client = None;
        s.id = "a b".into();
        assert_eq!(
            s.check().map(|_| ()).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
    }
}
