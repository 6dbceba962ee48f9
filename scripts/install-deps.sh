#!/usr/bin/env bash
# Installs Plexus's build and run dependencies from Debian 12 packages. Idempotent: packages that are
# already present are skipped, and nothing is done at all when everything is installed.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libopenmpi-dev openmpi-bin
  libhdf5-openmpi-dev hdf5-tools
  libboost-serialization-dev
  catch2 librandom123-dev libtoml11-dev libcli11-dev libfmt-dev
  python3 python3-numpy python3-h5py python3-matplotlib
  # The Python interface (src/python) and its tests.
  pybind11-dev python3-dev python3-pytest python3-tomli-w python3-venv
  zlib1g-dev dataset-fashion-mnist  # IDX images (gzip); the set the equilibrium model and its tests use
  # A real single-node Slurm for the job-chain test (cluster/local_slurm.sh).
  slurm-wlm munge
  # Formatting and static checks (scripts/lint.sh); the ThreadSanitizer build uses clang with LLVM's
  # OpenMP runtime and its Archer tool, which tell ThreadSanitizer about OpenMP's synchronisation.
  clang-format clang-tidy clang libomp-14-dev libclang-rt-14-dev
)
# Optional groups, requested by name: `install-deps.sh bench` adds the Brian2 peer.
for group in "$@"; do
  case "$group" in
    bench) packages+=(python3-brian) ;;
    *) echo "install-deps.sh: unknown group '$group' (known: bench)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}"
