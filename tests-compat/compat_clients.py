"""Drive two real third-party DeepStack clients against a running server.

* Frigate NVR's DeepStack detector plugin (frigate/detectors/plugins/deepstack.py),
  loaded from a Frigate source tree at run time (see frigate_shim.py for what
  is shimmed around it and why).
* deepstack-python (`import deepstack.core`), the PyPI library behind the Home
  Assistant custom integration robmarkcole/HASS-Deepstack-object, used the way
  that integration uses it: ds.DeepstackObject(ip=, port=, api_key=, timeout=,
  min_confidence=0.1).detect(jpeg_bytes).

Phases:
  open   no key exists on the server: every client, with or without a key, gets
         detections.
  keyed  a key exists: clients configured with it get detections; no key or a
         wrong key is refused with HTTP 401 and a JSON body {"success": false}.

Prints one "PASS name" / "FAIL name: why" line per check, and writes
"passed failed" to --results for run.sh to add up.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import traceback
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import requests
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

FRIGATE_CUT = 0.4  # the plugin stops at the first prediction under 0.4
HA_MIN_CONFIDENCE = 0.1  # HASS-Deepstack-object's MIN_CONFIDENCE, sent as min_confidence
REF_CONF = 0.25  # the reference file was made with conf=0.25
MARGIN = 0.02  # reference detections this close to a threshold are not required

PASSED = 0
FAILED = 0


def check(name: str, ok: bool, why: str = "") -> bool:
    global PASSED, FAILED
    if ok:
        PASSED += 1
        print(f"PASS {name}", flush=True)
    else:
        FAILED += 1
        print(f"FAIL {name}: {why}", flush=True)
    return ok


def guarded(name: str, fn) -> None:
    """Run one group of checks; an unexpected exception is one failure."""
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - reported as a failure
        traceback.print_exc()
        check(name, False, f"unexpected {type(exc).__name__}: {exc}")


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = lambda r: max(0.0, r[2] - r[0]) * max(0.0, r[3] - r[1])  # noqa: E731
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


class Reference:
    """Ultralytics' own detections on the test image (shared/reference)."""

    def __init__(self, path: Path | None, image_name: str):
        self.dets = []
        if path and path.is_file():
            data = json.loads(path.read_text())
            for d in data.get("images", {}).get(image_name, []):
                self.dets.append(
                    (d["label"], float(d["confidence"]), (d["x1"], d["y1"], d["x2"], d["y2"]))
                )
        if not self.dets:
            print(f"NOTE: no reference detections for {image_name}; using 3 persons + 1 bus above 0.4")

    def expected(self, threshold: float):
        """Reference boxes a client with this threshold must see."""
        cut = max(threshold, REF_CONF) + MARGIN
        return [d for d in self.dets if d[1] >= cut]

    def expected_counts(self, threshold: float) -> dict[str, int]:
        if not self.dets:
            return {"person": 3, "bus": 1}
        out: dict[str, int] = {}
        for label, _, _ in self.expected(threshold):
            out[label] = out.get(label, 0) + 1
        return out


def check_detections(name: str, dets, ref: Reference, threshold: float) -> None:
    """dets: list of (label, confidence, (x1, y1, x2, y2) in image pixels)."""
    for label, conf, box in dets:
        print(f"    {name}: {label:<10} {conf:.3f}  box=({box[0]:.0f},{box[1]:.0f},{box[2]:.0f},{box[3]:.0f})")
    counts: dict[str, int] = {}
    for label, _, _ in dets:
        counts[label] = counts.get(label, 0) + 1
    want = ref.expected_counts(threshold)
    summary = ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "nothing"
    print(f"    {name}: got {summary}; need at least " + ", ".join(f"{k}={v}" for k, v in sorted(want.items())))
    short = {k: (counts.get(k, 0), v) for k, v in want.items() if counts.get(k, 0) < v}
    check(f"{name} detects the expected objects", not short,
          "; ".join(f"{k}: got {g}, need {w}" for k, (g, w) in short.items()))
    if ref.dets:
        missing = []
        for label, conf, rbox in ref.expected(threshold):
            if not any(l == label and iou(b, rbox) >= 0.5 for l, _, b in dets):
                missing.append(f"{label} {conf:.2f} at ({rbox[0]:.0f},{rbox[1]:.0f},{rbox[2]:.0f},{rbox[3]:.0f})")
        check(f"{name} boxes match the reference (IoU >= 0.5)", not missing,
              "unmatched reference boxes: " + "; ".join(missing))


