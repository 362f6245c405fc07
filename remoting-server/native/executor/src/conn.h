// Byte transport under a session: a socket (FdConn) in the executor, memory in the fuzzer and tests.
#pragma once
#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <string>

namespace avec {

// The longest a session's read spins for the next frame before it sleeps (microseconds; default 5000).
void set_read_spin_us(long us);
// How long a read spins before it sleeps, after a last real wait of `last_wait_ns` (conn.cpp).
long read_spin_window_ns(long last_wait_ns);

// read_some/read_full result when the read timeout passed without any byte arriving.
constexpr ssize_t kConnTimeout = -2;

class Conn {
 public:
  virtual ~Conn() = default;
  // Up to n bytes; 0 at end of stream, -1 on error, kConnTimeout when nothing came within the read timeout.
  virtual ssize_t read_some(void* p, size_t n) = 0;
  // Read timeout for the next reads (no progress for this long: kConnTimeout); 0: wait forever.
  virtual void set_read_timeout_ms(int ms) {}
  // After write_all failed: true when the peer stopped reading (no progress within the write timeout).
  virtual bool write_timed_out() const { return false; }
  // Exactly n bytes: n, or 0 at end of stream, -1 on error, kConnTimeout (nothing more within the timeout).
  virtual ssize_t read_full(void* p, size_t n) {
    size_t got = 0;
    while (got < n) {
      ssize_t r = read_some(static_cast<char*>(p) + got, n - got);
      if (r <= 0) return r;
      got += (size_t)r;
    }
    return (ssize_t)n;
  }
  // All iovecs or false (connection gone).
  virtual bool write_all(const struct iovec* iov, int n) = 0;
};

class FdConn final : public Conn {
 public:
  explicit FdConn(int fd) : fd_(fd) {}
  ssize_t read_some(void* p, size_t n) override;
  // MSG_WAITALL: one wake-up per bulk chunk instead of one per arriving segment batch.
  ssize_t read_full(void* p, size_t n) override;
  bool write_all(const struct iovec* iov, int n) override;
  void set_read_timeout_ms(int ms) override;
  bool write_timed_out() const override { return write_timed_out_; }
  // A send that makes no progress for this long fails (write_timed_out); 0: wait forever.
  void set_write_timeout_ms(int ms);
  int fd() const { return fd_; }

 private:
  void note_wait(long ns);

  int fd_;
  bool write_timed_out_ = false;
  long last_wait_ns_ = 0;
};

// Socket options for the data plane (TCP_NODELAY, keepalive against vanished peers).
void tune_socket(int fd);

// The client's IP address ("unknown", "local" for non-IP sockets): logs, per-address caps, IPC scope.
std::string peer_address(int fd);

}  // namespace avec
