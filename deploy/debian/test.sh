#!/usr/bin/env bash
# Tests the osprey Debian package in a fresh Debian 12 chroot (root; docs/deploy.md):
#
#   deploy/debian/test.sh [OSPREY_DEB]      (default: deploy/debian/build.sh builds it from the tree)
#
#  1. install with apt (Depends resolved from Debian's mirror); files, modes, the osprey user,
#     /var/lib/osprey 0750; `systemd-analyze verify` and `systemd-analyze security --offline`
#     on the unit inside the chroot;
#  2. the unit's ExecStart, run as the osprey user with the unit's privilege limits that work
#     without systemd as PID 1 (setpriv: no new privileges, empty bounding and inheritable
#     capability sets; UMask, LimitNOFILE, WorkingDirectory): readiness, bus.jpg against the
#     reference boxes, a key made with the CLI, /metrics with and without it;
#     and `osprey detect` under the kernel's memory-deny-write-execute with each engine (why the
#     unit has no MemoryDenyWriteExecute=yes: OpenVINO JIT-compiles);
#  3. upgrade to a newer version whose packaged osprey.toml changed, after a local edit: the
#     edit is kept (the new file lands in osprey.toml.dpkg-dist), the data is untouched;
#  4. apt-get remove (config and data stay), apt-get purge (/etc/osprey goes, /var/lib/osprey
#     and the user stay), and purge with OSPREY_PURGE_DATA=yes (the data goes too).
#
# The Debian 12 minbase tree is made once with debootstrap and kept as a tarball in
# DEPLOY_CACHE (default target/deploy/cache). Every mount and process is undone on exit.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=deploy/lib/testlib.sh
source "$here/../lib/testlib.sh"

require_shared
[[ $(id -u) == 0 ]] || fail "run as root (debootstrap, chroot)"
command -v debootstrap >/dev/null || fail "debootstrap is not installed (apt-get install debootstrap)"
arch=$(dpkg --print-architecture)
cache="${DEPLOY_CACHE:-$(realpath -m "$repo/target/deploy/cache")}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
mkdir -p "$cache"

# Packages: the one under test (version V) and an upgrade (V+1) whose conffile differs.
deb1="${1:-}"
if [[ -z "$deb1" ]]; then
  say "building the package from the tree (deploy/debian/build.sh $arch)"
  deb1=$("$here/build.sh" "$arch" 2>/dev/null)
fi
v1=$(dpkg-deb -f "$deb1" Version)
v2="${v1%-*}-$(( ${v1##*-} + 1 ))"
tmp=$(mktemp -d)
sed 's/^min_free_bytes = .*/min_free_bytes = 20_000_000_000   # changed in the upgrade/' "$here/osprey.toml" > "$tmp/osprey.toml"
say "building the upgrade package $v2 (its osprey.toml differs)"
deb2=$(DEB_VERSION="$v2" DEB_CONFIG="$tmp/osprey.toml" DEB_OUT="$tmp" DEB_COMPRESS=gzip \
  DEB_WORK="$tmp/work" "$here/build.sh" "$arch" 2>/dev/null)

# The chroot.
base="$cache/bookworm-minbase-$arch.tar.gz"
if [[ ! -s "$base" ]]; then
  say "debootstrap (once): Debian 12 minbase -> $base"
  rm -rf "$cache/debootstrap-$arch"
  timeout 900 debootstrap --variant=minbase --arch="$arch" bookworm "$cache/debootstrap-$arch" "$mirror" >"$tmp/debootstrap.log" 2>&1 \
    || { tail -20 "$tmp/debootstrap.log" >&2; fail "debootstrap failed"; }
  tar --numeric-owner -C "$cache/debootstrap-$arch" -czf "$base.part" . && mv "$base.part" "$base"
  rm -rf "$cache/debootstrap-$arch"
