//! Validation of an [`AnalyticsConfig`]: a pure function that collects every problem.

use std::collections::BTreeMap;

use crate::alerts::AlertRuleType;
use crate::config::{
    AnalyticsConfig, CompiledRoi, CompiledRules, CompiledTripwire, ConfigError, Problem, Roi,
    Settings, Tripwire,
};
use crate::geometry::{distance_to_segment, first_self_intersection, polygon_area2, side, Point};

impl AnalyticsConfig {
    /// Checks every rule against a `width × height` frame and compiles it to pixels. All problems
    /// are reported at once, each naming its field.
    pub fn validate(&self, width: u32, height: u32) -> Result<CompiledRules, ConfigError> {
        compile(self, width, height)
    }
}

/// Largest accepted `min_points` and inertia (keeps per-object memory bounded).
const MAX_WINDOW: u64 = 1000;

struct Ctx {
    width: f64,
    height: f64,
    problems: Vec<Problem>,
}

impl Ctx {
    fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            field: field.into(),
            message: message.into(),
        });
    }

    /// Checks and scales one point; `None` (after recording a problem) when unusable.
    fn point(&mut self, field: &str, p: Point, normalized: bool) -> Option<Point> {
        if !p.is_finite() {
            self.push(field, "coordinates must be finite numbers");
            return None;
        }
        if normalized {
            if !(0.0..=1.0).contains(&p.x) || !(0.0..=1.0).contains(&p.y) {
                self.push(
                    field,
                    format!("({}, {}) is outside [0, 1] (normalized)", p.x, p.y),
                );
                return None;
            }
            return Some(Point::new(p.x * self.width, p.y * self.height));
        }
        if !(0.0..=self.width).contains(&p.x) || !(0.0..=self.height).contains(&p.y) {
            self.push(
                field,
                format!(
                    "({}, {}) is outside the {}x{} frame",
                    p.x, p.y, self.width, self.height
                ),
            );
            return None;
        }
        Some(p)
    }

    /// Checks and scales a list of points; `None` if any is unusable.
    fn points(&mut self, field: &str, pts: &[Point], normalized: bool) -> Option<Vec<Point>> {
        let out: Vec<Option<Point>> = pts
            .iter()
            .enumerate()
            .map(|(i, p)| self.point(&format!("{field}[{i}]"), *p, normalized))
            .collect();
        out.into_iter().collect()
    }

    fn classes(&mut self, field: &str, classes: &[String]) {
        for (i, c) in classes.iter().enumerate() {
            if c.trim().is_empty() {
                self.push(format!("{field}.classes[{i}]"), "empty class name");
            }
        }
    }

    /// Reports the first zero-length edge (`closed` also checks last→first).
    fn zero_length(&mut self, field: &str, pts: &[Point], closed: bool) -> bool {
        let n = pts.len();
        let edges = if closed { n } else { n.saturating_sub(1) };
        for i in 0..edges {
            let j = (i + 1) % n;
            if pts[i] == pts[j] {
                self.push(
                    format!("{field}[{j}]"),
                    format!("same point as {field}[{i}] (zero-length segment)"),
                );
                return true;
            }
        }
        false
    }
}

/// See [`AnalyticsConfig::validate`].
pub(crate) fn compile(
    cfg: &AnalyticsConfig,
    width: u32,
    height: u32,
) -> Result<CompiledRules, ConfigError> {
    let mut cx = Ctx {
        width: f64::from(width),
        height: f64::from(height),
        problems: Vec::new(),
    };
    if width == 0 || height == 0 {
        cx.push("frame", format!("size {width}x{height} must be positive"));
        return Err(ConfigError::Invalid(cx.problems));
    }
    let mut ids: BTreeMap<&str, String> = BTreeMap::new();
    let mut tripwires = Vec::new();
    for (i, t) in cfg.tripwires.iter().enumerate() {
        let field = format!("tripwires[{i}]");
        check_id(&mut cx, &mut ids, field.clone(), &t.id);
        if let Some(c) = tripwire(&mut cx, &field, t) {
            tripwires.push(c);
        }
    }
    let mut rois = Vec::new();
    for (i, r) in cfg.rois.iter().enumerate() {
        let field = format!("rois[{i}]");
        check_id(&mut cx, &mut ids, field.clone(), &r.id);
        if let Some(c) = roi(&mut cx, &field, r) {
            rois.push(c);
        }
    }
    settings(&mut cx, &cfg.settings);
    alerts(&mut cx, cfg);
    if !cx.problems.is_empty() {
        return Err(ConfigError::Invalid(cx.problems));
    }
    Ok(CompiledRules {
        width,
        height,
        tripwires,
        rois,
        settings: cfg.settings.clone(),
    })
}

