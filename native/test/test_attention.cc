// The fused attention on every ISA this CPU runs, against a float64 reference computed here:
// head dimensions 1..256 (dk != dv), Lq != Lk, both causal alignments, additive and boolean masks
// broadcast several ways, key lengths (0 included), grouped-query heads, interleaved-head (BLHD)
// strides, scores of magnitude 1e4, the split-keys decode path, NaN locality, the weights, exp2.
// Buffers are exact-size vectors, so the sanitizer build catches any read past a row.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <algorithm>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "kernels/attention_kernels.h"
#include "runtime/dispatch.h"
#include "runtime/thread_pool.h"
#include "test/attention_check.h"
#include "test/check.h"

using namespace sa;
using namespace sa::test;

namespace {

// The three causal cases a spec names; the problem stores them as causal + bottomRightAligned.
enum class CausalMode : int { None = 0, TopLeft = 1, BottomRight = 2 };

struct Spec {
  int64_t B = 1, H = 1, Hkv = 0, Lq = 1, Lk = 1, dk = 16, dv = 16;
  bool blhd = false;  // [B, L, H, d] (heads interleaved) instead of [B, H, L, d]
  CausalMode causal = CausalMode::None;
  MaskKind maskKind = MaskKind::None;
  bool maskBroadcast[4] = {false, false, false, false};  // over B, H, Lq, Lk
  double maskedFraction = 0.25;                          // of the mask entries that forbid
  bool maskForbids = false;                              // boolean polarity: nonzero forbids
  MaskKind keyPadding = MaskKind::None;                  // [B, Lk] key-padding mask
  std::vector<int32_t> keyLengths;                       // empty: none
  float scale = 0.0f;                                    // 0: 1 / sqrt(dk)
  // Integer-valued q and k in [-intRange, intRange] (exact float dot products), for big scores.
  int intRange = 0;
};

struct Data {
  Spec spec;
  int64_t Hkv;
  std::vector<float> q, k, v, out, maskAdd, padAdd;
  std::vector<uint8_t> maskBool, padBool;
  AttentionProblem p;
};

Data makeData(const Spec& s, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  std::uniform_int_distribution<int> ints(-s.intRange, s.intRange);
  Data d;
  d.spec = s;
  d.Hkv = s.Hkv > 0 ? s.Hkv : s.H;
  auto fill = [&](std::vector<float>& x, size_t n, bool integer) {
    x.resize(n);
    for (auto& e : x) e = integer ? static_cast<float>(ints(rng)) : uni(rng);
  };
  fill(d.q, static_cast<size_t>(s.B * s.H * s.Lq * s.dk), s.intRange > 0);
  fill(d.k, static_cast<size_t>(s.B * d.Hkv * s.Lk * s.dk), s.intRange > 0);
  fill(d.v, static_cast<size_t>(s.B * d.Hkv * s.Lk * s.dv), false);
  d.out.assign(static_cast<size_t>(s.B * s.H * s.Lq * s.dv), -777.0f);

  AttentionProblem& p = d.p;
  setTensors(p, s.B, s.H, s.Hkv, s.Lq, s.Lk, s.dk, s.dv, s.blhd, d.q.data(), d.k.data(), d.v.data(), d.out.data());
  p.scale = s.scale != 0.0f ? s.scale : 1.0f / std::sqrt(static_cast<float>(s.dk));
  p.causal = s.causal != CausalMode::None;
  p.bottomRightAligned = s.causal == CausalMode::BottomRight;
  p.maskKind = s.maskKind;
  if (s.maskKind != MaskKind::None) {
    const int64_t dims[4] = {s.B, s.H, s.Lq, s.Lk};
    int64_t size[4], total = 1;
    for (int i = 0; i < 4; ++i) {
      size[i] = s.maskBroadcast[i] ? 1 : dims[i];
      total *= size[i];
    }
    int64_t stride[4];
    int64_t run = 1;
    for (int i = 3; i >= 0; --i) {
      stride[i] = s.maskBroadcast[i] ? 0 : run;
      run *= size[i];
    }
    p.maskStrideB = stride[0];
    p.maskStrideH = stride[1];
    p.maskStrideQ = stride[2];
    p.maskStrideK = stride[3];
    std::uniform_real_distribution<double> coin(0.0, 1.0);
    if (s.maskKind == MaskKind::Additive) {
      d.maskAdd.resize(static_cast<size_t>(total));
      for (auto& e : d.maskAdd) e = coin(rng) < s.maskedFraction ? -INFINITY : 2.0f * uni(rng);
      p.maskAdditive = d.maskAdd.data();
    } else {
      d.maskBool.resize(static_cast<size_t>(total));
      for (auto& e : d.maskBool) e = coin(rng) < s.maskedFraction ? 0 : static_cast<uint8_t>(1 + (rng() % 200));
      p.maskBoolean = d.maskBool.data();
    }
  }
  p.maskBooleanForbids = s.maskForbids;
  p.keyPaddingKind = s.keyPadding;
  if (s.keyPadding != MaskKind::None) {
    std::uniform_real_distribution<double> coin(0.0, 1.0);
    const size_t n = static_cast<size_t>(s.B * s.Lk);
    p.keyPaddingStrideB = s.Lk;
    p.keyPaddingStrideK = 1;
    if (s.keyPadding == MaskKind::Additive) {
      d.padAdd.resize(n);
      for (auto& e : d.padAdd) e = coin(rng) < 0.2 ? -INFINITY : uni(rng);
      p.keyPaddingAdditive = d.padAdd.data();
    } else {
      d.padBool.resize(n);
      for (auto& e : d.padBool) e = coin(rng) < 0.2 ? 1 : 0;
      p.keyPaddingBoolean = d.padBool.data();
    }
  }
  p.keyLengths = d.spec.keyLengths.empty() ? nullptr : d.spec.keyLengths.data();
  return d;
}

// Softmax weights of one row in float64, with the package's rule (an empty row has zero weights).
std::vector<double> referenceWeights(const Data& d, int64_t b, int64_t h, int64_t i) {
  const AttentionProblem& p = d.p;
  const int64_t hk = h / (p.heads / d.Hkv);
  std::vector<double> s(static_cast<size_t>(p.Lk), -INFINITY);
  double top = -INFINITY;
  for (int64_t j = 0; j < p.Lk; ++j) {
    if (p.keyLengths != nullptr && j >= p.keyLengths[b]) continue;
    if (p.causal && !p.bottomRightAligned && j > i) continue;
    if (p.causal && p.bottomRightAligned && j > i + p.Lk - p.Lq) continue;
    const int64_t mo = b * p.maskStrideB + h * p.maskStrideH + i * p.maskStrideQ + j * p.maskStrideK;
    if (p.maskKind == MaskKind::Boolean && (p.maskBoolean[mo] != 0) == p.maskBooleanForbids) continue;
    if (p.maskKind == MaskKind::Additive && p.maskAdditive[mo] == -INFINITY) continue;
    const int64_t po = b * p.keyPaddingStrideB + j * p.keyPaddingStrideK;
    if (p.keyPaddingKind == MaskKind::Boolean && p.keyPaddingBoolean[po] != 0) continue;
    if (p.keyPaddingKind == MaskKind::Additive && p.keyPaddingAdditive[po] == -INFINITY) continue;
    const float* q = p.q + b * p.qStrideB + h * p.qStrideH + i * p.qStrideL;
    const float* k = p.k + b * p.kStrideB + hk * p.kStrideH + j * p.kStrideL;
    double dot = 0;
    for (int64_t c = 0; c < p.dk; ++c) dot += static_cast<double>(q[c]) * k[c];
    double v = dot * static_cast<double>(p.scale);
    if (p.maskKind == MaskKind::Additive) v += p.maskAdditive[mo];
    if (p.keyPaddingKind == MaskKind::Additive) v += p.keyPaddingAdditive[po];
    s[static_cast<size_t>(j)] = v;
    if (v > top) top = v;
  }
  double sum = 0;
  for (auto& e : s) {
    e = e == -INFINITY ? 0.0 : std::exp(e - top);
    sum += e;
  }
  for (auto& e : s) e = sum > 0 ? e / sum : 0.0;
  return s;
}

// Runs `isa` on d and compares every output element with the float64 reference.
void checkAgainstReference(Isa isa, Data& d, const std::string& label, Tolerance tol = {}) {
  const AttentionProblem& p = d.p;
  std::fill(d.out.begin(), d.out.end(), -777.0f);
  attention(*kernelTableFor(isa), p);
  int reported = 0;
  for (int64_t b = 0; b < p.batch; ++b) {
    for (int64_t h = 0; h < p.heads; ++h) {
      const int64_t hk = h / (p.heads / d.Hkv);
      for (int64_t i = 0; i < p.Lq; ++i) {
        const std::vector<double> w = referenceWeights(d, b, h, i);
        const float* o = p.out + b * p.oStrideB + h * p.oStrideH + i * p.oStrideL;
        for (int64_t c = 0; c < p.dv; ++c) {
          double ref = 0;
          for (int64_t j = 0; j < p.Lk; ++j) {
            const double wj = w[static_cast<size_t>(j)];
            if (wj != 0) ref += wj * p.v[b * p.vStrideB + hk * p.vStrideH + j * p.vStrideL + c];
          }
          expectNear(o[c], ref, tol, Where{label, isa, b, h, i, "c"}, c, reported);
        }
      }
    }
  }
}

std::string shape(const Spec& s) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "B%lld H%lld/%lld Lq%lld Lk%lld dk%lld dv%lld%s causal%d mask%d",
                static_cast<long long>(s.B), static_cast<long long>(s.H), static_cast<long long>(s.Hkv),
                static_cast<long long>(s.Lq), static_cast<long long>(s.Lk), static_cast<long long>(s.dk),
                static_cast<long long>(s.dv), s.blhd ? " blhd" : "", static_cast<int>(s.causal),
                static_cast<int>(s.maskKind));
  return buf;
}

