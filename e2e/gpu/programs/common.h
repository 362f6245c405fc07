// Shared helpers for the avec GPU end-to-end programs.
//
// Output rules (run.sh compares the native and the remoted run line by line):
//   - every line that is not a comment must be identical natively and through the shim;
//   - lines starting with '#' are informational (timings, memory totals that reflect the session's
//     limit) and are not compared;
//   - a failed call prints "ERR <section>: <call> -> <code>" and abandons the current section only,
//     so one missing feature does not hide the results of the others.
#pragma once
#include <cuda.h>
#include <cuda_runtime.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_errors = 0;
static const char *g_section = "main";

static inline const char *drv_err_name(CUresult r) {
  const char *s = NULL;
  if (cuGetErrorName(r, &s) != CUDA_SUCCESS || !s) return "UNKNOWN";
  return s;
}

// Driver call: on failure print and leave the enclosing section (function returning void).
#define DRV(call)                                                                              \
  do {                                                                                         \
    CUresult _r = (call);                                                                      \
    if (_r != CUDA_SUCCESS) {                                                                  \
      printf("ERR %s: %s -> %d %s\n", g_section, #call, (int)_r, drv_err_name(_r));           \
      g_errors++;                                                                              \
      return;                                                                                  \
    }                                                                                          \
  } while (0)

// Runtime call: same for cudaError_t.
#define RT(call)                                                                               \
  do {                                                                                         \
    cudaError_t _e = (call);                                                                   \
    if (_e != cudaSuccess) {                                                                   \
      printf("ERR %s: %s -> %d %s\n", g_section, #call, (int)_e, cudaGetErrorName(_e));       \
      g_errors++;                                                                              \
      return;                                                                                  \
    }                                                                                          \
  } while (0)

// A condition that must hold; prints the condition when it does not.
#define EXPECT(cond)                                                                           \
  do {                                                                                         \
    if (!(cond)) {                                                                             \
      printf("FAIL %s: expected %s\n", g_section, #cond);                                      \
      g_errors++;                                                                              \
    }                                                                                          \
  } while (0)

#define SECTION(name) g_section = (name); printf("[%s]\n", g_section)

// FNV-1a 64-bit over bytes: deterministic checksums of result buffers.
static inline uint64_t fnv64(const void *p, size_t n, uint64_t h = 1469598103934665603ull) {
  const unsigned char *b = (const unsigned char *)p;
  for (size_t i = 0; i < n; i++) { h ^= b[i]; h *= 1099511628211ull; }
  return h;
}

// Deterministic pseudo-random fill (xorshift), so host data is the same in every run.
static inline void fill_pattern(void *p, size_t n, uint32_t seed) {
  uint32_t x = seed * 2654435761u + 1;
  unsigned char *b = (unsigned char *)p;
  for (size_t i = 0; i < n; i++) { x ^= x << 13; x ^= x >> 17; x ^= x << 5; b[i] = (unsigned char)x; }
}

// A texture object over a whole CUDA array: element reads, one address mode for every dimension.
static inline cudaError_t array_texture(cudaTextureObject_t *t, cudaArray_t a, cudaTextureFilterMode filter,
                                        int normalized, cudaTextureAddressMode mode = cudaAddressModeClamp) {
  cudaResourceDesc rd;
  memset(&rd, 0, sizeof rd);
  rd.resType = cudaResourceTypeArray;
  rd.res.array.array = a;
  cudaTextureDesc td;
  memset(&td, 0, sizeof td);
  td.addressMode[0] = td.addressMode[1] = td.addressMode[2] = mode;
  td.filterMode = filter;
  td.readMode = cudaReadModeElementType;
  td.normalizedCoords = normalized;
  return cudaCreateTextureObject(t, &rd, &td, NULL);
}

static inline int finish(void) {
  printf("errors: %d\n", g_errors);
  fflush(stdout);
  return g_errors ? 1 : 0;
}
