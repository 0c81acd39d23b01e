// Linear attention's feature map for AVX-512: kernels/common/linear_attention-inl.h over VecAvx512.
#include <cstdint>

#include "kernels/linear_attention_kernels.h"
#include "runtime/isa.h"

#if SA_ARCH_X86_64
#include <immintrin.h>

#include "kernels/common/target.h"

SA_TARGET_AVX512_BEGIN
#include "kernels/common/vec_avx512.h"
#include "kernels/common/linear_attention-inl.h"

namespace sa {
const LinearAttentionKernels* linearAttentionKernelsAvx512() { return linearAttentionKernelsOf<VecAvx512>(); }
}  // namespace sa
SA_TARGET_END
#else
namespace sa {
const LinearAttentionKernels* linearAttentionKernelsAvx512() { return nullptr; }
}  // namespace sa
#endif
