//! The pedestrian reference (../shared/reference/tracking-pedestrians.json): line A crossings and
//! ROI R occupancy computed from Ultralytics ByteTrack tracks.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use common::{config, crossings, line_a, roi_r, run, Reference};
use serde_json::json;

fn totals(events: &[(u64, u64, String)]) -> (usize, usize) {
    let n = |d: &str| events.iter().filter(|e| e.2 == d).count();
    (n("in"), n("out"))
}

#[test]
fn line_a_is_expressed_with_in_towards_the_right_hand_side() {
    let cfg = config(json!({"tripwires": [line_a(1, false)]}));
    let rules = cfg.validate(480, 360).unwrap();
    let (wire, in_sign) = rules.tripwire_geometry("line_A").unwrap();
    assert_eq!(wire.len(), 2);
    assert_eq!(
        in_sign, 1,
        "IN must go from the negative to the positive side"
    );
}

#[test]
fn plain_rule_reproduces_the_reference_events() {
    let Some(r) = Reference::load("plain_rule_reproduces_the_reference_events") else {
        return;
    };
    let want = r.events();
    assert_eq!(totals(&want), (5, 9));
    for normalized in [false, true] {
        let cfg = config(json!({"tripwires": [line_a(1, normalized)]}));
        let got = crossings(&run(&cfg, &r.frames).summary);
        eprintln!(
            "min_points 1 (normalized {normalized}): ours in/out {:?} vs reference {:?}",
            totals(&got),
            totals(&want)
        );
        assert_eq!(got, want);
    }
}

#[test]
fn windowed_rule_is_within_one_of_the_reference() {
    let Some(r) = Reference::load("windowed_rule_is_within_one_of_the_reference") else {
        return;
    };
    let want = r.events();
    let cfg = config(json!({"tripwires": [line_a(5, false)]}));
    let s = run(&cfg, &r.frames).summary;
    let got = crossings(&s);
    let t = &s.tripwires[0];
    eprintln!(
        "min_points 5: ours in {} out {} (effective in {} out {}) vs reference in 5 out 9",
        t.in_, t.out, t.effective_in, t.effective_out
    );
    for w in &want {
        match got
            .iter()
            .find(|g| g.1 == w.1 && g.2 == w.2 && g.0.abs_diff(w.0) <= 10)
        {
            Some(g) => eprintln!(
                "  ref {w:?} -> ours frame {} ({:+})",
                g.0,
                g.0 as i64 - w.0 as i64
            ),
            None => eprintln!("  ref {w:?} -> MISSED"),
        }
    }
    for g in &got {
        if !want
            .iter()
            .any(|w| g.1 == w.1 && g.2 == w.2 && g.0.abs_diff(w.0) <= 10)
        {
            eprintln!("  ours {g:?} -> EXTRA");
        }
    }
    assert!(t.in_.abs_diff(5) <= 1, "IN {} vs 5", t.in_);
    assert!(t.out.abs_diff(9) <= 1, "OUT {} vs 9", t.out);
}

#[test]
fn roi_occupancy_matches_the_reference() {
    let Some(r) = Reference::load("roi_occupancy_matches_the_reference") else {
        return;
    };
    let want = r.roi_counts();
    assert_eq!(want.len(), r.frames.len());
    for normalized in [false, true] {
        let cfg = config(json!({"rois": [roi_r(0, normalized)]}));
        let run = run(&cfg, &r.frames);
        let got: Vec<u32> = run
            .frames
            .iter()
            .map(|f| f.rois[0].occupancy.total)
            .collect();
        let s = &run.summary.rois[0];
        eprintln!(
            "ROI R, zero inertia (normalized {normalized}): mean {:.4} max {} (reference 1.57, 5); \
             entries {} exits {}",
            s.mean_occupancy, s.max_occupancy, s.entries, s.exits
        );
        assert_eq!(got, want);
        assert_eq!(s.max_occupancy, 5);
        assert_eq!(s.entries, s.exits);
    }
}

#[test]
fn roi_occupancy_with_default_inertia_keeps_the_mean() {
    let Some(r) = Reference::load("roi_occupancy_with_default_inertia_keeps_the_mean") else {
        return;
    };
    let cfg =
        config(json!({"rois": [{"id": "roi_R", "coordinates": roi_r(0, false)["coordinates"]}]}));
    let run = run(&cfg, &r.frames);
    let s = &run.summary.rois[0];
    let zero = run_mean_zero(&r);
    eprintln!(
        "ROI R, default inertia (3/3): mean {:.4} max {} entries {} exits {} (zero inertia: \
         mean {zero:.4}, reference 1.57)",
        s.mean_occupancy, s.max_occupancy, s.entries, s.exits
    );
    assert!(
        (s.mean_occupancy - 1.57).abs() <= 0.157,
        "mean {}",
        s.mean_occupancy
    );
    assert!(s.entries <= run_entries_zero(&r));
}

fn run_mean_zero(r: &Reference) -> f64 {
    let cfg = config(json!({"rois": [roi_r(0, false)]}));
    run(&cfg, &r.frames).summary.rois[0].mean_occupancy
}

fn run_entries_zero(r: &Reference) -> u64 {
    let cfg = config(json!({"rois": [roi_r(0, false)]}));
    run(&cfg, &r.frames).summary.rois[0].entries
}

#[test]
fn summary_has_the_documented_shape() {
    let Some(r) = Reference::load("summary_has_the_documented_shape") else {
        return;
    };
    let cfg = config(json!({"tripwires": [line_a(1, false)], "rois": [roi_r(0, false)]}));
    let s = run(&cfg, &r.frames).summary;
    let j = serde_json::to_value(&s).unwrap();
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&j), ["fov", "frames", "rois", "tripwires"]);
    assert_eq!(j["frames"], 300);
    assert_eq!(
        keys(&j["tripwires"][0]),
        ["effective_in", "effective_out", "events", "id", "in", "out"]
    );
    assert_eq!(
        j["tripwires"][0]["events"][0],
        json!({"frame": 11, "track_id": 1, "direction": "out"})
    );
    assert_eq!(
        keys(&j["rois"][0]),
        ["entries", "exits", "id", "max_occupancy", "mean_occupancy"]
    );
    assert_eq!(keys(&j["fov"]), ["max", "mean"]);
    assert_eq!(
        (
            j["tripwires"][0]["in"].clone(),
            j["tripwires"][0]["out"].clone()
        ),
        (json!(5), json!(9))
    );
    eprintln!(
        "summary: effective in {} out {}; fov mean {:.3} max {}",
        s.tripwires[0].effective_in, s.tripwires[0].effective_out, s.fov.mean, s.fov.max
    );
    let back: osprey_analytics::Summary = serde_json::from_value(j).unwrap();
    assert_eq!(back, s);
}
