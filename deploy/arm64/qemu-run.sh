#!/usr/bin/env bash
# Run an aarch64 program (the cross-built osprey) on this x86-64 machine with qemu-aarch64-static
# user-mode emulation, without binfmt_misc and without a chroot:
#
#   deploy/arm64/qemu-run.sh PROGRAM [ARGS...]
#
# It uses Debian's arm64 multiarch userland (libc6:arm64 and the FFmpeg/TurboJPEG libraries that
# deploy/arm64/build.sh --deps installs under /usr/lib/aarch64-linux-gnu) through a small qemu
# prefix (-L) that fixes two emulation artefacts:
#
#   * the loader: /lib/ld-linux-aarch64.so.1 must be the multiarch libc6:arm64 one. The cross
#     toolchain's copy (/usr/aarch64-linux-gnu/lib, libc6-arm64-cross) is a different glibc build;
#     mixing it with the multiarch libc.so.6 makes pthread_create spin forever.
#   * the CPU description: qemu 7.2 passes the host's x86 /proc/cpuinfo through, and ONNX
#     Runtime's cpuinfo library dereferences NULL when it finds no ARM processor there (SIGSEGV
#     while loading libonnxruntime.so); OpenVINO's ARM plugin reads MIDR_EL1 from sysfs. The prefix
#     holds an ARM /proc/cpuinfo and midr_el1 files for the emulated CPU model.
#
# Environment:
#   QEMU_CPU        emulated CPU (default cortex-a57: Jetson Nano / TX1 / TX2 class, ARMv8.0 NEON;
#                   cortex-a76 is close to Jetson Orin's Cortex-A78AE). `max` enables SVE, which
#                   ONNX Runtime then uses and qemu emulates very slowly (minutes per image).
#   QEMU_ROOT       where the prefix is kept (default ${TMPDIR:-/tmp}/osprey-qemu-aarch64-$QEMU_CPU)
set -euo pipefail

gnu=aarch64-linux-gnu
cpu="${QEMU_CPU:-cortex-a57}"
root="${QEMU_ROOT:-${TMPDIR:-/tmp}/osprey-qemu-aarch64-$cpu}"
[[ $# -ge 1 ]] || { echo "usage: $0 PROGRAM [ARGS...]" >&2; exit 2; }
command -v qemu-aarch64-static >/dev/null || { echo "qemu-run: qemu-aarch64-static missing (deploy/arm64/build.sh --deps)" >&2; exit 2; }
loader=/lib/$gnu/ld-linux-aarch64.so.1
[[ -e "$loader" ]] || { echo "qemu-run: $loader missing (libc6:arm64; deploy/arm64/build.sh --deps)" >&2; exit 2; }

# MIDR_EL1 of qemu's CPU models (implementer 0x41 Arm, variant, part, revision).
case "$cpu" in
  cortex-a53) midr=0x410fd034 ;;
  cortex-a57|max) midr=0x411fd070 ;;
  cortex-a72) midr=0x410fd083 ;;
  cortex-a76) midr=0x414fd0b1 ;;
  neoverse-n1) midr=0x414fd0c1 ;;
  a64fx) midr=0x461f0010 ;;
  *) midr=0x411fd070 ;;
esac
case "$cpu" in
  cortex-a53|cortex-a57|cortex-a72) features="fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid" ;;
  *) features="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp" ;;
esac
ncpu=$(getconf _NPROCESSORS_CONF)
stamp="$cpu $midr $ncpu $loader"
if [[ "$(cat "$root/.stamp" 2>/dev/null)" != "$stamp" ]]; then
  tmp="$root.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp/lib" "$tmp/proc"
  ln -s "$loader" "$tmp/lib/ld-linux-aarch64.so.1"
  for ((i = 0; i < ncpu; i++)); do
    printf 'processor\t: %d\nBogoMIPS\t: 50.00\nFeatures\t: %s\nCPU implementer\t: 0x%s\nCPU architecture: 8\nCPU variant\t: 0x%x\nCPU part\t: 0x%s\nCPU revision\t: %d\n\n' \
      "$i" "$features" "${midr:2:2}" "$((16#${midr:4:1}))" "${midr:6:3}" "$((16#${midr:9:1}))" >> "$tmp/proc/cpuinfo"
    mkdir -p "$tmp/sys/devices/system/cpu/cpu$i/regs/identification"
    printf '0x%016x\n' "$midr" > "$tmp/sys/devices/system/cpu/cpu$i/regs/identification/midr_el1"
  done
  echo "$stamp" > "$tmp/.stamp"
  rm -rf "$root"
  mv -T "$tmp" "$root" 2>/dev/null || rm -rf "$tmp"
fi

export LD_LIBRARY_PATH="/usr/lib/$gnu:/lib/$gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec qemu-aarch64-static -L "$root" -cpu "$cpu" "$@"
