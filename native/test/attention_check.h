// What the attention tests (test_attention.cc, test_attention_window.cc) share: running on every
// ISA and thread count, and comparing a result with its float64 reference.
#pragma once
#include <cmath>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>

#include "kernels/attention.h"
#include "runtime/dispatch.h"
#include "runtime/thread_pool.h"
#include "test/check.h"

namespace sa {
namespace test {

struct Tolerance {
  double abs = 1e-5, rel = 1e-4;  // SPEC section 6
};

inline void forEachIsa(const std::function<void(Isa)>& fn) {
  for (Isa isa : availableIsas()) fn(isa);
}

// Runs fn once per thread count, restoring the pool afterwards.
inline void withThreads(std::initializer_list<int> counts, const std::function<void()>& fn) {
  ThreadPool& pool = ThreadPool::instance();
  const int before = pool.numThreads();
  for (int n : counts) {
    pool.setNumThreads(n);
    fn();
  }
  pool.setNumThreads(before);
}

// Sets the shape, data pointers and strides of p for contiguous q, k, v, out: [B, H, L, d], or
// [B, L, H, d] (heads interleaved) with blhd. Hkv = 0: as many kv heads as query heads.
inline void setTensors(AttentionProblem& p, int64_t B, int64_t H, int64_t Hkv, int64_t Lq, int64_t Lk, int64_t dk,
                       int64_t dv, bool blhd, float* q, float* k, float* v, float* out) {
  p.batch = B;
  p.heads = H;
  p.kvHeads = Hkv;
  p.Lq = Lq;
  p.Lk = Lk;
  p.dk = dk;
  p.dv = dv;
  p.q = q;
  p.k = k;
  p.v = v;
  p.out = out;
  const int64_t kvHeads = Hkv > 0 ? Hkv : H;
  auto strides = [blhd](int64_t heads, int64_t L, int64_t d, int64_t& sB, int64_t& sH, int64_t& sL) {
    sB = heads * L * d;
    sH = blhd ? d : L * d;
    sL = blhd ? heads * d : d;
  };
  strides(H, Lq, dk, p.qStrideB, p.qStrideH, p.qStrideL);
  strides(kvHeads, Lk, dk, p.kStrideB, p.kStrideH, p.kStrideL);
  strides(kvHeads, Lk, dv, p.vStrideB, p.vStrideH, p.vStrideL);
  strides(H, Lq, dv, p.oStrideB, p.oStrideH, p.oStrideL);
}

// Where a compared value sits: the case's label, the ISA, and row (b, h, i) of the output (column
// name `column`) or of the weights.
struct Where {
  const std::string& label;
  Isa isa;
  int64_t b, h, i;
  const char* column;
};

// |got - want| <= abs + rel |want| (false for NaN). The first three misses of a case (counted in
// `reported`) fail the test with their place; the rest would only repeat them.
inline bool expectNear(float got, double want, const Tolerance& tol, const Where& at, int64_t column, int& reported) {
  const bool ok = std::fabs(got - want) <= tol.abs + tol.rel * std::fabs(want);
  SA_CHECK(ok || reported >= 3, "%s [%s] b=%lld h=%lld i=%lld %s=%lld: got %.9g want %.9g", at.label.c_str(),
           isaName(at.isa), static_cast<long long>(at.b), static_cast<long long>(at.h), static_cast<long long>(at.i),
           at.column, static_cast<long long>(column), got, want);
  if (!ok) ++reported;
  return ok;
}

}  // namespace test
}  // namespace sa
