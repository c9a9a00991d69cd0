//! The analytics engine: feeds tracker output frame by frame through the compiled rules.

use std::collections::BTreeMap;

use osprey_schema::FrameResult;

use crate::config::{applies, CompiledRules};
use crate::counts::Counts;
use crate::events::{
    AnalyticsEvent, CrossingEvent, Direction, FrameAnalytics, Occupancy, RoiEvent, RoiOccupancy,
};
use crate::geometry::point_in_polygon;
use crate::object::{Object, Obs, RoiChange};

/// One valid detection of the current frame, its box scaled to rule pixels.
#[derive(Debug)]
struct Det<'a> {
    track_id: u64,
    label: &'a str,
    bbox: [f64; 4],
    /// A detection was matched (false: the tracker's prediction).
    matched: bool,
}

/// When an event happens.
#[derive(Debug, Clone, Copy)]
struct Stamp {
    seq: u64,
    pts: f64,
    wall: f64,
}

/// Counts, events and occupancy from tracker output, for one camera.
///
/// Synchronous and deterministic: feed frames in decode order with [`Analytics::process`], then
/// call [`Analytics::finish`] at the end of the stream.
#[derive(Debug, Clone)]
pub struct Analytics {
    rules: CompiledRules,
    /// Live objects by internal key (creation order).
    objects: BTreeMap<u64, Object>,
    /// Tracker id → object key, for live objects.
    tracks: BTreeMap<u64, u64>,
    next_key: u64,
    counts: Counts,
    /// Trajectory length kept per object.
    cap: usize,
    last: Stamp,
}

impl Analytics {
    /// An engine for validated rules, with zero counts.
    pub fn new(rules: CompiledRules) -> Self {
        Analytics {
            cap: 5,
            counts: Counts::for_rules(&rules),
            rules,
            objects: BTreeMap::new(),
            tracks: BTreeMap::new(),
            next_key: 0,
            last: Stamp {
                seq: 0,
                pts: 0.0,
                wall: 0.0,
            },
        }
    }

    /// The rules this engine runs.
    pub fn rules(&self) -> &CompiledRules {
        &self.rules
    }

    /// Running totals. Effective counts include only objects that have ended (see
    /// [`Analytics::live_counts`]).
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// Running totals plus the effective counts the live objects would add if they ended now.
    pub fn live_counts(&self) -> Counts {
        let mut c = self.counts.clone();
        for o in self.objects.values() {
            settle_effective(&self.rules, &mut c, o);
        }
        c
    }

    /// Adds persisted totals (from [`Analytics::counts`] of an earlier run) to this engine's;
    /// call it on a fresh engine. Returns the snapshot's rule ids this engine does not have,
    /// whose counts were dropped.
    pub fn restore_counts(&mut self, snapshot: &Counts) -> Vec<String> {
        self.counts.merge_known(snapshot)
    }

    /// Number of live objects (bounded by the objects seen within the object timeout).
    pub fn live_objects(&self) -> usize {
        self.objects.len()
    }

