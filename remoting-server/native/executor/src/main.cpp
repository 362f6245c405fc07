// avec-executor: runs one client's CUDA driver calls (a session) on the real driver or the emulated
// device. Modes: --listen HOST:PORT (standalone; one forked child per connection), --fd N (one
// already-accepted connection whose HELLO is still unread), --describe (device inventory as JSON).
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "backend.h"
#include "log.h"
#include "session.h"
#include "sha256.h"
#include "ticket.h"

namespace avec {
namespace {

struct Options {
  std::string listen;
  int fd = -1;
  std::string backend = "auto";
  int device = 0;
  uint64_t memory_limit = 0;
  uint64_t emulated_memory = 16ull << 30;
  std::string module_cache;
  uint64_t module_cache_max = 4ull << 30;
  unsigned compute_percent = 0;  // 0: not set
  std::string session_id;
  std::string ticket_keys;
  std::string node;
  std::string ipc_dir;    // empty: IpcRegistry's default
  std::string ipc_scope;  // empty: the ticket's claim, else the client's address
  bool describe = false;
};

const char* kUsage =
    "usage: avec-executor (--listen HOST:PORT | --fd N | --describe) [options]\n"
    "  --listen HOST:PORT     accept connections; fork one session process per connection\n"
    "  --fd N                 serve one accepted connection on fd N (its HELLO still unread)\n"
    "  --describe             print the device inventory as one JSON object and exit\n"
    "  --backend B            cuda | emulated | auto (default auto: cuda if a device is usable)\n"
    "  --device ORDINAL       device to serve (default 0)\n"
    "  --memory-limit BYTES   session memory limit (default: the whole device)\n"
    "  --emulated-memory BYTES  device memory of the emulated device (default 16 GiB)\n"
    "  --module-cache DIR     keep module images on disk by SHA-256 across sessions\n"
    "  --module-cache-max B   disk cache size; least recently used images go first (default 4 GiB)\n"
    "  --session-id ID        session id for logs and the HELLO reply\n"
    "  --compute-percent N    the claim's share of the GPU's SMs (1..100): sets\n"
    "                         CUDA_MPS_ACTIVE_THREAD_PERCENTAGE for the driver, effective when the node\n"
    "                         runs the MPS control daemon (default: no limit)\n"
    "  --ticket-keys DIR      --listen: verify HELLO tickets with this keyring directory (one file per key\n"
    "                         id holding the raw key, as in docs/tickets.md); default: no ticket check\n"
    "  --node NAME            --listen with --ticket-keys: this node's name (default: hostname)\n"
    "  --ipc-dir DIR          where sessions of this node publish CUDA IPC handles (default $AVEC_IPC_DIR,\n"
    "                         else /dev/shm/avec-ipc-UID); a private directory of this user\n"
    "  --ipc-scope S          who may share IPC memory with this session (the remoting server passes\n"
    "                         the claim); default: the ticket's claim, else the client's IP address\n"
    "  --teardown-timeout S   freeing a finished session may take this long, then exit (default 20)\n"
    "  --log-level L          error | warn | info | debug (default info)\n"
    "  --help\n";

bool parse_u64(const char* s, uint64_t* out) {
  if (!s || !*s) return false;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 0);
  if (errno || *end || s[0] == '-') return false;
  *out = v;
  return true;
}

int usage_error(const std::string& msg) {
  fprintf(stderr, "avec-executor: %s\n%s", msg.c_str(), kUsage);
  return 2;
}

uint64_t session_number(const std::string& id) {
  uint64_t n;
  if (parse_u64(id.c_str(), &n)) return n;
  uint8_t h[32];
  sha256(id.data(), id.size(), h);
  memcpy(&n, h, sizeof n);
  return n;
}

std::unique_ptr<Backend> open_backend(const Options& o, std::string* why) {
  BackendOptions bo;
  bo.device = o.device;
  bo.emulated_memory = o.emulated_memory;
  if (o.backend == "emulated") return make_emulated_backend(bo);
  std::unique_ptr<Backend> b = make_cuda_backend(bo, why);
  if (b && b->init() != CUDA_SUCCESS) {
    *why = "cuInit or device selection failed";
    b.reset();
  }
  if (b || o.backend == "cuda") return b;
  // Visible on purpose: with --backend auto a node whose driver fails serves the emulated device (its
  // name says so, and it refuses kernels), which is never what a GPU node should do silently.
  AVEC_LOG(warn, "backend_fallback").str("backend", "emulated").str("reason", *why);
  return make_emulated_backend(bo);
}

std::string uuid_string(const uint8_t* u) {
  char b[64];
  snprintf(b, sizeof b, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2],
           u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
  return b;
}

int describe(const Options& o) {
  std::string why;
  std::unique_ptr<Backend> b = open_backend(o, &why);
  if (!b) {
    AVEC_LOG(error, "describe_failed").str("reason", why);
    return 1;
  }
  std::vector<avec_device_info> all;
  CUresult r = b->describe(&all);
  if (r != CUDA_SUCCESS) {
    AVEC_LOG(error, "describe_failed").num("result", r);
    return 1;
  }
  std::string out = "{\"backend\":\"";
  out += b->name();
  out += "\",\"emulated\":";
  out += b->emulated() ? "true" : "false";
  out += ",\"driver_version\":" + std::to_string(b->driver_version()) + ",\"devices\":[";
  for (size_t i = 0; i < all.size(); i++) {
    const avec_device_info& d = all[i];
    char pci[32];
    snprintf(pci, sizeof pci, "%08x:%02x:%02x.0", d.pci_domain, d.pci_bus, d.pci_device);
    if (i) out += ",";
    out += "{\"ordinal\":" + std::to_string(i) + ",\"name\":\"" +
           json_escape(std::string(d.name, strnlen(d.name, sizeof d.name))) + "\",\"uuid\":\"" + uuid_string(d.uuid) +
           "\",\"total_mem\":" + std::to_string(d.total_mem) + ",\"cc_major\":" + std::to_string(d.cc_major) +
           ",\"cc_minor\":" + std::to_string(d.cc_minor) + ",\"compute_capability\":\"" + std::to_string(d.cc_major) +
           "." + std::to_string(d.cc_minor) + "\",\"pci_bus_id\":\"" + pci + "\",\"pci_domain\":" +
           std::to_string(d.pci_domain) + ",\"pci_bus\":" + std::to_string(d.pci_bus) + ",\"pci_device\":" +
           std::to_string(d.pci_device) + ",\"emulated\":" + (b->emulated() ? "true" : "false") + "}";
  }
  out += "]}\n";
  fputs(out.c_str(), stdout);
  fflush(stdout);
  return 0;
}

unsigned g_teardown_seconds = 20;

// Freeing waits for the device; if that hangs (a kernel that never ends), exit and let the driver
// destroy the context. Async-signal-safe: a fixed line and _exit.
void on_teardown_timeout(int) {
  static const char msg[] =
      "{\"level\":\"warn\",\"component\":\"avec-executor\",\"event\":\"teardown_timeout\","
      "\"action\":\"exit; the driver destroys the context\"}\n";
  ssize_t w = write(2, msg, sizeof msg - 1);
  (void)w;
  _exit(0);
}

// SIGTERM to a session process (the remoting server closing or draining it): stop reading, so the
// session ends through its normal teardown (everything freed, one session_end line) instead of dying.
volatile sig_atomic_t g_terminated = 0;
int g_session_fd = -1;
void on_session_term(int) {
  g_terminated = 1;
  if (g_session_fd >= 0) shutdown(g_session_fd, SHUT_RDWR);
}

// The client's IP address (IPC scope without tickets: sessions from one client host may share memory).
std::string peer_address(int fd) {
  sockaddr_storage ss = {};
  socklen_t len = sizeof ss;
  char buf[INET6_ADDRSTRLEN] = "";
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "unknown";
  if (ss.ss_family == AF_INET) inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
  else if (ss.ss_family == AF_INET6) inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof buf);
  else return "local";
  return buf;
}

