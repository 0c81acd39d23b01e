// linearAttention(q, k, v, out, state, descriptor, async): causal or non-causal linear attention,
// optionally carrying a state (the streaming form, causal only).
// descriptor (Float64Array): [B, H, Lq, Lk, dk, dv, featureMap (0 elu+1, 1 relu), causal (0/1), eps,
//   qOffset, qStrideB, qStrideH, qStrideL, kOffset, kStrideB, kStrideH, kStrideL,
//   vOffset, vStrideB, vStrideH, vStrideL, outOffset, outStrideB, outStrideH, outStrideL, stateOffset]
// state: null, or B * H states of dk * dv + dk floats from stateOffset (S row-major [dk, dv], then z).
#include <napi.h>

#include <cmath>
#include <memory>
#include <string>

#include "binding/arguments.h"
#include "binding/async_job.h"
#include "binding/ops.h"
#include "kernels/linear_attention.h"
#include "runtime/dispatch.h"

namespace sa {
namespace binding {

namespace {

// Head dimensions up to 1024: the per-thread state scratch is then at most 4 MiB.
constexpr int64_t kMaxHeadDim = 1024;

struct View {
  int64_t offset, strideB, strideH, strideL;
};

View readView(const Descriptor& d, int64_t at, const char* name) {
  return {d.integer(at, name), d.integer(at + 1, name), d.integer(at + 2, name), d.integer(at + 3, name)};
}

const float* checkedBase(Napi::Env env, const ArrayArg<float>& a, const View& v, int64_t B, int64_t H, int64_t L, int64_t d,
                         const char* name) {
  const int64_t dims[4] = {B, H, L, d};
  const int64_t strides[4] = {v.strideB, v.strideH, v.strideL, 1};
  if (!stridedBlockFits(v.offset, dims, strides, 4, a.length)) {
    throwRangeError(env, "ERR_OUT_OF_BOUNDS", std::string("native linearAttention: ") + name + "'s view reaches past its data");
  }
  const bool empty = B == 0 || H == 0 || L == 0;
  return empty ? a.data : a.data + v.offset;
}

}  // namespace

Napi::Value LinearAttention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto p = std::make_shared<LinearAttentionProblem>();
  Descriptor d(info[5], "linearAttention");
  p->batch = d.integer(0, "batch");
  p->heads = d.integer(1, "heads");
  p->Lq = d.integer(2, "Lq");
  p->Lk = d.integer(3, "Lk");
  p->dk = d.integer(4, "dk", 1, kMaxHeadDim);
  p->dv = d.integer(5, "dv", 1, kMaxHeadDim);
  p->featureMap = static_cast<FeatureMap>(d.integer(6, "featureMap", 0, 1));
  p->causal = d.integer(7, "causal", 0, 1) == 1;
  const double eps = d.number(8, "eps");
  if (!(eps >= 0.0 && eps <= 1e30)) throwRangeError(env, "ERR_INVALID_OPTION", "native linearAttention: eps must be a finite number >= 0");
  p->eps = static_cast<float>(eps);
  if (p->causal && p->Lq != p->Lk) throwRangeError(env, "ERR_SHAPE_MISMATCH", "native linearAttention: causal needs Lq == Lk");
  const View qv = readView(d, 9, "q view"), kv = readView(d, 13, "k view"), vv = readView(d, 17, "v view"),
             ov = readView(d, 21, "out view");
  ArrayArg<float> q = typedArrayArg<float>(info[0], "query");
  ArrayArg<float> k = typedArrayArg<float>(info[1], "key");
  ArrayArg<float> v = typedArrayArg<float>(info[2], "value");
  ArrayArg<float> out = typedArrayArg<float>(info[3], "out");
  const int64_t B = p->batch, H = p->heads;
  if (B > 0 && H > (int64_t(1) << 48) / B) throwRangeError(env, "ERR_SIZE_OVERFLOW", "native linearAttention: too many heads");
  p->q = checkedBase(env, q, qv, B, H, p->Lq, p->dk, "query");
  p->k = checkedBase(env, k, kv, B, H, p->Lk, p->dk, "key");
  p->v = checkedBase(env, v, vv, B, H, p->Lk, p->dv, "value");
  p->out = const_cast<float*>(checkedBase(env, out, ov, B, H, p->Lq, p->dv, "out"));
  p->qStrideB = qv.strideB, p->qStrideH = qv.strideH, p->qStrideL = qv.strideL;
  p->kStrideB = kv.strideB, p->kStrideH = kv.strideH, p->kStrideL = kv.strideL;
  p->vStrideB = vv.strideB, p->vStrideH = vv.strideH, p->vStrideL = vv.strideL;
  p->oStrideB = ov.strideB, p->oStrideH = ov.strideH, p->oStrideL = ov.strideL;
  if (!info[4].IsNull() && !info[4].IsUndefined()) {
    if (!p->causal) throwRangeError(env, "ERR_INVALID_ARGUMENT", "native linearAttention: a state needs the causal form");
    ArrayArg<float> state = typedArrayArg<float>(info[4], "state");
    const int64_t offset = d.integer(25, "state offset");
    const int64_t dims[2] = {B * H, linearStateFloats(p->dk, p->dv)};
    const int64_t strides[2] = {dims[1], 1};
    if (B * H > 0 && !stridedBlockFits(offset, dims, strides, 2, state.length)) {
      throwRangeError(env, "ERR_OUT_OF_BOUNDS", "native linearAttention: the state is shorter than batch * heads states");
    }
    p->state = state.data + offset;
  }
  auto run = [p] { linearAttention(activeKernels(), *p); };
  if (!info[6].ToBoolean().Value()) {
    run();
    return info[3];
  }
  return AsyncJob::start(env, run, info[3], {info[0], info[1], info[2], info[3], info[4]});
}

}  // namespace binding
}  // namespace sa
