// The row loops of kernels/vector_ops.h written once over a vector-traits class V
// (kernels/common/vec_<isa>.h); kernels/<isa>/vector_ops_<isa>.cc instantiates them in its target
// region. Tails go through V::loadTail / V::storeTail, which touch nothing past n.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/common/prefetch.h"
#include "kernels/vector_ops.h"

namespace sa {
namespace {

// f(i, lanes) for the vectors of [0, n): the full ones, then one tail of n % W lanes.
template <class V, class Body>
inline void forEachVector(int64_t n, Body f) {
  int64_t i = 0;
  for (; i + V::W <= n; i += V::W) f(i, V::W);
  if (i < n) f(i, static_cast<int>(n - i));
}

// The first `lanes` floats at p (all W of them: a plain load or store); nothing past them is touched.
template <class V>
inline typename V::F loadLanes(const float* p, int lanes) {
  return lanes == V::W ? V::loadu(p) : V::loadTail(p, lanes);
}
template <class V>
inline void storeLanes(float* p, typename V::F v, int lanes) {
  if (lanes == V::W) {
    V::storeu(p, v);
  } else {
    V::storeTail(p, v, lanes);
  }
}

template <class V>
struct VectorOpsOf {
  using F = typename V::F;
  static constexpr int W = V::W;
  static constexpr float kLog2e = 1.4426950408889634f;
  // Weight rows ahead of the bf16 GEMV's loads that it fetches (see dotRowsBf16).
  static constexpr int64_t kBf16PrefetchRows = 8;
  // Weight rows per group of the bf16 GEMV: eight streams and sixteen accumulators where there are
  // 32 vector registers (AVX-512); four where 16 would spill them (AVX2).
  static constexpr int kBf16GroupRows = W >= 16 ? 8 : 4;

  // A NaN element is skipped (selectGreater keeps the running max), as in the scalar reference.
  static float max(const float* x, int64_t n) {
    F m = V::negInf();
    forEachVector<V>(n,
                     [&](int64_t i, int k) { m = V::selectGreater(V::negInfPastLanes(loadLanes<V>(x + i, k), k), m); });
    return V::hmax(m);
  }

  static float sum(const float* x, int64_t n) {
    F s = V::zero();
    forEachVector<V>(n, [&](int64_t i, int k) { s = V::add(s, loadLanes<V>(x + i, k)); });
    return V::hsum(s);
  }

  static float dot(const float* a, const float* b, int64_t n) {
    F s = V::zero();
    forEachVector<V>(n, [&](int64_t i, int k) { s = V::fmadd(loadLanes<V>(a + i, k), loadLanes<V>(b + i, k), s); });
    return V::hsum(s);
  }

  // R rows of b against a, two accumulators per row: 4 rows give eight FMA chains (two pipes of
  // latency 4) and a's two loads feed eight FMAs; the rows are sequential streams the hardware
  // prefetcher follows. Every row sums in the same order whatever R, so a row's result does not
  // depend on whether the caller's split put it in a group of four or among the leftovers.
  template <int R>
  static inline void dotGroup(const float* a, const float* const* br, int64_t n, float* out) {
    F s[2 * R];
    for (int r = 0; r < 2 * R; ++r) s[r] = V::zero();
    int64_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
      const F x0 = V::loadu(a + i), x1 = V::loadu(a + i + W);
      for (int r = 0; r < R; ++r) {
        s[r] = V::fmadd(x0, V::loadu(br[r] + i), s[r]);
        s[R + r] = V::fmadd(x1, V::loadu(br[r] + i + W), s[R + r]);
      }
    }
    for (; i < n; i += W) {
      const int k = n - i < W ? static_cast<int>(n - i) : W;
      const F x = loadLanes<V>(a + i, k);
      for (int r = 0; r < R; ++r) s[r] = V::fmadd(x, loadLanes<V>(br[r] + i, k), s[r]);
    }
    for (int r = 0; r < R; ++r) out[r] = V::hsum(V::add(s[r], s[R + r]));
  }

  static void dotRows(const float* a, const float* b, int64_t ldb, int64_t rows, int64_t n, float* out) {
    int64_t j = 0;
    for (; j + 4 <= rows; j += 4) {
      const float* br[4] = {b + j * ldb, b + (j + 1) * ldb, b + (j + 2) * ldb, b + (j + 3) * ldb};
      dotGroup<4>(a, br, n, out + j);
    }
    for (; j < rows; ++j) {
      const float* br[1] = {b + j * ldb};
      dotGroup<1>(a, br, n, out + j);
    }
  }

