//! The web UI (`ui/`, docs/ui.md): the files of `ui/dist`, embedded at build time by `build.rs`,
//! served under `/ui/`. Hashed names (`app-<hash>.js`) are cached for a year; `index.html` is
//! revalidated each time; every file has an ETag and a gzipped copy for clients that accept it.
//! `GET /` from a browser (`Accept: text/html`) is sent to `/ui/`; other clients, and `HEAD /`,
//! still get the status page.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;
use crate::status;

/// An embedded file: name, bytes, gzipped bytes (if any), ETag.
type Asset = (
    &'static str,
    &'static [u8],
    Option<&'static [u8]>,
    &'static str,
);

include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));

/// `/`, `/ui`, `/ui/` and `/ui/{file}`.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(root))
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(index))
        .route("/ui/{*file}", get(file))
}

/// The status page, or the UI for a browser's `GET`.
async fn root(state: State<Arc<AppState>>, method: Method, headers: HeaderMap) -> Response {
    if method == Method::GET && wants_html(&headers) {
        return Redirect::to("/ui/").into_response();
    }
    status::status_page(state).await.into_response()
}

/// A browser asking for a page (and the UI is built in).
pub(crate) fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
        && find("index.html").is_some()
}

async fn index(headers: HeaderMap) -> Result<Response, ApiError> {
    serve("index.html", &headers)
}

async fn file(Path(name): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    serve(&name, &headers)
}

fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.0 == name)
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "map" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// A name with a content hash (`app-3F2K1Q.js`) never changes content: cache it for a year.
fn immutable(name: &str) -> bool {
    name.rsplit_once('.')
        .and_then(|(stem, _)| stem.rsplit_once('-'))
        .is_some_and(|(_, h)| h.len() >= 8 && h.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn serve(name: &str, headers: &HeaderMap) -> Result<Response, ApiError> {
    let Some(&(name, bytes, gz, etag)) = find(name) else {
        return Err(ApiError::NotFound(format!("no UI file {name:?}")));
    };
    let cache = if immutable(name) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag), (header::CACHE_CONTROL, cache)],
        )
            .into_response());
    }
    let accepts_gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let base = [
        (header::CONTENT_TYPE, content_type(name)),
        (header::ETAG, etag),
        (header::CACHE_CONTROL, cache),
        (header::VARY, "Accept-Encoding"),
    ];
    Ok(match gz {
        Some(gz) if accepts_gzip => {
            (base, [(header::CONTENT_ENCODING, "gzip")], gz).into_response()
        }
        _ => (base, bytes).into_response(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_are_immutable() {
        assert!(immutable("app-3F2K1QAB.js"));
        assert!(!immutable("index.html"));
        assert!(!immutable("favicon.svg"));
    }

    #[test]
    fn index_is_embedded_when_built() {
        // ui/dist is committed, so a checkout always embeds it.
        let index = find("index.html").expect("ui/dist/index.html embedded");
        let html = std::str::from_utf8(index.1).expect("UTF-8");
        for a in ASSETS.iter().filter(|a| immutable(a.0)) {
            assert!(html.contains(a.0), "index.html links {}", a.0);
        }
    }
}
