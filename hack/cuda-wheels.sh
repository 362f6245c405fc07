# shellcheck shell=bash
# Sourced by hack/cuda-toolkit.sh and hack/cuda-libs.sh.
# cuda_wheels_install LABEL WHEEL_DIR DEST PKG...: downloads the CUDA 13 wheels PKG... (x86_64, no
# dependencies) into WHEEL_DIR and copies their nvidia/cu13 tree (bin, include, lib, nvvm) into DEST.
cuda_wheels_install() {
  local label=$1 wheels=$2 dest=$3 tmp w
  shift 3
  mkdir -p "$wheels" "$dest"
  echo "$label: fetching $# wheels into $wheels" >&2
  python3 -m pip download -q --no-deps --only-binary=:all: --platform manylinux2014_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux_2_12_x86_64 --platform manylinux2010_x86_64 \
    --platform manylinux_2_27_x86_64 --platform manylinux_2_28_x86_64 -d "$wheels" "$@" >&2
  tmp=$(mktemp -d)
  for w in "$wheels"/*.whl; do python3 -m zipfile -e "$w" "$tmp" >/dev/null; done
  cp -a "$tmp/nvidia/cu13/." "$dest/"
  rm -rf "$tmp"
}
