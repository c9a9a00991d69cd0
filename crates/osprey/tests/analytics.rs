//! `osprey track --analytics`: the whole pipeline (FFmpeg decode → YOLO11n-640 → tracker) on
//! video/pedestrians.mp4 counted with line A and ROI R of reference/tracking-pedestrians.json,
//! against the counts Ultralytics' own tracks give there. And bad rules get a clear error.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_osprey");

/// Line A and ROI R in Metropolis' shapes. The reference counts IN from the negative to the
/// positive side of p1→p2 (its right-hand side on screen), so the entry arrow points right,
/// across the wire.
fn rules(min_points: u32) -> Value {
    json!({
        "tripwires": [{
            "id": "A", "name": "footpath",
            "wire": [{"x": 366, "y": 288}, {"x": 330, "y": 108}],
            "direction": {"p1": {"x": 330, "y": 200}, "p2": {"x": 370, "y": 200},
                          "entry": {"name": "east"}, "exit": {"name": "west"}},
            "min_points": min_points
        }],
        "rois": [{
            "id": "R", "name": "lamp post",
            "coordinates": [{"x": 204, "y": 126}, {"x": 294, "y": 117}, {"x": 330, "y": 162},
                            {"x": 312, "y": 216}, {"x": 216, "y": 207}],
            "entry_inertia": 0, "exit_inertia": 0
        }]
    })
}

/// Runs `osprey track --analytics` with `rules`; returns the summary.
fn count(shared: &Path, rules: &Value, tag: &str) -> Value {
    let dir = std::env::temp_dir().join(format!("osprey-analytics-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("rules.json");
    std::fs::write(&cfg, rules.to_string()).unwrap();
    let summary = dir.join("summary.json");
    let run = Command::new(BIN)
        .args(["track", "--source"])
        .arg(shared.join("video/pedestrians.mp4"))
        .arg("--model")
        .arg(shared.join("models/yolo11n-640.onnx"))
        .args(["--classes", "0", "--out"])
        .arg(dir.join("tracks.txt"))
        .arg("--analytics")
        .arg(&cfg)
        .arg("--analytics-summary")
        .arg(&summary)
        .env("OSPREY_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(dir);
    s
}

/// (frame, direction) of every crossing.
fn crossings(events: &Value) -> Vec<(u64, String)> {
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["frame"].as_u64().unwrap(),
                e["direction"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn counts_on_the_pedestrian_clip_match_the_reference() {
    let Some((shared, _)) = osprey_testkit::require_model_env("osprey track --analytics") else {
        return;
    };
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(shared.join("reference/tracking-pedestrians.json")).unwrap(),
    )
    .unwrap();
    let (ref_in, ref_out) = (
        reference["line_A"]["totals"]["in"].as_i64().unwrap(),
        reference["line_A"]["totals"]["out"].as_i64().unwrap(),
    );
    let ref_mean = reference["roi_R"]["summary"]["mean"].as_f64().unwrap();
    let ref_events = crossings(&reference["line_A"]["events"]);

    // Default settings: Metropolis' 5-point window.
    let s = count(&shared, &rules(5), "default");
    assert_eq!(s["frames"], 300, "{s}");
    let a = &s["tripwires"][0];
    let r = &s["rois"][0];
    let (got_in, got_out) = (a["in"].as_i64().unwrap(), a["out"].as_i64().unwrap());
    let mean = r["mean_occupancy"].as_f64().unwrap();
    eprintln!("| line A | IN | OUT | effective IN | effective OUT |\n|---|---|---|---|---|");
    eprintln!("| reference (Ultralytics tracks, plain rule) | {ref_in} | {ref_out} | | |");
    eprintln!(
        "| osprey, min_points 5 | {got_in} | {got_out} | {} | {} |",
        a["effective_in"], a["effective_out"]
    );
    eprintln!(
        "ROI R: mean occupancy {mean:.3} (reference {ref_mean:.2}), max {} (reference {}), entries {}, exits {}; FOV mean {} max {}",
        r["max_occupancy"], reference["roi_R"]["summary"]["max"], r["entries"], r["exits"],
        s["fov"]["mean"], s["fov"]["max"]
    );
    assert!((got_in - ref_in).abs() <= 1, "IN {got_in} vs {ref_in}");
    assert!((got_out - ref_out).abs() <= 1, "OUT {got_out} vs {ref_out}");
    assert!(
        (mean - ref_mean).abs() <= 0.10 * ref_mean,
        "mean occupancy {mean} vs {ref_mean}"
    );

    // The plain rule: every event, compared frame by frame with the reference's.
    let plain = count(&shared, &rules(1), "plain");
    let ours = crossings(&plain["tripwires"][0]["events"]);
    eprintln!(
        "min_points 1: IN {} OUT {} (reference {ref_in} / {ref_out})",
        plain["tripwires"][0]["in"], plain["tripwires"][0]["out"]
    );
    let near = |a: &(u64, String), b: &(u64, String)| a.1 == b.1 && a.0.abs_diff(b.0) <= 3;
    for e in &ref_events {
        match ours.iter().find(|o| near(o, e)) {
            Some(o) => eprintln!(
                "  reference frame {} {}: ours at frame {} ({:+})",
                e.0,
                e.1,
                o.0,
                o.0 as i64 - e.0 as i64
            ),
            None => eprintln!("  reference frame {} {}: not counted by ours", e.0, e.1),
        }
    }
    for o in ours
        .iter()
        .filter(|o| !ref_events.iter().any(|e| near(o, e)))
    {
        eprintln!("  ours frame {} {}: not in the reference", o.0, o.1);
    }
}

#[test]
fn bad_rules_are_refused_naming_the_field() {
    let Some((shared, _)) = osprey_testkit::require_model_env("osprey track --analytics errors")
    else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("osprey-analytics-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("rules.json");
    std::fs::write(
        &cfg,
        json!({"tripwires": [{"id": "A", "wire": [{"x": 10, "y": 10}],
                "direction": {"p1": {"x": 0, "y": 0}, "p2": {"x": 5, "y": 5}}}],
               "rois": [{"id": "R", "coordinates": [{"x": 0, "y": 0}, {"x": 900, "y": 0}, {"x": 0, "y": 50}]}]})
        .to_string(),
    )
    .unwrap();
    let run = Command::new(BIN)
        .args(["track", "--source"])
        .arg(shared.join("video/pedestrians.mp4"))
        .arg("--model")
        .arg(shared.join("models/yolo11n-320.onnx"))
        .args(["--out", "-", "--analytics"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("tripwires[0].wire"), "{err}");
    assert!(err.contains("rois[0].coordinates"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
