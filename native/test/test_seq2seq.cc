// The Bahdanau/Luong inner loops (tanh-dot, axpy) of every ISA against the scalar reference, on
// lengths around each vector width, with exact-size heap buffers so ASan catches any overread.
#include <cmath>
#include <random>
#include <vector>

#include "kernels/seq2seq_kernels.h"
#include "runtime/dispatch.h"
#include "test/check.h"

using namespace sa;

SA_NATIVE_TEST(seq2seq_kernels_match_scalar) {
  const Seq2SeqKernels& ref = *kernelTableFor(Isa::Scalar)->seq2seq;
  std::mt19937 gen(7);
  for (Isa isa : availableIsas()) {
    const Seq2SeqKernels& k = *kernelTableFor(isa)->seq2seq;
    for (int64_t n : {1, 3, 4, 7, 8, 9, 15, 16, 17, 31, 33, 37, 100}) {
      for (float range : {0.3f, 2.0f, 40.0f}) {  // the polynomial branch, the exp branch, saturation
        std::uniform_real_distribution<float> dist(-range, range);
        std::vector<float> x(n), y(n), v(n), acc(n), accRef(n);
        for (int64_t i = 0; i < n; ++i) {
          x[i] = dist(gen);
          y[i] = dist(gen) * 0.5f;
          v[i] = dist(gen) / range;
          acc[i] = accRef[i] = dist(gen);
        }
        const double want = ref.tanhDot(x.data(), y.data(), v.data(), n);
        const double got = k.tanhDot(x.data(), y.data(), v.data(), n);
        double scale = 0;
        for (int64_t i = 0; i < n; ++i) scale += std::fabs(v[i]);
        SA_CHECK(std::fabs(got - want) <= 1e-6 * scale + 1e-6, "%s tanhDot n=%lld range=%g: %g vs %g", isaName(isa),
                 static_cast<long long>(n), range, got, want);
        ref.axpy(0.37f, x.data(), accRef.data(), n);
        k.axpy(0.37f, x.data(), acc.data(), n);
        for (int64_t i = 0; i < n; ++i) {
          SA_CHECK(std::fabs(acc[i] - accRef[i]) <= 1e-5f * (1 + std::fabs(accRef[i])), "%s axpy n=%lld at %lld",
                   isaName(isa), static_cast<long long>(n), static_cast<long long>(i));
        }
      }
    }
  }
}

SA_NATIVE_TEST(seq2seq_tanh_handles_nan_and_infinity) {
  for (Isa isa : availableIsas()) {
    const Seq2SeqKernels& k = *kernelTableFor(isa)->seq2seq;
    const float one = 1.0f, zero = 0.0f;
    float x = INFINITY;
    SA_CHECK(k.tanhDot(&x, &zero, &one, 1) == 1.0f, "%s tanh(+inf)", isaName(isa));
    x = -INFINITY;
    SA_CHECK(k.tanhDot(&x, &zero, &one, 1) == -1.0f, "%s tanh(-inf)", isaName(isa));
    x = NAN;
    SA_CHECK(std::isnan(k.tanhDot(&x, &zero, &one, 1)), "%s tanh(NaN)", isaName(isa));
  }
}
