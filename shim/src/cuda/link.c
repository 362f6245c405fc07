/* JIT linking (cuLinkCreate/AddData/AddFile/Complete/Destroy) on the server's driver: the linker needs the
 * device's architecture, so it runs there. A CUlinkState here holds the server's handle, the program's
 * option arrays (the driver writes output options into them for the state's life, and so does this file)
 * and the linked image, which stays valid until cuLinkDestroy. Inputs travel as data in parts of
 * AVEC_CHUNK bytes (cuLinkAddFile reads the file here); only options whose value is a number cross, and
 * the log buffers are the server's: their text comes back with each reply and is copied into the
 * program's buffers. Symbol and kernel-name arrays (host pointers) are refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim_cuda.h"

#undef cuLinkCreate
#undef cuLinkAddData
#undef cuLinkAddFile

struct CUlinkState_st {
  uint32_t handle;
  void **vals;  /* the program's optionValues (outputs land there), NULL without options */
  int info_size_at, error_size_at, wall_at, threads_at; /* where those outputs go in vals, -1: not asked */
  char *info, *error;   /* the program's log buffers */
  size_t info_cap, error_cap;
  uint8_t *image;       /* after cuLinkComplete */
  size_t image_size;
};

static pthread_mutex_t states_lock = PTHREAD_MUTEX_INITIALIZER;
static CUlinkState states[AVEC_LINK_MAX_STATES];

static int state_valid(CUlinkState s) {
  int ok = 0;
  pthread_mutex_lock(&states_lock);
  for (unsigned i = 0; s && i < AVEC_LINK_MAX_STATES && !ok; i++) ok = states[i] == s;
  pthread_mutex_unlock(&states_lock);
  return ok;
}

static int state_slot(CUlinkState s, CUlinkState want) { /* puts s where `want` is; 0 when there is none */
  int ok = 0;
  pthread_mutex_lock(&states_lock);
  for (unsigned i = 0; i < AVEC_LINK_MAX_STATES && !ok; i++)
    if (states[i] == want) { states[i] = s; ok = 1; }
  pthread_mutex_unlock(&states_lock);
  return ok;
}

/* The program's options as wire options. At cuLinkCreate the log buffers are noted in `st`; cuLinkAddData
 * takes compiler options only, as the driver does. */
static CUresult wire_options(unsigned n, const CUjit_option *opt, void **val, CUlinkState st, avec_jit_option *out,
                             uint32_t *nout) {
  static int warned;
  if (n > AVEC_LINK_MAX_OPTIONS || (n && (!opt || !val))) return CUDA_ERROR_INVALID_VALUE;
  uint32_t k = 0;
  for (unsigned i = 0; i < n; i++) {
    uintptr_t v = (uintptr_t)val[i];
    switch (opt[i]) {
      case CU_JIT_INFO_LOG_BUFFER: case CU_JIT_ERROR_LOG_BUFFER:
        if (!st) return CUDA_ERROR_INVALID_VALUE;
        if (opt[i] == CU_JIT_INFO_LOG_BUFFER) st->info = (char *)v;
        else st->error = (char *)v;
        continue;
      case CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES: case CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES:
        if (!st) continue;
        if (opt[i] == CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES) { st->info_cap = (unsigned)v; st->info_size_at = (int)i; }
        else { st->error_cap = (unsigned)v; st->error_size_at = (int)i; }
        continue;
      case CU_JIT_GLOBAL_SYMBOL_NAMES: case CU_JIT_GLOBAL_SYMBOL_ADDRESSES: case CU_JIT_REFERENCED_KERNEL_NAMES:
      case CU_JIT_REFERENCED_VARIABLE_NAMES:
        return (CUresult)avec_unsupported("JIT options that pass host arrays (symbol or kernel names)", &warned);
      default:
        if ((unsigned)opt[i] >= CU_JIT_NUM_OPTIONS) return CUDA_ERROR_INVALID_VALUE;
        if (st && opt[i] == CU_JIT_WALL_TIME) st->wall_at = (int)i;
        if (st && opt[i] == CU_JIT_THREADS_PER_BLOCK) st->threads_at = (int)i;
        out[k++] = (avec_jit_option){(uint32_t)opt[i], 0, (uint64_t)v};
    }
  }
  *nout = k;
  return CUDA_SUCCESS;
}

