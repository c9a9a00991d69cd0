//! Counting on a live camera: `osprey serve` with video/pedestrians.mp4 as a file camera read
//! as fast as detection keeps up (every frame detected, none dropped), line A and ROI R from
//! reference/tracking-pedestrians.json in the TOML file, counts read back from Prometheus and
//! compared with the reference (and so with `osprey track --analytics` on the same file).
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::time::{Duration, Instant};

use osprey_testkit::server::Server;

const BIN: &str = env!("CARGO_BIN_EXE_osprey");

fn get(s: &Server, path: &str) -> osprey_testkit::server::Response {
    s.request(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
}

/// The value of the series whose line starts with `name{labels}`.
fn series(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name_and_labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn a_file_camera_counts_line_a_like_the_reference() {
    let Some((shared, _)) = osprey_testkit::require_model_env("camera analytics") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("osprey-cam-analytics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let toml = dir.join("osprey.toml");
    std::fs::write(
        &toml,
        format!(
            r#"
[models]
model = "{model}"

[store]
events_db = "{db}"

[[cameras]]
id = "walk"
url = "{clip}"
loop = false
realtime = false
labels = ["person"]

[analytics.walk]
tripwires = [{{ id = "A", wire = [{{ x = 366, y = 288 }}, {{ x = 330, y = 108 }}], direction = {{ p1 = {{ x = 330, y = 200 }}, p2 = {{ x = 370, y = 200 }} }} }}]
rois = [{{ id = "R", coordinates = [{{ x = 204, y = 126 }}, {{ x = 294, y = 117 }}, {{ x = 330, y = 162 }}, {{ x = 312, y = 216 }}, {{ x = 216, y = 207 }}], entry_inertia = 0, exit_inertia = 0 }}]
"#,
            model = shared.join("models/yolo11n-640.onnx").display(),
            db = dir.join("events.sqlite").display(),
            clip = shared.join("video/pedestrians.mp4").display(),
        ),
    )
    .unwrap();
    let s = Server::start(BIN, &["--config", toml.to_str().unwrap()], &[]);
    let started = Instant::now();
    let status = loop {
        let st = get(&s, "/api/cameras/walk").json();
        if st["state"] == "ended" && st["frames"]["detected"] == 300 {
            break st;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "the clip did not finish: {st}\n{}",
            s.log_text()
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(status["frames"]["dropped"], 0, "{status}");
    let text = String::from_utf8(get(&s, "/metrics").body).unwrap();
    let crossings = |d: &str| {
        series(
            &text,
            &format!(
                "osprey_tripwire_crossings_total{{camera=\"walk\",direction=\"{d}\",label=\"person\",tripwire=\"A\"}}"
            ),
        )
    };
    let (got_in, got_out) = (crossings("in"), crossings("out"));
    let entries = series(
        &text,
        "osprey_roi_events_total{camera=\"walk\",kind=\"enter\",label=\"person\",roi=\"R\"}",
    );
    eprintln!(
        "file camera, every frame detected in {:.1} s: line A IN {got_in} OUT {got_out} (reference 5 / 9; osprey track --analytics 5 / 9); ROI R entries {entries}",
        started.elapsed().as_secs_f64()
    );
    assert!((got_in - 5.0).abs() <= 1.0, "IN {got_in}");
    assert!((got_out - 9.0).abs() <= 1.0, "OUT {got_out}");
    assert!(entries > 0.0, "ROI entries counted");
    let _ = std::fs::remove_dir_all(dir);
}
