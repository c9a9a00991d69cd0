//! HTTPS with real clients: curl and Python's `ssl` verify the server against the CA file;
//! plain HTTP to the TLS port, an expired certificate and one from another CA fail; the
//! certificate replaced on disk is served to new connections without a restart while a slow
//! `view.mp4` download on the old one completes; the redirect listener sends plain HTTP to
//! HTTPS.
#![allow(clippy::unwrap_used, clippy::print_stderr, clippy::print_stdout)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use osprey_testkit::server::Server;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

const BIN: &str = env!("CARGO_BIN_EXE_osprey");

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("osprey-tls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

fn ca(name: &str) -> Ca {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(p, key),
    }
}

/// A localhost / 127.0.0.1 server certificate from `ca`, written to `dir/NAME.{crt,key}`; with
/// `expired`, valid only in 2020.
fn leaf(ca: &Ca, dir: &Path, name: &str, expired: bool) -> (PathBuf, PathBuf, String) {
    let mut p =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    if expired {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2020, 6, 1);
    }
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &ca.issuer).unwrap();
    let (c, k) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k, osprey_api::tls::fingerprint(cert.der()))
}

fn curl(args: &[&str]) -> (i32, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "60"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// Python's ssl module: GET over HTTPS verified against `cafile`; prints the status and the
/// SHA-256 of the certificate it was served.
fn python_get(url: &str, cafile: &Path) -> (bool, String) {
    let script = r#"
import hashlib, ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[2])
try:
    with urllib.request.urlopen(sys.argv[1], context=ctx, timeout=20) as r:
        print(r.status)
except Exception as e:
    print("ERROR", type(e).__name__, e)
"#;
    let out = Command::new("python3")
        .args(["-c", script, url])
        .arg(cafile)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (text == "200", text)
}

fn served_fingerprint(port: u16, cafile: &Path) -> String {
    let script = r#"
import hashlib, socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20) as s:
    with ctx.wrap_socket(s, server_hostname="localhost") as t:
        d = hashlib.sha256(t.getpeercert(binary_form=True)).hexdigest().upper()
        print(":".join(d[i:i+2] for i in range(0, len(d), 2)))
"#;
    let out = Command::new("python3")
        .args(["-c", script, &port.to_string()])
        .arg(cafile)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `Server::start` for an HTTPS server: ready when curl (not verifying) gets 200 from /readyz.
fn start_https(args: &[&str]) -> Server {
    let mut all = vec!["serve", "--listen", "127.0.0.1:0"];
    all.extend_from_slice(args);
    Server::start_with(BIN, &all, &[("OSPREY_AUTH", "off")], |s| {
        let url = format!("https://127.0.0.1:{}/readyz", s.addr.port());
        curl(&["-k", "-o", "/dev/null", "-w", "%{http_code}", &url]) == (0, "200".to_string())
    })
}

fn have_tools(test: &str) -> bool {
    let ok = |c: &str| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if ok("curl") && ok("python3") {
        return true;
    }
    eprintln!("\n*** SKIPPED {test}: curl or python3 is missing ***\n");
    false
}

