// Linear attention: the per-ISA feature map and the products it runs on the matmul micro-kernel
// (matmulInPlace, with and without accumulation) against the scalar reference (sizes around
// every vector width and register tile, leading dimensions wider than the rows, exact-size heap
// buffers so the sanitizer build catches any access past an operand), then the whole driver on
// every ISA against the recurrent definition in double — causal and not, both feature maps, BLHD
// strides, a carried state split across calls, and the split-over-threads path of one long head.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/linear_attention.h"
#include "kernels/linear_attention_kernels.h"
#include "kernels/matmul.h"
#include "kernels/matmul_kernels.h"
#include "runtime/dispatch.h"
#include "runtime/thread_pool.h"
#include "test/check.h"

using namespace sa;

namespace {

double phiRef(double x, FeatureMap map) {
  if (map == FeatureMap::Relu) return x > 0 ? x : 0;
  return x > 0 ? x + 1 : std::exp(x);
}

struct Case {
  int64_t B = 1, H = 1, Lq = 1, Lk = 1, dk = 8, dv = 8;
  bool causal = true, blhd = false;
  FeatureMap map = FeatureMap::EluPlusOne;
};

struct Tensors {
  std::vector<float> q, k, v, out;
  LinearAttentionProblem p;
};

// Fills q, k, v with uniform values in [-1, 1] and points the problem at them (BHLD or BLHD).
Tensors make(const Case& c, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  Tensors t;
  t.q.resize(c.B * c.H * c.Lq * c.dk);
  t.k.resize(c.B * c.H * c.Lk * c.dk);
  t.v.resize(c.B * c.H * c.Lk * c.dv);
  t.out.assign(c.B * c.H * c.Lq * c.dv, NAN);
  for (float& x : t.q) x = dist(gen);
  for (float& x : t.k) x = dist(gen);
  for (float& x : t.v) x = dist(gen);
  LinearAttentionProblem& p = t.p;
  p.batch = c.B, p.heads = c.H, p.Lq = c.Lq, p.Lk = c.Lk, p.dk = c.dk, p.dv = c.dv;
  p.causal = c.causal, p.featureMap = c.map, p.eps = 1e-6f;
  auto strides = [&](int64_t L, int64_t d, int64_t& sB, int64_t& sH, int64_t& sL) {
    sB = c.H * L * d;
    sH = c.blhd ? d : L * d;
    sL = c.blhd ? c.H * d : d;
  };
  strides(c.Lq, c.dk, p.qStrideB, p.qStrideH, p.qStrideL);
  strides(c.Lk, c.dk, p.kStrideB, p.kStrideH, p.kStrideL);
  strides(c.Lk, c.dv, p.vStrideB, p.vStrideH, p.vStrideL);
  strides(c.Lq, c.dv, p.oStrideB, p.oStrideH, p.oStrideL);
  p.q = t.q.data(), p.k = t.k.data(), p.v = t.v.data(), p.out = t.out.data();
  return t;
}

// The definition, token by token in double: S and z updated by outer products (causal) or summed
// over every key first (non-causal). Returns out in the problem's layout.
std::vector<double> reference(const LinearAttentionProblem& p, std::vector<double>* states = nullptr) {
  std::vector<double> out(p.batch * p.heads * p.Lq * p.dv);
  std::vector<double> S(p.dk * p.dv), z(p.dk), fq(p.dk), fk(p.dk);
  for (int64_t b = 0; b < p.batch; ++b) {
    for (int64_t h = 0; h < p.heads; ++h) {
      const int64_t t = b * p.heads + h;
      for (int64_t i = 0; i < p.dk * p.dv; ++i) S[i] = states ? (*states)[t * (p.dk * p.dv + p.dk) + i] : 0;
      for (int64_t e = 0; e < p.dk; ++e) z[e] = states ? (*states)[t * (p.dk * p.dv + p.dk) + p.dk * p.dv + e] : 0;
      auto add = [&](int64_t j) {
        const float* k = p.k + b * p.kStrideB + h * p.kStrideH + j * p.kStrideL;
        const float* v = p.v + b * p.vStrideB + h * p.vStrideH + j * p.vStrideL;
        for (int64_t e = 0; e < p.dk; ++e) {
          fk[e] = phiRef(k[e], p.featureMap);
          z[e] += fk[e];
          for (int64_t c = 0; c < p.dv; ++c) S[e * p.dv + c] += fk[e] * v[c];
        }
      };
      if (!p.causal)
        for (int64_t j = 0; j < p.Lk; ++j) add(j);
      for (int64_t i = 0; i < p.Lq; ++i) {
        if (p.causal) add(i);
        const float* q = p.q + b * p.qStrideB + h * p.qStrideH + i * p.qStrideL;
        double den = 0;
        for (int64_t e = 0; e < p.dk; ++e) den += (fq[e] = phiRef(q[e], p.featureMap)) * z[e];
        for (int64_t c = 0; c < p.dv; ++c) {
          double num = 0;
          for (int64_t e = 0; e < p.dk; ++e) num += fq[e] * S[e * p.dv + c];
          out[b * p.oStrideB + h * p.oStrideH + i * p.oStrideL + c] = num / (den + p.eps);
        }
      }
      if (states) {
        for (int64_t i = 0; i < p.dk * p.dv; ++i) (*states)[t * (p.dk * p.dv + p.dk) + i] = S[i];
        for (int64_t e = 0; e < p.dk; ++e) (*states)[t * (p.dk * p.dv + p.dk) + p.dk * p.dv + e] = z[e];
      }
    }
  }
  return out;
}

// Outputs are averages of values in [-1, 1]: an absolute tolerance fits them all.
int compare(const std::vector<float>& got, const std::vector<double>& want, double tol, const char* what,
            const char* isa) {
  int bad = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!(std::fabs(got[i] - want[i]) <= tol)) {
      if (bad++ < 3) SA_CHECK(false, "%s %s: element %zu is %g, expected %g", isa, what, i, got[i], want[i]);
    }
  }
  return bad;
}

}  // namespace