void runSpec(const Spec& s, uint32_t seed, Tolerance tol = {}) {
  Data d = makeData(s, seed);
  forEachIsa([&](Isa isa) { checkAgainstReference(isa, d, shape(s), tol); });
}

}  // namespace

SA_NATIVE_TEST(attention_head_dims) {
  uint32_t seed = 1;
  for (int64_t dim : {1, 3, 17, 64, 80, 96, 128, 200, 256}) {
    Spec s{1, 2, 0, 21, 70, dim, dim};
    runSpec(s, seed++);
  }
  const int64_t pairs[][2] = {{64, 17}, {3, 128}, {200, 80}, {17, 1}, {256, 96}};
  for (const auto& pr : pairs) {
    Spec s{2, 1, 0, 18, 33, pr[0], pr[1]};
    runSpec(s, seed++);
  }
}

SA_NATIVE_TEST(attention_lengths_and_causal) {
  uint32_t seed = 100;
  const int64_t lens[][2] = {{1, 1}, {1, 100}, {100, 1}, {20, 70}, {70, 20}, {16, 16}, {33, 33}, {130, 129}};
  for (const auto& l : lens) {
    for (CausalMode c : {CausalMode::None, CausalMode::TopLeft, CausalMode::BottomRight}) {
      Spec s{2, 2, 0, l[0], l[1], 24, 40};
      s.causal = c;
      runSpec(s, seed++);
    }
  }
}

