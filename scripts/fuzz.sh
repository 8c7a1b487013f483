#!/usr/bin/env bash
# fuzz.sh HOURS: run every libFuzzer target for longer than CI does (HOURS may be a fraction,
# e.g. 0.1), the time split evenly among the targets.
#   - builds the targets as scripts/test.sh does (clang, build-fuzz/)
#   - each target grows its corpus in fuzz/corpus/<target>/, starting from its checked-in
#     seed folders (read only), and the corpus is minimised (-merge=1) afterwards
#   - crash, timeout and out-of-memory inputs go to fuzz/crashes/<target>/ (not committed)
#   - prints target, seconds, executions, corpus size and crashes; exits 1 on any crash
# KEEL_FUZZ_JOBS: parallel fuzzing processes per target (default and maximum: nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

usage() { echo "usage: scripts/fuzz.sh HOURS   (e.g. 0.1; split among all targets)" >&2; exit 2; }
[[ $# -eq 1 ]] || usage
hours=$1
[[ $hours =~ ^[0-9]*\.?[0-9]+$ ]] || usage

cores=$(nproc)
jobs=${KEEL_FUZZ_JOBS:-$cores}
((jobs >= 1 && jobs <= cores)) || jobs=$cores

echo "== building the fuzz targets (build-fuzz, clang)"
mkdir -p fuzz/corpus  # before configuring: the CMake files add fuzz/corpus/<target> as seeds
CC=clang CXX=clang++ KEEL_JOBS=${KEEL_JOBS:-$jobs} scripts/build.sh build-fuzz -DKEEL_FUZZ=ON \
  -DKEEL_TESTS=OFF -DKEEL_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo

manifests=(build-fuzz/fuzzers/*)
[[ -e ${manifests[0]} ]] || { echo "fuzz.sh: no targets in build-fuzz/fuzzers" >&2; exit 1; }
seconds=$(awk -v h="$hours" -v n="${#manifests[@]}" 'BEGIN { s = int(h * 3600 / n); print (s < 1 ? 1 : s) }')
echo "== ${#manifests[@]} targets, ${seconds} s each, ${jobs} process(es) per target"

# executions TARGET_LOG_DIR: executions summed over the target's job logs.
executions() {
  cat "$1"/fuzz-*.log 2>/dev/null |
    awk '/stat::number_of_executed_units:/ { sum += $2 } END { print sum + 0 }'
}

# minimise BINARY CORPUS LOG SEED_DIR...: keeps in CORPUS only the inputs that add coverage
# beyond the seeds (which are already in the repository), so the committed corpus stays small.
minimise() {
  local binary=$1 corpus=$2 log=$3
  shift 3
  local merged
  merged=$(mktemp -d)
  local dir file n=0
  for dir in "$@"; do
    for file in "$dir"/*; do
      [[ -f $file ]] && cp "$file" "$merged/seed-$((n++))"
    done
  done
  if "$binary" -merge=1 -timeout=10 -rss_limit_mb=2048 "$merged" "$corpus" >"$log" 2>&1; then
    find "$corpus" -type f -delete
    find "$merged" -type f ! -name 'seed-*' -exec mv -t "$corpus" {} +
  fi
  rm -rf "$merged"
}

summary=()
crashed=0
for manifest in "${manifests[@]}"; do
  target=$(basename "$manifest")
  mapfile -t lines <"$manifest"
  binary=${lines[0]}
  seeds=()
  for dir in "${lines[@]:1}"; do [[ -n $dir && -d $dir ]] && seeds+=("$dir"); done
  corpus=$root/fuzz/corpus/$target
  crashes=$root/fuzz/crashes/$target
  logs=$root/build-fuzz/fuzz-logs/$target
  mkdir -p "$corpus" "$crashes"
  rm -rf "$logs" && mkdir -p "$logs"
  before=$(find "$crashes" -type f | wc -l)
  echo "== $target: ${seconds} s (logs in ${logs#"$root"/})"
  # -jobs/-workers: libFuzzer runs the processes itself, each writing fuzz-N.log in the
  # current folder and sharing the first corpus folder. A job that crashes ends early; its
  # input is in $crashes.
  (cd "$logs" && "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -jobs="$jobs" -workers="$jobs" -artifact_prefix="$crashes/" \
    "$corpus" "${seeds[@]}" >"$logs/driver.log" 2>&1) || true
  minimise "$binary" "$corpus" "$logs/merge.log" "${seeds[@]}"
  found=$(($(find "$crashes" -type f | wc -l) - before))
  ((found == 0)) || crashed=1
  summary+=("$(printf '%-28s %8s %12s %7s %8s %7s' "$target" "$seconds" "$(executions "$logs")" \
    "$(find "$corpus" -type f | wc -l)" "$(du -sk --apparent-size "$corpus" | cut -f1)K" "$found")")
done

echo
printf '%-28s %8s %12s %7s %8s %7s\n' target seconds executions inputs size crashes
printf '%s\n' "${summary[@]}"
echo "corpus: fuzz/corpus/ ($(du -sk --apparent-size fuzz/corpus | cut -f1)K)"
if ((crashed)); then
  echo "fuzz.sh: crashes found; inputs in fuzz/crashes/<target>/ (reproduce: build-fuzz/<dir>/<target> FILE)" >&2
  exit 1
fi
echo "fuzz.sh: no crashes"
