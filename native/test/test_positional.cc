// Positional attention (AttentionProblem::scoresFromLogits): the logits stand in for the scores,
// broadcast over the batch (stride 0) and, when shared, over the heads. Every ISA this CPU runs
// against the scalar kernel on edge sizes (Lq, Lk 1..67, odd dv up to 80), causal in both
// alignments, key lengths with 0, boolean and additive masks and key padding; the scalar kernel
// against a float64 reference; long rows over several key blocks and split keys.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "runtime/dispatch.h"
#include "test/attention_check.h"
#include "test/check.h"

using namespace sa;
using namespace sa::test;

namespace {

enum class Causal : int { None = 0, TopLeft = 1, BottomRight = 2 };

struct PosSpec {
  int64_t B = 2, H = 2, Lq = 5, Lk = 7, dv = 3;
  bool sharedHeads = false;  // logits [Lq, Lk] read by every head (head stride 0)
  Causal causal = Causal::None;
  std::vector<int32_t> keyLengths;
  MaskKind mask = MaskKind::None;        // [Lq, Lk] boolean, or [B, Lq, Lk] additive
  bool maskForbids = false;              // boolean polarity
  MaskKind keyPadding = MaskKind::None;  // [B, Lk]
};

struct PosData {
  std::vector<float> logits, v, maskAdditive, paddingAdditive;
  std::vector<uint8_t> maskBoolean, paddingBoolean;
  AttentionProblem p;
};

// Logits rows are 3 floats apart more than Lk (a narrowed view), starting 2 floats in.
constexpr int64_t kRowPad = 3, kOffset = 2;

PosData makeData(const PosSpec& s, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  PosData d;
  const int64_t heads = s.sharedHeads ? 1 : s.H;
  const int64_t rowStride = s.Lk + kRowPad;
  d.logits.resize(static_cast<size_t>(kOffset + heads * s.Lq * rowStride));
  for (auto& x : d.logits) x = 4.0f * uni(rng);
  d.v.resize(static_cast<size_t>(s.B * s.H * s.Lk * s.dv));
  for (auto& x : d.v) x = uni(rng);
  AttentionProblem& p = d.p;
  p.batch = s.B;
  p.heads = s.H;
  p.kvHeads = s.H;
  p.Lq = s.Lq;
  p.Lk = s.Lk;
  p.dk = s.Lk;
  p.dv = s.dv;
  p.scoresFromLogits = true;
  p.q = d.logits.data() + kOffset;
  p.qStrideB = 0;
  p.qStrideH = s.sharedHeads ? 0 : s.Lq * rowStride;
  p.qStrideL = rowStride;
  p.v = d.v.data();
  p.vStrideB = s.H * s.Lk * s.dv;
  p.vStrideH = s.Lk * s.dv;
  p.vStrideL = s.dv;
  p.oStrideB = s.H * s.Lq * s.dv;
  p.oStrideH = s.Lq * s.dv;
  p.oStrideL = s.dv;
  p.scale = 1.0f / std::sqrt(static_cast<float>(s.dv));
  p.causal = s.causal != Causal::None;
  p.bottomRightAligned = s.causal == Causal::BottomRight;
  p.keyLengths = s.keyLengths.empty() ? nullptr : s.keyLengths.data();
  p.maskKind = s.mask;
  if (s.mask == MaskKind::Boolean) {
    d.maskBoolean.resize(static_cast<size_t>(s.Lq * s.Lk));
    for (auto& m : d.maskBoolean) m = rng() % 4 != 0;
    p.maskBoolean = d.maskBoolean.data();
    p.maskStrideQ = s.Lk;
    p.maskStrideK = 1;
    p.maskBooleanForbids = s.maskForbids;
  } else if (s.mask == MaskKind::Additive) {
    d.maskAdditive.resize(static_cast<size_t>(s.B * s.Lq * s.Lk));
    for (auto& m : d.maskAdditive) m = rng() % 7 == 0 ? -INFINITY : 2.0f * uni(rng);
    p.maskAdditive = d.maskAdditive.data();
    p.maskStrideB = s.Lq * s.Lk;
    p.maskStrideQ = s.Lk;
    p.maskStrideK = 1;
  }
  p.keyPaddingKind = s.keyPadding;
  p.keyPaddingStrideB = s.Lk;
  p.keyPaddingStrideK = 1;
  if (s.keyPadding == MaskKind::Boolean) {
    d.paddingBoolean.resize(static_cast<size_t>(s.B * s.Lk));
    for (auto& m : d.paddingBoolean) m = rng() % 5 == 0;
    p.keyPaddingBoolean = d.paddingBoolean.data();
  } else if (s.keyPadding == MaskKind::Additive) {
    d.paddingAdditive.resize(static_cast<size_t>(s.B * s.Lk));
    for (auto& m : d.paddingAdditive) m = uni(rng);
    p.keyPaddingAdditive = d.paddingAdditive.data();
  }
  return d;
}

// out[b, h, i] in float64, written from the definition (not from the driver's key ranges).
std::vector<double> referenceOutput(const PosSpec& s, const PosData& d) {
  const AttentionProblem& p = d.p;
  std::vector<double> out(static_cast<size_t>(s.B * s.H * s.Lq * s.dv), 0.0);
  std::vector<double> score(static_cast<size_t>(s.Lk));
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t h = 0; h < s.H; ++h)
      for (int64_t i = 0; i < s.Lq; ++i) {
        double top = -INFINITY;
        for (int64_t j = 0; j < s.Lk; ++j) {
          double x = static_cast<double>(p.scale) * p.q[h * p.qStrideH + i * p.qStrideL + j];
          const int64_t pos = s.causal == Causal::BottomRight ? i + s.Lk - s.Lq : i;
          if (s.causal != Causal::None && j > pos) x = -INFINITY;
          if (!s.keyLengths.empty() && j >= s.keyLengths[static_cast<size_t>(b)]) x = -INFINITY;
          if (s.mask == MaskKind::Boolean && (d.maskBoolean[static_cast<size_t>(i * s.Lk + j)] != 0) == s.maskForbids)
            x = -INFINITY;
          if (s.mask == MaskKind::Additive) x += d.maskAdditive[static_cast<size_t>((b * s.Lq + i) * s.Lk + j)];
          if (s.keyPadding == MaskKind::Boolean && d.paddingBoolean[static_cast<size_t>(b * s.Lk + j)] != 0)
            x = -INFINITY;
          if (s.keyPadding == MaskKind::Additive) x += d.paddingAdditive[static_cast<size_t>(b * s.Lk + j)];
          score[static_cast<size_t>(j)] = x;
          if (x > top) top = x;
        }
        if (top == -INFINITY) continue;
        double sum = 0.0;
        for (auto& x : score) sum += (x = std::exp(x - top));
        double* o = &out[static_cast<size_t>(((b * s.H + h) * s.Lq + i) * s.dv)];
        for (int64_t j = 0; j < s.Lk; ++j)
          for (int64_t c = 0; c < s.dv; ++c)
            o[c] +=
                score[static_cast<size_t>(j)] / sum * d.v[static_cast<size_t>(((b * s.H + h) * s.Lk + j) * s.dv + c)];
      }
  return out;
}

