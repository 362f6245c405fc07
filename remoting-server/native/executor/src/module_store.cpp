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

Image ModuleStore::find(const Hash& h) {
  auto it = mem_.find(h);
  if (it != mem_.end()) return it->second;
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
  mem_[h] = img;
  return img;
}

ModuleStore::Part ModuleStore::add_part(const Hash& h, uint64_t size, const uint8_t* data, size_t len) {
  if (size == 0 || size > kMaxImage) return Part::bad;
  auto it = uploads_.find(h);
  if (it == uploads_.end()) {
    if (mem_.count(h) && len == size) return Part::complete;  // already known: nothing to do
    // Memory follows the bytes that actually arrive (never the announced size), and only a few uploads
    // may be in progress at once, so a client cannot make the server reserve memory it never sends.
    if (uploads_.size() >= kMaxUploads) uploads_.erase(uploads_.begin());
    it = uploads_.emplace(h, Upload{size, {}}).first;
  }
  Upload& u = it->second;
  if (u.size != size || len > size - u.data.size()) {
    uploads_.erase(it);
    return Part::bad;
  }
  u.data.insert(u.data.end(), data, data + len);
  if (u.data.size() < size) return Part::incomplete;
  Hash got;
  sha256(u.data.data(), u.data.size(), got.data());
  if (got != h) {
    uploads_.erase(it);
    return Part::mismatch;
  }
  auto img = std::make_shared<std::vector<uint8_t>>(std::move(u.data));
  uploads_.erase(it);
  mem_[h] = img;
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
