// Rotary embedding of one row (kernels/rotary_kernels.h) written once over a vector-traits class V
// (kernels/common/vec_<isa>.h); kernels/<isa>/rotary_<isa>.cc instantiates it in its target region.
#pragma once
#include <cstdint>

#include "kernels/common/vector_ops-inl.h"
#include "kernels/rotary_kernels.h"

namespace sa {
namespace {

template <class V>
void rotateHalfOf(const float* x, float* y, const float* cos, const float* sin, int64_t half) {
  forEachVector<V>(half, [&](int64_t i, int k) {
    const typename V::F a = loadLanes<V>(x + i, k), b = loadLanes<V>(x + half + i, k);
    const typename V::F c = loadLanes<V>(cos + i, k), s = loadLanes<V>(sin + i, k);
    storeLanes<V>(y + i, V::fmsub(a, c, V::mul(b, s)), k);
    storeLanes<V>(y + half + i, V::fmadd(b, c, V::mul(a, s)), k);
  });
}

// y = x cosDup + swapPairs(x) sinAlt (d even: a tail holds whole pairs).
template <class V>
void rotatePairsOf(const float* x, float* y, const float* cosDup, const float* sinAlt, int64_t d) {
  forEachVector<V>(d, [&](int64_t i, int k) {
    const typename V::F v = loadLanes<V>(x + i, k);
    const typename V::F swapped = V::mul(V::swapPairs(v), loadLanes<V>(sinAlt + i, k));
    storeLanes<V>(y + i, V::fmadd(v, loadLanes<V>(cosDup + i, k), swapped), k);
  });
}

template <class V>
const RotaryKernels* rotaryKernelsOf() {
  static const RotaryKernels k{rotateHalfOf<V>, rotatePairsOf<V>};
  return &k;
}

}  // namespace
}  // namespace sa
