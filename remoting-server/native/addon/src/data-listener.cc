#include "data-listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "avec_wire.h"
#include "frame.h"
#include "hello-peek.h"
#include "join_channel.h"

namespace avec {

namespace {

using Clock = std::chrono::steady_clock;

std::string peer_of(int fd, uint16_t* port_out) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  *port_out = 0;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "";
  char buf[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    *port_out = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    *port_out = ntohs(a->sin6_port);
  }
  return buf;
}

void set_rcvlowat(int fd, size_t bytes) {
  int v = static_cast<int>(bytes);
  setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof v);
}

// Consumes up to `consume` already-received bytes, writes `reply` (a HELLO reply frame), closes. Consuming
// first matters: closing a socket with unread data sends RST, and the client could lose the reply.
void refuse_fd(int fd, size_t consume, const std::string& reply) {
  char sink[1024];
  while (consume > 0) {
    ssize_t n = recv(fd, sink, consume < sizeof sink ? consume : sizeof sink, MSG_DONTWAIT);
    if (n <= 0) break;
    consume -= static_cast<size_t>(n);
  }
  ssize_t ignored = send(fd, reply.data(), reply.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  (void)ignored;
  shutdown(fd, SHUT_WR);
  close(fd);
}

}  // namespace

// Our end of one session's stripe channel (the executor holds the other, --stripe-channel).
struct JoinChannel {
  int fd;
  uint32_t forwarded;
  std::string session_id;
};

// One event for JS: either an admitted-for-decision connection or a rejection the native side made.
struct ListenerEvent {
  std::shared_ptr<ListenerCore> core;  // keeps the awaiting table alive until the event is delivered
  bool connection = false;
  uint64_t id = 0;
  int fd = -1;
  HelloInfo hello;
  std::string peer;
  uint16_t peer_port = 0;
  std::string reason;  // rejections
  bool joined = false;  // a joined connection passed to its session (for the log)
  std::string session_id;
  uint32_t join_index = 0;
};

struct Pending {
  int fd;
  uint64_t id;
  Clock::time_point deadline;
  size_t need;
  std::string peer;
  uint16_t peer_port;
};

struct Awaiting {
  int fd;
  uint32_t request_id;
  size_t frame_len;
};

struct ListenerCore : std::enable_shared_from_this<ListenerCore> {
  int listen_fd = -1;
  int wake_fd = -1;
  int hello_timeout_ms = 5000;
  size_t max_pending = 256;          // connections not yet decided: waiting for HELLO, or for JS
  size_t max_pending_per_peer = 64;  // of those waiting for HELLO, from one client address (pods may share one)
  std::thread thread;
  std::atomic<bool> stopping{false};
  bool started = false;
  bool stopped = false;
  Napi::ThreadSafeFunction tsfn;

  std::mutex mu;  // guards awaiting, channels and the counters
  std::unordered_map<uint64_t, Awaiting> awaiting;
  std::unordered_map<uint64_t, JoinChannel> channels;  // by session number (avec_hello_reply.session_id)
  uint64_t accepted = 0, handed = 0, rejected = 0, joins_routed = 0, joins_refused = 0;

  void loop();
  void emit(ListenerEvent* ev);
  void reject(Pending& p, const char* reason);
  void route_join(Pending& p, const uint8_t* frame, const HelloInfo& info);
  bool take_awaiting(uint64_t id, Awaiting* out) {
    std::lock_guard<std::mutex> g(mu);
    auto it = awaiting.find(id);
    if (it == awaiting.end()) return false;
    *out = it->second;
    awaiting.erase(it);
    return true;
  }
  bool is_awaiting(uint64_t id) {
    std::lock_guard<std::mutex> g(mu);
    return awaiting.count(id) != 0;
  }
  void shutdown_all();
};

