// Bahdanau / Luong inner loops for NEON: kernels/common/seq2seq-inl.h over VecNeon.
#include <cmath>
#include <cstdint>

#include "kernels/seq2seq_kernels.h"
#include "runtime/isa.h"

#if SA_ARCH_ARM64
#include <arm_neon.h>

#include "kernels/common/vec_neon.h"
#include "kernels/common/seq2seq-inl.h"

namespace sa {
const Seq2SeqKernels* seq2seqKernelsNeon() { return seq2seqKernelsOf<VecNeon>(); }
}  // namespace sa
#else
namespace sa {
const Seq2SeqKernels* seq2seqKernelsNeon() { return nullptr; }
}  // namespace sa
#endif
