// Integration tests of the CUDA backend: against the mock driver (tests/mock_driver.cpp) by default, or
// against the real driver and tests/gpu_kernels.cu when AVEC_TEST_GPU_FATBIN names its fatbin.
#include <cuda.h>

#include "listener.h"
#include "sha256.h"

using namespace avectest;

// ---- the CUDA backend against the mock driver (tests/mock_driver.cpp) ---------------------------------

std::string g_mock_dir, g_mock_shim_dir;
// With AVEC_TEST_GPU_FATBIN (tests/gpu_kernels.cu built by nvcc) the cuda_backend tests use the real driver
// and that image instead of the mock driver; checks only the mock can answer are left out.
std::string g_gpu_fatbin;
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

// Uploads the test image as `module` and gets its kernel `name` as function `func`; the status.
static uint32_t load_kernel(Client& c, const char* name, uint32_t module = 5, uint32_t func = 6, uint32_t id = 2) {
  Bytes img = cuda_image();
  uint8_t hash[32];
  avec::sha256(img.data(), img.size(), hash);
  return c.call(cat({module_image(hash, img), module_load_kind(module, hash, img.size(), AVEC_MODULE_KIND_MODULE),
                     symbol(AVEC_OP_GET_FUNCTION, module, func, name, id)})).status();
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
    // a library kernel (CUkernel launched as a function), with a launch-completion event attribute (whose
    // event must disable timing: the real driver refuses a timing event with CUDA_ERROR_NOT_SUPPORTED)
    avec_event_create ec = {40, CU_EVENT_DISABLE_TIMING};
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

// MIRROR_WRITE_NOW through the CUDA backend: the bytes land at once, copied beside the program's streams in
// relaxed capture mode (a capture the program has open elsewhere must not be invalidated), and the thread's
// mode is put back afterwards (a later upload is made in the default mode again).
TEST(cuda_backend_mirror_write_now) {
  Listener l({}, "cuda", cuda_lib_path());
  Client c(l.port);
  CHECK(c.hello_ok());
  uint64_t d = c.alloc(4096);
  CHECK(d != 0);
  Bytes flag(40, 0x5c);
  avec_mirror_write w = {d + 100, flag.size()};
  Bytes p;
  put(&p, w);
  put(&p, flag.data(), flag.size());
  CHECK(c.send(cat({frame(AVEC_OP_MIRROR_WRITE_NOW, p, 0), htod(d, Bytes(8, 0x11), 0), dtoh(d, 200, 3)})));
  Bytes got;
  CHECK_EQ(c.read_data(&got), 0u);
  CHECK(got.size() == 200 && Bytes(got.begin() + 100, got.begin() + 140) == flag && got[0] == 0x11);
  avec_mirror_write z = {d + 110, 20};  // MIRROR_ZERO_NOW: zeros the same way
  Bytes zp;
  put(&zp, z);
  CHECK(c.send(cat({frame(AVEC_OP_MIRROR_ZERO_NOW, zp, 0), dtoh(d + 100, 40, 4)})));
  Bytes zeroed;
  CHECK_EQ(c.read_data(&zeroed), 0u);
  CHECK(zeroed.size() == 40 && zeroed[9] == 0x5c && zeroed[10] == 0 && zeroed[29] == 0 && zeroed[30] == 0x5c);
  if (!real_gpu()) {
    CHECK(l.wait_line({"mock_driver_htod capture_mode=2 bytes=40"}));
    CHECK(!l.wait_line({"mock_driver_htod capture_mode=2 bytes=8"}, 300));
  }
  c.send(frame(AVEC_OP_GOODBYE, {}, 0));
  CHECK(c.closed_by_peer());
}

TEST(cuda_backend_sticky_fault_and_client_kill) {
  Listener l({}, "cuda", cuda_lib_path());
  {
    Client c(l.port);
    CHECK(c.hello_ok());
    CHECK_EQ(load_kernel(c, "avec_fill"), 0u);
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
    CHECK_EQ(load_kernel(c, "avec_fill", 5, 6, 4), 0u);
    CHECK_EQ(c.call(cat({fill_launch(6, 0x10, 4, 1), frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 5)})).status(),
             (uint32_t)CUDA_ERROR_ILLEGAL_ADDRESS);
    CHECK_EQ(c.call(mem_alloc(16, 6)).status(), (uint32_t)CUDA_ERROR_ILLEGAL_ADDRESS);
    avec_u32 dev0 = {0, 0};
    CHECK_EQ(c.call(frame_of(AVEC_OP_PRIMARY_CTX_RESET, dev0, 7)).status(), 0u);
    uint64_t d3 = c.alloc(4096);  // a fresh primary context is retained on first use
    got.clear();
    CHECK(c.send(dtoh(d1, 16, 8)));  // d1 went with the old primary context
    uint32_t old_ptr = c.read_data(&got);
    uint32_t fn = c.call(symbol(AVEC_OP_GET_FUNCTION, 5, 9, "avec_fill", 9)).status();
    if (real_gpu()) {
      // The real driver (H200, 580, GPU run 26) keeps an illegal address for the whole process, as the
      // runtime's documentation says, even after the reset succeeded: the session passes its answer on.
      CHECK(d3 == 0);
      CHECK_EQ(old_ptr, (uint32_t)CUDA_ERROR_ILLEGAL_ADDRESS);
      CHECK_EQ(fn, (uint32_t)CUDA_ERROR_ILLEGAL_ADDRESS);
    } else {  // the mock models the documented recovery
      CHECK(d3 != 0);
      CHECK_EQ(old_ptr, (uint32_t)CUDA_ERROR_INVALID_VALUE);
      CHECK_EQ(fn, (uint32_t)CUDA_ERROR_INVALID_HANDLE);
    }
    c.send(frame(AVEC_OP_GOODBYE, {}, 0));
    CHECK(c.closed_by_peer());
  }
  CHECK(l.wait_line({"\"event\":\"sticky_error_cleared\""}));
  if (!real_gpu()) CHECK(l.wait_line({kNoLeaks}));
}

