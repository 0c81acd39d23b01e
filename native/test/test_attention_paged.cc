// Paged keys and values (kvBlockSize, blockTables): the same cache rows scattered over shuffled
// blocks give what the contiguous cache gives, on every ISA and thread count: decode (row kernel),
// split keys, a short prompt (row kernel tiles), a long prompt (pages gathered into panels), the
// materialised weights, page sizes 16/32/64 and lengths that are not multiples of the page.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <numeric>
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

struct PagedSpec {
  int64_t H = 4, Hkv = 2, Lq = 1, d = 32, pageKeys = 16;
  std::vector<int32_t> keyRows;  // cache row of each query batch item
  std::vector<int32_t> lengths;  // keyLengths, one per query batch item
  int64_t cacheRows = 3;
  bool alibi = false;
  int64_t windowLeft = -1;
};

void checkPaged(const PagedSpec& s, uint32_t seed) {
  const int64_t B = static_cast<int64_t>(s.keyRows.size());
  int64_t Lk = 0;
  for (int32_t n : s.lengths) Lk = std::max<int64_t>(Lk, n);
  const int64_t P = s.pageKeys, width = (Lk + P - 1) / P, rowFloats = s.Hkv * s.d;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uni(-1.5f, 1.5f);
  auto filled = [&](int64_t n) {
    std::vector<float> x(static_cast<size_t>(n));
    for (auto& e : x) e = uni(rng);
    return x;
  };
  // Contiguous cache [cacheRows, Lk, Hkv, d]; the paged one holds the same rows in shuffled blocks
  // [blocks, P, Hkv, d] (one spare block that no table names, filled with NaN: never read).
  std::vector<float> q = filled(B * s.Lq * s.H * s.d);
  std::vector<float> k = filled(s.cacheRows * Lk * rowFloats);
  std::vector<float> v = filled(s.cacheRows * Lk * rowFloats);
  const int64_t blocks = s.cacheRows * width + 1;
  std::vector<int32_t> order(static_cast<size_t>(blocks));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<int32_t> tables(static_cast<size_t>(s.cacheRows * width));
  std::vector<float> kPaged(static_cast<size_t>(blocks * P * rowFloats), NAN), vPaged(kPaged);
  for (int64_t r = 0; r < s.cacheRows; ++r) {
    for (int64_t c = 0; c < width; ++c) {
      const int32_t block = order[static_cast<size_t>(r * width + c)];
      tables[static_cast<size_t>(r * width + c)] = block;
      for (int64_t j = c * P; j < std::min(Lk, (c + 1) * P); ++j) {
        const size_t from = static_cast<size_t>((r * Lk + j) * rowFloats);
        const size_t to = static_cast<size_t>((block * P + j - c * P) * rowFloats);
        std::copy_n(k.begin() + from, rowFloats, kPaged.begin() + to);
        std::copy_n(v.begin() + from, rowFloats, vPaged.begin() + to);
      }
    }
  }
  std::vector<float> slopes;
  for (int64_t h = 0; h < s.H; ++h) slopes.push_back(std::exp2(-8.0f * static_cast<float>(h + 1) / s.H));
  std::vector<float> want(static_cast<size_t>(B * s.Lq * s.H * s.d)), got(want.size());

  AttentionProblem p;
  p.batch = B, p.heads = s.H, p.kvHeads = s.Hkv, p.Lq = s.Lq, p.Lk = Lk, p.dk = s.d, p.dv = s.d;
  p.q = q.data(), p.qStrideB = s.Lq * s.H * s.d, p.qStrideH = s.d, p.qStrideL = s.H * s.d;
  p.k = k.data(), p.kStrideB = Lk * rowFloats, p.kStrideH = s.d, p.kStrideL = rowFloats;
  p.v = v.data(), p.vStrideB = p.kStrideB, p.vStrideH = p.kStrideH, p.vStrideL = p.kStrideL;
  p.oStrideB = p.qStrideB, p.oStrideH = p.qStrideH, p.oStrideL = p.qStrideL;
  p.scale = 1.0f / std::sqrt(static_cast<float>(s.d));
  p.causal = true;
  p.bottomRightAligned = true;
  p.alignToKeyLengths = true;
  p.keyLengths = s.lengths.data();
  p.keyRows = s.keyRows.data();
  p.alibiSlopes = s.alibi ? slopes.data() : nullptr;
  p.windowLeft = s.windowLeft;
  AttentionProblem paged = p;
  paged.k = kPaged.data(), paged.kStrideB = P * rowFloats;
  paged.v = vPaged.data(), paged.vStrideB = P * rowFloats;
  paged.kvBlockSize = P;
  paged.blockTables = tables.data();
  paged.blockTableWidth = width;

  char name[160];
  std::snprintf(name, sizeof name, "paged P%lld B%lld H%lld/%lld Lq%lld Lk%lld d%lld", static_cast<long long>(P),
                static_cast<long long>(B), static_cast<long long>(s.H), static_cast<long long>(s.Hkv),
                static_cast<long long>(s.Lq), static_cast<long long>(Lk), static_cast<long long>(s.d));
  const std::string label = name;
  const Tolerance tol{2e-5, 2e-5};
  withThreads({1, 2}, [&] {
    forEachIsa([&](Isa isa) {
      p.out = want.data();
      paged.out = got.data();
      attention(*kernelTableFor(isa), p);
      std::fill(got.begin(), got.end(), -777.0f);
      attention(*kernelTableFor(isa), paged);
      int reported = 0;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t i = 0; i < s.Lq; ++i)
          for (int64_t h = 0; h < s.H; ++h)
            for (int64_t c = 0; c < s.d; ++c) {
              const size_t at = static_cast<size_t>(b * p.oStrideB + h * p.oStrideH + i * p.oStrideL + c);
              expectNear(got[at], want[at], tol, Where{label, isa, b, h, i, "c"}, c, reported);
            }
      // The materialised weights read the pages too.
      const size_t weights = static_cast<size_t>(B * s.H * s.Lq * Lk);
      std::vector<float> wantW(weights), gotW(weights, -777.0f);
      attentionWeights(*kernelTableFor(isa), p, wantW.data());
      attentionWeights(*kernelTableFor(isa), paged, gotW.data());
      reported = 0;
      for (size_t e = 0; e < weights; ++e) {
        expectNear(gotW[e], wantW[e], tol, Where{label + " weights", isa, 0, 0, 0, "e"}, static_cast<int64_t>(e),
                   reported);
      }
    });
  });
}

}  // namespace

