//! The engine's per-frame output types live in `osprey-schema` (typed messages between
//! stages); re-exported here.

pub use osprey_schema::analytics::{
    AnalyticsEvent, CrossingEvent, Direction, FrameAnalytics, Occupancy, RoiEvent, RoiOccupancy,
};
