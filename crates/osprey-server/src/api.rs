//! Routes and handlers: the DeepStack / CodeProject.AI API.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use http_body_util::BodyExt;
use osprey_detect::{DetectParams, Detection};
use osprey_image::DecodeLimits;
use serde::Serialize;

use crate::config::ServeConfig;
use crate::error::ApiError;
use crate::multipart;
use crate::worker::{ModelHandle, SubmitError};

/// Request counters for the status page.
#[derive(Debug, Default)]
pub struct Counters {
    /// Detection requests answered with detections.
    pub ok: AtomicU64,
    /// Detection requests that failed after the headers.
    pub failed: AtomicU64,
    /// Requests refused (4xx/5xx).
    pub refused: AtomicU64,
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// Served models by name.
    pub models: HashMap<String, ModelHandle>,
    /// The model behind `/v1/vision/detection`.
    pub default_model: String,
    /// Effective configuration.
    pub config: ServeConfig,
    /// When the server started.
    pub started: Instant,
    /// Request counters.
    pub counters: Counters,
    /// Named threads for decode + letterbox.
    pub decoders: crate::decode_pool::DecodePool,
    /// Prometheus series.
    pub metrics: crate::metrics::Metrics,
    /// The InfluxDB line-protocol cache (`--generate_metrics`).
    pub influx: Option<osprey_influx::Cache>,
    /// Host name, for `processedBy`.
    pub hostname: String,
    /// Camera pipelines and their publishers.
    pub cameras: Arc<crate::cameras::Cameras>,
}

impl AppState {
    /// Whether every model has warmed up.
    pub fn ready(&self) -> bool {
        self.models
            .values()
            .all(|m| m.stats().ready.load(Ordering::Acquire))
    }
}

/// The router; `serve` wraps it with connection handling.
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(status_page))
        .route("/v1/vision/detection", post(detect_default))
        .route("/v1/vision/custom/list", get(list_models).post(list_models))
        .route("/v1/vision/custom/{model}", post(detect_custom))
        .route("/v1/server/status/ping", get(ping))
        .route("/v1/status/ping", get(ping))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(crate::cameras::routes::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            access_log,
        ))
        .with_state(state)
}

/// Inference time of a detection response, for the access log.
#[derive(Clone, Copy, Debug)]
struct InferenceMs(u64);

/// Logs each request and counts it: one event, so logs and metrics agree.
async fn access_log(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
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

async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    for (name, m) in &state.models {
        let depth = m.stats().queued.load(Ordering::Relaxed) as i64;
        state
            .metrics
            .queue_depth
            .with_label_values(&[name.as_str()])
            .set(depth);
    }
    if let Some(cache) = &state.influx {
        state.metrics.sync_influx(cache.stats());
    }
    (
        [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
        state.metrics.render(),
    )
        .into_response()
}

async fn ping() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "success": true }))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(State(state): State<Arc<AppState>>) -> Result<Json<serde_json::Value>, ApiError> {
    if state.ready() {
        Ok(Json(serde_json::json!({ "status": "ready" })))
    } else {
        Err(ApiError::Unavailable("models are warming up".into()))
    }
}

#[derive(Serialize)]
struct ModelList {
    success: bool,
    models: Vec<String>,
}

