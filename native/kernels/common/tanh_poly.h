// tanh for the SIMD seq2seq kernels (kernels/<isa>/seq2seq_<isa>.cc), in two pieces:
//   |x| <  kSmall: the odd Taylor series to x^13, whose first omitted term is below 3e-8 relative
//                  at |x| = 0.4 — about half a float ulp — and which keeps full relative precision
//                  near 0, where 1 - 2/(e^2x + 1) would cancel;
//   |x| >= kSmall: sign(x) (1 - 2 / (e^{2|x|} + 1)), |x| clamped to kClamp (tanh(10) rounds to 1 in
//                  float), e^{2|x|} from the ISA's exp2 (1 ulp): a few ulp after the cancellation.
#pragma once

namespace sa {
namespace tanhpoly {
constexpr float kSmall = 0.4f;
constexpr float kClamp = 10.0f;  // tanh(x) rounds to 1.0f for x > 9.01
constexpr float kTwoLog2e = 2.8853900817779268f;  // 2 / ln 2
// tanh(x) = x (1 + x2 (t3 + x2 (t5 + x2 (t7 + x2 (t9 + x2 (t11 + x2 t13))))))
constexpr float t3 = -1.0f / 3.0f;
constexpr float t5 = 2.0f / 15.0f;
constexpr float t7 = -17.0f / 315.0f;
constexpr float t9 = 62.0f / 2835.0f;
constexpr float t11 = -1382.0f / 155925.0f;
constexpr float t13 = 21844.0f / 6081075.0f;
}  // namespace tanhpoly
}  // namespace sa
