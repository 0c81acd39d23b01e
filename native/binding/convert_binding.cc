// convert(arrays, descriptor): Tensor.to between float32 (a Float32Array) and the 16-bit floats
// (bfloat16, float16: Uint16Arrays). arrays { src, dst }; descriptor SA_CONVERT_FIELDS
// (binding/layouts.h) followed by the source's shape[rank] and strides[rank]; dst is contiguous and
// holds every element. Runs on the calling thread (and the pool), like PyTorch's synchronous .to.
#include <napi.h>

#include <cstdint>
#include <vector>

#include "binding/arguments.h"
#include "binding/layouts.h"
#include "binding/ops.h"
#include "kernels/convert.h"
#include "runtime/dispatch.h"

namespace sa {
namespace binding {

namespace {

// The array named `name` as the typed array of `type`: its data pointer and length in elements.
struct RawArray {
  void* data;
  int64_t length;
};

RawArray arrayOf(Arrays& arrays, const char* name, ElementType type) {
  if (type == ElementType::Float32) {
    ArrayArg<float> a = arrays.required<float>(name);
    return {a.data, a.length};
  }
  ArrayArg<uint16_t> a = arrays.required<uint16_t>(name);
  return {a.data, a.length};
}

constexpr int64_t kMaxRank = 64;

}  // namespace

Napi::Value Convert(const Napi::CallbackInfo& info) {
  using F = ConvertLayout::F;
  Napi::Env env = info.Env();
  Arrays arrays = Arrays::of<ConvertLayout>(info, "convert", false);
  const Descriptor d = Descriptor::of<ConvertLayout>(info[0], "convert");
  const ElementType from = static_cast<ElementType>(d.integer(F::from, 0, 2));
  const ElementType to = static_cast<ElementType>(d.integer(F::to, 0, 2));
  const int64_t rank = d.integer(F::rank, 1, kMaxRank);
  d.requireTail(2 * rank);
  const int64_t offset = d.integer(F::srcOffset);
  std::vector<int64_t> shape(rank), strides(rank);
  int64_t total = 1;
  for (int64_t i = 0; i < rank; ++i) {
    shape[i] = d.integer(F::count + i);
    strides[i] = d.integer(F::count + rank + i);
    // Each dimension is below 2^53 and the product is checked against dst's length as it grows.
    total = shape[i] == 0 || total == 0 ? 0 : (total > Descriptor::kMaxIndex / shape[i] ? -1 : total * shape[i]);
    if (total < 0) throwRangeError(env, "ERR_OUT_OF_BOUNDS", "native convert: the shape is too large");
  }
  const RawArray src = arrayOf(arrays, "src", from);
  const RawArray dst = arrayOf(arrays, "dst", to);
  if (!stridedBlockFits(offset, shape.data(), strides.data(), static_cast<int>(rank), src.length) ||
      dst.length < total) {
    throwRangeError(env, "ERR_OUT_OF_BOUNDS", "native convert: src's view or dst reaches past its data");
  }
  if (total == 0) return env.Undefined();
  const ConvertKernels* kernels = convertKernelsFor(activeKernels().isa);
  const StridedSource view{src.data, from, offset, static_cast<int>(rank), shape.data(), strides.data()};
  convertStrided(*kernels, view, to, dst.data);
  return env.Undefined();
}

}  // namespace binding
}  // namespace sa
