// Integration tests: a raw-frame client against real avec-executor processes (emulated backend).
// AVEC_EXECUTOR names the binary. Each test starts its own listener with its own log file.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include <cuda.h>

#include "check.h"
#include "json.h"
#include "sha256.h"
#include "ticket.h"
#include "wire.h"

using namespace avectest;

static std::string g_exec;

static std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, nullptr);
}

// A listener process and its log.
struct Listener {
  pid_t pid = -1;
  int port = 0;
  std::string log;

  explicit Listener(std::vector<std::string> extra = {}, const std::string& backend = "emulated",
                    const std::string& lib_path = "") {
    char tmpl[] = "/tmp/avec-exec-log-XXXXXX";
    int fd = mkstemp(tmpl);
    log = tmpl;
    std::vector<std::string> args = {g_exec, "--listen", "127.0.0.1:0", "--backend", backend, "--log-level", "info",
                                     "--emulated-memory", "268435456"};
    args.insert(args.end(), extra.begin(), extra.end());
    pid = fork();
    if (pid == 0) {
      dup2(fd, 2);
      if (!lib_path.empty()) setenv("LD_LIBRARY_PATH", lib_path.c_str(), 1);
      std::vector<char*> av;
      for (auto& a : args) av.push_back(const_cast<char*>(a.c_str()));
      av.push_back(nullptr);
      execv(av[0], av.data());
      _exit(127);
    }
    close(fd);
    for (int i = 0; i < 200 && !port; i++) {  // wait for the "listening" line (up to 4 s)
      std::string text = slurp(log);
      size_t at = text.find("\"event\":\"listening\",\"address\":\"127.0.0.1:");
      if (at != std::string::npos) port = atoi(text.c_str() + at + strlen("\"event\":\"listening\",\"address\":\"127.0.0.1:"));
      else sleep_ms(20);
    }
  }
  ~Listener() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
    unlink(log.c_str());
  }
  bool alive() const { return pid > 0 && waitpid(pid, nullptr, WNOHANG) == 0; }
  // Waits until the log contains all the given fragments on one line.
  bool wait_line(std::initializer_list<std::string> parts, int ms = 5000) const {
    for (int t = 0; t < ms; t += 20) {
      std::istringstream in(slurp(log));
      std::string line;
      while (std::getline(in, line)) {
        bool all = true;
        for (auto& p : parts) all = all && line.find(p) != std::string::npos;
        if (all) return true;
      }
      sleep_ms(20);
    }
    return false;
  }
};

struct Client {
  int fd = -1;
  explicit Client(int port) {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr*)&a, sizeof a) != 0) { close(fd); fd = -1; return; }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  explicit Client(int sockfd, bool) : fd(sockfd) {
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~Client() { if (fd >= 0) close(fd); }
  bool send(const Bytes& b) {
    size_t off = 0;
    while (off < b.size()) {
      ssize_t n = ::send(fd, b.data() + off, b.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += (size_t)n;
    }
    return true;
  }
  bool read_exact(void* p, size_t n) {
    uint8_t* d = static_cast<uint8_t*>(p);
    while (n) {
      ssize_t r = ::recv(fd, d, n, 0);
      if (r <= 0) return false;
      d += r;
      n -= (size_t)r;
    }
    return true;
  }
  bool reply(Reply* r) {
    if (!read_exact(&r->hdr, sizeof r->hdr)) return false;
    if (r->hdr.magic != AVEC_WIRE_MAGIC || !(r->hdr.flags & AVEC_F_REPLY) || r->hdr.payload_len > AVEC_MAX_PAYLOAD) return false;
    r->payload.resize(r->hdr.payload_len);
    return read_exact(r->payload.data(), r->payload.size());
  }
  Reply call(const Bytes& b) {
    Reply r;
    if (!send(b) || !reply(&r)) r.payload.clear();
    return r;
  }
  // Collects a multi-frame D2H reply; returns the final status.
  uint32_t read_data(Bytes* out) {
    for (;;) {
      Reply r;
      if (!reply(&r)) return 0xffffffffu;
      out->insert(out->end(), r.payload.begin() + 8, r.payload.end());
      if (!(r.hdr.flags & AVEC_F_MORE)) return r.status();
    }
  }
  bool closed_by_peer() {
    uint8_t b;
    return ::recv(fd, &b, 1, 0) == 0;
  }
  bool hello_ok(avec_hello_reply* out = nullptr, const std::string& ticket = "") {
    Reply r = call(hello(0, ticket));
    if (out) *out = r.as<avec_hello_reply>();
    return r.status() == 0 && r.payload.size() >= sizeof(avec_hello_reply) + sizeof(avec_device_info);
  }
  uint64_t alloc(uint64_t n, uint32_t* status = nullptr) {
    Reply r = call(mem_alloc(n, 2));
    if (status) *status = r.status();
    return r.status() == 0 ? r.as<avec_mem_alloc_reply>().dptr : 0;
  }
};

TEST(listener_hello_and_large_roundtrip) {
  Listener l;
  CHECK(l.port > 0);
  Client c(l.port);
  avec_hello_reply hr;
  CHECK(c.hello_ok(&hr));
  CHECK_EQ(hr.emulated, 1u);
  CHECK_EQ(hr.driver_version, 13000u);
  size_t n = 10 * 1024 * 1024 + 777;
  uint64_t d = c.alloc(n);
  CHECK(d != 0);
  Bytes data(n);
  for (size_t i = 0; i < n; i++) data[i] = (uint8_t)((i * 2654435761u) >> 13);
  Bytes batch;
  for (size_t off = 0; off < n; off += AVEC_CHUNK) {  // 4 MiB chunks: read straight into staging
    size_t k = std::min<size_t>(AVEC_CHUNK, n - off);
    batch = cat({batch, htod(d + off, Bytes(data.begin() + off, data.begin() + off + k), AVEC_F_ASYNC, 0)});
  }
  batch = cat({batch, htod(d, Bytes(data.begin(), data.begin() + 100))});  // a small one, buffered
  CHECK(c.send(cat({batch, dtoh(d, n, 9)})));
  Bytes got;
  CHECK_EQ(c.read_data(&got), 0u);
  CHECK(got == data);
  Reply p = c.call(frame(AVEC_OP_PING, {}, 10));
  CHECK_EQ(p.status(), 0u);
  CHECK_EQ(p.hdr.request_id, 10u);
  CHECK(c.send(frame(AVEC_OP_GOODBYE, {}, 0)));
  CHECK(c.closed_by_peer());
  CHECK(l.wait_line({"\"event\":\"session_end\"", "\"reason\":\"goodbye\"", "\"freed_allocations\":1"}));
}

TEST(listener_pointer_checks_and_isolation) {
  Listener l;
  Client a(l.port), b(l.port);
  CHECK(a.hello_ok());
  CHECK(b.hello_ok());
  uint64_t d = a.alloc(4096);
  CHECK(d != 0);
  Bytes out;
  CHECK(b.send(dtoh(d, 16, 3)));  // b's session has no allocation there (another process, another table)
  CHECK_EQ(b.read_data(&out), (uint32_t)CUDA_ERROR_INVALID_VALUE);
  CHECK(a.send(cat({htod(d + 4090, Bytes(10, 1)), frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 4)})));
  Reply r;
  CHECK(a.reply(&r));
  CHECK_EQ(r.status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);
  avec_memcpy_dtod dd = {d + 2048, d, 4096, 0, 0};  // source runs past the end
  CHECK_EQ(a.call(cat({frame_of(AVEC_OP_MEMCPY_DTOD, dd, 0), frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 5)})).status(),
           (uint32_t)CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(a.call(frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 6)).status(), 0u);
}

