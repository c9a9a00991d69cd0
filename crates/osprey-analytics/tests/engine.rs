//! Engine behaviour on synthetic tracks: crossing rules, ROI inertia, re-identification, counts.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use common::{config, crossings, frame, person, run, vertical_wire, walk};
use osprey_analytics::{Analytics, AnalyticsEvent, Counts, Direction};
use osprey_schema::FrameResult;
use serde_json::json;

/// A walk along y = 150 through the given x positions.
fn along(track: u64, start: u64, xs: &[f32]) -> Vec<FrameResult> {
    let pts: Vec<(f32, f32)> = xs.iter().map(|&x| (x, 150.0)).collect();
    walk(track, start, &pts)
}

fn dirs(frames: &[FrameResult], min_points: usize) -> Vec<(u64, u64, String)> {
    crossings(&run(&vertical_wire(min_points), frames).summary)
}

#[test]
fn crossing_through_a_polyline_vertex_counts_once() {
    let cfg = config(json!({"tripwires": [{
        "id": "bent",
        "wire": [{"x": 200, "y": 50}, {"x": 200, "y": 150}, {"x": 230, "y": 300}],
        "direction": {"p1": {"x": 180, "y": 100}, "p2": {"x": 220, "y": 100}},
        "min_points": 1
    }]}));
    // The move 190 → 210 at y = 150 passes exactly through the vertex (200, 150).
    let r = run(&cfg, &along(1, 0, &[170.0, 190.0, 210.0, 230.0]));
    assert_eq!(crossings(&r.summary), [(2, 1, "in".to_owned())]);
}

#[test]
fn touching_the_line_and_turning_back_is_no_crossing() {
    assert!(dirs(&along(1, 0, &[180.0, 190.0, 200.0, 190.0, 180.0]), 1).is_empty());
    assert!(dirs(&along(1, 0, &[180.0, 190.0, 199.9, 190.0, 180.0]), 1).is_empty());
    // Passing beyond the end of the wire is no crossing either.
    let below: Vec<FrameResult> = walk(1, 0, &[(180.0, 320.0), (220.0, 320.0)]);
    assert!(dirs(&below, 1).is_empty());
}

#[test]
fn crossing_twice_gives_two_events_and_no_effective_count() {
    let xs = [
        170.0, 180.0, 190.0, 210.0, 220.0, 230.0, 220.0, 210.0, 190.0, 180.0, 170.0,
    ];
    for min_points in [1, 3] {
        let r = run(&vertical_wire(min_points), &along(7, 0, &xs));
        let got: Vec<String> = crossings(&r.summary).into_iter().map(|e| e.2).collect();
        assert_eq!(got, ["in", "out"], "min_points {min_points}");
        let c = &r.engine.counts().tripwires["v"];
        assert_eq!((c.raw_total().in_, c.raw_total().out), (1, 1));
        assert_eq!(c.effective_total(), Default::default());
        assert_eq!(
            (
                r.summary.tripwires[0].effective_in,
                r.summary.tripwires[0].effective_out
            ),
            (0, 0)
        );
    }
    // Crossing in, out and in again nets to one IN.
    let xs = [180.0, 190.0, 210.0, 190.0, 210.0, 220.0];
    let r = run(&vertical_wire(1), &along(7, 0, &xs));
    let c = &r.engine.counts().tripwires["v"];
    assert_eq!((c.raw_total().in_, c.raw_total().out), (2, 1));
    assert_eq!((c.effective_total().in_, c.effective_total().out), (1, 0));
}

#[test]
fn jitter_around_the_line_counts_at_most_once_with_the_window() {
    let mut xs = vec![150.0, 160.0, 170.0, 180.0, 190.0];
    xs.extend((0..30).map(|i| if i % 2 == 0 { 198.0 } else { 202.0 }));
    let plain = dirs(&along(3, 0, &xs), 1).len();
    let windowed = dirs(&along(3, 0, &xs), 5).len();
    // Jitter, then the walk continues across for good.
    xs.extend([210.0, 220.0, 230.0, 240.0, 250.0, 260.0]);
    let through_plain = dirs(&along(3, 0, &xs), 1).len();
    let through = dirs(&along(3, 0, &xs), 5);
    eprintln!(
        "jitter: plain {plain} events, windowed {windowed}; jitter then through: plain \
         {through_plain}, windowed {}",
        through.len()
    );
    assert!(plain >= 29);
    assert!(windowed <= 1);
    assert_eq!(through.len(), 1);
    assert_eq!(through[0].2, "in");
}

