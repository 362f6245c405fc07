#include "errors.h"

#include "frame.h"
#include "log.h"

namespace avec {

bool cuda_error_is_sticky(uint32_t s) {
  switch (s) {
    case 214:  // CUDA_ERROR_ECC_UNCORRECTABLE
    case 220:  // CUDA_ERROR_NVLINK_UNCORRECTABLE
    case 226:  // CUDA_ERROR_CONTAINED
    case 700:  // CUDA_ERROR_ILLEGAL_ADDRESS
    case 702:  // CUDA_ERROR_LAUNCH_TIMEOUT
    case 710:  // CUDA_ERROR_ASSERT
    case 714:  // CUDA_ERROR_HARDWARE_STACK_ERROR
    case 715:  // CUDA_ERROR_ILLEGAL_INSTRUCTION
    case 716:  // CUDA_ERROR_MISALIGNED_ADDRESS
    case 717:  // CUDA_ERROR_INVALID_ADDRESS_SPACE
    case 718:  // CUDA_ERROR_INVALID_PC
    case 719:  // CUDA_ERROR_LAUNCH_FAILED
    case 721:  // CUDA_ERROR_TENSOR_MEMORY_LEAK
    case 999:  // CUDA_ERROR_UNKNOWN
      return true;
    default:
      return false;
  }
}

void ErrorState::note(uint32_t status, bool deferred) {
  // A failing fire-and-forget call is otherwise invisible until a later reply: say so at info, a few
  // times per session; everything else at debug.
  bool info = (deferred && logged_ < 20) || cuda_error_is_sticky(status);
  if (info) logged_++;
  if (!log_enabled(info ? LogLevel::info : LogLevel::debug)) return;
  LogLine(info ? LogLevel::info : LogLevel::debug, deferred ? "deferred_error" : "request_failed")
      .str("op", opcode_name(op_))
      .unum("ctx", ctx_)
      .unum("result", status)
      .num("sticky", cuda_error_is_sticky(status) ? 1 : 0);
}

}  // namespace avec
