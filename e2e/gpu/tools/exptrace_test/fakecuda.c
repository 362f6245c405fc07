// Stand-in libcuda.so.1 for the exptrace CPU test: cuGetProcAddress_v2, cuGetExportTable and two tables
// (one with a size word, one without, like CONTEXT_LOCAL_STORAGE).
#include <stdint.h>
#include <string.h>
typedef struct { unsigned char b[16]; } U;
static int s1(int *out, int ord) { *out = 0x1234 + ord; return 0; }
static long s2(long a, long b, long c, long d, long e, long f) { return a + b + c + d + e + f; }
static void *cls_get(void **o, void *ctx, void *key) { (void)ctx; *o = key; return 0; }
static uintptr_t sized[4] = {32, (uintptr_t)s1, 0, (uintptr_t)s2};
// A slot that calls back into its caller (as the tools module table's iteration does), and a named function.
static int s_iter(void **out, void (*cb)(void **, void *)) { cb(out, (void *)0x77); return 1; }
static uintptr_t iter[2] = {(uintptr_t)s_iter, 0};
static int func_name(const char **name, void *f) { *name = f == (void *)0x42 ? "k42" : "?"; return 0; }
static uintptr_t cls[4] = {(uintptr_t)s1, (uintptr_t)s2, (uintptr_t)cls_get, 0};
int cuGetExportTable(const void **pp, const U *id) {
  if (id->b[0] == 0x21) { *pp = sized; return 0; }
  if (id->b[0] == 0xc6) { *pp = cls; return 0; }
  if (id->b[0] == 0x6e) { *pp = iter; return 0; }
  *pp = 0; return 1;
}
int cuGetProcAddress_v2(const char *s, void **p, int v, unsigned long long f, void *st) {
  (void)v; (void)f; (void)st;
  if (!strcmp(s, "cuGetExportTable")) { *p = (void *)cuGetExportTable; return 0; }
  if (!strcmp(s, "cuGetProcAddress")) { *p = (void *)cuGetProcAddress_v2; return 0; }
  if (!strcmp(s, "cuFuncGetName")) { *p = (void *)func_name; return 0; }
  *p = 0; return 500;
}
