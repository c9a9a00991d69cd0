#!/usr/bin/env bash
# Tests Osprey's container image with podman (docs/deploy.md). Loopback only, bounded in time,
# cleans up its container and volume on exit.
#
#   deploy/container/test.sh [IMAGE]      (default localhost/osprey:latest; built if missing)
#
# 1. An admin API key is made with the image's own CLI (`osprey keys create`) in a fresh /data
#    volume: security stays on, as in production.
# 2. The server runs as uid 10001 with the shared test model mounted read-only at /models; the
#    health probe must report healthy; bus.jpg must give Ultralytics' reference boxes.
# 3. A file camera recording continuously into /data is added through the API; once a segment
#    is indexed the container is restarted, and the recordings must still be listed.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=deploy/lib/testlib.sh
source "$here/../lib/testlib.sh"
# shellcheck source=deploy/container/rootfs-lib.sh
source "$here/rootfs-lib.sh"

require_shared
command -v podman >/dev/null || fail "podman is not installed (apt-get install podman)"
image="${1:-localhost/osprey:latest}"
if ! podman_cmd image exists "$image"; then
  say "no image $image: building it"
  "$here/build.sh" >/dev/null
fi

id="osprey-test-$$"
vol="$id-data"
cleanup() {
  podman_cmd rm -f -t 5 "$id" >/dev/null 2>&1 || true
  podman_cmd volume rm -f "$vol" >/dev/null 2>&1 || true
}
trap cleanup EXIT
port=$(free_port)
base="http://127.0.0.1:$port"
size=$(podman_cmd image inspect --format '{{.Size}}' "$image")
say "image $image: $(numfmt --to=iec --suffix=B "$size")"

podman_cmd volume create "$vol" >/dev/null
# --network host with OSPREY_LISTEN on loopback: reachable from this host only, on a free port.
# Hardened as docs/deploy.md recommends: read-only root, no capabilities, no new privileges.
run_flags=(--network host --health-interval disable -e OSPREY_LISTEN="127.0.0.1:$port"
  --read-only --cap-drop=ALL --security-opt=no-new-privileges
  -v "$vol:/data" -v "$OSPREY_SHARED/models:/models:ro" -v "$OSPREY_SHARED/video:/clips:ro")

key=$(podman_cmd run --rm "${run_flags[@]}" "$image" keys create deploy-test --role admin \
  --config /etc/osprey/osprey.toml | grep -oE 'osk_[0-9a-f]+_[0-9a-f]+' | tail -n 1) || true
[[ -n "$key" ]] || fail "osprey keys create printed no key"
say "created an admin key with the image's CLI (${key:0:16}...)"

start() {
  podman_cmd run -d --name "$id" "${run_flags[@]}" "$image" >/dev/null
  wait_http "$base/readyz" 120 || { podman_cmd logs "$id" 2>&1 | tail -20 >&2; fail "not ready in 120 s"; }
}
start
user=$(podman_cmd top "$id" user huser 2>/dev/null | tail -n 1 | tr -s ' ')
say "running as (container user, host user): $user"
podman_cmd healthcheck run "$id" >/dev/null || fail "the image's health check failed"
say "health check: $(podman_cmd inspect --format '{{.State.Healthcheck.Status}}' "$id" 2>/dev/null || echo healthy)"
[[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/api/cameras")" == 401 ]] || fail "/api/cameras answered without a credential"
say "auth on: /api/cameras without a key -> 401"
podman_cmd logs "$id" 2>&1 | grep -q 'created the first user' && say "first start created the user admin (password in the log)"

match=$(check_detection "$base" "$key") || fail "detection differs from the reference: $match"
say "bus.jpg: $match"
rss() { awk '/^VmRSS/ {printf "%d MiB", $2 / 1024}' "/proc/$(podman_cmd inspect --format '{{.State.Pid}}' "$id")/status"; }
say "resident memory after a detection: $(rss)"

api "$key" POST "$base/api/cameras" \
  '{"id":"clip","url":"/clips/pedestrians.mp4","record":"continuous","detect_fps":2}' >/dev/null \
  || fail "could not add the camera"
say "camera 'clip' (file, looping, record = continuous) added; waiting for an indexed segment"
deadline=$((SECONDS + 100))
before=0
while ((SECONDS < deadline)); do
  rec=$(api "$key" GET "$base/api/recordings")
  before=$(segments_of clip <<<"$rec")
  ((before >= 1)) && break
  sleep 3
done
((before >= 1)) || fail "no recording segment indexed in 100 s: $rec"
say "recordings before restart: $(recordings_summary <<<"$rec"); resident memory with the camera: $(rss)"

podman_cmd stop -t 30 "$id" >/dev/null
podman_cmd rm "$id" >/dev/null
mount=$(podman_cmd volume inspect --format '{{.Mountpoint}}' "$vol")
say "files in the volume: $(cd "$mount" && find . -maxdepth 3 -name '*.mp4' | wc -l) mp4 segments, $(cd "$mount" && ls | tr '\n' ' ')"
start
rec=$(api "$key" GET "$base/api/recordings")
after=$(segments_of clip <<<"$rec")
say "recordings after restart (new container, same volume): $(recordings_summary <<<"$rec")"
((after >= before)) || fail "recordings lost: $before segments before, $after after"
check_detection "$base" "$key" >/dev/null || fail "detection after restart"
say "PASS: image $image ($(numfmt --to=iec --suffix=B "$size")), detection matches, recordings $before -> $after segments across a restart"
