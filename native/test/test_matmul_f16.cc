// The float16 GEMM (matmulF16: arm64 with FEAT_FHM, FMLAL) against a float64 reference over the same
// float16 inputs: edge sizes (M, N, K from 1, not multiples of the 8 x 12 tile, K odd), the four
// transposes, strided rows, bias, batches, 1-2 threads, a depth split into blocks (K > 1024, odd).
// C's buffer carries a sentinel around each row's view; each case also writes a float16 C (cHalf),
// checked against the float32 C rounded. Bound, with S = sum over k of |a_k b_k|
// (+ |bias|): |c - ref| <= (K + 4) 2^-24 S, float32 accumulation only (products of two float16 are
// exact in float32). Exact cases catch a product or a sum kept in float16, and flushed subnormals.
// Skipped where the CPU lacks FHM or the build lacks the kernel (every x86-64 build).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "kernels/convert.h"
#include "kernels/matmul.h"
#include "runtime/cpu_features.h"
#include "runtime/dispatch.h"
#include "runtime/thread_pool.h"
#include "test/check.h"
#include "test/half_output_check.h"

using namespace sa;

namespace {

constexpr float kSentinel = -12345.0f;

struct Case {
  int64_t M, N, K;
  bool transA = false, transB = false, bias = false;
  int64_t count = 1;
};

// Float16 bits of `values` (rounded to nearest even), and the values they stand for.
std::vector<uint16_t> toHalf(const std::vector<float>& values, std::vector<float>* rounded) {
  const ConvertKernels& conv = *convertKernelsFor(Isa::Scalar);
  std::vector<uint16_t> bits(values.size());
  conv.floatToHalf(values.data(), bits.data(), static_cast<int64_t>(values.size()));
  rounded->resize(values.size());
  conv.halfToFloat(bits.data(), rounded->data(), static_cast<int64_t>(bits.size()));
  return bits;
}

// Runs one case on table kt; returns the number of failures (out of bound, or a sentinel overwritten).
int runCase(const KernelTable& kt, const Case& c, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  const int64_t lda = (c.transA ? c.M : c.K) + 3, ldb = (c.transB ? c.K : c.N) + 1, ldc = c.N + 2;
  const int64_t aRows = c.transA ? c.K : c.M, bRows = c.transB ? c.N : c.K;
  std::vector<float> a(static_cast<size_t>(c.count * aRows * lda)), b(static_cast<size_t>(c.count * bRows * ldb));
  std::vector<float> bias(static_cast<size_t>(c.N)), out(static_cast<size_t>(c.count * c.M * ldc), kSentinel);
  for (float& x : a) x = dist(rng);
  for (float& x : b) x = dist(rng);
  for (float& x : bias) x = dist(rng);
  std::vector<float> aValues, bValues;
  const std::vector<uint16_t> a16 = toHalf(a, &aValues), b16 = toHalf(b, &bValues);
  std::vector<int64_t> offA(c.count), offB(c.count), offC(c.count);
  for (int64_t i = 0; i < c.count; ++i) offA[i] = i * aRows * lda, offB[i] = i * bRows * ldb, offC[i] = i * c.M * ldc;
  MatmulProblem p;
  p.M = c.M, p.N = c.N, p.K = c.K;
  p.aF16 = a16.data(), p.lda = lda, p.transA = c.transA;
  p.bF16 = b16.data(), p.ldb = ldb, p.transB = c.transB;
  p.C = out.data(), p.ldc = ldc;
  p.bias = c.bias ? bias.data() : nullptr;
  MatmulBatch batch;
  batch.count = c.count;
  batch.offsetA = offA.data(), batch.offsetB = offB.data(), batch.offsetC = offC.data();
  matmulF16(kt, p, batch);

  int failures = 0;
  for (int64_t item = 0; item < c.count; ++item) {
    const float* A = aValues.data() + offA[item];
    const float* B = bValues.data() + offB[item];
    for (int64_t i = 0; i < c.M; ++i) {
      const float* row = out.data() + offC[item] + i * ldc;
      for (int64_t j = 0; j < c.N; ++j) {
        double ref = 0, s = 0;
        for (int64_t k = 0; k < c.K; ++k) {
          const double x = A[c.transA ? k * lda + i : i * lda + k], y = B[c.transB ? j * ldb + k : k * ldb + j];
          ref += x * y;
          s += std::fabs(x * y);
        }
        if (c.bias) ref += bias[j], s += std::fabs(bias[j]);
        const double bound = (c.K + 4) * std::ldexp(1.0, -24) * s + 1e-30;
        if (!(std::fabs(row[j] - ref) <= bound) && failures++ < 3) {
          std::fprintf(stderr, "  M=%lld N=%lld K=%lld tA=%d tB=%d item %lld (%lld, %lld): %.9g vs %.9g\n",
                       static_cast<long long>(c.M), static_cast<long long>(c.N), static_cast<long long>(c.K), c.transA,
                       c.transB, static_cast<long long>(item), static_cast<long long>(i), static_cast<long long>(j),
                       row[j], ref);
        }
      }
      if (row[c.N] != kSentinel || row[c.N + 1] != kSentinel) ++failures;
    }
  }
  std::vector<uint16_t> out16(out.size(), test::kHalfSentinel);
  p.C = nullptr;
  p.cHalf = out16.data();
  p.roundC = convertKernelsFor(kt.isa)->floatToHalf;
  matmulF16(kt, p, batch);
  return failures +
         test::halfOutputMismatches(out, out16, offC, c.M, c.N, ldc, convertKernelsFor(Isa::Scalar)->floatToHalf);
}

// One product of constant operands a [M x K] = x, b [K x N] = y; returns C's first element.
float constantProduct(const KernelTable& kt, int64_t M, int64_t N, int64_t K, float x, float y) {
  std::vector<float> aValues, bValues;
  const std::vector<uint16_t> a16 = toHalf(std::vector<float>(static_cast<size_t>(M * K), x), &aValues);
  const std::vector<uint16_t> b16 = toHalf(std::vector<float>(static_cast<size_t>(K * N), y), &bValues);
  std::vector<float> out(static_cast<size_t>(M * N), kSentinel);
  MatmulProblem p;
  p.M = M, p.N = N, p.K = K;
  p.aF16 = a16.data(), p.lda = K, p.bF16 = b16.data(), p.ldb = N, p.C = out.data(), p.ldc = N;
  matmulF16(kt, p, MatmulBatch{});
  for (float v : out) SA_CHECK(v == out[0], "constant operands gave unequal elements");
  return out[0];
}

const KernelTable* f16Table() {
  for (Isa isa : {Isa::NeonBf16, Isa::Neon}) {
    const KernelTable* kt = kernelTableWithF16Gemm(isa);
    if (kt != nullptr && cpuSupports(isa) && cpuFeatures().neonFhm) return kt;
  }
  return nullptr;
}

}  // namespace

