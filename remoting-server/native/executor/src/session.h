// One client session: reads frames in order, validates every handle and pointer range against the
// session's own tables, runs them on a Backend and answers the synchronous ones.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "alloc_table.h"
#include "backend.h"
#include "callbacks.h"
#include "conn.h"
#include "device_output.h"
#include "errors.h"
#include "frame.h"
#include "fd_share.h"
#include "ipc_registry.h"
#include "module_store.h"
#include "refusal.h"
#include "stripes.h"

namespace avec {

// Logs a refusal a client can trigger over and over once per process (one session per process).
void log_unsupported_once(bool* done, const char* what, const char* why);

struct SessionOptions {
  uint64_t session_id = 0;
  uint64_t memory_limit = 0;  // 0: the whole device
  // Checks the HELLO ticket; empty: no check. Returns false (with the refusal sent to the client) to
  // refuse; on success it may set `scope` (the ticket's claim), which then replaces ipc_scope.
  std::function<bool(const std::string& ticket, std::string* scope, Refusal* refusal)> verify_ticket;
  // Set (status != 0) when the session must be refused whatever its HELLO says (the session process found
  // that the ticket's grants cannot be honoured): the HELLO is answered with this refusal.
  Refusal refuse_hello;
  // Deadlines against stalled peers (0: none): the HELLO must arrive within hello_timeout_ms; once a frame
  // has started arriving, or a reply is being sent, the peer must make progress every stall_timeout_ms
  // (idle time between frames is not limited: a program may compute on its CPU for hours).
  int hello_timeout_ms = 0;
  int stall_timeout_ms = 0;
  // Host memory bounds: entries per handle table (contexts, streams, events, modules, functions, pools,
  // VMM handles and ranges, allocations) and bytes of module images loaded at once. Past them a creation
  // fails with CUDA_ERROR_OUT_OF_MEMORY (logged once per table).
  size_t max_objects = 65536;
  uint64_t max_module_bytes = 2ull << 30;
  // IPC: the registry shared by the node's sessions (nullptr: IPC refused) and this session's scope (the
  // claim, or the client's address when there are no tickets); only sessions of one scope share memory.
  IpcRegistry* ipc = nullptr;
  std::string ipc_scope;
  size_t read_buffer = 1 << 20;
  // Stripes: the channel on which the listener passes this session's stripe connections (-1: none, and
  // none are offered) and the most a client may open. Compression: offered when zstd loads here.
  int stripe_channel = -1;
  uint32_t max_stripes = 4;
  bool compression = true;
  // The session owns its process's stdout (a session process, not a test or fuzzer running sessions in its
  // own process): it may capture it for a client that asks (AVEC_HELLO_DEVICE_OUTPUT, device printf).
  bool device_output = false;
  // Called once when the session starts freeing (the executor arms a watchdog: a hung kernel must not
  // keep a dead session's process alive; exiting lets the driver destroy the context instead).
  std::function<void()> before_teardown;
};

// Fills p with n bytes from the kernel's CSPRNG; false if it cannot.
bool getrandom_all(void* p, size_t n);

enum class SessionEnd { goodbye, eof, io_error, bad_frame, refused, hello_timeout, stalled, callback_lost };
const char* session_end_name(SessionEnd e);

class Session {
 public:
  Session(Conn& conn, Backend& backend, ModuleStore& store, const SessionOptions& opts);
  ~Session();
  // Serves the connection until GOODBYE, end of stream or a bad frame, then frees everything.
  SessionEnd run();

  struct Stats {
    uint64_t frames = 0, bytes_in = 0, bytes_out = 0, freed_allocs = 0;
    uint64_t objects_refused = 0;  // creations refused by max_objects / max_module_bytes
    uint64_t device_output = 0;    // bytes of the process's stdout sent to the client (DEVICE_OUTPUT)
  };
  const Stats& stats() const { return stats_; }
  // Per opcode, what the client sent and what it cost, for the supervising server's metrics (the server's
  // side of AVEC_STATS): "NAME:frames:round_trips:bytes_in:bytes_out,..." over the opcodes seen.
  std::string op_summary() const;
  const AllocTable& allocations() const { return allocs_; }

