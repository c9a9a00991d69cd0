//! Security over real HTTP against the real server (`--auth on`): every route × every role (and
//! no credentials) gets the status its declared policy promises, and a route without a policy
//! fails the test; sessions (cookie, CSRF, logout); login brute force locked out per address
//! and audited; keys made by the CLI.
#![allow(clippy::unwrap_used, clippy::print_stderr, clippy::print_stdout)]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use osprey_api::policy::POLICIES;
use osprey_auth::Policy;
use osprey_testkit::server::{read_response, Response, Server};

const BIN: &str = env!("CARGO_BIN_EXE_osprey");
const ROLES: [&str; 4] = ["viewer", "operator", "admin", "detect"];

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("osprey-sec-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `osprey keys create NAME --role ROLE`: the key on stdout.
fn create_key(db: &Path, name: &str, role: &str) -> String {
    let out = Command::new(BIN)
        .args(["keys", "create", name, "--role", role, "--auth-db"])
        .arg(db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// `osprey users add NAME --role ROLE --password-stdin`.
fn add_user(db: &Path, name: &str, role: &str, password: &str) {
    let mut child = Command::new(BIN)
        .args([
            "users",
            "add",
            name,
            "--role",
            role,
            "--password-stdin",
            "--auth-db",
        ])
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn start(dir: &Path, shared: &Path, extra: &[&str]) -> Server {
    let model = shared.join("models/yolo11n-320.onnx");
    let events = dir.join("events.sqlite");
    let mut args = vec![
        "--model".to_string(),
        model.display().to_string(),
        "--events-db".into(),
        events.display().to_string(),
        "--auth-db".into(),
        dir.join("auth.sqlite").display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start(BIN, &args, &[("OSPREY_AUTH", "on")])
}

/// One request from `from` (a loopback address) with `headers`; the answer.
fn send(
    addr: SocketAddr,
    from: IpAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::new(from, 0).into()).unwrap();
    sock.connect_timeout(&addr.into(), Duration::from_secs(5))
        .unwrap();
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    s.write_all(&bytes).unwrap();
    if method == "HEAD" {
        let mut all = Vec::new();
        let _ = s.read_to_end(&mut all);
        let text = String::from_utf8_lossy(&all);
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        return Response {
            status,
            headers: vec![],
            body: vec![],
        };
    }
    read_response(&mut s).unwrap()
}

fn local() -> IpAddr {
    "127.0.0.1".parse().unwrap()
}

/// Every `.route("PATH", get(..).post(..))` in osprey-api's sources, as (METHOD, PATH).
fn routes_in_source() -> BTreeSet<(String, String)> {
    let src = osprey_testkit::workspace_root().join("crates/osprey-api/src");
    let mut files = vec![src.clone()];
    let mut out = BTreeSet::new();
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if p.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let mut rest = text.as_str();
        while let Some(i) = rest.find(".route(") {
            rest = &rest[i + ".route(".len()..];
            let q1 = rest.find('"').unwrap();
            let q2 = q1 + 1 + rest[q1 + 1..].find('"').unwrap();
            let path = &rest[q1 + 1..q2];
            // The call's argument list, up to its closing parenthesis.
            let (mut depth, mut end) = (1, q2);
            for (j, c) in rest[q2..].char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    end = q2 + j;
                    break;
                }
            }
            let call = &rest[q2..end];
            for m in ["get", "post", "put", "delete", "patch"] {
                let bare = format!("{m}(");
                let chained = format!(".{m}(");
                let starts = call
                    .trim_start_matches([',', ' ', '\n', '"'])
                    .starts_with(&bare);
                if starts || call.contains(&chained) {
                    out.insert((m.to_uppercase(), path.to_string()));
                }
            }
        }
    }
    out
}

fn concrete(path: &str) -> String {
    path.replace("{*file}", "app.js")
        .replace("{model}", "nomodel")
        .replace("{kind}", "tripwire")
        .replace("{name}", "nobody")
        .replace(['{', '}'], "")
}

/// A detection body: a form whose image is not an image (answered after the credential check).
fn detection_form() -> (Vec<u8>, &'static str) {
    (
        b"--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x.jpg\"\r\n\r\nnot an image\r\n--b--\r\n".to_vec(),
        "multipart/form-data; boundary=b",
    )
}

#[test]
fn every_route_every_role_matches_its_policy() {
    let Some((shared, _)) =
        osprey_testkit::require_model_env("every_route_every_role_matches_its_policy")
    else {
        return;
    };
    // 1. The table covers every route the router has, and nothing else.
    let in_source = routes_in_source();
    let declared: BTreeSet<(String, String)> = POLICIES
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    let missing: Vec<_> = in_source.difference(&declared).collect();
    let stale: Vec<_> = declared.difference(&in_source).collect();
    assert!(
        missing.is_empty(),
        "routes without an access policy (add them to osprey-api/src/policy.rs): {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "policies for routes that do not exist: {stale:?}"
    );
    assert!(
        in_source.len() >= 60,
        "only {} routes found in the source: the scanner is broken",
        in_source.len()
    );

    // 2. Each route × each role and no credentials, over HTTP.
    let dir = tmpdir("matrix");
    let db = dir.join("auth.sqlite");
    let srv = start(&dir, &shared, &[]);
    let keys: Vec<(&str, String)> = ROLES
        .iter()
        .map(|r| (*r, create_key(&db, &format!("k-{r}"), r)))
        .collect();
    let (form, form_type) = detection_form();
    let mut cases = 0;
    let mut failures = Vec::new();
    for (method, route, policy) in POLICIES {
        let path = concrete(route);
        let detection =
            route.starts_with("/v1/vision/") && *method == "POST" && !route.ends_with("/list");
        let (body, ctype): (&[u8], &str) = if detection {
            (&form, form_type)
        } else {
            (b"{}", "application/json")
        };
        let path = if detection && route.contains("{model}") {
            "/v1/vision/custom/yolo11n-320".to_string()
        } else {
            path
        };
        for who in std::iter::once(None).chain(keys.iter().map(Some)) {
            let mut headers = vec![("Content-Type", ctype)];
            if let Some((_, k)) = who {
                headers.push(("X-API-Key", k.as_str()));
            }
            let r = send(srv.addr, local(), method, &path, &headers, body);
            let role = who.map(|(r, _)| r.parse::<osprey_auth::Role>().unwrap());
            let want: &[u16] = match (policy, role) {
                (Policy::Public, _) => &[],
                (_, None) => &[401],
                (p, Some(r)) if r.allows(*p) => &[],
                _ => &[403],
            };
            let ok = if want.is_empty() {
                !matches!(r.status, 401 | 403 | 429 | 500)
            } else {
                want.contains(&r.status)
            };
            cases += 1;
            if !ok {
                failures.push(format!(
                    "{method} {path} as {}: {} (want {})",
                    who.map(|w| w.0).unwrap_or("nobody"),
                    r.status,
                    if want.is_empty() {
                        "allowed".to_string()
                    } else {
                        format!("{want:?}")
                    }
                ));
            }
        }
    }
    println!(
        "route x role matrix: {} routes x 5 principals (no credentials, viewer, operator, admin, detect) = {cases} cases, {} failures",
        POLICIES.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // HEAD follows GET; a browser without a session is sent to the UI's login.
    assert_eq!(
        send(srv.addr, local(), "HEAD", "/api/cameras", &[], b"").status,
        401
    );
    let r = send(
        srv.addr,
        local(),
        "GET",
        "/",
        &[("Accept", "text/html")],
        b"",
    );
    assert!(r.status == 303 || r.status == 401, "{}", r.status);
    // The legacy ping stays open, detection without the form key is refused with JSON.
    assert_eq!(
        send(srv.addr, local(), "GET", "/v1/status/ping", &[], b"").status,
        200
    );
    drop(srv);
    let _ = std::fs::remove_dir_all(dir);
}

fn json(r: &Response) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null)
}

