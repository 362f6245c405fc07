// 2D texture sampling from a CUDA array (issue 11 item 4): linear filtering with normalized coordinates,
// clamp and wrap addressing, compared with a CPU bilinear reference (the hardware filters with 8-bit
// fractional weights, so the tolerance is a small fraction of the value range). Prints checksums of the
// sampled values (identical natively and through the shim on the same GPU) and exits non-zero on a
// mismatch. Also reads the array back with cudaMemcpy2DFromArray, whole and as an offset region.
#include <math.h>

#include "common.h"

static const int W = 61, H = 37, OW = 97, OH = 53;

__global__ void sample(cudaTextureObject_t t, float *out, int ow, int oh, float scale, float shift) {
  int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= ow || y >= oh) return;
  float u = ((x + 0.5f) / ow) * scale + shift, v = ((y + 0.5f) / oh) * scale + shift;
  out[y * ow + x] = tex2D<float>(t, u, v);
}

static float texel(const float *img, int x, int y, bool wrap) {
  if (wrap) {
    x = ((x % W) + W) % W;
    y = ((y % H) + H) % H;
  } else {
    x = x < 0 ? 0 : x >= W ? W - 1 : x;
    y = y < 0 ? 0 : y >= H ? H - 1 : y;
  }
  return img[y * W + x];
}

// CUDA's linear filter: x_b = u*W - 0.5, i = floor(x_b), a = frac(x_b); wrap mode wraps u first.
static float bilinear(const float *img, float u, float v, bool wrap) {
  if (wrap) { u -= floorf(u); v -= floorf(v); }
  float xb = u * W - 0.5f, yb = v * H - 0.5f;
  int i = (int)floorf(xb), j = (int)floorf(yb);
  float a = xb - i, b = yb - j;
  return (1 - a) * (1 - b) * texel(img, i, j, wrap) + a * (1 - b) * texel(img, i + 1, j, wrap) +
         (1 - a) * b * texel(img, i, j + 1, wrap) + a * b * texel(img, i + 1, j + 1, wrap);
}

static void run(cudaArray_t arr, const float *img, bool wrap, float scale, float shift, const char *name) {
  SECTION(name);
  cudaTextureObject_t t = 0;
  RT(array_texture(&t, arr, cudaFilterModeLinear, 1, wrap ? cudaAddressModeWrap : cudaAddressModeClamp));
  cudaResourceDesc back;
  RT(cudaGetTextureObjectResourceDesc(&back, t));
  EXPECT(back.resType == cudaResourceTypeArray && back.res.array.array == arr);
  float *d = NULL, *h = (float *)malloc(OW * OH * sizeof(float));
  RT(cudaMalloc(&d, OW * OH * sizeof(float)));
  sample<<<dim3((OW + 15) / 16, (OH + 15) / 16), dim3(16, 16)>>>(t, d, OW, OH, scale, shift);
  RT(cudaGetLastError());
  RT(cudaMemcpy(h, d, OW * OH * sizeof(float), cudaMemcpyDeviceToHost));
  double max_err = 0;
  for (int y = 0; y < OH; y++)
    for (int x = 0; x < OW; x++) {
      float u = ((x + 0.5f) / OW) * scale + shift, v = ((y + 0.5f) / OH) * scale + shift;
      double e = fabs(h[y * OW + x] - bilinear(img, u, v, wrap));
      if (e > max_err) max_err = e;
    }
  EXPECT(max_err < 0.02);  // values in [0, 4): 8-bit weights give errors below 4/256
  printf("%s: max error below 0.02: %d\n", name, max_err < 0.02);
  printf("%s: checksum %016llx\n", name, (unsigned long long)fnv64(h, OW * OH * sizeof(float)));
  printf("# %s: max error %.6f\n", name, max_err);
  RT(cudaDestroyTextureObject(t));
  RT(cudaFree(d));
  free(h);
}

int main() {
  SECTION("array");
  float *img = (float *)malloc(W * H * sizeof(float)), *back = (float *)malloc(W * H * sizeof(float));
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) img[y * W + x] = 2.0f + sinf(x * 0.37f) + cosf(y * 0.23f) * 0.9f;
  cudaChannelFormatDesc cf = cudaCreateChannelDesc<float>();
  cudaArray_t arr = NULL;
  if (cudaMallocArray(&arr, &cf, W, H) != cudaSuccess) { printf("ERR array: cudaMallocArray\n"); return 1; }
  // host rows with a wider pitch than the array's rows
  size_t hp = (W + 3) * sizeof(float);
  float *padded = (float *)calloc(H, hp);
  for (int y = 0; y < H; y++) memcpy((char *)padded + y * hp, img + y * W, W * sizeof(float));
  if (cudaMemcpy2DToArray(arr, 0, 0, padded, hp, W * sizeof(float), H, cudaMemcpyHostToDevice) != cudaSuccess) {
    printf("ERR array: cudaMemcpy2DToArray\n");
    return 1;
  }
  cudaChannelFormatDesc got;
  cudaExtent ext;
  unsigned flags = 0;
  if (cudaArrayGetInfo(&got, &ext, &flags, arr) == cudaSuccess)
    printf("array info: x=%d f=%d w=%zu h=%zu d=%zu\n", got.x, (int)got.f, ext.width, ext.height, ext.depth);
  else { printf("ERR array: cudaArrayGetInfo\n"); g_errors++; }
  memset(back, 0, W * H * sizeof(float));
  if (cudaMemcpy2DFromArray(back, W * sizeof(float), arr, 0, 0, W * sizeof(float), H, cudaMemcpyDeviceToHost) == cudaSuccess) {
    EXPECT(!memcmp(back, img, W * H * sizeof(float)));
    printf("array round trip equal: %d\n", !memcmp(back, img, W * H * sizeof(float)));
  } else { printf("ERR array: cudaMemcpy2DFromArray\n"); g_errors++; }
  // a region: 9 elements from x 5, 4 rows from y 7
  float region[4 * 9];
  if (cudaMemcpy2DFromArray(region, 9 * sizeof(float), arr, 5 * sizeof(float), 7, 9 * sizeof(float), 4,
                            cudaMemcpyDeviceToHost) == cudaSuccess) {
    bool ok = true;
    for (int y = 0; y < 4; y++) ok &= !memcmp(region + y * 9, img + (y + 7) * W + 5, 9 * sizeof(float));
    EXPECT(ok);
    printf("array region equal: %d\n", ok);
  } else { printf("ERR array: cudaMemcpy2DFromArray (region)\n"); g_errors++; }
  run(arr, img, false, 1.0f, 0.0f, "tex2d.clamp");
  run(arr, img, false, 1.3f, -0.15f, "tex2d.clamp.outside");
  run(arr, img, true, 2.5f, 0.3f, "tex2d.wrap");
  cudaFreeArray(arr);
  free(img); free(back); free(padded);
  return finish();
}
