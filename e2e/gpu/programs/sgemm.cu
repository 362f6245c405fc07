// A multi-kernel compute program: tiled SGEMM (shared-memory tiles), a bias+ReLU kernel, and a two-pass
// reduction, several iterations on a stream, checked against a CPU reference computed in double.
#include "common.h"
#include <cmath>
#include <vector>

#define TILE 32
__global__ void sgemm_tiled(const float *A, const float *B, float *C, int M, int N, int K) {
  __shared__ float As[TILE][TILE + 1], Bs[TILE][TILE + 1];
  int row = blockIdx.y * TILE + threadIdx.y, col = blockIdx.x * TILE + threadIdx.x;
  float acc = 0.f;
  for (int t = 0; t < K; t += TILE) {
    As[threadIdx.y][threadIdx.x] = (row < M && t + threadIdx.x < K) ? A[row * K + t + threadIdx.x] : 0.f;
    Bs[threadIdx.y][threadIdx.x] = (col < N && t + threadIdx.y < K) ? B[(t + threadIdx.y) * N + col] : 0.f;
    __syncthreads();
#pragma unroll
    for (int k = 0; k < TILE; k++) acc = fmaf(As[threadIdx.y][k], Bs[k][threadIdx.x], acc);
    __syncthreads();
  }
  if (row < M && col < N) C[row * N + col] = acc;
}

__global__ void bias_relu(float *C, const float *bias, int M, int N) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < M * N) { float v = C[i] + bias[i % N]; C[i] = v > 0.f ? v : 0.f; }
}

__global__ void reduce_pass(const float *in, double *out, int n) {
  __shared__ double s[256];
  double acc = 0;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) acc += in[i];
  s[threadIdx.x] = acc;
  __syncthreads();
  for (int k = 128; k > 0; k >>= 1) {
    if (threadIdx.x < k) s[threadIdx.x] += s[threadIdx.x + k];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = s[0];
}
__global__ void reduce_final(const double *in, double *out, int n) {
  if (threadIdx.x == 0 && blockIdx.x == 0) { double s = 0; for (int i = 0; i < n; i++) s += in[i]; *out = s; }
}

static void run(int M, int N, int K, int iters) {
  char name[64];
  snprintf(name, sizeof name, "sgemm.%dx%dx%d", M, N, K);
  SECTION(name);
  std::vector<float> A((size_t)M * K), B((size_t)K * N), bias(N), C((size_t)M * N);
  uint32_t x = 12345;
  auto rnd = [&]() { x ^= x << 13; x ^= x >> 17; x ^= x << 5; return ((int)(x % 2001) - 1000) / 1000.0f; };
  for (auto &v : A) v = rnd();
  for (auto &v : B) v = rnd();
  for (auto &v : bias) v = rnd() * 0.1f;
  float *dA, *dB, *dC, *dBias; double *dPart, *dSum;
  const int RB = 120;
  RT(cudaMalloc(&dA, A.size() * 4)); RT(cudaMalloc(&dB, B.size() * 4)); RT(cudaMalloc(&dC, C.size() * 4));
  RT(cudaMalloc(&dBias, N * 4)); RT(cudaMalloc(&dPart, RB * 8)); RT(cudaMalloc(&dSum, 8));
  cudaStream_t s;
  RT(cudaStreamCreate(&s));
  RT(cudaMemcpyAsync(dA, A.data(), A.size() * 4, cudaMemcpyHostToDevice, s));
  RT(cudaMemcpyAsync(dB, B.data(), B.size() * 4, cudaMemcpyHostToDevice, s));
  RT(cudaMemcpyAsync(dBias, bias.data(), N * 4, cudaMemcpyHostToDevice, s));
  dim3 grid((N + TILE - 1) / TILE, (M + TILE - 1) / TILE), block(TILE, TILE);
  double sums[8];
  for (int it = 0; it < iters; it++) {
    sgemm_tiled<<<grid, block, 0, s>>>(dA, dB, dC, M, N, K);
    bias_relu<<<(M * N + 255) / 256, 256, 0, s>>>(dC, dBias, M, N);
    reduce_pass<<<RB, 256, 0, s>>>(dC, dPart, M * N);
    reduce_final<<<1, 32, 0, s>>>(dPart, dSum, RB);
    RT(cudaMemcpyAsync(&sums[it], dSum, 8, cudaMemcpyDeviceToHost, s));
  }
  RT(cudaMemcpyAsync(C.data(), dC, C.size() * 4, cudaMemcpyDeviceToHost, s));
  RT(cudaStreamSynchronize(s));
  // CPU reference.
  double maxerr = 0, refsum = 0;
  std::vector<double> row(N);
  for (int i = 0; i < M; i++) {
    for (int j = 0; j < N; j++) row[j] = 0;
    for (int k = 0; k < K; k++) { double a = A[(size_t)i * K + k]; const float *b = &B[(size_t)k * N]; for (int j = 0; j < N; j++) row[j] += a * b[j]; }
    for (int j = 0; j < N; j++) {
      double v = row[j] + bias[j]; if (v < 0) v = 0;
      refsum += v;
      double e = fabs(v - C[(size_t)i * N + j]);
      if (e > maxerr) maxerr = e;
    }
  }
  int same = 1;
  for (int it = 1; it < iters; it++) same &= sums[it] == sums[0];
  printf("max abs err vs CPU < 1e-3: %d\n", maxerr < 1e-3);
  printf("# max abs err %.3g\n", maxerr);
  printf("gpu sum %.9e (cpu %.6e) rel diff < 1e-5: %d, identical across %d iterations: %d\n", sums[0], refsum,
         fabs(sums[0] - refsum) <= 1e-5 * fabs(refsum), iters, same);
  printf("C hash=%016llx\n", (unsigned long long)fnv64(C.data(), C.size() * 4));
  RT(cudaFree(dA)); RT(cudaFree(dB)); RT(cudaFree(dC)); RT(cudaFree(dBias)); RT(cudaFree(dPart)); RT(cudaFree(dSum));
  RT(cudaStreamDestroy(s));
}

int main(void) {
  run(256, 192, 320, 3);
  run(513, 257, 129, 2);  // ragged edges
  return finish();
}
