// Unit tests: frame decoder, allocation table, limits, deferred/sticky errors, SHA-256 (incl. agreement
// with the shim's implementation), tickets (shared vectors), image symbol lookup, module store, and
// in-process sessions on the emulated device. Usage: unit-tests TESTS_DIR [filter]
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "../backends/emulated/image_symbols.h"
#include "alloc_table.h"
#include "check.h"
#include "conn.h"
#include "device_output.h"
#include "errors.h"
#include "fd_share.h"
#include "frame.h"
#include "ipc_registry.h"
#include "json.h"
#include "log.h"
#include "mem_conn.h"
#include "module_store.h"
#include "session.h"
#include "sha256.h"
#include "ticket.h"
#include "wire.h"

extern "C" {
#include "avec_digest.h"  // the shim's SHA-256, for the agreement check
}

using namespace avec;
using namespace avectest;

static std::string g_dir = ".";
static void sleep_ms(int ms) { usleep(ms * 1000); }
static std::string read_file(const std::string& p);

// ---- frame decoder -------------------------------------------------------------------------------------

static Decode dec(const Bytes& b, FrameView* v, bool partial = false, size_t* want = nullptr) {
  return frame_decode(b.data(), b.size(), v, partial, want);
}

TEST(decoder_accepts_good_frames) {
  FrameView v;
  Bytes h = hello(0, "avec1.abc.def");
  CHECK(dec(h, &v) == Decode::ok);
  CHECK_EQ(v.hdr.opcode, AVEC_OP_HELLO);
  CHECK_EQ(v.tail_len, 13u);
  CHECK(memcmp(v.tail, "avec1.abc.def", 13) == 0);
  CHECK_EQ(v.frame_len, h.size());
  CHECK(dec(frame(AVEC_OP_PING, {}), &v) == Decode::ok);
  CHECK(dec(symbol(AVEC_OP_GET_FUNCTION, 3, 4, "kernel_a", 9), &v) == Decode::ok);
  CHECK_EQ(v.tail_len, 8u);
  CHECK(dec(launch(5, 16), &v) == Decode::ok);
  // a launch with two attributes and 8 parameter bytes
  avec_launch l = {};
  l.num_attrs = 2;
  l.param_bytes = 8;
  Bytes p;
  put(&p, l);
  p.resize(p.size() + 2 * sizeof(avec_launch_attr) + 8);
  CHECK(dec(frame(AVEC_OP_LAUNCH, p), &v) == Decode::ok);
  // two frames back to back: the first decodes alone
  Bytes two = cat({mem_alloc(64, 2), dtoh(0x1000, 64, 3)});
  CHECK(dec(two, &v) == Decode::ok);
  CHECK_EQ(v.frame_len, sizeof(avec_frame_hdr) + sizeof(avec_mem_alloc));
}

TEST(decoder_needs_more) {
  FrameView v;
  size_t want = 0;
  Bytes f = mem_alloc(64, 2);
  CHECK(frame_decode(f.data(), 10, &v, false, &want) == Decode::need_more);
  CHECK_EQ(want, sizeof(avec_frame_hdr));
  CHECK(frame_decode(f.data(), f.size() - 1, &v, false, &want) == Decode::need_more);
  CHECK_EQ(want, f.size());
  // partial mode: an HTOD frame is usable once header + fixed struct are in
  Bytes big = htod(0x1000, Bytes(100000, 7));
  size_t head = sizeof(avec_frame_hdr) + sizeof(avec_memcpy_htod);
  CHECK(frame_decode(big.data(), head - 1, &v, true, &want) == Decode::need_more);
  CHECK(frame_decode(big.data(), head + 10, &v, true, &want) == Decode::ok);
  CHECK(v.tail_pending);
  CHECK_EQ(v.tail_len, 100000u);
  CHECK(frame_decode(big.data(), head + 10, &v, false, &want) == Decode::need_more);
}

static Bytes with_hdr(Bytes f, size_t off, uint32_t value, size_t width = 4) {
  memcpy(f.data() + off, &value, width);
  return f;
}

TEST(decoder_rejects_bad_frames) {
  FrameView v;
  Bytes ok = mem_alloc(64, 2);
  CHECK(dec(with_hdr(ok, 0, 0xdeadbeef), &v) == Decode::bad);                  // magic
  CHECK(dec(with_hdr(ok, 4, 2, 2), &v) == Decode::bad);                         // version
  CHECK(dec(with_hdr(ok, 6, 999, 2), &v) == Decode::bad);                       // opcode
  CHECK(dec(with_hdr(ok, 8, AVEC_F_REPLY), &v) == Decode::bad);                 // reply flag from a client
  CHECK(dec(with_hdr(ok, 20, AVEC_MAX_PAYLOAD + 1), &v) == Decode::bad);        // oversized: known from the header
  Bytes hdr_only(ok.begin(), ok.begin() + 24);
  CHECK(dec(with_hdr(hdr_only, 20, 0xffffffffu), &v) == Decode::bad);
  CHECK(dec(frame(AVEC_OP_MEM_ALLOC, Bytes(10)), &v) == Decode::bad);           // short payload
  CHECK(dec(frame(AVEC_OP_MEM_ALLOC, Bytes(sizeof(avec_mem_alloc) + 1)), &v) == Decode::bad);  // long
  CHECK(dec(frame(AVEC_OP_PING, Bytes(1)), &v) == Decode::bad);
  // HELLO whose ticket_len disagrees with the frame
  Bytes h = hello(0, "abc");
  CHECK(dec(with_hdr(h, 24 + 12, 4), &v) == Decode::bad);
  CHECK(dec(with_hdr(h, 24 + 12, AVEC_MAX_TICKET + 1), &v) == Decode::bad);
  // symbol name length mismatch, zero, NUL inside
  Bytes s = symbol(AVEC_OP_GET_FUNCTION, 1, 2, "abc", 3);
  CHECK(dec(with_hdr(s, 24 + 12, 4), &v) == Decode::bad);
  CHECK(dec(with_hdr(s, 24 + 12, 0), &v) == Decode::bad);
  CHECK(dec(symbol(AVEC_OP_GET_GLOBAL, 1, 0, std::string("a\0b", 3), 3), &v) == Decode::bad);
  // launch counts inconsistent with the length
  Bytes l = launch(1, 8);
  CHECK(dec(with_hdr(l, 24 + 36, 1), &v) == Decode::bad);        // num_attrs = 1, no attribute bytes
  CHECK(dec(with_hdr(l, 24 + 40, 9), &v) == Decode::bad);        // param_bytes 9 vs 8
  CHECK(dec(with_hdr(l, 24 + 36, AVEC_MAX_LAUNCH_ATTRS + 1), &v) == Decode::bad);
  // 2D HTOD data must be width*height bytes; overflow refused
  avec_memcpy2d m = {};
  m.width = 4;
  m.height = 3;
  Bytes p2;
  put(&p2, m);
  p2.resize(p2.size() + 12);
  CHECK(dec(frame(AVEC_OP_MEMCPY2D_HTOD, p2), &v) == Decode::ok);
  p2.push_back(0);
  CHECK(dec(frame(AVEC_OP_MEMCPY2D_HTOD, p2), &v) == Decode::bad);
  m.width = 1ull << 40;
  m.height = 1ull << 40;
  Bytes p3;
  put(&p3, m);
  CHECK(dec(frame(AVEC_OP_MEMCPY2D_HTOD, p3), &v) == Decode::bad);
  // module image: size 0, data longer than size, no data
  uint8_t hash[32] = {};
  Bytes mi = module_image(hash, Bytes(10, 1));
  CHECK(dec(mi, &v) == Decode::ok);
  CHECK(dec(with_hdr(mi, 24 + 32, 0), &v) == Decode::bad);
  CHECK(dec(with_hdr(mi, 24 + 32, 9), &v) == Decode::bad);
  CHECK(dec(module_image(hash, Bytes()), &v) == Decode::bad);
  CHECK(v.error != nullptr);
}

TEST(decoder_bounds_link_and_stream_attr_frames) {
  FrameView v;
  auto add = [](uint64_t size, uint64_t off, uint32_t nopts, uint32_t name_len, uint32_t part) {
    avec_link_add a = {9, 1, size, off, nopts, name_len, part, 0};
    Bytes p;
    put(&p, a);
    Bytes tail((size_t)nopts * sizeof(avec_jit_option) + name_len + part, 'x');
    put(&p, tail.data(), tail.size());
    return frame(AVEC_OP_LINK_ADD_DATA, p);
  };
  CHECK(dec(add(16, 0, 1, 3, 16), &v) == Decode::ok);
  CHECK(dec(add(16, 8, 0, 0, 8), &v) == Decode::ok);
  CHECK(dec(add(16, 8, 1, 0, 8), &v) == Decode::bad);            // options after the first part
  CHECK(dec(add(16, 12, 0, 0, 8), &v) == Decode::bad);           // past the input
  CHECK(dec(add(0, 0, 0, 0, 1), &v) == Decode::bad);             // an empty input
  CHECK(dec(add(AVEC_LINK_MAX_INPUT + 1ull, 0, 0, 0, 1), &v) == Decode::bad);
  CHECK(dec(add(16, 0, AVEC_LINK_MAX_OPTIONS + 1, 0, 16), &v) == Decode::bad);
  CHECK(dec(add(16, 0, 0, AVEC_MAX_NAME + 1, 16), &v) == Decode::bad);
  CHECK(dec(add(UINT64_MAX, UINT64_MAX - 1, 0, 0, 4), &v) == Decode::bad);  // offset + part overflows
  auto create = [](uint32_t handle, uint32_t nopts, uint32_t log, size_t tail) {
    avec_link_create c = {handle, nopts, log, 0};
    Bytes p;
    put(&p, c);
    Bytes t(tail, 0);
    put(&p, t.data(), t.size());
    return frame(AVEC_OP_LINK_CREATE, p);
  };
  CHECK(dec(create(9, 2, 4096, 32), &v) == Decode::ok);
  CHECK(dec(create(0, 0, 0, 0), &v) == Decode::bad);             // handle 0
  CHECK(dec(create(9, 2, 4096, 16), &v) == Decode::bad);         // length does not match
  CHECK(dec(create(9, 0, AVEC_LINK_MAX_LOG + 1, 0), &v) == Decode::bad);
  avec_link_read r = {9, 0, 0, AVEC_CHUNK + 1ull};
  Bytes rp;
  put(&rp, r);
  CHECK(dec(frame(AVEC_OP_LINK_READ, rp), &v) == Decode::bad);
  avec_stream_attr sa = {};
  Bytes sp;
  put(&sp, sa);
  CHECK(dec(frame(AVEC_OP_STREAM_SET_ATTR, sp), &v) == Decode::ok);
  sp.push_back(0);
  CHECK(dec(frame(AVEC_OP_STREAM_SET_ATTR, sp), &v) == Decode::bad);
  CHECK(dec(frame(AVEC_OP_CTX_RESET_PERSISTING_L2, Bytes()), &v) == Decode::ok);
}

TEST(protocol_doc_lists_every_opcode) {
  // docs/protocol.md must describe exactly the opcodes the decoder knows, with the header's numbers.
  std::string doc = read_file(g_dir + "/../../../../docs/protocol.md");
  CHECK(!doc.empty());
  int known = 0;
  for (uint32_t op = 0; op < 256; op++) {
    if (frame_fixed_size(op) < 0) continue;
    known++;
    std::string row = "| " + std::to_string(op) + " | " + opcode_name(op) + " | " + (AVEC_OP_IS_SYNC(op) ? "S" : "F") + " |";
    if (doc.find(row) == std::string::npos) {
      fprintf(stderr, "  docs/protocol.md lacks the row \"%s\"\n", row.c_str());
      CHECK(false);
    }
  }
  CHECK(known >= 40);
}

// ---- allocation table ----------------------------------------------------------------------------------

