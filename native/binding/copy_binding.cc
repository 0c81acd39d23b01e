// copyStrided(arrays, descriptor): dst[view] = src[view] for two strided views of the same shape
// (rank <= 4, last dimension contiguous in both): appending projected keys and values into a KV
// cache, or gathering heads, without a JavaScript loop over the data. arrays { src, dst };
// descriptor: SA_COPY_STRIDED_FIELDS (binding/layouts.h), both views right-aligned to rank 4. Between
// float32 and a 16-bit float the rows are converted (a half-width KV cache's appends and reads).
#include <napi.h>

#include <cstring>
#include <vector>

#include "binding/arguments.h"
#include "binding/layouts.h"
#include "binding/ops.h"
#include "kernels/convert.h"
#include "runtime/dispatch.h"

namespace sa {
namespace binding {

namespace {

struct RawArray {
  char* data;
  int64_t length;
};

RawArray arrayOf(Arrays& arrays, const char* name, ElementType type) {
  if (type == ElementType::Float32) {
    ArrayArg<float> a = arrays.required<float>(name);
    return {reinterpret_cast<char*>(a.data), a.length};
  }
  ArrayArg<uint16_t> a = arrays.required<uint16_t>(name);
  return {reinterpret_cast<char*>(a.data), a.length};
}

// Converts one row of n elements between two different types (one of them float32).
void convertRow(const ConvertKernels& k, ElementType from, ElementType to, const char* src, char* dst, int64_t n) {
  const auto* f32 = reinterpret_cast<const float*>(src);
  const auto* u16 = reinterpret_cast<const uint16_t*>(src);
  if (to == ElementType::BFloat16) return k.floatToBf16(f32, reinterpret_cast<uint16_t*>(dst), n);
  if (to == ElementType::Float16) return k.floatToHalf(f32, reinterpret_cast<uint16_t*>(dst), n);
  if (from == ElementType::BFloat16) return k.bf16ToFloat(u16, reinterpret_cast<float*>(dst), n);
  k.halfToFloat(u16, reinterpret_cast<float*>(dst), n);
}

}  // namespace

Napi::Value CopyStrided(const Napi::CallbackInfo& info) {
  using F = CopyStridedLayout::F;
  Napi::Env env = info.Env();
  Arrays arrays = Arrays::of<CopyStridedLayout>(info, "copyStrided", false);
  const Descriptor d = Descriptor::of<CopyStridedLayout>(info[0], "copyStrided");
  const auto srcType = static_cast<ElementType>(d.integer(F::srcType, 0, 2));
  const auto dstType = static_cast<ElementType>(d.integer(F::dstType, 0, 2));
  if (srcType != dstType && srcType != ElementType::Float32 && dstType != ElementType::Float32) {
    throwRangeError(env, "ERR_INVALID_DTYPE", "native copyStrided: converts only from or to float32");
  }
  const RawArray src = arrayOf(arrays, "src", srcType);
  const RawArray dst = arrayOf(arrays, "dst", dstType);
  const int64_t dims[4] = {d.integer(F::dim0), d.integer(F::dim1), d.integer(F::dim2), d.integer(F::dim3)};
  const int64_t ss[4] = {d.integer(F::srcStride0), d.integer(F::srcStride1), d.integer(F::srcStride2), 1};
  const int64_t ds[4] = {d.integer(F::dstStride0), d.integer(F::dstStride1), d.integer(F::dstStride2), 1};
  const int64_t srcOffset = d.integer(F::srcOffset), dstOffset = d.integer(F::dstOffset);
  if (!stridedBlockFits(srcOffset, dims, ss, 4, src.length) || !stridedBlockFits(dstOffset, dims, ds, 4, dst.length)) {
    throwRangeError(env, "ERR_OUT_OF_BOUNDS", "native copyStrided: a view reaches past its data");
  }
  if (dims[0] == 0 || dims[1] == 0 || dims[2] == 0 || dims[3] == 0) return env.Undefined();
  const int64_t srcSize = srcType == ElementType::Float32 ? 4 : 2, dstSize = dstType == ElementType::Float32 ? 4 : 2;
  const ConvertKernels* kernels = srcType == dstType ? nullptr : convertKernelsFor(activeKernels().isa);
  const size_t rowBytes = static_cast<size_t>(dims[3] * srcSize);
  for (int64_t a = 0; a < dims[0]; ++a)
    for (int64_t b = 0; b < dims[1]; ++b)
      for (int64_t c = 0; c < dims[2]; ++c) {
        const char* from = src.data + (srcOffset + a * ss[0] + b * ss[1] + c * ss[2]) * srcSize;
        char* to = dst.data + (dstOffset + a * ds[0] + b * ds[1] + c * ds[2]) * dstSize;
        // memmove: source and destination may be views of the same buffer.
        if (kernels == nullptr) {
          std::memmove(to, from, rowBytes);
        } else {
          convertRow(*kernels, srcType, dstType, from, to, dims[3]);
        }
      }
  return env.Undefined();
}

}  // namespace binding
}  // namespace sa