SA_NATIVE_TEST(attention_masks_broadcast) {
  uint32_t seed = 200;
  const bool patterns[][4] = {{false, false, false, false},  // full [B, H, Lq, Lk]
                              {false, true, true, false},    // key padding [B, 1, 1, Lk]
                              {true, true, false, false},    // [Lq, Lk]
                              {false, false, false, true},   // [B, H, Lq, 1]: constant along keys
                              {true, false, true, false}};   // [1, H, 1, Lk]
  for (MaskKind kind : {MaskKind::Additive, MaskKind::Boolean}) {
    for (const auto& pat : patterns) {
      for (CausalMode c : {CausalMode::None, CausalMode::BottomRight}) {
        Spec s{2, 3, 0, 37, 90, 32, 20};
        s.maskKind = kind;
        std::memcpy(s.maskBroadcast, pat, sizeof s.maskBroadcast);
        s.causal = c;
        runSpec(s, seed++);
      }
    }
  }
  // nn.MultiheadAttention polarity and a key-padding mask on top of the attention mask; 600 keys
  // cross the row kernel's 256-key blocks (Lq = 1, and the 5-row last tile of Lq = 37).
  for (MaskKind pad : {MaskKind::Additive, MaskKind::Boolean}) {
    for (MaskKind kind : {MaskKind::None, MaskKind::Additive, MaskKind::Boolean}) {
      for (int64_t Lq : {1, 37})
        for (int64_t Lk : {75, 600}) {
          Spec s{2, 2, 0, Lq, Lk, 16, 24};
          s.maskKind = kind;
          s.maskForbids = true;
          s.keyPadding = pad;
          s.causal = CausalMode::BottomRight;
          runSpec(s, seed++);
        }
    }
  }
  // Mostly forbidden: many rows end up with no key at all (zero rows).
  Spec s{1, 2, 0, 40, 40, 16, 16};
  s.maskKind = MaskKind::Boolean;
  s.maskedFraction = 0.97;
  runSpec(s, seed++);
}

