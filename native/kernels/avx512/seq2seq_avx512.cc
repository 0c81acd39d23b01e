// Bahdanau / Luong inner loops for AVX-512: kernels/common/seq2seq-inl.h over VecAvx512.
#include <cmath>
#include <cstdint>

#include "kernels/seq2seq_kernels.h"
#include "runtime/isa.h"

#if SA_ARCH_X86_64
#include <immintrin.h>

#include "kernels/common/target.h"

SA_TARGET_AVX512_BEGIN
#include "kernels/common/vec_avx512.h"
#include "kernels/common/seq2seq-inl.h"

namespace sa {
const Seq2SeqKernels* seq2seqKernelsAvx512() { return seq2seqKernelsOf<VecAvx512>(); }
}  // namespace sa
SA_TARGET_END
#else
namespace sa {
const Seq2SeqKernels* seq2seqKernelsAvx512() { return nullptr; }
}  // namespace sa
#endif
