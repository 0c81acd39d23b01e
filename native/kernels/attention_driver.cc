// The ISA-neutral part of the fused attention: cutting a problem into tiles of query rows that
// share a key/value head, the key range of every row (causal alignment, key lengths), spreading
// the tiles over the thread pool, splitting the keys when there are too few tiles for the threads
// (decode), and merging those partial results with their log-sum-exp. The per-tile work is the
// ISA's (kernels/<isa>/attention_<isa>.cc via AttentionKernels).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "kernels/attention.h"
#include "kernels/attention_kernels.h"
#include "kernels/contract.h"
#include "kernels/common/prefetch.h"
#include "runtime/aligned_memory.h"
#include "runtime/scratch.h"
#include "runtime/thread_pool.h"

namespace sa {

namespace {

// A split of the keys must keep at least this many keys: below it, merging the partials and the
// extra pass over the tile's queries cost more than the parallelism brings.
constexpr int64_t kMinKeysPerSplit = 512;
// Up to this many multiply-adds (B * H * Lq * Lk * (dk + dv)) a call is one pool task: ~10 us of
// work on one core, less than waking a second thread costs in a VM. A decode step over a short
// cache (12 heads x 256 keys x 128) is 0.4M; spreading it over 2 threads made a 256-step
// KV-cache decode slower on 2 threads than on 1.
constexpr double kOneTaskMaxWork = 1.0e6;

struct Layout {
  const AttentionProblem* p;
  int64_t group;        // query heads per kv head
  int64_t rowsPerHead;  // group * Lq rows share one (batch, kv head); row r is (i = r / group, g = r % group)
  int64_t tileRows;
  int64_t tilesPerHead;
  int64_t units;  // batch * kvHeads * tilesPerHead
};

Layout layoutOf(const AttentionProblem& p, int64_t kvHeads, int64_t tileRows) {
  SA_ASSERT(tileRows >= 1 && tileRows <= kAttentionMaxTileRows, "a kernel table's tile rows fit AttentionTile");
  Layout lay;
  lay.p = &p;
  lay.group = p.heads / kvHeads;
  lay.rowsPerHead = lay.group * p.Lq;
  lay.tileRows = tileRows;
  lay.tilesPerHead = (lay.rowsPerHead + lay.tileRows - 1) / lay.tileRows;
  lay.units = p.batch * kvHeads * lay.tilesPerHead;
  return lay;
}

// Query i's aligned position (sliding window, ALiBi) in batch item b: i, or i + Lk - Lq when
// bottom-right aligned (Lk = keyLengths[b] and Lq = queryLengths[b] when aligned to the key lengths).
int64_t alignedPosition(const AttentionProblem& p, int64_t b, int64_t i) {
  if (!p.bottomRightAligned) return i;
  const int64_t keys = p.alignToKeyLengths && p.keyLengths != nullptr ? p.keyLengths[b] : p.Lk;
  const int64_t queries = p.alignToKeyLengths && p.queryLengths != nullptr ? p.queryLengths[b] : p.Lq;
  return i + keys - queries;
}

// The keys row i of batch item b may attend to, before masks: [begin, end) (begin <= end).
struct KeyRange {
  int64_t begin, end;
};

KeyRange rowKeyRange(const AttentionProblem& p, int64_t b, int64_t i) {
  if (p.queryLengths != nullptr && i >= p.queryLengths[b]) return KeyRange{0, 0};
  int64_t end = p.Lk;
  if (p.keyLengths != nullptr) end = std::min<int64_t>(end, std::max<int64_t>(0, p.keyLengths[b]));
  const int64_t pos = alignedPosition(p, b, i);
  if (p.causal) end = std::min(end, pos + 1);
  int64_t begin = 0;
  if (p.windowLeft >= 0) begin = std::max<int64_t>(begin, pos - p.windowLeft);
  if (p.windowRight >= 0) end = std::min(end, pos + p.windowRight + 1);
  end = std::max<int64_t>(end, 0);
  return KeyRange{std::min(begin, end), end};
}

constexpr float kLog2e = 1.4426950408889634f;

// The kernels' score units (AttentionHeadInput): scale * log2(e) = qScale * unitLog2 with qScale a
// signed power of two and unitLog2 in [1, 2); soft-capping, a zero or an overflowing factor keep
// base-2 units (qScale = the whole factor, unitLog2 = 1).
struct ScoreUnits {
  float qScale, unitLog2, naturalToUnits;
};

ScoreUnits scoreUnitsOf(const AttentionProblem& p) {
  const float factor = p.scale * kLog2e;
  if (p.softcap > 0.0f || factor == 0.0f || !std::isfinite(factor)) return ScoreUnits{factor, 1.0f, kLog2e};
  int e = 0;
  std::frexp(factor, &e);  // |factor| = m * 2^e, m in [0.5, 1)
  const float power = std::ldexp(1.0f, e - 1);
  const float unit = std::ldexp(std::fabs(factor), 1 - e);
  return ScoreUnits{std::copysign(power, factor), unit, static_cast<float>(1.4426950408889634 / unit)};
}

// Fills tile rows [r0, r0 + rows) of unit (b, hk), keys clipped to [k0, k1).
void buildTile(const Layout& lay, int64_t b, int64_t hk, int64_t r0, int rows, int64_t k0, int64_t k1,
               AttentionTile& t) {
  const AttentionProblem& p = *lay.p;
  const float naturalToUnits = scoreUnitsOf(p).naturalToUnits;
  t.rows = rows;
  t.maskRowShared = p.maskKind != MaskKind::None;
  for (int r = 0; r < rows; ++r) {
    const int64_t row = r0 + r;
    const int64_t i = row / lay.group, h = hk * lay.group + row % lay.group;
    if (p.qType == ElementType::Float32) {
      t.q[r] = p.q + b * p.qStrideB + h * p.qStrideH + i * p.qStrideL;
      t.out[r] = p.out + b * p.oStrideB + h * p.oStrideH + i * p.oStrideL;
    }
    const KeyRange range = rowKeyRange(p, b, i);
    const int64_t end = std::min(range.end, k1);
    const int64_t begin = std::min(std::max(range.begin, k0), end);
    t.keyBegin[r] = static_cast<int32_t>(begin);
    t.keyEnd[r] = static_cast<int32_t>(end);
    if (p.alibiSlopes != nullptr) {
      t.alibiSlope[r] = -p.alibiSlopes[h] * naturalToUnits;
      t.alibiPos[r] = static_cast<float>(alignedPosition(p, b, i));
    }
    const int64_t maskOffset = b * p.maskStrideB + h * p.maskStrideH + i * p.maskStrideQ;
    t.maskAdditive[r] = p.maskKind == MaskKind::Additive ? p.maskAdditive + maskOffset : nullptr;
    t.maskBoolean[r] = p.maskKind == MaskKind::Boolean ? p.maskBoolean + maskOffset : nullptr;
    if (r > 0 && (t.maskAdditive[r] != t.maskAdditive[0] || t.maskBoolean[r] != t.maskBoolean[0])) {
      t.maskRowShared = false;
    }
  }
  if (p.keyPaddingKind == MaskKind::Additive) t.keyPaddingAdditive = p.keyPaddingAdditive + b * p.keyPaddingStrideB;
  if (p.keyPaddingKind == MaskKind::Boolean) t.keyPaddingBoolean = p.keyPaddingBoolean + b * p.keyPaddingStrideB;
}

// Brings `bytes` from p into L2 (not L1: the rows are used a whole tile later, and L1 is for the
// tile running now).
void prefetchBytesToL2(const void* p, int64_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (int64_t i = 0; i < bytes; i += 64) prefetchToL2(c + i);
}

void prefetchBytesToL1(const void* p, int64_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (int64_t i = 0; i < bytes; i += 64) prefetchToL1(c + i);
}

// The tile of one task when the keys are not split: rows [r0, r0 + rows) of (batch b, kv head
// hk). Heads in order, and inside a head the last tiles first: under a causal mask they have the
// most keys, so the long tasks start early and the short ones fill the end.
struct UnitRows {
  int64_t b, hk, r0;
  int rows;
};

UnitRows unitRows(const Layout& lay, int64_t kvHeads, int64_t task) {
  const int64_t head = task / lay.tilesPerHead;
  const int64_t tile = lay.tilesPerHead - 1 - task % lay.tilesPerHead;
  const int64_t r0 = tile * lay.tileRows;
  return UnitRows{head / kvHeads, head % kvHeads, r0, static_cast<int>(std::min(lay.tileRows, lay.rowsPerHead - r0))};
}

// The query and output rows of a tile, into L2.
void prefetchTileRows(const Layout& lay, const UnitRows& u) {
  const AttentionProblem& p = *lay.p;
  for (int r = 0; r < u.rows; ++r) {
    const int64_t row = u.r0 + r;
    const int64_t i = row / lay.group, h = u.hk * lay.group + row % lay.group;
    // A logits row is Lk floats, read a block at a time: not worth fetching whole.
    const int64_t qOffset = u.b * p.qStrideB + h * p.qStrideH + i * p.qStrideL;
    const int64_t outOffset = u.b * p.oStrideB + h * p.oStrideH + i * p.oStrideL;
    if (p.qType == ElementType::BFloat16) {
      prefetchBytesToL2(p.q16 + qOffset, p.dk * 2);
      prefetchBytesToL2(p.out16 + outOffset, p.dv * 2);
      continue;
    }
    if (!p.scoresFromLogits) prefetchBytesToL2(p.q + qOffset, p.dk * 4);
    prefetchBytesToL2(p.out + outOffset, p.dv * 4);
  }
}

// bfloat16 queries and output on the float kernels: the tile's query rows widened into this
// thread's scratch and, unless the tile writes partial rows of its own (key splits), its output rows
// in float scratch too, rounded into out16 by storeBf16Rows after the kernel ran.
struct Bf16TileRows {
  const uint16_t* q[kAttentionMaxTileRows] = {};
  uint16_t* out[kAttentionMaxTileRows] = {};
};

Bf16TileRows bf16RowsOf(const Layout& lay, int64_t b, int64_t hk, int64_t r0, int rows) {
  const AttentionProblem& p = *lay.p;
  Bf16TileRows io;
  for (int r = 0; r < rows; ++r) {
    const int64_t row = r0 + r;
    const int64_t i = row / lay.group, h = hk * lay.group + row % lay.group;
    io.q[r] = p.q16 + b * p.qStrideB + h * p.qStrideH + i * p.qStrideL;
    io.out[r] = p.out16 + b * p.oStrideB + h * p.oStrideH + i * p.oStrideL;
  }
  return io;
}

Bf16TileRows widenTileRows(const Layout& lay, int64_t b, int64_t hk, int64_t r0, bool floatOut, AttentionTile& t) {
  const AttentionProblem& p = *lay.p;
  const int64_t dkPad = (p.dk + 15) / 16 * 16, dvPad = (p.dv + 15) / 16 * 16;
  float* rows = threadScratch(ScratchSlot::AttentionBf16Rows, static_cast<size_t>(t.rows * (dkPad + dvPad)));
  const Bf16TileRows io = bf16RowsOf(lay, b, hk, r0, t.rows);
  for (int r = 0; r < t.rows; ++r) {
    float* q = rows + r * dkPad;
    for (int64_t c = 0; c < p.dk; ++c) q[c] = widen(Bf16Bits{io.q[r][c]});
    t.q[r] = q;
    if (floatOut) t.out[r] = rows + t.rows * dkPad + r * dvPad;
  }
  return io;
}

void storeBf16Rows(const AttentionProblem& p, const AttentionTile& t, const Bf16TileRows& io) {
  for (int r = 0; r < t.rows; ++r) {
    for (int64_t c = 0; c < p.dv; ++c) io.out[r][c] = narrowToBf16(t.out[r][c]);
  }
}

// Paged keys the panel did not gather go to the row kernel, which splits its key blocks at pages;
// so do half-width keys not widened into a panel (the row kernel widens them as it reads).
void runTile(const AttentionKernels& k, const AttentionHeadInput& head, const AttentionTile& t) {
  if (t.rows >= k.minTileRows && !head.logits && head.pageKeys == 0 && head.kvType == ElementType::Float32) {
    k.tile(head, t);
  } else {
    k.rows(head, t);
  }
}

AttentionHeadInput headInput(const AttentionProblem& p, int64_t b, int64_t hk) {
  AttentionHeadInput in;
  const int64_t kb = p.keyRows != nullptr ? p.keyRows[b] : b;
  in.k = p.scoresFromLogits || p.k == nullptr ? nullptr : p.k + kb * p.kStrideB + hk * p.kStrideH;
  in.kStride = p.kStrideL;
  in.v = p.v == nullptr ? nullptr : p.v + kb * p.vStrideB + hk * p.vStrideH;
  in.vStride = p.vStrideL;
  in.kvType = p.kvType;
  if (p.kvType != ElementType::Float32) {
    in.k = nullptr;
    in.v = nullptr;
    in.k16 = p.scoresFromLogits ? nullptr : p.k16 + kb * p.kStrideB + hk * p.kStrideH;
    in.v16 = p.v16 == nullptr ? nullptr : p.v16 + kb * p.vStrideB + hk * p.vStrideH;
  }
  if (p.kvBlockSize > 0) {
    in.k = p.scoresFromLogits || p.k == nullptr ? nullptr : p.k + hk * p.kStrideH;
    in.v = p.v == nullptr ? nullptr : p.v + hk * p.vStrideH;
    if (p.kvType != ElementType::Float32) {
      in.k16 = p.scoresFromLogits ? nullptr : p.k16 + hk * p.kStrideH;
      in.v16 = p.v16 == nullptr ? nullptr : p.v16 + hk * p.vStrideH;
    }
    in.pageKeys = p.kvBlockSize;
    in.pageTable = p.blockTables + kb * p.blockTableWidth;
    in.kPageStride = p.kStrideB;
    in.vPageStride = p.vStrideB;
  }
  in.dk = p.dk;
  in.dv = p.dv;
  const ScoreUnits units = scoreUnitsOf(p);
  in.qScale = units.qScale;
  in.unitLog2 = units.unitLog2;
  in.naturalToUnits = units.naturalToUnits;
  in.maskKind = p.maskKind;
  in.maskStrideK = p.maskStrideK;
  in.maskBooleanForbids = p.maskBooleanForbids;
  in.keyPaddingKind = p.keyPaddingKind;
  in.keyPaddingStrideK = p.keyPaddingStrideK;
  in.softcapLog2 = p.softcap * kLog2e;
  in.alibi = p.alibiSlopes != nullptr;
  in.logits = p.scoresFromLogits;
  return in;
}

// Strided keys and values (BLHD views, rows far apart) are copied once per thread and (batch, kv
// head) into a contiguous panel that every later tile of that head reads instead: in place, each
// key row of each tile would sit on its own page. The copy changes no arithmetic.
constexpr int64_t kPanelMinRowsPerHead = 64;              // query rows sharing one copy
constexpr int64_t kPanelMaxFloats = 8 * 1024 * 1024 / 4;  // 8 MiB of K and V per thread

struct PanelPlan {
  bool use = false;
  uint64_t call = 0;  // tells this call's panels from a previous call's
  int64_t kStride = 0, vStride = 0;
};

std::atomic<uint64_t> gPanelCalls{0};

PanelPlan panelPlanOf(const AttentionProblem& p, const Layout& lay) {
  PanelPlan plan;
  // Pages are gathered too: the tile kernel reads evenly strided float keys only (half-width keys
  // are widened into the panel).
  const bool strided =
      p.kStrideL != p.dk || p.vStrideL != p.dv || p.kvBlockSize > 0 || p.kvType != ElementType::Float32;
  plan.kStride = (p.dk + 15) / 16 * 16;
  plan.vStride = (p.dv + 15) / 16 * 16;
  const bool fits = p.Lk * (plan.kStride + plan.vStride) <= kPanelMaxFloats;
  plan.use = strided && fits && p.dk > 0 && lay.rowsPerHead >= kPanelMinRowsPerHead && !p.scoresFromLogits;
  if (plan.use) plan.call = gPanelCalls.fetch_add(1, std::memory_order_relaxed) + 1;
  return plan;
}

// What this thread's panel holds: keys [begin, end) of (call, b, hk), key j at base + j * stride.
struct PanelContents {
  uint64_t call = 0;
  int64_t b = -1, hk = -1;
  const float* base = nullptr;
  int64_t begin = 0, end = 0;
};

thread_local PanelContents tPanel;

// Each source row may sit on its own page, where the hardware prefetcher stops: the rows a few
// ahead are requested while this one is copied.
constexpr int64_t kCopyPrefetchRows = 8;

// Rows [from, to) of `in`'s keys (or values) into dst, row j at dst + j * dstStride.
template <class E>
void copyRowsOf(const AttentionHeadInput& in, bool values, float* dst, int64_t dstStride, int64_t width, int64_t from,
                int64_t to) {
  const auto src = [&](int64_t j) { return values ? valueRowOf<E>(in, j) : keyRowOf<E>(in, j); };
  const int64_t bytes = width * static_cast<int64_t>(sizeof(E));
  for (int64_t j = from; j < std::min(to, from + kCopyPrefetchRows); ++j) prefetchBytesToL1(src(j), bytes);
  for (int64_t j = from; j < to; ++j) {
    if (j + kCopyPrefetchRows < to) prefetchBytesToL1(src(j + kCopyPrefetchRows), bytes);
    if constexpr (std::is_same_v<E, float>) {
      std::memcpy(dst + j * dstStride, src(j), static_cast<size_t>(bytes));
    } else {
      const E* row = src(j);
      float* out = dst + j * dstStride;
      for (int64_t c = 0; c < width; ++c) out[c] = widen(row[c]);
    }
  }
}

// Rows [from, to) of `in`'s keys (or values), widened to float, into dst.
void copyRows(const AttentionHeadInput& in, bool values, float* dst, int64_t dstStride, int64_t width, int64_t from,
              int64_t to) {
  switch (in.kvType) {
    case ElementType::BFloat16:
      return copyRowsOf<Bf16Bits>(in, values, dst, dstStride, width, from, to);
    case ElementType::Float16:
      return copyRowsOf<HalfBits>(in, values, dst, dstStride, width, from, to);
    default:
      return copyRowsOf<float>(in, values, dst, dstStride, width, from, to);
  }
}

// The tile's keys [span of its rows' ranges) read from this thread's panel of (b, hk), copying
// the rows the panel does not hold yet; `in` is left reading in place when the tile has no key.
void usePanel(const AttentionProblem& p, const PanelPlan& plan, int64_t b, int64_t hk, const AttentionTile& t,
              AttentionHeadInput& in) {
  int64_t begin = p.Lk, end = 0;
  for (int r = 0; r < t.rows; ++r) {
    if (t.keyBegin[r] < t.keyEnd[r]) {
      begin = std::min<int64_t>(begin, t.keyBegin[r]);
      end = std::max<int64_t>(end, t.keyEnd[r]);
    }
  }
  if (begin >= end) return;
  float* base = threadScratch(ScratchSlot::AttentionPanels, static_cast<size_t>(p.Lk * (plan.kStride + plan.vStride)));
  PanelContents& c = tPanel;
  if (c.call != plan.call || c.b != b || c.hk != hk || c.base != base || c.begin >= c.end) {
    c = PanelContents{plan.call, b, hk, base, begin, begin};
  }
  float* kPanel = base;
  float* vPanel = base + p.Lk * plan.kStride;
  const auto fill = [&](int64_t from, int64_t to) {
    copyRows(in, false, kPanel, plan.kStride, p.dk, from, to);
    copyRows(in, true, vPanel, plan.vStride, p.dv, from, to);
  };
  if (begin < c.begin) fill(begin, c.begin);
  if (end > c.end) fill(c.end, end);  // with the gap, if any: the panel holds one range
  c.begin = std::min(c.begin, begin);
  c.end = std::max(c.end, end);
  in.k = kPanel;
  in.kStride = plan.kStride;
  in.v = vPanel;
  in.vStride = plan.vStride;
  in.pageKeys = 0;
  in.kvType = ElementType::Float32;
  in.k16 = nullptr;
  in.v16 = nullptr;
}

// bfloat16 queries, keys and values on a tier with AttentionKernels::tileBf16: K and V of each (batch,
// kv head) packed once per thread and call into its panels (AttentionBf16Panels), read by every tile
// of that head. The kernel takes key ranges only; masks, ALiBi, soft-capping, pages and key splits go
// to the widening path, and so does a head whose values hold an infinity or NaN (a weight of 0
// times it would spread a NaN to rows that never attend to it).
struct Bf16Plan {
  bool use = false;
  uint64_t call = 0;
  int64_t keys = 0, dkPairs = 0, dvChunks = 0;
  size_t kWords = 0, vWords = 0;  // uint16 elements
};

// Below this many query rows per head, packing the head's keys and values would cost more than a
// sixteenth of its tiles' work (decode goes to the row kernel instead).
constexpr int64_t kBf16PanelMinRowsPerHead = 32;

Bf16Plan bf16PlanOf(const AttentionProblem& p, const AttentionKernels& k, const Layout& lay, int64_t splits) {
  Bf16Plan plan;
  plan.keys = (p.Lk + kAttentionBf16Block - 1) / kAttentionBf16Block * kAttentionBf16Block;
  plan.dkPairs = (p.dk + 1) / 2;
  plan.dvChunks = (p.dv + 15) / 16;
  plan.kWords = static_cast<size_t>(plan.keys * plan.dkPairs * 2);
  plan.vWords = static_cast<size_t>(plan.keys * plan.dvChunks * 16);
  const bool keyRangesOnly = p.maskKind == MaskKind::None && p.keyPaddingKind == MaskKind::None &&
                             p.alibiSlopes == nullptr && p.softcap == 0.0f && p.kvBlockSize == 0 && !p.scoresFromLogits;
  plan.use = k.tileBf16 != nullptr && k.packBf16 != nullptr && p.qType == ElementType::BFloat16 &&
             p.kvType == ElementType::BFloat16 && keyRangesOnly && splits == 1 &&
             lay.rowsPerHead >= kBf16PanelMinRowsPerHead &&
             plan.kWords + plan.vWords <= static_cast<size_t>(2 * kPanelMaxFloats);
  if (plan.use) plan.call = gPanelCalls.fetch_add(1, std::memory_order_relaxed) + 1;
  return plan;
}

struct Bf16PanelContents {
  uint64_t call = 0;
  int64_t b = -1, hk = -1;
  const uint16_t* base = nullptr;
  bool finite = false;
};

thread_local Bf16PanelContents tBf16Panel;

// This thread's panels of (b, hk), packed unless they already are; nullptr when a value is not finite.
const uint16_t* bf16PanelsOf(const AttentionProblem& p, const AttentionKernels& k, const Bf16Plan& plan, int64_t b,
                             int64_t hk, AttentionBf16Panels& panels) {
  uint16_t* base =
      reinterpret_cast<uint16_t*>(threadScratch(ScratchSlot::AttentionBf16Panels, (plan.kWords + plan.vWords + 1) / 2));
  panels = AttentionBf16Panels{base, base + plan.kWords, plan.keys, plan.dkPairs, plan.dvChunks};
  Bf16PanelContents& c = tBf16Panel;
  if (c.call == plan.call && c.b == b && c.hk == hk && c.base == base) return c.finite ? base : nullptr;
  const bool finite = k.packBf16(headInput(p, b, hk), p.Lk, panels, base, base + plan.kWords);
  c = Bf16PanelContents{plan.call, b, hk, base, finite};
  return c.finite ? base : nullptr;
}

// Combines the normalised partial rows of `splits` key ranges (row s at part + s * partStride,
// its log2-sum-exp unitLog2 * ref[s * lseStride] + log2Sum[s * lseStride]) into out: split s
// weighs 2^(lse_s - max lse), its reference's difference from the largest one scaled last (scores
// of 1e4 keep their precision). A split without keys (log2Sum -inf) has weight 0; no split with
// keys gives a zero row; a NaN (a NaN reached that split's scores) makes the row NaN, as it would
// without the split.
void mergeSplits(const float* part, int64_t partStride, const float* ref, const float* log2Sum, int64_t lseStride,
                 int64_t splits, int64_t dv, float unitLog2, float* out) {
  float topRef = -INFINITY;
  bool nan = false;
  for (int64_t s = 0; s < splits; ++s) {
    const float e = log2Sum[s * lseStride];
    nan |= std::isnan(e) || std::isnan(ref[s * lseStride]);
    if (e != -INFINITY && ref[s * lseStride] > topRef) topRef = ref[s * lseStride];
  }
  const float fill = nan ? NAN : 0.0f;
  for (int64_t c = 0; c < dv; ++c) out[c] = fill;
  if (nan || topRef == -INFINITY) return;
  const auto lseOf = [&](int64_t s) { return unitLog2 * (ref[s * lseStride] - topRef) + log2Sum[s * lseStride]; };
  float top = -INFINITY;
  for (int64_t s = 0; s < splits; ++s) {
    if (log2Sum[s * lseStride] != -INFINITY) top = std::max(top, lseOf(s));
  }
  float total = 0.0f;
  for (int64_t s = 0; s < splits; ++s) {
    if (log2Sum[s * lseStride] == -INFINITY) continue;
    const float w = std::exp2(lseOf(s) - top);
    total += w;
    const float* row = part + s * partStride;
    for (int64_t c = 0; c < dv; ++c) out[c] += w * row[c];
  }
  const float inv = 1.0f / total;
  for (int64_t c = 0; c < dv; ++c) out[c] *= inv;
}

// w = softmax of n base-2 scores, in place: 2^(s - max) / sum. A forbidden key (-inf) gets 0, a row
// without keys is all 0, and a NaN score becomes the max, so the row turns NaN.
void softmaxBase2(float* w, int64_t n) {
  float top = -INFINITY;
  for (int64_t j = 0; j < n; ++j) {
    if (!(w[j] <= top)) top = w[j];
  }
  float sum = 0.0f;
  for (int64_t j = 0; j < n; ++j) {
    w[j] = w[j] == -INFINITY ? 0.0f : std::exp2(w[j] - top);
    sum += w[j];
  }
  const float inv = sum == 0.0f ? 0.0f : 1.0f / sum;
  for (int64_t j = 0; j < n; ++j) w[j] *= inv;
}

void validate(const AttentionProblem& p) {
  SA_ASSERT(p.batch >= 0 && p.heads >= 0 && p.Lq >= 0 && p.Lk >= 0 && p.dk >= 0 && p.dv >= 0, "negative dimension");
  SA_ASSERT(p.kvHeads >= 0 && (p.kvHeads == 0 || p.heads % p.kvHeads == 0), "heads must be a multiple of kvHeads");
  SA_ASSERT(p.Lk <= std::numeric_limits<int32_t>::max(), "more than 2^31 - 1 keys");
  SA_ASSERT(!(p.maskKind == MaskKind::Additive && p.maskAdditive == nullptr) &&
                !(p.maskKind == MaskKind::Boolean && p.maskBoolean == nullptr),
            "mask kind set without a mask");
  SA_ASSERT(!(p.keyPaddingKind == MaskKind::Additive && p.keyPaddingAdditive == nullptr) &&
                !(p.keyPaddingKind == MaskKind::Boolean && p.keyPaddingBoolean == nullptr),
            "key padding kind set without a key padding mask");
  SA_ASSERT(p.windowLeft >= -1 && p.windowRight >= -1, "window sides must be >= -1");
  SA_ASSERT(p.softcap >= 0.0f && !std::isinf(p.softcap), "softcap must be finite and >= 0");
  SA_ASSERT(!p.scoresFromLogits || p.dk == p.Lk, "logits rows must hold Lk scores (dk == Lk)");
  SA_ASSERT(p.kvBlockSize == 0 || (p.blockTables != nullptr && p.blockTableWidth * p.kvBlockSize >= p.Lk),
            "paged keys need a block table covering Lk keys");
  SA_ASSERT(p.kvType == ElementType::Float32 || p.k16 != nullptr || p.scoresFromLogits, "half-width keys need k16");
  SA_ASSERT(p.qType == ElementType::Float32 || (p.qType == ElementType::BFloat16 && !p.scoresFromLogits),
            "bfloat16 queries and output only, not with logits");
  static_cast<void>(p);
}

// No key at all: every row is fully masked, which this package defines as zeros.
void zeroOutput(const AttentionProblem& p) {
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t h = 0; h < p.heads; ++h)
      for (int64_t i = 0; i < p.Lq; ++i) {
        const int64_t offset = b * p.oStrideB + h * p.oStrideH + i * p.oStrideL;
        if (p.qType == ElementType::BFloat16) {
          std::fill_n(p.out16 + offset, p.dv, uint16_t{0});
        } else {
          std::fill_n(p.out + offset, p.dv, 0.0f);
        }
      }
}

}  // namespace

