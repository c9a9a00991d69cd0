#!/usr/bin/env bash
# Run the aarch64 build of Osprey under qemu-aarch64-static on this x86-64 machine and compare
# it with Ultralytics' reference outputs and with the x86-64 binary (docs/arm64.md):
#
#   1. `osprey detect` (ONNX Runtime, aarch64 libraries) on bus.jpg, zidane.jpg and the first
#      DETECT_IMAGES coco128 images: reference boxes matched, the way
#      crates/osprey-detect/tests/parity.rs matches them (same class, IoU >= 0.95, |dconf| <= 0.01),
#      and the largest coordinate difference; the same images through the x86 binary;
#   2. `osprey eval` on the first EVAL_IMAGES coco128 images: mAP, arm64 vs x86;
#   3. 1 and 2 with `--engine openvino` (aarch64 OpenVINO, ARM CPU plugin), reporting exactly how
#      it fails if it does;
#   4. `osprey serve --auth off` on a free loopback port and a Frigate-shaped request (multipart
#      field `image`, POST /v1/vision/detection) checked against the reference boxes;
#   5. the time per image under emulation (not a performance figure).
#
# The report goes to $REPORT_DIR/report.{md,json} (default bench-out/arm64). Nothing is installed;
# build first with deploy/arm64/build.sh. Exit status 0 when the ONNX Runtime parity (1, 2, 4)
# holds; OpenVINO results are reported, not enforced (see docs/arm64.md).
#
# Environment:
#   OSPREY_SHARED     the shared test data (default: ../shared beside the repository)
#   ARM64_BIN         the aarch64 binary (default $CARGO_TARGET_DIR or target/,
#                     aarch64-unknown-linux-gnu/release/osprey)
#   ARM64_RUNTIME     aarch64 runtime libraries (default runtime/aarch64, from build.sh)
#   X86_BIN           the x86-64 binary to compare with (default target/release/osprey; skipped
#                     when absent), with X86_ORT_LIB (default runtime/onnxruntime/lib/libonnxruntime.so)
#                     and X86_OV_LIB (default runtime/openvino/lib)
#   MODEL             model file name under $OSPREY_SHARED/models (default yolo11n-320.onnx)
#   DETECT_IMAGES     coco128 images for detect, besides bus.jpg and zidane.jpg (default 14)
#   EVAL_IMAGES       coco128 images for eval (default 16)
#   THREADS           intra-op threads (default 2)
#   STEP_TIMEOUT      seconds allowed per emulated step (default 900)
#   QEMU_CPU          emulated CPU model (default cortex-a57, see deploy/arm64/qemu-run.sh)
#   SKIP_OPENVINO     set to skip the OpenVINO runs
#   REPORT_DIR        where the report goes (default bench-out/arm64)
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo" || exit 2

shared=$(cd "${OSPREY_SHARED:-$repo/../shared}" 2>/dev/null && pwd) || { echo "parity: no shared data (set OSPREY_SHARED)" >&2; exit 2; }
arm_bin="${ARM64_BIN:-${CARGO_TARGET_DIR:-$repo/target}/aarch64-unknown-linux-gnu/release/osprey}"
arm_rt=$(cd "${ARM64_RUNTIME:-runtime/aarch64}" 2>/dev/null && pwd) || arm_rt=""
x86_bin="${X86_BIN:-$repo/target/release/osprey}"
x86_ort="${X86_ORT_LIB:-$repo/runtime/onnxruntime/lib/libonnxruntime.so}"
x86_ov="${X86_OV_LIB:-$repo/runtime/openvino/lib}"
model_name="${MODEL:-yolo11n-320.onnx}"
model="$shared/models/$model_name"
reference="$shared/reference/${model_name%.onnx}.json"
n_detect="${DETECT_IMAGES:-14}"
n_eval="${EVAL_IMAGES:-16}"
threads="${THREADS:-2}"
step_timeout="${STEP_TIMEOUT:-900}"
report_dir="${REPORT_DIR:-bench-out/arm64}"

die() { echo "parity: $*" >&2; exit 2; }
say() { echo "parity: $*" >&2; }
command -v qemu-aarch64-static >/dev/null || die "qemu-aarch64-static missing (deploy/arm64/build.sh --deps)"
[[ -x "$arm_bin" ]] || die "no aarch64 binary at $arm_bin (deploy/arm64/build.sh)"
[[ -n "$arm_rt" && -e "$arm_rt/onnxruntime/lib/libonnxruntime.so" ]] || die "no aarch64 ONNX Runtime under ${ARM64_RUNTIME:-runtime/aarch64} (deploy/arm64/build.sh --runtime)"
[[ -f "$model" && -f "$reference" ]] || die "no $model or $reference"
file -b "$arm_bin" | grep -q aarch64 || die "$arm_bin is not an aarch64 executable"
have_x86=0
[[ -x "$x86_bin" && -e "$x86_ort" ]] && have_x86=1

