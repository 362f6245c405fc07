// Integration tests of the limits (issue 9): nothing unauthenticated holds a process, caps on sessions,
// deadlines for stalled peers, bounded host memory per session, ticket grants as the session's limits,
// refusal reasons on the wire, and reaping under a connection flood. Real executor processes.
#include <dirent.h>
#include <poll.h>

#include <cuda.h>

#include "json.h"
#include "listener.h"
#include "sha256.h"
#include "ticket_sign.h"

using namespace avectest;

extern std::string g_mock_dir;

namespace {

// Live processes whose parent is `pid` (the listener's session processes).
int children_of(pid_t pid) {
  int n = 0;
  DIR* d = opendir("/proc");
  if (!d) return -1;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::string stat = slurp(std::string("/proc/") + e->d_name + "/stat");
    size_t rp = stat.rfind(')');
    if (rp == std::string::npos || rp + 4 >= stat.size()) continue;
    char state = stat[rp + 2];
    int ppid = atoi(stat.c_str() + rp + 4);
    if (ppid == pid && state != 'Z') n++;
  }
  closedir(d);
  return n;
}

int count_in_log(const Listener& l, const std::string& what) {
  std::string log = slurp(l.log);
  int n = 0;
  for (size_t at = 0; (at = log.find(what, at)) != std::string::npos; at++) n++;
  return n;
}

bool wait_children(const Listener& l, int want, int ms) {
  for (int t = 0; t < ms; t += 20) {
    if (children_of(l.pid) == want) return true;
    sleep_ms(20);
  }
  return children_of(l.pid) == want;
}

struct Keys {
  std::string dir, key = std::string(32, 'k');
  Keys() {
    char tmpl[] = "/tmp/avec-keys-lim-XXXXXX";
    dir = mkdtemp(tmpl);
    std::ofstream f(dir + "/k1", std::ios::binary);
    f << key;
  }
  ~Keys() {
    unlink((dir + "/k1").c_str());
    rmdir(dir.c_str());
  }
  std::string ticket(const std::string& uid, uint64_t mem = 1 << 20, int cpct = 100, const std::string& dev = "",
                     const std::string& extra = "") const {
    return sign(key, ticket_payload(uid, "gpu-test", mem, cpct, dev, extra));
  }
};

// The emulated device's UUID as --describe prints it.
std::string emulated_uuid() {
  std::string out;
  run_cmd(g_exec + " --describe --backend emulated 2>/dev/null", &out);
  size_t at = out.find("\"uuid\":\"");
  return at == std::string::npos ? "" : out.substr(at + 8, out.find('"', at + 8) - at - 8);
}

}  // namespace

TEST(limits_silent_connections_hold_no_process) {
  Listener l({"--hello-timeout-ms", "400", "--max-pending-per-peer", "100"});
  CHECK(l.port > 0);
  std::vector<std::unique_ptr<Client>> silent;
  for (int i = 0; i < 60; i++) silent.emplace_back(new Client(l.port));
  sleep_ms(150);
  CHECK_EQ(children_of(l.pid), 0);  // 60 connections, no session process: nothing is forked before HELLO
  int refused_in_time = 0;
  for (auto& c : silent) {  // each is answered REFUSED / HELLO_TIMEOUT and closed after the deadline
    Reply r;
    if (c->reply(&r) && r.status() == AVEC_STATUS_REFUSED && refusal_reason(r) == AVEC_REFUSAL_HELLO_TIMEOUT &&
        c->closed_by_peer())
      refused_in_time++;
  }
  CHECK_EQ(refused_in_time, 60);
  CHECK_EQ(count_in_log(l, "\"event\":\"hello_timeout\""), 60);
  Client ok(l.port);
  CHECK(ok.hello_ok());  // the listener still serves
}

TEST(limits_slowloris_hello_cut_at_deadline) {
  Listener l({"--hello-timeout-ms", "500"});
  Client c(l.port);
  Bytes h = hello();
  long t0 = time(nullptr);
  bool cut = false;
  for (size_t i = 0; i < h.size(); i++) {  // one byte every 50 ms: would take > 5 s
    if (!c.send(Bytes(h.begin() + i, h.begin() + i + 1))) { cut = true; break; }
    if (children_of(l.pid) != 0) break;
    struct pollfd pfd = {c.fd, POLLIN, 0};
    if (poll(&pfd, 1, 50) > 0) { cut = true; break; }  // the server answered (the refusal)
  }
  CHECK(cut);
  Reply r;
  CHECK(c.reply(&r));
  CHECK_EQ(r.status(), AVEC_STATUS_REFUSED);
  CHECK_EQ(refusal_reason(r), AVEC_REFUSAL_HELLO_TIMEOUT);
  CHECK(time(nullptr) - t0 <= 3);
  CHECK_EQ(children_of(l.pid), 0);
}

