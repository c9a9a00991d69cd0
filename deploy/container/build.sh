#!/usr/bin/env bash
# Builds Osprey's runtime image FROM scratch with podman (docs/deploy.md, "Container image").
#
#   deploy/container/build.sh [amd64|arm64]        (or ARCH=arm64)
#
# The image holds: /usr/lib/osprey/osprey (the release binary, debug info stripped; /usr/bin/osprey
# links to it, so it finds the engines beside itself), ONNX Runtime and OpenVINO's CPU libraries
# in /usr/lib/osprey, the Debian 12 shared libraries they need (FFmpeg, libjpeg-turbo, glibc, ...:
# the NEEDED closure, see rootfs-lib.sh), CA certificates, time zones, /etc/osprey/osprey.toml,
# the health probe, the user osprey (10001) and the /data volume. No shell, no package manager.
#
# Inputs (defaults relative to the checkout):
#   OSPREY_BIN      amd64: target/release/osprey
#                   arm64: target/aarch64-unknown-linux-gnu/release/osprey (make arm64; CARGO_TARGET_DIR honoured)
#   ORT_LIB_DIR     amd64: runtime/onnxruntime/lib; arm64: runtime/aarch64/onnxruntime/lib (make arm64)
#   OV_LIB_DIR      amd64: runtime/openvino/lib;    arm64: runtime/aarch64/openvino/lib
#                   (OV_LIB_DIR=none builds without OpenVINO)
#   IMAGE           image name (default localhost/osprey); tags VERSION-ARCH and ARCH (and latest
#                   for the host's architecture)
#   DEPLOY_CACHE    downloaded packages and the unpacked tree (default target/deploy/cache)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=deploy/container/rootfs-lib.sh
source "$here/rootfs-lib.sh"

arch="${1:-${ARCH:-amd64}}"
triplet=$(deb_triplet "$arch")
image="${IMAGE:-localhost/osprey}"
case "$arch" in
  amd64)
    default_bin="$repo/target/release/osprey"
    default_ort="$repo/runtime/onnxruntime/lib"
    default_ov="$repo/runtime/openvino/lib"
    strip_tool=$(command -v x86_64-linux-gnu-strip || command -v llvm-strip || command -v strip || true)
    cc=$(command -v x86_64-linux-gnu-gcc || command -v gcc || true)
    ;;
  arm64)
    default_bin="${CARGO_TARGET_DIR:-$repo/target}/aarch64-unknown-linux-gnu/release/osprey"
    default_ort="$repo/runtime/aarch64/onnxruntime/lib"
    default_ov="$repo/runtime/aarch64/openvino/lib"
    strip_tool=$(command -v aarch64-linux-gnu-strip || command -v llvm-strip || true)
    cc=$(command -v aarch64-linux-gnu-gcc || true)
    ;;
esac
bin="${OSPREY_BIN:-$default_bin}"
ort_dir="${ORT_LIB_DIR:-$default_ort}"
ov_dir="${OV_LIB_DIR:-$default_ov}"

[[ -f "$bin" ]] || die "no $arch osprey binary at $bin (set OSPREY_BIN)"
machine=$(readelf -h "$bin" | sed -n 's/^ *Machine: *//p')
case "$arch:$machine" in
  amd64:*X86-64*|arm64:*AArch64*) ;;
  *) die "$bin is a '$machine' binary, not $arch" ;;
esac
ls "$ort_dir"/libonnxruntime.so* >/dev/null 2>&1 || die "no libonnxruntime.so* in $ort_dir (run tools/provision-ort.sh, or set ORT_LIB_DIR)"
if [[ "$ov_dir" != none ]]; then
  ls "$ov_dir"/libopenvino_c.so* >/dev/null 2>&1 || die "no libopenvino_c.so* in $ov_dir (run tools/provision-openvino.sh, set OV_LIB_DIR, or OV_LIB_DIR=none)"
fi
[[ -n "$cc" ]] || die "no C compiler for $arch to build the health probe (apt-get install gcc-aarch64-linux-gnu for arm64)"
command -v podman >/dev/null || die "podman is not installed (apt-get install podman)"

version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' "$repo/Cargo.toml")
work="$DEPLOY_CACHE/image-$arch"
rootfs="$work/rootfs"
unpacked="$DEPLOY_CACHE/unpacked-$arch"

