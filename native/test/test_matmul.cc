// The float32 matmul on every ISA this CPU runs, against a float64 reference: random and edge
// shapes (sizes around each ISA's tile and block sizes), the four transpose combinations, row
// strides wider than the rows, batches with offsets, 1-3 threads.
//
// Operands live in heap buffers of exactly the size the view spans, so under -DSA_SANITIZE=ON a
// read past any input is an ASan error; C's buffer is larger than its view, pre-filled with a
// sentinel, and every float outside the view must come back untouched. C's view is pre-filled with
// NaN: the kernels write C without reading it, so no NaN may survive.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/matmul_kernels.h"
#include "runtime/dispatch.h"
#include "runtime/thread_pool.h"
#include "test/check.h"

using namespace sa;

namespace {

struct Shape {
  int64_t M, N, K;
};

struct Layout {
  bool transA = false, transB = false;
  int64_t padA = 0, padB = 0, padC = 0;  // extra floats per row beyond the view's width
  int64_t count = 1;                     // batch items
  bool shareB = false;                   // every item reads the same B (offset broadcast)
  bool bias = false;                     // a bias of N floats added to every row of C
  bool packB = false;                    // B (transB, shared) prepacked once: p.packedB
};

// The float pattern written around C's view; any change to it is an out-of-view write.
constexpr uint32_t kSentinelBits = 0x7fa5a5a5u;  // a NaN with a recognisable payload

float sentinel() {
  float f;
  std::memcpy(&f, &kSentinelBits, sizeof f);
  return f;
}
bool isSentinel(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits == kSentinelBits;
}

// One stored matrix of `rows` x `cols` floats with row stride ld, `count` of them `stride` apart;
// the buffer ends exactly at the last element of the last item.
struct Stored {
  int64_t rows, cols, ld, stride, count;
  std::vector<float> data;
  Stored(int64_t r, int64_t c, int64_t pad, int64_t n) : rows(r), cols(c), ld(c + pad), count(n) {
    stride = rows * ld;
    data.resize(static_cast<size_t>((count - 1) * stride + (rows - 1) * ld + cols));
  }
  float at(int64_t item, int64_t r, int64_t c) const { return data[item * stride + r * ld + c]; }
};

void fillRandom(std::vector<float>& v, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (float& x : v) x = dist(rng);
}

// Runs one product on `isa` and checks it; returns false on the first mismatching item.
bool checkCase(Isa isa, const Shape& s, const Layout& l, std::mt19937& rng) {
  const KernelTable* kt = kernelTableFor(isa);
  // Stored shapes: A is M x K (K x M with transA), B is K x N (N x K with transB).
  Stored a(l.transA ? s.K : s.M, l.transA ? s.M : s.K, l.padA, l.count);
  Stored b(l.transB ? s.N : s.K, l.transB ? s.K : s.N, l.padB, l.shareB ? 1 : l.count);
  // C gets one row of slack before and after its views so out-of-view writes are caught.
  const int64_t ldc = s.N + l.padC;
  const int64_t cItemStride = (s.M + 1) * ldc;
  std::vector<float> cBuf(static_cast<size_t>(l.count * cItemStride + 2 * ldc), sentinel());
  fillRandom(a.data, rng);
  fillRandom(b.data, rng);
  std::vector<float> bias(l.bias ? static_cast<size_t>(s.N) : 0);  // exactly N floats: no read past it
  fillRandom(bias, rng);
  std::vector<int64_t> offA(l.count), offB(l.count), offC(l.count);
  for (int64_t i = 0; i < l.count; ++i) {
    offA[i] = i * a.stride;
    offB[i] = l.shareB ? 0 : i * b.stride;
    offC[i] = i * cItemStride;
    for (int64_t r = 0; r < s.M; ++r) {
      for (int64_t c = 0; c < s.N; ++c) cBuf[ldc + offC[i] + r * ldc + c] = std::nanf("");
    }
  }
  MatmulProblem p;
  p.M = s.M;
  p.N = s.N;
  p.K = s.K;
  p.A = a.data.data();
  p.lda = a.ld;
  p.transA = l.transA;
  p.B = b.data.data();
  p.ldb = b.ld;
  p.transB = l.transB;
  p.C = cBuf.data() + ldc;
  p.ldc = ldc;
  p.bias = l.bias ? bias.data() : nullptr;
  // Exactly the packed floats, so a read past the last panel is an ASan error; B itself poisoned
  // with NaN afterwards, so a path that still reads it shows.
  std::vector<float> panels(l.packB ? static_cast<size_t>(packedPanelsFloats(*kt, s.N, s.K)) : 0);
  std::vector<float> bKept;
  if (l.packB) {
    p.packedB = packMatmulWeights(*kt, b.data.data(), b.ld, s.N, s.K, panels.data());
    bKept = b.data;
    for (float& x : b.data) x = std::nanf("");
  }
  MatmulBatch batch;
  batch.count = l.count;
  if (l.count > 1) {
    batch.offsetA = offA.data();
    batch.offsetB = offB.data();
    batch.offsetC = offC.data();
  }
  matmul(*kt, p, batch);
  if (l.packB) b.data = bKept;

  // Float32 accumulation of K products: error within ~K ulps of sum |a_ik b_kj| (recursive
  // summation bound, with room for the blocked path's partial sums).
  const double tolerance = 2.0 * static_cast<double>(s.K + 4) * std::ldexp(1.0, -24);
  // op(A) rows and op(B) columns as contiguous doubles, so each reference element is one dot.
  std::vector<double> aRows(static_cast<size_t>(s.M * s.K)), bCols(static_cast<size_t>(s.N * s.K));
  for (int64_t item = 0; item < l.count; ++item) {
    const int64_t bItem = l.shareB ? 0 : item;
    for (int64_t i = 0; i < s.M; ++i) {
      for (int64_t k = 0; k < s.K; ++k) {
        aRows[i * s.K + k] = l.transA ? a.at(item, k, i) : a.at(item, i, k);
      }
    }
    for (int64_t j = 0; j < s.N; ++j) {
      for (int64_t k = 0; k < s.K; ++k) {
        bCols[j * s.K + k] = l.transB ? b.at(bItem, j, k) : b.at(bItem, k, j);
      }
    }
    for (int64_t i = 0; i < s.M; ++i) {
      const double* ar = &aRows[i * s.K];
      for (int64_t j = 0; j < s.N; ++j) {
        const double* bc = &bCols[j * s.K];
        // Four partial sums: independent add chains (the reference is most of the test's time).
        double sums[4] = {0, 0, 0, 0}, mags[4] = {0, 0, 0, 0};
        int64_t k = 0;
        for (; k + 4 <= s.K; k += 4) {
          for (int u = 0; u < 4; ++u) {
            const double term = ar[k + u] * bc[k + u];
            sums[u] += term;
            mags[u] += std::fabs(term);
          }
        }
        for (; k < s.K; ++k) {
          sums[0] += ar[k] * bc[k];
          mags[0] += std::fabs(ar[k] * bc[k]);
        }
        const double biasJ = l.bias ? bias[j] : 0.0;
        const double sum = (sums[0] + sums[1]) + (sums[2] + sums[3]) + biasJ;
        const double magnitude = (mags[0] + mags[1]) + (mags[2] + mags[3]) + std::fabs(biasJ);
        const float got = cBuf[ldc + offC[item] + i * ldc + j];
        if (!(std::fabs(got - sum) <= tolerance * magnitude + 1e-30)) {
          SA_CHECK(false,
                   "%s M=%lld N=%lld K=%lld tA=%d tB=%d bias=%d pads=%lld,%lld,%lld count=%lld item %lld "
                   "C[%lld,%lld] = %.9g, reference %.9g",
                   isaName(isa), (long long)s.M, (long long)s.N, (long long)s.K, l.transA, l.transB, l.bias,
                   (long long)l.padA, (long long)l.padB, (long long)l.padC, (long long)l.count, (long long)item,
                   (long long)i, (long long)j, got, sum);
          return false;
        }
      }
    }
  }
  // Everything outside the views must still be the sentinel.
  std::vector<bool> inView(cBuf.size(), false);
  for (int64_t item = 0; item < l.count; ++item) {
    for (int64_t i = 0; i < s.M; ++i) {
      for (int64_t j = 0; j < s.N; ++j) inView[ldc + offC[item] + i * ldc + j] = true;
    }
  }
  for (size_t x = 0; x < cBuf.size(); ++x) {
    if (!inView[x] && !isSentinel(cBuf[x])) {
      SA_CHECK(false, "%s M=%lld N=%lld K=%lld tA=%d tB=%d: wrote C buffer float %zu outside the view", isaName(isa),
               (long long)s.M, (long long)s.N, (long long)s.K, l.transA, l.transB, x);
      return false;
    }
  }
  return true;
}

// Every transpose combination of one shape, tight and with padded strides.
void checkAllLayouts(Isa isa, const Shape& s, std::mt19937& rng, bool padded = true) {
  for (int t = 0; t < 4; ++t) {
    Layout l;
    l.transA = (t & 1) != 0;
    l.transB = (t & 2) != 0;
    if (!checkCase(isa, s, l, rng)) return;
    if (padded) {
      l.padA = 3;
      l.padB = 5;
      l.padC = 7;
      if (!checkCase(isa, s, l, rng)) return;
    }
  }
}

// Runs body for each available ISA with the pool at 1, 2 and 3 threads, restoring it afterwards.
template <class Body>
void forEachIsaAndThreads(const Body& body) {
  ThreadPool& pool = ThreadPool::instance();
  const int saved = pool.numThreads();
  for (int threads : {1, 2, 3}) {
    pool.setNumThreads(threads);
    for (Isa isa : availableIsas()) body(isa, threads);
  }
  pool.setNumThreads(saved);
}

}  // namespace