  // dotGroup over bfloat16 rows: 2W elements per load, widened by a shift (even ones) and a mask
  // (odd ones), so a comes split into its even and odd elements (vector_ops.h). The tail of fewer
  // than 2W elements goes through a zero-padded copy.
  template <int R>
  static inline void dotGroupBf16(const float* aEven, const float* aOdd, const uint16_t* const* br, int64_t n,
                                  int64_t ahead, float* out) {
    F s[2 * R];
    for (int r = 0; r < 2 * R; ++r) s[r] = V::zero();
    F we, wo;
    int64_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
      const F xe = V::loadu(aEven + i / 2), xo = V::loadu(aOdd + i / 2);
      for (int r = 0; r < R; ++r) {
        prefetchToL1(br[r] + i + ahead);
        V::loadBf16Pairs(br[r] + i, &we, &wo);
        s[r] = V::fmadd(xe, we, s[r]);
        s[R + r] = V::fmadd(xo, wo, s[R + r]);
      }
    }
    if (i < n) {
      const int rest = static_cast<int>(n - i), pairs = (rest + 1) / 2;
      const F xe = loadLanes<V>(aEven + i / 2, pairs), xo = loadLanes<V>(aOdd + i / 2, pairs);
      uint16_t tail[2 * W];
      for (int r = 0; r < R; ++r) {
        for (int k = 0; k < 2 * W; ++k) tail[k] = k < rest ? br[r][i + k] : 0;
        V::loadBf16Pairs(tail, &we, &wo);
        s[r] = V::fmadd(xe, we, s[r]);
        s[R + r] = V::fmadd(xo, wo, s[R + r]);
      }
    }
    for (int r = 0; r < R; ++r) out[r] = V::hsum(V::add(s[r], s[R + r]));
  }

  static void dotRowsBf16(const float* aEven, const float* aOdd, const uint16_t* b, int64_t ldb, int64_t rows,
                          int64_t n, float* out) {
    // A group's rows are short streams that the hardware prefetcher barely starts on before they
    // end: each load fetches the same place of the row kBf16PrefetchRows further on.
    const int64_t ahead = kBf16PrefetchRows * ldb;
    int64_t j = 0;
    for (; j + kBf16GroupRows <= rows; j += kBf16GroupRows) {
      const uint16_t* br[kBf16GroupRows];
      for (int r = 0; r < kBf16GroupRows; ++r) br[r] = b + (j + r) * ldb;
      dotGroupBf16<kBf16GroupRows>(aEven, aOdd, br, n, ahead, out + j);
    }
    for (; j < rows; ++j) {
      const uint16_t* br[1] = {b + j * ldb};
      dotGroupBf16<1>(aEven, aOdd, br, n, ahead, out + j);
    }
  }

  // exp(x - shift) = 2^((x - shift) log2 e): one rounding more than exp of the exact difference,
  // a relative error of about |x - shift| * 6e-8 (softmax weights that matter have |x - shift| < 20).
  // Lanes past n read as -inf, so their exp is 0 and the sum takes nothing from them.
  static float expShift(float* x, int64_t n, float shift) {
    const F sh = V::set1(shift), l2e = V::set1(kLog2e);
    F s = V::zero();
    forEachVector<V>(n, [&](int64_t i, int k) {
      const F e = V::exp2(V::mul(V::sub(V::negInfPastLanes(loadLanes<V>(x + i, k), k), sh), l2e));
      storeLanes<V>(x + i, e, k);
      s = V::add(s, e);
    });
    return V::hsum(s);
  }

  static void scale(const float* x, float c, float* y, int64_t n) {
    const F cv = V::set1(c);
    forEachVector<V>(n, [&](int64_t i, int k) { storeLanes<V>(y + i, V::mul(cv, loadLanes<V>(x + i, k)), k); });
  }

  static void axpy(float a, const float* x, float* y, int64_t n) {
    const F av = V::set1(a);
    forEachVector<V>(n, [&](int64_t i, int k) {
      storeLanes<V>(y + i, V::fmadd(av, loadLanes<V>(x + i, k), loadLanes<V>(y + i, k)), k);
    });
  }

  static void mul(const float* x, const float* g, float* y, int64_t n) {
    forEachVector<V>(
        n, [&](int64_t i, int k) { storeLanes<V>(y + i, V::mul(loadLanes<V>(x + i, k), loadLanes<V>(g + i, k)), k); });
  }

  static void addMax(const float* x, float* sum, float* max, int64_t n) {
    forEachVector<V>(n, [&](int64_t i, int k) {
      const F v = loadLanes<V>(x + i, k);
      storeLanes<V>(sum + i, V::add(loadLanes<V>(sum + i, k), v), k);
      storeLanes<V>(max + i, V::selectGreater(v, loadLanes<V>(max + i, k)), k);
    });
  }

  // 1 / (1 + 2^(-x log2 e)), the exponent clamped at 126 (x < -87.3: a result of ~1e-38 instead of
  // a denormal or 0) so 2^t stays finite; V::min keeps a NaN t (it goes second).
  static void sigmoid(const float* x, float* y, int64_t n) {
    const F one = V::set1(1.0f), limit = V::set1(126.0f), nl2e = V::set1(-kLog2e);
    forEachVector<V>(n, [&](int64_t i, int k) {
      const F t = V::min(limit, V::mul(loadLanes<V>(x + i, k), nl2e));
      storeLanes<V>(y + i, V::div(one, V::add(one, V::exp2(t))), k);
    });
  }

  static void relu(const float* x, float* y, int64_t n) {  // NaN -> 0, as the scalar reference
    const F zero = V::zero();
    forEachVector<V>(
        n, [&](int64_t i, int k) { storeLanes<V>(y + i, V::selectGreater(loadLanes<V>(x + i, k), zero), k); });
  }

  static const VectorOps* table() {
    static const VectorOps k{max, sum, dot, dotRows, dotRowsBf16, expShift, scale, axpy, mul, addMax, sigmoid, relu};
    return &k;
  }
};

}  // namespace
}  // namespace sa
