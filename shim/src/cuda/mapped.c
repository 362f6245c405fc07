/* Mapped (zero-copy) host memory on a remote GPU. The GPU cannot reach this machine's memory, so the
 * device pointer of mapped pinned memory (cuMemHostGetDevicePointer) is a device-side mirror, made on
 * first request, kept coherent where CUDA lets either side look (docs/semantics.md):
 *   - before device work that names it (a launch whose parameters hold a pointer into it, a device-side
 *     copy or memset over it, a prefetch to the device), host changes are sent (a content hash tells:
 *     unchanged memory is not sent again) and the work marks it device-written. They are written on the GPU
 *     node at once, beside whatever the streams run, not in stream order (write_now), as a host write reaches
 *     the device at once on a local GPU;
 *   - at the next synchronisation (context, stream, event, a blocking copy back) written mirrors are read
 *     back into host memory;
 *   - when a synchronisation or a query begins, a small mirror (<= 64 KiB) that device work may be using
 *     and that the host changed is written the same way (avec_mapped_before_wait): a kernel polling a
 *     host-set flag ends once the program waits or polls.
 * A kernel that reaches mapped memory only through a pointer stored in device memory is not seen.
 * Other concurrent use is not honoured: a host write to a larger mirror while device work runs reaches the
 * device only with its next launch or copy, and any host write the device has not got when the device's
 * view comes back is overwritten by it. Mirrors are device memory and count against the session's limit. */
#include <stdlib.h>
#include <string.h>

#include "shim_cuda.h"

typedef struct mirror {
  uint64_t host, size, dptr; /* managed memory: host == dptr (the same address on both sides) */
  uint64_t hash;      /* content hash of what the device side holds (after the last send or read-back) */
  int device_written; /* device work since the last read-back may have changed it */
  int owns_device;    /* mapped memory: the mirror's device allocation is ours to free */
  int unsent;         /* made without sending: the first device work that reads it sends the host's bytes */
  int by_symbol;      /* a __managed__ variable: kernels reach it by name, so every launch may touch it */
  struct mirror *next;
} mirror;