// Runs one session on an accepted socket in this process; returns the process exit status.
int serve(const Options& o, int fd, const std::string& session_id, const TicketVerifier* verifier) {
  log_set_context("session", session_id);
  // An inherited socket may come non-blocking (event-loop servers accept that way): the session loop
  // uses blocking reads and writes.
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0 && (fl & O_NONBLOCK)) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  tune_socket(fd);
  std::string why;
  std::unique_ptr<Backend> b = open_backend(o, &why);
  if (!b) {
    AVEC_LOG(error, "backend_unavailable").str("backend", o.backend).str("reason", why);
    close(fd);
    return 1;
  }
  ModuleStore store(o.module_cache, o.module_cache_max);
  IpcRegistry ipc(o.ipc_dir);
  SessionOptions so;
  so.session_id = session_number(session_id);
  so.memory_limit = o.memory_limit;
  so.ipc = &ipc;
  so.ipc_scope = o.ipc_scope.empty() ? "addr:" + peer_address(fd) : o.ipc_scope;
  if (verifier) {
    so.verify_ticket = [verifier](const std::string& t, std::string* w, std::string* scope) {
      TicketClaims c;
      if (!verifier->verify(t, w, &c)) return false;
      *scope = "claim:" + c.uid;
      return true;
    };
  }
  so.before_teardown = [] {
    signal(SIGALRM, on_teardown_timeout);
    alarm(g_teardown_seconds);
  };
  FdConn conn(fd);
  Session s(conn, *b, store, so);
  g_session_fd = fd;
  struct sigaction sa = {};
  sa.sa_handler = on_session_term;
  sigaction(SIGTERM, &sa, nullptr);
  SessionEnd end = s.run();
  const Session::Stats& st = s.stats();
  AVEC_LOG(info, "session_end")
      .str("reason", g_terminated ? "terminated" : session_end_name(end))
      .unum("frames", st.frames)
      .unum("bytes_in", st.bytes_in)
      .unum("bytes_out", st.bytes_out)
      .unum("freed_allocations", st.freed_allocs)
      .unum("mem_used", s.allocations().used());
  close(fd);
  return end == SessionEnd::bad_frame ? 3 : end == SessionEnd::refused ? 4 : 0;
}

