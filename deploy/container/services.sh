#!/usr/bin/env bash
# Builds small local images of the compose stack's other services from Debian 12 packages, for
# machines that cannot pull from a registry (docs/deploy.md, "Compose"):
#
#   deploy/container/services.sh [amd64|arm64] [SERVICE...]
#
#   localhost/osprey-redis:bookworm          redis-server, redis-cli (uid 999,   /data)
#   localhost/osprey-mosquitto:bookworm      mosquitto               (uid 1883,  /mosquitto/data)
#   localhost/osprey-prometheus:bookworm     prometheus              (nobody,    /prometheus)
#   localhost/osprey-node-exporter:bookworm  prometheus-node-exporter (nobody)
#
# Each is FROM scratch: the program, the shared libraries it needs (rootfs-lib.sh), CA
# certificates and time zones; entry points and users match the upstream images, so the same
# compose.yaml commands work with either (deploy/local-images.env selects these).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=deploy/container/rootfs-lib.sh
source "$here/rootfs-lib.sh"

arch="${1:-${ARCH:-amd64}}"
shift || true
deb_triplet "$arch" >/dev/null
services=("$@")
((${#services[@]})) || services=(redis mosquitto prometheus node-exporter)
command -v podman >/dev/null || die "podman is not installed (apt-get install podman)"

# build_service NAME "PKGS" "PROGRAMS" UID:GID "DIRS" "CONTAINERFILE LINES"
build_service() {
  local name=$1 pkgs=$2 programs=$3 owner=$4 dirs=$5 config=$6
  local work="$DEPLOY_CACHE/service-$name-$arch" unpacked="$DEPLOY_CACHE/unpacked-$name-$arch"
  local image="localhost/osprey-$name:bookworm"
  log "$name: resolving $pkgs for $arch"
  local -a debs
  # shellcheck disable=SC2086
  mapfile -t debs < <(deb_fetch "$arch" $pkgs ca-certificates tzdata base-files)
  deb_unpack "$unpacked" "${debs[@]}"
  rm -rf "$work"
  mkdir -p "$work/rootfs"
  ROOTFS_PKGS=()
  base_rootfs "$unpacked" "$work/rootfs"
  local uid=${owner%%:*} p d
  [[ "$uid" == 65534 ]] || add_user "$work/rootfs" "$name" "$uid" /nonexistent
  local -a elves=()
  for p in $programs; do
    copy_from_unpacked "$unpacked" "$p" "$work/rootfs"
    elves+=("$work/rootfs/$(resolve_in "$work/rootfs" "$(usr_path "$p")")")
  done
  copy_closure "$unpacked" "$work/rootfs" "$arch" "${elves[@]}"
  copy_copyrights "$unpacked" "$work/rootfs"
  for d in $dirs; do
    install -d -m 0750 -o "${owner%%:*}" -g "${owner##*:}" "$work/rootfs/$d"
  done
  tar --numeric-owner --sort=name --mtime=@0 -C "$work/rootfs" -cf "$work/rootfs.tar" .
  printf 'FROM scratch\nADD rootfs.tar /\nENV PATH=/usr/bin:/usr/sbin TZ=Etc/UTC\nLABEL org.opencontainers.image.description="%s from Debian 12 packages, for the Osprey compose stack"\n%b\n' \
    "$name" "$config" > "$work/Containerfile"
  local old_id new_id
  old_id=$(podman_cmd image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
  podman_cmd build --quiet --format docker --platform "linux/$arch" -t "$image" -f "$work/Containerfile" "$work" >/dev/null
  new_id=$(podman_cmd image inspect --format '{{.Id}}' "$image")
  [[ -z "$old_id" || "$old_id" == "$new_id" ]] || podman_cmd rmi "$old_id" >/dev/null 2>&1 || true
  log "$name: built $image ($(numfmt --to=iec --suffix=B "$(podman_cmd image inspect --format '{{.Size}}' "$image")"))"
}

for s in "${services[@]}"; do
  case "$s" in
    redis)
      build_service redis redis-server "usr/bin/redis-server usr/bin/redis-cli" 999:999 data \
        'USER 999:999\nWORKDIR /data\nVOLUME ["/data"]\nEXPOSE 6379\nCMD ["redis-server", "--protected-mode", "no"]' ;;
    mosquitto)
      build_service mosquitto mosquitto "usr/sbin/mosquitto" 1883:1883 "mosquitto/data mosquitto/config mosquitto/log" \
        'USER 1883:1883\nVOLUME ["/mosquitto/data"]\nEXPOSE 1883\nCMD ["/usr/sbin/mosquitto", "-c", "/mosquitto/config/mosquitto.conf"]' ;;
    prometheus)
      build_service prometheus prometheus "usr/bin/prometheus usr/bin/promtool" 65534:65534 prometheus \
        'USER 65534:65534\nWORKDIR /prometheus\nVOLUME ["/prometheus"]\nEXPOSE 9090\nENTRYPOINT ["/usr/bin/prometheus"]\nCMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]' ;;
    node-exporter)
      build_service node-exporter prometheus-node-exporter "usr/bin/prometheus-node-exporter" 65534:65534 "" \
        'USER 65534:65534\nEXPOSE 9100\nENTRYPOINT ["/usr/bin/prometheus-node-exporter"]' ;;
    *) die "unknown service '$s' (redis, mosquitto, prometheus, node-exporter)" ;;
  esac
done