SA_NATIVE_TEST(matmul_tiny_and_degenerate_shapes) {
  std::mt19937 rng(1);
  const Shape shapes[] = {{1, 1, 1},   {1, 1, 9},  {1, 37, 5},   {29, 1, 8},   {5, 3, 1},
                          {1, 1, 300}, {2, 70, 1}, {17, 31, 13}, {31, 13, 17}, {3, 5, 7}};
  forEachIsaAndThreads([&](Isa isa, int threads) {
    if (threads != 1) return;
    for (const Shape& s : shapes) checkAllLayouts(isa, s, rng);
  });
}

SA_NATIVE_TEST(matmul_tile_edges) {
  // Around every ISA's register tile: mr in {6, 8, 14}, nr in {12, 16, 32}, +-1.
  std::mt19937 rng(2);
  const Shape shapes[] = {{5, 11, 4},  {6, 12, 5},   {7, 13, 6},   {8, 15, 7},   {9, 16, 8},
                          {13, 17, 9}, {14, 31, 10}, {15, 32, 11}, {27, 33, 12}, {28, 47, 3},
                          {29, 48, 2}, {43, 64, 16}, {64, 64, 64}, {65, 63, 64}, {42, 97, 33}};
  forEachIsaAndThreads([&](Isa isa, int threads) {
    if (threads != 1) return;
    for (const Shape& s : shapes) checkAllLayouts(isa, s, rng);
  });
}

