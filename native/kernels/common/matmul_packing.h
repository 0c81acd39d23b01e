// Packing of matmul operands into the panel layouts of matmul_kernels.h (MatmulPackAFn,
// MatmulPackBFn): plain loops, compiled per ISA. matmul_tile-inl.h uses packLinesContiguous as it
// is and replaces packLinesTransposed with an in-register transpose where the ISA has one.
//
// Include this header INSIDE an ISA's target region (after SA_TARGET_*_BEGIN), and include
// <cstdint> before the region: the loops are then vectorised for that ISA. Everything here has
// internal linkage (unnamed namespace) on purpose: two ISA files instantiate the same template with
// different target options, and external linkage would let the linker keep one copy for both — an
// AVX-512 copy reached from the AVX2 path would fault on an AVX2-only CPU.
//
// Both routines pack "lines" (rows of op(A), or columns of op(B)) along the depth p (the K
// dimension) into panels of W lines: panel r holds lines [rW, rW + W) as
// out[r * panelStride + p * W + (line - rW)], and the lines past `lines` are zero-filled.
#pragma once

namespace sa {
namespace {

// Line l, depth p at x[l + p * depthStride]: each panel row is a contiguous run of W floats (op(A)
// with transA, op(B) without transB). The compile-time W makes a full row a few vector moves.
template <int W>
void packLinesContiguous(const float* x, int64_t depthStride, int64_t lines, int64_t depth, float* out,
                         int64_t panelStride) {
  for (int64_t l0 = 0; l0 < lines; l0 += W, out += panelStride) {
    const int count = lines - l0 < W ? static_cast<int>(lines - l0) : W;
    const float* src = x + l0;
    if (count == W) {
      for (int64_t p = 0; p < depth; ++p) {
        for (int j = 0; j < W; ++j) out[p * W + j] = src[p * depthStride + j];
      }
    } else {
      for (int64_t p = 0; p < depth; ++p) {
        for (int j = 0; j < count; ++j) out[p * W + j] = src[p * depthStride + j];
        for (int j = count; j < W; ++j) out[p * W + j] = 0.0f;
      }
    }
  }
}

// Line l, depth p at x[l * lineStride + p]: packing transposes (op(A) without transA, op(B) with
// transB). Walking p in the outer loop would touch W lines lineStride apart at each step; with a
// power-of-two stride they all fall in one L1 set and evict each other, so this walks one line at
// a time through a block of kDepthBlock steps instead (reads sequential, writes into a block of
// the panel small enough to stay in L1).
template <int W>
void packLinesTransposed(const float* x, int64_t lineStride, int64_t lines, int64_t depth, float* out,
                         int64_t panelStride) {
  constexpr int64_t kDepthBlock = 64;
  for (int64_t l0 = 0; l0 < lines; l0 += W, out += panelStride) {
    const int count = lines - l0 < W ? static_cast<int>(lines - l0) : W;
    for (int64_t p0 = 0; p0 < depth; p0 += kDepthBlock) {
      const int64_t p1 = p0 + kDepthBlock < depth ? p0 + kDepthBlock : depth;
      for (int l = 0; l < count; ++l) {
        const float* src = x + (l0 + l) * lineStride;
        for (int64_t p = p0; p < p1; ++p) out[p * W + l] = src[p];
      }
      for (int l = count; l < W; ++l) {
        for (int64_t p = p0; p < p1; ++p) out[p * W + l] = 0.0f;
      }
    }
  }
}

}  // namespace
}  // namespace sa