 private:
  struct CtxEntry { BH be; int dev; bool primary; };
  struct StreamEntry { BH be; uint32_t ctx; };
  struct EventEntry { BH be; uint32_t ctx; };
  struct ModuleEntry {
    BH be = 0;
    ModuleKind kind = ModuleKind::module;
    Hash hash{};
    uint64_t size = 0;
    bool pending = false;
    uint32_t ctx = 0;
  };
  struct FuncEntry {
    BH be;
    uint32_t module;
    bool is_kernel;
    bool params_known;
    std::vector<ParamInfo> params;
    uint32_t param_extent;  // max(offset + size)
  };
  // Image bytes of live (loaded or pending) modules: an upper bound (unloads do not lower it), recounted
  // exactly when a load would cross max_module_bytes.
  uint64_t module_bytes_ = 0;

  // I/O
  bool fill(size_t want);
  bool read_exact(void* p, size_t n);
  // A reply frame to `req`, after what the process printed since the last one (DEVICE_OUTPUT frames).
  bool send_frame(const avec_frame_hdr& req, uint32_t flags, const void* a, size_t an, const void* b = nullptr,
                  size_t bn = 0);
  // One frame as it is: `req`'s opcode, request id and context, AVEC_F_REPLY | flags.
  bool write_frame(const avec_frame_hdr& req, uint32_t flags, const void* a, size_t an, const void* b = nullptr,
                   size_t bn = 0);
  bool send_device_output(const avec_frame_hdr& req);
  void end_device_output();  // at the session's end: stdout back, what was never sent counted
  bool reply(const avec_frame_hdr& req, const void* body, size_t n, const void* extra = nullptr, size_t en = 0) {
    return send_frame(req, 0, body, n, extra, en);
  }
  bool reply_status(const avec_frame_hdr& req, uint32_t status);
  bool refuse(const avec_frame_hdr& req, const Refusal& r);
  // True (after logging once per table) when a table already holds max_objects entries.
  bool table_full(const char* table, size_t entries);
  void bad_frame(const avec_frame_hdr* req, const char* why);

  // dispatch
  bool dispatch(const FrameView& v);  // false: end the session
  bool hello(const FrameView& v);
  bool sync_op(const FrameView& v);
  bool primary_reset(const FrameView& v);
  void async_op(const FrameView& v);
  void htod(const avec_frame_hdr& h, const avec_memcpy_htod& m, const uint8_t* data, size_t len, bool staged);
  void mirror_write_now(const avec_frame_hdr& h, const avec_mirror_write& m, const uint8_t* data);
  uint32_t dtoh(const avec_frame_hdr& h, const avec_memcpy_dtoh& m, bool* sent_last);
  uint32_t dtoh_2d(const avec_frame_hdr& h, const avec_memcpy2d& m, bool* sent_last);
  // bulk paths negotiated in HELLO (session_bulk.cpp)
  bool stripe_attach(const FrameView& v);
  bool callback_attach(const FrameView& v);
  void run_host_function(uint64_t id);  // the backend reached host function `id` (any thread)
  bool htod_striped(const FrameView& v);  // false: the stripes failed, end the session
  bool dtoh_striped(const FrameView& v);
  void htod_compressed(const FrameView& v);
  void module_image(const FrameView& v);
  void module_load(const avec_frame_hdr& h, const avec_module_load& m);
  uint32_t load_pending(uint32_t handle, ModuleEntry& e, const Image& img);
  bool reply_need_image(const avec_frame_hdr& h, const ModuleEntry& me, uint32_t handle);
  // MODULE_KERNEL_NAMES: replies itself and returns true, or returns false with the status in *r.
  bool module_kernel_names(const avec_frame_hdr& h, uint32_t handle, uint32_t* r);
  uint32_t launch(const FrameView& v);

