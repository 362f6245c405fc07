// HMAC-SHA256 session tickets (docs/tickets.md), for the standalone --listen mode; under the remoting
// server the native listener checks tickets before the executor ever sees the connection.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace avec {

void hmac_sha256(const uint8_t* key, size_t key_len, const uint8_t* msg, size_t len, uint8_t out[32]);
bool base64url_decode(const std::string& in, std::vector<uint8_t>* out);  // unpadded
bool base64_decode(const std::string& in, std::vector<uint8_t>* out);     // standard, padded

struct TicketClaims {
  std::string kid, uid, ns, claim, node, dev;
  uint64_t mem = 0;
  int cpct = 0;
  long long iat = 0, exp = 0;
  int max_sessions = 0;  // optional `maxs`: concurrent sessions the claim may hold (0: the server's cap)
};

class TicketVerifier {
 public:
  TicketVerifier(std::map<std::string, std::vector<uint8_t>> keys, std::string node,
                 std::function<long long()> now = nullptr);
  // Keyring directory: one file per key id holding the raw key bytes (the Secret layout of
  // docs/tickets.md); `current` and dot-files are skipped.
  static std::unique_ptr<TicketVerifier> from_file(const std::string& path, const std::string& node, std::string* err);
  // True when valid; else `why` is the reason (malformed, unknown-kid, bad-signature, ...).
  bool verify(const std::string& ticket, std::string* why, TicketClaims* out = nullptr) const;

 private:
  std::map<std::string, std::vector<uint8_t>> keys_;
  std::string node_;
  std::function<long long()> now_;
};

}  // namespace avec
