// The session loop: buffered reads, frame decoding, dispatch, HELLO, handle tables and teardown.
#include "session.h"

#include <errno.h>
#include <time.h>

#include <algorithm>
#include <cstring>

#include "log.h"
#include "host_memory.h"
#include "sha256.h"

#include <sys/random.h>

namespace avec {

namespace {
constexpr size_t kStageMin = 64 * 1024;  // HTOD chunks at least this large are read straight into staging
constexpr size_t kStagedHead = sizeof(avec_frame_hdr) + sizeof(avec_memcpy_htod);
constexpr long kStatsEverySec = 10;      // at most one session_stats log line this often (on sync requests)
long monotonic_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}
}  // namespace

bool getrandom_all(void* p, size_t n) {
  uint8_t* b = static_cast<uint8_t*>(p);
  while (n) {
    ssize_t r = getrandom(b, n, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    b += r;
    n -= (size_t)r;
  }
  return true;
}

std::string Session::op_summary() const {
  std::string out;
  for (size_t op = 0; op < kOpSlots; op++) {
    const OpStats& o = op_stats_[op];
    if (!o.frames) continue;
    if (!out.empty()) out += ',';
    out += opcode_name((uint32_t)op);
    for (uint64_t v : {o.frames, o.round_trips, o.bytes_in, o.bytes_out}) out += ':' + std::to_string(v);
  }
  return out;
}

const char* session_end_name(SessionEnd e) {
  switch (e) {
    case SessionEnd::goodbye: return "goodbye";
    case SessionEnd::eof: return "client_disconnected";
    case SessionEnd::io_error: return "io_error";
    case SessionEnd::bad_frame: return "bad_frame";
    case SessionEnd::refused: return "refused";
    case SessionEnd::hello_timeout: return "hello_timeout";
    case SessionEnd::stalled: return "stalled";
    case SessionEnd::callback_lost: return "callback_lost";
  }
  return "unknown";
}

Session::Session(Conn& conn, Backend& backend, ModuleStore& store, const SessionOptions& opts)
    : conn_(conn), be_(backend), store_(store), opts_(opts) {
  buf_.resize(std::max<size_t>(opts.read_buffer, 64 * 1024));
  param_ptrs_.resize(AVEC_MAX_PARAMS);
  if (opts.hello_timeout_ms > 0) hello_deadline_ms_ = monotonic_ms() + opts.hello_timeout_ms;
  else if (opts.stall_timeout_ms > 0) conn_.set_read_timeout_ms(opts.stall_timeout_ms);
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
    if (!hello_done_ && hello_deadline_ms_) {  // an absolute deadline: a trickling HELLO does not extend it
      long left = hello_deadline_ms_ - monotonic_ms();
      conn_.set_read_timeout_ms(left > 0 ? (int)left : 1);
    }
    ssize_t n = conn_.read_some(buf_.data() + end_, room);
    if (n == kConnTimeout) {
      // Waiting between frames is the client's right; a HELLO that does not come, or a frame that stops
      // half-way, ends the session (such a peer would otherwise hold this process and its context).
      if (hello_done_ && end_ == start_) continue;
      timeout_end_ = hello_done_ ? SessionEnd::stalled : SessionEnd::hello_timeout;
      AVEC_LOG(warn, hello_done_ ? "peer_stalled" : "hello_timeout")
          .unum("buffered", end_ - start_)
          .num("timeout_ms", hello_done_ ? opts_.stall_timeout_ms : opts_.hello_timeout_ms);
      conn_failed_ = true;
      return false;
    }
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
  if (n == 0) return true;
  ssize_t r = conn_.read_full(p, n);
  if (r == kConnTimeout) {
    timeout_end_ = SessionEnd::stalled;
    AVEC_LOG(warn, "peer_stalled").unum("missing", n).num("timeout_ms", opts_.stall_timeout_ms);
  }
  if (r <= 0) {
    conn_failed_ = r < 0;
    return false;
  }
  stats_.bytes_in += (uint64_t)n;
  return true;
}

bool Session::send_frame(const avec_frame_hdr& req, uint32_t flags, const void* a, size_t an, const void* b,
                         size_t bn) {
  if (device_output_.active() && !send_device_output(req)) return false;
  return write_frame(req, flags, a, an, b, bn);
}

// What the driver printed before this reply (device printf, flushed at the synchronization or copy the
// reply answers) goes ahead of it, with its request id, in frames of at most AVEC_DEVICE_OUTPUT_MAX bytes.
bool Session::send_device_output(const avec_frame_hdr& req) {
  if (!device_output_.take(&device_text_)) return true;
  avec_frame_hdr h = req;
  h.opcode = AVEC_OP_DEVICE_OUTPUT;
  avec_reply_hdr r = {0, 0};
  bool ok = true;
  for (size_t off = 0; ok && off < device_text_.size(); off += AVEC_DEVICE_OUTPUT_MAX) {
    size_t n = std::min<size_t>(AVEC_DEVICE_OUTPUT_MAX, device_text_.size() - off);
    ok = write_frame(h, 0, &r, sizeof r, device_text_.data() + off, n);
  }
  if (ok) stats_.device_output += device_text_.size();
  device_text_.clear();
  return ok;
}

void Session::end_device_output() {
  if (!device_output_.active()) return;
  uint64_t unsent = device_output_.stop();
  if (unsent || device_output_.dropped())
    AVEC_LOG(info, "device_output_end").unum("sent", stats_.device_output).unum("unsent", unsent)
        .unum("dropped_over_cap", device_output_.dropped());
}

bool Session::write_frame(const avec_frame_hdr& req, uint32_t flags, const void* a, size_t an, const void* b,
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
    if (conn_.write_timed_out()) {
      timeout_end_ = SessionEnd::stalled;
      AVEC_LOG(warn, "peer_stalled").str("direction", "send").num("timeout_ms", opts_.stall_timeout_ms);
    }
    conn_failed_ = true;
    return false;
  }
  stats_.bytes_out += sizeof h + an + bn;
  if (req.opcode < kOpSlots) op_stats_[req.opcode].bytes_out += sizeof h + an + bn;
  return true;
}

