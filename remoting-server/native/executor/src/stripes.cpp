#include "stripes.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "frame.h"
#include "log.h"
#include "refusal.h"

namespace avec {

namespace {
long now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

bool same_token(const uint8_t* a, const uint8_t* b) {
  uint8_t d = 0;
  for (size_t i = 0; i < AVEC_STRIPE_TOKEN_BYTES; i++) d |= a[i] ^ b[i];
  return d == 0;
}

void send_bytes(int fd, const std::string& s) {
  ssize_t w = send(fd, s.data(), s.size(), MSG_NOSIGNAL);
  (void)w;
}
}  // namespace

int64_t answer_join(int fd, uint64_t session_id, const uint8_t token[AVEC_STRIPE_TOKEN_BYTES],
                    const std::function<const char*(uint32_t index)>& index_ok, std::string* why) {
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0 && (fl & O_NONBLOCK)) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  struct timeval tv = {1, 0};  // the listener only forwards complete HELLOs
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  uint8_t buf[sizeof(avec_frame_hdr) + sizeof(avec_hello) + sizeof(avec_stripe_join)];
  ssize_t got = recv(fd, buf, sizeof buf, MSG_WAITALL);
  FrameView v;
  avec_stripe_join j = {};
  const char* bad = nullptr;
  if (got != (ssize_t)sizeof buf || frame_decode(buf, sizeof buf, &v) != Decode::ok || v.hdr.opcode != AVEC_OP_HELLO)
    bad = "not a stripe HELLO";
  else if (!(v.fixed<avec_hello>().flags & AVEC_HELLO_STRIPE_JOIN)) bad = "not a stripe HELLO";
  else bad = stripe_join_decode(v.tail, v.tail_len, &j);
  if (!bad && j.session_id != session_id) bad = "stripe names another session";
  if (!bad && !same_token(j.token, token)) bad = "stripe token does not match the session's";
  if (!bad) bad = index_ok(j.index);
  uint32_t rid = got >= (ssize_t)sizeof(avec_frame_hdr) ? v.hdr.request_id : 0;
  if (bad) {
    AVEC_LOG(warn, "stripe_refused").str("reason", bad).str("peer", peer_address(fd));
    Refusal r;
    r.status = AVEC_STATUS_REFUSED;
    r.reason = AVEC_REFUSAL_STRIPE_REFUSED;
    r.message = bad;
    send_bytes(fd, hello_refusal_frame(rid, r));
    shutdown(fd, SHUT_WR);
    close(fd);
    *why = bad;
    return -1;
  }
  avec_frame_hdr h = {AVEC_WIRE_MAGIC, AVEC_WIRE_VERSION, AVEC_OP_HELLO, AVEC_F_REPLY, rid, 0, sizeof(avec_hello_reply)};
  avec_hello_reply rep = {};
  rep.session_id = session_id;
  std::string frame(reinterpret_cast<const char*>(&h), sizeof h);
  frame.append(reinterpret_cast<const char*>(&rep), sizeof rep);
  send_bytes(fd, frame);
  tune_socket(fd);
  return j.index;
}

StripeSet::~StripeSet() { close_all(); }

void StripeSet::close_all() {
  {
    std::lock_guard<std::mutex> g(mu_);
    job_ = Job::quit;
    generation_++;
  }
  cv_.notify_all();
  for (auto& w : workers_) {
    shutdown(w.conn->fd(), SHUT_RDWR);
    if (w.thread.joinable()) w.thread.join();
    close(w.conn->fd());
  }
  workers_.clear();
  job_ = Job::none;
}