TEST(cuda_backend_compute_percent) {
  if (real_gpu()) return avectest::not_run("needs the mock's MPS model (a real GPU needs the MPS daemon)");
  {
    Listener nomps({"--compute-percent", "50"}, "cuda", cuda_lib_path());
    Client c(nomps.port);  // no MPS daemon: the share cannot be enforced, the session is refused
    Reply r = c.call(hello());
    CHECK_EQ(r.status(), AVEC_STATUS_REFUSED);
    avec_hello_refusal f = {};
    if (r.payload.size() >= sizeof(avec_hello_reply) + sizeof f) memcpy(&f, r.payload.data() + sizeof(avec_hello_reply), sizeof f);
    CHECK_EQ(f.reason, AVEC_REFUSAL_COMPUTE_SHARE);
  }
  char tmpl[] = "/tmp/avec-mps-cp-XXXXXX";
  std::string mps = mkdtemp(tmpl);
  { std::ofstream f(mps + "/control"); }
  setenv("CUDA_MPS_PIPE_DIRECTORY", mps.c_str(), 1);  // inherited by the listener: the daemon's pipe is there
  Listener l({"--compute-percent", "50"}, "cuda", cuda_lib_path());
  unsetenv("CUDA_MPS_PIPE_DIRECTORY");
  Client c(l.port);
  Reply hr = c.call(hello());
  unlink((mps + "/control").c_str());
  rmdir(mps.c_str());
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

// Shareable handles through the CUDA backend: the POSIX-fd handle type reaches the driver at creation (the
// mock exports only what was asked for), the driver's fd travels to another session's process, which imports
// it, and pool pointer export data is the driver's (an import into another pool fails, not stickily).
TEST(cuda_backend_shareable_handles) {
  char tmpl[] = "/tmp/avec-share-cuda-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  {
    Listener l({"--ipc-dir", dir}, "cuda", cuda_lib_path());
    Client a(l.port), b(l.port);
    avec_hello_reply hr;
    CHECK(a.hello_ok(&hr));
    CHECK(hr.features & AVEC_FEATURE_SHAREABLE_FD);
    CHECK(b.hello_ok());
    const uint64_t size = 2u << 20;
    avec_vmm_prop p = {size, 100, 0, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0, 0, 0};
    CHECK_EQ(a.call(frame_of(AVEC_OP_VMM_CREATE, p, 2, 0)).status(), 0u);
    avec_share_export e = {AVEC_SHARE_VMM, 100, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0};
    Reply ex = a.call(frame_of(AVEC_OP_SHARE_EXPORT, e, 3, 0));
    CHECK_EQ(ex.status(), 0u);
    avec_share_import q = {};
    memcpy(q.token, ex.as<avec_ipc_handle_reply>().handle, 64);
    q.handle = 200;
    q.kind = AVEC_SHARE_VMM;
    Reply im = b.call(frame_of(AVEC_OP_SHARE_IMPORT, q, 4, 0));
    CHECK_EQ(im.status(), 0u);
    CHECK_EQ(im.as<avec_share_import_reply>().size, size);

    avec_pool_create pc = {100, 0, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0, 0};
    CHECK_EQ(a.call(frame_of(AVEC_OP_POOL_CREATE, pc, 5, 0)).status(), 0u);
    avec_mem_alloc m = {size, 0, 100, 0};
    Reply ar = a.call(frame_of(AVEC_OP_MEM_ALLOC_ASYNC, m, 6, 1, AVEC_F_ASYNC));
    CHECK_EQ(ar.status(), 0u);
    avec_u64 ptr = {ar.as<avec_mem_alloc_reply>().dptr};
    // pointer export data comes "from an already shared memory pool" (cuda.h; the real driver refuses it
    // before the pool's export with CUDA_ERROR_INVALID_VALUE, GPU run 26): the driver's answer is passed on
    CHECK_EQ(a.call(frame_of(AVEC_OP_POOL_EXPORT_POINTER, ptr, 7)).status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);
    avec_share_export pe = {AVEC_SHARE_POOL, 100, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0};
    Reply pex = a.call(frame_of(AVEC_OP_SHARE_EXPORT, pe, 8, 0));
    CHECK_EQ(pex.status(), 0u);
    Reply pd = a.call(frame_of(AVEC_OP_POOL_EXPORT_POINTER, ptr, 7));
    CHECK_EQ(pd.status(), 0u);
    memcpy(q.token, pex.as<avec_ipc_handle_reply>().handle, 64);
    q.handle = 300;
    q.kind = AVEC_SHARE_POOL;
    CHECK_EQ(b.call(frame_of(AVEC_OP_SHARE_IMPORT, q, 9, 0)).status(), 0u);
    avec_pool_create other = {301, 0, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0, 0};
    CHECK_EQ(b.call(frame_of(AVEC_OP_POOL_CREATE, other, 10, 0)).status(), 0u);
    avec_pool_import_ptr ip = {};
    memcpy(ip.data, pd.as<avec_pool_ptr_data>().data, 64);
    ip.pool = 301;  // b's own pool: the session refuses (not an imported one)
    CHECK_EQ(b.call(frame_of(AVEC_OP_POOL_IMPORT_POINTER, ip, 11)).status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);
    ip.pool = 300;
    Reply pi = b.call(frame_of(AVEC_OP_POOL_IMPORT_POINTER, ip, 12));
    CHECK_EQ(pi.status(), 0u);
    CHECK_EQ(pi.as<avec_ipc_open_reply>().size, size);
    avec_mem_free fr = {pi.as<avec_ipc_open_reply>().dptr, 0, 0};
    CHECK(b.send(frame_of(AVEC_OP_MEM_FREE, fr, 0, 1, AVEC_F_ASYNC)));
    CHECK_EQ(b.call(frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 13)).status(), 0u);
    // created without the handle type: the session refuses before the driver is asked
    avec_vmm_prop plain = {size, 101, 0, CU_MEM_HANDLE_TYPE_NONE, 0, 0, 0};
    CHECK_EQ(a.call(frame_of(AVEC_OP_VMM_CREATE, plain, 14, 0)).status(), 0u);
    e.handle = 101;
    CHECK_EQ(a.call(frame_of(AVEC_OP_SHARE_EXPORT, e, 15, 0)).status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);
  }
  rmdir(dir.c_str());
}