bool Session::reply_status(const avec_frame_hdr& req, uint32_t status) {
  avec_reply_hdr r = {status, 0};
  return reply(req, &r, sizeof r);
}

bool Session::refuse(const avec_frame_hdr& req, const Refusal& r) {
  std::string p = hello_refusal_payload(r);
  return reply(req, p.data(), p.size());
}

bool Session::table_full(const char* table, size_t entries) {
  if (entries < opts_.max_objects) return false;
  stats_.objects_refused++;
  // One line per table and session: a client hammering the limit must not flood the log.
  static const char* const kTables[] = {"contexts", "streams", "events", "modules", "functions", "pools",
                                        "vmm", "reservations", "allocations", "module_bytes", "arrays", "textures",
                                        "link states", "graph objects"};
  for (uint32_t i = 0; i < sizeof kTables / sizeof kTables[0]; i++) {
    if (strcmp(kTables[i], table) != 0) continue;
    if (tables_logged_ & (1u << i)) return true;
    tables_logged_ |= 1u << i;
  }
  AVEC_LOG(warn, "session_table_full").str("table", table).unum("entries", entries)
      .unum("limit", opts_.max_objects).str("result", "CUDA_ERROR_OUT_OF_MEMORY");
  return true;
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
        end = timeout_end_ != SessionEnd::eof ? timeout_end_ : conn_failed_ ? SessionEnd::io_error : SessionEnd::eof;
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
    if (v.hdr.opcode < kOpSlots) {
      op_stats_[v.hdr.opcode].frames++;
      op_stats_[v.hdr.opcode].bytes_in += v.frame_len;
      if (AVEC_OP_IS_SYNC(v.hdr.opcode)) op_stats_[v.hdr.opcode].round_trips++;
    }
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
        op_stats_[hdr.opcode].frames--;
        op_stats_[hdr.opcode].bytes_in -= v.frame_len;
        if (!fill(v.frame_len)) { end = conn_failed_ ? SessionEnd::io_error : SessionEnd::eof; break; }
        continue;
      }
      memcpy(stage, buf_.data() + start_ + sizeof(avec_frame_hdr) + sizeof m, have);
      start_ = end_ = 0;
      if (!read_exact(static_cast<uint8_t*>(stage) + have, v.tail_len - have)) {
        end = timeout_end_ != SessionEnd::eof ? timeout_end_ : conn_failed_ ? SessionEnd::io_error : SessionEnd::eof;
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
            : timeout_end_ != SessionEnd::eof ? timeout_end_
            : conn_failed_ ? SessionEnd::io_error : SessionEnd::eof;
      break;
    }
    if (conn_failed_) { end = timeout_end_ != SessionEnd::eof ? timeout_end_ : SessionEnd::io_error; break; }
  }
  if (callback_lost_) end = SessionEnd::callback_lost;
  teardown();
  end_device_output();  // after teardown: destroying the contexts flushes their printf buffers too
  return end;
}

