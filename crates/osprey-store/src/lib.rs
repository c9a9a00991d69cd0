//! Embedded storage: the object-event store and the analytics store (SQLite, WAL; a writer
//! thread fed by a bounded queue, a separate read connection for queries), and where the
//! events' snapshots are kept (`snapshots/<camera>/<id>.jpg`, deleted with their events). The
//! recordings index lands here next.
#![forbid(clippy::print_stdout, clippy::print_stderr)]

mod analytics;
mod buckets;
mod events;
mod schema;
mod snapshots;
mod timestamp;

pub use analytics::{
    AlertRow, AnalyticsConfig, AnalyticsError, AnalyticsRecord, AnalyticsStore, Crossing,
    CrossingCounts, Direction, EventKind, InOut, LabelCrossings, OccupancyBucket, OccupancySample,
    OccupancyStat, RoiKind, RoiTransition, TotalsSnapshot, TripwireBucket, MAX_COMMIT_INTERVAL,
};
pub use buckets::{BucketSpec, Buckets, DEFAULT_BUCKET_COUNT, MAX_BUCKETS};
pub use events::{EventQuery, EventRecord, EventStore, StoreError};
pub use schema::{ANALYTICS_SCHEMA_VERSION, EVENTS_SCHEMA_VERSION};
pub use snapshots::{is_safe_name, snapshot_dir, snapshot_file, SnapshotKind};
pub use timestamp::{format_timestamp, parse_timestamp};
