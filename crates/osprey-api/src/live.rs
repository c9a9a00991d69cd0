//! `GET /api/cameras/{id}/live`: the camera's live view over a WebSocket, as fragmented MP4 for
//! Media Source Extensions, with the latest tracks as a side channel (see docs/recording.md).
//!
//! Messages, server to client:
//! - text `{"type":"init","mime":…,"codec":…,"width":…,"height":…}`, then one binary message:
//!   the init segment (again whenever the codec configuration changes);
//! - binary: one `moof`+`mdat` fragment per frame; the first after an init, after joining and
//!   after falling behind is a keyframe;
//! - text `{"type":"time","decode_90k":…,"wall_ms":…}` before each keyframe fragment: the
//!   fragment's decode time (90 kHz; MSE time × 90000) and the wall-clock time it arrived;
//! - text `{"type":"tracks","seq":…,"wall_ms":…,"objects":[{"id":…,"label":…,
//!   "box":[x1,y1,x2,y2]}]}` after each processed frame (`?tracks=0` turns it off): show it
//!   when the video reaches `wall_ms`;
//! - text `{"type":"unavailable","reason":…}` when the source cannot be streamed this way
//!   (MJPEG, H.265 in a browser without it: use `stream.mjpeg`).
//!
//! A viewer that falls behind (its socket slower than the camera) loses the frames it could not
//! take and resumes at the newest keyframe.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use osprey_record::{LiveFragment, LiveInit, LiveMessage};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use crate::error::ApiError;
use crate::state::AppState;

/// The live-view route.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/api/cameras/{id}/live", get(live))
}

async fn live(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let cam = state
        .cameras
        .get(&id)
        .ok_or_else(|| ApiError::NotFound(format!("no camera {id:?}")))?;
    let hub = state
        .live
        .get(&id)
        .ok_or_else(|| ApiError::NotFound(format!("camera {id:?} has no live view")))?;
    let ws = ws.map_err(|e| {
        ApiError::BadRequest(format!(
            "this is a WebSocket endpoint (fMP4 for Media Source Extensions): {e}"
        ))
    })?;
    let tracks = q.get("tracks").map(String::as_str) != Some("0");
    Ok(ws.on_upgrade(move |socket| async move {
        let frames = tracks.then(|| cam.subscribe());
        // Only the subscription: the channel closes when the camera's readers go.
        let sub = hub.subscribe();
        drop(hub);
        let sent = serve(socket, sub, frames, &cam).await;
        tracing::debug!(camera = %id, fragments = sent.0, skipped = sent.1, "live viewer left");
    }))
}

/// Sends the stream to one viewer until it leaves or the camera goes; returns the fragments
/// sent and skipped.
async fn serve(
    mut socket: WebSocket,
    sub: osprey_record::LiveSubscription,
    mut frames: Option<tokio::sync::watch::Receiver<u64>>,
    cam: &osprey_pipeline::Camera,
) -> (u64, u64) {
    let mut rx = sub.rx;
    let mut v = Viewer::default();
    if let Some(reason) = sub.unavailable {
        let _ = v.send(&mut socket, &LiveMessage::Unavailable(reason)).await;
    }
    if let Some(init) = sub.init {
        if v.send(&mut socket, &LiveMessage::Init(init)).await.is_err() {
            return (v.sent, v.skipped);
        }
        for f in sub.backlog {
            if v.send(&mut socket, &LiveMessage::Fragment(f))
                .await
                .is_err()
            {
                return (v.sent, v.skipped);
            }
        }
    }
    loop {
        let msg = tokio::select! {
            m = rx.recv() => m,
            changed = async { frames.as_mut()?.changed().await.ok() }, if frames.is_some() => {
                if changed.is_none() {
                    frames = None;
                } else if v.tracks(&mut socket, cam).await.is_err() {
                    break;
                }
                continue;
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => continue,
            },
        };
        let res = match msg {
            Ok(m) => v.send(&mut socket, &m).await,
            Err(RecvError::Lagged(n)) => {
                // Too slow: resume at the next keyframe.
                v.skipped += n;
                v.need_key = true;
                Ok(())
            }
            Err(RecvError::Closed) => break,
        };
        if res.is_err() {
            break;
        }
    }
    let _ = socket.send(Message::Close(None)).await;
    (v.sent, v.skipped)
}

/// One viewer's position in the stream.
struct Viewer {
    /// No init segment sent yet, or frames lost since: wait for a keyframe.
    need_key: bool,
    has_init: bool,
    sent: u64,
    skipped: u64,
}

impl Default for Viewer {
    fn default() -> Self {
        Viewer {
            need_key: true,
            has_init: false,
            sent: 0,
            skipped: 0,
        }
    }
}

impl Viewer {
    async fn send(&mut self, socket: &mut WebSocket, msg: &LiveMessage) -> Result<(), axum::Error> {
        match msg {
            LiveMessage::Init(init) => {
                socket.send(Message::Text(init_json(init).into())).await?;
                socket.send(Message::Binary(init.data.clone())).await?;
                self.has_init = true;
                self.need_key = true;
            }
            LiveMessage::Fragment(f) => return self.fragment(socket, f).await,
            LiveMessage::Unavailable(reason) => {
                let text = json!({ "type": "unavailable", "reason": reason }).to_string();
                socket.send(Message::Text(text.into())).await?;
                self.has_init = false;
                self.need_key = true;
            }
        }
        Ok(())
    }

    async fn fragment(
        &mut self,
        socket: &mut WebSocket,
        f: &LiveFragment,
    ) -> Result<(), axum::Error> {
        if !self.has_init || (self.need_key && !f.keyframe) {
            self.skipped += 1;
            return Ok(());
        }
        self.need_key = false;
        self.sent += 1;
        if f.keyframe {
            // Maps media time to wall time for the tracks' side channel.
            let text = json!({ "type": "time", "decode_90k": f.decode_90k, "wall_ms": f.wall_ms });
            socket.send(Message::Text(text.to_string().into())).await?;
        }
        socket.send(Message::Binary(f.data.clone())).await
    }

    async fn tracks(
        &mut self,
        socket: &mut WebSocket,
        cam: &osprey_pipeline::Camera,
    ) -> Result<(), axum::Error> {
        let t = cam.latest_tracks();
        let objects: Vec<_> = t
            .objects
            .iter()
            .map(|(id, label, b)| {
                json!({ "id": id, "label": label, "box": b.map(|v| (v * 10.0).round() / 10.0) })
            })
            .collect();
        let wall_ms = (t.wall * 1000.0).round() as i64;
        let text =
            json!({ "type": "tracks", "seq": t.seq, "wall_ms": wall_ms, "objects": objects })
                .to_string();
        socket.send(Message::Text(text.into())).await
    }
}

fn init_json(init: &LiveInit) -> String {
    json!({
        "type": "init",
        "mime": init.mime(),
        "codec": init.codec_string,
        "width": init.width,
        "height": init.height,
    })
    .to_string()
}