TEST(limits_pending_caps_refuse_with_reason) {
  Listener l({"--max-pending", "4", "--max-pending-per-peer", "100", "--hello-timeout-ms", "3000"});
  std::vector<std::unique_ptr<Client>> silent;
  for (int i = 0; i < 4; i++) silent.emplace_back(new Client(l.port));
  sleep_ms(200);
  Client fifth(l.port);
  Reply r;
  CHECK(fifth.reply(&r));
  CHECK_EQ(r.status(), AVEC_STATUS_REFUSED);
  CHECK_EQ(refusal_reason(r), AVEC_REFUSAL_TOO_MANY_CONNECTIONS);
  CHECK(refusal_message(r).find("limit 4") != std::string::npos);
  silent.clear();  // they close: room again
  sleep_ms(200);
  Client later(l.port);
  CHECK(later.hello_ok());
  Listener p({"--max-pending-per-peer", "2", "--hello-timeout-ms", "3000"});
  Client a(p.port), b(p.port);
  sleep_ms(200);
  Client c(p.port);
  Reply rc;
  CHECK(c.reply(&rc));
  CHECK_EQ(refusal_reason(rc), AVEC_REFUSAL_TOO_MANY_CONNECTIONS);
  CHECK(refusal_message(rc).find("this address") != std::string::npos);
}

TEST(limits_bad_hello_refused_before_fork) {
  Listener l;
  {
    Client c(l.port);  // oversized HELLO length: refused from the header alone
    avec_frame_hdr h = {AVEC_WIRE_MAGIC, 1, AVEC_OP_HELLO, 0, 9, 0, 0x100000u};
    Bytes b;
    put(&b, h);
    Reply r = c.call(b);
    CHECK_EQ(r.status(), AVEC_STATUS_BAD_FRAME);
    CHECK_EQ(r.hdr.request_id, 9u);
  }
  {
    Client c(l.port);  // a first frame that is not HELLO
    Reply r = c.call(frame(AVEC_OP_PING, {}, 4));
    CHECK_EQ(r.status(), AVEC_STATUS_BAD_FRAME);
  }
  {
    Client c(l.port);  // another wire version in the HELLO body
    Reply r = c.call(hello(0, "", 7));
    CHECK_EQ(r.status(), AVEC_STATUS_VERSION);
  }
  CHECK_EQ(count_in_log(l, "\"event\":\"session_start\""), 0);
  CHECK_EQ(count_in_log(l, "\"event\":\"hello_rejected\""), 3);
  CHECK_EQ(children_of(l.pid), 0);
}

TEST(limits_sessions_per_listener_and_reaping) {
  Listener l({"--max-sessions", "2"});
  auto a = std::make_unique<Client>(l.port);
  Client b(l.port);
  CHECK(a->hello_ok());
  CHECK(b.hello_ok());
  Client c(l.port);
  Reply r = c.call(hello());
  CHECK_EQ(r.status(), AVEC_STATUS_REFUSED);
  CHECK_EQ(refusal_reason(r), AVEC_REFUSAL_NODE_SESSION_LIMIT);
  CHECK(refusal_message(r).find("limit 2") != std::string::npos);
  a.reset();  // a session ends: its process is reaped at once (SIGCHLD wakes the listener)
  CHECK(wait_children(l, 1, 2000));
  Client d(l.port);
  CHECK(d.hello_ok());
}

