// rotary / rotaryAsync(arrays, descriptor): the rotary position embedding of x into out.
// arrays { x, out, positions }; descriptor: SA_ROTARY_FIELDS (binding/layouts.h; positionsStrideB
// 0: one row shared by the batch). positions: absent (position of token l = positionOffset + l) or
// an Int32Array read as [B or 1, L].
#include <napi.h>

#include <cmath>
#include <memory>
#include <string>

#include "binding/arguments.h"
#include "binding/layouts.h"
#include "binding/async_job.h"
#include "binding/ops.h"
#include "kernels/rotary.h"
#include "runtime/dispatch.h"

namespace sa {
namespace binding {

Napi::Value Rotary(const Napi::CallbackInfo& info, bool async) {
  using F = RotaryLayout::F;
  OpArgs<RotaryLayout> args(info, "rotary", async);
  const Napi::Env env = args.env;
  const Descriptor& d = args.d;
  auto p = std::make_shared<RotaryProblem>();
  p->batch = d.integer(F::batch), p->heads = d.integer(F::heads), p->L = d.integer(F::L), p->d = d.integer(F::d);
  p->rotaryDim = d.integer(F::rotaryDim, 0, p->d);
  // Pairs (i, i + rotaryDim / 2) or (2i, 2i + 1): an odd rotaryDim would read one past the rotated part.
  if (p->rotaryDim % 2 != 0) throwRangeError(env, "ERR_INVALID_SHAPE", "native rotary: rotaryDim must be even");
  p->base = d.number(F::base);
  p->interleaved = d.flag(F::interleaved);
  p->offset = d.integer(F::positionOffset);
  p->positionsStrideB = d.integer(F::positionsStrideB);
  ArrayArg<float> x = args.arrays.required<float>("x");
  ArrayArg<float> out = args.arrays.required<float>("out");
  const int64_t xOff = d.integer(F::xOffset), oOff = d.integer(F::outOffset);
  p->xStrideB = d.integer(F::xStrideB), p->xStrideH = d.integer(F::xStrideH), p->xStrideL = d.integer(F::xStrideL);
  p->oStrideB = d.integer(F::outStrideB), p->oStrideH = d.integer(F::outStrideH);
  p->oStrideL = d.integer(F::outStrideL);
  const std::initializer_list<int64_t> dims = {p->batch, p->heads, p->L, p->d};
  requireFits(env, "rotary", "x", xOff, dims, {p->xStrideB, p->xStrideH, p->xStrideL, 1}, x.length);
  requireFits(env, "rotary", "out", oOff, dims, {p->oStrideB, p->oStrideH, p->oStrideL, 1}, out.length);
  const bool empty = p->batch == 0 || p->heads == 0 || p->L == 0 || p->d == 0;
  p->x = x.data + (empty ? 0 : xOff);
  p->out = out.data + (empty ? 0 : oOff);
  ArrayArg<int32_t> positions = args.arrays.optional<int32_t>("positions");
  if (positions.data != nullptr) {
    const int64_t pd[2] = {p->batch, p->L}, ps[2] = {p->positionsStrideB, 1};
    if (!stridedBlockFits(0, pd, ps, 2, positions.length)) {
      throwRangeError(env, "ERR_SHAPE_MISMATCH", "native rotary: positions is shorter than the tokens it must cover");
    }
    p->positions = positions.data;
  }
  auto run = [p] { rotaryEmbedding(activeKernels(), *p); };
  return runOrQueue(env, async, run, out.value, args.arrays);
}

}  // namespace binding
}  // namespace sa
