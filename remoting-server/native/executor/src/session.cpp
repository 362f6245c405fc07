#include "session.h"

#include <time.h>

#include <algorithm>
#include <cstring>

#include "log.h"
#include "sha256.h"

namespace avec {

namespace {
constexpr size_t kStageMin = 64 * 1024;  // HTOD chunks at least this large are read straight into staging
constexpr size_t kStagedHead = sizeof(avec_frame_hdr) + sizeof(avec_memcpy_htod);
constexpr long kStatsEverySec = 10;      // at most one session_stats log line this often (on sync requests)

bool launch_attr_allowed(uint32_t id) {
  switch (id) {
    case CU_LAUNCH_ATTRIBUTE_IGNORE:
    case CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW:
    case CU_LAUNCH_ATTRIBUTE_COOPERATIVE:
    case CU_LAUNCH_ATTRIBUTE_SYNCHRONIZATION_POLICY:
    case CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION:
    case CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE:
    case CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION:
    case CU_LAUNCH_ATTRIBUTE_PRIORITY:
    case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP:
    case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN:
    case CU_LAUNCH_ATTRIBUTE_PREFERRED_CLUSTER_DIMENSION:
    case CU_LAUNCH_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
    case CU_LAUNCH_ATTRIBUTE_NVLINK_UTIL_CENTRIC_SCHEDULING:
      return true;
    default:  // graph-node attributes and unknown ids are not forwarded (events are translated, see launch())
      return false;
  }
}
}  // namespace

const char* session_end_name(SessionEnd e) {
  switch (e) {
    case SessionEnd::goodbye: return "goodbye";
    case SessionEnd::eof: return "client_disconnected";
    case SessionEnd::io_error: return "io_error";
    case SessionEnd::bad_frame: return "bad_frame";
    case SessionEnd::refused: return "refused";
  }
  return "unknown";
}

Session::Session(Conn& conn, Backend& backend, ModuleStore& store, const SessionOptions& opts)
    : conn_(conn), be_(backend), store_(store), opts_(opts) {
  buf_.resize(std::max<size_t>(opts.read_buffer, 64 * 1024));
  param_ptrs_.resize(AVEC_MAX_PARAMS);
}

Session::~Session() { teardown(); }

// ---- I/O ---------------------------------------------------------------------------------------------

bool Session::fill(size_t want) {
  if (want > buf_.size()) buf_.resize(want);
  if (buf_.size() - start_ < want) {  // make room at the front
    memmove(buf_.data(), buf_.data() + start_, end_ - start_);
    end_ -= start_;
    start_ = 0;
  }
  while (end_ - start_ < want) {
    size_t room = buf_.size() - end_;
    // Right after a large H2D chunk another one usually follows: read only up to its fixed part, so its
    // data goes from the socket straight into staging memory instead of through this buffer.
    if (after_staged_) room = std::min(room, std::max(want - (end_ - start_), kStagedHead));
    ssize_t n = conn_.read_some(buf_.data() + end_, room);
    if (n <= 0) {
      conn_failed_ = n < 0;
      return false;
    }
    end_ += (size_t)n;
    stats_.bytes_in += (uint64_t)n;
  }
  return true;
}

bool Session::read_exact(void* p, size_t n) {
  uint8_t* d = static_cast<uint8_t*>(p);
  while (n) {
    ssize_t r = conn_.read_some(d, n);
    if (r <= 0) {
      conn_failed_ = r < 0;
      return false;
    }
    d += r;
    n -= (size_t)r;
    stats_.bytes_in += (uint64_t)r;
  }
  return true;
}

bool Session::send_frame(const avec_frame_hdr& req, uint32_t flags, const void* a, size_t an, const void* b,
                         size_t bn) {
  if (conn_failed_) return false;
  avec_frame_hdr h;
  h.magic = AVEC_WIRE_MAGIC;
  h.version = AVEC_WIRE_VERSION;
  h.opcode = req.opcode;
  h.flags = AVEC_F_REPLY | flags;
  h.request_id = req.request_id;
  h.ctx = req.ctx;
  h.payload_len = (uint32_t)(an + bn);
  struct iovec iov[3] = {{&h, sizeof h}, {const_cast<void*>(a), an}, {const_cast<void*>(b), bn}};
  if (!conn_.write_all(iov, bn ? 3 : 2)) {
    conn_failed_ = true;
    return false;
  }
  stats_.bytes_out += sizeof h + an + bn;
  return true;
}

bool Session::reply_status(const avec_frame_hdr& req, uint32_t status) {
  avec_reply_hdr r = {status, 0};
  return reply(req, &r, sizeof r);
}

void Session::bad_frame(const avec_frame_hdr* req, const char* why) {
  AVEC_LOG(warn, "bad_frame").str("reason", why).num("opcode", req ? req->opcode : -1);
  avec_frame_hdr h = {};
  if (req && req->magic == AVEC_WIRE_MAGIC) h = *req;  // echo opcode and request id when readable
  reply_status(h, AVEC_STATUS_BAD_FRAME);
}

// ---- main loop ---------------------------------------------------------------------------------------

SessionEnd Session::run() {
  SessionEnd end = SessionEnd::eof;
  for (;;) {
    FrameView v;
    size_t want = 0;
    Decode d = frame_decode(buf_.data() + start_, end_ - start_, &v, true, &want);
    if (d == Decode::ok && v.tail_pending && v.tail_len < kStageMin) {
      d = Decode::need_more;
      want = v.frame_len;
    }
    if (d == Decode::need_more) {
      if (!fill(want)) {
        end = conn_failed_ ? SessionEnd::io_error : SessionEnd::eof;
        if (end_ > start_ && !conn_failed_) AVEC_LOG(info, "partial_frame_at_eof").unum("bytes", end_ - start_);
        break;
      }
      continue;
    }
    if (d == Decode::bad) {
      bad_frame(end_ - start_ >= sizeof(avec_frame_hdr) ? &v.hdr : nullptr, v.error);
      end = SessionEnd::bad_frame;
      break;
    }
    stats_.frames++;
    if (!hello_done_ && v.hdr.opcode != AVEC_OP_HELLO) {
      bad_frame(&v.hdr, "first frame is not HELLO");
      end = SessionEnd::bad_frame;
      break;
    }
    if (hello_done_ && v.hdr.opcode == AVEC_OP_HELLO) {
      bad_frame(&v.hdr, "second HELLO");
      end = SessionEnd::bad_frame;
      break;
    }
    if (v.tail_pending) {  // a large HTOD chunk: straight from the socket into staging memory
      avec_memcpy_htod m = v.fixed<avec_memcpy_htod>();
      avec_frame_hdr hdr = v.hdr;
      size_t have = end_ - start_ - sizeof(avec_frame_hdr) - sizeof m;
      // staging memory belongs to the frame's context: make it current first (errors surface in htod())
      if (!errs_.sticky() && !info_only_) use_ctx(hdr.ctx);
      void* stage = be_.htod_staging(v.tail_len);
      if (!stage) {  // no staging buffer of that size: buffer the whole frame instead
        stats_.frames--;  // counted again when the buffered frame is decoded
        if (!fill(v.frame_len)) { end = conn_failed_ ? SessionEnd::io_error : SessionEnd::eof; break; }
        continue;
      }
      memcpy(stage, buf_.data() + start_ + sizeof(avec_frame_hdr) + sizeof m, have);
      start_ = end_ = 0;
      if (!read_exact(static_cast<uint8_t*>(stage) + have, v.tail_len - have)) {
        end = conn_failed_ ? SessionEnd::io_error : SessionEnd::eof;
        break;
      }
      errs_.set_frame(hdr.opcode, hdr.ctx);
      htod(hdr, m, static_cast<uint8_t*>(stage), v.tail_len, true);
      after_staged_ = true;
      continue;
    }
    bool go_on = dispatch(v);
    after_staged_ = false;
    start_ += v.frame_len;
    if (start_ == end_) start_ = end_ = 0;
    if (!go_on) {
      end = v.hdr.opcode == AVEC_OP_GOODBYE ? SessionEnd::goodbye
            : v.hdr.opcode == AVEC_OP_HELLO ? SessionEnd::refused
            : conn_failed_ ? SessionEnd::io_error : SessionEnd::eof;
      break;
    }
    if (conn_failed_) { end = SessionEnd::io_error; break; }
  }
  teardown();
  return end;
}

bool Session::dispatch(const FrameView& v) {
  uint16_t op = v.hdr.opcode;
  errs_.set_frame(op, v.hdr.ctx);
  if (op == AVEC_OP_HELLO) return hello(v);
  if (op == AVEC_OP_GOODBYE) return false;
  if (op == AVEC_OP_PING) return reply_status(v.hdr, CUDA_SUCCESS);
  if (info_only_ && op != AVEC_OP_MEM_GET_INFO) {
    if (AVEC_OP_IS_SYNC(op)) return reply_status(v.hdr, CUDA_ERROR_NOT_PERMITTED);
    errs_.record_async(CUDA_ERROR_NOT_PERMITTED);
    return true;
  }
  if (AVEC_OP_IS_SYNC(op)) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    if (ts.tv_sec - last_stats_ >= kStatsEverySec) {  // cumulative counters for the supervising server
      last_stats_ = ts.tv_sec;
      AVEC_LOG(info, "session_stats")
          .unum("frames", stats_.frames)
          .unum("bytes_in", stats_.bytes_in)
          .unum("bytes_out", stats_.bytes_out)
          .unum("mem_used", allocs_.used())
          .unum("allocations", allocs_.count());
    }
    return sync_op(v);
  }
  async_op(v);
  return true;
}

