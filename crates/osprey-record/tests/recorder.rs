//! The recorder under faults: a disk that fills up and frees again (simulated by a sink that
//! fails with ENOSPC: mounting a small file system needs root), and `kill -9` while writing
//! (a child process), after which the index and the files agree.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{assert_agree, au, stream, tmp};
use osprey_record::recovery::probe;
use osprey_record::{
    FsHandle, FsSink, Recorder, RecorderConfig, RecorderPhase, RecorderStatus, RecordingIndex,
    SegmentSink,
};
use osprey_schema::media::EncodedEvent;

/// A file-system sink that fails like a full disk while `full` is set.
struct Flaky {
    inner: FsSink,
    full: Arc<AtomicBool>,
}

impl Flaky {
    fn check(&self) -> std::io::Result<()> {
        if self.full.load(Ordering::SeqCst) {
            Err(std::io::Error::from_raw_os_error(28)) // ENOSPC
        } else {
            Ok(())
        }
    }
}

impl SegmentSink for Flaky {
    type Handle = FsHandle;
    fn create(&mut self, name: &str) -> std::io::Result<FsHandle> {
        self.check()?;
        self.inner.create(name)
    }
    fn write(&mut self, h: &mut FsHandle, data: &[u8]) -> std::io::Result<()> {
        self.check()?;
        self.inner.write(h, data)
    }
    fn finish(&mut self, h: FsHandle) -> std::io::Result<()> {
        if let Err(e) = self.check() {
            self.inner.abandon(h);
            return Err(e);
        }
        self.inner.finish(h)
    }
    fn abandon(&mut self, h: FsHandle) {
        self.inner.abandon(h);
    }
}

fn wait_for(rec: &Recorder, what: &str, ok: impl Fn(&RecorderStatus) -> bool) {
    let t = Instant::now();
    while !ok(&rec.status()) {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "waiting for {what}: {:?}",
            rec.status()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_full_disk_is_an_error_state_and_recording_resumes_on_its_own() {
    let root = tmp("full");
    let (index, _) = RecordingIndex::open(&root).unwrap();
    let mut cfg = RecorderConfig::new("yard");
    cfg.rotate_interval_ms = 2000;
    cfg.rotate_offset_ms = 0;
    cfg.retry_interval = Duration::from_millis(50);
    cfg.queue = 1024;
    let full = Arc::new(AtomicBool::new(false));
    let sink = Flaky {
        inner: FsSink::new(index.camera_dir("yard").unwrap()),
        full: full.clone(),
    };
    let rec = Recorder::start_with_sink(index.clone(), cfg, sink).unwrap();
    let feed = rec.feed();
    assert!(feed.send(stream()));
    let send = |range: std::ops::Range<i64>, pause: Duration| {
        for i in range {
            assert!(feed.send(EncodedEvent::Unit(au(i, 10, 300))));
            std::thread::sleep(pause);
        }
    };
    send(0..100, Duration::ZERO); // 10 s: segments [0,2) … [6,8) closed, [8,10) open
    wait_for(&rec, "four segments", |s| s.segments >= 4);
    full.store(true, Ordering::SeqCst);
    send(100..200, Duration::from_millis(2)); // the disk is full for 10 s of video
    wait_for(&rec, "the error state", |s| s.phase == RecorderPhase::Error);
    let st = rec.status();
    eprintln!("while full: {st:?}");
    assert!(st.errors >= 2, "retried while full: {st:?}");
    assert!(st.units_dropped > 0);
    assert!(
        st.message
            .as_deref()
            .unwrap_or("")
            .contains("storage error"),
        "{st:?}"
    );
    full.store(false, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(60));
    send(200..300, Duration::from_millis(1));
    wait_for(&rec, "recording again", |s| {
        s.phase == RecorderPhase::Recording
    });
    let st = rec.stop();
    eprintln!("after: {st:?}");
    assert_eq!(st.phase, RecorderPhase::Off);
    let rows = index.all_segments().unwrap();
    assert_agree(&index);
    // Video before and after the outage; the outage is a gap in the timeline.
    let runs = index.timeline("yard", i64::MIN, i64::MAX).unwrap();
    eprintln!("{runs:?}");
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0].start_wall_ms, common::BASE_WALL_MS);
    assert!(runs[0].end_wall_ms <= common::BASE_WALL_MS + 10_000);
    assert!(runs[1].start_wall_ms >= common::BASE_WALL_MS + 20_000);
    assert_eq!(runs[1].end_wall_ms, common::BASE_WALL_MS + 30_000);
    assert!(rows.iter().all(|r| r.frames > 0));
    let _ = std::fs::remove_dir_all(&root);
}

