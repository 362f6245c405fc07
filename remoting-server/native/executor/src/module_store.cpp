#include "module_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "log.h"
#include "sha256.h"

namespace avec {

constexpr uint64_t kMaxImage = 2ull << 30;  // larger images are refused (bounds upload memory)
constexpr size_t kMaxUploads = 4;            // images being assembled at once per session

void ModuleStore::remember(const Hash& h, Image img) {
  auto old = mem_.find(h);
  if (old != mem_.end()) {
    mem_bytes_ -= old->second.img->size();
    mem_.erase(old);
  }
  mem_bytes_ += img->size();
  mem_[h] = Cached{std::move(img), ++tick_};
  while (mem_bytes_ + upload_bytes_ > memory_max_ && mem_.size() > 1) {
    auto lru = mem_.end();
    for (auto it = mem_.begin(); it != mem_.end(); ++it)
      if (it->first != h && (lru == mem_.end() || it->second.last_use < lru->second.last_use)) lru = it;
    if (lru == mem_.end()) break;
    AVEC_LOG(debug, "module_store_evicted").str("hash", hex(lru->first.data(), 32)).unum("bytes", lru->second.img->size());
    mem_bytes_ -= lru->second.img->size();
    mem_.erase(lru);
  }
}

Image ModuleStore::find(const Hash& h) {
  auto it = mem_.find(h);
  if (it != mem_.end()) {
    it->second.last_use = ++tick_;
    return it->second.img;
  }
  if (dir_.empty()) return nullptr;
  std::string path = dir_ + "/" + hex(h.data(), h.size()) + ".img";
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  struct stat st;
  auto img = std::make_shared<std::vector<uint8_t>>();
  if (fstat(fd, &st) == 0 && st.st_size > 0 && (uint64_t)st.st_size <= kMaxImage) {
    img->resize(st.st_size);
    size_t off = 0;
    while (off < img->size()) {
      ssize_t n = read(fd, img->data() + off, img->size() - off);
      if (n <= 0) break;
      off += n;
    }
    if (off != img->size()) img->clear();
  }
  close(fd);
  if (img->empty()) return nullptr;
  Hash got;
  sha256(img->data(), img->size(), got.data());
  if (got != h) {
    AVEC_LOG(warn, "module_cache_corrupt").str("path", path);
    unlink(path.c_str());
    return nullptr;
  }
  utimensat(AT_FDCWD, path.c_str(), nullptr, 0);  // mtime = last use, for pruning
  remember(h, img);
  return img;
}

std::map<Hash, ModuleStore::Upload>::iterator ModuleStore::oldest_upload(const Hash& except) {
  auto best = uploads_.end();
  for (auto it = uploads_.begin(); it != uploads_.end(); ++it)
    if (it->first != except && (best == uploads_.end() || it->second.started < best->second.started)) best = it;
  return best;
}

void ModuleStore::drop_upload(std::map<Hash, Upload>::iterator it) {
  if (it == uploads_.end()) return;
  upload_bytes_ -= it->second.data.size();
  uploads_.erase(it);
}

ModuleStore::Part ModuleStore::add_part(const Hash& h, uint64_t size, const uint8_t* data, size_t len) {
  if (size == 0 || size > kMaxImage) return Part::bad;
  auto it = uploads_.find(h);
  if (it == uploads_.end()) {
    if (mem_.count(h) && len == size) return Part::complete;  // already known: nothing to do
    // Memory follows the bytes that actually arrive (never the announced size), and only a few uploads
    // may be in progress at once, so a client cannot make the server reserve memory it never sends.
    if (uploads_.size() >= kMaxUploads) drop_upload(oldest_upload());
    it = uploads_.emplace(h, Upload{size, {}, ++tick_}).first;
  }
  Upload& u = it->second;
  if (u.size != size || len > size - u.data.size()) {
    drop_upload(it);
    return Part::bad;
  }
  // Uploads in progress count against memory_max too: older ones are abandoned (the client is asked
  // for them again) before this one may grow past the bound; a single upload may reach kMaxImage.
  while (upload_bytes_ + mem_bytes_ + len > memory_max_ && uploads_.size() > 1) {
    auto victim = oldest_upload(h);
    AVEC_LOG(info, "module_upload_abandoned").str("hash", hex(victim->first.data(), 32)).unum("received", victim->second.data.size());
    drop_upload(victim);
  }
  u.data.insert(u.data.end(), data, data + len);
  upload_bytes_ += len;
  if (u.data.size() < size) return Part::incomplete;
  Hash got;
  sha256(u.data.data(), u.data.size(), got.data());
  if (got != h) {
    drop_upload(it);
    return Part::mismatch;
  }
  upload_bytes_ -= u.data.size();  // before the bytes move out of the upload
  u.data.shrink_to_fit();
  auto img = std::make_shared<std::vector<uint8_t>>(std::move(u.data));
  uploads_.erase(it);
  remember(h, img);
  save(h, *img);
  return Part::complete;
}

void ModuleStore::save(const Hash& h, const std::vector<uint8_t>& img) {
  if (dir_.empty()) return;
  std::string name = hex(h.data(), h.size());
  std::string final_path = dir_ + "/" + name + ".img";
  std::string tmp = dir_ + "/." + name + "." + std::to_string(getpid()) + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    AVEC_LOG(warn, "module_cache_write_failed").str("path", tmp);
    return;
  }
  size_t off = 0;
  while (off < img.size()) {
    ssize_t n = write(fd, img.data() + off, img.size() - off);
    if (n <= 0) break;
    off += n;
  }
  bool ok = off == img.size() && fsync(fd) == 0;
  close(fd);
  if (!ok || rename(tmp.c_str(), final_path.c_str()) != 0) {
    unlink(tmp.c_str());
    AVEC_LOG(warn, "module_cache_write_failed").str("path", final_path);
    return;
  }
  prune(final_path);
}

// Keeps the cache under cache_max_ bytes by removing the least recently used images (never `keep`).
// Several session processes may prune at once; removing a file another one just removed is harmless,
// and a file being read stays readable after unlink.
void ModuleStore::prune(const std::string& keep) {
  DIR* d = opendir(dir_.c_str());
  if (!d) return;
  struct Entry {
    std::string path;
    uint64_t size;
    struct timespec mtime;
  };
  std::vector<Entry> all;
  uint64_t total = 0;
  while (struct dirent* e = readdir(d)) {
    size_t n = strlen(e->d_name);
    if (n < 5 || strcmp(e->d_name + n - 4, ".img") != 0) continue;
    std::string path = dir_ + "/" + e->d_name;
    struct stat st;
    if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    all.push_back({path, (uint64_t)st.st_size, st.st_mtim});
    total += (uint64_t)st.st_size;
  }
  closedir(d);
  if (total <= cache_max_) return;
  std::sort(all.begin(), all.end(), [](const Entry& a, const Entry& b) {
    return a.mtime.tv_sec != b.mtime.tv_sec ? a.mtime.tv_sec < b.mtime.tv_sec : a.mtime.tv_nsec < b.mtime.tv_nsec;
  });
  for (const Entry& e : all) {
    if (total <= cache_max_) break;
    if (e.path == keep) continue;
    if (unlink(e.path.c_str()) == 0) {
      total -= e.size;
      AVEC_LOG(info, "module_cache_pruned").str("path", e.path).unum("bytes", e.size);
    }
  }
}

}  // namespace avec
