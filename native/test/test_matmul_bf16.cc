// The bfloat16 GEMM (float32 matmul precision 'medium') on each bf16 tier this CPU has (avx512bf16
// on x86-64, neonbf16 on arm64), against a float64 reference over the inputs rounded to bfloat16
// (nearest even): edge sizes (M, N, K odd, 1..67), the four transposes, bias, prepacked B, depth
// split into several blocks, batches, 1-2 threads. C's buffer carries a sentinel around its view.
// Cases with halfOut also write a bfloat16 C (cHalf), checked against the float32 C rounded.
//
// Bounds, with S = sum over k of |a_k b_k| (+ |bias|), in float64:
//   against the rounded inputs:  |c - ref| <= (K + 4) 2^-24 S  (float32 accumulation only; a
//     kernel that truncated instead of rounding, or skipped a product, fails it; BFDOT's two
//     round-to-odd steps per pair, 2^-23 each over K / 2 pairs, stay within it)
//   against the float32 inputs:  |c - ref| <= (2^-7 + (K + 4) 2^-24) S: SPEC section 8's budget of
//     2^-8 (bfloat16's unit roundoff) for each of the two rounded factors of a product
#include <cmath>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "kernels/convert.h"
#include "kernels/matmul.h"
#include "kernels/matmul_bf16_kernels.h"
#include "runtime/cpu_features.h"
#include "runtime/dispatch.h"
#include "runtime/thread_pool.h"
#include "test/bf16_reference.h"
#include "test/check.h"
#include "test/half_output_check.h"

using namespace sa;
using sa::test::roundToBf16;

