//! The structure ARCHITECTURE.md promises, checked: which workspace crate may depend on which
//! (from `cargo metadata`), no import cycles between the modules of a crate, and no library
//! source file over 600 lines (inline tests excluded).
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each library crate and the workspace crates it may depend on (normal dependencies).
const ALLOWED: &[(&str, &[&str])] = &[
    ("osprey-base", &[]),
    ("osprey-schema", &["osprey-base"]),
    ("osprey-image", &["osprey-base"]),
    ("osprey-detect", &["osprey-base", "osprey-image"]),
    (
        "osprey-video",
        &["osprey-base", "osprey-schema", "osprey-image"],
    ),
    ("osprey-track", &["osprey-base"]),
    ("osprey-influx", &["osprey-base"]),
    ("osprey-record", &["osprey-base", "osprey-schema"]),
    ("osprey-analytics", &["osprey-base", "osprey-schema"]),
    ("osprey-store", &["osprey-base", "osprey-schema"]),
    ("osprey-auth", &["osprey-base"]),
    ("osprey-sinks", &["osprey-base", "osprey-schema"]),
    (
        "osprey-infer",
        &["osprey-base", "osprey-image", "osprey-detect"],
    ),
    (
        "osprey-pipeline",
        &[
            "osprey-base",
            "osprey-schema",
            "osprey-image",
            "osprey-video",
            "osprey-detect",
            "osprey-infer",
            "osprey-track",
        ],
    ),
    (
        "osprey-api",
        &[
            "osprey-base",
            "osprey-schema",
            "osprey-image",
            "osprey-detect",
            "osprey-infer",
            "osprey-pipeline",
            "osprey-store",
            "osprey-influx",
            "osprey-analytics",
            "osprey-record",
            "osprey-auth",
        ],
    ),
    (
        "osprey-config",
        &[
            "osprey-base",
            "osprey-detect",
            "osprey-infer",
            "osprey-pipeline",
            "osprey-sinks",
            "osprey-api",
            "osprey-analytics",
            "osprey-auth",
        ],
    ),
    ("osprey-testkit", &[]),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_path_buf()
}

#[test]
fn crate_dependencies_follow_the_data_flow() {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut seen = BTreeSet::new();
    let mut problems = Vec::new();
    for pkg in meta["packages"].as_array().unwrap() {
        let name = pkg["name"].as_str().unwrap();
        seen.insert(name.to_string());
        let deps: Vec<&str> = pkg["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].is_null()) // normal dependencies; dev-dependencies may test anything
            .map(|d| d["name"].as_str().unwrap())
            .filter(|d| d.starts_with("osprey"))
            .collect();
        if name == "osprey" {
            continue; // the binary composes everything
        }
        let Some(ok) = allowed.get(name) else {
            problems.push(format!(
                "{name} is not in the crate map (ARCHITECTURE.md and this test)"
            ));
            continue;
        };
        for d in deps {
            if !ok.contains(&d) {
                problems.push(format!("{name} must not depend on {d}"));
            }
        }
    }
    for name in allowed.keys() {
        assert!(
            seen.contains(*name),
            "{name} is listed but not a workspace crate"
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The `.rs` files of a crate's `src`, recursively.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The crate's top-level module a file belongs to (`lib` for lib.rs/main.rs).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The code before the inline tests.
fn non_test(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |i| &text[..i])
}

fn library_crates() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("src/lib.rs").exists())
        .collect();
    v.sort();
    v
}

/// Whether the directed graph has a cycle; returns one if so.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(1) => {
                let start = path.iter().position(|p| p == n).unwrap();
                let mut c = path[start..].to_vec();
                c.push(n.to_string());
                return Some(c);
            }
            Some(2) => return None,
            _ => {}
        }
        state.insert(n.to_string(), 1);
        path.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, g, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if let Some(c) = visit(n, graph, &mut state, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_import_cycles_between_the_modules_of_a_crate() {
    let mut problems = Vec::new();
    for krate in library_crates() {
        let src = krate.join("src");
        let mut files = Vec::new();
        sources(&src, &mut files);
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for f in &files {
            let from = module_of(&src, f);
            if from == "lib" || f.to_string_lossy().ends_with("_tests.rs") {
                continue; // the crate root declares modules; test files see everything
            }
            let text = std::fs::read_to_string(f).unwrap();
            let code = non_test(&text);
            for (i, _) in code.match_indices("crate::") {
                let rest = &code[i + "crate::".len()..];
                let to: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                let is_module =
                    src.join(format!("{to}.rs")).exists() || src.join(&to).join("mod.rs").exists();
                if !to.is_empty() && to != from && is_module {
                    graph.entry(from.clone()).or_default().insert(to);
                }
            }
            graph.entry(from).or_default();
        }
        if let Some(c) = cycle(&graph) {
            problems.push(format!(
                "{}: import cycle {}",
                krate.file_name().unwrap().to_string_lossy(),
                c.join(" -> ")
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn library_files_stay_under_600_lines() {
    let mut problems = Vec::new();
    let mut largest = (0, String::new());
    for krate in library_crates() {
        let mut files = Vec::new();
        sources(&krate.join("src"), &mut files);
        for f in files {
            if f.to_string_lossy().ends_with("_tests.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&f).unwrap();
            let n = non_test(&text).lines().count();
            let name = f.strip_prefix(root()).unwrap().display().to_string();
            if n > largest.0 {
                largest = (n, name.clone());
            }
            if n > 600 {
                problems.push(format!("{name}: {n} lines"));
            }
        }
    }
    eprintln!("largest library file: {} ({} lines)", largest.1, largest.0);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
