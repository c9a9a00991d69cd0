//! Recording: each recorded camera's readers feed its recorder in the library
//! (osprey-record); the library opens (and recovers) when recording is configured.

use std::sync::Arc;

use anyhow::Context;
use osprey_config::ServeConfig;
use osprey_pipeline::{CameraSpec, StreamTap, StreamTaps};
use osprey_record::{CameraQuota, Library, RecorderFeed};

/// Recording: each recorded camera's reader feeds its recorder in the library.
#[derive(Debug)]
pub(crate) struct Recording {
    pub(crate) library: Arc<Library>,
}

/// One camera's tap: every reader it opens sends to the same recorder feed.
struct FeedTap(RecorderFeed);

impl StreamTap for FeedTap {
    fn sink(&self) -> Box<dyn FnMut(osprey_schema::media::EncodedEvent) + Send> {
        let feed = self.0.clone();
        Box::new(move |ev| {
            feed.send(ev);
        })
    }
}

impl StreamTaps for Recording {
    fn start(&self, spec: &CameraSpec) -> Result<Option<Arc<dyn StreamTap>>, String> {
        let quota = CameraQuota {
            max_bytes: spec.retain_bytes,
            max_age_ms: spec.retain_days.map(|d| (d * 86_400_000.0) as i64),
        };
        let feed = self
            .library
            .start(&spec.id, quota)
            .map_err(|e| format!("cannot start recording: {e}"))?;
        tracing::info!(camera = %spec.id, retain_bytes = ?spec.retain_bytes, retain_days = ?spec.retain_days, "recording");
        Ok(Some(Arc::new(FeedTap(feed))))
    }

    fn stop(&self, camera: &str) {
        if let Some(last) = self.library.stop(camera) {
            tracing::info!(camera = %camera, segments = last.segments, bytes = last.bytes, "recording stopped");
        }
    }
}

/// Opens the recordings' index (recovering it after a crash) when recording is configured.
pub(crate) fn recordings(cfg: &ServeConfig) -> anyhow::Result<Option<Arc<Library>>> {
    let Some(r) = &cfg.recording else {
        return Ok(None);
    };
    let (library, report) = Library::open(&r.dir, r.min_free_bytes)
        .with_context(|| format!("opening the recordings in {}", r.dir.display()))?;
    tracing::info!(dir = %r.dir.display(), recovery = ?report, "recordings open");
    Ok(Some(Arc::new(library)))
}
