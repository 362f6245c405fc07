#include "image_symbols.h"

#include <cstring>
#include <vector>

namespace avec {
namespace {

struct Region {
  const uint8_t* p;
  size_t n;
};

template <class T>
bool rd(const uint8_t* p, size_t n, size_t off, T* out) {
  if (off > n || sizeof(T) > n - off) return false;
  memcpy(out, p + off, sizeof(T));
  return true;
}

// Splits an image into readable regions; `opaque` is set when some part can't be read.
void regions(const uint8_t* p, size_t n, std::vector<Region>* out, bool* opaque) {
  uint32_t magic = 0;
  rd(p, n, 0, &magic);
  if (magic == 0xBA55ED50u) {  // fat binary: 16-byte header, then entries back to back
    uint16_t hsize = 0;
    uint64_t fat = 0;
    rd(p, n, 6, &hsize);
    rd(p, n, 8, &fat);
    size_t end = n;
    if (hsize + fat < end && hsize + fat >= hsize) end = hsize + fat;
    size_t off = hsize ? hsize : 16;
    int guard = 0;
    while (off + 0x40 <= end && guard++ < 4096) {
      uint32_t ehdr = 0;
      uint64_t psize = 0, flags = 0;
      rd(p, end, off + 4, &ehdr);
      rd(p, end, off + 8, &psize);
      rd(p, end, off + 0x28, &flags);
      if (ehdr < 0x40 || ehdr > end - off || psize > end - off - ehdr) { *opaque = true; break; }
      if (flags & (0x2000u | 0x8000u)) *opaque = true;  // LZ4 / Zstd compressed
      else out->push_back({p + off + ehdr, (size_t)psize});
      off += ehdr + psize;
    }
    return;
  }
  if (n >= 4 && memcmp(p, "\x7f" "ELF", 4) == 0) { out->push_back({p, n}); return; }
  // PTX text: look for its directives near the start.
  size_t scan = n < 65536 ? n : 65536;
  for (size_t i = 0; i + 8 <= scan; i++)
    if (memcmp(p + i, ".version", 8) == 0 || (i + 7 <= scan && memcmp(p + i, ".target", 7) == 0)) {
      out->push_back({p, n});
      return;
    }
  *opaque = true;
}

bool is_elf(const Region& r) { return r.n >= 64 && memcmp(r.p, "\x7f" "ELF", 4) == 0 && r.p[4] == 2; }

// Looks the name up in an ELF64 symbol table; returns its size through `size`.
bool elf_symbol(const Region& r, const std::string& name, uint64_t* size, bool want_object) {
  uint64_t shoff = 0;
  uint16_t shentsize = 0, shnum = 0;
  if (!rd(r.p, r.n, 0x28, &shoff) || !rd(r.p, r.n, 0x3A, &shentsize) || !rd(r.p, r.n, 0x3C, &shnum)) return false;
  if (shentsize < 0x40) return false;
  for (uint32_t i = 0; i < shnum; i++) {
    uint64_t sh = shoff + (uint64_t)i * shentsize;
    if (sh < shoff) return false;
    uint32_t type = 0, link = 0;
    uint64_t off = 0, sz = 0, entsize = 0;
    if (!rd(r.p, r.n, sh + 4, &type) || !rd(r.p, r.n, sh + 0x18, &off) || !rd(r.p, r.n, sh + 0x20, &sz) ||
        !rd(r.p, r.n, sh + 0x28, &link) || !rd(r.p, r.n, sh + 0x38, &entsize))
      return false;
    if (type != 2 /* SHT_SYMTAB */ || entsize < 24 || off > r.n || sz > r.n - off || link >= shnum) continue;
    uint64_t strsh = shoff + (uint64_t)link * shentsize, stroff = 0, strsz = 0;
    if (!rd(r.p, r.n, strsh + 0x18, &stroff) || !rd(r.p, r.n, strsh + 0x20, &strsz)) continue;
    if (stroff > r.n || strsz > r.n - stroff) continue;
    for (uint64_t s = off; s + 24 <= off + sz; s += entsize) {
      uint32_t nm = 0;
      uint8_t info = 0;
      uint64_t ssize = 0;
      rd(r.p, r.n, s, &nm);
      rd(r.p, r.n, s + 4, &info);
      rd(r.p, r.n, s + 16, &ssize);
      if (nm >= strsz || strsz - nm < name.size() + 1) continue;
      const char* str = (const char*)r.p + stroff + nm;
      if (memcmp(str, name.data(), name.size()) != 0 || str[name.size()] != 0) continue;
      uint8_t type_bits = info & 0xf;  // STT_OBJECT 1, STT_FUNC 2
      if (want_object && type_bits != 1) continue;
      if (!want_object && type_bits != 2) continue;
      *size = ssize;
      return true;
    }
  }
  return false;
}

bool ident(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$'; }

// PTX: the name as a whole token.
bool text_token(const Region& r, const std::string& name) {
  if (name.empty() || name.size() > r.n) return false;
  const char* s = (const char*)r.p;
  for (size_t i = 0; i + name.size() <= r.n; i++) {
    if (s[i] != name[0] || memcmp(s + i, name.data(), name.size()) != 0) continue;
    bool left = i == 0 || !ident(s[i - 1]);
    bool right = i + name.size() == r.n || !ident(s[i + name.size()]);
    if (left && right) return true;
  }
  return false;
}

}  // namespace

Lookup image_find_function(const uint8_t* image, size_t len, const std::string& name) {
  std::vector<Region> rs;
  bool opaque = false;
  regions(image, len, &rs, &opaque);
  for (const Region& r : rs) {
    uint64_t sz;
    if (is_elf(r) ? elf_symbol(r, name, &sz, false) : text_token(r, name)) return Lookup::found;
  }
  return opaque ? Lookup::unknown : Lookup::absent;
}

Lookup image_find_global(const uint8_t* image, size_t len, const std::string& name, uint64_t* size) {
  std::vector<Region> rs;
  bool opaque = false;
  regions(image, len, &rs, &opaque);
  bool seen_text = false;
  for (const Region& r : rs) {
    if (is_elf(r)) {
      if (elf_symbol(r, name, size, true)) return Lookup::found;
    } else if (text_token(r, name)) {
      seen_text = true;  // named in PTX, but its size is not read from text
    }
  }
  return (opaque || seen_text) ? Lookup::unknown : Lookup::absent;
}

}  // namespace avec
