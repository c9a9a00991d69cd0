//! One inference worker per model: a named OS thread that owns the `Detector`, fed by a bounded
//! queue, replying through oneshot channels.
//!
//! Requests from every client (and, later, every camera) share the queue. When the model's batch
//! axis is dynamic the worker micro-batches: after taking the first job it waits up to
//! `batch_wait` for more, up to `max_batch`, and runs them together (images of different letterbox
//! shapes run as separate groups inside `Detector::infer_each`). A full queue is reported to the
//! caller immediately ([`SubmitError::QueueFull`]) so the HTTP layer can answer 503 instead of
//! letting latency grow without bound.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use osprey_detect::{
    BatchAxis, DetectError, DetectParams, Detection, Detector, ModelInfo, Prepared, Preprocessor,
    Provider,
};

/// What a job gets back.
#[derive(Debug)]
pub struct JobOutput {
    /// Detections in original-image pixels, best first.
    pub detections: Vec<Detection>,
    /// Time the job waited in the queue.
    pub queue_wait: Duration,
    /// ONNX Runtime time of the batch the job ran in.
    pub inference: Duration,
    /// Postprocessing time of that batch.
    pub postprocess: Duration,
    /// Images in that batch.
    pub batch_size: usize,
}

struct Job {
    prepared: Prepared,
    params: DetectParams,
    enqueued: Instant,
    reply: tokio::sync::oneshot::Sender<Result<JobOutput, DetectError>>,
}

/// Why a job was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubmitError {
    /// The queue is at capacity.
    #[error("the inference queue for model {0} is full; retry shortly")]
    QueueFull(String),
    /// The worker thread has stopped.
    #[error("the inference worker for model {0} has stopped")]
    Stopped(String),
}

/// Counters a worker keeps (read by the status page and, later, metrics).
#[derive(Debug, Default)]
pub struct WorkerStats {
    /// Jobs waiting.
    pub queued: AtomicUsize,
    /// Jobs completed.
    pub completed: AtomicU64,
    /// `run` calls made.
    pub batches: AtomicU64,
    /// Jobs refused because the queue was full.
    pub rejected: AtomicU64,
    /// Whether warm-up has finished.
    pub ready: AtomicBool,
}

/// Batching knobs.
#[derive(Debug, Clone, Copy)]
pub struct BatchConfig {
    /// Queue capacity.
    pub queue_capacity: usize,
    /// Largest batch.
    pub max_batch: usize,
    /// How long the first job waits for company.
    pub batch_wait: Duration,
}

/// A handle to a model's worker; cheap to clone.
#[derive(Clone, Debug)]
pub struct ModelHandle {
    name: Arc<str>,
    info: Arc<ModelInfo>,
    provider: Provider,
    preprocessor: Preprocessor,
    tx: SyncSender<Job>,
    stats: Arc<WorkerStats>,
}

impl ModelHandle {
    /// The model's name (file stem).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The model's description.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Provider in use.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// Letterboxes images for this model (call from a blocking thread).
    pub fn preprocessor(&self) -> &Preprocessor {
        &self.preprocessor
    }

    /// Worker counters.
    pub fn stats(&self) -> &WorkerStats {
        &self.stats
    }

    /// Queues a prepared image; the receiver yields the result.
    pub fn submit(
        &self,
        prepared: Prepared,
        params: DetectParams,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<JobOutput, DetectError>>, SubmitError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let job = Job {
            prepared,
            params,
            enqueued: Instant::now(),
            reply,
        };
        // Count before sending so the worker's decrement can never run first.
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(job) {
            Ok(()) => Ok(rx),
            Err(e) => {
                self.stats.queued.fetch_sub(1, Ordering::Relaxed);
                match e {
                    TrySendError::Full(_) => {
                        self.stats.rejected.fetch_add(1, Ordering::Relaxed);
                        Err(SubmitError::QueueFull(self.name.to_string()))
                    }
                    TrySendError::Disconnected(_) => {
                        Err(SubmitError::Stopped(self.name.to_string()))
                    }
                }
            }
        }
    }
}

