#!/usr/bin/env python3
"""Camera capacity benchmark (run by benches/cameras.sh; standard library only).

How many simultaneous 480x360 @ 10 fps RTSP streams (video/pedestrians.mp4 from the local GStreamer
RTSP server) this box sustains in real time with detection at 5 fps per camera on yolo11n-320:
for N = 1, 2, 3, ... cameras, measure over a window after a warm-up; N is sustained when every
camera decodes >= 95% of 10 fps, detects >= 95% of 5 fps and drops no sampled frame. Reports the
per-stage time split (decode / convert / letterbox / inference / track / publish, from
osprey_camera_stage_seconds), the CPU each group of threads used (from /proc: RTSP client, decode,
camera analytics, inference, publishers, HTTP), the RTSP server's own CPU (it shares the box), and,
at the largest sustained N, the
HTTP latency of a Frigate-shaped client (one connection, 5 requests/s, 320x320 JPEG) while the
cameras run, next to the same client on an idle server.
"""
import argparse
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def http(method, url, body=None):
    req = urllib.request.Request(url, data=body, method=method,
                                 headers={"Content-Type": "application/json"} if body else {})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()


def metrics(port):
    text = http("GET", f"http://127.0.0.1:{port}/metrics").decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r'^(\w+)(\{[^}]*\})? ([-0-9.e+naNIf]+)$', line)
        if m:
            out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def mean_batch(m0, m1):
    """Mean images per inference run between two metric snapshots."""
    def tot(m, suffix):
        return sum(v for (name, _), v in m.items() if name == f"osprey_inference_batch_size_{suffix}")
    runs = tot(m1, "count") - tot(m0, "count")
    return round((tot(m1, "sum") - tot(m0, "sum")) / runs, 2) if runs else None


def stage_sums(m):
    sums = {}
    for (name, labels), v in m.items():
        if name == "osprey_camera_stage_seconds_sum":
            stage = re.search(r'stage="(\w+)"', labels).group(1)
            sums[stage] = sums.get(stage, 0.0) + v
    return sums


THREAD_GROUPS = [
    ("osprey-rtsp", "rtsp_client"),
    ("osprey-dec-", "decode_convert"),
    ("osprey-cam-", "letterbox_track_events"),
    ("osprey-infer", "inference"),
    ("osprey-redis", "publish"),
    ("osprey-mqtt", "publish"),
    ("osprey-events", "publish"),
    ("osprey-webhook", "publish"),
    ("osprey-analytic", "analytics_store"),  # osprey-analytics-db, cut to 15 characters
    ("osprey-rec-", "recording"),
    ("osprey-decode", "http_image_decode"),
    ("osprey-http", "http_runtime"),
]
TICK = os.sysconf("SC_CLK_TCK")


