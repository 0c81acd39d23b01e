// The self-attention block step over a KV cache, on every ISA and on 1 and 2 threads, against the
// block computed in double: packed projection, cache append, bottom-right causal attention over
// the cache (GQA), output projection; positions past the new ones stay untouched. Batch items may
// name their cache rows (keyRows, any order, a subset) and rows may have their own lengths.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/attention_block.h"
#include "runtime/dispatch.h"
#include "runtime/thread_pool.h"
#include "test/check.h"

using namespace sa;

namespace {

struct BlockCase {
  int64_t B, Lq, H, Hkv, d, capacity, cached;
  bool bias;
  std::vector<int32_t> keyRows = {};     // [B] or empty: rows 0..B-1
  std::vector<int32_t> rowLengths = {};  // [B] or empty: `cached` for every row
  int64_t cacheRows = 0;                 // 0: B
  int64_t blockSize = 0;                 // > 0: paged storage, each row's blocks in reverse order
};

// y[rows, N] = x W^T + b in double.
std::vector<double> linearRef(const std::vector<double>& x, int64_t rows, int64_t K, const std::vector<float>& w,
                              int64_t N, const float* bias) {
  std::vector<double> y(rows * N);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t n = 0; n < N; ++n) {
      double s = bias != nullptr ? bias[n] : 0.0;
      for (int64_t k = 0; k < K; ++k) s += x[r * K + k] * w[n * K + k];
      y[r * N + n] = s;
    }
  return y;
}

// packed: the weights read through their prepacked panels (kernels/matmul.h), as the module does.
void checkCase(Isa isa, int threads, const BlockCase& c, bool packed, std::mt19937& gen) {
  std::uniform_real_distribution<float> dist(-0.5f, 0.5f);
  const int64_t E = c.H * c.d, Ekv = c.Hkv * c.d, W = E + 2 * Ekv, rows = c.B * c.Lq;
  auto fill = [&](int64_t n) {
    std::vector<float> v(n);
    for (float& f : v) f = dist(gen);
    return v;
  };
  const std::vector<float> x = fill(rows * E), inW = fill(W * E), inB = fill(W), outW = fill(E * E), outB = fill(E);
  const auto holdsB = [&](const std::vector<int32_t>& v) { return v.empty() || static_cast<int64_t>(v.size()) == c.B; };
  const bool wellFormed = holdsB(c.keyRows) && holdsB(c.rowLengths);
  SA_CHECK(wellFormed, "a case's keyRows and rowLengths need B entries");
  if (!wellFormed) return;
  const int64_t cacheRows = c.cacheRows > 0 ? c.cacheRows : c.B;
  const auto rowOf = [&](int64_t b) -> int64_t { return c.keyRows.empty() ? b : c.keyRows[b]; };
  const auto lengthOf = [&](int64_t b) -> int64_t { return c.rowLengths.empty() ? c.cached : c.rowLengths[b]; };
  // Paged: row r's block t is storage block (rows x width - 1) - (r x width + t), so no row's
  // blocks are where contiguous rows would put them.
  const int64_t width = c.blockSize > 0 ? (c.capacity + c.blockSize - 1) / c.blockSize : 0;
  std::vector<int32_t> tables(cacheRows * width);
  for (size_t i = 0; i < tables.size(); ++i) tables[i] = static_cast<int32_t>(tables.size() - 1 - i);
  const auto slot = [&](int64_t row, int64_t pos) -> int64_t {
    if (c.blockSize == 0) return (row * c.capacity + pos) * Ekv;
    return (tables[row * width + pos / c.blockSize] * c.blockSize + pos % c.blockSize) * Ekv;
  };
  const int64_t storagePositions = c.blockSize > 0 ? cacheRows * width * c.blockSize : cacheRows * c.capacity;
  std::vector<float> keys = fill(storagePositions * Ekv), values = fill(storagePositions * Ekv);
  const std::vector<float> keysBefore = keys, valuesBefore = values;
  std::vector<float> qkv(rows * W), attn(rows * E), out(rows * E);

  AttentionBlockStep s;
  s.batch = c.B, s.Lq = c.Lq, s.heads = c.H, s.kvHeads = c.Hkv, s.headDim = c.d;
  s.x = x.data(), s.xStrideB = c.Lq * E, s.xStrideL = E;
  s.inWeight = inW.data(), s.inWeightLd = E, s.inBias = c.bias ? inB.data() : nullptr;
  s.outWeight = outW.data(), s.outWeightLd = E, s.outBias = c.bias ? outB.data() : nullptr;
  s.keyCache = keys.data(), s.valueCache = values.data(), s.capacity = c.capacity, s.cacheLength = c.cached;
  s.keyRows = c.keyRows.empty() ? nullptr : c.keyRows.data();
  s.rowLengths = c.rowLengths.empty() ? nullptr : c.rowLengths.data();
  s.blockSize = c.blockSize, s.blockTables = tables.data(), s.blockTableWidth = width;
  s.qkv = qkv.data(), s.attn = attn.data(), s.out = out.data();
  s.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.d)));
  ThreadPool::instance().setNumThreads(threads);
  const KernelTable& kernels = *kernelTableFor(isa);
  std::vector<float> inPanels, outPanels;
  if (packed) {
    inPanels.resize(packedPanelsFloats(kernels, W, E));
    outPanels.resize(packedPanelsFloats(kernels, E, E));
    s.inPacked = packMatmulWeights(kernels, inW.data(), E, W, E, inPanels.data());
    s.outPacked = packMatmulWeights(kernels, outW.data(), E, E, E, outPanels.data());
  }
  attentionBlockStep(kernels, s);

  // The reference: the cache as it was, plus the new rows.
  const std::vector<double> xd(x.begin(), x.end());
  const std::vector<double> proj = linearRef(xd, rows, E, inW, W, c.bias ? inB.data() : nullptr);
  std::vector<double> kAll(keysBefore.begin(), keysBefore.end()), vAll(valuesBefore.begin(), valuesBefore.end());
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t i = 0; i < c.Lq; ++i)
      for (int64_t e = 0; e < Ekv; ++e) {
        const int64_t at = slot(rowOf(b), lengthOf(b) + i) + e;
        kAll[at] = proj[(b * c.Lq + i) * W + E + e];
        vAll[at] = proj[(b * c.Lq + i) * W + E + Ekv + e];
      }
  const int64_t group = c.H / c.Hkv;
  std::vector<double> att(rows * E, 0.0);
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t h = 0; h < c.H; ++h)
      for (int64_t i = 0; i < c.Lq; ++i) {
        const int64_t last = lengthOf(b) + i;  // bottom-right to the row: keys j <= i + its Lk - Lq
        const int64_t row = rowOf(b);
        std::vector<double> p(last + 1);
        double top = -INFINITY, sum = 0;
        for (int64_t j = 0; j <= last; ++j) {
          double dot = 0;
          for (int64_t t = 0; t < c.d; ++t)
            dot += proj[(b * c.Lq + i) * W + h * c.d + t] * kAll[slot(row, j) + (h / group) * c.d + t];
          p[j] = dot * s.scale;
          top = std::max(top, p[j]);
        }
        for (double& v : p) sum += (v = std::exp(v - top));
        for (int64_t j = 0; j <= last; ++j)
          for (int64_t t = 0; t < c.d; ++t)
            att[(b * c.Lq + i) * E + h * c.d + t] += p[j] / sum * vAll[slot(row, j) + (h / group) * c.d + t];
      }
  const std::vector<double> want = linearRef(att, rows, E, outW, E, c.bias ? outB.data() : nullptr);

  const char* name = isaName(isa);
  for (int64_t i = 0; i < rows * E; ++i)
    SA_CHECK(std::fabs(out[i] - want[i]) <= 1e-4 + 1e-4 * std::fabs(want[i]), "%s %d threads B=%lld Lq=%lld%s at %lld",
             name, threads, static_cast<long long>(c.B), static_cast<long long>(c.Lq), packed ? " packed" : "",
             static_cast<long long>(i));
  for (size_t i = 0; i < keys.size(); ++i) {
    SA_CHECK(std::fabs(keys[i] - kAll[i]) <= 1e-5, "%s keys at %zu", name, i);
    SA_CHECK(std::fabs(values[i] - vAll[i]) <= 1e-5, "%s values at %zu", name, i);
  }
}

}  // namespace

