/* CUDA arrays, textures and surfaces through the shim against a real executor (emulated backend: arrays are
 * stored there, no kernel ever samples them, so every check reads data back with copies).
 *   array_test main          shapes (1D, 2D, 3D, layered, cubemap, mipmapped), copies in every direction
 *                            with offsets and pitches, chunking, descriptors, texture/surface objects,
 *                            errors, the memory limit, and a second session (child process)
 *   array_test child H       the second session: its own arrays under handle numbers up to H
 * The session memory limit is AVEC_TEST_LIMIT (bytes). */
#include <cuda.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../test.h"

#define OK(call) CHECK_EQ((call), CUDA_SUCCESS)

static uint64_t limit;

static CUDA_ARRAY3D_DESCRIPTOR desc3(size_t w, size_t h, size_t d, CUarray_format f, unsigned ch, unsigned flags) {
  CUDA_ARRAY3D_DESCRIPTOR a = {w, h, d, f, ch, flags};
  return a;
}

/* Host <-> array copy of a whole array given as a 3D region (2D: depth 1) with tight host rows. */
static CUresult copy3d(CUarray arr, void *host, size_t row, size_t rows, size_t slices, int to_array, CUstream s) {
  CUDA_MEMCPY3D c = {0};
  if (to_array) {
    c.srcMemoryType = CU_MEMORYTYPE_HOST; c.srcHost = host; c.srcPitch = row; c.srcHeight = rows;
    c.dstMemoryType = CU_MEMORYTYPE_ARRAY; c.dstArray = arr;
  } else {
    c.srcMemoryType = CU_MEMORYTYPE_ARRAY; c.srcArray = arr;
    c.dstMemoryType = CU_MEMORYTYPE_HOST; c.dstHost = host; c.dstPitch = row; c.dstHeight = rows;
  }
  c.WidthInBytes = row;
  c.Height = rows;
  c.Depth = slices;
  return s ? cuMemcpy3DAsync(&c, s) : cuMemcpy3D(&c);
}

