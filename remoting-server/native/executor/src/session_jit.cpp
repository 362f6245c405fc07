// JIT linking (cuLink*) and stream attributes. The linker runs on the backend's driver, in the context the
// client had current when it created the link state: inputs arrive as data in bounded parts, the log text
// the driver writes into the session's own log buffers goes back with every reply that may have produced
// some, and the linked image stays with the link state until LINK_DESTROY (the client reads it with
// LINK_READ). Only JIT options whose value is a number cross; pointer-valued ones never reach the driver.
// Stream attributes name streams of this session, and an access policy window must lie in its memory.
#include <cstring>
#include <new>

#include "log.h"
#include "session.h"

namespace avec {

namespace {
// Options the client may forward: numbers only. Log buffers are set up by the session (sizes in
// avec_link_create); symbol and name arrays are host pointers.
bool numeric_option(uint32_t o) {
  switch (o) {
    case CU_JIT_INFO_LOG_BUFFER: case CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES: case CU_JIT_ERROR_LOG_BUFFER:
    case CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES: case CU_JIT_GLOBAL_SYMBOL_NAMES: case CU_JIT_GLOBAL_SYMBOL_ADDRESSES:
    case CU_JIT_REFERENCED_KERNEL_NAMES: case CU_JIT_REFERENCED_VARIABLE_NAMES:
      return false;
    default:
      return o < CU_JIT_NUM_OPTIONS;
  }
}

uint32_t parse_options(const uint8_t* p, uint32_t n, std::vector<avec_jit_option>* out) {
  out->resize(n);
  if (n) memcpy(out->data(), p, (size_t)n * sizeof(avec_jit_option));
  for (const avec_jit_option& o : *out)
    if (!numeric_option(o.option)) return CUDA_ERROR_INVALID_VALUE;
  return CUDA_SUCCESS;
}

bool has_option(const std::vector<avec_jit_option>& opts, uint32_t o) {
  for (const avec_jit_option& x : opts)
    if (x.option == o) return true;
  return false;
}

bool stream_attr_known(uint32_t a) {
  return a == CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW || a == CU_LAUNCH_ATTRIBUTE_SYNCHRONIZATION_POLICY ||
         a == CU_LAUNCH_ATTRIBUTE_PRIORITY || a == CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP ||
         a == CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN;
}
}  // namespace

bool Session::link_reply(const avec_frame_hdr& h, uint32_t status, const LinkEntry& e, uint64_t image_size) {
  LinkOutput out;
  be_.link_output(e.be, &out);
  if (out.info.size() > AVEC_LINK_MAX_LOG) out.info.resize(AVEC_LINK_MAX_LOG);
  if (out.error.size() > AVEC_LINK_MAX_LOG) out.error.resize(AVEC_LINK_MAX_LOG);
  avec_link_reply rep = {};
  rep.r.status = status;
  rep.image_size = image_size;
  rep.info_len = (uint32_t)out.info.size();
  rep.error_len = (uint32_t)out.error.size();
  rep.wall_time = e.wants_wall_time ? out.wall_time : 0;
  rep.threads_per_block = e.wants_threads ? out.threads_per_block : 0;
  std::string logs = out.info + out.error;
  return reply(h, &rep, sizeof rep, logs.data(), logs.size());
}

// One part of an input; *done is set when the input is whole (then it has been handed to the driver).
uint32_t Session::link_add(const FrameView& v, LinkEntry** done) {
  avec_link_add a = v.fixed<avec_link_add>();
  auto it = links_.find(a.handle);
  if (it == links_.end()) return CUDA_ERROR_INVALID_HANDLE;
  LinkEntry& e = it->second;
  const uint8_t* p = v.tail;
  auto drop_input = [&] {
    link_input_bytes_ -= e.input.size();
    std::vector<uint8_t>().swap(e.input);
    e.in_got = 0;
  };
  if (a.offset == 0) {  // a new input (an unfinished one is dropped)
    drop_input();
    if (link_input_bytes_ + a.size > opts_.max_module_bytes) return CUDA_ERROR_OUT_OF_MEMORY;
    uint32_t r = parse_options(p, a.num_options, &e.in_opts);
    if (r) return r;
    p += (size_t)a.num_options * sizeof(avec_jit_option);
    e.in_name.assign(reinterpret_cast<const char*>(p), a.name_len);
    p += a.name_len;
    try {
      e.input.resize(a.size);
    } catch (const std::bad_alloc&) {
      return CUDA_ERROR_OUT_OF_MEMORY;
    }
    link_input_bytes_ += a.size;
    e.in_type = a.type;
  } else if (a.offset != e.in_got || a.size != e.input.size() || a.type != e.in_type) {
    drop_input();
    return CUDA_ERROR_INVALID_VALUE;
  }
  memcpy(e.input.data() + a.offset, p, a.part_len);
  e.in_got += a.part_len;
  if (e.in_got < e.input.size()) return CUDA_SUCCESS;
  uint32_t r = be_.link_add_data(e.be, e.in_type, e.input.data(), e.input.size(), e.in_name, e.in_opts);
  drop_input();  // the driver keeps no reference to an input
  *done = &e;
  return r;
}

bool Session::jit_sync(const FrameView& v, uint32_t* rp) {
  const avec_frame_hdr& h = v.hdr;
  uint32_t& r = *rp;
  switch (h.opcode) {
    case AVEC_OP_LINK_CREATE: {
      avec_link_create c = v.fixed<avec_link_create>();
      if (links_.count(c.handle)) { r = CUDA_ERROR_INVALID_VALUE; return false; }
      if (links_.size() >= AVEC_LINK_MAX_STATES || table_full("link states", links_.size())) {
        r = CUDA_ERROR_OUT_OF_MEMORY;
        return false;
      }
      std::vector<avec_jit_option> opts;
      if ((r = parse_options(v.tail, c.num_options, &opts))) return false;
      BH st = 0;
      if ((r = be_.link_create(opts, c.info_log, c.error_log, &st))) return false;
      LinkEntry& e = links_[c.handle];
      e.be = st;
      e.ctx = h.ctx;
      e.wants_wall_time = has_option(opts, CU_JIT_WALL_TIME);
      e.wants_threads = has_option(opts, CU_JIT_THREADS_PER_BLOCK);
      return false;  // r == CUDA_SUCCESS: a plain status reply
    }
    case AVEC_OP_LINK_ADD_DATA: {
      LinkEntry* done = nullptr;
      r = link_add(v, &done);
      if (!done) return false;
      errs_.record_sync(r);
      return link_reply(h, r, *done, 0);
    }
    case AVEC_OP_LINK_COMPLETE: {
      auto it = links_.find(v.fixed<avec_handle>().handle);
      if (it == links_.end()) { r = CUDA_ERROR_INVALID_HANDLE; return false; }
      LinkEntry& e = it->second;
      const uint8_t* image = nullptr;
      size_t size = 0;
      r = be_.link_complete(e.be, &image, &size);
      if (!r && (!image || size == 0 || size > AVEC_LINK_MAX_IMAGE)) r = CUDA_ERROR_OUT_OF_MEMORY;
      if (!r) {
        e.image = image;
        e.image_size = size;
      }
      errs_.record_sync(r);
      return link_reply(h, r, e, r ? 0 : size);
    }
    case AVEC_OP_LINK_READ: {
      avec_link_read q = v.fixed<avec_link_read>();
      auto it = links_.find(q.handle);
      if (it == links_.end()) { r = CUDA_ERROR_INVALID_HANDLE; return false; }
      const LinkEntry& e = it->second;
      if (!e.image || q.offset > e.image_size || q.len > e.image_size - q.offset) {
        r = CUDA_ERROR_INVALID_VALUE;
        return false;
      }
      avec_reply_hdr rh = {CUDA_SUCCESS, 0};
      return reply(h, &rh, sizeof rh, e.image + q.offset, q.len);
    }
    case AVEC_OP_STREAM_GET_ATTR: {
      avec_stream_attr a = v.fixed<avec_stream_attr>();
      BH s = 0;
      if ((r = stream(a.stream, &s))) return false;
      if (!stream_attr_known(a.attr)) { r = CUDA_ERROR_INVALID_VALUE; return false; }
      avec_stream_attr_reply out = {};
      if ((r = be_.stream_get_attr(s, a.attr, out.value))) return false;
      return reply(h, &out, sizeof out);
    }
    default:
      r = CUDA_ERROR_NOT_SUPPORTED;
      return false;
  }
}

uint32_t Session::jit_async(const FrameView& v) {
  const avec_frame_hdr& h = v.hdr;
  switch (h.opcode) {
    case AVEC_OP_LINK_DESTROY: {
      auto it = links_.find(v.fixed<avec_handle>().handle);
      if (it == links_.end()) return CUDA_ERROR_INVALID_HANDLE;
      drop_link(it);
      return CUDA_SUCCESS;
    }
    case AVEC_OP_STREAM_SET_ATTR: {
      avec_stream_attr a = v.fixed<avec_stream_attr>();
      BH s = 0;
      uint32_t r = stream(a.stream, &s);
      if (r) return r;
      if (!stream_attr_known(a.attr)) return CUDA_ERROR_INVALID_VALUE;
      if (a.attr == CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW) {  // a cache hint, but only over this session's memory
        uint64_t base, bytes;
        memcpy(&base, a.value, 8);
        memcpy(&bytes, a.value + 8, 8);
        if (bytes && !range_ok(base, bytes)) return CUDA_ERROR_INVALID_VALUE;
      }
      return be_.stream_set_attr(s, a.attr, a.value);
    }
    case AVEC_OP_STREAM_COPY_ATTR: {
      avec_u32x2 q = v.fixed<avec_u32x2>();
      BH dst = 0, src = 0;
      uint32_t r = stream(q.a, &dst);
      if (!r) r = stream(q.b, &src);
      return r ? r : (uint32_t)be_.stream_copy_attrs(dst, src);
    }
    case AVEC_OP_CTX_RESET_PERSISTING_L2:
      return be_.ctx_reset_persisting_l2();
    default:
      return CUDA_ERROR_NOT_SUPPORTED;
  }
}

void Session::drop_link(std::map<uint32_t, LinkEntry>::iterator it) {
  link_input_bytes_ -= it->second.input.size();
  be_.link_destroy(it->second.be);
  links_.erase(it);
}

void Session::drop_ctx_links(uint32_t ctx) {
  for (auto it = links_.begin(); it != links_.end();) {
    auto next = std::next(it);
    if (it->second.ctx == ctx) drop_link(it);
    it = next;
  }
}

}  // namespace avec