TEST(alloc_table_ranges) {
  AllocTable t(1 << 20);
  Alloc a;
  a.base = 0x1000;
  a.size = 0x100;
  a.accounted = 0x100;
  CHECK(t.insert(a));
  CHECK(t.contains(0x1000, 0x100));
  CHECK(t.contains(0x10ff, 1));
  CHECK(t.contains(0x1100, 0));        // the end, zero bytes
  CHECK(!t.contains(0x1000, 0x101));   // one byte past
  CHECK(!t.contains(0x0fff, 1));       // before
  CHECK(!t.contains(0x10ff, ~0ull));   // ptr + len overflows
  CHECK(!t.contains(0x1100, 1));
  Alloc b = a;
  b.base = 0x1080;  // overlaps a
  CHECK(!t.insert(b));
  b.base = 0x1100;  // adjacent: fine, but a range spanning both is still refused
  CHECK(t.insert(b));
  CHECK(!t.contains(0x10f0, 0x20));
  CHECK_EQ(t.used(), 0x200u);
  Alloc c = a;
  c.base = 0x0f80;  // would overlap a from below
  CHECK(!t.insert(c));
  Alloc z = a;
  z.base = 0x9000;
  z.size = 0;
  CHECK(!t.insert(z));
  CHECK(t.remove(0x1000));
  CHECK(!t.remove(0x1000));
  CHECK(!t.contains(0x1000, 1));
  CHECK_EQ(t.used(), 0x100u);
}

TEST(alloc_table_2d_and_limit) {
  AllocTable t(1000);
  CHECK(t.fits(1000));
  CHECK(!t.fits(1001));
  CHECK(!t.fits(~0ull));
  Alloc a;
  a.base = 0x10000;
  a.size = 512 * 4;  // pitch 512, 4 rows
  a.accounted = 600;
  CHECK(t.insert(a));
  CHECK(t.fits(400));
  CHECK(!t.fits(401));
  CHECK(t.contains_2d(0x10000, 512, 100, 4));
  CHECK(t.contains_2d(0x10000 + 412, 512, 100, 4));   // last row ends exactly at the end
  CHECK(!t.contains_2d(0x10000 + 413, 512, 100, 4));
  CHECK(!t.contains_2d(0x10000, 512, 513, 2));        // width > pitch
  CHECK(!t.contains_2d(0x10000, 1ull << 62, 1, 8));   // pitch * height overflows
  uint64_t e = 0;
  CHECK(extent_2d(512, 100, 4, &e));
  CHECK_EQ(e, 512u * 3 + 100);
  auto gone = t.remove_if([](const Alloc& x) { return x.base == 0x10000; });
  CHECK_EQ(gone.size(), 1u);
  CHECK_EQ(t.used(), 0u);
}

// ---- errors ----------------------------------------------------------------------------------------------