// ---- HELLO -------------------------------------------------------------------------------------------

bool Session::hello(const FrameView& v) {
  avec_hello h = v.fixed<avec_hello>();
  std::string host(h.client_host, strnlen(h.client_host, sizeof h.client_host));
  if (h.wire_version != AVEC_WIRE_VERSION) {
    AVEC_LOG(warn, "hello_refused").str("reason", "wire version").unum("client_version", h.wire_version);
    reply_status(v.hdr, AVEC_STATUS_VERSION);
    return false;
  }
  if (opts_.verify_ticket) {
    std::string why;
    std::string ticket(reinterpret_cast<const char*>(v.tail), v.tail_len);
    if (!opts_.verify_ticket(ticket, &why)) {
      AVEC_LOG(warn, "hello_refused").str("reason", why).str("client_host", host).unum("client_pid", h.client_pid);
      reply_status(v.hdr, AVEC_STATUS_BAD_TICKET);
      return false;
    }
  }
  info_only_ = (h.flags & AVEC_HELLO_INFO_ONLY) != 0;
  device_count_ = std::min<int>(be_.device_count(), (int)AVEC_MAX_DEVICES);
  devices_.assign(device_count_, avec_device_info{});
  uint64_t dev_total = 0;
  for (int i = 0; i < device_count_; i++) {
    CUresult r = be_.device_info(i, &devices_[i]);
    if (r != CUDA_SUCCESS) {
      AVEC_LOG(error, "device_info_failed").num("device", i).num("result", r);
      reply_status(v.hdr, r);
      return false;
    }
    if (i == 0) dev_total = devices_[i].total_mem;
  }
  limit_ = opts_.memory_limit && opts_.memory_limit < dev_total ? opts_.memory_limit : dev_total;
  for (auto& d : devices_) d.total_mem = std::min<uint64_t>(d.total_mem, limit_);
  allocs_ = AllocTable(limit_);
  avec_hello_reply rep = {};
  rep.r.status = CUDA_SUCCESS;
  rep.session_id = opts_.session_id;
  rep.memory_limit = limit_;
  rep.driver_version = (uint32_t)be_.driver_version();
  rep.device_count = (uint32_t)device_count_;
  rep.emulated = be_.emulated() ? 1 : 0;
  hello_done_ = true;
  AVEC_LOG(info, "session_start")
      .str("client_host", host)
      .unum("client_pid", h.client_pid)
      .str("backend", be_.name())
      .unum("memory_limit", limit_)
      .num("info_only", info_only_);
  return reply(v.hdr, &rep, sizeof rep, devices_.data(), devices_.size() * sizeof(avec_device_info));
}