  // tables
  uint32_t use_ctx(uint32_t handle);
  // The frame's context; for pool and VMM requests, which the driver serves without one, the primary
  // context of device 0 when the client had none current (it may call them before any context exists).
  uint32_t device_level_ctx(const avec_frame_hdr& h) const;
  uint32_t stream(uint32_t handle, BH* out);
  uint32_t event(uint32_t handle, BH* out);
  bool range_ok(uint64_t ptr, uint64_t len) const { return allocs_.contains(ptr, len); }
  void drop_ctx_objects(uint32_t ctx);
  void drop_module(uint32_t handle, ModuleEntry& e);
  void release_alloc(const Alloc& a);  // backend side of an allocation leaving the table
  void unpublish_export(uint64_t base);  // its IPC handle (if any) can no longer be opened
  void teardown();

  // pools, virtual memory and IPC (session_memext.cpp)
  // shareable: made with CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR; imported: another session's (its memory
  // is charged there, as opened IPC memory is)
  struct PoolEntry { BH be; int dev; bool is_default; bool shareable = false; bool imported = false; };
  struct VmmEntry { BH be; uint64_t size; uint32_t refs; uint32_t maps; bool shareable = false; bool imported = false; };
  struct Mapping { uint64_t size; uint32_t handle; };
  bool memext_sync(const FrameView& v, uint32_t* r);  // false: not one of its opcodes
  uint32_t memext_async(const FrameView& v);
  bool reply_u64(const avec_frame_hdr& h, uint64_t value);
  uint32_t pool_entry(uint32_t handle, PoolEntry** out);
  // *graph: the id of the graph whose allocation node the memory became (a capturing stream), else 0
  uint32_t alloc_from_pool(const avec_frame_hdr& h, const avec_mem_alloc& m, uint64_t* dptr, uint64_t* graph);
  void refresh_pool_reserved();
  // A graph allocation's address: a range device work may name from now on (see note_graph_alloc)
  void note_graph_alloc(uint64_t base, uint64_t size, uint64_t graph, uint32_t ctx);
  void drop_stale_graph_allocs(uint64_t base, uint64_t size);
  int captures_ = 0;  // captures begun and not ended: potentially unsafe driver calls must wait
  void vmm_unref(uint32_t handle, bool mapping);
  uint32_t vmm_unmap(uint64_t addr, uint64_t size);
  uint32_t ipc_get(const FrameView& v, avec_ipc_handle_reply* out);
  uint32_t ipc_open(const FrameView& v, avec_ipc_open_reply* out);
  uint32_t ipc_resolve(const uint8_t handle[AVEC_IPC_HANDLE_BYTES], IpcKind want, const char* event, IpcToken* token,
                       IpcEntry* e);
  void memext_teardown();
  // POSIX-fd shareable handles of VMM allocations and pools (session_share.cpp)
  bool share_sync(const FrameView& v, uint32_t* r);  // as memext_sync: true when it replied, else *r answers
  uint32_t share_export(const avec_share_export& c, avec_ipc_handle_reply* out);
  uint32_t share_import(const avec_share_import& c, avec_share_import_reply* out);
  uint32_t pool_import_pointer(const avec_frame_hdr& h, const avec_pool_import_ptr& c, avec_ipc_open_reply* out);
  uint32_t share_available(const char* what);
  bool share_offered() const;  // HELLO: AVEC_FEATURE_SHAREABLE_FD
  uint32_t shareable_types(uint32_t asked);  // what of the asked handle types a new pool or allocation gets
  void share_withdraw(std::map<uint32_t, IpcToken>* exports, uint32_t handle);
  void share_teardown();