TEST(deferred_and_sticky_errors) {
  ErrorState e;
  CHECK_EQ(e.take_pending(), 0u);
  e.record_async(CUDA_ERROR_INVALID_VALUE);
  e.record_async(CUDA_ERROR_INVALID_HANDLE);  // only the first is kept
  CHECK_EQ(e.take_pending(), (uint32_t)CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(e.take_pending(), 0u);  // cleared
  e.record_async(CUDA_ERROR_ILLEGAL_ADDRESS);
  CHECK_EQ(e.take_pending(), (uint32_t)CUDA_ERROR_ILLEGAL_ADDRESS);
  CHECK_EQ(e.take_pending(), (uint32_t)CUDA_ERROR_ILLEGAL_ADDRESS);  // sticky: every later call
  ErrorState f;
  f.record_sync(CUDA_ERROR_LAUNCH_FAILED);
  CHECK_EQ(f.sticky(), (uint32_t)CUDA_ERROR_LAUNCH_FAILED);
  for (uint32_t s : {214u, 700u, 702u, 710u, 714u, 715u, 716u, 717u, 718u, 719u, 999u}) CHECK(cuda_error_is_sticky(s));
  for (uint32_t s : {0u, 1u, 2u, 200u, 400u, 500u, 600u, 701u, 720u}) CHECK(!cuda_error_is_sticky(s));
}

// ---- SHA-256, HMAC, tickets ----------------------------------------------------------------------------

static std::string sha_hex(const std::string& s) {
  uint8_t h[32];
  sha256(s.data(), s.size(), h);
  return hex(h, 32);
}

TEST(sha256_vectors) {
  CHECK(sha_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  std::string m(1000000, 'a');
  CHECK(sha_hex(m) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // incremental updates of odd sizes agree with one-shot
  Sha256 s;
  for (size_t off = 0; off < m.size();) {
    size_t n = std::min<size_t>(m.size() - off, 1 + off % 97);
    s.update(m.data() + off, n);
    off += n;
  }
  uint8_t h[32];
  s.finish(h);
  CHECK(hex(h, 32) == sha_hex(m));
}

TEST(sha256_agrees_with_shim) {
  uint32_t x = 12345;
  for (size_t len : {0u, 1u, 55u, 56u, 63u, 64u, 65u, 1000u, 70000u}) {
    Bytes b(len);
    for (auto& c : b) { x = x * 1103515245u + 12345u; c = (uint8_t)(x >> 16); }
    uint8_t ours[32], theirs[32];
    sha256(b.data(), b.size(), ours);
    avec_sha256_once(b.data(), b.size(), theirs);
    CHECK(memcmp(ours, theirs, 32) == 0);
  }
}

TEST(hmac_rfc4231) {
  Bytes key(20, 0x0b);
  std::string msg = "Hi There";
  uint8_t out[32];
  hmac_sha256(key.data(), key.size(), (const uint8_t*)msg.data(), msg.size(), out);
  CHECK(hex(out, 32) == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  std::string k2 = "Jefe", m2 = "what do ya want for nothing?";
  hmac_sha256((const uint8_t*)k2.data(), k2.size(), (const uint8_t*)m2.data(), m2.size(), out);
  CHECK(hex(out, 32) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  Bytes k3(131, 0xaa);  // longer than a block: hashed first
  std::string m3 = "Test Using Larger Than Block-Size Key - Hash Key First";
  hmac_sha256(k3.data(), k3.size(), (const uint8_t*)m3.data(), m3.size(), out);
  CHECK(hex(out, 32) == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static std::string read_file(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(ticket_vectors_shared_with_operator) {
  std::string text = read_file(g_dir + "/../../../../docs/ticket-vectors.json");
  Json j;
  CHECK(json_parse(text, &j));
  const Json* ring = j.get("keyring");
  const Json* vecs = j.get("vectors");
  CHECK(ring && vecs && vecs->type == Json::Type::array && vecs->arr.size() >= 10);
  if (!ring || !vecs) return;
  std::map<std::string, std::vector<uint8_t>> keys;
  for (auto& kv : ring->obj) {
    std::vector<uint8_t> k;
    CHECK(base64_decode(kv.second.str, &k));
    keys[kv.first] = k;
  }
  int checked = 0;
  for (const Json& v : vecs->arr) {
    long long now = v.get("now")->i;
    TicketVerifier ver(keys, v.get("node")->str, [now] { return now; });
    std::string why;
    TicketClaims c;
    bool ok = ver.verify(v.get("ticket")->str, &why, &c);
    bool want = v.get("valid")->b;
    if (ok != want || (!want && why != v.get("reason")->str)) {
      fprintf(stderr, "  vector \"%s\": got %s (%s)\n", v.get("name")->str.c_str(), ok ? "valid" : "invalid", why.c_str());
      CHECK(false);
    }
    if (ok && v.get("payload")) {
      CHECK(c.claim == v.get("payload")->get("claim")->str);
      CHECK_EQ((long long)c.mem, v.get("payload")->get("mem")->i);
    }
    checked++;
  }
  CHECK(checked >= 10);
}

TEST(json_reader_strictness) {
  Json j;
  CHECK(json_parse("{\"a\":[1,2.5,-3e2,true,null,\"x\\u00e9\\n\"]}", &j));
  CHECK(j.get("a")->arr.size() == 6);
  CHECK(j.get("a")->arr[0].integral && j.get("a")->arr[0].i == 1);
  CHECK(!j.get("a")->arr[1].integral);
  CHECK(j.get("a")->arr[5].str == "x\xc3\xa9\n");
  CHECK(!json_parse("{\"a\":1} x", &j));
  CHECK(!json_parse("{\"a\":01}", &j));
  CHECK(!json_parse("[1,]", &j));
  CHECK(!json_parse(std::string(100, '['), &j));
  CHECK(!json_parse("\"\\ud800\"", &j));
}

// ---- module images -------------------------------------------------------------------------------------

// A minimal ELF64 with a symbol table naming `fn` (STT_FUNC) and `var` (STT_OBJECT, `size` bytes).
static Bytes tiny_elf(const std::string& fn, const std::string& var, uint64_t size, bool managed_var = false) {
  std::string strtab = std::string("\0", 1) + fn + std::string("\0", 1) + var + std::string("\0", 1);
  Bytes e(64, 0);
  memcpy(e.data(), "\x7f" "ELF", 4);
  e[4] = 2;
  e[5] = 1;
  size_t str_off = e.size();
  put(&e, strtab.data(), strtab.size());
  while (e.size() % 8) e.push_back(0);
  size_t sym_off = e.size();
  auto sym = [&](uint32_t name, uint8_t info, uint64_t sz) {
    uint8_t s[24] = {};
    memcpy(s, &name, 4);
    s[4] = info;
    s[5] = (info & 0xf) == 2 ? 0x10 : managed_var ? 0x4 : 0;  // STO_CUDA_ENTRY: a kernel; 0x4: __managed__
    uint16_t shndx = 1;
    memcpy(s + 6, &shndx, 2);
    memcpy(s + 16, &sz, 8);
    put(&e, s, 24);
  };
  sym(0, 0, 0);
  sym(1, 0x12, 0);                             // GLOBAL FUNC
  sym(1 + (uint32_t)fn.size() + 1, 0x11, size);  // GLOBAL OBJECT
  size_t sym_size = e.size() - sym_off;
  uint64_t shoff = e.size();
  auto shdr = [&](uint32_t type, uint64_t off, uint64_t size_, uint32_t link, uint64_t entsize) {
    uint8_t s[64] = {};
    memcpy(s + 4, &type, 4);
    memcpy(s + 0x18, &off, 8);
    memcpy(s + 0x20, &size_, 8);
    memcpy(s + 0x28, &link, 4);
    memcpy(s + 0x38, &entsize, 8);
    put(&e, s, 64);
  };
  shdr(0, 0, 0, 0, 0);
  shdr(2, sym_off, sym_size, 2, 24);
  shdr(3, str_off, strtab.size(), 0, 0);
  memcpy(e.data() + 0x28, &shoff, 8);
  uint16_t shentsize = 64, shnum = 3;
  memcpy(e.data() + 0x3A, &shentsize, 2);
  memcpy(e.data() + 0x3C, &shnum, 2);
  return e;
}

// Wraps payloads into a fat binary; `compressed_flags` marks entries compressed.
static Bytes fatbin(const std::vector<Bytes>& entries, uint64_t compressed_flags = 0) {
  Bytes body;
  for (auto& p : entries) {
    uint8_t h[0x40] = {};
    uint16_t kind = 2, ver = 0x101;
    uint32_t hs = 0x40;
    uint64_t ps = p.size(), flags = 0x11 | compressed_flags;
    memcpy(h, &kind, 2);
    memcpy(h + 2, &ver, 2);
    memcpy(h + 4, &hs, 4);
    memcpy(h + 8, &ps, 8);
    memcpy(h + 0x28, &flags, 8);
    put(&body, h, sizeof h);
    put(&body, p.data(), p.size());
  }
  Bytes f;
  uint32_t magic = 0xBA55ED50u;
  uint16_t ver = 1, hsize = 16;
  uint64_t size = body.size();
  put(&f, magic);
  put(&f, ver);
  put(&f, hsize);
  put(&f, size);
  put(&f, body.data(), body.size());
  return f;
}

TEST(image_symbol_lookup) {
  Bytes elf = tiny_elf("_Z6kernelPf", "table", 256);
  uint64_t sz = 0;
  CHECK(image_find_function(elf.data(), elf.size(), "_Z6kernelPf") == Lookup::found);
  CHECK(image_find_function(elf.data(), elf.size(), "_Z6kernel") == Lookup::absent);   // prefix only
  CHECK(image_find_function(elf.data(), elf.size(), "table") == Lookup::absent);       // an object, not a function
  bool managed = true;
  CHECK(image_find_global(elf.data(), elf.size(), "table", &sz, &managed) == Lookup::found);
  CHECK_EQ(sz, 256u);
  CHECK(!managed);
  Bytes melf = tiny_elf("_Z6kernelPf", "table", 64, true);  // a __managed__ variable (st_other 0x4, as nvcc 13.0)
  CHECK(image_find_global(melf.data(), melf.size(), "table", &sz, &managed) == Lookup::found);
  CHECK(managed && sz == 64u);
  Bytes fb = fatbin({elf});
  CHECK(image_find_function(fb.data(), fb.size(), "_Z6kernelPf") == Lookup::found);
  CHECK(image_find_function(fb.data(), fb.size(), "missing") == Lookup::absent);
  Bytes zfb = fatbin({elf}, 0x8000);  // Zstd-compressed: cannot tell
  CHECK(image_find_function(zfb.data(), zfb.size(), "missing") == Lookup::unknown);
  Bytes ptx = tiny_ptx();
  CHECK(image_find_function(ptx.data(), ptx.size(), "add_one") == Lookup::found);
  CHECK(image_find_function(ptx.data(), ptx.size(), "add") == Lookup::absent);
  CHECK(image_find_global(ptx.data(), ptx.size(), "counter", &sz) == Lookup::unknown);
  Bytes junk(100, 0x55);
  CHECK(image_find_function(junk.data(), junk.size(), "x") == Lookup::unknown);
  // truncated and corrupted ELF headers never read out of bounds (ASan in the fuzz build checks this too)
  for (size_t cut = 0; cut < elf.size(); cut += 7) image_find_function(elf.data(), cut, "_Z6kernelPf");
  Bytes bad = elf;
  uint64_t huge = ~0ull - 10;
  memcpy(bad.data() + 0x28, &huge, 8);
  CHECK(image_find_function(bad.data(), bad.size(), "_Z6kernelPf") == Lookup::absent);
}

TEST(image_kernel_names_emulated) {
  Bytes elf = tiny_elf("_Z6kernelPf", "table", 256);
  std::vector<std::string> names;
  CHECK(image_kernel_names(elf.data(), elf.size(), &names));
  CHECK(names == std::vector<std::string>{"_Z6kernelPf"});  // the object is not a kernel
  Bytes fb = fatbin({elf, elf});
  CHECK(image_kernel_names(fb.data(), fb.size(), &names));
  CHECK_EQ(names.size(), 1u);  // one target's kernels, not one per entry
  Bytes zfb = fatbin({elf}, 0x8000);
  CHECK(!image_kernel_names(zfb.data(), zfb.size(), &names));  // compressed: cannot tell
  Bytes ptx = tiny_ptx();
  CHECK(image_kernel_names(ptx.data(), ptx.size(), &names));
  CHECK(names == std::vector<std::string>{"add_one"});
  Bytes junk(100, 0x55);
  CHECK(!image_kernel_names(junk.data(), junk.size(), &names));
  for (size_t cut = 0; cut < elf.size(); cut += 5) image_kernel_names(elf.data(), cut, &names);
  for (size_t cut = 0; cut < fb.size(); cut += 11) image_kernel_names(fb.data(), cut, &names);
}

TEST(module_store_memory_bound_lru) {
  ModuleStore s("", 0, 25000);  // no disk cache; 25,000 bytes of images in memory
  auto make = [](uint8_t seed, Hash* h) {
    Bytes img(10000, seed);
    sha256(img.data(), img.size(), h->data());
    return img;
  };
  Hash h[4];
  Bytes a = make(1, &h[0]), b = make(2, &h[1]), c = make(3, &h[2]), d = make(4, &h[3]);
  CHECK(s.add_part(h[0], a.size(), a.data(), a.size()) == ModuleStore::Part::complete);
  CHECK(s.add_part(h[1], b.size(), b.data(), 5000) == ModuleStore::Part::incomplete);
  CHECK_EQ(s.memory_bytes(), 15000u);  // uploads in progress count
  CHECK(s.add_part(h[1], b.size(), b.data() + 5000, 5000) == ModuleStore::Part::complete);
  CHECK_EQ(s.memory_bytes(), 20000u);  // a finished upload is counted once, as an image
  CHECK(s.find(h[0]) != nullptr);       // a is now more recently used than b
  CHECK(s.add_part(h[2], c.size(), c.data(), c.size()) == ModuleStore::Part::complete);
  CHECK_EQ(s.memory_images(), 2u);      // b (least recently used) went
  CHECK(s.find(h[1]) == nullptr);
  CHECK(s.find(h[0]) != nullptr && s.find(h[2]) != nullptr);
  CHECK(s.memory_bytes() <= 25000u);
  ModuleStore tiny("", 0, 100);         // smaller than one image: the newest stays anyway
  CHECK(tiny.add_part(h[3], d.size(), d.data(), d.size()) == ModuleStore::Part::complete);
  CHECK(tiny.find(h[3]) != nullptr);
  CHECK_EQ(tiny.memory_bytes(), 10000u);
}

TEST(module_store_parts_and_disk_cache) {
  char tmpl[] = "/tmp/avec-modcache-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  Bytes img(10000);
  for (size_t i = 0; i < img.size(); i++) img[i] = (uint8_t)(i * 7);
  Hash h;
  sha256(img.data(), img.size(), h.data());
  {
    ModuleStore s(dir);
    CHECK(s.find(h) == nullptr);
    CHECK(s.add_part(h, img.size(), img.data(), 4000) == ModuleStore::Part::incomplete);
    CHECK(s.add_part(h, img.size(), img.data() + 4000, 6000) == ModuleStore::Part::complete);
    CHECK(s.find(h) != nullptr);
    Hash other = h;
    other[0] ^= 1;
    CHECK(s.add_part(other, img.size(), img.data(), img.size()) == ModuleStore::Part::mismatch);
    CHECK(s.find(other) == nullptr);
    CHECK(s.add_part(other, 10, img.data(), 11) == ModuleStore::Part::bad);
  }
  {
    ModuleStore s2(dir);  // a later session: from disk, verified
    Image got = s2.find(h);
    CHECK(got && *got == img);
  }
  std::string path = dir + "/" + hex(h.data(), 32) + ".img";
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << "corrupted";
  }
  ModuleStore s3(dir);
  CHECK(s3.find(h) == nullptr);           // hash check fails: refused and removed
  CHECK(access(path.c_str(), F_OK) != 0);
  rmdir(dir.c_str());
}

TEST(module_cache_pruned_by_last_use) {
  char tmpl[] = "/tmp/avec-modprune-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  auto image = [](uint8_t seed) { return Bytes(3000, seed); };
  auto hash_of = [](const Bytes& b) { Hash h; sha256(b.data(), b.size(), h.data()); return h; };
  Bytes a = image(1), b = image(2), c = image(3);
  {
    ModuleStore s(dir, 7000);  // room for two images
    CHECK(s.add_part(hash_of(a), a.size(), a.data(), a.size()) == ModuleStore::Part::complete);
    sleep_ms(20);
    CHECK(s.add_part(hash_of(b), b.size(), b.data(), b.size()) == ModuleStore::Part::complete);
    sleep_ms(20);
  }
  {
    ModuleStore s(dir, 7000);
    CHECK(s.find(hash_of(a)) != nullptr);  // a is used again: b is now the oldest
    sleep_ms(20);
    CHECK(s.add_part(hash_of(c), c.size(), c.data(), c.size()) == ModuleStore::Part::complete);
  }
  ModuleStore fresh(dir, 7000);
  CHECK(fresh.find(hash_of(a)) != nullptr);
  CHECK(fresh.find(hash_of(b)) == nullptr);
  CHECK(fresh.find(hash_of(c)) != nullptr);
  for (auto* x : {&a, &c}) unlink((dir + "/" + hex(hash_of(*x).data(), 32) + ".img").c_str());
  rmdir(dir.c_str());
}

// ---- in-process sessions on the emulated device --------------------------------------------------------

struct Run {
  std::vector<Reply> replies;
  SessionEnd end;
  uint64_t used_after;
  std::string ops;  // Session::op_summary()
};

static Run run_session(const Bytes& input, uint64_t limit = 1 << 20, size_t chunk = 1 << 20,
                       uint32_t launch_error = 0, IpcRegistry* ipc = nullptr, const std::string& scope = "") {
  BackendOptions bo;
  bo.emulated_memory = 64 << 20;
  bo.emulated_launch_error = launch_error;
  auto be = make_emulated_backend(bo);
  ModuleStore store;
  SessionOptions so;
  so.ipc = ipc;
  so.ipc_scope = scope;
  so.memory_limit = limit;
  so.session_id = 77;
  MemConn c(input.data(), input.size(), chunk);
  Session s(c, *be, store, so);
  Run r;
  r.end = s.run();
  r.replies = split_replies(c.out);
  r.used_after = s.allocations().used();
  r.ops = s.op_summary();
  return r;
}

static uint64_t alloc_addr(const Reply& r) { return r.as<avec_mem_alloc_reply>().dptr; }

TEST(session_hello_alloc_copy_roundtrip) {
  Bytes data(3000);
  for (size_t i = 0; i < data.size(); i++) data[i] = (uint8_t)(i * 13);
  // first pass learns the address the emulated device hands out (deterministic)
  Run first = run_session(cat({hello(), mem_alloc(4096, 2)}));
  CHECK_EQ(first.replies.size(), 2u);
  if (first.replies.size() != 2) return;
  avec_hello_reply hr = first.replies[0].as<avec_hello_reply>();
  CHECK_EQ(hr.r.status, 0u);
  CHECK_EQ(hr.session_id, 77u);
  CHECK_EQ(hr.memory_limit, 1u << 20);
  CHECK_EQ(hr.emulated, 1u);
  CHECK_EQ(hr.device_count, 1u);
  CHECK_EQ(hr.features, (uint32_t)AVEC_FEATURE_MIRROR_WRITE_NOW);  // offered to every full session
  CHECK_EQ(first.replies[0].payload.size(), sizeof(avec_hello_reply) + sizeof(avec_device_info) + sizeof(avec_hello_ext));
  avec_device_info di;
  memcpy(&di, first.replies[0].payload.data() + sizeof hr, sizeof di);
  CHECK(strstr(di.name, "emulated") != nullptr);
  CHECK_EQ(di.total_mem, 1u << 20);  // min(device, limit)
  uint64_t d = alloc_addr(first.replies[1]);
  CHECK(d != 0);
  // split into 7-byte reads to exercise frames crossing read boundaries
  Run r = run_session(cat({hello(), mem_alloc(4096, 2), htod(d + 100, data), dtoh(d + 100, data.size(), 3),
                           frame(AVEC_OP_GOODBYE, {}, 0)}),
                      1 << 20, 7);
  CHECK(r.end == SessionEnd::goodbye);
  CHECK_EQ(r.replies.size(), 3u);
  if (r.replies.size() != 3) return;
  CHECK_EQ(r.replies[2].hdr.request_id, 3u);
  CHECK_EQ(r.replies[2].status(), 0u);
  CHECK(Bytes(r.replies[2].payload.begin() + 8, r.replies[2].payload.end()) == data);
  CHECK_EQ(r.used_after, 0u);  // freed at the end
}

TEST(session_pointer_outside_allocation_refused) {
  Run first = run_session(cat({hello(), mem_alloc(4096, 2)}));
  uint64_t d = alloc_addr(first.replies[1]);
  Run r = run_session(cat({hello(), mem_alloc(4096, 2),
                           htod(d + 4000, Bytes(200, 1)),      // runs past the end: deferred INVALID_VALUE
                           frame(AVEC_OP_PING, {}, 3),         // PING does not consume deferred errors
                           dtoh(d, 16, 4),                     // answers the deferred error, not run
                           dtoh(d, 16, 5),                     // now runs
                           dtoh(d - 1, 16, 6),                 // before the allocation
                           dtoh(0x1234, 1, 7)}));              // nowhere
  CHECK_EQ(r.replies.size(), 7u);
  if (r.replies.size() != 7) return;
  CHECK_EQ(r.replies[2].status(), 0u);
  CHECK_EQ(r.replies[3].status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(r.replies[3].payload.size(), 8u);
  CHECK_EQ(r.replies[4].status(), 0u);
  CHECK_EQ(r.replies[4].payload.size(), 8u + 16u);
  CHECK_EQ(r.replies[5].status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(r.replies[6].status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);
}

TEST(session_memory_limit) {
  avec_mem_info mi;
  Run r = run_session(cat({hello(), mem_alloc(600, 2), mem_alloc(500, 3), mem_alloc(400, 4),
                           frame(AVEC_OP_MEM_GET_INFO, {}, 5), mem_alloc(1, 6, 1, 4)}),
                      1000);
  CHECK_EQ(r.replies.size(), 6u);
  if (r.replies.size() != 6) return;
  CHECK_EQ(r.replies[1].status(), 0u);
  CHECK_EQ(r.replies[2].status(), (uint32_t)CUDA_ERROR_OUT_OF_MEMORY);
  CHECK_EQ(r.replies[3].status(), 0u);
  mi = r.replies[4].as<avec_mem_info>();
  CHECK_EQ(mi.total, 1000u);
  CHECK_EQ(mi.free, 0u);
  CHECK_EQ(r.replies[5].status(), (uint32_t)CUDA_ERROR_OUT_OF_MEMORY);  // pitched: 512 bytes per row
  // freeing gives the room back
  Run first = run_session(cat({hello(), mem_alloc(600, 2)}), 1000);
  uint64_t d = alloc_addr(first.replies[1]);
  avec_mem_free f = {d, 0, 0};
  Run r2 = run_session(cat({hello(), mem_alloc(600, 2), frame_of(AVEC_OP_MEM_FREE, f, 0), mem_alloc(900, 3),
                            frame_of(AVEC_OP_MEM_FREE, f, 0), frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 4)}),
                       1000);
  CHECK_EQ(r2.replies.size(), 4u);
  if (r2.replies.size() != 4) return;
  CHECK_EQ(r2.replies[2].status(), 0u);
  CHECK_EQ(r2.replies[3].status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);  // double free, deferred
}

TEST(session_module_need_image_flow) {
  Bytes img = tiny_ptx();
  uint8_t h[32];
  sha256(img.data(), img.size(), h);
  Bytes wrong = img;
  wrong[0] ^= 1;
  Run r = run_session(cat({hello(), module_load(5, h, img.size()),
                           symbol(AVEC_OP_GET_FUNCTION, 5, 6, "add_one", 2),   // -> NEED_IMAGE + hash
                           module_image(h, wrong),                              // hash mismatch: refused
                           symbol(AVEC_OP_GET_FUNCTION, 5, 6, "add_one", 3),   // -> INVALID_IMAGE (deferred)
                           symbol(AVEC_OP_GET_FUNCTION, 5, 6, "add_one", 4),   // still NEED_IMAGE
                           module_image(h, img),
                           symbol(AVEC_OP_GET_FUNCTION, 5, 6, "add_one", 5),   // ok
                           symbol(AVEC_OP_GET_FUNCTION, 5, 7, "nope", 6),      // not in the PTX
                           launch(6), frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 7)}));
  CHECK_EQ(r.replies.size(), 7u);
  if (r.replies.size() != 7) return;
  CHECK_EQ(r.replies[1].status(), AVEC_STATUS_NEED_IMAGE);
  CHECK_EQ(r.replies[1].payload.size(), 8u + sizeof(avec_module_image));
  CHECK(memcmp(r.replies[1].payload.data() + 8, h, 32) == 0);
  CHECK_EQ(r.replies[2].status(), (uint32_t)CUDA_ERROR_INVALID_IMAGE);
  CHECK_EQ(r.replies[3].status(), AVEC_STATUS_NEED_IMAGE);
  CHECK_EQ(r.replies[4].status(), 0u);
  avec_function_info fi = r.replies[4].as<avec_function_info>();
  CHECK_EQ(fi.num_params, AVEC_PARAMS_UNKNOWN);
  CHECK_EQ(r.replies[5].status(), (uint32_t)CUDA_ERROR_NOT_FOUND);
  CHECK_EQ(r.replies[6].status(), (uint32_t)CUDA_ERROR_NOT_SUPPORTED);  // emulated device: no kernels
}

TEST(session_module_kernel_names) {
  Bytes img = tiny_ptx();
  uint8_t h[32];
  sha256(img.data(), img.size(), h);
  Bytes z = fatbin({tiny_elf("k", "v", 8)}, 0x8000);
  uint8_t zh[32];
  sha256(z.data(), z.size(), zh);
  Run r = run_session(cat({hello(), frame_of(AVEC_OP_MODULE_KERNEL_NAMES, avec_handle{99, 0}, 2),  // no such module
                           module_load(5, h, img.size()),
                           frame_of(AVEC_OP_MODULE_KERNEL_NAMES, avec_handle{5, 0}, 3),  // pending: NEED_IMAGE
                           module_image(h, img),
                           frame_of(AVEC_OP_MODULE_KERNEL_NAMES, avec_handle{5, 0}, 4),  // the names
                           module_image(zh, z), module_load(6, zh, z.size()),
                           frame_of(AVEC_OP_MODULE_KERNEL_NAMES, avec_handle{6, 0}, 5)}));  // compressed
  CHECK_EQ(r.replies.size(), 5u);
  if (r.replies.size() != 5) return;
  CHECK_EQ(r.replies[1].status(), (uint32_t)CUDA_ERROR_INVALID_HANDLE);
  CHECK_EQ(r.replies[1].payload.size(), 8u);
  CHECK_EQ(r.replies[2].status(), AVEC_STATUS_NEED_IMAGE);
  CHECK_EQ(r.replies[2].payload.size(), 8u + sizeof(avec_module_image));
  CHECK(memcmp(r.replies[2].payload.data() + 8, h, 32) == 0);
  CHECK_EQ(r.replies[3].status(), 0u);
  avec_kernel_names kn = r.replies[3].as<avec_kernel_names>();
  CHECK_EQ(kn.count, 1u);
  CHECK_EQ(kn.bytes, 8u);
  CHECK_EQ(r.replies[3].payload.size(), sizeof kn + 8);
  CHECK(memcmp(r.replies[3].payload.data() + sizeof kn, "add_one\0", 8) == 0);
  CHECK_EQ(r.replies[4].status(), (uint32_t)CUDA_ERROR_NOT_SUPPORTED);  // the emulated device cannot read it
  CHECK(AVEC_OP_IS_SYNC(AVEC_OP_MODULE_KERNEL_NAMES));
  CHECK_EQ(frame_fixed_size(AVEC_OP_MODULE_KERNEL_NAMES), (long)sizeof(avec_handle));
  CHECK(strcmp(opcode_name(AVEC_OP_MODULE_KERNEL_NAMES), "MODULE_KERNEL_NAMES") == 0);
}

// STREAM_FENCE: fire-and-forget; the server waits for the stream before the next frame, and a failure (an
// unknown stream here) is the next synchronous reply's error, like any deferred one.
TEST(session_stream_fence) {
  avec_stream_create sc = {20, 0, 0, 0};
  Run r = run_session(cat({hello(), frame_of(AVEC_OP_STREAM_CREATE, sc, 0), frame_of(AVEC_OP_STREAM_FENCE, avec_handle{20, 0}, 0),
                           frame_of(AVEC_OP_STREAM_FENCE, avec_handle{AVEC_STREAM_LEGACY, 0}, 0),
                           frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 2), frame_of(AVEC_OP_STREAM_FENCE, avec_handle{21, 0}, 0),
                           frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 3), frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 4)}));
  CHECK_EQ(r.replies.size(), 4u);
  if (r.replies.size() != 4) return;
  CHECK_EQ(r.replies[1].status(), 0u);
  CHECK_EQ(r.replies[2].status(), (uint32_t)CUDA_ERROR_INVALID_HANDLE);  // the fence of a stream never created
  CHECK_EQ(r.replies[3].status(), 0u);                                   // reported once
  CHECK(!AVEC_OP_IS_SYNC(AVEC_OP_STREAM_FENCE));
  CHECK_EQ(frame_fixed_size(AVEC_OP_STREAM_FENCE), (long)sizeof(avec_handle));
  CHECK(strcmp(opcode_name(AVEC_OP_STREAM_FENCE), "STREAM_FENCE") == 0);
  CHECK(AVEC_OP_FENCE_QUIET(AVEC_OP_MEMCPY_HTOD) && !AVEC_OP_FENCE_QUIET(AVEC_OP_LAUNCH) && !AVEC_OP_FENCE_QUIET(AVEC_OP_MEMSET));
}

// MIRROR_WRITE_NOW: fire-and-forget bytes into one of the session's allocations; a range outside them is the
// next synchronous reply's error with nothing written, and a size that disagrees with the payload, or is out
// of bounds, is a malformed frame that ends the session.
static Bytes mirror_frame(uint16_t op, uint64_t dptr, uint64_t size, const Bytes& data) {
  avec_mirror_write m = {dptr, size};
  Bytes p;
  put(&p, m);
  put(&p, data.data(), data.size());
  return frame(op, p, 0);
}

static Bytes mirror_write(uint64_t dptr, const Bytes& data, uint64_t size) {
  return mirror_frame(AVEC_OP_MIRROR_WRITE_NOW, dptr, size, data);
}

TEST(session_mirror_write_now) {
  Run first = run_session(cat({hello(), mem_alloc(4096, 2)}));
  uint64_t d = first.replies.size() == 2 ? alloc_addr(first.replies[1]) : 0;
  Bytes flag = {1, 0, 0, 0}, other(200, 9);
  Run r = run_session(cat({hello(), mem_alloc(4096, 2), htod(d, Bytes(4096, 0)), mirror_write(d + 64, flag, 4),
                           dtoh(d + 64, 4, 3),
                           mirror_write(d + 4000, other, 200),   // runs past the allocation's end: refused
                           dtoh(d + 4000, 96, 4), dtoh(d + 4000, 96, 5),
                           mirror_write(0x1234, flag, 4), frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 6)}));
  CHECK(r.end == SessionEnd::eof);
  CHECK_EQ(r.replies.size(), 6u);
  if (r.replies.size() != 6) return;
  CHECK_EQ(r.replies[2].status(), 0u);
  CHECK(Bytes(r.replies[2].payload.begin() + 8, r.replies[2].payload.end()) == flag);
  CHECK_EQ(r.replies[3].status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);  // deferred, and the copy not run
  CHECK_EQ(r.replies[4].status(), 0u);
  CHECK(Bytes(r.replies[4].payload.begin() + 8, r.replies[4].payload.end()) == Bytes(96, 0));  // nothing written
  CHECK_EQ(r.replies[5].status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);  // nowhere near an allocation
  CHECK(r.ops.find("MIRROR_WRITE_NOW:3:0:") != std::string::npos);
  for (const Bytes& bad : {mirror_write(d, flag, 5), mirror_write(d, flag, 3), mirror_write(d, Bytes(), 0),
                           mirror_write(d, Bytes(AVEC_MIRROR_WRITE_MAX + 1, 1), AVEC_MIRROR_WRITE_MAX + 1)}) {
    Run b = run_session(cat({hello(), mem_alloc(4096, 2), bad, frame(AVEC_OP_PING, {}, 3)}));
    CHECK(b.end == SessionEnd::bad_frame);
    CHECK_EQ(b.replies.size(), 3u);
    if (b.replies.size() == 3) CHECK_EQ(b.replies[2].status(), AVEC_STATUS_BAD_FRAME);
  }
  Run big = run_session(cat({hello(), mem_alloc(1 << 17, 2)}));  // the largest write is taken
  uint64_t bd = big.replies.size() == 2 ? alloc_addr(big.replies[1]) : 0;
  Run most = run_session(cat({hello(), mem_alloc(1 << 17, 2), mirror_write(bd, Bytes(AVEC_MIRROR_WRITE_MAX, 3), AVEC_MIRROR_WRITE_MAX),
                              dtoh(bd + AVEC_MIRROR_WRITE_MAX - 1, 2, 3)}));
  CHECK_EQ(most.replies.size(), 3u);
  if (most.replies.size() == 3) CHECK(Bytes(most.replies[2].payload.begin() + 8, most.replies[2].payload.end()) == Bytes({3, 0}));
  CHECK(!AVEC_OP_IS_SYNC(AVEC_OP_MIRROR_WRITE_NOW));
  CHECK(AVEC_OP_FENCE_QUIET(AVEC_OP_MIRROR_WRITE_NOW));  // queues no stream work: applied before the next frame
  CHECK_EQ(frame_fixed_size(AVEC_OP_MIRROR_WRITE_NOW), (long)sizeof(avec_mirror_write));
  CHECK(strcmp(opcode_name(AVEC_OP_MIRROR_WRITE_NOW), "MIRROR_WRITE_NOW") == 0);
}

// MIRROR_ZERO_NOW: zeros over a range of the session's memory, the same way; no payload, any size; a range
// outside the allocations (or empty) is refused with nothing written, and a payload is a malformed frame.
static Bytes mirror_zero(uint64_t dptr, uint64_t size, const Bytes& tail = {}) {
  return mirror_frame(AVEC_OP_MIRROR_ZERO_NOW, dptr, size, tail);
}

TEST(session_mirror_zero_now) {
  const uint64_t n = 3 * AVEC_MIRROR_WRITE_MAX;  // larger than a write: zeros carry no payload
  Run first = run_session(cat({hello(), mem_alloc(n, 2)}));
  uint64_t d = first.replies.size() == 2 ? alloc_addr(first.replies[1]) : 0;
  Run r = run_session(cat({hello(), mem_alloc(n, 2), htod(d, Bytes(n, 7)), mirror_zero(d + 1, n - 2),
                           dtoh(d, 2, 3), dtoh(d + n - 2, 2, 4),
                           mirror_zero(d + n - 8, 16), dtoh(d + n - 8, 7, 5),  // past the end: refused
                           mirror_zero(d, 0), frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 6)}));
  CHECK_EQ(r.replies.size(), 6u);
  if (r.replies.size() != 6) return;
  CHECK(Bytes(r.replies[2].payload.begin() + 8, r.replies[2].payload.end()) == Bytes({7, 0}));
  CHECK(Bytes(r.replies[3].payload.begin() + 8, r.replies[3].payload.end()) == Bytes({0, 7}));
  CHECK_EQ(r.replies[4].status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(r.replies[5].status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);  // an empty range
  CHECK(r.ops.find("MIRROR_ZERO_NOW:3:0:") != std::string::npos);
  Run b = run_session(cat({hello(), mem_alloc(4096, 2), mirror_zero(d, 4, Bytes(4, 1)), frame(AVEC_OP_PING, {}, 3)}));
  CHECK(b.end == SessionEnd::bad_frame);
  CHECK(!AVEC_OP_IS_SYNC(AVEC_OP_MIRROR_ZERO_NOW) && AVEC_OP_FENCE_QUIET(AVEC_OP_MIRROR_ZERO_NOW));
  CHECK(strcmp(opcode_name(AVEC_OP_MIRROR_ZERO_NOW), "MIRROR_ZERO_NOW") == 0);
}

// DEVICE_OUTPUT (180) goes from server to client only: from a client the decoder refuses it as an unknown
// opcode, and the session ends on it. A session that may not take over its process's stdout (sessions run
// inside a test or a fuzzer: SessionOptions::device_output false) does not offer the feature.
TEST(session_device_output_opcode_and_negotiation) {
  FrameView v;
  Bytes text;
  put(&text, avec_reply_hdr{0, 0});
  put(&text, "hi\n", 3);
  CHECK(dec(frame(AVEC_OP_DEVICE_OUTPUT, text, 2), &v) == Decode::bad);
  CHECK(v.error && strcmp(v.error, "unknown opcode") == 0);
  CHECK(dec(frame(AVEC_OP_DEVICE_OUTPUT, text, 2, 1, AVEC_F_REPLY), &v) == Decode::bad);
  CHECK_EQ(frame_fixed_size(AVEC_OP_DEVICE_OUTPUT), -1L);
  CHECK(strcmp(opcode_name(AVEC_OP_DEVICE_OUTPUT), "DEVICE_OUTPUT") == 0);
  Run r = run_session(cat({hello(AVEC_HELLO_DEVICE_OUTPUT), frame(AVEC_OP_DEVICE_OUTPUT, text, 2), frame(AVEC_OP_PING, {}, 3)}));
  CHECK(r.end == SessionEnd::bad_frame);
  CHECK_EQ(r.replies.size(), 2u);
  if (r.replies.size() != 2) return;
  CHECK_EQ(r.replies[0].status(), 0u);
  CHECK(!(r.replies[0].as<avec_hello_reply>().features & AVEC_FEATURE_DEVICE_OUTPUT));
  CHECK_EQ(r.replies[1].status(), AVEC_STATUS_BAD_FRAME);
  CHECK_EQ(r.replies[1].hdr.request_id, 2u);
}

// The capture itself: stdio's buffer is flushed before a take; a writer that prints far more than the pipe
// holds, with nobody taking, is not held up (the drain thread reads); past the cap the rest is dropped and
// counted; stop() puts stdout back and returns what was never taken.
TEST(device_output_capture) {
  struct stat before, after;
  fstat(STDOUT_FILENO, &before);
  DeviceOutput out(1 << 20);
  CHECK(out.start());
  printf("through stdio ");  // not flushed: take() must
  std::string first;
  bool got = out.take(&first);
  // 3 MiB into a 1 MiB pipe, non-blocking so that a writer nobody drains gives up instead of hanging here
  std::string big(3 << 20, 'x');
  int fl = fcntl(STDOUT_FILENO, F_GETFL);
  fcntl(STDOUT_FILENO, F_SETFL, fl | O_NONBLOCK);
  size_t off = 0;
  for (int waits = 0; off < big.size() && waits < 5000;) {
    ssize_t n = write(STDOUT_FILENO, big.data() + off, big.size() - off);
    if (n > 0) {
      off += (size_t)n;
    } else {
      waits++;
      usleep(1000);
    }
  }
  fcntl(STDOUT_FILENO, F_SETFL, fl);
  std::string held, none;
  bool got_held = out.take(&held);
  bool got_none = out.take(&none);
  printf("left");
  uint64_t unsent = out.stop();
  CHECK(got && first == "through stdio ");
  CHECK_EQ(off, big.size());
  CHECK(got_held && held == std::string(1 << 20, 'x'));
  CHECK_EQ(out.dropped(), (uint64_t)(2 << 20));
  CHECK(!got_none && none.empty());
  CHECK_EQ(unsent, 4u);
  CHECK(!out.active());
  CHECK(fstat(STDOUT_FILENO, &after) == 0 && after.st_ino == before.st_ino && after.st_dev == before.st_dev);
}

// How long a session's read spins before it sleeps: about as long as the client's last real pause (a
// quarter more), at least 50 us, at most --read-spin-us; after a longer pause only the 50 us base.
TEST(read_spin_window_follows_the_clients_pause) {
  CHECK_EQ(read_spin_window_ns(0), 50000L);              // nothing seen yet
  CHECK_EQ(read_spin_window_ns(2200000), 2750000L);      // a synchronize loop over a 2 ms link
  CHECK_EQ(read_spin_window_ns(4900000), 5000000L);      // capped at the default 5 ms
  CHECK_EQ(read_spin_window_ns(80000000), 50000L);       // a client that paused 80 ms
  set_read_spin_us(1000);
  CHECK_EQ(read_spin_window_ns(600000), 750000L);
  CHECK_EQ(read_spin_window_ns(2200000), 50000L);        // longer than the cap: base only
  set_read_spin_us(0);
  CHECK_EQ(read_spin_window_ns(0), 0L);                  // --read-spin-us 0: never spin
  set_read_spin_us(5000);
}

TEST(session_sticky_error_poisons) {
  Bytes img = tiny_ptx();
  uint8_t h[32];
  sha256(img.data(), img.size(), h);
  Run r = run_session(cat({hello(), module_image(h, img), module_load(5, h, img.size()),
                           symbol(AVEC_OP_GET_FUNCTION, 5, 6, "add_one", 2), launch(6),
                           frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 3), mem_alloc(16, 4), frame(AVEC_OP_PING, {}, 5),
                           frame(AVEC_OP_MEM_GET_INFO, {}, 6)}),
                      1 << 20, 1 << 20, CUDA_ERROR_ILLEGAL_ADDRESS);
  CHECK_EQ(r.replies.size(), 6u);
  if (r.replies.size() != 6) return;
  CHECK_EQ(r.replies[1].status(), 0u);
  CHECK_EQ(r.replies[2].status(), (uint32_t)CUDA_ERROR_ILLEGAL_ADDRESS);
  CHECK_EQ(r.replies[3].status(), (uint32_t)CUDA_ERROR_ILLEGAL_ADDRESS);  // alloc refused too
  CHECK_EQ(r.replies[4].status(), 0u);                                     // PING is exempt
  CHECK_EQ(r.replies[5].status(), (uint32_t)CUDA_ERROR_ILLEGAL_ADDRESS);
  // a non-sticky launch error is reported once
  Run r2 = run_session(cat({hello(), module_image(h, img), module_load(5, h, img.size()),
                            symbol(AVEC_OP_GET_FUNCTION, 5, 6, "add_one", 2), launch(6),
                            frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 3), frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 4)}),
                       1 << 20, 1 << 20, CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES);
  CHECK_EQ(r2.replies.size(), 4u);
  if (r2.replies.size() != 4) return;
  CHECK_EQ(r2.replies[2].status(), (uint32_t)CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES);
  CHECK_EQ(r2.replies[3].status(), 0u);
}

