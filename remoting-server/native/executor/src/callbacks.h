// The session's callback connection: host functions (cuLaunchHostFunc into a capture, graph host nodes)
// are the client's code, so when a stream reaches one the server asks the client to run it and holds the
// stream until the client says it is done (docs/protocol.md, "Host functions"). It is a connection of its
// own, joined like a stripe, because the session's connection may be blocked on a synchronous call that
// waits for the very stream that waits for the host function.
#pragma once
#include <cuda.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "avec_wire.h"
#include "conn.h"

namespace avec {

class CallbackChannel {
 public:
  CallbackChannel() = default;
  ~CallbackChannel();
  CallbackChannel(const CallbackChannel&) = delete;
  CallbackChannel& operator=(const CallbackChannel&) = delete;

  // Takes the callback connection (join index AVEC_JOIN_CALLBACKS) from the listener's `channel`: "" once
  // attached, else why not.
  std::string attach(int channel, uint64_t session_id, const uint8_t token[AVEC_STRIPE_TOKEN_BYTES], int timeout_ms);
  bool attached() const { return conn_ != nullptr; }

  // Device memory the client reads or writes while it runs a host function (mirrors of its host memory).
  using Copy = std::function<CUresult(uint64_t dptr, void* host, size_t n, bool to_device)>;
  // Runs the client's host function `id` (one at a time; callers from several threads wait their turn).
  // True once the client answered DONE; false when the channel is lost or closed: then `on_lost` has run
  // (once, unless close() came first) and every later run returns false at once.
  bool run(uint64_t id, const Copy& copy);
  // Called (from the thread that noticed) when the connection fails while the session lives.
  void set_on_lost(std::function<void(const char* why)> f) { on_lost_ = std::move(f); }
  // The session ends: a run in progress returns false, later ones at once.
  void close();

  uint64_t runs() const { return runs_; }

 private:
  bool fail(const char* why);
  bool serve(uint32_t seq, uint64_t id, const Copy& copy);

  std::unique_ptr<FdConn> conn_;
  std::mutex mu_;
  std::atomic<bool> closed_{false}, lost_{false};
  std::function<void(const char*)> on_lost_;
  uint32_t seq_ = 0;
  std::atomic<uint64_t> runs_{0};
};

}  // namespace avec
