//! The inference service: every served model loaded once, each owned by one worker thread
//! (`osprey-infer-<model>`) fed by two bounded lanes (HTTP requests first, camera frames
//! second), micro-batching dynamic-batch models; with several inferences in flight
//! (`--streams`), one thread per throughput request of a fixed-batch model (`pool`). Front-ends (the HTTP API, the camera
//! pipeline, the CLI) hold cheap [`ModelHandle`]s and get replies through oneshot channels.
#![forbid(clippy::print_stdout, clippy::print_stderr)]

mod pool;
mod registry;
pub mod worker;

pub use registry::{model_files, InferConfig, InferMetrics, LoadError, Models};
pub use worker::{BatchConfig, JobOutput, Lane, ModelHandle, Reply, SubmitError, WorkerStats};
