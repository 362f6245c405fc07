// POSIX-fd shareable handles between sessions (SHARE_*, POOL_*_POINTER) against real executor processes
// (emulated backend): each session is its own process, so the fd really travels from the exporting
// session's process to the importing one, as it does on a GPU node.
#include <dirent.h>

#include <cuda.h>

#include "listener.h"
#include "ticket_sign.h"

using namespace avectest;

namespace {

constexpr uint64_t kG = 2u << 20;  // the emulated VMM granularity
struct U64Reply { avec_reply_hdr h; uint64_t v; };

// A listener whose sessions publish in a private IPC directory of their own.
struct ShareListener {
  std::string dir;
  Listener l;
  explicit ShareListener(std::vector<std::string> extra = {}) : dir(make_dir()), l(with_dir(dir, extra)) {}
  ~ShareListener() {
    if (DIR* d = opendir(dir.c_str())) {
      while (dirent* e = readdir(d))
        if (e->d_name[0] != '.') unlink((dir + "/" + e->d_name).c_str());
      closedir(d);
    }
    rmdir(dir.c_str());
  }
  static std::string make_dir() {
    char t[] = "/tmp/avec-share-XXXXXX";
    return mkdtemp(t);
  }
  static std::vector<std::string> with_dir(const std::string& d, std::vector<std::string> extra) {
    extra.insert(extra.end(), {"--ipc-dir", d});
    return extra;
  }
  // Entries (registry files and fd sockets) in the directory.
  int entries(const char* prefix = "") const {
    int n = 0;
    if (DIR* d = opendir(dir.c_str())) {
      while (dirent* e = readdir(d)) n += e->d_name[0] != '.' && !strncmp(e->d_name, prefix, strlen(prefix));
      closedir(d);
    }
    return n;
  }
};

Bytes vmm_create(uint32_t handle, uint64_t size, uint32_t types, uint32_t id) {
  avec_vmm_prop p = {size, handle, 0, types, 0, 0, 0};
  return frame_of(AVEC_OP_VMM_CREATE, p, id, 0);  // no context, as memMapIPCDrv's parent
}

// Reserves a range, maps allocation `handle` (size bytes) at it and returns the address (0 on failure).
uint64_t map_new(Client& c, uint32_t handle, uint64_t size) {
  avec_vmm_range q = {0, size, 0, 0, 0};
  Reply r = c.call(frame_of(AVEC_OP_VMM_RESERVE, q, 20));
  if (r.status() != 0) return 0;
  uint64_t va = r.as<U64Reply>().v;
  avec_vmm_range m = {va, size, 0, handle, 0};
  return c.call(frame_of(AVEC_OP_VMM_MAP, m, 21)).status() == 0 ? va : 0;
}

Reply share_export(Client& c, uint32_t kind, uint32_t handle, uint32_t type = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) {
  avec_share_export e = {kind, handle, type, 0};
  return c.call(frame_of(AVEC_OP_SHARE_EXPORT, e, 30, 0));
}

Reply share_import(Client& c, const uint8_t token[64], uint32_t kind, uint32_t handle) {
  avec_share_import q = {};
  memcpy(q.token, token, 64);
  q.handle = handle;
  q.kind = kind;
  return c.call(frame_of(AVEC_OP_SHARE_IMPORT, q, 31));
}

Bytes pattern(size_t n, unsigned seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; i++) b[i] = (uint8_t)((i * 2654435761u) >> 13 ^ seed);
  return b;
}

uint32_t sync_status(Client& c) { return c.call(frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 40)).status(); }

}  // namespace

