// The session's allocation table: every device address range a frame names is checked against it before
// a backend sees it, and the session memory limit is accounted here.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

namespace avec {

// device/pitched: cuMemAlloc(Pitch); async: from a pool (the pool's reservation is what counts); global: a
// module variable; vmm: a mapped piece of a reserved range (its physical allocation is charged); ipc:
// another session's memory opened here (charged to its owner); graph: the address of a graph's
// memory-allocation node (charged as the device's graph memory backs it; owner = the graph's id); pool_import:
// a pointer imported from another session's shareable pool (charged to its owner; freed like an async one).
enum class AllocKind { device, pitched, async, global, vmm, ipc, graph, pool_import };

struct Alloc {
  uint64_t base = 0;
  uint64_t size = 0;       // addressable bytes (pitched: pitch * height)
  uint64_t accounted = 0;  // bytes counted against the limit (0 for module globals)
  AllocKind kind = AllocKind::device;
  uint32_t ctx = 0;        // client context handle it was made in
  uint32_t owner = 0;      // module handle for globals
};

class AllocTable {
 public:
  explicit AllocTable(uint64_t limit) : limit_(limit) {}

  uint64_t limit() const { return limit_; }
  // Everything that counts against the limit: allocations, charged physical memory, pool reservations.
  uint64_t used() const { return used_ + charged_ + pool_reserved_; }
  // True when `bytes` more fit under the limit.
  bool fits(uint64_t bytes) const { return bytes <= limit_ && used() <= limit_ - bytes; }
  // Memory with no address of its own (VMM physical allocations): charge when made, uncharge when gone.
  void charge(uint64_t bytes) { charged_ += bytes; }
  void uncharge(uint64_t bytes) { charged_ -= bytes < charged_ ? bytes : charged_; }
  // What the session's memory pools and graphs hold from the device (used or cached), as the backend reports it.
  void set_pool_reserved(uint64_t bytes) { pool_reserved_ = bytes; }
  // Adds an allocation; false (and nothing changes) if it overlaps an existing one or is empty.
  bool insert(const Alloc& a);
  // Removes the allocation that starts exactly at base.
  bool remove(uint64_t base, Alloc* out = nullptr);
  const Alloc* find_exact(uint64_t base) const;
  // True when [ptr, ptr+len) lies inside a single allocation (len 0: ptr inside or at its end), or across
  // VMM mappings that touch end to end.
  bool contains(uint64_t ptr, uint64_t len) const;
  // True when a 2D region (rows of `width` bytes, `pitch` apart) lies inside a single allocation.
  bool contains_2d(uint64_t ptr, uint64_t pitch, uint64_t width, uint64_t height) const;
  // Removes (and returns) every allocation matching the predicate.
  template <class P>
  std::vector<Alloc> remove_if(P pred) {
    std::vector<Alloc> out;
    for (auto it = m_.begin(); it != m_.end();) {
      if (pred(it->second)) {
        used_ -= it->second.accounted;
        out.push_back(it->second);
        it = m_.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }
  size_t count() const { return m_.size(); }

 private:
  std::map<uint64_t, Alloc> m_;
  uint64_t limit_;
  uint64_t used_ = 0;
  uint64_t charged_ = 0;
  uint64_t pool_reserved_ = 0;
};

// Byte extent of a 2D region: pitch*(height-1)+width; false on overflow or width > pitch.
bool extent_2d(uint64_t pitch, uint64_t width, uint64_t height, uint64_t* out);

}  // namespace avec
