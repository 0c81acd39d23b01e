// The fused attention row kernel, for tiles of few query rows (decode: Lq = 1, or the G query heads
// of one kv head in grouped-query decode), written once over a vector-traits class V like
// attention_tile.h. Include inside the ISA's target region.
//
// With one row, putting rows in the lanes (the tile kernel) would waste W-1 lanes. Here the lanes
// hold keys (scores) or the head dimension (dot products and P.V):
//   scores   W keys at a time: W dot products vectorised over dk (four at a time, four FMA
//            chains), then one transpose-and-add reduction (V::reduceLanes) turns the W
//            accumulators into one vector of W scores;
//   softmax  per row, scalar running max / sum, a vector exp2 over W scores at a time;
//   P.V      the output row in registers (vectorised over dv), each value row read once.
// With logits (positional attention) the scores are the given rows, read W at a time in place.
// bfloat16 keys and values whose dk and dv are multiples of 2W take the pair form (Pairs): one
// load brings 2W elements, widened by a shift (the even ones) and a mask (the odd ones): half the
// widening instructions of W at a time, which bound the kernel when the cache sits in L3. The
// packed query and the output row are then kept, per run of 2W, as its even elements, then its
// odd ones (pairIndex).
// The rows of a tile take turns over one block of NB keys, so that block of K and V comes from
// memory once and from L2 for the other rows. Memory-bound for long caches: every key and value
// is read once per tile, which is the least any kernel can do.
#pragma once
#include <type_traits>

#include "kernels/common/attention_common.h"
#include "kernels/common/prefetch.h"

namespace sa {
namespace {

// Loads of W key or value elements of type E (float, Bf16Bits, HalfBits) widened to float lanes.
template <class V, class E>
struct KvLoad {
  static typename V::F load(const float* p) { return V::loadu(p); }
  static typename V::F tail(const float* p, int n) { return V::loadTail(p, n); }
};
template <class V>
struct KvLoad<V, Bf16Bits> {
  static typename V::F load(const Bf16Bits* p) { return V::loadBf16(reinterpret_cast<const uint16_t*>(p)); }
  static typename V::F tail(const Bf16Bits* p, int n) {
    return V::loadBf16Tail(reinterpret_cast<const uint16_t*>(p), n);
  }
};
template <class V>
struct KvLoad<V, HalfBits> {
  static typename V::F load(const HalfBits* p) { return V::loadF16(reinterpret_cast<const uint16_t*>(p)); }
  static typename V::F tail(const HalfBits* p, int n) {
    return V::loadF16Tail(reinterpret_cast<const uint16_t*>(p), n);
  }
};

// E: the stored type of keys and values (AttentionHeadInput::kvType), widened in registers.
// Pairs (bfloat16 only, dk and dv multiples of 2W): see the header.
template <class V, class E = float, bool Pairs = false>
struct RowAttention {
  using F = typename V::F;
  using L = KvLoad<V, E>;
  static constexpr int W = V::W;
  static_assert(!Pairs || std::is_same<E, Bf16Bits>::value, "the pair form reads bfloat16");
  // Where element d of a packed query or output row lies: itself, or in the pair form, within its
  // run of 2W, the even elements first, then the odd ones.
  static int64_t pairIndex(int64_t d) {
    if (!Pairs) return d;
    const int64_t in = d % (2 * W);
    return d - in + (in % 2) * W + in / 2;
  }
  // The even and odd elements of 2W bfloat16 values at p.
  static inline void loadPairs(const E* p, F* even, F* odd) {
    V::loadBf16Pairs(reinterpret_cast<const uint16_t*>(p), even, odd);
  }

  // Keys per block. Each block costs a horizontal max, the scalar online-softmax update, a rescale
  // of the output row and a pass of the P.V loop per row, whatever its length: 256 keys rather
  // than the tile kernel's 64 spread them over 4x the keys, and the block of K then V (64 KiB each
  // at d = 64) is still read from L2 by the rows after the first. 512 was no better.
  static constexpr int NB = 256;
  static constexpr int NCR = V::kRowPvCols;  // output vectors held in registers by the P.V loop

