/* Small self-contained digests: SHA-256 (content addresses of module images) and HMAC-MD2 (the
 * integrity digest the CUDA runtime verifies; see reference/export-tables.md, INTEGRITY_CHECK). */
#ifndef AVEC_DIGEST_H
#define AVEC_DIGEST_H

#include <stddef.h>
#include <stdint.h>

typedef struct avec_sha256 {
  uint32_t h[8];
  uint64_t bytes;
  uint8_t buf[64];
  size_t used;
} avec_sha256;

void avec_sha256_init(avec_sha256 *s);
void avec_sha256_update(avec_sha256 *s, const void *data, size_t len);
void avec_sha256_final(avec_sha256 *s, uint8_t out[32]);
void avec_sha256_once(const void *data, size_t len, uint8_t out[32]);
/* 1 when the SHA-NI path is in use. avec_sha256_portable_only(1) forces the portable code (tests). */
int avec_sha256_accelerated(void);
void avec_sha256_portable_only(int on);

void avec_md2(const void *data, size_t len, uint8_t out[16]);
/* HMAC over MD2 (block size 16). `key_len` <= 16. */
void avec_hmac_md2(const uint8_t *key, size_t key_len, const void *data, size_t len, uint8_t out[16]);

#endif
