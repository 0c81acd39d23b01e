// The fused attention tile kernel, written once over a vector-traits class V (kernels/<isa>/
// attention_<isa>.cc defines V and instantiates TileAttention<V>). Include inside the ISA's target
// region, after attention_common.h's standard headers (see there for why).
//
// One tile = V::W query rows that share a key/value head; the rows sit in the lanes of a vector:
//
//   S^T micro-kernel  scores of NR keys x W rows: NR accumulators, one per key, each W rows wide.
//                     Per step of the head dimension: one load of the packed Q^T column
//                     and NR FMAs with the key element broadcast straight from K (no K packing at
//                     all: K is read in place through its row stride).
//   softmax           fused into the S^T step, lane-wise: the reference max, the rescale factor
//                     and the running sum are vectors over the W rows (no horizontal reduction);
//                     the weights are taken from the score registers against a reference that
//                     only moves when a score exceeds it by kSlack (see Softmax), so the scores
//                     never make a round trip through memory before their exp. Causal and
//                     key-length limits are one integer compare per key on ragged blocks.
//   P.V micro-kernel  two forms, chosen by the traits (V::kPvFromScoreRegisters):
//                     - from the score registers (AVX-512, AVX2): the NR weight vectors never
//                       leave the registers; O is kept transposed (O^T, [dv][W], rows in lanes,
//                       in L1) and each V element is broadcast, like K's in the S^T step: per NC
//                       columns of dv, NC accumulators take NR FMAs each. Each score step's P.V
//                       follows it; V is read once per tile, in place; O^T is rescaled only when
//                       the reference moves.
//                     - through L1 (NEON: the other form is not measured there, it runs under
//                       qemu here): P^T is stored per block of NB keys, then MR rows x NC vectors
//                       of dv in registers, P broadcast from the P^T block, V rows read in place
//                       (a masked load for the dv tail, never past a row); the O tile is rescaled
//                       as it is loaded, once per block.
//
// Block of NB keys (V::kKeyBlock): the unit of the mask and bias rows written ahead and of the
// non-finite value check; through L1 also of P^T, whose V block (NB x dv) is read MR times per
// tile from L1, so NB is sized for it and the P^T block, the packed Q^T, and the O tile to fit a
// 32 KiB L1 together. O (or O^T) lives in per-thread L1 scratch.
// Scores are in score units (AttentionHeadInput: Q packed times a power of two, the rest of
// scale * log2(e) applied to score - reference as the exp2 argument), so a score of 1e4 is never
// rounded at that magnitude before its row's reference is subtracted.
#pragma once
#include "kernels/common/attention_common.h"
#include "kernels/common/prefetch.h"

