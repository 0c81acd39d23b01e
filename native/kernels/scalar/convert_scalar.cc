// Conversions (kernels/convert.h), the plain reference: exact round-to-nearest-even by integer
// arithmetic on the float32 bits, one element at a time.
#include <cstdint>
#include <cstring>

#include "kernels/common/target.h"
#include "kernels/convert.h"

SA_SCALAR_BEGIN
namespace sa {
namespace {

uint32_t bitsOf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

float floatOf(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

uint16_t floatToBf16One(float f) {
  const uint32_t x = bitsOf(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x0040u);  // NaN: quieted
  // Adding 0x7fff plus the lowest kept bit rounds to nearest even; a carry moves into the exponent
  // (the largest finite values round up to infinity).
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

uint16_t floatToHalfOne(float f) {
  const uint32_t x = bitsOf(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t a = x & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));  // NaN: quieted
  if (a >= 0x47800000u) return static_cast<uint16_t>(sign | 0x7c00u);                        // >= 2^16: infinity
  if (a >= 0x38800000u) {
    // A normal half (>= 2^-14): rebias the exponent by 127 - 15, then round off 13 mantissa bits;
    // a carry may reach the exponent, and from 65520 on gives infinity (0x7c00).
    const uint32_t r = a - 0x38000000u;
    return static_cast<uint16_t>(sign | ((r + 0xfffu + ((r >> 13) & 1u)) >> 13));
  }
  if (a < 0x33000000u) return sign;  // below 2^-25 (half of the smallest subnormal): +-0
  // A subnormal half, in units of 2^-24: the significand shifted right by 126 - exponent, rounded.
  const uint32_t e = a >> 23;
  const uint32_t m = (a & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126u - e;  // 14..24
  const uint32_t q = m >> shift, rest = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
  return static_cast<uint16_t>(sign | (q + ((rest > half || (rest == half && (q & 1u))) ? 1u : 0u)));
}

float bf16ToFloatOne(uint16_t h) { return floatOf(static_cast<uint32_t>(h) << 16); }

float halfToFloatOne(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 31) return floatOf(sign | 0x7f800000u | (m << 13) | (m != 0 ? 0x400000u : 0u));  // NaN quieted
  if (e != 0) return floatOf(sign | ((e + 112u) << 23) | (m << 13));
  if (m == 0) return floatOf(sign);
  // Subnormal m * 2^-24: normalise the significand.
  uint32_t exp = 113u, mm = m;
  while ((mm & 0x400u) == 0) mm <<= 1, --exp;
  return floatOf(sign | (exp << 23) | ((mm & 0x3ffu) << 13));
}

void floatToBf16Scalar(const float* src, uint16_t* dst, int64_t n) {
  SA_SCALAR_LOOP
  for (int64_t i = 0; i < n; ++i) dst[i] = floatToBf16One(src[i]);
}

void floatToHalfScalar(const float* src, uint16_t* dst, int64_t n) {
  SA_SCALAR_LOOP
  for (int64_t i = 0; i < n; ++i) dst[i] = floatToHalfOne(src[i]);
}

void bf16ToFloatScalar(const uint16_t* src, float* dst, int64_t n) {
  SA_SCALAR_LOOP
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16ToFloatOne(src[i]);
}

void halfToFloatScalar(const uint16_t* src, float* dst, int64_t n) {
  SA_SCALAR_LOOP
  for (int64_t i = 0; i < n; ++i) dst[i] = halfToFloatOne(src[i]);
}

}  // namespace

const ConvertKernels* convertKernelsScalar() {
  static const ConvertKernels k{floatToBf16Scalar, floatToHalfScalar, bf16ToFloatScalar, halfToFloatScalar};
  return &k;
}

}  // namespace sa
SA_SCALAR_END
