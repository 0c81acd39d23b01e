// Row loops (kernels/vector_ops.h) for AVX2 + FMA: kernels/common/vector_ops-inl.h over VecAvx2.
#include <cmath>
#include <cstdint>

#include "kernels/vector_ops.h"
#include "runtime/isa.h"

#if SA_ARCH_X86_64
#include <immintrin.h>

#include "kernels/common/target.h"

SA_TARGET_AVX2_BEGIN
#include "kernels/common/vec_avx2.h"
#include "kernels/common/vector_ops-inl.h"

namespace sa {
const VectorOps* vectorOpsAvx2() { return VectorOpsOf<VecAvx2>::table(); }
}  // namespace sa
SA_TARGET_END
#else
namespace sa {
const VectorOps* vectorOpsAvx2() { return nullptr; }
}  // namespace sa
#endif
