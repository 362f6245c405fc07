// Module images by SHA-256: kept in memory for the session and, with --module-cache DIR, on disk so a
// later session is sent only the hash. Images arrive in one or more MODULE_IMAGE frames and are
// accepted only when their bytes hash to the announced value.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace avec {

using Hash = std::array<uint8_t, 32>;
using Image = std::shared_ptr<const std::vector<uint8_t>>;

class ModuleStore {
 public:
  // cache_max: bytes the disk cache may hold; older images (by last use) are removed past it.
  explicit ModuleStore(std::string cache_dir = "", uint64_t cache_max = 4ull << 30)
      : dir_(std::move(cache_dir)), cache_max_(cache_max) {}

  // The image with this hash, from memory or the disk cache (verified again when read); nullptr if unknown.
  Image find(const Hash& h);

  enum class Part { incomplete, complete, mismatch, bad };
  // Adds the next part of an upload. `complete`: the image hashed correctly and is stored.
  // `mismatch`: the bytes did not hash to `h` (dropped). `bad`: parts inconsistent (size changed, too long).
  Part add_part(const Hash& h, uint64_t total_size, const uint8_t* data, size_t len);
  size_t memory_images() const { return mem_.size(); }

 private:
  void save(const Hash& h, const std::vector<uint8_t>& img);
  void prune(const std::string& keep);
  std::string dir_;
  uint64_t cache_max_;
  std::map<Hash, Image> mem_;
  struct Upload {
    uint64_t size;
    std::vector<uint8_t> data;
  };
  std::map<Hash, Upload> uploads_;
};

}  // namespace avec
