//! [`Recorder`]: one camera's recording thread (`osprey-rec-<camera>`), fed by a bounded
//! channel of access units ([`RecorderFeed`], handed to the reader's access-unit tap).
//!
//! The thread writes segments through a [`SegmentWriter`] over a [`SegmentSink`] (an
//! [`FsSink`] in the camera's directory by default), inserts each finished segment in the
//! [`RecordingIndex`] and runs retention after it. On a storage error (disk full, read-only
//! file system, index failure) it enters the error state (counted, message kept), drops what
//! arrives (counted) and retries every [`RecorderConfig::retry_interval`], running retention
//! first; it resumes on its own at the next keyframe once writing works again.
//!
//! When the channel is full the feed drops the unit (counted) and every following one until a
//! keyframe, and marks that keyframe so the recorder starts a new segment there: a segment never
//! misses a frame in the middle, and a drop shows as a gap in the timeline.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use osprey_base::{lock, Shutdown};
use osprey_schema::media::{EncodedEvent, EncodedStream, EncodedUnit};

use crate::index::RecordingIndex;
use crate::retention::Quotas;
use crate::sink::{FsSink, SegmentSink};
use crate::status::{unix_ms, RecorderPhase, RecorderStatus};
use crate::{
    AccessUnit, Codec, ParameterSets, RecordError, SegmentInfo, SegmentWriter, WriterConfig,
};

/// The file system's free bytes, or `None` when unknown.
pub type DiskFreeFn = Arc<dyn Fn() -> Option<u64> + Send + Sync>;

/// How a [`Recorder`] records.
#[derive(Clone)]
pub struct RecorderConfig {
    /// The camera (its directory name: `[A-Za-z0-9._-]`, 1–64 characters).
    pub camera: String,
    /// Segments end at the first keyframe after a wall-clock boundary every this many ms.
    pub rotate_interval_ms: i64,
    /// Offset of the boundaries (stagger cameras so they do not rotate at once).
    pub rotate_offset_ms: i64,
    /// Access units buffered between the reader and the recorder thread.
    pub queue: usize,
    /// Wait between retries in the error state.
    pub retry_interval: Duration,
    /// Retention limits applied after each segment (to every camera of the index).
    pub quotas: Quotas,
    /// Limits shared by every recorder of the index (a [`crate::Library`]'s); when set they
    /// are used instead of `quotas`, so a camera added later changes every recorder's view.
    pub shared_quotas: Option<Arc<std::sync::RwLock<Quotas>>>,
    /// Free space of the recordings' file system (default: `statvfs` of the index root).
    pub disk_free: Option<DiskFreeFn>,
}

impl std::fmt::Debug for RecorderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecorderConfig")
            .field("camera", &self.camera)
            .field("rotate_interval_ms", &self.rotate_interval_ms)
            .field("rotate_offset_ms", &self.rotate_offset_ms)
            .field("queue", &self.queue)
            .field("retry_interval", &self.retry_interval)
            .field("quotas", &self.quotas)
            .finish_non_exhaustive()
    }
}

impl RecorderConfig {
    /// Defaults: 60 s segments staggered by a hash of the camera name, 256 queued units,
    /// retries every 5 s, no quota.
    pub fn new(camera: impl Into<String>) -> RecorderConfig {
        let camera = camera.into();
        let stagger = camera
            .bytes()
            .fold(0i64, |h, b| (h * 31 + i64::from(b)) % 60_000);
        RecorderConfig {
            camera,
            rotate_interval_ms: 60_000,
            rotate_offset_ms: stagger,
            queue: 256,
            retry_interval: Duration::from_secs(5),
            quotas: Quotas::default(),
            shared_quotas: None,
            disk_free: None,
        }
    }
}

/// What the feed sends to the recorder thread.
#[derive(Debug)]
enum Input {
    Event(EncodedEvent),
    /// A keyframe after units were dropped: start a new segment here.
    Resync(EncodedUnit),
}

/// A range of wall-clock time to keep (an event's video): protected until `until_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hold {
    start_ms: i64,
    end_ms: i64,
    until_ms: i64,
}

/// The sending side of a recorder's queue: cheap to clone, `Send`; call
/// [`RecorderFeed::send`] from the reader's access-unit tap. Never blocks.
#[derive(Debug, Clone)]
pub struct RecorderFeed {
    tx: SyncSender<Input>,
    shared: Arc<Shared>,
}

