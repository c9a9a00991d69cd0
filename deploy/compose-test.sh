#!/usr/bin/env bash
# Tests deploy/compose.yaml with podman-compose and the local images (deploy/local-images.env):
# Osprey answers detection with Ultralytics' reference boxes, Prometheus scrapes Osprey with the
# key from the compose secret (target up) and the node exporter (target up), Redis and Mosquitto
# are reachable from Osprey's network. Published ports are free loopback ports; everything the
# test made (containers, network, volumes, the key file) is removed on exit. Grafana (profile
# "grafana") is not started: Debian has no package to build a local image from.
#
#   deploy/compose-test.sh
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=deploy/lib/testlib.sh
source "$here/lib/testlib.sh"
# shellcheck source=deploy/container/rootfs-lib.sh
source "$here/container/rootfs-lib.sh"

require_shared
command -v podman-compose >/dev/null || fail "podman-compose is not installed (apt-get install podman-compose)"
podman_env
set -a
# shellcheck source=deploy/local-images.env
source "$here/local-images.env"
set +a
podman_cmd image exists "$OSPREY_IMAGE" || "$here/container/build.sh" >/dev/null
for img in "$REDIS_IMAGE" "$MOSQUITTO_IMAGE" "$PROMETHEUS_IMAGE" "$NODE_EXPORTER_IMAGE"; do
  podman_cmd image exists "$img" || { "$here/container/services.sh" >/dev/null; break; }
done

project="osprey-compose-test-$$"
tmp=$(mktemp -d)
log_file="$tmp/compose.log"
services=(osprey redis mosquitto prometheus node-exporter)
pc() { (cd "$here" && timeout 300 podman-compose -p "$project" -f compose.yaml "$@") >>"$log_file" 2>&1; }
cleanup() {
  local rc=$?
  if ((rc != 0)); then
    say "compose log (tail):"; tail -n 40 "$log_file" >&2 || true
    for s in "${services[@]}"; do
      echo "--- $s" >&2; podman logs --tail 15 "${project}_${s}_1" >&2 2>&1 || true
    done
  fi
  pc down -v -t 10 || true
  podman volume rm -f "${project}_osprey-data" >/dev/null 2>&1 || true
  podman network rm -f "${project}_default" >/dev/null 2>&1 || true   # podman-compose 1.0 leaves it
  rm -rf "$tmp"
}
trap cleanup EXIT

export OSPREY_PORT PROMETHEUS_PORT
OSPREY_PORT=$(free_port)
PROMETHEUS_PORT=$(free_port)
export OSPREY_MODELS="$OSPREY_SHARED/models"
export OSPREY_PROMETHEUS_KEY_FILE="$tmp/osprey-prometheus.key"
export GRAFANA_ADMIN_PASSWORD_FILE="$tmp/grafana-admin-password"
: > "$GRAFANA_ADMIN_PASSWORD_FILE"

# The scrape key, made with Osprey's CLI in the stack's data volume, as docs/deploy.md says.
key=$(cd "$here" && timeout 120 podman-compose -p "$project" -f compose.yaml run --rm --no-deps osprey \
  keys create prometheus --role viewer --config /etc/osprey/osprey.toml 2>>"$log_file" \
  | grep -oE 'osk_[0-9a-f]+_[0-9a-f]+' | tail -n 1) || true
[[ -n "$key" ]] || fail "osprey keys create printed no key"
printf '%s\n' "$key" > "$OSPREY_PROMETHEUS_KEY_FILE"
chmod 0644 "$OSPREY_PROMETHEUS_KEY_FILE"
say "viewer key for Prometheus in the secret file (${key:0:16}...)"

say "podman-compose up: ${services[*]} (project $project)"
pc up -d "${services[@]}"
osprey="http://127.0.0.1:$OSPREY_PORT"
prom="http://127.0.0.1:$PROMETHEUS_PORT"
wait_http "$osprey/readyz" 120 || fail "Osprey not ready in 120 s"
match=$(check_detection "$osprey") || fail "detection: $match"
say "Osprey on $osprey: bus.jpg $match"

# Every target up, with the key (a keyless scrape would be 401 -> down).
deadline=$((SECONDS + 90))
targets=""
while ((SECONDS < deadline)); do
  targets=$(curl -s --max-time 5 "$prom/api/v1/targets" | python3 -c '
import json, sys
d = json.load(sys.stdin)["data"]["activeTargets"]
print(" ".join("%s=%s%s" % (t["labels"]["job"], t["health"], "(" + t["lastError"] + ")" if t["lastError"] else "") for t in sorted(d, key=lambda t: t["labels"]["job"])))
' 2>/dev/null || true)
  [[ "$targets" == "node=up osprey=up" ]] && break
  sleep 3
done
say "Prometheus targets: ${targets:-none}"
[[ "$targets" == "node=up osprey=up" ]] || fail "Prometheus targets not all up"
q() { curl -s --max-time 5 --data-urlencode "query=$1" "$prom/api/v1/query" | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "none")'; }
say "osprey_build_info: $(q 'count(osprey_build_info)') series; node_memory_MemTotal_bytes: $(q 'max(node_memory_MemTotal_bytes)'); alert rules loaded: $(curl -s "$prom/api/v1/rules" | python3 -c 'import json,sys; print(sum(len(g["rules"]) for g in json.load(sys.stdin)["data"]["groups"]))')"

# Every service running; Redis answers by its service name on the compose network.
running=$(podman ps --filter "label=io.podman.compose.project=$project" --format '{{.Names}} {{.Status}}' | sed "s/^${project}_//" | sort)
say "containers: $(tr '\n' ';' <<<"$running")"
for s in "${services[@]}"; do grep -q "^${s}_1 Up" <<<"$running" || fail "$s is not running"; done
pong=$(podman_cmd run --rm --network "${project}_default" "$REDIS_IMAGE" redis-cli -h redis ping 2>/dev/null || true)
say "redis-cli -h redis ping (from the compose network): ${pong:-no answer}"
[[ "$pong" == PONG ]] || fail "redis does not answer on the compose network"
say "PASS: compose stack up; detection matches; Prometheus scrapes osprey (with the secret key) and node-exporter"
