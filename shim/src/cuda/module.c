/* Modules and libraries, content-addressed: MODULE_LOAD carries only the SHA-256 of the image; the image
 * itself is uploaded (MODULE_IMAGE) only when a synchronous reply says AVEC_STATUS_NEED_IMAGE, and the
 * request is then repeated. Small images (<= EAGER_IMAGE_MAX: CuPy/numba kernels, a few KiB each) go with
 * their MODULE_LOAD instead, once per session: on an edge link their bytes cost less than the round trip
 * the NEED_IMAGE answer would add to the first use. Functions/kernels are fetched once each (GET_FUNCTION) and cached with their
 * attributes and parameter layout. */
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "avec_digest.h"
#include "shim_cuda.h"

#define FATBIN_WRAPPER_MAGIC 0x466243B1u
#define FATBIN_MAGIC 0xBA55ED50u

static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

size_t avec_image_size(const void *image, const void **start) {
  const uint8_t *p = image;
  *start = image;
  if (!p) return 0;
  if (rd32(p) == FATBIN_WRAPPER_MAGIC) {
    /* __fatBinC_Wrapper_t {int magic; int version; const unsigned long long *data; void *filename_or_fatbins} */
    const void *data;
    memcpy(&data, p + 8, sizeof data);
    return avec_image_size(data, start);
  }
  if (rd32(p) == FATBIN_MAGIC) return (size_t)rd16(p + 6) + (size_t)rd64(p + 8);
  if (p[0] == 0x7f && p[1] == 'E' && p[2] == 'L' && p[3] == 'F' && p[4] == 2 /* 64-bit */) {
    uint64_t shoff = rd64(p + 0x28), phoff = rd64(p + 0x20);
    uint16_t shentsize = rd16(p + 0x3a), shnum = rd16(p + 0x3c), phentsize = rd16(p + 0x36), phnum = rd16(p + 0x38);
    uint64_t end = shoff + (uint64_t)shentsize * shnum;
    if (phoff + (uint64_t)phentsize * phnum > end) end = phoff + (uint64_t)phentsize * phnum;
    for (unsigned i = 0; i < shnum; i++) {
      const uint8_t *sh = p + shoff + (uint64_t)i * shentsize;
      if (rd32(sh + 4) == 8 /* SHT_NOBITS */) continue;
      uint64_t e = rd64(sh + 0x18) + rd64(sh + 0x20);
      if (e > end) end = e;
    }
    return (size_t)end;
  }
  return strlen((const char *)p) + 1; /* PTX text */
}

static uint32_t reset_generation; /* bumped by every primary-context reset */
static uint32_t generation_now(void) { return __atomic_load_n(&reset_generation, __ATOMIC_ACQUIRE); }

/* All loaded modules, for finding an image by hash when the server asks for it. */
static pthread_mutex_t modules_lock = PTHREAD_MUTEX_INITIALIZER;
static struct CUmod_st **modules;
static size_t nmodules, capmodules;

static void modules_add(struct CUmod_st *m) {
  pthread_mutex_lock(&modules_lock);
  if (nmodules == capmodules) {
    size_t cap = capmodules ? capmodules * 2 : 64;
    struct CUmod_st **n = realloc(modules, cap * sizeof *n);
    if (n) { modules = n; capmodules = cap; }
  }
  if (nmodules < capmodules) modules[nmodules++] = m;
  pthread_mutex_unlock(&modules_lock);
}

static void modules_remove(struct CUmod_st *m) {
  pthread_mutex_lock(&modules_lock);
  for (size_t i = 0; i < nmodules; i++)
    if (modules[i] == m) { modules[i] = modules[--nmodules]; break; }
  pthread_mutex_unlock(&modules_lock);
}

#define EAGER_IMAGE_MAX (64u * 1024u)

