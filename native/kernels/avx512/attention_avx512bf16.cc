// The bfloat16 tile kernel of the avx512bf16 tier (and the amx tier, which reuses its table): the
// avx512 attention kernels plus AttentionKernels::tileBf16.
//
// Rows in registers, keys in lanes (the float kernel keeps S transposed; here vdpbf16ps needs pairs
// along its reduced dimension, which is d for Q.K^T and the key for P.V, so each side is packed once):
//   Q.K^T  8 rows x 32 keys per pass: 16 accumulators; per pair of d, two K panel loads and 8
//          broadcasts of a row's (q[2p], q[2p+1]), the broadcast folded into vdpbf16ps.
//   softmax  float32, online, per row: the scores of a 32-key block masked to the row's key range
//          (blocks inside every row's range skip the mask), exp2 (a degree-3 fraction: P is
//          rounded to bfloat16 next) against a reference in score units (AttentionHeadInput) that
//          only moves when a score passes it by kSlack, so the common block needs no horizontal
//          maximum; P rounded to bfloat16, and its rounded values summed lane-wise (the
//          normalisation matches what P.V multiplies; one horizontal sum per row at the end).
//   P.V    4 rows x up to 4 chunks of 16 columns: 16 accumulators; per key pair, up to 4 V panel
//          loads and 4 broadcasts of a row's (p[2t], p[2t + 1]). O (float) lives in L1 scratch and
//          takes the row's rescale factor as it is loaded, once per block.
#include <cmath>
#include <cstdint>

#include "kernels/attention_kernels.h"
#include "runtime/isa.h"

namespace sa {
const AttentionKernels* attentionKernelsAvx512();
}  // namespace sa

#if SA_ARCH_X86_64
#include <immintrin.h>

#include <algorithm>
#include <limits>

#include "kernels/common/target.h"

SA_TARGET_AVX512BF16_BEGIN
#include "kernels/common/vec_avx512.h"

