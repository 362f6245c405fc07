#!/usr/bin/env bash
# Builds NVIDIA's public CUDA samples (tag v13.0) for sm_90 with the CUDA 13.0 toolkit from wheels and packs
# the ones that built into .gpu/samples/samples.tar.xz for e2e/gpu/samples.sh on the GPU machine.
#
#   CUDA_SAMPLES_SRC   a checkout/export of github.com/NVIDIA/cuda-samples (default: $AVEC_CACHE/cuda-samples-v13.0)
#   CUDA_SAMPLES_GIT   a git dir or clone to export CUDA_SAMPLES_REF from when CUDA_SAMPLES_SRC is missing
#   CUDA_SAMPLES_REF   default v13.0 (the release for CUDA 13.0, driver 580)
#   SAMPLES_JOBS       parallel compile jobs (default: nproc)
#
# Their source is never copied into this repository: the build works on a patched copy under build/.
# Patches to that copy: CMAKE_CUDA_ARCHITECTURES -> 90 (H100/H200 only; their list has nine architectures).
# Everything links dynamically (cudart, cuBLAS, ...): the GPU machine has CUDA 13.0 installed system-wide.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
cache=${AVEC_CACHE:-$HOME/.cache/avec}
ref=${CUDA_SAMPLES_REF:-v13.0}
src=${CUDA_SAMPLES_SRC:-$cache/cuda-samples-$ref}
build=${SAMPLES_BUILD:-$root/build/cuda-samples}
out=${SAMPLES_OUT:-$root/.gpu/samples}
jobs=${SAMPLES_JOBS:-$(nproc)}

cuda_home=$(bash "$root/hack/cuda-libs.sh")

