// CUDA graphs through the runtime API: stream capture of many small kernels (one replay = one frame),
// fork/join capture across streams, explicit graph building (kernel, memset, memcpy, child graph, event
// record nodes), cudaGraphExecUpdate and per-node parameter updates, and a host node (natively it runs;
// through the shim host nodes are refused: printed as '#' lines, run.sh expects the refusal).
#include "common.h"

__global__ void add(float *x, float v, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] += v;
}
__global__ void scale(float *x, float s, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] *= s;
}

static const int N = 1 << 16;
static void host_fn(void *p) { *(int *)p += 1; }

static uint64_t checksum(const float *d, int n) {
  float *h = (float *)malloc(n * sizeof(float));
  cudaMemcpy(h, d, n * sizeof(float), cudaMemcpyDeviceToHost);
  uint64_t c = fnv64(h, n * sizeof(float));
  free(h);
  return c;
}

static void capture_many_kernels() {
  SECTION("capture.100_kernels");
  float *x;
  cudaStream_t s;
  RT(cudaMalloc(&x, N * sizeof(float)));
  RT(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  RT(cudaMemsetAsync(x, 0, N * sizeof(float), s));
  cudaStreamCaptureStatus st;
  RT(cudaStreamIsCapturing(s, &st));
  printf("capturing before: %d\n", (int)st);
  RT(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
  for (int k = 0; k < 100; k++) add<<<(N + 255) / 256, 256, 0, s>>>(x, 0.5f, N);
  RT(cudaStreamIsCapturing(s, &st));
  printf("capturing during: %d\n", (int)st);
  unsigned long long id = 0;
  RT(cudaStreamGetCaptureInfo(s, &st, &id));
  printf("capture id nonzero: %d\n", id != 0);
  cudaGraph_t g;
  RT(cudaStreamEndCapture(s, &g));
  size_t nodes = 0;
  RT(cudaGraphGetNodes(g, nullptr, &nodes));
  printf("nodes: %zu\n", nodes);
  cudaGraphExec_t e;
  RT(cudaGraphInstantiate(&e, g, 0));
  for (int r = 0; r < 10; r++) RT(cudaGraphLaunch(e, s));
  RT(cudaStreamSynchronize(s));
  float first;
  RT(cudaMemcpy(&first, x, sizeof first, cudaMemcpyDeviceToHost));
  printf("after 10 replays: %.1f\n", first);  // 10 * 100 * 0.5
  printf("checksum: %016llx\n", (unsigned long long)checksum(x, N));

  // a capture of the same shape with another value updates the executable graph in place
  cudaGraph_t g2;
  RT(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  for (int k = 0; k < 100; k++) add<<<(N + 255) / 256, 256, 0, s>>>(x, -0.25f, N);
  RT(cudaStreamEndCapture(s, &g2));
  cudaGraphExecUpdateResultInfo info;
  RT(cudaGraphExecUpdate(e, g2, &info));
  printf("update result: %d\n", (int)info.result);
  RT(cudaGraphLaunch(e, s));
  RT(cudaStreamSynchronize(s));
  RT(cudaMemcpy(&first, x, sizeof first, cudaMemcpyDeviceToHost));
  printf("after update and replay: %.1f\n", first);  // 500 - 25
  cudaEvent_t a, b;
  RT(cudaEventCreate(&a));
  RT(cudaEventCreate(&b));
  RT(cudaEventRecord(a, s));
  for (int r = 0; r < 100; r++) RT(cudaGraphLaunch(e, s));
  RT(cudaEventRecord(b, s));
  RT(cudaEventSynchronize(b));
  float ms = 0;
  RT(cudaEventElapsedTime(&ms, a, b));
  printf("# 100 replays of 100 kernels: %.3f ms on the GPU\n", ms);
  RT(cudaGraphExecDestroy(e));
  RT(cudaGraphDestroy(g));
  RT(cudaGraphDestroy(g2));
  RT(cudaStreamDestroy(s));
  RT(cudaFree(x));
}

static void fork_join() {
  SECTION("capture.fork_join");
  float *x, *y;
  cudaStream_t s1, s2;
  cudaEvent_t fork, join;
  RT(cudaMalloc(&x, N * sizeof(float)));
  RT(cudaMalloc(&y, N * sizeof(float)));
  RT(cudaStreamCreateWithFlags(&s1, cudaStreamNonBlocking));
  RT(cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking));
  RT(cudaEventCreateWithFlags(&fork, cudaEventDisableTiming));
  RT(cudaEventCreateWithFlags(&join, cudaEventDisableTiming));
  RT(cudaStreamBeginCapture(s1, cudaStreamCaptureModeGlobal));
  RT(cudaMemsetAsync(x, 0, N * sizeof(float), s1));
  RT(cudaEventRecord(fork, s1));
  RT(cudaStreamWaitEvent(s2, fork, 0));
  RT(cudaMemsetAsync(y, 0, N * sizeof(float), s2));
  add<<<(N + 255) / 256, 256, 0, s2>>>(y, 3.0f, N);
  RT(cudaEventRecord(join, s2));
  add<<<(N + 255) / 256, 256, 0, s1>>>(x, 2.0f, N);
  RT(cudaStreamWaitEvent(s1, join, 0));
  RT(cudaMemcpyAsync(x + 1, y, sizeof(float), cudaMemcpyDeviceToDevice, s1));
  scale<<<(N + 255) / 256, 256, 0, s1>>>(x, 10.0f, N);
  cudaGraph_t g;
  RT(cudaStreamEndCapture(s1, &g));
  cudaGraphExec_t e;
  RT(cudaGraphInstantiate(&e, g, 0));
  RT(cudaGraphLaunch(e, s1));
  RT(cudaStreamSynchronize(s1));
  float h[2];
  RT(cudaMemcpy(h, x, sizeof h, cudaMemcpyDeviceToHost));
  printf("x[0] x[1]: %.1f %.1f\n", h[0], h[1]);  // 20 30
  RT(cudaGraphExecDestroy(e));
  RT(cudaGraphDestroy(g));
  RT(cudaFree(x));
  RT(cudaFree(y));
}

static void explicit_graph() {
  SECTION("explicit");
  float *x, *y;
  RT(cudaMalloc(&x, N * sizeof(float)));
  RT(cudaMalloc(&y, N * sizeof(float)));
  cudaGraph_t g, child;
  RT(cudaGraphCreate(&g, 0));
  RT(cudaGraphCreate(&child, 0));
  cudaMemsetParams ms = {};
  ms.dst = x;
  ms.value = 0;
  ms.elementSize = 4;
  ms.width = N;
  ms.height = 1;
  cudaGraphNode_t set, k1, k2, cp, sub, rec;
  RT(cudaGraphAddMemsetNode(&set, g, nullptr, 0, &ms));
  float v = 4.0f;
  int n = N;
  void *args[] = {&x, &v, &n};
  cudaKernelNodeParams kp = {};
  kp.func = (void *)add;
  kp.gridDim = dim3((N + 255) / 256);
  kp.blockDim = dim3(256);
  kp.kernelParams = args;
  RT(cudaGraphAddKernelNode(&k1, g, &set, 1, &kp));
  RT(cudaGraphAddMemcpyNode1D(&cp, g, &k1, 1, y, x, N * sizeof(float), cudaMemcpyDeviceToDevice));
  float s = 0.5f;
  void *cargs[] = {&y, &s, &n};
  cudaKernelNodeParams cpk = kp;
  cpk.func = (void *)scale;
  cpk.kernelParams = cargs;
  RT(cudaGraphAddKernelNode(&k2, child, nullptr, 0, &cpk));
  RT(cudaGraphAddChildGraphNode(&sub, g, &cp, 1, child));
  cudaEvent_t done;
  RT(cudaEventCreate(&done));
  RT(cudaGraphAddEventRecordNode(&rec, g, &sub, 1, done));
  cudaGraphNodeType t;
  RT(cudaGraphNodeGetType(sub, &t));
  printf("child node type: %d\n", (int)t);
  cudaGraphExec_t e;
  RT(cudaGraphInstantiate(&e, g, 0));
  RT(cudaGraphLaunch(e, 0));
  RT(cudaEventSynchronize(done));
  float h;
  RT(cudaMemcpy(&h, y, sizeof h, cudaMemcpyDeviceToHost));
  printf("y[0]: %.2f\n", h);  // (0 + 4) * 0.5
  v = 10.0f;  // per-node update of the executable graph
  RT(cudaGraphExecKernelNodeSetParams(e, k1, &kp));
  RT(cudaGraphLaunch(e, 0));
  RT(cudaDeviceSynchronize());
  RT(cudaMemcpy(&h, y, sizeof h, cudaMemcpyDeviceToHost));
  printf("y[0] after node update: %.2f\n", h);  // 5
  RT(cudaGraphNodeSetEnabled(e, set, 0));
  RT(cudaGraphLaunch(e, 0));
  RT(cudaDeviceSynchronize());
  RT(cudaMemcpy(&h, x, sizeof h, cudaMemcpyDeviceToHost));
  printf("x[0] with the memset disabled: %.2f\n", h);  // 20
  cudaGraph_t clone;
  RT(cudaGraphClone(&clone, g));
  size_t nn = 0;
  RT(cudaGraphGetNodes(clone, nullptr, &nn));
  printf("clone nodes: %zu\n", nn);
  RT(cudaGraphExecDestroy(e));
  RT(cudaGraphDestroy(clone));
  RT(cudaGraphDestroy(g));
  RT(cudaGraphDestroy(child));
  RT(cudaFree(x));
  RT(cudaFree(y));
}

static void host_node() {
  SECTION("host_node");
  static int counter = 0;
  cudaStream_t s;
  RT(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  RT(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
  cudaError_t r = cudaLaunchHostFunc(s, host_fn, &counter);
  cudaGraph_t g = nullptr;
  cudaError_t re = cudaStreamEndCapture(s, &g);
  printf("host function in capture: %s, end capture: %s\n", cudaGetErrorName(r), cudaGetErrorName(re));
  if (r == cudaSuccess && re == cudaSuccess) {
    cudaGraphExec_t e;
    RT(cudaGraphInstantiate(&e, g, 0));
    for (int i = 0; i < 3; i++) RT(cudaGraphLaunch(e, s));
    RT(cudaStreamSynchronize(s));
    printf("host node ran %d times\n", counter);
    RT(cudaGraphExecDestroy(e));
    RT(cudaGraphDestroy(g));
  }
  cudaGetLastError();
  RT(cudaStreamDestroy(s));
}

int main() {
  capture_many_kernels();
  fork_join();
  explicit_graph();
  host_node();
  return finish();
}
