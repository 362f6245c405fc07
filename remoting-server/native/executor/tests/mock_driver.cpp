// A test double of the NVIDIA driver (libcuda.so.1) so the executor's CUDA backend runs in CI without a
// GPU: one "Mock GPU" device, host memory behind device addresses, synchronous streams, and two
// kernels. `avec_fill(unsigned *p, unsigned n, unsigned value)` runs on host memory so tests can check
// parameter marshalling end to end; an out-of-range `p` makes the launch fail with
// CUDA_ERROR_ILLEGAL_ADDRESS and poisons the context, as a real fault would. `avec_print(unsigned value)`
// is device printf: each of its threads prints "avec_print <value>\n" into a buffer that synchronizations
// and module unloads write to stdout with stdio and no fflush, as the driver does.
// Built twice: as build/native/mock-driver/libcuda.so.1, and with MOCK_SHIM_MARKER (exports
// cuAvecShimVersion) as build/native/mock-shim/libcuda.so.1, which the executor must refuse.
// At every primary-context release it prints one line to stderr: mock_driver_release live_allocs=N
// live_pinned=M live_streams=S live_events=E live_modules=K, so tests can check the executor freed
// everything.
#include <cuda.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include <sys/mman.h>
#include <unistd.h>

namespace {

struct Ctx { int refs = 0; bool primary = false; bool destroyed = false; CUresult sticky = CUDA_SUCCESS; };
struct Func { std::string name; bool kernel; };
struct Event { bool recorded = false; std::chrono::steady_clock::time_point at; unsigned flags = 0; };

std::mutex mu;
bool inited = false;
Ctx* primary = nullptr;  // replaced by a new one after a reset
thread_local CUcontext current = nullptr;
struct Block { size_t size; unsigned char* host; Ctx* ctx; };
std::map<CUdeviceptr, Block> mem;  // device allocations
std::set<void*> pinned;
std::set<CUstream> streams;
std::map<CUevent, Event> events;
std::set<void*> modules;  // CUmodule and CUlibrary objects
std::map<std::string, Func*> funcs;
std::string printed;  // avec_print's output not yet written to stdout
CUdeviceptr next_addr = 0x500000000000ull;
size_t total_mem = 1ull << 30, used_mem = 0;

unsigned char* host(CUdeviceptr p, size_t n) {
  auto it = mem.upper_bound(p);
  if (it == mem.begin()) return nullptr;
  --it;
  size_t off = p - it->first;
  if (off > it->second.size || n > it->second.size - off) return nullptr;
  return it->second.host + off;
}

#define GUARD()                          \
  std::lock_guard<std::mutex> lock_(mu); \
  if (!inited) return CUDA_ERROR_NOT_INITIALIZED
// Per context, like the driver: a destroyed context, or one poisoned by a fault, fails every call.
#define NEED_CTX()                                                          \
  if (!current) return CUDA_ERROR_INVALID_CONTEXT;                          \
  if (((Ctx*)current)->destroyed) return CUDA_ERROR_CONTEXT_IS_DESTROYED;   \
  if (((Ctx*)current)->sticky) return ((Ctx*)current)->sticky

CUresult m_cuInit(unsigned) { std::lock_guard<std::mutex> l(mu); inited = true; return CUDA_SUCCESS; }
CUresult m_cuDriverGetVersion(int* v) { *v = 13000; return CUDA_SUCCESS; }
CUresult m_cuDeviceGet(CUdevice* d, int o) { if (o != 0) return CUDA_ERROR_INVALID_DEVICE; *d = 0; return CUDA_SUCCESS; }
CUresult m_cuDeviceGetCount(int* n) { *n = 1; return CUDA_SUCCESS; }
CUresult m_cuDeviceGetName(char* n, int len, CUdevice) { snprintf(n, len, "Mock GPU"); return CUDA_SUCCESS; }
CUresult m_cuDeviceGetUuid(CUuuid* u, CUdevice) { for (int i = 0; i < 16; i++) u->bytes[i] = (char)(0xA0 + i); return CUDA_SUCCESS; }
CUresult m_cuDeviceTotalMem(size_t* b, CUdevice) { *b = total_mem; return CUDA_SUCCESS; }
CUresult m_cuDeviceGetAttribute(int* v, CUdevice_attribute a, CUdevice) {
  switch (a) {
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *v = 9; return CUDA_SUCCESS;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *v = 0; return CUDA_SUCCESS;
    case CU_DEVICE_ATTRIBUTE_WARP_SIZE: *v = 32; return CUDA_SUCCESS;
    case CU_DEVICE_ATTRIBUTE_PCI_BUS_ID: *v = 0x42; return CUDA_SUCCESS;
    case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: {  // as under MPS: the active thread percentage caps the SMs
      const char* pct = getenv("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE");
      *v = pct ? 132 * atoi(pct) / 100 : 132;
      return CUDA_SUCCESS;
    }
    default: return a < CU_DEVICE_ATTRIBUTE_MAX ? (*v = 1, CUDA_SUCCESS) : CUDA_ERROR_INVALID_VALUE;
  }
}
CUresult m_cuDevicePrimaryCtxRetain(CUcontext* c, CUdevice) {
  GUARD();
  if (!primary || primary->destroyed) { primary = new Ctx; primary->primary = true; }  // old ones are leaked on purpose: stale handles stay detectable
  primary->refs++;
  *c = (CUcontext)primary;
  return CUDA_SUCCESS;
}
CUresult m_cuDevicePrimaryCtxRelease(CUdevice) {
  std::lock_guard<std::mutex> l(mu);
  if (!primary || primary->destroyed || primary->refs <= 0) return CUDA_ERROR_INVALID_CONTEXT;
  if (--primary->refs == 0)
    fprintf(stderr, "mock_driver_release live_allocs=%zu live_pinned=%zu live_streams=%zu live_events=%zu live_modules=%zu\n",
            mem.size(), pinned.size(), streams.size(), events.size(), modules.size());
  return CUDA_SUCCESS;
}
void free_ctx_memory(Ctx* c) {
  for (auto it = mem.begin(); it != mem.end();) {
    if (it->second.ctx == c) { used_mem -= it->second.size; free(it->second.host); it = mem.erase(it); } else ++it;
  }
}
// Like driver 580: the primary context is destroyed with everything in it and its retains are dropped.
CUresult m_cuDevicePrimaryCtxReset(CUdevice) {
  GUARD();
  if (primary && !primary->destroyed) { free_ctx_memory(primary); primary->destroyed = true; primary->refs = 0; }
  return CUDA_SUCCESS;
}
CUresult m_cuDevicePrimaryCtxSetFlags(CUdevice, unsigned) { GUARD(); return CUDA_SUCCESS; }
CUresult m_cuCtxCreate(CUcontext* c, CUctxCreateParams*, unsigned, CUdevice) { GUARD(); Ctx* x = new Ctx; *c = (CUcontext)x; current = *c; return CUDA_SUCCESS; }
CUresult m_cuCtxDestroy(CUcontext c) {
  GUARD();
  if (!c || ((Ctx*)c)->primary) return CUDA_ERROR_INVALID_CONTEXT;
  free_ctx_memory((Ctx*)c);
  ((Ctx*)c)->destroyed = true;  // kept (not deleted) so a stale handle is detected
  if (current == c) current = nullptr;
  return CUDA_SUCCESS;
}
CUresult m_cuCtxSetCurrent(CUcontext c) { std::lock_guard<std::mutex> l(mu); current = c; return CUDA_SUCCESS; }
// The driver writes device printf to the process's stdout through stdio, and does not flush it.
void flush_printed() {
  if (printed.empty()) return;
  printf("%s", printed.c_str());
  printed.clear();
}
// MOCK_HANG_SYNC=1: synchronisation never returns (a kernel that never ends)
CUresult m_cuCtxSynchronize() {
  if (getenv("MOCK_HANG_SYNC")) for (;;) pause();
  GUARD(); NEED_CTX(); flush_printed(); return CUDA_SUCCESS;
}
CUresult m_cuCtxSetLimit(CUlimit, size_t) { GUARD(); NEED_CTX(); return CUDA_SUCCESS; }
CUresult m_cuCtxGetLimit(size_t* v, CUlimit) { GUARD(); NEED_CTX(); *v = 1024; return CUDA_SUCCESS; }
CUresult m_cuCtxSetCacheConfig(CUfunc_cache) { GUARD(); NEED_CTX(); return CUDA_SUCCESS; }
CUresult m_cuCtxGetDevice(CUdevice* d) { GUARD(); NEED_CTX(); *d = 0; return CUDA_SUCCESS; }

CUresult alloc_locked(CUdeviceptr* p, size_t n) {
  if (!n) return CUDA_ERROR_INVALID_VALUE;
  if (n > total_mem - used_mem) return CUDA_ERROR_OUT_OF_MEMORY;
  unsigned char* h = (unsigned char*)calloc(1, n);
  if (!h) return CUDA_ERROR_OUT_OF_MEMORY;
  *p = next_addr;
  mem[next_addr] = {n, h, (Ctx*)current};
  next_addr += (n + 0xFFFF) & ~0xFFFFull;
  next_addr += 0x10000;
  used_mem += n;
  return CUDA_SUCCESS;
}
CUresult m_cuMemAlloc(CUdeviceptr* p, size_t n) { GUARD(); NEED_CTX(); return alloc_locked(p, n); }
CUresult m_cuMemAllocPitch(CUdeviceptr* p, size_t* pitch, size_t w, size_t h, unsigned) {
  GUARD(); NEED_CTX();
  *pitch = (w + 255) & ~255ull;
  return alloc_locked(p, *pitch * h);
}
CUresult m_cuMemAllocAsync(CUdeviceptr* p, size_t n, CUstream) { GUARD(); NEED_CTX(); return alloc_locked(p, n); }
CUresult free_locked(CUdeviceptr p) {
  auto it = mem.find(p);
  if (it == mem.end()) return CUDA_ERROR_INVALID_VALUE;
  used_mem -= it->second.size;
  free(it->second.host);
  mem.erase(it);
  return CUDA_SUCCESS;
}
CUresult m_cuMemFree(CUdeviceptr p) { GUARD(); NEED_CTX(); return free_locked(p); }
CUresult m_cuMemFreeAsync(CUdeviceptr p, CUstream) { GUARD(); NEED_CTX(); return free_locked(p); }
CUresult m_cuMemGetInfo(size_t* f, size_t* t) { GUARD(); NEED_CTX(); *f = total_mem - used_mem; *t = total_mem; return CUDA_SUCCESS; }
CUresult m_cuMemHostAlloc(void** p, size_t n, unsigned) { GUARD(); NEED_CTX(); *p = malloc(n); pinned.insert(*p); return CUDA_SUCCESS; }
CUresult m_cuMemFreeHost(void* p) { GUARD(); if (!pinned.erase(p)) return CUDA_ERROR_INVALID_VALUE; free(p); return CUDA_SUCCESS; }
// The thread's stream-capture interaction mode (the mock captures nothing): a copy made outside the default
// (global) mode says so on stderr, so tests can see that the executor's side copies step out of a capture.
thread_local CUstreamCaptureMode capture_mode = CU_STREAM_CAPTURE_MODE_GLOBAL;
CUresult m_cuThreadExchangeStreamCaptureMode(CUstreamCaptureMode* m) {
  if (!m) return CUDA_ERROR_INVALID_VALUE;
  CUstreamCaptureMode was = capture_mode;
  capture_mode = *m;
  *m = was;
  return CUDA_SUCCESS;
}
CUresult m_cuMemcpyHtoDAsync(CUdeviceptr d, const void* s, size_t n, CUstream) {
  GUARD(); NEED_CTX();
  unsigned char* h = host(d, n);
  if (!h) return CUDA_ERROR_INVALID_VALUE;
  memcpy(h, s, n);
  if (capture_mode != CU_STREAM_CAPTURE_MODE_GLOBAL)
    fprintf(stderr, "mock_driver_htod capture_mode=%d bytes=%zu\n", (int)capture_mode, n);
  return CUDA_SUCCESS;
}
CUresult m_cuMemcpyDtoHAsync(void* d, CUdeviceptr s, size_t n, CUstream) {
  GUARD(); NEED_CTX();
  unsigned char* h = host(s, n);
  if (!h) return CUDA_ERROR_INVALID_VALUE;
  memcpy(d, h, n);
  return CUDA_SUCCESS;
}
CUresult m_cuMemcpyDtoD(CUdeviceptr d, CUdeviceptr s, size_t n) {
  GUARD(); NEED_CTX();
  unsigned char *hd = host(d, n), *hs = host(s, n);
  if (!hd || !hs) return CUDA_ERROR_INVALID_VALUE;
  memmove(hd, hs, n);
  return CUDA_SUCCESS;
}
CUresult m_cuMemcpyDtoDAsync(CUdeviceptr d, CUdeviceptr s, size_t n, CUstream) {
  GUARD(); NEED_CTX();
  unsigned char *hd = host(d, n), *hs = host(s, n);
  if (!hd || !hs) return CUDA_ERROR_INVALID_VALUE;
  memmove(hd, hs, n);
  return CUDA_SUCCESS;
}
template <class T>
CUresult set2d(CUdeviceptr d, size_t pitch, T v, size_t w, size_t h) {
  for (size_t r = 0; r < h; r++) {
    unsigned char* p = host(d + r * pitch, w * sizeof(T));
    if (!p) return CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; i < w; i++) memcpy(p + i * sizeof(T), &v, sizeof(T));
  }
  return CUDA_SUCCESS;
}
CUresult m_cuMemsetD8(CUdeviceptr d, unsigned char v, size_t n) { GUARD(); NEED_CTX(); return set2d(d, 0, v, n, 1); }
CUresult m_cuMemsetD16(CUdeviceptr d, unsigned short v, size_t n) { GUARD(); NEED_CTX(); return set2d(d, 0, v, n, 1); }
CUresult m_cuMemsetD32(CUdeviceptr d, unsigned v, size_t n) { GUARD(); NEED_CTX(); return set2d(d, 0, v, n, 1); }
CUresult m_cuMemsetD8Async(CUdeviceptr d, unsigned char v, size_t n, CUstream) { GUARD(); NEED_CTX(); return set2d(d, 0, v, n, 1); }
CUresult m_cuMemsetD16Async(CUdeviceptr d, unsigned short v, size_t n, CUstream) { GUARD(); NEED_CTX(); return set2d(d, 0, v, n, 1); }
CUresult m_cuMemsetD32Async(CUdeviceptr d, unsigned v, size_t n, CUstream) { GUARD(); NEED_CTX(); return set2d(d, 0, v, n, 1); }
CUresult m_cuMemsetD2D8(CUdeviceptr d, size_t p, unsigned char v, size_t w, size_t h) { GUARD(); NEED_CTX(); return set2d(d, p, v, w, h); }
CUresult m_cuMemsetD2D16(CUdeviceptr d, size_t p, unsigned short v, size_t w, size_t h) { GUARD(); NEED_CTX(); return set2d(d, p, v, w, h); }
CUresult m_cuMemsetD2D32(CUdeviceptr d, size_t p, unsigned v, size_t w, size_t h) { GUARD(); NEED_CTX(); return set2d(d, p, v, w, h); }
CUresult m_cuMemsetD2D8Async(CUdeviceptr d, size_t p, unsigned char v, size_t w, size_t h, CUstream) { GUARD(); NEED_CTX(); return set2d(d, p, v, w, h); }
CUresult m_cuMemsetD2D16Async(CUdeviceptr d, size_t p, unsigned short v, size_t w, size_t h, CUstream) { GUARD(); NEED_CTX(); return set2d(d, p, v, w, h); }
CUresult m_cuMemsetD2D32Async(CUdeviceptr d, size_t p, unsigned v, size_t w, size_t h, CUstream) { GUARD(); NEED_CTX(); return set2d(d, p, v, w, h); }
CUresult copy2d(const CUDA_MEMCPY2D* c) {
  for (size_t r = 0; r < c->Height; r++) {
    const unsigned char* s = c->srcMemoryType == CU_MEMORYTYPE_HOST
                                 ? (const unsigned char*)c->srcHost + r * c->srcPitch
                                 : host(c->srcDevice + r * c->srcPitch, c->WidthInBytes);
    unsigned char* d = c->dstMemoryType == CU_MEMORYTYPE_HOST ? (unsigned char*)c->dstHost + r * c->dstPitch
                                                              : host(c->dstDevice + r * c->dstPitch, c->WidthInBytes);
    if (!s || !d) return CUDA_ERROR_INVALID_VALUE;
    memmove(d, s, c->WidthInBytes);
  }
  return CUDA_SUCCESS;
}
CUresult m_cuMemcpy2D(const CUDA_MEMCPY2D* c) { GUARD(); NEED_CTX(); return copy2d(c); }
CUresult m_cuMemcpy2DAsync(const CUDA_MEMCPY2D* c, CUstream) { GUARD(); NEED_CTX(); return copy2d(c); }

