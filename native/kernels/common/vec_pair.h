// Vector traits of twice the width of an ISA's traits H (vec_avx2.h, vec_avx512.h): 2 * H::W float
// lanes as two H vectors, every operation done on both halves. The attention tile kernel
// (attention_tile.h) runs on these so that each key element it broadcasts feeds two FMAs: with one
// vector per key the S^T and P.V micro-kernels need a broadcast load per FMA, and current x86 cores
// sustain about one broadcast load per cycle against two FMAs. Include inside the ISA's target
// region, after H's header.
#pragma once
#include <cstdint>

namespace sa {
namespace {

template <class H>
struct VecPair {
  struct F {
    typename H::F lo, hi;
  };
  struct I {
    typename H::I lo, hi;
  };
  static constexpr int W = 2 * H::W;

  static F both(typename H::F x) { return F{x, x}; }
  static F zero() { return both(H::zero()); }
  static F set1(float x) { return both(H::set1(x)); }
  static F negInf() { return both(H::negInf()); }
  static F load(const float* p) { return F{H::load(p), H::load(p + H::W)}; }
  static F loadu(const float* p) { return F{H::loadu(p), H::loadu(p + H::W)}; }
  static void store(float* p, F v) {
    H::store(p, v.lo);
    H::store(p + H::W, v.hi);
  }
  static void storeu(float* p, F v) {
    H::storeu(p, v.lo);
    H::storeu(p + H::W, v.hi);
  }
  // One broadcast for both halves (the point of the pair).
  static F bcast(const float* p) { return both(H::bcast(p)); }
  static F fmadd(F a, F b, F c) { return F{H::fmadd(a.lo, b.lo, c.lo), H::fmadd(a.hi, b.hi, c.hi)}; }
  static F add(F a, F b) { return F{H::add(a.lo, b.lo), H::add(a.hi, b.hi)}; }
  static F sub(F a, F b) { return F{H::sub(a.lo, b.lo), H::sub(a.hi, b.hi)}; }
  static F mul(F a, F b) { return F{H::mul(a.lo, b.lo), H::mul(a.hi, b.hi)}; }
  static F max(F a, F b) { return F{H::max(a.lo, b.lo), H::max(a.hi, b.hi)}; }
  static F min(F a, F b) { return F{H::min(a.lo, b.lo), H::min(a.hi, b.hi)}; }
  static F div(F a, F b) { return F{H::div(a.lo, b.lo), H::div(a.hi, b.hi)}; }
  static F exp2(F x) { return F{H::exp2(x.lo), H::exp2(x.hi)}; }
  static F loadTail(const float* p, int n) {
    if (n <= H::W) return F{H::loadTail(p, n), H::zero()};
    return F{H::loadu(p), H::loadTail(p + H::W, n - H::W)};
  }
  static void storeTail(float* p, F v, int n) {
    if (n <= H::W) {
      H::storeTail(p, v.lo, n);
    } else {
      H::storeu(p, v.lo);
      H::storeTail(p + H::W, v.hi, n - H::W);
    }
  }
  static I loadI(const int32_t* p) { return I{H::loadI(p), H::loadI(p + H::W)}; }
  static F keepKeyRange(F s, I begin, I end, int32_t key) {
    return F{H::keepKeyRange(s.lo, begin.lo, end.lo, key), H::keepKeyRange(s.hi, begin.hi, end.hi, key)};
  }
  static F addBias(F s, F b) { return F{H::addBias(s.lo, b.lo), H::addBias(s.hi, b.hi)}; }
  static F zeroIfNegInf(F m) { return F{H::zeroIfNegInf(m.lo), H::zeroIfNegInf(m.hi)}; }
  static bool anyNaN(F a) { return H::anyNaN(a.lo) | H::anyNaN(a.hi); }
  static bool anyGreater(F a, F b) { return H::anyGreater(a.lo, b.lo) | H::anyGreater(a.hi, b.hi); }
  // W x W as four H::W x H::W blocks: the off-diagonal blocks swap places.
  static void transpose(F* a) {
    constexpr int N = H::W;
    // The N x N block of rows row0 .. row0 + N - 1, lanes of the low or high half, transposed into out.
    const auto block = [a](int row0, bool hi, typename H::F* out) {
      for (int r = 0; r < N; ++r) out[r] = hi ? a[row0 + r].hi : a[row0 + r].lo;
      H::transpose(out);
    };
    typename H::F b[N], c[N], d[N], e[N];
    block(0, false, b);  // rows 0 .. N-1, columns 0 .. N-1
    block(N, false, c);  // rows N .. 2N-1, columns 0 .. N-1
    block(0, true, d);   // rows 0 .. N-1, columns N .. 2N-1
    block(N, true, e);   // rows N .. 2N-1, columns N .. 2N-1
    for (int r = 0; r < N; ++r) {
      a[r] = F{b[r], c[r]};
      a[N + r] = F{d[r], e[r]};
    }
  }
};

}  // namespace
}  // namespace sa
