// The zero-size cases the attention driver owns: with no key at all (Lk = 0) every row is fully
// masked, which this package defines as zeros, so the driver zero-fills the strided output on every
// ISA; attentionWeights then has nothing to write. The other empty dimensions leave `out` untouched.
#include <cstdint>
#include <vector>

#include "kernels/attention.h"
#include "runtime/dispatch.h"
#include "test/check.h"

using namespace sa;

namespace {

// A [B, H, Lq, dv] output in BLHD strides with one spare float between rows, so the fill must
// follow the strides: the gaps keep their sentinel.
struct EmptyKeys {
  int64_t B = 2, H = 3, Lq = 4, dv = 5;
  int64_t rowStride = H * (dv + 1);
  std::vector<float> q = std::vector<float>(static_cast<size_t>(B * Lq * H * 7), 0.5f);
  std::vector<float> out = std::vector<float>(static_cast<size_t>(B * Lq * rowStride), -7.0f);
  AttentionProblem p;

  EmptyKeys() {
    p.batch = B, p.heads = H, p.kvHeads = H, p.Lq = Lq, p.Lk = 0, p.dk = 7, p.dv = dv;
    p.q = q.data(), p.qStrideB = Lq * H * 7, p.qStrideH = 7, p.qStrideL = H * 7;
    p.k = q.data(), p.v = q.data();  // never read: there is no key
    p.out = out.data(), p.oStrideB = Lq * rowStride, p.oStrideH = dv + 1, p.oStrideL = rowStride;
    p.causal = true;
    p.bottomRightAligned = true;
  }
};

}  // namespace

SA_NATIVE_TEST(attention_without_keys_writes_zeros) {
  for (Isa isa : availableIsas()) {
    EmptyKeys e;
    attention(*kernelTableFor(isa), e.p);
    for (int64_t b = 0; b < e.B; ++b)
      for (int64_t i = 0; i < e.Lq; ++i)
        for (int64_t h = 0; h < e.H; ++h)
          for (int64_t c = 0; c <= e.dv; ++c) {
            const float got = e.out[static_cast<size_t>(b * e.p.oStrideB + i * e.rowStride + h * (e.dv + 1) + c)];
            const float want = c < e.dv ? 0.0f : -7.0f;
            SA_CHECK(got == want, "[%s] b%lld i%lld h%lld c%lld: %g, want %g", isaName(isa), static_cast<long long>(b),
                     static_cast<long long>(i), static_cast<long long>(h), static_cast<long long>(c), got, want);
          }
  }
}

SA_NATIVE_TEST(attention_with_an_empty_dimension_writes_nothing) {
  for (Isa isa : availableIsas()) {
    for (int which = 0; which < 3; ++which) {
      EmptyKeys e;
      e.p.Lk = 3;
      if (which == 0) e.p.batch = 0;
      if (which == 1) e.p.heads = 0;
      if (which == 2) e.p.Lq = 0;
      attention(*kernelTableFor(isa), e.p);
      std::vector<float> weights(4, -7.0f);
      attentionWeights(*kernelTableFor(isa), e.p, weights.data());
      bool untouched = weights == std::vector<float>(4, -7.0f);
      for (float x : e.out) untouched = untouched && x == -7.0f;
      SA_CHECK(untouched, "[%s] an empty dimension (%d) wrote output", isaName(isa), which);
    }
  }
}