SA_NATIVE_TEST(linear_attention_feature_map_matches_scalar) {
  const LinearAttentionKernels& ref = *kernelTableFor(Isa::Scalar)->linearAttention;
  std::mt19937 gen(3);
  for (Isa isa : availableIsas()) {
    const LinearAttentionKernels& k = *kernelTableFor(isa)->linearAttention;
    for (FeatureMap map : {FeatureMap::EluPlusOne, FeatureMap::Relu}) {
      for (int64_t n : {1, 3, 4, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100}) {
        std::uniform_real_distribution<float> dist(-30.0f, 30.0f);
        std::vector<float> x(n), want(n), got(n);
        for (float& v : x) v = dist(gen);
        if (n > 2) x[1] = -INFINITY, x[2] = -200.0f;
        ref.featureMap(x.data(), want.data(), n, map);
        k.featureMap(x.data(), got.data(), n, map);
        for (int64_t i = 0; i < n; ++i) {
          SA_CHECK(std::fabs(got[i] - want[i]) <= 2e-6f * std::fabs(want[i]) + 1e-30f,
                   "%s map %d n=%lld x=%g: %g vs %g", isaName(isa), static_cast<int>(map), static_cast<long long>(n),
                   x[i], got[i], want[i]);
        }
      }
      float nan = NAN, y = 0;
      k.featureMap(&nan, &y, 1, map);
      SA_CHECK(map == FeatureMap::Relu ? y == 0.0f : std::isnan(y), "%s map %d of NaN gives %g", isaName(isa),
               static_cast<int>(map), y);
    }
  }
}

