//! `GET /api/events`: object events from the store, newest first, filtered by camera, label
//! and time.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use osprey_store::EventQuery;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::AppState;
use crate::vision::auth;

/// The event routes.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/api/events", get(events))
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
