#!/usr/bin/env bash
# A long fuzzing campaign (issue 14): the targets of tests/fuzz.rs with many more inputs.
#
#   bash scripts/fuzz.sh [iterations]      # default 50000 (metadata and chunks; OMERO /4, .ilp /20)
#
# OMEFLOW_FUZZ_SEED=S     another base seed, for a campaign that tries other inputs
# A failing input is saved under target/fuzz-crashes/<target>-<seed>/ with the line that
# replays it (OMEFLOW_FUZZ_REPLAY=<target>:<seed> cargo test --release --test fuzz -- --nocapture).
set -euo pipefail
cd "$(dirname "$0")/.."

iters=${1:-50000}
log=$(mktemp "${TMPDIR:-/tmp}/omeflow-fuzz.XXXXXX")
trap 'rm -f "$log"' EXIT
status=0
# One test at a time: the targets share the panic hook and the peak-memory check.
OMEFLOW_FUZZ_ITERS=$iters cargo test --release --test fuzz -- --nocapture --test-threads 1 \
    2>&1 | tee "$log" || status=$?
echo
echo "== per-target counts (inputs tried, errors by kind, contained upstream panics, failures)"
grep -oE 'fuzz [a-z]+: .*' "$log" || true
exit "$status"
