// Row loops (kernels/vector_ops.h) for NEON: kernels/common/vector_ops-inl.h over VecNeon.
#include <cmath>
#include <cstdint>

#include "kernels/vector_ops.h"
#include "runtime/isa.h"

#if SA_ARCH_ARM64
#include <arm_neon.h>

#include "kernels/common/vec_neon.h"
#include "kernels/common/vector_ops-inl.h"

namespace sa {
const VectorOps* vectorOpsNeon() { return VectorOpsOf<VecNeon>::table(); }
}  // namespace sa
#else
namespace sa {
const VectorOps* vectorOpsNeon() { return nullptr; }
}  // namespace sa
#endif