// ---- tables ------------------------------------------------------------------------------------------

uint32_t Session::use_ctx(uint32_t handle) {
  if (handle == 0) return CUDA_ERROR_INVALID_CONTEXT;
  auto it = ctxs_.find(handle);
  if (it == ctxs_.end()) {
    if (handle > (uint32_t)device_count_) return CUDA_ERROR_INVALID_CONTEXT;
    int dev = (int)handle - 1;
    BH c = 0;
    CUresult r = be_.primary_ctx_retain(dev, &c);  // primary contexts are retained on first use
    if (r != CUDA_SUCCESS) return r;
    it = ctxs_.emplace(handle, CtxEntry{c, dev, true}).first;
  }
  if (!have_cur_ || cur_be_ctx_ != it->second.be) {
    CUresult r = be_.ctx_set_current(it->second.be);
    if (r != CUDA_SUCCESS) return r;
    cur_be_ctx_ = it->second.be;
    have_cur_ = true;
  }
  cur_ctx_ = handle;
  return CUDA_SUCCESS;
}

uint32_t Session::stream(uint32_t handle, BH* out) {
  if (handle == AVEC_STREAM_LEGACY) { *out = be_.stream_legacy(); return CUDA_SUCCESS; }
  if (handle == AVEC_STREAM_PER_THREAD) { *out = be_.stream_per_thread(); return CUDA_SUCCESS; }
  auto it = streams_.find(handle);
  if (it == streams_.end()) return CUDA_ERROR_INVALID_HANDLE;
  *out = it->second.be;
  return CUDA_SUCCESS;
}

