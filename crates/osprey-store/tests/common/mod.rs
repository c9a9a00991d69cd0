//! Helpers shared by the analytics store tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use osprey_store::{
    AnalyticsConfig, AnalyticsRecord, AnalyticsStore, Crossing, Direction, OccupancySample,
    TotalsSnapshot,
};

/// 2026-12-02T10:00:00Z in Unix ms.
pub const T0: i64 = 1_796_205_600_000;

pub fn counters() -> prometheus::IntCounterVec {
    prometheus::IntCounterVec::new(prometheus::Opts::new("x", "x"), &["sink", "outcome"])
        .expect("counter vec")
}

pub fn count(c: &prometheus::IntCounterVec, outcome: &str) -> u64 {
    c.with_label_values(&["analytics", outcome]).get()
}

/// A fresh directory for one test.
pub fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("osprey-analytics-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

pub fn fast() -> AnalyticsConfig {
    AnalyticsConfig {
        commit_interval: Duration::from_millis(200),
        ..AnalyticsConfig::default()
    }
}

pub fn open(path: &std::path::Path, cfg: AnalyticsConfig) -> AnalyticsStore {
    AnalyticsStore::open(path, cfg, counters()).expect("open")
}

pub fn crossing(
    camera: &str,
    rule: &str,
    ts_ms: i64,
    object: u64,
    label: &str,
    d: Direction,
) -> AnalyticsRecord {
    AnalyticsRecord::Crossing(Crossing {
        camera: camera.into(),
        rule_id: rule.into(),
        ts_ms,
        object_id: object,
        track_id: object + 1000,
        label: label.into(),
        direction: d,
    })
}

pub fn occupancy(camera: &str, rule: &str, ts_ms: i64, labels: &[(&str, u32)]) -> AnalyticsRecord {
    AnalyticsRecord::Occupancy(OccupancySample {
        camera: camera.into(),
        rule_id: rule.into(),
        ts_ms,
        total: labels.iter().map(|(_, n)| n).sum(),
        by_label: labels.iter().map(|(l, n)| ((*l).to_owned(), *n)).collect(),
    })
}

pub fn totals(camera: &str, ts_ms: i64, json: &str) -> AnalyticsRecord {
    AnalyticsRecord::Totals(TotalsSnapshot {
        camera: camera.into(),
        json: json.into(),
        ts_ms,
    })
}

pub fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}