static Bytes launch_with_attr(uint32_t func, uint32_t id, uint64_t value0) {
  avec_launch l = {};
  l.func = func;
  for (int i = 0; i < 3; i++) l.grid[i] = l.block[i] = 1;
  l.num_attrs = 1;
  avec_launch_attr a = {};
  a.id = id;
  memcpy(a.value, &value0, sizeof value0);
  Bytes p;
  put(&p, l);
  put(&p, a);
  return frame(AVEC_OP_LAUNCH, p, 0);
}

TEST(session_launch_attributes) {
  Bytes img = tiny_ptx();
  uint8_t h[32];
  sha256(img.data(), img.size(), h);
  avec_event_create e = {40, 0};
  Bytes setup = cat({hello(), module_image(h, img), module_load(5, h, img.size()),
                     symbol(AVEC_OP_GET_FUNCTION, 5, 6, "add_one", 2), frame_of(AVEC_OP_EVENT_CREATE, e, 0)});
  Bytes sync = frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 3);
  // an event the session does not know -> INVALID_HANDLE before the backend is asked
  Run r1 = run_session(cat({setup, launch_with_attr(6, CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT, 41), sync}));
  // a known event is translated; the emulated device then refuses the launch itself
  Run r2 = run_session(cat({setup, launch_with_attr(6, CU_LAUNCH_ATTRIBUTE_LAUNCH_COMPLETION_EVENT, 40), sync}));
  // graph-only attribute: not forwarded
  Run r3 = run_session(cat({setup, launch_with_attr(6, CU_LAUNCH_ATTRIBUTE_DEVICE_UPDATABLE_KERNEL_NODE, 0), sync}));
  // an unknown function handle
  Run r4 = run_session(cat({setup, launch(99), sync}));
  for (Run* r : {&r1, &r2, &r3, &r4}) CHECK_EQ(r->replies.size(), 3u);
  if (r1.replies.size() != 3 || r2.replies.size() != 3 || r3.replies.size() != 3 || r4.replies.size() != 3) return;
  CHECK_EQ(r1.replies[2].status(), (uint32_t)CUDA_ERROR_INVALID_HANDLE);
  CHECK_EQ(r2.replies[2].status(), (uint32_t)CUDA_ERROR_NOT_SUPPORTED);
  CHECK_EQ(r3.replies[2].status(), (uint32_t)CUDA_ERROR_NOT_SUPPORTED);
  CHECK_EQ(r4.replies[2].status(), (uint32_t)CUDA_ERROR_INVALID_HANDLE);
}

