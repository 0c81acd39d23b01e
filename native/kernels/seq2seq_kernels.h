// The per-ISA part of Bahdanau / Luong attention (kernels/seq2seq.h): the two inner loops.
#pragma once
#include <cstdint>

namespace sa {

struct Seq2SeqKernels {
  // sum_a v[a] * tanh(x[a] + y[a]) over n terms: one additive energy e_j.
  float (*tanhDot)(const float* x, const float* y, const float* v, int64_t n);
  // y[e] += alpha * x[e] over n terms: one step of the context sum.
  void (*axpy)(float alpha, const float* x, float* y, int64_t n);
};

}  // namespace sa
