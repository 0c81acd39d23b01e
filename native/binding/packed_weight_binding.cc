// packWeight(descriptor, weight, out): packs a weight W [N, K] of y = x W^T into the panels the
// active ISA's matmul micro-kernel reads (kernels/matmul.h, PackedPanels), once, so that matmul with
// descriptor field packedB skips packing it on every call. matmulPanelWidth(): the panels' width,
// for TypeScript to size `out` (packedPanelsFloats). Bounds are re-checked here whatever
// TypeScript did.
#include <napi.h>

#include <string>

#include "binding/arguments.h"
#include "binding/errors.h"
#include "binding/layouts.h"
#include "binding/ops.h"
#include "kernels/matmul.h"
#include "runtime/dispatch.h"

namespace sa {
namespace binding {

Napi::Value PackWeight(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  using F = PackWeightLayout::F;
  Arrays arrays = Arrays::of<PackWeightLayout>(info, "packWeight", false);
  ArrayArg<float> w = arrays.required<float>("weight");
  ArrayArg<float> out = arrays.required<float>("out");
  const Descriptor d = Descriptor::of<PackWeightLayout>(info[0], "packWeight");
  d.requireTail(0);
  const int64_t N = d.integer(F::N), K = d.integer(F::K), offset = d.integer(F::offset), ld = d.integer(F::ld);
  if (N > 1 && ld < K) throwRangeError(env, "ERR_OUT_OF_BOUNDS", "native packWeight: the row stride is below K");
  const int64_t dims[2] = {N, K}, strides[2] = {ld, 1};
  if (!stridedBlockFits(offset, dims, strides, 2, w.length)) {
    throwRangeError(
        env, "ERR_OUT_OF_BOUNDS",
        "native packWeight: weight's view reaches past its data (" + std::to_string(w.length) + " elements)");
  }
  const KernelTable& kernels = activeKernels();
  if (K != 0 && (N > Descriptor::kMaxIndex / K || packedPanelsFloats(kernels, N, K) > out.length)) {
    throwRangeError(env, "ERR_OUT_OF_BOUNDS", "native packWeight: out is shorter than the packed panels");
  }
  if (w.data != nullptr && out.data != nullptr && w.data < out.data + out.length && out.data < w.data + w.length) {
    throwRangeError(env, "ERR_OVERLAPPING_OUTPUT", "native packWeight: out overlaps weight");
  }
  packMatmulWeights(kernels, w.data + offset, ld, N, K, out.data);
  return out.value;
}

Napi::Value MatmulPanelWidth(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), matmulPanelWidth(activeKernels()));
}

}  // namespace binding
}  // namespace sa
