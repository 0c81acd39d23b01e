// Conversions (kernels/convert.h) for AVX2 + F16C: float16 by vcvtps2ph (rounding to nearest even)
// and vcvtph2ps; bfloat16 by integer rounding of the float32 bits, 16 elements a step.
#include <cstdint>

#include "kernels/convert.h"
#include "runtime/isa.h"

#if SA_ARCH_X86_64
#include <immintrin.h>

#include "kernels/common/target.h"

SA_TARGET_AVX2_BEGIN
#include "kernels/common/convert-inl.h"

namespace sa {
namespace {

// Eight floats to bfloat16 bits in the low half of each 32-bit lane: x + 0x7fff + (bit 16 of x),
// shifted down; a NaN keeps its top bits with the quiet bit set instead.
inline __m256i bf16Lanes(__m256 v) {
  const __m256i x = _mm256_castps_si256(v);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
  const __m256i rounded = _mm256_add_epi32(x, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff)));
  const __m256i quiet = _mm256_or_si256(x, _mm256_set1_epi32(0x00400000));
  const __m256 isNan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
  const __m256i r =
      _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(rounded), _mm256_castsi256_ps(quiet), isNan));
  return _mm256_srli_epi32(r, 16);
}

void floatToBf16Avx2(const float* src, uint16_t* dst, int64_t n) {
  convertInGroups<16>(src, dst, n, [](const float* s, uint16_t* d) {
    const __m256i lo = bf16Lanes(_mm256_loadu_ps(s)), hi = bf16Lanes(_mm256_loadu_ps(s + 8));
    // packus interleaves the 128-bit lanes (lo0 hi0 lo1 hi1); the permute puts them back in order.
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xd8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(d), packed);
  });
}

void floatToHalfAvx2(const float* src, uint16_t* dst, int64_t n) {
  convertInGroups<8>(src, dst, n, [](const float* s, uint16_t* d) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d), _mm256_cvtps_ph(_mm256_loadu_ps(s), _MM_FROUND_TO_NEAREST_INT));
  });
}

void bf16ToFloatAvx2(const uint16_t* src, float* dst, int64_t n) {
  convertInGroups<8>(src, dst, n, [](const uint16_t* s, float* d) {
    const __m256i x = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s)));
    _mm256_storeu_ps(d, _mm256_castsi256_ps(_mm256_slli_epi32(x, 16)));
  });
}

void halfToFloatAvx2(const uint16_t* src, float* dst, int64_t n) {
  convertInGroups<8>(src, dst, n, [](const uint16_t* s, float* d) {
    _mm256_storeu_ps(d, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s))));
  });
}

}  // namespace

const ConvertKernels* convertKernelsAvx2() {
  static const ConvertKernels k{floatToBf16Avx2, floatToHalfAvx2, bf16ToFloatAvx2, halfToFloatAvx2};
  return &k;
}

}  // namespace sa
SA_TARGET_END
#else
namespace sa {
const ConvertKernels* convertKernelsAvx2() { return nullptr; }
}  // namespace sa
#endif
