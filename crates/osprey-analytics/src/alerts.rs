//! Alert rules (Metropolis `/config/rule/alerts/{tripwire,roi,fov}`) and the pure engine that
//! turns each frame's analytics into alerts.
//!
//! Rule types:
//! * tripwire `increment`: a point alert when `countThreshold` crossings (in `direction`, of
//!   `objectType`) happen within `timeInterval` seconds of the first of them; the count then
//!   starts again from zero.
//! * tripwire `flowrate`: a lasting alert while the crossings in the sliding `timeInterval`
//!   window number at least `countThreshold`; it ends when they drop below.
//! * ROI / FOV `occupancy_threshold`: a lasting alert once the occupancy has been at least
//!   `countThreshold` for `timeInterval` seconds; it ends once it has been below for
//!   `timeInterval` seconds (hysteresis both ways, so flicker neither fires nor resets it).
//! * ROI / FOV `occupancy_switch`: a point alert each time the area turns `occupied` (≥ 1
//!   object) or `vacant` and stays so for `timeInterval` seconds.
//! * ROI `loitering`: a point alert per object whose stay reaches `timeInterval` seconds.
//!
//! After an alert fires (or a lasting one ends) the rule stays quiet for `cooldownSeconds`.
//! Durations use presentation time; a step back in it (a looping file, a reconnect) restarts
//! every timer. Stamps are wall-clock.

use std::collections::{BTreeMap, VecDeque};

use osprey_schema::analytics::{Alert, AlertKind, AnalyticsEvent, FrameAnalytics};

pub use crate::alert_rules::{AlertDirection, AlertRule, AlertRuleType, AlertRules};

/// A moment: presentation time (for durations) and wall-clock time (for stamps).
#[derive(Debug, Clone, Copy)]
struct At {
    pts: f64,
    wall: f64,
}

/// A lasting alert in progress.
#[derive(Debug, Clone)]
struct Active {
    alert: Alert,
    peak: u64,
}

/// Per-rule state.
#[derive(Debug, Default)]
struct State {
    /// Quiet until this presentation time.
    quiet_until: f64,
    /// Increment: the window's first crossing and the count so far.
    window: Option<(At, u64)>,
    /// Flowrate: crossing times in the sliding window.
    recent: VecDeque<At>,
    /// When the current condition (threshold side, switch candidate) began.
    since: Option<At>,
    /// Occupancy switch: whether the area counts as occupied.
    occupied: bool,
    /// Loitering: entry time per object, and whether it has alerted.
    stays: BTreeMap<u64, (At, bool)>,
    active: Option<Active>,
}

/// Evaluates one camera's alert rules frame by frame.
#[derive(Debug)]
pub struct AlertEngine {
    camera: String,
    rules: Vec<(AlertKind, AlertRule, State)>,
    /// Tripwire id → (entry name, exit name).
    names: BTreeMap<String, (String, String)>,
    last: Option<At>,
}

impl AlertEngine {
    /// The engine for `camera`'s rules; `tripwires` names each tripwire's directions.
    pub fn new(camera: &str, cfg: &crate::AnalyticsConfig) -> AlertEngine {
        let mut rules = Vec::new();
        for kind in [AlertKind::Tripwire, AlertKind::Roi, AlertKind::Fov] {
            for r in cfg.alerts.of(kind) {
                rules.push((kind, r.clone(), State::default()));
            }
        }
        AlertEngine {
            camera: camera.to_string(),
            rules,
            names: cfg
                .tripwires
                .iter()
                .map(|t| {
                    let d = &t.direction;
                    (t.id.clone(), (d.entry.name.clone(), d.exit.name.clone()))
                })
                .collect(),
            last: None,
        }
    }

    /// Whether there are no rules (the engine never alerts).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The alerts one frame raises or ends.
    pub fn frame(&mut self, fa: &FrameAnalytics) -> Vec<Alert> {
        let now = At {
            pts: fa.pts,
            wall: fa.wall,
        };
        if self.last.is_some_and(|l| now.pts < l.pts) {
            for (_, _, st) in &mut self.rules {
                restart_timers(st, now);
            }
        }
        self.last = Some(now);
        let mut out = Vec::new();
        for i in 0..self.rules.len() {
            let (kind, rule, _) = &self.rules[i];
            match (kind, rule.rule_type) {
                (AlertKind::Tripwire, AlertRuleType::Increment) => {
                    self.increment(i, fa, now, &mut out)
                }
                (AlertKind::Tripwire, _) => self.flowrate(i, fa, now, &mut out),
                (_, AlertRuleType::Loitering) => self.loitering(i, fa, now, &mut out),
                (_, AlertRuleType::OccupancySwitch) => {
                    let v = self.occupancy(i, fa);
                    self.switch(i, v, now, &mut out);
                }
                _ => {
                    let v = self.occupancy(i, fa);
                    self.threshold(i, v, now, &mut out);
                }
            }
        }
        out
    }

