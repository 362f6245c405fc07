// Ordering under batching: thousands of small fire-and-forget operations (memsets, launches, HtoD copies,
// async DtoH copies into pinned memory, event records and cross-stream waits) whose results are only
// right if every operation ran in program order on its stream.
#include "common.h"
#include <vector>

__global__ void add_to(int *p, int v) { *p += v; }
__global__ void copy_add(const int *src, int *dst, int v) { *dst = *src + v; }

static void single_stream(void) {
  SECTION("order.single_stream");
  const int N = 5000;
  cudaStream_t s;
  RT(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  int *d, *pinned;
  RT(cudaMalloc(&d, sizeof(int)));
  RT(cudaMallocHost(&pinned, N * sizeof(int)));
  for (int i = 0; i < N; i++) pinned[i] = -1;
  for (int i = 0; i < N; i++) {
    RT(cudaMemsetAsync(d, 0, sizeof(int), s));
    add_to<<<1, 1, 0, s>>>(d, i);
    add_to<<<1, 1, 0, s>>>(d, 1);
    RT(cudaMemcpyAsync(&pinned[i], d, sizeof(int), cudaMemcpyDeviceToHost, s));
  }
  RT(cudaStreamSynchronize(s));
  int bad = 0;
  for (int i = 0; i < N; i++) bad += pinned[i] != i + 1;
  printf("memset/launch/launch/dtoh x%d: mismatches %d\n", N, bad);
  RT(cudaFree(d));
  RT(cudaFreeHost(pinned));
  RT(cudaStreamDestroy(s));
}

__global__ void accumulate(int *acc, const int *v) { *acc += *v; }

static void snapshot_sum(void) {
  SECTION("order.snapshot_sum");
  // Each iteration copies a fresh host value and adds it on the device: the sum is exact only if every
  // pageable HtoD copy captured the value at call time and ran before the kernel that follows it.
  cudaStream_t s;
  RT(cudaStreamCreate(&s));
  int *dv, *acc;
  RT(cudaMalloc(&dv, sizeof(int)));
  RT(cudaMalloc(&acc, sizeof(int)));
  RT(cudaMemsetAsync(acc, 0, sizeof(int), s));
  int host;
  long long want = 0;
  for (int i = 1; i <= 3000; i++) {
    host = i * 7 % 1000;
    want += host;
    RT(cudaMemcpyAsync(dv, &host, sizeof(int), cudaMemcpyHostToDevice, s));
    host = 123456;
    accumulate<<<1, 1, 0, s>>>(acc, dv);
  }
  int got = 0;
  RT(cudaMemcpyAsync(&got, acc, sizeof(int), cudaMemcpyDeviceToHost, s));
  RT(cudaStreamSynchronize(s));
  printf("snapshot sum: %d (want %lld) ok=%d\n", got, want, got == want);
  RT(cudaFree(dv));
  RT(cudaFree(acc));
  RT(cudaStreamDestroy(s));
}

static void ping_pong(void) {
  SECTION("order.event_ping_pong");
  cudaStream_t a, b;
  RT(cudaStreamCreateWithFlags(&a, cudaStreamNonBlocking));
  RT(cudaStreamCreateWithFlags(&b, cudaStreamNonBlocking));
  cudaEvent_t ea, eb;
  RT(cudaEventCreateWithFlags(&ea, cudaEventDisableTiming));
  RT(cudaEventCreateWithFlags(&eb, cudaEventDisableTiming));
  int *x;
  RT(cudaMalloc(&x, 2 * sizeof(int)));
  RT(cudaMemset(x, 0, 2 * sizeof(int)));
  for (int i = 0; i < 1000; i++) {
    copy_add<<<1, 1, 0, a>>>(x + 1, x, 1);  // x0 = x1 + 1
    RT(cudaEventRecord(ea, a));
    RT(cudaStreamWaitEvent(b, ea, 0));
    copy_add<<<1, 1, 0, b>>>(x, x + 1, 2);  // x1 = x0 + 2
    RT(cudaEventRecord(eb, b));
    RT(cudaStreamWaitEvent(a, eb, 0));
  }
  RT(cudaStreamSynchronize(a));
  RT(cudaStreamSynchronize(b));
  int h[2];
  RT(cudaMemcpy(h, x, sizeof h, cudaMemcpyDeviceToHost));
  printf("ping-pong x0=%d x1=%d\n", h[0], h[1]);
  RT(cudaEventDestroy(ea)); RT(cudaEventDestroy(eb));
  RT(cudaStreamDestroy(a)); RT(cudaStreamDestroy(b));
  RT(cudaFree(x));
}

static void ring(void) {
  SECTION("order.dtod_ring");
  const int n = 64;
  int *buf;
  RT(cudaMalloc(&buf, n * sizeof(int)));
  std::vector<int> h(n);
  for (int i = 0; i < n; i++) h[i] = i * i;
  RT(cudaMemcpy(buf, h.data(), n * sizeof(int), cudaMemcpyHostToDevice));
  // Rotate left by one, 1000 times, between two buffers: DtoD copies in stream order.
  int *other;
  RT(cudaMalloc(&other, n * sizeof(int)));
  for (int k = 0; k < 1000; k++) {
    RT(cudaMemcpyAsync(other, buf + 1, (n - 1) * sizeof(int), cudaMemcpyDeviceToDevice, 0));
    RT(cudaMemcpyAsync(other + n - 1, buf, sizeof(int), cudaMemcpyDeviceToDevice, 0));
    int *t = buf; buf = other; other = t;
  }
  RT(cudaMemcpy(h.data(), buf, n * sizeof(int), cudaMemcpyDeviceToHost));
  printf("ring hash=%016llx first=%d\n", (unsigned long long)fnv64(h.data(), n * sizeof(int)), h[0]);
  RT(cudaFree(buf));
  RT(cudaFree(other));
}

int main(void) {
  single_stream();
  snapshot_sum();
  ping_pong();
  ring();
  return finish();
}
