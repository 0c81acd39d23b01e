// linearAttention / linearAttentionAsync(arrays, descriptor): causal or non-causal linear attention,
// optionally carrying a state (the streaming form, causal only). arrays { query, key, value, out,
// state }; descriptor: SA_LINEAR_ATTENTION_FIELDS (binding/layouts.h; featureMap 0 elu+1, 1 relu).
// state: absent, or B * H states of dk * dv + dk floats from stateOffset (S row-major [dk, dv], then z).
#include <napi.h>

#include <cmath>
#include <memory>
#include <string>

#include "binding/arguments.h"
#include "binding/layouts.h"
#include "binding/async_job.h"
#include "binding/ops.h"
#include "kernels/linear_attention.h"
#include "runtime/dispatch.h"

namespace sa {
namespace binding {

namespace {

// Head dimensions up to 1024: the per-thread state scratch is then at most 4 MiB.
constexpr int64_t kMaxHeadDim = 1024;

using F = LinearAttentionLayout::F;

// A [B, H, L, d] view whose four fields start at `offsetField`; fills its strides, returns its base.
const float* view(Napi::Env env, const Descriptor& d, int64_t offsetField, const ArrayArg<float>& a, int64_t B,
                  int64_t H, int64_t L, int64_t dim, const char* name, int64_t& sB, int64_t& sH, int64_t& sL) {
  const int64_t offset = d.integer(offsetField);
  sB = d.integer(offsetField + 1), sH = d.integer(offsetField + 2), sL = d.integer(offsetField + 3);
  requireFits(env, "linearAttention", name, offset, {B, H, L, dim}, {sB, sH, sL, 1}, a.length);
  const bool empty = B == 0 || H == 0 || L == 0;
  return empty ? a.data : a.data + offset;
}

}  // namespace

Napi::Value LinearAttention(const Napi::CallbackInfo& info, bool async) {
  Napi::Env env = info.Env();
  Arrays arrays = Arrays::of<LinearAttentionLayout>(info, "linearAttention", async);
  auto p = std::make_shared<LinearAttentionProblem>();
  const Descriptor d = Descriptor::of<LinearAttentionLayout>(info[0], "linearAttention");
  p->batch = d.integer(F::batch);
  p->heads = d.integer(F::heads);
  p->Lq = d.integer(F::Lq);
  p->Lk = d.integer(F::Lk);
  p->dk = d.integer(F::dk, 1, kMaxHeadDim);
  p->dv = d.integer(F::dv, 1, kMaxHeadDim);
  p->featureMap = static_cast<FeatureMap>(d.integer(F::featureMap, 0, 1));
  p->causal = d.flag(F::causal);
  p->eps = static_cast<float>(d.number(F::eps));
  // The causal form runs query i against keys 0..i: only Lk = Lq keeps it inside the key views.
  if (p->causal && p->Lq != p->Lk)
    throwRangeError(env, "ERR_SHAPE_MISMATCH", "native linearAttention: causal needs Lq == Lk");
  const int64_t B = p->batch, H = p->heads;
  if (B > 0 && H > (int64_t(1) << 48) / B)
    throwRangeError(env, "ERR_SIZE_OVERFLOW", "native linearAttention: too many heads");
  p->q = view(env, d, F::qOffset, arrays.required<float>("query"), B, H, p->Lq, p->dk, "query", p->qStrideB,
              p->qStrideH, p->qStrideL);
  p->k = view(env, d, F::kOffset, arrays.required<float>("key"), B, H, p->Lk, p->dk, "key", p->kStrideB, p->kStrideH,
              p->kStrideL);
  p->v = view(env, d, F::vOffset, arrays.required<float>("value"), B, H, p->Lk, p->dv, "value", p->vStrideB,
              p->vStrideH, p->vStrideL);
  ArrayArg<float> out = arrays.required<float>("out");
  p->out = const_cast<float*>(
      view(env, d, F::outOffset, out, B, H, p->Lq, p->dv, "out", p->oStrideB, p->oStrideH, p->oStrideL));
  ArrayArg<float> state = arrays.optional<float>("state");
  if (state.data != nullptr) {
    // The non-causal form never reads a state: one passed with it is a caller's bug, not a no-op.
    if (!p->causal)
      throwRangeError(env, "ERR_INVALID_ARGUMENT", "native linearAttention: a state needs the causal form");
    const int64_t offset = d.integer(F::stateOffset);
    const int64_t floats = linearStateFloats(p->dk, p->dv);
    if (B * H > 0) requireFits(env, "linearAttention", "state", offset, {B * H, floats}, {floats, 1}, state.length);
    p->state = state.data + offset;
  }
  auto run = [p] { linearAttention(activeKernels(), *p); };
  return runOrQueue(env, async, run, out.value, arrays);
}

}  // namespace binding
}  // namespace sa
