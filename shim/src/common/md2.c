/* MD2 (RFC 1319) and HMAC-MD2 (RFC 2104 with a 16-byte block). Only the CUDA runtime's integrity check
 * uses it: a handful of short messages per process. */
#include <string.h>

#include "avec_digest.h"

/* RFC 1319's substitution table, a permutation of 0..255 built from the digits of pi. */
static const uint8_t S[256] = {
    41,  46,  67,  201, 162, 216, 124, 1,   61,  54,  84,  161, 236, 240, 6,   19,  98,  167, 5,   243,
    192, 199, 115, 140, 152, 147, 43,  217, 188, 76,  130, 202, 30,  155, 87,  60,  253, 212, 224, 22,
    103, 66,  111, 24,  138, 23,  229, 18,  190, 78,  196, 214, 218, 158, 222, 73,  160, 251, 245, 142,
    187, 47,  238, 122, 169, 104, 121, 145, 21,  178, 7,   63,  148, 194, 16,  137, 11,  34,  95,  33,
    128, 127, 93,  154, 90,  144, 50,  39,  53,  62,  204, 231, 191, 247, 151, 3,   255, 25,  48,  179,
    72,  165, 181, 209, 215, 94,  146, 42,  172, 86,  170, 198, 79,  184, 56,  210, 150, 164, 125, 182,
    118, 252, 107, 226, 156, 116, 4,   241, 69,  157, 112, 89,  100, 113, 135, 32,  134, 91,  207, 101,
    230, 45,  168, 2,   27,  96,  37,  173, 174, 176, 185, 246, 28,  70,  97,  105, 52,  64,  126, 15,
    85,  71,  163, 35,  221, 81,  175, 58,  195, 92,  249, 206, 186, 197, 234, 38,  44,  83,  13,  110,
    133, 40,  132, 9,   211, 223, 205, 244, 65,  129, 77,  82,  106, 220, 55,  200, 108, 193, 171, 250,
    36,  225, 123, 8,   12,  189, 177, 74,  120, 136, 149, 139, 227, 99,  232, 109, 233, 203, 213, 254,
    59,  0,   29,  57,  242, 239, 183, 14,  102, 88,  208, 228, 166, 119, 114, 248, 235, 117, 75,  10,
    49,  68,  80,  180, 143, 237, 31,  26,  219, 153, 141, 51,  159, 17,  131, 20};

typedef struct md2 {
  uint8_t x[48];
  uint8_t cksum[16];
  uint8_t buf[16];
  size_t used;
} md2;

static void md2_block(md2 *m, const uint8_t *p) {
  uint8_t l = m->cksum[15];
  for (int j = 0; j < 16; j++) {
    m->x[16 + j] = p[j];
    m->x[32 + j] = (uint8_t)(p[j] ^ m->x[j]);
    l = m->cksum[j] ^= S[p[j] ^ l];
  }
  uint8_t t = 0;
  for (int j = 0; j < 18; j++) {
    for (int k = 0; k < 48; k++) t = m->x[k] ^= S[t];
    t = (uint8_t)(t + j);
  }
}

static void md2_update(md2 *m, const uint8_t *p, size_t len) {
  while (len) {
    size_t take = 16 - m->used < len ? 16 - m->used : len;
    memcpy(m->buf + m->used, p, take);
    m->used += take; p += take; len -= take;
    if (m->used == 16) { md2_block(m, m->buf); m->used = 0; }
  }
}

static void md2_final(md2 *m, uint8_t out[16]) {
  uint8_t pad[16];
  size_t n = 16 - m->used;
  memset(pad, (int)n, n);
  md2_update(m, pad, n);
  uint8_t ck[16];
  memcpy(ck, m->cksum, 16);
  md2_block(m, ck);
  memcpy(out, m->x, 16);
}

void avec_md2(const void *data, size_t len, uint8_t out[16]) {
  md2 m = {0};
  md2_update(&m, data, len);
  md2_final(&m, out);
}

void avec_hmac_md2(const uint8_t *key, size_t key_len, const void *data, size_t len, uint8_t out[16]) {
  uint8_t k[16] = {0}, ipad[16], opad[16], inner[16];
  if (key_len > 16) avec_md2(key, key_len, k);
  else memcpy(k, key, key_len);
  for (int i = 0; i < 16; i++) { ipad[i] = k[i] ^ 0x36; opad[i] = k[i] ^ 0x5c; }
  md2 m = {0};
  md2_update(&m, ipad, 16);
  md2_update(&m, data, len);
  md2_final(&m, inner);
  md2 o = {0};
  md2_update(&o, opad, 16);
  md2_update(&o, inner, 16);
  md2_final(&o, out);
}
