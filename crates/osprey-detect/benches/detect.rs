//! Per-stage timings of the detection path, printed as one JSON object for benches/report.py.
//!
//! Stages on bus.jpg (810x1080): JPEG decode, letterbox to a tensor, ONNX Runtime run (tensor
//! in, output out), postprocess (candidates, NMS, scaling); batch 1 on yolo11n-320 (static) and
//! per image at batch 4 on yolo11n-dynamic at imgsz 320. Medians over `OSPREY_BENCH_ITERS`
//! iterations (default 60) after 5 warm-up runs, with `OSPREY_BENCH_THREADS` intra-op threads
//! (default 2). Not a test: numbers are reported, never asserted.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::time::{Duration, Instant};

use osprey_detect::{DetectParams, Detector, EngineOptions, Prepared};
use osprey_image::DecodeLimits;

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let Some((shared, lib)) = osprey_testkit::require_model_env("bench detect") else {
        return;
    };
    let iters = env_usize("OSPREY_BENCH_ITERS", 60);
    let threads = env_usize("OSPREY_BENCH_THREADS", 2);
    let spinning = std::env::var("OSPREY_BENCH_SPIN")
        .map(|v| v != "0")
        .unwrap_or(true);
    let opts = EngineOptions {
        ort_library: Some(lib),
        intra_threads: threads,
        spinning,
        ..EngineOptions::default()
    };
    let bytes = std::fs::read(shared.join("images/bus.jpg")).unwrap();
    let limits = DecodeLimits::default();
    let params = DetectParams::default();

    let mut report = serde_json::Map::new();
    report.insert("threads".into(), threads.into());
    report.insert("iters".into(), iters.into());
    report.insert("spinning".into(), spinning.into());

    for (label, model, batch) in [
        ("n320_b1", "yolo11n-320.onnx", 1usize),
        ("dyn320_b4", "yolo11n-dynamic.onnx", 4),
    ] {
        let mut det = Detector::load(
            &shared.join("models").join(model),
            &EngineOptions {
                imgsz: Some(320),
                ..opts.clone()
            },
        )
        .unwrap();
        let pre = det.preprocessor();
        let (mut dec, mut prep, mut inf, mut post, mut total) =
            (vec![], vec![], vec![], vec![], vec![]);
        let mut shape = (0, 0);
        for i in 0..iters + 5 {
            let t0 = Instant::now();
            let imgs: Vec<_> = (0..batch)
                .map(|_| osprey_image::decode(&bytes, &limits).unwrap())
                .collect();
            let t1 = Instant::now();
            let prepared: Vec<Prepared> = imgs.iter().map(|im| pre.prepare(im)).collect();
            let t2 = Instant::now();
            let refs: Vec<&Prepared> = prepared.iter().collect();
            let (out, t) = det.infer(&refs, &params).unwrap();
            let t3 = Instant::now();
            assert_eq!(out.len(), batch);
            assert!(!out[0].is_empty());
            shape = (
                prepared[0].geometry.out_height,
                prepared[0].geometry.out_width,
            );
            if i >= 5 {
                let b = batch as u32;
                dec.push((t1 - t0) / b);
                prep.push((t2 - t1) / b);
                inf.push(t.inference / b);
                post.push(t.postprocess / b);
                total.push((t3 - t0) / b);
            }
        }
        let mut m = serde_json::Map::new();
        m.insert("model".into(), model.into());
        m.insert("batch".into(), batch.into());
        m.insert("input_hw".into(), serde_json::json!([shape.0, shape.1]));
        m.insert("decode_ms".into(), median(dec).into());
        m.insert("preprocess_ms".into(), median(prep).into());
        m.insert("inference_ms".into(), median(inf).into());
        m.insert("postprocess_ms".into(), median(post).into());
        m.insert("total_ms".into(), median(total).into());
        report.insert(label.into(), m.into());
    }
    println!("{}", serde_json::Value::Object(report));
}
