// Channel and spatial attention over feature maps (kernels/feature_attention.h): the loops over
// planes and rows, spread over the pool; every row operation is the ISA's VectorOps.
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "kernels/feature_attention.h"
#include "kernels/contract.h"
#include "kernels/vector_ops.h"
#include "runtime/thread_pool.h"

namespace sa {

namespace {

const float* rowOf(const FeatureMapView& x, int64_t b, int64_t c, int64_t y) {
  return x.data + b * x.strideB + c * x.strideC + y * x.strideH;
}

float sigmoid(double v) { return static_cast<float>(1.0 / (1.0 + std::exp(-v))); }

// Elements per task of activateInPlace.
constexpr int64_t kActivationBlock = 16384;

}  // namespace

void channelPool(const KernelTable& kernels, const FeatureMapView& x, float* avg, float* max) {
  const VectorOps& vo = *kernels.vectorOps;
  const int64_t planes = x.batch * x.channels, H = x.height, W = x.width;
  ThreadPool::instance().parallelFor(planes, [&](int64_t t, int) {
    const int64_t b = t / x.channels, c = t % x.channels;
    double sum = 0;  // rows summed in float, rows added in double: the mean of a large plane stays exact to ~1 ulp
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t y = 0; y < H; ++y) {
      const float* row = rowOf(x, b, c, y);
      sum += vo.sum(row, W);
      if (max != nullptr) m = std::max(m, vo.max(row, W));
    }
    avg[t] = H * W > 0 ? static_cast<float>(sum / static_cast<double>(H * W)) : 0.0f;
    if (max != nullptr) max[t] = m;
  });
}

void channelGate(const KernelTable& kernels, const FeatureMapView& x, const float* logits, const float* logits2,
                 float* out) {
  const VectorOps& vo = *kernels.vectorOps;
  const int64_t H = x.height, W = x.width;
  ThreadPool::instance().parallelFor(x.batch * x.channels, [&](int64_t t, int) {
    const int64_t b = t / x.channels, c = t % x.channels;
    const float g = sigmoid(static_cast<double>(logits[t]) + (logits2 != nullptr ? logits2[t] : 0.0));
    float* plane = out + t * H * W;
    for (int64_t y = 0; y < H; ++y) vo.scale(rowOf(x, b, c, y), g, plane + y * W, W);
  });
}

void spatialGate(const KernelTable& kernels, const FeatureMapView& x, const float* weight, float bias,
                 int64_t kernelSize, float* out) {
  SA_ASSERT(kernelSize >= 1 && kernelSize % 2 == 1, "the kernel size must be odd");
  const VectorOps& vo = *kernels.vectorOps;
  ThreadPool& pool = ThreadPool::instance();
  const int64_t B = x.batch, C = x.channels, H = x.height, W = x.width, k = kernelSize, pad = k / 2;
  if (B == 0 || H == 0 || W == 0 || C == 0) return;
  // maps[b][0] = mean over channels, maps[b][1] = max: 2 H W floats per batch item, less than x.
  std::vector<float> maps(static_cast<size_t>(B * 2 * H * W));
  pool.parallelFor(B * H, [&](int64_t t, int) {
    const int64_t b = t / H, y = t % H;
    float* mean = maps.data() + (b * 2 * H + y) * W;
    float* max = mean + H * W;
    const float* first = rowOf(x, b, 0, y);
    std::copy(first, first + W, mean);
    std::copy(first, first + W, max);
    for (int64_t c = 1; c < C; ++c) vo.addMax(rowOf(x, b, c, y), mean, max, W);
    vo.scale(mean, 1.0f / static_cast<float>(C), mean, W);
  });
  pool.parallelFor(B * H, [&](int64_t t, int) {
    const int64_t b = t / H, y = t % H;
    thread_local std::vector<float> gateRow;
    gateRow.assign(static_cast<size_t>(W), bias);
    float* gate = gateRow.data();
    // Each tap (channel ci, offset dy, dx) adds w * map[ci][y + dy - pad][x + dx - pad] over the x
    // whose source column lies inside the map: one axpy per tap and output row.
    for (int64_t ci = 0; ci < 2; ++ci) {
      for (int64_t dy = 0; dy < k; ++dy) {
        const int64_t sy = y + dy - pad;
        if (sy < 0 || sy >= H) continue;
        const float* src = maps.data() + ((b * 2 + ci) * H + sy) * W;
        for (int64_t dx = 0; dx < k; ++dx) {
          const int64_t x0 = std::max<int64_t>(0, pad - dx), x1 = std::min<int64_t>(W, W + pad - dx);
          if (x0 >= x1) continue;
          vo.axpy(weight[(ci * k + dy) * k + dx], src + x0 + dx - pad, gate + x0, x1 - x0);
        }
      }
    }
    vo.sigmoid(gate, gate, W);
    for (int64_t c = 0; c < C; ++c) vo.mul(rowOf(x, b, c, y), gate, out + ((b * C + c) * H + y) * W, W);
  });
}

void activateInPlace(const KernelTable& kernels, float* data, int64_t n, Activation f) {
  const VectorOps& vo = *kernels.vectorOps;
  ThreadPool::instance().parallelFor((n + kActivationBlock - 1) / kActivationBlock, [&](int64_t t, int) {
    float* p = data + t * kActivationBlock;
    const int64_t len = std::min(kActivationBlock, n - t * kActivationBlock);
    if (f == Activation::Relu) {
      vo.relu(p, p, len);
    } else {
      vo.sigmoid(p, p, len);
    }
  });
}

}  // namespace sa
