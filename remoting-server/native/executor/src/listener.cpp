#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "avec_wire.h"
#include "conn.h"
#include "frame.h"
#include "join_channel.h"
#include "log.h"
#include "refusal.h"
#include "sha256.h"

namespace avec {
namespace {

int g_wake_fd = -1;  // write end of the self-pipe: SIGCHLD and SIGTERM wake the poll loop
volatile sig_atomic_t g_stop = 0;

void wake() {
  char b = 1;
  ssize_t w = write(g_wake_fd, &b, 1);  // non-blocking; a full pipe already means "wake up"
  (void)w;
}
void on_child(int) { int e = errno; wake(); errno = e; }
void on_stop(int) { int e = errno; g_stop = 1; wake(); errno = e; }

long now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}


void set_rcvlowat(int fd, size_t bytes) {
  int v = (int)bytes;
  setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof v);
}

// Consumes what the client sent (closing with unread bytes would send RST and could lose the reply),
// writes `reply` without blocking, closes. A client that does not read it loses nothing of ours.
void answer_and_close(int fd, const std::string& reply) {
  char sink[4096];
  for (int i = 0; i < 4; i++) {
    ssize_t n = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
    if (n <= 0) break;
  }
  if (!reply.empty()) {
    ssize_t w = send(fd, reply.data(), reply.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)w;
  }
  shutdown(fd, SHUT_WR);
  close(fd);
}

struct Pending {
  int fd;
  long deadline;
  size_t need;
  std::string peer;
};

struct Child {
  std::string session_id, claim;
  bool info_only;
  uint64_t number;     // session_number(session_id)
  int channel;         // our end of the stripe channel (-1: none)
  uint32_t forwarded;  // stripe connections passed to it so far
};

class ListenerLoop {
 public:
  ListenerLoop(const ListenerOptions& o, std::string prefix, const SessionStarter& start)
      : o_(o), prefix_(std::move(prefix)), start_(start) {}
  int run();

 private:
  bool open_socket();
  void accept_all();
  void progress(Pending& p, short revents, bool* keep);
  void admit(Pending& p, const FrameView& v);
  void route_stripe(Pending& p, const FrameView& v);
  void refuse(Pending& p, uint32_t request_id, const Refusal& r, const char* event);
  void reap();
  bool reload_keys(bool force);
  size_t sessions_of(const std::string& claim) const;

  const ListenerOptions& o_;
  std::string prefix_;
  const SessionStarter& start_;
  int lfd_ = -1, wake_r_ = -1;
  std::vector<Pending> pending_;
  std::map<pid_t, Child> children_;
  std::unique_ptr<TicketVerifier> verifier_;
  long keys_loaded_ms_ = 0;
  long long keys_mtime_ = 0;
  long accept_paused_until_ = 0;
  uint64_t counter_ = 0;
  std::vector<uint8_t> buf_ = std::vector<uint8_t>(sizeof(avec_frame_hdr) + sizeof(avec_hello) + AVEC_MAX_TICKET);
  struct Counts {
    uint64_t accepted = 0, admitted = 0, refused = 0, timed_out = 0, bad = 0, closed = 0;
  } n_;
};

bool ListenerLoop::open_socket() {
  struct addrinfo hints = {}, *res = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  int gai = getaddrinfo(o_.host.empty() ? nullptr : o_.host.c_str(), o_.port.c_str(), &hints, &res);
  if (gai) {
    AVEC_LOG(error, "listen_failed").str("address", o_.host + ":" + o_.port).str("error", gai_strerror(gai));
    return false;
  }
  for (auto* ai = res; ai; ai = ai->ai_next) {
    lfd_ = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (lfd_ < 0) continue;
    int one = 1;
    setsockopt(lfd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd_, ai->ai_addr, ai->ai_addrlen) == 0 && listen(lfd_, 512) == 0) break;
    close(lfd_);
    lfd_ = -1;
  }
  freeaddrinfo(res);
  if (lfd_ < 0) {
    AVEC_LOG(error, "listen_failed").str("address", o_.host + ":" + o_.port).str("error", strerror(errno));
    return false;
  }
  return true;
}