#[test]
fn windowed_rule_reports_the_frame_the_object_reached_the_new_side() {
    let xs: Vec<f32> = (0..12).map(|i| 150.0 + 10.0 * i as f32).collect();
    let r = run(&vertical_wire(5), &along(1, 100, &xs));
    let e: Vec<_> = r.frames.iter().flat_map(|f| f.events.clone()).collect();
    let AnalyticsEvent::Crossing(c) = &e[0] else {
        panic!("{e:?}")
    };
    // x = 210 is the first point past the wire (frame 106); 5 points on the far side by 110.
    assert_eq!(
        (c.crossed_seq, c.seq, c.direction),
        (106, 110, Direction::In)
    );
    assert_eq!(c.direction_name, "east");
}

#[test]
fn normalized_rules_and_other_frame_sizes_give_the_same_events() {
    let xs = [170.0, 190.0, 210.0, 230.0, 210.0, 190.0];
    let px = dirs(&along(1, 0, &xs), 1);
    let norm = config(json!({"tripwires": [{
        "id": "v", "normalized": true, "min_points": 1,
        "wire": [{"x": 200.0 / 480.0, "y": 50.0 / 360.0}, {"x": 200.0 / 480.0, "y": 300.0 / 360.0}],
        "direction": {"p1": {"x": 0.375, "y": 0.4}, "p2": {"x": 0.45, "y": 0.4}}
    }]}));
    assert_eq!(crossings(&run(&norm, &along(1, 0, &xs)).summary), px);
    // Frames twice as large (960x720) with boxes twice as large: scaled to the rules.
    let big: Vec<FrameResult> = along(1, 0, &xs)
        .into_iter()
        .map(|mut f| {
            f.width = 960;
            f.height = 720;
            for o in &mut f.objects {
                o.bbox = o.bbox.map(|v| v * 2.0);
            }
            f
        })
        .collect();
    assert_eq!(crossings(&run(&vertical_wire(1), &big).summary), px);
    assert_eq!(px.len(), 2);
}

#[test]
fn class_filters_and_per_class_counts() {
    let mut cfg = vertical_wire(1);
    cfg.tripwires[0].classes = vec!["person".into()];
    let mut frames = along(1, 0, &[180.0, 220.0]);
    let mut car = person(2, 180.0, 200.0);
    car.label = "car".into();
    frames[0].objects.push(car.clone());
    car.bbox = [210.0, 150.0, 230.0, 200.0];
    frames[1].objects.push(car);
    let r = run(&cfg, &frames);
    let c = &r.engine.counts().tripwires["v"];
    assert_eq!(c.raw.keys().collect::<Vec<_>>(), ["person"]);
    // Without the filter both classes count, separately.
    let r = run(&vertical_wire(1), &frames);
    let c = &r.engine.counts().tripwires["v"];
    assert_eq!(c.raw.keys().collect::<Vec<_>>(), ["car", "person"]);
    assert_eq!(r.frames[0].fov.by_class["car"], 1);
    assert_eq!(r.frames[0].fov.total, 2);
}

fn square_roi(extra: serde_json::Value) -> osprey_analytics::AnalyticsConfig {
    let mut roi = json!({"id": "sq", "coordinates": [
        {"x": 100, "y": 100}, {"x": 200, "y": 100}, {"x": 200, "y": 200}, {"x": 100, "y": 200}]});
    for (k, v) in extra.as_object().unwrap() {
        roi[k] = v.clone();
    }
    config(json!({"rois": [roi]}))
}

