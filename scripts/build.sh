#!/usr/bin/env bash
# build.sh [BUILD_DIR] [extra cmake args...]: configure (once) and build keel with Ninja.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
jobs=${KEEL_JOBS:-$(nproc)}
# ccache hits across build folders and clones: paths below the tree are hashed relative to
# it, and the build folder's own path is left out of the hash.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
cmake --build "$dir" -j "$jobs"
