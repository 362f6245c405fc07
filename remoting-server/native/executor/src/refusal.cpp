#include "refusal.h"

#include <cstring>

#include "avec_wire.h"

namespace avec {

uint32_t ticket_refusal_reason(const std::string& why) {
  if (why == "unknown-kid") return AVEC_REFUSAL_TICKET_UNKNOWN_KEY;
  if (why == "bad-signature") return AVEC_REFUSAL_TICKET_BAD_SIGNATURE;
  if (why == "expired") return AVEC_REFUSAL_TICKET_EXPIRED;
  if (why == "not-yet-valid") return AVEC_REFUSAL_TICKET_NOT_YET_VALID;
  if (why == "wrong-node") return AVEC_REFUSAL_TICKET_WRONG_NODE;
  if (why == "unsupported-version") return AVEC_REFUSAL_TICKET_UNSUPPORTED;
  return AVEC_REFUSAL_TICKET_MALFORMED;
}

Refusal ticket_refusal(const std::string& why) {
  Refusal r;
  r.status = AVEC_STATUS_BAD_TICKET;
  r.reason = ticket_refusal_reason(why);
  r.message = "ticket refused: " + why;
  return r;
}

static size_t utf8_prefix(const std::string& s, size_t max) {
  if (s.size() <= max) return s.size();
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) n--;  // never cut inside a character
  return n;
}

std::string hello_refusal_payload(const Refusal& r) {
  avec_hello_reply rep;
  memset(&rep, 0, sizeof rep);
  rep.r.status = r.status;
  avec_hello_refusal f = {r.reason, (uint32_t)utf8_prefix(r.message, AVEC_MAX_REFUSAL_MESSAGE)};
  std::string out(sizeof rep + sizeof f, '\0');
  memcpy(&out[0], &rep, sizeof rep);
  memcpy(&out[sizeof rep], &f, sizeof f);
  out.append(r.message, 0, f.message_len);
  return out;
}

static std::string frame_with(uint16_t opcode, uint32_t request_id, const std::string& payload) {
  avec_frame_hdr h;
  memset(&h, 0, sizeof h);
  h.magic = AVEC_WIRE_MAGIC;
  h.version = AVEC_WIRE_VERSION;
  h.opcode = opcode;
  h.flags = AVEC_F_REPLY;
  h.request_id = request_id;
  h.payload_len = (uint32_t)payload.size();
  std::string out(sizeof h, '\0');
  memcpy(&out[0], &h, sizeof h);
  return out + payload;
}

std::string hello_refusal_frame(uint32_t request_id, const Refusal& r) {
  return frame_with(AVEC_OP_HELLO, request_id, hello_refusal_payload(r));
}

std::string status_reply_frame(uint16_t opcode, uint32_t request_id, uint32_t status) {
  avec_reply_hdr rh = {status, 0};
  return frame_with(opcode, request_id, std::string(reinterpret_cast<const char*>(&rh), sizeof rh));
}

}  // namespace avec