namespace sa {
namespace {

// Scores of N keys for the W query rows of a tile: acc[j] = init + sum_d qt[d*W ..] * k[j*ks + d].
// Keys are addressed in groups of four from one pointer with offsets 0, ks, 2ks, 3ks so a 16-key
// tile needs only 4 pointers + 2 strides (x86 has 15 usable general registers).
//
// Meanwhile the next score step's nextRows key rows (from kNext) are prefetched into L1, four
// cache lines per four head-dimension steps: a step's N key rows otherwise arrive from L2 (L3 once a
// head's K and V pass 1 MiB) in bursts of N misses every 16 steps. One step ahead is enough: two,
// or the block's V rows as well, brought nothing more.
template <class V, int N>
inline void scoresByBroadcast(const float* qt, const float* k, int64_t ks, int64_t dk, typename V::F init,
                              typename V::F* acc, const float* kNext, int nextRows) {
  constexpr int W = V::W;
  constexpr int G = (N + 3) / 4;
  for (int j = 0; j < N; ++j) acc[j] = init;
  const float* kp[G];
  for (int g = 0; g < G; ++g) kp[g] = k + 4 * g * ks;
  const int64_t ks2 = 2 * ks, ks3 = 3 * ks;
  int64_t nextOffset = 0;
  // Unrolled over d: the loop's pointer increments and branch once per 4 steps.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 4
#elif defined(__clang__)
#pragma clang loop unroll_count(4)
#endif
  for (int64_t d = 0; d < dk; ++d) {
    if ((d & 3) == 0 && nextRows > 0) {
      const float* p = kNext + nextOffset;
      prefetchToL1(p);
      prefetchToL1(p + 16);
      prefetchToL1(p + 32);
      prefetchToL1(p + 48);
      nextOffset += 64;
      if (nextOffset >= dk) {  // rows of up to 64 floats take one turn, longer ones several
        nextOffset = 0;
        kNext += ks;
        --nextRows;
      }
    }
    const typename V::F a = V::load(qt + d * W);
    for (int g = 0; g < G; ++g) {
      const float* p = kp[g] + d;
      acc[4 * g] = V::fmadd(V::bcast(p), a, acc[4 * g]);
      if (4 * g + 1 < N) acc[4 * g + 1] = V::fmadd(V::bcast(p + ks), a, acc[4 * g + 1]);
      if (4 * g + 2 < N) acc[4 * g + 2] = V::fmadd(V::bcast(p + ks2), a, acc[4 * g + 2]);
      if (4 * g + 3 < N) acc[4 * g + 3] = V::fmadd(V::bcast(p + ks3), a, acc[4 * g + 3]);
    }
  }
}

// The through-L1 P.V micro-tile (rows x vectors of dv); traits that take P.V from the score
// registers do not name one.
template <class V, bool = V::kPvFromScoreRegisters>
struct PvTileShape {
  static constexpr int rows = V::kPvRows, cols = V::kPvCols;
};
template <class V>
struct PvTileShape<V, true> {
  static constexpr int rows = 1, cols = 1;
};

template <class V>
struct TileAttention {
  using F = typename V::F;
  using I = typename V::I;
  static constexpr int W = V::W;
  static constexpr int NB = V::kKeyBlock;
  static constexpr int NR = V::kScoreKeys;
  static constexpr bool kRegP = V::kPvFromScoreRegisters;
  static constexpr int MR = PvTileShape<V>::rows;
  static constexpr int NCV = PvTileShape<V>::cols;
  static_assert(W <= kAttentionMaxTileRows, "a tile's rows must fit AttentionTile");
  static_assert(W % MR == 0, "P.V row tiles must divide the tile");
  static_assert(NB % NR == 0, "score tiles must divide the key block");

  // Everything one key block needs, so the step functions take one argument.
  struct Block {
    const AttentionHeadInput* in;
    const float* qt;          // [dk][W] packed Q^T, times AttentionHeadInput::qScale
    float* st;                // [NB][W] P of this block (from the score registers: a guarded step's)
    const float* rowBias;     // [NB][W] per-row mask bias
    const float* sharedBias;  // [NB] bias common to the rows (shared mask row, key padding)
    bool haveRowBias;
    bool haveSharedBias;
    I keyBegin, keyEnd;          // per-lane (row) key range
    int64_t kb;                  // first key of the block
    int64_t spanEnd;             // end of the tile's keys (the next score step's are prefetched up to it)
    int32_t fullBegin, fullEnd;  // keys every row may attend to (no range test needed inside)
    bool softcap;                // soft-cap the scores (AttentionHeadInput::softcapLog2 > 0)
    SoftcapConstants cap;
    bool alibi;
    F alibiSlope, alibiPos;  // per-lane (row) slope in score units and aligned position
    float* ot;               // [dv][W] O^T (P.V from the score registers only)
    bool guarded;            // this block holds masked keys and a non-finite value
    F unit;                  // AttentionHeadInput::unitLog2: weight = exp2(unit * (score - reference))
    F slack;                 // kSlack in score units
  };

  // The online softmax against a reference max that only moves when a group of scores exceeds it
  // by more than kSlack (log2 units): until then the weights are exp2(unit * (s - ref)) <= 2^kSlack
  // straight from the score registers, the accumulator's factor stays exactly 1, and the
  // subtraction of the reference is free (the score accumulators start at -ref, in score units, so
  // that near-equal large scores cancel exactly). With real data the reference settles within the
  // first key group; every move is exact (rescaleTo). The price: the unnormalised
  // accumulator may reach 2^kSlack times what an exact running max allows, so values within a
  // factor 256 of FLT_MAX / Lk overflow sooner (far outside anything attention sees).
  static constexpr float kSlack = 8.0f;
  struct Softmax {
    F base;        // per-row reference (score units, finite): the scores are taken relative to it
    F seen;        // 0 where the row has had an allowed key (base is then its reference), else -inf
    F l;           // sum of the weights, relative to base (through L1: of the finished blocks)
    F blockSum;    // through L1: sum of this block's weights so far
    F blockAlpha;  // through L1: factor for O and l at the end of this block (1 if ref stayed)
  };

