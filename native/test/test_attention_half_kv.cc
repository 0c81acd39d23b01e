// Half-width keys and values (kvType BFloat16 / Float16): every ISA's kernels, widening the 16-bit
// keys and values as they read them, give what the scalar kernel gives on float32 copies of the
// same rounded values: decode (row kernel), split keys, short prompts (row kernel tiles), long
// prompts (widened into panels for the tile kernel) and the materialised weights, at head sizes
// around each vector width, float16 subnormals included. bfloat16 head sizes that are whole runs of
// twice the vector width (32 on AVX-512, 16 on AVX2, 8 on NEON) take the row kernel's pair form.
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
#include "test/check.h"

using namespace sa;
using namespace sa::test;

namespace {

struct HalfSpec {
  int64_t B = 1, H = 2, Hkv = 1, Lq = 1, Lk = 17, d = 16;
  float valueScale = 1.0f;  // small: float16 subnormal values
  bool causal = false;
  int64_t maskedInfiniteKey = -1;  // a key whose value row is +inf, forbidden by a boolean mask
};

void checkHalf(ElementType type, const HalfSpec& s, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uni(-1.5f, 1.5f);
  const int64_t kvFloats = s.B * s.Hkv * s.Lk * s.d;
  std::vector<float> q(static_cast<size_t>(s.B * s.H * s.Lq * s.d)), k(static_cast<size_t>(kvFloats)), v(k.size());
  for (auto& e : q) e = uni(rng);
  for (auto& e : k) e = uni(rng);
  for (auto& e : v) e = uni(rng) * s.valueScale;
  std::vector<uint8_t> allowed(static_cast<size_t>(s.Lq * s.Lk), 1);
  if (s.maskedInfiniteKey >= 0) {
    for (int64_t b = 0; b < s.B; ++b)  // [B, Lk, Hkv, d] (blhd below)
      for (int64_t c = 0; c < s.Hkv * s.d; ++c)
        v[static_cast<size_t>((b * s.Lk + s.maskedInfiniteKey) * s.Hkv * s.d + c)] = INFINITY;
    for (int64_t i = 0; i < s.Lq; ++i) allowed[static_cast<size_t>(i * s.Lk + s.maskedInfiniteKey)] = 0;
  }
  // The 16-bit keys and values, and their exact float32 values.
  const ConvertKernels& conv = *convertKernelsFor(Isa::Scalar);
  std::vector<uint16_t> k16(k.size()), v16(v.size());
  std::vector<float> kRound(k.size()), vRound(v.size());
  if (type == ElementType::BFloat16) {
    conv.floatToBf16(k.data(), k16.data(), kvFloats);
    conv.floatToBf16(v.data(), v16.data(), kvFloats);
    conv.bf16ToFloat(k16.data(), kRound.data(), kvFloats);
    conv.bf16ToFloat(v16.data(), vRound.data(), kvFloats);
  } else {
    conv.floatToHalf(k.data(), k16.data(), kvFloats);
    conv.floatToHalf(v.data(), v16.data(), kvFloats);
    conv.halfToFloat(k16.data(), kRound.data(), kvFloats);
    conv.halfToFloat(v16.data(), vRound.data(), kvFloats);
  }
  std::vector<float> want(q.size()), got(q.size());
  AttentionProblem p;
  setTensors(p, s.B, s.H, s.Hkv, s.Lq, s.Lk, s.d, s.d, true, q.data(), kRound.data(), vRound.data(), want.data());
  p.scale = 1.0f / std::sqrt(static_cast<float>(s.d));
  p.causal = s.causal;
  p.bottomRightAligned = true;
  if (s.maskedInfiniteKey >= 0) {
    p.maskKind = MaskKind::Boolean;
    p.maskBoolean = allowed.data();
    p.maskStrideQ = s.Lk, p.maskStrideK = 1;
  }
  AttentionProblem half = p;
  half.k = nullptr, half.v = nullptr;
  half.kvType = type;
  half.k16 = k16.data(), half.v16 = v16.data();
  half.out = got.data();
  attention(*kernelTableFor(Isa::Scalar), p);
  const size_t weights = static_cast<size_t>(s.B * s.H * s.Lq * s.Lk);
  std::vector<float> wantW(weights), gotW(weights);
  attentionWeights(*kernelTableFor(Isa::Scalar), p, wantW.data());

  char name[160];
  std::snprintf(name, sizeof name, "%s kv B%lld H%lld/%lld Lq%lld Lk%lld d%lld%s",
                type == ElementType::BFloat16 ? "bf16" : "f16", static_cast<long long>(s.B),
                static_cast<long long>(s.H), static_cast<long long>(s.Hkv), static_cast<long long>(s.Lq),
                static_cast<long long>(s.Lk), static_cast<long long>(s.d),
                s.maskedInfiniteKey >= 0 ? " inf-masked" : "");
  const std::string label = name;
  const Tolerance tol{2e-5 * s.valueScale, 2e-5};
  withThreads({1, 2}, [&] {
    forEachIsa([&](Isa isa) {
      std::fill(got.begin(), got.end(), -777.0f);
      attention(*kernelTableFor(isa), half);
      int reported = 0;
      for (size_t e = 0; e < got.size(); ++e) {
        expectNear(got[e], want[e], tol, Where{label, isa, 0, 0, 0, "e"}, static_cast<int64_t>(e), reported);
      }
      std::fill(gotW.begin(), gotW.end(), -777.0f);
      attentionWeights(*kernelTableFor(isa), half, gotW.data());
      reported = 0;
      for (size_t e = 0; e < weights; ++e) {
        expectNear(gotW[e], wantW[e], Tolerance{2e-5, 2e-5}, Where{label + " weights", isa, 0, 0, 0, "e"},
                   static_cast<int64_t>(e), reported);
      }
    });
  });
}

}  // namespace