namespace sa {
namespace {

constexpr int kRows = 16;                    // query rows per pass (tiles of up to kAttentionMaxTileRows go in passes)
constexpr int kBlock = kAttentionBf16Block;  // 32 keys per softmax step
constexpr int kScoreRows = 8;
constexpr int kPvRows = 4;
constexpr int kPvChunks = 4;
// Weights up to 2^(kSlack * unitLog2) <= 2^16 before the reference moves: far from float's range.
constexpr float kSlack = 8.0f;

inline __m512bh asBh(__m512i x) { return reinterpret_cast<__m512bh>(x); }

// VecAvx512::exp2 with the degree-3 fraction: the weights are rounded to bfloat16 next.
inline __m512 exp2ForBf16(__m512 x) {
  const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 p = exp2poly::fractionForBf16<VecAvx512>(_mm512_sub_ps(x, n));  // NaN for x = -inf: flushed below
  const __mmask16 keep = _mm512_cmp_ps_mask(x, _mm512_set1_ps(exp2poly::kFlushBelow), _CMP_NLT_UQ);
  return _mm512_maskz_scalef_ps(keep, p, n);
}

struct TileState {
  const uint32_t* q;  // [kRows][dkPairs] query pairs
  uint32_t* p;        // [kRows][kBlock / 2] this block's weights, pairs of bfloat16
  float* o;           // [kRows][dvChunks * 16]
  float m[kRows], alpha[kRows];
  alignas(64) float l[kRows][16];  // lane-wise sums of the rounded weights
};

// Scores of rows [r0, r0 + kScoreRows) for the kBlock keys from kb, then their softmax step into P,
// m, l, alpha. allIn: every row of the tile has all the block's keys in its range (no key mask).
void scoreBlock(const AttentionHeadInput& in, const AttentionTile& t, const AttentionBf16Panels& panels, int64_t kb,
                int r0, bool allIn, TileState& st) {
  constexpr int kKeyVectors = kBlock / 16;  // one 16-key panel each
  const int64_t dkPairs = panels.dkPairs;
  __m512 acc[kScoreRows][kKeyVectors];
  for (int r = 0; r < kScoreRows; ++r)
    for (int v = 0; v < kKeyVectors; ++v) acc[r][v] = _mm512_setzero_ps();
  const uint16_t* k = panels.k + (kb / 16) * dkPairs * 32;
  const uint32_t* q = st.q + r0 * dkPairs;
  for (int64_t p = 0; p < dkPairs; ++p) {
    __m512bh kv[kKeyVectors];
    for (int v = 0; v < kKeyVectors; ++v) kv[v] = asBh(_mm512_loadu_si512(k + (v * dkPairs + p) * 32));
    for (int r = 0; r < kScoreRows; ++r) {
      const __m512bh qp = asBh(_mm512_set1_epi32(static_cast<int>(q[r * dkPairs + p])));
      for (int v = 0; v < kKeyVectors; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], qp, kv[v]);
    }
  }
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  // A score's exponent (s - m) * unitLog2 with s = acc * qScale: s - m in one FMA, rounded once at the
  // difference's magnitude (qScale is a power of two), never at the score's.
  const __m512 qScale = _mm512_set1_ps(in.qScale), unit = _mm512_set1_ps(in.unitLog2);
  const __m512 slack = _mm512_set1_ps(kSlack * in.unitLog2);
  const __m512 minusInf = _mm512_set1_ps(-INFINITY);
  for (int r = 0; r < kScoreRows; ++r) {
    const int row = r0 + r;
    uint32_t* pRow = st.p + row * (kBlock / 2);
    st.alpha[row] = 1.0f;
    if (row >= t.rows) continue;  // its P row stays zero
    __mmask16 inRange[kKeyVectors];
    __mmask16 any = 0;
    for (int v = 0; v < kKeyVectors; ++v) {
      inRange[v] = 0xffff;
      if (allIn) continue;
      const __m512i key = _mm512_add_epi32(lane, _mm512_set1_epi32(static_cast<int>(kb + 16 * v)));
      inRange[v] = _mm512_cmpge_epi32_mask(key, _mm512_set1_epi32(t.keyBegin[row])) &
                   _mm512_cmplt_epi32_mask(key, _mm512_set1_epi32(t.keyEnd[row]));
      any |= inRange[v];
    }
    if (!allIn && any == 0) {
      for (int v = 0; v < kKeyVectors; v += 2) _mm512_storeu_si512(pRow + 8 * v, _mm512_setzero_si512());
      continue;
    }
    // Lanes out of the row's range: -inf, which exp2 takes to exactly 0. Before the row's first
    // key m is -inf and every exponent +inf: past the slack.
    __m512 x[kKeyVectors];
    const auto exponents = [&](float m) {
      const __m512 mv = _mm512_set1_ps(m);
      for (int v = 0; v < kKeyVectors; ++v)
        x[v] = _mm512_mask_mov_ps(minusInf, inRange[v], _mm512_mul_ps(_mm512_fmsub_ps(acc[r][v], qScale, mv), unit));
    };
    exponents(st.m[row]);
    __mmask16 past = 0;
    for (int v = 0; v < kKeyVectors; ++v) past |= _mm512_cmp_ps_mask(x[v], slack, _CMP_GT_OQ);
    if (past != 0) {
      __m512 top = minusInf;
      for (int v = 0; v < kKeyVectors; ++v)
        top = _mm512_max_ps(top, _mm512_mask_mul_ps(minusInf, inRange[v], acc[r][v], qScale));
      const float m = _mm512_reduce_max_ps(top);
      st.alpha[row] = std::exp2(in.unitLog2 * (st.m[row] - m));  // 0 from -inf
      st.m[row] = m;
      _mm512_store_ps(st.l[row], _mm512_mul_ps(_mm512_load_ps(st.l[row]), _mm512_set1_ps(st.alpha[row])));
      exponents(m);
    }
    // l sums the rounded weights as P.V multiplies them: each pair of them times (1, 1), per lane.
    const __m512bh ones = asBh(_mm512_set1_epi16(0x3f80));
    __m512 l = _mm512_load_ps(st.l[row]);
    for (int v = 0; v < kKeyVectors; v += 2) {
      const __m512i rounded = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(exp2ForBf16(x[v + 1]), exp2ForBf16(x[v])));
      _mm512_storeu_si512(pRow + 8 * v, rounded);
      l = _mm512_dpbf16_ps(l, asBh(rounded), ones);
    }
    _mm512_store_ps(st.l[row], l);
  }
}