// ---- device printf (DEVICE_OUTPUT) ----------------------------------------------------------------------

// avec_print(value) on blocks x threads threads: each prints "avec_print <value>\n"
static Bytes print_launch(uint32_t func, uint32_t value, uint32_t blocks = 1, uint32_t threads = 1) {
  avec_launch l = {};
  l.func = func;
  l.grid[0] = blocks;
  l.block[0] = threads;
  l.grid[1] = l.grid[2] = l.block[1] = l.block[2] = 1;
  l.param_bytes = 4;
  Bytes p;
  put(&p, l);
  put(&p, value);
  return frame(AVEC_OP_LAUNCH, p, 0);
}

// A reply and the DEVICE_OUTPUT frames that came ahead of it.
struct Printed {
  Reply reply;
  std::string text;     // their text, in order
  size_t frames = 0;
  bool well_formed = true;  // each: the reply's request id, AVEC_F_REPLY only, status 0, 1..MAX bytes of text
};

static Printed read_printed(Client& c) {
  Printed p;
  std::vector<Reply> out;
  if (!c.reply_after_output(&p.reply, &out)) p.reply.payload.clear();
  for (const Reply& o : out) {
    p.frames++;
    size_t n = o.payload.size() < 8 ? 0 : o.payload.size() - 8;
    p.well_formed = p.well_formed && o.hdr.request_id == p.reply.hdr.request_id && o.hdr.flags == AVEC_F_REPLY &&
                    o.status() == 0 && n >= 1 && n <= AVEC_DEVICE_OUTPUT_MAX;
    if (n) p.text.append(reinterpret_cast<const char*>(o.payload.data()) + 8, n);
  }
  return p;
}

