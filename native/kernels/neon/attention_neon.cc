// NEON (AArch64) fused attention: the vector traits for the shared tile / row kernels
// (kernels/common/attention_tile.h, attention_rows.h) and the table entry.
//
// Tiles are 4 query rows (one per lane). The S^T micro-kernel uses by-lane FMAs: one 4-float load
// of a key row feeds 4 FMAs (vfmaq_laneq_f32), so 16 keys x 4 steps of dk cost 16 loads of K and 4
// of Q^T for 64 FMAs. Register budget (32 q registers): 16 key accumulators + 4 Q^T columns + one
// key vector; the P.V micro-kernel 4 rows x 4 vectors (16 accumulators) + 4 value vectors.
#include <cmath>
#include <cstdint>

#include "kernels/attention_kernels.h"
#include "runtime/isa.h"

#if SA_ARCH_ARM64
#include <arm_neon.h>

#include "kernels/common/attention_rows.h"
#include "kernels/common/attention_tile.h"
#include "kernels/common/exp_neon.h"

namespace sa {
namespace {

struct NeonVec {
  using F = float32x4_t;
  using I = int32x4_t;
  static constexpr int W = 4;
  static constexpr int kKeyBlock = 64;
  static constexpr int kScoreKeys = 16;
  static constexpr int kPvRows = 4;
  static constexpr int kPvCols = 4;
  // P^T through L1: the form from the score registers (AVX-512, AVX2) is not measured on NEON,
  // which only runs under qemu here.
  static constexpr bool kPvFromScoreRegisters = false;
  static constexpr int kRowPvCols = 4;

  static F zero() { return vdupq_n_f32(0.0f); }
  static F set1(float x) { return vdupq_n_f32(x); }
  static F negInf() { return vdupq_n_f32(-INFINITY); }
  static F load(const float* p) { return vld1q_f32(p); }
  static F loadu(const float* p) { return vld1q_f32(p); }
  static void store(float* p, F v) { vst1q_f32(p, v); }
  static void storeu(float* p, F v) { vst1q_f32(p, v); }
  static F bcast(const float* p) { return vld1q_dup_f32(p); }
  static F fmadd(F a, F b, F c) { return vfmaq_f32(c, a, b); }
  static F add(F a, F b) { return vaddq_f32(a, b); }
  static F sub(F a, F b) { return vsubq_f32(a, b); }
  static F mul(F a, F b) { return vmulq_f32(a, b); }
  static F max(F a, F b) { return vmaxq_f32(a, b); }
  static F min(F a, F b) { return vminq_f32(a, b); }  // NaN propagates
  static F div(F a, F b) { return vdivq_f32(a, b); }
  static F exp2(F x) { return neon::exp2(x); }

  // No masked loads in NEON: go through a small zeroed buffer, touching only the first n floats.
  static F loadTail(const float* p, int n) {
    float tmp[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int i = 0; i < n; ++i) tmp[i] = p[i];
    return vld1q_f32(tmp);
  }
  static void storeTail(float* p, F v, int n) {
    float tmp[4];
    vst1q_f32(tmp, v);
    for (int i = 0; i < n; ++i) p[i] = tmp[i];
  }
  static I loadI(const int32_t* p) { return vld1q_s32(p); }

  static F keepKeyRange(F s, I begin, I end, int32_t key) {
    const int32x4_t k = vdupq_n_s32(key);
    const uint32x4_t ok = vandq_u32(vcleq_s32(begin, k), vcgtq_s32(end, k));
    return vbslq_f32(ok, s, negInf());
  }
  static F addBias(F s, F b) { return vbslq_f32(vceqq_f32(b, negInf()), negInf(), vaddq_f32(s, b)); }
  static F zeroIfNegInf(F m) { return vbslq_f32(vceqq_f32(m, negInf()), zero(), m); }
  static F negInfPastLanes(F s, int n) {
    const int32_t lane[4] = {0, 1, 2, 3};
    return vbslq_f32(vcltq_s32(vld1q_s32(lane), vdupq_n_s32(n)), s, negInf());
  }
  static bool anyNaN(F a) { return vminvq_u32(vceqq_f32(a, a)) == 0; }
  static bool anyGreater(F a, F b) { return vmaxvq_u32(vcgtq_f32(a, b)) != 0; }
  static float hmax(F v) { return vmaxvq_f32(v); }
  static float hsum(F v) { return vaddvq_f32(v); }
  static F reduceLanes(const F* a) { return vpaddq_f32(vpaddq_f32(a[0], a[1]), vpaddq_f32(a[2], a[3])); }

  // In-place 4 x 4 transpose: a[r] lane c becomes a[c] lane r.
  static void transpose(F* a) {
    const F t0 = vtrn1q_f32(a[0], a[1]), t1 = vtrn2q_f32(a[0], a[1]);
    const F t2 = vtrn1q_f32(a[2], a[3]), t3 = vtrn2q_f32(a[2], a[3]);
    a[0] = vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(t0), vreinterpretq_f64_f32(t2)));
    a[2] = vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(t0), vreinterpretq_f64_f32(t2)));
    a[1] = vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(t1), vreinterpretq_f64_f32(t3)));
    a[3] = vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(t1), vreinterpretq_f64_f32(t3)));
  }

  // The next step's key rows are not prefetched here (the AVX-512 kernel does; not measured on an
  // ARM core, whose prefetchers may well follow the 16 row streams).
  template <int N>
  static void scores(const float* qt, const float* k, int64_t ks, int64_t dk, F init, F* acc,
                     const float* /*kNext*/, int /*nextRows*/) {
    for (int j = 0; j < N; ++j) acc[j] = init;
    int64_t d = 0;
    for (; d + 4 <= dk; d += 4) {
      const F q0 = vld1q_f32(qt + d * 4), q1 = vld1q_f32(qt + (d + 1) * 4);
      const F q2 = vld1q_f32(qt + (d + 2) * 4), q3 = vld1q_f32(qt + (d + 3) * 4);
      for (int j = 0; j < N; ++j) {
        const F kv = vld1q_f32(k + j * ks + d);
        acc[j] = vfmaq_laneq_f32(acc[j], q0, kv, 0);
        acc[j] = vfmaq_laneq_f32(acc[j], q1, kv, 1);
        acc[j] = vfmaq_laneq_f32(acc[j], q2, kv, 2);
        acc[j] = vfmaq_laneq_f32(acc[j], q3, kv, 3);
      }
    }
    for (; d < dk; ++d) {
      const F q = vld1q_f32(qt + d * 4);
      for (int j = 0; j < N; ++j) acc[j] = vfmaq_f32(acc[j], q, vld1q_dup_f32(k + j * ks + d));
    }
  }
};

void tileNeon(const AttentionHeadInput& head, const AttentionTile& tile) { TileAttention<NeonVec>::run(head, tile); }

void rowsNeon(const AttentionHeadInput& head, const AttentionTile& tile) { RowAttention<NeonVec>::run(head, tile); }

void exp2Neon(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, neon::exp2(vld1q_f32(x + i)));
  if (i < n) {
    const int rest = static_cast<int>(n - i);
    NeonVec::storeTail(y + i, neon::exp2(NeonVec::loadTail(x + i, rest)), rest);
  }
}

}  // namespace
}  // namespace sa
#endif

namespace sa {
const AttentionKernels* attentionKernelsNeon() {
#if SA_ARCH_ARM64
  static const AttentionKernels k{"neon", 4, 2, tileNeon, rowsNeon, exp2Neon};
  return &k;
#else
  return nullptr;
#endif
}
}  // namespace sa
