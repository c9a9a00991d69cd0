//! Id-switch robustness on the pedestrian reference: every track that comes within 20 px of line
//! A continues under a new tracker id from its closest approach (after a short gap, as ByteTrack
//! confirms a new track on its 2nd detection). Re-identification must keep the effective counts
//! where they were without switches; without it they drift.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use std::collections::BTreeMap;

use common::{config, line_a, run, Reference};
use osprey_analytics::geometry::distance_to_segment;
use osprey_analytics::Point;
use osprey_schema::FrameResult;
use serde_json::json;

const RADIUS: f64 = 20.0;

/// Dropped observations between the old id's last frame and the new id's first.
const GAP: usize = 1;

/// Returns the rewritten frames and the number of switches injected.
fn inject(frames: &[FrameResult]) -> (Vec<FrameResult>, usize) {
    let (p1, p2) = (Point::new(366.0, 288.0), Point::new(330.0, 108.0));
    // Per track: (frame index, distance of the anchor to the wire), in order.
    let mut seen: BTreeMap<u64, Vec<(usize, f64)>> = BTreeMap::new();
    for (fi, f) in frames.iter().enumerate() {
        for o in &f.objects {
            let (x, y) = o.bottom_centre();
            let d = distance_to_segment(Point::new(f64::from(x), f64::from(y)), p1, p2);
            seen.entry(o.track_id).or_default().push((fi, d));
        }
    }
    // One switch per approach (a run of consecutive observations within RADIUS), at its closest
    // observation; the GAP observations before it vanish.
    let mut switch_at: BTreeMap<(u64, usize), u64> = BTreeMap::new();
    let mut dropped: BTreeMap<(u64, usize), ()> = BTreeMap::new();
    let mut next_id = 1000;
    for (&track, obs) in &seen {
        let mut i = 0;
        while i < obs.len() {
            if obs[i].1 > RADIUS {
                i += 1;
                continue;
            }
            let start = i;
            while i < obs.len() && obs[i].1 <= RADIUS {
                i += 1;
            }
            let best = (start..i)
                .min_by(|&a, &b| obs[a].1.total_cmp(&obs[b].1))
                .unwrap();
            if best < GAP + 1 {
                continue; // the track would not exist before the switch
            }
            switch_at.insert((track, obs[best].0), next_id);
            next_id += 1;
            for o in &obs[best - GAP..best] {
                dropped.insert((track, o.0), ());
            }
        }
    }
    let mut current: BTreeMap<u64, u64> = BTreeMap::new();
    let out = frames
        .iter()
        .enumerate()
        .map(|(fi, f)| {
            let mut f = f.clone();
            f.objects
                .retain(|o| !dropped.contains_key(&(o.track_id, fi)));
            for o in &mut f.objects {
                if let Some(&new) = switch_at.get(&(o.track_id, fi)) {
                    current.insert(o.track_id, new);
                }
                if let Some(&id) = current.get(&o.track_id) {
                    o.track_id = id;
                }
            }
            f
        })
        .collect();
    (out, switch_at.len())
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Figures {
    raw: (u64, u64),
    effective: (u64, u64),
}

fn figures(frames: &[FrameResult], min_points: usize, reid: bool) -> Figures {
    let cfg = config(json!({
        "tripwires": [line_a(min_points, false)],
        "settings": {"reid": {"enabled": reid}}
    }));
    let r = run(&cfg, frames);
    let c = &r.engine.counts().tripwires["line_A"];
    let (raw, eff) = (c.raw_total(), c.effective_total());
    let s = &r.summary.tripwires[0];
    assert_eq!((s.in_, s.out), (raw.in_, raw.out));
    assert_eq!((s.effective_in, s.effective_out), (eff.in_, eff.out));
    Figures {
        raw: (raw.in_, raw.out),
        effective: (eff.in_, eff.out),
    }
}

fn drift(a: (u64, u64), b: (u64, u64)) -> u64 {
    a.0.abs_diff(b.0) + a.1.abs_diff(b.1)
}

#[test]
fn reidentification_absorbs_id_switches_near_the_wire() {
    let Some(r) = Reference::load("reidentification_absorbs_id_switches_near_the_wire") else {
        return;
    };
    let (switched, n) = inject(&r.frames);
    eprintln!("injected {n} id switches (gap {GAP} frame) within {RADIUS} px of line A");
    assert!(n >= 10, "every crossing track passes near the wire");
    let mut off_drift = 0;
    for min_points in [1, 5] {
        let base = figures(&r.frames, min_points, true);
        let base_off = figures(&r.frames, min_points, false);
        let on = figures(&switched, min_points, true);
        let off = figures(&switched, min_points, false);
        eprintln!(
            "min_points {min_points}: raw in/out | effective in/out\n  \
             no switches, re-id on : {:?} | {:?}\n  \
             no switches, re-id off: {:?} | {:?}\n  \
             switches,    re-id on : {:?} | {:?}\n  \
             switches,    re-id off: {:?} | {:?}",
            base.raw,
            base.effective,
            base_off.raw,
            base_off.effective,
            on.raw,
            on.effective,
            off.raw,
            off.effective
        );
        assert_eq!(base, base_off, "re-id must not change the switch-free clip");
        for (got, want) in [
            (on.effective.0, base.effective.0),
            (on.effective.1, base.effective.1),
            (on.raw.0, base.raw.0),
            (on.raw.1, base.raw.1),
        ] {
            assert!(got.abs_diff(want) <= 1, "{on:?} vs {base:?}");
        }
        off_drift += drift(off.raw, base.raw) + drift(off.effective, base.effective);
    }
    assert!(
        off_drift >= 4,
        "without re-id the counts should drift ({off_drift})"
    );
}
