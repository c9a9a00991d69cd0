//! The accept loop: hyper HTTP/1.1 connections (header timeout, connection cap, half-closed
//! clients served) over the router, and graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::app;
use crate::state::AppState;

/// Serves `state` on `listeners` until `shutdown` resolves, then stops accepting, runs
/// `stopping` on a blocking thread (the application stops its cameras and publishers there),
/// lets in-flight requests finish (up to `grace`), and returns.
pub async fn serve(
    listeners: Vec<TcpListener>,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
    stopping: impl FnOnce() + Send + 'static,
) {
    let cfg = &state.config;
    let router = app(Arc::clone(&state));
    let conn_slots = Arc::new(tokio::sync::Semaphore::new(cfg.max_connections));
    // Connections end gracefully once `stop_tx` says so; every connection task holds a
    // `drain` sender, so the receiver sees the end of the last one.
    let (drain_tx, mut drain_rx) = tokio::sync::mpsc::channel::<()>(1);
    let header_timeout = Duration::from_millis(cfg.header_timeout_ms);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut accept_tasks = Vec::new();
    {
        // Per-camera frame rates for the status API.
        let cams = Arc::clone(&state.cameras);
        let mut stop = stop_rx.clone();
        accept_tasks.push(tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    _ = every.tick() => cams.tick(),
                }
            }
        }));
    }
    let (conn_tx, mut conn_rx) = tokio::sync::mpsc::unbounded_channel();
    for listener in listeners {
        let mut stop = stop_rx.clone();
        let slots = Arc::clone(&conn_slots);
        let conn_tx = conn_tx.clone();
        accept_tasks.push(tokio::spawn(async move {
            loop {
                let permit = tokio::select! {
                    _ = stop.changed() => break,
                    p = Arc::clone(&slots).acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                };
                let (stream, peer) = tokio::select! {
                    _ = stop.changed() => break,
                    r = listener.accept() => match r {
                        Ok(s) => s,
                        Err(e) => {
                            // EMFILE and friends: back off instead of spinning.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let _ = stream.set_nodelay(true);
                if conn_tx.send((stream, peer, permit)).is_err() {
                    break;
                }
            }
        }));
    }
    drop(conn_tx);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            c = conn_rx.recv() => {
                let Some((stream, peer, permit)) = c else { break };
                let svc = TowerToHyperService::new(router.clone());
                let mut builder = hyper::server::conn::http1::Builder::new();
                // half_close: a client that shuts down its write side after the request
                // (HTTP/1.0-style tools, `nc -N`, camera firmwares) still gets its answer.
                builder.timer(TokioTimer::new()).header_read_timeout(header_timeout).keep_alive(true).half_close(true).max_buf_size(64 * 1024);
                // Upgrades: the live view's WebSockets.
                let conn = builder.serve_connection(TokioIo::new(stream), svc).with_upgrades();
                let (mut stop, drain) = (stop_rx.clone(), drain_tx.clone());
                tokio::spawn(async move {
                    let mut conn = std::pin::pin!(conn);
                    let res = tokio::select! {
                        r = conn.as_mut() => r,
                        _ = stop.changed() => {
                            conn.as_mut().graceful_shutdown();
                            conn.await
                        }
                    };
                    if let Err(e) = res {
                        tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
                    }
                    drop((permit, drain));
                });
            }
        }
    }
    let _ = stop_tx.send(true);
    for t in accept_tasks {
        let _ = t.await;
    }
    let _ = tokio::task::spawn_blocking(stopping).await;
    tracing::info!("shutting down: no new connections; finishing in-flight requests");
    drop(drain_tx);
    if tokio::time::timeout(grace, drain_rx.recv()).await.is_err() {
        tracing::warn!(
            grace_s = grace.as_secs(),
            "in-flight requests did not finish in time"
        );
    }
}

/// Resolves on the first SIGTERM or SIGINT; a second one exits the process at once.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::info!("signal received: shutting down gracefully (send it again to stop at once)");
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::warn!("second signal: exiting now");
        std::process::exit(130);
    });
}