static std::string repeated(const std::string& line, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; i++) s += line;
  return s;
}

// With AVEC_HELLO_DEVICE_OUTPUT, what the driver prints (device printf, written to the session process's
// stdout through stdio at synchronizations) reaches the client in DEVICE_OUTPUT frames just ahead of the
// reply, with its request id; output flushed during fire-and-forget frames precedes the next reply; large
// output is split into frames of at most AVEC_DEVICE_OUTPUT_MAX; what is printed after the last reply is
// dropped at the session's end (logged).
TEST(cuda_backend_device_output) {
  Listener l({}, "cuda", cuda_lib_path());
  {
    Client c(l.port);
    Reply hr = c.call(hello(AVEC_HELLO_DEVICE_OUTPUT));
    CHECK_EQ(hr.status(), 0u);
    CHECK(hr.as<avec_hello_reply>().features & AVEC_FEATURE_DEVICE_OUTPUT);
    CHECK_EQ(load_kernel(c, "avec_print"), 0u);
    CHECK(c.send(cat({print_launch(6, 42), print_launch(6, 7), frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 3)})));
    Printed p = read_printed(c);
    CHECK_EQ(p.reply.hdr.opcode, (uint16_t)AVEC_OP_CTX_SYNCHRONIZE);
    CHECK_EQ(p.reply.hdr.request_id, 3u);
    CHECK_EQ(p.reply.status(), 0u);
    CHECK(p.text == "avec_print 42\navec_print 7\n");
    CHECK(p.frames >= 1 && p.well_formed);
    CHECK(c.send(frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 4)));  // nothing printed since: no output frame
    Printed quiet = read_printed(c);
    CHECK_EQ(quiet.reply.hdr.request_id, 4u);
    CHECK_EQ(quiet.reply.status(), 0u);
    CHECK_EQ(quiet.frames, 0u);
    if (!real_gpu()) {  // the mock's module unload writes the output (a fire-and-forget frame): the next reply
      CHECK_EQ(load_kernel(c, "avec_fill", 8, 9, 5), 0u);
      CHECK(c.send(cat({print_launch(6, 5), frame_of(AVEC_OP_MODULE_UNLOAD, avec_handle{8, 0}, 0),
                        frame(AVEC_OP_PING, {}, 6)})));
      Printed f = read_printed(c);
      CHECK_EQ(f.reply.hdr.opcode, (uint16_t)AVEC_OP_PING);
      CHECK(f.text == "avec_print 5\n" && f.well_formed);
    }
    // 160 x 64 threads print 174,080 bytes: three frames, none over AVEC_DEVICE_OUTPUT_MAX
    CHECK(c.send(cat({print_launch(6, 12345, 160, 64), frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 7)})));
    Printed big = read_printed(c);
    CHECK_EQ(big.reply.hdr.request_id, 7u);
    CHECK_EQ(big.reply.status(), 0u);
    CHECK_EQ(big.text.size(), 160u * 64 * 17);
    CHECK(big.text == repeated("avec_print 12345\n", 160 * 64));
    CHECK(big.frames >= 3 && big.well_formed);
    // printed after the last reply: the session's end flushes it, and nobody is left to take it
    CHECK(c.send(cat({print_launch(6, 99), frame(AVEC_OP_GOODBYE, {}, 0)})));
    CHECK(c.closed_by_peer());
  }
  CHECK(l.wait_line({"\"event\":\"device_output_end\"", "\"unsent\":14,"}));
  CHECK(l.wait_line({"\"event\":\"session_end\"", "\"device_output_bytes\":"}));
  if (!real_gpu()) CHECK(l.wait_line({kNoLeaks}));
}