bool ListenerLoop::reload_keys(bool force) {
  if (o_.ticket_keys.empty()) return true;
  long now = now_ms();
  // Keys rotate under a mounted Secret: re-read the directory, but at most once a second, so a
  // connection flood cannot turn into a flood of directory reads.
  // Forced (a kid not seen yet): only when the directory changed since the last read (one stat), so
  // unknown-kid tickets cannot turn into directory reads either.
  struct stat st = {};
  long long mtime = stat(o_.ticket_keys.c_str(), &st) == 0 ? st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec : 0;
  if (verifier_ && (force ? mtime == keys_mtime_ : now - keys_loaded_ms_ < 1000)) return true;
  keys_loaded_ms_ = now;
  keys_mtime_ = mtime;
  std::string err;
  std::unique_ptr<TicketVerifier> fresh = TicketVerifier::from_file(o_.ticket_keys, o_.node, &err);
  if (fresh) verifier_ = std::move(fresh);
  else if (verifier_) AVEC_LOG(warn, "ticket_keys_reload_failed").str("reason", err).str("action", "keeping the previous keys");
  else AVEC_LOG(error, "ticket_keys_unreadable").str("reason", err);
  return verifier_ != nullptr;
}

size_t ListenerLoop::sessions_of(const std::string& claim) const {
  size_t n = 0;
  for (auto& c : children_) n += c.second.claim == claim && !c.second.info_only;
  return n;
}

void ListenerLoop::reap() {
  int status;
  pid_t done;
  while ((done = waitpid(-1, &status, WNOHANG)) > 0) {
    auto it = children_.find(done);
    AVEC_LOG(info, "session_process_exit")
        .num("child", done)
        .num("status", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status))
        .str("session_id", it != children_.end() ? it->second.session_id : "")
        .unum("live_sessions", children_.size() - (it != children_.end()));
    if (it != children_.end()) {
      if (it->second.channel >= 0) close(it->second.channel);
      children_.erase(it);
    }
  }
}

void ListenerLoop::refuse(Pending& p, uint32_t request_id, const Refusal& r, const char* event) {
  n_.refused++;
  AVEC_LOG(warn, event).str("reason", r.message).unum("code", r.reason).str("peer", p.peer);
  answer_and_close(p.fd, hello_refusal_frame(request_id, r));
}