mkdir -p "$report_dir"
report_dir=$(cd "$report_dir" && pwd)
frag="$report_dir/fragments"
rm -rf "$frag" && mkdir -p "$frag"
work=$(mktemp -d)
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null; sleep 1; kill -9 "$server_pid" 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# qemu user-mode emulation without binfmt_misc, through deploy/arm64/qemu-run.sh (the multiarch
# arm64 loader and libraries, an ARM /proc/cpuinfo for the emulated CPU model).
export QEMU_CPU="${QEMU_CPU:-cortex-a57}"
arm() { timeout "$step_timeout" "$here/qemu-run.sh" "$arm_bin" "$@"; }
x86() { timeout "$step_timeout" "$x86_bin" "$@"; }
now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }
# (whole run of n images - whole run of 1 image) / (n - 1): the start-up and model load cancel out.
per_image() { python3 -c "import sys; t, o, n = map(float, sys.argv[1:]); print(f'{(t - o) / (n - 1):.2f}')" "$1" "$2" "$3"; }
declare -A timing
arm_ort_flags=(--ort-library "$arm_rt/onnxruntime/lib/libonnxruntime.so" --threads "$threads" --precision fp32)
arm_ov_flags=(--engine openvino --openvino-library "$arm_rt/openvino/lib" --threads "$threads" --precision fp32)
status=0

# ---- meta ----------------------------------------------------------------------------------
arm_version=$(arm --version 2>&1) || die "the aarch64 binary does not start under qemu: $arm_version"
say "$arm_version under $(qemu-aarch64-static --version | head -n 1)"
python3 - "$frag/meta.json" <<PY
import json, sys, platform, datetime
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
json.dump({
  "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
  "model": "$model_name",
  "arm64_binary": "$arm_version, $(stat -c %s "$arm_bin") bytes",
  "x86_binary": "$( ((have_x86)) && "$x86_bin" --version 2>/dev/null || echo absent)",
  "qemu": "$(qemu-aarch64-static --version | head -n 1), -cpu $QEMU_CPU",
  "host_cpu": cpu + ", " + str(__import__("os").cpu_count()) + " cores",
  "ort": "$(head -n 2 "$arm_rt/onnxruntime/VERSION" 2>/dev/null | tr '\n' ' ')",
  "openvino": "$(head -n 2 "$arm_rt/openvino/VERSION" 2>/dev/null | tr '\n' ' ')",
  "threads": $threads,
}, open(sys.argv[1], "w"), indent=1)
PY

