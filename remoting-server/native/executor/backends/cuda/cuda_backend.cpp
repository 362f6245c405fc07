// The real device through the NVIDIA driver (driver.h loads it). Every failure returns the driver's
// CUresult unchanged, so the client sees what a local call would.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "../../src/backend.h"
#include "../../src/log.h"
#include "driver.h"

namespace avec {
namespace {

// The context of the host function running on this (driver callback) thread, for its copies.
thread_local CUcontext t_host_ctx = nullptr;

struct Staging {  // two pinned buffers with the events that guard their reuse
  void* buf[2] = {nullptr, nullptr};
  CUevent ev[2] = {nullptr, nullptr};
  bool busy[2] = {false, false};
  int next = 0;
  bool ok = false;
};

class CudaBackend final : public Backend {
 public:
  CudaBackend(const BackendOptions& o, void* lib, const Driver& d) : opts_(o), lib_(lib), d_(d) {}
  ~CudaBackend() override {
    drop_staging_all();  // normally already done when the session released its contexts
    // lib_ stays open on purpose: the driver is not built to be unloaded, and the process exits next
  }
  void* library() const { return lib_; }
  const char* name() const override { return "cuda"; }
  bool emulated() const override { return false; }

  CUresult init() override {
    CUresult r = d_.p_cuInit(0);
    if (r) return r;
    int n = 0;
    if ((r = d_.p_cuDeviceGetCount(&n))) return r;
    if (opts_.device >= n) return CUDA_ERROR_INVALID_DEVICE;
    if ((r = d_.p_cuDeviceGet(&dev_, opts_.device))) return r;
    d_.p_cuDriverGetVersion(&version_);
    return CUDA_SUCCESS;
  }
  int device_count() override { return 1; }
  int driver_version() override { return version_; }

  CUresult info_of(CUdevice dev, avec_device_info* out) {
    ::memset(out, 0, sizeof *out);
    CUresult r = d_.p_cuDeviceGetName(out->name, sizeof out->name - 1, dev);
    if (r) return r;
    CUuuid u;
    if ((r = d_.p_cuDeviceGetUuid(&u, dev))) return r;
    memcpy(out->uuid, u.bytes, 16);
    size_t total = 0;
    if ((r = d_.p_cuDeviceTotalMem(&total, dev))) return r;
    out->total_mem = total;
    for (int a = 1; a < CU_DEVICE_ATTRIBUTE_MAX && a < (int)AVEC_DEV_ATTR_SLOTS; a++) {
      int v = 0;
      if (d_.p_cuDeviceGetAttribute(&v, (CUdevice_attribute)a, dev) == CUDA_SUCCESS) out->attrs[a] = v;
    }
    out->pci_domain = out->attrs[CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID];
    out->pci_bus = out->attrs[CU_DEVICE_ATTRIBUTE_PCI_BUS_ID];
    out->pci_device = out->attrs[CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID];
    out->cc_major = out->attrs[CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR];
    out->cc_minor = out->attrs[CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR];
    return CUDA_SUCCESS;
  }
  CUresult device_info(int dev, avec_device_info* out) override {
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    return info_of(dev_, out);
  }
  CUresult describe(std::vector<avec_device_info>* all) override {
    int n = 0;
    CUresult r = d_.p_cuDeviceGetCount(&n);
    if (r) return r;
    all->assign(n, avec_device_info{});
    for (int i = 0; i < n; i++) {
      CUdevice d;
      if ((r = d_.p_cuDeviceGet(&d, i)) || (r = info_of(d, &(*all)[i]))) return r;
    }
    return CUDA_SUCCESS;
  }

  // contexts
  CUresult primary_ctx_retain(int dev, BH* ctx) override {
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    CUcontext c = nullptr;
    CUresult r = d_.p_cuDevicePrimaryCtxRetain(&c, dev_);
    *ctx = (BH)c;
    return r;
  }
  CUresult primary_ctx_release(int dev) override {
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    drop_staging_all();
    return d_.p_cuDevicePrimaryCtxRelease(dev_);
  }
  CUresult primary_ctx_reset(int dev) override {
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    drop_staging_all();
    return d_.p_cuDevicePrimaryCtxReset(dev_);
  }
  CUresult primary_ctx_set_flags(int dev, uint32_t flags) override {
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    return d_.p_cuDevicePrimaryCtxSetFlags(dev_, flags);
  }
  CUresult ctx_create(int dev, uint32_t flags, BH* ctx) override {
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    CUcontext c = nullptr;
    CUresult r = d_.p_cuCtxCreate(&c, nullptr, flags, dev_);
    if (r == CUDA_SUCCESS) { *ctx = (BH)c; current_ = c; }
    return r;
  }
  CUresult ctx_destroy(BH ctx) override {
    settle();
    drop_staging_of((CUcontext)ctx);
    if (current_ == (CUcontext)ctx) current_ = nullptr;
    return d_.p_cuCtxDestroy((CUcontext)ctx);
  }
  CUresult ctx_set_current(BH ctx) override {
    CUresult r = d_.p_cuCtxSetCurrent((CUcontext)ctx);
    if (r == CUDA_SUCCESS) current_ = (CUcontext)ctx;
    return r;
  }
  CUresult ctx_synchronize() override { settle(); return d_.p_cuCtxSynchronize(); }
  CUresult ctx_set_limit(uint32_t limit, uint64_t value) override { settle(); return d_.p_cuCtxSetLimit((CUlimit)limit, value); }
  CUresult ctx_get_limit(uint32_t limit, uint64_t* value) override {
    size_t v = 0;
    CUresult r = d_.p_cuCtxGetLimit(&v, (CUlimit)limit);
    *value = v;
    return r;
  }
  CUresult ctx_set_cache_config(uint32_t c) override { return d_.p_cuCtxSetCacheConfig((CUfunc_cache)c); }

  // memory
  CUresult mem_alloc(uint64_t size, uint64_t* dptr) override {
    settle();
    CUdeviceptr p = 0;
    CUresult r = d_.p_cuMemAlloc(&p, size);
    *dptr = p;
    return r;
  }
  CUresult mem_alloc_pitch(uint64_t width, uint64_t height, uint32_t elem, uint64_t* dptr, uint64_t* pitch) override {
    settle();
    CUdeviceptr p = 0;
    size_t pt = 0;
    CUresult r = d_.p_cuMemAllocPitch(&p, &pt, width, height, elem);
    *dptr = p;
    *pitch = pt;
    return r;
  }
  CUresult mem_free(uint64_t dptr) override { settle(); return d_.p_cuMemFree(dptr); }
  CUresult mem_free_async(uint64_t dptr, BH stream) override { settle(); return d_.p_cuMemFreeAsync(dptr, (CUstream)stream); }
  CUresult mem_get_info(uint64_t* free_b, uint64_t* total) override {
    size_t f = 0, t = 0;
    CUresult r = d_.p_cuMemGetInfo(&f, &t);
    *free_b = f;
    *total = t;
    return r;
  }

