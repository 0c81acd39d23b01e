// The Bahdanau / Luong inner loops (kernels/seq2seq_kernels.h) written once over a vector-traits
// class V (kernels/common/vec_<isa>.h); kernels/<isa>/seq2seq_<isa>.cc instantiates them in its
// target region. The context's axpy is the vector ops' one.
#pragma once
#include <cstdint>

#include "kernels/common/tanh_poly.h"
#include "kernels/common/vector_ops-inl.h"
#include "kernels/seq2seq_kernels.h"

namespace sa {
namespace {

// sum_a v[a] tanh(x[a] + y[a]); tail lanes read 0, and tanh(0) * 0 adds nothing.
template <class V>
float tanhDotOf(const float* x, const float* y, const float* v, int64_t n) {
  typename V::F acc = V::zero();
  forEachVector<V>(n, [&](int64_t a, int k) {
    const typename V::F t = tanhpoly::eval<V>(V::add(loadLanes<V>(x + a, k), loadLanes<V>(y + a, k)));
    acc = V::fmadd(loadLanes<V>(v + a, k), t, acc);
  });
  return V::hsum(acc);
}

template <class V>
const Seq2SeqKernels* seq2seqKernelsOf() {
  static const Seq2SeqKernels k{tanhDotOf<V>, VectorOpsOf<V>::axpy};
  return &k;
}

}  // namespace
}  // namespace sa
