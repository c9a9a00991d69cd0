//! The detector's error type.

use osprey_base::{ErrorKind, Kinded};
use osprey_image::DecodeError;

/// Everything that can go wrong loading a model or detecting objects.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// `libonnxruntime.so` could not be found or loaded.
    #[error("{0}")]
    RuntimeMissing(String),
    /// OpenVINO's library could not be found or loaded (one sentence naming the fix).
    #[error("{0}")]
    OpenVinoMissing(String),
    /// The precision asked for is not possible with this engine, CPU or model file.
    #[error("{0}")]
    PrecisionUnavailable(String),
    /// The model file does not exist or cannot be read.
    #[error("cannot read the model file {path}: {detail}")]
    ModelUnreadable {
        /// Path given.
        path: String,
        /// Reason.
        detail: String,
    },
    /// The model file is a TensorRT engine or another non-ONNX format.
    #[error("{0}")]
    NotOnnx(String),
    /// The model loads but its inputs or outputs are not a layout Osprey understands.
    #[error("unsupported model layout: {0}")]
    UnsupportedLayout(String),
    /// The requested execution provider is not in this ONNX Runtime build.
    #[error("the {provider} execution provider is not available in this ONNX Runtime build ({library}); {hint}")]
    ProviderUnavailable {
        /// Provider name.
        provider: String,
        /// Library loaded.
        library: String,
        /// What to do.
        hint: String,
    },
    /// A labels file could not be used.
    #[error("cannot use the labels file {path}: {detail}")]
    Labels {
        /// Path given.
        path: String,
        /// Reason.
        detail: String,
    },
    /// The image could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A detection parameter is out of range.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// The engine failed while creating the session or running the model.
    #[error("inference engine error: {0}")]
    Runtime(String),
}

impl From<ort::Error> for DetectError {
    fn from(e: ort::Error) -> Self {
        DetectError::Runtime(format!("ONNX Runtime: {e}"))
    }
}

impl Kinded for DetectError {
    fn kind(&self) -> ErrorKind {
        match self {
            DetectError::RuntimeMissing(_) | DetectError::OpenVinoMissing(_) => {
                ErrorKind::FailedPrecondition
            }
            DetectError::PrecisionUnavailable(_) => ErrorKind::FailedPrecondition,
            DetectError::ModelUnreadable { .. } => ErrorKind::NotFound,
            DetectError::NotOnnx(_)
            | DetectError::UnsupportedLayout(_)
            | DetectError::Labels { .. } => ErrorKind::FailedPrecondition,
            DetectError::ProviderUnavailable { .. } => ErrorKind::Unimplemented,
            DetectError::Decode(e) => e.kind(),
            DetectError::InvalidParameter(_) => ErrorKind::InvalidArgument,
            DetectError::Runtime(_) => ErrorKind::Internal,
        }
    }
}
