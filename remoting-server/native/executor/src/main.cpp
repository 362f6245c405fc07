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
#include "host_memory.h"
#include "listener.h"
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
  bool device_set = false;  // --device given: a ticket's `dev` must name this device (else it selects one)
  bool compute_percent_set = false;
  ListenerOptions listener;
  int stall_timeout_ms = 60000;
  size_t max_objects = 65536;
  uint64_t max_module_bytes = 2ull << 30;
  uint64_t module_memory_max = 64ull << 20;
  int stripe_channel = -1;     // --fd mode: the channel on which the remoting server passes stripes
  uint32_t max_stripes = 4;
  bool compression = true;
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
    "                         CUDA_MPS_ACTIVE_THREAD_PERCENTAGE for the driver; below 100 on a real GPU the\n"
    "                         node must run the MPS control daemon, else sessions are refused (default: 100)\n"
    "  --ticket-keys DIR      --listen: verify HELLO tickets with this keyring directory (one file per key\n"
    "                         id holding the raw key, as in docs/tickets.md); default: no ticket check.\n"
    "                         The ticket's grants are the session's limits: memory = min(mem, --memory-limit),\n"
    "                         `dev` selects the device (or must be --device's), cpct < 100 needs MPS\n"
    "  --node NAME            --listen with --ticket-keys: this node's name (default: hostname)\n"
    "  --ipc-dir DIR          where sessions of this node publish CUDA IPC handles (default $AVEC_IPC_DIR,\n"
    "                         else /dev/shm/avec-ipc-UID); a private directory of this user\n"
    "  --ipc-scope S          who may share IPC memory with this session (the remoting server passes\n"
    "                         the claim); default: the ticket's claim, else the client's IP address\n"
    "  --max-stripes N        stripe connections a session may open for bulk copies (0..8, default 4; 0: none)\n"
    "  --no-compression       do not offer compressed bulk copies (offered by default where libzstd.so.1 loads)\n"
    "  --stripe-channel FD    --fd mode: a Unix datagram socket on which the remoting server passes the\n"
    "                         session's stripe connections (SCM_RIGHTS); without it no stripes are offered\n"
    "  --read-spin-us US      the longest a session waiting for its client's next frame spins before it\n"
    "                         sleeps (0..100000, default 5000): it spins about as long as the client's last\n"
    "                         pause (at least 50 us), so a client in a synchronize loop over an edge link\n"
    "                         finds it awake; a woken CPU costs up to ~100 us\n"
    "  --teardown-timeout S   freeing a finished session may take this long, then exit (default 20)\n"
    "limits (docs/protocol.md, \"Limits\"):\n"
    "  --hello-timeout-ms MS  a connection must deliver its complete HELLO within this time (default 5000)\n"
    "  --max-pending N        --listen: connections whose HELLO is not yet checked (default 256; more are\n"
    "                         refused at once); no process exists for them until the HELLO is admitted\n"
    "  --max-pending-per-peer N  of those, from one client address (default 64)\n"
    "  --max-sessions N       --listen: live session processes (default 64, as the remoting server)\n"
    "  --max-sessions-per-claim N  --listen with --ticket-keys: live sessions of one claim (default 8; a\n"
    "                         ticket's `maxs` may lower it; NVML-only sessions do not count)\n"
    "  --stall-timeout S      a peer that stops mid-frame, or stops reading replies, for this long ends its\n"
    "                         session (default 60; idle time between frames is never limited)\n"
    "  --max-objects N        entries per handle table of a session: streams, events, modules, functions,\n"
    "                         pools, contexts, VMM handles, allocations (default 65536; past it a creation\n"
    "                         fails with CUDA_ERROR_OUT_OF_MEMORY)\n"
    "  --max-module-bytes B   image bytes of the modules a session has loaded at once (default 2 GiB)\n"
    "  --module-memory-max B  module images kept in a session's memory, LRU (default 64 MiB)\n"
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