static void test_1d(void) {
  CASE("1D array: create, descriptors, whole and partial copies (cuMemcpyHtoA/AtoH)");
  CUDA_ARRAY_DESCRIPTOR d = {1000, 0, CU_AD_FORMAT_FLOAT, 1};
  CUarray a = NULL;
  OK(cuArrayCreate(&a, &d));
  CUDA_ARRAY_DESCRIPTOR back;
  OK(cuArrayGetDescriptor(&back, a));
  CHECK(back.Width == 1000 && back.Height == 0 && back.Format == CU_AD_FORMAT_FLOAT && back.NumChannels == 1);
  CUDA_ARRAY3D_DESCRIPTOR b3;
  OK(cuArray3DGetDescriptor(&b3, a));
  CHECK(b3.Width == 1000 && b3.Height == 0 && b3.Depth == 0 && b3.Flags == 0);
  uint8_t in[4000], out[4000];
  fill(in, sizeof in, 1);
  OK(cuMemcpyHtoA(a, 0, in, sizeof in));
  memset(out, 0, sizeof out);
  OK(cuMemcpyAtoH(out, a, 0, sizeof out));
  CHECK(!memcmp(in, out, sizeof in));
  uint8_t part[400];
  fill(part, sizeof part, 2);
  OK(cuMemcpyHtoA(a, 1200, part, sizeof part));
  OK(cuMemcpyAtoH(out, a, 0, sizeof out));
  memcpy(in + 1200, part, sizeof part);
  CHECK(!memcmp(in, out, sizeof in));
  memset(out, 0, sizeof out);
  OK(cuMemcpyAtoH(out, a, 1196, 12)); /* straddles the written piece */
  CHECK(!memcmp(out, in + 1196, 12));

  CASE("1D array: device <-> array and array <-> array (cuMemcpyDtoA/AtoD/AtoA)");
  CUdeviceptr dp = 0;
  OK(cuMemAlloc(&dp, 4000));
  OK(cuMemcpyAtoD(dp, a, 0, 4000));
  memset(out, 0, sizeof out);
  OK(cuMemcpyDtoH(out, dp, 4000));
  CHECK(!memcmp(in, out, sizeof in));
  CUarray a2 = NULL;
  OK(cuArrayCreate(&a2, &d));
  OK(cuMemcpyAtoA(a2, 400, a, 800, 2000));
  memset(out, 0, sizeof out);
  OK(cuMemcpyAtoH(out, a2, 400, 2000));
  CHECK(!memcmp(out, in + 800, 2000));
  uint8_t z[64];
  fill(z, sizeof z, 3);
  OK(cuMemcpyHtoD(dp + 64, z, sizeof z));
  OK(cuMemcpyDtoA(a2, 4, dp + 64, sizeof z));
  OK(cuMemcpyAtoH(out, a2, 4, sizeof z));
  CHECK(!memcmp(out, z, sizeof z));

  CASE("1D array: out-of-range offsets and bad handles fail at once");
  CHECK_EQ(cuMemcpyHtoA(a, 3990, in, 16), CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(cuMemcpyAtoH(out, a, 4001, 1), CUDA_ERROR_INVALID_VALUE);
  OK(cuArrayDestroy(a2));
  CHECK_EQ(cuArrayDestroy(a2), CUDA_ERROR_INVALID_HANDLE);
  CHECK_EQ(cuMemcpyAtoH(out, a2, 0, 4), CUDA_ERROR_INVALID_HANDLE);
  CHECK_EQ(cuArrayGetDescriptor(&back, a2), CUDA_ERROR_INVALID_HANDLE);
  CHECK_EQ(cuArrayCreate(&a2, NULL), CUDA_ERROR_INVALID_VALUE);
  OK(cuMemFree(dp));
  OK(cuArrayDestroy(a));
  OK(cuCtxSynchronize());
}

static void test_2d(void) {
  CASE("2D array: pitched host rows in, partial region out (cuMemcpy2D)");
  const size_t W = 37, H = 23, E = 4; /* uchar4 */
  CUDA_ARRAY_DESCRIPTOR d = {W, H, CU_AD_FORMAT_UNSIGNED_INT8, 4};
  CUarray a = NULL;
  OK(cuArrayCreate(&a, &d));
  size_t hp = W * E + 24; /* host pitch wider than the rows */
  uint8_t *src = malloc(hp * H), *dst = malloc(W * E * H);
  fill(src, hp * H, 4);
  CUDA_MEMCPY2D c = {0};
  c.srcMemoryType = CU_MEMORYTYPE_HOST; c.srcHost = src; c.srcPitch = hp;
  c.dstMemoryType = CU_MEMORYTYPE_ARRAY; c.dstArray = a;
  c.WidthInBytes = W * E; c.Height = H;
  OK(cuMemcpy2D(&c));
  /* region (x 5..5+11 elements, y 3..3+9) out into a tight buffer */
  CUDA_MEMCPY2D r = {0};
  r.srcMemoryType = CU_MEMORYTYPE_ARRAY; r.srcArray = a; r.srcXInBytes = 5 * E; r.srcY = 3;
  r.dstMemoryType = CU_MEMORYTYPE_HOST; r.dstHost = dst; r.dstPitch = 11 * E;
  r.WidthInBytes = 11 * E; r.Height = 9;
  OK(cuMemcpy2D(&r));
  int same = 1;
  for (size_t y = 0; y < 9; y++) same &= !memcmp(dst + y * 11 * E, src + (y + 3) * hp + 5 * E, 11 * E);
  CHECK(same);

  CASE("2D array: into a pitched allocation, back from device memory, array to array (async)");
  CUdeviceptr dp = 0;
  size_t dpitch = 0;
  OK(cuMemAllocPitch(&dp, &dpitch, W * E, H, 4));
  CUstream s;
  OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  CUDA_MEMCPY2D ad = {0};
  ad.srcMemoryType = CU_MEMORYTYPE_ARRAY; ad.srcArray = a;
  ad.dstMemoryType = CU_MEMORYTYPE_DEVICE; ad.dstDevice = dp; ad.dstPitch = dpitch;
  ad.WidthInBytes = W * E; ad.Height = H;
  OK(cuMemcpy2DAsync(&ad, s));
  CUarray b = NULL;
  OK(cuArrayCreate(&b, &d));
  CUDA_MEMCPY2D da = {0}; /* device rows 2.. into the array at row 0, element 1.. */
  da.srcMemoryType = CU_MEMORYTYPE_DEVICE; da.srcDevice = dp; da.srcPitch = dpitch; da.srcY = 2;
  da.dstMemoryType = CU_MEMORYTYPE_ARRAY; da.dstArray = b; da.dstXInBytes = E;
  da.WidthInBytes = (W - 1) * E; da.Height = H - 2;
  OK(cuMemcpy2DAsync(&da, s));
  CUDA_MEMCPY2D aa = {0}; /* array b row 0 -> array a row H-1 */
  aa.srcMemoryType = CU_MEMORYTYPE_ARRAY; aa.srcArray = b;
  aa.dstMemoryType = CU_MEMORYTYPE_ARRAY; aa.dstArray = a; aa.dstY = H - 1;
  aa.WidthInBytes = W * E; aa.Height = 1;
  OK(cuMemcpy2DAsync(&aa, s));
  OK(cuStreamSynchronize(s));
  uint8_t *all = malloc(W * E * H);
  OK(copy3d(a, all, W * E, H, 1, 0, NULL));
  same = 1;
  for (size_t y = 0; y + 1 < H; y++) same &= !memcmp(all + y * W * E, src + y * hp, W * E);
  CHECK(same);
  /* last row: b's row 0 = (element 0 untouched = 0) then source row 2 elements 0..W-2 */
  uint8_t *last = all + (H - 1) * W * E;
  CHECK(last[0] == 0 && last[1] == 0 && last[2] == 0 && last[3] == 0);
  CHECK(!memcmp(last + E, src + 2 * hp, (W - 1) * E));

  CASE("2D array: regions outside the array fail at once");
  r.srcXInBytes = (W - 10) * E; /* 11 elements from W-10: one past the row */
  CHECK_EQ(cuMemcpy2D(&r), CUDA_ERROR_INVALID_VALUE);
  r.srcXInBytes = 0;
  r.srcY = H - 8; /* 9 rows from H-8 */
  CHECK_EQ(cuMemcpy2D(&r), CUDA_ERROR_INVALID_VALUE);
  ad.dstPitch = W * E - 4; /* device rows narrower than the copy */
  CHECK_EQ(cuMemcpy2D(&ad), CUDA_ERROR_INVALID_VALUE);
  ad.dstPitch = dpitch;
  ad.dstY = 1; /* one row past the allocation */
  CHECK_EQ(cuMemcpy2D(&ad), CUDA_ERROR_INVALID_VALUE);
  OK(cuCtxSynchronize()); /* nothing bad reached the server */
  OK(cuStreamDestroy(s));
  OK(cuArrayDestroy(b));
  OK(cuArrayDestroy(a));
  OK(cuMemFree(dp));
  free(src); free(dst); free(all);
}

static void test_3d(void) {
  CASE("3D array: padded host slices in, whole and partial out (cuMemcpy3D, async)");
  const size_t W = 16, H = 8, D = 5, E = 8; /* float2 */
  CUDA_ARRAY3D_DESCRIPTOR d = desc3(W, H, D, CU_AD_FORMAT_FLOAT, 2, 0);
  CUarray a = NULL;
  OK(cuArray3DCreate(&a, &d));
  CUDA_ARRAY3D_DESCRIPTOR back;
  OK(cuArray3DGetDescriptor(&back, a));
  CHECK(!memcmp(&back, &d, sizeof d));
  size_t hp = W * E + 16, hh = H + 3;
  uint8_t *src = calloc(hp * hh * D, 1), *out = calloc(W * E * H * D, 1);
  fill(src, hp * hh * D, 5);
  CUDA_MEMCPY3D c = {0};
  c.srcMemoryType = CU_MEMORYTYPE_HOST; c.srcHost = src; c.srcPitch = hp; c.srcHeight = hh;
  c.dstMemoryType = CU_MEMORYTYPE_ARRAY; c.dstArray = a;
  c.WidthInBytes = W * E; c.Height = H; c.Depth = D;
  CUstream s;
  OK(cuStreamCreate(&s, 0));
  OK(cuMemcpy3DAsync(&c, s));
  OK(cuStreamSynchronize(s));
  OK(copy3d(a, out, W * E, H, D, 0, NULL));
  int same = 1;
  for (size_t z = 0; z < D; z++)
    for (size_t y = 0; y < H; y++) same &= !memcmp(out + (z * H + y) * W * E, src + (z * hh + y) * hp, W * E);
  CHECK(same);
  /* region x 3..3+7, y 2..2+5, z 1..1+3 into a host buffer at offset (x 1, y 1, z 0) of a 10x8x3 box */
  uint8_t box[10 * 8 * 8 * 3];
  memset(box, 0xee, sizeof box);
  CUDA_MEMCPY3D r = {0};
  r.srcMemoryType = CU_MEMORYTYPE_ARRAY; r.srcArray = a; r.srcXInBytes = 3 * E; r.srcY = 2; r.srcZ = 1;
  r.dstMemoryType = CU_MEMORYTYPE_HOST; r.dstHost = box; r.dstPitch = 10 * E; r.dstHeight = 8;
  r.dstXInBytes = E; r.dstY = 1;
  r.WidthInBytes = 7 * E; r.Height = 5; r.Depth = 3;
  OK(cuMemcpy3D(&r));
  same = 1;
  for (size_t z = 0; z < 3; z++)
    for (size_t y = 0; y < 5; y++)
      same &= !memcmp(box + (z * 8 + y + 1) * 10 * E + E, src + ((z + 1) * hh + y + 2) * hp + 3 * E, 7 * E);
  CHECK(same);
  CHECK(box[0] == 0xee && box[10 * E * 8 * 3 - 1] == 0xee); /* outside the region: untouched */

  CASE("3D array: a box past the host row or slice is refused as by the driver (F22), nothing written");
  /* cudaMemcpy3D passes the linear side's x in array elements scaled to bytes: 4 elements into 10-element
   * rows with 7 wide ends past the row (pitch < WidthInBytes + dstXInBytes), which the driver refuses */
  uint8_t before[sizeof box];
  memcpy(before, box, sizeof box);
  CUDA_MEMCPY3D past = r;
  past.dstXInBytes = 4 * E;
  CHECK_EQ(cuMemcpy3D(&past), CUDA_ERROR_INVALID_VALUE);
  past = r;
  past.dstY = 4; /* 5 rows from 4 in slices of 8 */
  CHECK_EQ(cuMemcpy3D(&past), CUDA_ERROR_INVALID_VALUE);
  CHECK(!memcmp(before, box, sizeof box));
  past = c; /* host to array: the source rows too */
  past.srcXInBytes = hp - W * E + 1;
  CHECK_EQ(cuMemcpy3D(&past), CUDA_ERROR_INVALID_VALUE);
  past.srcXInBytes = hp - W * E; /* exactly fits */
  past.Depth = 1;
  OK(cuMemcpy3D(&past));
  OK(cuMemcpy3D(&c)); /* the array as the next case expects it */
  CUDA_MEMCPY2D row2 = {0}; /* the same rule for 2D copies of linear memory */
  row2.srcMemoryType = CU_MEMORYTYPE_HOST; row2.srcHost = src; row2.srcPitch = hp;
  row2.dstMemoryType = CU_MEMORYTYPE_HOST; row2.dstHost = box; row2.dstPitch = 10 * E; row2.dstXInBytes = 4 * E;
  row2.WidthInBytes = 7 * E; row2.Height = 2;
  CHECK_EQ(cuMemcpy2D(&row2), CUDA_ERROR_INVALID_VALUE);

  CASE("3D array: device <-> array both ways, depth out of range fails");
  CUdeviceptr dp = 0;
  OK(cuMemAlloc(&dp, W * E * H * D));
  CUDA_MEMCPY3D ad = {0};
  ad.srcMemoryType = CU_MEMORYTYPE_ARRAY; ad.srcArray = a;
  ad.dstMemoryType = CU_MEMORYTYPE_DEVICE; ad.dstDevice = dp; ad.dstPitch = W * E; ad.dstHeight = H;
  ad.WidthInBytes = W * E; ad.Height = H; ad.Depth = D;
  OK(cuMemcpy3D(&ad));
  uint8_t *lin = malloc(W * E * H * D);
  OK(cuMemcpyDtoH(lin, dp, W * E * H * D));
  CHECK(!memcmp(lin, out, W * E * H * D));
  CUarray b = NULL;
  OK(cuArray3DCreate(&b, &d));
  CUDA_MEMCPY3D da = ad;
  da.srcMemoryType = CU_MEMORYTYPE_DEVICE; da.srcDevice = dp; da.srcPitch = W * E; da.srcHeight = H;
  da.srcArray = NULL;
  da.dstMemoryType = CU_MEMORYTYPE_ARRAY; da.dstArray = b; da.dstDevice = 0;
  OK(cuMemcpy3D(&da));
  memset(lin, 0, W * E * H * D);
  OK(copy3d(b, lin, W * E, H, D, 0, NULL));
  CHECK(!memcmp(lin, out, W * E * H * D));
  r.srcZ = 3; /* 3 slices from 3: past depth 5 */
  CHECK_EQ(cuMemcpy3D(&r), CUDA_ERROR_INVALID_VALUE);
  ad.Depth = D + 1;
  CHECK_EQ(cuMemcpy3D(&ad), CUDA_ERROR_INVALID_VALUE);
  CUDA_MEMCPY3D lod = r;
  lod.srcZ = 0;
  lod.srcLOD = 1;
  CHECK_EQ(cuMemcpy3D(&lod), CUDA_ERROR_INVALID_VALUE);
  OK(cuStreamDestroy(s));
  OK(cuArrayDestroy(a));
  OK(cuArrayDestroy(b));
  OK(cuMemFree(dp));
  free(src); free(out); free(lin);
}

static void test_layered(void) {
  CASE("layered, cubemap and layered cubemap arrays: one layer at a time");
  struct { size_t w, h, d; unsigned flags; } shapes[] = {
      {24, 0, 3, CUDA_ARRAY3D_LAYERED},                         /* 1D layered */
      {20, 12, 4, CUDA_ARRAY3D_LAYERED},                        /* 2D layered */
      {16, 16, 6, CUDA_ARRAY3D_CUBEMAP},                        /* cubemap */
      {8, 8, 12, CUDA_ARRAY3D_CUBEMAP | CUDA_ARRAY3D_LAYERED},  /* 2 layered cubemaps */
  };
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    CUDA_ARRAY3D_DESCRIPTOR d = desc3(shapes[i].w, shapes[i].h, shapes[i].d, CU_AD_FORMAT_HALF, 1, shapes[i].flags);
    CUarray a = NULL;
    OK(cuArray3DCreate(&a, &d));
    size_t row = shapes[i].w * 2, rows = shapes[i].h ? shapes[i].h : 1, layers = shapes[i].d;
    uint8_t *all = malloc(row * rows * layers), *one = malloc(row * rows);
    fill(all, row * rows * layers, 10 + (unsigned)i);
    for (size_t l = 0; l < layers; l++) { /* each layer written on its own, at z = l */
      CUDA_MEMCPY3D c = {0};
      c.srcMemoryType = CU_MEMORYTYPE_HOST; c.srcHost = all + l * row * rows; c.srcPitch = row; c.srcHeight = rows;
      c.dstMemoryType = CU_MEMORYTYPE_ARRAY; c.dstArray = a; c.dstZ = l;
      c.WidthInBytes = row; c.Height = rows; c.Depth = 1;
      OK(cuMemcpy3D(&c));
    }
    int same = 1;
    for (size_t l = layers; l-- > 0;) { /* and read back in the other order */
      CUDA_MEMCPY3D c = {0};
      c.srcMemoryType = CU_MEMORYTYPE_ARRAY; c.srcArray = a; c.srcZ = l;
      c.dstMemoryType = CU_MEMORYTYPE_HOST; c.dstHost = one; c.dstPitch = row; c.dstHeight = rows;
      c.WidthInBytes = row; c.Height = rows; c.Depth = 1;
      OK(cuMemcpy3D(&c));
      same &= !memcmp(one, all + l * row * rows, row * rows);
    }
    CHECK(same);
    CUDA_ARRAY3D_DESCRIPTOR back;
    OK(cuArray3DGetDescriptor(&back, a));
    CHECK(!memcmp(&back, &d, sizeof d));
    OK(cuArrayDestroy(a));
    free(all); free(one);
  }
  CASE("cubemap shapes the driver refuses are refused");
  CUarray a = NULL;
  CUDA_ARRAY3D_DESCRIPTOR bad = desc3(16, 8, 6, CU_AD_FORMAT_FLOAT, 1, CUDA_ARRAY3D_CUBEMAP); /* not square */
  CHECK(cuArray3DCreate(&a, &bad) != CUDA_SUCCESS);
  bad = desc3(16, 16, 7, CU_AD_FORMAT_FLOAT, 1, CUDA_ARRAY3D_CUBEMAP | CUDA_ARRAY3D_LAYERED); /* not 6n faces */
  CHECK(cuArray3DCreate(&a, &bad) != CUDA_SUCCESS);
  bad = desc3(16, 16, 1, CU_AD_FORMAT_FLOAT, 3, 0); /* three channels */
  CHECK(cuArray3DCreate(&a, &bad) != CUDA_SUCCESS);
}

