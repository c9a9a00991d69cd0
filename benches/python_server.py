"""The baseline Osprey replaces: what the Python "Simple Jetson Nano Detection Server" does per
request, on the CPU with the same ONNX file.

stdlib http.server (threading variant, one thread per connection, HTTP/1.1 keep-alive; inference
serialised on the one model instance), the
multipart body parsed by hand, the first part named "image" decoded with cv2.imdecode, and
Ultralytics YOLO(onnx).predict() on it; DeepStack JSON out. Used only by benches/http.sh.

usage: python_server.py MODEL.onnx PORT IMGSZ
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
from ultralytics import YOLO

model_path, port, imgsz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
model = YOLO(model_path, task="detect")
model.predict(np.full((imgsz, imgsz, 3), 114, np.uint8), imgsz=imgsz, verbose=False)  # warm-up
lock = threading.Lock()  # one model instance, as the Jetson server has; predict() is not thread-safe


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without this, Nagle + delayed ACK add ~40 ms per
    # keep-alive request, which would flatter Osprey unfairly.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        ctype = self.headers["Content-Type"]
        boundary = ctype.split("boundary=", 1)[1].strip('"').encode()
        body = self.rfile.read(length)
        predictions, success = [], False
        for part in body.split(b"--" + boundary):
            head, _, data = part.partition(b"\r\n\r\n")
            if b'name="image"' in head:
                img = cv2.imdecode(np.frombuffer(data[:-2], np.uint8), cv2.IMREAD_COLOR)
                with lock:
                    r = model.predict(img, imgsz=imgsz, conf=0.4, verbose=False)[0]
                for (x1, y1, x2, y2), conf, cls in zip(r.boxes.xyxy.tolist(), r.boxes.conf.tolist(), r.boxes.cls.tolist()):
                    predictions.append({"x_min": int(x1), "y_min": int(y1), "x_max": int(x2), "y_max": int(y2),
                                        "label": r.names[int(cls)], "confidence": conf})
                success = True
                break
        out = json.dumps({"predictions": predictions, "success": success}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