TEST(listener_memory_limit) {
  Listener l({"--memory-limit", "1048576"});
  Client c(l.port);
  avec_hello_reply hr;
  CHECK(c.hello_ok(&hr));
  CHECK_EQ(hr.memory_limit, 1048576u);
  uint32_t st = 0;
  CHECK(c.alloc(2 << 20, &st) == 0);
  CHECK_EQ(st, (uint32_t)CUDA_ERROR_OUT_OF_MEMORY);
  CHECK(c.alloc(700000, &st) != 0);
  CHECK(c.alloc(400000, &st) == 0);
  CHECK_EQ(st, (uint32_t)CUDA_ERROR_OUT_OF_MEMORY);
  Reply mi = c.call(frame(AVEC_OP_MEM_GET_INFO, {}, 7));
  avec_mem_info m = mi.as<avec_mem_info>();
  CHECK_EQ(m.r.status, 0u);
  CHECK_EQ(m.total, 1048576u);
  CHECK_EQ(m.free, 1048576u - 700000u);
  CHECK(l.wait_line({"\"event\":\"memory_limit\"", "\"requested\":2097152"}));
}

TEST(listener_module_need_image_and_cache) {
  char tmpl[] = "/tmp/avec-modcache-it-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  Listener l({"--module-cache", dir});
  Bytes img = tiny_ptx();
  uint8_t h[32];
  avec::sha256(img.data(), img.size(), h);
  {
    Client c(l.port);
    CHECK(c.hello_ok());
    Reply r = c.call(cat({module_load(3, h, img.size()), symbol(AVEC_OP_GET_FUNCTION, 3, 4, "add_one", 5)}));
    CHECK_EQ(r.status(), AVEC_STATUS_NEED_IMAGE);
    CHECK(r.payload.size() == 8 + sizeof(avec_module_image) && memcmp(r.payload.data() + 8, h, 32) == 0);
    // upload in two parts (consecutive MODULE_IMAGE frames with the same hash)
    Bytes part1 = module_image(h, Bytes(img.begin(), img.begin() + 20));
    avec_module_image* mi = reinterpret_cast<avec_module_image*>(part1.data() + sizeof(avec_frame_hdr));
    mi->size = img.size();
    Bytes part2 = module_image(h, Bytes(img.begin() + 20, img.end()));
    reinterpret_cast<avec_module_image*>(part2.data() + sizeof(avec_frame_hdr))->size = img.size();
    Reply ok = c.call(cat({part1, part2, symbol(AVEC_OP_GET_FUNCTION, 3, 4, "add_one", 6)}));
    CHECK_EQ(ok.status(), 0u);
    CHECK_EQ(ok.as<avec_function_info>().num_params, AVEC_PARAMS_UNKNOWN);
    Reply launch_r = c.call(cat({launch(4), frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 7)}));
    CHECK_EQ(launch_r.status(), (uint32_t)CUDA_ERROR_NOT_SUPPORTED);
  }
  CHECK(l.wait_line({"emulated device cannot run kernels"}));
  {
    Client c(l.port);  // a later session (another process): the image comes from the disk cache
    CHECK(c.hello_ok());
    Reply r = c.call(cat({module_load(3, h, img.size()), symbol(AVEC_OP_GET_FUNCTION, 3, 4, "add_one", 5)}));
    CHECK_EQ(r.status(), 0u);
  }
  std::string cached = dir + "/" + avec::hex(h, 32) + ".img";
  CHECK(slurp(cached) == std::string(img.begin(), img.end()));
  unlink(cached.c_str());
  rmdir(dir.c_str());
}

TEST(listener_malformed_frames_close_connection_only) {
  Listener l;
  {
    Client c(l.port);
    CHECK(c.hello_ok());
    Bytes bad = frame(AVEC_OP_PING, {}, 5);
    bad[0] ^= 0xff;  // bad magic
    Reply r = c.call(bad);
    CHECK_EQ(r.status(), AVEC_STATUS_BAD_FRAME);
    CHECK(c.closed_by_peer());
  }
  {
    Client c(l.port);
    CHECK(c.hello_ok());
    avec_frame_hdr h = {AVEC_WIRE_MAGIC, 1, AVEC_OP_MEMCPY_HTOD, 0, 6, 1, 0x7fffffffu};  // oversized
    Bytes b;
    put(&b, h);
    Reply r = c.call(b);
    CHECK_EQ(r.status(), AVEC_STATUS_BAD_FRAME);
    CHECK_EQ(r.hdr.request_id, 6u);
    CHECK(c.closed_by_peer());
  }
  {
    Client c(l.port);  // garbage before any HELLO
    Bytes junk(300);
    for (size_t i = 0; i < junk.size(); i++) junk[i] = (uint8_t)(i * 31 + 7);
    c.send(junk);
    Reply r;
    c.reply(&r);
    CHECK(c.closed_by_peer());
  }
  CHECK(l.alive());
  Client ok(l.port);
  CHECK(ok.hello_ok());  // the listener still serves
  CHECK(l.wait_line({"\"event\":\"bad_frame\"", "\"reason\":\"bad magic\""}));
  CHECK(l.wait_line({"\"event\":\"bad_frame\"", "\"reason\":\"payload too large\""}));
}

