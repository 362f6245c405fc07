#include "image_symbols.h"

#include <cstring>
#include <set>
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

// Calls visit(name, name_max, info, other, size) for each symbol of the ELF64's symbol tables until it
// returns true; `name` lies in the image with `name_max` bytes readable (maybe unterminated). False
// without a readable symbol table.
template <class Visit>
bool each_symbol(const Region& r, Visit visit) {
  uint64_t shoff = 0;
  uint16_t shentsize = 0, shnum = 0;
  if (!rd(r.p, r.n, 0x28, &shoff) || !rd(r.p, r.n, 0x3A, &shentsize) || !rd(r.p, r.n, 0x3C, &shnum)) return false;
  if (shentsize < 0x40) return false;
  bool any = false;
  for (uint32_t i = 0; i < shnum; i++) {
    uint64_t sh = shoff + (uint64_t)i * shentsize;
    if (sh < shoff) return any;
    uint32_t type = 0, link = 0;
    uint64_t off = 0, sz = 0, entsize = 0;
    if (!rd(r.p, r.n, sh + 4, &type) || !rd(r.p, r.n, sh + 0x18, &off) || !rd(r.p, r.n, sh + 0x20, &sz) ||
        !rd(r.p, r.n, sh + 0x28, &link) || !rd(r.p, r.n, sh + 0x38, &entsize))
      return any;
    if (type != 2 /* SHT_SYMTAB */ || entsize < 24 || off > r.n || sz > r.n - off || link >= shnum) continue;
    uint64_t strsh = shoff + (uint64_t)link * shentsize, stroff = 0, strsz = 0;
    if (!rd(r.p, r.n, strsh + 0x18, &stroff) || !rd(r.p, r.n, strsh + 0x20, &strsz)) continue;
    if (stroff > r.n || strsz > r.n - stroff) continue;
    any = true;
    for (uint64_t s = off; s + 24 <= off + sz; s += entsize) {
      uint32_t nm = 0;
      uint8_t info = 0, other = 0;
      uint64_t ssize = 0;
      rd(r.p, r.n, s, &nm);
      rd(r.p, r.n, s + 4, &info);
      rd(r.p, r.n, s + 5, &other);
      rd(r.p, r.n, s + 16, &ssize);
      if (nm >= strsz) continue;
      if (visit((const char*)r.p + stroff + nm, (size_t)(strsz - nm), info, other, ssize)) return true;
    }
  }
  return any;
}

// The section called `name` of an ELF64 image: its bytes inside the image. False if absent or out of bounds.
bool elf_section(const Region& r, const std::string& name, Region* out) {
  uint64_t shoff = 0;
  uint16_t shentsize = 0, shnum = 0, shstrndx = 0;
  if (!rd(r.p, r.n, 0x28, &shoff) || !rd(r.p, r.n, 0x3A, &shentsize) || !rd(r.p, r.n, 0x3C, &shnum) ||
      !rd(r.p, r.n, 0x3E, &shstrndx) || shentsize < 0x40 || shstrndx >= shnum)
    return false;
  uint64_t stroff = 0, strsz = 0;
  uint64_t strsh = shoff + (uint64_t)shstrndx * shentsize;
  if (strsh < shoff || !rd(r.p, r.n, strsh + 0x18, &stroff) || !rd(r.p, r.n, strsh + 0x20, &strsz) || stroff > r.n ||
      strsz > r.n - stroff)
    return false;
  for (uint32_t i = 0; i < shnum; i++) {
    uint64_t sh = shoff + (uint64_t)i * shentsize, off = 0, sz = 0;
    uint32_t nm = 0;
    if (sh < shoff || !rd(r.p, r.n, sh, &nm) || !rd(r.p, r.n, sh + 0x18, &off) || !rd(r.p, r.n, sh + 0x20, &sz)) return false;
    if (nm >= strsz || strsz - nm < name.size() + 1) continue;
    const char* s = (const char*)r.p + stroff + nm;
    if (memcmp(s, name.data(), name.size()) != 0 || s[name.size()] != 0) continue;
    if (off > r.n || sz > r.n - off) return false;
    *out = {r.p + off, (size_t)sz};
    return true;
  }
  return false;
}

// Looks the name up in an ELF64 symbol table; returns its size through `size` and its st_other byte.
bool elf_symbol(const Region& r, const std::string& name, uint64_t* size, bool want_object, uint8_t* other_out = nullptr) {
  bool found = false;
  each_symbol(r, [&](const char* str, size_t max, uint8_t info, uint8_t other, uint64_t ssize) {
    if (max < name.size() + 1 || memcmp(str, name.data(), name.size()) != 0 || str[name.size()] != 0) return false;
    uint8_t type_bits = info & 0xf;  // STT_OBJECT 1, STT_FUNC 2
    if (type_bits != (want_object ? 1 : 2)) return false;
    *size = ssize;
    if (other_out) *other_out = other;
    return found = true;
  });
  return found;
}

