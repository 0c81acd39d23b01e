// The per-ISA part of the fused attention (kernels/attention.h). The driver (attention_driver.cc)
// cuts a problem into tiles of query rows that share one key/value head, decides the key range of
// every row (causal alignment, key lengths, key splits across threads) and calls one of two kernels
// per tile; the ISA files (kernels/<isa>/attention_<isa>.cc) implement them.
//
// Every kernel computes, for each row r of the tile,
//   out_r = softmax_j(scale * q_r . k_j + bias_rj) v_j     over keys keyBegin[r] <= j < keyEnd[r],
// where bias_rj is the row's mask (additive, or boolean of either polarity) plus the batch item's
// key-padding mask, with the online softmax (running max, rescaled running sum), never holding more
// than one key block of scores.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/attention.h"

namespace sa {

// The widest tile any kernel takes (the AVX-512 tile kernel: one query row per lane of a pair of zmm).
constexpr int kAttentionMaxTileRows = 32;

// What the rows of one tile share: one (batch item, kv head) of K and V, and the problem constants.
struct AttentionHeadInput {
  const float* k = nullptr;  // key 0 of this kv head; key j at k + j * kStride
  int64_t kStride = 0;
  const float* v = nullptr;  // value 0; value j at v + j * vStride
  int64_t vStride = 0;
  int64_t dk = 0, dv = 0;
  // Score units: the kernels take dot products on the packed queries q * qScale and exponentiate
  // unitLog2 * x, with qScale * unitLog2 = scale * log2(e). qScale is a signed power of two (exact)
  // and unitLog2 in [1, 2), so a score is never rounded at its full magnitude before the row's
  // reference is subtracted; the factor applies to the difference. With soft-capping (nonlinear in
  // the score) qScale = scale * log2(e) and unitLog2 = 1: scores are then base-2 exponents.
  float qScale = 0;
  float unitLog2 = 1;
  float naturalToUnits = 1.4426950408889634f;  // log2(e) / unitLog2: additive masks (natural units) into score units
  MaskKind maskKind = MaskKind::None;
  int64_t maskStrideK = 0;                   // between keys of a mask row (0 when the mask broadcasts over keys)
  bool maskBooleanForbids = false;           // boolean mask polarity: false = nonzero may attend (SDPA)
  MaskKind keyPaddingKind = MaskKind::None;  // boolean: nonzero = padding = forbidden
  int64_t keyPaddingStrideK = 0;
  // Soft-capping in base-2 units: s2 -> softcapLog2 * tanh(s2 / softcapLog2), softcapLog2 = cap *
  // log2(e) (0 = off); applied to q.k * qScale (base-2 units then) before any bias.
  float softcapLog2 = 0.0f;
  bool alibi = false;  // add AttentionTile::alibiSlope[r] * |alibiPos[r] - j| to each score
  // AttentionProblem::scoresFromLogits: AttentionTile::q[r] is row r's logits (key j at [j]), whose
  // score is logit * qScale; k is null. Such tiles go to the row kernel.
  bool logits = false;
  // Paged keys and values (pageKeys > 0): key j at k + pageTable[j / pageKeys] * kPageStride +
  // (j % pageKeys) * kStride, and likewise for values. Only the row kernels read pages.
  int64_t pageKeys = 0;
  const int32_t* pageTable = nullptr;
  int64_t kPageStride = 0, vPageStride = 0;
  // Half-width keys and values (kvType not Float32): read from k16 / v16 (same strides, in elements)
  // by the row kernels, which widen them in registers; the tile kernel reads float panels only.
  ElementType kvType = ElementType::Float32;
  const uint16_t* k16 = nullptr;
  const uint16_t* v16 = nullptr;
};

// The stored element types of keys and values: float, or the bits of a bfloat16 / float16.
struct Bf16Bits {
  uint16_t bits;
};
struct HalfBits {
  uint16_t bits;
};

inline float widen(float x) { return x; }
inline float widen(Bf16Bits x) {
  const uint32_t u = static_cast<uint32_t>(x.bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
// Rounds to nearest, ties to even; a NaN stays a quiet NaN with its sign and top payload bits
// (the bits kernels/convert.h gives).
inline uint16_t narrowToBf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
// Exact, subnormals included; a NaN is quieted (as F16C and NEON do).
inline float widen(HalfBits x) {
  const uint32_t sign = static_cast<uint32_t>(x.bits & 0x8000u) << 16;
  const uint32_t exp = (x.bits >> 10) & 0x1fu, man = x.bits & 0x3ffu;
  uint32_t u;
  if (exp == 0x1f) {
    u = sign | 0x7f800000u | (man << 13) | (man != 0 ? 0x400000u : 0u);
  } else if (exp != 0) {
    u = sign | ((exp + 112) << 23) | (man << 13);
  } else {
    const float m = static_cast<float>(man) * (1.0f / 16777216.0f);  // man * 2^-24, exact
    std::memcpy(&u, &m, sizeof u);
    u |= sign;
  }
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

template <class E>
inline const E* kvBase(const float* f, const uint16_t* h) {
  if constexpr (std::is_same_v<E, float>) {
    static_cast<void>(h);
    return f;
  } else {
    static_cast<void>(f);
    return reinterpret_cast<const E*>(h);
  }
}

template <class E>
inline const E* keyRowOf(const AttentionHeadInput& in, int64_t j) {
  const E* k = kvBase<E>(in.k, in.k16);
  if (in.pageKeys == 0) return k + j * in.kStride;
  return k + in.pageTable[j / in.pageKeys] * in.kPageStride + (j % in.pageKeys) * in.kStride;
}

template <class E>
inline const E* valueRowOf(const AttentionHeadInput& in, int64_t j) {
  const E* v = kvBase<E>(in.v, in.v16);
  if (in.pageKeys == 0) return v + j * in.vStride;
  return v + in.pageTable[j / in.pageKeys] * in.vPageStride + (j % in.pageKeys) * in.vStride;
}

inline const float* keyRow(const AttentionHeadInput& in, int64_t j) {
  if (in.pageKeys == 0) return in.k + j * in.kStride;
  return in.k + in.pageTable[j / in.pageKeys] * in.kPageStride + (j % in.pageKeys) * in.kStride;
}

inline const float* valueRow(const AttentionHeadInput& in, int64_t j) {
  if (in.pageKeys == 0) return in.v + j * in.vStride;
  return in.v + in.pageTable[j / in.pageKeys] * in.vPageStride + (j % in.pageKeys) * in.vStride;
}

// The end of the run of keys from j on that lie kStride (and vStride) apart: j's page end.
inline int64_t contiguousKeysEnd(const AttentionHeadInput& in, int64_t j, int64_t end) {
  if (in.pageKeys == 0) return end;
  const int64_t pageEnd = (j / in.pageKeys + 1) * in.pageKeys;
  return pageEnd < end ? pageEnd : end;
}

// Up to kAttentionMaxTileRows query rows, each with its own pointers and key range.
struct AttentionTile {
  int rows = 0;
  const float* q[kAttentionMaxTileRows] = {};  // dk contiguous floats (the logits row with logits)
  float* out[kAttentionMaxTileRows] = {};      // dv contiguous floats, written
  // Allowed keys: keyBegin[r] <= j < keyEnd[r] (an empty range gives a zero row). int32: Lk < 2^31.
  int32_t keyBegin[kAttentionMaxTileRows] = {};
  int32_t keyEnd[kAttentionMaxTileRows] = {};
  // The mask row of each row (element j at [j * maskStrideK]); unused when maskKind is None.
  const float* maskAdditive[kAttentionMaxTileRows] = {};
  const uint8_t* maskBoolean[kAttentionMaxTileRows] = {};
  // True when every row reads the same mask row (key-padding masks broadcast over queries and
  // heads): the kernels then read each mask element once per key instead of once per row.
  bool maskRowShared = false;
  // The batch item's key-padding row (element j at [j * keyPaddingStrideK]), shared by all rows.
  const float* keyPaddingAdditive = nullptr;
  const uint8_t* keyPaddingBoolean = nullptr;
  // When non-null, row r's log2-sum-exp of its scores (base 2) is unitLog2 * lseRef[r] +
  // lseLog2Sum[r] (lseLog2Sum -inf when the row had no key), so the driver can merge partial results
  // of key ranges split across threads. Two parts: the reference in score units keeps its full
  // precision, and the merge subtracts references before it scales.
  float* lseRef = nullptr;
  float* lseLog2Sum = nullptr;
  // ALiBi (when AttentionHeadInput::alibi): the row's slope in score units (-slope * naturalToUnits,
  // <= 0 for the standard slopes) and its aligned query position as a float (exact: positions < 2^24).
  float alibiSlope[kAttentionMaxTileRows] = {};
  float alibiPos[kAttentionMaxTileRows] = {};
};

// bfloat16 keys and values of one (batch item, kv head), packed for vdpbf16ps (AttentionKernels::tileBf16),
// zero past the last key, column and head dimension:
//   k: blocks of 16 keys; in each, dkPairs rows of 16 x (k[j][2p], k[j][2p+1]) (one zmm per pair p);
//   v: pairs of keys (2t, 2t + 1); in each, dvChunks rows of 16 x (v[2t][c], v[2t + 1][c]).
// keys: Lk rounded up to kAttentionBf16Block.
constexpr int kAttentionBf16Block = 32;
struct AttentionBf16Panels {
  const uint16_t* k = nullptr;
  const uint16_t* v = nullptr;
  int64_t keys = 0, dkPairs = 0, dvChunks = 0;
};

struct AttentionKernels {
  const char* name;
  // Rows of query the tile kernel takes at once; tiles with fewer than minTileRows rows go to the
  // row kernel, which streams the keys once per row instead of once per tile (decode, Lq = 1).
  int tileRows;
  int minTileRows;
  void (*tile)(const AttentionHeadInput& head, const AttentionTile& tile);
  void (*rows)(const AttentionHeadInput& head, const AttentionTile& tile);
  // Row r's final base-2 scores (scale, soft-capping, ALiBi, masks, key padding, key range) of keys
  // [0, keys), less the row's maximum, into tile.out[r] (keys floats; -inf where the row may not
  // attend): the scoring code of the row kernel, for the materialised weights (attentionWeights).
  void (*scores)(const AttentionHeadInput& head, const AttentionTile& tile, int64_t keys);
  // The vector exp2 the softmax uses, over n floats (exposed so the tests can measure its error).
  void (*exp2)(const float* x, float* y, int64_t n);
  // bfloat16 queries, keys and values (the tiers with vdpbf16ps; nullptr elsewhere): row r's query is
  // q[r] (dk bfloat16), its output rounded into out[r]. Key ranges only: no masks, ALiBi, soft-capping
  // or key splits (the driver widens those tiles for the float kernels).
  void (*tileBf16)(const AttentionHeadInput& head, const AttentionTile& tile, const AttentionBf16Panels& panels,
                   const uint16_t* const* q, uint16_t* const* out);
  // Packs the Lk bfloat16 keys and values of `head` (k16, v16) into k and v laid out as `panels` says;
  // false when a value is an infinity or NaN.
  bool (*packBf16)(const AttentionHeadInput& head, int64_t Lk, const AttentionBf16Panels& panels, uint16_t* k,
                   uint16_t* v);
};

// Per-thread scratch, allocated on first use and grown (never shrunk) as needed, 64-byte aligned;
// `slot` tells apart buffers that are live at the same time on one thread (kernel vs driver).
constexpr int kAttentionScratchSlots = 2;
float* attentionScratch(int slot, size_t floats);

}  // namespace sa
