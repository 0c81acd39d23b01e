// Memory for large, long-lived buffers (KV caches, big activations) in 2 MiB pages where the OS
// offers them. Why: a decode step streams every cached key and value once, and with 4 KiB pages
// the page walks (two levels of them in a VM) and the prefetchers' stop at every 4 KiB boundary
// cap the read bandwidth well below what 2 MiB pages allow (transparent huge pages in "madvise"
// mode, the common distribution default; figures in bench/RESULTS.md).
#pragma once
#include <cstddef>

namespace sa {

struct HugePageBlock {
  void* data = nullptr;   // zero-filled, aligned to 2 MiB; nullptr when not available
  std::size_t bytes = 0;  // what was mapped (the request rounded up to 4 KiB)
};

// Maps `bytes` of zeroed memory and asks for transparent huge pages on it (Linux: an anonymous
// mmap aligned to 2 MiB + madvise(MADV_HUGEPAGE); the kernel backs each whole 2 MiB of it with a
// huge page as it is touched, the tail and any range it has no huge page for with 4 KiB pages).
// Other systems, or a failed mapping: {nullptr, 0}, and the caller allocates the usual way.
HugePageBlock mapHugePages(std::size_t bytes);

// Releases a block from mapHugePages (no-op for an empty block).
void unmapHugePages(const HugePageBlock& block);

// For memory someone else owns (an engine-allocated ArrayBuffer, freed by its garbage collector at
// once, where a mapHugePages block is unmapped only by a finalizer the runtime may defer): asks for
// huge pages from the first 2 MiB boundary in [data, data + bytes) to its end, and returns that
// boundary's offset from data. Pages already touched stay as they are; the rest become huge pages on
// first touch where THP is on. kNoHugePages where the range holds no whole 2 MiB or the OS has none.
constexpr std::size_t kNoHugePages = ~std::size_t{0};
std::size_t adviseHugePagesWithin(void* data, std::size_t bytes);

}  // namespace sa
