// libFuzzer target: the pure parsers that see client bytes — the frame decoder (both modes), the
// module image symbol reader, the ticket verifier (base64url, JSON), the stripe join and compressed chunks.
#include <cstddef>
#include <cstdint>
#include <cstring>
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
  // The bulk paths' parsers: a stripe's HELLO tail and a compressed chunk (decompressed into a bounded buffer).
  avec_stripe_join j;
  if (!stripe_join_decode(data, size, &j) && j.index >= AVEC_MAX_STRIPES && j.index != AVEC_JOIN_CALLBACKS) __builtin_trap();
  if (size >= sizeof(avec_zchunk)) {
    static uint8_t out[AVEC_CHUNK];
    avec_zchunk z;
    memcpy(&z, data, sizeof z);
    if (!avec_zchunk_check(&z, size - sizeof z) && z.raw_len > AVEC_CHUNK) __builtin_trap();
    avec_codec_decompress(&z, data + sizeof z, size - sizeof z, out);
  }
  uint64_t sz = 0;
  image_find_function(data, size, "_Z6kernelPf");
  image_find_global(data, size, "table", &sz);
  std::vector<std::pair<uint32_t, uint32_t>> layout;
  image_kernel_params(data, size, "kernel", &layout);
  std::vector<std::string> names;
  image_kernel_names(data, size, &names);
  static TicketVerifier ver({{"k1", std::vector<uint8_t>(32, 7)}}, "node-a", [] { return 1790000000LL; });
  std::string why;
  ver.verify(std::string(reinterpret_cast<const char*>(data), size), &why);
  return 0;
}
