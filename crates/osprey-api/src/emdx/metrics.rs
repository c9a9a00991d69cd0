//! `/emdx/api/v2/metrics/…`: tripwire counts and histograms, FOV and ROI occupancy and their
//! histograms, from the analytics store. Times are ISO-8601 (`Z` or an offset) in
//! `fromTimestamp` / `toTimestamp`; buckets by `bucketSizeInSec` or `bucketCount` (default 20,
//! sizes rounded up to 5 s multiples, aligned to the epoch, ends clipped to the range);
//! `objectType=Person,Car` filters classes. Each count comes as `count` (effective: an object
//! at most once, IN if its INs outnumber its OUTs) and `actualCount` (every crossing).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use osprey_store::{
    format_timestamp, AnalyticsStore, BucketSpec, CrossingCounts, LabelCrossings, OccupancyBucket,
};
use serde_json::{json, Value};

use super::{only, range, sensor};
use crate::error::ApiError;
use crate::state::AppState;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/emdx/api/v2/metrics/tripwire", get(tripwire))
        .route(
            "/emdx/api/v2/metrics/tripwire/histogram",
            get(tripwire_histogram),
        )
        .route("/emdx/api/v2/metrics/occupancy/fov", get(fov))
        .route(
            "/emdx/api/v2/metrics/occupancy/fov/histogram",
            get(fov_histogram),
        )
        .route("/emdx/api/v2/metrics/occupancy/roi", get(roi))
        .route(
            "/emdx/api/v2/metrics/occupancy/roi/histogram",
            get(roi_histogram),
        )
}

/// `person` as Metropolis names object types: `Person`.
pub(super) fn object_type(label: &str) -> String {
    let mut c = label.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The parsed common parameters.
struct Params {
    camera: String,
    from_ms: i64,
    to_ms: i64,
    labels: Option<Vec<String>>,
    buckets: BucketSpec,
    store: AnalyticsStore,
}

fn params(
    state: &AppState,
    q: &HashMap<String, String>,
    extra: &[&str],
    default_span_ms: i64,
) -> Result<Params, ApiError> {
    let mut allowed = vec!["sensorId", "fromTimestamp", "toTimestamp", "objectType"];
    allowed.extend_from_slice(extra);
    only(q, &allowed)?;
    let camera = sensor(state, q)?;
    let store = state.analytics.clone().ok_or_else(|| {
        ApiError::Unavailable("the analytics store is not open (no cameras)".into())
    })?;
    let (from_ms, to_ms) = range(q, default_span_ms)?;
    let labels = q.get("objectType").map(|v| {
        v.split(',')
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty())
            .collect()
    });
    let number = |k: &str| -> Result<Option<u64>, ApiError> {
        q.get(k)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| ApiError::BadRequest(format!("{k}={v:?} is not a whole number")))
            })
            .transpose()
    };
    let buckets = match (number("bucketSizeInSec")?, number("bucketCount")?) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "give bucketSizeInSec or bucketCount, not both".into(),
            ))
        }
        (Some(s), None) => BucketSpec::SizeSeconds(s),
        (None, Some(c)) => BucketSpec::Count(u32::try_from(c).unwrap_or(u32::MAX)),
        (None, None) => BucketSpec::default(),
    };
    Ok(Params {
        camera,
        from_ms,
        to_ms,
        labels,
        buckets,
        store,
    })
}

/// Runs a blocking store query.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, osprey_store::AnalyticsError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Unavailable(format!("analytics query failed: {e}")))?
        .map_err(|e| match osprey_base::Kinded::kind(&e) {
            osprey_base::ErrorKind::InvalidArgument => ApiError::BadRequest(e.to_string()),
            _ => ApiError::Unavailable(e.to_string()),
        })
}

/// Metropolis `events`: IN and OUT, each with objects per type and `*` for all.
fn events(counts: &LabelCrossings) -> Value {
    let mut all = CrossingCounts::default();
    for c in counts.values() {
        all.actual.in_ += c.actual.in_;
        all.actual.out += c.actual.out;
        all.effective.in_ += c.effective.in_;
        all.effective.out += c.effective.out;
    }
    let side = |name: &str, pick: &dyn Fn(&CrossingCounts) -> (u64, u64)| {
        let mut objects: Vec<Value> = counts
            .iter()
            .map(|(label, c)| {
                let (count, actual) = pick(c);
                json!({"type": object_type(label), "count": count, "actualCount": actual})
            })
            .collect();
        let (count, actual) = pick(&all);
        objects.push(json!({"type": "*", "count": count, "actualCount": actual}));
        json!({"type": name, "objects": objects})
    };
    json!([
        side("IN", &|c| (c.effective.in_, c.actual.in_)),
        side("OUT", &|c| (c.effective.out, c.actual.out)),
    ])
}

fn bucket_size(p: &Params) -> Result<String, ApiError> {
    let b = p
        .buckets
        .buckets(p.from_ms, p.to_ms)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok((b.size_ms / 1000).to_string())
}

