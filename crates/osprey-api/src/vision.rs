//! `POST /v1/vision/detection` and `/v1/vision/custom/{model}`: the DeepStack contract, the
//! Python server's header checks and error shapes, then decode → letterbox → the model's HTTP
//! lane → DeepStack JSON.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use http_body_util::BodyExt;
use osprey_detect::{DetectParams, Detection, Prepared};
use osprey_image::DecodeLimits;
use osprey_infer::{JobOutput, ModelHandle, SubmitError};

use crate::deepstack::{to_predictions, DetectionResponse, Timing};
use crate::error::ApiError;
use crate::guard::DetectPending;
use crate::influx::{emit_influx, Trace};
use crate::multipart;
use crate::state::{ApiConfig, AppState};
use crate::status::InferenceMs;

pub(crate) async fn detect_default(
    State(state): State<Arc<AppState>>,
    pending: Option<Extension<DetectPending>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let model = state.models.default_name().to_string();
    let mut trace = Trace::default();
    let pending = pending.map(|p| p.0);
    let result = detect(&state, &model, (&q, pending), &headers, body, &mut trace).await;
    respond(result, &state, &model, &trace)
}

pub(crate) async fn detect_custom(
    State(state): State<Arc<AppState>>,
    pending: Option<Extension<DetectPending>>,
    Path(model): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut trace = Trace::default();
    let pending = pending.map(|p| p.0);
    let result = detect(&state, &model, (&q, pending), &headers, body, &mut trace).await;
    respond(result, &state, &model, &trace)
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

/// The detection routes' last credential check: when the guard let a request through pending
/// (no credential in its headers while the routes need one), the form's `api_key` field must
/// hold a valid key (Frigate and Blue Iris send it there).
fn check_form_key(
    state: &AppState,
    pending: Option<DetectPending>,
    query: &HashMap<String, String>,
    form: Option<&multipart::Form<'_>>,
) -> Result<(), ApiError> {
    let Some(DetectPending { client }) = pending else {
        return Ok(());
    };
    let sec = &state.security;
    let Some(key) = param("api_key", query, form) else {
        return Err(ApiError::Unauthorized(
            "an API key is required (form field api_key, Authorization: Bearer, or X-API-Key)"
                .into(),
        ));
    };
    if let Err(d) = sec.locked(client) {
        return Err(ApiError::retry_after(
            d,
            "too many failed sign-ins from this address",
        ));
    }
    match sec.key_principal(key) {
        Some(_) => Ok(()),
        None => {
            sec.failure(client);
            Err(ApiError::Unauthorized("the API key is not valid".into()))
        }
    }
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

/// What a detection request asks for, read from its query and form.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DetectRequest {
    /// Keep predictions above this.
    pub conf: f32,
    /// Keep at most this many, best first.
    pub max_detections: Option<usize>,
    /// The encoded image (a slice of the body).
    pub image: Bytes,
}

impl DetectRequest {
    /// Reads the parameters (form fields before query parameters, config defaults) and the
    /// image: the form's `image` part, or the whole body for a raw image upload. Pure.
    pub(crate) fn parse(
        cfg: &ApiConfig,
        query: &HashMap<String, String>,
        form: Option<&multipart::Form<'_>>,
        body: &Bytes,
    ) -> Result<DetectRequest, ApiError> {
        let conf = min_confidence(param("min_confidence", query, form), cfg.min_confidence)?;
        let max_detections = match param("max_detections", query, form) {
            Some(raw) => Some(raw.parse::<usize>().map_err(|_| {
                ApiError::BadRequest(format!(
                    "max_detections {raw:?} is not a non-negative integer"
                ))
            })?),
            None => cfg.max_detections,
        };
        let image = match form {
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
        Ok(DetectRequest {
            conf,
            max_detections,
            image,
        })
    }
}

/// The model named in the route.
fn find_model(state: &AppState, name: &str) -> Result<ModelHandle, ApiError> {
    state.models.get(name).cloned().ok_or_else(|| {
        ApiError::NotFound(format!(
            "no model named {name:?}; GET /v1/vision/custom/list lists them"
        ))
    })
}

/// Header checks, then the whole body within its size and time limits.
async fn read_request(
    cfg: &ApiConfig,
    headers: &HeaderMap,
    body: Body,
    trace: &mut Trace,
    received: Instant,
) -> Result<(Upload, Bytes), ApiError> {
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
    Ok((upload, body))
}

fn timed_out(cfg: &ApiConfig) -> ApiError {
    ApiError::Detection {
        code: StatusCode::GATEWAY_TIMEOUT,
        message: format!(
            "no result within the request timeout of {} ms",
            cfg.request_timeout_ms
        ),
    }
}

/// Decodes and letterboxes on the decode pool (a bounded number at a time); the tensor and the
/// image's size.
async fn prepare(
    state: &AppState,
    model: &ModelHandle,
    image: Bytes,
    deadline: Instant,
) -> Result<(Prepared, u32, u32), ApiError> {
    let cfg = &state.config;
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
    tokio::time::timeout_at(deadline.into(), job)
        .await
        .map_err(|_| timed_out(cfg))?
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
        .map_err(|e| ApiError::detection(&e))
}

/// Runs the tensor on the model's HTTP lane; a full lane is a 503 at once.
async fn infer(
    state: &AppState,
    model: &ModelHandle,
    prepared: Prepared,
    conf: f32,
    deadline: Instant,
) -> Result<JobOutput, ApiError> {
    let params = DetectParams {
        conf,
        ..DetectParams::default()
    };
    let rx = model.submit(prepared, params).map_err(|e| match e {
        SubmitError::QueueFull(_) => {
            state
                .metrics
                .queue_rejected
                .with_label_values(&[model.name()])
                .inc();
            ApiError::Busy(e.to_string())
        }
        SubmitError::Stopped(_) => ApiError::Unavailable(e.to_string()),
    })?;
    tokio::time::timeout_at(deadline.into(), rx)
        .await
        .map_err(|_| timed_out(&state.config))?
        .map_err(|_| ApiError::Detection {
            code: StatusCode::INTERNAL_SERVER_ERROR,
            message: "the inference worker dropped the request".into(),
        })?
        .map_err(|e| ApiError::detection(&e))
}

async fn detect(
    state: &Arc<AppState>,
    model_name: &str,
    (query, pending): (&HashMap<String, String>, Option<DetectPending>),
    headers: &HeaderMap,
    body: Body,
    trace: &mut Trace,
) -> Result<(DetectionResponse, u64), ApiError> {
    let received = Instant::now();
    let cfg = &state.config;
    let model = find_model(state, model_name)?;
    let (upload, body) = read_request(cfg, headers, body, trace, received).await?;
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
    check_form_key(state, pending, query, form.as_ref())?;
    let req = DetectRequest::parse(cfg, query, form.as_ref(), &body)?;
    trace.image_bytes = Some(req.image.len());
    if req.image.len() > cfg.max_image_bytes {
        return Err(ApiError::Detection {
            code: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!(
                "the image is {} bytes, over the limit of {} bytes",
                req.image.len(),
                cfg.max_image_bytes
            ),
        });
    }
    let deadline = received + Duration::from_millis(cfg.request_timeout_ms);
    let (prepared, width, height) = prepare(state, &model, req.image, deadline).await?;
    let out = infer(state, &model, prepared, req.conf, deadline).await?;
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
    if let Some(n) = req.max_detections {
        dets.truncate(n);
    }
    let predictions = to_predictions(&dets, model.info(), width, height);
    for p in &predictions {
        m.detections
            .with_label_values(&[model_name, p.label.as_str()])
            .inc();
    }
    let inference_ms = out.inference.as_millis() as u64;
    let body = DetectionResponse::new(
        predictions,
        Timing {
            inference: out.inference,
            postprocess: out.postprocess,
            round_trip: received.elapsed(),
        },
        model_name == state.models.default_name(),
        model.provider(),
        &state.hostname,
    );
    m.stage("respond")
        .observe(responding.elapsed().as_secs_f64());
    Ok((body, inference_ms))
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

    fn cfg() -> ApiConfig {
        ApiConfig {
            listen: vec![],
            api_key: None,
            min_confidence: 0.4,
            max_detections: Some(50),
            max_body_bytes: 1000,
            max_image_bytes: 1000,
            max_pixels: 1000,
            log_responses: false,
            request_timeout_ms: 1000,
            header_timeout_ms: 1000,
            body_timeout_ms: 1000,
            max_connections: 10,
        }
    }

    #[test]
    fn detect_request_reads_form_query_and_defaults() {
        let body = Bytes::from_static(
            b"--B\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nIMG\r\n--B\r\nContent-Disposition: form-data; name=\"min_confidence\"\r\n\r\n0.7\r\n--B--\r\n",
        );
        let form = multipart::parse(&body, "B").expect("form");
        let q: HashMap<String, String> = [
            ("min_confidence".to_string(), "0.2".to_string()),
            ("max_detections".to_string(), "3".to_string()),
        ]
        .into();
        let r = DetectRequest::parse(&cfg(), &q, Some(&form), &body).expect("ok");
        assert_eq!(r.conf, 0.7, "the form field wins over the query");
        assert_eq!(r.max_detections, Some(3));
        assert_eq!(&r.image[..], b"IMG");
        // Raw body: the whole body is the image; defaults from the config.
        let raw = Bytes::from_static(b"\xff\xd8 jpeg");
        let r = DetectRequest::parse(&cfg(), &HashMap::new(), None, &raw).expect("raw");
        assert_eq!((r.conf, r.max_detections), (0.4, Some(50)));
        assert_eq!(r.image, raw);
        // Errors: no image part, an empty image, a bad max_detections.
        let no_image = Bytes::from_static(
            b"--B\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--B--",
        );
        let f = multipart::parse(&no_image, "B").expect("form");
        let e = DetectRequest::parse(&cfg(), &HashMap::new(), Some(&f), &no_image);
        assert!(e
            .expect_err("no image")
            .to_string()
            .contains("no part named"));
        let e = DetectRequest::parse(&cfg(), &HashMap::new(), None, &Bytes::new());
        assert!(e.expect_err("empty").to_string().contains("empty"));
        let q: HashMap<String, String> = [("max_detections".to_string(), "-1".to_string())].into();
        assert!(DetectRequest::parse(&cfg(), &q, None, &raw).is_err());
    }
}