static uint32_t log_size(const char *buf, size_t cap) {
  if (!buf || !cap) return 0;
  return cap > AVEC_LINK_MAX_LOG ? AVEC_LINK_MAX_LOG : (uint32_t)cap;
}

static void copy_log(char *dst, size_t cap, const char *text, uint32_t len, void **vals, int size_at) {
  if (!dst || !cap) return;
  size_t n = len < cap - 1 ? len : cap - 1;
  memcpy(dst, text, n);
  dst[n] = 0;
  if (vals && size_at >= 0) vals[size_at] = (void *)(uintptr_t)n; /* OUT: bytes of the log filled */
}

/* What a reply says the driver wrote: the logs into the program's buffers, outputs into its values. */
static void apply_outputs(CUlinkState st, const uint8_t *rep, size_t got) {
  avec_link_reply lr;
  if (got < sizeof lr) return;
  memcpy(&lr, rep, sizeof lr);
  if ((uint64_t)lr.info_len + lr.error_len > got - sizeof lr) return;
  const char *text = (const char *)rep + sizeof lr;
  copy_log(st->info, st->info_cap, text, lr.info_len, st->vals, st->info_size_at);
  copy_log(st->error, st->error_cap, text + lr.info_len, lr.error_len, st->vals, st->error_size_at);
  if (st->vals && st->wall_at >= 0) memcpy(&st->vals[st->wall_at], &lr.wall_time, sizeof lr.wall_time);
  if (st->vals && st->threads_at >= 0) st->vals[st->threads_at] = (void *)(uintptr_t)lr.threads_per_block;
}

/* One request with up to two pieces of payload; the reply (avec_reply_hdr first) goes to rep[0..cap). */
static CUresult link_call(uint16_t op, const void *a, size_t alen, const void *b, size_t blen, void *rep, size_t cap,
                          size_t *got) {
  avec_reply_hdr tmp;
  size_t n = 0;
  CUresult r = avec_result(avec_conn_call(&avec_sess.conn, op, 0, avec_ctx_wire(), a, alen, b, blen,
                                          rep ? rep : &tmp, rep ? cap : sizeof tmp, &n));
  if (got) *got = n;
  return r;
}

static CUresult link_create(unsigned n, CUjit_option *opt, void **val, CUlinkState *out) {
  if (!out) return CUDA_ERROR_INVALID_VALUE;
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  CUlinkState st = calloc(1, sizeof *st);
  avec_jit_option wire[AVEC_LINK_MAX_OPTIONS];
  if (!st) return CUDA_ERROR_OUT_OF_MEMORY;
  st->info_size_at = st->error_size_at = st->wall_at = st->threads_at = -1;
  st->vals = n ? val : NULL;
  uint32_t k = 0;
  r = wire_options(n, opt, val, st, wire, &k);
  if (!r && !state_slot(st, NULL)) r = CUDA_ERROR_OUT_OF_MEMORY; /* AVEC_LINK_MAX_STATES live at once */
  if (!r) {
    st->handle = avec_new_handle();
    avec_link_create c = {st->handle, k, log_size(st->info, st->info_cap), log_size(st->error, st->error_cap)};
    r = link_call(AVEC_OP_LINK_CREATE, &c, sizeof c, wire, k * sizeof *wire, NULL, 0, NULL);
    if (r) state_slot(NULL, st);
  }
  if (r) free(st);
  else *out = st;
  return r;
}
AVEC_API CUresult cuLinkCreate_v2(unsigned int n, CUjit_option *opt, void **val, CUlinkState *out) {
  return link_create(n, opt, val, out);
}
AVEC_API CUresult cuLinkCreate(unsigned int n, CUjit_option *opt, void **val, CUlinkState *out) {
  return link_create(n, opt, val, out);
}

