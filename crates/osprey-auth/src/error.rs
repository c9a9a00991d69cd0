//! The auth crate's error.

use osprey_base::{ErrorKind, Kinded};

/// A failure of the auth store or its inputs.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A bad name, role, password or duration.
    #[error("{0}")]
    Invalid(String),
    /// No such user or key.
    #[error("{0}")]
    NotFound(String),
    /// The user exists already.
    #[error("{0}")]
    Exists(String),
    /// The database.
    #[error("auth database {path}: {source}")]
    Db {
        /// The file.
        path: String,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The database was written by a newer Osprey.
    #[error("auth database {path} has schema version {found}; this Osprey knows up to {known}: upgrade Osprey or restore a backup")]
    NewerSchema {
        /// The file.
        path: String,
        /// Its version.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
    /// Hashing failed (out of memory) or no randomness.
    #[error("{0}")]
    Crypto(String),
}

impl Kinded for AuthError {
    fn kind(&self) -> ErrorKind {
        match self {
            AuthError::Invalid(_) => ErrorKind::InvalidArgument,
            AuthError::NotFound(_) => ErrorKind::NotFound,
            AuthError::Exists(_) => ErrorKind::FailedPrecondition,
            AuthError::Db { .. } | AuthError::Crypto(_) => ErrorKind::Internal,
            AuthError::NewerSchema { .. } => ErrorKind::FailedPrecondition,
        }
    }
}
