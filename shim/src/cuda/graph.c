/* Stream capture and CUDA graphs on the remote GPU. Capture happens on the server's real stream: while a
 * stream captures, the work sent to it (launches, memsets, device copies, event records and waits) is
 * recorded by the server's driver, and a replay (cuGraphLaunch) is one fire-and-forget frame. Graphs,
 * nodes and executable graphs are ids the server hands out; the program sees them as CUgraph,
 * CUgraphNode and CUgraphExec values.
 * Host memory in graphs goes through device-side mirrors (graph-host.c); host nodes and host functions
 * captured with cuLaunchHostFunc run in this process, called back by the server in stream order through
 * the session's callback connection (host-callbacks.c). What cannot be honoured is refused
 * (CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED / CUDA_ERROR_NOT_SUPPORTED, logged once; docs/semantics.md).
 * While no capture is under way in this process, "is this stream capturing?" is answered here (NONE) so
 * frameworks that ask before every operation pay no round trip. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim_cuda.h"

/* cuda.h maps these names to their newest versions; the older versions are defined here too */
#undef cuGraphAddKernelNode
#undef cuGraphAddNode
#undef cuGraphAddDependencies
#undef cuGraphRemoveDependencies
#undef cuStreamBeginCapture
#undef cuStreamUpdateCaptureDependencies
#undef cuStreamGetCaptureInfo

#define MAX_ORIGINS 64
static pthread_mutex_t capture_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t origins[MAX_ORIGINS]; /* wire handles of streams that began a capture not yet ended */
static uint8_t origin_into[MAX_ORIGINS]; /* that capture goes into a graph of the program's (ToGraph) */
static int n_origins;
static int invalidated; /* work was refused inside a capture: its cuStreamEndCapture fails, as locally */
static __thread int thread_mode = CU_STREAM_CAPTURE_MODE_GLOBAL;
static int server_mode = CU_STREAM_CAPTURE_MODE_GLOBAL; /* the server thread's mode, as last set */

static int captures_active(void) { return __atomic_load_n(&n_origins, __ATOMIC_ACQUIRE) > 0; }

static CUresult refuse(const char *what, int *warned) { return (CUresult)avec_unsupported(what, warned); }

/* One request: avec_graph_req + node ids (+ their edge data) + body, sent fire-and-forget or answered
 * into `reply`. */
static CUresult request_edges(uint16_t op, avec_graph_req *g, const CUgraphNode *deps, const CUgraphEdgeData *edges,
                              size_t ndeps, const void *body, uint32_t body_len, void *reply, size_t cap, size_t *got) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  if (ndeps > AVEC_GRAPH_MAX_DEPS || body_len > AVEC_GRAPH_MAX_BODY || (ndeps && !deps)) return CUDA_ERROR_INVALID_VALUE;
  g->num_deps = (uint32_t)ndeps;
  g->body_len = body_len;
  g->flags = edges ? AVEC_GRAPH_F_EDGES : 0;
  size_t ids = ndeps * 8 * (edges ? 2 : 1), len = sizeof *g + ids + body_len;
  uint8_t stackbuf[1024], *buf = len <= sizeof stackbuf ? stackbuf : malloc(len);
  if (!buf) return CUDA_ERROR_OUT_OF_MEMORY;
  memcpy(buf, g, sizeof *g);
  for (size_t i = 0; i < ndeps; i++) {
    uint64_t id = (uint64_t)(uintptr_t)deps[i];
    memcpy(buf + sizeof *g + i * 8, &id, 8);
  }
  AVEC_STATIC_ASSERT(sizeof(CUgraphEdgeData) == 8, "edge data is 8 bytes on the wire");
  if (edges) memcpy(buf + sizeof *g + ndeps * 8, edges, ndeps * 8);
  if (body_len) memcpy(buf + sizeof *g + ids, body, body_len);
  if (!AVEC_OP_IS_SYNC(op)) {
    r = avec_post(op, 0, buf, len, NULL, 0);
  } else {
    avec_reply_hdr tmp;
    size_t n = 0;
    r = avec_result(avec_conn_call(&avec_sess.conn, op, 0, avec_ctx_wire(), buf, len, NULL, 0, reply ? reply : &tmp,
                                   reply ? cap : sizeof tmp, &n));
    if (got) *got = n;
  }
  if (buf != stackbuf) free(buf);
  return r;
}

static CUresult request(uint16_t op, avec_graph_req *g, const CUgraphNode *deps, size_t ndeps, const void *body,
                        uint32_t body_len, void *reply, size_t cap, size_t *got) {
  return request_edges(op, g, deps, NULL, ndeps, body, body_len, reply, cap, got);
}

/* A request answered by one u64 (an id, a type, a mode). */
static CUresult request_u64(uint16_t op, avec_graph_req *g, const CUgraphNode *deps, size_t ndeps, const void *body,
                            uint32_t body_len, uint64_t *out) {
  struct { avec_reply_hdr r; avec_u64 v; } rep = {{0, 0}, {0}};
  size_t got = 0;
  CUresult r = request(op, g, deps, ndeps, body, body_len, &rep, sizeof rep, &got);
  if (!r && got < sizeof rep) r = CUDA_ERROR_UNKNOWN;
  if (!r) *out = rep.v.value;
  return r;
}

static uint64_t id_of(const void *h) { return (uint64_t)(uintptr_t)h; }

/* ---- node parameters ----------------------------------------------------------------------------------- */
typedef struct {
  uint32_t type;
  uint32_t len;
  union {
    struct { avec_launch l; uint8_t params[AVEC_MAX_PARAM_BYTES]; } k;
    avec_memset m;
    avec_memcpy2d c;
    avec_u64 child;
    avec_handle ev;
    avec_graph_cond cond;
  } u;
} node_body;

static CUresult kernel_body(CUfunction func, CUkernel kern, const unsigned grid[3], const unsigned block[3],
                            unsigned smem, void **args, void **extra, node_body *b) {
  struct CUfunc_st *f = avec_func_from(func ? func : (CUfunction)kern);
  if (!f) return CUDA_ERROR_INVALID_VALUE;
  CUresult r = avec_func_refresh(f);
  if (r) return r;
  memset(&b->u.k.l, 0, sizeof b->u.k.l);
  b->u.k.l.func = f->handle;
  memcpy(b->u.k.l.grid, grid, sizeof b->u.k.l.grid);
  memcpy(b->u.k.l.block, block, sizeof b->u.k.l.block);
  b->u.k.l.shared_mem = smem;
  int n = avec_pack_params(f, args, extra, b->u.k.params, sizeof b->u.k.params);
  if (n < 0) return CUDA_ERROR_INVALID_VALUE;
  b->u.k.l.param_bytes = (uint32_t)n;
  b->type = CU_GRAPH_NODE_TYPE_KERNEL;
  b->len = (uint32_t)(sizeof b->u.k.l + (size_t)n);
  return CUDA_SUCCESS;
}

static CUresult kernel_v2(const CUDA_KERNEL_NODE_PARAMS *p, node_body *b) {
  if (!p) return CUDA_ERROR_INVALID_VALUE;
  unsigned grid[3] = {p->gridDimX, p->gridDimY, p->gridDimZ}, block[3] = {p->blockDimX, p->blockDimY, p->blockDimZ};
  return kernel_body(p->func, p->kern, grid, block, p->sharedMemBytes, p->kernelParams, p->extra, b);
}

