// copyStrided(arrays, descriptor): dst[view] = src[view] for two strided views of the same shape
// (rank <= 4, last dimension contiguous in both): appending projected keys and values into a KV
// cache, or gathering heads, without a JavaScript loop over the data. arrays { src, dst };
// descriptor: SA_COPY_STRIDED_FIELDS (binding/layouts.h), both views right-aligned to rank 4.
#include <napi.h>

#include <cstring>
#include <vector>

#include "binding/arguments.h"
#include "binding/layouts.h"
#include "binding/ops.h"

namespace sa {
namespace binding {

Napi::Value CopyStrided(const Napi::CallbackInfo& info) {
  using F = CopyStridedLayout::F;
  Napi::Env env = info.Env();
  Arrays arrays = Arrays::of<CopyStridedLayout>(info, "copyStrided", false);
  ArrayArg<float> src = arrays.required<float>("src");
  ArrayArg<float> dst = arrays.required<float>("dst");
  const Descriptor d = Descriptor::of<CopyStridedLayout>(info[0], "copyStrided");
  const int64_t dims[4] = {d.integer(F::dim0), d.integer(F::dim1), d.integer(F::dim2), d.integer(F::dim3)};
  const int64_t ss[4] = {d.integer(F::srcStride0), d.integer(F::srcStride1), d.integer(F::srcStride2), 1};
  const int64_t ds[4] = {d.integer(F::dstStride0), d.integer(F::dstStride1), d.integer(F::dstStride2), 1};
  const int64_t srcOffset = d.integer(F::srcOffset), dstOffset = d.integer(F::dstOffset);
  if (!stridedBlockFits(srcOffset, dims, ss, 4, src.length) || !stridedBlockFits(dstOffset, dims, ds, 4, dst.length)) {
    throwRangeError(env, "ERR_OUT_OF_BOUNDS", "native copyStrided: a view reaches past its data");
  }
  if (dims[0] == 0 || dims[1] == 0 || dims[2] == 0 || dims[3] == 0) return env.Undefined();
  const size_t rowBytes = static_cast<size_t>(dims[3]) * sizeof(float);
  for (int64_t a = 0; a < dims[0]; ++a)
    for (int64_t b = 0; b < dims[1]; ++b)
      for (int64_t c = 0; c < dims[2]; ++c) {
        // memmove: source and destination may be views of the same buffer.
        std::memmove(dst.data + dstOffset + a * ds[0] + b * ds[1] + c * ds[2],
                     src.data + srcOffset + a * ss[0] + b * ss[1] + c * ss[2], rowBytes);
      }
  return env.Undefined();
}

}  // namespace binding
}  // namespace sa
