//! The HTTP API: the DeepStack / CodeProject.AI detection routes, the camera and event REST
//! routes, status and Prometheus metrics — one router, one error type ([`ApiError`], the only
//! place errors become HTTP statuses), served by hyper with bounded everything.
//!
//! ```text
//! TCP ─ hyper (header timeout, connection cap) ─ axum routes ─ body (size + time limits)
//!   ─ multipart ─ decode + letterbox (blocking pool, bounded) ─ model queue (bounded, 503 when full)
//!   ─ inference worker thread (micro-batching) ─ oneshot reply ─ JSON
//! ```
#![forbid(clippy::print_stdout, clippy::print_stderr)]

mod accounts;
mod cameras;
pub mod decode_pool;
pub mod deepstack;
mod emdx;
pub mod error;
mod events;
pub mod guard;
mod influx;
mod live;
pub mod metrics;
pub mod multipart;
pub mod policy;
mod recordings;
pub mod security;
mod serve;
mod state;
mod status;
pub mod tls;
mod ui;
mod vision;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

pub use error::ApiError;
pub use metrics::HttpMetrics;
pub use security::{Peer, Security, SecurityConfig, TlsConfig};
pub use serve::{serve, shutdown_signal, ListenMode, Listener};
pub use state::{ApiConfig, AppState, Counters, Secret};

/// The router; `serve` wraps it with connection handling.
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .merge(ui::routes())
        .route("/v1/vision/detection", post(vision::detect_default))
        .route(
            "/v1/vision/custom/list",
            get(status::list_models).post(status::list_models),
        )
        .route("/v1/vision/custom/{model}", post(vision::detect_custom))
        .route("/v1/server/status/ping", get(status::ping))
        .route("/v1/status/ping", get(status::ping))
        .route("/healthz", get(status::healthz))
        .route("/readyz", get(status::readyz))
        .route("/metrics", get(status::metrics))
        .merge(cameras::routes())
        .merge(live::routes())
        .merge(events::routes())
        .merge(recordings::routes(&state))
        .merge(emdx::routes())
        .merge(accounts::routes())
        .fallback(status::not_found)
        .method_not_allowed_fallback(status::method_not_allowed)
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            guard::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            status::access_log,
        ))
        .with_state(state)
}
