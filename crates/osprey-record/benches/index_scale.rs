//! The recording index at a year of video (a benchmark, not a test): builds a synthetic index
//! of `SEGMENTS` rows (default 10 M: 12 cameras recording 60 s segments around the clock for
//! 365 days, and 4 cameras recording 10 s event segments for about a third of the time) in the
//! previous schema (version 1), opens it with this build (timing the migration), then times
//! each operation the server runs against it — the retention pass, a day's timeline,
//! `/api/storage` (`/api/recordings` reads the same) and the recording part of a `/metrics`
//! scrape — next to the way the previous release ran them (every segment loaded and planned;
//! range queries bounded on one side only; `COUNT`/`SUM` over every row; `DISTINCT` cameras).
//! Reports a Markdown table and the index file's size.
//!
//!   cargo bench -p osprey-record --bench index_scale          (benches/recording-index.sh)
//!   SEGMENTS=1000000 BENCH_DIR=/path/on/the/disk/to/measure   REPEAT=9
// A benchmark program: its report is its standard output, and a failed step ends it.
#![allow(clippy::print_stdout, clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use osprey_record::{
    plan_deletions, CameraQuota, Quotas, RecordingIndex, RetentionSegment, INDEX_SCHEMA_V1,
};
use rusqlite::{params, Connection};

const MIN: i64 = 60_000;
const DAY: i64 = 24 * 60 * MIN;
const START: i64 = 1_735_689_600_000; // 2025-01-01T00:00:00Z
const CONTINUOUS: usize = 12;
const EVENTS: usize = 4;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Writes the synthetic index in schema version 1 and returns the time the data ends.
fn build(root: &Path, total: usize) -> rusqlite::Result<i64> {
    let conn = Connection::open(root.join("index.sqlite3"))?;
    conn.execute_batch(INDEX_SCHEMA_V1)?;
    conn.execute_batch("PRAGMA synchronous=OFF; BEGIN")?;
    let per_continuous = (365 * DAY / MIN) as usize;
    let continuous = (total * 84 / 100 / CONTINUOUS).min(per_continuous);
    let events = (total.saturating_sub(continuous * CONTINUOUS)) / EVENTS;
    let end = START + continuous as i64 * MIN;
    {
        let mut st = conn.prepare(
            "INSERT INTO segment (camera, name, start_90k, end_90k, start_wall_ms, end_wall_ms, \
             frames, keyframes, bytes, codec, width, height, protected_until) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'avc1.4D401F', 1280, 720, ?10)",
        )?;
        let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for c in 0..CONTINUOUS {
            let cam = format!("cam{c:02}");
            for i in 0..continuous {
                let s = START + i as i64 * MIN;
                // One segment in a thousand is protected (an event kept for ever).
                let protected = (rnd() % 1000 == 0).then_some(i64::MAX);
                st.execute(params![
                    cam,
                    format!("{s}.mp4"),
                    i as i64 * 60 * 90_000,
                    (i as i64 + 1) * 60 * 90_000,
                    s,
                    s + MIN,
                    900,
                    30,
                    3_750_000 + (rnd() % 500_000) as i64,
                    protected
                ])?;
            }
        }
        let span = end - START;
        for c in 0..EVENTS {
            let cam = format!("event{c:02}");
            let step = span / events.max(1) as i64;
            for i in 0..events {
                // 10 s segments spread over the year, grouped into events.
                let s = START + i as i64 * step;
                st.execute(params![
                    cam,
                    format!("{s}.mp4"),
                    0,
                    10 * 90_000,
                    s,
                    s + 10_000,
                    150,
                    5,
                    600_000 + (rnd() % 100_000) as i64,
                    None::<i64>
                ])?;
            }
        }
    }
    conn.execute_batch("COMMIT")?;
    Ok(end)
}

