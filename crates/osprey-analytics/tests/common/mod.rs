//! Helpers shared by the integration tests: synthetic frames, the pedestrian reference, runs.
#![allow(dead_code, clippy::unwrap_used, clippy::print_stderr)]

use osprey_analytics::{
    Analytics, AnalyticsConfig, AnalyticsEvent, FrameAnalytics, Summary, SummaryBuilder,
};
use osprey_schema::{FrameResult, TrackedObject};

/// A person box whose bottom-centre is `(x, y)` (20 px wide, 50 px tall).
pub fn person(track_id: u64, x: f32, y: f32) -> TrackedObject {
    TrackedObject {
        track_id,
        class_id: 0,
        label: "person".into(),
        bbox: [x - 10.0, y - 50.0, x + 10.0, y],
        confidence: 0.9,
        matched: true,
    }
}

/// A 480x360 frame at 10 fps.
pub fn frame(seq: u64, objects: Vec<TrackedObject>) -> FrameResult {
    FrameResult {
        camera: "cam".into(),
        seq,
        frame: seq,
        pts: seq as f64 / 10.0,
        wall: 1_700_000_000.0 + seq as f64 / 10.0,
        width: 480,
        height: 360,
        objects,
        ended: Vec::new(),
    }
}

/// One track walking through the given bottom-centre points, one frame each from `start`.
pub fn walk(track_id: u64, start: u64, points: &[(f32, f32)]) -> Vec<FrameResult> {
    points
        .iter()
        .enumerate()
        .map(|(i, &(x, y))| frame(start + i as u64, vec![person(track_id, x, y)]))
        .collect()
}

/// Parses a configuration from JSON.
pub fn config(json: serde_json::Value) -> AnalyticsConfig {
    serde_json::from_value(json).unwrap()
}

/// A vertical tripwire at x = 200 from y = 50 to 300, IN = moving right.
pub fn vertical_wire(min_points: usize) -> AnalyticsConfig {
    config(serde_json::json!({
        "tripwires": [{
            "id": "v", "name": "vertical",
            "wire": [{"x": 200, "y": 50}, {"x": 200, "y": 300}],
            "direction": {"p1": {"x": 180, "y": 150}, "p2": {"x": 220, "y": 150},
                          "entry": {"name": "east"}, "exit": {"name": "west"}},
            "min_points": min_points
        }]
    }))
}

/// The output of a whole run.
#[derive(Debug)]
pub struct Run {
    pub frames: Vec<FrameAnalytics>,
    pub final_events: Vec<AnalyticsEvent>,
    pub summary: Summary,
    pub engine: Analytics,
}

/// Runs `frames` through a fresh engine for `cfg` (validated for 480x360) and finishes it.
pub fn run(cfg: &AnalyticsConfig, frames: &[FrameResult]) -> Run {
    let rules = cfg.validate(480, 360).unwrap();
    let mut builder = SummaryBuilder::new(&rules);
    let mut engine = Analytics::new(rules);
    let mut out = Vec::new();
    for f in frames {
        let fa = engine.process(f);
        builder.add_frame(&fa);
        out.push(fa);
    }
    let final_events = engine.finish();
    builder.add_events(&final_events);
    Run {
        frames: out,
        final_events,
        summary: builder.build(),
        engine,
    }
}

/// `(frame, track, direction)` of every crossing in a summary's first tripwire.
pub fn crossings(s: &Summary) -> Vec<(u64, u64, String)> {
    s.tripwires[0]
        .events
        .iter()
        .map(|e| (e.frame, e.track_id, e.direction.as_str().to_owned()))
        .collect()
}

/// `reference/tracking-pedestrians.json`.
#[derive(Debug)]
pub struct Reference {
    pub json: serde_json::Value,
    pub frames: Vec<FrameResult>,
}

impl Reference {
    /// Loads it, or `None` (after a loud skip line) without the shared data.
    pub fn load(test: &str) -> Option<Reference> {
        let shared = osprey_testkit::require_shared(test)?;
        let path = shared.join("reference/tracking-pedestrians.json");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let frames = json["tracks"]["frames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let objects = f["tracks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| {
                        let v = |i: usize| r[i].as_f64().unwrap();
                        TrackedObject {
                            track_id: r[0].as_u64().unwrap(),
                            class_id: 0,
                            label: "person".into(),
                            bbox: [v(1) as f32, v(2) as f32, v(3) as f32, v(4) as f32],
                            confidence: v(5) as f32,
                            matched: true,
                        }
                    })
                    .collect();
                frame(f["frame"].as_u64().unwrap(), objects)
            })
            .collect();
        Some(Reference { json, frames })
    }

    /// The reference's line A events as `(frame, track, direction)`.
    pub fn events(&self) -> Vec<(u64, u64, String)> {
        self.json["line_A"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["frame"].as_u64().unwrap(),
                    e["track_id"].as_u64().unwrap(),
                    e["direction"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// The reference's per-frame ROI R counts.
    pub fn roi_counts(&self) -> Vec<u32> {
        self.json["roi_R"]["counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap() as u32)
            .collect()
    }
}

/// Line A of the reference as a Metropolis tripwire: wire [p1, p2]; the reference's IN is from
/// the left-hand to the right-hand side of p1→p2 on screen, i.e. rightwards across this
/// near-vertical wire, so the arrow goes from (330, 200) to (370, 200).
pub fn line_a(min_points: usize, normalized: bool) -> serde_json::Value {
    let (sx, sy) = if normalized {
        (1.0 / 480.0, 1.0 / 360.0)
    } else {
        (1.0, 1.0)
    };
    let p = |x: f64, y: f64| serde_json::json!({"x": x * sx, "y": y * sy});
    serde_json::json!({
        "id": "line_A", "name": "footpath",
        "wire": [p(366.0, 288.0), p(330.0, 108.0)],
        "direction": {"p1": p(330.0, 200.0), "p2": p(370.0, 200.0),
                      "entry": {"name": "in"}, "exit": {"name": "out"}},
        "classes": ["person"],
        "normalized": normalized,
        "min_points": min_points
    })
}

/// ROI R of the reference.
pub fn roi_r(inertia: u32, normalized: bool) -> serde_json::Value {
    let pts = [(204, 126), (294, 117), (330, 162), (312, 216), (216, 207)];
    let coords: Vec<_> = pts
        .iter()
        .map(|&(x, y)| {
            if normalized {
                serde_json::json!({"x": f64::from(x) / 480.0, "y": f64::from(y) / 360.0})
            } else {
                serde_json::json!({"x": x, "y": y})
            }
        })
        .collect();
    serde_json::json!({
        "id": "roi_R", "coordinates": coords, "normalized": normalized,
        "entry_inertia": inertia, "exit_inertia": inertia
    })
}
