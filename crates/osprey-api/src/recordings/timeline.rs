//! `GET /api/recordings/{camera}/timeline?start=&end=&days=&tz=`: runs of recorded time (clipped
//! to the range) with the gaps between them, and with `days` the recorded time per calendar day
//! of the zone `tz`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::Json;
use osprey_record::timeline::{day_totals, gaps, Run};
use serde_json::{json, Value};

use super::{
    blocking, check_order, iso, known_camera, library, now_ms, parse_tz, record_error, time_param,
    DAY_MS,
};
use crate::error::ApiError;
use crate::state::AppState;

/// The longest timeline one request may ask for.
const MAX_RANGE_MS: i64 = 400 * DAY_MS;

/// The request: range, whether to add per-day totals, and the zone of the days.
struct Params {
    start: i64,
    end: i64,
    days: bool,
    tz_ms: i64,
}

fn params(q: &HashMap<String, String>, now: i64) -> Result<Params, ApiError> {
    let days = match q.get("days").map(String::as_str) {
        None | Some("0") | Some("false") => None,
        Some("true") => Some(1),
        Some(v) => Some(
            v.parse::<i64>()
                .ok()
                .filter(|n| (1..=400).contains(n))
                .ok_or_else(|| ApiError::BadRequest(format!("days={v:?} is not in 1..400")))?,
        ),
    };
    let end = time_param(q, "end")?.unwrap_or(now);
    let span = days.unwrap_or(1) * DAY_MS;
    let start = time_param(q, "start")?.unwrap_or(end - span);
    check_order(start, end)?;
    if end - start > MAX_RANGE_MS {
        return Err(ApiError::BadRequest(
            "a timeline covers at most 400 days".into(),
        ));
    }
    let tz_ms = q.get("tz").map(|t| parse_tz(t)).transpose()?.unwrap_or(0);
    Ok(Params {
        start,
        end,
        days: days.is_some(),
        tz_ms,
    })
}

/// `runs` cut to `[start, end)`.
fn clip(runs: Vec<Run>, start: i64, end: i64) -> Vec<Run> {
    runs.into_iter()
        .map(|mut r| {
            r.start_wall_ms = r.start_wall_ms.max(start);
            r.end_wall_ms = r.end_wall_ms.min(end);
            r
        })
        .filter(|r| r.end_wall_ms > r.start_wall_ms)
        .collect()
}

fn run_json(r: &Run) -> Value {
    json!({
        "start": iso(r.start_wall_ms),
        "end": iso(r.end_wall_ms),
        "start_unix_ms": r.start_wall_ms,
        "end_unix_ms": r.end_wall_ms,
        "duration_ms": r.duration_ms(),
        "segments": r.segments,
        "frames": r.frames,
        "bytes": r.bytes,
    })
}

/// `YYYY-MM-DD` of the local day starting at `day_start_ms` in the zone `tz_ms`.
fn local_date(day_start_ms: i64, tz_ms: i64) -> String {
    iso(day_start_ms + tz_ms).chars().take(10).collect()
}

fn body(camera: &str, p: &Params, runs: &[Run]) -> Value {
    let gap_list: Vec<Value> = gaps(runs)
        .into_iter()
        .map(|(s, e)| {
            json!({
                "start": iso(s),
                "end": iso(e),
                "start_unix_ms": s,
                "end_unix_ms": e,
                "duration_ms": e - s,
            })
        })
        .collect();
    let mut out = json!({
        "camera": camera,
        "start": iso(p.start),
        "end": iso(p.end),
        "start_unix_ms": p.start,
        "end_unix_ms": p.end,
        "recorded_ms": runs.iter().map(Run::duration_ms).sum::<i64>(),
        "runs": runs.iter().map(run_json).collect::<Vec<_>>(),
        "gaps": gap_list,
    });
    if p.days {
        let days: Vec<Value> = day_totals(runs, p.tz_ms)
            .iter()
            .map(|d| {
                json!({
                    "date": local_date(d.day_start_ms, p.tz_ms),
                    "start": iso(d.day_start_ms),
                    "start_unix_ms": d.day_start_ms,
                    "recorded_ms": d.recorded_ms,
                })
            })
            .collect();
        out["days"] = Value::Array(days);
        out["tz_offset_minutes"] = json!(p.tz_ms / 60_000);
    }
    out
}

/// `GET /api/recordings/{camera}/timeline`.
pub(super) async fn timeline(
    State(state): State<Arc<AppState>>,
    Path(camera): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let lib = library(&state)?;
    let p = params(&q, now_ms())?;
    let st = Arc::clone(&state);
    blocking(move || {
        known_camera(&st, &lib, &camera)?;
        let runs = lib
            .index()
            .timeline(&camera, p.start, p.end)
            .map_err(|e| record_error(&e))?;
        let runs = clip(runs, p.start, p.end);
        Ok(Json(body(&camera, &p, &runs)))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_widen_the_default_range_and_tz_names_local_dates() {
        let q: HashMap<String, String> =
            [("days", "7"), ("end", "1700000000000"), ("tz", "+02:00")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let p = params(&q, 0).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.end - p.start, 7 * DAY_MS);
        assert!(p.days);
        assert_eq!(p.tz_ms, 7_200_000);
        // 2023-11-14T22:00:00Z is midnight of 2023-11-15 at +02:00.
        assert_eq!(
            local_date(1_700_000_000_000 - 800_000, 7_200_000),
            "2023-11-15"
        );
    }

    #[test]
    fn runs_are_clipped_to_the_range() {
        let run = Run {
            start_wall_ms: 0,
            end_wall_ms: 100,
            segments: 1,
            frames: 10,
            bytes: 1,
        };
        let out = clip(
            vec![
                run.clone(),
                Run {
                    start_wall_ms: 200,
                    end_wall_ms: 300,
                    ..run
                },
            ],
            50,
            150,
        );
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].start_wall_ms, out[0].end_wall_ms), (50, 100));
    }
}