TEST(limits_claim_cap_and_ticket_maxs) {
  Keys k;
  Listener l({"--ticket-keys", k.dir, "--node", "gpu-test", "--max-sessions-per-claim", "2"});
  Client a1(l.port), a2(l.port), a3(l.port), b1(l.port), info(l.port);
  CHECK(a1.hello_ok(nullptr, k.ticket("claim-a")));
  CHECK(a2.hello_ok(nullptr, k.ticket("claim-a")));
  Reply r = a3.call(hello(0, k.ticket("claim-a")));  // the same ticket a third time: a replay past the cap
  CHECK_EQ(r.status(), AVEC_STATUS_REFUSED);
  CHECK_EQ(refusal_reason(r), AVEC_REFUSAL_CLAIM_SESSION_LIMIT);
  CHECK(b1.hello_ok(nullptr, k.ticket("claim-b")));  // another claim is not affected
  Reply ri = info.call(hello(AVEC_HELLO_INFO_ONLY, k.ticket("claim-a")));  // NVML sessions do not count
  CHECK_EQ(ri.status(), 0u);
  // a ticket's maxs lowers the cap
  Client m1(l.port), m2(l.port);
  CHECK(m1.hello_ok(nullptr, k.ticket("claim-m", 1 << 20, 100, "", ",\"maxs\":1")));
  Reply rm = m2.call(hello(0, k.ticket("claim-m", 1 << 20, 100, "", ",\"maxs\":1")));
  CHECK_EQ(refusal_reason(rm), AVEC_REFUSAL_CLAIM_SESSION_LIMIT);
  CHECK(refusal_message(rm).find("limit 1") != std::string::npos);
  // a mistyped maxs makes the ticket malformed
  Client bad(l.port);
  Reply rb = bad.call(hello(0, k.ticket("claim-x", 1 << 20, 100, "", ",\"maxs\":\"many\"")));
  CHECK_EQ(rb.status(), AVEC_STATUS_BAD_TICKET);
  CHECK_EQ(refusal_reason(rb), AVEC_REFUSAL_TICKET_MALFORMED);
}

TEST(limits_ticket_grants_are_session_limits) {
  Keys k;
  std::string uuid = emulated_uuid();
  CHECK(uuid.rfind("GPU-", 0) == 0);
  Listener l({"--ticket-keys", k.dir, "--node", "gpu-test", "--memory-limit", "67108864"});
  {
    Client c(l.port);  // 256 KiB granted under a 64 MiB listener limit: the ticket wins
    avec_hello_reply hr;
    CHECK(c.hello_ok(&hr, k.ticket("g1", 256 << 10, 100, uuid)));
    CHECK_EQ(hr.memory_limit, 256u << 10);
    uint32_t st = 0;
    CHECK(c.alloc(300 << 10, &st) == 0);
    CHECK_EQ(st, (uint32_t)CUDA_ERROR_OUT_OF_MEMORY);
  }
  {
    Client c(l.port);  // more than the listener's limit: the listener's wins
    avec_hello_reply hr;
    CHECK(c.hello_ok(&hr, k.ticket("g2", 128 << 20)));
    CHECK_EQ(hr.memory_limit, 64u << 20);
  }
  {
    Client c(l.port);  // a device this node does not have
    Reply r = c.call(hello(0, k.ticket("g3", 1 << 20, 100, "GPU-00000000-0000-0000-0000-000000000000")));
    CHECK_EQ(r.status(), AVEC_STATUS_REFUSED);
    CHECK_EQ(refusal_reason(r), AVEC_REFUSAL_UNKNOWN_DEVICE);
    CHECK(c.closed_by_peer());
  }
  {
    Client c(l.port);  // more memory than the device has (the emulated device here has 256 MiB)
    Reply r = c.call(hello(0, k.ticket("g4", 1ull << 40)));
    CHECK_EQ(refusal_reason(r), AVEC_REFUSAL_INSUFFICIENT_MEMORY);
  }
  {
    Client c(l.port);  // a compute share on the emulated device (it runs nothing): admitted
    CHECK(c.hello_ok(nullptr, k.ticket("g5", 1 << 20, 50)));
  }
  CHECK(l.wait_line({"\"event\":\"ticket_grants\"", "\"memory_limit\":262144"}));
}

