// The native functions exported to JavaScript (see addon.cc). An op that can run off the event loop
// takes `async`: addon.cc exports it twice, as `op` (async false) and `opAsync` (async true).
#pragma once
#include <napi.h>

namespace sa {
namespace binding {

using AsyncCapableOp = Napi::Value (*)(const Napi::CallbackInfo& info, bool async);

Napi::Value Matmul(const Napi::CallbackInfo& info, bool async);
Napi::Value Attention(const Napi::CallbackInfo& info, bool async);
Napi::Value AttentionWeights(const Napi::CallbackInfo& info, bool async);
Napi::Value Seq2Seq(const Napi::CallbackInfo& info, bool async);
Napi::Value LinearAttention(const Napi::CallbackInfo& info, bool async);
Napi::Value Rotary(const Napi::CallbackInfo& info, bool async);
Napi::Value SoftAlign(const Napi::CallbackInfo& info, bool async);
Napi::Value ChannelPool(const Napi::CallbackInfo& info, bool async);
Napi::Value ChannelGate(const Napi::CallbackInfo& info, bool async);
Napi::Value SpatialGate(const Napi::CallbackInfo& info, bool async);
Napi::Value Activate(const Napi::CallbackInfo& info, bool async);
Napi::Value AttentionBlockStepOp(const Napi::CallbackInfo& info, bool async);

Napi::Value CopyStrided(const Napi::CallbackInfo& info);
Napi::Value Convert(const Napi::CallbackInfo& info);
Napi::Value AllocateHugePages(const Napi::CallbackInfo& info);
Napi::Value AdviseHugePages(const Napi::CallbackInfo& info);
Napi::Value PackWeight(const Napi::CallbackInfo& info);
Napi::Value MatmulPanelWidth(const Napi::CallbackInfo& info);
Napi::Value SetFloat32MatmulPrecision(const Napi::CallbackInfo& info);
Napi::Value GetFloat32MatmulPrecision(const Napi::CallbackInfo& info);

}  // namespace binding
}  // namespace sa
