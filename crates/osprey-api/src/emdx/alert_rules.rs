//! `/emdx/api/v2/config/rule/alerts/{tripwire,roi,fov}`: POST
//! `{"sensorId","deleteIfPresent","rules":[…]}` (replace with `deleteIfPresent: true`, else add
//! or update by id), GET (422 when the sensor has none of that kind), DELETE (one by `ruleId`,
//! or all of that kind). Rules are validated with the camera's tripwires and ROIs: a rule must
//! watch one that exists, with a rule type its kind takes.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use osprey_analytics::AlertRule;
use osprey_schema::analytics::AlertKind;
use serde::Deserialize;
use serde_json::{json, Value};

use super::config::{body_sensor, frame_size, merge};
use super::{only, sensor};
use crate::error::ApiError;
use crate::state::AppState;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new().route(
        "/emdx/api/v2/config/rule/alerts/{kind}",
        get(read).post(write).delete(delete),
    )
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    sensor_id: Option<String>,
    #[serde(default)]
    delete_if_present: bool,
    rules: Option<Vec<AlertRule>>,
}

fn kind(path: &str) -> Result<AlertKind, ApiError> {
    match path {
        "tripwire" => Ok(AlertKind::Tripwire),
        "roi" => Ok(AlertKind::Roi),
        "fov" => Ok(AlertKind::Fov),
        other => Err(ApiError::NotFound(format!(
            "no alert rules of kind {other:?}: use tripwire, roi or fov"
        ))),
    }
}

fn view(camera: &str, rules: &[AlertRule]) -> Value {
    json!({"sensorId": camera, "rules": rules})
}

async fn read(
    State(s): State<Arc<AppState>>,
    Path(k): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let kind = kind(&k)?;
    only(&q, &["sensorId"])?;
    let camera = sensor(&s, &q)?;
    let cfg = s.rules.get(&camera).map(|(_, c)| c).unwrap_or_default();
    let rules = cfg.alerts.of(kind);
    if rules.is_empty() {
        return Err(ApiError::Unprocessable(format!(
            "sensor {camera:?} has no {} alert rules configured",
            kind.as_str()
        )));
    }
    Ok(Json(view(&camera, rules)))
}

async fn write(
    State(s): State<Arc<AppState>>,
    Path(k): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let kind = kind(&k)?;
    only(&q, &["sensorId"])?;
    let b: Body = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("invalid alert rules JSON: {e}")))?;
    let camera = body_sensor(&s, &q, b.sensor_id.as_ref())?;
    let new = b
        .rules
        .ok_or_else(|| ApiError::BadRequest("the body has no \"rules\" list".into()))?;
    let mut cfg = s.rules.get(&camera).map(|(_, c)| c).unwrap_or_default();
    merge(cfg.alerts.of_mut(kind), new, b.delete_if_present, |r| &r.id);
    let (w, h) = frame_size(&s, &camera);
    cfg.validate(w, h)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let rules = cfg.alerts.of(kind).clone();
    s.rules.update(&camera, move |c| *c = cfg);
    tracing::info!(camera = %camera, kind = kind.as_str(), rules = rules.len(), "alert rules set");
    Ok(Json(view(&camera, &rules)))
}

async fn delete(
    State(s): State<Arc<AppState>>,
    Path(k): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let kind = kind(&k)?;
    only(&q, &["sensorId", "ruleId"])?;
    let camera = sensor(&s, &q)?;
    let one = q.get("ruleId").cloned();
    let mut missing = false;
    s.rules.update(&camera, |c| {
        let rules = c.alerts.of_mut(kind);
        match &one {
            Some(id) => {
                missing = !rules.iter().any(|r| &r.id == id);
                rules.retain(|r| &r.id != id);
            }
            None => rules.clear(),
        }
    });
    if missing {
        return Err(ApiError::NotFound(format!(
            "sensor {camera:?} has no {} alert rule {:?}",
            kind.as_str(),
            one.unwrap_or_default()
        )));
    }
    let cfg = s.rules.get(&camera).map(|(_, c)| c).unwrap_or_default();
    Ok(Json(view(&camera, cfg.alerts.of(kind))))
}
