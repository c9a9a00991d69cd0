//! The Python server's InfluxDB measurements for each detection request (`--generate_metrics`):
//! `http_request_dispatcher`, `prediction_input`, `prediction_output`.

use std::time::SystemTime;

use axum::http::StatusCode;

use crate::deepstack::Prediction;
use crate::state::AppState;

/// What a detection request did, for the InfluxDB measurements of the Python server.
#[derive(Debug, Default)]
pub(crate) struct Trace {
    /// Header checks (Python: `parse_multipart_boundary_ns`).
    pub(crate) boundary_ns: Option<u64>,
    /// Body read and multipart parse (Python: `parse_request_body_ns`).
    pub(crate) body_ns: Option<u64>,
    /// Decode, inference and postprocess (Python: `compute_response_ns`).
    pub(crate) compute_ns: Option<u64>,
    /// Size of the image part.
    pub(crate) image_bytes: Option<usize>,
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Emits the Python server's measurements: `http_request_dispatcher`, `prediction_input`,
/// `prediction_output` (one point per label and whole-percent confidence).
pub(crate) fn emit_influx(
    state: &AppState,
    model: &str,
    trace: &Trace,
    status: StatusCode,
    preds: Option<&[Prediction]>,
    send_ns: u64,
) {
    use osprey_influx::line::{point, Field};
    let Some(cache) = &state.influx else { return };
    let ts = now_ns();
    let ns = |v: Option<u64>| v.map(|n| Field::Int(n as i64));
    let mut fields: Vec<(&str, Field)> = Vec::new();
    for (k, v) in [
        ("parse_request_body_ns", ns(trace.body_ns)),
        ("parse_multipart_boundary_ns", ns(trace.boundary_ns)),
        ("compute_response_ns", ns(trace.compute_ns)),
        ("send_response_ns", Some(Field::Int(send_ns as i64))),
    ] {
        if let Some(v) = v {
            fields.push((k, v));
        }
    }
    if let Some(l) = point(
        "http_request_dispatcher",
        &[("response_code", status.as_u16().to_string())],
        &fields,
        ts,
    ) {
        cache.push(l);
    }
    if let Some(n) = trace.image_bytes {
        if let Some(l) = point(
            "prediction_input",
            &[],
            &[("image_bytes", Field::Int(n as i64))],
            ts,
        ) {
            cache.push(l);
        }
    }
    let Some(preds) = preds else { return };
    let Some(m) = state.models.get(model) else {
        return;
    };
    let size = m.info().imgsz.0.to_string();
    let precision = m.precision();
    let mut groups: Vec<(&str, i64, i64)> = Vec::new();
    for p in preds {
        let pct = (p.confidence * 100.0) as i64;
        match groups
            .iter_mut()
            .find(|(l, c, _)| *l == p.label && *c == pct)
        {
            Some(g) => g.2 += 1,
            None => groups.push((&p.label, pct, 1)),
        }
    }
    for (label, pct, count) in groups {
        let tags = [
            ("confidence_percent", pct.to_string()),
            ("model_image_size", size.clone()),
            ("model_precision", precision.to_string()),
        ];
        if let Some(l) = point(
            "prediction_output",
            &tags,
            &[(label, Field::Int(count))],
            ts,
        ) {
            cache.push(l);
        }
    }
}