std::string StripeSet::attach(int channel, uint64_t session_id, const uint8_t token[AVEC_STRIPE_TOKEN_BYTES],
                              uint32_t count, int timeout_ms, int stall_timeout_ms) {
  close_all();
  if (channel < 0) return "this server cannot route stripe connections";
  if (count == 0 || count > AVEC_MAX_STRIPES) return "stripe count out of range";
  std::vector<int> by_index(count, -1);
  uint32_t have = 0, seen = 0, refused = 0;
  long deadline = now_ms() + timeout_ms;
  std::string why;
  // Bounded: a flood of bad joins cannot keep the session here beyond the deadline or the count. Once as
  // many joins as stripes were asked for have come (good or refused), waiting longer only delays the
  // client's fallback to one connection (and made the answer arrive after clients stopped waiting).
  while (have < count && have + refused < count && seen < count + 2 * AVEC_MAX_STRIPES) {
    long left = deadline - now_ms();
    if (left <= 0) break;
    int fd = receive_joined_fd(channel, (int)left);
    if (fd < 0) continue;
    seen++;
    std::string bad;
    int64_t index = answer_join(fd, session_id, token, [&](uint32_t i) -> const char* {
      if (i >= count) return "stripe index beyond the granted stripes";
      return by_index[i] >= 0 ? "stripe index already attached" : nullptr;
    }, &bad);
    if (index < 0) {
      why = bad;
      refused++;
      continue;
    }
    by_index[index] = fd;
    have++;
  }
  if (have < count) {
    for (int fd : by_index)
      if (fd >= 0) close(fd);
    return why.empty() ? "only " + std::to_string(have) + " of " + std::to_string(count) + " stripes arrived in time" : why;
  }
  job_ = Job::none;
  workers_.resize(count);
  for (uint32_t i = 0; i < count; i++) {
    workers_[i].conn.reset(new FdConn(by_index[i]));
    workers_[i].conn->set_read_timeout_ms(stall_timeout_ms);
    workers_[i].conn->set_write_timeout_ms(stall_timeout_ms);
  }
  failed_ = false;
  uint64_t start = generation_;  // jobs before this one are not theirs (close_all's quit among them)
  for (uint32_t i = 0; i < count; i++) workers_[i].thread = std::thread([this, i, start] { run(i, start); });
  return "";
}

void StripeSet::run(size_t i, uint64_t seen) {
  for (;;) {
    Job j;
    uint8_t* buf;
    size_t size;
    uint64_t seq;
    {
      std::unique_lock<std::mutex> g(mu_);
      cv_.wait(g, [&] { return generation_ != seen; });
      seen = generation_;
      j = job_;
      buf = buf_;
      size = size_;
      seq = seq_;
    }
    if (j == Job::quit) return;
    size_t n = workers_.size();
    size_t b = stripe_slice_begin(size, i, n), e = stripe_slice_begin(size, i + 1, n);
    FdConn& c = *workers_[i].conn;
    bool ok = true;
    if (j == Job::read) {
      avec_stripe_piece p;
      ok = c.read_full(&p, sizeof p) == (ssize_t)sizeof p && p.magic == AVEC_STRIPE_PIECE_MAGIC && p.len == e - b &&
           p.seq == seq && (e == b || c.read_full(buf + b, e - b) == (ssize_t)(e - b));
    } else {
      avec_stripe_piece p = {AVEC_STRIPE_PIECE_MAGIC, j == Job::abort ? 0u : (uint32_t)(e - b), j == Job::abort ? ~0ull : seq};
      struct iovec iov[2] = {{&p, sizeof p}, {buf + b, j == Job::abort ? 0 : e - b}};
      ok = c.write_all(iov, iov[1].iov_len ? 2 : 1);
    }
    std::lock_guard<std::mutex> g(mu_);
    if (!ok) failed_ = true;
    if (--pending_ == 0) done_cv_.notify_one();
  }
}

bool StripeSet::dispatch(Job j, uint8_t* buf, size_t size, uint64_t seq) {
  if (workers_.empty()) return false;
  std::unique_lock<std::mutex> g(mu_);
  if (failed_) return false;
  job_ = j;
  buf_ = buf;
  size_ = size;
  seq_ = seq;
  pending_ = workers_.size();
  generation_++;
  cv_.notify_all();
  done_cv_.wait(g, [&] { return pending_ == 0; });
  return !failed_;
}

bool StripeSet::read_chunk(uint8_t* buf, size_t size, uint64_t seq) { return dispatch(Job::read, buf, size, seq); }
bool StripeSet::write_chunk(const uint8_t* buf, size_t size, uint64_t seq) {
  return dispatch(Job::write, const_cast<uint8_t*>(buf), size, seq);
}
bool StripeSet::write_abort() { return dispatch(Job::abort, nullptr, 0, 0); }

}  // namespace avec
