//! One inference worker per model: a named OS thread that owns the `Detector`, fed by a bounded
//! queue, replying through oneshot channels.
//!
//! Two bounded lanes feed it: HTTP requests (every client) and camera frames (every camera).
//! HTTP jobs always go first — Frigate's 100 ms budget must hold while cameras run — and camera
//! frames fill the rest of each batch. When the model's batch axis is dynamic the worker
//! micro-batches: after taking the first job it waits up to `batch_wait` for more, up to
//! `max_batch`, and runs them together (images of different letterbox shapes run as separate
//! groups inside `Detector::infer_each`). A full lane is reported to the caller immediately
//! ([`SubmitError::QueueFull`]) so the HTTP layer can answer 503 and a camera can drop the frame,
//! instead of letting latency grow without bound.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use osprey_detect::{
    BatchAxis, DetectError, DetectParams, Detection, Detector, Engine, ModelInfo, Prepared,
    Preprocessor, Provider, StageTimings,
};

use crate::pool::Pool;

/// What happens to a job a stream thread finished: the reply and the counters.
type Finish =
    dyn Fn(Job, Lane, Instant, Result<(Vec<Detection>, StageTimings), DetectError>) + Send + Sync;

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

pub(crate) struct Job {
    pub(crate) prepared: Prepared,
    pub(crate) params: DetectParams,
    enqueued: Instant,
    reply: tokio::sync::oneshot::Sender<Result<JobOutput, DetectError>>,
}

impl Job {
    /// Sends the job's result (the requester may have timed out and gone; that is fine).
    fn deliver(
        self,
        started: Instant,
        result: Result<Vec<Detection>, &str>,
        timings: &StageTimings,
        batch_size: usize,
    ) {
        let out = result
            .map(|detections| JobOutput {
                detections,
                queue_wait: started.saturating_duration_since(self.enqueued),
                inference: timings.inference,
                postprocess: timings.postprocess,
                batch_size,
            })
            .map_err(|msg| DetectError::Runtime(msg.to_string()));
        let _ = self.reply.send(out);
    }
}

/// Where a job's result arrives.
pub type Reply = tokio::sync::oneshot::Receiver<Result<JobOutput, DetectError>>;

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

impl osprey_base::Kinded for SubmitError {
    fn kind(&self) -> osprey_base::ErrorKind {
        osprey_base::ErrorKind::Unavailable
    }
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
    /// Camera frames completed.
    pub camera_completed: AtomicU64,
    /// Whether warm-up has finished.
    pub ready: AtomicBool,
}

/// Batching knobs.
#[derive(Debug, Clone, Copy)]
pub struct BatchConfig {
    /// HTTP lane capacity.
    pub queue_capacity: usize,
    /// Camera lane capacity.
    pub camera_capacity: usize,
    /// Largest batch.
    pub max_batch: usize,
    /// Largest batch of camera frames: an HTTP request arriving while one runs waits for it.
    pub camera_max_batch: usize,
    /// How long the first job waits for company.
    pub batch_wait: Duration,
}

#[derive(Default)]
struct Lanes {
    http: VecDeque<Job>,
    camera: VecDeque<Job>,
    closed: bool,
}

/// The two lanes and their capacities, shared by the handles and the worker thread.
struct Queue {
    lanes: Mutex<Lanes>,
    ready: Condvar,
    http_capacity: usize,
    camera_capacity: usize,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, Lanes> {
        // A panic while holding the lock cannot leave the deques inconsistent.
        osprey_base::lock(&self.lanes)
    }
}

/// Closes the queue when the last handle goes, so the worker thread ends.
struct Closer(Arc<Queue>);

impl Drop for Closer {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.ready.notify_all();
    }
}

/// Which lane a job goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// HTTP clients: always served first.
    Http,
    /// Camera frames: fill the batches around HTTP jobs.
    Camera,
}