#[test]
fn roi_inertia_dwell_and_loitering() {
    let cfg = square_roi(json!({"loitering_seconds": 1.0}));
    // Outside 2 frames, inside 20 frames (one of them missing), outside 5 frames.
    let mut pts = vec![(50.0, 150.0), (60.0, 150.0)];
    pts.extend((0..20).map(|i| (110.0 + i as f32, 150.0)));
    pts.extend((0..5).map(|i| (250.0 + i as f32, 150.0)));
    let mut frames = walk(4, 0, &pts);
    frames[10].objects.clear();
    let r = run(&cfg, &frames);
    let occ: Vec<u32> = r.frames.iter().map(|f| f.rois[0].occupancy.total).collect();
    let kinds: Vec<(u64, &str, Option<f64>)> = r
        .frames
        .iter()
        .flat_map(|f| f.events.iter())
        .map(|e| match e {
            AnalyticsEvent::RoiEnter(x) => (x.seq, "enter", x.dwell_seconds),
            AnalyticsEvent::RoiExit(x) => (x.seq, "exit", x.dwell_seconds),
            AnalyticsEvent::Loitering(x) => (x.seq, "loiter", x.dwell_seconds),
            AnalyticsEvent::Crossing(_) => (x_seq(e), "crossing", None),
        })
        .collect();
    eprintln!("occupancy {occ:?}\nevents {kinds:?}");
    // Entered at frame 2, confirmed at frame 4; the missing frame 10 does not end the stay.
    assert_eq!(kinds[0].0, 4);
    assert_eq!(kinds[0].1, "enter");
    assert_eq!(kinds[1].1, "loiter");
    assert_eq!(kinds[1].0, 12);
    // Left at frame 22, confirmed at frame 24; dwell 2.0 s (frames 2..22).
    assert_eq!(kinds[2].0, 24);
    assert_eq!(kinds[2].1, "exit");
    assert!((kinds[2].2.unwrap() - 2.0).abs() < 1e-9);
    assert_eq!(kinds.len(), 3);
    assert_eq!(&occ[..5], [0, 0, 0, 0, 1]);
    assert_eq!(occ[10], 1);
    assert_eq!(&occ[23..], [1, 0, 0, 0]);
    let c = &r.engine.counts().rois["sq"];
    assert_eq!((c.entries_total(), c.exits_total()), (1, 1));
}

fn x_seq(e: &AnalyticsEvent) -> u64 {
    match e {
        AnalyticsEvent::Crossing(c) => c.seq,
        AnalyticsEvent::RoiEnter(r) | AnalyticsEvent::RoiExit(r) | AnalyticsEvent::Loitering(r) => {
            r.seq
        }
    }
}

#[test]
fn an_object_inside_at_the_end_exits_on_finish() {
    let cfg = square_roi(json!({"entry_inertia": 0, "exit_inertia": 0}));
    let r = run(&cfg, &walk(1, 0, &[(150.0, 150.0), (151.0, 150.0)]));
    assert_eq!(r.frames[0].rois[0].occupancy.total, 1);
    assert!(matches!(r.final_events[..], [AnalyticsEvent::RoiExit(_)]));
    assert_eq!(r.summary.rois[0].exits, 1);
    assert_eq!(r.engine.live_objects(), 0);
}

/// Track 1 walks right and vanishes 5 px before the wire; after a 2-frame gap track 2 appears
/// 5 px past it and walks on.
fn switch_at_the_wire() -> Vec<FrameResult> {
    let mut f = along(1, 0, &[165.0, 175.0, 185.0, 195.0]);
    f.push(frame(4, vec![]));
    f.push(frame(5, vec![]));
    f.extend(along(2, 6, &[225.0, 235.0, 245.0, 255.0, 265.0, 275.0]));
    f
}

#[test]
fn reidentification_joins_a_switched_track_across_the_wire() {
    let frames = switch_at_the_wire();
    for min_points in [1, 3] {
        let r = run(&vertical_wire(min_points), &frames);
        let ev: Vec<_> = r.frames.iter().flat_map(|f| f.events.clone()).collect();
        let [AnalyticsEvent::Crossing(c)] = &ev[..] else {
            panic!("{ev:?}")
        };
        assert_eq!(
            (c.track_id, c.object_id, c.direction),
            (2, 1, Direction::In)
        );
        let mut off = vertical_wire(min_points);
        off.settings.reid.enabled = false;
        assert!(crossings(&run(&off, &frames).summary).is_empty());
    }
    // Not joined: another class, too far, or too late.
    let mut car = switch_at_the_wire();
    for f in &mut car[6..] {
        f.objects[0].label = "car".into();
    }
    assert!(dirs(&car, 1).is_empty());
    let mut far = switch_at_the_wire();
    for f in &mut far[6..] {
        f.objects[0].bbox[1] += 150.0;
        f.objects[0].bbox[3] += 150.0;
    }
    assert!(dirs(&far, 1).is_empty());
    let mut late = switch_at_the_wire();
    late.truncate(6);
    late.extend(along(2, 40, &[225.0, 235.0, 245.0]));
    assert!(dirs(&late, 1).is_empty());
}

