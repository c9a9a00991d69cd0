//! What the analytics engine reports for each frame: tripwire crossings, ROI entries, exits
//! and loitering, and occupancy (FOV and per ROI).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The direction of a tripwire crossing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The way the tripwire's direction arrow points (entry).
    In,
    /// Against the arrow (exit).
    Out,
}

impl Direction {
    /// `in` or `out`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// An object crossed a tripwire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossingEvent {
    /// Tripwire id.
    pub rule_id: String,
    /// The tracker id at the crossing.
    pub track_id: u64,
    /// The object id after re-identification (the first track id of the object).
    pub object_id: u64,
    /// Class label.
    pub label: String,
    /// IN or OUT.
    pub direction: Direction,
    /// The configured name of that direction (`direction.entry.name` / `direction.exit.name`).
    pub direction_name: String,
    /// Frame (decode order) in which the event was decided.
    pub seq: u64,
    /// Frame of the object's first observation on the new side (equal to `seq` for the plain
    /// rule; `min_points − 1` observations earlier for the windowed rule).
    pub crossed_seq: u64,
    /// Presentation time of `seq`, seconds.
    pub pts: f64,
    /// Wall-clock time of `seq`, seconds since the Unix epoch.
    pub wall: f64,
}

/// An object entered, left or loitered in an ROI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoiEvent {
    /// ROI id.
    pub rule_id: String,
    /// The tracker id of the object's latest observation.
    pub track_id: u64,
    /// The object id after re-identification.
    pub object_id: u64,
    /// Class label.
    pub label: String,
    /// Frame in which the event was decided.
    pub seq: u64,
    /// Presentation time of `seq`, seconds.
    pub pts: f64,
    /// Wall-clock time of `seq`, seconds since the Unix epoch.
    pub wall: f64,
    /// Time inside (by presentation time): the whole stay for an exit, so far for loitering;
    /// `None` for an entry.
    pub dwell_seconds: Option<f64>,
}

/// Something that happened in a frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AnalyticsEvent {
    /// A tripwire crossing.
    Crossing(CrossingEvent),
    /// An object started counting as inside an ROI (after entry inertia).
    RoiEnter(RoiEvent),
    /// An object stopped counting as inside an ROI (after exit inertia, or when it ended).
    RoiExit(RoiEvent),
    /// An object has been inside an ROI for its `loitering_seconds` (once per stay).
    Loitering(RoiEvent),
}

/// Objects present, in total and per class label.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Occupancy {
    /// All classes.
    pub total: u32,
    /// Per class label.
    pub by_class: BTreeMap<String, u32>,
}

impl Occupancy {
    /// Counts one object of class `label`.
    pub fn add(&mut self, label: &str) {
        self.total += 1;
        *self.by_class.entry(label.to_owned()).or_default() += 1;
    }
}

/// Occupancy of one ROI in one frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoiOccupancy {
    /// ROI id.
    pub rule_id: String,
    /// Objects counting as inside (after inertia).
    pub occupancy: Occupancy,
}

/// The engine's output for one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameAnalytics {
    /// Frame number (decode order).
    pub seq: u64,
    /// Presentation time, seconds.
    pub pts: f64,
    /// Wall-clock time, seconds since the Unix epoch.
    pub wall: f64,
    /// Events decided in this frame.
    pub events: Vec<AnalyticsEvent>,
    /// Field of view: every tracked object in the frame, per class.
    pub fov: Occupancy,
    /// Per ROI, in configuration order.
    pub rois: Vec<RoiOccupancy>,
}

/// What an alert rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Crossings of a tripwire.
    Tripwire,
    /// Occupancy or stays in an ROI.
    Roi,
    /// Occupancy of the whole field of view.
    Fov,
}

impl AlertKind {
    /// `tripwire`, `roi` or `fov`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Tripwire => "tripwire",
            AlertKind::Roi => "roi",
            AlertKind::Fov => "fov",
        }
    }
}

/// An alert raised by a rule. Point alerts (a count reached, a switch, a loitering object) have
/// `end == Some(start)`; a condition that lasts (a flow rate or an occupancy over a threshold)
/// is reported when it starts (`end == None`) and again, with the same `id`, when it ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable id: the same for the start and the end of one alert.
    pub id: String,
    /// Camera (sensor) id.
    pub camera: String,
    /// What the rule watches.
    pub kind: AlertKind,
    /// The rule's type (`increment`, `flowrate`, `occupancy_threshold`, `occupancy_switch`,
    /// `loitering`).
    pub rule_type: String,
    /// The alert rule's id.
    pub rule_id: String,
    /// The tripwire or ROI watched (`None` for the FOV).
    pub target_id: Option<String>,
    /// The count that fired it (crossings, objects present; the peak for a lasting alert).
    pub count: u64,
    /// `entry`, `exit` or `both` for tripwires; `occupied` or `vacant` for switches.
    pub direction: Option<String>,
    /// The configured name of that direction, when it has one.
    pub direction_name: Option<String>,
    /// One sentence.
    pub description: String,
    /// When the condition began, seconds since the Unix epoch.
    pub start: f64,
    /// When it ended (`None`: still active).
    pub end: Option<f64>,
    /// Whether the alert lasts (reported at its start and again at its end) rather than being
    /// a point in time.
    pub lasting: bool,
    /// Extra facts (`objectId`, `trackId`, `label`, `dwellSeconds`…).
    pub attributes: BTreeMap<String, String>,
}
