//! The web UI (docs/ui.md) in a real browser: runs `tests-browser/run.mjs` (playwright-core
//! driving Debian's chromium) against the server binary — `OSPREY_BIN` when set (`make ui-test`
//! points it at the release build), else the binary this test run built — and checks that the
//! committed `ui/dist` is what a fresh build of `ui/` gives. Both skip loudly when Node, the npm
//! packages (`make test-deps`) or chromium are missing.
#![allow(clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn skip(test: &str, why: &str) {
    eprintln!("\n*** SKIPPED {test}: {why} ***\n");
}

fn has_node() -> bool {
    Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn ui_dist_matches_a_fresh_build() {
    let root = root();
    if !has_node() || !root.join("ui/node_modules/esbuild").is_dir() {
        skip(
            "ui_dist_matches_a_fresh_build",
            "node or ui/node_modules is missing (make test-deps runs npm ci in ui/)",
        );
        return;
    }
    let status = Command::new("node")
        .arg(root.join("ui/build.mjs"))
        .arg("--check")
        .status()
        .expect("run node ui/build.mjs --check");
    assert!(
        status.success(),
        "ui/dist differs from a fresh build: run `make ui` and commit ui/dist"
    );
}

#[test]
fn ui_in_a_browser() {
    let Some((shared, ort)) = osprey_testkit::require_model_env("ui_in_a_browser") else {
        return;
    };
    let root = root();
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !chromium.is_file() {
        skip(
            "ui_in_a_browser",
            "chromium is not installed (make test-deps: apt-get install chromium)",
        );
        return;
    }
    if !has_node()
        || !root
            .join("tests-browser/node_modules/playwright-core")
            .is_dir()
    {
        skip(
            "ui_in_a_browser",
            "node or tests-browser/node_modules is missing (make test-deps runs npm ci there)",
        );
        return;
    }
    let bin = std::env::var_os("OSPREY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_osprey")));
    let status = Command::new("node")
        .arg(root.join("tests-browser/run.mjs"))
        .env("OSPREY_BIN", &bin)
        .env("OSPREY_SHARED", &shared)
        .env("ORT_DYLIB_PATH", &ort)
        .env("CHROMIUM", &chromium)
        .status()
        .expect("run node tests-browser/run.mjs");
    if status.code() == Some(77) {
        skip(
            "ui_in_a_browser",
            "run.mjs found something missing (see above)",
        );
        return;
    }
    assert!(status.success(), "the browser tests failed (see above)");
}
