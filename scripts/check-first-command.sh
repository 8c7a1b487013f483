#!/usr/bin/env bash
# check-first-command.sh: proves the README's first command on a machine that has the test
# packages (CI's), so it cannot drift:
#   1. builds with scripts/build.sh exactly as the first command does, except that CMake is
#      told to see no test dependency (-DKEEL_TEST_DEPS_HIDDEN=ON) — and -DKEEL_WERROR=ON,
#      which scripts/test.sh's own build uses too, so ccache serves this build from that one;
#   2. fails if that build read or linked any file of a test-only package
#      (scripts/install-deps.sh --print-test-packages), whatever CMake file asked for it;
#   3. starts the broker it built, checks that its output ends with where it listens and how
#      to stop it, produces one record and consumes it back with `keel produce|consume`, and
#      stops it with SIGTERM (exit 0).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-first}

echo "check-first-command: build in $dir as a machine without test packages would"
scripts/build.sh "$dir" -DKEEL_TEST_DEPS_HIDDEN=ON -DKEEL_WERROR=ON

echo "check-first-command: checking that the build uses no file of a test-only package"
mapfile -t test_pkgs < <(scripts/install-deps.sh --print-test-packages)
ninja -C "$dir" -t deps > "$dir/first-command-deps.txt"
dpkg-query -L "${test_pkgs[@]}" 2>/dev/null |
  /usr/bin/python3 -c '
import os, sys
owned = set()
for line in sys.stdin:
    path = line.strip()
    if path.startswith("/") and os.path.isfile(path):
        owned.add(path)
        owned.add(os.path.realpath(path))
used = set()
for name in sys.argv[1:]:
    with open(name, errors="replace") as f:
        for token in f.read().replace(";", " ").replace("\"", " ").split():
            if token.startswith("/"):
                used.add(token)
                used.add(os.path.realpath(token))
hits = sorted(used & owned)
if hits:
    sys.exit("check-first-command: the plain build uses test-only files: " + ", ".join(hits))
' "$dir/CMakeCache.txt" "$dir/build.ninja" "$dir/first-command-deps.txt"

echo "check-first-command: starting it, one record through it, stopping it"
data=$(mktemp -d)
out="$data/serve.out"
"$dir/tools/keel" serve -o "log.dirs=$data/logs" -o listeners=PLAINTEXT://127.0.0.1:0 \
  > "$out" 2>&1 &
pid=$!
cleanup() { kill -KILL "$pid" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT
for _ in $(seq 1 100); do  # up to 10 s
  grep -q "stops it" "$out" && break
  kill -0 "$pid" 2>/dev/null || { cat "$out"; echo "check-first-command: keel exited"; exit 1; }
  sleep 0.1
done
port=$(sed -n 's|^keel: listening on PLAINTEXT://127.0.0.1:\([0-9]*\)$|\1|p' "$out")
if [[ -z "$port" ]] || ! tail -n 2 "$out" | head -n 1 | grep -q "^keel: listening on" ||
   ! tail -n 1 "$out" | grep -q "^keel: Ctrl-C (or kill $pid) stops it"; then
  cat "$out"
  echo "check-first-command: keel's output does not end with where it listens and how to stop it"
  exit 1
fi
record="first-command-$$-$RANDOM"
echo "k:$record" | "$dir/tools/keel" produce first-command -b "127.0.0.1:$port" --key-separator :
got=$(timeout 30 "$dir/tools/keel" consume first-command -b "127.0.0.1:$port" --from-beginning \
        --max-messages 1 --timeout-ms 10000 --format '%k:%v')
if [[ "$got" != "k:$record" ]]; then
  echo "check-first-command: consumed '$got', expected 'k:$record'"
  exit 1
fi
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
if [[ $rc -ne 0 ]]; then
  cat "$out"
  echo "check-first-command: keel exited $rc on SIGTERM"
  exit 1
fi
echo "check-first-command: ok (listening on 127.0.0.1:$port, one record back, clean stop)"
