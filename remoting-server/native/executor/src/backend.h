// The backend interface: everything that touches a device. The session (handle tables, validation,
// limits, deferred errors) is written against this class only, so the same session logic drives the
// real driver (backends/cuda) and the emulated device (backends/emulated).
#pragma once
#include <cuda.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "avec_wire.h"

namespace avec {

using BH = uint64_t;  // opaque backend object (CUcontext, CUstream, ... cast to an integer)

struct ParamInfo {
  uint32_t offset;
  uint32_t size;
};

struct FunctionInfo {
  int32_t attrs[AVEC_FUNC_ATTR_SLOTS] = {};
  bool params_known = false;  // false: the layout cannot be told (reply num_params = AVEC_PARAMS_UNKNOWN)
  std::vector<ParamInfo> params;
};

// Receives device-to-host data chunk by chunk (the session turns each into one reply frame).
class ChunkSink {
 public:
  virtual ~ChunkSink() = default;
  // `last` is set on the final chunk of a successful copy. Returns false when the connection is gone
  // (the backend then stops and returns CUDA_ERROR_UNKNOWN).
  virtual bool send(const void* data, size_t len, bool last) = 0;
};

struct LaunchArgs {
  BH func = 0;
  bool is_kernel = false;  // CUkernel (library) rather than CUfunction
  BH stream = 0;
  uint32_t grid[3] = {1, 1, 1};
  uint32_t block[3] = {1, 1, 1};
  uint32_t shared_mem = 0;
  bool cooperative = false;
  const avec_launch_attr* attrs = nullptr;  // wire attributes (unaligned input: copy before use)
  uint32_t num_attrs = 0;
  void** params = nullptr;  // kernelParams: pointers into the frame's parameter bytes (layout known)
  uint32_t num_params = 0;
  const uint8_t* param_bytes = nullptr;  // the packed block as sent (used when the layout is unknown)
  uint32_t param_len = 0;
};

enum class ModuleKind { module, library };

// One side of a 3D copy with a CUDA array on at least one side: host bytes (the session's buffer), linear
// device memory, or an array. Offsets: x in bytes, y in rows, z in slices; pitch/height for host and device.
struct CopySide {
  enum class Kind { host, device, array } kind = Kind::host;
  void* host = nullptr;
  uint64_t dptr = 0;
  BH array = 0;
  uint64_t pitch = 0, height = 0;
  uint64_t x = 0, y = 0, z = 0;
};

struct Copy3D {
  CopySide src, dst;
  uint64_t width = 0, height = 1, depth = 1;  // bytes per row, rows, slices
};

// A texture or surface object's resource, with the array handles already the backend's own.
struct Resource {
  avec_resource_desc desc{};
  BH object = 0;  // ARRAY: the array; MIPMAPPED_ARRAY: the mipmapped array
};

// One node's parameters, translated to backend objects (graphs, CUDA_GRAPH_NODE_TYPE_*).
struct GraphNodeSpec {
  uint32_t type = CU_GRAPH_NODE_TYPE_EMPTY;
  LaunchArgs launch;      // KERNEL (stream unused)
  avec_memset memset{};   // MEMSET (stream unused)
  avec_memcpy2d copy{};   // MEMCPY: device to device, width bytes x height rows
  BH child = 0;           // GRAPH
  BH event = 0;           // EVENT_RECORD, WAIT_EVENT
  uint64_t alloc_size = 0;          // MEM_ALLOC: bytes, on the backend's device
  uint64_t* alloc_dptr = nullptr;   // MEM_ALLOC: where the address goes
  uint64_t free_dptr = 0;           // MEM_FREE
  avec_graph_cond cond{};          // CONDITIONAL (graph_add_conditional only)
  uint64_t host_fn = 0;             // HOST: the client's host function id (run through the callback channel)
};

// What a link state's driver wrote so far: log text and the output options it was asked for.
struct LinkOutput {
  std::string info, error;
  float wall_time = 0;
  uint32_t threads_per_block = 0;
};

struct CaptureInfo {
  uint32_t status = CU_STREAM_CAPTURE_STATUS_NONE;
  uint64_t id = 0;
  BH graph = 0;
  std::vector<BH> deps;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  virtual bool emulated() const = 0;
  virtual CUresult init() = 0;
  virtual int device_count() = 0;
  virtual int driver_version() = 0;
  // The device this backend serves (session device 0; --device picks it among the node's devices).
  virtual CUresult device_info(int dev, avec_device_info* out) = 0;
  // Every device of the node, for --describe.
  virtual CUresult describe(std::vector<avec_device_info>* all) = 0;

