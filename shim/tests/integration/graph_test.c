/* CUDA graphs and stream capture through the shim against a real executor (emulated backend: the data
 * movement of graphs runs, kernels do not; every check reads device memory back with copies).
 *   graph_test main */
#include <cuda.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../test.h"

#define OK(call) CHECK_EQ((call), CUDA_SUCCESS)
enum { N = 4096 };

static int all_bytes(CUdeviceptr d, size_t n, uint8_t v) {
  static uint8_t buf[N];
  if (cuMemcpyDtoH(buf, d, n) != CUDA_SUCCESS) return 0;
  for (size_t i = 0; i < n; i++)
    if (buf[i] != v) return 0;
  return 1;
}

static void test_explicit(void) {
  CASE("explicit graph: memset -> copy, instantiate, launch, replay with new parameters");
  CUdeviceptr a = 0, b = 0, c = 0;
  OK(cuMemAlloc(&a, N));
  OK(cuMemAlloc(&b, N));
  OK(cuMemAlloc(&c, N));
  OK(cuMemsetD8(b, 0, N));
  CUgraph g = NULL;
  OK(cuGraphCreate(&g, 0));
  CHECK(g != NULL);
  CUDA_MEMSET_NODE_PARAMS ms = {a, 0, 0x11, 1, N, 1};
  CUgraphNode set = NULL, copy = NULL;
  OK(cuGraphAddMemsetNode(&set, g, NULL, 0, &ms, NULL));
  CUDA_MEMCPY3D cp = {0};
  cp.srcMemoryType = CU_MEMORYTYPE_DEVICE;
  cp.srcDevice = a;
  cp.dstMemoryType = CU_MEMORYTYPE_DEVICE;
  cp.dstDevice = b;
  cp.WidthInBytes = N;
  cp.Height = 1;
  cp.Depth = 1;
  OK(cuGraphAddMemcpyNode(&copy, g, &set, 1, &cp, NULL));
  CUgraphNodeType type = CU_GRAPH_NODE_TYPE_EMPTY;
  OK(cuGraphNodeGetType(copy, &type));
  CHECK_EQ(type, CU_GRAPH_NODE_TYPE_MEMCPY);
  size_t count = 0;
  OK(cuGraphGetNodes(g, NULL, &count));
  CHECK_EQ(count, 2u);
  CUgraphNode roots[4] = {0};
  count = 4;
  OK(cuGraphGetRootNodes(g, roots, &count));
  CHECK(count == 1 && roots[0] == set);
  CHECK(all_bytes(b, N, 0)); /* building runs nothing */
  CUgraphExec e = NULL;
  OK(cuGraphInstantiateWithFlags(&e, g, 0));
  OK(cuGraphLaunch(e, NULL));
  OK(cuCtxSynchronize());
  CHECK(all_bytes(b, N, 0x11));
  ms.value = 0x22;
  OK(cuGraphExecMemsetNodeSetParams(e, set, &ms, NULL));
  OK(cuGraphLaunch(e, NULL));
  CHECK(all_bytes(b, N, 0x22));
  OK(cuGraphNodeSetEnabled(e, set, 0)); /* the copy alone: b gets a's bytes again */
  OK(cuMemsetD8(a, 0x44, N));
  OK(cuGraphLaunch(e, NULL));
  CHECK(all_bytes(b, N, 0x44));
  OK(cuGraphNodeSetEnabled(e, set, 1));

  CASE("child graphs, clone, update, DOT output");
  CUgraph outer = NULL, clone = NULL;
  OK(cuGraphCreate(&outer, 0));
  CUgraphNode child = NULL, last = NULL;
  OK(cuGraphAddChildGraphNode(&child, outer, NULL, 0, g));
  CUDA_MEMCPY3D cp2 = cp;
  cp2.srcDevice = b;
  cp2.dstDevice = c;
  OK(cuGraphAddMemcpyNode(&last, outer, &child, 1, &cp2, NULL));
  OK(cuGraphClone(&clone, outer));
  CUgraphExec oe = NULL;
  ms.value = 0x33;
  OK(cuGraphMemsetNodeSetParams(set, &ms)); /* after the child was added: the child keeps its own copy */
  OK(cuGraphInstantiateWithFlags(&oe, clone, 0));
  OK(cuGraphLaunch(oe, NULL));
  CHECK(all_bytes(c, N, 0x11)); /* the exec-level change (0x22) is not the graph's */
  CUgraphExecUpdateResultInfo info;
  memset(&info, 0, sizeof info);
  OK(cuGraphExecUpdate(e, g, &info)); /* same shape, new memset value */
  CHECK_EQ(info.result, CU_GRAPH_EXEC_UPDATE_SUCCESS);
  OK(cuGraphLaunch(e, NULL));
  CHECK(all_bytes(b, N, 0x33));
  CUgraph other = NULL;
  CUgraphNode lone = NULL;
  OK(cuGraphCreate(&other, 0));
  OK(cuGraphAddEmptyNode(&lone, other, NULL, 0));
  CHECK_EQ(cuGraphExecUpdate(e, other, &info), CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE);
  CHECK_EQ(info.result, CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED);
  char path[] = "/tmp/avec-graph-test-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  close(fd);
  OK(cuGraphDebugDotPrint(outer, path, 0));
  char text[256] = {0};
  FILE *f = fopen(path, "r");
  CHECK(f && fread(text, 1, sizeof text - 1, f) > 0);
  if (f) fclose(f);
  unlink(path);
  CHECK(strstr(text, "digraph") != NULL);

  CASE("graph errors: unknown ids, nodes of another graph, host-to-host memcpy nodes, ranges outside memory");
  CUgraphNode bad = NULL;
  CHECK_EQ(cuGraphAddEmptyNode(&bad, (CUgraph)(uintptr_t)0x7777777, NULL, 0), CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(cuGraphAddEmptyNode(&bad, other, &set, 1), CUDA_ERROR_INVALID_VALUE); /* a node of another graph */
  static uint8_t host[N], host2[N];
  CUDA_MEMCPY3D hp = cp;
  hp.srcMemoryType = CU_MEMORYTYPE_HOST;
  hp.srcHost = host;
  hp.dstMemoryType = CU_MEMORYTYPE_HOST;
  hp.dstHost = host2;
  CHECK_EQ(cuGraphAddMemcpyNode(&bad, g, NULL, 0, &hp, NULL), CUDA_ERROR_NOT_SUPPORTED);
  CUDA_MEMSET_NODE_PARAMS outside = {a + N, 0, 1, 1, N, 1}; /* past the allocation */
  CHECK_EQ(cuGraphAddMemsetNode(&bad, g, NULL, 0, &outside, NULL), CUDA_ERROR_INVALID_VALUE);
  OK(cuGraphLaunch((CUgraphExec)(uintptr_t)0x7777777, NULL)); /* fire-and-forget: the error comes next */
  CHECK_EQ(cuCtxSynchronize(), CUDA_ERROR_INVALID_VALUE);
  OK(cuCtxSynchronize());

  OK(cuGraphExecDestroy(oe));
  OK(cuGraphExecDestroy(e));
  OK(cuGraphDestroy(clone));
  OK(cuGraphDestroy(outer));
  OK(cuGraphDestroy(other));
  OK(cuGraphDestroy(g));
  OK(cuCtxSynchronize());
  CHECK_EQ(cuGraphNodeGetType(set, &type), CUDA_ERROR_INVALID_VALUE); /* gone with its graph */
  OK(cuMemFree(a));
  OK(cuMemFree(b));
  OK(cuMemFree(c));
}

static void test_alloc_nodes(void) {
  CASE("memory-allocation nodes: an address at once, usable by later nodes, given back by the graph's free");
  CUgraph g = NULL;
  OK(cuGraphCreate(&g, 0));
  CUDA_MEM_ALLOC_NODE_PARAMS ap;
  memset(&ap, 0, sizeof ap);
  ap.poolProps.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
  ap.poolProps.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  ap.poolProps.location.id = 0;
  ap.bytesize = N;
  CUgraphNode alloc = NULL, set = NULL, copy = NULL, free_node = NULL;
  OK(cuGraphAddMemAllocNode(&alloc, g, NULL, 0, &ap));
  CHECK(ap.dptr != 0);
  CUDA_MEMSET_NODE_PARAMS ms = {ap.dptr, 0, 0x5d, 1, N, 1};
  OK(cuGraphAddMemsetNode(&set, g, &alloc, 1, &ms, NULL));
  CUdeviceptr out = 0;
  OK(cuMemAlloc(&out, N));
  CUDA_MEMCPY3D cp = {0};
  cp.srcMemoryType = CU_MEMORYTYPE_DEVICE;
  cp.srcDevice = ap.dptr;
  cp.dstMemoryType = CU_MEMORYTYPE_DEVICE;
  cp.dstDevice = out;
  cp.WidthInBytes = N;
  cp.Height = 1;
  cp.Depth = 1;
  OK(cuGraphAddMemcpyNode(&copy, g, &set, 1, &cp, NULL));
  OK(cuGraphAddMemFreeNode(&free_node, g, &copy, 1, ap.dptr));
  size_t before = 0, after = 0, total = 0;
  OK(cuMemGetInfo(&before, &total));
  CUgraphExec e = NULL;
  OK(cuGraphInstantiateWithFlags(&e, g, 0));
  OK(cuGraphLaunch(e, NULL));
  CHECK(all_bytes(out, N, 0x5d));
  CUgraph other = NULL;
  CUgraphNode bad = NULL;
  OK(cuGraphCreate(&other, 0));
  ap.poolProps.handleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
  CHECK_EQ(cuGraphAddMemAllocNode(&bad, other, NULL, 0, &ap), CUDA_ERROR_NOT_SUPPORTED);
  OK(cuGraphExecDestroy(e));
  OK(cuGraphDestroy(g));
  OK(cuGraphDestroy(other));
  OK(cuCtxSynchronize());
  OK(cuMemGetInfo(&after, &total));
  CHECK(after >= before); /* the graph's memory is back */
  OK(cuMemFree(out));
}

static cuuint64_t graph_mem(CUgraphMem_attribute a) {
  cuuint64_t v = ~0ull;
  CHECK_EQ(cuDeviceGetGraphMemAttribute(0, a, &v), CUDA_SUCCESS);
  return v;
}

static void alloc_params(CUDA_MEM_ALLOC_NODE_PARAMS *ap, size_t bytes) {
  memset(ap, 0, sizeof *ap);
  ap->poolProps.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
  ap->poolProps.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  ap->bytesize = bytes;
}

/* graphMemoryFootprint: an allocation after the free of another in the same graph may take its address;
 * the device's graph memory is read, reset and trimmed through the server. */
static void test_graph_memory_reuse(void) {
  CASE("graph memory: address reuse after a free node, footprint attributes, trim");
  CUgraph g = NULL;
  OK(cuGraphCreate(&g, 0));
  CUDA_MEM_ALLOC_NODE_PARAMS ap;
  alloc_params(&ap, N);
  CUgraphNode a = NULL, fa = NULL, b = NULL, fb = NULL;
  OK(cuGraphAddMemAllocNode(&a, g, NULL, 0, &ap));
  CUdeviceptr da = ap.dptr;
  OK(cuGraphAddMemFreeNode(&fa, g, &a, 1, da));
  OK(cuGraphAddMemAllocNode(&b, g, &fa, 1, &ap));
  CUdeviceptr db = ap.dptr;
  CHECK(da != 0 && da == db); /* the free before it gave the address back */
  CUdeviceptr base = 0;
  size_t size = 0;
  OK(cuMemGetAddressRange(&base, &size, db));
  CHECK(base == db && size == N);
  OK(cuGraphAddMemFreeNode(&fb, g, &b, 1, db));
  CUgraphExec e = NULL;
  OK(cuGraphInstantiateWithFlags(&e, g, 0));
  OK(cuGraphDestroy(g)); /* the executable graph keeps its allocation nodes */
  OK(cuDeviceGraphMemTrim(0));
  CHECK_EQ(graph_mem(CU_GRAPH_MEM_ATTR_USED_MEM_CURRENT), 0); /* nothing launched: nothing backed */
  OK(cuGraphLaunch(e, NULL));
  OK(cuStreamSynchronize(NULL));
  CHECK_EQ(graph_mem(CU_GRAPH_MEM_ATTR_USED_MEM_CURRENT), N); /* one address, backed once */
  CHECK(graph_mem(CU_GRAPH_MEM_ATTR_RESERVED_MEM_HIGH) >= N);
  cuuint64_t zero = 0, one = 1;
  CHECK_EQ(cuDeviceSetGraphMemAttribute(0, CU_GRAPH_MEM_ATTR_USED_MEM_CURRENT, &zero), CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(cuDeviceSetGraphMemAttribute(0, CU_GRAPH_MEM_ATTR_USED_MEM_HIGH, &one), CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(cuDeviceGetGraphMemAttribute(0, (CUgraphMem_attribute)9, &one), CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(cuDeviceGetGraphMemAttribute(7, CU_GRAPH_MEM_ATTR_USED_MEM_HIGH, &one), CUDA_ERROR_INVALID_DEVICE);
  OK(cuGraphExecDestroy(e));
  OK(cuDeviceGraphMemTrim(0));
  OK(cuDeviceSetGraphMemAttribute(0, CU_GRAPH_MEM_ATTR_USED_MEM_HIGH, &zero));
  CHECK_EQ(graph_mem(CU_GRAPH_MEM_ATTR_USED_MEM_CURRENT), 0);
  CHECK_EQ(graph_mem(CU_GRAPH_MEM_ATTR_USED_MEM_HIGH), 0); /* reset to the current amount */
}

/* graphMemoryFootprint / graphMemoryNodes: a graph that does not free its allocation leaves it to the
 * program after a launch, past the graph's own destruction; cuMemFree gives it back. */
static void test_graph_memory_unfreed(void) {
  CASE("graph memory: an allocation a launch leaves live outlives its graph until cuMemFree");
  CUgraph g = NULL;
  OK(cuGraphCreate(&g, 0));
  CUDA_MEM_ALLOC_NODE_PARAMS ap;
  alloc_params(&ap, N);
  CUgraphNode a = NULL, set = NULL;
  OK(cuGraphAddMemAllocNode(&a, g, NULL, 0, &ap));
  CUdeviceptr d = ap.dptr;
  CUDA_MEMSET_NODE_PARAMS ms = {d, 0, 0x3c, 1, N, 1};
  OK(cuGraphAddMemsetNode(&set, g, &a, 1, &ms, NULL));
  CUgraphExec e = NULL;
  OK(cuGraphInstantiateWithFlags(&e, g, 0));
  OK(cuGraphDestroy(g));
  OK(cuGraphLaunch(e, NULL));
  CHECK(all_bytes(d, N, 0x3c)); /* the program reads it: still known device memory here */
  OK(cuDeviceGraphMemTrim(0));
  CHECK_EQ(graph_mem(CU_GRAPH_MEM_ATTR_USED_MEM_CURRENT), N); /* still allocated: trimming keeps it */
  OK(cuMemFree(d));
  OK(cuDeviceGraphMemTrim(0));
  CHECK_EQ(graph_mem(CU_GRAPH_MEM_ATTR_USED_MEM_CURRENT), 0);
  OK(cuGraphExecDestroy(e));
  CUdeviceptr plain = 0; /* a later allocation may take the address the graph gave back */
  OK(cuMemAlloc(&plain, N));
  CHECK(all_bytes(plain, N, 0));
  OK(cuMemFree(plain));
}

/* graphMemoryNodes, stream-captured: cuMemAllocAsync / cuMemFreeAsync on a capturing stream become
 * allocation and free nodes of the captured graph; nothing the server does for them may invalidate a
 * global-mode capture (pool attribute reads would). */
static void test_capture_alloc(void) {
  CASE("capture: cuMemAllocAsync / cuMemFreeAsync in a global capture become graph memory nodes");
  CUstream s = NULL;
  OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  CUdeviceptr out = 0, warm = 0;
  OK(cuMemAlloc(&out, N));
  OK(cuMemsetD8(out, 0, N));
  OK(cuMemAllocAsync(&warm, N, s)); /* the pool has been used before the capture */
  OK(cuMemFreeAsync(warm, s));
  OK(cuStreamSynchronize(s));
  OK(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
  CUdeviceptr a = 0, b = 0, c = 0;
  OK(cuMemAllocAsync(&a, N, s));
  OK(cuMemAllocAsync(&b, N, s));
  CHECK(a != 0 && b != 0 && a != b);
  OK(cuMemsetD8Async(a, 0x21, N, s));
  OK(cuMemcpyDtoDAsync(b, a, N, s));
  OK(cuMemFreeAsync(a, s));
  OK(cuMemAllocAsync(&c, N, s)); /* may take a's address: a was freed before it */
  OK(cuMemcpyDtoDAsync(c, b, N, s));
  OK(cuMemcpyDtoDAsync(out, c, N, s));
  OK(cuMemFreeAsync(b, s));
  OK(cuMemFreeAsync(c, s));
  CUgraph g = NULL;
  OK(cuStreamEndCapture(s, &g));
  CHECK(g != NULL);
  CUgraphExec e = NULL;
  OK(cuGraphInstantiateWithFlags(&e, g, 0));
  OK(cuGraphDestroy(g));
  CHECK(all_bytes(out, N, 0)); /* capturing ran nothing */
  OK(cuGraphLaunch(e, s));
  OK(cuStreamSynchronize(s));
  CHECK(all_bytes(out, N, 0x21));
  OK(cuGraphExecDestroy(e));
  OK(cuStreamDestroy(s));
  OK(cuMemFree(out));
}

/* graphConditionalNodes (simpleDoWhileGraph, capturedWhileGraph): a WHILE node's body is filled by capturing
 * into it, ended with cuStreamEndCapture(stream, NULL) (the graph is the program's already); a conditional
 * node joins an ongoing capture through cuStreamGetCaptureInfo + cuStreamUpdateCaptureDependencies. */
static void test_conditional_capture(void) {
  CASE("conditional WHILE node: capture into its body ended with a NULL graph; a node added to a capture");
  CUdeviceptr d = 0;
  OK(cuMemAlloc(&d, N));
  CUgraph g = NULL;
  OK(cuGraphCreate(&g, 0));
  CUgraphConditionalHandle h = 0;
  OK(cuGraphConditionalHandleCreate(&h, g, NULL, 1, CU_GRAPH_COND_ASSIGN_DEFAULT));
  CUgraphNodeParams cp;
  memset(&cp, 0, sizeof cp);
  cp.type = CU_GRAPH_NODE_TYPE_CONDITIONAL;
  cp.conditional.handle = h;
  cp.conditional.type = CU_GRAPH_COND_TYPE_WHILE;
  cp.conditional.size = 1;
  CUgraphNode cond = NULL;
  OK(cuGraphAddNode(&cond, g, NULL, NULL, 0, &cp));
  CUgraph body = cp.conditional.phGraph_out[0];
  CUstream s = NULL;
  OK(cuStreamCreate(&s, 0));
  OK(cuStreamBeginCaptureToGraph(s, body, NULL, NULL, 0, CU_STREAM_CAPTURE_MODE_GLOBAL));
  OK(cuMemsetD8Async(d, 7, N, s));
  OK(cuMemsetD8Async(d, 8, N, s));
  OK(cuStreamEndCapture(s, NULL));
  size_t n = 0;
  OK(cuGraphGetNodes(body, NULL, &n));
  CHECK_EQ(n, 2u);
  CUgraphExec e = NULL;
  OK(cuGraphInstantiateWithFlags(&e, g, 0));
  OK(cuGraphExecDestroy(e));
  OK(cuGraphDestroy(g));

  /* a capture that made its own graph still needs somewhere to put it */
  OK(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
  CHECK_EQ(cuStreamEndCapture(s, NULL), CUDA_ERROR_INVALID_VALUE);
  CUstreamCaptureStatus st = CU_STREAM_CAPTURE_STATUS_NONE;
  OK(cuStreamIsCapturing(s, &st));
  CHECK_EQ(st, CU_STREAM_CAPTURE_STATUS_ACTIVE); /* refused before anything ended */
  CUgraph captured = NULL;
  const CUgraphNode *deps = NULL;
  size_t ndeps = 0;
  OK(cuStreamGetCaptureInfo(s, &st, NULL, &captured, &deps, NULL, &ndeps));
  CHECK(captured != NULL && ndeps == 0);
  OK(cuGraphConditionalHandleCreate(&h, captured, NULL, 0, 0));
  OK(cuMemsetD8Async(d, 1, N, s));
  OK(cuStreamGetCaptureInfo(s, &st, NULL, &captured, &deps, NULL, &ndeps));
  CHECK_EQ(ndeps, 1u);
  memset(&cp, 0, sizeof cp);
  cp.type = CU_GRAPH_NODE_TYPE_CONDITIONAL;
  cp.conditional.handle = h;
  cp.conditional.type = CU_GRAPH_COND_TYPE_WHILE;
  cp.conditional.size = 1;
  OK(cuGraphAddNode(&cond, captured, deps, NULL, ndeps, &cp));
  body = cp.conditional.phGraph_out[0];
  OK(cuStreamUpdateCaptureDependencies(s, &cond, NULL, 1, CU_STREAM_SET_CAPTURE_DEPENDENCIES));
  OK(cuMemsetD8Async(d, 2, N, s));
  CUgraph out = NULL;
  OK(cuStreamEndCapture(s, &out));
  CHECK(out == captured);
  OK(cuGraphGetNodes(out, NULL, &n));
  CHECK_EQ(n, 3u);
  OK(cuStreamBeginCaptureToGraph(s, body, NULL, NULL, 0, CU_STREAM_CAPTURE_MODE_GLOBAL));
  OK(cuMemsetD8Async(d, 3, N, s));
  OK(cuStreamEndCapture(s, NULL));
  OK(cuGraphInstantiateWithFlags(&e, out, 0));
  OK(cuGraphExecDestroy(e));
  OK(cuGraphDestroy(out));
  OK(cuStreamDestroy(s));
  OK(cuMemFree(d));
}

static int destroyed;
static void on_destroy(void *p) { destroyed += *(int *)p; }

static void test_user_objects_and_edges(void) {
  CASE("user objects live as long as the graphs and executable graphs that hold them");
  static int weight = 1;
  CUuserObject o = NULL;
  OK(cuUserObjectCreate(&o, &weight, on_destroy, 1, CU_USER_OBJECT_NO_DESTRUCTOR_SYNC));
  CUgraph g = NULL;
  OK(cuGraphCreate(&g, 0));
  OK(cuGraphRetainUserObject(g, o, 1, CU_GRAPH_USER_OBJECT_MOVE)); /* the graph now owns the only reference */
  CUgraphNode n1 = NULL, n2 = NULL;
  OK(cuGraphAddEmptyNode(&n1, g, NULL, 0));
  CUgraphNodeParams np;
  memset(&np, 0, sizeof np);
  np.type = CU_GRAPH_NODE_TYPE_EMPTY;
  CUgraphEdgeData ed;
  memset(&ed, 0, sizeof ed);
  ed.type = CU_GRAPH_DEPENDENCY_TYPE_DEFAULT;
  OK(cuGraphAddNode_v2(&n2, g, &n1, &ed, 1, &np)); /* typed edges travel with the node */
  size_t count = 0;
  OK(cuGraphGetRootNodes(g, NULL, &count));
  CHECK_EQ(count, 1u);
  CUgraphExec e = NULL;
  OK(cuGraphInstantiateWithFlags(&e, g, 0));
  OK(cuGraphDestroy(g));
  CHECK_EQ(destroyed, 0); /* the executable graph still holds it */
  OK(cuGraphExecDestroy(e));
  CHECK_EQ(destroyed, 1);
  CHECK_EQ(cuUserObjectCreate(&o, &weight, on_destroy, 1, 0), CUDA_ERROR_INVALID_VALUE);
}

static CUgraphNodeParams cond_params(CUgraphConditionalHandle h, CUgraphConditionalNodeType type, unsigned size) {
  CUgraphNodeParams p;
  memset(&p, 0, sizeof p);
  p.type = CU_GRAPH_NODE_TYPE_CONDITIONAL;
  p.conditional.handle = h;
  p.conditional.type = type;
  p.conditional.size = size;
  CUcontext c = NULL;
  cuCtxGetCurrent(&c);
  p.conditional.ctx = c;
  return p;
}

static void test_conditional(void) {
  CASE("conditional nodes: the handle is the server's, body graphs come back and take nodes");
  CUdeviceptr a = 0;
  OK(cuMemAlloc(&a, N));
  CUcontext ctx = NULL;
  OK(cuCtxGetCurrent(&ctx));
  CUgraph g = NULL, other = NULL;
  OK(cuGraphCreate(&g, 0));
  OK(cuGraphCreate(&other, 0));
  CUgraphConditionalHandle h = 0, h_other = 0;
  OK(cuGraphConditionalHandleCreate(&h, g, ctx, 1, CU_GRAPH_COND_ASSIGN_DEFAULT));
  CHECK(h != 0);
  OK(cuGraphConditionalHandleCreate(&h_other, other, ctx, 0, 0));
  CHECK(h_other != h);
  CUgraphNodeParams p = cond_params(h, CU_GRAPH_COND_TYPE_IF, 2); /* if / else */
  CUgraphNode cond = NULL, first = NULL;
  OK(cuGraphAddEmptyNode(&first, g, NULL, 0));
  OK(cuGraphAddNode_v2(&cond, g, &first, NULL, 1, &p));
  CHECK(cond != NULL && p.conditional.phGraph_out != NULL);
  CUgraph body0 = p.conditional.phGraph_out ? p.conditional.phGraph_out[0] : NULL;
  CUgraph body1 = p.conditional.phGraph_out ? p.conditional.phGraph_out[1] : NULL;
  CHECK(body0 != NULL && body1 != NULL && body0 != body1);
  CUgraphNodeType type = CU_GRAPH_NODE_TYPE_EMPTY;
  OK(cuGraphNodeGetType(cond, &type));
  CHECK_EQ(type, CU_GRAPH_NODE_TYPE_CONDITIONAL);
  CUDA_MEMSET_NODE_PARAMS ms = {a, 0, 0x42, 1, N, 1};
  CUgraphNode in_body = NULL;
  OK(cuGraphAddMemsetNode(&in_body, body0, NULL, 0, &ms, NULL));
  size_t count = 0;
  OK(cuGraphGetNodes(body0, NULL, &count));
  CHECK_EQ(count, 1u);
  OK(cuGraphGetNodes(body1, NULL, &count));
  CHECK_EQ(count, 0u);
  CUgraphConditionalHandle inner_h = 0; /* a while loop nested in the body, with a handle of its own graph */
  OK(cuGraphConditionalHandleCreate(&inner_h, body0, ctx, 0, 0));
  CUgraphNodeParams inner = cond_params(inner_h, CU_GRAPH_COND_TYPE_WHILE, 1);
  CUgraphNode inner_node = NULL;
  OK(cuGraphAddNode_v2(&inner_node, body0, &in_body, NULL, 1, &inner));
  CHECK(inner.conditional.phGraph_out != NULL);
  CUgraphNode switch_node = NULL;
  CUgraphNodeParams sw = cond_params(h, CU_GRAPH_COND_TYPE_SWITCH, 5);
  OK(cuGraphAddNode_v2(&switch_node, g, NULL, NULL, 0, &sw));
  OK(cuGraphGetNodes(g, NULL, &count));
  CHECK_EQ(count, 3u);

  CASE("conditional errors: foreign or unknown handles, sizes; body graphs are not destroyed on their own");
  CUgraphNode bad = NULL;
  CUgraphNodeParams q = cond_params(h_other, CU_GRAPH_COND_TYPE_IF, 1); /* made for another graph */
  CHECK_EQ(cuGraphAddNode_v2(&bad, g, NULL, NULL, 0, &q), CUDA_ERROR_INVALID_VALUE);
  q = cond_params(0x7777777, CU_GRAPH_COND_TYPE_IF, 1);
  CHECK_EQ(cuGraphAddNode_v2(&bad, g, NULL, NULL, 0, &q), CUDA_ERROR_INVALID_VALUE);
  q = cond_params(h, CU_GRAPH_COND_TYPE_IF, 0);
  CHECK_EQ(cuGraphAddNode_v2(&bad, g, NULL, NULL, 0, &q), CUDA_ERROR_INVALID_VALUE);
  q = cond_params(h, CU_GRAPH_COND_TYPE_WHILE, 2);
  CHECK_EQ(cuGraphAddNode_v2(&bad, g, NULL, NULL, 0, &q), CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(cuGraphConditionalHandleCreate(&h_other, (CUgraph)(uintptr_t)0x7777777, ctx, 0, 0), CUDA_ERROR_INVALID_VALUE);
  OK(cuGraphDestroy(body1)); /* fire-and-forget: refused at the next synchronous call */
  CHECK_EQ(cuCtxSynchronize(), CUDA_ERROR_INVALID_VALUE);

  CASE("a graph with a conditional node instantiates; the emulated device refuses to launch it (no kernels set conditions)");
  CUgraphExec e = NULL;
  OK(cuGraphInstantiateWithFlags(&e, g, 0));
  OK(cuGraphLaunch(e, NULL));
  CHECK_EQ(cuCtxSynchronize(), CUDA_ERROR_NOT_SUPPORTED);
  OK(cuGraphExecDestroy(e));
  OK(cuGraphDestroyNode(switch_node));
  OK(cuGraphDestroy(g)); /* the bodies go with it */
  OK(cuCtxSynchronize());
  CHECK_EQ(cuGraphGetNodes(body0, NULL, &count), CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(cuGraphNodeGetType(inner_node, &type), CUDA_ERROR_INVALID_VALUE);
  OK(cuGraphDestroy(other));
  OK(cuMemFree(a));
  OK(cuCtxSynchronize());
}

static void test_capture(void) {
  CASE("stream capture: nothing runs while capturing; fork/join across streams; one frame per replay");
  CUdeviceptr a = 0, b = 0;
  OK(cuMemAlloc(&a, N));
  OK(cuMemAlloc(&b, N));
  OK(cuMemsetD8(a, 0, N));
  OK(cuMemsetD8(b, 0, N));
  CUstream s = NULL, s2 = NULL;
  OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  OK(cuStreamCreate(&s2, CU_STREAM_NON_BLOCKING));
  CUevent fork = NULL, join = NULL;
  OK(cuEventCreate(&fork, CU_EVENT_DISABLE_TIMING));
  OK(cuEventCreate(&join, CU_EVENT_DISABLE_TIMING));
  CUstreamCaptureStatus st = CU_STREAM_CAPTURE_STATUS_ACTIVE;
  OK(cuStreamIsCapturing(s, &st));
  CHECK_EQ(st, CU_STREAM_CAPTURE_STATUS_NONE);
  CHECK_EQ(cuStreamBeginCapture(NULL, CU_STREAM_CAPTURE_MODE_GLOBAL), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  OK(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
  OK(cuStreamIsCapturing(s, &st));
  CHECK_EQ(st, CU_STREAM_CAPTURE_STATUS_ACTIVE);
  OK(cuMemsetD8Async(a, 0x5a, N / 2, s));
  OK(cuEventRecord(fork, s));
  OK(cuStreamWaitEvent(s2, fork, 0)); /* s2 joins the capture */
  OK(cuStreamIsCapturing(s2, &st));
  CHECK_EQ(st, CU_STREAM_CAPTURE_STATUS_ACTIVE);
  OK(cuMemsetD8Async(a + N / 2, 0xa5, N / 2, s2));
  OK(cuEventRecord(join, s2));
  OK(cuStreamWaitEvent(s, join, 0));
  OK(cuMemcpyDtoDAsync(b, a, N, s));
  cuuint64_t id = 0;
  CUgraph cg = NULL;
  const CUgraphNode *deps = NULL;
  size_t ndeps = 0;
  OK(cuStreamGetCaptureInfo(s, &st, &id, &cg, &deps, NULL, &ndeps));
  CHECK(st == CU_STREAM_CAPTURE_STATUS_ACTIVE && id != 0 && cg != NULL && ndeps == 1 && deps && deps[0]);
  CHECK(all_bytes(a, N, 0)); /* captured work did not run */
  CUgraph g = NULL;
  OK(cuStreamEndCapture(s, &g));
  CHECK(g != NULL);
  OK(cuStreamIsCapturing(s2, &st)); /* the joined stream left the capture with it */
  CHECK_EQ(st, CU_STREAM_CAPTURE_STATUS_NONE);
  size_t count = 0;
  OK(cuGraphGetNodes(g, NULL, &count));
  CHECK_EQ(count, 3u);
  CUgraphExec e = NULL;
  OK(cuGraphInstantiateWithFlags(&e, g, 0));
  OK(cuGraphLaunch(e, s));
  OK(cuStreamSynchronize(s));
  static uint8_t back[N];
  OK(cuMemcpyDtoH(back, b, N));
  CHECK(back[0] == 0x5a && back[N / 2 - 1] == 0x5a && back[N / 2] == 0xa5 && back[N - 1] == 0xa5);
  OK(cuMemsetD8(b, 0, N));
  OK(cuGraphLaunch(e, s)); /* replay */
  OK(cuStreamSynchronize(s));
  OK(cuMemcpyDtoH(back, b, N));
  CHECK(back[0] == 0x5a && back[N - 1] == 0xa5);

  CASE("capture into an existing graph, after one of its nodes (XLA's cuStreamBeginCaptureToGraph)");
  CUgraph into = NULL;
  CUgraphNode first = NULL;
  OK(cuGraphCreate(&into, 0));
  CUDA_MEMSET_NODE_PARAMS zero = {b, 0, 0, 1, N, 1};
  OK(cuGraphAddMemsetNode(&first, into, NULL, 0, &zero, NULL));
  OK(cuStreamBeginCaptureToGraph(s, into, &first, NULL, 1, CU_STREAM_CAPTURE_MODE_GLOBAL));
  OK(cuMemsetD8Async(b, 0x3c, N / 4, s));
  CUgraph same = NULL;
  OK(cuStreamEndCapture(s, &same));
  CHECK(same == into);
  OK(cuGraphGetNodes(into, NULL, &count));
  CHECK_EQ(count, 2u);
  CUgraphExec ie = NULL;
  OK(cuGraphInstantiateWithFlags(&ie, into, 0));
  OK(cuGraphLaunch(ie, s));
  OK(cuStreamSynchronize(s));
  OK(cuMemcpyDtoH(back, b, N));
  CHECK(back[0] == 0x3c && back[N / 4 - 1] == 0x3c && back[N / 4] == 0 && back[N - 1] == 0);
  OK(cuGraphExecDestroy(ie));
  OK(cuGraphDestroy(into));

  CASE("pinned host memory in a capture and in memcpy nodes: each launch reads and writes the host's bytes");
  uint8_t *hin = NULL, *hout = NULL;
  OK(cuMemHostAlloc((void **)&hin, N, 0));
  OK(cuMemHostAlloc((void **)&hout, N, 0));
  memset(hin, 0x21, N);
  memset(hout, 0, N);
  OK(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
  OK(cuMemcpyHtoDAsync(a, hin, N, s));
  OK(cuMemcpyDtoDAsync(b, a, N, s));
  OK(cuMemcpyDtoHAsync(hout, b, N, s));
  CUgraph hg = NULL;
  OK(cuStreamEndCapture(s, &hg));
  CHECK(hout[0] == 0); /* recorded, not run */
  CUgraphExec he = NULL;
  OK(cuGraphInstantiateWithFlags(&he, hg, 0));
  memset(hin, 0x43, N); /* changed after capture: the launch sends what is there now */
  OK(cuGraphLaunch(he, s));
  OK(cuStreamSynchronize(s));
  CHECK(hout[0] == 0x43 && hout[N - 1] == 0x43);
  memset(hin, 0x55, N);
  OK(cuGraphLaunch(he, s));
  OK(cuStreamSynchronize(s));
  CHECK(hout[N / 2] == 0x55);
  CUgraph mg = NULL;
  CUgraphNode up = NULL, down = NULL;
  OK(cuGraphCreate(&mg, 0));
  CUDA_MEMCPY3D h2d = {0}, d2h = {0};
  h2d.srcMemoryType = CU_MEMORYTYPE_HOST;
  h2d.srcHost = hin;
  h2d.dstMemoryType = CU_MEMORYTYPE_DEVICE;
  h2d.dstDevice = a;
  h2d.WidthInBytes = N;
  h2d.Height = 1;
  h2d.Depth = 1;
  d2h = h2d;
  d2h.srcMemoryType = CU_MEMORYTYPE_DEVICE;
  d2h.srcDevice = a;
  d2h.dstMemoryType = CU_MEMORYTYPE_HOST;
  d2h.dstHost = hout;
  OK(cuGraphAddMemcpyNode(&up, mg, NULL, 0, &h2d, NULL));
  OK(cuGraphAddMemcpyNode(&down, mg, &up, 1, &d2h, NULL));
  CUgraphExec me = NULL;
  OK(cuGraphInstantiateWithFlags(&me, mg, 0));
  memset(hin, 0x66, N);
  OK(cuGraphLaunch(me, s));
  OK(cuStreamSynchronize(s));
  CHECK(hout[7] == 0x66);
  OK(cuGraphExecDestroy(me));
  OK(cuGraphDestroy(mg));
  OK(cuGraphExecDestroy(he));
  OK(cuGraphDestroy(hg));
  OK(cuMemFreeHost(hin));
  OK(cuMemFreeHost(hout));

  CASE("pageable host memory in a capture (graphMemoryNodes): a mirror of the range, freed with the graph");
  static uint8_t src[N], dst[N];
  memset(src, 0x71, N);
  OK(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
  OK(cuMemcpyHtoDAsync(a, src, N, s));
  OK(cuMemcpyDtoHAsync(dst, a, N, s));
  CUgraph pg = NULL;
  OK(cuStreamEndCapture(s, &pg));
  size_t before = 0, after = 0, total = 0;
  OK(cuMemGetInfo(&before, &total));
  CUgraphExec pe = NULL;
  OK(cuGraphInstantiateWithFlags(&pe, pg, 0));
  src[5] = 0x72;
  OK(cuGraphLaunch(pe, s));
  OK(cuStreamSynchronize(s));
  CHECK(dst[0] == 0x71 && dst[5] == 0x72 && dst[N - 1] == 0x71);
  OK(cuGraphExecDestroy(pe));
  OK(cuGraphDestroy(pg));
  OK(cuCtxSynchronize());
  OK(cuMemGetInfo(&after, &total));
  CHECK(after >= before + 2 * N); /* both mirrors freed with the last holder */

  CASE("capture mode is per thread");
  CUgraph dead = NULL;
  CUstreamCaptureMode mode = CU_STREAM_CAPTURE_MODE_RELAXED;
  OK(cuThreadExchangeStreamCaptureMode(&mode));
  CHECK_EQ(mode, CU_STREAM_CAPTURE_MODE_GLOBAL);
  OK(cuThreadExchangeStreamCaptureMode(&mode));
  CHECK_EQ(mode, CU_STREAM_CAPTURE_MODE_RELAXED);
  CHECK_EQ(cuStreamEndCapture(s, &dead), CUDA_ERROR_ILLEGAL_STATE); /* not capturing */

  OK(cuGraphExecDestroy(e));
  OK(cuGraphDestroy(g));
  OK(cuEventDestroy(fork));
  OK(cuEventDestroy(join));
  OK(cuStreamDestroy(s));
  OK(cuStreamDestroy(s2));
  OK(cuMemFree(a));
  OK(cuMemFree(b));
}

int main(int argc, char **argv) {
  if (argc != 2 || strcmp(argv[1], "main")) {
    fprintf(stderr, "usage: graph_test main\n");
    return 2;
  }
  CASE("init");
  OK(cuInit(0));
  CUcontext c;
  OK(cuDevicePrimaryCtxRetain(&c, 0));
  OK(cuCtxSetCurrent(c));
  test_explicit();
  test_user_objects_and_edges();
  test_conditional();
  test_conditional_capture();
  test_alloc_nodes();
  test_graph_memory_reuse();
  test_graph_memory_unfreed();
  test_capture_alloc();
  test_capture();
  OK(cuDevicePrimaryCtxRelease(0));
  return TEST_SUMMARY("shim graphs");
}