# 1. Debian packages holding the libraries the binary links against (plus certificates and
#    time zones), resolved and downloaded for the target architecture.
packages=(libavcodec59 libavformat59 libavutil57 libswscale6 libturbojpeg0 libstdc++6 libgcc-s1 libc6
          ca-certificates tzdata base-files)
log "resolving ${packages[*]} for $arch"
mapfile -t debs < <(deb_fetch "$arch" "${packages[@]}")
((${#debs[@]})) || die "no packages resolved"
log "unpacking ${#debs[@]} packages"
deb_unpack "$unpacked" "${debs[@]}"

# 2. The root file system.
rm -rf "$work"
mkdir -p "$rootfs"
base_rootfs "$unpacked" "$rootfs"
add_user "$rootfs" osprey 10001 /data
install -d -m 0755 "$rootfs/usr/lib/osprey" "$rootfs/etc/osprey" "$rootfs/models"
install -d -m 0750 -o 10001 -g 10001 "$rootfs/data"
if [[ -n "$strip_tool" ]]; then
  "$strip_tool" --strip-debug -o "$rootfs/usr/lib/osprey/osprey" "$bin"
else
  log "no strip tool for $arch: the binary keeps its debug info"
  cp "$bin" "$rootfs/usr/lib/osprey/osprey"
fi
chmod 0755 "$rootfs/usr/lib/osprey/osprey"
ln -sfn ../lib/osprey/osprey "$rootfs/usr/bin/osprey"
cp -a "$ort_dir"/libonnxruntime*.so* "$rootfs/usr/lib/osprey/"
[[ "$ov_dir" == none ]] || cp -a "$ov_dir"/libopenvino*.so* "$ov_dir"/libtbb*.so* "$rootfs/usr/lib/osprey/"
[[ "$ov_dir" == none || ! -f "$ov_dir/plugins.xml" ]] || cp "$ov_dir/plugins.xml" "$rootfs/usr/lib/osprey/"
install -m 0644 "$here/osprey.toml" "$rootfs/etc/osprey/osprey.toml"
"$cc" -static -Os -s -Wall -Wextra -o "$rootfs/usr/lib/osprey/osprey-probe" "$here/probe.c"

mapfile -t elves < <(find "$rootfs/usr/lib/osprey" -type f \( -name 'osprey' -o -name '*.so*' \))
log "copying the shared libraries of ${#elves[@]} files"
copy_closure "$unpacked" "$rootfs" "$arch" "${elves[@]}"
# glibc loads these by name at run time (iconv for some FFmpeg paths is not needed; NSS is
# built into libc.so.6 since 2.34).
copy_copyrights "$unpacked" "$rootfs"
mkdir -p "$rootfs/usr/share/doc/osprey"
cp "$unpacked.versions" "$rootfs/usr/share/doc/osprey/debian-packages.txt"
for f in "$ort_dir/VERSION" "$ov_dir/VERSION"; do
  [[ -f "$f" ]] && cat "$f" >> "$rootfs/usr/share/doc/osprey/engines.txt"
done
[[ -e "$rootfs/usr/lib/$triplet" ]] || die "no libraries were copied"

# 3. The image.
log "building $image:$version-$arch"
cp "$here/Containerfile" "$work/Containerfile"
tar --numeric-owner --sort=name --mtime=@0 -C "$rootfs" -cf "$work/rootfs.tar" .
old_id=$(podman_cmd image inspect --format '{{.Id}}' "$image:$version-$arch" 2>/dev/null || true)
podman_cmd build --quiet --format docker --platform "linux/$arch" \
  --build-arg VERSION="$version" --build-arg ARCH="$arch" \
  -t "$image:$version-$arch" -t "$image:$arch" -f "$work/Containerfile" "$work" >/dev/null
new_id=$(podman_cmd image inspect --format '{{.Id}}' "$image:$version-$arch")
# The previous build of this tag, now untagged (kept if a container still uses it).
[[ -z "$old_id" || "$old_id" == "$new_id" ]] || podman_cmd rmi "$old_id" >/dev/null 2>&1 || true
host_arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
[[ "$arch" != "$host_arch" ]] || podman_cmd tag "$image:$version-$arch" "$image:latest"
size=$(podman_cmd image inspect --format '{{.Size}}' "$image:$version-$arch")
log "built $image:$version-$arch ($(numfmt --to=iec --suffix=B "$size"), rootfs $(du -sh "$rootfs" | cut -f1))"
echo "$image:$version-$arch"