void ListenerLoop::accept_all() {
  for (;;) {
    int cfd = accept4(lfd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (cfd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      // EMFILE/ENFILE/ENOBUFS: stop accepting for a moment instead of spinning on a readable socket.
      AVEC_LOG(error, "accept_failed").str("error", strerror(errno)).str("action", "pausing accepts for 100 ms");
      accept_paused_until_ = now_ms() + 100;
      return;
    }
    n_.accepted++;
    // First wake-up once a frame header is there: a bad header is refused without waiting for more.
    Pending p{cfd, now_ms() + o_.hello_timeout_ms, sizeof(avec_frame_hdr), peer_address(cfd)};
    size_t from_peer = 0;
    for (auto& q : pending_) from_peer += q.peer == p.peer;
    if (pending_.size() >= o_.max_pending || from_peer >= o_.max_pending_per_peer) {
      Refusal r;
      r.status = AVEC_STATUS_REFUSED;
      r.reason = AVEC_REFUSAL_TOO_MANY_CONNECTIONS;
      r.message = pending_.size() >= o_.max_pending
                      ? "server has " + std::to_string(pending_.size()) + " connections waiting for their HELLO (limit " +
                            std::to_string(o_.max_pending) + ")"
                      : "this address has " + std::to_string(from_peer) + " connections waiting for their HELLO (limit " +
                            std::to_string(o_.max_pending_per_peer) + ")";
      refuse(p, 0, r, "connection_refused");
      continue;
    }
    int one = 1;
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    set_rcvlowat(cfd, p.need);
    pending_.push_back(p);
  }
}

// One readable pending connection: peek at what arrived; refuse, admit, or keep waiting.
void ListenerLoop::progress(Pending& p, short revents, bool* keep) {
  *keep = false;
  ssize_t got = recv(p.fd, buf_.data(), std::min(p.need, buf_.size()), MSG_PEEK | MSG_DONTWAIT);
  if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    *keep = true;
    return;
  }
  if (got <= 0) {  // closed (or reset) before a complete HELLO
    n_.closed++;
    close(p.fd);
    return;
  }
  size_t n = (size_t)got;
  avec_frame_hdr h = {};
  if (n >= sizeof h) {
    memcpy(&h, buf_.data(), sizeof h);
    const char* bad = nullptr;
    if (h.magic != AVEC_WIRE_MAGIC) bad = "bad magic";
    else if (h.version != AVEC_WIRE_VERSION) bad = "wire version";
    else if (h.opcode != AVEC_OP_HELLO) bad = "first frame is not HELLO";
    else if (h.payload_len < sizeof(avec_hello) || h.payload_len > sizeof(avec_hello) + AVEC_MAX_TICKET) bad = "HELLO length";
    if (bad) {
      n_.bad++;
      AVEC_LOG(warn, "hello_rejected").str("reason", bad).str("peer", p.peer);
      bool version = h.magic == AVEC_WIRE_MAGIC && h.version != AVEC_WIRE_VERSION;
      answer_and_close(p.fd, status_reply_frame(AVEC_OP_HELLO, h.magic == AVEC_WIRE_MAGIC ? h.request_id : 0,
                                                version ? AVEC_STATUS_VERSION : AVEC_STATUS_BAD_FRAME));
      return;
    }
    p.need = sizeof h + h.payload_len;
  }
  if (n < p.need) {
    if (revents & (POLLRDHUP | POLLHUP | POLLERR)) {  // the rest can never come
      n_.closed++;
      close(p.fd);
      return;
    }
    set_rcvlowat(p.fd, p.need);
    *keep = true;
    return;
  }
  FrameView v;
  if (frame_decode(buf_.data(), p.need, &v) != Decode::ok) {
    n_.bad++;
    AVEC_LOG(warn, "hello_rejected").str("reason", v.error ? v.error : "bad HELLO").str("peer", p.peer);
    answer_and_close(p.fd, status_reply_frame(AVEC_OP_HELLO, h.request_id, AVEC_STATUS_BAD_FRAME));
    return;
  }
  if (v.fixed<avec_hello>().flags & AVEC_HELLO_STRIPE_JOIN) return route_stripe(p, v);
  admit(p, v);
}

// A stripe connection carries no ticket: it goes to the session it names, which checks its token (only
// that session process knows it). Unknown sessions are refused here.
void ListenerLoop::route_stripe(Pending& p, const FrameView& v) {
  avec_stripe_join j;
  const char* bad = stripe_join_decode(v.tail, v.tail_len, &j);
  Child* child = nullptr;
  if (!bad) {
    for (auto& c : children_)
      if (c.second.number == j.session_id && c.second.channel >= 0) child = &c.second;
    if (!child) bad = "no such session on this server";
    else if (child->forwarded >= kMaxForwardedStripes) bad = "the session has taken all the stripe connections it may";
  }
  if (!bad) {
    set_rcvlowat(p.fd, 1);
    if (pass_fd(child->channel, p.fd)) {
      child->forwarded++;
      AVEC_LOG(debug, "stripe_routed").str("session_id", child->session_id).unum("index", j.index).str("peer", p.peer);
      close(p.fd);
      return;
    }
    bad = "the session does not take stripe connections now";
  }
  Refusal r;
  r.status = AVEC_STATUS_REFUSED;
  r.reason = AVEC_REFUSAL_STRIPE_REFUSED;
  r.message = bad;
  refuse(p, v.hdr.request_id, r, "stripe_refused");
}

