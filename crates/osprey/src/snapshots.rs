//! Object-event snapshots, as Frigate's: for each object event, the frame where its object had
//! its best score with the object's box drawn (`snapshots/<camera>/<id>.jpg` beside the event
//! database) and a crop around the box (`<id>.crop.jpg`), served by
//! `GET /api/events/{id}/snapshot.jpg`.
//!
//! The camera thread decides when a picture is due ([`SnapshotPlan`], pure: the event's first
//! frame; a better score, at most once a second per event; at its end, its best frame if that
//! was not written yet) and only queues the shared frame; the thread `osprey-snap` draws,
//! encodes and writes (to a hidden temporary name, then renamed, so a reader never sees half a
//! file). Its queue is bounded: when full, the snapshot is dropped and counted
//! (`osprey_publish_messages_total{sink="snapshots",outcome="dropped"}`). The event store's
//! retention deletes the snapshots of the events it deletes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use osprey_image::{draw, RgbImage};
use osprey_schema::{ObjectEvent, TrackedObject};
use osprey_store::{snapshot_file, EventStore, SnapshotKind};

/// Least time between two snapshots of one event, in seconds (the lifecycle's update period).
pub(crate) const WRITE_EVERY: f64 = osprey_analytics::UPDATE_EVERY;
/// Snapshots waiting for the writer (each holds a frame).
const QUEUE: usize = 16;
/// JPEG quality.
const QUALITY: i32 = 85;
/// The crop: the box plus a quarter of its larger side on each side, at least 128 px each way.
const CROP_MARGIN: f32 = 0.25;
const CROP_MIN: u32 = 128;

/// A snapshot due: object `track_id`'s box on the frame where its score was `score`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Shot<F> {
    /// The event id.
    pub(crate) id: String,
    pub(crate) track_id: u64,
    pub(crate) score: f32,
    /// `[x1, y1, x2, y2]`, the frame's pixels.
    pub(crate) bbox: [f32; 4],
    pub(crate) frame: F,
}

/// One live event.
#[derive(Debug)]
struct Track<F> {
    id: String,
    /// The best score seen (as the lifecycle counts it: matched detections only).
    best_score: f32,
    /// The best frame while it has not been written.
    pending: Option<Shot<F>>,
    /// Wall time of the last write (`-inf`: none).
    last_write: f64,
}

/// When each event of one camera needs a snapshot written. Pure and generic over the frame
/// (`Arc<RgbImage>` in the server), so it holds frames only as long as a snapshot is due: at
/// most [`WRITE_EVERY`] per event.
#[derive(Debug)]
pub(crate) struct SnapshotPlan<F> {
    live: HashMap<u64, Track<F>>,
    every: f64,
}

impl<F: Clone> SnapshotPlan<F> {
    /// A plan writing each event at most once per `every` seconds (and at its end).
    pub(crate) fn new(every: f64) -> Self {
        SnapshotPlan {
            live: HashMap::new(),
            every,
        }
    }

    /// One frame at wall time `now`: the lifecycle's events for it, the frame's objects and its
    /// image (`None`: unknown, nothing of this frame can be written). Returns the snapshots to
    /// write now: a new event's first frame; an event's best frame when its score improved and
    /// at least `every` seconds passed since its last write; at an event's end, its best frame
    /// if not written yet.
    pub(crate) fn on_frame(
        &mut self,
        now: f64,
        events: &[ObjectEvent],
        objects: &[TrackedObject],
        frame: Option<&F>,
    ) -> Vec<Shot<F>> {
        for e in events {
            if let ObjectEvent::New(s) = e {
                let pending = frame.map(|f| Shot {
                    id: s.id.clone(),
                    track_id: s.track_id,
                    score: s.top_score,
                    bbox: s.top_bbox,
                    frame: f.clone(),
                });
                let t = Track {
                    id: s.id.clone(),
                    best_score: s.top_score,
                    pending,
                    last_write: f64::NEG_INFINITY,
                };
                self.live.insert(s.track_id, t);
            }
        }
        for o in objects {
            let Some(t) = self.live.get_mut(&o.track_id) else {
                continue;
            };
            if o.matched && o.confidence > t.best_score {
                t.best_score = o.confidence;
                if let Some(f) = frame {
                    t.pending = Some(Shot {
                        id: t.id.clone(),
                        track_id: o.track_id,
                        score: o.confidence,
                        bbox: o.bbox,
                        frame: f.clone(),
                    });
                }
            }
        }
        let mut out = Vec::new();
        for e in events {
            if let ObjectEvent::End(s) = e {
                // The final best is always kept, however recent the last write.
                out.extend(self.live.remove(&s.track_id).and_then(|t| t.pending));
            }
        }
        for t in self.live.values_mut() {
            if t.pending.is_some() && now - t.last_write >= self.every {
                t.last_write = now;
                out.extend(t.pending.take());
            }
        }
        out
    }

