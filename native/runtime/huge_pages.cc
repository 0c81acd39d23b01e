#include "runtime/huge_pages.h"

#include <cstdint>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace sa {

namespace {
constexpr std::size_t kHugePage = std::size_t{2} << 20;
constexpr std::size_t kSmallPage = 4096;
}  // namespace

HugePageBlock mapHugePages(std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (bytes == 0 || bytes > SIZE_MAX - 2 * kHugePage) return {};
  // Whole 4 KiB pages only: the aligned 2 MiB ranges get huge pages and a tail shorter than one
  // stays in small pages, instead of up to 2 MiB of padding per block (a 2.3 MiB weight took 4).
  const std::size_t rounded = (bytes + kSmallPage - 1) / kSmallPage * kSmallPage;
  // Over-map by one huge page and trim both ends, so the block starts on a 2 MiB boundary (a huge
  // page can only back an aligned 2 MiB range).
  const std::size_t span = rounded + kHugePage;
  void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return {};
  const std::uintptr_t base = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t aligned = (base + kHugePage - 1) / kHugePage * kHugePage;
  const std::size_t head = aligned - base;
  const std::size_t tail = span - head - rounded;
  if (head > 0) munmap(raw, head);
  if (tail > 0) munmap(reinterpret_cast<void*>(aligned + rounded), tail);
  void* data = reinterpret_cast<void*>(aligned);
  // Advice only: where THP is off ("never") the block still works, with 4 KiB pages.
  madvise(data, rounded, MADV_HUGEPAGE);
  return {data, rounded};
#else
  (void)bytes;
  return {};
#endif
}

std::size_t adviseHugePagesWithin(void* data, std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  const std::uintptr_t begin = reinterpret_cast<std::uintptr_t>(data);
  if (data == nullptr || bytes > UINTPTR_MAX - begin) return kNoHugePages;
  const std::uintptr_t aligned = (begin + kHugePage - 1) / kHugePage * kHugePage;
  const std::uintptr_t end = (begin + bytes) / kSmallPage * kSmallPage;  // madvise takes whole pages
  if (aligned >= end || end - aligned < kHugePage) return kNoHugePages;
  if (madvise(reinterpret_cast<void*>(aligned), end - aligned, MADV_HUGEPAGE) != 0) return kNoHugePages;
  return aligned - begin;
#else
  (void)data;
  (void)bytes;
  return kNoHugePages;
#endif
}

void unmapHugePages(const HugePageBlock& block) {
#if defined(__linux__)
  if (block.data != nullptr) munmap(block.data, block.bytes);
#else
  (void)block;
#endif
}

}  // namespace sa
