// Stream-ordered memory pools, virtual memory management and IPC between sessions: the session's tables,
// the checks that keep every range inside this session's reservations, and the memory limit. What the
// pools hold from the device (used or cached) counts against the limit, and so does every physical VMM
// allocation, from creation until its last reference and mapping are gone.
#include <algorithm>
#include <cstring>

#include "log.h"
#include "session.h"

namespace avec {

// What a client can trigger over and over is logged once per session (one session per process).
void log_unsupported_once(bool* done, const char* what, const char* why) {
  if (*done) return;
  *done = true;
  AVEC_LOG(warn, "unsupported").str("what", what).str("reason", why);
}

namespace {
bool g_logged_ipc = false;
}  // namespace

uint32_t Session::device_level_ctx(const avec_frame_hdr& h) const {
  bool device_level = (h.opcode >= AVEC_OP_POOL_CREATE && h.opcode <= AVEC_OP_DEVICE_SET_MEM_POOL) ||
                      (h.opcode >= AVEC_OP_VMM_GRANULARITY && h.opcode <= AVEC_OP_VMM_GET_ACCESS) ||
                      (h.opcode >= AVEC_OP_SHARE_EXPORT && h.opcode <= AVEC_OP_POOL_IMPORT_POINTER) ||
                      (h.opcode >= AVEC_OP_GRAPH_MEM_GET_ATTR && h.opcode <= AVEC_OP_GRAPH_MEM_TRIM);
  return h.ctx == 0 && device_level ? 1 : h.ctx;
}

bool Session::reply_u64(const avec_frame_hdr& h, uint64_t value) {
  avec_reply_hdr rh = {CUDA_SUCCESS, 0};
  avec_u64 out = {value};
  return reply(h, &rh, sizeof rh, &out, sizeof out);
}

// ---- pools -------------------------------------------------------------------------------------------

uint32_t Session::pool_entry(uint32_t handle, PoolEntry** out) {
  auto it = pools_.find(handle);
  if (it == pools_.end()) {
    if (handle == 0 || handle > (uint32_t)device_count_) return CUDA_ERROR_INVALID_VALUE;
    BH p = 0;  // a device's default pool, met for the first time
    uint32_t r = be_.pool_default((int)handle - 1, &p);
    if (r) return r;
    it = pools_.emplace(handle, PoolEntry{p, (int)handle - 1, true}).first;
  }
  *out = &it->second;
  return CUDA_SUCCESS;
}

// What the pools and the graphs (allocation nodes, as launches back them) hold from the device. Reading it is
// a potentially unsafe call during a stream capture (it would invalidate a global or thread-local one), so
// while a capture is under way the last value stands.
void Session::refresh_pool_reserved() {
  if (captures_) return;
  uint64_t total = 0;
  for (auto& p : pools_) {
    uint64_t v = 0;
    if (p.second.imported) continue;  // the exporting session's memory, counted there
    if (be_.pool_get_attr(p.second.be, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT, &v) == CUDA_SUCCESS) total += v;
  }
  uint64_t g = 0;
  if (be_.graph_mem_get_attr(0, CU_GRAPH_MEM_ATTR_RESERVED_MEM_CURRENT, &g) == CUDA_SUCCESS) total += g;
  allocs_.set_pool_reserved(total);
}

// Graph allocations are ranges of the allocation table charged nothing themselves (the graph memory the
// device backs them with is, through refresh_pool_reserved). An address stays valid for the session as long
// as the driver may hand it to the program's work: graphs and executable graphs that hold the node, and a
// launch that leaves it allocated, keep it, so the range is only dropped when the device hands out an
// overlapping address again (that one was given back), or with its context.
void Session::drop_stale_graph_allocs(uint64_t base, uint64_t size) {
  allocs_.remove_if([&](const Alloc& a) {
    return a.kind == AllocKind::graph && a.base < base + size && base < a.base + a.size;
  });
}

void Session::note_graph_alloc(uint64_t base, uint64_t size, uint64_t graph, uint32_t ctx) {
  drop_stale_graph_allocs(base, size);  // an address of this graph reused after its free node, or a dead one
  Alloc a;
  a.base = base;
  a.size = size;
  a.kind = AllocKind::graph;
  a.ctx = ctx;
  a.owner = (uint32_t)graph;
  allocs_.insert(a);
}

// cuMemAllocAsync / cuMemAllocFromPoolAsync. Before the device is asked, the request must fit beside
// everything the session holds; memory the pools merely cache is given back first when it would not.
uint32_t Session::alloc_from_pool(const avec_frame_hdr& h, const avec_mem_alloc& m, uint64_t* dptr, uint64_t* graph) {
  *graph = 0;
  if (m.size == 0) return CUDA_ERROR_INVALID_VALUE;
  BH s = 0;
  uint32_t r = stream(m.stream, &s);
  if (r) return r;
  uint32_t handle = m.elem_size;
  if (handle == 0) {  // the current pool of the context's device
    int dev = ctxs_.count(h.ctx) ? ctxs_[h.ctx].dev : 0;
    auto cp = cur_pool_.find(dev);
    handle = cp == cur_pool_.end() ? (uint32_t)dev + 1 : cp->second;
  }
  PoolEntry* p = nullptr;
  if ((r = pool_entry(handle, &p))) return r;
  if (be_.capturing(s)) {  // an allocation node of the graph being captured: its pool is asked nothing more
    CaptureInfo ci;
    if (!allocs_.fits(m.size)) return CUDA_ERROR_OUT_OF_MEMORY;
    if ((r = be_.capture_info(s, &ci))) return r;
    if ((r = be_.mem_alloc_from_pool(m.size, p->be, s, dptr))) return r;
    *graph = graph_id(ci.graph);
    return CUDA_SUCCESS;
  }
  refresh_pool_reserved();
  if (!allocs_.fits(m.size)) {
    for (auto& e : pools_) be_.pool_trim(e.second.be, 0);
    refresh_pool_reserved();
  }
  if (!allocs_.fits(m.size)) {
    AVEC_LOG(info, "memory_limit").unum("requested", m.size).unum("used", allocs_.used()).unum("limit", limit_);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  if ((r = be_.mem_alloc_from_pool(m.size, p->be, s, dptr))) return r;
  refresh_pool_reserved();
  if (allocs_.used() > limit_) {  // the pool grew by more than the request (its own granularity)
    be_.mem_free(*dptr);
    be_.pool_trim(p->be, 0);
    refresh_pool_reserved();
    AVEC_LOG(info, "memory_limit").unum("requested", m.size).unum("used", allocs_.used()).unum("limit", limit_);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  return CUDA_SUCCESS;
}

// ---- virtual memory ------------------------------------------------------------------------------------

// Drops a reference (cuMemRelease) or a mapping of a physical allocation; the memory leaves the device
// (and the session's account) when neither is left.
void Session::vmm_unref(uint32_t handle, bool mapping) {
  auto it = vmm_.find(handle);
  if (it == vmm_.end()) return;
  VmmEntry& e = it->second;
  if (mapping) e.maps--;
  else {
    e.refs--;
    if (e.refs == 0) {
      be_.vmm_release(e.be);  // the driver keeps it alive while mapped
      share_withdraw(&vmm_shares_, handle);  // no other session may import the released handle
    }
  }
  if (e.refs == 0 && e.maps == 0) {
    if (!e.imported) allocs_.uncharge(e.size);
    vmm_.erase(it);
  }
}

// cuMemUnmap: the range must be made of whole mappings of this session.
uint32_t Session::vmm_unmap(uint64_t addr, uint64_t size) {
  uint64_t end;
  if (size == 0 || __builtin_add_overflow(addr, size, &end)) return CUDA_ERROR_INVALID_VALUE;
  for (uint64_t at = addr; at < end;) {
    auto it = mappings_.find(at);
    if (it == mappings_.end() || it->second.size > end - at) return CUDA_ERROR_INVALID_VALUE;
    at += it->second.size;
  }
  uint32_t r = be_.vmm_unmap(addr, size);
  if (r) return r;
  for (uint64_t at = addr; at < end;) {
    auto it = mappings_.find(at);
    uint64_t n = it->second.size;
    uint32_t handle = it->second.handle;
    allocs_.remove(at);
    mappings_.erase(it);
    vmm_unref(handle, true);
    at += n;
  }
  return CUDA_SUCCESS;
}

// ---- IPC ---------------------------------------------------------------------------------------------

uint32_t Session::ipc_get(const FrameView& v, avec_ipc_handle_reply* out) {
  if (!opts_.ipc || ipc_scope_.empty()) {
    log_unsupported_once(&g_logged_ipc, "IPC", "this server has no IPC registry or the session no scope");
    return CUDA_ERROR_NOT_SUPPORTED;
  }
  IpcEntry e;
  e.scope = ipc_scope_;
  uint32_t r;
  if (v.hdr.opcode == AVEC_OP_IPC_GET_MEM) {
    uint64_t dptr = v.fixed<avec_u64>().value;
    const Alloc* a = allocs_.find_exact(dptr);
    if (!a || (a->kind != AllocKind::device && a->kind != AllocKind::pitched)) return CUDA_ERROR_INVALID_VALUE;
    auto known = ipc_exports_.find(dptr);  // the driver hands out the same handle for one allocation
    if (known != ipc_exports_.end()) {
      IpcRegistry::encode_handle(IpcKind::mem, known->second, a->size, out->handle);
      return CUDA_SUCCESS;
    }
    e.kind = IpcKind::mem;
    e.size = a->size;
    if ((r = be_.ipc_export_mem(dptr, &e.blob))) return r;
  } else {
    BH ev = 0;
    if ((r = event(v.fixed<avec_handle>().handle, &ev))) return r;
    e.kind = IpcKind::event;
    if ((r = be_.ipc_export_event(ev, &e.blob))) return r;
  }
  IpcToken token;
  std::string why;
  if (!opts_.ipc->publish(e, &token, &why)) {
    AVEC_LOG(error, "ipc_publish_failed").str("reason", why);
    return CUDA_ERROR_OPERATING_SYSTEM;
  }
  if (e.kind == IpcKind::mem) ipc_exports_[v.fixed<avec_u64>().value] = token;
  else ipc_event_exports_.push_back(token);
  IpcRegistry::encode_handle(e.kind, token, e.size, out->handle);
  return CUDA_SUCCESS;
}

// The registry entry a client's 64-byte handle names, when it is of kind `want` and of this session's scope;
// otherwise CUDA_ERROR_INVALID_VALUE, logged as `event` with the reason.
uint32_t Session::ipc_resolve(const uint8_t handle[AVEC_IPC_HANDLE_BYTES], IpcKind want, const char* event,
                              IpcToken* token, IpcEntry* e) {
  IpcKind kind;
  uint64_t size = 0;
  if (!IpcRegistry::decode_handle(handle, &kind, token, &size) || kind != want) return CUDA_ERROR_INVALID_VALUE;
  std::string why;
  if (!opts_.ipc->lookup(*token, e, &why) || e->kind != kind) {
    AVEC_LOG(info, event).str("reason", why.empty() ? "kind mismatch" : why);
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (e->scope != ipc_scope_) {
    AVEC_LOG(warn, event).str("reason", "the handle belongs to another claim or client").str("scope", ipc_scope_);
    return CUDA_ERROR_INVALID_VALUE;
  }
  return CUDA_SUCCESS;
}

uint32_t Session::ipc_open(const FrameView& v, avec_ipc_open_reply* out) {
  if (!opts_.ipc || ipc_scope_.empty()) {
    log_unsupported_once(&g_logged_ipc, "IPC", "this server has no IPC registry or the session no scope");
    return CUDA_ERROR_NOT_SUPPORTED;
  }
  avec_ipc_open o = v.fixed<avec_ipc_open>();
  bool want_mem = v.hdr.opcode == AVEC_OP_IPC_OPEN_MEM;
  IpcToken token;
  IpcEntry e;
  uint32_t r = ipc_resolve(o.handle, want_mem ? IpcKind::mem : IpcKind::event, "ipc_open_refused", &token, &e);
  if (r) return r;
  if (!want_mem) {
    uint32_t handle = o.flags;
    if (handle == 0 || events_.count(handle)) return CUDA_ERROR_INVALID_VALUE;
    if (table_full("events", events_.size())) return CUDA_ERROR_OUT_OF_MEMORY;
    BH ev = 0;
    if ((r = be_.ipc_open_event(e.blob, &ev))) return r;
    events_[handle] = EventEntry{ev, v.hdr.ctx};
    return CUDA_SUCCESS;
  }
  if (table_full("allocations", allocs_.count())) return CUDA_ERROR_OUT_OF_MEMORY;
  if ((r = be_.ipc_open_mem(e.blob, e.size, &out->dptr))) return r;
  Alloc a;
  a.base = out->dptr;
  a.size = e.size;
  a.kind = AllocKind::ipc;
  a.ctx = v.hdr.ctx;
  if (!allocs_.insert(a)) {  // the same memory opened twice in one session: the driver maps it once
    be_.ipc_close_mem(out->dptr);
    return CUDA_ERROR_ALREADY_MAPPED;
  }
  out->size = e.size;
  return CUDA_SUCCESS;
}

// ---- dispatch ----------------------------------------------------------------------------------------

bool Session::memext_sync(const FrameView& v, uint32_t* rp) {
  const avec_frame_hdr& h = v.hdr;
  uint32_t& r = *rp;
  switch (h.opcode) {
    case AVEC_OP_GRAPH_MEM_GET_ATTR: {
      avec_u32x2 q = v.fixed<avec_u32x2>();
      uint64_t value = 0;
      if (q.a >= (uint32_t)device_count_) { r = CUDA_ERROR_INVALID_DEVICE; return false; }
      if ((r = be_.graph_mem_get_attr((int)q.a, q.b, &value))) return false;
      return reply_u64(h, value);
    }
    case AVEC_OP_POOL_CREATE: {
      avec_pool_create c = v.fixed<avec_pool_create>();
      if (c.handle <= AVEC_MAX_DEVICES || pools_.count(c.handle)) { r = CUDA_ERROR_INVALID_VALUE; return false; }
      if (table_full("pools", pools_.size())) { r = CUDA_ERROR_OUT_OF_MEMORY; return false; }
      if (c.device >= (uint32_t)device_count_) { r = CUDA_ERROR_INVALID_DEVICE; return false; }
      uint32_t types = shareable_types(c.handle_types);
      BH p = 0;
      if ((r = be_.pool_create((int)c.device, c.max_size, types, &p))) return false;
      pools_[c.handle] = PoolEntry{p, (int)c.device, false, types != CU_MEM_HANDLE_TYPE_NONE};
      return false;  // r == CUDA_SUCCESS: the caller replies
    }
    case AVEC_OP_POOL_GET_ATTR:
    case AVEC_OP_POOL_GET_ACCESS: {
      avec_pool_attr a = v.fixed<avec_pool_attr>();
      PoolEntry* p = nullptr;
      if ((r = pool_entry(a.pool, &p))) return false;
      uint64_t val = 0;
      if (h.opcode == AVEC_OP_POOL_GET_ATTR) {
        r = be_.pool_get_attr(p->be, a.attr, &val);
      } else {
        uint32_t fl = 0;
        r = a.attr < (uint32_t)device_count_ ? be_.pool_get_access(p->be, (int)a.attr, &fl) : CUDA_ERROR_INVALID_DEVICE;
        val = fl;
      }
      return r == CUDA_SUCCESS && reply_u64(h, val);
    }
    case AVEC_OP_VMM_GRANULARITY: {
      avec_vmm_prop p = v.fixed<avec_vmm_prop>();
      if (p.device >= (uint32_t)device_count_) { r = CUDA_ERROR_INVALID_DEVICE; return false; }
      uint64_t g = 0;
      r = be_.vmm_granularity((int)p.device, p.option, &g);
      return r == CUDA_SUCCESS && reply_u64(h, g);
    }
    case AVEC_OP_VMM_CREATE: {
      avec_vmm_prop p = v.fixed<avec_vmm_prop>();
      if (p.handle == 0 || vmm_.count(p.handle) || p.size == 0) { r = CUDA_ERROR_INVALID_VALUE; return false; }
      if (p.device >= (uint32_t)device_count_) { r = CUDA_ERROR_INVALID_DEVICE; return false; }
      uint32_t types = shareable_types(p.handle_types);
      if (table_full("vmm", vmm_.size())) { r = CUDA_ERROR_OUT_OF_MEMORY; return false; }
      refresh_pool_reserved();
      if (!allocs_.fits(p.size)) {
        AVEC_LOG(info, "memory_limit").unum("requested", p.size).unum("used", allocs_.used()).unum("limit", limit_);
        r = CUDA_ERROR_OUT_OF_MEMORY;
        return false;
      }
      BH be = 0;
      if ((r = be_.vmm_create((int)p.device, p.size, p.alloc_flags, types, &be))) return false;
      vmm_[p.handle] = VmmEntry{be, p.size, 1, 0, types != CU_MEM_HANDLE_TYPE_NONE};
      allocs_.charge(p.size);
      return false;
    }
    case AVEC_OP_VMM_RESERVE: {
      avec_vmm_range q = v.fixed<avec_vmm_range>();
      uint64_t addr = 0, end;
      if (q.size == 0 || __builtin_add_overflow(q.addr, q.size, &end)) { r = CUDA_ERROR_INVALID_VALUE; return false; }
      if (table_full("reservations", reservations_.size())) { r = CUDA_ERROR_OUT_OF_MEMORY; return false; }
      if ((r = be_.vmm_reserve(q.size, q.offset, q.addr, q.flags, &addr))) return false;
      reservations_[addr] = q.size;
      return reply_u64(h, addr);
    }
    case AVEC_OP_VMM_MAP: {
      avec_vmm_range q = v.fixed<avec_vmm_range>();
      uint64_t end, piece_end;
      auto ph = vmm_.find(q.handle);
      if (ph == vmm_.end() || ph->second.refs == 0 || q.size == 0 || __builtin_add_overflow(q.addr, q.size, &end) ||
          __builtin_add_overflow(q.offset, q.size, &piece_end) || piece_end > ph->second.size) {
        r = CUDA_ERROR_INVALID_VALUE;
        return false;
      }
      auto res = reservations_.upper_bound(q.addr);  // inside one reserved range of this session
      if (res == reservations_.begin() || (--res, end - res->first > res->second)) {
        r = CUDA_ERROR_INVALID_VALUE;
        return false;
      }
      if (table_full("allocations", allocs_.count())) { r = CUDA_ERROR_OUT_OF_MEMORY; return false; }
      Alloc a;
      a.base = q.addr;
      a.size = q.size;
      a.kind = AllocKind::vmm;
      a.ctx = h.ctx;
      if (!allocs_.insert(a)) { r = CUDA_ERROR_INVALID_VALUE; return false; }  // overlaps a mapping
      if ((r = be_.vmm_map(q.addr, q.size, q.offset, ph->second.be))) {
        allocs_.remove(q.addr);
        return false;
      }
      mappings_[q.addr] = Mapping{q.size, q.handle};
      ph->second.maps++;
      return false;
    }
    case AVEC_OP_VMM_GET_ACCESS: {
      avec_vmm_range q = v.fixed<avec_vmm_range>();
      if (!allocs_.contains(q.addr, 1) || q.handle >= (uint32_t)device_count_) { r = CUDA_ERROR_INVALID_VALUE; return false; }
      uint64_t fl = 0;
      r = be_.vmm_get_access(q.addr, (int)q.handle, &fl);
      return r == CUDA_SUCCESS && reply_u64(h, fl);
    }
    case AVEC_OP_IPC_GET_MEM:
    case AVEC_OP_IPC_GET_EVENT: {
      avec_ipc_handle_reply out = {};
      r = ipc_get(v, &out);
      return r == CUDA_SUCCESS && reply(h, &out, sizeof out);
    }
    case AVEC_OP_IPC_OPEN_MEM:
    case AVEC_OP_IPC_OPEN_EVENT: {
      avec_ipc_open_reply out = {};
      r = ipc_open(v, &out);
      return r == CUDA_SUCCESS && reply(h, &out, sizeof out);
    }
    case AVEC_OP_EXPORT_CALL: {
      // Only the traced slots, and only with arguments that cannot be pointers the client made up. The
      // object slot takes a stream (traced natively: cuBLAS passes its handle's stream, NULL for GEMMs on
      // the default stream, and asks the query slot about the object it gets back): the client sends the
      // stream's wire handle, the driver gets this session's stream (NULL for the legacy stream, as the
      // program passed). The query slot takes only an object the object slot handed to this session.
      avec_export_call c = v.fixed<avec_export_call>();
      uint64_t arg = c.arg;
      bool known = false;
      if (c.table == AVEC_EXPORT_TABLE_CTX && c.slot == AVEC_EXPORT_SLOT_CTX_OBJECT && c.arg <= 0xffffffffull) {
        BH s = 0;
        known = c.arg == AVEC_STREAM_LEGACY || stream((uint32_t)c.arg, &s) == CUDA_SUCCESS;
        arg = c.arg == AVEC_STREAM_LEGACY ? 0 : (uint64_t)s;
      } else if (c.table == AVEC_EXPORT_TABLE_CTX && c.slot == AVEC_EXPORT_SLOT_CTX_OBJECT_QUERY) {
        known = std::find(export_objects_.begin(), export_objects_.end(), c.arg) != export_objects_.end();
      }
      if (!known) {
        AVEC_LOG(warn, "export_call_refused").unum("table", c.table).unum("slot", c.slot);
        r = CUDA_ERROR_INVALID_VALUE;
        return false;
      }
      avec_export_reply out = {};
      r = be_.export_call(c.table, c.slot, arg, &out.out, &out.out_bytes, out.object);
      if (r) return false;
      if (c.slot == AVEC_EXPORT_SLOT_CTX_OBJECT && out.out_bytes == 8 && export_objects_.size() < 1024 &&
          std::find(export_objects_.begin(), export_objects_.end(), out.out) == export_objects_.end())
        export_objects_.push_back(out.out);
      return reply(h, &out, sizeof out);
    }
    default:
      if (h.opcode >= AVEC_OP_SHARE_EXPORT && h.opcode <= AVEC_OP_POOL_IMPORT_POINTER) return share_sync(v, rp);
      return graph_sync(v, rp);
  }
}

uint32_t Session::memext_async(const FrameView& v) {
  const avec_frame_hdr& h = v.hdr;
  switch (h.opcode) {
    case AVEC_OP_GRAPH_MEM_RESET_HIGH: {
      avec_u32x2 q = v.fixed<avec_u32x2>();
      if (q.a >= (uint32_t)device_count_) return CUDA_ERROR_INVALID_DEVICE;
      if (q.b != CU_GRAPH_MEM_ATTR_USED_MEM_HIGH && q.b != CU_GRAPH_MEM_ATTR_RESERVED_MEM_HIGH) return CUDA_ERROR_INVALID_VALUE;
      return be_.graph_mem_reset_high((int)q.a, q.b);
    }
    case AVEC_OP_GRAPH_MEM_TRIM: {
      uint32_t d = v.fixed<avec_u32>().value;
      return d >= (uint32_t)device_count_ ? (uint32_t)CUDA_ERROR_INVALID_DEVICE : (uint32_t)be_.graph_mem_trim((int)d);
    }
    case AVEC_OP_POOL_DESTROY: {
      auto it = pools_.find(v.fixed<avec_handle>().handle);
      if (it == pools_.end() || it->second.is_default) return CUDA_ERROR_INVALID_VALUE;
      uint32_t r = be_.pool_destroy(it->second.be);
      if (r) return r;
      share_withdraw(&pool_shares_, it->first);
      for (auto c = cur_pool_.begin(); c != cur_pool_.end();)
        c = c->second == it->first ? cur_pool_.erase(c) : std::next(c);
      pools_.erase(it);
      return CUDA_SUCCESS;
    }
    case AVEC_OP_POOL_SET_ATTR:
    case AVEC_OP_POOL_TRIM:
    case AVEC_OP_POOL_SET_ACCESS: {
      avec_pool_attr a = v.fixed<avec_pool_attr>();
      PoolEntry* p = nullptr;
      uint32_t r = pool_entry(a.pool, &p);
      if (r) return r;
      if (h.opcode == AVEC_OP_POOL_SET_ATTR) return be_.pool_set_attr(p->be, a.attr, a.value);
      if (h.opcode == AVEC_OP_POOL_TRIM) return be_.pool_trim(p->be, a.value);
      if (a.attr >= (uint32_t)device_count_ || a.value > 0xffffffffu) return CUDA_ERROR_INVALID_VALUE;
      return be_.pool_set_access(p->be, (int)a.attr, (uint32_t)a.value);
    }
    case AVEC_OP_DEVICE_SET_MEM_POOL: {
      avec_u32x2 d = v.fixed<avec_u32x2>();
      if (d.a >= (uint32_t)device_count_) return CUDA_ERROR_INVALID_DEVICE;
      PoolEntry* p = nullptr;
      uint32_t r = pool_entry(d.b, &p);
      if (r) return r;
      if (p->dev != (int)d.a) return CUDA_ERROR_INVALID_VALUE;
      if ((r = be_.device_set_mem_pool((int)d.a, p->be))) return r;
      cur_pool_[(int)d.a] = d.b;
      return CUDA_SUCCESS;
    }
    case AVEC_OP_VMM_RELEASE:
    case AVEC_OP_VMM_RETAIN: {
      uint32_t handle = v.fixed<avec_handle>().handle;
      auto it = vmm_.find(handle);
      if (it == vmm_.end() || it->second.refs == 0) return CUDA_ERROR_INVALID_VALUE;
      if (h.opcode == AVEC_OP_VMM_RETAIN) it->second.refs++;
      else vmm_unref(handle, false);
      return CUDA_SUCCESS;
    }
    case AVEC_OP_VMM_ADDRESS_FREE: {
      avec_vmm_range q = v.fixed<avec_vmm_range>();
      auto it = reservations_.find(q.addr);
      if (it == reservations_.end() || it->second != q.size) return CUDA_ERROR_INVALID_VALUE;
      auto m = mappings_.lower_bound(q.addr);  // nothing may still be mapped in it
      if (m != mappings_.end() && m->first - q.addr < q.size) return CUDA_ERROR_INVALID_VALUE;
      uint32_t r = be_.vmm_address_free(q.addr, q.size);
      if (!r) reservations_.erase(it);
      return r;
    }
    case AVEC_OP_VMM_UNMAP: {
      avec_vmm_range q = v.fixed<avec_vmm_range>();
      return vmm_unmap(q.addr, q.size);
    }
    case AVEC_OP_VMM_SET_ACCESS: {
      avec_vmm_range q = v.fixed<avec_vmm_range>();
      if (q.size == 0 || !allocs_.contains(q.addr, q.size)) return CUDA_ERROR_INVALID_VALUE;
      if (q.handle >= (uint32_t)device_count_) return CUDA_ERROR_INVALID_DEVICE;
      return be_.vmm_set_access(q.addr, q.size, (int)q.handle, q.flags);
    }
    case AVEC_OP_IPC_CLOSE_MEM: {
      uint64_t dptr = v.fixed<avec_u64>().value;
      const Alloc* a = allocs_.find_exact(dptr);
      if (!a || a->kind != AllocKind::ipc) return CUDA_ERROR_INVALID_VALUE;
      Alloc gone;
      allocs_.remove(dptr, &gone);
      release_alloc(gone);
      return CUDA_SUCCESS;
    }
    default:
      return graph_async(v);
  }
}

// Everything of this family the session still holds, in dependency order: exports first (no one may
// open them any more), then mappings, physical allocations, reserved ranges and the pools it made.
void Session::memext_teardown() {
  if (opts_.ipc) {
    for (auto& e : ipc_exports_) opts_.ipc->unpublish(e.second);
    for (auto& t : ipc_event_exports_) opts_.ipc->unpublish(t);
  }
  ipc_exports_.clear();
  ipc_event_exports_.clear();
  share_teardown();
  for (auto& m : mappings_) {
    be_.vmm_unmap(m.first, m.second.size);
    allocs_.remove(m.first);
  }
  mappings_.clear();
  for (auto& e : vmm_) {
    if (e.second.refs) be_.vmm_release(e.second.be);
    if (!e.second.imported) allocs_.uncharge(e.second.size);
  }
  vmm_.clear();
  for (auto& r : reservations_) be_.vmm_address_free(r.first, r.second);
  reservations_.clear();
  for (auto& p : pools_)
    if (!p.second.is_default) be_.pool_destroy(p.second.be);
  pools_.clear();
  cur_pool_.clear();
  allocs_.set_pool_reserved(0);
}

}  // namespace avec