#[test]
fn https_with_curl_and_python_reload_and_redirect() {
    let Some((shared, _)) =
        osprey_testkit::require_model_env("https_with_curl_and_python_reload_and_redirect")
    else {
        return;
    };
    if !have_tools("https_with_curl_and_python_reload_and_redirect") {
        return;
    }
    let dir = tmpdir("main");
    let good = ca("Osprey test CA");
    let other = ca("Some other CA");
    let ca_file = dir.join("ca.pem");
    let other_file = dir.join("other.pem");
    std::fs::write(&ca_file, &good.pem).unwrap();
    std::fs::write(&other_file, &other.pem).unwrap();
    let (cert, key, fp1) = leaf(&good, &dir, "server", false);
    let video = shared.join("video/pedestrians.mp4");
    let cfg = dir.join("osprey.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[cameras]]\nid = \"door\"\nurl = \"{}\"\nrealtime = false\ndetect_fps = 1\nrecord = \"continuous\"\n\n[recording]\nrecordings_dir = \"{}\"\n\n[security]\ntls_reload_s = 1\n",
            video.display(),
            dir.join("rec").display()
        ),
    )
    .unwrap();
    let redirect_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let model = shared.join("models/yolo11n-320.onnx");
    let srv = start_https(&[
        "--model",
        model.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--events-db",
        dir.join("events.sqlite").to_str().unwrap(),
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--tls-redirect-port",
        &redirect_port.to_string(),
    ]);
    let port = srv.addr.port();
    let base = format!("https://localhost:{port}");
    let ca_arg = ca_file.to_str().unwrap();
    // curl and Python verify the chain against the CA file.
    let (code, out) = curl(&[
        "--cacert",
        ca_arg,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{http_version}",
        &format!("{base}/healthz"),
    ]);
    println!("curl --cacert: exit {code}, {out}");
    assert_eq!((code, out.as_str()), (0, "200 2"), "HTTP/2 by ALPN");
    let (code, out) = curl(&[
        "--http1.1",
        "--cacert",
        ca_arg,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{http_version}",
        &format!("{base}/healthz"),
    ]);
    assert_eq!((code, out.as_str()), (0, "200 1.1"));
    let (ok, text) = python_get(&format!("{base}/healthz"), &ca_file);
    println!("python ssl: {text}");
    assert!(ok, "{text}");
    // Another CA: both refuse. Plain HTTP to the TLS port: no HTTP answer.
    let (code, out) = curl(&[
        "--cacert",
        other_file.to_str().unwrap(),
        &format!("{base}/healthz"),
    ]);
    println!(
        "curl with another CA: exit {code}: {}",
        out.lines().next().unwrap_or("")
    );
    assert_eq!(code, 60, "{out}");
    let (ok, text) = python_get(&format!("{base}/healthz"), &other_file);
    println!("python ssl with another CA: {text}");
    assert!(!ok && text.contains("CERTIFICATE_VERIFY_FAILED"), "{text}");
    let mut plain = TcpStream::connect(srv.addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    println!(
        "plain HTTP to the TLS port: {} bytes back, {:?}",
        got.len(),
        String::from_utf8_lossy(&got[..got.len().min(12)])
    );
    assert!(
        !got.starts_with(b"HTTP/1.1 200"),
        "plain HTTP was served on the TLS port"
    );
    // The redirect listener.
    let (code, out) = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{redirect_url}",
        &format!("http://127.0.0.1:{redirect_port}/api/cameras?x=1"),
    ]);
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            format!("308 https://127.0.0.1:{port}/api/cameras?x=1").as_str()
        )
    );

    // The clip recorded (decoded as fast as it goes), the camera removed so its last segment is
    // closed; then a view downloaded slowly while the certificate is replaced.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (_, t) = curl(&["--cacert", ca_arg, &format!("{base}/api/cameras/door")]);
        let v: serde_json::Value = serde_json::from_str(&t).unwrap_or_default();
        if v["state"] == "ended" || v["frames"]["decoded"].as_u64().unwrap_or(0) >= 300 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the file camera did not finish: {t}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let (code, t) = curl(&[
        "--cacert",
        ca_arg,
        "-X",
        "DELETE",
        &format!("{base}/api/cameras/door"),
    ]);
    assert_eq!(code, 0, "{t}");
    let now = (osprey_base::unix_now() * 1000.0) as i64;
    let (_, t) = curl(&[
        "--cacert",
        ca_arg,
        &format!(
            "{base}/api/recordings/door/timeline?start={}&end={}",
            now - 3_600_000,
            now + 3_600_000
        ),
    ]);
    let v: serde_json::Value = serde_json::from_str(&t).unwrap_or_default();
    let run = &v["runs"][0];
    let (start, end) = (
        run["start_unix_ms"].as_i64().unwrap_or(0),
        run["end_unix_ms"].as_i64().unwrap_or(0),
    );
    assert!(end - start >= 20_000, "no 20 s recorded: {t}");
    let view = format!("{base}/api/recordings/door/view.mp4?start={start}&end={end}");
    let out_file = dir.join("view.mp4");
    let mut download = Command::new("curl")
        .args([
            "-sS",
            "--http1.1",
            "--limit-rate",
            "150k",
            "--cacert",
            ca_arg,
            "-o",
        ])
        .arg(&out_file)
        .args(["-w", "%{http_code} %{size_download} %{content_type}", &view])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let (new_cert, new_key, fp2) = leaf(&good, &dir, "server2", false);
    std::fs::rename(&new_key, &key).unwrap();
    std::fs::rename(&new_cert, &cert).unwrap();
    let swapped = Instant::now();
    let mut served = String::new();
    while Instant::now() - swapped < Duration::from_secs(15) {
        served = served_fingerprint(port, &ca_file);
        if served == fp2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    println!(
        "certificate replaced on disk: new connections served it after {:.1} s (old {}…, new {}…)",
        swapped.elapsed().as_secs_f64(),
        &fp1[..11],
        &fp2[..11]
    );
    assert_eq!(served, fp2, "the new certificate is not served");
    assert!(
        download.try_wait().unwrap().is_none(),
        "the download ended before the swap: make it slower"
    );
    let status = download.wait().unwrap();
    let mut summary = String::new();
    download
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut summary)
        .unwrap();
    let bytes = std::fs::metadata(&out_file).unwrap().len();
    println!("view.mp4 over the old certificate's connection: {summary}, {bytes} bytes on disk");
    assert!(status.success());
    let parts: Vec<&str> = summary.split_whitespace().collect();
    assert_eq!(parts[0], "200");
    assert_eq!(parts[1].parse::<u64>().unwrap(), bytes);
    assert!(bytes > 100_000, "{bytes}");
    drop(srv);

    // An expired certificate from the right CA is refused by both clients.
    let (ecert, ekey, _) = leaf(&good, &dir, "expired", true);
    let srv = start_https(&[
        "--model",
        model.to_str().unwrap(),
        "--events-db",
        dir.join("events2.sqlite").to_str().unwrap(),
        "--tls-cert",
        ecert.to_str().unwrap(),
        "--tls-key",
        ekey.to_str().unwrap(),
    ]);
    let base = format!("https://localhost:{}", srv.addr.port());
    let (code, out) = curl(&["--cacert", ca_arg, &format!("{base}/healthz")]);
    println!(
        "curl, expired certificate: exit {code}: {}",
        out.lines().next().unwrap_or("")
    );
    assert_eq!(code, 60, "{out}");
    let (ok, text) = python_get(&format!("{base}/healthz"), &ca_file);
    println!("python ssl, expired certificate: {text}");
    assert!(!ok && text.contains("expired"), "{text}");
    drop(srv);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn self_signed_certificate_is_made_once_and_kept() {
    let Some((shared, _)) =
        osprey_testkit::require_model_env("self_signed_certificate_is_made_once_and_kept")
    else {
        return;
    };
    if !have_tools("self_signed_certificate_is_made_once_and_kept") {
        return;
    }
    let dir = tmpdir("self");
    let model = shared.join("models/yolo11n-320.onnx");
    let events = dir.join("events.sqlite");
    let args = [
        "--model",
        model.to_str().unwrap(),
        "--events-db",
        events.to_str().unwrap(),
        "--tls-self-signed",
    ];
    let fp = |srv: &Server| {
        srv.log_text()
            .split("sha256=")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap()
            .to_string()
    };
    let srv = start_https(&args);
    let first = fp(&srv);
    let crt = dir.join("tls/self-signed.crt");
    let key = dir.join("tls/self-signed.key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Clients pin it: curl with the certificate itself as the CA.
    let (code, out) = curl(&[
        "--cacert",
        crt.to_str().unwrap(),
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("https://localhost:{}/healthz", srv.addr.port()),
    ]);
    assert_eq!((code, out.as_str()), (0, "200"));
    assert_eq!(served_fingerprint(srv.addr.port(), &crt), first);
    drop(srv);
    let srv = start_https(&args);
    assert_eq!(fp(&srv), first, "a restart keeps the certificate");
    drop(srv);
    let _ = std::fs::remove_dir_all(dir);
}