std::string label(const PosSpec& s) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "B%lld H%lld Lq%lld Lk%lld dv%lld shared%d causal%d kl%d mask%d/%d pad%d",
                static_cast<long long>(s.B), static_cast<long long>(s.H), static_cast<long long>(s.Lq),
                static_cast<long long>(s.Lk), static_cast<long long>(s.dv), s.sharedHeads ? 1 : 0,
                static_cast<int>(s.causal), s.keyLengths.empty() ? 0 : 1, static_cast<int>(s.mask),
                s.maskForbids ? 1 : 0, static_cast<int>(s.keyPadding));
  return buf;
}

std::vector<float> runOn(Isa isa, PosData& d) {
  std::vector<float> out(static_cast<size_t>(d.p.batch * d.p.heads * d.p.Lq * d.p.dv), -777.0f);
  d.p.out = out.data();
  attention(*kernelTableFor(isa), d.p);
  d.p.out = nullptr;
  return out;
}

// Scalar vs float64, then every other ISA vs scalar.
void checkSpec(const PosSpec& s, uint32_t seed) {
  PosData d = makeData(s, seed);
  const std::string name = label(s);
  const std::vector<float> scalar = runOn(Isa::Scalar, d);
  const std::vector<double> want = referenceOutput(s, d);
  const Tolerance tol{2e-5, 1e-4};
  int reported = 0;
  const auto compare = [&](Isa isa, const std::vector<float>& got, const auto& ref) {
    for (int64_t b = 0; b < s.B; ++b)
      for (int64_t h = 0; h < s.H; ++h)
        for (int64_t i = 0; i < s.Lq; ++i)
          for (int64_t c = 0; c < s.dv; ++c) {
            const size_t n = static_cast<size_t>(((b * s.H + h) * s.Lq + i) * s.dv + c);
            expectNear(got[n], static_cast<double>(ref[n]), tol, Where{name, isa, b, h, i, "c"}, c, reported);
          }
  };
  compare(Isa::Scalar, scalar, want);
  for (Isa isa : availableIsas()) {
    if (isa != Isa::Scalar) compare(isa, runOn(isa, d), scalar);
  }
}

}  // namespace

