// An in-memory Conn: the session reads a prepared byte string (in pieces of `chunk` bytes, to exercise
// frames split across reads) and its replies are collected.
#pragma once
#include <cstring>
#include <vector>

#include "conn.h"

namespace avectest {

class MemConn final : public avec::Conn {
 public:
  MemConn(const uint8_t* data, size_t len, size_t chunk = 1 << 20) : in_(data), len_(len), chunk_(chunk) {}
  ssize_t read_some(void* p, size_t n) override {
    size_t left = len_ - off_;
    if (left == 0) return 0;
    size_t take = n < left ? n : left;
    if (take > chunk_) take = chunk_;
    memcpy(p, in_ + off_, take);
    off_ += take;
    return (ssize_t)take;
  }
  bool write_all(const struct iovec* iov, int n) override {
    if (discard_) return true;
    for (int i = 0; i < n; i++) {
      const uint8_t* b = static_cast<const uint8_t*>(iov[i].iov_base);
      out.insert(out.end(), b, b + iov[i].iov_len);
    }
    return true;
  }
  std::vector<uint8_t> out;
  bool discard_ = false;

 private:
  const uint8_t* in_;
  size_t len_, off_ = 0, chunk_;
};

}  // namespace avectest
