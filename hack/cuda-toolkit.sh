#!/usr/bin/env bash
# Lays out a CUDA 13.0 toolkit folder (headers, nvcc, cicc, cudart) from the PyPI wheels, once, under a
# cache outside the repo. Pinned to 13.0 because the GPU machines run driver 580 (CUDA 13.0).
# Usage: hack/cuda-toolkit.sh [DEST]   (default: $AVEC_CACHE/cuda-13.0, AVEC_CACHE=$HOME/.cache/avec)
set -euo pipefail
cache=${AVEC_CACHE:-$HOME/.cache/avec}
dest=${1:-$cache/cuda-13.0}
stamp=$dest/.avec-complete
[ -f "$stamp" ] && { echo "$dest"; exit 0; }

wheels=$cache/wheels/cuda-13.0
mkdir -p "$wheels"
pkgs=(nvidia-cuda-runtime==13.0.96 'nvidia-cuda-crt==13.0.88' 'nvidia-cuda-nvcc==13.0.88'
      'nvidia-nvvm==13.0.88' 'nvidia-cuda-cccl==13.0.85' 'nvidia-nvml-dev==13.0.87')
echo "cuda-toolkit: fetching ${#pkgs[@]} wheels into $wheels" >&2
python3 -m pip download -q --no-deps --only-binary=:all: --platform manylinux2014_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux_2_12_x86_64 --platform manylinux2010_x86_64 \
  -d "$wheels" "${pkgs[@]}" >&2

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for w in "$wheels"/*.whl; do python3 -m zipfile -e "$w" "$tmp" >/dev/null; done
rm -rf "$dest"; mkdir -p "$dest"
cp -a "$tmp/nvidia/cu13/." "$dest/"
# nvcc's profile looks for lib64 and include/cccl; cudart's dev symlink is missing from the wheel.
ln -sfn lib "$dest/lib64"
ln -sfn libcudart.so.13 "$dest/lib/libcudart.so"
chmod +x "$dest"/bin/* "$dest"/nvvm/bin/* 2>/dev/null || true
touch "$stamp"
echo "cuda-toolkit: ready at $dest" >&2
echo "$dest"
