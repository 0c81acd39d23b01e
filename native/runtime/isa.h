// The instruction sets a kernel can be compiled for, in order of preference on their architecture.
#pragma once
#include <string>

#if defined(__x86_64__) || defined(_M_X64)
#define SA_ARCH_X86_64 1
#else
#define SA_ARCH_X86_64 0
#endif
#if defined(__aarch64__) || defined(_M_ARM64)
#define SA_ARCH_ARM64 1
#else
#define SA_ARCH_ARM64 0
#endif

namespace sa {

// Avx512Bf16: the avx512 tier plus AVX512_BF16 (vdpbf16ps); Amx: that plus AMX-BF16 tiles.
// NeonBf16: the neon tier plus FEAT_BF16 (BFDOT).
enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2, Neon = 3, Avx512Bf16 = 4, Amx = 5, NeonBf16 = 6 };
constexpr int kIsaCount = 7;

const char* isaName(Isa isa);
// Accepts the names isaName() returns ("scalar", "avx2", "avx512", "avx512bf16", "amx", "neon",
// "neonbf16"), case-insensitively.
bool parseIsa(const std::string& name, Isa* out);

}  // namespace sa
