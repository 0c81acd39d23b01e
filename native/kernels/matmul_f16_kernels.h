// The per-ISA half of the float16 GEMM (matmul on float16 tensors where the CPU multiplies float16:
// arm64 with FEAT_FHM). It runs on the bf16 GEMM's driver (matmul_bf16_driver.cc) and its pair
// panels (matmul_bf16_kernels.h: pair row q holds depths 2q and 2q + 1, zero past an odd K), but
// a pair row of `width` words is 2 * width float16 laid out by depth: [0, width) depth 2q of each
// line, [width, 2 * width) depth 2q + 1. So a panel is simply K (rounded up to even) rows of
// `width` float16, and a vector load is one depth of consecutive lines.
#pragma once
#include <cstdint>

#include "kernels/matmul_bf16_kernels.h"

namespace sa {

// packA / packB read float16 bit patterns (same arguments as packAFromBf16 / packBFromBf16);
// tile multiplies in float16 and accumulates in float32.
struct MatmulF16Kernels {
  const char* name;
  int mr, nr;
  MatmulBf16TileFn tile;
  MatmulBf16PackAFromBf16Fn packA;
  MatmulBf16PackBFromBf16Fn packB;
};

}  // namespace sa