bool Session::dispatch(const FrameView& v) {
  uint16_t op = v.hdr.opcode;
  errs_.set_frame(op, v.hdr.ctx);
  if (op == AVEC_OP_HELLO) return hello(v);
  if (op == AVEC_OP_GOODBYE) return false;
  if (op == AVEC_OP_PING) return reply_status(v.hdr, CUDA_SUCCESS);
  // Striped data is always taken off the stripes, whatever the session's state, so they stay in step.
  if (op == AVEC_OP_MEMCPY_HTOD_STRIPED) return htod_striped(v);
  if (op == AVEC_OP_MEMCPY_DTOH_STRIPED) return dtoh_striped(v);
  if (op == AVEC_OP_STRIPE_ATTACH) return stripe_attach(v);
  if (op == AVEC_OP_CALLBACK_ATTACH && !info_only_) return callback_attach(v);
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
          .unum("allocations", allocs_.count())
          .unum("host_rss", process_rss_bytes())
          .unum("module_store_bytes", store_.memory_bytes())
          .unum("objects", streams_.size() + events_.size() + modules_.size() + funcs_.size() + pools_.size() +
                               ctxs_.size() + vmm_.size() + reservations_.size() + arrays_.size() +
                               mipmaps_.size() + texobjs_.size() + surfobjs_.size())
          .str("ops", op_summary());
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
    Refusal why;
    std::string ticket(reinterpret_cast<const char*>(v.tail), v.tail_len);
    if (!opts_.verify_ticket(ticket, &ipc_scope_, &why)) {
      AVEC_LOG(warn, "hello_refused").str("reason", why.message).unum("code", why.reason).str("client_host", host)
          .unum("client_pid", h.client_pid);
      refuse(v.hdr, why);
      return false;
    }
  }
  if (h.flags & AVEC_HELLO_STRIPE_JOIN) {  // a stripe reaching a session's own socket: never valid here
    Refusal r;
    r.status = AVEC_STATUS_REFUSED;
    r.reason = AVEC_REFUSAL_STRIPE_REFUSED;
    r.message = "a stripe connection must be the first HELLO of a new connection to the listener";
    refuse(v.hdr, r);
    return false;
  }
  if (opts_.refuse_hello.status) {
    AVEC_LOG(warn, "hello_refused").str("reason", opts_.refuse_hello.message).unum("code", opts_.refuse_hello.reason)
        .str("client_host", host).unum("client_pid", h.client_pid);
    refuse(v.hdr, opts_.refuse_hello);
    return false;
  }
  if (ipc_scope_.empty()) ipc_scope_ = opts_.ipc_scope;
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
  avec_hello_ext ext = {};
  uint32_t wanted = (h.flags & AVEC_HELLO_STRIPES_MASK) >> AVEC_HELLO_STRIPES_SHIFT;
  if (!info_only_ && (h.flags & AVEC_HELLO_STRIPES) && wanted && opts_.stripe_channel >= 0 && opts_.max_stripes &&
      getrandom_all(stripe_token_, sizeof stripe_token_)) {
    stripes_granted_ = std::min<uint32_t>({wanted, opts_.max_stripes, AVEC_MAX_STRIPES});
    ext.stripes = stripes_granted_;
    memcpy(ext.stripe_token, stripe_token_, sizeof stripe_token_);
    rep.features |= AVEC_FEATURE_STRIPES;
  }
  // Host functions: the callback connection joins like a stripe, with the same token.
  if (!info_only_ && (h.flags & AVEC_HELLO_CALLBACKS) && opts_.stripe_channel >= 0 &&
      (stripes_granted_ || getrandom_all(stripe_token_, sizeof stripe_token_))) {
    callbacks_offered_ = true;
    memcpy(ext.stripe_token, stripe_token_, sizeof stripe_token_);
    rep.features |= AVEC_FEATURE_CALLBACKS;
  }
  if (!info_only_ && (h.flags & AVEC_HELLO_ZSTD) && opts_.compression && avec_codec_available()) {
    zstd_ = true;
    rep.features |= AVEC_FEATURE_ZSTD;
  }
  if (!info_only_) rep.features |= AVEC_FEATURE_MIRROR_WRITE_NOW;
  if (!info_only_ && share_offered()) rep.features |= AVEC_FEATURE_SHAREABLE_FD;
  // Device printf: the emulated device runs no kernels and prints nothing, but is offered it all the same
  // (one behaviour for clients and tests whatever the backend).
  if (!info_only_ && (h.flags & AVEC_HELLO_DEVICE_OUTPUT) && opts_.device_output && device_output_.start())
    rep.features |= AVEC_FEATURE_DEVICE_OUTPUT;
  hello_done_ = true;
  // From now on only a stall (mid-frame, or a client that does not read its replies) ends the session.
  conn_.set_read_timeout_ms(opts_.stall_timeout_ms);
  AVEC_LOG(info, "session_start")
      .str("client_host", host)
      .unum("client_pid", h.client_pid)
      .str("backend", be_.name())
      .unum("memory_limit", limit_)
      .num("info_only", info_only_)
      .unum("stripes", stripes_granted_)
      .num("callbacks", callbacks_offered_)
      .num("compression", zstd_)
      .num("device_output", device_output_.active());
  std::string body(reinterpret_cast<const char*>(devices_.data()), devices_.size() * sizeof(avec_device_info));
  if (rep.features) body.append(reinterpret_cast<const char*>(&ext), sizeof ext);
  // never behind device output: the client learns from this reply that DEVICE_OUTPUT frames may come
  return write_frame(v.hdr, 0, &rep, sizeof rep, body.data(), body.size());
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
  drop_ctx_arrays(ctx);  // texture objects may refer to memory and arrays of the context: they go first
  drop_ctx_links(ctx);
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
  // VMM mappings belong to the device's address space, not to a context: memext_teardown unmaps them.
  auto gone = allocs_.remove_if([&](const Alloc& a) { return a.ctx == ctx && a.kind != AllocKind::vmm; });
  for (const Alloc& a : gone) release_alloc(a);
}