SA_NATIVE_TEST(matmul_block_edges) {
  // Around KC (1024: K = 1023..1025, K = 1100 as 2 x 550), the direct/blocked switch (M*N*K near
  // 88^3), A packed or not (transposed: N below or above 4 panels; row-major: K below or above
  // 512), thin A (up to 16 rows) read with B in place, row chunks, and MC sub-blocks (460 rows
  // past MC = 216 at KC = 600 read in place; 270 rows past MC = 252 at KC = 520 packed).
  std::mt19937 rng(3);
  const Shape shapes[] = {{88, 88, 88},    {89, 88, 88},   {100, 70, 127},  {30, 60, 511},   {9, 40, 512},
                          {21, 33, 513},   {20, 40, 600},  {130, 200, 70},  {150, 64, 260},  {16, 300, 200},
                          {17, 300, 200},  {5, 900, 300},  {200, 20, 300},  {1025, 40, 33},  {40, 1100, 17},
                          {3, 700, 129},   {460, 20, 600}, {30, 130, 1023}, {21, 140, 1024}, {9, 129, 1025},
                          {15, 130, 1100}, {270, 130, 520}};
  forEachIsaAndThreads([&](Isa isa, int threads) {
    for (const Shape& s : shapes) checkAllLayouts(isa, s, rng, /*padded=*/threads == 2);
  });
}