// True when an MPS control daemon is reachable (its pipe directory has a `control` socket): only then does
// CUDA_MPS_ACTIVE_THREAD_PERCENTAGE bound the SMs a process uses.
bool mps_running() {
  const char* d = getenv("CUDA_MPS_PIPE_DIRECTORY");
  std::string dir = d && *d ? d : "/tmp/nvidia-mps";
  struct stat st;
  return stat((dir + "/control").c_str(), &st) == 0;
}

Refusal refusal(uint32_t reason, const std::string& message) {
  Refusal r;
  r.status = AVEC_STATUS_REFUSED;
  r.reason = reason;
  r.message = message;
  return r;
}

// The ticket's grants become this session's limits (standalone mode with --ticket-keys): device, memory,
// compute share. Opens the backend (on the ticket's device); a grant that cannot be honoured is returned
// as the refusal the session sends in answer to the HELLO.
std::unique_ptr<Backend> open_for_claims(Options o, const TicketClaims& c, SessionOptions* so, std::string* why) {
  unsigned cpct = (unsigned)c.cpct;
  if (o.compute_percent && o.compute_percent < cpct) cpct = o.compute_percent;
  if (cpct < 100) setenv("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE", std::to_string(cpct).c_str(), 1);
  std::unique_ptr<Backend> b = open_backend(o, why);
  if (!b) return b;
  avec_device_info di = {};
  if (!c.dev.empty() && (b->device_info(0, &di) != CUDA_SUCCESS || uuid_string(di.uuid) != c.dev)) {
    int found = -1;
    std::vector<avec_device_info> all;
    if (!o.device_set && b->describe(&all) == CUDA_SUCCESS)
      for (size_t i = 0; i < all.size(); i++)
        if (uuid_string(all[i].uuid) == c.dev) found = (int)i;
    if (found < 0) {
      so->refuse_hello = refusal(AVEC_REFUSAL_UNKNOWN_DEVICE, o.device_set
          ? "the ticket's device " + c.dev + " is not the device this server serves (--device " + std::to_string(o.device) + ")"
          : "the ticket's device " + c.dev + " is not on this node");
      return b;
    }
    b.reset();
    o.device = found;
    b = open_backend(o, why);
    if (!b) return b;
  }
  if (b->device_info(0, &di) != CUDA_SUCCESS) di.total_mem = 0;
  if (c.mem == 0) {
    so->refuse_hello = refusal(AVEC_REFUSAL_INSUFFICIENT_MEMORY, "the ticket grants no memory");
  } else if (c.mem > di.total_mem) {
    so->refuse_hello = refusal(AVEC_REFUSAL_INSUFFICIENT_MEMORY, "the ticket grants " + std::to_string(c.mem) +
                                   " bytes, the device has " + std::to_string(di.total_mem));
  } else if (cpct < 100 && !b->emulated() && !mps_running()) {
    // Without the MPS daemon the percentage is ignored by the driver: the session would get the whole GPU.
    so->refuse_hello = refusal(AVEC_REFUSAL_COMPUTE_SHARE, "the ticket grants " + std::to_string(cpct) +
                                   "% of the GPU; enforcing that needs the MPS control daemon, which this node does not run");
  }
  so->memory_limit = o.memory_limit && o.memory_limit < c.mem ? o.memory_limit : c.mem;
  so->ipc_scope = "claim:" + c.uid;
  AVEC_LOG(info, "ticket_grants").str("claim", c.ns + "/" + c.claim).str("device", c.dev).unum("mem", c.mem)
      .unum("memory_limit", so->memory_limit).num("compute_percent", cpct).num("max_sessions", c.max_sessions)
      .num("refused", so->refuse_hello.status ? 1 : 0);
  return b;
}