  // The keys of the block from kb: NB, fewer at the span's end, and ending at kb's page (paged keys)
  // so that a block's keys and values are evenly strided.
  static int64_t blockKeys(const AttentionHeadInput& in, int64_t kb, int64_t spanEnd) {
    return contiguousKeysEnd(in, kb, minOf(kb + NB, spanEnd)) - kb;
  }
  static_assert(W % 4 == 0, "scoreGroup takes keys four at a time");
  // How far ahead of its reads the first row fetches keys and values: 16 KiB of one head's rows
  // (64 keys at d = 64 in float32). In a cache's [L, H, d] rows (48 lines apart at H d = 768 in
  // float32) one head's lines crowd a quarter of L2's sets: fetched a whole block (64 KiB) ahead,
  // they evict each other before they are read. With logits only values are fetched (dk is then
  // the logits row's length). Paged keys smaller than a block: whole pages ahead, so that the
  // fetched rows of a block (one page at most) lie in one page too.
  static constexpr int64_t kPrefetchBytes = 16 * 1024;
  static int64_t prefetchKeys(const AttentionHeadInput& in) {
    const int64_t rowBytes = (in.logits ? in.dv : maxOf(in.dk, in.dv)) * static_cast<int64_t>(sizeof(E));
    const int64_t keys = minOf(NB, maxOf(W, kPrefetchBytes / rowBytes / W * W));
    if (in.pageKeys == 0 || in.pageKeys >= NB) return keys;
    return (keys + in.pageKeys - 1) / in.pageKeys * in.pageKeys;
  }
  // The elements of q and k (or of a value row) one step takes: W, or 2W in the pair form (whose
  // dk and dv leave no tail); prefetches go one per 64-byte line, every kDotLineStep steps.
  static constexpr int kDotStep = Pairs ? 2 * W : W;
  static constexpr int kStepBytes = kDotStep * static_cast<int>(sizeof(E));
  static constexpr int kDotLineStep = kStepBytes >= 64 ? 1 : 64 / kStepBytes;
  struct QueryStep {
    F a, b;  // q[d, d + W), or in the pair form the 2W run's even elements and its odd ones
  };
  static inline QueryStep queryStep(const float* qs, int64_t d) {
    return QueryStep{V::load(qs + d), Pairs ? V::load(qs + d + W) : V::zero()};
  }
  static inline F dotStep(const QueryStep& q, const E* k, F acc) {
    if constexpr (Pairs) {
      F even, odd;
      loadPairs(k, &even, &odd);
      return V::fmadd(q.b, odd, V::fmadd(q.a, even, acc));
    } else {
      return V::fmadd(q.a, L::load(k), acc);
    }
  }

