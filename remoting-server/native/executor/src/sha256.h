// SHA-256 (FIPS 180-4). Module images are content-addressed by it; the shim hashes with its own
// implementation, so the unit tests check both against the standard test vectors.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace avec {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t len);
  void finish(uint8_t out[32]);

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_;
  uint64_t total_;
};

void sha256(const void* data, size_t len, uint8_t out[32]);
std::string hex(const uint8_t* data, size_t len);

}  // namespace avec