impl RecorderFeed {
    /// Asks the recorder to keep `[start_ms, end_ms)` of wall-clock time (an event and its
    /// pre- and post-roll) until `until_ms`, also the parts not written yet. Never blocks;
    /// applied on the recorder's thread within its next 100 ms.
    pub fn hold(&self, start_ms: i64, end_ms: i64, until_ms: i64) {
        let mut holds = lock(&self.shared.holds);
        // Bounded: a flood of events keeps the widest ranges by merging into the last.
        if holds.len() >= 1024 {
            if let Some(last) = holds.last_mut() {
                last.start_ms = last.start_ms.min(start_ms);
                last.end_ms = last.end_ms.max(end_ms);
                last.until_ms = last.until_ms.max(until_ms);
            }
            return;
        }
        holds.push(Hold {
            start_ms,
            end_ms,
            until_ms,
        });
    }

    /// Queues one tap event. Returns `false` when it was dropped (queue full, or recorder
    /// stopped); after a drop, units are dropped until the next keyframe.
    pub fn send(&self, ev: EncodedEvent) -> bool {
        let resync = &self.shared.resync;
        let msg = match ev {
            EncodedEvent::Unit(u) if resync.load(Ordering::Relaxed) => {
                if !u.keyframe {
                    self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                    return false;
                }
                Input::Resync(u)
            }
            ev => Input::Event(ev),
        };
        let was_resync = matches!(msg, Input::Resync(_));
        match self.tx.try_send(msg) {
            Ok(()) => {
                if was_resync {
                    resync.store(false, Ordering::Relaxed);
                }
                true
            }
            Err(TrySendError::Full(Input::Event(ev @ EncodedEvent::Stream(_))))
            | Err(TrySendError::Full(Input::Event(ev @ EncodedEvent::Unrecordable(_)))) => {
                // Never lost: the recorder takes it once the queue is drained.
                *lock(&self.shared.pending) = Some(ev);
                resync.store(true, Ordering::Relaxed);
                false
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                resync.store(true, Ordering::Relaxed);
                false
            }
        }
    }
}

#[derive(Debug, Default)]
struct Shared {
    status: Mutex<RecorderStatus>,
    /// Units dropped by the feed (queue full or recorder gone).
    dropped: AtomicU64,
    resync: AtomicBool,
    /// A stream announcement (or end) that found the queue full; it follows every unit queued
    /// before it and precedes the keyframe that ends the resync.
    pending: Mutex<Option<EncodedEvent>>,
    /// Ranges to keep, applied by the recorder thread (index writes stay off the caller's
    /// thread); at most a few per object event.
    holds: Mutex<Vec<Hold>>,
}

/// One camera's recorder: the thread and its feed. Dropping it stops the thread after it
/// finishes the open segment.
#[derive(Debug)]
pub struct Recorder {
    feed: RecorderFeed,
    stop: Shutdown,
    thread: Option<JoinHandle<()>>,
    index: RecordingIndex,
    camera: String,
}

impl Recorder {
    /// Starts recording `cfg.camera` into its directory of `index` with an [`FsSink`].
    pub fn start(index: RecordingIndex, cfg: RecorderConfig) -> Result<Recorder, RecordError> {
        let dir = index.camera_dir(&cfg.camera)?;
        Recorder::start_with_sink(index, cfg, FsSink::new(dir))
    }

    /// Starts recording through `sink` (tests: a sink that fails like a full disk). The sink
    /// must create files in the camera's directory of `index` for the index to find them.
    pub fn start_with_sink<S>(
        index: RecordingIndex,
        cfg: RecorderConfig,
        sink: S,
    ) -> Result<Recorder, RecordError>
    where
        S: SegmentSink + Send + 'static,
        S::Handle: Send,
    {
        index.camera_dir(&cfg.camera)?;
        let (tx, rx) = sync_channel(cfg.queue.max(1));
        let shared = Arc::new(Shared::default());
        let stop = Shutdown::new();
        let mut worker = Worker {
            index: index.clone(),
            rx,
            shared: shared.clone(),
            stop: stop.clone(),
            writer: None,
            sink: Some(sink),
            ps: ParameterSets::default(),
            retry_at: None,
            unindexed: Vec::new(),
            cfg: cfg.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("osprey-rec-{}", cfg.camera))
            .spawn(move || worker.run())
            .map_err(|e| RecordError::storage("spawn", &cfg.camera, e))?;
        Ok(Recorder {
            feed: RecorderFeed { tx, shared },
            stop,
            thread: Some(thread),
            index,
            camera: cfg.camera.clone(),
        })
    }

    /// The feed to hand to the reader's tap: `reader.set_tap(move |ev| { feed.send(ev); })`.
    pub fn feed(&self) -> RecorderFeed {
        self.feed.clone()
    }