static CUresult memset_body(const CUDA_MEMSET_NODE_PARAMS *p, node_body *b) {
  if (!p || (p->elementSize != 1 && p->elementSize != 2 && p->elementSize != 4) || !p->width || !p->height)
    return CUDA_ERROR_INVALID_VALUE;
  b->u.m = (avec_memset){p->dst, p->height > 1 ? p->pitch : 0, p->width, p->height, p->value,
                         (uint16_t)p->elementSize, 0, 0, 0};
  b->type = CU_GRAPH_NODE_TYPE_MEMSET;
  b->len = sizeof b->u.m;
  return CUDA_SUCCESS;
}

/* The pinned host side of the last memcpy body built on this thread (graph-host.c): the node that gets the
 * body notes it for its graph. */
static __thread struct { int set; uint64_t dptr, size; int writes; } host_side;

static __thread uint64_t last_alloc; /* the address of this thread's last allocation node */

/* One side of a memcpy node as a device address: device memory as is, host memory as its mirror. */
static int copy_side(CUmemorytype type, uint64_t dev, const void *host, uint64_t span, uint64_t *out, int *is_host) {
  *is_host = 0;
  if (type == CU_MEMORYTYPE_DEVICE || (type == CU_MEMORYTYPE_UNIFIED && avec_is_device_ptr(dev))) {
    *out = dev;
    return 0;
  }
  uint64_t h = type == CU_MEMORYTYPE_HOST ? (uint64_t)(uintptr_t)host : type == CU_MEMORYTYPE_UNIFIED ? dev : 0;
  *is_host = 1;
  return !h || avec_graph_host_mirror(h, span, out);
}

static CUresult memcpy_body(const CUDA_MEMCPY3D *p, node_body *b) {
  static int warned;
  host_side.set = 0;
  if (!p) return CUDA_ERROR_INVALID_VALUE;
  uint64_t spitch = p->srcPitch ? p->srcPitch : p->WidthInBytes, dpitch = p->dstPitch ? p->dstPitch : p->WidthInBytes;
  uint64_t height = p->Height ? p->Height : 1;
  const uint8_t *sh = (const uint8_t *)p->srcHost, *dh = (const uint8_t *)p->dstHost;
  uint64_t soff = p->srcY * spitch + p->srcXInBytes, doff = p->dstY * dpitch + p->dstXInBytes;
  uint64_t src = 0, dst = 0;
  int shost = 0, dhost = 0;
  if (p->Depth > 1 || p->srcMemoryType == CU_MEMORYTYPE_ARRAY || p->dstMemoryType == CU_MEMORYTYPE_ARRAY ||
      copy_side(p->srcMemoryType, p->srcDevice + soff, sh ? sh + soff : NULL, (height - 1) * spitch + p->WidthInBytes,
                &src, &shost) ||
      copy_side(p->dstMemoryType, p->dstDevice + doff, dh ? dh + doff : NULL, (height - 1) * dpitch + p->WidthInBytes,
                &dst, &dhost) ||
      (shost && dhost))
    return refuse("a graph memcpy node with an array side, depth, or host memory on both sides", &warned);
  b->u.c = (avec_memcpy2d){dst, dpitch, src, spitch, p->WidthInBytes, height, 0, 0};
  b->type = CU_GRAPH_NODE_TYPE_MEMCPY;
  b->len = sizeof b->u.c;
  if (shost || dhost) {
    host_side.set = 1;
    host_side.dptr = shost ? src : dst;
    host_side.size = (height - 1) * (shost ? spitch : dpitch) + p->WidthInBytes;
    host_side.writes = dhost;
  }
  return CUDA_SUCCESS;
}

/* The node just made (or changed) belongs to `owner`: so does the host side of its body, if any. */
static void note_host_side(uint64_t owner, CUresult r) {
  if (!r && host_side.set) avec_graph_host_note(owner, host_side.dptr, host_side.size, host_side.writes);
  host_side.set = 0;
}

static CUresult event_body(uint32_t type, CUevent e, node_body *b) {
  if (!avec_event_valid(e)) return CUDA_ERROR_INVALID_VALUE;
  b->u.ev = (avec_handle){e->handle, 0};
  b->type = type;
  b->len = sizeof b->u.ev;
  return CUDA_SUCCESS;
}

/* A memory-allocation node: device memory of this session's device, no shareable handles. */
static CUresult alloc_body(const CUmemPoolProps *pp, size_t bytes, node_body *b) {
  static int warned;
  if (!bytes) return CUDA_ERROR_INVALID_VALUE;
  if (pp->allocType != CU_MEM_ALLOCATION_TYPE_PINNED || pp->location.type != CU_MEM_LOCATION_TYPE_DEVICE ||
      avec_location_device(&pp->location) != 0 || pp->handleTypes != CU_MEM_HANDLE_TYPE_NONE)
    return refuse("a graph memory-allocation node other than device memory without shareable handles", &warned);
  b->type = CU_GRAPH_NODE_TYPE_MEM_ALLOC;
  b->u.child.value = bytes;
  b->len = sizeof b->u.child;
  return CUDA_SUCCESS;
}

/* An allocation node's address: device memory the program's work may name (memory.c says how long). */
static void track_graph_alloc(uint64_t dptr, uint64_t size) {
  CUcontext ctx = NULL;
  cuCtxGetCurrent(&ctx);
  avec_track_device(dptr, size, AVEC_RANGE_GRAPH, ctx, NULL);
}

static CUresult host_body(CUhostFn fn, void *data, node_body *b); /* host nodes, below */

/* The generic form (cuGraphAddNode, cuGraphNodeSetParams, cuGraphExecNodeSetParams). */
static CUresult generic_body(const CUgraphNodeParams *p, node_body *b) {
  static int warned;
  if (!p) return CUDA_ERROR_INVALID_VALUE;
  switch (p->type) {
    case CU_GRAPH_NODE_TYPE_KERNEL: {
      const CUDA_KERNEL_NODE_PARAMS_v3 *k = &p->kernel;
      unsigned grid[3] = {k->gridDimX, k->gridDimY, k->gridDimZ}, block[3] = {k->blockDimX, k->blockDimY, k->blockDimZ};
      return kernel_body(k->func, k->kern, grid, block, k->sharedMemBytes, k->kernelParams, k->extra, b);
    }
    case CU_GRAPH_NODE_TYPE_MEMSET: {
      CUDA_MEMSET_NODE_PARAMS m = {p->memset.dst, p->memset.pitch, p->memset.value, p->memset.elementSize,
                                   p->memset.width, p->memset.height};
      return memset_body(&m, b);
    }
    case CU_GRAPH_NODE_TYPE_MEMCPY: return memcpy_body(&p->memcpy.copyParams, b);
    case CU_GRAPH_NODE_TYPE_EMPTY: b->type = CU_GRAPH_NODE_TYPE_EMPTY; b->len = 0; return CUDA_SUCCESS;
    case CU_GRAPH_NODE_TYPE_GRAPH:
      b->type = CU_GRAPH_NODE_TYPE_GRAPH;
      b->u.child.value = id_of(p->graph.graph);
      b->len = sizeof b->u.child;
      return CUDA_SUCCESS;
    case CU_GRAPH_NODE_TYPE_MEM_ALLOC: return alloc_body(&p->alloc.poolProps, p->alloc.bytesize, b);
    case CU_GRAPH_NODE_TYPE_MEM_FREE:
      b->type = CU_GRAPH_NODE_TYPE_MEM_FREE;
      b->u.child.value = p->free.dptr;
      b->len = sizeof b->u.child;
      return CUDA_SUCCESS;
    case CU_GRAPH_NODE_TYPE_EVENT_RECORD: return event_body(CU_GRAPH_NODE_TYPE_EVENT_RECORD, p->eventRecord.event, b);
    case CU_GRAPH_NODE_TYPE_WAIT_EVENT: return event_body(CU_GRAPH_NODE_TYPE_WAIT_EVENT, p->eventWait.event, b);
    case CU_GRAPH_NODE_TYPE_HOST: return host_body(p->host.fn, p->host.userData, b);
    case CU_GRAPH_NODE_TYPE_CONDITIONAL: /* its body graphs come back when the node is added (add_node_edges) */
      if (p->conditional.size == 0 || p->conditional.size > AVEC_GRAPH_MAX_COND_BODIES) return CUDA_ERROR_INVALID_VALUE;
      b->u.cond = (avec_graph_cond){p->conditional.handle, (uint32_t)p->conditional.type, p->conditional.size};
      b->type = CU_GRAPH_NODE_TYPE_CONDITIONAL;
      b->len = sizeof b->u.cond;
      return CUDA_SUCCESS;
    default:
      return refuse("graph nodes other than kernel, memset, device memcpy, empty, child graph, event, allocation, host and conditional",
                    &warned);
  }
}