  // Scores of nk <= W keys (key i at k + i*ks) against one packed query row qs (dkPad floats,
  // zero-padded, in pairIndex order): lane i = q . k_i, lanes >= nk are -inf. pf (or nullptr): the
  // keys prefetchKeys further on, fetched into L2 one line per line read (see rowScores: why).
  static inline F scoreGroup(const float* qs, const E* k, int64_t ks, int64_t dk, int nk, const E* pf) {
    F acc[W];
    for (int i = 0; i < W; ++i) acc[i] = V::zero();
    const int64_t full = dk / kDotStep * kDotStep;
    const int tail = static_cast<int>(dk - full);  // 0 in the pair form
    if (nk == W) {
      // Four keys at a time, each row read front to back: four sequential streams through K (the
      // hardware prefetcher follows them; sixteen interleaved ones it does not) and four
      // independent FMA chains. Unrolled so the accumulators stay in registers.
      SA_ATTENTION_UNROLL
      for (int i = 0; i < W; i += 4) {
        const E* k0 = k + i * ks;
        const E* k1 = k0 + ks;
        const E* k2 = k1 + ks;
        const E* k3 = k2 + ks;
        F a0 = V::zero(), a1 = V::zero(), a2 = V::zero(), a3 = V::zero();
        for (int64_t d = 0; d < full; d += kDotStep) {
          if (pf != nullptr && (d / kDotStep) % kDotLineStep == 0) {
            const E* f = pf + i * ks + d;
            prefetchToL2(f);
            prefetchToL2(f + ks);
            prefetchToL2(f + 2 * ks);
            prefetchToL2(f + 3 * ks);
          }
          const QueryStep q = queryStep(qs, d);
          a0 = dotStep(q, k0 + d, a0);
          a1 = dotStep(q, k1 + d, a1);
          a2 = dotStep(q, k2 + d, a2);
          a3 = dotStep(q, k3 + d, a3);
        }
        if (tail > 0) {
          const F q = V::load(qs + full);
          a0 = V::fmadd(q, L::tail(k0 + full, tail), a0);
          a1 = V::fmadd(q, L::tail(k1 + full, tail), a1);
          a2 = V::fmadd(q, L::tail(k2 + full, tail), a2);
          a3 = V::fmadd(q, L::tail(k3 + full, tail), a3);
        }
        acc[i] = a0;
        acc[i + 1] = a1;
        acc[i + 2] = a2;
        acc[i + 3] = a3;
      }
    } else {
      for (int i = 0; i < nk; ++i) {
        const E* kr = k + i * ks;
        for (int64_t d = 0; d < full; d += kDotStep) acc[i] = dotStep(queryStep(qs, d), kr + d, acc[i]);
        if (tail > 0) acc[i] = V::fmadd(V::load(qs + full), L::tail(kr + full, tail), acc[i]);
      }
    }
    return V::negInfPastLanes(V::reduceLanes(acc), nk);
  }

  // One step of P.V for one value row: acc += p * row[0, kDotStep), into one vector, or in the
  // pair form two (the run's even elements, then its odd ones: o's pairIndex order).
  static constexpr int kStepVectors = Pairs ? 2 : 1;
  static inline void pvStep(F p, const E* row, F* acc) {
    if constexpr (Pairs) {
      F even, odd;
      loadPairs(row, &even, &odd);
      acc[0] = V::fmadd(p, even, acc[0]);
      acc[1] = V::fmadd(p, odd, acc[1]);
    } else {
      acc[0] = V::fmadd(p, L::load(row), acc[0]);
    }
  }

  // o[NS steps] = o * alpha + sum_j p[j] v_j (value j at v + j*vs), two accumulator sets
  // (even / odd keys) so that even a one-vector row keeps two FMA chains in flight. Tail: the last
  // step holds tailLanes < W elements (never in the pair form). pf (or nullptr): value rows further
  // on (row j at pf + j*vs for j < pfRows, by pairs: an odd last one is left), fetched into L2 like
  // scoreGroup's.
  template <int NS, bool Tail>
  static void pvRow(const float* p, int n, const E* v, int64_t vs, float* o, float alpha, int tailLanes, const E* pf,
                    int pfRows) {
    constexpr int NV = NS * kStepVectors;
    F acc0[NV], acc1[NV];
    const F a = V::set1(alpha);
    SA_ATTENTION_UNROLL
    for (int c = 0; c < NV; ++c) {
      acc0[c] = V::mul(V::load(o + c * W), a);
      acc1[c] = V::zero();
    }
    int j = 0;
    for (; j + 2 <= n; j += 2) {
      const E* r0 = v + j * vs;
      const E* r1 = r0 + vs;
      const F p0 = V::bcast(p + j), p1 = V::bcast(p + j + 1);
      if (pf != nullptr && j + 1 < pfRows) {
        for (int c = 0; c < NS; c += kDotLineStep) {
          prefetchToL2(pf + j * vs + c * kDotStep);
          prefetchToL2(pf + (j + 1) * vs + c * kDotStep);
        }
      }
      SA_ATTENTION_UNROLL
      for (int c = 0; c < NS; ++c) {
        if (!Pairs && Tail && c == NS - 1) {  // the pair form has no tail (pvUpdate)
          acc0[c] = V::fmadd(p0, L::tail(r0 + c * W, tailLanes), acc0[c]);
          acc1[c] = V::fmadd(p1, L::tail(r1 + c * W, tailLanes), acc1[c]);
        } else {
          pvStep(p0, r0 + c * kDotStep, acc0 + c * kStepVectors);
          pvStep(p1, r1 + c * kDotStep, acc1 + c * kStepVectors);
        }
      }
    }
    if (j < n) {
      const E* r0 = v + j * vs;
      const F p0 = V::bcast(p + j);
      SA_ATTENTION_UNROLL
      for (int c = 0; c < NS; ++c) {
        if (!Pairs && Tail && c == NS - 1) {  // the pair form has no tail (pvUpdate)
          acc0[c] = V::fmadd(p0, L::tail(r0 + c * W, tailLanes), acc0[c]);
        } else {
          pvStep(p0, r0 + c * kDotStep, acc0 + c * kStepVectors);
        }
      }
    }
    SA_ATTENTION_UNROLL
    for (int c = 0; c < NV; ++c) V::store(o + c * W, V::add(acc0[c], acc1[c]));
  }