  // Lane-wise max of a[0..N), pairwise (dependency depth log2 N; a template so it unrolls into
  // registers: a loop over a local array went through the stack).
  template <int N>
  static inline F maxTree(const F* a) {
    if constexpr (N == 1) {
      return a[0];
    } else {
      return V::max(maxTree<N / 2>(a), maxTree<N - N / 2>(a + N / 2));
    }
  }

  // Raises the reference to cover `groupMax` (relative to base): what was accumulated against the
  // old one scales by 2^(unit * (old - new)) (P.V from the score registers: O^T and l; through L1:
  // the weights of this block already written, the first j0 keys of the P^T block, its running sum
  // and the factor for O and l); the current group's scores move by the same difference, the one
  // base really moved by, so old and new weights stay relative to the same reference.
  template <int N>
  static void rescaleTo(F groupMax, const Block& b, int j0, F* acc, Softmax& sm) {
    const F top = V::max(groupMax, sm.seen);  // x86: the old reference where groupMax is NaN
    const F move = V::zeroIfNegInf(top);      // 0 while the row has no key
    const F base = V::add(sm.base, move);
    const F delta = V::sub(base, sm.base);
    const F a = V::exp2(V::mul(V::sub(sm.seen, delta), b.unit));  // 0 where the row had no key yet
    if constexpr (kRegP) {
      for (int64_t c = 0; c < b.in->dv; ++c) V::store(b.ot + c * W, V::mul(V::load(b.ot + c * W), a));
      sm.l = V::mul(sm.l, a);
    } else {
      for (int j = 0; j < j0; ++j) V::store(b.st + j * W, V::mul(V::load(b.st + j * W), a));
      sm.blockSum = V::mul(sm.blockSum, a);
      sm.blockAlpha = V::mul(sm.blockAlpha, a);
    }
    for (int j = 0; j < N; ++j) acc[j] = V::sub(acc[j], delta);
    sm.base = base;
    sm.seen = V::sub(top, move);  // 0, or -inf where the row still has no key
  }

  // Scores of N keys (from key j0 of the block) minus the reference, masked, then their weights
  // into the P^T block. Extras: soft-capping or ALiBi may be on (a compile-time switch, so the
  // plain path keeps its register allocation and instruction stream exactly as without them);
  // soft-capping is not linear, so with it the reference is subtracted after it.
  template <int N, bool Extras>
  static inline void scoreStep(const Block& b, int j0, Softmax& sm) {
    F acc[N];
    const AttentionHeadInput& in = *b.in;
    const F negRef = V::sub(V::zero(), sm.base);
    const bool absolute = Extras && b.softcap;  // soft-capping takes the whole score
    const int64_t key0 = b.kb + j0;
    const int nextRows = static_cast<int>(minOf(NR, maxOf(0, b.spanEnd - (key0 + N))));
    const float* k = in.k + key0 * in.kStride;
    V::template scores<N>(b.qt, k, in.kStride, in.dk, absolute ? V::zero() : negRef, acc,
                          nextRows > 0 ? k + N * in.kStride : k, nextRows);
    const bool rangeTest = key0 < b.fullBegin || key0 + N > b.fullEnd;
    SA_ATTENTION_UNROLL  // the N accumulators stay in registers
    for (int j = 0; j < N; ++j) {
      F s = acc[j];
      if (absolute) s = V::add(softcapScores<V>(s, b.cap), negRef);
      if (Extras && b.alibi) s = addAlibi<V>(s, b.alibiSlope, b.alibiPos, V::set1(static_cast<float>(key0 + j)));
      if (b.haveSharedBias) s = V::addBias(s, V::bcast(b.sharedBias + j0 + j));
      if (b.haveRowBias) s = V::addBias(s, V::load(b.rowBias + (j0 + j) * W));
      if (rangeTest) s = V::keepKeyRange(s, b.keyBegin, b.keyEnd, static_cast<int32_t>(key0 + j));
      acc[j] = s;
    }
    // acc holds s - base; the test is s - base > slack (-inf for a row without a key yet, so its
    // first finite score always moves the reference).
    const F groupMax = maxTree<N>(acc);
    if (V::anyGreater(groupMax, V::add(sm.seen, b.slack))) rescaleTo<N>(groupMax, b, j0, acc, sm);
    F sum0 = V::zero(), sum1 = V::zero();
    const F unit = b.unit;
    SA_ATTENTION_UNROLL
    for (int j = 0; j < N; ++j) {
      const F p = V::exp2(V::mul(acc[j], unit));
      if constexpr (kRegP) {
        acc[j] = p;
      } else {
        V::store(b.st + (j0 + j) * W, p);
      }
      if (j % 2 == 0) sum0 = V::add(sum0, p);
      else sum1 = V::add(sum1, p);
    }
    if constexpr (kRegP) {
      sm.l = V::add(sm.l, V::add(sum0, sum1));
      const float* v = in.v + key0 * in.vStride;
      if (b.guarded) {
        pvGuardedFromRegisters<N>(acc, v, in.vStride, in.dv, b.ot, b.st);
      } else {
        pvFromRegisters<N>(acc, v, in.vStride, in.dv, b.ot, v + N * in.vStride, nextRows);
      }
    } else {
      sm.blockSum = V::add(sm.blockSum, V::add(sum0, sum1));
    }
  }

