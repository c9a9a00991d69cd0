//! Rule parsing and validation: Metropolis JSON with defaults, and every bad-geometry case
//! refused with a message naming its field.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use common::config;
use osprey_analytics::{AnalyticsConfig, Anchor, ConfigError};
use osprey_base::{ErrorKind, Kinded};
use serde_json::{json, Value};

fn wire(points: Value) -> Value {
    json!({
        "id": "w", "wire": points,
        "direction": {"p1": {"x": 90, "y": 50}, "p2": {"x": 110, "y": 50}}
    })
}

fn roi(points: Value) -> Value {
    json!({"id": "r", "coordinates": points})
}

fn pts(p: &[(f64, f64)]) -> Value {
    Value::Array(p.iter().map(|&(x, y)| json!({"x": x, "y": y})).collect())
}

/// Validates against 480x360 and returns the problems as `field: message` lines.
fn problems(cfg: Value) -> Vec<String> {
    let cfg: AnalyticsConfig = config(cfg);
    match cfg.validate(480, 360) {
        Ok(_) => Vec::new(),
        Err(e) => {
            eprintln!("{e}");
            e.problems().iter().map(ToString::to_string).collect()
        }
    }
}

fn assert_refused(cfg: Value, want: &str) {
    let got = problems(cfg);
    assert!(
        got.iter().any(|p| p.starts_with(want)),
        "expected a problem starting with {want:?}, got {got:?}"
    );
}

#[test]
fn metropolis_json_parses_with_osprey_defaults() {
    let cfg = config(json!({
        "tripwires": [{
            "id": "door", "name": "Door",
            "wire": [{"x": 100, "y": 10}, {"x": 100, "y": 200}],
            "direction": {"p1": {"x": 80, "y": 100}, "p2": {"x": 120, "y": 100},
                          "entry": {"name": "Entry"}, "exit": {"name": "Exit"}}
        }],
        "rois": [{"id": "lobby", "name": "Lobby",
                  "coordinates": [{"x": 0, "y": 0}, {"x": 50, "y": 0}, {"x": 50, "y": 50}]}]
    }));
    let t = &cfg.tripwires[0];
    assert_eq!(
        (t.min_points, t.normalized, t.anchor),
        (5, false, Anchor::BottomCentre)
    );
    assert!(t.classes.is_empty());
    let r = &cfg.rois[0];
    assert_eq!(
        (r.entry_inertia, r.exit_inertia, r.loitering_seconds),
        (3, 3, None)
    );
    assert!(cfg.settings.reid.enabled);
    let rules = cfg.validate(480, 360).unwrap();
    assert_eq!(rules.frame_size(), (480, 360));
    assert_eq!(rules.tripwire_ids().collect::<Vec<_>>(), ["door"]);
    assert_eq!(rules.tripwire_geometry("door").unwrap().1, -1);
    // Round trip.
    let back: AnalyticsConfig =
        serde_json::from_value(serde_json::to_value(&cfg).unwrap()).unwrap();
    assert_eq!(back, cfg);
}

#[test]
fn camel_case_aliases_and_centre_anchor() {
    let cfg = config(json!({
        "tripwires": [{
            "id": "a", "wire": [{"x": 0.5, "y": 0.1}, {"x": 0.5, "y": 0.9}],
            "direction": {"p1": {"x": 0.6, "y": 0.5}, "p2": {"x": 0.4, "y": 0.5}},
            "tripwireMinPoints": 2, "anchor": "center", "normalized": true
        }],
        "rois": [{"id": "b", "coordinates": pts(&[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)]),
                  "normalized": true, "entryInertia": 0, "exitInertia": 7, "loiteringSeconds": 30}]
    }));
    assert_eq!(cfg.tripwires[0].min_points, 2);
    assert_eq!(cfg.tripwires[0].anchor, Anchor::Centre);
    assert_eq!(
        (cfg.rois[0].entry_inertia, cfg.rois[0].exit_inertia),
        (0, 7)
    );
    assert_eq!(cfg.rois[0].loitering_seconds, Some(30.0));
    let rules = cfg.validate(480, 360).unwrap();
    // Normalized coordinates are scaled to the frame.
    let (w, _) = rules.tripwire_geometry("a").unwrap();
    assert_eq!(
        (w[0].x, w[0].y, w[1].x, w[1].y),
        (240.0, 36.0, 240.0, 324.0)
    );
    let poly = rules.roi_polygon("b").unwrap();
    assert_eq!((poly[2].x, poly[2].y), (480.0, 360.0));
}

