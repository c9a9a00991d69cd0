//! Schema versions of the stores (`PRAGMA user_version`): the event store and the analytics
//! store are at version 1, the tables their first release created. A file from that release
//! (version 0, no stamp) is stamped on open; a file from a newer release is refused before
//! anything is written to it. Later versions add their migration steps here.

use rusqlite::Connection;

/// The versions this build knows.
pub const EVENTS_SCHEMA_VERSION: i64 = 1;
/// The analytics store's version.
pub const ANALYTICS_SCHEMA_VERSION: i64 = 1;

/// Reads the file's version: `Ok(Err(found))` when it is newer than `known` (leave it alone).
pub(crate) fn check(conn: &Connection, known: i64) -> rusqlite::Result<Result<i64, i64>> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    Ok(if found > known { Err(found) } else { Ok(found) })
}

/// Stamps the file with `known` once its tables exist (the migration steps, when there are
/// any, run between [`check`] and this).
pub(crate) fn stamp(conn: &Connection, found: i64, known: i64) -> rusqlite::Result<()> {
    if found < known {
        conn.pragma_update(None, "user_version", known)?;
    }
    Ok(())
}

/// The refusal's sentence.
pub(crate) fn newer(store: &str, found: i64, known: i64) -> String {
    format!(
        "the {store} has schema version {found}, newer than this Osprey understands ({known}); \
         run the newer release, or restore a backup"
    )
}