TEST(session_reset_clears_sticky) {
  Bytes img = tiny_ptx();
  uint8_t h[32];
  sha256(img.data(), img.size(), h);
  avec_u32 dev0 = {0, 0}, dev1 = {1, 0};
  Run r = run_session(cat({hello(), module_image(h, img), module_load(5, h, img.size()),
                           symbol(AVEC_OP_GET_FUNCTION, 5, 6, "add_one", 2), launch(6),
                           frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 3), frame_of(AVEC_OP_PRIMARY_CTX_RESET, dev1, 4),
                           frame_of(AVEC_OP_PRIMARY_CTX_RESET, dev0, 5), mem_alloc(16, 6),
                           symbol(AVEC_OP_GET_FUNCTION, 5, 7, "add_one", 7)}),
                      1 << 20, 1 << 20, CUDA_ERROR_ILLEGAL_ADDRESS);
  CHECK_EQ(r.replies.size(), 7u);
  if (r.replies.size() != 7) return;
  CHECK_EQ(r.replies[2].status(), (uint32_t)CUDA_ERROR_ILLEGAL_ADDRESS);
  CHECK_EQ(r.replies[3].status(), (uint32_t)CUDA_ERROR_INVALID_DEVICE);
  CHECK_EQ(r.replies[4].status(), 0u);
  CHECK_EQ(r.replies[5].status(), 0u);  // usable again
  CHECK_EQ(r.replies[6].status(), (uint32_t)CUDA_ERROR_INVALID_HANDLE);  // the module went with the reset
}

