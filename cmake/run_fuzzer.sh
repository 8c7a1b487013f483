#!/usr/bin/env bash
# run_fuzzer.sh FUZZER WORK_DIR SECONDS SEED_DIR...
# Runs a libFuzzer target for a bounded time, starting from the checked-in seeds. New
# inputs go to WORK_DIR (first corpus dir) so the source tree is never written. Exits
# non-zero on a crash.
set -euo pipefail
fuzzer=$1 work=$2 seconds=$3
shift 3
mkdir -p "$work"
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 "$work" "$@"
