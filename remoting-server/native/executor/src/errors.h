// Deferred and sticky error state of a session (see docs/protocol.md, "Deferred errors").
#pragma once
#include <cstdint>

namespace avec {

// CUDA errors after which the context is unusable: every later call reports them.
bool cuda_error_is_sticky(uint32_t status);

class ErrorState {
 public:
  // The frame being executed (for logs and to remember which context a sticky error poisoned).
  void set_frame(uint32_t opcode, uint32_t ctx) { op_ = opcode; ctx_ = ctx; }
  // Result of a fire-and-forget operation: the first error is kept for the next synchronous reply.
  void record_async(uint32_t status) {
    if (status == 0) return;
    note(status, true);
    if (cuda_error_is_sticky(status) && !sticky_) { sticky_ = status; sticky_ctx_ = ctx_; }
    if (!deferred_) deferred_ = status;
  }
  // Result of a synchronous operation itself (a sticky one poisons the session).
  void record_sync(uint32_t status) {
    if (status == 0) return;
    note(status, false);
    if (cuda_error_is_sticky(status) && !sticky_) { sticky_ = status; sticky_ctx_ = ctx_; }
  }
  uint32_t sticky() const { return sticky_; }
  uint32_t sticky_ctx() const { return sticky_ctx_; }
  // The status a synchronous request must answer before running: the sticky error, else a deferred
  // error (which this clears), else 0 (run the operation).
  uint32_t take_pending() {
    if (sticky_) { deferred_ = 0; return sticky_; }
    uint32_t d = deferred_;
    deferred_ = 0;
    return d;
  }
  uint32_t deferred() const { return deferred_; }
  // The poisoned context was reset or destroyed: the session is usable again.
  void clear() { deferred_ = sticky_ = sticky_ctx_ = 0; }

 private:
  void note(uint32_t status, bool deferred);  // logs failures (debug; the first few deferred ones at info)
  uint32_t deferred_ = 0;
  uint32_t sticky_ = 0;
  uint32_t sticky_ctx_ = 0;
  uint32_t op_ = 0, ctx_ = 0;
  uint32_t logged_ = 0;
};

}  // namespace avec
