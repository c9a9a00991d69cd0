//! Counting over RTSP: GStreamer's RTSP server (tools/rtsp-server.py) plays
//! video/pedestrians.mp4 once at 10 fps; `osprey serve` reads it with retina, detects every
//! frame with yolo11n-640 and counts line A and ROI R of reference/tracking-pedestrians.json,
//! rules set through the Metropolis config API. IN and OUT must be within ±1 of the reference
//! (5 / 9), as for the file camera and `osprey track --analytics`. Alone in its test binary, so
//! no other test competes for the CPU while the stream plays in real time.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::time::{Duration, Instant};

use osprey_testkit::daemons;
use osprey_testkit::server::{Response, Server};

const BIN: &str = env!("CARGO_BIN_EXE_osprey");

fn send(s: &Server, method: &str, path: &str, body: &str) -> Response {
    s.request(
        format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

/// Line A's IN / OUT totals in reference/tracking-pedestrians.json.
fn reference(shared: &std::path::Path) -> (f64, f64) {
    let text = std::fs::read_to_string(shared.join("reference/tracking-pedestrians.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let t = &v["line_A"]["totals"];
    (t["in"].as_f64().unwrap(), t["out"].as_f64().unwrap())
}

#[test]
fn an_rtsp_camera_counts_line_a_like_the_reference() {
    let test = "RTSP camera counting";
    let Some((shared, _)) = osprey_testkit::require_model_env(test) else {
        return;
    };
    if !daemons::require_rtsp_tools(test) {
        return;
    }
    let (ref_in, ref_out) = reference(&shared);
    let rtsp = daemons::rtsp_server(&shared.join("video/pedestrians.mp4"), 0, 1, None);
    let dir = std::env::temp_dir().join(format!("osprey-rtsp-analytics-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let model = shared.join("models/yolo11n-640.onnx").display().to_string();
    let db = dir.join("events.sqlite").display().to_string();
    let s = Server::start(BIN, &["--model", &model, "--events-db", &db], &[]);
    let cam = format!(
        r#"{{"id":"walk","url":"rtsp://127.0.0.1:{}/stream","labels":["person"]}}"#,
        rtsp.port
    );
    let r = send(&s, "POST", "/api/cameras", &cam);
    assert!(
        r.status == 200 || r.status == 201,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let wire = r#"{"sensorId":"walk","tripwires":[{"id":"A","wire":[{"x":366,"y":288},{"x":330,"y":108}],"direction":{"p1":{"x":330,"y":200},"p2":{"x":370,"y":200}}}]}"#;
    let r = send(
        &s,
        "POST",
        "/emdx/api/v2/config/tripwire?sensorId=walk",
        wire,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // The whole clip: 300 frames at 10 fps.
    let t = Instant::now();
    loop {
        let st = send(&s, "GET", "/api/cameras/walk", "").json();
        if st["frames"]["decoded"].as_u64() >= Some(300) {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "{st}\n{}",
            s.log_text()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // Deleting the camera ends its tracks (their last crossings are decided) and answers with
    // the final status.
    let last = send(&s, "DELETE", "/api/cameras/walk", "").json();
    let dropped = last["frames"]["dropped"].as_u64().unwrap();
    let r = s.request(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let text = String::from_utf8_lossy(&r.body).to_string();
    let crossings = |d: &str| -> f64 {
        text.lines()
            .find(|l| {
                l.starts_with(&format!(
                    "osprey_tripwire_crossings_total{{camera=\"walk\",direction=\"{d}\",label=\"person\",tripwire=\"A\"}}"
                ))
            })
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0.0)
    };
    let (got_in, got_out) = (crossings("in"), crossings("out"));
    eprintln!(
        "RTSP camera (retina, 10 fps, every frame detected, {dropped} dropped): line A IN {got_in} OUT {got_out} (reference {ref_in} / {ref_out})"
    );
    assert!((got_in - ref_in).abs() <= 1.0, "IN {got_in} vs {ref_in}");
    assert!(
        (got_out - ref_out).abs() <= 1.0,
        "OUT {got_out} vs {ref_out}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
