#!/usr/bin/env python3
"""Comparisons and the report for deploy/arm64/parity.sh (standard library only).

  compare.py detect REFERENCE.json RUN.jsonl [OTHER.jsonl]   -> JSON on stdout
  compare.py serve REFERENCE.json KEY RESPONSE.json MIN_CONF  -> JSON on stdout
  compare.py report FRAGMENTS_DIR OUT.json OUT.md             -> writes the report

Matching is the one crates/osprey-detect/tests/parity.rs uses against Ultralytics' reference:
each reference box is matched greedily (best IoU first) by an unused detection of the same class
with IoU >= 0.95 and |confidence difference| <= 0.01.
"""
import json
import os
import sys

IOU_MIN = 0.95
DCONF_MAX = 0.01


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match(refs, ours, key_ref, key_ours):
    """Greedy match; returns (matched, worst_iou, worst_dconf, max_coord_diff, unmatched refs)."""
    used = [False] * len(ours)
    matched, worst_iou, worst_dc, max_dxy, missing = 0, 1.0, 0.0, 0.0, []
    for r in refs:
        rb, rc, rconf = key_ref(r)
        best = None
        for i, d in enumerate(ours):
            if used[i]:
                continue
            db, dc, dconf = key_ours(d)
            if dc != rc:
                continue
            v = iou(rb, db)
            dconf_abs = abs(dconf - rconf)
            if v >= IOU_MIN and dconf_abs <= DCONF_MAX and (best is None or v > best[1]):
                best = (i, v, dconf_abs, max(abs(x - y) for x, y in zip(rb, db)))
        if best is None:
            missing.append(r)
            continue
        used[best[0]] = True
        matched += 1
        worst_iou = min(worst_iou, best[1])
        worst_dc = max(worst_dc, best[2])
        max_dxy = max(max_dxy, best[3])
    return matched, worst_iou, worst_dc, max_dxy, missing


def ref_key(r):
    return [r["x1"], r["y1"], r["x2"], r["y2"]], r["class_id"], r["confidence"]


def load_jsonl(path, shared_images):
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            o = json.loads(line)
            key = os.path.relpath(os.path.realpath(o["image"]), os.path.realpath(shared_images))
            out[key] = o["detections"]
    return out


def cmd_detect(reference, run, other=None):
    ref = json.load(open(reference))["images"]
    shared_images = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(reference))), "images")
    ours = load_jsonl(run, shared_images)
    res = {"images": len(ours), "reference_boxes": 0, "matched": 0, "ours": 0, "worst_iou": 1.0,
           "worst_dconf": 0.0, "max_coord_diff_px": 0.0, "unmatched": []}
    for key, dets in sorted(ours.items()):
        refs = ref.get(key)
        if refs is None:
            res["unmatched"].append({"image": key, "error": "not in the reference"})
            continue
        m, wi, wd, dxy, missing = match(refs, dets, ref_key, ref_key)
        res["reference_boxes"] += len(refs)
        res["ours"] += len(dets)
        res["matched"] += m
        res["worst_iou"] = min(res["worst_iou"], wi)
        res["worst_dconf"] = max(res["worst_dconf"], wd)
        res["max_coord_diff_px"] = max(res["max_coord_diff_px"], dxy)
        res["unmatched"] += [{"image": key, **r} for r in missing]
    res["extra"] = res["ours"] - res["matched"]
    if other:
        # Against another binary's run on the same images (x86 vs arm64): boxes should be identical
        # up to float rounding, so report the largest coordinate and confidence difference.
        theirs = load_jsonl(other, shared_images)
        same, total, dxy_max, dconf_max = 0, 0, 0.0, 0.0
        for key, dets in ours.items():
            t = theirs.get(key, [])
            total += max(len(dets), len(t))
            m, _, wd, dxy, _ = match(t, dets, ref_key, ref_key)
            same += m
            dxy_max = max(dxy_max, dxy)
            dconf_max = max(dconf_max, wd)
        res["vs_other"] = {"matched": same, "total": total, "max_coord_diff_px": dxy_max,
                           "max_dconf": dconf_max}
    json.dump(res, sys.stdout, indent=1)


