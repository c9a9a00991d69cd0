//! The analytics store on real SQLite files: counts, histograms, persistence, retention,
//! bounded queue.

mod common;

use std::time::{Duration, Instant};

use common::*;
use osprey_base::{ErrorKind, Kinded};
use osprey_store::{
    AlertRow, AnalyticsConfig, AnalyticsRecord, AnalyticsStore, BucketSpec, CrossingCounts,
    Direction::{In, Out},
    EventKind, InOut, OccupancyStat, RoiKind, RoiTransition,
};

fn io(in_: u64, out: u64) -> InOut {
    InOut { in_, out }
}

fn cc(actual: InOut, effective: InOut) -> CrossingCounts {
    CrossingCounts { actual, effective }
}

/// Object 1 (person): IN, OUT, IN; object 2 (person): IN, OUT; object 3 (car): OUT; plus noise
/// on another tripwire and another camera.
fn crossings_fixture(s: &AnalyticsStore) {
    s.push(vec![
        crossing("cam", "door", T0 + 1_000, 1, "person", In),
        crossing("cam", "door", T0 + 2_000, 1, "person", Out),
        crossing("cam", "door", T0 + 3_000, 2, "person", In),
        crossing("cam", "door", T0 + 4_000, 2, "person", Out),
        crossing("cam", "door", T0 + 7_000, 1, "person", In),
        crossing("cam", "door", T0 + 8_000, 3, "car", Out),
        crossing("cam", "gate", T0 + 1_500, 4, "person", In),
        crossing("other", "door", T0 + 1_000, 9, "person", In),
        totals("cam", T0 + 8_000, r#"{"tripwires":{}}"#),
    ]);
    s.flush().expect("flush");
}

#[test]
fn effective_and_actual_counts() {
    let d = dir("counts");
    let s = open(&d.join("a.sqlite"), fast());
    crossings_fixture(&s);
    let all = s
        .tripwire_counts("cam", None, T0, T0 + 60_000, None)
        .expect("counts");
    assert_eq!(all.keys().collect::<Vec<_>>(), ["door", "gate"]);
    let door = &all["door"];
    // Object 1: actual IN 2 OUT 1, effective IN 1; object 2: effective nothing.
    assert_eq!(door["person"], cc(io(3, 2), io(1, 0)));
    assert_eq!(door["car"], cc(io(0, 1), io(0, 1)));
    assert_eq!(all["gate"]["person"], cc(io(1, 0), io(1, 0)));

    // Per-label filter: only the requested labels, zeros included.
    let labels = strings(&["car", "bicycle"]);
    let f = s
        .tripwire_counts("cam", Some("door"), T0, T0 + 60_000, Some(&labels))
        .expect("filtered");
    assert_eq!(f.len(), 1);
    assert_eq!(f["door"].keys().collect::<Vec<_>>(), ["bicycle", "car"]);
    assert_eq!(f["door"]["bicycle"], CrossingCounts::default());
    assert_eq!(f["door"]["car"], cc(io(0, 1), io(0, 1)));

    // The range cuts object 1's last IN off: then it is IN 1 OUT 1, effective nothing.
    let early = s
        .tripwire_counts("cam", Some("door"), T0, T0 + 5_000, None)
        .expect("early");
    assert_eq!(early["door"]["person"], cc(io(2, 2), io(0, 0)));
    // A tripwire without crossings is still reported when named.
    let none = s
        .tripwire_counts("cam", Some("nowhere"), T0, T0 + 5_000, None)
        .expect("none");
    assert!(none["nowhere"].is_empty());
    let e = s
        .tripwire_counts("cam", None, T0, T0, None)
        .expect_err("empty range");
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn tripwire_histogram_counts_per_bucket() {
    let d = dir("trip-hist");
    let s = open(&d.join("a.sqlite"), fast());
    crossings_fixture(&s);
    // From 10:00:00.500 to 10:00:17 in 5 s buckets: [0.5, 5) [5, 10) [10, 15) [15, 17).
    let h = s
        .tripwire_histogram(
            "cam",
            "door",
            T0 + 500,
            T0 + 17_000,
            BucketSpec::SizeSeconds(5),
            None,
        )
        .expect("hist");
    let ranges: Vec<_> = h.iter().map(|b| (b.start_ms - T0, b.end_ms - T0)).collect();
    assert_eq!(
        ranges,
        [
            (500, 5_000),
            (5_000, 10_000),
            (10_000, 15_000),
            (15_000, 17_000)
        ]
    );
    // Bucket 0: objects 1 and 2 each IN then OUT: effective nothing.
    assert_eq!(h[0].by_label["person"], cc(io(2, 2), io(0, 0)));
    assert_eq!(h[0].by_label["car"], CrossingCounts::default());
    // Bucket 1: object 1's second IN counts on its own there.
    assert_eq!(h[1].by_label["person"], cc(io(1, 0), io(1, 0)));
    assert_eq!(h[1].by_label["car"], cc(io(0, 1), io(0, 1)));
    // Empty buckets are present with zero counts for every label seen.
    for b in &h[2..] {
        assert_eq!(b.by_label.len(), 2);
        assert!(b.by_label.values().all(|c| *c == CrossingCounts::default()));
    }
    let only = strings(&["car"]);
    let h = s
        .tripwire_histogram(
            "cam",
            "door",
            T0,
            T0 + 10_000,
            BucketSpec::SizeSeconds(5),
            Some(&only),
        )
        .expect("filtered");
    assert_eq!(h[0].by_label.keys().collect::<Vec<_>>(), ["car"]);
    assert_eq!(h[1].by_label["car"], cc(io(0, 1), io(0, 1)));
    let e = s
        .tripwire_histogram("cam", "door", T0, T0 + 1, BucketSpec::Count(0), None)
        .expect_err("count 0");
    assert!(e.to_string().contains("bucketCount"), "{e}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn occupancy_averages_weigh_every_frame() {
    let d = dir("occupancy");
    let s = open(&d.join("a.sqlite"), fast());
    let mut recs = Vec::new();
    // Second 0: four frames with one person each. Second 1: one frame with 6 people and a car.
    for i in 0..4 {
        recs.push(occupancy("cam", "fov", T0 + i * 250, &[("person", 1)]));
    }
    recs.push(occupancy(
        "cam",
        "fov",
        T0 + 1_500,
        &[("person", 6), ("car", 1)],
    ));
    // Second 4: two frames (3, then 0 people); second 6: one frame, nobody.
    recs.push(occupancy("cam", "fov", T0 + 4_100, &[("person", 3)]));
    recs.push(occupancy("cam", "fov", T0 + 4_600, &[]));
    recs.push(occupancy("cam", "fov", T0 + 6_000, &[]));
    recs.push(occupancy("cam", "zone-a", T0 + 100, &[("person", 9)]));
    s.push(recs);
    s.flush().expect("flush");
    let h = s
        .occupancy_histogram(
            "cam",
            "fov",
            T0,
            T0 + 8_000,
            BucketSpec::SizeSeconds(2),
            None,
        )
        .expect("hist");
    assert_eq!(h.len(), 4);
    let stat = |average, max| OccupancyStat { average, max };
    // Bucket 0: 5 frames, 10 people-frames: mean 2 (per-second means would give 3.5).
    assert_eq!(h[0].frames, 5);
    assert_eq!(h[0].by_label["person"], stat(2, 6));
    assert_eq!(h[0].by_label["car"], stat(0, 1)); // 1/5 rounds to 0
    assert_eq!(h[0].total, stat(2, 7)); // 11/5 = 2.2
                                        // Bucket 1: empty.
    assert_eq!(h[1].frames, 0);
    assert_eq!(h[1].by_label["person"], stat(0, 0));
    // Bucket 2: frames of 3 and 0 people: 1.5 rounds half away from zero to 2.
    assert_eq!(h[2].frames, 2);
    assert_eq!(h[2].by_label["person"], stat(2, 3));
    assert_eq!(h[2].by_label["car"], stat(0, 0));
    // Bucket 3: one empty frame.
    assert_eq!((h[3].frames, h[3].total), (1, stat(0, 0)));
    // An ROI is its own series.
    let z = s
        .occupancy_histogram("cam", "zone-a", T0, T0 + 8_000, BucketSpec::Count(1), None)
        .expect("zone");
    assert_eq!(z.len(), 1);
    assert_eq!(z[0].by_label["person"], stat(9, 9));
    // A range starting mid-second takes that whole second into its first bucket.
    let only = strings(&["person"]);
    let mid = s
        .occupancy_histogram(
            "cam",
            "fov",
            T0 + 1_200,
            T0 + 2_000,
            BucketSpec::SizeSeconds(1),
            Some(&only),
        )
        .expect("mid");
    assert_eq!(mid.len(), 1);
    assert_eq!(mid[0].by_label.keys().collect::<Vec<_>>(), ["person"]);
    assert_eq!(mid[0].by_label["person"], stat(6, 6));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn raw_events_newest_first() {
    let d = dir("events");
    let s = open(&d.join("a.sqlite"), fast());
    crossings_fixture(&s);
    let roi = |ts, kind, dwell| {
        AnalyticsRecord::Roi(RoiTransition {
            camera: "cam".into(),
            rule_id: "zone-a".into(),
            ts_ms: ts,
            object_id: 5,
            track_id: 55,
            label: "person".into(),
            kind,
            dwell_s: dwell,
        })
    };
    s.push(vec![
        roi(T0 + 100, RoiKind::Enter, None),
        roi(T0 + 30_100, RoiKind::Loiter, Some(30.0)),
        roi(T0 + 40_000, RoiKind::Exit, Some(39.9)),
    ]);
    s.flush().expect("flush");
    let t = s
        .events(EventKind::Tripwire, "cam", T0, T0 + 60_000, 3)
        .expect("trip");
    let ts: Vec<_> = t
        .iter()
        .map(|e| match e {
            AnalyticsRecord::Crossing(c) => c.ts_ms - T0,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ts, [8_000, 7_000, 4_000]);
    assert_eq!(t[0], crossing("cam", "door", T0 + 8_000, 3, "car", Out));
    let r = s
        .events(EventKind::Roi, "cam", T0, T0 + 40_000, 10)
        .expect("roi");
    assert_eq!(
        r,
        [
            roi(T0 + 30_100, RoiKind::Loiter, Some(30.0)),
            roi(T0 + 100, RoiKind::Enter, None)
        ]
    );
    // One rule's events only; the limit applies after the filter.
    let one = |rule: &str| {
        s.events_of(EventKind::Roi, "cam", Some(rule), T0, T0 + 60_000, 1)
            .expect("roi")
            .len()
    };
    assert_eq!((one("zone-a"), one("zone-b")), (1, 0));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn reopening_restores_events_and_totals() {
    let d = dir("persist");
    let path = d.join("a.sqlite");
    let labels = strings(&["person", "car"]);
    let query = |s: &AnalyticsStore| {
        (
            s.tripwire_counts("cam", None, T0, T0 + 60_000, Some(&labels))
                .expect("counts"),
            s.tripwire_histogram("cam", "door", T0, T0 + 60_000, BucketSpec::default(), None)
                .expect("hist"),
            s.occupancy_histogram("cam", "fov", T0, T0 + 60_000, BucketSpec::default(), None)
                .expect("occ"),
            s.load_totals("cam").expect("totals"),
        )
    };
    let before = {
        let s = open(&path, fast());
        crossings_fixture(&s);
        s.push(vec![
            occupancy("cam", "fov", T0 + 10, &[("person", 2)]),
            occupancy("cam", "fov", T0 + 20, &[("person", 3)]),
            totals("cam", T0 + 9_000, r#"{"n":2}"#),
        ]);
        s.flush().expect("flush");
        query(&s)
    };
    assert_eq!(
        before.3.as_ref().map(|t| t.json.as_str()),
        Some(r#"{"n":2}"#)
    );
    assert_eq!(before.3.as_ref().map(|t| t.ts_ms), Some(T0 + 9_000));
    let s = open(&path, fast());
    assert_eq!(query(&s), before);
    assert_eq!(s.load_totals("other").expect("none"), None);
    let _ = std::fs::remove_dir_all(&d);
}

/// Reads what a second connection sees while the writer holds records in its open transaction:
/// events and the totals snapshot of a batch become visible together, within the interval.
#[test]
fn events_and_totals_commit_together_within_the_interval() {
    let d = dir("atomic");
    let path = d.join("a.sqlite");
    let cfg = AnalyticsConfig {
        commit_interval: Duration::from_millis(700),
        ..AnalyticsConfig::default()
    };
    let s = open(&path, cfg);
    let peek = rusqlite::Connection::open(&path).expect("peek");
    let state = || {
        let n: i64 = peek
            .query_row("SELECT count(*) FROM crossings", [], |r| r.get(0))
            .expect("n");
        let t: Option<String> = peek
            .query_row("SELECT json FROM totals WHERE camera = 'cam'", [], |r| {
                r.get(0)
            })
            .ok();
        (n, t)
    };
    let t = Instant::now();
    s.push(vec![
        crossing("cam", "door", T0, 1, "person", In),
        crossing("cam", "door", T0 + 1, 2, "person", In),
        totals("cam", T0 + 1, r#"{"in":2}"#),
    ]);
    let mut seen = Vec::new();
    while t.elapsed() < Duration::from_millis(1_500) {
        let st = state();
        if st.0 > 0 && seen.last() != Some(&st) {
            seen.push(st.clone());
            assert!(
                t.elapsed() <= Duration::from_millis(700 + 500),
                "committed after {:?}",
                t.elapsed()
            );
        }
        assert!(
            st == (0, None) || st == (2, Some(r#"{"in":2}"#.to_owned())),
            "partial state {st:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(seen.len(), 1, "{seen:?}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn retention_deletes_old_rows_and_keeps_totals() {
    let d = dir("retention");
    let path = d.join("a.sqlite");
    let now = (osprey_base::unix_now() * 1000.0) as i64;
    let old = now - 3 * 86_400_000;
    let keep_all = AnalyticsConfig {
        retention_days: 0,
        ..fast()
    };
    {
        let s = open(&path, keep_all);
        s.push(vec![
            crossing("cam", "door", old, 1, "person", In),
            crossing("cam", "door", now - 3_600_000, 2, "person", In),
            occupancy("cam", "fov", old, &[("person", 1)]),
            occupancy("cam", "fov", now - 3_600_000, &[("person", 1)]),
            totals("cam", old, "{}"),
        ]);
        s.flush().expect("flush");
        let c = s
            .tripwire_counts("cam", Some("door"), old - 1, now, None)
            .expect("counts");
        assert_eq!(c["door"]["person"].actual, io(2, 0));
    }
    let cfg = AnalyticsConfig {
        retention_days: 1,
        retention_check: Duration::from_millis(50),
        ..fast()
    };
    let s = open(&path, cfg);
    let t = Instant::now();
    let whole = BucketSpec::Count(1);
    loop {
        let c = s
            .tripwire_counts("cam", Some("door"), old - 1, now, None)
            .expect("counts");
        if c["door"]["person"].actual == io(1, 0) {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "retention never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    let occ = |from, to| {
        s.occupancy_histogram("cam", "fov", from, to, whole, None)
            .expect("occ")[0]
            .frames
    };
    assert_eq!(occ(old - 1_000, old + 1_000), 0);
    assert_eq!(occ(now - 3_700_000, now), 1);
    assert!(s.load_totals("cam").expect("totals").is_some());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_full_queue_drops_and_counts() {
    let d = dir("drops");
    let path = d.join("a.sqlite");
    let cfg = AnalyticsConfig {
        queue_capacity: 4,
        ..fast()
    };
    let c = counters();
    let s = AnalyticsStore::open(&path, cfg, c.clone()).expect("open");
    // Another connection holds the write lock: the writer waits on its first batch.
    let blocker = rusqlite::Connection::open(&path).expect("blocker");
    blocker.execute_batch("BEGIN IMMEDIATE").expect("lock");
    let mut queued = 0;
    for i in 0..200 {
        queued += u64::from(s.push(vec![crossing("cam", "door", T0 + i, 1, "p", In)]));
    }
    std::thread::sleep(Duration::from_millis(300));
    blocker.execute_batch("ROLLBACK").expect("unlock");
    s.flush().expect("flush");
    let (sent, dropped) = (count(&c, "sent"), count(&c, "dropped"));
    assert!(queued <= 6, "queued {queued}");
    assert_eq!(
        (sent, dropped, count(&c, "failed")),
        (queued, 200 - queued, 0)
    );
    let stored = s
        .events(EventKind::Tripwire, "cam", T0, T0 + 1_000, 1_000)
        .expect("events");
    assert_eq!(stored.len() as u64, sent);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn bad_configuration_is_refused() {
    let d = dir("config");
    for cfg in [
        AnalyticsConfig {
            commit_interval: Duration::from_millis(2_001),
            ..AnalyticsConfig::default()
        },
        AnalyticsConfig {
            commit_interval: Duration::ZERO,
            ..AnalyticsConfig::default()
        },
        AnalyticsConfig {
            queue_capacity: 0,
            ..AnalyticsConfig::default()
        },
    ] {
        let e = AnalyticsStore::open(&d.join("a.sqlite"), cfg, counters()).expect_err("refused");
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    }
    assert_eq!(
        AnalyticsConfig::default().commit_interval,
        Duration::from_secs(1)
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn alerts_upsert_by_id_and_overlap_the_range() {
    let d = dir("alerts");
    let s = open(&d.join("a.sqlite"), fast());
    let row = |id: &str, kind: &str, start: i64, end: Option<i64>| {
        AnalyticsRecord::Alert(AlertRow {
            id: id.into(),
            camera: "cam".into(),
            kind: kind.into(),
            rule_id: "r".into(),
            start_ms: T0 + start,
            end_ms: end.map(|e| T0 + e),
            json: format!("{{\"end\":{end:?}}}"),
        })
    };
    // A lasting alert starts at 0 s and ends at 10 s; a point alert at 20 s; one still active
    // since 30 s; another camera's alert is never returned.
    s.push(vec![row("a", "roi", 0, None)]);
    s.push(vec![row("a", "roi", 0, Some(10_000))]);
    s.push(vec![row("b", "tripwire", 20_000, Some(20_000))]);
    s.push(vec![row("c", "fov", 30_000, None)]);
    let mut other = row("d", "fov", 5_000, None);
    if let AnalyticsRecord::Alert(a) = &mut other {
        a.camera = "elsewhere".into();
    }
    s.push(vec![other]);
    s.flush().expect("flush");
    let ids = |kind: Option<&str>, from: i64, to: i64, limit: usize| -> Vec<String> {
        s.alerts("cam", kind, None, T0 + from, T0 + to, limit)
            .expect("query")
            .into_iter()
            .map(|a| a.id)
            .collect()
    };
    assert_eq!(
        ids(None, 0, 60_000, 10),
        vec!["c", "b", "a"],
        "newest first"
    );
    let a = s
        .alerts("cam", Some("roi"), Some("r"), T0, T0 + 1, 10)
        .expect("query");
    assert_eq!(a.len(), 1, "the end replaced the start");
    assert_eq!(a[0].end_ms, Some(T0 + 10_000));
    assert_eq!(a[0].json, "{\"end\":Some(10000)}");
    assert_eq!(ids(None, 5_000, 6_000, 10), vec!["a"], "overlaps the range");
    assert_eq!(ids(None, 11_000, 19_000, 10), Vec::<String>::new(), "a gap");
    assert_eq!(ids(None, 100_000, 200_000, 10), vec!["c"], "still active");
    assert_eq!(ids(Some("tripwire"), 0, 60_000, 10), vec!["b"]);
    assert_eq!(ids(None, 0, 60_000, 2), vec!["c", "b"], "limit");
    let other_rule = s.alerts("cam", None, Some("q"), T0, T0 + 60_000, 10);
    assert!(other_rule.expect("query").is_empty(), "by rule");
    drop(s);
    let _ = std::fs::remove_dir_all(&d);
}