/// A sink that takes `delay` per write (a slow disk).
struct Slow {
    inner: FsSink,
    delay: Duration,
}

impl SegmentSink for Slow {
    type Handle = FsHandle;
    fn create(&mut self, name: &str) -> std::io::Result<FsHandle> {
        self.inner.create(name)
    }
    fn write(&mut self, h: &mut FsHandle, data: &[u8]) -> std::io::Result<()> {
        std::thread::sleep(self.delay);
        self.inner.write(h, data)
    }
    fn finish(&mut self, h: FsHandle) -> std::io::Result<()> {
        self.inner.finish(h)
    }
    fn abandon(&mut self, h: FsHandle) {
        self.inner.abandon(h);
    }
}

#[test]
fn a_full_queue_drops_up_to_a_keyframe_and_never_leaves_a_hole_in_a_segment() {
    let root = tmp("overflow");
    let (index, _) = RecordingIndex::open(&root).unwrap();
    let mut cfg = RecorderConfig::new("lane");
    cfg.rotate_interval_ms = 2000;
    cfg.queue = 8;
    let sink = Slow {
        inner: FsSink::new(index.camera_dir("lane").unwrap()),
        delay: Duration::from_millis(30),
    };
    let rec = Recorder::start_with_sink(index.clone(), cfg, sink).unwrap();
    let feed = rec.feed();
    assert!(feed.send(stream()));
    let mut refused = 0;
    for i in 0..300 {
        if !feed.send(EncodedEvent::Unit(au(i, 10, 300))) {
            refused += 1;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    // A control event that finds the queue full is not lost.
    feed.send(EncodedEvent::Unrecordable(
        "the camera switched to MJPEG".into(),
    ));
    wait_for(&rec, "the unrecordable state", |s| {
        s.phase == RecorderPhase::Unrecordable
    });
    let st = rec.stop();
    eprintln!("{st:?}");
    assert!(refused > 0, "the queue overflowed");
    assert_eq!(st.units_dropped, refused);
    let rows = index.all_segments().unwrap();
    assert!(!rows.is_empty());
    assert_agree(&index);
    for r in &rows {
        // A missing unit inside a segment would stretch a sample to two frame intervals.
        assert_eq!(r.end_90k - r.start_90k, i64::from(r.frames) * 9000, "{r:?}");
        let (info, _) = probe(&index.path(r), &r.name).unwrap();
        assert_eq!(info.frames, r.frames);
    }
    let _ = std::fs::remove_dir_all(&root);
}

const CHILD_ENV: &str = "OSPREY_RECORD_KILL_CHILD_ROOT";

/// The child side of `kill_9_while_writing_then_index_and_files_agree`: records until killed.
#[test]
fn kill_child_writer() {
    let Ok(root) = std::env::var(CHILD_ENV) else {
        return; // only runs as the child
    };
    let (index, _) = RecordingIndex::open(&root).unwrap();
    let mut cfg = RecorderConfig::new("gate");
    cfg.rotate_interval_ms = 300;
    cfg.queue = 4096;
    let rec = Recorder::start(index, cfg).unwrap();
    let feed = rec.feed();
    feed.send(stream());
    for i in 0.. {
        let mut u = au(i, 5, 20_000);
        u.wall_unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        feed.send(EncodedEvent::Unit(u));
        std::thread::sleep(Duration::from_millis(4));
    }
}

#[test]
fn kill_9_while_writing_then_index_and_files_agree() {
    let root = tmp("kill9");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "kill_child_writer", "--nocapture"])
        .env(CHILD_ENV, &root)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait for a few indexed segments (read the database directly: opening the index would
    // run recovery under the writer's feet).
    let t = Instant::now();
    loop {
        let n: i64 = rusqlite::Connection::open(root.join("index.sqlite3"))
            .and_then(|c| c.query_row("SELECT COUNT(*) FROM segment", [], |r| r.get(0)))
            .unwrap_or(0);
        if n >= 5 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the child wrote nothing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(137)); // somewhere inside a segment
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let (index, report) = RecordingIndex::open(&root).unwrap();
    eprintln!("{report:?}");
    assert!(
        report.rows_removed.is_empty(),
        "no indexed file is lost: {report:?}"
    );
    assert_agree(&index);
    let rows = index.all_segments().unwrap();
    assert!(rows.len() >= 5);
    for r in &rows {
        let (info, len) = probe(&index.path(r), &r.name).unwrap();
        assert_eq!(len, r.bytes);
        assert_eq!((info.frames, info.keyframes), (r.frames, r.keyframes));
    }
    // The unfinished segment (if the kill left one) was adopted up to its last whole fragment
    // or deleted; at most it and the one just finished (killed before its insert) had no row.
    assert!(
        report.adopted.len() + report.deleted.len() <= 2,
        "{report:?}"
    );
    let _ = std::fs::remove_dir_all(&root);
}

const FS_ENV: &str = "OSPREY_RECORD_SMALL_FS";

/// Runs `mount` inside the child's mount namespace.
fn mount(args: &[&str]) {
    let st = std::process::Command::new("mount")
        .args(args)
        .status()
        .unwrap();
    assert!(st.success(), "mount {args:?}");
}

/// The child side of `a_real_full_then_read_only_file_system`: runs inside a user and mount
/// namespace on a 2 MiB tmpfs mounted at `$OSPREY_RECORD_SMALL_FS`.
#[test]
fn small_fs_child() {
    let Ok(root) = std::env::var(FS_ENV) else {
        return; // only runs as the child
    };
    let root = std::path::PathBuf::from(root);
    let (index, _) = RecordingIndex::open(&root).unwrap();
    let mut cfg = RecorderConfig::new("shed");
    cfg.rotate_interval_ms = 2000;
    cfg.rotate_offset_ms = 0;
    cfg.retry_interval = Duration::from_millis(50);
    cfg.queue = 1024;
    let rec = Recorder::start(index.clone(), cfg).unwrap();
    let feed = rec.feed();
    feed.send(stream());
    let mut next = 0;
    let mut send = |n: i64| {
        for _ in 0..n {
            feed.send(EncodedEvent::Unit(au(next, 10, 2000)));
            next += 1;
            std::thread::sleep(Duration::from_millis(2));
        }
    };
    send(100);
    wait_for(&rec, "segments", |s| s.segments >= 4);
    // Fill the disk.
    let filler = root.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        while f.write_all(&[0u8; 4096]).is_ok() {}
    }
    send(100);
    wait_for(&rec, "the error state (full)", |s| {
        s.phase == RecorderPhase::Error
    });
    eprintln!("full: {:?}", rec.status());
    let msg = rec.status().message.unwrap();
    assert!(
        msg.contains("No space") || msg.contains("disk is full"),
        "{msg}"
    );
    assert!(rec.status().units_dropped > 0);
    std::fs::remove_file(&filler).unwrap();
    send(100);
    wait_for(&rec, "recording after space returns", |s| {
        s.phase == RecorderPhase::Recording
    });
    let before_ro = rec.status().segments;
    // The camera directory turns read-only (a read-only bind mount over it: remounting the
    // whole file system read-only is refused while the index database is open for writing).
    let cam = root.join("shed");
    let cam = cam.to_str().unwrap();
    mount(&["--bind", cam, cam]);
    mount(&["-o", "remount,bind,ro", cam]);
    send(100);
    wait_for(&rec, "the error state (read-only)", |s| {
        s.phase == RecorderPhase::Error
    });
    eprintln!("read-only: {:?}", rec.status());
    assert!(rec.status().message.unwrap().contains("Read-only"));
    let st = std::process::Command::new("umount")
        .arg(cam)
        .status()
        .unwrap();
    assert!(st.success(), "umount");
    send(100);
    wait_for(&rec, "recording after remount", |s| {
        s.phase == RecorderPhase::Recording && s.segments > before_ro
    });
    let st = rec.stop();
    eprintln!("final: {st:?}");
    drop(index);
    let (index, report) = RecordingIndex::open(&root).unwrap();
    eprintln!("{report:?}");
    assert_agree(&index);
    let runs = index.timeline("shed", i64::MIN, i64::MAX).unwrap();
    eprintln!("{runs:?}");
    assert!(
        runs.len() >= 3,
        "gaps for the full and the read-only disk: {runs:?}"
    );
    assert_eq!(
        runs.last().unwrap().end_wall_ms,
        common::BASE_WALL_MS + 50_000
    );
}

#[test]
fn a_real_full_then_read_only_file_system() {
    let dir = tmp("smallfs");
    let ok = std::process::Command::new("unshare")
        .args(["-rm", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("\n*** SKIPPED a_real_full_then_read_only_file_system: unprivileged user and mount namespaces (unshare -rm) are not available ***\n");
        return;
    }
    let out = std::process::Command::new("unshare")
        .args([
            "-rm",
            "sh",
            "-c",
            "mount -t tmpfs -o size=2m tmpfs \"$D\" && exec \"$BIN\" --exact small_fs_child --nocapture",
        ])
        .env("D", &dir)
        .env(FS_ENV, &dir)
        .env("BIN", std::env::current_exe().unwrap())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    assert!(out.status.success());
    assert!(text.contains("1 passed"), "the child ran the scenario");
    let _ = std::fs::remove_dir_all(&dir);
}