SA_NATIVE_TEST(linear_attention_products_match_scalar) {
  const MatmulKernels& ref = *kernelTableFor(Isa::Scalar)->matmul;
  std::mt19937 gen(5);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  const int64_t sizes[] = {1, 2, 5, 6, 7, 8, 13, 16, 17, 24, 25, 33, 64, 65, 70};
  for (Isa isa : availableIsas()) {
    const MatmulKernels& k = *kernelTableFor(isa)->matmul;
    int cases = 0;
    for (int64_t M : sizes) {
      for (int64_t N : sizes) {
        for (int64_t K : {0, 1, 3, 17, 64}) {
          if ((M + N + K + cases++) % 3 != 0) continue;  // a third of the grid keeps the test fast
          const int64_t lda = K + 3, ldb = N + 5, ldc = N + 2;
          // Exact sizes: the last row of each operand ends where its N (or K) columns end.
          std::vector<float> A(M > 0 ? (M - 1) * lda + K : 0), B(K > 0 ? (K - 1) * ldb + N : 0);
          std::vector<float> C((M - 1) * ldc + N), Cref;
          for (float& v : A) v = dist(gen);
          for (float& v : B) v = dist(gen);
          for (float& v : C) v = dist(gen);
          for (bool acc : {false, true}) {
            std::vector<float> got = C;
            Cref = C;
            matmulInPlace(ref, M, N, K, A.data(), lda, B.data(), ldb, Cref.data(), ldc, acc);
            matmulInPlace(k, M, N, K, A.data(), lda, B.data(), ldb, got.data(), ldc, acc);
            for (size_t i = 0; i < got.size(); ++i) {
              SA_CHECK(std::fabs(got[i] - Cref[i]) <= 1e-5f * (1 + K),
                       "%s product M=%lld N=%lld K=%lld acc=%d at %zu: %g vs %g", isaName(isa),
                       static_cast<long long>(M), static_cast<long long>(N), static_cast<long long>(K), acc, i, got[i],
                       Cref[i]);
            }
          }
        }
      }
    }
  }
}

SA_NATIVE_TEST(linear_attention_matches_the_recurrence) {
  std::vector<Case> cases;
  for (bool causal : {true, false}) {
    for (FeatureMap map : {FeatureMap::EluPlusOne, FeatureMap::Relu}) {
      Case c;
      c.B = 2, c.H = 3, c.Lq = 150, c.Lk = causal ? 150 : 131, c.dk = 19, c.dv = 23, c.causal = causal, c.map = map;
      cases.push_back(c);
      c.blhd = true, c.Lq = 65, c.Lk = causal ? 65 : 7, c.dk = 64, c.dv = 33;
      cases.push_back(c);
      c.blhd = false, c.B = 1, c.H = 1, c.Lq = 1, c.Lk = 1, c.dk = 1, c.dv = 1;
      cases.push_back(c);
    }
  }
  for (Isa isa : availableIsas()) {
    for (const Case& c : cases) {
      Tensors t = make(c, 11);
      const std::vector<double> want = reference(t.p);
      linearAttention(*kernelTableFor(isa), t.p);
      compare(t.out, want, 2e-5, c.causal ? "causal" : "non-causal", isaName(isa));
    }
  }
}

SA_NATIVE_TEST(linear_attention_carries_its_state_and_splits_long_heads) {
  ThreadPool& pool = ThreadPool::instance();
  const int saved = pool.numThreads();
  pool.setNumThreads(2);  // B H = 1 < threads: a long head is cut into splits
  for (Isa isa : availableIsas()) {
    Case c;
    c.Lq = c.Lk = 9000, c.dk = 16, c.dv = 8;
    Tensors t = make(c, 21);
    const std::vector<double> want = reference(t.p);
    linearAttention(*kernelTableFor(isa), t.p);
    compare(t.out, want, 2e-4, "split over threads", isaName(isa));

    // The same sequence in three calls carrying a state: 100 tokens, 8800 (split), 100.
    const int64_t SF = linearStateFloats(c.dk, c.dv);
    std::vector<float> state(SF, 0.0f), out(t.out.size(), NAN);
    for (int64_t begin : {0, 100, 8900}) {
      const int64_t len = begin == 100 ? 8800 : 100;
      LinearAttentionProblem part = t.p;
      part.Lq = part.Lk = len;
      part.q += begin * part.qStrideL, part.k += begin * part.kStrideL, part.v += begin * part.vStrideL;
      part.out = out.data() + begin * part.oStrideL;
      part.state = state.data();
      linearAttention(*kernelTableFor(isa), part);
    }
    compare(out, want, 2e-4, "three calls with a state", isaName(isa));
    std::vector<double> finalState(SF, 0.0);
    reference(t.p, &finalState);
    for (int64_t i = 0; i < SF; ++i) {
      SA_CHECK(std::fabs(state[i] - finalState[i]) <= 1e-5 * std::fabs(finalState[i]) + 1e-3, "%s state[%lld] %g vs %g",
               isaName(isa), static_cast<long long>(i), state[i], finalState[i]);
    }
  }
  pool.setNumThreads(saved);
}