static CUresult post_image(const uint8_t hash[32], const void *img, size_t size) {
  avec_module_image h;
  memcpy(h.hash, hash, 32);
  h.size = size;
  LOG_DEBUG("uploading module image (%zu bytes)", size);
  /* Larger images go as consecutive MODULE_IMAGE frames of one chunk each (same hash and size). */
  for (size_t off = 0; off < size; off += AVEC_CHUNK) {
    size_t n = size - off < AVEC_CHUNK ? size - off : AVEC_CHUNK;
    CUresult r = avec_post(AVEC_OP_MODULE_IMAGE, 0, &h, sizeof h, (const char *)img + off, n);
    if (r) return r;
  }
  return CUDA_SUCCESS;
}

/* Small images already sent in this session (a ring: a forgotten one is at worst sent again). */
static int sent_before(const uint8_t hash[32]) {
  static uint8_t sent[128][32];
  static unsigned next;
  static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  int seen = 0;
  pthread_mutex_lock(&lock);
  for (unsigned i = 0; i < 128 && !seen; i++) seen = !memcmp(sent[i], hash, 32);
  if (!seen) memcpy(sent[next++ % 128], hash, 32);
  pthread_mutex_unlock(&lock);
  return seen;
}

static CUresult upload_image(const uint8_t hash[32]) {
  const void *img = NULL;
  size_t size = 0;
  pthread_mutex_lock(&modules_lock);
  for (size_t i = 0; i < nmodules; i++)
    if (!memcmp(modules[i]->hash, hash, 32)) { img = modules[i]->image; size = modules[i]->size; break; }
  pthread_mutex_unlock(&modules_lock);
  if (!img) {
    LOG_ERROR("server asked for a module image this process does not have");
    return CUDA_ERROR_INVALID_IMAGE;
  }
  return post_image(hash, img, size);
}

typedef struct seg_query {
  uintptr_t lo, hi;
  int found;
} seg_query;

static int seg_cb(struct dl_phdr_info *info, size_t sz, void *arg) {
  seg_query *q = arg;
  for (int i = 0; i < info->dlpi_phnum && !q->found; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD) continue;
    uintptr_t b = info->dlpi_addr + ph->p_vaddr, e = b + ph->p_memsz;
    if (q->lo >= b && q->hi <= e && !(ph->p_flags & PF_W)) q->found = 1; /* read-only segment */
  }
  return q->found;
}

static int in_loaded_object(const void *p, size_t n) {
  seg_query q = {(uintptr_t)p, (uintptr_t)p + n, 0};
  dl_iterate_phdr(seg_cb, &q);
  return q.found;
}

/* A module goes into the current context. A library belongs to no context (the driver loads it without
 * one: cudart does, when a program's first CUDA call is a kernel launch): with none current it is kept here
 * and loaded on the server at its first use, as after a context reset (avec_module_refresh). */
static CUresult load(struct CUmod_st **out, const void *image, uint32_t kind) {
  CUresult r = avec_ready();
  if (r) return r;
  int later = !avec_ctx_current();
  if (later && kind != AVEC_MODULE_KIND_LIBRARY) return CUDA_ERROR_INVALID_CONTEXT;
  if (!out || !image) return CUDA_ERROR_INVALID_VALUE;
  const void *start;
  size_t size = avec_image_size(image, &start);
  if (!size) return CUDA_ERROR_INVALID_IMAGE;
  struct CUmod_st *m = calloc(kind == AVEC_MODULE_KIND_LIBRARY ? sizeof(struct CUlib_st) : sizeof *m, 1);
  /* Images inside a loaded object's segments (nvcc and library fatbins) stay valid: no copy. Others
   * (JIT output, buffers the caller frees) are copied, since the upload happens later, on demand. */
  int keep = in_loaded_object(start, size);
  void *copy = keep ? NULL : malloc(size);
  if (!m || (!keep && !copy)) { free(m); free(copy); return CUDA_ERROR_OUT_OF_MEMORY; }
  if (!keep) memcpy(copy, start, size);
  m->owned = !keep;
  if (keep) copy = (void *)start;
  m->magic = AVEC_MAGIC_MODULE;
  m->handle = avec_new_handle();
  m->kind = kind;
  m->generation = generation_now() - (uint32_t)later; /* not the current generation: loaded at first use */
  m->image = copy;
  m->size = size;
  pthread_mutex_init(&m->lock, NULL);
  avec_sha256_once(copy, size, m->hash);
  avec_module_load a = {m->handle, kind, {0}, size};
  memcpy(a.hash, m->hash, 32);
  if (!later && size <= EAGER_IMAGE_MAX && !sent_before(m->hash)) r = post_image(m->hash, copy, size);
  if (!r && !later) r = avec_post(AVEC_OP_MODULE_LOAD, 0, &a, sizeof a, NULL, 0);
  if (r) { if (m->owned) free(copy); free(m); return r; }
  modules_add(m);
  LOG_DEBUG("%s %u loaded by hash (%zu bytes, %s%s)", kind ? "library" : "module", m->handle, size,
            m->owned ? "copied" : "in place", later ? "; no context yet: on the server at first use" : "");
  *out = m;
  return CUDA_SUCCESS;
}

