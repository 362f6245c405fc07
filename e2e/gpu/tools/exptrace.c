// exptrace: an LD_PRELOAD library for *native* runs that logs calls into the driver's private export
// tables (cuGetExportTable). Purpose: find which slots a real library (CuPy's cuBLASLt, ...) calls, so the
// shim can serve them.
//
// How: interposes dlsym (the real one comes from dlvsym(RTLD_NEXT, "dlsym", GLIBC_2.34 or GLIBC_2.2.5)) and
// exports cuGetProcAddress, cuGetProcAddress_v2 and cuGetExportTable itself (for libraries linked against
// libcuda directly). A library resolving any of them gets a wrapper; the cuGetProcAddress wrappers hand out
// the cuGetExportTable wrapper (and themselves for cuGetProcAddress). For the selected tables the
// cuGetExportTable wrapper returns a copy of the real table in which every word that points into executable
// memory is a trampoline: it calls the real slot with the same six integer-register arguments, then logs
//   exptrace <uuid8> slot <i> args <a0> .. <a5> -> <ret> [a<k>: <16 bytes after the call>]... caller <lib>
// to stderr. Word 0 (the size, where the table has one) is copied unchanged. Slot numbers are word indexes.
// Arguments passed on the stack or in vector registers are not forwarded (no slot seen so far has them).
//
// Environment: EXPTRACE_UUIDS   comma-separated uuid prefixes (hex, as printed), default 21318c60; "all"
//              EXPTRACE_QUIET=1 no "exptrace table" lines, only slot calls
//              EXPTRACE_PRE=1   also "exptrace <uuid8> slot <i> call <args> caller <lib>" before each call
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

typedef int CUresult;
typedef struct { unsigned char bytes[16]; } CUuuid;
typedef uintptr_t (*slot_fn)(uintptr_t, uintptr_t, uintptr_t, uintptr_t, uintptr_t, uintptr_t);
typedef void *(*dlsym_fn)(void *, const char *);
typedef CUresult (*get_export_table_fn)(const void **, const CUuuid *);
typedef CUresult (*gpa_v1_fn)(const char *, void **, int, unsigned long long);
typedef CUresult (*gpa_v2_fn)(const char *, void **, int, unsigned long long, void *);

#define MAX_TABLES 8
#define MAX_SLOTS 64

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static dlsym_fn g_real_dlsym;
static get_export_table_fn g_real_get;
static gpa_v1_fn g_real_gpa1;
static gpa_v2_fn g_real_gpa2;

struct table {
  const void *real;
  char uuid8[9];
  uintptr_t copy[MAX_SLOTS + 1];
  slot_fn slots[MAX_SLOTS];
};
static struct table g_tables[MAX_TABLES];
static int g_ntables;
static int g_pre;  // EXPTRACE_PRE=1: also a line before each call (for a slot that crashes)

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n >= (int)sizeof buf) n = sizeof buf - 1;
  ssize_t w = write(2, buf, (size_t)n);
  (void)w;
}

static dlsym_fn real_dlsym(void) {
  if (!g_real_dlsym) {
    g_real_dlsym = (dlsym_fn)dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");
    if (!g_real_dlsym) g_real_dlsym = (dlsym_fn)dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
    if (!g_real_dlsym) {
      logf_("exptrace: cannot find the real dlsym\n");
      abort();
    }
  }
  return g_real_dlsym;
}

// The real libcuda function NAME, for calls that reach our exported symbols before any dlsym did.
static void *libcuda_sym(const char *name) {
  void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  if (!h) h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
  return h ? real_dlsym()(h, name) : NULL;
}

static int readable(uintptr_t p, unsigned char *out, size_t n) {
  if (p < 0x10000) return 0;
  struct iovec local = {out, n}, remote = {(void *)p, n};
  return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)n;
}

static const char *module_of(const void *addr) {
  Dl_info di;
  if (!dladdr(addr, &di) || !di.dli_fname) return "?";
  const char *s = strrchr(di.dli_fname, '/');
  return s ? s + 1 : di.dli_fname;
}

