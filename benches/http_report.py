"""Table and ratios for benches/http.sh."""
import json, statistics, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
base = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
rust = [json.loads(l) for l in open(sys.argv[3]) if l.strip()] if len(sys.argv) > 3 else []
med = lambda xs: statistics.median(xs) if xs else float("nan")
ort = med([b["ort_n320_b1_ms"] for b in base if "ort_n320_b1_ms" in b])
cv_dec = med([b["cv2_decode_ms"] for b in base if "cv2_decode_ms" in b])


def find(server, resize, c):
    for r in rows:
        if r.get("server") == server and r.get("resize") == resize and r.get("concurrency") == c:
            return r
    return None


print("# HTTP benchmark (yolo11n-320, loopback, keep-alive, %s requests per cell)\n" % (rows[0].get("requests") if rows else "?"))
print("| image | concurrency | Osprey req/s | Osprey p50 / p99 ms | Python req/s | Python p50 / p99 ms | throughput ratio |")
print("|---|---|---|---|---|---|---|")
for resize in ("320x320", "1920x1080"):
    for c in (1, 4, 16):
        o, p = find("osprey", resize, c), find("python", resize, c)
        if not o:
            continue
        ratio = o["throughput_rps"] / p["throughput_rps"] if p and p["throughput_rps"] else float("nan")
        pcol = f"{p['throughput_rps']:.1f} | {p['p50_ms']:.1f} / {p['p99_ms']:.1f}" if p else "- | -"
        print(f"| {resize} | {c} | {o['throughput_rps']:.1f} | {o['p50_ms']:.1f} / {o['p99_ms']:.1f} | {pcol} | {ratio:.2f}x |")
print()
o1 = find("osprey", "320x320", 1)
if o1:
    print(f"Concurrency 1, 320x320: Osprey p50 {o1['p50_ms']:.2f} ms vs bare ONNX Runtime inference {ort:.2f} ms + cv2 decode of bus.jpg "
          f"{cv_dec:.2f} ms (an upper bound for a 320x320 crop) = {ort + cv_dec:.2f} ms: ratio {o1['p50_ms'] / (ort + cv_dec):.3f} (target <= 1.05).")
b1, b4 = find("osprey-dynamic-maxbatch1", "320x320", 4), find("osprey-dynamic-maxbatch4", "320x320", 4)
if b1 and b4:
    print(f"Dynamic model, concurrency 4: max_batch 4 {b4['throughput_rps']:.1f} req/s vs max_batch 1 {b1['throughput_rps']:.1f} req/s: "
          f"{b4['throughput_rps'] / b1['throughput_rps']:.2f}x (target >= 1.2x).")
for r in rows:
    if "ready_s" in r:
        print(f"Osprey start to ready: {r['ready_s']:.2f} s; RSS after the load: {r['rss_kib_after_load'] / 1024:.1f} MiB.")
