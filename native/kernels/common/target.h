// Target regions: code between SA_TARGET_*_BEGIN and SA_TARGET_END is compiled for that ISA while the
// rest of the binary stays x86-64 / armv8-a baseline (never -march=native), so one binary runs on any
// CPU and the dispatcher picks the widest kernels the CPU and OS allow at run time.
//   GCC:   #pragma GCC target, scoped by push/pop_options.
//   Clang: #pragma clang attribute applying target(...) to every function in the region.
//   MSVC:  intrinsics of every ISA are usable anywhere; nothing to do.
// Include <immintrin.h> before the BEGIN macro. Functions called from a target region must be
// defined inside one of the same ISA (or be baseline code that the compiler may inline).
#pragma once
#include "runtime/isa.h"

#define SA_PRAGMA(x) _Pragma(#x)

#if defined(__clang__)
#define SA_TARGET_BEGIN(features) \
  SA_PRAGMA(clang attribute push(__attribute__((target(features))), apply_to = function))
#define SA_TARGET_END SA_PRAGMA(clang attribute pop)
#elif defined(__GNUC__)
// GCC 12's avx512fintrin.h initialises the pass-through operand of unmasked intrinsics with itself
// (_mm512_undefined_ps), which -W(maybe-)uninitialized reports wherever such an intrinsic is
// inlined (reductions, shuffles, scalef): no real use, silenced inside the target regions only.
#define SA_TARGET_BEGIN(features) \
  SA_PRAGMA(GCC push_options)     \
  SA_PRAGMA(GCC target(features)) \
  SA_PRAGMA(GCC diagnostic push)  \
  SA_PRAGMA(GCC diagnostic ignored "-Wmaybe-uninitialized") SA_PRAGMA(GCC diagnostic ignored "-Wuninitialized")
#define SA_TARGET_END SA_PRAGMA(GCC diagnostic pop) SA_PRAGMA(GCC pop_options)
#else
#define SA_TARGET_BEGIN(features)
#define SA_TARGET_END
#endif

#define SA_TARGET_AVX2_BEGIN SA_TARGET_BEGIN("avx2,fma,bmi2,f16c")
#define SA_TARGET_AVX512_BEGIN SA_TARGET_BEGIN("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,bmi2,f16c")
#define SA_TARGET_AVX512BF16_BEGIN SA_TARGET_BEGIN("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,avx2,fma,bmi2,f16c")
// arm64: FEAT_BF16 (BFDOT, BFMMLA, BFCVT) on the armv8-a baseline; include <arm_neon.h> first.
// Clang's arm_neon.h (14 at least) declares the BF16 intrinsics only under a global +bf16 and its
// target attribute takes no arch=: there SA_NEON_BF16 is 0 (no neonbf16 tier) unless built with it.
#if defined(__clang__)
#if defined(__ARM_FEATURE_BF16)
#define SA_NEON_BF16 1
#else
#define SA_NEON_BF16 0
#endif
#define SA_TARGET_NEON_BF16_BEGIN
#define SA_TARGET_NEON_BF16_END
#else
#define SA_NEON_BF16 1
#define SA_TARGET_NEON_BF16_BEGIN SA_TARGET_BEGIN("arch=armv8.2-a+bf16")
#define SA_TARGET_NEON_BF16_END SA_TARGET_END
#endif

// arm64: FEAT_FHM (FMLAL / FMLAL2, float16 products accumulated in float32), as FEAT_BF16 above:
// a GCC target region on the armv8-a baseline; Clang only with a global +fp16fml.
#if defined(__clang__)
#if defined(__ARM_FEATURE_FP16_FML)
#define SA_NEON_FHM 1
#else
#define SA_NEON_FHM 0
#endif
#define SA_TARGET_NEON_FHM_BEGIN
#define SA_TARGET_NEON_FHM_END
#else
#define SA_NEON_FHM 1
#define SA_TARGET_NEON_FHM_BEGIN SA_TARGET_BEGIN("arch=armv8.2-a+fp16fml")
#define SA_TARGET_NEON_FHM_END SA_TARGET_END
#endif

// The scalar kernels are the reference: plain loops the compiler must not vectorise, so that they
// stay an independent check on the SIMD paths.
#if defined(__clang__)
#define SA_SCALAR_LOOP SA_PRAGMA(clang loop vectorize(disable) interleave(disable))
#define SA_SCALAR_BEGIN
#define SA_SCALAR_END
#elif defined(__GNUC__)
#define SA_SCALAR_LOOP
#define SA_SCALAR_BEGIN \
  SA_PRAGMA(GCC push_options) SA_PRAGMA(GCC optimize("no-tree-vectorize", "no-tree-slp-vectorize"))
#define SA_SCALAR_END SA_PRAGMA(GCC pop_options)
#else
#define SA_SCALAR_LOOP
#define SA_SCALAR_BEGIN
#define SA_SCALAR_END
#endif
