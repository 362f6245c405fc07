/* cuModuleGetFunctionCount / cuModuleEnumerateFunctions and the library pair (cuFFT walks its modules'
 * kernels through them, export table 6e163fbe slot 7). The names come from the image when it can be read
 * here (module-symbols.c); compressed fat binaries, as cuFFT ships, are asked of the server once
 * (MODULE_KERNEL_NAMES, with the usual NEED_IMAGE upload) and the answer is kept on the module, so a count
 * and an enumeration cost one round trip. Handles come from GET_FUNCTION, as cuModuleGetFunction's. */
#include <stdlib.h>
#include <string.h>

#include "shim_cuda.h"

/* Test-only: AVEC_TEST_SERVER_KERNEL_NAMES=1 skips the image parse, so CPU tests exercise the server's
 * answer with images the client could read. */
static int server_names_forced(void) {
  static int forced = -1;
  if (forced < 0) {
    const char *s = getenv("AVEC_TEST_SERVER_KERNEL_NAMES");
    forced = s && *s && strcmp(s, "0") != 0;
  }
  return forced;
}

static CUresult server_names(struct CUmod_st *m, char ***names, int *n) {
  pthread_mutex_lock(&m->lock);
  int have = m->names != NULL;
  pthread_mutex_unlock(&m->lock);
  if (!have) {
    size_t cap = sizeof(avec_kernel_names) + AVEC_MAX_KERNEL_NAME_BYTES, got = 0;
    void *reply = malloc(cap);
    if (!reply) return CUDA_ERROR_OUT_OF_MEMORY;
    CUresult r = avec_module_refresh(m);
    avec_handle a = {m->handle, 0};
    if (!r) r = avec_module_call(AVEC_OP_MODULE_KERNEL_NAMES, m, &a, sizeof a, NULL, 0, reply, cap, &got);
    char **v = NULL;
    int count = r ? -1 : avec_kernel_names_decode(reply, got, &v);
    free(reply);
    if (r) return r;
    if (count < 0) {
      LOG_ERROR("module %u: malformed kernel names reply (%zu bytes)", m->handle, got);
      return CUDA_ERROR_INVALID_VALUE;
    }
    LOG_DEBUG("module %u: %d kernel names from the server", m->handle, count);
    pthread_mutex_lock(&m->lock);
    if (m->names) {
      avec_free_names(v, count); /* another thread asked too */
    } else {
      m->names = v;
      m->nnames = count;
    }
    pthread_mutex_unlock(&m->lock);
  }
  /* a copy: the cached list may be dropped by an unload while the caller walks it */
  pthread_mutex_lock(&m->lock);
  CUresult r = CUDA_SUCCESS;
  char **v = calloc(m->nnames ? (size_t)m->nnames : 1, sizeof *v);
  int i = 0;
  if (!v) r = CUDA_ERROR_OUT_OF_MEMORY;
  for (; v && i < m->nnames; i++)
    if (!(v[i] = strdup(m->names[i]))) { r = CUDA_ERROR_OUT_OF_MEMORY; break; }
  pthread_mutex_unlock(&m->lock);
  if (r) { avec_free_names(v, i); return r; }
  *names = v;
  *n = i;
  return CUDA_SUCCESS;
}

static CUresult kernel_names(struct CUmod_st *m, char ***names, int *n) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  if (!avec_module_valid(m) || !m->image) return CUDA_ERROR_INVALID_HANDLE;
  if (!server_names_forced() && (*n = avec_image_kernel_names(m->image, m->size, names)) >= 0) return CUDA_SUCCESS;
  return server_names(m, names, n);
}

static CUresult count_kernels(unsigned *count, struct CUmod_st *m) {
  if (!count) return CUDA_ERROR_INVALID_VALUE;
  char **names;
  int n;
  CUresult r = kernel_names(m, &names, &n);
  if (r) return r;
  avec_free_names(names, n);
  *count = (unsigned)n;
  return CUDA_SUCCESS;
}

static CUresult enumerate_kernels(struct CUfunc_st **out, unsigned num, struct CUmod_st *m, uint32_t kind) {
  if (!out) return CUDA_ERROR_INVALID_VALUE;
  char **names;
  int n;
  CUresult r = kernel_names(m, &names, &n);
  if (r) return r;
  if (num < (unsigned)n) r = CUDA_ERROR_INVALID_VALUE; /* the buffer must hold them all */
  for (int i = 0; i < n && !r; i++) r = avec_get_function(&out[i], m, names[i], kind);
  avec_free_names(names, n);
  return r;
}

AVEC_API CUresult cuModuleGetFunctionCount(unsigned int *count, CUmodule mod) { return count_kernels(count, mod); }
AVEC_API CUresult cuModuleEnumerateFunctions(CUfunction *functions, unsigned int num, CUmodule mod) {
  return enumerate_kernels((struct CUfunc_st **)functions, num, mod, AVEC_SYMBOL_FUNCTION);
}
AVEC_API CUresult cuLibraryGetKernelCount(unsigned int *count, CUlibrary lib) {
  return count_kernels(count, (struct CUmod_st *)lib);
}
AVEC_API CUresult cuLibraryEnumerateKernels(CUkernel *kernels, unsigned int num, CUlibrary lib) {
  return enumerate_kernels((struct CUfunc_st **)kernels, num, (struct CUmod_st *)lib, AVEC_SYMBOL_KERNEL);
}