    /// Processes one frame of tracker output.
    pub fn process(&mut self, frame: &FrameResult) -> FrameAnalytics {
        // Frames are numbered in decode order (`FrameResult::frame`), the numbering a video
        // file and offline summaries use.
        let stamp = Stamp {
            seq: frame.frame,
            pts: frame.pts,
            wall: frame.wall,
        };
        self.last = stamp;
        let mut out = FrameAnalytics {
            seq: frame.frame,
            pts: frame.pts,
            wall: frame.wall,
            events: Vec::new(),
            fov: Occupancy::default(),
            rois: Vec::new(),
        };
        self.expire(stamp, &mut out.events);
        self.end_tracks(frame, stamp, &mut out.events);
        for o in self.objects.values_mut() {
            o.seen_now = false;
        }
        let dets = self.scaled(frame);
        let mut assigned = Vec::with_capacity(dets.len());
        let mut pending = Vec::new();
        for (i, d) in dets.iter().enumerate() {
            let known = self.tracks.get(&d.track_id).copied();
            match known.and_then(|k| self.objects.get_mut(&k).map(|o| (k, o))) {
                Some((k, o)) if !o.seen_now => {
                    o.seen_now = true;
                    assigned.push((i, k));
                }
                _ => pending.push(i),
            }
        }
        self.reidentify(&dets, &pending, &mut assigned, stamp.pts);
        for &(i, k) in &assigned {
            let d = &dets[i];
            out.fov.add(d.label);
            let Some(o) = self.objects.get_mut(&k) else {
                continue;
            };
            if !d.matched {
                // A prediction: the object is still there, but this is no evidence of where.
                o.last_pts = stamp.pts;
                continue;
            }
            let obs = Obs {
                seq: stamp.seq,
                pts: stamp.pts,
                bbox: d.bbox,
            };
            observe(
                &self.rules,
                &mut self.counts,
                o,
                obs,
                stamp,
                &mut out.events,
            );
        }
        for o in self.objects.values_mut().filter(|o| !o.seen_now) {
            for (ri, r) in self.rules.rois.iter().enumerate() {
                let change = o.rois[ri].step(r, false, stamp.pts);
                roi_event(&mut self.counts, &r.id, o, change, stamp, &mut out.events);
            }
        }
        out.rois = self.roi_occupancy();
        out
    }

    /// Objects counting as inside each ROI.
    fn roi_occupancy(&self) -> Vec<RoiOccupancy> {
        self.rules
            .rois
            .iter()
            .enumerate()
            .map(|(ri, r)| {
                let mut occupancy = Occupancy::default();
                for o in self.objects.values().filter(|o| o.rois[ri].inside) {
                    occupancy.add(&o.label);
                }
                RoiOccupancy {
                    rule_id: r.id.clone(),
                    occupancy,
                }
            })
            .collect()
    }

    /// Ends every live object (end of stream): settles effective counts and closes ROI stays.
    /// Returns the ROI exit events this produces.
    pub fn finish(&mut self) -> Vec<AnalyticsEvent> {
        let mut events = Vec::new();
        let keys: Vec<u64> = self.objects.keys().copied().collect();
        for k in keys {
            self.end_object(k, self.last, &mut events);
        }
        events
    }