  // Steps of one P.V chunk, whose accumulators are held in registers (NCR vectors).
  static constexpr int kMaxPvSteps = NCR / kStepVectors > 1 ? NCR / kStepVectors : 1;

  template <bool Tail>
  static void pvDispatch(int ns, const float* p, int n, const E* v, int64_t vs, float* o, float alpha, int tailLanes,
                         const E* pf, int pfRows) {
    switch (ns) {
      case 1:
        pvRow<1, Tail>(p, n, v, vs, o, alpha, tailLanes, pf, pfRows);
        break;
      case 2:
        pvRow<(kMaxPvSteps >= 2 ? 2 : 1), Tail>(p, n, v, vs, o, alpha, tailLanes, pf, pfRows);
        break;
      case 3:
        pvRow<(kMaxPvSteps >= 3 ? 3 : 1), Tail>(p, n, v, vs, o, alpha, tailLanes, pf, pfRows);
        break;
      case 4:
        pvRow<(kMaxPvSteps >= 4 ? 4 : 1), Tail>(p, n, v, vs, o, alpha, tailLanes, pf, pfRows);
        break;
      case 5:
        pvRow<(kMaxPvSteps >= 5 ? 5 : 1), Tail>(p, n, v, vs, o, alpha, tailLanes, pf, pfRows);
        break;
      case 6:
        pvRow<(kMaxPvSteps >= 6 ? 6 : 1), Tail>(p, n, v, vs, o, alpha, tailLanes, pf, pfRows);
        break;
      case 7:
        pvRow<(kMaxPvSteps >= 7 ? 7 : 1), Tail>(p, n, v, vs, o, alpha, tailLanes, pf, pfRows);
        break;
      default:
        pvRow<(kMaxPvSteps >= 8 ? 8 : 1), Tail>(p, n, v, vs, o, alpha, tailLanes, pf, pfRows);
        break;
    }
  }

  static void pvUpdate(const AttentionHeadInput& in, const float* p, int n, const E* v, float* o, int64_t dvPad,
                       float alpha, const E* pf, int pfRows) {
    // Steps of kDotStep elements; the last one holds `tail` (W unless dv leaves fewer).
    const int64_t steps = Pairs ? in.dv / kDotStep : dvPad / W;
    const int64_t chunks = (steps + kMaxPvSteps - 1) / kMaxPvSteps;
    const int tail = Pairs ? W : static_cast<int>(in.dv - (dvPad - W));
    int64_t c0 = 0;
    for (int64_t ch = 0; ch < chunks; ++ch) {
      const int ns = static_cast<int>((steps - c0) / (chunks - ch));
      const bool last = c0 + ns == steps;
      const int64_t at = c0 * kDotStep;
      const E* f = pf == nullptr ? nullptr : pf + at;
      if (last && tail < W) {
        pvDispatch<true>(ns, p, n, v + at, in.vStride, o + at, alpha, tail, f, pfRows);
      } else {
        pvDispatch<false>(ns, p, n, v + at, in.vStride, o + at, alpha, W, f, pfRows);
      }
      c0 += ns;
    }
  }