#[test]
fn short_wires_and_zero_length_segments_are_refused() {
    assert_refused(
        json!({"tripwires": [wire(pts(&[(10.0, 10.0)]))]}),
        "tripwires[0].wire: needs at least 2 points",
    );
    assert_refused(
        json!({"tripwires": [wire(pts(&[(100.0, 10.0), (100.0, 10.0)]))]}),
        "tripwires[0].wire[1]: same point as tripwires[0].wire[0]",
    );
    assert_refused(
        json!({"tripwires": [wire(pts(&[(100.0, 10.0), (100.0, 90.0), (100.0, 90.0)]))]}),
        "tripwires[0].wire[2]: same point",
    );
}

#[test]
fn self_crossing_wires_are_refused() {
    let w = pts(&[(50.0, 10.0), (150.0, 90.0), (150.0, 10.0), (50.0, 90.0)]);
    assert_refused(
        json!({"tripwires": [wire(w)]}),
        "tripwires[0].wire: segments 0 and 2",
    );
}

#[test]
fn bad_direction_arrows_are_refused() {
    let mut t = wire(pts(&[(100.0, 10.0), (100.0, 90.0)]));
    t["direction"]["p2"] = json!({"x": 90, "y": 50});
    assert_refused(
        json!({"tripwires": [t.clone()]}),
        "tripwires[0].direction: p1 and p2 are the same point",
    );
    t["direction"]["p2"] = json!({"x": 90, "y": 80});
    assert_refused(
        json!({"tripwires": [t]}),
        "tripwires[0].direction: the arrow p1→p2 is parallel",
    );
}

#[test]
fn small_and_self_intersecting_polygons_are_refused() {
    assert_refused(
        json!({"rois": [roi(pts(&[(0.0, 0.0), (10.0, 0.0)]))]}),
        "rois[0].coordinates: needs at least 3 points",
    );
    assert_refused(
        json!({"rois": [roi(pts(&[(0.0, 0.0), (10.0, 10.0), (10.0, 0.0), (0.0, 10.0)]))]}),
        "rois[0].coordinates: edges 0 and 2 touch or cross",
    );
    // Self-touching (a vertex on another edge) is refused too: polygons must be simple.
    let touching = pts(&[
        (0.0, 0.0),
        (20.0, 0.0),
        (20.0, 20.0),
        (10.0, 0.0),
        (0.0, 20.0),
    ]);
    assert_refused(
        json!({"rois": [roi(touching)]}),
        "rois[0].coordinates: edges",
    );
    assert_refused(
        json!({"rois": [roi(pts(&[(0.0, 0.0), (10.0, 0.0), (20.0, 0.0)]))]}),
        "rois[0].coordinates: ",
    );
    assert_refused(
        json!({"rois": [roi(pts(&[(0.0, 0.0), (10.0, 0.0), (10.0, 0.0), (0.0, 10.0)]))]}),
        "rois[0].coordinates[2]: same point as rois[0].coordinates[1]",
    );
}