void ListenerCore::emit(ListenerEvent* ev) {
  ev->core = shared_from_this();
  napi_status st = tsfn.NonBlockingCall(ev, [](Napi::Env env, Napi::Function fn, ListenerEvent* e) {
    std::unique_ptr<ListenerEvent> owned(e);
    if (env == nullptr || fn.IsEmpty()) return;
    // stop() may have closed this connection (and its fd number may be reused) after the event queued.
    if (e->connection && !e->core->is_awaiting(e->id)) return;
    Napi::Object o = Napi::Object::New(env);
    o.Set("type", e->connection ? "connection" : e->joined ? "joined" : "rejected");
    o.Set("id", Napi::Number::New(env, static_cast<double>(e->id)));
    o.Set("peerAddress", e->peer);
    o.Set("peerPort", e->peer_port);
    if (e->connection) {
      o.Set("fd", e->fd);
      o.Set("ticket", e->hello.ticket);
      o.Set("clientPid", e->hello.client_pid);
      o.Set("clientHost", e->hello.client_host);
      o.Set("helloFlags", e->hello.flags);
      o.Set("requestId", e->hello.request_id);
      o.Set("wireVersion", e->hello.wire_version);
    } else if (e->joined) {
      o.Set("sessionId", e->session_id);
      o.Set("index", e->join_index);
    } else {
      o.Set("reason", e->reason);
    }
    fn.Call({o});
  });
  if (st != napi_ok) {
    // The JS side is gone (stopping): a connection nobody will decide on is closed here.
    if (ev->connection) {
      Awaiting a;
      if (take_awaiting(ev->id, &a)) close(a.fd);
    }
    delete ev;
  }
}

void ListenerCore::reject(Pending& p, const char* reason) {
  {
    std::lock_guard<std::mutex> g(mu);
    ++rejected;
  }
  auto* ev = new ListenerEvent();
  ev->id = p.id;
  ev->peer = p.peer;
  ev->peer_port = p.peer_port;
  ev->reason = reason;
  emit(ev);
}

// A joined connection (AVEC_HELLO_STRIPE_JOIN: a stripe or the callback connection) carries no ticket: it
// goes to the session it names, which checks its token (only the executor knows it) and answers its HELLO.
// Decoded by the executor's own rules (frame.cpp); unknown sessions are refused here, as by the executor's
// listener.
void ListenerCore::route_join(Pending& p, const uint8_t* frame, const HelloInfo& info) {
  FrameView v;
  avec_stripe_join j{};
  const char* bad = frame_decode(frame, info.frame_len, &v) == Decode::ok ? stripe_join_decode(v.tail, v.tail_len, &j)
                                                                           : "bad stripe HELLO";
  std::string session_id;
  if (!bad) {
    std::lock_guard<std::mutex> g(mu);
    auto it = channels.find(j.session_id);
    if (it == channels.end()) {
      bad = "no such session on this server";
    } else if (it->second.forwarded >= kMaxForwardedStripes) {
      bad = "the session has taken all the stripe connections it may";
    } else if (!pass_fd(it->second.fd, p.fd)) {  // the executor ended or stopped reading its channel
      bad = "the session does not take stripe connections now";
    } else {
      it->second.forwarded++;
      session_id = it->second.session_id;
      ++joins_routed;
    }
  }
  if (bad) {
    {
      std::lock_guard<std::mutex> g(mu);
      ++joins_refused;
    }
    reject(p, "stripe-refused");
    refuse_fd(p.fd, info.frame_len, hello_refusal_frame(info.request_id, AVEC_STATUS_REFUSED, AVEC_REFUSAL_STRIPE_REFUSED, bad));
    return;
  }
  close(p.fd);  // the executor has its own descriptor now
  auto* ev = new ListenerEvent();
  ev->joined = true;
  ev->id = p.id;
  ev->peer = p.peer;
  ev->peer_port = p.peer_port;
  ev->session_id = std::move(session_id);
  ev->join_index = j.index;
  emit(ev);
}

