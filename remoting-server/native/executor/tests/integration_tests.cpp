// Integration tests: a raw-frame client against real avec-executor processes (emulated backend), plus
// the CUDA backend in integration_cuda_tests.cpp. AVEC_EXECUTOR names the binary; each test starts its
// own listener with its own log file.
#include <cuda.h>

#include "json.h"
#include "listener.h"
#include "ticket_sign.h"
#include "sha256.h"
#include "ticket.h"

using namespace avectest;

std::string avectest::g_exec;
extern std::string g_mock_dir, g_mock_shim_dir, g_gpu_fatbin;

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
  fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);  // as an event-loop server might hand it over
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
    CHECK_EQ(refusal_reason(r), AVEC_REFUSAL_TICKET_BAD_SIGNATURE);  // the reason reaches the client
    CHECK(refusal_message(r).find("bad-signature") != std::string::npos);
    CHECK(c.closed_by_peer());
  }
  CHECK(l.wait_line({"\"event\":\"hello_refused\"", "\"reason\":\"ticket refused: bad-signature\"", "\"code\":3"}));
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
