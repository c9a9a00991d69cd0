//! `GET /api/events`: object events from the store, newest first, filtered by camera, label
//! and time; `GET /api/events/{id}/clip.mp4`: the event's recorded video.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use osprey_store::EventQuery;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::AppState;
use crate::vision::auth;

/// The event routes.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/events", get(events))
        .route("/api/events/{id}/clip.mp4", get(clip))
}

/// Seconds of video before an event's start and after its end in its clip.
const PRE_ROLL_S: f64 = 5.0;
const POST_ROLL_S: f64 = 2.0;

/// `GET /api/events/{id}/clip.mp4`: a redirect (307) to the camera's recording from 5 s before
/// the event to 2 s after it (an event still open: until now), played by
/// `/api/recordings/{camera}/view.mp4`.
async fn clip(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    auth(&state, &headers, &q)?;
    if state.recordings.is_none() {
        return Err(ApiError::NotFound(
            "recording is not configured on this server".into(),
        ));
    }
    let store = state
        .events
        .clone()
        .ok_or_else(|| ApiError::Unavailable("the event store is not enabled".into()))?;
    let key = id.clone();
    let event = tokio::task::spawn_blocking(move || store.get(&key))
        .await
        .map_err(|e| ApiError::Unavailable(format!("event query failed: {e}")))?
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
        .ok_or_else(|| ApiError::NotFound(format!("no event {id:?}")))?;
    let end = event.end_time.unwrap_or_else(osprey_base::unix_now);
    let ms = |t: f64| (t * 1000.0).round() as i64;
    let location = format!(
        "/api/recordings/{}/view.mp4?start={}&end={}",
        event.camera,
        ms(event.start_time - PRE_ROLL_S),
        ms(end + POST_ROLL_S)
    );
    Ok((
        StatusCode::TEMPORARY_REDIRECT,
        [(header::LOCATION, location)],
    )
        .into_response())
}

async fn events(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    auth(&state, &headers, &q)?;
    let num = |k: &str| -> Result<Option<f64>, ApiError> {
        q.get(k)
            .map(|v| {
                v.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!("{k}={v:?} is not a unix time in seconds"))
                    })
            })
            .transpose()
    };
    let limit = match q.get("limit") {
        None => 100,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| ApiError::BadRequest(format!("limit={v:?} is not in 1..10000")))?,
    };
    let query = EventQuery {
        camera: q.get("camera").cloned(),
        label: q.get("label").cloned(),
        after: num("after")?,
        before: num("before")?,
        limit,
        id: None,
    };
    let Some(store) = state.events.clone() else {
        return Err(ApiError::Unavailable(
            "the event store is not enabled".into(),
        ));
    };
    let rows = tokio::task::spawn_blocking(move || store.query(&query))
        .await
        .map_err(|e| ApiError::Unavailable(format!("event query failed: {e}")))?
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Json(json!({ "events": rows })))
}
