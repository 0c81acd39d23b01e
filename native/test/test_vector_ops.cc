// The row loops of kernels/vector_ops.h on every ISA against the scalar reference: lengths around
// every vector width (0 included), exact-size buffers, -inf and NaN where the contract names them.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/vector_ops.h"
#include "runtime/dispatch.h"
#include "test/check.h"

using namespace sa;

namespace {

bool close(float got, float want, float rel, float abs) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  return std::fabs(got - want) <= abs + rel * std::fabs(want);
}

}  // namespace

SA_NATIVE_TEST(vector_ops_match_scalar) {
  const VectorOps& ref = *kernelTableFor(Isa::Scalar)->vectorOps;
  std::mt19937 gen(17);
  for (Isa isa : availableIsas()) {
    const VectorOps& k = *kernelTableFor(isa)->vectorOps;
    const char* name = isaName(isa);
    for (int64_t n : {0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100}) {
      std::uniform_real_distribution<float> dist(-5.0f, 5.0f);
      std::vector<float> x(n), g(n), y0(n);
      for (int64_t i = 0; i < n; ++i) x[i] = dist(gen), g[i] = dist(gen), y0[i] = dist(gen);
      const long long nn = static_cast<long long>(n);
      SA_CHECK(k.max(x.data(), n) == ref.max(x.data(), n), "%s max n=%lld", name, nn);
      SA_CHECK(close(k.sum(x.data(), n), ref.sum(x.data(), n), 1e-5f, 1e-5f), "%s sum n=%lld", name, nn);
      SA_CHECK(close(k.dot(x.data(), g.data(), n), ref.dot(x.data(), g.data(), n), 1e-5f, 1e-4f), "%s dot n=%lld", name,
               nn);
      for (int64_t rows : {1, 3, 4, 5, 9}) {
        // Rows of b at a stride of n + 3, in a buffer that ends at the last row's last element.
        const int64_t ldb = n + 3;
        std::vector<float> b(rows > 0 ? (rows - 1) * ldb + n : 0);
        std::mt19937 rowGen(static_cast<unsigned>(31 * n + rows));  // apart from gen: the other checks keep their data
        for (float& e : b) e = dist(rowGen);
        std::vector<float> want(rows), got(rows, NAN);
        ref.dotRows(x.data(), b.data(), ldb, rows, n, want.data());
        k.dotRows(x.data(), b.data(), ldb, rows, n, got.data());
        for (int64_t j = 0; j < rows; ++j) {
          SA_CHECK(close(got[j], want[j], 1e-5f, 1e-4f), "%s dotRows n=%lld rows=%lld row %lld: %g vs %g", name, nn,
                   static_cast<long long>(rows), static_cast<long long>(j), got[j], want[j]);
          // Bit for bit the same whether the row came in a group of four or alone: the matmul
          // row-dot path splits rows by thread count, and results must not depend on it.
          float alone = NAN;
          k.dotRows(x.data(), b.data() + j * ldb, ldb, 1, n, &alone);
          SA_CHECK(std::memcmp(&alone, &got[j], sizeof alone) == 0,
                   "%s dotRows n=%lld rows=%lld row %lld: %.9g in its group, %.9g alone", name, nn,
                   static_cast<long long>(rows), static_cast<long long>(j), got[j], alone);
        }
      }
      {
        std::vector<float> a = x, b = x;
        if (n > 1) a[1] = b[1] = -INFINITY;
        const float m = ref.max(a.data(), n);
        const float sr = ref.expShift(a.data(), n, n > 0 ? m : 0.0f);
        const float sk = k.expShift(b.data(), n, n > 0 ? m : 0.0f);
        SA_CHECK(close(sk, sr, 1e-5f, 0), "%s expShift sum n=%lld: %g vs %g", name, nn, sk, sr);
        for (int64_t i = 0; i < n; ++i)
          SA_CHECK(close(b[i], a[i], 2e-6f, 0), "%s expShift n=%lld at %lld", name, nn, static_cast<long long>(i));
      }
      auto rowsMatch = [&](const std::vector<float>& got, const std::vector<float>& want, const char* what, float rel) {
        for (int64_t i = 0; i < n; ++i)
          SA_CHECK(close(got[i], want[i], rel, 1e-7f), "%s %s n=%lld at %lld: %g vs %g", name, what, nn,
                   static_cast<long long>(i), got[i], want[i]);
      };
      std::vector<float> want(n), got(n);
      ref.scale(x.data(), 0.37f, want.data(), n), k.scale(x.data(), 0.37f, got.data(), n),
          rowsMatch(got, want, "scale", 1e-6f);
      want = y0, got = y0;
      ref.axpy(-1.3f, x.data(), want.data(), n), k.axpy(-1.3f, x.data(), got.data(), n),
          rowsMatch(got, want, "axpy", 1e-6f);
      ref.mul(x.data(), g.data(), want.data(), n), k.mul(x.data(), g.data(), got.data(), n),
          rowsMatch(got, want, "mul", 1e-6f);
      std::vector<float> sr = y0, mr = g, sk = y0, mk = g;
      ref.addMax(x.data(), sr.data(), mr.data(), n), k.addMax(x.data(), sk.data(), mk.data(), n);
      rowsMatch(sk, sr, "addMax sum", 1e-6f), rowsMatch(mk, mr, "addMax max", 0);
      std::vector<float> wide(n);
      for (int64_t i = 0; i < n; ++i) wide[i] = x[i] * 30.0f;  // saturating both ways
      if (n > 2) wide[0] = -INFINITY, wide[1] = INFINITY, wide[2] = -150.0f;
      ref.sigmoid(wide.data(), want.data(), n), k.sigmoid(wide.data(), got.data(), n);
      for (int64_t i = 0; i < n; ++i)
        SA_CHECK(std::fabs(got[i] - want[i]) <= 4e-7f, "%s sigmoid(%g): %g vs %g", name, wide[i], got[i], want[i]);
      ref.relu(x.data(), want.data(), n), k.relu(x.data(), got.data(), n), rowsMatch(got, want, "relu", 0);
    }
    // NaN: max skips it (and an all-NaN row gives -inf), relu maps it to 0, sigmoid keeps it.
    std::vector<float> v = {1.0f, NAN,  3.0f,  NAN,  -2.0f, 0.5f,  0.25f, 2.5f, 1.5f,
                            NAN,  0.0f, -1.0f, 2.0f, 2.75f, -3.0f, 1.0f,  2.0f};
    SA_CHECK(k.max(v.data(), static_cast<int64_t>(v.size())) == 3.0f, "%s max skips NaN", name);
    float nan = NAN, r = 1.0f;
    k.relu(&nan, &r, 1);
    SA_CHECK(r == 0.0f, "%s relu(NaN) = %g", name, r);
    k.sigmoid(&nan, &r, 1);
    SA_CHECK(std::isnan(r), "%s sigmoid(NaN) = %g", name, r);
  }
}