def check_refusal_body(name: str, resp: requests.Response | None) -> None:
    if resp is None:
        check(f"{name} is answered", False, "no HTTP response was captured")
        return
    body_txt = resp.text[:300]
    print(f"    {name}: HTTP {resp.status_code} {resp.headers.get('content-type', '')} {body_txt}")
    check(f"{name} is refused with HTTP 401", resp.status_code == 401, f"got HTTP {resp.status_code}")
    try:
        body = resp.json()
    except ValueError:
        check(f"{name} refusal body is JSON with success=false", False, f"not JSON: {body_txt!r}")
        return
    check(f"{name} refusal body is JSON with success=false",
          isinstance(body, dict) and body.get("success") is False, f"body: {body_txt}")


# --------------------------------------------------------------------------
# Frigate


class Frigate:
    def __init__(self, src: Path, url: str, image: Path, ref: Reference):
        import frigate_shim

        self.shim = frigate_shim
        self.plugin, self.labelmap, how = frigate_shim.load_plugin(src)
        print(f"    Frigate plugin loaded from {src} (DetectionApi: {how}; "
              f"labelmap: {sum(1 for v in self.labelmap.values() if v != 'unknown')} labels)")
        self.url = url.rstrip("/") + "/v1/vision/detection"
        self.ref = ref
        self.rgb = np.asarray(Image.open(image).convert("RGB"))

    def detector(self, api_key: str | None):
        det = self.shim.make_detector(self.plugin, self.labelmap, self.url, api_key, timeout=10.0)
        # Observe (not alter) what the plugin's own requests.Session receives.
        det.captured = []
        det.session.hooks["response"].append(lambda r, *a, **k: det.captured.append(r))
        return det

    def run(self, det, tensor):
        out = det.detect_raw(tensor)
        assert out.shape == (20, 6), out.shape
        return out

    def to_dets(self, out, w: int, h: int):
        dets = []
        for row in out:
            if not row.any():
                continue
            label = self.labelmap.get(int(row[0]), f"#{int(row[0])}")
            y1, x1, y2, x2 = (float(v) for v in row[2:6])
            dets.append((label, float(row[1]), (x1 * w, y1 * h, x2 * w, y2 * h), (x1, y1, x2, y2)))
        return dets

    def expect_detections(self, name: str, api_key: str | None) -> None:
        det = self.detector(api_key)
        h, w = self.rgb.shape[:2]
        out = self.run(det, self.rgb[np.newaxis])  # nhwc uint8 RGB, as Frigate hands it
        status = det.captured[-1].status_code if det.captured else None
        check(f"{name}: HTTP 200", status == 200, f"got {status}")
        dets = self.to_dets(out, w, h)
        bad = [d for d in dets if not all(0.0 <= v <= 1.0 for v in d[3])]
        check(f"{name}: boxes normalised to 0..1", not bad, f"{bad}")
        check_detections(name, [(l, c, b) for l, c, b, _ in dets], self.ref, FRIGATE_CUT)

    def expect_detections_region(self, name: str, api_key: str | None) -> None:
        """What Frigate really sends: a square region of the frame resized to
        the model size (320x320). Centre square of the image here."""
        det = self.detector(api_key)
        h, w = self.rgb.shape[:2]
        side = min(w, h)
        x0, y0 = (w - side) // 2, (h - side) // 2
        region = Image.fromarray(self.rgb[y0:y0 + side, x0:x0 + side]).resize((320, 320), Image.BILINEAR)
        out = self.run(det, np.asarray(region)[np.newaxis])
        status = det.captured[-1].status_code if det.captured else None
        check(f"{name}: HTTP 200", status == 200, f"got {status}")
        # map the region's 0..1 boxes back to full-image pixels for the reference
        dets = [(label, conf, (x0 + n[0] * side, y0 + n[1] * side, x0 + n[2] * side, y0 + n[3] * side))
                for label, conf, _, n in self.to_dets(out, 1, 1)]
        for label, conf, box in dets:
            print(f"    {name}: {label:<10} {conf:.3f}  box=({box[0]:.0f},{box[1]:.0f},{box[2]:.0f},{box[3]:.0f}) (full-image px)")
        labels = [d[0] for d in dets]
        check(f"{name}: sees a person and the bus in a 320x320 region",
              "person" in labels and "bus" in labels, f"got {labels}")

    def expect_refused(self, name: str, api_key: str | None) -> None:
        det = self.detector(api_key)
        out = self.run(det, self.rgb[np.newaxis])  # must not raise (it calls response.json())
        check(f"{name}: plugin reports no detections", not out.any(), f"{out[out.any(axis=1)]}")
        check_refusal_body(name, det.captured[-1] if det.captured else None)


# --------------------------------------------------------------------------
# deepstack-python (Home Assistant)