  // CUDA arrays, mipmapped arrays, texture and surface objects (session_arrays.cpp). A level array
  // (mipmap != 0) belongs to its mipmapped array, which carries the charge for all its levels.
  struct ArrayEntry { BH be; avec_array_desc desc; uint64_t charged; uint32_t mipmap; uint32_t ctx; };
  struct MipmapEntry { BH be; avec_array_desc desc; uint64_t charged; uint32_t ctx; };
  bool arrays_sync(const FrameView& v, uint32_t* r);  // true: replied (r unused)
  uint32_t arrays_async(const FrameView& v);
  uint32_t array_create(const avec_frame_hdr& h, const avec_array_create& c);
  uint32_t array_side(uint32_t handle, uint64_t x, uint64_t y, uint64_t z, const avec_array_copy& m, CopySide* out);
  uint32_t linear_side(uint64_t base, uint64_t pitch, uint64_t height, uint64_t x, uint64_t y, uint64_t z,
                       const avec_array_copy& m, CopySide* out);
  uint32_t array_copy(const avec_frame_hdr& h, const avec_array_copy& m, const uint8_t* in, uint8_t* out);
  uint32_t resource(const avec_resource_desc& d, bool surface, Resource* out);
  void drop_ctx_arrays(uint32_t ctx);  // every array object of a context (current) the driver will destroy
  void arrays_forget();                // teardown: whatever is left leaves the tables and the account
  // stream capture and graphs (session_graph.cpp): ids the client sees -> backend objects
  struct GraphNodeEntry { BH be; uint64_t graph; };
  bool graph_sync(const FrameView& v, uint32_t* r);  // false: not one of its opcodes, or failed (r set)
  uint32_t graph_async(const FrameView& v);
  uint32_t graph_node_spec(uint32_t type, const uint8_t* body, uint32_t len, GraphNodeSpec* out);
  uint32_t graph_of(uint64_t id, BH* out) const;
  uint32_t node_of(uint64_t id, BH* out) const;
  uint32_t exec_of(uint64_t id, BH* out) const;
  uint64_t node_id(BH be, uint64_t graph);  // the id of a node the backend names (made on first sight)
  uint64_t graph_id(BH be);                 // the id of a graph the backend made
  void forget_graph(uint64_t id);
  void graph_teardown();
  uint32_t capture_refused(const char* what);  // host memory cannot be captured remotely (logged once)
  uint32_t launch_args(const avec_launch& l, const uint8_t* tail, LaunchArgs* a, avec_launch_attr* attrs);
  std::map<uint64_t, BH> graphs_, execs_;
  std::map<uint64_t, GraphNodeEntry> nodes_;
  std::map<BH, uint64_t> node_ids_;
  std::map<BH, uint64_t> graph_ids_;  // backend graph -> its id (graphs_ read backwards)
  uint64_t next_graph_id_ = 0x1000;
  // Body graphs of conditional nodes (graph id -> the graph and node that own it): the driver owns them,
  // so they are never destroyed on their own, and they go with their node or graph.
  struct BodyOwner { uint64_t graph, node; };
  std::map<uint64_t, BodyOwner> bodies_;
  std::map<uint64_t, uint64_t> cond_handles_;  // conditional handle value -> graph id it was made for
  bool graph_add_conditional(const avec_frame_hdr& h, const avec_graph_req& g, const std::vector<BH>& deps,
                             const std::vector<uint64_t>& edges, const GraphNodeSpec& sp, uint32_t* r);

  // JIT linking and stream attributes (session_jit.cpp)
  struct LinkEntry {
    BH be = 0;
    uint32_t ctx = 0;
    bool wants_wall_time = false, wants_threads = false;
    std::vector<uint8_t> input;  // the input being received (LINK_ADD_DATA parts)
    uint32_t in_type = 0;
    uint64_t in_got = 0;
    std::string in_name;
    std::vector<avec_jit_option> in_opts;
    const uint8_t* image = nullptr;  // after LINK_COMPLETE: the backend's, valid until link_destroy
    size_t image_size = 0;
  };
  bool jit_sync(const FrameView& v, uint32_t* r);  // true: replied
  uint32_t jit_async(const FrameView& v);
  bool link_reply(const avec_frame_hdr& h, uint32_t status, const LinkEntry& e, uint64_t image_size);
  uint32_t link_add(const FrameView& v, LinkEntry** done);
  void drop_link(std::map<uint32_t, LinkEntry>::iterator it);
  void drop_ctx_links(uint32_t ctx);
  std::map<uint32_t, LinkEntry> links_;
  uint64_t link_input_bytes_ = 0;  // input bytes held for links being received (bounded by max_module_bytes)