/// Records an empty or duplicate rule id.
fn check_id<'a>(cx: &mut Ctx, ids: &mut BTreeMap<&'a str, String>, field: String, id: &'a str) {
    if id.trim().is_empty() {
        cx.push(format!("{field}.id"), "must not be empty");
    } else if let Some(first) = ids.get(id) {
        cx.push(
            format!("{field}.id"),
            format!("duplicate id \"{id}\" (also used by {first})"),
        );
    } else {
        ids.insert(id, field);
    }
}

fn tripwire(cx: &mut Ctx, field: &str, t: &Tripwire) -> Option<CompiledTripwire> {
    cx.classes(field, &t.classes);
    if t.min_points == 0 || t.min_points as u64 > MAX_WINDOW {
        cx.push(
            format!("{field}.min_points"),
            format!("must be between 1 and {MAX_WINDOW}"),
        );
    }
    let wf = format!("{field}.wire");
    if t.wire.len() < 2 {
        cx.push(&wf, "needs at least 2 points");
    }
    let wire = cx.points(&wf, &t.wire, t.normalized);
    let df = format!("{field}.direction");
    let head = cx.point(&format!("{df}.p2"), t.direction.p2, t.normalized);
    let tail = cx.point(&format!("{df}.p1"), t.direction.p1, t.normalized);
    let (wire, tail, head) = (wire?, tail?, head?);
    if wire.len() < 2 || cx.zero_length(&wf, &wire, false) {
        return None;
    }
    if let Some((i, j)) = first_self_intersection(&wire, false) {
        cx.push(
            &wf,
            format!("segments {i} and {j} intersect (the wire must not cross itself)"),
        );
        return None;
    }
    if tail == head {
        cx.push(
            &df,
            "p1 and p2 are the same point (the arrow has no direction)",
        );
        return None;
    }
    let in_sign = arrow_side(&wire, tail, head);
    if in_sign == 0 {
        cx.push(
            &df,
            "the arrow p1→p2 is parallel to the nearest wire segment, so it points to neither side",
        );
        return None;
    }
    Some(CompiledTripwire {
        id: t.id.clone(),
        wire,
        in_sign,
        entry_name: t.direction.entry.name.clone(),
        exit_name: t.direction.exit.name.clone(),
        classes: t.classes.clone(),
        anchor: t.anchor,
        min_points: t.min_points.max(1),
    })
}

/// The side (`±1`) of the wire segment nearest the arrow's midpoint that the arrow points to, or
/// `0` when the arrow is (nearly) parallel to that segment.
fn arrow_side(wire: &[Point], tail: Point, head: Point) -> i32 {
    let mid = Point::new((tail.x + head.x) / 2.0, (tail.y + head.y) / 2.0);
    let mut best = (f64::INFINITY, 0);
    for (i, s) in wire.windows(2).enumerate() {
        let d = distance_to_segment(mid, s[0], s[1]);
        if d < best.0 {
            best = (d, i);
        }
    }
    let (a, b) = (wire[best.1], wire[best.1 + 1]);
    // side(head) - side(tail) = cross(b - a, head - tail).
    let turn = side(a, b, head) - side(a, b, tail);
    let scale = a.distance(b) * tail.distance(head);
    if turn.abs() <= 1e-6 * scale {
        0
    } else if turn > 0.0 {
        1
    } else {
        -1
    }
}

