//! With a dynamic-batch model, a batch of N images (square and non-square, mixed) gives the same
//! detections as N single runs.
#![allow(clippy::unwrap_used)]

use osprey_detect::{BatchAxis, DetectParams, Detector, EngineOptions};
use osprey_image::{DecodeLimits, RgbImage};

fn load(shared: &std::path::Path, lib: std::path::PathBuf) -> Detector {
    load_with(shared, lib, 1)
}

/// The dynamic-batch model on the default engine with `streams` inferences in flight.
fn load_with(shared: &std::path::Path, lib: std::path::PathBuf, streams: usize) -> Detector {
    let opts = EngineOptions {
        ort_library: Some(lib),
        streams,
        ..EngineOptions::default()
    };
    Detector::load(&shared.join("models/yolo11n-dynamic.onnx"), &opts).unwrap()
}

fn images(shared: &std::path::Path) -> Vec<RgbImage> {
    let mut paths = vec![
        shared.join("images/bus.jpg"),
        shared.join("images/zidane.jpg"),
    ];
    let mut coco: Vec<_> = std::fs::read_dir(shared.join("images/coco128/images/train2017"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    coco.sort();
    paths.extend(coco.into_iter().take(6));
    let mut imgs: Vec<RgbImage> = paths
        .iter()
        .map(|p| {
            osprey_image::decode(&std::fs::read(p).unwrap(), &DecodeLimits::default()).unwrap()
        })
        .collect();
    // A square image too: a 320x320 crop of bus.jpg, as Frigate sends.
    let bus = &imgs[0];
    let mut crop = Vec::with_capacity(320 * 320 * 3);
    for y in 300..620 {
        crop.extend_from_slice(&bus.row(y)[0..320 * 3]);
    }
    imgs.insert(1, RgbImage::from_raw(320, 320, crop).unwrap());
    imgs.truncate(8);
    imgs
}

#[test]
fn batch_equals_single_runs() {
    let Some((shared, lib)) = osprey_testkit::require_model_env("batch_equals_single_runs") else {
        return;
    };
    let mut det = load(&shared, lib);
    assert_eq!(det.info().batch, BatchAxis::Dynamic);
    assert!(det.info().dynamic_hw);
    let imgs = images(&shared);
    let params = DetectParams::default();
    let singles: Vec<_> = imgs
        .iter()
        .map(|i| det.detect(i, &params).unwrap().0)
        .collect();
    assert!(
        singles.iter().map(Vec::len).sum::<usize>() > 10,
        "the images have objects"
    );
    for n in 1..=imgs.len() {
        let refs: Vec<&RgbImage> = imgs[..n].iter().collect();
        let (batched, timings) = det.detect_batch(&refs, &params).unwrap();
        // Images with the same letterbox shape share a run: fewer runs than images once shapes repeat.
        assert!(timings.runs as usize <= n);
        for (k, (b, s)) in batched.iter().zip(&singles).enumerate() {
            assert_eq!(b.len(), s.len(), "batch of {n}, image {k}: detection count");
            for (x, y) in b.iter().zip(s) {
                assert_eq!(x.class_id, y.class_id, "batch of {n}, image {k}");
                assert!(
                    (x.confidence - y.confidence).abs() < 1e-4,
                    "batch of {n}, image {k}: {x:?} vs {y:?}"
                );
                for (p, q) in x.bbox().iter().zip(y.bbox()) {
                    assert!(
                        (p - q).abs() < 0.05,
                        "batch of {n}, image {k}: {x:?} vs {y:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn same_shape_images_share_one_run() {
    let Some((shared, lib)) = osprey_testkit::require_model_env("same_shape_images_share_one_run")
    else {
        return;
    };
    let mut det = load(&shared, lib);
    let img = osprey_image::decode(
        &std::fs::read(shared.join("images/bus.jpg")).unwrap(),
        &DecodeLimits::default(),
    )
    .unwrap();
    let refs = vec![&img; 4];
    let (out, t) = det.detect_batch(&refs, &DetectParams::default()).unwrap();
    assert_eq!(t.runs, 1, "four same-shape images run as one batch");
    assert!(out.windows(2).all(|w| w[0].len() == w[1].len()));
    // With two inferences in flight the batch is split in two runs side by side, same answers.
    let mut two = load_with(&shared, osprey_testkit::ort_library().unwrap(), 2);
    assert_eq!(two.parallelism(), 2);
    let (split, t) = two.detect_batch(&refs, &DetectParams::default()).unwrap();
    assert_eq!(t.runs, 2, "four images over two streams: two runs of two");
    for (a, b) in split.iter().zip(&out) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x.class_id, y.class_id);
            assert!((x.confidence - y.confidence).abs() < 1e-4, "{x:?} vs {y:?}");
            for (p, q) in x.bbox().iter().zip(y.bbox()) {
                assert!((p - q).abs() < 0.05, "{x:?} vs {y:?}");
            }
        }
    }
}