  // contexts
  virtual CUresult primary_ctx_retain(int dev, BH* ctx) = 0;
  virtual CUresult primary_ctx_release(int dev) = 0;
  virtual CUresult primary_ctx_reset(int dev) = 0;
  virtual CUresult primary_ctx_set_flags(int dev, uint32_t flags) = 0;
  virtual CUresult ctx_create(int dev, uint32_t flags, BH* ctx) = 0;
  virtual CUresult ctx_destroy(BH ctx) = 0;
  virtual CUresult ctx_set_current(BH ctx) = 0;
  virtual CUresult ctx_synchronize() = 0;
  virtual CUresult ctx_set_limit(uint32_t limit, uint64_t value) = 0;
  virtual CUresult ctx_get_limit(uint32_t limit, uint64_t* value) = 0;
  virtual CUresult ctx_set_cache_config(uint32_t config) = 0;

  // memory (in the current context)
  virtual CUresult mem_alloc(uint64_t size, uint64_t* dptr) = 0;
  virtual CUresult mem_alloc_pitch(uint64_t width, uint64_t height, uint32_t elem, uint64_t* dptr, uint64_t* pitch) = 0;
  virtual CUresult mem_free(uint64_t dptr) = 0;
  virtual CUresult mem_free_async(uint64_t dptr, BH stream) = 0;
  virtual CUresult mem_get_info(uint64_t* free, uint64_t* total) = 0;
  // Host-to-device chunks: the session reads the bytes straight into `htod_staging(len)` (pinned memory
  // on the real device; nullptr when the backend has none of that size) and hands them to htod_submit.
  virtual void* htod_staging(size_t len) = 0;
  virtual CUresult htod_submit(void* staging, uint64_t dst, size_t len, BH stream, bool async) = 0;
  virtual CUresult memcpy_htod(uint64_t dst, const void* src, size_t len, BH stream, bool async) = 0;
  virtual CUresult memcpy_dtoh(uint64_t src, uint64_t len, BH stream, bool async, ChunkSink& sink) = 0;
  virtual CUresult memcpy_dtod(uint64_t dst, uint64_t src, uint64_t len, BH stream, bool async) = 0;
  virtual CUresult memset(uint64_t dst, uint64_t pitch, uint64_t width, uint64_t height, uint32_t value,
                          uint32_t elem_size, BH stream, bool async) = 0;
  virtual CUresult memcpy2d_htod(uint64_t dst, uint64_t dst_pitch, const void* src, uint64_t width, uint64_t height,
                                 BH stream, bool async) = 0;
  // Packed rows (width bytes each) go to `dst`.
  virtual CUresult memcpy2d_dtoh(void* dst, uint64_t src, uint64_t src_pitch, uint64_t width, uint64_t height,
                                 BH stream, bool async) = 0;
  virtual CUresult memcpy2d_dtod(uint64_t dst, uint64_t dst_pitch, uint64_t src, uint64_t src_pitch, uint64_t width,
                                 uint64_t height, BH stream, bool async) = 0;

  // streams and events
  virtual CUresult stream_create(uint32_t flags, int32_t priority, BH* stream) = 0;
  virtual CUresult stream_destroy(BH stream) = 0;
  virtual CUresult stream_synchronize(BH stream) = 0;
  virtual CUresult stream_query(BH stream) = 0;
  virtual CUresult stream_wait_event(BH stream, BH event, uint32_t flags) = 0;
  virtual CUresult event_create(uint32_t flags, BH* event) = 0;
  virtual CUresult event_destroy(BH event) = 0;
  virtual CUresult event_record(BH event, BH stream, uint32_t flags) = 0;
  virtual CUresult event_synchronize(BH event) = 0;
  virtual CUresult event_query(BH event) = 0;
  virtual CUresult event_elapsed(BH start, BH end, float* ms) = 0;
  // Fixed stream values: AVEC_STREAM_LEGACY / AVEC_STREAM_PER_THREAD map to these.
  virtual BH stream_legacy() = 0;
  virtual BH stream_per_thread() = 0;

