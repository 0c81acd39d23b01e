// Scalar attention: the plain reference the SIMD kernels are tested against, and the fallback on
// CPUs without them. One row at a time, one key at a time, online softmax in base 2 over scores in
// the driver's score units (AttentionHeadInput), std::exp2; kept from auto-vectorisation
// (SA_SCALAR_BEGIN).
#include <cmath>
#include <cstdint>

#include "kernels/attention_kernels.h"
#include "kernels/common/target.h"

SA_SCALAR_BEGIN
namespace sa {
namespace {

// q . k over n elements, the key widened from its stored type E.
template <class E>
float dotWith(const float* q, const E* k, int64_t n) {
  float dot = 0.0f;
  SA_SCALAR_LOOP
  for (int64_t d = 0; d < n; ++d) dot += q[d] * widen(k[d]);
  return dot;
}

// acc += p * v over n elements, the value widened from its stored type E.
template <class E>
void addScaled(float* acc, float p, const E* v, int64_t n) {
  SA_SCALAR_LOOP
  for (int64_t c = 0; c < n; ++c) acc[c] += p * widen(v[c]);
}

// q_r . k_j in score units (the query times qScale), or row r's logit of key j with logits.
float dotOf(const AttentionHeadInput& in, const AttentionTile& t, int r, int64_t j) {
  const float* q = t.q[r];
  if (in.logits) return q[j] * in.qScale;
  float dot = 0.0f;
  switch (in.kvType) {
    case ElementType::BFloat16:
      dot = dotWith(q, keyRowOf<Bf16Bits>(in, j), in.dk);
      break;
    case ElementType::Float16:
      dot = dotWith(q, keyRowOf<HalfBits>(in, j), in.dk);
      break;
    default:
      dot = dotWith(q, keyRow(in, j), in.dk);
      break;
  }
  return dot * in.qScale;
}

// The score of row r against key j with dot product `dot`, in score units less `base`, or -inf
// when a mask forbids the pair. The base comes off before anything is added to the dot product,
// so a large score common to the row cancels exactly instead of rounding every key differently.
float scoreOf(const AttentionHeadInput& in, const AttentionTile& t, int r, int64_t j, float dot, float base) {
  if (in.maskKind == MaskKind::Boolean && (t.maskBoolean[r][j * in.maskStrideK] != 0) == in.maskBooleanForbids) {
    return -INFINITY;
  }
  if (in.keyPaddingKind == MaskKind::Boolean && t.keyPaddingBoolean[j * in.keyPaddingStrideK] != 0) return -INFINITY;
  float bias = 0.0f;
  if (in.maskKind == MaskKind::Additive) bias += t.maskAdditive[r][j * in.maskStrideK];
  if (in.keyPaddingKind == MaskKind::Additive) bias += t.keyPaddingAdditive[j * in.keyPaddingStrideK];
  if (bias == -INFINITY) return -INFINITY;
  float s = dot;
  if (in.softcapLog2 > 0.0f) s = in.softcapLog2 * std::tanh(s / in.softcapLog2);  // base-2 units then
  s -= base;
  if (in.alibi) s += t.alibiSlope[r] * std::fabs(t.alibiPos[r] - static_cast<float>(j));
  return s + bias * in.naturalToUnits;
}

void rowsScalar(const AttentionHeadInput& in, const AttentionTile& t) {
  float* acc = attentionScratch(0, static_cast<size_t>(in.dv));
  for (int r = 0; r < t.rows; ++r) {
    // m: the running max in score units (0 until the first allowed key); weights relative to it.
    float m = 0.0f, l = 0.0f;
    bool seen = false;
    SA_SCALAR_LOOP
    for (int64_t c = 0; c < in.dv; ++c) acc[c] = 0.0f;
    for (int64_t j = t.keyBegin[r]; j < t.keyEnd[r]; ++j) {
      const float dot = dotOf(in, t, r, j);
      float s = scoreOf(in, t, r, j, dot, m);
      if (s == -INFINITY) continue;  // masked: contributes nothing (not even 0 * a NaN value)
      if (s > 0.0f || !seen) {       // new running max: rescale what is accumulated so far
        const float mNew = m + s;
        const float alpha = seen ? std::exp2(in.unitLog2 * (m - mNew)) : 0.0f;
        l *= alpha;
        SA_SCALAR_LOOP
        for (int64_t c = 0; c < in.dv; ++c) acc[c] *= alpha;
        m = mNew;
        seen = true;
        s = scoreOf(in, t, r, j, dot, m);
      }
      const float p = std::exp2(in.unitLog2 * s);  // NaN score: NaN weight, the row turns NaN
      l += p;
      switch (in.kvType) {
        case ElementType::BFloat16:
          addScaled(acc, p, valueRowOf<Bf16Bits>(in, j), in.dv);
          break;
        case ElementType::Float16:
          addScaled(acc, p, valueRowOf<HalfBits>(in, j), in.dv);
          break;
        default:
          addScaled(acc, p, valueRow(in, j), in.dv);
          break;
      }
    }
    const float inv = l == 0.0f ? 0.0f : 1.0f / l;
    SA_SCALAR_LOOP
    for (int64_t c = 0; c < in.dv; ++c) t.out[r][c] = acc[c] * inv;
    if (t.lseRef != nullptr) {
      t.lseRef[r] = m;
      t.lseLog2Sum[r] = l == 0.0f ? -INFINITY : std::log2(l);
    }
  }
}

// Two passes per row: the maximum, then the scores less it.
void scoreRowsScalar(const AttentionHeadInput& in, const AttentionTile& t, int64_t keys) {
  for (int r = 0; r < t.rows; ++r) {
    float top = -INFINITY;
    for (int64_t j = t.keyBegin[r]; j < t.keyEnd[r]; ++j)
      top = std::fmax(top, scoreOf(in, t, r, j, dotOf(in, t, r, j), 0.0f));
    const float base = std::isfinite(top) ? top : 0.0f;
    for (int64_t j = 0; j < keys; ++j) {
      const bool inRange = j >= t.keyBegin[r] && j < t.keyEnd[r];
      t.out[r][j] = inRange ? in.unitLog2 * scoreOf(in, t, r, j, dotOf(in, t, r, j), base) : -INFINITY;
    }
  }
}

void exp2Scalar(const float* x, float* y, int64_t n) {
  SA_SCALAR_LOOP
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp2(x[i]);
}

}  // namespace

const AttentionKernels* attentionKernelsScalar() {
  // Row by row whatever the tile: its rows are only the driver's unit of work (and of key splits).
  constexpr int kTileRows = 16;
  static const AttentionKernels k{"scalar",        kTileRows,  1,       rowsScalar, rowsScalar,
                                  scoreRowsScalar, exp2Scalar, nullptr, nullptr};
  return &k;
}

}  // namespace sa
SA_SCALAR_END
