// Keys and values read through a wide row stride (BLHD views into one fused projection, as
// MultiHeadAttention's self-attention passes them) give exactly the result of contiguous BHLD keys
// and values: the driver may copy strided heads into panels, which must change no bit.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "runtime/dispatch.h"
#include "test/attention_check.h"
#include "test/check.h"

namespace sa {
namespace test {
namespace {

struct StridedCase {
  int64_t B, H, Hkv, Lq, Lk, dk, dv;
  bool causal, bottomRight;
  std::vector<int32_t> keyLengths;  // empty: none
  int64_t windowLeft = -1;
};

// K and V of every (b, kv head) twice: contiguous [B, Hkv, Lk, d], and inside one buffer of rows
// [B, Lk, W] with W = H dk + Hkv (dk + dv) + 3 (the query heads first, as in a fused projection).
struct StridedData {
  StridedCase c;
  std::vector<float> q, k, v, fused, outContiguous, outStrided;
  int64_t W = 0, kOffset = 0, vOffset = 0;

  float& fusedK(int64_t b, int64_t hk, int64_t j, int64_t e) {
    return fused[static_cast<size_t>((b * c.Lk + j) * W + kOffset + hk * c.dk + e)];
  }
  float& fusedV(int64_t b, int64_t hk, int64_t j, int64_t e) {
    return fused[static_cast<size_t>((b * c.Lk + j) * W + vOffset + hk * c.dv + e)];
  }
  // Writes K (or V) element (b, hk, j, e) into both copies.
  void setK(int64_t b, int64_t hk, int64_t j, int64_t e, float x) {
    k[static_cast<size_t>(((b * c.Hkv + hk) * c.Lk + j) * c.dk + e)] = x;
    fusedK(b, hk, j, e) = x;
  }
  void setV(int64_t b, int64_t hk, int64_t j, int64_t e, float x) {
    v[static_cast<size_t>(((b * c.Hkv + hk) * c.Lk + j) * c.dv + e)] = x;
    fusedV(b, hk, j, e) = x;
  }
};

StridedData makeStrided(const StridedCase& c, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  StridedData d;
  d.c = c;
  d.W = c.H * c.dk + c.Hkv * (c.dk + c.dv) + 3;
  d.kOffset = c.H * c.dk;
  d.vOffset = d.kOffset + c.Hkv * c.dk;
  d.q.resize(static_cast<size_t>(c.B * c.H * c.Lq * c.dk));
  for (float& x : d.q) x = uni(rng);
  d.k.resize(static_cast<size_t>(c.B * c.Hkv * c.Lk * c.dk));
  d.v.resize(static_cast<size_t>(c.B * c.Hkv * c.Lk * c.dv));
  d.fused.assign(static_cast<size_t>(c.B * c.Lk * d.W), NAN);  // the gaps are never read
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t hk = 0; hk < c.Hkv; ++hk)
      for (int64_t j = 0; j < c.Lk; ++j) {
        for (int64_t e = 0; e < c.dk; ++e) d.setK(b, hk, j, e, uni(rng));
        for (int64_t e = 0; e < c.dv; ++e) d.setV(b, hk, j, e, uni(rng));
      }
  return d;
}

AttentionProblem problemOf(StridedData& d, bool strided) {
  const StridedCase& c = d.c;
  AttentionProblem p;
  std::vector<float>& out = strided ? d.outStrided : d.outContiguous;
  out.assign(static_cast<size_t>(c.B * c.H * c.Lq * c.dv), -777.0f);
  setTensors(p, c.B, c.H, c.Hkv, c.Lq, c.Lk, c.dk, c.dv, false, d.q.data(), d.k.data(), d.v.data(), out.data());
  if (strided) {
    p.k = d.fused.data() + d.kOffset;
    p.kStrideB = c.Lk * d.W;
    p.kStrideH = c.dk;
    p.kStrideL = d.W;
    p.v = d.fused.data() + d.vOffset;
    p.vStrideB = c.Lk * d.W;
    p.vStrideH = c.dv;
    p.vStrideL = d.W;
  }
  p.scale = 1.0f / std::sqrt(static_cast<float>(c.dk));
  p.causal = c.causal;
  p.bottomRightAligned = c.bottomRight;
  p.keyLengths = c.keyLengths.empty() ? nullptr : c.keyLengths.data();
  p.windowLeft = c.windowLeft;
  return p;
}

std::string labelOf(const StridedCase& c, Isa isa, int threads) {
  char buf[200];
  std::snprintf(buf, sizeof buf,
                "[%s, %d threads] B%lld H%lld/%lld Lq%lld Lk%lld dk%lld dv%lld causal%d%s lengths%d "
                "window%lld",
                isaName(isa), threads, static_cast<long long>(c.B), static_cast<long long>(c.H),
                static_cast<long long>(c.Hkv), static_cast<long long>(c.Lq), static_cast<long long>(c.Lk),
                static_cast<long long>(c.dk), static_cast<long long>(c.dv), c.causal ? 1 : 0,
                c.bottomRight ? " bottom-right" : "", c.keyLengths.empty() ? 0 : 1,
                static_cast<long long>(c.windowLeft));
  return buf;
}

// The strided run's output equals the contiguous run's bit for bit.
void expectSameBits(const StridedData& d, const std::string& label) {
  int reported = 0;
  for (size_t i = 0; i < d.outStrided.size(); ++i) {
    const bool same = std::memcmp(&d.outStrided[i], &d.outContiguous[i], sizeof(float)) == 0;
    SA_CHECK(same || reported >= 3, "%s: element %zu strided %.9g contiguous %.9g", label.c_str(), i, d.outStrided[i],
             d.outContiguous[i]);
    if (!same) ++reported;
  }
}

void runBoth(const KernelTable& kernels, StridedData& d) {
  attention(kernels, problemOf(d, false));
  attention(kernels, problemOf(d, true));
}

}  // namespace

SA_NATIVE_TEST(attention_strided_kv_equals_contiguous) {
  const StridedCase cases[] = {
      {1, 2, 2, 67, 67, 64, 64, false, false, {}},          // odd L
      {1, 2, 2, 129, 129, 64, 64, true, false, {}},         // causal
      {2, 4, 2, 33, 200, 40, 24, true, true, {}},           // GQA, Lq != Lk, dk != dv not multiples of 16
      {2, 6, 1, 70, 150, 32, 32, false, false, {150, 37}},  // GQA, key lengths
      {1, 3, 3, 100, 100, 16, 48, true, false, {}, 20},     // sliding window: each tile's keys move on
      {1, 1, 1, 64, 3000, 64, 64, true, true, {}},          // few tiles, many keys: split keys on 2 threads
      {1, 2, 2, 20, 300, 64, 64, false, false, {}},         // too few query rows to copy the heads
  };
  uint32_t seed = 1800;
  for (const StridedCase& c : cases) {
    StridedData d = makeStrided(c, seed++);
    withThreads({1, 2}, [&] {
      forEachIsa([&](Isa isa) {
        runBoth(*kernelTableFor(isa), d);
        expectSameBits(d, labelOf(c, isa, ThreadPool::instance().numThreads()));
      });
    });
  }
}

SA_NATIVE_TEST(attention_strided_kv_sees_new_values_between_calls) {
  // Two calls over the same buffers with one key and one value changed in between: the second
  // call reads the new ones (no copy of the first call's heads is reused).
  const StridedCase c{1, 2, 2, 96, 96, 64, 64, false, false, {}};
  StridedData d = makeStrided(c, 1900);
  float changed = 4.0f;
  withThreads({1, 2}, [&] {
    forEachIsa([&](Isa isa) {
      const KernelTable& kernels = *kernelTableFor(isa);
      runBoth(kernels, d);
      const std::vector<float> before = d.outStrided;
      d.setK(0, 1, 50, 3, changed);
      d.setV(0, 1, 50, 7, changed + 5.0f);
      changed += 1.0f;
      runBoth(kernels, d);
      const std::string label = labelOf(c, isa, ThreadPool::instance().numThreads()) + " after a change";
      expectSameBits(d, label);
      SA_CHECK(before != d.outStrided, "%s: the output did not change", label.c_str());
    });
  });
}

}  // namespace test
}  // namespace sa