// Global STT_FUNC symbols marked as CUDA entries (st_other 0x10). False without a symbol table.
bool elf_entries(const Region& r, std::vector<std::string>* out) {
  return each_symbol(r, [&](const char* str, size_t max, uint8_t info, uint8_t other, uint64_t) {
    size_t l = strnlen(str, max);
    if ((info & 0xf) == 2 && (info >> 4) == 1 && (other & 0x10) && l && l < max) out->emplace_back(str, l);
    return false;
  });
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

// PTX: the names after `.entry`.
void ptx_entries(const Region& r, std::vector<std::string>* out) {
  const char* s = (const char*)r.p;
  for (size_t i = 0; i + 6 <= r.n; i++) {
    if (memcmp(s + i, ".entry", 6) != 0) continue;
    size_t b = i + 6;
    while (b < r.n && (s[b] == ' ' || s[b] == '\t')) b++;
    size_t e = b;
    while (e < r.n && ident(s[e])) e++;
    if (e > b) out->emplace_back(s + b, e - b);
    i = e - 1;
  }
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

Lookup image_find_global(const uint8_t* image, size_t len, const std::string& name, uint64_t* size, bool* managed) {
  std::vector<Region> rs;
  bool opaque = false;
  regions(image, len, &rs, &opaque);
  bool seen_text = false;
  if (managed) *managed = false;
  for (const Region& r : rs) {
    uint8_t other = 0;
    if (is_elf(r)) {
      if (elf_symbol(r, name, size, true, &other)) {
        if (managed) *managed = (other & 0x4) != 0;
        return Lookup::found;
      }
    } else if (text_token(r, name)) {
      seen_text = true;  // named in PTX, but its size is not read from text
    }
  }
  return (opaque || seen_text) ? Lookup::unknown : Lookup::absent;
}

bool image_kernel_names(const uint8_t* image, size_t len, std::vector<std::string>* names) {
  std::vector<Region> rs;
  bool opaque = false;
  regions(image, len, &rs, &opaque);
  for (const Region& r : rs) {
    names->clear();
    if (is_elf(r)) {
      if (!elf_entries(r, names)) continue;
    } else {
      ptx_entries(r, names);
    }
    std::vector<std::string> once;  // first occurrence of each, in image order
    std::set<std::string> seen;
    for (std::string& n : *names)
      if (seen.insert(n).second) once.push_back(std::move(n));
    names->swap(once);
    return true;
  }
  names->clear();
  return false;
}

bool image_kernel_params(const uint8_t* image, size_t len, const std::string& name,
                         std::vector<std::pair<uint32_t, uint32_t>>* params) {
  std::vector<Region> rs;
  bool opaque = false;
  regions(image, len, &rs, &opaque);
  for (const Region& r : rs) {
    Region info;
    if (!is_elf(r) || !elf_section(r, ".nv.info." + name, &info)) continue;
    // Records: format byte, attribute byte, then a 16-bit value (formats 1-3) or a 16-bit payload size
    // and the payload (format 4, EIFMT_SVAL). KPARAM_INFO's payload: index (4), ordinal (2), offset (2),
    // then a word whose bits 18 and up are the size in bytes.
    std::vector<std::pair<uint32_t, uint32_t>> by_ordinal;
    for (size_t off = 0; off + 4 <= info.n;) {
      uint8_t fmt = info.p[off], attr = info.p[off + 1];
      uint16_t val = 0;
      rd(info.p, info.n, off + 2, &val);
      if (fmt != 4) { off += 4; continue; }
      if (val > info.n - off - 4) return false;
      if (attr == 0x17) {
        uint16_t ordinal = 0, offset = 0;
        uint32_t flags = 0;
        if (val < 12 || !rd(info.p, info.n, off + 8, &ordinal) || !rd(info.p, info.n, off + 10, &offset) ||
            !rd(info.p, info.n, off + 12, &flags) || ordinal >= 4096)
          return false;
        if (by_ordinal.size() <= ordinal) by_ordinal.resize(ordinal + 1u, {0, 0});
        by_ordinal[ordinal] = {offset, (flags >> 18) & 0x3fff};
      }
      off += 4 + (size_t)val;
    }
    for (auto& p : by_ordinal)
      if (p.second == 0) return false;  // a hole: not a layout we can trust
    params->swap(by_ordinal);
    return true;
  }
  return false;
}

}  // namespace avec
