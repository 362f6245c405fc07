// The demo's CUDA program: an ordinary nvcc-built CUDA runtime program with no knowledge of avec.
// It queries the device, round-trips a buffer through device memory, and runs a kernel. On the
// emulated device (no GPU on the server) the launch is refused and the program says so clearly; on a
// real GPU the kernel computes y = a*x + y and the result is checked on the host.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <cuda_runtime.h>

#define CHECK(call)                                                                          \
  do {                                                                                       \
    cudaError_t err_ = (call);                                                               \
    if (err_ != cudaSuccess) {                                                               \
      std::fprintf(stderr, "avec-demo: %s failed: %s (%s)\n", #call, cudaGetErrorName(err_), \
                   cudaGetErrorString(err_));                                                \
      return 1;                                                                              \
    }                                                                                        \
  } while (0)

__global__ void saxpy(int n, float a, const float *x, float *y) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * x[i] + y[i];
}

int main() {
  int count = 0;
  CHECK(cudaGetDeviceCount(&count));
  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0));
  size_t freeB = 0, totalB = 0;
  CHECK(cudaMemGetInfo(&freeB, &totalB));
  int driver = 0;
  CHECK(cudaDriverGetVersion(&driver));
  std::printf("device query: %d device(s); device 0 \"%s\", compute capability %d.%d, %d SMs\n", count, prop.name,
              prop.major, prop.minor, prop.multiProcessorCount);
  std::printf("memory: %.2f GiB total, %.2f GiB free (the claim's limit); driver API %d.%d\n",
              totalB / 1073741824.0, freeB / 1073741824.0, driver / 1000, (driver % 1000) / 10);

  const int n = 1 << 20;
  const size_t bytes = n * sizeof(float);
  std::vector<float> x(n), y(n), back(n);
  for (int i = 0; i < n; i++) {
    x[i] = float(i % 1000) * 0.5f;
    y[i] = float(i % 7);
  }
  float *dx = nullptr, *dy = nullptr;
  CHECK(cudaMalloc(&dx, bytes));
  CHECK(cudaMalloc(&dy, bytes));
  CHECK(cudaMemcpy(dx, x.data(), bytes, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dy, y.data(), bytes, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(back.data(), dx, bytes, cudaMemcpyDeviceToHost));
  if (std::memcmp(back.data(), x.data(), bytes) != 0) {
    std::fprintf(stderr, "avec-demo: memcpy round trip: data differs\n");
    return 1;
  }
  std::printf("memcpy round trip: %zu bytes host->device->host, identical\n", bytes);

  const bool emulated = std::strstr(prop.name, "emulated") != nullptr || std::strstr(prop.name, "Emulated") != nullptr;
  saxpy<<<(n + 255) / 256, 256>>>(n, 2.0f, dx, dy);
  cudaError_t launch = cudaGetLastError();
  if (launch == cudaSuccess) launch = cudaDeviceSynchronize();
  if (emulated) {
    if (launch == cudaSuccess) {
      std::fprintf(stderr, "avec-demo: the emulated device accepted a kernel launch, which it must refuse\n");
      return 1;
    }
    std::printf("kernel: refused as expected: emulated device cannot run kernels (%s: %s)\n", cudaGetErrorName(launch),
                cudaGetErrorString(launch));
    std::printf("avec-demo: OK (emulated device)\n");
    return 0;
  }
  if (launch != cudaSuccess) {
    std::fprintf(stderr, "avec-demo: kernel failed: %s (%s)\n", cudaGetErrorName(launch), cudaGetErrorString(launch));
    return 1;
  }
  CHECK(cudaMemcpy(back.data(), dy, bytes, cudaMemcpyDeviceToHost));
  int bad = 0;
  for (int i = 0; i < n; i++) {
    float want = 2.0f * x[i] + y[i];
    if (back[i] != want) bad++;
  }
  if (bad) {
    std::fprintf(stderr, "avec-demo: saxpy: %d of %d results wrong\n", bad, n);
    return 1;
  }
  std::printf("kernel: saxpy on %d elements computed on the GPU, all results checked\n", n);
  CHECK(cudaFree(dx));
  CHECK(cudaFree(dy));
  std::printf("avec-demo: OK (GPU)\n");
  return 0;
}