bool stream_ok(CUstream s) { return s == nullptr || s == CU_STREAM_LEGACY || s == CU_STREAM_PER_THREAD || streams.count(s); }
CUresult m_cuStreamCreateWithPriority(CUstream* s, unsigned, int) { GUARD(); NEED_CTX(); *s = (CUstream) new char; streams.insert(*s); return CUDA_SUCCESS; }
CUresult m_cuStreamDestroy(CUstream s) { GUARD(); if (!streams.erase(s)) return CUDA_ERROR_INVALID_HANDLE; delete (char*)s; return CUDA_SUCCESS; }
CUresult m_cuStreamSynchronize(CUstream s) {
  GUARD();
  if (!stream_ok(s)) return CUDA_ERROR_INVALID_HANDLE;
  flush_printed();
  return CUDA_SUCCESS;
}
CUresult m_cuStreamQuery(CUstream s) { GUARD(); return stream_ok(s) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE; }
CUresult m_cuStreamWaitEvent(CUstream s, CUevent e, unsigned) { GUARD(); return stream_ok(s) && events.count(e) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE; }
CUresult m_cuEventCreate(CUevent* e, unsigned f) { GUARD(); NEED_CTX(); *e = (CUevent) new char; events[*e].flags = f; return CUDA_SUCCESS; }
CUresult m_cuEventDestroy(CUevent e) { std::lock_guard<std::mutex> l(mu); if (!events.erase(e)) return CUDA_ERROR_INVALID_HANDLE; delete (char*)e; return CUDA_SUCCESS; }
CUresult m_cuEventRecord(CUevent e, CUstream s) {
  GUARD();
  auto it = events.find(e);
  if (it == events.end() || !stream_ok(s)) return CUDA_ERROR_INVALID_HANDLE;
  it->second.recorded = true;
  it->second.at = std::chrono::steady_clock::now();
  return CUDA_SUCCESS;
}
CUresult m_cuEventRecordWithFlags(CUevent e, CUstream s, unsigned) {
  GUARD();
  auto it = events.find(e);
  if (it == events.end() || !stream_ok(s)) return CUDA_ERROR_INVALID_HANDLE;
  it->second.recorded = true;
  it->second.at = std::chrono::steady_clock::now();
  return CUDA_SUCCESS;
}
CUresult m_cuEventSynchronize(CUevent e) { GUARD(); return events.count(e) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE; }
CUresult m_cuEventQuery(CUevent e) { GUARD(); return events.count(e) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE; }
CUresult m_cuEventElapsedTime(float* ms, CUevent a, CUevent b) {
  GUARD();
  auto ia = events.find(a), ib = events.find(b);
  if (ia == events.end() || ib == events.end() || !ia->second.recorded || !ib->second.recorded) return CUDA_ERROR_INVALID_HANDLE;
  *ms = std::chrono::duration<float, std::milli>(ib->second.at - ia->second.at).count();
  return CUDA_SUCCESS;
}

