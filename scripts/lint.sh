#!/usr/bin/env bash
# Formatting and static checks, as CI runs them (scripts/test.sh calls this first):
#   - every C++ file is formatted as .clang-format says (clang-format --dry-run --Werror);
#   - clang-tidy with .clang-tidy (function size, bug-prone and performance checks) over the library and
#     the programs, from the release build's compile_commands.json.
# Fails on the first kind of violation found, listing them all. `scripts/lint.sh format` or
# `scripts/lint.sh tidy` runs one of the two.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}

if [ "$what" = all ] || [ "$what" = format ]; then
  echo "== lint: clang-format"
  git ls-files '*.cpp' '*.hpp' | xargs clang-format --dry-run --Werror
fi

if [ "$what" = all ] || [ "$what" = tidy ]; then
  echo "== lint: clang-tidy"
  [ -f build/compile_commands.json ] || cmake --preset release >/dev/null
  # Generated files (the version header) must exist before the sources are parsed.
  cmake --build --preset release --target plexus_version_info >/dev/null
  { git ls-files 'src/*.cpp' 'apps/*.cpp' | xargs -P "$(nproc)" -n 4 clang-tidy -p build --quiet 2>&1 || true; } |
    { grep -v -E "^[0-9]+ warnings? (and [0-9]+ errors? )?generated|^Suppressed [0-9]+ warnings|^Use -header-filter|warnings? treated as errors?$" || true; } |
    tee build/clang-tidy.log
  if grep -q -E "(warning|error):" build/clang-tidy.log; then
    echo "clang-tidy: $(grep -c -E '(warning|error):' build/clang-tidy.log) finding(s); see above" >&2
    exit 1
  fi
fi
