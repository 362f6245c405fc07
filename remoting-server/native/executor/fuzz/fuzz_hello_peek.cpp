// libFuzzer target: the remoting server's HELLO peek (addon/src/hello-peek.cc, the first code that reads
// untrusted bytes there) against the executor's frame decoder, differentially: whenever the peek calls a
// HELLO complete, the decoder must accept the same bytes as that HELLO with the same ticket, and whenever
// the decoder accepts a first-frame HELLO of our wire version, the peek must call it complete.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "frame.h"
#include "hello-peek.h"

using namespace avec;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  HelloInfo info;
  size_t need = 0;
  HelloStatus st = hello_parse(data, size, &need, &info);
  if (st == HelloStatus::kNeedMore && (need <= size || need > kHelloFixedLen + AVEC_MAX_TICKET)) __builtin_trap();
  FrameView v;
  size_t want = 0;
  Decode d = frame_decode(data, size, &v, false, &want);
  if (st == HelloStatus::kComplete) {
    if (info.frame_len > size) __builtin_trap();
    Decode whole = frame_decode(data, info.frame_len, &v);
    if (whole != Decode::ok || v.hdr.opcode != AVEC_OP_HELLO || v.frame_len != info.frame_len) __builtin_trap();
    if (v.tail_len != info.ticket.size() || memcmp(v.tail, info.ticket.data(), v.tail_len) != 0) __builtin_trap();
  }
  if (d == Decode::ok && v.hdr.opcode == AVEC_OP_HELLO) {
    avec_hello h = v.fixed<avec_hello>();
    if (h.wire_version == AVEC_WIRE_VERSION && st != HelloStatus::kComplete) __builtin_trap();
  }
  if (st == HelloStatus::kComplete) (void)hello_refusal_frame(info.request_id, AVEC_STATUS_REFUSED, 1, info.client_host);
  return 0;
}
