// A data-plane client for e2e/gpu/soak.sh: one session that allocates, copies random data to the device
// and back, checks every byte, and frees, `iterations` times. Exit status: 0 all results right, 2 a wrong
// result (data differs, or an allocation the limit allows was refused), 3 could not open the session
// (refused / nothing listening), 1 the session was lost part-way (what a killed executor looks like).
#include <cstdio>
#include <cstdlib>

#include "listener.h"

using namespace avectest;
std::string avectest::g_exec;

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: soak-client PORT ITERATIONS [SEED]\n");
    return 64;
  }
  signal(SIGPIPE, SIG_IGN);
  int port = atoi(argv[1]), iterations = atoi(argv[2]);
  uint32_t x = argc > 3 ? (uint32_t)strtoul(argv[3], nullptr, 0) : (uint32_t)getpid();
  Client c(port);
  if (c.fd < 0 || !c.hello_ok()) return 3;
  for (int it = 0; it < iterations; it++) {
    x = x * 1664525u + 1013904223u;
    size_t n = 1 + x % (2 << 20);
    uint32_t st = 0;
    uint64_t d = c.alloc(n, &st);
    if (!d) return st == 0xffffffffu ? 1 : 2;
    Bytes data(n);
    for (size_t i = 0; i < n; i++) data[i] = (uint8_t)((x >> (i % 24)) + i);
    if (!c.send(cat({htod(d, data), dtoh(d, n, 5)}))) return 1;
    Bytes got;
    uint32_t r = c.read_data(&got);
    if (r == 0xffffffffu) return 1;
    if (r != 0 || got != data) {
      fprintf(stderr, "soak-client: wrong result at iteration %d (status %u, %zu bytes)\n", it, r, got.size());
      return 2;
    }
    avec_mem_free f = {d, 0, 0};
    if (!c.send(frame_of(AVEC_OP_MEM_FREE, f, 0))) return 1;
  }
  Reply s = c.call(frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 6));
  if (s.payload.empty()) return 1;
  if (s.status() != 0) return 2;
  c.send(frame(AVEC_OP_GOODBYE, {}, 0));
  return 0;
}
