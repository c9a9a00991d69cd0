//! YOLO object detection on ONNX Runtime or OpenVINO with Ultralytics-exact pre- and
//! post-processing.
//!
//! ```text
//! bytes ─decode─▶ RgbImage ─Preprocessor─▶ Prepared ─Detector::infer─▶ Vec<Detection>
//! ```
//! The [`Detector`] owns one ONNX Runtime session or one OpenVINO infer request; it is `Send` but not meant to be shared:
//! give it to one thread and feed it [`Prepared`] images (see the server's inference worker).
#![forbid(clippy::print_stdout, clippy::print_stderr)]

mod engine;
mod error;
pub mod eval;
pub mod layout;
pub mod metadata;
pub mod model;
pub mod names;
mod options;
mod ort_backend;
mod ov_backend;
pub mod ov_runtime;
pub mod postprocess;
mod runner;
pub mod runtime;

pub use engine::{Detector, Prepared, Preprocessor, StageTimings};
pub use error::DetectError;
pub use layout::OutputLayout;
pub use model::{BatchAxis, ModelInfo};
pub use options::{
    parse_streams, streams_label, Engine, EngineOptions, Precision, Provider, Streams,
};
pub use postprocess::{iou, DetectParams, Detection};
pub use runner::Runner;
