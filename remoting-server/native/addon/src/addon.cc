// Module entry: exports DataListener, readTelemetry and a HELLO parser for unit tests.
#include <napi.h>

#include "avec_wire.h"
#include "data-listener.h"
#include "hello-peek.h"
#include "telemetry.h"

namespace avec {
namespace {

// parseHelloForTest(buffer) -> { status, need?, ticket?, clientPid?, clientHost?, requestId? }
Napi::Value ParseHelloForTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBuffer()) throw Napi::TypeError::New(env, "parseHelloForTest(buffer)");
  auto b = info[0].As<Napi::Buffer<uint8_t>>();
  HelloInfo h;
  size_t need = 0;
  HelloStatus st = hello_parse(b.Data(), b.Length(), &need, &h);
  Napi::Object o = Napi::Object::New(env);
  o.Set("status", hello_status_name(st));
  if (st == HelloStatus::kNeedMore) o.Set("need", static_cast<double>(need));
  if (st == HelloStatus::kComplete) {
    o.Set("ticket", h.ticket);
    o.Set("clientPid", h.client_pid);
    o.Set("clientHost", h.client_host);
    o.Set("requestId", h.request_id);
    o.Set("frameLength", static_cast<double>(h.frame_len));
  }
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("DataListener", DataListener::Init(env));
  exports.Set("readTelemetry", Napi::Function::New(env, ReadTelemetry));
  exports.Set("shutdownTelemetry", Napi::Function::New(env, ShutdownTelemetry));
  exports.Set("parseHelloForTest", Napi::Function::New(env, ParseHelloForTest));
  Napi::Object st = Napi::Object::New(env);
  st.Set("BAD_FRAME", AVEC_STATUS_BAD_FRAME);
  st.Set("BAD_TICKET", AVEC_STATUS_BAD_TICKET);
  st.Set("VERSION", AVEC_STATUS_VERSION);
  st.Set("REFUSED", AVEC_STATUS_REFUSED);
  exports.Set("status", st);
  // The reason codes as the header defines them, so JavaScript's table is checked against them in a test.
  Napi::Object rf = Napi::Object::New(env);
  rf.Set("UNSPECIFIED", AVEC_REFUSAL_UNSPECIFIED);
  rf.Set("TICKET_MALFORMED", AVEC_REFUSAL_TICKET_MALFORMED);
  rf.Set("TICKET_UNKNOWN_KEY", AVEC_REFUSAL_TICKET_UNKNOWN_KEY);
  rf.Set("TICKET_BAD_SIGNATURE", AVEC_REFUSAL_TICKET_BAD_SIGNATURE);
  rf.Set("TICKET_EXPIRED", AVEC_REFUSAL_TICKET_EXPIRED);
  rf.Set("TICKET_NOT_YET_VALID", AVEC_REFUSAL_TICKET_NOT_YET_VALID);
  rf.Set("TICKET_WRONG_NODE", AVEC_REFUSAL_TICKET_WRONG_NODE);
  rf.Set("TICKET_UNSUPPORTED", AVEC_REFUSAL_TICKET_UNSUPPORTED);
  rf.Set("DRAINING", AVEC_REFUSAL_DRAINING);
  rf.Set("NODE_SESSION_LIMIT", AVEC_REFUSAL_NODE_SESSION_LIMIT);
  rf.Set("CLAIM_SESSION_LIMIT", AVEC_REFUSAL_CLAIM_SESSION_LIMIT);
  rf.Set("UNKNOWN_DEVICE", AVEC_REFUSAL_UNKNOWN_DEVICE);
  rf.Set("INSUFFICIENT_MEMORY", AVEC_REFUSAL_INSUFFICIENT_MEMORY);
  rf.Set("COMPUTE_SHARE", AVEC_REFUSAL_COMPUTE_SHARE);
  rf.Set("TOO_MANY_CONNECTIONS", AVEC_REFUSAL_TOO_MANY_CONNECTIONS);
  rf.Set("HELLO_TIMEOUT", AVEC_REFUSAL_HELLO_TIMEOUT);
  rf.Set("STRIPE_REFUSED", AVEC_REFUSAL_STRIPE_REFUSED);
  rf.Set("EXECUTOR_FAILED", AVEC_REFUSAL_EXECUTOR_FAILED);
  rf.Set("SERVER_ERROR", AVEC_REFUSAL_SERVER_ERROR);
  exports.Set("refusal", rf);
  exports.Set("maxRefusalMessage", AVEC_MAX_REFUSAL_MESSAGE);
  exports.Set("wireVersion", AVEC_WIRE_VERSION);
  return exports;
}

}  // namespace
}  // namespace avec

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return avec::Init(env, exports); }

NODE_API_MODULE(avec_addon, InitModule)
