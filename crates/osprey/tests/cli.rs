//! The real `osprey` binary: `detect` and `eval` on the shared data, and clear failures.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::path::Path;
use std::process::{Command, Output};

fn osprey(args: &[&str], lib: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_osprey"));
    cmd.args(args).env("OSPREY_LOG", "warn");
    match lib {
        Some(l) => cmd.env("ORT_DYLIB_PATH", l),
        None => cmd.env_remove("ORT_DYLIB_PATH"),
    };
    cmd.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn detect_jsonl_and_deepstack_formats() {
    let Some((shared, lib)) =
        osprey_testkit::require_model_env("detect_jsonl_and_deepstack_formats")
    else {
        return;
    };
    let model = shared.join("models/yolo11n-640.onnx");
    let bus = shared.join("images/bus.jpg");
    let out = osprey(
        &[
            "detect",
            "-m",
            model.to_str().unwrap(),
            "--format",
            "jsonl",
            bus.to_str().unwrap(),
        ],
        Some(&lib),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(line["image"], bus.to_str().unwrap());
    let dets = line["detections"].as_array().unwrap();
    // Ultralytics on bus.jpg at 640: bus 0.94, persons 0.89, 0.88, 0.86, 0.62 for the official
    // weights; the reconstructed weights give one bus and four persons too.
    let labels: Vec<&str> = dets.iter().map(|d| d["label"].as_str().unwrap()).collect();
    assert_eq!(
        labels.iter().filter(|l| **l == "bus").count(),
        1,
        "{labels:?}"
    );
    assert_eq!(
        labels.iter().filter(|l| **l == "person").count(),
        4,
        "{labels:?}"
    );
    for key in ["class_id", "label", "confidence", "x1", "y1", "x2", "y2"] {
        assert!(dets[0].get(key).is_some(), "missing {key}");
    }

    let out = osprey(
        &[
            "detect",
            "-m",
            model.to_str().unwrap(),
            bus.to_str().unwrap(),
        ],
        Some(&lib),
    );
    assert!(out.status.success());
    let resp: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(resp["success"], true);
    let preds = resp["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 5);
    let confs: Vec<f64> = preds
        .iter()
        .map(|p| p["confidence"].as_f64().unwrap())
        .collect();
    assert!(
        confs.windows(2).all(|w| w[0] >= w[1]),
        "sorted by confidence: {confs:?}"
    );
    for p in preds {
        assert!(p["x_min"].is_i64() && p["y_max"].is_i64());
        assert!(p["x_max"].as_i64().unwrap() <= 810 && p["y_max"].as_i64().unwrap() <= 1080);
    }
}

#[test]
fn detect_reports_bad_files_and_keeps_going() {
    let Some((shared, lib)) =
        osprey_testkit::require_model_env("detect_reports_bad_files_and_keeps_going")
    else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("osprey-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = dir.join("notes.txt");
    std::fs::write(&text, "not an image").unwrap();
    let bus = shared.join("images/bus.jpg");
    let model = shared.join("models/yolo11n-320.onnx");
    let out = osprey(
        &[
            "detect",
            "-m",
            model.to_str().unwrap(),
            "--format",
            "jsonl",
            text.to_str().unwrap(),
            bus.to_str().unwrap(),
        ],
        Some(&lib),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failed image makes the exit status 1"
    );
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0]["error"]
        .as_str()
        .unwrap()
        .contains("not a JPEG, PNG, WebP or BMP"));
    assert!(!lines[1]["detections"].as_array().unwrap().is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn missing_onnx_runtime_says_how_to_provision() {
    let Some(shared) = osprey_testkit::require_shared("missing_onnx_runtime_says_how_to_provision")
    else {
        return;
    };
    let model = shared.join("models/yolo11n-320.onnx");
    let out = osprey(
        &[
            "detect",
            "-m",
            model.to_str().unwrap(),
            // The default engine is OpenVINO where it is provisioned: ask for ONNX Runtime.
            "--engine",
            "ort",
            "--ort-library",
            "/nonexistent/libonnxruntime.so",
            "x.jpg",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("make provision"), "{err}");
}

#[test]
fn tensorrt_engine_files_are_refused_with_the_export_command() {
    let Some((_, lib)) = osprey_testkit::require_model_env("tensorrt_engine_files_are_refused")
    else {
        return;
    };
    let out = osprey(
        &["detect", "-m", "data/yolo11s-320-fp16.engine", "x.jpg"],
        Some(&lib),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("format=onnx"), "{err}");
}

#[test]
fn unavailable_provider_fails_clearly_or_falls_back() {
    let Some((shared, lib)) = osprey_testkit::require_model_env("unavailable_provider") else {
        return;
    };
    let model = shared.join("models/yolo11n-320.onnx");
    let bus = shared.join("images/bus.jpg");
    // The PyPI CPU build has no CUDA provider.
    let out = osprey(
        &[
            "detect",
            "-m",
            model.to_str().unwrap(),
            "--provider",
            "cuda",
            bus.to_str().unwrap(),
        ],
        Some(&lib),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cuda execution provider is not available"),
        "{err}"
    );
    let out = osprey(
        &[
            "detect",
            "-m",
            model.to_str().unwrap(),
            "--provider",
            "cuda",
            "--fallback-to-cpu",
            bus.to_str().unwrap(),
        ],
        Some(&lib),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `osprey eval` reproduces Ultralytics 8.4 `val` on coco128 within ±0.003 mAP50-95.
#[test]
fn eval_matches_ultralytics_val() {
    let Some((shared, lib)) = osprey_testkit::require_model_env("eval_matches_ultralytics_val")
    else {
        return;
    };
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(shared.join("reference/accuracy.json")).unwrap(),
    )
    .unwrap();
    for name in ["yolo11n-320", "yolo11n-640"] {
        let model = shared.join(format!("models/{name}.onnx"));
        let dataset = shared.join("images/coco128");
        let out = osprey(
            &[
                "eval",
                "-m",
                model.to_str().unwrap(),
                "--dataset",
                dataset.to_str().unwrap(),
                "--json",
            ],
            Some(&lib),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ours: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        let want = &reference["results"][name];
        let (m, w) = (
            ours["map50_95"].as_f64().unwrap(),
            want["mAP50_95"].as_f64().unwrap(),
        );
        let (m50, w50) = (
            ours["map50"].as_f64().unwrap(),
            want["mAP50"].as_f64().unwrap(),
        );
        eprintln!(
            "{name}: mAP50-95 {m:.6} (reference {w:.6}), mAP50 {m50:.6} (reference {w50:.6})"
        );
        assert!((m - w).abs() <= 0.003, "{name}: mAP50-95 {m} vs {w}");
        assert!((m50 - w50).abs() <= 0.003, "{name}: mAP50 {m50} vs {w50}");
        assert_eq!(ours["images"], 128);
        assert_eq!(ours["targets"], 929);
    }
}

#[test]
fn check_config_prints_effective_config_redacted_and_every_problem() {
    let dir = std::env::temp_dir().join(format!("osprey-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let toml = dir.join("osprey.toml");
    std::fs::write(
        &toml,
        "port = 1234\nmin_confidence = 0.5\napi_key = \"s3cret\"\nmodel = \"missing.onnx\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_osprey"))
        .args([
            "check-config",
            "--config",
            toml.to_str().unwrap(),
            "--engine_path=data/yolo11s-320-fp16.engine",
            "--max-batch",
            "0",
        ])
        .env("OSPREY_MIN_CONFIDENCE", "0.6")
        .env("PORT", "4321")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(!text.contains("s3cret"), "secrets are redacted:\n{text}");
    assert!(text.contains("<redacted>"));
    // Precedence: flags > env > file > defaults.
    assert!(
        text.contains("0.0.0.0:4321"),
        "DeepStack's PORT (env) overrides the file's port:\n{text}"
    );
    assert!(
        text.contains("\"min_confidence\": 0.6"),
        "env overrides file:\n{text}"
    );
    assert!(
        text.contains("yolo11s-320-fp16.engine"),
        "flag overrides file:\n{text}"
    );
    for needle in [
        "not an ONNX file",
        "format=onnx",
        "max_batch must be greater than 0",
    ] {
        assert!(text.contains(needle), "missing {needle:?}:\n{text}");
    }
    std::fs::write(&toml, "prot = 1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_osprey"))
        .args(["check-config", "--config", toml.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(stdout(&out).contains("unknown field"), "{}", stdout(&out));
    let _ = std::fs::remove_dir_all(dir);
}
