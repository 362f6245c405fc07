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
  // memory_max: bytes of images kept in memory (least recently used go first; the newest image always
  // stays, whatever its size) plus bytes of uploads in progress. An evicted image is only a cache miss:
  // the driver has its own copy of every loaded module, and a later load reads the disk cache or asks
  // the client again (NEED_IMAGE).
  explicit ModuleStore(std::string cache_dir = "", uint64_t cache_max = 4ull << 30, uint64_t memory_max = 64ull << 20)
      : dir_(std::move(cache_dir)), cache_max_(cache_max), memory_max_(memory_max) {}

  // The image with this hash, from memory or the disk cache (verified again when read); nullptr if unknown.
  Image find(const Hash& h);

  enum class Part { incomplete, complete, mismatch, bad };
  // Adds the next part of an upload. `complete`: the image hashed correctly and is stored.
  // `mismatch`: the bytes did not hash to `h` (dropped). `bad`: parts inconsistent (size changed, too long).
  Part add_part(const Hash& h, uint64_t total_size, const uint8_t* data, size_t len);
  size_t memory_images() const { return mem_.size(); }
  // Bytes held: images in memory plus uploads in progress (the figure memory_max bounds).
  uint64_t memory_bytes() const { return mem_bytes_ + upload_bytes_; }

 private:
  void save(const Hash& h, const std::vector<uint8_t>& img);
  void prune(const std::string& keep);
  void remember(const Hash& h, Image img);  // insert as most recently used, then evict past memory_max
  std::string dir_;
  uint64_t cache_max_;
  uint64_t memory_max_;
  struct Cached {
    Image img;
    uint64_t last_use;
  };
  std::map<Hash, Cached> mem_;
  uint64_t mem_bytes_ = 0, upload_bytes_ = 0, tick_ = 0;
  struct Upload {
    uint64_t size;
    std::vector<uint8_t> data;
    uint64_t started;
  };
  std::map<Hash, Upload> uploads_;
  std::map<Hash, Upload>::iterator oldest_upload(const Hash& except = Hash{});
  void drop_upload(std::map<Hash, Upload>::iterator it);
};

}  // namespace avec