class HomeAssistant:
    def __init__(self, url: str, image: Path, ref: Reference):
        import deepstack.core as ds

        self.ds = ds
        parts = urlsplit(url)
        self.ip, self.port = parts.hostname, parts.port
        self.url = url.rstrip("/") + "/v1/vision/detection"
        self.image_bytes = image.read_bytes()
        self.ref = ref

    def client(self, api_key: str | None):
        # HASS-Deepstack-object passes config.get("api_key"): None when unset.
        return self.ds.DeepstackObject(ip=self.ip, port=self.port, api_key=api_key,
                                       timeout=10, min_confidence=HA_MIN_CONFIDENCE)

    def expect_detections(self, name: str, api_key: str | None) -> None:
        preds = self.client(api_key).detect(self.image_bytes)
        check(f"{name}: detect() returns a list", isinstance(preds, list), f"{type(preds)}")
        print(f"    {name}: summary {self.ds.get_objects_summary(preds)}")
        dets = [(p["label"], float(p["confidence"]), (p["x_min"], p["y_min"], p["x_max"], p["y_max"]))
                for p in preds]
        low = [d for d in dets if d[1] < HA_MIN_CONFIDENCE - 1e-6]
        check(f"{name}: min_confidence={HA_MIN_CONFIDENCE} honoured", not low, f"{low}")
        check_detections(name, dets, self.ref, HA_MIN_CONFIDENCE)

    def expect_refused(self, name: str, api_key: str | None) -> None:
        try:
            preds = self.client(api_key).detect(self.image_bytes)
        except self.ds.DeepstackException as exc:
            print(f"    {name}: DeepstackException: {exc}")
            check(f"{name}: detect() raises DeepstackException for HTTP 401", "401" in str(exc), str(exc))
        else:
            check(f"{name}: detect() raises DeepstackException for HTTP 401", False,
                  f"returned {len(preds)} predictions")
        # The library hides the body; send the same request it sends (files
        # {"image": bytes}, data {api_key, min_confidence}) to look at it.
        data = {"api_key": api_key, "min_confidence": HA_MIN_CONFIDENCE}
        resp = requests.post(self.url, files={"image": self.image_bytes}, data=data, timeout=10)
        check_refusal_body(name + " (same request, raw)", resp)


# --------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True, help="http://127.0.0.1:PORT")
    ap.add_argument("--phase", choices=["open", "keyed"], required=True)
    ap.add_argument("--label", default="", help="prefix for check names")
    ap.add_argument("--key", default="")
    ap.add_argument("--frigate-src", type=Path)
    ap.add_argument("--image", type=Path, required=True)
    ap.add_argument("--reference", type=Path)
    ap.add_argument("--results", type=Path, required=True)
    args = ap.parse_args()

    ref = Reference(args.reference, args.image.name)
    p = args.label

    frigate = None
    if args.frigate_src:
        try:
            frigate = Frigate(args.frigate_src, args.url, args.image, ref)
        except Exception as exc:  # noqa: BLE001
            traceback.print_exc()
            check(f"{p}Frigate plugin loads", False, f"{type(exc).__name__}: {exc}")
    ha = HomeAssistant(args.url, args.image, ref)
    wrong = "wrong-" + (args.key or "key")[::-1]

    if args.phase == "open":
        if frigate:
            guarded(f"{p}Frigate, no api_key", lambda: frigate.expect_detections(f"{p}Frigate, no api_key", None))
            guarded(f"{p}Frigate region", lambda: frigate.expect_detections_region(f"{p}Frigate 320x320 region, no api_key", None))
            guarded(f"{p}Frigate, some api_key", lambda: frigate.expect_detections(f"{p}Frigate, api_key set but server has no keys", "some-key"))
        guarded(f"{p}deepstack-python, no api_key", lambda: ha.expect_detections(f"{p}deepstack-python, api_key None", None))
        guarded(f"{p}deepstack-python, empty api_key", lambda: ha.expect_detections(f"{p}deepstack-python, api_key ''", ""))
    else:
        if not args.key:
            check(f"{p}a key was given", False, "no --key")
        if frigate:
            guarded(f"{p}Frigate, right key", lambda: frigate.expect_detections(f"{p}Frigate, right key", args.key))
            guarded(f"{p}Frigate region", lambda: frigate.expect_detections_region(f"{p}Frigate 320x320 region, right key", args.key))
            guarded(f"{p}Frigate, no key", lambda: frigate.expect_refused(f"{p}Frigate, no api_key", None))
            guarded(f"{p}Frigate, wrong key", lambda: frigate.expect_refused(f"{p}Frigate, wrong key", wrong))
        guarded(f"{p}deepstack-python, right key", lambda: ha.expect_detections(f"{p}deepstack-python, right key", args.key))
        guarded(f"{p}deepstack-python, no key", lambda: ha.expect_refused(f"{p}deepstack-python, api_key None", None))
        guarded(f"{p}deepstack-python, wrong key", lambda: ha.expect_refused(f"{p}deepstack-python, wrong key", wrong))

    args.results.write_text(f"{PASSED} {FAILED}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
