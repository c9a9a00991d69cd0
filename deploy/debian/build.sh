#!/usr/bin/env bash
# Builds the osprey Debian package with dpkg-deb (docs/deploy.md, "Debian package").
#
#   deploy/debian/build.sh [amd64|arm64]          (or ARCH=arm64)
#
# Layout: /usr/lib/osprey/osprey (debug info stripped) with ONNX Runtime and OpenVINO's CPU
# libraries beside it (it finds them there), /usr/bin/osprey -> ../lib/osprey/osprey, the
# hardened unit /usr/lib/systemd/system/osprey.service, /etc/osprey/osprey.toml (conffile),
# docs and monitoring examples under /usr/share/doc/osprey. The maintainer scripts create the
# osprey system user and /var/lib/osprey (0750). Depends is computed with dpkg-shlibdeps.
#
# Environment (defaults relative to the checkout):
#   OSPREY_BIN     amd64: target/release/osprey;
#                  arm64: target/aarch64-unknown-linux-gnu/release/osprey (make arm64; CARGO_TARGET_DIR honoured)
#   ORT_LIB_DIR, OV_LIB_DIR   as deploy/container/build.sh (OV_LIB_DIR=none: no OpenVINO)
#   DEB_VERSION    package version (default <workspace version>-1)
#   DEB_OUT        where the .deb goes (default target/deploy)
#   DEB_COMPRESS   dpkg-deb compressor: xz (default), gzip, zstd or none (fast, for checks)
#   DEB_DEPENDS    the Depends line for a foreign architecture (default: the amd64 package's,
#                  or the host's dpkg-shlibdeps result: same sonames from the same Debian release)
#   DEB_CONFIG     the /etc/osprey/osprey.toml to ship (default deploy/debian/osprey.toml)
#   STAGE_ONLY=1   stop after the staging tree (printed), no .deb
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
stage_root=$(realpath -m "${DEPLOY_STAGE:-$repo/target/deploy}")
arch="${1:-${ARCH:-amd64}}"
case "$arch" in
  amd64)
    default_bin="$repo/target/release/osprey"
    default_ort="$repo/runtime/onnxruntime/lib"; default_ov="$repo/runtime/openvino/lib"
    strip_tool=$(command -v x86_64-linux-gnu-strip || command -v strip || true)
    machine=X86-64 ;;
  arm64)
    default_bin="${CARGO_TARGET_DIR:-$repo/target}/aarch64-unknown-linux-gnu/release/osprey"
    default_ort="$repo/runtime/aarch64/onnxruntime/lib"; default_ov="$repo/runtime/aarch64/openvino/lib"
    strip_tool=$(command -v aarch64-linux-gnu-strip || command -v llvm-strip || true)
    machine=AArch64 ;;
  *) echo "build.sh: architecture must be amd64 or arm64 (got '$arch')" >&2; exit 2 ;;
esac
bin="${OSPREY_BIN:-$default_bin}"
ort_dir="${ORT_LIB_DIR:-$default_ort}"
ov_dir="${OV_LIB_DIR:-$default_ov}"
die() { echo "deploy/debian/build.sh: $*" >&2; exit 1; }
[[ -f "$bin" ]] || die "no $arch osprey binary at $bin (set OSPREY_BIN)"
readelf -h "$bin" | grep -q "Machine:.*$machine" || die "$bin is not an $arch binary"
ls "$ort_dir"/libonnxruntime.so* >/dev/null 2>&1 || die "no libonnxruntime.so* in $ort_dir (tools/provision-ort.sh, or ORT_LIB_DIR)"
[[ "$ov_dir" == none ]] || ls "$ov_dir"/libopenvino_c.so* >/dev/null 2>&1 \
  || die "no libopenvino_c.so* in $ov_dir (tools/provision-openvino.sh, OV_LIB_DIR, or OV_LIB_DIR=none)"

crate_version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' "$repo/Cargo.toml")
version="${DEB_VERSION:-$crate_version-1}"
out="${DEB_OUT:-$stage_root}"
work="${DEB_WORK:-$stage_root/cache/deb-$arch}"
stage="$work/osprey_${version}_$arch"
rm -rf "$stage"
mkdir -p "$stage/DEBIAN" "$out"

# Files. Modes are set explicitly; dpkg-deb --root-owner-group makes every owner root.
install -d -m 0755 "$stage"/usr/{bin,lib/osprey,lib/systemd/system,share/doc/osprey/examples/grafana} \
  "$stage/usr/share/doc/osprey/examples/prometheus"
install -d -m 0750 "$stage/etc/osprey"
if [[ -n "$strip_tool" ]]; then
  "$strip_tool" --strip-debug -o "$stage/usr/lib/osprey/osprey" "$bin"
else
  cp "$bin" "$stage/usr/lib/osprey/osprey"