int avec_module_valid(const struct CUmod_st *m) { return m && m->magic == AVEC_MAGIC_MODULE; }

static CUresult unload(struct CUmod_st *m) {
  CUresult r = avec_ready();
  if (r == CUDA_ERROR_NOT_INITIALIZED) return r;
  if (!avec_module_valid(m)) return CUDA_ERROR_INVALID_HANDLE;
  avec_handle a = {m->handle, 0};
  /* a library not loaded in this generation (never used, or dropped by a reset) is not on the server */
  int on_server = m->kind != AVEC_MODULE_KIND_LIBRARY || m->generation == generation_now();
  m->magic = 0;
  modules_remove(m);
  if (m->owned) free(m->image);
  m->image = NULL;
  avec_free_names(m->names, m->nnames);
  m->names = NULL;
  m->nnames = 0;
  for (struct CUfunc_st *f = m->funcs; f; f = f->next) f->magic = 0; /* objects leak on purpose */
  for (avec_global *g = m->globals; g; g = g->next) {
    avec_range rg;
    if (avec_ranges_find(&avec_device_ranges, g->dptr, &rg) == 0 && rg.base == g->dptr && rg.kind == AVEC_RANGE_GLOBAL)
      avec_ranges_remove(&avec_device_ranges, g->dptr, NULL);
    if (g->managed) avec_mapped_release(g->dptr); /* its device side goes with the module */
  }
  return on_server ? avec_post(AVEC_OP_MODULE_UNLOAD, 0, &a, sizeof a, NULL, 0) : CUDA_SUCCESS;
}