    /// The frame's valid objects, boxes scaled to the rules' frame size; repeated track ids and
    /// boxes with non-finite coordinates are skipped.
    fn scaled<'a>(&self, frame: &'a FrameResult) -> Vec<Det<'a>> {
        let factor = |rule: u32, got: u32| {
            if got == 0 {
                1.0
            } else {
                f64::from(rule) / f64::from(got)
            }
        };
        let sx = factor(self.rules.width, frame.width);
        let sy = factor(self.rules.height, frame.height);
        let mut seen = std::collections::BTreeSet::new();
        frame
            .objects
            .iter()
            .filter(|o| o.bbox.iter().all(|v| v.is_finite()) && seen.insert(o.track_id))
            .map(|o| Det {
                track_id: o.track_id,
                label: &o.label,
                matched: o.matched,
                bbox: [
                    f64::from(o.bbox[0]) * sx,
                    f64::from(o.bbox[1]) * sy,
                    f64::from(o.bbox[2]) * sx,
                    f64::from(o.bbox[3]) * sy,
                ],
            })
            .collect()
    }

    /// Joins each new track id to a vanished object of the same class if one was last seen close
    /// enough, recently enough (closest pairs first); otherwise starts a new object.
    fn reidentify(
        &mut self,
        dets: &[Det],
        pending: &[usize],
        assigned: &mut Vec<(usize, u64)>,
        now: f64,
    ) {
        let reid = &self.rules.settings.reid;
        let mut pairs: Vec<(f64, usize, u64)> = Vec::new();
        if reid.enabled {
            for &i in pending {
                let d = &dets[i];
                let new = Obs {
                    seq: 0,
                    pts: now,
                    bbox: d.bbox,
                };
                for (&k, o) in &self.objects {
                    if let Some(score) = reid_score(reid, o, d.label, &new) {
                        pairs.push((score, i, k));
                    }
                }
            }
        }
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut done = vec![false; dets.len()];
        for (_, i, k) in pairs {
            let Some(o) = self.objects.get_mut(&k) else {
                continue;
            };
            if done[i] || o.seen_now {
                continue;
            }
            if self.tracks.get(&o.track_id) == Some(&k) {
                self.tracks.remove(&o.track_id);
            }
            o.track_id = dets[i].track_id;
            o.seen_now = true;
            self.tracks.insert(dets[i].track_id, k);
            done[i] = true;
            assigned.push((i, k));
        }
        for &i in pending.iter().filter(|&&i| !done[i]) {
            let d = &dets[i];
            let k = self.next_key;
            self.next_key += 1;
            let o = Object::new(
                d.track_id,
                d.label,
                self.rules.tripwires.len(),
                self.rules.rois.len(),
                self.cap,
            );
            self.objects.insert(k, o);
            self.tracks.insert(d.track_id, k);
            assigned.push((i, k));
        }
    }

    /// Ends the objects whose current track the tracker gave up in this frame.
    fn end_tracks(&mut self, frame: &FrameResult, stamp: Stamp, events: &mut Vec<AnalyticsEvent>) {
        for t in &frame.ended {
            let Some(&k) = self.tracks.get(&t.track_id) else {
                continue;
            };
            if self
                .objects
                .get(&k)
                .is_some_and(|o| o.track_id == t.track_id)
            {
                self.end_object(k, stamp, events);
            }
        }
    }

    /// Ends objects unseen for longer than the object timeout.
    fn expire(&mut self, stamp: Stamp, events: &mut Vec<AnalyticsEvent>) {
        let timeout = self.rules.settings.object_timeout_seconds;
        let old: Vec<u64> = self
            .objects
            .iter()
            .filter(|(_, o)| stamp.pts - o.last_pts > timeout)
            .map(|(&k, _)| k)
            .collect();
        for k in old {
            self.end_object(k, stamp, events);
        }
    }

    /// Settles an object's effective counts, closes its ROI stays and drops its state.
    fn end_object(&mut self, key: u64, stamp: Stamp, events: &mut Vec<AnalyticsEvent>) {
        let Some(mut o) = self.objects.remove(&key) else {
            return;
        };
        if self.tracks.get(&o.track_id) == Some(&key) {
            self.tracks.remove(&o.track_id);
        }
        settle_effective(&self.rules, &mut self.counts, &o);
        let last_pts = o.last_pts;
        for (ri, r) in self.rules.rois.iter().enumerate() {
            if o.rois[ri].inside {
                o.rois[ri].inside = false;
                let dwell = (last_pts - o.rois[ri].enter_pts).max(0.0);
                let change = Some(RoiChange::Exit { dwell });
                roi_event(&mut self.counts, &r.id, &o, change, stamp, events);
            }
        }
    }
}

/// How well a vanished object `o` matches a new track's first observation (lower is better), or
/// `None` if it cannot be the same object.
fn reid_score(
    reid: &crate::config::ReidSettings,
    o: &Object,
    label: &str,
    new: &Obs,
) -> Option<f64> {
    if o.seen_now || o.label != label {
        return None;
    }
    let gap = new.pts - o.last_pts;
    if !(gap > 0.0 && gap <= reid.max_gap_seconds) {
        return None;
    }
    let last = o.last()?;
    let (h_old, h_new) = (last.height(), new.height());
    if h_old <= 0.0 || h_new <= 0.0 {
        return None;
    }
    let ratio = h_new.max(h_old) / h_new.min(h_old);
    if ratio > reid.max_size_ratio {
        return None;
    }
    let dist = new.centre().distance(o.predicted_centre(new.pts)?);
    let limit = reid.max_distance_heights * h_old;
    (dist <= limit).then_some(dist / limit)
}

