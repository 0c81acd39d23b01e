// Conversions (kernels/convert.h) for AVX-512: float16 by vcvtps2ph (rounding to nearest even) and
// vcvtph2ps; bfloat16 by integer rounding of the float32 bits (AVX512_BF16's vcvtneps2bf16 would
// flush subnormals to zero). Tails use masked loads and stores, which touch nothing past n.
#include <cstdint>

#include "kernels/convert.h"
#include "runtime/isa.h"

#if SA_ARCH_X86_64
#include <immintrin.h>

#include "kernels/common/target.h"

SA_TARGET_AVX512_BEGIN
namespace sa {
namespace {

// The lanes [0, k) of a 16-lane group.
inline __mmask16 lanes(int64_t k) { return k >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << k) - 1u); }

// 16 floats rounded to nearest even in place: each lane's bfloat16 is its high half.
inline __m512i roundedToBf16(__m512 v) {
  const __m512i x = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(1));
  const __m512i r = _mm512_add_epi32(x, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
  return _mm512_mask_or_epi32(r, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), x,
                              _mm512_set1_epi32(0x00400000));  // NaN: quieted
}

void floatToBf16Avx512(const float* src, uint16_t* dst, int64_t n) {
  // The odd 16-bit words of two vectors (the high halves of 32 lanes) gather into one: a full store
  // instead of the narrowing stores (vpmovdw to memory), which are slow on some cores.
  const __m512i highHalves = _mm512_set_epi16(63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39, 37, 35, 33, 31, 29,
                                              27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512i lo = roundedToBf16(_mm512_loadu_ps(src + i)), hi = roundedToBf16(_mm512_loadu_ps(src + i + 16));
    _mm512_storeu_si512(dst + i, _mm512_permutex2var_epi16(lo, highHalves, hi));
  }
  for (; i < n; i += 16) {
    const __mmask16 m = lanes(n - i);
    const __m512i r = roundedToBf16(_mm512_maskz_loadu_ps(m, src + i));
    _mm256_mask_storeu_epi16(dst + i, m, _mm512_cvtepi32_epi16(_mm512_srli_epi32(r, 16)));
  }
}

void floatToHalfAvx512(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = lanes(n - i);
    const __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, src + i), _MM_FROUND_TO_NEAREST_INT);
    _mm256_mask_storeu_epi16(dst + i, m, h);
  }
}

void bf16ToFloatAvx512(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = lanes(n - i);
    const __m512i x = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, src + i));
    _mm512_mask_storeu_ps(dst + i, m, _mm512_castsi512_ps(_mm512_slli_epi32(x, 16)));
  }
}

void halfToFloatAvx512(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = lanes(n - i);
    _mm512_mask_storeu_ps(dst + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, src + i)));
  }
}

}  // namespace

const ConvertKernels* convertKernelsAvx512() {
  static const ConvertKernels k{floatToBf16Avx512, floatToHalfAvx512, bf16ToFloatAvx512, halfToFloatAvx512};
  return &k;
}

}  // namespace sa
SA_TARGET_END
#else
namespace sa {
const ConvertKernels* convertKernelsAvx512() { return nullptr; }
}  // namespace sa
#endif
