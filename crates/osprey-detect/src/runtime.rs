//! Finding and loading the ONNX Runtime shared library.
//!
//! Osprey links ONNX Runtime dynamically (`ort`'s `load-dynamic`), so the library is looked up
//! at run time, in this order: an explicit path (`--ort-library`), the `ORT_DYLIB_PATH`
//! environment variable, the executable's folder and its `lib/` sibling, and the folder that
//! `make provision` fills (`runtime/onnxruntime/lib` under the working directory or above the
//! executable). The first existing file wins.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::DetectError;

/// File names of the library, most specific first.
const LIB_NAMES: &[&str] = &[
    "libonnxruntime.so",
    "libonnxruntime.so.1",
    "libonnxruntime.dylib",
    "onnxruntime.dll",
];
/// Where `make provision` (tools/provision-ort.sh) puts the library, relative to the project.
pub const PROVISIONED_DIR: &str = "runtime/onnxruntime/lib";
/// The ONNX Runtime version Osprey is built against (`ort` 2.0.0-rc.15, API 31).
pub const ORT_VERSION: &str = "1.31.1";

static LOADED: OnceLock<Result<(PathBuf, ort::environment::Environment), String>> = OnceLock::new();

fn candidates(explicit: Option<&Path>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = explicit {
        out.push(p.to_path_buf());
        return out;
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        out.push(PathBuf::from(p));
        return out;
    }
    for d in search_dirs(PROVISIONED_DIR) {
        for n in LIB_NAMES {
            out.push(d.join(n));
        }
    }
    out
}

/// Folders a shared library is looked for in: the executable's folder, its `lib/` and `../lib`,
/// `provisioned` (relative to the project: `make provision`'s folder) above the executable
/// (target/{debug,release}/osprey inside a checkout, and its deps/ folder for tests) and under
/// the working directory.
pub(crate) fn search_dirs(provisioned: &str) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        dirs.push(exe_dir.clone());
        dirs.push(exe_dir.join("lib"));
        dirs.push(exe_dir.join("..").join("lib"));
        for up in exe_dir.ancestors().skip(1).take(3) {
            dirs.push(up.join(provisioned));
        }
    }
    if let Ok(cwd) = std::env::current_dir() {
        dirs.push(cwd.join(provisioned));
    }
    dirs
}

/// Returns the library path that [`init`] would load, or an error naming where it looked.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, DetectError> {
    let cands = candidates(explicit);
    if let Some(found) = cands.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    let looked = match explicit {
        Some(p) => format!("{} (given explicitly)", p.display()),
        None if std::env::var_os("ORT_DYLIB_PATH").is_some() => {
            format!(
                "{} (from ORT_DYLIB_PATH)",
                cands
                    .first()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            )
        }
        None => {
            "ORT_DYLIB_PATH, next to the osprey executable, and runtime/onnxruntime/lib".to_string()
        }
    };
    Err(DetectError::RuntimeMissing(format!(
        "ONNX Runtime {ORT_VERSION} (libonnxruntime.so) was not found in {looked}; run `make provision` \
         (or `tools/provision-ort.sh`) to download it from PyPI into runtime/onnxruntime/lib, or point \
         --ort-library / ORT_DYLIB_PATH at an existing libonnxruntime.so"
    )))
}

/// Loads ONNX Runtime once per process and returns its environment. Later calls return the
/// first result, whatever path they pass.
pub fn init(
    explicit: Option<&Path>,
) -> Result<&'static ort::environment::Environment, DetectError> {
    let loaded = LOADED.get_or_init(|| {
        let path = locate(explicit).map_err(|e| e.to_string())?;
        let builder = ort::init_from(&path)
            .map_err(|e| format!("cannot load ONNX Runtime from {}: {e}", path.display()))?;
        let env = builder
            .with_name("osprey")
            .build()
            .map_err(|e| format!("cannot start ONNX Runtime from {}: {e}", path.display()))?;
        tracing::info!(library = %path.display(), "loaded ONNX Runtime");
        Ok((path, env))
    });
    match loaded {
        Ok((_, env)) => Ok(env),
        Err(msg) => Err(DetectError::RuntimeMissing(msg.clone())),
    }
}

/// The path of the library loaded by [`init`], if any.
pub fn loaded_library() -> Option<&'static Path> {
    LOADED
        .get()
        .and_then(|r| r.as_ref().ok())
        .map(|(p, _)| p.as_path())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_missing_path_names_the_fix() {
        let err = locate(Some(Path::new("/nonexistent/libonnxruntime.so"))).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("/nonexistent/libonnxruntime.so"), "{msg}");
        assert!(msg.contains("make provision"), "{msg}");
    }
}
