// The bf16 GEMM reading bfloat16 operands (MatmulProblem::aBf16 / bBf16, matmul on bfloat16
// tensors): packing bfloat16 bits must give the very pairs that packing the float32 values they
// stand for gives, so C is bit-identical to the float32-input GEMM over the same values. Edge sizes
// (odd K: a half pair), the four transposes, strided rows, bias, batches, 1-2 threads, depth split,
// and bfloat16 A read in place by the tile (even K) or packed (odd K, rows 4 KiB apart).
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/matmul.h"
#include "runtime/cpu_features.h"
#include "runtime/dispatch.h"
#include "runtime/thread_pool.h"
#include "test/bf16_reference.h"
#include "test/check.h"

using namespace sa;
using sa::test::bf16Bits;
using sa::test::bf16Value;

namespace {

// Runs M x N x K (count items, transposes as given) both ways; returns the number of differing floats.
int64_t mismatches(const KernelTable& kt, int64_t M, int64_t N, int64_t K, bool transA, bool transB, bool bias,
                   int64_t count, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  const int64_t lda = (transA ? M : K) + 2, ldb = (transB ? K : N) + 1;
  const int64_t aSize = count * (transA ? K : M) * lda, bSize = count * (transB ? N : K) * ldb;
  std::vector<uint16_t> a16(static_cast<size_t>(aSize)), b16(static_cast<size_t>(bSize));
  std::vector<float> a32(a16.size()), b32(b16.size()), biasValues(static_cast<size_t>(N));
  for (size_t i = 0; i < a16.size(); ++i) a32[i] = bf16Value(a16[i] = bf16Bits(dist(rng)));
  for (size_t i = 0; i < b16.size(); ++i) b32[i] = bf16Value(b16[i] = bf16Bits(dist(rng)));
  for (float& x : biasValues) x = dist(rng);
  std::vector<int64_t> offA(count), offB(count), offC(count);
  for (int64_t i = 0; i < count; ++i) {
    offA[i] = i * (aSize / count), offB[i] = i * (bSize / count), offC[i] = i * M * N;
  }
  MatmulBatch batch;
  batch.count = count;
  batch.offsetA = offA.data(), batch.offsetB = offB.data(), batch.offsetC = offC.data();
  MatmulProblem p;
  p.M = M, p.N = N, p.K = K;
  p.lda = lda, p.transA = transA, p.ldb = ldb, p.transB = transB, p.ldc = N;
  p.bias = bias ? biasValues.data() : nullptr;
  std::vector<float> fromFloat(static_cast<size_t>(count * M * N)), fromBf16(fromFloat.size(), -1.0f);
  p.A = a32.data(), p.B = b32.data(), p.C = fromFloat.data();
  matmulBf16(kt, p, batch);
  p.A = nullptr, p.B = nullptr, p.aBf16 = a16.data(), p.bBf16 = b16.data(), p.C = fromBf16.data();
  matmulBf16(kt, p, batch);
  int64_t differing = 0;
  for (size_t i = 0; i < fromFloat.size(); ++i) differing += std::memcmp(&fromFloat[i], &fromBf16[i], 4) != 0;
  return differing;
}

void operandsMatch(const KernelTable& kt) {
  std::mt19937 rng(2323);
  const int64_t sizes[] = {1, 2, 14, 15, 31, 33, 67};
  for (int64_t M : sizes) {
    for (int64_t N : sizes) {
      for (int64_t K : sizes) {
        for (int t = 0; t < 4; ++t) {
          const int64_t bad = mismatches(kt, M, N, K, t & 1, (t >> 1) & 1, (M + N) % 2 == 0, 1, rng);
          SA_CHECK(bad == 0, "%lld differ at M=%lld N=%lld K=%lld transA=%d transB=%d", static_cast<long long>(bad),
                   static_cast<long long>(M), static_cast<long long>(N), static_cast<long long>(K), t & 1,
                   (t >> 1) & 1);
        }
      }
    }
  }
  ThreadPool& pool = ThreadPool::instance();
  const int saved = pool.numThreads();
  for (int threads : {1, 2}) {
    pool.setNumThreads(threads);
    SA_CHECK(mismatches(kt, 150, 70, 1101, false, true, true, 1, rng) == 0, "deep K, %d threads", threads);
    SA_CHECK(mismatches(kt, 97, 130, 257, true, false, false, 1, rng) == 0, "blocked, %d threads", threads);
    SA_CHECK(mismatches(kt, 40, 33, 65, true, true, true, 3, rng) == 0, "batch of 3, %d threads", threads);
    // A read in place (even K, rows of an even length): two depth blocks, a batch, and a row stride
    // of 4 KiB (packed instead).
    SA_CHECK(mismatches(kt, 150, 70, 1102, false, true, true, 1, rng) == 0, "deep even K, %d threads", threads);
    SA_CHECK(mismatches(kt, 43, 97, 66, false, false, false, 3, rng) == 0, "in-place batch, %d threads", threads);
    SA_CHECK(mismatches(kt, 29, 40, 2046, false, true, false, 1, rng) == 0, "4 KiB rows, %d threads", threads);
  }
  pool.setNumThreads(saved);
}

}  // namespace

SA_NATIVE_TEST(bf16_gemm_bfloat16_operands_match_rounded_float32_operands) {
  int tiers = 0;
  for (Isa isa : {Isa::Avx512Bf16, Isa::NeonBf16}) {
    const KernelTable* kt = kernelTableFor(isa);
    if (kt == nullptr || !cpuSupports(isa)) continue;
    operandsMatch(*kt);
    ++tiers;
  }
  if (tiers == 0) std::printf("     (skipped: no bf16 tier here)\n");
}
