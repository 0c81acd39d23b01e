// Row loops (kernels/vector_ops.h) for NEON: 4 lanes, scalar tails.
#include <cmath>
#include <cstdint>

#include "kernels/vector_ops.h"
#include "runtime/isa.h"

#if SA_ARCH_ARM64
#include <arm_neon.h>

#include "kernels/common/exp_neon.h"

namespace sa {
namespace {

constexpr float kLog2e = 1.4426950408889634f;

float maxNeon(const float* x, int64_t n) {
  float32x4_t m = vdupq_n_f32(-INFINITY);
  int64_t i = 0;
  // FMAX propagates NaN; select on x > m instead, so a NaN element is skipped (as the scalar).
  for (; i + 4 <= n; i += 4) {
    const float32x4_t v = vld1q_f32(x + i);
    m = vbslq_f32(vcgtq_f32(v, m), v, m);
  }
  float r = vmaxvq_f32(m);
  for (; i < n; ++i) r = x[i] > r ? x[i] : r;
  return r;
}

float sumNeon(const float* x, int64_t n) {
  float32x4_t s = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) s = vaddq_f32(s, vld1q_f32(x + i));
  float r = vaddvq_f32(s);
  for (; i < n; ++i) r += x[i];
  return r;
}

float dotNeon(const float* a, const float* b, int64_t n) {
  float32x4_t s = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) s = vfmaq_f32(s, vld1q_f32(a + i), vld1q_f32(b + i));
  float r = vaddvq_f32(s);
  for (; i < n; ++i) r += a[i] * b[i];
  return r;
}

// One row of dotRowsNeon, summed in exactly the order of its four-row groups (see dotRowAvx2).
float dotRowNeon(const float* a, const float* b, int64_t n) {
  float32x4_t s0 = vdupq_n_f32(0.0f), s1 = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
    s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
  }
  for (; i + 4 <= n; i += 4) s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
  float t = vaddvq_f32(vaddq_f32(s0, s1));
  for (; i < n; ++i) t += a[i] * b[i];
  return t;
}

// Four rows at a time, two accumulators each (eight FMA chains), a loaded once for four rows.
void dotRowsNeon(const float* a, const float* b, int64_t ldb, int64_t rows, int64_t n, float* out) {
  int64_t j = 0;
  for (; j + 4 <= rows; j += 4) {
    const float* br[4] = {b + j * ldb, b + (j + 1) * ldb, b + (j + 2) * ldb, b + (j + 3) * ldb};
    float32x4_t s[8];
    for (int r = 0; r < 8; ++r) s[r] = vdupq_n_f32(0.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const float32x4_t x0 = vld1q_f32(a + i), x1 = vld1q_f32(a + i + 4);
      for (int r = 0; r < 4; ++r) {
        s[r] = vfmaq_f32(s[r], x0, vld1q_f32(br[r] + i));
        s[4 + r] = vfmaq_f32(s[4 + r], x1, vld1q_f32(br[r] + i + 4));
      }
    }
    for (; i + 4 <= n; i += 4) {
      const float32x4_t x = vld1q_f32(a + i);
      for (int r = 0; r < 4; ++r) s[r] = vfmaq_f32(s[r], x, vld1q_f32(br[r] + i));
    }
    for (int r = 0; r < 4; ++r) {
      float t = vaddvq_f32(vaddq_f32(s[r], s[4 + r]));
      for (int64_t k = i; k < n; ++k) t += a[k] * br[r][k];
      out[j + r] = t;
    }
  }
  for (; j < rows; ++j) out[j] = dotRowNeon(a, b + j * ldb, n);
}

float expShiftNeon(float* x, int64_t n, float shift) {
  const float32x4_t sh = vdupq_n_f32(shift), l2e = vdupq_n_f32(kLog2e);
  float32x4_t s = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float32x4_t e = neon::exp2(vmulq_f32(vsubq_f32(vld1q_f32(x + i), sh), l2e));
    vst1q_f32(x + i, e);
    s = vaddq_f32(s, e);
  }
  float r = vaddvq_f32(s);
  for (; i < n; ++i) r += (x[i] = std::exp(x[i] - shift));
  return r;
}

void scaleNeon(const float* x, float s, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vmulq_n_f32(vld1q_f32(x + i), s));
  for (; i < n; ++i) y[i] = s * x[i];
}

void axpyNeon(float a, const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
  for (; i < n; ++i) y[i] += a * x[i];
}

void mulNeon(const float* x, const float* g, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vmulq_f32(vld1q_f32(x + i), vld1q_f32(g + i)));
  for (; i < n; ++i) y[i] = x[i] * g[i];
}

void addMaxNeon(const float* x, float* sum, float* max, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float32x4_t v = vld1q_f32(x + i), m = vld1q_f32(max + i);
    vst1q_f32(sum + i, vaddq_f32(vld1q_f32(sum + i), v));
    vst1q_f32(max + i, vbslq_f32(vcgtq_f32(v, m), v, m));
  }
  for (; i < n; ++i) {
    sum[i] += x[i];
    max[i] = x[i] > max[i] ? x[i] : max[i];
  }
}

void sigmoidNeon(const float* x, float* y, int64_t n) {
  const float32x4_t one = vdupq_n_f32(1.0f);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    // exponent clamped at 126 (see the AVX-512 file); FMIN propagates a NaN.
    const float32x4_t t = vminq_f32(vmulq_f32(vld1q_f32(x + i), vdupq_n_f32(-kLog2e)), vdupq_n_f32(126.0f));
    vst1q_f32(y + i, vdivq_f32(one, vaddq_f32(one, neon::exp2(t))));
  }
  for (; i < n; ++i) y[i] = 1.0f / (1.0f + std::exp(-x[i]));
}

void reluNeon(const float* x, float* y, int64_t n) {
  const float32x4_t zero = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float32x4_t v = vld1q_f32(x + i);
    vst1q_f32(y + i, vbslq_f32(vcgtq_f32(v, zero), v, zero));  // NaN -> 0, as the scalar
  }
  for (; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

}  // namespace

const VectorOps* vectorOpsNeon() {
  static const VectorOps k{maxNeon, sumNeon, dotNeon, dotRowsNeon, expShiftNeon, scaleNeon, axpyNeon,
                           mulNeon, addMaxNeon, sigmoidNeon, reluNeon};
  return &k;
}

}  // namespace sa
#else
namespace sa {
const VectorOps* vectorOpsNeon() { return nullptr; }
}  // namespace sa
#endif