fn roi(cx: &mut Ctx, field: &str, r: &Roi) -> Option<CompiledRoi> {
    cx.classes(field, &r.classes);
    for (name, v) in [
        ("entry_inertia", r.entry_inertia),
        ("exit_inertia", r.exit_inertia),
    ] {
        if u64::from(v) > MAX_WINDOW {
            cx.push(
                format!("{field}.{name}"),
                format!("must be at most {MAX_WINDOW}"),
            );
        }
    }
    if let Some(l) = r.loitering_seconds {
        if !(l.is_finite() && l > 0.0) {
            cx.push(
                format!("{field}.loitering_seconds"),
                "must be a positive number of seconds",
            );
        }
    }
    let cf = format!("{field}.coordinates");
    if r.coordinates.len() < 3 {
        cx.push(&cf, "needs at least 3 points");
    }
    let polygon = cx.points(&cf, &r.coordinates, r.normalized)?;
    if polygon.len() < 3 || cx.zero_length(&cf, &polygon, true) {
        return None;
    }
    if let Some((i, j)) = first_self_intersection(&polygon, true) {
        cx.push(
            &cf,
            format!("edges {i} and {j} touch or cross (the polygon must be simple)"),
        );
        return None;
    }
    if polygon_area2(&polygon) == 0.0 {
        cx.push(&cf, "the polygon has no area");
        return None;
    }
    Some(CompiledRoi {
        id: r.id.clone(),
        polygon,
        classes: r.classes.clone(),
        anchor: r.anchor,
        entry_inertia: r.entry_inertia,
        exit_inertia: r.exit_inertia,
        loitering_seconds: r.loitering_seconds,
    })
}

fn settings(cx: &mut Ctx, s: &Settings) {
    let positive = |v: f64| v.is_finite() && v > 0.0;
    if !positive(s.object_timeout_seconds) {
        cx.push(
            "settings.object_timeout_seconds",
            "must be a positive number of seconds",
        );
    }
    let r = &s.reid;
    if !(r.max_gap_seconds.is_finite() && r.max_gap_seconds >= 0.0) {
        cx.push(
            "settings.reid.max_gap_seconds",
            "must be a non-negative number of seconds",
        );
    } else if r.max_gap_seconds > s.object_timeout_seconds {
        cx.push(
            "settings.reid.max_gap_seconds",
            "must not exceed settings.object_timeout_seconds",
        );
    }
    if !positive(r.max_distance_heights) {
        cx.push(
            "settings.reid.max_distance_heights",
            "must be a positive number",
        );
    }
    if !(r.max_size_ratio.is_finite() && r.max_size_ratio >= 1.0) {
        cx.push("settings.reid.max_size_ratio", "must be at least 1");
    }
}

/// Alert rules: unique ids, a type the target takes, a target that exists, sane numbers.
fn alerts(cx: &mut Ctx, cfg: &AnalyticsConfig) {
    use osprey_schema::analytics::AlertKind;
    let mut ids: BTreeMap<&str, String> = BTreeMap::new();
    for kind in [AlertKind::Tripwire, AlertKind::Roi, AlertKind::Fov] {
        for (i, r) in cfg.alerts.of(kind).iter().enumerate() {
            let field = format!("alerts.{}[{i}]", kind.as_str());
            check_id(cx, &mut ids, field.clone(), &r.id);
            let allowed = AlertRuleType::allowed(kind);
            if !allowed.contains(&r.rule_type) {
                let names: Vec<&str> = allowed.iter().map(|t| t.as_str()).collect();
                cx.push(
                    format!("{field}.ruleType"),
                    format!(
                        "{} is not a {} rule; use one of {}",
                        r.rule_type.as_str(),
                        kind.as_str(),
                        names.join(", ")
                    ),
                );
            }
            let tripwire = |id: &str| cfg.tripwires.iter().any(|t| t.id == id);
            let roi = |id: &str| cfg.rois.iter().any(|t| t.id == id);
            match kind {
                AlertKind::Tripwire if !r.tripwire_id.as_deref().is_some_and(tripwire) => {
                    cx.push(
                        format!("{field}.tripwireId"),
                        "must name a configured tripwire",
                    );
                }
                AlertKind::Roi if !r.roi_id.as_deref().is_some_and(roi) => {
                    cx.push(format!("{field}.roiId"), "must name a configured ROI");
                }
                _ => {}
            }
            if r.count_threshold == 0 && r.rule_type != AlertRuleType::OccupancySwitch {
                cx.push(format!("{field}.countThreshold"), "must be at least 1");
            }
            if !(r.time_interval.is_finite()
                && r.time_interval >= 0.0
                && r.time_interval <= 86_400.0)
            {
                cx.push(
                    format!("{field}.timeInterval"),
                    "must be 0 to 86400 seconds",
                );
            }
            if !(r.cooldown_seconds.is_finite()
                && r.cooldown_seconds >= 0.0
                && r.cooldown_seconds <= 86_400.0)
            {
                cx.push(
                    format!("{field}.cooldownSeconds"),
                    "must be 0 to 86400 seconds",
                );
            }
        }
    }
}
