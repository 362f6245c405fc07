#include "ipc_registry.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "sha256.h"

namespace avec {

namespace {
constexpr char kMagic[4] = {'A', 'V', 'I', '1'};
constexpr uint32_t kFileVersion = 1;
constexpr size_t kMaxScope = 1024, kMaxBlob = 4096;

void put32(std::string* s, uint32_t v) { s->append(reinterpret_cast<const char*>(&v), 4); }
void put64(std::string* s, uint64_t v) { s->append(reinterpret_cast<const char*>(&v), 8); }

// Bounds-checked reader over a file's bytes.
struct Reader {
  const std::string& b;
  size_t off = 0;
  bool take(void* out, size_t n) {
    if (n > b.size() - off) return false;
    memcpy(out, b.data() + off, n);
    off += n;
    return true;
  }
};

std::string default_dir() {
  if (const char* d = getenv("AVEC_IPC_DIR"); d && *d) return d;
  struct stat st;
  std::string base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
  return base + "/avec-ipc-" + std::to_string(geteuid());
}
}  // namespace

IpcRegistry::IpcRegistry(std::string dir) : dir_(dir.empty() ? default_dir() : std::move(dir)) {}

bool IpcRegistry::ready(std::string* why) {
  if (checked_) return true;
  if (mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    *why = "cannot create IPC directory " + dir_ + ": " + strerror(errno);
    return false;
  }
  struct stat st;
  if (lstat(dir_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) {
    *why = "IPC directory " + dir_ + " is not a private directory of this user";
    return false;
  }
  checked_ = true;
  return true;
}

std::string IpcRegistry::path_of(const IpcToken& t) const { return dir_ + "/" + hex(t.data(), t.size()); }

bool IpcRegistry::publish(const IpcEntry& e, IpcToken* token, std::string* why) {
  if (!ready(why)) return false;
  if (e.scope.size() > kMaxScope || e.blob.size() > kMaxBlob) {
    *why = "IPC entry too large";
    return false;
  }
  if (getrandom(token->data(), token->size(), 0) != (ssize_t)token->size()) {
    *why = std::string("no randomness for an IPC token: ") + strerror(errno);
    return false;
  }
  std::string b(kMagic, 4);
  put32(&b, kFileVersion);
  put32(&b, (uint32_t)e.kind);
  put64(&b, e.size);
  put32(&b, (uint32_t)e.scope.size());
  b += e.scope;
  put32(&b, (uint32_t)e.blob.size());
  b.append(reinterpret_cast<const char*>(e.blob.data()), e.blob.size());
  std::string path = path_of(*token), tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    *why = "cannot write IPC entry: " + std::string(strerror(errno));
    return false;
  }
  bool ok = write(fd, b.data(), b.size()) == (ssize_t)b.size();
  close(fd);
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    unlink(tmp.c_str());
    *why = "cannot write IPC entry";
    return false;
  }
  return true;
}

bool IpcRegistry::lookup(const IpcToken& token, IpcEntry* out, std::string* why) const {
  int fd = open(path_of(token).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    *why = "no such IPC handle on this server (closed, or exported elsewhere)";
    return false;
  }
  std::string b;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0 && b.size() < 2 * kMaxBlob + kMaxScope) b.append(buf, (size_t)n);
  close(fd);
  Reader r{b};
  char magic[4];
  uint32_t ver = 0, kind = 0, slen = 0, blen = 0;
  bool ok = r.take(magic, 4) && !memcmp(magic, kMagic, 4) && r.take(&ver, 4) && ver == kFileVersion &&
            r.take(&kind, 4) && r.take(&out->size, 8) && r.take(&slen, 4) && slen <= kMaxScope;
  if (ok) {
    out->scope.assign(slen, '\0');
    ok = r.take(&out->scope[0], slen) && r.take(&blen, 4) && blen <= kMaxBlob;
  }
  if (ok) {
    out->blob.assign(blen, 0);
    ok = r.take(out->blob.data(), blen) && r.off == b.size() && kind_valid(kind);
  }
  if (!ok) {
    *why = "IPC entry does not parse";
    return false;
  }
  out->kind = (IpcKind)kind;
  return true;
}

void IpcRegistry::unpublish(const IpcToken& token) { unlink(path_of(token).c_str()); }

void IpcRegistry::encode_handle(IpcKind kind, const IpcToken& token, uint64_t size, uint8_t out[64]) {
  memset(out, 0, 64);
  memcpy(out, kMagic, 4);
  uint32_t k = (uint32_t)kind;
  memcpy(out + 4, &k, 4);
  memcpy(out + 8, token.data(), 32);
  memcpy(out + 40, &size, 8);
}

bool IpcRegistry::decode_handle(const uint8_t in[64], IpcKind* kind, IpcToken* token, uint64_t* size) {
  if (memcmp(in, kMagic, 4)) return false;
  uint32_t k;
  memcpy(&k, in + 4, 4);
  if (!kind_valid(k)) return false;
  for (int i = 48; i < 64; i++)
    if (in[i]) return false;
  *kind = (IpcKind)k;
  memcpy(token->data(), in + 8, 32);
  memcpy(size, in + 40, 8);
  return true;
}

}  // namespace avec