def cmd_serve(reference, key, response, min_conf):
    ref = [r for r in json.load(open(reference))["images"][key] if r["confidence"] > float(min_conf)]
    body = json.load(open(response))
    preds = body.get("predictions", [])

    def pk(p):
        return [p["x_min"], p["y_min"], p["x_max"], p["y_max"]], p["label"], p["confidence"]

    def rk(r):
        return [r["x1"], r["y1"], r["x2"], r["y2"]], r["label"], r["confidence"]

    m, wi, wd, dxy, missing = match(ref, preds, rk, pk)
    json.dump({"success": body.get("success"), "count": body.get("count"), "reference_boxes": len(ref),
               "matched": m, "worst_iou": wi, "worst_dconf": wd, "max_coord_diff_px": dxy,
               "predictions": preds, "inferenceMs": body.get("inferenceMs"),
               "inferenceDevice": body.get("inferenceDevice"), "unmatched": missing}, sys.stdout, indent=1)


def fmt_detect(d):
    if not d or "matched" not in d:
        return "not run"
    s = (f"{d['matched']}/{d['reference_boxes']} reference boxes matched on {d['images']} images "
         f"({d['extra']} extra), worst IoU {d['worst_iou']:.6f}, worst |dconf| {d['worst_dconf']:.2g}, "
         f"max coordinate difference {d['max_coord_diff_px']:.2g} px")
    if "vs_other" in d:
        o = d["vs_other"]
        s += (f"; vs the x86 binary: {o['matched']}/{o['total']} boxes matched, max coordinate difference "
              f"{o['max_coord_diff_px']:.2g} px, max |dconf| {o['max_dconf']:.2g}")
    return s


def cmd_report(frag_dir, out_json, out_md):
    rep = {}
    for name in sorted(os.listdir(frag_dir)):
        p = os.path.join(frag_dir, name)
        if name.endswith(".json"):
            try:
                rep[name[:-5]] = json.load(open(p))
            except ValueError as e:
                rep[name[:-5]] = {"error": f"unreadable: {e}"}
        elif name.endswith(".txt"):
            rep[name[:-4]] = open(p).read().strip()
    json.dump(rep, open(out_json, "w"), indent=1)
    g = rep.get
    lines = ["# Osprey arm64 parity under qemu-aarch64-static", ""]
    meta = g("meta", {})
    for k in ("date", "model", "arm64_binary", "x86_binary", "qemu", "host_cpu", "ort", "openvino"):
        if k in meta:
            lines.append(f"- {k}: {meta[k]}")
    lines += ["", "## Detection parity (reference: Ultralytics, same class, IoU >= 0.95, |dconf| <= 0.01)", ""]
    lines.append(f"- ONNX Runtime (aarch64) under qemu: {fmt_detect(g('detect-ort'))}")
    ov = g("detect-openvino")
    lines.append(f"- OpenVINO (aarch64) under qemu: {fmt_detect(ov) if ov and 'matched' in ov else g('openvino-status', 'not run')}")
    lines.append(f"- x86 binary (ONNX Runtime), same images: {fmt_detect(g('detect-x86'))}")
    lines += ["", "## mAP on the coco128 subset", "", "| run | images | mAP50 | mAP50-95 |", "|---|---|---|---|"]
    for k, label in (("eval-x86-ort", "x86-64, ONNX Runtime"), ("eval-arm64-ort", "arm64 (qemu), ONNX Runtime"),
                     ("eval-x86-openvino", "x86-64, OpenVINO"), ("eval-arm64-openvino", "arm64 (qemu), OpenVINO")):
        e = g(k)
        if isinstance(e, dict) and "map50" in e:
            lines.append(f"| {label} | {e['images']} | {e['map50']:.4f} | {e['map50_95']:.4f} |")
        elif e is not None:
            lines.append(f"| {label} | - | failed | {str(e.get('error', e) if isinstance(e, dict) else e)[:80]} |")
    lines += ["", "## Server (osprey serve under qemu, Frigate-shaped multipart request)", ""]
    s = g("serve")
    if isinstance(s, dict) and "matched" in s:
        lines.append(f"- POST /v1/vision/detection (bus.jpg, field `image`): success={s['success']}, "
                     f"{s['count']} predictions; {s['matched']}/{s['reference_boxes']} reference boxes with "
                     f"confidence > min_confidence matched, max coordinate difference {s['max_coord_diff_px']:.2f} px "
                     f"(integer pixels), inferenceMs {s['inferenceMs']}")
        lines.append("- predictions: " + ", ".join(f"{p['label']} {p['confidence']:.3f}" for p in s["predictions"]))
    else:
        lines.append(f"- {g('serve-status', 'not run')}")
    lines += ["", "## Time under emulation (not a performance figure)", ""]
    for k, v in sorted(g("timing", {}).items()):
        lines.append(f"- {k}: {v}")
    lines.append("")
    open(out_md, "w").write("\n".join(lines))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"detect": cmd_detect, "serve": cmd_serve, "report": cmd_report}[cmd](*args)
