// The FP32 FMA peak probe written once over a vector-traits class V (kernels/common/vec_<isa>.h):
// `Chains` independent accumulator chains of FMAs, enough to hide the FMA latency on every pipe
// (kernels/<isa>/fma_peak_<isa>.cc picks the count). Returns the flops done.
#pragma once
#include <cstdint>

namespace sa {
namespace {

template <class V, int Chains>
double fmaPeakLoopOf(int64_t iterations) {
  using F = typename V::F;
  F acc[Chains];
  for (int i = 0; i < Chains; ++i) acc[i] = V::set1(0.001f * static_cast<float>(i));
  const F a = V::set1(0.9999f), b = V::set1(1e-7f);
  for (int64_t it = 0; it < iterations; ++it) {
    for (int i = 0; i < Chains; ++i) acc[i] = V::fmadd(acc[i], a, b);
  }
  F s = acc[0];
  for (int i = 1; i < Chains; ++i) s = V::add(s, acc[i]);
  volatile float sink = V::hsum(s);  // keeps the chains from being optimised away
  (void)sink;
  return static_cast<double>(iterations) * Chains * V::W * 2;
}

}  // namespace
}  // namespace sa
