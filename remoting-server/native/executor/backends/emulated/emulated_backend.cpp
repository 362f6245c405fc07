// The emulated device: host memory behind device-looking addresses, streams, events with real elapsed
// times, and a module registry. It cannot run kernels and never pretends to: launches fail with
// CUDA_ERROR_NOT_SUPPORTED and a log line saying so.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "../../src/array_layout.h"
#include "../../src/backend.h"
#include "../../src/log.h"
#include "../../src/sha256.h"
#include "graph_engine.h"
#include "image_symbols.h"

namespace avec {
namespace {

constexpr uint64_t kBase = 0x00007e0000000000ull;  // where emulated device addresses start
constexpr uint64_t kGap = 64 * 1024;               // unmapped gap between allocations

constexpr uint64_t kGranularity = 2u << 20;        // VMM granularity (as on current NVIDIA GPUs)

// Device memory is host memory: calloc'ed, or a shared mapping of a memfd once it is exported for IPC
// (so another session's process can map the same pages), or another session's pages opened here.
struct Block {
  uint64_t size;
  uint8_t* host;
  bool mapped = false;   // host is an mmap (munmap it), not a calloc
  int fd = -1;           // memfd behind an exported block
  BH pool = 0;           // pool it came from (0: none)
  bool opened = false;   // another session's memory (IPC): not this device's to account
  bool imported = false; // a pointer imported from another session's pool (freed like a pool allocation)
  uint64_t file_offset = 0;  // in its shareable pool's memfd
};

struct Pool {
  uint64_t max_size = 0, used = 0, used_high = 0, threshold = 0;
  int reuse[3] = {1, 1, 1};
  uint32_t access = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
  bool destroyed = false;
  // Shareable (POSIX fd) pools keep their allocations in one memfd, each at its own page-aligned offset, so
  // another session's process that imports the pool maps the same pages; offsets are not reused (a freed
  // range's pages are punched out of the file).
  int fd = -1;
  bool shared = false;  // exported once: only then may its allocations be exported (pool_export_pointer)
  uint64_t arena = 0;    // the memfd's size so far
  bool imported = false; // another session's pool: allocations come from its exporter only
};

// What a shareable pool's pointer export data holds here: the pool file's identity, and where in it.
struct PoolPtrData {
  char magic[4];
  uint32_t reserved;
  uint64_t dev, ino, offset, size;
};
static_assert(sizeof(PoolPtrData) <= 64, "pool pointer export data");

struct Physical {  // a VMM allocation: a memfd its mappings share
  int fd;
  uint64_t size;
  bool imported = false;  // another session's allocation: its device accounts for it
};

struct Reservation {  // a reserved range: inaccessible host pages that mappings are placed into
  uint64_t size;
  uint8_t* host;
  std::map<uint64_t, uint32_t> access;  // mapped piece base -> CUmemAccess_flags
};

struct Event {
  uint32_t flags;
  bool recorded = false;
  std::chrono::steady_clock::time_point at;
};

struct Array {  // a CUDA array: its elements laid out linearly (rows, then slices)
  avec_array_desc desc;
  ArrayShape shape;
  std::vector<uint8_t> data;
  BH mipmap = 0;  // a level of this mipmapped array
};

struct Mipmap {
  avec_array_desc desc;
  std::vector<BH> levels;  // one array per level
};

struct TexObject {  // a record: the emulated device samples nothing
  Resource res;
  bool surface;
};

struct Module {
  std::vector<uint8_t> image;
  std::map<std::string, uint64_t> globals;  // name -> device address
  std::set<std::string> managed_globals;    // those that are __managed__ variables
};

class EmulatedBackend final : public Backend {
 public:
  explicit EmulatedBackend(const BackendOptions& o)
      : opts_(o),
        graphs_(GraphEngine::Ops{
                    [this](const avec_memset& m, BH s) {
                      return memset(m.dst, m.pitch, m.width, m.height, m.value, m.elem_size, s, true);
                    },
                    [this](const avec_memcpy2d& c, BH s) {
                      return memcpy2d_dtod(c.dst, c.dst_pitch, c.src, c.src_pitch, c.width, c.height, s, true);
                    },
                    [this](const LaunchArgs& a) { return launch(a); },
                    [this](BH e, BH s) { return event_record(e, s, 0); },
                    [this](uint64_t size, uint64_t reuse, uint64_t* d) { return graph_mem_take(size, reuse, d); },
                    [this](uint64_t d, bool live) { graph_mem_live(d, live); },
                    [this](uint64_t id) { if (run_host_) run_host_(id); }},
                [this] { return next_id_++; }) {}
  ~EmulatedBackend() override {
    for (auto& b : blocks_) release_block(b.second);
    for (auto& r : reservations_) munmap(r.second.host, r.second.size);
    for (auto& p : physical_) close(p.second.fd);
    for (auto& p : pools_)
      if (p.second.fd >= 0) close(p.second.fd);
  }
  const char* name() const override { return "emulated"; }
  bool emulated() const override { return true; }
  CUresult init() override { return CUDA_SUCCESS; }
  int device_count() override { return 1; }
  int driver_version() override { return 13000; }

  CUresult device_info(int dev, avec_device_info* out) override {
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    ::memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "avec emulated device (no kernels)");
    uint8_t h[32];
    std::string seed = "avec-emulated-device-" + std::to_string(opts_.device);
    sha256(seed.data(), seed.size(), h);
    memcpy(out->uuid, h, 16);
    out->total_mem = opts_.emulated_memory;
    out->pci_domain = 0;
    out->pci_bus = 0xe0;
    out->pci_device = 0;
    out->cc_major = 9;
    out->cc_minor = 0;
    int32_t* a = out->attrs;
    a[CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK] = 1024;
    a[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X] = 1024;
    a[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y] = 1024;
    a[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z] = 64;
    a[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X] = 2147483647;
    a[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y] = 65535;
    a[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z] = 65535;
    a[CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK] = 49152;
    a[CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY] = 65536;
    a[CU_DEVICE_ATTRIBUTE_WARP_SIZE] = 32;
    a[CU_DEVICE_ATTRIBUTE_MAX_PITCH] = 2147483647;
    a[CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK] = 65536;
    a[CU_DEVICE_ATTRIBUTE_CLOCK_RATE] = 1000000;
    a[CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT] = 512;
    a[CU_DEVICE_ATTRIBUTE_GPU_OVERLAP] = 1;
    a[CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT] = 1;
    a[CU_DEVICE_ATTRIBUTE_CONCURRENT_KERNELS] = 1;
    a[CU_DEVICE_ATTRIBUTE_PCI_BUS_ID] = out->pci_bus;
    a[CU_DEVICE_ATTRIBUTE_ASYNC_ENGINE_COUNT] = 2;
    a[CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING] = 1;
    // Mapped and managed memory are the client's mirrors over ordinary device memory (the shim's mapped.c and
    // managed.c), which this device moves like any other: say so, as a GPU does, so that frameworks that ask
    // first (numba's pinned/mapped arrays) take those paths in CI too.
    a[CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY] = 1;
    a[CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY] = 1;
    a[CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR] = 2048;
    a[CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR] = 9;
    a[CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR] = 0;
    a[CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR] = 233472;
    a[CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR] = 65536;
    a[CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN] = 232448;
    a[CU_DEVICE_ATTRIBUTE_MAX_BLOCKS_PER_MULTIPROCESSOR] = 32;
    a[CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED] = 1;
    a[CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED] = 1;  // memfd-backed physical allocations
    a[CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED] = 1;  // memfds between session processes
    a[CU_DEVICE_ATTRIBUTE_MEMPOOL_SUPPORTED_HANDLE_TYPES] = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
    a[CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH] = 64;
    a[CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE] = 1000000;
    a[CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE] = 1 << 20;
    return CUDA_SUCCESS;
  }

  CUresult describe(std::vector<avec_device_info>* all) override {
    all->assign(1, avec_device_info{});
    return device_info(0, &(*all)[0]);
  }

  // contexts: identities only (one address space for the whole device)
  CUresult primary_ctx_retain(int dev, BH* ctx) override {
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    *ctx = 1;
    return CUDA_SUCCESS;
  }
  CUresult primary_ctx_release(int dev) override { return dev == 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE; }
  CUresult primary_ctx_reset(int dev) override { return dev == 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE; }
  CUresult primary_ctx_set_flags(int dev, uint32_t) override { return dev == 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE; }
  CUresult ctx_create(int dev, uint32_t, BH* ctx) override {
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    *ctx = next_id_++;
    return CUDA_SUCCESS;
  }
  CUresult ctx_destroy(BH) override { return CUDA_SUCCESS; }
  CUresult ctx_set_current(BH ctx) override {
    current_ = ctx;
    return CUDA_SUCCESS;
  }
  CUresult ctx_synchronize() override { return CUDA_SUCCESS; }
  CUresult ctx_set_limit(uint32_t limit, uint64_t value) override {
    if (limit >= CU_LIMIT_MAX) return CUDA_ERROR_UNSUPPORTED_LIMIT;
    limits_[limit] = value;
    return CUDA_SUCCESS;
  }
  CUresult ctx_get_limit(uint32_t limit, uint64_t* value) override {
    if (limit >= CU_LIMIT_MAX) return CUDA_ERROR_UNSUPPORTED_LIMIT;
    auto it = limits_.find(limit);
    *value = it == limits_.end() ? (limit == CU_LIMIT_STACK_SIZE ? 1024 : limit == CU_LIMIT_PRINTF_FIFO_SIZE ? 1 << 20 : 0)
                                 : it->second;
    return CUDA_SUCCESS;
  }
  CUresult ctx_set_cache_config(uint32_t) override { return CUDA_SUCCESS; }