TEST(listener_concurrent_sessions) {
  Listener l({"--memory-limit", "33554432"});
  const int kClients = 8;
  std::vector<pid_t> kids;
  for (int k = 0; k < kClients; k++) {
    pid_t pid = fork();
    if (pid == 0) {  // each client: its own session process, its own data, verified end to end
      Client c(l.port);
      if (!c.hello_ok()) _exit(10);
      uint32_t x = 1234567u * (uint32_t)(k + 1);
      for (int it = 0; it < 40; it++) {
        x = x * 1664525u + 1013904223u;
        size_t n = 1 + x % (300 * 1024);
        uint64_t d = c.alloc(n);
        if (!d) _exit(11);
        Bytes data(n);
        for (size_t i = 0; i < n; i++) data[i] = (uint8_t)(x >> (i % 24));
        if (!c.send(cat({htod(d, data), dtoh(d, n, 5)}))) _exit(12);
        Bytes got;
        if (c.read_data(&got) != 0 || got != data) _exit(13);
        avec_mem_free f = {d, 0, 0};
        if (!c.send(frame_of(AVEC_OP_MEM_FREE, f, 0))) _exit(14);
      }
      if (c.call(frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 6)).status() != 0) _exit(15);
      c.send(frame(AVEC_OP_GOODBYE, {}, 0));
      _exit(c.closed_by_peer() ? 0 : 16);
    }
    kids.push_back(pid);
  }
  int ok = 0;
  for (pid_t pid : kids) {
    int st = -1;
    waitpid(pid, &st, 0);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) ok++;
    else fprintf(stderr, "  client exit status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  }
  CHECK_EQ(ok, kClients);
  CHECK(l.alive());
  int ends = 0;
  for (int t = 0; t < 100 && ends < kClients; t++) {
    ends = 0;
    std::string log = slurp(l.log);
    for (size_t at = 0; (at = log.find("\"reason\":\"goodbye\"", at)) != std::string::npos; at++) ends++;
    if (ends < kClients) sleep_ms(50);
  }
  CHECK_EQ(ends, kClients);
}

TEST(listener_client_killed_mid_session) {
  Listener l;
  int ready[2];
  CHECK(pipe(ready) == 0);
  pid_t kid = fork();
  if (kid == 0) {
    close(ready[0]);
    Client c(l.port);
    bool ok = c.hello_ok();
    ok = ok && c.alloc(1 << 20) && c.alloc(1 << 20) && c.alloc(1 << 20);
    Bytes partial = htod(0, Bytes(1 << 20, 1));  // the process dies in the middle of this frame
    partial.resize(partial.size() / 2);
    ok = ok && c.send(partial);
    char b = ok ? 'y' : 'n';
    if (write(ready[1], &b, 1) != 1) _exit(1);
    pause();
    _exit(0);
  }
  close(ready[1]);
  char b = 0;
  CHECK(read(ready[0], &b, 1) == 1 && b == 'y');
  close(ready[0]);
  kill(kid, SIGKILL);
  waitpid(kid, nullptr, 0);
  CHECK(l.wait_line({"\"event\":\"session_end\"", "\"reason\":\"client_disconnected\"", "\"freed_allocations\":3",
                     "\"mem_used\":0"}));
  CHECK(l.wait_line({"\"event\":\"session_process_exit\"", "\"status\":0"}));
  CHECK(l.alive());
}

TEST(fd_mode_sigterm_ends_session_cleanly) {
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  char tmpl[] = "/tmp/avec-exec-term-XXXXXX";
  int logfd = mkstemp(tmpl);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(sv[1], 3);
    dup2(logfd, 2);
    execl(g_exec.c_str(), g_exec.c_str(), "--fd", "3", "--backend", "emulated", "--session-id", "sess-term", (char*)nullptr);
    _exit(127);
  }
  close(sv[1]);
  close(logfd);
  {
    Client c(sv[0], true);
    CHECK(c.hello_ok());
    CHECK(c.alloc(4096) != 0);
    kill(pid, SIGTERM);  // what the remoting server does to close a session
    int status = -1;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  std::string log = slurp(tmpl);
  CHECK(log.find("\"event\":\"session_end\"") != std::string::npos);
  CHECK(log.find("\"reason\":\"terminated\"") != std::string::npos);
  CHECK(log.find("\"freed_allocations\":1") != std::string::npos);
  unlink(tmpl);
}

TEST(fd_mode_one_session) {
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(sv[1], 3);  // dup2 clears close-on-exec on the new descriptor
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    execl(g_exec.c_str(), g_exec.c_str(), "--fd", "3", "--backend", "emulated", "--session-id", "sess-abc",
          "--memory-limit", "4096", (char*)nullptr);
    _exit(127);
  }
  close(sv[1]);
  Client c(sv[0], true);
  avec_hello_reply hr;
  CHECK(c.hello_ok(&hr));
  CHECK_EQ(hr.memory_limit, 4096u);
  CHECK(hr.session_id != 0);
  CHECK_EQ(c.call(frame(AVEC_OP_PING, {}, 2)).status(), 0u);
  c.send(frame(AVEC_OP_GOODBYE, {}, 0));
  int status = -1;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static std::string b64url(const uint8_t* p, size_t n) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string o;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    acc = (acc << 8) | p[i];
    bits += 8;
    while (bits >= 6) { bits -= 6; o += a[(acc >> bits) & 63]; }
  }
  if (bits) o += a[(acc << (6 - bits)) & 63];
  return o;
}