uint32_t Session::event(uint32_t handle, BH* out) {
  auto it = events_.find(handle);
  if (it == events_.end()) return CUDA_ERROR_INVALID_HANDLE;
  *out = it->second.be;
  return CUDA_SUCCESS;
}

void Session::drop_module(uint32_t handle, ModuleEntry& e) {
  if (!e.pending) be_.module_unload(e.kind, e.be);
  for (auto it = funcs_.begin(); it != funcs_.end();)
    it = it->second.module == handle ? funcs_.erase(it) : std::next(it);
  allocs_.remove_if([&](const Alloc& a) { return a.kind == AllocKind::global && a.owner == handle; });
}

// Forgets every object of a context the driver is about to destroy (reset or destroy).
void Session::drop_ctx_objects(uint32_t ctx) {
  for (auto it = modules_.begin(); it != modules_.end();) {
    if (it->second.ctx == ctx) {
      if (!it->second.pending) be_.module_unload(it->second.kind, it->second.be);
      uint32_t h = it->first;
      for (auto f = funcs_.begin(); f != funcs_.end();) f = f->second.module == h ? funcs_.erase(f) : std::next(f);
      it = modules_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = streams_.begin(); it != streams_.end();) {
    if (it->second.ctx == ctx) { be_.stream_destroy(it->second.be); it = streams_.erase(it); } else ++it;
  }
  for (auto it = events_.begin(); it != events_.end();) {
    if (it->second.ctx == ctx) { be_.event_destroy(it->second.be); it = events_.erase(it); } else ++it;
  }
  auto gone = allocs_.remove_if([&](const Alloc& a) { return a.ctx == ctx; });
  for (const Alloc& a : gone)
    if (a.kind != AllocKind::global) { be_.mem_free(a.base); stats_.freed_allocs++; }
}

void Session::teardown() {
  if (torn_down_) return;
  torn_down_ = true;
  if (opts_.before_teardown) opts_.before_teardown();
  // Objects are freed in their own context, then the contexts go.
  for (auto& c : ctxs_) {
    if (be_.ctx_set_current(c.second.be) != CUDA_SUCCESS) continue;
    have_cur_ = true;
    cur_be_ctx_ = c.second.be;
    be_.ctx_synchronize();
    drop_ctx_objects(c.first);
  }
  // Whatever is left (objects of contexts that failed to become current) is dropped from the tables.
  allocs_.remove_if([](const Alloc&) { return true; });
  for (auto& c : ctxs_) {
    if (c.second.primary) be_.primary_ctx_release(c.second.dev);
    else be_.ctx_destroy(c.second.be);
  }
  ctxs_.clear();
  streams_.clear();
  events_.clear();
  modules_.clear();
  funcs_.clear();
}

// ---- synchronous operations --------------------------------------------------------------------------

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
  ReplySink sink([&](const void* d, size_t n, bool last) {
    avec_reply_hdr rh = {CUDA_SUCCESS, 0};
    return send_frame(h, last ? 0 : AVEC_F_MORE, &rh, sizeof rh, d, n);
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
  uint32_t r = use_ctx(h.ctx);
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
      if (r == CUDA_SUCCESS) {
        avec_reply_hdr rh = {0, 0};
        avec_u64 out = {val};
        return reply(h, &rh, sizeof rh, &out, sizeof out);
      }
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
      if (!allocs_.fits(need)) {
        AVEC_LOG(info, "memory_limit").unum("requested", need).unum("used", allocs_.used()).unum("limit", limit_);
        r = CUDA_ERROR_OUT_OF_MEMORY;
        break;
      }
      Alloc a;
      a.ctx = h.ctx;
      if (op == AVEC_OP_MEM_ALLOC_ASYNC) {
        BH s = 0;
        r = stream(m.stream, &s);
        if (r) break;
        r = be_.mem_alloc_async(m.size, s, &rep.dptr);
        a.kind = AllocKind::async;
        a.size = m.size;
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
      if (!allocs_.fits(a.accounted) || !allocs_.insert(a)) {  // pitch padding crossed the limit, or a bad address
        be_.mem_free(rep.dptr);
        r = allocs_.fits(a.accounted) ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_OUT_OF_MEMORY;
        break;
      }
      rep.r.status = CUDA_SUCCESS;
      return reply(h, &rep, sizeof rep);
    }
    case AVEC_OP_MEM_GET_INFO: {
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
      if (me.pending) {  // the image is not here yet: ask for it
        avec_reply_hdr rh = {AVEC_STATUS_NEED_IMAGE, 0};
        avec_module_image mi;
        memcpy(mi.hash, me.hash.data(), 32);
        mi.size = me.size;
        AVEC_LOG(debug, "need_image").str("hash", hex(me.hash.data(), 32)).unum("module", gs.module);
        return reply(h, &rh, sizeof rh, &mi, sizeof mi);
      }
      if (op == AVEC_OP_GET_GLOBAL) {
        avec_global_info gi = {};
        r = be_.get_global(me.kind, me.be, name, &gi.dptr, &gi.size);
        if (r) break;
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
    case AVEC_OP_OCCUPANCY: {
      avec_occupancy o = v.fixed<avec_occupancy>();
      auto it = funcs_.find(o.func);
      if (it == funcs_.end()) { r = CUDA_ERROR_INVALID_HANDLE; break; }
      uint64_t out = 0;
      r = be_.occupancy(it->second.be, o.kind, o.block_size, o.flags, o.dynamic_smem, &out);
      if (!r) {
        avec_reply_hdr rh = {0, 0};
        avec_u64 val = {out};
        return reply(h, &rh, sizeof rh, &val, sizeof val);
      }
      break;
    }
    default:
      r = CUDA_ERROR_NOT_SUPPORTED;
  }
  errs_.record_sync(r);
  return reply_status(h, r);
}

// ---- fire-and-forget operations ----------------------------------------------------------------------

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
  if (!r) {
    bool async = (h.flags & AVEC_F_ASYNC) != 0;
    r = staged ? be_.htod_submit(const_cast<uint8_t*>(data), m.dst, len, s, async)
               : be_.memcpy_htod(m.dst, data, len, s, async);
  }
  errs_.record_async(r);
}

uint32_t Session::load_pending(uint32_t handle, ModuleEntry& e, const Image& img) {
  uint32_t r = use_ctx(e.ctx);
  if (!r) r = be_.module_load(e.kind, img->data(), img->size(), &e.be);
  if (r) {
    AVEC_LOG(warn, "module_load_failed").unum("module", handle).num("result", r).str("hash", hex(e.hash.data(), 32));
    return r;
  }
  e.pending = false;
  return CUDA_SUCCESS;
}

void Session::module_image(const FrameView& v) {
  avec_module_image mi = v.fixed<avec_module_image>();
  Hash hh;
  memcpy(hh.data(), mi.hash, 32);
  ModuleStore::Part p = store_.add_part(hh, mi.size, v.tail, v.tail_len);
  if (p == ModuleStore::Part::incomplete) return;
  if (p != ModuleStore::Part::complete) {
    AVEC_LOG(warn, "module_image_refused")
        .str("hash", hex(mi.hash, 32))
        .str("reason", p == ModuleStore::Part::mismatch ? "hash mismatch" : "inconsistent parts");
    errs_.record_async(p == ModuleStore::Part::mismatch ? CUDA_ERROR_INVALID_IMAGE : CUDA_ERROR_INVALID_VALUE);
    return;
  }
  Image img = store_.find(hh);
  for (auto it = modules_.begin(); it != modules_.end();) {
    if (it->second.pending && it->second.hash == hh) {
      uint32_t r = load_pending(it->first, it->second, img);
      if (r) {
        errs_.record_async(r);
        it = modules_.erase(it);
        continue;
      }
    }
    ++it;
  }
}

void Session::module_load(const avec_frame_hdr& h, const avec_module_load& m) {
  if (m.handle == 0 || modules_.count(m.handle) || m.kind > AVEC_MODULE_KIND_LIBRARY) {
    errs_.record_async(CUDA_ERROR_INVALID_VALUE);
    return;
  }
  uint32_t r = use_ctx(h.ctx);
  if (r) { errs_.record_async(r); return; }
  ModuleEntry e;
  e.kind = m.kind == AVEC_MODULE_KIND_LIBRARY ? ModuleKind::library : ModuleKind::module;
  memcpy(e.hash.data(), m.hash, 32);
  e.size = m.size;
  e.ctx = h.ctx;
  e.pending = true;
  Image img = store_.find(e.hash);
  if (img) {
    r = load_pending(m.handle, e, img);
    if (r) { errs_.record_async(r); return; }
  }
  modules_[m.handle] = e;
}

uint32_t Session::launch(const FrameView& v) {
  avec_launch l = v.fixed<avec_launch>();
  auto it = funcs_.find(l.func);
  if (it == funcs_.end()) return CUDA_ERROR_INVALID_HANDLE;
  const FuncEntry& f = it->second;
  LaunchArgs a;
  a.func = f.be;
  a.is_kernel = f.is_kernel;
  uint32_t r = stream(l.stream, &a.stream);
  if (r) return r;
  memcpy(a.grid, l.grid, sizeof a.grid);
  memcpy(a.block, l.block, sizeof a.block);
  a.shared_mem = l.shared_mem;
  a.cooperative = (l.flags & 1) != 0;
  avec_launch_attr attrs[AVEC_MAX_LAUNCH_ATTRS];
  a.attrs = reinterpret_cast<const avec_launch_attr*>(v.tail);
  a.num_attrs = l.num_attrs;
  bool translated = false;
  for (uint32_t i = 0; i < l.num_attrs; i++) {
    memcpy(&attrs[i], v.tail + i * sizeof(avec_launch_attr), sizeof attrs[i]);
    uint32_t id = attrs[i].id;
    if (id == CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT || id == CU_LAUNCH_ATTRIBUTE_LAUNCH_COMPLETION_EVENT) {
      // the event travels as its client handle (u64 in the first 8 value bytes): swap in the real one
      uint64_t h;
      memcpy(&h, attrs[i].value, sizeof h);
      BH e = 0;
      if (h > UINT32_MAX || event((uint32_t)h, &e)) return CUDA_ERROR_INVALID_HANDLE;
      memcpy(attrs[i].value, &e, sizeof e);
      translated = true;
    } else if (!launch_attr_allowed(id)) {
      return CUDA_ERROR_NOT_SUPPORTED;
    }
  }
  if (translated) a.attrs = attrs;
  const uint8_t* params = v.tail + (size_t)l.num_attrs * sizeof(avec_launch_attr);
  a.param_bytes = params;
  a.param_len = l.param_bytes;
  if (f.params_known) {
    // Parameter values are opaque: device pointers inside them cannot be checked (per-session process
    // isolation is the protection there); only the block's size is.
    if (l.param_bytes < f.param_extent) return CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; i < f.params.size(); i++) param_ptrs_[i] = const_cast<uint8_t*>(params + f.params[i].offset);
    a.params = f.params.empty() ? nullptr : param_ptrs_.data();
    a.num_params = (uint32_t)f.params.size();
  }
  return be_.launch(a);
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
  r = use_ctx(h.ctx);
  if (r) { errs_.record_async(r); return; }
  bool async = (h.flags & AVEC_F_ASYNC) != 0;
  switch (op) {
    case AVEC_OP_CTX_SET_CACHE_CONFIG: r = be_.ctx_set_cache_config(v.fixed<avec_u32>().value); break;
    case AVEC_OP_MEM_FREE: {
      avec_mem_free m = v.fixed<avec_mem_free>();
      const Alloc* a = allocs_.find_exact(m.dptr);
      if (!a || a->kind == AllocKind::global) { r = CUDA_ERROR_INVALID_VALUE; break; }
      BH s = 0;
      if (async && (r = stream(m.stream, &s))) break;
      r = async ? be_.mem_free_async(m.dptr, s) : be_.mem_free(m.dptr);
      if (!r) allocs_.remove(m.dptr);
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
    default:
      r = CUDA_ERROR_NOT_SUPPORTED;
  }
  errs_.record_async(r);
}

}  // namespace avec
