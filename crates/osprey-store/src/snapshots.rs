//! Where each object event's snapshot lives: `snapshots/<camera>/<event id>.jpg` (the frame of
//! the best score, its box drawn) and `<event id>.crop.jpg` (a crop around the box), in a
//! `snapshots` directory beside the event database. Names are checked here, once, for the
//! writer and the readers alike: a camera or event id that could leave the directory has no
//! path.

use std::path::{Path, PathBuf};

/// The picture of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotKind {
    /// The whole frame with the object's box.
    Full,
    /// A crop around the box.
    Crop,
}

impl SnapshotKind {
    /// Both kinds.
    pub const ALL: [SnapshotKind; 2] = [SnapshotKind::Full, SnapshotKind::Crop];

    fn suffix(self) -> &'static str {
        match self {
            SnapshotKind::Full => ".jpg",
            SnapshotKind::Crop => ".crop.jpg",
        }
    }
}

/// Whether `s` can be one component of a snapshot's path: 1 to 128 ASCII letters, digits,
/// `.`, `-` or `_`, not starting with `.` (so never `.` or `..`). Event ids
/// (`<unix time>-<hex>`) and camera ids (letters, digits, `-`, `_`) always are.
pub fn is_safe_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// The snapshots directory of the event database `db`: `snapshots` beside it.
pub fn snapshot_dir(db: &Path) -> PathBuf {
    db.with_file_name("snapshots")
}

/// The file of one event's snapshot under `dir`; `None` when the camera or the event id is not
/// a safe name.
pub fn snapshot_file(dir: &Path, camera: &str, id: &str, kind: SnapshotKind) -> Option<PathBuf> {
    (is_safe_name(camera) && is_safe_name(id))
        .then(|| dir.join(camera).join(format!("{id}{}", kind.suffix())))
}

/// Deletes an event's snapshots (both kinds); missing files are fine. Returns the files
/// removed.
pub(crate) fn remove_snapshots(dir: &Path, camera: &str, id: &str) -> usize {
    let mut removed = 0;
    for kind in SnapshotKind::ALL {
        let Some(path) = snapshot_file(dir, camera, id, kind) else {
            continue;
        };
        match std::fs::remove_file(&path) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot delete a snapshot")
            }
        }
    }
    removed
}

/// Deletes snapshot files at least `min_age` old whose event has no row: those of events whose
/// row was dropped (a full queue) or deleted while the picture was being written. Returns the
/// files removed.
pub(crate) fn sweep_orphans(
    dir: &Path,
    c: &rusqlite::Connection,
    min_age: std::time::Duration,
) -> rusqlite::Result<usize> {
    let Ok(cameras) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    let mut exists = c.prepare_cached("SELECT 1 FROM events WHERE camera = ?1 AND id = ?2")?;
    let mut removed = 0;
    for cam in cameras.flatten() {
        let camera = cam.file_name().to_string_lossy().to_string();
        let Ok(files) = std::fs::read_dir(cam.path()) else {
            continue;
        };
        for f in files.flatten() {
            let name = f.file_name().to_string_lossy().to_string();
            let Some(id) = name
                .strip_suffix(SnapshotKind::Crop.suffix())
                .or_else(|| name.strip_suffix(SnapshotKind::Full.suffix()))
                .filter(|id| is_safe_name(id))
            else {
                continue;
            };
            let old = f
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= min_age);
            if old
                && !exists.exists([camera.as_str(), id])?
                && std::fs::remove_file(f.path()).is_ok()
            {
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// Deletes every snapshot of `camera` (the camera removed with `purge=true`). Returns the files
/// removed.
pub(crate) fn remove_camera(dir: &Path, camera: &str) -> usize {
    if !is_safe_name(camera) {
        return 0;
    }
    let path = dir.join(camera);
    let n = std::fs::read_dir(&path).map(|d| d.count()).unwrap_or(0);
    match std::fs::remove_dir_all(&path) {
        Ok(()) => n,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot delete the camera's snapshots");
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_leave_the_directory_have_no_path() {
        let dir = Path::new("/data/snapshots");
        assert_eq!(
            snapshot_file(dir, "walk", "1795340921.972722-22b8ec", SnapshotKind::Full),
            Some(PathBuf::from(
                "/data/snapshots/walk/1795340921.972722-22b8ec.jpg"
            ))
        );
        assert_eq!(
            snapshot_file(dir, "walk", "1.5-ab", SnapshotKind::Crop),
            Some(PathBuf::from("/data/snapshots/walk/1.5-ab.crop.jpg"))
        );
        for bad in [
            "", ".", "..", "../x", "a/b", "a\\b", "/etc", ".hidden", "a b", "a\0b", "é",
        ] {
            assert!(!is_safe_name(bad), "{bad:?}");
            assert_eq!(snapshot_file(dir, "walk", bad, SnapshotKind::Full), None);
            assert_eq!(snapshot_file(dir, bad, "1.5-ab", SnapshotKind::Full), None);
        }
        assert!(!is_safe_name(&"a".repeat(129)));
        assert_eq!(
            snapshot_dir(Path::new("/data/events.sqlite")),
            PathBuf::from("/data/snapshots")
        );
        assert_eq!(
            snapshot_dir(Path::new("events.sqlite")),
            PathBuf::from("snapshots")
        );
    }
}
