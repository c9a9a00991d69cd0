//! The camera pipeline end to end, with real servers on free loopback ports: GStreamer's RTSP
//! server (tools/rtsp-server.py) serving ../shared/video/pedestrians.mp4, redis-server and
//! mosquitto. The real binary runs `osprey serve` with cameras in its TOML config.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use osprey_testkit::daemons::{self, Daemon};
use osprey_testkit::server::Server;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_osprey");

fn get(server: &Server, path: &str) -> (u16, Value) {
    let r = server
        .request(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes());
    let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r.status, v)
}

fn send(server: &Server, method: &str, path: &str, body: &str) -> (u16, Value) {
    let r = server.request(
        format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    (
        r.status,
        serde_json::from_slice(&r.body).unwrap_or(Value::Null),
    )
}

fn camera(server: &Server, id: &str) -> Value {
    let (status, v) = get(server, &format!("/api/cameras/{id}"));
    assert_eq!(status, 200, "{v}");
    v
}

/// Polls `f` every 100 ms until it returns Some, or panics after `secs` with the server log.
fn wait_for<T>(server: &Server, secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}; log:\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("osprey-cam-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn start_server(dir: &Path, model: &Path, body: &str) -> Server {
    let cfg = dir.join("osprey.toml");
    std::fs::write(
        &cfg,
        format!(
            "model = {:?}\nevents_db = {:?}\n{body}",
            model.to_str().unwrap(),
            dir.join("events.sqlite").to_str().unwrap()
        ),
    )
    .unwrap();
    Server::start(BIN, &["--config", cfg.to_str().unwrap()], &[])
}

/// Every MQTT message on `prefix/#`: (topic, payload, retained).
type Messages = Arc<Mutex<Vec<(String, String, bool)>>>;

fn subscribe(port: u16, filter: &str, client_id: &str) -> Messages {
    let mut opts = rumqttc::MqttOptions::new(client_id, "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(10));
    let (client, mut conn) = rumqttc::Client::new(opts, 1000);
    client.subscribe(filter, rumqttc::QoS::AtLeastOnce).unwrap();
    let got: Messages = Arc::default();
    let sink = Arc::clone(&got);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _client = client;
        for ev in conn.iter() {
            match ev {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                    let _ = ready_tx.send(());
                }
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                    sink.lock().unwrap().push((
                        p.topic.clone(),
                        String::from_utf8_lossy(&p.payload).into_owned(),
                        p.retain,
                    ));
                }
                Ok(_) => {}
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("MQTT subscription");
    got
}

#[test]
fn rtsp_camera_publishes_frames_tracks_and_events() {
    let test = "rtsp camera → Redis + MQTT + event store";
    let Some((shared, _)) = osprey_testkit::require_model_env(test) else {
        return;
    };
    if !daemons::require_camera_tools(test) {
        return;
    }
    let clip = shared.join("video/pedestrians.mp4");
    let rtsp = daemons::rtsp_server(&clip, 0, 1, None);
    let redis = daemons::redis();
    let mqtt = daemons::mosquitto();
    let messages = subscribe(mqtt.port, "osprey/#", "osprey-test");
    let dir = temp_dir("e2e");
    let server = start_server(
        &dir,
        &shared.join("models/yolo11n-320.onnx"),
        &format!(
            r#"
[[cameras]]
id = "walk"
url = "rtsp://127.0.0.1:{}/stream"
labels = ["person"]
[redis]
url = "redis://127.0.0.1:{}"
stream = "frames:{{camera}}"
[mqtt]
host = "127.0.0.1"
port = {}
"#,
            rtsp.port, redis.port, mqtt.port
        ),
    );
    // The whole 30 s clip at 10 fps, detecting every frame.
    wait_for(&server, 120, "300 decoded frames", || {
        (camera(&server, "walk")["frames"]["decoded"].as_u64() >= Some(300)).then_some(())
    });
    let live = camera(&server, "walk");
    assert_eq!(live["source"], "rtsp");
    assert_eq!(live["stream"]["codec"], "h264");
    assert_eq!(live["stream"]["client"], "retina", "{live}");
    let (status, last) = send(&server, "DELETE", "/api/cameras/walk", "");
    assert_eq!(status, 200, "{last}");
    let dropped = last["frames"]["dropped"].as_u64().unwrap();
    let detected = last["frames"]["detected"].as_u64().unwrap();
    let sampled = last["frames"]["sampled"].as_u64().unwrap();
    assert_eq!(sampled, detected + dropped, "{last}");
    // Everything is published before DELETE answers; give the sinks a moment to flush.
    std::thread::sleep(Duration::from_secs(2));

    // Redis: one entry per processed frame, numbered without gaps except the counted drops.
    let client = redis::Client::open(format!("redis://127.0.0.1:{}", redis.port)).unwrap();
    let mut con = client.get_connection().unwrap();
    let entries: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
        .arg("frames:walk")
        .arg("-")
        .arg("+")
        .query(&mut con)
        .unwrap();
    let frames: Vec<Value> = entries
        .iter()
        .map(|(_, fields)| {
            assert_eq!(fields[0], "metadata");
            serde_json::from_str(&fields[1]).unwrap()
        })
        .collect();
    let ids: Vec<u64> = frames.iter().map(|f| f["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids not increasing");
    assert_eq!(ids.len() as u64, detected, "one entry per detected frame");
    // Numbers run 1..=sampled; the missing ones (gaps, or a last frame dropped at the stop) are
    // exactly the counted drops.
    assert!(*ids.last().unwrap() <= sampled);
    assert_eq!(ids.len() as u64 + dropped, sampled, "gaps = drops");
    let mut track_ids = BTreeSet::new();
    let mut most = 0;
    for f in &frames {
        assert_eq!(f["version"], "4.0");
        assert_eq!(f["sensorId"], "walk");
        assert!(f["@timestamp"].as_str().unwrap().ends_with('Z'));
        let objs = f["objects"].as_array().unwrap();
        most = most.max(objs.len());
        for o in objs {
            let p: Vec<&str> = o.as_str().unwrap().split('|').collect();
            assert_eq!(p.len(), 8, "{o}");
            assert_eq!((p[5], p[6]), ("person", "#"));
            let b: Vec<f64> = p[1..5].iter().map(|v| v.parse().unwrap()).collect();
            assert!(b[0] < b[2] && b[1] < b[3], "{o}");
            track_ids.insert(p[0].parse::<u64>().unwrap());
        }
    }
    eprintln!(
        "redis: {} frames, {} dropped, {} track ids, up to {most} people in a frame",
        frames.len(),
        dropped,
        track_ids.len()
    );
    // PETS09's first 300 frames show 10 annotated people (and a few unannotated ones).
    assert!(track_ids.len() >= 8, "{track_ids:?}");
    assert!(most >= 5, "{most}");

    // MQTT: Frigate-style new/update/end per event, counts, retained availability.
    let msgs = messages.lock().unwrap().clone();
    let mut new = BTreeSet::new();
    let mut ended = BTreeMap::new();
    for (topic, payload, _) in msgs.iter().filter(|(t, _, _)| t == "osprey/events") {
        let v: Value = serde_json::from_str(payload).unwrap();
        let id = v["after"]["id"].as_str().unwrap().to_string();
        assert_eq!(v["after"]["camera"], "walk", "{topic}");
        assert_eq!(v["after"]["label"], "person");
        match v["type"].as_str().unwrap() {
            "new" => {
                assert!(v["after"]["end_time"].is_null());
                assert!(new.insert(id));
            }
            "update" => assert!(new.contains(&id), "update before new"),
            "end" => {
                assert!(new.contains(&id), "end before new");
                let (s, e) = (
                    v["after"]["start_time"].as_f64().unwrap(),
                    v["after"]["end_time"].as_f64().unwrap(),
                );
                assert!(e >= s);
                assert_eq!(v["after"]["active"], false);
                assert!(ended.insert(id, e).is_none(), "two ends");
            }
            other => panic!("type {other}"),
        }
    }
    assert!(new.len() >= 8, "{} new events", new.len());
    assert_eq!(
        new,
        ended.keys().cloned().collect::<BTreeSet<_>>(),
        "every new has its end"
    );
    // A client connecting now gets the retained availability.
    let late = subscribe(mqtt.port, "osprey/available", "osprey-test-late");
    wait_for(&server, 10, "the retained availability", || {
        late.lock()
            .unwrap()
            .iter()
            .any(|(t, p, retained)| t == "osprey/available" && p == "online" && *retained)
            .then_some(())
    });
    let counts: Vec<usize> = msgs
        .iter()
        .filter(|(t, _, _)| t == "osprey/walk/person")
        .map(|(_, p, _)| p.parse().unwrap())
        .collect();
    assert!(counts.iter().any(|&c| c >= 3), "{counts:?}");
    assert_eq!(
        counts.last(),
        Some(&0),
        "count back to 0 when the camera stops"
    );

    // The event store holds the same events, ended.
    let (status, ev) = get(&server, "/api/events?camera=walk&limit=1000");
    assert_eq!(status, 200, "{ev}");
    let stored: BTreeSet<String> = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(e["end_time"].as_f64().is_some(), "{e}");
            e["id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(stored, new);
    eprintln!(
        "mqtt: {} events new/end; event store: {} rows",
        new.len(),
        stored.len()
    );
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

fn metric(server: &Server, name: &str, labels: &str) -> Option<f64> {
    let r = server.request(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let text = String::from_utf8_lossy(&r.body).into_owned();
    let want = format!("{name}{{{labels}}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&want).and_then(|v| v.trim().parse().ok()))
}

#[test]
fn camera_reconnects_after_the_rtsp_server_restarts() {
    let test = "camera reconnect";
    let Some((shared, _)) = osprey_testkit::require_model_env(test) else {
        return;
    };
    if !daemons::require_camera_tools(test) {
        return;
    }
    let clip = shared.join("video/pedestrians.mp4");
    let mut rtsp = daemons::rtsp_server(&clip, 0, 4, None);
    let port = rtsp.port;
    let dir = temp_dir("reconnect");
    let server = start_server(
        &dir,
        &shared.join("models/yolo11n-320.onnx"),
        &format!(
            "[[cameras]]\nid = \"cam\"\nurl = \"rtsp://127.0.0.1:{port}/stream\"\ndetect_fps = 5\n"
        ),
    );
    wait_for(&server, 60, "detection", || {
        (camera(&server, "cam")["frames"]["detected"].as_u64() > Some(10)).then_some(())
    });
    rtsp.kill();
    let killed = Instant::now();
    let down = wait_for(&server, 20, "the outage to show", || {
        let c = camera(&server, "cam");
        (c["connected"] == false).then_some(c)
    });
    eprintln!(
        "outage seen after {:.1} s: {}",
        killed.elapsed().as_secs_f64(),
        down["last_error"]
    );
    assert_eq!(down["state"], "reconnecting");
    assert!(down["last_error"]["message"].as_str().is_some());
    assert_eq!(
        metric(&server, "osprey_camera_connected", "camera=\"cam\""),
        Some(0.0)
    );
    std::thread::sleep(Duration::from_secs(3));
    let decoded_before = camera(&server, "cam")["frames"]["decoded"]
        .as_u64()
        .unwrap();
    let _rtsp = daemons::rtsp_server(&clip, port, 4, None);
    let restarted = Instant::now();
    let up = wait_for(&server, 10, "the reconnection (10 s budget)", || {
        let c = camera(&server, "cam");
        (c["connected"] == true && c["frames"]["decoded"].as_u64() > Some(decoded_before))
            .then_some(c)
    });
    let took = restarted.elapsed().as_secs_f64();
    eprintln!("reconnected {took:.1} s after the RTSP server came back: {up}");
    assert!(up["reconnects"].as_u64() >= Some(1));
    assert!(up["outages"].as_u64() >= Some(1));
    assert!(up["outage_seconds"].as_f64() >= Some(3.0), "{up}");
    assert!(metric(&server, "osprey_camera_reconnects_total", "camera=\"cam\"") >= Some(1.0));
    assert_eq!(
        metric(&server, "osprey_camera_connected", "camera=\"cam\""),
        Some(1.0)
    );
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

/// A tiny HTTP server: `/video.mjpg` streams the clip's JPEGs as multipart/x-mixed-replace at
/// 10 fps; `/secret` answers 401.
fn mjpeg_server(mjpeg: Vec<u8>) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut frames = Vec::new();
    let mut i = 0;
    while let Some(s) = mjpeg[i..].windows(2).position(|w| w == [0xff, 0xd8]) {
        let start = i + s;
        let Some(e) = mjpeg[start..].windows(2).position(|w| w == [0xff, 0xd9]) else {
            break;
        };
        frames.push(mjpeg[start..start + e + 2].to_vec());
        i = start + e + 2;
    }
    let frames = Arc::new(frames);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let frames = Arc::clone(&frames);
            std::thread::spawn(move || {
                let mut line = String::new();
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let _ = r.read_line(&mut line);
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).map_or(true, |n| n == 0) || h == "\r\n" {
                        break;
                    }
                }
                if !line.contains("/video.mjpg") {
                    let _ = conn.write_all(b"HTTP/1.0 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"cam\"\r\nContent-Length: 0\r\n\r\n");
                    return;
                }
                let _ = conn.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n");
                for f in frames.iter().cycle() {
                    let head = format!(
                        "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                        f.len()
                    );
                    if conn
                        .write_all(head.as_bytes())
                        .and_then(|_| conn.write_all(f))
                        .and_then(|_| conn.write_all(b"\r\n"))
                        .is_err()
                    {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
        }
    });
    port
}

#[test]
fn bad_sources_fail_per_camera_and_the_others_keep_running() {
    let test = "bad camera sources";
    let Some((shared, _)) = osprey_testkit::require_model_env(test) else {
        return;
    };
    if !daemons::require_camera_tools(test) {
        return;
    }
    let clip = shared.join("video/pedestrians.mp4");
    let rtsp = daemons::rtsp_server(&clip, 0, 4, None);
    let secured = daemons::rtsp_server(&clip, 0, 1, Some("admin:s3cret"));
    let stalling: Daemon = daemons::rtsp_server(&clip, 0, 4, None);
    let http = mjpeg_server(std::fs::read(shared.join("video/pedestrians.mjpeg")).unwrap());
    let dir = temp_dir("bad");
    let text = dir.join("notes.mp4");
    std::fs::write(&text, "not a video\n".repeat(1000)).unwrap();
    let mut bytes = std::fs::read(&clip).unwrap();
    let mut rng = osprey_testkit::fixtures::Rng(11);
    for start in (200_000..bytes.len() - 4096).step_by(30_000) {
        for b in &mut bytes[start..start + 3000] {
            *b = rng.next_u64() as u8;
        }
    }
    let corrupt = dir.join("corrupt.mp4");
    std::fs::write(&corrupt, bytes).unwrap();
    // A camera whose H.264 has B-frames: retina cannot carry them, FFmpeg's client takes over.
    let bframes = dir.join("bframes.mp4");
    let encoded = std::process::Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-i"])
        .arg(&clip)
        .args([
            "-an", "-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-g", "30",
        ])
        .arg(&bframes)
        .status()
        .unwrap();
    assert!(encoded.success());
    let bframe_server = daemons::rtsp_server(&bframes, 0, 4, None);
    let closed = osprey_testkit::net::free_port();
    let cams: Vec<(&str, String)> = vec![
        ("good", clip.display().to_string()),
        ("mjpeg", format!("http://127.0.0.1:{http}/video.mjpg")),
        ("refused", format!("rtsp://127.0.0.1:{closed}/stream")),
        (
            "nosuchpath",
            format!("rtsp://127.0.0.1:{}/nosuch", rtsp.port),
        ),
        (
            "noauth",
            format!("rtsp://127.0.0.1:{}/stream", secured.port),
        ),
        (
            "badauth",
            format!("rtsp://admin:wrong@127.0.0.1:{}/stream", secured.port),
        ),
        ("mjpeg401", format!("http://127.0.0.1:{http}/secret")),
        (
            "stalls",
            format!("rtsp://127.0.0.1:{}/stream", stalling.port),
        ),
        ("corrupt", corrupt.display().to_string()),
        ("notvideo", text.display().to_string()),
        (
            "bframes",
            format!("rtsp://127.0.0.1:{}/stream", bframe_server.port),
        ),
    ];
    let mut toml = String::new();
    for (id, url) in &cams {
        toml.push_str(&format!(
            "[[cameras]]\nid = \"{id}\"\nurl = {url:?}\ndetect_fps = 2\n"
        ));
    }
    let server = start_server(&dir, &shared.join("models/yolo11n-320.onnx"), &toml);
    wait_for(&server, 30, "the stalling camera to connect", || {
        (camera(&server, "stalls")["connected"] == true).then_some(())
    });
    // Stop the stalling server without closing its socket: nothing arrives any more.
    stalling.signal("STOP");
    let expect: HashMap<&str, &[&str]> = HashMap::from([
        ("refused", &["open"][..]),
        ("nosuchpath", &["open"][..]),
        ("noauth", &["auth"][..]),
        ("badauth", &["auth"][..]),
        ("mjpeg401", &["auth"][..]),
        ("stalls", &["read"][..]),
        ("corrupt", &["corrupt"][..]),
        ("notvideo", &["no_video"][..]),
    ]);
    let good_before = camera(&server, "good")["frames"]["detected"]
        .as_u64()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let statuses = loop {
        let all: HashMap<String, Value> = expect
            .keys()
            .map(|id| (id.to_string(), camera(&server, id)))
            .collect();
        let pending: Vec<String> = all
            .iter()
            .filter(|(id, c)| {
                !c["last_error"]["kind"]
                    .as_str()
                    .is_some_and(|k| expect[id.as_str()].contains(&k))
            })
            .map(|(id, c)| format!("{id}: {c}"))
            .collect();
        if pending.is_empty() {
            break all;
        }
        assert!(
            Instant::now() < deadline,
            "cameras without the expected error after 60 s:\n{}\nlog:\n{}",
            pending.join("\n"),
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    for (id, c) in &statuses {
        eprintln!(
            "{id}: state={} error={}",
            c["state"], c["last_error"]["message"]
        );
        assert!(!c["last_error"]["message"]
            .as_str()
            .unwrap()
            .contains("s3cret"));
        if *id != "corrupt" {
            assert_ne!(c["state"], "connected", "{id}: {c}");
        }
    }
    assert_eq!(statuses["notvideo"]["state"], "failed");
    assert_eq!(statuses["stalls"]["state"], "reconnecting");
    // The good cameras kept going all along.
    let good = camera(&server, "good");
    assert!(
        good["frames"]["detected"].as_u64().unwrap() > good_before,
        "{good}"
    );
    assert_eq!(good["connected"], true);
    let mj = camera(&server, "mjpeg");
    assert_eq!(mj["connected"], true, "{mj}");
    assert_eq!(mj["stream"]["codec"], "mjpeg");
    let bf = camera(&server, "bframes");
    assert_eq!(bf["connected"], true, "{bf}");
    assert_eq!(bf["stream"]["client"], "ffmpeg-rtsp-tcp", "{bf}");
    assert!(
        bf["stream"]["fallback_reason"]
            .as_str()
            .is_some_and(|r| r.contains("B-frames")),
        "{bf}"
    );
    assert!(bf["frames"]["detected"].as_u64() > Some(0), "{bf}");
    assert!(
        server
            .log_text()
            .contains("switching to FFmpeg's RTSP client"),
        "the fallback is not in the log"
    );
    assert!(mj["frames"]["detected"].as_u64() > Some(0), "{mj}");
    // The corrupt file still yields frames between the damaged stretches.
    assert!(statuses["corrupt"]["frames"]["detected"].as_u64() > Some(0));
    // Every error is in the log with its camera.
    let log = server.log_text();
    for id in expect.keys() {
        assert!(
            log.contains(&format!("camera={id} ")),
            "no log line for {id}"
        );
    }
    // The API refuses bad cameras with JSON errors and keeps serving.
    let (status, v) = send(
        &server,
        "POST",
        "/api/cameras",
        r#"{"id":"x","url":"gopher://cam/1"}"#,
    );
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("unknown scheme"),
        "{v}"
    );
    let (status, _) = send(
        &server,
        "POST",
        "/api/cameras",
        r#"{"id":"good","url":"/x.mp4"}"#,
    );
    assert_eq!(status, 409);
    let (status, _) = send(
        &server,
        "POST",
        "/api/cameras",
        r#"{"id":"bad id!","url":"/x.mp4"}"#,
    );
    assert_eq!(status, 400);
    let (status, v) = send(
        &server,
        "POST",
        "/api/cameras",
        r#"{"id":"y","url":"rtsp://cam/1","rtsp_client":"gstreamer"}"#,
    );
    assert_eq!(status, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("rtsp_client"), "{v}");
    let (status, _) = send(&server, "POST", "/api/cameras", "{not json");
    assert_eq!(status, 400);
    let (status, _) = send(&server, "DELETE", "/api/cameras/nosuch", "");
    assert_eq!(status, 404);
    let (status, _) = get(&server, "/api/cameras/nosuch/snapshot.jpg");
    assert_eq!(status, 404);
    let (status, v) = send(
        &server,
        "POST",
        "/api/cameras",
        &format!(
            r#"{{"id":"late","url":{:?},"detect_fps":2}}"#,
            clip.display().to_string()
        ),
    );
    assert_eq!(status, 201, "{v}");
    wait_for(&server, 20, "the camera added at runtime", || {
        (camera(&server, "late")["frames"]["detected"].as_u64() > Some(0)).then_some(())
    });
    let snap = server.request(
        b"GET /api/cameras/good/snapshot.jpg HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(snap.status, 200);
    assert_eq!(snap.header("content-type"), Some("image/jpeg"));
    assert_eq!(&snap.body[..2], &[0xff, 0xd8]);
    let (status, list) = get(&server, "/api/cameras");
    assert_eq!(status, 200);
    assert_eq!(list["cameras"].as_array().unwrap().len(), cams.len() + 1);
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}
