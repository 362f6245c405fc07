#include "alloc_table.h"

namespace avec {

bool AllocTable::insert(const Alloc& a) {
  if (a.size == 0) return false;
  uint64_t end;
  if (__builtin_add_overflow(a.base, a.size, &end)) return false;
  auto next = m_.lower_bound(a.base);
  if (next != m_.end() && next->first < end) return false;
  if (next != m_.begin()) {
    auto prev = std::prev(next);
    if (prev->second.base + prev->second.size > a.base) return false;
  }
  m_.emplace(a.base, a);
  used_ += a.accounted;
  return true;
}

bool AllocTable::remove(uint64_t base, Alloc* out) {
  auto it = m_.find(base);
  if (it == m_.end()) return false;
  if (out) *out = it->second;
  used_ -= it->second.accounted;
  m_.erase(it);
  return true;
}

const Alloc* AllocTable::find_exact(uint64_t base) const {
  auto it = m_.find(base);
  return it == m_.end() ? nullptr : &it->second;
}

bool AllocTable::contains(uint64_t ptr, uint64_t len) const {
  auto it = m_.upper_bound(ptr);
  if (it == m_.begin()) return false;
  --it;
  const Alloc& a = it->second;
  uint64_t off = ptr - a.base;  // ptr >= base here
  if (off > a.size) return false;
  if (len <= a.size - off) return true;
  // Mapped pieces of one reserved range that touch end to end are one span of device memory (what a
  // growing VMM segment looks like): a range may run across them.
  uint64_t covered = a.size - off;
  for (auto prev = it++; a.kind == AllocKind::vmm && it != m_.end(); prev = it++) {
    if (it->second.kind != AllocKind::vmm || it->first != prev->second.base + prev->second.size) return false;
    if (len - covered <= it->second.size) return true;
    covered += it->second.size;
  }
  return false;
}

bool extent_2d(uint64_t pitch, uint64_t width, uint64_t height, uint64_t* out) {
  if (height == 0 || width == 0) { *out = 0; return true; }
  if (width > pitch) return false;
  uint64_t rows;
  if (__builtin_mul_overflow(pitch, height - 1, &rows)) return false;
  return !__builtin_add_overflow(rows, width, out);
}

bool AllocTable::contains_2d(uint64_t ptr, uint64_t pitch, uint64_t width, uint64_t height) const {
  uint64_t ext;
  if (!extent_2d(pitch, width, height, &ext)) return false;
  return contains(ptr, ext);
}

}  // namespace avec