/* One input, in parts of at most AVEC_CHUNK bytes; the last part's reply carries the logs. */
static CUresult add_data(CUlinkState st, CUjitInputType type, const void *data, size_t size, const char *name,
                         unsigned n, CUjit_option *opt, void **val) {
  if (!state_valid(st)) return CUDA_ERROR_INVALID_HANDLE;
  if (!data || size == 0 || size > AVEC_LINK_MAX_INPUT || (unsigned)type >= CU_JIT_NUM_INPUT_TYPES)
    return CUDA_ERROR_INVALID_VALUE;
  for (unsigned i = 0; i < n && opt; i++) /* the driver takes these at cuLinkCreate only */
    if (opt[i] == CU_JIT_INFO_LOG_BUFFER || opt[i] == CU_JIT_ERROR_LOG_BUFFER || opt[i] == CU_JIT_WALL_TIME)
      return CUDA_ERROR_INVALID_VALUE;
  avec_jit_option wire[AVEC_LINK_MAX_OPTIONS];
  uint32_t k = 0;
  CUresult r = wire_options(n, opt, val, NULL, wire, &k);
  if (r) return r;
  size_t name_len = name ? strnlen(name, AVEC_MAX_NAME) : 0;
  size_t cap = sizeof(avec_link_reply) + 2 * (size_t)AVEC_LINK_MAX_LOG;
  uint8_t *rep = malloc(cap), *head = malloc(sizeof(avec_link_add) + sizeof wire + AVEC_MAX_NAME);
  if (!rep || !head) {
    free(rep);
    free(head);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  for (size_t off = 0; off < size && !r;) {
    size_t part = size - off < AVEC_CHUNK ? size - off : AVEC_CHUNK;
    int first = off == 0;
    avec_link_add a = {st->handle, (uint32_t)type, size, off, first ? k : 0, first ? (uint32_t)name_len : 0,
                       (uint32_t)part, 0};
    size_t hlen = sizeof a;
    memcpy(head, &a, sizeof a);
    if (first) {
      memcpy(head + hlen, wire, k * sizeof *wire);
      hlen += k * sizeof *wire;
      if (name_len) memcpy(head + hlen, name, name_len);
      hlen += name_len;
    }
    size_t got = 0;
    r = link_call(AVEC_OP_LINK_ADD_DATA, head, hlen, (const uint8_t *)data + off, part, rep, cap, &got);
    off += part;
    if (off == size) apply_outputs(st, rep, got); /* with a failure too: the error log says why */
  }
  free(rep);
  free(head);
  return r;
}
AVEC_API CUresult cuLinkAddData_v2(CUlinkState st, CUjitInputType type, void *data, size_t size, const char *name,
                                  unsigned int n, CUjit_option *opt, void **val) {
  return add_data(st, type, data, size, name, n, opt, val);
}
AVEC_API CUresult cuLinkAddData(CUlinkState st, CUjitInputType type, void *data, size_t size, const char *name,
                               unsigned int n, CUjit_option *opt, void **val) {
  return add_data(st, type, data, size, name, n, opt, val);
}

/* The file is read here (the server cannot see this machine's files) and added as data; PTX text gets the
 * NUL terminator cuLinkAddData expects. */
static CUresult add_file(CUlinkState st, CUjitInputType type, const char *path, unsigned n, CUjit_option *opt,
                         void **val) {
  if (!state_valid(st)) return CUDA_ERROR_INVALID_HANDLE;
  if (!path) return CUDA_ERROR_INVALID_VALUE;
  FILE *f = fopen(path, "rb");
  if (!f) return CUDA_ERROR_FILE_NOT_FOUND;
  long len = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
  CUresult r = len <= 0 || (unsigned long)len >= AVEC_LINK_MAX_INPUT ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
  uint8_t *buf = r ? NULL : malloc((size_t)len + 1);
  if (!r && !buf) r = CUDA_ERROR_OUT_OF_MEMORY;
  if (!r && (fseek(f, 0, SEEK_SET) != 0 || fread(buf, 1, (size_t)len, f) != (size_t)len)) r = CUDA_ERROR_FILE_NOT_FOUND;
  fclose(f);
  if (!r) {
    size_t size = (size_t)len;
    if (type == CU_JIT_INPUT_PTX && buf[size - 1] != 0) buf[size++] = 0;
    r = add_data(st, type, buf, size, path, n, opt, val);
  }
  free(buf);
  return r;
}
AVEC_API CUresult cuLinkAddFile_v2(CUlinkState st, CUjitInputType type, const char *path, unsigned int n,
                                  CUjit_option *opt, void **val) {
  return add_file(st, type, path, n, opt, val);
}
AVEC_API CUresult cuLinkAddFile(CUlinkState st, CUjitInputType type, const char *path, unsigned int n,
                               CUjit_option *opt, void **val) {
  return add_file(st, type, path, n, opt, val);
}

/* The server links; the image comes back in pieces and is this state's until cuLinkDestroy. */
AVEC_API CUresult cuLinkComplete(CUlinkState st, void **cubin, size_t *size) {
  if (!state_valid(st)) return CUDA_ERROR_INVALID_HANDLE;
  if (!cubin) return CUDA_ERROR_INVALID_VALUE;
  size_t cap = sizeof(avec_link_reply) + 2 * (size_t)AVEC_LINK_MAX_LOG, got = 0;
  uint8_t *rep = malloc(cap);
  if (!rep) return CUDA_ERROR_OUT_OF_MEMORY;
  avec_handle h = {st->handle, 0};
  CUresult r = link_call(AVEC_OP_LINK_COMPLETE, &h, sizeof h, NULL, 0, rep, cap, &got);
  apply_outputs(st, rep, got);
  avec_link_reply lr;
  memset(&lr, 0, sizeof lr);
  if (got >= sizeof lr) memcpy(&lr, rep, sizeof lr);
  free(rep);
  if (!r && (got < sizeof lr || lr.image_size == 0 || lr.image_size > AVEC_LINK_MAX_IMAGE)) r = CUDA_ERROR_UNKNOWN;
  uint8_t *image = r ? NULL : malloc((size_t)lr.image_size);
  uint8_t *piece = r ? NULL : malloc(sizeof(avec_reply_hdr) + AVEC_CHUNK);
  if (!r && (!image || !piece)) r = CUDA_ERROR_OUT_OF_MEMORY;
  for (uint64_t off = 0; !r && off < lr.image_size;) {
    uint64_t len = lr.image_size - off < AVEC_CHUNK ? lr.image_size - off : AVEC_CHUNK;
    avec_link_read q = {st->handle, 0, off, len};
    r = link_call(AVEC_OP_LINK_READ, &q, sizeof q, NULL, 0, piece, sizeof(avec_reply_hdr) + AVEC_CHUNK, &got);
    if (!r && got != sizeof(avec_reply_hdr) + len) r = CUDA_ERROR_UNKNOWN;
    if (!r) memcpy(image + off, piece + sizeof(avec_reply_hdr), (size_t)len);
    off += len;
  }
  free(piece);
  if (r) {
    free(image);
    return r;
  }
  free(st->image); /* a second cuLinkComplete replaces the first image */
  st->image = image;
  st->image_size = (size_t)lr.image_size;
  *cubin = image;
  if (size) *size = st->image_size;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuLinkDestroy(CUlinkState st) {
  if (!state_valid(st)) return CUDA_ERROR_INVALID_HANDLE;
  avec_handle h = {st->handle, 0};
  CUresult r = avec_post(AVEC_OP_LINK_DESTROY, 0, &h, sizeof h, NULL, 0);
  state_slot(NULL, st);
  free(st->image);
  free(st);
  return r;
}
