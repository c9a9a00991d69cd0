//! Finding and loading OpenVINO's C library (`libopenvino_c.so.<version>`).
//!
//! Looked up at run time, in this order: an explicit path (`--openvino-library`, a file or a
//! folder), the `OSPREY_OPENVINO_LIBRARY` environment variable, the executable's folder and its
//! `lib/` sibling, and the folder `make provision` fills (`runtime/openvino/lib` under the
//! working directory or above the executable). In a folder the newest `libopenvino_c.so*` wins:
//! the PyPI wheel ships only versioned names, which `openvino-finder` does not look for. The CPU
//! plugin, the ONNX/IR frontends and TBB are found by OpenVINO itself beside `libopenvino.so`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::DetectError;

/// Where `make provision` (tools/provision-openvino.sh) puts the libraries.
pub const PROVISIONED_DIR: &str = "runtime/openvino/lib";
/// The environment variable naming the library (or its folder).
pub const ENV_VAR: &str = "OSPREY_OPENVINO_LIBRARY";

static LOADED: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// The `libopenvino_c` inside a folder (newest version), or the path itself when it is a file.
fn library_in(p: &Path) -> Option<PathBuf> {
    if p.is_file() {
        return Some(p.to_path_buf());
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(p)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|f| {
            f.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libopenvino_c.so") || n == "libopenvino_c.dylib")
        })
        .collect();
    found.sort();
    found.pop()
}

/// Returns the library path [`init`] would load, or the one-sentence error naming the fix.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, DetectError> {
    let env = std::env::var_os(ENV_VAR)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    let given = explicit.map(Path::to_path_buf).or(env);
    let found = match &given {
        Some(p) => library_in(p),
        None => crate::runtime::search_dirs(PROVISIONED_DIR)
            .iter()
            .find_map(|d| library_in(d)),
    };
    found.ok_or_else(|| {
        let looked = match (&given, explicit.is_some()) {
            (Some(p), true) => format!("at {} (given explicitly)", p.display()),
            (Some(p), false) => format!("at {} (from {ENV_VAR})", p.display()),
            (None, _) => format!("next to the osprey executable or in {PROVISIONED_DIR}"),
        };
        DetectError::OpenVinoMissing(format!(
            "the OpenVINO engine needs libopenvino_c.so, which was not found {looked}; run \
             `make provision` (or `tools/provision-openvino.sh`) to download it from PyPI into \
             {PROVISIONED_DIR}, or point --openvino-library / {ENV_VAR} at it"
        ))
    })
}

/// Loads OpenVINO once per process. Later calls return the first result.
pub fn init(explicit: Option<&Path>) -> Result<&'static Path, DetectError> {
    let loaded = LOADED.get_or_init(|| {
        let path = locate(explicit).map_err(|e| e.to_string())?;
        openvino_sys::library::load_from(&path).map_err(|e| {
            format!(
                "the OpenVINO engine could not load {}: {e}; re-run `make provision`",
                path.display()
            )
        })?;
        tracing::info!(library = %path.display(), "loaded OpenVINO");
        Ok(path)
    });
    match loaded {
        Ok(p) => Ok(p.as_path()),
        Err(msg) => Err(DetectError::OpenVinoMissing(msg.clone())),
    }
}

/// Whether OpenVINO can be loaded (for tests that skip without it).
pub fn available(explicit: Option<&Path>) -> bool {
    init(explicit).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_missing_path_names_the_fix() {
        let err = locate(Some(Path::new("/nonexistent/libopenvino_c.so"))).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("/nonexistent/libopenvino_c.so"), "{msg}");
        assert!(msg.contains("make provision"), "{msg}");
        assert_eq!(
            osprey_base::Kinded::kind(&err),
            osprey_base::ErrorKind::FailedPrecondition
        );
    }
}