  // See TileAttention::pvBlockGuarded: masked keys (weight exactly 0) must not bring a non-finite
  // value into a row that never attended to it.
  static void pvUpdateGuarded(const AttentionHeadInput& in, const float* p, int n, const E* v, float* o, int64_t dvPad,
                              float alpha) {
    const int64_t full = in.dv / kDotStep * kDotStep;  // all of dv in the pair form
    const F a = V::set1(alpha);
    for (int64_t c = 0; c < dvPad; c += W) V::store(o + c, V::mul(V::load(o + c), a));
    for (int j = 0; j < n; ++j) {
      if (p[j] == 0.0f) continue;
      const F pb = V::set1(p[j]);
      const E* row = v + j * in.vStride;
      for (int64_t c = 0; c < full; c += kDotStep) {
        F acc[kStepVectors];
        for (int i = 0; i < kStepVectors; ++i) acc[i] = V::load(o + c + i * W);
        pvStep(pb, row + c, acc);
        for (int i = 0; i < kStepVectors; ++i) V::store(o + c + i * W, acc[i]);
      }
      if (full < in.dv) {
        V::store(o + full, V::fmadd(pb, L::tail(row + full, static_cast<int>(in.dv - full)), V::load(o + full)));
      }
    }
  }

  // Whether any of n value rows (row j at v + j * vs) holds a NaN or an infinity.
  static bool valuesNonFinite(const E* v, int64_t vs, int64_t n, int64_t dv) {
    F acc = V::zero();
    const int64_t full = dv / W * W;
    for (int64_t j = 0; j < n; ++j) {
      const E* row = v + j * vs;
      for (int64_t c = 0; c < full; c += W) acc = V::fmadd(L::load(row + c), V::zero(), acc);
      if (full < dv) acc = V::fmadd(L::tail(row + full, static_cast<int>(dv - full)), V::zero(), acc);
    }
    return V::anyNaN(acc);
  }

  // What every row's scores need besides the row itself: the bias sources, soft-capping, the lane
  // offsets of a key group (ALiBi distances) and the end of the tile's keys (prefetch limit).
  struct ScoreSetup {
    TileBias tb;
    bool haveShared;
    bool softcap;
    SoftcapConstants cap;
    F iota;
    int64_t spanEnd;
  };

  static ScoreSetup scoreSetupOf(const AttentionHeadInput& in, const AttentionTile& t, const KeySpan& span) {
    alignas(64) float iota[W];
    for (int i = 0; i < W; ++i) iota[i] = static_cast<float>(i);
    const TileBias tb = tileBiasOf(in, t);
    return ScoreSetup{tb,
                      tb.sharedCount > 0,
                      in.softcapLog2 > 0.0f,
                      SoftcapConstants{in.softcapLog2, 2.0f * kLog2e / in.softcapLog2},
                      V::load(iota),
                      span.end};
  }

  // The tile's query rows, scaled by qScale (score units) and zero-padded to dkPad, into qs in
  // pairIndex order; logits rows are read where they lie (queryRow).
  static void packQueries(const AttentionHeadInput& in, const AttentionTile& t, int64_t dkPad, float* qs) {
    if (in.logits) return;
    for (int r = 0; r < t.rows; ++r) {
      for (int64_t d = 0; d < dkPad; ++d) qs[r * dkPad + pairIndex(d)] = d < in.dk ? t.q[r][d] * in.qScale : 0.0f;
    }
  }

  static const float* queryRow(const AttentionHeadInput& in, const AttentionTile& t, const float* qs, int64_t dkPad,
                               int r) {
    return in.logits ? t.q[r] : qs + r * dkPad;
  }

  // Queries packed by packQueries: none with logits.
  static int64_t packedQueryFloats(const AttentionHeadInput& in, int rows, int64_t dkPad) {
    return in.logits ? 0 : rows * dkPad;
  }