#[test]
fn coordinates_outside_the_frame_are_refused() {
    assert_refused(
        json!({"tripwires": [wire(pts(&[(100.0, 10.0), (500.0, 90.0)]))]}),
        "tripwires[0].wire[1]: (500, 90) is outside the 480x360 frame",
    );
    assert_refused(
        json!({"rois": [roi(pts(&[(0.0, 0.0), (10.0, -1.0), (0.0, 10.0)]))]}),
        "rois[0].coordinates[1]: (10, -1) is outside",
    );
    let mut n = roi(pts(&[(0.0, 0.0), (1.5, 0.0), (0.0, 1.0)]));
    n["normalized"] = json!(true);
    assert_refused(
        json!({"rois": [n]}),
        "rois[0].coordinates[1]: (1.5, 0) is outside [0, 1]",
    );
    let mut t = wire(pts(&[(100.0, 10.0), (100.0, 90.0)]));
    t["direction"]["p2"] = json!({"x": 481, "y": 50});
    assert_refused(
        json!({"tripwires": [t]}),
        "tripwires[0].direction.p2: (481, 50) is outside",
    );
    // The frame's edges themselves are inside.
    assert!(
        problems(json!({"rois": [roi(pts(&[(0.0, 0.0), (480.0, 0.0), (480.0, 360.0)]))]}))
            .is_empty()
    );
}

#[test]
fn ids_must_be_present_and_unique() {
    let mut empty = wire(pts(&[(100.0, 10.0), (100.0, 90.0)]));
    empty["id"] = json!("");
    assert_refused(
        json!({"tripwires": [empty]}),
        "tripwires[0].id: must not be empty",
    );
    let a = wire(pts(&[(100.0, 10.0), (100.0, 90.0)]));
    let mut b = roi(pts(&[(0.0, 0.0), (10.0, 0.0), (0.0, 10.0)]));
    b["id"] = json!("w");
    assert_refused(
        json!({"tripwires": [a.clone(), a.clone()]}),
        "tripwires[1].id: duplicate id \"w\" (also used by tripwires[0])",
    );
    assert_refused(
        json!({"tripwires": [a], "rois": [b]}),
        "rois[0].id: duplicate id \"w\"",
    );
}

#[test]
fn other_fields_are_checked() {
    let mut t = wire(pts(&[(100.0, 10.0), (100.0, 90.0)]));
    t["min_points"] = json!(0);
    t["classes"] = json!(["person", ""]);
    let mut r = roi(pts(&[(0.0, 0.0), (10.0, 0.0), (0.0, 10.0)]));
    r["loitering_seconds"] = json!(-1);
    let got = problems(json!({
        "tripwires": [t], "rois": [r],
        "settings": {"object_timeout_seconds": 1.0, "reid": {"max_gap_seconds": 2.0, "max_size_ratio": 0.5}}
    }));
    for want in [
        "tripwires[0].min_points: must be between 1",
        "tripwires[0].classes[1]: empty class name",
        "rois[0].loitering_seconds: must be a positive",
        "settings.reid.max_gap_seconds: must not exceed",
        "settings.reid.max_size_ratio: must be at least 1",
    ] {
        assert!(
            got.iter().any(|p| p.starts_with(want)),
            "{want} not in {got:?}"
        );
    }
}

#[test]
fn all_problems_are_reported_at_once_as_invalid_argument() {
    let bad = json!({
        "tripwires": [wire(pts(&[(10.0, 10.0)])), wire(pts(&[(600.0, 0.0), (0.0, 0.0)]))],
        "rois": [roi(pts(&[(0.0, 0.0)]))]
    });
    let cfg: AnalyticsConfig = config(bad);
    let err: ConfigError = cfg.validate(480, 360).unwrap_err();
    let fields: Vec<&str> = err.problems().iter().map(|p| p.field.as_str()).collect();
    assert!(fields.contains(&"tripwires[0].wire"), "{fields:?}");
    assert!(fields.contains(&"tripwires[1].wire[0]"), "{fields:?}");
    assert!(fields.contains(&"tripwires[1].id"), "{fields:?}");
    assert!(fields.contains(&"rois[0].coordinates"), "{fields:?}");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().starts_with(
        "invalid analytics configuration: tripwires[0].wire: needs at least 2 points"
    ));
    let zero = AnalyticsConfig::default().validate(0, 360).unwrap_err();
    assert_eq!(zero.problems()[0].field, "frame");
}
