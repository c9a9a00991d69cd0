//! Embedded storage: the object-event store (SQLite, WAL; a writer thread fed by a bounded
//! queue, a separate read connection for queries). Analytics time series and the recordings
//! index land here next.
#![forbid(clippy::print_stdout, clippy::print_stderr)]

mod events;

pub use events::{EventQuery, EventRecord, EventStore, StoreError};