#[test]
fn reidentification_keeps_a_back_and_forth_object_at_zero_effective() {
    // Out under id 1, then (id switch) back in under id 9.
    let mut frames = along(1, 0, &[230.0, 220.0, 210.0, 190.0, 180.0, 175.0]);
    frames.extend(along(9, 7, &[185.0, 195.0, 205.0, 215.0, 225.0]));
    let on = run(&vertical_wire(1), &frames);
    let mut cfg = vertical_wire(1);
    cfg.settings.reid.enabled = false;
    let off = run(&cfg, &frames);
    let e = |r: &common::Run| r.engine.counts().tripwires["v"].effective_total();
    eprintln!(
        "back and forth: effective with re-id {:?}, without {:?}",
        e(&on),
        e(&off)
    );
    assert_eq!((e(&on).in_, e(&on).out), (0, 0));
    assert_eq!((e(&off).in_, e(&off).out), (1, 1));
}

#[test]
fn memory_is_bounded_and_counts_settle_when_objects_end() {
    let rules = vertical_wire(1).validate(480, 360).unwrap();
    let mut engine = Analytics::new(rules);
    let mut max_live = 0;
    for k in 0..500u64 {
        // Each track crosses in 5 frames, then vanishes; 10 frames per track.
        for i in 0..10u64 {
            let seq = k * 10 + i;
            let objects = if i < 5 {
                vec![person(k + 1, 180.0 + 10.0 * i as f32, 150.0)]
            } else {
                vec![]
            };
            engine.process(&frame(seq, objects));
            max_live = max_live.max(engine.live_objects());
        }
    }
    let c = engine.counts().tripwires["v"].clone();
    assert_eq!(c.raw_total().in_, 500);
    // All but the last few ended (object timeout 3 s = 30 frames) and are settled.
    assert!(c.effective_total().in_ >= 496, "{c:?}");
    assert!(max_live <= 5, "live objects {max_live}");
    assert_eq!(
        engine.live_counts().tripwires["v"].effective_total().in_,
        500
    );
    engine.finish();
    assert_eq!(engine.counts().tripwires["v"].effective_total().in_, 500);
    assert_eq!(engine.live_objects(), 0);
}

#[test]
fn tracks_ended_by_the_tracker_settle_at_once() {
    let rules = vertical_wire(1).validate(480, 360).unwrap();
    let mut engine = Analytics::new(rules);
    for f in along(1, 0, &[180.0, 190.0, 210.0]) {
        engine.process(&f);
    }
    let mut last = frame(3, vec![]);
    last.ended = vec![person(1, 210.0, 150.0)];
    engine.process(&last);
    assert_eq!(engine.live_objects(), 0);
    assert_eq!(engine.counts().tripwires["v"].effective_total().in_, 1);
}

#[test]
fn predicted_boxes_do_not_cross() {
    let mut frames = along(1, 0, &[180.0, 190.0, 210.0, 220.0]);
    frames[2].objects[0].matched = false;
    frames[3].objects[0].matched = false;
    assert!(dirs(&frames, 1).is_empty());
    frames[3].objects[0].matched = true;
    assert_eq!(dirs(&frames, 1), [(3, 1, "in".to_owned())]);
}

#[test]
fn counts_survive_a_restart() {
    let frames = along(1, 0, &[180.0, 190.0, 210.0, 220.0]);
    let cfg = vertical_wire(1);
    let first = run(&cfg, &frames);
    let saved = serde_json::to_string(first.engine.counts()).unwrap();
    let snapshot: Counts = serde_json::from_str(&saved).unwrap();
    assert_eq!(&snapshot, first.engine.counts());
    let mut with_unknown = snapshot.clone();
    with_unknown
        .tripwires
        .insert("gone".into(), Default::default());
    let mut second = Analytics::new(cfg.validate(480, 360).unwrap());
    assert_eq!(second.restore_counts(&with_unknown), ["gone"]);
    for f in along(5, 100, &[220.0, 210.0, 190.0]) {
        second.process(&f);
    }
    second.finish();
    let c = &second.counts().tripwires["v"];
    assert_eq!((c.raw_total().in_, c.raw_total().out), (1, 1));
    assert_eq!((c.effective_total().in_, c.effective_total().out), (1, 1));
    let j = serde_json::to_value(second.counts()).unwrap();
    assert_eq!(
        j["tripwires"]["v"]["raw"]["person"],
        json!({"in": 1, "out": 1})
    );
}