  // modules (images are passed unchanged; the driver decompresses)
  virtual CUresult module_load(ModuleKind kind, const uint8_t* image, size_t len, BH* mod) = 0;
  virtual CUresult module_unload(ModuleKind kind, BH mod) = 0;
  virtual CUresult get_function(ModuleKind kind, BH mod, uint32_t symbol_kind, const std::string& name, BH* fn,
                                FunctionInfo* info) = 0;
  // `managed`: a __managed__ variable (the host may dereference its address).
  virtual CUresult get_global(ModuleKind kind, BH mod, const std::string& name, uint64_t* dptr, uint64_t* size,
                              bool* managed) = 0;
  // Names of the module's kernels (cuModuleEnumerateFunctions / cuLibraryEnumerateKernels + their names).
  virtual CUresult kernel_names(ModuleKind kind, BH mod, std::vector<std::string>* names) = 0;
  virtual CUresult func_set_attribute(BH fn, bool is_kernel, uint32_t attr, int32_t value) = 0;
  virtual CUresult func_set_cache_config(BH fn, bool is_kernel, uint32_t config) = 0;
  virtual CUresult occupancy(BH fn, uint32_t kind, uint32_t block_size, uint32_t flags, uint64_t dynamic_smem,
                             uint64_t* out) = 0;
  virtual CUresult launch(const LaunchArgs& args) = 0;

  // stream-ordered memory pools (device-located, pinned)
  virtual CUresult pool_default(int dev, BH* pool) = 0;
  // handle_types: CU_MEM_HANDLE_TYPE_NONE or CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR (the session refuses others)
  virtual CUresult pool_create(int dev, uint64_t max_size, uint32_t handle_types, BH* pool) = 0;
  virtual CUresult pool_destroy(BH pool) = 0;
  virtual CUresult pool_set_attr(BH pool, uint32_t attr, uint64_t value) = 0;
  virtual CUresult pool_get_attr(BH pool, uint32_t attr, uint64_t* value) = 0;
  virtual CUresult pool_trim(BH pool, uint64_t keep) = 0;
  virtual CUresult pool_set_access(BH pool, int dev, uint32_t flags) = 0;
  virtual CUresult pool_get_access(BH pool, int dev, uint32_t* flags) = 0;
  virtual CUresult device_set_mem_pool(int dev, BH pool) = 0;
  // On a capturing stream this makes a memory-allocation node of the graph being captured (and
  // mem_free_async a free node), as with the driver.
  virtual CUresult mem_alloc_from_pool(uint64_t size, BH pool, BH stream, uint64_t* dptr) = 0;
  // Graph memory of a device (what allocation nodes hold): CUgraphMem_attribute values, resetting a high
  // watermark, and giving back what no graph allocation uses (cuDeviceGraphMemTrim).
  virtual CUresult graph_mem_get_attr(int dev, uint32_t attr, uint64_t* value) = 0;
  virtual CUresult graph_mem_reset_high(int dev, uint32_t attr) = 0;
  virtual CUresult graph_mem_trim(int dev) = 0;

  // virtual memory management
  virtual CUresult vmm_granularity(int dev, uint32_t option, uint64_t* out) = 0;
  virtual CUresult vmm_create(int dev, uint64_t size, uint32_t alloc_flags, uint32_t handle_types, BH* handle) = 0;
  virtual CUresult vmm_release(BH handle) = 0;
  virtual CUresult vmm_reserve(uint64_t size, uint64_t align, uint64_t hint, uint64_t flags, uint64_t* addr) = 0;
  virtual CUresult vmm_address_free(uint64_t addr, uint64_t size) = 0;
  virtual CUresult vmm_map(uint64_t addr, uint64_t size, uint64_t offset, BH handle) = 0;
  virtual CUresult vmm_unmap(uint64_t addr, uint64_t size) = 0;
  virtual CUresult vmm_set_access(uint64_t addr, uint64_t size, int dev, uint32_t flags) = 0;
  virtual CUresult vmm_get_access(uint64_t addr, int dev, uint64_t* flags) = 0;

  // IPC between sessions of one node: `blob` is what another session's backend (another process) needs
  // to open the same memory or event; the session keeps it in the node's IPC registry.
  virtual CUresult ipc_export_mem(uint64_t dptr, std::vector<uint8_t>* blob) = 0;
  virtual CUresult ipc_open_mem(const std::vector<uint8_t>& blob, uint64_t size, uint64_t* dptr) = 0;
  virtual CUresult ipc_close_mem(uint64_t dptr) = 0;
  virtual CUresult ipc_export_event(BH event, std::vector<uint8_t>* blob) = 0;
  virtual CUresult ipc_open_event(const std::vector<uint8_t>& blob, BH* event) = 0;