  Conn& conn_;
  Backend& be_;
  ModuleStore& store_;
  SessionOptions opts_;
  std::vector<uint8_t> buf_;
  size_t start_ = 0, end_ = 0;
  bool hello_done_ = false;
  bool info_only_ = false;
  bool conn_failed_ = false;
  bool after_staged_ = false;  // the last frame was a staged H2D chunk (see fill())
  uint32_t stripes_granted_ = 0;
  bool zstd_ = false;            // compression negotiated
  uint8_t stripe_token_[AVEC_STRIPE_TOKEN_BYTES] = {};
  StripeSet stripes_;
  bool callbacks_offered_ = false;  // AVEC_FEATURE_CALLBACKS granted in HELLO
  CallbackChannel callbacks_;
  std::atomic<bool> callback_lost_{false};
  DeviceOutput device_output_;  // started in HELLO (AVEC_FEATURE_DEVICE_OUTPUT)
  std::string device_text_;     // output being sent
  uint64_t h2d_seq_ = 0, d2h_seq_ = 0;  // striped chunks so far, per direction (the pieces carry them)
  std::vector<uint8_t> bulk_buf_;       // a chunk that has no staging buffer, or compressed bytes
  int device_count_ = 0;
  std::vector<avec_device_info> devices_;
  uint64_t limit_ = 0;
  AllocTable allocs_{0};
  ErrorState errs_;
  std::map<uint32_t, CtxEntry> ctxs_;
  std::map<uint32_t, StreamEntry> streams_;
  std::map<uint32_t, EventEntry> events_;
  std::map<uint32_t, ModuleEntry> modules_;
  std::map<uint32_t, FuncEntry> funcs_;
  std::map<uint32_t, PoolEntry> pools_;
  std::map<int, uint32_t> cur_pool_;           // device -> pool handle its cuMemAllocAsync uses
  std::map<uint32_t, VmmEntry> vmm_;            // physical allocations
  std::map<uint64_t, uint64_t> reservations_;   // reserved address ranges: base -> size
  std::map<uint64_t, Mapping> mappings_;        // mapped pieces: base -> (size, allocation)
  std::map<uint64_t, IpcToken> ipc_exports_;    // exported allocation base -> token
  std::vector<IpcToken> ipc_event_exports_;
  std::unique_ptr<FdShare> fd_share_;           // serves this session's exported fds (made on first export)
  std::map<uint32_t, IpcToken> vmm_shares_, pool_shares_;  // exported allocation / pool handle -> token
  std::string ipc_scope_;
  std::map<uint32_t, ArrayEntry> arrays_;
  std::map<uint32_t, MipmapEntry> mipmaps_;
  std::map<uint64_t, uint32_t> texobjs_, surfobjs_;  // object value -> context handle
  std::vector<uint64_t> export_objects_;        // what export-table object slots handed out (EXPORT_CALL)
  uint32_t cur_ctx_ = 0;  // client handle whose backend context is current
  BH cur_be_ctx_ = 0;
  bool have_cur_ = false;
  std::vector<void*> param_ptrs_;
  Stats stats_;
  struct OpStats { uint64_t frames = 0, round_trips = 0, bytes_in = 0, bytes_out = 0; };
  static constexpr size_t kOpSlots = 256;  // > the highest opcode
  std::array<OpStats, kOpSlots> op_stats_{};
  long last_stats_ = 0;
  bool torn_down_ = false;
  SessionEnd timeout_end_ = SessionEnd::eof;
  long hello_deadline_ms_ = 0;  // monotonic; 0: none  // set when a read deadline ended the session
  uint32_t tables_logged_ = 0;  // tables whose limit was logged (one bit each)
};

}  // namespace avec
