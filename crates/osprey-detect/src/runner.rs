//! [`Runner`]: one throughput request (OpenVINO) or parallel session (ONNX Runtime) of a
//! [`crate::Detector`], taken out with [`crate::Detector::take_runners`] to run single images on
//! a thread of its own, side by side with the other runners.

use std::sync::Arc;
use std::time::Instant;

use crate::engine::{batch_input, check_params, decode, Backend, Detector, Prepared, StageTimings};
use crate::model::{BatchAxis, ModelInfo};
use crate::postprocess::{DetectParams, Detection};
use crate::DetectError;

pub(crate) enum RunnerBackend {
    Ort(ort::session::Session),
    OpenVino(Box<crate::ov_backend::Slot>),
}

/// One throughput request or session of a [`Detector`], taken out with
/// [`Detector::take_runners`] to run single images on a thread of its own.
pub struct Runner {
    backend: RunnerBackend,
    info: Arc<ModelInfo>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("model", &self.info.name)
            .finish_non_exhaustive()
    }
}

impl Runner {
    pub(crate) fn new(backend: RunnerBackend, info: Arc<ModelInfo>) -> Runner {
        Runner { backend, info }
    }

    /// Detects one prepared image (a fixed batch is padded), as [`Detector::infer_each`] would.
    pub fn detect(
        &mut self,
        item: &Prepared,
        params: &DetectParams,
    ) -> Result<(Vec<Detection>, StageTimings), DetectError> {
        check_params(params)?;
        let items = [(item, params)];
        let (h, w) = (
            item.geometry.out_height as usize,
            item.geometry.out_width as usize,
        );
        let batch = match self.info.batch {
            BatchAxis::Fixed(b) => b,
            BatchAxis::Dynamic => 1,
        };
        let data = batch_input(&items, &[0], batch, 3 * h * w);
        let mut results = vec![Vec::new()];
        let mut timings = StageTimings::default();
        let t = Instant::now();
        let info = &*self.info;
        let mut sink = |dims: &[usize], out: &[f32]| {
            timings.inference += t.elapsed();
            timings.runs += 1;
            let t = Instant::now();
            let r = decode(info, dims, out, (h, w), &[0], &items, true, &mut results);
            timings.postprocess += t.elapsed();
            r
        };
        let shape = [batch, 3, h, w];
        match &mut self.backend {
            RunnerBackend::Ort(s) => {
                crate::ort_backend::run_session(s, info, shape, &data, &mut sink)?
            }
            RunnerBackend::OpenVino(s) => s.run(shape, &data, &mut sink)?,
        }
        Ok((results.pop().unwrap_or_default(), timings))
    }
}

impl Detector {
    /// Takes the engine's throughput requests (OpenVINO) or parallel sessions (ONNX Runtime)
    /// out of the detector as [`Runner`]s, one per thread, so that images run side by side
    /// without waiting for each other; the detector keeps the latency request (a lone image on
    /// every thread) and [`Detector::parallelism`] becomes 1. Empty when `--streams` gave none.
    /// The caller must end the runners' threads before dropping the detector.
    pub fn take_runners(&mut self) -> Vec<Runner> {
        let info = Arc::new(self.info.clone());
        let make = |backend| Runner::new(backend, Arc::clone(&info));
        match &mut self.backend {
            Backend::Ort(b) => b
                .take_parallel()
                .into_iter()
                .map(|s| make(RunnerBackend::Ort(s)))
                .collect(),
            Backend::OpenVino(b) => b
                .take_parallel()
                .into_iter()
                .map(|s| make(RunnerBackend::OpenVino(Box::new(s))))
                .collect(),
        }
    }
}
