// A half GEMM's 16-bit C (MatmulProblem::cHalf) against its float32 C from the same problem: each
// element of the views must be the float32 sum rounded by the scalar converter, bit for bit (the
// sums are the same: one driver, one blocking), and each element between the rows' views must
// still hold kHalfSentinel.
#pragma once
#include <cstdint>
#include <cstdio>
#include <vector>

namespace sa {
namespace test {

// A NaN as float16, ~4e37 as bfloat16: no product of the tests' inputs rounds to it.
constexpr uint16_t kHalfSentinel = 0x7E55;

inline int halfOutputMismatches(const std::vector<float>& c32, const std::vector<uint16_t>& c16,
                                const std::vector<int64_t>& offC, int64_t M, int64_t N, int64_t ldc,
                                void (*round)(const float*, uint16_t*, int64_t)) {
  int failures = 0;
  for (int64_t off : offC) {
    for (int64_t i = 0; i < M; ++i) {
      const int64_t row = off + i * ldc;
      std::vector<uint16_t> want(static_cast<size_t>(ldc), kHalfSentinel);
      round(c32.data() + row, want.data(), N);
      for (int64_t j = 0; j < ldc; ++j) {
        if (c16[static_cast<size_t>(row + j)] != want[static_cast<size_t>(j)] && failures++ < 3) {
          std::fprintf(stderr, "  16-bit C at offset %lld (%lld, %lld): %04x, want %04x\n", static_cast<long long>(off),
                       static_cast<long long>(i), static_cast<long long>(j), c16[static_cast<size_t>(row + j)],
                       want[static_cast<size_t>(j)]);
        }
      }
    }
  }
  return failures;
}

}  // namespace test
}  // namespace sa
