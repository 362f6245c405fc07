// Layered and cubemap textures (issue 11 item 4): a 2D layered array and a cubemap array filled layer by
// layer (face by face) with cudaMemcpy3D, sampled with point filtering at texel centres (tex2DLayered,
// texCubemap with face-centre directions), compared exactly with the CPU data. Prints checksums; exits
// non-zero on a mismatch.
#include "common.h"

static const int LW = 29, LH = 17, LAYERS = 5, CW = 16;

__global__ void sample_layered(cudaTextureObject_t t, float *out) {
  int x = threadIdx.x + blockIdx.x * blockDim.x, y = blockIdx.y, l = blockIdx.z;
  if (x >= LW) return;
  out[(l * LH + y) * LW + x] = tex2DLayered<float>(t, x + 0.5f, y + 0.5f, l);
}

// Direction whose cubemap lookup lands on the centre of texel (i, j) of face f (CUDA's face table:
// +x: s=-z t=-y; -x: s=z t=-y; +y: s=x t=z; -y: s=x t=-z; +z: s=x t=-y; -z: s=-x t=-y).
__host__ __device__ static void face_dir(int f, int i, int j, float *x, float *y, float *z) {
  float s = 2.0f * (i + 0.5f) / CW - 1.0f, t = 2.0f * (j + 0.5f) / CW - 1.0f;
  switch (f) {
    case 0: *x = 1; *z = -s; *y = -t; break;
    case 1: *x = -1; *z = s; *y = -t; break;
    case 2: *y = 1; *x = s; *z = t; break;
    case 3: *y = -1; *x = s; *z = -t; break;
    case 4: *z = 1; *x = s; *y = -t; break;
    default: *z = -1; *x = -s; *y = -t; break;
  }
}

__global__ void sample_cube(cudaTextureObject_t t, float *out) {
  int i = threadIdx.x, j = blockIdx.x, f = blockIdx.y;
  float x, y, z;
  face_dir(f, i, j, &x, &y, &z);
  out[(f * CW + j) * CW + i] = texCubemap<float>(t, x, y, z);
}

static cudaTextureObject_t point_texture(cudaArray_t a, bool normalized) {
  cudaTextureObject_t t = 0;
  return array_texture(&t, a, cudaFilterModePoint, normalized) == cudaSuccess ? t : 0;
}

static void copy_layer(cudaArray_t a, const float *src, int w, int h, int layer) {
  cudaMemcpy3DParms p;
  memset(&p, 0, sizeof p);
  p.srcPtr = make_cudaPitchedPtr((void *)src, w * sizeof(float), w, h);
  p.dstArray = a;
  p.dstPos = make_cudaPos(0, 0, layer);
  p.extent = make_cudaExtent(w, h, 1);
  p.kind = cudaMemcpyHostToDevice;
  RT(cudaMemcpy3D(&p));
}

static void layered(void) {
  SECTION("layered");
  size_t n = (size_t)LW * LH * LAYERS;
  float *h = (float *)malloc(n * sizeof(float)), *out = (float *)malloc(n * sizeof(float));
  for (size_t i = 0; i < n; i++) h[i] = (float)((i * 7919) % 1000) * 0.25f;
  cudaChannelFormatDesc cf = cudaCreateChannelDesc<float>();
  cudaArray_t a = NULL;
  RT(cudaMalloc3DArray(&a, &cf, make_cudaExtent(LW, LH, LAYERS), cudaArrayLayered));
  for (int l = LAYERS; l-- > 0;) copy_layer(a, h + (size_t)l * LW * LH, LW, LH, l);
  cudaTextureObject_t t = point_texture(a, false);
  EXPECT(t != 0);
  float *d = NULL;
  RT(cudaMalloc(&d, n * sizeof(float)));
  sample_layered<<<dim3((LW + 31) / 32, LH, LAYERS), 32>>>(t, d);
  RT(cudaGetLastError());
  RT(cudaMemcpy(out, d, n * sizeof(float), cudaMemcpyDeviceToHost));
  bool eq = !memcmp(out, h, n * sizeof(float));
  EXPECT(eq);
  printf("layered samples equal: %d checksum %016llx\n", eq, (unsigned long long)fnv64(out, n * sizeof(float)));
  // layer 3 back with cudaMemcpy3D (z offset)
  memset(out, 0, LW * LH * sizeof(float));
  cudaMemcpy3DParms p;
  memset(&p, 0, sizeof p);
  p.srcArray = a;
  p.srcPos = make_cudaPos(0, 0, 3);
  p.dstPtr = make_cudaPitchedPtr(out, LW * sizeof(float), LW, LH);
  p.extent = make_cudaExtent(LW, LH, 1);
  p.kind = cudaMemcpyDeviceToHost;
  RT(cudaMemcpy3D(&p));
  eq = !memcmp(out, h + 3 * LW * LH, LW * LH * sizeof(float));
  EXPECT(eq);
  printf("layer 3 read back equal: %d\n", eq);
  cudaDestroyTextureObject(t);
  cudaFree(d);
  cudaFreeArray(a);
  free(h); free(out);
}

static void cubemap(void) {
  SECTION("cubemap");
  size_t n = (size_t)CW * CW * 6;
  float *h = (float *)malloc(n * sizeof(float)), *out = (float *)malloc(n * sizeof(float));
  for (size_t i = 0; i < n; i++) h[i] = (float)(i / (CW * CW)) * 100.0f + (float)(i % (CW * CW));
  cudaChannelFormatDesc cf = cudaCreateChannelDesc<float>();
  cudaArray_t a = NULL;
  RT(cudaMalloc3DArray(&a, &cf, make_cudaExtent(CW, CW, 6), cudaArrayCubemap));
  for (int f = 0; f < 6; f++) copy_layer(a, h + (size_t)f * CW * CW, CW, CW, f);
  cudaTextureObject_t t = point_texture(a, true);
  EXPECT(t != 0);
  float *d = NULL;
  RT(cudaMalloc(&d, n * sizeof(float)));
  sample_cube<<<dim3(CW, 6), CW>>>(t, d);
  RT(cudaGetLastError());
  RT(cudaMemcpy(out, d, n * sizeof(float), cudaMemcpyDeviceToHost));
  bool eq = !memcmp(out, h, n * sizeof(float));
  EXPECT(eq);
  printf("cubemap samples equal: %d checksum %016llx\n", eq, (unsigned long long)fnv64(out, n * sizeof(float)));
  cudaDestroyTextureObject(t);
  cudaFree(d);
  cudaFreeArray(a);
  free(h); free(out);
}

int main() {
  layered();
  cubemap();
  return finish();
}
