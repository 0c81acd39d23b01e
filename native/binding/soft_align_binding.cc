// softAlign(weightsAB, weightsBA, maskA, maskB, descriptor, async): the two softmaxes of the soft
// alignment over the score matrix e that the matmul wrote into weightsAB (kernels/soft_align.h).
// descriptor (Float64Array): [B, La, Lb, maskAOffset, maskAStrideB, maskAStrideL, maskBOffset,
//   maskBStrideB, maskBStrideL]; weightsAB [B, La, Lb] and weightsBA [B, Lb, La] contiguous;
// maskA [B, La] / maskB [B, Lb]: null or a strided Uint8Array view (nonzero = valid token).
#include <napi.h>

#include <memory>
#include <string>

#include "binding/arguments.h"
#include "binding/async_job.h"
#include "binding/ops.h"
#include "kernels/soft_align.h"
#include "runtime/dispatch.h"

namespace sa {
namespace binding {

namespace {

constexpr int64_t kMaxElements = int64_t(1) << 48;

// a * b <= 2^48, decided without forming a product that could overflow.
bool productFits(int64_t a, int64_t b) { return a == 0 || b <= kMaxElements / a; }

void requireMask(Napi::Env env, const ArrayArg<uint8_t>& m, int64_t offset, int64_t B, int64_t L, int64_t sB, int64_t sL,
                 const char* name) {
  const int64_t dims[2] = {B, L}, strides[2] = {sB, sL};
  if (!stridedBlockFits(offset, dims, strides, 2, m.length)) {
    throwRangeError(env, "ERR_OUT_OF_BOUNDS", std::string("native softAlign: ") + name + "'s view reaches past its data");
  }
}

void requireLength(Napi::Env env, int64_t length, int64_t rows, int64_t cols, const char* name) {
  if (rows * cols > length) {
    throwRangeError(env, "ERR_OUT_OF_BOUNDS", std::string("native softAlign: ") + name + " is shorter than its shape");
  }
}

}  // namespace

Napi::Value SoftAlign(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto p = std::make_shared<SoftAlignProblem>();
  Descriptor d(info[4], "softAlign");
  p->batch = d.integer(0, "batch");
  p->La = d.integer(1, "La");
  p->Lb = d.integer(2, "Lb");
  ArrayArg<float> ab = typedArrayArg<float>(info[0], "weightsAB");
  ArrayArg<float> ba = typedArrayArg<float>(info[1], "weightsBA");
  if (!productFits(p->batch, p->La) || !productFits(p->batch, p->Lb) || !productFits(p->batch * p->La, p->Lb)) {
    throwRangeError(env, "ERR_SIZE_OVERFLOW", "native softAlign: more than 2^48 weights");
  }
  requireLength(env, ab.length, p->batch * p->La, p->Lb, "weightsAB");
  requireLength(env, ba.length, p->batch * p->Lb, p->La, "weightsBA");
  p->weightsAB = ab.data;
  p->weightsBA = ba.data;
  if (!info[2].IsNull() && !info[2].IsUndefined()) {
    ArrayArg<uint8_t> m = typedArrayArg<uint8_t>(info[2], "maskA");
    const int64_t offset = d.integer(3, "maskA offset");
    p->maskAStrideB = d.integer(4, "maskA stride");
    p->maskAStrideL = d.integer(5, "maskA stride");
    requireMask(env, m, offset, p->batch, p->La, p->maskAStrideB, p->maskAStrideL, "maskA");
    p->maskA = m.data + (p->batch * p->La > 0 ? offset : 0);
  }
  if (!info[3].IsNull() && !info[3].IsUndefined()) {
    ArrayArg<uint8_t> m = typedArrayArg<uint8_t>(info[3], "maskB");
    const int64_t offset = d.integer(6, "maskB offset");
    p->maskBStrideB = d.integer(7, "maskB stride");
    p->maskBStrideL = d.integer(8, "maskB stride");
    requireMask(env, m, offset, p->batch, p->Lb, p->maskBStrideB, p->maskBStrideL, "maskB");
    p->maskB = m.data + (p->batch * p->Lb > 0 ? offset : 0);
  }
  auto run = [p] { softAlignWeights(activeKernels(), *p); };
  if (!info[5].ToBoolean().Value()) {
    run();
    return info[0];
  }
  return AsyncJob::start(env, run, info[0], {info[0], info[1], info[2], info[3]});
}

}  // namespace binding
}  // namespace sa
