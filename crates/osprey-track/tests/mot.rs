//! The scorer against py-motmetrics' own figures for the reference tracker outputs, and our
//! tracker on PETS09-S2L1's public detections against the best reference tracker
//! (../shared/reference/mot-pets09.json).
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::path::Path;

use osprey_track::mot::{self, Row};
use osprey_track::score::{score, Scores};

fn load(p: &Path) -> Vec<Row> {
    mot::parse(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// gt rows as motmetrics loads them with `min_confidence=1` (or all rows).
fn gt(shared: &Path, flag_filter: bool) -> Vec<Row> {
    load(&shared.join("mot/PETS09-S2L1/gt/gt.txt"))
        .into_iter()
        .filter(|r| !flag_filter || r.score >= 1.0)
        .collect()
}

fn check(name: &str, got: &Scores, want: &serde_json::Value) {
    let f = |k: &str| want[k].as_f64().unwrap();
    let close = |a: f64, b: f64| (a - b).abs() <= 5e-6;
    eprintln!(
        "{name}: MOTA {:.6} (ref {:.6}) IDF1 {:.6} (ref {:.6}) IDs {} (ref {}) FP {} FN {} MOTP {:.6}",
        got.mota,
        f("MOTA"),
        got.idf1,
        f("IDF1"),
        got.id_switches,
        f("IDs"),
        got.false_positives,
        got.misses,
        got.motp
    );
    assert_eq!(got.id_switches as f64, f("IDs"), "{name} IDs");
    assert_eq!(got.false_positives as f64, f("FP"), "{name} FP");
    assert_eq!(got.misses as f64, f("FN"), "{name} FN");
    if let Some(m) = want["matches"].as_f64() {
        // motmetrics counts a switch apart from the matches
        assert_eq!((got.matches - got.id_switches) as f64, m, "{name} matches");
    }
    assert_eq!(got.gt_boxes as f64, f("GT_boxes"), "{name} GT boxes");
    assert!(close(got.mota, f("MOTA")), "{name} MOTA");
    assert!(close(got.idf1, f("IDF1")), "{name} IDF1");
    assert!(close(got.motp, f("MOTP")), "{name} MOTP");
}

#[test]
fn scorer_reproduces_motmetrics_on_the_reference_tracks() {
    let Some(shared) = osprey_testkit::require_shared("MOT scorer") else {
        return;
    };
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(shared.join("reference/mot-pets09.json")).unwrap(),
    )
    .unwrap();
    let (gt1, gt_all) = (gt(&shared, true), gt(&shared, false));
    for (run, v) in reference["runs"].as_object().unwrap() {
        let hyp = load(&shared.join(v["output_file"].as_str().unwrap()));
        check(run, &score(&gt1, &hyp), &v["scores"]);
        if let Some(all) = v.get("scores_including_gt_flag0_rows") {
            check(
                &format!("{run} (flag-0 rows kept)"),
                &score(&gt_all, &hyp),
                all,
            );
        }
    }
}