fi
root="$tmp/root"
mkdir -p "$root"
tar --numeric-owner -C "$root" -xzf "$base"
server_pid=""
cleanup() {
  local rc=$?
  [[ -z "$server_pid" ]] || { kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true; }
  # Anything else still running inside the chroot (started by this test) goes too.
  local p
  for p in /proc/[0-9]*; do
    [[ "$(readlink "$p/root" 2>/dev/null)" == "$root" ]] && kill -9 "${p#/proc/}" 2>/dev/null || true
  done
  for m in dev/pts dev sys proc; do
    if mountpoint -q "$root/$m" 2>/dev/null; then umount -R "$root/$m" 2>/dev/null || umount -R -l "$root/$m"; fi
  done
  if grep -q " $root/" /proc/mounts; then
    say "mounts left under $root: not removing it"
  else
    rm -rf "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys" && mount --make-rslave "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
cp /etc/resolv.conf "$root/etc/resolv.conf"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }
apt_in() { timeout 600 chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 ${OSPREY_PURGE_DATA:+OSPREY_PURGE_DATA=$OSPREY_PURGE_DATA} apt-get -q -y "$@"; }

mkdir -p "$root/tmp/debs"
cp "$deb1" "$deb2" "$root/tmp/debs/"
say "apt-get update; install systemd (for systemd-analyze) and osprey $v1 with apt"
apt_in update >"$tmp/apt.log" 2>&1 || { tail "$tmp/apt.log" >&2; fail "apt-get update"; }
apt_in install --no-install-recommends systemd >>"$tmp/apt.log" 2>&1 || { tail "$tmp/apt.log" >&2; fail "installing systemd"; }
apt_in install --no-install-recommends "/tmp/debs/$(basename "$deb1")" >"$tmp/install.log" 2>&1 \
  || { tail -30 "$tmp/install.log" >&2; fail "apt-get install osprey"; }
pulled=$(sed -n 's/^The following NEW packages will be installed:$/&/p;/^The following NEW/,/^[0-9]* upgraded/p' "$tmp/install.log" | grep '^ ' | wc -w)
say "installed osprey $v1 and $((pulled - 1)) dependencies; the postinst said: $(grep -A1 '^osprey: installed' "$tmp/install.log" | tr -s ' \n' ' ' | cut -c1-160)..."

# Files, modes, user.
stat_of() { in_root stat -c '%a %U:%G' "$1"; }
check_stat() {
  local got; got=$(stat_of "$1")
  [[ "$got" == "$2" ]] || fail "$1 is $got, expected $2"
  say "  $1: $got"
}
say "files and permissions:"
check_stat /usr/lib/osprey/osprey "755 root:root"
[[ "$(in_root readlink /usr/bin/osprey)" == ../lib/osprey/osprey ]] || fail "/usr/bin/osprey is not the link"
check_stat /etc/osprey "750 root:osprey"
check_stat /etc/osprey/osprey.toml "640 root:osprey"
check_stat /var/lib/osprey "750 osprey:osprey"
check_stat /var/lib/osprey/models "750 osprey:osprey"
check_stat /usr/lib/systemd/system/osprey.service "644 root:root"
in_root test -f /usr/lib/osprey/libonnxruntime.so.1 || fail "ONNX Runtime missing"
in_root ls /usr/lib/osprey/ | grep -q '^libopenvino_c.so' || fail "OpenVINO missing"
[[ "$(in_root dpkg-query -W -f='${Conffiles}' osprey | awk '{print $1}' | tr -d '\n')" == /etc/osprey/osprey.toml ]] || fail "conffile list"
user=$(in_root getent passwd osprey) || fail "no osprey user"
uid=$(cut -d: -f3 <<<"$user")
((uid < 1000)) || fail "osprey is not a system user: $user"
say "  user: $user"
in_root dpkg -s osprey | grep -q '^Status: install ok installed' || fail "dpkg status"
say "  dpkg-query -L osprey: $(in_root dpkg-query -L osprey | wc -l) paths; osprey --version: $(in_root /usr/bin/osprey --version)"

say "systemd-analyze verify /usr/lib/systemd/system/osprey.service (in the chroot):"
if ! in_root systemd-analyze verify /usr/lib/systemd/system/osprey.service >"$tmp/verify.log" 2>&1; then
  cat "$tmp/verify.log" >&2; fail "systemd-analyze verify"
fi
say "  clean ($(wc -l <"$tmp/verify.log") lines of output)"
sed 's/^/    /' "$tmp/verify.log" >&2
exposure=$(in_root systemd-analyze security --offline=yes /usr/lib/systemd/system/osprey.service 2>/dev/null | tail -n 1 || true)
say "  systemd-analyze security --offline: ${exposure:-not available}"