static CUresult read_file(const char *fname, void **out) {
  int fd = open(fname, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return CUDA_ERROR_FILE_NOT_FOUND;
  char *buf = NULL;
  off_t size = lseek(fd, 0, SEEK_END); /* not fstat: its symbol is versioned GLIBC_2.33 */
  if (size >= 0 && lseek(fd, 0, SEEK_SET) == 0 && (buf = malloc((size_t)size + 1))) {
    ssize_t n = 0, got;
    while (n < size && (got = read(fd, buf + n, (size_t)(size - n))) > 0) n += got;
    buf[n] = 0;
  }
  close(fd);
  *out = buf;
  return buf ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

AVEC_API CUresult cuModuleLoadData(CUmodule *m, const void *image) { return load(m, image, AVEC_MODULE_KIND_MODULE); }
AVEC_API CUresult cuModuleLoadDataEx(CUmodule *m, const void *image, unsigned n, CUjit_option *o, void **v) {
  return load(m, image, AVEC_MODULE_KIND_MODULE);
}
AVEC_API CUresult cuModuleLoadFatBinary(CUmodule *m, const void *fatCubin) {
  return load(m, fatCubin, AVEC_MODULE_KIND_MODULE);
}
AVEC_API CUresult cuModuleLoad(CUmodule *m, const char *fname) {
  void *buf;
  if (!fname) return CUDA_ERROR_INVALID_VALUE;
  CUresult r = read_file(fname, &buf);
  if (r) return r;
  r = load(m, buf, AVEC_MODULE_KIND_MODULE);
  free(buf);
  return r;
}
AVEC_API CUresult cuModuleUnload(CUmodule m) { return unload(m); }

AVEC_API CUresult cuLibraryLoadData(CUlibrary *lib, const void *code, CUjit_option *jo, void **jv, unsigned njo,
                                    CUlibraryOption *lo, void **lv, unsigned nlo) {
  return load((struct CUmod_st **)lib, code, AVEC_MODULE_KIND_LIBRARY);
}
AVEC_API CUresult cuLibraryLoadFromFile(CUlibrary *lib, const char *fname, CUjit_option *jo, void **jv, unsigned njo,
                                        CUlibraryOption *lo, void **lv, unsigned nlo) {
  void *buf;
  if (!fname) return CUDA_ERROR_INVALID_VALUE;
  CUresult r = read_file(fname, &buf);
  if (r) return r;
  r = load((struct CUmod_st **)lib, buf, AVEC_MODULE_KIND_LIBRARY);
  free(buf);
  return r;
}
AVEC_API CUresult cuLibraryUnload(CUlibrary lib) { return unload((struct CUmod_st *)lib); }

AVEC_API CUresult cuModuleGetLoadingMode(CUmoduleLoadingMode *mode) {
  if (!mode) return CUDA_ERROR_INVALID_VALUE;
  *mode = CU_MODULE_LAZY_LOADING;
  return CUDA_SUCCESS;
}

/* A library outlives a primary-context reset (CUDA libraries are context-independent) but the server
 * dropped it with the context: load it again by hash (no upload: the server keeps images) under a new
 * handle. Modules die with their context, as with the driver. */
CUresult avec_module_refresh(struct CUmod_st *m) {
  uint32_t gen = generation_now();
  if (m->kind != AVEC_MODULE_KIND_LIBRARY || __atomic_load_n(&m->generation, __ATOMIC_ACQUIRE) == gen) return 0;
  if (!avec_ctx_current()) return CUDA_ERROR_INVALID_CONTEXT; /* the server loads it into the current context */
  pthread_mutex_lock(&m->lock);
  CUresult r = CUDA_SUCCESS;
  if (m->generation != gen) {
    avec_module_load a = {avec_new_handle(), m->kind, {0}, m->size};
    memcpy(a.hash, m->hash, 32);
    r = avec_post(AVEC_OP_MODULE_LOAD, 0, &a, sizeof a, NULL, 0);
    if (!r) {
      LOG_DEBUG("library %u loaded again as %u after a context reset", m->handle, a.handle);
      m->handle = a.handle;
      __atomic_store_n(&m->generation, gen, __ATOMIC_RELEASE);
    }
  }
  pthread_mutex_unlock(&m->lock);
  return r;
}

/* A synchronous request about module M (GET_FUNCTION, GET_GLOBAL, MODULE_KERNEL_NAMES), with the lazy image
 * upload and one retry: a pending module is answered AVEC_STATUS_NEED_IMAGE (hash, size) in REPLY, which
 * must hold at least an avec_reply_hdr + avec_module_image. */
CUresult avec_module_call(uint16_t op, struct CUmod_st *m, const void *req, size_t req_len, const void *tail,
                          size_t tail_len, void *reply, size_t cap, size_t *got) {
  for (int attempt = 0;; attempt++) {
    *got = 0;
    uint32_t st = avec_conn_call(&avec_sess.conn, op, 0, avec_ctx_wire(), req, req_len, tail, tail_len, reply, cap, got);
    LOG_DEBUG("module request %u (module %u): status 0x%x", op, m->handle, st);
    if (st != AVEC_STATUS_NEED_IMAGE) return avec_result(st);
    if (attempt || *got < sizeof(avec_reply_hdr) + sizeof(avec_module_image)) return CUDA_ERROR_INVALID_IMAGE;
    const avec_module_image *want = (const avec_module_image *)((const char *)reply + sizeof(avec_reply_hdr));
    CUresult r = upload_image(want->hash);
    if (r) return r;
  }
}

static CUresult symbol_call(uint16_t op, struct CUmod_st *m, uint32_t handle, uint32_t kind, const char *name,
                            void *reply, size_t cap) {
  size_t nlen = strlen(name), got;
  if (nlen > AVEC_MAX_NAME) return CUDA_ERROR_INVALID_VALUE;
  avec_get_symbol a = {m->handle, handle, kind, (uint32_t)nlen};
  CUresult r = avec_module_call(op, m, &a, sizeof a, name, nlen, reply, cap, &got);
  LOG_DEBUG("%s %s (module %u): %d", op == AVEC_OP_GET_GLOBAL ? "get global" : "get function", name, m->handle, (int)r);
  return r;
}

/* Asks the server for function `name` of M under a new handle and takes its attributes and parameter layout. */
static CUresult fetch_function(struct CUfunc_st *f, struct CUmod_st *m) {
  size_t cap = sizeof(avec_function_info) + AVEC_MAX_PARAMS * sizeof(avec_param_info);
  avec_function_info *rep = malloc(cap);
  if (!rep) return CUDA_ERROR_OUT_OF_MEMORY;
  uint32_t handle = avec_new_handle();
  CUresult r = symbol_call(AVEC_OP_GET_FUNCTION, m, handle, f->kind, f->name, rep, cap);
  int unknown = r == CUDA_SUCCESS && rep->num_params == AVEC_PARAMS_UNKNOWN;
  if (unknown) rep->num_params = 0;
  if (r == CUDA_SUCCESS && rep->num_params > AVEC_MAX_PARAMS) r = CUDA_ERROR_INVALID_VALUE;
  avec_param *params = r ? NULL : calloc(rep->num_params ? rep->num_params : 1, sizeof *params);
  if (!r && !params) r = CUDA_ERROR_OUT_OF_MEMORY;
  if (r) {
    LOG_DEBUG("get function %s: error %d", f->name, (int)r);
    free(rep);
    return r;
  }
  const avec_param_info *pi = (const avec_param_info *)(rep + 1);
  uint32_t end = 0;
  for (uint32_t i = 0; i < rep->num_params; i++) {
    params[i].offset = pi[i].offset;
    params[i].size = pi[i].size;
    if (pi[i].offset + pi[i].size > end) end = pi[i].offset + pi[i].size;
  }
  free(f->params);
  f->params = params;
  f->num_params = rep->num_params;
  f->param_bytes = end;
  f->params_unknown = unknown;
  memcpy(f->attrs, rep->attrs, sizeof f->attrs);
  f->handle = handle;
  __atomic_store_n(&f->generation, m->generation, __ATOMIC_RELEASE);
  free(rep);
  LOG_DEBUG("function %s -> handle %u, %u params (%u bytes)", f->name, f->handle, f->num_params, f->param_bytes);
  return CUDA_SUCCESS;
}

CUresult avec_get_function(struct CUfunc_st **out, struct CUmod_st *m, const char *name, uint32_t kind) {
  CUresult r = avec_ready();
  if (r) return r;
  /* a library's kernel needs no context (cudart takes one before its first launch makes the context): with
   * none current it is fetched at its first use, like the library itself */
  int later = !avec_ctx_current();
  if (later && kind != AVEC_SYMBOL_KERNEL) return CUDA_ERROR_INVALID_CONTEXT;
  if (!out || !name) return CUDA_ERROR_INVALID_VALUE;
  if (!avec_module_valid(m)) return CUDA_ERROR_INVALID_HANDLE;
  if (later && m->kind != AVEC_MODULE_KIND_LIBRARY) return CUDA_ERROR_INVALID_CONTEXT;
  if (!later && (r = avec_module_refresh(m))) return r;
  pthread_mutex_lock(&m->lock);
  for (struct CUfunc_st *f = m->funcs; f; f = f->next)
    if (f->kind == kind && !strcmp(f->name, name)) {
      pthread_mutex_unlock(&m->lock);
      *out = f;
      return later ? CUDA_SUCCESS : avec_func_refresh(f);
    }
  pthread_mutex_unlock(&m->lock);
  if (strlen(name) > AVEC_MAX_NAME) return CUDA_ERROR_INVALID_VALUE;
  struct CUfunc_st *f = calloc(1, sizeof(struct CUkern_st));
  char *copy = strdup(name);
  if (!f || !copy) { free(f); free(copy); return CUDA_ERROR_OUT_OF_MEMORY; }
  f->kind = kind;
  f->module = m;
  f->name = copy;
  f->generation = m->generation - 1; /* not fetched yet (generations only grow: it never matches again) */
  if (!later && (r = fetch_function(f, m))) { free(copy); free(f); return r; }
  if (later) LOG_DEBUG("kernel %s: no context yet, fetched at its first use", name);
  f->magic = AVEC_MAGIC_FUNC;
  pthread_mutex_lock(&m->lock);
  f->next = m->funcs;
  m->funcs = f;
  pthread_mutex_unlock(&m->lock);
  *out = f;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuModuleGetFunction(CUfunction *f, CUmodule m, const char *name) {
  return avec_get_function(f, m, name, AVEC_SYMBOL_FUNCTION);
}
AVEC_API CUresult cuLibraryGetKernel(CUkernel *k, CUlibrary lib, const char *name) {
  return avec_get_function((struct CUfunc_st **)k, (struct CUmod_st *)lib, name, AVEC_SYMBOL_KERNEL);
}
AVEC_API CUresult cuLibraryGetModule(CUmodule *m, CUlibrary lib) {
  if (!m) return CUDA_ERROR_INVALID_VALUE;
  if (!avec_module_valid((struct CUmod_st *)lib)) return CUDA_ERROR_INVALID_HANDLE;
  *m = (CUmodule)lib; /* a library is also usable as its context's module */
  return CUDA_SUCCESS;
}
AVEC_API CUresult cuKernelGetFunction(CUfunction *f, CUkernel k) {
  if (!f) return CUDA_ERROR_INVALID_VALUE;
  struct CUfunc_st *fn = avec_func_from((CUfunction)k);
  if (!fn) return CUDA_ERROR_INVALID_HANDLE;
  *f = fn; /* the server resolves a kernel handle in the launching context */
  return CUDA_SUCCESS;
}
AVEC_API CUresult cuKernelGetLibrary(CUlibrary *lib, CUkernel k) {
  struct CUfunc_st *fn = avec_func_from((CUfunction)k);
  if (!lib) return CUDA_ERROR_INVALID_VALUE;
  if (!fn) return CUDA_ERROR_INVALID_HANDLE;
  *lib = (CUlibrary)fn->module;
  return CUDA_SUCCESS;
}
AVEC_API CUresult cuFuncGetModule(CUmodule *m, CUfunction f) {
  struct CUfunc_st *fn = avec_func_from(f);
  if (!m) return CUDA_ERROR_INVALID_VALUE;
  if (!fn) return CUDA_ERROR_INVALID_HANDLE;
  *m = fn->module;
  return CUDA_SUCCESS;
}

static CUresult get_global(CUdeviceptr *dptr, size_t *bytes, struct CUmod_st *m, const char *name, int *managed) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  if (!name) return CUDA_ERROR_INVALID_VALUE;
  if (!avec_module_valid(m)) return CUDA_ERROR_INVALID_HANDLE;
  if ((r = avec_module_refresh(m))) return r;
  pthread_mutex_lock(&m->lock);
  for (avec_global *g = m->globals; g; g = g->next)
    if (!strcmp(g->name, name)) {
      if (dptr) *dptr = (CUdeviceptr)g->dptr;
      if (bytes) *bytes = (size_t)g->size;
      if (managed) *managed = g->managed;
      pthread_mutex_unlock(&m->lock);
      return CUDA_SUCCESS;
    }
  pthread_mutex_unlock(&m->lock);
  union {
    avec_global_info g;
    uint8_t need[sizeof(avec_reply_hdr) + sizeof(avec_module_image)]; /* room for a NEED_IMAGE answer */
  } u = {{{0}}};
  r = symbol_call(AVEC_OP_GET_GLOBAL, m, 0, 0, name, &u, sizeof u);
  if (r) return r;
  avec_global_info rep = u.g;
  int is_managed = (rep.r.reserved & AVEC_GLOBAL_F_MANAGED) && rep.size;
  if (dptr) *dptr = (CUdeviceptr)rep.dptr;
  if (bytes) *bytes = (size_t)rep.size;
  if (managed) *managed = is_managed;
  avec_global *g = calloc(1, sizeof *g);
  if (g && (g->name = strdup(name))) {
    g->dptr = rep.dptr;
    g->size = rep.size;
    g->managed = is_managed;
    pthread_mutex_lock(&m->lock);
    g->next = m->globals;
    m->globals = g;
    pthread_mutex_unlock(&m->lock);
  } else {
    free(g);
    g = NULL;
  }
  if (rep.size && avec_ranges_find(&avec_device_ranges, rep.dptr, NULL)) {
    avec_range rg = {rep.dptr, rep.size, AVEC_RANGE_GLOBAL, is_managed ? AVEC_RANGE_MANAGED : 0, avec_ctx_current(), 0};
    avec_ranges_insert(&avec_device_ranges, &rg);
  }
  /* the host may dereference a __managed__ variable: its host side goes at the same address, once */
  if (is_managed && g && (r = avec_managed_symbol(rep.dptr, rep.size))) return r;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuModuleGetGlobal_v2(CUdeviceptr *dptr, size_t *bytes, CUmodule m, const char *name) {
  return get_global(dptr, bytes, m, name, NULL);
}
AVEC_API CUresult cuLibraryGetGlobal(CUdeviceptr *dptr, size_t *bytes, CUlibrary lib, const char *name) {
  return get_global(dptr, bytes, (struct CUmod_st *)lib, name, NULL);
}
/* A library's __managed__ variable by name (what cudart asks for the variables it registered). */
AVEC_API CUresult cuLibraryGetManaged(CUdeviceptr *dptr, size_t *bytes, CUlibrary lib, const char *name) {
  CUdeviceptr d = 0;
  size_t n = 0;
  int managed = 0;
  CUresult r = get_global(&d, &n, (struct CUmod_st *)lib, name, &managed);
  if (r) return r;
  if (!managed) return CUDA_ERROR_NOT_FOUND;
  if (dptr) *dptr = d;
  if (bytes) *bytes = n;
  return CUDA_SUCCESS;
}

/* Whether P is a module this process loaded (P may be any pointer a library hands over). */
int avec_module_known(const void *p) {
  int known = 0;
  pthread_mutex_lock(&modules_lock);
  for (size_t i = 0; i < nmodules && !known; i++) known = modules[i] == p;
  pthread_mutex_unlock(&modules_lock);
  return known;
}

/* Globals are per context: after a primary-context reset the same library's globals live elsewhere. */
void avec_modules_after_reset(void) {
  __atomic_fetch_add(&reset_generation, 1, __ATOMIC_RELEASE);
  pthread_mutex_lock(&modules_lock);
  for (size_t i = 0; i < nmodules; i++) {
    struct CUmod_st *m = modules[i];
    pthread_mutex_lock(&m->lock);
    avec_global *g = m->globals;
    m->globals = NULL;
    pthread_mutex_unlock(&m->lock);
    while (g) {
      avec_global *n = g->next;
      if (g->managed) avec_mapped_release(g->dptr); /* the reset freed its device side */
      free(g->name);
      free(g);
      g = n;
    }
  }
  pthread_mutex_unlock(&modules_lock);
}

/* A kernel of a library loaded again after a reset gets a fresh handle from the server (same name); one taken
 * with no context current is fetched now. */
CUresult avec_func_refresh(struct CUfunc_st *f) {
  struct CUmod_st *m = f->module;
  if (m->kind != AVEC_MODULE_KIND_LIBRARY) return CUDA_SUCCESS;
  if (__atomic_load_n(&f->generation, __ATOMIC_ACQUIRE) == generation_now()) return CUDA_SUCCESS;
  CUresult r = avec_ctx_require(NULL);
  if (!r) r = avec_module_refresh(m);
  if (r) return r;
  pthread_mutex_lock(&m->lock);
  if (f->generation != m->generation) r = fetch_function(f, m);
  pthread_mutex_unlock(&m->lock);
  return r;
}
