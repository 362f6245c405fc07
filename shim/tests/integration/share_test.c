/* POSIX-fd shareable handles through the shim against a real executor (emulated backend), the way NVIDIA's
 * memMapIPCDrv and streamOrderedAllocationIPC samples use them: the parent exports, passes the fd to a child
 * process (fork + exec of this program) with SCM_RIGHTS over a unix datagram socket, and the child, another
 * session of the same server and client address, imports, reads what the parent wrote and writes back.
 *   share_test main            the parent
 *   share_test vmm-child FD    imports a physical allocation received on socket FD
 *   share_test pool-child FD   imports two pools and their pointers received on socket FD */
#include <cuda.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../test.h"

#define OK(call) CHECK_EQ((call), CUDA_SUCCESS)
#define POSIX_FD CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR

static const char *self;

/* ---- passing fds (and bytes) between processes ---------------------------------------------------- */

static int send_fds(int sock, const int *fds, int nfds, const void *data, size_t len) {
  char ctl[CMSG_SPACE(sizeof(int) * 4)];
  memset(ctl, 0, sizeof ctl);
  struct iovec io = {(void *)data, len};
  struct msghdr m = {0};
  m.msg_iov = &io;
  m.msg_iovlen = 1;
  m.msg_control = ctl;
  m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
  memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  return sendmsg(sock, &m, 0) == (ssize_t)len ? 0 : -1;
}

static int recv_fds(int sock, int *fds, int nfds, void *data, size_t len) {
  char ctl[CMSG_SPACE(sizeof(int) * 4)];
  struct iovec io = {data, len};
  struct msghdr m = {0};
  m.msg_iov = &io;
  m.msg_iovlen = 1;
  m.msg_control = ctl;
  m.msg_controllen = sizeof ctl;
  if (recvmsg(sock, &m, 0) != (ssize_t)len) return -1;
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int) * nfds)) return -1;
  memcpy(fds, CMSG_DATA(c), sizeof(int) * nfds);
  return 0;
}

/* Starts `self MODE SOCK` with the other end of a datagram socket pair; returns its pid, *sock our end. */
static pid_t spawn(const char *mode, int *sock) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv)) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    close(sv[0]);
    char n[16];
    snprintf(n, sizeof n, "%d", sv[1]);
    execl(self, self, mode, n, (char *)NULL);
    _exit(127);
  }
  close(sv[1]);
  *sock = sv[0];
  return pid;
}