static uintptr_t dispatch(int t, int s, uintptr_t a0, uintptr_t a1, uintptr_t a2, uintptr_t a3, uintptr_t a4,
                          uintptr_t a5, const void *caller) {
  struct table *tb = &g_tables[t];
  if (g_pre)
    logf_("exptrace %s slot %d call %lx %lx %lx %lx %lx %lx caller %s\n", tb->uuid8, s, (unsigned long)a0,
          (unsigned long)a1, (unsigned long)a2, (unsigned long)a3, (unsigned long)a4, (unsigned long)a5,
          module_of(caller));
  uintptr_t ret = tb->slots[s](a0, a1, a2, a3, a4, a5);
  uintptr_t a[6] = {a0, a1, a2, a3, a4, a5};
  char line[1024];
  int n = snprintf(line, sizeof line, "exptrace %s slot %d args %lx %lx %lx %lx %lx %lx -> %lx", tb->uuid8, s,
                   (unsigned long)a0, (unsigned long)a1, (unsigned long)a2, (unsigned long)a3, (unsigned long)a4,
                   (unsigned long)a5, (unsigned long)ret);
  for (int i = 0; i < 6 && n < (int)sizeof line - 64; i++) {
    unsigned char b[16];
    if (!readable(a[i], b, sizeof b)) continue;
    n += snprintf(line + n, sizeof line - n, " [a%d:", i);
    for (int k = 0; k < 16; k++) n += snprintf(line + n, sizeof line - n, " %02x", b[k]);
    n += snprintf(line + n, sizeof line - n, "]");
  }
  if (n < (int)sizeof line - 128) snprintf(line + n, sizeof line - n, " caller %s\n", module_of(caller));
  else snprintf(line + sizeof line - 2, 2, "\n");
  logf_("%s", line);
  return ret;
}

