use super::*;
use crate::{AnalyticsConfig, DirectionName, Roi, Tripwire, TripwireDirection};
use osprey_schema::analytics::{CrossingEvent, Direction, Occupancy, RoiEvent, RoiOccupancy};

fn config(rules: AlertRules) -> AnalyticsConfig {
    AnalyticsConfig {
        tripwires: vec![Tripwire {
            id: "door".into(),
            name: String::new(),
            wire: vec![Point::new(0.0, 50.0), Point::new(100.0, 50.0)],
            direction: TripwireDirection {
                p1: Point::new(50.0, 40.0),
                p2: Point::new(50.0, 60.0),
                entry: DirectionName {
                    name: "inside".into(),
                },
                exit: DirectionName {
                    name: "outside".into(),
                },
            },
            classes: vec![],
            normalized: false,
            anchor: Default::default(),
            min_points: 1,
        }],
        rois: vec![Roi {
            id: "queue".into(),
            name: String::new(),
            coordinates: vec![
                Point::new(0.0, 0.0),
                Point::new(10.0, 0.0),
                Point::new(10.0, 10.0),
            ],
            classes: vec![],
            normalized: false,
            anchor: Default::default(),
            entry_inertia: 1,
            exit_inertia: 1,
            loitering_seconds: None,
        }],
        settings: Default::default(),
        alerts: rules,
    }
}

use crate::Point;

fn rule(id: &str, t: AlertRuleType, threshold: u64, interval: f64, cooldown: f64) -> AlertRule {
    AlertRule {
        id: id.into(),
        name: String::new(),
        rule_type: t,
        tripwire_id: None,
        roi_id: None,
        direction: AlertDirection::Both,
        count_threshold: threshold,
        time_interval: interval,
        object_type: vec![],
        cooldown_seconds: cooldown,
    }
}

fn crossing(d: Direction, label: &str) -> AnalyticsEvent {
    AnalyticsEvent::Crossing(CrossingEvent {
        rule_id: "door".into(),
        track_id: 1,
        object_id: 1,
        label: label.into(),
        direction: d,
        direction_name: String::new(),
        seq: 0,
        crossed_seq: 0,
        pts: 0.0,
        wall: 0.0,
    })
}

/// A frame at `t` seconds (pts; wall = 1000 + t) with `fov` people, `roi` of them in the queue.
fn frame(t: f64, fov: u32, roi: u32, events: Vec<AnalyticsEvent>) -> FrameAnalytics {
    let occ = |n: u32| {
        let mut o = Occupancy::default();
        for _ in 0..n {
            o.add("person");
        }
        o
    };
    FrameAnalytics {
        seq: 0,
        pts: t,
        wall: 1000.0 + t,
        events,
        fov: occ(fov),
        rois: vec![RoiOccupancy {
            rule_id: "queue".into(),
            occupancy: occ(roi),
        }],
    }
}

/// Runs frames every 0.1 s from `from` to `to` (exclusive) with occupancy given by `occ(t)`.
fn run(e: &mut AlertEngine, from: f64, to: f64, occ: impl Fn(f64) -> u32) -> Vec<Alert> {
    let mut out = Vec::new();
    let mut k = 0;
    loop {
        let t = from + f64::from(k) * 0.1;
        if t >= to - 1e-9 {
            return out;
        }
        out.extend(e.frame(&frame(t, occ(t), occ(t), vec![])));
        k += 1;
    }
}

#[test]
fn increment_fires_every_threshold_crossings_in_the_window_with_cooldown() {
    let mut r = rule("busy", AlertRuleType::Increment, 2, 5.0, 0.0);
    r.tripwire_id = Some("door".into());
    r.direction = AlertDirection::Entry;
    let cfg = config(AlertRules {
        tripwire: vec![r.clone()],
        ..Default::default()
    });
    let mut e = AlertEngine::new("cam", &cfg);
    let mut fired = Vec::new();
    // IN at 0 and 1 s: fires at 1 s; OUT never counts; IN at 10 s and 16 s are 6 s apart: no.
    for (t, d) in [
        (0.0, Direction::In),
        (0.5, Direction::Out),
        (1.0, Direction::In),
        (10.0, Direction::In),
        (16.0, Direction::In),
        (17.0, Direction::In),
    ] {
        fired.extend(e.frame(&frame(t, 0, 0, vec![crossing(d, "person")])));
    }
    let at: Vec<(f64, Option<f64>, u64)> =
        fired.iter().map(|a| (a.start, a.end, a.count)).collect();
    assert_eq!(
        at,
        vec![(1000.0, Some(1001.0), 2), (1016.0, Some(1017.0), 2)]
    );
    assert_eq!(fired[0].direction.as_deref(), Some("entry"));
    assert_eq!(fired[0].direction_name.as_deref(), Some("inside"));
    assert_eq!(fired[0].rule_type, "increment");
    assert_eq!(fired[0].kind, AlertKind::Tripwire);

    // With a 10 s cooldown the second pair (16, 17 s) is inside it only if it began < 11 s.
    r.count_threshold = 1;
    r.cooldown_seconds = 10.0;
    let cfg = config(AlertRules {
        tripwire: vec![r],
        ..Default::default()
    });
    let mut e = AlertEngine::new("cam", &cfg);
    let mut n = 0;
    for t in [0.0, 1.0, 5.0, 10.5, 11.0] {
        n += e
            .frame(&frame(t, 0, 0, vec![crossing(Direction::In, "person")]))
            .len();
    }
    assert_eq!(n, 2, "0 s fires, 1–10 s are cooling down, 10.5 s fires");
}

