#!/usr/bin/env bash
# The fast deployment checks (`make deploy-smoke`, well under a minute; no network, podman or
# debootstrap): the Debian package is built from a binary (uncompressed) and its control
# fields, file list, modes, conffiles and maintainer scripts are checked; the systemd unit is
# verified (`systemd-analyze verify` against the package tree) and its exposure score bounded;
# compose.yaml parses and everything it mounts exists; the Prometheus configs pass promtool;
# the health probe compiles warning-free; shellcheck passes on every script.
#
#   deploy/smoke.sh                 OSPREY_BIN=... to use another binary (default: the release
#                                   build, else a stand-in ELF for the layout checks)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
start=$SECONDS
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ok() { printf '  ok  %s\n' "$*"; }
skip() { printf '  --  %s\n' "$*"; }
fail() { printf '  FAIL %s\n' "$*" >&2; exit 1; }
arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)

# 1. The Debian package.
bin="${OSPREY_BIN:-}"
if [[ -z "$bin" ]]; then
  if [[ -x "$repo/target/release/osprey" ]]; then bin="$repo/target/release/osprey"
  else bin=/bin/true; skip "no target/release/osprey: /bin/true stands in for the binary (layout checks only)"; fi
fi
ov=""
ls "$repo"/runtime/openvino/lib/libopenvino_c.so* >/dev/null 2>&1 || ov=none
[[ -f "$repo/runtime/onnxruntime/lib/libonnxruntime.so" ]] || fail "no ONNX Runtime in runtime/onnxruntime/lib (make provision)"
deb=$(OSPREY_BIN="$bin" OV_LIB_DIR="${ov:-${OV_LIB_DIR:-}}" DEB_OUT="$tmp" DEB_WORK="$tmp/work" DEB_COMPRESS=none \
  DEB_VERSION=0.0.0-1 "$here/debian/build.sh" "$arch" 2>"$tmp/build.log") || { cat "$tmp/build.log" >&2; fail "debian/build.sh"; }
field() { dpkg-deb -f "$deb" "$1"; }
[[ "$(field Package)" == osprey && "$(field Architecture)" == "$arch" && "$(field Version)" == 0.0.0-1 ]] || fail "control: $(field Package) $(field Version) $(field Architecture)"
depends=$(field Depends)
for d in adduser ca-certificates libc6; do [[ "$depends" == *"$d"* ]] || fail "Depends lacks $d: $depends"; done
if [[ "$bin" != /bin/true ]]; then
  for d in libavcodec59 libavformat59 libswscale6 libturbojpeg0 libstdc++6; do
    [[ "$depends" == *"$d"* ]] || fail "Depends lacks $d: $depends"
  done
fi
ok "control: osprey $(field Version) $arch, Depends: $depends"
dpkg-deb -c "$deb" | awk '{ n = $6; sub(/^\.\//, "/", n); sub(/\/$/, "", n); l = $1 " " $2 " " n; if ($7 != "") l = l " " $7 " " $8; print l }' > "$tmp/list"
want() {  # MODE OWNER PATH [-> TARGET]
  grep -qxF -- "$*" "$tmp/list" || { grep -F -- " $3" "$tmp/list" >&2 || true; fail "package entry '$*' missing"; }
}
want -rwxr-xr-x root/root /usr/lib/osprey/osprey
want lrwxrwxrwx root/root /usr/bin/osprey "->" ../lib/osprey/osprey
want drwxr-x--- root/root /etc/osprey
want -rw-r----- root/root /etc/osprey/osprey.toml
want -rw-r--r-- root/root /usr/lib/systemd/system/osprey.service
want -rw-r--r-- root/root /usr/share/doc/osprey/copyright
want -rw-r--r-- root/root /usr/share/doc/osprey/changelog.Debian.gz
want -rw-r--r-- root/root /usr/share/doc/osprey/deploy.md
grep -q ' /usr/lib/osprey/libonnxruntime.so.1 -> ' "$tmp/list" || fail "libonnxruntime.so.1 missing"
[[ -n "$ov" ]] || grep -q ' /usr/lib/osprey/libopenvino_c.so' "$tmp/list" || fail "OpenVINO missing"
bad=$(awk '$2 != "root/root" || $1 ~ /^-.....(..w|.w.)/' "$tmp/list")
[[ -z "$bad" ]] || fail "entries not root-owned or writable by group/others: $bad"
! grep -q ' /var/' "$tmp/list" || fail "the package ships files under /var (the postinst makes /var/lib/osprey)"
ok "files: $(wc -l <"$tmp/list") entries, modes and owners as expected, nothing under /var"
ctl="$tmp/control"; dpkg-deb -e "$deb" "$ctl"
[[ "$(cat "$ctl/conffiles")" == /etc/osprey/osprey.toml ]] || fail "conffiles: $(cat "$ctl/conffiles")"
for s in postinst prerm postrm; do
  [[ -x "$ctl/$s" ]] || fail "$s is not executable"
  sh -n "$ctl/$s" || fail "$s: syntax"
done
grep -q 'adduser --system' "$ctl/postinst" && grep -q 'install -d -m 0750 -o osprey -g osprey /var/lib/osprey' "$ctl/postinst" \
  || fail "postinst does not create the user and /var/lib/osprey"
grep -q 'OSPREY_PURGE_DATA' "$ctl/postrm" && grep -q 'rm -rf /etc/osprey' "$ctl/postrm" || fail "postrm purge handling"
(cd "$tmp/work"/osprey_*/ && md5sum --quiet -c DEBIAN/md5sums) || fail "md5sums"
ok "conffiles, maintainer scripts (sh -n), md5sums"