  // memory
  CUresult mem_alloc(uint64_t size, uint64_t* dptr) override {
    if (graphs_.unsafe_call()) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    return alloc_block(size, dptr);
  }
  CUresult alloc_block(uint64_t size, uint64_t* dptr) {
    if (size == 0) return CUDA_ERROR_INVALID_VALUE;
    if (size > opts_.emulated_memory - used_) return CUDA_ERROR_OUT_OF_MEMORY;
    uint8_t* h = static_cast<uint8_t*>(calloc(1, size));
    if (!h) return CUDA_ERROR_OUT_OF_MEMORY;
    *dptr = take_address(size, size >= kGranularity ? kGranularity : 512);
    blocks_[*dptr] = Block{size, h};
    used_ += size;
    return CUDA_SUCCESS;
  }
  static uint64_t page_up(uint64_t n) { return (n + 4095) & ~4095ull; }
  // An allocation of a shareable pool: the next pages of the pool's memfd, mapped here.
  CUresult alloc_in_pool_file(Pool& p, uint64_t size, uint64_t* dptr) {
    if (size == 0) return CUDA_ERROR_INVALID_VALUE;
    if (size > opts_.emulated_memory - used_) return CUDA_ERROR_OUT_OF_MEMORY;
    uint64_t off = p.arena, len = page_up(size);
    if (ftruncate(p.fd, (off_t)(off + len)) != 0) return CUDA_ERROR_OUT_OF_MEMORY;
    void* h = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, p.fd, (off_t)off);
    if (h == MAP_FAILED) return CUDA_ERROR_OUT_OF_MEMORY;
    p.arena = off + len;
    *dptr = take_address(size, size >= kGranularity ? kGranularity : 512);
    Block b{len, static_cast<uint8_t*>(h)};
    b.size = size;
    b.mapped = true;
    b.file_offset = off;
    blocks_[*dptr] = b;
    used_ += size;
    return CUDA_SUCCESS;
  }
  CUresult mem_alloc_pitch(uint64_t width, uint64_t height, uint32_t elem, uint64_t* dptr, uint64_t* pitch) override {
    if (width == 0 || height == 0 || (elem != 4 && elem != 8 && elem != 16)) return CUDA_ERROR_INVALID_VALUE;
    uint64_t p = (width + 511) & ~511ull, total;
    if (p < width || __builtin_mul_overflow(p, height, &total)) return CUDA_ERROR_INVALID_VALUE;
    if (graphs_.unsafe_call()) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    CUresult r = alloc_block(total, dptr);
    if (r == CUDA_SUCCESS) *pitch = p;
    return r;
  }
  CUresult mem_free(uint64_t dptr) override {
    if (graphs_.unsafe_call()) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    auto g = gmem_.find(dptr);
    if (g != gmem_.end()) {  // a graph's allocation, freed outside the graph: only while a launch left it live
      if (!g->second.live) return CUDA_ERROR_INVALID_VALUE;
      graph_mem_live(dptr, false);
      graph_mem_release(dptr);
      return CUDA_SUCCESS;
    }
    return free_block(dptr);
  }
  CUresult free_block(uint64_t dptr) {
    auto it = blocks_.find(dptr);
    if (it == blocks_.end() || it->second.opened) return CUDA_ERROR_INVALID_VALUE;
    if (!it->second.imported) used_ -= it->second.size;
    if (it->second.pool) {
      Pool& p = pools_[it->second.pool];
      p.used -= it->second.size;
      if (p.fd >= 0)
        fallocate(p.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)it->second.file_offset,
                  (off_t)page_up(it->second.size));
    }
    release_block(it->second);
    blocks_.erase(it);
    return CUDA_SUCCESS;
  }
  CUresult mem_free_async(uint64_t dptr, BH stream) override {
    if (!stream_ok(stream)) return CUDA_ERROR_INVALID_HANDLE;
    GraphNodeSpec sp;  // on a capturing stream: a free node of the graph being captured
    sp.type = CU_GRAPH_NODE_TYPE_MEM_FREE;
    sp.free_dptr = dptr;
    CUresult r;
    if (graphs_.captured(stream, sp, &r)) return r;
    auto g = gmem_.find(dptr);
    if (g != gmem_.end()) {
      if (!g->second.live) return CUDA_ERROR_INVALID_VALUE;
      graph_mem_live(dptr, false);
      graph_mem_release(dptr);
      return CUDA_SUCCESS;
    }
    return free_block(dptr);
  }
  CUresult mem_get_info(uint64_t* free_b, uint64_t* total) override {
    *total = opts_.emulated_memory;
    *free_b = opts_.emulated_memory - used_;
    return CUDA_SUCCESS;
  }
  void* htod_staging(size_t len) override {
    if (staging_.size() < len) staging_.resize(len);
    return staging_.data();
  }
  CUresult htod_submit(void* staging, uint64_t dst, size_t len, BH stream, bool async) override {
    return memcpy_htod(dst, staging, len, stream, async);
  }
  CUresult memcpy_htod(uint64_t dst, const void* src, size_t len, BH stream, bool) override {
    if (!stream_ok(stream)) return CUDA_ERROR_INVALID_HANDLE;
    uint8_t* d = host(dst, len);
    if (!d) return CUDA_ERROR_INVALID_VALUE;
    memcpy(d, src, len);
    return CUDA_SUCCESS;
  }
  CUresult memcpy_dtoh(uint64_t src, uint64_t len, BH stream, bool, ChunkSink& sink) override {
    if (!stream_ok(stream)) return CUDA_ERROR_INVALID_HANDLE;
    uint8_t* s = host(src, len);
    if (!s) return CUDA_ERROR_INVALID_VALUE;
    for (uint64_t off = 0; off < len;) {
      uint64_t n = len - off < AVEC_CHUNK ? len - off : AVEC_CHUNK;
      if (!sink.send(s + off, n, off + n == len)) return CUDA_ERROR_UNKNOWN;
      off += n;
    }
    return CUDA_SUCCESS;
  }
  CUresult memcpy_dtod(uint64_t dst, uint64_t src, uint64_t len, BH stream, bool) override {
    if (!stream_ok(stream)) return CUDA_ERROR_INVALID_HANDLE;
    if (graphs_.capturing(stream)) return memcpy2d_dtod(dst, len, src, len, len, 1, stream, true);
    uint8_t* d = host(dst, len);
    uint8_t* s = host(src, len);
    if (!d || !s) return CUDA_ERROR_INVALID_VALUE;
    memmove(d, s, len);
    return CUDA_SUCCESS;
  }
  CUresult memset(uint64_t dst, uint64_t pitch, uint64_t width, uint64_t height, uint32_t value, uint32_t elem,
                  BH stream, bool) override {
    if (!stream_ok(stream)) return CUDA_ERROR_INVALID_HANDLE;
    if (elem != 1 && elem != 2 && elem != 4) return CUDA_ERROR_INVALID_VALUE;
    CUresult captured = CUDA_SUCCESS;
    GraphNodeSpec sp;
    sp.type = CU_GRAPH_NODE_TYPE_MEMSET;
    sp.memset = avec_memset{dst, pitch, width, height, value, (uint16_t)elem, 0, 0, 0};
    if (graphs_.captured(stream, sp, &captured)) return captured;
    uint64_t row_bytes;
    if (__builtin_mul_overflow(width, (uint64_t)elem, &row_bytes)) return CUDA_ERROR_INVALID_VALUE;
    if (height == 0 || row_bytes == 0) return CUDA_SUCCESS;
    if (height > 1 && pitch < row_bytes) return CUDA_ERROR_INVALID_VALUE;
    for (uint64_t r = 0; r < height; r++) {
      uint8_t* d = host(dst + r * pitch, row_bytes);
      if (!d) return CUDA_ERROR_INVALID_VALUE;
      if (elem == 1) {
        ::memset(d, (int)(value & 0xff), row_bytes);
      } else {
        for (uint64_t i = 0; i < width; i++) memcpy(d + i * elem, &value, elem);
      }
    }
    return CUDA_SUCCESS;
  }
  CUresult memcpy2d_htod(uint64_t dst, uint64_t dpitch, const void* src, uint64_t width, uint64_t height, BH stream,
                         bool) override {
    if (!stream_ok(stream)) return CUDA_ERROR_INVALID_HANDLE;
    for (uint64_t r = 0; r < height; r++) {
      uint8_t* d = host(dst + r * dpitch, width);
      if (!d) return CUDA_ERROR_INVALID_VALUE;
      memcpy(d, static_cast<const uint8_t*>(src) + r * width, width);
    }
    return CUDA_SUCCESS;
  }
  CUresult memcpy2d_dtoh(void* dst, uint64_t src, uint64_t spitch, uint64_t width, uint64_t height, BH stream,
                         bool) override {
    if (!stream_ok(stream)) return CUDA_ERROR_INVALID_HANDLE;
    for (uint64_t r = 0; r < height; r++) {
      uint8_t* s = host(src + r * spitch, width);
      if (!s) return CUDA_ERROR_INVALID_VALUE;
      memcpy(static_cast<uint8_t*>(dst) + r * width, s, width);
    }
    return CUDA_SUCCESS;
  }
  CUresult memcpy2d_dtod(uint64_t dst, uint64_t dpitch, uint64_t src, uint64_t spitch, uint64_t width, uint64_t height,
                         BH stream, bool) override {
    if (!stream_ok(stream)) return CUDA_ERROR_INVALID_HANDLE;
    CUresult captured = CUDA_SUCCESS;
    GraphNodeSpec sp;
    sp.type = CU_GRAPH_NODE_TYPE_MEMCPY;
    sp.copy = avec_memcpy2d{dst, dpitch, src, spitch, width, height, 0, 0};
    if (graphs_.captured(stream, sp, &captured)) return captured;
    for (uint64_t r = 0; r < height; r++) {
      uint8_t* d = host(dst + r * dpitch, width);
      uint8_t* s = host(src + r * spitch, width);
      if (!d || !s) return CUDA_ERROR_INVALID_VALUE;
      memmove(d, s, width);
    }
    return CUDA_SUCCESS;
  }

  // streams and events: work runs at submission, so streams are always idle
  CUresult stream_create(uint32_t, int32_t priority, BH* s) override {
    *s = next_id_++;
    streams_.insert(*s);
    // the range the shim reports (cuCtxGetStreamPriorityRange: 0 .. -5); the driver clamps likewise
    stream_attrs_[*s].priority = std::min(0, std::max(-5, (int)priority));
    return CUDA_SUCCESS;
  }
  CUresult stream_destroy(BH s) override {
    stream_attrs_.erase(s);
    return streams_.erase(s) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
  }
  CUresult stream_synchronize(BH s) override { return stream_ok(s) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE; }
  CUresult stream_query(BH s) override { return stream_ok(s) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE; }
  CUresult stream_wait_event(BH s, BH e, uint32_t) override {
    if (!stream_ok(s) || !events_.count(e)) return CUDA_ERROR_INVALID_HANDLE;
    graphs_.captured_wait(s, e);  // joins a capture, or adds to its dependencies; else nothing to wait for
    return CUDA_SUCCESS;
  }
  CUresult event_create(uint32_t flags, BH* e) override {
    *e = next_id_++;
    Event ev;
    ev.flags = flags;
    events_[*e] = ev;
    return CUDA_SUCCESS;
  }
  CUresult event_destroy(BH e) override { return events_.erase(e) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE; }
  CUresult event_record(BH e, BH s, uint32_t) override {
    auto it = events_.find(e);
    if (it == events_.end() || !stream_ok(s)) return CUDA_ERROR_INVALID_HANDLE;
    if (graphs_.captured_record(e, s)) return CUDA_SUCCESS;
    it->second.recorded = true;
    it->second.at = std::chrono::steady_clock::now();
    return CUDA_SUCCESS;
  }
  CUresult event_synchronize(BH e) override { return events_.count(e) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE; }
  CUresult event_query(BH e) override { return events_.count(e) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE; }
  CUresult event_elapsed(BH a, BH b, float* ms) override {
    auto ia = events_.find(a), ib = events_.find(b);
    if (ia == events_.end() || ib == events_.end()) return CUDA_ERROR_INVALID_HANDLE;
    if ((ia->second.flags | ib->second.flags) & CU_EVENT_DISABLE_TIMING) return CUDA_ERROR_INVALID_HANDLE;
    if (!ia->second.recorded || !ib->second.recorded) return CUDA_ERROR_INVALID_HANDLE;
    *ms = std::chrono::duration<float, std::milli>(ib->second.at - ia->second.at).count();
    return CUDA_SUCCESS;
  }
  BH stream_legacy() override { return kLegacy; }
  BH stream_per_thread() override { return kPerThread; }

  // modules
  CUresult module_load(ModuleKind, const uint8_t* image, size_t len, BH* mod) override {
    if (!image || len == 0) return CUDA_ERROR_INVALID_IMAGE;
    BH id = next_id_++;
    modules_[id].image.assign(image, image + len);
    *mod = id;
    return CUDA_SUCCESS;
  }
  CUresult module_unload(ModuleKind, BH mod) override {
    auto it = modules_.find(mod);
    if (it == modules_.end()) return CUDA_ERROR_INVALID_HANDLE;
    for (auto& g : it->second.globals) free_block(g.second);
    modules_.erase(it);
    return CUDA_SUCCESS;
  }
  CUresult get_function(ModuleKind, BH mod, uint32_t, const std::string& name, BH* fn, FunctionInfo* info) override {
    auto it = modules_.find(mod);
    if (it == modules_.end()) return CUDA_ERROR_INVALID_HANDLE;
    const auto& img = it->second.image;
    if (image_find_function(img.data(), img.size(), name) == Lookup::absent) return CUDA_ERROR_NOT_FOUND;
    *fn = next_id_++;
    functions_.insert(*fn);
    std::vector<std::pair<uint32_t, uint32_t>> layout;  // from the cubin, where the image has one
    info->params_known = image_kernel_params(img.data(), img.size(), name, &layout);
    for (auto& p : layout) info->params.push_back({p.first, p.second});
    info->attrs[CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK] = 1024;
    info->attrs[CU_FUNC_ATTRIBUTE_PTX_VERSION] = 90;
    info->attrs[CU_FUNC_ATTRIBUTE_BINARY_VERSION] = 90;
    info->attrs[CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES] = 49152;
    return CUDA_SUCCESS;
  }
  CUresult kernel_names(ModuleKind, BH mod, std::vector<std::string>* names) override {
    auto it = modules_.find(mod);
    if (it == modules_.end()) return CUDA_ERROR_INVALID_HANDLE;
    const auto& img = it->second.image;
    return image_kernel_names(img.data(), img.size(), names) ? CUDA_SUCCESS : CUDA_ERROR_NOT_SUPPORTED;
  }
  CUresult get_global(ModuleKind, BH mod, const std::string& name, uint64_t* dptr, uint64_t* size,
                      bool* managed) override {
    auto it = modules_.find(mod);
    if (it == modules_.end()) return CUDA_ERROR_INVALID_HANDLE;
    auto g = it->second.globals.find(name);
    if (g != it->second.globals.end()) {
      *dptr = g->second;
      *size = blocks_[g->second].size;
      *managed = it->second.managed_globals.count(name) != 0;
      return CUDA_SUCCESS;
    }
    uint64_t sz = 0;
    const auto& img = it->second.image;
    Lookup l = image_find_global(img.data(), img.size(), name, &sz, managed);
    if (l == Lookup::absent) return CUDA_ERROR_NOT_FOUND;
    if (l == Lookup::unknown || sz == 0) {
      AVEC_LOG(warn, "emulated_global_unknown").str("name", name).str("reason", "size not readable from image");
      return CUDA_ERROR_NOT_SUPPORTED;
    }
    CUresult r = alloc_block(sz, dptr);
    if (r != CUDA_SUCCESS) return r;
    it->second.globals[name] = *dptr;
    if (*managed) it->second.managed_globals.insert(name);
    *size = sz;
    return CUDA_SUCCESS;
  }
  CUresult func_set_attribute(BH fn, bool, uint32_t attr, int32_t) override {
    if (!functions_.count(fn)) return CUDA_ERROR_INVALID_HANDLE;
    return attr < AVEC_FUNC_ATTR_SLOTS ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
  }
  CUresult func_set_cache_config(BH fn, bool, uint32_t) override {
    return functions_.count(fn) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
  }
  CUresult occupancy(BH fn, uint32_t, uint32_t, uint32_t, uint64_t, uint64_t*) override {
    return functions_.count(fn) ? CUDA_ERROR_NOT_SUPPORTED : CUDA_ERROR_INVALID_HANDLE;
  }
  CUresult launch(const LaunchArgs& a) override {
    if (!functions_.count(a.func)) return CUDA_ERROR_INVALID_HANDLE;
    CUresult captured = CUDA_SUCCESS;
    GraphNodeSpec sp;
    sp.type = CU_GRAPH_NODE_TYPE_KERNEL;
    sp.launch = a;
    if (graphs_.captured(a.stream, sp, &captured)) return captured;
    if (opts_.emulated_launch_error) return (CUresult)opts_.emulated_launch_error;
    if (!logged_launch_) {
      AVEC_LOG(error, "emulated device cannot run kernels").str("result", "CUDA_ERROR_NOT_SUPPORTED");
      logged_launch_ = true;
    }
    return CUDA_ERROR_NOT_SUPPORTED;
  }

  // ---- pools: nothing is cached, so a pool holds exactly what is allocated from it ----
  CUresult pool_default(int dev, BH* pool) override {
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    pools_.emplace(kDefaultPool, Pool{});
    *pool = kDefaultPool;
    return CUDA_SUCCESS;
  }
  CUresult pool_create(int dev, uint64_t max_size, uint32_t handle_types, BH* pool) override {
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (handle_types & ~(uint32_t)CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) return CUDA_ERROR_NOT_SUPPORTED;
    int fd = -1;
    if (handle_types && (fd = memfd_create("avec-emulated-pool", MFD_CLOEXEC)) < 0) return CUDA_ERROR_OUT_OF_MEMORY;
    *pool = next_id_++;
    pools_[*pool].max_size = max_size;
    pools_[*pool].fd = fd;
    return CUDA_SUCCESS;
  }
  CUresult pool_destroy(BH pool) override {
    if (!pool_ok(pool) || pool == kDefaultPool) return CUDA_ERROR_INVALID_VALUE;
    pools_[pool].destroyed = true;  // its live allocations stay valid until freed, as with the driver
    if (current_pool_ == pool) current_pool_ = kDefaultPool;
    return CUDA_SUCCESS;
  }
  // Pool attributes and trimming are potentially unsafe during a capture (cuda-python#2834 measured the
  // attribute calls on a driver), as are synchronous allocation and free.
  CUresult pool_set_attr(BH pool, uint32_t attr, uint64_t value) override {
    if (graphs_.unsafe_call()) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    if (!pool_ok(pool)) return CUDA_ERROR_INVALID_VALUE;
    Pool& p = pools_[pool];
    switch (attr) {
      case CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES:
      case CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC:
      case CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES: p.reuse[attr - 1] = value ? 1 : 0; return CUDA_SUCCESS;
      case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD: p.threshold = value; return CUDA_SUCCESS;
      case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH:
      case CU_MEMPOOL_ATTR_USED_MEM_HIGH:  // only a reset to the current value is allowed
        if (value) return CUDA_ERROR_INVALID_VALUE;
        p.used_high = p.used;
        return CUDA_SUCCESS;
      default: return CUDA_ERROR_INVALID_VALUE;
    }
  }
  CUresult pool_get_attr(BH pool, uint32_t attr, uint64_t* value) override {
    if (graphs_.unsafe_call()) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    if (!pool_ok(pool)) return CUDA_ERROR_INVALID_VALUE;
    const Pool& p = pools_[pool];
    switch (attr) {
      case CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES:
      case CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC:
      case CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES: *value = (uint64_t)p.reuse[attr - 1]; return CUDA_SUCCESS;
      case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD: *value = p.threshold; return CUDA_SUCCESS;
      case CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT: case CU_MEMPOOL_ATTR_USED_MEM_CURRENT: *value = p.used; return CUDA_SUCCESS;
      case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH: case CU_MEMPOOL_ATTR_USED_MEM_HIGH: *value = p.used_high; return CUDA_SUCCESS;
      default: return CUDA_ERROR_INVALID_VALUE;
    }
  }
  CUresult pool_trim(BH pool, uint64_t) override {
    if (graphs_.unsafe_call()) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    return pool_ok(pool) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
  }
  CUresult pool_set_access(BH pool, int dev, uint32_t flags) override {
    if (!pool_ok(pool)) return CUDA_ERROR_INVALID_VALUE;
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (flags != CU_MEM_ACCESS_FLAGS_PROT_READWRITE) return CUDA_ERROR_INVALID_VALUE;  // the owning device keeps RW
    pools_[pool].access = flags;
    return CUDA_SUCCESS;
  }
  CUresult pool_get_access(BH pool, int dev, uint32_t* flags) override {
    if (!pool_ok(pool)) return CUDA_ERROR_INVALID_VALUE;
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    *flags = pools_[pool].access;
    return CUDA_SUCCESS;
  }
  CUresult device_set_mem_pool(int dev, BH pool) override {
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (!pool_ok(pool)) return CUDA_ERROR_INVALID_VALUE;
    current_pool_ = pool;
    return CUDA_SUCCESS;
  }
  CUresult mem_alloc_from_pool(uint64_t size, BH pool, BH stream, uint64_t* dptr) override {
    if (!stream_ok(stream)) return CUDA_ERROR_INVALID_HANDLE;
    if (!pool_ok(pool)) return CUDA_ERROR_INVALID_VALUE;
    Pool& p = pools_[pool];
    GraphNodeSpec sp;  // on a capturing stream: an allocation node of the graph being captured
    sp.type = CU_GRAPH_NODE_TYPE_MEM_ALLOC;
    sp.alloc_size = size;
    sp.alloc_dptr = dptr;
    CUresult r;
    if (graphs_.captured(stream, sp, &r)) return r;
    if (p.max_size && size > p.max_size - std::min(p.max_size, p.used)) return CUDA_ERROR_OUT_OF_MEMORY;
    if (p.imported) return CUDA_ERROR_INVALID_VALUE;  // an importer only imports pointers
    r = p.fd >= 0 ? alloc_in_pool_file(p, size, dptr) : alloc_block(size, dptr);
    if (r) return r;
    blocks_[*dptr].pool = pool;
    p.used += size;
    p.used_high = std::max(p.used_high, p.used);
    return CUDA_SUCCESS;
  }

  // ---- virtual memory: physical allocations are memfds, reserved ranges inaccessible host pages, and a
  // mapping places the memfd's pages at the same offset in the range (so aliases alias here too) ----
  CUresult vmm_granularity(int dev, uint32_t, uint64_t* out) override {
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    *out = kGranularity;
    return CUDA_SUCCESS;
  }
  CUresult vmm_create(int dev, uint64_t size, uint32_t, uint32_t handle_types, BH* handle) override {
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (handle_types & ~(uint32_t)CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) return CUDA_ERROR_NOT_SUPPORTED;
    if (size == 0 || size % kGranularity) return CUDA_ERROR_INVALID_VALUE;
    if (size > opts_.emulated_memory - used_) return CUDA_ERROR_OUT_OF_MEMORY;
    int fd = memfd_create("avec-emulated-vmm", MFD_CLOEXEC);
    if (fd < 0) return CUDA_ERROR_OUT_OF_MEMORY;
    if (ftruncate(fd, (off_t)size) != 0) { close(fd); return CUDA_ERROR_OUT_OF_MEMORY; }
    *handle = next_id_++;
    physical_[*handle] = Physical{fd, size};
    used_ += size;
    return CUDA_SUCCESS;
  }
  CUresult vmm_release(BH handle) override {  // mappings keep the pages alive (they hold the memfd)
    auto it = physical_.find(handle);
    if (it == physical_.end()) return CUDA_ERROR_INVALID_VALUE;
    close(it->second.fd);
    if (!it->second.imported) used_ -= it->second.size;
    physical_.erase(it);
    return CUDA_SUCCESS;
  }
  CUresult vmm_reserve(uint64_t size, uint64_t align, uint64_t, uint64_t, uint64_t* addr) override {
    if (size == 0 || size % kGranularity || (align & (align - 1))) return CUDA_ERROR_INVALID_VALUE;
    void* h = mmap(nullptr, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (h == MAP_FAILED) return CUDA_ERROR_OUT_OF_MEMORY;
    *addr = take_address(size, std::max<uint64_t>(align, kGranularity));
    reservations_[*addr] = Reservation{size, static_cast<uint8_t*>(h), {}};
    return CUDA_SUCCESS;
  }
  CUresult vmm_address_free(uint64_t addr, uint64_t size) override {
    auto it = reservations_.find(addr);
    if (it == reservations_.end() || it->second.size != size) return CUDA_ERROR_INVALID_VALUE;
    munmap(it->second.host, size);
    reservations_.erase(it);
    return CUDA_SUCCESS;
  }
  // The reserved range at or below addr, and addr's offset from its start (nullptr when there is none).
  Reservation* reservation_at(uint64_t addr, uint64_t* off) {
    auto it = reservations_.upper_bound(addr);
    if (it == reservations_.begin()) return nullptr;
    --it;
    *off = addr - it->first;
    return &it->second;
  }
  // The reserved range holding [addr, addr+size), or nullptr.
  Reservation* reservation_of(uint64_t addr, uint64_t size) {
    uint64_t off = 0;
    Reservation* r = reservation_at(addr, &off);
    return r && off < r->size && size <= r->size - off ? r : nullptr;
  }
  CUresult vmm_map(uint64_t addr, uint64_t size, uint64_t offset, BH handle) override {
    auto ph = physical_.find(handle);
    Reservation* r = reservation_of(addr, size);
    if (ph == physical_.end() || !r || size % kGranularity || offset % kGranularity || offset > ph->second.size ||
        size > ph->second.size - offset)
      return CUDA_ERROR_INVALID_VALUE;
    uint8_t* at = host_in(addr);
    if (mmap(at, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, ph->second.fd, (off_t)offset) == MAP_FAILED)
      return CUDA_ERROR_OUT_OF_MEMORY;
    r->access[addr] = CU_MEM_ACCESS_FLAGS_PROT_NONE;
    return CUDA_SUCCESS;
  }
  uint8_t* host_in(uint64_t addr) {  // host address of a device address inside a reserved range
    uint64_t off = 0;
    return reservation_at(addr, &off)->host + off;
  }

  CUresult vmm_unmap(uint64_t addr, uint64_t size) override {
    Reservation* r = reservation_of(addr, size);
    if (!r) return CUDA_ERROR_INVALID_VALUE;
    if (mmap(host_in(addr), size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED)
      return CUDA_ERROR_INVALID_VALUE;
    r->access.erase(r->access.lower_bound(addr), r->access.lower_bound(addr + size));
    return CUDA_SUCCESS;
  }
  CUresult vmm_set_access(uint64_t addr, uint64_t size, int dev, uint32_t flags) override {
    Reservation* r = reservation_of(addr, size);
    if (!r) return CUDA_ERROR_INVALID_VALUE;
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    for (auto it = r->access.lower_bound(addr); it != r->access.end() && it->first < addr + size; ++it) it->second = flags;
    return CUDA_SUCCESS;
  }
  CUresult vmm_get_access(uint64_t addr, int dev, uint64_t* flags) override {
    Reservation* r = reservation_of(addr, 1);
    if (!r) return CUDA_ERROR_INVALID_VALUE;
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    auto it = r->access.upper_bound(addr);
    if (it == r->access.begin()) return CUDA_ERROR_INVALID_VALUE;
    *flags = (--it)->second;
    return CUDA_SUCCESS;
  }

  // ---- IPC: an exported block moves onto a memfd; another session's process maps that memfd through
  // /proc/<pid>/fd/<fd> while this process lives (as CUDA IPC needs the exporting process alive) ----
  CUresult ipc_export_mem(uint64_t dptr, std::vector<uint8_t>* blob) override {
    auto it = blocks_.find(dptr);
    if (it == blocks_.end() || it->second.opened || it->second.pool) return CUDA_ERROR_INVALID_VALUE;
    Block& b = it->second;
    if (b.fd < 0) {
      int fd = memfd_create("avec-emulated-ipc", MFD_CLOEXEC);
      if (fd < 0) return CUDA_ERROR_OUT_OF_MEMORY;
      void* h = ftruncate(fd, (off_t)b.size) == 0
                    ? mmap(nullptr, b.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
      if (h == MAP_FAILED) { close(fd); return CUDA_ERROR_OUT_OF_MEMORY; }
      memcpy(h, b.host, b.size);
      release_block(b);
      b.host = static_cast<uint8_t*>(h);
      b.mapped = true;
      b.fd = fd;
    }
    std::string path = "/proc/" + std::to_string(getpid()) + "/fd/" + std::to_string(b.fd);
    blob->assign(path.begin(), path.end());
    return CUDA_SUCCESS;
  }
  CUresult ipc_open_mem(const std::vector<uint8_t>& blob, uint64_t size, uint64_t* dptr) override {
    std::string path(blob.begin(), blob.end());
    if (size == 0 || path.rfind("/proc/", 0) != 0) return CUDA_ERROR_INVALID_VALUE;
    int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return CUDA_ERROR_INVALID_VALUE;  // the exporting session has ended
    void* h = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (h == MAP_FAILED) return CUDA_ERROR_INVALID_VALUE;
    *dptr = take_address(size, size >= kGranularity ? kGranularity : 512);
    Block b{size, static_cast<uint8_t*>(h)};
    b.mapped = true;
    b.opened = true;
    blocks_[*dptr] = b;
    return CUDA_SUCCESS;
  }
  CUresult ipc_close_mem(uint64_t dptr) override {
    auto it = blocks_.find(dptr);
    if (it == blocks_.end() || !it->second.opened) return CUDA_ERROR_INVALID_VALUE;
    release_block(it->second);
    blocks_.erase(it);
    return CUDA_SUCCESS;
  }
  CUresult ipc_export_event(BH e, std::vector<uint8_t>* blob) override {
    auto it = events_.find(e);
    if (it == events_.end()) return CUDA_ERROR_INVALID_HANDLE;
    if (!(it->second.flags & CU_EVENT_INTERPROCESS) || !(it->second.flags & CU_EVENT_DISABLE_TIMING))
      return CUDA_ERROR_INVALID_VALUE;
    const char tag[] = "emulated-event";  // work runs at submission here: an opened event is always complete
    blob->assign(tag, tag + sizeof tag - 1);
    return CUDA_SUCCESS;
  }
  // The private tables are the NVIDIA driver's own: there is nothing here to answer them with.
  // CUDA arrays: storage only (no kernel ever reads them here)
  CUresult array_create(const avec_array_desc& d, BH* arr) override { return make_array(d, 0, 0, arr); }
  CUresult array_destroy(BH arr) override {
    auto it = arrays_.find(arr);
    if (it == arrays_.end() || it->second.mipmap) return CUDA_ERROR_INVALID_HANDLE;
    used_ -= it->second.shape.bytes;
    arrays_.erase(it);
    return CUDA_SUCCESS;
  }
  CUresult mipmap_create(const avec_array_desc& d, BH* mm) override {
    if (d.levels == 0 || !array_desc_valid(d)) return CUDA_ERROR_INVALID_VALUE;
    BH id = next_id_++;
    Mipmap m{d, {}};
    for (uint32_t l = 0; l < d.levels; l++) {
      BH a = 0;
      CUresult r = make_array(d, l, id, &a);
      if (r) {
        for (BH x : m.levels) drop_array(x);
        return r;
      }
      m.levels.push_back(a);
    }
    mipmaps_[id] = m;
    *mm = id;
    return CUDA_SUCCESS;
  }
  CUresult mipmap_destroy(BH mm) override {
    auto it = mipmaps_.find(mm);
    if (it == mipmaps_.end()) return CUDA_ERROR_INVALID_HANDLE;
    for (BH a : it->second.levels) drop_array(a);
    mipmaps_.erase(it);
    return CUDA_SUCCESS;
  }
  CUresult mipmap_level(BH mm, uint32_t level, BH* arr, avec_array_desc* d) override {
    auto it = mipmaps_.find(mm);
    if (it == mipmaps_.end()) return CUDA_ERROR_INVALID_HANDLE;
    if (level >= it->second.levels.size()) return CUDA_ERROR_INVALID_VALUE;
    *arr = it->second.levels[level];
    *d = arrays_[*arr].desc;
    return CUDA_SUCCESS;
  }
  CUresult memcpy3d(const Copy3D& c, BH stream, bool) override {
    if (!stream_ok(stream)) return CUDA_ERROR_INVALID_HANDLE;
    for (uint64_t z = 0; z < c.depth; z++) {
      for (uint64_t y = 0; y < c.height; y++) {
        uint8_t* s = row(c.src, y, z, c.width);
        uint8_t* d = row(c.dst, y, z, c.width);
        if (!s || !d) return CUDA_ERROR_INVALID_VALUE;
        memmove(d, s, c.width);
      }
    }
    return CUDA_SUCCESS;
  }
  CUresult tex_create(const Resource& r, const avec_tex_desc&, const avec_view_desc*, uint64_t* obj) override {
    return make_object(r, false, obj);
  }
  CUresult tex_destroy(uint64_t obj) override { return drop_object(obj, false); }
  CUresult surf_create(const Resource& r, uint64_t* obj) override {
    if (r.desc.type != CU_RESOURCE_TYPE_ARRAY) return CUDA_ERROR_INVALID_VALUE;
    auto it = arrays_.find(r.object);
    if (it == arrays_.end() || !(it->second.desc.flags & CUDA_ARRAY3D_SURFACE_LDST)) return CUDA_ERROR_INVALID_VALUE;
    return make_object(r, true, obj);
  }
  CUresult surf_destroy(uint64_t obj) override { return drop_object(obj, true); }

  // ---- graphs and capture (graph_engine.cpp) ----
  CUresult capture_begin(BH s, uint32_t mode, BH graph, const std::vector<BH>& deps,
                         const std::vector<uint64_t>&) override {
    return stream_ok(s) ? graphs_.begin(s, mode, kLegacy, graph, deps) : CUDA_ERROR_INVALID_HANDLE;
  }
  CUresult capture_end(BH s, BH* g) override { return stream_ok(s) ? graphs_.end(s, g) : CUDA_ERROR_INVALID_HANDLE; }
  CUresult capture_info(BH s, CaptureInfo* out) override {
    return stream_ok(s) ? graphs_.info(s, out) : CUDA_ERROR_INVALID_HANDLE;
  }
  CUresult capture_update_deps(BH s, const std::vector<BH>& deps, uint32_t flags) override {
    return graphs_.update_deps(s, deps, flags);
  }
  CUresult capture_exchange_mode(uint32_t* mode) override { return graphs_.exchange_mode(mode); }
  bool capturing(BH s) override { return graphs_.capturing(s); }
  CUresult graph_create(uint32_t flags, BH* g) override { return flags ? CUDA_ERROR_INVALID_VALUE : graphs_.create(g); }
  CUresult graph_destroy(BH g) override {
    std::vector<uint64_t> mem = graphs_.alloc_addrs(g);
    CUresult r = graphs_.destroy(g);
    for (uint64_t d : mem) graph_mem_release(d);
    return r;
  }
  CUresult graph_clone(BH g, BH* out) override { return graphs_.clone(g, out); }
  // edge types only order work, and the emulated device runs everything in order
  CUresult graph_add_node(BH g, const std::vector<BH>& deps, const std::vector<uint64_t>&, const GraphNodeSpec& sp,
                          BH* node) override {
    if (sp.type == CU_GRAPH_NODE_TYPE_KERNEL && !functions_.count(sp.launch.func)) return CUDA_ERROR_INVALID_VALUE;
    if ((sp.type == CU_GRAPH_NODE_TYPE_EVENT_RECORD || sp.type == CU_GRAPH_NODE_TYPE_WAIT_EVENT) && !events_.count(sp.event))
      return CUDA_ERROR_INVALID_VALUE;
    return graphs_.add(g, deps, sp, node);  // allocation nodes get their memory through graph_mem_take
  }
  CUresult graph_node_set_params(BH node, const GraphNodeSpec& sp) override { return graphs_.set_params(node, sp); }
  CUresult graph_node_type(BH node, uint32_t* type) override { return graphs_.node_type(node, type); }
  CUresult graph_host_node_id(BH node, uint64_t* id) override { return graphs_.host_fn(node, id); }
  // ---- host functions: work here runs at submission, so a host function runs now, in stream order ----
  void set_host_function_runner(std::function<void(uint64_t)> run) override { run_host_ = std::move(run); }
  CUresult launch_host_func(BH s, uint64_t id) override {
    if (!stream_ok(s)) return CUDA_ERROR_INVALID_HANDLE;
    CUresult captured = CUDA_SUCCESS;
    GraphNodeSpec sp;
    sp.type = CU_GRAPH_NODE_TYPE_HOST;
    sp.host_fn = id;
    if (graphs_.captured(s, sp, &captured)) return captured;
    if (run_host_) run_host_(id);
    return CUDA_SUCCESS;
  }
  CUresult host_function_copy(uint64_t dptr, void* h, size_t n, bool to_device) override {
    uint8_t* d = host(dptr, n);
    if (!d) return CUDA_ERROR_INVALID_VALUE;
    if (to_device) memcpy(d, h, n);
    else memcpy(h, d, n);
    return CUDA_SUCCESS;
  }
  CUresult htod_now(uint64_t dptr, const void* src, size_t n) override {
    if (src) return host_function_copy(dptr, const_cast<void*>(src), n, true);
    uint8_t* d = host(dptr, n);
    if (!d) return CUDA_ERROR_INVALID_VALUE;
    std::memset(d, 0, n);
    return CUDA_SUCCESS;
  }
  CUresult graph_destroy_node(BH node) override { return graphs_.destroy_node(node); }
  CUresult graph_nodes(BH g, bool roots, std::vector<BH>* out) override { return graphs_.nodes(g, roots, out); }
  CUresult graph_edges(BH g, const std::vector<BH>& from, const std::vector<BH>& to, const std::vector<uint64_t>&,
                       bool remove) override {
    return graphs_.edges(g, from, to, remove);
  }
  CUresult graph_dot(BH g, uint32_t, std::string* out) override { return graphs_.dot(g, out); }
  CUresult graph_instantiate(BH g, uint64_t, BH, BH* exec) override { return graphs_.instantiate(g, exec); }
  CUresult graph_launch(BH exec, BH s) override {
    return stream_ok(s) ? graphs_.launch(exec, s) : CUDA_ERROR_INVALID_HANDLE;
  }
  CUresult graph_upload(BH exec, BH s) override {
    return stream_ok(s) ? graphs_.upload(exec) : CUDA_ERROR_INVALID_HANDLE;
  }
  CUresult graph_exec_destroy(BH exec) override {
    std::vector<uint64_t> mem = graphs_.alloc_addrs(exec);
    CUresult r = graphs_.exec_destroy(exec);
    for (uint64_t d : mem) graph_mem_release(d);
    return r;
  }

  // ---- graph memory: an allocation node's address has its bytes from the node's creation (or shares them
  // with the allocation it reuses the address of) until no graph or executable graph has a node for it and
  // no launch left it allocated. "Backed" bytes model the device's physical graph memory: an address is
  // backed from the first launch that allocates it until a trim finds it not allocated. Used and reserved
  // then read the same (an assumption: the driver's pool may hold more than is in use, and reuses physical
  // memory between graphs, which the emulated device does not) ----
  CUresult graph_mem_take(uint64_t size, uint64_t reuse, uint64_t* dptr) {
    if (reuse && gmem_.count(reuse)) {
      *dptr = reuse;
      return CUDA_SUCCESS;
    }
    CUresult r = alloc_block(size, dptr);
    if (!r) gmem_[*dptr] = GraphMem{size};
    return r;
  }
  void graph_mem_live(uint64_t dptr, bool live) {
    auto it = gmem_.find(dptr);
    if (it == gmem_.end()) return;
    it->second.live = live;
    if (live && !it->second.backed) {
      it->second.backed = true;
      graph_backed_ += it->second.size;
      graph_used_high_ = std::max(graph_used_high_, graph_backed_);
      graph_reserved_high_ = std::max(graph_reserved_high_, graph_backed_);
    }
  }
  void graph_mem_release(uint64_t dptr) {
    auto it = gmem_.find(dptr);
    if (it == gmem_.end() || it->second.live || graphs_.references(dptr)) return;
    if (it->second.backed) graph_backed_ -= it->second.size;
    gmem_.erase(it);
    free_block(dptr);
  }
  CUresult graph_mem_get_attr(int dev, uint32_t attr, uint64_t* value) override {
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (graphs_.unsafe_call()) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    switch (attr) {
      case CU_GRAPH_MEM_ATTR_USED_MEM_CURRENT: case CU_GRAPH_MEM_ATTR_RESERVED_MEM_CURRENT: *value = graph_backed_; break;
      case CU_GRAPH_MEM_ATTR_USED_MEM_HIGH: *value = graph_used_high_; break;
      case CU_GRAPH_MEM_ATTR_RESERVED_MEM_HIGH: *value = graph_reserved_high_; break;
      default: return CUDA_ERROR_INVALID_VALUE;
    }
    return CUDA_SUCCESS;
  }
  CUresult graph_mem_reset_high(int dev, uint32_t attr) override {
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (graphs_.unsafe_call()) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    if (attr == CU_GRAPH_MEM_ATTR_USED_MEM_HIGH) graph_used_high_ = graph_backed_;
    else if (attr == CU_GRAPH_MEM_ATTR_RESERVED_MEM_HIGH) graph_reserved_high_ = graph_backed_;
    else return CUDA_ERROR_INVALID_VALUE;
    return CUDA_SUCCESS;
  }
  CUresult graph_mem_trim(int dev) override {  // what no allocation is using goes back to the device
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (graphs_.unsafe_call()) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    for (auto& g : gmem_)
      if (g.second.backed && !g.second.live) {
        g.second.backed = false;
        graph_backed_ -= g.second.size;
      }
    return CUDA_SUCCESS;
  }
  CUresult graph_exec_update(BH exec, BH g, uint32_t* result, BH* node, BH* from) override {
    return graphs_.exec_update(exec, g, result, node, from);
  }
  CUresult graph_exec_set_params(BH exec, BH node, const GraphNodeSpec& sp) override {
    return graphs_.exec_set_params(exec, node, sp);
  }
  CUresult graph_exec_enable(BH exec, BH node, bool on) override { return graphs_.exec_enable(exec, node, on); }
  CUresult graph_cond_handle_create(BH g, uint32_t value, uint32_t flags, uint64_t* handle) override {
    return graphs_.cond_handle_create(g, value, flags, handle);
  }
  CUresult graph_add_conditional(BH g, const std::vector<BH>& deps, const std::vector<uint64_t>&,
                                 const avec_graph_cond& c, BH* node, std::vector<BH>* bodies) override {
    return graphs_.add_conditional(g, deps, c, node, bodies);
  }

  // JIT linking: the emulated device has no compiler or linker. Link states, their inputs and their logs
  // are kept (so the protocol around them is exercised), but cuLinkComplete is refused, with the reason
  // in the error log: nothing is ever made up in place of a linked image.
  CUresult link_create(const std::vector<avec_jit_option>&, uint32_t info_log, uint32_t error_log, BH* st) override {
    *st = next_id_++;
    links_[*st] = Link{info_log, error_log, 0, {}};
    return CUDA_SUCCESS;
  }
  CUresult link_add_data(BH st, uint32_t type, const uint8_t*, size_t len, const std::string&,
                         const std::vector<avec_jit_option>&) override {
    auto it = links_.find(st);
    if (it == links_.end()) return CUDA_ERROR_INVALID_HANDLE;
    if (type >= CU_JIT_NUM_INPUT_TYPES || len == 0) return CUDA_ERROR_INVALID_VALUE;
    it->second.inputs++;
    return CUDA_SUCCESS;
  }
  CUresult link_complete(BH st, const uint8_t**, size_t*) override {
    auto it = links_.find(st);
    if (it == links_.end()) return CUDA_ERROR_INVALID_HANDLE;
    const char* why = "avec emulated device: no JIT linker (cuLinkComplete needs the driver of a real GPU)";
    if (it->second.error_log) it->second.error = std::string(why).substr(0, it->second.error_log - 1);
    return CUDA_ERROR_NOT_SUPPORTED;
  }
  void link_output(BH st, LinkOutput* out) override {
    auto it = links_.find(st);
    if (it != links_.end()) out->error = it->second.error;
  }
  CUresult link_destroy(BH st) override { return links_.erase(st) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE; }

  // Stream attributes are a record here (the emulated device has no L2 or scheduler to apply them to);
  // values are checked against the ranges cuda.h documents. Unset ones read as StreamAttrs below.
  CUresult stream_set_attr(BH s, uint32_t attr, const uint8_t value[64]) override {
    if (!stream_ok(s)) return CUDA_ERROR_INVALID_HANDLE;
    // enum fields are read as integers: the bytes come from the wire and may hold any value
    auto u32_at = [value](size_t off) {
      uint32_t x;
      memcpy(&x, value + off, sizeof x);
      return x;
    };
    StreamAttrs& a = stream_attrs_[s];
    switch (attr) {
      case CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW: {
        static_assert(offsetof(CUaccessPolicyWindow, hitProp) == 20 && offsetof(CUaccessPolicyWindow, missProp) == 24,
                      "CUaccessPolicyWindow layout");
        float hit;
        memcpy(&hit, value + offsetof(CUaccessPolicyWindow, hitRatio), sizeof hit);
        uint32_t hit_prop = u32_at(20), miss_prop = u32_at(24);
        if (!(hit >= 0.0f && hit <= 1.0f) || hit_prop > CU_ACCESS_PROPERTY_PERSISTING ||
            (miss_prop != CU_ACCESS_PROPERTY_NORMAL && miss_prop != CU_ACCESS_PROPERTY_STREAMING))
          return CUDA_ERROR_INVALID_VALUE;
        memcpy(&a.window, value, sizeof a.window);
        return CUDA_SUCCESS;
      }
      case CU_LAUNCH_ATTRIBUTE_SYNCHRONIZATION_POLICY: {
        uint32_t p = u32_at(0);
        if (p < CU_SYNC_POLICY_AUTO || p > CU_SYNC_POLICY_BLOCKING_SYNC) return CUDA_ERROR_INVALID_VALUE;
        a.sync = (CUsynchronizationPolicy)p;
        return CUDA_SUCCESS;
      }
      case CU_LAUNCH_ATTRIBUTE_PRIORITY:
        a.priority = std::min(0, std::max(-5, (int)u32_at(0)));
        return CUDA_SUCCESS;
      case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP:
        memcpy(&a.domain_map, value, sizeof a.domain_map);
        return CUDA_SUCCESS;
      case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN: {
        uint32_t d = u32_at(0);
        if (d != CU_LAUNCH_MEM_SYNC_DOMAIN_DEFAULT && d != CU_LAUNCH_MEM_SYNC_DOMAIN_REMOTE) return CUDA_ERROR_INVALID_VALUE;
        a.domain = (CUlaunchMemSyncDomain)d;
        return CUDA_SUCCESS;
      }
      default:
        return CUDA_ERROR_INVALID_VALUE;
    }
  }
  CUresult stream_get_attr(BH s, uint32_t attr, uint8_t value[64]) override {
    if (!stream_ok(s)) return CUDA_ERROR_INVALID_HANDLE;
    const StreamAttrs& a = stream_attrs_[s];
    CUstreamAttrValue v;
    ::memset(&v, 0, sizeof v);
    switch (attr) {
      case CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW: v.accessPolicyWindow = a.window; break;
      case CU_LAUNCH_ATTRIBUTE_SYNCHRONIZATION_POLICY: v.syncPolicy = a.sync; break;
      case CU_LAUNCH_ATTRIBUTE_PRIORITY: v.priority = a.priority; break;
      case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP: v.memSyncDomainMap = a.domain_map; break;
      case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN: v.memSyncDomain = a.domain; break;
      default: return CUDA_ERROR_INVALID_VALUE;
    }
    memcpy(value, &v, sizeof v);
    return CUDA_SUCCESS;
  }
  CUresult stream_copy_attrs(BH dst, BH src) override {
    if (!stream_ok(dst) || !stream_ok(src)) return CUDA_ERROR_INVALID_HANDLE;
    stream_attrs_[dst] = stream_attrs_[src];
    return CUDA_SUCCESS;
  }
  CUresult ctx_reset_persisting_l2() override { return current_ ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT; }

  CUresult export_call(uint32_t, uint32_t, uint64_t, uint64_t*, uint32_t*, uint8_t*) override {
    return CUDA_ERROR_NOT_SUPPORTED;
  }
  // ---- POSIX-fd shareable handles: the memfd behind a physical allocation or a shareable pool ----
  static int dup_fd(int fd) { return fcntl(fd, F_DUPFD_CLOEXEC, 0); }
  CUresult vmm_export_fd(BH handle, int* fd) override {
    auto it = physical_.find(handle);
    if (it == physical_.end()) return CUDA_ERROR_INVALID_VALUE;
    return (*fd = dup_fd(it->second.fd)) < 0 ? CUDA_ERROR_OPERATING_SYSTEM : CUDA_SUCCESS;
  }
  CUresult vmm_import_fd(int fd, uint64_t size, BH* handle) override {
    struct stat st;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size < size || size == 0 || size % kGranularity)
      return CUDA_ERROR_INVALID_VALUE;
    int own = dup_fd(fd);
    if (own < 0) return CUDA_ERROR_OPERATING_SYSTEM;
    *handle = next_id_++;
    physical_[*handle] = Physical{own, size, true};
    return CUDA_SUCCESS;
  }
  CUresult pool_export_fd(BH pool, int* fd) override {
    if (!pool_ok(pool)) return CUDA_ERROR_INVALID_VALUE;
    Pool& p = pools_[pool];
    if (p.fd < 0 || p.imported) return CUDA_ERROR_INVALID_VALUE;  // made without the handle type
    if ((*fd = dup_fd(p.fd)) < 0) return CUDA_ERROR_OPERATING_SYSTEM;
    p.shared = true;
    return CUDA_SUCCESS;
  }
  CUresult pool_import_fd(int fd, BH* pool) override {
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return CUDA_ERROR_INVALID_VALUE;
    int own = dup_fd(fd);
    if (own < 0) return CUDA_ERROR_OPERATING_SYSTEM;
    *pool = next_id_++;
    pools_[*pool].fd = own;
    pools_[*pool].imported = true;
    return CUDA_SUCCESS;
  }
  CUresult pool_export_pointer(uint64_t dptr, uint8_t data[64]) override {
    auto it = blocks_.find(dptr);
    if (it == blocks_.end() || !it->second.pool || it->second.imported) return CUDA_ERROR_INVALID_VALUE;
    const Pool& p = pools_[it->second.pool];
    struct stat st;  // "from an already shared memory pool" (cuda.h), as the real driver answers (GPU run 26)
    if (p.fd < 0 || !p.shared || fstat(p.fd, &st) != 0) return CUDA_ERROR_INVALID_VALUE;
    PoolPtrData d = {{'E', 'P', 'P', '1'}, 0, (uint64_t)st.st_dev, (uint64_t)st.st_ino, it->second.file_offset,
                     it->second.size};
    ::memset(data, 0, 64);
    memcpy(data, &d, sizeof d);
    return CUDA_SUCCESS;
  }
  CUresult pool_import_pointer(BH pool, const uint8_t data[64], uint64_t* dptr, uint64_t* size) override {
    if (!pool_ok(pool) || !pools_[pool].imported) return CUDA_ERROR_INVALID_VALUE;
    int fd = pools_[pool].fd;
    PoolPtrData d;
    memcpy(&d, data, sizeof d);
    struct stat st;
    uint64_t end;
    if (memcmp(d.magic, "EPP1", 4) || fstat(fd, &st) != 0 || d.dev != (uint64_t)st.st_dev ||
        d.ino != (uint64_t)st.st_ino || d.size == 0 || d.offset % 4096 ||
        __builtin_add_overflow(d.offset, d.size, &end) || end > (uint64_t)st.st_size)
      return CUDA_ERROR_INVALID_VALUE;  // data of another pool (the samples try each pool in turn)
    void* h = mmap(nullptr, page_up(d.size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)d.offset);
    if (h == MAP_FAILED) return CUDA_ERROR_INVALID_VALUE;
    *dptr = take_address(d.size, d.size >= kGranularity ? kGranularity : 512);
    Block b{d.size, static_cast<uint8_t*>(h)};
    b.mapped = true;
    b.imported = true;
    blocks_[*dptr] = b;
    *size = d.size;
    return CUDA_SUCCESS;
  }
  CUresult ipc_open_event(const std::vector<uint8_t>& blob, BH* e) override {
    if (std::string(blob.begin(), blob.end()) != "emulated-event") return CUDA_ERROR_INVALID_VALUE;
    return event_create(CU_EVENT_INTERPROCESS | CU_EVENT_DISABLE_TIMING, e);
  }

 private:
  static constexpr BH kLegacy = 0xffff0000ull, kPerThread = 0xffff0001ull, kDefaultPool = 0xffff0100ull;
  bool stream_ok(BH s) const { return s == kLegacy || s == kPerThread || streams_.count(s); }
  // Host memory behind [dptr, dptr+len), or nullptr if the range is not inside one block or one reserved
  // range (whose mapped pieces lie back to back in host memory too; the session admits only mapped ones).
  uint8_t* host(uint64_t dptr, uint64_t len) {
    auto it = blocks_.upper_bound(dptr);
    if (it != blocks_.begin()) {
      --it;
      uint64_t off = dptr - it->first;
      if (off <= it->second.size && len <= it->second.size - off) return it->second.host + off;
    }
    uint64_t off = 0;
    Reservation* r = reservation_at(dptr, &off);
    if (!r || off > r->size || len > r->size - off) return nullptr;
    return r->host + off;
  }
  CUresult make_array(const avec_array_desc& d, uint32_t level, BH mipmap, BH* out) {
    avec_array_desc one = d;
    one.levels = 0;
    if (!array_desc_valid(one)) return array_elem_bytes(d.format, d.channels) || !d.width ? CUDA_ERROR_INVALID_VALUE
                                                                                       : CUDA_ERROR_NOT_SUPPORTED;
    Array a;
    if (!array_shape(d, level, &a.shape)) return CUDA_ERROR_INVALID_VALUE;
    if (a.shape.bytes > opts_.emulated_memory - used_) return CUDA_ERROR_OUT_OF_MEMORY;
    bool layered = (d.flags & (CUDA_ARRAY3D_LAYERED | CUDA_ARRAY3D_CUBEMAP)) != 0;
    a.desc = one;
    a.desc.width = std::max<uint64_t>(d.width >> level, 1);
    if (d.height) a.desc.height = std::max<uint64_t>(d.height >> level, 1);
    if (d.depth) a.desc.depth = layered ? d.depth : std::max<uint64_t>(d.depth >> level, 1);
    a.mipmap = mipmap;
    try {
      a.data.assign(a.shape.bytes, 0);
    } catch (const std::bad_alloc&) {
      return CUDA_ERROR_OUT_OF_MEMORY;
    }
    used_ += a.shape.bytes;
    *out = next_id_++;
    arrays_[*out] = std::move(a);
    return CUDA_SUCCESS;
  }
  void drop_array(BH a) {
    auto it = arrays_.find(a);
    if (it == arrays_.end()) return;
    used_ -= it->second.shape.bytes;
    arrays_.erase(it);
  }
  // Host bytes of row (y, z) of a copy side, `len` bytes long, or nullptr when it lies outside.
  uint8_t* row(const CopySide& s, uint64_t y, uint64_t z, uint64_t len) {
    uint64_t ry = s.y + y, rz = s.z + z;
    switch (s.kind) {
      case CopySide::Kind::host:
        return static_cast<uint8_t*>(s.host) + (rz * s.height + ry) * s.pitch + s.x;
      case CopySide::Kind::device:
        return host(s.dptr + (rz * s.height + ry) * s.pitch + s.x, len);
      case CopySide::Kind::array: {
        auto it = arrays_.find(s.array);
        if (it == arrays_.end()) return nullptr;
        const ArrayShape& sh = it->second.shape;
        if (ry >= sh.rows || rz >= sh.slices || s.x > sh.row_bytes || len > sh.row_bytes - s.x) return nullptr;
        return it->second.data.data() + (rz * sh.rows + ry) * sh.row_bytes + s.x;
      }
    }
    return nullptr;
  }
  CUresult make_object(const Resource& r, bool surface, uint64_t* obj) {
    if ((r.desc.type == CU_RESOURCE_TYPE_ARRAY && !arrays_.count(r.object)) ||
        (r.desc.type == CU_RESOURCE_TYPE_MIPMAPPED_ARRAY && !mipmaps_.count(r.object)))
      return CUDA_ERROR_INVALID_HANDLE;
    *obj = next_object_++;
    objects_[*obj] = TexObject{r, surface};
    return CUDA_SUCCESS;
  }
  CUresult drop_object(uint64_t obj, bool surface) {
    auto it = objects_.find(obj);
    if (it == objects_.end() || it->second.surface != surface) return CUDA_ERROR_INVALID_VALUE;
    objects_.erase(it);
    return CUDA_SUCCESS;
  }
  static void release_block(Block& b) {
    if (b.mapped) munmap(b.host, b.size);
    else free(b.host);
    if (b.fd >= 0) close(b.fd);
  }
  // Device addresses for a new object of `size` bytes (aligned; a gap keeps neighbours apart).
  uint64_t take_address(uint64_t size, uint64_t align) {
    next_addr_ = (next_addr_ + align - 1) & ~(align - 1);
    uint64_t a = next_addr_;
    next_addr_ += size + kGap;
    return a;
  }
  bool pool_ok(BH p) const {
    auto it = pools_.find(p);
    return it != pools_.end() && !it->second.destroyed;
  }

  BackendOptions opts_;
  GraphEngine graphs_;
  struct GraphMem {
    uint64_t size = 0;
    bool live = false;    // a launch allocated it and nothing freed it since
    bool backed = false;  // counted in graph_backed_
  };
  std::map<uint64_t, GraphMem> gmem_;  // addresses of graph allocation nodes
  uint64_t graph_backed_ = 0, graph_used_high_ = 0, graph_reserved_high_ = 0;
  std::function<void(uint64_t)> run_host_;
  std::map<uint64_t, Block> blocks_;
  std::map<BH, Pool> pools_;
  std::map<BH, Physical> physical_;
  std::map<uint64_t, Reservation> reservations_;
  BH current_pool_ = kDefaultPool;
  uint64_t next_addr_ = kBase;
  uint64_t used_ = 0;
  BH next_id_ = 16;
  BH current_ = 0;
  std::set<BH> streams_, functions_;
  std::map<BH, Event> events_;
  std::map<BH, Module> modules_;
  std::map<uint32_t, uint64_t> limits_;
  std::map<BH, Array> arrays_;
  std::map<BH, Mipmap> mipmaps_;
  std::map<uint64_t, TexObject> objects_;
  uint64_t next_object_ = 1;  // texture and surface object values (the driver's are small integers too)
  std::vector<uint8_t> staging_;
  bool logged_launch_ = false;
  struct Link {
    uint32_t info_log, error_log;  // log buffer sizes the client asked for
    uint32_t inputs;
    std::string error;
  };
  std::map<BH, Link> links_;
  // What an unset attribute reads as. The documentation states no defaults; these are assumptions (no
  // window, CU_SYNC_POLICY_AUTO, domain 0 and the map {0, 1} it describes as the default behaviour), not
  // values measured on a driver; through the CUDA backend the driver answers itself (docs/semantics.md).
  struct StreamAttrs {
    CUaccessPolicyWindow window{};
    CUsynchronizationPolicy sync = CU_SYNC_POLICY_AUTO;
    int priority = 0;
    CUlaunchMemSyncDomainMap domain_map{0, 1};
    CUlaunchMemSyncDomain domain = CU_LAUNCH_MEM_SYNC_DOMAIN_DEFAULT;
  };
  std::map<BH, StreamAttrs> stream_attrs_;
};

}  // namespace

std::unique_ptr<Backend> make_emulated_backend(const BackendOptions& opts) {
  return std::unique_ptr<Backend>(new EmulatedBackend(opts));
}

}  // namespace avec