TEST(session_contexts_streams_modules_lifecycle) {
  Bytes img = tiny_ptx();
  uint8_t h[32];
  sha256(img.data(), img.size(), h);
  avec_ctx_create cc = {40, 0, 0, 0}, cc_low = {5, 0, 0, 0}, cc_dev = {41, 0, 3, 0};
  avec_handle c40 = {40, 0}, c1 = {1, 0};
  avec_limit lim = {CU_LIMIT_STACK_SIZE, 0, 4096};
  avec_stream_create sc = {20, 0, 0, 0};
  avec_handle s20 = {20, 0}, m5 = {5, 0};
  avec_mem_alloc aa = {1000, 0, 0, 20};
  avec_func_attr fa = {6, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, 65536, 0};
  auto in_ctx = [](Bytes f, uint32_t ctx) {
    reinterpret_cast<avec_frame_hdr*>(f.data())->ctx = ctx;
    return f;
  };
  Run r = run_session(cat({hello(),
                           frame_of(AVEC_OP_CTX_CREATE, cc_low, 0), frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 2),  // handle <= 16
                           frame_of(AVEC_OP_CTX_CREATE, cc_dev, 0), frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 3),  // no device 3
                           frame_of(AVEC_OP_CTX_CREATE, cc, 0), in_ctx(mem_alloc(64, 4), 40),
                           frame_of(AVEC_OP_CTX_SET_LIMIT, lim, 5), frame_of(AVEC_OP_CTX_GET_LIMIT, lim, 6),
                           frame_of(AVEC_OP_CTX_DESTROY, c40, 0), in_ctx(frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 7), 40),
                           frame_of(AVEC_OP_CTX_DESTROY, c1, 0), frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 8),  // primary: refused
                           frame_of(AVEC_OP_STREAM_CREATE, sc, 0), frame_of(AVEC_OP_MEM_ALLOC_ASYNC, aa, 9),
                           frame_of(AVEC_OP_STREAM_DESTROY, s20, 0), frame_of(AVEC_OP_STREAM_QUERY, s20, 10),
                           module_image(h, img), module_load(5, h, img.size()), symbol(AVEC_OP_GET_FUNCTION, 5, 6, "add_one", 11),
                           frame_of(AVEC_OP_FUNC_SET_ATTRIBUTE, fa, 0), frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 12),
                           frame_of(AVEC_OP_MODULE_UNLOAD, m5, 0), frame_of(AVEC_OP_FUNC_SET_ATTRIBUTE, fa, 0),
                           frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 13), module_load(5, h, img.size()),
                           symbol(AVEC_OP_GET_FUNCTION, 5, 6, "add_one", 14)}));
  std::vector<uint32_t> want = {0,
                                (uint32_t)CUDA_ERROR_INVALID_VALUE,    // ctx handle in the primary range
                                (uint32_t)CUDA_ERROR_INVALID_DEVICE,
                                0,                                     // alloc in the created context
                                0, 0,                                  // set/get limit
                                (uint32_t)CUDA_ERROR_INVALID_CONTEXT,  // destroyed context
                                (uint32_t)CUDA_ERROR_INVALID_CONTEXT,  // primary contexts are not destroyed
                                0,                                     // async alloc on a created stream
                                (uint32_t)CUDA_ERROR_INVALID_HANDLE,   // destroyed stream
                                0,                                     // function
                                0,                                     // attribute set
                                (uint32_t)CUDA_ERROR_INVALID_HANDLE,   // function went with its module
                                0};                                    // handle reusable after unload
  CHECK_EQ(r.replies.size(), want.size());
  for (size_t i = 0; i < want.size() && i < r.replies.size(); i++) {
    if (r.replies[i].status() != want[i]) fprintf(stderr, "  reply %zu: status %u, want %u\n", i, r.replies[i].status(), want[i]);
    CHECK_EQ(r.replies[i].status(), want[i]);
  }
  if (r.replies.size() == want.size()) {
    avec_u64 lv;
    memcpy(&lv, r.replies[5].payload.data() + 8, sizeof lv);
    CHECK_EQ(lv.value, 4096u);
  }
  CHECK_EQ(r.used_after, 0u);
}

TEST(alloc_table_vmm_spans) {
  AllocTable t(1 << 30);
  Alloc a;
  a.kind = AllocKind::vmm;
  a.base = 0x200000; a.size = 0x200000;
  CHECK(t.insert(a));
  a.base = 0x400000; a.size = 0x400000;  // touches the first piece
  CHECK(t.insert(a));
  a.base = 0x900000; a.size = 0x100000;  // a gap before it
  CHECK(t.insert(a));
  CHECK(t.contains(0x3ff000, 0x2000));      // across the joint
  CHECK(t.contains(0x200000, 0x600000));    // both pieces whole
  CHECK(!t.contains(0x200000, 0x600001));   // into the gap
  CHECK(!t.contains(0x7ff000, 0x200000));   // across the gap
  Alloc d;
  d.kind = AllocKind::device;
  d.base = 0x1000000; d.size = 0x1000; d.accounted = 0x1000;
  CHECK(t.insert(d));
  d.base = 0x1001000;
  CHECK(t.insert(d));
  CHECK(!t.contains(0x1000800, 0x1000));    // ordinary allocations never join
  CHECK_EQ(t.used(), 0x2000u);
  t.charge(100);
  t.set_pool_reserved(50);
  CHECK_EQ(t.used(), 0x2000u + 150u);
  t.uncharge(1000);  // never below zero
  CHECK_EQ(t.used(), 0x2000u + 50u);
}

TEST(ipc_handle_codec) {
  IpcToken t;
  for (size_t i = 0; i < t.size(); i++) t[i] = (uint8_t)(i * 7 + 1);
  uint8_t h[64];
  IpcRegistry::encode_handle(IpcKind::mem, t, 12345, h);
  IpcKind k;
  IpcToken back;
  uint64_t size = 0;
  CHECK(IpcRegistry::decode_handle(h, &k, &back, &size));
  CHECK(k == IpcKind::mem && back == t && size == 12345u);
  h[0] = 'X';
  CHECK(!IpcRegistry::decode_handle(h, &k, &back, &size));  // not one of ours (e.g. a raw driver handle)
  IpcRegistry::encode_handle(IpcKind::event, t, 0, h);
  h[60] = 1;
  CHECK(!IpcRegistry::decode_handle(h, &k, &back, &size));  // reserved bytes must be zero
}

TEST(ipc_handle_codec_shareable_kinds) {
  IpcToken t;
  for (size_t i = 0; i < t.size(); i++) t[i] = (uint8_t)(i + 3);
  uint8_t h[64];
  IpcKind k;
  IpcToken back;
  uint64_t size = 0;
  IpcRegistry::encode_handle(IpcKind::vmm, t, 2u << 20, h);
  CHECK(IpcRegistry::decode_handle(h, &k, &back, &size) && k == IpcKind::vmm && size == (2u << 20));
  IpcRegistry::encode_handle(IpcKind::pool, t, 0, h);
  CHECK(IpcRegistry::decode_handle(h, &k, &back, &size) && k == IpcKind::pool);
  h[4] = 5;  // no such kind
  CHECK(!IpcRegistry::decode_handle(h, &k, &back, &size));
}

// The exporting side serves an offered fd to a peer naming its token, and nothing else.
TEST(fd_share_offer_fetch_withdraw) {
  char dir[] = "/tmp/avec-fdshare-XXXXXX";
  CHECK(mkdtemp(dir) != nullptr);
  IpcToken t, other;
  t.fill(7);
  other.fill(8);
  std::string path, why;
  {
    FdShare f(dir);
    CHECK(f.start(&why));
    path = f.path();
    struct stat st;
    CHECK(stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 077) == 0);
    int m = memfd_create("fd-share-test", 0);
    CHECK(m >= 0 && write(m, "hello", 5) == 5);
    CHECK(f.offer(t, m, &why));
    int got = FdShare::fetch(path, t, &why);
    CHECK(got >= 0);
    char buf[6] = {0};
    CHECK(got >= 0 && pread(got, buf, 5, 0) == 5 && !strcmp(buf, "hello"));  // the same file
    if (got >= 0) close(got);
    CHECK_EQ(FdShare::fetch(path, other, &why), -1);  // a token never offered
    CHECK(why.find("no longer offers") != std::string::npos);
    f.withdraw(t);
    CHECK_EQ(FdShare::fetch(path, t, &why), -1);
  }
  CHECK_EQ(FdShare::fetch(path, t, &why), -1);  // gone with its owner
  CHECK(why.find("gone") != std::string::npos);
  struct stat st;
  CHECK(stat(path.c_str(), &st) != 0);  // the socket file too
  rmdir(dir);
}

// Without a registry (or a scope) nothing is offered: HELLO says so and the opcodes refuse clearly.
TEST(session_share_needs_registry) {
  avec_share_export e = {AVEC_SHARE_VMM, 5, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0};
  avec_share_import q = {};
  avec_u64 p = {0x1000};
  Run r = run_session(cat({hello(), frame_of(AVEC_OP_SHARE_EXPORT, e, 2), frame_of(AVEC_OP_SHARE_IMPORT, q, 3),
                           frame_of(AVEC_OP_POOL_EXPORT_POINTER, p, 4)}));
  CHECK_EQ(r.replies.size(), 4u);
  if (r.replies.size() != 4) return;
  CHECK_EQ(r.replies[0].as<avec_hello_reply>().features & AVEC_FEATURE_SHAREABLE_FD, 0u);
  for (int i = 1; i < 4; i++) CHECK_EQ(r.replies[i].status(), (uint32_t)CUDA_ERROR_NOT_SUPPORTED);
  // with one, HELLO offers it; a malformed SHARE_IMPORT is a bad frame
  char dir[] = "/tmp/avec-ipc-share-XXXXXX";
  CHECK(mkdtemp(dir) != nullptr);
  IpcRegistry reg(dir);
  Run ok = run_session(cat({hello(), frame(AVEC_OP_SHARE_IMPORT, Bytes(71, 0), 2)}), 1 << 20, 1 << 20, 0, &reg, "claim:a");
  CHECK_EQ(ok.replies.size(), 2u);
  if (ok.replies.size() == 2) {
    CHECK(ok.replies[0].as<avec_hello_reply>().features & AVEC_FEATURE_SHAREABLE_FD);
    CHECK_EQ(ok.replies[1].status(), AVEC_STATUS_BAD_FRAME);
  }
  rmdir(dir);
}