void drop_globals(void* m);
Func* func_named(const char* name, bool kernel) {
  if (strcmp(name, "avec_fill") != 0 && strcmp(name, "avec_print") != 0) return nullptr;
  std::string key = std::string(kernel ? "k:" : "f:") + name;
  Func*& f = funcs[key];
  if (!f) f = new Func{name, kernel};
  return f;
}
CUresult m_cuModuleLoadData(CUmodule* m, const void* img) { GUARD(); NEED_CTX(); if (!img) return CUDA_ERROR_INVALID_IMAGE; *m = (CUmodule) new char; modules.insert(*m); return CUDA_SUCCESS; }
CUresult m_cuModuleUnload(CUmodule m) {
  GUARD();
  if (!modules.erase(m)) return CUDA_ERROR_INVALID_HANDLE;
  flush_printed();
  drop_globals(m);
  delete (char*)m;
  return CUDA_SUCCESS;
}
CUresult m_cuModuleGetFunction(CUfunction* f, CUmodule m, const char* n) {
  GUARD(); NEED_CTX();
  if (!modules.count(m)) return CUDA_ERROR_INVALID_HANDLE;
  Func* x = func_named(n, false);
  if (!x) return CUDA_ERROR_NOT_FOUND;
  *f = (CUfunction)x;
  return CUDA_SUCCESS;
}
std::map<std::pair<void*, std::string>, CUdeviceptr> globals;  // freed with their module, as the driver does
void drop_globals(void* m) {
  for (auto it = globals.begin(); it != globals.end();) {
    if (it->first.first == m) { free_locked(it->second); it = globals.erase(it); } else ++it;
  }
}
CUresult global_locked(CUdeviceptr* p, size_t* n, void* m, const char* name) {
  if (!modules.count(m)) return CUDA_ERROR_INVALID_HANDLE;
  if (strcmp(name, "avec_table") != 0) return CUDA_ERROR_NOT_FOUND;
  auto key = std::make_pair(m, std::string(name));
  if (!globals.count(key) || !mem.count(globals[key])) {
    CUresult r = alloc_locked(&globals[key], 256);
    if (r) return r;
  }
  *p = globals[key];
  *n = 256;
  return CUDA_SUCCESS;
}
CUresult m_cuModuleGetGlobal(CUdeviceptr* p, size_t* n, CUmodule m, const char* name) { GUARD(); NEED_CTX(); return global_locked(p, n, m, name); }
CUresult m_cuLibraryLoadData(CUlibrary* l, const void* img, CUjit_option*, void**, unsigned, CUlibraryOption*, void**, unsigned) {
  GUARD();
  if (!img) return CUDA_ERROR_INVALID_IMAGE;
  *l = (CUlibrary) new char;
  modules.insert(*l);
  return CUDA_SUCCESS;
}
CUresult m_cuLibraryUnload(CUlibrary l) { GUARD(); if (!modules.erase(l)) return CUDA_ERROR_INVALID_HANDLE; drop_globals(l); delete (char*)l; return CUDA_SUCCESS; }
CUresult m_cuLibraryGetKernel(CUkernel* k, CUlibrary l, const char* n) {
  GUARD();
  if (!modules.count(l)) return CUDA_ERROR_INVALID_HANDLE;
  Func* x = func_named(n, true);
  if (!x) return CUDA_ERROR_NOT_FOUND;
  *k = (CUkernel)x;
  return CUDA_SUCCESS;
}
CUresult m_cuLibraryGetGlobal(CUdeviceptr* p, size_t* n, CUlibrary l, const char* name) { GUARD(); NEED_CTX(); return global_locked(p, n, l, name); }
CUresult m_cuKernelGetFunction(CUfunction* f, CUkernel k) { GUARD(); NEED_CTX(); *f = (CUfunction)func_named(((Func*)k)->name.c_str(), false); return CUDA_SUCCESS; }
CUresult m_cuFuncGetAttribute(int* v, CUfunction_attribute a, CUfunction) { GUARD(); *v = a == CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK ? 1024 : 0; return CUDA_SUCCESS; }
CUresult m_cuKernelGetAttribute(int* v, CUfunction_attribute a, CUkernel, CUdevice) { GUARD(); *v = a == CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK ? 1024 : 0; return CUDA_SUCCESS; }
CUresult m_cuFuncSetAttribute(CUfunction, CUfunction_attribute, int) { GUARD(); return CUDA_SUCCESS; }
CUresult m_cuKernelSetAttribute(CUfunction_attribute, int, CUkernel, CUdevice) { GUARD(); return CUDA_SUCCESS; }
CUresult m_cuFuncSetCacheConfig(CUfunction, CUfunc_cache) { GUARD(); return CUDA_SUCCESS; }
CUresult m_cuKernelSetCacheConfig(CUkernel, CUfunc_cache, CUdevice) { GUARD(); return CUDA_SUCCESS; }
// avec_fill(unsigned *p, unsigned n, unsigned value): offsets 0, 8, 12; avec_print(unsigned value): 0
CUresult param_info(const Func* f, size_t i, size_t* off, size_t* sz) {
  static const size_t offs[] = {0, 8, 12}, sizes[] = {8, 4, 4};
  bool print = f && f->name == "avec_print";
  if (i >= (print ? 1u : 3u)) return CUDA_ERROR_INVALID_VALUE;
  *off = print ? 0 : offs[i];
  *sz = print ? 4 : sizes[i];
  return CUDA_SUCCESS;
}
CUresult m_cuFuncGetParamInfo(CUfunction f, size_t i, size_t* o, size_t* s) { GUARD(); return param_info((Func*)f, i, o, s); }
CUresult m_cuKernelGetParamInfo(CUkernel k, size_t i, size_t* o, size_t* s) { GUARD(); return param_info((Func*)k, i, o, s); }
CUresult m_cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(int* n, CUfunction, int, size_t, unsigned) { GUARD(); *n = 8; return CUDA_SUCCESS; }
CUresult m_cuOccupancyAvailableDynamicSMemPerBlock(size_t* s, CUfunction, int, int) { GUARD(); *s = 48 * 1024; return CUDA_SUCCESS; }
CUresult m_cuOccupancyMaxPotentialBlockSizeWithFlags(int* g, int* b, CUfunction, CUoccupancyB2DSize, size_t, int, unsigned) { GUARD(); *g = 264; *b = 1024; return CUDA_SUCCESS; }

