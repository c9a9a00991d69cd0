//! Event snapshots on a live server: `osprey serve` (API key set) with video/pedestrians.mp4 as
//! a file camera read once as fast as detection keeps up; every object event of the run is
//! listed with `has_snapshot`, its `snapshot.jpg` is a JPEG of the stream's size with the box
//! drawn, `?crop=1` a smaller one around the box; the files lie in `snapshots/<camera>/` beside
//! the event database, no temporary left. Unknown ids, ids that try to leave the directory and
//! bad parameters get JSON errors, never a file.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::time::{Duration, Instant};

use osprey_testkit::server::{Response, Server};

const BIN: &str = env!("CARGO_BIN_EXE_osprey");
const KEY: &str = "snap-key";

fn get(s: &Server, path: &str) -> Response {
    s.request(
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nX-API-Key: {KEY}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
}

fn post(s: &Server, path: &str, body: &str) -> Response {
    s.request(
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nX-API-Key: {KEY}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

fn size(jpg: &[u8]) -> (u32, u32) {
    let img = osprey_image::decode(jpg, &osprey_image::DecodeLimits::default()).unwrap();
    (img.width(), img.height())
}

/// A JSON error with this status (the API's `{"success": false, "error", "code"}`).
fn assert_json_error(r: &Response, status: u16, what: &str) {
    assert_eq!(
        r.status,
        status,
        "{what}: {}",
        String::from_utf8_lossy(&r.body)
    );
    let j = r.json();
    assert_eq!(j["success"], false, "{what}: {j}");
    assert_eq!(j["code"], status, "{what}: {j}");
}

#[test]
fn every_event_has_a_snapshot_of_its_best_frame() {
    let Some((shared, _)) = osprey_testkit::require_model_env("event snapshots") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("osprey-snapshots-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let model = shared.join("models/yolo11n-320.onnx").display().to_string();
    let db = dir.join("events.sqlite").display().to_string();
    let clip = shared.join("video/pedestrians.mp4").display().to_string();
    let s = Server::start(
        BIN,
        &["--model", &model, "--events-db", &db, "--api-key", KEY],
        &[],
    );
    let spec = format!(
        r#"{{"id":"walk","url":"{clip}","loop":false,"realtime":false,"labels":["person"]}}"#
    );
    let r = post(&s, "/api/cameras", &spec);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let started = Instant::now();
    let cam = loop {
        let st = get(&s, "/api/cameras/walk").json();
        if st["state"] == "ended" {
            break st;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "the clip did not finish: {st}\n{}",
            s.log_text()
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let stream = (
        cam["stream"]["width"].as_u64().unwrap() as u32,
        cam["stream"]["height"].as_u64().unwrap() as u32,
    );
    assert_eq!(stream, (480, 360), "{cam}");

    // Every event of the run, with its snapshot once the writer caught up.
    let events = loop {
        let r = get(&s, "/api/events?camera=walk&limit=1000");
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let events = r.json()["events"].as_array().unwrap().clone();
        let all = !events.is_empty()
            && events
                .iter()
                .all(|e| e["has_snapshot"] == true && e["end_time"].is_f64());
        if all || started.elapsed() > Duration::from_secs(270) {
            break events;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let with = events.iter().filter(|e| e["has_snapshot"] == true).count();
    eprintln!(
        "{} events, {with} with a snapshot, in {:.1} s",
        events.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(events.len() >= 5, "{} events", events.len());
    assert_eq!(with, events.len(), "every event has its snapshot");

    let snapdir = dir.join("snapshots/walk");
    for e in &events {
        let id = e["id"].as_str().unwrap();
        let full = get(&s, &format!("/api/events/{id}/snapshot.jpg"));
        assert_eq!(
            full.status,
            200,
            "{id}: {}",
            String::from_utf8_lossy(&full.body)
        );
        assert_eq!(full.header("content-type"), Some("image/jpeg"));
        assert_eq!(&full.body[..3], &[0xff, 0xd8, 0xff], "a JPEG");
        assert_eq!(size(&full.body), stream, "{id}");
        let crop = get(&s, &format!("/api/events/{id}/snapshot.jpg?crop=1"));
        assert_eq!(
            crop.status,
            200,
            "{id}: {}",
            String::from_utf8_lossy(&crop.body)
        );
        let (w, h) = size(&crop.body);
        assert!(
            w <= stream.0 && h <= stream.1 && w * h < stream.0 * stream.1,
            "{w}x{h}"
        );
        assert!(w >= 128 && h >= 128, "the minimum size: {w}x{h}");
        // Beside the database, the same bytes.
        assert_eq!(
            std::fs::read(snapdir.join(format!("{id}.jpg"))).unwrap(),
            full.body
        );
    }
    let temporaries: Vec<String> = std::fs::read_dir(&snapdir)
        .unwrap()
        .flatten()
        .map(|f| f.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(temporaries.is_empty(), "{temporaries:?}");

    // Refusals: JSON, never a file.
    let id = events[0]["id"].as_str().unwrap();
    let r = s.request(
        format!(
            "GET /api/events/{id}/snapshot.jpg HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_json_error(&r, 401, "no API key");
    assert_json_error(
        &get(&s, &format!("/api/events/{id}/snapshot.jpg?crop=yes")),
        400,
        "crop=yes",
    );
    assert_json_error(
        &get(&s, "/api/events/1.000000-000000/snapshot.jpg"),
        404,
        "an unknown id",
    );
    for evil in [
        "..",
        "%2E%2E",
        "..%2Fevents.sqlite",
        "..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "%2Fetc%2Fpasswd",
        &format!("..%2Fwalk%2F{id}"),
        &format!("walk%2F{id}"),
        ".%2Fevents.sqlite",
    ] {
        let r = get(&s, &format!("/api/events/{evil}/snapshot.jpg"));
        assert!(
            r.status == 404 || r.status == 400,
            "{evil}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        assert_ne!(r.header("content-type"), Some("image/jpeg"), "{evil}");
    }

    // Removing the camera with purge=true (an admin's key: the --api-key) deletes its events
    // and their snapshots.
    let r = s.request(
        format!("DELETE /api/cameras/walk?purge=true HTTP/1.1\r\nHost: x\r\nX-API-Key: {KEY}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(!snapdir.exists(), "the camera's snapshots are gone");
    let left = get(&s, "/api/events?camera=walk&limit=10").json();
    assert_eq!(left["events"].as_array().map(Vec::len), Some(0), "{left}");

    // Shutdown while tracks are open: their final snapshots are written before the exit.
    let spec = format!(
        r#"{{"id":"loop","url":"{clip}","loop":true,"realtime":true,"labels":["person"]}}"#
    );
    assert_eq!(post(&s, "/api/cameras", &spec).status, 201);
    let t0 = Instant::now();
    while get(&s, "/api/events?camera=loop&limit=1").json()["events"]
        .as_array()
        .is_none_or(Vec::is_empty)
    {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no event on the looping camera"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(s.terminate(), Some(0));
    let s = Server::start(
        BIN,
        &["--model", &model, "--events-db", &db, "--api-key", KEY],
        &[],
    );
    let events = get(&s, "/api/events?camera=loop&limit=1000").json()["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let missing: Vec<_> = events
        .iter()
        .filter(|e| e["has_snapshot"] != true)
        .map(|e| e["id"].clone())
        .collect();
    eprintln!(
        "after SIGTERM: {} events, {} without a snapshot",
        events.len(),
        missing.len()
    );
    assert!(!events.is_empty());
    assert!(
        missing.is_empty(),
        "snapshots lost at shutdown: {missing:?}"
    );
    drop(s);
    let _ = std::fs::remove_dir_all(dir);
}
