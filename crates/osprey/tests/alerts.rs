//! Alerts and raw events end to end: `osprey serve` with video/pedestrians.mp4 as a file camera
//! (every frame detected), line A and ROI R plus alert rules in the TOML file, a webhook
//! receiver on loopback and a real redis-server. The alerts and events read back from
//! `/emdx/api/v2/alerts…` and `/emdx/api/v2/events…` agree with the Prometheus counters, the
//! webhook deliveries and the Redis events stream; alert rules are set, refused, read and
//! deleted through `/emdx/api/v2/config/rule/alerts/…` and survive a restart.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use osprey_testkit::daemons;
use osprey_testkit::server::{Response, Server};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_osprey");

fn get(s: &Server, path: &str) -> Response {
    s.request(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
}

fn send(s: &Server, method: &str, path: &str, body: &str) -> Response {
    s.request(
        format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nUser-Type: Admin\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

fn series(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name_and_labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// A webhook receiver answering 200 to every POST; returns its URL and the bodies received.
fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    std::thread::spawn(move || {
        for conn in l.incoming().take(2_000) {
            let Ok(mut c) = conn else { continue };
            let mut r = BufReader::new(c.try_clone().unwrap());
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            if r.read_exact(&mut body).is_ok() {
                if let Ok(v) = serde_json::from_slice(&body) {
                    s.lock().unwrap().push(v);
                }
            }
            let _ = c.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
        }
    });
    (url, seen)
}

fn wait_for(what: &str, s: &Server, within: Duration, mut done: impl FnMut() -> bool) {
    let t = Instant::now();
    while !done() {
        assert!(t.elapsed() < within, "timed out: {what}\n{}", s.log_text());
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn alerts_and_events_reach_the_api_prometheus_webhooks_and_redis() {
    let Some((shared, _)) = osprey_testkit::require_model_env("alerts end to end") else {
        return;
    };
    if !osprey_testkit::net::require_tool("alerts end to end", "redis-server", "redis-server") {
        return;
    }
    let redis = daemons::redis();
    let (hook, delivered) = receiver();
    let dir = std::env::temp_dir().join(format!("osprey-alerts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let toml = dir.join("osprey.toml");
    std::fs::write(
        &toml,
        format!(
            r#"
[models]
model = "{model}"

[store]
events_db = "{db}"

[redis]
url = "redis://127.0.0.1:{redis}"
stream = "frames:{{camera}}"
events_stream = "analytics:{{camera}}"

[[webhooks]]
url = "{hook}"

[[cameras]]
id = "walk"
url = "{clip}"
loop = false
realtime = false
labels = ["person"]

[analytics.walk]
tripwires = [{{ id = "A", wire = [{{ x = 366, y = 288 }}, {{ x = 330, y = 108 }}], direction = {{ p1 = {{ x = 330, y = 200 }}, p2 = {{ x = 370, y = 200 }}, entry = {{ name = "east" }} }} }}]
rois = [{{ id = "R", coordinates = [{{ x = 204, y = 126 }}, {{ x = 294, y = 117 }}, {{ x = 330, y = 162 }}, {{ x = 312, y = 216 }}, {{ x = 216, y = 207 }}], entry_inertia = 0, exit_inertia = 0 }}]

[analytics.walk.alerts]
tripwire = [{{ id = "each-crossing", ruleType = "increment", tripwireId = "A" }}]
roi = [{{ id = "lamp", ruleType = "occupancy_switch", roiId = "R", timeInterval = 0.3 }}]
fov = [{{ id = "crowd", ruleType = "occupancy_threshold", countThreshold = 5, timeInterval = 0.5 }}]
"#,
            model = shared.join("models/yolo11n-320.onnx").display(),
            db = dir.join("events.sqlite").display(),
            redis = redis.port,
            clip = shared.join("video/pedestrians.mp4").display(),
        ),
    )
    .unwrap();
    let s = Server::start(BIN, &["--config", toml.to_str().unwrap()], &[]);
    let started = Instant::now();
    wait_for("the clip to finish", &s, Duration::from_secs(240), || {
        let st = get(&s, "/api/cameras/walk").json();
        st["state"] == "ended" && st["frames"]["detected"] == 300
    });
    let text = String::from_utf8(get(&s, "/metrics").body).unwrap();
    let crossings: f64 = ["in", "out"]
        .iter()
        .map(|d| series(&text, &format!("osprey_tripwire_crossings_total{{camera=\"walk\",direction=\"{d}\",label=\"person\",tripwire=\"A\"}}")))
        .sum();
    let entries = series(
        &text,
        "osprey_roi_events_total{camera=\"walk\",kind=\"enter\",label=\"person\",roi=\"R\"}",
    );
    assert!(crossings > 0.0 && entries > 0.0, "{text}");
    let raised = |rule: &str, kind: &str, t: &str| {
        series(&text, &format!("osprey_alerts_total{{camera=\"walk\",kind=\"{kind}\",rule=\"{rule}\",rule_type=\"{t}\"}}"))
    };
    let from =
        osprey_base::rfc3339(osprey_base::unix_now() - started.elapsed().as_secs_f64() - 5.0);
    let range = format!("sensorId=walk&fromTimestamp={from}&limit=10000");

    // Raw events: one per crossing and per ROI entry, as Prometheus counted them (committed by
    // the store within its 1 s interval).
    let events = || {
        get(
            &s,
            &format!("/emdx/api/v2/events/tripwire?{range}&tripwireId=A"),
        )
        .json()["events"]
            .as_array()
            .unwrap()
            .clone()
    };
    let ended = || {
        let a = get(&s, &format!("/emdx/api/v2/alerts/fov?{range}")).json();
        let a = a["alerts"].as_array().unwrap().clone();
        let done = !a.is_empty() && a.iter().all(|a| a["active"] == false);
        if !done {
            eprintln!("FOV alerts not ended yet: {a:?}");
        }
        done
    };
    wait_for("the store to commit", &s, Duration::from_secs(10), || {
        let n = events().len();
        if n as f64 != crossings {
            eprintln!("{n} crossing events stored, {crossings} counted");
        }
        n as f64 == crossings && ended()
    });
    let ev = events();
    assert_eq!(ev.len() as f64, crossings, "{ev:?}");
    assert!(ev.iter().all(|e| e["object"]["type"] == "Person"));
    let east = ev.iter().filter(|e| e["type"] == "IN").count();
    assert!(ev
        .iter()
        .filter(|e| e["type"] == "IN")
        .all(|e| e["directionName"] == "east"));
    let roi_ev = get(&s, &format!("/emdx/api/v2/events/roi?{range}&roiId=R")).json();
    let roi_ev = roi_ev["events"].as_array().unwrap().clone();
    let roi_entries = roi_ev.iter().filter(|e| e["type"] == "ENTRY").count();
    assert_eq!(roi_entries as f64, entries);
    assert!(roi_ev
        .iter()
        .filter(|e| e["type"] == "EXIT")
        .all(|e| e["dwellTimeInSec"].as_f64().is_some()));

    // Alerts: one increment alert per crossing frame (counts add up to the crossings).
    let trip = get(&s, &format!("/emdx/api/v2/alerts/tripwire?{range}")).json();
    let trip = trip["alerts"].as_array().unwrap().clone();
    let counted: u64 = trip.iter().map(|a| a["count"].as_u64().unwrap()).sum();
    assert_eq!(counted as f64, crossings, "{trip:?}");
    assert_eq!(
        trip.len() as f64,
        raised("each-crossing", "tripwire", "increment")
    );
    assert!(trip.iter().all(|a| a["ruleId"] == "each-crossing"
        && a["tripwireId"] == "A"
        && a["startTimestamp"].as_str().unwrap().ends_with('Z')));
    // The ROI switches: occupied first, then alternating.
    let lamp = get(&s, &format!("/emdx/api/v2/alerts/roi?{range}")).json();
    let mut lamp = lamp["alerts"].as_array().unwrap().clone();
    lamp.reverse();
    assert!(!lamp.is_empty());
    for (i, a) in lamp.iter().enumerate() {
        let want = if i % 2 == 0 { "occupied" } else { "vacant" };
        assert_eq!(a["direction"], want, "{lamp:?}");
    }
    // The crowd rule (≥ 5 people for 0.5 s) started and, at the end of the clip, ended.
    let crowd = get(&s, &format!("/emdx/api/v2/alerts/fov?{range}")).json();
    let crowd = crowd["alerts"].as_array().unwrap().clone();
    assert!(
        !crowd.is_empty(),
        "the reference has up to 9 people in view"
    );
    assert!(crowd
        .iter()
        .all(|a| a["active"] == false && a["count"].as_u64().unwrap() >= 5));
    let all = get(&s, &format!("/emdx/api/v2/alerts?{range}")).json();
    let all = all["alerts"].as_array().unwrap().len();
    assert_eq!(all, trip.len() + lamp.len() + crowd.len());
    assert_eq!(
        get(&s, &format!("/emdx/api/v2/alerts/nope?{range}")).status,
        404
    );
    assert_eq!(
        get(&s, &format!("/emdx/api/v2/alerts?{range}&limit=0")).status,
        400
    );
    eprintln!(
        "alerts: {} crossings in {} increment alerts, {} ROI switches, {} crowd alerts; {} events IN ({east} named east), {} ROI entries",
        crossings, trip.len(), lamp.len(), crowd.len(), ev.len(), roi_entries
    );

    // Every event and alert went to the webhook (a lasting alert twice: start and end) and to
    // the Redis events stream.
    let expected = ev.len() + roi_ev.len() + trip.len() + lamp.len() + 2 * crowd.len();
    wait_for("webhook deliveries", &s, Duration::from_secs(20), || {
        delivered.lock().unwrap().len() >= expected
    });
    let d = delivered.lock().unwrap().clone();
    assert_eq!(d.len(), expected);
    let kinds = |t: &str| d.iter().filter(|v| v["type"] == t).count();
    assert_eq!(kinds("crossing"), ev.len());
    assert_eq!(kinds("alert"), trip.len() + lamp.len() + 2 * crowd.len());
    let mut con = redis::Client::open(format!("redis://127.0.0.1:{}", redis.port))
        .unwrap()
        .get_connection()
        .unwrap();
    let mut entries: Vec<(String, Vec<String>)> = Vec::new();
    wait_for(
        "the Redis events stream",
        &s,
        Duration::from_secs(20),
        || {
            entries = redis::cmd("XRANGE")
                .arg("analytics:walk")
                .arg("-")
                .arg("+")
                .query(&mut con)
                .unwrap();
            entries.len() >= expected
        },
    );
    assert_eq!(entries.len(), expected);
    assert!(entries.iter().all(|(_, f)| f[0] == "event"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn alert_rules_are_set_refused_read_deleted_and_kept_across_a_restart() {
    let Some((shared, _)) = osprey_testkit::require_model_env("alert rule API") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("osprey-alert-rules-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let model = shared.join("models/yolo11n-320.onnx").display().to_string();
    let camera = format!("walk={}", shared.join("video/pedestrians.mp4").display());
    let db = dir.join("events.sqlite").display().to_string();
    let args = ["--model", &model, "--camera", &camera, "--events-db", &db];
    let s = Server::start(BIN, &args, &[]);
    let q = "/emdx/api/v2/config/rule/alerts/tripwire?sensorId=walk";
    assert_eq!(get(&s, q).status, 422, "none yet");
    let rule = r#"{"sensorId":"walk","rules":[{"id":"busy","ruleType":"flowrate","tripwireId":"A","direction":"entry","countThreshold":3,"timeInterval":10.0}]}"#;
    let r = send(&s, "POST", q, rule);
    assert_eq!(r.status, 400, "no tripwire A yet");
    assert!(String::from_utf8_lossy(&r.body).contains("alerts.tripwire[0].tripwireId"));
    let wire = r#"{"sensorId":"walk","tripwires":[{"id":"A","wire":[{"x":366,"y":288},{"x":330,"y":108}],"direction":{"p1":{"x":330,"y":200},"p2":{"x":370,"y":200}}}]}"#;
    assert_eq!(
        send(
            &s,
            "POST",
            "/emdx/api/v2/config/tripwire?sensorId=walk",
            wire
        )
        .status,
        200
    );
    assert_eq!(send(&s, "POST", q, rule).status, 200);
    let posted: Value = serde_json::from_str(rule).unwrap();
    assert_eq!(
        get(&s, q).json()["rules"],
        posted["rules"],
        "read back as written"
    );
    let wrong = r#"{"rules":[{"id":"x","ruleType":"loitering","tripwireId":"A"}]}"#;
    let r = send(&s, "POST", q, wrong);
    assert_eq!(r.status, 400);
    assert!(
        String::from_utf8_lossy(&r.body).contains("ruleType"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let fov = "/emdx/api/v2/config/rule/alerts/fov?sensorId=walk";
    let crowd = r#"{"rules":[{"id":"crowd","ruleType":"occupancy_threshold","countThreshold":4}]}"#;
    assert_eq!(send(&s, "POST", fov, crowd).status, 200);
    assert_eq!(
        send(
            &s,
            "POST",
            "/emdx/api/v2/config/rule/alerts/door?sensorId=walk",
            crowd
        )
        .status,
        404
    );
    assert_eq!(
        send(&s, "POST", &format!("{fov}&bogus=1"), crowd).status,
        400
    );
    s.terminate();

    // After a restart the rules are there; deleting the tripwire deletes its alert rule.
    let s = Server::start(BIN, &args, &[]);
    assert_eq!(
        get(&s, q).json()["rules"],
        posted["rules"],
        "kept across a restart"
    );
    assert_eq!(get(&s, fov).json()["rules"][0]["id"], "crowd");
    assert_eq!(
        send(
            &s,
            "DELETE",
            "/emdx/api/v2/config/tripwire?sensorId=walk&tripwireId=A",
            ""
        )
        .status,
        200
    );
    assert_eq!(get(&s, q).status, 422, "went with its tripwire");
    assert_eq!(
        send(&s, "DELETE", &format!("{fov}&ruleId=nope"), "").status,
        404
    );
    assert_eq!(
        send(&s, "DELETE", &format!("{fov}&ruleId=crowd"), "").status,
        200
    );
    assert_eq!(get(&s, fov).status, 422);
    let _ = std::fs::remove_dir_all(dir);
}
