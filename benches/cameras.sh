#!/usr/bin/env bash
# Camera capacity: the most simultaneous 480x360 @ 10 fps RTSP streams sustained in real time with
# detection at 5 fps per camera (yolo11n-320), the per-stage time split, and the HTTP latency of a
# Frigate-shaped client while they run. Needs `make build` and `make test-deps` (GStreamer RTSP).
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/common.sh
SHARED="${OSPREY_SHARED:-../shared}"
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$PWD/runtime/onnxruntime/lib/libonnxruntime.so}"
exec python3 benches/camera_capacity.py --bin target/release/osprey --shared "$SHARED" "$@"
