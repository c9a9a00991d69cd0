#!/usr/bin/env bash
# HTTP benchmark, side by side in one run (not a test): Osprey's server vs a Python server doing
# what the Jetson server does (benches/python_server.py), at concurrency 1, 4 and 16 with 320x320
# JPEG crops and 1080p JPEGs of bus.jpg; plus dynamic-batch throughput (max_batch 4 vs 1) and the
# server's start-to-ready time and RSS. Bare inference + decode come from benches/run.sh's
# baseline (run it first, or this script runs the Python baseline once).
#
#   REQUESTS=200  BENCH_VENV=.venv-bench  (needs ultralytics, see benches/requirements.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
export OSPREY_SHARED="${OSPREY_SHARED:-$(cd .. && pwd)/shared}"
venv="${BENCH_VENV:-.venv-bench}"
requests="${REQUESTS:-200}"
out=bench-out
mkdir -p "$out"
bin=target/release/osprey
cargo build --release --locked -q
model="$OSPREY_SHARED/models/yolo11n-320.onnx"
dynamic="$OSPREY_SHARED/models/yolo11n-dynamic.onnx"
bus="$OSPREY_SHARED/images/bus.jpg"
if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r benches/requirements.txt
fi

source benches/common.sh

results="$out/http.jsonl"
: > "$results"
load() { # label port extra-loadgen-args...
  local label=$1 port=$2; shift 2
  "$bin" loadgen --url "http://127.0.0.1:$port/v1/vision/detection" --image "$bus" --requests "$requests" "$@" \
    | python3 -c "import json,sys; d=json.load(sys.stdin); d['server']='$label'; print(json.dumps(d))" >> "$results"
}

# Osprey, static yolo11n-320: start-to-ready time and RSS.
port=$(free_port)
t0=$(date +%s.%N)
"$bin" serve --model "$model" --listen "127.0.0.1:$port" 2>"$out/osprey-serve.log" &
pid=$!
wait_ready "$port" /readyz
ready_s=$(python3 -c "import time; print(round(time.time() - $t0, 3))")
for c in 1 4 16; do
  load osprey "$port" --resize 320x320 --concurrency "$c"
  load osprey "$port" --resize 1920x1080 --concurrency "$c"
done
rss_kib=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
kill -TERM $pid; wait $pid || true
echo "{\"server\":\"osprey\",\"ready_s\":$ready_s,\"rss_kib_after_load\":$rss_kib}" >> "$results"

# Dynamic-batch model at concurrency 4: micro-batching on vs off.
for mb in 1 4; do
  port=$(free_port)
  "$bin" serve --model "$dynamic" --imgsz 320 --max-batch "$mb" --batch-wait-ms 3 --listen "127.0.0.1:$port" 2>/dev/null &
  pid=$!
  wait_ready "$port" /readyz
  load "osprey-dynamic-maxbatch$mb" "$port" --resize 320x320 --concurrency 4
  kill -TERM $pid; wait $pid || true
done

# Python baseline server.
port=$(free_port)
"$venv/bin/python" benches/python_server.py "$model" "$port" 320 2>"$out/python-server.log" &
pid=$!
for _ in $(seq 600); do curl -sf -I "http://127.0.0.1:$port/" >/dev/null 2>&1 && break; sleep 0.2; done
for c in 1 4 16; do
  load python "$port" --resize 320x320 --concurrency "$c"
  load python "$port" --resize 1920x1080 --concurrency "$c"
done
kill $pid; wait $pid 2>/dev/null || true

[[ -s "$out/detect-python.jsonl" ]] || "$venv/bin/python" benches/baseline.py "$OSPREY_SHARED" 2>/dev/null | tail -n 1 > "$out/detect-python.jsonl"
python3 benches/http_report.py "$results" "$out/detect-python.jsonl" "$out/detect-rust.jsonl" | tee "$out/http.md"
