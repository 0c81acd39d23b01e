// bfloat16 queries, keys, values and output (qType BFloat16): every ISA (the avx512bf16 tile kernel
// over packed panels, the others widening to float32) against the scalar float32 kernel on float32
// copies of the same rounded inputs, at head sizes around the bf16 pairs and 16-wide chunks, key
// counts around the 32-key block, short and long prompts, decode, GQA and both layouts.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "kernels/convert.h"
#include "runtime/dispatch.h"
#include "test/attention_check.h"
#include "test/bf16_reference.h"
#include "test/check.h"

using namespace sa;
using namespace sa::test;

namespace {

struct Bf16Spec {
  int64_t B = 1, H = 2, Hkv = 1, Lq = 16, Lk = 33, dk = 16, dv = 16;
  bool causal = false, bottomRight = false, blhd = false;
  int32_t keyLength = -1;      // batch item 0's key length, or every key
  float infiniteValueAt = -1;  // a key whose value row is +inf (masked by the causal limit of early rows)
};

std::vector<uint16_t> roundedBf16(const std::vector<float>& x, std::vector<float>& back) {
  const ConvertKernels& conv = *convertKernelsFor(Isa::Scalar);
  std::vector<uint16_t> bits(x.size());
  back.resize(x.size());
  conv.floatToBf16(x.data(), bits.data(), static_cast<int64_t>(x.size()));
  conv.bf16ToFloat(bits.data(), back.data(), static_cast<int64_t>(x.size()));
  return bits;
}

void checkBf16(const Bf16Spec& s, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uni(-1.5f, 1.5f);
  std::vector<float> q(static_cast<size_t>(s.B * s.H * s.Lq * s.dk)), k(static_cast<size_t>(s.B * s.Hkv * s.Lk * s.dk)),
      v(static_cast<size_t>(s.B * s.Hkv * s.Lk * s.dv));
  for (auto& e : q) e = uni(rng);
  for (auto& e : k) e = uni(rng);
  for (auto& e : v) e = uni(rng);
  std::vector<float> qRound, kRound, vRound;
  const std::vector<uint16_t> q16 = roundedBf16(q, qRound), k16 = roundedBf16(k, kRound);
  std::vector<uint16_t> v16 = roundedBf16(v, vRound);
  std::vector<float> want(static_cast<size_t>(s.B * s.H * s.Lq * s.dv));
  std::vector<uint16_t> got(want.size());
  AttentionProblem p;
  setTensors(p, s.B, s.H, s.Hkv, s.Lq, s.Lk, s.dk, s.dv, s.blhd, qRound.data(), kRound.data(), vRound.data(),
             want.data());
  if (s.infiniteValueAt >= 0) {
    const int64_t j = static_cast<int64_t>(s.infiniteValueAt);
    for (int64_t c = 0; c < s.dv; ++c) {
      vRound[static_cast<size_t>(j * p.vStrideL + c)] = INFINITY;
      v16[static_cast<size_t>(j * p.vStrideL + c)] = 0x7f80;
    }
  }
  std::vector<int32_t> keyLengths(static_cast<size_t>(s.B), static_cast<int32_t>(s.Lk));
  if (s.keyLength >= 0) {
    keyLengths[0] = s.keyLength;
    p.keyLengths = keyLengths.data();
  }
  p.scale = 1.0f / std::sqrt(static_cast<float>(s.dk));
  p.causal = s.causal;
  p.bottomRightAligned = s.bottomRight;
  AttentionProblem bf16 = p;
  bf16.q = nullptr, bf16.k = nullptr, bf16.v = nullptr, bf16.out = nullptr;
  bf16.qType = ElementType::BFloat16;
  bf16.kvType = ElementType::BFloat16;
  bf16.q16 = q16.data(), bf16.k16 = k16.data(), bf16.v16 = v16.data(), bf16.out16 = got.data();
  attention(*kernelTableFor(Isa::Scalar), p);

  char name[200];
  std::snprintf(name, sizeof name, "bf16 B%lld H%lld/%lld Lq%lld Lk%lld dk%lld dv%lld%s%s%s",
                static_cast<long long>(s.B), static_cast<long long>(s.H), static_cast<long long>(s.Hkv),
                static_cast<long long>(s.Lq), static_cast<long long>(s.Lk), static_cast<long long>(s.dk),
                static_cast<long long>(s.dv), s.causal ? (s.bottomRight ? " causal-br" : " causal") : "",
                s.blhd ? " blhd" : "", s.infiniteValueAt >= 0 ? " inf-value" : "");
  const std::string label = name;
  // SPEC section 8: the weights rounded to bfloat16 before P.V (2^-9 of max |v| = 1.5) and the
  // output rounded (2^-9 relative).
  const Tolerance tol{1.5 * std::ldexp(1.0, -8), std::ldexp(1.0, -8)};
  withThreads({1, 2}, [&] {
    forEachIsa([&](Isa isa) {
      std::fill(got.begin(), got.end(), uint16_t{0xffff});
      attention(*kernelTableFor(isa), bf16);
      int reported = 0;
      for (size_t e = 0; e < got.size(); ++e) {
        const float g = bf16Value(got[e]);
        if (!std::isfinite(want[e])) {
          SA_CHECK(std::isnan(want[e]) ? std::isnan(g) : g == want[e], "%s [%s] e=%zu: got %g want %g", label.c_str(),
                   isaName(isa), e, static_cast<double>(g), static_cast<double>(want[e]));
          continue;
        }
        expectNear(g, want[e], tol, Where{label, isa, 0, 0, 0, "e"}, static_cast<int64_t>(e), reported);
      }
    });
  });
}

}  // namespace