SA_NATIVE_TEST(attention_block_step_matches_reference) {
  std::mt19937 gen(18);
  const int saved = ThreadPool::instance().numThreads();
  const BlockCase cases[] = {
      {1, 1, 4, 4, 16, 12, 5, true},       // one decode step
      {2, 1, 4, 2, 16, 12, 5, false},      // batch of two, GQA, no bias
      {2, 3, 4, 1, 8, 12, 9, true},        // three new positions filling the cache exactly
      {1, 7, 2, 2, 8, 7, 0, true},         // a prefill into an empty cache
      {1, 1, 8, 8, 64, 1100, 1024, true},  // columns and keys split over the threads
      // rows of their own lengths, in order; then two of three rows, reversed (one decode step each)
      {3, 1, 4, 2, 16, 40, 0, true, {}, {5, 0, 38}},
      {2, 1, 4, 4, 16, 40, 0, false, {2, 0}, {17, 3}, 3},
      {2, 2, 2, 1, 8, 300, 0, true, {1, 0}, {297, 1}},  // a two-position step, one row filling up
      // paged: blocks of 4 (a step crossing into a new block) and of 5 (capacity not a multiple)
      {2, 1, 4, 2, 16, 40, 0, true, {2, 0}, {7, 12}, 3, 4},
      {2, 2, 2, 2, 8, 23, 0, false, {}, {3, 21}, 0, 5},
  };
  for (Isa isa : availableIsas())
    for (int threads : {1, 2})
      for (const BlockCase& c : cases)
        for (bool packed : {false, true}) checkCase(isa, threads, c, packed, gen);
  ThreadPool::instance().setNumThreads(saved);
}
