#!/usr/bin/env bash
# The whole test suite: install what is missing, check formatting and run the static checks
# (scripts/lint.sh), build, run every test: on the optimised build, on the AddressSanitizer +
# UndefinedBehaviorSanitizer build, and the MPI-free unit tests on the ThreadSanitizer build.
#   scripts/test.sh            lint, release, asan, tsan
#   scripts/test.sh release    one preset only (release, debug, asan or tsan; no lint)
#   scripts/test.sh lint       the static checks only
set -euo pipefail
cd "$(dirname "$0")/.."

presets=("$@")
[ ${#presets[@]} -eq 0 ] && presets=(lint release asan tsan)
for p in "${presets[@]}"; do
  case "$p" in
    lint|release|debug|asan|tsan) ;;
    *) echo "usage: scripts/test.sh [lint|release|debug|asan|tsan]..." >&2; exit 2 ;;
  esac
done

scripts/install-deps.sh
for p in "${presets[@]}"; do
  if [ "$p" = lint ]; then
    scripts/lint.sh
    continue
  fi
  echo "== $p: build and test"
  cmake --preset "$p" >/dev/null
  cmake --build --preset "$p"
  ctest --preset "$p" -j "$(nproc)"
done
