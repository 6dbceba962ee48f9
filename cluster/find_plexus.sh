# Sourced by the submit scripts here: sets and exports PLEXUS_BIN to the plexus binary, as an absolute
# path: PLEXUS_BIN if set, else the build in the current directory, else an installed one
# (share/plexus/cluster beside bin/), else the one on PATH. Exits 2 if there is none.
# Needs `here`, the directory of the sourcing script.
find_plexus() {
  local c
  for c in "${PLEXUS_BIN:-}" "$PWD/build/bin/plexus" "$here/../../../bin/plexus" "$(command -v plexus || true)"; do
    if [ -n "$c" ] && [ -x "$c" ]; then
      PLEXUS_BIN="$(cd "$(dirname "$c")" && pwd)/$(basename "$c")"
      export PLEXUS_BIN
      return
    fi
  done
  echo "${0##*/}: no plexus binary: build it (cmake --build --preset release) or set PLEXUS_BIN" >&2
  exit 2
}
