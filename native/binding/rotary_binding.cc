// rotary(x, out, positions, descriptor, async): the rotary position embedding of x into out.
// descriptor (Float64Array): [B, H, L, d, rotaryDim, base, interleaved (0/1), offset,
//   positionsStrideB (0: one row shared by the batch), xOffset, xStrideB, xStrideH, xStrideL,
//   outOffset, outStrideB, outStrideH, outStrideL]
// positions: null (position of token l = offset + l) or an Int32Array read as [B or 1, L].
#include <napi.h>

#include <cmath>
#include <memory>
#include <string>

#include "binding/arguments.h"
#include "binding/async_job.h"
#include "binding/ops.h"
#include "kernels/rotary.h"
#include "runtime/dispatch.h"

namespace sa {
namespace binding {

Napi::Value Rotary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto p = std::make_shared<RotaryProblem>();
  Descriptor d(info[3], "rotary");
  p->batch = d.integer(0, "batch");
  p->heads = d.integer(1, "heads");
  p->L = d.integer(2, "L");
  p->d = d.integer(3, "d");
  p->rotaryDim = d.integer(4, "rotaryDim", 0, p->d);
  if (p->rotaryDim % 2 != 0) throwRangeError(env, "ERR_INVALID_SHAPE", "native rotary: rotaryDim must be even");
  p->base = d.number(5, "base");
  if (!(p->base > 0.0) || !std::isfinite(p->base)) throwRangeError(env, "ERR_INVALID_OPTION", "native rotary: base must be positive and finite");
  p->interleaved = d.integer(6, "interleaved", 0, 1) == 1;
  p->offset = d.integer(7, "offset");
  p->positionsStrideB = d.integer(8, "positions stride");
  ArrayArg<float> x = typedArrayArg<float>(info[0], "x");
  ArrayArg<float> out = typedArrayArg<float>(info[1], "out");
  const int64_t dims[4] = {p->batch, p->heads, p->L, p->d};
  const int64_t xOff = d.integer(9, "x offset");
  const int64_t xs[4] = {d.integer(10, "x stride"), d.integer(11, "x stride"), d.integer(12, "x stride"), 1};
  const int64_t oOff = d.integer(13, "out offset");
  const int64_t os[4] = {d.integer(14, "out stride"), d.integer(15, "out stride"), d.integer(16, "out stride"), 1};
  if (!stridedBlockFits(xOff, dims, xs, 4, x.length) || !stridedBlockFits(oOff, dims, os, 4, out.length)) {
    throwRangeError(env, "ERR_OUT_OF_BOUNDS", "native rotary: a view reaches past its data");
  }
  const bool empty = p->batch == 0 || p->heads == 0 || p->L == 0 || p->d == 0;
  p->x = x.data + (empty ? 0 : xOff);
  p->out = out.data + (empty ? 0 : oOff);
  p->xStrideB = xs[0], p->xStrideH = xs[1], p->xStrideL = xs[2];
  p->oStrideB = os[0], p->oStrideH = os[1], p->oStrideL = os[2];
  if (!info[2].IsNull() && !info[2].IsUndefined()) {
    ArrayArg<int32_t> positions = typedArrayArg<int32_t>(info[2], "positions");
    const int64_t pd[2] = {p->batch, p->L}, ps[2] = {p->positionsStrideB, 1};
    if (!stridedBlockFits(0, pd, ps, 2, positions.length)) {
      throwRangeError(env, "ERR_SHAPE_MISMATCH", "native rotary: positions is shorter than the tokens it must cover");
    }
    p->positions = positions.data;
  }
  auto run = [p] { rotaryEmbedding(activeKernels(), *p); };
  if (!info[4].ToBoolean().Value()) {
    run();
    return info[1];
  }
  return AsyncJob::start(env, run, info[1], {info[0], info[1], info[2]});
}

}  // namespace binding
}  // namespace sa
