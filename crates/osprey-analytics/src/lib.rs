//! Video analytics from tracker output: tripwire crossings, ROI occupancy, dwell and loitering,
//! in the manner of NVIDIA Metropolis (tripwires, ROIs, FOV) and Frigate (zone inertia,
//! loitering). Pure and synchronous: no I/O, no threads, no clock — time comes in with each
//! [`osprey_schema::FrameResult`].
//!
//! # Model
//!
//! * **Rules** ([`AnalyticsConfig`]) use the Metropolis JSON shapes: a tripwire is a polyline
//!   `wire` plus a `direction` arrow `p1→p2` pointing the IN (entry) way; an ROI is a polygon of
//!   `coordinates`. Osprey adds a `classes` filter, `normalized` coordinates, the `anchor` point
//!   (bottom-centre of the box by default, or centre), the tripwire's `min_points` and the ROI's
//!   `entry_inertia`, `exit_inertia` and `loitering_seconds`. [`AnalyticsConfig::validate`]
//!   checks everything against the frame size and compiles the rules to pixels
//!   ([`CompiledRules`]); it reports every problem with the field it concerns.
//! * **Objects.** Each track id maps to an object. When a track vanishes and, within
//!   `settings.reid.max_gap_seconds`, a new track id of the same class appears close to where the
//!   old one was heading (`max_distance_heights` box heights, similar box size), the new track
//!   continues the old object (re-identification): its trajectory, crossing tallies and ROI stays
//!   carry over. This keeps tracker id switches near a wire from splitting one crossing in two or
//!   counting one person twice. Re-identification applies anywhere in the frame, not only near
//!   wires (ROI stays benefit too). An object unseen for `settings.object_timeout_seconds` has ended:
//!   its state is dropped (memory stays bounded) and its effective counts are settled.
//! * **Crossings.** With `min_points = 1` (the plain rule) an event fires when the anchor's move
//!   between two consecutive observations of the object (gaps allowed) goes from strictly one
//!   side of a wire segment to strictly the other and meets the segment; hits through a vertex of
//!   the polyline count once, grazing a fold of it counts nothing. An anchor lying exactly on the
//!   wire is skipped (the move is judged from the last anchor off it). With `min_points = N > 1`
//!   (Metropolis `tripwireMinPoints`, default 5) an object must first hold one side of the wire
//!   (relative to the nearest segment) for `N` consecutive observations; an event fires when it
//!   then holds the other side for `N` consecutive observations and the move that took it there
//!   crossed the wire. The event is reported in the `N`-th frame on the new side, with
//!   `crossed_seq` naming the first; jitter around the line fires nothing. IN is a crossing towards
//!   the side of the wire the direction arrow's head lies on (relative to the segment nearest the
//!   arrow; the polyline's left and right are consistent along it).
//! * **Counts** ([`Counts`]): raw (Metropolis `actualCount`, every event) and effective
//!   (Metropolis `count`: per object and tripwire, IN if its INs outnumber its OUTs, OUT for the
//!   reverse, nothing if equal, settled when the object ends), per tripwire × direction × class;
//!   ROI entries and exits per class. [`Counts`] is serde-able: persist it and hand it to
//!   [`Analytics::restore_counts`] after a restart.
//! * **ROIs.** An object counts as inside after `entry_inertia` consecutive observations with its
//!   anchor strictly inside the polygon (even-odd rule), and as gone after `exit_inertia`
//!   consecutive frames outside or unseen (Frigate's zone inertia, applied both ways; 0 and 1 both
//!   mean at once). Exits carry the dwell time; `loitering_seconds` raises one loitering event
//!   per stay. FOV occupancy counts every tracked object in the frame per class.
//! * **Tracker hints.** Objects whose box is a prediction (`matched == false`) keep their object
//!   alive and count in FOV occupancy, but neither move it across a wire nor change its ROI
//!   membership. Tracks listed in `FrameResult::ended` end their object at once (unless it has
//!   moved on to another track id).
//! * **Time.** Durations use the presentation time `pts` (monotonic); events also carry `wall`.
//!   Frames of another size than the rules were compiled for are scaled to it.
//!
//! * **Alerts** ([`AlertRules`], [`AlertEngine`]): Metropolis-style rules on tripwires
//!   (`increment`, `flowrate`), ROIs and the FOV (`occupancy_threshold`, `occupancy_switch`) and
//!   ROI `loitering`, with hold times both ways and a cooldown; see the `alerts` module.
//!
//! The object lifecycle ([`Lifecycle`]: `new` / `update` / `end` events per tracked object,
//! which feed the event store and Frigate's MQTT events) lives here too.
//!
//! [`Analytics::process`] returns a [`FrameAnalytics`] per frame; [`SummaryBuilder`] folds them
//! into an offline [`Summary`].

mod alert_rules;
mod alerts;
mod config;
mod counts;
mod engine;
mod events;
pub mod geometry;
mod lifecycle;
mod object;
mod rules;
mod summary;
mod validate;

pub use alerts::{AlertDirection, AlertEngine, AlertRule, AlertRuleType, AlertRules};
pub use config::{
    AnalyticsConfig, Anchor, CompiledRules, ConfigError, DirectionName, Problem, ReidSettings, Roi,
    Settings, Tripwire, TripwireDirection,
};
pub use counts::{Counts, DirectionCounts, RoiCounts, TripwireCounts};
pub use engine::Analytics;
pub use events::{
    AnalyticsEvent, CrossingEvent, Direction, FrameAnalytics, Occupancy, RoiEvent, RoiOccupancy,
};
pub use geometry::Point;
pub use lifecycle::{Lifecycle, UPDATE_EVERY};
pub use rules::{OnChange, RuleBook};
pub use summary::{
    Summary, SummaryBuilder, SummaryCrossing, SummaryFov, SummaryRoi, SummaryTripwire,
};