// clusters of the requested size that fit on 132 SMs of 8 blocks each; records what it was asked
CUresult m_cuOccupancyMaxActiveClusters(int* n, CUfunction, const CUlaunchConfig* c) {
  GUARD();
  unsigned cluster = 1;
  for (unsigned i = 0; i < c->numAttrs; i++)
    if (c->attrs[i].id == CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION)
      cluster = c->attrs[i].value.clusterDim.x * c->attrs[i].value.clusterDim.y * c->attrs[i].value.clusterDim.z;
  if (c->gridDimX * c->gridDimY * c->gridDimZ % cluster) return CUDA_ERROR_INVALID_CLUSTER_SIZE;
  *n = (int)(132 * 8 / cluster);
  return CUDA_SUCCESS;
}
// `threads` threads of avec_print, each printing its line
CUresult run_print(void** params, unsigned long long threads) {
  unsigned value;
  memcpy(&value, params[0], 4);
  char line[32];
  int n = snprintf(line, sizeof line, "avec_print %u\n", value);
  for (unsigned long long t = 0; t < threads; t++) printed.append(line, (size_t)n);
  return CUDA_SUCCESS;
}
CUresult run_kernel(CUfunction f, void** params, void** extra, unsigned long long threads) {
  Func* fn = (Func*)f;
  if (!fn || (fn->name != "avec_fill" && fn->name != "avec_print")) return CUDA_ERROR_INVALID_HANDLE;
  if (!params || extra) return CUDA_ERROR_INVALID_VALUE;
  if (fn->name == "avec_print") return run_print(params, threads);
  CUdeviceptr p;
  unsigned n, value;
  memcpy(&p, params[0], 8);
  memcpy(&n, params[1], 4);
  memcpy(&value, params[2], 4);
  unsigned char* h = host(p, (size_t)n * 4);
  if (!h) { ((Ctx*)current)->sticky = CUDA_ERROR_ILLEGAL_ADDRESS; return CUDA_ERROR_ILLEGAL_ADDRESS; }
  for (unsigned i = 0; i < n; i++) memcpy(h + 4 * (size_t)i, &value, 4);
  return CUDA_SUCCESS;
}
unsigned long long threads(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz) {
  return (unsigned long long)gx * gy * gz * bx * by * bz;
}
CUresult m_cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                          unsigned, CUstream s, void** p, void** e) {
  GUARD(); NEED_CTX();
  if (!stream_ok(s)) return CUDA_ERROR_INVALID_HANDLE;
  return run_kernel(f, p, e, threads(gx, gy, gz, bx, by, bz));
}
CUresult m_cuLaunchKernelEx(const CUlaunchConfig* c, CUfunction f, void** p, void** e) {
  GUARD(); NEED_CTX();
  for (unsigned i = 0; i < c->numAttrs; i++)
    if ((c->attrs[i].id == CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT || c->attrs[i].id == CU_LAUNCH_ATTRIBUTE_LAUNCH_COMPLETION_EVENT) &&
        !events.count(c->attrs[i].value.programmaticEvent.event))
      return CUDA_ERROR_INVALID_HANDLE;  // the executor must hand over its own event, not the client's handle
  for (unsigned i = 0; i < c->numAttrs; i++)  // cuda.h: a completion event must disable timing (the driver: 801)
    if (c->attrs[i].id == CU_LAUNCH_ATTRIBUTE_LAUNCH_COMPLETION_EVENT &&
        !(events[c->attrs[i].value.launchCompletionEvent.event].flags & CU_EVENT_DISABLE_TIMING))
      return CUDA_ERROR_NOT_SUPPORTED;
  return run_kernel(f, p, e, threads(c->gridDimX, c->gridDimY, c->gridDimZ, c->blockDimX, c->blockDimY, c->blockDimZ));
}
CUresult m_cuLaunchCooperativeKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                                     unsigned bz, unsigned, CUstream, void** p) {
  GUARD(); NEED_CTX();
  return run_kernel(f, p, nullptr, threads(gx, gy, gz, bx, by, bz));
}
CUresult m_cuGetErrorName(CUresult, const char** s) { *s = "CUDA_ERROR_MOCK"; return CUDA_SUCCESS; }

