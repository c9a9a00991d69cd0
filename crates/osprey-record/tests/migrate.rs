//! Upgrade safety of the recordings index: an index written by the previous release (schema
//! version 1, `user_version` 0) opens in this build, is migrated to version 2 once (totals
//! recomputed from the rows), and then serves totals, ranges and retention exactly as the
//! rows say; an index from a newer release is refused without being touched.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use common::{assert_agree, tmp, write_files};
use osprey_base::{ErrorKind, Kinded};
use osprey_record::{
    CameraQuota, Quotas, RecordError, RecordingIndex, SegmentInfo, INDEX_SCHEMA_V1,
    INDEX_SCHEMA_VERSION,
};
use rusqlite::{params, Connection};

/// Writes real segment files for two cameras, then an index holding them exactly as the
/// previous release created it: its schema, its insert, no version.
fn previous_release_index(root: &std::path::Path) -> Vec<(String, SegmentInfo)> {
    let mut written = Vec::new();
    {
        let (scratch, _) = RecordingIndex::open(root).unwrap();
        for (camera, first) in [("front", 0), ("yard", 1000)] {
            for info in write_files(&scratch, camera, first, 200, 5) {
                written.push((camera.to_string(), info));
            }
        }
    }
    for f in ["index.sqlite3", "index.sqlite3-wal", "index.sqlite3-shm"] {
        let _ = std::fs::remove_file(root.join(f));
    }
    let conn = Connection::open(root.join("index.sqlite3")).unwrap();
    conn.execute_batch(INDEX_SCHEMA_V1).unwrap();
    for (camera, s) in &written {
        conn.execute(
            "INSERT INTO segment (camera, name, start_90k, end_90k, start_wall_ms, end_wall_ms, \
             frames, keyframes, bytes, codec, width, height, protected_until) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, NULL)",
            params![
                camera,
                s.name,
                s.start_90k,
                s.end_90k,
                s.start_wall_ms,
                s.end_wall_ms,
                s.frames,
                s.keyframes,
                s.bytes as i64,
                s.codec_string,
                s.width,
                s.height
            ],
        )
        .unwrap();
    }
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 0, "the previous release left user_version at 0");
    written
}

fn user_version(root: &std::path::Path) -> i64 {
    Connection::open(root.join("index.sqlite3"))
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn an_index_from_the_previous_release_is_migrated_and_agrees_with_its_rows() {
    let root = tmp("migrate-v1");
    let written = previous_release_index(&root);
    let (index, report) = RecordingIndex::open(&root).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(user_version(&root), INDEX_SCHEMA_VERSION);
    assert_eq!(index.cameras().unwrap(), ["front", "yard"]);
    for camera in ["front", "yard"] {
        let mine: Vec<&SegmentInfo> = written
            .iter()
            .filter(|(c, _)| c == camera)
            .map(|(_, s)| s)
            .collect();
        let u = index.usage(camera).unwrap();
        assert_eq!(u.segments, mine.len() as u64, "{camera}");
        assert_eq!(
            u.bytes,
            mine.iter().map(|s| s.bytes).sum::<u64>(),
            "{camera}"
        );
        assert_eq!(u.oldest_wall_ms, mine.first().map(|s| s.start_wall_ms));
        assert_eq!(u.newest_wall_ms, mine.last().map(|s| s.end_wall_ms));
        // Ranges bounded through the migrated span: a window inside the third segment finds
        // exactly it.
        let third = mine[2];
        let rows = index
            .segments(camera, third.start_wall_ms + 10, third.end_wall_ms - 10)
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].name, third.name);
        // The hourly totals: everything that started in the third segment's hour or later.
        let (bytes, from) = index.bytes_since(camera, third.start_wall_ms).unwrap();
        assert_eq!(from, third.start_wall_ms.div_euclid(3_600_000) * 3_600_000);
        let expected: u64 = mine
            .iter()
            .filter(|s| s.start_wall_ms >= from)
            .map(|s| s.bytes)
            .sum();
        assert_eq!(bytes, expected);
    }
    assert_agree(&index);

    // The totals follow later inserts and deletes (triggers installed by the migration), and
    // retention runs from them: a quota of one segment's bytes keeps the newest segment only.
    let more = write_files(&index, "front", 200, 50, 5);
    for info in &more {
        index.insert("front", info).unwrap();
    }
    let newest = more.last().unwrap();
    let mut quota = Quotas::default();
    quota.cameras.insert(
        "front".into(),
        CameraQuota {
            max_bytes: Some(newest.bytes),
            max_age_ms: None,
        },
    );
    let yard_before = index.usage("yard").unwrap();
    let out = index
        .apply_retention(&quota, newest.end_wall_ms, None)
        .unwrap();
    let front = index.usage("front").unwrap();
    assert_eq!(front.segments, 1, "deleted {}", out.deleted.len());
    assert_eq!(front.bytes, newest.bytes);
    assert_eq!(index.usage("yard").unwrap(), yard_before);
    assert_agree(&index);
    drop(index);

    // A second open is a no-op migration and still agrees.
    let (again, report) = RecordingIndex::open(&root).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(again.usage("front").unwrap().segments, 1);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn an_index_from_a_newer_release_is_refused_untouched() {
    let root = tmp("migrate-newer");
    previous_release_index(&root);
    {
        let conn = Connection::open(root.join("index.sqlite3")).unwrap();
        conn.pragma_update(None, "user_version", INDEX_SCHEMA_VERSION + 1)
            .unwrap();
    }
    let err = RecordingIndex::open(&root).unwrap_err();
    assert!(
        matches!(err, RecordError::NewerSchema { found, .. } if found == INDEX_SCHEMA_VERSION + 1),
        "{err}"
    );
    assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
    assert!(err.to_string().contains("newer"), "{err}");
    // Nothing was migrated or recovered: still the version and the rows it had.
    assert_eq!(user_version(&root), INDEX_SCHEMA_VERSION + 1);
    let conn = Connection::open(root.join("index.sqlite3")).unwrap();
    let totals: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'camera_totals'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(totals, 0);
    let _ = std::fs::remove_dir_all(&root);
}
