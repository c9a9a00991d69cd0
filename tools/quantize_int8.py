"""INT8 post-training quantization of a YOLO ONNX model for Osprey's OpenVINO engine (NNCF).

    quantize_int8.py quantize --model M.onnx --out M-int8.xml --calib A [--calib B ...]
    quantize_int8.py record   --model M-int8.xml --key K --value V   (adds rt_info, e.g. measured mAP)

A calibration source is a video (every `--video-step`-th frame, decoded by ffmpeg), a folder of
images, or a text file listing images. Images are letterboxed as Ultralytics val does (long side
to imgsz, grey 114 padding to a square), RGB, 0..1, NCHW. The detection head's box decoding stays
in float, as Ultralytics' own OpenVINO INT8 export does (its ignored scope: the Add/Sub/Mul/Div of
the head, the DFL, Sigmoid); the head's convolutions are quantized. OpenVINO copies the ONNX
metadata (names, stride, imgsz, task, ...) into the IR's rt_info (`framework`), where Osprey reads
it; the calibration set goes into rt_info `quantization`.
"""
import argparse
import glob
import hashlib
import os
import subprocess
import sys
import tempfile

import numpy as np
import nncf
import openvino as ov
from PIL import Image


def letterbox(img, size):
    w, h = img.size
    r = size / max(w, h)
    nw, nh = max(1, round(w * r)), max(1, round(h * r))
    img = img.resize((nw, nh), Image.BILINEAR) if (nw, nh) != (w, h) else img
    canvas = Image.new("RGB", (size, size), (114, 114, 114))
    canvas.paste(img, ((size - nw) // 2, (size - nh) // 2))
    return np.asarray(canvas, dtype=np.float32).transpose(2, 0, 1)[None] / 255.0


def video_frames(path, step, tmp):
    pattern = os.path.join(tmp, os.path.basename(path) + "-%05d.png")
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", path, "-vf", f"select=not(mod(n\\,{step}))",
                    "-vsync", "vfr", pattern], check=True)
    return sorted(glob.glob(pattern.replace("%05d", "*")))


def sources(calib, step, tmp):
    files, described = [], []
    for c in calib:
        if os.path.isdir(c):
            got = sorted(f for f in glob.glob(os.path.join(c, "**", "*"), recursive=True)
                         if f.lower().endswith((".jpg", ".jpeg", ".png", ".bmp")))
            what = "images"
        elif c.lower().endswith((".txt", ".list")):
            got = [l.strip() for l in open(c) if l.strip()]
            what = "images listed"
        else:
            got = video_frames(c, step, tmp)
            what = f"frames (one in {step})"
        files += got
        described.append(f"{os.path.basename(c.rstrip('/'))}: {len(got)} {what}")
    return files, "; ".join(described)


def quantize(a):
    core = ov.Core()
    model = core.read_model(a.model)
    size = a.imgsz
    with tempfile.TemporaryDirectory() as tmp:
        files, described = sources(a.calib, a.video_step, tmp)
        data = [letterbox(Image.open(f).convert("RGB"), size) for f in files]
    print(f"quantize: {len(data)} calibration images ({described})", file=sys.stderr)
    head = a.head
    ignored = nncf.IgnoredScope(
        patterns=[rf".*/{head}/(Add|Sub|Mul|Div|Concat|Sigmoid|Softmax|Reshape|Transpose|Split|Slice).*",
                  rf".*/{head}/dfl/.*"],
        types=["Sigmoid"],
        validate=False,
    )
    q = nncf.quantize(model, nncf.Dataset(data), preset=nncf.QuantizationPreset.MIXED,
                      ignored_scope=ignored, subset_size=len(data))
    q.set_rt_info("nncf post-training quantization, preset MIXED, head decode kept float", ["quantization", "method"])
    q.set_rt_info(described, ["quantization", "calibration"])
    q.set_rt_info(str(len(data)), ["quantization", "calibration_images"])
    digest = hashlib.sha256("\n".join(os.path.basename(f) for f in files).encode()).hexdigest()[:16]
    q.set_rt_info(digest, ["quantization", "calibration_list_sha256"])
    q.set_rt_info(os.path.basename(a.model), ["quantization", "source_model"])
    ov.save_model(q, a.out, compress_to_fp16=False)
    print(f"quantize: wrote {a.out}", file=sys.stderr)


def record(a):
    core = ov.Core()
    m = core.read_model(a.model)
    m.set_rt_info(a.value, ["quantization", a.key])
    tmp = a.model + ".tmp.xml"
    ov.save_model(m, tmp, compress_to_fp16=False)
    os.replace(tmp, a.model)
    os.replace(tmp[:-4] + ".bin", a.model[:-4] + ".bin")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("quantize")
    q.add_argument("--model", required=True)
    q.add_argument("--out", required=True)
    q.add_argument("--calib", action="append", required=True)
    q.add_argument("--imgsz", type=int, default=320)
    q.add_argument("--video-step", type=int, default=3)
    q.add_argument("--head", default="model.23", help="name prefix of the Detect head's nodes")
    r = sub.add_parser("record")
    r.add_argument("--model", required=True)
    r.add_argument("--key", required=True)
    r.add_argument("--value", required=True)
    a = p.parse_args()
    quantize(a) if a.cmd == "quantize" else record(a)


if __name__ == "__main__":
    main()
