#!/usr/bin/env bash
# The whole test suite: install what is missing, build, run every test; by default twice, on the
# optimised build and on the AddressSanitizer + UndefinedBehaviorSanitizer build.
#   scripts/test.sh            release, then asan
#   scripts/test.sh release    one preset only (release, debug or asan)
set -euo pipefail
cd "$(dirname "$0")/.."

presets=("$@")
[ ${#presets[@]} -eq 0 ] && presets=(release asan)
for p in "${presets[@]}"; do
  case "$p" in
    release|debug|asan) ;;
    *) echo "usage: scripts/test.sh [release|debug|asan]..." >&2; exit 2 ;;
  esac
done

scripts/install-deps.sh
for p in "${presets[@]}"; do
  echo "== $p: build and test"
  cmake --preset "$p" >/dev/null
  cmake --build --preset "$p"
  ctest --preset "$p" -j "$(nproc)"
done
