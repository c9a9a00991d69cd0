"""A tiny DeepStack stand-in, only for dry-checking the client harness
(`run.sh --stub`) on a machine without an Osprey binary. It plays the contract
the real test expects from Osprey: /readyz, POST /v1/vision/detection answering
the reference detections for the image (scaled to the size it was sent at,
filtered by min_confidence, default 0.4, best first), and with keys in
--keys-file (one per line, re-read per request) a missing or wrong api_key
gets HTTP 401 {"success": false, ...}. It does no inference.
"""

from __future__ import annotations

import argparse
import io
import json
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from PIL import Image


def parse_multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    msg = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    fields = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            fields[name] = part.get_payload(decode=True) or b""
    return fields


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--reference", type=Path, required=True)
    ap.add_argument("--image-name", default="bus.jpg")
    ap.add_argument("--image-size", default="810x1080")
    ap.add_argument("--keys-file", type=Path, required=True)
    args = ap.parse_args()
    ref = json.loads(args.reference.read_text())["images"][args.image_name]
    ref_w, ref_h = (int(v) for v in args.image_size.split("x"))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):  # quiet
            pass

        def reply(self, code: int, obj) -> None:
            data = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/readyz":
                self.reply(200, {"ready": True})
            else:
                self.reply(404, {"success": False, "error": "not found"})

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path != "/v1/vision/detection":
                self.reply(404, {"success": False, "error": "not found"})
                return
            fields = parse_multipart(self.headers.get("Content-Type", ""), body)
            keys = [k.strip() for k in args.keys_file.read_text().splitlines() if k.strip()] \
                if args.keys_file.exists() else []
            if keys and fields.get("api_key", b"").decode() not in keys:
                self.reply(401, {"success": False, "error": "bad or missing api key", "code": 401})
                return
            w, h = Image.open(io.BytesIO(fields["image"])).size
            sx, sy = w / ref_w, h / ref_h
            min_conf = float(fields.get("min_confidence", b"0.4") or 0.4)
            preds = [
                {"label": d["label"], "confidence": d["confidence"],
                 "x_min": round(d["x1"] * sx), "y_min": round(d["y1"] * sy),
                 "x_max": round(d["x2"] * sx), "y_max": round(d["y2"] * sy)}
                for d in sorted(ref, key=lambda d: -d["confidence"]) if d["confidence"] >= min_conf
            ]
            self.reply(200, {"success": True, "predictions": preds, "code": 200})

    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
