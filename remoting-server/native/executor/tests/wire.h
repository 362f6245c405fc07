// Frame building and reply parsing for the tests (a raw-frame client; it shares nothing with the shim).
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "avec_wire.h"

namespace avectest {

using Bytes = std::vector<uint8_t>;

inline void put(Bytes* b, const void* p, size_t n) {
  const uint8_t* s = static_cast<const uint8_t*>(p);
  b->insert(b->end(), s, s + n);
}
template <class T>
void put(Bytes* b, const T& v) {
  put(b, &v, sizeof v);
}

inline Bytes frame(uint16_t op, const Bytes& payload, uint32_t id = 1, uint32_t ctx = 1, uint32_t flags = 0) {
  avec_frame_hdr h = {AVEC_WIRE_MAGIC, (uint16_t)AVEC_WIRE_VERSION, op, flags, id, ctx, (uint32_t)payload.size()};
  Bytes b;
  put(&b, h);
  put(&b, payload.data(), payload.size());
  return b;
}
template <class T>
Bytes frame_of(uint16_t op, const T& body, uint32_t id = 1, uint32_t ctx = 1, uint32_t flags = 0) {
  Bytes p;
  put(&p, body);
  return frame(op, p, id, ctx, flags);
}
inline Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

inline Bytes hello(uint32_t flags = 0, const std::string& ticket = "", uint32_t version = AVEC_WIRE_VERSION) {
  avec_hello h = {};
  h.wire_version = version;
  h.flags = flags;
  h.client_pid = 42;
  h.ticket_len = (uint32_t)ticket.size();
  strcpy(h.client_host, "test-client");
  Bytes p;
  put(&p, h);
  put(&p, ticket.data(), ticket.size());
  return frame(AVEC_OP_HELLO, p, 1, 0);
}
inline Bytes mem_alloc(uint64_t size, uint32_t id, uint64_t height = 0, uint32_t elem = 0) {
  avec_mem_alloc m = {size, height, elem, 0};
  return frame_of(AVEC_OP_MEM_ALLOC, m, id);
}
inline Bytes htod(uint64_t dst, const Bytes& data, uint32_t flags = 0, uint32_t stream = 0) {
  avec_memcpy_htod m = {dst, stream, 0};
  Bytes p;
  put(&p, m);
  put(&p, data.data(), data.size());
  return frame(AVEC_OP_MEMCPY_HTOD, p, 0, 1, flags);
}
inline Bytes dtoh(uint64_t src, uint64_t size, uint32_t id) {
  avec_memcpy_dtoh m = {src, size, 0, 0};
  return frame_of(AVEC_OP_MEMCPY_DTOH, m, id);
}
inline Bytes symbol(uint16_t op, uint32_t module, uint32_t handle, const std::string& name, uint32_t id) {
  avec_get_symbol s = {module, handle, AVEC_SYMBOL_FUNCTION, (uint32_t)name.size()};
  Bytes p;
  put(&p, s);
  put(&p, name.data(), name.size());
  return frame(op, p, id);
}
inline Bytes module_image(const uint8_t hash[32], const Bytes& img) {
  avec_module_image m;
  memcpy(m.hash, hash, 32);
  m.size = img.size();
  Bytes p;
  put(&p, m);
  put(&p, img.data(), img.size());
  return frame(AVEC_OP_MODULE_IMAGE, p, 0);
}
inline Bytes module_load(uint32_t handle, const uint8_t hash[32], uint64_t size) {
  avec_module_load m = {};
  m.handle = handle;
  m.kind = AVEC_MODULE_KIND_MODULE;
  memcpy(m.hash, hash, 32);
  m.size = size;
  return frame_of(AVEC_OP_MODULE_LOAD, m, 0);
}
inline Bytes launch(uint32_t func, uint32_t param_bytes = 0) {
  avec_launch l = {};
  l.func = func;
  for (int i = 0; i < 3; i++) l.grid[i] = l.block[i] = 1;
  l.param_bytes = param_bytes;
  Bytes p;
  put(&p, l);
  p.resize(p.size() + param_bytes);
  return frame(AVEC_OP_LAUNCH, p, 0);
}

struct Reply {
  avec_frame_hdr hdr{};
  Bytes payload;
  uint32_t status() const {
    uint32_t s = 0xffffffffu;
    if (payload.size() >= 4) memcpy(&s, payload.data(), 4);
    return s;
  }
  // The payload as T; bytes the reply did not carry read as 0xFF, so a missing reply never looks like
  // a zero status or a zero value.
  template <class T>
  T as() const {
    T t;
    memset(&t, 0xFF, sizeof t);
    memcpy(&t, payload.data(), payload.size() < sizeof t ? payload.size() : sizeof t);
    return t;
  }
};

// Splits a byte string of reply frames.
inline std::vector<Reply> split_replies(const Bytes& out) {
  std::vector<Reply> r;
  size_t off = 0;
  while (off + sizeof(avec_frame_hdr) <= out.size()) {
    Reply x;
    memcpy(&x.hdr, out.data() + off, sizeof x.hdr);
    off += sizeof x.hdr;
    if (off + x.hdr.payload_len > out.size()) break;
    x.payload.assign(out.begin() + off, out.begin() + off + x.hdr.payload_len);
    off += x.hdr.payload_len;
    r.push_back(std::move(x));
  }
  return r;
}

// A tiny PTX text naming one kernel and one global: enough for the emulated module registry.
inline Bytes tiny_ptx() {
  std::string s =
      ".version 8.0\n.target sm_90\n.address_size 64\n.global .align 4 .b8 counter[16];\n"
      ".visible .entry add_one(\n.param .u64 p0\n)\n{\nret;\n}\n";
  return Bytes(s.begin(), s.end());
}

}  // namespace avectest
