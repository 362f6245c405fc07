// CUDA IPC between two processes (issue 6, item 3): memory handles (runtime and driver API) and an
// interprocess event. The parent allocates and fills, records an interprocess event after a kernel that
// first spins for ~1 s and then rewrites the buffer, and starts a child (fork + exec of itself: a process
// forked after cuInit cannot use CUDA) with the handles hex-encoded on its command line. The child opens the
// handles, makes its stream wait on the event, transforms the buffer with a kernel (so its result is only
// right if the wait worked), writes a second buffer through the driver API, closes, and exits; the parent
// checks both buffers. Through the shim the child is a second session of the same client host.
//   ipc                                  parent (the program run.sh runs)
//   ipc --child MEMHEX EVHEX DRVHEX N    child (started by the parent)
#include "common.h"
#include <sys/wait.h>
#include <unistd.h>

__global__ void fill_idx(unsigned *p, size_t n, unsigned salt) {
  size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  if (i < n) p[i] = (unsigned)i * 2654435761u + salt;
}

__global__ void spin_ns(unsigned long long ns) {
  unsigned long long t0, t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
  do { asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t)); } while (t - t0 < ns);
}

__global__ void times3_plus1(unsigned *p, size_t n) {
  size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  if (i < n) p[i] = p[i] * 3u + 1u;
}

static const unsigned SALT_A = 1, SALT_B = 2;
static const unsigned DRV_WORD = 0x600d600du;

static void to_hex(const void *p, size_t n, char *out) {
  const unsigned char *b = (const unsigned char *)p;
  for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", b[i]);
}

static bool from_hex(const char *s, void *p, size_t n) {
  unsigned char *b = (unsigned char *)p;
  if (strlen(s) != 2 * n) return false;
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1) return false;
    b[i] = (unsigned char)v;
  }
  return true;
}

