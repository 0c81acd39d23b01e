// The tests' own bfloat16 rounding (nearest even, as the kernels and SPEC section 8 round) and
// widening, written independently of the conversion kernels they check.
#pragma once
#include <cstdint>
#include <cstring>

namespace sa {
namespace test {

inline uint16_t bf16Bits(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return static_cast<uint16_t>((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

inline float bf16Value(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

inline float roundToBf16(float x) { return bf16Value(bf16Bits(x)); }

}  // namespace test
}  // namespace sa