/// Adds one observation to an object and reports what it triggers.
fn observe(
    rules: &CompiledRules,
    counts: &mut Counts,
    o: &mut Object,
    obs: Obs,
    stamp: Stamp,
    events: &mut Vec<AnalyticsEvent>,
) {
    o.push(obs);
    for (ti, t) in rules.tripwires.iter().enumerate() {
        if !applies(&t.classes, &o.label) {
            continue;
        }
        let Some((sign, crossed_seq)) = o.wire_step(ti, t, &obs) else {
            continue;
        };
        let direction = if sign == t.in_sign {
            o.tally[ti].0 += 1;
            Direction::In
        } else {
            o.tally[ti].1 += 1;
            Direction::Out
        };
        let raw = counts.tripwires.entry(t.id.clone()).or_default();
        let c = raw.raw.entry(o.label.clone()).or_default();
        let direction_name = match direction {
            Direction::In => {
                c.in_ += 1;
                t.entry_name.clone()
            }
            Direction::Out => {
                c.out += 1;
                t.exit_name.clone()
            }
        };
        events.push(AnalyticsEvent::Crossing(CrossingEvent {
            rule_id: t.id.clone(),
            track_id: o.track_id,
            object_id: o.object_id,
            label: o.label.clone(),
            direction,
            direction_name,
            seq: stamp.seq,
            crossed_seq,
            pts: stamp.pts,
            wall: stamp.wall,
        }));
    }
    for (ri, r) in rules.rois.iter().enumerate() {
        if !applies(&r.classes, &o.label) {
            continue;
        }
        let inside = point_in_polygon(&r.polygon, r.anchor.of(obs.bbox));
        let change = o.rois[ri].step(r, inside, stamp.pts);
        roi_event(counts, &r.id, o, change, stamp, events);
    }
}

/// Records an ROI membership change as an event and in the counts.
fn roi_event(
    counts: &mut Counts,
    rule_id: &str,
    o: &Object,
    change: Option<RoiChange>,
    stamp: Stamp,
    events: &mut Vec<AnalyticsEvent>,
) {
    let Some(change) = change else {
        return;
    };
    let mut e = RoiEvent {
        rule_id: rule_id.to_owned(),
        track_id: o.track_id,
        object_id: o.object_id,
        label: o.label.clone(),
        seq: stamp.seq,
        pts: stamp.pts,
        wall: stamp.wall,
        dwell_seconds: None,
    };
    let c = counts.rois.entry(rule_id.to_owned()).or_default();
    events.push(match change {
        RoiChange::Enter => {
            *c.entries.entry(o.label.clone()).or_default() += 1;
            AnalyticsEvent::RoiEnter(e)
        }
        RoiChange::Exit { dwell } => {
            *c.exits.entry(o.label.clone()).or_default() += 1;
            e.dwell_seconds = Some(dwell);
            AnalyticsEvent::RoiExit(e)
        }
        RoiChange::Loiter { dwell } => {
            e.dwell_seconds = Some(dwell);
            AnalyticsEvent::Loitering(e)
        }
    });
}

/// Adds an object's effective crossings (one per tripwire at most) to `counts`.
fn settle_effective(rules: &CompiledRules, counts: &mut Counts, o: &Object) {
    for (ti, t) in rules.tripwires.iter().enumerate() {
        let (ins, outs) = o.tally[ti];
        if ins == outs {
            continue;
        }
        let tc = counts.tripwires.entry(t.id.clone()).or_default();
        let c = tc.effective.entry(o.label.clone()).or_default();
        if ins > outs {
            c.in_ += 1;
        } else {
            c.out += 1;
        }
    }
}
