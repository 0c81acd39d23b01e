// Bahdanau / Luong attention: the ISA-neutral loop over batch items (one task each on the pool);
// the energies' tanh-dot and the context's axpy come from the ISA's Seq2SeqKernels.
#include <cmath>
#include <vector>

#include "kernels/seq2seq.h"
#include "kernels/seq2seq_kernels.h"
#include "runtime/thread_pool.h"

namespace sa {

void seq2seqAttention(const KernelTable& kernels, const Seq2SeqProblem& p) {
  const Seq2SeqKernels& k = *kernels.seq2seq;
  ThreadPool::instance().parallelFor(p.batch, [&](int64_t b, int) {
    float* scores = p.scores + b * p.T;
    float* weights = p.weights + b * p.T;
    float* context = p.context + b * p.keyDim;
    if (p.keysProj != nullptr) {
      const float* qp = p.queryProj + b * p.qpStrideB;
      for (int64_t j = 0; j < p.T; ++j)
        scores[j] = k.tanhDot(p.keysProj + b * p.kpStrideB + j * p.kpStrideT, qp, p.v, p.hidden);
    }
    const int64_t valid = p.lengths != nullptr ? p.lengths[b] : p.T;
    for (int64_t j = 0; j < p.T; ++j) weights[j] = 0.0f;
    for (int64_t e = 0; e < p.keyDim; ++e) context[e] = 0.0f;
    // Softmax over the valid positions with max subtraction (no overflow for any finite energy);
    // -inf energies weigh 0; no valid position (or all -inf) leaves zeros, never NaN.
    float max = -INFINITY;
    for (int64_t j = 0; j < valid; ++j) max = std::fmax(max, scores[j]);
    if (!(max > -INFINITY)) {
      bool nan = false;
      for (int64_t j = 0; j < valid; ++j) nan = nan || std::isnan(scores[j]);
      if (!nan) return;
      max = NAN;  // a NaN energy poisons this row only
    }
    double sum = 0;
    for (int64_t j = 0; j < valid; ++j) {
      weights[j] = std::exp(scores[j] - max);
      sum += weights[j];
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t j = 0; j < valid; ++j) {
      weights[j] *= inv;
      if (weights[j] != 0.0f || std::isnan(weights[j]))
        k.axpy(weights[j], p.keys + b * p.keysStrideB + j * p.keysStrideT, context, p.keyDim);
    }
  });
}

}  // namespace sa