/// A handle to a model's worker; cheap to clone.
#[derive(Clone)]
pub struct ModelHandle {
    name: Arc<str>,
    info: Arc<ModelInfo>,
    provider: Provider,
    engine: Engine,
    preprocessor: Preprocessor,
    queue: Arc<Queue>,
    _closer: Arc<Closer>,
    stats: Arc<WorkerStats>,
    precision: &'static str,
    in_flight: usize,
}

impl std::fmt::Debug for ModelHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelHandle")
            .field("name", &self.name)
            .field("provider", &self.provider)
            .finish()
    }
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

    /// Inference engine in use (`ort` or `openvino`).
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Letterboxes images for this model (call from a blocking thread).
    pub fn preprocessor(&self) -> &Preprocessor {
        &self.preprocessor
    }

    /// Inferences the engine runs at once when several jobs wait (`--streams`).
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Worker counters.
    pub fn stats(&self) -> &WorkerStats {
        &self.stats
    }

    /// Numeric precision of inference: `fp32`, `bf16`, `int8` (the detector's resolved
    /// precision), or `fp16` (TensorRT with `--half`).
    pub fn precision(&self) -> &'static str {
        self.precision
    }

    /// The same handle reporting `precision`.
    pub fn with_precision(mut self, precision: &'static str) -> ModelHandle {
        self.precision = precision;
        self
    }

    /// Queues a prepared image from an HTTP client; the receiver yields the result.
    pub fn submit(&self, prepared: Prepared, params: DetectParams) -> Result<Reply, SubmitError> {
        self.submit_to(Lane::Http, prepared, params)
    }

    /// Queues a prepared image on `lane`; the receiver yields the result (a camera thread
    /// waits with `blocking_recv`).
    pub fn submit_to(
        &self,
        lane: Lane,
        prepared: Prepared,
        params: DetectParams,
    ) -> Result<Reply, SubmitError> {
        self.submit_or_return(lane, prepared, params)
            .map_err(|b| b.0)
    }

    /// Like [`ModelHandle::submit_to`], but a refused image comes back with the error, so a
    /// caller that retries does not copy the tensor for every attempt.
    pub fn submit_or_return(
        &self,
        lane: Lane,
        prepared: Prepared,
        params: DetectParams,
    ) -> Result<Reply, Box<(SubmitError, Prepared, DetectParams)>> {
        let mut lanes = self.queue.lock();
        if lanes.closed {
            return Err(Box::new((
                SubmitError::Stopped(self.name.to_string()),
                prepared,
                params,
            )));
        }
        let (q, cap) = match lane {
            Lane::Http => (&mut lanes.http, self.queue.http_capacity),
            Lane::Camera => (&mut lanes.camera, self.queue.camera_capacity),
        };
        if q.len() >= cap {
            self.stats.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(Box::new((
                SubmitError::QueueFull(self.name.to_string()),
                prepared,
                params,
            )));
        }
        let (reply, rx) = tokio::sync::oneshot::channel();
        let job = Job {
            prepared,
            params,
            enqueued: Instant::now(),
            reply,
        };
        q.push_back(job);
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        drop(lanes);
        self.queue.ready.notify_one();
        Ok(rx)
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
    let queue = Arc::new(Queue {
        lanes: Mutex::new(Lanes::default()),
        ready: Condvar::new(),
        http_capacity: cfg.queue_capacity.max(1),
        camera_capacity: cfg.camera_capacity.max(1),
    });
    let stats = Arc::new(WorkerStats::default());
    let info = Arc::new(detector.info().clone());
    let handle = ModelHandle {
        name: Arc::from(name),
        provider: detector.provider(),
        engine: detector.engine(),
        preprocessor: detector.preprocessor(),
        info,
        queue: Arc::clone(&queue),
        _closer: Arc::new(Closer(Arc::clone(&queue))),
        stats: Arc::clone(&stats),
        precision: detector.precision().as_str(),
        in_flight: detector.parallelism(),
    };
    let (max_batch, wait) = batch_limits(detector.info().batch, detector.parallelism(), &cfg);
    let limits = (max_batch, cfg.camera_max_batch.clamp(1, max_batch));
    let model = name.to_string();
    std::thread::Builder::new().name(format!("osprey-infer-{name}")).spawn(move || {
        let mut detector = detector;
        let t = Instant::now();
        let img = warmup.unwrap_or_else(|| osprey_image::RgbImage::filled(640, 480, [114, 114, 114]));
        match detector.detect(&img, &DetectParams::default()) {
            Ok(_) => tracing::info!(model = %model, warmup_ms = t.elapsed().as_millis() as u64, "model warmed up"),
            Err(e) => tracing::error!(model = %model, error = %e, "warm-up inference failed"),
        }
        let pool = start_pool(&model, &mut detector, &stats, &batch_sizes);
        stats.ready.store(true, Ordering::Release);
        let ctx = Ctx { queue: &queue, stats: &stats, batch_sizes: &batch_sizes };
        match &pool {
            Some(pool) => run_pool(&mut detector, pool, &ctx),
            None => run(&mut detector, &ctx, limits, wait),
        }
        if let Some((pool, _)) = pool {
            pool.shutdown();
        }
        tracing::info!(model = %model, "inference worker stopped");
    })?;
    Ok(handle)
}

