//! Loopback helpers for tests that start real servers (line-protocol targets, Prometheus).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// A loopback port free right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free loopback port: {e}"))
}

/// `GET path` over HTTP/1.0 (no chunked replies) on 127.0.0.1:port: (status, body).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split_whitespace().nth(1)?.parse().ok()?;
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn urlencode(s: &str) -> String {
    const RESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, RESERVED).to_string()
}

/// Whether `tool` is on PATH; when not, prints the loud skip message for `test`.
pub fn require_tool(test: &str, tool: &str, package: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()));
    if !found {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("\n*** SKIPPED {test}: {tool} is not installed (make test installs {package} with apt). ***\n");
        }
    }
    found
}

#[cfg(test)]
mod tests {
    #[test]
    fn urlencode_keeps_only_unreserved_characters() {
        assert_eq!(
            super::urlencode("up{job=\"x\"} a/b~_.-é"),
            "up%7Bjob%3D%22x%22%7D%20a%2Fb~_.-%C3%A9"
        );
    }
}
