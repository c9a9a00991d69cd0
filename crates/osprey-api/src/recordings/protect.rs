//! Protection from retention: `POST /api/recordings/{camera}/protect?start=&end=[&until=]`,
//! `DELETE` of the same (unprotect), and `POST /api/recordings/{camera}/export?start=&end=`
//! (protect, then answer the `view.mp4` URL of the range).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::Json;
use serde_json::{json, Value};

use super::{
    blocking, iso, known_camera, library, now_ms, record_error, required_range, time_param,
};
use crate::error::ApiError;
use crate::state::AppState;

/// `until`: a time in the future, or absent for ever (`i64::MAX`).
fn until(q: &HashMap<String, String>, now: i64) -> Result<i64, ApiError> {
    match time_param(q, "until")? {
        None => Ok(i64::MAX),
        Some(u) if u <= now => Err(ApiError::BadRequest(format!(
            "until {} is not in the future",
            iso(u)
        ))),
        Some(u) => Ok(u),
    }
}

fn until_json(until: Option<i64>) -> Value {
    match until {
        Some(i64::MAX) | None => Value::Null,
        Some(u) => json!(iso(u)),
    }
}

/// Sets (or with `None` clears) the protection of the range; 404 when no segment is in it.
async fn apply(
    state: &Arc<AppState>,
    camera: String,
    q: &HashMap<String, String>,
    until: Option<i64>,
) -> Result<(i64, i64, usize), ApiError> {
    let lib = library(state)?;
    let (start, end) = required_range(q)?;
    let st = Arc::clone(state);
    let changed = blocking(move || {
        known_camera(&st, &lib, &camera)?;
        let n = lib
            .index()
            .protect(&camera, start, end, until)
            .map_err(|e| record_error(&e))?;
        if n == 0 {
            return Err(ApiError::NotFound(format!(
                "camera {camera:?} has no recording between {} and {}",
                iso(start),
                iso(end)
            )));
        }
        Ok(n)
    })
    .await?;
    Ok((start, end, changed))
}

/// `POST /api/recordings/{camera}/protect`.
pub(super) async fn protect(
    State(state): State<Arc<AppState>>,
    Path(camera): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let u = until(&q, now_ms())?;
    let (start, end, n) = apply(&state, camera.clone(), &q, Some(u)).await?;
    Ok(Json(json!({
        "camera": camera,
        "start": iso(start),
        "end": iso(end),
        "protected": true,
        "until": until_json(Some(u)),
        "segments": n,
    })))
}

/// `DELETE /api/recordings/{camera}/protect`.
pub(super) async fn unprotect(
    State(state): State<Arc<AppState>>,
    Path(camera): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let (start, end, n) = apply(&state, camera.clone(), &q, None).await?;
    Ok(Json(json!({
        "camera": camera,
        "start": iso(start),
        "end": iso(end),
        "protected": false,
        "segments": n,
    })))
}

/// `POST /api/recordings/{camera}/export`: protects the range and answers its `view.mp4`.
pub(super) async fn export(
    State(state): State<Arc<AppState>>,
    Path(camera): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let u = until(&q, now_ms())?;
    let (start, end, n) = apply(&state, camera.clone(), &q, Some(u)).await?;
    Ok(Json(json!({
        "camera": camera,
        "start": iso(start),
        "end": iso(end),
        "until": until_json(Some(u)),
        "segments": n,
        "url": format!("/api/recordings/{camera}/view.mp4?start={start}&end={end}"),
    })))
}