static std::string sign(const std::string& key, const std::string& payload) {
  std::string b = b64url((const uint8_t*)payload.data(), payload.size());
  std::string signed_part = "avec1." + b;
  uint8_t mac[32];
  avec::hmac_sha256((const uint8_t*)key.data(), key.size(), (const uint8_t*)signed_part.data(), signed_part.size(), mac);
  return signed_part + "." + b64url(mac, 32);
}

TEST(listener_ticket_check) {
  char tmpl[] = "/tmp/avec-keys-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string key(32, 'k');
  { std::ofstream f(dir + "/k1", std::ios::binary); f << key; }
  Listener l({"--ticket-keys", dir, "--node", "gpu-test"});
  long long now = time(nullptr);
  std::string payload = "{\"v\":1,\"kid\":\"k1\",\"uid\":\"u\",\"ns\":\"n\",\"claim\":\"c\",\"node\":\"gpu-test\",\"dev\":\"\","
                        "\"mem\":1048576,\"cpct\":100,\"iat\":" + std::to_string(now - 5) + ",\"exp\":" +
                        std::to_string(now + 600) + "}";
  {
    Client c(l.port);
    CHECK(c.hello_ok(nullptr, sign(key, payload)));
  }
  {
    Client c(l.port);
    Reply r = c.call(hello(0, sign(std::string(32, 'x'), payload)));
    CHECK_EQ(r.status(), AVEC_STATUS_BAD_TICKET);
    CHECK(c.closed_by_peer());
  }
  CHECK(l.wait_line({"\"event\":\"hello_refused\"", "\"reason\":\"bad-signature\""}));
  // rotation: a key added to the directory is accepted by the next session without a restart
  std::string key2(40, 'n');
  { std::ofstream f(dir + "/k2", std::ios::binary); f << key2; }
  std::string payload2 = payload;
  payload2.replace(payload2.find("\"k1\""), 4, "\"k2\"");
  {
    Client c(l.port);
    CHECK(c.hello_ok(nullptr, sign(key2, payload2)));
  }
  unlink((dir + "/k2").c_str());
  unlink((dir + "/k1").c_str());
  rmdir(dir.c_str());
}

