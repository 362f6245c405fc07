// Frame decoder: a pure function from bytes to a validated view of one frame. The session loop and the
// fuzzer both use it; nothing that fails here ever reaches a backend.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "avec_codec.h"
#include "avec_wire.h"

namespace avec {

enum class Decode { ok, need_more, bad };

struct FrameView {
  avec_frame_hdr hdr;      // copied out (the input need not be aligned)
  const uint8_t* payload;  // payload_len bytes (in partial mode only the fixed part is guaranteed)
  uint32_t fixed_len;      // size of the opcode's fixed struct at the start of the payload
  const uint8_t* tail;     // variable part after the fixed struct: ticket, name, data, attrs + params
  uint32_t tail_len;
  bool tail_pending;       // partial mode: tail bytes not yet in the input; the caller reads them itself
  size_t frame_len;        // 24 + payload_len
  const char* error;       // why the frame is bad (Decode::bad)

  template <class T>
  T fixed() const {  // the fixed struct, copied out
    T t{};
    memcpy(&t, payload, sizeof(T) <= fixed_len ? sizeof(T) : fixed_len);
    return t;
  }
};

// Opcodes whose payload is avec_graph_req + node ids (+ edge data) + body.
inline bool frame_is_graph_op(uint32_t op) {
  return (op >= AVEC_OP_GRAPH_CREATE && op <= AVEC_OP_GRAPH_NODE_ENABLE) || op == AVEC_OP_GRAPH_COND_HANDLE_CREATE;
}

// JIT linking, stream attributes and the persisting-L2 reset (session_jit.cpp).
inline bool frame_is_jit_op(uint32_t op) {
  return (op >= AVEC_OP_LINK_CREATE && op <= AVEC_OP_STREAM_COPY_ATTR) || op == AVEC_OP_CTX_RESET_PERSISTING_L2;
}

// Size of the fixed struct an opcode's payload starts with, or -1 for an unknown opcode.
long frame_fixed_size(uint32_t opcode);
// True for opcodes whose payload has a variable tail after the fixed struct.
bool frame_has_tail(uint32_t opcode);
const char* opcode_name(uint32_t opcode);

// Decodes the frame at p[0..n). need_more: more bytes are needed (at least `want` in total when want is
// set). partial_data: for MEMCPY_HTOD, succeed once the header and fixed struct are present and leave
// the data bytes to the caller (tail_pending).
Decode frame_decode(const uint8_t* p, size_t n, FrameView* v, bool partial_data = false, size_t* want = nullptr);

// The tail of a stripe connection's HELLO (AVEC_HELLO_STRIPE_JOIN): nullptr and *out filled, or why not.
const char* stripe_join_decode(const uint8_t* tail, size_t len, avec_stripe_join* out);

}  // namespace avec