// Shareable handles: physical allocations and pools remember the handle types they were made with, and
// export only what was asked for (so a test sees that the executor passed them on). An exported fd is a
// memfd naming the object ("MOCKVMM1" + size, or "MOCKPOOL" + a random pool id); another process (another
// executor session) imports from it. Pointer export data names the pool id and the allocation's size; an
// import into another pool fails, as with the driver. Imported pointers are fresh blocks here: the mock
// shares no memory between processes.
struct Physical { size_t size; unsigned types; };
struct Pool { unsigned types; uint64_t id; bool imported; bool shared = false; };
std::map<CUmemGenericAllocationHandle, Physical> physical;
std::map<CUmemoryPool, Pool> pools;
std::map<CUdeviceptr, CUmemoryPool> pool_of;
uint64_t next_handle = 0x1000;
int export_fd(const char magic[8], uint64_t value) {
  int fd = memfd_create("mock-shareable", MFD_CLOEXEC);
  char b[16];
  memcpy(b, magic, 8);
  memcpy(b + 8, &value, 8);
  if (fd >= 0 && write(fd, b, 16) != 16) { close(fd); fd = -1; }
  return fd;
}
bool import_fd(int fd, const char magic[8], uint64_t* value) {
  char b[16];
  if (pread(fd, b, 16, 0) != 16 || memcmp(b, magic, 8)) return false;
  memcpy(value, b + 8, 8);
  return true;
}
CUresult m_cuMemCreate(CUmemGenericAllocationHandle* h, size_t size, const CUmemAllocationProp* p, unsigned long long) {
  GUARD();
  *h = next_handle++;
  physical[*h] = Physical{size, (unsigned)p->requestedHandleTypes};
  return CUDA_SUCCESS;
}
CUresult m_cuMemRelease(CUmemGenericAllocationHandle h) { GUARD(); return physical.erase(h) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE; }
CUresult m_cuMemExportToShareableHandle(void* out, CUmemGenericAllocationHandle h, CUmemAllocationHandleType t, unsigned long long) {
  GUARD();
  auto it = physical.find(h);
  if (it == physical.end() || t != CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR || !(it->second.types & t))
    return CUDA_ERROR_INVALID_VALUE;
  int fd = export_fd("MOCKVMM1", it->second.size);
  if (fd < 0) return CUDA_ERROR_OPERATING_SYSTEM;
  *(int*)out = fd;
  return CUDA_SUCCESS;
}
CUresult m_cuMemImportFromShareableHandle(CUmemGenericAllocationHandle* h, void* fd, CUmemAllocationHandleType t) {
  GUARD();
  uint64_t size = 0;
  if (t != CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR || !import_fd((int)(intptr_t)fd, "MOCKVMM1", &size))
    return CUDA_ERROR_INVALID_VALUE;
  *h = next_handle++;
  physical[*h] = Physical{(size_t)size, (unsigned)t};
  return CUDA_SUCCESS;
}
CUresult m_cuMemPoolCreate(CUmemoryPool* p, const CUmemPoolProps* props) {
  GUARD();
  *p = (CUmemoryPool)(uintptr_t)next_handle++;
  pools[*p] = Pool{(unsigned)props->handleTypes, ((uint64_t)getpid() << 32) | next_handle++, false};
  return CUDA_SUCCESS;
}
CUresult m_cuMemPoolDestroy(CUmemoryPool p) { GUARD(); return pools.erase(p) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE; }
CUresult m_cuMemAllocFromPoolAsync(CUdeviceptr* d, size_t n, CUmemoryPool p, CUstream) {
  GUARD(); NEED_CTX();
  if (!pools.count(p) || pools[p].imported) return CUDA_ERROR_INVALID_VALUE;
  CUresult r = alloc_locked(d, n);
  if (!r) pool_of[*d] = p;
  return r;
}
CUresult m_cuMemPoolExportToShareableHandle(void* out, CUmemoryPool p, CUmemAllocationHandleType t, unsigned long long) {
  GUARD();
  auto it = pools.find(p);
  if (it == pools.end() || t != CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR || !(it->second.types & t)) return CUDA_ERROR_INVALID_VALUE;
  int fd = export_fd("MOCKPOOL", it->second.id);
  if (fd < 0) return CUDA_ERROR_OPERATING_SYSTEM;
  it->second.shared = true;
  *(int*)out = fd;
  return CUDA_SUCCESS;
}
CUresult m_cuMemPoolImportFromShareableHandle(CUmemoryPool* p, void* fd, CUmemAllocationHandleType t, unsigned long long) {
  GUARD();
  uint64_t id = 0;
  if (t != CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR || !import_fd((int)(intptr_t)fd, "MOCKPOOL", &id)) return CUDA_ERROR_INVALID_VALUE;
  *p = (CUmemoryPool)(uintptr_t)next_handle++;
  pools[*p] = Pool{(unsigned)t, id, true};
  return CUDA_SUCCESS;
}
CUresult m_cuMemPoolExportPointer(CUmemPoolPtrExportData* out, CUdeviceptr d) {
  GUARD();
  auto it = pool_of.find(d);
  // cuda.h: "from an already shared memory pool" (the real driver refuses an allocation of a pool not yet
  // exported with CUDA_ERROR_INVALID_VALUE, GPU run 26)
  if (it == pool_of.end() || !pools.count(it->second) || !pools[it->second].shared) return CUDA_ERROR_INVALID_VALUE;
  uint64_t v[2] = {pools[it->second].id, mem[d].size};
  memset(out, 0, sizeof *out);
  memcpy(out->reserved, v, sizeof v);
  return CUDA_SUCCESS;
}
CUresult m_cuMemPoolImportPointer(CUdeviceptr* d, CUmemoryPool p, CUmemPoolPtrExportData* data) {
  GUARD(); NEED_CTX();
  uint64_t v[2];
  memcpy(v, data->reserved, sizeof v);
  auto it = pools.find(p);
  if (it == pools.end() || !it->second.imported || it->second.id != v[0]) return CUDA_ERROR_INVALID_VALUE;
  return alloc_locked(d, (size_t)v[1]);
}
CUresult m_cuMemGetAddressRange(CUdeviceptr* base, size_t* size, CUdeviceptr d) {
  GUARD();
  auto it = mem.upper_bound(d);
  if (it == mem.begin() || d - (--it)->first >= it->second.size) return CUDA_ERROR_NOT_FOUND;
  *base = it->first;
  *size = it->second.size;
  return CUDA_SUCCESS;
}