  // O^T[c] += sum_j p[j] * V[j][c] for the N keys of a score step, the weights straight from the
  // score registers. NC columns of dv per pass: NC accumulators, each taking N FMAs whose V
  // element is broadcast (the traits' register budgets: attention_avx512.cc, attention_avx2.cc).
  // Rows are addressed as four pointers plus 1, 2, 3 strides, the next step's V rows prefetched two
  // per pass.
  template <int N>
  static inline void pvFromRegisters(const F* p, const float* v, int64_t vs, int64_t dv, float* ot, const float* vNext,
                                     int nextRows) {
    constexpr int G = (N + 3) / 4;
    constexpr int NC = V::kPvRegColumns;
    const float* vp[G];
    for (int g = 0; g < G; ++g) vp[g] = v + 4 * g * vs;
    int64_t c = 0;
    for (; c + NC <= dv; c += NC) {
      for (int r = 0; r < 2 && nextRows > 0; ++r, --nextRows, vNext += vs) {
        for (int64_t e = 0; e < dv; e += 16) prefetchToL1(vNext + e);
      }
      F acc[NC];
      SA_ATTENTION_UNROLL
      for (int i = 0; i < NC; ++i) acc[i] = V::load(ot + (c + i) * W);
      SA_ATTENTION_UNROLL
      for (int g = 0; g < G; ++g) {
        const float* r0 = vp[g];
        accumulateColumns<N, NC>(p + 4 * g, N - 4 * g, r0, vs, acc);
        vp[g] = r0 + NC;
      }
      SA_ATTENTION_UNROLL
      for (int i = 0; i < NC; ++i) V::store(ot + (c + i) * W, acc[i]);
    }
    for (; c < dv; ++c) {  // the dv tail, one column at a time
      F acc[1] = {V::load(ot + c * W)};
      SA_ATTENTION_UNROLL
      for (int g = 0; g < G; ++g) {
        accumulateColumns<N, 1>(p + 4 * g, N - 4 * g, vp[g], vs, acc);
        vp[g] += 1;
      }
      V::store(ot + c * W, acc[0]);
    }
  }