static void test_mipmap(void) {
  CASE("mipmapped array: levels, their descriptors, data per level");
  CUDA_ARRAY3D_DESCRIPTOR d = desc3(64, 32, 0, CU_AD_FORMAT_UNSIGNED_INT16, 2, 0);
  CUmipmappedArray m = NULL;
  OK(cuMipmappedArrayCreate(&m, &d, 4));
  CUarray lv[4] = {0};
  for (unsigned l = 0; l < 4; l++) {
    OK(cuMipmappedArrayGetLevel(&lv[l], m, l));
    CUDA_ARRAY3D_DESCRIPTOR ld;
    OK(cuArray3DGetDescriptor(&ld, lv[l]));
    CHECK(ld.Width == (64u >> l) && ld.Height == (32u >> l) && ld.Depth == 0 && ld.NumChannels == 2 &&
          ld.Format == CU_AD_FORMAT_UNSIGNED_INT16);
  }
  CUarray again = NULL;
  OK(cuMipmappedArrayGetLevel(&again, m, 2));
  CHECK(again == lv[2]);
  CHECK_EQ(cuMipmappedArrayGetLevel(&again, m, 4), CUDA_ERROR_INVALID_VALUE);
  uint8_t in[4][64 * 4 * 32], out[64 * 4 * 32];
  for (unsigned l = 0; l < 4; l++) {
    fill(in[l], sizeof in[l], 20 + l);
    OK(copy3d(lv[l], in[l], (64u >> l) * 4, 32u >> l, 1, 1, NULL));
  }
  int same = 1;
  for (unsigned l = 0; l < 4; l++) {
    memset(out, 0, sizeof out);
    OK(copy3d(lv[l], out, (64u >> l) * 4, 32u >> l, 1, 0, NULL));
    same &= !memcmp(out, in[l], (64u >> l) * 4 * (32u >> l));
  }
  CHECK(same);
  CHECK_EQ(cuArrayDestroy(lv[1]), CUDA_ERROR_INVALID_VALUE); /* a level goes with its mipmapped array */

  CASE("mipmapped array: texture over all levels; destroyed with its levels");
  CUDA_RESOURCE_DESC rd = {0};
  rd.resType = CU_RESOURCE_TYPE_MIPMAPPED_ARRAY;
  rd.res.mipmap.hMipmappedArray = m;
  CUDA_TEXTURE_DESC td = {0};
  td.filterMode = CU_TR_FILTER_MODE_LINEAR;
  td.mipmapFilterMode = CU_TR_FILTER_MODE_LINEAR;
  td.maxMipmapLevelClamp = 3.0f;
  td.flags = CU_TRSF_NORMALIZED_COORDINATES;
  CUtexObject t = 0;
  OK(cuTexObjectCreate(&t, &rd, &td, NULL));
  CUDA_RESOURCE_DESC rback;
  OK(cuTexObjectGetResourceDesc(&rback, t));
  CHECK(rback.resType == CU_RESOURCE_TYPE_MIPMAPPED_ARRAY && rback.res.mipmap.hMipmappedArray == m);
  OK(cuTexObjectDestroy(t));
  OK(cuMipmappedArrayDestroy(m));
  CHECK_EQ(cuMipmappedArrayDestroy(m), CUDA_ERROR_INVALID_HANDLE);
  CHECK_EQ(copy3d(lv[0], out, 64 * 4, 32, 1, 0, NULL), CUDA_ERROR_INVALID_HANDLE);
  OK(cuCtxSynchronize());
}