  // Where row r's scores start from: 0, or with biases added before the maximum is known (masks,
  // ALiBi; not with soft-capping, which takes whole scores) its first key's dot product, so that
  // the biased scores stay small beside it (see TileAttention::run).
  static float startingBase(const AttentionHeadInput& in, const AttentionTile& t, const ScoreSetup& c, int r,
                            const float* q) {
    if (c.softcap || !(c.haveShared || c.tb.haveRow || in.alibi) || t.keyBegin[r] >= t.keyEnd[r]) return 0.0f;
    if (in.logits) return startingReference(q[t.keyBegin[r]] * in.qScale);
    const E* k = keyRowOf<E>(in, t.keyBegin[r]);
    float dot = 0.0f;
    for (int64_t d = 0; d < in.dk; ++d) dot += q[pairIndex(d)] * widen(k[d]);
    return startingReference(dot);
  }

  // The final scores of row r (packed query q) against keys [rb, rb + cnt), in score units less
  // `base`, into p[0, cnt), -inf up to the next multiple of W: dot products, soft-capping, the base,
  // ALiBi, then the biases written ahead (shared: the shared bias from key rb on; rowBias: the
  // row's). Returns their lane-wise max. The one implementation of a score that both the fused row
  // kernel and scoreRows use.
  static inline F rowScores(const AttentionHeadInput& in, const AttentionTile& t, const ScoreSetup& c, int r,
                            const float* q, float base, int64_t rb, int cnt, const float* shared, const float* rowBias,
                            int64_t ahead, float* p) {
    F vmax = V::negInf();
    const F baseV = V::set1(base);
    for (int g = 0; g < cnt; g += W) {
      const int nk = cnt - g < W ? cnt - g : W;
      // The first row fetches keys `ahead` on (and in run, values) into L2 while these are used:
      // a long cache streams from DRAM, and the hardware prefetcher alone lets each 64 KiB burst
      // of K, then of V, start cold (decode on two threads gains most).
      F s;
      if (in.logits) {
        // The given logit in score units (qScale is a power of two: exact).
        const float* logit = q + rb + g;
        s = V::negInfPastLanes(V::mul(nk == W ? V::loadu(logit) : V::loadTail(logit, nk), V::set1(in.qScale)), nk);
      } else {
        const bool pfK = ahead > 0 && rb + g + ahead + W <= c.spanEnd;
        s = scoreGroup(q, keyRowOf<E>(in, rb + g), in.kStride, in.dk, nk,
                       pfK ? keyRowOf<E>(in, rb + g + ahead) : nullptr);
      }
      // Soft-capping maps the -inf of lanes >= nk to -cap: mask them again.
      if (c.softcap) s = V::negInfPastLanes(softcapScores<V>(s, c.cap), nk);
      s = V::sub(s, baseV);
      if (in.alibi) {
        const F key = V::add(V::set1(static_cast<float>(rb + g)), c.iota);
        s = addAlibi<V>(s, V::set1(t.alibiSlope[r]), V::set1(t.alibiPos[r]), key);
      }
      // Lanes >= nk: bias 0 (masked load), score already -inf.
      if (c.haveShared) s = V::addBias(s, V::loadTail(shared + g, nk));
      if (c.tb.haveRow) s = V::addBias(s, V::loadTail(rowBias + g, nk));
      vmax = V::max(vmax, s);
      V::storeu(p + g, s);
    }
    return vmax;
  }

