// Validation of a data-plane HELLO frame read with MSG_PEEK (see avec_wire.h). Pure: no I/O.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace avec {

constexpr size_t kHelloFixedLen = 24 + 80;  // avec_frame_hdr + avec_hello

struct HelloInfo {
  uint32_t request_id = 0;
  uint32_t wire_version = 0;
  uint32_t flags = 0;
  uint32_t client_pid = 0;
  std::string client_host;
  std::string ticket;
  size_t frame_len = 0;  // header + payload: the bytes to consume when refusing
};

enum class HelloStatus {
  kNeedMore,       // *need says how many bytes must be available before calling again
  kComplete,
  kBadMagic,
  kBadOpcode,      // the first frame is not HELLO (or has flags a client must not set)
  kBadLength,      // payload_len disagrees with ticket_len, or is out of bounds
  kTicketTooLong,
  kBadVersion,     // magic is right but the version is not ours: answered with AVEC_STATUS_VERSION
  kBadHost,        // client_host is not NUL-terminated (the executor's decoder refuses such a HELLO)
};

const char* hello_status_name(HelloStatus s);

// Inspects the first `n` bytes of a connection. Fills `out` as far as the bytes allow (request_id is
// known as soon as the header is, so a version refusal can echo it).
HelloStatus hello_parse(const uint8_t* buf, size_t n, size_t* need, HelloInfo* out);

// Encodes a HELLO reply frame (header + avec_hello_reply, no devices) carrying `status`.
std::string hello_reply_frame(uint32_t request_id, uint32_t status);

// Encodes a refused HELLO reply: avec_hello_reply with `status`, then avec_hello_refusal and `message`
// cut to AVEC_MAX_REFUSAL_MESSAGE bytes at a UTF-8 character boundary.
std::string hello_refusal_frame(uint32_t request_id, uint32_t status, uint32_t reason, const std::string& message);

// The longest prefix of `s` of at most `max` bytes that does not end inside a UTF-8 sequence.
size_t utf8_prefix_len(const std::string& s, size_t max);

}  // namespace avec
