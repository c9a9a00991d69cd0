//! Foundations shared by every Osprey crate: error kinds, the stop token, the clock.
//!
//! Library errors are `thiserror` enums; each exposes an [`ErrorKind`] through [`Kinded`], and the
//! HTTP layer maps a kind to a status code in exactly one place (`osprey` server's `ApiError`).

mod ca;
mod clock;
mod fsutil;
mod shutdown;

pub use ca::{ca_bundle_pem, ca_certificates};
pub use clock::{rfc3339, unix_now, Clock, RealClock, SimClock};
pub use fsutil::write_atomically;
pub use shutdown::{Cancelled, Shutdown};

/// Locks a mutex, taking the data even if a thread panicked while holding it (the state a
/// panicking request left behind is still the best state there is; the server must not stop).
pub fn lock<T: ?Sized>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Read-locks an `RwLock`, poison-tolerant like [`lock`].
pub fn read_lock<T: ?Sized>(m: &std::sync::RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Write-locks an `RwLock`, poison-tolerant like [`lock`].
pub fn write_lock<T: ?Sized>(m: &std::sync::RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A coarse classification of failures, modelled on gRPC status codes.
///
/// Callers decide what to do (HTTP status, retry, exit code) from the kind alone, never from the
/// concrete error type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The caller supplied input that can never succeed (undecodable image, bad argument).
    InvalidArgument,
    /// The input is well formed but exceeds a configured limit (too many pixels, too many bytes).
    ResourceExhausted,
    /// A named thing (model, file, route) does not exist.
    NotFound,
    /// The operation is not supported in this build or on this machine (missing execution provider).
    Unimplemented,
    /// A dependency is temporarily unavailable (queue full, runtime not loaded); retrying may work.
    Unavailable,
    /// The configuration is inconsistent; a human must fix it.
    FailedPrecondition,
    /// A bug or an unexpected failure inside Osprey or ONNX Runtime.
    Internal,
}

impl ErrorKind {
    /// A short stable name, used in logs and in JSON error bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::ResourceExhausted => "resource_exhausted",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Unimplemented => "unimplemented",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::FailedPrecondition => "failed_precondition",
            ErrorKind::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Implemented by every library error so callers can classify it without matching variants.
pub trait Kinded {
    /// The kind of this error.
    fn kind(&self) -> ErrorKind;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_are_distinct_snake_case() {
        let all = [
            ErrorKind::InvalidArgument,
            ErrorKind::ResourceExhausted,
            ErrorKind::NotFound,
            ErrorKind::Unimplemented,
            ErrorKind::Unavailable,
            ErrorKind::FailedPrecondition,
            ErrorKind::Internal,
        ];
        let mut names: Vec<_> = all.iter().map(|k| k.as_str()).collect();
        assert!(names
            .iter()
            .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
    }
}
