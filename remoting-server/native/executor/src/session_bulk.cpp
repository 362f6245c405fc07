// Bulk copy paths negotiated in HELLO: chunks whose bytes travel on the stripe connections, and
// zstd-compressed chunks (docs/protocol.md, "Stripes" and "Compression").
#include <algorithm>
#include <cstring>

#include <sys/socket.h>

#include "log.h"
#include "session.h"

namespace avec {

namespace {
constexpr int kAttachTimeoutMs = 10000;  // the client opens its stripes right after the HELLO reply

class ReplySinkFn final : public ChunkSink {
 public:
  explicit ReplySinkFn(std::function<bool(const void*, size_t, bool)> f) : f_(std::move(f)) {}
  bool send(const void* data, size_t len, bool last) override { return f_(data, len, last); }

 private:
  std::function<bool(const void*, size_t, bool)> f_;
};
}  // namespace

bool Session::stripe_attach(const FrameView& v) {
  avec_stripe_attach a = v.fixed<avec_stripe_attach>();
  if (!stripes_granted_ || a.count != stripes_granted_ || stripes_.size()) {
    AVEC_LOG(warn, "stripe_attach_refused").unum("count", a.count).unum("granted", stripes_granted_)
        .unum("attached", stripes_.size());
    return reply_status(v.hdr, CUDA_ERROR_NOT_SUPPORTED);
  }
  std::string why = stripes_.attach(opts_.stripe_channel, opts_.session_id, stripe_token_, a.count, kAttachTimeoutMs,
                                    opts_.stall_timeout_ms);
  if (!why.empty()) {
    AVEC_LOG(warn, "stripe_attach_failed").str("reason", why).unum("count", a.count);
    stripes_granted_ = 0;  // one attempt per session: the client goes on with one connection
    return reply_status(v.hdr, AVEC_STATUS_REFUSED);
  }
  AVEC_LOG(info, "stripes_attached").unum("count", a.count);
  return reply_status(v.hdr, CUDA_SUCCESS);
}

// The callback connection (host functions): joined like a stripe, with the session's token. One per session.
bool Session::callback_attach(const FrameView& v) {
  if (!callbacks_offered_ || callbacks_.attached()) {
    AVEC_LOG(warn, "callback_attach_refused").num("offered", callbacks_offered_).num("attached", callbacks_.attached());
    return reply_status(v.hdr, CUDA_ERROR_NOT_SUPPORTED);
  }
  std::string why = callbacks_.attach(opts_.stripe_channel, opts_.session_id, stripe_token_, kAttachTimeoutMs);
  if (!why.empty()) {
    AVEC_LOG(warn, "callback_attach_failed").str("reason", why);
    callbacks_offered_ = false;  // one attempt per session: host functions stay refused
    return reply_status(v.hdr, AVEC_STATUS_REFUSED);
  }
  // A client that loses its callback connection cannot run its host functions any more: the session ends
  // (shutting the session's socket down wakes its loop wherever it waits).
  callbacks_.set_on_lost([this](const char*) {
    callback_lost_ = true;
    if (auto* fd = dynamic_cast<FdConn*>(&conn_)) shutdown(fd->fd(), SHUT_RDWR);
  });
  be_.set_host_function_runner([this](uint64_t id) { run_host_function(id); });
  AVEC_LOG(info, "callbacks_attached");
  return reply_status(v.hdr, CUDA_SUCCESS);
}

void Session::run_host_function(uint64_t id) {
  callbacks_.run(id, [this](uint64_t dptr, void* host, size_t n, bool to_device) {
    return be_.host_function_copy(dptr, host, n, to_device);
  });
}

// One striped H2D chunk: the slices are read in parallel into staging memory (pinned on a GPU), then the
// copy is submitted like a staged MEMCPY_HTOD chunk, so it overlaps the next chunk's arrival.
bool Session::htod_striped(const FrameView& v) {
  const avec_frame_hdr& h = v.hdr;
  avec_memcpy_striped m = v.fixed<avec_memcpy_striped>();
  if (!stripes_.size()) {
    bad_frame(&h, "striped chunk without attached stripes");
    return false;
  }
  bool run = !errs_.sticky() && !info_only_;
  void* stage = nullptr;
  if (run) {
    use_ctx(h.ctx);  // staging belongs to the frame's context; a failure surfaces in htod()
    stage = be_.htod_staging(m.size);
  }
  bool staged = stage != nullptr;
  if (!staged) {
    if (bulk_buf_.size() < m.size) bulk_buf_.resize(m.size);
    stage = bulk_buf_.data();
  }
  if (!stripes_.read_chunk(static_cast<uint8_t*>(stage), m.size, h2d_seq_++)) {
    AVEC_LOG(warn, "stripe_failed").str("direction", "h2d").unum("chunk", h2d_seq_ - 1);
    conn_failed_ = true;
    return false;
  }
  if (!run) return true;
  avec_memcpy_htod c = {m.addr, m.stream, 0};
  htod(h, c, static_cast<uint8_t*>(stage), m.size, staged);
  return true;
}

// A striped D2H copy: every chunk's slices go out on the stripes; the control connection gets only the
// final status. Whenever the data does not (all) go, a piece of length 0 on every stripe tells the client
// to stop reading them.
bool Session::dtoh_striped(const FrameView& v) {
  const avec_frame_hdr& h = v.hdr;
  avec_memcpy_striped m = v.fixed<avec_memcpy_striped>();
  if (!stripes_.size()) {
    bad_frame(&h, "striped copy without attached stripes");
    return false;
  }
  uint32_t r = errs_.take_pending();
  if (!r && info_only_) r = CUDA_ERROR_NOT_PERMITTED;
  BH s = 0;
  if (!r) r = use_ctx(h.ctx);
  if (!r) r = stream((h.flags & AVEC_F_ASYNC) ? m.stream : AVEC_STREAM_LEGACY, &s);
  if (!r && m.size && !range_ok(m.addr, m.size)) r = CUDA_ERROR_INVALID_VALUE;
  bool all_sent = m.size == 0, stripe_ok = true;
  if (!r && m.size) {
    uint64_t sent = 0;
    ReplySinkFn sink([&](const void* d, size_t n, bool last) {
      // The backend hands out chunks of at most AVEC_CHUNK; the client expects exactly those sizes.
      stripe_ok = stripes_.write_chunk(static_cast<const uint8_t*>(d), n, d2h_seq_++);
      sent += n;
      all_sent = stripe_ok && last && sent == m.size;
      return stripe_ok;
    });
    r = be_.memcpy_dtoh(m.addr, m.size, s, (h.flags & AVEC_F_ASYNC) != 0, sink);
    if (r == CUDA_SUCCESS && !all_sent) r = CUDA_ERROR_UNKNOWN;
    errs_.record_sync(r);
  }
  if (!stripe_ok) {
    AVEC_LOG(warn, "stripe_failed").str("direction", "d2h").unum("chunk", d2h_seq_ - 1);
    conn_failed_ = true;
    return false;
  }
  if (!all_sent && !stripes_.write_abort()) {
    conn_failed_ = true;
    return false;
  }
  return reply_status(h, r);
}

void Session::htod_compressed(const FrameView& v) {
  const avec_frame_hdr& h = v.hdr;
  if (errs_.sticky()) return;
  avec_zchunk z;
  memcpy(&z, v.tail, sizeof z);
  if (!zstd_) {
    errs_.record_async(CUDA_ERROR_NOT_SUPPORTED);
    return;
  }
  if (info_only_) {
    errs_.record_async(CUDA_ERROR_NOT_PERMITTED);
    return;
  }
  use_ctx(h.ctx);
  void* stage = be_.htod_staging(z.raw_len);
  bool staged = stage != nullptr;
  if (!staged) {
    if (bulk_buf_.size() < z.raw_len) bulk_buf_.resize(z.raw_len);
    stage = bulk_buf_.data();
  }
  if (avec_codec_decompress(&z, v.tail + sizeof z, v.tail_len - sizeof z, static_cast<uint8_t*>(stage))) {
    // The chunk is lost: the program sees the failure at its next synchronous call.
    AVEC_LOG(warn, "decompress_failed").unum("raw_len", z.raw_len).unum("codec", z.codec);
    errs_.record_async(CUDA_ERROR_INVALID_VALUE);
    return;
  }
  htod(h, v.fixed<avec_memcpy_htod>(), static_cast<uint8_t*>(stage), z.raw_len, staged);
}

}  // namespace avec