static mirror *mirrors;
static int any; /* fast path: nothing to do while no mirror exists */
static pthread_mutex_t mirrors_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t content_hash(const void *p, uint64_t n) {
  const uint64_t *w = p;
  uint64_t h = 0xcbf29ce484222325ull ^ n;
  for (uint64_t i = 0; i < n / 8; i++) h = (h ^ w[i]) * 0x100000001b3ull;
  const uint8_t *b = (const uint8_t *)p + n / 8 * 8;
  for (uint64_t i = 0; i < n % 8; i++) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

/* Host bytes into a mirror on the GPU node, applied there at once, beside whatever the streams are running
 * (MIRROR_WRITE_NOW in pieces of AVEC_MIRROR_WRITE_MAX), as a host write to mapped or managed memory reaches
 * the device on a local GPU. Not in stream order: an upload queued on the legacy stream would wait behind a
 * running kernel of a blocking stream, and hold up every later frame with it, while that kernel may be
 * polling for exactly these bytes (cuda-samples UnifiedMemoryPerf). A server without the opcode gets a
 * legacy-stream copy. */
static int can_write_now(void) {
  return (avec_sess.conn.features & AVEC_FEATURE_MIRROR_WRITE_NOW) && avec_ctx_wire();
}

static CUresult write_now(uint64_t dptr, const void *host, uint64_t n) {
  if (!can_write_now()) return avec_htod_raw(dptr, host, n);
  for (uint64_t off = 0; off < n; off += AVEC_MIRROR_WRITE_MAX) {
    avec_mirror_write w = {dptr + off, n - off < AVEC_MIRROR_WRITE_MAX ? n - off : AVEC_MIRROR_WRITE_MAX};
    CUresult r = avec_post(AVEC_OP_MIRROR_WRITE_NOW, 0, &w, sizeof w, (const uint8_t *)host + off, w.size);
    if (r) return r;
  }
  return CUDA_SUCCESS;
}

/* Zeros over a fresh mirror's device side (managed memory starts as zeros on both sides). Through the same
 * path as write_now: a stream-ordered memset could still be queued behind running work when a later
 * write_now lands beside it, and would then overwrite the host's bytes with zeros. */
CUresult avec_mapped_zero(uint64_t dptr, uint64_t size) {
  if (!can_write_now()) return cuMemsetD8_v2(dptr, 0, size);
  avec_mirror_write w = {dptr, size};
  return avec_post(AVEC_OP_MIRROR_ZERO_NOW, 0, &w, sizeof w, NULL, 0);
}

CUresult avec_mapped_device_ptr(uint64_t host, uint64_t *dptr) { return avec_mapped_mirror(host, dptr, 1); }

int avec_mapped_any(void) { return __atomic_load_n(&any, __ATOMIC_ACQUIRE); }

/* `send`: as avec_mapped_add's, for a mirror made now. */
CUresult avec_mapped_mirror(uint64_t host, uint64_t *dptr, int send) {
  static pthread_mutex_t making = PTHREAD_MUTEX_INITIALIZER; /* one mirror per range, even when asked at once */
  avec_range rg;
  if (avec_ranges_find(&avec_host_ranges, host, &rg)) return CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_lock(&making);
  pthread_mutex_lock(&mirrors_lock);
  mirror *m = mirrors;
  while (m && m->host != rg.base) m = m->next;
  uint64_t d = m ? m->dptr : 0;
  pthread_mutex_unlock(&mirrors_lock);
  CUresult r = CUDA_SUCCESS;
  if (!m) {
    CUdeviceptr nd = 0;
    r = cuMemAlloc_v2(&nd, rg.size);
    if (!r && (r = avec_mapped_add(rg.base, nd, rg.size, 1, send))) cuMemFree_v2(nd);
    if (!r)
      LOG_DEBUG("mapped host memory %p+%llu mirrored at 0x%llx", (void *)(uintptr_t)rg.base,
                (unsigned long long)rg.size, (unsigned long long)nd);
    d = nd;
  }
  pthread_mutex_unlock(&making);
  if (r) return r;
  *dptr = d + (host - rg.base);
  return CUDA_SUCCESS;
}

static CUresult add(uint64_t host, uint64_t dptr, uint64_t size, int owns_device, int send, int by_symbol) {
  mirror *m = calloc(1, sizeof *m);
  if (!m) return CUDA_ERROR_OUT_OF_MEMORY;
  *m = (mirror){host, size, dptr, 0, 0, owns_device, send == AVEC_MIRROR_SEND_LATER, by_symbol, NULL};
  CUresult r = send == 1 ? write_now(dptr, (const void *)(uintptr_t)host, size) : CUDA_SUCCESS;
  if (r) {
    free(m);
    return r;
  }
  m->hash = content_hash((const void *)(uintptr_t)host, size);
  pthread_mutex_lock(&mirrors_lock);
  m->next = mirrors;
  mirrors = m;
  __atomic_store_n(&any, 1, __ATOMIC_RELEASE);
  pthread_mutex_unlock(&mirrors_lock);
  return CUDA_SUCCESS;
}

CUresult avec_mapped_add(uint64_t host, uint64_t dptr, uint64_t size, int owns_device, int send) {
  return add(host, dptr, size, owns_device, send, 0);
}

/* A __managed__ variable whose host side (at its own address) already holds the device's bytes. */
CUresult avec_mapped_add_symbol(uint64_t dptr, uint64_t size) { return add(dptr, dptr, size, 0, 0, 1); }

uint64_t avec_mapped_host_of(uint64_t dptr) {
  uint64_t host = 0;
  pthread_mutex_lock(&mirrors_lock);
  for (mirror *m = mirrors; m; m = m->next)
    if (dptr - m->dptr < m->size) host = m->host + (dptr - m->dptr);
  pthread_mutex_unlock(&mirrors_lock);
  return host;
}

/* Sends host changes of a mirror the coming device work may read; marks it as possibly written. Caller
 * holds mirrors_lock. */
static void touch(mirror *m, int reads, int writes) {
  if (reads || m->unsent) { /* an unsent mirror gets the host's bytes first, or a read-back would lose them */
    uint64_t h = content_hash((const void *)(uintptr_t)m->host, m->size);
    if ((m->unsent || h != m->hash) &&
        write_now(m->dptr, (const void *)(uintptr_t)m->host, m->size) == CUDA_SUCCESS) {
      m->hash = h;
      m->unsent = 0;
    }
  }
  if (writes) m->device_written = 1;
}

/* Under unified addressing a kernel may be handed the host address of memory from cuMemHostAlloc or
 * cuMemAllocHost and dereference it: the driver makes all of it reachable from every device at that address
 * (registered memory only through cuMemHostGetDevicePointer: CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM is 0
 * here). The GPU is elsewhere, so a parameter word inside such an allocation becomes the same offset in its
 * device-side mirror (made on first use), which avec_mapped_launch then keeps coherent. A non-pointer word
 * would have to equal an address inside a pinned allocation to be changed. */
void avec_mapped_host_params(uint8_t *params, size_t n) {
  uint64_t lo, hi;
  if (!n || avec_ranges_span(&avec_host_ranges, &lo, &hi)) return;
  for (size_t off = 0; off + 8 <= n; off += 8) { /* pointers sit 8-aligned in the packed parameters */
    uint64_t v, d;
    avec_range rg;
    memcpy(&v, params + off, 8);
    if (v < lo || v >= hi || avec_ranges_find(&avec_host_ranges, v, &rg) || rg.kind != AVEC_RANGE_HOST_ALLOC) continue;
    if (avec_graph_host_mirror(v, rg.size, &d)) continue;
    LOG_DEBUG("launch parameter %p (pinned host memory) passed as its device mirror 0x%llx", (void *)(uintptr_t)v,
              (unsigned long long)d);
    memcpy(params + off, &d, 8);
  }
}

void avec_mapped_launch(const uint8_t *params, size_t n) {
  if (!__atomic_load_n(&any, __ATOMIC_ACQUIRE)) return;
  pthread_mutex_lock(&mirrors_lock);
  for (mirror *m = mirrors; m; m = m->next) {
    if (m->by_symbol) { /* named in the kernel's code, not in its parameters */
      touch(m, 1, 1);
      continue;
    }
    for (size_t off = 0; off + 8 <= n; off += 8) { /* pointers sit 8-aligned in the packed parameters */
      uint64_t v;
      memcpy(&v, params + off, 8);
      if (v - m->dptr < m->size) {
        touch(m, 1, 1);
        break;
      }
    }
  }
  pthread_mutex_unlock(&mirrors_lock);
}

static int overlaps(const mirror *m, uint64_t dptr, uint64_t n) { return dptr < m->dptr + m->size && m->dptr < dptr + n; }

void avec_mapped_range(uint64_t dptr, uint64_t n, int reads, int writes) {
  if (!__atomic_load_n(&any, __ATOMIC_ACQUIRE)) return;
  pthread_mutex_lock(&mirrors_lock);
  for (mirror *m = mirrors; m; m = m->next)
    if (overlaps(m, dptr, n)) touch(m, reads, writes);
  pthread_mutex_unlock(&mirrors_lock);
}

/* Reads back into host memory the device-written mirrors that overlap [dptr, dptr + n). */
static void read_back(uint64_t dptr, uint64_t n) {
  if (!__atomic_load_n(&any, __ATOMIC_ACQUIRE)) return;
  pthread_mutex_lock(&mirrors_lock);
  for (mirror *m = mirrors; m; m = m->next)
    if (m->device_written && overlaps(m, dptr, n) &&
        avec_dtoh_raw((void *)(uintptr_t)m->host, m->dptr, m->size) == CUDA_SUCCESS) {
      m->device_written = 0;
      m->hash = content_hash((const void *)(uintptr_t)m->host, m->size);
    }
  pthread_mutex_unlock(&mirrors_lock);
}

/* A copy or memset the program issued without a stream is synchronous for host-visible memory: the host
 * may read the result as soon as the call returns, so the written mirrors come back now. */
void avec_mapped_settle(uint64_t dptr, uint64_t n) { read_back(dptr, n); }

void avec_mapped_after_sync(void) { read_back(0, UINT64_MAX); }

/* Before a synchronisation waits (`waits`) or a query asks, device work that uses a mirror may be running; on
 * a local GPU a host write to that memory reaches it, and a kernel may spin until the host sets a flag
 * (cuda-samples' UnifiedMemoryPerf). So a mirror the host changed since the device side last got it is
 * written on the GPU node now (MIRROR_WRITE_NOW), beside the running work rather than in stream order: the
 * device sees the write at the program's next synchronize or query, not the instant it is made. It stays
 * device-written: the running work may change it again. Small mirrors only (AVEC_MIRROR_WRITE_MAX, 64 KiB):
 * this runs at every synchronize and query, which a polling loop repeats, hashing and perhaps resending the
 * whole mirror each time, and flags are a few bytes. A larger changed mirror is hashed only at a wait (the
 * read-back after it costs more) and named once in the log, as is anything a server without the opcode
 * cannot be sent. */
void avec_mapped_before_wait(int waits) {
  static int warned;
  if (!__atomic_load_n(&any, __ATOMIC_ACQUIRE)) return;
  int can_send = can_write_now();
  pthread_mutex_lock(&mirrors_lock);
  for (mirror *m = mirrors; m; m = m->next) {
    if (!m->device_written || m->unsent) continue;
    int small = m->size <= AVEC_MIRROR_WRITE_MAX;
    if (!small && (!waits || __atomic_load_n(&warned, __ATOMIC_RELAXED))) continue;
    uint64_t h = content_hash((const void *)(uintptr_t)m->host, m->size);
    if (h == m->hash) continue;
    if (small && can_send && write_now(m->dptr, (const void *)(uintptr_t)m->host, m->size) == CUDA_SUCCESS) {
      m->hash = h;
      LOG_DEBUG("host memory %p+%llu changed while device work that uses it may run: written on the GPU node "
                "beside that work", (void *)(uintptr_t)m->host, (unsigned long long)m->size);
    } else if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED)) {
      LOG_WARN("host memory %p+%llu was written while device work that uses it may be running: the device does "
               "not see that write until its next launch or copy (%s; docs/semantics.md)",
               (void *)(uintptr_t)m->host, (unsigned long long)m->size,
               small ? "this server cannot take it sooner" : "only mirrors up to 64 KiB are written beside running work");
    }
  }
  pthread_mutex_unlock(&mirrors_lock);
}

