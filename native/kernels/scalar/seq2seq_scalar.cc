// Bahdanau / Luong inner loops, the plain reference.
#include <cmath>
#include <cstdint>

#include "kernels/common/target.h"
#include "kernels/seq2seq_kernels.h"

SA_SCALAR_BEGIN
namespace sa {
namespace {

float tanhDotScalar(const float* x, const float* y, const float* v, int64_t n) {
  float s = 0.0f;
  SA_SCALAR_LOOP
  for (int64_t a = 0; a < n; ++a) s += v[a] * std::tanh(x[a] + y[a]);
  return s;
}

void axpyScalar(float alpha, const float* x, float* y, int64_t n) {
  SA_SCALAR_LOOP
  for (int64_t e = 0; e < n; ++e) y[e] += alpha * x[e];
}

}  // namespace

const Seq2SeqKernels* seq2seqKernelsScalar() {
  static const Seq2SeqKernels k{tanhDotScalar, axpyScalar};
  return &k;
}

}  // namespace sa
SA_SCALAR_END
