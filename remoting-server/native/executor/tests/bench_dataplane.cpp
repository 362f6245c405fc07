// Data-plane micro-benchmark against a running executor (any backend): PING round trips, fire-and-forget
// frame rate (launch frames of an unknown function: the server validates, looks up and answers the
// deferred error — per-frame overhead without a GPU), and H2D / D2H throughput in AVEC_CHUNK frames.
// Usage: bench-dataplane HOST:PORT [MiB]
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "wire.h"

using namespace avectest;
using Clock = std::chrono::steady_clock;

static int fd = -1;
static void send_all(const Bytes& b) {
  size_t off = 0;
  while (off < b.size()) {
    ssize_t n = ::send(fd, b.data() + off, b.size() - off, MSG_NOSIGNAL);
    if (n <= 0) { perror("send"); exit(1); }
    off += (size_t)n;
  }
}
static void recv_all(void* p, size_t n) {
  uint8_t* d = static_cast<uint8_t*>(p);
  while (n) {
    ssize_t r = ::recv(fd, d, n, 0);
    if (r <= 0) { perror("recv"); exit(1); }
    d += r;
    n -= (size_t)r;
  }
}
// Reads reply frames until one without AVEC_F_MORE; returns its status and the data byte count.
static uint32_t reply(size_t* data_bytes = nullptr, std::vector<uint8_t>* sink = nullptr) {
  static std::vector<uint8_t> scratch;
  size_t total = 0;
  for (;;) {
    avec_frame_hdr h;
    recv_all(&h, sizeof h);
    scratch.resize(h.payload_len);
    recv_all(scratch.data(), h.payload_len);
    uint32_t st;
    memcpy(&st, scratch.data(), 4);
    total += h.payload_len - 8;
    if (sink) sink->insert(sink->end(), scratch.begin() + 8, scratch.end());
    if (!(h.flags & AVEC_F_MORE)) {
      if (data_bytes) *data_bytes = total;
      return st;
    }
  }
}
static double secs(Clock::time_point a) { return std::chrono::duration<double>(Clock::now() - a).count(); }

int main(int argc, char** argv) {
  if (argc < 2) { fprintf(stderr, "usage: %s HOST:PORT [MiB]\n", argv[0]); return 2; }
  std::string hp = argv[1];
  size_t mib = argc > 2 ? strtoul(argv[2], nullptr, 10) : 256;
  std::string host = hp.substr(0, hp.rfind(':')), port = hp.substr(hp.rfind(':') + 1);
  struct addrinfo hints = {}, *res;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res)) { fprintf(stderr, "bad address\n"); return 2; }
  fd = socket(res->ai_family, SOCK_STREAM, 0);
  if (connect(fd, res->ai_addr, res->ai_addrlen)) { perror("connect"); return 1; }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  send_all(hello());
  if (reply()) { fprintf(stderr, "HELLO refused\n"); return 1; }

  std::vector<double> rtt;
  for (int i = 0; i < 2000; i++) {
    auto t = Clock::now();
    send_all(frame(AVEC_OP_PING, {}, 7));
    reply();
    rtt.push_back(secs(t) * 1e6);
  }
  std::sort(rtt.begin(), rtt.end());
  printf("ping rtt: p50 %.1f us, p99 %.1f us\n", rtt[rtt.size() / 2], rtt[rtt.size() * 99 / 100]);

  const int kFrames = 200000;
  Bytes one_launch = launch(0xFFFF, 64);
  Bytes batch;
  for (int i = 0; i < 1000; i++) batch.insert(batch.end(), one_launch.begin(), one_launch.end());
  auto t0 = Clock::now();
  for (int i = 0; i < kFrames / 1000; i++) send_all(batch);
  send_all(frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 8));
  reply();  // the deferred INVALID_HANDLE of the first launch
  double fr = secs(t0);
  printf("fire-and-forget launch frames: %.0f frames/s (%.2f us each, 112-byte frames)\n", kFrames / fr, fr / kFrames * 1e6);

  uint64_t size = (uint64_t)mib << 20;
  send_all(mem_alloc(size, 9));
  avec_frame_hdr h;
  recv_all(&h, sizeof h);
  avec_mem_alloc_reply ar;
  recv_all(&ar, sizeof ar);
  if (ar.r.status) { fprintf(stderr, "alloc of %zu MiB failed: %u\n", mib, ar.r.status); return 1; }
  Bytes chunk(AVEC_CHUNK, 0x5a);
  for (int rep = 0; rep < 2; rep++) {
    auto t = Clock::now();
    for (uint64_t off = 0; off < size; off += AVEC_CHUNK) {
      avec_memcpy_htod m = {ar.dptr + off, 0, 0};
      avec_frame_hdr fh = {AVEC_WIRE_MAGIC, 1, AVEC_OP_MEMCPY_HTOD, 0, 0, 1, (uint32_t)(sizeof m + AVEC_CHUNK)};
      Bytes head;
      put(&head, fh);
      put(&head, m);
      send_all(head);
      send_all(chunk);
    }
    send_all(frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 10));
    uint32_t st = reply();
    double s = secs(t);
    printf("h2d %zu MiB: %.0f MB/s (status %u)\n", mib, size / s / 1e6, st);
    t = Clock::now();
    send_all(dtoh(ar.dptr, size, 11));
    size_t got = 0;
    st = reply(&got);
    s = secs(t);
    printf("d2h %zu MiB: %.0f MB/s (status %u, %zu bytes)\n", mib, got / s / 1e6, st, got);
  }
  send_all(frame(AVEC_OP_GOODBYE, {}, 0));
  close(fd);
  return 0;
}