SA_NATIVE_TEST(attention_key_lengths_gqa_blhd) {
  uint32_t seed = 300;
  {
    Spec s{4, 2, 0, 19, 150, 64, 64};  // key lengths, 0 included (zero rows), one past a block boundary
    s.keyLengths = {0, 65, 150, 7};
    runSpec(s, seed++);
    s.causal = CausalMode::BottomRight;
    runSpec(s, seed++);
  }
  for (int64_t kv : {1, 2, 4}) {  // grouped-query and multi-query heads, with causal and a mask
    Spec s{2, 8, kv, 23, 41, 64, 48};
    s.causal = CausalMode::TopLeft;
    s.maskKind = MaskKind::Additive;
    s.maskBroadcast[0] = true;
    runSpec(s, seed++);
  }
  for (CausalMode c : {CausalMode::None, CausalMode::TopLeft}) {  // interleaved heads
    Spec s{2, 4, 2, 45, 77, 80, 96};
    s.blhd = true;
    s.causal = c;
    s.keyLengths = {77, 30};
    runSpec(s, seed++);
  }
}

SA_NATIVE_TEST(attention_large_scores_do_not_overflow) {
  // |scores| ~ 1e4 from exact integer dot products, at SPEC tolerance: the kernels subtract a
  // row's reference before scaling (test_attention_large_logits.cc has the 1e4 + O(1) cases).
  for (CausalMode c : {CausalMode::None, CausalMode::TopLeft}) {
    Spec s{1, 2, 0, 40, 90, 64, 64};
    s.intRange = 30;
    s.scale = 0.5f;
    s.causal = c;
    runSpec(s, 400 + static_cast<uint32_t>(c));
  }
}

SA_NATIVE_TEST(attention_threads_and_split_keys) {
  // Few tiles and many keys: with 2 threads the driver splits the keys and merges the partials.
  struct Shape {
    int64_t H, Hkv, Lq, Lk;
    CausalMode c;
  };
  const Shape shapes[] = {{1, 1, 1, 5000, CausalMode::None},          // decode, row kernel
                          {4, 1, 1, 3000, CausalMode::BottomRight},   // GQA decode: 4 rows, one kv head
                          {1, 1, 16, 2100, CausalMode::BottomRight},  // tile kernel, split
                          {1, 1, 24, 2100, CausalMode::BottomRight},  // a 32-row tile (AVX-512), split
                          {2, 2, 3, 1500, CausalMode::None}};
  uint32_t seed = 500;
  for (const Shape& sh : shapes) {
    Spec s{1, sh.H, sh.Hkv, sh.Lq, sh.Lk, 64, 64};
    s.causal = sh.c;
    Data d = makeData(s, seed++);
    withThreads({1, 2, 3}, [&] {
      forEachIsa([&](Isa isa) { checkAgainstReference(isa, d, shape(s) + " threads", Tolerance{}); });
    });
  }
  {  // NaN through the split-and-merge: a NaN query reaches its row, a NaN value past the key length does not
    Spec s{1, 1, 0, 1, 3000, 16, 16};
    s.keyLengths = {2000};
    withThreads({2}, [&] {
      forEachIsa([&](Isa isa) {
        Data d = makeData(s, seed);
        d.v[2500 * 16 + 5] = NAN;
        checkAgainstReference(isa, d, "split keys, NaN past the key length", Tolerance{});
        d.q[3] = NAN;
        attention(*kernelTableFor(isa), d.p);
        bool allNan = true;
        for (float x : d.out) allNan &= std::isnan(x);
        SA_CHECK(allNan, "[%s] NaN query lost through the split merge", isaName(isa));
      });
    });
  }
  Spec s{2, 3, 0, 100, 100, 64, 64};  // and a prefill on 2 threads
  s.causal = CausalMode::TopLeft;
  Data d = makeData(s, seed++);
  withThreads({2}, [&] { forEachIsa([&](Isa isa) { checkAgainstReference(isa, d, shape(s), Tolerance{}); }); });
}