    /// The recorder's state and counters now.
    pub fn status(&self) -> RecorderStatus {
        let mut s = lock(&self.feed.shared.status).clone();
        s.units_dropped += self.feed.shared.dropped.load(Ordering::Relaxed);
        (s.deleted_segments, s.deleted_bytes) = self.index.deleted(&self.camera);
        s
    }

    /// Stops the thread after it drains the queue and finishes the open segment; returns the
    /// final status.
    pub fn stop(mut self) -> RecorderStatus {
        self.shutdown();
        self.status()
    }

    fn shutdown(&mut self) {
        self.stop.trigger();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The recorder thread's state.
struct Worker<S: SegmentSink> {
    index: RecordingIndex,
    rx: Receiver<Input>,
    shared: Arc<Shared>,
    stop: Shutdown,
    writer: Option<SegmentWriter<S>>,
    /// The sink while no writer holds it.
    sink: Option<S>,
    ps: ParameterSets,
    /// In the error state: when to try again.
    retry_at: Option<Instant>,
    /// Finished segments whose row could not be inserted yet.
    unindexed: Vec<SegmentInfo>,
    cfg: RecorderConfig,
}

impl<S: SegmentSink> Worker<S> {
    fn run(&mut self) {
        // After the stop, at most one queue's worth is drained (the feed may still be sending).
        let mut drain = self.cfg.queue.max(1);
        loop {
            let msg = if self.stop.is_triggered() {
                match self.rx.try_recv() {
                    Ok(m) if drain > 0 => m,
                    _ => break,
                }
            } else {
                match self.rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(m) => m,
                    Err(RecvTimeoutError::Timeout) => {
                        self.take_pending();
                        self.apply_holds();
                        self.maybe_retry();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            };
            if self.stop.is_triggered() {
                drain -= 1;
            }
            match msg {
                Input::Event(ev) => self.event(ev),
                Input::Resync(u) => {
                    self.take_pending();
                    self.finish_segment();
                    self.unit(&u);
                }
            }
            self.collect_closed();
            // Holds must not wait for a lull in the stream: unheld video ages out.
            self.apply_holds();
        }
        self.finish_segment();
        self.collect_closed();
        self.apply_holds();
        if !matches!(self.phase(), RecorderPhase::Error) {
            self.set_phase(RecorderPhase::Off, None);
        }
    }

    fn event(&mut self, ev: EncodedEvent) {
        match ev {
            EncodedEvent::Stream(s) => self.new_stream(&s),
            EncodedEvent::Unit(u) => self.unit(&u),
            EncodedEvent::Unrecordable(why) => {
                self.end_stream();
                self.set_phase(RecorderPhase::Unrecordable, Some(why));
            }
        }
    }

    /// Protects the ranges asked for (and keeps them as holds for segments still to come).
    fn apply_holds(&mut self) {
        let holds = {
            let mut h = lock(&self.shared.holds);
            if h.is_empty() {
                return;
            }
            std::mem::take(&mut *h)
        };
        for h in holds {
            if let Err(e) =
                self.index
                    .protect(&self.cfg.camera, h.start_ms, h.end_ms, Some(h.until_ms))
            {
                tracing::warn!(camera = %self.cfg.camera, error = %e, "cannot protect an event's recording");
            }
        }
    }

    /// Handles a control event the feed could not queue.
    fn take_pending(&mut self) {
        let pending = lock(&self.shared.pending).take();
        if let Some(ev) = pending {
            self.event(ev);
            self.collect_closed();
        }
    }

    fn phase(&self) -> RecorderPhase {
        lock(&self.shared.status).phase
    }

    fn set_phase(&self, phase: RecorderPhase, message: Option<String>) {
        let mut s = lock(&self.shared.status);
        s.phase = phase;
        s.message = message;
    }

    /// Finishes and indexes the open segment, and takes the sink back from the writer.
    fn end_stream(&mut self) {
        self.finish_segment();
        self.collect_closed();
        self.drop_writer();
    }

    fn drop_writer(&mut self) {
        if let Some(w) = self.writer.take() {
            self.sink = Some(w.into_sink());
        }
    }

    fn new_stream(&mut self, s: &EncodedStream) {
        let codec = Codec::from(s.codec);
        self.end_stream();
        let Some(sink) = self.sink.take() else {
            return;
        };
        let mut wc = WriterConfig::new(codec);
        wc.rotate_interval_ms = self.cfg.rotate_interval_ms;
        wc.rotate_offset_ms = self.cfg.rotate_offset_ms;
        let mut w = SegmentWriter::new(sink, wc);
        self.ps = ParameterSets::from_annexb(codec, &s.parameter_sets);
        w.set_parameter_sets(self.ps.clone());
        self.writer = Some(w);
        if !matches!(self.phase(), RecorderPhase::Error) {
            self.set_phase(RecorderPhase::Recording, None);
        }
        lock(&self.shared.status).codec = Some(s.codec.as_str().to_owned());
    }

    fn unit(&mut self, u: &EncodedUnit) {
        lock(&self.shared.status).units_received += 1;
        if self.retry_at.is_some() && !self.maybe_retry() {
            lock(&self.shared.status).units_dropped += 1;
            return;
        }
        let Some(w) = self.writer.as_mut() else {
            lock(&self.shared.status).units_dropped += 1;
            return;
        };
        let pushed = w.push(AccessUnit {
            data: &u.data,
            pts_90k: u.pts_90k,
            wall_unix_ms: u.wall_unix_ms,
        });
        match pushed {
            Ok(()) if w.is_open() && self.retry_at.is_none() => {
                if !matches!(self.phase(), RecorderPhase::Recording) {
                    self.set_phase(RecorderPhase::Recording, None);
                }
            }
            Ok(()) => {}
            Err(e) => self.fail(&e),
        }
    }

    /// Enters (or stays in) the error state.
    fn fail(&mut self, e: &RecordError) {
        let msg = e.to_string();
        tracing::warn!(camera = %self.cfg.camera, error = %msg, "recording failed; retrying");
        self.retry_at = Some(Instant::now() + self.cfg.retry_interval);
        let mut s = lock(&self.shared.status);
        s.phase = RecorderPhase::Error;
        s.message = Some(msg.clone());
        s.errors += 1;
        s.last_error = Some(msg);
        s.last_error_unix_ms = Some(unix_ms());
    }

    /// In the error state, once the retry time has come: retention (it may free space), the
    /// rows not inserted yet, then writing resumes at the next keyframe. Returns whether
    /// writing may go on.
    fn maybe_retry(&mut self) -> bool {
        match self.retry_at {
            None => true,
            Some(t) if Instant::now() < t => false,
            Some(_) => {
                self.retry_at = None;
                self.retention();
                self.index_pending();
                // Back to work unless that failed; the phase (and its message) stays `Error`
                // until a segment is open again.
                self.retry_at.is_none()
            }
        }
    }

    fn finish_segment(&mut self) {
        if let Some(w) = self.writer.as_mut() {
            if let Err(e) = w.close() {
                self.fail(&e);
            }
        }
    }

    /// Indexes the segments the writer finished, then runs retention.
    fn collect_closed(&mut self) {
        let Some(w) = self.writer.as_mut() else {
            return;
        };
        let closed = w.take_closed();
        if closed.is_empty() {
            return;
        }
        {
            let mut s = lock(&self.shared.status);
            for info in &closed {
                s.segments += 1;
                s.bytes += info.bytes;
                s.frames += u64::from(info.frames);
                s.last_segment_end_unix_ms = Some(info.end_wall_ms);
            }
        }
        self.unindexed.extend(closed);
        self.index_pending();
        self.retention();
    }

    fn index_pending(&mut self) {
        while let Some(info) = self.unindexed.first() {
            match self.index.insert(&self.cfg.camera, info) {
                Ok(_) => {
                    self.unindexed.remove(0);
                }
                Err(e) => {
                    self.fail(&e);
                    return;
                }
            }
        }
    }

    fn retention(&mut self) {
        let free = match &self.cfg.disk_free {
            Some(f) => f(),
            None => disk_free(self.index.root()),
        };
        let quotas = match &self.cfg.shared_quotas {
            Some(q) => q
                .read()
                .map_or_else(|p| p.into_inner().clone(), |q| q.clone()),
            None => self.cfg.quotas.clone(),
        };
        match self.index.apply_retention(&quotas, unix_ms(), free) {
            // A pass may delete other cameras' segments (shared quotas, the disk watermark):
            // the index counts deletions per camera, and the status reads them from there.
            Ok(_) => lock(&self.shared.status).disk_free_bytes = free,
            Err(e) => tracing::warn!(camera = %self.cfg.camera, error = %e, "retention failed"),
        }
    }
}

/// Free bytes (for unprivileged users) of the file system holding `path`.
pub fn disk_free(path: &std::path::Path) -> Option<u64> {
    let st = rustix::fs::statvfs(path).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Size and free bytes (for unprivileged users) of the file system holding `path`:
/// `(total, free)`.
pub fn disk_space(path: &std::path::Path) -> Option<(u64, u64)> {
    let st = rustix::fs::statvfs(path).ok()?;
    Some((
        st.f_blocks.saturating_mul(st.f_frsize),
        st.f_bavail.saturating_mul(st.f_frsize),
    ))
}
