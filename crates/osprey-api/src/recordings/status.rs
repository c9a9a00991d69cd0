//! `GET /api/recordings` (per camera: usage, limits, the recorder's state and counters; the
//! disk) and `GET /api/storage` (VST-shaped: per stream bytes, oldest/newest, days retained,
//! quota; disk total/free; estimated remaining days from the recent write rate).

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use osprey_record::{CameraQuota, CameraUsage, Library, RecorderStatus};
use serde_json::{json, Value};

use super::{blocking, iso, now_ms, record_error, DAY_MS};
use crate::error::ApiError;
use crate::state::AppState;

/// How far back the write rate is measured.
const RATE_WINDOW_MS: i64 = DAY_MS;

/// What one camera has on disk and may keep.
struct CameraReport {
    camera: String,
    usage: CameraUsage,
    quota: CameraQuota,
    status: Option<RecorderStatus>,
    /// Bytes per day written over the last day (or since the oldest recording, if younger).
    rate_per_day: Option<f64>,
}

/// Everything both routes report, read in one blocking pass.
struct Report {
    cameras: Vec<CameraReport>,
    disk_total: Option<u64>,
    disk_free: Option<u64>,
    min_free: Option<u64>,
    root: String,
    pinned: usize,
}

fn gather(lib: &Library, now: i64) -> Result<Report, ApiError> {
    let index = lib.index();
    let quotas = lib.quotas();
    let statuses = lib.statuses();
    let mut names: BTreeSet<String> = index
        .cameras()
        .map_err(|e| record_error(&e))?
        .into_iter()
        .collect();
    names.extend(statuses.keys().cloned());
    names.extend(quotas.cameras.keys().cloned());
    let mut cameras = Vec::with_capacity(names.len());
    for camera in names {
        let usage = index.usage(&camera).map_err(|e| record_error(&e))?;
        let rate_per_day = write_rate(lib, &camera, &usage, now)?;
        cameras.push(CameraReport {
            quota: quotas.camera(&camera),
            status: statuses.get(&camera).cloned(),
            usage,
            rate_per_day,
            camera,
        });
    }
    let (disk_total, disk_free) = match osprey_record::disk_space(index.root()) {
        Some((t, f)) => (Some(t), Some(f)),
        None => (None, None),
    };
    Ok(Report {
        cameras,
        disk_total,
        disk_free,
        min_free: quotas.min_free_bytes,
        root: index.root().display().to_string(),
        pinned: index.pins().len(),
    })
}

/// Bytes per day `camera` wrote over the last [`RATE_WINDOW_MS`] (measured over its recorded
/// span when that is shorter, at least a minute); `None` with nothing recorded recently.
fn write_rate(
    lib: &Library,
    camera: &str,
    usage: &CameraUsage,
    now: i64,
) -> Result<Option<f64>, ApiError> {
    let (Some(oldest), Some(_)) = (usage.oldest_wall_ms, usage.newest_wall_ms) else {
        return Ok(None);
    };
    // Counted per hour of the segments' starts: the window begins on the hour before
    // `now - RATE_WINDOW_MS`, and the rate divides by its true length.
    let (bytes, from) = lib
        .index()
        .bytes_since(camera, now - RATE_WINDOW_MS)
        .map_err(|e| record_error(&e))?;
    if bytes == 0 {
        return Ok(None);
    }
    let span = (now - oldest.max(from)).max(60_000);
    Ok(Some(bytes as f64 * DAY_MS as f64 / span as f64))
}

fn quota_json(q: &CameraQuota) -> Value {
    json!({
        "max_bytes": q.max_bytes,
        "max_age_days": q.max_age_ms.map(|ms| ms as f64 / DAY_MS as f64),
    })
}