// One trampoline per (table, slot): a distinct address that knows its indexes. Slot tokens are two base-8
// digits (TRAMP8(t, 1) makes slots 10..17 = 8..15), read back as octal literals (0##s: 010 = 8).
#define TRAMP(t, s)                                                                                  \
  static uintptr_t tramp_##t##_##s(uintptr_t a0, uintptr_t a1, uintptr_t a2, uintptr_t a3, uintptr_t a4, \
                                   uintptr_t a5) {                                                   \
    return dispatch(t, 0##s, a0, a1, a2, a3, a4, a5, __builtin_return_address(0));                   \
  }
#define TRAMP8(t, b) TRAMP(t, b##0) TRAMP(t, b##1) TRAMP(t, b##2) TRAMP(t, b##3) TRAMP(t, b##4) TRAMP(t, b##5) TRAMP(t, b##6) TRAMP(t, b##7)
#define TRAMP64(t) TRAMP8(t, ) TRAMP8(t, 1) TRAMP8(t, 2) TRAMP8(t, 3) TRAMP8(t, 4) TRAMP8(t, 5) TRAMP8(t, 6) TRAMP8(t, 7)
#define REF(t, s) tramp_##t##_##s
#define REF8(t, b) REF(t, b##0), REF(t, b##1), REF(t, b##2), REF(t, b##3), REF(t, b##4), REF(t, b##5), REF(t, b##6), REF(t, b##7)
#define REF64(t) {REF8(t, ), REF8(t, 1), REF8(t, 2), REF8(t, 3), REF8(t, 4), REF8(t, 5), REF8(t, 6), REF8(t, 7)}
TRAMP64(0) TRAMP64(1) TRAMP64(2) TRAMP64(3) TRAMP64(4) TRAMP64(5) TRAMP64(6) TRAMP64(7)
static const slot_fn g_tramps[MAX_TABLES][MAX_SLOTS] = {REF64(0), REF64(1), REF64(2), REF64(3),
                                                        REF64(4), REF64(5), REF64(6), REF64(7)};

// Executable ranges of the process (for telling function slots from data words).
static int is_exec(uintptr_t p) {
  FILE *f = fopen("/proc/self/maps", "r");
  if (!f) return 0;
  char ln[512];
  int found = 0;
  while (!found && fgets(ln, sizeof ln, f)) {
    unsigned long lo, hi;
    char perm[5];
    if (sscanf(ln, "%lx-%lx %4s", &lo, &hi, perm) == 3 && perm[2] == 'x' && p >= lo && p < hi) found = 1;
  }
  fclose(f);
  return found;
}

static int selected(const char *uuid8) {
  const char *sel = getenv("EXPTRACE_UUIDS");
  if (!sel || !*sel) sel = "21318c60";
  if (!strcmp(sel, "all")) return 1;
  char buf[512];
  snprintf(buf, sizeof buf, "%s", sel);
  for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
    if (!strncasecmp(uuid8, tok, strlen(tok))) return 1;
  return 0;
}

static const void *wrap_table(const void *real, const CUuuid *id) {
  char uuid8[9];
  snprintf(uuid8, sizeof uuid8, "%02x%02x%02x%02x", id->bytes[0], id->bytes[1], id->bytes[2], id->bytes[3]);
  int quiet = getenv("EXPTRACE_QUIET") && !strcmp(getenv("EXPTRACE_QUIET"), "1");
  if (!selected(uuid8)) {
    if (!quiet) logf_("exptrace table %s requested (not traced)\n", uuid8);
    return real;
  }
  pthread_mutex_lock(&g_lock);
  for (int i = 0; i < g_ntables; i++)
    if (g_tables[i].real == real) {
      pthread_mutex_unlock(&g_lock);
      return g_tables[i].copy;
    }
  if (g_ntables == MAX_TABLES) {
    pthread_mutex_unlock(&g_lock);
    logf_("exptrace table %s: too many tables, not traced\n", uuid8);
    return real;
  }
  int t = g_ntables;
  struct table *tb = &g_tables[t];
  const uintptr_t *w = (const uintptr_t *)real;
  // Word 0 is the size in bytes, except in tables that start with a function (CONTEXT_LOCAL_STORAGE).
  int sized = w[0] >= 8 && w[0] <= 8 * MAX_SLOTS && w[0] % 8 == 0 && !is_exec(w[0]);
  int nwords = sized ? (int)(w[0] / 8) : 0;
  if (!sized)
    while (nwords < MAX_SLOTS && w[nwords]) nwords++;
  int ntr = 0;
  for (int i = 0; i < nwords && i <= MAX_SLOTS; i++) {
    tb->copy[i] = w[i];
    if ((sized && i == 0) || i >= MAX_SLOTS || !w[i] || !is_exec(w[i])) continue;
    tb->slots[i] = (slot_fn)w[i];
    tb->copy[i] = (uintptr_t)g_tramps[t][i];
    ntr++;
  }
  tb->real = real;
  memcpy(tb->uuid8, uuid8, sizeof uuid8);
  g_ntables++;
  pthread_mutex_unlock(&g_lock);
  logf_("exptrace table %s: %s, %d words, %d traced slots\n", uuid8, sized ? "size word" : "no size word", nwords, ntr);
  return tb->copy;
}

static CUresult get_export_table_wrapper(const void **pp, const CUuuid *id) {
  if (!g_real_get) g_real_get = (get_export_table_fn)libcuda_sym("cuGetExportTable");
  if (!g_real_get) return 999;
  CUresult r = g_real_get(pp, id);
  if (r == 0 && pp && *pp && id) *pp = wrap_table(*pp, id);
  return r;
}

CUresult cuGetExportTable(const void **pp, const CUuuid *id);
CUresult cuGetProcAddress(const char *s, void **p, int v, unsigned long long f);
CUresult cuGetProcAddress_v2(const char *s, void **p, int v, unsigned long long f, void *st);
static CUresult gpa_v1_wrapper(const char *sym, void **pfn, int ver, unsigned long long flags);
static CUresult gpa_v2_wrapper(const char *sym, void **pfn, int ver, unsigned long long flags, void *status);

// Replaces a resolved pointer to one of the three functions by its wrapper (remembering the real one).
// For cuGetProcAddress, cudaVersion >= 12000 means the _v2 ABI (5 arguments).
static void *substitute(const char *name, void *real, int ver) {
  if (!real || !name) return real;
  if (real == (void *)get_export_table_wrapper || real == (void *)gpa_v1_wrapper || real == (void *)gpa_v2_wrapper)
    return real;
  // A library whose own references bind to our exports (no -Bsymbolic) hands those out: wrappers already.
  if (real == (void *)cuGetExportTable) return (void *)get_export_table_wrapper;
  if (real == (void *)cuGetProcAddress) return (void *)gpa_v1_wrapper;
  if (real == (void *)cuGetProcAddress_v2) return (void *)gpa_v2_wrapper;
  if (!strcmp(name, "cuGetExportTable")) {
    if (!g_real_get) g_real_get = (get_export_table_fn)real;
    return (void *)get_export_table_wrapper;
  }
  if (!strcmp(name, "cuGetProcAddress_v2") || (!strcmp(name, "cuGetProcAddress") && ver >= 12000)) {
    if (!g_real_gpa2) g_real_gpa2 = (gpa_v2_fn)real;
    return (void *)gpa_v2_wrapper;
  }
  if (!strcmp(name, "cuGetProcAddress")) {
    if (!g_real_gpa1) g_real_gpa1 = (gpa_v1_fn)real;
    return (void *)gpa_v1_wrapper;
  }
  return real;
}

static CUresult gpa_v1_wrapper(const char *sym, void **pfn, int ver, unsigned long long flags) {
  if (!g_real_gpa1) g_real_gpa1 = (gpa_v1_fn)libcuda_sym("cuGetProcAddress");
  if (!g_real_gpa1) return 999;
  CUresult r = g_real_gpa1(sym, pfn, ver, flags);
  if (r == 0 && pfn) *pfn = substitute(sym, *pfn, ver);
  return r;
}

static CUresult gpa_v2_wrapper(const char *sym, void **pfn, int ver, unsigned long long flags, void *status) {
  if (!g_real_gpa2) g_real_gpa2 = (gpa_v2_fn)libcuda_sym("cuGetProcAddress_v2");
  if (!g_real_gpa2) return 999;
  CUresult r = g_real_gpa2(sym, pfn, ver, flags, status);
  if (r == 0 && pfn) *pfn = substitute(sym, *pfn, ver);
  return r;
}

// Exported: direct references from libraries linked against libcuda bind here (LD_PRELOAD comes first).
__attribute__((visibility("default"))) CUresult cuGetExportTable(const void **pp, const CUuuid *id) {
  return get_export_table_wrapper(pp, id);
}
__attribute__((visibility("default"))) CUresult cuGetProcAddress(const char *s, void **p, int v, unsigned long long f) {
  return gpa_v1_wrapper(s, p, v, f);
}
__attribute__((visibility("default"))) CUresult cuGetProcAddress_v2(const char *s, void **p, int v, unsigned long long f,
                                                                    void *st) {
  return gpa_v2_wrapper(s, p, v, f, st);
}

static __attribute__((noinline)) void *dlsym_cuget(void *handle, const char *name) {
  void *r = real_dlsym()(handle, name);
  return r ? substitute(name, r, strcmp(name, "cuGetProcAddress") ? 12000 : 0) : r;
}

// Every other name goes to the real dlsym as a tail call, so the real one still sees its caller's return
// address (RTLD_NEXT lookups depend on it).
__attribute__((visibility("default"))) void *dlsym(void *handle, const char *name) {
  dlsym_fn real = g_real_dlsym ? g_real_dlsym : real_dlsym();
  if (name[0] == 'c' && !strncmp(name, "cuGet", 5)) return dlsym_cuget(handle, name);
  return real(handle, name);
}

__attribute__((constructor)) static void exptrace_init(void) {
  g_pre = getenv("EXPTRACE_PRE") && !strcmp(getenv("EXPTRACE_PRE"), "1");
  if (!(getenv("EXPTRACE_QUIET") && !strcmp(getenv("EXPTRACE_QUIET"), "1")))
    logf_("exptrace: loaded in pid %d, tracing %s\n", (int)getpid(), getenv("EXPTRACE_UUIDS") ? getenv("EXPTRACE_UUIDS") : "21318c60");
}