SA_NATIVE_TEST(matmul_row_dot_path_splits_and_threads) {
  // A few rows times a transposed B past the direct-work threshold: the row-dot path, its columns
  // in chunks over the pool. Against the reference at 1-3 threads, and bit for bit the same result
  // whatever the thread count (how the columns are chunked must not change any sum).
  std::mt19937 rng(8);
  const Shape shapes[] = {{3, 2000, 300}, {1, 2309, 768}, {4, 1001, 97}};
  for (const Shape& s : shapes) {
    Layout l;
    l.transB = true;
    forEachIsaAndThreads([&](Isa isa, int) { checkCase(isa, s, l, rng); });
  }
  std::vector<float> a(3 * 300), b(2000 * 300);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (float& e : a) e = dist(rng);
  for (float& e : b) e = dist(rng);
  for (Isa isa : availableIsas()) {
    std::vector<float> first;
    ThreadPool& pool = ThreadPool::instance();
    const int saved = pool.numThreads();
    for (int threads : {1, 2, 3}) {
      pool.setNumThreads(threads);
      std::vector<float> c(3 * 2000, NAN);
      MatmulProblem p;
      p.M = 3;
      p.N = 2000;
      p.K = 300;
      p.A = a.data();
      p.lda = 300;
      p.B = b.data();
      p.ldb = 300;
      p.transB = true;
      p.C = c.data();
      p.ldc = 2000;
      MatmulBatch batch;
      matmul(*kernelTableFor(isa), p, batch);
      if (first.empty()) {
        first = c;
      } else {
        SA_CHECK(std::memcmp(first.data(), c.data(), c.size() * sizeof(float)) == 0,
                 "%s row-dot 3x2000x300: %d threads differ from 1 thread", isaName(isa), threads);
      }
    }
    pool.setNumThreads(saved);
  }
}

SA_NATIVE_TEST(matmul_huge_k_cuts_the_packed_b_block) {
  // K * roundUp(N, nr) past the 8 MiB B block: B is packed and consumed in K slices.
  std::mt19937 rng(4);
  forEachIsaAndThreads([&](Isa isa, int threads) {
    if (isa == Isa::Scalar || threads == 3) return;
    Layout l;
    for (int t = 0; t < 4; ++t) {
      l.transA = (t & 1) != 0;
      l.transB = (t & 2) != 0;
      checkCase(isa, Shape{20, 40, 45000}, l, rng);
    }
  });
}

SA_NATIVE_TEST(matmul_batches_with_offsets) {
  std::mt19937 rng(5);
  const Shape shapes[] = {{7, 9, 5}, {40, 50, 60}, {130, 70, 90}};
  forEachIsaAndThreads([&](Isa isa, int) {
    for (const Shape& s : shapes) {
      for (int64_t count : {2, 3, 5}) {
        for (int t = 0; t < 4; ++t) {
          Layout l;
          l.transA = (t & 1) != 0;
          l.transB = (t & 2) != 0;
          l.count = count;
          l.padA = 1;
          l.padC = 2;
          l.shareB = (t == 1);
          if (!checkCase(isa, s, l, rng)) return;
        }
      }
    }
  });
}

SA_NATIVE_TEST(matmul_large_square) {
  std::mt19937 rng(6);
  forEachIsaAndThreads([&](Isa isa, int threads) {
    if (isa == Isa::Scalar || threads == 3) return;
    Layout l;
    l.padA = 16;  // row strides that are not powers of two...
    checkCase(isa, Shape{257, 255, 300}, l, rng);
    Layout power;  // ... and ones that are (4 KiB rows)
    power.transB = true;
    checkCase(isa, Shape{200, 256, 1024}, power, rng);
  });
}