/// The largest batch a worker takes and how long its first job waits for company. A dynamic
/// batch axis batches up to `max_batch` within the `batch_wait` window. A fixed batch of `n`
/// takes up to `n` images per inference in flight (`parallelism`, from `--streams`) and never
/// waits: only images already queued run beside each other, so a lone request is never delayed.
fn batch_limits(axis: BatchAxis, parallelism: usize, cfg: &BatchConfig) -> (usize, Duration) {
    match axis {
        BatchAxis::Dynamic => (cfg.max_batch.max(1), cfg.batch_wait),
        BatchAxis::Fixed(n) => (n.max(1) * parallelism.max(1), Duration::ZERO),
    }
}

/// The job that starts the next batch: the front of `http` if any, else the front of `camera`.
fn first<T>(http: &mut VecDeque<T>, camera: &mut VecDeque<T>) -> Option<(T, Lane)> {
    if let Some(j) = http.pop_front() {
        return Some((j, Lane::Http));
    }
    camera.pop_front().map(|j| (j, Lane::Camera))
}

/// What a batch being filled does next.
#[derive(Debug, PartialEq)]
enum Fill<T> {
    /// Add this job.
    Take(T),
    /// Nothing to add yet: wait for company until the batch window closes.
    Wait,
    /// Run the batch now.
    Run,
}

/// Batches never mix lanes: an HTTP batch takes only HTTP jobs (a request never waits for camera
/// frames to be computed alongside it), and a camera batch stops growing at `limit` or as soon
/// as an HTTP job is waiting, which then goes next.
fn fill<T>(
    lane: Lane,
    len: usize,
    limit: usize,
    http: &mut VecDeque<T>,
    camera: &mut VecDeque<T>,
) -> Fill<T> {
    if len >= limit {
        return Fill::Run;
    }
    let next = match lane {
        Lane::Http => http.pop_front(),
        Lane::Camera if !http.is_empty() => return Fill::Run,
        Lane::Camera => camera.pop_front(),
    };
    next.map_or(Fill::Wait, Fill::Take)
}

/// What the worker loops share.
struct Ctx<'a> {
    queue: &'a Queue,
    stats: &'a WorkerStats,
    batch_sizes: &'a prometheus::Histogram,
}

