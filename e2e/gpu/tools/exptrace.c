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
//              EXPTRACE_CALLBACKS=1  a slot argument that points into the calling library's code (a callback
//                               the driver will call) is replaced by a trampoline that logs
//                               "exptrace callback <k> args <a0>..<a5> [a<i>: 64 bytes]" and calls it
//              EXPTRACE_FUNCS   comma-separated driver functions (as resolved through cuGetProcAddress or dlsym)
//                               to log: "exptrace fn <name> args <a0>..<a5> -> <ret> [a<i>: 16 bytes]"; only
//                               functions of at most six integer arguments, plus cuLaunchKernel (all eleven)
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

// Appends " [a<i>: <bytes>]" for each readable argument to line (n characters so far); returns the length.
static int dump_args(char *line, int n, size_t cap, const uintptr_t *a, int na, size_t bytes) {
  for (int i = 0; i < na && n < (int)cap - (int)(bytes * 3 + 32); i++) {
    unsigned char b[64];
    if (bytes > sizeof b || !readable(a[i], b, bytes)) continue;
    n += snprintf(line + n, cap - n, " [a%d:", i);
    for (size_t k = 0; k < bytes; k++) n += snprintf(line + n, cap - n, " %02x", b[k]);
    n += snprintf(line + n, cap - n, "]");
  }
  return n;
}

// Callbacks handed to a traced slot (EXPTRACE_CALLBACKS=1): a pool of trampolines, each remembering the
// library function it stands for.
#define MAX_CALLBACKS 8
static slot_fn g_cb_real[MAX_CALLBACKS];
static int g_callbacks;
static uintptr_t callback_dispatch(int k, uintptr_t a0, uintptr_t a1, uintptr_t a2, uintptr_t a3, uintptr_t a4,
                                   uintptr_t a5) {
  uintptr_t a[6] = {a0, a1, a2, a3, a4, a5};
  char line[2048];
  int n = snprintf(line, sizeof line, "exptrace callback %d args %lx %lx %lx %lx %lx %lx", k, (unsigned long)a0,
                   (unsigned long)a1, (unsigned long)a2, (unsigned long)a3, (unsigned long)a4, (unsigned long)a5);
  dump_args(line, n, sizeof line, a, 6, 64);
  logf_("%s\n", line);
  return g_cb_real[k](a0, a1, a2, a3, a4, a5);
}
#define CB(k) \
  static uintptr_t cb_##k(uintptr_t a0, uintptr_t a1, uintptr_t a2, uintptr_t a3, uintptr_t a4, uintptr_t a5) { \
    return callback_dispatch(k, a0, a1, a2, a3, a4, a5);                                                      \
  }
CB(0) CB(1) CB(2) CB(3) CB(4) CB(5) CB(6) CB(7)
static const slot_fn g_cbs[MAX_CALLBACKS] = {cb_0, cb_1, cb_2, cb_3, cb_4, cb_5, cb_6, cb_7};
static int is_exec(uintptr_t p);
static int g_wrap_callbacks;
static uintptr_t wrap_callback(uintptr_t fn) {
  pthread_mutex_lock(&g_lock);
  int k;
  for (k = 0; k < g_callbacks && (uintptr_t)g_cb_real[k] != fn; k++) {}
  if (k == g_callbacks && g_callbacks < MAX_CALLBACKS) g_cb_real[g_callbacks++] = (slot_fn)fn;
  pthread_mutex_unlock(&g_lock);
  if (k == MAX_CALLBACKS) return fn;
  logf_("exptrace callback %d is %lx in %s\n", k, (unsigned long)fn, module_of((void *)fn));
  return (uintptr_t)g_cbs[k];
}