namespace {
// A 3 x 4 product with K = 0 into C with row stride 5; A and B point at `operand` (never read).
MatmulProblem emptySumProblem(float* c, const float* operand) {
  MatmulProblem p;
  p.M = 3;
  p.N = 4;
  p.K = 0;
  p.A = operand;
  p.B = operand;
  p.C = c;
  p.ldc = 5;
  return p;
}
}  // namespace

SA_NATIVE_TEST(matmul_zero_k_writes_zeros) {
  for (Isa isa : availableIsas()) {
    std::vector<float> c(3 * 5, std::nanf(""));
    float dummy = 0;
    const MatmulProblem p = emptySumProblem(c.data(), &dummy);
    matmul(*kernelTableFor(isa), p, MatmulBatch{});
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 5; ++j) {
        const float v = c[i * 5 + j];
        SA_CHECK(j < 4 ? v == 0.0f : std::isnan(v), "%s C[%d,%d] = %g", isaName(isa), i, j, v);
      }
    }
  }
}

// The bias epilogue on every path: direct (tiny, thin A), blocked with one and several depth blocks,
// the row-dot path (transB, M <= 4), batches; tile edges in N on every ISA.
SA_NATIVE_TEST(matmul_bias_is_added_to_every_row) {
  std::mt19937 rng(11);
  const Shape shapes[] = {{1, 1, 1},      {3, 5, 7},       {1, 37, 5},    {4, 33, 65},  {17, 31, 13},
                          {29, 47, 3},    {6, 16, 1},      {14, 32, 9},   {15, 33, 17}, {8, 12, 30},
                          {130, 70, 600}, {100, 97, 2100}, {2, 300, 200}, {64, 200, 64}};
  forEachIsaAndThreads([&](Isa isa, int threads) {
    for (const Shape& s : shapes) {
      if (threads == 3 && s.M * s.N * s.K > 1000000) continue;
      for (int t = 0; t < 4; ++t) {
        Layout l;
        l.transA = (t & 1) != 0;
        l.transB = (t & 2) != 0;
        l.bias = true;
        l.padC = t;
        if (!checkCase(isa, s, l, rng)) return;
      }
    }
    Layout batched;
    batched.bias = true;
    batched.count = 3;
    batched.shareB = true;
    checkCase(isa, Shape{5, 19, 40}, batched, rng);
    batched.transB = true;
    checkCase(isa, Shape{2, 19, 40}, batched, rng);
  });
}

// K = 0 is an empty sum: C is the bias (or zero, matmul_zero_k_writes_zeros), in every item, and
// nothing outside C's view is written. M = 0 or N = 0 write nothing at all.
SA_NATIVE_TEST(matmul_zero_sizes_with_bias) {
  const float bias[4] = {1.5f, -2.0f, 0.25f, 8.0f};
  for (Isa isa : availableIsas()) {
    std::vector<float> c(2 * 3 * 5, std::nanf(""));
    float dummy = 0;
    const int64_t offC[2] = {0, 15};
    const int64_t offAB[2] = {0, 0};
    MatmulProblem p = emptySumProblem(c.data(), &dummy);
    p.bias = bias;
    MatmulBatch batch;
    batch.count = 2;
    batch.offsetA = offAB;
    batch.offsetB = offAB;
    batch.offsetC = offC;
    matmul(*kernelTableFor(isa), p, batch);
    for (int item = 0; item < 2; ++item) {
      for (int i = 0; i < 3; ++i) {
        for (int j = 0; j < 5; ++j) {
          const float v = c[item * 15 + i * 5 + j];
          SA_CHECK(j < 4 ? v == bias[j] : std::isnan(v), "%s K=0 item %d C[%d,%d] = %g", isaName(isa), item, i, j, v);
        }
      }
    }
    for (int64_t empty = 0; empty < 2; ++empty) {
      std::vector<float> untouched(15, std::nanf(""));
      MatmulProblem q = p;
      q.M = empty == 0 ? 0 : 3;
      q.N = empty == 0 ? 4 : 0;
      q.K = 7;
      q.C = untouched.data();
      matmul(*kernelTableFor(isa), q, MatmulBatch{});
      for (float v : untouched) {
        SA_CHECK(std::isnan(v), "%s M=%lld N=%lld wrote C", isaName(isa), (long long)q.M, (long long)q.N);
      }
    }
  }
}

