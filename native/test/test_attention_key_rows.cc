// KV-cache rows of different lengths in one call: each batch item reads the key/value batch item
// keyRows[b] and is aligned bottom-right to its own keyLengths[b] (alignToKeyLengths), on every
// ISA and thread count, against a float64 reference: decode rows (the row kernel and the
// split-keys path), a prompt of several rows (tiles), prompts of different lengths in one call
// (queryLengths), grouped heads, ALiBi distances.
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

struct RowsSpec {
  int64_t H = 4, Hkv = 2, Lq = 1, capacity = 64, d = 32;
  int64_t cacheRows = 4;              // key/value batch items held
  std::vector<int32_t> keyRows;       // one per query batch item
  std::vector<int32_t> lengths;       // keyLengths, one per query batch item
  std::vector<int32_t> queryLengths;  // empty: every query row
  bool alibi = false;
};

void checkRows(const RowsSpec& s, uint32_t seed) {
  const int64_t B = static_cast<int64_t>(s.keyRows.size());
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uni(-1.5f, 1.5f);
  auto filled = [&](int64_t n) {
    std::vector<float> x(static_cast<size_t>(n));
    for (auto& e : x) e = uni(rng);
    return x;
  };
  // BLHD, as a KV cache stores them: q [B, Lq, H, d], k and v [cacheRows, capacity, Hkv, d].
  std::vector<float> q = filled(B * s.Lq * s.H * s.d);
  std::vector<float> k = filled(s.cacheRows * s.capacity * s.Hkv * s.d);
  std::vector<float> v = filled(s.cacheRows * s.capacity * s.Hkv * s.d);
  std::vector<float> out(static_cast<size_t>(B * s.Lq * s.H * s.d));
  std::vector<float> slopes;
  for (int64_t h = 0; h < s.H; ++h) slopes.push_back(std::exp2(-8.0f * static_cast<float>(h + 1) / s.H));

  AttentionProblem p;
  p.batch = B, p.heads = s.H, p.kvHeads = s.Hkv, p.Lq = s.Lq, p.dk = s.d, p.dv = s.d;
  p.Lk = 0;
  for (int32_t n : s.lengths) p.Lk = std::max<int64_t>(p.Lk, n);
  p.q = q.data(), p.qStrideB = s.Lq * s.H * s.d, p.qStrideH = s.d, p.qStrideL = s.H * s.d;
  p.k = k.data(), p.kStrideB = s.capacity * s.Hkv * s.d, p.kStrideH = s.d, p.kStrideL = s.Hkv * s.d;
  p.v = v.data(), p.vStrideB = p.kStrideB, p.vStrideH = p.kStrideH, p.vStrideL = p.kStrideL;
  p.out = out.data(), p.oStrideB = p.qStrideB, p.oStrideH = p.qStrideH, p.oStrideL = p.qStrideL;
  p.scale = 1.0f / std::sqrt(static_cast<float>(s.d));
  p.causal = true;
  p.bottomRightAligned = true;
  p.alignToKeyLengths = true;
  p.keyLengths = s.lengths.data();
  p.keyRows = s.keyRows.data();
  p.queryLengths = s.queryLengths.empty() ? nullptr : s.queryLengths.data();
  p.alibiSlopes = s.alibi ? slopes.data() : nullptr;

  char name[160];
  std::snprintf(name, sizeof name, "rows B%lld H%lld/%lld Lq%lld Lk%lld alibi%d", static_cast<long long>(B),
                static_cast<long long>(s.H), static_cast<long long>(s.Hkv), static_cast<long long>(s.Lq),
                static_cast<long long>(p.Lk), s.alibi ? 1 : 0);
  const std::string label = name;
  withThreads({1, 2}, [&] {
    forEachIsa([&](Isa isa) {
      std::fill(out.begin(), out.end(), -777.0f);
      attention(*kernelTableFor(isa), p);
      int reported = 0;
      for (int64_t b = 0; b < B; ++b) {
        const int64_t row = s.keyRows[static_cast<size_t>(b)], n = s.lengths[static_cast<size_t>(b)];
        for (int64_t h = 0; h < s.H; ++h) {
          const int64_t hk = h / (s.H / s.Hkv);
          for (int64_t i = 0; i < s.Lq; ++i) {
            const int64_t queries = s.queryLengths.empty() ? s.Lq : s.queryLengths[static_cast<size_t>(b)];
            const int64_t pos = i < queries ? i + n - queries : -1;  // rows past queryLengths see no key
            std::vector<double> w(static_cast<size_t>(n), 0.0);
            double top = -INFINITY, sum = 0;
            for (int64_t j = 0; j <= pos && j < n; ++j) {
              double dot = 0;
              for (int64_t c = 0; c < s.d; ++c) {
                dot +=
                    static_cast<double>(q[static_cast<size_t>(b * p.qStrideB + h * p.qStrideH + i * p.qStrideL + c)]) *
                    k[static_cast<size_t>(row * p.kStrideB + hk * p.kStrideH + j * p.kStrideL + c)];
              }
              double x = dot * p.scale;
              if (s.alibi) x -= slopes[static_cast<size_t>(h)] * static_cast<double>(pos - j);
              w[static_cast<size_t>(j)] = x;
              top = std::max(top, x);
            }
            for (int64_t j = 0; j <= pos && j < n; ++j) sum += (w[static_cast<size_t>(j)] = std::exp(w[j] - top));
            for (int64_t c = 0; c < s.d; ++c) {
              double want = 0;  // a row without keys gives 0
              for (int64_t j = 0; j <= pos && j < n; ++j) {
                want += w[static_cast<size_t>(j)] / sum *
                        v[static_cast<size_t>(row * p.vStrideB + hk * p.vStrideH + j * p.vStrideL + c)];
              }
              const float got = out[static_cast<size_t>(b * p.oStrideB + h * p.oStrideH + i * p.oStrideL + c)];
              expectNear(got, want, Tolerance{}, Where{label, isa, b, h, i, "c"}, c, reported);
            }
          }
        }
      }
    });
  });
}

}  // namespace

SA_NATIVE_TEST(attentionKeyRowsDecode) {
  RowsSpec s;
  s.keyRows = {2, 0, 3};
  s.lengths = {5, 37, 64};
  checkRows(s, 11);
  s.alibi = true;
  checkRows(s, 12);
}

SA_NATIVE_TEST(attentionKeyRowsPrompt) {
  RowsSpec s;
  s.Lq = 20;
  s.keyRows = {1, 3};
  s.lengths = {20, 45};
  checkRows(s, 13);
  // Prompts of 7 and 20 rows in one call over caches that held 3 and 25 positions.
  s.queryLengths = {7, 20};
  s.lengths = {10, 45};
  checkRows(s, 15);
}

SA_NATIVE_TEST(attentionKeyRowsSplitKeys) {
  // Few tiles over long rows: on 2 threads the keys are split across tasks.
  RowsSpec s;
  s.H = 4, s.Hkv = 1, s.d = 64, s.capacity = 2048, s.cacheRows = 3;
  s.keyRows = {2, 0};
  s.lengths = {1500, 2048};
  checkRows(s, 14);
}
