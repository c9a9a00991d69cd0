# shellcheck shell=bash
# Helpers for the deployment tests (deploy/container/test.sh, deploy/compose-test.sh,
# deploy/debian/test.sh). Sourced.

DEPLOY_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DEPLOY_REPO=$(cd "$DEPLOY_LIB/../.." && pwd)
export OSPREY_SHARED="${OSPREY_SHARED:-$DEPLOY_REPO/../shared}"

say() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

# require_shared: the test data, or a loud skip (exit 0) as the project's tests do.
require_shared() {
  if [[ ! -f "$OSPREY_SHARED/models/yolo11n-320.onnx" || ! -f "$OSPREY_SHARED/images/bus.jpg" ]]; then
    say "SKIPPED: no test data in $OSPREY_SHARED (set OSPREY_SHARED)"
    exit 0
  fi
}

# free_port: an unused TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL SECONDS: waits until URL answers 200.
wait_http() {
  local url=$1 deadline=$((SECONDS + $2))
  until [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url" 2>/dev/null)" == 200 ]]; do
    ((SECONDS < deadline)) || return 1
    sleep 1
  done
}

# check_detection BASE_URL [KEY]: posts bus.jpg and compares with the reference boxes
# (yolo11n-320 at conf 0.25); prints "boxes matched X/Y ..." and fails unless all match.
check_detection() {
  local base=$1 key=${2:-} out
  local -a auth=()
  [[ -n "$key" ]] && auth=(-H "Authorization: Bearer $key")
  out=$(curl -s --max-time 30 "${auth[@]}" -F image=@"$OSPREY_SHARED/images/bus.jpg" -F min_confidence=0.25 \
    "$base/v1/vision/detection") || fail "detection request to $base failed"
  python3 "$DEPLOY_LIB/match_boxes.py" "$OSPREY_SHARED/reference/yolo11n-320.json" bus.jpg <<<"$out"
}

# api KEY METHOD URL [JSON]: an authenticated JSON request; prints the body, fails on >= 400.
api() {
  local key=$1 method=$2 url=$3 body=${4:-} code out
  out=$(mktemp)
  if [[ -n "$body" ]]; then
    code=$(curl -s -o "$out" -w '%{http_code}' --max-time 30 -X "$method" -H "Authorization: Bearer $key" \
      -H 'Content-Type: application/json' --data "$body" "$url")
  else
    code=$(curl -s -o "$out" -w '%{http_code}' --max-time 30 -X "$method" -H "Authorization: Bearer $key" "$url")
  fi
  cat "$out"; rm -f "$out"
  [[ "$code" -lt 400 ]] || { echo >&2; say "$method $url -> $code"; return 1; }
}

# recordings_summary JSON: "camera: N segments, B bytes" per camera from GET /api/recordings.
recordings_summary() {
  python3 -c 'import json,sys; d=json.load(sys.stdin); print("; ".join("%s: %d segments, %d bytes" % (c["camera"], c["segments"], c["bytes"]) for c in d.get("cameras", [])) or "none")'
}

# segments_of CAMERA JSON: the number of indexed segments of CAMERA in GET /api/recordings.
segments_of() {
  python3 -c 'import json,sys; d=json.load(sys.stdin); print(next((c["segments"] for c in d.get("cameras", []) if c["camera"] == sys.argv[1]), 0))' "$1"
}
