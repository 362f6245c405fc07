// Byte transport under a session: a socket (FdConn) in the executor, memory in the fuzzer and tests.
#pragma once
#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>

namespace avec {

class Conn {
 public:
  virtual ~Conn() = default;
  // Up to n bytes; 0 at end of stream, -1 on error.
  virtual ssize_t read_some(void* p, size_t n) = 0;
  // Exactly n bytes: n, or 0 at end of stream, -1 on error.
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
  int fd() const { return fd_; }

 private:
  int fd_;
};

// Socket options for the data plane (TCP_NODELAY, keepalive against vanished peers).
void tune_socket(int fd);

}  // namespace avec