  // Row r's final base-2 scores of keys [0, keys), less the row's maximum, into t.out[r] (keys
  // floats; -inf outside [keyBegin[r], keyEnd[r]) and where a mask forbids the key): the
  // materialised weights' input. Two passes: the first finds each row's maximum, the second takes
  // the scores against it, so none is rounded at its full magnitude.
  static void scoreRows(const AttentionHeadInput& in, const AttentionTile& t, int64_t keys) {
    const int rows = t.rows;
    const int64_t dkPad = roundUpTo(in.dk, W);
    const int64_t nQ = packedQueryFloats(in, rows, dkPad), nP = NB + W, nBias = NB + W;
    float* qs = attentionScratch(0, static_cast<size_t>(nQ + nP + 2 * nBias + rows));
    float* p = qs + nQ;
    float* sharedBias = p + nP;
    float* rowBias = sharedBias + nBias;
    float* base = rowBias + nBias;
    packQueries(in, t, dkPad, qs);
    for (int r = 0; r < rows; ++r) {
      base[r] = -INFINITY;
      for (int64_t j = 0; j < keys; ++j) t.out[r][j] = -INFINITY;
    }
    const KeySpan span = keySpanOf(t);
    const ScoreSetup sc = scoreSetupOf(in, t, span);
    for (int pass = 0; pass < 2; ++pass) {
      for (int64_t kb = span.begin, n = 0; kb < span.end; kb += n) {
        n = blockKeys(in, kb, span.end);
        if (sc.haveShared) writeSharedBias(sc.tb, kb, n, sharedBias);
        for (int r = 0; r < rows; ++r) {
          const int64_t rb = maxOf(t.keyBegin[r], kb), re = minOf(t.keyEnd[r], kb + n);
          if (rb >= re) continue;
          const int cnt = static_cast<int>(re - rb);
          if (sc.tb.haveRow) writeBias(rowMaskSource(in, t, r), rb, cnt, rowBias, 1, false);
          const float rowBase = pass == 0 ? 0.0f : base[r];
          const F vmax = rowScores(in, t, sc, r, queryRow(in, t, qs, dkPad, r), rowBase, rb, cnt,
                                   sharedBias + (rb - kb), rowBias, 0, p);
          if (pass == 0) {
            base[r] = std::fmax(base[r], V::hmax(vmax));
          } else {
            for (int j = 0; j < cnt; ++j) t.out[r][rb + j] = in.unitLog2 * p[j];
          }
        }
      }
      for (int r = 0; r < rows && pass == 0; ++r) base[r] = startingReference(base[r]);
    }
  }

