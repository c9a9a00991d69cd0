//! Counting on a live camera: `osprey serve` with video/pedestrians.mp4 as a file camera read
//! as fast as detection keeps up (every frame detected, none dropped), line A and ROI R from
//! reference/tracking-pedestrians.json in the TOML file, counts read back from Prometheus and
//! compared with the reference (and so with `osprey track --analytics` on the same file).
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::time::{Duration, Instant};

use osprey_testkit::server::Server;

const BIN: &str = env!("CARGO_BIN_EXE_osprey");

/// A GET with the second test's key (`--api-key k`; an open server ignores it).
fn get(s: &Server, path: &str) -> osprey_testkit::server::Response {
    s.request(
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nX-API-Key: k\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
}

/// The value of the series whose line starts with `name{labels}`.
fn series(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name_and_labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// The largest `maxCount` of all classes (`*`) over an occupancy histogram.
fn peak_of(histogram: &serde_json::Value) -> u64 {
    histogram
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["objects"].as_array().unwrap().clone())
        .filter(|o| o["type"] == "*")
        .filter_map(|o| o["maxCount"].as_u64())
        .max()
        .unwrap_or(0)
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

    // The same through the Metropolis metrics API, from the analytics store (committed within
    // its 1 s interval).
    let all = |v: &serde_json::Value, dir: usize, key: &str| {
        v["events"][dir]["objects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["type"] == "*")
            .map(|o| o[key].as_f64().unwrap())
            .unwrap()
    };
    let t0 = Instant::now();
    let kpi = loop {
        let k = get(&s, "/emdx/api/v2/metrics/tripwire?sensorId=walk").json();
        let a = &k["tripwireKpis"][0];
        if a["id"] == "A" && all(a, 0, "actualCount") + all(a, 1, "actualCount") >= got_in + got_out
            || t0.elapsed() > Duration::from_secs(10)
        {
            break k;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let a = &kpi["tripwireKpis"][0];
    assert_eq!(a["events"][0]["type"], "IN");
    assert_eq!(all(a, 0, "actualCount"), got_in, "{kpi}");
    assert_eq!(all(a, 1, "actualCount"), got_out, "{kpi}");
    let person = a["events"][0]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["type"] == "Person")
        .cloned();
    assert!(person.is_some(), "per object type: {kpi}");
    let (eff_in, eff_out) = (all(a, 0, "count"), all(a, 1, "count"));
    eprintln!("emdx metrics/tripwire: IN actualCount {got_in} count {eff_in}, OUT actualCount {got_out} count {eff_out}");
    assert!(eff_in <= got_in && eff_out <= got_out);
    // Histogram over the run in 20 buckets: the buckets add up to the totals.
    let from =
        osprey_base::rfc3339(osprey_base::unix_now() - started.elapsed().as_secs_f64() - 5.0);
    let to = osprey_base::rfc3339(osprey_base::unix_now() + 1.0);
    let h = get(
        &s,
        &format!("/emdx/api/v2/metrics/tripwire/histogram?sensorId=walk&tripwireId=A&fromTimestamp={from}&toTimestamp={to}&bucketCount=20&objectType=Person"),
    );
    assert_eq!(h.status, 200, "{}", String::from_utf8_lossy(&h.body));
    let h = h.json();
    let buckets = h["tripwires"][0]["histogram"].as_array().unwrap();
    let sum_in: f64 = buckets.iter().map(|b| all(b, 0, "actualCount")).sum();
    let sum_out: f64 = buckets.iter().map(|b| all(b, 1, "actualCount")).sum();
    eprintln!(
        "emdx tripwire histogram: {} buckets of {} s, IN {sum_in} OUT {sum_out}",
        buckets.len(),
        h["bucketSizeInSec"]
    );
    assert_eq!((sum_in, sum_out), (got_in, got_out));
    let f = get(
        &s,
        &format!("/emdx/api/v2/metrics/occupancy/fov/histogram?sensorId=walk&fromTimestamp={from}&toTimestamp={to}&bucketSizeInSec=5"),
    )
    .json();
    let peak = peak_of(&f["histogram"]);
    assert!(peak >= 5, "people in view: {f}");
    let r = get(
        &s,
        &format!("/emdx/api/v2/metrics/occupancy/roi/histogram?sensorId=walk&fromTimestamp={from}&toTimestamp={to}&bucketSizeInSec=5"),
    )
    .json();
    assert_eq!(r["rois"][0]["id"], "R", "{r}");
    let roi_peak = peak_of(&r["rois"][0]["histogram"]);
    eprintln!("emdx occupancy: FOV max {peak}, ROI R max {roi_peak} (reference max 5)");
    assert_eq!(roi_peak, 5, "{r}");
    assert_eq!(
        get(&s, "/emdx/api/v2/metrics/occupancy/roi?sensorId=walk").json()["rois"][0]["id"],
        "R"
    );
    assert_eq!(
        get(&s, "/emdx/api/v2/metrics/tripwire/histogram?sensorId=walk&tripwireId=A&bucketCount=20&bucketSizeInSec=5").status,
        400
    );
    assert_eq!(
        get(
            &s,
            "/emdx/api/v2/metrics/tripwire?sensorId=walk&fromTimestamp=yesterday"
        )
        .status,
        400
    );
    let _ = std::fs::remove_dir_all(dir);
}

fn send(
    s: &Server,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &str,
) -> osprey_testkit::server::Response {
    let auth = key
        .map(|k| format!("X-API-Key: {k}\r\n"))
        .unwrap_or_default();
    s.request(
        format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nUser-Type: Admin\r\n{auth}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

const LINE_A: &str = r#"{"sensorId":"walk","deleteIfPresent":true,"tripwires":[{"id":"A","name":"footpath","wire":[{"x":366,"y":288},{"x":330,"y":108}],"direction":{"p1":{"x":330,"y":200},"p2":{"x":370,"y":200},"entry":{"name":"east"},"exit":{"name":"west"}}}]}"#;
const ROI_R: &str = r#"{"sensorId":"walk","deleteIfPresent":true,"rois":[{"id":"R","name":"lamp post","coordinates":[{"x":204,"y":126},{"x":294,"y":117},{"x":330,"y":162},{"x":312,"y":216},{"x":216,"y":207}]}]}"#;

#[test]
fn metropolis_config_api_sets_validates_persists_and_counts() {
    let Some((shared, _)) = osprey_testkit::require_model_env("emdx config API") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("osprey-emdx-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let model = shared.join("models/yolo11n-320.onnx").display().to_string();
    let camera = format!("walk={}", shared.join("video/pedestrians.mp4").display());
    let db = dir.join("events.sqlite").display().to_string();
    let args = [
        "--model",
        &model,
        "--camera",
        &camera,
        "--events-db",
        &db,
        "--api-key",
        "k",
    ];
    let s = Server::start(BIN, &args, &[]);
    let q = "/emdx/api/v2/config/tripwire?sensorId=walk";
    let r = get(&s, q);
    assert_eq!(r.status, 422, "no tripwires yet");
    assert_eq!(
        send(&s, "POST", q, None, LINE_A).status,
        401,
        "writes need the key"
    );
    let bad = send(
        &s,
        "POST",
        q,
        Some("k"),
        r#"{"tripwires":[{"id":"A","wire":[{"x":1,"y":1}],"direction":{"p1":{"x":0,"y":0},"p2":{"x":2,"y":2}}}]}"#,
    );
    assert_eq!(bad.status, 400);
    assert!(
        String::from_utf8_lossy(&bad.body).contains("tripwires[0].wire"),
        "{}",
        String::from_utf8_lossy(&bad.body)
    );
    // Bounds are checked against the stream once it is open: wait for it.
    let opening = Instant::now();
    while send(&s, "GET", "/api/cameras/walk", Some("k"), "").json()["stream"]["width"] != 480 {
        assert!(
            opening.elapsed() < Duration::from_secs(60),
            "the stream did not open\n{}",
            s.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = send(
        &s,
        "POST",
        q,
        Some("k"),
        r#"{"tripwires":[{"id":"A","wire":[{"x":1,"y":1},{"x":900,"y":1}],"direction":{"p1":{"x":5,"y":0},"p2":{"x":5,"y":2}}}]}"#,
    );
    assert_eq!(
        out.status, 400,
        "out of the 480x360 frame once the stream is open"
    );
    assert_eq!(
        send(&s, "POST", &format!("{q}&sensorID=x"), Some("k"), LINE_A).status,
        400,
        "unknown query parameter"
    );
    assert_eq!(
        get(&s, "/emdx/api/v2/config/tripwire?sensorId=nope").status,
        404
    );
    let set = send(&s, "POST", q, Some("k"), LINE_A);
    assert_eq!(set.status, 200, "{}", String::from_utf8_lossy(&set.body));
    let posted: serde_json::Value = serde_json::from_str(LINE_A).unwrap();
    assert_eq!(
        get(&s, q).json()["tripwires"],
        posted["tripwires"],
        "read back identical"
    );
    let rq = "/emdx/api/v2/config/roi?sensorId=walk";
    assert_eq!(send(&s, "POST", rq, Some("k"), ROI_R).status, 200);
    // The rules apply to the running camera: crossings appear as the looping clip plays.
    let started = Instant::now();
    let counted = loop {
        let text = String::from_utf8(get(&s, "/metrics").body).unwrap();
        let n: f64 = text
            .lines()
            .filter(|l| l.starts_with("osprey_tripwire_crossings_total{camera=\"walk\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        if n > 0.0 || started.elapsed() > Duration::from_secs(60) {
            break n;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    eprintln!(
        "crossings counted {:.1} s after the tripwire was posted: {counted}",
        started.elapsed().as_secs_f64()
    );
    assert!(counted > 0.0);
    // Delete one, then read 422; the ROI stays, also across a restart.
    assert_eq!(
        send(&s, "DELETE", &format!("{q}&tripwireId=B"), Some("k"), "").status,
        404
    );
    assert_eq!(
        send(&s, "DELETE", &format!("{q}&tripwireId=A"), Some("k"), "").status,
        200
    );
    assert_eq!(get(&s, q).status, 422);
    assert_eq!(s.terminate(), Some(0));
    let s = Server::start(BIN, &args, &[]);
    let roi = get(&s, rq);
    assert_eq!(roi.status, 200, "persisted across a restart");
    let posted: serde_json::Value = serde_json::from_str(ROI_R).unwrap();
    assert_eq!(roi.json()["rois"], posted["rois"]);
    assert_eq!(get(&s, q).status, 422);
    let _ = std::fs::remove_dir_all(dir);
}
