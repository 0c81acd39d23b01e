// tanh for the SIMD seq2seq kernels (kernels/common/seq2seq-inl.h), in two pieces:
//   |x| <  kSmall: the odd Taylor series to x^13, whose first omitted term is below 3e-8 relative
//                  at |x| = 0.4 — about half a float ulp — and which keeps full relative precision
//                  near 0, where 1 - 2/(e^2x + 1) would cancel;
//   |x| >= kSmall: sign(x) (1 - 2 / (e^{2|x|} + 1)), |x| clamped to kClamp (tanh(10) rounds to 1 in
//                  float), e^{2|x|} from the ISA's exp2 (1 ulp): a few ulp after the cancellation.
#pragma once

namespace sa {
namespace tanhpoly {
constexpr float kSmall = 0.4f;
constexpr float kClamp = 10.0f;                   // tanh(x) rounds to 1.0f for x > 9.01
constexpr float kTwoLog2e = 2.8853900817779268f;  // 2 / ln 2
// tanh(x) = x (1 + x2 (t3 + x2 (t5 + x2 (t7 + x2 (t9 + x2 (t11 + x2 t13))))))
constexpr float t3 = -1.0f / 3.0f;
constexpr float t5 = 2.0f / 15.0f;
constexpr float t7 = -17.0f / 315.0f;
constexpr float t9 = 62.0f / 2835.0f;
constexpr float t11 = -1382.0f / 155925.0f;
constexpr float t13 = 21844.0f / 6081075.0f;

// tanh(x) over vector traits V; NaN stays NaN (V::min keeps it: |x| goes second).
template <class V>
inline typename V::F eval(typename V::F x) {
  using F = typename V::F;
  const F ax = V::abs(x);
  const F x2 = V::mul(x, x);
  F p = V::set1(t13);
  p = V::fmadd(p, x2, V::set1(t11));
  p = V::fmadd(p, x2, V::set1(t9));
  p = V::fmadd(p, x2, V::set1(t7));
  p = V::fmadd(p, x2, V::set1(t5));
  p = V::fmadd(p, x2, V::set1(t3));
  const F small = V::fmadd(V::mul(p, x2), x, x);
  const F e = V::exp2(V::mul(V::min(V::set1(kClamp), ax), V::set1(kTwoLog2e)));
  const F one = V::set1(1.0f);
  const F big = V::orSignOf(V::sub(one, V::div(V::set1(2.0f), V::add(e, one))), x);
  return V::selectLess(ax, V::set1(kSmall), small, big);
}
}  // namespace tanhpoly
}  // namespace sa