// A pool worker keeps its blocks for the life of the process: a few hundred KiB at most, sized by
// the largest head dimension seen.
float* attentionScratch(int slot, size_t floats) {
  return threadScratch(static_cast<ScratchSlot>(static_cast<int>(ScratchSlot::Attention0) + slot), floats);
}

void attention(const KernelTable& kernels, const AttentionProblem& p) {
  validate(p);
  if (p.batch == 0 || p.heads == 0 || p.Lq == 0 || p.dv == 0) return;
  if (p.Lk == 0) return zeroOutput(p);
  const AttentionKernels& k = *kernels.attention;
  const int64_t kvHeads = p.kvHeads > 0 ? p.kvHeads : p.heads;
  const Layout lay = layoutOf(p, kvHeads, k.tileRows);

  ThreadPool& pool = ThreadPool::instance();
  const int threads = pool.numThreads();
  // Small calls are one pool task (kOneTaskMaxWork), never split.
  const int64_t scoreCost = p.scoresFromLogits ? 1 : p.dk;  // per key: a logit read, or a dot product
  const double work = static_cast<double>(p.batch) * p.heads * p.Lq * p.Lk * static_cast<double>(scoreCost + p.dv);
  const bool oneTask = work <= kOneTaskMaxWork;
  // Split the keys when the tiles alone cannot keep every thread busy with some slack for the
  // uneven ends (4 tasks per thread), as long as every split keeps kMinKeysPerSplit keys.
  int64_t splits = 1;
  if (threads > 1 && lay.units < 4 * threads && !oneTask) {
    const int64_t wanted = (4 * threads + lay.units - 1) / lay.units;
    splits = std::max<int64_t>(1, std::min(wanted, p.Lk / kMinKeysPerSplit));
  }

  const PanelPlan panels = panelPlanOf(p, lay);
  const Bf16Plan bf16 = bf16PlanOf(p, k, lay, splits);

  if (splits == 1) {
    const auto runUnit = [&](int64_t task) {
      // The next task's query and output rows are fetched while this one runs: on one thread it
      // is the next tile, whose first touch of them would otherwise wait on L3 or memory.
      if (task + 1 < lay.units) prefetchTileRows(lay, unitRows(lay, kvHeads, task + 1));
      const UnitRows u = unitRows(lay, kvHeads, task);
      AttentionTile t;
      buildTile(lay, u.b, u.hk, u.r0, u.rows, 0, p.Lk, t);
      AttentionHeadInput in = headInput(p, u.b, u.hk);
      AttentionBf16Panels packed;
      if (bf16.use && u.rows >= k.minTileRows && bf16PanelsOf(p, k, bf16, u.b, u.hk, packed) != nullptr) {
        const Bf16TileRows io = bf16RowsOf(lay, u.b, u.hk, u.r0, u.rows);
        return k.tileBf16(in, t, packed, io.q, io.out);
      }
      if (panels.use) usePanel(p, panels, u.b, u.hk, t, in);
      if (p.qType == ElementType::BFloat16) {
        const Bf16TileRows io = widenTileRows(lay, u.b, u.hk, u.r0, true, t);
        runTile(k, in, t);
        return storeBf16Rows(p, t, io);
      }
      runTile(k, in, t);
    };
    if (oneTask) {
      // One pool task for all of it (inline on a synchronous caller, one worker for an async one).
      pool.parallelFor(1, [&](int64_t, int) {
        for (int64_t u = 0; u < lay.units; ++u) runUnit(u);
      });
    } else {
      pool.parallelFor(lay.units, [&](int64_t task, int) { runUnit(task); });
    }
    return;
  }

  // Key splits: each task writes its tile's normalised partial rows and their log2-sum-exp (two
  // parts, see mergeSplits); the merge weighs split s by 2^(lse_s - max lse). Partials are O(tasks x tile x dv), small
  // since splitting only happens when there are few tiles.
  const int64_t T = lay.tileRows;
  // Every element is written by its task before the merge reads it: no need to zero them.
  std::unique_ptr<float[]> partOut(new float[static_cast<size_t>(lay.units * splits * T * p.dv)]);
  std::unique_ptr<float[]> partRef(new float[static_cast<size_t>(lay.units * splits * T)]);
  std::unique_ptr<float[]> partLog2Sum(new float[static_cast<size_t>(lay.units * splits * T)]);
  const float unitLog2 = scoreUnitsOf(p).unitLog2;
  const int64_t splitKeys = (p.Lk + splits - 1) / splits;
  pool.parallelFor(lay.units * splits, [&](int64_t task, int) {
    const int64_t unit = task / splits, s = task % splits;
    const int64_t head = unit / lay.tilesPerHead, tile = unit % lay.tilesPerHead;
    const int64_t b = head / kvHeads, hk = head % kvHeads;
    const int64_t r0 = tile * T;
    const int rows = static_cast<int>(std::min(T, lay.rowsPerHead - r0));
    AttentionTile t;
    buildTile(lay, b, hk, r0, rows, s * splitKeys, std::min(p.Lk, (s + 1) * splitKeys), t);
    for (int r = 0; r < rows; ++r) t.out[r] = &partOut[static_cast<size_t>(((task * T) + r) * p.dv)];
    t.lseRef = &partRef[static_cast<size_t>(task * T)];
    t.lseLog2Sum = &partLog2Sum[static_cast<size_t>(task * T)];
    AttentionHeadInput in = headInput(p, b, hk);
    if (panels.use) usePanel(p, panels, b, hk, t, in);
    if (p.qType == ElementType::BFloat16) widenTileRows(lay, b, hk, r0, false, t);
    runTile(k, in, t);
  });
  pool.parallelFor(lay.units, [&](int64_t unit, int) {
    const int64_t head = unit / lay.tilesPerHead, tile = unit % lay.tilesPerHead;
    const int64_t b = head / kvHeads, hk = head % kvHeads;
    const int64_t r0 = tile * T;
    const int rows = static_cast<int>(std::min(T, lay.rowsPerHead - r0));
    for (int r = 0; r < rows; ++r) {
      const int64_t row = r0 + r;
      const int64_t i = row / lay.group, h = hk * lay.group + row % lay.group;
      const int64_t outOffset = b * p.oStrideB + h * p.oStrideH + i * p.oStrideL;
      const bool bf16 = p.qType == ElementType::BFloat16;
      float* out = bf16 ? threadScratch(ScratchSlot::AttentionBf16Rows, static_cast<size_t>(p.dv)) : p.out + outOffset;
      const size_t lse = static_cast<size_t>(unit * splits * T + r);
      mergeSplits(&partOut[static_cast<size_t>((unit * splits * T + r) * p.dv)], T * p.dv, &partRef[lse],
                  &partLog2Sum[lse], T, splits, p.dv, unitLog2, out);
      if (bf16) {
        for (int64_t c = 0; c < p.dv; ++c) p.out16[outOffset + c] = narrowToBf16(out[c]);
      }
    }
  });
}