// Without the HELLO flag (or in an INFO_ONLY session) there is no feature bit and no DEVICE_OUTPUT frame:
// the reply comes alone. The emulated device offers the feature too (it prints nothing).
TEST(cuda_backend_device_output_only_when_asked) {
  Listener l({}, "cuda", cuda_lib_path());
  {
    Client c(l.port);
    Reply hr = c.call(hello());
    CHECK_EQ(hr.status(), 0u);
    CHECK(!(hr.as<avec_hello_reply>().features & AVEC_FEATURE_DEVICE_OUTPUT));
    CHECK_EQ(load_kernel(c, "avec_print"), 0u);
    CHECK(c.send(cat({print_launch(6, 42), frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 3)})));
    Printed p = read_printed(c);
    CHECK_EQ(p.reply.hdr.opcode, (uint16_t)AVEC_OP_CTX_SYNCHRONIZE);
    CHECK_EQ(p.reply.status(), 0u);
    CHECK_EQ(p.frames, 0u);
    // the output stays in the session process's stdout (the real driver writes it out at once; the mock
    // leaves it in stdio's buffer, which the listener's session process never flushes)
    if (real_gpu()) CHECK(l.wait_line({"avec_print 42"}));
    Client info(l.port);
    Reply ir = info.call(hello(AVEC_HELLO_INFO_ONLY | AVEC_HELLO_DEVICE_OUTPUT));
    CHECK_EQ(ir.status(), 0u);
    CHECK(!(ir.as<avec_hello_reply>().features & AVEC_FEATURE_DEVICE_OUTPUT));
  }
  Listener emulated;
  Client e(emulated.port);
  Reply er = e.call(hello(AVEC_HELLO_DEVICE_OUTPUT));
  CHECK_EQ(er.status(), 0u);
  CHECK(er.as<avec_hello_reply>().features & AVEC_FEATURE_DEVICE_OUTPUT);
  CHECK(e.send(frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 2)));
  Printed ep = read_printed(e);
  CHECK_EQ(ep.reply.status(), 0u);
  CHECK_EQ(ep.frames, 0u);
}

// DEVICE_OUTPUT goes from server to client only: a client that sends it has sent a bad frame.
TEST(cuda_backend_device_output_from_client_is_bad_frame) {
  Listener l({}, "cuda", cuda_lib_path());
  for (uint32_t flags : {0u, (uint32_t)AVEC_F_REPLY}) {
    Client c(l.port);
    CHECK_EQ(c.call(hello(AVEC_HELLO_DEVICE_OUTPUT)).status(), 0u);
    Bytes text;
    put(&text, avec_reply_hdr{0, 0});
    put(&text, "hi\n", 3);
    Reply r = c.call(frame(AVEC_OP_DEVICE_OUTPUT, text, 5, 1, flags));
    CHECK_EQ(r.status(), AVEC_STATUS_BAD_FRAME);
    CHECK_EQ(r.hdr.request_id, 5u);
    CHECK(c.closed_by_peer());
  }
  CHECK(l.wait_line({"\"event\":\"bad_frame\"", "\"reason\":\"unknown opcode\"", "\"opcode\":180"}));
  CHECK(l.wait_line({"\"event\":\"bad_frame\"", "\"reason\":\"client frame with reply or unknown flags\""}));
  CHECK(l.alive());
}
