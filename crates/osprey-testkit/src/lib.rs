//! Helpers for Osprey's tests and benchmarks.
//!
//! Test data (models, images, references) lives in the `shared/` folder beside the checkout,
//! never in the repository. [`shared_dir`] finds it (`OSPREY_SHARED`, default `../shared`
//! relative to the workspace root); tests call [`require_shared`] and skip, loudly, when absent.
#![allow(clippy::print_stderr, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("."))
}

/// The shared data folder, if it exists.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("OSPREY_SHARED") {
        Some(d) => PathBuf::from(d),
        None => workspace_root().join("../shared"),
    };
    dir.join("models").is_dir().then_some(dir)
}

/// The shared folder, or `None` after printing a loud skip message naming the test.
pub fn require_shared(test: &str) -> Option<PathBuf> {
    let dir = shared_dir();
    if dir.is_none() {
        eprintln!(
            "\n*** SKIPPED {test}: test data not found. Set OSPREY_SHARED to the shared/ folder \
             (models/, images/, reference/) or place it beside the checkout as ../shared. ***\n"
        );
    }
    dir
}

/// The provisioned ONNX Runtime library, if `make provision` has run (or `ORT_DYLIB_PATH` is set).
pub fn ort_library() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        return Some(PathBuf::from(p));
    }
    let p = workspace_root().join("runtime/onnxruntime/lib/libonnxruntime.so");
    p.is_file().then_some(p)
}

/// Both the shared data and ONNX Runtime, or `None` after a loud skip message.
pub fn require_model_env(test: &str) -> Option<(PathBuf, PathBuf)> {
    let shared = require_shared(test)?;
    match ort_library() {
        Some(lib) => Some((shared, lib)),
        None => {
            eprintln!("\n*** SKIPPED {test}: ONNX Runtime is not provisioned; run `make provision`. ***\n");
            None
        }
    }
}

/// A reference detection as written in `reference/yolo11n-*.json`.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
pub struct RefDetection {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
    pub confidence: f32,
    pub class_id: u32,
}

/// Reads a reference predictions file: image key (relative to `images/`) → detections.
pub fn read_reference(path: &Path) -> std::collections::BTreeMap<String, Vec<RefDetection>> {
    #[derive(serde::Deserialize)]
    struct File {
        images: std::collections::BTreeMap<String, Vec<RefDetection>>,
    }
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str::<File>(&text)
        .unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
        .images
}

pub mod daemons;
pub mod fixtures;
pub mod net;
pub mod server;
