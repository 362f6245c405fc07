// bench_gpu: the figures of issue 2, for one process (native or through the shim). Prints "key value"
// lines; bench.sh runs it natively and remotely in the same run and computes the ratios.
//   bench_gpu [--launches N] [--sync-iters N] [--copy-mib M] [--copy-reps R] [--sgemm-n N]
//             [--sgemm-iters K | --sgemm-target-s S] [--skip LIST] [--graph-reps R]
//             [--graph-gap-us G [--graph-gap-spin 1]]
// Measured (all after a warm-up, host wall clock):
//   launch_throughput   N empty-kernel launches on one stream, then one synchronize: launches per second
//   launch_sync_us      median of launch + cudaStreamSynchronize round trips
//   h2d/d2h_{pinned,pageable}_GBps   cudaMemcpy of M MiB, best of R
//   sgemm_total_s       alloc + upload + K tiled SGEMMs of N^3 + download (the compute-bound program)
//   graph_replay_us_median  a captured graph of 100 small kernels: median of R (default sync-iters/4 + 1)
//                       cudaGraphLaunch + synchronize (issue 11: one frame per replay); with --graph-gap-us G the GPU idles G us before each
//                       timed replay, as it does between replays through a link of that round trip (sleeping;
//                       with --graph-gap-spin 1 the CPU spins meanwhile: the idle GPU's share alone)
#include <cuda_runtime.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>
#include <string>
#include <vector>