TEST(limits_ticket_compute_share_needs_mps) {
  Keys k;
  Listener l({"--ticket-keys", k.dir, "--node", "gpu-test"}, "cuda", g_mock_dir);
  {
    Client c(l.port);  // the real-driver backend (mock) with no MPS daemon: 50% cannot be enforced
    Reply r = c.call(hello(0, k.ticket("m1", 1 << 20, 50)));
    CHECK_EQ(r.status(), AVEC_STATUS_REFUSED);
    CHECK_EQ(refusal_reason(r), AVEC_REFUSAL_COMPUTE_SHARE);
    CHECK(refusal_message(r).find("MPS") != std::string::npos);
  }
  {
    Client c(l.port);  // the whole GPU needs no MPS
    CHECK(c.hello_ok(nullptr, k.ticket("m2", 1 << 20, 100)));
  }
  char tmpl[] = "/tmp/avec-mps-XXXXXX";
  std::string mps = mkdtemp(tmpl);
  { std::ofstream f(mps + "/control"); f << ""; }
  setenv("CUDA_MPS_PIPE_DIRECTORY", mps.c_str(), 1);
  {
    Listener lm({"--ticket-keys", k.dir, "--node", "gpu-test"}, "cuda", g_mock_dir);
    Client c(lm.port);  // with the daemon's pipe present the share is admitted and applied (the mock halves SMs)
    Reply r = c.call(hello(0, k.ticket("m3", 1 << 20, 50)));
    CHECK_EQ(r.status(), 0u);
    avec_device_info di;
    memset(&di, 0, sizeof di);
    if (r.payload.size() >= sizeof(avec_hello_reply) + sizeof di) memcpy(&di, r.payload.data() + sizeof(avec_hello_reply), sizeof di);
    CHECK_EQ(di.attrs[CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT], 66);
  }
  unsetenv("CUDA_MPS_PIPE_DIRECTORY");
  unlink((mps + "/control").c_str());
  rmdir(mps.c_str());
}

TEST(limits_stalled_peers_end_their_sessions) {
  Listener l({"--stall-timeout", "1"});
  {
    Client c(l.port);  // half a frame, then nothing
    CHECK(c.hello_ok());
    Bytes f = mem_alloc(4096, 3);
    f.resize(f.size() - 5);
    CHECK(c.send(f));
    CHECK(l.wait_line({"\"event\":\"session_end\"", "\"reason\":\"stalled\""}, 4000));
  }
  {
    Client c(l.port);  // idle between frames is fine
    CHECK(c.hello_ok());
    sleep_ms(1500);
    CHECK_EQ(c.call(frame(AVEC_OP_PING, {}, 4)).status(), 0u);
  }
  {
    Client c(l.port);  // asks for 64 MiB and never reads: the send deadline ends the session
    int small = 4096;
    setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    CHECK(c.hello_ok());
    uint64_t d = c.alloc(64 << 20);
    CHECK(d != 0);
    CHECK(c.send(dtoh(d, 64 << 20, 5)));
    CHECK(l.wait_line({"\"event\":\"peer_stalled\"", "\"direction\":\"send\""}, 6000));
    // the first session's end line matches too: wait for the second stalled end itself
    for (int i = 0; i < 60 && count_in_log(l, "\"reason\":\"stalled\"") < 2; i++) sleep_ms(100);
    CHECK(l.wait_line({"\"event\":\"session_end\"", "\"reason\":\"stalled\"", "\"mem_used\":0"}, 6000));
  }
  CHECK_EQ(count_in_log(l, "\"reason\":\"stalled\""), 2);
}

TEST(limits_handle_tables_capped) {
  Listener l({"--max-objects", "100"});
  Client c(l.port);
  CHECK(c.hello_ok());
  Bytes batch;
  for (uint32_t i = 0; i < 150; i++) {
    avec_stream_create sc = {};
    sc.handle = 16 + i;
    batch = cat({batch, frame_of(AVEC_OP_STREAM_CREATE, sc, 0)});
  }
  Reply r = c.call(cat({batch, frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 8)}));
  CHECK_EQ(r.status(), (uint32_t)CUDA_ERROR_OUT_OF_MEMORY);  // the 101st creation failed (deferred)
  CHECK_EQ(c.call(frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 9)).status(), 0u);
  int ok = 0;
  uint32_t st = 0;
  for (int i = 0; i < 120; i++) ok += c.alloc(64, &st) != 0;
  CHECK_EQ(ok, 100);
  CHECK_EQ(st, (uint32_t)CUDA_ERROR_OUT_OF_MEMORY);
  CHECK(l.wait_line({"\"event\":\"session_table_full\"", "\"table\":\"streams\"", "\"limit\":100"}));
  CHECK(l.wait_line({"\"event\":\"session_table_full\"", "\"table\":\"allocations\""}));
  CHECK_EQ(count_in_log(l, "\"table\":\"streams\""), 1);  // logged once per table
}

