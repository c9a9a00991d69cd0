//! `osprey track --mot-det` on PETS09-S2L1's public detections (raw ACF scores), scored with the
//! motmetrics-equivalent scorer (proven equal to motmetrics on the reference files by
//! osprey-track's `mot` test) against gt.txt, side by side with the reference trackers recorded
//! in ../shared/reference/mot-pets09.json.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::process::Command;

use osprey_track::mot;

const BIN: &str = env!("CARGO_BIN_EXE_osprey");

/// Prints Osprey's row of the comparison table, then checks it is at least as good as the
/// reference on every figure.
fn report_and_check(name: &str, s: &osprey_track::score::Scores, mota: f64, idf1: f64, ids: f64) {
    eprintln!(
        "| {name} | {:.4} | {:.4} | {} | {} | {} |",
        s.mota, s.idf1, s.id_switches, s.false_positives, s.misses
    );
    assert!(s.mota >= mota, "MOTA {} < {mota}", s.mota);
    assert!(s.idf1 >= idf1, "IDF1 {} < {idf1}", s.idf1);
    assert!(
        s.id_switches as f64 <= ids,
        "{} ID switches > {ids}",
        s.id_switches
    );
}

fn load_gt(seq: &std::path::Path, scale: f32, max_frame: Option<u32>) -> Vec<mot::Row> {
    let rows = mot::parse(&std::fs::read_to_string(seq.join("gt/gt.txt")).unwrap()).unwrap();
    mot::ground_truth(rows, scale, max_frame)
}

#[test]
fn tracker_on_pets09_public_detections_beats_the_reference_trackers() {
    let Some(shared) = osprey_testkit::require_shared("osprey track --mot-det") else {
        return;
    };
    let seq = shared.join("mot/PETS09-S2L1");
    let out = std::env::temp_dir().join(format!("osprey-track-{}.txt", std::process::id()));
    // Osprey's defaults (ByteTrack's 0.25 / 0.1 / 0.25 and 30 frames, first-association cost 0.9)
    // in the ACF detector's raw units: scores run to ~100, so thresholds x100 and fusion
    // divides by 100.
    let run = Command::new(BIN)
        .args([
            "track",
            "--mot-det",
            seq.join("det/det.txt").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--frame-rate",
            "7",
            "--high-thresh",
            "25",
            "--low-thresh",
            "10",
            "--new-track-thresh",
            "25",
            "--score-scale",
            "100",
        ])
        .env("OSPREY_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let tracks = mot::parse(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let gt = load_gt(&seq, 1.0, None);
    let s = osprey_track::score::score(&gt, &tracks);
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(shared.join("reference/mot-pets09.json")).unwrap(),
    )
    .unwrap();
    let runs = reference["runs"].as_object().unwrap();
    let best = |k: &str, f: fn(f64, f64) -> f64, init: f64| {
        runs.values()
            .map(|r| r["scores"][k].as_f64().unwrap())
            .fold(init, f)
    };
    let (best_mota, best_idf1, fewest_ids) = (
        best("MOTA", f64::max, 0.0),
        best("IDF1", f64::max, 0.0),
        best("IDs", f64::min, f64::INFINITY),
    );
    eprintln!("| tracker | MOTA | IDF1 | IDs | FP | FN |\n|---|---|---|---|---|---|");
    for (name, r) in runs {
        let v = &r["scores"];
        eprintln!(
            "| {name} | {:.4} | {:.4} | {} | {} | {} |",
            v["MOTA"].as_f64().unwrap(),
            v["IDF1"].as_f64().unwrap(),
            v["IDs"],
            v["FP"],
            v["FN"]
        );
    }
    report_and_check("osprey", &s, best_mota, best_idf1, fewest_ids);
    let _ = std::fs::remove_file(out);
}

/// The whole pipeline (FFmpeg decode → YOLO11n-640 on ONNX Runtime → tracker) on
/// video/pedestrians.mp4, PETS09-S2L1 frames 1-300 scaled by 0.625, scored against the scaled
/// gt side by side with Ultralytics' detector + ByteTrack on the same clip.
#[test]
fn whole_pipeline_on_the_pedestrian_clip_beats_ultralytics() {
    let Some((shared, _)) = osprey_testkit::require_model_env("osprey track --source") else {
        return;
    };
    let model = shared.join("models/yolo11n-640.onnx");
    let clip = shared.join("video/pedestrians.mp4");
    let out = std::env::temp_dir().join(format!("osprey-track-clip-{}.txt", std::process::id()));
    let run = Command::new(BIN)
        .args([
            "track",
            "--source",
            clip.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
        ])
        .args(["--classes", "0", "--out", out.to_str().unwrap()])
        .env("OSPREY_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let tracks = mot::parse(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(tracks.iter().map(|r| r.frame).max(), Some(300));
    let gt = load_gt(&shared.join("mot/PETS09-S2L1"), 0.625, Some(300));
    let s = osprey_track::score::score(&gt, &tracks);
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(shared.join("reference/mot-pets09.json")).unwrap(),
    )
    .unwrap();
    let r = &reference["pedestrians_clip_vs_pets09_gt"]["tracks"]["scores"];
    let (mota, idf1, ids) = (
        r["MOTA"].as_f64().unwrap(),
        r["IDF1"].as_f64().unwrap(),
        r["IDs"].as_f64().unwrap(),
    );
    eprintln!("| pipeline | MOTA | IDF1 | IDs | FP | FN |\n|---|---|---|---|---|---|");
    eprintln!(
        "| ultralytics yolo11n-640 + ByteTrack | {mota:.4} | {idf1:.4} | {ids} | {} | {} |",
        r["FP"], r["FN"]
    );
    assert_eq!(s.gt_boxes, r["GT_boxes"].as_u64().unwrap() as usize);
    report_and_check("osprey yolo11n-640 + tracker", &s, mota, idf1, ids);
    let _ = std::fs::remove_file(out);
}

#[test]
fn bad_mot_files_get_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("osprey-track-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("det.txt");
    std::fs::write(&bad, "1,-1,10,10,20,20,0.9\n2,-1,ten,10,20,20,0.9\n").unwrap();
    let run = Command::new(BIN)
        .args(["track", "--mot-det", bad.to_str().unwrap(), "--out", "-"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("line 2") && err.contains("not a number"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
