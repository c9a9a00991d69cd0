//! Alert rules as configured (Metropolis `/config/rule/alerts/{tripwire,roi,fov}` shapes, read
//! back as written); the engine that evaluates them is [`crate::AlertEngine`].

use osprey_schema::analytics::{AlertKind, Direction, Occupancy};
use serde::{Deserialize, Serialize};

/// The type of an alert rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertRuleType {
    /// Tripwire: `countThreshold` crossings within `timeInterval` seconds.
    Increment,
    /// Tripwire: at least `countThreshold` crossings in every sliding `timeInterval` window.
    #[serde(alias = "flowRate", alias = "flow_rate")]
    Flowrate,
    /// ROI / FOV: occupancy at or above `countThreshold` for `timeInterval` seconds.
    #[serde(alias = "occupancyThreshold", alias = "threshold")]
    OccupancyThreshold,
    /// ROI / FOV: turned occupied or vacant for `timeInterval` seconds.
    #[serde(alias = "occupancySwitch", alias = "switch")]
    OccupancySwitch,
    /// ROI: an object stayed `timeInterval` seconds.
    Loitering,
}

impl AlertRuleType {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertRuleType::Increment => "increment",
            AlertRuleType::Flowrate => "flowrate",
            AlertRuleType::OccupancyThreshold => "occupancy_threshold",
            AlertRuleType::OccupancySwitch => "occupancy_switch",
            AlertRuleType::Loitering => "loitering",
        }
    }

    /// The rule types a kind of target takes.
    pub fn allowed(kind: AlertKind) -> &'static [AlertRuleType] {
        match kind {
            AlertKind::Tripwire => &[AlertRuleType::Increment, AlertRuleType::Flowrate],
            AlertKind::Roi => &[
                AlertRuleType::OccupancyThreshold,
                AlertRuleType::OccupancySwitch,
                AlertRuleType::Loitering,
            ],
            AlertKind::Fov => &[
                AlertRuleType::OccupancyThreshold,
                AlertRuleType::OccupancySwitch,
            ],
        }
    }
}

/// Which crossings a tripwire rule counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertDirection {
    /// IN crossings.
    #[serde(alias = "in", alias = "IN", alias = "ENTRY")]
    Entry,
    /// OUT crossings.
    #[serde(alias = "out", alias = "OUT", alias = "EXIT")]
    Exit,
    /// Both (default).
    #[default]
    #[serde(alias = "BOTH")]
    Both,
}

impl AlertDirection {
    pub(crate) fn matches(self, d: Direction) -> bool {
        matches!(
            (self, d),
            (AlertDirection::Both, _)
                | (AlertDirection::Entry, Direction::In)
                | (AlertDirection::Exit, Direction::Out)
        )
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AlertDirection::Entry => "entry",
            AlertDirection::Exit => "exit",
            AlertDirection::Both => "both",
        }
    }
}

fn one() -> u64 {
    1
}
fn is_one(v: &u64) -> bool {
    *v == 1
}
fn one_second() -> f64 {
    1.0
}
fn is_one_second(v: &f64) -> bool {
    *v == 1.0
}
fn is_zero(v: &f64) -> bool {
    *v == 0.0
}
fn is_both(d: &AlertDirection) -> bool {
    *d == AlertDirection::Both
}

/// One alert rule, in the Metropolis shape (camelCase), read back as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertRule {
    /// Unique id among the camera's alert rules.
    #[serde(alias = "ruleId")]
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// What fires it.
    pub rule_type: AlertRuleType,
    /// The tripwire watched (tripwire rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tripwire_id: Option<String>,
    /// The ROI watched (ROI rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roi_id: Option<String>,
    /// Crossing direction counted (tripwire rules; default both).
    #[serde(default, skip_serializing_if = "is_both")]
    pub direction: AlertDirection,
    /// Crossings or objects needed (default 1).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub count_threshold: u64,
    /// Seconds (default 1): the window, the hold time or the stay, by rule type.
    #[serde(default = "one_second", skip_serializing_if = "is_one_second")]
    pub time_interval: f64,
    /// Object types counted (`Person`, `car`…; any case; empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub object_type: Vec<String>,
    /// Quiet time after an alert fires or ends, seconds (default 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cooldown_seconds: f64,
}

impl AlertRule {
    pub(crate) fn counts_label(&self, label: &str) -> bool {
        self.object_type.is_empty()
            || self
                .object_type
                .iter()
                .any(|t| t.eq_ignore_ascii_case(label))
    }

    pub(crate) fn occupancy(&self, o: &Occupancy) -> u64 {
        if self.object_type.is_empty() {
            return u64::from(o.total);
        }
        o.by_class
            .iter()
            .filter(|(l, _)| self.counts_label(l))
            .map(|(_, n)| u64::from(*n))
            .sum()
    }
}

/// A camera's alert rules per kind of target.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AlertRules {
    /// Rules on tripwires.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tripwire: Vec<AlertRule>,
    /// Rules on ROIs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roi: Vec<AlertRule>,
    /// Rules on the whole field of view.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fov: Vec<AlertRule>,
}

impl AlertRules {
    /// No rules at all.
    pub fn is_empty(&self) -> bool {
        self.tripwire.is_empty() && self.roi.is_empty() && self.fov.is_empty()
    }

    /// The rules of one kind.
    pub fn of(&self, kind: AlertKind) -> &Vec<AlertRule> {
        match kind {
            AlertKind::Tripwire => &self.tripwire,
            AlertKind::Roi => &self.roi,
            AlertKind::Fov => &self.fov,
        }
    }

    /// The rules of one kind, to change.
    pub fn of_mut(&mut self, kind: AlertKind) -> &mut Vec<AlertRule> {
        match kind {
            AlertKind::Tripwire => &mut self.tripwire,
            AlertKind::Roi => &mut self.roi,
            AlertKind::Fov => &mut self.fov,
        }
    }
}

impl crate::AnalyticsConfig {
    /// Deletes the alert rules whose tripwire or ROI no longer exists; returns how many.
    pub fn prune_alerts(&mut self) -> usize {
        let wires: Vec<&str> = self.tripwires.iter().map(|t| t.id.as_str()).collect();
        let rois: Vec<&str> = self.rois.iter().map(|r| r.id.as_str()).collect();
        let before = self.alerts.tripwire.len() + self.alerts.roi.len();
        self.alerts
            .tripwire
            .retain(|a| a.tripwire_id.as_deref().is_some_and(|t| wires.contains(&t)));
        self.alerts
            .roi
            .retain(|a| a.roi_id.as_deref().is_some_and(|r| rois.contains(&r)));
        before - self.alerts.tripwire.len() - self.alerts.roi.len()
    }
}
