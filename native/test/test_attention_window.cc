// Sliding windows, ALiBi and soft-capping in the fused attention, on every ISA this CPU runs,
// against a float64 reference computed here: windows that start and end in the middle of key
// blocks (and of tiles), both alignments with and without causal, key lengths, grouped
// heads, BLHD strides, the row kernel (decode) and the split-keys path, the materialised weights.
// Buffers are exact-size vectors, so the sanitizer build catches a read past the window.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "runtime/dispatch.h"
#include "runtime/thread_pool.h"
#include "test/attention_check.h"
#include "test/check.h"

using namespace sa;
using namespace sa::test;

namespace {

// The three causal cases a spec names; the problem stores them as causal + bottomRightAligned.
enum class CausalMode : int { None = 0, TopLeft = 1, BottomRight = 2 };

struct WindowSpec {
  int64_t B = 1, H = 2, Hkv = 2, Lq = 40, Lk = 40, d = 24;
  bool blhd = false;
  CausalMode causal = CausalMode::None;
  bool bottomRight = false;  // alignment when causal is None
  int64_t left = -1, right = -1;
  bool alibi = false;
  float softcap = 0.0f;
  std::vector<int32_t> keyLengths;
};

struct WindowData {
  std::vector<float> q, k, v, out, slopes;
  AttentionProblem p;
};

WindowData makeWindowData(const WindowSpec& s, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uni(-1.5f, 1.5f);
  WindowData w;
  auto fill = [&](std::vector<float>& x, int64_t n) {
    x.resize(static_cast<size_t>(n));
    for (auto& e : x) e = uni(rng);
  };
  fill(w.q, s.B * s.H * s.Lq * s.d);
  fill(w.k, s.B * s.Hkv * s.Lk * s.d);
  fill(w.v, s.B * s.Hkv * s.Lk * s.d);
  w.out.assign(static_cast<size_t>(s.B * s.H * s.Lq * s.d), -777.0f);
  for (int64_t h = 0; h < s.H; ++h)
    w.slopes.push_back(std::exp2(-8.0f * static_cast<float>(h + 1) / static_cast<float>(s.H)));
  AttentionProblem& p = w.p;
  setTensors(p, s.B, s.H, s.Hkv, s.Lq, s.Lk, s.d, s.d, s.blhd, w.q.data(), w.k.data(), w.v.data(), w.out.data());
  p.scale = 1.0f / std::sqrt(static_cast<float>(s.d));
  p.causal = s.causal != CausalMode::None;
  p.bottomRightAligned = s.causal == CausalMode::BottomRight || (s.causal == CausalMode::None && s.bottomRight);
  p.windowLeft = s.left;
  p.windowRight = s.right;
  p.alibiSlopes = s.alibi ? w.slopes.data() : nullptr;
  p.softcap = s.softcap;
  p.keyLengths = s.keyLengths.empty() ? nullptr : s.keyLengths.data();
  return w;
}

// float64 weights of row (b, h, i), written independently of the driver's range folding.
std::vector<double> windowReferenceWeights(const WindowSpec& s, const WindowData& w, int64_t b, int64_t h, int64_t i) {
  const AttentionProblem& p = w.p;
  const bool br = s.causal == CausalMode::BottomRight || (s.causal == CausalMode::None && s.bottomRight);
  const int64_t pos = br ? i + s.Lk - s.Lq : i;
  const int64_t hk = h / (s.H / s.Hkv);
  std::vector<double> score(static_cast<size_t>(s.Lk), -INFINITY);
  double top = -INFINITY;
  for (int64_t j = 0; j < s.Lk; ++j) {
    bool ok = true;
    if (s.causal != CausalMode::None) ok = j <= pos;
    if (s.left >= 0) ok = ok && j >= pos - s.left;
    if (s.right >= 0) ok = ok && j <= pos + s.right;
    if (!s.keyLengths.empty()) ok = ok && j < s.keyLengths[static_cast<size_t>(b)];
    if (!ok) continue;
    double dot = 0;
    for (int64_t c = 0; c < s.d; ++c) {
      dot += static_cast<double>(p.q[b * p.qStrideB + h * p.qStrideH + i * p.qStrideL + c]) *
             p.k[b * p.kStrideB + hk * p.kStrideH + j * p.kStrideL + c];
    }
    double x = dot * p.scale;
    if (s.softcap > 0) x = s.softcap * std::tanh(x / s.softcap);
    if (s.alibi) x -= w.slopes[static_cast<size_t>(h)] * std::fabs(static_cast<double>(pos - j));
    score[static_cast<size_t>(j)] = x;
    top = std::max(top, x);
  }
  double sum = 0;
  for (auto& x : score) sum += (x = (top == -INFINITY || x == -INFINITY) ? 0.0 : std::exp(x - top));
  for (auto& x : score) x = sum == 0 ? 0.0 : x / sum;
  return score;
}

std::string label(const WindowSpec& s) {
  char buf[200];
  std::snprintf(
      buf, sizeof buf, "B%lld H%lld/%lld Lq%lld Lk%lld d%lld%s causal%d br%d win[%lld,%lld] alibi%d cap%g kl%d",
      static_cast<long long>(s.B), static_cast<long long>(s.H), static_cast<long long>(s.Hkv),
      static_cast<long long>(s.Lq), static_cast<long long>(s.Lk), static_cast<long long>(s.d), s.blhd ? " blhd" : "",
      static_cast<int>(s.causal), s.bottomRight ? 1 : 0, static_cast<long long>(s.left),
      static_cast<long long>(s.right), s.alibi ? 1 : 0, static_cast<double>(s.softcap), s.keyLengths.empty() ? 0 : 1);
  return buf;
}

void checkWindowSpec(const WindowSpec& s, uint32_t seed) {
  WindowData w = makeWindowData(s, seed);
  const AttentionProblem& p = w.p;
  std::vector<float> weights(static_cast<size_t>(s.B * s.H * s.Lq * s.Lk));
  const std::string name = label(s);
  for (Isa isa : availableIsas()) {
    std::fill(w.out.begin(), w.out.end(), -777.0f);
    attention(*kernelTableFor(isa), p);
    attentionWeights(*kernelTableFor(isa), p, weights.data());
    int reported = 0;
    for (int64_t b = 0; b < s.B; ++b) {
      for (int64_t h = 0; h < s.H; ++h) {
        const int64_t hk = h / (s.H / s.Hkv);
        for (int64_t i = 0; i < s.Lq; ++i) {
          const std::vector<double> ref = windowReferenceWeights(s, w, b, h, i);
          const float* o = p.out + b * p.oStrideB + h * p.oStrideH + i * p.oStrideL;
          const float* wr = weights.data() + ((b * s.H + h) * s.Lq + i) * s.Lk;
          for (int64_t j = 0; j < s.Lk; ++j) {
            expectNear(wr[j], ref[static_cast<size_t>(j)], Tolerance{}, Where{name, isa, b, h, i, "weights j"}, j,
                       reported);
          }
          for (int64_t c = 0; c < s.d; ++c) {
            double want = 0;
            for (int64_t j = 0; j < s.Lk; ++j) {
              want += ref[static_cast<size_t>(j)] * p.v[b * p.vStrideB + hk * p.vStrideH + j * p.vStrideL + c];
            }
            expectNear(o[c], want, Tolerance{}, Where{name, isa, b, h, i, "c"}, c, reported);
          }
        }
      }
    }
  }
}

}  // namespace

