#include "driver.h"

#include <dlfcn.h>

#include "../../src/log.h"

namespace avec {
namespace {

constexpr const char* kDriverPaths[] = {"libcuda.so.1", "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
                                        "/usr/lib64/libcuda.so.1", "/usr/local/nvidia/lib64/libcuda.so.1",
                                        "/usr/lib/wsl/lib/libcuda.so.1"};

// Opens the real driver; refuses any libcuda.so.1 that is our shim.
void* open_driver(std::string* why) {
  for (const char* path : kDriverPaths) {
    void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) continue;
    if (dlsym(h, "cuAvecShimVersion")) {
      AVEC_LOG(warn, "driver_is_shim").str("path", path).str("action", "skipped");
      dlclose(h);
      continue;
    }
    if (!dlsym(h, "cuGetProcAddress_v2")) {
      dlclose(h);
      continue;
    }
    return h;
  }
  *why = "no usable libcuda.so.1 (the real NVIDIA driver) found";
  return nullptr;
}

}  // namespace

void* load_driver(Driver* d, std::string* why) {
  void* lib = open_driver(why);
  if (!lib) return nullptr;
  auto gpa = reinterpret_cast<CUresult (*)(const char*, void**, int, cuuint64_t, CUdriverProcAddressQueryResult*)>(
      dlsym(lib, "cuGetProcAddress_v2"));
  std::string missing;
  auto resolve = [&](const char* name) -> void* {
    void* p = nullptr;
    CUdriverProcAddressQueryResult st = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    if (gpa(name, &p, 13000, CU_GET_PROC_ADDRESS_DEFAULT, &st) != CUDA_SUCCESS || st != CU_GET_PROC_ADDRESS_SUCCESS)
      p = nullptr;
    if (!p) missing += std::string(missing.empty() ? "" : ",") + name;
    return p;
  };
  // #name is the API name as written (cuMemAlloc), which cuGetProcAddress maps to the current version
  // (cuMemAlloc_v2); decltype(&name) expands the header's macro to that same version's prototype.
#define AVEC_RESOLVE(name) d->p_##name = reinterpret_cast<decltype(d->p_##name)>(resolve(#name));
  AVEC_CUDA_FUNCS(AVEC_RESOLVE)
  if (!missing.empty()) {
    *why = "driver lacks entry points (needs a CUDA 13.0 driver): " + missing;
    return nullptr;
  }
  AVEC_CUDA_OPTIONAL_FUNCS(AVEC_RESOLVE)
#undef AVEC_RESOLVE
  if (!missing.empty()) AVEC_LOG(info, "driver_lacks_optional").str("functions", missing);
  return lib;
}

}  // namespace avec