  // acc[i] += sum over the (up to four) rows r of p[r] * row_r[i], rows at r0 + r * vs.
  template <int N, int NC>
  static inline void accumulateColumns(const F* p, int rows, const float* r0, int64_t vs, F* acc) {
    const float* r1 = r0 + vs;
    const float* r2 = r1 + vs;
    const float* r3 = r2 + vs;
#if defined(__GNUC__) || defined(__clang__)
    // Opaque to the optimiser: otherwise GCC 12 turns r + i into one pointer per (row, column),
    // spills them and reloads one before every FMA.
    asm("" : "+r"(r1), "+r"(r2), "+r"(r3));
#endif
    SA_ATTENTION_UNROLL
    for (int i = 0; i < NC; ++i) {
      acc[i] = V::fmadd(p[0], V::bcast(r0 + i), acc[i]);
      if (N > 1 && rows > 1) acc[i] = V::fmadd(p[1], V::bcast(r1 + i), acc[i]);
      if (N > 2 && rows > 2) acc[i] = V::fmadd(p[2], V::bcast(r2 + i), acc[i]);
      if (N > 3 && rows > 3) acc[i] = V::fmadd(p[3], V::bcast(r3 + i), acc[i]);
    }
  }

  // The slow form for a step that holds masked keys and a non-finite value: a masked key's weight
  // is exactly 0 and must not turn into 0 * inf = NaN in a row that never attended to it.
  template <int N>
  static void pvGuardedFromRegisters(const F* p, const float* v, int64_t vs, int64_t dv, float* ot, float* buffer) {
    for (int j = 0; j < N; ++j) V::store(buffer + j * W, p[j]);
    for (int j = 0; j < N; ++j) {
      const float* row = v + j * vs;
      for (int r = 0; r < W; ++r) {
        const float w = buffer[j * W + r];
        if (w == 0.0f) continue;
        for (int64_t c = 0; c < dv; ++c) ot[c * W + r] += w * row[c];
      }
    }
  }

  // O[MR rows][NC vectors] = O * alpha + P^T[:, rows]^T V[:, cols], over n keys.
  template <int NC, bool Tail>
  static void pvTile(const float* pt, int n, const float* v, int64_t vs, float* o, int64_t dvPad, const float* alpha,
                     int tailLanes) {
    F acc[MR][NC];
    for (int r = 0; r < MR; ++r) {
      const F a = V::bcast(alpha + r);
      for (int c = 0; c < NC; ++c) acc[r][c] = V::mul(V::load(o + r * dvPad + c * W), a);
    }
    for (int j = 0; j < n; ++j) {
      const float* row = v + j * vs;
      F b[NC];
      for (int c = 0; c < NC; ++c) {
        b[c] = (Tail && c == NC - 1) ? V::loadTail(row + c * W, tailLanes) : V::loadu(row + c * W);
      }
      const float* p = pt + j * W;
      for (int r = 0; r < MR; ++r) {
        const F pr = V::bcast(p + r);
        for (int c = 0; c < NC; ++c) acc[r][c] = V::fmadd(pr, b[c], acc[r][c]);
      }
    }
    for (int r = 0; r < MR; ++r) {
      for (int c = 0; c < NC; ++c) V::store(o + r * dvPad + c * W, acc[r][c]);
    }
  }

  template <bool Tail>
  static void pvDispatch(int nc, const float* pt, int n, const float* v, int64_t vs, float* o, int64_t dvPad,
                         const float* alpha, int tailLanes) {
    switch (nc) {
      case 1:
        pvTile<1, Tail>(pt, n, v, vs, o, dvPad, alpha, tailLanes);
        break;
      case 2:
        pvTile<(NCV >= 2 ? 2 : 1), Tail>(pt, n, v, vs, o, dvPad, alpha, tailLanes);
        break;
      case 3:
        pvTile<(NCV >= 3 ? 3 : 1), Tail>(pt, n, v, vs, o, dvPad, alpha, tailLanes);
        break;
      case 4:
        pvTile<(NCV >= 4 ? 4 : 1), Tail>(pt, n, v, vs, o, dvPad, alpha, tailLanes);
        break;
      case 5:
        pvTile<(NCV >= 5 ? 5 : 1), Tail>(pt, n, v, vs, o, dvPad, alpha, tailLanes);
        break;
      default:
        pvTile<(NCV >= 6 ? 6 : 1), Tail>(pt, n, v, vs, o, dvPad, alpha, tailLanes);
        break;
    }
  }

