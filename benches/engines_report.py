"""Table for benches/engines.sh: median round per engine and concurrency, each engine's throughput
as a ratio to the Python baseline server's (when it ran), plus engine costs."""
import json, statistics, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
runs = [r for r in rows if "throughput_rps" in r]
servers = []
for r in rows:
    s = r.get("server")
    if s and s not in servers:
        servers.append(s)


def median_round(server, c):
    cells = sorted((r for r in runs if r["server"] == server and r["concurrency"] == c),
                   key=lambda r: r["throughput_rps"])
    return (cells[len(cells) // 2], len(cells)) if cells else (None, 0)


def per_round(server, c):
    return {r.get("round", 1): r["throughput_rps"] for r in runs if r["server"] == server and r["concurrency"] == c}


def vs_python(server, c):
    """Ratio of median-round throughputs to the Python server's, and the range of the per-round
    ratios (same round: both measured within a minute of each other, so shared-VM slow phases
    mostly cancel)."""
    m, _ = median_round(server, c)
    py, _ = median_round("python", c)
    if not m or not py:
        return None
    mine, base = per_round(server, c), per_round("python", c)
    paired = [mine[k] / base[k] for k in mine if k in base and base[k] > 0]
    return m["throughput_rps"] / py["throughput_rps"], paired


has_python = any(r["server"] == "python" for r in runs)
rounds = max((r.get("round", 1) for r in runs), default=0)
print(f"# Engines (yolo11n-320, 320x320 JPEG, loopback keep-alive; median of {rounds} alternating rounds)\n")
if not has_python:
    print("**No Python baseline in this run (no .venv-bench): no ratios.**\n")
print("| engine | concurrency | req/s (min–max over rounds) | × python (per-round range) | p50 ms | p99 ms |")
print("|---|---|---|---|---|---|")
for s in servers:
    for c in (1, 4, 16):
        m, n = median_round(s, c)
        if not m:
            continue
        all_t = [r["throughput_rps"] for r in runs if r["server"] == s and r["concurrency"] == c]
        v = vs_python(s, c)
        ratio = "-" if v is None else (f"{v[0]:.2f}" + (f" ({min(v[1]):.2f}–{max(v[1]):.2f})" if v[1] else ""))
        print(f"| {s} | {c} | {m['throughput_rps']:.1f} ({min(all_t):.1f}–{max(all_t):.1f}) | {ratio} | "
              f"{m['p50_ms']:.1f} | {m['p99_ms']:.1f} |")
if has_python:
    print("\nThroughput ÷ the Python server's (median rounds):\n")
    print("| engine | c=1 | c=4 | c=16 |")
    print("|---|---|---|---|")
    for s in servers:
        cells = [vs_python(s, c) for c in (1, 4, 16)]
        if any(cells):
            print(f"| {s} | " + " | ".join("-" if v is None else f"{v[0]:.2f}×" for v in cells) + " |")
bares = [r for r in rows if "bare" in r]
if bares:
    print("\nThe bare engine (OpenVINO benchmark_app, no HTTP or decode; median of rounds) and the HTTP "
          "server's c=4 / c=16 throughput as a share of the bare engine's 2-in-flight figure:\n")
    print("| model | bare, 1 in flight img/s | bare, 2 in flight img/s | server (engine) | c=4 share | c=16 share |")
    print("|---|---|---|---|---|---|")
    for label in dict.fromkeys(r["bare"] for r in bares):
        fps = {n: statistics.median([r["fps"] for r in bares if r["bare"] == label and r["in_flight"] == n] or [0])
               for n in (1, 2)}
        for s in servers:
            if not (s == label or (label == "ov-fp32" and s == "default")):
                continue
            cells = []
            for c in (4, 16):
                m, _ = median_round(s, c)
                cells.append(f"{m['throughput_rps'] / fps[2]:.0%}" if m and fps[2] else "-")
            print(f"| {label} | {fps[1]:.1f} | {fps[2]:.1f} | {s} | {cells[0]} | {cells[1]} |")
print()
print("| engine | start→ready s | RSS after load MiB |")
print("|---|---|---|")
for s in servers:
    ready = next((r["ready_s"] for r in rows if r.get("server") == s and "ready_s" in r), None)
    rss = next((r["rss_kib_after_load"] for r in rows if r.get("server") == s and "rss_kib_after_load" in r), None)
    print(f"| {s} | {ready if ready is not None else '-'} | {rss / 1024:.0f} |" if rss else f"| {s} | {ready} | - |")
sizes = next((r for r in rows if "binary_bytes" in r), None)
if sizes:
    mib = lambda b: b / (1 << 20)
    print(f"\nBinary {mib(sizes['binary_bytes']):.1f} MiB (both engines linked in; libraries loaded at run time); "
          f"ONNX Runtime libraries {mib(sizes['ort_lib_bytes']):.1f} MiB; OpenVINO libraries "
          f"{mib(sizes['openvino_lib_bytes']):.1f} MiB.")
