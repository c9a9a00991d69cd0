//! `/emdx/api/v2/config/tripwire` and `/emdx/api/v2/config/roi`: POST (replace with
//! `deleteIfPresent: true`, else add or update by id), GET (422 when the sensor has none) and
//! DELETE (one rule by `tripwireId` / `roiId`, or all). Rules are validated against the
//! camera's frame size when its stream is open; every problem names its field.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use osprey_analytics::{AnalyticsConfig, Roi, Tripwire};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{only, sensor};
use crate::error::ApiError;
use crate::state::AppState;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/emdx/api/v2/config/tripwire",
            get(get_tripwires)
                .post(post_tripwires)
                .delete(delete_tripwires),
        )
        .route(
            "/emdx/api/v2/config/roi",
            get(get_rois).post(post_rois).delete(delete_rois),
        )
}

/// Which kind of rule a route configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tripwire,
    Roi,
}

impl Kind {
    fn list(self) -> &'static str {
        match self {
            Kind::Tripwire => "tripwires",
            Kind::Roi => "rois",
        }
    }

    fn id_param(self) -> &'static str {
        match self {
            Kind::Tripwire => "tripwireId",
            Kind::Roi => "roiId",
        }
    }
}

/// A POST body: `{"sensorId","deleteIfPresent","tripwires":[…]}` or `{…,"rois":[…]}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    sensor_id: Option<String>,
    #[serde(default)]
    delete_if_present: bool,
    #[serde(default)]
    tripwires: Option<Vec<Tripwire>>,
    #[serde(default)]
    rois: Option<Vec<Roi>>,
}

/// The frame size to validate against: the open stream's, or no bound yet.
pub(super) fn frame_size(state: &AppState, camera: &str) -> (u32, u32) {
    state
        .cameras
        .get(camera)
        .and_then(|c| c.status().stream)
        .map_or((u32::from(u16::MAX), u32::from(u16::MAX)), |s| {
            (s.width, s.height)
        })
}

fn view(kind: Kind, camera: &str, cfg: &AnalyticsConfig) -> Value {
    match kind {
        Kind::Tripwire => json!({"sensorId": camera, "tripwires": cfg.tripwires}),
        Kind::Roi => json!({"sensorId": camera, "rois": cfg.rois}),
    }
}

fn read(
    state: &AppState,
    q: &HashMap<String, String>,
    kind: Kind,
) -> Result<Json<Value>, ApiError> {
    only(q, &["sensorId"])?;
    let camera = sensor(state, q)?;
    let cfg = state.rules.get(&camera).map(|(_, c)| c).unwrap_or_default();
    let empty = match kind {
        Kind::Tripwire => cfg.tripwires.is_empty(),
        Kind::Roi => cfg.rois.is_empty(),
    };
    if empty {
        return Err(ApiError::Unprocessable(format!(
            "sensor {camera:?} has no {} configured",
            kind.list()
        )));
    }
    Ok(Json(view(kind, &camera, &cfg)))
}

fn write(
    state: &AppState,
    q: &HashMap<String, String>,
    body: &[u8],
    kind: Kind,
) -> Result<Json<Value>, ApiError> {
    only(q, &["sensorId"])?;
    let b: Body = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid {} JSON: {e}", kind.list())))?;
    let camera = body_sensor(state, q, b.sensor_id.as_ref())?;
    let mut cfg = state.rules.get(&camera).map(|(_, c)| c).unwrap_or_default();
    match (kind, b.tripwires, b.rois) {
        (Kind::Tripwire, Some(new), _) => {
            merge(&mut cfg.tripwires, new, b.delete_if_present, |t| &t.id)
        }
        (Kind::Roi, _, Some(new)) => merge(&mut cfg.rois, new, b.delete_if_present, |r| &r.id),
        _ => {
            return Err(ApiError::BadRequest(format!(
                "the body has no \"{}\" list",
                kind.list()
            )))
        }
    }
    let (w, h) = frame_size(state, &camera);
    cfg.validate(w, h)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let stored = cfg.clone();
    state.rules.update(&camera, move |c| *c = stored);
    tracing::info!(camera = %camera, tripwires = cfg.tripwires.len(), rois = cfg.rois.len(), "analytics rules set");
    Ok(Json(view(kind, &camera, &cfg)))
}

/// The camera a write is for: `sensorId` of the query or the body (equal when both are given),
/// an existing camera.
pub(super) fn body_sensor(
    state: &AppState,
    q: &HashMap<String, String>,
    body: Option<&String>,
) -> Result<String, ApiError> {
    let camera = match (q.get("sensorId"), body) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::BadRequest(format!(
                "sensorId {a:?} in the query and {b:?} in the body differ"
            )))
        }
        (Some(a), _) | (None, Some(a)) => a.clone(),
        (None, None) => return Err(ApiError::BadRequest("sensorId is required".into())),
    };
    let mut q2 = q.clone();
    q2.insert("sensorId".into(), camera);
    sensor(state, &q2)
}

/// `deleteIfPresent`: the new list replaces the old; otherwise rules are added, or replace the
/// one with the same id.
pub(super) fn merge<T>(old: &mut Vec<T>, new: Vec<T>, replace: bool, id: impl Fn(&T) -> &String) {
    if replace {
        *old = new;
        return;
    }
    for n in new {
        match old.iter().position(|o| id(o) == id(&n)) {
            Some(i) => old[i] = n,
            None => old.push(n),
        }
    }
}

fn delete(
    state: &AppState,
    q: &HashMap<String, String>,
    kind: Kind,
) -> Result<Json<Value>, ApiError> {
    only(q, &["sensorId", kind.id_param()])?;
    let camera = sensor(state, q)?;
    let one = q.get(kind.id_param()).cloned();
    let mut missing = false;
    let mut pruned = 0;
    state.rules.update(&camera, |c| {
        match (kind, &one) {
            (Kind::Tripwire, Some(id)) => {
                missing = !c.tripwires.iter().any(|t| &t.id == id);
                c.tripwires.retain(|t| &t.id != id);
            }
            (Kind::Roi, Some(id)) => {
                missing = !c.rois.iter().any(|r| &r.id == id);
                c.rois.retain(|r| &r.id != id);
            }
            (Kind::Tripwire, None) => c.tripwires.clear(),
            (Kind::Roi, None) => c.rois.clear(),
        }
        // Alert rules watching what was deleted go with it.
        pruned = c.prune_alerts();
    });
    if pruned > 0 {
        tracing::info!(camera = %camera, alert_rules = pruned, "alert rules of deleted tripwires or ROIs deleted");
    }
    if missing {
        return Err(ApiError::NotFound(format!(
            "sensor {camera:?} has no {} {:?}",
            kind.id_param().trim_end_matches("Id"),
            one.unwrap_or_default()
        )));
    }
    let cfg = state.rules.get(&camera).map(|(_, c)| c).unwrap_or_default();
    Ok(Json(view(kind, &camera, &cfg)))
}

async fn get_tripwires(
    State(s): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    read(&s, &q, Kind::Tripwire)
}

async fn post_tripwires(
    State(s): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    write(&s, &q, &body, Kind::Tripwire)
}

async fn delete_tripwires(
    State(s): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    delete(&s, &q, Kind::Tripwire)
}

async fn get_rois(
    State(s): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    read(&s, &q, Kind::Roi)
}

async fn post_rois(
    State(s): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    write(&s, &q, &body, Kind::Roi)
}

async fn delete_rois(
    State(s): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    delete(&s, &q, Kind::Roi)
}
