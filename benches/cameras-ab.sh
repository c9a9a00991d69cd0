#!/usr/bin/env bash
# Camera capacity of two osprey binaries side by side: benches/camera_capacity.py run with A,
# then B, alternating for ROUNDS rounds in one run (this VM's speed drifts between runs, so only
# figures from the same run compare). Results in target/bench-cameras-ab/{a,b}-<round>.json and
# a table on stdout.
#
#   benches/cameras-ab.sh BIN_A BIN_B [camera_capacity.py options, e.g. --min 7 --max 10 --window 8]
#   ROUNDS=2 (default)
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/common.sh
[[ $# -ge 2 ]] || { echo "usage: $0 BIN_A BIN_B [options]" >&2; exit 2; }
a=$1 b=$2; shift 2
SHARED="${OSPREY_SHARED:-../shared}"
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$PWD/runtime/onnxruntime/lib/libonnxruntime.so}"
out=target/bench-cameras-ab
mkdir -p "$out"
for r in $(seq "${ROUNDS:-2}"); do
  for side in a b; do
    bin=$a; [[ $side == b ]] && bin=$b
    echo "round $r: $side ($bin)" >&2
    python3 benches/camera_capacity.py --bin "$bin" --shared "$SHARED" --out "$out/$side-$r.json" "$@" >&2
  done
done
python3 - "$out" "$a" "$b" <<'PY'
import glob, json, os, sys
out, a, b = sys.argv[1:4]
print(f"A = {a}\nB = {b}\n")
print("| run | max sustained | cores busy at max (mean over N) | inference s/s at max | HTTP idle p50/p99 ms | HTTP with cameras p50/p99 ms (N) |")
print("|---|---|---|---|---|---|")
for path in sorted(glob.glob(os.path.join(out, "*.json")), key=lambda p: (p.rsplit("-", 1)[1], p)):
    d = json.load(open(path))
    best = d.get("max_sustained_cameras")
    at = [r for r in d["runs"] if r["cameras"] == best and r["sustained"]]
    cores = at[-1]["cpu_cores_busy"] if at else None
    infer = at[-1]["stage_seconds_per_second"].get("inference") if at else None
    idle = d.get("http_idle", {})
    hw = d.get("http_with_cameras", {})
    name = os.path.basename(path)[:-5]
    print(f"| {name} | {best} | {cores} | {infer} | {idle.get('p50_ms')}/{idle.get('p99_ms')} | {hw.get('p50_ms')}/{hw.get('p99_ms')} ({d.get('max_cameras_with_http_client')}) |")
PY