// Runs one session on an accepted socket in this process; returns the process exit status. `claims`: the
// ticket the listener verified before forking (standalone mode with --ticket-keys), else nullptr.
int serve(const Options& o, int fd, const std::string& session_id, const TicketClaims* claims, int stripe_channel) {
  log_set_context("session", session_id);
  // An inherited socket may come non-blocking (event-loop servers accept that way): the session loop
  // uses blocking reads and writes.
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0 && (fl & O_NONBLOCK)) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  tune_socket(fd);
  std::string why;
  SessionOptions so;
  std::unique_ptr<Backend> b = claims ? open_for_claims(o, *claims, &so, &why) : open_backend(o, &why);
  if (!b) {
    AVEC_LOG(error, "backend_unavailable").str("backend", o.backend).str("reason", why);
    close(fd);
    return 1;
  }
  ModuleStore store(o.module_cache, o.module_cache_max, o.module_memory_max);
  IpcRegistry ipc(o.ipc_dir);
  so.session_id = session_number(session_id);
  if (!claims) {
    so.memory_limit = o.memory_limit;
    so.ipc_scope = o.ipc_scope.empty() ? "addr:" + peer_address(fd) : o.ipc_scope;
    // --compute-percent (the remoting server passes the ticket's cpct this way) is a grant like the
    // others: without the MPS daemon the driver would ignore it, so it is refused rather than faked.
    if (o.compute_percent && o.compute_percent < 100 && !b->emulated() && !mps_running())
      so.refuse_hello = refusal(AVEC_REFUSAL_COMPUTE_SHARE, "this session may use " + std::to_string(o.compute_percent) +
                                    "% of the GPU; enforcing that needs the MPS control daemon, which this node does not run");
  } else if (!o.ipc_scope.empty()) {
    so.ipc_scope = o.ipc_scope;
  }
  so.ipc = &ipc;
  so.hello_timeout_ms = o.listener.hello_timeout_ms;
  so.stall_timeout_ms = o.stall_timeout_ms;
  so.max_objects = o.max_objects;
  so.max_module_bytes = o.max_module_bytes;
  so.stripe_channel = stripe_channel;
  so.max_stripes = o.max_stripes;
  so.compression = o.compression;
  so.device_output = true;  // this process is the session's alone: its stdout may go to the client
  so.before_teardown = [] {
    signal(SIGALRM, on_teardown_timeout);
    alarm(g_teardown_seconds);
  };
  FdConn conn(fd);
  conn.set_write_timeout_ms(o.stall_timeout_ms);
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
      .unum("mem_used", s.allocations().used())
      .unum("host_rss", process_rss_bytes())
      .unum("module_store_bytes", store.memory_bytes())
      .unum("objects_refused", st.objects_refused)
      .unum("device_output_bytes", st.device_output)
      .str("ops", s.op_summary());
  close(fd);
  return end == SessionEnd::bad_frame ? 3 : end == SessionEnd::refused ? 4 : 0;
}

