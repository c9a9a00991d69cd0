//! A real Prometheus (Debian's `prometheus`) scrapes `osprey serve`'s /metrics; the key series
//! and every query of the Grafana dashboard (deploy/grafana/osprey.json) are checked through
//! Prometheus' own HTTP API.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::process::Command;
use std::time::{Duration, Instant};

use osprey_testkit::daemons::{wait_http, Daemon};
use osprey_testkit::net::{free_port, http_get, require_tool, urlencode};
use osprey_testkit::server::{frigate_body, post_multipart, Server};

const BIN: &str = env!("CARGO_BIN_EXE_osprey");

/// Runs an instant query; returns (status field, result array).
fn query(port: u16, q: &str) -> (String, Vec<serde_json::Value>) {
    let (_, body) =
        http_get(port, &format!("/api/v1/query?query={}", urlencode(q))).unwrap_or_default();
    let j: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    (
        j["status"].as_str().unwrap_or("").to_string(),
        j["data"]["result"].as_array().cloned().unwrap_or_default(),
    )
}

/// Prometheus scraping `target` twice: job `osprey` with the key in `key_file` as a bearer
/// token (as deploy/prometheus.yml does), job `nokey` without it (refused: `up` is 0).
fn start_prometheus(
    dir: &std::path::Path,
    target: std::net::SocketAddr,
    key_file: &std::path::Path,
    node_port: u16,
) -> Option<Daemon> {
    std::fs::create_dir_all(dir).ok()?;
    let port = free_port();
    let conf = dir.join("prometheus.yml");
    std::fs::write(
        &conf,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [\"{}\"]\nscrape_configs:\n  - job_name: osprey\n    authorization:\n      type: Bearer\n      credentials_file: {}\n    static_configs:\n      - targets: [\"{target}\"]\n  - job_name: nokey\n    static_configs:\n      - targets: [\"{target}\"]\n  - job_name: node\n    static_configs:\n      - targets: [\"127.0.0.1:{node_port}\"]\n",
            osprey_testkit::workspace_root()
                .join("deploy/prometheus/alerts.yml")
                .display(),
            key_file.display()
        ),
    )
    .ok()?;
    let prom = Daemon::spawn(
        Command::new("prometheus").args([
            &format!("--config.file={}", conf.display()),
            &format!("--storage.tsdb.path={}", dir.join("data").display()),
            &format!("--web.listen-address=127.0.0.1:{port}"),
            "--log.level=error",
        ]),
        port,
        None,
    )
    .ok()?;
    wait_http(port, "/-/ready", 200, Duration::from_secs(30)).then_some(prom)
}

