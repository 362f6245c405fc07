/* The CUDA runtime's context-local storage (export table c693336e): a per-context map key -> (value,
 * destructor), entirely local because the runtime reads it on every call. Destructors run before a
 * primary-context reset or a context destroy is forwarded. */
#include <stdlib.h>

#include "shim_cuda.h"

/* ---- context-local storage -------------------------------------------------------------------------- */
CUresult avec_cls_put(CUcontext c, void *key, void *value, void (*dtor)(CUcontext, void *, void *)) {
  if (!c) c = avec_ctx_current();
  if (!avec_ctx_valid(c)) return CUDA_ERROR_INVALID_CONTEXT;
  pthread_mutex_lock(&c->cls_lock);
  avec_cls_entry *e = c->cls;
  while (e && e->key != key) e = e->next;
  if (!e) {
    e = calloc(1, sizeof *e);
    if (!e) { pthread_mutex_unlock(&c->cls_lock); return CUDA_ERROR_OUT_OF_MEMORY; }
    e->key = key;
    e->next = c->cls;
    c->cls = e;
  }
  e->value = value;
  e->dtor = dtor;
  pthread_mutex_unlock(&c->cls_lock);
  return CUDA_SUCCESS;
}

CUresult avec_cls_get(void **out, CUcontext c, void *key) {
  if (!c) c = avec_ctx_current();
  if (!avec_ctx_valid(c)) return CUDA_ERROR_INVALID_CONTEXT;
  pthread_mutex_lock(&c->cls_lock);
  avec_cls_entry *e = c->cls;
  while (e && e->key != key) e = e->next;
  if (e && out) *out = e->value;
  pthread_mutex_unlock(&c->cls_lock);
  return e ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

CUresult avec_cls_delete(CUcontext c, void *key) {
  if (!c) c = avec_ctx_current();
  if (!avec_ctx_valid(c)) return CUDA_ERROR_INVALID_CONTEXT;
  pthread_mutex_lock(&c->cls_lock);
  avec_cls_entry **pp = &c->cls;
  while (*pp && (*pp)->key != key) pp = &(*pp)->next;
  avec_cls_entry *e = *pp;
  if (e) *pp = e->next;
  pthread_mutex_unlock(&c->cls_lock);
  free(e);
  return e ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

/* Runs the runtime's destructors (before a reset or destroy is forwarded), then empties the map. */
void avec_cls_run_dtors(CUcontext c) {
  pthread_mutex_lock(&c->cls_lock);
  avec_cls_entry *e = c->cls;
  c->cls = NULL;
  pthread_mutex_unlock(&c->cls_lock);
  while (e) {
    avec_cls_entry *n = e->next;
    if (e->dtor) e->dtor(c, e->key, e->value);
    free(e);
    e = n;
  }
}

