// Rotary embedding: the per-ISA row rotations against the scalar reference (half sizes around every
// vector width, in place too, exact-size buffers), then the driver on every ISA against the
// definition in double: half-split and interleaved pairs, a partial rotary dimension, BLHD strides,
// an offset, and positions per batch item.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/rotary.h"
#include "kernels/rotary_kernels.h"
#include "runtime/dispatch.h"
#include "test/check.h"

using namespace sa;

SA_NATIVE_TEST(rotary_kernels_match_scalar) {
  const RotaryKernels& ref = *kernelTableFor(Isa::Scalar)->rotary;
  std::mt19937 gen(9);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  for (Isa isa : availableIsas()) {
    const RotaryKernels& k = *kernelTableFor(isa)->rotary;
    for (int64_t half : {1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 32, 33, 64}) {
      const int64_t d = 2 * half;
      std::vector<float> x(d), c(d), s(d), want(d), got(d);
      for (float& v : x) v = dist(gen);
      for (int64_t i = 0; i < d; ++i) {
        const float a = dist(gen);
        c[i] = std::cos(a), s[i] = std::sin(a);
      }
      ref.rotateHalf(x.data(), want.data(), c.data(), s.data(), half);
      k.rotateHalf(x.data(), got.data(), c.data(), s.data(), half);
      for (int64_t i = 0; i < d; ++i)
        SA_CHECK(std::fabs(got[i] - want[i]) <= 1e-6f, "%s rotateHalf half=%lld at %lld", isaName(isa),
                 static_cast<long long>(half), static_cast<long long>(i));
      ref.rotatePairs(x.data(), want.data(), c.data(), s.data(), d);
      std::vector<float> inPlace = x;
      k.rotatePairs(inPlace.data(), inPlace.data(), c.data(), s.data(), d);
      for (int64_t i = 0; i < d; ++i)
        SA_CHECK(std::fabs(inPlace[i] - want[i]) <= 1e-6f, "%s rotatePairs d=%lld at %lld", isaName(isa),
                 static_cast<long long>(d), static_cast<long long>(i));
    }
  }
}

SA_NATIVE_TEST(rotary_driver_matches_definition) {
  std::mt19937 gen(13);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (Isa isa : availableIsas()) {
    for (bool interleaved : {false, true}) {
      for (bool blhd : {false, true}) {
        const int64_t B = 2, H = 3, L = 37, d = 22, rd = blhd ? 10 : 22;
        std::vector<float> x(B * H * L * d), out(x.size(), NAN);
        for (float& v : x) v = dist(gen);
        std::vector<int32_t> positions(B * L);
        for (int32_t& p : positions) p = static_cast<int32_t>(gen() % 100000);
        RotaryProblem p;
        p.batch = B, p.heads = H, p.L = L, p.d = d, p.rotaryDim = rd, p.base = 500000.0, p.interleaved = interleaved;
        p.x = x.data(), p.out = out.data();
        p.xStrideB = p.oStrideB = H * L * d;
        p.xStrideH = p.oStrideH = blhd ? d : L * d;
        p.xStrideL = p.oStrideL = blhd ? H * d : d;
        if (blhd) {
          p.positions = positions.data(), p.positionsStrideB = L;
        } else {
          p.offset = 1000;
        }
        rotaryEmbedding(*kernelTableFor(isa), p);
        for (int64_t b = 0; b < B; ++b)
          for (int64_t h = 0; h < H; ++h)
            for (int64_t l = 0; l < L; ++l) {
              const float* xr = x.data() + b * p.xStrideB + h * p.xStrideH + l * p.xStrideL;
              const float* yr = out.data() + b * p.oStrideB + h * p.oStrideH + l * p.oStrideL;
              const double pos = blhd ? positions[b * L + l] : 1000 + l;
              for (int64_t i = 0; i < rd / 2; ++i) {
                const double a = pos * std::pow(p.base, -2.0 * i / rd);
                const int64_t i0 = interleaved ? 2 * i : i, i1 = interleaved ? 2 * i + 1 : i + rd / 2;
                const double w0 = xr[i0] * std::cos(a) - xr[i1] * std::sin(a);
                const double w1 = xr[i1] * std::cos(a) + xr[i0] * std::sin(a);
                SA_CHECK(std::fabs(yr[i0] - w0) <= 1e-6 && std::fabs(yr[i1] - w1) <= 1e-6,
                         "%s interleaved=%d blhd=%d pair %lld", isaName(isa), interleaved, blhd,
                         static_cast<long long>(i));
              }
              for (int64_t e = rd; e < d; ++e)
                SA_CHECK(yr[e] == xr[e], "%s: feature %lld past rotaryDim copied", isaName(isa),
                         static_cast<long long>(e));
            }
      }
    }
  }
}
