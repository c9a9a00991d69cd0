//! The accept loop: hyper HTTP/1.1 connections (header timeout, connection cap, half-closed
//! clients served) over the router, and graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

use crate::app;
use crate::security::Peer;
use crate::state::AppState;

/// How a listener's connections are served.
#[derive(Clone)]
pub enum ListenMode {
    /// Plain HTTP/1.1.
    Plain,
    /// HTTPS (HTTP/2 and HTTP/1.1 by ALPN).
    Tls(tokio_rustls::TlsAcceptor),
    /// Plain HTTP that redirects to HTTPS on `https_port`, except for clients whose
    /// `[[access]]` rule has `plain_http = true` (served as [`ListenMode::Plain`]).
    Redirect {
        /// The HTTPS port.
        https_port: u16,
    },
}

impl std::fmt::Debug for ListenMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ListenMode::Plain => "plain",
            ListenMode::Tls(_) => "tls",
            ListenMode::Redirect { .. } => "redirect",
        })
    }
}

/// A bound socket and how to serve it.
#[derive(Debug)]
pub struct Listener {
    /// The socket.
    pub tcp: TcpListener,
    /// Plain, TLS or redirecting.
    pub mode: ListenMode,
}

impl From<TcpListener> for Listener {
    fn from(tcp: TcpListener) -> Listener {
        Listener {
            tcp,
            mode: ListenMode::Plain,
        }
    }
}

/// Serves `state` on `listeners` until `shutdown` resolves, then stops accepting, runs
/// `stopping` on a blocking thread (the application stops its cameras and publishers there),
/// lets in-flight requests finish (up to `grace`), and returns.
pub async fn serve<L: Into<Listener>>(
    listeners: Vec<L>,
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
        let Listener {
            tcp: listener,
            mode,
        } = listener.into();
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
                if conn_tx.send((stream, peer, permit, mode.clone())).is_err() {
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
                let Some((stream, peer, permit, mode)) = c else { break };
                let conn = Conn {
                    router: router.clone(),
                    state: Arc::clone(&state),
                    header_timeout,
                    stop: stop_rx.clone(),
                };
                let drain = drain_tx.clone();
                tokio::spawn(async move {
                    conn.run(stream, peer, mode).await;
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

/// One accepted connection.
struct Conn {
    router: axum::Router,
    state: Arc<AppState>,
    header_timeout: Duration,
    stop: tokio::sync::watch::Receiver<bool>,
}

impl Conn {
    async fn run(self, stream: TcpStream, peer: std::net::SocketAddr, mode: ListenMode) {
        match mode {
            ListenMode::Plain => {
                self.http1(
                    stream,
                    Peer {
                        addr: peer,
                        tls: false,
                    },
                    None,
                )
                .await
            }
            ListenMode::Redirect { https_port } => {
                let plain_ok = self.state.security.access.verdict(peer.ip()).plain_http;
                let redirect = (!plain_ok).then_some(https_port);
                self.http1(
                    stream,
                    Peer {
                        addr: peer,
                        tls: false,
                    },
                    redirect,
                )
                .await
            }
            ListenMode::Tls(acceptor) => {
                let tls = match tokio::time::timeout(self.header_timeout, acceptor.accept(stream))
                    .await
                {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(peer = %peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(peer = %peer, "TLS handshake timed out");
                        return;
                    }
                };
                self.auto(
                    tls,
                    Peer {
                        addr: peer,
                        tls: true,
                    },
                )
                .await
            }
        }
    }

    fn service(&self, peer: Peer, redirect: Option<u16>) -> PeerService {
        PeerService {
            router: self.router.clone(),
            peer,
            redirect,
        }
    }

    async fn http1<I>(self, io: I, peer: Peer, redirect: Option<u16>)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let svc = self.service(peer, redirect);
        let mut builder = hyper::server::conn::http1::Builder::new();
        // half_close: a client that shuts down its write side after the request
        // (HTTP/1.0-style tools, `nc -N`, camera firmwares) still gets its answer.
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout)
            .keep_alive(true)
            .half_close(true)
            .max_buf_size(64 * 1024);
        // Upgrades: the live view's WebSockets.
        let conn = builder
            .serve_connection(TokioIo::new(io), svc)
            .with_upgrades();
        let conn = std::pin::pin!(conn);
        let res = until_stopped(conn, self.stop, |c| c.graceful_shutdown()).await;
        if let Err(e) = res {
            tracing::debug!(peer = %peer.addr, error = %e, "connection ended with an error");
        }
    }

    async fn auto<I>(self, io: I, peer: Peer)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let svc = self.service(peer, None);
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout)
            .keep_alive(true)
            .half_close(true)
            .max_buf_size(64 * 1024);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(256)
            .max_header_list_size(64 * 1024);
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), svc);
        let conn = std::pin::pin!(conn);
        let res = until_stopped(conn, self.stop, |c| c.graceful_shutdown()).await;
        if let Err(e) = res {
            tracing::debug!(peer = %peer.addr, error = %e, "TLS connection ended with an error");
        }
    }
}

/// Drives a connection to its end; once `stop` says so, asks it to finish gracefully (the
/// in-flight request is answered, keep-alive ends) and waits for that.
async fn until_stopped<C, T>(
    mut conn: std::pin::Pin<&mut C>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    graceful: impl FnOnce(std::pin::Pin<&mut C>),
) -> T
where
    C: Future<Output = T>,
{
    tokio::select! {
        r = conn.as_mut() => r,
        _ = stop.changed() => {
            graceful(conn.as_mut());
            conn.await
        }
    }
}

/// The router as a hyper service for one connection: every request carries its [`Peer`]; on a
/// redirecting listener every request is answered with a redirect to HTTPS.
#[derive(Clone)]
struct PeerService {
    router: axum::Router,
    peer: Peer,
    redirect: Option<u16>,
}

type BoxedResponse =
    std::pin::Pin<Box<dyn Future<Output = Result<Response, std::convert::Infallible>> + Send>>;

impl hyper::service::Service<hyper::Request<Incoming>> for PeerService {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = BoxedResponse;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        let mut req: Request = req.map(Body::new);
        if let Some(port) = self.redirect {
            let resp = to_https(&req, port);
            return Box::pin(async move { Ok(resp) });
        }
        req.extensions_mut().insert(self.peer);
        let router = self.router.clone();
        Box::pin(router.oneshot(req))
    }
}

/// `308` to the same path on `https://HOST:port`.
fn to_https(req: &Request, port: u16) -> Response {
    let host = req
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| match h.rsplit_once(':') {
            // `[::1]:80` and `host:80` lose their port; a bare IPv6 literal keeps its brackets.
            Some((name, p)) if p.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => h,
        })
        .unwrap_or("localhost")
        .to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let location = format!("https://{host}:{port}{path}");
    match axum::http::HeaderValue::from_str(&location) {
        Ok(v) => (
            axum::http::StatusCode::PERMANENT_REDIRECT,
            [(axum::http::header::LOCATION, v)],
        )
            .into_response(),
        Err(_) => crate::ApiError::BadRequest("bad Host header".into()).into_response(),
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
