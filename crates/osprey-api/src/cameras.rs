//! REST for cameras: `/api/cameras`, `/api/cameras/{id}`, its `snapshot.jpg` and
//! `stream.mjpeg`. With an API key configured, every route here needs it (query `api_key`,
//! `Authorization: Bearer`, or `X-API-Key`).
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use osprey_pipeline::{Camera, CameraError, CameraSpec};
use osprey_schema::CameraStatus;

use crate::error::ApiError;
use crate::state::AppState;

/// The camera routes.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/cameras", get(list).post(add))
        .route("/api/cameras/{id}", get(one).delete(remove))
        .route("/api/cameras/{id}/snapshot.jpg", get(snapshot))
        .route("/api/cameras/{id}/stream.mjpeg", get(stream))
}

fn find(state: &AppState, id: &str) -> Result<Arc<Camera>, ApiError> {
    state
        .cameras
        .get(id)
        .ok_or_else(|| ApiError::from(CameraError::NotFound(id.to_string())))
}

async fn list(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let cams: Vec<CameraStatus> = state.cameras.list().iter().map(|c| c.status()).collect();
    Ok(Json(json!({ "cameras": cams })))
}

async fn add(State(state): State<Arc<AppState>>, body: Bytes) -> Result<Response, ApiError> {
    let spec: CameraSpec = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("invalid camera JSON: {e}")))?;
    let cam = state.cameras.add(spec)?;
    Ok((StatusCode::CREATED, Json(cam.status())).into_response())
}

async fn one(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<CameraStatus>, ApiError> {
    let cam = find(&state, &id)?;
    Ok(Json(cam.status()))
}

async fn remove(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    principal: Option<axum::Extension<osprey_auth::Principal>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<CameraStatus>, ApiError> {
    let purge = match q.get("purge").map(String::as_str) {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(v) => {
            return Err(ApiError::BadRequest(format!(
                "purge={v:?}: use true or false"
            )))
        }
    };
    // Removing a camera is an operator's job; deleting its recordings and events an admin's.
    let role = principal.map(|p| p.0.role);
    if purge && role != Some(osprey_auth::Role::Admin) {
        return Err(ApiError::Forbidden(
            "purge=true deletes recordings: only an admin may".into(),
        ));
    }
    let cams = Arc::clone(&state.cameras);
    let library = state.recordings.clone();
    let events = state.events.clone();
    let last = tokio::task::spawn_blocking(move || {
        let last = cams.remove(&id)?;
        // The camera's video, events and snapshots stay (and age out under the retention
        // rules) unless purged.
        if purge {
            if let Some(lib) = library {
                purge_recordings(&lib, &id);
            }
            if let Some(store) = events {
                match store.purge_camera(&id) {
                    Ok((rows, files)) => tracing::info!(camera = %id, events = rows, snapshots = files, "camera's events purged"),
                    Err(e) => tracing::warn!(camera = %id, error = %e, "cannot purge the camera's events"),
                }
            }
        }
        Ok::<_, CameraError>(last)
    })
    .await
    .map_err(|e| ApiError::Unavailable(format!("camera removal failed: {e}")))??;
    Ok(Json(last))
}

/// Deletes every recorded segment of `camera` (crash-safe deletes; pinned ones are skipped and
/// age out later).
fn purge_recordings(lib: &osprey_record::Library, camera: &str) {
    let index = lib.index();
    let rows = match index.segments(camera, i64::MIN, i64::MAX) {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(camera = %camera, error = %e, "cannot list the recordings to purge");
            return;
        }
    };
    let mut deleted = 0;
    for row in &rows {
        match index.delete(row.id) {
            Ok(true) => deleted += 1,
            Ok(false) => {}
            Err(e) => tracing::warn!(camera = %camera, error = %e, "cannot delete a recording"),
        }
    }
    tracing::info!(camera = %camera, segments = deleted, of = rows.len(), "recordings purged");
}

fn jpeg_response(jpg: Bytes) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        jpg,
    )
        .into_response()
}

async fn snapshot(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let cam = find(&state, &id)?;
    let snap = tokio::task::spawn_blocking(move || cam.snapshot())
        .await
        .map_err(|e| ApiError::Unavailable(format!("snapshot failed: {e}")))?;
    match snap {
        Some((_, jpg)) => Ok(jpeg_response(jpg)),
        None => Err(ApiError::Unavailable(format!(
            "camera {id:?} has no processed frame yet"
        ))),
    }
}

const BOUNDARY: &str = "ospreyframe";

async fn stream(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let cam = find(&state, &id)?;
    let mut frames = cam.subscribe();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(2);
    tokio::spawn(async move {
        let mut last = 0u64;
        loop {
            if cam.stopped() {
                break;
            }
            let c = Arc::clone(&cam);
            let snap = tokio::task::spawn_blocking(move || c.snapshot())
                .await
                .ok()
                .flatten();
            if let Some((seq, jpg)) = snap {
                if seq != last {
                    last = seq;
                    let head = format!(
                        "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                        jpg.len()
                    );
                    let mut part = Vec::with_capacity(head.len() + jpg.len() + 2);
                    part.extend_from_slice(head.as_bytes());
                    part.extend_from_slice(&jpg);
                    part.extend_from_slice(b"\r\n");
                    // A viewer that stopped reading ends the stream.
                    if tx.send(Ok(Bytes::from(part))).await.is_err() {
                        break;
                    }
                }
            }
            // Wake on the next processed frame, or every few seconds to notice a stop.
            if let Ok(Err(_)) = tokio::time::timeout(Duration::from_secs(5), frames.changed()).await
            {
                break;
            }
        }
    });
    let body = Body::from_stream(tokio_stream(rx));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                format!("multipart/x-mixed-replace; boundary={BOUNDARY}"),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response())
}

/// An mpsc receiver as a `Stream`.
fn tokio_stream(
    mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