def thread_cpu(pid):
    """CPU seconds per thread id of `pid`, with the thread's name."""
    out = {}
    base = f"/proc/{pid}/task"
    for tid in os.listdir(base):
        try:
            with open(f"{base}/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        out[tid] = (name, (int(fields[11]) + int(fields[12])) / TICK)
    return out


def process_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def group_split(pid, t0, t1, dt):
    """Cores busy per thread group between two thread_cpu snapshots. ONNX Runtime's intra-op
    pool threads are created by the main thread and keep its name: `inference` with the model's
    worker thread."""
    groups = {}
    for tid, (name, cpu) in t1.items():
        if tid not in t0:
            continue
        if tid == str(pid):
            group = "main"
        elif name == "osprey":
            group = "inference"
        else:
            group = next((g for prefix, g in THREAD_GROUPS if name.startswith(prefix)), "other")
        groups[group] = groups.get(group, 0.0) + (cpu - t0[tid][1]) / dt
    return {k: round(v, 3) for k, v in sorted(groups.items())}


def cameras(port):
    return {c["id"]: c for c in json.loads(http("GET", f"http://127.0.0.1:{port}/api/cameras"))["cameras"]}


def wait_ready(port, path, secs=90):
    end = time.time() + secs
    while time.time() < end:
        try:
            http("GET", f"http://127.0.0.1:{port}{path}")
            return
        except Exception:
            time.sleep(0.2)
    sys.exit(f"not ready: {port}{path}")


def loadgen(binary, port, image, requests, rate):
    out = subprocess.run(
        [binary, "loadgen", "--url", f"http://127.0.0.1:{port}/v1/vision/detection", "--image", image,
         "--resize", "320x320", "--concurrency", "1", "--requests", str(requests), "--warmup", "5",
         "--rate", str(rate)],
        check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def add_cameras(args, port, n, rtsp_port):
    rules = json.load(open(args.analytics)) if args.analytics else None
    for i in range(n):
        spec = {"id": f"cam{i}", "url": f"rtsp://127.0.0.1:{rtsp_port}/stream", "detect_fps": 5,
                "rtsp_client": args.client}
        if args.record:
            spec["record"] = "continuous"
        http("POST", f"http://127.0.0.1:{port}/api/cameras", json.dumps(spec).encode())
        if rules:
            # Analytics on: the camera's tripwires, ROIs and alert rules through the emdx API.
            base = f"http://127.0.0.1:{port}/emdx/api/v2/config"
            for kind in ("tripwires", "rois"):
                body = {"sensorId": f"cam{i}", "deleteIfPresent": True, kind: rules.get(kind, [])}
                http("POST", f"{base}/{kind[:-1]}?sensorId=cam{i}", json.dumps(body).encode())
            for kind, alerts in rules.get("alerts", {}).items():
                body = {"sensorId": f"cam{i}", "deleteIfPresent": True, "rules": alerts}
                http("POST", f"{base}/rule/alerts/{kind}?sensorId=cam{i}", json.dumps(body).encode())


def remove_cameras(port, n):
    for i in range(n):
        http("DELETE", f"http://127.0.0.1:{port}/api/cameras/cam{i}")


def measure(args, port, n, rtsp_port, pids):
    add_cameras(args, port, n, rtsp_port)
    time.sleep(args.warmup)
    c0, m0, t0 = cameras(port), metrics(port), time.time()
    th0, rtsp0 = thread_cpu(pids["server"]), process_cpu(pids["rtsp"])
    time.sleep(args.window)
    c1, m1, t1 = cameras(port), metrics(port), time.time()
    th1, rtsp1 = thread_cpu(pids["server"]), process_cpu(pids["rtsp"])
    dt = t1 - t0
    per = []
    for cid in sorted(c1):
        f0, f1 = c0[cid]["frames"], c1[cid]["frames"]
        per.append({
            "id": cid,
            "decoded_fps": (f1["decoded"] - f0["decoded"]) / dt,
            "detected_fps": (f1["detected"] - f0["detected"]) / dt,
            "dropped": f1["dropped"] - f0["dropped"],
            "connected": c1[cid]["connected"],
        })
    s0, s1 = stage_sums(m0), stage_sums(m1)
    cpu = m1[("process_cpu_seconds_total", "")] - m0[("process_cpu_seconds_total", "")]
    split = {k: (s1.get(k, 0) - s0.get(k, 0)) / dt for k in s1}
    ok = all(p["connected"] and p["decoded_fps"] >= 9.5 and p["detected_fps"] >= 4.75 and p["dropped"] == 0
             for p in per)
    remove_cameras(port, n)
    return {"cameras": n, "sustained": ok, "window_s": round(dt, 1),
            "cpu_cores_busy": round(cpu / dt, 2),
            "mean_batch": mean_batch(m0, m1),
            "cpu_cores_by_thread": group_split(pids["server"], th0, th1, dt),
            "rtsp_server_cpu_cores": round((rtsp1 - rtsp0) / dt, 2),
            "clients": sorted({c1[c]["stream"]["client"] for c in c1 if c1[c].get("stream")}),
            "stage_seconds_per_second": {k: round(v, 3) for k, v in sorted(split.items())},
            "per_camera": [{k: (round(v, 2) if isinstance(v, float) else v) for k, v in p.items()} for p in per]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--shared", required=True)
    ap.add_argument("--model", default="yolo11n-320",
                    help="model in SHARED/models (yolo11n-dynamic: same weights, dynamic batch), "
                         "or a path to a model file (e.g. runtime/models/yolo11n-320-int8.xml)")
    ap.add_argument("--min", type=int, default=1, help="first number of cameras")
    ap.add_argument("--max", type=int, default=16)
    ap.add_argument("--warmup", type=float, default=6)
    ap.add_argument("--window", type=float, default=20)
    ap.add_argument("--out", default="target/bench-cameras.json")
    ap.add_argument("--record", action="store_true",
                    help="record every camera (record = continuous, recordings in a temporary folder)")
    ap.add_argument("--analytics", default=None,
                    help="JSON file of tripwires, rois and alerts set on every camera (analytics on)")
    ap.add_argument("--client", default="auto", choices=["auto", "retina", "ffmpeg"],
                    help="RTSP client of the cameras")
    ap.add_argument("--retries", type=int, default=1,
                    help="measure a failing N again this many times before calling it the limit")
    ap.add_argument("--serve-args", default="",
                    help="extra `osprey serve` flags, one shell-quoted string, "
                         "e.g. '--engine openvino --precision int8'")
    args = ap.parse_args()
    clip = os.path.join(args.shared, "video/pedestrians.mp4")
    model = (args.model if os.path.isfile(args.model)
             else os.path.join(args.shared, f"models/{args.model}.onnx"))
    image = os.path.join(args.shared, "images", sorted(os.listdir(os.path.join(args.shared, "images")))[0])
    for name in sorted(os.listdir(os.path.join(args.shared, "images"))):
        if name.endswith(".jpg"):
            image = os.path.join(args.shared, "images", name)
            break
    rtsp_port, port = free_port(), free_port()
    # A fresh store per run: rules set through the API are saved beside it and must not carry
    # over into a run without analytics.
    store = tempfile.mkdtemp(prefix="osprey-bench-")
    here = os.path.dirname(os.path.abspath(__file__))
    rtsp = subprocess.Popen(["/usr/bin/python3", os.path.join(here, "..", "tools", "rtsp-server.py"),
                             "--port", str(rtsp_port), "--file", clip, "--loops", "40"],
                            stdout=subprocess.PIPE, text=True)
    assert rtsp.stdout.readline().startswith("READY")
    server = subprocess.Popen([args.bin, "serve", "--model", model, "--listen", f"127.0.0.1:{port}",
                               "--events-db", os.path.join(store, "events.sqlite"),
                               "--recordings", os.path.join(store, "recordings"),
                               *shlex.split(args.serve_args)],
                              stderr=subprocess.DEVNULL, env={**os.environ, "OSPREY_LOG": "warn", "OSPREY_AUTH": "off"})
    results = {"model": args.model, "stream": "480x360 H.264 @ 10 fps over RTSP/TCP", "detect_fps": 5,
               "analytics": args.analytics, "record": args.record,
               "rtsp_client": args.client, "serve_args": args.serve_args, "cpus": os.cpu_count(), "runs": []}
    pids = {"server": server.pid, "rtsp": rtsp.pid}
    try:
        wait_ready(port, "/readyz")
        idle = loadgen(args.bin, port, image, 100, 5)
        results["http_idle"] = idle
        best = 0
        for n in range(args.min, args.max + 1):
            for _ in range(args.retries + 1):
                r = measure(args, port, n, rtsp_port, pids)
                results["runs"].append(r)
                print(json.dumps({k: r[k] for k in ("cameras", "sustained", "mean_batch", "cpu_cores_busy", "cpu_cores_by_thread",
                                                    "rtsp_server_cpu_cores", "stage_seconds_per_second")}),
                      flush=True)
                if r["sustained"]:
                    break
            if not r["sustained"]:
                break
            best = n
        results["max_sustained_cameras"] = best
        # The HTTP client while the cameras run; if its requests push cameras into drops, the
        # same at one camera fewer, down to the largest N that takes both without a drop.
        n = best
        while n > 0:
            add_cameras(args, port, n, rtsp_port)
            time.sleep(args.warmup)
            c0 = cameras(port)
            http_run = loadgen(args.bin, port, image, 150, 5)
            c1 = cameras(port)
            drops = sum(c1[c]["frames"]["dropped"] - c0[c]["frames"]["dropped"] for c in c1)
            remove_cameras(port, n)
            results.setdefault("http_with_cameras_runs", []).append(
                {"cameras": n, "http": http_run, "camera_drops_during_http": drops})
            print(json.dumps({"http_with_cameras": n, "p50_ms": http_run.get("p50_ms"),
                              "p99_ms": http_run.get("p99_ms"), "camera_drops": drops}), flush=True)
            if n == best:
                results["http_with_cameras"] = http_run
                results["camera_drops_during_http"] = drops
            if drops == 0:
                results["max_cameras_with_http_client"] = n
                break
            n -= 1
    finally:
        server.send_signal(signal.SIGTERM)
        rtsp.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        rtsp.wait(timeout=30)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    print(json.dumps({"max_sustained_cameras": results["max_sustained_cameras"],
                      "http_idle_p50_p99_ms": [results["http_idle"].get("p50_ms"), results["http_idle"].get("p99_ms")],
                      "http_with_cameras_p50_p99_ms": [results.get("http_with_cameras", {}).get("p50_ms"),
                                                       results.get("http_with_cameras", {}).get("p99_ms")],
                      "camera_drops_during_http": results.get("camera_drops_during_http"),
                      "max_cameras_with_http_client": results.get("max_cameras_with_http_client"),
                      "details": args.out}, indent=1))


if __name__ == "__main__":
    main()