    /// The camera stops: lasting alerts end now.
    pub fn finish(&mut self, wall: f64) -> Vec<Alert> {
        let mut out = Vec::new();
        for (_, _, st) in &mut self.rules {
            if let Some(a) = st.active.take() {
                out.push(ended(a, wall));
            }
        }
        out
    }

    fn occupancy(&self, i: usize, fa: &FrameAnalytics) -> u64 {
        let (kind, rule, _) = &self.rules[i];
        match kind {
            AlertKind::Fov => rule.occupancy(&fa.fov),
            _ => fa
                .rois
                .iter()
                .find(|r| Some(&r.rule_id) == rule.roi_id.as_ref())
                .map_or(0, |r| rule.occupancy(&r.occupancy)),
        }
    }

    /// The crossings of frame `fa` that rule `i` counts.
    fn crossings(&self, i: usize, fa: &FrameAnalytics) -> u64 {
        let rule = &self.rules[i].1;
        fa.events
            .iter()
            .filter(|e| match e {
                AnalyticsEvent::Crossing(c) => {
                    Some(&c.rule_id) == rule.tripwire_id.as_ref()
                        && rule.direction.matches(c.direction)
                        && rule.counts_label(&c.label)
                }
                _ => false,
            })
            .count() as u64
    }

    fn increment(&mut self, i: usize, fa: &FrameAnalytics, now: At, out: &mut Vec<Alert>) {
        let n = self.crossings(i, fa);
        let (_, rule, st) = &mut self.rules[i];
        if n == 0 || now.pts < st.quiet_until {
            return;
        }
        let (first, count) = match st.window {
            Some((first, c)) if now.pts - first.pts <= rule.time_interval => (first, c + n),
            _ => (now, n),
        };
        if count < rule.count_threshold {
            st.window = Some((first, count));
            return;
        }
        st.window = None;
        st.quiet_until = now.pts + rule.cooldown_seconds;
        let mut a = self.alert(i, first.wall, count);
        a.end = Some(now.wall);
        out.push(a);
    }

    fn flowrate(&mut self, i: usize, fa: &FrameAnalytics, now: At, out: &mut Vec<Alert>) {
        let n = self.crossings(i, fa);
        let (_, rule, st) = &mut self.rules[i];
        for _ in 0..n {
            st.recent.push_back(now);
        }
        while st
            .recent
            .front()
            .is_some_and(|t| now.pts - t.pts > rule.time_interval)
        {
            st.recent.pop_front();
        }
        let count = st.recent.len() as u64;
        let first = st.recent.front().map_or(now.wall, |t| t.wall);
        let on = count >= rule.count_threshold;
        self.hold(i, on, count, first, now, out);
    }

    /// Starts, updates or ends rule `i`'s lasting alert as `on` says; an end is stamped `end`.
    fn hold(&mut self, i: usize, on: bool, count: u64, start: f64, now: At, out: &mut Vec<Alert>) {
        let (_, rule, st) = &mut self.rules[i];
        if let Some(a) = st.active.as_mut() {
            a.peak = a.peak.max(count);
        }
        match (on, st.active.is_some()) {
            (true, false) if now.pts >= st.quiet_until => {
                let alert = self.alert(i, start, count);
                out.push(alert.clone());
                self.rules[i].2.active = Some(Active { alert, peak: count });
            }
            (false, true) => {
                st.quiet_until = now.pts + rule.cooldown_seconds;
                if let Some(a) = st.active.take() {
                    out.push(ended(a, now.wall));
                }
            }
            _ => {}
        }
    }

    fn threshold(&mut self, i: usize, value: u64, now: At, out: &mut Vec<Alert>) {
        let (_, rule, st) = &mut self.rules[i];
        let over = value >= rule.count_threshold;
        // The side opposite the current state must hold for the interval to switch.
        if over == st.active.is_some() {
            st.since = None;
            if let Some(a) = st.active.as_mut() {
                a.peak = a.peak.max(value);
            }
            return;
        }
        let since = *st.since.get_or_insert(now);
        if now.pts - since.pts < rule.time_interval {
            return;
        }
        st.since = None;
        // An end is stamped when the occupancy dropped, not when the hold time ran out.
        let at = if over {
            now
        } else {
            At {
                wall: since.wall,
                ..now
            }
        };
        self.hold(i, over, value, since.wall, at, out);
    }

