//! The crate's error type.

use osprey_base::{ErrorKind, Kinded};

/// Everything that can fail while parsing, writing or viewing recordings.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The bitstream is malformed (bad Annex B framing, truncated or unsupported SPS).
    #[error("invalid bitstream: {0}")]
    Bitstream(String),
    /// A segment file is not in the format this crate writes.
    #[error("invalid segment file {name}: {reason}")]
    BadSegment {
        /// The file (path or name).
        name: String,
        /// What was wrong.
        reason: String,
    },
    /// The request cannot be served (empty range, no segment covers it).
    #[error("invalid request: {0}")]
    Request(String),
    /// Storage failed (disk full, read-only file system, permission denied, I/O error).
    #[error("storage error during {op} of {name}: {source}")]
    Storage {
        /// The operation that failed (`create`, `write`, `sync`, `read`).
        op: &'static str,
        /// The file name.
        name: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The index was written by a newer Osprey (its schema version is higher than this build's).
    #[error(
        "the recordings index has schema version {found}, newer than this Osprey understands \
         ({known}); run the newer release, or restore a backup"
    )]
    NewerSchema {
        /// The version found.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// The recording index (SQLite) failed.
    #[error("recording index error during {op}: {source}")]
    Database {
        /// What was being done (`open`, `insert`, `query`, `delete`…).
        op: &'static str,
        /// The underlying error.
        #[source]
        source: rusqlite::Error,
    },
}

impl RecordError {
    pub(crate) fn bitstream(msg: impl Into<String>) -> Self {
        RecordError::Bitstream(msg.into())
    }

    pub(crate) fn db(op: &'static str) -> impl Fn(rusqlite::Error) -> RecordError {
        move |source| RecordError::Database { op, source }
    }

    pub(crate) fn storage(op: &'static str, name: &str, source: std::io::Error) -> Self {
        RecordError::Storage {
            op,
            name: name.to_owned(),
            source,
        }
    }
}

/// Classifies an I/O error: a full disk is `ResourceExhausted`, a read-only file system or a
/// permission problem is `FailedPrecondition` (a human must act), a missing file is `NotFound`,
/// anything else `Unavailable`.
pub fn io_kind(e: &std::io::Error) -> ErrorKind {
    use std::io::ErrorKind as Io;
    match e.kind() {
        Io::StorageFull | Io::QuotaExceeded | Io::FileTooLarge => ErrorKind::ResourceExhausted,
        Io::ReadOnlyFilesystem | Io::PermissionDenied | Io::AlreadyExists => {
            ErrorKind::FailedPrecondition
        }
        Io::NotFound => ErrorKind::NotFound,
        _ => match e.raw_os_error() {
            Some(28) | Some(122) => ErrorKind::ResourceExhausted, // ENOSPC, EDQUOT
            Some(30) | Some(13) | Some(1) => ErrorKind::FailedPrecondition, // EROFS, EACCES, EPERM
            _ => ErrorKind::Unavailable,
        },
    }
}

impl Kinded for RecordError {
    fn kind(&self) -> ErrorKind {
        match self {
            RecordError::Bitstream(_) | RecordError::Request(_) => ErrorKind::InvalidArgument,
            RecordError::BadSegment { .. } => ErrorKind::Internal,
            RecordError::NewerSchema { .. } => ErrorKind::FailedPrecondition,
            RecordError::Storage { source, .. } => io_kind(source),
            RecordError::Database { source, .. } => match source.sqlite_error_code() {
                Some(rusqlite::ErrorCode::DiskFull) => ErrorKind::ResourceExhausted,
                Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::PermissionDenied) => {
                    ErrorKind::FailedPrecondition
                }
                _ => ErrorKind::Unavailable,
            },
        }
    }
}
