//! Webhooks against a real HTTP server on loopback: retries with backoff after 5xx, final
//! failure on 4xx, drops counted when the queue is full.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use osprey_sinks::webhook::{WebhookSpec, Webhooks};

fn counters() -> prometheus::IntCounterVec {
    prometheus::IntCounterVec::new(prometheus::Opts::new("x", "x"), &["sink", "outcome"])
        .expect("counters")
}

fn count(c: &prometheus::IntCounterVec, outcome: &str) -> u64 {
    c.with_label_values(&["webhook", outcome]).get()
}

/// A server answering each request with the next status of `statuses` (then 200), recording
/// bodies and the Authorization header; it waits `delay` before each answer.
/// Bodies and Authorization headers a test server received.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

fn server(statuses: Vec<u16>, delay: Duration) -> (String, Seen) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", l.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    std::thread::spawn(move || {
        let mut statuses = statuses.into_iter();
        for conn in l.incoming().take(64) {
            let Ok(mut c) = conn else { continue };
            let mut r = BufReader::new(c.try_clone().expect("clone"));
            let (mut len, mut auth) = (0usize, String::new());
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("authorization:") {
                    auth = line["authorization:".len()..].trim().to_string();
                }
            }
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            s.lock()
                .expect("lock")
                .push((String::from_utf8_lossy(&body).to_string(), auth));
            std::thread::sleep(delay);
            let code = statuses.next().unwrap_or(200);
            let _ = write!(
                c,
                "HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (url, seen)
}

fn spec(url: &str, extra: &str) -> WebhookSpec {
    serde_json::from_str(&format!(r#"{{"url": "{url}" {extra}}}"#)).expect("spec")
}

fn wait_for(what: &str, f: impl Fn() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(20), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn retries_after_server_errors_then_delivers_in_order() {
    let (url, seen) = server(vec![503, 500], Duration::ZERO);
    let c = counters();
    let mut s = spec(&url, "");
    s.headers
        .insert("Authorization".into(), "Bearer t0k".into());
    let hooks = Webhooks::start(&[s], c.clone()).expect("start");
    let started = Instant::now();
    hooks.send("door", "alert", r#"{"n":1}"#);
    hooks.send("door", "crossing", r#"{"n":2}"#);
    wait_for("two deliveries", || count(&c, "sent") == 2);
    let seen = seen.lock().expect("lock").clone();
    let bodies: Vec<&str> = seen.iter().map(|(b, _)| b.as_str()).collect();
    assert_eq!(
        bodies,
        [r#"{"n":1}"#, r#"{"n":1}"#, r#"{"n":1}"#, r#"{"n":2}"#]
    );
    assert!(seen.iter().all(|(_, a)| a == "Bearer t0k"), "{seen:?}");
    assert_eq!((count(&c, "retried"), count(&c, "failed")), (2, 0));
    // Two retries wait 0.5 s then 1 s.
    assert!(started.elapsed() >= Duration::from_millis(1_500));
}

#[test]
fn client_errors_are_final_and_attempts_are_bounded() {
    let (url, seen) = server(vec![400, 500, 500], Duration::ZERO);
    let c = counters();
    let hooks = Webhooks::start(&[spec(&url, r#", "max_attempts": 2"#)], c.clone()).expect("start");
    hooks.send("door", "alert", "{}");
    hooks.send("door", "alert", "{}");
    wait_for("both given up", || count(&c, "failed") == 2);
    assert_eq!(
        seen.lock().expect("lock").len(),
        3,
        "400 once, then 500 twice"
    );
    assert_eq!(count(&c, "sent"), 0);
}

#[test]
fn a_slow_endpoint_fills_the_queue_and_drops_are_counted() {
    let (url, seen) = server(vec![], Duration::from_millis(300));
    let c = counters();
    let hooks = Webhooks::start(
        &[spec(
            &url,
            r#", "queue": 2, "events": ["alert"], "cameras": ["door"]"#,
        )],
        c.clone(),
    )
    .expect("start");
    // Not wanted: another camera, another kind.
    hooks.send("yard", "alert", "{}");
    hooks.send("door", "crossing", "{}");
    for i in 0..10 {
        hooks.send("door", "alert", &format!("{{\"i\":{i}}}"));
    }
    wait_for("the queue drained", || {
        count(&c, "sent") + count(&c, "dropped") == 10 && count(&c, "sent") >= 2
    });
    let sent = count(&c, "sent");
    assert!(
        (2..=3).contains(&sent),
        "one in flight + a queue of 2: {sent}"
    );
    assert_eq!(seen.lock().expect("lock").len() as u64, sent);
}
