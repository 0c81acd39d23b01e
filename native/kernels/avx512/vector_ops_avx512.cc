// Row loops (kernels/vector_ops.h) for AVX-512: 16 lanes, masked tails (nothing past n is touched).
#include <cmath>
#include <cstdint>

#include "kernels/vector_ops.h"
#include "runtime/isa.h"

#if SA_ARCH_X86_64
#include <immintrin.h>

#include "kernels/common/target.h"

SA_TARGET_AVX512_BEGIN
#include "kernels/common/exp_avx512.h"

namespace sa {
namespace {

constexpr float kLog2e = 1.4426950408889634f;

inline __mmask16 tailMask(int64_t n) { return static_cast<__mmask16>((1u << n) - 1u); }

float maxAvx512(const float* x, int64_t n) {
  const __m512 negInf = _mm512_set1_ps(-INFINITY);
  __m512 m = negInf;
  int64_t i = 0;
  // maxps returns its second operand when either is NaN: x first, so a NaN element is skipped.
  for (; i + 16 <= n; i += 16) m = _mm512_max_ps(_mm512_loadu_ps(x + i), m);
  if (i < n) m = _mm512_max_ps(_mm512_mask_loadu_ps(negInf, tailMask(n - i), x + i), m);
  return _mm512_reduce_max_ps(m);
}

float sumAvx512(const float* x, int64_t n) {
  __m512 s = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) s = _mm512_add_ps(s, _mm512_loadu_ps(x + i));
  if (i < n) s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(tailMask(n - i), x + i));
  return _mm512_reduce_add_ps(s);
}

float dotAvx512(const float* a, const float* b, int64_t n) {
  __m512 s = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) s = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s);
  if (i < n) {
    const __mmask16 m = tailMask(n - i);
    s = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s);
  }
  return _mm512_reduce_add_ps(s);
}

// Four rows at a time, two accumulators each: eight FMA chains (Zen 4: latency 4, one zmm FMA per
// cycle, so eight keep it busy) and a of 2 loads shared by 8 FMAs; the four rows are four
// sequential streams the hardware prefetcher follows. One row dot keeps a single chain: 16 floats
// per 4 cycles, about 45 GB/s, below the L3 bandwidth a row streams from. dotRowAvx512 (the
// leftover rows) sums in exactly the groups' order, so a row's result does not depend on whether
// it fell in a group, which depends on how the caller split the rows.
float dotRowAvx512(const float* a, const float* b, int64_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : tailMask(n - i);
    s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

void dotRowsAvx512(const float* a, const float* b, int64_t ldb, int64_t rows, int64_t n, float* out) {
  int64_t j = 0;
  for (; j + 4 <= rows; j += 4) {
    const float* b0 = b + j * ldb;
    const float* b1 = b0 + ldb;
    const float* b2 = b1 + ldb;
    const float* b3 = b2 + ldb;
    __m512 s[8];
    for (int r = 0; r < 8; ++r) s[r] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
      const __m512 x0 = _mm512_loadu_ps(a + i), x1 = _mm512_loadu_ps(a + i + 16);
      s[0] = _mm512_fmadd_ps(x0, _mm512_loadu_ps(b0 + i), s[0]);
      s[1] = _mm512_fmadd_ps(x0, _mm512_loadu_ps(b1 + i), s[1]);
      s[2] = _mm512_fmadd_ps(x0, _mm512_loadu_ps(b2 + i), s[2]);
      s[3] = _mm512_fmadd_ps(x0, _mm512_loadu_ps(b3 + i), s[3]);
      s[4] = _mm512_fmadd_ps(x1, _mm512_loadu_ps(b0 + i + 16), s[4]);
      s[5] = _mm512_fmadd_ps(x1, _mm512_loadu_ps(b1 + i + 16), s[5]);
      s[6] = _mm512_fmadd_ps(x1, _mm512_loadu_ps(b2 + i + 16), s[6]);
      s[7] = _mm512_fmadd_ps(x1, _mm512_loadu_ps(b3 + i + 16), s[7]);
    }
    for (; i < n; i += 16) {  // masked: nothing past n is read
      const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : tailMask(n - i);
      const __m512 x = _mm512_maskz_loadu_ps(m, a + i);
      s[0] = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, b0 + i), s[0]);
      s[1] = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, b1 + i), s[1]);
      s[2] = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, b2 + i), s[2]);
      s[3] = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, b3 + i), s[3]);
    }
    out[j] = _mm512_reduce_add_ps(_mm512_add_ps(s[0], s[4]));
    out[j + 1] = _mm512_reduce_add_ps(_mm512_add_ps(s[1], s[5]));
    out[j + 2] = _mm512_reduce_add_ps(_mm512_add_ps(s[2], s[6]));
    out[j + 3] = _mm512_reduce_add_ps(_mm512_add_ps(s[3], s[7]));
  }
  for (; j < rows; ++j) out[j] = dotRowAvx512(a, b + j * ldb, n);
}

