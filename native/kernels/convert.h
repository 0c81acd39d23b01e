// Conversions between float32 and the 16-bit floats: bfloat16 (float32's top half) and IEEE float16.
// Narrowing rounds to nearest, ties to even, subnormals included; a NaN stays a NaN (quiet, sign and
// top payload bits kept); float16 overflow gives +-Infinity. Widening is exact (a float16 NaN is
// quieted, as F16C and NEON do; bfloat16 bits are shifted as they are). Every ISA gives the same bits.
#pragma once
#include <cstdint>

#include "runtime/isa.h"

namespace sa {

// Contiguous runs of n elements (n may be 0); src and dst do not overlap.
struct ConvertKernels {
  void (*floatToBf16)(const float* src, uint16_t* dst, int64_t n);
  void (*floatToHalf)(const float* src, uint16_t* dst, int64_t n);
  void (*bf16ToFloat)(const uint16_t* src, float* dst, int64_t n);
  void (*halfToFloat)(const uint16_t* src, float* dst, int64_t n);
};

// The kernels of one ISA, or nullptr where it is not compiled for this architecture.
const ConvertKernels* convertKernelsFor(Isa isa);

enum class ElementType { Float32 = 0, BFloat16 = 1, Float16 = 2 };

// A strided source: element [i0, ..., i(rank-1)] lies at data[offset + sum(i_k * strides[k])],
// elements of 4 bytes (Float32) or 2 (the 16-bit types).
struct StridedSource {
  const void* data;
  ElementType type;
  int64_t offset;
  int rank;  // >= 1
  const int64_t* shape;
  const int64_t* strides;
};

// Converts every element of `src`, in row-major order, into the contiguous `dst` of type `to`
// (a copy when the types are equal). Splits large sources over the thread pool.
void convertStrided(const ConvertKernels& kernels, const StridedSource& src, ElementType to, void* dst);

}  // namespace sa
