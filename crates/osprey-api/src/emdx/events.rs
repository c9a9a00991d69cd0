//! `/emdx/api/v2/events/{tripwire,roi}` (raw crossings and ROI entries, exits, loitering) and
//! `/emdx/api/v2/alerts[/{tripwire,roi,fov}]`, newest first, from the analytics store.
//! `sensorId` is required; `fromTimestamp` defaults to a day before `toTimestamp` (default now);
//! `limit` defaults to 100 (at most 10 000).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use osprey_schema::analytics::Alert;
use osprey_store::{format_timestamp, AnalyticsRecord, AnalyticsStore, EventKind, RoiKind};
use serde_json::{json, Value};

use super::metrics::{blocking, object_type};
use super::{only, range, sensor};
use crate::error::ApiError;
use crate::state::AppState;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/emdx/api/v2/events/tripwire", get(tripwire_events))
        .route("/emdx/api/v2/events/roi", get(roi_events))
        .route("/emdx/api/v2/alerts", get(all_alerts))
        .route("/emdx/api/v2/alerts/{kind}", get(alerts_of))
}

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 10_000;

/// The common parameters of a listing.
struct Listing {
    camera: String,
    from_ms: i64,
    to_ms: i64,
    limit: usize,
    store: AnalyticsStore,
}

fn listing(
    state: &AppState,
    q: &HashMap<String, String>,
    extra: &[&str],
) -> Result<Listing, ApiError> {
    let mut allowed = vec!["sensorId", "fromTimestamp", "toTimestamp", "limit"];
    allowed.extend_from_slice(extra);
    only(q, &allowed)?;
    let camera = sensor(state, q)?;
    let store = state
        .analytics
        .clone()
        .ok_or_else(|| ApiError::Unavailable("the analytics store is not configured".into()))?;
    let (from_ms, to_ms) = range(q, 86_400_000)?;
    if from_ms > to_ms {
        return Err(ApiError::BadRequest(
            "fromTimestamp is after toTimestamp".into(),
        ));
    }
    let limit = match q.get("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "limit={v:?} must be a whole number from 1 to {MAX_LIMIT}"
                )))
            }
        },
    };
    Ok(Listing {
        camera,
        from_ms,
        to_ms,
        limit,
        store,
    })
}

fn object(object_id: u64, track_id: u64, label: &str) -> Value {
    json!({"id": object_id.to_string(), "trackId": track_id, "type": object_type(label)})
}

/// The listing's raw events of one kind (and rule).
async fn stored(
    l: &Listing,
    kind: EventKind,
    rule: Option<String>,
) -> Result<Vec<AnalyticsRecord>, ApiError> {
    let (camera, store, from, to, limit) = (
        l.camera.clone(),
        l.store.clone(),
        l.from_ms,
        l.to_ms,
        l.limit,
    );
    blocking(move || store.events_of(kind, &camera, rule.as_deref(), from, to, limit)).await
}

async fn tripwire_events(
    State(s): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let l = listing(&s, &q, &["tripwireId"])?;
    let rule = q.get("tripwireId").cloned();
    // Direction names from the current rules.
    let names: BTreeMap<String, (String, String)> = s
        .rules
        .get(&l.camera)
        .map(|(_, c)| {
            c.tripwires
                .into_iter()
                .map(|t| (t.id, (t.direction.entry.name, t.direction.exit.name)))
                .collect()
        })
        .unwrap_or_default();
    let rows = stored(&l, EventKind::Tripwire, rule).await?;
    let events: Vec<Value> = rows
        .iter()
        .filter_map(|r| match r {
            AnalyticsRecord::Crossing(c) => Some(c),
            _ => None,
        })
        .map(|c| {
            let inward = c.direction == osprey_store::Direction::In;
            let name = names
                .get(&c.rule_id)
                .map(|(i, o)| if inward { i.clone() } else { o.clone() });
            json!({
                "sensorId": c.camera,
                "tripwireId": c.rule_id,
                "type": if inward { "IN" } else { "OUT" },
                "directionName": name,
                "object": object(c.object_id, c.track_id, &c.label),
                "timestamp": format_timestamp(c.ts_ms),
            })
        })
        .collect();
    Ok(Json(json!({"sensorId": l.camera, "events": events})))
}

async fn roi_events(
    State(s): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let l = listing(&s, &q, &["roiId"])?;
    let rule = q.get("roiId").cloned();
    let rows = stored(&l, EventKind::Roi, rule).await?;
    let events: Vec<Value> = rows
        .iter()
        .filter_map(|r| match r {
            AnalyticsRecord::Roi(t) => Some(t),
            _ => None,
        })
        .map(|t| {
            json!({
                "sensorId": t.camera,
                "roiId": t.rule_id,
                "type": match t.kind {
                    RoiKind::Enter => "ENTRY",
                    RoiKind::Exit => "EXIT",
                    RoiKind::Loiter => "LOITERING",
                },
                "object": object(t.object_id, t.track_id, &t.label),
                "dwellTimeInSec": t.dwell_s,
                "timestamp": format_timestamp(t.ts_ms),
            })
        })
        .collect();
    Ok(Json(json!({"sensorId": l.camera, "events": events})))
}

/// An alert in the Metropolis shape.
fn alert_json(a: &Alert) -> Value {
    let ms = |t: f64| (t * 1000.0).round() as i64;
    let attributes: Vec<Value> = a
        .attributes
        .iter()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
    json!({
        "id": a.id,
        "sensorId": a.camera,
        "type": a.kind.as_str(),
        "ruleType": a.rule_type,
        "ruleId": a.rule_id,
        "tripwireId": (a.kind == osprey_schema::analytics::AlertKind::Tripwire).then_some(&a.target_id),
        "roiId": (a.kind == osprey_schema::analytics::AlertKind::Roi).then_some(&a.target_id),
        "count": a.count,
        "direction": a.direction,
        "directionName": a.direction_name,
        "description": a.description,
        "startTimestamp": format_timestamp(ms(a.start)),
        "endTimestamp": a.end.map(|e| format_timestamp(ms(e))),
        "duration": a.end.map(|e| ((e - a.start) * 1000.0).round() / 1000.0),
        "active": a.end.is_none(),
        "attributes": attributes,
    })
}

async fn alerts(
    s: Arc<AppState>,
    q: HashMap<String, String>,
    kind: Option<&'static str>,
) -> Result<Json<Value>, ApiError> {
    let l = listing(&s, &q, &["ruleId"])?;
    let rule = q.get("ruleId").cloned();
    let (camera, store) = (l.camera.clone(), l.store);
    let rows =
        blocking(move || store.alerts(&camera, kind, rule.as_deref(), l.from_ms, l.to_ms, l.limit))
            .await?;
    let alerts: Vec<Value> = rows
        .iter()
        .filter_map(|r| serde_json::from_str::<Alert>(&r.json).ok())
        .map(|a| alert_json(&a))
        .collect();
    Ok(Json(json!({"sensorId": l.camera, "alerts": alerts})))
}

async fn all_alerts(
    State(s): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    alerts(s, q, None).await
}

async fn alerts_of(
    State(s): State<Arc<AppState>>,
    Path(kind): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let kind = match kind.as_str() {
        "tripwire" => "tripwire",
        "roi" => "roi",
        "fov" => "fov",
        other => {
            return Err(ApiError::NotFound(format!(
                "no alerts of kind {other:?}: use tripwire, roi or fov"
            )))
        }
    };
    alerts(s, q, Some(kind)).await
}
