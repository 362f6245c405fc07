#include "conn.h"

#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <vector>

#include "avec_wire.h"

namespace avec {

// A session waits for its client's next frame spinning, then sleeping, for as long as
// avec_spin_window_ns (wire/avec_wire.h) says: at least kBaseSpinNs, at most --read-spin-us (default 5 ms).
// GPU run 27: a graph replay through a 2 ms link cost 130 us less with the session spinning.
constexpr long kBaseSpinNs = 50000;
static long g_read_spin_max_ns = 5000000;

void set_read_spin_us(long us) { g_read_spin_max_ns = us * 1000; }

long read_spin_window_ns(long last_wait_ns) {
  return avec_spin_window_ns(last_wait_ns, kBaseSpinNs, g_read_spin_max_ns);
}

static long mono_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000L + ts.tv_nsec;
}


// A wait shorter than the base spin (the data was there, or nearly) says nothing about the client's rhythm.
void FdConn::note_wait(long ns) {
  if (ns >= kBaseSpinNs) last_wait_ns_ = ns;
}

ssize_t FdConn::read_some(void* p, size_t n) {
  long start = 0, spin_until = 0;
  for (;;) {
    ssize_t r = ::recv(fd_, p, n, MSG_DONTWAIT);
    if (r >= 0) {
      if (start) note_wait(mono_ns() - start);
      return r;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) break;  // e.g. ENOTSOCK (a pipe in tests): plain read
    long now = mono_ns();
    if (!start) start = now, spin_until = now + read_spin_window_ns(last_wait_ns_);
    if (now >= spin_until) break;
    __builtin_ia32_pause();
  }
  for (;;) {
    ssize_t r = ::read(fd_, p, n);
    if (r >= 0) {
      if (start) note_wait(mono_ns() - start);
      return r;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return kConnTimeout;  // SO_RCVTIMEO passed
    return -1;
  }
}

static void set_timeout(int fd, int opt, int ms) {
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof tv);
}

void FdConn::set_read_timeout_ms(int ms) { set_timeout(fd_, SO_RCVTIMEO, ms > 0 ? ms : 0); }

void FdConn::set_write_timeout_ms(int ms) { set_timeout(fd_, SO_SNDTIMEO, ms > 0 ? ms : 0); }

ssize_t FdConn::read_full(void* p, size_t n) {
  size_t got = 0;
  long spin_until = 0;
  while (got < n) {
    // While a bulk copy streams in, take what has arrived without sleeping; block (MSG_WAITALL) only
    // once the stream has been idle for the spin window.
    ssize_t r = ::recv(fd_, static_cast<char*>(p) + got, n - got, MSG_DONTWAIT);
    if (r > 0) { got += (size_t)r; spin_until = 0; continue; }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      long now = mono_ns();
      if (!spin_until) spin_until = now + kBaseSpinNs;
      if (now < spin_until) { __builtin_ia32_pause(); continue; }
      spin_until = 0;
    } else if (r < 0 && errno == EINTR) {
      continue;
    }
    r = ::recv(fd_, static_cast<char*>(p) + got, n - got, MSG_WAITALL);
    if (r < 0 && errno == ENOTSOCK) r = ::read(fd_, static_cast<char*>(p) + got, n - got);
    if (r == 0) return 0;
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return kConnTimeout;  // no byte within SO_RCVTIMEO
      return -1;
    }
    got += (size_t)r;
  }
  return (ssize_t)n;
}

bool FdConn::write_all(const struct iovec* iov_in, int n) {
  struct iovec iov[16];
  if (n > 16) return false;
  for (int i = 0; i < n; i++) iov[i] = iov_in[i];
  int first = 0;
  while (first < n) {
    struct msghdr mh = {};
    mh.msg_iov = iov + first;
    mh.msg_iovlen = n - first;
    ssize_t w = sendmsg(fd_, &mh, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {  // SO_SNDTIMEO passed: the peer does not read
        write_timed_out_ = true;
        return false;
      }
      if (errno == ENOTSOCK) {  // a pipe in tests
        w = ::writev(fd_, iov + first, n - first);
        if (w < 0) { if (errno == EINTR) continue; return false; }
      } else {
        return false;
      }
    }
    size_t left = (size_t)w;
    while (first < n && left >= iov[first].iov_len) { left -= iov[first].iov_len; first++; }
    if (first < n) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  return true;
}

void tune_socket(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // A client host that vanishes without closing (edge links drop) must not pin a GPU context forever:
  // keepalive probes end the session after about a minute of silence from a dead peer.
  int idle = 30, intvl = 10, cnt = 3;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
  // Buffer sizes are left to the kernel's autotuning: a fixed SO_SNDBUF/SO_RCVBUF would cap it.
}

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

}  // namespace avec
