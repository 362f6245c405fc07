// Synchronous requests: answered in order, deferred/sticky errors first (docs/protocol.md).
#include <algorithm>
#include <cstring>

#include "log.h"
#include "session.h"
#include "sha256.h"

namespace avec {

namespace {
// Sends D2H data as reply frames: AVEC_F_MORE on all but the last.
class ReplySink final : public ChunkSink {
 public:
  ReplySink(std::function<bool(const void*, size_t, bool)> f) : f_(std::move(f)) {}
  bool send(const void* data, size_t len, bool last) override {
    sent_last_ = sent_last_ || last;
    return f_(data, len, last);
  }
  bool sent_last_ = false;

 private:
  std::function<bool(const void*, size_t, bool)> f_;
};
}  // namespace

uint32_t Session::dtoh(const avec_frame_hdr& h, const avec_memcpy_dtoh& m, bool* sent_last) {
  BH s = 0;
  uint32_t r = stream((h.flags & AVEC_F_ASYNC) ? m.stream : AVEC_STREAM_LEGACY, &s);
  if (r) return r;
  if (m.size == 0) return CUDA_SUCCESS;
  if (!range_ok(m.src, m.size)) return CUDA_ERROR_INVALID_VALUE;
  if (be_.capturing(s)) return capture_refused("device-to-host copy");
  bool compress = (h.flags & AVEC_F_COMPRESS) && zstd_;
  std::vector<uint8_t> zout, scratch;
  ReplySink sink([&](const void* d, size_t n, bool last) {
    struct { avec_reply_hdr rh; avec_zchunk z; } head = {{CUDA_SUCCESS, 0}, {(uint32_t)n, 0}};
    if (compress) {  // per chunk: compressed when its sample shrinks, else as it is
      if (zout.empty()) { zout.resize(avec_codec_bound(AVEC_CHUNK)); scratch.resize(AVEC_CHUNK); }
      size_t z = avec_codec_compress(static_cast<const uint8_t*>(d), n, zout.data(), scratch.data(), &head.z.codec);
      if (z) return send_frame(h, (last ? 0 : AVEC_F_MORE) | AVEC_F_COMPRESSED, &head, sizeof head, zout.data(), z);
    }
    return send_frame(h, last ? 0 : AVEC_F_MORE, &head.rh, sizeof head.rh, d, n);
  });
  r = be_.memcpy_dtoh(m.src, m.size, s, (h.flags & AVEC_F_ASYNC) != 0, sink);
  *sent_last = sink.sent_last_ && r == CUDA_SUCCESS;
  return r;
}

uint32_t Session::dtoh_2d(const avec_frame_hdr& h, const avec_memcpy2d& m, bool* sent_last) {
  BH s = 0;
  uint32_t r = stream((h.flags & AVEC_F_ASYNC) ? m.stream : AVEC_STREAM_LEGACY, &s);
  if (r) return r;
  if (m.width == 0 || m.height == 0) return CUDA_SUCCESS;
  if (!allocs_.contains_2d(m.dst, m.dst_pitch, m.width, m.height)) return CUDA_ERROR_INVALID_VALUE;
  uint64_t rows_per = m.width >= AVEC_CHUNK ? 1 : AVEC_CHUNK / m.width;
  std::vector<uint8_t> tmp(std::min<uint64_t>(rows_per, m.height) * m.width);
  for (uint64_t row = 0; row < m.height; row += rows_per) {
    uint64_t rows = std::min<uint64_t>(rows_per, m.height - row);
    r = be_.memcpy2d_dtoh(tmp.data(), m.dst + row * m.dst_pitch, m.dst_pitch, m.width, rows, s,
                          (h.flags & AVEC_F_ASYNC) != 0);
    if (r) return r;
    uint64_t bytes = rows * m.width;
    for (uint64_t off = 0; off < bytes; off += AVEC_CHUNK) {
      uint64_t n = std::min<uint64_t>(AVEC_CHUNK, bytes - off);
      bool last = row + rows == m.height && off + n == bytes;
      avec_reply_hdr rh = {CUDA_SUCCESS, 0};
      if (!send_frame(h, last ? 0 : AVEC_F_MORE, &rh, sizeof rh, tmp.data() + off, n)) return CUDA_ERROR_UNKNOWN;
      *sent_last = last;
    }
  }
  return CUDA_SUCCESS;
}

// cuDevicePrimaryCtxReset: everything made in the primary context goes, and the context itself is
// gone (its retains with it), so the next frame for it retains a fresh one. Clears a sticky error that
// poisoned this context.
bool Session::primary_reset(const FrameView& v) {
  uint32_t dev = v.fixed<avec_u32>().value;
  if (dev >= (uint32_t)device_count_) return reply_status(v.hdr, CUDA_ERROR_INVALID_DEVICE);
  uint32_t handle = dev + 1;
  auto it = ctxs_.find(handle);
  if (it != ctxs_.end() && be_.ctx_set_current(it->second.be) == CUDA_SUCCESS) {
    have_cur_ = true;
    cur_be_ctx_ = it->second.be;
    be_.ctx_synchronize();
    drop_ctx_objects(handle);
  }
  uint32_t r = be_.primary_ctx_reset((int)dev);
  have_cur_ = false;
  if (r == CUDA_SUCCESS) {
    ctxs_.erase(handle);  // no release: the reset dropped our retain
    if (errs_.sticky() && errs_.sticky_ctx() == handle) {
      AVEC_LOG(info, "sticky_error_cleared").unum("ctx", handle).str("by", "primary context reset");
      errs_.clear();
    }
  }
  return reply_status(v.hdr, r);
}

bool Session::sync_op(const FrameView& v) {
  const avec_frame_hdr& h = v.hdr;
  uint16_t op = h.opcode;
  // Resetting the primary context is the documented recovery from a sticky error: it always runs.
  if (op == AVEC_OP_PRIMARY_CTX_RESET) return primary_reset(v);
  // Deferred (or sticky) errors are answered first; the request itself is then not run.
  uint32_t pending = errs_.take_pending();
  if (pending) return reply_status(h, pending);

  if (op == AVEC_OP_MEM_GET_INFO && (info_only_ || h.ctx == 0)) {
    avec_mem_info mi = {{CUDA_SUCCESS, 0}, limit_ - allocs_.used(), limit_};
    return reply(h, &mi, sizeof mi);
  }
  if (op == AVEC_OP_PRIMARY_CTX_SET_FLAGS) {
    avec_u32x2 p = v.fixed<avec_u32x2>();
    if (p.a >= (uint32_t)device_count_) return reply_status(h, CUDA_ERROR_INVALID_DEVICE);
    uint32_t r = be_.primary_ctx_set_flags((int)p.a, p.b);
    errs_.record_sync(r);
    return reply_status(h, r);
  }
  uint32_t r = use_ctx(device_level_ctx(h));
  if (r) return reply_status(h, r);

  switch (op) {
    case AVEC_OP_CTX_SYNCHRONIZE: r = be_.ctx_synchronize(); break;
    case AVEC_OP_CTX_SET_LIMIT: {
      avec_limit l = v.fixed<avec_limit>();
      r = be_.ctx_set_limit(l.limit, l.value);
      break;
    }
    case AVEC_OP_CTX_GET_LIMIT: {
      avec_limit l = v.fixed<avec_limit>();
      uint64_t val = 0;
      r = be_.ctx_get_limit(l.limit, &val);
      if (r == CUDA_SUCCESS) return reply_u64(h, val);
      break;
    }
    case AVEC_OP_MEM_ALLOC:
    case AVEC_OP_MEM_ALLOC_ASYNC: {
      avec_mem_alloc m = v.fixed<avec_mem_alloc>();
      avec_mem_alloc_reply rep = {};
      bool pitched = op == AVEC_OP_MEM_ALLOC && m.height != 0;
      uint64_t need = m.size;
      if (pitched) {
        uint64_t row = (m.size + 511) & ~511ull;
        if (row < m.size || __builtin_mul_overflow(row, m.height, &need)) { r = CUDA_ERROR_INVALID_VALUE; break; }
      }
      if (m.size == 0) { r = CUDA_ERROR_INVALID_VALUE; break; }
      if (table_full("allocations", allocs_.count())) { r = CUDA_ERROR_OUT_OF_MEMORY; break; }
      if (op == AVEC_OP_MEM_ALLOC && !allocs_.fits(need)) {
        AVEC_LOG(info, "memory_limit").unum("requested", need).unum("used", allocs_.used()).unum("limit", limit_);
        r = CUDA_ERROR_OUT_OF_MEMORY;
        break;
      }
      Alloc a;
      a.ctx = h.ctx;
      if (op == AVEC_OP_MEM_ALLOC_ASYNC) {  // the pool's reservation is what counts (alloc_from_pool)
        uint64_t graph = 0;
        r = alloc_from_pool(h, m, &rep.dptr, &graph);
        if (r != CUDA_SUCCESS) break;
        if (graph) {  // captured: the graph's allocation node (no synchronous free may follow here)
          note_graph_alloc(rep.dptr, m.size, graph, h.ctx);
          rep.pitch = graph;
          rep.r.status = CUDA_SUCCESS;
          return reply(h, &rep, sizeof rep);
        }
        drop_stale_graph_allocs(rep.dptr, m.size);
        a.kind = AllocKind::async;
        a.base = rep.dptr;
        a.size = m.size;
        if (!allocs_.insert(a)) {
          be_.mem_free(rep.dptr);
          r = CUDA_ERROR_INVALID_VALUE;
          break;
        }
        rep.r.status = CUDA_SUCCESS;
        return reply(h, &rep, sizeof rep);
      } else if (pitched) {
        r = be_.mem_alloc_pitch(m.size, m.height, m.elem_size, &rep.dptr, &rep.pitch);
        a.kind = AllocKind::pitched;
        if (r == CUDA_SUCCESS && __builtin_mul_overflow(rep.pitch, m.height, &a.size)) a.size = 0;
      } else {
        r = be_.mem_alloc(m.size, &rep.dptr);
        a.kind = AllocKind::device;
        a.size = m.size;
      }
      if (r != CUDA_SUCCESS) break;
      a.base = rep.dptr;
      a.accounted = a.size;
      drop_stale_graph_allocs(a.base, a.size);
      if (!allocs_.fits(a.accounted) || !allocs_.insert(a)) {  // pitch padding crossed the limit, or a bad address
        be_.mem_free(rep.dptr);
        r = allocs_.fits(a.accounted) ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_OUT_OF_MEMORY;
        break;
      }
      rep.r.status = CUDA_SUCCESS;
      return reply(h, &rep, sizeof rep);
    }
    case AVEC_OP_MEM_GET_INFO: {
      refresh_pool_reserved();
      uint64_t f = 0, t = 0;
      r = be_.mem_get_info(&f, &t);
      if (r) break;
      uint64_t total = std::min(t, limit_);
      avec_mem_info mi = {{0, 0}, std::min(f, limit_ - allocs_.used()), total};
      return reply(h, &mi, sizeof mi);
    }
    case AVEC_OP_MEMCPY_DTOH: {
      bool sent_last = false;
      r = dtoh(h, v.fixed<avec_memcpy_dtoh>(), &sent_last);
      if (conn_failed_) return false;  // the client went away mid-reply: not a device error
      errs_.record_sync(r);
      if (sent_last) return !conn_failed_;
      return reply_status(h, r);
    }
    case AVEC_OP_MEMCPY2D_DTOH: {
      bool sent_last = false;
      r = dtoh_2d(h, v.fixed<avec_memcpy2d>(), &sent_last);
      if (conn_failed_) return false;  // the client went away mid-reply: not a device error
      errs_.record_sync(r);
      if (sent_last) return !conn_failed_;
      return reply_status(h, r);
    }
    case AVEC_OP_STREAM_SYNCHRONIZE:
    case AVEC_OP_STREAM_QUERY: {
      BH s = 0;
      r = stream(v.fixed<avec_handle>().handle, &s);
      if (!r) r = op == AVEC_OP_STREAM_QUERY ? be_.stream_query(s) : be_.stream_synchronize(s);
      break;
    }
    case AVEC_OP_EVENT_SYNCHRONIZE:
    case AVEC_OP_EVENT_QUERY: {
      BH e = 0;
      r = event(v.fixed<avec_handle>().handle, &e);
      if (!r) r = op == AVEC_OP_EVENT_QUERY ? be_.event_query(e) : be_.event_synchronize(e);
      break;
    }
    case AVEC_OP_EVENT_ELAPSED: {
      avec_u32x2 p = v.fixed<avec_u32x2>();
      BH a = 0, b = 0;
      r = event(p.a, &a);
      if (!r) r = event(p.b, &b);
      float ms = 0;
      if (!r) r = be_.event_elapsed(a, b, &ms);
      if (!r) {
        avec_reply_hdr rh = {0, 0};
        avec_f32 out = {ms, 0};
        return reply(h, &rh, sizeof rh, &out, sizeof out);
      }
      break;
    }
    case AVEC_OP_GET_FUNCTION:
    case AVEC_OP_GET_GLOBAL: {
      avec_get_symbol gs = v.fixed<avec_get_symbol>();
      std::string name(reinterpret_cast<const char*>(v.tail), v.tail_len);
      auto mit = modules_.find(gs.module);
      if (mit == modules_.end()) { r = CUDA_ERROR_INVALID_HANDLE; break; }
      ModuleEntry& me = mit->second;
      if (me.pending) return reply_need_image(h, me, gs.module);  // the image is not here yet: ask for it
      if (op == AVEC_OP_GET_GLOBAL) {
        avec_global_info gi = {};
        bool managed = false;
        r = be_.get_global(me.kind, me.be, name, &gi.dptr, &gi.size, &managed);
        if (r) break;
        if (managed) gi.r.reserved = AVEC_GLOBAL_F_MANAGED;
        if (gi.size && !allocs_.find_exact(gi.dptr)) {
          Alloc a;
          a.base = gi.dptr;
          a.size = gi.size;
          a.kind = AllocKind::global;
          a.ctx = me.ctx;
          a.owner = gs.module;
          allocs_.insert(a);  // a clash would mean the driver reused an address we still track
        }
        return reply(h, &gi, sizeof gi);
      }
      if (gs.handle == 0 || funcs_.count(gs.handle)) { r = CUDA_ERROR_INVALID_VALUE; break; }
      if (table_full("functions", funcs_.size())) { r = CUDA_ERROR_OUT_OF_MEMORY; break; }
      BH fn = 0;
      FunctionInfo fi;
      r = be_.get_function(me.kind, me.be, gs.kind, name, &fn, &fi);
      if (r) break;
      FuncEntry fe{fn, gs.module, me.kind == ModuleKind::library && gs.kind == AVEC_SYMBOL_KERNEL, fi.params_known,
                   fi.params, 0};
      if (fe.params.size() > AVEC_MAX_PARAMS) fe.params.resize(AVEC_MAX_PARAMS);
      for (auto& p : fe.params) fe.param_extent = std::max(fe.param_extent, p.offset + p.size);
      funcs_[gs.handle] = fe;
      avec_function_info info = {};
      memcpy(info.attrs, fi.attrs, sizeof info.attrs);
      info.num_params = fe.params_known ? (uint32_t)fe.params.size() : AVEC_PARAMS_UNKNOWN;
      std::vector<avec_param_info> pt;
      for (auto& p : fe.params) pt.push_back({p.offset, p.size});
      return reply(h, &info, sizeof info, pt.data(), fe.params_known ? pt.size() * sizeof(avec_param_info) : 0);
    }
    case AVEC_OP_MODULE_KERNEL_NAMES:
      if (module_kernel_names(h, v.fixed<avec_handle>().handle, &r)) return !conn_failed_;
      break;
    case AVEC_OP_OCCUPANCY: {
      avec_occupancy o = v.fixed<avec_occupancy>();
      auto it = funcs_.find(o.func);
      if (it == funcs_.end()) { r = CUDA_ERROR_INVALID_HANDLE; break; }
      uint64_t out = 0;
      r = be_.occupancy(it->second.be, o.kind, o.block_size, o.flags, o.dynamic_smem, &out);
      if (!r) return reply_u64(h, out);
      break;
    }
    default:
      if (op >= AVEC_OP_ARRAY_CREATE && op <= AVEC_OP_SURF_DESTROY) {
        if (arrays_sync(v, &r)) return !conn_failed_;
      } else if (frame_is_jit_op(op)) {
        if (jit_sync(v, &r)) return !conn_failed_;
      } else if (memext_sync(v, &r)) {
        return !conn_failed_;
      }
  }
  errs_.record_sync(r);
  return reply_status(h, r);
}

}  // namespace avec
