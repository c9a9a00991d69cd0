//! `osprey serve` end to end: the real binary on a free loopback port, the real model, raw HTTP.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use osprey_testkit::server::{frigate_body, post, post_multipart, Server};

const BIN: &str = env!("CARGO_BIN_EXE_osprey");

fn model(shared: &std::path::Path, name: &str) -> String {
    shared.join("models").join(name).display().to_string()
}

/// bus.jpg resized to 320x320 and encoded as a quality-75 JPEG, as Frigate sends.
fn frigate_jpeg(shared: &std::path::Path) -> Vec<u8> {
    let img = osprey_image::decode(
        &std::fs::read(shared.join("images/bus.jpg")).unwrap(),
        &Default::default(),
    )
    .unwrap();
    let small = osprey_image::resize::resize(&img, 320, 320);
    let t = turbojpeg::Image {
        pixels: small.as_raw(),
        width: 320,
        pitch: 960,
        height: 320,
        format: turbojpeg::PixelFormat::RGB,
    };
    turbojpeg::compress(t, 75, turbojpeg::Subsamp::Sub2x2)
        .unwrap()
        .to_vec()
}

fn get(s: &Server, path: &str) -> osprey_testkit::server::Response {
    s.request(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
}

#[test]
fn routes() {
    let Some((shared, _)) = osprey_testkit::require_model_env("serve routes") else {
        return;
    };
    let s = Server::start(BIN, &["--model", &model(&shared, "yolo11n-320.onnx")], &[]);
    let head = s.request(b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    let page = get(&s, "/");
    assert_eq!(page.status, 200);
    assert!(String::from_utf8_lossy(&page.body).contains("yolo11n-320"));
    for p in ["/v1/server/status/ping", "/v1/status/ping"] {
        assert_eq!(get(&s, p).json()["success"], true, "{p}");
    }
    assert_eq!(get(&s, "/healthz").status, 200);
    assert_eq!(get(&s, "/readyz").json()["status"], "ready");
    let list = get(&s, "/v1/vision/custom/list").json();
    assert_eq!(list["success"], true);
    assert_eq!(list["models"], serde_json::json!(["yolo11n-320"]));
    let list = s.request(&post("/v1/vision/custom/list", &[], b"", false));
    assert_eq!(list.json()["models"][0], "yolo11n-320");
    let nf = get(&s, "/v1/nothing");
    assert_eq!(nf.status, 404);
    assert_eq!(nf.json()["success"], false);
    let na =
        s.request(b"DELETE /v1/vision/detection HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(na.status, 405);
    assert_eq!(na.json()["code"], 405);
}

#[test]
fn detection_contract_and_parameters() {
    let Some((shared, _)) = osprey_testkit::require_model_env("serve detection") else {
        return;
    };
    let s = Server::start(BIN, &["--model", &model(&shared, "yolo11n-640.onnx")], &[]);
    let bus = std::fs::read(shared.join("images/bus.jpg")).unwrap();
    let r = s.request(&post_multipart(
        "/v1/vision/detection",
        "xyz",
        &frigate_body("xyz", "", &bus),
    ));
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-length").is_some(),
        "Blue Iris needs Content-Length"
    );
    assert!(r.header("transfer-encoding").is_none());
    let j = r.json();
    assert_eq!(j["success"], true);
    let preds = j["predictions"].as_array().unwrap();
    // Default min_confidence 0.4: bus 0.94, persons 0.90, 0.85, 0.84 (the 0.39 person is dropped).
    let labels: Vec<&str> = preds.iter().map(|p| p["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["bus", "person", "person", "person"], "{j}");
    let confs: Vec<f64> = preds
        .iter()
        .map(|p| p["confidence"].as_f64().unwrap())
        .collect();
    assert!(confs.windows(2).all(|w| w[0] >= w[1]));
    assert!(confs.iter().all(|c| *c >= 0.4));
    for key in [
        "count",
        "inferenceMs",
        "processMs",
        "moduleId",
        "moduleName",
        "code",
        "command",
        "requestId",
        "inferenceDevice",
        "analysisRoundTripMs",
        "processedBy",
        "timestampUTC",
    ] {
        assert!(
            j.get(key).is_some(),
            "CodeProject.AI field {key} missing: {j}"
        );
    }
    assert_eq!(j["count"], 4);
    for p in preds {
        assert!(
            p["x_min"].is_i64()
                && p["x_max"].as_i64().unwrap() <= 810
                && p["y_max"].as_i64().unwrap() <= 1080
        );
    }

    // min_confidence from the form and from the query; out-of-range values.
    let form_low = "--b\r\nContent-Disposition: form-data; name=\"min_confidence\"\r\n\r\n0.3\r\n--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n";
    let mut body = form_low.as_bytes().to_vec();
    body.extend_from_slice(&bus);
    body.extend_from_slice(b"\r\n--b--\r\n");
    assert_eq!(
        s.request(&post_multipart("/v1/vision/detection", "b", &body))
            .json()["count"],
        5
    );
    let q = s
        .request(&post_multipart(
            "/v1/vision/detection?min_confidence=0.88",
            "xyz",
            &frigate_body("xyz", "", &bus),
        ))
        .json();
    assert_eq!(q["count"], 2, "{q}");
    let bad = s.request(&post_multipart(
        "/v1/vision/detection?min_confidence=1.5",
        "xyz",
        &frigate_body("xyz", "", &bus),
    ));
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["success"], false);
    let bad = s.request(&post_multipart(
        "/v1/vision/detection?min_confidence=abc",
        "xyz",
        &frigate_body("xyz", "", &bus),
    ));
    assert_eq!(bad.status, 400);
    // Below 0.1 is raised to 0.1.
    let low = s
        .request(&post_multipart(
            "/v1/vision/detection?min_confidence=0.01",
            "xyz",
            &frigate_body("xyz", "", &bus),
        ))
        .json();
    assert!(low["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["confidence"].as_f64().unwrap() >= 0.1));
    // max_detections from the query (Frigate api_url).
    let capped = s
        .request(&post_multipart(
            "/v1/vision/detection?max_detections=2",
            "xyz",
            &frigate_body("xyz", "", &bus),
        ))
        .json();
    assert_eq!(capped["count"], 2);
    assert_eq!(capped["predictions"][0]["label"], "bus");
    // A raw image body is accepted too.
    let raw = s.request(&post(
        "/v1/vision/detection",
        &[("Content-Type", "image/jpeg")],
        &bus,
        false,
    ));
    assert_eq!(raw.json()["count"], 4);
}

#[test]
fn python_error_contract() {
    let Some((shared, _)) = osprey_testkit::require_model_env("serve errors") else {
        return;
    };
    let s = Server::start(
        BIN,
        &[
            "--model",
            &model(&shared, "yolo11n-320.onnx"),
            "--max-image-bytes",
            "200000",
            "--max-body-bytes",
            "300000",
        ],
        &[],
    );
    let header_400 = |raw: Vec<u8>, needle: &str| {
        let r = s.request(&raw);
        assert_eq!(
            r.status,
            400,
            "{needle}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let j = r.json();
        assert_eq!(j["class"], "AssertionError");
        assert!(j["message"].as_str().unwrap().contains(needle), "{j}");
        assert!(j["traceback"].is_array());
        assert_eq!(j["success"], false);
        assert_eq!(j["code"], 400);
        assert!(j["error"].is_string());
    };
    header_400(
        post(
            "/v1/vision/detection",
            &[("Content-Type", "multipart/form-data; boundary=x")],
            b"",
            false,
        ),
        "greater than 0",
    );
    header_400(
        b"POST /v1/vision/detection HTTP/1.1\r\nHost: x\r\nContent-Length: 999999\r\nContent-Type: multipart/form-data; boundary=x\r\nConnection: close\r\n\r\n".to_vec(),
        "at most 300000",
    );
    header_400(
        post("/v1/vision/detection", &[], b"abc", false),
        "Content-Type",
    );
    header_400(
        post(
            "/v1/vision/detection",
            &[("Content-Type", "invalid/mime-type")],
            b"abc",
            false,
        ),
        "Expected mime type to be \"multipart/form-data\", got \"invalid/mime-type\" instead",
    );
    header_400(
        post(
            "/v1/vision/detection",
            &[("Content-Type", "multipart/form-data")],
            b"abc",
            false,
        ),
        "boundary",
    );

    let after_200 = |raw: Vec<u8>, needle: &str, code: u16| {
        let r = s.request(&raw);
        assert_eq!(r.status, 200, "{needle}");
        let j = r.json();
        assert_eq!(j["success"], false, "{j}");
        assert_eq!(j["predictions"], serde_json::json!([]));
        assert!(j["error"].as_str().unwrap().contains(needle), "{j}");
        assert_eq!(j["code"], code, "{j}");
    };
    after_200(
        post_multipart(
            "/v1/vision/detection",
            "b",
            b"--b\r\nContent-Disposition: form-data; name=\"api_key\"\r\n\r\n\r\n--b--\r\n",
        ),
        "no part named \"image\"",
        400,
    );
    after_200(
        post_multipart(
            "/v1/vision/detection",
            "b",
            b"--b\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\n\xff\xd8\xff",
        ),
        "closing boundary",
        400,
    );
    let big = vec![0u8; 250_000];
    after_200(
        post_multipart("/v1/vision/detection", "b", &frigate_body("b", "", &big)),
        "over the limit",
        413,
    );
    after_200(
        post_multipart(
            "/v1/vision/detection",
            "b",
            &frigate_body("b", "", b"this is not an image"),
        ),
        "not a JPEG",
        400,
    );
    let bus = std::fs::read(shared.join("images/bus.jpg")).unwrap();
    after_200(
        post_multipart(
            "/v1/vision/detection",
            "b",
            &frigate_body("b", "", &bus[..bus.len() / 2]),
        ),
        "truncated",
        400,
    );
    // Unknown custom model: 404 JSON.
    let r = s.request(&post_multipart(
        "/v1/vision/custom/nope",
        "b",
        &frigate_body("b", "", &bus),
    ));
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["success"], false);
    // The server is still up.
    assert_eq!(get(&s, "/readyz").status, 200);
}

#[test]
fn python_flagfile_applied_unchanged_and_api_key() {
    let Some((shared, _)) = osprey_testkit::require_model_env("serve flagfile") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("osprey-flagfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let flagfile = dir.join("detection-server.txt");
    // The Python README's example, with --engine_path pointing at an ONNX file and a free port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        &flagfile,
        format!(
            "--engine_path={}\n--image_size=320\n--half_precision=true\n--server_ip=127.0.0.1\n--server_port={port}\n--log_response=false\n--generate_metrics=false\n",
            model(&shared, "yolo11n-320.onnx")
        ),
    )
    .unwrap();
    let s = Server::start_raw(
        BIN,
        &[&format!("--flagfile={}", flagfile.display())],
        &[("API-KEY", "hunter2")],
    );
    assert_eq!(s.addr.port(), port);
    let jpeg = frigate_jpeg(&shared);
    let no_key = s.request(&post_multipart(
        "/v1/vision/detection",
        "f",
        &frigate_body("f", "", &jpeg),
    ));
    assert_eq!(no_key.status, 401);
    assert_eq!(no_key.json()["success"], false);
    let wrong = s.request(&post_multipart(
        "/v1/vision/detection",
        "f",
        &frigate_body("f", "nope", &jpeg),
    ));
    assert_eq!(wrong.status, 401);
    let ok = s.request(&post_multipart(
        "/v1/vision/detection",
        "f",
        &frigate_body("f", "hunter2", &jpeg),
    ));
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["success"], true);
    let body = frigate_body("f", "", &jpeg);
    let bearer = s.request(&post(
        "/v1/vision/detection",
        &[
            ("Content-Type", "multipart/form-data; boundary=f"),
            ("Authorization", "Bearer hunter2"),
        ],
        &body,
        false,
    ));
    assert_eq!(bearer.status, 200);
    let xkey = s.request(&post(
        "/v1/vision/detection",
        &[
            ("Content-Type", "multipart/form-data; boundary=f"),
            ("X-API-Key", "hunter2"),
        ],
        &body,
        false,
    ));
    assert_eq!(xkey.status, 200);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn custom_models_from_a_folder() {
    let Some((shared, _)) = osprey_testkit::require_model_env("serve custom models") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("osprey-models-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for m in ["yolo11n-320.onnx", "yolo11s-randinit-320.onnx"] {
        let _ = std::os::unix::fs::symlink(shared.join("models").join(m), dir.join(m));
    }
    std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
    let s = Server::start(BIN, &["--models-dir", &dir.display().to_string()], &[]);
    let list = get(&s, "/v1/vision/custom/list").json();
    assert_eq!(
        list["models"],
        serde_json::json!(["yolo11n-320", "yolo11s-randinit-320"])
    );
    let jpeg = frigate_jpeg(&shared);
    let real = s
        .request(&post_multipart(
            "/v1/vision/custom/yolo11n-320",
            "c",
            &frigate_body("c", "", &jpeg),
        ))
        .json();
    assert!(real["count"].as_u64().unwrap() >= 3, "{real}");
    assert_eq!(
        real["command"], "detect",
        "the first model is also the default"
    );
    let random = s
        .request(&post_multipart(
            "/v1/vision/custom/yolo11s-randinit-320",
            "c",
            &frigate_body("c", "", &jpeg),
        ))
        .json();
    assert_eq!(random["success"], true);
    assert_eq!(
        random["count"], 0,
        "random weights detect nothing: {random}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn full_queue_answers_503_with_retry_after() {
    let Some((shared, _)) = osprey_testkit::require_model_env("serve 503") else {
        return;
    };
    // The slowest model and a one-slot queue: a burst must overflow it.
    let s = Server::start(
        BIN,
        &[
            "--model",
            &model(&shared, "yolo11s-randinit-640.onnx"),
            "--queue-capacity",
            "1",
        ],
        &[],
    );
    let jpeg = frigate_jpeg(&shared);
    let req = post_multipart("/v1/vision/detection", "q", &frigate_body("q", "", &jpeg));
    let addr = s.addr;
    let handles: Vec<_> = (0..12)
        .map(|_| {
            let req = req.clone();
            std::thread::spawn(move || {
                let mut c = std::net::TcpStream::connect(addr).unwrap();
                std::io::Write::write_all(&mut c, &req).unwrap();
                osprey_testkit::server::read_response(&mut c).unwrap()
            })
        })
        .collect();
    let responses: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let busy: Vec<_> = responses.iter().filter(|r| r.status == 503).collect();
    assert!(responses.iter().all(|r| r.status == 200 || r.status == 503));
    assert!(
        !busy.is_empty(),
        "a burst of 12 on a one-slot queue must overflow"
    );
    for r in busy {
        assert_eq!(r.header("retry-after"), Some("1"));
        assert_eq!(r.json()["success"], false);
    }
    assert!(responses.iter().any(|r| r.status == 200));
}

#[test]
fn sigterm_finishes_in_flight_requests_and_exits_zero() {
    let Some((shared, _)) = osprey_testkit::require_model_env("serve sigterm") else {
        return;
    };
    let s = Server::start(
        BIN,
        &["--model", &model(&shared, "yolo11s-randinit-640.onnx")],
        &[],
    );
    let jpeg = frigate_jpeg(&shared);
    let req = post_multipart("/v1/vision/detection", "t", &frigate_body("t", "", &jpeg));
    let addr = s.addr;
    let in_flight = std::thread::spawn(move || {
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        std::io::Write::write_all(&mut c, &req).unwrap();
        osprey_testkit::server::read_response(&mut c)
    });
    std::thread::sleep(std::time::Duration::from_millis(30));
    let code = s.terminate();
    let r = in_flight
        .join()
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(r.status, 200);
    assert_eq!(code, Some(0), "graceful exit status");
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "no longer accepting"
    );
}

/// `/metrics` scraped and parsed with a Prometheus text-format parser: the key series hold the
/// exact counts of what was sent.
#[test]
fn prometheus_metrics_count_what_happened() {
    let Some((shared, _)) = osprey_testkit::require_model_env("serve metrics") else {
        return;
    };
    let s = Server::start(BIN, &["--model", &model(&shared, "yolo11n-320.onnx")], &[]);
    let bus = std::fs::read(shared.join("images/bus.jpg")).unwrap();
    let mut bus_count = 0u64;
    for _ in 0..5 {
        let j = s
            .request(&post_multipart(
                "/v1/vision/detection",
                "m",
                &frigate_body("m", "", &bus),
            ))
            .json();
        bus_count += j["predictions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["label"] == "bus")
            .count() as u64;
    }
    let bad = s.request(&post(
        "/v1/vision/detection",
        &[("Content-Type", "text/plain")],
        b"x",
        false,
    ));
    assert_eq!(bad.status, 400);
    let r = get(&s, "/metrics");
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = String::from_utf8(r.body).unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("valid Prometheus text format");
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                prometheus_parse::Value::Histogram(ref h) => {
                    h.iter().map(|b| b.count).fold(0.0, f64::max)
                }
                _ => f64::NAN,
            })
            .sum()
    };
    let route = ("route", "/v1/vision/detection");
    assert_eq!(
        value(
            "osprey_http_requests_total",
            &[route, ("status", "200"), ("method", "POST")]
        ),
        5.0,
        "{text}"
    );
    assert_eq!(
        value("osprey_http_requests_total", &[route, ("status", "400")]),
        1.0
    );
    for stage in [
        "parse",
        "decode",
        "queue_wait",
        "inference",
        "postprocess",
        "respond",
    ] {
        assert_eq!(
            value("osprey_detection_stage_seconds_count", &[("stage", stage)]),
            5.0,
            "stage {stage}"
        );
    }
    assert!(
        value(
            "osprey_detection_stage_seconds_sum",
            &[("stage", "inference")]
        ) > 0.0
    );
    assert_eq!(
        value(
            "osprey_inference_batch_size_count",
            &[("model", "yolo11n-320")]
        ),
        5.0
    );
    assert!(bus_count > 0);
    assert_eq!(
        value(
            "osprey_detections_total",
            &[("model", "yolo11n-320"), ("label", "bus")]
        ),
        bus_count as f64
    );
    assert_eq!(
        value(
            "osprey_model_info",
            &[
                ("model", "yolo11n-320"),
                ("provider", "cpu"),
                ("imgsz", "320x320"),
                ("precision", "fp32")
            ]
        ),
        1.0
    );
    assert_eq!(
        value("osprey_inference_queue_depth", &[("model", "yolo11n-320")]),
        0.0
    );
    assert_eq!(value("osprey_build_info", &[]), 1.0);
    assert!(value("process_resident_memory_bytes", &[]) > 1e6);
    assert!(text.contains("process_cpu_seconds_total"));
}

/// `--generate_metrics` writes the Python server's InfluxDB measurements to the SQLite
/// line-protocol cache, and a graceful shutdown flushes them.
#[test]
fn generate_metrics_writes_python_measurements_to_the_cache() {
    let Some((shared, _)) = osprey_testkit::require_model_env("serve generate_metrics") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("osprey-influx-{}", std::process::id()));
    let cache = dir.join("line-protocol-cache/cache.sqlite");
    let s = Server::start(
        BIN,
        &[
            "--model",
            &model(&shared, "yolo11n-320.onnx"),
            "--generate_metrics=true",
            "--metrics-cache",
            cache.to_str().unwrap(),
        ],
        &[],
    );
    let bus = std::fs::read(shared.join("images/bus.jpg")).unwrap();
    let mut expected_outputs: Vec<(String, i64)> = Vec::new();
    for _ in 0..3 {
        let j = s
            .request(&post_multipart(
                "/v1/vision/detection",
                "g",
                &frigate_body("g", "", &bus),
            ))
            .json();
        for p in j["predictions"].as_array().unwrap() {
            expected_outputs.push((
                p["label"].as_str().unwrap().to_string(),
                (p["confidence"].as_f64().unwrap() * 100.0) as i64,
            ));
        }
    }
    assert_eq!(
        s.request(&post(
            "/v1/vision/detection",
            &[("Content-Type", "text/plain")],
            b"x",
            false
        ))
        .status,
        400
    );
    assert_eq!(s.terminate(), Some(0));
    let conn = osprey_influx::open(&cache).unwrap();
    let mut stmt = conn
        .prepare("SELECT line_protocol FROM line_protocols ORDER BY id")
        .unwrap();
    let lines: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let with = |prefix: &str| {
        lines
            .iter()
            .filter(|l| l.starts_with(prefix))
            .cloned()
            .collect::<Vec<_>>()
    };
    let ok = with("http_request_dispatcher,response_code=200 ");
    assert_eq!(ok.len(), 3, "{lines:#?}");
    for l in &ok {
        for f in [
            "parse_request_body_ns=",
            "parse_multipart_boundary_ns=",
            "compute_response_ns=",
            "send_response_ns=",
        ] {
            assert!(l.contains(f), "{l}");
        }
    }
    let bad = with("http_request_dispatcher,response_code=400 ");
    assert_eq!(bad.len(), 1);
    assert!(
        bad[0].contains("parse_multipart_boundary_ns=") && !bad[0].contains("compute_response_ns"),
        "{}",
        bad[0]
    );
    let inputs = with("prediction_input ");
    assert_eq!(inputs.len(), 3);
    assert!(
        inputs[0].contains(&format!("image_bytes={}i ", bus.len())),
        "{}",
        inputs[0]
    );
    // One point per (label, confidence percent) with the count as an integer field.
    let outputs = with("prediction_output,");
    let mut seen: Vec<(String, i64)> = Vec::new();
    for l in &outputs {
        assert!(
            l.contains("model_image_size=320") && l.contains("model_precision=fp32"),
            "{l}"
        );
        let pct: i64 = l
            .split("confidence_percent=")
            .nth(1)
            .unwrap()
            .split([',', ' '])
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let field = l.split(' ').nth(1).unwrap();
        let (label, count) = field.split_once('=').unwrap();
        let count: usize = count.trim_end_matches('i').parse().unwrap();
        for _ in 0..count {
            seen.push((label.replace("\\ ", " "), pct));
        }
    }
    seen.sort();
    expected_outputs.sort();
    assert_eq!(seen, expected_outputs);
    let _ = std::fs::remove_dir_all(dir);
}