fi
chmod 0755 "$stage/usr/lib/osprey/osprey"
ln -s ../lib/osprey/osprey "$stage/usr/bin/osprey"
cp -P "$ort_dir"/libonnxruntime*.so* "$stage/usr/lib/osprey/"
[[ "$ov_dir" == none ]] || cp -P "$ov_dir"/libopenvino*.so* "$ov_dir"/libtbb*.so* "$stage/usr/lib/osprey/"
find "$stage/usr/lib/osprey" -type f -name '*.so*' -exec chmod 0644 {} +
install -m 0640 "${DEB_CONFIG:-$here/osprey.toml}" "$stage/etc/osprey/osprey.toml"
install -m 0644 "$here/osprey.service" "$stage/usr/lib/systemd/system/osprey.service"
doc="$stage/usr/share/doc/osprey"
install -m 0644 "$repo/README.md" "$doc/README.md"
for f in "$repo"/docs/*.md; do install -m 0644 "$f" "$doc/"; done
install -m 0644 "$repo/deploy/prometheus.yml" "$doc/examples/prometheus/prometheus.yml"
install -m 0644 "$repo/deploy/prometheus/alerts.yml" "$doc/examples/prometheus/alerts.yml"
install -m 0644 "$repo"/deploy/grafana/*.json "$doc/examples/grafana/"
{
  echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
  echo "Upstream-Name: osprey"
  echo
  echo "Files: *"
  echo "License: AGPL-3.0-only"
  echo " On Debian systems the GNU Affero General Public License is not in common-licenses;"
  echo " see https://www.gnu.org/licenses/agpl-3.0.html."
  echo
  echo "Files: usr/lib/osprey/libonnxruntime*"
  echo "Comment: ONNX Runtime $(cat "$ort_dir/VERSION" 2>/dev/null || echo ''), from the PyPI wheel (tools/provision-ort.sh)"
  echo "Copyright: Microsoft Corporation"
  echo "License: MIT"
  if [[ "$ov_dir" != none ]]; then
    echo
    echo "Files: usr/lib/osprey/libopenvino* usr/lib/osprey/libtbb*"
    echo "Comment: OpenVINO $(cat "$ov_dir/VERSION" 2>/dev/null || echo '') and oneTBB, from the PyPI openvino wheel (tools/provision-openvino.sh)"
    echo "Copyright: Intel Corporation"
    echo "License: Apache-2.0"
    echo " On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0."
  fi
} > "$doc/copyright"
chmod 0644 "$doc/copyright"
printf 'osprey (%s) bookworm; urgency=medium\n\n  * Package built by deploy/debian/build.sh.\n\n -- Osprey maintainers <osprey@example.invalid>  %s\n' \
  "$version" "$(date -R -d @"${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)}")" \
  | gzip -9n > "$doc/changelog.Debian.gz"
chmod 0644 "$doc/changelog.Debian.gz"

# Maintainer scripts and conffiles.
install -m 0755 "$here"/scripts/{postinst,prerm,postrm} "$stage/DEBIAN/"
echo /etc/osprey/osprey.toml > "$stage/DEBIAN/conffiles"

# Depends: the shared libraries of the binary and the bundled engines (the engines' own
# libraries, found in the package itself, need nothing).
host_arch=$(dpkg --print-architecture)
if [[ -n "${DEB_DEPENDS:-}" ]]; then
  shlibs="$DEB_DEPENDS"
elif [[ "$arch" == "$host_arch" ]]; then
  command -v dpkg-shlibdeps >/dev/null || die "dpkg-shlibdeps is missing (apt-get install dpkg-dev)"
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/debian"
  printf 'Source: osprey\n\nPackage: osprey\nArchitecture: any\n' > "$tmp/debian/control"
  mapfile -t elves < <(find "$stage/usr/lib/osprey" -type f)
  shlibs=$(cd "$tmp" && dpkg-shlibdeps -O -S"$stage" -l"$stage/usr/lib/osprey" "${elves[@]}" 2>"$tmp/warn" \
    | sed -n 's/^shlibs:Depends=//p') || { cat "$tmp/warn" >&2; die "dpkg-shlibdeps failed"; }
  # Its warnings are about the prebuilt engines' link lines (libdl, libpthread...): not ours.
  [[ -z "${DEB_VERBOSE:-}" ]] || cat "$tmp/warn" >&2
  [[ -n "$shlibs" ]] || die "dpkg-shlibdeps found no dependencies"
else
  amd64_deb=$(ls -t "$out"/osprey_*_"$host_arch".deb 2>/dev/null | head -n 1 || true)
  [[ -n "$amd64_deb" ]] || die "set DEB_DEPENDS, or build the $host_arch package first (its Depends are reused: same sonames)"
  shlibs=$(dpkg-deb -f "$amd64_deb" Depends | sed 's/, adduser.*//')
fi

installed_size=$(du -sk --apparent-size "$stage" --exclude=DEBIAN | cut -f1)
cat > "$stage/DEBIAN/control" <<EOF
Package: osprey
Version: $version
Architecture: $arch
Maintainer: Osprey maintainers <osprey@example.invalid>
Installed-Size: $installed_size
Depends: $shlibs, adduser, ca-certificates
Suggests: prometheus, redis-server, mosquitto
Section: video
Priority: optional
Description: edge-AI vision server: DeepStack-compatible detection and camera analytics
 Osprey runs YOLO object detectors on ONNX Runtime or OpenVINO (bundled, CPU) and serves
 the DeepStack / CodeProject.AI detection API (Frigate, Blue Iris, Home Assistant), and
 analyses camera streams: tracking, tripwires and regions, recordings, events to Redis,
 MQTT and SQLite, Prometheus metrics, a web UI. No model is included: see
 /usr/share/doc/osprey/deploy.md.
EOF
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) > "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles" "$stage/DEBIAN/md5sums"

if [[ "${STAGE_ONLY:-}" == 1 ]]; then
  echo "$stage"
  exit 0
fi
deb="$out/osprey_${version}_$arch.deb"
dpkg-deb --root-owner-group -Z"${DEB_COMPRESS:-xz}" --build "$stage" "$deb" >/dev/null
echo "deploy/debian/build.sh: $deb ($(du -h "$deb" | cut -f1), installed $((installed_size / 1024)) MiB)" >&2
echo "$deb"