#define MOCK_FUNCS(X)                                                                                        \
  X(cuInit) X(cuDriverGetVersion) X(cuDeviceGet) X(cuDeviceGetCount) X(cuDeviceGetName) X(cuDeviceGetUuid)   \
  X(cuDeviceTotalMem) X(cuDeviceGetAttribute) X(cuDevicePrimaryCtxRetain) X(cuDevicePrimaryCtxRelease)       \
  X(cuDevicePrimaryCtxReset) X(cuDevicePrimaryCtxSetFlags) X(cuCtxCreate) X(cuCtxDestroy) X(cuCtxSetCurrent) \
  X(cuCtxSynchronize) X(cuCtxSetLimit) X(cuCtxGetLimit) X(cuCtxSetCacheConfig) X(cuCtxGetDevice)             \
  X(cuMemAlloc) X(cuMemAllocPitch) X(cuMemAllocAsync) X(cuMemFree) X(cuMemFreeAsync) X(cuMemGetInfo)         \
  X(cuMemHostAlloc) X(cuMemFreeHost) X(cuMemcpyHtoDAsync) X(cuMemcpyDtoHAsync) X(cuMemcpyDtoD)               \
  X(cuMemcpyDtoDAsync) X(cuMemsetD8) X(cuMemsetD16) X(cuMemsetD32) X(cuMemsetD8Async) X(cuMemsetD16Async)    \
  X(cuMemsetD32Async) X(cuMemsetD2D8) X(cuMemsetD2D16) X(cuMemsetD2D32) X(cuMemsetD2D8Async)                 \
  X(cuMemsetD2D16Async) X(cuMemsetD2D32Async) X(cuMemcpy2D) X(cuMemcpy2DAsync) X(cuStreamCreateWithPriority) \
  X(cuStreamDestroy) X(cuStreamSynchronize) X(cuStreamQuery) X(cuStreamWaitEvent) X(cuEventCreate)           \
  X(cuEventDestroy) X(cuEventRecord) X(cuEventRecordWithFlags) X(cuEventSynchronize) X(cuEventQuery)         \
  X(cuEventElapsedTime) X(cuModuleLoadData) X(cuModuleUnload) X(cuModuleGetFunction) X(cuModuleGetGlobal)    \
  X(cuLibraryLoadData) X(cuLibraryUnload) X(cuLibraryGetKernel) X(cuLibraryGetGlobal) X(cuKernelGetFunction) \
  X(cuFuncGetAttribute) X(cuKernelGetAttribute) X(cuFuncSetAttribute) X(cuKernelSetAttribute)                \
  X(cuFuncSetCacheConfig) X(cuKernelSetCacheConfig) X(cuFuncGetParamInfo) X(cuKernelGetParamInfo)            \
  X(cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags) X(cuOccupancyAvailableDynamicSMemPerBlock)         \
  X(cuOccupancyMaxPotentialBlockSizeWithFlags) X(cuOccupancyMaxActiveClusters) X(cuLaunchKernel)            \
  X(cuLaunchKernelEx)                                                                                        \
  X(cuLaunchCooperativeKernel) X(cuGetErrorName) X(cuThreadExchangeStreamCaptureMode) X(cuMemCreate)          \
  X(cuMemRelease) X(cuMemExportToShareableHandle) X(cuMemImportFromShareableHandle) X(cuMemPoolCreate)        \
  X(cuMemPoolDestroy) X(cuMemAllocFromPoolAsync) X(cuMemPoolExportToShareableHandle)                         \
  X(cuMemPoolImportFromShareableHandle) X(cuMemPoolExportPointer) X(cuMemPoolImportPointer) X(cuMemGetAddressRange)

}  // namespace

extern "C" {
__attribute__((visibility("default"))) CUresult cuGetProcAddress_v2(const char* name, void** pfn, int version,
                                                                     cuuint64_t, CUdriverProcAddressQueryResult* st) {
  *pfn = nullptr;
  if (version > 13000) { if (st) *st = CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT; return CUDA_ERROR_INVALID_VALUE; }
  // static_cast checks each mock against the CUDA 13.0 prototype of that name
#define MOCK_ENTRY(n) if (!strcmp(name, #n)) *pfn = reinterpret_cast<void*>(static_cast<decltype(&n)>(&m_##n));
  MOCK_FUNCS(MOCK_ENTRY)
#undef MOCK_ENTRY
  if (st) *st = *pfn ? CU_GET_PROC_ADDRESS_SUCCESS : CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
  return *pfn ? CUDA_SUCCESS : CUDA_ERROR_NOT_FOUND;
}
#ifdef MOCK_SHIM_MARKER
__attribute__((visibility("default"))) int cuAvecShimVersion(void) { return 1; }
#endif
}