    /// Events alive.
    #[cfg(test)]
    fn live(&self) -> usize {
        self.live.len()
    }
}

/// A snapshot for the writer thread.
struct Job {
    camera: String,
    shot: Shot<Arc<RgbImage>>,
}

/// What the writer thread receives.
enum Msg {
    Write(Job),
    /// Answer once everything queued before is on disk.
    Flush(SyncSender<()>),
}

/// The snapshot writer shared by every camera: its thread `osprey-snap` starts with the first
/// snapshot.
#[derive(Debug)]
pub(crate) struct Snapshots {
    dir: PathBuf,
    counters: prometheus::IntCounterVec,
    /// The queue, or `None` when the thread could not start (not retried).
    tx: OnceLock<Option<SyncSender<Msg>>>,
}

impl Snapshots {
    /// The writer for the event store's snapshots (`None`: no store, no snapshots).
    pub(crate) fn new(
        store: Option<&EventStore>,
        counters: prometheus::IntCounterVec,
    ) -> Option<Snapshots> {
        Some(Snapshots {
            dir: store?.snapshot_dir(),
            counters,
            tx: OnceLock::new(),
        })
    }

    fn sender(&self) -> Option<&SyncSender<Msg>> {
        self.tx
            .get_or_init(|| {
                let (tx, rx) = mpsc::sync_channel(QUEUE);
                let (dir, counters) = (self.dir.clone(), self.counters.clone());
                let started = std::thread::Builder::new()
                    .name("osprey-snap".into())
                    .spawn(move || run(&dir, &rx, &counters));
                match started {
                    Ok(_) => Some(tx),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot start the snapshot writer; no snapshots");
                        None
                    }
                }
            })
            .as_ref()
    }

    /// Queues a snapshot of `camera`; never blocks (a full queue drops it, counted).
    pub(crate) fn send(&self, camera: &str, shot: Shot<Arc<RgbImage>>) {
        let job = Job {
            camera: camera.to_string(),
            shot,
        };
        let outcome = match self.sender().map(|tx| tx.try_send(Msg::Write(job))) {
            Some(Ok(())) => return,
            Some(Err(TrySendError::Full(_))) => {
                tracing::debug!(camera = %camera, "snapshot queue full; snapshot dropped");
                "dropped"
            }
            Some(Err(TrySendError::Disconnected(_))) | None => "failed",
        };
        self.counters
            .with_label_values(&["snapshots", outcome])
            .inc();
    }

    /// Waits until the snapshots queued so far are written (at shutdown, after the cameras
    /// queued their tracks' final snapshots), at most `timeout`.
    pub(crate) fn flush(&self, timeout: std::time::Duration) {
        let Some(Some(tx)) = self.tx.get() else {
            return; // no snapshot was ever queued
        };
        let (ack_tx, ack_rx) = mpsc::sync_channel(1);
        if tx.send(Msg::Flush(ack_tx)).is_ok() && ack_rx.recv_timeout(timeout).is_err() {
            tracing::warn!(
                timeout_s = timeout.as_secs(),
                "snapshots not all written at shutdown"
            );
        }
    }
}

/// The writer thread: until every sender is gone.
fn run(dir: &Path, rx: &Receiver<Msg>, counters: &prometheus::IntCounterVec) {
    remove_temporaries(dir);
    let sent = counters.with_label_values(&["snapshots", "sent"]);
    let failed = counters.with_label_values(&["snapshots", "failed"]);
    while let Ok(msg) = rx.recv() {
        let job = match msg {
            Msg::Write(job) => job,
            Msg::Flush(ack) => {
                let _ = ack.try_send(());
                continue;
            }
        };
        match write(dir, &job) {
            Ok(()) => sent.inc(),
            Err(e) => {
                tracing::warn!(camera = %job.camera, id = %job.shot.id, error = %format!("{e:#}"), "cannot write a snapshot");
                failed.inc();
            }
        }
    }
}