volatile sig_atomic_t g_stop = 0;
void on_term(int) { g_stop = 1; }

int listen_mode(const Options& o) {
  std::string host = o.listen, port;
  size_t colon = host.rfind(':');
  if (colon == std::string::npos) return usage_error("--listen wants HOST:PORT");
  port = host.substr(colon + 1);
  host = host.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  std::unique_ptr<TicketVerifier> verifier;
  std::string verifier_node = o.node;
  if (!o.ticket_keys.empty()) {
    if (verifier_node.empty()) {
      char hn[256] = {};
      gethostname(hn, sizeof hn - 1);
      verifier_node = hn;
    }
    std::string err;
    verifier = TicketVerifier::from_file(o.ticket_keys, verifier_node, &err);
    if (!verifier) return usage_error("--ticket-keys: " + err);
  }
  struct addrinfo hints = {}, *res = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  int gai = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res);
  if (gai) return usage_error(std::string("--listen: ") + gai_strerror(gai));
  int lfd = -1;
  for (auto* ai = res; ai; ai = ai->ai_next) {
    lfd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (lfd < 0) continue;
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(lfd, 128) == 0) break;
    close(lfd);
    lfd = -1;
  }
  freeaddrinfo(res);
  if (lfd < 0) {
    AVEC_LOG(error, "listen_failed").str("address", o.listen).str("error", strerror(errno));
    return 1;
  }
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  getsockname(lfd, (struct sockaddr*)&ss, &sl);
  char hbuf[NI_MAXHOST], pbuf[NI_MAXSERV];
  getnameinfo((struct sockaddr*)&ss, sl, hbuf, sizeof hbuf, pbuf, sizeof pbuf, NI_NUMERICHOST | NI_NUMERICSERV);
  AVEC_LOG(info, "listening").str("address", std::string(hbuf) + ":" + pbuf).str("backend", o.backend)
      .num("ticket_check", verifier ? 1 : 0);
  struct sigaction sa = {};
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  uint64_t counter = 0;
  while (!g_stop) {
    int status;
    pid_t done;
    while ((done = waitpid(-1, &status, WNOHANG)) > 0)
      AVEC_LOG(info, "session_process_exit").num("child", done).num("status", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    struct pollfd pfd = {lfd, POLLIN, 0};
    if (poll(&pfd, 1, 500) <= 0) continue;  // wake up now and then to reap finished sessions
    int cfd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (cfd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      AVEC_LOG(error, "accept_failed").str("error", strerror(errno));
      sleep(1);
      continue;
    }
    counter++;
    if (verifier) {  // keys rotate under a mounted Secret: read the keyring again for every session
      std::string err;
      std::unique_ptr<TicketVerifier> fresh = TicketVerifier::from_file(o.ticket_keys, verifier_node, &err);
      if (fresh) verifier = std::move(fresh);
      else AVEC_LOG(warn, "ticket_keys_reload_failed").str("reason", err).str("action", "keeping the previous keys");
    }
    std::string sid = o.session_id.empty() ? std::to_string(getpid()) + "-" + std::to_string(counter)
                                           : o.session_id + "-" + std::to_string(counter);
    pid_t pid = fork();
    if (pid == 0) {  // the session process: the only one that ever touches the device
      close(lfd);
      signal(SIGTERM, SIG_DFL);
      signal(SIGINT, SIG_DFL);
      _exit(serve(o, cfd, sid, verifier.get()));
    }
    if (pid < 0) AVEC_LOG(error, "fork_failed").str("error", strerror(errno));
    close(cfd);
  }
  AVEC_LOG(info, "listener_stopped");
  close(lfd);
  return 0;
}

}  // namespace
}  // namespace avec