static uintptr_t dispatch(int t, int s, uintptr_t a0, uintptr_t a1, uintptr_t a2, uintptr_t a3, uintptr_t a4,
                          uintptr_t a5, const void *caller) {
  struct table *tb = &g_tables[t];
  if (g_pre)
    logf_("exptrace %s slot %d call %lx %lx %lx %lx %lx %lx caller %s\n", tb->uuid8, s, (unsigned long)a0,
          (unsigned long)a1, (unsigned long)a2, (unsigned long)a3, (unsigned long)a4, (unsigned long)a5,
          module_of(caller));
  uintptr_t a[6] = {a0, a1, a2, a3, a4, a5}, call[6];
  memcpy(call, a, sizeof a);
  if (g_wrap_callbacks)
    for (int i = 0; i < 6; i++)
      if (a[i] >= 0x10000 && is_exec(a[i]) && strncmp(module_of((void *)a[i]), "libcuda", 7))
        call[i] = wrap_callback(a[i]);
  uintptr_t ret = tb->slots[s](call[0], call[1], call[2], call[3], call[4], call[5]);
  char line[1024];
  int n = snprintf(line, sizeof line, "exptrace %s slot %d args %lx %lx %lx %lx %lx %lx -> %lx", tb->uuid8, s,
                   (unsigned long)a0, (unsigned long)a1, (unsigned long)a2, (unsigned long)a3, (unsigned long)a4,
                   (unsigned long)a5, (unsigned long)ret);
  n = dump_args(line, n, sizeof line, a, 6, 16);
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

// Named driver functions (EXPTRACE_FUNCS): a pool of six-argument trampolines, one per name.
#define MAX_FUNCS 48
static const char *g_fn_name[MAX_FUNCS];
static slot_fn g_fn_real[MAX_FUNCS];
static int g_nfuncs;
static uintptr_t fn_dispatch(int k, uintptr_t a0, uintptr_t a1, uintptr_t a2, uintptr_t a3, uintptr_t a4,
                             uintptr_t a5) {
  uintptr_t ret = g_fn_real[k](a0, a1, a2, a3, a4, a5);
  uintptr_t a[6] = {a0, a1, a2, a3, a4, a5};
  char line[1024];
  int n = snprintf(line, sizeof line, "exptrace fn %s args %lx %lx %lx %lx %lx %lx -> %lx", g_fn_name[k],
                   (unsigned long)a0, (unsigned long)a1, (unsigned long)a2, (unsigned long)a3, (unsigned long)a4,
                   (unsigned long)a5, (unsigned long)ret);
  dump_args(line, n, sizeof line, a, 6, 16);
  logf_("%s\n", line);
  return ret;
}
#define FN(k) \
  static uintptr_t fn_##k(uintptr_t a0, uintptr_t a1, uintptr_t a2, uintptr_t a3, uintptr_t a4, uintptr_t a5) { \
    return fn_dispatch(0##k, a0, a1, a2, a3, a4, a5);                                                         \
  }
#define FN8(b) FN(b##0) FN(b##1) FN(b##2) FN(b##3) FN(b##4) FN(b##5) FN(b##6) FN(b##7)
FN8() FN8(1) FN8(2) FN8(3) FN8(4) FN8(5)
#define FREF8(b) fn_##b##0, fn_##b##1, fn_##b##2, fn_##b##3, fn_##b##4, fn_##b##5, fn_##b##6, fn_##b##7
static const slot_fn g_fns[MAX_FUNCS] = {FREF8(), FREF8(1), FREF8(2), FREF8(3), FREF8(4), FREF8(5)};

typedef int (*launch_fn)(void *, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void *,
                         void **, void **);
static launch_fn g_launch_real;
static int launch_wrapper(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                          unsigned shm, void *stream, void **params, void **extra) {
  int r = g_launch_real(f, gx, gy, gz, bx, by, bz, shm, stream, params, extra);
  logf_("exptrace fn cuLaunchKernel f %p grid %u %u %u block %u %u %u shmem %u stream %p params %p extra %p -> %d\n",
        f, gx, gy, gz, bx, by, bz, shm, stream, (void *)params, (void *)extra, r);
  return r;
}

static int traced_fn(const char *name) {
  const char *sel = getenv("EXPTRACE_FUNCS");
  if (!sel || !*sel) return 0;
  size_t len = strlen(name);
  for (const char *p = sel; (p = strstr(p, name)); p += len)
    if ((p == sel || p[-1] == ',') && (p[len] == ',' || !p[len])) return 1;
  return 0;
}

// The logging stand-in for the named function REAL (itself when it is not traced or the pool is full).
static void *wrap_fn(const char *name, void *real) {
  if (!strcmp(name, "cuLaunchKernel") || !strcmp(name, "cuLaunchKernel_ptsz")) {
    if (g_launch_real && g_launch_real != (launch_fn)real) return real;  // one real function only
    g_launch_real = (launch_fn)real;
    return (void *)launch_wrapper;
  }
  pthread_mutex_lock(&g_lock);
  int k;
  for (k = 0; k < g_nfuncs && (g_fn_real[k] != (slot_fn)real || strcmp(g_fn_name[k], name)); k++) {}
  if (k == g_nfuncs && g_nfuncs < MAX_FUNCS) {
    g_fn_name[g_nfuncs] = strdup(name);
    g_fn_real[g_nfuncs++] = (slot_fn)real;
  }
  pthread_mutex_unlock(&g_lock);
  return k < MAX_FUNCS ? (void *)g_fns[k] : real;
}

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
  if (traced_fn(name)) return wrap_fn(name, real);
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
  if (name[0] == 'c' && (!strncmp(name, "cuGet", 5) || traced_fn(name))) return dlsym_cuget(handle, name);
  return real(handle, name);
}

__attribute__((constructor)) static void exptrace_init(void) {
  g_pre = getenv("EXPTRACE_PRE") && !strcmp(getenv("EXPTRACE_PRE"), "1");
  g_wrap_callbacks = getenv("EXPTRACE_CALLBACKS") && !strcmp(getenv("EXPTRACE_CALLBACKS"), "1");
  if (!(getenv("EXPTRACE_QUIET") && !strcmp(getenv("EXPTRACE_QUIET"), "1")))
    logf_("exptrace: loaded in pid %d, tracing %s\n", (int)getpid(), getenv("EXPTRACE_UUIDS") ? getenv("EXPTRACE_UUIDS") : "21318c60");
}
