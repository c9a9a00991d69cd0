//! Bad input never takes the server down: a corpus of malformed requests, slow clients, idle
//! connections, and a Frigate-shaped keep-alive client. Each case gets the right answer (or the
//! connection is closed), the server stays up, and its memory does not grow.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use osprey_testkit::server::{frigate_body, post, post_multipart, read_response, Response, Server};

const BIN: &str = env!("CARGO_BIN_EXE_osprey");

fn jpeg(
    w: usize,
    h: usize,
    fmt: turbojpeg::PixelFormat,
    px: &[u8],
    sub: turbojpeg::Subsamp,
) -> Vec<u8> {
    let ch = fmt.size();
    let img = turbojpeg::Image {
        pixels: px,
        width: w,
        pitch: w * ch,
        height: h,
        format: fmt,
    };
    turbojpeg::compress(img, 90, sub).unwrap().to_vec()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// What a case must produce.
enum Expect {
    /// This HTTP status with a JSON body whose `success` is this.
    Json(u16, bool),
    /// HTTP 200 with `success: false` and this `code`.
    Failed(u16),
    /// A protocol error: the HTTP layer answers this status without a JSON body, or closes.
    Protocol(u16),
}

fn chunked(path: &str, ct: &str, body: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {ct}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").into_bytes();
    for c in body.chunks(chunk) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fn part(name: &str, extra: &str, data: &[u8]) -> Vec<u8> {
    let mut p = format!("--b\r\nContent-Disposition: form-data; name=\"{name}\"{extra}\r\n\r\n")
        .into_bytes();
    p.extend_from_slice(data);
    p.extend_from_slice(b"\r\n");
    p
}

fn form(parts: &[Vec<u8>]) -> Vec<u8> {
    let mut b = parts.concat();
    b.extend_from_slice(b"--b--\r\n");
    b
}

/// Checks one answer against what its case must produce.
fn check(s: &Server, name: &str, expect: &Expect, got: std::io::Result<Response>) {
    match (expect, got) {
        (Expect::Json(status, success), Ok(r)) => {
            assert_eq!(
                r.status,
                *status,
                "{name}: {}",
                String::from_utf8_lossy(&r.body)
            );
            assert_eq!(r.json()["success"], *success, "{name}");
        }
        (Expect::Failed(code), Ok(r)) => {
            assert_eq!(
                r.status,
                200,
                "{name}: {}",
                String::from_utf8_lossy(&r.body)
            );
            let j = r.json();
            assert_eq!(j["success"], false, "{name}: {j}");
            assert_eq!(j["predictions"], serde_json::json!([]), "{name}");
            assert_eq!(j["code"], *code, "{name}: {j}");
        }
        (Expect::Protocol(status), Ok(r)) => assert!(
            r.status == *status || r.status == 400,
            "{name}: status {}",
            r.status
        ),
        (Expect::Protocol(_), Err(_)) => {} // closed by the HTTP layer
        (_, Err(e)) => panic!("{name}: {e}\n{}", s.log_text()),
    }
}

#[test]
fn malformed_request_corpus() {
    let Some((shared, _)) = osprey_testkit::require_model_env("malformed_request_corpus") else {
        return;
    };
    let model = shared.join("models/yolo11n-320.onnx").display().to_string();
    let s = Server::start(
        BIN,
        &[
            "--model",
            &model,
            "--max-body-bytes",
            "2000000",
            "--max-image-bytes",
            "1000000",
            "--header-timeout-ms",
            "1500",
            "--body-timeout-ms",
            "1500",
        ],
        &[],
    );
    let bus = std::fs::read(shared.join("images/bus.jpg")).unwrap();
    let mj = |b: &[u8]| post_multipart("/v1/vision/detection", "b", b);
    let img_form = |data: &[u8]| mj(&form(&[part("image", "; filename=\"image\"", data)]));
    let gray = jpeg(
        64,
        48,
        turbojpeg::PixelFormat::GRAY,
        &[120u8; 64 * 48],
        turbojpeg::Subsamp::Gray,
    );
    let cmyk = jpeg(
        64,
        48,
        turbojpeg::PixelFormat::CMYK,
        &[255u8, 0, 0, 255].repeat(64 * 48),
        turbojpeg::Subsamp::None,
    );
    let one = jpeg(
        1,
        1,
        turbojpeg::PixelFormat::RGB,
        &[1, 2, 3],
        turbojpeg::Subsamp::None,
    );
    let exif = osprey_testkit::fixtures::with_exif_orientation(&bus, 6);
    let ok_body = form(&[part("image", "; filename=\"image\"", &bus)]);

    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        ("content-length 0", post("/v1/vision/detection", &[("Content-Type", "multipart/form-data; boundary=b")], b"", false), Expect::Json(400, false)),
        ("content-length over the limit", b"POST /v1/vision/detection HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\nContent-Type: multipart/form-data; boundary=b\r\nConnection: close\r\n\r\n".to_vec(), Expect::Json(400, false)),
        ("content-length not a number", b"POST /v1/vision/detection HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\nConnection: close\r\n\r\n".to_vec(), Expect::Protocol(400)),
        ("no content-type", post("/v1/vision/detection", &[], &ok_body, false), Expect::Json(400, false)),
        ("text/plain", post("/v1/vision/detection", &[("Content-Type", "text/plain")], &ok_body, false), Expect::Json(400, false)),
        ("application/json", post("/v1/vision/detection", &[("Content-Type", "application/json")], b"{\"image\":1}", false), Expect::Json(400, false)),
        ("multipart without boundary", post("/v1/vision/detection", &[("Content-Type", "multipart/form-data")], &ok_body, false), Expect::Json(400, false)),
        ("empty boundary", post("/v1/vision/detection", &[("Content-Type", "multipart/form-data; boundary=")], &ok_body, false), Expect::Json(400, false)),
        ("garbled boundary in body", mj(&ok_body.iter().map(|&c| if c == b'-' { b'=' } else { c }).collect::<Vec<_>>()), Expect::Failed(400)),
        ("body boundary differs from header", post_multipart("/v1/vision/detection", "other", &ok_body), Expect::Failed(400)),
        ("duplicate boundary parameter (first wins)", post("/v1/vision/detection", &[("Content-Type", "multipart/form-data; boundary=b; boundary=z")], &ok_body, false), Expect::Json(200, true)),
        ("quoted boundary", post("/v1/vision/detection", &[("Content-Type", "multipart/form-data; boundary=\"b\"")], &ok_body, false), Expect::Json(200, true)),
        ("no terminating boundary", mj(&part("image", "", &bus)), Expect::Failed(400)),
        ("terminating boundary only", mj(b"--b--\r\n"), Expect::Failed(400)),
        ("no image part", mj(&form(&[part("api_key", "", b"")])), Expect::Failed(400)),
        ("empty image part", img_form(b""), Expect::Failed(400)),
        ("two image parts (first wins)", mj(&form(&[part("image", "", &bus), part("image", "", b"junk")])), Expect::Json(200, true)),
        ("image part with content type", mj(&form(&[part("image", "; filename=\"a.jpg\"\r\nContent-Type: image/jpeg", &bus)])), Expect::Json(200, true)),
        ("LF-only line endings", mj(&{
            let mut b = b"--b\nContent-Disposition: form-data; name=\"image\"\n\n".to_vec();
            b.extend_from_slice(&bus);
            b.extend_from_slice(b"\n--b--\n");
            b
        }), Expect::Json(200, true)),
        ("part header flood", mj(&{
            let mut b = b"--b\r\nContent-Disposition: form-data; name=\"image\"\r\n".to_vec();
            for i in 0..2000 {
                b.extend_from_slice(format!("X-Junk-{i}: aaaaaaaaaa\r\n").as_bytes());
            }
            b.extend_from_slice(b"\r\n");
            b.extend_from_slice(&bus);
            b.extend_from_slice(b"\r\n--b--\r\n");
            b
        }), Expect::Failed(400)),
        ("non-image bytes", img_form(b"GIF89a not really"), Expect::Failed(400)),
        ("text as image", img_form(b"hello world"), Expect::Failed(400)),
        ("truncated JPEG", img_form(&bus[..bus.len() / 3]), Expect::Failed(400)),
        ("JPEG header only", img_form(&bus[..600]), Expect::Failed(400)),
        ("PNG bomb 20000x20000", img_form(&osprey_testkit::fixtures::png_claiming(20_000, 20_000)), Expect::Failed(413)),
        ("image over max_image_bytes", img_form(&vec![0xFFu8; 1_200_000]), Expect::Failed(413)),
        ("1x1 image", img_form(&one), Expect::Json(200, true)),
        ("grayscale JPEG", img_form(&gray), Expect::Json(200, true)),
        ("CMYK JPEG", img_form(&cmyk), Expect::Json(200, true)),
        ("EXIF orientation 6", img_form(&exif), Expect::Json(200, true)),
        ("raw JPEG body", post("/v1/vision/detection", &[("Content-Type", "image/jpeg")], &bus, false), Expect::Json(200, true)),
        ("raw garbage body as image/png", post("/v1/vision/detection", &[("Content-Type", "image/png")], b"\x89PNG\r\n\x1a\nxx", false), Expect::Failed(400)),
        ("chunked body", chunked("/v1/vision/detection", "multipart/form-data; boundary=b", &ok_body, 4096), Expect::Json(200, true)),
        ("chunked body over the limit", chunked("/v1/vision/detection", "image/jpeg", &vec![0u8; 2_100_000], 65536), Expect::Json(400, false)),
        ("malformed chunk size", b"POST /v1/vision/detection HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n".to_vec(), Expect::Failed(400)),
        ("content-length shorter than the body", {
            let mut r = post_multipart("/v1/vision/detection", "b", &ok_body);
            let head_end = r.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
            let head = String::from_utf8_lossy(&r[..head_end]).replace(&format!("Content-Length: {}", ok_body.len()), "Content-Length: 5000");
            let mut out = head.into_bytes();
            out.extend_from_slice(&r.split_off(head_end));
            out
        }, Expect::Failed(400)),
        ("min_confidence above 1", post_multipart("/v1/vision/detection?min_confidence=7", "b", &ok_body), Expect::Json(400, false)),
        ("min_confidence negative (raised to 0.1)", post_multipart("/v1/vision/detection?min_confidence=-1", "b", &ok_body), Expect::Json(200, true)),
        ("max_detections negative", post_multipart("/v1/vision/detection?max_detections=-1", "b", &ok_body), Expect::Json(400, false)),
        ("unknown route", post("/v1/vision/face", &[], b"x", false), Expect::Json(404, false)),
        ("path traversal", b"GET /v1/vision/custom/../../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(), Expect::Json(404, false)),
        ("unknown custom model", post_multipart("/v1/vision/custom/%00evil", "b", &ok_body), Expect::Json(404, false)),
        ("wrong method", b"PUT /v1/vision/detection HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(), Expect::Json(405, false)),
        ("garbage request line", b"\x16\x03\x01\x02\x00 hello\r\n\r\n".to_vec(), Expect::Protocol(400)),
        ("HTTP header flood", {
            let mut r = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
            for i in 0..5000 {
                r.extend_from_slice(format!("X-Flood-{i}: {}\r\n", "a".repeat(20)).as_bytes());
            }
            r.extend_from_slice(b"\r\n");
            r
        }, Expect::Protocol(431)),
        ("very long URL", format!("GET /{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "a".repeat(100_000)).into_bytes(), Expect::Protocol(414)),
        ("Expect: 100-continue", post("/v1/vision/detection", &[("Content-Type", "multipart/form-data; boundary=b"), ("Expect", "100-continue")], &ok_body, false), Expect::Json(200, true)),
    ];
    assert!(cases.len() >= 40, "corpus has {} cases", cases.len());

    // Memory: the first pass over the corpus raises the allocator's high-water mark (its largest
    // bodies are MBs); that is reported but not a leak. A leak shows as growth over repeated
    // passes, so the bound applies from after the first pass to after three more.
    for _ in 0..5 {
        s.request(&post_multipart("/v1/vision/detection", "b", &ok_body));
    }
    let rss_start = rss_kib(s.pid());
    let mut rss_before = rss_start;
    let started = Instant::now();
    for round in 0..4 {
        if round == 1 {
            rss_before = rss_kib(s.pid());
            eprintln!(
                "RSS after warm-up requests {rss_start} KiB, after the first corpus pass {rss_before} KiB ({:+.1} %)",
                100.0 * (rss_before as f64 - rss_start as f64) / rss_start as f64
            );
        }
        for (name, raw, expect) in &cases {
            // Every case twice: from a normal client, and from one that half-closes
            // (shutdown(SHUT_WR)) after writing it, which must get the same answer.
            check(&s, name, expect, s.try_request(raw));
            let half = format!("{name} (half-closed)");
            check(&s, &half, expect, s.try_request_half_closed(raw));
            if round == 0 {
                eprintln!("ok: {name}");
            }
        }
        eprintln!("RSS after round {round}: {} KiB", rss_kib(s.pid()));
    }
    let rss_after = rss_kib(s.pid());
    eprintln!(
        "corpus: {} cases x 2 clients (normal, half-closing) x 4 passes in {:.1} s; RSS after pass 1 {} KiB, after pass 4 {} KiB ({:+.1} %)",
        cases.len(),
        started.elapsed().as_secs_f64(),
        rss_before,
        rss_after,
        100.0 * (rss_after as f64 - rss_before as f64) / rss_before as f64
    );
    assert!(
        rss_after as f64 <= rss_before as f64 * 1.10,
        "RSS grew from {rss_before} to {rss_after} KiB"
    );
    let r = s.request(&post_multipart("/v1/vision/detection", "b", &ok_body));
    assert_eq!(r.json()["success"], true, "still serving after the corpus");
}

#[test]
fn slow_clients_and_idle_connections() {
    let Some((shared, _)) = osprey_testkit::require_model_env("slow_clients_and_idle_connections")
    else {
        return;
    };
    let model = shared.join("models/yolo11n-320.onnx").display().to_string();
    let s = Server::start(
        BIN,
        &[
            "--model",
            &model,
            "--header-timeout-ms",
            "1500",
            "--body-timeout-ms",
            "1500",
        ],
        &[],
    );
    let bus = std::fs::read(shared.join("images/bus.jpg")).unwrap();
    let ok = post_multipart("/v1/vision/detection", "b", &frigate_body("b", "", &bus));
    s.request(&ok);
    let rss_before = rss_kib(s.pid());

    // Slowloris: one header byte per 300 ms. The header timeout closes the connection.
    let mut slow = TcpStream::connect(s.addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut closed = false;
    for b in b"POST /v1/vision/detection HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
        if slow.write_all(&[*b]).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
        if started.elapsed() > Duration::from_secs(5) {
            break;
        }
    }
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    assert!(
        closed || started.elapsed() < Duration::from_secs(8),
        "slowloris connection was not cut"
    );
    eprintln!(
        "slowloris cut after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Slow body: headers promptly, then nothing. The body timeout answers without a result.
    let mut slow_body = TcpStream::connect(s.addr).unwrap();
    slow_body.write_all(b"POST /v1/vision/detection HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n\xff\xd8").unwrap();
    slow_body
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let r = read_response(&mut slow_body).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["code"], 408);

    // 500 idle keep-alive connections, then normal service continues.
    let idle: Vec<TcpStream> = (0..500)
        .map(|_| TcpStream::connect(s.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let r = s.request(&ok);
    assert_eq!(
        r.json()["success"],
        true,
        "serves while 500 connections idle"
    );
    drop(idle);
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..5 {
        assert_eq!(s.request(&ok).json()["success"], true);
    }
    let rss_after = rss_kib(s.pid());
    eprintln!(
        "RSS before {rss_before} KiB, after slow clients and 500 idle connections {rss_after} KiB"
    );
    assert!(
        rss_after as f64 <= rss_before as f64 * 1.10,
        "RSS grew from {rss_before} to {rss_after} KiB"
    );
}

/// Frigate's deepstack detector: one keep-alive connection, `api_key` part first, `image` part
/// with filename "image" and no content type, a 320x320 quality-75 JPEG, 200 requests.
#[test]
fn frigate_shaped_client_200_requests() {
    let Some((shared, _)) = osprey_testkit::require_model_env("frigate_shaped_client_200_requests")
    else {
        return;
    };
    let model = shared.join("models/yolo11n-320.onnx").display().to_string();
    let s = Server::start(BIN, &["--model", &model], &[]);
    let img = osprey_image::decode(
        &std::fs::read(shared.join("images/bus.jpg")).unwrap(),
        &Default::default(),
    )
    .unwrap();
    let small = osprey_image::resize::resize(&img, 320, 320);
    let jpeg = jpeg(
        320,
        320,
        turbojpeg::PixelFormat::RGB,
        small.as_raw(),
        turbojpeg::Subsamp::Sub2x2,
    );
    let mut conn = TcpStream::connect(s.addr).unwrap();
    conn.set_nodelay(true).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let boundary = "e4c19b5cdf6d4ae5a2a3f3c0a1b2c3d4";
    let req = post(
        "/v1/vision/detection",
        &[(
            "Content-Type",
            &format!("multipart/form-data; boundary={boundary}"),
        )],
        &frigate_body(boundary, "", &jpeg),
        true,
    );
    let mut latencies = Vec::with_capacity(200);
    let mut first: Option<Vec<(String, i64)>> = None;
    for i in 0..200 {
        let t = Instant::now();
        conn.write_all(&req).unwrap();
        let r: Response = read_response(&mut conn).unwrap();
        latencies.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(r.status, 200, "request {i}");
        let j = r.json();
        assert_eq!(j["success"], true);
        let preds: Vec<(String, i64)> = j["predictions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["label"].as_str().unwrap().to_string(),
                    p["x_min"].as_i64().unwrap(),
                )
            })
            .collect();
        // Frigate stops at the first prediction under 0.4, so all must be >= 0.4 and sorted.
        let confs: Vec<f64> = j["predictions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["confidence"].as_f64().unwrap())
            .collect();
        assert!(confs.iter().all(|c| *c >= 0.4) && confs.windows(2).all(|w| w[0] >= w[1]));
        match &first {
            None => first = Some(preds),
            Some(f) => assert_eq!(&preds, f, "request {i}: same image, same answer"),
        }
    }
    let preds = first.unwrap();
    assert!(preds.iter().any(|(l, _)| l == "bus"), "{preds:?}");
    assert!(
        preds.iter().filter(|(l, _)| l == "person").count() >= 3,
        "{preds:?}"
    );
    latencies.sort_by(|a, b| a.total_cmp(b));
    eprintln!(
        "frigate-shaped client: 200 requests on one keep-alive connection, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; predictions {preds:?}",
        latencies[100],
        latencies[197],
        latencies[199]
    );
}
