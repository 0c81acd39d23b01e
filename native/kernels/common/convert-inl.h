// The loop shared by the AVX2 and NEON conversions (kernels/convert.h): full groups of W elements
// straight from memory, then the tail through a zeroed local group, so that the vector code never
// reads or writes past n. Include inside the ISA's target region.
#pragma once
#include <cstdint>
#include <cstring>

namespace sa {
namespace {

template <int W, typename From, typename To, typename Group>
inline void convertInGroups(const From* src, To* dst, int64_t n, Group group) {
  int64_t i = 0;
  for (; i + W <= n; i += W) group(src + i, dst + i);
  if (i < n) {
    From in[W] = {};
    To out[W];
    const size_t rest = static_cast<size_t>(n - i);
    std::memcpy(in, src + i, rest * sizeof(From));
    group(in, out);
    std::memcpy(dst + i, out, rest * sizeof(To));
  }
}

}  // namespace
}  // namespace sa