fn recorder_json(s: &RecorderStatus) -> Value {
    json!({
        "phase": s.phase.as_str(),
        "message": s.message,
        "codec": s.codec,
        "units_received": s.units_received,
        "units_dropped": s.units_dropped,
        "segments": s.segments,
        "bytes": s.bytes,
        "frames": s.frames,
        "errors": s.errors,
        "last_error": s.last_error,
        "last_error_at": s.last_error_unix_ms.map(iso),
        "last_segment_end": s.last_segment_end_unix_ms.map(iso),
        "deleted_segments": s.deleted_segments,
        "deleted_bytes": s.deleted_bytes,
    })
}

fn disk_json(r: &Report) -> Value {
    json!({
        "root": r.root,
        "total_bytes": r.disk_total,
        "free_bytes": r.disk_free,
        "min_free_bytes": r.min_free,
    })
}

fn camera_json(c: &CameraReport) -> Value {
    let u = &c.usage;
    json!({
        "camera": c.camera,
        "bytes": u.bytes,
        "segments": u.segments,
        "oldest": u.oldest_wall_ms.map(iso),
        "newest": u.newest_wall_ms.map(iso),
        "oldest_unix_ms": u.oldest_wall_ms,
        "newest_unix_ms": u.newest_wall_ms,
        "quota": quota_json(&c.quota),
        "recorder": c.status.as_ref().map_or_else(
            || json!({ "phase": "off", "message": "no recorder is running for this camera" }),
            recorder_json,
        ),
    })
}

/// `GET /api/recordings`.
pub(super) async fn recordings(
    State(state): State<Arc<AppState>>,
) -> Result<Json<Value>, ApiError> {
    let Some(lib) = state.recordings.clone() else {
        return Ok(Json(json!({ "enabled": false, "cameras": [] })));
    };
    let r = blocking(move || gather(&lib, now_ms())).await?;
    Ok(Json(json!({
        "enabled": true,
        "disk": disk_json(&r),
        "pinned_segments": r.pinned,
        "cameras": r.cameras.iter().map(camera_json).collect::<Vec<_>>(),
    })))
}

fn days(ms: i64) -> f64 {
    (ms as f64 / DAY_MS as f64 * 100.0).round() / 100.0
}

fn stream_json(c: &CameraReport) -> Value {
    let u = &c.usage;
    let retained = match (u.oldest_wall_ms, u.newest_wall_ms) {
        (Some(o), Some(n)) => days(n - o),
        _ => 0.0,
    };
    json!({
        "sensorId": c.camera,
        "recordingState": c.status.as_ref().map_or("off", |s| s.phase.as_str()),
        "sizeBytes": u.bytes,
        "segments": u.segments,
        "oldest": u.oldest_wall_ms.map(iso),
        "newest": u.newest_wall_ms.map(iso),
        "daysRetained": retained,
        "quotaBytes": c.quota.max_bytes,
        "maxAgeDays": c.quota.max_age_ms.map(days),
        "writeRateBytesPerDay": c.rate_per_day.map(f64::round),
    })
}

/// Days until the free space falls to the watermark at the current total write rate.
fn remaining_days(r: &Report) -> Option<f64> {
    let rate: f64 = r.cameras.iter().filter_map(|c| c.rate_per_day).sum();
    let free = r.disk_free? as f64 - r.min_free.unwrap_or(0) as f64;
    (rate > 0.0).then(|| (free.max(0.0) / rate * 100.0).round() / 100.0)
}

/// `GET /api/storage`.
pub(super) async fn storage(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let Some(lib) = state.recordings.clone() else {
        return Ok(Json(json!({ "enabled": false, "streams": [] })));
    };
    let r = blocking(move || gather(&lib, now_ms())).await?;
    let used: u64 = r.cameras.iter().map(|c| c.usage.bytes).sum();
    let rate: f64 = r.cameras.iter().filter_map(|c| c.rate_per_day).sum();
    Ok(Json(json!({
        "enabled": true,
        "totalDiskBytes": r.disk_total,
        "freeDiskBytes": r.disk_free,
        "minFreeBytes": r.min_free,
        "usedBytes": used,
        "writeRateBytesPerDay": rate.round(),
        "remainingStorageDays": remaining_days(&r),
        "streams": r.cameras.iter().map(stream_json).collect::<Vec<_>>(),
    })))
}
