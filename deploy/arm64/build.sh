#!/usr/bin/env bash
# Cross-build Osprey for 64-bit ARM Linux (aarch64-unknown-linux-gnu: Jetson, Raspberry Pi 4/5,
# Graviton, ...) on a Debian 12 x86-64 machine, and provision the aarch64 ONNX Runtime and
# OpenVINO libraries it loads at run time. See docs/arm64.md.
#
#   deploy/arm64/build.sh               install what is missing, provision, build (release)
#   deploy/arm64/build.sh --check-env   only check that the cross toolchain resolves: tools, the
#                                       Rust target, arm64 pkg-config, bindgen's clang, a C and a
#                                       Rust test program linked and run under qemu, and the built
#                                       binary's --version when there is one (no apt, no download,
#                                       no workspace build; about 1 s): CI's smoke slice
#   deploy/arm64/build.sh --deps        only install the build dependencies
#   deploy/arm64/build.sh --runtime     only provision the aarch64 runtime libraries
#   deploy/arm64/build.sh --env         print the cross-build environment (to `eval` in a shell)
#
# What it installs when missing (apt, Debian multiarch; root or sudo): the aarch64 cross gcc,
# qemu-user-static (to run the result here, deploy/arm64/parity.sh), libclang (bindgen) and the
# arm64 development packages of FFmpeg (libavcodec, libavformat, libavutil, libswscale,
# libswresample) and libjpeg-turbo's TurboJPEG; and the Rust target through rustup.
#
# Environment:
#   CARGO_TARGET_DIR   cargo's target folder (default: target/ of the repository); the binary is
#                      $CARGO_TARGET_DIR/aarch64-unknown-linux-gnu/release/osprey
#   ARM64_RUNTIME      where the aarch64 runtime libraries go (default runtime/aarch64):
#                      onnxruntime/lib (libonnxruntime.so*) and openvino/lib (C API, core,
#                      ARM CPU plugin, ONNX/IR frontends, TBB)
#   ORT_VERSION        ONNX Runtime wheel version (default: tools/provision-ort.sh's)
#   OPENVINO_VERSION   OpenVINO wheel version (default: tools/provision-openvino.sh's)
#   STAGE_DIR          when set, copy the binary to $STAGE_DIR/osprey-arm64 and the runtime
#                      libraries to $STAGE_DIR/arm64-runtime/{onnxruntime,openvino}/lib
#   CARGO_FLAGS        extra cargo build flags (default none)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"

triple=aarch64-unknown-linux-gnu
gnu=aarch64-linux-gnu
multiarch_lib=/usr/lib/$gnu
runtime="${ARM64_RUNTIME:-runtime/aarch64}"
# The versions the x86 provisioning scripts pin, so both architectures run the same API level.
ort_version="${ORT_VERSION:-$(sed -n 's/^version="\${ORT_VERSION:-\([^}]*\)}"$/\1/p' tools/provision-ort.sh)}"
ov_version="${OPENVINO_VERSION:-$(sed -n 's/^version="\${OPENVINO_VERSION:-\([^}]*\)}"$/\1/p' tools/provision-openvino.sh)}"

mode=build
case "${1:-}" in
  "") ;;
  --check-env) mode=check ;;
  --deps) mode=deps ;;
  --runtime) mode=runtime ;;
  --env) mode="env" ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "build.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
esac

