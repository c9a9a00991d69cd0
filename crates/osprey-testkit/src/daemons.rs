//! Real servers for tests, started on loopback ports and killed on drop: the RTSP server script
//! (GStreamer), redis-server, mosquitto here; any other ([`Daemon::spawn`], [`wait_http`]).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed (SIGKILL) and reaped on drop.
#[derive(Debug)]
pub struct Daemon {
    child: Option<Child>,
    /// Its loopback port.
    pub port: u16,
    _dir: Option<std::path::PathBuf>,
}

impl Daemon {
    /// Starts `cmd` (output discarded) as the daemon listening on `port`; `dir` is removed
    /// with it.
    pub fn spawn(
        cmd: &mut Command,
        port: u16,
        dir: Option<std::path::PathBuf>,
    ) -> std::io::Result<Daemon> {
        let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
        Ok(Daemon {
            child: Some(child),
            port,
            _dir: dir,
        })
    }

    /// Kills it now (SIGKILL), as a crash or power cut would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// Sends a signal by name (`STOP`, `CONT`, ...); nothing once killed (pid 0 would signal
    /// the whole process group).
    pub fn signal(&self, sig: &str) {
        if self.child.is_none() {
            return;
        }
        let _ = Command::new("kill")
            .args([format!("-{sig}"), self.pid().to_string()])
            .status();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.signal("CONT");
        self.kill();
        if let Some(d) = &self._dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Whether `GET path` on the loopback `port` answers `status` within `within`.
pub fn wait_http(port: u16, path: &str, status: u16, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if crate::net::http_get(port, path).is_some_and(|(s, _)| s == status) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn wait_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {port} in 20 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `tools/rtsp-server.py` serving `file` at rtsp://127.0.0.1:PORT/stream (`port` 0: a free one).
pub fn rtsp_server(file: &Path, port: u16, loops: u32, auth: Option<&str>) -> Daemon {
    let port = if port == 0 {
        crate::net::free_port()
    } else {
        port
    };
    let script = crate::workspace_root().join("tools/rtsp-server.py");
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg(script)
        .args(["--port", &port.to_string(), "--loops", &loops.to_string()])
        .arg("--file")
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(a) = auth {
        cmd.args(["--auth", a]);
    }
    let mut child = cmd.spawn().expect("start tools/rtsp-server.py");
    let out = child.stdout.take().expect("stdout");
    let mut line = String::new();
    let _ = BufReader::new(out).read_line(&mut line);
    assert!(
        line.starts_with("READY"),
        "RTSP server did not start: {line:?}"
    );
    wait_port(port, "the RTSP server");
    Daemon {
        child: Some(child),
        port,
        _dir: None,
    }
}

/// redis-server without persistence on a free port.
pub fn redis() -> Daemon {
    let port = crate::net::free_port();
    let redis = Daemon::spawn(
        Command::new("redis-server").args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]),
        port,
        None,
    )
    .expect("start redis-server");
    wait_port(port, "redis-server");
    redis
}

/// mosquitto (anonymous, loopback only) on a free port.
pub fn mosquitto() -> Daemon {
    let port = crate::net::free_port();
    let dir = std::env::temp_dir().join(format!("osprey-mosquitto-{port}"));
    std::fs::create_dir_all(&dir).expect("dir");
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
    )
    .expect("conf");
    let mosquitto = Daemon::spawn(
        Command::new("mosquitto").arg("-c").arg(&conf),
        port,
        Some(dir),
    )
    .expect("start mosquitto");
    wait_port(port, "mosquitto");
    mosquitto
}

/// Whether the RTSP test server can run: GStreamer's RTSP server for Python and ffmpeg/ffprobe
/// (loud skip message when not).
pub fn require_rtsp_tools(test: &str) -> bool {
    let gst = Command::new("/usr/bin/python3")
        .args(["-c", "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !gst {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("\n*** SKIPPED {test}: GStreamer's RTSP server for Python is not installed (make test installs gir1.2-gst-rtsp-server-1.0 and the GStreamer plugins with apt). ***\n");
        }
        return false;
    }
    crate::net::require_tool(test, "ffmpeg", "ffmpeg")
}

/// Whether the camera test tools are installed: the RTSP server, redis-server, mosquitto
/// (loud skip message when not).
pub fn require_camera_tools(test: &str) -> bool {
    require_rtsp_tools(test)
        && crate::net::require_tool(test, "redis-server", "redis-server")
        && crate::net::require_tool(test, "mosquitto", "mosquitto")
}