TEST(share_vmm_between_sessions) {
  ShareListener s;
  Client a(s.l.port), b(s.l.port);
  avec_hello_reply hr;
  CHECK(a.hello_ok(&hr));
  CHECK(hr.features & AVEC_FEATURE_SHAREABLE_FD);
  CHECK(b.hello_ok());
  CHECK_EQ(a.call(vmm_create(100, 2 * kG, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 2)).status(), 0u);
  CHECK_EQ(a.call(vmm_create(101, kG, CU_MEM_HANDLE_TYPE_NONE, 3)).status(), 0u);
  uint64_t va = map_new(a, 100, 2 * kG);
  CHECK(va != 0);
  Bytes data = pattern(2 * kG, 1);
  CHECK(a.send(htod(va, data)));

  // refusals on the exporting side
  CHECK_EQ(share_export(a, AVEC_SHARE_VMM, 101).status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);  // not asked for
  CHECK_EQ(share_export(a, AVEC_SHARE_VMM, 100, CU_MEM_HANDLE_TYPE_FABRIC).status(), (uint32_t)CUDA_ERROR_NOT_SUPPORTED);
  CHECK_EQ(share_export(a, AVEC_SHARE_VMM, 999).status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(share_export(a, 7, 100).status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);

  Reply ex = share_export(a, AVEC_SHARE_VMM, 100);
  CHECK_EQ(ex.status(), 0u);
  avec_ipc_handle_reply tok = ex.as<avec_ipc_handle_reply>();
  CHECK(!memcmp(tok.handle, "AVI1", 4));
  CHECK_EQ(share_export(a, AVEC_SHARE_VMM, 100).as<avec_ipc_handle_reply>().handle[8], tok.handle[8]);  // one token
  CHECK_EQ(s.entries("fd-"), 1);  // the session's fd socket
  CHECK_EQ(s.entries(), 2);       // and one registry entry

  // the other session (another process) imports it, sees the bytes and writes its own
  CHECK_EQ(share_import(b, tok.handle, AVEC_SHARE_POOL, 300).status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);  // kind
  Reply im = share_import(b, tok.handle, AVEC_SHARE_VMM, 200);
  CHECK_EQ(im.status(), 0u);
  CHECK_EQ(im.as<avec_share_import_reply>().size, 2 * kG);
  CHECK_EQ(share_import(b, tok.handle, AVEC_SHARE_VMM, 200).status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);  // in use
  uint64_t vb = map_new(b, 200, 2 * kG);
  CHECK(vb != 0);
  Bytes got;
  CHECK(b.send(dtoh(vb + 4096, 8192, 5)));
  CHECK_EQ(b.read_data(&got), 0u);
  CHECK(got == Bytes(data.begin() + 4096, data.begin() + 4096 + 8192));
  Bytes mine = pattern(4096, 9);
  CHECK(b.send(htod(vb, mine)));
  CHECK_EQ(sync_status(b), 0u);
  got.clear();  // read_data appends
  CHECK(a.send(dtoh(va, 4096, 6)));
  CHECK_EQ(a.read_data(&got), 0u);
  CHECK(got == mine);
  Reply mi = b.call(frame(AVEC_OP_MEM_GET_INFO, {}, 7));
  CHECK_EQ(mi.as<avec_mem_info>().free, mi.as<avec_mem_info>().total);  // charged to the exporter, not here

  // bad tokens are ordinary errors; a malformed frame ends only that connection
  uint8_t forged[64];
  memcpy(forged, tok.handle, 64);
  forged[20] ^= 1;
  CHECK_EQ(share_import(b, forged, AVEC_SHARE_VMM, 201).status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);
  memset(forged, 0x41, sizeof forged);
  CHECK_EQ(share_import(b, forged, AVEC_SHARE_VMM, 201).status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(sync_status(b), 0u);  // not sticky
  {
    Client c(s.l.port);
    CHECK(c.hello_ok());
    Bytes shortf = frame(AVEC_OP_SHARE_IMPORT, Bytes(40, 0), 8);
    CHECK_EQ(c.call(shortf).status(), AVEC_STATUS_BAD_FRAME);
    CHECK(c.closed_by_peer());
  }

  // released by the exporter: no one imports it any more (mappings keep the memory)
  avec_handle rel = {100, 0};
  CHECK(a.send(frame_of(AVEC_OP_VMM_RELEASE, rel, 0)));
  CHECK_EQ(sync_status(a), 0u);
  CHECK_EQ(s.entries(), 1);  // the socket only
  Client d(s.l.port);
  CHECK(d.hello_ok());
  CHECK_EQ(share_import(d, tok.handle, AVEC_SHARE_VMM, 202).status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);
  CHECK(a.send(frame(AVEC_OP_GOODBYE, {}, 0)));
  CHECK(a.closed_by_peer());
  for (int i = 0; i < 50 && s.entries(); i++) sleep_ms(20);
  CHECK_EQ(s.entries(), 0);  // the session's socket went with it
  CHECK(s.l.wait_line({"\"event\":\"share_import_refused\""}));
}

TEST(share_pool_and_pointers_between_sessions) {
  ShareListener s;
  Client a(s.l.port), b(s.l.port);
  CHECK(a.hello_ok());
  CHECK(b.hello_ok());
  avec_pool_create pc = {100, 0, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0, 0};
  CHECK_EQ(a.call(frame_of(AVEC_OP_POOL_CREATE, pc, 2, 0)).status(), 0u);
  avec_mem_alloc m = {50000, 0, 100, 0};
  Reply ar = a.call(frame_of(AVEC_OP_MEM_ALLOC_ASYNC, m, 3, 1, AVEC_F_ASYNC));
  CHECK_EQ(ar.status(), 0u);
  uint64_t p = ar.as<avec_mem_alloc_reply>().dptr;
  Bytes data = pattern(50000, 4);
  CHECK(a.send(htod(p, data)));
  avec_u64 ep = {p};
  // an allocation's export data comes "from an already shared memory pool" (cuda.h; the real driver)
  CHECK_EQ(a.call(frame_of(AVEC_OP_POOL_EXPORT_POINTER, ep, 4)).status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(share_export(a, AVEC_SHARE_POOL, 1).status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);  // default pool
  Reply ex = share_export(a, AVEC_SHARE_POOL, 100);
  CHECK_EQ(ex.status(), 0u);
  avec_ipc_handle_reply tok = ex.as<avec_ipc_handle_reply>();
  Reply er = a.call(frame_of(AVEC_OP_POOL_EXPORT_POINTER, ep, 4));
  CHECK_EQ(er.status(), 0u);
  avec_pool_ptr_data pd = er.as<avec_pool_ptr_data>();
  avec_u64 bad_ep = {p + 16};
  CHECK_EQ(a.call(frame_of(AVEC_OP_POOL_EXPORT_POINTER, bad_ep, 5)).status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);

  CHECK_EQ(share_import(b, tok.handle, AVEC_SHARE_VMM, 300).status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);  // kind
  CHECK_EQ(share_import(b, tok.handle, AVEC_SHARE_POOL, 1).status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);  // handle
  CHECK_EQ(share_import(b, tok.handle, AVEC_SHARE_POOL, 200).status(), 0u);
  avec_pool_import_ptr ip = {};
  memcpy(ip.data, pd.data, 64);
  ip.pool = 1;  // this session's own default pool: not where it came from
  CHECK_EQ(b.call(frame_of(AVEC_OP_POOL_IMPORT_POINTER, ip, 6)).status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(sync_status(b), 0u);  // an ordinary error, not a sticky one
  avec_pool_import_ptr junk = ip;
  junk.pool = 200;
  memset(junk.data, 0x5a, 64);
  CHECK_EQ(b.call(frame_of(AVEC_OP_POOL_IMPORT_POINTER, junk, 7)).status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);
  ip.pool = 200;
  Reply pr = b.call(frame_of(AVEC_OP_POOL_IMPORT_POINTER, ip, 8));
  CHECK_EQ(pr.status(), 0u);
  uint64_t q = pr.as<avec_ipc_open_reply>().dptr;
  CHECK_EQ(pr.as<avec_ipc_open_reply>().size, 50000u);
  Bytes got;
  CHECK(b.send(dtoh(q, 50000, 9)));
  CHECK_EQ(b.read_data(&got), 0u);
  CHECK(got == data);
  CHECK(b.send(dtoh(q + 49000, 2000, 10)));  // past the imported allocation
  CHECK_EQ(b.read_data(&got), (uint32_t)CUDA_ERROR_INVALID_VALUE);
  avec_mem_free fr = {q, 0, 0};
  CHECK(b.send(frame_of(AVEC_OP_MEM_FREE, fr, 0, 1, AVEC_F_ASYNC)));
  CHECK_EQ(sync_status(b), 0u);
  CHECK(b.send(dtoh(q, 16, 11)));
  CHECK_EQ(b.read_data(&got), (uint32_t)CUDA_ERROR_INVALID_VALUE);  // freed here

  // the pool destroyed by its exporter: its token imports no more
  avec_mem_free fa = {p, 0, 0};
  CHECK(a.send(frame_of(AVEC_OP_MEM_FREE, fa, 0, 1, AVEC_F_ASYNC)));
  avec_handle pdst = {100, 0};
  CHECK(a.send(frame_of(AVEC_OP_POOL_DESTROY, pdst, 0)));
  CHECK_EQ(sync_status(a), 0u);
  CHECK_EQ(share_import(b, tok.handle, AVEC_SHARE_POOL, 201).status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);
}

// A session of another claim never imports what this claim exported (the registry entry names the scope).
TEST(share_refused_across_claims) {
  char tmpl[] = "/tmp/avec-keys-XXXXXX";
  std::string keys = mkdtemp(tmpl);
  std::string key(32, 'k');
  { std::ofstream f(keys + "/k1", std::ios::binary); f << key; }
  ShareListener s({"--ticket-keys", keys, "--node", "gpu-test"});
  auto ticket = [&](const std::string& uid) { return sign(key, ticket_payload(uid, "gpu-test", 64u << 20)); };
  Client a(s.l.port), same(s.l.port), other(s.l.port);
  CHECK(a.hello_ok(nullptr, ticket("claim-a")));
  CHECK(same.hello_ok(nullptr, ticket("claim-a")));
  CHECK(other.hello_ok(nullptr, ticket("claim-b")));
  CHECK_EQ(a.call(vmm_create(100, kG, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 2)).status(), 0u);
  Reply ex = share_export(a, AVEC_SHARE_VMM, 100);
  CHECK_EQ(ex.status(), 0u);
  avec_ipc_handle_reply tok = ex.as<avec_ipc_handle_reply>();
  CHECK_EQ(share_import(other, tok.handle, AVEC_SHARE_VMM, 200).status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);
  CHECK(s.l.wait_line({"\"event\":\"share_import_refused\"", "another claim"}));
  CHECK_EQ(share_import(same, tok.handle, AVEC_SHARE_VMM, 200).status(), 0u);
  unlink((keys + "/k1").c_str());
  rmdir(keys.c_str());
}
