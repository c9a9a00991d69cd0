//! Embeds the web UI: lists `ui/dist` (built by `make ui`, committed, so `cargo build` needs no
//! Node) into `$OUT_DIR/ui_assets.rs` as `(name, bytes, gzipped bytes, ETag)` entries read by
//! `src/ui.rs` with `include_bytes!`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let dist = manifest.join("../../ui/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dist)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.is_file() && p.extension().is_some_and(|e| e != "gz"));
    files.sort();
    let mut out = String::from("/// The embedded UI files.\n");
    out.push_str("pub(crate) static ASSETS: &[Asset] = &[\n");
    for p in &files {
        println!("cargo:rerun-if-changed={}", p.display());
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .expect("UTF-8 file name");
        let bytes = std::fs::read(p).expect("read a ui/dist file");
        let gz = gz_path(p);
        let gz = if gz.is_file() {
            format!(
                "Some(include_bytes!({:?}))",
                gz.canonicalize().expect("path").display().to_string()
            )
        } else {
            "None".to_string()
        };
        let _ = writeln!(
            out,
            "    ({name:?}, include_bytes!({:?}), {gz}, \"\\\"{:016x}\\\"\"),",
            p.canonicalize().expect("path").display().to_string(),
            fnv1a(&bytes)
        );
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("ui_assets.rs");
    std::fs::write(dest, out).expect("write ui_assets.rs");
}

fn gz_path(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".gz");
    PathBuf::from(s)
}

/// FNV-1a, 64 bits: a stable content hash for the ETag (no dependency needed).
fn fnv1a(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3)
    })
}