void ListenerLoop::admit(Pending& p, const FrameView& v) {
  avec_hello hello = v.fixed<avec_hello>();
  if (hello.wire_version != AVEC_WIRE_VERSION) {
    n_.bad++;
    AVEC_LOG(warn, "hello_rejected").str("reason", "wire version").unum("client_version", hello.wire_version).str("peer", p.peer);
    answer_and_close(p.fd, status_reply_frame(AVEC_OP_HELLO, v.hdr.request_id, AVEC_STATUS_VERSION));
    return;
  }
  bool info_only = (hello.flags & AVEC_HELLO_INFO_ONLY) != 0;
  TicketClaims claims;
  bool have_claims = false;
  if (!o_.ticket_keys.empty()) {
    std::string ticket(reinterpret_cast<const char*>(v.tail), v.tail_len), why;
    if (!reload_keys(false)) {
      Refusal r;
      r.status = AVEC_STATUS_REFUSED;
      r.reason = AVEC_REFUSAL_SERVER_ERROR;
      r.message = "the server cannot read its ticket keys";
      return refuse(p, v.hdr.request_id, r, "hello_refused");
    }
    bool ok = verifier_->verify(ticket, &why, &claims);
    if (!ok && why == "unknown-kid" && reload_keys(true)) ok = verifier_->verify(ticket, &why, &claims);  // a new key
    if (!ok) return refuse(p, v.hdr.request_id, ticket_refusal(why), "hello_refused");
    have_claims = true;
  }
  Refusal r;
  r.status = AVEC_STATUS_REFUSED;
  if (children_.size() >= o_.max_sessions) {
    r.reason = AVEC_REFUSAL_NODE_SESSION_LIMIT;
    r.message = "server has " + std::to_string(children_.size()) + " sessions (limit " + std::to_string(o_.max_sessions) + ")";
    return refuse(p, v.hdr.request_id, r, "hello_refused");
  }
  if (have_claims && !info_only) {
    size_t cap = o_.max_sessions_per_claim;
    if (claims.max_sessions > 0 && (size_t)claims.max_sessions < cap) cap = (size_t)claims.max_sessions;
    size_t live = sessions_of(claims.uid);
    if (live >= cap) {
      r.reason = AVEC_REFUSAL_CLAIM_SESSION_LIMIT;
      r.message = "claim " + claims.ns + "/" + claims.claim + " has " + std::to_string(live) + " sessions (limit " +
                  std::to_string(cap) + ")";
      return refuse(p, v.hdr.request_id, r, "hello_refused");
    }
  }
  // Admitted: the session process reads the HELLO itself, with blocking I/O.
  set_rcvlowat(p.fd, 1);
  int fl = fcntl(p.fd, F_GETFL);
  if (fl >= 0) fcntl(p.fd, F_SETFL, fl & ~O_NONBLOCK);
  counter_++;
  std::string sid = prefix_ + "-" + std::to_string(counter_);
  int chan[2] = {-1, -1};  // [0]: ours, [1]: the session's (datagrams: one descriptor each)
  if (!info_only && socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, chan) != 0) chan[0] = chan[1] = -1;
  pid_t pid = fork();
  if (pid == 0) {  // the session process: the only one that ever touches the device
    close(lfd_);
    close(wake_r_);
    close(g_wake_fd);
    for (auto& q : pending_)
      if (q.fd >= 0 && q.fd != p.fd) close(q.fd);
    for (auto& c : children_)  // other sessions' channels: never reachable from this one
      if (c.second.channel >= 0) close(c.second.channel);
    if (chan[0] >= 0) close(chan[0]);
    signal(SIGCHLD, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    _exit(start_(p.fd, sid, have_claims ? &claims : nullptr, chan[1]));
  }
  if (chan[1] >= 0) close(chan[1]);
  if (pid < 0) {
    if (chan[0] >= 0) close(chan[0]);
    AVEC_LOG(error, "fork_failed").str("error", strerror(errno));
    r.reason = AVEC_REFUSAL_EXECUTOR_FAILED;
    r.message = "the server could not start a session process";
    return refuse(p, v.hdr.request_id, r, "hello_refused");
  }
  n_.admitted++;
  children_[pid] = Child{sid, have_claims ? claims.uid : "", info_only, session_number(sid), chan[0], 0};
  close(p.fd);
}

