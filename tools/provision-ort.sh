#!/usr/bin/env bash
# Provision the ONNX Runtime shared library that Osprey loads at run time.
#
# ONNX Runtime ships its C library inside the PyPI wheels, so this downloads the wheel with pip
# (no other network access) and extracts libonnxruntime.so* and the provider plug-ins into
# runtime/onnxruntime/lib. Idempotent: does nothing when the requested build is already there.
#
#   ORT_VERSION  ONNX Runtime version (default 1.31.1, the API level Osprey is built against)
#   ORT_FLAVOR   cpu (PyPI onnxruntime), gpu (onnxruntime-gpu: CUDA + TensorRT providers),
#                openvino (onnxruntime-openvino)
#   ORT_DEST     destination folder (default runtime/onnxruntime)
#   PYPI_ARCH    another machine's wheel: aarch64 (manylinux) for the arm64 build (default: this one's)
set -euo pipefail
source "$(dirname "$0")/pypi-wheel.sh"

version="${ORT_VERSION:-1.31.1}"
flavor="${ORT_FLAVOR:-cpu}"
dest="${ORT_DEST:-runtime/onnxruntime}"
case "$flavor" in
  cpu) package=onnxruntime ;;
  gpu) package=onnxruntime-gpu ;;
  openvino) package=onnxruntime-openvino ;;
  *) echo "provision-ort: ORT_FLAVOR must be cpu, gpu or openvino (got '$flavor')" >&2; exit 2 ;;
esac
stamp="$package==$version${PYPI_ARCH:+ $PYPI_ARCH}"
if [[ -f "$dest/lib/libonnxruntime.so" && "$(cat "$dest/VERSION" 2>/dev/null)" == "$stamp" ]]; then
  echo "provision-ort: $stamp already in $dest/lib"
  exit 0
fi
python=$(command -v python3 || command -v python || true)
if [[ -z "$python" ]]; then
  echo "provision-ort: python3 with pip is needed to download $stamp from PyPI" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "provision-ort: downloading $stamp from PyPI"
download_wheel "$python" "$package==$version" "$tmp"
wheel=$(ls "$tmp"/*.whl | head -n 1)
check_wheel_arch "$wheel"
mkdir -p "$dest/lib"
"$python" - "$wheel" "$dest/lib" <<'PY'
import os, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
n = 0
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if "/capi/" in name and base.startswith("libonnxruntime") and ".so" in base:
            with z.open(name) as src, open(os.path.join(out, base), "wb") as dst:
                dst.write(src.read())
            n += 1
if n == 0:
    sys.exit("provision-ort: no libonnxruntime*.so in " + wheel)
PY
lib=$(cd "$dest/lib" && ls libonnxruntime.so.* | sort -V | tail -n 1)
ln -sf "$lib" "$dest/lib/libonnxruntime.so"
ln -sf "$lib" "$dest/lib/libonnxruntime.so.1"
echo "$stamp" > "$dest/VERSION"
echo "provision-ort: $stamp installed in $dest/lib ($lib)"