# The service's command line, as the osprey user with the unit's privilege limits.
exec_start=$(sed -n 's/^ExecStart=//p' "$root/usr/lib/systemd/system/osprey.service")
workdir=$(sed -n 's/^WorkingDirectory=//p' "$root/usr/lib/systemd/system/osprey.service")
umask_v=$(sed -n 's/^UMask=//p' "$root/usr/lib/systemd/system/osprey.service")
nofile=$(sed -n 's/^LimitNOFILE=//p' "$root/usr/lib/systemd/system/osprey.service")
install -m 0640 -g "$(stat -c %g "$root/var/lib/osprey")" "$OSPREY_SHARED/models/yolo11n-320.onnx" "$root/var/lib/osprey/models/yolo11n-320.onnx"
port=$(free_port)
say "running the unit's ExecStart as osprey: $exec_start (OSPREY_LISTEN=127.0.0.1:$port)"
# shellcheck disable=SC2086
setsid chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin LANG=C.UTF-8 OSPREY_LISTEN="127.0.0.1:$port" \
  /bin/sh -c "{ ulimit -n $nofile 2>/dev/null || ulimit -n \$(ulimit -Hn); } && umask $umask_v && cd $workdir && exec setpriv --reuid=osprey --regid=osprey --init-groups \
    --no-new-privs --bounding-set=-all --inh-caps=-all -- $exec_start" >"$tmp/server.log" 2>&1 &
server_pid=$!
base_url="http://127.0.0.1:$port"
deadline=$((SECONDS + 120))
until [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$base_url/readyz")" == 200 ]]; do
  kill -0 "$server_pid" 2>/dev/null || { tail -20 "$tmp/server.log" >&2; fail "the server exited"; }
  ((SECONDS < deadline)) || { tail -20 "$tmp/server.log" >&2; fail "not ready in 120 s"; }
  sleep 1
done
match=$(check_detection "$base_url") || fail "detection: $match"
say "  bus.jpg: $match"
grep -q 'created the first user' "$tmp/server.log" && say "  first start created the user admin (password in the journal)"
key=$(in_root setpriv --reuid=osprey --regid=osprey --init-groups osprey keys create prometheus --role viewer \
  --config /etc/osprey/osprey.toml 2>/dev/null | grep -oE 'osk_[0-9a-f]+_[0-9a-f]+' | tail -n 1) || true
[[ -n "$key" ]] || fail "osprey keys create (as osprey) printed no key"
m_no=$(curl -s -o /dev/null -w '%{http_code}' "$base_url/metrics")
m_key=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" "$base_url/metrics")
[[ "$m_no" == 401 && "$m_key" == 200 ]] || fail "/metrics: $m_no without a key, $m_key with"
say "  /metrics: $m_no without a key, $m_key with a viewer key made by 'osprey keys create' as osprey"
spid=$(pgrep -f "osprey serve --config /etc/osprey/osprey.toml" | head -n 1)
suid=$(awk '/^Uid:/ {print $2}' "/proc/$spid/status")
say "  process $spid: uid $suid ($(in_root getent passwd "$suid" | cut -d: -f1) in the chroot); $(grep -E '^(NoNewPrivs|CapBnd|CapAmb)' "/proc/$spid/status" | tr -s '\t\n' ' ')open files limit $(awk '/Max open files/ {print $4}' "/proc/$spid/limits"), RSS $(awk '/VmRSS/ {print $2 $3}' "/proc/$spid/status")"
say "  data written: $(in_root sh -c 'cd /var/lib/osprey && stat -c "%n %a %U" -- *' | tr '\n' ';')"
kill -TERM "$(pgrep -f "osprey serve --config /etc/osprey/osprey.toml" | head -n 1)" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true
server_pid=""
say "  stopped with SIGTERM"

# MemoryDenyWriteExecute: the unit leaves it off because OpenVINO JIT-compiles. Check that this
# is still so, with the kernel's own MDWE (prctl PR_SET_MDWE, what systemd >= 253 uses; needs
# Linux >= 6.3), inherited by the chroot'ed osprey.
cp "$OSPREY_SHARED/images/bus.jpg" "$root/tmp/bus.jpg"
chmod 0644 "$root/tmp/bus.jpg"
mdwe_detect() {
  python3 "$here/mdwe-run.py" chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin setpriv --reuid=osprey --regid=osprey \
    --init-groups --no-new-privs -- osprey detect --engine "$1" --model /var/lib/osprey/models/yolo11n-320.onnx /tmp/bus.jpg
}
if python3 "$here/mdwe-run.py" true 2>/dev/null; then
  mdwe_ort=$(mdwe_detect ort 2>&1 | grep -o '"success":true' | head -n 1 || true)
  mdwe_ov=$(mdwe_detect openvino 2>&1 | grep -o '"success":true\|can.t protect' | head -n 1 || true)
  say "MemoryDenyWriteExecute (kernel MDWE): ort -> ${mdwe_ort:-failed}; openvino -> ${mdwe_ov:-failed}"
  [[ "$mdwe_ort" == '"success":true' ]] || fail "ONNX Runtime no longer works under MemoryDenyWriteExecute"
  [[ "$mdwe_ov" == '"success":true' ]] && say "  OpenVINO now works under it: MemoryDenyWriteExecute=yes could be added to the unit"
