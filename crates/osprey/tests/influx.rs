//! `--generate_metrics` + `osprey upload-metrics` against a real line-protocol server
//! (VictoriaMetrics from Debian, which accepts InfluxDB's /api/v2/write and /write), started on a
//! free loopback port by the test.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use osprey_testkit::daemons::{wait_http, Daemon};
use osprey_testkit::net::{free_port, http_get, require_tool};
use osprey_testkit::server::{frigate_body, post_multipart, Server};

const BIN: &str = env!("CARGO_BIN_EXE_osprey");

fn start_vm(dir: &std::path::Path, port: u16) -> Option<Daemon> {
    let vm = Daemon::spawn(
        Command::new("victoria-metrics").args([
            "-storageDataPath",
            dir.to_str()?,
            "-httpListenAddr",
            &format!("127.0.0.1:{port}"),
            "-loggerLevel",
            "ERROR",
        ]),
        port,
        None,
    )
    .ok()?;
    wait_http(port, "/health", 200, Duration::from_secs(30)).then_some(vm)
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
    if !require_tool("influx upload", "victoria-metrics", "victoria-metrics") {
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
    let (_, body) = http_get(
        vm.port,
        "/api/v1/export?match[]=prediction_input_image_bytes",
    )
    .unwrap();
    let values: Vec<f64> = body
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .flat_map(|j| j["values"].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v.as_f64())
        .collect();
    assert_eq!(
        values,
        vec![bus.len() as f64; n],
        "image_bytes is the image part's size"
    );
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

/// InfluxDB 1.6 from Debian (`influxd`), on free loopback ports, with one database `osprey`.
fn start_influx(dir: &std::path::Path) -> Option<Daemon> {
    let (port, rpc) = (free_port(), free_port());
    std::fs::create_dir_all(dir).ok()?;
    let d = dir.display();
    let conf = format!(
        "reporting-disabled = true\nbind-address = \"127.0.0.1:{rpc}\"\n\
         [meta]\n  dir = \"{d}/meta\"\n[data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n\
         [monitor]\n  store-enabled = false\n[http]\n  bind-address = \"127.0.0.1:{port}\"\n  log-enabled = false\n\
         [ifql]\n  enabled = false\n[logging]\n  level = \"error\"\n"
    );
    let path = dir.join("influxdb.conf");
    std::fs::write(&path, conf).ok()?;
    let db = Daemon::spawn(
        Command::new("influxd").args(["run", "-config", path.to_str()?]),
        port,
        None,
    )
    .ok()?;
    if !wait_http(port, "/ping", 204, Duration::from_secs(30)) {
        return None;
    }
    let (s, _) = http_get(port, "/query?q=CREATE%20DATABASE%20osprey")?;
    (s == 200).then_some(db)
}

/// One line-protocol line taken apart: (series key, field names, timestamp).
fn parse_line(line: &str) -> (String, Vec<String>, String) {
    // Split on spaces and commas that are not escaped (our fields are integers: no quotes).
    let mut parts = vec![String::new()];
    let mut esc = false;
    for c in line.chars() {
        if esc {
            parts.last_mut().unwrap().push(c);
            esc = false;
        } else if c == '\\' {
            parts.last_mut().unwrap().push(c);
            esc = true;
        } else if c == ' ' {
            parts.push(String::new());
        } else {
            parts.last_mut().unwrap().push(c);
        }
    }
    assert_eq!(parts.len(), 3, "{line}");
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut esc = false;
    for c in parts[1].chars() {
        if esc {
            cur.push(c);
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else if c == ',' {
            fields.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    fields.push(cur);
    let names = fields
        .iter()
        .map(|f| f.rsplit_once('=').unwrap().0.to_string())
        .collect();
    (parts[0].clone(), names, parts[2].clone())
}

fn measurement(series: &str) -> String {
    let mut out = String::new();
    let mut esc = false;
    for c in series.chars() {
        if esc {
            out.push(c);
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else if c == ',' {
            break;
        } else {
            out.push(c);
        }
    }
    out
}

fn cache_rows(cache: &std::path::Path) -> Vec<String> {
    let conn = osprey_influx::open(cache).unwrap();
    let mut st = conn
        .prepare("SELECT line_protocol FROM line_protocols ORDER BY id")
        .unwrap();
    let rows = st
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    rows
}

/// Frigate-shaped requests from `clients` keep-alive connections until `stop` or an error.
fn load(
    addr: std::net::SocketAddr,
    body: Vec<u8>,
    clients: usize,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    answered: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> Vec<std::thread::JoinHandle<()>> {
    use std::io::Write;
    use std::sync::atomic::Ordering;
    (0..clients)
        .map(|_| {
            let (body, stop, answered) = (body.clone(), stop.clone(), answered.clone());
            std::thread::spawn(move || {
                let Ok(mut s) = std::net::TcpStream::connect(addr) else {
                    return;
                };
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let req = osprey_testkit::server::post(
                    "/v1/vision/detection",
                    &[("Content-Type", "multipart/form-data; boundary=v")],
                    &body,
                    true,
                );
                while !stop.load(Ordering::SeqCst) {
                    if s.write_all(&req).is_err() {
                        return;
                    }
                    match osprey_testkit::server::read_response(&mut s) {
                        Ok(r) if r.status == 200 => {
                            answered.fetch_add(1, Ordering::SeqCst);
                        }
                        _ => return,
                    }
                }
            })
        })
        .collect()
}

fn upload_cmd(cache: &std::path::Path, vm: u16, influx: u16) -> Command {
    let mut c = Command::new(BIN);
    c.args([
        "upload-metrics",
        &format!("--urls=http://127.0.0.1:{vm}"),
        "--buckets=b",
        "--orgs=o",
        "--tokens=",
        "--dbs=",
        &format!("--urls=http://127.0.0.1:{influx}"),
        "--buckets=",
        "--orgs=",
        "--tokens=",
        "--dbs=osprey",
        &format!("--cache_path={}", cache.display()),
        "--batch_size=25",
        "--catching_up_interval_s=0.2",
        "--upload_interval_s=0.2",
        "--http_timeout_ms=5000",
    ])
    .env("OSPREY_LOG", "warn")
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    c
}

#[test]
fn kill_9_of_server_and_uploader_loses_no_point() {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    let Some((shared, _)) = osprey_testkit::require_model_env("influx kill -9") else {
        return;
    };
    if !require_tool("influx kill -9", "victoria-metrics", "victoria-metrics")
        || !require_tool("influx kill -9", "influxd", "influxdb")
    {
        return;
    }
    let dir = std::env::temp_dir().join(format!("osprey-kill9-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cache = dir.join("cache.sqlite");
    let model = shared.join("models/yolo11n-320.onnx").display().to_string();
    let args = [
        "--model",
        &model,
        "--generate_metrics",
        "--metrics-cache",
        cache.to_str().unwrap(),
        // Commit each burst at once: what a kill can lose is only what is in flight.
        "--metrics-commit-ms",
        "0",
    ];
    let bus = std::fs::read(shared.join("images/bus.jpg")).unwrap();
    let body = frigate_body("v", "", &bus);

    // 1. Server under load from 3 clients, killed with SIGKILL.
    let s = Server::start(BIN, &args, &[]);
    let one = s.request(&post_multipart("/v1/vision/detection", "v", &body));
    assert_eq!(one.status, 200);
    let answered = Arc::new(AtomicUsize::new(1));
    let stop = Arc::new(AtomicBool::new(false));
    let clients = load(s.addr, body.clone(), 3, stop.clone(), answered.clone());
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered.load(Ordering::SeqCst) < 60 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    s.kill9();
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    let answered_before_kill = answered.load(Ordering::SeqCst);
    assert!(
        answered_before_kill >= 60,
        "the load did not run: {answered_before_kill} answers"
    );
    let rows_after_kill = cache_rows(&cache).len();

    // 2. Restarted on the same cache, a few more requests, then a clean stop.
    let s = Server::start(BIN, &args, &[]);
    for _ in 0..10 {
        assert_eq!(
            s.request(&post_multipart("/v1/vision/detection", "v", &body))
                .status,
            200
        );
    }
    assert_eq!(s.terminate(), Some(0));
    let lines = cache_rows(&cache);
    let generated = lines.len();
    let per_request = (generated - rows_after_kill) / 10;
    assert_eq!(
        (generated - rows_after_kill) % 10,
        0,
        "same points per request"
    );
    assert!(per_request >= 3, "{per_request} points per request");
    // What the kill cost: points of answered requests that had not reached the cache.
    let lost_at_kill = (answered_before_kill * per_request).saturating_sub(rows_after_kill);
    let unanswered_in_cache = rows_after_kill.saturating_sub(answered_before_kill * per_request);
    // Only requests whose answer was on its way when the kill landed (one per client) may miss.
    assert!(
        lost_at_kill <= 3 * per_request,
        "{lost_at_kill} points of answered requests were not in the cache"
    );

    // 3. Two targets: VictoriaMetrics (v2 API, keeps duplicate samples: counts re-sends) and
    //    InfluxDB 1.6 (v1 /write, a re-sent point overwrites itself: counts distinct points).
    let vm = start_vm(&dir.join("vm"), free_port()).expect("victoria-metrics starts");
    let influx = start_influx(&dir.join("influx")).expect("influxd starts");
    let conn = osprey_influx::open(&cache).unwrap();
    // SIGKILL the uploader several times at different moments of its work (during a write,
    // between writes), restarting it each time.
    for delay_ms in [330, 170, 260, 95] {
        let mut up = upload_cmd(&cache, vm.port, influx.port).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        up.kill().unwrap();
        up.wait().unwrap();
    }
    let remaining_at_kill: i64 = conn
        .query_row("SELECT COUNT(*) FROM line_protocols", [], |r| r.get(0))
        .unwrap();
    assert!(
        remaining_at_kill > 0,
        "the uploader was killed after it had finished; the test needs a bigger backlog"
    );
    let out = upload_cmd(&cache, vm.port, influx.port)
        .arg("--once")
        .status()
        .unwrap();
    assert!(out.success());
    let left: i64 = conn
        .query_row("SELECT COUNT(*) FROM line_protocols", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0, "the cache drains after the restart");

    // 4. Expected, from the cache snapshot.
    let mut vm_expected = 0usize;
    let mut distinct: HashMap<(String, String), Vec<String>> = HashMap::new();
    for l in &lines {
        let (series, fields, ts) = parse_line(l);
        vm_expected += fields.len();
        distinct.entry((series, ts)).or_default().extend(fields);
    }
    let mut influx_expected: HashMap<(String, String), usize> = HashMap::new();
    for ((series, _), fields) in &distinct {
        let mut f = fields.clone();
        f.sort();
        f.dedup();
        for name in f {
            *influx_expected
                .entry((measurement(series), name))
                .or_default() += 1;
        }
    }
    // InfluxDB: exactly the expected number of distinct points per field.
    let (_, body) = http_get(
        influx.port,
        "/query?db=osprey&q=SELECT%20COUNT(*)%20FROM%20%2F.*%2F",
    )
    .unwrap();
    let j: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut influx_seen: HashMap<(String, String), usize> = HashMap::new();
    for s in j["results"][0]["series"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let name = s["name"].as_str().unwrap().to_string();
        let cols = s["columns"].as_array().unwrap();
        let vals = s["values"][0].as_array().unwrap();
        for (c, v) in cols.iter().zip(vals).skip(1) {
            let field = c.as_str().unwrap().trim_start_matches("count_").to_string();
            if let Some(n) = v.as_u64().filter(|&n| n > 0) {
                influx_seen.insert((name.clone(), field), n as usize);
            }
        }
    }
    assert_eq!(
        influx_seen, influx_expected,
        "InfluxDB 1.6 holds every point once"
    );
    // VictoriaMetrics: every sample, plus whatever the killed upload re-sent.
    let vm_seen = samples(vm.port, "{__name__=~\".%2B\"}", vm_expected);
    assert!(
        vm_seen >= vm_expected,
        "VictoriaMetrics lost samples: {vm_seen} < {vm_expected}"
    );
    let duplicates = vm_seen - vm_expected;
    assert!(
        duplicates <= 25 * 8,
        "at most the batch in flight is sent again ({duplicates} duplicate samples)"
    );
    eprintln!(
        "kill -9 under load: {answered_before_kill} requests answered, {rows_after_kill} points in the cache \
         ({per_request} per request; answered but not committed: {lost_at_kill} points, committed but unanswered: {unanswered_in_cache}); \
         after restart {generated} points generated; uploader killed 4 times ({remaining_at_kill} rows were left); \
         InfluxDB 1.6: {} distinct points, all present; VictoriaMetrics: {vm_seen} samples for {vm_expected} expected \
         ({duplicates} duplicate samples from the re-sent batch)",
        distinct.len()
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn in_process_uploader_drains_while_serving() {
    let Some((shared, _)) = osprey_testkit::require_model_env("in-process uploader") else {
        return;
    };
    if !require_tool(
        "in-process uploader",
        "victoria-metrics",
        "victoria-metrics",
    ) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("osprey-inproc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let vm = start_vm(&dir.join("vm"), free_port()).expect("victoria-metrics starts");
    // The uploader's own flags, in an absl flagfile as the Python uploader took them; no
    // --cache_path: it uses the server's cache.
    let flags = dir.join("uploader.txt");
    std::fs::write(
        &flags,
        format!(
            "# uploader\n--urls=http://127.0.0.1:{}\n--buckets=b\n--orgs=o\n--tokens=\n--upload_interval_s=0.2\n",
            vm.port
        ),
    )
    .unwrap();
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
            "--metrics-upload-flagfile",
            flags.to_str().unwrap(),
        ],
        &[],
    );
    let bus = std::fs::read(shared.join("images/bus.jpg")).unwrap();
    for _ in 0..5 {
        let r = s.request(&post_multipart(
            "/v1/vision/detection",
            "v",
            &frigate_body("v", "", &bus),
        ));
        assert_eq!(r.status, 200);
    }
    // Delivered while the server keeps running.
    assert_eq!(samples(vm.port, "prediction_input_image_bytes", 5), 5);
    assert!(s.log_text().contains("in-process metrics uploader started"));
    assert_eq!(s.terminate(), Some(0));
    let _ = std::fs::remove_dir_all(dir);
}