SA_NATIVE_TEST(attention_window_cuts_blocks) {
  uint32_t seed = 100;
  // Lk 300 spans several 64-key blocks; windows of 0, 5, 37, 70, 100 keys start and end inside them.
  const int64_t windows[][2] = {{0, 0}, {5, 0}, {37, 0}, {70, 3}, {16, 16}, {-1, 10}, {100, -1}, {200, 200}};
  for (const auto& win : windows) {
    for (CausalMode causal : {CausalMode::None, CausalMode::TopLeft, CausalMode::BottomRight}) {
      WindowSpec s;
      s.Lq = 75;  // tiles (16 or 32 rows) end mid-window too
      s.Lk = 300;
      s.left = win[0];
      s.right = win[1];
      s.causal = causal;
      checkWindowSpec(s, seed++);
    }
  }
  WindowSpec br;
  br.Lq = 50;
  br.Lk = 260;
  br.bottomRight = true;
  br.left = 30;
  br.right = 7;
  checkWindowSpec(br, seed++);
}

SA_NATIVE_TEST(attention_window_with_lengths_gqa_blhd_decode) {
  uint32_t seed = 200;
  WindowSpec s{2, 8, 2, 33, 190};
  s.blhd = true;
  s.causal = CausalMode::BottomRight;
  s.left = 40;
  s.right = 0;
  s.keyLengths = {190, 77};
  checkWindowSpec(s, seed++);
  // A window that lies past a short key length leaves rows empty: zeros.
  s.keyLengths = {190, 5};
  checkWindowSpec(s, seed++);
  // Decode: one query (row kernel) over a cache long enough for key splits on every thread count.
  int run = 0;
  withThreads({1, 2, 4}, [&] {
    WindowSpec dcd{1, 4, 1, 1, 3000, 64};
    dcd.causal = CausalMode::BottomRight;
    dcd.left = 1000;
    dcd.right = 0;
    dcd.alibi = ++run == 2;  // ALiBi on the 2-thread run
    checkWindowSpec(dcd, seed++);
  });
}

SA_NATIVE_TEST(attention_alibi_and_softcap) {
  uint32_t seed = 300;
  for (bool alibi : {false, true}) {
    for (float cap : {0.0f, 0.7f, 5.0f}) {
      for (CausalMode causal : {CausalMode::None, CausalMode::TopLeft, CausalMode::BottomRight}) {
        if (!alibi && cap == 0.0f) continue;
        WindowSpec s{1, 4, 2, 37, 150, 20};
        s.alibi = alibi;
        s.softcap = cap;
        s.causal = causal;
        s.bottomRight = causal == CausalMode::None;
        checkWindowSpec(s, seed++);
        s.Lq = 3;  // the row kernel
        s.left = 50;
        checkWindowSpec(s, seed++);
      }
    }
  }
}
