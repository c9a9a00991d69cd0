#!/usr/bin/env bash
# Make an INT8 OpenVINO IR of a YOLO ONNX model for `--engine openvino --precision int8`, with
# NNCF post-training quantization in a venv (.venv-quant: nncf, openvino, numpy, pillow;
# no torch, no ultralytics), then measure it with `osprey eval` and record the calibration set and
# the measured mAP in the model's rt_info.
#
# Calibration: frames of video/pedestrians.mp4 (every 3rd: 100) plus the first half (sorted by
# name: 64) of coco128; the mAP is measured on the other half (64, disjoint from calibration) and
# on all 128, next to the float model on the same engine.
#
#   tools/quantize-int8.sh [MODEL.onnx [OUT.xml]]
#   defaults: $OSPREY_SHARED/models/yolo11n-320.onnx -> runtime/models/yolo11n-320-int8.xml (ignored by git)
#   OSPREY=path of the osprey binary (default target/release/osprey, or $CARGO_TARGET_DIR's)
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${OSPREY_SHARED:-$(cd .. && pwd)/shared}"
model="${1:-$shared/models/yolo11n-320.onnx}"
out="${2:-runtime/models/$(basename "${model%.onnx}")-int8.xml}"
venv=.venv-quant
osprey="${OSPREY:-${CARGO_TARGET_DIR:-target}/release/osprey}"
if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "nncf>=2.19,<3" "openvino==2026.4.1" numpy pillow
fi
command -v ffmpeg >/dev/null || { echo "quantize-int8: ffmpeg is needed to read the video frames" >&2; exit 1; }
imgsz=$(python3 -c "import re,sys; m=re.search(r'-(\d+)(-|$)', sys.argv[1]); print(m.group(1) if m else 320)" "$(basename "${model%.onnx}")")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
coco="$shared/images/coco128"
mapfile -t all < <(cd "$coco/images/train2017" && ls *.jpg | sort)
half=$(( ${#all[@]} / 2 ))
# calib: first half; eval: second half, laid out as a YOLO dataset (images/ + labels/).
mkdir -p "$work/eval-half/images" "$work/eval-half/labels"
: > "$work/coco128-first-half.txt"
for i in "${!all[@]}"; do
  f=${all[$i]}
  if (( i < half )); then
    echo "$coco/images/train2017/$f" >> "$work/coco128-first-half.txt"
  else
    ln -s "$coco/images/train2017/$f" "$work/eval-half/images/$f"
    ln -s "$coco/labels/train2017/${f%.jpg}.txt" "$work/eval-half/labels/${f%.jpg}.txt"
  fi
done
mkdir -p "$(dirname "$out")"
"$venv/bin/python" tools/quantize_int8.py quantize --model "$model" --out "$out" --imgsz "$imgsz" \
  --calib "$shared/video/pedestrians.mp4" --calib "$work/coco128-first-half.txt"

[[ -x "$osprey" ]] || { echo "quantize-int8: wrote $out; build osprey (cargo build --release) to measure its mAP" >&2; exit 0; }
map() { # model precision dataset -> mAP50-95
  "$osprey" eval --model "$1" --engine openvino --precision "$2" --dataset "$3" --json 2>/dev/null \
    | python3 -c "import json,sys; d=json.load(sys.stdin); print(f\"{d['map50_95']:.4f} {d['map50']:.4f}\")"
}
read -r q_half q_half50 < <(map "$out" int8 "$work/eval-half")
read -r q_all q_all50 < <(map "$out" int8 "$coco")
read -r f_half f_half50 < <(map "$model" fp32 "$work/eval-half")
read -r f_all f_all50 < <(map "$model" fp32 "$coco")
"$venv/bin/python" tools/quantize_int8.py record --model "$out" --key map50_95_coco128_heldout_half --value "$q_half"
"$venv/bin/python" tools/quantize_int8.py record --model "$out" --key map50_95_coco128_all --value "$q_all"
"$venv/bin/python" tools/quantize_int8.py record --model "$out" --key map50_95_fp32_same_sets --value "$f_half $f_all"
cat <<EOF
quantize-int8: $out (imgsz $imgsz)
| set | fp32 mAP50-95 (mAP50) | int8 mAP50-95 (mAP50) | Δ |
|---|---|---|---|
| coco128 held-out half (${#all[@]}-$half images, not calibrated on) | $f_half ($f_half50) | $q_half ($q_half50) | $(python3 -c "print(f'{$q_half-$f_half:+.4f}')") |
| coco128 all ${#all[@]} | $f_all ($f_all50) | $q_all ($q_all50) | $(python3 -c "print(f'{$q_all-$f_all:+.4f}')") |
EOF