// O[r0 .. r0 + 4) chunks [c0, c0 + NC) = O * alpha + P V over the block's 16 key pairs.
template <int NC>
inline void pvRows(const AttentionBf16Panels& panels, int64_t kb, int r0, int64_t c0, int64_t oStride, TileState& st) {
  __m512 acc[kPvRows][NC];
  for (int r = 0; r < kPvRows; ++r) {
    const __m512 alpha = _mm512_set1_ps(st.alpha[r0 + r]);
    for (int c = 0; c < NC; ++c)
      acc[r][c] = _mm512_mul_ps(_mm512_load_ps(st.o + (r0 + r) * oStride + (c0 + c) * 16), alpha);
  }
  const uint16_t* v = panels.v + ((kb / 2) * panels.dvChunks + c0) * 32;
  const int64_t pairStride = panels.dvChunks * 32;
  for (int pair = 0; pair < kBlock / 2; ++pair) {
    __m512bh vc[NC];
    for (int c = 0; c < NC; ++c) vc[c] = asBh(_mm512_loadu_si512(v + pair * pairStride + c * 32));
    for (int r = 0; r < kPvRows; ++r) {
      const __m512bh w = asBh(_mm512_set1_epi32(static_cast<int>(st.p[(r0 + r) * (kBlock / 2) + pair])));
      for (int c = 0; c < NC; ++c) acc[r][c] = _mm512_dpbf16_ps(acc[r][c], w, vc[c]);
    }
  }
  for (int r = 0; r < kPvRows; ++r)
    for (int c = 0; c < NC; ++c) _mm512_store_ps(st.o + (r0 + r) * oStride + (c0 + c) * 16, acc[r][c]);
}

void pvBlock(const AttentionBf16Panels& panels, int64_t kb, int rows, TileState& st) {
  const int64_t oStride = panels.dvChunks * 16;
  for (int r0 = 0; r0 < rows; r0 += kPvRows) {
    for (int64_t c0 = 0; c0 < panels.dvChunks; c0 += kPvChunks) {
      switch (std::min<int64_t>(kPvChunks, panels.dvChunks - c0)) {
        case 1:
          pvRows<1>(panels, kb, r0, c0, oStride, st);
          break;
        case 2:
          pvRows<2>(panels, kb, r0, c0, oStride, st);
          break;
        case 3:
          pvRows<3>(panels, kb, r0, c0, oStride, st);
          break;
        default:
          pvRows<4>(panels, kb, r0, c0, oStride, st);
      }
    }
  }
}

