//! What the analytics store takes in and gives back. The application converts the analytics
//! engine's output (`FrameAnalytics`, `Counts`) into these; the store does not depend on the
//! engine.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The direction of a tripwire crossing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Direction {
    /// Along the tripwire's direction arrow (entry).
    In,
    /// Against the arrow (exit).
    Out,
}

/// An object crossed a tripwire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Crossing {
    /// Camera (sensor) id.
    pub camera: String,
    /// Tripwire id.
    pub rule_id: String,
    /// Wall-clock time of the frame that decided it, Unix ms.
    pub ts_ms: i64,
    /// The object id after re-identification.
    pub object_id: u64,
    /// The tracker id at the crossing.
    pub track_id: u64,
    /// Class label.
    pub label: String,
    /// IN or OUT.
    pub direction: Direction,
}

/// What happened between an object and an ROI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoiKind {
    /// Started counting as inside.
    Enter,
    /// Stopped counting as inside.
    Exit,
    /// Has been inside for the ROI's loitering time (once per stay).
    Loiter,
}

impl RoiKind {
    pub(crate) fn code(self) -> i64 {
        match self {
            RoiKind::Enter => 0,
            RoiKind::Exit => 1,
            RoiKind::Loiter => 2,
        }
    }

    pub(crate) fn from_code(c: i64) -> RoiKind {
        match c {
            0 => RoiKind::Enter,
            1 => RoiKind::Exit,
            _ => RoiKind::Loiter,
        }
    }
}

/// An ROI entry, exit or loitering event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoiTransition {
    /// Camera (sensor) id.
    pub camera: String,
    /// ROI id.
    pub rule_id: String,
    /// Wall-clock time of the frame that decided it, Unix ms.
    pub ts_ms: i64,
    /// The object id after re-identification.
    pub object_id: u64,
    /// The tracker id of the object's latest observation.
    pub track_id: u64,
    /// Class label.
    pub label: String,
    /// Enter, exit or loiter.
    pub kind: RoiKind,
    /// Seconds inside (the whole stay for an exit, so far for loitering; `None` for an entry).
    pub dwell_s: Option<f64>,
}

/// Occupancy of one rule (`"fov"` or an ROI id) in one frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OccupancySample {
    /// Camera (sensor) id.
    pub camera: String,
    /// `"fov"` for the whole field of view, else the ROI id.
    pub rule_id: String,
    /// Wall-clock time of the frame, Unix ms.
    pub ts_ms: i64,
    /// Objects present, all classes.
    pub total: u32,
    /// Objects present per class label (absent labels count 0).
    pub by_label: BTreeMap<String, u32>,
}

/// The engine's running totals (its `Counts`, serialised by the caller) after the events of the
/// same batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotalsSnapshot {
    /// Camera (sensor) id.
    pub camera: String,
    /// The serialised totals.
    pub json: String,
    /// Wall-clock time of the snapshot, Unix ms.
    pub ts_ms: i64,
}

/// An alert as stored: the columns it is queried by, and the alert itself as JSON (the caller's
/// type; the store does not interpret it). A later row with the same `id` (the end of a lasting
/// alert) replaces the earlier one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRow {
    /// Unique alert id.
    pub id: String,
    /// Camera (sensor) id.
    pub camera: String,
    /// `tripwire`, `roi` or `fov`.
    pub kind: String,
    /// The alert rule's id.
    pub rule_id: String,
    /// When it began, Unix ms.
    pub start_ms: i64,
    /// When it ended, Unix ms (`None`: still active).
    pub end_ms: Option<i64>,
    /// The alert, serialised.
    pub json: String,
}

/// One thing to store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AnalyticsRecord {
    /// A tripwire crossing (raw event row).
    Crossing(Crossing),
    /// An ROI transition (raw event row).
    Roi(RoiTransition),
    /// A frame's occupancy (folded into per-second aggregates).
    Occupancy(OccupancySample),
    /// The camera's totals (replaces the previous snapshot of that camera).
    Totals(TotalsSnapshot),
    /// An alert raised, or ended (replaces the row of the same id).
    Alert(AlertRow),
}

/// Which raw events [`crate::AnalyticsStore::events`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Tripwire crossings.
    Tripwire,
    /// ROI entries, exits and loitering.
    Roi,
}

/// IN and OUT counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InOut {
    /// IN.
    #[serde(rename = "in")]
    pub in_: u64,
    /// OUT.
    pub out: u64,
}

impl InOut {
    pub(crate) fn add(&mut self, d: Direction, n: u64) {
        match d {
            Direction::In => self.in_ += n,
            Direction::Out => self.out += n,
        }
    }
}

/// Crossing counts of one tripwire × label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CrossingCounts {
    /// Metropolis `actualCount`: every crossing event.
    pub actual: InOut,
    /// Metropolis `count`: one per object over the range — IN if its INs outnumber its OUTs,
    /// OUT for the reverse, nothing if equal.
    pub effective: InOut,
}

/// Crossing counts per label (a requested label with no crossings counts zero).
pub type LabelCrossings = BTreeMap<String, CrossingCounts>;

/// One bucket of a tripwire histogram.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TripwireBucket {
    /// Bucket start (inclusive), Unix ms.
    pub start_ms: i64,
    /// Bucket end (exclusive), Unix ms.
    pub end_ms: i64,
    /// Counts per label.
    pub by_label: LabelCrossings,
}

/// Occupancy statistics of one label (or all) over a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OccupancyStat {
    /// Metropolis `averageCount`: the mean per-frame count, rounded half away from zero.
    pub average: u64,
    /// Metropolis `maxCount`: the largest per-frame count.
    pub max: u64,
}

/// One bucket of an occupancy histogram.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OccupancyBucket {
    /// Bucket start (inclusive), Unix ms.
    pub start_ms: i64,
    /// Bucket end (exclusive), Unix ms.
    pub end_ms: i64,
    /// Frames sampled in the bucket.
    pub frames: u64,
    /// All classes together (ignores the label filter).
    pub total: OccupancyStat,
    /// Per label (the requested labels, or every label seen in the range).
    pub by_label: BTreeMap<String, OccupancyStat>,
}
