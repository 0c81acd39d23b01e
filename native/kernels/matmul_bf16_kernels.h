// The per-ISA half of the bfloat16 GEMM behind float32 matmul precision 'medium': float32 operands
// are rounded to bfloat16 (nearest even) as they are packed, multiplied in pairs and accumulated in
// float32. The ISA-neutral half (blocking, threading) is matmul_bf16_driver.cc.
#pragma once
#include <cstdint>

namespace sa {

// A "pair" is a uint32_t holding two bfloat16 values adjacent along K: element 2q in the low half,
// 2q + 1 in the high half (zero past an odd K). k floats of depth make ceil(k / 2) pairs.
//
// Packed A: ceil(m / mr) panels of mr rows, panel r at out + r * kPairs * mr, pair (i, q) at
// [q * mr + i - r * mr]; rows past m are zero. Packed B: ceil(n / nr) panels of nr columns, panel r
// at out + r * panelStride, pair (q, j) at [q * nr + j - r * nr]; columns past n are zero.
// The sources are op(A) [m x k] and op(B) [k x n] with the transposes of matmul_kernels.h.
using MatmulBf16PackAFn = void (*)(const float* a, int64_t lda, bool transA, int64_t m, int64_t k, uint32_t* out);
using MatmulBf16PackBFn = void (*)(const float* b, int64_t ldb, bool transB, int64_t k, int64_t n, uint32_t* out,
                                   int64_t panelStride);
// The same packings from operands already in bfloat16 (uint16 bit patterns): no rounding, the
// panels hold the same pairs as packing the float32 values those bit patterns stand for.
using MatmulBf16PackAFromBf16Fn = void (*)(const uint16_t* a, int64_t lda, bool transA, int64_t m, int64_t k,
                                           uint32_t* out);
using MatmulBf16PackBFromBf16Fn = void (*)(const uint16_t* b, int64_t ldb, bool transB, int64_t k, int64_t n,
                                           uint32_t* out, int64_t panelStride);

// C[m x n] = (accumulate ? C : 0) + A.B (+ bias[j] in column j) over kPairs >= 1 pairs, A one packed
// panel (stride mr), B one packed panel (stride nr); 1 <= m <= mr, 1 <= n <= nr. Writes only
// C[i, j] for i < m, j < n.
using MatmulBf16TileFn = void (*)(int64_t kPairs, const uint32_t* a, const uint32_t* b, float* c, int64_t ldc, int m,
                                  int n, bool accumulate, const float* bias);

// The same tile with A read in place instead of packed: pair (i, q) at a[i * aStride + q], a bfloat16
// A without transA (each pair one aligned 32-bit word of its row).
using MatmulBf16RowMajorTileFn = void (*)(int64_t kPairs, const uint32_t* a, int64_t aStride, const uint32_t* b,
                                          float* c, int64_t ldc, int m, int n, bool accumulate, const float* bias);

struct MatmulBf16Kernels {
  const char* name;
  int mr, nr;
  MatmulBf16TileFn tile;
  MatmulBf16PackAFn packA;
  MatmulBf16PackBFn packB;
  MatmulBf16PackAFromBf16Fn packAFromBf16;
  MatmulBf16PackBFromBf16Fn packBFromBf16;
  MatmulBf16RowMajorTileFn tileRowMajorA = nullptr;  // nullptr: A is always packed
};

}  // namespace sa