void tileBf16Rows(const AttentionHeadInput& in, const AttentionTile& t, const AttentionBf16Panels& panels,
                  const uint16_t* const* q, uint16_t* const* out) {
  const int64_t dkPairs = panels.dkPairs, oStride = panels.dvChunks * 16;
  // Scratch: the packed queries, one block of P, and O (64-byte aligned: oStride is a multiple of 16).
  const size_t oFloats = static_cast<size_t>(kRows * oStride);
  const size_t qWords = static_cast<size_t>(kRows * dkPairs), pWords = kRows * kBlock / 2;
  float* scratch = attentionScratch(0, oFloats + qWords + pWords);
  TileState st;
  st.o = scratch;
  st.q = reinterpret_cast<const uint32_t*>(scratch + oFloats);
  st.p = reinterpret_cast<uint32_t*>(scratch + oFloats + qWords);
  uint32_t* qPacked = reinterpret_cast<uint32_t*>(scratch + oFloats);
  int64_t begin = std::numeric_limits<int64_t>::max(), end = 0;
  for (int r = 0; r < kRows; ++r) {
    st.m[r] = -INFINITY;
    std::fill_n(st.l[r], 16, 0.0f);
    for (int64_t p = 0; p < dkPairs; ++p) {
      uint32_t pair = 0;
      if (r < t.rows) {
        const uint16_t* row = q[r];
        pair = row[2 * p];
        if (2 * p + 1 < in.dk) pair |= static_cast<uint32_t>(row[2 * p + 1]) << 16;
      }
      qPacked[r * dkPairs + p] = pair;
    }
    if (r < t.rows && t.keyBegin[r] < t.keyEnd[r]) {
      begin = std::min<int64_t>(begin, t.keyBegin[r]);
      end = std::max<int64_t>(end, t.keyEnd[r]);
    }
  }
  std::fill_n(st.o, oFloats, 0.0f);
  std::fill_n(st.p, pWords, 0u);
  const int scoreRows = (t.rows + kScoreRows - 1) / kScoreRows * kScoreRows;
  const int pvRows = (t.rows + kPvRows - 1) / kPvRows * kPvRows;
  // Keys every row of the tile attends to: blocks inside need no key masks.
  int64_t allBegin = 0, allEnd = std::numeric_limits<int64_t>::max();
  for (int r = 0; r < t.rows; ++r) {
    allBegin = std::max<int64_t>(allBegin, t.keyBegin[r]);
    allEnd = std::min<int64_t>(allEnd, t.keyEnd[r]);
  }
  for (int64_t kb = begin >= end ? end : begin / kBlock * kBlock; kb < end; kb += kBlock) {
    const bool allIn = kb >= allBegin && kb + kBlock <= allEnd;
    for (int r0 = 0; r0 < scoreRows; r0 += kScoreRows) scoreBlock(in, t, panels, kb, r0, allIn, st);
    pvBlock(panels, kb, pvRows, st);
  }
  for (int r = 0; r < t.rows; ++r) {
    const float l = _mm512_reduce_add_ps(_mm512_load_ps(st.l[r]));
    const float inv = l > 0.0f ? 1.0f / l : (std::isnan(l) ? NAN : 0.0f);
    const float* o = st.o + r * oStride;
    for (int64_t c = 0; c < in.dv; ++c) out[r][c] = narrowToBf16(inv == 0.0f ? 0.0f : o[c] * inv);
  }
}

// A tile in passes of kRows rows; the key ranges are all a pass reads of the tile.
void tileBf16(const AttentionHeadInput& in, const AttentionTile& t, const AttentionBf16Panels& panels,
              const uint16_t* const* q, uint16_t* const* out) {
  if (t.rows <= kRows) {
    tileBf16Rows(in, t, panels, q, out);
    return;
  }
  for (int r0 = 0; r0 < t.rows; r0 += kRows) {
    AttentionTile part;
    part.rows = std::min(kRows, t.rows - r0);
    for (int r = 0; r < part.rows; ++r) {
      part.keyBegin[r] = t.keyBegin[r0 + r];
      part.keyEnd[r] = t.keyEnd[r0 + r];
    }
    tileBf16Rows(in, part, panels, q + r0, out + r0);
  }
}

// Rows this far ahead are fetched while packing: the keys and values stream from memory, a row (or
// two) per step, and the wait on each row's first line was most of the packing time.
constexpr int64_t kPackAhead = 8;

// Every line of a row of n 16-bit elements into L1.
inline void prefetchRow(const uint16_t* row, int64_t n) {
  const char* p = reinterpret_cast<const char*>(row);
  for (int64_t b = 0; b < 2 * n; b += 64) _mm_prefetch(p + b, _MM_HINT_T0);
}

// The first n (<= 32) 16-bit elements of a row, zero beyond: never reads past the row.
inline __m512i loadWords(const uint16_t* row, int64_t n) {
  const __mmask32 m = n >= 32 ? ~__mmask32{0} : static_cast<__mmask32>((uint32_t{1} << n) - 1);
  return _mm512_maskz_loadu_epi16(m, row);
}