// The pack routines of every ISA with micro-kernels, against the layout matmul_kernels.h states:
// every transpose, edge panels zero-padded, nothing written outside the panels (guards after the
// buffer and in the gaps a panelStride larger than k * nr leaves), no read past exact-size inputs.
SA_NATIVE_TEST(matmul_packing_layouts) {
  std::mt19937 rng(7);
  const float guard = sentinel();
  for (Isa isa : availableIsas()) {
    const MatmulKernels* mk = kernelTableFor(isa)->matmul;
    if (mk->mr == 0) continue;
    const int64_t sizes[][2] = {{1, 1}, {5, 3}, {13, 17}, {14, 16}, {15, 33}, {29, 40},
                                {6, 7}, {8, 5}, {32, 18}, {33, 65}, {47, 1},  {12, 24}};
    for (const auto& size : sizes) {
      const int64_t lines = size[0], depth = size[1];
      for (bool trans : {false, true}) {
        // A: op(A) is lines x depth. Stored lines x depth (no trans) or depth x lines (trans).
        Stored a(trans ? depth : lines, trans ? lines : depth, 3, 1);
        fillRandom(a.data, rng);
        const int mr = mk->mr;
        const int64_t panelsA = (lines + mr - 1) / mr;
        std::vector<float> outA(static_cast<size_t>(panelsA * depth * mr + 16), guard);
        mk->packA(a.data.data(), a.ld, trans, lines, depth, outA.data());
        bool ok = true;
        for (int64_t i = 0; ok && i < panelsA * mr; ++i) {
          for (int64_t p = 0; ok && p < depth; ++p) {
            const float want = i < lines ? (trans ? a.at(0, p, i) : a.at(0, i, p)) : 0.0f;
            const float got = outA[(i / mr) * depth * mr + p * mr + i % mr];
            ok = got == want;
            SA_CHECK(ok, "%s packA %lldx%lld trans=%d: row %lld depth %lld = %g, want %g", isaName(isa),
                     (long long)lines, (long long)depth, trans, (long long)i, (long long)p, got, want);
          }
        }
        for (size_t x = outA.size() - 16; x < outA.size(); ++x) {
          SA_CHECK(isSentinel(outA[x]), "%s packA wrote past its panels", isaName(isa));
        }

        // B: op(B) is depth x lines. Stored depth x lines (no trans) or lines x depth (trans).
        Stored b(trans ? lines : depth, trans ? depth : lines, 5, 1);
        fillRandom(b.data, rng);
        const int nr = mk->nr;
        const int64_t panelsB = (lines + nr - 1) / nr;
        const int64_t panelStride = depth * nr + 7;
        std::vector<float> outB(static_cast<size_t>(panelsB * panelStride + 16), guard);
        mk->packB(b.data.data(), b.ld, trans, depth, lines, outB.data(), panelStride);
        std::vector<bool> written(outB.size(), false);
        ok = true;
        for (int64_t j = 0; ok && j < panelsB * nr; ++j) {
          for (int64_t p = 0; ok && p < depth; ++p) {
            const float want = j < lines ? (trans ? b.at(0, j, p) : b.at(0, p, j)) : 0.0f;
            const size_t at = static_cast<size_t>((j / nr) * panelStride + p * nr + j % nr);
            written[at] = true;
            ok = outB[at] == want;
            SA_CHECK(ok, "%s packB %lldx%lld trans=%d: column %lld depth %lld = %g, want %g", isaName(isa),
                     (long long)depth, (long long)lines, trans, (long long)j, (long long)p, outB[at], want);
          }
        }
        for (size_t x = 0; ok && x < outB.size(); ++x) {
          ok = written[x] || isSentinel(outB[x]);
          SA_CHECK(ok, "%s packB %lldx%lld trans=%d wrote float %zu outside its panels", isaName(isa), (long long)depth,
                   (long long)lines, trans, x);
        }
      }
    }
  }
}