void ListenerCore::loop() {
  std::vector<Pending> pending;
  std::vector<pollfd> fds;
  uint64_t next_id = 1;
  std::vector<uint8_t> buf(kHelloFixedLen + AVEC_MAX_TICKET);
  while (!stopping.load()) {
    fds.clear();
    fds.push_back({wake_fd, POLLIN, 0});
    fds.push_back({listen_fd, POLLIN, 0});
    for (auto& p : pending) fds.push_back({p.fd, POLLIN | POLLRDHUP, 0});
    int timeout = -1;
    auto now = Clock::now();
    for (auto& p : pending) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(p.deadline - now).count();
      if (ms < 0) ms = 0;
      if (timeout < 0 || ms < timeout) timeout = static_cast<int>(ms) + 1;
    }
    int n = poll(fds.data(), fds.size(), timeout);
    if (n < 0 && errno != EINTR) break;
    if (stopping.load()) break;
    if (fds[0].revents & POLLIN) {
      uint64_t v;
      ssize_t ignored = read(wake_fd, &v, sizeof v);
      (void)ignored;
    }
    // Progress on connections waiting for their HELLO. Indexes in `fds` are 2 + position in `pending`.
    std::vector<Pending> keep;
    keep.reserve(pending.size());
    now = Clock::now();
    for (size_t i = 0; i < pending.size(); ++i) {
      Pending& p = pending[i];
      const short rev = fds[2 + i].revents;
      if (rev == 0) {
        if (now >= p.deadline) {
          reject(p, "hello-timeout");
          // Told why (a slow but honest client logs it); whatever it sent is consumed first.
          refuse_fd(p.fd, kHelloFixedLen + AVEC_MAX_TICKET,
                    hello_refusal_frame(0, AVEC_STATUS_REFUSED, AVEC_REFUSAL_HELLO_TIMEOUT,
                                        "no complete HELLO within " + std::to_string(hello_timeout_ms) + " ms"));
        } else {
          keep.push_back(p);
        }
        continue;
      }
      ssize_t got = recv(p.fd, buf.data(), p.need, MSG_PEEK | MSG_DONTWAIT);
      if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
        keep.push_back(p);
        continue;
      }
      if (got <= 0) {
        reject(p, "closed-before-hello");
        close(p.fd);
        continue;
      }
      HelloInfo info;
      size_t need = 0;
      HelloStatus st = hello_parse(buf.data(), static_cast<size_t>(got), &need, &info);
      if (st == HelloStatus::kNeedMore) {
        if (rev & (POLLRDHUP | POLLHUP | POLLERR)) {
          reject(p, "closed-before-hello");
          close(p.fd);
          continue;
        }
        p.need = need;
        set_rcvlowat(p.fd, need);
        keep.push_back(p);
        continue;
      }
      if (st != HelloStatus::kComplete) {
        reject(p, hello_status_name(st));
        if (st == HelloStatus::kBadVersion) {
          refuse_fd(p.fd, static_cast<size_t>(got), hello_reply_frame(info.request_id, AVEC_STATUS_VERSION));
        } else {
          refuse_fd(p.fd, static_cast<size_t>(got), hello_reply_frame(info.request_id, AVEC_STATUS_BAD_FRAME));
        }
        continue;
      }
      // Complete: the socket goes back to blocking mode with a normal low-water mark, because the
      // executor shares this open file description (O_NONBLOCK is not per-descriptor).
      set_rcvlowat(p.fd, 1);
      int fl = fcntl(p.fd, F_GETFL);
      if (fl >= 0) fcntl(p.fd, F_SETFL, fl & ~O_NONBLOCK);
      if (info.flags & AVEC_HELLO_STRIPE_JOIN) {  // decided here: never sent to ticket admission
        route_join(p, buf.data(), info);
        continue;
      }
      {
        std::lock_guard<std::mutex> g(mu);
        awaiting[p.id] = Awaiting{p.fd, info.request_id, info.frame_len};
        ++handed;
      }
      auto* ev = new ListenerEvent();
      ev->connection = true;
      ev->id = p.id;
      ev->fd = p.fd;
      ev->hello = std::move(info);
      ev->peer = p.peer;
      ev->peer_port = p.peer_port;
      emit(ev);
    }
    pending.swap(keep);
    // New connections: always accepted (never left in the backlog), refused at once with a reason when
    // too many are undecided overall or from one address; no executor exists for any of them yet.
    if (fds[1].revents & POLLIN) {
      for (;;) {
        int c = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) break;
        int one = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        set_rcvlowat(c, sizeof(avec_frame_hdr));  // a bad header is refused without waiting for more
        Pending p{c, next_id++, Clock::now() + std::chrono::milliseconds(hello_timeout_ms), kHelloFixedLen, "", 0};
        p.peer = peer_of(c, &p.peer_port);
        size_t undecided, from_peer = 0;
        {
          std::lock_guard<std::mutex> g(mu);
          ++accepted;
          undecided = pending.size() + awaiting.size();
        }
        for (auto& q : pending) from_peer += q.peer == p.peer;
        if (undecided >= max_pending || from_peer >= max_pending_per_peer) {
          const bool overall = undecided >= max_pending;
          reject(p, overall ? "too-many-pending" : "too-many-pending-from-peer");
          refuse_fd(c, kHelloFixedLen + AVEC_MAX_TICKET, hello_refusal_frame(0, AVEC_STATUS_REFUSED, AVEC_REFUSAL_TOO_MANY_CONNECTIONS,
                                              overall ? "too many connections are waiting for admission (limit " +
                                                            std::to_string(max_pending) + ")"
                                                      : "too many connections from this address are waiting for "
                                                        "admission (limit " + std::to_string(max_pending_per_peer) + ")"));
          continue;
        }
        pending.push_back(std::move(p));
      }
    }
  }
  for (auto& p : pending) close(p.fd);
}

