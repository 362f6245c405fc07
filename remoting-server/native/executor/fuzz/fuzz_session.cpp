// libFuzzer target: whole sessions on the emulated device. The input (after a valid HELLO that the
// harness prepends, so inputs reach the interesting states) is the client's byte stream; the first
// input byte picks how the stream is cut into reads. Any crash, leak or sanitizer report fails.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <unistd.h>

#include "../tests/mem_conn.h"
#include "backend.h"
#include "log.h"
#include "session.h"

using namespace avec;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool once = [] { log_set_level(LogLevel::off); return true; }();
  (void)once;
  if (size < 1) return 0;
  size_t chunk = 1 + (data[0] % 64) * 37;
  std::vector<uint8_t> in;
  avec_frame_hdr h = {AVEC_WIRE_MAGIC, (uint16_t)AVEC_WIRE_VERSION, AVEC_OP_HELLO, 0, 1, 0, sizeof(avec_hello)};
  avec_hello hello = {};
  hello.wire_version = AVEC_WIRE_VERSION;
  hello.flags = (data[0] & 0x80) ? AVEC_HELLO_INFO_ONLY : 0;
  in.insert(in.end(), reinterpret_cast<uint8_t*>(&h), reinterpret_cast<uint8_t*>(&h) + sizeof h);
  in.insert(in.end(), reinterpret_cast<uint8_t*>(&hello), reinterpret_cast<uint8_t*>(&hello) + sizeof hello);
  in.insert(in.end(), data + 1, data + size);

  BackendOptions bo;
  bo.emulated_memory = 16 << 20;
  auto be = make_emulated_backend(bo);
  ModuleStore store;
  // A private IPC directory, so the IPC and shareable-handle paths run too (exports serve fds on a socket
  // of the session's own; everything is withdrawn when the session ends).
  static IpcRegistry* ipc = [] {
    static char dir[] = "/tmp/avec-fuzz-ipc-XXXXXX";
    if (!mkdtemp(dir)) return (IpcRegistry*)nullptr;
    atexit([] { rmdir(dir); });  // empty by then: every session withdraws what it published
    return new IpcRegistry(dir);
  }();
  SessionOptions so;
  so.ipc = ipc;
  so.ipc_scope = "fuzz";
  so.memory_limit = 8 << 20;
  so.read_buffer = 64 * 1024;
  avectest::MemConn conn(in.data(), in.size(), chunk);
  conn.discard_ = true;
  Session s(conn, *be, store, so);
  s.run();
  if (s.allocations().used() != 0) __builtin_trap();  // everything is freed when a session ends
  return 0;
}
