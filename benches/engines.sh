#!/usr/bin/env bash
# Engine benchmark, side by side in one alternating run (not a test): `osprey serve` on
# yolo11n-320 with no engine flags (the default: OpenVINO fp32 with --streams auto where OpenVINO is
# provisioned), ONNX Runtime fp32, OpenVINO fp32 with one inference at a time (--streams 1, the
# previous release's behaviour), OpenVINO bf16 (where the CPU has it) and OpenVINO INT8 (when
# runtime/models/yolo11n-320-int8.xml exists: tools/quantize-int8.sh), next to the
# Python baseline server (benches/python_server.py: stdlib http.server + Ultralytics predict() on the
# same ONNX, as the Jetson server does; needs .venv-bench, see benches/requirements.txt), HTTP
# throughput and p50/p99 at concurrency 1, 4 and 16 with 320x320 JPEG crops of bus.jpg; the table
# gives each engine's throughput as a ratio to the Python server's. All servers start first
# (start→ready and RSS measured per engine); then ROUNDS rounds each load every engine once per
# concurrency, the engine order rotating per round, so slow phases of a shared VM hit all alike.
# The table keeps the median round of each cell. Also reported: binary size, provisioned
# library size per engine. The bare engine: OpenVINO's own benchmark_app (from .venv-quant, made by
# tools/quantize-int8.sh) on the same model files, one inference in flight (latency hint) and two
# (throughput hint, two requests), f32 inference precision as Osprey sets it (benchmark_app would
# pick bf16 on CPUs that have it), once per round, so HTTP throughput can be read as a share of
# what the engine alone does on this machine in the same run.
#
#   ROUNDS=3  REQUESTS=300  THREADS=0 (inference threads; 0: the engine's default)
#   INT8_MODEL=path.xml     ENGINES="python ort-fp32 ov-fp32 ov-bf16 ov-int8" (any subset)
#   BENCH_VENV=.venv-bench  (python is skipped, loudly, when it is missing)
set -euo pipefail
cd "$(dirname "$0")/.."
export OSPREY_SHARED="${OSPREY_SHARED:-$(cd .. && pwd)/shared}"
rounds="${ROUNDS:-3}"
requests="${REQUESTS:-300}"
threads="${THREADS:-0}"
out=bench-out
mkdir -p "$out"
target="${CARGO_TARGET_DIR:-target}"
bin="$target/release/osprey"
[[ -x "$bin" && -n "${NO_BUILD:-}" ]] || cargo build --release --locked -q -p osprey
model="$OSPREY_SHARED/models/yolo11n-320.onnx"
int8="${INT8_MODEL:-runtime/models/yolo11n-320-int8.xml}"
bus="$OSPREY_SHARED/images/bus.jpg"
engines="${ENGINES:-python default ort-fp32 ov-fp32-s1 ov-fp32 ov-bf16 ov-int8-s1 ov-int8}"
bare_app="${BENCH_BARE:-.venv-quant/bin/benchmark_app}"
venv="${BENCH_VENV:-.venv-bench}"
source benches/common.sh

results="$out/engines.jsonl"
: > "$results"
declare -A port pid
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# python_server.py answers HEAD / (no GET route, no /readyz) once its model is loaded and warm.
wait_python() { for _ in $(seq 600); do curl -sf -I "http://127.0.0.1:$1/" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "not ready on $1 (HEAD /)" >&2; return 1; }

start() { # label args...
  local label=$1; shift
  local p; p=$(free_port)
  local t0; t0=$(date +%s.%N)
  local ok=1
  if [[ "$label" == python ]]; then
    "$venv/bin/python" benches/python_server.py "$model" "$p" 320 >"$out/engines-$label.log" 2>&1 &
    local id=$!
    wait_python "$p" || ok=
  else
    "$bin" serve --listen "127.0.0.1:$p" --threads "$threads" "$@" 2>"$out/engines-$label.log" &
    local id=$!
    wait_ready "$p" /readyz || ok=
  fi
  if [[ -z "$ok" ]]; then
    echo "engines: $label did not start (see $out/engines-$label.log)" >&2
    kill "$id" 2>/dev/null || true
    return 1
  fi
  local ready; ready=$(python3 -c "import time; print(round(time.time() - $t0, 3))")
  port[$label]=$p; pid[$label]=$id; pids+=("$id")
  echo "{\"server\":\"$label\",\"ready_s\":$ready}" >> "$results"
}

