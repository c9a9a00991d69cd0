//! Running totals: raw and effective crossing counts per tripwire × direction × class, and ROI
//! entries/exits per class. [`Counts`] is also the snapshot the server persists and restores.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// IN and OUT counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DirectionCounts {
    /// Crossings (or objects) in the IN direction.
    #[serde(rename = "in")]
    pub in_: u64,
    /// Crossings (or objects) in the OUT direction.
    pub out: u64,
}

impl DirectionCounts {
    fn add(&mut self, other: DirectionCounts) {
        self.in_ += other.in_;
        self.out += other.out;
    }
}

/// Counts of one tripwire, per class label.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TripwireCounts {
    /// Metropolis `actualCount`: every crossing event.
    #[serde(default)]
    pub raw: BTreeMap<String, DirectionCounts>,
    /// Metropolis `count`: at most one per object (after re-identification) over its life — IN
    /// if its INs outnumber its OUTs, OUT for the reverse, nothing if equal. Settled when the
    /// object ends.
    #[serde(default)]
    pub effective: BTreeMap<String, DirectionCounts>,
}

impl TripwireCounts {
    /// Raw counts summed over classes.
    pub fn raw_total(&self) -> DirectionCounts {
        sum(self.raw.values())
    }

    /// Effective counts summed over classes.
    pub fn effective_total(&self) -> DirectionCounts {
        sum(self.effective.values())
    }
}

fn sum<'a>(it: impl Iterator<Item = &'a DirectionCounts>) -> DirectionCounts {
    let mut total = DirectionCounts::default();
    for c in it {
        total.add(*c);
    }
    total
}

/// Entries and exits of one ROI, per class label.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RoiCounts {
    /// Objects that entered.
    #[serde(default)]
    pub entries: BTreeMap<String, u64>,
    /// Objects that left.
    #[serde(default)]
    pub exits: BTreeMap<String, u64>,
}

impl RoiCounts {
    /// Entries summed over classes.
    pub fn entries_total(&self) -> u64 {
        self.entries.values().sum()
    }

    /// Exits summed over classes.
    pub fn exits_total(&self) -> u64 {
        self.exits.values().sum()
    }
}

/// All running totals of an engine, keyed by rule id. Serialise it to persist the totals and pass
/// it to [`crate::Analytics::restore_counts`] after a restart.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counts {
    /// Per tripwire id.
    #[serde(default)]
    pub tripwires: BTreeMap<String, TripwireCounts>,
    /// Per ROI id.
    #[serde(default)]
    pub rois: BTreeMap<String, RoiCounts>,
}

impl Counts {
    /// Zero counts for every rule of `rules`.
    pub(crate) fn for_rules(rules: &crate::CompiledRules) -> Self {
        Counts {
            tripwires: rules
                .tripwire_ids()
                .map(|id| (id.to_owned(), TripwireCounts::default()))
                .collect(),
            rois: rules
                .roi_ids()
                .map(|id| (id.to_owned(), RoiCounts::default()))
                .collect(),
        }
    }

    /// Adds `other` into these counts for the rules these counts know; returns the ids of
    /// `other` that are unknown here (rules removed or renamed since the snapshot).
    pub(crate) fn merge_known(&mut self, other: &Counts) -> Vec<String> {
        let mut ignored = Vec::new();
        for (id, t) in &other.tripwires {
            match self.tripwires.get_mut(id) {
                Some(mine) => {
                    merge_map(&mut mine.raw, &t.raw);
                    merge_map(&mut mine.effective, &t.effective);
                }
                None => ignored.push(id.clone()),
            }
        }
        for (id, r) in &other.rois {
            match self.rois.get_mut(id) {
                Some(mine) => {
                    for (k, v) in &r.entries {
                        *mine.entries.entry(k.clone()).or_default() += v;
                    }
                    for (k, v) in &r.exits {
                        *mine.exits.entry(k.clone()).or_default() += v;
                    }
                }
                None => ignored.push(id.clone()),
            }
        }
        ignored
    }
}

fn merge_map(
    into: &mut BTreeMap<String, DirectionCounts>,
    from: &BTreeMap<String, DirectionCounts>,
) {
    for (k, v) in from {
        into.entry(k.clone()).or_default().add(*v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direction_counts_serialise_as_in_and_out() {
        let c = DirectionCounts { in_: 2, out: 3 };
        let j = serde_json::to_value(c).expect("json");
        assert_eq!(j, serde_json::json!({"in": 2, "out": 3}));
    }
}