void ListenerCore::shutdown_all() {
  if (!started || stopped) return;
  stopped = true;
  stopping.store(true);
  uint64_t one = 1;
  ssize_t ignored = write(wake_fd, &one, sizeof one);
  (void)ignored;
  if (thread.joinable()) thread.join();
  close(listen_fd);
  close(wake_fd);
  listen_fd = wake_fd = -1;
  {
    std::lock_guard<std::mutex> g(mu);
    for (auto& kv : awaiting) close(kv.second.fd);
    awaiting.clear();
    for (auto& kv : channels) close(kv.second.fd);
    channels.clear();
  }
  tsfn.Release();
}

Napi::Function DataListener::Init(Napi::Env env) {
  return DefineClass(env, "DataListener",
                     {
                         InstanceMethod("start", &DataListener::Start),
                         InstanceMethod("refuse", &DataListener::Refuse),
                         InstanceMethod("release", &DataListener::Release),
                         InstanceMethod("stop", &DataListener::Stop),
                         InstanceMethod("stats", &DataListener::Stats),
                         InstanceMethod("openJoinChannel", &DataListener::OpenJoinChannel),
                         InstanceMethod("closeJoinChannel", &DataListener::CloseJoinChannel),
                     });
}

// new DataListener({ helloTimeoutMs?, maxPending?, maxPendingPerPeer? }, onEvent)
DataListener::DataListener(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DataListener>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction())
    throw Napi::TypeError::New(env, "DataListener(options, onEvent)");
  core_ = std::make_shared<ListenerCore>();
  Napi::Object o = info[0].As<Napi::Object>();
  if (o.Has("helloTimeoutMs")) core_->hello_timeout_ms = o.Get("helloTimeoutMs").As<Napi::Number>().Int32Value();
  if (o.Has("maxPending")) core_->max_pending = o.Get("maxPending").As<Napi::Number>().Uint32Value();
  if (o.Has("maxPendingPerPeer"))
    core_->max_pending_per_peer = o.Get("maxPendingPerPeer").As<Napi::Number>().Uint32Value();
  if (core_->hello_timeout_ms <= 0 || core_->max_pending == 0 || core_->max_pending_per_peer == 0)
    throw Napi::RangeError::New(env, "helloTimeoutMs, maxPending and maxPendingPerPeer must be positive");
  on_event_ = Napi::Persistent(info[1].As<Napi::Function>());
}

DataListener::~DataListener() {
  if (core_) core_->shutdown_all();
}

// start(host, port) -> { address, port }: binds synchronously so errors (EADDRINUSE) surface here.
Napi::Value DataListener::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (core_->started) throw Napi::Error::New(env, "already started");
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber())
    throw Napi::TypeError::New(env, "start(host, port)");
  std::string host = info[0].As<Napi::String>();
  std::string port = std::to_string(info[1].As<Napi::Number>().Uint32Value());
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) throw Napi::Error::New(env, std::string("resolve ") + host + ": " + gai_strerror(rc));
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 128) != 0) {
    std::string msg = std::string("listen ") + host + ":" + port + ": " + strerror(errno);
    if (fd >= 0) close(fd);
    freeaddrinfo(res);
    throw Napi::Error::New(env, msg);
  }
  freeaddrinfo(res);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  char buf[INET6_ADDRSTRLEN] = {0};
  uint16_t bound_port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    bound_port = ntohs(a->sin_port);
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    bound_port = ntohs(a->sin6_port);
  }
  core_->listen_fd = fd;
  core_->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  core_->tsfn = Napi::ThreadSafeFunction::New(env, on_event_.Value(), "avec-data-listener", 0, 1);
  core_->started = true;
  auto core = core_;
  core_->thread = std::thread([core] { core->loop(); });
  Napi::Object out = Napi::Object::New(env);
  out.Set("address", std::string(buf));
  out.Set("port", bound_port);
  return out;
}

