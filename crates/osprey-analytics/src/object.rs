//! Per-object state: a short trajectory, crossing tallies and ROI membership.

use std::collections::VecDeque;

use crate::config::{CompiledRoi, CompiledTripwire};
use crate::geometry::{distance_to_segment, polyline_crossing, polyline_side, Point};

/// One observation of an object, its box already in rule pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Obs {
    pub seq: u64,
    pub pts: f64,
    pub bbox: [f64; 4],
}

impl Obs {
    pub fn centre(&self) -> Point {
        Point::new(
            (self.bbox[0] + self.bbox[2]) / 2.0,
            (self.bbox[1] + self.bbox[3]) / 2.0,
        )
    }

    pub fn height(&self) -> f64 {
        self.bbox[3] - self.bbox[1]
    }
}

/// Where one object stands relative to one tripwire.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct WireState {
    /// The latest anchor not lying exactly on the wire.
    last_off: Option<Point>,
    /// The side (`±1`, nearest segment) held for `min_points` consecutive observations; `0`
    /// before that.
    confirmed: i32,
    /// The side of the current run of consecutive observations, and its length.
    run_side: i32,
    run_len: usize,
    /// The crossing sign of the move that started the run, and the run's first frame.
    run_entry: (i32, u64),
}

impl WireState {
    /// Feeds one anchor; returns `(sign, crossed_seq)` when it completes a crossing.
    fn step(&mut self, t: &CompiledTripwire, p: Point, seq: u64) -> Option<(i32, u64)> {
        let on_wire = t
            .wire
            .windows(2)
            .any(|s| distance_to_segment(p, s[0], s[1]) == 0.0);
        if t.min_points == 1 {
            // The plain rule: every move between off-wire anchors that crosses the wire.
            if on_wire {
                return None;
            }
            let prev = self.last_off.replace(p)?;
            let sign = polyline_crossing(&t.wire, prev, p);
            return (sign != 0).then_some((sign, seq));
        }
        let side = polyline_side(&t.wire, p);
        if on_wire || side == 0 {
            return None;
        }
        let prev = self.last_off.replace(p);
        if side != self.run_side {
            let sign = prev.map_or(0, |a| polyline_crossing(&t.wire, a, p));
            self.run_side = side;
            self.run_len = 0;
            self.run_entry = (sign, seq);
        }
        self.run_len += 1;
        if self.run_len != t.min_points || side == self.confirmed {
            return None;
        }
        let was = std::mem::replace(&mut self.confirmed, side);
        (was == -side && self.run_entry.0 == side).then_some((side, self.run_entry.1))
    }
}

/// Membership of one object in one ROI, with inertia.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct RoiState {
    /// Counts as inside.
    pub inside: bool,
    /// Consecutive frames disagreeing with `inside`.
    streak: u32,
    /// Presentation time of the first frame of the streak.
    streak_start: f64,
    /// Presentation time the current stay began.
    pub enter_pts: f64,
    loiter_alerted: bool,
}

/// A change of an object's ROI membership.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum RoiChange {
    Enter,
    Exit { dwell: f64 },
    Loiter { dwell: f64 },
}

impl RoiState {
    /// Feeds one frame: `inside` is whether the object's anchor is inside (false when unseen).
    pub fn step(&mut self, r: &CompiledRoi, inside: bool, pts: f64) -> Option<RoiChange> {
        if inside == self.inside {
            self.streak = 0;
            if let (true, Some(limit)) = (inside, r.loitering_seconds) {
                let dwell = pts - self.enter_pts;
                if !self.loiter_alerted && dwell >= limit {
                    self.loiter_alerted = true;
                    return Some(RoiChange::Loiter { dwell });
                }
            }
            return None;
        }
        if self.streak == 0 {
            self.streak_start = pts;
        }
        self.streak += 1;
        let need = if inside {
            r.entry_inertia
        } else {
            r.exit_inertia
        };
        if self.streak < need.max(1) {
            return None;
        }
        self.inside = inside;
        self.streak = 0;
        if inside {
            self.enter_pts = self.streak_start;
            self.loiter_alerted = false;
            Some(RoiChange::Enter)
        } else {
            Some(RoiChange::Exit {
                dwell: self.streak_start - self.enter_pts,
            })
        }
    }
}

/// Everything known about one object (one or more tracks joined by re-identification).
#[derive(Debug, Clone)]
pub(crate) struct Object {
    /// Reported id: the first track id of the object.
    pub object_id: u64,
    pub label: String,
    /// The tracker id of the latest observation.
    pub track_id: u64,
    pub last_pts: f64,
    /// Recent observations, oldest first, at most `cap`.
    pub trajectory: VecDeque<Obs>,
    cap: usize,
    /// Per tripwire: (INs, OUTs) over the object's life.
    pub tally: Vec<(u32, u32)>,
    /// Per tripwire.
    wires: Vec<WireState>,
    /// Per ROI.
    pub rois: Vec<RoiState>,
    /// Observed in the frame being processed.
    pub seen_now: bool,
}

impl Object {
    pub fn new(track_id: u64, label: &str, tripwires: usize, rois: usize, cap: usize) -> Self {
        Object {
            object_id: track_id,
            label: label.to_owned(),
            track_id,
            last_pts: f64::NEG_INFINITY,
            trajectory: VecDeque::with_capacity(cap),
            cap,
            tally: vec![(0, 0); tripwires],
            wires: vec![WireState::default(); tripwires],
            rois: vec![RoiState::default(); rois],
            seen_now: true,
        }
    }

    /// Appends an observation, forgetting the oldest beyond the cap.
    pub fn push(&mut self, obs: Obs) {
        if self.trajectory.len() == self.cap {
            self.trajectory.pop_front();
        }
        self.last_pts = obs.pts;
        self.trajectory.push_back(obs);
    }

    /// The latest observation.
    pub fn last(&self) -> Option<&Obs> {
        self.trajectory.back()
    }

    /// Where the box centre is expected at `pts`, from the motion over the last few observations.
    pub fn predicted_centre(&self, pts: f64) -> Option<Point> {
        let last = self.trajectory.back()?;
        let first = self
            .trajectory
            .iter()
            .rev()
            .nth(4)
            .or(self.trajectory.front())?;
        let dt = last.pts - first.pts;
        let (c1, c0) = (last.centre(), first.centre());
        if dt <= 0.0 {
            return Some(c1);
        }
        let k = (pts - last.pts) / dt;
        Some(Point::new(
            c1.x + (c1.x - c0.x) * k,
            c1.y + (c1.y - c0.y) * k,
        ))
    }

    /// Feeds the latest observation to tripwire `ti`; returns a crossing it completes.
    pub fn wire_step(&mut self, ti: usize, t: &CompiledTripwire, obs: &Obs) -> Option<(i32, u64)> {
        self.wires[ti].step(t, t.anchor.of(obs.bbox), obs.seq)
    }
}