/* ---- conditional nodes' body graphs ------------------------------------------------------------------- */
/* phGraph_out is a CUDA-owned array, valid for the node's life: kept here per node, freed with the node or
 * its graph (and, recursively, with the graphs that hold them). */
typedef struct cond_bodies {
  uint64_t node, graph;
  CUgraph *graphs;
  uint32_t n;
  struct cond_bodies *next;
} cond_bodies;
static pthread_mutex_t bodies_lock = PTHREAD_MUTEX_INITIALIZER;
static cond_bodies *bodies;

static void bodies_forget_locked(uint64_t node, uint64_t graph) {
  for (cond_bodies **p = &bodies; *p;) {
    cond_bodies *e = *p;
    if ((node && e->node == node) || (graph && e->graph == graph)) {
      *p = e->next;
      for (uint32_t i = 0; i < e->n; i++) bodies_forget_locked(0, id_of(e->graphs[i]));
      free(e->graphs);
      free(e);
      p = &bodies; /* the list changed below us: start over */
    } else {
      p = &e->next;
    }
  }
}
static void bodies_forget(uint64_t node, uint64_t graph) {
  pthread_mutex_lock(&bodies_lock);
  bodies_forget_locked(node, graph);
  pthread_mutex_unlock(&bodies_lock);
}

