//! `GET /api/recordings/{camera}/view.mp4?start=&end=`: one fragmented MP4 for a wall-clock
//! range, planned from the index ([`osprey_record::RecordingIndex::view`]) and written on the
//! fly ([`osprey_record::ViewPlan::write_range`]).
//!
//! - `Range: bytes=a-b | a- | -n` (one range): 206 with `Content-Range`; 416 with
//!   `Content-Range: bytes */len` when it starts past the end; several ranges or a malformed
//!   header are ignored (200, the whole file), as RFC 9110 allows. `If-Range` with another tag
//!   also gets the whole file.
//! - `ETag` is a hash of the camera, the range and the segments used (ids, names, sizes), so it
//!   stays the same while those do; `If-None-Match` answers 304.
//! - The body is written by a blocking task into a bounded channel (a slow client stalls only
//!   that task, never the runtime); the view's segments stay pinned, so retention defers their
//!   deletion, until the body has been sent or the client has gone.

use std::collections::HashMap;
use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use osprey_record::{PinGuard, PinnedView, RecordError, ViewPlan};
use serde_json::json;
use tokio::sync::mpsc;

use super::{blocking, iso, known_camera, library, record_error, required_range, DAY_MS};
use crate::error::ApiError;
use crate::state::AppState;

/// The longest view one request may ask for.
const MAX_VIEW_MS: i64 = DAY_MS;
/// Bytes per message from the writer task.
const CHUNK: usize = 64 * 1024;
/// Messages buffered between the writer task and the connection.
const QUEUE: usize = 4;
/// A client that reads nothing for this long is dropped (and the pin released).
const STALL: Duration = Duration::from_secs(60);

/// `GET /api/recordings/{camera}/view.mp4` (and `HEAD`).
pub(super) async fn view(
    State(state): State<Arc<AppState>>,
    Path(camera): Path<String>,
    method: Method,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let lib = library(&state)?;
    let (start, end) = required_range(&q)?;
    if end - start > MAX_VIEW_MS {
        return Err(ApiError::BadRequest(
            "a view covers at most 24 hours; ask for several".into(),
        ));
    }
    let st = Arc::clone(&state);
    let cam = camera.clone();
    let view = blocking(move || {
        known_camera(&st, &lib, &cam)?;
        // The range was checked above: a refused request means nothing covers it.
        lib.index().view(&cam, start, end).map_err(|e| match e {
            RecordError::Request(_) => ApiError::NotFound(format!(
                "camera {cam:?} has no recording between {} and {}",
                iso(start),
                iso(end)
            )),
            e => record_error(&e),
        })
    })
    .await?;
    let tag = etag(&camera, start, end, &view);
    Ok(respond(view, &tag, &method, &headers))
}

/// A strong entity tag for the view: FNV-1a over the camera, the range and every segment used.
fn etag(camera: &str, start: i64, end: i64, view: &PinnedView) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(camera.as_bytes());
    eat(&start.to_le_bytes());
    eat(&end.to_le_bytes());
    for id in view.pin.ids() {
        eat(&id.to_le_bytes());
    }
    eat(&view.plan.len.to_le_bytes());
    eat(&view.plan.frames.to_le_bytes());
    format!("\"v1-{h:016x}\"")
}

/// Whether an `If-None-Match` / `If-Range` list names `tag` (weak comparison).
fn matches(value: Option<&HeaderValue>, tag: &str) -> bool {
    let Some(v) = value.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    v.split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == tag)
}

/// What a `Range` header asks for, against a file of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
enum Wanted {
    /// The whole file (no header, several ranges, or one that cannot be parsed).
    All,
    /// One satisfiable range, end exclusive.
    Part(u64, u64),
    /// A well-formed range outside the file.
    Unsatisfiable,
}

fn wanted(range: Option<&HeaderValue>, len: u64) -> Wanted {
    let Some(spec) = range
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Wanted::All;
    };
    if spec.contains(',') {
        return Wanted::All;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Wanted::All;
    };
    let num = |s: &str| s.trim().parse::<u64>().ok();
    match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, true) => Wanted::All,
        // Suffix: the last n bytes.
        (true, false) => match num(b) {
            Some(0) => Wanted::Unsatisfiable,
            Some(n) if len > 0 => Wanted::Part(len.saturating_sub(n), len),
            Some(_) => Wanted::Unsatisfiable,
            None => Wanted::All,
        },
        (false, open_end) => {
            let Some(first) = num(a) else {
                return Wanted::All;
            };
            let last = if open_end { Some(u64::MAX) } else { num(b) };
            match last {
                None => Wanted::All,
                Some(last) if last < first => Wanted::All,
                Some(_) if first >= len => Wanted::Unsatisfiable,
                Some(last) => Wanted::Part(first, last.saturating_add(1).min(len)),
            }
        }
    }
}