  void* htod_staging(size_t len) override {
    if (len > AVEC_CHUNK) return nullptr;
    Staging* s = staging(&htod_, 0);
    if (!s) return nullptr;
    int slot = s->next;
    if (s->busy[slot]) {
      if (d_.p_cuEventSynchronize(s->ev[slot]) != CUDA_SUCCESS) return nullptr;
      s->busy[slot] = false;
    }
    staged_slot_ = slot;
    return s->buf[slot];
  }
  CUresult htod_submit(void* staging_ptr, uint64_t dst, size_t len, BH stream, bool async) override {
    Staging* s = staging(&htod_, 0);
    if (!s || staged_slot_ < 0 || s->buf[staged_slot_] != staging_ptr) return CUDA_ERROR_INVALID_VALUE;
    int slot = staged_slot_;
    staged_slot_ = -1;
    if (async) settle();  // pending_sync_ must keep naming the last synchronous copy's event
    CUresult r = d_.p_cuMemcpyHtoDAsync(dst, staging_ptr, len, (CUstream)stream);
    if (r) return r;
    r = d_.p_cuEventRecord(s->ev[slot], (CUstream)stream);
    if (r) {  // cannot guard the buffer: wait for the copy instead
      d_.p_cuStreamSynchronize((CUstream)stream);
      return CUDA_SUCCESS;
    }
    s->busy[slot] = true;
    s->next = slot ^ 1;
    if (!async) {  // cuMemcpyHtoD semantics: later work of any stream must see the data
      pending_sync_ = s->ev[slot];
    }
    return CUDA_SUCCESS;
  }
  CUresult memcpy_htod(uint64_t dst, const void* src, size_t len, BH stream, bool async) override {
    for (size_t off = 0; off < len;) {
      size_t n = len - off < AVEC_CHUNK ? len - off : AVEC_CHUNK;
      void* stg = htod_staging(n);
      if (!stg) return CUDA_ERROR_OUT_OF_MEMORY;
      memcpy(stg, static_cast<const uint8_t*>(src) + off, n);
      CUresult r = htod_submit(stg, dst + off, n, stream, async);
      if (r) return r;
      off += n;
    }
    return CUDA_SUCCESS;
  }
  // Device -> pinned staging of chunk i+1 runs while chunk i is being sent.
  CUresult memcpy_dtoh(uint64_t src, uint64_t len, BH stream, bool, ChunkSink& sink) override {
    settle();
    Staging* s = staging(&dtoh_, 1);
    if (!s) return CUDA_ERROR_OUT_OF_MEMORY;
    uint64_t chunks = (len + AVEC_CHUNK - 1) / AVEC_CHUNK;
    auto size_of = [&](uint64_t k) { return k + 1 < chunks ? (uint64_t)AVEC_CHUNK : len - k * AVEC_CHUNK; };
    auto issue = [&](uint64_t k) -> CUresult {
      int slot = (int)(k & 1);
      CUresult r = d_.p_cuMemcpyDtoHAsync(s->buf[slot], src + k * AVEC_CHUNK, size_of(k), (CUstream)stream);
      if (!r) r = d_.p_cuEventRecord(s->ev[slot], (CUstream)stream);
      return r;
    };
    auto drain = [&] {
      d_.p_cuEventSynchronize(s->ev[0]);
      d_.p_cuEventSynchronize(s->ev[1]);
    };
    CUresult r = issue(0);
    if (!r && chunks > 1) r = issue(1);
    for (uint64_t k = 0; k < chunks && !r; k++) {
      int slot = (int)(k & 1);
      r = d_.p_cuEventSynchronize(s->ev[slot]);
      if (r) break;
      if (!sink.send(s->buf[slot], size_of(k), k + 1 == chunks)) { drain(); return CUDA_ERROR_UNKNOWN; }
      if (k + 2 < chunks) r = issue(k + 2);
    }
    if (r) drain();
    return r;
  }
  CUresult memcpy_dtod(uint64_t dst, uint64_t src, uint64_t len, BH stream, bool async) override {
    settle();
    return async ? d_.p_cuMemcpyDtoDAsync(dst, src, len, (CUstream)stream) : d_.p_cuMemcpyDtoD(dst, src, len);
  }
  CUresult memset(uint64_t dst, uint64_t pitch, uint64_t width, uint64_t height, uint32_t value, uint32_t elem,
                  BH stream, bool async) override {
    settle();
    CUstream s = (CUstream)stream;
    if (pitch == 0 || height <= 1) {
      switch (elem) {
        case 1: return async ? d_.p_cuMemsetD8Async(dst, (unsigned char)value, width, s) : d_.p_cuMemsetD8(dst, (unsigned char)value, width);
        case 2: return async ? d_.p_cuMemsetD16Async(dst, (unsigned short)value, width, s) : d_.p_cuMemsetD16(dst, (unsigned short)value, width);
        case 4: return async ? d_.p_cuMemsetD32Async(dst, value, width, s) : d_.p_cuMemsetD32(dst, value, width);
      }
      return CUDA_ERROR_INVALID_VALUE;
    }
    switch (elem) {
      case 1: return async ? d_.p_cuMemsetD2D8Async(dst, pitch, (unsigned char)value, width, height, s) : d_.p_cuMemsetD2D8(dst, pitch, (unsigned char)value, width, height);
      case 2: return async ? d_.p_cuMemsetD2D16Async(dst, pitch, (unsigned short)value, width, height, s) : d_.p_cuMemsetD2D16(dst, pitch, (unsigned short)value, width, height);
      case 4: return async ? d_.p_cuMemsetD2D32Async(dst, pitch, value, width, height, s) : d_.p_cuMemsetD2D32(dst, pitch, value, width, height);
    }
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult copy2d(CUDA_MEMCPY2D& c, BH stream, bool async) {
    settle();
    if (!async) return d_.p_cuMemcpy2D(&c);
    CUresult r = d_.p_cuMemcpy2DAsync(&c, (CUstream)stream);
    // host memory here is the session's pageable buffer: it must be consumed before the call returns
    if (!r && (c.srcMemoryType == CU_MEMORYTYPE_HOST || c.dstMemoryType == CU_MEMORYTYPE_HOST))
      r = d_.p_cuStreamSynchronize((CUstream)stream);
    return r;
  }
  CUresult memcpy2d_htod(uint64_t dst, uint64_t dpitch, const void* src, uint64_t width, uint64_t height, BH stream,
                         bool async) override {
    CUDA_MEMCPY2D c = {};
    c.srcMemoryType = CU_MEMORYTYPE_HOST;
    c.srcHost = src;
    c.srcPitch = width;
    c.dstMemoryType = CU_MEMORYTYPE_DEVICE;
    c.dstDevice = dst;
    c.dstPitch = dpitch;
    c.WidthInBytes = width;
    c.Height = height;
    return copy2d(c, stream, async);
  }
  CUresult memcpy2d_dtoh(void* dst, uint64_t src, uint64_t spitch, uint64_t width, uint64_t height, BH stream,
                         bool async) override {
    CUDA_MEMCPY2D c = {};
    c.srcMemoryType = CU_MEMORYTYPE_DEVICE;
    c.srcDevice = src;
    c.srcPitch = spitch;
    c.dstMemoryType = CU_MEMORYTYPE_HOST;
    c.dstHost = dst;
    c.dstPitch = width;
    c.WidthInBytes = width;
    c.Height = height;
    return copy2d(c, stream, async);
  }
  CUresult memcpy2d_dtod(uint64_t dst, uint64_t dpitch, uint64_t src, uint64_t spitch, uint64_t width, uint64_t height,
                         BH stream, bool async) override {
    CUDA_MEMCPY2D c = {};
    c.srcMemoryType = CU_MEMORYTYPE_DEVICE;
    c.srcDevice = src;
    c.srcPitch = spitch;
    c.dstMemoryType = CU_MEMORYTYPE_DEVICE;
    c.dstDevice = dst;
    c.dstPitch = dpitch;
    c.WidthInBytes = width;
    c.Height = height;
    return copy2d(c, stream, async);
  }

  // streams and events
  CUresult stream_create(uint32_t flags, int32_t prio, BH* s) override {
    CUstream st = nullptr;
    CUresult r = d_.p_cuStreamCreateWithPriority(&st, flags, prio);
    *s = (BH)st;
    return r;
  }
  CUresult stream_destroy(BH s) override { settle(); return d_.p_cuStreamDestroy((CUstream)s); }
  CUresult stream_synchronize(BH s) override { settle(); return d_.p_cuStreamSynchronize((CUstream)s); }
  CUresult stream_query(BH s) override { settle(); return d_.p_cuStreamQuery((CUstream)s); }
  CUresult stream_wait_event(BH s, BH e, uint32_t flags) override {
    settle();
    return d_.p_cuStreamWaitEvent((CUstream)s, (CUevent)e, flags);
  }
  CUresult event_create(uint32_t flags, BH* e) override {
    CUevent ev = nullptr;
    CUresult r = d_.p_cuEventCreate(&ev, flags);
    *e = (BH)ev;
    return r;
  }
  CUresult event_destroy(BH e) override { return d_.p_cuEventDestroy((CUevent)e); }
  CUresult event_record(BH e, BH s, uint32_t flags) override {
    settle();
    return flags ? d_.p_cuEventRecordWithFlags((CUevent)e, (CUstream)s, flags) : d_.p_cuEventRecord((CUevent)e, (CUstream)s);
  }
  CUresult event_synchronize(BH e) override { settle(); return d_.p_cuEventSynchronize((CUevent)e); }
  CUresult event_query(BH e) override { settle(); return d_.p_cuEventQuery((CUevent)e); }
  CUresult event_elapsed(BH a, BH b, float* ms) override { return d_.p_cuEventElapsedTime(ms, (CUevent)a, (CUevent)b); }
  BH stream_legacy() override { return (BH)CU_STREAM_LEGACY; }
  BH stream_per_thread() override { return (BH)CU_STREAM_PER_THREAD; }

  // modules
  CUresult module_load(ModuleKind kind, const uint8_t* image, size_t, BH* mod) override {
    settle();
    if (kind == ModuleKind::library) {
      CUlibrary l = nullptr;
      CUresult r = d_.p_cuLibraryLoadData(&l, image, nullptr, nullptr, 0, nullptr, nullptr, 0);
      *mod = (BH)l;
      return r;
    }
    CUmodule m = nullptr;
    CUresult r = d_.p_cuModuleLoadData(&m, image);
    *mod = (BH)m;
    return r;
  }
  CUresult module_unload(ModuleKind kind, BH mod) override {
    settle();
    return kind == ModuleKind::library ? d_.p_cuLibraryUnload((CUlibrary)mod) : d_.p_cuModuleUnload((CUmodule)mod);
  }
  CUresult get_function(ModuleKind kind, BH mod, uint32_t symbol_kind, const std::string& name, BH* fn,
                        FunctionInfo* info) override {
    CUresult r;
    bool is_kernel = false;
    CUfunction f = nullptr;
    CUkernel k = nullptr;
    if (kind == ModuleKind::library) {
      if ((r = d_.p_cuLibraryGetKernel(&k, (CUlibrary)mod, name.c_str()))) return r;
      if (symbol_kind == AVEC_SYMBOL_KERNEL) {
        is_kernel = true;
      } else if ((r = d_.p_cuKernelGetFunction(&f, k))) {
        return r;
      }
    } else if ((r = d_.p_cuModuleGetFunction(&f, (CUmodule)mod, name.c_str()))) {
      return r;
    }
    CUdevice dev = dev_;
    for (int a = 0; a < CU_FUNC_ATTRIBUTE_MAX && a < (int)AVEC_FUNC_ATTR_SLOTS; a++) {
      int v = 0;
      CUresult ar = is_kernel ? d_.p_cuKernelGetAttribute(&v, (CUfunction_attribute)a, k, dev)
                              : d_.p_cuFuncGetAttribute(&v, (CUfunction_attribute)a, f);
      info->attrs[a] = ar == CUDA_SUCCESS ? v : 0;
    }
    info->params_known = true;
    info->params.clear();
    for (size_t i = 0; i < AVEC_MAX_PARAMS; i++) {
      size_t off = 0, sz = 0;
      CUresult pr = is_kernel ? d_.p_cuKernelGetParamInfo(k, i, &off, &sz) : d_.p_cuFuncGetParamInfo(f, i, &off, &sz);
      if (pr == CUDA_ERROR_INVALID_VALUE) break;  // past the last parameter
      if (pr != CUDA_SUCCESS) {
        AVEC_LOG(warn, "param_info_unavailable").str("function", name).num("result", pr);
        info->params_known = false;
        info->params.clear();
        break;
      }
      info->params.push_back({(uint32_t)off, (uint32_t)sz});
    }
    *fn = is_kernel ? (BH)k : (BH)f;
    if (is_kernel) kernels_.insert(*fn);
    return CUDA_SUCCESS;
  }
  CUresult get_global(ModuleKind kind, BH mod, const std::string& name, uint64_t* dptr, uint64_t* size,
                      bool* managed) override {
    CUdeviceptr p = 0;
    size_t s = 0;
    CUresult r = kind == ModuleKind::library ? d_.p_cuLibraryGetGlobal(&p, &s, (CUlibrary)mod, name.c_str())
                                             : d_.p_cuModuleGetGlobal(&p, &s, (CUmodule)mod, name.c_str());
    *dptr = p;
    *size = s;
    unsigned int is_managed = 0;
    *managed = !r && p && d_.p_cuPointerGetAttribute &&
               d_.p_cuPointerGetAttribute(&is_managed, CU_POINTER_ATTRIBUTE_IS_MANAGED, p) == CUDA_SUCCESS && is_managed;
    return r;
  }
  // Driver 12.4+; older drivers answer CUDA_ERROR_NOT_SUPPORTED.
  CUresult kernel_names(ModuleKind kind, BH mod, std::vector<std::string>* names) override {
    bool lib = kind == ModuleKind::library;
    if (lib ? !d_.p_cuLibraryGetKernelCount || !d_.p_cuLibraryEnumerateKernels || !d_.p_cuKernelGetName
            : !d_.p_cuModuleGetFunctionCount || !d_.p_cuModuleEnumerateFunctions || !d_.p_cuFuncGetName)
      return CUDA_ERROR_NOT_SUPPORTED;
    unsigned n = 0;
    CUresult r = lib ? d_.p_cuLibraryGetKernelCount(&n, (CUlibrary)mod) : d_.p_cuModuleGetFunctionCount(&n, (CUmodule)mod);
    if (r) return r;
    if (n > AVEC_MAX_KERNEL_NAMES) return CUDA_ERROR_NOT_SUPPORTED;
    std::vector<void*> hs(n ? n : 1);
    r = lib ? d_.p_cuLibraryEnumerateKernels((CUkernel*)hs.data(), n, (CUlibrary)mod)
            : d_.p_cuModuleEnumerateFunctions((CUfunction*)hs.data(), n, (CUmodule)mod);
    names->clear();
    for (unsigned i = 0; i < n && !r; i++) {
      const char* s = nullptr;
      r = lib ? d_.p_cuKernelGetName(&s, (CUkernel)hs[i]) : d_.p_cuFuncGetName(&s, (CUfunction)hs[i]);
      if (!r) names->push_back(s ? s : "");
    }
    return r;
  }
  CUresult func_set_attribute(BH fn, bool is_kernel, uint32_t attr, int32_t value) override {
    return is_kernel ? d_.p_cuKernelSetAttribute((CUfunction_attribute)attr, value, (CUkernel)fn, dev_)
                     : d_.p_cuFuncSetAttribute((CUfunction)fn, (CUfunction_attribute)attr, value);
  }
  CUresult func_set_cache_config(BH fn, bool is_kernel, uint32_t c) override {
    return is_kernel ? d_.p_cuKernelSetCacheConfig((CUkernel)fn, (CUfunc_cache)c, dev_)
                     : d_.p_cuFuncSetCacheConfig((CUfunction)fn, (CUfunc_cache)c);
  }
  // A CUkernel is turned into the current context's CUfunction for the calls that want one.
  CUresult as_function(BH fn, CUfunction* f) {
    if (!kernels_.count(fn)) { *f = (CUfunction)fn; return CUDA_SUCCESS; }
    return d_.p_cuKernelGetFunction(f, (CUkernel)fn);
  }
  CUresult occupancy(BH fn, uint32_t kind, uint32_t block, uint32_t flags, uint64_t dsmem, uint64_t* out) override {
    CUfunction f;
    CUresult r = as_function(fn, &f);
    if (r) return r;
    switch (kind) {
      case AVEC_OCC_MAX_ACTIVE_BLOCKS: {
        int n = 0;
        r = d_.p_cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(&n, f, (int)block, dsmem, flags);
        *out = (uint64_t)n;
        return r;
      }
      case AVEC_OCC_AVAILABLE_DSMEM: {
        size_t s = 0;
        r = d_.p_cuOccupancyAvailableDynamicSMemPerBlock(&s, f, (int)flags, (int)block);
        *out = s;
        return r;
      }
      case AVEC_OCC_MAX_ACTIVE_CLUSTERS: {
        // One cluster as the launch configuration: flags = x | y << 8 | z << 16, or 0 for the function's
        // compile-time cluster dimensions.
        unsigned dims[3] = {flags & 0xffu, (flags >> 8) & 0xffu, (flags >> 16) & 0xffu};
        if (!flags) {
          const CUfunction_attribute req[3] = {CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH,
                                               CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_HEIGHT,
                                               CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_DEPTH};
          for (int i = 0; i < 3; i++) {
            int v = 0;
            d_.p_cuFuncGetAttribute(&v, req[i], f);
            dims[i] = v > 0 ? (unsigned)v : 1;
          }
        }
        for (unsigned& x : dims) if (!x) x = 1;
        CUlaunchAttribute attr;
        ::memset(&attr, 0, sizeof attr);
        attr.id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
        attr.value.clusterDim.x = dims[0];
        attr.value.clusterDim.y = dims[1];
        attr.value.clusterDim.z = dims[2];
        CUlaunchConfig cfg = {};
        cfg.gridDimX = dims[0]; cfg.gridDimY = dims[1]; cfg.gridDimZ = dims[2];
        cfg.blockDimX = block; cfg.blockDimY = 1; cfg.blockDimZ = 1;
        cfg.sharedMemBytes = (unsigned)dsmem;
        cfg.attrs = flags ? &attr : nullptr;
        cfg.numAttrs = flags ? 1 : 0;
        int n = 0;
        r = d_.p_cuOccupancyMaxActiveClusters(&n, f, &cfg);
        *out = (uint64_t)n;
        return r;
      }
      case AVEC_OCC_MAX_POTENTIAL_BLOCK: {
        int grid = 0, bs = 0;
        r = d_.p_cuOccupancyMaxPotentialBlockSizeWithFlags(&grid, &bs, f, nullptr, dsmem, (int)block, flags);
        *out = ((uint64_t)(uint32_t)grid << 32) | (uint32_t)bs;
        return r;
      }
    }
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult launch(const LaunchArgs& a) override {
    settle();
    CUfunction f = (CUfunction)a.func;  // a CUkernel may be passed as a CUfunction
    size_t psize = a.param_len;
    void* extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, const_cast<uint8_t*>(a.param_bytes), CU_LAUNCH_PARAM_BUFFER_SIZE,
                     &psize, CU_LAUNCH_PARAM_END};
    void** ex = (!a.params && a.param_len) ? extra : nullptr;
    CUstream s = (CUstream)a.stream;
    if (a.num_attrs == 0 && !a.cooperative)
      return d_.p_cuLaunchKernel(f, a.grid[0], a.grid[1], a.grid[2], a.block[0], a.block[1], a.block[2], a.shared_mem,
                                 s, a.params, ex);
    if (a.num_attrs == 0 && !ex)
      return d_.p_cuLaunchCooperativeKernel(f, a.grid[0], a.grid[1], a.grid[2], a.block[0], a.block[1], a.block[2],
                                            a.shared_mem, s, a.params);
    CUlaunchAttribute attrs[AVEC_MAX_LAUNCH_ATTRS + 1];
    unsigned n = 0;
    for (uint32_t i = 0; i < a.num_attrs && i < AVEC_MAX_LAUNCH_ATTRS; i++) {
      avec_launch_attr w;
      memcpy(&w, reinterpret_cast<const uint8_t*>(a.attrs) + i * sizeof w, sizeof w);
      ::memset(&attrs[n], 0, sizeof attrs[n]);
      attrs[n].id = (CUlaunchAttributeID)w.id;
      memcpy(&attrs[n].value, w.value, sizeof w.value < sizeof attrs[n].value ? sizeof w.value : sizeof attrs[n].value);
      n++;
    }
    if (a.cooperative) {
      ::memset(&attrs[n], 0, sizeof attrs[n]);
      attrs[n].id = CU_LAUNCH_ATTRIBUTE_COOPERATIVE;
      attrs[n].value.cooperative = 1;
      n++;
    }
    CUlaunchConfig cfg = {};
    cfg.gridDimX = a.grid[0]; cfg.gridDimY = a.grid[1]; cfg.gridDimZ = a.grid[2];
    cfg.blockDimX = a.block[0]; cfg.blockDimY = a.block[1]; cfg.blockDimZ = a.block[2];
    cfg.sharedMemBytes = a.shared_mem;
    cfg.hStream = s;
    cfg.attrs = attrs;
    cfg.numAttrs = n;
    return d_.p_cuLaunchKernelEx(&cfg, f, a.params, ex);
  }

  // ---- pools, virtual memory, IPC (each entry point optional: NOT_SUPPORTED when the driver lacks it) ----
#define AVEC_NEED(fn) \
  if (!d_.p_##fn) return CUDA_ERROR_NOT_SUPPORTED
  CUmemLocation location() const { return CUmemLocation{CU_MEM_LOCATION_TYPE_DEVICE, dev_}; }

  CUresult pool_default(int dev, BH* pool) override {
    AVEC_NEED(cuDeviceGetDefaultMemPool);
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    CUmemoryPool p = nullptr;
    CUresult r = d_.p_cuDeviceGetDefaultMemPool(&p, dev_);
    *pool = (BH)p;
    return r;
  }
  CUresult pool_create(int dev, uint64_t max_size, uint32_t handle_types, BH* pool) override {
    AVEC_NEED(cuMemPoolCreate);
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    CUmemPoolProps props = {};
    props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
    props.handleTypes = (CUmemAllocationHandleType)handle_types;
    props.location = location();
    props.maxSize = max_size;
    CUmemoryPool p = nullptr;
    CUresult r = d_.p_cuMemPoolCreate(&p, &props);
    *pool = (BH)p;
    return r;
  }
  CUresult pool_destroy(BH pool) override {
    AVEC_NEED(cuMemPoolDestroy);
    settle();
    return d_.p_cuMemPoolDestroy((CUmemoryPool)pool);
  }
  // Attribute values are int (reuse flags) or cuuint64_t (thresholds, counters) as the driver defines them.
  static bool attr_is_int(uint32_t a) {
    return a == CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES || a == CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC ||
           a == CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES;
  }
  CUresult pool_set_attr(BH pool, uint32_t attr, uint64_t value) override {
    AVEC_NEED(cuMemPoolSetAttribute);
    int iv = (int)value;
    cuuint64_t v = value;
    return d_.p_cuMemPoolSetAttribute((CUmemoryPool)pool, (CUmemPool_attribute)attr,
                                      attr_is_int(attr) ? (void*)&iv : (void*)&v);
  }
  CUresult pool_get_attr(BH pool, uint32_t attr, uint64_t* value) override {
    AVEC_NEED(cuMemPoolGetAttribute);
    int iv = 0;
    cuuint64_t v = 0;
    CUresult r = d_.p_cuMemPoolGetAttribute((CUmemoryPool)pool, (CUmemPool_attribute)attr,
                                            attr_is_int(attr) ? (void*)&iv : (void*)&v);
    *value = attr_is_int(attr) ? (uint64_t)iv : (uint64_t)v;
    return r;
  }
  CUresult pool_trim(BH pool, uint64_t keep) override {
    AVEC_NEED(cuMemPoolTrimTo);
    return d_.p_cuMemPoolTrimTo((CUmemoryPool)pool, keep);
  }
  CUresult pool_set_access(BH pool, int dev, uint32_t flags) override {
    AVEC_NEED(cuMemPoolSetAccess);
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    CUmemAccessDesc d = {location(), (CUmemAccess_flags)flags};
    return d_.p_cuMemPoolSetAccess((CUmemoryPool)pool, &d, 1);
  }
  CUresult pool_get_access(BH pool, int dev, uint32_t* flags) override {
    AVEC_NEED(cuMemPoolGetAccess);
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    CUmemLocation loc = location();
    CUmemAccess_flags f = CU_MEM_ACCESS_FLAGS_PROT_NONE;
    CUresult r = d_.p_cuMemPoolGetAccess(&f, (CUmemoryPool)pool, &loc);
    *flags = (uint32_t)f;
    return r;
  }
  CUresult device_set_mem_pool(int dev, BH pool) override {
    AVEC_NEED(cuDeviceSetMemPool);
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    return d_.p_cuDeviceSetMemPool(dev_, (CUmemoryPool)pool);
  }
  CUresult mem_alloc_from_pool(uint64_t size, BH pool, BH stream, uint64_t* dptr) override {
    AVEC_NEED(cuMemAllocFromPoolAsync);
    settle();
    CUdeviceptr p = 0;
    CUresult r = d_.p_cuMemAllocFromPoolAsync(&p, size, (CUmemoryPool)pool, (CUstream)stream);
    *dptr = p;
    return r;
  }

  CUresult graph_mem_get_attr(int dev, uint32_t attr, uint64_t* value) override {
    AVEC_NEED(cuDeviceGetGraphMemAttribute);
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    cuuint64_t v = 0;  // every graph memory attribute is a cuuint64_t
    CUresult r = d_.p_cuDeviceGetGraphMemAttribute(dev_, (CUgraphMem_attribute)attr, &v);
    *value = v;
    return r;
  }
  CUresult graph_mem_reset_high(int dev, uint32_t attr) override {
    AVEC_NEED(cuDeviceSetGraphMemAttribute);
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    cuuint64_t zero = 0;  // the only value the driver takes: back to the current amount
    return d_.p_cuDeviceSetGraphMemAttribute(dev_, (CUgraphMem_attribute)attr, &zero);
  }
  CUresult graph_mem_trim(int dev) override {
    AVEC_NEED(cuDeviceGraphMemTrim);
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    settle();
    return d_.p_cuDeviceGraphMemTrim(dev_);
  }

  CUmemAllocationProp vmm_prop(uint32_t alloc_flags, uint32_t handle_types = CU_MEM_HANDLE_TYPE_NONE) const {
    CUmemAllocationProp p = {};
    p.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    p.requestedHandleTypes = (CUmemAllocationHandleType)handle_types;
    p.location = location();
    p.allocFlags.compressionType = (unsigned char)(alloc_flags & 0xff);
    p.allocFlags.gpuDirectRDMACapable = (unsigned char)((alloc_flags >> 8) & 0xff);
    p.allocFlags.usage = (unsigned short)(alloc_flags >> 16);
    return p;
  }
  CUresult vmm_granularity(int dev, uint32_t option, uint64_t* out) override {
    AVEC_NEED(cuMemGetAllocationGranularity);
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    CUmemAllocationProp p = vmm_prop(0);
    size_t g = 0;
    CUresult r = d_.p_cuMemGetAllocationGranularity(&g, &p, (CUmemAllocationGranularity_flags)option);
    *out = g;
    return r;
  }
  CUresult vmm_create(int dev, uint64_t size, uint32_t alloc_flags, uint32_t handle_types, BH* handle) override {
    AVEC_NEED(cuMemCreate);
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    CUmemAllocationProp p = vmm_prop(alloc_flags, handle_types);
    CUmemGenericAllocationHandle h = 0;
    CUresult r = d_.p_cuMemCreate(&h, size, &p, 0);
    *handle = (BH)h;
    return r;
  }
  CUresult vmm_release(BH handle) override {
    AVEC_NEED(cuMemRelease);
    return d_.p_cuMemRelease((CUmemGenericAllocationHandle)handle);
  }
  CUresult vmm_reserve(uint64_t size, uint64_t align, uint64_t hint, uint64_t flags, uint64_t* addr) override {
    AVEC_NEED(cuMemAddressReserve);
    CUdeviceptr p = 0;
    CUresult r = d_.p_cuMemAddressReserve(&p, size, align, hint, flags);
    *addr = p;
    return r;
  }
  CUresult vmm_address_free(uint64_t addr, uint64_t size) override {
    AVEC_NEED(cuMemAddressFree);
    return d_.p_cuMemAddressFree(addr, size);
  }
  CUresult vmm_map(uint64_t addr, uint64_t size, uint64_t offset, BH handle) override {
    AVEC_NEED(cuMemMap);
    return d_.p_cuMemMap(addr, size, offset, (CUmemGenericAllocationHandle)handle, 0);
  }
  CUresult vmm_unmap(uint64_t addr, uint64_t size) override {
    AVEC_NEED(cuMemUnmap);
    settle();
    return d_.p_cuMemUnmap(addr, size);
  }
  CUresult vmm_set_access(uint64_t addr, uint64_t size, int dev, uint32_t flags) override {
    AVEC_NEED(cuMemSetAccess);
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    CUmemAccessDesc d = {location(), (CUmemAccess_flags)flags};
    return d_.p_cuMemSetAccess(addr, size, &d, 1);
  }
  CUresult vmm_get_access(uint64_t addr, int dev, uint64_t* flags) override {
    AVEC_NEED(cuMemGetAccess);
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    CUmemLocation loc = location();
    unsigned long long f = 0;
    CUresult r = d_.p_cuMemGetAccess(&f, &loc, addr);
    *flags = f;
    return r;
  }

  CUresult ipc_export_mem(uint64_t dptr, std::vector<uint8_t>* blob) override {
    AVEC_NEED(cuIpcGetMemHandle);
    CUipcMemHandle h;
    CUresult r = d_.p_cuIpcGetMemHandle(&h, dptr);
    if (!r) blob->assign(reinterpret_cast<uint8_t*>(&h), reinterpret_cast<uint8_t*>(&h) + sizeof h);
    return r;
  }
  CUresult ipc_open_mem(const std::vector<uint8_t>& blob, uint64_t, uint64_t* dptr) override {
    AVEC_NEED(cuIpcOpenMemHandle);
    CUipcMemHandle h;
    if (blob.size() != sizeof h) return CUDA_ERROR_INVALID_VALUE;
    memcpy(&h, blob.data(), sizeof h);
    CUdeviceptr p = 0;
    CUresult r = d_.p_cuIpcOpenMemHandle(&p, h, CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS);
    *dptr = p;
    return r;
  }
  CUresult ipc_close_mem(uint64_t dptr) override {
    AVEC_NEED(cuIpcCloseMemHandle);
    settle();
    return d_.p_cuIpcCloseMemHandle(dptr);
  }
  CUresult ipc_export_event(BH event, std::vector<uint8_t>* blob) override {
    AVEC_NEED(cuIpcGetEventHandle);
    CUipcEventHandle h;
    CUresult r = d_.p_cuIpcGetEventHandle(&h, (CUevent)event);
    if (!r) blob->assign(reinterpret_cast<uint8_t*>(&h), reinterpret_cast<uint8_t*>(&h) + sizeof h);
    return r;
  }
  // POSIX-fd shareable handles: the driver's own fds, passed between session processes by the session
  CUresult vmm_export_fd(BH handle, int* fd) override {
    AVEC_NEED(cuMemExportToShareableHandle);
    int out = -1;
    CUresult r = d_.p_cuMemExportToShareableHandle(&out, (CUmemGenericAllocationHandle)handle,
                                                   CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0);
    *fd = out;
    return r;
  }
  CUresult vmm_import_fd(int fd, uint64_t, BH* handle) override {
    AVEC_NEED(cuMemImportFromShareableHandle);
    CUmemGenericAllocationHandle h = 0;
    CUresult r = d_.p_cuMemImportFromShareableHandle(&h, (void*)(uintptr_t)fd, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR);
    *handle = (BH)h;
    return r;
  }
  CUresult pool_export_fd(BH pool, int* fd) override {
    AVEC_NEED(cuMemPoolExportToShareableHandle);
    int out = -1;
    CUresult r = d_.p_cuMemPoolExportToShareableHandle(&out, (CUmemoryPool)pool, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0);
    *fd = out;
    return r;
  }
  CUresult pool_import_fd(int fd, BH* pool) override {
    AVEC_NEED(cuMemPoolImportFromShareableHandle);
    CUmemoryPool p = nullptr;
    CUresult r = d_.p_cuMemPoolImportFromShareableHandle(&p, (void*)(uintptr_t)fd, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0);
    *pool = (BH)p;
    return r;
  }
  CUresult pool_export_pointer(uint64_t dptr, uint8_t data[64]) override {
    AVEC_NEED(cuMemPoolExportPointer);
    static_assert(sizeof(CUmemPoolPtrExportData) == 64, "pool pointer export data");
    CUmemPoolPtrExportData d = {};
    CUresult r = d_.p_cuMemPoolExportPointer(&d, dptr);
    memcpy(data, &d, sizeof d);
    return r;
  }
  CUresult pool_import_pointer(BH pool, const uint8_t data[64], uint64_t* dptr, uint64_t* size) override {
    AVEC_NEED(cuMemPoolImportPointer);
    AVEC_NEED(cuMemGetAddressRange);
    CUmemPoolPtrExportData d;
    memcpy(&d, data, sizeof d);
    CUdeviceptr p = 0, base = 0;
    size_t n = 0;
    CUresult r = d_.p_cuMemPoolImportPointer(&p, (CUmemoryPool)pool, &d);
    if (r) return r;
    // The session needs its extent. The driver reports the allocation's range (an assumption for imported pool
    // pointers, not measured here); should it report a larger one around it, the checks use its rest.
    if ((r = d_.p_cuMemGetAddressRange(&base, &n, p)) || base > p || p - base >= n) {
      if (d_.p_cuMemFree) d_.p_cuMemFree(p);
      return r ? r : CUDA_ERROR_INVALID_VALUE;
    }
    *dptr = p;
    *size = n - (p - base);
    return CUDA_SUCCESS;
  }
  CUresult ipc_open_event(const std::vector<uint8_t>& blob, BH* event) override {
    AVEC_NEED(cuIpcOpenEventHandle);
    CUipcEventHandle h;
    if (blob.size() != sizeof h) return CUDA_ERROR_INVALID_VALUE;
    memcpy(&h, blob.data(), sizeof h);
    CUevent e = nullptr;
    CUresult r = d_.p_cuIpcOpenEventHandle(&e, h);
    *event = (BH)e;
    return r;
  }
  // ---- stream capture and graphs -------------------------------------------------------------------
  CUresult capture_begin(BH stream, uint32_t mode, BH graph, const std::vector<BH>& deps,
                         const std::vector<uint64_t>& edges) override {
    settle();
    if (!graph) {
      AVEC_NEED(cuStreamBeginCapture);
      return d_.p_cuStreamBeginCapture((CUstream)stream, (CUstreamCaptureMode)mode);
    }
    AVEC_NEED(cuStreamBeginCaptureToGraph);
    std::vector<CUgraphNode> d(deps.size());
    for (size_t i = 0; i < deps.size(); i++) d[i] = (CUgraphNode)deps[i];
    std::vector<CUgraphEdgeData> e(edges.size());
    if (!edges.empty()) memcpy(e.data(), edges.data(), edges.size() * 8);
    return d_.p_cuStreamBeginCaptureToGraph((CUstream)stream, (CUgraph)graph, d.data(), e.empty() ? nullptr : e.data(),
                                            d.size(), (CUstreamCaptureMode)mode);
  }
  CUresult capture_end(BH stream, BH* graph) override {
    AVEC_NEED(cuStreamEndCapture);
    CUgraph g = nullptr;
    CUresult r = d_.p_cuStreamEndCapture((CUstream)stream, &g);
    *graph = (BH)g;
    return r;
  }
  CUresult capture_info(BH stream, CaptureInfo* out) override {
    AVEC_NEED(cuStreamGetCaptureInfo);
    CUstreamCaptureStatus st = CU_STREAM_CAPTURE_STATUS_NONE;
    cuuint64_t id = 0;
    CUgraph g = nullptr;
    const CUgraphNode* deps = nullptr;
    size_t n = 0;
    CUresult r = d_.p_cuStreamGetCaptureInfo((CUstream)stream, &st, &id, &g, &deps, nullptr, &n);
    if (r) return r;
    out->status = st;
    out->id = id;
    out->graph = (BH)g;
    out->deps.assign(n, 0);
    for (size_t i = 0; i < n; i++) out->deps[i] = (BH)deps[i];
    return CUDA_SUCCESS;
  }
  CUresult capture_update_deps(BH stream, const std::vector<BH>& deps, uint32_t flags) override {
    AVEC_NEED(cuStreamUpdateCaptureDependencies);
    std::vector<CUgraphNode> d(deps.size());
    for (size_t i = 0; i < deps.size(); i++) d[i] = (CUgraphNode)deps[i];
    return d_.p_cuStreamUpdateCaptureDependencies((CUstream)stream, d.data(), nullptr, d.size(), flags);
  }
  CUresult capture_exchange_mode(uint32_t* mode) override {
    AVEC_NEED(cuThreadExchangeStreamCaptureMode);
    CUstreamCaptureMode m = (CUstreamCaptureMode)*mode;
    CUresult r = d_.p_cuThreadExchangeStreamCaptureMode(&m);
    *mode = (uint32_t)m;
    return r;
  }
  bool capturing(BH stream) override {
    CUstreamCaptureStatus st = CU_STREAM_CAPTURE_STATUS_NONE;
    return d_.p_cuStreamIsCapturing && d_.p_cuStreamIsCapturing((CUstream)stream, &st) == CUDA_SUCCESS &&
           st != CU_STREAM_CAPTURE_STATUS_NONE;
  }
  CUresult graph_create(uint32_t flags, BH* graph) override {
    AVEC_NEED(cuGraphCreate);
    CUgraph g = nullptr;
    CUresult r = d_.p_cuGraphCreate(&g, flags);
    *graph = (BH)g;
    return r;
  }
  CUresult graph_destroy(BH graph) override {
    AVEC_NEED(cuGraphDestroy);
    return d_.p_cuGraphDestroy((CUgraph)graph);
  }
  CUresult graph_clone(BH graph, BH* out) override {
    AVEC_NEED(cuGraphClone);
    CUgraph g = nullptr;
    CUresult r = d_.p_cuGraphClone(&g, (CUgraph)graph);
    *out = (BH)g;
    return r;
  }
  // The driver structures of one node (pointers into `spec` and the locals here stay valid for the call).
  struct NodeParams {
    CUDA_HOST_NODE_PARAMS host{};
    CUDA_KERNEL_NODE_PARAMS kernel{};
    CUDA_MEMSET_NODE_PARAMS memset{};
    CUDA_MEMCPY3D copy{};
    void* extra[5] = {};
    size_t psize = 0;
  };
  void node_params(const GraphNodeSpec& sp, NodeParams* p) {
    const LaunchArgs& a = sp.launch;
    // a library kernel (what cudart 13 registers) goes in `kern`: the driver refuses it as `func` here,
    // although cuLaunchKernel accepts the cast
    if (a.is_kernel) p->kernel.kern = (CUkernel)a.func;
    else p->kernel.func = (CUfunction)a.func;
    p->kernel.gridDimX = a.grid[0]; p->kernel.gridDimY = a.grid[1]; p->kernel.gridDimZ = a.grid[2];
    p->kernel.blockDimX = a.block[0]; p->kernel.blockDimY = a.block[1]; p->kernel.blockDimZ = a.block[2];
    p->kernel.sharedMemBytes = a.shared_mem;
    p->kernel.kernelParams = a.params;
    if (!a.params && a.param_len) {
      p->psize = a.param_len;
      void* ex[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, const_cast<uint8_t*>(a.param_bytes), CU_LAUNCH_PARAM_BUFFER_SIZE,
                    &p->psize, CU_LAUNCH_PARAM_END};
      memcpy(p->extra, ex, sizeof ex);
      p->kernel.extra = p->extra;
    }
    p->kernel.ctx = current_;
    const avec_memset& m = sp.memset;
    p->memset.dst = m.dst;
    p->memset.pitch = m.height > 1 ? m.pitch : 0;
    p->memset.value = m.value;
    p->memset.elementSize = m.elem_size;
    p->memset.width = m.width;
    p->memset.height = m.height;
    const avec_memcpy2d& c = sp.copy;
    p->copy.srcMemoryType = CU_MEMORYTYPE_DEVICE;
    p->copy.srcDevice = c.src;
    p->copy.srcPitch = c.src_pitch;
    p->copy.dstMemoryType = CU_MEMORYTYPE_DEVICE;
    p->copy.dstDevice = c.dst;
    p->copy.dstPitch = c.dst_pitch;
    p->copy.WidthInBytes = c.width;
    p->copy.Height = c.height;
    p->copy.Depth = 1;
    if (sp.type == CU_GRAPH_NODE_TYPE_HOST) {
      p->host.fn = host_trampoline;
      p->host.userData = host_record(sp.host_fn);
    }
  }
  CUresult graph_add_node(BH graph, const std::vector<BH>& deps, const std::vector<uint64_t>& edges,
                          const GraphNodeSpec& sp, BH* node) override {
    if (!edges.empty()) {  // typed edges: the node first, then its dependencies with their edge data
      CUresult r = graph_add_node(graph, {}, {}, sp, node);
      if (r) return r;
      std::vector<BH> to(deps.size(), *node);
      if ((r = graph_edges(graph, deps, to, edges, false))) graph_destroy_node(*node);
      return r;
    }
    std::vector<CUgraphNode> d(deps.size());
    for (size_t i = 0; i < deps.size(); i++) d[i] = (CUgraphNode)deps[i];
    NodeParams p;
    node_params(sp, &p);
    CUgraphNode n = nullptr;
    CUgraph g = (CUgraph)graph;
    CUresult r = CUDA_ERROR_NOT_SUPPORTED;
    switch (sp.type) {
      case CU_GRAPH_NODE_TYPE_KERNEL:
        if (d_.p_cuGraphAddKernelNode) r = d_.p_cuGraphAddKernelNode(&n, g, d.data(), d.size(), &p.kernel);
        break;
      case CU_GRAPH_NODE_TYPE_MEMSET:
        if (d_.p_cuGraphAddMemsetNode) r = d_.p_cuGraphAddMemsetNode(&n, g, d.data(), d.size(), &p.memset, current_);
        break;
      case CU_GRAPH_NODE_TYPE_MEMCPY:
        if (d_.p_cuGraphAddMemcpyNode) r = d_.p_cuGraphAddMemcpyNode(&n, g, d.data(), d.size(), &p.copy, current_);
        break;
      case CU_GRAPH_NODE_TYPE_EMPTY:
        if (d_.p_cuGraphAddEmptyNode) r = d_.p_cuGraphAddEmptyNode(&n, g, d.data(), d.size());
        break;
      case CU_GRAPH_NODE_TYPE_GRAPH:
        if (d_.p_cuGraphAddChildGraphNode)
          r = d_.p_cuGraphAddChildGraphNode(&n, g, d.data(), d.size(), (CUgraph)sp.child);
        break;
      case CU_GRAPH_NODE_TYPE_EVENT_RECORD:
        if (d_.p_cuGraphAddEventRecordNode)
          r = d_.p_cuGraphAddEventRecordNode(&n, g, d.data(), d.size(), (CUevent)sp.event);
        break;
      case CU_GRAPH_NODE_TYPE_WAIT_EVENT:
        if (d_.p_cuGraphAddEventWaitNode) r = d_.p_cuGraphAddEventWaitNode(&n, g, d.data(), d.size(), (CUevent)sp.event);
        break;
      case CU_GRAPH_NODE_TYPE_MEM_ALLOC:
        if (d_.p_cuGraphAddMemAllocNode) {
          CUDA_MEM_ALLOC_NODE_PARAMS ap = {};
          ap.poolProps.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
          ap.poolProps.location = location();
          ap.bytesize = sp.alloc_size;
          r = d_.p_cuGraphAddMemAllocNode(&n, g, d.data(), d.size(), &ap);
          if (!r) *sp.alloc_dptr = ap.dptr;
        }
        break;
      case CU_GRAPH_NODE_TYPE_MEM_FREE:
        if (d_.p_cuGraphAddMemFreeNode) r = d_.p_cuGraphAddMemFreeNode(&n, g, d.data(), d.size(), sp.free_dptr);
        break;
      case CU_GRAPH_NODE_TYPE_HOST:
        if (d_.p_cuGraphAddHostNode) r = d_.p_cuGraphAddHostNode(&n, g, d.data(), d.size(), &p.host);
        break;
    }
    *node = (BH)n;
    return r;
  }
  CUresult graph_node_set_params(BH node, const GraphNodeSpec& sp) override {
    NodeParams p;
    node_params(sp, &p);
    CUgraphNode n = (CUgraphNode)node;
    switch (sp.type) {
      case CU_GRAPH_NODE_TYPE_KERNEL:
        AVEC_NEED(cuGraphKernelNodeSetParams);
        return d_.p_cuGraphKernelNodeSetParams(n, &p.kernel);
      case CU_GRAPH_NODE_TYPE_MEMSET:
        AVEC_NEED(cuGraphMemsetNodeSetParams);
        return d_.p_cuGraphMemsetNodeSetParams(n, &p.memset);
      case CU_GRAPH_NODE_TYPE_MEMCPY:
        AVEC_NEED(cuGraphMemcpyNodeSetParams);
        return d_.p_cuGraphMemcpyNodeSetParams(n, &p.copy);
      case CU_GRAPH_NODE_TYPE_EVENT_RECORD:
        AVEC_NEED(cuGraphEventRecordNodeSetEvent);
        return d_.p_cuGraphEventRecordNodeSetEvent(n, (CUevent)sp.event);
      case CU_GRAPH_NODE_TYPE_WAIT_EVENT:
        AVEC_NEED(cuGraphEventWaitNodeSetEvent);
        return d_.p_cuGraphEventWaitNodeSetEvent(n, (CUevent)sp.event);
      case CU_GRAPH_NODE_TYPE_HOST:
        AVEC_NEED(cuGraphHostNodeSetParams);
        return d_.p_cuGraphHostNodeSetParams(n, &p.host);
    }
    return CUDA_ERROR_NOT_SUPPORTED;
  }
  CUresult graph_node_type(BH node, uint32_t* type) override {
    AVEC_NEED(cuGraphNodeGetType);
    CUgraphNodeType t = CU_GRAPH_NODE_TYPE_EMPTY;
    CUresult r = d_.p_cuGraphNodeGetType((CUgraphNode)node, &t);
    *type = (uint32_t)t;
    return r;
  }
  CUresult graph_destroy_node(BH node) override {
    AVEC_NEED(cuGraphDestroyNode);
    return d_.p_cuGraphDestroyNode((CUgraphNode)node);
  }
  CUresult graph_nodes(BH graph, bool roots, std::vector<BH>* out) override {
    AVEC_NEED(cuGraphGetNodes);
    AVEC_NEED(cuGraphGetRootNodes);
    auto get = roots ? d_.p_cuGraphGetRootNodes : d_.p_cuGraphGetNodes;
    size_t n = 0;
    CUresult r = get((CUgraph)graph, nullptr, &n);
    if (r) return r;
    std::vector<CUgraphNode> v(n);
    if (n && (r = get((CUgraph)graph, v.data(), &n))) return r;
    out->assign(n, 0);
    for (size_t i = 0; i < n; i++) (*out)[i] = (BH)v[i];
    return CUDA_SUCCESS;
  }
  CUresult graph_edges(BH graph, const std::vector<BH>& from, const std::vector<BH>& to,
                       const std::vector<uint64_t>& edges, bool remove) override {
    AVEC_NEED(cuGraphAddDependencies);
    AVEC_NEED(cuGraphRemoveDependencies);
    std::vector<CUgraphNode> f(from.size()), t(to.size());
    for (size_t i = 0; i < from.size(); i++) f[i] = (CUgraphNode)from[i];
    for (size_t i = 0; i < to.size(); i++) t[i] = (CUgraphNode)to[i];
    auto fn = remove ? d_.p_cuGraphRemoveDependencies : d_.p_cuGraphAddDependencies;
    std::vector<CUgraphEdgeData> e(edges.size());
    static_assert(sizeof(CUgraphEdgeData) == 8, "edge data is 8 bytes");
    if (!edges.empty()) memcpy(e.data(), edges.data(), edges.size() * 8);
    return fn((CUgraph)graph, f.data(), t.data(), e.empty() ? nullptr : e.data(), f.size());
  }
  CUresult graph_dot(BH graph, uint32_t flags, std::string* out) override {
    AVEC_NEED(cuGraphDebugDotPrint);
    char path[] = "/tmp/avec-graph-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return CUDA_ERROR_OPERATING_SYSTEM;
    close(fd);
    CUresult r = d_.p_cuGraphDebugDotPrint((CUgraph)graph, path, flags);
    if (!r) {
      FILE* f = fopen(path, "rb");
      char buf[65536];
      size_t n;
      while (f && (n = fread(buf, 1, sizeof buf, f)) > 0 && out->size() < (16u << 20)) out->append(buf, n);
      if (f) fclose(f);
    }
    unlink(path);
    return r;
  }
  CUresult graph_instantiate(BH graph, uint64_t flags, BH upload_stream, BH* exec) override {
    CUgraphExec e = nullptr;
    CUresult r;
    if (upload_stream || (flags & CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD)) {
      AVEC_NEED(cuGraphInstantiateWithParams);
      CUDA_GRAPH_INSTANTIATE_PARAMS p = {};
      p.flags = flags;
      p.hUploadStream = (CUstream)upload_stream;
      r = d_.p_cuGraphInstantiateWithParams(&e, (CUgraph)graph, &p);
      if (!r && p.result_out != CUDA_GRAPH_INSTANTIATE_SUCCESS) r = CUDA_ERROR_INVALID_VALUE;
    } else {
      AVEC_NEED(cuGraphInstantiateWithFlags);
      r = d_.p_cuGraphInstantiateWithFlags(&e, (CUgraph)graph, flags);
    }
    *exec = (BH)e;
    return r;
  }
  CUresult graph_launch(BH exec, BH stream) override {
    AVEC_NEED(cuGraphLaunch);
    settle();
    return d_.p_cuGraphLaunch((CUgraphExec)exec, (CUstream)stream);
  }
  CUresult graph_upload(BH exec, BH stream) override {
    AVEC_NEED(cuGraphUpload);
    return d_.p_cuGraphUpload((CUgraphExec)exec, (CUstream)stream);
  }
  CUresult graph_exec_destroy(BH exec) override {
    AVEC_NEED(cuGraphExecDestroy);
    return d_.p_cuGraphExecDestroy((CUgraphExec)exec);
  }
  CUresult graph_exec_update(BH exec, BH graph, uint32_t* result, BH* error_node, BH* error_from) override {
    AVEC_NEED(cuGraphExecUpdate);
    CUgraphExecUpdateResultInfo info = {};
    CUresult r = d_.p_cuGraphExecUpdate((CUgraphExec)exec, (CUgraph)graph, &info);
    *result = (uint32_t)info.result;
    *error_node = (BH)info.errorNode;
    *error_from = (BH)info.errorFromNode;
    return r;
  }
  CUresult graph_exec_set_params(BH exec, BH node, const GraphNodeSpec& sp) override {
    NodeParams p;
    node_params(sp, &p);
    CUgraphExec e = (CUgraphExec)exec;
    CUgraphNode n = (CUgraphNode)node;
    switch (sp.type) {
      case CU_GRAPH_NODE_TYPE_KERNEL:
        AVEC_NEED(cuGraphExecKernelNodeSetParams);
        return d_.p_cuGraphExecKernelNodeSetParams(e, n, &p.kernel);
      case CU_GRAPH_NODE_TYPE_MEMSET:
        AVEC_NEED(cuGraphExecMemsetNodeSetParams);
        return d_.p_cuGraphExecMemsetNodeSetParams(e, n, &p.memset, current_);
      case CU_GRAPH_NODE_TYPE_MEMCPY:
        AVEC_NEED(cuGraphExecMemcpyNodeSetParams);
        return d_.p_cuGraphExecMemcpyNodeSetParams(e, n, &p.copy, current_);
      case CU_GRAPH_NODE_TYPE_GRAPH:
        AVEC_NEED(cuGraphExecChildGraphNodeSetParams);
        return d_.p_cuGraphExecChildGraphNodeSetParams(e, n, (CUgraph)sp.child);
      case CU_GRAPH_NODE_TYPE_EVENT_RECORD:
        AVEC_NEED(cuGraphExecEventRecordNodeSetEvent);
        return d_.p_cuGraphExecEventRecordNodeSetEvent(e, n, (CUevent)sp.event);
      case CU_GRAPH_NODE_TYPE_WAIT_EVENT:
        AVEC_NEED(cuGraphExecEventWaitNodeSetEvent);
        return d_.p_cuGraphExecEventWaitNodeSetEvent(e, n, (CUevent)sp.event);
      case CU_GRAPH_NODE_TYPE_HOST:
        AVEC_NEED(cuGraphExecHostNodeSetParams);
        return d_.p_cuGraphExecHostNodeSetParams(e, n, &p.host);
    }
    return CUDA_ERROR_NOT_SUPPORTED;
  }
  CUresult graph_exec_enable(BH exec, BH node, bool on) override {
    AVEC_NEED(cuGraphNodeSetEnabled);
    return d_.p_cuGraphNodeSetEnabled((CUgraphExec)exec, (CUgraphNode)node, on ? 1 : 0);
  }

  CUresult export_call(uint32_t table, uint32_t slot, uint64_t arg, uint64_t* out, uint32_t* out_bytes,
                       uint8_t object[16]) override {
    AVEC_NEED(cuGetExportTable);
    static const CUuuid kCtxTable = {{0x21, 0x31, (char)0x8c, 0x60, (char)0x97, 0x14, 0x32, 0x48, (char)0x8c,
                                      (char)0xa6, 0x41, (char)0xff, 0x73, 0x24, (char)0xc8, (char)0xf2}};
    if (table != AVEC_EXPORT_TABLE_CTX || slot >= 64) return CUDA_ERROR_INVALID_VALUE;
    const void* t = nullptr;
    CUresult r = d_.p_cuGetExportTable(&t, &kCtxTable);
    if (r || !t) return r ? r : CUDA_ERROR_NOT_SUPPORTED;
    using Slot = CUresult (*)(CUcontext, uint64_t, uint64_t*);
    Slot fn = reinterpret_cast<Slot const*>(t)[slot];
    if (!fn) return CUDA_ERROR_NOT_SUPPORTED;
    settle();
    const uint64_t untouched = 0xa5a5a5a5a5a5a5a5ull;  // tells a 4-byte from an 8-byte answer
    uint64_t v = untouched;
    r = fn(current_, arg, &v);
    *out = v;
    *out_bytes = (v >> 32) == (untouched >> 32) ? 4 : 8;
    if (!r && slot == AVEC_EXPORT_SLOT_CTX_OBJECT && *out_bytes == 8 && v) memcpy(object, (const void*)v, 16);
    return r;
  }
  // CUDA arrays, texture and surface objects: the driver's own, handles passed through
  CUresult array_create(const avec_array_desc& d, BH* arr) override {
    AVEC_NEED(cuArray3DCreate);
    settle();
    CUDA_ARRAY3D_DESCRIPTOR a = desc3d(d);
    CUarray h = nullptr;
    CUresult r = d_.p_cuArray3DCreate(&h, &a);
    *arr = (BH)h;
    return r;
  }
  CUresult array_destroy(BH arr) override {
    AVEC_NEED(cuArrayDestroy);
    settle();
    return d_.p_cuArrayDestroy((CUarray)arr);
  }
  CUresult mipmap_create(const avec_array_desc& d, BH* mm) override {
    AVEC_NEED(cuMipmappedArrayCreate);
    settle();
    CUDA_ARRAY3D_DESCRIPTOR a = desc3d(d);
    CUmipmappedArray h = nullptr;
    CUresult r = d_.p_cuMipmappedArrayCreate(&h, &a, d.levels);
    *mm = (BH)h;
    return r;
  }
  CUresult mipmap_destroy(BH mm) override {
    AVEC_NEED(cuMipmappedArrayDestroy);
    settle();
    return d_.p_cuMipmappedArrayDestroy((CUmipmappedArray)mm);
  }
  CUresult mipmap_level(BH mm, uint32_t level, BH* arr, avec_array_desc* d) override {
    AVEC_NEED(cuMipmappedArrayGetLevel);
    AVEC_NEED(cuArray3DGetDescriptor);
    CUarray h = nullptr;
    CUresult r = d_.p_cuMipmappedArrayGetLevel(&h, (CUmipmappedArray)mm, level);
    if (r) return r;
    CUDA_ARRAY3D_DESCRIPTOR a = {};
    if ((r = d_.p_cuArray3DGetDescriptor(&a, h))) return r;
    *arr = (BH)h;
    *d = avec_array_desc{a.Width, a.Height, a.Depth, (uint32_t)a.Format, a.NumChannels, a.Flags, 0};
    return CUDA_SUCCESS;
  }
  CUresult memcpy3d(const Copy3D& c, BH stream, bool async) override {
    AVEC_NEED(cuMemcpy3D);
    AVEC_NEED(cuMemcpy3DAsync);
    settle();
    CUDA_MEMCPY3D m = {};
    side3d(c.src, &m.srcMemoryType, &m.srcHost, &m.srcDevice, &m.srcArray, &m.srcPitch, &m.srcHeight, &m.srcXInBytes,
           &m.srcY, &m.srcZ);
    const void* dst_host = nullptr;
    side3d(c.dst, &m.dstMemoryType, &dst_host, &m.dstDevice, &m.dstArray, &m.dstPitch, &m.dstHeight, &m.dstXInBytes,
           &m.dstY, &m.dstZ);
    m.dstHost = const_cast<void*>(dst_host);
    m.WidthInBytes = c.width;
    m.Height = c.height;
    m.Depth = c.depth;
    if (!async) return d_.p_cuMemcpy3D(&m);
    CUresult r = d_.p_cuMemcpy3DAsync(&m, (CUstream)stream);
    // host memory here is the session's buffer: it must be consumed before the call returns
    if (!r && (m.srcMemoryType == CU_MEMORYTYPE_HOST || m.dstMemoryType == CU_MEMORYTYPE_HOST))
      r = d_.p_cuStreamSynchronize((CUstream)stream);
    return r;
  }
  CUresult tex_create(const Resource& res, const avec_tex_desc& t, const avec_view_desc* v, uint64_t* obj) override {
    AVEC_NEED(cuTexObjectCreate);
    settle();
    CUDA_RESOURCE_DESC rd = resource(res);
    CUDA_TEXTURE_DESC td = {};
    for (int i = 0; i < 3; i++) td.addressMode[i] = (CUaddress_mode)t.address_mode[i];
    td.filterMode = (CUfilter_mode)t.filter_mode;
    td.flags = t.flags;
    td.maxAnisotropy = t.max_anisotropy;
    td.mipmapFilterMode = (CUfilter_mode)t.mipmap_filter_mode;
    td.mipmapLevelBias = t.mipmap_level_bias;
    td.minMipmapLevelClamp = t.min_mipmap_level_clamp;
    td.maxMipmapLevelClamp = t.max_mipmap_level_clamp;
    memcpy(td.borderColor, t.border_color, sizeof td.borderColor);
    CUDA_RESOURCE_VIEW_DESC vd = {};
    if (v) {
      vd.format = (CUresourceViewFormat)v->format;
      vd.width = v->width;
      vd.height = v->height;
      vd.depth = v->depth;
      vd.firstMipmapLevel = v->first_mipmap_level;
      vd.lastMipmapLevel = v->last_mipmap_level;
      vd.firstLayer = v->first_layer;
      vd.lastLayer = v->last_layer;
    }
    CUtexObject o = 0;
    CUresult r = d_.p_cuTexObjectCreate(&o, &rd, &td, v ? &vd : nullptr);
    *obj = o;
    return r;
  }
  CUresult tex_destroy(uint64_t obj) override {
    AVEC_NEED(cuTexObjectDestroy);
    settle();
    return d_.p_cuTexObjectDestroy((CUtexObject)obj);
  }
  CUresult surf_create(const Resource& res, uint64_t* obj) override {
    AVEC_NEED(cuSurfObjectCreate);
    settle();
    CUDA_RESOURCE_DESC rd = resource(res);
    CUsurfObject o = 0;
    CUresult r = d_.p_cuSurfObjectCreate(&o, &rd);
    *obj = o;
    return r;
  }
  CUresult surf_destroy(uint64_t obj) override {
    AVEC_NEED(cuSurfObjectDestroy);
    settle();
    return d_.p_cuSurfObjectDestroy((CUsurfObject)obj);
  }

  // ---- conditional graph nodes, JIT linking, stream attributes (not yet run on a GPU: docs/semantics.md) --
  CUresult graph_cond_handle_create(BH g, uint32_t value, uint32_t flags, uint64_t* handle) override {
    AVEC_NEED(cuGraphConditionalHandleCreate);
    CUgraphConditionalHandle h = 0;
    CUresult r = d_.p_cuGraphConditionalHandleCreate(&h, (CUgraph)g, current_, value, flags);
    if (r == CUDA_SUCCESS) *handle = h;
    return r;
  }
  CUresult graph_add_conditional(BH g, const std::vector<BH>& deps, const std::vector<uint64_t>& edges,
                                 const avec_graph_cond& c, BH* node, std::vector<BH>* bodies) override {
    AVEC_NEED(cuGraphAddNode);
    std::vector<CUgraphNode> d(deps.size());
    for (size_t i = 0; i < deps.size(); i++) d[i] = (CUgraphNode)deps[i];
    std::vector<CUgraphEdgeData> ed(edges.size());
    if (!edges.empty()) memcpy(ed.data(), edges.data(), edges.size() * sizeof(CUgraphEdgeData));
    CUgraphNodeParams p;
    ::memset(&p, 0, sizeof p);
    p.type = CU_GRAPH_NODE_TYPE_CONDITIONAL;
    p.conditional.handle = c.handle;
    p.conditional.type = (CUgraphConditionalNodeType)c.type;
    p.conditional.size = c.size;
    p.conditional.ctx = current_;
    CUgraphNode n = nullptr;
    CUresult r = d_.p_cuGraphAddNode(&n, (CUgraph)g, d.data(), ed.empty() ? nullptr : ed.data(), d.size(), &p);
    if (r) return r;
    *node = (BH)n;
    bodies->clear();
    for (unsigned i = 0; p.conditional.phGraph_out && i < c.size; i++) bodies->push_back((BH)p.conditional.phGraph_out[i]);
    return CUDA_SUCCESS;
  }

  // A link state with the option arrays the driver writes its outputs into for the state's life, and
  // the log buffers it fills.
  struct LinkState {
    CUlinkState st = nullptr;
    std::vector<CUjit_option> opts;
    std::vector<void*> vals;
    std::vector<char> info, error;
    int wall = -1, threads = -1;  // where those outputs land in vals
  };
  CUresult link_create(const std::vector<avec_jit_option>& in, uint32_t info_log, uint32_t error_log,
                       BH* state) override {
    AVEC_NEED(cuLinkCreate);
    LinkState* ls = new LinkState;
    for (const avec_jit_option& o : in) {
      if (o.option == CU_JIT_WALL_TIME) ls->wall = (int)ls->opts.size();
      if (o.option == CU_JIT_THREADS_PER_BLOCK) ls->threads = (int)ls->opts.size();
      ls->opts.push_back((CUjit_option)o.option);
      ls->vals.push_back((void*)(uintptr_t)o.value);
    }
    auto log_buffer = [ls](std::vector<char>* buf, uint32_t size, CUjit_option buf_opt, CUjit_option size_opt) {
      if (!size) return;
      buf->assign(size, 0);
      ls->opts.push_back(buf_opt);
      ls->vals.push_back(buf->data());
      ls->opts.push_back(size_opt);
      ls->vals.push_back((void*)(uintptr_t)size);
    };
    log_buffer(&ls->info, info_log, CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES);
    log_buffer(&ls->error, error_log, CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES);
    CUresult r = d_.p_cuLinkCreate((unsigned)ls->opts.size(), ls->opts.data(), ls->vals.data(), &ls->st);
    if (r) {
      delete ls;
      return r;
    }
    *state = (BH)ls;
    return CUDA_SUCCESS;
  }
  CUresult link_add_data(BH state, uint32_t type, const uint8_t* data, size_t len, const std::string& name,
                         const std::vector<avec_jit_option>& in) override {
    AVEC_NEED(cuLinkAddData);
    LinkState* ls = (LinkState*)state;
    std::vector<CUjit_option> opts;
    std::vector<void*> vals;
    for (const avec_jit_option& o : in) {
      opts.push_back((CUjit_option)o.option);
      vals.push_back((void*)(uintptr_t)o.value);
    }
    return d_.p_cuLinkAddData(ls->st, (CUjitInputType)type, const_cast<uint8_t*>(data), len,
                              name.empty() ? nullptr : name.c_str(), (unsigned)opts.size(), opts.data(), vals.data());
  }
  CUresult link_complete(BH state, const uint8_t** image, size_t* size) override {
    AVEC_NEED(cuLinkComplete);
    void* cubin = nullptr;
    size_t n = 0;
    CUresult r = d_.p_cuLinkComplete(((LinkState*)state)->st, &cubin, &n);
    if (r == CUDA_SUCCESS) {
      *image = static_cast<const uint8_t*>(cubin);
      *size = n;
    }
    return r;
  }
  void link_output(BH state, LinkOutput* out) override {
    const LinkState* ls = (const LinkState*)state;
    out->info.assign(ls->info.data(), strnlen(ls->info.data(), ls->info.size()));
    out->error.assign(ls->error.data(), strnlen(ls->error.data(), ls->error.size()));
    // CU_JIT_WALL_TIME: the driver overwrites the option's value slot with a float
    if (ls->wall >= 0) memcpy(&out->wall_time, &ls->vals[ls->wall], sizeof(float));
    if (ls->threads >= 0) out->threads_per_block = (uint32_t)(uintptr_t)ls->vals[ls->threads];
  }
  CUresult link_destroy(BH state) override {
    LinkState* ls = (LinkState*)state;
    CUresult r = d_.p_cuLinkDestroy ? d_.p_cuLinkDestroy(ls->st) : CUDA_ERROR_NOT_SUPPORTED;
    delete ls;
    return r;
  }

  CUresult stream_set_attr(BH s, uint32_t attr, const uint8_t value[64]) override {
    AVEC_NEED(cuStreamSetAttribute);
    CUstreamAttrValue v;
    memcpy(&v, value, sizeof v);
    return d_.p_cuStreamSetAttribute((CUstream)s, (CUstreamAttrID)attr, &v);
  }
  CUresult stream_get_attr(BH s, uint32_t attr, uint8_t value[64]) override {
    AVEC_NEED(cuStreamGetAttribute);
    CUstreamAttrValue v;
    ::memset(&v, 0, sizeof v);
    CUresult r = d_.p_cuStreamGetAttribute((CUstream)s, (CUstreamAttrID)attr, &v);
    if (r == CUDA_SUCCESS) memcpy(value, &v, sizeof v);
    return r;
  }
  CUresult stream_copy_attrs(BH dst, BH src) override {
    AVEC_NEED(cuStreamCopyAttributes);
    return d_.p_cuStreamCopyAttributes((CUstream)dst, (CUstream)src);
  }
  CUresult ctx_reset_persisting_l2() override {
    AVEC_NEED(cuCtxResetPersistingL2Cache);
    return d_.p_cuCtxResetPersistingL2Cache();
  }

  // ---- host functions: the driver calls host_trampoline on its callback thread, in stream order ----
  void set_host_function_runner(std::function<void(uint64_t)> run) override { run_host_ = std::move(run); }
  CUresult launch_host_func(BH stream, uint64_t id) override {
    AVEC_NEED(cuLaunchHostFunc);
    settle();
    return d_.p_cuLaunchHostFunc((CUstream)stream, host_trampoline, host_record(id));
  }
  CUresult graph_host_node_id(BH node, uint64_t* id) override {
    AVEC_NEED(cuGraphHostNodeGetParams);
    CUDA_HOST_NODE_PARAMS p = {};
    CUresult r = d_.p_cuGraphHostNodeGetParams((CUgraphNode)node, &p);
    *id = !r && p.fn == host_trampoline && p.userData ? static_cast<HostRecord*>(p.userData)->id : 0;
    return r;
  }
  // The driver allows no CUDA call on its callback thread, and a copy on a blocking stream would wait for
  // the stream that waits for this host function: a helper thread copies beside the streams.
  CUresult host_function_copy(uint64_t dptr, void* host, size_t n, bool to_device) override {
    CUcontext ctx = t_host_ctx;
    CUresult r = CUDA_ERROR_INVALID_CONTEXT;
    if (!ctx) return r;
    std::thread helper([&] {
      if (!(r = d_.p_cuCtxSetCurrent(ctx))) r = side_copy(ctx, dptr, host, n, to_device);
    });
    helper.join();
    return r;
  }
  // A write a running kernel may be polling for: on the legacy stream (or a blocking one) it would queue
  // behind that kernel, and so would settle(), which waits for a pending legacy-stream copy; neither is used.
  CUresult htod_now(uint64_t dptr, const void* src, size_t n) override {
    if (!current_) return CUDA_ERROR_INVALID_CONTEXT;
    return side_copy(current_, dptr, const_cast<void*>(src), n, true);
  }
#undef AVEC_NEED

 private:
  // A copy beside the program's streams: on a non-blocking stream of the context's own (made on first use),
  // waiting for that copy only (a null `host` to the device: a memset to zero). `ctx` is current on the
  // calling thread. It joins no capture, so it runs in relaxed capture mode: a pageable copy and a stream
  // synchronize are "potentially unsafe" calls, which in the (client-set) global mode would invalidate a
  // capture the program has open on another stream.
  CUresult side_copy(CUcontext ctx, uint64_t dptr, void* host, size_t n, bool to_device) {
    CUstreamCaptureMode mode = CU_STREAM_CAPTURE_MODE_RELAXED;
    bool exchanged =
        d_.p_cuThreadExchangeStreamCaptureMode && d_.p_cuThreadExchangeStreamCaptureMode(&mode) == CUDA_SUCCESS;
    CUresult r = side_copy_relaxed(ctx, dptr, host, n, to_device);
    if (exchanged) d_.p_cuThreadExchangeStreamCaptureMode(&mode);
    return r;
  }
  CUresult side_copy_relaxed(CUcontext ctx, uint64_t dptr, void* host, size_t n, bool to_device) {
    CUstream s = nullptr;
    {
      std::lock_guard<std::mutex> g(host_mu_);
      CUstream& have = copy_streams_[ctx];
      if (!have) {
        CUresult r = d_.p_cuStreamCreateWithPriority(&have, CU_STREAM_NON_BLOCKING, 0);
        if (r) return r;
      }
      s = have;
    }
    CUresult r = !to_device ? d_.p_cuMemcpyDtoHAsync(host, dptr, n, s)
                 : host     ? d_.p_cuMemcpyHtoDAsync(dptr, host, n, s)
                            : d_.p_cuMemsetD8Async(dptr, 0, n, s);
    return r ? r : d_.p_cuStreamSynchronize(s);
  }
  static CUDA_ARRAY3D_DESCRIPTOR desc3d(const avec_array_desc& d) {
    CUDA_ARRAY3D_DESCRIPTOR a = {};
    a.Width = d.width;
    a.Height = d.height;
    a.Depth = d.depth;
    a.Format = (CUarray_format)d.format;
    a.NumChannels = d.channels;
    a.Flags = d.flags;
    return a;
  }
  static void side3d(const CopySide& s, CUmemorytype* type, const void** host, CUdeviceptr* dev, CUarray* arr,
                     size_t* pitch, size_t* height, size_t* x, size_t* y, size_t* z) {
    *type = s.kind == CopySide::Kind::host ? CU_MEMORYTYPE_HOST
            : s.kind == CopySide::Kind::device ? CU_MEMORYTYPE_DEVICE : CU_MEMORYTYPE_ARRAY;
    *host = s.host;
    *dev = s.dptr;
    *arr = (CUarray)s.array;
    if (s.kind != CopySide::Kind::array) {
      *pitch = s.pitch;
      *height = s.height;
    }
    *x = s.x;
    *y = s.y;
    *z = s.z;
  }
  static CUDA_RESOURCE_DESC resource(const Resource& r) {
    CUDA_RESOURCE_DESC rd = {};
    rd.resType = (CUresourcetype)r.desc.type;
    rd.flags = r.desc.flags;
    switch (rd.resType) {
      case CU_RESOURCE_TYPE_ARRAY: rd.res.array.hArray = (CUarray)r.object; break;
      case CU_RESOURCE_TYPE_MIPMAPPED_ARRAY: rd.res.mipmap.hMipmappedArray = (CUmipmappedArray)r.object; break;
      case CU_RESOURCE_TYPE_LINEAR:
        rd.res.linear.devPtr = r.desc.dptr;
        rd.res.linear.format = (CUarray_format)r.desc.format;
        rd.res.linear.numChannels = r.desc.channels;
        rd.res.linear.sizeInBytes = r.desc.width;
        break;
      default:
        rd.res.pitch2D.devPtr = r.desc.dptr;
        rd.res.pitch2D.format = (CUarray_format)r.desc.format;
        rd.res.pitch2D.numChannels = r.desc.channels;
        rd.res.pitch2D.width = r.desc.width;
        rd.res.pitch2D.height = r.desc.height;
        rd.res.pitch2D.pitchInBytes = r.desc.pitch;
    }
    return rd;
  }
  // Non-async host-to-device copies run on the legacy stream as pinned async copies so consecutive
  // chunks overlap the network; the first other operation waits for them (cuMemcpyHtoD semantics).
  void settle() {
    if (!pending_sync_) return;
    d_.p_cuEventSynchronize(pending_sync_);
    pending_sync_ = nullptr;
  }
  Staging* staging(std::map<CUcontext, Staging>* which, int) {
    if (!current_) return nullptr;
    Staging& s = (*which)[current_];
    if (s.ok) return &s;
    for (int i = 0; i < 2; i++) {
      if (d_.p_cuMemHostAlloc(&s.buf[i], AVEC_CHUNK, CU_MEMHOSTALLOC_PORTABLE) != CUDA_SUCCESS ||
          d_.p_cuEventCreate(&s.ev[i], CU_EVENT_DISABLE_TIMING) != CUDA_SUCCESS) {
        release(s);
        which->erase(current_);
        AVEC_LOG(error, "staging_alloc_failed").unum("bytes", AVEC_CHUNK);
        return nullptr;
      }
    }
    s.ok = true;
    return &s;
  }
  void release(Staging& s) {
    for (int i = 0; i < 2; i++) {
      if (s.ev[i]) { if (s.busy[i]) d_.p_cuEventSynchronize(s.ev[i]); d_.p_cuEventDestroy(s.ev[i]); s.ev[i] = nullptr; }
      if (s.buf[i]) { d_.p_cuMemFreeHost(s.buf[i]); s.buf[i] = nullptr; }
    }
    s.ok = false;
  }
  // Staging buffers and events are freed in their own context, before that context goes away.
  void drop_staging_of(CUcontext ctx) {
    settle();
    bool switched = false;
    for (auto* m : {&htod_, &dtoh_}) {
      auto it = m->find(ctx);
      if (it == m->end()) continue;
      if (!switched && ctx != current_) { d_.p_cuCtxSetCurrent(ctx); switched = true; }
      release(it->second);
      m->erase(it);
    }
    if (switched) d_.p_cuCtxSetCurrent(current_);
    staged_slot_ = -1;
    std::lock_guard<std::mutex> g(host_mu_);  // side_copy's stream too: a later context at this address makes its own
    auto it = copy_streams_.find(ctx);
    if (it == copy_streams_.end()) return;
    if (it->second) d_.p_cuStreamDestroy(it->second);
    copy_streams_.erase(it);
  }
  void drop_staging_all() {
    std::set<CUcontext> all;
    for (auto* m : {&htod_, &dtoh_})
      for (auto& kv : *m) all.insert(kv.first);
    {
      std::lock_guard<std::mutex> g(host_mu_);
      for (auto& kv : copy_streams_) all.insert(kv.first);
    }
    for (CUcontext c : all) drop_staging_of(c);
  }

  // What a host function's userData points to: the client's id and the context it was enqueued in (kept
  // for the backend's life: one record per id and context).
  struct HostRecord {
    CudaBackend* be;
    uint64_t id;
    CUcontext ctx;
  };
  static void CUDA_CB host_trampoline(void* user) {
    auto* rec = static_cast<HostRecord*>(user);
    t_host_ctx = rec->ctx;
    if (rec->be->run_host_) rec->be->run_host_(rec->id);
    t_host_ctx = nullptr;
  }
  HostRecord* host_record(uint64_t id) {
    std::lock_guard<std::mutex> g(host_mu_);
    auto& rec = host_records_[std::make_pair(id, current_)];
    if (!rec) rec.reset(new HostRecord{this, id, current_});
    return rec.get();
  }

  BackendOptions opts_;
  void* lib_;
  Driver d_;
  std::function<void(uint64_t)> run_host_;
  std::mutex host_mu_;
  std::map<std::pair<uint64_t, CUcontext>, std::unique_ptr<HostRecord>> host_records_;
  std::map<CUcontext, CUstream> copy_streams_;  // side_copy's non-blocking streams
  CUdevice dev_ = 0;
  int version_ = 0;
  CUcontext current_ = nullptr;
  std::map<CUcontext, Staging> htod_, dtoh_;  // per context: host->device and device->host staging
  int staged_slot_ = -1;
  CUevent pending_sync_ = nullptr;
  std::set<BH> kernels_;
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(const BackendOptions& opts, std::string* why) {
  Driver d;
  void* lib = load_driver(&d, why);
  if (!lib) return nullptr;
  return std::unique_ptr<Backend>(new CudaBackend(opts, lib, d));
}

}  // namespace avec