/// Counts `n` finished jobs of `lane`.
fn count(stats: &WorkerStats, lane: Lane, n: usize) {
    stats.completed.fetch_add(n as u64, Ordering::Relaxed);
    if lane == Lane::Camera {
        stats
            .camera_completed
            .fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Starts runner threads for a fixed batch-1 model whose engine has several inferences in
/// flight (`--streams`); `None` otherwise (batches then run in waves inside the detector).
fn start_pool(
    model: &str,
    detector: &mut Detector,
    stats: &Arc<WorkerStats>,
    batch_sizes: &prometheus::Histogram,
) -> Option<(Pool, Arc<Finish>)> {
    if !matches!(detector.info().batch, BatchAxis::Fixed(1)) || detector.parallelism() < 2 {
        return None;
    }
    let runners = detector.take_runners();
    let (stats, sizes) = (Arc::clone(stats), batch_sizes.clone());
    let finish: Arc<Finish> = Arc::new(move |job: Job, lane, started, result| {
        match result {
            Ok((d, t)) => job.deliver(started, Ok(d), &t, 1),
            Err(e) => {
                tracing::error!(error = %e, "inference failed");
                job.deliver(started, Err(&e.to_string()), &StageTimings::default(), 1);
            }
        }
        stats.batches.fetch_add(1, Ordering::Relaxed);
        sizes.observe(1.0);
        count(&stats, lane, 1);
    });
    match Pool::start(model, runners) {
        Ok(p) => Some((p, finish)),
        Err(e) => {
            tracing::error!(model, error = %e, "cannot start the stream threads; one inference at a time");
            None
        }
    }
}

/// The loop with runner threads: one job at a time, in lane order, to the next free runner; a
/// lone job on the worker thread's latency request.
fn run_pool(detector: &mut Detector, (pool, finish): &(Pool, Arc<Finish>), ctx: &Ctx<'_>) {
    loop {
        let slot = pool.reserve();
        let (job, lane, lone) = {
            let mut lanes = ctx.queue.lock();
            let (job, lane) = loop {
                let Lanes { http, camera, .. } = &mut *lanes;
                if let Some(j) = first(http, camera) {
                    break j;
                }
                if lanes.closed {
                    pool.release(slot);
                    return;
                }
                lanes = ctx
                    .queue
                    .ready
                    .wait(lanes)
                    .unwrap_or_else(|p| p.into_inner());
            };
            let lone = lanes.http.is_empty() && lanes.camera.is_empty() && pool.idle_but_one();
            (job, lane, lone)
        };
        ctx.stats.queued.fetch_sub(1, Ordering::Relaxed);
        if !lone {
            let (finish, dispatched) = (Arc::clone(finish), Instant::now());
            pool.send(
                slot,
                Box::new(move |runner| {
                    let result = runner.detect(&job.prepared, &job.params);
                    finish(job, lane, dispatched, result);
                }),
            );
            continue;
        }
        pool.release(slot);
        let started = Instant::now();
        let result = detector.infer_each(&[(&job.prepared, &job.params)]);
        ctx.stats.batches.fetch_add(1, Ordering::Relaxed);
        ctx.batch_sizes.observe(1.0);
        match result {
            Ok((mut out, t)) => job.deliver(started, Ok(out.pop().unwrap_or_default()), &t, 1),
            Err(e) => {
                tracing::error!(error = %e, "inference failed");
                job.deliver(started, Err(&e.to_string()), &StageTimings::default(), 1);
            }
        }
        count(ctx.stats, lane, 1);
    }
}

fn run(
    detector: &mut Detector,
    ctx: &Ctx<'_>,
    (max_batch, camera_max_batch): (usize, usize),
    wait: Duration,
) {
    let Ctx {
        queue,
        stats,
        batch_sizes,
    } = *ctx;
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    loop {
        let lane;
        {
            let mut lanes = queue.lock();
            let (job, l) = loop {
                let Lanes { http, camera, .. } = &mut *lanes;
                if let Some(j) = first(http, camera) {
                    break j;
                }
                if lanes.closed {
                    return;
                }
                lanes = queue.ready.wait(lanes).unwrap_or_else(|p| p.into_inner());
            };
            lane = l;
            batch.push(job);
            let limit = match lane {
                Lane::Http => max_batch,
                Lane::Camera => camera_max_batch,
            };
            let deadline = Instant::now() + wait;
            // Take whatever is queued, then wait out the window for company.
            loop {
                let Lanes { http, camera, .. } = &mut *lanes;
                match fill(lane, batch.len(), limit, http, camera) {
                    Fill::Take(j) => {
                        batch.push(j);
                        continue;
                    }
                    Fill::Run => break,
                    Fill::Wait => {}
                }
                let now = Instant::now();
                if now >= deadline || lanes.closed {
                    break;
                }
                lanes = queue
                    .ready
                    .wait_timeout(lanes, deadline - now)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
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
                    job.deliver(started, Ok(detections), &timings, n);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, batch = n, "inference failed");
                let msg = e.to_string();
                for job in batch.drain(..) {
                    job.deliver(started, Err(&msg), &StageTimings::default(), n);
                }
            }
        }
        count(stats, lane, n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_batches_take_one_per_stream_without_waiting() {
        let cfg = BatchConfig {
            queue_capacity: 8,
            camera_capacity: 8,
            max_batch: 8,
            camera_max_batch: 4,
            batch_wait: Duration::from_millis(3),
        };
        assert_eq!(
            batch_limits(BatchAxis::Fixed(1), 1, &cfg),
            (1, Duration::ZERO)
        );
        assert_eq!(
            batch_limits(BatchAxis::Fixed(1), 2, &cfg),
            (2, Duration::ZERO)
        );
        assert_eq!(
            batch_limits(BatchAxis::Fixed(2), 3, &cfg),
            (6, Duration::ZERO)
        );
        assert_eq!(
            batch_limits(BatchAxis::Dynamic, 2, &cfg),
            (8, Duration::from_millis(3))
        );
    }

    #[test]
    fn http_jobs_go_before_queued_camera_frames() {
        let mut http: VecDeque<&str> = VecDeque::new();
        let mut camera: VecDeque<&str> = ["c1", "c2", "c3"].into_iter().collect();
        assert_eq!(first(&mut http, &mut camera), Some(("c1", Lane::Camera)));
        // An HTTP job arriving behind two waiting camera frames is taken next.
        http.extend(["h1", "h2"]);
        assert_eq!(first(&mut http, &mut camera), Some(("h1", Lane::Http)));
        assert_eq!(first(&mut http, &mut camera), Some(("h2", Lane::Http)));
        assert_eq!(first(&mut http, &mut camera), Some(("c2", Lane::Camera)));
    }

    #[test]
    fn batches_never_mix_lanes_and_camera_batches_yield_to_http() {
        let mut http: VecDeque<&str> = ["h2"].into_iter().collect();
        let mut camera: VecDeque<&str> = ["c1", "c2"].into_iter().collect();
        // An HTTP batch takes HTTP jobs only, then waits for more of them.
        assert_eq!(
            fill(Lane::Http, 1, 8, &mut http, &mut camera),
            Fill::Take("h2")
        );
        assert_eq!(fill(Lane::Http, 2, 8, &mut http, &mut camera), Fill::Wait);
        assert_eq!(camera.len(), 2);
        // A camera batch grows up to its limit...
        assert_eq!(
            fill(Lane::Camera, 1, 2, &mut http, &mut camera),
            Fill::Take("c1")
        );
        assert_eq!(fill(Lane::Camera, 2, 2, &mut http, &mut camera), Fill::Run);
        // ...and runs at once when an HTTP request is waiting, so that it goes next.
        http.push_back("h3");
        assert_eq!(fill(Lane::Camera, 1, 4, &mut http, &mut camera), Fill::Run);
        assert_eq!(camera.len(), 1);
        assert_eq!(http.len(), 1);
    }
}
