#!/usr/bin/env bash
# The recording index at a year of video (not a test): builds a synthetic index of SEGMENTS rows
# (default 10 M: 12 cameras x 1 year of 60 s segments + 4 cameras of 10 s event segments) in the
# previous release's schema, opens it with this build (the migration is timed), and times the
# retention pass, a day's timeline, /api/storage and the recording part of a /metrics scrape
# next to the previous release's way of running each (crates/osprey-record/benches/index_scale.rs).
# Needs ~2 GiB of disk under BENCH_DIR (default: a temporary folder, removed after) and ~3 GiB
# of memory for the previous release's full load.
#
#   SEGMENTS=10000000  REPEAT=9  BENCH_DIR=path
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench-out
cargo bench --locked -q -p osprey-record --bench index_scale | tee bench-out/recording-index.md