static int wait_ok(pid_t pid) {
  int st = 0;
  return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* ---- VMM (memMapIPCDrv) ----------------------------------------------------------------------------- */

static CUmemAllocationProp vmm_prop(void) {
  CUmemAllocationProp p = {0};
  p.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  p.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  p.location.id = 0;
  p.requestedHandleTypes = POSIX_FD;
  return p;
}

/* Maps `h` (size n) into a fresh range of the current context, copies `in` there (if any) and `out` back. */
static void through_mapping(CUmemGenericAllocationHandle h, size_t n, const uint8_t *in, uint8_t *out) {
  CUdeviceptr va = 0;
  OK(cuMemAddressReserve(&va, n, 0, 0, 0));
  OK(cuMemMap(va, n, 0, h, 0));
  CUmemAccessDesc acc = {{CU_MEM_LOCATION_TYPE_DEVICE, 0}, CU_MEM_ACCESS_FLAGS_PROT_READWRITE};
  OK(cuMemSetAccess(va, n, &acc, 1));
  if (in) OK(cuMemcpyHtoD(va, in, n));
  if (out) OK(cuMemcpyDtoH(out, va, n));
  OK(cuMemUnmap(va, n));
  OK(cuMemAddressFree(va, n));
}

static void test_vmm(void) {
  CASE("attributes: POSIX fds offered");
  int posix = 0, pool_types = 0;
  OK(cuDeviceGetAttribute(&posix, CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED, 0));
  OK(cuDeviceGetAttribute(&pool_types, CU_DEVICE_ATTRIBUTE_MEMPOOL_SUPPORTED_HANDLE_TYPES, 0));
  CHECK_EQ(posix, 1);
  CHECK_EQ(pool_types, POSIX_FD);
  int fabric = 1;
  OK(cuDeviceGetAttribute(&fabric, CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_FABRIC_SUPPORTED, 0));
  CHECK_EQ(fabric, 0);

  CASE("VMM: write through a context, then export with none current (as memMapIPCDrv's parent)");
  CUcontext c;
  OK(cuCtxCreate(&c, NULL, 0, 0));
  CUmemAllocationProp prop = vmm_prop();
  size_t g = 0;
  OK(cuMemGetAllocationGranularity(&g, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM));
  size_t n = 2 * g;
  uint8_t *a = malloc(n), *b = malloc(n);
  fill(a, n, 3);
  CUmemGenericAllocationHandle h = 0;
  OK(cuMemCreate(&h, n, &prop, 0));
  through_mapping(h, n, a, NULL);
  OK(cuCtxDestroy(c));
  CUcontext none = (CUcontext)1;
  OK(cuCtxGetCurrent(&none));
  CHECK(none == NULL);
  int fd = -1, fd2 = -1;
  OK(cuMemExportToShareableHandle(&fd, h, POSIX_FD, 0));
  CHECK(fd >= 0);
  OK(cuMemExportToShareableHandle(&fd2, h, POSIX_FD, 0));
  CHECK(fd2 >= 0 && fd2 != fd);
  CHECK(write(fd, "x", 1) < 0); /* sealed */
  CHECK_EQ(cuMemExportToShareableHandle(&fd2, h, CU_MEM_HANDLE_TYPE_FABRIC, 0), CUDA_ERROR_NOT_SUPPORTED);
  CUmemGenericAllocationHandle plain = 0;
  CUmemAllocationProp pp = vmm_prop();
  pp.requestedHandleTypes = CU_MEM_HANDLE_TYPE_NONE;
  OK(cuMemCreate(&plain, g, &pp, 0));
  int nofd = -1;
  CHECK_EQ(cuMemExportToShareableHandle(&nofd, plain, POSIX_FD, 0), CUDA_ERROR_INVALID_VALUE); /* not asked for */
  OK(cuMemRelease(plain));

  CASE("VMM: a child process imports the fd it received, reads, writes back");
  int sock = -1;
  pid_t pid = spawn("vmm-child", &sock);
  CHECK(pid > 0);
  uint64_t size = n;
  CHECK(send_fds(sock, &fd, 1, &size, sizeof size) == 0);
  CHECK(wait_ok(pid));
  close(sock);
  close(fd);
  OK(cuCtxCreate(&c, NULL, 0, 0));
  through_mapping(h, n, NULL, b);
  int inverted = 1;
  for (size_t i = 0; i < n; i++) inverted &= b[i] == (uint8_t)~a[i];
  CHECK(inverted);
  OK(cuCtxDestroy(c));

  CASE("VMM: bad and foreign fds are refused");
  CUmemGenericAllocationHandle x = 0;
  CHECK_EQ(cuMemImportFromShareableHandle(&x, (void *)(intptr_t)-1, POSIX_FD), CUDA_ERROR_INVALID_VALUE);
  int devnull = open("/dev/null", O_RDONLY);
  CHECK_EQ(cuMemImportFromShareableHandle(&x, (void *)(intptr_t)devnull, POSIX_FD), CUDA_ERROR_INVALID_VALUE);
  close(devnull);
  CHECK_EQ(cuMemImportFromShareableHandle(&x, (void *)(intptr_t)fd2, CU_MEM_HANDLE_TYPE_FABRIC), CUDA_ERROR_NOT_SUPPORTED);
  CUmemoryPool wrong = NULL;
  CHECK_EQ(cuMemPoolImportFromShareableHandle(&wrong, (void *)(intptr_t)fd2, POSIX_FD, 0), CUDA_ERROR_INVALID_VALUE);

  CASE("VMM: this process imports its own export too (as the driver allows)");
  CUmemGenericAllocationHandle own = 0;
  OK(cuMemImportFromShareableHandle(&own, (void *)(intptr_t)fd2, POSIX_FD));
  CHECK(own != 0 && own != h);
  OK(cuCtxCreate(&c, NULL, 0, 0));
  memset(b, 0, n);
  through_mapping(own, n, NULL, b);
  CHECK(b[0] == (uint8_t)~a[0] && b[n - 1] == (uint8_t)~a[n - 1]);
  OK(cuCtxDestroy(c));
  OK(cuMemRelease(own));

  CASE("VMM: released with no context current; its fds import no more");
  OK(cuMemRelease(h));
  CHECK_EQ(cuMemImportFromShareableHandle(&x, (void *)(intptr_t)fd2, POSIX_FD), CUDA_ERROR_INVALID_VALUE);
  close(fd2);
  free(a); free(b);
}

static int vmm_child(int sock) {
  CASE("vmm child: receive, import, map (as memMapIPCDrv's child)");
  int fd = -1;
  uint64_t n = 0;
  CHECK(recv_fds(sock, &fd, 1, &n, sizeof n) == 0);
  OK(cuInit(0));
  CUcontext c;
  OK(cuCtxCreate(&c, NULL, 0, 0));
  CUstream s;
  OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  CUdeviceptr va = 0;
  OK(cuMemAddressReserve(&va, n, 0, 0, 0));
  CUmemGenericAllocationHandle h = 0;
  OK(cuMemImportFromShareableHandle(&h, (void *)(intptr_t)fd, POSIX_FD));
  close(fd);
  CUmemAllocationProp back = {0};
  OK(cuMemGetAllocationPropertiesFromHandle(&back, h));
  CHECK_EQ(back.requestedHandleTypes, POSIX_FD);
  OK(cuMemMap(va, n, 0, h, 0));
  OK(cuMemRelease(h)); /* the mapping keeps it */
  CUmemAccessDesc acc = {{CU_MEM_LOCATION_TYPE_DEVICE, 0}, CU_MEM_ACCESS_FLAGS_PROT_READWRITE};
  OK(cuMemSetAccess(va, n, &acc, 1));
  uint8_t *a = malloc(n), *b = malloc(n);
  fill(a, n, 3);
  OK(cuMemcpyDtoHAsync(b, va, n, s));
  OK(cuStreamSynchronize(s));
  CHECK(!memcmp(a, b, n));
  for (size_t i = 0; i < n; i++) b[i] = (uint8_t)~b[i];
  OK(cuMemcpyHtoD(va, b, n));
  size_t fr = 0, tot = 0;
  OK(cuMemGetInfo(&fr, &tot));
  CHECK(fr == tot); /* imported memory is charged to the exporter's session */
  OK(cuStreamDestroy(s));
  OK(cuCtxDestroy(c));
  CASE("vmm child: unmap and free the range with no context current");
  OK(cuMemUnmap(va, n));
  OK(cuMemAddressFree(va, n));
  free(a); free(b);
  return TEST_SUMMARY("shim share vmm child");
}

/* ---- pools (streamOrderedAllocationIPC) ------------------------------------------------------------- */

struct pool_msg {
  CUmemPoolPtrExportData data[3]; /* pool A: two pointers; pool B: one */
  uint64_t size;
};

static void test_pools(void) {
  CASE("pools: export two pools and three pointers");
  CUcontext c;
  OK(cuDevicePrimaryCtxRetain(&c, 0));
  OK(cuCtxSetCurrent(c));
  CUstream s;
  OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  CUmemPoolProps props = {0};
  props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
  props.handleTypes = POSIX_FD;
  props.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  props.location.id = 0;
  CUmemoryPool pa = NULL, pb = NULL, def = NULL;
  OK(cuMemPoolCreate(&pa, &props));
  OK(cuMemPoolCreate(&pb, &props));
  size_t n = 100000;
  struct pool_msg msg;
  memset(&msg, 0, sizeof msg);
  msg.size = n;
  CUdeviceptr d[3];
  uint8_t *a = malloc(n), *b = malloc(n);
  for (int i = 0; i < 3; i++) {
    OK(cuMemAllocFromPoolAsync(&d[i], n, i < 2 ? pa : pb, s));
    fill(a, n, 10 + i);
    OK(cuMemcpyHtoDAsync(d[i], a, n, s));
  }
  OK(cuStreamSynchronize(s));
  CUmemPoolPtrExportData early;
  /* an allocation is exported "from an already shared memory pool" (cuda.h), as the real driver requires */
  CHECK_EQ(cuMemPoolExportPointer(&early, d[0]), CUDA_ERROR_INVALID_VALUE);
  int fds[2] = {-1, -1};
  OK(cuMemPoolExportToShareableHandle(&fds[0], pa, POSIX_FD, 0));
  OK(cuMemPoolExportToShareableHandle(&fds[1], pb, POSIX_FD, 0));
  for (int i = 0; i < 3; i++) OK(cuMemPoolExportPointer(&msg.data[i], d[i]));
  OK(cuDeviceGetDefaultMemPool(&def, 0));
  int nofd = -1;
  CHECK_EQ(cuMemPoolExportToShareableHandle(&nofd, def, POSIX_FD, 0), CUDA_ERROR_INVALID_VALUE); /* no handle types */
  CUdeviceptr plain = 0;
  OK(cuMemAllocAsync(&plain, 4096, s));
  CUmemPoolPtrExportData pd;
  CHECK_EQ(cuMemPoolExportPointer(&pd, plain), CUDA_ERROR_INVALID_VALUE); /* its pool is not shareable */
  OK(cuMemFreeAsync(plain, s));

  CASE("pools: a child imports both pools and each pointer into its own pool");
  int sock = -1;
  pid_t pid = spawn("pool-child", &sock);
  CHECK(pid > 0);
  CHECK(send_fds(sock, fds, 2, &msg, sizeof msg) == 0);
  CHECK(wait_ok(pid));
  close(sock);
  for (int i = 0; i < 3; i++) {
    fill(a, n, 10 + i);
    OK(cuMemcpyDtoH(b, d[i], n));
    int inverted = 1;
    for (size_t j = 0; j < n; j++) inverted &= b[j] == (uint8_t)~a[j];
    CHECK(inverted);
  }

  CASE("pools: a destroyed pool's fd imports no more");
  for (int i = 0; i < 3; i++) OK(cuMemFreeAsync(d[i], s));
  OK(cuStreamSynchronize(s));
  OK(cuMemPoolDestroy(pb));
  CUmemoryPool gone = NULL;
  CHECK_EQ(cuMemPoolImportFromShareableHandle(&gone, (void *)(intptr_t)fds[1], POSIX_FD, 0), CUDA_ERROR_INVALID_VALUE);
  OK(cuMemPoolDestroy(pa));
  close(fds[0]);
  close(fds[1]);
  OK(cuStreamDestroy(s));
  OK(cuDevicePrimaryCtxRelease(0));
  free(a); free(b);
}

static int pool_child(int sock) {
  CASE("pool child: receive and import the pools");
  int fds[2] = {-1, -1};
  struct pool_msg msg;
  CHECK(recv_fds(sock, fds, 2, &msg, sizeof msg) == 0);
  OK(cuInit(0));
  CUcontext c;
  OK(cuDevicePrimaryCtxRetain(&c, 0));
  OK(cuCtxSetCurrent(c));
  CUstream s;
  OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
  CUmemoryPool pools[2] = {NULL, NULL};
  for (int i = 0; i < 2; i++) {
    OK(cuMemPoolImportFromShareableHandle(&pools[i], (void *)(intptr_t)fds[i], POSIX_FD, 0));
    CUmemLocation loc = {CU_MEM_LOCATION_TYPE_DEVICE, 0};
    CUmemAccess_flags fl = CU_MEM_ACCESS_FLAGS_PROT_NONE;
    OK(cuMemPoolGetAccess(&fl, pools[i], &loc));
    CHECK_EQ(fl, CU_MEM_ACCESS_FLAGS_PROT_READWRITE);
    close(fds[i]);
  }
  CASE("pool child: each export data imports into its own pool only (non-sticky failures otherwise)");
  CUdeviceptr p[3] = {0, 0, 0};
  for (int i = 0; i < 3; i++) {
    int mine = i < 2 ? 0 : 1;
    CUdeviceptr x = 0;
    CHECK_EQ(cuMemPoolImportPointer(&x, pools[1 - mine], &msg.data[i]), CUDA_ERROR_INVALID_VALUE);
    OK(cuMemPoolImportPointer(&p[i], pools[mine], &msg.data[i]));
  }
  CUmemoryPool own = NULL;
  OK(cuDeviceGetDefaultMemPool(&own, 0));
  CUdeviceptr x = 0;
  CHECK_EQ(cuMemPoolImportPointer(&x, own, &msg.data[0]), CUDA_ERROR_INVALID_VALUE); /* not an imported pool */
  CASE("pool child: read, write back, free the imported pointers");
  size_t n = msg.size;
  uint8_t *a = malloc(n), *b = malloc(n);
  for (int i = 0; i < 3; i++) {
    CUdeviceptr base = 0;
    size_t sz = 0;
    OK(cuMemGetAddressRange(&base, &sz, p[i] + 7));
    CHECK(base == p[i] && sz == n);
    fill(a, n, 10 + i);
    OK(cuMemcpyDtoHAsync(b, p[i], n, s));
    OK(cuStreamSynchronize(s));
    CHECK(!memcmp(a, b, n));
    for (size_t j = 0; j < n; j++) b[j] = (uint8_t)~b[j];
    OK(cuMemcpyHtoDAsync(p[i], b, n, s));
    OK(cuStreamSynchronize(s));
    CHECK_EQ(cuMemcpyDtoH(b, p[i] + n - 4, 8), CUDA_ERROR_INVALID_VALUE); /* bounds are the allocation's */
  }
  for (int i = 0; i < 3; i++) OK(cuMemFreeAsync(p[i], s));
  OK(cuStreamSynchronize(s));
  CHECK_EQ(cuMemcpyDtoH(b, p[0], 8), CUDA_ERROR_INVALID_VALUE);
  OK(cuStreamDestroy(s));
  OK(cuDevicePrimaryCtxRelease(0));
  free(a); free(b);
  return TEST_SUMMARY("shim share pool child");
}

int main(int argc, char **argv) {
  self = argv[0];
  if (argc == 3 && !strcmp(argv[1], "vmm-child")) return vmm_child(atoi(argv[2]));
  if (argc == 3 && !strcmp(argv[1], "pool-child")) return pool_child(atoi(argv[2]));
  if (argc != 2 || strcmp(argv[1], "main")) {
    fprintf(stderr, "usage: share_test main | vmm-child FD | pool-child FD\n");
    return 2;
  }
  CASE("init");
  OK(cuInit(0));
  test_vmm();
  test_pools();
  return TEST_SUMMARY("shim share");
}