async fn tripwire(
    State(s): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    // Counts default to all time.
    let p = params(&s, &q, &["tripwireId"], i64::MAX / 4)?;
    let one = q.get("tripwireId").cloned();
    let configured: Vec<String> = s
        .rules
        .get(&p.camera)
        .map(|(_, c)| c.tripwires.into_iter().map(|t| t.id).collect())
        .unwrap_or_default();
    let (camera, from, to, labels, store) = (p.camera, p.from_ms, p.to_ms, p.labels, p.store);
    let wire = one.clone();
    let mut counts = blocking(move || {
        store.tripwire_counts(&camera, wire.as_deref(), from, to, labels.as_deref())
    })
    .await?;
    for id in configured
        .into_iter()
        .filter(|id| one.as_ref().is_none_or(|o| o == id))
    {
        counts.entry(id).or_default();
    }
    let kpis: Vec<Value> = counts
        .iter()
        .map(|(id, c)| json!({"id": id, "events": events(c)}))
        .collect();
    Ok(Json(json!({"tripwireKpis": kpis})))
}

async fn tripwire_histogram(
    State(s): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let p = params(
        &s,
        &q,
        &["tripwireId", "bucketSizeInSec", "bucketCount"],
        600_000,
    )?;
    let id = q
        .get("tripwireId")
        .cloned()
        .ok_or_else(|| ApiError::BadRequest("tripwireId is required".into()))?;
    let size = bucket_size(&p)?;
    let (camera, from, to, labels, store, spec) =
        (p.camera, p.from_ms, p.to_ms, p.labels, p.store, p.buckets);
    let wire = id.clone();
    let buckets = blocking(move || {
        store.tripwire_histogram(&camera, &wire, from, to, spec, labels.as_deref())
    })
    .await?;
    let histogram: Vec<Value> = buckets
        .iter()
        .map(|b| {
            json!({
                "start": format_timestamp(b.start_ms),
                "end": format_timestamp(b.end_ms),
                "events": events(&b.by_label),
            })
        })
        .collect();
    Ok(Json(json!({
        "bucketSizeInSec": size,
        "tripwires": [{"id": id, "histogram": histogram}],
    })))
}

/// One occupancy bucket: `averageCount` and `maxCount` per object type and `*`.
fn occupancy(b: &OccupancyBucket) -> Value {
    let mut objects: Vec<Value> = b
        .by_label
        .iter()
        .map(|(l, s)| json!({"type": object_type(l), "averageCount": s.average, "maxCount": s.max}))
        .collect();
    objects.push(json!({"type": "*", "averageCount": b.total.average, "maxCount": b.total.max}));
    json!({
        "start": format_timestamp(b.start_ms),
        "end": format_timestamp(b.end_ms),
        "objects": objects,
    })
}

async fn occupancy_query(p: Params, rule: String) -> Result<(String, Vec<Value>), ApiError> {
    let size = bucket_size(&p)?;
    let (camera, from, to, labels, store, spec) =
        (p.camera, p.from_ms, p.to_ms, p.labels, p.store, p.buckets);
    let buckets = blocking(move || {
        store.occupancy_histogram(&camera, &rule, from, to, spec, labels.as_deref())
    })
    .await?;
    Ok((size, buckets.iter().map(occupancy).collect()))
}

/// The latest few seconds as one bucket (the "now" endpoints).
fn latest(mut p: Params) -> Params {
    p.from_ms = p.to_ms - 5_000;
    p.buckets = BucketSpec::SizeSeconds(3_600);
    p
}

async fn fov(
    State(s): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let p = latest(params(&s, &q, &[], 5_000)?);
    let camera = p.camera.clone();
    let (_, h) = occupancy_query(p, "fov".into()).await?;
    Ok(Json(json!({"sensorId": camera, "fov": h.last()})))
}

async fn fov_histogram(
    State(s): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let p = params(&s, &q, &["bucketSizeInSec", "bucketCount"], 600_000)?;
    let (size, histogram) = occupancy_query(p, "fov".into()).await?;
    Ok(Json(
        json!({"bucketSizeInSec": size, "histogram": histogram}),
    ))
}

/// The ROIs asked for (`roiId`) or configured.
fn roi_ids(state: &AppState, camera: &str, q: &HashMap<String, String>) -> Vec<String> {
    match q.get("roiId") {
        Some(id) => vec![id.clone()],
        None => state
            .rules
            .get(camera)
            .map(|(_, c)| c.rois.into_iter().map(|r| r.id).collect())
            .unwrap_or_default(),
    }
}

/// The occupancy query for each ROI asked for (or configured), shaped by `shape`.
async fn per_roi(
    s: &AppState,
    q: &HashMap<String, String>,
    p: Params,
    shape: impl Fn(&str, Vec<Value>) -> Value,
) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::new();
    for id in roi_ids(s, &p.camera, q) {
        let one = Params {
            camera: p.camera.clone(),
            labels: p.labels.clone(),
            store: p.store.clone(),
            ..p
        };
        let (_, h) = occupancy_query(one, id.clone()).await?;
        out.push(shape(&id, h));
    }
    Ok(out)
}

async fn roi(
    State(s): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let p = latest(params(&s, &q, &["roiId"], 5_000)?);
    let camera = p.camera.clone();
    let rois = per_roi(&s, &q, p, |id, h| json!({"id": id, "occupancy": h.last()})).await?;
    Ok(Json(json!({"sensorId": camera, "rois": rois})))
}

async fn roi_histogram(
    State(s): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let p = params(
        &s,
        &q,
        &["roiId", "bucketSizeInSec", "bucketCount"],
        600_000,
    )?;
    let size = bucket_size(&p)?;
    let rois = per_roi(&s, &q, p, |id, h| json!({"id": id, "histogram": h})).await?;
    Ok(Json(json!({"bucketSizeInSec": size, "rois": rois})))
}