/* The reply to adding a conditional node: its id, then the ids of the `size` body graphs. */
static CUresult take_bodies(CUgraphNodeParams *p, uint64_t graph, const uint64_t *ids, uint32_t size) {
  cond_bodies *e = calloc(1, sizeof *e);
  CUgraph *arr = calloc(size, sizeof *arr);
  if (!e || !arr) {
    free(e);
    free(arr);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  for (uint32_t i = 0; i < size; i++) arr[i] = (CUgraph)(uintptr_t)ids[1 + i];
  *e = (cond_bodies){ids[0], graph, arr, size, NULL};
  pthread_mutex_lock(&bodies_lock);
  e->next = bodies;
  bodies = e;
  pthread_mutex_unlock(&bodies_lock);
  p->conditional.phGraph_out = arr;
  return CUDA_SUCCESS;
}

/* `gp`: the program's generic parameters, for a conditional node's body graphs (NULL otherwise). */
static CUresult add_node_edges(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, const CUgraphEdgeData *edges,
                               size_t n, node_body *b, CUresult built, CUgraphNodeParams *gp) {
  if (built || !out || !g) {
    host_side.set = 0;
    return built ? built : CUDA_ERROR_INVALID_VALUE;
  }
  avec_graph_req q = {id_of(g), 0, b->type, 0, 0, 0, 0};
  uint32_t bodies_n = b->type == CU_GRAPH_NODE_TYPE_CONDITIONAL ? b->u.cond.size : 0;
  /* node id, then an allocation node's address or a conditional node's body graph ids */
  struct { avec_reply_hdr r; uint64_t ids[1 + AVEC_GRAPH_MAX_COND_BODIES]; } *rep = malloc(sizeof *rep);
  if (!rep) {
    host_side.set = 0;
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  size_t extra = b->type == CU_GRAPH_NODE_TYPE_MEM_ALLOC ? 1 : bodies_n;
  size_t got = 0, want = sizeof rep->r + 8 * (1 + extra);
  CUresult r = request_edges(AVEC_OP_GRAPH_ADD_NODE, &q, deps, edges, n, &b->u, b->len, rep, sizeof *rep, &got);
  if (!r && got < want) r = CUDA_ERROR_UNKNOWN;
  if (!r && bodies_n) r = gp ? take_bodies(gp, id_of(g), rep->ids, bodies_n) : CUDA_ERROR_INVALID_VALUE;
  if (!r) *out = (CUgraphNode)(uintptr_t)rep->ids[0];
  if (!r && b->type == CU_GRAPH_NODE_TYPE_MEM_ALLOC) {
    last_alloc = rep->ids[1];
    track_graph_alloc(rep->ids[1], b->u.child.value);
  }
  free(rep);
  if (!r && b->type == CU_GRAPH_NODE_TYPE_GRAPH) avec_graph_host_copy(b->u.child.value, id_of(g));
  note_host_side(id_of(g), r);
  return r;
}
static CUresult add_node(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, size_t n, node_body *b, CUresult built) {
  return add_node_edges(out, g, deps, NULL, n, b, built, NULL);
}

/* The node body is large (kernel parameters): one per thread instead of on the stack. */
static __thread node_body tls_body;

/* ---- graphs ------------------------------------------------------------------------------------------- */
AVEC_API CUresult cuGraphCreate(CUgraph *out, unsigned int flags) {
  if (!out) return CUDA_ERROR_INVALID_VALUE;
  avec_graph_req q = {0, 0, flags, 0, 0, 0, 0};
  uint64_t id = 0;
  CUresult r = request_u64(AVEC_OP_GRAPH_CREATE, &q, NULL, 0, NULL, 0, &id);
  if (!r) *out = (CUgraph)(uintptr_t)id;
  return r;
}

AVEC_API CUresult cuGraphDestroy(CUgraph g) {
  if (!g) return CUDA_ERROR_INVALID_VALUE;
  avec_graph_req q = {id_of(g), 0, 0, 0, 0, 0, 0};
  CUresult r = request(AVEC_OP_GRAPH_DESTROY, &q, NULL, 0, NULL, 0, NULL, 0, NULL);
  if (!r) avec_user_objects_release(id_of(g));
  if (!r) avec_graph_host_release(id_of(g));
  if (!r) bodies_forget(0, id_of(g));
  return r;
}

AVEC_API CUresult cuGraphClone(CUgraph *out, CUgraph g) {
  if (!out || !g) return CUDA_ERROR_INVALID_VALUE;
  avec_graph_req q = {id_of(g), 0, 0, 0, 0, 0, 0};
  uint64_t id = 0;
  CUresult r = request_u64(AVEC_OP_GRAPH_CLONE, &q, NULL, 0, NULL, 0, &id);
  if (!r) *out = (CUgraph)(uintptr_t)id;
  if (!r) avec_user_objects_copy(id_of(g), id);
  if (!r) avec_graph_host_copy(id_of(g), id);
  return r;
}

AVEC_API CUresult cuGraphAddKernelNode_v2(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, size_t n,
                                         const CUDA_KERNEL_NODE_PARAMS *p) {
  return add_node(out, g, deps, n, &tls_body, kernel_v2(p, &tls_body));
}
AVEC_API CUresult cuGraphAddKernelNode(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, size_t n,
                                      const CUDA_KERNEL_NODE_PARAMS_v1 *p) {
  if (!p) return CUDA_ERROR_INVALID_VALUE;
  unsigned grid[3] = {p->gridDimX, p->gridDimY, p->gridDimZ}, block[3] = {p->blockDimX, p->blockDimY, p->blockDimZ};
  return add_node(out, g, deps, n, &tls_body,
                  kernel_body(p->func, NULL, grid, block, p->sharedMemBytes, p->kernelParams, p->extra, &tls_body));
}
AVEC_API CUresult cuGraphAddMemsetNode(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, size_t n,
                                      const CUDA_MEMSET_NODE_PARAMS *p, CUcontext ctx) {
  return add_node(out, g, deps, n, &tls_body, memset_body(p, &tls_body));
}
AVEC_API CUresult cuGraphAddMemcpyNode(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, size_t n,
                                      const CUDA_MEMCPY3D *p, CUcontext ctx) {
  return add_node(out, g, deps, n, &tls_body, memcpy_body(p, &tls_body));
}
AVEC_API CUresult cuGraphAddEmptyNode(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, size_t n) {
  tls_body.type = CU_GRAPH_NODE_TYPE_EMPTY;
  tls_body.len = 0;
  return add_node(out, g, deps, n, &tls_body, CUDA_SUCCESS);
}
AVEC_API CUresult cuGraphAddChildGraphNode(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, size_t n, CUgraph child) {
  if (!child) return CUDA_ERROR_INVALID_VALUE;
  tls_body.type = CU_GRAPH_NODE_TYPE_GRAPH;
  tls_body.u.child.value = id_of(child);
  tls_body.len = sizeof tls_body.u.child;
  return add_node(out, g, deps, n, &tls_body, CUDA_SUCCESS);
}
AVEC_API CUresult cuGraphAddEventRecordNode(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, size_t n, CUevent e) {
  return add_node(out, g, deps, n, &tls_body, event_body(CU_GRAPH_NODE_TYPE_EVENT_RECORD, e, &tls_body));
}
AVEC_API CUresult cuGraphAddEventWaitNode(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, size_t n, CUevent e) {
  return add_node(out, g, deps, n, &tls_body, event_body(CU_GRAPH_NODE_TYPE_WAIT_EVENT, e, &tls_body));
}
AVEC_API CUresult cuGraphAddNode(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, size_t n, CUgraphNodeParams *p) {
  CUresult r = add_node_edges(out, g, deps, NULL, n, &tls_body, generic_body(p, &tls_body), p);
  if (!r && p->type == CU_GRAPH_NODE_TYPE_MEM_ALLOC) p->alloc.dptr = last_alloc;
  return r;
}
AVEC_API CUresult cuGraphAddNode_v2(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, const CUgraphEdgeData *edges,
                                   size_t n, CUgraphNodeParams *p) {
  CUresult r = add_node_edges(out, g, deps, edges, n, &tls_body, generic_body(p, &tls_body), p);
  if (!r && p->type == CU_GRAPH_NODE_TYPE_MEM_ALLOC) p->alloc.dptr = last_alloc;
  return r;
}

/* The handle is the server driver's value: kernels receive it as a parameter and set the condition. */
AVEC_API CUresult cuGraphConditionalHandleCreate(CUgraphConditionalHandle *out, CUgraph g, CUcontext ctx,
                                                unsigned int default_value, unsigned int flags) {
  if (!out || !g) return CUDA_ERROR_INVALID_VALUE;
  avec_graph_req q = {id_of(g), flags, default_value, 0, 0, 0, 0};
  uint64_t h = 0;
  CUresult r = request_u64(AVEC_OP_GRAPH_COND_HANDLE_CREATE, &q, NULL, 0, NULL, 0, &h);
  if (!r) *out = (CUgraphConditionalHandle)h;
  return r;
}

static CUresult set_node(CUgraphNode node, node_body *b, CUresult built) {
  static int warned;
  int host = host_side.set;
  host_side.set = 0;
  if (built) return built;
  if (!node) return CUDA_ERROR_INVALID_VALUE;
  if (host) return refuse("changing a graph node to copy host memory (set it when adding the node)", &warned);
  avec_graph_req q = {0, id_of(node), b->type, 0, 0, 0, 0};
  return request(AVEC_OP_GRAPH_NODE_SET_PARAMS, &q, NULL, 0, &b->u, b->len, NULL, 0, NULL);
}
AVEC_API CUresult cuGraphKernelNodeSetParams_v2(CUgraphNode node, const CUDA_KERNEL_NODE_PARAMS *p) {
  return set_node(node, &tls_body, kernel_v2(p, &tls_body));
}
AVEC_API CUresult cuGraphMemsetNodeSetParams(CUgraphNode node, const CUDA_MEMSET_NODE_PARAMS *p) {
  return set_node(node, &tls_body, memset_body(p, &tls_body));
}
AVEC_API CUresult cuGraphMemcpyNodeSetParams(CUgraphNode node, const CUDA_MEMCPY3D *p) {
  return set_node(node, &tls_body, memcpy_body(p, &tls_body));
}
AVEC_API CUresult cuGraphEventRecordNodeSetEvent(CUgraphNode node, CUevent e) {
  return set_node(node, &tls_body, event_body(CU_GRAPH_NODE_TYPE_EVENT_RECORD, e, &tls_body));
}
AVEC_API CUresult cuGraphEventWaitNodeSetEvent(CUgraphNode node, CUevent e) {
  return set_node(node, &tls_body, event_body(CU_GRAPH_NODE_TYPE_WAIT_EVENT, e, &tls_body));
}
AVEC_API CUresult cuGraphNodeSetParams(CUgraphNode node, CUgraphNodeParams *p) {
  return set_node(node, &tls_body, generic_body(p, &tls_body));
}

AVEC_API CUresult cuGraphNodeGetType(CUgraphNode node, CUgraphNodeType *type) {
  if (!node || !type) return CUDA_ERROR_INVALID_VALUE;
  avec_graph_req q = {0, id_of(node), 0, 0, 0, 0, 0};
  uint64_t t = 0;
  CUresult r = request_u64(AVEC_OP_GRAPH_NODE_GET_TYPE, &q, NULL, 0, NULL, 0, &t);
  if (!r) *type = (CUgraphNodeType)t;
  return r;
}

AVEC_API CUresult cuGraphDestroyNode(CUgraphNode node) {
  if (!node) return CUDA_ERROR_INVALID_VALUE;
  avec_graph_req q = {0, id_of(node), 0, 0, 0, 0, 0};
  CUresult r = request(AVEC_OP_GRAPH_DESTROY_NODE, &q, NULL, 0, NULL, 0, NULL, 0, NULL);
  if (!r) bodies_forget(id_of(node), 0);
  return r;
}

/* Node lists: the reply is a count and then the ids (the count may exceed what `nodes` can hold). */
static CUresult get_nodes(CUgraph g, CUgraphNode *nodes, size_t *num, int roots) {
  if (!g || !num) return CUDA_ERROR_INVALID_VALUE;
  size_t cap = sizeof(avec_reply_hdr) + 8 * ((size_t)AVEC_GRAPH_MAX_NODES_REPLY + 1);
  uint8_t *rep = malloc(cap);
  if (!rep) return CUDA_ERROR_OUT_OF_MEMORY;
  avec_graph_req q = {id_of(g), 0, (uint64_t)roots, 0, 0, 0, 0};
  size_t got = 0;
  CUresult r = request(AVEC_OP_GRAPH_GET_NODES, &q, NULL, 0, NULL, 0, rep, cap, &got);
  uint64_t count = 0;
  if (!r && got >= sizeof(avec_reply_hdr) + 8) memcpy(&count, rep + sizeof(avec_reply_hdr), 8);
  else if (!r) r = CUDA_ERROR_UNKNOWN;
  if (!r && got < sizeof(avec_reply_hdr) + 8 * (count + 1)) r = CUDA_ERROR_UNKNOWN;
  if (!r && nodes) {
    for (size_t i = 0; i < *num && i < count; i++) {
      uint64_t id;
      memcpy(&id, rep + sizeof(avec_reply_hdr) + 8 * (i + 1), 8);
      nodes[i] = (CUgraphNode)(uintptr_t)id;
    }
    if (*num > count) *num = (size_t)count;
  } else if (!r) {
    *num = (size_t)count;
  }
  free(rep);
  return r;
}
AVEC_API CUresult cuGraphGetNodes(CUgraph g, CUgraphNode *nodes, size_t *n) { return get_nodes(g, nodes, n, 0); }
AVEC_API CUresult cuGraphGetRootNodes(CUgraph g, CUgraphNode *nodes, size_t *n) { return get_nodes(g, nodes, n, 1); }

/* The ids go as from[n] then to[n]; edge data (when given) for the first n, zeros for the rest. */
static CUresult edges(CUgraph g, const CUgraphNode *from, const CUgraphNode *to, const CUgraphEdgeData *data, size_t n,
                      int remove) {
  if (!g || (n && (!from || !to)) || n > AVEC_GRAPH_MAX_DEPS / 2) return CUDA_ERROR_INVALID_VALUE;
  CUgraphNode *both = malloc((2 * n + 1) * sizeof *both);
  CUgraphEdgeData *ed = data ? calloc(2 * n + 1, sizeof *ed) : NULL;
  if (!both || (data && !ed)) {
    free(both);
    free(ed);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  memcpy(both, from, n * sizeof *both);
  memcpy(both + n, to, n * sizeof *both);
  if (ed) memcpy(ed, data, n * sizeof *ed);
  avec_graph_req q = {id_of(g), 0, (uint64_t)remove, 0, 0, 0, 0};
  CUresult r = request_edges(AVEC_OP_GRAPH_EDGES, &q, both, ed, 2 * n, NULL, 0, NULL, 0, NULL);
  free(both);
  free(ed);
  return r;
}
AVEC_API CUresult cuGraphAddDependencies_v2(CUgraph g, const CUgraphNode *from, const CUgraphNode *to,
                                           const CUgraphEdgeData *d, size_t n) {
  return edges(g, from, to, d, n, 0);
}
AVEC_API CUresult cuGraphRemoveDependencies_v2(CUgraph g, const CUgraphNode *from, const CUgraphNode *to,
                                              const CUgraphEdgeData *d, size_t n) {
  return edges(g, from, to, d, n, 1);
}
AVEC_API CUresult cuGraphAddDependencies(CUgraph g, const CUgraphNode *from, const CUgraphNode *to, size_t n) {
  return edges(g, from, to, NULL, n, 0);
}
AVEC_API CUresult cuGraphRemoveDependencies(CUgraph g, const CUgraphNode *from, const CUgraphNode *to, size_t n) {
  return edges(g, from, to, NULL, n, 1);
}

/* The DOT text is made by the server's driver and written here, where the program looks for it. */
AVEC_API CUresult cuGraphDebugDotPrint(CUgraph g, const char *path, unsigned int flags) {
  if (!g || !path) return CUDA_ERROR_INVALID_VALUE;
  size_t cap = sizeof(avec_reply_hdr) + (4u << 20);
  uint8_t *rep = malloc(cap);
  if (!rep) return CUDA_ERROR_OUT_OF_MEMORY;
  avec_graph_req q = {id_of(g), 0, flags, 0, 0, 0, 0};
  size_t got = 0;
  CUresult r = request(AVEC_OP_GRAPH_DEBUG_DOT, &q, NULL, 0, NULL, 0, rep, cap, &got);
  if (!r) {
    FILE *f = fopen(path, "wb");
    size_t n = got > sizeof(avec_reply_hdr) ? got - sizeof(avec_reply_hdr) : 0;
    if (!f || fwrite(rep + sizeof(avec_reply_hdr), 1, n, f) != n) r = CUDA_ERROR_OPERATING_SYSTEM;
    if (f && fclose(f)) r = CUDA_ERROR_OPERATING_SYSTEM;
  }
  free(rep);
  return r;
}

/* ---- executable graphs --------------------------------------------------------------------------------- */
static CUresult instantiate(CUgraphExec *out, CUgraph g, uint64_t flags, CUstream upload, int ptsz) {
  if (!out || !g) return CUDA_ERROR_INVALID_VALUE;
  avec_graph_req q = {id_of(g), 0, flags, 0, 0, 0, 0};
  if ((flags & CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD) && avec_stream_wire(upload, ptsz, &q.stream))
    return CUDA_ERROR_INVALID_HANDLE;
  uint64_t id = 0;
  CUresult r = request_u64(AVEC_OP_GRAPH_INSTANTIATE, &q, NULL, 0, NULL, 0, &id);
  if (!r) *out = (CUgraphExec)(uintptr_t)id;
  if (!r) avec_user_objects_copy(id_of(g), id);
  if (!r) avec_graph_host_copy(id_of(g), id);
  return r;
}
AVEC_API CUresult cuGraphInstantiateWithFlags(CUgraphExec *out, CUgraph g, unsigned long long flags) {
  return instantiate(out, g, flags, NULL, 0);
}
static CUresult instantiate_params(CUgraphExec *out, CUgraph g, CUDA_GRAPH_INSTANTIATE_PARAMS *p, int ptsz) {
  if (!p) return CUDA_ERROR_INVALID_VALUE;
  CUresult r = instantiate(out, g, p->flags, p->hUploadStream, ptsz);
  p->result_out = r ? CUDA_GRAPH_INSTANTIATE_ERROR : CUDA_GRAPH_INSTANTIATE_SUCCESS;
  p->hErrNode_out = NULL;
  return r;
}
AVEC_API CUresult cuGraphInstantiateWithParams(CUgraphExec *out, CUgraph g, CUDA_GRAPH_INSTANTIATE_PARAMS *p) {
  return instantiate_params(out, g, p, 0);
}
AVEC_API CUresult cuGraphInstantiateWithParams_ptsz(CUgraphExec *out, CUgraph g, CUDA_GRAPH_INSTANTIATE_PARAMS *p) {
  return instantiate_params(out, g, p, 1);
}

static CUresult exec_on_stream(uint16_t op, CUgraphExec e, CUstream s, int ptsz) {
  if (!e) return CUDA_ERROR_INVALID_VALUE;
  avec_graph_req q = {id_of(e), 0, 0, 0, 0, 0, 0};
  if (avec_stream_wire(s, ptsz, &q.stream)) return CUDA_ERROR_INVALID_HANDLE;
  if (op == AVEC_OP_GRAPH_LAUNCH) {
    avec_graph_host_launch(id_of(e)); /* pinned host memory it reads or writes */
    avec_mapped_launch(NULL, 0);      /* __managed__ variables its kernels may name */
  }
  return request(op, &q, NULL, 0, NULL, 0, NULL, 0, NULL);
}
AVEC_API CUresult cuGraphLaunch(CUgraphExec e, CUstream s) { return exec_on_stream(AVEC_OP_GRAPH_LAUNCH, e, s, 0); }
AVEC_API CUresult cuGraphLaunch_ptsz(CUgraphExec e, CUstream s) { return exec_on_stream(AVEC_OP_GRAPH_LAUNCH, e, s, 1); }
AVEC_API CUresult cuGraphUpload(CUgraphExec e, CUstream s) { return exec_on_stream(AVEC_OP_GRAPH_UPLOAD, e, s, 0); }
AVEC_API CUresult cuGraphUpload_ptsz(CUgraphExec e, CUstream s) { return exec_on_stream(AVEC_OP_GRAPH_UPLOAD, e, s, 1); }

AVEC_API CUresult cuGraphExecDestroy(CUgraphExec e) {
  if (!e) return CUDA_ERROR_INVALID_VALUE;
  avec_graph_req q = {id_of(e), 0, 0, 0, 0, 0, 0};
  CUresult r = request(AVEC_OP_GRAPH_EXEC_DESTROY, &q, NULL, 0, NULL, 0, NULL, 0, NULL);
  if (!r) avec_user_objects_release(id_of(e));
  if (!r) avec_graph_host_release(id_of(e));
  return r;
}

AVEC_API CUresult cuGraphExecUpdate_v2(CUgraphExec e, CUgraph g, CUgraphExecUpdateResultInfo *info) {
  if (!e || !g || !info) return CUDA_ERROR_INVALID_VALUE;
  avec_graph_req q = {id_of(e), id_of(g), 0, 0, 0, 0, 0};
  avec_graph_update_reply rep = {{0, 0}, 0, 0, 0, 0};
  size_t got = 0;
  CUresult r = request(AVEC_OP_GRAPH_EXEC_UPDATE, &q, NULL, 0, NULL, 0, &rep, sizeof rep, &got);
  if (!r) avec_graph_host_copy(id_of(g), id_of(e)); /* host memory the new version uses (kept: never fewer) */
  if (got == sizeof rep) { /* the result details come back with a failure too */
    info->result = (CUgraphExecUpdateResult)rep.result;
    info->errorNode = (CUgraphNode)(uintptr_t)rep.error_node;
    info->errorFromNode = (CUgraphNode)(uintptr_t)rep.error_from;
  }
  return r;
}

static CUresult exec_set(CUgraphExec e, CUgraphNode node, node_body *b, CUresult built) {
  if (built || !e || !node) {
    host_side.set = 0;
    return built ? built : CUDA_ERROR_INVALID_VALUE;
  }
  avec_graph_req q = {id_of(e), id_of(node), b->type, 0, 0, 0, 0};
  CUresult r = request(AVEC_OP_GRAPH_EXEC_SET_PARAMS, &q, NULL, 0, &b->u, b->len, NULL, 0, NULL);
  note_host_side(id_of(e), r);
  return r;
}
AVEC_API CUresult cuGraphExecKernelNodeSetParams_v2(CUgraphExec e, CUgraphNode n, const CUDA_KERNEL_NODE_PARAMS *p) {
  return exec_set(e, n, &tls_body, kernel_v2(p, &tls_body));
}
AVEC_API CUresult cuGraphExecMemsetNodeSetParams(CUgraphExec e, CUgraphNode n, const CUDA_MEMSET_NODE_PARAMS *p,
                                                CUcontext ctx) {
  return exec_set(e, n, &tls_body, memset_body(p, &tls_body));
}
AVEC_API CUresult cuGraphExecMemcpyNodeSetParams(CUgraphExec e, CUgraphNode n, const CUDA_MEMCPY3D *p, CUcontext ctx) {
  return exec_set(e, n, &tls_body, memcpy_body(p, &tls_body));
}
AVEC_API CUresult cuGraphExecChildGraphNodeSetParams(CUgraphExec e, CUgraphNode n, CUgraph child) {
  if (!child) return CUDA_ERROR_INVALID_VALUE;
  tls_body.type = CU_GRAPH_NODE_TYPE_GRAPH;
  tls_body.u.child.value = id_of(child);
  tls_body.len = sizeof tls_body.u.child;
  return exec_set(e, n, &tls_body, CUDA_SUCCESS);
}
AVEC_API CUresult cuGraphExecEventRecordNodeSetEvent(CUgraphExec e, CUgraphNode n, CUevent ev) {
  return exec_set(e, n, &tls_body, event_body(CU_GRAPH_NODE_TYPE_EVENT_RECORD, ev, &tls_body));
}
AVEC_API CUresult cuGraphExecEventWaitNodeSetEvent(CUgraphExec e, CUgraphNode n, CUevent ev) {
  return exec_set(e, n, &tls_body, event_body(CU_GRAPH_NODE_TYPE_WAIT_EVENT, ev, &tls_body));
}
AVEC_API CUresult cuGraphExecNodeSetParams(CUgraphExec e, CUgraphNode n, CUgraphNodeParams *p) {
  return exec_set(e, n, &tls_body, generic_body(p, &tls_body));
}
AVEC_API CUresult cuGraphNodeSetEnabled(CUgraphExec e, CUgraphNode n, unsigned int on) {
  if (!e || !n) return CUDA_ERROR_INVALID_VALUE;
  avec_graph_req q = {id_of(e), id_of(n), on ? 1u : 0u, 0, 0, 0, 0};
  return request(AVEC_OP_GRAPH_NODE_ENABLE, &q, NULL, 0, NULL, 0, NULL, 0, NULL);
}

/* ---- memory-allocation nodes ------------------------------------------------------------------------------ */
AVEC_API CUresult cuGraphAddMemAllocNode(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, size_t n,
                                        CUDA_MEM_ALLOC_NODE_PARAMS *p) {
  if (!p) return CUDA_ERROR_INVALID_VALUE;
  CUresult r = add_node(out, g, deps, n, &tls_body, alloc_body(&p->poolProps, p->bytesize, &tls_body));
  if (!r) p->dptr = last_alloc;
  return r;
}
AVEC_API CUresult cuGraphAddMemFreeNode(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, size_t n, CUdeviceptr d) {
  tls_body.type = CU_GRAPH_NODE_TYPE_MEM_FREE;
  tls_body.u.child.value = d;
  tls_body.len = sizeof tls_body.u.child;
  return add_node(out, g, deps, n, &tls_body, CUDA_SUCCESS);
}

/* ---- host nodes: the program's function, run here through the session's callback channel -------------- */
/* The server sees an opaque id (host-callbacks.c keeps what it stands for). */
static CUresult host_body(CUhostFn fn, void *data, node_body *b) {
  if (!fn) return CUDA_ERROR_INVALID_VALUE;
  CUresult r = avec_callbacks_ready();
  if (r) return r;
  b->u.child.value = avec_hostfn_id(fn, data);
  if (!b->u.child.value) return CUDA_ERROR_OUT_OF_MEMORY;
  b->type = CU_GRAPH_NODE_TYPE_HOST;
  b->len = sizeof b->u.child;
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuGraphAddHostNode(CUgraphNode *out, CUgraph g, const CUgraphNode *deps, size_t n,
                                    const CUDA_HOST_NODE_PARAMS *p) {
  return add_node(out, g, deps, n, &tls_body, p ? host_body(p->fn, p->userData, &tls_body) : CUDA_ERROR_INVALID_VALUE);
}
AVEC_API CUresult cuGraphHostNodeSetParams(CUgraphNode node, const CUDA_HOST_NODE_PARAMS *p) {
  return set_node(node, &tls_body, p ? host_body(p->fn, p->userData, &tls_body) : CUDA_ERROR_INVALID_VALUE);
}
AVEC_API CUresult cuGraphExecHostNodeSetParams(CUgraphExec e, CUgraphNode node, const CUDA_HOST_NODE_PARAMS *p) {
  return exec_set(e, node, &tls_body, p ? host_body(p->fn, p->userData, &tls_body) : CUDA_ERROR_INVALID_VALUE);
}
/* The server knows which id a node holds (clones and captured nodes included); this process knows the rest. */
AVEC_API CUresult cuGraphHostNodeGetParams(CUgraphNode node, CUDA_HOST_NODE_PARAMS *p) {
  if (!node || !p) return CUDA_ERROR_INVALID_VALUE;
  avec_graph_req q = {0, id_of(node), 1, 0, 0, 0, 0};
  struct { avec_reply_hdr r; uint64_t type, id; } rep = {{0, 0}, 0, 0};
  size_t got = 0;
  CUresult r = request(AVEC_OP_GRAPH_NODE_GET_TYPE, &q, NULL, 0, NULL, 0, &rep, sizeof rep, &got);
  if (!r && got < sizeof rep) r = CUDA_ERROR_UNKNOWN;
  if (!r && (rep.type != CU_GRAPH_NODE_TYPE_HOST || avec_hostfn_lookup(rep.id, &p->fn, &p->userData)))
    r = CUDA_ERROR_INVALID_VALUE;
  return r;
}

/* ---- stream capture ------------------------------------------------------------------------------------ */
static int is_origin_locked(uint32_t h) {
  for (int i = 0; i < n_origins; i++)
    if (origins[i] == h) return i;
  return -1;
}

static CUresult begin_capture(CUstream s, CUstreamCaptureMode mode, int ptsz, CUgraph into, const CUgraphNode *deps,
                              const CUgraphEdgeData *edges, size_t ndeps) {
  avec_graph_req q = {id_of(into), 0, (uint64_t)mode, 0, 0, 0, 0};
  if (avec_stream_wire(s, ptsz, &q.stream)) return CUDA_ERROR_INVALID_HANDLE;
  if (q.stream == AVEC_STREAM_LEGACY) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  if (!into && ndeps) return CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_lock(&capture_lock);
  CUresult r = CUDA_SUCCESS;
  if (n_origins >= MAX_ORIGINS) r = CUDA_ERROR_OUT_OF_MEMORY;
  uint64_t old = 0;
  if (!r && thread_mode != server_mode) { /* the capture's thread rules are the caller's */
    avec_graph_req m = {0, 0, (uint64_t)thread_mode, 0, 0, 0, 0};
    if (!(r = request_u64(AVEC_OP_CAPTURE_MODE, &m, NULL, 0, NULL, 0, &old))) server_mode = thread_mode;
  }
  if (!r) r = request_edges(AVEC_OP_STREAM_BEGIN_CAPTURE, &q, deps, edges, ndeps, NULL, 0, NULL, 0, NULL);
  if (!r) {
    origins[n_origins] = q.stream;
    origin_into[n_origins] = into != NULL;
    __atomic_store_n(&n_origins, n_origins + 1, __ATOMIC_RELEASE);
  }
  pthread_mutex_unlock(&capture_lock);
  if (!r) LOG_DEBUG("capture begins on stream %u (mode %d%s)", q.stream, (int)mode, into ? ", into a graph" : "");
  return r;
}
AVEC_API CUresult cuStreamBeginCapture_v2(CUstream s, CUstreamCaptureMode mode) {
  return begin_capture(s, mode, 0, NULL, NULL, NULL, 0);
}
AVEC_API CUresult cuStreamBeginCapture_v2_ptsz(CUstream s, CUstreamCaptureMode mode) {
  return begin_capture(s, mode, 1, NULL, NULL, NULL, 0);
}
AVEC_API CUresult cuStreamBeginCapture(CUstream s) {
  return begin_capture(s, CU_STREAM_CAPTURE_MODE_GLOBAL, 0, NULL, NULL, NULL, 0);
}
AVEC_API CUresult cuStreamBeginCapture_ptsz(CUstream s) {
  return begin_capture(s, CU_STREAM_CAPTURE_MODE_GLOBAL, 1, NULL, NULL, NULL, 0);
}

/* `out` may be NULL for a capture into a graph of the program's (cuStreamBeginCaptureToGraph: the graph is
 * known already, as graphConditionalNodes relies on); a capture that made its own graph needs it. */
static CUresult end_capture(CUstream s, CUgraph *out, int ptsz) {
  avec_graph_req q = {0, 0, 0, 0, 0, 0, 0};
  if (avec_stream_wire(s, ptsz, &q.stream)) return CUDA_ERROR_INVALID_HANDLE;
  if (!out) {
    pthread_mutex_lock(&capture_lock);
    int at = is_origin_locked(q.stream);
    int into = at >= 0 && origin_into[at];
    pthread_mutex_unlock(&capture_lock);
    if (!into) return CUDA_ERROR_INVALID_VALUE;
  }
  uint64_t id = 0;
  CUresult r = request_u64(AVEC_OP_STREAM_END_CAPTURE, &q, NULL, 0, NULL, 0, &id);
  pthread_mutex_lock(&capture_lock);
  int at = is_origin_locked(q.stream);
  if (!r && at >= 0 && invalidated) {
    avec_graph_req d = {id, 0, 0, 0, 0, 0, 0};
    request(AVEC_OP_GRAPH_DESTROY, &d, NULL, 0, NULL, 0, NULL, 0, NULL);
    r = CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
  }
  /* a capture ends at its origin's cuStreamEndCapture, whether the graph came out or it was invalidated */
  if (at >= 0 && r != CUDA_ERROR_STREAM_CAPTURE_UNMATCHED) {
    origins[at] = origins[n_origins - 1];
    origin_into[at] = origin_into[n_origins - 1];
    __atomic_store_n(&n_origins, n_origins - 1, __ATOMIC_RELEASE);
    if (!n_origins) invalidated = 0;
  }
  pthread_mutex_unlock(&capture_lock);
  if (out) *out = r ? NULL : (CUgraph)(uintptr_t)id;
  if (at >= 0) avec_graph_host_adopt(r ? 0 : id); /* host copies recorded by the capture */
  LOG_DEBUG("capture ends on stream %u: %d", q.stream, (int)r);
  return r;
}
AVEC_API CUresult cuStreamEndCapture(CUstream s, CUgraph *g) { return end_capture(s, g, 0); }
AVEC_API CUresult cuStreamEndCapture_ptsz(CUstream s, CUgraph *g) { return end_capture(s, g, 1); }

AVEC_API CUresult cuStreamBeginCaptureToGraph(CUstream s, CUgraph g, const CUgraphNode *d, const CUgraphEdgeData *e,
                                             size_t n, CUstreamCaptureMode mode) {
  if (!g) return CUDA_ERROR_INVALID_VALUE;
  return begin_capture(s, mode, 0, g, d, e, n);
}
AVEC_API CUresult cuStreamBeginCaptureToGraph_ptsz(CUstream s, CUgraph g, const CUgraphNode *d,
                                                  const CUgraphEdgeData *e, size_t n, CUstreamCaptureMode mode) {
  if (!g) return CUDA_ERROR_INVALID_VALUE;
  return begin_capture(s, mode, 1, g, d, e, n);
}

/* The capture state of a stream; the dependency ids stay valid until the next call on this thread. */
static __thread uint64_t dep_ids[AVEC_GRAPH_MAX_DEPS];
static __thread CUgraphNode dep_nodes[AVEC_GRAPH_MAX_DEPS];
static CUresult capture_info(CUstream s, int ptsz, CUstreamCaptureStatus *st, cuuint64_t *id, CUgraph *g,
                             const CUgraphNode **deps, const CUgraphEdgeData **edges, size_t *n) {
  avec_graph_req q = {0, 0, 0, 0, 0, 0, 0};
  if (!st) return CUDA_ERROR_INVALID_VALUE;
  if (avec_stream_wire(s, ptsz, &q.stream)) return CUDA_ERROR_INVALID_HANDLE;
  if (edges) *edges = NULL; /* default edges only */
  if (!captures_active()) {
    *st = CU_STREAM_CAPTURE_STATUS_NONE;
    if (id) *id = 0;
    if (g) *g = NULL;
    if (deps) *deps = NULL;
    if (n) *n = 0;
    return CUDA_SUCCESS;
  }
  struct {
    avec_capture_info ci;
    uint64_t ids[AVEC_GRAPH_MAX_DEPS];
  } *rep = malloc(sizeof *rep);
  if (!rep) return CUDA_ERROR_OUT_OF_MEMORY;
  size_t got = 0;
  CUresult r = request(AVEC_OP_STREAM_CAPTURE_INFO, &q, NULL, 0, NULL, 0, rep, sizeof *rep, &got);
  if (!r && (got < sizeof rep->ci || rep->ci.num_deps > AVEC_GRAPH_MAX_DEPS ||
             got < sizeof rep->ci + 8 * (size_t)rep->ci.num_deps))
    r = CUDA_ERROR_UNKNOWN;
  if (!r) {
    *st = (CUstreamCaptureStatus)rep->ci.status;
    if (id) *id = rep->ci.id;
    if (g) *g = (CUgraph)(uintptr_t)rep->ci.graph;
    for (uint32_t i = 0; i < rep->ci.num_deps; i++) {
      dep_ids[i] = rep->ids[i];
      dep_nodes[i] = (CUgraphNode)(uintptr_t)dep_ids[i];
    }
    if (deps) *deps = rep->ci.num_deps ? dep_nodes : NULL;
    if (n) *n = rep->ci.num_deps;
  }
  free(rep);
  return r;
}

#define PAIR(name, ptname, proto, body0, body1) \
  AVEC_API CUresult name proto { return body0; } \
  AVEC_API CUresult ptname proto { return body1; }
PAIR(cuStreamIsCapturing, cuStreamIsCapturing_ptsz, (CUstream s, CUstreamCaptureStatus *st),
     capture_info(s, 0, st, NULL, NULL, NULL, NULL, NULL), capture_info(s, 1, st, NULL, NULL, NULL, NULL, NULL))
PAIR(cuStreamGetCaptureInfo, cuStreamGetCaptureInfo_ptsz, (CUstream s, CUstreamCaptureStatus *st, cuuint64_t *id),
     capture_info(s, 0, st, id, NULL, NULL, NULL, NULL), capture_info(s, 1, st, id, NULL, NULL, NULL, NULL))
PAIR(cuStreamGetCaptureInfo_v2, cuStreamGetCaptureInfo_v2_ptsz,
     (CUstream s, CUstreamCaptureStatus *st, cuuint64_t *id, CUgraph *g, const CUgraphNode **d, size_t *n),
     capture_info(s, 0, st, id, g, d, NULL, n), capture_info(s, 1, st, id, g, d, NULL, n))
PAIR(cuStreamGetCaptureInfo_v3, cuStreamGetCaptureInfo_v3_ptsz,
     (CUstream s, CUstreamCaptureStatus *st, cuuint64_t *id, CUgraph *g, const CUgraphNode **d,
      const CUgraphEdgeData **e, size_t *n),
     capture_info(s, 0, st, id, g, d, e, n), capture_info(s, 1, st, id, g, d, e, n))

static CUresult update_deps(CUstream s, int ptsz, CUgraphNode *deps, const CUgraphEdgeData *data, size_t n,
                            unsigned flags) {
  static int warned;
  avec_graph_req q = {0, 0, flags, 0, 0, 0, 0};
  if (avec_stream_wire(s, ptsz, &q.stream)) return CUDA_ERROR_INVALID_HANDLE;
  for (size_t i = 0; data && i < n; i++)
    if (data[i].type != CU_GRAPH_DEPENDENCY_TYPE_DEFAULT || data[i].from_port || data[i].to_port)
      return refuse("capture dependencies with ports or programmatic dependency types", &warned);
  return request(AVEC_OP_STREAM_UPDATE_CAPTURE_DEPS, &q, deps, n, NULL, 0, NULL, 0, NULL);
}
PAIR(cuStreamUpdateCaptureDependencies, cuStreamUpdateCaptureDependencies_ptsz,
     (CUstream s, CUgraphNode *d, size_t n, unsigned flags), update_deps(s, 0, d, NULL, n, flags),
     update_deps(s, 1, d, NULL, n, flags))
PAIR(cuStreamUpdateCaptureDependencies_v2, cuStreamUpdateCaptureDependencies_v2_ptsz,
     (CUstream s, CUgraphNode *d, const CUgraphEdgeData *e, size_t n, unsigned flags),
     update_deps(s, 0, d, e, n, flags), update_deps(s, 1, d, e, n, flags))

/* The mode is per thread; the server's thread takes the caller's mode while a capture is under way. */
AVEC_API CUresult cuThreadExchangeStreamCaptureMode(CUstreamCaptureMode *mode) {
  if (!mode || (unsigned)*mode > CU_STREAM_CAPTURE_MODE_RELAXED) return CUDA_ERROR_INVALID_VALUE;
  int want = (int)*mode;
  *mode = (CUstreamCaptureMode)thread_mode;
  thread_mode = want;
  if (!captures_active()) return CUDA_SUCCESS;
  pthread_mutex_lock(&capture_lock);
  CUresult r = CUDA_SUCCESS;
  if (want != server_mode) {
    avec_graph_req q = {0, 0, (uint64_t)want, 0, 0, 0, 0};
    uint64_t old = 0;
    if (!(r = request_u64(AVEC_OP_CAPTURE_MODE, &q, NULL, 0, NULL, 0, &old))) server_mode = want;
  }
  pthread_mutex_unlock(&capture_lock);
  return r;
}

/* For stream.c: whether host work on `s` would have to enter a capture (then it is refused). */
int avec_stream_capturing(CUstream s, int ptsz) {
  CUstreamCaptureStatus st = CU_STREAM_CAPTURE_STATUS_NONE;
  if (!captures_active()) return 0;
  return capture_info(s, ptsz, &st, NULL, NULL, NULL, NULL, NULL) == CUDA_SUCCESS && st != CU_STREAM_CAPTURE_STATUS_NONE;
}

/* For memory.c: an async copy between this process's memory and a capturing stream. Pinned memory is
 * recorded as a device copy from or to its mirror (graph-host.c: the graph sends or fetches the host bytes
 * at each launch); *handled says the copy was taken care of. Pageable memory cannot be reached at replay:
 * refused (logged once), and the capture is invalidated as the driver would. */
CUresult avec_capture_host_copy(CUstream s, int ptsz, uint64_t dev, const void *host, size_t n, int to_host,
                                int *handled) {
  static int warned;
  *handled = 0;
  if (!avec_stream_capturing(s, ptsz)) return CUDA_SUCCESS;
  *handled = 1;
  uint64_t mirror = 0;
  if (!avec_graph_host_mirror((uint64_t)(uintptr_t)host, n, &mirror)) {
    CUresult r = avec_dtod_untracked(to_host ? mirror : dev, to_host ? dev : mirror, n, s, ptsz);
    if (!r) avec_graph_host_note(0, mirror, n, to_host);
    return r;
  }
  pthread_mutex_lock(&capture_lock);
  invalidated = 1;
  pthread_mutex_unlock(&capture_lock);
  avec_unsupported("a copy between host memory and a capturing stream (no device memory for its mirror)", &warned);
  return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
}
