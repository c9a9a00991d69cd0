#!/usr/bin/env bash
# Provision the OpenVINO libraries that Osprey's OpenVINO engine (`--engine openvino`) loads at
# run time.
#
# OpenVINO ships its C library, CPU plugin and frontends inside the PyPI wheel, so this downloads
# the wheel with pip (`pip download --no-deps`: nothing is installed into any Python) and copies
# only what the CPU engine needs into runtime/openvino/lib: the C API (libopenvino_c), the core
# (libopenvino), the CPU plugin, the ONNX and IR frontends, and TBB. OpenVINO finds the plugin and
# frontends by name beside libopenvino.so. Idempotent: does nothing when that version is there.
#
#   OPENVINO_VERSION  wheel version (default 2026.4.1)
#   OPENVINO_DEST     destination folder (default runtime/openvino)
#   PYPI_ARCH         another machine's wheel: aarch64 (manylinux) for the arm64 build
set -euo pipefail
source "$(dirname "$0")/pypi-wheel.sh"

version="${OPENVINO_VERSION:-2026.4.1}"
dest="${OPENVINO_DEST:-runtime/openvino}"
stamp="openvino==$version${PYPI_ARCH:+ $PYPI_ARCH}"
if [[ "$(cat "$dest/VERSION" 2>/dev/null)" == "$stamp" ]] && ls "$dest"/lib/libopenvino_c.so.* >/dev/null 2>&1; then
  echo "provision-openvino: $stamp already in $dest/lib"
  exit 0
fi
python=$(command -v python3 || command -v python || true)
if [[ -z "$python" ]]; then
  echo "provision-openvino: python3 with pip is needed to download $stamp from PyPI" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "provision-openvino: downloading $stamp from PyPI"
download_wheel "$python" "openvino==$version" "$tmp"
wheel=$(ls "$tmp"/openvino-*.whl | head -n 1)
check_wheel_arch "$wheel"
rm -rf "$dest/lib"
mkdir -p "$dest/lib"
"$python" - "$wheel" "$dest/lib" <<'PY'
import os, re, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
# Only the CPU engine's libraries: C API, core, CPU plugin (intel_cpu on x86-64, arm_cpu on
# aarch64), ONNX + IR frontends, TBB (and its allocator, which the aarch64 build links).
wanted = re.compile(
    r"^(libopenvino_c\.so\..*|libopenvino\.so\..*|libopenvino_(intel|arm)_cpu_plugin\.so"
    r"|libopenvino_onnx_frontend\.so\..*|libopenvino_ir_frontend\.so\..*|libtbb\.so\..*"
    r"|libtbbmalloc\.so\..*|plugins\.xml)$"
)
n = 0
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if name.startswith("openvino/libs/") and wanted.match(base):
            with z.open(name) as src, open(os.path.join(out, base), "wb") as dst:
                dst.write(src.read())
            n += 1
files = os.listdir(out)
if not any(f.startswith("libopenvino_c.so") for f in files):
    sys.exit("provision-openvino: no libopenvino_c.so* in " + wheel)
if not any("cpu_plugin" in f for f in files):
    sys.exit("provision-openvino: no CPU plugin in " + wheel)
print(f"provision-openvino: {n} files")
PY
echo "$stamp" > "$dest/VERSION"
echo "provision-openvino: $stamp installed in $dest/lib ($(du -sh "$dest/lib" | cut -f1))"