/// Draws the box, encodes the frame and its crop, and writes both (the crop first, so a full
/// snapshot always has its crop).
fn write(dir: &Path, job: &Job) -> anyhow::Result<()> {
    let shot = &job.shot;
    let path = |kind| {
        snapshot_file(dir, &job.camera, &shot.id, kind)
            .with_context(|| format!("{:?} cannot be a file name", shot.id))
    };
    let (full, crop) = (path(SnapshotKind::Full)?, path(SnapshotKind::Crop)?);
    let mut img = (*shot.frame).clone();
    draw::annotate(&mut img, &[(shot.track_id, shot.bbox)]);
    let (x, y, w, h) =
        draw::crop_region(shot.bbox, img.width(), img.height(), CROP_MARGIN, CROP_MIN);
    let cropped = img.crop(x, y, w, h).context("empty crop")?;
    if let Some(parent) = full.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    write_atomically(&crop, &draw::jpeg(&cropped, QUALITY)?)?;
    write_atomically(&full, &draw::jpeg(&img, QUALITY)?)?;
    tracing::debug!(camera = %job.camera, id = %shot.id, score = shot.score, "snapshot written");
    Ok(())
}

/// Writes a snapshot (hidden temporary name, synced, renamed: see
/// [`osprey_base::write_atomically`]).
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    osprey_base::write_atomically(path, bytes, 0o644)
        .with_context(|| format!("writing {}", path.display()))
}