async fn list_models(State(state): State<Arc<AppState>>) -> Json<ModelList> {
    let mut models: Vec<String> = state.models.keys().cloned().collect();
    models.sort();
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

async fn status_page(State(state): State<Arc<AppState>>) -> Html<String> {
    let up = state.started.elapsed().as_secs();
    let c = &state.counters;
    let mut names: Vec<&String> = state.models.keys().collect();
    names.sort();
    let rows: String = names
        .iter()
        .filter_map(|n| state.models.get(*n).map(|m| (n, m)))
        .map(|(n, m)| {
            let i = m.info();
            let s = m.stats();
            format!(
                "<tr><td>{}{}</td><td>{}</td><td>{}x{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape_html(n),
                if **n == state.default_model { " (default)" } else { "" },
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
         <table><tr><th>model</th><th>provider</th><th>input</th><th>classes</th><th>state</th><th>queued</th><th>done</th><th>batches</th></tr>{}</table>\
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

async fn detect_default(
    State(state): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let model = state.default_model.clone();
    let mut trace = Trace::default();
    let result = detect(&state, &model, &q, &headers, body, &mut trace).await;
    respond(result, &state, &model, &trace)
}

async fn detect_custom(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut trace = Trace::default();
    let result = detect(&state, &model, &q, &headers, body, &mut trace).await;
    respond(result, &state, &model, &trace)
}

/// What a detection request did, for the InfluxDB measurements of the Python server.
#[derive(Debug, Default)]
struct Trace {
    /// Header checks (Python: `parse_multipart_boundary_ns`).
    boundary_ns: Option<u64>,
    /// Body read and multipart parse (Python: `parse_request_body_ns`).
    body_ns: Option<u64>,
    /// Decode, inference and postprocess (Python: `compute_response_ns`).
    compute_ns: Option<u64>,
    /// Size of the image part.
    image_bytes: Option<usize>,
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Emits the Python server's measurements: `http_request_dispatcher`, `prediction_input`,
/// `prediction_output` (one point per label and whole-percent confidence).
fn emit_influx(
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
    let precision = if state.config.half && m.provider() == osprey_detect::Provider::Tensorrt {
        "fp16"
    } else {
        "fp32"
    };
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

fn respond(
    result: Result<(DetectionResponse, u64), ApiError>,
    state: &AppState,
    model: &str,
    trace: &Trace,
) -> Response {
    let t = Instant::now();
    let (resp, status, preds) = match result {
        Ok((body, inference_ms)) => {
            state.counters.ok.fetch_add(1, Ordering::Relaxed);
            if state.config.log_responses {
                tracing::info!(target: "osprey::response", body = %serde_json::to_string(&body).unwrap_or_default(), "response");
            }
            let preds = state.influx.is_some().then(|| body.predictions.clone());
            let mut resp = Json(body).into_response();
            resp.extensions_mut().insert(InferenceMs(inference_ms));
            (resp, StatusCode::OK, preds)
        }
        Err(e) => {
            match &e {
                ApiError::Detection { .. } => state.counters.failed.fetch_add(1, Ordering::Relaxed),
                _ => state.counters.refused.fetch_add(1, Ordering::Relaxed),
            };
            let status = e.status();
            (e.into_response(), status, None)
        }
    };
    emit_influx(
        state,
        model,
        trace,
        status,
        preds.as_deref(),
        t.elapsed().as_nanos() as u64,
    );
    resp
}

/// One prediction in the DeepStack shape.
#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    pub label: String,
    pub confidence: f32,
    pub x_min: i64,
    pub y_min: i64,
    pub x_max: i64,
    pub y_max: i64,
}

/// The DeepStack response plus CodeProject.AI's fields.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DetectionResponse {
    pub success: bool,
    pub predictions: Vec<Prediction>,
    pub count: usize,
    pub message: String,
    pub inference_ms: u64,
    pub process_ms: u64,
    pub analysis_round_trip_ms: u64,
    pub module_id: &'static str,
    pub module_name: &'static str,
    pub code: u16,
    pub command: &'static str,
    pub request_id: String,
    pub inference_device: String,
    pub processed_by: String,
    #[serde(rename = "timestampUTC")]
    pub timestamp_utc: String,
}

fn header_error(message: String) -> ApiError {
    ApiError::Header {
        class: "AssertionError",
        message,
    }
}

fn param<'a>(
    name: &str,
    query: &'a HashMap<String, String>,
    form: Option<&'a multipart::Form<'_>>,
) -> Option<&'a str> {
    form.and_then(|f| f.field(name))
        .or_else(|| query.get(name).map(String::as_str))
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// DeepStack's `min_confidence`: default from config; below 0.1 raised to 0.1; above 1 or not a
/// number is an error.
fn min_confidence(raw: Option<&str>, default: f32) -> Result<f32, ApiError> {
    let Some(raw) = raw else { return Ok(default) };
    let v: f32 = raw
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("min_confidence {raw:?} is not a number")))?;
    if !v.is_finite() || v > 1.0 {
        return Err(ApiError::BadRequest(format!(
            "min_confidence {raw} must be between 0 and 1"
        )));
    }
    Ok(v.max(0.1))
}

pub(crate) fn check_api_key(
    state: &AppState,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    form: Option<&multipart::Form<'_>>,
) -> Result<(), ApiError> {
    let Some(expected) = &state.config.api_key else {
        return Ok(());
    };
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").map(str::trim))
        .or_else(|| {
            headers
                .get("x-api-key")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        });
    let given = param("api_key", query, form).or(from_header);
    match given {
        Some(k) if constant_time_eq(k.as_bytes(), expected.0.as_bytes()) => Ok(()),
        Some(_) => Err(ApiError::Unauthorized("the API key is not valid".into())),
        None => Err(ApiError::Unauthorized(
            "an API key is required (form field api_key, Authorization: Bearer, or X-API-Key)"
                .into(),
        )),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Reads the body into one buffer (sized from Content-Length when given), at most `limit`
/// bytes, within `timeout`.
async fn read_body(
    body: Body,
    expected: Option<usize>,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, ApiError> {
    let collect = async move {
        let mut body = body;
        let mut buf = bytes::BytesMut::with_capacity(expected.unwrap_or(0).min(limit));
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ApiError::Detection {
                code: StatusCode::BAD_REQUEST,
                message: format!("the request body could not be read: {e}"),
            })?;
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > limit {
                    return Err(header_error(format!(
                        "Expected content length to be at most {limit} bytes, got more"
                    )));
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(buf.freeze())
    };
    tokio::time::timeout(timeout, collect)
        .await
        .unwrap_or_else(|_| {
            Err(ApiError::Detection {
                code: StatusCode::REQUEST_TIMEOUT,
                message: format!(
                    "the request body did not arrive within {} ms",
                    timeout.as_millis()
                ),
            })
        })
}

enum Upload {
    Multipart(String),
    Raw,
}

/// The Python server's header checks, in its order.
fn check_headers(headers: &HeaderMap, max_body: usize) -> Result<Upload, ApiError> {
    let chunked = headers
        .get(header::TRANSFER_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    match headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
    {
        Some(v) => {
            let n: u64 = v.trim().parse().map_err(|_| {
                header_error(format!(
                    "Expected Content-Length to be a number, got {v:?} instead"
                ))
            })?;
            if n == 0 {
                return Err(header_error(
                    "Expected Content-Length to be greater than 0, got 0 instead".into(),
                ));
            }
            if n > max_body as u64 {
                return Err(header_error(format!(
                    "Expected Content-Length to be at most {max_body}, got {n} instead"
                )));
            }
        }
        None if chunked => {}
        None => {
            return Err(header_error(
                "Expected a Content-Length header, got none".into(),
            ))
        }
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| header_error("Expected a Content-Type header, got none".into()))?;
    let mime = multipart::mime_type(ct);
    if mime.starts_with("image/") || mime == "application/octet-stream" {
        return Ok(Upload::Raw);
    }
    if mime != "multipart/form-data" {
        return Err(header_error(format!(
            "Expected mime type to be \"multipart/form-data\", got \"{mime}\" instead"
        )));
    }
    multipart::boundary(ct)
        .map(Upload::Multipart)
        .ok_or_else(|| {
            header_error(
                "Expected a multipart boundary in the Content-Type header, got none".into(),
            )
        })
}

async fn detect(
    state: &Arc<AppState>,
    model_name: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Body,
    trace: &mut Trace,
) -> Result<(DetectionResponse, u64), ApiError> {
    let received = Instant::now();
    let cfg = &state.config;
    let model = state
        .models
        .get(model_name)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no model named {model_name:?}; GET /v1/vision/custom/list lists them"
            ))
        })?
        .clone();
    let upload = check_headers(headers, cfg.max_body_bytes);
    trace.boundary_ns = Some(received.elapsed().as_nanos() as u64);
    let upload = upload?;
    let expected = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let body = read_body(
        body,
        expected,
        cfg.max_body_bytes,
        Duration::from_millis(cfg.body_timeout_ms),
    )
    .await?;
    let form = match &upload {
        Upload::Multipart(b) => {
            Some(multipart::parse(&body, b).map_err(|e| ApiError::Detection {
                code: StatusCode::BAD_REQUEST,
                message: e.to_string(),
            })?)
        }
        Upload::Raw => None,
    };
    let parsed = Instant::now();
    trace.body_ns =
        Some(parsed.duration_since(received).as_nanos() as u64 - trace.boundary_ns.unwrap_or(0));
    check_api_key(state, headers, query, form.as_ref())?;
    let conf = min_confidence(
        param("min_confidence", query, form.as_ref()),
        cfg.min_confidence,
    )?;
    let max_detections = match param("max_detections", query, form.as_ref()) {
        Some(raw) => Some(raw.parse::<usize>().map_err(|_| {
            ApiError::BadRequest(format!(
                "max_detections {raw:?} is not a non-negative integer"
            ))
        })?),
        None => cfg.max_detections,
    };
    let image: Bytes = match &form {
        Some(f) => {
            let part = f.image.ok_or_else(|| ApiError::Detection {
                code: StatusCode::BAD_REQUEST,
                message: "the form has no part named \"image\"".into(),
            })?;
            body.slice_ref(part)
        }
        None => body.clone(),
    };
    if image.is_empty() {
        return Err(ApiError::Detection {
            code: StatusCode::BAD_REQUEST,
            message: "the image part is empty".into(),
        });
    }
    trace.image_bytes = Some(image.len());
    if image.len() > cfg.max_image_bytes {
        return Err(ApiError::Detection {
            code: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!(
                "the image is {} bytes, over the limit of {} bytes",
                image.len(),
                cfg.max_image_bytes
            ),
        });
    }
    let deadline = received + Duration::from_millis(cfg.request_timeout_ms);
    let timed_out = || ApiError::Detection {
        code: StatusCode::GATEWAY_TIMEOUT,
        message: format!(
            "no result within the request timeout of {} ms",
            cfg.request_timeout_ms
        ),
    };
    // Decode and letterbox on the decode pool, a bounded number at a time.
    let limits = DecodeLimits {
        max_pixels: cfg.max_pixels,
        max_bytes: cfg.max_image_bytes,
    };
    let pre = model.preprocessor().clone();
    let decode_hist = state.metrics.stage("decode");
    let job = state.decoders.run(move || {
        let t = Instant::now();
        let img = osprey_image::decode(&image, &limits)?;
        let (w, h) = (img.width(), img.height());
        let prepared = pre.prepare(&img);
        decode_hist.observe(t.elapsed().as_secs_f64());
        Ok::<_, osprey_image::DecodeError>((prepared, w, h))
    });
    let prepared = tokio::time::timeout_at(deadline.into(), job)
        .await
        .map_err(|_| timed_out())?
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
        .map_err(|e| ApiError::detection(&e))?;
    let (prepared, width, height) = prepared;
    let params = DetectParams {
        conf,
        ..DetectParams::default()
    };
    let rx = model.submit(prepared, params).map_err(|e| match e {
        SubmitError::QueueFull(_) => {
            state
                .metrics
                .queue_rejected
                .with_label_values(&[model_name])
                .inc();
            ApiError::Busy(e.to_string())
        }
        SubmitError::Stopped(_) => ApiError::Unavailable(e.to_string()),
    })?;
    let out = tokio::time::timeout_at(deadline.into(), rx)
        .await
        .map_err(|_| timed_out())?
        .map_err(|_| ApiError::Detection {
            code: StatusCode::INTERNAL_SERVER_ERROR,
            message: "the inference worker dropped the request".into(),
        })?
        .map_err(|e| ApiError::detection(&e))?;
    let responding = Instant::now();
    trace.compute_ns = Some(responding.duration_since(parsed).as_nanos() as u64);
    let m = &state.metrics;
    m.stage("parse")
        .observe(parsed.duration_since(received).as_secs_f64());
    m.stage("queue_wait").observe(out.queue_wait.as_secs_f64());
    m.stage("inference").observe(out.inference.as_secs_f64());
    m.stage("postprocess")
        .observe(out.postprocess.as_secs_f64());
    let mut dets: Vec<Detection> = out.detections;
    if let Some(n) = max_detections {
        dets.truncate(n);
    }
    let info = model.info();
    let predictions = to_predictions(&dets, info, width, height);
    let inference_ms = out.inference.as_millis() as u64;
    let total_ms = received.elapsed().as_millis() as u64;
    let message = summary(&predictions);
    for p in &predictions {
        m.detections
            .with_label_values(&[model_name, p.label.as_str()])
            .inc();
    }
    m.stage("respond")
        .observe(responding.elapsed().as_secs_f64());
    Ok((
        DetectionResponse {
            success: true,
            count: predictions.len(),
            predictions,
            message,
            inference_ms,
            process_ms: (out.inference + out.postprocess).as_millis() as u64,
            analysis_round_trip_ms: total_ms,
            module_id: "ObjectDetectionOsprey",
            module_name: "Object Detection (Osprey)",
            code: 200,
            command: if model_name == state.default_model {
                "detect"
            } else {
                "custom"
            },
            request_id: request_id(),
            inference_device: match model.provider() {
                osprey_detect::Provider::Cpu => "CPU".into(),
                p => format!("GPU ({})", p.as_str()),
            },
            processed_by: state.hostname.clone(),
            timestamp_utc: httpdate::fmt_http_date(SystemTime::now()),
        },
        inference_ms,
    ))
}

/// DeepStack predictions: lower-case labels, integer pixels in the uploaded image, clipped.
pub fn to_predictions(
    dets: &[Detection],
    info: &osprey_detect::ModelInfo,
    width: u32,
    height: u32,
) -> Vec<Prediction> {
    let clip = |v: f32, max: u32| (v.max(0.0) as i64).min(i64::from(max));
    dets.iter()
        .map(|d| Prediction {
            label: info.label(d.class_id).to_lowercase(),
            confidence: d.confidence,
            x_min: clip(d.x1, width),
            y_min: clip(d.y1, height),
            x_max: clip(d.x2, width),
            y_max: clip(d.y2, height),
        })
        .collect()
}

fn summary(preds: &[Prediction]) -> String {
    if preds.is_empty() {
        return "No objects found".into();
    }
    let mut labels: Vec<&str> = Vec::new();
    for p in preds {
        if !labels.contains(&p.label.as_str()) {
            labels.push(&p.label);
        }
    }
    format!("Found {}", labels.join(", "))
}

fn request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.finish()
    });
    format!("{:016x}-{:08x}", seed, NEXT.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_confidence_rules() {
        assert_eq!(min_confidence(None, 0.4).expect("ok"), 0.4);
        assert_eq!(min_confidence(Some("0.05"), 0.4).expect("ok"), 0.1);
        assert_eq!(min_confidence(Some("0.65"), 0.4).expect("ok"), 0.65);
        assert!(min_confidence(Some("1.5"), 0.4).is_err());
        assert!(min_confidence(Some("abc"), 0.4).is_err());
        assert!(min_confidence(Some("NaN"), 0.4).is_err());
    }

    #[test]
    fn header_checks_follow_the_python_server() {
        let h = |pairs: &[(&str, &str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(
                    axum::http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                    v.parse().expect("value"),
                );
            }
            m
        };
        let msg = |r: Result<Upload, ApiError>| r.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg(check_headers(&h(&[("content-length", "0")]), 100)).contains("greater than 0"));
        assert!(msg(check_headers(&h(&[("content-length", "101")]), 100)).contains("at most 100"));
        assert!(msg(check_headers(&h(&[("content-length", "10")]), 100)).contains("Content-Type"));
        assert!(msg(check_headers(
            &h(&[
                ("content-length", "10"),
                ("content-type", "invalid/mime-type")
            ]),
            100
        ))
        .contains(
            "Expected mime type to be \"multipart/form-data\", got \"invalid/mime-type\" instead"
        ));
        assert!(msg(check_headers(
            &h(&[
                ("content-length", "10"),
                ("content-type", "multipart/form-data")
            ]),
            100
        ))
        .contains("boundary"));
        assert!(check_headers(
            &h(&[
                ("transfer-encoding", "chunked"),
                ("content-type", "image/jpeg")
            ]),
            100
        )
        .is_ok());
    }

    #[test]
    fn api_key_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