TEST(limits_module_memory_bounded) {
  Listener l({"--module-memory-max", "8388608", "--max-module-bytes", "12582912"});
  Client c(l.port);
  CHECK(c.hello_ok());
  const size_t kImg = 2 << 20;
  uint32_t refused = 0;
  for (uint32_t i = 0; i < 12; i++) {  // 12 distinct 2 MiB images: 24 MiB through an 8 MiB store
    Bytes img(kImg, (uint8_t)i);
    img[0] = 0x7f;
    uint8_t h[32];
    avec::sha256(img.data(), img.size(), h);
    Bytes up;
    for (size_t off = 0; off < img.size(); off += 1 << 20) {
      Bytes part = module_image(h, Bytes(img.begin() + off, img.begin() + off + (1 << 20)));
      reinterpret_cast<avec_module_image*>(part.data() + sizeof(avec_frame_hdr))->size = img.size();
      up = cat({up, part});
    }
    Reply r = c.call(cat({module_load(100 + i, h, img.size()), up, frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 20 + i)}));
    if (r.status() == (uint32_t)CUDA_ERROR_OUT_OF_MEMORY) refused++;
    else CHECK_EQ(r.status(), 0u);
  }
  CHECK_EQ(refused, 6u);  // 12 MiB of loaded modules at most: loads 7..12 are refused
  CHECK(l.wait_line({"\"event\":\"module_bytes_limit\""}));
  for (uint32_t i = 0; i < 6; i++) {  // unloading makes room again
    avec_handle u = {100 + i, 0};
    CHECK(c.send(frame_of(AVEC_OP_MODULE_UNLOAD, u, 0)));
  }
  Bytes img(kImg, 0x55);
  uint8_t h[32];
  avec::sha256(img.data(), img.size(), h);
  Bytes part = module_image(h, Bytes(img.begin(), img.begin() + (1 << 20)));
  reinterpret_cast<avec_module_image*>(part.data() + sizeof(avec_frame_hdr))->size = img.size();
  Bytes part2 = module_image(h, Bytes(img.begin() + (1 << 20), img.end()));
  reinterpret_cast<avec_module_image*>(part2.data() + sizeof(avec_frame_hdr))->size = img.size();
  CHECK_EQ(c.call(cat({module_load(300, h, img.size()), part, part2, frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 50)})).status(), 0u);
  c.send(frame(AVEC_OP_GOODBYE, {}, 0));
  CHECK(c.closed_by_peer());
  CHECK(l.wait_line({"\"event\":\"session_end\"", "\"objects_refused\":6"}));
  std::string log = slurp(l.log);
  size_t at = log.find("\"module_store_bytes\":", log.find("\"event\":\"session_end\""));
  CHECK(at != std::string::npos);
  if (at != std::string::npos) CHECK(strtoull(log.c_str() + at + 21, nullptr, 10) <= (8u << 20) + kImg);
  CHECK(log.find("\"host_rss\":") != std::string::npos);
}

TEST(limits_connection_flood_reaped) {
  Listener l({"--max-pending-per-peer", "1000"});
  const int kFlood = 120;
  std::vector<pid_t> kids;
  for (int k = 0; k < 4; k++) {  // four clients, each opening sessions back to back
    pid_t pid = fork();
    if (pid == 0) {
      int bad = 0;
      for (int i = 0; i < kFlood / 4; i++) {
        Client c(l.port);
        if (i % 3 == 0) continue;  // connect and leave without a word
        if (!c.hello_ok()) bad++;
        if (i % 3 == 1) c.send(frame(AVEC_OP_GOODBYE, {}, 0));
      }
      _exit(bad);
    }
    kids.push_back(pid);
  }
  int failed = 0;
  for (pid_t p : kids) {
    int st = -1;
    waitpid(p, &st, 0);
    failed += WIFEXITED(st) ? WEXITSTATUS(st) : 100;
  }
  CHECK_EQ(failed, 0);
  CHECK(wait_children(l, 0, 3000));  // every session process reaped within moments
  int want = 0;
  for (int i = 0; i < kFlood / 4; i++) want += i % 3 != 0 ? 4 : 0;  // sessions that sent a HELLO
  for (int t = 0; t < 100 && count_in_log(l, "\"event\":\"session_process_exit\"") < want; t++) sleep_ms(30);
  CHECK_EQ(count_in_log(l, "\"event\":\"session_process_exit\""), want);
  CHECK(l.alive());
}

