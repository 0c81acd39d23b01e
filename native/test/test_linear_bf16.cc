// Linear layers with bfloat16 weights (kernels/matmul.h, linearBf16Weight): every table's
// dotRowsBf16 against the scalar one on edge sizes (K not a multiple of the vector width or of 32,
// odd row counts), and the driver's GEMV, bf16 GEMM and widened paths against a double reference.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/vector_ops.h"
#include "runtime/cpu_features.h"
#include "runtime/dispatch.h"
#include "runtime/thread_pool.h"
#include "test/bf16_reference.h"
#include "test/check.h"

using namespace sa;
using sa::test::bf16Bits;
using sa::test::bf16Value;

namespace {

std::vector<uint16_t> randomBf16(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<uint16_t> out(n);
  for (uint16_t& h : out) h = bf16Bits(dist(rng));
  return out;
}

std::vector<float> randomFloats(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> out(n);
  for (float& x : out) x = dist(rng);
  return out;
}

}  // namespace

SA_NATIVE_TEST(dot_rows_bf16_matches_scalar_on_edge_sizes) {
  const KernelTable& scalar = *kernelTableFor(Isa::Scalar);
  std::mt19937 rng(21);
  for (Isa isa : availableIsas()) {
    const VectorOps& ops = *kernelTableFor(isa)->vectorOps;
    for (int64_t K : {1, 7, 15, 16, 31, 33, 64, 100, 777}) {
      for (int64_t rows : {1, 3, 5, 9, 12, 17}) {
        const int64_t ld = K + 3;
        const std::vector<float> a = randomFloats(static_cast<size_t>(K), rng);
        const std::vector<uint16_t> w = randomBf16(static_cast<size_t>(rows * ld), rng);
        const int64_t half = (K + 1) / 2;
        std::vector<float> even(static_cast<size_t>(half)), odd(static_cast<size_t>(half), 0.0f);
        for (int64_t k = 0; k < K; ++k) ((k & 1) != 0 ? odd : even)[static_cast<size_t>(k / 2)] = a[k];
        std::vector<float> got(static_cast<size_t>(rows)), want(got.size());
        ops.dotRowsBf16(even.data(), odd.data(), w.data(), ld, rows, K, got.data());
        scalar.vectorOps->dotRowsBf16(even.data(), odd.data(), w.data(), ld, rows, K, want.data());
        for (int64_t j = 0; j < rows; ++j) {
          double exact = 0, magnitude = 0;
          for (int64_t k = 0; k < K; ++k) {
            exact += static_cast<double>(a[k]) * bf16Value(w[j * ld + k]);
            magnitude += std::fabs(static_cast<double>(a[k]) * bf16Value(w[j * ld + k]));
          }
          const double bound = 1e-6 * magnitude + 1e-7;
          SA_CHECK(std::fabs(got[j] - exact) <= bound && std::fabs(want[j] - exact) <= bound,
                   "%s K=%lld rows=%lld row %lld: %g vs scalar %g (exact %g)", isaName(isa), static_cast<long long>(K),
                   static_cast<long long>(rows), static_cast<long long>(j), got[j], want[j], exact);
        }
      }
    }
  }
}

// A row's sum does not depend on the group the row falls in (eight, four or one at a time): the
// same bits whether the GEMV's split hands it over with its neighbours or alone.
SA_NATIVE_TEST(dot_rows_bf16_row_result_independent_of_group) {
  std::mt19937 rng(23);
  for (Isa isa : availableIsas()) {
    const VectorOps& ops = *kernelTableFor(isa)->vectorOps;
    for (int64_t K : {33, 768, 777}) {
      const int64_t rows = 17, ld = K + 5, half = (K + 1) / 2;
      const std::vector<float> a = randomFloats(static_cast<size_t>(K), rng);
      const std::vector<uint16_t> w = randomBf16(static_cast<size_t>(rows * ld), rng);
      std::vector<float> even(static_cast<size_t>(half)), odd(static_cast<size_t>(half), 0.0f);
      for (int64_t k = 0; k < K; ++k) ((k & 1) != 0 ? odd : even)[static_cast<size_t>(k / 2)] = a[k];
      std::vector<float> all(static_cast<size_t>(rows));
      ops.dotRowsBf16(even.data(), odd.data(), w.data(), ld, rows, K, all.data());
      for (int64_t j = 0; j < rows; ++j) {
        float alone = NAN;
        ops.dotRowsBf16(even.data(), odd.data(), w.data() + j * ld, ld, 1, K, &alone);
        SA_CHECK(std::memcmp(&alone, &all[static_cast<size_t>(j)], sizeof alone) == 0,
                 "%s K=%lld row %lld: %a in a group of %lld, %a alone", isaName(isa), static_cast<long long>(K),
                 static_cast<long long>(j), all[static_cast<size_t>(j)], static_cast<long long>(rows), alone);
      }
    }
  }
}

SA_NATIVE_TEST(linear_bf16_weight_paths_match_reference) {
  std::mt19937 rng(22);
  for (Isa isa : availableIsas()) {
    const KernelTable& kt = *kernelTableFor(isa);
    for (int64_t M : {1, 3, 4, 5, 37}) {
      for (int64_t N : {1, 17, 301}) {
        const int64_t K = 45, lda = K + 1, ldw = K + 2;
        const std::vector<float> a = randomFloats(static_cast<size_t>(M * lda), rng);
        const std::vector<uint16_t> w = randomBf16(static_cast<size_t>(N * ldw), rng);
        const std::vector<float> bias = randomFloats(static_cast<size_t>(N), rng);
        std::vector<float> c(static_cast<size_t>(M * N), NAN);
        MatmulProblem p;
        p.M = M, p.N = N, p.K = K;
        p.A = a.data(), p.lda = lda;
        p.bBf16 = w.data(), p.ldb = ldw, p.transB = true;
        p.C = c.data(), p.ldc = N;
        p.bias = bias.data();
        linearBf16Weight(kt, p, MatmulBatch{});
        // Activations rounded to bfloat16 on the bf16 GEMM path: 2^-8 of the magnitude there.
        const bool roundsA = !linearBf16UsesGemv(p) && kt.matmulBf16 != nullptr;
        for (int64_t m = 0; m < M; ++m) {
          for (int64_t j = 0; j < N; ++j) {
            double exact = bias[j], magnitude = std::fabs(bias[j]);
            for (int64_t k = 0; k < K; ++k) {
              const double term = static_cast<double>(a[m * lda + k]) * bf16Value(w[j * ldw + k]);
              exact += term;
              magnitude += std::fabs(term);
            }
            const double bound = (roundsA ? 1.0 / 256 : 1e-6) * magnitude + 1e-7;
            const float got = c[m * N + j];
            SA_CHECK(std::fabs(got - exact) <= bound, "%s M=%lld N=%lld (%lld, %lld): %g vs %g", isaName(isa),
                     static_cast<long long>(M), static_cast<long long>(N), static_cast<long long>(m),
                     static_cast<long long>(j), got, exact);
          }
        }
      }
    }
  }
}