int ListenerLoop::run() {
  if (!open_socket()) return 1;
  if (!o_.ticket_keys.empty() && !reload_keys(true)) return 1;
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) != 0) return 1;
  wake_r_ = pipefd[0];
  g_wake_fd = pipefd[1];
  struct sigaction sa = {};
  sa.sa_handler = on_child;
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigaction(SIGCHLD, &sa, nullptr);
  sa.sa_handler = on_stop;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  getsockname(lfd_, (struct sockaddr*)&ss, &sl);
  char hbuf[NI_MAXHOST], pbuf[NI_MAXSERV];
  getnameinfo((struct sockaddr*)&ss, sl, hbuf, sizeof hbuf, pbuf, sizeof pbuf, NI_NUMERICHOST | NI_NUMERICSERV);
  AVEC_LOG(info, "listening").str("address", std::string(hbuf) + ":" + pbuf).num("ticket_check", verifier_ ? 1 : 0)
      .num("hello_timeout_ms", o_.hello_timeout_ms).unum("max_pending", o_.max_pending)
      .unum("max_sessions", o_.max_sessions).unum("max_sessions_per_claim", o_.max_sessions_per_claim);

  std::vector<pollfd> fds;
  while (!g_stop) {
    reap();
    long now = now_ms();
    fds.clear();
    fds.push_back({wake_r_, POLLIN, 0});
    fds.push_back({now >= accept_paused_until_ ? lfd_ : -1, POLLIN, 0});
    int timeout = 1000;  // also a safety net for reaping
    if (accept_paused_until_ > now) timeout = std::min<long>(timeout, accept_paused_until_ - now);
    for (auto& p : pending_) {
      fds.push_back({p.fd, (short)(POLLIN | POLLRDHUP), 0});
      timeout = (int)std::max<long>(0, std::min<long>(timeout, p.deadline - now));
    }
    int n = poll(fds.data(), fds.size(), timeout);
    if (n < 0 && errno != EINTR) {
      AVEC_LOG(error, "poll_failed").str("error", strerror(errno));
      break;
    }
    if (fds[0].revents & POLLIN) {
      char drain[64];
      while (read(wake_r_, drain, sizeof drain) > 0) {}
    }
    if (g_stop) break;
    // Pending connections (fds[2 + i]); a finished one gets fd -1 (removed after the pass, so that a
    // session process forked meanwhile sees, and closes, every other pending connection).
    now = now_ms();
    for (size_t i = 0; i < pending_.size(); i++) {
      Pending& p = pending_[i];
      short rev = n > 0 && 2 + i < fds.size() ? fds[2 + i].revents : 0;
      bool k = true;
      if (rev) progress(p, rev, &k);
      if (k && now >= p.deadline) {
        n_.timed_out++;
        Refusal r;
        r.status = AVEC_STATUS_REFUSED;
        r.reason = AVEC_REFUSAL_HELLO_TIMEOUT;
        r.message = "no complete HELLO within " + std::to_string(o_.hello_timeout_ms) + " ms";
        AVEC_LOG(info, "hello_timeout").str("peer", p.peer);
        answer_and_close(p.fd, hello_refusal_frame(0, r));
        k = false;
      }
      if (!k) p.fd = -1;
    }
    size_t w = 0;
    for (size_t i = 0; i < pending_.size(); i++)
      if (pending_[i].fd >= 0) pending_[w++] = pending_[i];
    pending_.resize(w);
    if (n > 0 && (fds[1].revents & POLLIN)) accept_all();
  }
  for (auto& p : pending_) close(p.fd);
  close(lfd_);
  AVEC_LOG(info, "listener_stopped").unum("accepted", n_.accepted).unum("admitted", n_.admitted)
      .unum("refused", n_.refused).unum("hello_timeouts", n_.timed_out).unum("bad_hello", n_.bad)
      .unum("closed_before_hello", n_.closed).unum("live_sessions", children_.size());
  return 0;
}

}  // namespace

uint64_t session_number(const std::string& id) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = strtoull(id.c_str(), &end, 0);  // as main.cpp's parse_u64
  if (!id.empty() && id[0] != '-' && end && !*end && errno == 0) return v;
  uint8_t h[32];
  sha256(id.data(), id.size(), h);
  uint64_t n;
  memcpy(&n, h, sizeof n);
  return n;
}

int run_listener(const ListenerOptions& o, const std::string& session_prefix, const SessionStarter& start) {
  ListenerLoop loop(o, session_prefix, start);
  return loop.run();
}

}  // namespace avec
