//! `GET /api/events`: object events from the store, newest first, filtered by camera, label
//! and time; `GET /api/events/{id}/clip.mp4`: the event's recorded video;
//! `GET /api/events/{id}/snapshot.jpg`: the frame of the event's best score (or a crop around
//! its box), written by the server beside the event database.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use osprey_store::{is_safe_name, EventQuery, EventRecord, EventStore, SnapshotKind};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::AppState;

/// The event routes.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/events", get(events))
        .route("/api/events/{id}/clip.mp4", get(clip))
        .route("/api/events/{id}/snapshot.jpg", get(snapshot))
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
) -> Result<Response, ApiError> {
    if state.recordings.is_none() {
        return Err(ApiError::NotFound(
            "recording is not configured on this server".into(),
        ));
    }
    let store = event_store(&state)?;
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
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
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
    let store = event_store(&state)?;
    let rows = tokio::task::spawn_blocking(move || {
        let rows = store.query(&query)?;
        Ok::<_, osprey_store::StoreError>(rows.iter().map(|r| row(&store, r)).collect::<Vec<_>>())
    })
    .await
    .map_err(|e| ApiError::Unavailable(format!("event query failed: {e}")))?
    .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Json(json!({ "events": rows })))
}

/// An event as listed: the stored row and whether its snapshot exists (one `stat`).
fn row(store: &EventStore, r: &EventRecord) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
    let has = store
        .snapshot_path(&r.camera, &r.id, SnapshotKind::Full)
        .is_some_and(|p| p.is_file());
    if let Value::Object(m) = &mut v {
        m.insert("has_snapshot".into(), Value::Bool(has));
    }
    v
}

/// `GET /api/events/{id}/snapshot.jpg[?crop=1]`: the JPEG of the frame where the event's object
/// had its best score, its box drawn (`crop=1`: a crop around the box). 404 for an unknown
/// event or one without a snapshot (yet); 503 without an event store.
async fn snapshot(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let kind = match q.get("crop").map(String::as_str) {
        None | Some("0" | "false") => SnapshotKind::Full,
        Some("1" | "true") => SnapshotKind::Crop,
        Some(v) => return Err(ApiError::BadRequest(format!("crop={v:?}: use 1 or 0"))),
    };
    let store = event_store(&state)?;
    // An id that cannot be a file name is no event's.
    if !is_safe_name(&id) {
        return Err(ApiError::NotFound(format!("no event {id:?}")));
    }
    let jpg = tokio::task::spawn_blocking(move || read_snapshot(&store, &id, kind))
        .await
        .map_err(|e| ApiError::Unavailable(format!("snapshot read failed: {e}")))??;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        jpg,
    )
        .into_response())
}

/// The event's snapshot file (blocking).
fn read_snapshot(store: &EventStore, id: &str, kind: SnapshotKind) -> Result<Vec<u8>, ApiError> {
    let event = store
        .get(id)
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
        .ok_or_else(|| ApiError::NotFound(format!("no event {id:?}")))?;
    let none = || ApiError::NotFound(format!("event {id:?} has no snapshot"));
    let path = store
        .snapshot_path(&event.camera, &event.id, kind)
        .ok_or_else(none)?;
    match std::fs::read(&path) {
        Ok(jpg) => Ok(jpg),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(none()),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read a snapshot");
            Err(ApiError::Unavailable(format!(
                "the snapshot of event {id:?} cannot be read"
            )))
        }
    }
}

/// The event store, or 503 when it is not enabled.
fn event_store(state: &AppState) -> Result<EventStore, ApiError> {
    state
        .events
        .clone()
        .ok_or_else(|| ApiError::Unavailable("the event store is not enabled".into()))
}
