//! Why an analytics store call failed.

use osprey_base::{ErrorKind, Kinded};

/// Why an analytics store call failed.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// A query parameter can never work (`param` is its API name, e.g. `bucketSizeInSec`).
    #[error("invalid {param}: {reason}")]
    InvalidArgument {
        /// The parameter's API name.
        param: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A timestamp is not ISO-8601 as accepted by [`crate::parse_timestamp`].
    #[error("invalid timestamp {text:?}: expected ISO-8601 such as 2026-12-02T10:00:00.000Z or 2026-12-02T12:00:00+02:00")]
    Timestamp {
        /// The text given.
        text: String,
    },
    /// The file was written by a newer Osprey (its schema version is higher than this build's).
    #[error("analytics store {path}: {reason}")]
    NewerSchema {
        /// Database file.
        path: String,
        /// The sentence naming both versions.
        reason: String,
    },
    /// SQLite said no.
    #[error("analytics store {path}: {source}")]
    Sqlite {
        /// Database file.
        path: String,
        /// Cause.
        source: rusqlite::Error,
    },
    /// The writer thread has stopped (or could not start).
    #[error("analytics store {path}: writer thread unavailable: {reason}")]
    Writer {
        /// Database file.
        path: String,
        /// What happened.
        reason: String,
    },
}

impl AnalyticsError {
    pub(crate) fn invalid(param: &'static str, reason: impl Into<String>) -> AnalyticsError {
        AnalyticsError::InvalidArgument {
            param,
            reason: reason.into(),
        }
    }
}

impl Kinded for AnalyticsError {
    fn kind(&self) -> ErrorKind {
        match self {
            AnalyticsError::InvalidArgument { .. } | AnalyticsError::Timestamp { .. } => {
                ErrorKind::InvalidArgument
            }
            AnalyticsError::NewerSchema { .. } => ErrorKind::FailedPrecondition,
            AnalyticsError::Sqlite { .. } | AnalyticsError::Writer { .. } => ErrorKind::Unavailable,
        }
    }
}