  static void run(const AttentionHeadInput& in, const AttentionTile& t) {
    const int rows = t.rows;
    const int64_t dk = in.dk, dv = in.dv;
    const int64_t dkPad = roundUpTo(dk, W), dvPad = roundUpTo(dv, W);
    const int64_t nQ = packedQueryFloats(in, rows, dkPad), nO = rows * dvPad, nP = NB + W, nBias = NB + W;
    float* qs = attentionScratch(0, static_cast<size_t>(nQ + nO + nP + 2 * nBias + 3 * roundUpTo(rows, W)));
    float* o = qs + nQ;
    float* p = o + nO;
    float* sharedBias = p + nP;
    float* rowBias = sharedBias + nBias;
    float* baseRow = rowBias + nBias;
    float* seenRow = baseRow + roundUpTo(rows, W);
    float* lRow = seenRow + roundUpTo(rows, W);

    for (int64_t i = 0; i < nO; ++i) o[i] = 0.0f;
    packQueries(in, t, dkPad, qs);
    const KeySpan span = keySpanOf(t);
    const ScoreSetup sc = scoreSetupOf(in, t, span);
    const int64_t ahead = prefetchKeys(in);
    const F unit = V::set1(in.unitLog2);
    for (int r = 0; r < rows; ++r) {
      baseRow[r] = startingBase(in, t, sc, r, queryRow(in, t, qs, dkPad, r));
      seenRow[r] = -INFINITY;
      lRow[r] = 0.0f;
    }

    for (int64_t kb = span.begin, n = 0; kb < span.end; kb += n) {
      n = blockKeys(in, kb, span.end);
      const bool sharedMasked = sc.haveShared && writeSharedBias(sc.tb, kb, n, sharedBias);
      for (int r = 0; r < rows; ++r) {
        const int64_t rb = maxOf(t.keyBegin[r], kb), re = minOf(t.keyEnd[r], kb + n);
        if (rb >= re) continue;
        const int cnt = static_cast<int>(re - rb);
        bool masked = sharedMasked;
        if (sc.tb.haveRow) masked |= writeBias(rowMaskSource(in, t, r), rb, cnt, rowBias, 1, false);
        const F vmax = rowScores(in, t, sc, r, queryRow(in, t, qs, dkPad, r), baseRow[r], rb, cnt,
                                 sharedBias + (rb - kb), rowBias, r == 0 ? ahead : 0, p);
        // Online softmax for the row, relative to its base (see TileAttention::rescaleTo): the base
        // moves to the running max, and both the old sum and this block's scores move by the
        // difference it really moved by.
        const float blockMax = V::hmax(vmax);
        const float seen = seenRow[r];  // 0 once the row has a key, -inf before
        const float top = blockMax > seen ? blockMax : seen;
        const float move = top == -INFINITY ? 0.0f : top;
        const float base = baseRow[r] + move;
        const float delta = base - baseRow[r];
        alignas(64) float alphaLanes[W];
        V::store(alphaLanes, V::exp2(V::set1(in.unitLog2 * (seen - delta))));
        const F deltaV = V::set1(delta);
        F sum = V::zero();
        for (int g = 0; g < cnt; g += W) {
          const F e = V::exp2(V::mul(V::sub(V::loadu(p + g), deltaV), unit));  // lanes past cnt: exp2(-inf) = 0
          V::storeu(p + g, e);
          sum = V::add(sum, e);
        }
        lRow[r] = lRow[r] * alphaLanes[0] + V::hsum(sum);
        baseRow[r] = base;
        seenRow[r] = top - move;
        const E* vBlock = valueRowOf<E>(in, rb);
        if (masked && valuesNonFinite(vBlock, in.vStride, cnt, dv)) {
          pvUpdateGuarded(in, p, cnt, vBlock, o + r * dvPad, dvPad, alphaLanes[0]);
        } else {
          // Value rows [rb + ahead, re + ahead) that the span has, up to their page's end (pvRow
          // steps vStride from the first).
          const int64_t pf0 = rb + ahead;
          const int pfRows =
              r == 0 && pf0 < span.end ? static_cast<int>(minOf(cnt, contiguousKeysEnd(in, pf0, span.end) - pf0)) : 0;
          pvUpdate(in, p, cnt, vBlock, o + r * dvPad, dvPad, alphaLanes[0],
                   pfRows > 0 ? valueRowOf<E>(in, rb + ahead) : nullptr, pfRows);
        }
      }
    }

    const int64_t full = dv / W * W;
    for (int r = 0; r < rows; ++r) {
      const float inverse = inverseSum(lRow[r]);
      const float* orow = o + r * dvPad;
      float* out = t.out[r];
      if constexpr (Pairs) {
        for (int64_t d = 0; d < dv; ++d) out[d] = orow[pairIndex(d)] * inverse;
      } else {
        const F inv = V::set1(inverse);
        for (int64_t c = 0; c < full; c += W) V::storeu(out + c, V::mul(V::load(orow + c), inv));
        if (full < dv) V::storeTail(out + full, V::mul(V::load(orow + full), inv), static_cast<int>(dv - full));
      }
      writeRowLse(t, r, baseRow[r], lRow[r]);
    }
  }
};

// Whether bfloat16 keys and values take the pair form: dk and dv whole runs of 2W, scores computed.
template <class V>
bool bf16PairsFit(const AttentionHeadInput& in) {
  return !in.logits && in.dk % (2 * V::W) == 0 && in.dv % (2 * V::W) == 0;
}

// The row kernel for the tile's stored key / value type.
template <class V>
void rowAttention(const AttentionHeadInput& in, const AttentionTile& t) {
  switch (in.kvType) {
    case ElementType::BFloat16:
      if (bf16PairsFit<V>(in)) return RowAttention<V, Bf16Bits, true>::run(in, t);
      return RowAttention<V, Bf16Bits>::run(in, t);
    case ElementType::Float16:
      return RowAttention<V, HalfBits>::run(in, t);
    default:
      return RowAttention<V>::run(in, t);
  }
}

template <class V>
void rowAttentionScores(const AttentionHeadInput& in, const AttentionTile& t, int64_t keys) {
  switch (in.kvType) {
    case ElementType::BFloat16:
      if (bf16PairsFit<V>(in)) return RowAttention<V, Bf16Bits, true>::scoreRows(in, t, keys);
      return RowAttention<V, Bf16Bits>::scoreRows(in, t, keys);
    case ElementType::Float16:
      return RowAttention<V, HalfBits>::scoreRows(in, t, keys);
    default:
      return RowAttention<V>::scoreRows(in, t, keys);
  }
}

}  // namespace
}  // namespace sa