  // The P.V update of one block for the valid rows, dv cut in near-equal chunks of <= NCV vectors.
  static void pvBlock(const AttentionHeadInput& in, int rows, const float* st, int n, int64_t kb, float* o,
                      int64_t dvPad, const float* alpha) {
    const int64_t vectors = dvPad / W;
    const int64_t chunks = (vectors + NCV - 1) / NCV;
    const int tail = static_cast<int>(in.dv - (dvPad - W));  // lanes of the last vector, 1..W
    const float* vBlock = in.v + kb * in.vStride;
    for (int r0 = 0; r0 < rows; r0 += MR) {
      int64_t c0 = 0;
      for (int64_t ch = 0; ch < chunks; ++ch) {
        const int nc = static_cast<int>((vectors - c0) / (chunks - ch));  // spread the remainder
        const bool last = c0 + nc == vectors;
        float* oTile = o + r0 * dvPad + c0 * W;
        if (last && tail < W) {
          pvDispatch<true>(nc, st + r0, n, vBlock + c0 * W, in.vStride, oTile, dvPad, alpha + r0, tail);
        } else {
          pvDispatch<false>(nc, st + r0, n, vBlock + c0 * W, in.vStride, oTile, dvPad, alpha + r0, W);
        }
        c0 += nc;
      }
    }
  }

  // The slow P.V for a block that holds masked keys and a non-finite value: a masked key's weight
  // is exactly 0 and must not turn into 0 * inf = NaN in a row that never attended to it.
  static void pvBlockGuarded(const AttentionHeadInput& in, int rows, const float* st, int n, int64_t kb, float* o,
                             int64_t dvPad, const float* alpha) {
    const int64_t full = in.dv / W * W;
    for (int r = 0; r < rows; ++r) {
      float* orow = o + r * dvPad;
      const F a = V::bcast(alpha + r);
      for (int64_t c = 0; c < dvPad; c += W) V::store(orow + c, V::mul(V::load(orow + c), a));
      for (int j = 0; j < n; ++j) {
        const float p = st[j * W + r];
        if (p == 0.0f) continue;
        const F pb = V::set1(p);
        const float* row = in.v + (kb + j) * in.vStride;
        for (int64_t c = 0; c < full; c += W) V::store(orow + c, V::fmadd(pb, V::loadu(row + c), V::load(orow + c)));
        if (full < in.dv) {
          const F vt = V::loadTail(row + full, static_cast<int>(in.dv - full));
          V::store(orow + full, V::fmadd(pb, vt, V::load(orow + full)));
        }
      }
    }
  }

  static void writeRows(const AttentionHeadInput& in, const AttentionTile& t, const float* o, int64_t dvPad,
                        const float* m, const float* l) {
    const int64_t full = in.dv / W * W;
    for (int r = 0; r < t.rows; ++r) {
      const F inv = V::set1(inverseSum(l[r]));
      const float* orow = o + r * dvPad;
      float* out = t.out[r];
      for (int64_t c = 0; c < full; c += W) V::storeu(out + c, V::mul(V::load(orow + c), inv));
      if (full < in.dv) V::storeTail(out + full, V::mul(V::load(orow + full), inv), static_cast<int>(in.dv - full));
      writeRowLse(t, r, m[r], l[r]);
    }
  }

  // The same from O^T ([dv][W]): W x W blocks transposed in registers into the output rows.
  static void writeRowsTransposed(const AttentionHeadInput& in, const AttentionTile& t, const float* ot, const float* m,
                                  const float* l) {
    alignas(64) float inv[kAttentionMaxTileRows];
    for (int r = 0; r < W; ++r) inv[r] = r < t.rows ? inverseSum(l[r]) : 0.0f;
    const F scale = V::load(inv);
    for (int64_t c0 = 0; c0 < in.dv; c0 += W) {  // O^T holds roundUpTo(dv, W) rows
      const int nc = static_cast<int>(minOf(W, in.dv - c0));
      F block[W];
      for (int i = 0; i < W; ++i) block[i] = V::mul(V::load(ot + (c0 + i) * W), scale);
      V::transpose(block);
      for (int r = 0; r < t.rows; ++r) {
        if (nc == W) {
          V::storeu(t.out[r] + c0, block[r]);
        } else {
          V::storeTail(t.out[r] + c0, block[r], nc);
        }
      }
    }
    for (int r = 0; r < t.rows; ++r) writeRowLse(t, r, m[r], l[r]);
  }