SA_NATIVE_TEST(attention_nan_stays_in_its_rows) {
  Spec s{1, 1, 0, 40, 40, 24, 24};
  s.causal = CausalMode::TopLeft;
  forEachIsa([&](Isa isa) {
    for (int what = 0; what < 3; ++what) {  // NaN in q row 5, k row 20, v row 20
      Data d = makeData(s, 600);
      Data clean = makeData(s, 600);
      if (what == 0) d.q[5 * 24 + 3] = NAN;
      if (what == 1) d.k[20 * 24 + 3] = NAN;
      if (what == 2) d.v[20 * 24 + 3] = NAN;
      attention(*kernelTableFor(isa), d.p);
      attention(*kernelTableFor(isa), clean.p);
      for (int64_t i = 0; i < s.Lq; ++i) {
        const bool depends = what == 0 ? i == 5 : i >= 20;
        bool anyNan = false, same = true;
        for (int64_t c = 0; c < s.dv; ++c) {
          anyNan |= std::isnan(d.out[i * 24 + c]);
          same &= d.out[i * 24 + c] == clean.out[i * 24 + c];
        }
        if (depends) {
          SA_CHECK(anyNan, "[%s] NaN in input %d should reach row %lld", isaName(isa), what, static_cast<long long>(i));
        } else {
          SA_CHECK(same, "[%s] NaN in input %d leaked into row %lld", isaName(isa), what, static_cast<long long>(i));
        }
      }
    }
  });
}

SA_NATIVE_TEST(attention_masked_nonfinite_value_stays_out) {
  // Key 7 is forbidden (boolean mask) for the even rows only, and V row 7 holds a NaN and an inf:
  // the even rows never attend to it and must come out as without them (a masked weight is 0, and
  // 0 * NaN must not happen; equal up to rounding, since the guarded path may sum in another
  // order), the odd rows attend to it and must not be finite.
  for (int64_t Lq : {2, 20}) {  // the row kernel, the tile kernel
    Spec s{1, 1, 0, Lq, 70, 8, 20};
    s.maskKind = MaskKind::Boolean;
    s.maskedFraction = 0.0;
    forEachIsa([&](Isa isa) {
      Data d = makeData(s, 650), clean = makeData(s, 650);
      for (Data* x : {&d, &clean}) {
        for (int64_t i = 0; i < Lq; i += 2) x->maskBool[static_cast<size_t>(i * s.Lk + 7)] = 0;
      }
      d.v[7 * 20 + 3] = NAN;
      d.v[7 * 20 + 19] = INFINITY;
      attention(*kernelTableFor(isa), d.p);
      attention(*kernelTableFor(isa), clean.p);
      for (int64_t i = 0; i < Lq; ++i) {
        bool same = true, finite = true;
        for (int64_t c = 0; c < s.dv; ++c) {
          const float got = d.out[i * 20 + c], want = clean.out[i * 20 + c];
          same &= std::fabs(got - want) <= 1e-6f + 1e-5f * std::fabs(want);  // false for NaN
          finite &= std::isfinite(d.out[i * 20 + c]);
        }
        if (i % 2 == 0) {
          SA_CHECK(same, "[%s] Lq %lld: masked non-finite value leaked into row %lld", isaName(isa),
                   static_cast<long long>(Lq), static_cast<long long>(i));
        } else {
          SA_CHECK(!finite, "[%s] Lq %lld: row %lld attends to a non-finite value", isaName(isa),
                   static_cast<long long>(Lq), static_cast<long long>(i));
        }
      }
    });
  }
}