static void test_big(void) {
  CASE("arrays larger than a chunk: 2D (whole slices) and 3D (slices larger than a chunk) round trips");
  CUDA_ARRAY3D_DESCRIPTOR d2 = desc3(1024, 1300, 0, CU_AD_FORMAT_FLOAT, 4, 0); /* 20.3 MiB */
  CUDA_ARRAY3D_DESCRIPTOR d3 = desc3(520, 530, 3, CU_AD_FORMAT_FLOAT, 4, 0);   /* 4.2 MiB slices */
  CUDA_ARRAY3D_DESCRIPTOR *ds[] = {&d2, &d3};
  for (int i = 0; i < 2; i++) {
    CUarray a = NULL;
    OK(cuArray3DCreate(&a, ds[i]));
    size_t row = ds[i]->Width * 16, rows = ds[i]->Height, slices = ds[i]->Depth ? ds[i]->Depth : 1, n = row * rows * slices;
    uint8_t *in = malloc(n), *out = malloc(n);
    fill(in, n, 30 + (unsigned)i);
    OK(copy3d(a, in, row, rows, slices, 1, NULL));
    memset(out, 0, n);
    OK(copy3d(a, out, row, rows, slices, 0, NULL));
    CHECK(!memcmp(in, out, n));
    OK(cuArrayDestroy(a));
    free(in); free(out);
  }
}

