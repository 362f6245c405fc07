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
  // All iovecs or false (connection gone).
  virtual bool write_all(const struct iovec* iov, int n) = 0;
};

class FdConn final : public Conn {
 public:
  explicit FdConn(int fd) : fd_(fd) {}
  ssize_t read_some(void* p, size_t n) override;
  bool write_all(const struct iovec* iov, int n) override;
  int fd() const { return fd_; }

 private:
  int fd_;
};

// Socket options for the data plane (TCP_NODELAY, keepalive against vanished peers).
void tune_socket(int fd);

}  // namespace avec
