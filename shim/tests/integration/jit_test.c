/* JIT linking and stream attributes through the shim against a real executor (emulated backend). The
 * emulated device has no linker: everything around it is checked (link states, inputs in parts, files,
 * options, logs written back into the program's buffers, bounds, errors), and cuLinkComplete must be
 * refused with the reason in the error log. Stream attributes are the emulated device's record of them.
 *   jit_test main */
#include <cuda.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../test.h"

#define OK(call) CHECK_EQ((call), CUDA_SUCCESS)

/* per-thread default stream variants (cuda.h declares them only under CUDA_API_PER_THREAD_DEFAULT_STREAM) */
CUresult cuStreamSetAttribute_ptsz(CUstream s, CUstreamAttrID a, const CUstreamAttrValue *v);
CUresult cuStreamGetAttribute_ptsz(CUstream s, CUstreamAttrID a, CUstreamAttrValue *v);

static const char kPtx[] = ".version 8.0\n.target sm_90\n.address_size 64\n.visible .entry k() { ret; }\n";

static void test_link(void) {
  CASE("cuLinkCreate with the ptxjit options; inputs as data, in parts, and from files");
  static char info[1024], error[1024];
  float wall = 0;
  CUjit_option opt[6] = {CU_JIT_WALL_TIME, CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES,
                         CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES, CU_JIT_LOG_VERBOSE};
  void *val[6] = {&wall, info, (void *)(uintptr_t)sizeof info, error, (void *)(uintptr_t)sizeof error, (void *)1};
  CUlinkState st = NULL;
  OK(cuLinkCreate(6, opt, val, &st));
  CHECK(st != NULL);
  OK(cuLinkAddData(st, CU_JIT_INPUT_PTX, (void *)kPtx, sizeof kPtx, "k.ptx", 0, NULL, NULL));
  CUjit_option per[1] = {CU_JIT_OPTIMIZATION_LEVEL};
  void *perv[1] = {(void *)(uintptr_t)3};
  OK(cuLinkAddData(st, CU_JIT_INPUT_PTX, (void *)kPtx, sizeof kPtx, NULL, 1, per, perv));
  size_t big = 9u << 20; /* three parts of at most 4 MiB */
  uint8_t *blob = malloc(big);
  CHECK(blob != NULL);
  memset(blob, 0x7f, big);
  OK(cuLinkAddData(st, CU_JIT_INPUT_CUBIN, blob, big, "big.cubin", 0, NULL, NULL));
  free(blob);
  char path[] = "/tmp/avec-jit-test-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0 && write(fd, kPtx, strlen(kPtx)) == (ssize_t)strlen(kPtx)); /* no NUL in the file */
  close(fd);
  OK(cuLinkAddFile(st, CU_JIT_INPUT_PTX, path, 0, NULL, NULL));
  unlink(path);
  CHECK_EQ(cuLinkAddFile(st, CU_JIT_INPUT_PTX, path, 0, NULL, NULL), CUDA_ERROR_FILE_NOT_FOUND);

  CASE("the emulated device has no linker: cuLinkComplete is refused, the reason in the program's error log");
  void *cubin = (void *)1;
  size_t size = 7;
  CHECK_EQ(cuLinkComplete(st, &cubin, &size), CUDA_ERROR_NOT_SUPPORTED);
  CHECK(strstr(error, "no JIT linker") != NULL);
  CHECK_EQ((size_t)(uintptr_t)val[4], strlen(error)); /* OUT: bytes of the error log filled */
  CHECK_EQ(info[0], 0);
  CHECK(cubin == (void *)1 && size == 7); /* nothing made up */
  OK(cuCtxSynchronize());

  CASE("link errors: bad inputs and options, unknown and destroyed states");
  CHECK_EQ(cuLinkAddData(st, CU_JIT_INPUT_PTX, (void *)kPtx, 0, NULL, 0, NULL, NULL), CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(cuLinkAddData(st, (CUjitInputType)99, (void *)kPtx, sizeof kPtx, NULL, 0, NULL, NULL),
           CUDA_ERROR_INVALID_VALUE);
  CUjit_option logopt[1] = {CU_JIT_INFO_LOG_BUFFER}; /* cuLinkCreate only */
  void *logv[1] = {info};
  CHECK_EQ(cuLinkAddData(st, CU_JIT_INPUT_PTX, (void *)kPtx, sizeof kPtx, NULL, 1, logopt, logv),
           CUDA_ERROR_INVALID_VALUE);
  CUjit_option bad[1] = {(CUjit_option)999};
  CHECK_EQ(cuLinkAddData(st, CU_JIT_INPUT_PTX, (void *)kPtx, sizeof kPtx, NULL, 1, bad, perv), CUDA_ERROR_INVALID_VALUE);
  CUjit_option syms[2] = {CU_JIT_GLOBAL_SYMBOL_COUNT, CU_JIT_GLOBAL_SYMBOL_NAMES}; /* host arrays never cross */
  void *symv[2] = {(void *)1, (void *)info};
  CUlinkState other = NULL;
  CHECK_EQ(cuLinkCreate(2, syms, symv, &other), CUDA_ERROR_NOT_SUPPORTED);
  CHECK_EQ(cuLinkComplete((CUlinkState)(uintptr_t)0x1234, &cubin, &size), CUDA_ERROR_INVALID_HANDLE);
  OK(cuLinkDestroy(st));
  CHECK_EQ(cuLinkAddData(st, CU_JIT_INPUT_PTX, (void *)kPtx, sizeof kPtx, NULL, 0, NULL, NULL),
           CUDA_ERROR_INVALID_HANDLE);
  OK(cuCtxSynchronize());

  CASE("at most 64 link states live at once; destroying frees them");
  CUlinkState many[65];
  int made = 0;
  while (made < 65 && cuLinkCreate(0, NULL, NULL, &many[made]) == CUDA_SUCCESS) made++;
  CHECK_EQ(made, 64);
  for (int i = 0; i < made; i++) OK(cuLinkDestroy(many[i]));
  OK(cuLinkCreate(0, NULL, NULL, &other));
  OK(cuLinkDestroy(other));
  OK(cuCtxSynchronize());
}

static void test_stream_attributes(void) {
  CASE("stream attributes: defaults, set, get, copy; the priority given at creation");
  CUstream s = NULL, t = NULL;
  OK(cuStreamCreateWithPriority(&s, CU_STREAM_NON_BLOCKING, -3));
  OK(cuStreamCreate(&t, CU_STREAM_NON_BLOCKING));
  CUstreamAttrValue v;
  memset(&v, 0, sizeof v);
  OK(cuStreamGetAttribute(s, CU_STREAM_ATTRIBUTE_PRIORITY, &v));
  CHECK_EQ(v.priority, -3);
  OK(cuStreamGetAttribute(s, CU_STREAM_ATTRIBUTE_SYNCHRONIZATION_POLICY, &v));
  CHECK_EQ(v.syncPolicy, CU_SYNC_POLICY_AUTO);
  v.syncPolicy = CU_SYNC_POLICY_SPIN;
  OK(cuStreamSetAttribute(s, CU_STREAM_ATTRIBUTE_SYNCHRONIZATION_POLICY, &v));
  CUdeviceptr d = 0;
  OK(cuMemAlloc(&d, 1 << 20));
  memset(&v, 0, sizeof v);
  v.accessPolicyWindow.base_ptr = (void *)(uintptr_t)d;
  v.accessPolicyWindow.num_bytes = 1 << 20;
  v.accessPolicyWindow.hitRatio = 0.5f;
  v.accessPolicyWindow.hitProp = CU_ACCESS_PROPERTY_PERSISTING;
  v.accessPolicyWindow.missProp = CU_ACCESS_PROPERTY_STREAMING;
  OK(cuStreamSetAttribute(s, CU_STREAM_ATTRIBUTE_ACCESS_POLICY_WINDOW, &v));
  OK(cuStreamCopyAttributes(t, s));
  memset(&v, 0, sizeof v);
  OK(cuStreamGetAttribute(t, CU_STREAM_ATTRIBUTE_SYNCHRONIZATION_POLICY, &v));
  CHECK_EQ(v.syncPolicy, CU_SYNC_POLICY_SPIN);
  OK(cuStreamGetAttribute(t, CU_STREAM_ATTRIBUTE_ACCESS_POLICY_WINDOW, &v));
  CHECK(v.accessPolicyWindow.base_ptr == (void *)(uintptr_t)d && v.accessPolicyWindow.num_bytes == (1u << 20));
  CHECK(v.accessPolicyWindow.hitRatio == 0.5f && v.accessPolicyWindow.hitProp == CU_ACCESS_PROPERTY_PERSISTING);
  OK(cuStreamGetAttribute(t, CU_STREAM_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP, &v));
  CHECK(v.memSyncDomainMap.default_ == 0 && v.memSyncDomainMap.remote == 1);
  OK(cuCtxResetPersistingL2Cache());
  OK(cuCtxSynchronize());

  CASE("the per-thread stream (_ptsz), and errors: attribute ids, values, windows outside the session's memory");
  memset(&v, 0, sizeof v);
  v.memSyncDomain = CU_LAUNCH_MEM_SYNC_DOMAIN_REMOTE;
  OK(cuStreamSetAttribute_ptsz(NULL, CU_STREAM_ATTRIBUTE_MEM_SYNC_DOMAIN, &v));
  memset(&v, 0, sizeof v);
  OK(cuStreamGetAttribute_ptsz(NULL, CU_STREAM_ATTRIBUTE_MEM_SYNC_DOMAIN, &v));
  CHECK_EQ(v.memSyncDomain, CU_LAUNCH_MEM_SYNC_DOMAIN_REMOTE);
  CHECK_EQ(cuStreamGetAttribute(s, (CUstreamAttrID)CU_LAUNCH_ATTRIBUTE_COOPERATIVE, &v), CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(cuStreamSetAttribute(s, CU_STREAM_ATTRIBUTE_PRIORITY, NULL), CUDA_ERROR_INVALID_VALUE);
  memset(&v, 0, sizeof v);
  v.accessPolicyWindow.base_ptr = (void *)(uintptr_t)(d + (1 << 20)); /* past the allocation */
  v.accessPolicyWindow.num_bytes = 4096;
  OK(cuStreamSetAttribute(s, CU_STREAM_ATTRIBUTE_ACCESS_POLICY_WINDOW, &v)); /* fire-and-forget */
  CHECK_EQ(cuCtxSynchronize(), CUDA_ERROR_INVALID_VALUE);
  v.accessPolicyWindow.base_ptr = (void *)(uintptr_t)d;
  v.accessPolicyWindow.hitRatio = 2.0f;
  OK(cuStreamSetAttribute(s, CU_STREAM_ATTRIBUTE_ACCESS_POLICY_WINDOW, &v));
  CHECK_EQ(cuCtxSynchronize(), CUDA_ERROR_INVALID_VALUE);
  memset(&v, 0, sizeof v);
  v.syncPolicy = (CUsynchronizationPolicy)9;
  OK(cuStreamSetAttribute(s, CU_STREAM_ATTRIBUTE_SYNCHRONIZATION_POLICY, &v));
  CHECK_EQ(cuCtxSynchronize(), CUDA_ERROR_INVALID_VALUE);
  OK(cuStreamDestroy(t));
  CHECK_EQ(cuStreamCopyAttributes(t, s), CUDA_ERROR_INVALID_HANDLE);
  OK(cuStreamDestroy(s));
  OK(cuMemFree(d));
  OK(cuCtxSynchronize());
}

int main(int argc, char **argv) {
  if (argc != 2 || strcmp(argv[1], "main")) {
    fprintf(stderr, "usage: jit_test main\n");
    return 2;
  }
  CASE("init");
  OK(cuInit(0));
  CUcontext c;
  OK(cuDevicePrimaryCtxRetain(&c, 0));
  OK(cuCtxSetCurrent(c));
  test_link();
  test_stream_attributes();
  OK(cuDevicePrimaryCtxRelease(0));
  return TEST_SUMMARY("shim JIT linking and stream attributes");
}
