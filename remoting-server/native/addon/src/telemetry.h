// Device telemetry through NVML, loaded at run time (the node may have no NVIDIA driver at all).
#pragma once
#include <napi.h>

namespace avec {

// readTelemetry(libraryPath?: string) -> Promise<{ available, reason?, devices: [...] }>
Napi::Value ReadTelemetry(const Napi::CallbackInfo& info);
// shutdownTelemetry() -> boolean (whether NVML was loaded)
Napi::Value ShutdownTelemetry(const Napi::CallbackInfo& info);

}  // namespace avec