else
  say "MemoryDenyWriteExecute: not checked (the kernel has no PR_SET_MDWE, Linux < 6.3)"
fi

# Upgrade with a locally edited conffile (and a changed packaged one).
echo "# local edit by the administrator" >> "$root/etc/osprey/osprey.toml"
local_sum=$(md5sum < "$root/etc/osprey/osprey.toml")
say "upgrade $v1 -> $v2 (packaged osprey.toml changed, local copy edited; --force-confdef --force-confold as unattended upgrades do)"
apt_in -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install "/tmp/debs/$(basename "$deb2")" >"$tmp/upgrade.log" 2>&1 \
  || { tail -20 "$tmp/upgrade.log" >&2; fail "upgrade"; }
[[ "$(in_root dpkg-query -W -f='${Version}' osprey)" == "$v2" ]] || fail "version after the upgrade"
[[ "$(md5sum < "$root/etc/osprey/osprey.toml")" == "$local_sum" ]] || fail "the local osprey.toml was replaced"
[[ -f "$root/etc/osprey/osprey.toml.dpkg-dist" ]] || fail "no osprey.toml.dpkg-dist with the new packaged file"
check_stat /etc/osprey/osprey.toml "640 root:osprey"
[[ -f "$root/var/lib/osprey/auth.sqlite" ]] || fail "data lost in the upgrade"
say "  now $v2; local osprey.toml kept, the new one is osprey.toml.dpkg-dist; data kept; user $(in_root id osprey)"

say "apt-get remove osprey"
apt_in remove osprey >"$tmp/remove.log" 2>&1 || { tail "$tmp/remove.log" >&2; fail "remove"; }
[[ ! -e "$root/usr/lib/osprey/osprey" ]] || fail "the binary is still there after remove"
[[ -f "$root/etc/osprey/osprey.toml" && -f "$root/var/lib/osprey/auth.sqlite" ]] || fail "remove took config or data"
say "  status $(in_root dpkg-query -W -f='${db:Status-Abbrev}' osprey); /etc/osprey and /var/lib/osprey kept"

say "apt-get purge osprey"
apt_in purge osprey >"$tmp/purge.log" 2>&1 || { tail "$tmp/purge.log" >&2; fail "purge"; }
[[ ! -e "$root/etc/osprey" ]] || fail "/etc/osprey is still there after purge"
[[ -f "$root/var/lib/osprey/auth.sqlite" ]] || fail "purge without OSPREY_PURGE_DATA removed the data"
in_root getent passwd osprey >/dev/null || fail "purge removed the user"
say "  /etc/osprey removed; /var/lib/osprey kept ($(du -sh "$root/var/lib/osprey" | cut -f1)); user osprey kept; $(grep -o 'osprey: kept.*' "$tmp/purge.log" | head -n 1)"

say "install $v2 again, then OSPREY_PURGE_DATA=yes apt-get purge osprey"
apt_in install "/tmp/debs/$(basename "$deb2")" >"$tmp/reinstall.log" 2>&1 || { tail "$tmp/reinstall.log" >&2; fail "reinstall"; }
OSPREY_PURGE_DATA=yes apt_in purge osprey >"$tmp/purge2.log" 2>&1 || { tail "$tmp/purge2.log" >&2; fail "purge with data"; }
[[ ! -e "$root/var/lib/osprey" && ! -e "$root/etc/osprey" ]] || fail "OSPREY_PURGE_DATA=yes left data"
say "  /etc/osprey and /var/lib/osprey removed"
say "PASS: $(basename "$deb1") ($(du -h "$deb1" | cut -f1)): install, service command line, upgrade with a kept conffile, remove, purge"
