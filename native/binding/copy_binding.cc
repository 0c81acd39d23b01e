// copyStrided(src, dst, descriptor): dst[view] = src[view] for two strided views of the same shape
// (rank <= 4, last dimension contiguous in both): appending projected keys and values into a KV
// cache, or gathering heads, without a JavaScript loop over the data.
// descriptor (Float64Array): [rank, dims..., srcOffset, srcStrides..., dstOffset, dstStrides...]
#include <napi.h>

#include <cstring>
#include <vector>

#include "binding/arguments.h"
#include "binding/ops.h"

namespace sa {
namespace binding {

Napi::Value CopyStrided(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArrayArg<float> src = typedArrayArg<float>(info[0], "source");
  ArrayArg<float> dst = typedArrayArg<float>(info[1], "destination");
  Descriptor d(info[2], "copyStrided");
  const int rank = static_cast<int>(d.integer(0, "rank", 1, 4));
  int64_t dims[4] = {1, 1, 1, 1}, ss[4] = {0, 0, 0, 1}, ds[4] = {0, 0, 0, 1};
  // Right-align into 4 dimensions so one loop nest serves every rank.
  const int pad = 4 - rank;
  for (int i = 0; i < rank; ++i) dims[pad + i] = d.integer(1 + i, "dim");
  const int64_t srcOffset = d.integer(1 + rank, "source offset");
  for (int i = 0; i < rank; ++i) ss[pad + i] = d.integer(2 + rank + i, "source stride");
  const int64_t dstOffset = d.integer(2 + 2 * rank, "destination offset");
  for (int i = 0; i < rank; ++i) ds[pad + i] = d.integer(3 + 2 * rank + i, "destination stride");
  if (dims[3] > 1 && (ss[3] != 1 || ds[3] != 1)) {
    throwRangeError(env, "ERR_NOT_CONTIGUOUS", "native copyStrided: the last dimension must be contiguous");
  }
  ss[3] = ds[3] = 1;
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