// exp(x - shift) = 2^((x - shift) log2 e): one rounding more than exp of the exact difference,
// a relative error of about |x - shift| * 6e-8 (softmax weights that matter have |x - shift| < 20).
float expShiftAvx512(float* x, int64_t n, float shift) {
  const __m512 sh = _mm512_set1_ps(shift), l2e = _mm512_set1_ps(kLog2e);
  __m512 s = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 e = avx512::exp2(_mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + i), sh), l2e));
    _mm512_storeu_ps(x + i, e);
    s = _mm512_add_ps(s, e);
  }
  if (i < n) {
    const __mmask16 m = tailMask(n - i);
    const __m512 e = avx512::exp2(_mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), sh), l2e));
    _mm512_mask_storeu_ps(x + i, m, e);
    s = _mm512_mask_add_ps(s, m, s, e);
  }
  return _mm512_reduce_add_ps(s);
}

void scaleAvx512(const float* x, float s, float* y, int64_t n) {
  const __m512 sv = _mm512_set1_ps(s);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_mul_ps(sv, _mm512_loadu_ps(x + i)));
  if (i < n) {
    const __mmask16 m = tailMask(n - i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(sv, _mm512_maskz_loadu_ps(m, x + i)));
  }
}

void axpyAvx512(float a, const float* x, float* y, int64_t n) {
  const __m512 av = _mm512_set1_ps(a);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_fmadd_ps(av, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
  if (i < n) {
    const __mmask16 m = tailMask(n - i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
  }
}

void mulAvx512(const float* x, const float* g, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(g + i)));
  if (i < n) {
    const __mmask16 m = tailMask(n - i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, g + i)));
  }
}

void addMaxAvx512(const float* x, float* sum, float* max, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    _mm512_storeu_ps(sum + i, _mm512_add_ps(_mm512_loadu_ps(sum + i), v));
    _mm512_storeu_ps(max + i, _mm512_max_ps(v, _mm512_loadu_ps(max + i)));
  }
  if (i < n) {
    const __mmask16 m = tailMask(n - i);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    _mm512_mask_storeu_ps(sum + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, sum + i), v));
    _mm512_mask_storeu_ps(max + i, m, _mm512_max_ps(v, _mm512_maskz_loadu_ps(m, max + i)));
  }
}

// 1 / (1 + 2^(-x log2 e)), the exponent clamped at 126 (x < -87.3: a result of ~1e-38 instead of a
// denormal or 0) so 2^t stays finite; min(126, t) keeps a NaN t (second operand).
inline __m512 sigmoid16(__m512 x) {
  const __m512 t = _mm512_min_ps(_mm512_set1_ps(126.0f), _mm512_mul_ps(x, _mm512_set1_ps(-kLog2e)));
  const __m512 one = _mm512_set1_ps(1.0f);
  return _mm512_div_ps(one, _mm512_add_ps(one, avx512::exp2(t)));
}

void sigmoidAvx512(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, sigmoid16(_mm512_loadu_ps(x + i)));
  if (i < n) {
    const __mmask16 m = tailMask(n - i);
    _mm512_mask_storeu_ps(y + i, m, sigmoid16(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

void reluAvx512(const float* x, float* y, int64_t n) {
  const __m512 zero = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_max_ps(_mm512_loadu_ps(x + i), zero));
  if (i < n) {
    const __mmask16 m = tailMask(n - i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_max_ps(_mm512_maskz_loadu_ps(m, x + i), zero));
  }
}

}  // namespace

const VectorOps* vectorOpsAvx512() {
  static const VectorOps k{maxAvx512, sumAvx512, dotAvx512, dotRowsAvx512, expShiftAvx512, scaleAvx512, axpyAvx512,
                           mulAvx512, addMaxAvx512, sigmoidAvx512, reluAvx512};
  return &k;
}

}  // namespace sa
SA_TARGET_END
#else
namespace sa {
const VectorOps* vectorOpsAvx512() { return nullptr; }
}  // namespace sa
#endif
