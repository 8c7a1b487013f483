#!/usr/bin/env bash
# Installs the Debian packages keel needs to build and test. Idempotent: only what is
# missing is installed, and nothing is fetched from outside Debian's configured sources.
#   scripts/install-deps.sh          build + run dependencies
#   scripts/install-deps.sh --test   also the test clients and tools
#   scripts/install-deps.sh --print-test-packages   list the test-only packages, install nothing
set -euo pipefail

build_pkgs=(
  cmake ninja-build g++ ccache pkg-config python3
  libboost1.81-dev libzstd-dev liblz4-dev libsnappy-dev zlib1g-dev
  libspdlog-dev libfmt-dev libcli11-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)
test_pkgs=(
  clang libclang-rt-14-dev clang-format
  librdkafka-dev kcat python3-kafka python3-confluent-kafka
  python3-snappy python3-lz4 python3-zstandard
  golang-go golang-github-shopify-sarama-dev golang-github-segmentio-kafka-go-dev
  make libssl-dev  # @confluentinc/kafka-javascript builds librdkafka from source
)

if [[ "${1:-}" == "--print-test-packages" ]]; then
  printf '%s\n' "${test_pkgs[@]}"
  exit 0
fi

want=("${build_pkgs[@]}")
if [[ "${1:-}" == "--test" ]]; then
  want+=("${test_pkgs[@]}")
  # kafkajs comes from npm; a machine without Node.js gets Debian's.
  command -v npm >/dev/null || want+=(nodejs npm)
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The npm clients of the compatibility suite, exactly as pinned in each package-lock.json;
# a folder is skipped when its node_modules already matches its lock.
# @confluentinc/kafka-javascript builds the librdkafka it ships from source (no prebuilt
# download: that host is unreachable offline), linked against Debian's libssl, zlib, zstd
# and lz4 (CKJS_LINKING=dynamic; its static mode downloads their sources), with Node.js's
# headers from /usr/include/node.
# A finished node_modules is also kept in ~/.cache/keel/npm, keyed by the lock and Node.js's
# version, so a fresh clone (CI's) unpacks it instead of building librdkafka again.
compat="$(dirname "$0")/../compat-tests"
npm_cache="${XDG_CACHE_HOME:-$HOME/.cache}/keel/npm"
for client in kafkajs platformatic-kafka confluent-kafka-javascript; do
  dir="$compat/$client"
  if [[ "${1:-}" == "--test" && -f "$dir/package-lock.json" ]] &&
     ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.package-lock.json.installed"; then
    key="$client-$( (cat "$dir/package-lock.json"; node --version) | sha256sum | cut -c1-16)"
    if [[ -f "$npm_cache/$key.tar" ]]; then
      echo "install-deps: compat-tests/$client/node_modules from $npm_cache/$key.tar"
      rm -rf "$dir/node_modules"
      tar -xf "$npm_cache/$key.tar" -C "$dir"
      continue
    fi
    echo "install-deps: npm ci in compat-tests/$client"
    (cd "$dir" &&
     CKJS_LINKING=dynamic npm_config_build_from_source=true npm_config_nodedir=/usr \
       npm ci --no-audit --no-fund --loglevel=error >/dev/null &&
     cp package-lock.json node_modules/.package-lock.json.installed)
    mkdir -p "$npm_cache"
    tar -cf "$npm_cache/$key.tar.partial" -C "$dir" node_modules &&
      mv "$npm_cache/$key.tar.partial" "$npm_cache/$key.tar"
  fi
done
