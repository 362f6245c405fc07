#include "hello-peek.h"

#include <cstring>

#include "avec_wire.h"

namespace avec {

static_assert(kHelloFixedLen == sizeof(avec_frame_hdr) + sizeof(avec_hello), "HELLO prefix size");

const char* hello_status_name(HelloStatus s) {
  switch (s) {
    case HelloStatus::kNeedMore: return "need-more";
    case HelloStatus::kComplete: return "complete";
    case HelloStatus::kBadMagic: return "bad-magic";
    case HelloStatus::kBadOpcode: return "bad-opcode";
    case HelloStatus::kBadLength: return "bad-length";
    case HelloStatus::kTicketTooLong: return "ticket-too-long";
    case HelloStatus::kBadVersion: return "bad-version";
    case HelloStatus::kBadHost: return "bad-client-host";
  }
  return "unknown";
}

HelloStatus hello_parse(const uint8_t* buf, size_t n, size_t* need, HelloInfo* out) {
  if (n < sizeof(avec_frame_hdr)) {
    *need = kHelloFixedLen;
    return HelloStatus::kNeedMore;
  }
  avec_frame_hdr h;
  std::memcpy(&h, buf, sizeof h);
  if (h.magic != AVEC_WIRE_MAGIC) return HelloStatus::kBadMagic;
  out->request_id = h.request_id;
  if (h.version != AVEC_WIRE_VERSION) return HelloStatus::kBadVersion;
  // Flags as the executor's decoder checks them (frame.cpp): a HELLO the executor would call a bad frame
  // is refused here already (found by fuzz_hello_peek, which compares the two).
  if (h.opcode != AVEC_OP_HELLO || (h.flags & ~static_cast<uint32_t>(AVEC_F_ASYNC)) != 0) return HelloStatus::kBadOpcode;
  if (h.payload_len < sizeof(avec_hello) || h.payload_len > sizeof(avec_hello) + AVEC_MAX_TICKET)
    return HelloStatus::kBadLength;
  if (n < kHelloFixedLen) {
    *need = kHelloFixedLen;
    return HelloStatus::kNeedMore;
  }
  avec_hello hello;
  std::memcpy(&hello, buf + sizeof h, sizeof hello);
  if (hello.ticket_len > AVEC_MAX_TICKET) return HelloStatus::kTicketTooLong;
  if (h.payload_len != sizeof(avec_hello) + hello.ticket_len) return HelloStatus::kBadLength;
  if (hello.wire_version != AVEC_WIRE_VERSION) return HelloStatus::kBadVersion;
  if (!std::memchr(hello.client_host, 0, sizeof hello.client_host)) return HelloStatus::kBadHost;
  const size_t total = kHelloFixedLen + hello.ticket_len;
  if (n < total) {
    *need = total;
    return HelloStatus::kNeedMore;
  }
  out->wire_version = hello.wire_version;
  out->flags = hello.flags;
  out->client_pid = hello.client_pid;
  out->client_host.assign(hello.client_host, strnlen(hello.client_host, sizeof hello.client_host));
  out->ticket.assign(reinterpret_cast<const char*>(buf + kHelloFixedLen), hello.ticket_len);
  out->frame_len = total;
  return HelloStatus::kComplete;
}

static std::string reply_frame(uint32_t request_id, uint32_t status, const std::string& tail) {
  avec_frame_hdr h{};
  h.magic = AVEC_WIRE_MAGIC;
  h.version = AVEC_WIRE_VERSION;
  h.opcode = AVEC_OP_HELLO;
  h.flags = AVEC_F_REPLY;
  h.request_id = request_id;
  h.ctx = 0;
  h.payload_len = static_cast<uint32_t>(sizeof(avec_hello_reply) + tail.size());
  avec_hello_reply r{};
  r.r.status = status;
  std::string out(sizeof h + sizeof r, '\0');
  std::memcpy(out.data(), &h, sizeof h);
  std::memcpy(out.data() + sizeof h, &r, sizeof r);
  return out + tail;
}

std::string hello_reply_frame(uint32_t request_id, uint32_t status) { return reply_frame(request_id, status, ""); }

size_t utf8_prefix_len(const std::string& s, size_t max) {
  if (s.size() <= max) return s.size();
  size_t n = max;
  // Back off over continuation bytes (10xxxxxx) so the cut falls before a lead byte.
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) n--;
  return n;
}

std::string hello_refusal_frame(uint32_t request_id, uint32_t status, uint32_t reason, const std::string& message) {
  avec_hello_refusal f{};
  f.reason = reason;
  f.message_len = static_cast<uint32_t>(utf8_prefix_len(message, AVEC_MAX_REFUSAL_MESSAGE));
  std::string tail(sizeof f, '\0');
  std::memcpy(tail.data(), &f, sizeof f);
  tail.append(message, 0, f.message_len);
  return reply_frame(request_id, status, tail);
}

}  // namespace avec
