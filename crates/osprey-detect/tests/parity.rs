//! Parity with Ultralytics: on all 130 shared images, our detections must match the reference
//! predictions Ultralytics made with the same ONNX file (`reference/yolo11n-{320,640}.json`):
//! at least 99 % of reference detections matched by one of ours with the same class,
//! IoU >= 0.95 and |Δconfidence| <= 0.01, and at most 1 % extra detections of ours.
#![allow(clippy::print_stderr, clippy::unwrap_used)]

use osprey_detect::{iou, DetectParams, Detector, EngineOptions};
use osprey_image::DecodeLimits;

struct Score {
    reference: usize,
    matched: usize,
    ours: usize,
    worst_iou: f32,
    worst_dconf: f32,
}

fn parity(model_file: &str, reference_file: &str) -> Option<Score> {
    let (shared, lib) = osprey_testkit::require_model_env("parity")?;
    let opts = EngineOptions {
        ort_library: Some(lib),
        ..EngineOptions::default()
    };
    let mut det = Detector::load(&shared.join("models").join(model_file), &opts).unwrap();
    let reference = osprey_testkit::read_reference(&shared.join("reference").join(reference_file));
    assert_eq!(reference.len(), 130, "reference covers all shared images");
    let params = DetectParams::default();
    let mut s = Score {
        reference: 0,
        matched: 0,
        ours: 0,
        worst_iou: 1.0,
        worst_dconf: 0.0,
    };
    for (key, refs) in &reference {
        let bytes = std::fs::read(shared.join("images").join(key)).unwrap();
        let img = osprey_image::decode(&bytes, &DecodeLimits::default()).unwrap();
        let (ours, _) = det.detect(&img, &params).unwrap();
        s.reference += refs.len();
        s.ours += ours.len();
        let mut used = vec![false; ours.len()];
        for r in refs {
            let rb = [r.x1, r.y1, r.x2, r.y2];
            let best = ours
                .iter()
                .enumerate()
                .filter(|(i, d)| !used[*i] && d.class_id == r.class_id)
                .map(|(i, d)| (i, iou(rb, d.bbox()), (d.confidence - r.confidence).abs()))
                .filter(|(_, v, dc)| *v >= 0.95 && *dc <= 0.01)
                .max_by(|a, b| a.1.total_cmp(&b.1));
            match best {
                Some((i, v, dc)) => {
                    used[i] = true;
                    s.matched += 1;
                    s.worst_iou = s.worst_iou.min(v);
                    s.worst_dconf = s.worst_dconf.max(dc);
                }
                None => eprintln!("{model_file}: unmatched reference {key} {r:?}"),
            }
        }
    }
    let extra = s.ours - s.matched;
    eprintln!(
        "{model_file}: {} reference detections, {} matched ({:.2} %), {} ours, {extra} extra ({:.2} %), \
         worst matched IoU {:.4}, worst |dconf| {:.5}",
        s.reference,
        s.matched,
        100.0 * s.matched as f64 / s.reference as f64,
        s.ours,
        100.0 * extra as f64 / s.reference as f64,
        s.worst_iou,
        s.worst_dconf
    );
    Some(s)
}

fn assert_parity(s: Score) {
    let extra = s.ours - s.matched;
    assert!(
        s.matched as f64 >= 0.99 * s.reference as f64,
        "only {} of {} matched",
        s.matched,
        s.reference
    );
    assert!(
        extra as f64 <= 0.01 * s.reference as f64,
        "{extra} extra detections"
    );
    // Drift guard: preprocessing is bit-exact with OpenCV, so matched boxes agree to float noise.
    assert!(
        s.worst_iou >= 0.99,
        "a matched box drifted: IoU {}",
        s.worst_iou
    );
    assert!(
        s.worst_dconf <= 0.001,
        "a matched confidence drifted by {}",
        s.worst_dconf
    );
}

#[test]
fn parity_yolo11n_320() {
    if let Some(s) = parity("yolo11n-320.onnx", "yolo11n-320.json") {
        assert_eq!(s.reference, 464);
        assert_parity(s);
    }
}

#[test]
fn parity_yolo11n_640() {
    if let Some(s) = parity("yolo11n-640.onnx", "yolo11n-640.json") {
        assert_eq!(s.reference, 690);
        assert_parity(s);
    }
}
