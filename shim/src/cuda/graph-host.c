/* Pinned host memory inside remote graphs. A graph runs on the GPU node, where this process's memory is
 * not, so a memcpy node (or a captured async copy) between pinned host memory and the device is recorded
 * as a device-to-device copy from or to the host range's device-side mirror (mapped.c), and the graph
 * remembers the mirrors it reads and writes. At each launch of an executable graph the mirrors it reads
 * get the host's current bytes (unchanged ones are not sent again), and the mirrors it writes come back
 * at the next synchronisation, as mapped memory does. Pageable memory gets a mirror of exactly the range
 * copied, made for the graph and freed when no graph or executable graph uses it any more. */
#include <stdlib.h>

#include "shim_cuda.h"

typedef struct side {
  uint64_t owner; /* graph or executable-graph id; 0: a capture under way */
  uint64_t dptr, size;
  int writes;
  struct side *next;
} side;

typedef struct made {
  uint64_t host, dptr;
  int refs; /* side entries (of graphs and executable graphs) that name it */
  struct made *next;
} made;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static side *sides;
static made *mades;
static int any;

/* Inside a capture the server thread may not allocate in global mode, and a legacy-stream copy would break
 * the capture: mirrors are made in relaxed mode and get their bytes at the graph's first launch. */
CUresult avec_graph_host_mirror(uint64_t host, uint64_t size, uint64_t *mirror) {
  avec_range rg;
  CUstreamCaptureMode mode = CU_STREAM_CAPTURE_MODE_RELAXED;
  CUresult r;
  if (!avec_ranges_find(&avec_host_ranges, host, &rg)) { /* pinned: its range's mirror */
    cuThreadExchangeStreamCaptureMode(&mode);
    r = avec_mapped_mirror(host, mirror, AVEC_MIRROR_SEND_LATER);
    cuThreadExchangeStreamCaptureMode(&mode);
    return r;
  }
  made *m = calloc(1, sizeof *m);
  CUdeviceptr d = 0;
  cuThreadExchangeStreamCaptureMode(&mode);
  r = m ? cuMemAlloc_v2(&d, size) : CUDA_ERROR_OUT_OF_MEMORY;
  cuThreadExchangeStreamCaptureMode(&mode);
  if (!r && (r = avec_mapped_add(host, d, size, 1, AVEC_MIRROR_SEND_LATER))) cuMemFree_v2(d);
  if (r) {
    free(m);
    return r;
  }
  pthread_mutex_lock(&lock);
  *m = (made){host, d, 0, mades};
  mades = m;
  pthread_mutex_unlock(&lock);
  *mirror = d;
  return CUDA_SUCCESS;
}

/* Counts a side entry naming `dptr` (+1) or forgetting it (-1); returns the host address of a mirror made
 * here that nothing uses any more (its owner then releases it), else 0. Caller holds the lock. */
static uint64_t made_ref_locked(uint64_t dptr, int delta) {
  for (made **pp = &mades, *m; (m = *pp); pp = &m->next) {
    if (m->dptr != dptr) continue;
    if ((m->refs += delta) > 0) return 0;
    *pp = m->next;
    uint64_t host = m->host;
    free(m);
    return host;
  }
  return 0;
}

void avec_graph_host_note(uint64_t owner, uint64_t dptr, uint64_t size, int writes) {
  side *s = malloc(sizeof *s);
  if (!s) return;
  pthread_mutex_lock(&lock);
  *s = (side){owner, dptr, size, writes, sides};
  sides = s;
  made_ref_locked(dptr, +1);
  __atomic_store_n(&any, 1, __ATOMIC_RELEASE);
  pthread_mutex_unlock(&lock);
}

/* `to` (a clone, an executable graph, a graph that got `from` as a child) uses what `from` uses. */
void avec_graph_host_copy(uint64_t from, uint64_t to) {
  if (!__atomic_load_n(&any, __ATOMIC_ACQUIRE)) return;
  pthread_mutex_lock(&lock);
  for (side *s = sides; s; s = s->next) {
    if (s->owner != from) continue;
    side *c = malloc(sizeof *c);
    if (!c) break;
    *c = (side){to, s->dptr, s->size, s->writes, sides};
    sides = c;
    made_ref_locked(s->dptr, +1);
  }
  pthread_mutex_unlock(&lock);
}

/* A capture ended: what it recorded (owner 0) belongs to its graph, or to nothing (graph 0: invalidated). */
void avec_graph_host_adopt(uint64_t graph) {
  if (!__atomic_load_n(&any, __ATOMIC_ACQUIRE)) return;
  pthread_mutex_lock(&lock);
  for (side *s = sides; s; s = s->next)
    if (s->owner == 0) s->owner = graph ? graph : UINT64_MAX;
  pthread_mutex_unlock(&lock);
  if (!graph) avec_graph_host_release(UINT64_MAX);
}

void avec_graph_host_release(uint64_t owner) {
  if (!__atomic_load_n(&any, __ATOMIC_ACQUIRE)) return;
  enum { MAX = 64 };
  uint64_t unused[MAX];
  int n = 0;
  pthread_mutex_lock(&lock);
  for (side **pp = &sides, *s; (s = *pp);) {
    if (s->owner != owner) { pp = &s->next; continue; }
    uint64_t host = made_ref_locked(s->dptr, -1);
    if (host && n < MAX) unused[n++] = host;
    *pp = s->next;
    free(s);
  }
  pthread_mutex_unlock(&lock);
  while (n) avec_mapped_release(unused[--n]); /* frees the mirror's device memory */
}

/* Before an executable graph is launched: host changes go to the mirrors it reads; the mirrors it writes
 * are read back at the next synchronisation. */
void avec_graph_host_launch(uint64_t exec) {
  if (!__atomic_load_n(&any, __ATOMIC_ACQUIRE)) return;
  enum { MAX = 256 };
  uint64_t d[MAX], n[MAX];
  int w[MAX], k = 0;
  pthread_mutex_lock(&lock);
  for (side *s = sides; s && k < MAX; s = s->next)
    if (s->owner == exec) { d[k] = s->dptr; n[k] = s->size; w[k] = s->writes; k++; }
  pthread_mutex_unlock(&lock);
  for (int i = 0; i < k; i++) avec_mapped_range(d[i], n[i], !w[i], w[i]);
}