    fn switch(&mut self, i: usize, value: u64, now: At, out: &mut Vec<Alert>) {
        let (_, rule, st) = &mut self.rules[i];
        let occupied = value > 0;
        if occupied == st.occupied {
            st.since = None;
            return;
        }
        let since = *st.since.get_or_insert(now);
        if now.pts - since.pts < rule.time_interval || now.pts < st.quiet_until {
            return;
        }
        st.since = None;
        st.occupied = occupied;
        st.quiet_until = now.pts + rule.cooldown_seconds;
        let word = if occupied { "occupied" } else { "vacant" };
        let mut a = self.alert(i, since.wall, value);
        a.end = Some(since.wall);
        a.direction = Some(word.into());
        a.description = format!(
            "{} turned {word} ({value} present)",
            a.target_id.as_deref().unwrap_or("the field of view")
        );
        out.push(a);
    }

    fn loitering(&mut self, i: usize, fa: &FrameAnalytics, now: At, out: &mut Vec<Alert>) {
        let (_, rule, st) = &mut self.rules[i];
        for e in &fa.events {
            match e {
                AnalyticsEvent::RoiEnter(r)
                    if Some(&r.rule_id) == rule.roi_id.as_ref() && rule.counts_label(&r.label) =>
                {
                    st.stays.entry(r.object_id).or_insert((now, false));
                }
                AnalyticsEvent::RoiExit(r) if Some(&r.rule_id) == rule.roi_id.as_ref() => {
                    st.stays.remove(&r.object_id);
                }
                _ => {}
            }
        }
        if now.pts < st.quiet_until {
            return;
        }
        let mut due = Vec::new();
        for (id, (entered, done)) in st.stays.iter_mut() {
            if !*done && now.pts - entered.pts >= rule.time_interval {
                *done = true;
                due.push((*id, now.pts - entered.pts));
            }
        }
        if due.is_empty() {
            return;
        }
        st.quiet_until = now.pts + rule.cooldown_seconds;
        for (id, dwell) in due {
            let mut a = self.alert(i, now.wall, 1);
            a.id = format!("{}:{id}", a.id);
            a.end = Some(now.wall);
            a.description = format!(
                "object {id} has stayed in {} for {dwell:.1} s",
                a.target_id.as_deref().unwrap_or_default()
            );
            a.attributes.insert("objectId".into(), id.to_string());
            a.attributes
                .insert("dwellSeconds".into(), format!("{dwell:.1}"));
            out.push(a);
        }
    }

    /// A new alert of rule `i` starting at `start`.
    fn alert(&self, i: usize, start: f64, count: u64) -> Alert {
        let (kind, rule, _) = &self.rules[i];
        let target_id = rule.tripwire_id.clone().or_else(|| rule.roi_id.clone());
        let (direction, direction_name) = match kind {
            AlertKind::Tripwire => {
                let names = target_id.as_ref().and_then(|t| self.names.get(t));
                let name = match (rule.direction, names) {
                    (AlertDirection::Entry, Some((e, _))) => Some(e.clone()),
                    (AlertDirection::Exit, Some((_, x))) => Some(x.clone()),
                    _ => None,
                };
                (Some(rule.direction.as_str().to_string()), name)
            }
            _ => (None, None),
        };
        let what = target_id.as_deref().unwrap_or("the field of view");
        let description = match rule.rule_type {
            AlertRuleType::Increment => format!("{count} crossings of {what}"),
            AlertRuleType::Flowrate => format!(
                "{count} crossings of {what} within {} s",
                rule.time_interval
            ),
            _ => format!("{count} objects in {what}"),
        };
        Alert {
            id: format!(
                "{}:{}:{}",
                self.camera,
                rule.id,
                (start * 1000.0).round() as i64
            ),
            camera: self.camera.clone(),
            kind: *kind,
            rule_type: rule.rule_type.as_str().to_string(),
            rule_id: rule.id.clone(),
            target_id,
            count,
            direction,
            direction_name,
            description,
            start,
            end: None,
            lasting: matches!(
                rule.rule_type,
                AlertRuleType::Flowrate | AlertRuleType::OccupancyThreshold
            ),
            attributes: BTreeMap::new(),
        }
    }
}

fn ended(a: Active, wall: f64) -> Alert {
    let mut alert = a.alert;
    alert.count = a.peak;
    alert.end = Some(wall.max(alert.start));
    alert
}

/// Presentation time stepped back: windows and hold timers start over at `now` (active alerts
/// stay).
fn restart_timers(st: &mut State, now: At) {
    st.quiet_until = f64::NEG_INFINITY;
    st.window = None;
    st.recent.clear();
    st.since = None;
    for (t, _) in st.stays.values_mut() {
        *t = now;
    }
}

#[cfg(test)]
#[path = "alerts_tests.rs"]
mod tests;