// Keys: a key row's pairs are 32-bit words; 16 rows' words, transposed, are the 16-key block's pair
// rows. Values: two rows' chunks of 16 columns interleaved word by word.
bool packBf16(const AttentionHeadInput& in, int64_t Lk, const AttentionBf16Panels& panels, uint16_t* k, uint16_t* v) {
  const int64_t dkPairs = panels.dkPairs, dvChunks = panels.dvChunks;
  for (int64_t j0 = 0; j0 < panels.keys; j0 += 16) {
    uint32_t* block = reinterpret_cast<uint32_t*>(k) + (j0 / 16) * dkPairs * 16;
    for (int64_t j = j0 + kPackAhead; j < std::min(j0 + kPackAhead + 16, Lk); ++j) {
      prefetchRow(&keyRowOf<Bf16Bits>(in, j)->bits, in.dk);
    }
    for (int64_t p0 = 0; p0 < dkPairs; p0 += 16) {
      __m512 words[16];
      for (int i = 0; i < 16; ++i) {
        const uint16_t* row = j0 + i < Lk ? &keyRowOf<Bf16Bits>(in, j0 + i)->bits : nullptr;
        words[i] = row != nullptr ? _mm512_castsi512_ps(loadWords(row + 2 * p0, in.dk - 2 * p0)) : _mm512_setzero_ps();
      }
      VecAvx512::transpose(words);
      for (int64_t p = p0; p < std::min<int64_t>(dkPairs, p0 + 16); ++p) {
        _mm512_storeu_si512(block + p * 16, _mm512_castps_si512(words[p - p0]));
      }
    }
  }
  const __m512i exponent = _mm512_set1_epi16(0x7f80);
  __mmask32 special = 0;
  for (int64_t j = 0; j < panels.keys; j += 2, v += dvChunks * 32) {
    const uint16_t* even = j < Lk ? &valueRowOf<Bf16Bits>(in, j)->bits : nullptr;
    const uint16_t* odd = j + 1 < Lk ? &valueRowOf<Bf16Bits>(in, j + 1)->bits : nullptr;
    if (j + kPackAhead + 1 < Lk) {
      prefetchRow(&valueRowOf<Bf16Bits>(in, j + kPackAhead)->bits, in.dv);
      prefetchRow(&valueRowOf<Bf16Bits>(in, j + kPackAhead + 1)->bits, in.dv);
    }
    for (int64_t c = 0; c < dvChunks; ++c) {
      const int64_t n = std::min<int64_t>(16, in.dv - c * 16);
      const __m256i e = even != nullptr ? _mm512_castsi512_si256(loadWords(even + c * 16, n)) : _mm256_setzero_si256();
      const __m256i o = odd != nullptr ? _mm512_castsi512_si256(loadWords(odd + c * 16, n)) : _mm256_setzero_si256();
      const __m512i pairs = _mm512_or_si512(_mm512_cvtepu16_epi32(e), _mm512_slli_epi32(_mm512_cvtepu16_epi32(o), 16));
      special |= _mm512_cmpeq_epi16_mask(_mm512_and_si512(pairs, exponent), exponent);
      _mm512_storeu_si512(v + c * 32, pairs);
    }
  }
  return special == 0;
}

}  // namespace
}  // namespace sa
SA_TARGET_END

namespace sa {
// Outside the target region: dispatch builds this table on every CPU, AVX512_BF16 or not (inside it,
// the compiler may copy the table with AVX-512 moves).
const AttentionKernels* attentionKernelsAvx512Bf16() {
  static const AttentionKernels k = [] {
    AttentionKernels table = *attentionKernelsAvx512();
    table.name = "avx512bf16";
    table.tileBf16 = tileBf16;
    table.packBf16 = packBf16;
    return table;
  }();
  return &k;
}
}  // namespace sa
#else
namespace sa {
const AttentionKernels* attentionKernelsAvx512Bf16() { return nullptr; }
}  // namespace sa
#endif