  // POSIX-fd shareable handles of physical allocations and pools made with that handle type, for another
  // session of this node: export gives a new fd of this process (the caller owns it); import takes an fd
  // the caller keeps (and closes). Pool pointer export data is the driver's opaque 64 bytes; importing it
  // into a pool it does not belong to is an ordinary error, and `size` is the imported allocation's.
  virtual CUresult vmm_export_fd(BH handle, int* fd) = 0;
  virtual CUresult vmm_import_fd(int fd, uint64_t size, BH* handle) = 0;
  virtual CUresult pool_export_fd(BH pool, int* fd) = 0;
  virtual CUresult pool_import_fd(int fd, BH* pool) = 0;
  virtual CUresult pool_export_pointer(uint64_t dptr, uint8_t data[64]) = 0;
  virtual CUresult pool_import_pointer(BH pool, const uint8_t data[64], uint64_t* dptr, uint64_t* size) = 0;

  // CUDA arrays (in the current context), mipmapped arrays and texture/surface objects. A level array
  // belongs to its mipmapped array (it goes with it). Object values are what kernels receive.
  virtual CUresult array_create(const avec_array_desc& d, BH* arr) = 0;
  virtual CUresult array_destroy(BH arr) = 0;
  virtual CUresult mipmap_create(const avec_array_desc& d, BH* mm) = 0;
  virtual CUresult mipmap_destroy(BH mm) = 0;
  virtual CUresult mipmap_level(BH mm, uint32_t level, BH* arr, avec_array_desc* d) = 0;
  virtual CUresult memcpy3d(const Copy3D& c, BH stream, bool async) = 0;
  virtual CUresult tex_create(const Resource& r, const avec_tex_desc& t, const avec_view_desc* v, uint64_t* obj) = 0;
  virtual CUresult tex_destroy(uint64_t obj) = 0;
  virtual CUresult surf_create(const Resource& r, uint64_t* obj) = 0;
  virtual CUresult surf_destroy(uint64_t obj) = 0;

  // One slot of a private export table in the current context: slot(ctx, arg, &out). `out_bytes` says how
  // much of the 8-byte *out the driver wrote; `object` gets the first 16 bytes at *out for object slots.
  virtual CUresult export_call(uint32_t table, uint32_t slot, uint64_t arg, uint64_t* out, uint32_t* out_bytes,
                               uint8_t object[16]) = 0;

  // stream capture and graphs (session_graph.cpp keeps the ids the client sees)
  // graph != 0: capture into that graph after `deps` (cuStreamBeginCaptureToGraph)
  virtual CUresult capture_begin(BH stream, uint32_t mode, BH graph, const std::vector<BH>& deps,
                                 const std::vector<uint64_t>& edges) = 0;
  virtual CUresult capture_end(BH stream, BH* graph) = 0;
  virtual CUresult capture_info(BH stream, CaptureInfo* out) = 0;
  virtual CUresult capture_update_deps(BH stream, const std::vector<BH>& deps, uint32_t flags) = 0;
  virtual CUresult capture_exchange_mode(uint32_t* mode) = 0;
  virtual bool capturing(BH stream) = 0;  // host copies cannot be captured remotely (their memory is here)
  virtual CUresult graph_create(uint32_t flags, BH* graph) = 0;
  virtual CUresult graph_destroy(BH graph) = 0;
  virtual CUresult graph_clone(BH graph, BH* out) = 0;
  // `edges`: empty, or one CUgraphEdgeData (8 bytes) per dependency
  virtual CUresult graph_add_node(BH graph, const std::vector<BH>& deps, const std::vector<uint64_t>& edges,
                                  const GraphNodeSpec& spec, BH* node) = 0;
  virtual CUresult graph_node_set_params(BH node, const GraphNodeSpec& spec) = 0;
  virtual CUresult graph_node_type(BH node, uint32_t* type) = 0;
  virtual CUresult graph_destroy_node(BH node) = 0;
  virtual CUresult graph_nodes(BH graph, bool roots, std::vector<BH>* out) = 0;
  virtual CUresult graph_edges(BH graph, const std::vector<BH>& from, const std::vector<BH>& to,
                               const std::vector<uint64_t>& edges, bool remove) = 0;
  virtual CUresult graph_dot(BH graph, uint32_t flags, std::string* out) = 0;
  virtual CUresult graph_instantiate(BH graph, uint64_t flags, BH upload_stream, BH* exec) = 0;
  virtual CUresult graph_launch(BH exec, BH stream) = 0;
  virtual CUresult graph_upload(BH exec, BH stream) = 0;
  virtual CUresult graph_exec_destroy(BH exec) = 0;
  virtual CUresult graph_exec_update(BH exec, BH graph, uint32_t* result, BH* error_node, BH* error_from) = 0;
  virtual CUresult graph_exec_set_params(BH exec, BH node, const GraphNodeSpec& spec) = 0;
  virtual CUresult graph_exec_enable(BH exec, BH node, bool on) = 0;
  // Conditional nodes: the handle is the driver's value (kernels set the condition through it); adding a
  // node makes `cond.size` body graphs, which belong to the node (never destroyed on their own).
  virtual CUresult graph_cond_handle_create(BH graph, uint32_t default_value, uint32_t flags, uint64_t* handle) = 0;
  virtual CUresult graph_add_conditional(BH graph, const std::vector<BH>& deps, const std::vector<uint64_t>& edges,
                                         const avec_graph_cond& cond, BH* node, std::vector<BH>* bodies) = 0;

