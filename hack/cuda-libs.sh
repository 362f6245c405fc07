#!/usr/bin/env bash
# Adds the CUDA 13.0 math/media libraries (headers + shared libraries) that NVIDIA's public CUDA samples
# link against to the toolkit folder of hack/cuda-toolkit.sh, once. Only `make gpu-samples` needs them,
# so `make deps` stays lean. Versions are the 13.0.x releases (same SONAMEs as the GPU machine's CUDA 13.0
# install, which the samples load at run time; nothing from here is shipped).
# Usage: hack/cuda-libs.sh [DEST]   (default: $AVEC_CACHE/cuda-13.0)
set -euo pipefail
cache=${AVEC_CACHE:-$HOME/.cache/avec}
dest=${1:-$(bash "$(dirname "$0")/cuda-toolkit.sh")}

pkgs=(nvidia-cublas==13.0.2.14 nvidia-cufft==12.0.0.61 nvidia-curand==10.4.0.35 nvidia-cusparse==12.6.3.3
      nvidia-cusolver==12.0.4.66 nvidia-npp==13.0.1.2 nvidia-nvjpeg==13.0.1.86 nvidia-cuda-nvrtc==13.0.88
      nvidia-nvjitlink==13.0.88 nvidia-cuda-profiler-api==13.0.85 nvidia-nvtx==13.0.85)
# The stamp records the set, so adding a wheel here lays the folder out again.
stamp=$dest/.avec-libs-complete
[ "$(cat "$stamp" 2>/dev/null)" = "${pkgs[*]}" ] && { echo "$dest"; exit 0; }
source "$(dirname "$0")/cuda-wheels.sh"
cuda_wheels_install cuda-libs "$cache/wheels/cuda-13.0-libs" "$dest" "${pkgs[@]}"
# The wheels ship only the versioned libraries (libcublas.so.13); the linker wants the dev names.
for lib in "$dest"/lib/lib*.so.*; do
  base=${lib%%.so.*}.so
  [ -e "$base" ] || ln -s "$(basename "$lib")" "$base"
done
echo "${pkgs[*]}" > "$stamp"
echo "cuda-libs: ready at $dest" >&2
echo "$dest"