/// Temporary files a crash left behind, in every camera's directory.
fn remove_temporaries(dir: &Path) {
    let Ok(cameras) = std::fs::read_dir(dir) else {
        return;
    };
    for camera in cameras.flatten() {
        let Ok(files) = std::fs::read_dir(camera.path()) else {
            continue;
        };
        for f in files.flatten() {
            let name = f.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') && name.ends_with(".tmp") {
                let _ = std::fs::remove_file(f.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use osprey_schema::ObjectSnapshot;

    use super::*;

    fn obj(id: u64, conf: f32) -> TrackedObject {
        TrackedObject {
            track_id: id,
            class_id: 0,
            label: "person".into(),
            bbox: [conf * 100.0, 0.0, conf * 100.0 + 10.0, 20.0],
            confidence: conf,
            matched: true,
        }
    }

    fn snap(id: u64, conf: f32, t: f64) -> ObjectSnapshot {
        let o = obj(id, conf);
        ObjectSnapshot {
            id: format!("{t:.6}-00000{id}"),
            camera: "cam".into(),
            track_id: id,
            label: "person".into(),
            start_time: t,
            end_time: None,
            top_score: conf,
            top_bbox: o.bbox,
            score: conf,
            bbox: o.bbox,
            frames: 0,
            frame_time: t,
        }
    }

    /// The frames written: (frame number, score).
    fn written(shots: &[Shot<u32>]) -> Vec<(u32, f32)> {
        shots.iter().map(|s| (s.frame, s.score)).collect()
    }

    /// New → written at once; better scores → at most once a second, from the best frame;
    /// worse scores or unmatched boxes → nothing; end → the best frame not yet written.
    #[test]
    fn snapshots_are_due_on_new_on_a_better_score_throttled_and_at_the_end() {
        let mut p = SnapshotPlan::new(1.0);
        let new = ObjectEvent::New(snap(1, 0.5, 100.0));
        let w = p.on_frame(100.0, &[new], &[obj(1, 0.5)], Some(&0));
        assert_eq!(written(&w), [(0, 0.5)]);
        assert_eq!(w[0].id, "100.000000-000001");
        assert_eq!(w[0].bbox, obj(1, 0.5).bbox);
        // Better within the second: due, not yet written; a better one still: it replaces it.
        assert!(p.on_frame(100.3, &[], &[obj(1, 0.6)], Some(&1)).is_empty());
        assert!(p.on_frame(100.6, &[], &[obj(1, 0.7)], Some(&2)).is_empty());
        // Worse: nothing new; once the second is over, the best frame (2) is written.
        assert!(p.on_frame(100.9, &[], &[obj(1, 0.65)], Some(&3)).is_empty());
        let w = p.on_frame(101.0, &[], &[obj(1, 0.6)], Some(&4));
        assert_eq!(written(&w), [(2, 0.7)]);
        assert_eq!(w[0].bbox, obj(1, 0.7).bbox);
        // Nothing better: nothing, however long.
        assert!(p.on_frame(105.0, &[], &[obj(1, 0.7)], Some(&5)).is_empty());
        // A higher score on a predicted (unmatched) box does not count.
        let mut predicted = obj(1, 0.95);
        predicted.matched = false;
        assert!(p.on_frame(106.0, &[], &[predicted], Some(&6)).is_empty());
        // Better after more than a second: written at once.
        assert_eq!(
            written(&p.on_frame(107.0, &[], &[obj(1, 0.8)], Some(&7))),
            [(7, 0.8)]
        );
        // Better again right away: held; the end writes it however recent the last write.
        assert!(p.on_frame(107.2, &[], &[obj(1, 0.9)], Some(&8)).is_empty());
        let end = ObjectEvent::End(snap(1, 0.9, 100.0));
        assert_eq!(written(&p.on_frame(107.4, &[end], &[], None)), [(8, 0.9)]);
        assert_eq!(p.live(), 0);
    }

    #[test]
    fn an_end_after_the_last_write_writes_nothing_and_events_are_independent() {
        let mut p = SnapshotPlan::new(1.0);
        let w = p.on_frame(
            10.0,
            &[
                ObjectEvent::New(snap(1, 0.5, 10.0)),
                ObjectEvent::New(snap(2, 0.4, 10.0)),
            ],
            &[obj(1, 0.5), obj(2, 0.4)],
            Some(&0),
        );
        let mut ids: Vec<&str> = w.iter().map(|s| s.id.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["10.000000-000001", "10.000000-000002"]);
        // Object 2 improves and is held; object 1 ends with nothing new to write.
        assert!(p.on_frame(10.5, &[], &[obj(2, 0.6)], Some(&1)).is_empty());
        let end1 = ObjectEvent::End(snap(1, 0.5, 10.0));
        assert!(p
            .on_frame(10.6, &[end1], &[obj(2, 0.5)], Some(&2))
            .is_empty());
        let w = p.on_frame(11.0, &[], &[obj(2, 0.5)], Some(&3));
        assert_eq!(written(&w), [(1, 0.6)]);
        assert_eq!(w[0].track_id, 2);
        // A frame without an image: scores count, nothing can be written from it.
        assert!(p.on_frame(12.0, &[], &[obj(2, 0.9)], None).is_empty());
        let end2 = ObjectEvent::End(snap(2, 0.9, 10.0));
        assert!(p.on_frame(12.5, &[end2], &[], None).is_empty());
        // Objects of no known event are ignored.
        assert!(p.on_frame(13.0, &[], &[obj(9, 0.9)], Some(&4)).is_empty());
    }

    /// The writer: both files, valid JPEGs of the frame's and the crop's size; temporary
    /// files cleaned; unsafe names refused.
    #[test]
    fn the_writer_writes_both_pictures_atomically() {
        let dir = std::env::temp_dir().join(format!("osprey-snaps-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("cam")).expect("dir");
        std::fs::write(dir.join("cam/.x.jpg.tmp"), b"half").expect("tmp");
        remove_temporaries(&dir);
        assert!(!dir.join("cam/.x.jpg.tmp").exists());
        let job = |id: &str| Job {
            camera: "cam".into(),
            shot: Shot {
                id: id.into(),
                track_id: 3,
                score: 0.9,
                bbox: [300.0, 200.0, 340.0, 300.0],
                frame: Arc::new(RgbImage::filled(640, 360, [40, 40, 40])),
            },
        };
        write(&dir, &job("5.000000-abcdef")).expect("write");
        let size = |kind| {
            let p = snapshot_file(&dir, "cam", "5.000000-abcdef", kind).expect("path");
            let img = osprey_image::decode(&std::fs::read(p).expect("read"), &Default::default())
                .expect("jpeg");
            (img.width(), img.height())
        };
        assert_eq!(size(SnapshotKind::Full), (640, 360));
        // The minimum width; the 100 px tall box and 25 px each side.
        assert_eq!(size(SnapshotKind::Crop), (128, 150));
        let names: Vec<String> = std::fs::read_dir(dir.join("cam"))
            .expect("ls")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "no temporary left: {names:?}");
        assert!(write(&dir, &job("../escape")).is_err());
        assert!(!dir.join("escape.jpg").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
