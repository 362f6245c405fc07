// Data-plane TCP listener: accepts on a native thread, peeks each connection's HELLO, hands it to JS, or
// (a joined stripe or callback connection) passes it to its session's executor over the session's channel.
#pragma once
#include <napi.h>

#include <memory>

namespace avec {

struct ListenerCore;

class DataListener : public Napi::ObjectWrap<DataListener> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit DataListener(const Napi::CallbackInfo& info);
  ~DataListener() override;

 private:
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Refuse(const Napi::CallbackInfo& info);
  Napi::Value Release(const Napi::CallbackInfo& info);
  Napi::Value Stop(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value OpenJoinChannel(const Napi::CallbackInfo& info);
  Napi::Value CloseJoinChannel(const Napi::CallbackInfo& info);

  std::shared_ptr<ListenerCore> core_;
  Napi::FunctionReference on_event_;
};

}  // namespace avec
