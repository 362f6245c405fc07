// Managed and mapped (zero-copy) memory through the runtime API: host/device ping-pong on managed
// memory with synchronisation between turns, prefetch and advice, host-attached managed memory, and
// mapped pinned memory written by a kernel and read by the host after a synchronisation.
#include "common.h"

__global__ void bump(int *p, int n, int v) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) p[i] = p[i] * 2 + v;
}

static const int N = 1 << 14;

static void ping_pong() {
  SECTION("managed.ping_pong");
  int *m;
  RT(cudaMallocManaged(&m, N * sizeof(int)));
  for (int i = 0; i < N; i++) m[i] = i;  // the host writes through the pointer
  for (int turn = 0; turn < 4; turn++) {
    bump<<<(N + 255) / 256, 256>>>(m, N, turn);
    RT(cudaDeviceSynchronize());
    for (int i = 0; i < N; i += 7) m[i] += 1;  // the host changes some elements between turns
  }
  printf("m[0] m[7] m[N-1]: %d %d %d\n", m[0], m[7], m[N - 1]);
  printf("checksum: %016llx\n", (unsigned long long)fnv64(m, N * sizeof(int)));
  int dev = 0;
  RT(cudaMemAdvise(m, N * sizeof(int), cudaMemAdviseSetReadMostly, cudaMemLocation{cudaMemLocationTypeDevice, dev}));
  RT(cudaMemPrefetchAsync(m, N * sizeof(int), cudaMemLocation{cudaMemLocationTypeDevice, dev}, 0, 0));
  bump<<<(N + 255) / 256, 256>>>(m, N, 1);
  RT(cudaMemPrefetchAsync(m, N * sizeof(int), cudaMemLocation{cudaMemLocationTypeHost, 0}, 0, 0));
  RT(cudaDeviceSynchronize());
  printf("after prefetch round trip m[3]: %d\n", m[3]);
  cudaPointerAttributes a;
  RT(cudaPointerGetAttributes(&a, m));
  printf("pointer type managed: %d\n", a.type == cudaMemoryTypeManaged);
  RT(cudaFree(m));
}

static void attach_host() {
  SECTION("managed.attach_host");
  int *m;
  cudaStream_t s;
  RT(cudaStreamCreate(&s));
  RT(cudaMallocManaged(&m, 64 * sizeof(int), cudaMemAttachHost));
  for (int i = 0; i < 64; i++) m[i] = 100 + i;
  RT(cudaStreamAttachMemAsync(s, m, 0, cudaMemAttachSingle));
  bump<<<1, 64, 0, s>>>(m, 64, 0);
  RT(cudaStreamSynchronize(s));
  printf("m[0] m[63]: %d %d\n", m[0], m[63]);
  RT(cudaFree(m));
  RT(cudaStreamDestroy(s));
}

static void mapped() {
  SECTION("mapped");
  int *h, *d;
  RT(cudaHostAlloc(&h, N * sizeof(int), cudaHostAllocMapped));
  for (int i = 0; i < N; i++) h[i] = 3 * i;
  RT(cudaHostGetDevicePointer(&d, h, 0));
  bump<<<(N + 255) / 256, 256>>>(d, N, 5);
  RT(cudaDeviceSynchronize());
  printf("h[0] h[1] h[N-1]: %d %d %d\n", h[0], h[1], h[N - 1]);
  RT(cudaMemset(d, 0, 16));  // synchronous for host-visible memory
  printf("after memset h[0..3] sum: %d\n", h[0] + h[1] + h[2] + h[3]);
  static int reg[1024] __attribute__((aligned(4096)));
  for (int i = 0; i < 1024; i++) reg[i] = i;
  RT(cudaHostRegister(reg, sizeof reg, cudaHostRegisterMapped));
  int *rd;
  RT(cudaHostGetDevicePointer(&rd, reg, 0));
  bump<<<4, 256>>>(rd, 1024, 1);
  RT(cudaDeviceSynchronize());
  printf("registered reg[10]: %d\n", reg[10]);
  RT(cudaHostUnregister(reg));
  RT(cudaFreeHost(h));
}

int main() {
  ping_pong();
  attach_host();
  mapped();
  return finish();
}