# --- source -------------------------------------------------------------------------------------------
if [ ! -d "$src/Samples" ]; then
  [ -n "${CUDA_SAMPLES_GIT:-}" ] || {
    echo "samples: no source at $src; set CUDA_SAMPLES_SRC, or CUDA_SAMPLES_GIT to a git dir of NVIDIA/cuda-samples" >&2
    exit 2
  }
  echo "samples: exporting $ref of $CUDA_SAMPLES_GIT to $src" >&2
  # A partial mirror may lack some large blobs (docs, a few data files): export what is there.
  missing=()
  while read -r _ _ obj path; do
    git --git-dir="$CUDA_SAMPLES_GIT" cat-file -e "$obj" 2>/dev/null || missing+=(":(exclude)$path")
  done < <(git --git-dir="$CUDA_SAMPLES_GIT" ls-tree -r "$ref")
  [ ${#missing[@]} -eq 0 ] || echo "samples: ${#missing[@]} files absent from the mirror: ${missing[*]}" >&2
  mkdir -p "$src.tmp"
  git --git-dir="$CUDA_SAMPLES_GIT" archive "$ref" -- . "${missing[@]}" | tar -x -C "$src.tmp"
  mv "$src.tmp" "$src"
fi

# --- candidates: every sample the category CMakeLists add, less excluded.txt ----------------------------
mapfile -t excluded < <(grep -v '^\s*\(#\|$\)' "$here/excluded.txt" | awk '{print $1}')
candidates=()
for cat_dir in "$src"/Samples/[0-7]_*/; do
  cat=$(basename "$cat_dir")
  [ "$cat" = 7_libNVVM ] && continue          # added as one folder below (its parent CMakeLists sets libNVVM up)
  for s in $(grep -oP '^\s*add_subdirectory\(\K[^)]+' "$cat_dir/CMakeLists.txt"); do
    printf '%s\n' "${excluded[@]}" | grep -qx "$cat/$s" || candidates+=("$cat/$s")
  done
done

rm -rf "$build/src"; mkdir -p "$build/src/Samples" "$build/obj"
cp -a "$src/Common" "$build/src/"
for c in "${candidates[@]}" 7_libNVVM; do
  mkdir -p "$build/src/Samples/$(dirname "$c")"
  cp -a "$src/Samples/$c" "$build/src/Samples/$c"
done
grep -rl --include=CMakeLists.txt 'set(CMAKE_CUDA_ARCHITECTURES' "$build/src/Samples" |
  xargs sed -i 's/set(CMAKE_CUDA_ARCHITECTURES [^)]*)/set(CMAKE_CUDA_ARCHITECTURES 90)/'

# --- a link-time stand-in for libcuda.so.1 (every cu* name of cuda.h; never shipped, never loaded) -------
mkdir -p "$build/stub"
grep -oE '\bcu[A-Z][A-Za-z0-9_]*\b' "$cuda_home/include/cuda.h" | sort -u |
  awk '{print "void " $1 "(void) {}"; print "void " $1 "_ptds(void) {}"; print "void " $1 "_ptsz(void) {}"}' |
  sort -u > "$build/stub/stub.c"
cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$build/stub/libcuda.so" "$build/stub/stub.c"

# --- one CMake project over the candidates ---------------------------------------------------------------
{
  echo 'cmake_minimum_required(VERSION 3.20)'
  echo 'project(avec_cuda_samples LANGUAGES C CXX CUDA)'
  echo 'find_package(CUDAToolkit REQUIRED)'
  echo 'set(CMAKE_POSITION_INDEPENDENT_CODE ON)'
  echo 'set(CMAKE_CXX_STANDARD 17)'
  echo 'set(CMAKE_CUDA_STANDARD 17)'
  echo 'set(CMAKE_CUDA_ARCHITECTURES 90)'
  echo 'set(CMAKE_CUDA_FLAGS "${CMAKE_CUDA_FLAGS} -Wno-deprecated-gpu-targets --extended-lambda")'
  for c in "${candidates[@]}" 7_libNVVM; do
    echo "add_subdirectory(\${CMAKE_SOURCE_DIR}/src/Samples/$c $c)"
  done
} > "$build/CMakeLists.txt"

cmake -S "$build" -B "$build/obj" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CUDA_COMPILER="$cuda_home/bin/nvcc" -DCUDAToolkit_ROOT="$cuda_home" \
  -DCMAKE_SKIP_RPATH=ON -DCMAKE_CUDA_RUNTIME_LIBRARY=Shared -DCUDA_cuda_driver_LIBRARY="$build/stub/libcuda.so" \
  -DNVVM_LIB="$cuda_home/lib/libnvvm.so" -DNVVM_H="$cuda_home/include/nvvm.h" \
  -DRUNTIME_LIBNVVM_PATH=/usr/local/cuda/nvvm/lib64 > "$build/configure.log" 2>&1 ||
  { tail -40 "$build/configure.log" >&2; exit 1; }
# -k: one sample that does not compile must not stop the others.
make -C "$build/obj" -k -j"$jobs" > "$build/build.log" 2>&1 || true
echo "samples: build log $build/build.log" >&2

# --- stage what built: one folder per sample (its binary + the files its CMake copies next to it: data,
# kernels for NVRTC, fatbins, .ll inputs), list.txt (CATEGORY/SAMPLE EXECUTABLE), then one xz tarball ------
stage=$build/stage/samples
rm -rf "$build/stage"; mkdir -p "$stage"
built=() failed=()
for c in "${candidates[@]}" $(cd "$build/obj" && ls -d 7_libNVVM/*/); do
  c=${c%/}
  [[ $c == */CMakeFiles ]] && continue
  bin=$build/obj/$c
  exes=$(find "$bin" -maxdepth 1 -type f -perm -u+x -exec sh -c 'head -c4 "$1" | grep -q ELF' _ {} \; -print 2>/dev/null | sort)
  if [ -z "$exes" ]; then
    # libNVVM folders that are only tests of ptxgen have no program of their own
    [[ $c == 7_libNVVM/* ]] && ! grep -q add_executable "$build/src/Samples/$c/CMakeLists.txt" && continue
    failed+=("$c"); continue
  fi
  mkdir -p "$stage/$c"
  (cd "$bin" && find . -maxdepth 1 -type f ! -name Makefile ! -name '*.cmake' ! -name '*.o' -exec cp -a {} "$stage/$c/" \;)
  (cd "$bin" && for d in */; do [ "$d" = CMakeFiles/ ] || { [ -d "$d" ] && cp -a "$d" "$stage/$c/"; }; done) 2>/dev/null
  [[ $c == 7_libNVVM/* ]] && cp -a "$build/src/Samples/$c"/*.ll "$stage/$c/" 2>/dev/null
  for e in $exes; do
    strip --strip-unneeded "$stage/$c/$(basename "$e")"
    echo "$c $(basename "$e")" >> "$stage/list.txt"
  done
  built+=("$c")
done
# OpenMP samples need libgomp.so.1, which a bare GPU machine may lack: a copy rides along (samples.sh puts it
# last on the library path, so the machine's own wins).
mkdir -p "$stage/lib"
cp -L "$(gcc -print-file-name=libgomp.so.1)" "$stage/lib/"
{
  echo "# NVIDIA cuda-samples $ref, built $(date -u +%Y-%m-%dT%H:%M:%SZ) for sm_90 by e2e/gpu/samples/build.sh"
  echo "# did not build: ${failed[*]:-none}"
} > "$stage/BUILD-INFO"
mkdir -p "$out"
tar -C "$build/stage" -cf - samples | xz -T0 -9 > "$out/samples.tar.xz.tmp"
mv "$out/samples.tar.xz.tmp" "$out/samples.tar.xz"
echo "samples: ${#built[@]} built, ${#failed[@]} did not build${failed[*]:+: ${failed[*]}}" >&2
for cat in $(printf '%s\n' "${built[@]}" | cut -d/ -f1 | sort -u); do
  echo "samples:   $cat $(printf '%s\n' "${built[@]}" | grep -c "^$cat/")" >&2
done
echo "samples: $out/samples.tar.xz $(du -h "$out/samples.tar.xz" | cut -f1) ($(du -sh "$build/stage" | cut -f1) unpacked)" >&2
