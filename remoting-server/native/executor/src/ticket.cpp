#include "ticket.h"

#include <dirent.h>
#include <sys/stat.h>

#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "json.h"
#include "sha256.h"

namespace avec {

void hmac_sha256(const uint8_t* key, size_t key_len, const uint8_t* msg, size_t len, uint8_t out[32]) {
  uint8_t k[64] = {};
  if (key_len > 64) sha256(key, key_len, k);
  else memcpy(k, key, key_len);
  uint8_t ipad[64], opad[64];
  for (int i = 0; i < 64; i++) { ipad[i] = k[i] ^ 0x36; opad[i] = k[i] ^ 0x5c; }
  uint8_t inner[32];
  Sha256 a;
  a.update(ipad, 64);
  a.update(msg, len);
  a.finish(inner);
  Sha256 b;
  b.update(opad, 64);
  b.update(inner, 32);
  b.finish(out);
}

namespace {
int b64val(char c, bool url) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == (url ? '-' : '+')) return 62;
  if (c == (url ? '_' : '/')) return 63;
  return -1;
}
bool b64(const std::string& in, std::vector<uint8_t>* out, bool url) {
  out->clear();  // a dangling 6-bit group (length % 4 == 1) yields no byte, as common decoders do
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = b64val(c, url);
    if (v < 0) return false;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back((uint8_t)(acc >> bits));
    }
  }
  return true;  // leftover bits are ignored, as common decoders do (a truncated MAC is then a mismatch)
}
}  // namespace

bool base64url_decode(const std::string& in, std::vector<uint8_t>* out) { return b64(in, out, true); }

bool base64_decode(const std::string& in, std::vector<uint8_t>* out) {
  std::string s = in;
  while (!s.empty() && s.back() == '=') s.pop_back();
  if (in.size() % 4 != 0) return false;
  return b64(s, out, false);
}

TicketVerifier::TicketVerifier(std::map<std::string, std::vector<uint8_t>> keys, std::string node,
                               std::function<long long()> now)
    : keys_(std::move(keys)), node_(std::move(node)), now_(std::move(now)) {
  if (!now_) now_ = [] { return (long long)time(nullptr); };
}

std::unique_ptr<TicketVerifier> TicketVerifier::from_file(const std::string& path, const std::string& node,
                                                          std::string* err) {
  std::map<std::string, std::vector<uint8_t>> keys;
  DIR* d = opendir(path.c_str());
  if (!d) { *err = "cannot open key directory " + path; return nullptr; }
  while (struct dirent* e = readdir(d)) {
    std::string kid = e->d_name;
    if (kid.empty() || kid[0] == '.' || kid == "current") continue;
    std::ifstream f(path + "/" + kid, std::ios::binary);
    if (!f) continue;
    std::stringstream ss;
    ss << f.rdbuf();
    std::string bytes = ss.str();
    if (bytes.size() < 32) continue;  // too short to be a key
    keys[kid] = std::vector<uint8_t>(bytes.begin(), bytes.end());
  }
  closedir(d);
  if (keys.empty()) { *err = "no keys (of at least 32 bytes) in " + path; return nullptr; }
  return std::unique_ptr<TicketVerifier>(new TicketVerifier(std::move(keys), node));
}

bool TicketVerifier::verify(const std::string& t, std::string* why, TicketClaims* out) const {
  auto fail = [&](const char* r) { *why = r; return false; };
  size_t d1 = t.find('.');
  size_t d2 = d1 == std::string::npos ? d1 : t.find('.', d1 + 1);
  if (d2 == std::string::npos || t.find('.', d2 + 1) != std::string::npos) return fail("malformed");
  if (t.compare(0, d1, "avec1") != 0 || d1 != 5) return fail("malformed");
  std::string b = t.substr(d1 + 1, d2 - d1 - 1), m = t.substr(d2 + 1);
  std::vector<uint8_t> payload, mac;
  if (!base64url_decode(b, &payload) || !base64url_decode(m, &mac)) return fail("malformed");
  Json j;
  if (!json_parse(std::string(payload.begin(), payload.end()), &j) || j.type != Json::Type::object)
    return fail("malformed");
  const Json* kid = j.get("kid");
  if (!kid || kid->type != Json::Type::string) return fail("malformed");
  auto key = keys_.find(kid->str);
  if (key == keys_.end()) return fail("unknown-kid");
  std::string signed_part = t.substr(0, d2);
  uint8_t want[32];
  hmac_sha256(key->second.data(), key->second.size(), (const uint8_t*)signed_part.data(), signed_part.size(), want);
  uint8_t diff = mac.size() == 32 ? 0 : 1;
  for (size_t i = 0; i < 32; i++) diff |= want[i] ^ (i < mac.size() ? mac[i] : 0);
  if (diff) return fail("bad-signature");
  const Json* v = j.get("v");
  if (!v || v->type != Json::Type::number || !v->integral || v->i != 1) return fail("unsupported-version");
  auto str = [&](const char* k, std::string* o) {
    const Json* x = j.get(k);
    if (!x || x->type != Json::Type::string) return false;
    *o = x->str;
    return true;
  };
  auto integer = [&](const char* k, long long lo, long long hi, long long* o) {
    const Json* x = j.get(k);
    if (!x || x->type != Json::Type::number || !x->integral || x->i < lo || x->i > hi) return false;
    *o = x->i;
    return true;
  };
  TicketClaims c;
  long long mem = 0, cpct = 0;
  const long long kSafe = 9007199254740991ll;
  if (!str("uid", &c.uid) || !str("ns", &c.ns) || !str("claim", &c.claim) || !str("node", &c.node) ||
      !str("dev", &c.dev) || !integer("mem", 0, kSafe, &mem) || !integer("cpct", 1, 100, &cpct) ||
      !integer("iat", 0, kSafe, &c.iat) || !integer("exp", 0, kSafe, &c.exp))
    return fail("malformed");
  if (j.get("maxs")) {  // optional (a later addition): absent means the server's per-claim cap
    long long maxs = 0;
    if (!integer("maxs", 1, 1000000, &maxs)) return fail("malformed");
    c.max_sessions = (int)maxs;
  }
  c.kid = kid->str;
  c.mem = (uint64_t)mem;
  c.cpct = (int)cpct;
  if (c.node != node_) return fail("wrong-node");
  long long now = now_();
  if (now > c.exp + 60) return fail("expired");
  if (now < c.iat - 60) return fail("not-yet-valid");
  if (out) *out = c;
  return true;
}

}  // namespace avec
