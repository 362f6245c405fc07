// Fire-and-forget requests: run in order, failures kept as the deferred error.
#include <cstring>

#include "log.h"
#include "session.h"

namespace avec {

void Session::htod(const avec_frame_hdr& h, const avec_memcpy_htod& m, const uint8_t* data, size_t len, bool staged) {
  if (errs_.sticky() || info_only_) {
    if (info_only_) errs_.record_async(CUDA_ERROR_NOT_PERMITTED);
    return;
  }
  if (len == 0) return;
  uint32_t r = use_ctx(h.ctx);
  BH s = 0;
  if (!r) r = stream((h.flags & AVEC_F_ASYNC) ? m.stream : AVEC_STREAM_LEGACY, &s);
  if (!r && !range_ok(m.dst, len)) r = CUDA_ERROR_INVALID_VALUE;
  if (!r && be_.capturing(s)) r = capture_refused("host-to-device copy");
  if (!r) {
    bool async = (h.flags & AVEC_F_ASYNC) != 0;
    r = staged ? be_.htod_submit(const_cast<uint8_t*>(data), m.dst, len, s, async)
               : be_.memcpy_htod(m.dst, data, len, s, async);
  }
  errs_.record_async(r);
}

// MIRROR_WRITE_NOW: checked like any write into the session's memory, then applied now, beside whatever the
// streams are running (a kernel may be polling these bytes), not in stream order. MIRROR_ZERO_NOW (no data)
// writes zeros the same way.
void Session::mirror_write_now(const avec_frame_hdr& h, const avec_mirror_write& m, const uint8_t* data) {
  uint32_t r = use_ctx(h.ctx);
  if (!r && (m.size == 0 || !range_ok(m.dptr, m.size))) r = CUDA_ERROR_INVALID_VALUE;
  if (!r) r = be_.htod_now(m.dptr, data, m.size);
  errs_.record_async(r);
}

void Session::async_op(const FrameView& v) {
  const avec_frame_hdr& h = v.hdr;
  uint16_t op = h.opcode;
  // A poisoned session runs nothing more, except destroying contexts (the recovery from a sticky error).
  if (errs_.sticky() && op != AVEC_OP_CTX_DESTROY) return;
  uint32_t r = CUDA_SUCCESS;
  switch (op) {
    case AVEC_OP_MEMCPY_HTOD:
      htod(h, v.fixed<avec_memcpy_htod>(), v.tail, v.tail_len, false);
      return;
    case AVEC_OP_MEMCPY_HTOD_Z:
      htod_compressed(v);
      return;
    case AVEC_OP_MIRROR_WRITE_NOW:
      mirror_write_now(h, v.fixed<avec_mirror_write>(), v.tail);
      return;
    case AVEC_OP_MIRROR_ZERO_NOW:
      mirror_write_now(h, v.fixed<avec_mirror_write>(), nullptr);
      return;
    case AVEC_OP_MODULE_IMAGE:
      module_image(v);
      return;
    case AVEC_OP_MODULE_LOAD:
      module_load(h, v.fixed<avec_module_load>());
      return;
    case AVEC_OP_CTX_CREATE: {
      avec_ctx_create c = v.fixed<avec_ctx_create>();
      if (c.handle <= AVEC_MAX_DEVICES || ctxs_.count(c.handle)) { r = CUDA_ERROR_INVALID_VALUE; break; }
      if (c.device >= (uint32_t)device_count_) { r = CUDA_ERROR_INVALID_DEVICE; break; }
      if (table_full("contexts", ctxs_.size())) { r = CUDA_ERROR_OUT_OF_MEMORY; break; }
      BH ctx = 0;
      r = be_.ctx_create((int)c.device, c.flags, &ctx);
      if (r) break;
      ctxs_[c.handle] = CtxEntry{ctx, (int)c.device, false};
      cur_be_ctx_ = ctx;  // creation makes it current
      have_cur_ = true;
      cur_ctx_ = c.handle;
      break;
    }
    case AVEC_OP_CTX_DESTROY: {
      uint32_t hd = v.fixed<avec_handle>().handle;
      auto it = ctxs_.find(hd);
      if (it == ctxs_.end() || it->second.primary) { r = CUDA_ERROR_INVALID_CONTEXT; break; }
      if (be_.ctx_set_current(it->second.be) == CUDA_SUCCESS) {
        have_cur_ = true;
        cur_be_ctx_ = it->second.be;
        drop_ctx_objects(hd);
      }
      r = be_.ctx_destroy(it->second.be);
      ctxs_.erase(it);
      have_cur_ = false;
      if (r == CUDA_SUCCESS && errs_.sticky() && errs_.sticky_ctx() == hd) {
        AVEC_LOG(info, "sticky_error_cleared").unum("ctx", hd).str("by", "context destroy");
        errs_.clear();
      }
      break;
    }
    default:
      break;
  }
  if (op == AVEC_OP_CTX_CREATE || op == AVEC_OP_CTX_DESTROY) {
    errs_.record_async(r);
    return;
  }
  r = use_ctx(device_level_ctx(h));
  if (r) { errs_.record_async(r); return; }
  bool async = (h.flags & AVEC_F_ASYNC) != 0;
  switch (op) {
    case AVEC_OP_CTX_SET_CACHE_CONFIG: r = be_.ctx_set_cache_config(v.fixed<avec_u32>().value); break;
    case AVEC_OP_MEM_FREE: {
      avec_mem_free m = v.fixed<avec_mem_free>();
      const Alloc* a = allocs_.find_exact(m.dptr);
      // module variables, mapped VMM pieces and opened IPC memory have their own ways out
      if (!a || a->kind == AllocKind::global || a->kind == AllocKind::vmm || a->kind == AllocKind::ipc) {
        r = CUDA_ERROR_INVALID_VALUE;
        break;
      }
      BH s = 0;
      if (async && (r = stream(m.stream, &s))) break;
      if (a->kind == AllocKind::graph) {  // a free node on a capturing stream, or a graph allocation a launch left
        r = async ? be_.mem_free_async(m.dptr, s) : be_.mem_free(m.dptr);  // allocated; its address stays the graph's
        break;
      }
      r = async ? be_.mem_free_async(m.dptr, s) : be_.mem_free(m.dptr);
      if (!r) {
        allocs_.remove(m.dptr);
        unpublish_export(m.dptr);
      }
      break;
    }
    case AVEC_OP_MEMCPY_DTOD: {
      avec_memcpy_dtod m = v.fixed<avec_memcpy_dtod>();
      BH s = 0;
      if ((r = stream(async ? m.stream : AVEC_STREAM_LEGACY, &s))) break;
      if (m.size == 0) break;
      if (!range_ok(m.dst, m.size) || !range_ok(m.src, m.size)) { r = CUDA_ERROR_INVALID_VALUE; break; }
      r = be_.memcpy_dtod(m.dst, m.src, m.size, s, async);
      break;
    }
    case AVEC_OP_MEMSET: {
      avec_memset m = v.fixed<avec_memset>();
      BH s = 0;
      if ((r = stream(async ? m.stream : AVEC_STREAM_LEGACY, &s))) break;
      if (m.elem_size != 1 && m.elem_size != 2 && m.elem_size != 4) { r = CUDA_ERROR_INVALID_VALUE; break; }
      uint64_t row;
      if (__builtin_mul_overflow(m.width, (uint64_t)m.elem_size, &row)) { r = CUDA_ERROR_INVALID_VALUE; break; }
      if (row == 0 || m.height == 0) break;
      bool ok = m.height == 1 ? range_ok(m.dst, row) : allocs_.contains_2d(m.dst, m.pitch, row, m.height);
      if (!ok) { r = CUDA_ERROR_INVALID_VALUE; break; }
      r = be_.memset(m.dst, m.height == 1 ? 0 : m.pitch, m.width, m.height, m.value, m.elem_size, s, async);
      break;
    }
    case AVEC_OP_MEMCPY2D_HTOD:
    case AVEC_OP_MEMCPY2D_DTOD: {
      avec_memcpy2d m = v.fixed<avec_memcpy2d>();
      BH s = 0;
      if ((r = stream(async ? m.stream : AVEC_STREAM_LEGACY, &s))) break;
      if (m.width == 0 || m.height == 0) break;
      if (!allocs_.contains_2d(m.dst, m.dst_pitch, m.width, m.height)) { r = CUDA_ERROR_INVALID_VALUE; break; }
      if (op == AVEC_OP_MEMCPY2D_HTOD) {
        r = be_.memcpy2d_htod(m.dst, m.dst_pitch, v.tail, m.width, m.height, s, async);
      } else {
        if (!allocs_.contains_2d(m.src, m.src_pitch, m.width, m.height)) { r = CUDA_ERROR_INVALID_VALUE; break; }
        r = be_.memcpy2d_dtod(m.dst, m.dst_pitch, m.src, m.src_pitch, m.width, m.height, s, async);
      }
      break;
    }
    case AVEC_OP_STREAM_CREATE: {
      avec_stream_create c = v.fixed<avec_stream_create>();
      if (c.handle < 16 || streams_.count(c.handle)) { r = CUDA_ERROR_INVALID_VALUE; break; }
      if (table_full("streams", streams_.size())) { r = CUDA_ERROR_OUT_OF_MEMORY; break; }
      BH s = 0;
      r = be_.stream_create(c.flags, c.priority, &s);
      if (!r) streams_[c.handle] = StreamEntry{s, h.ctx};
      break;
    }
    case AVEC_OP_STREAM_DESTROY: {
      auto it = streams_.find(v.fixed<avec_handle>().handle);
      if (it == streams_.end()) { r = CUDA_ERROR_INVALID_HANDLE; break; }
      r = be_.stream_destroy(it->second.be);
      streams_.erase(it);
      break;
    }
    case AVEC_OP_STREAM_FENCE: {  // the client answered a synchronize itself: nothing later runs before the stream
      BH s = 0;
      if (!(r = stream(v.fixed<avec_handle>().handle, &s))) r = be_.stream_synchronize(s);
      break;
    }
    case AVEC_OP_STREAM_WAIT_EVENT: {
      avec_stream_wait w = v.fixed<avec_stream_wait>();
      BH s = 0, e = 0;
      if ((r = stream(w.stream, &s)) || (r = event(w.event, &e))) break;
      r = be_.stream_wait_event(s, e, w.flags);
      break;
    }
    case AVEC_OP_EVENT_CREATE: {
      avec_event_create c = v.fixed<avec_event_create>();
      if (c.handle == 0 || events_.count(c.handle)) { r = CUDA_ERROR_INVALID_VALUE; break; }
      if (table_full("events", events_.size())) { r = CUDA_ERROR_OUT_OF_MEMORY; break; }
      BH e = 0;
      r = be_.event_create(c.flags, &e);
      if (!r) events_[c.handle] = EventEntry{e, h.ctx};
      break;
    }
    case AVEC_OP_EVENT_DESTROY: {
      auto it = events_.find(v.fixed<avec_handle>().handle);
      if (it == events_.end()) { r = CUDA_ERROR_INVALID_HANDLE; break; }
      r = be_.event_destroy(it->second.be);
      events_.erase(it);
      break;
    }
    case AVEC_OP_EVENT_RECORD: {
      avec_event_record er = v.fixed<avec_event_record>();
      BH s = 0, e = 0;
      if ((r = event(er.event, &e)) || (r = stream(er.stream, &s))) break;
      r = be_.event_record(e, s, er.flags);
      break;
    }
    case AVEC_OP_MODULE_UNLOAD: {
      uint32_t hd = v.fixed<avec_handle>().handle;
      auto it = modules_.find(hd);
      if (it == modules_.end()) { r = CUDA_ERROR_INVALID_HANDLE; break; }
      drop_module(hd, it->second);
      modules_.erase(it);
      break;
    }
    case AVEC_OP_FUNC_SET_ATTRIBUTE:
    case AVEC_OP_FUNC_SET_CACHE_CONFIG: {
      avec_func_attr fa = v.fixed<avec_func_attr>();
      auto it = funcs_.find(fa.func);
      if (it == funcs_.end()) { r = CUDA_ERROR_INVALID_HANDLE; break; }
      r = op == AVEC_OP_FUNC_SET_ATTRIBUTE ? be_.func_set_attribute(it->second.be, it->second.is_kernel, fa.attr, fa.value)
                                           : be_.func_set_cache_config(it->second.be, it->second.is_kernel, (uint32_t)fa.value);
      break;
    }
    case AVEC_OP_LAUNCH:
      r = launch(v);
      break;
    case AVEC_OP_HOST_FUNC: {  // outside a capture the client runs its host functions itself
      avec_host_func f = v.fixed<avec_host_func>();
      BH s = 0;
      if (!callbacks_.attached()) { r = CUDA_ERROR_NOT_SUPPORTED; break; }
      if (f.id == 0) { r = CUDA_ERROR_INVALID_VALUE; break; }
      if (!(r = stream(f.stream, &s))) r = be_.launch_host_func(s, f.id);
      break;
    }
    default:
      r = op >= AVEC_OP_ARRAY_CREATE && op <= AVEC_OP_SURF_DESTROY ? arrays_async(v)
          : frame_is_jit_op(op)                                     ? jit_async(v)
                                                                    : memext_async(v);
  }
  errs_.record_async(r);
}

}  // namespace avec
