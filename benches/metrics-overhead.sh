#!/usr/bin/env bash
# Metrics overhead benchmark (not a test): server throughput with metrics on vs off, in one run,
# alternating the two in every round (off-on, then on-off) so machine drift cancels out.
#   off: `osprey serve` alone (Prometheus counters are always compiled in; nobody scrapes them).
#   on:  `--generate_metrics` (InfluxDB points into the SQLite cache, default commit interval), the
#        in-process uploader draining it to VictoriaMetrics, and Prometheus scraping /metrics every
#        second (the real servers when installed: make test-deps).
# Load: `osprey loadgen`, 4 keep-alive clients, Frigate-shaped 320x320 JPEGs of bus.jpg, yolo11n-320.
#   ROUNDS=8 REQUESTS=300
set -euo pipefail
cd "$(dirname "$0")/.."
export OSPREY_SHARED="${OSPREY_SHARED:-$(cd .. && pwd)/shared}"
# Loopback only: the scraper reads /metrics without a key.
export OSPREY_AUTH=off
rounds="${ROUNDS:-8}"
requests="${REQUESTS:-300}"
out=bench-out
mkdir -p "$out"
bin=target/release/osprey
cargo build --release --locked -q
model="$OSPREY_SHARED/models/yolo11n-320.onnx"
bus="$OSPREY_SHARED/images/bus.jpg"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

source benches/common.sh

upload_flags=()
if command -v victoria-metrics >/dev/null; then
  vm_port=$(free_port)
  victoria-metrics -storageDataPath "$work/vm" -httpListenAddr "127.0.0.1:$vm_port" -loggerLevel ERROR >/dev/null 2>&1 &
  pids+=($!)
  wait_ready "$vm_port" /health
  printf -- '--urls=http://127.0.0.1:%s\n--buckets=bench\n--orgs=bench\n--tokens=\n' "$vm_port" > "$work/uploader.txt"
  upload_flags=(--metrics-upload-flagfile "$work/uploader.txt")
else
  echo "victoria-metrics not installed: 'on' runs without the in-process uploader" >&2
fi

results="$out/metrics-overhead.jsonl"
: > "$results"
run_mode() { # mode round
  local mode=$1 round=$2 port scraper="" prom=""
  port=$(free_port)
  local extra=()
  if [[ $mode == on ]]; then
    extra=(--generate_metrics --metrics-cache "$work/cache-$round.sqlite" "${upload_flags[@]}")
  fi
  "$bin" serve --model "$model" --listen "127.0.0.1:$port" "${extra[@]}" 2>"$out/metrics-overhead-serve.log" &
  local pid=$!
  wait_ready "$port" /readyz
  if [[ $mode == on ]]; then
    if command -v prometheus >/dev/null; then
      local pport; pport=$(free_port)
      printf 'global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: osprey\n    static_configs:\n      - targets: ["127.0.0.1:%s"]\n' "$port" > "$work/prom.yml"
      prometheus --config.file="$work/prom.yml" --storage.tsdb.path="$work/prom-$round" \
        --web.listen-address="127.0.0.1:$pport" --log.level=error >/dev/null 2>&1 &
      prom=$!
      wait_ready "$pport" /-/ready
    else
      ( while sleep 1; do curl -sf "http://127.0.0.1:$port/metrics" >/dev/null || true; done ) &
      scraper=$!
    fi
  fi
  "$bin" loadgen --url "http://127.0.0.1:$port/v1/vision/detection" --image "$bus" --resize 320x320 \
    --concurrency 4 --requests "$requests" --warmup 20 \
    | python3 -c "import json,sys; d=json.load(sys.stdin); d['mode']='$mode'; d['round']=$round; print(json.dumps(d))" >> "$results"
  if [[ $mode == on ]]; then
    curl -sf "http://127.0.0.1:$port/metrics" | grep '^osprey_influx_points_total' >&2 || true
  fi
  [[ -n $scraper ]] && kill "$scraper" 2>/dev/null || true
  [[ -n $prom ]] && { kill "$prom"; wait "$prom" 2>/dev/null || true; }
  kill -TERM "$pid"; wait "$pid" || true
}

for r in $(seq "$rounds"); do
  if (( r % 2 )); then run_mode off "$r"; run_mode on "$r"; else run_mode on "$r"; run_mode off "$r"; fi
  echo "round $r done" >&2
done

python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {m: [r for r in rows if r["mode"] == m] for m in ("off", "on")}
tp = {m: [r["throughput_rps"] for r in by[m]] for m in by}
paired = [on["throughput_rps"] / off["throughput_rps"] for off, on in zip(by["off"], by["on"])]
med = {m: statistics.median(v) for m, v in tp.items()}
print("| mode | rounds | median req/s | min | max | median p50 ms | median p99 ms |")
print("|---|---|---|---|---|---|---|")
for m in ("off", "on"):
    p50 = statistics.median(r["p50_ms"] for r in by[m]); p99 = statistics.median(r["p99_ms"] for r in by[m])
    print(f"| {m} | {len(tp[m])} | {med[m]:.2f} | {min(tp[m]):.2f} | {max(tp[m]):.2f} | {p50:.2f} | {p99:.2f} |")
diff = (med["on"] / med["off"] - 1) * 100
print(f"\nthroughput on/off (medians): {med['on']/med['off']:.4f} ({diff:+.2f} %)")
print(f"per-round on/off ratios: {', '.join(f'{x:.3f}' for x in paired)}; median {statistics.median(paired):.4f}")
errors = sum(r["errors"] for r in rows)
print(f"errors: {errors}")
PY
