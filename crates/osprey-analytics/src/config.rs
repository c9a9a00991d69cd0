//! Rule configuration: Metropolis-shaped tripwires and ROIs with Osprey extras, and their
//! validation into [`CompiledRules`] for one frame size.

use serde::{Deserialize, Serialize};

use crate::geometry::Point;

/// Which point of an object's box is tested against rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// The bottom-centre of the box, where the object touches the ground (default).
    #[default]
    #[serde(
        alias = "bottom_center",
        alias = "bottomCentre",
        alias = "bottomCenter"
    )]
    BottomCentre,
    /// The centre of the box.
    #[serde(alias = "center")]
    Centre,
}

impl Anchor {
    /// The anchor point of a box `[x1, y1, x2, y2]`.
    pub fn of(self, b: [f64; 4]) -> Point {
        match self {
            Anchor::BottomCentre => Point::new((b[0] + b[2]) / 2.0, b[3]),
            Anchor::Centre => Point::new((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0),
        }
    }
}

/// A named end of a tripwire's direction arrow (Metropolis `{"name": …}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectionName {
    /// Display name, e.g. `entry` or `Towards the lobby`.
    pub name: String,
}

fn entry_name() -> DirectionName {
    DirectionName {
        name: "entry".into(),
    }
}

fn exit_name() -> DirectionName {
    DirectionName {
        name: "exit".into(),
    }
}

fn is_entry_name(n: &DirectionName) -> bool {
    *n == entry_name()
}

fn is_exit_name(n: &DirectionName) -> bool {
    *n == exit_name()
}

/// The direction arrow of a tripwire: `p1→p2` points the ENTRY (IN) way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TripwireDirection {
    /// Tail of the arrow.
    pub p1: Point,
    /// Head of the arrow: the side of the wire it lies on is the entry side.
    pub p2: Point,
    /// Name of the IN direction.
    #[serde(default = "entry_name", skip_serializing_if = "is_entry_name")]
    pub entry: DirectionName,
    /// Name of the OUT direction.
    #[serde(default = "exit_name", skip_serializing_if = "is_exit_name")]
    pub exit: DirectionName,
}

/// A Metropolis tripwire: a polyline in stream pixels and a direction arrow, plus Osprey extras.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tripwire {
    /// Unique rule id (across tripwires and ROIs).
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The wire: a polyline of at least 2 points.
    pub wire: Vec<Point>,
    /// The arrow naming the IN direction.
    pub direction: TripwireDirection,
    /// Labels counted (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
    /// Coordinates are fractions of the frame (0–1) instead of pixels.
    #[serde(default, skip_serializing_if = "is_false")]
    pub normalized: bool,
    /// The point of the box tested against the wire.
    #[serde(default, skip_serializing_if = "is_default_anchor")]
    pub anchor: Anchor,
    /// Metropolis `tripwireMinPoints`: observations required on each side of the wire (a window of
    /// `2 × min_points`). `1` is the plain rule: every move across the wire counts.
    #[serde(
        default = "default_min_points",
        alias = "minPoints",
        alias = "tripwireMinPoints",
        skip_serializing_if = "is_default_min_points"
    )]
    pub min_points: usize,
}

fn default_min_points() -> usize {
    5
}

// Defaults are left out when rules are written back, so they read as they were given.
fn is_default_min_points(v: &usize) -> bool {
    *v == default_min_points()
}

fn is_false(v: &bool) -> bool {
    !*v
}

fn is_default_anchor(a: &Anchor) -> bool {
    *a == Anchor::default()
}

/// A Metropolis region of interest (a polygon) with Frigate-style inertia and loitering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Roi {
    /// Unique rule id (across tripwires and ROIs).
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The polygon: at least 3 points, simple (no crossing or touching edges).
    pub coordinates: Vec<Point>,
    /// Labels counted (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
    /// Coordinates are fractions of the frame (0–1) instead of pixels.
    #[serde(default, skip_serializing_if = "is_false")]
    pub normalized: bool,
    /// The point of the box tested against the polygon.
    #[serde(default, skip_serializing_if = "is_default_anchor")]
    pub anchor: Anchor,
    /// Consecutive observations inside before an object counts as inside (0 and 1: at once).
    #[serde(
        default = "default_inertia",
        alias = "entryInertia",
        skip_serializing_if = "is_default_inertia"
    )]
    pub entry_inertia: u32,
    /// Consecutive frames outside (or unseen) before an inside object counts as gone (0 and 1: at
    /// once).
    #[serde(
        default = "default_inertia",
        alias = "exitInertia",
        skip_serializing_if = "is_default_inertia"
    )]
    pub exit_inertia: u32,
    /// Raise a loitering event once an object has stayed this long (seconds); `None`: never.
    #[serde(
        default,
        alias = "loiteringSeconds",
        alias = "loitering_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub loitering_seconds: Option<f64>,
}

