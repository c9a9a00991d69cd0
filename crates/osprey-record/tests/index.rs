//! The recording index: queries, protection, the delete protocol, pins, retention, views, and
//! the recovery pass reconciling rows and files.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use common::{assert_agree, files, record, tmp, write_files, BASE_WALL_MS};
use osprey_record::{CameraQuota, Quotas, RecordingIndex};

#[test]
fn index_queries_protects_deletes_and_pins() {
    let root = tmp("index");
    let (index, report) = RecordingIndex::open(&root).unwrap();
    assert!(report.is_clean());
    // 300 frames at 10 fps, keyframe every second, 5 s segments: 6 segments.
    let rows = record(&index, "front", 0, 300, 5);
    assert_eq!(rows.len(), 6);
    assert_eq!(rows.iter().map(|r| r.frames).sum::<u32>(), 300);
    assert_eq!(rows[0].start_wall_ms, BASE_WALL_MS);
    assert_eq!(rows[0].codec, "avc1.4D401E");
    assert_eq!((rows[0].width, rows[0].height), (480, 360));
    let usage = index.usage("front").unwrap();
    assert_eq!(usage.segments, 6);
    assert_eq!(usage.bytes, rows.iter().map(|r| r.bytes).sum::<u64>());
    assert_eq!(usage.oldest_wall_ms, Some(BASE_WALL_MS));
    assert_eq!(usage.newest_wall_ms, Some(BASE_WALL_MS + 30_000));
    // One run, no gap.
    let runs = index.timeline("front", i64::MIN, i64::MAX).unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].frames, 300);
    // Range queries overlap.
    assert_eq!(
        index
            .segments("front", BASE_WALL_MS + 7_000, BASE_WALL_MS + 12_000)
            .unwrap()
            .len(),
        2
    );
    assert!(index.camera_dir("../etc").is_err());

    // Protect the second segment; a view pins the third.
    assert_eq!(
        index
            .protect(
                "front",
                rows[1].start_wall_ms,
                rows[1].start_wall_ms + 1,
                Some(i64::MAX)
            )
            .unwrap(),
        1
    );
    let view = index
        .view(
            "front",
            rows[2].start_wall_ms + 100,
            rows[2].end_wall_ms - 100,
        )
        .unwrap();
    assert_eq!(view.pin.ids(), [rows[2].id]);
    assert!(view.plan.frames > 0);
    assert!(
        !index.delete(rows[2].id).unwrap(),
        "a pinned segment is not deleted"
    );

    // Quota of two segments' worth: 0 goes, 1 is protected, 2 is pinned (deferred), 3 goes.
    let quotas = Quotas {
        default_camera: CameraQuota {
            max_bytes: Some(rows[4].bytes + rows[5].bytes),
            max_age_ms: None,
        },
        ..Quotas::default()
    };
    let out = index
        .apply_retention(&quotas, BASE_WALL_MS + 60_000, None)
        .unwrap();
    let deleted: Vec<i64> = out.deleted.iter().map(|r| r.id).collect();
    assert_eq!(deleted, [rows[0].id, rows[3].id]);
    assert!(!index.path(&rows[0]).exists());
    assert!(index.path(&rows[2]).exists());
    // Reading the pinned view still works; then unpin and run again.
    assert!(view.plan.to_bytes().unwrap().len() as u64 == view.plan.len);
    drop(view);
    let out = index
        .apply_retention(&quotas, BASE_WALL_MS + 60_000, None)
        .unwrap();
    assert_eq!(
        out.deleted.iter().map(|r| r.id).collect::<Vec<_>>(),
        [rows[2].id]
    );
    let left: Vec<i64> = index.all_segments().unwrap().iter().map(|r| r.id).collect();
    assert_eq!(left, [rows[1].id, rows[4].id, rows[5].id]);
    assert_agree(&index);
    // The timeline now has a gap where 2 and 3 were.
    let runs = index.timeline("front", i64::MIN, i64::MAX).unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    drop(index);
    let (_index, report) = RecordingIndex::open(&root).unwrap();
    assert!(report.is_clean(), "{report:?}");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn recovery_reconciles_rows_and_files() {
    let root = tmp("recovery");
    let (index, _) = RecordingIndex::open(&root).unwrap();
    let rows = record(&index, "cam", 0, 200, 5); // 4 segments
    assert_eq!(rows.len(), 4);
    // (a) a row whose file vanished.
    std::fs::remove_file(index.path(&rows[0])).unwrap();
    // (b) a complete file written but never indexed (crash before the insert).
    let whole = write_files(&index, "cam", 200, 50, 60).remove(0);
    // (c) a file cut in the middle of its last fragment (crash during the write).
    let cut = write_files(&index, "cam", 250, 50, 60).remove(0);
    let cut_path = root.join("cam").join(&cut.name);
    let cut_len = cut.bytes - 700;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&cut_path)
        .unwrap()
        .set_len(cut_len)
        .unwrap();
    // (d) a file with no whole fragment.
    std::fs::write(
        root.join("cam").join("1700000099000.mp4"),
        b"\0\0\0\x08free",
    )
    .unwrap();
    // (e) an interrupted delete: the garbage row is there, the file too.
    {
        let conn = rusqlite::Connection::open(root.join("index.sqlite3")).unwrap();
        conn.execute(
            "INSERT INTO garbage (camera, name) VALUES ('cam', ?1)",
            [&rows[1].name],
        )
        .unwrap();
        conn.execute("DELETE FROM segment WHERE id = ?1", [rows[1].id])
            .unwrap();
    }
    // Other files are left alone.
    std::fs::write(root.join("cam").join("notes.txt"), b"keep").unwrap();
    drop(index);

    let (index, report) = RecordingIndex::open(&root).unwrap();
    eprintln!("{report:?}");
    assert_eq!(report.garbage_finished, [format!("cam/{}", rows[1].name)]);
    assert_eq!(report.rows_removed, [format!("cam/{}", rows[0].name)]);
    let mut adopted = report.adopted.clone();
    adopted.sort();
    assert_eq!(
        adopted,
        [format!("cam/{}", whole.name), format!("cam/{}", cut.name)]
    );
    assert_eq!(report.deleted, ["cam/1700000099000.mp4"]);
    assert!(report.truncated_bytes > 0);
    assert!(!index.path(&rows[1]).exists());
    assert!(root.join("cam/notes.txt").exists());
    assert_agree(&index);
    // The adopted whole file is described as the writer described it.
    let all = index.all_segments().unwrap();
    let w = all.iter().find(|r| r.name == whole.name).unwrap();
    assert_eq!(
        (
            w.start_wall_ms,
            w.end_wall_ms,
            w.frames,
            w.keyframes,
            w.bytes,
            w.codec.as_str(),
            w.width
        ),
        (
            whole.start_wall_ms,
            whole.end_wall_ms,
            whole.frames,
            whole.keyframes,
            whole.bytes,
            whole.codec_string.as_str(),
            whole.width
        )
    );
    // The cut one keeps its whole fragments: fewer frames, shorter file.
    let c = all.iter().find(|r| r.name == cut.name).unwrap();
    assert!(c.frames > 0 && c.frames < cut.frames, "{c:?}");
    assert_eq!(std::fs::metadata(&cut_path).unwrap().len(), c.bytes);
    assert!(c.bytes < cut_len);
    assert_eq!(files(&root.join("cam")).len(), 4);
    drop(index);
    let (_index, report) = RecordingIndex::open(&root).unwrap();
    assert!(report.is_clean(), "{report:?}");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_protection_asked_before_a_segment_is_written_applies_to_it() {
    let root = tmp("hold");
    let (index, _) = RecordingIndex::open(&root).unwrap();
    // An event's range reaches 7 s into the recording before anything is written (a
    // post-roll, or the segment being written); it ages out in an hour.
    let until = BASE_WALL_MS + 3_600_000;
    assert_eq!(
        index
            .protect(
                "front",
                BASE_WALL_MS + 6_000,
                BASE_WALL_MS + 7_000,
                Some(until)
            )
            .unwrap(),
        0,
        "nothing written yet"
    );
    let rows = record(&index, "front", 0, 150, 5);
    let protected: Vec<Option<i64>> = rows.iter().map(|r| r.protected_until).collect();
    assert_eq!(
        protected,
        [None, Some(until), None],
        "only the overlapping segment"
    );
    // Unprotecting the range removes the hold too.
    index
        .protect("front", BASE_WALL_MS + 6_000, BASE_WALL_MS + 7_000, None)
        .unwrap();
    let again = record(&index, "front", 150, 150, 5);
    assert!(again.iter().all(|r| r.protected_until.is_none()));
    // Another camera's segments are not held.
    index
        .protect("front", BASE_WALL_MS, BASE_WALL_MS + 60_000, Some(until))
        .unwrap();
    let other = record(&index, "yard", 0, 50, 5);
    assert!(other.iter().all(|r| r.protected_until.is_none()));
    let _ = std::fs::remove_dir_all(&root);
}
