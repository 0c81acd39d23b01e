// Rotary position embedding, the ISA-neutral part (kernels/rotary.h): the angle tables and the
// threads. For each position, cos and sin of pos * base^(-2i / rotaryDim) are computed in double
// (exact to a float ulp even at positions near 2^31, where a float angle would be off by whole
// radians) and shared by every head at that position; the rotation of each row is the ISA's.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "kernels/rotary.h"
#include "kernels/contract.h"
#include "runtime/thread_pool.h"

namespace sa {

namespace {

// Positions per task: enough rows (x heads x batch) that a task outweighs its scheduling.
constexpr int64_t kPositionsPerTask = 16;

void validate(const RotaryProblem& p) {
  SA_ASSERT(p.batch >= 0 && p.heads >= 0 && p.L >= 0 && p.d >= 0, "negative dimension");
  SA_ASSERT(p.rotaryDim >= 0 && p.rotaryDim <= p.d && p.rotaryDim % 2 == 0, "rotaryDim must be even and at most d");
  SA_ASSERT(p.base > 0.0 && std::isfinite(p.base), "base must be positive and finite");
  static_cast<void>(p);
}

}  // namespace

void rotaryEmbedding(const KernelTable& kernels, const RotaryProblem& p) {
  validate(p);
  if (p.batch == 0 || p.heads == 0 || p.L == 0 || p.d == 0) return;
  const RotaryKernels& k = *kernels.rotary;
  const int64_t rd = p.rotaryDim, half = rd / 2;
  std::vector<double> invFreq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i)
    invFreq[i] = std::pow(p.base, -2.0 * static_cast<double>(i) / static_cast<double>(rd));
  // Positions shared by the batch: one table per position serves every batch item and head.
  const bool shared = p.positions == nullptr || p.positionsStrideB == 0;
  const int64_t blocks = (p.L + kPositionsPerTask - 1) / kPositionsPerTask;
  const int64_t units = shared ? blocks : p.batch * blocks;
  const size_t tailBytes = static_cast<size_t>(p.d - rd) * sizeof(float);

  ThreadPool::instance().parallelFor(units, [&](int64_t task, int) {
    thread_local std::vector<float> table;  // cos then sin: [half] each, or [rd] each (interleaved)
    table.resize(static_cast<size_t>(2 * rd));
    float* cosT = table.data();
    float* sinT = cosT + rd;
    const int64_t block = shared ? task : task % blocks;
    const int64_t b0 = shared ? 0 : task / blocks, b1 = shared ? p.batch : b0 + 1;
    const int64_t l0 = block * kPositionsPerTask, l1 = std::min(p.L, l0 + kPositionsPerTask);
    for (int64_t l = l0; l < l1; ++l) {
      for (int64_t b = b0; b < b1; ++b) {
        if (b == b0) {
          const double pos = p.positions != nullptr ? static_cast<double>(p.positions[b * p.positionsStrideB + l])
                                                    : static_cast<double>(p.offset + l);
          for (int64_t i = 0; i < half; ++i) {
            const double angle = pos * invFreq[i];
            const float c = static_cast<float>(std::cos(angle)), s = static_cast<float>(std::sin(angle));
            if (p.interleaved) {
              cosT[2 * i] = cosT[2 * i + 1] = c;
              sinT[2 * i] = -s;
              sinT[2 * i + 1] = s;
            } else {
              cosT[i] = c;
              sinT[i] = s;
            }
          }
        }
        for (int64_t h = 0; h < p.heads; ++h) {
          const float* x = p.x + b * p.xStrideB + h * p.xStrideH + l * p.xStrideL;
          float* y = p.out + b * p.oStrideB + h * p.oStrideH + l * p.oStrideL;
          if (p.interleaved) {
            k.rotatePairs(x, y, cosT, sinT, rd);
          } else {
            k.rotateHalf(x, y, cosT, sinT, half);
          }
          if (tailBytes > 0 && x != y) std::memmove(y + rd, x + rd, tailBytes);  // the features that do not rotate
        }
      }
    }
  });
}

}  // namespace sa
