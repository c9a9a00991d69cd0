//! `--generate_metrics` + `osprey upload-metrics` against a real line-protocol server
//! (VictoriaMetrics from Debian, which accepts InfluxDB's /api/v2/write and /write), started on a
//! free loopback port by the test.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use osprey_testkit::server::{frigate_body, post_multipart, Server};

const BIN: &str = env!("CARGO_BIN_EXE_osprey");

struct Vm {
    child: Child,
    port: u16,
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    std::io::Write::write_all(
        &mut s,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .ok()?;
    let mut out = String::new();
    std::io::Read::read_to_string(&mut s, &mut out).ok()?;
    let status = out.split_whitespace().nth(1)?.parse().ok()?;
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

fn start_vm(dir: &std::path::Path, port: u16) -> Option<Vm> {
    let child = Command::new("victoria-metrics")
        .args([
            "-storageDataPath",
            dir.to_str()?,
            "-httpListenAddr",
            &format!("127.0.0.1:{port}"),
            "-loggerLevel",
            "ERROR",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let vm = Vm { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if http_get(port, "/health").is_some_and(|(s, _)| s == 200) {
            return Some(vm);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Samples of a series in VictoriaMetrics. Ingested points become visible to export after a
/// short delay, so this polls (at most 15 s) until `expected` appear, and returns what it saw.
fn samples(port: u16, name: &str, expected: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let _ = http_get(port, "/internal/force_flush");
        let (_, body) =
            http_get(port, &format!("/api/v1/export?match[]={name}")).unwrap_or_default();
        let n = body
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|j| j["values"].as_array().map(Vec::len).unwrap_or(0))
            .sum();
        if n >= expected || Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn upload(cache: &std::path::Path, port: u16) -> std::process::Output {
    Command::new(BIN)
        .args([
            "upload-metrics",
            &format!("--urls=http://127.0.0.1:{port}"),
            "--buckets=My Bucket",
            "--orgs=My Org",
            "--tokens=t0ken",
            &format!("--cache_path={}", cache.display()),
            "--batch_size=7",
            "--http_timeout_ms=2000",
            "--once",
        ])
        .env("OSPREY_LOG", "warn")
        .output()
        .unwrap()
}

#[test]
fn generated_points_reach_the_server_and_survive_an_outage() {
    let Some((shared, _)) = osprey_testkit::require_model_env("influx upload") else {
        return;
    };
    if Command::new("victoria-metrics")
        .arg("-version")
        .output()
        .is_err()
    {
        eprintln!("\n*** SKIPPED influx upload: victoria-metrics is not installed (make test installs it with apt). ***\n");
        return;
    }
    let dir = std::env::temp_dir().join(format!("osprey-vm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cache = dir.join("cache.sqlite");
    let model = shared.join("models/yolo11n-320.onnx").display().to_string();
    let s = Server::start(
        BIN,
        &[
            "--model",
            &model,
            "--generate_metrics",
            "--metrics-cache",
            cache.to_str().unwrap(),
        ],
        &[],
    );
    let bus = std::fs::read(shared.join("images/bus.jpg")).unwrap();
    let n = 12;
    let mut predictions = 0;
    for _ in 0..n {
        let j = s
            .request(&post_multipart(
                "/v1/vision/detection",
                "v",
                &frigate_body("v", "", &bus),
            ))
            .json();
        predictions += j["predictions"].as_array().unwrap().len();
    }
    assert_eq!(s.terminate(), Some(0));
    let generated: i64 = osprey_influx::open(&cache)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM line_protocols", [], |r| r.get(0))
        .unwrap();
    assert!(
        generated as usize >= 2 * n,
        "{generated} points for {n} requests"
    );

    // Target down: the upload fails and nothing is lost.
    let port = free_port();
    let out = upload(&cache, port);
    assert!(!out.status.success(), "upload to a closed port must fail");
    let kept: i64 = osprey_influx::open(&cache)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM line_protocols", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kept, generated, "points are kept while the target is down");

    // Target up: the backlog drains, in batches of 7, and every point arrives exactly once.
    let vm = start_vm(&dir.join("vm"), port).expect("victoria-metrics starts");
    let out = upload(&cache, vm.port);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let left: i64 = osprey_influx::open(&cache)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM line_protocols", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0, "rows are deleted once delivered");
    assert_eq!(samples(vm.port, "prediction_input_image_bytes", n), n);
    assert_eq!(
        samples(vm.port, "http_request_dispatcher_compute_response_ns", n),
        n
    );
    let (_, body) = http_get(
        vm.port,
        "/api/v1/export?match[]=http_request_dispatcher_compute_response_ns",
    )
    .unwrap();
    assert!(body.contains("\"response_code\":\"200\""), "{body}");
    let deadline = Instant::now() + Duration::from_secs(15);
    let (body, total) = loop {
        let (_, body) = http_get(
            vm.port,
            "/api/v1/export?match[]={__name__=~\"prediction_output_.*\"}",
        )
        .unwrap();
        let total: f64 = body
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .flat_map(|j| j["values"].as_array().cloned().unwrap_or_default())
            .filter_map(|v| v.as_f64())
            .sum();
        if total as usize >= predictions || Instant::now() > deadline {
            break (body, total);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        total as usize, predictions,
        "prediction_output counts add up to the predictions returned"
    );
    assert!(
        body.contains("\"model_precision\":\"fp32\"")
            && body.contains("\"model_image_size\":\"320\""),
        "{body}"
    );
    eprintln!(
        "{n} requests -> {generated} points; all delivered to VictoriaMetrics after an outage"
    );
    let _ = std::fs::remove_dir_all(dir);
}