namespace {

struct Case {
  int64_t M, N, K;
  bool transA = false, transB = false, bias = false, packB = false;
  int64_t count = 1;
  bool halfOut = false;
};

constexpr float kSentinel = -12345.0f;

// Runs one case through matmul() with bf16Products on a bf16 tier's table (matmulBf16 directly
// when M is too small for matmul() to pick it); returns the number of failures.
int runCase(const KernelTable& kt, const Case& c, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  const int64_t lda = (c.transA ? c.M : c.K) + 3, ldb = (c.transB ? c.K : c.N) + 1, ldc = c.N + 2;
  const int64_t aRows = c.transA ? c.K : c.M, bRows = c.transB ? c.N : c.K;
  std::vector<float> a(static_cast<size_t>(c.count * aRows * lda)), b(static_cast<size_t>(c.count * bRows * ldb));
  std::vector<float> bias(static_cast<size_t>(c.N)), out(static_cast<size_t>(c.count * c.M * ldc), kSentinel);
  for (float& x : a) x = dist(rng);
  for (float& x : b) x = dist(rng);
  for (float& x : bias) x = dist(rng);
  std::vector<int64_t> offA(c.count), offB(c.count), offC(c.count);
  for (int64_t i = 0; i < c.count; ++i) {
    offA[i] = i * aRows * lda;
    offB[i] = c.packB ? 0 : i * bRows * ldb;
    offC[i] = i * c.M * ldc;
  }
  MatmulProblem p;
  p.M = c.M, p.N = c.N, p.K = c.K;
  p.A = a.data(), p.lda = lda, p.transA = c.transA;
  p.B = b.data(), p.ldb = ldb, p.transB = c.transB;
  p.C = out.data(), p.ldc = ldc;
  p.bias = c.bias ? bias.data() : nullptr;
  p.bf16Products = true;
  std::vector<float> panels;
  if (c.packB) {
    panels.resize(static_cast<size_t>(packedPanelsFloats(kt, c.N, c.K)));
    p.packedB = packMatmulWeights(kt, b.data(), ldb, c.N, c.K, panels.data());
  }
  MatmulBatch batch;
  batch.count = c.count;
  batch.offsetA = offA.data(), batch.offsetB = offB.data(), batch.offsetC = offC.data();
  if (bf16ProductsApply(kt, p)) {
    matmul(kt, p, batch);
  } else {
    matmulBf16(kt, p, batch);
  }

  int failures = 0;
  for (int64_t item = 0; item < c.count && failures == 0; ++item) {
    const float* A = a.data() + offA[item];
    const float* B = b.data() + offB[item];
    for (int64_t i = 0; i < c.M; ++i) {
      for (int64_t j = 0; j < ldc; ++j) {
        const float got = out[offC[item] + i * ldc + j];
        if (j >= c.N) {
          if (got != kSentinel) ++failures;
          continue;
        }
        double ref = 0, exact = 0, scale = 0;
        for (int64_t k = 0; k < c.K; ++k) {
          const float x = c.transA ? A[k * lda + i] : A[i * lda + k];
          const float y = c.transB ? B[j * ldb + k] : B[k * ldb + j];
          ref += static_cast<double>(roundToBf16(x)) * roundToBf16(y);
          exact += static_cast<double>(x) * y;
          scale += std::fabs(static_cast<double>(x) * y);
        }
        if (c.bias) {
          ref += bias[j];
          exact += bias[j];
          scale += std::fabs(bias[j]);
        }
        const double tight = (static_cast<double>(c.K) + 4) * std::ldexp(scale, -24) + 1e-30;
        const double spec = std::ldexp(scale, -7) + tight;
        if (!(std::fabs(got - ref) <= tight) || !(std::fabs(got - exact) <= spec)) {
          if (failures == 0) {
            std::fprintf(stderr,
                         "  M=%lld N=%lld K=%lld tA=%d tB=%d bias=%d packed=%d item %lld C[%lld,%lld]=%g ref %g\n",
                         static_cast<long long>(c.M), static_cast<long long>(c.N), static_cast<long long>(c.K),
                         c.transA, c.transB, c.bias, c.packB, static_cast<long long>(item), static_cast<long long>(i),
                         static_cast<long long>(j), got, ref);
          }
          ++failures;
        }
      }
    }
  }
  if (c.halfOut) {
    std::vector<uint16_t> out16(out.size(), test::kHalfSentinel);
    p.C = nullptr;
    p.cHalf = out16.data();
    p.roundC = convertKernelsFor(kt.isa)->floatToBf16;
    matmulBf16(kt, p, batch);
    failures +=
        test::halfOutputMismatches(out, out16, offC, c.M, c.N, ldc, convertKernelsFor(Isa::Scalar)->floatToBf16);
  }
  return failures;
}

// The bf16 tiers of this build that this CPU runs (none: the tests skip, saying so).
std::vector<const KernelTable*> bf16Tables() {
  std::vector<const KernelTable*> out;
  for (Isa isa : {Isa::Avx512Bf16, Isa::NeonBf16}) {
    const KernelTable* kt = kernelTableFor(isa);
    if (kt != nullptr && cpuSupports(isa)) out.push_back(kt);
  }
  if (out.empty()) std::printf("     (skipped: no bf16 tier here)\n");
  return out;
}

void edgeSizes(const KernelTable& kt) {
  std::mt19937 rng(23);
  const int64_t sizes[] = {1, 3, 13, 15, 17, 31, 33, 47, 67};
  int cases = 0;
  for (int64_t M : sizes) {
    for (int64_t N : sizes) {
      for (int64_t K : sizes) {
        Case c{M, N, K};
        c.transA = (M + K) % 2 == 0;
        c.transB = (N + K + M) % 3 == 0;
        c.bias = (M * N) % 5 < 2;
        c.packB = c.transB && N % 4 == 1;
        c.halfOut = (M + N) % 3 == 1;
        const int failures = runCase(kt, c, rng);
        SA_CHECK(failures == 0, "%d mismatches at M=%lld N=%lld K=%lld", failures, static_cast<long long>(M),
                 static_cast<long long>(N), static_cast<long long>(K));
        ++cases;
      }
    }
  }
  for (int t = 0; t < 4; ++t) {  // every transpose pair on one shape, with bias and without
    Case c{29, 37, 41};
    c.transA = t & 1, c.transB = (t >> 1) & 1, c.bias = t != 0;
    SA_CHECK(runCase(kt, c, rng) == 0, "transA=%d transB=%d", c.transA, c.transB);
  }
  std::printf("     (%s: %d shapes)\n", isaName(kt.isa), cases);
}

void blockedBatchedAndThreaded(const KernelTable& kt) {
  std::mt19937 rng(24);
  ThreadPool& pool = ThreadPool::instance();
  const int saved = pool.numThreads();
  for (int threads : {1, 2}) {
    pool.setNumThreads(threads);
    // K = 1101: two depth blocks, the last ending on half a pair.
    Case deep{150, 70, 1101};
    deep.bias = deep.halfOut = true;
    SA_CHECK(runCase(kt, deep, rng) == 0, "deep K, %d threads", threads);
    Case packed{97, 130, 257};
    packed.transB = packed.packB = packed.bias = true;
    SA_CHECK(runCase(kt, packed, rng) == 0, "packed B, %d threads", threads);
    Case batched{40, 33, 65};
    batched.transA = true;
    batched.count = 3;
    batched.halfOut = true;
    SA_CHECK(runCase(kt, batched, rng) == 0, "batch of 3, %d threads", threads);
    Case sharedPacked{20, 45, 99};
    sharedPacked.transB = sharedPacked.packB = true;
    sharedPacked.count = 4;
    sharedPacked.halfOut = threads == 2;
    SA_CHECK(runCase(kt, sharedPacked, rng) == 0, "batch over one packed B, %d threads", threads);
    // 16-bit C: float32 sums that outgrow the retained scratch (a buffer of the product's own); tasks
    // split by columns (few row tiles); two column blocks of B (N past the 4096 columns of a block
    // at 512 pairs of depth); items spread over the pool, each summing in its own thread's scratch.
    Case wide{2100, 2001, 5};
    Case columns{30, 300, 700};
    Case blocks{4, 4200, 1023};
    Case spread{100, 100, 100};
    spread.count = 2;
    for (Case* c : {&wide, &columns, &blocks, &spread}) {
      c->halfOut = true;
      SA_CHECK(runCase(kt, *c, rng) == 0, "16-bit C, M=%lld N=%lld K=%lld x %lld, %d threads",
               static_cast<long long>(c->M), static_cast<long long>(c->N), static_cast<long long>(c->K),
               static_cast<long long>(c->count), threads);
    }
  }
  pool.setNumThreads(saved);
}

// The bf16 GEMM on float32 inputs against the scalar float32 GEMM on the same inputs rounded to
// bfloat16 beforehand: both are within (K + 4) 2^-24 S of the exact sum, so within twice that of
// each other. Sizes around the tiles (8 x 12 and 14 x 32), K odd and even.
void againstScalarFloat32(const KernelTable& kt) {
  const KernelTable& scalar = *kernelTableFor(Isa::Scalar);
  std::mt19937 rng(25);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  int failures = 0;
  for (int64_t M : {1, 7, 8, 9, 15, 17}) {
    for (int64_t N : {1, 11, 12, 13, 31, 33}) {
      for (int64_t K : {1, 2, 3, 16, 33}) {
        std::vector<float> a(static_cast<size_t>(M * K)), b(static_cast<size_t>(K * N));
        for (float& x : a) x = dist(rng);
        for (float& x : b) x = dist(rng);
        std::vector<float> aRounded(a), bRounded(b), got(static_cast<size_t>(M * N)), want(got.size());
        for (float& x : aRounded) x = roundToBf16(x);
        for (float& x : bRounded) x = roundToBf16(x);
        MatmulProblem p;
        p.M = M, p.N = N, p.K = K, p.lda = K, p.ldb = N, p.ldc = N;
        p.A = a.data(), p.B = b.data(), p.C = got.data();
        matmulBf16(kt, p, MatmulBatch{});
        p.A = aRounded.data(), p.B = bRounded.data(), p.C = want.data();
        matmul(scalar, p, MatmulBatch{});
        for (int64_t i = 0; i < M; ++i) {
          for (int64_t j = 0; j < N; ++j) {
            double scale = 0;
            for (int64_t k = 0; k < K; ++k)
              scale += std::fabs(static_cast<double>(aRounded[i * K + k]) * bRounded[k * N + j]);
            const double bound = 2 * (static_cast<double>(K) + 4) * std::ldexp(scale, -24) + 1e-30;
            const double diff = std::fabs(static_cast<double>(got[i * N + j]) - want[i * N + j]);
            if (!(diff <= bound) && failures++ == 0) {
              std::fprintf(stderr, "  %s M=%lld N=%lld K=%lld C[%lld,%lld]=%g, scalar %g\n", isaName(kt.isa),
                           static_cast<long long>(M), static_cast<long long>(N), static_cast<long long>(K),
                           static_cast<long long>(i), static_cast<long long>(j), got[i * N + j], want[i * N + j]);
            }
          }
        }
      }
    }
  }
  SA_CHECK(failures == 0, "%d elements off the scalar float32 GEMM", failures);
}

}  // namespace