static int run_cmd(const std::string& cmd, std::string* out) {
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(describe_and_cli) {
  std::string out;
  CHECK_EQ(run_cmd(g_exec + " --describe --backend emulated 2>/dev/null", &out), 0);
  avec::Json j;
  CHECK(avec::json_parse(out.substr(0, out.find_last_not_of("\n") + 1), &j));
  CHECK(j.get("backend") && j.get("backend")->str == "emulated");
  const avec::Json* devs = j.get("devices");
  CHECK(devs && devs->arr.size() == 1);
  if (devs && devs->arr.size() == 1) {
    CHECK(devs->arr[0].get("name")->str.find("emulated") != std::string::npos);
    CHECK(devs->arr[0].get("uuid")->str.rfind("GPU-", 0) == 0);
    CHECK(devs->arr[0].get("emulated")->b);
    CHECK(devs->arr[0].get("total_mem")->num > 0);
  }
  std::string none;
  CHECK_EQ(run_cmd(g_exec + " --bogus 2>/dev/null", &none), 2);
  CHECK_EQ(run_cmd(g_exec + " --listen 127.0.0.1:1 --fd 3 2>/dev/null", &none), 2);
  std::string help;
  CHECK_EQ(run_cmd(g_exec + " --help", &help), 0);
  CHECK(help.find("--module-cache") != std::string::npos);
  // An executor started under LD_PRELOAD drops it before touching any driver (re-exec with a clean env).
  std::string env_out;
  CHECK_EQ(run_cmd("LD_PRELOAD=/nonexistent-avec-shim.so " + g_exec + " --describe --backend emulated 2>/dev/null", &env_out), 0);
  CHECK(env_out.find("\"backend\":\"emulated\"") != std::string::npos);
}

// ---- the CUDA backend against the mock driver (tests/mock_driver.cpp) ---------------------------------

static std::string g_mock_dir, g_mock_shim_dir;
// With AVEC_TEST_GPU_FATBIN (tests/gpu_kernels.cu built by nvcc) the cuda_backend tests use the real driver
// and that image instead of the mock driver; checks only the mock can answer are left out.
static std::string g_gpu_fatbin;
static bool real_gpu() { return !g_gpu_fatbin.empty(); }
static std::string cuda_lib_path() { return real_gpu() ? "" : g_mock_dir; }
static Bytes cuda_image() {
  if (!real_gpu()) return tiny_ptx();
  std::string b = slurp(g_gpu_fatbin);
  return Bytes(b.begin(), b.end());
}

static Bytes module_load_kind(uint32_t handle, const uint8_t hash[32], uint64_t size, uint32_t kind) {
  avec_module_load m = {};
  m.handle = handle;
  m.kind = kind;
  memcpy(m.hash, hash, 32);
  m.size = size;
  return frame_of(AVEC_OP_MODULE_LOAD, m, 0);
}

static Bytes fill_launch(uint32_t func, uint64_t ptr, uint32_t n, uint32_t value, uint32_t attr_id = 0,
                         uint64_t attr_value = 0) {
  avec_launch l = {};
  l.func = func;
  for (int i = 0; i < 3; i++) l.grid[i] = l.block[i] = 1;
  l.num_attrs = attr_id ? 1 : 0;
  l.param_bytes = 16;
  Bytes p;
  put(&p, l);
  if (attr_id) {
    avec_launch_attr a = {};
    a.id = attr_id;
    memcpy(a.value, &attr_value, 8);
    put(&p, a);
  }
  put(&p, ptr);
  put(&p, n);
  put(&p, value);
  return frame(AVEC_OP_LAUNCH, p, 0);
}

static bool all_words(const Bytes& b, uint32_t v) {
  for (size_t i = 0; i + 4 <= b.size(); i += 4) {
    uint32_t w;
    memcpy(&w, b.data() + i, 4);
    if (w != v) return false;
  }
  return !b.empty();
}

static const char* kNoLeaks = "mock_driver_release live_allocs=0 live_pinned=0 live_streams=0 live_events=0 live_modules=0";

TEST(cuda_backend_end_to_end) {
  Listener l({"--memory-limit", "67108864"}, "cuda", cuda_lib_path());
  CHECK(l.port > 0);
  {
    Client c(l.port);
    Reply hr = c.call(hello());
    avec_hello_reply h = hr.as<avec_hello_reply>();
    CHECK_EQ(h.r.status, 0u);
    CHECK_EQ(h.emulated, 0u);
    CHECK_EQ(h.memory_limit, 67108864u);
    avec_device_info di = {};
    if (hr.payload.size() >= sizeof h + sizeof di) memcpy(&di, hr.payload.data() + sizeof h, sizeof di);
    if (real_gpu()) {
      CHECK(di.name[0] != 0 && strstr(di.name, "emulated") == nullptr);
      CHECK(di.attrs[CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT] > 0);
    } else {
      CHECK(strcmp(di.name, "Mock GPU") == 0);
      CHECK_EQ(di.attrs[CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT], 132);
      CHECK_EQ(di.pci_bus, 0x42);
    }
    // bulk copies through pinned staging: 3 chunks each way, async and not
    size_t n = 2 * AVEC_CHUNK + 4321;
    uint64_t d = c.alloc(n);
    CHECK(d != 0);
    Bytes data(n);
    for (size_t i = 0; i < n; i++) data[i] = (uint8_t)(i * 7 + (i >> 12));
    Bytes batch;
    for (size_t off = 0; off < n; off += AVEC_CHUNK) {
      size_t k = std::min<size_t>(AVEC_CHUNK, n - off);
      batch = cat({batch, htod(d + off, Bytes(data.begin() + off, data.begin() + off + k), off ? AVEC_F_ASYNC : 0)});
    }
    CHECK(c.send(cat({batch, dtoh(d, n, 3)})));
    Bytes got;
    CHECK_EQ(c.read_data(&got), 0u);
    CHECK(got == data);
    // module -> NEED_IMAGE -> upload -> function with its parameter table -> launch with marshalled params
    Bytes img = cuda_image();
    uint8_t hash[32];
    avec::sha256(img.data(), img.size(), hash);
    Reply need = c.call(cat({module_load_kind(5, hash, img.size(), AVEC_MODULE_KIND_MODULE),
                             symbol(AVEC_OP_GET_FUNCTION, 5, 6, "avec_fill", 4)}));
    CHECK_EQ(need.status(), AVEC_STATUS_NEED_IMAGE);
    Reply fr = c.call(cat({module_image(hash, img), symbol(AVEC_OP_GET_FUNCTION, 5, 6, "avec_fill", 5)}));
    CHECK_EQ(fr.status(), 0u);
    avec_function_info fi = fr.as<avec_function_info>();
    CHECK_EQ(fi.num_params, 3u);
    CHECK_EQ(fi.attrs[CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK], 1024);
    CHECK_EQ(fr.payload.size(), sizeof fi + 3 * sizeof(avec_param_info));
    if (fr.payload.size() == sizeof fi + 3 * sizeof(avec_param_info)) {
      avec_param_info pi[3];
      memcpy(pi, fr.payload.data() + sizeof fi, sizeof pi);
      CHECK(pi[0].offset == 0 && pi[0].size == 8 && pi[1].offset == 8 && pi[2].offset == 12 && pi[2].size == 4);
    }
    CHECK(c.send(cat({fill_launch(6, d, 1000, 0xdeadbeefu), dtoh(d, 4000, 6)})));
    got.clear();
    CHECK_EQ(c.read_data(&got), 0u);
    CHECK(all_words(got, 0xdeadbeefu));
    // a library kernel (CUkernel launched as a function), with a launch-completion event attribute
    avec_event_create ec = {40, 0};
    avec_get_symbol ks = {7, 8, AVEC_SYMBOL_KERNEL, 9};
    Bytes kp;
    put(&kp, ks);
    put(&kp, "avec_fill", 9);
    Reply kr = c.call(cat({module_load_kind(7, hash, img.size(), AVEC_MODULE_KIND_LIBRARY), frame(AVEC_OP_GET_FUNCTION, kp, 7),}));
    CHECK_EQ(kr.status(), 0u);
    CHECK(c.send(cat({frame_of(AVEC_OP_EVENT_CREATE, ec, 0),
                      fill_launch(8, d + 4000, 10, 7u, CU_LAUNCH_ATTRIBUTE_LAUNCH_COMPLETION_EVENT, 40), dtoh(d + 4000, 40, 8)})));
    got.clear();
    CHECK_EQ(c.read_data(&got), 0u);
    CHECK(all_words(got, 7u));
    // globals become valid ranges of their size
    Reply gr = c.call(symbol(AVEC_OP_GET_GLOBAL, 5, 0, "avec_table", 9));
    avec_global_info gi = gr.as<avec_global_info>();
    CHECK_EQ(gi.r.status, 0u);
    CHECK_EQ(gi.size, 256u);
    CHECK(c.send(cat({htod(gi.dptr, Bytes(256, 0x5a)), dtoh(gi.dptr, 256, 10)})));
    got.clear();
    CHECK_EQ(c.read_data(&got), 0u);
    CHECK(got == Bytes(256, 0x5a));
    CHECK(c.send(dtoh(gi.dptr, 257, 11)));
    got.clear();
    CHECK_EQ(c.read_data(&got), (uint32_t)CUDA_ERROR_INVALID_VALUE);
    avec_occupancy oc = {6, AVEC_OCC_MAX_POTENTIAL_BLOCK, 0, 0, 0};
    Reply orp = c.call(frame_of(AVEC_OP_OCCUPANCY, oc, 12));
    CHECK_EQ(orp.status(), 0u);
    uint64_t ov = 0;
    if (orp.payload.size() >= 16) memcpy(&ov, orp.payload.data() + 8, 8);
    if (real_gpu()) CHECK((ov & 0xffffffffu) > 0 && (ov >> 32) > 0);
    else CHECK_EQ(ov, (264ull << 32) | 1024u);
    avec_occupancy cl = {6, AVEC_OCC_MAX_ACTIVE_CLUSTERS, 128, 2u | 1u << 8 | 1u << 16, 0};  // 2x1x1 clusters
    Reply clr = c.call(frame_of(AVEC_OP_OCCUPANCY, cl, 14));
    CHECK_EQ(clr.status(), 0u);
    uint64_t cv = 0;
    if (clr.payload.size() >= 16) memcpy(&cv, clr.payload.data() + 8, 8);
    if (real_gpu()) CHECK(cv > 0);
    else CHECK_EQ(cv, 132u * 8 / 2);
    avec_stream_create sc = {20, 0, 0, 0};
    CHECK_EQ(c.call(cat({frame_of(AVEC_OP_STREAM_CREATE, sc, 0), frame_of(AVEC_OP_STREAM_SYNCHRONIZE, avec_handle{20, 0}, 13)})).status(), 0u);
    c.send(frame(AVEC_OP_GOODBYE, {}, 0));
    CHECK(c.closed_by_peer());
  }
  if (!real_gpu()) CHECK(l.wait_line({kNoLeaks}));  // everything freed, contexts released (the mock counts)
  CHECK(l.wait_line({"\"event\":\"session_end\"", "\"reason\":\"goodbye\""}));
}

TEST(cuda_backend_memory_stream_event_ops) {
  Listener l({"--memory-limit", "16777216"}, "cuda", cuda_lib_path());
  Client c(l.port);
  CHECK(c.hello_ok());
  // pitched allocation, 2D memset, packed 2D read-back
  Reply pr = c.call(mem_alloc(100, 2, 8, 4));
  avec_mem_alloc_reply pa = pr.as<avec_mem_alloc_reply>();
  CHECK_EQ(pa.r.status, 0u);
  CHECK(pa.pitch >= 100);
  avec_memset ms = {};
  ms.dst = pa.dptr;
  ms.pitch = pa.pitch;
  ms.width = 25;
  ms.height = 8;
  ms.value = 0xa5a5a5a5u;
  ms.elem_size = 4;
  avec_memcpy2d back = {};
  back.dst = pa.dptr;
  back.dst_pitch = pa.pitch;
  back.width = 100;
  back.height = 8;
  CHECK(c.send(cat({frame_of(AVEC_OP_MEMSET, ms, 0), frame_of(AVEC_OP_MEMCPY2D_DTOH, back, 3)})));
  Bytes got;
  CHECK_EQ(c.read_data(&got), 0u);
  CHECK(got.size() == 800 && all_words(got, 0xa5a5a5a5u));
  // 2D upload into the middle rows, 2D device copy, read back
  avec_memcpy2d up = {};
  up.dst = pa.dptr + pa.pitch * 2;
  up.dst_pitch = pa.pitch;
  up.width = 100;
  up.height = 2;
  Bytes rows;
  put(&rows, up);
  Bytes payload(200, 0x11);
  put(&rows, payload.data(), payload.size());
  avec_memcpy2d dd = {};
  dd.dst = pa.dptr + pa.pitch * 6;
  dd.dst_pitch = pa.pitch;
  dd.src = pa.dptr + pa.pitch * 2;
  dd.src_pitch = pa.pitch;
  dd.width = 100;
  dd.height = 2;
  avec_memcpy2d back2 = back;
  back2.dst = pa.dptr + pa.pitch * 6;
  back2.height = 2;
  CHECK(c.send(cat({frame(AVEC_OP_MEMCPY2D_HTOD, rows, 0), frame_of(AVEC_OP_MEMCPY2D_DTOD, dd, 0),
                    frame_of(AVEC_OP_MEMCPY2D_DTOH, back2, 4)})));
  got.clear();
  CHECK_EQ(c.read_data(&got), 0u);
  CHECK(got == Bytes(200, 0x11));
  // stream-ordered work: async copies on a created stream, events, waits, elapsed time
  uint64_t a = c.alloc(1 << 20), b = c.alloc(1 << 20);
  CHECK(a && b);
  avec_stream_create sc = {20, 0, 0, 0};
  avec_event_create e1 = {40, 0}, e2 = {41, 0};
  avec_event_record r1 = {40, 20, 0, 0}, r2 = {41, 20, 0, 0};
  avec_stream_wait w = {0, 41, 0, 0};
  avec_memcpy_dtod cp = {b, a, 1 << 20, 20, 0};
  Bytes fill = htod(a, Bytes(1 << 20, 0x77), AVEC_F_ASYNC, 20);
  Bytes dtod_async = frame_of(AVEC_OP_MEMCPY_DTOD, cp, 0, 1, AVEC_F_ASYNC);
  avec_u32x2 el = {40, 41};
  Reply er = c.call(cat({frame_of(AVEC_OP_STREAM_CREATE, sc, 0), frame_of(AVEC_OP_EVENT_CREATE, e1, 0),
                         frame_of(AVEC_OP_EVENT_CREATE, e2, 0), frame_of(AVEC_OP_EVENT_RECORD, r1, 0), fill, dtod_async,
                         frame_of(AVEC_OP_EVENT_RECORD, r2, 0), frame_of(AVEC_OP_STREAM_WAIT_EVENT, w, 0),
                         frame_of(AVEC_OP_EVENT_SYNCHRONIZE, avec_handle{41, 0}, 5)}));
  CHECK_EQ(er.status(), 0u);
  Reply elr = c.call(frame_of(AVEC_OP_EVENT_ELAPSED, el, 6));
  CHECK_EQ(elr.status(), 0u);
  float ms_el = -1;
  if (elr.payload.size() >= 12) memcpy(&ms_el, elr.payload.data() + 8, 4);
  CHECK(ms_el >= 0.0f);
  got.clear();
  CHECK(c.send(dtoh(b, 1 << 20, 7)));
  CHECK_EQ(c.read_data(&got), 0u);
  CHECK(got == Bytes(1 << 20, 0x77));
  // limits, memory info (the limit is the total), stream-ordered free
  avec_limit lim = {CU_LIMIT_STACK_SIZE, 0, 0};
  CHECK_EQ(c.call(frame_of(AVEC_OP_CTX_GET_LIMIT, lim, 8)).status(), 0u);
  avec_mem_info mi = c.call(frame(AVEC_OP_MEM_GET_INFO, {}, 9)).as<avec_mem_info>();
  CHECK_EQ(mi.r.status, 0u);
  CHECK_EQ(mi.total, 16777216u);
  CHECK(mi.free <= mi.total - (2u << 20));
  avec_mem_free fa = {a, 20, 0};
  CHECK_EQ(c.call(cat({frame_of(AVEC_OP_MEM_FREE, fa, 0, 1, AVEC_F_ASYNC), frame_of(AVEC_OP_STREAM_SYNCHRONIZE, avec_handle{20, 0}, 10)})).status(), 0u);
  got.clear();
  CHECK(c.send(dtoh(a, 16, 11)));
  CHECK_EQ(c.read_data(&got), (uint32_t)CUDA_ERROR_INVALID_VALUE);  // freed: no longer a valid range
  c.send(frame(AVEC_OP_GOODBYE, {}, 0));
  CHECK(c.closed_by_peer());
  if (!real_gpu()) CHECK(l.wait_line({kNoLeaks}));
}

TEST(cuda_backend_sticky_fault_and_client_kill) {
  Listener l({}, "cuda", cuda_lib_path());
  {
    Client c(l.port);
    CHECK(c.hello_ok());
    Bytes img = cuda_image();
    uint8_t hash[32];
    avec::sha256(img.data(), img.size(), hash);
    CHECK_EQ(c.call(cat({module_image(hash, img), module_load_kind(5, hash, img.size(), AVEC_MODULE_KIND_MODULE),
                         symbol(AVEC_OP_GET_FUNCTION, 5, 6, "avec_fill", 2)})).status(), 0u);
    // the kernel writes through a pointer the session cannot check: the fault is the driver's, and sticky
    CHECK_EQ(c.call(cat({fill_launch(6, 0x1000, 4, 1), frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 3)})).status(),
             (uint32_t)CUDA_ERROR_ILLEGAL_ADDRESS);
    CHECK_EQ(c.call(frame(AVEC_OP_PING, {}, 4)).status(), 0u);
    CHECK_EQ(c.call(mem_alloc(16, 5)).status(), (uint32_t)CUDA_ERROR_ILLEGAL_ADDRESS);
  }
  // a client killed mid-session: the executor frees everything (the mock counts at release; on a real GPU
  // another session watches the device's free memory come back)
  Client watcher(l.port);
  CHECK(watcher.hello_ok());
  avec_mem_info before = watcher.call(frame(AVEC_OP_MEM_GET_INFO, {}, 20)).as<avec_mem_info>();
  CHECK_EQ(before.r.status, 0u);
  uint64_t big = real_gpu() ? (768ull << 20) : (3ull << 20);
  int ready[2];
  CHECK(pipe(ready) == 0);
  pid_t kid = fork();
  if (kid == 0) {
    Client c(l.port);
    bool ok = c.hello_ok() && c.alloc(1 << 20) && c.alloc(big);
    avec_event_create ec = {40, 0};
    avec_stream_create sc = {20, 0, 0, 0};
    ok = ok && c.send(cat({frame_of(AVEC_OP_EVENT_CREATE, ec, 0), frame_of(AVEC_OP_STREAM_CREATE, sc, 0)}));
    ok = ok && c.call(frame(AVEC_OP_PING, {}, 9)).status() == 0;
    char b = ok ? 'y' : 'n';
    if (write(ready[1], &b, 1) != 1) _exit(1);
    pause();
    _exit(0);
  }
  close(ready[1]);
  char b = 0;
  CHECK(read(ready[0], &b, 1) == 1 && b == 'y');
  close(ready[0]);
  avec_mem_info during = watcher.call(frame(AVEC_OP_MEM_GET_INFO, {}, 21)).as<avec_mem_info>();
  CHECK(during.free + big <= before.free + (64u << 20));  // the other session's memory is visible
  kill(kid, SIGKILL);
  waitpid(kid, nullptr, 0);
  CHECK(l.wait_line({"\"reason\":\"client_disconnected\"", "\"freed_allocations\":2"}));
  if (!real_gpu()) CHECK(l.wait_line({kNoLeaks}));
  uint64_t after_free = 0;
  for (int t = 0; t < 50; t++) {  // the process exit returns the context's memory shortly after
    after_free = watcher.call(frame(AVEC_OP_MEM_GET_INFO, {}, 22)).as<avec_mem_info>().free;
    if (after_free + (64u << 20) >= before.free) break;
    sleep_ms(100);
  }
  CHECK(after_free + (64u << 20) >= before.free);
}

