// Index arithmetic and the task launcher shared by the float32 and bf16 matmul drivers.
#pragma once
#include <cstdint>

#include "runtime/thread_pool.h"

namespace sa {
namespace matmul_tasks {

inline int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t roundUp(int64_t a, int64_t b) { return ceilDiv(a, b) * b; }

// Splits `count` units into `parts` near-equal contiguous ranges; returns the start of range i.
inline int64_t splitPoint(int64_t count, int64_t parts, int64_t i) { return count * i / parts; }

// Runs fn(task, thread) for tasks [0, n): on the pool when n > 1, else inline (no dispatch).
template <class Fn>
void runTasks(int64_t n, const Fn& fn) {
  if (n > 1) {
    ThreadPool::instance().parallelFor(n, fn);
  } else if (n == 1 && !ThreadPool::cancelRequested()) {
    fn(0, 0);
  }
}

}  // namespace matmul_tasks
}  // namespace sa