#[test]
fn object_type_filters_crossings_case_insensitively() {
    let mut r = rule("cars", AlertRuleType::Increment, 1, 1.0, 0.0);
    r.tripwire_id = Some("door".into());
    r.object_type = vec!["Car".into()];
    let mut e = AlertEngine::new(
        "cam",
        &config(AlertRules {
            tripwire: vec![r],
            ..Default::default()
        }),
    );
    assert!(e
        .frame(&frame(0.0, 0, 0, vec![crossing(Direction::In, "person")]))
        .is_empty());
    assert_eq!(
        e.frame(&frame(1.0, 0, 0, vec![crossing(Direction::Out, "car")]))
            .len(),
        1
    );
}

#[test]
fn flowrate_lasts_while_the_window_holds_enough_crossings() {
    let mut r = rule("rush", AlertRuleType::Flowrate, 3, 2.0, 0.0);
    r.tripwire_id = Some("door".into());
    let mut e = AlertEngine::new(
        "cam",
        &config(AlertRules {
            tripwire: vec![r],
            ..Default::default()
        }),
    );
    let mut out = Vec::new();
    for k in 0..60 {
        let t = f64::from(k) * 0.1;
        // Crossings at 0.0, 0.5, 1.0, 1.5 s, then none.
        let ev = if k <= 15 && k % 5 == 0 {
            vec![crossing(Direction::In, "person")]
        } else {
            vec![]
        };
        out.extend(e.frame(&frame(t, 0, 0, ev)));
    }
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[0].end, None, "started");
    assert_eq!(out[0].start, 1000.0, "at the window's first crossing");
    assert_eq!(out[1].id, out[0].id, "the end has the start's id");
    assert_eq!(out[1].count, 4, "peak of the window");
    // The window (2 s) drops below 3 once the 0.5 s crossing leaves it: after 2.5 s.
    let end = out[1].end.expect("ended") - 1000.0;
    assert!((end - 2.6).abs() < 1e-6, "ended at {end}");
}

#[test]
fn occupancy_threshold_fires_after_the_hold_time_resets_after_it_and_ignores_flicker() {
    let mut r = rule("crowd", AlertRuleType::OccupancyThreshold, 3, 1.0, 0.0);
    r.roi_id = Some("queue".into());
    let cfg = config(AlertRules {
        roi: vec![r],
        ..Default::default()
    });
    let mut e = AlertEngine::new("cam", &cfg);
    // 3 people from 1 s to 5 s, with a one-frame dip at 3 s; 0 after 5 s.
    let occ = |t: f64| {
        if (1.0..5.0).contains(&t) && (t - 3.0).abs() > 0.05 {
            3
        } else {
            0
        }
    };
    let out = run(&mut e, 0.0, 8.0, occ);
    assert_eq!(out.len(), 2, "one start, one end: {out:?}");
    assert_eq!(out[0].start, 1001.0, "stamped when the occupancy got there");
    assert_eq!(out[0].end, None);
    assert!(
        (out[1].end.expect("ended") - 1005.0).abs() < 1e-6,
        "stamped when it dropped"
    );
    assert_eq!(out[1].count, 3);
    // A short burst (0.5 s) never fires.
    let mut e = AlertEngine::new("cam", &cfg);
    assert!(run(&mut e, 0.0, 4.0, |t| if (1.0..1.5).contains(&t) {
        5
    } else {
        0
    })
    .is_empty());
}

#[test]
fn cooldown_keeps_a_threshold_rule_quiet_after_it_ends() {
    let mut r = rule("full", AlertRuleType::OccupancyThreshold, 1, 0.0, 5.0);
    r.roi_id = Some("queue".into());
    let mut e = AlertEngine::new(
        "cam",
        &config(AlertRules {
            roi: vec![r],
            ..Default::default()
        }),
    );
    // On 0–1 s, off 1–2 s, on 2–3 s (cooling down until 6 s), on again from 7 s.
    let on = |t: f64| u32::from((0.0..1.0).contains(&t) || (2.0..3.0).contains(&t) || t >= 7.0);
    let out = run(&mut e, 0.0, 8.0, on);
    let starts: Vec<f64> = out
        .iter()
        .filter(|a| a.end.is_none())
        .map(|a| (a.start - 1000.0).round())
        .collect();
    assert_eq!(starts, vec![0.0, 7.0], "{out:?}");
}

