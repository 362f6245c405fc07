#include "callbacks.h"

#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "log.h"
#include "stripes.h"

namespace avec {

CallbackChannel::~CallbackChannel() {
  close();
  if (conn_) ::close(conn_->fd());
}

std::string CallbackChannel::attach(int channel, uint64_t session_id, const uint8_t token[AVEC_STRIPE_TOKEN_BYTES],
                                    int timeout_ms) {
  if (conn_) return "a callback connection is already attached";
  if (channel < 0) return "this server cannot route joined connections";
  std::string why = "no callback connection arrived in time";
  // The client connected before it asked: the connection is there or close. A few stray joins (refused)
  // get a short wait each after the first; none of this can keep the session here for long.
  for (int tries = 0; tries < 4; tries++) {
    int fd = receive_joined_fd(channel, tries ? 1000 : timeout_ms);
    if (fd < 0) break;
    int64_t index = answer_join(fd, session_id, token, [](uint32_t i) -> const char* {
      return i == AVEC_JOIN_CALLBACKS ? nullptr : "a stripe joined when the callback connection was expected";
    }, &why);
    if (index < 0) continue;
    conn_.reset(new FdConn(fd));
    conn_->set_read_timeout_ms(0);  // a host function may run as long as the program wants
    return "";
  }
  return why;
}

void CallbackChannel::close() {
  closed_ = true;
  if (conn_) shutdown(conn_->fd(), SHUT_RDWR);
}

bool CallbackChannel::fail(const char* why) {
  if (!lost_.exchange(true) && !closed_) {
    AVEC_LOG(warn, "callback_channel_lost").str("reason", why).unum("callbacks_run", runs_);
    if (on_lost_) on_lost_(why);
  }
  return false;
}

bool CallbackChannel::run(uint64_t id, const Copy& copy) {
  std::lock_guard<std::mutex> g(mu_);
  if (!conn_ || closed_ || lost_) return false;
  uint32_t seq = ++seq_;
  bool ok = serve(seq, id, copy);
  if (ok) runs_++;
  return ok;
}

// RUN, then the client's READ / WRITE requests until its DONE.
bool CallbackChannel::serve(uint32_t seq, uint64_t id, const Copy& copy) {
  auto send = [&](const avec_callback& c, const void* data, size_t n) {
    avec_frame_hdr h = {AVEC_WIRE_MAGIC, AVEC_WIRE_VERSION, AVEC_OP_CALLBACK, 0, seq, 0, (uint32_t)(sizeof c + n)};
    struct iovec iov[3] = {{&h, sizeof h}, {const_cast<avec_callback*>(&c), sizeof c}, {const_cast<void*>(data), n}};
    return conn_->write_all(iov, n ? 3 : 2);
  };
  avec_callback run = {};
  run.kind = AVEC_CB_RUN;
  run.id = id;
  if (!send(run, nullptr, 0)) return fail("cannot send to the client");
  std::vector<uint8_t> data;
  for (;;) {
    avec_frame_hdr h;
    avec_callback c;
    if (conn_->read_full(&h, sizeof h) != (ssize_t)sizeof h) return fail("the client closed the callback connection");
    if (h.magic != AVEC_WIRE_MAGIC || h.version != AVEC_WIRE_VERSION || h.opcode != AVEC_OP_CALLBACK_REPLY ||
        h.request_id != seq || h.payload_len < sizeof c || conn_->read_full(&c, sizeof c) != (ssize_t)sizeof c)
      return fail("not a callback reply of the callback in progress");
    size_t extra = h.payload_len - sizeof c;
    bool sized = c.size <= AVEC_CHUNK && extra == (c.kind == AVEC_CB_WRITE ? c.size : 0);
    if (!sized) return fail("callback reply length does not match its kind and size");
    switch (c.kind) {
      case AVEC_CB_DONE:
        if (c.status) AVEC_LOG(warn, "callback_not_run").unum("id", id).unum("status", c.status);
        return true;
      case AVEC_CB_READ: {
        data.resize(c.size);
        avec_callback d = {};
        d.kind = AVEC_CB_DATA;
        d.addr = c.addr;
        d.status = c.size ? (uint32_t)copy(c.addr, data.data(), c.size, false) : 0;
        d.size = d.status ? 0 : c.size;
        if (!send(d, data.data(), d.size)) return fail("cannot send to the client");
        break;
      }
      case AVEC_CB_WRITE: {
        data.resize(c.size);
        if (c.size && conn_->read_full(data.data(), c.size) != (ssize_t)c.size)
          return fail("the client closed the callback connection");
        CUresult r = c.size ? copy(c.addr, data.data(), c.size, true) : CUDA_SUCCESS;
        if (r) AVEC_LOG(warn, "callback_write_failed").unum("addr", c.addr).unum("size", c.size).num("result", r);
        break;
      }
      default:
        return fail("unknown callback reply kind");
    }
  }
}

}  // namespace avec
