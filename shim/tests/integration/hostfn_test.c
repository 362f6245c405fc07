/* Host functions inside remote graphs through the shim against a real executor (emulated backend): graph
 * host nodes and cuLaunchHostFunc in a capture run in this process, called back by the server in stream
 * order over the session's callback connection.
 *   hostfn_test main          the suite
 *   hostfn_test die           a host function that kills its own process (the runner checks that the
 *                             server's session ends and nothing is left behind) */
#include <cuda.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../test.h"

#define OK(call) CHECK_EQ((call), CUDA_SUCCESS)
enum { N = 4096 };

/* What the host node sees and leaves, through pinned host buffers that memcpy nodes read and write. */
typedef struct {
  uint8_t *in, *out; /* in: written by the copy before the node; out: read by the copy after it */
  int calls;
  uint8_t seen; /* in[0] as the function found it */
} step;

static void CUDA_CB add_one(void *arg) {
  step *s = arg;
  s->seen = s->in[0];
  for (int i = 0; i < N; i++) s->out[i] = (uint8_t)(s->in[i] + 1);
  s->calls++;
}

static void CUDA_CB count(void *arg) { __atomic_add_fetch((int *)arg, 1, __ATOMIC_SEQ_CST); }

static CUDA_MEMCPY3D copy1d(CUmemorytype st, const void *sh, CUdeviceptr sd, CUmemorytype dt, void *dh, CUdeviceptr dd) {
  CUDA_MEMCPY3D c = {0};
  c.srcMemoryType = st;
  c.srcHost = sh;
  c.srcDevice = sd;
  c.dstMemoryType = dt;
  c.dstHost = dh;
  c.dstDevice = dd;
  c.WidthInBytes = N;
  c.Height = 1;
  c.Depth = 1;
  return c;
}

static int all_bytes(CUdeviceptr d, uint8_t v) {
  static uint8_t buf[N];
  if (cuMemcpyDtoH(buf, d, N) != CUDA_SUCCESS) return 0;
  for (int i = 0; i < N; i++)
    if (buf[i] != v) return 0;
  return 1;
}

/* Device buffers a and b, pinned host buffers for a step (make = 0: free them). */
static void buffers(CUdeviceptr *a, CUdeviceptr *b, step *st, int make) {
  if (make) {
    OK(cuMemAlloc(a, N));
    OK(cuMemAlloc(b, N));
    OK(cuMemHostAlloc((void **)&st->in, N, 0));
    OK(cuMemHostAlloc((void **)&st->out, N, 0));
    return;
  }
  OK(cuMemFreeHost(st->in));
  OK(cuMemFreeHost(st->out));
  OK(cuMemFree(*a));
  OK(cuMemFree(*b));
}

/* memset(a) -> copy a->hin -> host node (hout = hin + 1) -> copy hout->b: the host function reads what the
 * copy before it produced and writes what the copy after it consumes. */
