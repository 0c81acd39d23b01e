// Linear attention's feature map for NEON: kernels/common/linear_attention-inl.h over VecNeon.
#include <cstdint>

#include "kernels/linear_attention_kernels.h"
#include "runtime/isa.h"

#if SA_ARCH_ARM64
#include <arm_neon.h>

#include "kernels/common/vec_neon.h"
#include "kernels/common/linear_attention-inl.h"

namespace sa {
const LinearAttentionKernels* linearAttentionKernelsNeon() { return linearAttentionKernelsOf<VecNeon>(); }
}  // namespace sa
#else
namespace sa {
const LinearAttentionKernels* linearAttentionKernelsNeon() { return nullptr; }
}  // namespace sa
#endif