  // Host functions are the client's code (session callbacks.h). The backend calls `run(id)` when a stream,
  // or a graph launched into one, reaches host function `id`, in stream order, and lets the stream go on
  // when it returns (the real driver calls it on its own callback thread). A HOST node's spec carries the id.
  virtual void set_host_function_runner(std::function<void(uint64_t id)> run) = 0;
  virtual CUresult launch_host_func(BH stream, uint64_t id) = 0;  // captured into a graph while capturing
  virtual CUresult graph_host_node_id(BH node, uint64_t* id) = 0;
  // Device memory the client reads or writes while one of its host functions runs (called from inside
  // `run`, where the driver allows no CUDA calls: the real backend hands the copy to a helper thread).
  virtual CUresult host_function_copy(uint64_t dptr, void* host, size_t n, bool to_device) = 0;
  // Host bytes written to device memory now, in the current context, beside the work the streams are running:
  // neither waits for the other (MIRROR_WRITE_NOW: a running kernel may be polling these bytes). A null `src`
  // writes zeros (MIRROR_ZERO_NOW).
  virtual CUresult htod_now(uint64_t dptr, const void* src, size_t n) = 0;

  // JIT linking in the current context. `opts` are numeric options only (the session checked them); the
  // backend owns the log buffers (info_log/error_log bytes, 0: none) and the linked image, which stays
  // valid until link_destroy.
  virtual CUresult link_create(const std::vector<avec_jit_option>& opts, uint32_t info_log, uint32_t error_log,
                               BH* state) = 0;
  virtual CUresult link_add_data(BH state, uint32_t type, const uint8_t* data, size_t len, const std::string& name,
                                 const std::vector<avec_jit_option>& opts) = 0;
  virtual CUresult link_complete(BH state, const uint8_t** image, size_t* size) = 0;
  virtual void link_output(BH state, LinkOutput* out) = 0;
  virtual CUresult link_destroy(BH state) = 0;

  // Stream attributes (CUstreamAttrValue bytes) and the persisting-L2 reset of the current context.
  virtual CUresult stream_set_attr(BH stream, uint32_t attr, const uint8_t value[64]) = 0;
  virtual CUresult stream_get_attr(BH stream, uint32_t attr, uint8_t value[64]) = 0;
  virtual CUresult stream_copy_attrs(BH dst, BH src) = 0;
  virtual CUresult ctx_reset_persisting_l2() = 0;
};

struct BackendOptions {
  int device = 0;
  uint64_t emulated_memory = 16ull << 30;  // device memory of the emulated device
  // Tests only: the emulated device answers launches with this CUresult instead of NOT_SUPPORTED, to
  // exercise deferred and sticky error handling (it never runs anything either way).
  uint32_t emulated_launch_error = 0;
};

std::unique_ptr<Backend> make_emulated_backend(const BackendOptions& opts);
// nullptr (with `why` set) when the real driver cannot be loaded.
std::unique_ptr<Backend> make_cuda_backend(const BackendOptions& opts, std::string* why);

}  // namespace avec