SA_NATIVE_TEST(attentionBf16EdgeSizes) {
  for (int64_t d : {1, 2, 15, 17, 31, 32, 33, 64, 100, 128, 256}) {
    for (int64_t Lk : {1, 31, 32, 33, 100}) {
      Bf16Spec s;
      s.dk = s.dv = d, s.Lk = Lk, s.Lq = 19;
      checkBf16(s, static_cast<uint32_t>(d * 1000 + Lk));
    }
  }
  Bf16Spec s;
  s.dk = 40, s.dv = 72, s.Lk = 70, s.Lq = 35;
  checkBf16(s, 1);
  s.dk = 96, s.dv = 8;
  checkBf16(s, 2);
}

SA_NATIVE_TEST(attentionBf16CausalAndKeyLengths) {
  for (bool bottomRight : {false, true}) {
    for (int64_t Lq : {1, 8, 16, 70}) {
      Bf16Spec s;
      s.B = 2, s.H = 4, s.Hkv = 2, s.Lq = Lq, s.Lk = Lq + 45, s.dk = s.dv = 64;
      s.causal = true, s.bottomRight = bottomRight, s.keyLength = static_cast<int32_t>(Lq / 2 + 3);
      checkBf16(s, 5 + static_cast<uint32_t>(Lq));
    }
  }
}

SA_NATIVE_TEST(attentionBf16LayoutsAndDecode) {
  Bf16Spec s;
  s.B = 2, s.H = 4, s.Hkv = 4, s.Lq = 40, s.Lk = 90, s.dk = s.dv = 48, s.blhd = true;
  checkBf16(s, 9);
  s.Lq = 1, s.Lk = 1500, s.Hkv = 1;  // decode: the row kernel, keys split across threads
  checkBf16(s, 10);
  s.Lq = 300, s.Lk = 300, s.H = 2, s.Hkv = 2, s.causal = true, s.blhd = false;
  checkBf16(s, 11);
}

// An infinite value behind the causal limit of the early rows: they must not turn NaN.
SA_NATIVE_TEST(attentionBf16InfiniteValue) {
  Bf16Spec s;
  s.H = 1, s.Lq = 40, s.Lk = 40, s.dk = s.dv = 32, s.causal = true, s.infiniteValueAt = 35;
  checkBf16(s, 12);
}

// Scores near 2^22 that differ by a few units, exact in bfloat16 products and float32 sums: the
// running maximum moves once, after 8000 keys (10 units below the last), so the weights before and
// after the move must agree to the bit of their difference, not of the scores' magnitude (a float32
// ulp there is 0.5). Closed form: 8000 keys of weight e^-10 with value (1, 0), one of weight 1 with
// value (0, 1). 64 rows per head, so the avx512bf16 tile kernel takes it.
SA_NATIVE_TEST(attentionBf16LargeLogitsAcrossAMove) {
  const int64_t H = 2, Lq = 64, Lk = 8001, d = 2;
  std::vector<float> q(static_cast<size_t>(H * Lq * d)), k(static_cast<size_t>(H * Lk * d)),
      v(static_cast<size_t>(H * Lk * d));
  for (int64_t i = 0; i < H * Lq; ++i) q[i * d] = 2048.0f, q[i * d + 1] = 1.0f;
  for (int64_t j = 0; j < H * Lk; ++j) {
    const bool last = j % Lk == Lk - 1;
    k[j * d] = 2048.0f, k[j * d + 1] = last ? 10.0f : 0.0f;
    v[j * d] = last ? 0.0f : 1.0f, v[j * d + 1] = last ? 1.0f : 0.0f;
  }
  std::vector<float> qBack, kBack, vBack, unused(q.size());
  const std::vector<uint16_t> q16 = roundedBf16(q, qBack), k16 = roundedBf16(k, kBack), v16 = roundedBf16(v, vBack);
  SA_CHECK(qBack == q && kBack == k && vBack == v, "inputs not exact in bfloat16");
  AttentionProblem p;
  setTensors(p, 1, H, H, Lq, Lk, d, d, false, q.data(), k.data(), v.data(), unused.data());
  p.scale = 1.0f;
  p.q = nullptr, p.k = nullptr, p.v = nullptr, p.out = nullptr;
  p.qType = p.kvType = ElementType::BFloat16;
  std::vector<uint16_t> got(q.size());
  p.q16 = q16.data(), p.k16 = k16.data(), p.v16 = v16.data(), p.out16 = got.data();
  const double old = 8000 * std::exp(-10.0), want0 = old / (old + 1), want1 = 1 / (old + 1);
  withThreads({1, 2}, [&] {
    forEachIsa([&](Isa isa) {
      attention(*kernelTableFor(isa), p);
      for (int64_t i = 0; i < H * Lq; ++i) {
        const double g0 = bf16Value(got[i * d]), g1 = bf16Value(got[i * d + 1]);
        SA_CHECK(std::fabs(g0 - want0) <= std::ldexp(1.0, -8) * want0 && std::fabs(g1 - want1) <= std::ldexp(1.0, -8),
                 "[%s] row %lld: (%g, %g), want (%g, %g)", isaName(isa), static_cast<long long>(i), g0, g1, want0,
                 want1);
      }
    });
  });
}
