// Pieces shared by the tile and row attention kernels of every SIMD ISA (attention_tile.h,
// attention_rows.h): key-range summaries, mask-to-bias conversion, finalisation of a row.
//
// Include inside the ISA's target region (templates and inline functions defined here must be
// compiled for that ISA), after every standard header the translation unit needs. Everything is in
// an anonymous namespace: each ISA file gets its own copy, so two ISAs never share (and the linker
// never merges) an instantiation compiled for the other one's instruction set.
#pragma once
// Standard headers first: the ISA file includes them before its target region too, so these are
// no-ops there and no standard inline function gets compiled for a wider ISA than baseline.
#include <cmath>
#include <cstdint>

#include "kernels/attention_kernels.h"

// Full unrolling of a short loop over registers (an array of vectors indexed by the loop counter):
// if the compiler keeps the loop, the array has to live in memory and every vector is spilled.
#if defined(__clang__)
#define SA_ATTENTION_UNROLL _Pragma("clang loop unroll(full)")
#elif defined(__GNUC__)
#define SA_ATTENTION_UNROLL _Pragma("GCC unroll 16")
#else
#define SA_ATTENTION_UNROLL
#endif

namespace sa {
namespace {

constexpr float kLog2e = 1.4426950408889634f;

inline int64_t roundUpTo(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
inline int64_t minOf(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t maxOf(int64_t a, int64_t b) { return a > b ? a : b; }

// The union and the intersection of the rows' key ranges. Keys in [fullBegin, fullEnd) are allowed
// for every row (modulo the mask), so blocks inside it need no per-key range test.
struct KeySpan {
  int32_t begin = 0, end = 0;          // union (begin >= end: every row is empty)
  int32_t fullBegin = 0, fullEnd = 0;  // intersection
};

inline KeySpan keySpanOf(const AttentionTile& t) {
  KeySpan s;
  s.begin = INT32_MAX;
  s.end = 0;
  s.fullBegin = 0;
  s.fullEnd = INT32_MAX;
  for (int r = 0; r < t.rows; ++r) {
    // An empty row (a sliding window past its key length, say) must not pull the union's begin
    // back to its clipped position; it still empties the intersection, so its lane stays tested.
    if (t.keyBegin[r] < t.keyEnd[r]) {
      if (t.keyBegin[r] < s.begin) s.begin = t.keyBegin[r];
      if (t.keyEnd[r] > s.end) s.end = t.keyEnd[r];
    }
    if (t.keyBegin[r] > s.fullBegin) s.fullBegin = t.keyBegin[r];
    if (t.keyEnd[r] < s.fullEnd) s.fullEnd = t.keyEnd[r];
  }
  return s;
}

// One source of score bias: a mask row (additive, or boolean of either polarity), element j at
// [j * stride].
struct BiasSource {
  MaskKind kind = MaskKind::None;
  const float* additive = nullptr;
  const uint8_t* boolean = nullptr;
  int64_t stride = 0;
  bool booleanForbids = false;  // nonzero = forbidden (key padding, nn.MultiheadAttention)
  float toUnits = kLog2e;       // additive masks: natural units into score units
};

inline BiasSource rowMaskSource(const AttentionHeadInput& in, const AttentionTile& t, int r) {
  return BiasSource{in.maskKind,    t.maskAdditive[r],     t.maskBoolean[r],
                    in.maskStrideK, in.maskBooleanForbids, in.naturalToUnits};
}

inline BiasSource keyPaddingSource(const AttentionHeadInput& in, const AttentionTile& t) {
  return BiasSource{in.keyPaddingKind, t.keyPaddingAdditive, t.keyPaddingBoolean, in.keyPaddingStrideK, true,
                    in.naturalToUnits};
}

// The bias of keys [k0, k0 + n) in score units from one source, written to (or, with accumulate,
// added to) bias[j * biasStride]: additive masks scaled by toUnits (-inf stays -inf), boolean masks 0 or
// -inf. Returns whether any key is forbidden (-inf), so the caller knows the block holds masked
// keys (see the non-finite V guard in the kernels).
inline bool writeBias(const BiasSource& src, int64_t k0, int64_t n, float* bias, int64_t biasStride, bool accumulate) {
  bool anyMasked = false;
  for (int64_t j = 0; j < n; ++j) {
    float b;
    if (src.kind == MaskKind::Additive) {
      const float m = src.additive[(k0 + j) * src.stride];
      b = m == -INFINITY ? -INFINITY : m * src.toUnits;
    } else {
      const bool allowed = (src.boolean[(k0 + j) * src.stride] != 0) != src.booleanForbids;
      b = allowed ? 0.0f : -INFINITY;
    }
    anyMasked |= (b == -INFINITY);
    float& dst = bias[j * biasStride];
    dst = accumulate ? dst + b : b;
  }
  return anyMasked;
}

// The bias sources of a tile: `row` differs per row (unless the mask row is shared), `shared`
// (up to two: a shared mask row and the key padding) is the same for every row.
struct TileBias {
  bool haveRow = false;
  int sharedCount = 0;
  BiasSource shared[2];
};

inline TileBias tileBiasOf(const AttentionHeadInput& in, const AttentionTile& t) {
  TileBias tb;
  if (in.maskKind != MaskKind::None) {
    if (t.maskRowShared) {
      tb.shared[tb.sharedCount++] = rowMaskSource(in, t, 0);
    } else {
      tb.haveRow = true;
    }
  }
  if (in.keyPaddingKind != MaskKind::None) tb.shared[tb.sharedCount++] = keyPaddingSource(in, t);
  return tb;
}

// The shared bias of keys [k0, k0 + n) into bias[0, n); returns whether a key is forbidden.
inline bool writeSharedBias(const TileBias& tb, int64_t k0, int64_t n, float* bias) {
  bool masked = false;
  for (int s = 0; s < tb.sharedCount; ++s) masked |= writeBias(tb.shared[s], k0, n, bias, 1, s > 0);
  return masked;
}

// Soft-capping of base-2 scores, s -> c tanh(s / c) with c = cap * log2(e), through
// tanh(y) = 1 - 2 / (e^{2y} + 1) and e^{2y} = 2^{s * 2 / cap}: one exp2, one divide. Near y = 0 this
// loses relative precision (the cancellation tanh_poly.h's Taylor branch avoids) but keeps an
// absolute error of a few 1e-8 * c, which is all a softmax input needs (only score differences
// matter). The exponent is clamped to 40 (the exp2 domain ends at 127; 1 - 2/(2^40 + 1) rounds to
// 1 already; x86 min returns its second operand for a NaN, so the score goes second); below -126
// exp2 gives 0 and the result -c. NaN stays NaN, -inf goes to -c.
struct SoftcapConstants {
  float cap2;       // cap * log2(e)
  float expFactor;  // 2 / cap
};

template <class V>
inline typename V::F softcapScores(typename V::F s, const SoftcapConstants& c) {
  const typename V::F e = V::exp2(V::min(V::set1(40.0f), V::mul(s, V::set1(c.expFactor))));
  const typename V::F two = V::set1(2.0f);
  const typename V::F cap = V::set1(c.cap2);
  // c - 2c / (e + 1)
  return V::sub(cap, V::div(V::mul(two, cap), V::add(e, V::set1(1.0f))));
}

// ALiBi bias of slope `slope` (score units, <= 0) for distance |pos - key|: s + slope * |pos - key|.
template <class V>
inline typename V::F addAlibi(typename V::F s, typename V::F slope, typename V::F pos, typename V::F key) {
  const typename V::F dist = V::max(V::sub(pos, key), V::sub(key, pos));
  return V::fmadd(slope, dist, s);
}

// What a finished row writes: out = acc / l, or zeros when no key contributed (l == 0); a NaN l
// (a NaN input reached this row) keeps the NaN. Its log2-sum-exp: the reference the weights were
// taken against (score units) and log2(l), -inf for an empty row (AttentionTile::lseRef).
inline float inverseSum(float l) { return l == 0.0f ? 0.0f : 1.0f / l; }

inline void writeRowLse(const AttentionTile& t, int r, float ref, float l) {
  if (t.lseRef == nullptr) return;
  t.lseRef[r] = ref;
  t.lseLog2Sum[r] = l == 0.0f ? -INFINITY : std::log2(l);
}

// The reference a row's scores start from when something (a mask, ALiBi) is added to them before
// their maximum is known: a dot product of the row's own, or 0 when that one is not finite. Any
// score of the row is near enough that the biased scores stay small beside it.
inline float startingReference(float dot) { return std::isfinite(dot) ? dot : 0.0f; }

// Whether n value rows hold a non-finite element: inf * 0 and NaN * 0 are NaN, finite * 0 is 0,
// so one FMA per vector accumulates the answer.
template <class V>
inline bool valuesNonFinite(const float* v, int64_t vs, int64_t n, int64_t dv) {
  constexpr int W = V::W;
  typename V::F acc = V::zero();
  const int64_t full = dv / W * W;
  for (int64_t j = 0; j < n; ++j) {
    const float* row = v + j * vs;
    for (int64_t c = 0; c < full; c += W) acc = V::fmadd(V::loadu(row + c), V::zero(), acc);
    if (full < dv) acc = V::fmadd(V::loadTail(row + full, static_cast<int>(dv - full)), V::zero(), acc);
  }
  return V::anyNaN(acc);
}

// y = 2^x over n floats with the ISA's vector exp2 (AttentionKernels::exp2, for its error tests).
template <class V>
void exp2Array(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + V::W <= n; i += V::W) V::storeu(y + i, V::exp2(V::loadu(x + i)));
  if (i < n) {
    const int rest = static_cast<int>(n - i);
    V::storeTail(y + i, V::exp2(V::loadTail(x + i, rest)), rest);
  }
}

}  // namespace
}  // namespace sa