// Stripes (issue 8): a stripe connection must present its session's token; a wrong one is refused with
// words, an unknown session is refused by the listener, and the session goes on with its one connection.
namespace {
Bytes stripe_hello(uint64_t session_id, const uint8_t* token, uint32_t index) {
  avec_stripe_join j = {};
  j.session_id = session_id;
  memcpy(j.token, token, sizeof j.token);
  j.index = index;
  return hello(AVEC_HELLO_STRIPE_JOIN, std::string(reinterpret_cast<const char*>(&j), sizeof j));
}
std::string refusal_text(const Reply& r, uint32_t* reason) {
  *reason = 0;
  if (r.payload.size() < sizeof(avec_hello_reply) + sizeof(avec_hello_refusal)) return "";
  avec_hello_refusal f;
  memcpy(&f, r.payload.data() + sizeof(avec_hello_reply), sizeof f);
  *reason = f.reason;
  return std::string(reinterpret_cast<const char*>(r.payload.data()) + sizeof(avec_hello_reply) + sizeof f,
                     r.payload.size() - sizeof(avec_hello_reply) - sizeof f);
}
}  // namespace

TEST(stripes_token_checked_and_unknown_sessions_refused) {
  Listener l;
  CHECK(l.port > 0);
  Client c(l.port);
  Reply h = c.call(hello(AVEC_HELLO_STRIPES | 2u << AVEC_HELLO_STRIPES_SHIFT));
  CHECK_EQ(h.status(), 0u);
  avec_hello_reply rep = h.as<avec_hello_reply>();
  CHECK(rep.features & AVEC_FEATURE_STRIPES);
  size_t at = sizeof rep + rep.device_count * sizeof(avec_device_info);
  CHECK(h.payload.size() >= at + sizeof(avec_hello_ext));
  avec_hello_ext ext;
  memcpy(&ext, h.payload.data() + at, sizeof ext);
  CHECK_EQ(ext.stripes, 2u);
  // Unknown session: the listener answers at once.
  {
    Client s(l.port);
    Reply r = s.call(stripe_hello(rep.session_id + 1000, ext.stripe_token, 0));
    uint32_t reason;
    CHECK_EQ(r.status(), AVEC_STATUS_REFUSED);
    CHECK(refusal_text(r, &reason).find("no such session") != std::string::npos);
    CHECK_EQ(reason, AVEC_REFUSAL_STRIPE_REFUSED);
  }
  // Right session, wrong token: the session refuses it when the client attaches.
  uint8_t bad[AVEC_STRIPE_TOKEN_BYTES];
  memcpy(bad, ext.stripe_token, sizeof bad);
  bad[7] ^= 1;
  Client s0(l.port), s1(l.port);
  CHECK(s0.send(stripe_hello(rep.session_id, ext.stripe_token, 0)));
  CHECK(s1.send(stripe_hello(rep.session_id, bad, 1)));
  avec_stripe_attach a = {2, 0};
  Reply ar = c.call(frame_of(AVEC_OP_STRIPE_ATTACH, a, 2));
  CHECK_EQ(ar.status(), AVEC_STATUS_REFUSED);
  Reply r1;
  CHECK(s1.reply(&r1));
  uint32_t reason;
  CHECK_EQ(r1.status(), AVEC_STATUS_REFUSED);
  CHECK(refusal_text(r1, &reason).find("token") != std::string::npos);
  CHECK_EQ(reason, AVEC_REFUSAL_STRIPE_REFUSED);
  CHECK(l.wait_line({"\"event\":\"stripe_refused\"", "token does not match"}));
  // The session itself goes on, on its one connection.
  uint64_t d = c.alloc(4096);
  CHECK(d != 0);
  CHECK(c.send(htod(d, Bytes(4096, 0x5a))));
  Bytes back;
  CHECK(c.send(dtoh(d, 4096, 9)));
  CHECK_EQ(c.read_data(&back), 0u);
  CHECK(back == Bytes(4096, 0x5a));
}
