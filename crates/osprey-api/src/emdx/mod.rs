//! NVIDIA Metropolis (Jetson Platform Services "emdx" analytics) compatible routes under
//! `/emdx/api/v2`, `sensorId` = camera id: tripwire, ROI and alert-rule configuration, the
//! metrics (counts, occupancy, histograms), raw events and alerts. Writes need the API key when one is configured; reads do
//! not (as Metropolis clients send none).

mod alert_rules;
mod config;
mod events;
mod metrics;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;

/// The `/emdx/api/v2` routes.
pub fn routes() -> Router<Arc<AppState>> {
    config::routes()
        .merge(metrics::routes())
        .merge(events::routes())
        .merge(alert_rules::routes())
}

/// Refuses query parameters other than `allowed` (a typo must not silently widen a query).
fn only(q: &HashMap<String, String>, allowed: &[&str]) -> Result<(), ApiError> {
    let mut unknown: Vec<&str> = q
        .keys()
        .map(String::as_str)
        .filter(|k| !allowed.contains(k) && *k != "api_key")
        .collect();
    unknown.sort_unstable();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "unknown query parameter{} {}; this route takes {}",
            if unknown.len() > 1 { "s" } else { "" },
            unknown.join(", "),
            allowed.join(", ")
        )))
    }
}

/// `fromTimestamp` / `toTimestamp` as Unix ms: `to` defaults to now, `from` to `default_span_ms`
/// before `to`.
fn range(q: &HashMap<String, String>, default_span_ms: i64) -> Result<(i64, i64), ApiError> {
    let time = |k: &str| -> Result<Option<i64>, ApiError> {
        q.get(k)
            .map(|v| {
                osprey_store::parse_timestamp(v)
                    .map_err(|e| ApiError::BadRequest(format!("{k}: {e}")))
            })
            .transpose()
    };
    let to_ms = time("toTimestamp")?.unwrap_or((osprey_base::unix_now() * 1000.0) as i64);
    let from_ms = time("fromTimestamp")?.unwrap_or(to_ms.saturating_sub(default_span_ms));
    Ok((from_ms, to_ms))
}

/// The `sensorId` query parameter: a camera that exists.
fn sensor(state: &AppState, q: &HashMap<String, String>) -> Result<String, ApiError> {
    let id = q
        .get("sensorId")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::BadRequest("sensorId is required".into()))?;
    if state.cameras.get(id).is_none() {
        return Err(ApiError::NotFound(format!("no camera (sensor) {id:?}")));
    }
    Ok(id.clone())
}