say() { echo "arm64/build: $*" >&2; }
die() { echo "arm64/build: $*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# The cross environment: cargo's linker, cc-rs's compiler, pkg-config on the arm64 multiarch
# .pc files, bindgen's clang target. Everything is target-scoped (…_aarch64_unknown_linux_gnu),
# so build scripts and proc macros still build for the host with the host tools.
cross_env() {
  export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=$gnu-gcc
  # Debian's cross gcc searches the multiarch folder; rpath-link lets ld follow the FFmpeg
  # libraries' own dependencies there without a sysroot.
  export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C link-arg=-Wl,-rpath-link,$multiarch_lib"
  export CC_aarch64_unknown_linux_gnu=$gnu-gcc
  export CXX_aarch64_unknown_linux_gnu=$gnu-g++
  export AR_aarch64_unknown_linux_gnu=$gnu-ar
  export PKG_CONFIG_ALLOW_CROSS_aarch64_unknown_linux_gnu=1
  export PKG_CONFIG_LIBDIR_aarch64_unknown_linux_gnu=$multiarch_lib/pkgconfig:/usr/share/pkgconfig
  export PKG_CONFIG_PATH_aarch64_unknown_linux_gnu=
  export PKG_CONFIG_SYSROOT_DIR_aarch64_unknown_linux_gnu=/
  # bindgen (ffmpeg-sys-next) parses the arm64 headers: /usr/include/aarch64-linux-gnu holds
  # FFmpeg's arch-specific headers (avconfig.h) and glibc's arm64 bits.
  export BINDGEN_EXTRA_CLANG_ARGS_aarch64_unknown_linux_gnu="--target=$gnu -I/usr/include/$gnu"
  if [[ -z "${LIBCLANG_PATH:-}" ]]; then
    local d
    d=$(ls -d /usr/lib/llvm-*/lib 2>/dev/null | sort -V | tail -n 1 || true)
    [[ -n "$d" ]] && export LIBCLANG_PATH=$d
  fi
}

print_env() {
  cross_env
  local v
  for v in CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS \
           CC_aarch64_unknown_linux_gnu CXX_aarch64_unknown_linux_gnu AR_aarch64_unknown_linux_gnu \
           PKG_CONFIG_ALLOW_CROSS_aarch64_unknown_linux_gnu PKG_CONFIG_LIBDIR_aarch64_unknown_linux_gnu \
           PKG_CONFIG_PATH_aarch64_unknown_linux_gnu PKG_CONFIG_SYSROOT_DIR_aarch64_unknown_linux_gnu \
           BINDGEN_EXTRA_CLANG_ARGS_aarch64_unknown_linux_gnu LIBCLANG_PATH; do
    printf 'export %s=%q\n' "$v" "${!v:-}"
  done
}

# ---------------------------------------------------------------------------------------------
# Build dependencies (apt multiarch, rustup target).
arm64_dev="libavcodec-dev:arm64 libavformat-dev:arm64 libavutil-dev:arm64 libswscale-dev:arm64 libswresample-dev:arm64 libturbojpeg0-dev:arm64"
host_pkgs="gcc-$gnu g++-$gnu libc6-dev-arm64-cross qemu-user-static libclang-dev clang pkg-config python3-pip"

install_deps() {
  local sudo=""
  [[ $(id -u) -eq 0 ]] || sudo=sudo
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    say "enabling the arm64 architecture for apt (dpkg --add-architecture arm64)"
    $sudo dpkg --add-architecture arm64
    $sudo apt-get update -q
  fi
  local missing="" p
  for p in $host_pkgs $arm64_dev; do
    # python3-pip only when this python has no pip
    if [[ $p == python3-pip ]]; then python3 -m pip --version >/dev/null 2>&1 && continue; fi
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  if [[ -n "$missing" ]]; then
    say "installing:$missing"
    # shellcheck disable=SC2086
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing ||
      { $sudo apt-get update -q && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing; }
  fi
  if command -v rustup >/dev/null; then
    rustup target list --installed | grep -qx $triple || { say "rustup target add $triple"; rustup target add $triple; }
  fi
}

# ---------------------------------------------------------------------------------------------
# Fast checks that the configuration resolves: tools present, pkg-config finds the arm64 .pc
# files (and they point at arm64 libraries), bindgen's clang can preprocess the arm64 headers,
# the cross linker links against the arm64 FFmpeg/TurboJPEG, the Rust target's std is there.
check_env() {
  cross_env
  local fail=0
  ok() { echo "  ok    $*"; }
  bad() { echo "  FAIL  $*"; fail=1; }
  echo "arm64/build --check-env: $triple cross configuration"
  for t in $gnu-gcc $gnu-ar pkg-config clang qemu-aarch64-static; do
    if command -v "$t" >/dev/null; then ok "$t ($(command -v "$t"))"; else bad "$t not found (run deploy/arm64/build.sh --deps)"; fi
  done
  if rustc --print sysroot >/dev/null 2>&1 && [[ -d "$(rustc --print sysroot)/lib/rustlib/$triple/lib" ]]; then
    ok "rust std for $triple ($(rustc -V))"
  else
    bad "rust std for $triple missing (rustup target add $triple)"
  fi
  local pc=(libavcodec libavformat libavutil libswscale libswresample libturbojpeg)
  pc_arm() { PKG_CONFIG_LIBDIR=$PKG_CONFIG_LIBDIR_aarch64_unknown_linux_gnu PKG_CONFIG_PATH='' pkg-config "$@"; }
  if pc_arm --exists "${pc[@]}" 2>/dev/null; then
    local libdir
    libdir=$(pc_arm --variable=libdir libavcodec)
    ok "pkg-config (arm64): libavcodec $(pc_arm --modversion libavcodec), libturbojpeg $(pc_arm --modversion libturbojpeg), libdir $libdir"
    [[ "$libdir" == "$multiarch_lib" ]] || bad "libavcodec's libdir is $libdir, not $multiarch_lib"
  else
    bad "pkg-config does not find ${pc[*]} under $PKG_CONFIG_LIBDIR_aarch64_unknown_linux_gnu (run --deps)"
  fi
  local tmp
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" RETURN
  printf '#include <libavcodec/avcodec.h>\n#include <libavformat/avformat.h>\n#include <libswscale/swscale.h>\n#include <turbojpeg.h>\n' > "$tmp/h.h"
  # shellcheck disable=SC2086
  if clang $BINDGEN_EXTRA_CLANG_ARGS_aarch64_unknown_linux_gnu -E "$tmp/h.h" -o /dev/null 2>"$tmp/clang.err"; then
    ok "clang --target=$gnu parses the FFmpeg and TurboJPEG headers (bindgen)"
  else
    bad "clang --target=$gnu cannot parse the headers: $(head -n 3 "$tmp/clang.err")"
  fi
  printf '#include <libavcodec/avcodec.h>\n#include <turbojpeg.h>\nint main(void){tjhandle h = tjInitDecompress(); return (avcodec_version() > 0 && h != 0) ? 0 : 1;}\n' > "$tmp/m.c"
  if $gnu-gcc "$tmp/m.c" -o "$tmp/m" -lavcodec -lturbojpeg -Wl,-rpath-link,$multiarch_lib 2>"$tmp/ld.err"; then
    ok "$gnu-gcc links a test program against arm64 libavcodec + libturbojpeg ($(file -b "$tmp/m" | cut -d, -f1-2))"
    if command -v qemu-aarch64-static >/dev/null; then
      if timeout 60 "$here/qemu-run.sh" "$tmp/m" >/dev/null 2>"$tmp/run.err"; then
        ok "the test program runs under qemu-aarch64-static"
      else
        bad "the test program does not run under qemu: $(head -n 3 "$tmp/run.err")"
      fi
    fi
  else
    bad "$gnu-gcc cannot link against the arm64 libraries: $(head -n 3 "$tmp/ld.err")"
  fi
  printf 'fn main() { println!("hello from {}", std::env::consts::ARCH); }\n' > "$tmp/hello.rs"
  if rustc --edition 2021 -O --target $triple -C linker=$gnu-gcc "$tmp/hello.rs" -o "$tmp/hello" 2>"$tmp/rustc.err"; then
    local out
    if out=$(timeout 60 "$here/qemu-run.sh" "$tmp/hello" 2>&1) && [[ "$out" == "hello from aarch64" ]]; then
      ok "rustc --target $triple links with $gnu-gcc; the program runs under qemu ($out)"
    else
      bad "a Rust aarch64 program does not run under qemu: $out"
    fi
  else
    bad "rustc --target $triple cannot build a program: $(head -n 3 "$tmp/rustc.err")"
  fi
  local bin="${CARGO_TARGET_DIR:-$repo/target}/$triple/release/osprey"
  if [[ -x "$bin" ]] && command -v qemu-aarch64-static >/dev/null; then
    local v
    if v=$(timeout 60 "$here/qemu-run.sh" "$bin" --version 2>&1); then
      ok "built binary under qemu: $v ($bin)"
    else
      bad "built binary $bin does not start under qemu: $v"
    fi
  else
    echo "  skip  no built binary at $bin (full build: deploy/arm64/build.sh)"
  fi
  if [[ $fail -ne 0 ]]; then echo "arm64/build --check-env: FAILED"; return 1; fi
  echo "arm64/build --check-env: ok"
}

# ---------------------------------------------------------------------------------------------
# The aarch64 runtime libraries, from the manylinux aarch64 PyPI wheels (nothing installed into
# any Python), by the same scripts as the x86-64 ones (PYPI_ARCH=aarch64): the same file
# selection, OpenVINO's CPU plugin being libopenvino_arm_cpu_plugin.so on ARM (Arm Compute
# Library inside). Wheels are tagged with the oldest glibc they need (openvino 2026.4.1:
# manylinux_2_35, that is glibc >= 2.35).
provision_runtime() {
  ORT_VERSION="$ort_version" ORT_DEST="$runtime/onnxruntime" PYPI_ARCH=aarch64 tools/provision-ort.sh
  OPENVINO_VERSION="$ov_version" OPENVINO_DEST="$runtime/openvino" PYPI_ARCH=aarch64 \
    tools/provision-openvino.sh
}

stage() {
  [[ -n "${STAGE_DIR:-}" ]] || return 0
  local bin="$1"
  mkdir -p "$STAGE_DIR/arm64-runtime/onnxruntime" "$STAGE_DIR/arm64-runtime/openvino"
  rm -rf "$STAGE_DIR/arm64-runtime/onnxruntime/lib" "$STAGE_DIR/arm64-runtime/openvino/lib"
  cp -a "$runtime/onnxruntime/lib" "$STAGE_DIR/arm64-runtime/onnxruntime/lib"
  cp -a "$runtime/openvino/lib" "$STAGE_DIR/arm64-runtime/openvino/lib"
  cp "$runtime/onnxruntime/VERSION" "$STAGE_DIR/arm64-runtime/onnxruntime/VERSION"
  cp "$runtime/openvino/VERSION" "$STAGE_DIR/arm64-runtime/openvino/VERSION"
  if [[ -n "$bin" ]]; then
    cp "$bin" "$STAGE_DIR/osprey-arm64.tmp" && mv "$STAGE_DIR/osprey-arm64.tmp" "$STAGE_DIR/osprey-arm64"
  fi
  say "staged in $STAGE_DIR (${bin:+osprey-arm64, }arm64-runtime/)"
}

case $mode in
  env) print_env; exit 0 ;;
  check) check_env; exit $? ;;
  deps) install_deps; exit 0 ;;
  runtime) provision_runtime; stage ""; exit 0 ;;
esac

install_deps
provision_runtime
cross_env
say "cargo build --release --locked --target $triple -p osprey (target dir: ${CARGO_TARGET_DIR:-$repo/target})"
# shellcheck disable=SC2086
cargo build --release --locked --target $triple -p osprey ${CARGO_FLAGS:-}
bin="${CARGO_TARGET_DIR:-$repo/target}/$triple/release/osprey"
[[ -x "$bin" ]] || die "no binary at $bin"
say "built $bin ($(du -h "$bin" | cut -f1); $(file -b "$bin" | cut -d, -f1-2))"
stage "$bin"