# ---- 1. detect -----------------------------------------------------------------------------
images=("$shared/images/bus.jpg" "$shared/images/zidane.jpg")
while IFS= read -r f; do images+=("$f"); done < <(ls "$shared"/images/coco128/images/train2017/*.jpg | sort | head -n "$n_detect")
n_images=${#images[@]}

say "detect, ONNX Runtime aarch64, 1 image (start-up + 1 inference)"
t0=$(now); arm detect -m "$model" "${arm_ort_flags[@]}" --format jsonl "${images[0]}" > "$work/one.jsonl" 2> "$work/one.err"; t1=$(now)
timing["ort: detect 1 image, whole process (s)"]=$(elapsed "$t0" "$t1")
say "detect, ONNX Runtime aarch64, $n_images images"
t0=$(now)
if arm detect -m "$model" "${arm_ort_flags[@]}" --format jsonl "${images[@]}" > "$work/arm-ort.jsonl" 2> "$work/arm-ort.err"; then
  t1=$(now)
  timing["ort: detect $n_images images, whole process (s)"]=$(elapsed "$t0" "$t1")
  timing["ort: time per image under qemu (s)"]=$(per_image "${timing["ort: detect $n_images images, whole process (s)"]}" "${timing["ort: detect 1 image, whole process (s)"]}" "$n_images")
  other=""
  if ((have_x86)); then
    x86 detect -m "$model" --ort-library "$x86_ort" --engine ort --precision fp32 --threads "$threads" --format jsonl "${images[@]}" > "$work/x86-ort.jsonl" 2>/dev/null && other="$work/x86-ort.jsonl"
    [[ -n "$other" ]] && python3 "$here/compare.py" detect "$reference" "$other" > "$frag/detect-x86.json"
  fi
  python3 "$here/compare.py" detect "$reference" "$work/arm-ort.jsonl" $other > "$frag/detect-ort.json"
  python3 - "$frag/detect-ort.json" <<'PY' || status=1
import json, sys
d = json.load(open(sys.argv[1]))
ok = d["matched"] >= 0.99 * d["reference_boxes"] and d["extra"] <= 0.01 * d["reference_boxes"]
print(f"parity: ORT arm64: {d['matched']}/{d['reference_boxes']} matched, {d['extra']} extra, max coord diff {d['max_coord_diff_px']:.3f} px", file=sys.stderr)
sys.exit(0 if ok else 1)
PY
else
  status=1
  echo "{\"error\": $(tail -n 5 "$work/arm-ort.err" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')}" > "$frag/detect-ort.json"
  say "ORT detect failed: $(tail -n 3 "$work/arm-ort.err")"
fi

say "detect, OpenVINO aarch64 (ARM CPU plugin), $n_images images"
t0=$(now)
if [[ -n "${SKIP_OPENVINO:-}" ]]; then
  echo "skipped (SKIP_OPENVINO)" > "$frag/openvino-status.txt"
elif arm detect -m "$model" "${arm_ov_flags[@]}" --format jsonl "${images[@]}" > "$work/arm-ov.jsonl" 2> "$work/arm-ov.err"; then
  t1=$(now)
  timing["openvino: detect $n_images images, whole process (s)"]=$(elapsed "$t0" "$t1")
  t0=$(now); arm detect -m "$model" "${arm_ov_flags[@]}" --format jsonl "${images[0]}" > /dev/null 2>&1; t2=$(now)
  timing["openvino: detect 1 image, whole process (s)"]=$(elapsed "$t0" "$t2")
  timing["openvino: time per image under qemu (s)"]=$(per_image "${timing["openvino: detect $n_images images, whole process (s)"]}" "${timing["openvino: detect 1 image, whole process (s)"]}" "$n_images")
  other=""
  [[ -s "$work/x86-ort.jsonl" ]] && other="$work/x86-ort.jsonl"
  python3 "$here/compare.py" detect "$reference" "$work/arm-ov.jsonl" $other > "$frag/detect-openvino.json"
  echo "loads and runs (ARM CPU plugin); $(grep -m1 'model loaded' "$work/arm-ov.err" | sed 's/.*model loaded //')" > "$frag/openvino-status.txt"
else
  rc=$?
  { echo "exit status $rc; last lines of its log:"; tail -n 6 "$work/arm-ov.err"; } > "$frag/openvino-status.txt"
  say "OpenVINO detect failed (exit $rc): $(tail -n 3 "$work/arm-ov.err")"
fi

# ---- 2. eval on a coco128 subset -----------------------------------------------------------
ds="$work/coco-subset"
mkdir -p "$ds/images" "$ds/labels"
while IFS= read -r f; do
  b=$(basename "$f" .jpg)
  ln -s "$f" "$ds/images/$b.jpg"
  ln -s "$shared/images/coco128/labels/train2017/$b.txt" "$ds/labels/$b.txt"
done < <(ls "$shared"/images/coco128/images/train2017/*.jpg | sort | head -n "$n_eval")
eval_run() { # name runner flags...
  local name=$1 runner=$2; shift 2
  local t0 t1
  t0=$(now)
  if $runner eval --json --dataset "$ds" -m "$model" "$@" > "$work/$name.json" 2> "$work/$name.err"; then
    t1=$(now)
    cp "$work/$name.json" "$frag/$name.json"
    timing["$name: eval $n_eval images, whole process (s)"]=$(elapsed "$t0" "$t1")
    say "$name: $(python3 -c "import json; d=json.load(open('$work/$name.json')); print(f\"mAP50 {d['map50']:.4f} mAP50-95 {d['map50_95']:.4f} on {d['images']} images\")")"
  else
    local rc=$?
    echo "{\"error\": $( { echo "exit status $rc:"; tail -n 4 "$work/$name.err"; } | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')}" > "$frag/$name.json"
    say "$name failed (exit $rc)"
    return 1
  fi
}
if ((have_x86)); then
  eval_run eval-x86-ort x86 --ort-library "$x86_ort" --engine ort --precision fp32 --threads "$threads"
  [[ -e "$x86_ov" ]] && eval_run eval-x86-openvino x86 --engine openvino --openvino-library "$x86_ov" --precision fp32 --threads "$threads"
fi
eval_run eval-arm64-ort arm "${arm_ort_flags[@]}" || status=1
if [[ -s "$frag/detect-openvino.json" ]]; then
  eval_run eval-arm64-openvino arm "${arm_ov_flags[@]}"
fi
if [[ -s "$frag/eval-x86-ort.json" && -s "$frag/eval-arm64-ort.json" ]]; then
  python3 - "$frag/eval-x86-ort.json" "$frag/eval-arm64-ort.json" <<'PY' || status=1
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
if "map50" not in a or "map50" not in b:
    sys.exit("parity: eval failed, no mAP to compare")
d = max(abs(a["map50"] - b["map50"]), abs(a["map50_95"] - b["map50_95"]))
print(f"parity: eval mAP50-95 x86 {a['map50_95']:.4f} vs arm64 {b['map50_95']:.4f} (largest difference {d:.5f})", file=sys.stderr)
sys.exit(0 if d <= 0.005 else 1)
PY
fi

# ---- 4. serve + a Frigate-shaped request ---------------------------------------------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/serve"
say "serve under qemu on 127.0.0.1:$port"
t0=$(now)
( cd "$work/serve" && OSPREY_AUTH=off exec "$here/qemu-run.sh" "$arm_bin" serve -m "$model" "${arm_ort_flags[@]}" \
    --host 127.0.0.1 --port "$port" --auth off ) > "$work/serve.log" 2>&1 &
server_pid=$!
ready=0
for _ in $(seq 1 "$step_timeout"); do
  kill -0 "$server_pid" 2>/dev/null || break
  if [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/vision/detection" -X GET 2>/dev/null)" != 000 ]]; then ready=1; break; fi
  sleep 1
done
if ((ready)); then
  t1=$(now)
  timing["serve: start-up to listening under qemu (s)"]=$(elapsed "$t0" "$t1")
  # What Frigate's DeepStack detector sends: requests.post(url, files={"image": ("image.jpg",
  # jpeg, "image/jpeg")}, data={"api_key": key}); here without a key (--auth off).
  req() { curl -s -m "$step_timeout" -F "image=@$shared/images/bus.jpg;filename=image.jpg;type=image/jpeg" -F "api_key=" \
            -w '\n%{http_code} %{time_total}' "http://127.0.0.1:$port/v1/vision/detection"; }
  first=$(req); second=$(req)
  body=$(printf '%s\n' "$second" | sed '$d')
  code_time=$(printf '%s\n' "$second" | tail -n 1)
  printf '%s\n' "$body" > "$work/serve-response.json"
  timing["serve: first request, seconds (includes lazy start)"]=$(printf '%s\n' "$first" | tail -n 1 | cut -d' ' -f2)
  timing["serve: second request, seconds"]=${code_time#* }
  if [[ "${code_time%% *}" == 200 ]] && python3 "$here/compare.py" serve "$reference" bus.jpg "$work/serve-response.json" 0.4 > "$frag/serve.json"; then
    python3 - "$frag/serve.json" <<'PY' || status=1
import json, sys
d = json.load(open(sys.argv[1]))
print(f"parity: serve: success={d['success']}, {d['matched']}/{d['reference_boxes']} reference boxes (conf > 0.4), max coord diff {d['max_coord_diff_px']:.2f} px", file=sys.stderr)
sys.exit(0 if d["success"] and d["matched"] == d["reference_boxes"] == d["count"] else 1)
PY
  else
    status=1
    echo "HTTP ${code_time%% *}: $(head -c 300 "$work/serve-response.json")" > "$frag/serve-status.txt"
  fi
else
  status=1
  { echo "the server did not listen within ${step_timeout}s:"; tail -n 8 "$work/serve.log"; } > "$frag/serve-status.txt"
fi
if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; server_pid=""; fi

# ---- report --------------------------------------------------------------------------------
for k in "${!timing[@]}"; do printf '%s\t%s\n' "$k" "${timing[$k]}"; done |
  python3 -c 'import json, sys; json.dump(dict(l.rstrip("\n").split("\t", 1) for l in sys.stdin if l.strip()), open(sys.argv[1], "w"), indent=1, sort_keys=True)' "$frag/timing.json"
python3 "$here/compare.py" report "$frag" "$report_dir/report.json" "$report_dir/report.md"
cat "$report_dir/report.md"
say "report: $report_dir/report.md ($( ((status == 0)) && echo 'ONNX Runtime parity holds' || echo 'PARITY FAILED'))"
exit $status
