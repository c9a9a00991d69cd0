#!/usr/bin/env bash
# Coverage-guided fuzzing of osprey-auth's parsers of client input (fuzz/fuzz_targets/auth_*.rs):
# builds the four targets with cargo-fuzz (installed if missing), runs each for RUNS runs and
# prints one summary line per target. libFuzzer's logs go to OUT/<target>.log, crash inputs to
# fuzz/artifacts/<target>/, the growing corpus to fuzz/corpus/<target>/ (both ignored by git).
#
#   benches/fuzz-auth.sh [target ...]        (default: all four)
#   RUNS=1000000  OUT=target/fuzz-auth  TOOLCHAIN=  (defaults; TOOLCHAIN=nightly uses
#   `cargo +nightly`, otherwise the default toolchain with RUSTC_BOOTSTRAP=1)
#   CARGO_TARGET_DIR and CARGO_BUILD_JOBS are honoured.
#   Exit status: 0 when no target crashed, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-1000000}
out=${OUT:-target/fuzz-auth}
mkdir -p "$out"
out=$(cd "$out" && pwd)
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then targets=(auth_header auth_cookie auth_login auth_forwarded); fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi
cargo_fuzz=(cargo)
if [[ -n ${TOOLCHAIN:-} ]]; then cargo_fuzz+=("+$TOOLCHAIN"); fi
cargo_fuzz+=(fuzz)
export RUSTC_BOOTSTRAP=1

cd fuzz
for t in "${targets[@]}"; do
  echo "building $t" >&2
  "${cargo_fuzz[@]}" build "$t" >&2
done

failed=0
for t in "${targets[@]}"; do
  log=$out/$t.log
  mkdir -p "corpus/$t" "artifacts/$t"
  before=$(find "artifacts/$t" -type f | wc -l)
  echo "fuzzing $t for $runs runs (log: $log)" >&2
  start=$(date +%s.%N)
  rc=0
  "${cargo_fuzz[@]}" run "$t" -- -runs="$runs" -print_final_stats=1 >"$log" 2>&1 || rc=$?
  end=$(date +%s.%N)
  after=$(find "artifacts/$t" -type f | wc -l)
  crashes=$((after - before))
  # A failure without a new artifact (a build error, a bad flag) counts as one crash too.
  if [[ $rc -ne 0 && $crashes -eq 0 ]]; then crashes=1; fi
  if [[ $crashes -ne 0 ]]; then failed=1; fi
  done_runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  exec_s=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  corpus=$(find "corpus/$t" -type f | wc -l)
  # seconds: libFuzzer's own fuzzing time; wall: the whole `cargo fuzz run`, with any rebuild.
  fuzz_s=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
  printf '%-15s runs=%s seconds=%s wall=%.1fs exec/s=%s cov=%s ft=%s corpus=%s crashes=%s rc=%s\n' \
    "$t" "${done_runs:-?}" "${fuzz_s:-?}" "$(awk "BEGIN { print $end - $start }")" "${exec_s:-?}" \
    "${cov:-?}" "${ft:-?}" "$corpus" "$crashes" "$rc"
done
exit "$failed"
