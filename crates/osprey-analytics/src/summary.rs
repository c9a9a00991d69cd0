//! An offline summary of a whole clip, accumulated from the engine's per-frame output.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::CompiledRules;
use crate::events::{AnalyticsEvent, Direction, FrameAnalytics};

/// One crossing as listed in a [`Summary`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryCrossing {
    /// Frame (0-based decode order) of the object's first observation on the new side.
    pub frame: u64,
    /// Tracker id at the crossing.
    pub track_id: u64,
    /// `in` or `out`.
    pub direction: Direction,
}

/// Totals of one tripwire over the clip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryTripwire {
    /// Tripwire id.
    pub id: String,
    /// Raw IN crossings.
    #[serde(rename = "in")]
    pub in_: u64,
    /// Raw OUT crossings.
    pub out: u64,
    /// Objects whose INs outnumber their OUTs.
    pub effective_in: u64,
    /// Objects whose OUTs outnumber their INs.
    pub effective_out: u64,
    /// Every crossing, in order.
    pub events: Vec<SummaryCrossing>,
}

/// Totals of one ROI over the clip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRoi {
    /// ROI id.
    pub id: String,
    /// Mean objects inside per frame.
    pub mean_occupancy: f64,
    /// Most objects inside in one frame.
    pub max_occupancy: u32,
    /// Entry events.
    pub entries: u64,
    /// Exit events.
    pub exits: u64,
}

/// Field-of-view occupancy over the clip.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SummaryFov {
    /// Mean tracked objects per frame.
    pub mean: f64,
    /// Most tracked objects in one frame.
    pub max: u32,
}

/// What happened over a clip: `{"frames", "tripwires": [...], "rois": [...], "fov"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Frames processed.
    pub frames: u64,
    /// Per tripwire, in configuration order.
    pub tripwires: Vec<SummaryTripwire>,
    /// Per ROI, in configuration order.
    pub rois: Vec<SummaryRoi>,
    /// Whole frame.
    pub fov: SummaryFov,
}

#[derive(Debug, Default)]
struct RoiAcc {
    sum: u64,
    max: u32,
    entries: u64,
    exits: u64,
}

/// Accumulates a [`Summary`] from [`FrameAnalytics`] (and the events of
/// [`crate::Analytics::finish`]).
#[derive(Debug)]
pub struct SummaryBuilder {
    frames: u64,
    tripwire_ids: Vec<String>,
    roi_ids: Vec<String>,
    crossings: BTreeMap<String, Vec<SummaryCrossing>>,
    /// (tripwire, object) → (INs, OUTs).
    per_object: BTreeMap<(String, u64), (u64, u64)>,
    rois: BTreeMap<String, RoiAcc>,
    fov_sum: u64,
    fov_max: u32,
}

impl SummaryBuilder {
    /// An empty summary of `rules`.
    pub fn new(rules: &CompiledRules) -> Self {
        SummaryBuilder {
            frames: 0,
            tripwire_ids: rules.tripwire_ids().map(str::to_owned).collect(),
            roi_ids: rules.roi_ids().map(str::to_owned).collect(),
            crossings: BTreeMap::new(),
            per_object: BTreeMap::new(),
            rois: BTreeMap::new(),
            fov_sum: 0,
            fov_max: 0,
        }
    }

    /// Adds one frame's output.
    pub fn add_frame(&mut self, f: &FrameAnalytics) {
        self.frames += 1;
        self.fov_sum += u64::from(f.fov.total);
        self.fov_max = self.fov_max.max(f.fov.total);
        for r in &f.rois {
            let acc = self.rois.entry(r.rule_id.clone()).or_default();
            acc.sum += u64::from(r.occupancy.total);
            acc.max = acc.max.max(r.occupancy.total);
        }
        self.add_events(&f.events);
    }

    /// Adds events that came outside a frame (from [`crate::Analytics::finish`]).
    pub fn add_events(&mut self, events: &[AnalyticsEvent]) {
        for e in events {
            match e {
                AnalyticsEvent::Crossing(c) => {
                    self.crossings
                        .entry(c.rule_id.clone())
                        .or_default()
                        .push(SummaryCrossing {
                            frame: c.crossed_seq,
                            track_id: c.track_id,
                            direction: c.direction,
                        });
                    let t = self
                        .per_object
                        .entry((c.rule_id.clone(), c.object_id))
                        .or_default();
                    match c.direction {
                        Direction::In => t.0 += 1,
                        Direction::Out => t.1 += 1,
                    }
                }
                AnalyticsEvent::RoiEnter(r) => {
                    self.rois.entry(r.rule_id.clone()).or_default().entries += 1;
                }
                AnalyticsEvent::RoiExit(r) => {
                    self.rois.entry(r.rule_id.clone()).or_default().exits += 1;
                }
                AnalyticsEvent::Loitering(_) => {}
            }
        }
    }

    /// The summary so far.
    pub fn build(&self) -> Summary {
        let mean = |sum: u64| {
            if self.frames == 0 {
                0.0
            } else {
                sum as f64 / self.frames as f64
            }
        };
        let tripwires = self
            .tripwire_ids
            .iter()
            .map(|id| {
                let events = self.crossings.get(id).cloned().unwrap_or_default();
                let count = |d| events.iter().filter(|e| e.direction == d).count() as u64;
                let (mut effective_in, mut effective_out) = (0, 0);
                for ((_, _), &(i, o)) in self.per_object.iter().filter(|((t, _), _)| t == id) {
                    effective_in += u64::from(i > o);
                    effective_out += u64::from(o > i);
                }
                SummaryTripwire {
                    id: id.clone(),
                    in_: count(Direction::In),
                    out: count(Direction::Out),
                    effective_in,
                    effective_out,
                    events,
                }
            })
            .collect();
        let rois = self
            .roi_ids
            .iter()
            .map(|id| {
                let empty = RoiAcc::default();
                let acc = self.rois.get(id).unwrap_or(&empty);
                SummaryRoi {
                    id: id.clone(),
                    mean_occupancy: mean(acc.sum),
                    max_occupancy: acc.max,
                    entries: acc.entries,
                    exits: acc.exits,
                }
            })
            .collect();
        Summary {
            frames: self.frames,
            tripwires,
            rois,
            fov: SummaryFov {
                mean: mean(self.fov_sum),
                max: self.fov_max,
            },
        }
    }
}
