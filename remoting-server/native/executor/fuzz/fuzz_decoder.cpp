// libFuzzer target: the pure parsers that see client bytes — the frame decoder (both modes), the
// module image symbol reader and the ticket verifier (base64url, JSON).
#include <cstddef>
#include <cstdint>
#include <string>

#include "../backends/emulated/image_symbols.h"
#include "frame.h"
#include "ticket.h"

using namespace avec;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  for (int partial = 0; partial < 2; partial++) {
    size_t off = 0;
    while (off < size) {
      FrameView v;
      size_t want = 0;
      Decode d = frame_decode(data + off, size - off, &v, partial != 0, &want);
      if (d != Decode::ok) {
        if (d == Decode::need_more && want <= size - off) __builtin_trap();  // must ask for more than it has
        break;
      }
      if (v.frame_len > AVEC_MAX_PAYLOAD + sizeof(avec_frame_hdr)) __builtin_trap();
      if (v.fixed_len + v.tail_len != v.hdr.payload_len) __builtin_trap();
      if (v.tail_pending) break;
      volatile uint8_t sink = 0;
      for (uint32_t i = 0; i < v.tail_len; i += 61) sink ^= v.tail[i];  // every byte of the view is readable
      (void)sink;
      off += v.frame_len;
    }
  }
  uint64_t sz = 0;
  image_find_function(data, size, "_Z6kernelPf");
  image_find_global(data, size, "table", &sz);
  static TicketVerifier ver({{"k1", std::vector<uint8_t>(32, 7)}}, "node-a", [] { return 1790000000LL; });
  std::string why;
  ver.verify(std::string(reinterpret_cast<const char*>(data), size), &why);
  return 0;
}
