/* copy_bench: bulk copies through the driver API (linked with -lcuda: the shim here, the real driver on a
 * GPU machine), best of R repetitions, one "key value" line each (e2e/gpu/bench/report.py reads them).
 *   copy_bench [--mib M] [--reps R] [--data zero|camera|floats] [--only h2d|d2h] [--check]
 * Cases: h2d/d2h, pinned (cuMemAllocHost) and pageable (malloc). --data picks what the host buffers hold:
 * zero-free filler (default), camera-like uint8 frames (smooth gradients + noise) or random float32;
 * the key names carry the data kind when it is not the default. --check verifies the bytes after each
 * direction (a copy there and back must give the same buffer). */
#include <cuda.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CK(x)                                                                           \
  do {                                                                                  \
    CUresult r_ = (x);                                                                  \
    if (r_ != CUDA_SUCCESS) {                                                           \
      fprintf(stderr, "copy_bench: %s failed: %d (line %d)\n", #x, (int)r_, __LINE__); \
      exit(1);                                                                          \
    }                                                                                   \
  } while (0)

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next32(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng >> 11);
}

/* 1920x1080 RGB frames: a diagonal gradient per channel that moves from frame to frame, plus +-3 noise. */
static void fill_camera(uint8_t *p, size_t n) {
  const size_t w = 1920, h = 1080, frame = w * h * 3;
  for (size_t off = 0; off < n; off++) {
    size_t f = off / frame, i = off % frame, px = i / 3, c = i % 3, x = px % w, y = px / w;
    int v = (int)((x * (2 + c) + y * (3 - c) + f * 17) / 16 % 256) + (int)(next32() % 7) - 3;
    p[off] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
  }
}

static void fill(void *buf, size_t n, const char *kind, uint8_t salt) {
  if (!strcmp(kind, "camera")) {
    fill_camera(buf, n);
  } else if (!strcmp(kind, "floats")) {
    float *f = buf;
    for (size_t i = 0; i < n / 4; i++) f[i] = (float)next32() / 4294967296.0f * 2.0f - 1.0f;
  } else {
    uint8_t *p = buf;
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 31 + salt + (i >> 12));
  }
}

int main(int argc, char **argv) {
  long mib = 256, reps = 3;
  const char *data = "fill", *only = "";
  int check = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--mib") && i + 1 < argc) mib = atol(argv[++i]);
    else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atol(argv[++i]);
    else if (!strcmp(argv[i], "--data") && i + 1 < argc) data = argv[++i];
    else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
    else if (!strcmp(argv[i], "--check")) check = 1;
    else { fprintf(stderr, "usage: copy_bench [--mib M] [--reps R] [--data zero|camera|floats] [--only h2d|d2h] [--check]\n"); return 2; }
  }
  size_t bytes = (size_t)mib << 20;
  CUdevice dev;
  CUcontext ctx;
  CUdeviceptr d;
  void *pin;
  CK(cuInit(0));
  CK(cuDeviceGet(&dev, 0));
  CK(cuDevicePrimaryCtxRetain(&ctx, dev));
  CK(cuCtxSetCurrent(ctx));
  CK(cuMemAlloc(&d, bytes));
  CK(cuMemAllocHost(&pin, bytes));
  char *page = malloc(bytes), *ref = malloc(bytes);
  if (!page || !ref) { fprintf(stderr, "copy_bench: out of host memory\n"); return 1; }
  fill(ref, bytes, data, 7);
  memcpy(pin, ref, bytes);
  memcpy(page, ref, bytes);
  const char *suffix = strcmp(data, "fill") ? data : "";
  struct { const char *name; char *host; int h2d; } cases[] = {
      {"h2d_pinned", pin, 1}, {"d2h_pinned", pin, 0}, {"h2d_pageable", page, 1}, {"d2h_pageable", page, 0}};
  int bad = 0;
  for (int c = 0; c < 4; c++) {
    if (*only && strncmp(cases[c].name, only, 3)) continue;
    double best = 1e30;
    for (long r = 0; r < reps; r++) {
      if (!cases[c].h2d && check) memset(cases[c].host, 0, bytes);
      double a = now_s();
      if (cases[c].h2d) CK(cuMemcpyHtoD(d, cases[c].host, bytes));
      else CK(cuMemcpyDtoH(cases[c].host, d, bytes));
      double t = now_s() - a;
      if (t < best) best = t;
      if (!cases[c].h2d && check && memcmp(cases[c].host, ref, bytes)) {
        fprintf(stderr, "copy_bench: %s returned different bytes\n", cases[c].name);
        bad = 1;
      }
    }
    printf("%s%s%s_MBps %.1f\n", cases[c].name, *suffix ? "_" : "", suffix, bytes / best / 1e6);
  }
  CK(cuMemFree(d));
  CK(cuMemFreeHost(pin));
  return bad;
}