// Materialised soft weights: each row's scores from the kernel's own scoring code
// (AttentionKernels::scores: the same masks, key range, ALiBi and soft-capping as the fused
// kernel), then an exact softmax over the row (inspection, not speed).
void attentionWeights(const KernelTable& kernels, const AttentionProblem& p, float* weights) {
  validate(p);
  SA_ASSERT(p.qType == ElementType::Float32, "the weights take float32 queries");
  if (p.batch == 0 || p.heads == 0 || p.Lq == 0 || p.Lk == 0) return;
  const AttentionKernels& k = *kernels.attention;
  const int64_t kvHeads = p.kvHeads > 0 ? p.kvHeads : p.heads;
  const Layout lay = layoutOf(p, kvHeads, k.tileRows);
  ThreadPool::instance().parallelFor(lay.units, [&](int64_t task, int) {
    const UnitRows u = unitRows(lay, kvHeads, task);
    AttentionTile t;
    buildTile(lay, u.b, u.hk, u.r0, u.rows, 0, p.Lk, t);
    for (int r = 0; r < u.rows; ++r) {
      const int64_t row = u.r0 + r;
      const int64_t i = row / lay.group, h = u.hk * lay.group + row % lay.group;
      t.out[r] = weights + ((u.b * p.heads + h) * p.Lq + i) * p.Lk;
    }
    k.scores(headInput(p, u.b, u.hk), t, p.Lk);
    for (int r = 0; r < u.rows; ++r) softmaxBase2(t.out[r], p.Lk);
  });
}

}  // namespace sa
