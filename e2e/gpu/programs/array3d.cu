// 3D CUDA arrays with cudaMemcpy3D both ways (issue 11 item 4): host (padded pitch and slice height) to
// array, a kernel reading it with tex3D (point sampling) into linear memory, array to host whole and as an
// offset sub-box, device (cudaMalloc3D) to array and array to device. Compared with the CPU data; prints
// checksums; exits non-zero on a mismatch.
#include "common.h"

static const int W = 33, H = 20, D = 11;

__global__ void read3d(cudaTextureObject_t t, float *out) {
  int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y, z = blockIdx.z;
  if (x < W) out[(z * H + y) * W + x] = 2.0f * tex3D<float>(t, x + 0.5f, y + 0.5f, z + 0.5f);
}

static bool equal_box(const float *got, int gw, int gh, const float *all, int x0, int y0, int z0, int w, int h, int d) {
  for (int z = 0; z < d; z++)
    for (int y = 0; y < h; y++)
      if (memcmp(got + (z * gh + y) * gw, all + ((z + z0) * H + y + y0) * W + x0, w * sizeof(float))) return false;
  return true;
}

static void run(void) {
  SECTION("array3d");
  size_t n = (size_t)W * H * D;
  float *h = (float *)malloc(n * sizeof(float)), *out = (float *)malloc(n * sizeof(float));
  for (size_t i = 0; i < n; i++) h[i] = (float)((i * 2654435761u) % 100000) * 0.01f;
  // host copy with a wider pitch and taller slices than the array
  const int PW = W + 5, PH = H + 2;
  float *padded = (float *)calloc((size_t)PW * PH * D, sizeof(float));
  for (int z = 0; z < D; z++)
    for (int y = 0; y < H; y++) memcpy(padded + ((size_t)z * PH + y) * PW, h + ((size_t)z * H + y) * W, W * sizeof(float));
  cudaChannelFormatDesc cf = cudaCreateChannelDesc<float>();
  cudaArray_t a = NULL;
  RT(cudaMalloc3DArray(&a, &cf, make_cudaExtent(W, H, D)));
  cudaMemcpy3DParms p;
  memset(&p, 0, sizeof p);
  p.srcPtr = make_cudaPitchedPtr(padded, PW * sizeof(float), W, PH);
  p.dstArray = a;
  p.extent = make_cudaExtent(W, H, D);
  p.kind = cudaMemcpyHostToDevice;
  RT(cudaMemcpy3D(&p));

  cudaTextureObject_t t = 0;
  RT(array_texture(&t, a, cudaFilterModePoint, 0));
  float *d = NULL;
  RT(cudaMalloc(&d, n * sizeof(float)));
  read3d<<<dim3((W + 31) / 32, H, D), 32>>>(t, d);
  RT(cudaGetLastError());
  RT(cudaMemcpy(out, d, n * sizeof(float), cudaMemcpyDeviceToHost));
  bool ok = true;
  for (size_t i = 0; i < n; i++) ok &= out[i] == 2.0f * h[i];
  EXPECT(ok);
  printf("tex3D samples equal: %d checksum %016llx\n", ok, (unsigned long long)fnv64(out, n * sizeof(float)));

  SECTION("array3d.copies");
  memset(out, 0, n * sizeof(float));
  memset(&p, 0, sizeof p);
  p.srcArray = a;
  p.dstPtr = make_cudaPitchedPtr(out, W * sizeof(float), W, H);
  p.extent = make_cudaExtent(W, H, D);
  p.kind = cudaMemcpyDeviceToHost;
  RT(cudaMemcpy3D(&p));
  ok = !memcmp(out, h, n * sizeof(float));
  EXPECT(ok);
  printf("array to host equal: %d\n", ok);
  // sub-box x 4..4+9, y 3..3+6, z 2..2+5 into a 12x8x5 host box at (1, 1, 0). With an array in the copy the
  // runtime takes the linear side's x in the array's elements too (it passes dstXInBytes = 4 * x: measured
  // through the shim, F22), so x is 1 here
  float box[12 * 8 * 5];
  memset(box, 0, sizeof box);
  memset(&p, 0, sizeof p);
  p.srcArray = a;
  p.srcPos = make_cudaPos(4, 3, 2);
  p.dstPtr = make_cudaPitchedPtr(box, 12 * sizeof(float), 12, 8);
  p.dstPos = make_cudaPos(1, 1, 0);
  p.extent = make_cudaExtent(9, 6, 5);
  p.kind = cudaMemcpyDeviceToHost;
  RT(cudaMemcpy3D(&p));
  ok = equal_box(box + 12 + 1, 12, 8, h, 4, 3, 2, 9, 6, 5) && box[0] == 0.0f;
  EXPECT(ok);
  printf("array sub-box to host equal: %d\n", ok);
  // x 4 (16 bytes) + 9 elements (36 bytes) is past the 48-byte row: the driver refuses it
  // (dstPitch < WidthInBytes + dstXInBytes) and writes nothing
  float before[12 * 8 * 5];
  memcpy(before, box, sizeof box);
  p.dstPos = make_cudaPos(4, 1, 0);
  cudaError_t e = cudaMemcpy3D(&p);
  cudaGetLastError();
  EXPECT(e == cudaErrorInvalidValue && !memcmp(before, box, sizeof box));
  printf("array sub-box past the host row: %s (expected cudaErrorInvalidValue), box unchanged: %d\n",
         cudaGetErrorName(e), !memcmp(before, box, sizeof box));
  // array -> pitched device memory -> second array -> host
  cudaPitchedPtr dp;
  RT(cudaMalloc3D(&dp, make_cudaExtent(W * sizeof(float), H, D)));
  memset(&p, 0, sizeof p);
  p.srcArray = a;
  p.dstPtr = dp;
  p.extent = make_cudaExtent(W, H, D);
  p.kind = cudaMemcpyDeviceToDevice;
  RT(cudaMemcpy3D(&p));
  cudaArray_t b = NULL;
  RT(cudaMalloc3DArray(&b, &cf, make_cudaExtent(W, H, D)));
  memset(&p, 0, sizeof p);
  p.srcPtr = dp;
  p.dstArray = b;
  p.extent = make_cudaExtent(W, H, D);
  p.kind = cudaMemcpyDeviceToDevice;
  RT(cudaMemcpy3D(&p));
  memset(out, 0, n * sizeof(float));
  memset(&p, 0, sizeof p);
  p.srcArray = b;
  p.dstPtr = make_cudaPitchedPtr(out, W * sizeof(float), W, H);
  p.extent = make_cudaExtent(W, H, D);
  p.kind = cudaMemcpyDeviceToHost;
  cudaStream_t s;
  RT(cudaStreamCreate(&s));
  RT(cudaMemcpy3DAsync(&p, s));
  RT(cudaStreamSynchronize(s));
  ok = !memcmp(out, h, n * sizeof(float));
  EXPECT(ok);
  printf("array -> device -> array -> host (async) equal: %d checksum %016llx\n", ok,
         (unsigned long long)fnv64(out, n * sizeof(float)));
  cudaStreamDestroy(s);
  cudaDestroyTextureObject(t);
  cudaFreeArray(a);
  cudaFreeArray(b);
  cudaFree(d);
  cudaFree(dp.ptr);
  free(h); free(out); free(padded);
}

int main() {
  run();
  return finish();
}