fn login(addr: SocketAddr, from: IpAddr, user: &str, pw: &str) -> Response {
    let body = serde_json::json!({ "username": user, "password": pw }).to_string();
    send(
        addr,
        from,
        "POST",
        "/api/auth/login",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

fn cookie_of(r: &Response) -> String {
    let set = r.header("set-cookie").unwrap_or_default().to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    set.split(';').next().unwrap().to_string()
}

#[test]
fn sessions_csrf_logout_and_the_first_admin() {
    let Some((shared, _)) =
        osprey_testkit::require_model_env("sessions_csrf_logout_and_the_first_admin")
    else {
        return;
    };
    let dir = tmpdir("sessions");
    let db = dir.join("auth.sqlite");
    let srv = start(&dir, &shared, &[]);
    // The first start made `admin` and logged its password once.
    let log = srv.log_text();
    let pw = log
        .split("password=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("the first admin's password in the log")
        .to_string();
    add_user(&db, "vera", "viewer", "viewer-pass-1");
    let r = login(srv.addr, local(), "admin", &pw);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let admin = cookie_of(&r);
    let csrf = json(&r)["csrf"].as_str().unwrap().to_string();
    let tripwire = br#"{"sensorId":"nocam","tripwires":[]}"#;
    let hdr = |c: &str, t: Option<&str>| {
        let mut v = vec![
            ("Cookie".to_string(), c.to_string()),
            ("Content-Type".into(), "application/json".into()),
        ];
        if let Some(t) = t {
            v.push(("X-CSRF-Token".into(), t.to_string()));
        }
        v
    };
    let call = |m: &str, p: &str, h: &[(String, String)], b: &[u8]| {
        let h: Vec<(&str, &str)> = h.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        send(srv.addr, local(), m, p, &h, b)
    };
    assert_eq!(
        call("GET", "/api/cameras", &hdr(&admin, None), b"").status,
        200
    );
    // A cookie write without the CSRF token is refused; with it, it reaches the handler.
    assert_eq!(
        call(
            "POST",
            "/emdx/api/v2/config/tripwire",
            &hdr(&admin, None),
            tripwire
        )
        .status,
        403
    );
    let with = call(
        "POST",
        "/emdx/api/v2/config/tripwire",
        &hdr(&admin, Some(&csrf)),
        tripwire,
    )
    .status;
    assert!(!matches!(with, 401 | 403), "{with}");
    // A viewer reads but may not write, even with its token.
    let r = login(srv.addr, local(), "vera", "viewer-pass-1");
    let viewer = cookie_of(&r);
    let vcsrf = json(&r)["csrf"].as_str().unwrap().to_string();
    assert_eq!(
        call("GET", "/api/cameras", &hdr(&viewer, None), b"").status,
        200
    );
    assert_eq!(
        call(
            "POST",
            "/emdx/api/v2/config/tripwire",
            &hdr(&viewer, Some(&vcsrf)),
            tripwire
        )
        .status,
        403
    );
    let me = json(&call("GET", "/api/auth/me", &hdr(&viewer, None), b""));
    assert_eq!(
        (me["role"].as_str(), me["can"]["operate"].as_bool()),
        (Some("viewer"), Some(false))
    );
    // Logout ends the session on the server: the same cookie is refused afterwards.
    assert_eq!(
        call("POST", "/api/auth/logout", &hdr(&viewer, Some(&vcsrf)), b"").status,
        204
    );
    assert_eq!(
        call("GET", "/api/cameras", &hdr(&viewer, None), b"").status,
        401
    );
    // A cross-site WebSocket is refused before the upgrade.
    let mut ws = hdr(&admin, None);
    ws.extend([
        ("Upgrade".into(), "websocket".into()),
        ("Origin".into(), "https://evil.example".into()),
    ]);
    assert_eq!(call("GET", "/api/cameras/x/live", &ws, b"").status, 403);
    // Secrets never leave: not in the log, not in /api/users.
    let users = call("GET", "/api/users", &hdr(&admin, None), b"");
    let text = String::from_utf8_lossy(&users.body);
    assert!(
        text.contains("vera") && !text.contains("argon2") && !text.contains("viewer-pass-1"),
        "{text}"
    );
    assert!(!srv.log_text().contains("viewer-pass-1"));
    drop(srv);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn login_brute_force_is_locked_out_per_address_and_audited() {
    let Some((shared, _)) = osprey_testkit::require_model_env(
        "login_brute_force_is_locked_out_per_address_and_audited",
    ) else {
        return;
    };
    let dir = tmpdir("brute");
    let db = dir.join("auth.sqlite");
    let cfg = dir.join("osprey.toml");
    std::fs::write(&cfg, "[security]\nmax_login_failures = 5\nlockout_s = 4\n").unwrap();
    add_user(&db, "admin", "admin", "the-right-password");
    let srv = start(&dir, &shared, &["--config", cfg.to_str().unwrap()]);
    let attacker = local();
    let other: IpAddr = "127.0.0.2".parse().unwrap();
    let mut statuses = Vec::new();
    for i in 0..20 {
        let r = login(srv.addr, attacker, "admin", &format!("guess-{i}"));
        if r.status == 429 {
            let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
            assert!((1..=4).contains(&retry), "Retry-After {retry}");
        }
        statuses.push(r.status);
    }
    println!("20 wrong passwords from {attacker}: {statuses:?}");
    assert_eq!(&statuses[..5], &[401; 5]);
    assert!(statuses[5..].iter().all(|s| *s == 429));
    // The right password is refused during the lock-out, a key guess too …
    assert_eq!(
        login(srv.addr, attacker, "admin", "the-right-password").status,
        429
    );
    assert_eq!(
        send(
            srv.addr,
            attacker,
            "GET",
            "/api/cameras",
            &[("X-API-Key", "osk_x_y")],
            b""
        )
        .status,
        429
    );
    // … while another address is unaffected.
    assert_eq!(login(srv.addr, other, "admin", "wrong").status, 401);
    assert_eq!(
        login(srv.addr, other, "admin", "the-right-password").status,
        200
    );
    std::thread::sleep(Duration::from_millis(4200));
    let ok = login(srv.addr, attacker, "admin", "the-right-password");
    assert_eq!(ok.status, 200, "after the lock-out");
    // Every attempt is in the audit log, with its address.
    let c = cookie_of(&ok);
    // The audit thread writes asynchronously: wait for the last login's entry.
    let t0 = std::time::Instant::now();
    let audit = loop {
        let a = json(&send(
            srv.addr,
            attacker,
            "GET",
            "/api/audit?limit=200",
            &[("Cookie", &c)],
            b"",
        ));
        let done = a["entries"].as_array().is_some_and(|e| {
            e.iter().any(|x| {
                x["source"] == "127.0.0.1" && x["status"] == 200 && x["route"] == "/api/auth/login"
            })
        });
        if done || t0.elapsed() > Duration::from_secs(10) {
            break a;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let entries = audit["entries"].as_array().unwrap();
    let from_attacker = |status: u64| {
        entries
            .iter()
            .filter(|e| {
                e["route"] == "/api/auth/login"
                    && e["source"] == "127.0.0.1"
                    && e["status"] == status
            })
            .count()
    };
    println!(
        "audit: {} entries; from 127.0.0.1: {} x 401, {} x 429, {} x 200",
        entries.len(),
        from_attacker(401),
        from_attacker(429),
        from_attacker(200)
    );
    assert_eq!(
        (from_attacker(401), from_attacker(429), from_attacker(200)),
        (5, 16, 1)
    );
    assert!(entries
        .iter()
        .any(|e| e["source"] == "127.0.0.2" && e["status"] == 200));
    assert!(entries
        .iter()
        .any(|e| e["detail"].as_str().unwrap_or("").contains("locked out")));
    drop(srv);
    let _ = std::fs::remove_dir_all(dir);
}

/// Bad security input is refused with one clear sentence each: `check-config` lists every
/// problem of `[security]` and `[[access]]`, a TLS pair that does not load stops `serve` with
/// the reason, the CLI refuses bad names, roles, short passwords and the last admin's removal,
/// and a config file holding a key that others can read is warned about.
#[test]
fn bad_security_input_gets_clear_errors() {
    let Some((shared, lib)) =
        osprey_testkit::require_model_env("bad_security_input_gets_clear_errors")
    else {
        return;
    };
    let dir = tmpdir("bad");
    let model = shared.join("models/yolo11n-320.onnx");
    let cfg = dir.join("osprey.toml");
    std::fs::write(
        &cfg,
        "api_key = \"s3cret\"\n[security]\ntrusted_proxies = [\"10.0.0.0/33\"]\nsession_hours = 0\ntls_cert = \"nope.pem\"\n\n[[access]]\ncidrs = [\"192.168.1.0/24\"]\nanonymous = [\"admin\"]\n\n[[access]]\ncidrs = []\n",
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let run = |args: &[&str], stdin: &str| {
        let mut c = Command::new(BIN)
            .args(args)
            .env("ORT_DYLIB_PATH", &lib)
            .env("OSPREY_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = c.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code(), text)
    };
    let (code, text) = run(
        &[
            "check-config",
            "--config",
            cfg.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(code, Some(1), "{text}");
    for want in [
        "security.trusted_proxies: \"10.0.0.0/33\" is not an address or CIDR network",
        "security.session_hours 0 must be in (0, 8760]",
        "TLS needs both tls_cert and tls_key",
        "access rule 1: anonymous may list detect, metrics or view, not admin",
        "access rule 2: cidrs is empty",
        "holds secrets but is readable by other users (mode 644)",
    ] {
        assert!(
            text.contains(want),
            "check-config does not say {want:?}:\n{text}"
        );
    }
    assert!(!text.contains("s3cret"), "the key is printed:\n{text}");
    assert!(text.contains("<redacted>"));

    // A certificate and a key that do not belong together, and a file that is no certificate.
    let (c1, _) = (dir.join("a.crt"), dir.join("a.key"));
    let made = |name: &str| {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(dir.join(format!("{name}.crt")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    };
    made("a");
    made("b");
    let serve = |cert: &Path, key: &Path| {
        run(
            &[
                "serve",
                "--model",
                model.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
                "--auth",
                "off",
                "--events-db",
                dir.join("e.sqlite").to_str().unwrap(),
                "--tls-cert",
                cert.to_str().unwrap(),
                "--tls-key",
                key.to_str().unwrap(),
            ],
            "",
        )
    };
    let (code, text) = serve(&c1, &dir.join("b.key"));
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("do not match"), "{text}");
    std::fs::write(dir.join("junk.crt"), "not a certificate").unwrap();
    let (code, text) = serve(&dir.join("junk.crt"), &dir.join("a.key"));
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("no PEM certificate"), "{text}");

    // The CLI.
    let db = dir.join("auth.sqlite");
    let db = db.to_str().unwrap();
    let cases: [(&[&str], &str, &str); 5] = [
        (
            &[
                "users",
                "add",
                "../x",
                "--role",
                "viewer",
                "--password-stdin",
                "--auth-db",
                db,
            ],
            "long-enough-pw\n",
            "must be 1-64 characters",
        ),
        (
            &[
                "users",
                "add",
                "bob",
                "--role",
                "root",
                "--password-stdin",
                "--auth-db",
                db,
            ],
            "long-enough-pw\n",
            "unknown role",
        ),
        (
            &[
                "users",
                "add",
                "bob",
                "--role",
                "admin",
                "--password-stdin",
                "--auth-db",
                db,
            ],
            "short\n",
            "8 to 1024 characters",
        ),
        (
            &[
                "keys",
                "create",
                "k",
                "--role",
                "detect",
                "--expires",
                "5y",
                "--auth-db",
                db,
            ],
            "",
            "the unit is d, h, m or s",
        ),
        (
            &["keys", "revoke", "osk_nothing", "--auth-db", db],
            "",
            "no key",
        ),
    ];
    for (args, stdin, want) in cases {
        let (code, text) = run(args, stdin);
        assert_ne!(code, Some(0), "{args:?}: {text}");
        assert!(
            text.contains(want),
            "{args:?} does not say {want:?}: {text}"
        );
    }
    let (code, _) = run(
        &[
            "users",
            "add",
            "root",
            "--role",
            "admin",
            "--password-stdin",
            "--auth-db",
            db,
        ],
        "long-enough-pw\n",
    );
    assert_eq!(code, Some(0));
    let (code, text) = run(&["users", "remove", "root", "--auth-db", db], "");
    assert_ne!(code, Some(0));
    assert!(text.contains("the last admin"), "{text}");
    let _ = std::fs::remove_dir_all(dir);
}
