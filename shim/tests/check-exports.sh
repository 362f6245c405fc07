#!/usr/bin/env bash
# Checks the built libraries' dynamic interface: SONAMEs, only cu*/nvml* exported, the shim marker, every
# implemented cu* symbol known to the generated proc-address table, and only libc/libdl/libpthread needed.
set -u
out=${1:-build/shim}
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
cuda=$out/libcuda.so.1 nvml=$out/libnvidia-ml.so.1
[ "$(readelf -d "$cuda" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')" = libcuda.so.1 ] && ok || bad "libcuda SONAME"
[ "$(readelf -d "$nvml" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')" = libnvidia-ml.so.1 ] && ok || bad "nvml SONAME"
[ -L "$out/libcuda.so" ] && ok || bad "libcuda.so symlink"
others=$(nm -D --defined-only "$cuda" | awk '{print $3}' | grep -v '^cu' | wc -l)
[ "$others" -eq 0 ] && ok || bad "libcuda exports $others non-cu symbols"
others=$(nm -D --defined-only "$nvml" | awk '{print $3}' | grep -v '^nvml' | wc -l)
[ "$others" -eq 0 ] && ok || bad "libnvidia-ml exports $others non-nvml symbols"
nm -D --defined-only "$cuda" | grep -q ' T cuAvecShimVersion$' && ok || bad "marker cuAvecShimVersion"
# every exported cu* name (except avec's own: the marker and the stats snapshot) is a driver entry point known to the generated table
table=shim/gen/out/proc_table.c
missing=$(nm -D --defined-only "$cuda" | awk '{print $3}' | grep -v '^cuAvec\(ShimVersion\|StatsSnapshot\)$' | while read -r s; do
  grep -q "{\"$s\", (void" "$table" || echo "$s"; done)
[ -z "$missing" ] && ok || bad "exported but not in the proc table: $missing"
count=$(nm -D --defined-only "$cuda" | wc -l)
[ "$count" -gt 650 ] && ok || bad "only $count symbols exported"
for lib in "$cuda" "$nvml"; do
  needed=$(readelf -d "$lib" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p' | grep -v -E '^(libc|libdl|libpthread)\.so|^ld-linux' || true)
  [ -z "$needed" ] && ok || bad "$lib needs $needed"
done
# loadable into containers with an older glibc than the build machine's: no symbol version above 2.17
for lib in "$cuda" "$nvml"; do
  newest=$(objdump -T "$lib" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
  [ "$(printf '%s\n2.17\n' "$newest" | sort -V | tail -1)" = 2.17 ] && ok || bad "$lib needs GLIBC_$newest"
done
# nothing may connect at load time: loading the library into a process that never calls cuInit is silent
if command -v python3 >/dev/null; then
  res=$(AVEC_SERVER=127.0.0.1:1 LD_PRELOAD=$cuda python3 -c 'print("loaded")' 2>&1)
  [ "$res" = loaded ] && ok || bad "preloading prints or fails: $res"
fi
# the committed generated tables are what the generator produces from the pinned CUDA 13.0 headers
if [ -n "${CUDA_HOME:-}" ] && [ -f "$CUDA_HOME/include/cudaTypedefs.h" ] && command -v python3 >/dev/null; then
  gen=$(mktemp -d)
  if python3 shim/gen/gen_cuda_api.py "$CUDA_HOME/include" "$gen" 2>/dev/null && diff -r -q "$gen" shim/gen/out >/dev/null; then
    ok
  else
    bad "shim/gen/out is stale: run make shim-gen"
  fi
  rm -rf "$gen"
fi
echo "shim exports: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