fn respond(view: PinnedView, tag: &str, method: &Method, headers: &HeaderMap) -> Response {
    let len = view.plan.len;
    let etag = HeaderValue::from_str(tag).unwrap_or(HeaderValue::from_static("\"v1\""));
    if matches(headers.get(header::IF_NONE_MATCH), tag) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let if_range_ok = headers
        .get(header::IF_RANGE)
        .is_none_or(|v| matches(Some(v), tag));
    let range = if if_range_ok {
        wanted(headers.get(header::RANGE), len)
    } else {
        Wanted::All
    };
    let (status, from, to) = match range {
        Wanted::All => (StatusCode::OK, 0, len),
        Wanted::Part(a, b) => (StatusCode::PARTIAL_CONTENT, a, b),
        Wanted::Unsatisfiable => return unsatisfiable(len),
    };
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        stream(view, from, to)
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::ETAG, etag);
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=0"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(to - from));
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {from}-{}/{len}", to - 1)) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    resp
}

/// 416 with the house JSON error body.
fn unsatisfiable(len: u64) -> Response {
    let status = StatusCode::RANGE_NOT_SATISFIABLE;
    let body = json!({
        "success": false,
        "error": format!("the requested range is outside the view's {len} bytes"),
        "code": status.as_u16(),
        "predictions": [],
    });
    let mut resp = (status, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
        resp.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    resp
}

/// Bytes `[from, to)` of the view as a body: a blocking task writes them into a bounded
/// channel; the body holds the pin until it is dropped (sent, or the client went away).
fn stream(view: PinnedView, from: u64, to: u64) -> Body {
    let PinnedView { plan, pin } = view;
    let (tx, rx) = mpsc::channel(QUEUE);
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || write_view(&plan, from, to, tx, rt));
    Body::new(ViewBody {
        rx,
        remaining: to - from,
        _pin: pin,
    })
}

fn write_view(
    plan: &ViewPlan,
    from: u64,
    to: u64,
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    rt: tokio::runtime::Handle,
) {
    let mut out = ChannelWriter {
        buf: Vec::with_capacity(CHUNK),
        tx,
        rt,
    };
    let result = plan
        .write_range(from..to, &mut out)
        .and_then(|()| out.flush());
    if let Err(e) = result {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            tracing::warn!(error = %e, "view.mp4 cut short");
            let tx = out.tx.clone();
            let _ = out.rt.block_on(tx.send_timeout(Err(e), STALL));
        }
    }
}

/// A `Write` that sends [`CHUNK`]-sized messages, waiting (up to [`STALL`]) for room.
struct ChannelWriter {
    buf: Vec<u8>,
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    rt: tokio::runtime::Handle,
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        let tx = self.tx.clone();
        self.rt
            .block_on(tx.send_timeout(Ok(chunk), STALL))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// The response body: chunks from the writer task, with the view's pin.
struct ViewBody {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
    remaining: u64,
    _pin: PinGuard,
}

impl http_body::Body for ViewBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                self.remaining = self.remaining.saturating_sub(chunk.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the view ended early",
            )))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: &str, len: u64) -> Wanted {
        wanted(
            Some(&HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static(""))),
            len,
        )
    }

    #[test]
    fn ranges() {
        assert_eq!(wanted(None, 100), Wanted::All);
        assert_eq!(w("bytes=0-9", 100), Wanted::Part(0, 10));
        assert_eq!(w("bytes=90-", 100), Wanted::Part(90, 100));
        assert_eq!(w("bytes=90-500", 100), Wanted::Part(90, 100));
        assert_eq!(w("bytes=-10", 100), Wanted::Part(90, 100));
        assert_eq!(w("bytes=-500", 100), Wanted::Part(0, 100));
        assert_eq!(w("bytes=100-", 100), Wanted::Unsatisfiable);
        assert_eq!(w("bytes=-0", 100), Wanted::Unsatisfiable);
        assert_eq!(w("bytes=0-1,5-6", 100), Wanted::All);
        assert_eq!(w("bytes=9-2", 100), Wanted::All);
        assert_eq!(w("items=0-1", 100), Wanted::All);
        assert_eq!(w("bytes=x-1", 100), Wanted::All);
    }

    #[test]
    fn tags_match_lists_weak_and_star() {
        let tag = "\"v1-00\"";
        let v = |s: &'static str| HeaderValue::from_static(s);
        assert!(matches(Some(&v("\"a\", \"v1-00\"")), tag));
        assert!(matches(Some(&v("W/\"v1-00\"")), tag));
        assert!(matches(Some(&v("*")), tag));
        assert!(!matches(Some(&v("\"v1-01\"")), tag));
        assert!(!matches(None, tag));
    }
}
