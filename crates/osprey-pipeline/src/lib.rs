//! The camera pipeline: source → decode → sample → shared batched detection → tracking → a
//! typed [`osprey_schema::FrameResult`] per processed frame, handed to the sink the application
//! passes in. The pipeline knows no sinks, no wire formats and no analytics.
//!
//! ```text
//! per camera:  osprey-dec-<id> thread          osprey-cam-<id> thread
//!              open/reconnect (backoff)         Stage: letterbox → model worker (camera lane)
//!              read + decode every frame  ──▶          → ByteTrack → FrameResult
//!              Sampler (detect_fps), RGB  slot  FrameSink (the app's: analytics, bus, store)
//!              only for sampled frames          latest annotated frame (snapshot, MJPEG)
//!                                     (1 deep: a newer frame replaces an undetected one = drop)
//! ```
//!
//! Seams for tests: the [`FrameSource`]/[`SourceOpener`] traits (FFmpeg behind them in
//! production), the injected [`osprey_base::Clock`] and the [`osprey_base::Shutdown`] token,
//! so the ingest loop's sampling, reconnecting and drop counting run without FFmpeg, sockets or
//! the real clock.
#![forbid(clippy::print_stdout, clippy::print_stderr)]

mod camera;
mod ingest;
mod metrics;
pub mod sampler;
mod source;
mod spec;
mod stage;
mod supervisor;

pub use camera::{Camera, LatestTracks};
pub use metrics::{CameraMetrics, STAGES};
pub use sampler::{Backoff, Sampler};
pub use source::{FrameSource, SourceOpener, StreamTap, StreamTaps, VideoOpener};
pub use spec::{CameraError, CameraSpec, RecordMode};
pub use stage::{to_track, Stage, StageError, StageInput, StageTimes};
pub use supervisor::{Cameras, FrameSink, PipelineContext, SinkFactory};