/* A host function runs while the device waits for it (host-callbacks.c): what the device may have written
 * comes into host memory first, and what the function changed goes back before the device goes on. The
 * mirrors stay marked device-written: work after the function may write them again. `io` moves the bytes
 * (the callback connection: the session's connection may be blocked). */
void avec_mapped_callback_before(avec_mirror_io io, void *arg) {
  if (!__atomic_load_n(&any, __ATOMIC_ACQUIRE)) return;
  pthread_mutex_lock(&mirrors_lock);
  for (mirror *m = mirrors; m; m = m->next)
    if (m->device_written && !m->unsent && io(m->dptr, (void *)(uintptr_t)m->host, m->size, 0, arg) == 0)
      m->hash = content_hash((const void *)(uintptr_t)m->host, m->size);
  pthread_mutex_unlock(&mirrors_lock);
}

void avec_mapped_callback_after(avec_mirror_io io, void *arg) {
  if (!__atomic_load_n(&any, __ATOMIC_ACQUIRE)) return;
  pthread_mutex_lock(&mirrors_lock);
  for (mirror *m = mirrors; m; m = m->next) {
    if (m->unsent) continue; /* no device work has read it yet: the first one sends it */
    uint64_t h = content_hash((const void *)(uintptr_t)m->host, m->size);
    if (h != m->hash && io(m->dptr, (void *)(uintptr_t)m->host, m->size, 1, arg) == 0) m->hash = h;
  }
  pthread_mutex_unlock(&mirrors_lock);
}

void avec_mapped_release(uint64_t host) {
  if (!__atomic_load_n(&any, __ATOMIC_ACQUIRE)) return;
  pthread_mutex_lock(&mirrors_lock);
  mirror **pp = &mirrors, *m = NULL;
  while (*pp && (*pp)->host != host) pp = &(*pp)->next;
  if ((m = *pp)) *pp = m->next;
  pthread_mutex_unlock(&mirrors_lock);
  if (!m) return;
  if (m->owns_device) cuMemFree_v2(m->dptr);
  free(m);
}

AVEC_API CUresult cuMemHostGetDevicePointer_v2(CUdeviceptr *pdptr, void *p, unsigned int flags) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  if (!pdptr || flags) return CUDA_ERROR_INVALID_VALUE;
  uint64_t d = 0;
  if ((r = avec_mapped_device_ptr((uint64_t)(uintptr_t)p, &d))) return r;
  *pdptr = (CUdeviceptr)d;
  return CUDA_SUCCESS;
}
