#!/usr/bin/env python3
"""Compares a DeepStack detection response (stdin) with Ultralytics' reference boxes.

    match_boxes.py REFERENCE.json IMAGE_KEY < response.json

A reference box counts as matched when an unused predicted box has the same label and
IoU >= 0.9 with it (the response's boxes are whole pixels, the reference's floats). Prints
"boxes matched X/Y (predicted Z)" and exits 1 unless every reference box is matched.
"""
import json
import sys


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def main():
    ref_file, key = sys.argv[1], sys.argv[2]
    ref = json.load(open(ref_file))["images"][key]
    resp = json.load(sys.stdin)
    if not resp.get("success"):
        print(f"detection failed: {resp}")
        return 1
    preds = [(p["label"], (p["x_min"], p["y_min"], p["x_max"], p["y_max"])) for p in resp["predictions"]]
    used = set()
    matched = 0
    worst = 1.0
    for r in ref:
        rb = (r["x1"], r["y1"], r["x2"], r["y2"])
        best, best_i = 0.0, None
        for i, (label, pb) in enumerate(preds):
            if i in used or label != r["label"]:
                continue
            v = iou(rb, pb)
            if v > best:
                best, best_i = v, i
        if best_i is not None and best >= 0.9:
            used.add(best_i)
            matched += 1
            worst = min(worst, best)
    print(f"boxes matched {matched}/{len(ref)} (predicted {len(preds)}, worst IoU {worst:.4f})")
    return 0 if matched == len(ref) else 1


if __name__ == "__main__":
    sys.exit(main())