int listen_mode(Options& o) {
  std::string host = o.listen, port;
  size_t colon = host.rfind(':');
  if (colon == std::string::npos) return usage_error("--listen wants HOST:PORT");
  port = host.substr(colon + 1);
  host = host.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  ListenerOptions& lo = o.listener;
  lo.host = host;
  lo.port = port;
  lo.ticket_keys = o.ticket_keys;
  lo.node = o.node;
  if (!o.ticket_keys.empty()) {
    if (lo.node.empty()) {
      char hn[256] = {};
      gethostname(hn, sizeof hn - 1);
      lo.node = hn;
    }
    std::string err;
    if (!TicketVerifier::from_file(o.ticket_keys, lo.node, &err)) return usage_error("--ticket-keys: " + err);
  }
  std::string prefix = o.session_id.empty() ? std::to_string(getpid()) : o.session_id;
  const Options& co = o;
  return run_listener(lo, prefix, [&co](int fd, const std::string& sid, const TicketClaims* claims, int channel) {
    return serve(co, fd, sid, claims, channel);
  });
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
    else if (a == "--stripe-channel") { if (!(v = val(a.c_str())) || !parse_u64(v, &n) || n > 65535) return usage_error("--stripe-channel needs a descriptor"); o.stripe_channel = (int)n; }
    else if (a == "--read-spin-us") { if (!(v = val(a.c_str())) || !parse_u64(v, &n) || n > 100000) return usage_error("--read-spin-us needs 0..100000"); set_read_spin_us((long)n); }
    else if (a == "--max-stripes") { if (!(v = val(a.c_str())) || !parse_u64(v, &n) || n > AVEC_MAX_STRIPES) return usage_error("--max-stripes needs 0..8"); o.max_stripes = (uint32_t)n; }
    else if (a == "--no-compression") o.compression = false;
    else if (a == "--fd") { if (!(v = val("--fd")) || !parse_u64(v, &n) || n > 65535) return usage_error("--fd needs a number"); o.fd = (int)n; }
    else if (a == "--backend") {
      if (!(v = val("--backend"))) return usage_error("--backend needs a value");
      o.backend = v;
      if (o.backend != "cuda" && o.backend != "emulated" && o.backend != "auto") return usage_error("--backend: cuda, emulated or auto");
    }
    else if (a == "--device") { if (!(v = val("--device")) || !parse_u64(v, &n) || n >= AVEC_MAX_DEVICES) return usage_error("--device needs an ordinal"); o.device = (int)n; o.device_set = true; }
    else if (a == "--hello-timeout-ms") { if (!(v = val(a.c_str())) || !parse_u64(v, &n) || !n || n > 600000) return usage_error("--hello-timeout-ms needs 1..600000"); o.listener.hello_timeout_ms = (int)n; }
    else if (a == "--stall-timeout") { if (!(v = val(a.c_str())) || !parse_u64(v, &n) || !n || n > 86400) return usage_error("--stall-timeout needs seconds (1..86400)"); o.stall_timeout_ms = (int)(n * 1000); }
    else if (a == "--max-pending") { if (!(v = val(a.c_str())) || !parse_u64(v, &n) || !n || n > 65536) return usage_error("--max-pending needs 1..65536"); o.listener.max_pending = n; }
    else if (a == "--max-pending-per-peer") { if (!(v = val(a.c_str())) || !parse_u64(v, &n) || !n || n > 65536) return usage_error("--max-pending-per-peer needs 1..65536"); o.listener.max_pending_per_peer = n; }
    else if (a == "--max-sessions") { if (!(v = val(a.c_str())) || !parse_u64(v, &n) || !n || n > 65536) return usage_error("--max-sessions needs 1..65536"); o.listener.max_sessions = n; }
    else if (a == "--max-sessions-per-claim") { if (!(v = val(a.c_str())) || !parse_u64(v, &n) || !n || n > 65536) return usage_error("--max-sessions-per-claim needs 1..65536"); o.listener.max_sessions_per_claim = n; }
    else if (a == "--max-objects") { if (!(v = val(a.c_str())) || !parse_u64(v, &n) || !n || n > (1u << 24)) return usage_error("--max-objects needs 1..16777216"); o.max_objects = n; }
    else if (a == "--max-module-bytes") { if (!(v = val(a.c_str())) || !parse_u64(v, &o.max_module_bytes) || !o.max_module_bytes) return usage_error("--max-module-bytes needs bytes"); }
    else if (a == "--module-memory-max") { if (!(v = val(a.c_str())) || !parse_u64(v, &o.module_memory_max)) return usage_error("--module-memory-max needs bytes"); }
    else if (a == "--memory-limit") { if (!(v = val("--memory-limit")) || !parse_u64(v, &o.memory_limit)) return usage_error("--memory-limit needs bytes"); }
    else if (a == "--emulated-memory") { if (!(v = val("--emulated-memory")) || !parse_u64(v, &o.emulated_memory) || !o.emulated_memory) return usage_error("--emulated-memory needs bytes"); }
    else if (a == "--module-cache") { if (!(v = val("--module-cache"))) return usage_error("--module-cache needs a directory"); o.module_cache = v; }
    else if (a == "--module-cache-max") { if (!(v = val("--module-cache-max")) || !parse_u64(v, &o.module_cache_max)) return usage_error("--module-cache-max needs bytes"); }
    else if (a == "--compute-percent") { if (!(v = val("--compute-percent")) || !parse_u64(v, &n) || n < 1 || n > 100) return usage_error("--compute-percent needs 1..100"); o.compute_percent = (unsigned)n; o.compute_percent_set = true; }
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
  if (o.compute_percent && o.ticket_keys.empty()) {
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
  return serve(o, o.fd, o.session_id.empty() ? std::to_string(getpid()) : o.session_id, nullptr, o.stripe_channel);
}
