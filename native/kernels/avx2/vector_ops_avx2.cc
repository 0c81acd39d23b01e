// Row loops (kernels/vector_ops.h) for AVX2 + FMA: 8 lanes, scalar tails.
#include <cmath>
#include <cstdint>

#include "kernels/vector_ops.h"
#include "runtime/isa.h"

#if SA_ARCH_X86_64
#include <immintrin.h>

#include "kernels/common/target.h"

SA_TARGET_AVX2_BEGIN
#include "kernels/common/exp_avx2.h"

namespace sa {
namespace {

constexpr float kLog2e = 1.4426950408889634f;

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

float maxAvx2(const float* x, int64_t n) {
  __m256 m = _mm256_set1_ps(-INFINITY);
  int64_t i = 0;
  // maxps returns its second operand when either is NaN: x first, so a NaN element is skipped.
  for (; i + 8 <= n; i += 8) m = _mm256_max_ps(_mm256_loadu_ps(x + i), m);
  float r = hmax(m);
  for (; i < n; ++i) r = x[i] > r ? x[i] : r;
  return r;
}

float sumAvx2(const float* x, int64_t n) {
  __m256 s = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) s = _mm256_add_ps(s, _mm256_loadu_ps(x + i));
  float r = hsum(s);
  for (; i < n; ++i) r += x[i];
  return r;
}

float dotAvx2(const float* a, const float* b, int64_t n) {
  __m256 s = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) s = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s);
  float r = hsum(s);
  for (; i < n; ++i) r += a[i] * b[i];
  return r;
}

// One row of dotRowsAvx2, summed in exactly the order of its four-row groups (two accumulators,
// then the 8-wide rest into the first, then the scalar tail), so a row's result does not depend
// on whether it fell in a group or among the leftovers (which depends on how the caller split).
float dotRowAvx2(const float* a, const float* b, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  float t = hsum(_mm256_add_ps(s0, s1));
  for (; i < n; ++i) t += a[i] * b[i];
  return t;
}

// Four rows at a time, two accumulators each (eight FMA chains: two pipes of latency 4), a loaded
// once for four rows; see the AVX-512 file. Tails past the last full vector in scalar.
void dotRowsAvx2(const float* a, const float* b, int64_t ldb, int64_t rows, int64_t n, float* out) {
  int64_t j = 0;
  for (; j + 4 <= rows; j += 4) {
    const float* br[4] = {b + j * ldb, b + (j + 1) * ldb, b + (j + 2) * ldb, b + (j + 3) * ldb};
    __m256 s[8];
    for (int r = 0; r < 8; ++r) s[r] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
      const __m256 x0 = _mm256_loadu_ps(a + i), x1 = _mm256_loadu_ps(a + i + 8);
      for (int r = 0; r < 4; ++r) {
        s[r] = _mm256_fmadd_ps(x0, _mm256_loadu_ps(br[r] + i), s[r]);
        s[4 + r] = _mm256_fmadd_ps(x1, _mm256_loadu_ps(br[r] + i + 8), s[4 + r]);
      }
    }
    for (; i + 8 <= n; i += 8) {
      const __m256 x = _mm256_loadu_ps(a + i);
      for (int r = 0; r < 4; ++r) s[r] = _mm256_fmadd_ps(x, _mm256_loadu_ps(br[r] + i), s[r]);
    }
    for (int r = 0; r < 4; ++r) {
      float t = hsum(_mm256_add_ps(s[r], s[4 + r]));
      for (int64_t k = i; k < n; ++k) t += a[k] * br[r][k];
      out[j + r] = t;
    }
  }
  for (; j < rows; ++j) out[j] = dotRowAvx2(a, b + j * ldb, n);
}

// exp(x - shift) as 2^((x - shift) log2 e): see the AVX-512 file for the error.
float expShiftAvx2(float* x, int64_t n, float shift) {
  const __m256 sh = _mm256_set1_ps(shift), l2e = _mm256_set1_ps(kLog2e);
  __m256 s = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = avx2::exp2(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), sh), l2e));
    _mm256_storeu_ps(x + i, e);
    s = _mm256_add_ps(s, e);
  }
  float r = hsum(s);
  for (; i < n; ++i) r += (x[i] = std::exp(x[i] - shift));
  return r;
}

void scaleAvx2(const float* x, float s, float* y, int64_t n) {
  const __m256 sv = _mm256_set1_ps(s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(sv, _mm256_loadu_ps(x + i)));
  for (; i < n; ++i) y[i] = s * x[i];
}

void axpyAvx2(float a, const float* x, float* y, int64_t n) {
  const __m256 av = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}

void mulAvx2(const float* x, const float* g, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(g + i)));
  for (; i < n; ++i) y[i] = x[i] * g[i];
}

void addMaxAvx2(const float* x, float* sum, float* max, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    _mm256_storeu_ps(sum + i, _mm256_add_ps(_mm256_loadu_ps(sum + i), v));
    _mm256_storeu_ps(max + i, _mm256_max_ps(v, _mm256_loadu_ps(max + i)));
  }
  for (; i < n; ++i) {
    sum[i] += x[i];
    max[i] = x[i] > max[i] ? x[i] : max[i];
  }
}

// 1 / (1 + 2^(-x log2 e)); exponent clamped at 126 as in the AVX-512 file (min keeps a NaN).
inline __m256 sigmoid8(__m256 x) {
  const __m256 t = _mm256_min_ps(_mm256_set1_ps(126.0f), _mm256_mul_ps(x, _mm256_set1_ps(-kLog2e)));
  const __m256 one = _mm256_set1_ps(1.0f);
  return _mm256_div_ps(one, _mm256_add_ps(one, avx2::exp2(t)));
}

void sigmoidAvx2(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, sigmoid8(_mm256_loadu_ps(x + i)));
  for (; i < n; ++i) y[i] = 1.0f / (1.0f + std::exp(-x[i]));
}

void reluAvx2(const float* x, float* y, int64_t n) {
  const __m256 zero = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_max_ps(_mm256_loadu_ps(x + i), zero));
  for (; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

}  // namespace

const VectorOps* vectorOpsAvx2() {
  static const VectorOps k{maxAvx2, sumAvx2, dotAvx2, dotRowsAvx2, expShiftAvx2, scaleAvx2, axpyAvx2,
                           mulAvx2, addMaxAvx2, sigmoidAvx2, reluAvx2};
  return &k;
}

}  // namespace sa
SA_TARGET_END
#else
namespace sa {
const VectorOps* vectorOpsAvx2() { return nullptr; }
}  // namespace sa
#endif
