// Channel and spatial attention over feature maps [B, C, H, W]: squeeze-and-excitation (Hu et al.
// 2018) and CBAM (Woo et al. 2018). The fully connected layers run on the matmul; the loops over
// the maps — pooling, gating, the spatial convolution — are here, over the ISA's VectorOps.
#pragma once
#include <cstdint>

#include "runtime/dispatch.h"

namespace sa {

// Element (b, c, y, x) at data[b * strideB + c * strideC + y * strideH + x]: rows contiguous.
struct FeatureMapView {
  int64_t batch = 0, channels = 0, height = 0, width = 0;
  const float* data = nullptr;
  int64_t strideB = 0, strideC = 0, strideH = 0;
};

// avg[b * C + c] = mean of plane (b, c); max[b * C + c] = its maximum (max may be nullptr).
void channelPool(const KernelTable& kernels, const FeatureMapView& x, float* avg, float* max);

// out (contiguous [B, C, H, W]) = x * sigmoid(logits[b * C + c] (+ logits2[b * C + c])) per plane;
// logits2 may be nullptr (CBAM adds the MLP of the max-pooled map there).
void channelGate(const KernelTable& kernels, const FeatureMapView& x, const float* logits, const float* logits2,
                 float* out);

// CBAM's spatial attention: maps m_0 = mean over channels, m_1 = max over channels; s = sigmoid(
// bias + conv(m, weight)) with a [2, k, k] kernel (k odd, zero padding k / 2, cross-correlation as
// torch.nn.Conv2d); out (contiguous) = x * s at every channel. out may be x's own data when x is
// contiguous (the maps are complete before anything is written).
void spatialGate(const KernelTable& kernels, const FeatureMapView& x, const float* weight, float bias,
                 int64_t kernelSize, float* out);

enum class Activation : int { Relu = 0, Sigmoid = 1 };
// data[i] = f(data[i]) for i < n.
void activateInPlace(const KernelTable& kernels, float* data, int64_t n, Activation f);

}  // namespace sa