int main(int argc, char** argv) {
  using namespace avec;
  // Never run on top of our own shim: drop LD_PRELOAD and start again with a clean process image, so
  // dlopen("libcuda.so.1") can only find the real driver (children inherit the cleaned environment).
  const char* pre = getenv("LD_PRELOAD");
  if (pre && *pre && !getenv("AVEC_EXECUTOR_REEXEC")) {
    unsetenv("LD_PRELOAD");
    setenv("AVEC_EXECUTOR_REEXEC", "1", 1);
    execv("/proc/self/exe", argv);
  }
  unsetenv("LD_PRELOAD");
  unsetenv("AVEC_EXECUTOR_REEXEC");
  signal(SIGPIPE, SIG_IGN);

  Options o;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto val = [&](const char*) -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    uint64_t n = 0;
    if (a == "--help" || a == "-h") { fputs(kUsage, stdout); return 0; }
    else if (a == "--describe") o.describe = true;
    else if (a == "--listen") { if (!(v = val("--listen"))) return usage_error("--listen needs HOST:PORT"); o.listen = v; }
    else if (a == "--fd") { if (!(v = val("--fd")) || !parse_u64(v, &n) || n > 65535) return usage_error("--fd needs a number"); o.fd = (int)n; }
    else if (a == "--backend") {
      if (!(v = val("--backend"))) return usage_error("--backend needs a value");
      o.backend = v;
      if (o.backend != "cuda" && o.backend != "emulated" && o.backend != "auto") return usage_error("--backend: cuda, emulated or auto");
    }
    else if (a == "--device") { if (!(v = val("--device")) || !parse_u64(v, &n) || n >= AVEC_MAX_DEVICES) return usage_error("--device needs an ordinal"); o.device = (int)n; }
    else if (a == "--memory-limit") { if (!(v = val("--memory-limit")) || !parse_u64(v, &o.memory_limit)) return usage_error("--memory-limit needs bytes"); }
    else if (a == "--emulated-memory") { if (!(v = val("--emulated-memory")) || !parse_u64(v, &o.emulated_memory) || !o.emulated_memory) return usage_error("--emulated-memory needs bytes"); }
    else if (a == "--module-cache") { if (!(v = val("--module-cache"))) return usage_error("--module-cache needs a directory"); o.module_cache = v; }
    else if (a == "--module-cache-max") { if (!(v = val("--module-cache-max")) || !parse_u64(v, &o.module_cache_max)) return usage_error("--module-cache-max needs bytes"); }
    else if (a == "--compute-percent") { if (!(v = val("--compute-percent")) || !parse_u64(v, &n) || n < 1 || n > 100) return usage_error("--compute-percent needs 1..100"); o.compute_percent = (unsigned)n; }
    else if (a == "--session-id") { if (!(v = val("--session-id"))) return usage_error("--session-id needs a value"); o.session_id = v; }
    else if (a == "--ticket-keys") { if (!(v = val("--ticket-keys"))) return usage_error("--ticket-keys needs a file"); o.ticket_keys = v; }
    else if (a == "--teardown-timeout") { if (!(v = val("--teardown-timeout")) || !parse_u64(v, &n) || !n || n > 3600) return usage_error("--teardown-timeout needs seconds (1..3600)"); g_teardown_seconds = (unsigned)n; }
    else if (a == "--ipc-dir") { if (!(v = val("--ipc-dir")) || !*v) return usage_error("--ipc-dir needs a directory"); o.ipc_dir = v; }
    else if (a == "--ipc-scope") { if (!(v = val("--ipc-scope")) || !*v) return usage_error("--ipc-scope needs a value"); o.ipc_scope = v; }
    else if (a == "--node") { if (!(v = val("--node"))) return usage_error("--node needs a name"); o.node = v; }
    else if (a == "--log-level") {
      LogLevel l;
      if (!(v = val("--log-level")) || !log_level_parse(v, &l)) return usage_error("--log-level: error, warn, info or debug");
      log_set_level(l);
    }
    else return usage_error("unknown option " + a);
  }
  if (o.compute_percent) {
    // Read by the driver at initialisation; under MPS it caps the SMs this process's kernels use (and the
    // device reports that many). Set before any session touches the driver.
    setenv("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE", std::to_string(o.compute_percent).c_str(), 1);
  }
  if (!o.module_cache.empty()) {
    mkdir(o.module_cache.c_str(), 0755);
    struct stat st;
    if (stat(o.module_cache.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return usage_error("--module-cache: not a directory");
  }
  int modes = (o.describe ? 1 : 0) + (o.listen.empty() ? 0 : 1) + (o.fd >= 0 ? 1 : 0);
  if (modes != 1) return usage_error("choose exactly one of --listen, --fd, --describe");
  if (o.describe) return describe(o);
  if (!o.listen.empty()) return listen_mode(o);
  struct stat st;
  if (fstat(o.fd, &st) != 0) return usage_error("--fd: not an open file descriptor");
  return serve(o, o.fd, o.session_id.empty() ? std::to_string(getpid()) : o.session_id, nullptr);
}
