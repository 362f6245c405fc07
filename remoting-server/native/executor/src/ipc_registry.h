// The node's IPC registry: what one session exports with cuIpcGetMemHandle / cuIpcGetEventHandle, keyed by
// an unguessable token, so that another session's executor (another process) can open it. Each entry
// names the scope it may be opened in (a claim, or the client address when tickets are off); the client
// only ever sees the token. Entries are files in a private directory (0700, owned by this user).
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace avec {

using IpcToken = std::array<uint8_t, 32>;

// mem/event: cuIpcGet*Handle; vmm/pool: a POSIX-fd shareable handle of a physical allocation or a pool, whose
// fd the exporting session serves (fd_share.h); the entry's blob names where.
enum class IpcKind : uint32_t { mem = 1, event = 2, vmm = 3, pool = 4 };

struct IpcEntry {
  IpcKind kind = IpcKind::mem;
  std::string scope;          // who may open it
  uint64_t size = 0;          // bytes of the exported allocation
  std::vector<uint8_t> blob;  // what the exporting backend needs to open it elsewhere
};

class IpcRegistry {
 public:
  // `dir` empty: the default, $AVEC_IPC_DIR or /dev/shm/avec-ipc-<uid> (/tmp when /dev/shm is absent).
  explicit IpcRegistry(std::string dir = "");
  // False (with `why`) when the directory is unusable: missing and not creatable, not ours, or open to others.
  bool publish(const IpcEntry& e, IpcToken* token, std::string* why);
  // False (with `why`) when there is no such entry or it does not parse.
  bool lookup(const IpcToken& token, IpcEntry* out, std::string* why) const;
  void unpublish(const IpcToken& token);
  const std::string& dir() const { return dir_; }

  // The 64-byte handle the client holds: magic "AVI1", kind, token, size. Pure; unit-tested.
  static bool kind_valid(uint32_t k) { return k >= (uint32_t)IpcKind::mem && k <= (uint32_t)IpcKind::pool; }
  static void encode_handle(IpcKind kind, const IpcToken& token, uint64_t size, uint8_t out[64]);
  static bool decode_handle(const uint8_t in[64], IpcKind* kind, IpcToken* token, uint64_t* size);

 private:
  bool ready(std::string* why);
  std::string path_of(const IpcToken& t) const;
  std::string dir_;
  bool checked_ = false;
};

}  // namespace avec