static int child(char **argv) {
  alarm(120);  // a broken wait must not hang the suite
  SECTION("ipc.child");
  cudaIpcMemHandle_t mh;
  cudaIpcEventHandle_t eh;
  CUipcMemHandle dh;
  size_t n = strtoull(argv[5], NULL, 0);
  if (!from_hex(argv[2], &mh, sizeof mh) || !from_hex(argv[3], &eh, sizeof eh) || !from_hex(argv[4], &dh, sizeof dh)) {
    printf("ERR ipc.child: bad handle arguments\n");
    return 2;
  }
  [&] {
    unsigned *p = NULL;
    RT(cudaIpcOpenMemHandle((void **)&p, mh, cudaIpcMemLazyEnablePeerAccess));
    printf("opened memory handle: non-null %d\n", p != NULL);
    cudaEvent_t ev;
    RT(cudaIpcOpenEventHandle(&ev, eh));
    printf("opened event handle: ok\n");
    cudaStream_t s;
    RT(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    RT(cudaStreamWaitEvent(s, ev, 0));
    times3_plus1<<<(unsigned)((n + 255) / 256), 256, 0, s>>>(p, n);
    RT(cudaGetLastError());
    unsigned *h = (unsigned *)malloc(n * 4);
    RT(cudaMemcpyAsync(h, p, n * 4, cudaMemcpyDeviceToHost, s));
    RT(cudaStreamSynchronize(s));
    size_t bad = 0, stale = 0;
    for (size_t i = 0; i < n; i++) {
      unsigned b = (unsigned)i * 2654435761u + SALT_B, a = (unsigned)i * 2654435761u + SALT_A;
      if (h[i] != b * 3u + 1u) bad++;
      if (h[i] == a * 3u + 1u) stale++;
    }
    printf("kernel after waiting on the parent's event: %s (wrong %zu, computed from stale data %zu)\n",
           bad ? "WRONG" : "ok", bad, stale);
    EXPECT(bad == 0);
    cudaPointerAttributes pa;
    memset(&pa, 0, sizeof pa);
    RT(cudaPointerGetAttributes(&pa, p + 10));
    printf("opened pointer: type %d, device %d\n", (int)pa.type, pa.device);
    RT(cudaEventSynchronize(ev));
    printf("event synchronize: ok\n");
    RT(cudaIpcCloseMemHandle(p));
    RT(cudaEventDestroy(ev));
    RT(cudaStreamDestroy(s));
    free(h);
    printf("closed: ok\n");
  }();
  [&] {
    CUdeviceptr d = 0;
    DRV(cuIpcOpenMemHandle(&d, dh, CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS));
    DRV(cuMemsetD32(d, DRV_WORD, 4096));
    unsigned w = 0;
    DRV(cuMemcpyDtoH(&w, d + 4 * 4095, 4));
    printf("driver handle: opened, wrote %08x\n", w);
    DRV(cuIpcCloseMemHandle(d));
    printf("driver handle closed: ok\n");
  }();
  printf("child errors: %d\n", g_errors);
  fflush(stdout);
  return g_errors ? 1 : 0;
}

static void parent(const char *self) {
  SECTION("ipc.parent");
  const size_t n = (1u << 20) + 3;
  unsigned *d = NULL;
  RT(cudaMalloc((void **)&d, n * 4));
  fill_idx<<<(unsigned)((n + 255) / 256), 256>>>(d, n, SALT_A);
  RT(cudaDeviceSynchronize());
  cudaIpcMemHandle_t mh;
  RT(cudaIpcGetMemHandle(&mh, d));
  cudaEvent_t ev;
  RT(cudaEventCreateWithFlags(&ev, cudaEventInterprocess | cudaEventDisableTiming));
  cudaIpcEventHandle_t eh;
  RT(cudaIpcGetEventHandle(&eh, ev));
  cudaEvent_t timed;
  RT(cudaEventCreate(&timed));
  cudaIpcEventHandle_t eh2;
  printf("event handle of a timing event: %s\n", cudaGetErrorName(cudaIpcGetEventHandle(&eh2, timed)));
  cudaGetLastError();
  RT(cudaEventDestroy(timed));
  void *self_open = NULL;
  cudaError_t se = cudaIpcOpenMemHandle(&self_open, mh, cudaIpcMemLazyEnablePeerAccess);
  printf("open own handle in the same process: %s\n", cudaGetErrorName(se));
  cudaGetLastError();
  if (se == cudaSuccess) cudaIpcCloseMemHandle(self_open);

  CUdeviceptr d2 = 0;
  DRV(cuMemAlloc(&d2, 4 * 4096));
  DRV(cuMemsetD32(d2, 0, 4096));
  CUipcMemHandle dh;
  DRV(cuIpcGetMemHandle(&dh, d2));

  // The event completes only after the spin and the rewrite with SALT_B.
  cudaStream_t s;
  RT(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  spin_ns<<<1, 1, 0, s>>>(1000ull * 1000 * 1000);
  fill_idx<<<(unsigned)((n + 255) / 256), 256, 0, s>>>(d, n, SALT_B);
  RT(cudaGetLastError());
  RT(cudaEventRecord(ev, s));
  printf("handles exported, event recorded\n");

  char mhex[2 * sizeof mh + 1], ehex[2 * sizeof eh + 1], dhex[2 * sizeof dh + 1], nstr[32];
  to_hex(&mh, sizeof mh, mhex);
  to_hex(&eh, sizeof eh, ehex);
  to_hex(&dh, sizeof dh, dhex);
  snprintf(nstr, sizeof nstr, "%zu", n);
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    execl(self, self, "--child", mhex, ehex, dhex, nstr, (char *)NULL);
    _exit(127);
  }
  int st = 0;
  if (pid < 0 || waitpid(pid, &st, 0) != pid) {
    printf("ERR ipc.parent: fork/waitpid failed\n");
    g_errors++;
    return;
  }
  SECTION("ipc.parent.after");
  printf("child exit status: %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
  if (!WIFEXITED(st) || WEXITSTATUS(st)) g_errors++;
  RT(cudaStreamSynchronize(s));  // long done: the child waited for it
  unsigned *h = (unsigned *)malloc(n * 4);
  RT(cudaMemcpy(h, d, n * 4, cudaMemcpyDeviceToHost));
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned b = (unsigned)i * 2654435761u + SALT_B;
    if (h[i] != b * 3u + 1u) bad++;
  }
  printf("parent sees the child's kernel writes: %s (wrong %zu), hash %016llx\n", bad ? "WRONG" : "ok", bad,
         (unsigned long long)fnv64(h, n * 4));
  EXPECT(bad == 0);
  unsigned w[4096];
  DRV(cuMemcpyDtoH(w, d2, sizeof w));
  size_t wbad = 0;
  for (unsigned x : w) wbad += x != DRV_WORD;
  printf("parent sees the child's driver-API writes: %s\n", wbad ? "WRONG" : "ok");
  EXPECT(wbad == 0);
  RT(cudaEventQuery(ev));
  printf("event complete in the parent: ok\n");
  RT(cudaEventDestroy(ev));
  RT(cudaStreamDestroy(s));
  RT(cudaFree(d));
  DRV(cuMemFree(d2));
  free(h);
}

int main(int argc, char **argv) {
  if (argc == 6 && !strcmp(argv[1], "--child")) return child(argv);
  alarm(240);
  char self[4096];
  ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
  if (k <= 0) { printf("ERR: readlink /proc/self/exe\n"); return 2; }
  self[k] = 0;
  parent(self);
  return finish();
}