void Session::unpublish_export(uint64_t base) {
  auto ex = ipc_exports_.find(base);
  if (ex == ipc_exports_.end()) return;
  if (opts_.ipc) opts_.ipc->unpublish(ex->second);
  ipc_exports_.erase(ex);
}

void Session::release_alloc(const Alloc& a) {
  unpublish_export(a.base);
  switch (a.kind) {
    case AllocKind::global: case AllocKind::vmm: case AllocKind::graph: return;
    case AllocKind::ipc: be_.ipc_close_mem(a.base); return;
    default: be_.mem_free(a.base); stats_.freed_allocs++;
  }
}

void Session::teardown() {
  if (torn_down_) return;
  torn_down_ = true;
  if (opts_.before_teardown) opts_.before_teardown();
  callbacks_.close();  // host functions still pending return at once: the client is gone or leaving
  // Objects are freed in their own context, then the contexts go.
  for (auto& c : ctxs_) {
    if (be_.ctx_set_current(c.second.be) != CUDA_SUCCESS) continue;
    have_cur_ = true;
    cur_be_ctx_ = c.second.be;
    be_.ctx_synchronize();
    drop_ctx_objects(c.first);
  }
  graph_teardown();  // executable graphs may name memory that goes next
  while (!links_.empty()) drop_link(links_.begin());  // of contexts that could not become current
  memext_teardown();
  arrays_forget();
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

}  // namespace avec