/// The median of `n` runs of `f`, and its last result.
fn time<T>(n: usize, mut f: impl FnMut(usize) -> T) -> (Duration, T) {
    let mut ds = Vec::with_capacity(n);
    let mut out = None;
    for i in 0..n {
        let t = Instant::now();
        out = Some(f(i));
        ds.push(t.elapsed());
    }
    ds.sort();
    (ds[ds.len() / 2], out.expect("n > 0"))
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// The previous release's queries, on the same file.
mod before {
    use super::*;

    pub fn usage(conn: &Connection, camera: &str) -> (i64, i64, Option<i64>, Option<i64>) {
        conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(bytes), 0), MIN(start_wall_ms), MAX(end_wall_ms) \
             FROM segment WHERE camera = ?1",
            [camera],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .expect("usage")
    }

    pub fn cameras(conn: &Connection) -> Vec<String> {
        let mut st = conn
            .prepare("SELECT DISTINCT camera FROM segment ORDER BY camera")
            .expect("prepare");
        let rows = st.query_map([], |r| r.get(0)).expect("query");
        rows.collect::<Result<_, _>>().expect("rows")
    }

    pub fn range_bytes(conn: &Connection, camera: &str, a: i64, b: i64) -> Vec<(i64, i64, i64)> {
        let mut st = conn
            .prepare(
                "SELECT start_wall_ms, end_wall_ms, bytes FROM segment \
                 WHERE camera = ?1 AND start_wall_ms < ?3 AND end_wall_ms > ?2 \
                 ORDER BY start_wall_ms, id",
            )
            .expect("prepare");
        let rows = st
            .query_map(params![camera, a, b], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .expect("query");
        rows.collect::<Result<_, _>>().expect("rows")
    }
}

fn main() {
    let total: usize = env("SEGMENTS", 10_000_000);
    let repeat: usize = env("REPEAT", 9);
    let tmp;
    let root = match std::env::var_os("BENCH_DIR") {
        Some(d) => std::path::PathBuf::from(d),
        None => {
            tmp = tempdir();
            tmp.clone()
        }
    };
    let _ = std::fs::remove_file(root.join("index.sqlite3"));
    let t = Instant::now();
    let end = build(&root, total).expect("build");
    let built = t.elapsed();
    let t = Instant::now();
    let index = RecordingIndex::open_unrecovered(&root).expect("open");
    let migrated = t.elapsed();
    let raw = Connection::open(root.join("index.sqlite3")).expect("raw");
    let cameras = index.cameras().expect("cameras");
    let rows: i64 = raw
        .query_row("SELECT COUNT(*) FROM segment", [], |r| r.get(0))
        .expect("count");
    let size = std::fs::metadata(root.join("index.sqlite3")).map_or(0, |m| m.len());
    println!(
        "# Recording index at scale\n\n{rows} segments, {} cameras; built in {:.1} s; \
         migrated from schema 1 to 2 in {:.1} s; index file {:.0} MiB ({:.0} bytes per segment)\n",
        cameras.len(),
        built.as_secs_f64(),
        migrated.as_secs_f64(),
        size as f64 / (1 << 20) as f64,
        size as f64 / rows.max(1) as f64
    );
    println!("| operation | this build (median of {repeat}) ms | previous release ms | ratio |");
    println!("|---|---|---|---|");
    let row = |name: &str, new: Duration, old: Duration| {
        println!(
            "| {name} | {} | {} | {:.0}× |",
            ms(new),
            ms(old),
            old.as_secs_f64() / new.as_secs_f64().max(1e-9)
        );
    };

    // Retention: all but the first ten minutes kept per camera; each pass is a minute later,
    // so each deletes what aged out since the last (about one segment per continuous camera),
    // as in steady state.
    let quotas = Quotas {
        default_camera: CameraQuota {
            max_bytes: None,
            max_age_ms: Some(end - START - 10 * MIN),
        },
        ..Quotas::default()
    };
    let (new_ret, out) = time(repeat, |i| {
        index
            .apply_retention(&quotas, end + i as i64 * MIN, None)
            .expect("retention")
    });
    let (idle_ret, _) = time(repeat, |_| {
        index
            .apply_retention(&quotas, end + (repeat - 1) as i64 * MIN, None)
            .expect("retention")
    });
    let (old_ret, planned) = time(1, |_| {
        let segs: Vec<RetentionSegment> = index
            .all_segments()
            .expect("all")
            .iter()
            .map(|r| RetentionSegment {
                id: r.id,
                camera: r.camera.clone(),
                start_wall_ms: r.start_wall_ms,
                end_wall_ms: r.end_wall_ms,
                bytes: r.bytes,
                protected_until: r.protected_until,
                pinned: false,
            })
            .collect();
        plan_deletions(&segs, &quotas, end + repeat as i64 * MIN, None).len()
    });
    row(
        &format!(
            "retention pass, steady state (deleted {} / planned {planned})",
            out.deleted.len()
        ),
        new_ret,
        old_ret,
    );
    row("retention pass, nothing to delete", idle_ret, old_ret);

    // A day's timeline, late in the year (the previous query scanned the camera's older rows).
    let day = end - 2 * DAY;
    let (new_tl, n) = time(repeat, |_| {
        index
            .timeline("cam05", day, day + DAY)
            .expect("timeline")
            .len()
    });
    let (old_tl, _) = time(repeat, |_| {
        before::range_bytes(&raw, "cam05", day, day + DAY).len()
    });
    row(&format!("timeline of one day ({n} runs)"), new_tl, old_tl);

    // /api/storage and /api/recordings: per camera, the totals and the last day's bytes.
    let now = end;
    let (new_st, _) = time(repeat, |_| {
        let mut b = 0;
        for c in index.cameras().expect("cameras") {
            b += index.usage(&c).expect("usage").bytes;
            b += index.bytes_since(&c, now - DAY).expect("rate").0;
        }
        b
    });
    let (old_st, _) = time(3.min(repeat), |_| {
        let mut b = 0;
        for c in before::cameras(&raw) {
            b += before::usage(&raw, &c).1;
            b += before::range_bytes(&raw, &c, now - DAY, now)
                .iter()
                .map(|r| r.2)
                .sum::<i64>();
        }
        b
    });
    row("/api/storage (16 cameras)", new_st, old_st);

    // /metrics: the recording collector's reads.
    let (new_m, _) = time(repeat, |_| {
        let cams = index.cameras().expect("cameras");
        cams.iter()
            .map(|c| index.usage(c).expect("usage").segments)
            .sum::<u64>()
    });
    let (old_m, _) = time(3.min(repeat), |_| {
        before::cameras(&raw)
            .iter()
            .map(|c| before::usage(&raw, c).0)
            .sum::<i64>()
    });
    row("/metrics recording series (16 cameras)", new_m, old_m);
    if std::env::var_os("BENCH_DIR").is_none() {
        let _ = std::fs::remove_dir_all(&root);
    }
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("osprey-index-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}
