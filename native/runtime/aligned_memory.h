// Over-aligned heap blocks on every compiler the package supports. std::aligned_alloc is C11/C++17,
// but MSVC's C runtime does not provide it (its free() cannot release over-aligned blocks), so
// Windows uses _aligned_malloc/_aligned_free; both sides round the size up to a multiple of the
// alignment, which C11 (and macOS' libc) require of aligned_alloc.
#pragma once
#include <cstddef>
#include <cstdlib>
#if defined(_MSC_VER)
#include <malloc.h>
#endif

namespace sa {

// `alignment`: a power of two. Returns nullptr when out of memory; release with alignedFree().
inline void* alignedAlloc(std::size_t alignment, std::size_t bytes) {
  const std::size_t rounded = (bytes + alignment - 1) / alignment * alignment;
#if defined(_MSC_VER)
  return _aligned_malloc(rounded == 0 ? alignment : rounded, alignment);
#else
  return std::aligned_alloc(alignment, rounded == 0 ? alignment : rounded);
#endif
}

inline void alignedFree(void* p) {
#if defined(_MSC_VER)
  _aligned_free(p);
#else
  std::free(p);
#endif
}

}  // namespace sa