/// deploy/prometheus/alerts.yml: `promtool check rules` and its unit tests pass, and the real
/// Prometheus loaded every rule and evaluates each without an error on Osprey's series.
fn check_alert_rules(port: u16) {
    let dir = osprey_testkit::workspace_root().join("deploy/prometheus");
    for args in [
        &["check", "rules", "alerts.yml"][..],
        &["test", "rules", "alerts_test.yml"],
    ] {
        let out = Command::new("promtool")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("promtool (Debian's prometheus package ships it)");
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "promtool {args:?}: {text}");
        eprintln!(
            "promtool {}: {}",
            args.join(" "),
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        );
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = http_get(port, "/api/v1/rules").unwrap_or_default();
        let j: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let rules: Vec<serde_json::Value> = j["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        let evaluated = rules.iter().all(|r| {
            r["lastEvaluation"]
                .as_str()
                .is_some_and(|t| !t.starts_with("0001"))
        });
        if rules.len() == 7 && evaluated {
            let bad: Vec<_> = rules
                .iter()
                .filter(|r| r["health"] != "ok")
                .map(|r| (r["name"].clone(), r["lastError"].clone()))
                .collect();
            assert!(bad.is_empty(), "alert rules failing in Prometheus: {bad:?}");
            let firing: Vec<_> = rules
                .iter()
                .filter(|r| r["state"] == "firing")
                .map(|r| r["name"].clone())
                .collect();
            eprintln!("alert rules: {} loaded and evaluated by Prometheus, all healthy; firing: {firing:?}", rules.len());
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not load and evaluate the 7 rules: {body}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Metric names a PromQL expression refers to.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = expr.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let starts = expr[i..].starts_with("osprey_") || expr[i..].starts_with("process_");
        let boundary = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        if starts && boundary {
            let end = expr[i..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(expr.len(), |e| i + e);
            out.push(expr[i..end].to_string());
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn real_prometheus_scrapes_the_key_series_and_the_dashboard_queries_work() {
    let Some((shared, _)) = osprey_testkit::require_model_env("prometheus scrape") else {
        return;
    };
    if !require_tool("prometheus scrape", "prometheus", "prometheus") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("osprey-prom-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let model = shared.join("models/yolo11n-320.onnx").display().to_string();
    let cache = dir.join("cache.sqlite");
    // /metrics needs a key: Prometheus sends one as a bearer token.
    std::fs::create_dir_all(&dir).unwrap();
    let auth_db = dir.join("auth.sqlite");
    let key = Command::new(BIN)
        .args([
            "keys",
            "create",
            "prometheus",
            "--role",
            "viewer",
            "--auth-db",
        ])
        .arg(&auth_db)
        .output()
        .unwrap();
    assert!(
        key.status.success(),
        "{}",
        String::from_utf8_lossy(&key.stderr)
    );
    let key_file = dir.join("prometheus.key");
    std::fs::write(&key_file, String::from_utf8(key.stdout).unwrap().trim()).unwrap();
    if !require_tool(
        "prometheus scrape",
        "prometheus-node-exporter",
        "prometheus-node-exporter",
    ) {
        return;
    }
    // A recorded, counted camera (the pedestrian clip with the reference's line A and region R),
    // so the camera, analytics and recording dashboards have data; the node exporter for the
    // host dashboard.
    let config = dir.join("osprey.toml");
    std::fs::write(
        &config,
        format!(
            "[[cameras]]\nid = \"walk\"\nurl = \"{}\"\nloop = true\ndetect_fps = 5\nrecord = \"continuous\"\n\n[recording]\nrecordings_dir = \"{}\"\n\n[analytics.walk]\ntripwires = [{{ id = \"A\", wire = [{{ x = 366, y = 288 }}, {{ x = 330, y = 108 }}], direction = {{ p1 = {{ x = 300, y = 200 }}, p2 = {{ x = 400, y = 200 }} }} }}]\nrois = [{{ id = \"R\", coordinates = [{{ x = 204, y = 126 }}, {{ x = 294, y = 117 }}, {{ x = 330, y = 162 }}, {{ x = 312, y = 216 }}, {{ x = 216, y = 207 }}] }}]\n",
            shared.join("video/pedestrians.mp4").display(),
            dir.join("rec").display()
        ),
    )
    .unwrap();
    let node_port = free_port();
    let _node = Daemon::spawn(
        Command::new("prometheus-node-exporter")
            .arg(format!("--web.listen-address=127.0.0.1:{node_port}")),
        node_port,
        None,
    )
    .expect("node exporter starts");
    assert!(
        wait_http(node_port, "/metrics", 200, Duration::from_secs(30)),
        "node exporter not up"
    );
    let s = Server::start(
        BIN,
        &[
            "--config",
            config.to_str().unwrap(),
            "--model",
            &model,
            "--generate_metrics",
            "--metrics-cache",
            cache.to_str().unwrap(),
            "--auth-db",
            auth_db.to_str().unwrap(),
            "--events-db",
            dir.join("events.sqlite").to_str().unwrap(),
        ],
        &[("OSPREY_AUTH", "on")],
    );
    let prom = start_prometheus(&dir.join("prom"), s.addr, &key_file, node_port)
        .expect("prometheus starts");
    // Prometheus' first scrape comes a few seconds after it is ready.
    let deadline = Instant::now() + Duration::from_secs(30);
    while query(prom.port, r#"up{job="osprey"}"#).1.is_empty()
        || query(prom.port, r#"up{job="nokey"}"#).1.is_empty()
    {
        assert!(Instant::now() < deadline, "Prometheus never scraped osprey");
        std::thread::sleep(Duration::from_millis(200));
    }
    let up = |job: &str| {
        query(prom.port, &format!(r#"up{{job="{job}"}}"#)).1[0]["value"][1]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(up("osprey"), "1", "the scrape with the key works");
    assert_eq!(up("nokey"), "0", "a scrape without a key is refused");
    check_alert_rules(prom.port);
    let bus = std::fs::read(shared.join("images/bus.jpg")).unwrap();
    // Requests spread over a few scrapes, so rates have two samples to work with.
    let mut people = 0u64;
    for _ in 0..4 {
        for _ in 0..3 {
            let j = s
                .request(&post_multipart(
                    "/v1/vision/detection",
                    "v",
                    &frigate_body("v", "", &bus),
                ))
                .json();
            people += j["predictions"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["label"] == "person")
                .count() as u64;
        }
        let _ = s.request(b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        std::thread::sleep(Duration::from_millis(1100));
    }
    // Wait for a scrape that has seen all 12 requests.
    let deadline = Instant::now() + Duration::from_secs(30);
    let q = r#"sum(osprey_http_requests_total{job="osprey",route="/v1/vision/detection",status="200"})"#;
    loop {
        let (_, r) = query(prom.port, q);
        let n = r
            .first()
            .and_then(|v| v["value"][1].as_str())
            .and_then(|v| v.parse::<f64>().ok());
        if n == Some(12.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never saw 12 requests: {r:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let value = |q: &str| -> f64 {
        let (st, r) = query(prom.port, q);
        assert_eq!(st, "success", "{q}");
        r.first()
            .and_then(|v| v["value"][1].as_str())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no result for {q}"))
    };
    assert_eq!(value(r#"up{job="osprey"}"#), 1.0);
    assert_eq!(
        value(r#"sum(osprey_http_requests_total{status="404"})"#),
        4.0
    );
    assert_eq!(
        value(r#"osprey_detection_stage_seconds_count{stage="inference"}"#),
        12.0
    );
    assert!(value(r#"osprey_detection_stage_seconds_sum{stage="decode"}"#) > 0.0);
    // The camera's frames run through the same model: at least the 12 requests.
    assert!(value("sum(osprey_inference_batch_size_sum)") >= 12.0);
    assert!(value(r#"sum(osprey_detections_total{label="person"})"#) >= people as f64);
    assert_eq!(
        value(r#"count(osprey_model_info{provider="cpu",imgsz="320x320",precision="fp32"})"#),
        1.0
    );
    assert_eq!(value("count(osprey_build_info)"), 1.0);
    assert!(value(r#"process_resident_memory_bytes{job="osprey"}"#) > 10e6);
    assert!(value(r#"osprey_influx_points_total{outcome="written"}"#) >= 24.0);

    // Every query of every dashboard (deploy/grafana/*.json) is valid PromQL and returns data
    // (queue rejections appear only after the first 503); a counter born at the first event
    // (a tripwire crossing) is waited for.
    let grafana = osprey_testkit::workspace_root().join("deploy/grafana");
    let mut exprs = Vec::new();
    for f in std::fs::read_dir(&grafana).unwrap().flatten() {
        let dash: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(f.path()).unwrap()).unwrap();
        for panel in dash["panels"].as_array().unwrap() {
            for t in panel["targets"].as_array().unwrap() {
                let expr = t["expr"].as_str().unwrap().to_string();
                exprs.push((f.file_name(), panel["title"].to_string(), expr));
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut empty = Vec::new();
    loop {
        empty.clear();
        for (file, title, expr) in &exprs {
            let q = expr
                .replace("$__rate_interval", "30s")
                .replace("$instance", ".*")
                .replace("$node", ".*");
            let (st, r) = query(prom.port, &q);
            assert_eq!(st, "success", "{file:?} {title}: {q}");
            if r.is_empty() && !q.contains("osprey_inference_queue_rejected_total") {
                empty.push(format!("{file:?} {title}: {q}"));
            }
        }
        if empty.is_empty() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(
        empty.is_empty(),
        "dashboard queries without data:\n{}",
        empty.join("\n")
    );
    for (_, _, expr) in &exprs {
        for name in metric_names(expr) {
            let name = name
                .trim_end_matches("_bucket")
                .trim_end_matches("_count")
                .trim_end_matches("_sum")
                .to_string();
            let (_, r) = query(
                prom.port,
                &format!("{{__name__=~\"{name}(_bucket|_count|_sum)?\"}}"),
            );
            let rare = name == "osprey_inference_queue_rejected_total";
            assert!(
                rare || !r.is_empty(),
                "a dashboard uses {name}, which /metrics does not export"
            );
        }
    }
    let dashboards = std::fs::read_dir(&grafana).unwrap().count();
    assert!(exprs.len() >= 39, "{} dashboard queries", exprs.len());
    eprintln!(
        "prometheus scraped osprey (a recorded, counted camera) and the node exporter: {} queries of {dashboards} dashboards answered with data",
        exprs.len()
    );
    drop(prom);
    let _ = s.terminate();
    let _ = std::fs::remove_dir_all(dir);
}