fn default_inertia() -> u32 {
    3
}

fn is_default_inertia(v: &u32) -> bool {
    *v == default_inertia()
}

/// Re-identification across tracker id switches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReidSettings {
    /// Whether a new track may continue a vanished object.
    pub enabled: bool,
    /// Longest time (seconds, by presentation time) between the old track's last observation
    /// and the new track's first.
    pub max_gap_seconds: f64,
    /// Largest distance between the new box's centre and where the old object was predicted to
    /// be (its last centre moved on at its recent velocity), in heights of the old box.
    pub max_distance_heights: f64,
    /// Largest ratio between the two box heights (≥ 1).
    pub max_size_ratio: f64,
}

impl Default for ReidSettings {
    fn default() -> Self {
        ReidSettings {
            enabled: true,
            max_gap_seconds: 2.0,
            max_distance_heights: 1.0,
            max_size_ratio: 2.0,
        }
    }
}

/// Engine-wide settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// An object unseen for longer than this (seconds) has ended: its effective counts are
    /// settled and its state dropped. Must be at least `reid.max_gap_seconds`.
    pub object_timeout_seconds: f64,
    /// Re-identification.
    pub reid: ReidSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            object_timeout_seconds: 3.0,
            reid: ReidSettings::default(),
        }
    }
}

/// Everything the analytics engine is told to watch on one camera.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AnalyticsConfig {
    /// Counting lines.
    #[serde(default)]
    pub tripwires: Vec<Tripwire>,
    /// Regions of interest.
    #[serde(default)]
    pub rois: Vec<Roi>,
    /// Engine settings.
    #[serde(default)]
    pub settings: Settings,
    /// Alert rules on the tripwires, the ROIs and the field of view.
    #[serde(default, skip_serializing_if = "crate::AlertRules::is_empty")]
    pub alerts: crate::AlertRules,
}

/// One problem found by [`AnalyticsConfig::validate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The offending field, e.g. `tripwires[0].wire`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// One or more fields are invalid.
    #[error("invalid analytics configuration: {}", join(.0))]
    Invalid(Vec<Problem>),
}

fn join(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl ConfigError {
    /// Every problem found.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid(p) => p,
        }
    }
}

impl osprey_base::Kinded for ConfigError {
    fn kind(&self) -> osprey_base::ErrorKind {
        osprey_base::ErrorKind::InvalidArgument
    }
}

/// A validated tripwire in pixels.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CompiledTripwire {
    pub id: String,
    pub wire: Vec<Point>,
    /// `+1`: IN goes from the left-hand to the right-hand side of the directed polyline; `-1`:
    /// the other way.
    pub in_sign: i32,
    pub entry_name: String,
    pub exit_name: String,
    pub classes: Vec<String>,
    pub anchor: Anchor,
    pub min_points: usize,
}

/// A validated ROI in pixels.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CompiledRoi {
    pub id: String,
    pub polygon: Vec<Point>,
    pub classes: Vec<String>,
    pub anchor: Anchor,
    pub entry_inertia: u32,
    pub exit_inertia: u32,
    pub loitering_seconds: Option<f64>,
}

/// Whether a rule with this class filter applies to `label`.
pub(crate) fn applies(classes: &[String], label: &str) -> bool {
    classes.is_empty() || classes.iter().any(|c| c == label)
}

/// Validated rules in pixels of one frame size, ready for [`crate::Analytics::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledRules {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) tripwires: Vec<CompiledTripwire>,
    pub(crate) rois: Vec<CompiledRoi>,
    pub(crate) settings: Settings,
}

impl CompiledRules {
    /// The frame size the rules were compiled for.
    pub fn frame_size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Tripwire ids in configuration order.
    pub fn tripwire_ids(&self) -> impl Iterator<Item = &str> {
        self.tripwires.iter().map(|t| t.id.as_str())
    }

    /// ROI ids in configuration order.
    pub fn roi_ids(&self) -> impl Iterator<Item = &str> {
        self.rois.iter().map(|r| r.id.as_str())
    }

    /// The wire of a tripwire in pixels, and whether IN is towards its right-hand side (`+1`) or
    /// left-hand side (`-1`) as seen on screen.
    pub fn tripwire_geometry(&self, id: &str) -> Option<(&[Point], i32)> {
        self.tripwires
            .iter()
            .find(|t| t.id == id)
            .map(|t| (t.wire.as_slice(), t.in_sign))
    }

    /// The polygon of an ROI in pixels.
    pub fn roi_polygon(&self, id: &str) -> Option<&[Point]> {
        self.rois
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.polygon.as_slice())
    }

    /// The engine settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}
