//! Runs the real `osprey serve` binary on a free loopback port and talks raw HTTP/1.1 to it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running server; killed on drop.
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    /// Bound address.
    pub addr: SocketAddr,
    /// Everything the server logged so far.
    pub log: Arc<Mutex<String>>,
}

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (panics with the body text when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

impl Server {
    /// Starts `bin serve ARGS --listen 127.0.0.1:0` and waits until `/readyz` answers 200.
    pub fn start(bin: &str, args: &[&str], envs: &[(&str, &str)]) -> Server {
        Self::start_raw(
            bin,
            &[&["serve", "--listen", "127.0.0.1:0"], args].concat(),
            envs,
        )
    }

    /// Starts `bin ARGS` exactly as given (it must listen on 127.0.0.1:0 somehow) and waits for readiness.
    pub fn start_raw(bin: &str, args: &[&str], envs: &[(&str, &str)]) -> Server {
        Self::start_with(bin, args, envs, |s| {
            s.try_request(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .is_ok_and(|r| r.status == 200)
        })
    }

    /// [`Server::start_raw`] with the readiness check given (an HTTPS server needs a TLS client).
    pub fn start_with(
        bin: &str,
        args: &[&str],
        envs: &[(&str, &str)],
        ready: impl Fn(&Server) -> bool,
    ) -> Server {
        let mut cmd = Command::new(bin);
        // Tests of other features run without users (as `--auth off`); the security tests
        // pass `--auth on` or OSPREY_AUTH=on.
        cmd.args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env("OSPREY_LOG", "info")
            .env("OSPREY_AUTH", "off");
        if let Some(lib) = crate::ort_library() {
            cmd.env("ORT_DYLIB_PATH", lib);
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start osprey");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(addr) = line
                        .split("address=")
                        .nth(1)
                        .and_then(|a| a.split_whitespace().next())
                    {
                        if let Ok(a) = addr.parse::<SocketAddr>() {
                            let _ = tx.send(a);
                            sent = true;
                        }
                    }
                }
                if let Ok(mut l) = sink.lock() {
                    l.push_str(&line);
                    l.push('\n');
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "server did not report its address; log:\n{}",
                    log.lock().map(|l| l.clone()).unwrap_or_default()
                );
            }
        };
        let server = Server {
            child: Some(child),
            addr,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if ready(&server) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "server not ready in 60 s; log:\n{}",
                server.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Sends raw bytes on a new connection and reads one response.
    pub fn request(&self, raw: &[u8]) -> Response {
        self.try_request(raw)
            .unwrap_or_else(|e| panic!("request failed: {e}; log:\n{}", self.log_text()))
    }

    /// Like [`Server::request`], returning I/O errors.
    pub fn try_request(&self, raw: &[u8]) -> std::io::Result<Response> {
        let mut s = TcpStream::connect(self.addr)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        s.write_all(raw)?;
        if raw.starts_with(b"HEAD ") {
            read_head_response(&mut s)
        } else {
            read_response(&mut s)
        }
    }

    /// Sends raw bytes on a new connection, then shuts down the write side (`shutdown(SHUT_WR)`,
    /// as HTTP/1.0-style tools, `nc -N` and some camera firmwares do) and reads one response.
    pub fn try_request_half_closed(&self, raw: &[u8]) -> std::io::Result<Response> {
        let mut s = TcpStream::connect(self.addr)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        s.write_all(raw)?;
        // The server may have answered and closed already (an early 400 for bad headers):
        // then there is nothing left to shut down, and the answer is still there to read.
        let _ = s.shutdown(std::net::Shutdown::Write);
        if raw.starts_with(b"HEAD ") {
            read_head_response(&mut s)
        } else {
            read_response(&mut s)
        }
    }

    /// Sends SIGTERM and waits for the exit status (None: killed by a signal).
    pub fn terminate(mut self) -> Option<i32> {
        let child = self.child.as_mut()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                self.child = None;
                return st.code();
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process with SIGKILL (no clean-up, as a crash or the OOM killer would) and reaps it.
    pub fn kill9(mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Reads one response to a HEAD request (headers only, whatever Content-Length says).
pub fn read_head_response(s: &mut impl Read) -> std::io::Result<Response> {
    read_inner(s, false)
}

/// Reads one HTTP/1.1 response with a Content-Length body.
pub fn read_response(s: &mut impl Read) -> std::io::Result<Response> {
    read_inner(s, true)
}

fn read_inner(s: &mut impl Read, with_body: bool) -> std::io::Result<Response> {
    loop {
        let r = read_one(s, with_body)?;
        // Interim responses (100 Continue) precede the real one.
        if !(100..200).contains(&r.status) {
            return Ok(r);
        }
    }
}

fn read_one(s: &mut impl Read, with_body: bool) -> std::io::Result<Response> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed before a response",
            ));
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let mut body = vec![0u8; if with_body { len.unwrap_or(0) } else { 0 }];
    s.read_exact(&mut body)?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// A multipart body shaped like Frigate's: `api_key` field first, then `image` with
/// `filename="image"` and no part Content-Type.
pub fn frigate_body(boundary: &str, api_key: &str, image: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"api_key\"\r\n\r\n{api_key}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"image\"\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(image);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

/// A complete POST request with the given headers and body.
pub fn post(path: &str, extra_headers: &[(&str, &str)], body: &[u8], keep_alive: bool) -> Vec<u8> {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in extra_headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !keep_alive {
        req.push_str("Connection: close\r\n");
    }
    req.push_str("\r\n");
    let mut out = req.into_bytes();
    out.extend_from_slice(body);
    out
}

/// A multipart POST with `boundary`.
pub fn post_multipart(path: &str, boundary: &str, body: &[u8]) -> Vec<u8> {
    post(
        path,
        &[(
            "Content-Type",
            &format!("multipart/form-data; boundary={boundary}"),
        )],
        body,
        false,
    )
}