#define CK(x)                                                                          \
  do {                                                                                 \
    cudaError_t e_ = (x);                                                              \
    if (e_ != cudaSuccess) {                                                           \
      printf("error %s -> %s\n", #x, cudaGetErrorName(e_));                           \
      exit(1);                                                                         \
    }                                                                                  \
  } while (0)

static double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

__global__ void empty_kernel() {}
__global__ void tiny_kernel(float *x) { x[threadIdx.x] += 1.0f; }

#define T 32
__global__ void sgemm(const float *A, const float *B, float *C, int n) {
  __shared__ float As[T][T + 1], Bs[T][T + 1];
  int row = blockIdx.y * T + threadIdx.y, col = blockIdx.x * T + threadIdx.x;
  float acc = 0.f;
  for (int t = 0; t < n; t += T) {
    As[threadIdx.y][threadIdx.x] = A[row * n + t + threadIdx.x];
    Bs[threadIdx.y][threadIdx.x] = B[(t + threadIdx.y) * n + col];
    __syncthreads();
#pragma unroll
    for (int k = 0; k < T; k++) acc = fmaf(As[threadIdx.y][k], Bs[k][threadIdx.x], acc);
    __syncthreads();
  }
  C[row * n + col] = acc;
}

static bool skip(const std::string &list, const char *what) {
  return (',' + list + ',').find(std::string(",") + what + ",") != std::string::npos;
}

int main(int argc, char **argv) {
  long launches = 100000, sync_iters = 2000, copy_mib = 256, copy_reps = 3, sgemm_n = 2048, sgemm_iters = 0;
  double sgemm_target = 1.0;
  long graph_gap_us = 0, graph_gap_spin = 0, graph_reps = 0;
  std::string sk;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    long v = atol(argv[i + 1]);
    if (a == "--launches") launches = v;
    else if (a == "--sync-iters") sync_iters = v;
    else if (a == "--copy-mib") copy_mib = v;
    else if (a == "--copy-reps") copy_reps = v;
    else if (a == "--sgemm-n") sgemm_n = v;
    else if (a == "--sgemm-iters") sgemm_iters = v;
    else if (a == "--sgemm-target-s") sgemm_target = atof(argv[i + 1]);
    else if (a == "--skip") sk = argv[i + 1];
    else if (a == "--graph-reps") graph_reps = v;
    else if (a == "--graph-gap-us") graph_gap_us = v;
    else if (a == "--graph-gap-spin") graph_gap_spin = v;
    else { fprintf(stderr, "bench_gpu: unknown option %s\n", a.c_str()); return 2; }
  }
  double t0 = now_s();
  CK(cudaFree(0));
  cudaStream_t s;
  CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  empty_kernel<<<1, 1, 0, s>>>();
  CK(cudaStreamSynchronize(s));
  printf("init_s %.4f\n", now_s() - t0);

  if (!skip(sk, "launch")) {
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
      double a = now_s();
      for (long i = 0; i < launches; i++) empty_kernel<<<1, 1, 0, s>>>();
      CK(cudaStreamSynchronize(s));
      double r = launches / (now_s() - a);
      best = std::max(best, r);
    }
    CK(cudaGetLastError());
    printf("launch_throughput_per_s %.0f\n", best);
    std::vector<double> v(sync_iters);
    for (int i = 0; i < 50; i++) { empty_kernel<<<1, 1, 0, s>>>(); CK(cudaStreamSynchronize(s)); }
    for (long i = 0; i < sync_iters; i++) {
      double a = now_s();
      empty_kernel<<<1, 1, 0, s>>>();
      CK(cudaStreamSynchronize(s));
      v[i] = (now_s() - a) * 1e6;
    }
    std::sort(v.begin(), v.end());
    printf("launch_sync_us_median %.2f\n", v[v.size() / 2]);
    printf("launch_sync_us_p10 %.2f p99 %.2f\n", v[v.size() / 10], v[v.size() * 99 / 100]);
  }

  if (!skip(sk, "copy")) {
    size_t bytes = (size_t)copy_mib << 20;
    void *d, *pin;
    CK(cudaMalloc(&d, bytes));
    CK(cudaMallocHost(&pin, bytes));
    std::vector<char> page(bytes);
    memset(pin, 1, bytes);
    memset(page.data(), 2, bytes);
    struct { const char *name; void *host; bool h2d; } cases[] = {
        {"h2d_pinned", pin, true}, {"d2h_pinned", pin, false}, {"h2d_pageable", page.data(), true},
        {"d2h_pageable", page.data(), false}};
    for (auto &c : cases) {
      double best = 1e30;
      for (long r = 0; r < copy_reps; r++) {
        double a = now_s();
        if (c.h2d) CK(cudaMemcpy(d, c.host, bytes, cudaMemcpyHostToDevice));
        else CK(cudaMemcpy(c.host, d, bytes, cudaMemcpyDeviceToHost));
        best = std::min(best, now_s() - a);
      }
      printf("%s_MBps %.1f\n", c.name, bytes / best / 1e6);
    }
    CK(cudaFree(d));
    CK(cudaFreeHost(pin));
  }

  if (!skip(sk, "sgemm")) {
    int n = (int)sgemm_n;
    size_t el = (size_t)n * n;
    std::vector<float> A(el), B(el), C(el);
    for (size_t i = 0; i < el; i++) { A[i] = (float)((i * 7) % 13) / 13.f; B[i] = (float)((i * 11) % 17) / 17.f; }
    dim3 grid(n / T, n / T), block(T, T);
    if (sgemm_iters <= 0) {  // calibrate: one timed SGEMM, scaled to the target
      float *a, *b, *c;
      CK(cudaMalloc(&a, el * 4)); CK(cudaMalloc(&b, el * 4)); CK(cudaMalloc(&c, el * 4));
      sgemm<<<grid, block, 0, s>>>(a, b, c, n);
      CK(cudaStreamSynchronize(s));
      double a0 = now_s();
      for (int i = 0; i < 5; i++) sgemm<<<grid, block, 0, s>>>(a, b, c, n);
      CK(cudaStreamSynchronize(s));
      double one = (now_s() - a0) / 5;
      sgemm_iters = std::max(1L, (long)(sgemm_target / one));
      CK(cudaFree(a)); CK(cudaFree(b)); CK(cudaFree(c));
    }
    CK(cudaDeviceSynchronize());
    double a = now_s();
    float *dA, *dB, *dC;
    CK(cudaMalloc(&dA, el * 4)); CK(cudaMalloc(&dB, el * 4)); CK(cudaMalloc(&dC, el * 4));
    CK(cudaMemcpyAsync(dA, A.data(), el * 4, cudaMemcpyHostToDevice, s));
    CK(cudaMemcpyAsync(dB, B.data(), el * 4, cudaMemcpyHostToDevice, s));
    double k0 = now_s();
    for (long i = 0; i < sgemm_iters; i++) sgemm<<<grid, block, 0, s>>>(dA, dB, dC, n);
    CK(cudaStreamSynchronize(s));
    double k1 = now_s();
    CK(cudaMemcpy(C.data(), dC, el * 4, cudaMemcpyDeviceToHost));
    double b = now_s();
    double sum = 0;
    for (size_t i = 0; i < el; i++) sum += C[i];
    printf("sgemm_n %d iters %ld\n", n, sgemm_iters);
    printf("sgemm_total_s %.4f\n", b - a);
    printf("sgemm_kernels_s %.4f\n", k1 - k0);
    printf("sgemm_tflops %.2f\n", 2.0 * n * (double)n * n * sgemm_iters / (k1 - k0) / 1e12);
    printf("sgemm_checksum %.6e\n", sum);
    CK(cudaFree(dA)); CK(cudaFree(dB)); CK(cudaFree(dC));
  }
  if (!skip(sk, "graph")) {
    float *x;
    CK(cudaMalloc(&x, 256 * sizeof(float)));
    cudaGraph_t g;
    cudaGraphExec_t e;
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    for (int k = 0; k < 100; k++) tiny_kernel<<<1, 256, 0, s>>>(x);
    CK(cudaStreamEndCapture(s, &g));
    CK(cudaGraphInstantiate(&e, g, 0));
    for (int i = 0; i < 20; i++) CK(cudaGraphLaunch(e, s));  // warm-up
    CK(cudaStreamSynchronize(s));
    std::vector<double> v;
    for (long i = 0; i < (graph_reps > 0 ? graph_reps : sync_iters / 4 + 1); i++) {
      if (graph_gap_us > 0 && graph_gap_spin)  // the GPU idles, the CPU does not
        for (double until = now_s() + graph_gap_us * 1e-6; now_s() < until;) {}
      else if (graph_gap_us > 0)
        usleep((useconds_t)graph_gap_us);
      double a = now_s();
      CK(cudaGraphLaunch(e, s));
      CK(cudaStreamSynchronize(s));
      v.push_back((now_s() - a) * 1e6);
    }
    std::sort(v.begin(), v.end());
    printf("graph_replay_us_median %.2f\n", v[v.size() / 2]);
    printf("graph_replay_us_p10 %.2f p90 %.2f\n", v[v.size() / 10], v[v.size() * 9 / 10]);
    CK(cudaGraphExecDestroy(e));
    CK(cudaGraphDestroy(g));
    CK(cudaFree(x));
  }
  CK(cudaStreamDestroy(s));
  printf("process_s %.4f\n", now_s() - t0);
  return 0;
}