# 2. The systemd unit, against the package tree (plus the host's targets).
if command -v systemd-analyze >/dev/null; then
  root="$tmp/root"
  mkdir -p "$root/usr/lib/systemd/system"
  cp -a "$tmp/work"/osprey_*/{usr,etc} "$root/"
  cp -a /usr/lib/systemd/system/*.target /usr/lib/systemd/system/*.slice "$root/usr/lib/systemd/system/" 2>/dev/null || true
  out=$(systemd-analyze verify --root="$root" "$root/usr/lib/systemd/system/osprey.service" 2>&1) || fail "systemd-analyze verify: $out"
  [[ -z "$out" ]] || fail "systemd-analyze verify: $out"
  ok "systemd-analyze verify osprey.service: clean"
  if exposure=$(systemd-analyze security --offline=yes --root="$root" osprey.service 2>/dev/null | sed -n 's/.*Overall exposure level for osprey.service: \([0-9.]*\).*/\1/p') && [[ -n "$exposure" ]]; then
    awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }' || fail "exposure $exposure > 2.0: a hardening line was lost"
    ok "systemd-analyze security --offline: exposure $exposure (<= 2.0)"
  else
    skip "systemd-analyze security --offline not supported here"
  fi
  for k in NoNewPrivileges=yes ProtectSystem=strict ReadWritePaths=/var/lib/osprey ProtectHome=yes PrivateTmp=yes \
    PrivateDevices=yes CapabilityBoundingSet= AmbientCapabilities= RestrictAddressFamilies= SystemCallFilter=@system-service \
    Restart=on-failure LimitNOFILE= User=osprey; do
    grep -q "^$k" "$here/debian/osprey.service" || fail "osprey.service lacks $k"
  done
  ok "osprey.service has every required hardening line"
else
  skip "systemd-analyze not installed (apt-get install systemd)"
fi

# 3. Compose and the Prometheus configs.
if python3 -c 'import yaml' 2>/dev/null; then
  python3 - "$here" <<'PY' || fail "compose.yaml"
import os, re, sys, yaml
here = sys.argv[1]
c = yaml.safe_load(open(os.path.join(here, "compose.yaml")))
want = {"osprey", "redis", "mosquitto", "prometheus", "node-exporter", "grafana"}
assert want <= set(c["services"]), f"services: {sorted(c['services'])}"
assert c["services"]["grafana"].get("profiles") == ["grafana"], "grafana is not behind a profile"
env = dict(l.split("=", 1) for l in open(os.path.join(here, "local-images.env")).read().split("\n") if l and not l.startswith("#"))
for name, s in c["services"].items():
    m = re.fullmatch(r"\$\{(\w+):-([^}]+)\}", s["image"])
    assert m, f"{name}: image {s['image']} is not ${{VAR:-upstream}}"
    assert name == "grafana" or m.group(1) in env, f"{name}: {m.group(1)} not in local-images.env"
    for v in s.get("volumes", []):
        src = v.split(":")[0]
        if src.startswith("./"):
            assert os.path.exists(os.path.join(here, src)), f"{name}: {src} does not exist"
    for sec in s.get("secrets", []):
        assert sec in c["secrets"], f"{name}: undeclared secret {sec}"
for v in c["volumes"]:
    assert any(v + ":" in x for s in c["services"].values() for x in s.get("volumes", [])), f"unused volume {v}"
print(f"  ok  compose.yaml: {len(c['services'])} services, images swappable, mounts exist, secrets declared")
PY
else
  skip "python3-yaml missing: compose.yaml not parsed"
fi
if command -v promtool >/dev/null; then
  sed 's#/run/secrets/osprey_prometheus_key#'"$tmp"'/key#; s#/etc/prometheus/alerts.yml#'"$repo"'/deploy/prometheus/alerts.yml#' \
    "$here/compose/prometheus.yml" > "$tmp/prometheus.yml"
  echo key > "$tmp/key"
  promtool check config "$tmp/prometheus.yml" >"$tmp/promtool.log" 2>&1 || { cat "$tmp/promtool.log" >&2; fail "promtool check config compose/prometheus.yml"; }
  ok "promtool check config deploy/compose/prometheus.yml (with its rules)"
else
  skip "promtool missing"
fi

# 4. The probe and the scripts.
if command -v cc >/dev/null; then
  cc -Wall -Wextra -Werror -Os -o "$tmp/probe" "$here/container/probe.c" || fail "probe.c"
  OSPREY_LISTEN=127.0.0.1:1 "$tmp/probe" 2>/dev/null && fail "the probe succeeded with nothing listening"
  ok "probe.c compiles warning-free; fails when nothing listens"
fi
# The deployment scripts of this suite (deploy/arm64 has its own).
mapfile -t scripts < <(find "$here" "$here"/container "$here"/debian "$here"/lib -maxdepth 1 -name '*.sh' -type f | sort)
if command -v shellcheck >/dev/null; then
  shellcheck -S warning -x -P "$repo" "${scripts[@]}" || fail "shellcheck"
  shellcheck -S warning -s sh "$here"/debian/scripts/* || fail "shellcheck (maintainer scripts)"
  ok "shellcheck: ${#scripts[@]} scripts and the maintainer scripts"
else
  for s in "${scripts[@]}"; do bash -n "$s" || fail "bash -n $s"; done
  skip "shellcheck missing: bash -n only"
fi
echo "deploy-smoke: passed in $((SECONDS - start)) s"