#[test]
fn occupancy_switch_reports_occupied_and_vacant() {
    let r = rule("presence", AlertRuleType::OccupancySwitch, 1, 0.5, 0.0);
    let mut e = AlertEngine::new(
        "cam",
        &config(AlertRules {
            fov: vec![r],
            ..Default::default()
        }),
    );
    let out = run(&mut e, 0.0, 6.0, |t| u32::from((1.0..3.0).contains(&t)));
    let dirs: Vec<&str> = out.iter().filter_map(|a| a.direction.as_deref()).collect();
    assert_eq!(dirs, vec!["occupied", "vacant"]);
    assert_eq!(out[0].kind, AlertKind::Fov);
    assert_eq!(out[0].start, 1001.0);
    assert_eq!(out[1].start, 1003.0);
}

#[test]
fn loitering_alerts_once_per_stay() {
    let mut r = rule("linger", AlertRuleType::Loitering, 1, 2.0, 0.0);
    r.roi_id = Some("queue".into());
    let mut e = AlertEngine::new(
        "cam",
        &config(AlertRules {
            roi: vec![r],
            ..Default::default()
        }),
    );
    let ev = |kind: fn(RoiEvent) -> AnalyticsEvent, id: u64| {
        kind(RoiEvent {
            rule_id: "queue".into(),
            track_id: id,
            object_id: id,
            label: "person".into(),
            seq: 0,
            pts: 0.0,
            wall: 0.0,
            dwell_seconds: None,
        })
    };
    let mut out = Vec::new();
    for k in 0..50 {
        let t = f64::from(k) * 0.1;
        let mut events = vec![];
        if k == 0 {
            events.push(ev(AnalyticsEvent::RoiEnter, 7));
            events.push(ev(AnalyticsEvent::RoiEnter, 8));
        }
        if k == 10 {
            events.push(ev(AnalyticsEvent::RoiExit, 8));
        }
        out.extend(e.frame(&frame(t, 0, 0, events)));
    }
    assert_eq!(out.len(), 1, "object 8 left after 1 s: {out:?}");
    assert_eq!(out[0].attributes["objectId"], "7");
    assert_eq!(out[0].start, 1002.0);
}

#[test]
fn a_step_back_in_time_restarts_the_timers_and_finish_ends_what_is_active() {
    let mut r = rule("crowd", AlertRuleType::OccupancyThreshold, 1, 1.0, 0.0);
    r.roi_id = Some("queue".into());
    let mut e = AlertEngine::new(
        "cam",
        &config(AlertRules {
            roi: vec![r],
            ..Default::default()
        }),
    );
    // 0.9 s of occupancy, then the file loops (pts back to 0): the hold starts over.
    assert!(run(&mut e, 10.0, 10.9, |_| 1).is_empty());
    assert!(run(&mut e, 0.0, 0.9, |_| 1).is_empty());
    let out = run(&mut e, 0.9, 1.5, |_| 1);
    assert_eq!(out.len(), 1, "{out:?}");
    let end = e.finish(2000.0);
    assert_eq!(end.len(), 1);
    assert_eq!(end[0].end, Some(2000.0));
    assert!(e.finish(2001.0).is_empty());
}

#[test]
fn rules_validate_types_targets_and_numbers() {
    let mut bad_type = rule("a", AlertRuleType::Loitering, 1, 1.0, 0.0);
    bad_type.tripwire_id = Some("door".into());
    let mut no_target = rule("b", AlertRuleType::OccupancyThreshold, 1, 1.0, 0.0);
    no_target.roi_id = Some("nope".into());
    let numbers = rule("c", AlertRuleType::OccupancyThreshold, 0, -1.0, f64::NAN);
    let dup = rule("c", AlertRuleType::OccupancySwitch, 0, 1.0, 0.0);
    let cfg = config(AlertRules {
        tripwire: vec![bad_type],
        roi: vec![no_target],
        fov: vec![numbers, dup],
    });
    let err = cfg.validate(100, 100).expect_err("refused");
    let fields: Vec<&str> = err.problems().iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            "alerts.tripwire[0].ruleType",
            "alerts.roi[0].roiId",
            "alerts.fov[0].countThreshold",
            "alerts.fov[0].timeInterval",
            "alerts.fov[0].cooldownSeconds",
            "alerts.fov[1].id",
        ]
    );
}

#[test]
fn rules_read_back_as_written() {
    let text = r#"{"id":"busy","ruleType":"increment","tripwireId":"door","direction":"entry","countThreshold":5,"timeInterval":60.0}"#;
    let r: AlertRule = serde_json::from_str(text).expect("parse");
    assert_eq!(serde_json::to_string(&r).expect("json"), text);
    let alias: AlertRule =
        serde_json::from_str(r#"{"ruleId":"x","ruleType":"occupancyThreshold","roiId":"q"}"#)
            .expect("aliases");
    assert_eq!(alias.rule_type, AlertRuleType::OccupancyThreshold);
    assert_eq!((alias.count_threshold, alias.time_interval), (1, 1.0));
}