TEST(cuda_backend_contexts_and_reset) {
  Listener l({}, "cuda", cuda_lib_path());
  {
    Client c(l.port);
    CHECK(c.hello_ok());
    uint64_t d1 = c.alloc(4096);
    CHECK(d1 != 0);
    // a created context: allocations and copies in it (frames carry its handle in hdr.ctx)
    avec_ctx_create cc = {40, 0, 0, 0};
    avec_mem_alloc ma = {8192, 0, 0, 0};
    Reply ar = c.call(cat({frame_of(AVEC_OP_CTX_CREATE, cc, 0), frame_of(AVEC_OP_MEM_ALLOC, ma, 2, 40)}));
    CHECK_EQ(ar.status(), 0u);
    uint64_t d2 = ar.as<avec_mem_alloc_reply>().dptr;
    Bytes h2 = htod(d2, Bytes(8192, 0x33));
    reinterpret_cast<avec_frame_hdr*>(h2.data())->ctx = 40;
    Bytes back = dtoh(d2, 8192, 3);
    reinterpret_cast<avec_frame_hdr*>(back.data())->ctx = 40;
    CHECK(c.send(cat({h2, back})));
    Bytes got;
    CHECK_EQ(c.read_data(&got), 0u);
    CHECK(got == Bytes(8192, 0x33));
    // a fault in the primary context, then cuDevicePrimaryCtxReset: the documented recovery
    Bytes img = cuda_image();
    uint8_t hash[32];
    avec::sha256(img.data(), img.size(), hash);
    CHECK_EQ(c.call(cat({module_image(hash, img), module_load_kind(5, hash, img.size(), AVEC_MODULE_KIND_MODULE),
                         symbol(AVEC_OP_GET_FUNCTION, 5, 6, "avec_fill", 4)})).status(), 0u);
    CHECK_EQ(c.call(cat({fill_launch(6, 0x10, 4, 1), frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 5)})).status(),
             (uint32_t)CUDA_ERROR_ILLEGAL_ADDRESS);
    CHECK_EQ(c.call(mem_alloc(16, 6)).status(), (uint32_t)CUDA_ERROR_ILLEGAL_ADDRESS);
    avec_u32 dev0 = {0, 0};
    CHECK_EQ(c.call(frame_of(AVEC_OP_PRIMARY_CTX_RESET, dev0, 7)).status(), 0u);
    uint64_t d3 = c.alloc(4096);  // a fresh primary context is retained on first use
    CHECK(d3 != 0);
    got.clear();
    CHECK(c.send(dtoh(d1, 16, 8)));  // d1 went with the old primary context
    CHECK_EQ(c.read_data(&got), (uint32_t)CUDA_ERROR_INVALID_VALUE);
    CHECK_EQ(c.call(symbol(AVEC_OP_GET_FUNCTION, 5, 9, "avec_fill", 9)).status(), (uint32_t)CUDA_ERROR_INVALID_HANDLE);
    c.send(frame(AVEC_OP_GOODBYE, {}, 0));
    CHECK(c.closed_by_peer());
  }
  CHECK(l.wait_line({"\"event\":\"sticky_error_cleared\""}));
  if (!real_gpu()) CHECK(l.wait_line({kNoLeaks}));
}