// B prepacked once (packMatmulWeights) on every path: panel rows (M <= 4), direct with thin A or a
// small product, blocked (one or several depth blocks), the scalar reference; N off the panel
// width, odd K, bias on and off, padded rows, transposed A, batches sharing the packed weight.
SA_NATIVE_TEST(matmul_prepacked_b_on_every_path) {
  std::mt19937 rng(12);
  const Shape shapes[] = {{1, 1, 1},      {1, 37, 5},     {2, 70, 33},    {3, 129, 768},  {4, 2304, 97},
                          {1, 2309, 768}, {5, 17, 9},     {13, 100, 31},  {16, 300, 200}, {17, 47, 65},
                          {200, 130, 77}, {64, 96, 1100}, {130, 70, 600}, {2, 33, 3}};
  forEachIsaAndThreads([&](Isa isa, int threads) {
    for (const Shape& s : shapes) {
      if (threads == 3 && s.M * s.N * s.K > 2000000) continue;
      for (int variant = 0; variant < 4; ++variant) {
        Layout l;
        l.transB = true;
        l.packB = true;
        l.bias = (variant & 1) != 0;
        l.padA = variant == 2 ? 3 : 0;
        l.padB = variant == 2 ? 5 : 0;
        l.padC = variant == 3 ? 7 : 0;
        l.transA = variant == 3;
        if (!checkCase(isa, s, l, rng)) return;
      }
    }
    Layout batched;
    batched.transB = true;
    batched.packB = true;
    batched.shareB = true;
    batched.bias = true;
    batched.count = 3;
    checkCase(isa, Shape{1, 50, 40}, batched, rng);
    checkCase(isa, Shape{7, 50, 40}, batched, rng);
    checkCase(isa, Shape{120, 90, 70}, batched, rng);
  });
}

// With the same kernels, the panels give the same floats as the unpacked product where both run
// the same tile over all of K (direct and blocked paths), and a row does not depend on how many
// rows go with it: M = 1 (panel rows) equals row 0 of M = 13 (direct) and of M = 200 (blocked).
SA_NATIVE_TEST(matmul_prepacked_b_matches_the_unpacked_path) {
  std::mt19937 rng(13);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  const int64_t N = 83, K = 301;
  std::vector<float> w(N * K), a(200 * K), bias(N);
  for (float& x : w) x = dist(rng);
  for (float& x : a) x = dist(rng);
  for (float& x : bias) x = dist(rng);
  for (Isa isa : availableIsas()) {
    const KernelTable& kt = *kernelTableFor(isa);
    std::vector<float> panels(packedPanelsFloats(kt, N, K));
    const PackedPanels packed = packMatmulWeights(kt, w.data(), K, N, K, panels.data());
    auto run = [&](int64_t M, bool usePacked) {
      std::vector<float> c(M * N, NAN);
      MatmulProblem p;
      p.M = M;
      p.N = N;
      p.K = K;
      p.A = a.data();
      p.lda = K;
      p.B = w.data();
      p.ldb = K;
      p.transB = true;
      p.C = c.data();
      p.ldc = N;
      p.bias = bias.data();
      if (usePacked) p.packedB = packed;
      matmul(kt, p, MatmulBatch{});
      return c;
    };
    const std::vector<float> one = run(1, true);
    for (int64_t M : {13, 200}) {
      const std::vector<float> plain = run(M, false), viaPanels = run(M, true);
      SA_CHECK(std::memcmp(plain.data(), viaPanels.data(), plain.size() * sizeof(float)) == 0,
               "%s M=%lld: packed and unpacked B differ", isaName(isa), (long long)M);
      SA_CHECK(std::memcmp(one.data(), viaPanels.data(), N * sizeof(float)) == 0,
               "%s: row 0 of M=%lld differs from M=1", isaName(isa), (long long)M);
    }
  }
}