// A handle exported in one scope opens in a session of that scope only (a claim never sees another's
// memory), and never after the entry is gone.
TEST(session_ipc_scope_enforced) {
  char dir[] = "/tmp/avec-ipc-test-XXXXXX";
  CHECK(mkdtemp(dir) != nullptr);
  IpcRegistry reg(dir);
  int fd = memfd_create("ipc-test", 0);  // stands in for an exporting session's memory
  CHECK(fd >= 0 && ftruncate(fd, 8192) == 0);
  CHECK(pwrite(fd, "shared!", 7, 0) == 7);
  IpcEntry e;
  e.kind = IpcKind::mem;
  e.scope = "claim:a";
  e.size = 8192;
  std::string path = "/proc/" + std::to_string(getpid()) + "/fd/" + std::to_string(fd);
  e.blob.assign(path.begin(), path.end());
  IpcToken tok;
  std::string why;
  CHECK(reg.publish(e, &tok, &why));
  avec_ipc_open o = {};
  IpcRegistry::encode_handle(IpcKind::mem, tok, 8192, o.handle);
  avec_memcpy_dtoh rd = {0, 7, 0, 0};
  Run other = run_session(cat({hello(), frame_of(AVEC_OP_IPC_OPEN_MEM, o, 2)}), 1 << 20, 1 << 20, 0, &reg, "claim:b");
  CHECK_EQ(other.replies.size(), 2u);
  if (other.replies.size() == 2) CHECK_EQ(other.replies[1].status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);
  Run none = run_session(cat({hello(), frame_of(AVEC_OP_IPC_OPEN_MEM, o, 2)}));  // no registry: refused clearly
  if (none.replies.size() == 2) CHECK_EQ(none.replies[1].status(), (uint32_t)CUDA_ERROR_NOT_SUPPORTED);
  // same scope: opens, and the bytes are the exporter's (learn the address first, then read through it)
  Run same = run_session(cat({hello(), frame_of(AVEC_OP_IPC_OPEN_MEM, o, 2)}), 1 << 20, 1 << 20, 0, &reg, "claim:a");
  CHECK_EQ(same.replies.size(), 2u);
  if (same.replies.size() == 2) {
    CHECK_EQ(same.replies[1].status(), 0u);
    rd.src = same.replies[1].as<avec_ipc_open_reply>().dptr;
    Run read = run_session(cat({hello(), frame_of(AVEC_OP_IPC_OPEN_MEM, o, 2), frame_of(AVEC_OP_MEMCPY_DTOH, rd, 3)}),
                           1 << 20, 1 << 20, 0, &reg, "claim:a");
    CHECK_EQ(read.replies.size(), 3u);
    if (read.replies.size() == 3) CHECK(!memcmp(read.replies[2].payload.data() + 8, "shared!", 7));
    CHECK_EQ(read.used_after, 0u);  // opened memory is the exporter's, not charged here
  }
  reg.unpublish(tok);
  Run gone = run_session(cat({hello(), frame_of(AVEC_OP_IPC_OPEN_MEM, o, 2)}), 1 << 20, 1 << 20, 0, &reg, "claim:a");
  if (gone.replies.size() == 2) CHECK_EQ(gone.replies[1].status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);
  close(fd);
  rmdir(dir);
}

// The server's side of AVEC_STATS: per opcode, frames, round trips and bytes each way.
TEST(session_op_summary) {
  Bytes data(3000, 7);
  Run first = run_session(cat({hello(), mem_alloc(4096, 2)}));
  uint64_t addr = first.replies.size() == 2 ? alloc_addr(first.replies[1]) : 0;
  Run r = run_session(cat({hello(), mem_alloc(4096, 2), htod(addr, data), htod(addr, data), dtoh(addr, 100, 3)}));
  auto has = [&](const std::string& s) {
    bool ok = r.ops.find(s) != std::string::npos;
    if (!ok) fprintf(stderr, "  ops %s lacks %s\n", r.ops.c_str(), s.c_str());
    return ok;
  };
  CHECK(has("HELLO:1:1:"));
  CHECK(has("MEM_ALLOC:1:1:48:"));                  // 24 + 24 bytes in, one round trip
  CHECK(has("MEMCPY_HTOD:2:0:" + std::to_string(2 * (24 + 16 + 3000)) + ":0"));  // fire-and-forget
  CHECK(has("MEMCPY_DTOH:1:1:48:" + std::to_string(24 + 8 + 100)));
}

// EXPORT_CALL runs only the traced slots, with arguments that cannot be pointers the client made up: the
// object slot takes this session's streams by wire handle (0 the legacy stream), the query slot only
// objects the object slot handed out.
TEST(session_export_call_restricted) {
  avec_export_call made_up = {AVEC_EXPORT_TABLE_CTX, AVEC_EXPORT_SLOT_CTX_OBJECT_QUERY, 0x7f0000001000ull};
  avec_export_call other_slot = {AVEC_EXPORT_TABLE_CTX, 7, 0};
  avec_export_call other_table = {2, AVEC_EXPORT_SLOT_CTX_OBJECT, 0};
  avec_export_call big_arg = {AVEC_EXPORT_TABLE_CTX, AVEC_EXPORT_SLOT_CTX_OBJECT, 0x100000000ull};  // pointer-sized
  avec_export_call no_stream = {AVEC_EXPORT_TABLE_CTX, AVEC_EXPORT_SLOT_CTX_OBJECT, 21};           // never created
  avec_export_call legacy = {AVEC_EXPORT_TABLE_CTX, AVEC_EXPORT_SLOT_CTX_OBJECT, AVEC_STREAM_LEGACY};
  avec_export_call created = {AVEC_EXPORT_TABLE_CTX, AVEC_EXPORT_SLOT_CTX_OBJECT, 20};
  avec_stream_create sc = {20, 0, 0, 0};
  Run r = run_session(cat({hello(), frame_of(AVEC_OP_EXPORT_CALL, made_up, 2), frame_of(AVEC_OP_EXPORT_CALL, other_slot, 3),
                           frame_of(AVEC_OP_EXPORT_CALL, other_table, 4), frame_of(AVEC_OP_EXPORT_CALL, big_arg, 5),
                           frame_of(AVEC_OP_EXPORT_CALL, no_stream, 6), frame_of(AVEC_OP_STREAM_CREATE, sc, 0),
                           frame_of(AVEC_OP_EXPORT_CALL, legacy, 7), frame_of(AVEC_OP_EXPORT_CALL, created, 8)}));
  std::vector<uint32_t> want = {0, CUDA_ERROR_INVALID_VALUE, CUDA_ERROR_INVALID_VALUE, CUDA_ERROR_INVALID_VALUE,
                                CUDA_ERROR_INVALID_VALUE, CUDA_ERROR_INVALID_VALUE,
                                CUDA_ERROR_NOT_SUPPORTED,   // accepted; the emulated device has no driver tables
                                CUDA_ERROR_NOT_SUPPORTED};  // accepted, then the same
  CHECK_EQ(r.replies.size(), want.size());
  for (size_t i = 0; i < want.size() && i < r.replies.size(); i++) CHECK_EQ(r.replies[i].status(), want[i]);
}

// A pool's reservation counts against the limit; a request that would cross it is refused, and memory
// given back to the pool makes room again.
TEST(session_pool_memory_limit) {
  avec_stream_create sc = {20, 0, 0, 0};
  avec_mem_alloc a600 = {600 << 10, 0, 0, 20}, a500 = {500 << 10, 0, 0, 20};
  Run r = run_session(cat({hello(), frame_of(AVEC_OP_STREAM_CREATE, sc, 0), frame_of(AVEC_OP_MEM_ALLOC_ASYNC, a600, 2),
                           frame_of(AVEC_OP_MEM_ALLOC_ASYNC, a500, 3), frame(AVEC_OP_MEM_GET_INFO, {}, 4)}),
                      1 << 20);
  CHECK_EQ(r.replies.size(), 4u);
  if (r.replies.size() == 4) {
    CHECK_EQ(r.replies[1].status(), 0u);
    CHECK_EQ(r.replies[2].status(), (uint32_t)CUDA_ERROR_OUT_OF_MEMORY);
    avec_mem_info mi = r.replies[3].as<avec_mem_info>();
    CHECK_EQ(mi.total, 1u << 20);
    CHECK_EQ(mi.free, (1u << 20) - (600u << 10));  // the pool holds the first allocation
  }
  CHECK_EQ(r.used_after, 0u);
}

TEST(session_handles_checked) {
  avec_handle bad_stream = {99, 0};
  avec_handle bad_event = {3, 0};
  avec_u32x2 ev = {3, 4};
  avec_event_create e3 = {3, 0}, e4 = {4, 0};
  avec_event_record rec3 = {3, 0, 0, 0}, rec4 = {4, 0, 0, 0};
  avec_stream_create sc = {20, 0, 0, 0};
  avec_stream_create sc_low = {5, 0, 0, 0};  // client streams start at 16
  Run r = run_session(cat({hello(), frame_of(AVEC_OP_STREAM_SYNCHRONIZE, bad_stream, 2),
                           frame_of(AVEC_OP_EVENT_QUERY, bad_event, 3), frame_of(AVEC_OP_EVENT_CREATE, e3, 0),
                           frame_of(AVEC_OP_EVENT_CREATE, e4, 0), frame_of(AVEC_OP_EVENT_RECORD, rec3, 0),
                           frame_of(AVEC_OP_EVENT_RECORD, rec4, 0), frame_of(AVEC_OP_EVENT_ELAPSED, ev, 4),
                           frame_of(AVEC_OP_STREAM_CREATE, sc, 0), frame_of(AVEC_OP_STREAM_SYNCHRONIZE, avec_handle{20, 0}, 5),
                           frame_of(AVEC_OP_STREAM_CREATE, sc_low, 0), frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 6),
                           frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 7, /*ctx*/ 9)}));
  CHECK_EQ(r.replies.size(), 7u);
  if (r.replies.size() != 7) return;
  CHECK_EQ(r.replies[1].status(), (uint32_t)CUDA_ERROR_INVALID_HANDLE);
  CHECK_EQ(r.replies[2].status(), (uint32_t)CUDA_ERROR_INVALID_HANDLE);
  CHECK_EQ(r.replies[3].status(), 0u);
  avec_f32 ms;
  memcpy(&ms, r.replies[3].payload.data() + 8, sizeof ms);
  CHECK(ms.value >= 0.0f && ms.value < 1000.0f);
  CHECK_EQ(r.replies[4].status(), 0u);
  CHECK_EQ(r.replies[5].status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(r.replies[6].status(), (uint32_t)CUDA_ERROR_INVALID_CONTEXT);
}

TEST(session_bad_frames_end_it) {
  Bytes bad = mem_alloc(1, 2);
  uint32_t junk = 0x11111111;
  memcpy(bad.data(), &junk, 4);
  Run r = run_session(cat({hello(), frame(AVEC_OP_PING, {}, 2), bad, frame(AVEC_OP_PING, {}, 3)}));
  CHECK(r.end == SessionEnd::bad_frame);
  CHECK_EQ(r.replies.size(), 3u);
  if (r.replies.size() == 3) CHECK_EQ(r.replies[2].status(), AVEC_STATUS_BAD_FRAME);
  Run r2 = run_session(frame(AVEC_OP_PING, {}, 2));  // first frame must be HELLO
  CHECK(r2.end == SessionEnd::bad_frame);
  Run r3 = run_session(hello(0, "", 7));  // wrong wire version in HELLO
  CHECK(r3.end == SessionEnd::refused);
  CHECK_EQ(r3.replies.size(), 1u);
  if (r3.replies.size() == 1) CHECK_EQ(r3.replies[0].status(), AVEC_STATUS_VERSION);
  Run r4 = run_session(cat({hello(), hello()}));  // a second HELLO
  CHECK(r4.end == SessionEnd::bad_frame);
  // a partial frame at end of stream is an ordinary disconnect
  Bytes p = mem_alloc(1, 2);
  p.resize(p.size() - 3);
  Run r5 = run_session(cat({hello(), p}));
  CHECK(r5.end == SessionEnd::eof);
}

