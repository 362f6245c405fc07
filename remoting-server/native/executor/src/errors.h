// Deferred and sticky error state of a session (see docs/protocol.md, "Deferred errors").
#pragma once
#include <cstdint>

namespace avec {

// CUDA errors after which the context is unusable: every later call reports them.
bool cuda_error_is_sticky(uint32_t status);

class ErrorState {
 public:
  // Result of a fire-and-forget operation: the first error is kept for the next synchronous reply.
  void record_async(uint32_t status) {
    if (status == 0) return;
    if (cuda_error_is_sticky(status) && !sticky_) sticky_ = status;
    if (!deferred_) deferred_ = status;
  }
  // Result of a synchronous operation itself (a sticky one poisons the session).
  void record_sync(uint32_t status) {
    if (cuda_error_is_sticky(status) && !sticky_) sticky_ = status;
  }
  uint32_t sticky() const { return sticky_; }
  // The status a synchronous request must answer before running: the sticky error, else a deferred
  // error (which this clears), else 0 (run the operation).
  uint32_t take_pending() {
    if (sticky_) { deferred_ = 0; return sticky_; }
    uint32_t d = deferred_;
    deferred_ = 0;
    return d;
  }
  uint32_t deferred() const { return deferred_; }

 private:
  uint32_t deferred_ = 0;
  uint32_t sticky_ = 0;
};

}  // namespace avec
