#include "runtime/scratch.h"

#include <algorithm>
#include <new>

#include "runtime/aligned_memory.h"

namespace sa {
namespace {

struct Buffer {
  float* data = nullptr;
  size_t capacity = 0;
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { alignedFree(data); }
};

}  // namespace

float* threadScratch(ScratchSlot slot, size_t floats) {
  thread_local Buffer buffers[static_cast<int>(ScratchSlot::Count)];
  Buffer& b = buffers[static_cast<int>(slot)];
  if (floats > b.capacity) {
    // Grow by 1.5x at least, so a sequence of slowly growing shapes does not reallocate each time.
    const size_t wanted = std::max(floats, b.capacity + b.capacity / 2);
    const size_t bytes = (wanted * sizeof(float) + 63) / 64 * 64;
    float* fresh = static_cast<float*>(alignedAlloc(64, bytes));
    if (fresh == nullptr) throw std::bad_alloc();
    alignedFree(b.data);
    b.data = fresh;
    b.capacity = wanted;
  }
  return b.data;
}

}  // namespace sa
