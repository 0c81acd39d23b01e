// The native functions exported to JavaScript, one per op family (see addon.cc).
#pragma once
#include <napi.h>

namespace sa {
namespace binding {

Napi::Value Matmul(const Napi::CallbackInfo& info);
Napi::Value Attention(const Napi::CallbackInfo& info);
Napi::Value CopyStrided(const Napi::CallbackInfo& info);
Napi::Value AllocateHugePages(const Napi::CallbackInfo& info);
Napi::Value Seq2Seq(const Napi::CallbackInfo& info);
Napi::Value LinearAttention(const Napi::CallbackInfo& info);
Napi::Value Rotary(const Napi::CallbackInfo& info);
Napi::Value SoftAlign(const Napi::CallbackInfo& info);
Napi::Value ChannelPool(const Napi::CallbackInfo& info);
Napi::Value ChannelGate(const Napi::CallbackInfo& info);
Napi::Value SpatialGate(const Napi::CallbackInfo& info);
Napi::Value Activate(const Napi::CallbackInfo& info);

}  // namespace binding
}  // namespace sa
