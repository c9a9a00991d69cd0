#!/usr/bin/env bash
# Camera capacity with a feature off (A) and on (B) side by side, alternating for ROUNDS rounds
# in one run (this VM's speed drifts between runs, so only figures from the same run compare).
#   FEATURE=analytics (default): B sets benches/analytics-rules.json (3 tripwires, 2 ROIs, 5 alert
#     rules) on every camera through the emdx API; the analytics store, Prometheus series and
#     alerts are all live.
#   FEATURE=record: B records every camera (record = continuous, no decode, no re-encode).
#
#   benches/feature-ab.sh [camera_capacity.py options, e.g. --min 6 --max 6 --window 20]
#   BIN=target/release/osprey  ROUNDS=2  FEATURE=analytics (defaults)
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/common.sh
bin=${BIN:-target/release/osprey}
SHARED="${OSPREY_SHARED:-../shared}"
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$PWD/runtime/onnxruntime/lib/libonnxruntime.so}"
feature=${FEATURE:-analytics}
case $feature in
  analytics) on_flags=(--analytics benches/analytics-rules.json) ;;
  record) on_flags=(--record) ;;
  *) echo "FEATURE is analytics or record" >&2; exit 2 ;;
esac
out=target/bench-$feature-ab
rm -rf "$out"; mkdir -p "$out"
for r in $(seq "${ROUNDS:-2}"); do
  for side in off on; do
    extra=(); [[ $side == on ]] && extra=("${on_flags[@]}")
    echo "round $r: $feature $side" >&2
    python3 benches/camera_capacity.py --bin "$bin" --shared "$SHARED" --out "$out/$side-$r.json" "${extra[@]}" "$@" >&2
  done
done
python3 - "$out" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
print("| run | max sustained | cores busy at N (N) | camera threads (letterbox, track, analytics) cores | analytics store thread cores | recorder threads cores | inference s/s |")
print("|---|---|---|---|---|---|---|")
for path in sorted(glob.glob(os.path.join(out, "*.json")), key=lambda p: (p.rsplit("-", 1)[1], p)):
    d = json.load(open(path))
    last = d["runs"][-1]
    threads = last.get("cpu_cores_by_thread", {})
    print(f"| {os.path.basename(path)[:-5]} | {d.get('max_sustained_cameras')} | {last['cpu_cores_busy']} ({last['cameras']}) | {threads.get('letterbox_track_events')} | {threads.get('analytics_store')} | {threads.get('recording')} | {last['stage_seconds_per_second'].get('inference')} |")
PY
