// Signing avec1 tickets in the tests (docs/tickets.md), and reading the refusal tail of a HELLO reply.
#pragma once
#include <ctime>
#include <string>

#include "ticket.h"
#include "wire.h"

namespace avectest {

inline std::string b64url(const uint8_t* p, size_t n) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string o;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    acc = (acc << 8) | p[i];
    bits += 8;
    while (bits >= 6) { bits -= 6; o += a[(acc >> bits) & 63]; }
  }
  if (bits) o += a[(acc << (6 - bits)) & 63];
  return o;
}

inline std::string sign(const std::string& key, const std::string& payload) {
  std::string b = b64url((const uint8_t*)payload.data(), payload.size());
  std::string signed_part = "avec1." + b;
  uint8_t mac[32];
  avec::hmac_sha256((const uint8_t*)key.data(), key.size(), (const uint8_t*)signed_part.data(), signed_part.size(), mac);
  return signed_part + "." + b64url(mac, 32);
}

// A ticket payload for node `node`, valid now; `extra` is appended inside the object (",\"maxs\":1").
inline std::string ticket_payload(const std::string& uid, const std::string& node, uint64_t mem, int cpct = 100,
                                  const std::string& dev = "", const std::string& extra = "") {
  long long now = time(nullptr);
  return "{\"v\":1,\"kid\":\"k1\",\"uid\":\"" + uid + "\",\"ns\":\"n\",\"claim\":\"c-" + uid + "\",\"node\":\"" + node +
         "\",\"dev\":\"" + dev + "\",\"mem\":" + std::to_string(mem) + ",\"cpct\":" + std::to_string(cpct) +
         ",\"iat\":" + std::to_string(now - 5) + ",\"exp\":" + std::to_string(now + 600) + extra + "}";
}

// The avec_hello_refusal tail of a refused HELLO reply (reason 0xFFFFFFFF / "" when absent).
inline uint32_t refusal_reason(const Reply& r) {
  if (r.payload.size() < sizeof(avec_hello_reply) + sizeof(avec_hello_refusal)) return 0xFFFFFFFFu;
  avec_hello_refusal f;
  memcpy(&f, r.payload.data() + sizeof(avec_hello_reply), sizeof f);
  return f.reason;
}
inline std::string refusal_message(const Reply& r) {
  size_t at = sizeof(avec_hello_reply) + sizeof(avec_hello_refusal);
  if (r.payload.size() < at) return "";
  avec_hello_refusal f;
  memcpy(&f, r.payload.data() + sizeof(avec_hello_reply), sizeof f);
  if (f.message_len > r.payload.size() - at) return "";
  return std::string(r.payload.begin() + at, r.payload.begin() + at + f.message_len);
}

}  // namespace avectest
