//! Recorded video over HTTP (`docs/recording.md`): usage and storage status, timelines with
//! gaps and per-day totals, `view.mp4` built on the fly from the index (Range, ETag, the
//! segments pinned until the body is sent), protection and export, and the recording series
//! of `/metrics` (read from the [`osprey_record::Library`] at scrape time).
//!
//! With an API key configured every route here needs it (query `api_key`,
//! `Authorization: Bearer`, or `X-API-Key`), as the camera routes do.
//!
//! Times are ISO-8601 with a zone (`2026-12-02T10:00:00Z`, `…+02:00`) or Unix milliseconds.

mod metrics;
mod protect;
mod status;
mod timeline;
mod view;

use std::collections::HashMap;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use osprey_base::{ErrorKind, Kinded};
use osprey_record::{Library, RecordError};

use crate::error::ApiError;
use crate::state::AppState;

/// One day in ms.
pub(crate) const DAY_MS: i64 = 86_400_000;

/// The recording routes; registers the recording series in the server's registry when
/// recording is configured.
pub fn routes(state: &Arc<AppState>) -> Router<Arc<AppState>> {
    if let Some(lib) = &state.recordings {
        metrics::register(state.metrics.registry(), Arc::clone(lib));
    }
    Router::new()
        .route("/api/recordings", get(status::recordings))
        .route("/api/storage", get(status::storage))
        .route("/api/recordings/{camera}/timeline", get(timeline::timeline))
        .route("/api/recordings/{camera}/view.mp4", get(view::view))
        .route(
            "/api/recordings/{camera}/protect",
            post(protect::protect).delete(protect::unprotect),
        )
        .route("/api/recordings/{camera}/export", post(protect::export))
}

/// The library, or 503 when recording is not configured.
fn library(state: &AppState) -> Result<Arc<Library>, ApiError> {
    state
        .recordings
        .clone()
        .ok_or_else(|| ApiError::Unavailable("recording is not configured".into()))
}

/// Refuses a camera name that cannot have recordings, and one the server has never heard of
/// (no recordings, no recorder, no camera).
fn known_camera(state: &AppState, lib: &Library, camera: &str) -> Result<(), ApiError> {
    if !osprey_record::index::valid_camera_name(camera) {
        return Err(ApiError::BadRequest(format!(
            "{camera:?} is not a camera name (1-64 of A-Z a-z 0-9 . _ -)"
        )));
    }
    let known = state.cameras.get(camera).is_some()
        || lib.status(camera).is_some()
        || lib.quotas().cameras.contains_key(camera)
        || lib.index().usage(camera).is_ok_and(|u| u.segments > 0);
    if known {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!(
            "camera {camera:?} has no recordings"
        )))
    }
}

/// A recording-library error as an HTTP error.
fn record_error(e: &RecordError) -> ApiError {
    let msg = e.to_string();
    match e.kind() {
        ErrorKind::InvalidArgument => ApiError::BadRequest(msg),
        ErrorKind::NotFound => ApiError::NotFound(msg),
        _ => ApiError::Unavailable(msg),
    }
}

/// Runs blocking index work (SQLite, file reads) off the runtime's threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Unavailable(format!("recording task failed: {e}")))?
}

/// Now, Unix ms.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Unix ms as ISO-8601 UTC (`2026-12-02T10:00:00.000Z`).
fn iso(ms: i64) -> String {
    osprey_store::format_timestamp(ms)
}

/// A time parameter: Unix milliseconds, or ISO-8601 with a zone. A `+` that the query string
/// turned into a space is put back.
pub(crate) fn parse_time(name: &str, text: &str) -> Result<i64, ApiError> {
    let t = text.trim_start().replace(' ', "+");
    if !t.is_empty()
        && t.trim_start_matches('-')
            .bytes()
            .all(|b| b.is_ascii_digit())
    {
        return t.parse::<i64>().map_err(|_| time_error(name, text));
    }
    osprey_store::parse_timestamp(&t).map_err(|_| time_error(name, text))
}

fn time_error(name: &str, text: &str) -> ApiError {
    ApiError::BadRequest(format!(
        "{name}={text:?} is neither Unix milliseconds nor an ISO-8601 time with a zone \
         (2026-12-02T10:00:00Z, 2026-12-02T12:00:00+02:00)"
    ))
}

/// An optional time parameter.
fn time_param(q: &HashMap<String, String>, name: &str) -> Result<Option<i64>, ApiError> {
    q.get(name).map(|v| parse_time(name, v)).transpose()
}

/// `start` and `end`, both required, `start < end`.
fn required_range(q: &HashMap<String, String>) -> Result<(i64, i64), ApiError> {
    let need = |name: &str| {
        time_param(q, name)?
            .ok_or_else(|| ApiError::BadRequest(format!("the {name} parameter is required")))
    };
    let (start, end) = (need("start")?, need("end")?);
    check_order(start, end)?;
    Ok((start, end))
}

fn check_order(start: i64, end: i64) -> Result<(), ApiError> {
    if start >= end {
        return Err(ApiError::BadRequest(format!(
            "the range is empty or inverted: start {} is not before end {}",
            iso(start),
            iso(end)
        )));
    }
    Ok(())
}

/// A UTC offset (`Z`, `+02:00`, `-0530`, `+2`) in ms; a leading space is a `+` the query
/// string decoded.
fn parse_tz(text: &str) -> Result<i64, ApiError> {
    let bad = || {
        ApiError::BadRequest(format!(
            "tz={text:?} is not a UTC offset (Z, +02:00, -05:30)"
        ))
    };
    let t = text.trim_end();
    if t.eq_ignore_ascii_case("z") || t.eq_ignore_ascii_case("utc") {
        return Ok(0);
    }
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+' | b' ') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => return Err(bad()),
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let (h, m) = match digits.len() {
        1 | 2 => (digits.parse::<i64>().map_err(|_| bad())?, 0),
        _ => {
            let split = digits.len() - 2;
            let h = digits[..split].parse::<i64>().map_err(|_| bad())?;
            (h, digits[split..].parse::<i64>().map_err(|_| bad())?)
        }
    };
    if h > 14 || m > 59 {
        return Err(bad());
    }
    Ok(sign * (h * 3_600_000 + m * 60_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_unix_ms_or_iso() {
        assert_eq!(
            parse_time("t", "1700000000000").ok(),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            parse_time("t", "2023-11-14T22:13:20Z").ok(),
            Some(1_700_000_000_000)
        );
        // `+` decoded to a space by the query string.
        assert_eq!(
            parse_time("t", "2023-11-15T00:13:20 02:00").ok(),
            Some(1_700_000_000_000)
        );
        assert!(parse_time("t", "yesterday").is_err());
        assert!(parse_time("t", "2023-11-14T22:13:20").is_err());
    }

    #[test]
    fn offsets_parse() {
        const H: i64 = 3_600_000;
        assert_eq!(parse_tz("+02:00").ok(), Some(2 * H));
        assert_eq!(parse_tz(" 02:00").ok(), Some(2 * H));
        assert_eq!(parse_tz("-05:30").ok(), Some(-5 * H - 30 * 60_000));
        assert_eq!(parse_tz("+0530").ok(), Some(5 * H + 30 * 60_000));
        assert_eq!(parse_tz("Z").ok(), Some(0));
        assert_eq!(parse_tz("+3").ok(), Some(3 * H));
        assert!(parse_tz("02:00").is_err());
        assert!(parse_tz("+25:00").is_err());
    }
}