static void test_objects(void) {
  CASE("texture objects: array, linear and pitch2D resources; descriptors returned as given");
  CUDA_ARRAY3D_DESCRIPTOR d = desc3(32, 16, 0, CU_AD_FORMAT_FLOAT, 1, CUDA_ARRAY3D_SURFACE_LDST);
  CUarray a = NULL;
  OK(cuArray3DCreate(&a, &d));
  CUDA_RESOURCE_DESC rd = {0};
  rd.resType = CU_RESOURCE_TYPE_ARRAY;
  rd.res.array.hArray = a;
  CUDA_TEXTURE_DESC td = {0};
  td.addressMode[0] = CU_TR_ADDRESS_MODE_CLAMP;
  td.addressMode[1] = CU_TR_ADDRESS_MODE_WRAP;
  td.filterMode = CU_TR_FILTER_MODE_LINEAR;
  td.flags = CU_TRSF_NORMALIZED_COORDINATES;
  td.borderColor[2] = 0.5f;
  CUDA_RESOURCE_VIEW_DESC vd = {0};
  vd.format = CU_RES_VIEW_FORMAT_FLOAT_1X32;
  vd.width = 32;
  vd.height = 16;
  CUtexObject t1 = 0, t2 = 0;
  OK(cuTexObjectCreate(&t1, &rd, &td, &vd));
  OK(cuTexObjectCreate(&t2, &rd, &td, NULL));
  CHECK(t1 != 0 && t2 != 0 && t1 != t2);
  CUDA_RESOURCE_DESC rb;
  CUDA_TEXTURE_DESC tb;
  CUDA_RESOURCE_VIEW_DESC vb;
  OK(cuTexObjectGetResourceDesc(&rb, t1));
  CHECK(!memcmp(&rb, &rd, sizeof rd));
  OK(cuTexObjectGetTextureDesc(&tb, t1));
  CHECK(!memcmp(&tb, &td, sizeof td));
  OK(cuTexObjectGetResourceViewDesc(&vb, t1));
  CHECK(!memcmp(&vb, &vd, sizeof vd));
  CHECK_EQ(cuTexObjectGetResourceViewDesc(&vb, t2), CUDA_ERROR_INVALID_VALUE); /* made without a view */

  CUdeviceptr dp = 0;
  size_t pitch = 0;
  OK(cuMemAllocPitch(&dp, &pitch, 64 * 8, 10, 4));
  CUDA_RESOURCE_DESC lin = {0};
  lin.resType = CU_RESOURCE_TYPE_LINEAR;
  lin.res.linear.devPtr = dp;
  lin.res.linear.format = CU_AD_FORMAT_FLOAT;
  lin.res.linear.numChannels = 2;
  lin.res.linear.sizeInBytes = 64 * 8;
  CUtexObject t3 = 0, t4 = 0;
  OK(cuTexObjectCreate(&t3, &lin, &td, NULL));
  CUDA_RESOURCE_DESC p2 = {0};
  p2.resType = CU_RESOURCE_TYPE_PITCH2D;
  p2.res.pitch2D.devPtr = dp;
  p2.res.pitch2D.format = CU_AD_FORMAT_FLOAT;
  p2.res.pitch2D.numChannels = 2;
  p2.res.pitch2D.width = 64;
  p2.res.pitch2D.height = 10;
  p2.res.pitch2D.pitchInBytes = pitch;
  OK(cuTexObjectCreate(&t4, &p2, &td, NULL));
  OK(cuTexObjectGetResourceDesc(&rb, t4));
  CHECK(!memcmp(&rb, &p2, sizeof p2));

  CASE("texture objects: a resource may span past its allocation (as the driver allows), not start outside");
  lin.res.linear.sizeInBytes = pitch * 10 + 4096; /* past the allocation: convolutionFFT2D does this */
  CUtexObject past = 0, bad = 0;
  OK(cuTexObjectCreate(&past, &lin, &td, NULL));
  OK(cuTexObjectDestroy(past));
  p2.res.pitch2D.height = 11;
  OK(cuTexObjectCreate(&past, &p2, &td, NULL));
  OK(cuTexObjectDestroy(past));
  CUdeviceptr gone = 0;
  OK(cuMemAlloc(&gone, 4096));
  OK(cuMemFree(gone));
  lin.res.linear.devPtr = gone; /* no longer this session's */
  CHECK_EQ(cuTexObjectCreate(&bad, &lin, &td, NULL), CUDA_ERROR_INVALID_VALUE);
  lin.res.linear.devPtr = dp;
  CHECK_EQ(cuTexObjectCreate(&bad, &rd, NULL, NULL), CUDA_ERROR_INVALID_VALUE);

  CASE("surface objects: an array made for surface load/store; others refused");
  CUsurfObject s1 = 0;
  OK(cuSurfObjectCreate(&s1, &rd));
  OK(cuSurfObjectGetResourceDesc(&rb, s1));
  CHECK(!memcmp(&rb, &rd, sizeof rd));
  CUarray plain = NULL;
  CUDA_ARRAY3D_DESCRIPTOR pd = desc3(8, 8, 0, CU_AD_FORMAT_FLOAT, 1, 0);
  OK(cuArray3DCreate(&plain, &pd));
  CUDA_RESOURCE_DESC prd = rd;
  prd.res.array.hArray = plain;
  CUsurfObject s2 = 0;
  CHECK(cuSurfObjectCreate(&s2, &prd) != CUDA_SUCCESS);
  CHECK_EQ(cuSurfObjectCreate(&s2, &lin), CUDA_ERROR_INVALID_VALUE);

  CASE("texture and surface objects: destroy, then stale values and handles");
  OK(cuTexObjectDestroy(t1));
  CHECK_EQ(cuTexObjectDestroy(t1), CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(cuTexObjectGetResourceDesc(&rb, t1), CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(cuSurfObjectDestroy(t2), CUDA_ERROR_INVALID_VALUE); /* a texture value is not a surface */
  OK(cuTexObjectDestroy(t2));
  OK(cuTexObjectDestroy(t3));
  OK(cuTexObjectDestroy(t4));
  OK(cuSurfObjectDestroy(s1));
  OK(cuArrayDestroy(plain));
  OK(cuArrayDestroy(a));
  CHECK_EQ(cuTexObjectCreate(&bad, &rd, &td, NULL), CUDA_ERROR_INVALID_HANDLE); /* the array is gone */
  OK(cuMemFree(dp));
  OK(cuCtxSynchronize());

  CASE("not offered: sparse, planes, memory requirements, texture references");
  CUarray x = NULL;
  OK(cuArray3DCreate(&x, &pd));
  CUarray plane = NULL;
  CHECK_EQ(cuArrayGetPlane(&plane, x, 0), CUDA_ERROR_NOT_SUPPORTED);
  CUDA_ARRAY_SPARSE_PROPERTIES sp;
  CHECK_EQ(cuArrayGetSparseProperties(&sp, x), CUDA_ERROR_NOT_SUPPORTED);
  CUDA_ARRAY_MEMORY_REQUIREMENTS mr;
  CHECK_EQ(cuArrayGetMemoryRequirements(&mr, x, 0), CUDA_ERROR_NOT_SUPPORTED);
  CUtexref tr = NULL;
  CHECK_EQ(cuTexRefCreate(&tr), CUDA_ERROR_NOT_SUPPORTED);
  OK(cuArrayDestroy(x));
}

static void test_limit(void) {
  CASE("arrays count against the session's memory limit");
  size_t f0 = 0, f1 = 0, f2 = 0, tot = 0;
  OK(cuMemGetInfo(&f0, &tot));
  CUDA_ARRAY3D_DESCRIPTOR d = desc3(1024, 1024, 0, CU_AD_FORMAT_FLOAT, 4, 0); /* 16 MiB */
  CUarray a = NULL;
  OK(cuArray3DCreate(&a, &d));
  OK(cuMemGetInfo(&f1, &tot));
  CHECK(f0 - f1 >= (16u << 20));
  CUDA_ARRAY3D_DESCRIPTOR huge = desc3(4096, 4096, 0, CU_AD_FORMAT_FLOAT, 4, 0); /* 256 MiB: the whole limit */
  CUarray h = NULL;
  CHECK_EQ(cuArray3DCreate(&h, &huge), CUDA_ERROR_OUT_OF_MEMORY);
  CUmipmappedArray m = NULL;
  CHECK_EQ(cuMipmappedArrayCreate(&m, &huge, 2), CUDA_ERROR_OUT_OF_MEMORY);
  OK(cuArrayDestroy(a));
  OK(cuMemGetInfo(&f2, &tot));
  CHECK_EQ(f2, f0);
}

/* The wire handle of an array (test-only knowledge of the shim's handle object: magic, then handle). */
static uint32_t wire_handle(CUarray a) { return ((const uint32_t *)(const void *)a)[1]; }

/* The second session: makes arrays until its handle numbers reach `upto` (so it holds every number the
 * first session's live arrays have), fills them all, and must read its own data back. */
static int run_child(uint32_t upto) {
  CASE("second session: its own arrays under the first session's handle numbers");
  OK(cuInit(0));
  CUcontext c;
  OK(cuDevicePrimaryCtxRetain(&c, 0));
  OK(cuCtxSetCurrent(c));
  CUDA_ARRAY_DESCRIPTOR d = {256, 0, CU_AD_FORMAT_UNSIGNED_INT8, 1};
  CUarray a[4096];
  int n = 0;
  uint8_t in[256], out[256];
  fill(in, sizeof in, 77);
  do {
    if (cuArrayCreate(&a[n], &d) != CUDA_SUCCESS) break;
    cuMemcpyHtoA(a[n], 0, in, sizeof in);
  } while (wire_handle(a[n++]) < upto && n < 4096);
  CHECK(n > 0 && wire_handle(a[n - 1]) >= upto);
  int same = 1;
  for (int i = 0; i < n; i++) {
    OK(cuMemcpyAtoH(out, a[i], 0, sizeof out));
    same &= !memcmp(in, out, sizeof in);
    OK(cuArrayDestroy(a[i]));
  }
  CHECK(same);
  OK(cuDevicePrimaryCtxRelease(0));
  return TEST_SUMMARY("shim arrays child");
}

static void test_sessions(const char *self) {
  CASE("two sessions: an array of one is untouched by the other's arrays under the same handles");
  CUDA_ARRAY_DESCRIPTOR d = {256, 0, CU_AD_FORMAT_UNSIGNED_INT8, 1};
  CUarray mine[4];
  uint8_t in[4][256], out[256];
  for (int i = 0; i < 4; i++) { /* several, so the child's first handles are live here too */
    OK(cuArrayCreate(&mine[i], &d));
    fill(in[i], 256, 50 + (unsigned)i);
    OK(cuMemcpyHtoA(mine[i], 0, in[i], 256));
  }
  char upto[16];
  snprintf(upto, sizeof upto, "%u", wire_handle(mine[3]));
  pid_t pid = fork();
  if (pid == 0) {
    execl(self, self, "child", upto, (char *)NULL);
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  int same = 1;
  for (int i = 0; i < 4; i++) {
    OK(cuMemcpyAtoH(out, mine[i], 0, 256));
    same &= !memcmp(out, in[i], 256);
    OK(cuArrayDestroy(mine[i]));
  }
  CHECK(same);
}

int main(int argc, char **argv) {
  const char *l = getenv("AVEC_TEST_LIMIT");
  limit = l ? strtoull(l, NULL, 10) : 268435456ull;
  if (argc == 3 && !strcmp(argv[1], "child")) return run_child((uint32_t)strtoul(argv[2], NULL, 10));
  if (argc != 2 || strcmp(argv[1], "main")) {
    fprintf(stderr, "usage: array_test main | child HANDLE\n");
    return 2;
  }
  CASE("init");
  OK(cuInit(0));
  CUcontext c;
  OK(cuDevicePrimaryCtxRetain(&c, 0));
  OK(cuCtxSetCurrent(c));
  test_1d();
  test_2d();
  test_3d();
  test_layered();
  test_mipmap();
  test_big();
  test_objects();
  test_limit();
  test_sessions(argv[0]);
  OK(cuCtxSynchronize());
  OK(cuDevicePrimaryCtxRelease(0));
  return TEST_SUMMARY("shim arrays");
}
