//! Status routes: the HTML page, pings, health and readiness, the model list, Prometheus
//! metrics, the access log, and the JSON 404/405 fallbacks.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::error::ApiError;
use crate::state::AppState;

/// Inference time of a detection response, for the access log.
#[derive(Clone, Copy, Debug)]
pub(crate) struct InferenceMs(pub(crate) u64);

/// Logs each request and counts it: one event, so logs and metrics agree.
pub(crate) async fn access_log(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "<unmatched>".to_string());
    let resp = next.run(req).await;
    let bytes = http_body::Body::size_hint(resp.body()).exact().unwrap_or(0);
    let inference_ms = resp.extensions().get::<InferenceMs>().map(|i| i.0);
    let status = resp.status();
    state
        .metrics
        .requests
        .with_label_values(&[route.as_str(), method.as_str(), status.as_str()])
        .inc();
    state
        .metrics
        .request_seconds
        .with_label_values(&[route.as_str()])
        .observe(started.elapsed().as_secs_f64());
    tracing::info!(
        target: "osprey::access",
        method = %method,
        route = %route,
        status = resp.status().as_u16(),
        bytes,
        ms = started.elapsed().as_secs_f64() * 1e3,
        inference_ms,
        "request"
    );
    resp
}

pub(crate) async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {method} {}", uri.path()))
}

pub(crate) async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}

pub(crate) async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    state.models.refresh_metrics();
    if let Some(cache) = &state.influx {
        state.metrics.sync_influx(cache.stats());
    }
    (
        [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
        state.metrics.render(),
    )
        .into_response()
}

pub(crate) async fn ping() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "success": true }))
}

pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

pub(crate) async fn readyz(
    State(state): State<Arc<AppState>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if state.ready() {
        Ok(Json(serde_json::json!({ "status": "ready" })))
    } else {
        Err(ApiError::Unavailable("models are warming up".into()))
    }
}

#[derive(Serialize)]
pub(crate) struct ModelList {
    success: bool,
    models: Vec<String>,
}

pub(crate) async fn list_models(State(state): State<Arc<AppState>>) -> Json<ModelList> {
    let models = state.models.names();
    Json(ModelList {
        success: true,
        models,
    })
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(crate) async fn status_page(State(state): State<Arc<AppState>>) -> Html<String> {
    let up = state.started.elapsed().as_secs();
    let c = &state.counters;
    let names = state.models.names();
    let rows: String = names
        .iter()
        .filter_map(|n| state.models.get(n).map(|m| (n, m)))
        .map(|(n, m)| {
            let i = m.info();
            let s = m.stats();
            format!(
                "<tr><td>{}{}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{}x{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape_html(n),
                if n == state.models.default_name() { " (default)" } else { "" },
                m.engine().as_str(),
                m.precision(),
                m.in_flight(),
                m.provider().as_str(),
                i.imgsz.1,
                i.imgsz.0,
                if i.dynamic_hw { " dynamic" } else { "" },
                i.names.len(),
                if s.ready.load(Ordering::Relaxed) { "ready" } else { "warming up" },
                s.queued.load(Ordering::Relaxed),
                s.completed.load(Ordering::Relaxed),
                s.batches.load(Ordering::Relaxed),
            )
        })
        .collect();
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Osprey</title>\
         <style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:4px 10px;text-align:left}}</style></head><body>\
         <h1>Osprey {}</h1><p>Up {}h {}m {}s. Detection requests: {} answered, {} failed, {} refused.</p>\
         <table><tr><th>model</th><th>engine</th><th>in flight</th><th>provider</th><th>input</th><th>classes</th><th>state</th><th>queued</th><th>done</th><th>batches</th></tr>{}</table>\
         <p>API: <code>POST /v1/vision/detection</code>, <code>POST /v1/vision/custom/&lt;model&gt;</code>, \
         <code>GET /v1/vision/custom/list</code>, <code>GET /readyz</code>.</p></body></html>",
        env!("CARGO_PKG_VERSION"),
        up / 3600,
        up / 60 % 60,
        up % 60,
        c.ok.load(Ordering::Relaxed),
        c.failed.load(Ordering::Relaxed),
        c.refused.load(Ordering::Relaxed),
        rows
    ))
}