active=()
for e in $engines; do
  case "$e" in
    python)
      if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import cv2, ultralytics' 2>/dev/null; then
        echo "engines: ################################################################" >&2
        echo "engines: NO PYTHON BASELINE: $venv lacks ultralytics/cv2; skipping python, so" >&2
        echo "engines: the table has no ratios. Make it with: python3 -m venv $venv &&" >&2
        echo "engines:   $venv/bin/pip install -r benches/requirements.txt" >&2
        echo "engines: ################################################################" >&2
        continue
      fi
      args=() ;;
    default) args=(--model "$model") ;;
    ort-fp32) args=(--model "$model" --engine ort --precision fp32) ;;
    ov-fp32) args=(--model "$model" --engine openvino --precision fp32 --streams auto) ;;
    ov-fp32-s1) args=(--model "$model" --engine openvino --precision fp32 --streams 1) ;;
    ov-bf16) args=(--model "$model" --engine openvino --precision bf16) ;;
    ov-int8|ov-int8-s1)
      [[ -f "$int8" ]] || { echo "engines: no INT8 model at $int8 (tools/quantize-int8.sh); skipping $e" >&2; continue; }
      streams=auto; [[ "$e" == ov-int8-s1 ]] && streams=1
      args=(--model "$int8" --engine openvino --precision int8 --streams "$streams") ;;
    *) echo "engines: unknown engine $e" >&2; exit 2 ;;
  esac
  start "$e" "${args[@]}" && active+=("$e") || echo "engines: skipping $e" >&2
done

# The bare engine (no HTTP, no decode): benchmark_app's throughput for 1 and 2 inferences in flight.
bare() { # round label model
  [[ -x "$bare_app" ]] || return 0
  local hint n
  for n in 1 2; do
    hint=latency; [[ $n == 2 ]] && hint=throughput
    fps=$("$bare_app" -m "$3" -d CPU -hint "$hint" -nireq "$n" -infer_precision f32 -t 10 2>&1 | awk '/Throughput:/ {print $(NF-1)}')
    [[ -n "$fps" ]] && echo "{\"bare\":\"$2\",\"in_flight\":$n,\"fps\":$fps,\"round\":$1}" >> "$results"
  done
}
[[ -x "$bare_app" ]] || echo "engines: no $bare_app (tools/quantize-int8.sh makes .venv-quant): no bare-engine figures" >&2

for r in $(seq "$rounds"); do
  n=${#active[@]}
  for c in 1 4 16; do
    for k in $(seq 0 $((n - 1))); do
      e=${active[$(((k + r) % n))]}
      "$bin" loadgen --url "http://127.0.0.1:${port[$e]}/v1/vision/detection" --image "$bus" \
        --requests "$requests" --resize 320x320 --concurrency "$c" \
        | python3 -c "import json,sys; d=json.load(sys.stdin); d['server']='$e'; d['round']=$r; print(json.dumps(d))" >> "$results"
    done
  done
  bare "$r" ov-fp32 "$model"
  [[ -f "$int8" ]] && bare "$r" ov-int8 "$int8"
done

for e in "${active[@]}"; do
  rss=$(awk '/VmRSS/ {print $2}' "/proc/${pid[$e]}/status")
  echo "{\"server\":\"$e\",\"rss_kib_after_load\":$rss}" >> "$results"
done
bin_b=$(stat -c %s "$bin")
ort_b=$(du -sbL runtime/onnxruntime/lib | cut -f1)
ov_b=$(du -sbL runtime/openvino/lib 2>/dev/null | cut -f1 || echo 0)
echo "{\"binary_bytes\":$bin_b,\"ort_lib_bytes\":$ort_b,\"openvino_lib_bytes\":$ov_b}" >> "$results"
python3 benches/engines_report.py "$results" | tee "$out/engines.md"