  static void writeOutput(const AttentionHeadInput& in, const AttentionTile& t, const float* o, int64_t dvPad,
                          const float* m, const float* l) {
    if constexpr (kRegP) {
      writeRowsTransposed(in, t, o, m, l);
    } else {
      writeRows(in, t, o, dvPad, m, l);
    }
  }

  // Q^T packed and scaled: qt[d * W + r] = q_r[d] * qScale; lanes past the valid rows are 0
  // (finite scores, never written). W x W blocks transposed in registers (V::transpose), a few
  // shuffles per element instead of a strided scalar store each: this runs once per tile, which
  // matters for short causal rows.
  static void packQueries(const AttentionTile& t, int64_t dk, float scale, float* qt) {
    const F s = V::set1(scale);
    for (int64_t d0 = 0; d0 < dk; d0 += W) {
      const int nd = static_cast<int>(minOf(W, dk - d0));
      F block[W];
      for (int r = 0; r < W; ++r) {
        if (r >= t.rows) {
          block[r] = V::zero();
        } else {
          block[r] = nd == W ? V::loadu(t.q[r] + d0) : V::loadTail(t.q[r] + d0, nd);
        }
      }
      V::transpose(block);
      for (int c = 0; c < nd; ++c) V::store(qt + (d0 + c) * W, V::mul(block[c], s));
    }
  }

  static void run(const AttentionHeadInput& in, const AttentionTile& t) {
    if (in.softcapLog2 > 0.0f || in.alibi) {
      runWith<true>(in, t);
    } else {
      runWith<false>(in, t);
    }
  }