TEST(cuda_backend_compute_percent) {
  if (real_gpu()) return avectest::not_run("needs the mock's MPS model (a real GPU needs the MPS daemon)");
  Listener l({"--compute-percent", "50"}, "cuda", cuda_lib_path());
  Client c(l.port);
  Reply hr = c.call(hello());
  avec_device_info di;
  memset(&di, 0, sizeof di);
  if (hr.payload.size() >= sizeof(avec_hello_reply) + sizeof di) memcpy(&di, hr.payload.data() + sizeof(avec_hello_reply), sizeof di);
  CHECK_EQ(di.attrs[CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT], 66);
  std::string out;
  CHECK_EQ(run_cmd(g_exec + " --describe --backend emulated --compute-percent 0 2>/dev/null", &out), 2);
}

TEST(cuda_backend_teardown_watchdog) {
  if (real_gpu()) return avectest::not_run("needs the mock driver's never-ending synchronize");
  setenv("MOCK_HANG_SYNC", "1", 1);  // inherited by the listener: the device never goes idle
  Listener l({"--teardown-timeout", "1"}, "cuda", g_mock_dir);
  unsetenv("MOCK_HANG_SYNC");
  {
    Client c(l.port);
    CHECK(c.hello_ok());
    CHECK(c.alloc(4096) != 0);
  }  // disconnect: freeing waits on the device forever, the watchdog ends the process
  CHECK(l.wait_line({"\"event\":\"teardown_timeout\""}, 8000));
  CHECK(l.wait_line({"\"event\":\"session_process_exit\"", "\"status\":0"}, 8000));
  CHECK(l.alive());
}