/// Starts the worker thread `osprey-infer-<name>` owning `detector`. It first runs one warm-up
/// inference on `warmup` (or a grey frame), then sets `ready` and serves jobs until every
/// handle is dropped.
pub fn spawn(
    name: &str,
    detector: Detector,
    cfg: BatchConfig,
    warmup: Option<osprey_image::RgbImage>,
    batch_sizes: prometheus::Histogram,
) -> std::io::Result<ModelHandle> {
    let (tx, rx) = mpsc::sync_channel::<Job>(cfg.queue_capacity.max(1));
    let stats = Arc::new(WorkerStats::default());
    let info = Arc::new(detector.info().clone());
    let handle = ModelHandle {
        name: Arc::from(name),
        provider: detector.provider(),
        preprocessor: detector.preprocessor(),
        info,
        tx,
        stats: Arc::clone(&stats),
    };
    let max_batch = match detector.info().batch {
        BatchAxis::Dynamic => cfg.max_batch.max(1),
        BatchAxis::Fixed(n) => n.max(1),
    };
    let model = name.to_string();
    std::thread::Builder::new().name(format!("osprey-infer-{name}")).spawn(move || {
        let mut detector = detector;
        let t = Instant::now();
        let img = warmup.unwrap_or_else(|| osprey_image::RgbImage::filled(640, 480, [114, 114, 114]));
        match detector.detect(&img, &DetectParams::default()) {
            Ok(_) => tracing::info!(model = %model, warmup_ms = t.elapsed().as_millis() as u64, "model warmed up"),
            Err(e) => tracing::error!(model = %model, error = %e, "warm-up inference failed"),
        }
        stats.ready.store(true, Ordering::Release);
        run(&mut detector, &rx, max_batch, cfg.batch_wait, &stats, &batch_sizes);
        tracing::info!(model = %model, "inference worker stopped");
    })?;
    Ok(handle)
}

fn run(
    detector: &mut Detector,
    rx: &mpsc::Receiver<Job>,
    max_batch: usize,
    wait: Duration,
    stats: &WorkerStats,
    batch_sizes: &prometheus::Histogram,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        let deadline = Instant::now() + wait;
        while batch.len() < max_batch {
            // Take whatever is already queued without waiting, then wait out the window.
            match rx.try_recv() {
                Ok(job) => {
                    batch.push(job);
                    continue;
                }
                Err(mpsc::TryRecvError::Disconnected) => break,
                Err(mpsc::TryRecvError::Empty) => {}
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            match rx.recv_timeout(deadline - now) {
                Ok(job) => batch.push(job),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        stats.queued.fetch_sub(batch.len(), Ordering::Relaxed);
        let started = Instant::now();
        let items: Vec<(&Prepared, &DetectParams)> =
            batch.iter().map(|j| (&j.prepared, &j.params)).collect();
        let result = detector.infer_each(&items);
        stats.batches.fetch_add(1, Ordering::Relaxed);
        let n = batch.len();
        batch_sizes.observe(n as f64);
        match result {
            Ok((mut outputs, timings)) => {
                outputs.reverse();
                for job in batch.drain(..) {
                    let detections = outputs.pop().unwrap_or_default();
                    let out = JobOutput {
                        detections,
                        queue_wait: started.saturating_duration_since(job.enqueued),
                        inference: timings.inference,
                        postprocess: timings.postprocess,
                        batch_size: n,
                    };
                    // The requester may have timed out and gone; that is fine.
                    let _ = job.reply.send(Ok(out));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, batch = n, "inference failed");
                let msg = e.to_string();
                for job in batch.drain(..) {
                    let _ = job.reply.send(Err(DetectError::Runtime(msg.clone())));
                }
            }
        }
        stats.completed.fetch_add(n as u64, Ordering::Relaxed);
    }
}
