#!/usr/bin/env bash
# Side-by-side benchmark of the detection path: Osprey (Rust) vs bare ONNX Runtime in Python and
# Ultralytics predict(), alternating rounds in one run so machine noise hits both sides alike.
#
#   ROUNDS=3                 rounds of (Rust bench, Python baseline)
#   OSPREY_BENCH_ITERS=60    timed iterations per measurement
#   OSPREY_BENCH_THREADS=2   intra-op threads on both sides
#   BENCH_VENV=.venv-bench   where the Python baselines are installed (from benches/requirements.txt)
#   BENCH_ULTRALYTICS=0      skip installing/timing Ultralytics (it pulls in PyTorch)
set -euo pipefail
cd "$(dirname "$0")/.."
export OSPREY_SHARED="${OSPREY_SHARED:-$(cd .. && pwd)/shared}"
rounds="${ROUNDS:-3}"
venv="${BENCH_VENV:-.venv-bench}"
out=bench-out
mkdir -p "$out"

if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
fi
reqs=benches/requirements.txt
if [[ "${BENCH_ULTRALYTICS:-1}" == 0 ]]; then
  reqs=$(mktemp); grep -v '^ultralytics' benches/requirements.txt > "$reqs"
fi
"$venv/bin/pip" install -q -r "$reqs"

cargo bench --locked -q -p osprey-detect --bench detect --no-run
: > "$out/detect-rust.jsonl"
: > "$out/detect-python.jsonl"
for r in $(seq "$rounds"); do
  echo "round $r/$rounds: osprey" >&2
  cargo bench --locked -q -p osprey-detect --bench detect 2>/dev/null | tail -n 1 >> "$out/detect-rust.jsonl"
  echo "round $r/$rounds: python baselines" >&2
  "$venv/bin/python" benches/baseline.py "$OSPREY_SHARED" 2>/dev/null | tail -n 1 >> "$out/detect-python.jsonl"
done
python3 benches/report.py "$out/detect-rust.jsonl" "$out/detect-python.jsonl" | tee "$out/detect.md"