// refuse(id, status, reason?, message?) -> boolean: consume the HELLO, reply with `status` (and, with a
// reason, the avec_hello_refusal tail carrying reason and message), close.
Napi::Value DataListener::Refuse(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bool with_reason = info.Length() >= 3 && !info[2].IsUndefined();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber() || (with_reason && !info[2].IsNumber()) ||
      (info.Length() >= 4 && !info[3].IsUndefined() && !info[3].IsString()))
    throw Napi::TypeError::New(env, "refuse(id, status, reason?, message?)");
  const uint32_t status = info[1].As<Napi::Number>().Uint32Value();
  Awaiting a;
  if (!core_->take_awaiting(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()), &a))
    return Napi::Boolean::New(env, false);
  std::string message = info.Length() >= 4 && info[3].IsString() ? info[3].As<Napi::String>().Utf8Value() : "";
  refuse_fd(a.fd, a.frame_len,
            with_reason ? hello_refusal_frame(a.request_id, status, info[2].As<Napi::Number>().Uint32Value(), message)
                        : hello_reply_frame(a.request_id, status));
  return Napi::Boolean::New(env, true);
}

// release(id) -> boolean: the connection now belongs to an executor; close the listener's copy.
Napi::Value DataListener::Release(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "release(id)");
  Awaiting a;
  if (!core_->take_awaiting(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()), &a))
    return Napi::Boolean::New(env, false);
  close(a.fd);
  return Napi::Boolean::New(env, true);
}

Napi::Value DataListener::Stop(const Napi::CallbackInfo& info) {
  core_->shutdown_all();
  return info.Env().Undefined();
}

Napi::Value DataListener::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  std::lock_guard<std::mutex> g(core_->mu);
  o.Set("accepted", Napi::Number::New(env, static_cast<double>(core_->accepted)));
  o.Set("handedToJs", Napi::Number::New(env, static_cast<double>(core_->handed)));
  o.Set("rejected", Napi::Number::New(env, static_cast<double>(core_->rejected)));
  o.Set("awaitingDecision", Napi::Number::New(env, static_cast<double>(core_->awaiting.size())));
  o.Set("joinsRouted", Napi::Number::New(env, static_cast<double>(core_->joins_routed)));
  o.Set("joinsRefused", Napi::Number::New(env, static_cast<double>(core_->joins_refused)));
  o.Set("joinChannels", Napi::Number::New(env, static_cast<double>(core_->channels.size())));
  return o;
}

// Session numbers cross as decimal strings: JavaScript numbers cannot hold every u64.
static bool parse_session_number(const std::string& s, uint64_t* out) {
  if (s.empty() || s.size() > 20 || s.find_first_not_of("0123456789") != std::string::npos) return false;
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (errno != 0 || *end || v == 0) return false;
  *out = v;
  return true;
}

// openJoinChannel(sessionNumber, sessionId) -> fd: a Unix datagram pair for the session's joined
// connections; this side keeps one end under `sessionNumber` (what the executor puts in its HELLO reply),
// the returned end is the executor's --stripe-channel (the caller closes its copy once the executor runs).
Napi::Value DataListener::OpenJoinChannel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t number = 0;
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString() ||
      !parse_session_number(info[0].As<Napi::String>().Utf8Value(), &number))
    throw Napi::TypeError::New(env, "openJoinChannel(sessionNumber: decimal string, sessionId)");
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair) != 0)
    throw Napi::Error::New(env, std::string("socketpair: ") + strerror(errno));
  std::lock_guard<std::mutex> g(core_->mu);
  auto it = core_->channels.find(number);
  if (it != core_->channels.end()) {
    close(pair[0]);
    close(pair[1]);
    throw Napi::Error::New(env, "session " + info[0].As<Napi::String>().Utf8Value() + " already has a join channel");
  }
  core_->channels[number] = JoinChannel{pair[0], 0, info[1].As<Napi::String>().Utf8Value()};
  return Napi::Number::New(env, pair[1]);
}

// closeJoinChannel(sessionNumber) -> boolean: the session ended; later joins naming it are refused.
Napi::Value DataListener::CloseJoinChannel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t number = 0;
  if (info.Length() < 1 || !info[0].IsString() || !parse_session_number(info[0].As<Napi::String>().Utf8Value(), &number))
    throw Napi::TypeError::New(env, "closeJoinChannel(sessionNumber: decimal string)");
  std::lock_guard<std::mutex> g(core_->mu);
  auto it = core_->channels.find(number);
  if (it == core_->channels.end()) return Napi::Boolean::New(env, false);
  close(it->second.fd);
  core_->channels.erase(it);
  return Napi::Boolean::New(env, true);
}

}  // namespace avec
