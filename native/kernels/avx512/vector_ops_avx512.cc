// Row loops (kernels/vector_ops.h) for AVX-512: kernels/common/vector_ops-inl.h over VecAvx512.
#include <cmath>
#include <cstdint>

#include "kernels/vector_ops.h"
#include "runtime/isa.h"

#if SA_ARCH_X86_64
#include <immintrin.h>

#include "kernels/common/target.h"

SA_TARGET_AVX512_BEGIN
#include "kernels/common/vec_avx512.h"
#include "kernels/common/vector_ops-inl.h"

namespace sa {
const VectorOps* vectorOpsAvx512() { return VectorOpsOf<VecAvx512>::table(); }
}  // namespace sa
SA_TARGET_END
#else
namespace sa {
const VectorOps* vectorOpsAvx512() { return nullptr; }
}  // namespace sa
#endif
