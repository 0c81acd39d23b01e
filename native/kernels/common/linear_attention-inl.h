// Linear attention's feature map written once over a vector-traits class V
// (kernels/common/vec_<isa>.h); kernels/<isa>/linear_attention_<isa>.cc return
// linearAttentionKernelsOf<V>(). The products run on the matmul micro-kernel (matmulInPlace).
// Include inside the ISA's target region, after the vector traits.
#pragma once
#include <cstdint>

#include "kernels/linear_attention_kernels.h"

namespace sa {
namespace {

// phi(x) per lane, with the scalar reference's NaN handling (linear_attention_scalar.cc).
template <class V>
inline typename V::F featureMapLanes(typename V::F x, FeatureMap map) {
  constexpr float kLog2e = 1.4426950408889634f;
  const typename V::F zero = V::zero();
  if (map == FeatureMap::Relu) return V::selectGreater(x, zero);  // NaN x gives 0
  // elu + 1: x + 1 above 0, exp(x) = 2^(x log2 e) at or below. The exponent is min(0, x), so large
  // x cannot overflow it (those lanes take x + 1); a NaN x stays NaN through min and exp2.
  const typename V::F e = V::exp2(V::mul(V::min(zero, x), V::set1(kLog2e)));
  return V::selectLess(zero, x, V::add(x, V::set1(1.0f)), e);
}

// y[i] = phi(x[i]) for i < n (x == y allowed); the tail is a masked load and store, so nothing
// past x[n - 1] or y[n - 1] is touched.
template <class V>
void featureMapOf(const float* x, float* y, int64_t n, FeatureMap map) {
  int64_t i = 0;
  for (; i + V::W <= n; i += V::W) V::storeu(y + i, featureMapLanes<V>(V::loadu(x + i), map));
  if (i < n) {
    const int rest = static_cast<int>(n - i);
    V::storeTail(y + i, featureMapLanes<V>(V::loadTail(x + i, rest), map), rest);
  }
}

template <class V>
const LinearAttentionKernels* linearAttentionKernelsOf() {
  static const LinearAttentionKernels k{featureMapOf<V>};
  return &k;
}

}  // namespace
}  // namespace sa