TEST(session_info_only) {
  Run r = run_session(cat({hello(AVEC_HELLO_INFO_ONLY), frame(AVEC_OP_MEM_GET_INFO, {}, 2, 0), mem_alloc(16, 3)}),
                      5000);
  CHECK_EQ(r.replies.size(), 3u);
  if (r.replies.size() != 3) return;
  avec_mem_info mi = r.replies[1].as<avec_mem_info>();
  CHECK_EQ(mi.r.status, 0u);
  CHECK_EQ(mi.total, 5000u);
  CHECK_EQ(mi.free, 5000u);
  CHECK_EQ(r.replies[2].status(), (uint32_t)CUDA_ERROR_NOT_PERMITTED);
}

TEST(session_large_copy_multi_frame_reply) {
  size_t n = AVEC_CHUNK * 2 + 12345;
  Run first = run_session(cat({hello(), mem_alloc(n, 2)}), 64 << 20);
  uint64_t d = alloc_addr(first.replies[1]);
  Bytes data(n);
  for (size_t i = 0; i < n; i++) data[i] = (uint8_t)(i ^ (i >> 9));
  Bytes in = cat({hello(), mem_alloc(n, 2)});
  for (size_t off = 0; off < n; off += AVEC_CHUNK) {
    size_t k = std::min<size_t>(AVEC_CHUNK, n - off);
    Bytes part(data.begin() + off, data.begin() + off + k);
    in = cat({in, htod(d + off, part)});
  }
  in = cat({in, dtoh(d, n, 3)});
  Run r = run_session(in, 64 << 20, 200000);
  CHECK_EQ(r.replies.size(), 2u + 3u);
  Bytes got;
  for (size_t i = 2; i < r.replies.size(); i++) {
    bool last = i + 1 == r.replies.size();
    CHECK_EQ((r.replies[i].hdr.flags & AVEC_F_MORE) != 0, !last);
    CHECK_EQ(r.replies[i].status(), 0u);
    got.insert(got.end(), r.replies[i].payload.begin() + 8, r.replies[i].payload.end());
  }
  CHECK(got == data);
}

// ---- CUDA arrays, texture and surface objects -----------------------------------------------------------

static Bytes array_create(uint32_t handle, uint64_t w, uint64_t h, uint64_t d, uint32_t id, uint16_t op = AVEC_OP_ARRAY_CREATE,
                          uint32_t levels = 0, uint32_t flags = 0) {
  avec_array_create c = {handle, 0, {w, h, d, CU_AD_FORMAT_FLOAT, 1, flags, levels}};
  return frame_of(op, c, id);
}
static avec_array_copy array_region(uint32_t src_array, uint32_t dst_array, uint64_t w, uint64_t h, uint64_t d) {
  avec_array_copy m = {};
  m.src_array = src_array;
  m.dst_array = dst_array;
  m.width = w;
  m.height = h;
  m.depth = d;
  return m;
}

TEST(session_arrays_copies_checks_and_accounting) {
  // 16x4x2 floats (512 bytes); data in, a region out, array to array, the account back at 0 at the end
  Bytes data(512);
  for (size_t i = 0; i < data.size(); i++) data[i] = (uint8_t)(i * 7 + 1);
  avec_array_copy in = array_region(0, 5, 64, 4, 2);
  Bytes in_frame;
  put(&in_frame, in);
  put(&in_frame, data.data(), data.size());
  avec_array_copy out = array_region(5, 0, 8, 2, 1);  // x 4 floats, y 1, z 1: 8 bytes x 2 rows
  out.src_x = 16;
  out.src_y = 1;
  out.src_z = 1;
  avec_array_copy a2a = array_region(5, 6, 64, 4, 2);
  avec_array_copy back = array_region(6, 0, 64, 4, 2);
  avec_array_copy past = array_region(5, 0, 64, 4, 1);
  past.src_z = 2;  // slice 2 of 2: outside
  avec_array_copy ragged = array_region(5, 0, 6, 1, 1);  // not whole floats
  avec_array_copy unknown = array_region(9, 0, 4, 1, 1);
  Run r = run_session(cat({hello(), array_create(5, 16, 4, 2, 2), array_create(6, 16, 4, 2, 3),
                           frame(AVEC_OP_MEMCPY_HTOA, in_frame, 0), frame_of(AVEC_OP_MEMCPY_ATOH, out, 4),
                           frame_of(AVEC_OP_MEMCPY_ARRAY, a2a, 0), frame_of(AVEC_OP_MEMCPY_ATOH, back, 5),
                           frame_of(AVEC_OP_MEMCPY_ATOH, past, 6), frame_of(AVEC_OP_MEMCPY_ATOH, ragged, 7),
                           frame_of(AVEC_OP_MEMCPY_ATOH, unknown, 8), frame(AVEC_OP_MEM_GET_INFO, {}, 9),
                           array_create(5, 16, 4, 2, 10),                       // handle in use
                           array_create(7, 1 << 20, 1 << 20, 0, 11),            // past the limit
                           array_create(8, 16, 0, 2, 12)}));                    // depth without height or layers
  CHECK_EQ(r.replies.size(), 12u);
  if (r.replies.size() != 12) return;
  CHECK_EQ(r.replies[1].status(), 0u);
  CHECK_EQ(r.replies[2].status(), 0u);
  Bytes want;
  for (int y = 0; y < 2; y++) want.insert(want.end(), data.begin() + 256 + (1 + y) * 64 + 16, data.begin() + 256 + (1 + y) * 64 + 24);
  CHECK(Bytes(r.replies[3].payload.begin() + 8, r.replies[3].payload.end()) == want);
  CHECK(Bytes(r.replies[4].payload.begin() + 8, r.replies[4].payload.end()) == data);
  CHECK_EQ(r.replies[5].status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(r.replies[6].status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(r.replies[7].status(), (uint32_t)CUDA_ERROR_INVALID_HANDLE);
  avec_mem_info mi = r.replies[8].as<avec_mem_info>();
  CHECK_EQ(mi.total - mi.free, 1024u);  // two arrays of 512 bytes
  CHECK_EQ(r.replies[9].status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(r.replies[10].status(), (uint32_t)CUDA_ERROR_OUT_OF_MEMORY);
  CHECK_EQ(r.replies[11].status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);
  CHECK_EQ(r.used_after, 0u);
}

TEST(session_arrays_handles_are_per_session) {
  // a handle made in one session names nothing in the next; a destroyed one nothing either
  Run first = run_session(cat({hello(), array_create(5, 8, 8, 0, 2)}));
  CHECK_EQ(first.replies.size(), 2u);
  avec_array_copy out = array_region(5, 0, 32, 8, 1);
  avec_handle h = {5, 0};
  avec_tex_create t = {};
  t.res.type = CU_RESOURCE_TYPE_ARRAY;
  t.res.handle = 5;
  t.has_tex = 1;
  avec_u64 obj = {1};
  Run r = run_session(cat({hello(), frame_of(AVEC_OP_MEMCPY_ATOH, out, 2), frame_of(AVEC_OP_TEX_CREATE, t, 3),
                           frame_of(AVEC_OP_ARRAY_DESTROY, h, 0), frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 4),
                           frame_of(AVEC_OP_TEX_DESTROY, obj, 0), frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 5),
                           array_create(5, 8, 8, 0, 6, AVEC_OP_ARRAY_CREATE, 0, CUDA_ARRAY3D_SURFACE_LDST),
                           frame_of(AVEC_OP_TEX_CREATE, t, 7), frame_of(AVEC_OP_SURF_CREATE, t, 8)}));
  CHECK_EQ(r.replies.size(), 8u);
  if (r.replies.size() != 8) return;
  CHECK_EQ(r.replies[1].status(), (uint32_t)CUDA_ERROR_INVALID_HANDLE);
  CHECK_EQ(r.replies[2].status(), (uint32_t)CUDA_ERROR_INVALID_HANDLE);
  CHECK_EQ(r.replies[3].status(), (uint32_t)CUDA_ERROR_INVALID_HANDLE);  // the destroy, deferred
  CHECK_EQ(r.replies[4].status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);   // no such texture object here
  CHECK_EQ(r.replies[5].status(), 0u);
  CHECK_EQ(r.replies[6].status(), 0u);
  CHECK_EQ(r.replies[7].status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);   // a surface wants has_tex 0
  t.has_tex = 0;
  Run s = run_session(cat({hello(), array_create(5, 8, 8, 0, 2, AVEC_OP_ARRAY_CREATE, 0, CUDA_ARRAY3D_SURFACE_LDST),
                           frame_of(AVEC_OP_SURF_CREATE, t, 3)}));
  CHECK_EQ(s.replies.size(), 3u);
  if (s.replies.size() == 3) CHECK_EQ(s.replies[2].status(), 0u);
}

TEST(session_mipmap_levels) {
  avec_mipmap_level q = {4, 2, 9, 0}, past = {4, 5, 10, 0}, reuse = {4, 1, 4, 0};
  avec_handle level = {9, 0};
  Run r = run_session(cat({hello(), array_create(4, 32, 16, 0, 2, AVEC_OP_MIPMAP_CREATE, 5),
                           frame_of(AVEC_OP_MIPMAP_GET_LEVEL, q, 3), frame_of(AVEC_OP_MIPMAP_GET_LEVEL, past, 4),
                           frame_of(AVEC_OP_MIPMAP_GET_LEVEL, reuse, 5), frame_of(AVEC_OP_ARRAY_DESTROY, level, 0),
                           frame(AVEC_OP_MEM_GET_INFO, {}, 6), array_create(11, 32, 16, 0, 7, AVEC_OP_MIPMAP_CREATE, 7)}));
  CHECK_EQ(r.replies.size(), 7u);
  if (r.replies.size() != 7) return;
  CHECK_EQ(r.replies[1].status(), 0u);
  avec_array_desc_reply d = r.replies[2].as<avec_array_desc_reply>();
  CHECK(d.r.status == 0 && d.desc.width == 8 && d.desc.height == 4 && d.desc.levels == 0);
  CHECK_EQ(r.replies[3].status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);  // level 5 of 5
  CHECK_EQ(r.replies[4].status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);  // handle 4 is the mipmapped array's
  CHECK_EQ(r.replies[5].status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);  // a level is not destroyed alone
  CHECK_EQ(r.replies[6].status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);  // 7 levels of a 32x16 array: too many
  CHECK_EQ(r.used_after, 0u);
}

TEST(session_2d_and_memset) {
  Run first = run_session(cat({hello(), mem_alloc(100, 2, 4, 4)}));
  avec_mem_alloc_reply ar = first.replies[1].as<avec_mem_alloc_reply>();
  CHECK_EQ(ar.r.status, 0u);
  CHECK_EQ(ar.pitch, 512u);
  avec_memset ms = {};
  ms.dst = ar.dptr;
  ms.pitch = ar.pitch;
  ms.width = 25;  // 25 x 4 bytes per row
  ms.height = 4;
  ms.value = 0x01020304;
  ms.elem_size = 4;
  avec_memcpy2d back = {};
  back.dst = ar.dptr;
  back.dst_pitch = ar.pitch;
  back.width = 100;
  back.height = 4;
  avec_memset over = ms;
  over.height = 5;  // one row past the pitched allocation
  Run r = run_session(cat({hello(), mem_alloc(100, 2, 4, 4), frame_of(AVEC_OP_MEMSET, ms, 0),
                           frame_of(AVEC_OP_MEMCPY2D_DTOH, back, 3), frame_of(AVEC_OP_MEMSET, over, 0),
                           frame(AVEC_OP_CTX_SYNCHRONIZE, {}, 4)}));
  CHECK_EQ(r.replies.size(), 4u);
  if (r.replies.size() != 4) return;
  CHECK_EQ(r.replies[2].status(), 0u);
  CHECK_EQ(r.replies[2].payload.size(), 8u + 400u);
  uint32_t w = 0;
  memcpy(&w, r.replies[2].payload.data() + 8 + 396, 4);
  CHECK_EQ(w, 0x01020304u);
  CHECK_EQ(r.replies[3].status(), (uint32_t)CUDA_ERROR_INVALID_VALUE);
}

int main(int argc, char** argv) {
  if (argc > 1) g_dir = argv[1];
  log_set_level(LogLevel::off);
  signal(SIGPIPE, SIG_IGN);  // a write to a closed pipe or socket is a failed check, not the end of the run
  return avectest::run_all(argc > 2 ? argv[2] : nullptr);
}
