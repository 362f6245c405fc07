/* Kernel names of a module image, read client-side for cuModuleGetFunctionCount / EnumerateFunctions and
 * their library counterparts: global STT_FUNC symbols marked as CUDA entries (st_other 0x10) in an
 * uncompressed ELF cubin (bare or inside a fatbin), else `.entry` directives of uncompressed PTX. Compressed
 * images cannot be read here: the caller then asks the server (MODULE_KERNEL_NAMES), whose reply is
 * checked by avec_kernel_names_decode. */
#include <stdlib.h>
#include <string.h>

#include "shim_cuda.h"

#define FATBIN_MAGIC 0xBA55ED50u
#define STO_CUDA_ENTRY 0x10

static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

typedef struct names {
  char **v;
  int n, cap;
} names;

static int add(names *ns, const char *s, size_t len) {
  for (int i = 0; i < ns->n; i++)
    if (strlen(ns->v[i]) == len && !memcmp(ns->v[i], s, len)) return 0;
  if (ns->n == ns->cap) {
    int cap = ns->cap ? ns->cap * 2 : 16;
    char **v = realloc(ns->v, (size_t)cap * sizeof *v);
    if (!v) return -1;
    ns->v = v;
    ns->cap = cap;
  }
  char *c = malloc(len + 1);
  if (!c) return -1;
  memcpy(c, s, len);
  c[len] = 0;
  ns->v[ns->n++] = c;
  return 0;
}

static int elf_kernels(const uint8_t *e, size_t len, names *ns) {
  if (len < 64 || memcmp(e, "\x7f" "ELF", 4) || e[4] != 2) return -1;
  uint64_t shoff = rd64(e + 0x28);
  uint16_t shentsize = rd16(e + 0x3a), shnum = rd16(e + 0x3c);
  if (shentsize < 64 || shoff > len || (uint64_t)shnum * shentsize > len - shoff) return -1;
  for (unsigned i = 0; i < shnum; i++) {
    const uint8_t *sh = e + shoff + (uint64_t)i * shentsize;
    if (rd32(sh + 4) != 2 /* SHT_SYMTAB */) continue;
    uint64_t off = rd64(sh + 0x18), size = rd64(sh + 0x20);
    uint32_t link = rd32(sh + 0x28);
    if (link >= shnum || off > len || size > len - off) return -1;
    const uint8_t *str = e + shoff + (uint64_t)link * shentsize;
    uint64_t soff = rd64(str + 0x18), ssize = rd64(str + 0x20);
    if (soff > len || ssize > len - soff) return -1;
    for (uint64_t j = 0; j + 24 <= size; j += 24) {
      const uint8_t *sym = e + off + j;
      uint32_t nm = rd32(sym);
      uint8_t info = sym[4], other = sym[5];
      if ((info & 0xf) != 2 /* STT_FUNC */ || (info >> 4) != 1 /* STB_GLOBAL */ || !(other & STO_CUDA_ENTRY)) continue;
      if (nm >= ssize) continue;
      const char *s = (const char *)e + soff + nm;
      size_t l = strnlen(s, ssize - nm);
      if (l && l < ssize - nm && add(ns, s, l)) return -1;
    }
    return 0;
  }
  return -1;
}

static int ptx_kernels(const char *p, size_t len, names *ns) {
  int found = 0;
  for (const char *q = p; (q = memmem(q, len - (size_t)(q - p), ".entry", 6)); q += 6) {
    const char *s = q + 6;
    while (s < p + len && (*s == ' ' || *s == '\t')) s++;
    const char *t = s;
    while (t < p + len && *t != '(' && *t != ' ' && *t != '\t' && *t != '\n' && *t != '\r') t++;
    if (t > s) {
      if (add(ns, s, (size_t)(t - s))) return -1;
      found = 1;
    }
  }
  return found || memmem(p, len, ".version", 8) ? 0 : -1;
}

int avec_image_kernel_names(const void *image, size_t len, char ***out) {
  const uint8_t *p = image;
  names ns = {0};
  int rc = -1;
  if (len >= 16 && rd32(p) == FATBIN_MAGIC) {
    size_t off = rd16(p + 6), end = off + rd64(p + 8);
    if (end > len) end = len;
    while (rc != 0 && off + 0x40 <= end) {
      const uint8_t *h = p + off;
      uint16_t kind = rd16(h);
      uint32_t hsize = rd32(h + 4);
      uint64_t psize = rd64(h + 8), flags = rd64(h + 0x28);
      if (hsize < 0x40 || psize > end - off - hsize) break;
      int compressed = (flags & (0x2000 | 0x8000)) != 0;
      if (!compressed && kind == 2) rc = elf_kernels(h + hsize, psize, &ns);
      else if (!compressed && kind == 1) rc = ptx_kernels((const char *)h + hsize, strnlen((const char *)h + hsize, psize), &ns);
      off += hsize + psize;
    }
  } else if (len >= 4 && !memcmp(p, "\x7f" "ELF", 4)) {
    rc = elf_kernels(p, len, &ns);
  } else {
    rc = ptx_kernels((const char *)p, strnlen((const char *)p, len), &ns);
  }
  if (rc != 0) {
    for (int i = 0; i < ns.n; i++) free(ns.v[i]);
    free(ns.v);
    *out = NULL;
    return -1;
  }
  *out = ns.v;
  return ns.n;
}

int avec_kernel_names_decode(const void *reply, size_t len, char ***out) {
  avec_kernel_names h;
  *out = NULL;
  if (len < sizeof h) return -1;
  memcpy(&h, reply, sizeof h);
  const char *p = (const char *)reply + sizeof h, *end = p + (len - sizeof h);
  if (h.count > AVEC_MAX_KERNEL_NAMES || h.bytes > AVEC_MAX_KERNEL_NAME_BYTES || h.bytes != len - sizeof h) return -1;
  char **v = calloc(h.count ? h.count : 1, sizeof *v);
  if (!v) return -1;
  uint32_t n = 0;
  while (n < h.count) {
    size_t l = strnlen(p, (size_t)(end - p));
    if (l == 0 || l > AVEC_MAX_NAME || l == (size_t)(end - p) || !(v[n] = strdup(p))) break;
    n++;
    p += l + 1;
  }
  if (n != h.count || p != end) { /* a name missing, empty, too long or unterminated, or bytes left over */
    avec_free_names(v, (int)n);
    return -1;
  }
  *out = v;
  return (int)n;
}

void avec_free_names(char **v, int n) {
  for (int i = 0; i < n; i++) free(v[i]);
  free(v);
}
