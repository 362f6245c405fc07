// Device printf: what kernels print must reach this process's stdout, between the same host lines as on a
// local GPU (run.sh compares the native and the remoted stdout line by line). One thread prints, so the
// order of the lines is fixed. The host flushes its own lines before each synchronizing call: where the
// device's text lands relative to unflushed host text is the driver's business, not this test's.
//   [printf.sync]  a few lines of every conversion, flushed by cudaDeviceSynchronize
//   [printf.copy]  lines flushed by a blocking device-to-host copy instead
//   [printf.many]  ~190 KB from one launch: more than one 64 KiB DEVICE_OUTPUT frame
//   [printf.stream] lines from two streams, each synchronized on its own
#include "common.h"

__global__ void say(int i, unsigned u, float f, double d, const char *tag) {
  printf("device: i=%d u=%u x=%x f=%.3f d=%.6e c=%c s=%s p=%%\n", i, u, u, f, d, 'Z', "literal");
  printf("device tag: %s\n", tag ? "with tag" : "no tag");
}

__global__ void count_to(int n, int *out) {
  for (int k = 0; k < n; k++) printf("line %05d of %d: the quick brown fox\n", k, n);
  *out = n;
}

__global__ void from_stream(int which) { printf("stream %d says hello\n", which); }

static void sync_section() {
  SECTION("printf.sync");
  fflush(stdout);
  say<<<1, 1>>>(-42, 3000000000u, 2.5f, 1.0 / 3, (const char *)1);
  RT(cudaDeviceSynchronize());
  printf("after the synchronize\n");
}

static void copy_and_many_sections() {
  SECTION("printf.copy");
  int *d = NULL, h = 0;
  RT(cudaMalloc(&d, sizeof(int)));
  fflush(stdout);
  count_to<<<1, 1>>>(3, d);
  RT(cudaMemcpy(&h, d, sizeof h, cudaMemcpyDeviceToHost));
  printf("copied back %d\n", h);
  SECTION("printf.many");
  fflush(stdout);
  count_to<<<1, 1>>>(4500, d);  // ~43 bytes a line
  RT(cudaDeviceSynchronize());
  RT(cudaMemcpy(&h, d, sizeof h, cudaMemcpyDeviceToHost));
  printf("many lines: %d\n", h);
  RT(cudaFree(d));
}

static void stream_section() {
  SECTION("printf.stream");
  cudaStream_t a, b;
  RT(cudaStreamCreate(&a));
  RT(cudaStreamCreate(&b));
  fflush(stdout);
  from_stream<<<1, 1, 0, a>>>(1);
  RT(cudaStreamSynchronize(a));
  printf("stream 1 synchronized\n");
  fflush(stdout);
  from_stream<<<1, 1, 0, b>>>(2);
  RT(cudaStreamSynchronize(b));
  printf("stream 2 synchronized\n");
  RT(cudaStreamDestroy(a));
  RT(cudaStreamDestroy(b));
}

int main() {
  sync_section();
  copy_and_many_sections();
  stream_section();
  return finish();
}
