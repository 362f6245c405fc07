/* User objects (cuUserObjectCreate and friends): resources a program ties to the lifetime of a graph. The
 * destructor is a function of this process, so the objects live here: graphs and executable graphs (by
 * their ids) hold references, dropped when the graph or executable graph is destroyed (an executable graph
 * takes its own references at instantiation, as with the driver). A destructor runs on the thread that
 * drops the last reference (the driver runs it on an internal thread; it may not call CUDA either way). */
#include <stdlib.h>

#include "shim_cuda.h"

#define USER_OBJECT_MAGIC 0x5553524fu

struct CUuserObject_st {
  uint32_t magic;
  unsigned refs;
  void *ptr;
  CUhostFn destroy;
};

typedef struct holding {
  uint64_t owner; /* graph or executable-graph id */
  struct CUuserObject_st *obj;
  unsigned count;
  struct holding *next;
} holding;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static holding *held;

static int valid(CUuserObject o) { return o && o->magic == USER_OBJECT_MAGIC; }

/* Drops `count` references; returns the destructor to run (outside the lock) when none are left. */
static int drop_locked(struct CUuserObject_st *o, unsigned count) {
  int had = o->refs > 0;
  if (count > o->refs) count = o->refs;
  o->refs -= count;
  return had && o->refs == 0;
}

static void destroy(struct CUuserObject_st *o) {
  if (o->destroy) o->destroy(o->ptr);
  o->magic = 0;
  free(o);
}

AVEC_API CUresult cuUserObjectCreate(CUuserObject *out, void *ptr, CUhostFn fn, unsigned int refs, unsigned int flags) {
  if (!out || !fn || !refs || flags != CU_USER_OBJECT_NO_DESTRUCTOR_SYNC) return CUDA_ERROR_INVALID_VALUE;
  struct CUuserObject_st *o = calloc(1, sizeof *o);
  if (!o) return CUDA_ERROR_OUT_OF_MEMORY;
  *o = (struct CUuserObject_st){USER_OBJECT_MAGIC, refs, ptr, fn};
  *out = o;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuUserObjectRetain(CUuserObject o, unsigned int count) {
  if (!valid(o) || !count) return CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_lock(&lock);
  o->refs += count;
  pthread_mutex_unlock(&lock);
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuUserObjectRelease(CUuserObject o, unsigned int count) {
  if (!valid(o) || !count) return CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_lock(&lock);
  int last = drop_locked(o, count);
  pthread_mutex_unlock(&lock);
  if (last) destroy(o);
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuGraphRetainUserObject(CUgraph g, CUuserObject o, unsigned int count, unsigned int flags) {
  if (!g || !valid(o) || !count || (flags & ~CU_GRAPH_USER_OBJECT_MOVE)) return CUDA_ERROR_INVALID_VALUE;
  holding *h = malloc(sizeof *h);
  if (!h) return CUDA_ERROR_OUT_OF_MEMORY;
  pthread_mutex_lock(&lock);
  if (!(flags & CU_GRAPH_USER_OBJECT_MOVE)) o->refs += count; /* MOVE hands over the caller's references */
  *h = (holding){(uint64_t)(uintptr_t)g, o, count, held};
  held = h;
  pthread_mutex_unlock(&lock);
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuGraphReleaseUserObject(CUgraph g, CUuserObject o, unsigned int count) {
  if (!g || !valid(o) || !count) return CUDA_ERROR_INVALID_VALUE;
  uint64_t owner = (uint64_t)(uintptr_t)g;
  int last = 0;
  CUresult r = CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_lock(&lock);
  for (holding **pp = &held, *h; (h = *pp);) {
    if (h->owner != owner || h->obj != o || !count) { pp = &h->next; continue; }
    unsigned n = count < h->count ? count : h->count;
    h->count -= n;
    count -= n;
    last = drop_locked(o, n);
    r = CUDA_SUCCESS;
    if (!h->count) { *pp = h->next; free(h); } else pp = &h->next;
  }
  pthread_mutex_unlock(&lock);
  if (last) destroy(o);
  return r;
}

/* graph.c: `to` (a clone or an executable graph of `from`) takes references to everything `from` holds. */
void avec_user_objects_copy(uint64_t from, uint64_t to) {
  pthread_mutex_lock(&lock);
  for (holding *h = held; h; h = h->next) {
    if (h->owner != from) continue;
    holding *c = malloc(sizeof *c);
    if (!c) break;
    *c = (holding){to, h->obj, h->count, held};
    h->obj->refs += h->count;
    held = c;
  }
  pthread_mutex_unlock(&lock);
}

/* graph.c: a graph or executable graph is gone; its references go with it. */
void avec_user_objects_release(uint64_t owner) {
  struct CUuserObject_st *dead[64];
  int n = 0;
  pthread_mutex_lock(&lock);
  for (holding **pp = &held, *h; (h = *pp);) {
    if (h->owner != owner) { pp = &h->next; continue; }
    if (drop_locked(h->obj, h->count) && n < 64) dead[n++] = h->obj;
    *pp = h->next;
    free(h);
  }
  pthread_mutex_unlock(&lock);
  while (n) destroy(dead[--n]);
}
