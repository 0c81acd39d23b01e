// Scalar attention: the plain reference the SIMD kernels are tested against, and the fallback on
// CPUs without them. One row at a time, one key at a time, online softmax in base 2 (the
// driver's scale includes log2(e)), std::exp2; kept from auto-vectorisation (SA_SCALAR_BEGIN).
#include <cmath>
#include <cstdint>

#include "kernels/attention_kernels.h"
#include "kernels/common/target.h"

SA_SCALAR_BEGIN
namespace sa {
namespace {

constexpr float kLog2e = 1.4426950408889634f;

// The base-2 score of row r against key j, or -inf when a mask forbids the pair.
float scoreOf(const AttentionHeadInput& in, const AttentionTile& t, int r, int64_t j) {
  if (in.maskKind == MaskKind::Boolean && (t.maskBoolean[r][j * in.maskStrideK] != 0) == in.maskBooleanForbids) {
    return -INFINITY;
  }
  if (in.keyPaddingKind == MaskKind::Boolean && t.keyPaddingBoolean[j * in.keyPaddingStrideK] != 0) return -INFINITY;
  float bias = 0.0f;
  if (in.maskKind == MaskKind::Additive) bias += t.maskAdditive[r][j * in.maskStrideK];
  if (in.keyPaddingKind == MaskKind::Additive) bias += t.keyPaddingAdditive[j * in.keyPaddingStrideK];
  if (bias == -INFINITY) return -INFINITY;
  const float* q = t.q[r];
  const float* k = in.k + j * in.kStride;
  float dot = 0.0f;
  SA_SCALAR_LOOP
  for (int64_t d = 0; d < in.dk; ++d) dot += q[d] * k[d];
  float s = dot * in.scaleLog2;
  if (in.softcapLog2 > 0.0f) s = in.softcapLog2 * std::tanh(s / in.softcapLog2);
  if (in.alibi) s += t.alibiSlope[r] * std::fabs(t.alibiPos[r] - static_cast<float>(j));
  return s + bias * kLog2e;
}

void rowsScalar(const AttentionHeadInput& in, const AttentionTile& t) {
  float* acc = attentionScratch(0, static_cast<size_t>(in.dv));
  for (int r = 0; r < t.rows; ++r) {
    float m = -INFINITY, l = 0.0f;
    SA_SCALAR_LOOP
    for (int64_t c = 0; c < in.dv; ++c) acc[c] = 0.0f;
    for (int64_t j = t.keyBegin[r]; j < t.keyEnd[r]; ++j) {
      const float s = scoreOf(in, t, r, j);
      if (s == -INFINITY) continue;  // masked: contributes nothing (not even 0 * a NaN value)
      if (s > m) {                   // new running max: rescale what is accumulated so far
        const float alpha = std::exp2(m - s);
        l *= alpha;
        SA_SCALAR_LOOP
        for (int64_t c = 0; c < in.dv; ++c) acc[c] *= alpha;
        m = s;
      }
      const float p = std::exp2(s - m);  // NaN score: NaN weight, the row turns NaN
      l += p;
      const float* v = in.v + j * in.vStride;
      SA_SCALAR_LOOP
      for (int64_t c = 0; c < in.dv; ++c) acc[c] += p * v[c];
    }
    const float inv = l == 0.0f ? 0.0f : 1.0f / l;
    SA_SCALAR_LOOP
    for (int64_t c = 0; c < in.dv; ++c) t.out[r][c] = acc[c] * inv;
    if (t.lse2 != nullptr) t.lse2[r] = l == 0.0f ? -INFINITY : m + std::log2(l);
  }
}

void scoreRowsScalar(const AttentionHeadInput& in, const AttentionTile& t, int64_t keys) {
  for (int r = 0; r < t.rows; ++r) {
    for (int64_t j = 0; j < keys; ++j) {
      t.out[r][j] = j >= t.keyBegin[r] && j < t.keyEnd[r] ? scoreOf(in, t, r, j) : -INFINITY;
    }
  }
}

void exp2Scalar(const float* x, float* y, int64_t n) {
  SA_SCALAR_LOOP
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp2(x[i]);
}

}  // namespace

const AttentionKernels* attentionKernelsScalar() {
  static const AttentionKernels k{"scalar",   kAttentionMaxTileRows, 1,         rowsScalar,
                                  rowsScalar, scoreRowsScalar,       exp2Scalar};
  return &k;
}

}  // namespace sa
SA_SCALAR_END