SA_NATIVE_TEST(attentionHalfKvDecodeEdgeSizes) {
  for (ElementType type : {ElementType::BFloat16, ElementType::Float16}) {
    for (int64_t d : {1, 3, 4, 7, 8, 15, 16, 17, 32, 33, 64, 96, 100, 128, 160, 256}) {
      for (int64_t Lk : {1, 5, 17, 255, 257}) {
        HalfSpec s;
        s.d = d, s.Lk = Lk;
        checkHalf(type, s, static_cast<uint32_t>(d * 1000 + Lk));
      }
    }
  }
}

// A masked key whose value is +inf: the rows stay finite (the guarded P.V update, pair form included).
SA_NATIVE_TEST(attentionHalfKvMaskedInfiniteValue) {
  for (ElementType type : {ElementType::BFloat16, ElementType::Float16}) {
    for (int64_t d : {16, 24, 64}) {
      HalfSpec s;
      s.B = 2, s.Hkv = 2, s.H = 4, s.d = d, s.Lk = 300, s.maskedInfiniteKey = 260;
      checkHalf(type, s, 21 + static_cast<uint32_t>(d));
    }
  }
}

// Few tiles and long rows: the keys are split across threads.
SA_NATIVE_TEST(attentionHalfKvSplitKeys) {
  for (ElementType type : {ElementType::BFloat16, ElementType::Float16}) {
    HalfSpec s;
    s.H = 8, s.Hkv = 2, s.d = 64, s.Lk = 1500, s.causal = true;
    checkHalf(type, s, 3);
  }
}

// Prompts: row kernel tiles (few rows per head) and the tile kernel over widened panels (many).
SA_NATIVE_TEST(attentionHalfKvPrompt) {
  for (ElementType type : {ElementType::BFloat16, ElementType::Float16}) {
    for (int64_t Lq : {5, 70}) {
      HalfSpec s;
      s.B = 2, s.H = 2, s.Hkv = 1, s.Lq = Lq, s.Lk = Lq + 40, s.d = 24, s.causal = true;
      checkHalf(type, s, 11 + static_cast<uint32_t>(Lq));
    }
  }
}

SA_NATIVE_TEST(attentionHalfKvFloat16Subnormals) {
  HalfSpec s;
  s.d = 20, s.Lk = 40, s.valueScale = 1e-6f;
  checkHalf(ElementType::Float16, s, 17);
}