SA_NATIVE_TEST(f16_gemm_matches_float64_reference_on_float16_inputs) {
  const KernelTable* kt = f16Table();
  if (kt == nullptr) {
    std::printf("     (skipped: no float16 GEMM on this CPU or build)\n");
    return;
  }
  std::mt19937 rng(1623);
  const int64_t sizes[] = {1, 2, 7, 8, 9, 12, 13, 25, 33};
  for (int64_t M : sizes) {
    for (int64_t N : sizes) {
      for (int64_t K : {1, 2, 3, 8, 17, 33}) {
        for (int t = 0; t < 4; ++t) {
          const Case c{M, N, K, (t & 1) != 0, (t & 2) != 0, (M + N + K) % 2 == 0};
          SA_CHECK(runCase(*kt, c, rng) == 0, "M=%lld N=%lld K=%lld transA=%d transB=%d", static_cast<long long>(M),
                   static_cast<long long>(N), static_cast<long long>(K), c.transA, c.transB);
        }
      }
    }
  }
  ThreadPool& pool = ThreadPool::instance();
  const int saved = pool.numThreads();
  for (int threads : {1, 2}) {
    pool.setNumThreads(threads);
    SA_CHECK(runCase(*kt, Case{150, 70, 1101, false, true, true}, rng) == 0, "deep odd K, %d threads", threads);
    SA_CHECK(runCase(*kt, Case{97, 130, 257, true, false, false}, rng) == 0, "blocked, %d threads", threads);
    SA_CHECK(runCase(*kt, Case{40, 33, 65, true, true, true, 3}, rng) == 0, "batch of 3, %d threads", threads);
  }
  pool.setNumThreads(saved);
}

SA_NATIVE_TEST(f16_gemm_keeps_products_and_sums_in_float32) {
  const KernelTable* kt = f16Table();
  if (kt == nullptr) {
    std::printf("     (skipped: no float16 GEMM on this CPU or build)\n");
    return;
  }
  // (1 + 2^-10)^2 needs 21 bits: a product rounded to float16 would lose 2^-20.
  const float x = 1.0f + std::ldexp(1.0f, -10);
  const float product = constantProduct(*kt, 3, 5, 8, x, x);
  SA_CHECK(product == 8 * (x * x), "products rounded: %.9g, expected %.9g", product, 8 * (x * x));
  // A float16 sum stops at 2048 (2049 is not a float16); float32 counts on.
  SA_CHECK(constantProduct(*kt, 9, 13, 4097, 1.0f, 1.0f) == 4097.0f, "sum not in float32");
  // Float16 subnormals multiply as they are (no flush to zero): 2^-24 (the smallest) times 3.
  const float tiny = std::ldexp(1.0f, -24);
  SA_CHECK(constantProduct(*kt, 2, 2, 5, tiny, 3.0f) == 15 * tiny, "subnormal inputs flushed");
}
