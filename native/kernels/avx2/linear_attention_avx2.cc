// Linear attention's feature map for AVX2 + FMA: kernels/common/linear_attention-inl.h over VecAvx2.
#include <cstdint>

#include "kernels/linear_attention_kernels.h"
#include "runtime/isa.h"

#if SA_ARCH_X86_64
#include <immintrin.h>

#include "kernels/common/target.h"

SA_TARGET_AVX2_BEGIN
#include "kernels/common/vec_avx2.h"
#include "kernels/common/linear_attention-inl.h"

namespace sa {
const LinearAttentionKernels* linearAttentionKernelsAvx2() { return linearAttentionKernelsOf<VecAvx2>(); }
}  // namespace sa
SA_TARGET_END
#else
namespace sa {
const LinearAttentionKernels* linearAttentionKernelsAvx2() { return nullptr; }
}  // namespace sa
#endif
