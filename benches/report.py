"""Merge the Rust and Python rounds of benches/run.sh into a table of medians and ratios."""
import json, statistics, sys

rust = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
py = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]


def med(rows, *path):
    vals = []
    for r in rows:
        v = r
        for p in path:
            v = v.get(p) if isinstance(v, dict) else None
        if isinstance(v, (int, float)):
            vals.append(float(v))
    return statistics.median(vals) if vals else float("nan")


b1 = {k: med(rust, "n320_b1", k) for k in ("decode_ms", "preprocess_ms", "inference_ms", "postprocess_ms", "total_ms")}
b4 = {k: med(rust, "dyn320_b4", k) for k in ("decode_ms", "preprocess_ms", "inference_ms", "postprocess_ms", "total_ms")}
cv_dec = med(py, "cv2_decode_ms")
ort1 = med(py, "ort_n320_b1_ms")
ort4 = med(py, "ort_dyn320_b4_per_image_ms")
ul = med(py, "ultralytics_predict_ms")
floor = med(py, "floor_n320_ms")
p0 = py[-1] if py else {}

print(f"# Detection path benchmark (bus.jpg 810x1080, yolo11n, {rust[0]['threads']} threads, "
      f"{len(rust)} rounds x {rust[0]['iters']} iterations, medians)\n")
print(f"ONNX Runtime {p0.get('onnxruntime')}, OpenCV {p0.get('opencv')}, Ultralytics {p0.get('ultralytics')}\n")
hw1 = rust[0].get("n320_b1", {}).get("input_hw")
hw4 = rust[0].get("dyn320_b4", {}).get("input_hw")
print(f"| stage (ms) | Osprey n-320 batch 1 (input {hw1}) | Osprey dynamic-320 batch 4 (input {hw4}), per image | Python baseline |")
print("|---|---|---|---|")
print(f"| JPEG decode | {b1['decode_ms']:.2f} | {b4['decode_ms']:.2f} | cv2.imdecode {cv_dec:.2f} |")
print(f"| letterbox + tensor | {b1['preprocess_ms']:.2f} | {b4['preprocess_ms']:.2f} | |")
print(f"| inference | {b1['inference_ms']:.2f} | {b4['inference_ms']:.2f} | bare ORT b1 {ort1:.2f} / b4 per image {ort4:.2f} |")
print(f"| postprocess | {b1['postprocess_ms']:.2f} | {b4['postprocess_ms']:.2f} | |")
print(f"| whole decode -> detections | {b1['total_ms']:.2f} | {b4['total_ms']:.2f} | Ultralytics predict() {ul:.2f} |")
print()
print("| ratio | value | target |")
print("|---|---|---|")
print(f"| Osprey whole path / (bare ORT inference + cv2 decode), batch 1 | {b1['total_ms'] / (ort1 + cv_dec):.3f} | <= 1.05 |")
print(f"| Osprey whole path per image, batch 4 / (bare ORT b4 per image + cv2 decode) | {b4['total_ms'] / (ort4 + cv_dec):.3f} | |")
print(f"| Ultralytics predict() / Osprey whole path (speed-up) | {ul / b1['total_ms']:.2f}x | >= 1.3x |")
print(f"| Osprey decode / cv2 decode | {b1['decode_ms'] / cv_dec:.3f} | |")
print(f"| batch-4 per-image whole path / batch-1 whole path (different input shapes: see header) | {b4['total_ms'] / b1['total_ms']:.3f} | |")
print()
print(f"Compute floor: {med(py, 'flops_n320') / 1e9:.2f} GFLOP per 320x320 image / {med(py, 'sgemm_gflops'):.0f} GFLOP/s "
      f"(NumPy float32 matmul, 1024^3) = {floor:.2f} ms; Osprey inference is {b1['inference_ms'] / floor:.2f}x the floor.")