  template <bool Extras>
  static void runWith(const AttentionHeadInput& in, const AttentionTile& t) {
    const int rows = t.rows;
    const int64_t dk = in.dk;
    const int64_t dvPad = roundUpTo(in.dv, W);
    // Scratch, every piece a multiple of W floats so each stays vector-aligned.
    const int64_t nQt = dk * W, nSt = NB * W, nBias = NB * W, nO = W * dvPad;
    float* qt = attentionScratch(0, static_cast<size_t>(nQt + nSt + nBias + NB + nO + 3 * W));
    float* st = qt + nQt;
    float* rowBias = st + nSt;
    float* sharedBias = rowBias + nBias;
    float* o = sharedBias + NB;
    float* alpha = o + nO;
    float* mOut = alpha + W;
    float* lOut = mOut + W;

    const KeySpan span = keySpanOf(t);
    for (int64_t i = 0; i < nO; ++i) o[i] = 0.0f;
    if (span.begin >= span.end) {  // no row has a key: zero rows
      for (int r = 0; r < W; ++r) lOut[r] = 0.0f;
      writeOutput(in, t, o, dvPad, mOut, lOut);
      return;
    }

    packQueries(t, dk, in.qScale, qt);
    // Lanes past the valid rows get an empty key range, so they are masked wherever we test.
    alignas(64) int32_t beginLanes[kAttentionMaxTileRows];
    alignas(64) int32_t endLanes[kAttentionMaxTileRows];
    for (int r = 0; r < W; ++r) {
      beginLanes[r] = r < rows ? t.keyBegin[r] : 0;
      endLanes[r] = r < rows ? t.keyEnd[r] : 0;
    }

    Block b;
    b.in = &in;
    b.qt = qt;
    b.st = st;
    const TileBias tb = tileBiasOf(in, t);
    b.rowBias = rowBias;
    b.sharedBias = sharedBias;
    b.haveRowBias = tb.haveRow;
    b.haveSharedBias = tb.sharedCount > 0;
    b.keyBegin = V::loadI(beginLanes);
    b.keyEnd = V::loadI(endLanes);
    b.fullBegin = span.fullBegin;
    b.fullEnd = span.fullEnd;
    b.spanEnd = span.end;
    b.softcap = in.softcapLog2 > 0.0f;
    b.cap = SoftcapConstants{in.softcapLog2, 2.0f * kLog2e / in.softcapLog2};
    b.alibi = in.alibi;
    b.ot = o;  // O^T when P.V is from the score registers, O otherwise: both W x dvPad floats
    b.guarded = false;
    b.unit = V::set1(in.unitLog2);
    b.slack = V::set1(kSlack / in.unitLog2);
    {
      // Lanes past the valid rows: slope 0 (their scores are never written).
      alignas(64) float slopeLanes[kAttentionMaxTileRows];
      alignas(64) float posLanes[kAttentionMaxTileRows];
      for (int r = 0; r < W; ++r) {
        slopeLanes[r] = r < rows ? t.alibiSlope[r] : 0.0f;
        posLanes[r] = r < rows ? t.alibiPos[r] : 0.0f;
      }
      b.alibiSlope = V::load(slopeLanes);
      b.alibiPos = V::load(posLanes);
    }
    if (b.haveRowBias) {
      for (int64_t i = 0; i < nBias; ++i) rowBias[i] = 0.0f;  // lanes past the valid rows stay 0
    }

    Softmax sm;
    sm.base = V::zero();
    sm.seen = V::negInf();
    sm.l = V::zero();
    // Biases added to the scores before their maximum is known would round at the scores'
    // magnitude: start from a score of each row instead (the span's first key, a dot product).
    if ((b.haveRowBias || b.haveSharedBias || b.alibi) && !b.softcap) {
      F dot;
      V::template scores<1>(qt, in.k + span.begin * in.kStride, in.kStride, dk, V::zero(), &dot, qt, 0);
      alignas(64) float lanes[kAttentionMaxTileRows];
      V::store(lanes, dot);
      for (int r = 0; r < W; ++r) lanes[r] = startingReference(lanes[r]);
      sm.base = V::load(lanes);
    }
    for (int64_t kb = span.begin; kb < span.end; kb += NB) {
      const int n = static_cast<int>(minOf(NB, span.end - kb));
      b.kb = kb;
      bool masked = kb < span.fullBegin || kb + n > span.fullEnd;
      if (b.haveSharedBias) masked |= writeSharedBias(tb, kb, n, sharedBias);
      if (b.haveRowBias) {
        for (int r = 0; r < rows; ++r) masked |= writeBias(rowMaskSource(in, t, r), kb, n, rowBias + r, W, false);
      }

      if constexpr (kRegP) b.guarded = masked && valuesNonFinite<V>(in.v + kb * in.vStride, in.vStride, n, in.dv);
      // P^T = exp2(unit * (Q K^T - ref)) for the block, masked, with the online softmax (see Softmax); from
      // the score registers, each step's P.V follows it at once.
      if constexpr (!kRegP) {
        sm.blockSum = V::zero();
        sm.blockAlpha = V::set1(1.0f);
      }
      int j0 = 0;
      for (; j0 + NR <= n; j0 += NR) scoreStep<NR, Extras>(b, j0, sm);
      if (NR > 8 && j0 + 8 <= n) {
        scoreStep<(NR > 8 ? 8 : 1), Extras>(b, j0, sm);
        j0 += (NR > 8 ? 8 : 1);
      }
      if (NR > 4 && j0 + 4 <= n) {
        scoreStep<(NR > 4 ? 4 : 1), Extras>(b, j0, sm);
        j0 += (NR > 4 ? 4 : 1);
      }
      if (NR > 2 && j0 + 2 <= n) {
        scoreStep<(NR > 2 ? 2 : 1), Extras>(b, j0, sm);
        j0 += (NR > 2 ? 2 : 1);
      }
      for (; j0 < n; ++j0) scoreStep<1, Extras>(b, j0, sm);
      if constexpr (!kRegP) {
        sm.l = V::fmadd(sm.l, sm.blockAlpha, sm.blockSum);
        V::store(alpha, sm.blockAlpha);
        if (masked && valuesNonFinite<V>(in.v + kb * in.vStride, in.vStride, n, in.dv)) {
          pvBlockGuarded(in, rows, st, n, kb, o, dvPad, alpha);
        } else {
          pvBlock(in, rows, st, n, kb, o, dvPad, alpha);
        }
      }
    }
    // The weights are relative to base: the row's log2-sum-exp is unit * base + log2(l).
    const F m = sm.base;
    const F l = sm.l;
    V::store(mOut, m);
    V::store(lOut, l);
    writeOutput(in, t, o, dvPad, mOut, lOut);
  }
};

}  // namespace
}  // namespace sa
