// softAlign / softAlignAsync(arrays, descriptor): the two softmaxes of the soft alignment over the
// score matrix e that the matmul wrote into weightsAB (kernels/soft_align.h). arrays { weightsAB,
// weightsBA, maskA, maskB }; descriptor: SA_SOFT_ALIGN_FIELDS (binding/layouts.h).
// weightsAB [B, La, Lb] and weightsBA [B, Lb, La] contiguous; maskA [B, La] / maskB [B, Lb]: absent
// or a strided Uint8Array view (nonzero = valid token).
#include <napi.h>

#include <memory>
#include <string>

#include "binding/arguments.h"
#include "binding/layouts.h"
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

void requireLength(Napi::Env env, int64_t length, int64_t rows, int64_t cols, const char* name) {
  if (rows * cols > length) {
    throwRangeError(env, "ERR_OUT_OF_BOUNDS", std::string("native softAlign: ") + name + " is shorter than its shape");
  }
}

// An optional [B, L] token mask whose three fields start at `offsetField`.
const uint8_t* mask(OpArgs<SoftAlignLayout>& args, int64_t offsetField, const char* name, int64_t B, int64_t L,
                    int64_t& strideB, int64_t& strideL) {
  ArrayArg<uint8_t> m = args.arrays.optional<uint8_t>(name);
  if (m.data == nullptr) return nullptr;
  const int64_t offset = args.d.integer(offsetField);
  strideB = args.d.integer(offsetField + 1), strideL = args.d.integer(offsetField + 2);
  requireFits(args.env, "softAlign", name, offset, {B, L}, {strideB, strideL}, m.length);
  return m.data + (B * L > 0 ? offset : 0);
}

}  // namespace

Napi::Value SoftAlign(const Napi::CallbackInfo& info, bool async) {
  using F = SoftAlignLayout::F;
  OpArgs<SoftAlignLayout> args(info, "softAlign", async);
  auto p = std::make_shared<SoftAlignProblem>();
  p->batch = args.d.integer(F::batch), p->La = args.d.integer(F::La), p->Lb = args.d.integer(F::Lb);
  ArrayArg<float> ab = args.arrays.required<float>("weightsAB");
  ArrayArg<float> ba = args.arrays.required<float>("weightsBA");
  if (!productFits(p->batch, p->La) || !productFits(p->batch, p->Lb) || !productFits(p->batch * p->La, p->Lb)) {
    throwRangeError(args.env, "ERR_SIZE_OVERFLOW", "native softAlign: more than 2^48 weights");
  }
  requireLength(args.env, ab.length, p->batch * p->La, p->Lb, "weightsAB");
  requireLength(args.env, ba.length, p->batch * p->Lb, p->La, "weightsBA");
  p->weightsAB = ab.data;
  p->weightsBA = ba.data;
  p->maskA = mask(args, F::maskAOffset, "maskA", p->batch, p->La, p->maskAStrideB, p->maskAStrideL);
  p->maskB = mask(args, F::maskBOffset, "maskB", p->batch, p->Lb, p->maskBStrideB, p->maskBStrideL);
  auto run = [p] { softAlignWeights(activeKernels(), *p); };
  return runOrQueue(args.env, async, run, ab.value, args.arrays);
}

}  // namespace binding
}  // namespace sa