TEST(cuda_backend_refuses_shim_and_describes) {
  std::string out;
  // our own shim (marker symbol) is never taken for the driver (on a GPU machine the real one is found next)
  CHECK_EQ(run_cmd("LD_LIBRARY_PATH=" + g_mock_shim_dir + " " + g_exec + " --describe --backend cuda 2>&1", &out),
           real_gpu() ? 0 : 1);
  CHECK(out.find("\"event\":\"driver_is_shim\"") != std::string::npos);
  CHECK(out.find("Mock GPU") == std::string::npos);
  out.clear();
  CHECK_EQ(run_cmd("LD_LIBRARY_PATH=" + g_mock_shim_dir + " " + g_exec + " --describe --backend auto 2>/dev/null", &out), 0);
  CHECK(out.find(real_gpu() ? "\"backend\":\"cuda\"" : "\"backend\":\"emulated\"") != std::string::npos);
  out.clear();
  CHECK_EQ(run_cmd("LD_LIBRARY_PATH=" + g_mock_dir + " " + g_exec + " --describe --backend auto 2>/dev/null", &out), 0);
  CHECK(out.find("\"backend\":\"cuda\"") != std::string::npos);
  CHECK(out.find("\"name\":\"Mock GPU\"") != std::string::npos);
  CHECK(out.find("\"uuid\":\"GPU-a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf\"") != std::string::npos);
  CHECK(out.find("\"compute_capability\":\"9.0\"") != std::string::npos);
  out.clear();
  CHECK_EQ(run_cmd("LD_LIBRARY_PATH=" + g_mock_dir + " " + g_exec + " --describe --backend cuda --device 3 2>&1", &out), 1);
}

int main(int argc, char** argv) {
  const char* gf = getenv("AVEC_TEST_GPU_FATBIN");
  if (gf && *gf) g_gpu_fatbin = gf;
  const char* md = getenv("AVEC_MOCK_DRIVER_DIR");
  const char* ms = getenv("AVEC_MOCK_SHIM_DIR");
  g_mock_dir = md ? md : "build/native/mock-driver";
  g_mock_shim_dir = ms ? ms : "build/native/mock-shim";
  const char* e = getenv("AVEC_EXECUTOR");
  g_exec = e ? e : "build/native/avec-executor";
  signal(SIGPIPE, SIG_IGN);
  return avectest::run_all(argc > 1 ? argv[1] : nullptr);
}