SA_NATIVE_TEST(attention_weights_match_and_sum_to_one) {
  Spec s{2, 4, 2, 9, 31, 20, 8};
  s.causal = CausalMode::BottomRight;
  s.maskKind = MaskKind::Boolean;
  s.maskedFraction = 0.3;
  s.keyLengths = {31, 0};
  Data d = makeData(s, 700);
  forEachIsa([&](Isa isa) {
    std::vector<float> w(static_cast<size_t>(s.B * s.H * s.Lq * s.Lk), -1.0f);
    attentionWeights(*kernelTableFor(isa), d.p, w.data());
    for (int64_t b = 0; b < s.B; ++b) {
      for (int64_t h = 0; h < s.H; ++h) {
        for (int64_t i = 0; i < s.Lq; ++i) {
          const std::vector<double> ref = referenceWeights(d, b, h, i);
          const float* row = &w[static_cast<size_t>(((b * s.H + h) * s.Lq + i) * s.Lk)];
          double sum = 0, refSum = 0;
          int reported = 0;
          for (int64_t j = 0; j < s.Lk; ++j) {
            sum += row[j];
            refSum += ref[static_cast<size_t>(j)];
            expectNear(row[j], ref[static_cast<size_t>(j)], Tolerance{}, Where{shape(s), isa, b, h, i, "weight j"}, j,
                       reported);
          }
          SA_CHECK(std::fabs(sum - refSum) < 1e-5 && (refSum == 0 || std::fabs(sum - 1) < 1e-5),
                   "[%s] weights of row b%lld h%lld i%lld sum to %g", isaName(isa), static_cast<long long>(b),
                   static_cast<long long>(h), static_cast<long long>(i), sum);
        }
      }
    }
  });
}

SA_NATIVE_TEST(exp2_is_accurate) {
  // A sample of [-126, 0] (every float there was checked once offline: max 0.95 ulp on AVX-512
  // and AVX2), plus the special values the softmax relies on.
  std::mt19937 rng(800);
  std::uniform_real_distribution<float> uni(-126.0f, 0.0f);
  std::vector<float> x(200000);
  for (size_t i = 0; i < x.size(); ++i) x[i] = i < 1000 ? -static_cast<float>(i) * 1e-3f : uni(rng);
  const float special[] = {0.0f, -0.5f, -1.0f, -125.99f, -126.0f, -126.01f, -127.0f, -1000.0f, -INFINITY, NAN};
  forEachIsa([&](Isa isa) {
    const AttentionKernels& k = *kernelTableFor(isa)->attention;
    std::vector<float> y(x.size());
    k.exp2(x.data(), y.data(), static_cast<int64_t>(x.size()));
    double worst = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double ref = std::exp2(static_cast<double>(x[i]));
      const double ulp = std::ldexp(1.0, std::ilogb(ref) - 23);
      worst = std::max(worst, std::fabs(y[i] - ref) / ulp);
    }
    SA_CHECK(worst <= 2.0, "[%s] exp2 max error %.3f ulp", isaName(isa), worst);
    float ys[10];
    k.exp2(special, ys, 10);
    SA_CHECK(ys[0] == 1.0f, "[%s] exp2(0) = %g", isaName(isa), ys[0]);
    SA_CHECK(ys[2] == 0.5f, "[%s] exp2(-1) = %g", isaName(isa), ys[2]);
    SA_CHECK(ys[4] > 0.0f && ys[3] > 0.0f, "[%s] exp2 near -126 flushed", isaName(isa));
    for (int i = 5; i < 9; ++i)
      SA_CHECK(isa == Isa::Scalar || ys[i] == 0.0f, "[%s] exp2(%g) = %g, want 0", isaName(isa), special[i], ys[i]);
    SA_CHECK(ys[8] == 0.0f, "[%s] exp2(-inf) = %g", isaName(isa), ys[8]);
    SA_CHECK(std::isnan(ys[9]), "[%s] exp2(NaN) = %g", isaName(isa), ys[9]);
  });
}