SA_NATIVE_TEST(attentionPagedDecode) {
  for (int64_t P : {16, 32, 64}) {
    PagedSpec s;
    s.pageKeys = P;
    s.keyRows = {2, 0, 1, 0};
    s.lengths = {5, 37, 130, 1};
    checkPaged(s, 21 + static_cast<uint32_t>(P));
  }
}

SA_NATIVE_TEST(attentionPagedDecodeAlibiWindow) {
  PagedSpec s;
  s.pageKeys = 32;
  s.keyRows = {1, 2};
  s.lengths = {77, 200};
  s.alibi = true;
  s.windowLeft = 50;
  checkPaged(s, 5);
}

// Few tiles and long rows: the keys are split across threads, at boundaries inside pages.
SA_NATIVE_TEST(attentionPagedSplitKeys) {
  PagedSpec s;
  s.H = 8, s.Hkv = 2, s.d = 64, s.pageKeys = 64;
  s.cacheRows = 1;
  s.keyRows = {0};
  s.lengths = {1500};
  checkPaged(s, 9);
}

// A prompt over the cache: tiles in the row kernel (few rows per head), and pages
// gathered into panels for the tile kernel (many).
SA_NATIVE_TEST(attentionPagedPrompt) {
  for (int64_t Lq : {9, 40}) {
    for (int64_t P : {16, 64}) {
      PagedSpec s;
      s.Lq = Lq, s.pageKeys = P;
      s.keyRows = {0, 2};
      s.lengths = {static_cast<int32_t>(Lq + 3), static_cast<int32_t>(Lq + 100)};
      checkPaged(s, 31 + static_cast<uint32_t>(Lq + P));
    }
  }
}
