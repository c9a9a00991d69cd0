"""Python baselines for benches/run.sh, printed as one JSON object.

- bare ONNX Runtime `InferenceSession.run` on the same ONNX files, same input shapes and the same
  intra-op thread count as the Rust bench (batch 1 on yolo11n-320, batch 4 on yolo11n-dynamic);
- JPEG decode with OpenCV (`cv2.imdecode`), as Ultralytics reads images;
- Ultralytics `YOLO(onnx).predict(path, imgsz=320)` end to end (file read, decode, pre, inference,
  NMS) and its own speed dict, when Ultralytics is installed;
- this CPU's float32 GEMM rate (NumPy matmul) and the model's multiply-add count read from the ONNX
  graph, giving the compute floor FLOPs / GEMM rate.
Medians over ITERS runs after 5 warm-ups. Numbers are reported, never asserted.
"""
import json, os, sys, time

import cv2
import numpy as np
import onnx
from onnx import numpy_helper, shape_inference
import onnxruntime as ort

shared = sys.argv[1]
iters = int(os.environ.get("OSPREY_BENCH_ITERS", "60"))
threads = int(os.environ.get("OSPREY_BENCH_THREADS", "2"))


def median_ms(fn, n=iters, warm=5):
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1e3)
    return float(np.median(ts))


def session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def model_flops(path, hw):
    """2 x multiply-adds of Conv, MatMul and Gemm nodes after shape inference at input (1,3,h,w)."""
    m = onnx.load(path)
    inp = m.graph.input[0]
    for d, v in zip(inp.type.tensor_type.shape.dim, (1, 3, hw[0], hw[1])):
        d.ClearField("dim_param")
        d.dim_value = v
    m = shape_inference.infer_shapes(m)
    shapes = {}
    for vi in list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output):
        shapes[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    inits = {i.name: numpy_helper.to_array(i).shape for i in m.graph.initializer}
    macs = 0
    for n in m.graph.node:
        if n.op_type == "Conv":
            w = inits.get(n.input[1]) or shapes.get(n.input[1])
            out = shapes.get(n.output[0])
            if w and out:
                macs += int(np.prod(out)) * int(np.prod(w[1:]))
        elif n.op_type in ("MatMul", "Gemm"):
            a, out = shapes.get(n.input[0]), shapes.get(n.output[0])
            if a and out:
                macs += int(np.prod(out)) * a[-1]
    return 2 * macs


def sgemm_gflops(n=1024):
    a = np.random.rand(n, n).astype(np.float32)
    b = np.random.rand(n, n).astype(np.float32)
    ms = median_ms(lambda: a @ b, n=20, warm=3)
    return 2 * n**3 / (ms / 1e3) / 1e9


out = {"threads": threads, "iters": iters, "onnxruntime": ort.__version__, "opencv": cv2.__version__, "numpy": np.__version__}
bus = os.path.join(shared, "images", "bus.jpg")
data = np.fromfile(bus, dtype=np.uint8)
out["cv2_decode_ms"] = median_ms(lambda: cv2.imdecode(data, cv2.IMREAD_COLOR))

s = session(os.path.join(shared, "models", "yolo11n-320.onnx"))
x1 = np.random.rand(1, 3, 320, 320).astype(np.float32)
out["ort_n320_b1_ms"] = median_ms(lambda: s.run(None, {"images": x1}))
sd = session(os.path.join(shared, "models", "yolo11n-dynamic.onnx"))
x4 = np.random.rand(4, 3, 320, 256).astype(np.float32)
out["ort_dyn320_b4_per_image_ms"] = median_ms(lambda: sd.run(None, {"images": x4})) / 4

out["flops_n320"] = model_flops(os.path.join(shared, "models", "yolo11n-320.onnx"), (320, 320))
out["sgemm_gflops"] = sgemm_gflops()
out["floor_n320_ms"] = out["flops_n320"] / (out["sgemm_gflops"] * 1e9) * 1e3

try:
    from ultralytics import YOLO
    import ultralytics

    y = YOLO(os.path.join(shared, "models", "yolo11n-320.onnx"), task="detect")
    kw = dict(imgsz=320, verbose=False, device="cpu")
    last = {}

    def predict():
        r = y.predict(bus, **kw)
        last.update(r[0].speed)

    out["ultralytics"] = ultralytics.__version__
    out["ultralytics_predict_ms"] = median_ms(predict)
    out["ultralytics_speed_ms"] = last
except ImportError:
    out["ultralytics"] = None
print(json.dumps(out))