SA_NATIVE_TEST(positional_edge_sizes_every_isa) {
  uint32_t seed = 2200;
  const int64_t lengths[] = {1, 2, 15, 16, 17, 33, 67};
  const int64_t dvs[] = {1, 7, 33, 80};
  for (int64_t Lq : lengths)
    for (int64_t Lk : lengths)
      for (int64_t dv : dvs) {
        PosSpec s;
        s.Lq = Lq;
        s.Lk = Lk;
        s.dv = dv;
        s.sharedHeads = (Lq + Lk + dv) % 2 == 0;
        checkSpec(s, seed++);
        s.causal = (Lq + dv) % 2 == 0 ? Causal::TopLeft : Causal::BottomRight;
        checkSpec(s, seed++);
      }
}

SA_NATIVE_TEST(positional_masks_lengths_causal) {
  uint32_t seed = 2300;
  const int64_t sizes[][3] = {{1, 67, 5}, {17, 33, 80}, {67, 16, 9}, {33, 1, 3}, {16, 67, 1}};
  for (const auto& sz : sizes)
    for (Causal causal : {Causal::None, Causal::TopLeft, Causal::BottomRight}) {
      PosSpec s;
      s.B = 3;
      s.Lq = sz[0];
      s.Lk = sz[1];
      s.dv = sz[2];
      s.causal = causal;
      s.keyLengths = {static_cast<int32_t>(s.Lk), 0, static_cast<int32_t>((s.Lk + 1) / 2)};
      checkSpec(s, seed++);
      s.keyLengths.clear();
      s.mask = MaskKind::Boolean;
      checkSpec(s, seed++);
      s.maskForbids = true;
      s.keyPadding = MaskKind::Additive;
      checkSpec(s, seed++);
      s.mask = MaskKind::Additive;
      s.keyPadding = MaskKind::Boolean;
      s.sharedHeads = true;
      checkSpec(s, seed++);
    }
}

SA_NATIVE_TEST(positional_long_rows_and_split_keys) {
  uint32_t seed = 2400;
  withThreads({1, 2}, [&] {
    PosSpec blocks{1, 2, 20, 600, 40};
    blocks.causal = Causal::BottomRight;
    blocks.mask = MaskKind::Additive;
    checkSpec(blocks, seed++);
    // One tile of rows over 2048 keys: enough work for key splits when there are threads.
    PosSpec split{1, 1, 8, 2048, 64};
    split.keyLengths = {2000};
    checkSpec(split, seed++);
  });
}