SA_NATIVE_TEST(bf16_gemm_matches_scalar_float32_gemm_on_rounded_inputs) {
  for (const KernelTable* kt : bf16Tables()) againstScalarFloat32(*kt);
}

SA_NATIVE_TEST(bf16_gemm_edge_sizes_against_rounded_reference) {
  for (const KernelTable* kt : bf16Tables()) edgeSizes(*kt);
}

SA_NATIVE_TEST(bf16_gemm_blocked_batched_and_threaded) {
  for (const KernelTable* kt : bf16Tables()) blockedBatchedAndThreaded(*kt);
}

// Routing only (no kernel runs), so it holds whatever this CPU has; each architecture checks its own
// pair of tiers (the other's tables are not compiled in).
SA_NATIVE_TEST(bf16_products_leave_thin_products_and_other_tiers_in_float32) {
  int pairs = 0;
  for (const auto& [bf16Isa, baseIsa] :
       {std::pair{Isa::Avx512Bf16, Isa::Avx512}, std::pair{Isa::NeonBf16, Isa::Neon}}) {
    const KernelTable* bf16 = kernelTableFor(bf16Isa);
    const KernelTable* base = kernelTableFor(baseIsa);
    if (bf16 == nullptr || base == nullptr) continue;
    ++pairs;
    MatmulProblem p;
    p.M = 4, p.N = 64, p.K = 64;
    p.bf16Products = true;
    SA_CHECK(!bf16ProductsApply(*bf16, p), "%s: a 4-row product went to bf16", isaName(bf16Isa));
    p.M = 5;
    SA_CHECK(bf16ProductsApply(*bf16, p), "%s: a 5-row product stayed float32", isaName(bf16Isa));
    SA_CHECK(!bf16ProductsApply(*base, p), "the %s tier has no bf16 GEMM", isaName(baseIsa));
  }
  SA_CHECK(pairs == 1, "%d architectures' bf16 tiers compiled in", pairs);
}
