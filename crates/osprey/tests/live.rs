//! The live view's WebSocket (`GET /api/cameras/{id}/live`, docs/recording.md) against the real
//! binary with video/pedestrians.mp4 as a looping file camera read faster than real time:
//! the message order a Media Source Extensions client relies on (init text, init segment, a
//! `time` message, a keyframe fragment, continuous decode times), the tracks side channel, and a
//! slow viewer — a small receive buffer, not read for several seconds — which must lose frames
//! only as whole runs that resume on a keyframe, and stay connected.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use osprey_record::mp4::{boxes, parse_moof};
use osprey_testkit::server::Server;
use tungstenite::{Message, WebSocket};

const BIN: &str = env!("CARGO_BIN_EXE_osprey");

/// One fragment as a client sees it: decode time, duration, whether it starts on a keyframe.
#[derive(Debug, Clone, Copy)]
struct Frag {
    decode: u64,
    duration: u64,
    key: bool,
}

fn frag(data: &[u8]) -> Frag {
    let (kind, body) = boxes(data).next().unwrap();
    assert_eq!(&kind, b"moof");
    let info = parse_moof(body).unwrap();
    assert_eq!(info.samples.len(), 1, "one frame per fragment");
    Frag {
        decode: info.base_decode_time,
        duration: u64::from(info.samples[0].duration),
        key: info.samples[0].sync,
    }
}

/// Connects with a receive buffer of `rcvbuf` bytes (set before connecting, so the TCP window
/// stays small).
fn connect(addr: SocketAddr, path: &str, rcvbuf: Option<usize>) -> WebSocket<TcpStream> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    if let Some(n) = rcvbuf {
        sock.set_recv_buffer_size(n).unwrap();
    }
    sock.connect_timeout(&addr.into(), Duration::from_secs(5))
        .unwrap();
    let stream: TcpStream = sock.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let url = format!("ws://{addr}{path}");
    let (ws, resp) = tungstenite::client(url.as_str(), stream).unwrap();
    assert_eq!(resp.status(), 101);
    ws
}

/// What a viewer received, in order.
#[derive(Debug, Default)]
struct Seen {
    texts: Vec<serde_json::Value>,
    /// Binary messages after the init segment.
    frags: Vec<Frag>,
    init_segment: bool,
    /// Index into `frags` of the fragment after each `time` message.
    time_before: Vec<usize>,
}

/// Reads messages for `secs` seconds (or until `frames` fragments arrived).
fn read(ws: &mut WebSocket<TcpStream>, seen: &mut Seen, secs: f64, frames: usize) {
    let end = Instant::now() + Duration::from_secs_f64(secs);
    while Instant::now() < end && seen.frags.len() < frames {
        let msg = match ws.read() {
            Ok(m) => m,
            Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => continue,
            Err(e) => panic!("the live socket failed: {e}"),
        };
        match msg {
            Message::Text(t) => {
                let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                if v["type"] == "time" {
                    seen.time_before.push(seen.frags.len());
                }
                seen.texts.push(v);
            }
            Message::Binary(b) if !seen.init_segment => {
                assert_eq!(&b[4..8], b"ftyp", "the init segment comes first");
                seen.init_segment = true;
            }
            Message::Binary(b) => seen.frags.push(frag(&b)),
            Message::Close(c) => panic!("closed by the server: {c:?}"),
            _ => {}
        }
    }
}

/// Every jump in decode time is followed by a keyframe; returns how many jumps there were.
fn check_runs(frags: &[Frag]) -> usize {
    assert!(frags[0].key, "the first fragment is a keyframe");
    let mut jumps = 0;
    for w in frags.windows(2) {
        if w[1].decode != w[0].decode + w[0].duration {
            assert!(w[1].decode > w[0].decode, "decode time went back: {w:?}");
            assert!(w[1].key, "frames lost mid-group: {w:?}");
            jumps += 1;
        }
    }
    jumps
}

#[test]
fn live_websocket_order_tracks_and_a_slow_viewer() {
    let Some((shared, _)) = osprey_testkit::require_model_env("live websocket") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("osprey-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let toml = dir.join("osprey.toml");
    std::fs::write(
        &toml,
        format!(
            "[models]\nmodel = \"{}\"\n\n[store]\nevents_db = \"{}\"\n\n[[cameras]]\nid = \"walk\"\nurl = \"{}\"\nloop = true\nrealtime = false\ndetect_fps = 2\n",
            shared.join("models/yolo11n-320.onnx").display(),
            dir.join("events.sqlite").display(),
            shared.join("video/pedestrians.mp4").display(),
        ),
    )
    .unwrap();
    let s = Server::start(BIN, &["--config", toml.to_str().unwrap()], &[]);

    // A viewer that keeps up.
    let mut fast = connect(s.addr, "/api/cameras/walk/live", None);
    let mut seen = Seen::default();
    read(&mut fast, &mut seen, 20.0, 100);
    let init = &seen.texts[0];
    assert_eq!(init["type"], "init", "{init}");
    assert_eq!(
        init["mime"],
        format!("video/mp4; codecs=\"{}\"", init["codec"].as_str().unwrap())
    );
    assert_eq!(
        (init["width"].as_u64(), init["height"].as_u64()),
        (Some(480), Some(360))
    );
    assert!(seen.init_segment);
    assert_eq!(
        seen.time_before.first(),
        Some(&0),
        "a time message precedes the first keyframe"
    );
    assert!(
        seen.frags.len() >= 100,
        "{} fragments in 20 s",
        seen.frags.len()
    );
    let jumps = check_runs(&seen.frags);
    let keys = seen.frags.iter().filter(|f| f.key).count();
    assert_eq!(
        seen.time_before.len(),
        keys,
        "one time message per keyframe"
    );
    let tracks: Vec<_> = seen
        .texts
        .iter()
        .filter(|t| t["type"] == "tracks")
        .collect();
    assert!(!tracks.is_empty(), "tracks side channel");
    assert!(
        tracks
            .iter()
            .any(|t| t["objects"].as_array().is_some_and(|o| !o.is_empty())
                && t["objects"][0]["label"].is_string()
                && t["objects"][0]["box"]
                    .as_array()
                    .is_some_and(|b| b.len() == 4)),
        "no track with a label and a box"
    );
    eprintln!(
        "fast viewer: {} fragments, {keys} keyframes, {jumps} jumps, {} tracks messages",
        seen.frags.len(),
        tracks.len()
    );
    drop(fast);

    // A slow viewer: 4 KiB receive buffer, not read for 12 s, then read on.
    let mut slow = connect(s.addr, "/api/cameras/walk/live?tracks=0", Some(4096));
    let mut seen = Seen::default();
    read(&mut slow, &mut seen, 5.0, 20);
    std::thread::sleep(Duration::from_secs(12));
    read(&mut slow, &mut seen, 15.0, 5000);
    let jumps = check_runs(&seen.frags);
    eprintln!(
        "slow viewer (4 KiB buffer, 12 s stalled): {} fragments, {jumps} skips to a keyframe, still connected",
        seen.frags.len()
    );
    assert!(
        jumps >= 1,
        "the stalled viewer never lagged: the test did not test"
    );
    // The stream still answers the control plane.
    let st = s
        .request(b"GET /api/cameras/walk HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .json();
    assert_eq!(st["connected"], true, "{st}");

    // Not a WebSocket request: a JSON 400; an unknown camera: 404.
    let r =
        s.request(b"GET /api/cameras/walk/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("WebSocket"));
    let r =
        s.request(b"GET /api/cameras/nope/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 404);
    let _ = std::fs::remove_dir_all(&dir);
}
