#!/usr/bin/env bash
# Lays out a CUDA 13.0 toolkit folder (headers, nvcc, cicc, cudart) from the PyPI wheels, once, under a
# cache outside the repo. Pinned to 13.0 because the GPU machines run driver 580 (CUDA 13.0).
# Usage: hack/cuda-toolkit.sh [DEST]   (default: $AVEC_CACHE/cuda-13.0, AVEC_CACHE=$HOME/.cache/avec)
set -euo pipefail
cache=${AVEC_CACHE:-$HOME/.cache/avec}
dest=${1:-$cache/cuda-13.0}
stamp=$dest/.avec-complete
[ -f "$stamp" ] && { echo "$dest"; exit 0; }

source "$(dirname "$0")/cuda-wheels.sh"
pkgs=(nvidia-cuda-runtime==13.0.96 'nvidia-cuda-crt==13.0.88' 'nvidia-cuda-nvcc==13.0.88'
      'nvidia-nvvm==13.0.88' 'nvidia-cuda-cccl==13.0.85' 'nvidia-nvml-dev==13.0.87')
rm -rf "$dest"
cuda_wheels_install cuda-toolkit "$cache/wheels/cuda-13.0" "$dest" "${pkgs[@]}"
# nvcc's profile looks for lib64 and include/cccl; cudart's dev symlink is missing from the wheel.
ln -sfn lib "$dest/lib64"
ln -sfn libcudart.so.13 "$dest/lib/libcudart.so"
chmod +x "$dest"/bin/* "$dest"/nvvm/bin/* 2>/dev/null || true
touch "$stamp"
echo "cuda-toolkit: ready at $dest" >&2
echo "$dest"
