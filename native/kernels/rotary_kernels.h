// The per-ISA part of the rotary position embedding (kernels/rotary.h): rotating one row of a head
// by the angles of its position, given the cosines and sines the driver tabulated for that position.
#pragma once
#include <cstdint>

namespace sa {

struct RotaryKernels {
  // Half-split pairs (GPT-NeoX / LLaMA "rotate_half"): pair i is (x[i], x[i + half]):
  //   y[i] = x[i] cos[i] - x[i + half] sin[i],  y[i + half] = x[i + half] cos[i] + x[i] sin[i].
  void (*rotateHalf)(const float* x, float* y, const float* cos, const float* sin, int64_t half);
  // Interleaved pairs (GPT-J): pair i is (x[2i], x[2i + 1]). Tables are per element, so that the
  // vector code needs no shuffle of them: cosDup[2i] = cosDup[2i + 1] = cos_i, sinAlt[2i] = -sin_i,
  // sinAlt[2i + 1] = +sin_i; then y = x cosDup + swapPairs(x) sinAlt. d even.
  void (*rotatePairs)(const float* x, float* y, const float* cosDup, const float* sinAlt, int64_t d);
};

}  // namespace sa
