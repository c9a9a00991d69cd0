//! Unit tests of the detector's run planning and engine choice.

use super::*;

#[test]
fn fixed_batches_chunk_by_model_batch_and_dynamic_ones_split_across_lanes() {
    let a = (320, 320);
    let b = (256, 320);
    let shapes = [a, a, b, a, a];
    // Fixed batch 1: one run per image, whatever the lanes.
    let t = plan(&shapes, BatchAxis::Fixed(1), 2);
    assert_eq!(t.len(), 5);
    assert_eq!(t[0], ((320, 320), vec![0]));
    assert_eq!(t[4], ((256, 320), vec![2]));
    // Fixed batch 2: same-size images paired, the odd one alone (padded when run).
    let t = plan(&shapes, BatchAxis::Fixed(2), 1);
    assert_eq!(
        t,
        vec![
            ((320, 320), vec![0, 1]),
            ((320, 320), vec![3, 4]),
            ((256, 320), vec![2])
        ]
    );
    // Dynamic: one run per size with one lane; split two ways with two.
    let t = plan(&shapes, BatchAxis::Dynamic, 1);
    assert_eq!(
        t,
        vec![((320, 320), vec![0, 1, 3, 4]), ((256, 320), vec![2])]
    );
    let t = plan(&shapes, BatchAxis::Dynamic, 2);
    assert_eq!(
        t,
        vec![
            ((320, 320), vec![0, 1]),
            ((320, 320), vec![3, 4]),
            ((256, 320), vec![2])
        ]
    );
    assert!(plan(&[], BatchAxis::Dynamic, 2).is_empty());
}

#[test]
fn auto_engine_prefers_openvino_on_x86_cpu_only_when_provisioned() {
    let onnx = Path::new("m.onnx");
    let auto = EngineOptions::default();
    let x86 = cfg!(target_arch = "x86_64");
    let want = if x86 { Engine::OpenVino } else { Engine::Ort };
    assert_eq!(resolve_engine(&auto, onnx, || true), want);
    assert_eq!(resolve_engine(&auto, onnx, || false), Engine::Ort);
    // An IR file or bf16 only OpenVINO runs; GPU providers are ONNX Runtime's.
    assert_eq!(
        resolve_engine(&auto, Path::new("m.xml"), || false),
        Engine::OpenVino
    );
    let bf16 = EngineOptions {
        precision: Precision::Bf16,
        ..EngineOptions::default()
    };
    assert_eq!(resolve_engine(&bf16, onnx, || false), Engine::OpenVino);
    let cuda = EngineOptions {
        provider: Provider::Cuda,
        ..EngineOptions::default()
    };
    assert_eq!(resolve_engine(&cuda, onnx, || true), Engine::Ort);
    // An explicit engine is kept, and the probe is not even asked.
    let ort = EngineOptions {
        engine: Engine::Ort,
        ..EngineOptions::default()
    };
    assert_eq!(resolve_engine(&ort, onnx, || panic!("asked")), Engine::Ort);
}

#[test]
fn only_onnx_load_failures_fall_back() {
    let e = DetectError::Runtime("compile".into());
    assert!(fallback_allowed(&e, Path::new("m.onnx")));
    assert!(!fallback_allowed(&e, Path::new("m.xml")));
    let p = DetectError::PrecisionUnavailable("bf16".into());
    assert!(!fallback_allowed(&p, Path::new("m.onnx")));
}
