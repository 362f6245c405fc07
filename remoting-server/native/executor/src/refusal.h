// Refused HELLOs: the reply frame (avec_hello_reply + avec_hello_refusal + message, docs/protocol.md) and
// the mapping from ticket verdicts to AVEC_REFUSAL_* codes. Used by the listener (before a session
// process exists) and by the session (tickets checked in the session process, --fd mode).
#pragma once
#include <cstdint>
#include <string>

namespace avec {

struct Refusal {
  uint32_t status = 0;  // AVEC_STATUS_BAD_TICKET or AVEC_STATUS_REFUSED
  uint32_t reason = 0;  // AVEC_REFUSAL_*
  std::string message;  // for a person; cut to AVEC_MAX_REFUSAL_MESSAGE bytes at a UTF-8 boundary
};

// AVEC_REFUSAL_TICKET_* for a TicketVerifier reason ("bad-signature", ...); MALFORMED when unknown.
uint32_t ticket_refusal_reason(const std::string& why);
Refusal ticket_refusal(const std::string& why);
// Just the payload after the frame header (avec_hello_reply, avec_hello_refusal, message bytes).
std::string hello_refusal_payload(const Refusal& r);
// A whole reply frame (header + payload), for writing to a socket directly.
std::string hello_refusal_frame(uint32_t request_id, const Refusal& r);
// A refusal without tail (AVEC_STATUS_VERSION, AVEC_STATUS_BAD_FRAME): header + 8-byte reply header.
std::string status_reply_frame(uint16_t opcode, uint32_t request_id, uint32_t status);

}  // namespace avec