static void test_graph_host_node(CUstream s) {
  CASE("explicit graph: memset -> D2H copy -> host node -> H2D copy, launched several times");
  CUdeviceptr a = 0, b = 0;
  step st = {0};
  buffers(&a, &b, &st, 1);
  CUgraph g = NULL;
  OK(cuGraphCreate(&g, 0));
  CUgraphNode set = NULL, down = NULL, host = NULL, up = NULL;
  CUDA_MEMSET_NODE_PARAMS ms = {a, 0, 0x10, 1, N, 1};
  OK(cuGraphAddMemsetNode(&set, g, NULL, 0, &ms, NULL));
  CUDA_MEMCPY3D d2h = copy1d(CU_MEMORYTYPE_DEVICE, NULL, a, CU_MEMORYTYPE_HOST, st.in, 0);
  OK(cuGraphAddMemcpyNode(&down, g, &set, 1, &d2h, NULL));
  CUDA_HOST_NODE_PARAMS hp = {add_one, &st};
  OK(cuGraphAddHostNode(&host, g, &down, 1, &hp));
  CUDA_MEMCPY3D h2d = copy1d(CU_MEMORYTYPE_HOST, st.out, 0, CU_MEMORYTYPE_DEVICE, NULL, b);
  OK(cuGraphAddMemcpyNode(&up, g, &host, 1, &h2d, NULL));
  CHECK_EQ(st.calls, 0); /* building runs nothing */
  CUgraphNodeType type = CU_GRAPH_NODE_TYPE_EMPTY;
  OK(cuGraphNodeGetType(host, &type));
  CHECK_EQ(type, CU_GRAPH_NODE_TYPE_HOST);
  CUDA_HOST_NODE_PARAMS got = {0};
  OK(cuGraphHostNodeGetParams(host, &got));
  CHECK(got.fn == add_one && got.userData == &st);
  CUgraphExec e = NULL;
  OK(cuGraphInstantiateWithFlags(&e, g, 0));
  for (int i = 0; i < 3; i++) {
    memset(st.out, 0, N);
    OK(cuGraphLaunch(e, s));
    OK(cuStreamSynchronize(s));
  }
  CHECK_EQ(st.calls, 3);
  CHECK_EQ(st.seen, 0x10);       /* the copy before the node had reached host memory */
  CHECK(all_bytes(b, 0x11));     /* and what the node wrote reached the copy after it */
  CHECK(st.out[N - 1] == 0x11);

  CASE("host node parameters: set on the graph (then instantiate), set on the executable graph, exec update");
  int hits = 0;
  CUDA_HOST_NODE_PARAMS cp = {count, &hits};
  OK(cuGraphExecHostNodeSetParams(e, host, &cp));
  OK(cuGraphLaunch(e, s));
  OK(cuStreamSynchronize(s));
  CHECK_EQ(hits, 1);
  CHECK_EQ(st.calls, 3);
  OK(cuGraphHostNodeGetParams(host, &got)); /* the graph's node keeps its own parameters */
  CHECK(got.fn == add_one && got.userData == &st);
  OK(cuGraphHostNodeSetParams(host, &cp));
  OK(cuGraphHostNodeGetParams(host, &got));
  CHECK(got.fn == count && got.userData == &hits);
  CUgraphExec e2 = NULL;
  OK(cuGraphInstantiateWithFlags(&e2, g, 0));
  OK(cuGraphLaunch(e2, s));
  OK(cuStreamSynchronize(s));
  CHECK_EQ(hits, 2);
  OK(cuGraphHostNodeSetParams(host, &hp)); /* back to add_one; the first executable graph follows by update */
  CUgraphExecUpdateResultInfo info = {0};
  OK(cuGraphExecUpdate(e, g, &info));
  CHECK_EQ(info.result, CU_GRAPH_EXEC_UPDATE_SUCCESS);
  OK(cuGraphLaunch(e, s));
  OK(cuStreamSynchronize(s));
  CHECK_EQ(st.calls, 4);
  CHECK_EQ(hits, 2);

  CASE("clone and generic node API: a cloned host node calls the same function; cuGraphAddNode(HOST)");
  CUgraph c = NULL;
  OK(cuGraphClone(&c, g));
  CUgraphNode nodes[8];
  size_t n = 8;
  OK(cuGraphGetNodes(c, nodes, &n));
  int host_nodes = 0;
  for (size_t i = 0; i < n; i++) {
    OK(cuGraphNodeGetType(nodes[i], &type));
    if (type != CU_GRAPH_NODE_TYPE_HOST) continue;
    host_nodes++;
    OK(cuGraphHostNodeGetParams(nodes[i], &got));
    CHECK(got.fn == add_one && got.userData == &st);
  }
  CHECK_EQ(host_nodes, 1);
  CUgraphNodeParams gp;
  memset(&gp, 0, sizeof gp);
  gp.type = CU_GRAPH_NODE_TYPE_HOST;
  gp.host.fn = count;
  gp.host.userData = &hits;
  CUgraphNode extra = NULL;
  OK(cuGraphAddNode(&extra, c, NULL, NULL, 0, &gp));
  CUgraphExec ce = NULL;
  OK(cuGraphInstantiateWithFlags(&ce, c, 0));
  OK(cuGraphLaunch(ce, s));
  OK(cuStreamSynchronize(s));
  CHECK_EQ(st.calls, 5);
  CHECK_EQ(hits, 3);
  OK(cuGraphExecDestroy(ce));
  OK(cuGraphDestroy(c));
  OK(cuGraphExecDestroy(e2));
  OK(cuGraphExecDestroy(e));
  OK(cuGraphDestroy(g));
  buffers(&a, &b, &st, 0);
}

