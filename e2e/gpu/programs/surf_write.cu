// Surface writes (issue 11 item 4): a kernel writes a float4 CUDA array through a surface object
// (surf2Dwrite), the host reads it back with cudaMemcpy2DFromArray (whole and an offset region) and a
// second kernel reads it with surf2Dread into linear memory; everything compared with a CPU reference.
// Prints checksums; exits non-zero on a mismatch.
#include "common.h"

static const int W = 45, H = 27;

__host__ __device__ static float4 value_at(int x, int y) {
  return make_float4(x * 1.5f, y * 0.25f, (float)(x * y % 13), (float)(x + 3 * y));
}

__global__ void write_surface(cudaSurfaceObject_t s) {
  int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x < W && y < H) surf2Dwrite(value_at(x, y), s, x * (int)sizeof(float4), y);
}

__global__ void read_surface(cudaSurfaceObject_t s, float4 *out) {
  int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x < W && y < H) out[y * W + x] = surf2Dread<float4>(s, x * (int)sizeof(float4), y);
}

int main() {
  SECTION("surface");
  cudaChannelFormatDesc cf = cudaCreateChannelDesc<float4>();
  cudaArray_t a = NULL;
  if (cudaMallocArray(&a, &cf, W, H, cudaArraySurfaceLoadStore) != cudaSuccess) {
    printf("ERR surface: cudaMallocArray\n");
    return 1;
  }
  cudaResourceDesc rd;
  memset(&rd, 0, sizeof rd);
  rd.resType = cudaResourceTypeArray;
  rd.res.array.array = a;
  cudaSurfaceObject_t s = 0;
  if (cudaCreateSurfaceObject(&s, &rd) != cudaSuccess) { printf("ERR surface: cudaCreateSurfaceObject\n"); return 1; }
  float4 *want = (float4 *)malloc(W * H * sizeof(float4)), *got = (float4 *)malloc(W * H * sizeof(float4));
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) want[y * W + x] = value_at(x, y);
  write_surface<<<dim3((W + 15) / 16, (H + 15) / 16), dim3(16, 16)>>>(s);
  if (cudaDeviceSynchronize() != cudaSuccess) { printf("ERR surface: write kernel\n"); return 1; }
  memset(got, 0, W * H * sizeof(float4));
  if (cudaMemcpy2DFromArray(got, W * sizeof(float4), a, 0, 0, W * sizeof(float4), H, cudaMemcpyDeviceToHost) !=
      cudaSuccess) {
    printf("ERR surface: cudaMemcpy2DFromArray\n");
    return 1;
  }
  bool eq = !memcmp(got, want, W * H * sizeof(float4));
  EXPECT(eq);
  printf("surface writes read back equal: %d checksum %016llx\n", eq,
         (unsigned long long)fnv64(got, W * H * sizeof(float4)));
  // region: 7 elements from x 10, 5 rows from y 20, into a host buffer with a wider pitch
  float4 region[5 * 9];
  memset(region, 0, sizeof region);
  if (cudaMemcpy2DFromArray(region, 9 * sizeof(float4), a, 10 * sizeof(float4), 20, 7 * sizeof(float4), 5,
                            cudaMemcpyDeviceToHost) == cudaSuccess) {
    bool ok = true;
    for (int y = 0; y < 5; y++) ok &= !memcmp(region + y * 9, want + (y + 20) * W + 10, 7 * sizeof(float4));
    EXPECT(ok);
    printf("surface region equal: %d\n", ok);
  } else { printf("ERR surface: region copy\n"); g_errors++; }
  // read it through the surface too, and into device memory by an array-to-device copy
  float4 *d = NULL;
  if (cudaMalloc(&d, 2 * W * H * sizeof(float4)) != cudaSuccess) { printf("ERR surface: cudaMalloc\n"); return 1; }
  read_surface<<<dim3((W + 15) / 16, (H + 15) / 16), dim3(16, 16)>>>(s, d);
  cudaMemcpy2DFromArray(d + W * H, W * sizeof(float4), a, 0, 0, W * sizeof(float4), H, cudaMemcpyDeviceToDevice);
  float4 *both = (float4 *)malloc(2 * W * H * sizeof(float4));
  if (cudaMemcpy(both, d, 2 * W * H * sizeof(float4), cudaMemcpyDeviceToHost) == cudaSuccess) {
    bool r1 = !memcmp(both, want, W * H * sizeof(float4)), r2 = !memcmp(both + W * H, want, W * H * sizeof(float4));
    EXPECT(r1);
    EXPECT(r2);
    printf("surf2Dread equal: %d, array-to-device equal: %d\n", r1, r2);
  } else { printf("ERR surface: read back\n"); g_errors++; }
  cudaDestroySurfaceObject(s);
  cudaFreeArray(a);
  cudaFree(d);
  free(want); free(got); free(both);
  return finish();
}
