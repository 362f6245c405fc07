/* Compression of bulk copy chunks, shared by the shim (C) and the executor (C++): zstd (level 1) after an
 * optional byte-delta filter, chosen per chunk from a sample, and skipped when the sample does not shrink.
 *
 * libzstd is loaded with dlopen("libzstd.so.1") on first use rather than linked: Debian's static archive
 * is not position-independent (the shim is a shared library loaded into arbitrary programs), and a
 * program that brings its own zstd must not see ours. Where the library is missing the codec reports
 * itself unavailable and the HELLO does not offer compression. The header libzstd-dev provides is
 * only used for the prototypes. */
#ifndef AVEC_CODEC_H
#define AVEC_CODEC_H

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "avec_wire.h"

#define AVEC_CODEC_SAMPLE (64u * 1024u)  /* bytes of a chunk tried with each filter */
#define AVEC_CODEC_KEEP_RATIO 0.90       /* compress a chunk only if its sample shrinks below this */
#define AVEC_CODEC_LEVEL 1

typedef struct avec_zstd_api {
  size_t (*compress)(void *dst, size_t cap, const void *src, size_t n, int level);
  size_t (*decompress)(void *dst, size_t cap, const void *src, size_t n);
  size_t (*bound)(size_t n);
  unsigned (*is_error)(size_t code);
  unsigned long long (*content_size)(const void *src, size_t n);
} avec_zstd_api;

static avec_zstd_api avec_zstd_fns;
static int avec_zstd_ok;
static pthread_once_t avec_zstd_once = PTHREAD_ONCE_INIT;

static void avec_zstd_load(void) {
  void *h = dlopen("libzstd.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!h) return;
  *(void **)&avec_zstd_fns.compress = dlsym(h, "ZSTD_compress");
  *(void **)&avec_zstd_fns.decompress = dlsym(h, "ZSTD_decompress");
  *(void **)&avec_zstd_fns.bound = dlsym(h, "ZSTD_compressBound");
  *(void **)&avec_zstd_fns.is_error = dlsym(h, "ZSTD_isError");
  *(void **)&avec_zstd_fns.content_size = dlsym(h, "ZSTD_getFrameContentSize");
  avec_zstd_ok = avec_zstd_fns.compress && avec_zstd_fns.decompress && avec_zstd_fns.bound &&
                 avec_zstd_fns.is_error && avec_zstd_fns.content_size;
}

/* 1 when zstd can be used here. */
static inline int avec_codec_available(void) {
  pthread_once(&avec_zstd_once, avec_zstd_load);
  return avec_zstd_ok;
}

/* Largest compressed size of an n-byte chunk (what the output buffer of avec_codec_compress needs). */
static inline size_t avec_codec_bound(size_t n) { return avec_codec_available() ? avec_zstd_fns.bound(n) : 0; }

static inline void avec_delta_encode(uint8_t *dst, const uint8_t *src, size_t n, unsigned stride) {
  size_t head = n < stride ? n : stride;
  memcpy(dst, src, head);
  for (size_t i = stride; i < n; i++) dst[i] = (uint8_t)(src[i] - src[i - stride]);
}

static inline void avec_delta_decode(uint8_t *p, size_t n, unsigned stride) {
  for (size_t i = stride; i < n; i++) p[i] = (uint8_t)(p[i] + p[i - stride]);
}

/* Compresses `n` raw bytes (n <= AVEC_CHUNK) into `out` (avec_codec_bound(n) bytes) using `scratch` (n
 * bytes) for the filter. Returns the compressed length and sets *codec, or 0 when the chunk is not worth
 * compressing (its sample does not shrink below AVEC_CODEC_KEEP_RATIO under any filter, or the whole
 * chunk did not): the caller then sends it raw. */
static inline size_t avec_codec_compress(const uint8_t *src, size_t n, uint8_t *out, uint8_t *scratch,
                                         uint32_t *codec) {
  static const unsigned strides[] = {0, 1, 3, 4};
  if (!avec_codec_available() || n < 4096) return 0;
  size_t sn = n < AVEC_CODEC_SAMPLE ? n : AVEC_CODEC_SAMPLE;
  const uint8_t *sample = src + (n - sn) / 2; /* the middle: headers and padding are not typical */
  size_t best = (size_t)(sn * AVEC_CODEC_KEEP_RATIO);
  int pick = -1;
  for (int i = 0; i < (int)(sizeof strides / sizeof strides[0]); i++) {
    const uint8_t *in = sample;
    if (strides[i]) {
      avec_delta_encode(scratch, sample, sn, strides[i]);
      in = scratch;
    }
    size_t z = avec_zstd_fns.compress(out, avec_zstd_fns.bound(sn), in, sn, AVEC_CODEC_LEVEL);
    if (!avec_zstd_fns.is_error(z) && z < best) {
      best = z;
      pick = i;
    }
  }
  if (pick < 0) return 0;
  const uint8_t *in = src;
  if (strides[pick]) {
    avec_delta_encode(scratch, src, n, strides[pick]);
    in = scratch;
  }
  size_t z = avec_zstd_fns.compress(out, avec_zstd_fns.bound(n), in, n, AVEC_CODEC_LEVEL);
  if (avec_zstd_fns.is_error(z) || z >= (size_t)(n * AVEC_CODEC_KEEP_RATIO)) return 0;
  *codec = AVEC_CODEC_ZSTD | strides[pick] << AVEC_CODEC_DELTA_SHIFT;
  return z;
}

/* Checks a chunk descriptor from the peer: 0 when acceptable. Pure (fuzzed). */
static inline int avec_zchunk_check(const avec_zchunk *z, size_t compressed_len) {
  if ((z->codec & 0xFFu) != AVEC_CODEC_ZSTD) return -1;
  if ((z->codec >> AVEC_CODEC_DELTA_SHIFT) > AVEC_CODEC_MAX_DELTA) return -2;
  if (z->raw_len == 0 || z->raw_len > AVEC_CHUNK) return -3;
  if (compressed_len == 0 || compressed_len > AVEC_MAX_PAYLOAD) return -4;
  return 0;
}

/* Decompresses one chunk into dst, which must take exactly z->raw_len bytes. Returns 0 or -1 (bad data,
 * wrong size, codec unavailable). */
static inline int avec_codec_decompress(const avec_zchunk *z, const void *src, size_t n, uint8_t *dst) {
  if (avec_zchunk_check(z, n) || !avec_codec_available()) return -1;
  size_t got = avec_zstd_fns.decompress(dst, z->raw_len, src, n);
  if (avec_zstd_fns.is_error(got) || got != z->raw_len) return -1;
  unsigned stride = z->codec >> AVEC_CODEC_DELTA_SHIFT;
  if (stride) avec_delta_decode(dst, got, stride);
  return 0;
}

#endif /* AVEC_CODEC_H */