static void test_capture(CUstream s) {
  CASE("cuLaunchHostFunc in a capture becomes a host node, run at each launch in stream order");
  CUdeviceptr a = 0, b = 0;
  step st = {0};
  buffers(&a, &b, &st, 1);
  OK(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
  OK(cuMemsetD8Async(a, 0x40, N, s));
  OK(cuMemcpyDtoHAsync(st.in, a, N, s));
  OK(cuLaunchHostFunc(s, add_one, &st));
  OK(cuMemcpyHtoDAsync(b, st.out, N, s));
  CUgraph g = NULL;
  OK(cuStreamEndCapture(s, &g));
  CHECK_EQ(st.calls, 0);
  CUgraphNode nodes[8];
  size_t n = 8;
  OK(cuGraphGetNodes(g, nodes, &n));
  int found = 0;
  for (size_t i = 0; i < n; i++) {
    CUgraphNodeType type;
    CUDA_HOST_NODE_PARAMS got = {0};
    if (cuGraphNodeGetType(nodes[i], &type) == CUDA_SUCCESS && type == CU_GRAPH_NODE_TYPE_HOST &&
        cuGraphHostNodeGetParams(nodes[i], &got) == CUDA_SUCCESS && got.fn == add_one && got.userData == &st)
      found++;
  }
  CHECK_EQ(found, 1);
  CUgraphExec e = NULL;
  OK(cuGraphInstantiateWithFlags(&e, g, 0));
  OK(cuGraphLaunch(e, s));
  OK(cuGraphLaunch(e, s));
  OK(cuStreamSynchronize(s));
  CHECK_EQ(st.calls, 2);
  CHECK_EQ(st.seen, 0x40);
  CHECK(all_bytes(b, 0x41));
  OK(cuGraphExecDestroy(e));
  OK(cuGraphDestroy(g));
  buffers(&a, &b, &st, 0);
}

/* The program's thread waits in cuStreamSynchronize (on the session's connection) for the stream that
 * waits for the host function, which blocks until another thread lets it go: the callback must arrive
 * and be answered on its own connection. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_entered, gate_open;

static void CUDA_CB gated(void *arg) {
  pthread_mutex_lock(&gate_mu);
  gate_entered = 1;
  pthread_cond_broadcast(&gate_cv);
  while (!gate_open) pthread_cond_wait(&gate_cv, &gate_mu);
  pthread_mutex_unlock(&gate_mu);
  (*(int *)arg)++;
}

static void *opener(void *arg) {
  (void)arg;
  pthread_mutex_lock(&gate_mu);
  while (!gate_entered) pthread_cond_wait(&gate_cv, &gate_mu);
  pthread_mutex_unlock(&gate_mu);
  usleep(100 * 1000); /* the main thread is in cuStreamSynchronize by now (or soon: either way it must work) */
  pthread_mutex_lock(&gate_mu);
  gate_open = 1;
  pthread_cond_broadcast(&gate_cv);
  pthread_mutex_unlock(&gate_mu);
  return NULL;
}

static void test_blocked_main(CUstream s) {
  CASE("cuStreamSynchronize while a host node runs: the callback is served off the blocked thread");
  int ran = 0;
  CUgraph g = NULL;
  CUgraphNode h = NULL;
  OK(cuGraphCreate(&g, 0));
  CUDA_HOST_NODE_PARAMS p = {gated, &ran};
  OK(cuGraphAddHostNode(&h, g, NULL, 0, &p));
  CUgraphExec e = NULL;
  OK(cuGraphInstantiateWithFlags(&e, g, 0));
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, opener, NULL), 0);
  OK(cuGraphLaunch(e, s));
  OK(cuStreamSynchronize(s));
  CHECK_EQ(ran, 1);
  if (ran) pthread_join(th, NULL); /* else the opener waits for a function that never ran */
  int hits = 0;
  OK(cuLaunchHostFunc(s, count, &hits)); /* outside a capture: the stream first, then here, at once */
  CHECK_EQ(hits, 1);
  OK(cuGraphExecDestroy(e));
  OK(cuGraphDestroy(g));
}

static void CUDA_CB die(void *arg) {
  (void)arg;
  printf("host function entered: dying\n");
  fflush(stdout);
  kill(getpid(), SIGKILL);
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "main";
  CUdevice dev;
  CUcontext ctx;
  CUstream s;
  if (cuInit(0) || cuDeviceGet(&dev, 0) || cuCtxCreate(&ctx, NULL, 0, dev) || cuStreamCreate(&s, CU_STREAM_NON_BLOCKING)) {
    fprintf(stderr, "no device\n");
    return 2;
  }
  if (!strcmp(mode, "die")) {
    CUgraph g = NULL;
    CUgraphNode h = NULL;
    CUgraphExec e = NULL;
    CUDA_HOST_NODE_PARAMS p = {die, NULL};
    if (cuGraphCreate(&g, 0) || cuGraphAddHostNode(&h, g, NULL, 0, &p) || cuGraphInstantiateWithFlags(&e, g, 0) ||
        cuGraphLaunch(e, s))
      return 3;
    cuStreamSynchronize(s);
    return 4; /* not reached */
  }
  test_graph_host_node(s);
  test_capture(s);
  test_blocked_main(s);
  OK(cuStreamDestroy(s));
  OK(cuCtxDestroy(ctx));
  t_case_end();
  printf("hostfn_test: %d passed, %d failed\n", t_passed, t_failed);
  return t_failed ? 1 : 0;
}
