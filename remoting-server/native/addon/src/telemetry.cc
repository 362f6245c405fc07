#include "telemetry.h"

#include <dlfcn.h>

#include <mutex>
#include <string>
#include <vector>

namespace avec {

namespace {

// The few NVML entry points we use, declared here so no NVML header is needed at build time.
using nvmlReturn = int;
using nvmlDevice = void*;
struct NvmlMemory { unsigned long long total, free, used; };
struct NvmlUtilization { unsigned int gpu, memory; };

struct Nvml {
  void* lib = nullptr;
  nvmlReturn (*init)() = nullptr;
  nvmlReturn (*count)(unsigned int*) = nullptr;
  nvmlReturn (*handle)(unsigned int, nvmlDevice*) = nullptr;
  nvmlReturn (*uuid)(nvmlDevice, char*, unsigned int) = nullptr;
  nvmlReturn (*name)(nvmlDevice, char*, unsigned int) = nullptr;
  nvmlReturn (*memory)(nvmlDevice, NvmlMemory*) = nullptr;
  nvmlReturn (*util)(nvmlDevice, NvmlUtilization*) = nullptr;
  nvmlReturn (*temp)(nvmlDevice, int, unsigned int*) = nullptr;
  nvmlReturn (*power)(nvmlDevice, unsigned int*) = nullptr;
  nvmlReturn (*shutdown)() = nullptr;
};

std::mutex g_mu;
Nvml g_nvml;              // the loaded, initialised library (lib == nullptr: none yet)
std::string g_nvml_path;  // which library g_nvml is

template <typename F>
bool sym(void* lib, const char* name, F* out) {
  *out = reinterpret_cast<F>(dlsym(lib, name));
  return *out != nullptr;
}

// Loads and initialises NVML from `path` once; a failure is not cached (dlopen failing is cheap, and
// the driver may appear later), and asking for another library replaces the loaded one. Caller holds
// g_mu, and keeps holding it while it uses the functions (shutdownTelemetry may unload them).
bool load_nvml(const std::string& path, Nvml* out, std::string* error) {
  if (g_nvml.lib != nullptr && g_nvml_path == path) {
    *out = g_nvml;
    return true;
  }
  Nvml n;
  n.lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (n.lib == nullptr) {
    const char* e = dlerror();
    *error = std::string("cannot load ") + path + ": " + (e ? e : "unknown error");
    return false;
  }
  bool ok = sym(n.lib, "nvmlInit_v2", &n.init) && sym(n.lib, "nvmlDeviceGetCount_v2", &n.count) &&
            sym(n.lib, "nvmlDeviceGetHandleByIndex_v2", &n.handle) && sym(n.lib, "nvmlDeviceGetUUID", &n.uuid) &&
            sym(n.lib, "nvmlDeviceGetName", &n.name) && sym(n.lib, "nvmlDeviceGetMemoryInfo", &n.memory);
  sym(n.lib, "nvmlDeviceGetUtilizationRates", &n.util);
  sym(n.lib, "nvmlDeviceGetTemperature", &n.temp);
  sym(n.lib, "nvmlDeviceGetPowerUsage", &n.power);
  sym(n.lib, "nvmlShutdown", &n.shutdown);
  if (!ok) {
    *error = path + " lacks a required NVML entry point";
    dlclose(n.lib);
    return false;
  }
  int rc = n.init();
  if (rc != 0) {
    *error = "nvmlInit_v2 failed with " + std::to_string(rc);
    dlclose(n.lib);
    return false;
  }
  if (g_nvml.lib != nullptr) {
    if (g_nvml.shutdown) g_nvml.shutdown();
    dlclose(g_nvml.lib);
  }
  g_nvml = n;
  g_nvml_path = path;
  *out = n;
  return true;
}

struct DeviceSample {
  unsigned index = 0;
  std::string uuid, name;
  double mem_total = 0, mem_used = 0;
  int gpu_util = -1, mem_util = -1, temperature_c = -1;
  double power_mw = -1;
};

class TelemetryWorker : public Napi::AsyncWorker {
 public:
  TelemetryWorker(Napi::Env env, std::string path)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), path_(std::move(path)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    std::lock_guard<std::mutex> g(g_mu);
    Nvml loaded;
    if (!load_nvml(path_, &loaded, &reason_)) return;
    Nvml* n = &loaded;
    unsigned count = 0;
    if (n->count(&count) != 0) {
      reason_ = "nvmlDeviceGetCount_v2 failed";
      return;
    }
    available_ = true;
    for (unsigned i = 0; i < count; ++i) {
      nvmlDevice d = nullptr;
      if (n->handle(i, &d) != 0) continue;
      DeviceSample s;
      s.index = i;
      char buf[256] = {0};
      if (n->uuid(d, buf, sizeof buf) == 0) s.uuid = buf;
      buf[0] = 0;
      if (n->name(d, buf, sizeof buf) == 0) s.name = buf;
      NvmlMemory m{};
      if (n->memory(d, &m) == 0) {
        s.mem_total = static_cast<double>(m.total);
        s.mem_used = static_cast<double>(m.used);
      }
      NvmlUtilization u{};
      if (n->util && n->util(d, &u) == 0) {
        s.gpu_util = static_cast<int>(u.gpu);
        s.mem_util = static_cast<int>(u.memory);
      }
      unsigned t = 0;
      if (n->temp && n->temp(d, 0 /* NVML_TEMPERATURE_GPU */, &t) == 0) s.temperature_c = static_cast<int>(t);
      unsigned p = 0;
      if (n->power && n->power(d, &p) == 0) s.power_mw = p;
      samples_.push_back(s);
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("available", available_);
    if (!available_) o.Set("reason", reason_);
    Napi::Array arr = Napi::Array::New(env, samples_.size());
    for (size_t i = 0; i < samples_.size(); ++i) {
      const DeviceSample& s = samples_[i];
      Napi::Object d = Napi::Object::New(env);
      d.Set("index", s.index);
      d.Set("uuid", s.uuid);
      d.Set("name", s.name);
      d.Set("memoryTotalBytes", s.mem_total);
      d.Set("memoryUsedBytes", s.mem_used);
      if (s.gpu_util >= 0) d.Set("gpuUtilizationPercent", s.gpu_util);
      if (s.mem_util >= 0) d.Set("memoryUtilizationPercent", s.mem_util);
      if (s.temperature_c >= 0) d.Set("temperatureC", s.temperature_c);
      if (s.power_mw >= 0) d.Set("powerMilliwatts", s.power_mw);
      arr.Set(static_cast<uint32_t>(i), d);
    }
    o.Set("devices", arr);
    deferred_.Resolve(o);
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_;
  bool available_ = false;
  std::string reason_;
  std::vector<DeviceSample> samples_;
};

}  // namespace

// shutdownTelemetry(): nvmlShutdown and unload, so the next read starts afresh. Cheap; runs inline.
Napi::Value ShutdownTelemetry(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> g(g_mu);
  bool was = g_nvml.lib != nullptr;
  if (was) {
    if (g_nvml.shutdown) g_nvml.shutdown();
    dlclose(g_nvml.lib);
    g_nvml = Nvml();
    g_nvml_path.clear();
  }
  return Napi::Boolean::New(info.Env(), was);
}

Napi::Value ReadTelemetry(const Napi::CallbackInfo& info) {
  std::string path = "libnvidia-ml.so.1";
  if (info.Length() > 0 && info[0].IsString()) path = info[0].As<Napi::String>();
  auto* w = new TelemetryWorker(info.Env(), path);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace avec
