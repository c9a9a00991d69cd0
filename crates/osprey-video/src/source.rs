//! Source URLs.
use std::fmt;
use std::path::PathBuf;

use crate::VideoError;

/// What kind of source a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A local video file (`/path/clip.mp4`, `file:///path/clip.mkv`).
    File,
    /// An RTSP camera (`rtsp://` or `rtsps://`).
    Rtsp,
    /// An HTTP(S) MJPEG stream (`multipart/x-mixed-replace`).
    Mjpeg,
    /// Anything else FFmpeg opens (`ffmpeg:<url or path>`), passed through unchanged.
    Ffmpeg,
}

impl SourceKind {
    /// Lower-case name for status pages and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::File => "file",
            SourceKind::Rtsp => "rtsp",
            SourceKind::Mjpeg => "mjpeg",
            SourceKind::Ffmpeg => "ffmpeg",
        }
    }
}

/// A parsed source URL.
#[derive(Clone, PartialEq, Eq)]
pub struct Source {
    kind: SourceKind,
    /// What FFmpeg opens.
    target: String,
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Source({}, {})", self.kind.as_str(), self.redacted())
    }
}

impl Source {
    /// Parses `url`: `rtsp://`, `rtsps://`, `http(s)://` (MJPEG), `file://`, `ffmpeg:...`, or a
    /// plain path.
    pub fn parse(url: &str) -> Result<Source, VideoError> {
        let bad = |reason: &str| VideoError::BadUrl {
            url: redact(url),
            reason: reason.to_string(),
        };
        let url = url.trim();
        if url.is_empty() {
            return Err(bad("empty URL"));
        }
        if url.chars().any(|c| c.is_control()) {
            return Err(bad("control characters in URL"));
        }
        let lower = url.to_ascii_lowercase();
        let (kind, target) = if let Some(rest) = url.strip_prefix("ffmpeg:") {
            if rest.is_empty() {
                return Err(bad("nothing after ffmpeg:"));
            }
            (SourceKind::Ffmpeg, rest.to_string())
        } else if lower.starts_with("rtsp://") || lower.starts_with("rtsps://") {
            (SourceKind::Rtsp, url.to_string())
        } else if lower.starts_with("http://") || lower.starts_with("https://") {
            (SourceKind::Mjpeg, url.to_string())
        } else if let Some(path) = url.strip_prefix("file://") {
            (SourceKind::File, path.to_string())
        } else if lower.contains("://") {
            return Err(bad(
                "unknown scheme (use rtsp://, http(s):// for MJPEG, file paths, or ffmpeg:<anything FFmpeg opens>)",
            ));
        } else {
            (SourceKind::File, url.to_string())
        };
        if matches!(kind, SourceKind::Rtsp | SourceKind::Mjpeg) {
            let after = &target[target.find("://").map_or(0, |i| i + 3)..];
            let host = after.split(['/', '?']).next().unwrap_or("");
            let host = host.rsplit('@').next().unwrap_or("");
            if host.is_empty() {
                return Err(bad("no host in URL"));
            }
        }
        Ok(Source { kind, target })
    }

    /// The kind of source.
    pub fn kind(&self) -> SourceKind {
        self.kind
    }

    /// What FFmpeg opens (may contain credentials: never log it; use [`Source::redacted`]).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The file path for file sources.
    pub fn path(&self) -> Option<PathBuf> {
        (self.kind == SourceKind::File).then(|| PathBuf::from(&self.target))
    }

    /// The URL with any password replaced by `***`, for logs and status pages.
    pub fn redacted(&self) -> String {
        redact(&self.target)
    }
}

/// Replaces the password in `scheme://user:password@host/...` with `***`.
pub fn redact(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let authority_end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    let authority = &url[start..authority_end];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(at), Some(colon)) if colon < at => format!(
            "{}{}:***{}",
            &url[..start],
            &authority[..colon],
            &url[start + at..]
        ),
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let k = |u: &str| Source::parse(u).map(|s| s.kind());
        assert_eq!(k("rtsp://cam/stream"), Ok(SourceKind::Rtsp));
        assert_eq!(k("RTSPS://cam:322/x"), Ok(SourceKind::Rtsp));
        assert_eq!(k("http://cam/video.mjpg"), Ok(SourceKind::Mjpeg));
        assert_eq!(k("/videos/a.mp4"), Ok(SourceKind::File));
        assert_eq!(k("clip.mkv"), Ok(SourceKind::File));
        assert_eq!(
            Source::parse("file:///v/a.mp4").map(|s| s.path()),
            Ok(Some(PathBuf::from("/v/a.mp4")))
        );
        let f = Source::parse("ffmpeg:udp://239.0.0.1:1234").expect("ffmpeg");
        assert_eq!(f.kind(), SourceKind::Ffmpeg);
        assert_eq!(f.target(), "udp://239.0.0.1:1234");
    }

    #[test]
    fn bad_urls_are_rejected_with_a_reason() {
        for u in [
            "",
            "  ",
            "gopher://x/y",
            "rtsp://",
            "http:///x",
            "ffmpeg:",
            "a\nb",
        ] {
            let e = Source::parse(u).expect_err(u);
            assert_eq!(e.kind(), "bad_url", "{u:?}");
            assert!(!e.is_retryable());
        }
    }

    #[test]
    fn passwords_never_show() {
        let s = Source::parse("rtsp://admin:hunter2@10.0.0.5:554/h264?x=1").expect("rtsp");
        assert_eq!(s.redacted(), "rtsp://admin:***@10.0.0.5:554/h264?x=1");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(redact("rtsp://cam/a@b"), "rtsp://cam/a@b");
        assert_eq!(redact("rtsp://user@cam/x"), "rtsp://user@cam/x");
        let e = Source::parse("gopher://u:secret@x").expect_err("scheme");
        assert!(!e.to_string().contains("secret"), "{e}");
    }
}
