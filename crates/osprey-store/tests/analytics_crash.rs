//! A real crash: a child process (this test binary, switched by an environment variable) writes
//! crossings with a running totals snapshot in a loop and is killed with SIGKILL; the parent
//! reopens the file and checks that the totals agree exactly with the stored events and that at
//! most about one commit interval was lost.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use osprey_store::{AnalyticsConfig, Direction, EventKind};

const CHILD_ENV: &str = "OSPREY_ANALYTICS_CRASH_DB";
const INTERVAL_MS: u64 = 500;

fn now_ms() -> i64 {
    (osprey_base::unix_now() * 1000.0) as i64
}

/// The child's loop (a no-op unless the environment variable names a database).
#[test]
fn crash_child_writer() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let cfg = AnalyticsConfig {
        commit_interval: Duration::from_millis(INTERVAL_MS),
        ..AnalyticsConfig::default()
    };
    let s = open(std::path::Path::new(&path), cfg);
    let (mut ins, mut outs) = (0u64, 0u64);
    for i in 0u64.. {
        let ts = now_ms();
        let d = if i % 3 == 2 {
            Direction::Out
        } else {
            Direction::In
        };
        match d {
            Direction::In => ins += 1,
            Direction::Out => outs += 1,
        }
        let json = format!(r#"{{"in":{ins},"out":{outs}}}"#);
        s.push(vec![
            crossing("cam", "door", ts, i % 7, "person", d),
            occupancy("cam", "fov", ts, &[("person", 1)]),
            totals("cam", ts, &json),
        ]);
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn sigkill_loses_at_most_one_interval_and_never_splits_totals() {
    let d = dir("crash");
    let path = d.join("a.sqlite");
    let mut child = Command::new(std::env::current_exe().expect("exe"))
        .args(["--exact", "crash_child_writer", "--test-threads=1"])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    // Wait for the first commit, then let it run across a few more.
    let t = Instant::now();
    while !path.exists()
        || rusqlite::Connection::open(&path)
            .and_then(|c| c.query_row("SELECT count(*) FROM totals", [], |r| r.get::<_, i64>(0)))
            .unwrap_or(0)
            == 0
    {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "child never committed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1_700));
    let killed_at = now_ms();
    child.kill().expect("SIGKILL");
    let _ = child.wait();

    let s = open(&path, fast());
    let snap = s.load_totals("cam").expect("load").expect("a snapshot");
    let v: serde_json::Value = serde_json::from_str(&snap.json).expect("json");
    let counts = s
        .tripwire_counts("cam", Some("door"), i64::MIN, i64::MAX, None)
        .expect("counts");
    let actual = counts["door"]["person"].actual;
    assert_eq!(
        (v["in"].as_u64(), v["out"].as_u64()),
        (Some(actual.in_), Some(actual.out)),
        "totals {} vs stored events {actual:?}",
        snap.json
    );
    assert!(actual.in_ + actual.out > 50, "too few events: {actual:?}");
    let last = s
        .events(EventKind::Tripwire, "cam", 0, i64::MAX, 1)
        .expect("events");
    let last_ts = match &last[..] {
        [osprey_store::AnalyticsRecord::Crossing(c)] => c.ts_ms,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        last_ts, snap.ts_ms,
        "snapshot and last event from one batch"
    );
    // Lost at most the open interval (plus scheduling slack on a loaded machine).
    let lost_ms = killed_at - last_ts;
    assert!(
        lost_ms <= INTERVAL_MS as i64 + 1_000,
        "last committed record {lost_ms} ms before the kill"
    );
    let _ = std::fs::remove_dir_all(&d);
}
